//! ARP for IPv4 over Ethernet (RFC 826; gratuitous ARP and probes per RFC 5227): a `Packet`
//! view over the 28-byte body and a parsed `Repr`. Other hardware or protocol types are
//! rejected by `Repr::parse`; an unknown operation is `Operation::Unknown(raw)`.

use std::fmt;
use std::net::Ipv4Addr;

use super::ethernet::{EtherType, EthernetRepr, MacAddr};

/// Hardware type Ethernet (RFC 826 / IANA).
const HTYPE_ETHERNET: u16 = 1;
/// Protocol type IPv4.
const PTYPE_IPV4: u16 = 0x0800;

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Request,
    Reply,
    Unknown(u16),
}

impl From<u16> for Operation {
    fn from(v: u16) -> Self {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    fn from(v: Operation) -> u16 {
        match v {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(other) => other,
        }
    }
}

mod field {
    use std::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    // The offsets below hold for Ethernet/IPv4 (hlen 6, plen 4), the only kind we parse.
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::TPA.end;

/// Why bytes are not an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpError {
    /// Shorter than 28 bytes.
    Truncated,
    /// Hardware or protocol type/length other than Ethernet/IPv4.
    Unsupported,
}

impl fmt::Display for ArpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArpError::Truncated => f.write_str("truncated ARP packet"),
            ArpError::Unsupported => f.write_str("ARP packet not Ethernet/IPv4"),
        }
    }
}

impl std::error::Error for ArpError {}

/// A view of an ARP packet in a buffer.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn ipv4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks (for emitting into a buffer of `PACKET_LEN` bytes).
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding at least `PACKET_LEN` bytes.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, ArpError> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Fails when the buffer cannot hold an Ethernet/IPv4 ARP packet.
    pub fn check_len(&self) -> Result<(), ArpError> {
        if self.buffer.as_ref().len() < PACKET_LEN {
            Err(ArpError::Truncated)
        } else {
            Ok(())
        }
    }

    /// Hardware type (1 = Ethernet).
    pub fn hardware_type(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::HTYPE])
    }
    /// Protocol type (0x0800 = IPv4).
    pub fn protocol_type(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::PTYPE])
    }
    /// Hardware address length (6 for Ethernet).
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }
    /// Protocol address length (4 for IPv4).
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }
    /// Operation (request, reply, other).
    pub fn operation(&self) -> Operation {
        Operation::from(be16(&self.buffer.as_ref()[field::OPER]))
    }
    /// Sender hardware address (SHA).
    pub fn sender_hardware_addr(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::SHA]).unwrap_or_default()
    }
    /// Sender protocol address (SPA).
    pub fn sender_protocol_addr(&self) -> Ipv4Addr {
        ipv4(&self.buffer.as_ref()[field::SPA])
    }
    /// Target hardware address (THA).
    pub fn target_hardware_addr(&self) -> MacAddr {
        MacAddr::from_slice(&self.buffer.as_ref()[field::THA]).unwrap_or_default()
    }
    /// Target protocol address (TPA).
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        ipv4(&self.buffer.as_ref()[field::TPA])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn put(&mut self, r: std::ops::Range<usize>, v: &[u8]) {
        self.buffer.as_mut()[r].copy_from_slice(v);
    }
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, v: u16) {
        self.put(field::HTYPE, &v.to_be_bytes());
    }
    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, v: u16) {
        self.put(field::PTYPE, &v.to_be_bytes());
    }
    /// Sets the hardware address length.
    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }
    /// Sets the protocol address length.
    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }
    /// Sets the operation.
    pub fn set_operation(&mut self, v: Operation) {
        self.put(field::OPER, &u16::from(v).to_be_bytes());
    }
    /// Sets the sender hardware address.
    pub fn set_sender_hardware_addr(&mut self, v: MacAddr) {
        self.put(field::SHA, &v.0);
    }
    /// Sets the sender protocol address.
    pub fn set_sender_protocol_addr(&mut self, v: Ipv4Addr) {
        self.put(field::SPA, &v.octets());
    }
    /// Sets the target hardware address.
    pub fn set_target_hardware_addr(&mut self, v: MacAddr) {
        self.put(field::THA, &v.0);
    }
    /// Sets the target protocol address.
    pub fn set_target_protocol_addr(&mut self, v: Ipv4Addr) {
        self.put(field::TPA, &v.octets());
    }
}

/// A parsed Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    pub operation: Operation,
    pub source_hardware_addr: MacAddr,
    pub source_protocol_addr: Ipv4Addr,
    pub target_hardware_addr: MacAddr,
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// Parses a checked packet; other than Ethernet/IPv4 is `Unsupported`.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<ArpRepr, ArpError> {
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET
            || packet.protocol_type() != PTYPE_IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(ArpError::Unsupported);
        }
        Ok(ArpRepr {
            operation: packet.operation(),
            source_hardware_addr: packet.sender_hardware_addr(),
            source_protocol_addr: packet.sender_protocol_addr(),
            target_hardware_addr: packet.target_hardware_addr(),
            target_protocol_addr: packet.target_protocol_addr(),
        })
    }

    /// Bytes `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into a buffer of at least `PACKET_LEN` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(PTYPE_IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_sender_hardware_addr(self.source_hardware_addr);
        packet.set_sender_protocol_addr(self.source_protocol_addr);
        packet.set_target_hardware_addr(self.target_hardware_addr);
        packet.set_target_protocol_addr(self.target_protocol_addr);
    }

    /// A whole Ethernet frame carrying this packet, from `source` to `destination`.
    pub fn to_frame(&self, destination: MacAddr, source: MacAddr) -> Vec<u8> {
        let mut body = [0u8; PACKET_LEN];
        self.emit(&mut Packet::new_unchecked(&mut body[..]));
        EthernetRepr {
            destination,
            source,
            ethertype: EtherType::Arp,
        }
        .frame_with(&body)
    }

    /// Parses the ARP packet in an Ethernet frame (`None` if it is not an Ethernet/IPv4 ARP
    /// frame). Returns the Ethernet header too.
    pub fn from_frame(frame: &[u8]) -> Option<(EthernetRepr, ArpRepr)> {
        let f = super::ethernet::Frame::new_checked(frame).ok()?;
        let eth = EthernetRepr::parse(&f).ok()?;
        if eth.ethertype != EtherType::Arp {
            return None;
        }
        let arp = ArpRepr::parse(&Packet::new_checked(f.payload()).ok()?).ok()?;
        Some((eth, arp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `arping -A -c1 -I eth0 198.51.100.10` as tcpdump -xx printed it (frame).
    const ARPING_A: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1a, 0xd2, 0x35, 0xa2, 0xde, 0x6b, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x1a, 0xd2, 0x35, 0xa2, 0xde, 0x6b, 0xc6, 0x33,
        0x64, 0x0a, 0x1a, 0xd2, 0x35, 0xa2, 0xde, 0x6b, 0xc6, 0x33, 0x64, 0x0a,
    ];

    const MAC: MacAddr = MacAddr([0x1a, 0xd2, 0x35, 0xa2, 0xde, 0x6b]);
    const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

    fn reply() -> ArpRepr {
        ArpRepr {
            operation: Operation::Reply,
            source_hardware_addr: MAC,
            source_protocol_addr: VIP,
            target_hardware_addr: MAC,
            target_protocol_addr: VIP,
        }
    }

    #[test]
    fn parses_captured_arping_reply() {
        let (eth, arp) = ArpRepr::from_frame(&ARPING_A).unwrap();
        assert_eq!(eth.destination, MacAddr::BROADCAST);
        assert_eq!(eth.source, MAC);
        assert_eq!(arp, reply());
    }

    #[test]
    fn emits_captured_arping_reply() {
        assert_eq!(reply().to_frame(MacAddr::BROADCAST, MAC), ARPING_A.to_vec());
    }

    #[test]
    fn view_getters_and_setters() {
        let mut buf = [0u8; PACKET_LEN];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_operation(Operation::Unknown(9));
        p.set_target_protocol_addr(VIP);
        assert_eq!(p.operation(), Operation::Unknown(9));
        assert_eq!(p.target_protocol_addr(), VIP);
        assert_eq!(&buf[6..8], &[0, 9]);
    }

    #[test]
    fn unknown_operation_parses() {
        let mut frame = ARPING_A;
        frame[21] = 7;
        let (_, arp) = ArpRepr::from_frame(&frame).unwrap();
        assert_eq!(arp.operation, Operation::Unknown(7));
        assert_eq!(u16::from(arp.operation), 7);
    }

    #[test]
    fn rejects_other_protocols_and_short_buffers() {
        let mut frame = ARPING_A;
        frame[16] = 0x86; // protocol type 0x86dd
        assert!(ArpRepr::from_frame(&frame).is_none());
        assert!(ArpRepr::from_frame(&ARPING_A[..41]).is_none());
        assert_eq!(
            Packet::new_checked(&ARPING_A[14..41]).err(),
            Some(ArpError::Truncated)
        );
        let mut ip = ARPING_A;
        ip[13] = 0x00; // EtherType IPv4
        assert!(ArpRepr::from_frame(&ip).is_none());
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = crate::wire::testing::Xorshift32(0x1234_5678);
        for round in 0..2000 {
            let len = round % 64;
            let mut buf: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
            // Make some of them look like ARP so the deeper parse runs too.
            if len >= 22 && round % 2 == 0 {
                buf[12..22].copy_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
            }
            let _ = ArpRepr::from_frame(&buf);
            if let Ok(p) = Packet::new_checked(&buf[..]) {
                let _ = ArpRepr::parse(&p);
            }
        }
    }
}
