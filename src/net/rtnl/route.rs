//! IPv4 routes (list, change the preferred source, delete) and neighbour flush per device.

use std::net::{IpAddr, Ipv4Addr};

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

/// One IPv4 route (the fields that identify it and the ones we change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub table: u32,
    pub destination: Ipv4Addr,
    pub prefix_len: u8,
    pub tos: u8,
    pub gateway: Option<Ipv4Addr>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// Preferred source address (`src`).
    pub source: Option<Ipv4Addr>,
    /// Metric.
    pub priority: Option<u32>,
    /// `RTPROT_*` (2 = kernel, 3 = boot, 4 = static).
    pub protocol: u8,
    /// `RT_SCOPE_*` (0 = universe, 253 = link, 254 = host).
    pub scope: u8,
    /// `RTN_*` (1 = unicast, 2 = local, 3 = broadcast).
    pub kind: u8,
}

impl Route {
    pub(super) fn from_message(m: &RouteMessage) -> Option<Route> {
        if m.header.address_family != AddressFamily::Inet {
            return None;
        }
        let mut r = Route {
            table: u32::from(m.header.table),
            destination: Ipv4Addr::UNSPECIFIED,
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
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => r.destination = *ip,
                RouteAttribute::Gateway(RouteAddress::Inet(ip)) => r.gateway = Some(*ip),
                RouteAttribute::PrefSource(RouteAddress::Inet(ip)) => r.source = Some(*ip),
                RouteAttribute::Oif(i) => r.oif = Some(*i),
                RouteAttribute::Priority(p) => r.priority = Some(*p),
                _ => {}
            }
        }
        Some(r)
    }

    /// The message identifying this route (the kernel's fib key: table, destination, tos,
    /// priority) plus its next hop, with `source` as preferred source.
    fn to_message(&self, source: Option<Ipv4Addr>) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header = RouteHeader {
            address_family: AddressFamily::Inet,
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
                .push(RouteAttribute::Destination(RouteAddress::Inet(
                    self.destination,
                )));
        }
        if let Some(g) = self.gateway {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::Inet(g)));
        }
        if let Some(o) = self.oif {
            m.attributes.push(RouteAttribute::Oif(o));
        }
        if let Some(p) = self.priority {
            m.attributes.push(RouteAttribute::Priority(p));
        }
        if let Some(s) = source {
            m.attributes
                .push(RouteAttribute::PrefSource(RouteAddress::Inet(s)));
        }
        m
    }

    fn describe(&self) -> String {
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
pub(super) fn change_source(route: &Route, source: Option<Ipv4Addr>) -> RouteNetlinkMessage {
    RouteNetlinkMessage::NewRoute(route.to_message(source))
}

/// RTM_DELROUTE for `route`.
pub(super) fn delete(route: &Route) -> RouteNetlinkMessage {
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
    /// Every IPv4 route of every table.
    pub fn routes(&mut self) -> Result<Vec<Route>, RtnlError> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let msgs = self.dump(
            || "list IPv4 routes".to_string(),
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
    /// (`ip route change ... src IP`). ENOENT when the route is gone.
    pub fn set_route_source(
        &mut self,
        route: &Route,
        source: Option<Ipv4Addr>,
    ) -> Result<(), RtnlError> {
        let what = || match source {
            Some(s) => format!("change route {} src {s}", route.describe()),
            None => format!("change route {} without src", route.describe()),
        };
        self.execute(what, change_source(route, source), NLM_F_REPLACE)
    }

    /// Deletes a route (`ip route del`). ESRCH when it is not there.
    pub fn delete_route(&mut self, route: &Route) -> Result<(), RtnlError> {
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
