//! The kit's four actions, step for step: restore, remove, quickCheck, recover. Every step
//! logs what it did; every failure names the action, the step, the address and the device.

use std::fmt;
use std::net::Ipv4Addr;
use std::thread::sleep;
use std::time::Duration;

use crate::net::garp::{self, ArpProbe};
use crate::net::packet::{PacketSocket, ETHERTYPE_ARP};
use crate::net::rtnl::{Ipv4Address, Link, Route, Rtnl, RtnlError};
use crate::wire::ethernet::MacAddr;

use super::connectivity;
use super::params::Params;

/// How long the link check waits after setting the interface up again (the kit's 1 s).
const LINK_UP_WAIT: Duration = Duration::from_secs(1);
/// The duplicate check: this many ARP requests, this far apart (about 1 s in all).
const DUP_PROBES: u32 = 3;
const DUP_INTERVAL: Duration = Duration::from_millis(300);
/// The main routing table.
const MAIN_TABLE: u32 = 254;

/// Why an action did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The parameters are wrong whatever the host (kit: exit 2; OCF: ERR_CONFIGURED).
    Config(String),
    /// The parameters do not fit this host, e.g. an unknown device (kit: exit 2; OCF: ERR_ARGS).
    Host(String),
    /// The address is not assigned (quickCheck; OCF monitor: NOT_RUNNING).
    NotRunning(String),
    /// A step failed (exit 1).
    Failed(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Config(m) | Failure::Host(m) | Failure::NotRunning(m) | Failure::Failed(m) => {
                f.write_str(m)
            }
        }
    }
}

/// One virtual address on one device, with the netlink socket that manages it.
pub struct Resource {
    rt: Rtnl,
    p: Params,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub link: Link,
}

/// The label ip-ra gives its addresses (`DEV:ra`, at most 15 bytes). Addresses whose label
/// has no alias part (`DEV` alone) count as physical.
pub fn label_for(dev: &str) -> String {
    let base: String = dev.chars().take(12).collect();
    format!("{base}:ra")
}

fn is_physical(a: &Ipv4Address) -> bool {
    !a.label.contains(':')
}

impl Resource {
    /// Finds the device and prefix; an unknown device or an undeterminable prefix is
    /// `Failure::Host`.
    pub fn resolve(p: Params) -> Result<Resource, Failure> {
        let mut rt = Rtnl::open().map_err(|e| Failure::Failed(e.to_string()))?;
        let ip = p.ip;
        let addrs = rt
            .addresses(None)
            .map_err(|e| Failure::Failed(e.to_string()))?;
        // The physical address whose subnet holds ip (longest prefix), for the defaults.
        let covering = addrs
            .iter()
            .filter(|a| is_physical(a) && a.address != ip && a.contains(ip))
            .max_by_key(|a| a.prefix_len)
            .cloned();
        let link = match &p.device {
            Some(name) => match rt.link_by_name(name) {
                Ok(Some(l)) => l,
                Ok(None) => {
                    return Err(Failure::Host(format!(
                        "DEVICE {name}: no such interface (for {ip})"
                    )))
                }
                Err(e) => return Err(Failure::Failed(e.to_string())),
            },
            None => {
                let Some(c) = &covering else {
                    return Err(Failure::Host(format!(
                        "no DEVICE given and no interface has an address in the subnet of {ip}"
                    )));
                };
                match rt.link_by_index(c.index) {
                    Ok(Some(l)) => l,
                    Ok(None) => return Err(Failure::Host(format!("no interface for {ip}"))),
                    Err(e) => return Err(Failure::Failed(e.to_string())),
                }
            }
        };
        let prefix = match p.prefix {
            Some(pfx) => pfx,
            None => match covering.filter(|c| c.index == link.index) {
                Some(c) => c.prefix_len,
                None => {
                    return Err(Failure::Host(format!(
                        "no prefix given for {ip} and {} has no address in its subnet",
                        link.name
                    )))
                }
            },
        };
        Ok(Resource {
            rt,
            p,
            ip,
            prefix,
            link,
        })
    }

    fn fail(&self, action: &str, step: &str, what: impl fmt::Display) -> Failure {
        Failure::Failed(format!(
            "{action}: {step}: {what} ({}/{} on {})",
            self.ip, self.prefix, self.link.name
        ))
    }

    fn rt_fail(&self, action: &str, step: &str, e: RtnlError) -> Failure {
        self.fail(action, step, e)
    }

    /// Every address entry equal to the VIP, on any device.
    fn vip_entries(&mut self, action: &str, step: &str) -> Result<Vec<Ipv4Address>, Failure> {
        let ip = self.ip;
        match self.rt.addresses(None) {
            Ok(all) => Ok(all.into_iter().filter(|a| a.address == ip).collect()),
            Err(e) => Err(self.rt_fail(action, step, e)),
        }
    }

    /// The physical-IP check: the VIP is a plain (non-alias) address of some interface;
    /// returns that interface's name.
    fn physical_ip(&mut self, action: &str) -> Result<Option<String>, Failure> {
        let step = "physical-IP check";
        let Some(found) = self
            .vip_entries(action, step)?
            .into_iter()
            .find(is_physical)
        else {
            return Ok(None);
        };
        let name = match self.rt.link_by_index(found.index) {
            Ok(Some(l)) => l.name,
            _ => found.label,
        };
        Ok(Some(name))
    }

    /// The VIP as configured on our device (by us or anyone), if it is.
    fn assigned(&mut self, action: &str, step: &str) -> Result<Option<Ipv4Address>, Failure> {
        let index = self.link.index;
        Ok(self
            .vip_entries(action, step)?
            .into_iter()
            .find(|a| a.index == index))
    }

    fn refresh_link(&mut self, action: &str, step: &str) -> Result<Link, Failure> {
        match self.rt.link_by_index(self.link.index) {
            Ok(Some(l)) => {
                self.link = l.clone();
                Ok(l)
            }
            Ok(None) => Err(self.fail(action, step, "the interface disappeared")),
            Err(e) => Err(self.rt_fail(action, step, e)),
        }
    }

    fn set_up(&mut self, action: &str, step: &str, up: bool) -> Result<(), Failure> {
        let index = self.link.index;
        self.rt
            .set_link_up(index, up)
            .map_err(|e| self.rt_fail(action, step, e))
    }

    /// restore's link check: up if it is down; NO-CARRIER → one down, wait, up, wait 1 s,
    /// re-check; still no carrier → failure.
    fn link_check_restore(&mut self, action: &str) -> Result<(), Failure> {
        let step = "link check";
        let mut link = self.refresh_link(action, step)?;
        if !link.is_up() {
            log::info!("{action}: {step}: {} is down, setting it up", link.name);
            self.set_up(action, step, true)?;
            sleep(LINK_UP_WAIT);
            link = self.refresh_link(action, step)?;
        }
        if link.has_carrier() {
            log::info!("{action}: {step}: {} is up with carrier", link.name);
            return Ok(());
        }
        log::warn!(
            "{action}: {step}: {} has no carrier: down, wait {:?}, up",
            link.name,
            self.p.wait_linkdown
        );
        self.set_up(action, step, false)?;
        sleep(self.p.wait_linkdown);
        self.set_up(action, step, true)?;
        sleep(LINK_UP_WAIT);
        let link = self.refresh_link(action, step)?;
        if link.has_carrier() {
            log::info!("{action}: {step}: {} has carrier again", link.name);
            Ok(())
        } else {
            Err(self.fail(
                action,
                step,
                format!("{} has no carrier after a down/up cycle", link.name),
            ))
        }
    }

    /// quickCheck's link check: up with carrier, nothing changed.
    fn link_check_quick(&mut self, action: &str) -> Result<(), Failure> {
        let step = "link check";
        let link = self.refresh_link(action, step)?;
        if !link.is_up() {
            return Err(self.fail(action, step, format!("{} is down", link.name)));
        }
        if !link.has_carrier() {
            return Err(self.fail(action, step, format!("{} has no carrier", link.name)));
        }
        log::info!("{action}: {step}: {} is up with carrier", link.name);
        Ok(())
    }

    /// Our addresses, excluded from the broadcast ping's answers.
    fn own_addresses(&mut self, action: &str) -> Result<Vec<Ipv4Addr>, Failure> {
        match self.rt.addresses(None) {
            Ok(a) => Ok(a.into_iter().map(|a| a.address).collect()),
            Err(e) => Err(self.rt_fail(action, "connectivity check", e)),
        }
    }

    fn connectivity_check(&mut self, action: &str) -> Result<(), Failure> {
        let step = "connectivity check";
        let own = self.own_addresses(action)?;
        match connectivity::check(&self.p, self.ip, self.prefix, &self.link.name, &own) {
            Ok(msg) => {
                log::info!("{action}: {step}: {msg}");
                Ok(())
            }
            Err(msg) => Err(self.fail(action, step, msg)),
        }
    }

    /// The checks of quickCheck after "assigned?": link (unless IP_NOLINKCHECK), connectivity.
    fn monitor_checks(&mut self, action: &str) -> Result<(), Failure> {
        if self.p.no_link_check {
            log::info!("{action}: link check: skipped (IP_NOLINKCHECK=1)");
        } else {
            self.link_check_quick(action)?;
        }
        self.connectivity_check(action)
    }

    /// The sender address of our ARP probes: a physical address of the device in the VIP's
    /// subnet, else its first physical address, else 0.0.0.0 (an RFC 5227 probe).
    fn probe_source(&mut self, action: &str, step: &str) -> Result<Ipv4Addr, Failure> {
        let index = self.link.index;
        let ip = self.ip;
        let prefix = self.prefix;
        let addrs = self
            .rt
            .addresses(Some(index))
            .map_err(|e| self.rt_fail(action, step, e))?;
        let phys: Vec<_> = addrs
            .iter()
            .filter(|a| is_physical(a) && a.address != ip)
            .collect();
        Ok(phys
            .iter()
            .find(|a| crate::net::rtnl::same_net(a.address, ip, prefix))
            .or(phys.first())
            .map(|a| a.address)
            .unwrap_or(Ipv4Addr::UNSPECIFIED))
    }

    fn mac(&self, action: &str, step: &str) -> Result<MacAddr, Failure> {
        self.link.mac.ok_or_else(|| {
            self.fail(
                action,
                step,
                format!("{} has no MAC address", self.link.name),
            )
        })
    }

    fn duplicate_check(&mut self, action: &str) -> Result<(), Failure> {
        let step = "duplicate check";
        let src = self.probe_source(action, step)?;
        let mac = self.mac(action, step)?;
        let sock = PacketSocket::bind(self.link.index, ETHERTYPE_ARP)
            .map_err(|e| self.fail(action, step, format!("packet socket: {e}")))?;
        let probe = ArpProbe::new(mac, src, self.ip, DUP_PROBES, DUP_INTERVAL);
        match garp::probe_blocking(&sock, probe) {
            Ok(None) => {
                log::info!(
                    "{action}: {step}: nobody answers for {} (asked from {src})",
                    self.ip
                );
                Ok(())
            }
            Ok(Some(owner)) => Err(self.fail(
                action,
                step,
                format!("{} is already in use by {owner}", self.ip),
            )),
            Err(e) => Err(self.fail(action, step, format!("ARP probe: {e}"))),
        }
    }

    fn add_and_announce(&mut self, action: &str) -> Result<(), Failure> {
        let step = "add address";
        let label = label_for(&self.link.name);
        let brd = (self.prefix < 31).then(|| garp::broadcast_of(self.ip, self.prefix));
        let (index, ip, prefix) = (self.link.index, self.ip, self.prefix);
        self.rt
            .add_address(index, ip, prefix, brd, Some(&label))
            .map_err(|e| self.rt_fail(action, step, e))?;
        log::info!(
            "{action}: {step}: {ip}/{prefix} added to {} (label {label})",
            self.link.name
        );
        let step = "neighbour flush";
        let n = self
            .rt
            .flush_neighbours(index)
            .map_err(|e| self.rt_fail(action, step, e))?;
        log::info!(
            "{action}: {step}: {n} entries of {} flushed",
            self.link.name
        );
        let step = "gratuitous ARP";
        let mac = self.mac(action, step)?;
        let bcast = garp::broadcast_of(ip, prefix);
        let sent = PacketSocket::bind(index, ETHERTYPE_ARP)
            .and_then(|s| garp::send_garps(&s, mac, ip, bcast));
        match sent {
            Ok(()) => {
                log::info!(
                    "{action}: {step}: request and reply for {ip} from {mac} to {ip} and {bcast}"
                );
                Ok(())
            }
            Err(e) => Err(self.fail(action, step, e)),
        }
    }

    /// Routes through our device into the VIP's subnet or via a gateway in it.
    fn source_routes(&mut self, action: &str, step: &str) -> Result<Vec<Route>, Failure> {
        let (index, ip, prefix) = (self.link.index, self.ip, self.prefix);
        let routes = self
            .rt
            .routes()
            .map_err(|e| self.rt_fail(action, step, e))?;
        let net = |a: Ipv4Addr| crate::net::rtnl::same_net(a, ip, prefix);
        Ok(routes
            .into_iter()
            .filter(|r| r.table == MAIN_TABLE && r.oif == Some(index) && r.kind == 1)
            .filter(|r| {
                (r.prefix_len == prefix && net(r.destination)) || r.gateway.is_some_and(net)
            })
            .collect())
    }

    fn source_address_set(&mut self, action: &str) -> Result<(), Failure> {
        let step = "source address";
        let ip = self.ip;
        for r in self.source_routes(action, step)? {
            if r.source == Some(ip) {
                continue;
            }
            self.rt
                .set_route_source(&r, Some(ip))
                .map_err(|e| self.rt_fail(action, step, e))?;
            log::info!(
                "{action}: {step}: route {}/{} src {ip} (was {})",
                r.destination,
                r.prefix_len,
                r.source.map_or("none".to_string(), |s| s.to_string())
            );
        }
        Ok(())
    }

    /// Gives every main-table route whose source is the VIP its source back: the device's
    /// physical address in that subnet, or none. Done whatever SOURCE_ADDRESS says: the kernel
    /// would delete such routes with the address.
    fn source_address_revert(&mut self, action: &str) -> Result<(), Failure> {
        let step = "source-address revert";
        let (index, ip) = (self.link.index, self.ip);
        let routes = self
            .rt
            .routes()
            .map_err(|e| self.rt_fail(action, step, e))?;
        let addrs = self
            .rt
            .addresses(Some(index))
            .map_err(|e| self.rt_fail(action, step, e))?;
        let mut changed = 0;
        for r in routes
            .into_iter()
            .filter(|r| r.table == MAIN_TABLE && r.source == Some(ip))
        {
            // A connected subnet route gets the device's primary physical address of that
            // subnet back (what the kernel gave it); other routes had no source.
            let back = if r.gateway.is_none() {
                let primary = addrs
                    .iter()
                    .filter(|a| is_physical(a) && a.address != ip && !a.is_secondary())
                    .find(|a| a.contains(r.destination) && a.prefix_len == r.prefix_len)
                    .map(|a| a.address);
                let Some(primary) = primary else {
                    // The subnet exists only through the VIP: the route goes with it.
                    continue;
                };
                Some(primary)
            } else {
                None
            };
            self.rt
                .set_route_source(&r, back)
                .map_err(|e| self.rt_fail(action, step, e))?;
            log::info!(
                "{action}: {step}: route {}/{} src {} (was {ip})",
                r.destination,
                r.prefix_len,
                back.map_or("none".to_string(), |b| b.to_string())
            );
            changed += 1;
        }
        if changed == 0 {
            log::info!("{action}: {step}: no route uses {ip} as source");
        }
        Ok(())
    }

    /// Takes the address away again after a failed restore (best effort, logged).
    fn roll_back(&mut self, action: &str) {
        log::warn!("{action}: rolling back: removing {} again", self.ip);
        if let Err(e) = self.source_address_revert(action) {
            log::warn!("{e}");
        }
        let (index, ip, prefix) = (self.link.index, self.ip, self.prefix);
        if let Err(e) = self.rt.delete_address(index, ip, prefix) {
            log::warn!("{action}: roll back: {e}");
        }
    }

    /// restore (OCF start).
    pub fn restore(&mut self, action: &str) -> Result<(), Failure> {
        if let Some(dev) = self.physical_ip(action)? {
            log::info!(
                "{action}: physical-IP check: {} is a physical address of {dev}: nothing to do",
                self.ip
            );
            return Ok(());
        }
        log::info!("{action}: physical-IP check: {} is not physical", self.ip);
        if !self.p.restore_and_recover {
            log::info!("{action}: RESTORE_AND_RECOVER=disable: nothing to do");
            return Ok(());
        }
        if self.p.no_link_check {
            log::info!("{action}: link check: skipped (IP_NOLINKCHECK=1)");
        } else {
            self.link_check_restore(action)?;
        }
        let step = "pre-assignment check";
        let entries = self.vip_entries(action, step)?;
        if let Some(other) = entries.iter().find(|a| a.index != self.link.index) {
            return Err(self.fail(
                action,
                step,
                format!(
                    "{} is assigned to another interface ({})",
                    self.ip, other.label
                ),
            ));
        }
        if !entries.is_empty() {
            log::info!(
                "{action}: {step}: {} is already assigned to {}: checking it",
                self.ip,
                self.link.name
            );
            return self.monitor_checks(action);
        }
        log::info!("{action}: {step}: {} is not assigned yet", self.ip);
        if self.p.no_ip_unique {
            log::info!("{action}: duplicate check: skipped (NOIPUNIQUE=1)");
        } else {
            self.duplicate_check(action)?;
        }
        self.add_and_announce(action)?;
        let rest = (|| {
            if self.p.source_address {
                self.source_address_set(action)?;
            } else {
                log::info!("{action}: source address: disabled");
            }
            self.connectivity_check(action)
        })();
        if rest.is_err() {
            self.roll_back(action);
        }
        rest
    }

    /// remove (OCF stop).
    pub fn remove(&mut self, action: &str) -> Result<(), Failure> {
        if let Some(dev) = self.physical_ip(action)? {
            log::info!(
                "{action}: physical-IP check: {} is a physical address of {dev}: left alone",
                self.ip
            );
            return Ok(());
        }
        let Some(entry) = self.assigned(action, "assignment check")? else {
            log::info!(
                "{action}: {} is not assigned to {}: nothing to do",
                self.ip,
                self.link.name
            );
            return Ok(());
        };
        self.source_address_revert(action)?;
        let step = "delete address";
        let (index, ip) = (self.link.index, self.ip);
        let deleted = self.rt.delete_address(index, ip, entry.prefix_len);
        match &deleted {
            Ok(()) => log::info!(
                "{action}: {step}: {ip}/{} deleted from {}",
                entry.prefix_len,
                self.link.name
            ),
            Err(e) => log::error!("{action}: {step}: {e}"),
        }
        self.delete_host_route(action);
        flush_route_cache(action);
        deleted.map_err(|e| self.rt_fail(action, step, e))
    }

    /// Deletes a main-table host route to the VIP through our device, if one is left.
    fn delete_host_route(&mut self, action: &str) {
        let step = "host route";
        let (index, ip) = (self.link.index, self.ip);
        let routes = match self.rt.routes() {
            Ok(r) => r,
            Err(e) => {
                log::warn!("{action}: {step}: {e}");
                return;
            }
        };
        let host: Vec<_> = routes
            .into_iter()
            .filter(|r| {
                r.table == MAIN_TABLE
                    && r.prefix_len == 32
                    && r.destination == ip
                    && r.oif == Some(index)
            })
            .collect();
        if host.is_empty() {
            log::info!("{action}: {step}: no host route to {ip}");
        }
        for r in host {
            match self.rt.delete_route(&r) {
                Ok(()) => log::info!("{action}: {step}: deleted {ip}/32"),
                Err(e) => log::warn!("{action}: {step}: {e}"),
            }
        }
    }

    /// quickCheck (OCF monitor): assigned? link? connectivity?
    pub fn quick_check(&mut self, action: &str) -> Result<(), Failure> {
        if self.assigned(action, "assignment check")?.is_none() {
            return Err(Failure::NotRunning(format!(
                "{action}: assignment check: {} is not assigned to {}",
                self.ip, self.link.name
            )));
        }
        log::info!(
            "{action}: assignment check: {} is assigned to {}",
            self.ip,
            self.link.name
        );
        self.monitor_checks(action)
    }

    /// recover: a physical address cannot be recovered; else remove, then restore.
    pub fn recover(&mut self, action: &str) -> Result<(), Failure> {
        if self.physical_ip(action)?.is_some() {
            return Err(self.fail(
                action,
                "physical-IP check",
                format!(
                    "{} is a physical address, not a recoverable resource",
                    self.ip
                ),
            ));
        }
        self.remove(action)?;
        self.restore(action)
    }
}

/// The kit flushes the IPv4 route cache after deleting; modern kernels keep none, but the
/// knob still exists per namespace and invalidates cached dsts.
fn flush_route_cache(action: &str) {
    match std::fs::write("/proc/sys/net/ipv4/route/flush", "1") {
        Ok(()) => log::info!("{action}: route cache flushed"),
        Err(e) => log::warn!("{action}: route cache flush: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_fit_ifnamsiz() {
        assert_eq!(label_for("eth0"), "eth0:ra");
        assert_eq!(label_for("averyveryverylongname"), "averyveryver:ra");
        assert!(label_for("averyveryverylongname").len() <= 15);
    }
}
