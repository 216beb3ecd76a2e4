//! Takeover and release of one controlled interface (DESIGN.md §3): a private-mode macvlan
//! `pk<id>-<parent>` with the virtual MAC carries the VIPs; the parent gets `arp_ignore=1`
//! and `arp_announce=2` so only the macvlan answers for them. Master: macvlan up, addresses
//! present, neighbours flushed, gratuitous ARPs. Backup: macvlan down, nomadic addresses
//! deleted, the others stay configured.
//!
//! The kernel never answers ARP for the VIPs (`arp_ignore=8` on the macvlan): the worker of
//! the Master does (`arp_reply_for`). So a node whose daemon died does not answer any more,
//! even though its addresses are still configured, and the peer's ARP probe tells a live
//! master (answers) from a dead one (silent) before taking over.

use std::net::Ipv4Addr;

use log::{debug, warn};

use super::config::ControlledInterface;
use crate::net::garp::{broadcast_of, send_garps};
use crate::net::packet::PacketSocket;
use crate::net::rtnl::{Rtnl, RtnlError};
use crate::wire::arp::{ArpRepr, Operation};
use crate::wire::ethernet::MacAddr;

/// A controlled interface resolved against the kernel.
#[derive(Debug, Clone)]
pub struct Controlled {
    pub ifname: String,
    pub parent: u32,
    pub parent_mac: MacAddr,
    pub vmac: MacAddr,
    pub macvlan: String,
    pub vips: Vec<(Ipv4Addr, u8)>,
    pub nomadic: bool,
    /// Parent administratively up with carrier.
    pub link_up: bool,
}

fn sysctl(ifname: &str, key: &str, value: &str) {
    let path = format!("/proc/sys/net/ipv4/conf/{ifname}/{key}");
    if let Err(e) = std::fs::write(&path, value) {
        warn!("{path}: {e}");
    }
}

fn errno_is(e: &RtnlError, errno: i32) -> bool {
    e.errno() == Some(errno)
}

/// Looks up the parent, sets its ARP sysctls and makes sure the macvlan exists (down).
pub fn prepare(rt: &mut Rtnl, ci: &ControlledInterface, vcid: u16) -> Result<Controlled, String> {
    let parent = rt
        .link_by_name(&ci.name)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("interface {} does not exist", ci.name))?;
    sysctl(&ci.name, "arp_ignore", "1");
    sysctl(&ci.name, "arp_announce", "2");
    let c = Controlled {
        ifname: ci.name.clone(),
        parent: parent.index,
        parent_mac: parent.mac.unwrap_or(MacAddr([0; 6])),
        vmac: MacAddr(ci.virtual_mac()),
        macvlan: ci.macvlan_name(vcid),
        vips: ci.ipv4.clone(),
        nomadic: ci.nomadic,
        link_up: parent.is_up() && parent.has_carrier(),
    };
    macvlan_index(rt, &c)?;
    sysctl(&c.macvlan, "arp_ignore", "8");
    Ok(c)
}

/// The macvlan's index, created (or its MAC corrected) when needed.
fn macvlan_index(rt: &mut Rtnl, c: &Controlled) -> Result<u32, String> {
    let e = |e: RtnlError| e.to_string();
    match rt.link_by_name(&c.macvlan).map_err(e)? {
        Some(l) if l.parent == Some(c.parent) || l.parent.is_none() => {
            if l.mac != Some(c.vmac) {
                rt.set_link_mac(l.index, c.vmac).map_err(e)?;
            }
            Ok(l.index)
        }
        Some(l) => {
            // A stale macvlan of the same name on another parent.
            rt.delete_link(l.index).map_err(e)?;
            rt.add_macvlan(&c.macvlan, c.parent, c.vmac).map_err(e)?;
            created(rt, c)
        }
        None => {
            rt.add_macvlan(&c.macvlan, c.parent, c.vmac).map_err(e)?;
            created(rt, c)
        }
    }
}

fn created(rt: &mut Rtnl, c: &Controlled) -> Result<u32, String> {
    rt.link_by_name(&c.macvlan)
        .map_err(|e| e.to_string())?
        .map(|l| l.index)
        .ok_or_else(|| format!("macvlan {} vanished after it was created", c.macvlan))
}

fn add_vips(rt: &mut Rtnl, index: u32, c: &Controlled) -> Result<(), String> {
    for (ip, len) in &c.vips {
        match rt.add_address(index, *ip, *len, Some(broadcast_of(*ip, *len)), None) {
            Ok(()) => debug!("{}: added {ip}/{len}", c.macvlan),
            Err(e) if errno_is(&e, libc::EEXIST) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

/// Plays Master on this interface: macvlan up with the VIPs, neighbours flushed.
pub fn to_master(rt: &mut Rtnl, c: &Controlled) -> Result<(), String> {
    let index = macvlan_index(rt, c)?;
    sysctl(&c.macvlan, "arp_ignore", "8");
    add_vips(rt, index, c)?;
    rt.set_link_up(index, true).map_err(|e| e.to_string())?;
    rt.flush_neighbours(c.parent).map_err(|e| e.to_string())?;
    rt.flush_neighbours(index).map_err(|e| e.to_string())?;
    Ok(())
}

/// Plays Backup on this interface: macvlan down, nomadic VIPs deleted.
pub fn to_backup(rt: &mut Rtnl, c: &Controlled) -> Result<(), String> {
    let index = macvlan_index(rt, c)?;
    rt.set_link_up(index, false).map_err(|e| e.to_string())?;
    if c.nomadic {
        for (ip, len) in &c.vips {
            match rt.delete_address(index, *ip, *len) {
                Ok(()) => {}
                Err(e) if errno_is(&e, libc::EADDRNOTAVAIL) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    } else {
        add_vips(rt, index, c)?;
    }
    Ok(())
}

/// One burst of gratuitous ARPs (the four frames per VIP) from the virtual MAC.
pub fn garp(sock: &PacketSocket, c: &Controlled) -> std::io::Result<()> {
    for (ip, len) in &c.vips {
        send_garps(sock, c.vmac, *ip, broadcast_of(*ip, *len))?;
    }
    Ok(())
}

/// The ARP reply the Master sends for an ARP request asking for one of `vips` (RFC 826: to
/// the asker, from the virtual MAC). Probes (sender 0.0.0.0, RFC 5227) are answered too.
pub fn arp_reply_for(frame: &[u8], vmac: MacAddr, vips: &[(Ipv4Addr, u8)]) -> Option<Vec<u8>> {
    let (_, arp) = ArpRepr::from_frame(frame)?;
    if arp.operation != Operation::Request
        || arp.source_hardware_addr == vmac
        || !vips.iter().any(|(ip, _)| *ip == arp.target_protocol_addr)
    {
        return None;
    }
    let reply = ArpRepr {
        operation: Operation::Reply,
        source_hardware_addr: vmac,
        source_protocol_addr: arp.target_protocol_addr,
        target_hardware_addr: arp.source_hardware_addr,
        target_protocol_addr: arp.source_protocol_addr,
    };
    Some(reply.to_frame(arp.source_hardware_addr, vmac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_answers_requests_and_probes_for_its_vips_only() {
        let vmac = MacAddr([2, 198, 51, 100, 10, 0]);
        let asker = MacAddr([2, 0, 0, 0, 0, 0x50]);
        let vip = Ipv4Addr::new(198, 51, 100, 10);
        let vips = [(vip, 24)];
        let req = |sender: Ipv4Addr, target: Ipv4Addr| {
            ArpRepr {
                operation: Operation::Request,
                source_hardware_addr: asker,
                source_protocol_addr: sender,
                target_hardware_addr: MacAddr([0; 6]),
                target_protocol_addr: target,
            }
            .to_frame(MacAddr([0xff; 6]), asker)
        };
        let client = Ipv4Addr::new(198, 51, 100, 50);
        let reply = arp_reply_for(&req(client, vip), vmac, &vips).unwrap();
        #[rustfmt::skip]
        let want: [u8; 42] = [
            2, 0, 0, 0, 0, 0x50, 2, 198, 51, 100, 10, 0, 0x08, 0x06, // Ethernet
            0, 1, 8, 0, 6, 4, 0, 2, // Ethernet/IPv4, reply
            2, 198, 51, 100, 10, 0, 198, 51, 100, 10, // sender: vMAC, VIP
            2, 0, 0, 0, 0, 0x50, 198, 51, 100, 50, // target: the asker
        ];
        assert_eq!(&reply[..42], &want[..]);
        // An RFC 5227 probe is answered to 0.0.0.0.
        let probe = arp_reply_for(&req(Ipv4Addr::UNSPECIFIED, vip), vmac, &vips).unwrap();
        assert_eq!(&probe[38..42], &[0, 0, 0, 0]);
        // Other addresses, replies and our own frames are not.
        assert!(
            arp_reply_for(&req(client, Ipv4Addr::new(198, 51, 100, 11)), vmac, &vips).is_none()
        );
        assert!(arp_reply_for(&reply, vmac, &vips).is_none());
        assert!(arp_reply_for(&[0u8; 20], vmac, &vips).is_none());
    }
}
