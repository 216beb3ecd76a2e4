//! The kit's four actions, step for step: restore, remove, quickCheck, recover, written once
//! for both families over the `Steps` whose IPv4 and IPv6 forms differ. Every step logs what
//! it did; every failure names the action, the step, the address and the device.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::net::rtnl::{Ipv4Address, Link, Rtnl, RtnlError};

use super::connectivity::{self, Group};
use super::params::{subnet_edge, Params};

/// Why an action did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The parameters are wrong whatever the host (kit: exit 2; OCF: ERR_CONFIGURED).
    Config(String),
    /// The parameters do not fit this host, e.g. an unknown device (kit: exit 2; OCF: ERR_ARGS).
    Host(String),
    /// The address is not assigned (quickCheck; OCF monitor: NOT_RUNNING).
    NotRunning(String),
    /// The VIP is one of the host's own (physical) addresses, refused by the OCF face
    /// (`Resource::refuse_physical`): a parameter wrong on this host (OCF: ERR_ARGS, also from
    /// monitor, where the address is there but no stop can take it away).
    Physical(String),
    /// A step failed (exit 1).
    Failed(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Config(m)
            | Failure::Host(m)
            | Failure::NotRunning(m)
            | Failure::Physical(m)
            | Failure::Failed(m) => f.write_str(m),
        }
    }
}

/// One virtual address on one device, with the netlink socket that manages it. `A` is the
/// address type: the IPv4 steps are in `steps`, the IPv6 ones in `inet6`; the link checks
/// (`steps`) and the actions (below) are shared.
pub struct Resource<A = Ipv4Addr> {
    pub(super) rt: Rtnl,
    pub(super) p: Params,
    pub ip: A,
    pub prefix: u8,
    pub link: Link,
}

/// The label ip-ra gives its addresses (`DEV:ra`, at most 15 bytes). Addresses whose label
/// has no alias part (`DEV` alone) count as physical.
pub fn label_for(dev: &str) -> String {
    let base: String = dev.chars().take(12).collect();
    format!("{base}:ra")
}

pub(super) fn is_physical(a: &Ipv4Address) -> bool {
    !a.label.contains(':')
}

/// An address ip-ra added (its `DEV:ra` label, `label_for`).
pub(super) fn is_ours(a: &Ipv4Address) -> bool {
    a.label.ends_with(":ra")
}

impl<A: fmt::Display> Resource<A> {
    pub(super) fn fail(&self, action: &str, step: &str, what: impl fmt::Display) -> Failure {
        Failure::Failed(format!(
            "{action}: {step}: {what} ({}/{} on {})",
            self.ip, self.prefix, self.link.name
        ))
    }

    pub(super) fn rt_fail(&self, action: &str, step: &str, e: RtnlError) -> Failure {
        self.fail(action, step, e)
    }
}

/// Where an action looks for the VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// On the device and prefix the parameters give (or the physical address whose subnet
    /// holds the VIP): restore, recover, validate-all.
    Configured,
    /// First wherever ip-ra added it (IPv4: label `DEV:ra`, IPv6: `IFA_PROTO` = ours), then
    /// as `Configured`: remove and quickCheck must see the VIP that is in service even when
    /// the physical address it was placed by is gone or changed, or DEVICE changed.
    Ours,
}

impl<A: fmt::Display + Copy + Into<IpAddr>> Resource<A> {
    /// The resource of `ip`: where `ours` (the interface index and prefix length of the VIP
    /// as ip-ra added it) says, else on the device and prefix `link_and_prefix` finds
    /// (`covering`: the node's own address whose `net` holds `ip`). The prefix's network or
    /// broadcast address is refused (`Failure::Host`: only a prefix taken from this host can
    /// get here, the parser refuses a configured one).
    pub(super) fn at(
        mut rt: Rtnl,
        p: Params,
        ip: A,
        ours: Option<(u32, u8)>,
        covering: Option<(u32, u8)>,
        net: &str,
    ) -> Result<Resource<A>, Failure> {
        let found = match ours {
            Some((index, prefix)) => match rt.link_by_index(index) {
                Ok(Some(link)) => Some((link, prefix)),
                Ok(None) => None,
                Err(e) => return Err(Failure::Failed(e.to_string())),
            },
            None => None,
        };
        let (link, prefix) = match found {
            Some((link, prefix)) => {
                if p.device.as_ref().is_some_and(|d| *d != link.name)
                    || p.prefix.is_some_and(|q| q != prefix)
                {
                    log::warn!(
                        "{ip}/{prefix} was added by ip-ra on {}, not where the parameters \
                         say ({}/{}): acting on it there",
                        link.name,
                        p.device.as_deref().unwrap_or("any device"),
                        p.prefix.map_or("?".to_string(), |q| q.to_string()),
                    );
                }
                (link, prefix)
            }
            None => link_and_prefix(&mut rt, &p, &ip, covering, net)?,
        };
        if let Some(what) = subnet_edge(ip.into(), prefix) {
            return Err(Failure::Host(format!(
                "{ip}/{prefix} (the prefix of {}): {what}, not a host address",
                link.name
            )));
        }
        Ok(Resource {
            rt,
            p,
            ip,
            prefix,
            link,
        })
    }
}

/// The interface parameter's name as the caller gave it: DEVICE (the kit) or `nic` (OCF).
fn device_name(p: &Params) -> &'static str {
    super::params::device_param(p.naming)
}

/// The VIP's interface and prefix length: DEVICE and the given prefix when set, else those
/// of `covering` (the interface index and prefix length of the node's own address whose
/// `net` — "subnet", "prefix" — holds `ip`). An unknown device or an undeterminable prefix
/// is `Failure::Host`.
fn link_and_prefix(
    rt: &mut Rtnl,
    p: &Params,
    ip: &dyn fmt::Display,
    covering: Option<(u32, u8)>,
    net: &str,
) -> Result<(Link, u8), Failure> {
    let link = match &p.device {
        Some(name) => match rt.link_by_name(name) {
            Ok(Some(l)) => l,
            Ok(None) => {
                return Err(Failure::Host(format!(
                    "{} {name}: no such interface (for {ip})",
                    device_name(p)
                )))
            }
            Err(e) => return Err(Failure::Failed(e.to_string())),
        },
        None => {
            let Some((index, _)) = covering else {
                return Err(Failure::Host(format!(
                    "no {} given and no interface has an address in the {net} of {ip}",
                    device_name(p)
                )));
            };
            match rt.link_by_index(index) {
                Ok(Some(l)) => l,
                Ok(None) => return Err(Failure::Host(format!("no interface for {ip}"))),
                Err(e) => return Err(Failure::Failed(e.to_string())),
            }
        }
    };
    let prefix = match p.prefix {
        Some(pfx) => pfx,
        None => match covering.filter(|(index, _)| *index == link.index) {
            Some((_, len)) => len,
            None => {
                return Err(Failure::Host(format!(
                    "no prefix given for {ip} and {} has no address in its {net}",
                    link.name
                )))
            }
        },
    };
    Ok((link, prefix))
}

/// The VIP as found on our device.
pub(super) struct Assigned {
    pub prefix_len: u8,
    /// IPv6: duplicate address detection found another owner (the address is unusable).
    pub dad_failed: bool,
    /// IPv6: duplicate address detection still runs (the address cannot be used yet).
    pub tentative: bool,
    /// ip-ra added it (IPv4: label `DEV:ra`, IPv6: its owner mark).
    pub ours: bool,
}

/// How long an action waits for a tentative VIP to pass or fail DAD: the kernel's
/// DupAddrDetectTransmits × RetransTimer plus its random start delay, with room to spare.
const TENTATIVE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The steps whose IPv4 and IPv6 forms differ (`steps` has the IPv4 ones, `inet6` the IPv6
/// ones). The actions below run them in the kit's order for both families.
pub(super) trait Steps {
    /// The physical-address check's name in messages ("physical-IP check", as the kit says,
    /// for IPv4).
    const PHYSICAL_CHECK: &'static str;
    /// The interface that carries the VIP as a physical address (not one of ours), if any.
    fn physical(&mut self, action: &str) -> Result<Option<String>, Failure>;
    /// Every entry of the VIP on any interface: its index and how a message names it.
    fn entries(&mut self, action: &str, step: &str) -> Result<Vec<(u32, String)>, Failure>;
    /// The VIP on our device, if it is there.
    fn assigned(&mut self, action: &str, step: &str) -> Result<Option<Assigned>, Failure>;
    /// The duplicate check and the address added (IPv4: ARP probe, then add; IPv6: added
    /// with DAD, watched until it ends); NOIPUNIQUE skips the check.
    fn add_unique(&mut self, action: &str) -> Result<(), Failure>;
    /// Neighbour flush and the announcement (gratuitous ARPs, unsolicited NAs).
    fn announce(&mut self, action: &str) -> Result<(), Failure>;
    /// SOURCE_ADDRESS: the VIP as preferred source of the device's routes into its subnet.
    fn source_address_set(&mut self, action: &str) -> Result<(), Failure>;
    /// Every route with the VIP as source gets its source back.
    fn source_address_revert(&mut self, action: &str) -> Result<(), Failure>;
    /// Our addresses of the VIP's family, excluded from the connectivity ping's answers.
    fn own_addresses(&mut self, action: &str) -> Result<Vec<IpAddr>, Failure>;
    /// Whom the connectivity check pings after the PingList: the subnet's broadcast address
    /// (IPv4) or all-nodes (IPv6).
    fn ping_group(&self) -> Group;
    /// Before the VIP with `prefix_len` is deleted: makes sure the delete takes no other
    /// address with it (IPv4: a subnet's primary address takes its secondaries).
    fn before_delete(&mut self, _action: &str, _prefix_len: u8) -> Result<(), Failure> {
        Ok(())
    }
    /// Deletes the VIP with `prefix_len` from our device.
    fn delete_address(&mut self, prefix_len: u8) -> Result<(), RtnlError>;
    /// After remove deleted the address (IPv4: the host route and the route cache).
    fn after_delete(&mut self, _action: &str) {}
}

impl<A: fmt::Display + Copy + Into<IpAddr>> Resource<A>
where
    Resource<A>: Steps,
{
    /// PingList, then the broadcast or all-nodes ping (NOBCASTPING skips it).
    fn connectivity_check(&mut self, action: &str) -> Result<(), Failure> {
        let step = "connectivity check";
        let own = self.own_addresses(action)?;
        let group = self.ping_group();
        match connectivity::check(&self.p, self.ip.into(), group, &self.link.name, &own) {
            Ok(msg) => {
                log::info!("{action}: {step}: {msg}");
                Ok(())
            }
            Err(msg) => Err(self.fail(action, step, msg)),
        }
    }

    /// Takes the address away again after a failed restore (best effort, logged).
    fn roll_back(&mut self, action: &str) {
        log::warn!("{action}: rolling back: removing {} again", self.ip);
        if let Err(e) = self.source_address_revert(action) {
            log::warn!("{e}");
        }
        let deleted = self.before_delete(action, self.prefix).and_then(|()| {
            self.delete_address(self.prefix)
                .map_err(|e| self.rt_fail(action, "roll back", e))
        });
        if let Err(e) = deleted {
            log::warn!("{e}");
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

    /// The OCF face's refusal of a VIP that is one of the host's own (physical) addresses, on
    /// any interface: start would leave it untouched, stop must leave it, so the cluster could
    /// neither stop nor move it.
    pub fn refuse_physical(&mut self, action: &str) -> Result<(), Failure> {
        match self.physical(action)? {
            Some(dev) => Err(Failure::Physical(format!(
                "{action}: {}: {} is already {dev}'s own address, not a virtual IP",
                Self::PHYSICAL_CHECK,
                self.ip
            ))),
            None => Ok(()),
        }
    }

    /// The VIP on our device once it is no longer tentative (IPv6: DAD still running; a
    /// tentative address cannot be used, not even as a ping's source), waiting at most
    /// `TENTATIVE_LIMIT`; then it is taken as it is.
    fn assigned_settled(&mut self, action: &str, step: &str) -> Result<Option<Assigned>, Failure> {
        let started = std::time::Instant::now();
        let mut said = false;
        loop {
            let a = self.assigned(action, step)?;
            match &a {
                Some(x) if x.tentative && started.elapsed() < TENTATIVE_LIMIT => {
                    if !said {
                        log::info!(
                            "{action}: {step}: {} on {} is tentative (DAD running): waiting",
                            self.ip,
                            self.link.name
                        );
                        said = true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                _ => return Ok(a),
            }
        }
    }

    /// What is wrong with the VIP as found on our device, if anything: it failed DAD, or its
    /// prefix length is not the one configured. A VIP that ip-ra added on another device
    /// than the parameters name (found by quickCheck and remove wherever it is) is checked as
    /// it is there: the parameters were changed since, and its prefix is not judged by them.
    fn unfit(&self, a: &Assigned) -> Option<String> {
        if a.dad_failed {
            return Some("failed DAD".to_string());
        }
        if self.p.device.as_ref().is_some_and(|d| *d != self.link.name) {
            return None;
        }
        match self.p.prefix {
            Some(q) if q != a.prefix_len => Some(format!("as /{}, not /{q}", a.prefix_len)),
            _ => None,
        }
    }

    /// Whether the VIP is on our device (a probe with parameters it cannot check asks only
    /// that).
    pub fn in_service(&mut self, action: &str) -> Result<bool, Failure> {
        Ok(self.assigned(action, "assignment check")?.is_some())
    }

    /// restore (OCF start).
    pub fn restore(&mut self, action: &str) -> Result<(), Failure> {
        let check = Self::PHYSICAL_CHECK;
        if let Some(dev) = self.physical(action)? {
            // On another interface, quickCheck (which looks at DEVICE) would call the
            // resource down right after this "success": a wrong DEVICE, said now.
            if dev != self.link.name {
                return Err(Failure::Host(format!(
                    "{action}: {check}: {} is a physical address of {dev}, not of {} {}",
                    self.ip,
                    device_name(&self.p),
                    self.link.name
                )));
            }
            log::info!(
                "{action}: {check}: {} is a physical address of {dev}: nothing to do",
                self.ip
            );
            return Ok(());
        }
        log::info!("{action}: {check}: {} is not physical", self.ip);
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
        let entries = self.entries(action, step)?;
        if let Some((_, other)) = entries.iter().find(|(i, _)| *i != self.link.index) {
            return Err(self.fail(
                action,
                step,
                format!("{} is assigned to another interface ({other})", self.ip),
            ));
        }
        let found = if entries.is_empty() {
            None
        } else {
            self.assigned_settled(action, step)?
        };
        match found {
            None => log::info!("{action}: {step}: {} is not assigned yet", self.ip),
            Some(a) => match self.unfit(&a) {
                None => {
                    // A restore killed after its add left the address unannounced: the
                    // announcement is repeated (it is idempotent) before the checks.
                    log::info!(
                        "{action}: {step}: {} is already assigned to {}: announcing and \
                         checking it",
                        self.ip,
                        self.link.name
                    );
                    self.announce(action)?;
                    return self.monitor_checks(action);
                }
                Some(why) if !a.ours => {
                    return Err(self.fail(
                        action,
                        step,
                        format!(
                            "{} is assigned to {} {why}, and not by ip-ra: left alone",
                            self.ip, self.link.name
                        ),
                    ))
                }
                Some(why) => {
                    log::warn!(
                        "{action}: {step}: {} is assigned to {} {why}: replacing it",
                        self.ip,
                        self.link.name
                    );
                    self.source_address_revert(action)?;
                    self.before_delete(action, a.prefix_len)?;
                    self.delete_address(a.prefix_len)
                        .map_err(|e| self.rt_fail(action, step, e))?;
                }
            },
        }
        self.add_unique(action)?;
        // From here on a failure takes the address away again.
        let rest = (|| {
            self.announce(action)?;
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
        if let Some(dev) = self.physical(action)? {
            log::info!(
                "{action}: {}: {} is a physical address of {dev}: left alone",
                Self::PHYSICAL_CHECK,
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
        self.before_delete(action, entry.prefix_len)?;
        let step = "delete address";
        let deleted = self.delete_address(entry.prefix_len);
        match &deleted {
            Ok(()) => log::info!(
                "{action}: {step}: {}/{} deleted from {}",
                self.ip,
                entry.prefix_len,
                self.link.name
            ),
            Err(e) => log::error!("{action}: {step}: {e}"),
        }
        self.after_delete(action);
        deleted.map_err(|e| self.rt_fail(action, step, e))
    }

    /// quickCheck (OCF monitor): assigned (and not a failed duplicate)? link? connectivity?
    /// With RESTORE_AND_RECOVER disabled the kit checks nothing: restore did not configure
    /// the address either.
    pub fn quick_check(&mut self, action: &str) -> Result<(), Failure> {
        if !self.p.restore_and_recover {
            log::info!("{action}: RESTORE_AND_RECOVER=disable: nothing to check");
            return Ok(());
        }
        let step = "assignment check";
        match self.assigned_settled(action, step)? {
            None => {
                return Err(Failure::NotRunning(format!(
                    "{action}: {step}: {} is not assigned to {}",
                    self.ip, self.link.name
                )))
            }
            Some(a) if a.dad_failed => {
                return Err(self.fail(
                    action,
                    step,
                    format!("{} failed DAD: another node owns it", self.ip),
                ))
            }
            Some(a) if a.tentative => {
                return Err(self.fail(
                    action,
                    step,
                    format!("{} is still tentative: DAD did not end", self.ip),
                ))
            }
            // restore replaces such an entry (or refuses one that is not ip-ra's): the
            // cluster's recovery puts it right.
            Some(a) => {
                if let Some(why) = self.unfit(&a) {
                    return Err(self.fail(
                        action,
                        step,
                        format!("{} is assigned to {} {why}", self.ip, self.link.name),
                    ));
                }
                log::info!(
                    "{action}: {step}: {} is assigned to {}",
                    self.ip,
                    self.link.name
                );
            }
        }
        self.monitor_checks(action)
    }

    /// recover: a physical address cannot be recovered; else remove, then restore.
    pub fn recover(&mut self, action: &str) -> Result<(), Failure> {
        if self.physical(action)?.is_some() {
            return Err(self.fail(
                action,
                Self::PHYSICAL_CHECK,
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
