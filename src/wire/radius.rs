//! RADIUS packets (RFC 2865): a `Packet` view over the header and attributes, a parsed `Repr`,
//! the User-Password hiding of §5.2 and the Response Authenticator of §3 (both MD5, from the
//! RustCrypto `md-5` crate). Enough for ldirectord's radius check: it sends an Access-Request
//! and judges the answer. An unknown code or attribute is kept by number, never an error.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use md5::{Digest, Md5};

/// Header: code, identifier, length, authenticator.
pub const HEADER_LEN: usize = 20;
/// The largest packet (§3).
pub const MAX_LEN: usize = 4096;
/// The longest password §5.2 can hide.
pub const MAX_PASSWORD: usize = 128;

mod field {
    use std::ops::Range;
    pub const CODE: usize = 0;
    pub const IDENTIFIER: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const AUTHENTICATOR: Range<usize> = 4..20;
}

/// Attribute types used here (§5).
mod attr {
    pub const USER_NAME: u8 = 1;
    pub const USER_PASSWORD: u8 = 2;
    pub const NAS_IP_ADDRESS: u8 = 4;
    pub const REPLY_MESSAGE: u8 = 18;
    pub const NAS_IDENTIFIER: u8 = 32;
    /// RFC 3162 §2.1.
    pub const NAS_IPV6_ADDRESS: u8 = 95;
}

/// Packet type (§4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    AccessRequest,
    AccessAccept,
    AccessReject,
    AccessChallenge,
    Unknown(u8),
}

impl From<u8> for Code {
    fn from(v: u8) -> Code {
        match v {
            1 => Code::AccessRequest,
            2 => Code::AccessAccept,
            3 => Code::AccessReject,
            11 => Code::AccessChallenge,
            other => Code::Unknown(other),
        }
    }
}

impl From<Code> for u8 {
    fn from(c: Code) -> u8 {
        match c {
            Code::AccessRequest => 1,
            Code::AccessAccept => 2,
            Code::AccessReject => 3,
            Code::AccessChallenge => 11,
            Code::Unknown(v) => v,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::AccessRequest => f.write_str("Access-Request"),
            Code::AccessAccept => f.write_str("Access-Accept"),
            Code::AccessReject => f.write_str("Access-Reject"),
            Code::AccessChallenge => f.write_str("Access-Challenge"),
            Code::Unknown(v) => write!(f, "code {v}"),
        }
    }
}

/// Why bytes are not a RADIUS packet, or a value cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RadiusError {
    /// Shorter than its header or its Length field.
    Truncated,
    /// Length field below 20 or above 4096, or an attribute length below 2 or past the end.
    BadLength,
    /// An attribute value longer than 253 bytes, or a password longer than 128.
    TooLong,
}

impl fmt::Display for RadiusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RadiusError::Truncated => f.write_str("truncated RADIUS packet"),
            RadiusError::BadLength => f.write_str("bad RADIUS length"),
            RadiusError::TooLong => f.write_str("RADIUS attribute too long"),
        }
    }
}

impl std::error::Error for RadiusError {}

/// A view of a RADIUS packet in a buffer.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks (for emitting into a buffer of `buffer_len` bytes).
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding a whole packet (bytes past Length are padding, §3).
    pub fn new_checked(buffer: T) -> Result<Packet<T>, RadiusError> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), RadiusError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(RadiusError::Truncated);
        }
        let len = usize::from(self.length());
        if !(HEADER_LEN..=MAX_LEN).contains(&len) {
            return Err(RadiusError::BadLength);
        }
        if b.len() < len {
            return Err(RadiusError::Truncated);
        }
        Ok(())
    }

    pub fn code(&self) -> Code {
        Code::from(self.buffer.as_ref().get(field::CODE).copied().unwrap_or(0))
    }

    pub fn identifier(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::IDENTIFIER)
            .copied()
            .unwrap_or(0)
    }

    /// The Length field.
    pub fn length(&self) -> u16 {
        match self.buffer.as_ref().get(field::LENGTH) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => 0,
        }
    }

    pub fn authenticator(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        if let Some(b) = self.buffer.as_ref().get(field::AUTHENTICATOR) {
            a.copy_from_slice(b);
        }
        a
    }

    /// The attribute bytes (up to Length).
    pub fn attributes(&self) -> &[u8] {
        let end = usize::from(self.length());
        self.buffer
            .as_ref()
            .get(HEADER_LEN..end)
            .unwrap_or_default()
    }

    /// Whether the authenticator is MD5(Code+ID+Length+RequestAuth+Attributes+Secret), as
    /// §3 defines the Response Authenticator of an answer to a request with `request_auth`.
    pub fn response_authentic(&self, request_auth: &[u8; 16], secret: &[u8]) -> bool {
        let mut h = Md5::new();
        h.update([u8::from(self.code()), self.identifier()]);
        h.update(self.length().to_be_bytes());
        h.update(request_auth);
        h.update(self.attributes());
        h.update(secret);
        h.finalize().as_slice() == self.authenticator()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn put(&mut self, at: usize, v: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(at..at + v.len()) {
            dst.copy_from_slice(v);
        }
    }
    pub fn set_code(&mut self, c: Code) {
        self.put(field::CODE, &[u8::from(c)]);
    }
    pub fn set_identifier(&mut self, id: u8) {
        self.put(field::IDENTIFIER, &[id]);
    }
    pub fn set_length(&mut self, len: u16) {
        self.put(field::LENGTH.start, &len.to_be_bytes());
    }
    pub fn set_authenticator(&mut self, a: &[u8; 16]) {
        self.put(field::AUTHENTICATOR.start, a);
    }
    /// Writes the attribute bytes after the header.
    pub fn set_attributes(&mut self, a: &[u8]) {
        self.put(HEADER_LEN, a);
    }
}

/// An attribute (§5); the ones not needed here are kept as `Other(type, value)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    UserName(String),
    /// Already hidden (`hide_password`).
    UserPassword(Vec<u8>),
    NasIpAddress(Ipv4Addr),
    NasIpv6Address(Ipv6Addr),
    NasIdentifier(String),
    ReplyMessage(String),
    Other(u8, Vec<u8>),
}

impl Attribute {
    fn kind_and_value(&self) -> (u8, Vec<u8>) {
        match self {
            Attribute::UserName(s) => (attr::USER_NAME, s.as_bytes().to_vec()),
            Attribute::UserPassword(b) => (attr::USER_PASSWORD, b.clone()),
            Attribute::NasIpAddress(ip) => (attr::NAS_IP_ADDRESS, ip.octets().to_vec()),
            Attribute::NasIpv6Address(ip) => (attr::NAS_IPV6_ADDRESS, ip.octets().to_vec()),
            Attribute::NasIdentifier(s) => (attr::NAS_IDENTIFIER, s.as_bytes().to_vec()),
            Attribute::ReplyMessage(s) => (attr::REPLY_MESSAGE, s.as_bytes().to_vec()),
            Attribute::Other(k, v) => (*k, v.clone()),
        }
    }

    fn parse(kind: u8, v: &[u8]) -> Attribute {
        let text = || String::from_utf8_lossy(v).into_owned();
        match (kind, v.len()) {
            (attr::USER_NAME, _) => Attribute::UserName(text()),
            (attr::USER_PASSWORD, _) => Attribute::UserPassword(v.to_vec()),
            (attr::NAS_IP_ADDRESS, 4) => {
                let mut o = [0u8; 4];
                o.copy_from_slice(v);
                Attribute::NasIpAddress(Ipv4Addr::from(o))
            }
            (attr::NAS_IPV6_ADDRESS, 16) => {
                let mut o = [0u8; 16];
                o.copy_from_slice(v);
                Attribute::NasIpv6Address(Ipv6Addr::from(o))
            }
            (attr::NAS_IDENTIFIER, _) => Attribute::NasIdentifier(text()),
            (attr::REPLY_MESSAGE, _) => Attribute::ReplyMessage(text()),
            _ => Attribute::Other(kind, v.to_vec()),
        }
    }
}

/// A parsed RADIUS packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    pub code: Code,
    pub identifier: u8,
    pub authenticator: [u8; 16],
    pub attributes: Vec<Attribute>,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, RadiusError> {
        p.check_len()?;
        let mut attributes = Vec::new();
        let mut rest = p.attributes();
        while !rest.is_empty() {
            let (Some(&kind), Some(&len)) = (rest.first(), rest.get(1)) else {
                return Err(RadiusError::BadLength);
            };
            let len = usize::from(len);
            let Some(value) = rest.get(2..len.max(2)).filter(|_| len >= 2) else {
                return Err(RadiusError::BadLength);
            };
            attributes.push(Attribute::parse(kind, value));
            rest = rest.get(len..).unwrap_or_default();
        }
        Ok(Repr {
            code: p.code(),
            identifier: p.identifier(),
            authenticator: p.authenticator(),
            attributes,
        })
    }

    /// The packet's length; an error if an attribute does not fit.
    pub fn buffer_len(&self) -> Result<usize, RadiusError> {
        let mut len = HEADER_LEN;
        for a in &self.attributes {
            let n = a.kind_and_value().1.len();
            if n > 253 {
                return Err(RadiusError::TooLong);
            }
            len += 2 + n;
        }
        if len > MAX_LEN {
            return Err(RadiusError::TooLong);
        }
        Ok(len)
    }

    /// Writes the packet into a buffer of `buffer_len` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) -> Result<(), RadiusError> {
        let len = self.buffer_len()?;
        let mut attrs = Vec::with_capacity(len - HEADER_LEN);
        for a in &self.attributes {
            let (k, v) = a.kind_and_value();
            attrs.push(k);
            attrs.push((v.len() + 2) as u8);
            attrs.extend_from_slice(&v);
        }
        p.set_code(self.code);
        p.set_identifier(self.identifier);
        p.set_length(len as u16);
        p.set_authenticator(&self.authenticator);
        p.set_attributes(&attrs);
        Ok(())
    }

    /// The packet as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, RadiusError> {
        let mut b = vec![0u8; self.buffer_len()?];
        self.emit(&mut Packet::new_unchecked(&mut b[..]))?;
        Ok(b)
    }

    /// The first Reply-Message, if any (a server's reason for a reject).
    pub fn reply_message(&self) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::ReplyMessage(m) => Some(m.as_str()),
            _ => None,
        })
    }
}

/// User-Password hiding (§5.2): the password padded with NULs to a multiple of 16 (at least
/// 16), each block XORed with MD5(secret + previous ciphertext block, the Request
/// Authenticator for the first).
pub fn hide_password(
    password: &[u8],
    secret: &[u8],
    request_auth: &[u8; 16],
) -> Result<Vec<u8>, RadiusError> {
    if password.len() > MAX_PASSWORD {
        return Err(RadiusError::TooLong);
    }
    let blocks = password.len().div_ceil(16).max(1);
    let mut out = password.to_vec();
    out.resize(blocks * 16, 0);
    let mut prev = *request_auth;
    for block in out.chunks_mut(16) {
        let mut h = Md5::new();
        h.update(secret);
        h.update(prev);
        let key = h.finalize();
        for (b, k) in block.iter_mut().zip(key.iter()) {
            *b ^= k;
        }
        prev.copy_from_slice(block);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::{hex, Xorshift32};

    const AUTH: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    // An Access-Request for web/s3cret (secret testing123, authenticator 00..0f) and the
    // answers FreeRADIUS 3.2.1 (Debian 12) gave to it and to the same request with "bad".
    const REQUEST: &str = "012a0031000102030405060708090a0b0c0d0e0f01057765620212e5dd6ab811897a1a104607240014828b04067f000001";
    const ACCEPT: &str = "022a0014b7021c538b0fe2e565c5ae0de07ee65e";
    const REJECT: &str = "032a0014aae749e2ee67bd2fce0e43857e50b0ff";

    #[test]
    fn access_request_bytes() {
        let hidden = hide_password(b"s3cret", b"testing123", &AUTH).unwrap();
        let r = Repr {
            code: Code::AccessRequest,
            identifier: 42,
            authenticator: AUTH,
            attributes: vec![
                Attribute::UserName("web".into()),
                Attribute::UserPassword(hidden),
                Attribute::NasIpAddress(Ipv4Addr::LOCALHOST),
            ],
        };
        assert_eq!(r.to_bytes().unwrap(), hex(REQUEST));
        let back = Repr::parse(&Packet::new_checked(&hex(REQUEST)[..]).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn password_hiding_blocks() {
        // Empty: one block of NULs; 17 bytes: two blocks, the second keyed by the first.
        assert_eq!(hide_password(b"", b"s", &AUTH).unwrap().len(), 16);
        let long = hide_password(&[b'a'; 17], b"s", &AUTH).unwrap();
        assert_eq!(long.len(), 32);
        let first = hide_password(&[b'a'; 16], b"s", &AUTH).unwrap();
        assert_eq!(long[..16], first[..]);
        assert_eq!(
            hide_password(&[0; 129], b"s", &AUTH),
            Err(RadiusError::TooLong)
        );
    }

    #[test]
    fn response_authenticator_of_real_answers() {
        let accept = hex(ACCEPT);
        let p = Packet::new_checked(&accept[..]).unwrap();
        assert_eq!(p.code(), Code::AccessAccept);
        assert_eq!(p.identifier(), 42);
        assert!(p.response_authentic(&AUTH, b"testing123"));
        assert!(!p.response_authentic(&AUTH, b"testing124"));
        let mut other = AUTH;
        other[0] = 1;
        assert!(!p.response_authentic(&other, b"testing123"));
        let reject = hex(REJECT);
        let p = Packet::new_checked(&reject[..]).unwrap();
        assert_eq!(p.code(), Code::AccessReject);
        assert!(p.response_authentic(&AUTH, b"testing123"));
    }

    #[test]
    fn length_rules() {
        assert_eq!(
            Packet::new_checked(&[2u8; 19][..]).err(),
            Some(RadiusError::Truncated)
        );
        let mut b = hex(ACCEPT);
        b[3] = 19;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(RadiusError::BadLength)
        );
        b[3] = 30;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(RadiusError::Truncated)
        );
        // Bytes past Length are padding; an attribute with length 1 is an error.
        let mut b = hex(ACCEPT);
        b.extend_from_slice(&[0xff; 8]);
        assert!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).is_ok());
        let mut b = hex(ACCEPT);
        b[3] = 22;
        b.extend_from_slice(&[18, 1]);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap()),
            Err(RadiusError::BadLength)
        );
        let mut b = hex(ACCEPT);
        b[3] = 25;
        b.extend_from_slice(&[18, 5, b'n', b'o', 99]);
        let r = Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(r.reply_message(), Some("noc"));
        assert_eq!(r.attributes[0], Attribute::ReplyMessage("noc".into()));
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = Xorshift32(0x9e37_79b9);
        let mut next = || rng.next_u32();
        let seed = hex(REQUEST);
        for _ in 0..20_000 {
            let mut b: Vec<u8> = (0..(next() % 80)).map(|_| next() as u8).collect();
            if next() % 2 == 0 {
                b = seed.clone();
                let i = next() as usize % b.len();
                b[i] = next() as u8;
                b.truncate(next() as usize % (b.len() + 1));
            }
            let p = Packet::new_unchecked(&b[..]);
            let _ = (p.code(), p.length(), p.attributes(), p.authenticator());
            let _ = p.response_authentic(&AUTH, b"x");
            if let Ok(p) = Packet::new_checked(&b[..]) {
                let _ = Repr::parse(&p);
            }
        }
    }
}
