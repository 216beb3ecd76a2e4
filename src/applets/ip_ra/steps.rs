//! The steps the actions are made of: the link checks (both families), and the IPv4 forms of
//! the `Steps`: the duplicate check by ARP, adding and announcing the address, the
//! connectivity check, source-address routes, host route and route-cache cleanup. Each logs
//! what it did and fails naming the step.

use std::net::{IpAddr, Ipv4Addr};
use std::thread::sleep;
use std::time::Duration;

use crate::net::garp::{self, ArpProbe};
use crate::net::packet::{PacketSocket, ETHERTYPE_ARP};
use crate::net::rtnl::{
    same_net, Ipv4Address, Link, Route, Rtnl, RtnlError, RT_TABLE_MAIN as MAIN_TABLE,
};
use crate::wire::ethernet::MacAddr;

use super::actions::{is_ours, is_physical, label_for, Assigned, Failure, Lookup, Resource, Steps};
use super::connectivity;
use super::params::Params;

/// How long the link check waits after setting the interface up again (the kit's 1 s).
const LINK_UP_WAIT: Duration = Duration::from_secs(1);
/// The duplicate check never sends two ARP requests closer together than this.
const DUP_MIN_INTERVAL: Duration = Duration::from_millis(20);

impl<A: std::fmt::Display> Resource<A> {
    pub(super) fn refresh_link(&mut self, action: &str, step: &str) -> Result<Link, Failure> {
        match self.rt.link_by_index(self.link.index) {
            Ok(Some(l)) => {
                self.link = l.clone();
                Ok(l)
            }
            Ok(None) => Err(self.fail(action, step, "the interface disappeared")),
            Err(e) => Err(self.rt_fail(action, step, e)),
        }
    }

    pub(super) fn set_up(&mut self, action: &str, step: &str, up: bool) -> Result<(), Failure> {
        let index = self.link.index;
        self.rt
            .set_link_up(index, up)
            .map_err(|e| self.rt_fail(action, step, e))
    }

    /// restore's link check: up if it is down; NO-CARRIER → one down, wait, up, wait 1 s,
    /// re-check; still no carrier → failure.
    pub(super) fn link_check_restore(&mut self, action: &str) -> Result<(), Failure> {
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
        // The down takes every route through the device with it, and IPv6 addresses; the up
        // brings back only what the kernel makes itself. What was configured is put back.
        let index = self.link.index;
        let setup = self
            .rt
            .link_setup(index)
            .map_err(|e| self.rt_fail(action, step, e))?;
        self.set_up(action, step, false)?;
        sleep(self.p.wait_linkdown);
        self.set_up(action, step, true)?;
        let restored = self.rt.restore_link_setup(&setup);
        for what in &restored.added {
            log::info!("{action}: {step}: {what} put back after the down/up cycle");
        }
        for e in &restored.failed {
            log::warn!("{action}: {step}: lost in the down/up cycle: {e}");
        }
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
    pub(super) fn link_check_quick(&mut self, action: &str) -> Result<(), Failure> {
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

    pub(super) fn mac(&self, action: &str, step: &str) -> Result<MacAddr, Failure> {
        self.link.mac.ok_or_else(|| {
            self.fail(
                action,
                step,
                format!("{} has no MAC address", self.link.name),
            )
        })
    }
}

impl Resource {
    /// Finds the device and prefix; an unknown device or an undeterminable prefix is
    /// `Failure::Host`.
    pub fn resolve(p: Params, ip: Ipv4Addr, lookup: Lookup) -> Result<Resource, Failure> {
        let mut rt = Rtnl::open().map_err(|e| Failure::Failed(e.to_string()))?;
        let addrs = rt
            .addresses(None)
            .map_err(|e| Failure::Failed(e.to_string()))?;
        // The physical address whose subnet holds ip (longest prefix), for the defaults; else
        // ip itself as a physical address, so that the physical-IP check can name it.
        let covering = addrs
            .iter()
            .filter(|a| is_physical(a) && a.address != ip && a.contains(ip))
            .max_by_key(|a| a.prefix_len)
            .or_else(|| addrs.iter().find(|a| is_physical(a) && a.address == ip))
            .cloned();
        let covering = covering.map(|c| (c.index, c.prefix_len));
        let ours = addrs
            .iter()
            .find(|a| lookup == Lookup::Ours && a.address == ip && is_ours(a))
            .map(|a| (a.index, a.prefix_len));
        Resource::at(rt, p, ip, ours, covering, "subnet")
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
    fn assigned_entry(&mut self, action: &str, step: &str) -> Result<Option<Ipv4Address>, Failure> {
        let index = self.link.index;
        Ok(self
            .vip_entries(action, step)?
            .into_iter()
            .find(|a| a.index == index))
    }

    /// The sender address of our ARP probes: a physical address of the device in the VIP's
    /// subnet, else its first physical address, else 0.0.0.0 (an RFC 5227 probe).
    pub(super) fn probe_source(&mut self, action: &str, step: &str) -> Result<Ipv4Addr, Failure> {
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
            .find(|a| same_net(a.address, ip, prefix))
            .or(phys.first())
            .map(|a| a.address)
            .unwrap_or(Ipv4Addr::UNSPECIFIED))
    }

    pub(super) fn duplicate_check(&mut self, action: &str) -> Result<(), Failure> {
        let step = "duplicate check";
        if !self.link.uses_arp() {
            log::info!(
                "{action}: {step}: {} does not use ARP: skipped",
                self.link.name
            );
            return Ok(());
        }
        let src = self.probe_source(action, step)?;
        let mac = self.mac(action, step)?;
        let sock = PacketSocket::bind(self.link.index, ETHERTYPE_ARP)
            .map_err(|e| self.fail(action, step, format!("packet socket: {e}")))?;
        // The kit asks for IP_PINGTIMEOUT; we ask by ARP (a host that ignores pings still
        // answers ARP): IP_PINGTRIES requests spread evenly over that time, each followed by
        // its share of the wait, so the check ends at IP_PINGTIMEOUT when nobody answers.
        let (tries, within) = (self.p.ping_tries.max(1), self.p.ping_timeout);
        let interval = (within / tries).max(DUP_MIN_INTERVAL);
        let probe = ArpProbe::new(mac, src, self.ip, tries, interval);
        match garp::probe_blocking(&sock, probe) {
            Ok(None) => {
                log::info!(
                    "{action}: {step}: nobody answers for {} within {:?} ({tries} ARP requests \
                     from {src})",
                    self.ip,
                    interval * tries
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

    /// Adds the address with its broadcast and the `DEV:ra` label.
    pub(super) fn add_address(&mut self, action: &str) -> Result<(), Failure> {
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
        Ok(())
    }

    /// Routes through our device into the VIP's subnet or via a gateway in it.
    pub(super) fn source_routes(
        &mut self,
        action: &str,
        step: &str,
    ) -> Result<Vec<Route>, Failure> {
        let (index, ip, prefix) = (self.link.index, self.ip, self.prefix);
        let routes = self
            .rt
            .routes()
            .map_err(|e| self.rt_fail(action, step, e))?;
        let net = |a: Ipv4Addr| same_net(a, ip, prefix);
        Ok(routes
            .into_iter()
            .filter(|r| r.table == MAIN_TABLE && r.oif == Some(index) && r.kind == 1)
            .filter(|r| {
                (r.prefix_len == prefix && net(r.destination)) || r.gateway.is_some_and(net)
            })
            .collect())
    }

    /// Deletes a main-table host route to the VIP through our device, if one is left.
    pub(super) fn delete_host_route(&mut self, action: &str) {
        let step = "host route";
        let (index, ip) = (self.link.index, self.ip);
        let routes = match self.rt.routes::<Ipv4Addr>() {
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
}

impl Steps for Resource {
    const PHYSICAL_CHECK: &'static str = "physical-IP check";

    fn physical(&mut self, action: &str) -> Result<Option<String>, Failure> {
        self.physical_ip(action)
    }

    fn entries(&mut self, action: &str, step: &str) -> Result<Vec<(u32, String)>, Failure> {
        Ok(self
            .vip_entries(action, step)?
            .into_iter()
            .map(|a| (a.index, a.label))
            .collect())
    }

    fn assigned(&mut self, action: &str, step: &str) -> Result<Option<Assigned>, Failure> {
        Ok(self.assigned_entry(action, step)?.map(|a| Assigned {
            prefix_len: a.prefix_len,
            dad_failed: false,
            tentative: false,
            ours: is_ours(&a),
        }))
    }

    fn add_unique(&mut self, action: &str) -> Result<(), Failure> {
        if self.p.no_ip_unique {
            log::info!("{action}: duplicate check: skipped (NOIPUNIQUE=1)");
        } else {
            self.duplicate_check(action)?;
        }
        self.add_address(action)
    }

    /// Flushes the device's neighbour table and sends the four gratuitous ARPs.
    fn announce(&mut self, action: &str) -> Result<(), Failure> {
        let (index, ip, prefix) = (self.link.index, self.ip, self.prefix);
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
        if !self.link.uses_arp() {
            log::info!(
                "{action}: {step}: {} does not use ARP: skipped",
                self.link.name
            );
            return Ok(());
        }
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

    fn own_addresses(&mut self, action: &str) -> Result<Vec<IpAddr>, Failure> {
        match self.rt.addresses(None) {
            Ok(a) => Ok(a.into_iter().map(|a| a.address.into()).collect()),
            Err(e) => Err(self.rt_fail(action, "connectivity check", e)),
        }
    }

    fn ping_group(&self) -> connectivity::Group {
        connectivity::Group::Broadcast(garp::broadcast_of(self.ip, self.prefix))
    }

    /// The kernel deletes every secondary address of a subnet with its primary one unless
    /// `promote_secondaries` is set on the device (ip-address(8); default 0): a VIP that came
    /// first in its subnet would take the other VIPs (other resources) with it. The knob is
    /// set and left set (systemd's sysctl defaults set it on every device): putting it back
    /// would race with the stop of another resource on the same device.
    fn before_delete(&mut self, action: &str, prefix_len: u8) -> Result<(), Failure> {
        let step = "delete address";
        let (index, ip) = (self.link.index, self.ip);
        let addrs = self
            .rt
            .addresses(Some(index))
            .map_err(|e| self.rt_fail(action, step, e))?;
        let primary = addrs
            .iter()
            .any(|a| a.address == ip && a.prefix_len == prefix_len && !a.is_secondary());
        let others: Vec<String> = addrs
            .iter()
            .filter(|a| a.address != ip && a.prefix_len == prefix_len)
            .filter(|a| same_net(a.address, ip, prefix_len))
            .map(|a| format!("{}/{}", a.address, a.prefix_len))
            .collect();
        if !primary || others.is_empty() {
            return Ok(());
        }
        let knob = format!(
            "/proc/sys/net/ipv4/conf/{}/promote_secondaries",
            self.link.name
        );
        if std::fs::read_to_string(&knob).is_ok_and(|v| v.trim() == "1") {
            return Ok(());
        }
        let others = others.join(", ");
        std::fs::write(&knob, "1").map_err(|e| {
            self.fail(
                action,
                step,
                format!(
                    "{ip} is the primary address of its subnet: deleting it would delete \
                     {others} too, and {knob} cannot be set: {e}"
                ),
            )
        })?;
        log::info!(
            "{action}: {step}: {ip} is the primary address of its subnet: \
             promote_secondaries set on {} so that {others} stay",
            self.link.name
        );
        Ok(())
    }

    fn delete_address(&mut self, prefix_len: u8) -> Result<(), RtnlError> {
        let (index, ip) = (self.link.index, self.ip);
        self.rt.delete_address(index, ip, prefix_len)
    }

    fn after_delete(&mut self, action: &str) {
        self.delete_host_route(action);
        flush_route_cache(action);
    }
}

/// The kit flushes the IPv4 route cache after deleting; modern kernels keep none, but the
/// knob still exists per namespace and invalidates cached dsts.
pub(super) fn flush_route_cache(action: &str) {
    match std::fs::write("/proc/sys/net/ipv4/route/flush", "1") {
        Ok(()) => log::info!("{action}: route cache flushed"),
        Err(e) => log::warn!("{action}: route cache flush: {e}"),
    }
}
