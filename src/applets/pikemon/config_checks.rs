//! Checks across virtual clusters and against this host, for configs that read well item by
//! item but cannot work: the same VIP in two virtual clusters, a ping-group host on another
//! virtual cluster's VIP, two macvlans whose names collide once cut to 15 characters, one
//! virtual MAC twice on a parent (the kernel refuses the second macvlan), one virtual
//! link-local address in two virtual clusters on a parent, and — on the host that runs
//! pikemon — a VIP (IPv4 or IPv6) outside every subnet of its interface unless the interface says
//! `onlink yes;`, a control socket path that holds something other than a socket, and
//! (`test-pikemon -r`) a ping-group host name with no address the daemon would ping.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{values, Config, ControlledInterface, Reader, VirtualCluster};
use crate::applets::pikemon::acr::{self, Answer};
use crate::conf::tree::Node;
use crate::conf::Span;
use crate::net::rtnl::Rtnl;
use crate::sys::addrinfo::{lookup, LookupError};

/// What earlier virtual clusters claimed, with where.
#[derive(Default)]
pub(super) struct Claims {
    vips: HashMap<IpAddr, (String, Span)>,
    macvlans: HashMap<String, Span>,
    vmacs: HashMap<(String, [u8; 6]), (String, Span)>,
    link_locals: HashMap<(String, Ipv6Addr), (String, Span)>,
}

impl Reader<'_> {
    /// Checks virtual cluster `vc` (read from `sect`) against the ones before it.
    pub(super) fn cross_check(&mut self, sect: &Node, vc: &VirtualCluster, claims: &mut Claims) {
        for (node, ci) in interfaces(sect, vc) {
            let macvlan = ci.macvlan_name(vc.id);
            match claims.macvlans.get(&macvlan) {
                Some(first) => {
                    let msg = format!(
                        "macvlan name '{macvlan}' (names are cut to 15 characters) is already \
                         used at {first}: use a shorter interface name or another id"
                    );
                    self.err(node.span(), msg);
                }
                None => {
                    claims.macvlans.insert(macvlan, node.span().clone());
                }
            }
            let vmac = ci.virtual_mac();
            let key = (ci.name.clone(), vmac);
            if let Some((other, first)) = claims.vmacs.get(&key) {
                if *other != vc.name {
                    let msg = format!(
                        "virtual MAC {} on {} is already virtual-cluster '{other}''s (at \
                         {first}): the kernel allows one macvlan per MAC on a parent",
                        values::show_mac(&vmac),
                        ci.name
                    );
                    self.err(node.span(), msg);
                }
            } else {
                claims
                    .vmacs
                    .insert(key, (vc.name.clone(), node.span().clone()));
            }
            self.link_local_check(node, ci, &vc.name, claims);
            // IPv4 and IPv6 VIPs alike: each virtual cluster elects its own Master.
            for item in node.children() {
                let Some(tok) = item.args.first() else {
                    continue;
                };
                let vip = match item.key() {
                    "ipv4" => values::ipv4_prefix(&tok.text).map(|(a, _)| IpAddr::V4(a)),
                    "ipv6" => values::ipv6_prefix(&tok.text).map(|(a, _)| IpAddr::V6(a)),
                    _ => continue,
                };
                let Ok(vip) = vip else {
                    continue;
                };
                match claims.vips.get(&vip) {
                    Some((other, first)) if *other != vc.name => {
                        let msg = format!(
                            "{vip} is already a virtual address of virtual-cluster '{other}' \
                             (at {first}): an address can move with one virtual cluster only"
                        );
                        self.err(&tok.span, msg);
                    }
                    Some(_) => {}
                    None => {
                        claims.vips.insert(vip, (vc.name.clone(), tok.span.clone()));
                    }
                }
            }
        }
    }

    /// The virtual link-local address of `ci` (configured or derived; carried only with IPv6
    /// VIPs) on one parent in one virtual cluster only: two virtual clusters elect their own
    /// Masters, so both nodes could answer it from two virtual MACs at once, and releasing one
    /// virtual cluster deletes the address the other still serves.
    fn link_local_check(
        &mut self,
        node: &Node,
        ci: &ControlledInterface,
        vc: &str,
        claims: &mut Claims,
    ) {
        if ci.ipv6.is_empty() {
            return;
        }
        let ll = ci.virtual_link_local();
        let at = node
            .children()
            .iter()
            .find(|n| n.key() == "link-local")
            .and_then(|n| n.args.first())
            .map_or_else(|| node.span().clone(), |t| t.span.clone());
        let key = (ci.name.clone(), ll);
        match claims.link_locals.get(&key) {
            Some((other, first)) if other != vc => {
                let msg = format!(
                    "link-local {ll} on {} is already virtual-cluster '{other}''s (at {first}): \
                     a virtual link-local address can move with one virtual cluster only; give \
                     this one another 'link-local'",
                    ci.name
                );
                self.err(&at, msg);
            }
            Some(_) => {}
            None => {
                claims.link_locals.insert(key, (vc.to_string(), at));
            }
        }
    }

    /// On the host that runs pikemon: every VIP lies in a subnet of its interface, unless
    /// the interface says `onlink yes;`. An interface that does not exist here is not
    /// checked (test-pikemon may run elsewhere; the daemon reports it when it starts).
    pub(super) fn host_check(&mut self, sect: &Node, vc: &VirtualCluster) {
        let Ok(mut rt) = Rtnl::open() else {
            return;
        };
        for (node, ci) in interfaces(sect, vc) {
            if ci.onlink {
                continue;
            }
            let Ok(Some(link)) = rt.link_by_name(&ci.name) else {
                continue;
            };
            let Ok(addrs) = rt.addresses(Some(link.index)) else {
                continue;
            };
            let mut subnets: Vec<(IpAddr, u8)> = addrs
                .iter()
                .map(|a| (IpAddr::V4(a.address), a.prefix_len))
                .collect();
            // Link-local addresses are no subnet of a VIP (a VIP is global unicast).
            if let Ok(addrs) = rt.addresses6(Some(link.index)) {
                let global = addrs.iter().filter(|a| !values::is_link_local(a.address));
                subnets.extend(global.map(|a| (IpAddr::V6(a.address), a.prefix_len)));
            }
            for item in node.children() {
                let Some(tok) = item.args.first() else {
                    continue;
                };
                let (vip, family) = match item.key() {
                    "ipv4" => match values::ipv4_prefix(&tok.text) {
                        Ok((a, _)) => (IpAddr::V4(a), "IPv4"),
                        Err(_) => continue,
                    },
                    "ipv6" => match values::ipv6_prefix(&tok.text) {
                        Ok((a, _)) => (IpAddr::V6(a), "IPv6"),
                        Err(_) => continue,
                    },
                    _ => continue,
                };
                let same: Vec<&(IpAddr, u8)> = subnets
                    .iter()
                    .filter(|(a, _)| a.is_ipv4() == vip.is_ipv4())
                    .collect();
                if same.iter().any(|&&(a, len)| in_subnet(vip, a, len)) {
                    continue;
                }
                // A link whose nodes have only link-local IPv6 addresses is a setup of its
                // own (the VIP's prefix is the link's, and the nodes talk over fe80::): there
                // is no prefix to hold the VIP against, so it is not checked.
                if same.is_empty() && vip.is_ipv6() {
                    continue;
                }
                let have: Vec<String> = same.iter().map(|(a, l)| format!("{a}/{l}")).collect();
                let have = if have.is_empty() {
                    format!("no {family} address")
                } else {
                    have.join(", ")
                };
                let msg = format!(
                    "{vip} is outside every subnet of {} ({have}): hosts there cannot \
                     reach it; add 'onlink yes;' to the interface if that is intended",
                    ci.name
                );
                self.err(&tok.span, msg);
            }
        }
    }
}

impl Reader<'_> {
    /// On the host that runs pikemon: the control socket's path holds nothing, or a socket
    /// (a dead instance's, which the worker replaces). Anything else there — a file the
    /// path was mistyped onto — the worker used to delete unasked.
    pub(super) fn control_socket_check(&mut self, item: &Node, path: &std::path::Path) {
        use std::os::unix::fs::FileTypeExt;
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return;
        };
        if meta.file_type().is_socket() {
            return;
        }
        let Some(tok) = item.args.first() else {
            return;
        };
        let msg = format!(
            "{} exists and is not a socket: pikemon would replace it; name a free path",
            path.display()
        );
        self.err(&tok.span, msg);
    }
}

impl Reader<'_> {
    /// A ping-group host that is a VIP of another virtual cluster witnesses nothing either:
    /// this node answers it itself whenever it is that virtual cluster's Master. Run once
    /// every virtual cluster of `c` is read, so a later one's VIPs count too.
    pub(super) fn foreign_vip_check(&mut self, sect: &Node, c: &Config) {
        let sections = sect
            .children()
            .iter()
            .filter(|n| n.key() == "virtual-cluster");
        for vc_sect in sections {
            let Some(name) = vc_sect.args.first().map(|t| t.text.as_str()) else {
                continue;
            };
            for (tok, a) in super::vc::literal_hosts(vc_sect) {
                let owner = c
                    .virtual_clusters
                    .iter()
                    .find(|o| o.name != name && o.vips().any(|v| v == a));
                if let Some(owner) = owner {
                    let msg = format!(
                        "{a} is a VIP of virtual-cluster '{}': this node answers it itself \
                         whenever it is that virtual cluster's Master, so it witnesses nothing; \
                         ping a gateway or another host",
                        owner.name
                    );
                    self.err(&tok.span, msg);
                }
            }
        }
    }

    /// A ping-group host that the config names as this node's own address (`death-watch
    /// local`) is answered by this node itself: the group could never fail. Run once the
    /// whole config is read, since `heart-beat` may come after the virtual clusters.
    pub(super) fn own_address_check(&mut self, sect: &Node, c: &Config) {
        let Some(local) = c.death_watch.as_ref().map(|w| IpAddr::V4(w.local)) else {
            return;
        };
        let Some(at) = death_watch_local(sect).map(|t| t.span.clone()) else {
            return;
        };
        let sections = sect
            .children()
            .iter()
            .filter(|n| n.key() == "virtual-cluster");
        for vc_sect in sections {
            for (tok, a) in super::vc::literal_hosts(vc_sect) {
                if a == local {
                    let msg = format!(
                        "{a} is this node's own address (death-watch local at {at}): this \
                         node answers it itself, so the ping group can never fail; ping a \
                         gateway or another host"
                    );
                    self.err(&tok.span, msg);
                }
            }
        }
    }

    /// This machine's addresses now, listed once per read; none unless `check_host` (a
    /// config checked on another machine says nothing about this one's addresses).
    pub(super) fn own_addresses(&mut self) -> &[IpAddr] {
        if !self.opts.check_host {
            return &[];
        }
        self.own.get_or_insert_with(acr::own_addresses)
    }

    /// Looks up every ping-group host name now and judges its addresses as the ACR will
    /// (`acr::answer`): a name with none it would ping is an error, not a group that goes
    /// down at run time. Run once the whole config is read: a VIP of any virtual cluster,
    /// even a later one, is refused; so, on the node (`check_host`), are its own addresses.
    pub(super) fn resolve_check(&mut self, c: &Config) {
        let names = std::mem::take(&mut self.names);
        if names.is_empty() {
            return;
        }
        let vips = acr::vips(c);
        let own = self.own_addresses().to_vec();
        for (name, span) in names {
            if let Some(msg) = unusable_name(&name, lookup(&name), &own, &vips) {
                self.err(&span, msg);
            }
        }
    }
}

/// Why host name `name` cannot be a witness, given what its lookup returned (None: it can).
fn unusable_name(
    name: &str,
    result: Result<Vec<IpAddr>, LookupError>,
    own: &[IpAddr],
    vips: &[IpAddr],
) -> Option<String> {
    match acr::answer(result, own, vips) {
        (Answer::Addr(_), _) => None,
        (Answer::Retry(e), _) => Some(format!("host name '{name}' does not resolve now: {e}")),
        (Answer::Gone, refused) if refused.is_empty() => Some(format!(
            "host name '{name}' does not resolve to an IPv4 address"
        )),
        (Answer::Gone, refused) => {
            let why: Vec<String> = refused
                .iter()
                .map(|(a, why)| format!("{a}: {why}"))
                .collect();
            Some(format!(
                "host name '{name}' has no address pikemon can ping as a witness: {}",
                why.join("; ")
            ))
        }
    }
}

/// The address token of the `death-watch local ADDR` item of `sect`'s `heart-beat`.
fn death_watch_local(sect: &Node) -> Option<&crate::conf::Token> {
    let hb = sect.children().iter().find(|n| n.key() == "heart-beat")?;
    let dw = hb.children().iter().find(|n| n.key() == "death-watch")?;
    dw.args.get(1)
}

/// The `interface` sections of `sect` with what was read from each.
fn interfaces<'a>(
    sect: &'a Node,
    vc: &'a VirtualCluster,
) -> impl Iterator<Item = (&'a Node, &'a ControlledInterface)> {
    sect.children()
        .iter()
        .filter(|n| n.key() == "interface")
        .filter_map(|n| {
            let name = &n.args.first()?.text;
            Some((n, vc.interfaces.iter().find(|ci| ci.name == *name)?))
        })
}

/// Whether `a` lies in `net/len` (false across families).
fn in_subnet(a: IpAddr, net: IpAddr, len: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(net)) => same_subnet(a, net, len),
        (IpAddr::V6(a), IpAddr::V6(net)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Whether `a` lies in `net/len`.
pub(super) fn same_subnet(a: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0);
    u32::from(a) & mask == u32::from(net) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert!(same_subnet(ip("198.51.100.10"), ip("198.51.100.2"), 24));
        assert!(!same_subnet(ip("198.51.101.10"), ip("198.51.100.2"), 24));
        assert!(same_subnet(ip("203.0.113.9"), ip("198.51.100.2"), 0));
        assert!(!same_subnet(ip("198.51.100.3"), ip("198.51.100.2"), 32));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_subnet(ip("2001:db8::10"), ip("2001:db8::2"), 64));
        assert!(!in_subnet(ip("2001:db8:1::10"), ip("2001:db8::2"), 64));
        assert!(in_subnet(ip("2001:db8:1::10"), ip("2001:db8::2"), 0));
        assert!(!in_subnet(ip("2001:db8::3"), ip("2001:db8::2"), 128));
        assert!(!in_subnet(ip("198.51.100.10"), ip("::"), 0));
    }

    #[test]
    fn a_name_is_judged_as_the_acr_judges_its_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let (own, vip) = ([ip("198.51.100.2")], [ip("203.0.113.10")]);
        let judge = |r| unusable_name("gw", r, &own, &vip);
        assert_eq!(judge(Ok(vec![ip("::1"), ip("198.51.100.1")])), None);
        assert_eq!(
            judge(Ok(vec![
                ip("127.0.0.1"),
                ip("198.51.100.2"),
                ip("203.0.113.10")
            ]))
            .unwrap(),
            "host name 'gw' has no address pikemon can ping as a witness: \
             127.0.0.1: a unicast address of another host is needed; \
             198.51.100.2: an address of this node; \
             203.0.113.10: a VIP of a virtual cluster, answered by the Master itself"
        );
        // Only IPv6 (names are pinged over IPv4), or no such name.
        let none = "host name 'gw' does not resolve to an IPv4 address";
        assert_eq!(judge(Ok(vec![ip("2001:db8::1")])).unwrap(), none);
        assert_eq!(judge(Err(LookupError(libc::EAI_NONAME))).unwrap(), none);
        assert_eq!(
            judge(Err(LookupError(libc::EAI_AGAIN))).unwrap(),
            "host name 'gw' does not resolve now: Temporary failure in name resolution"
        );
    }
}
