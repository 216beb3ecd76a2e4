//! The kit's four actions, step for step: restore, remove, quickCheck, recover. Every step
//! logs what it did; every failure names the action, the step, the address and the device.

use std::fmt;
use std::net::Ipv4Addr;

use crate::net::rtnl::{Ipv4Address, Link, Rtnl, RtnlError};

use super::params::Params;

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

/// One virtual address on one device, with the netlink socket that manages it. `A` is the
/// address type: the IPv4 steps are below and in `steps`, the IPv6 ones in `inet6`; the
/// link checks are shared.
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

/// The VIP's interface and prefix length: DEVICE and the given prefix when set, else those
/// of `covering` (the interface index and prefix length of the node's own address whose
/// `net` — "subnet", "prefix" — holds `ip`). An unknown device or an undeterminable prefix
/// is `Failure::Host`.
pub(super) fn link_and_prefix(
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
                    "DEVICE {name}: no such interface (for {ip})"
                )))
            }
            Err(e) => return Err(Failure::Failed(e.to_string())),
        },
        None => {
            let Some((index, _)) = covering else {
                return Err(Failure::Host(format!(
                    "no DEVICE given and no interface has an address in the {net} of {ip}"
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

impl Resource {
    /// Finds the device and prefix; an unknown device or an undeterminable prefix is
    /// `Failure::Host`.
    pub fn resolve(p: Params, ip: Ipv4Addr) -> Result<Resource, Failure> {
        let mut rt = Rtnl::open().map_err(|e| Failure::Failed(e.to_string()))?;
        let addrs = rt
            .addresses(None)
            .map_err(|e| Failure::Failed(e.to_string()))?;
        // The physical address whose subnet holds ip (longest prefix), for the defaults.
        let covering = addrs
            .iter()
            .filter(|a| is_physical(a) && a.address != ip && a.contains(ip))
            .max_by_key(|a| a.prefix_len)
            .cloned();
        let covering = covering.map(|c| (c.index, c.prefix_len));
        let (link, prefix) = link_and_prefix(&mut rt, &p, &ip, covering, "subnet")?;
        Ok(Resource {
            rt,
            p,
            ip,
            prefix,
            link,
        })
    }

    /// Every address entry equal to the VIP, on any device.
    pub(super) fn vip_entries(
        &mut self,
        action: &str,
        step: &str,
    ) -> Result<Vec<Ipv4Address>, Failure> {
        let ip = self.ip;
        match self.rt.addresses(None) {
            Ok(all) => Ok(all.into_iter().filter(|a| a.address == ip).collect()),
            Err(e) => Err(self.rt_fail(action, step, e)),
        }
    }

    /// The physical-IP check: the VIP is a plain (non-alias) address of some interface;
    /// returns that interface's name.
    pub(super) fn physical_ip(&mut self, action: &str) -> Result<Option<String>, Failure> {
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
    pub(super) fn assigned(
        &mut self,
        action: &str,
        step: &str,
    ) -> Result<Option<Ipv4Address>, Failure> {
        let index = self.link.index;
        Ok(self
            .vip_entries(action, step)?
            .into_iter()
            .find(|a| a.index == index))
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
        self.add_address(action)?;
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
        super::steps::flush_route_cache(action);
        deleted.map_err(|e| self.rt_fail(action, step, e))
    }

    /// quickCheck (OCF monitor): assigned? link? connectivity? With RESTORE_AND_RECOVER
    /// disabled the kit checks nothing: restore did not configure the address either.
    pub fn quick_check(&mut self, action: &str) -> Result<(), Failure> {
        if !self.p.restore_and_recover {
            log::info!("{action}: RESTORE_AND_RECOVER=disable: nothing to check");
            return Ok(());
        }
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
