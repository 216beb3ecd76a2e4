//! Routes of either family (list, change the preferred source, delete) and the neighbour
//! flush of one device.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::NLM_F_REPLACE;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Rtnl, RtnlError};

/// The main routing table.
pub const RT_TABLE_MAIN: u32 = 254;

/// The address type of a route's family: `Ipv4Addr` or `Ipv6Addr`. A route is the same
/// message in both families; only the family code and the address attributes differ.
pub trait RouteFamily: Copy + Eq + fmt::Debug + fmt::Display {
    const FAMILY: AddressFamily;
    const UNSPECIFIED: Self;
    /// For messages: "IPv4" / "IPv6".
    const NAME: &'static str;
    fn from_route(a: &RouteAddress) -> Option<Self>;
    fn to_route(self) -> RouteAddress;
}

impl RouteFamily for Ipv4Addr {
    const FAMILY: AddressFamily = AddressFamily::Inet;
    const UNSPECIFIED: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
    const NAME: &'static str = "IPv4";
    fn from_route(a: &RouteAddress) -> Option<Ipv4Addr> {
        match a {
            RouteAddress::Inet(ip) => Some(*ip),
            _ => None,
        }
    }
    fn to_route(self) -> RouteAddress {
        RouteAddress::Inet(self)
    }
}

impl RouteFamily for Ipv6Addr {
    const FAMILY: AddressFamily = AddressFamily::Inet6;
    const UNSPECIFIED: Ipv6Addr = Ipv6Addr::UNSPECIFIED;
    const NAME: &'static str = "IPv6";
    fn from_route(a: &RouteAddress) -> Option<Ipv6Addr> {
        match a {
            RouteAddress::Inet6(ip) => Some(*ip),
            _ => None,
        }
    }
    fn to_route(self) -> RouteAddress {
        RouteAddress::Inet6(self)
    }
}

/// One route (the fields that identify it and the ones we change), IPv4 by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<A: RouteFamily = Ipv4Addr> {
    pub table: u32,
    pub destination: A,
    pub prefix_len: u8,
    /// TOS (IPv4) or traffic class (IPv6; 0 in practice): part of the kernel's fib key.
    pub tos: u8,
    pub gateway: Option<A>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// Preferred source address (`src`).
    pub source: Option<A>,
    /// Metric.
    pub priority: Option<u32>,
    /// `RTPROT_*` (2 = kernel, 3 = boot, 4 = static).
    pub protocol: u8,
    /// `RT_SCOPE_*` (0 = universe, 253 = link, 254 = host).
    pub scope: u8,
    /// `RTN_*` (1 = unicast, 2 = local, 3 = broadcast, 5 = multicast).
    pub kind: u8,
}

/// An IPv6 route.
pub type Route6 = Route<Ipv6Addr>;

impl<A: RouteFamily> Route<A> {
    pub(super) fn from_message(m: &RouteMessage) -> Option<Route<A>> {
        if m.header.address_family != A::FAMILY {
            return None;
        }
        let mut r = Route {
            table: u32::from(m.header.table),
            destination: A::UNSPECIFIED,
            prefix_len: m.header.destination_prefix_length,
            tos: m.header.tos,
            gateway: None,
            oif: None,
            source: None,
            priority: None,
            protocol: m.header.protocol.into(),
            scope: m.header.scope.into(),
            kind: m.header.kind.into(),
        };
        for a in &m.attributes {
            match a {
                RouteAttribute::Table(t) => r.table = *t,
                RouteAttribute::Destination(ip) => {
                    r.destination = A::from_route(ip).unwrap_or(r.destination)
                }
                RouteAttribute::Gateway(ip) => r.gateway = A::from_route(ip).or(r.gateway),
                RouteAttribute::PrefSource(ip) => r.source = A::from_route(ip).or(r.source),
                RouteAttribute::Oif(i) => r.oif = Some(*i),
                RouteAttribute::Priority(p) => r.priority = Some(*p),
                _ => {}
            }
        }
        Some(r)
    }

    /// The message identifying this route (the kernel's fib key: table, destination, tos,
    /// priority) plus its next hop, with `source` as preferred source.
    fn to_message(&self, source: Option<A>) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header = RouteHeader {
            address_family: A::FAMILY,
            destination_prefix_length: self.prefix_len,
            source_prefix_length: 0,
            tos: self.tos,
            table: u8::try_from(self.table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC),
            protocol: RouteProtocol::from(self.protocol),
            scope: RouteScope::from(self.scope),
            kind: RouteType::from(self.kind),
            flags: Default::default(),
        };
        m.attributes.push(RouteAttribute::Table(self.table));
        if self.prefix_len > 0 {
            m.attributes
                .push(RouteAttribute::Destination(self.destination.to_route()));
        }
        if let Some(g) = self.gateway {
            m.attributes.push(RouteAttribute::Gateway(g.to_route()));
        }
        if let Some(o) = self.oif {
            m.attributes.push(RouteAttribute::Oif(o));
        }
        if let Some(p) = self.priority {
            m.attributes.push(RouteAttribute::Priority(p));
        }
        if let Some(s) = source {
            m.attributes.push(RouteAttribute::PrefSource(s.to_route()));
        }
        m
    }

    pub fn describe(&self) -> String {
        let mut s = format!("{}/{}", self.destination, self.prefix_len);
        if let Some(g) = self.gateway {
            s.push_str(&format!(" via {g}"));
        }
        if let Some(o) = self.oif {
            s.push_str(&format!(" dev index {o}"));
        }
        if self.table != RT_TABLE_MAIN {
            s.push_str(&format!(" table {}", self.table));
        }
        s
    }
}

/// RTM_NEWROUTE (to be sent with NLM_F_REPLACE) setting the preferred source of `route`.
pub(super) fn change_source<A: RouteFamily>(
    route: &Route<A>,
    source: Option<A>,
) -> RouteNetlinkMessage {
    RouteNetlinkMessage::NewRoute(route.to_message(source))
}

/// RTM_DELROUTE for `route`.
pub(super) fn delete<A: RouteFamily>(route: &Route<A>) -> RouteNetlinkMessage {
    RouteNetlinkMessage::DelRoute(route.to_message(None))
}

/// RTM_DELNEIGH for one entry (IPv4 or IPv6).
fn delete_neighbour(ifindex: u32, dst: IpAddr) -> RouteNetlinkMessage {
    let mut m = NeighbourMessage::default();
    m.header.ifindex = ifindex;
    let (family, dst) = match dst {
        IpAddr::V4(ip) => (AddressFamily::Inet, NeighbourAddress::Inet(ip)),
        IpAddr::V6(ip) => (AddressFamily::Inet6, NeighbourAddress::Inet6(ip)),
    };
    m.header.family = family;
    m.attributes.push(NeighbourAttribute::Destination(dst));
    RouteNetlinkMessage::DelNeighbour(m)
}

impl Rtnl {
    /// Every route of family `A` (`Ipv4Addr`, `Ipv6Addr`) in every table.
    pub fn routes<A: RouteFamily>(&mut self) -> Result<Vec<Route<A>>, RtnlError> {
        let mut req = RouteMessage::default();
        req.header.address_family = A::FAMILY;
        let msgs = self.dump(
            || format!("list {} routes", A::NAME),
            RouteNetlinkMessage::GetRoute(req),
        )?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => Route::from_message(r),
                _ => None,
            })
            .collect())
    }

    /// Sets (`Some`) or clears (`None`) the preferred source of an existing route
    /// (`ip [-6] route change ... src IP`). ENOENT when the route is gone.
    pub fn set_route_source<A: RouteFamily>(
        &mut self,
        route: &Route<A>,
        source: Option<A>,
    ) -> Result<(), RtnlError> {
        let what = || match source {
            Some(s) => format!("change route {} src {s}", route.describe()),
            None => format!("change route {} without src", route.describe()),
        };
        self.execute(what, change_source(route, source), NLM_F_REPLACE)
    }

    /// Deletes a route (`ip [-6] route del`). ESRCH when it is not there.
    pub fn delete_route<A: RouteFamily>(&mut self, route: &Route<A>) -> Result<(), RtnlError> {
        self.execute(
            || format!("delete route {}", route.describe()),
            delete(route),
            0,
        )
    }

    /// Deletes the IPv4 neighbour (ARP) entries of interface `index` that `ip neigh flush dev`
    /// deletes (all but PERMANENT and NOARP); returns how many went.
    pub fn flush_neighbours(&mut self, index: u32) -> Result<usize, RtnlError> {
        self.flush_neighbours_of(index, AddressFamily::Inet, "neighbours")
    }

    /// The neighbour entries of `family` on interface `index`, as `ip [-6] neigh flush dev`
    /// deletes them (all but PERMANENT and NOARP); returns how many went.
    pub(super) fn flush_neighbours_of(
        &mut self,
        index: u32,
        family: AddressFamily,
        what: &str,
    ) -> Result<usize, RtnlError> {
        let mut req = NeighbourMessage::default();
        req.header.family = family;
        let msgs = self.dump(
            || format!("list {what} of link index {index}"),
            RouteNetlinkMessage::GetNeighbour(req),
        )?;
        let mut flushed = 0;
        for m in msgs {
            let RouteNetlinkMessage::NewNeighbour(n) = m else {
                continue;
            };
            if n.header.ifindex != index
                || matches!(
                    n.header.state,
                    NeighbourState::Permanent | NeighbourState::Noarp
                )
            {
                continue;
            }
            let Some(dst) = n.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(ip))
                    if family == AddressFamily::Inet =>
                {
                    Some(IpAddr::V4(*ip))
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip))
                    if family == AddressFamily::Inet6 =>
                {
                    Some(IpAddr::V6(*ip))
                }
                _ => None,
            }) else {
                continue;
            };
            match self.exchange(delete_neighbour(index, dst), netlink_packet_core::NLM_F_ACK) {
                Ok(_) => flushed += 1,
                // Gone meanwhile (expired or deleted by someone else): that is what we wanted.
                Err(f) if f.errno() == Some(libc::ENOENT) => {}
                Err(f) => {
                    return Err(RtnlError::from_failure(
                        format!("delete neighbour {dst} on link index {index}"),
                        f,
                    ))
                }
            }
        }
        Ok(flushed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::serialize;
    use super::*;
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};

    fn subnet_route() -> Route {
        Route {
            table: RT_TABLE_MAIN,
            destination: Ipv4Addr::new(198, 51, 100, 0),
            prefix_len: 24,
            tos: 0,
            gateway: None,
            oif: Some(3),
            source: Some(Ipv4Addr::new(198, 51, 100, 2)),
            priority: None,
            protocol: 2,
            scope: 253,
            kind: 1,
        }
    }

    #[test]
    fn change_source_is_a_replace_with_prefsrc() {
        let vip = Ipv4Addr::new(198, 51, 100, 10);
        let bytes = serialize(
            change_source(&subnet_route(), Some(vip)),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE,
            1,
        );
        assert_eq!(&bytes[4..6], &24u16.to_ne_bytes()); // RTM_NEWROUTE
        assert_eq!(&bytes[6..8], &0x105u16.to_ne_bytes()); // REQUEST|ACK|REPLACE
                                                           // rtmsg: family 2, dst_len 24, src_len 0, tos 0, table 254, proto 2, scope 253, type 1.
        assert_eq!(&bytes[16..24], &[2, 24, 0, 0, 254, 2, 253, 1]);
        // RTA_PREFSRC (7) with the VIP.
        assert!(bytes
            .windows(8)
            .any(|w| w == [8, 0, 7, 0, 198, 51, 100, 10]));
        let back = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).unwrap();
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m)) = back.payload else {
            panic!("not NewRoute")
        };
        let r = Route::from_message(&m).unwrap();
        assert_eq!(r.source, Some(vip));
        assert_eq!(r.oif, Some(3));
        assert_eq!(r.destination, Ipv4Addr::new(198, 51, 100, 0));
    }

    /// The same code serves IPv6: family 10, 16-byte addresses, and an IPv4 message is not
    /// read as an IPv6 route (nor the other way round).
    #[test]
    fn ipv6_route_round_trips_and_families_stay_apart() {
        let route = Route6 {
            table: RT_TABLE_MAIN,
            destination: "2001:db8:1::".parse().unwrap(),
            prefix_len: 64,
            tos: 0,
            gateway: Some("2001:db8:1::1".parse().unwrap()),
            oif: Some(4),
            source: None,
            priority: Some(256),
            protocol: 2,
            scope: 0,
            kind: 1,
        };
        let vip: Ipv6Addr = "2001:db8:1::10".parse().unwrap();
        let bytes = serialize(change_source(&route, Some(vip)), NLM_F_REQUEST, 1);
        assert_eq!(bytes[16], 10); // AF_INET6
        let back = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).unwrap();
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m)) = back.payload else {
            panic!("not NewRoute")
        };
        let r = Route6::from_message(&m).unwrap();
        assert_eq!(
            r,
            Route {
                source: Some(vip),
                ..route
            }
        );
        assert_eq!(Route::<Ipv4Addr>::from_message(&m), None);
        let v4 = serialize(change_source(&subnet_route(), None), NLM_F_REQUEST, 1);
        let back = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&v4).unwrap();
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m)) = back.payload else {
            panic!("not NewRoute")
        };
        assert_eq!(Route6::from_message(&m), None);
    }

    #[test]
    fn clearing_source_omits_prefsrc() {
        let bytes = serialize(change_source(&subnet_route(), None), NLM_F_REQUEST, 1);
        assert!(!bytes.windows(4).any(|w| w == [8, 0, 7, 0]));
    }

    #[test]
    fn delete_neighbour_names_destination() {
        let bytes = serialize(
            delete_neighbour(3, Ipv4Addr::new(198, 51, 100, 2).into()),
            NLM_F_REQUEST | NLM_F_ACK,
            1,
        );
        assert_eq!(&bytes[4..6], &29u16.to_ne_bytes()); // RTM_DELNEIGH
        assert_eq!(&bytes[20..24], &3u32.to_ne_bytes()); // ndm_ifindex
        assert!(bytes.windows(8).any(|w| w == [8, 0, 1, 0, 198, 51, 100, 2]));
    }
}
