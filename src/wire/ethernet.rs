//! Ethernet II frame header (IEEE 802.3 with an EtherType ≥ 0x0600): destination, source,
//! EtherType, payload. No VLAN tags here: AF_PACKET hands frames over with the tag stripped.
//! The header is read and written by `etherparse`; this module keeps the `MacAddr` and
//! `EtherType` values the rest of habox speaks, and the smoltcp-style `Frame`/`EthernetRepr`
//! shape around it.

use std::fmt;

use etherparse::{Ethernet2Header, Ethernet2HeaderSlice};

/// An Ethernet (MAC) address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00 (the "unknown" target of an ARP request).
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The address from a byte slice of exactly 6 bytes.
    pub fn from_slice(b: &[u8]) -> Option<MacAddr> {
        <[u8; 6]>::try_from(b).ok().map(MacAddr)
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (also with `-` separators).
    pub fn parse(s: &str) -> Option<MacAddr> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in out.iter_mut() {
            let p = parts.next()?;
            if p.is_empty() || p.len() > 2 {
                return None;
            }
            *byte = u8::from_str_radix(p, 16).ok()?;
        }
        if parts.next().is_some() {
            return None;
        }
        Some(MacAddr(out))
    }

    /// Group bit set (multicast or broadcast).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// EtherType values this crate speaks; anything else is `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtherType {
    Ipv4,
    Arp,
    /// IEEE 802 local experimental EtherType 1, used by PIKE.
    Pike,
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x88b5 => EtherType::Pike,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(v: EtherType) -> u16 {
        match v {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Pike => 0x88b5,
            EtherType::Unknown(other) => other,
        }
    }
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = Ethernet2Header::LEN;

/// The buffer is too short for what it claims to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl fmt::Display for Truncated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("truncated frame")
    }
}

impl std::error::Error for Truncated {}

/// A frame in a buffer: the header (read and written by `etherparse`) and the payload after it.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking its length (use `new_checked` on received data).
    pub fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer that holds at least the header.
    pub fn new_checked(buffer: T) -> Result<Frame<T>, Truncated> {
        let f = Frame::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Fails when the buffer is shorter than the header.
    pub fn check_len(&self) -> Result<(), Truncated> {
        Ethernet2HeaderSlice::from_slice(self.buffer.as_ref())
            .map(|_| ())
            .map_err(|_| Truncated)
    }

    fn header(&self) -> Ethernet2Header {
        Ethernet2HeaderSlice::from_slice(self.buffer.as_ref())
            .map(|h| h.to_header())
            .unwrap_or_default()
    }

    /// The destination address (zero when the buffer is shorter than the header).
    pub fn destination(&self) -> MacAddr {
        MacAddr(self.header().destination)
    }

    /// The source address (zero when the buffer is shorter than the header).
    pub fn source(&self) -> MacAddr {
        MacAddr(self.header().source)
    }

    /// The EtherType.
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(self.header().ether_type.0)
    }

    /// Everything after the header (empty when the buffer is shorter than the header).
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
}

/// A parsed Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub destination: MacAddr,
    pub source: MacAddr,
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<EthernetRepr, Truncated> {
        frame.check_len()?;
        Ok(EthernetRepr {
            destination: frame.destination(),
            source: frame.source(),
            ethertype: frame.ethertype(),
        })
    }

    /// Header length.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    fn header(&self) -> Ethernet2Header {
        Ethernet2Header {
            destination: self.destination.0,
            source: self.source.0,
            ether_type: etherparse::EtherType(u16::from(self.ethertype)),
        }
    }

    /// Writes the header into a frame; a buffer shorter than `HEADER_LEN` is left as it is.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        let _ = self.header().write_to_slice(frame.buffer.as_mut());
    }

    /// A whole frame: this header followed by `payload`.
    pub fn frame_with(&self, payload: &[u8]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(HEADER_LEN + payload.len());
        buf.extend_from_slice(&self.header().to_bytes());
        buf.extend_from_slice(payload);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1a, 0xd2, 0x35, 0xa2, 0xde, 0x6b, 0x08, 0x06, 0xaa,
        0xbb,
    ];

    #[test]
    fn parses_header() {
        let f = Frame::new_checked(&BYTES[..]).unwrap();
        let r = EthernetRepr::parse(&f).unwrap();
        assert_eq!(r.destination, MacAddr::BROADCAST);
        assert_eq!(r.source, MacAddr([0x1a, 0xd2, 0x35, 0xa2, 0xde, 0x6b]));
        assert_eq!(r.ethertype, EtherType::Arp);
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn emits_same_bytes() {
        let r = EthernetRepr {
            destination: MacAddr::BROADCAST,
            source: MacAddr([0x1a, 0xd2, 0x35, 0xa2, 0xde, 0x6b]),
            ethertype: EtherType::Arp,
        };
        assert_eq!(r.frame_with(&[0xaa, 0xbb]), BYTES.to_vec());
    }

    #[test]
    fn unknown_ethertype_round_trips() {
        assert_eq!(EtherType::from(0x1234), EtherType::Unknown(0x1234));
        assert_eq!(u16::from(EtherType::Unknown(0x1234)), 0x1234);
        assert_eq!(u16::from(EtherType::Pike), 0x88b5);
    }

    #[test]
    fn mac_parse_and_display() {
        let m = MacAddr::parse("03:50:49:4b:45:00").unwrap();
        assert_eq!(m.to_string(), "03:50:49:4b:45:00");
        assert!(m.is_multicast());
        assert_eq!(MacAddr::parse("03:50:49:4b:45"), None);
        assert_eq!(MacAddr::parse("03:50:49:4b:45:00:11"), None);
        assert_eq!(MacAddr::parse("zz:50:49:4b:45:00"), None);
        assert_eq!(MacAddr::parse("123:50:49:4b:45:00"), None);
    }

    #[test]
    fn unchecked_short_frame_is_truncated_not_a_panic() {
        let short = Frame::new_unchecked(&BYTES[..HEADER_LEN - 1]);
        assert_eq!(EthernetRepr::parse(&short), Err(Truncated));
        assert_eq!(short.payload(), &[] as &[u8]);
        let whole = Frame::new_unchecked(&BYTES[..HEADER_LEN]);
        assert!(EthernetRepr::parse(&whole).is_ok());
        assert_eq!(whole.payload(), &[] as &[u8]);
        let mut buf = [0u8; HEADER_LEN - 1];
        let r = EthernetRepr::parse(&Frame::new_checked(&BYTES[..]).unwrap()).unwrap();
        r.emit(&mut Frame::new_unchecked(&mut buf[..]));
        assert_eq!(buf, [0u8; HEADER_LEN - 1]);
    }

    #[test]
    fn emit_writes_the_header_in_place() {
        let r = EthernetRepr::parse(&Frame::new_checked(&BYTES[..]).unwrap()).unwrap();
        let mut buf = [0u8; 16];
        buf[14..].copy_from_slice(&[0xaa, 0xbb]);
        r.emit(&mut Frame::new_unchecked(&mut buf[..]));
        assert_eq!(buf, BYTES);
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x9e37_79b9u32;
        for len in 0..40 {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            if let Ok(f) = Frame::new_checked(&buf[..]) {
                let _ = EthernetRepr::parse(&f);
                let _ = f.payload();
            } else {
                assert!(len < HEADER_LEN);
            }
        }
    }
}
