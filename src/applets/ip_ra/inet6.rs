//! The kit's actions for an IPv6 address, step for step in their IPv6 form (the kit's text
//! "uses the case of protecting IPv4 addresses as an example"):
//!
//! - physical-address check: the VIP is on some interface without ip-ra's owner mark
//!   (`IFA_PROTO` = `IP_RA_PROTO`; IPv6 addresses have no labels to tell ours apart);
//! - link check: shared with IPv4;
//! - pre-assignment check: ours on another interface fails, ours on the device is checked;
//! - duplicate check by DAD (RFC 4862 §5.4): the address is added with DAD and watched while
//!   tentative; `dadfailed` means another node owns it (the address is deleted again and the
//!   action fails). Where the kernel does no DAD on the device (`accept_dad` 0 there and on
//!   `all`, or `dad_transmits` 0) ip-ra sends the solicitations itself before adding the
//!   address (`nd_probe`); an advertisement for it is a duplicate. NOIPUNIQUE=1 adds it
//!   without DAD (`nodad`);
//! - neighbour flush and unsolicited Neighbor Advertisements (Override set, to ff02::1, from
//!   the device's MAC; RFC 4861 §7.2.6 allows MAX_NEIGHBOR_ADVERTISEMENT = 3) in place of the
//!   four gratuitous ARPs;
//! - source-address routes (SOURCE_ADDRESS): the preferred source of the device's routes into
//!   the VIP's prefix or via a gateway in it, reverted by remove;
//! - connectivity check: PingList, then the all-nodes ping on the device (NOBCASTPING skips it).

use std::net::{IpAddr, Ipv6Addr};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::net::nd_probe::{self, NdProbe};
use crate::net::packet::PacketSocket;
use crate::net::rtnl::{same_prefix6, Ipv6Address, Route6, Rtnl, RtnlError, RT_TABLE_MAIN};
use crate::wire::ndisc;

use super::actions::{Assigned, Failure, Lookup, Resource, Steps};
use super::connectivity::Group;
use super::params::Params;

/// ip-ra's owner mark on the IPv6 addresses it adds (`IFA_PROTO`, `ip -6 addr show` prints it
/// as `proto 82`; the kernel's own marks are 1..3).
pub const IP_RA_PROTO: u8 = 82;
/// Unsolicited Neighbor Advertisements sent per restore (RFC 4861 MAX_NEIGHBOR_ADVERTISEMENT).
const ADVERTISEMENTS: usize = 3;
/// EtherType of IPv6.
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// How often the DAD state is read while the address is tentative.
const DAD_POLL: Duration = Duration::from_millis(50);
/// The longest DAD watch: the kernel's DupAddrDetectTransmits × RetransTimer (1 × 1 s by
/// default) plus its random start delay (up to 1 s), with room to spare.
const DAD_LIMIT: Duration = Duration::from_secs(10);

/// The solicitations of our own duplicate check are never closer together than this.
const SOLICIT_MIN_INTERVAL: Duration = Duration::from_millis(20);

/// Why the kernel will not run DAD for an address added to `dev`, if it will not: DAD runs
/// when `accept_dad` is above 0 on the device or on `all`, and sends `dad_transmits`
/// solicitations (ip-sysctl.rst). An unreadable knob counts as the kernel default (DAD on).
fn kernel_skips_dad(dev: &str) -> Option<String> {
    let knob = |conf: &str, name: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{conf}/{name}"))
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    let accept = knob(dev, "accept_dad")
        .unwrap_or(1)
        .max(knob("all", "accept_dad").unwrap_or(0));
    if accept < 1 {
        return Some(format!("accept_dad=0 on {dev}: the kernel does no DAD"));
    }
    if knob(dev, "dad_transmits") == Some(0) {
        return Some(format!("dad_transmits=0 on {dev}: the kernel does no DAD"));
    }
    None
}

impl Resource<Ipv6Addr> {
    /// Finds the device and prefix: with `Lookup::Ours` where ip-ra added the VIP, else DEVICE,
    /// else the interface with a global address whose prefix holds the VIP (longest prefix).
    pub fn resolve6(
        p: Params,
        ip: Ipv6Addr,
        lookup: Lookup,
    ) -> Result<Resource<Ipv6Addr>, Failure> {
        let mut rt = Rtnl::open().map_err(|e| Failure::Failed(e.to_string()))?;
        let addrs = rt
            .addresses6(None)
            .map_err(|e| Failure::Failed(e.to_string()))?;
        // Else ip itself as a physical address, so that the physical-address check names it.
        let covering = addrs
            .iter()
            .filter(|a| a.protocol != IP_RA_PROTO && a.address != ip && a.contains(ip))
            .filter(|a| a.prefix_len < 128)
            .max_by_key(|a| a.prefix_len)
            .or_else(|| {
                addrs
                    .iter()
                    .find(|a| a.protocol != IP_RA_PROTO && a.address == ip)
            })
            .cloned();
        let covering = covering.map(|c| (c.index, c.prefix_len));
        let ours = addrs
            .iter()
            .find(|a| lookup == Lookup::Ours && a.address == ip && a.protocol == IP_RA_PROTO)
            .map(|a| (a.index, a.prefix_len));
        Resource::at(rt, p, ip, ours, covering, "prefix")
    }

    fn entries6(&mut self, action: &str, step: &str) -> Result<Vec<Ipv6Address>, Failure> {
        let ip = self.ip;
        match self.rt.addresses6(None) {
            Ok(all) => Ok(all.into_iter().filter(|a| a.address == ip).collect()),
            Err(e) => Err(self.rt_fail(action, step, e)),
        }
    }

    fn assigned6(&mut self, action: &str, step: &str) -> Result<Option<Ipv6Address>, Failure> {
        let index = self.link.index;
        Ok(self
            .entries6(action, step)?
            .into_iter()
            .find(|a| a.index == index))
    }

    /// The device's MAC for a Neighbor Discovery step; `None` (logged: the step is skipped)
    /// on a device without link-layer addresses.
    fn nd_mac(
        &self,
        action: &str,
        step: &str,
    ) -> Result<Option<crate::wire::ethernet::MacAddr>, Failure> {
        if !self.link.uses_arp() {
            log::info!(
                "{action}: {step}: {} does not do neighbour discovery: skipped",
                self.link.name
            );
            return Ok(None);
        }
        self.mac(action, step).map(Some)
    }

    /// The duplicate check where the kernel does none: Neighbor Solicitations for the VIP from
    /// the unspecified address, as DAD sends them (IP_PINGTRIES of them spread over
    /// IP_PINGTIMEOUT, as the IPv4 ARP check); an advertisement for the VIP is a duplicate.
    fn solicit(&mut self, action: &str, step: &str, why: &str) -> Result<(), Failure> {
        let ip = self.ip;
        let Some(mac) = self.nd_mac(action, step)? else {
            return Ok(());
        };
        let mut nonce = [0u8; 6];
        if let Err(e) = crate::sys::random::fill(&mut nonce) {
            log::warn!("{action}: {step}: nonce: {e}");
        }
        let (tries, within) = (self.p.ping_tries.max(1), self.p.ping_timeout);
        let interval = (within / tries).max(SOLICIT_MIN_INTERVAL);
        let probe = NdProbe::new(mac, ip, nonce, tries, interval);
        let answer = PacketSocket::bind(self.link.index, ETHERTYPE_IPV6)
            .and_then(|sock| nd_probe::probe_blocking(&sock, probe));
        match answer {
            Ok(None) => {
                log::info!(
                    "{action}: {step}: {why}: nobody answers {tries} neighbor solicitations \
                     for {ip} within {:?}",
                    interval * tries
                );
                Ok(())
            }
            Ok(Some(owner)) => Err(self.fail(
                action,
                step,
                format!("{ip} is already in use by {owner} (neighbor solicitation; {why})"),
            )),
            Err(e) => Err(self.fail(action, step, format!("neighbor solicitation: {e}"))),
        }
    }

    fn source_routes6(&mut self, action: &str, step: &str) -> Result<Vec<Route6>, Failure> {
        let (index, ip, prefix) = (self.link.index, self.ip, self.prefix);
        let routes = self
            .rt
            .routes::<Ipv6Addr>()
            .map_err(|e| self.rt_fail(action, step, e))?;
        let inside = |a: Ipv6Addr| same_prefix6(a, ip, prefix);
        Ok(routes
            .into_iter()
            .filter(|r| r.table == RT_TABLE_MAIN && r.oif == Some(index) && r.kind == 1)
            .filter(|r| {
                (r.prefix_len == prefix && inside(r.destination)) || r.gateway.is_some_and(inside)
            })
            .collect())
    }
}

impl Steps for Resource<Ipv6Addr> {
    const PHYSICAL_CHECK: &'static str = "physical-address check";

    /// The physical-address check: the VIP carried by an interface without our mark.
    fn physical(&mut self, action: &str) -> Result<Option<String>, Failure> {
        let step = "physical-address check";
        let Some(found) = self
            .entries6(action, step)?
            .into_iter()
            .find(|a| a.protocol != IP_RA_PROTO)
        else {
            return Ok(None);
        };
        Ok(Some(match self.rt.link_by_index(found.index) {
            Ok(Some(l)) => l.name,
            _ => format!("link index {}", found.index),
        }))
    }

    fn entries(&mut self, action: &str, step: &str) -> Result<Vec<(u32, String)>, Failure> {
        Ok(self
            .entries6(action, step)?
            .into_iter()
            .map(|a| (a.index, format!("link index {}", a.index)))
            .collect())
    }

    fn assigned(&mut self, action: &str, step: &str) -> Result<Option<Assigned>, Failure> {
        Ok(self.assigned6(action, step)?.map(|a| Assigned {
            prefix_len: a.prefix_len,
            dad_failed: a.dad_failed(),
            tentative: a.is_tentative() && !a.dad_failed(),
            ours: a.protocol == IP_RA_PROTO,
        }))
    }

    /// Adds the address: with DAD as the duplicate check (watched until it is no longer
    /// tentative), or without it under NOIPUNIQUE. Where the kernel does no DAD on the device
    /// (`accept_dad` 0 on it and on `all`, or `dad_transmits` 0) the address would never be
    /// tentative and a duplicate would pass unseen: there our own solicitations ask first.
    fn add_unique(&mut self, action: &str) -> Result<(), Failure> {
        let (index, ip, prefix) = (self.link.index, self.ip, self.prefix);
        let step = "duplicate check";
        let no_kernel_dad = if self.p.no_ip_unique {
            None
        } else {
            kernel_skips_dad(&self.link.name)
        };
        if let Some(why) = &no_kernel_dad {
            self.solicit(action, step, why)?;
        }
        let nodad = self.p.no_ip_unique || no_kernel_dad.is_some();
        self.rt
            .add_address6(index, ip, prefix, nodad, IP_RA_PROTO)
            .map_err(|e| self.rt_fail(action, "add address", e))?;
        if self.p.no_ip_unique {
            log::info!("{action}: {step}: skipped (NOIPUNIQUE=1): {ip}/{prefix} added without DAD");
            return Ok(());
        }
        if no_kernel_dad.is_some() {
            log::info!(
                "{action}: {step}: {ip}/{prefix} added to {}",
                self.link.name
            );
            return Ok(());
        }
        let started = Instant::now();
        loop {
            let state = self.assigned6(action, step)?;
            match state {
                Some(a) if a.dad_failed() => {
                    let _ = self.rt.delete_address6(index, ip, prefix);
                    return Err(self.fail(
                        action,
                        step,
                        format!("{ip} is already in use on the link (DAD failed)"),
                    ));
                }
                Some(a) if a.is_tentative() => {}
                Some(_) => {
                    log::info!(
                        "{action}: {step}: DAD for {ip} passed after {:?}; {ip}/{prefix} added \
                         to {}",
                        started.elapsed(),
                        self.link.name
                    );
                    return Ok(());
                }
                None => {
                    return Err(self.fail(action, step, "the address vanished during DAD"));
                }
            }
            if started.elapsed() > DAD_LIMIT {
                let _ = self.rt.delete_address6(index, ip, prefix);
                return Err(self.fail(action, step, "still tentative: DAD did not end"));
            }
            sleep(DAD_POLL);
        }
    }

    /// Flushes the device's neighbour cache and sends the unsolicited advertisements.
    fn announce(&mut self, action: &str) -> Result<(), Failure> {
        let (index, ip) = (self.link.index, self.ip);
        let step = "neighbour flush";
        let n = self
            .rt
            .flush_neighbours6(index)
            .map_err(|e| self.rt_fail(action, step, e))?;
        log::info!(
            "{action}: {step}: {n} entries of {} flushed",
            self.link.name
        );
        let step = "unsolicited neighbor advertisement";
        let Some(mac) = self.nd_mac(action, step)? else {
            return Ok(());
        };
        let router = std::fs::read_to_string(format!(
            "/proc/sys/net/ipv6/conf/{}/forwarding",
            self.link.name
        ))
        .is_ok_and(|v| v.trim() == "1");
        let frame = ndisc::unsolicited_advertisement(mac, ip, router);
        let sent = PacketSocket::bind(index, ETHERTYPE_IPV6)
            .and_then(|s| (0..ADVERTISEMENTS).try_for_each(|_| s.send(&frame)));
        match sent {
            Ok(()) => {
                log::info!(
                    "{action}: {step}: {ADVERTISEMENTS} × {ip} is at {mac} (override{}) to {}",
                    if router { ", router" } else { "" },
                    ndisc::ALL_NODES
                );
                Ok(())
            }
            Err(e) => Err(self.fail(action, step, e)),
        }
    }

    fn source_address_set(&mut self, action: &str) -> Result<(), Failure> {
        let step = "source address";
        let ip = self.ip;
        for r in self.source_routes6(action, step)? {
            if r.source == Some(ip) {
                continue;
            }
            self.rt
                .set_route_source(&r, Some(ip))
                .map_err(|e| self.rt_fail(action, step, e))?;
            log::info!("{action}: {step}: route {} src {ip}", r.describe());
        }
        Ok(())
    }

    fn source_address_revert(&mut self, action: &str) -> Result<(), Failure> {
        let step = "source-address revert";
        let ip = self.ip;
        let routes = self
            .rt
            .routes::<Ipv6Addr>()
            .map_err(|e| self.rt_fail(action, step, e))?;
        let mine: Vec<Route6> = routes
            .into_iter()
            .filter(|r| r.table == RT_TABLE_MAIN && r.source == Some(ip))
            .collect();
        if mine.is_empty() {
            log::info!("{action}: {step}: no route uses {ip} as source");
        }
        for r in mine {
            self.rt
                .set_route_source(&r, None)
                .map_err(|e| self.rt_fail(action, step, e))?;
            log::info!("{action}: {step}: route {} without src", r.describe());
        }
        Ok(())
    }

    fn own_addresses(&mut self, action: &str) -> Result<Vec<IpAddr>, Failure> {
        match self.rt.addresses6(None) {
            Ok(a) => Ok(a.into_iter().map(|a| a.address.into()).collect()),
            Err(e) => Err(self.rt_fail(action, "connectivity check", e)),
        }
    }

    fn ping_group(&self) -> Group {
        Group::AllNodes
    }

    fn delete_address(&mut self, prefix_len: u8) -> Result<(), RtnlError> {
        let (index, ip) = (self.link.index, self.ip);
        self.rt.delete_address6(index, ip, prefix_len)
    }
}
