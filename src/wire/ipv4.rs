//! IPv4 header view (RFC 791): just what a raw-socket reader needs — version, header length,
//! total length, TTL, protocol, addresses and the payload after the options. No I/O.
//!
//! Raw IPv4 sockets deliver the whole datagram, header included; ICMP errors quote the start of
//! the offending datagram (RFC 792: its header plus at least 8 bytes), so both are read here.

use std::fmt;
use std::net::Ipv4Addr;

use etherparse::err::ipv4::{HeaderError, HeaderSliceError};
use etherparse::Ipv4HeaderSlice;

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

/// A read-only view of an IPv4 header over a buffer. The header is read by `etherparse`
/// (`Ipv4HeaderSlice`); what stays here is the version test on a buffer shorter than the fixed
/// header (etherparse reports length first, habox has always said "not IPv4" first) and the
/// payload clamped to the buffer, since an ICMP error quotes only a prefix of the datagram and
/// etherparse's own `Ipv4Slice` rejects a total length longer than the buffer.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking it; getters then read zeros from a buffer that is not
    /// a whole IPv4 header.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` after `check_len`.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Ipv4Error> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the fixed header and the options the IHL announces are all there.
    /// The total length may exceed the buffer (ICMP errors quote only a prefix).
    pub fn check_len(&self) -> Result<(), Ipv4Error> {
        match self.buffer.as_ref().first() {
            None => return Err(Ipv4Error::Truncated),
            Some(ver_ihl) if ver_ihl >> 4 != 4 => return Err(Ipv4Error::NotIpv4),
            Some(_) => {}
        }
        self.header().map(|_| ())
    }

    fn header(&self) -> Result<Ipv4HeaderSlice<'_>, Ipv4Error> {
        Ipv4HeaderSlice::from_slice(self.buffer.as_ref()).map_err(|e| match e {
            HeaderSliceError::Len(_) => Ipv4Error::Truncated,
            HeaderSliceError::Content(HeaderError::UnexpectedVersion { .. }) => Ipv4Error::NotIpv4,
            HeaderSliceError::Content(HeaderError::HeaderLengthSmallerThanHeader { .. }) => {
                Ipv4Error::BadHeaderLen
            }
        })
    }

    fn read<V: Default>(&self, f: impl FnOnce(Ipv4HeaderSlice<'_>) -> V) -> V {
        self.header().map(f).unwrap_or_default()
    }

    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        self.read(|h| h.slice().len())
    }

    /// The total-length field (header + payload), as the sender wrote it.
    pub fn total_len(&self) -> u16 {
        self.read(|h| h.total_len())
    }

    pub fn ttl(&self) -> u8 {
        self.read(|h| h.ttl())
    }

    pub fn protocol(&self) -> u8 {
        self.read(|h| h.protocol().0)
    }

    pub fn checksum(&self) -> u16 {
        self.read(|h| h.header_checksum())
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        self.header()
            .map_or(Ipv4Addr::UNSPECIFIED, |h| h.source_addr())
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        self.header()
            .map_or(Ipv4Addr::UNSPECIFIED, |h| h.destination_addr())
    }

    /// The bytes after the header: up to the total length, or to the end of the buffer when
    /// the buffer holds less (a quoted prefix). Empty when the header is unreadable.
    pub fn payload(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        let Ok(h) = self.header() else {
            return &[];
        };
        let start = h.slice().len();
        let end = usize::from(h.total_len()).clamp(start, data.len());
        data.get(start..end).unwrap_or(&[])
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
    fn short_buffer_with_another_version_is_not_ipv4_before_truncated() {
        assert_eq!(
            Packet::new_checked(&[0x65u8][..]).unwrap_err(),
            Ipv4Error::NotIpv4
        );
        assert_eq!(
            Packet::new_checked(&[0x60u8; 19][..]).unwrap_err(),
            Ipv4Error::NotIpv4
        );
        assert_eq!(
            Packet::new_checked(&[0x45u8][..]).unwrap_err(),
            Ipv4Error::Truncated
        );
        // A short IHL in a short buffer is still "truncated", as it always was.
        assert_eq!(
            Packet::new_checked(&[0x44u8; 19][..]).unwrap_err(),
            Ipv4Error::Truncated
        );
    }

    #[test]
    fn total_length_below_header_gives_an_empty_payload() {
        let mut d = DATAGRAM;
        d[2..4].copy_from_slice(&4u16.to_be_bytes());
        let p = Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.total_len(), 4);
        assert_eq!(p.payload(), &[] as &[u8]);
        let unchecked = Packet::new_unchecked(&d[..10]);
        assert_eq!((unchecked.ttl(), unchecked.payload()), (0, &[] as &[u8]));
        assert_eq!(unchecked.src_addr(), Ipv4Addr::UNSPECIFIED);
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
