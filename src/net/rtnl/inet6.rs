//! IPv6 over rtnetlink: addresses (list with their DAD state, add with or without DAD and
//! with an `IFA_PROTO` owner mark, delete), routes (list, change the preferred source) and
//! the neighbour (ND cache) flush of one device.

use std::net::{IpAddr, Ipv6Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressProtocol,
    AddressScope,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Rtnl, RtnlError};

/// `IFA_F_NODAD`: added without duplicate address detection.
pub const IFA_F_NODAD: u32 = 0x02;
/// `IFA_F_DADFAILED`: DAD found another owner; the address is unusable.
pub const IFA_F_DADFAILED: u32 = 0x08;
/// `IFA_F_TENTATIVE`: DAD still running.
pub const IFA_F_TENTATIVE: u32 = 0x40;

/// One IPv6 address of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Address {
    pub index: u32,
    pub address: Ipv6Addr,
    pub prefix_len: u8,
    /// `IFA_F_*` flags (`IFA_FLAGS` when present, else the header byte).
    pub flags: u32,
    /// `IFA_PROTO`: who added it (kernel 6.3+; 0 when unset).
    pub protocol: u8,
}

impl Ipv6Address {
    pub fn is_tentative(&self) -> bool {
        self.flags & IFA_F_TENTATIVE != 0
    }

    /// Added with `nodad`.
    pub fn without_dad(&self) -> bool {
        self.flags & IFA_F_NODAD != 0
    }

    pub fn dad_failed(&self) -> bool {
        self.flags & IFA_F_DADFAILED != 0
    }

    /// Whether `ip` lies in this address's prefix.
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        same_prefix6(self.address, ip, self.prefix_len)
    }

    fn from_message(m: &AddressMessage) -> Option<Ipv6Address> {
        if m.header.family != AddressFamily::Inet6 {
            return None;
        }
        let mut a = Ipv6Address {
            index: m.header.index,
            address: Ipv6Addr::UNSPECIFIED,
            prefix_len: m.header.prefix_len,
            flags: u32::from(m.header.flags.bits()),
            protocol: 0,
        };
        let (mut local, mut address) = (None, None);
        for attr in &m.attributes {
            match attr {
                AddressAttribute::Local(IpAddr::V6(ip)) => local = Some(*ip),
                AddressAttribute::Address(IpAddr::V6(ip)) => address = Some(*ip),
                AddressAttribute::Flags(f) => a.flags = f.bits(),
                AddressAttribute::Protocol(p) => a.protocol = u8::from(*p),
                _ => {}
            }
        }
        a.address = local.or(address)?;
        Some(a)
    }
}

/// Whether `a` and `b` share the first `prefix` bits.
pub fn same_prefix6(a: Ipv6Addr, b: Ipv6Addr, prefix: u8) -> bool {
    let mask = match prefix {
        0 => 0,
        p if p >= 128 => u128::MAX,
        p => u128::MAX << (128 - u32::from(p)),
    };
    u128::from(a) & mask == u128::from(b) & mask
}

fn address_message(index: u32, ip: Ipv6Addr, prefix_len: u8) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet6;
    m.header.prefix_len = prefix_len;
    m.header.index = index;
    m.header.scope = if (ip.segments()[0] & 0xffc0) == 0xfe80 {
        AddressScope::Link
    } else {
        AddressScope::Universe
    };
    m.attributes.push(AddressAttribute::Local(IpAddr::V6(ip)));
    m
}

/// RTM_NEWADDR for `ip/prefix_len` on `index`: permanent, DAD unless `nodad`, marked with
/// `protocol` (`IFA_PROTO`) when not 0.
pub(super) fn new_address6(
    index: u32,
    ip: Ipv6Addr,
    prefix_len: u8,
    nodad: bool,
    protocol: u8,
) -> RouteNetlinkMessage {
    let mut m = address_message(index, ip, prefix_len);
    let mut flags = AddressFlags::Permanent;
    let mut header = AddressHeaderFlags::Permanent;
    if nodad {
        flags |= AddressFlags::Nodad;
        header |= AddressHeaderFlags::Nodad;
    }
    m.header.flags = header;
    m.attributes.push(AddressAttribute::Flags(flags));
    if protocol != 0 {
        m.attributes
            .push(AddressAttribute::Protocol(AddressProtocol::from(protocol)));
    }
    RouteNetlinkMessage::NewAddress(m)
}

impl Rtnl {
    /// IPv6 addresses, of one interface (`Some(index)`) or of all.
    pub fn addresses6(&mut self, index: Option<u32>) -> Result<Vec<Ipv6Address>, RtnlError> {
        let mut req = AddressMessage::default();
        req.header.family = AddressFamily::Inet6;
        let msgs = self.dump(
            || "list IPv6 addresses".to_string(),
            RouteNetlinkMessage::GetAddress(req),
        )?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => Ipv6Address::from_message(a),
                _ => None,
            })
            .filter(|a| index.is_none_or(|i| a.index == i))
            .collect())
    }

    /// Adds `ip/prefix_len` to interface `index` (`ip -6 addr add IP/P dev X [nodad]
    /// [proto N]`). EEXIST when it is already there.
    pub fn add_address6(
        &mut self,
        index: u32,
        ip: Ipv6Addr,
        prefix_len: u8,
        nodad: bool,
        protocol: u8,
    ) -> Result<(), RtnlError> {
        self.execute(
            || format!("add address {ip}/{prefix_len} to link index {index}"),
            new_address6(index, ip, prefix_len, nodad, protocol),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Adds `ip/prefix_len` (without DAD) to interface `index`, or renews it where it is:
    /// with `lease` seconds to live or for good (`None`), as `set_address`.
    pub fn set_address6(
        &mut self,
        index: u32,
        ip: Ipv6Addr,
        prefix_len: u8,
        lease: Option<u32>,
    ) -> Result<(), RtnlError> {
        let mut msg = new_address6(index, ip, prefix_len, true, 0);
        if let (Some(secs), RouteNetlinkMessage::NewAddress(m)) = (lease, &mut msg) {
            m.attributes.push(super::addr::lifetime(secs));
        }
        self.execute(
            || format!("set address {ip}/{prefix_len} on link index {index}"),
            msg,
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// Deletes `ip/prefix_len` from interface `index`. EADDRNOTAVAIL when it is not there.
    pub fn delete_address6(
        &mut self,
        index: u32,
        ip: Ipv6Addr,
        prefix_len: u8,
    ) -> Result<(), RtnlError> {
        self.execute(
            || format!("delete address {ip}/{prefix_len} from link index {index}"),
            RouteNetlinkMessage::DelAddress(address_message(index, ip, prefix_len)),
            0,
        )
    }

    /// Deletes the IPv6 neighbour entries of interface `index` that `ip -6 neigh flush dev`
    /// deletes (all but PERMANENT and NOARP); returns how many went.
    pub fn flush_neighbours6(&mut self, index: u32) -> Result<usize, RtnlError> {
        self.flush_neighbours_of(index, AddressFamily::Inet6, "IPv6 neighbours")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);

    #[test]
    fn prefixes_compare_bitwise() {
        assert!(same_prefix6(VIP, "2001:db8::1".parse().unwrap(), 64));
        assert!(!same_prefix6(VIP, "2001:db8:1::1".parse().unwrap(), 64));
        assert!(same_prefix6(VIP, "fe80::1".parse().unwrap(), 0));
        assert!(!same_prefix6(VIP, "2001:db8::11".parse().unwrap(), 128));
    }

    #[test]
    fn new_address_carries_nodad_and_the_owner_mark() {
        let RouteNetlinkMessage::NewAddress(m) = new_address6(3, VIP, 64, true, 99) else {
            panic!("not an address message");
        };
        assert_eq!(m.header.family, AddressFamily::Inet6);
        assert!(m.attributes.contains(&AddressAttribute::Flags(
            AddressFlags::Permanent | AddressFlags::Nodad
        )));
        assert!(m
            .attributes
            .contains(&AddressAttribute::Protocol(AddressProtocol::Other(99))));
        let back = Ipv6Address::from_message(&m).expect("parses back");
        assert_eq!(
            (back.address, back.prefix_len, back.protocol),
            (VIP, 64, 99)
        );
        assert!(!back.is_tentative() && !back.dad_failed());
        assert!(back.without_dad());
    }
}
