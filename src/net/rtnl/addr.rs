//! IPv4 addresses: list, add (with prefix, broadcast and label), delete.

use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope, CacheInfo,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Rtnl, RtnlError};

/// `IFA_F_SECONDARY`: not the first address of its subnet on the device.
const IFA_F_SECONDARY: u32 = 0x01;
/// `IFA_F_PERMANENT`: configured, not learned (every IPv4 address added by hand).
const IFA_F_PERMANENT: u32 = 0x80;

/// One IPv4 address of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Address {
    /// The interface index.
    pub index: u32,
    /// The local address (`IFA_LOCAL`).
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    /// `IFA_LABEL` (the device name, or an alias such as `eth0:1`).
    pub label: String,
    pub broadcast: Option<Ipv4Addr>,
    /// `IFA_F_*` flags (`IFA_FLAGS` when present, else the header byte).
    pub flags: u32,
}

impl Ipv4Address {
    /// A secondary address (another address of the same subnet came first).
    pub fn is_secondary(&self) -> bool {
        self.flags & IFA_F_SECONDARY != 0
    }

    /// A configured (not learned) address.
    pub fn is_permanent(&self) -> bool {
        self.flags & IFA_F_PERMANENT != 0
    }

    /// Whether `ip` lies in this address's subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        same_net(self.address, ip, self.prefix_len)
    }

    /// Reads an IPv4 address message; `None` for other families.
    pub(super) fn from_message(m: &AddressMessage) -> Option<Ipv4Address> {
        if m.header.family != AddressFamily::Inet {
            return None;
        }
        let mut local = None;
        let mut address = None;
        let mut a = Ipv4Address {
            index: m.header.index,
            address: Ipv4Addr::UNSPECIFIED,
            prefix_len: m.header.prefix_len,
            label: String::new(),
            broadcast: None,
            flags: u32::from(m.header.flags.bits()),
        };
        for attr in &m.attributes {
            match attr {
                AddressAttribute::Local(IpAddr::V4(ip)) => local = Some(*ip),
                AddressAttribute::Address(IpAddr::V4(ip)) => address = Some(*ip),
                AddressAttribute::Label(l) => a.label = l.clone(),
                AddressAttribute::Broadcast(b) => a.broadcast = Some(*b),
                AddressAttribute::Flags(f) => a.flags = f.bits(),
                _ => {}
            }
        }
        a.address = local.or(address)?;
        Some(a)
    }
}

/// Whether `a` and `b` share the first `prefix` bits.
pub fn same_net(a: Ipv4Addr, b: Ipv4Addr, prefix: u8) -> bool {
    let mask = match prefix {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - u32::from(p)),
    };
    u32::from(a) & mask == u32::from(b) & mask
}

fn base(index: u32, ip: Ipv4Addr, prefix_len: u8) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.prefix_len = prefix_len;
    m.header.index = index;
    m.header.scope = AddressScope::Universe;
    m.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
    m.attributes.push(AddressAttribute::Address(IpAddr::V4(ip)));
    m
}

/// `IFA_CACHEINFO` with `secs` as both the valid and the preferred lifetime: the kernel
/// deletes the address once that many seconds pass without a renewal (`ip addr add ...
/// valid_lft S preferred_lft S`).
pub(super) fn lifetime(secs: u32) -> AddressAttribute {
    let mut c = CacheInfo::default();
    c.ifa_valid = secs;
    c.ifa_preferred = secs;
    AddressAttribute::CacheInfo(c)
}

/// RTM_NEWADDR for `ip/prefix_len` on `index`, with an optional broadcast and label.
pub(super) fn new_address(
    index: u32,
    ip: Ipv4Addr,
    prefix_len: u8,
    broadcast: Option<Ipv4Addr>,
    label: Option<&str>,
) -> RouteNetlinkMessage {
    let mut m = base(index, ip, prefix_len);
    m.header.flags = AddressHeaderFlags::Permanent;
    m.attributes
        .push(AddressAttribute::Flags(AddressFlags::Permanent));
    if let Some(b) = broadcast {
        m.attributes.push(AddressAttribute::Broadcast(b));
    }
    if let Some(l) = label {
        m.attributes.push(AddressAttribute::Label(l.to_string()));
    }
    RouteNetlinkMessage::NewAddress(m)
}

/// RTM_DELADDR for `ip/prefix_len` on `index`.
pub(super) fn del_address(index: u32, ip: Ipv4Addr, prefix_len: u8) -> RouteNetlinkMessage {
    RouteNetlinkMessage::DelAddress(base(index, ip, prefix_len))
}

impl Rtnl {
    /// IPv4 addresses, of one interface (`Some(index)`) or of all.
    pub fn addresses(&mut self, index: Option<u32>) -> Result<Vec<Ipv4Address>, RtnlError> {
        let mut req = AddressMessage::default();
        req.header.family = AddressFamily::Inet;
        let msgs = self.dump(
            || "list IPv4 addresses".to_string(),
            RouteNetlinkMessage::GetAddress(req),
        )?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => Ipv4Address::from_message(a),
                _ => None,
            })
            .filter(|a| index.is_none_or(|i| a.index == i))
            .collect())
    }

    /// Adds `ip/prefix_len` to interface `index` (`ip addr add IP/P brd B label L dev X`).
    /// EEXIST when it is already there.
    pub fn add_address(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        prefix_len: u8,
        broadcast: Option<Ipv4Addr>,
        label: Option<&str>,
    ) -> Result<(), RtnlError> {
        self.execute(
            || format!("add address {ip}/{prefix_len} to link index {index}"),
            new_address(index, ip, prefix_len, broadcast, label),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Adds `ip/prefix_len` to interface `index`, or renews it where it is: with `lease`
    /// seconds to live (`Some`, the kernel deletes it unless renewed in time) or for good
    /// (`None`: an address that had a lease loses it).
    pub fn set_address(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        prefix_len: u8,
        broadcast: Option<Ipv4Addr>,
        lease: Option<u32>,
    ) -> Result<(), RtnlError> {
        let mut msg = new_address(index, ip, prefix_len, broadcast, None);
        if let (Some(secs), RouteNetlinkMessage::NewAddress(m)) = (lease, &mut msg) {
            m.attributes.push(lifetime(secs));
        }
        self.execute(
            || format!("set address {ip}/{prefix_len} on link index {index}"),
            msg,
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// Deletes `ip/prefix_len` from interface `index` (`ip addr del`). EADDRNOTAVAIL when it
    /// is not there.
    pub fn delete_address(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(), RtnlError> {
        self.execute(
            || format!("delete address {ip}/{prefix_len} from link index {index}"),
            del_address(index, ip, prefix_len),
            0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::serialize;
    use super::*;
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};

    const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

    #[test]
    fn a_lease_is_ifa_cacheinfo_with_equal_valid_and_preferred_lifetimes() {
        let mut msg = new_address(3, VIP, 24, None, None);
        if let RouteNetlinkMessage::NewAddress(m) = &mut msg {
            m.attributes.push(lifetime(7));
        }
        let bytes = serialize(msg, NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE, 1);
        // IFA_CACHEINFO (6): len 20, preferred 7, valid 7, the two stamps 0.
        let mut want = vec![20, 0, 6, 0];
        for v in [7u32, 7, 0, 0] {
            want.extend_from_slice(&v.to_ne_bytes());
        }
        assert!(bytes.windows(20).any(|w| w == want), "{bytes:?}");
    }

    #[test]
    fn add_request_bytes() {
        let msg = new_address(
            3,
            VIP,
            24,
            Some(Ipv4Addr::new(198, 51, 100, 255)),
            Some("eth0:ra"),
        );
        let bytes = serialize(
            msg,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            1,
        );
        assert_eq!(&bytes[4..6], &20u16.to_ne_bytes()); // RTM_NEWADDR
        assert_eq!(&bytes[6..8], &0x605u16.to_ne_bytes());
        // ifaddrmsg: family AF_INET, prefixlen 24, flags, scope universe, index 3.
        assert_eq!(bytes[16], 2);
        assert_eq!(bytes[17], 24);
        assert_eq!(bytes[19], 0);
        assert_eq!(&bytes[20..24], &3u32.to_ne_bytes());
        // IFA_LOCAL (2) with the address: len 8, type 2, 198.51.100.10.
        let local = [8, 0, 2, 0, 198, 51, 100, 10];
        assert!(bytes.windows(8).any(|w| w == local));
        let back = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).unwrap();
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(m)) = back.payload else {
            panic!("not NewAddress")
        };
        let a = Ipv4Address::from_message(&m).unwrap();
        assert_eq!(a.address, VIP);
        assert_eq!(a.label, "eth0:ra");
        assert_eq!(a.broadcast, Some(Ipv4Addr::new(198, 51, 100, 255)));
        assert!(a.is_permanent() && !a.is_secondary());
    }

    #[test]
    fn delete_request_names_the_address() {
        let bytes = serialize(del_address(3, VIP, 24), NLM_F_REQUEST | NLM_F_ACK, 1);
        assert_eq!(&bytes[4..6], &21u16.to_ne_bytes()); // RTM_DELADDR
        assert!(bytes
            .windows(8)
            .any(|w| w == [8, 0, 2, 0, 198, 51, 100, 10]));
    }

    #[test]
    fn subnets() {
        assert!(same_net(VIP, Ipv4Addr::new(198, 51, 100, 1), 24));
        assert!(!same_net(VIP, Ipv4Addr::new(198, 51, 101, 1), 24));
        assert!(same_net(VIP, Ipv4Addr::new(1, 2, 3, 4), 0));
        assert!(!same_net(VIP, Ipv4Addr::new(198, 51, 100, 11), 32));
    }
}
