//! Links: query by name or index, dump, up/down, MAC, macvlan create, delete.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
    State,
};
use netlink_packet_route::RouteNetlinkMessage;

use super::{Rtnl, RtnlError};
use crate::wire::ethernet::MacAddr;

/// RFC 2863 operational state (IFLA_OPERSTATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperState {
    Unknown,
    NotPresent,
    Down,
    LowerLayerDown,
    Testing,
    Dormant,
    Up,
    Other(u8),
}

impl From<State> for OperState {
    fn from(s: State) -> Self {
        match s {
            State::Unknown => OperState::Unknown,
            State::NotPresent => OperState::NotPresent,
            State::Down => OperState::Down,
            State::LowerLayerDown => OperState::LowerLayerDown,
            State::Testing => OperState::Testing,
            State::Dormant => OperState::Dormant,
            State::Up => OperState::Up,
            State::Other(v) => OperState::Other(v),
            _ => OperState::Other(255),
        }
    }
}

/// One network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFF_*` flags (net/if.h).
    pub flags: u32,
    pub mac: Option<MacAddr>,
    pub operstate: OperState,
    /// `IFLA_INFO_KIND`: "veth", "macvlan", "bridge", ... (`None` for physical devices).
    pub kind: Option<String>,
    /// The lower device (`IFLA_LINK`), e.g. a macvlan's parent.
    pub parent: Option<u32>,
    pub mtu: Option<u32>,
}

impl Link {
    /// Administratively up (`IFF_UP`).
    pub fn is_up(&self) -> bool {
        self.flags & LinkFlags::Up.bits() != 0
    }

    /// The link layer has a carrier (`IFF_LOWER_UP`).
    pub fn has_carrier(&self) -> bool {
        self.flags & LinkFlags::LowerUp.bits() != 0
    }

    /// What `ip link` prints as NO-CARRIER: up, but no carrier.
    pub fn no_carrier(&self) -> bool {
        self.is_up() && !self.has_carrier()
    }

    /// The link resolves addresses with ARP: not `IFF_NOARP` (loopback, point-to-point
    /// tunnels) and it has a non-zero MAC.
    pub fn uses_arp(&self) -> bool {
        self.flags & LinkFlags::Noarp.bits() == 0 && self.mac.is_some_and(|m| m != MacAddr::ZERO)
    }

    /// Builds a `Link` from a kernel message.
    pub(super) fn from_message(m: &LinkMessage) -> Link {
        let mut link = Link {
            index: m.header.index,
            name: String::new(),
            flags: m.header.flags.bits(),
            mac: None,
            operstate: OperState::Unknown,
            kind: None,
            parent: None,
            mtu: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Address(b) => link.mac = MacAddr::from_slice(b),
                LinkAttribute::OperState(s) => link.operstate = OperState::from(*s),
                LinkAttribute::Link(i) => link.parent = Some(*i),
                LinkAttribute::Mtu(v) => link.mtu = Some(*v),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let LinkInfo::Kind(k) = i {
                            link.kind = Some(k.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

/// RTM_GETLINK for one interface by name.
pub(super) fn get_by_name(name: &str) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    RouteNetlinkMessage::GetLink(m)
}

/// RTM_GETLINK for one interface by index.
pub(super) fn get_by_index(index: u32) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    RouteNetlinkMessage::GetLink(m)
}

/// RTM_SETLINK changing only IFF_UP.
pub(super) fn set_up(index: u32, up: bool) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.change_mask = LinkFlags::Up;
    if up {
        m.header.flags = LinkFlags::Up;
    }
    RouteNetlinkMessage::SetLink(m)
}

/// RTM_SETLINK changing the hardware address.
pub(super) fn set_mac(index: u32, mac: MacAddr) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    RouteNetlinkMessage::SetLink(m)
}

/// RTM_NEWLINK creating a private-mode macvlan `name` on `parent` with address `mac`.
pub(super) fn new_macvlan(name: &str, parent: u32, mac: MacAddr) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    m.attributes.push(LinkAttribute::Link(parent));
    m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::MacVlan),
        LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
            MacVlanMode::Private,
        )])),
    ]));
    RouteNetlinkMessage::NewLink(m)
}

/// RTM_DELLINK.
pub(super) fn delete(index: u32) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    RouteNetlinkMessage::DelLink(m)
}

fn first_link(msgs: Vec<RouteNetlinkMessage>) -> Option<Link> {
    msgs.iter().find_map(|m| match m {
        RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
        _ => None,
    })
}

impl Rtnl {
    /// The interface called `name`; `None` when there is none.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>, RtnlError> {
        match self.exchange(get_by_name(name), netlink_packet_core::NLM_F_ACK) {
            Ok(msgs) => Ok(first_link(msgs)),
            Err(f) if f.errno() == Some(libc::ENODEV) => Ok(None),
            Err(f) => Err(RtnlError::from_failure(format!("query link {name}"), f)),
        }
    }

    /// The interface with index `index`; `None` when there is none.
    pub fn link_by_index(&mut self, index: u32) -> Result<Option<Link>, RtnlError> {
        match self.exchange(get_by_index(index), netlink_packet_core::NLM_F_ACK) {
            Ok(msgs) => Ok(first_link(msgs)),
            Err(f) if f.errno() == Some(libc::ENODEV) => Ok(None),
            Err(f) => Err(RtnlError::from_failure(
                format!("query link index {index}"),
                f,
            )),
        }
    }

    /// Every interface.
    pub fn links(&mut self) -> Result<Vec<Link>, RtnlError> {
        let msgs = self.dump(
            || "list links".to_string(),
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
        )?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
                _ => None,
            })
            .collect())
    }

    /// Sets the interface administratively up or down (`ip link set dev X up|down`).
    pub fn set_link_up(&mut self, index: u32, up: bool) -> Result<(), RtnlError> {
        let state = if up { "up" } else { "down" };
        self.execute(
            || format!("set link index {index} {state}"),
            set_up(index, up),
            0,
        )
    }

    /// Sets the hardware address (`ip link set dev X address MAC`).
    pub fn set_link_mac(&mut self, index: u32, mac: MacAddr) -> Result<(), RtnlError> {
        self.execute(
            || format!("set link index {index} address {mac}"),
            set_mac(index, mac),
            0,
        )
    }

    /// Creates a private-mode macvlan (`ip link add link PARENT name NAME address MAC type
    /// macvlan mode private`). It starts down. EEXIST when the name is taken.
    pub fn add_macvlan(&mut self, name: &str, parent: u32, mac: MacAddr) -> Result<(), RtnlError> {
        self.execute(
            || format!("create macvlan {name} on link index {parent} with address {mac}"),
            new_macvlan(name, parent, mac),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Deletes an interface (`ip link del`), e.g. a macvlan.
    pub fn delete_link(&mut self, index: u32) -> Result<(), RtnlError> {
        self.execute(|| format!("delete link index {index}"), delete(index), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::serialize;
    use super::*;
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};

    fn round_trip(m: RouteNetlinkMessage, flags: u16) -> (Vec<u8>, RouteNetlinkMessage) {
        let bytes = serialize(m, flags, 7);
        let back = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).unwrap();
        let NetlinkPayload::InnerMessage(inner) = back.payload else {
            panic!("not an inner message")
        };
        (bytes, inner)
    }

    #[test]
    fn set_up_sets_flag_and_change_mask() {
        let (bytes, _) = round_trip(set_up(3, true), NLM_F_REQUEST | NLM_F_ACK);
        // nlmsghdr: len, type RTM_SETLINK (19), flags REQUEST|ACK, seq 7.
        assert_eq!(&bytes[4..6], &19u16.to_ne_bytes());
        assert_eq!(&bytes[6..8], &5u16.to_ne_bytes());
        assert_eq!(&bytes[8..12], &7u32.to_ne_bytes());
        // ifinfomsg: family, pad, type, index 3, flags IFF_UP, change IFF_UP.
        assert_eq!(&bytes[20..24], &3i32.to_ne_bytes());
        assert_eq!(&bytes[24..28], &1u32.to_ne_bytes());
        assert_eq!(&bytes[28..32], &1u32.to_ne_bytes());
        let (bytes, _) = round_trip(set_up(3, false), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(&bytes[24..28], &0u32.to_ne_bytes());
        assert_eq!(&bytes[28..32], &1u32.to_ne_bytes());
    }

    #[test]
    fn macvlan_request_carries_private_mode_and_mac() {
        let mac = MacAddr([2, 198, 51, 100, 10, 0]);
        let (bytes, back) = round_trip(new_macvlan("vm0", 4, mac), NLM_F_REQUEST);
        assert_eq!(&bytes[4..6], &16u16.to_ne_bytes()); // RTM_NEWLINK
        let RouteNetlinkMessage::NewLink(m) = back else {
            panic!("not NewLink")
        };
        assert!(m
            .attributes
            .contains(&LinkAttribute::IfName("vm0".to_string())));
        assert!(m.attributes.contains(&LinkAttribute::Link(4)));
        assert!(m
            .attributes
            .contains(&LinkAttribute::Address(mac.0.to_vec())));
        let info = m
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::LinkInfo(i) => Some(i.clone()),
                _ => None,
            })
            .unwrap();
        assert!(info.contains(&LinkInfo::Kind(InfoKind::MacVlan)));
        assert!(
            info.contains(&LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                MacVlanMode::Private
            )])))
        );
        // MACVLAN_MODE_PRIVATE = 1 must be on the wire.
        assert!(bytes.windows(8).any(|w| w == [8, 0, 1, 0, 1, 0, 0, 0]));
    }

    #[test]
    fn link_from_message_reads_carrier_and_kind() {
        let mut m = LinkMessage::default();
        m.header.index = 9;
        m.header.flags = LinkFlags::Up | LinkFlags::Broadcast;
        m.attributes = vec![
            LinkAttribute::IfName("eth0".into()),
            LinkAttribute::Address(vec![2, 0, 0, 0, 0, 1]),
            LinkAttribute::OperState(State::LowerLayerDown),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Veth)]),
        ];
        let l = Link::from_message(&m);
        assert_eq!(l.name, "eth0");
        assert!(l.is_up() && !l.has_carrier() && l.no_carrier());
        assert!(l.uses_arp());
        assert_eq!(l.operstate, OperState::LowerLayerDown);
        assert_eq!(l.kind.as_deref(), Some("veth"));
        assert_eq!(l.mac, Some(MacAddr([2, 0, 0, 0, 0, 1])));
    }
}
