//! ARP for IPv4 over Ethernet (RFC 826; gratuitous ARP and probes per RFC 5227). The packet
//! is read and written by `etherparse` (`ArpPacket::try_eth_ipv4`, `ArpEthIpv4Packet`);
//! this module gives it the `Repr` shape the rest of habox reads. Other hardware or protocol
//! types are rejected by `Repr::parse`; an unknown operation is `Operation::Unknown(raw)`.

use std::fmt;
use std::net::Ipv4Addr;

use etherparse::{ArpEthIpv4Packet, ArpOperation, ArpPacket};

use super::ethernet::{EtherType, EthernetRepr, MacAddr};

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Request,
    Reply,
    Unknown(u16),
}

impl From<u16> for Operation {
    fn from(v: u16) -> Self {
        match ArpOperation(v) {
            ArpOperation::REQUEST => Operation::Request,
            ArpOperation::REPLY => Operation::Reply,
            other => Operation::Unknown(other.0),
        }
    }
}

impl From<Operation> for u16 {
    fn from(v: Operation) -> u16 {
        match v {
            Operation::Request => ArpOperation::REQUEST.0,
            Operation::Reply => ArpOperation::REPLY.0,
            Operation::Unknown(other) => other,
        }
    }
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = ArpEthIpv4Packet::LEN;

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

/// An ARP packet in a buffer. Parsing goes through `etherparse`; the two fixed-offset fields
/// below stay hand-written because `etherparse` has no in-place view of a buffer whose header
/// does not (yet) say Ethernet/IPv4 — which is what a buffer being filled in looks like.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Offsets of the operation and the target protocol address (RFC 826, hlen 6 and plen 4).
const OPER: std::ops::Range<usize> = 6..8;
const TPA: std::ops::Range<usize> = 24..28;

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

    /// Operation (request, reply, other); `Unknown(0)` when the buffer is too short.
    pub fn operation(&self) -> Operation {
        let b = self.buffer.as_ref().get(OPER).unwrap_or(&[0, 0]);
        Operation::from(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Target protocol address (TPA); unspecified when the buffer is too short.
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        self.buffer
            .as_ref()
            .get(TPA)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(Ipv4Addr::UNSPECIFIED, Ipv4Addr::from)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn put(&mut self, at: std::ops::Range<usize>, v: &[u8]) {
        if let Some(b) = self.buffer.as_mut().get_mut(at) {
            b.copy_from_slice(v);
        }
    }
    /// Sets the operation (a buffer too short for it is left as it is).
    pub fn set_operation(&mut self, v: Operation) {
        self.put(OPER, &u16::from(v).to_be_bytes());
    }
    /// Sets the target protocol address (a buffer too short for it is left as it is).
    pub fn set_target_protocol_addr(&mut self, v: Ipv4Addr) {
        self.put(TPA, &v.octets());
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
        // 28 bytes first, so that a short buffer is `Truncated` whatever its lengths say.
        packet.check_len()?;
        // With 28 bytes present, etherparse can only fail on lengths other than 6/4 (which
        // would need more or fewer bytes) or on the types: all of that is "not Ethernet/IPv4".
        let p = ArpPacket::from_slice(packet.buffer.as_ref())
            .ok()
            .and_then(|p| p.try_eth_ipv4().ok())
            .ok_or(ArpError::Unsupported)?;
        Ok(ArpRepr {
            operation: Operation::from(p.operation.0),
            source_hardware_addr: MacAddr(p.sender_mac),
            source_protocol_addr: p.sender_ipv4_addr(),
            target_hardware_addr: MacAddr(p.target_mac),
            target_protocol_addr: p.target_ipv4_addr(),
        })
    }

    /// Bytes `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into the first `PACKET_LEN` bytes of a buffer (a shorter buffer is
    /// left as it is).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        if let Some(b) = packet.buffer.as_mut().get_mut(..PACKET_LEN) {
            b.copy_from_slice(&self.to_bytes());
        }
    }

    /// The 28 bytes of this packet.
    pub fn to_bytes(&self) -> [u8; PACKET_LEN] {
        ArpEthIpv4Packet {
            operation: ArpOperation(u16::from(self.operation)),
            sender_mac: self.source_hardware_addr.0,
            sender_ipv4: self.source_protocol_addr.octets(),
            target_mac: self.target_hardware_addr.0,
            target_ipv4: self.target_protocol_addr.octets(),
        }
        .to_bytes()
    }

    /// A whole Ethernet frame carrying this packet, from `source` to `destination`.
    pub fn to_frame(&self, destination: MacAddr, source: MacAddr) -> Vec<u8> {
        let body = self.to_bytes();
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
    fn other_hardware_or_lengths_are_unsupported_and_short_is_truncated() {
        let body = &ARPING_A[14..];
        for (at, value) in [(1, 6), (4, 8), (4, 5), (5, 16), (5, 0), (4, 255)] {
            let mut b = body.to_vec();
            b[at] = value;
            let p = Packet::new_checked(&b[..]).unwrap();
            assert_eq!(ArpRepr::parse(&p), Err(ArpError::Unsupported), "byte {at}");
        }
        // Lengths that would make the packet fit in fewer bytes do not rescue a short one.
        let mut short = body[..20].to_vec();
        short[4] = 1;
        short[5] = 1;
        let p = Packet::new_unchecked(&short[..]);
        assert_eq!(ArpRepr::parse(&p), Err(ArpError::Truncated));
        // A longer buffer (Ethernet padding) parses the first 28 bytes.
        let mut padded = body.to_vec();
        padded.extend_from_slice(&[0xee; 18]);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p), Ok(reply()));
    }

    #[test]
    fn emit_fills_the_first_28_bytes_and_leaves_a_short_buffer_alone() {
        let mut buf = [0xeeu8; PACKET_LEN + 2];
        reply().emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..PACKET_LEN], &ARPING_A[14..]);
        assert_eq!(&buf[PACKET_LEN..], &[0xee, 0xee]);
        let mut short = [0u8; PACKET_LEN - 1];
        reply().emit(&mut Packet::new_unchecked(&mut short[..]));
        assert_eq!(short, [0u8; PACKET_LEN - 1]);
        let p = Packet::new_unchecked(&short[..3]);
        assert_eq!(p.operation(), Operation::Unknown(0));
        assert_eq!(p.target_protocol_addr(), Ipv4Addr::UNSPECIFIED);
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
