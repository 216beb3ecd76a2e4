//! What an administrator configured through one link, both address families: the addresses
//! and routes that `ip link set DEV down` may take away and `up` does not bring back.
//!
//! On an administrative down the kernel deletes every route whose next hop is the device
//! (IPv4 `fib_sync_down_dev`, IPv6 `rt6_sync_down_dev`) and, unless `keep_addr_on_down`,
//! every IPv6 address of it; on up it recreates only what it owns itself (connected and
//! prefix routes, link-local addresses). `LinkSetup` keeps the rest as the kernel reported
//! it, and `Rtnl::restore_link_setup` adds back what is missing.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::route::{
    RouteAttribute, RouteFlags, RouteMessage, RouteNextHopFlags, RouteProtocol, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Rtnl, RtnlError};

/// `RT_TABLE_LOCAL`: the kernel's own table of local and broadcast addresses.
const RT_TABLE_LOCAL: u32 = 255;
/// `EEXIST`: what re-adding something still there answers.
const EEXIST: i32 = 17;

/// Addresses and routes through one link, ready to be sent back as they are.
#[derive(Debug, Clone, Default)]
pub struct LinkSetup {
    addresses: Vec<AddressMessage>,
    routes: Vec<RouteMessage>,
}

/// What `restore_link_setup` did.
#[derive(Debug, Default)]
pub struct Restored {
    /// Descriptions of what was missing and was added back.
    pub added: Vec<String>,
    /// What was missing and could not be added.
    pub failed: Vec<RtnlError>,
}

impl LinkSetup {
    /// How many addresses and routes it holds.
    pub fn len(&self) -> usize {
        self.addresses.len() + self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn route_table(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

/// Whether the route leaves through `index` (its output interface or one of its next hops).
fn route_uses(m: &RouteMessage, index: u32) -> bool {
    m.attributes.iter().any(|a| match a {
        RouteAttribute::Oif(o) => *o == index,
        RouteAttribute::MultiPath(hops) => hops.iter().any(|h| h.interface_index == index),
        _ => false,
    })
}

/// A route someone configured: not one the kernel makes and remakes itself (connected and
/// prefix routes, the local table, router advertisements, cached clones).
fn configured_route(m: &RouteMessage, index: u32) -> bool {
    route_uses(m, index)
        && route_table(m) != RT_TABLE_LOCAL
        && !matches!(m.header.protocol, RouteProtocol::Kernel | RouteProtocol::Ra)
        && !m.header.flags.contains(RouteFlags::Cloned)
        && !matches!(m.header.kind, RouteType::Local | RouteType::Broadcast)
}

/// The route as a request: the state flags the kernel reports (linkdown, dead, offload) are
/// refused in a request; `onlink` is the only one a request carries. Lifetimes go.
fn route_request(m: &RouteMessage) -> RouteMessage {
    let mut r = m.clone();
    r.header.flags &= RouteFlags::Onlink;
    r.attributes
        .retain(|a| !matches!(a, RouteAttribute::CacheInfo(_) | RouteAttribute::Expires(_)));
    for a in &mut r.attributes {
        if let RouteAttribute::MultiPath(hops) = a {
            for h in hops {
                h.flags &= RouteNextHopFlags::Onlink;
            }
        }
    }
    r
}

fn address_flags(m: &AddressMessage) -> AddressFlags {
    m.attributes
        .iter()
        .find_map(|a| match a {
            AddressAttribute::Flags(f) => Some(*f),
            _ => None,
        })
        .unwrap_or(AddressFlags::from_bits_retain(u32::from(
            m.header.flags.bits(),
        )))
}

/// An address someone configured: permanent (not autoconfigured or temporary), and for IPv6
/// not link-local (the kernel makes a new one on up).
fn configured_address(m: &AddressMessage, index: u32) -> bool {
    m.header.index == index
        && address_flags(m).contains(AddressFlags::Permanent)
        && !(m.header.family == AddressFamily::Inet6 && m.header.scope == AddressScope::Link)
}

/// The address as a request: without the state the kernel reports (secondary, tentative,
/// deprecated, DAD failed) and without lifetimes (a permanent address has none).
fn address_request(m: &AddressMessage) -> AddressMessage {
    let keep = AddressFlags::Nodad
        | AddressFlags::Homeaddress
        | AddressFlags::Managetempaddr
        | AddressFlags::Noprefixroute
        | AddressFlags::Mcautojoin
        | AddressFlags::Permanent;
    let mut r = m.clone();
    let flags = address_flags(m) & keep;
    r.header.flags = AddressHeaderFlags::from_bits_truncate(flags.bits() as u8);
    r.attributes.retain(|a| {
        !matches!(
            a,
            AddressAttribute::CacheInfo(_) | AddressAttribute::Flags(_)
        )
    });
    r.attributes.push(AddressAttribute::Flags(flags));
    r
}

fn describe_address(m: &AddressMessage) -> String {
    let ip = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let ip = ip.or_else(|| {
        m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    });
    match ip {
        Some(ip) => format!("address {ip}/{}", m.header.prefix_len),
        None => format!("an address of prefix length {}", m.header.prefix_len),
    }
}

fn describe_route(m: &RouteMessage) -> String {
    use netlink_packet_route::route::RouteAddress;
    let addr = |a: &RouteAddress| match a {
        RouteAddress::Inet(ip) => ip.to_string(),
        RouteAddress::Inet6(ip) => ip.to_string(),
        other => format!("{other:?}"),
    };
    let mut dst = None;
    let mut via = None;
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = Some(addr(d)),
            RouteAttribute::Gateway(g) => via = Some(addr(g)),
            _ => {}
        }
    }
    let mut s = format!(
        "route {}/{}",
        dst.unwrap_or_else(|| "default".to_string()),
        m.header.destination_prefix_length
    );
    if let Some(g) = via {
        s.push_str(&format!(" via {g}"));
    }
    let table = route_table(m);
    if table != super::RT_TABLE_MAIN {
        s.push_str(&format!(" table {table}"));
    }
    s
}

/// What `link_setup` and `restore_link_setup` make of one dumped message (for
/// `super::digest`, the rtnetlink fuzz target's entry).
pub(super) fn digest(m: &RouteNetlinkMessage) {
    match m {
        RouteNetlinkMessage::NewAddress(a) => {
            let _ = (
                configured_address(a, 1),
                address_request(a),
                describe_address(a),
            );
        }
        RouteNetlinkMessage::NewRoute(r) => {
            let _ = (configured_route(r, 1), route_request(r), describe_route(r));
        }
        _ => {}
    }
}

impl Rtnl {
    /// The configured addresses and routes (IPv4 and IPv6) through interface `index`.
    pub fn link_setup(&mut self, index: u32) -> Result<LinkSetup, RtnlError> {
        let mut setup = LinkSetup::default();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut req = AddressMessage::default();
            req.header.family = family;
            let msgs = self.dump(
                || format!("list {family:?} addresses"),
                RouteNetlinkMessage::GetAddress(req),
            )?;
            setup
                .addresses
                .extend(msgs.into_iter().filter_map(|m| match m {
                    RouteNetlinkMessage::NewAddress(a) if configured_address(&a, index) => Some(a),
                    _ => None,
                }));
            let mut req = RouteMessage::default();
            req.header.address_family = family;
            let msgs = self.dump(
                || format!("list {family:?} routes"),
                RouteNetlinkMessage::GetRoute(req),
            )?;
            setup
                .routes
                .extend(msgs.into_iter().filter_map(|m| match m {
                    RouteNetlinkMessage::NewRoute(r) if configured_route(&r, index) => Some(r),
                    _ => None,
                }));
        }
        Ok(setup)
    }

    /// Adds back every address, then every route, of `setup` that is missing now (one still
    /// there answers EEXIST and is left as it is). A route that fails is tried once more after
    /// the others: it may lead through one of them.
    pub fn restore_link_setup(&mut self, setup: &LinkSetup) -> Restored {
        let mut done = Restored::default();
        for a in &setup.addresses {
            let what = describe_address(a);
            let msg = RouteNetlinkMessage::NewAddress(address_request(a));
            match self.execute(|| format!("add {what}"), msg, NLM_F_CREATE | NLM_F_EXCL) {
                Ok(()) => done.added.push(what),
                Err(e) if e.errno() == Some(EEXIST) => {}
                Err(e) => done.failed.push(e),
            }
        }
        let mut pending: Vec<&RouteMessage> = setup.routes.iter().collect();
        for last in [false, true] {
            let mut again = Vec::new();
            for r in pending {
                let what = describe_route(r);
                let msg = RouteNetlinkMessage::NewRoute(route_request(r));
                match self.execute(|| format!("add {what}"), msg, NLM_F_CREATE | NLM_F_EXCL) {
                    Ok(()) => done.added.push(what),
                    Err(e) if e.errno() == Some(EEXIST) => {}
                    Err(e) if last => done.failed.push(e),
                    Err(_) => again.push(r),
                }
            }
            pending = again;
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::{RouteAddress, RouteNextHop};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn route(protocol: RouteProtocol, table: u32, oif: u32) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.destination_prefix_length = 24;
        m.header.protocol = protocol;
        m.header.kind = RouteType::Unicast;
        m.header.flags = RouteFlags::Linkdown | RouteFlags::Onlink;
        m.attributes.push(RouteAttribute::Table(table));
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(
                Ipv4Addr::new(203, 0, 113, 0),
            )));
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::new(
                198, 51, 100, 1,
            ))));
        m.attributes.push(RouteAttribute::Oif(oif));
        m
    }

    #[test]
    fn only_configured_routes_through_the_link_are_kept() {
        assert!(configured_route(&route(RouteProtocol::Boot, 254, 3), 3));
        assert!(configured_route(&route(RouteProtocol::Static, 100, 3), 3));
        assert!(!configured_route(&route(RouteProtocol::Boot, 254, 4), 3));
        assert!(!configured_route(&route(RouteProtocol::Kernel, 254, 3), 3));
        assert!(!configured_route(&route(RouteProtocol::Ra, 254, 3), 3));
        assert!(!configured_route(&route(RouteProtocol::Boot, 255, 3), 3));
        let mut multipath = route(RouteProtocol::Boot, 254, 3);
        multipath
            .attributes
            .retain(|a| !matches!(a, RouteAttribute::Oif(_)));
        let mut hop = RouteNextHop::default();
        hop.interface_index = 3;
        hop.flags = RouteNextHopFlags::Linkdown;
        multipath
            .attributes
            .push(RouteAttribute::MultiPath(vec![hop]));
        assert!(configured_route(&multipath, 3));
        assert!(!configured_route(&multipath, 4));
        let req = route_request(&multipath);
        let Some(RouteAttribute::MultiPath(hops)) = req.attributes.last() else {
            panic!("no next hops");
        };
        assert!(hops[0].flags.is_empty());
    }

    #[test]
    fn a_route_request_keeps_onlink_and_drops_state_flags() {
        let r = route_request(&route(RouteProtocol::Boot, 254, 3));
        assert_eq!(r.header.flags, RouteFlags::Onlink);
        assert_eq!(describe_route(&r), "route 203.0.113.0/24 via 198.51.100.1");
        assert_eq!(
            describe_route(&route(RouteProtocol::Boot, 100, 3)),
            "route 203.0.113.0/24 via 198.51.100.1 table 100"
        );
    }

    fn address(
        family: AddressFamily,
        ip: IpAddr,
        scope: AddressScope,
        flags: AddressFlags,
    ) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = family;
        m.header.prefix_len = 64;
        m.header.index = 3;
        m.header.scope = scope;
        m.attributes.push(AddressAttribute::Address(ip));
        m.attributes.push(AddressAttribute::Flags(flags));
        m
    }

    #[test]
    fn permanent_addresses_but_not_link_local_ipv6_ones_are_kept() {
        let v6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 5));
        let v4 = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20));
        let perm = AddressFlags::Permanent;
        let secondary = AddressFlags::Permanent | AddressFlags::Secondary;
        assert!(!configured_address(
            &address(AddressFamily::Inet6, v6, AddressScope::Link, perm),
            3
        ));
        assert!(configured_address(
            &address(AddressFamily::Inet, v4, AddressScope::Universe, secondary),
            3
        ));
        assert!(!configured_address(
            &address(
                AddressFamily::Inet,
                v4,
                AddressScope::Universe,
                AddressFlags::empty()
            ),
            3
        ));
        assert!(!configured_address(
            &address(AddressFamily::Inet, v4, AddressScope::Universe, perm),
            4
        ));
        let req = address_request(&address(
            AddressFamily::Inet,
            v4,
            AddressScope::Universe,
            secondary | AddressFlags::Tentative | AddressFlags::Nodad,
        ));
        assert_eq!(
            address_flags(&req),
            AddressFlags::Permanent | AddressFlags::Nodad
        );
        assert_eq!(describe_address(&req), "address 198.51.100.20/64");
    }
}
