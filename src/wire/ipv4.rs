//! IPv4 header view (RFC 791): just what a raw-socket reader needs — version, header length,
//! total length, TTL, protocol, addresses and the payload after the options. No I/O.
//!
//! Raw IPv4 sockets deliver the whole datagram, header included; ICMP errors quote the start of
//! the offending datagram (RFC 792: its header plus at least 8 bytes), so both are read here.

use std::fmt;
use std::net::Ipv4Addr;

/// Why a buffer is not an IPv4 header this view can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Error {
    /// Shorter than the fixed header or than the header length it claims.
    Truncated,
    /// Version field is not 4.
    NotIpv4,
    /// IHL below 5 (a header is at least 20 bytes).
    BadHeaderLen,
}

impl fmt::Display for Ipv4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ipv4Error::Truncated => f.write_str("truncated IPv4 header"),
            Ipv4Error::NotIpv4 => f.write_str("not an IPv4 header"),
            Ipv4Error::BadHeaderLen => f.write_str("bad IPv4 header length"),
        }
    }
}

impl std::error::Error for Ipv4Error {}

/// The protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;

mod field {
    use std::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const LENGTH: Range<usize> = 2..4;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
    pub const MIN_HEADER_LEN: usize = 20;
}

/// A read-only view of an IPv4 header over a buffer.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking it; every getter may then panic on a short buffer.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` after `check_len`: every getter is then safe.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Ipv4Error> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the fixed header and the options the IHL announces are all there.
    /// The total length may exceed the buffer (ICMP errors quote only a prefix).
    pub fn check_len(&self) -> Result<(), Ipv4Error> {
        let data = self.buffer.as_ref();
        let Some(&ver_ihl) = data.get(field::VER_IHL) else {
            return Err(Ipv4Error::Truncated);
        };
        if ver_ihl >> 4 != 4 {
            return Err(Ipv4Error::NotIpv4);
        }
        if data.len() < field::MIN_HEADER_LEN {
            return Err(Ipv4Error::Truncated);
        }
        let hlen = usize::from(ver_ihl & 0x0f) * 4;
        if hlen < field::MIN_HEADER_LEN {
            return Err(Ipv4Error::BadHeaderLen);
        }
        if data.len() < hlen {
            return Err(Ipv4Error::Truncated);
        }
        Ok(())
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[field::VER_IHL] & 0x0f) * 4
    }

    /// The total-length field (header + payload), as the sender wrote it.
    pub fn total_len(&self) -> u16 {
        u16::from_be_bytes([
            self.b()[field::LENGTH.start],
            self.b()[field::LENGTH.start + 1],
        ])
    }

    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.b()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        let c = &self.b()[field::CHECKSUM];
        u16::from_be_bytes([c[0], c[1]])
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        let a = &self.b()[field::SRC_ADDR];
        Ipv4Addr::new(a[0], a[1], a[2], a[3])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        let a = &self.b()[field::DST_ADDR];
        Ipv4Addr::new(a[0], a[1], a[2], a[3])
    }

    /// The bytes after the header: up to the total length, or to the end of the buffer when
    /// the buffer holds less (a quoted prefix).
    pub fn payload(&self) -> &[u8] {
        let data = self.b();
        let end = usize::from(self.total_len()).clamp(self.header_len(), data.len());
        &data[self.header_len()..end]
    }
}

/// The parsed header fields a ping reader uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub header_len: usize,
}

impl Repr {
    /// Reads the header fields of a checked packet.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Repr {
        Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            ttl: packet.ttl(),
            header_len: packet.header_len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // An echo reply datagram as a raw socket delivered it (198.51.100.2 → .1, TTL 64).
    const DATAGRAM: [u8; 28] = [
        0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 198, 51, 100, 2,
        198, 51, 100, 1, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn reads_fixed_header_fields() {
        let p = Packet::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), PROTO_ICMP);
        assert_eq!(p.src_addr(), Ipv4Addr::new(198, 51, 100, 2));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(p.payload().len(), 8);
        let r = Repr::parse(&p);
        assert_eq!(r.ttl, 64);
        assert_eq!(r.header_len, 20);
    }

    #[test]
    fn options_are_skipped_and_short_payload_is_clamped() {
        let mut d = vec![0x46u8];
        d.extend_from_slice(&DATAGRAM[1..20]);
        d.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
        d.extend_from_slice(&[9, 9]);
        let p = Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.payload(), &[9, 9]);
    }

    #[test]
    fn rejects_bad_headers() {
        assert_eq!(
            Packet::new_checked(&[][..]).unwrap_err(),
            Ipv4Error::Truncated
        );
        assert_eq!(
            Packet::new_checked(&DATAGRAM[..19]).unwrap_err(),
            Ipv4Error::Truncated
        );
        let mut d = DATAGRAM;
        d[0] = 0x65;
        assert_eq!(Packet::new_checked(&d[..]).unwrap_err(), Ipv4Error::NotIpv4);
        d[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&d[..]).unwrap_err(),
            Ipv4Error::BadHeaderLen
        );
        d[0] = 0x4f;
        assert_eq!(
            Packet::new_checked(&d[..]).unwrap_err(),
            Ipv4Error::Truncated
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..200usize {
            for _ in 0..20 {
                let mut buf: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed as u8
                    })
                    .collect();
                // Mostly version 4, so the length checks behind it get exercised too.
                if let Some(first) = buf.first_mut() {
                    *first = 0x40 | (*first & 0x0f);
                }
                if let Ok(p) = Packet::new_checked(&buf[..]) {
                    let _ = (p.payload(), Repr::parse(&p), p.checksum());
                }
            }
        }
    }
}
