//! Takeover and release of one controlled interface (DESIGN.md §3): a private-mode macvlan
//! `pk<id>-<parent>` with the virtual MAC carries the VIPs; the parent gets `arp_ignore=1`
//! and `arp_announce=2` so only the macvlan answers for them. Master: macvlan up, addresses
//! present, neighbours flushed, gratuitous ARPs. Backup: macvlan down, nomadic addresses
//! deleted, the others stay configured.

use std::net::Ipv4Addr;

use log::{debug, warn};

use super::config::ControlledInterface;
use crate::net::garp::{broadcast_of, send_garps};
use crate::net::packet::PacketSocket;
use crate::net::rtnl::{Rtnl, RtnlError};
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
