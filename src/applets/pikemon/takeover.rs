//! Takeover and release of one controlled interface (DESIGN.md §3): a private-mode macvlan
//! `pk<id>-<parent>` with the virtual MAC carries the VIPs; the parent gets `arp_ignore=1`
//! and `arp_announce=2` so only the macvlan answers for them. Master: macvlan up, addresses
//! present, neighbours flushed, gratuitous ARPs. Backup: macvlan down, nomadic addresses
//! deleted, the others stay configured.
//!
//! IPv6 (DESIGN.md §3): the IPv6 VIPs and the virtual link-local address (configured, or the
//! EUI-64 address of the virtual MAC, the same on both nodes, so hosts using the pair as
//! gateway keep their router across a failover) go on the macvlan without DAD (`accept_dad=0`
//! on it: both nodes own them by design); each burst also carries one unsolicited Neighbor
//! Advertisement per address (Override, to ff02::1, from the virtual MAC; Router when the parent
//! forwards). The kernel drops IPv6 addresses from a link that goes down, so a Backup's
//! macvlan carries none whatever `nomadic` says; the Master adds them again.
//!
//! The kernel never answers ARP for the VIPs (`arp_ignore=8` on the macvlan): the worker of
//! the Master does (`arp_reply_for`). So a node whose daemon died does not answer any more,
//! even though its addresses are still configured, and the peer's ARP probe tells a live
//! master (answers) from a dead one (silent) before taking over.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use log::{info, warn};

use super::config::{Config, ControlledInterface};
use crate::net::garp::{broadcast_of, send_garps};
use crate::net::packet::PacketSocket;
use crate::net::rtnl::{Rtnl, RtnlError};
use crate::wire::arp::{ArpRepr, Operation};
use crate::wire::ethernet::MacAddr;
use crate::wire::ndisc;

/// A controlled interface resolved against the kernel.
#[derive(Debug, Clone)]
pub struct Controlled {
    pub ifname: String,
    pub parent: u32,
    pub parent_mac: MacAddr,
    pub vmac: MacAddr,
    pub macvlan: String,
    pub vips: Vec<(Ipv4Addr, u8)>,
    /// IPv6 VIPs (none: the interface is IPv4 only).
    pub vips6: Vec<(Ipv6Addr, u8)>,
    /// The virtual link-local address, carried with the IPv6 VIPs.
    pub link_local: Ipv6Addr,
    pub nomadic: bool,
    /// Parent administratively up with carrier.
    pub link_up: bool,
    /// Seconds the kernel keeps the addresses of a Master without a renewal (`vip_lease`).
    pub lease: u32,
    /// Whether addresses not in this config are deleted from the macvlan (`prune_stale`):
    /// not by a worker told SIGHUP, whose successor's config they may be.
    pub prune: bool,
}

/// How long the addresses of a Master live in the kernel unless the worker renews them
/// (every quarter of it), in whole seconds, at least 2: long enough that what is left after
/// the last renewal (three quarters) outlasts the silence the peer waits out before it takes
/// over — a dead-interval, a hello more at most, and the split-brain probe. A pikemon that can
/// no longer renew them (every process SIGKILLed, or frozen) loses them soon after the peer
/// takes over, instead of keeping them for good beside the new Master; one that stalls for
/// less than the peer tolerates keeps them (the lease was the dead-interval plus one second:
/// at a 3 s dead-interval a stall of 3 s lost them while the peer still waited).
pub fn vip_lease(dead_interval: Duration, hello_interval: Duration) -> u32 {
    let tolerated = dead_interval
        .saturating_add(hello_interval)
        .saturating_add(super::core::probe_interval_at(hello_interval) * super::core::PROBE_TRIES);
    let ms = tolerated.as_millis().saturating_mul(4).div_ceil(3);
    u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX).max(2)
}

/// How often the worker renews the lease of a Master's addresses.
pub fn renew_every(lease: u32) -> Duration {
    Duration::from_secs(u64::from(lease)) / 4
}

fn sysctl(ifname: &str, key: &str, value: &str) {
    let path = format!("/proc/sys/net/ipv4/conf/{ifname}/{key}");
    if let Err(e) = std::fs::write(&path, value) {
        warn!("{path}: {e}");
    }
}

fn sysctl6(ifname: &str, key: &str, value: &str) {
    let path = format!("/proc/sys/net/ipv6/conf/{ifname}/{key}");
    if let Err(e) = std::fs::write(&path, value) {
        warn!("{path}: {e}");
    }
}

/// The IPv6 addresses of the macvlan: the VIPs and the virtual link-local address (/64).
pub fn addresses6(c: &Controlled) -> Vec<(Ipv6Addr, u8)> {
    if c.vips6.is_empty() {
        return Vec::new();
    }
    let mut all = c.vips6.clone();
    all.push((c.link_local, 64));
    all
}

fn errno_is(e: &RtnlError, errno: i32) -> bool {
    e.errno() == Some(errno)
}

/// Looks up the parent, sets its ARP sysctls and makes sure the macvlan exists (down).
pub fn prepare(
    rt: &mut Rtnl,
    ci: &ControlledInterface,
    vcid: u16,
    lease: u32,
) -> Result<Controlled, String> {
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
        vips6: ci.ipv6.clone(),
        link_local: ci.virtual_link_local(),
        nomadic: ci.nomadic,
        link_up: parent.is_up() && parent.has_carrier(),
        lease,
        prune: true,
    };
    let index = macvlan_index(rt, &c)?;
    prune_or_warn(rt, index, &c);
    if !c.vips6.is_empty() {
        // Set once (a config that turned IPv6 VIPs on); the takeover does not repeat it.
        sysctl6(&c.macvlan, "disable_ipv6", "0");
    }
    macvlan_sysctls(&c);
    Ok(c)
}

/// The macvlan's own settings: the kernel answers no ARP there (the worker does, as
/// Master); with IPv6 VIPs no duplicate address detection (both nodes own them) and no
/// router solicitation, without them no IPv6 at all — a link-local address of its own would
/// send router solicitations and MLD reports from the virtual MAC, also from a node whose
/// pikemon died.
fn macvlan_sysctls(c: &Controlled) {
    sysctl(&c.macvlan, "arp_ignore", "8");
    if c.vips6.is_empty() {
        sysctl6(&c.macvlan, "disable_ipv6", "1");
    } else {
        sysctl6(&c.macvlan, "accept_dad", "0");
        // A Master routes: it asks for no router (`router_solicitations` -1 is "without
        // end" to the kernel, 0 is none).
        sysctl6(&c.macvlan, "router_solicitations", "0");
    }
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

/// The index of the macvlan just made, with its sysctls: a release (`to_backup`) that makes
/// it again hands its index to the next takeover, which no longer sets them (`known`).
fn created(rt: &mut Rtnl, c: &Controlled) -> Result<u32, String> {
    let index = rt
        .link_by_name(&c.macvlan)
        .map_err(|e| e.to_string())?
        .map(|l| l.index)
        .ok_or_else(|| format!("macvlan {} vanished after it was created", c.macvlan))?;
    macvlan_sysctls(c);
    Ok(index)
}

/// Deletes from the macvlan (pikemon's own link) every address this config does not name:
/// the VIPs of an older config (a SIGHUP upgrade that removed one). Left there, a Master
/// kept answering for a removed VIP until its lease ran out, and a Backup kept it for good
/// on its down macvlan, to bring it up again at its next takeover. IPv6 link-local
/// addresses are the kernel's or the virtual one, and stay.
pub fn prune_stale(rt: &mut Rtnl, index: u32, c: &Controlled) -> Result<(), String> {
    let gone = |e: &RtnlError| errno_is(e, libc::EADDRNOTAVAIL) || errno_is(e, libc::ENODEV);
    for a in rt.addresses(Some(index)).map_err(|e| e.to_string())? {
        if c.vips.contains(&(a.address, a.prefix_len)) {
            continue;
        }
        match rt.delete_address(index, a.address, a.prefix_len) {
            Ok(()) => info!(
                "{}: {}/{} is no VIP of this config: deleted",
                c.macvlan, a.address, a.prefix_len
            ),
            Err(e) if gone(&e) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let ours = addresses6(c);
    for a in rt.addresses6(Some(index)).map_err(|e| e.to_string())? {
        if a.address.is_unicast_link_local() || ours.contains(&(a.address, a.prefix_len)) {
            continue;
        }
        match rt.delete_address6(index, a.address, a.prefix_len) {
            Ok(()) => info!(
                "{}: {}/{} is no VIP of this config: deleted",
                c.macvlan, a.address, a.prefix_len
            ),
            Err(e) if gone(&e) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

/// `prune_stale` where this worker prunes (not once told SIGHUP), a failure only logged: a
/// stale address is no reason to fail a role change or a renewal. Not on the takeover's path
/// (`to_master`): an address dump there would delay the first GARP; the setup, the
/// renewals and the Backup's role change do it.
fn prune_or_warn(rt: &mut Rtnl, index: u32, c: &Controlled) {
    if c.prune {
        if let Err(e) = prune_stale(rt, index, c) {
            warn!(
                "{}: addresses of an older config not checked: {e}",
                c.macvlan
            );
        }
    }
}

/// The IPv4 VIPs on the macvlan, added or renewed: with the lease (`Some`) or for good.
fn set_vips(rt: &mut Rtnl, index: u32, c: &Controlled, lease: Option<u32>) -> Result<(), String> {
    for (ip, len) in &c.vips {
        rt.set_address(index, *ip, *len, Some(broadcast_of(*ip, *len)), lease)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The IPv6 addresses, without DAD (they survive the link coming up, not going down), added
/// or renewed with the lease.
fn set_vips6(rt: &mut Rtnl, index: u32, c: &Controlled) -> Result<(), String> {
    for (ip, len) in addresses6(c) {
        rt.set_address6(index, ip, len, Some(c.lease))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Plays Master on this interface: the macvlan up with the VIPs; its index for
/// `settle_master`. Only what makes the addresses answer is done here: the neighbour flushes
/// wait until the gratuitous ARPs are out (measured under TCG: 4.7 of the 13 ms that the LAN
/// interface's takeover took, before the switch had heard of the new master).
///
/// `known`: the macvlan's index as the worker last looked it up (`to_backup`, `renew`) and
/// still saw it (the rtnetlink monitor forgets an index removed, renamed or given another
/// MAC). With it the takeover skips the lookup and the sysctls, which `prepare` set on that
/// link (under TCG 3.5-5 and 1.2-1.5 ms per interface, before the first GARP); should the
/// index fail all the same, it looks the macvlan up as without.
pub fn to_master(rt: &mut Rtnl, c: &Controlled, known: Option<u32>) -> Result<u32, String> {
    if let Some(index) = known {
        match up(rt, c, index) {
            Ok(index) => return Ok(index),
            Err(e) => info!("{}: index {index}: {e}; looked up again", c.macvlan),
        }
    }
    let index = macvlan_index(rt, c)?;
    macvlan_sysctls(c);
    up(rt, c, index)
}

/// The VIPs on macvlan `index`, then its link up.
fn up(rt: &mut Rtnl, c: &Controlled, index: u32) -> Result<u32, String> {
    set_vips(rt, index, c, Some(c.lease))?;
    // The IPv6 addresses go on before the link comes up, as the IPv4 ones: the peer's first
    // HELLO from the virtual MAC moves the switch to this node, and a packet for an IPv6 VIP
    // that arrives before the address is there is lost (measured: one probe at TERM).
    set_vips6(rt, index, c)?;
    rt.set_link_up(index, true).map_err(|e| e.to_string())?;
    Ok(index)
}

/// Right after a takeover's first GARPs: the IPv6 VIPs renewed, which gives back their
/// prefix routes (the kernel drops them at link-up from an address with a lifetime added
/// while the link was down).
pub fn routes6_back(rt: &mut Rtnl, c: &Controlled, index: u32) -> Result<(), String> {
    if c.vips6.is_empty() {
        return Ok(());
    }
    set_vips6(rt, index, c)
}

/// A little after a takeover's first GARPs: the neighbour tables of the parent and the
/// macvlan flushed.
pub fn settle_master(rt: &mut Rtnl, c: &Controlled, index: u32) -> Result<(), String> {
    rt.flush_neighbours(c.parent).map_err(|e| e.to_string())?;
    rt.flush_neighbours(index).map_err(|e| e.to_string())?;
    if !c.vips6.is_empty() {
        rt.flush_neighbours6(c.parent).map_err(|e| e.to_string())?;
        rt.flush_neighbours6(index).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Plays Backup on this interface: macvlan down, nomadic VIPs deleted. Returns the
/// macvlan's index (for the next `to_master`).
pub fn to_backup(rt: &mut Rtnl, c: &Controlled) -> Result<u32, String> {
    let index = macvlan_index(rt, c)?;
    rt.set_link_up(index, false).map_err(|e| e.to_string())?;
    prune_or_warn(rt, index, c);
    if c.nomadic {
        for (ip, len) in &c.vips {
            match rt.delete_address(index, *ip, *len) {
                Ok(()) => {}
                Err(e) if errno_is(&e, libc::EADDRNOTAVAIL) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        for (ip, len) in addresses6(c) {
            match rt.delete_address6(index, ip, len) {
                Ok(()) => {}
                Err(e) if errno_is(&e, libc::EADDRNOTAVAIL) || errno_is(&e, libc::ENODEV) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    } else {
        // For good: a Backup does not renew them.
        set_vips(rt, index, c, None)?;
    }
    Ok(index)
}

/// Renews the lease of a Master's addresses on macvlan `index` (re-adding any that the
/// kernel or an operator deleted meanwhile); the macvlan's index is returned. A macvlan no
/// longer up at `index` (deleted, made again by an operator under another index, or taken
/// down) is played Master on again as `to_master` does: the renewals went to an index that
/// was gone, and the node claimed Master with no address up.
pub fn renew(rt: &mut Rtnl, c: &Controlled, index: u32) -> Result<u32, String> {
    let link = rt.link_by_name(&c.macvlan).map_err(|e| e.to_string())?;
    if link.is_some_and(|l| l.index == index && l.is_up()) {
        prune_or_warn(rt, index, c);
        set_vips(rt, index, c, Some(c.lease))?;
        set_vips6(rt, index, c)?;
        return Ok(index);
    }
    warn!(
        "{}: the macvlan is gone or down while Master: made again",
        c.macvlan
    );
    let index = to_master(rt, c, None)?;
    // Once more, as `settle_master` does: the kernel drops the prefix route of an IPv6
    // address with a lifetime added on a down link when the link comes up.
    set_vips6(rt, index, c)?;
    Ok(index)
}

/// Releases every controlled interface of `cfg` without a worker (the supervisor's, see
/// `watchdog`): each existing macvlan down and, where `nomadic`, its VIPs deleted — what
/// `to_backup` leaves (the VIPs of a non-nomadic one kept for good, without their lease).
/// Creates no macvlan and touches no sysctl; a missing macvlan is skipped.
/// Returns the macvlans taken down and what failed.
pub fn release_all(rt: &mut Rtnl, cfg: &Config) -> (Vec<String>, Vec<String>) {
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for vc in &cfg.virtual_clusters {
        for ci in &vc.interfaces {
            let name = ci.macvlan_name(vc.id);
            match release_one(rt, ci, &name) {
                Ok(true) => done.push(name),
                Ok(false) => {}
                Err(e) => failed.push(format!("{name}: {e}")),
            }
        }
    }
    (done, failed)
}

fn release_one(rt: &mut Rtnl, ci: &ControlledInterface, name: &str) -> Result<bool, RtnlError> {
    let Some(link) = rt.link_by_name(name)? else {
        return Ok(false);
    };
    rt.set_link_up(link.index, false)?;
    if !ci.nomadic {
        // Kept for good, as a Backup keeps them: no worker renews their lease now.
        for (ip, len) in &ci.ipv4 {
            rt.set_address(link.index, *ip, *len, Some(broadcast_of(*ip, *len)), None)?;
        }
    } else {
        for (ip, len) in &ci.ipv4 {
            match rt.delete_address(link.index, *ip, *len) {
                Err(e) if !errno_is(&e, libc::EADDRNOTAVAIL) => return Err(e),
                _ => {}
            }
        }
        let mut v6 = ci.ipv6.clone();
        if !v6.is_empty() {
            v6.push((ci.virtual_link_local(), 64));
        }
        for (ip, len) in v6 {
            match rt.delete_address6(link.index, ip, len) {
                Err(e) if !errno_is(&e, libc::EADDRNOTAVAIL) && !errno_is(&e, libc::ENODEV) => {
                    return Err(e)
                }
                _ => {}
            }
        }
    }
    Ok(true)
}

/// One burst of gratuitous ARPs (the four frames per VIP) and unsolicited Neighbor
/// Advertisements (one per IPv6 VIP and the virtual link-local address) from the virtual MAC.
pub fn garp(sock: &PacketSocket, c: &Controlled) -> std::io::Result<()> {
    for (ip, len) in &c.vips {
        send_garps(sock, c.vmac, *ip, broadcast_of(*ip, *len))?;
    }
    let router = forwards6(c);
    for (ip, _) in addresses6(c) {
        sock.send(&ndisc::unsolicited_advertisement(c.vmac, ip, router))?;
    }
    Ok(())
}

/// The answer the Master sends to a peer's IPv6 split-brain probe for one of its IPv6 VIPs
/// (`ndisc::probe_answer`: the nonce echoed from the virtual MAC); `None` for any other frame.
pub fn nd_probe_answer(frame: &[u8], c: &Controlled) -> Option<Vec<u8>> {
    let nd = ndisc::parse_frame(frame)?;
    if nd.eth_src == c.vmac {
        return None;
    }
    let vips: Vec<Ipv6Addr> = c.vips6.iter().map(|(ip, _)| *ip).collect();
    let (target, nonce) = nd.probe_for(&vips)?;
    Some(ndisc::probe_answer(c.vmac, target, forwards6(c), nonce))
}

/// Whether the parent forwards IPv6 (then our advertisements carry the Router flag).
fn forwards6(c: &Controlled) -> bool {
    !c.vips6.is_empty()
        && std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{}/forwarding", c.ifname))
            .is_ok_and(|v| v.trim() == "1")
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

/// The MAC of another host that claims one of `vips` in `frame`: an ARP request or reply
/// whose sender is a VIP, sent by anyone but the virtual MAC (a gratuitous ARP of a host
/// with the same address, or a spoofer). Hosts that hear it move the VIP to that MAC.
pub fn vip_claimed_by(frame: &[u8], vmac: MacAddr, vips: &[(Ipv4Addr, u8)]) -> Option<MacAddr> {
    let (eth, arp) = ArpRepr::from_frame(frame)?;
    let claimed = vips.iter().any(|(ip, _)| *ip == arp.source_protocol_addr)
        && arp.source_hardware_addr != vmac
        && eth.source != vmac;
    claimed.then_some(arp.source_hardware_addr)
}

/// The MAC of another host that claims one of the IPv6 addresses of `c` (its VIPs and the
/// virtual link-local address) in `frame`: a Neighbor Advertisement for one, or a
/// solicitation sent from one, from anyone but the virtual MAC.
pub fn vip6_claimed_by(frame: &[u8], c: &Controlled) -> Option<MacAddr> {
    let nd = ndisc::parse_frame(frame)?;
    if nd.eth_src == c.vmac {
        return None;
    }
    addresses6(c)
        .iter()
        .find_map(|(a, _)| nd.claims(*a))
        .filter(|mac| *mac != c.vmac)
}

#[cfg(test)]
mod tests {
    use super::super::core::{probe_interval_at, PROBE_TRIES};
    use super::*;

    #[test]
    fn lease_is_whole_seconds_at_least_two() {
        let ms = Duration::from_millis;
        assert_eq!(vip_lease(ms(30), ms(10)), 2);
        assert_eq!(vip_lease(ms(300), ms(100)), 2);
        assert_eq!(vip_lease(Duration::from_secs(u64::MAX), ms(100)), u32::MAX);
        assert_eq!(renew_every(2), ms(500));
        assert_eq!(renew_every(4), ms(1000));
    }

    #[test]
    fn a_stall_shorter_than_the_peer_waits_out_lost_the_masters_vips() {
        let ms = Duration::from_millis;
        for (hello, dead) in [
            (10, 30),
            (100, 300),
            (300, 900),
            (1000, 3000),
            (2000, 20000),
        ] {
            let (hello, dead) = (ms(hello), ms(dead));
            let lease = vip_lease(dead, hello);
            // The worst case: frozen just before a renewal was due.
            let kept = Duration::from_secs(u64::from(lease)) - renew_every(lease);
            let peer_waits = dead + hello + probe_interval_at(hello) * PROBE_TRIES;
            assert!(
                kept >= peer_waits,
                "hello {hello:?}, dead {dead:?}: lease {lease} s, kept {kept:?} of a stall, the peer waits {peer_waits:?}"
            );
        }
        assert_eq!(vip_lease(ms(3000), ms(1000)), 7);
    }

    #[test]
    fn an_ipv6_vip_advertised_from_another_mac_is_seen_and_ours_and_probes_are_not() {
        let vmac = MacAddr([2, 198, 51, 100, 10, 0]);
        let rogue = MacAddr([2, 0, 0, 0, 0, 0x66]);
        let vip6: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let c = Controlled {
            ifname: "lan0".into(),
            parent: 2,
            parent_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            vmac,
            macvlan: "pk1-lan0".into(),
            vips: Vec::new(),
            vips6: vec![(vip6, 64)],
            link_local: ndisc::link_local_of(vmac),
            nomadic: false,
            link_up: true,
            lease: 2,
            prune: true,
        };
        let na = |mac, addr| ndisc::unsolicited_advertisement(mac, addr, false);
        assert_eq!(vip6_claimed_by(&na(rogue, vip6), &c), Some(rogue));
        assert_eq!(vip6_claimed_by(&na(rogue, c.link_local), &c), Some(rogue));
        assert_eq!(vip6_claimed_by(&na(vmac, vip6), &c), None);
        let other: Ipv6Addr = "2001:db8::11".parse().unwrap();
        assert_eq!(vip6_claimed_by(&na(rogue, other), &c), None);
        // The peer's duplicate-address probe claims nothing.
        let probe = ndisc::probe_solicitation(rogue, vip6, [1, 2, 3, 4, 5, 6]);
        assert_eq!(vip6_claimed_by(&probe, &c), None);
        assert_eq!(vip6_claimed_by(&[0u8; 60], &c), None);
    }

    #[test]
    fn a_vip_claimed_from_another_mac_is_seen_and_ours_or_other_addresses_are_not() {
        let vmac = MacAddr([2, 198, 51, 100, 10, 0]);
        let rogue = MacAddr([2, 0, 0, 0, 0, 0x66]);
        let vip = Ipv4Addr::new(198, 51, 100, 10);
        let vips = [(vip, 24)];
        let arp = |op, mac: MacAddr, sender: Ipv4Addr| {
            ArpRepr {
                operation: op,
                source_hardware_addr: mac,
                source_protocol_addr: sender,
                target_hardware_addr: MacAddr([0xff; 6]),
                target_protocol_addr: vip,
            }
            .to_frame(MacAddr([0xff; 6]), mac)
        };
        for op in [Operation::Request, Operation::Reply] {
            assert_eq!(
                vip_claimed_by(&arp(op, rogue, vip), vmac, &vips),
                Some(rogue)
            );
            assert_eq!(vip_claimed_by(&arp(op, vmac, vip), vmac, &vips), None);
        }
        // A probe (0.0.0.0) or a request from the peer's own address claims nothing.
        let peer = Ipv4Addr::new(198, 51, 100, 3);
        assert_eq!(
            vip_claimed_by(&arp(Operation::Request, rogue, peer), vmac, &vips),
            None
        );
        let probe = arp(Operation::Request, rogue, Ipv4Addr::UNSPECIFIED);
        assert_eq!(vip_claimed_by(&probe, vmac, &vips), None);
        assert_eq!(vip_claimed_by(&[0u8; 20], vmac, &vips), None);
    }

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
