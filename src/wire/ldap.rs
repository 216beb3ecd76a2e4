//! LDAPv3 messages (RFC 4511) in BER (X.690, definite lengths only, as §5.1 requires): the
//! three requests ldirectord's ldap check sends (simple Bind, a baseObject Search for
//! `(objectClass=*)`, Unbind) and the responses it reads (BindResponse, SearchResultEntry,
//! SearchResultDone; anything else is `Response::Other(tag)`). A message is decoded from the
//! front of a byte stream: `Ok(None)` means "not all of it has arrived yet". Malformed BER is
//! an error, never a panic. BER has no fixed layout, so there is no `Packet` view over a
//! buffer: `Request::emit` and `Message::parse` play the smoltcp `Repr` roles.

use std::fmt;

/// BER universal tags used here.
mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const ENUMERATED: u8 = 0x0a;
    pub const SEQUENCE: u8 = 0x30;
    /// [APPLICATION n] protocolOp tags (RFC 4511 §4.2 - §4.5, constructed unless noted).
    pub const BIND_REQUEST: u8 = 0x60;
    pub const BIND_RESPONSE: u8 = 0x61;
    /// UnbindRequest is `[APPLICATION 2] NULL`: primitive.
    pub const UNBIND_REQUEST: u8 = 0x42;
    pub const SEARCH_REQUEST: u8 = 0x63;
    pub const SEARCH_RESULT_ENTRY: u8 = 0x64;
    pub const SEARCH_RESULT_DONE: u8 = 0x65;
    /// AuthenticationChoice `simple [0] OCTET STRING` (context, primitive).
    pub const AUTH_SIMPLE: u8 = 0x80;
    /// Filter `present [7] AttributeDescription` (context, primitive).
    pub const FILTER_PRESENT: u8 = 0x87;
}

/// The biggest message accepted (a base search answers with one entry; 1 MiB is plenty).
pub const MAX_MESSAGE: usize = 1 << 20;

/// Why bytes are not an LDAP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapError {
    /// Indefinite or over-long length, multi-byte tag, or a length beyond the enclosing value.
    BadEncoding,
    /// Longer than `MAX_MESSAGE`.
    TooBig,
    /// Not an LDAPMessage SEQUENCE, or a field of the wrong type.
    NotLdap,
}

impl fmt::Display for LdapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LdapError::BadEncoding => f.write_str("malformed BER"),
            LdapError::TooBig => f.write_str("LDAP message too big"),
            LdapError::NotLdap => f.write_str("not an LDAP message"),
        }
    }
}

impl std::error::Error for LdapError {}

/// One BER value: its tag, contents, and the bytes it took in the input.
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
    len: usize,
}

/// Reads one value from the front of `b`. `Ok(None)`: incomplete.
fn read_tlv(b: &[u8]) -> Result<Option<Tlv<'_>>, LdapError> {
    let (Some(&t), Some(&l0)) = (b.first(), b.get(1)) else {
        return Ok(None);
    };
    if t & 0x1f == 0x1f {
        // High tag numbers do not occur in LDAP.
        return Err(LdapError::BadEncoding);
    }
    let (len, head) = if l0 < 0x80 {
        (usize::from(l0), 2)
    } else {
        let n = usize::from(l0 & 0x7f);
        // 0x80 is the indefinite form (forbidden by RFC 4511 §5.1); > 4 bytes is absurd here.
        if n == 0 || n > 4 {
            return Err(LdapError::BadEncoding);
        }
        let Some(bytes) = b.get(2..2 + n) else {
            return Ok(None);
        };
        let len = bytes
            .iter()
            .fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
        (len, 2 + n)
    };
    if len > MAX_MESSAGE {
        return Err(LdapError::TooBig);
    }
    match b.get(head..head + len) {
        Some(body) => Ok(Some(Tlv {
            tag: t,
            body,
            len: head + len,
        })),
        None => Ok(None),
    }
}

/// Reads one value that must be entirely inside `b` (a field of a complete message).
fn field(b: &[u8]) -> Result<Tlv<'_>, LdapError> {
    read_tlv(b)?.ok_or(LdapError::BadEncoding)
}

/// Reads the fields of a constructed value in order.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn next(&mut self) -> Result<Tlv<'a>, LdapError> {
        let v = field(self.0)?;
        self.0 = self.0.get(v.len..).unwrap_or_default();
        Ok(v)
    }

    fn expect(&mut self, tag: u8) -> Result<&'a [u8], LdapError> {
        let v = self.next()?;
        if v.tag != tag {
            return Err(LdapError::NotLdap);
        }
        Ok(v.body)
    }
}

/// A BER INTEGER or ENUMERATED that fits in an i64 (two's complement, big-endian).
fn integer(body: &[u8]) -> Result<i64, LdapError> {
    if body.is_empty() || body.len() > 8 {
        return Err(LdapError::BadEncoding);
    }
    let neg = body.first().is_some_and(|&b| b & 0x80 != 0);
    let start: i64 = if neg { -1 } else { 0 };
    Ok(body.iter().fold(start, |acc, &x| (acc << 8) | i64::from(x)))
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

fn emit_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn emit_tlv(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    emit_len(out, body.len());
    out.extend_from_slice(body);
}

/// The minimal two's-complement encoding of a non-negative integer.
fn emit_uint(out: &mut Vec<u8>, tag: u8, v: u32) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    let significant = bytes.get(skip..).unwrap_or(&[0]);
    let mut body = Vec::with_capacity(5);
    if significant.first().is_some_and(|&b| b & 0x80 != 0) {
        // A leading zero byte keeps the value positive.
        body.push(0);
    }
    body.extend_from_slice(significant);
    emit_tlv(out, tag, &body);
}

/// A request ldirectord sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Simple bind, LDAPv3 (RFC 4511 §4.2); an empty name and password is an anonymous bind.
    Bind {
        name: String,
        password: String,
    },
    /// `scope baseObject, derefAliases derefFindingBaseObj, no limits, filter
    /// (objectClass=*)`: what Net::LDAP's `search(scope => "base")` sends, but for the
    /// attributes: only the DN is judged, so none is asked for (the list `1.1`, RFC 4511
    /// §4.5.1.8). With all of them, an entry over `MAX_MESSAGE` (a large photo or
    /// certificate attribute) was "LDAP message too big" and its healthy server down.
    SearchBase {
        base: String,
    },
    Unbind,
}

impl Request {
    /// The whole LDAPMessage with `id`.
    pub fn emit(&self, id: u32) -> Vec<u8> {
        let mut op = Vec::new();
        match self {
            Request::Bind { name, password } => {
                let mut b = Vec::new();
                emit_uint(&mut b, tag::INTEGER, 3);
                emit_tlv(&mut b, tag::OCTET_STRING, name.as_bytes());
                emit_tlv(&mut b, tag::AUTH_SIMPLE, password.as_bytes());
                emit_tlv(&mut op, tag::BIND_REQUEST, &b);
            }
            Request::SearchBase { base } => {
                let mut b = Vec::new();
                emit_tlv(&mut b, tag::OCTET_STRING, base.as_bytes());
                emit_tlv(&mut b, tag::ENUMERATED, &[0]); // scope baseObject
                emit_tlv(&mut b, tag::ENUMERATED, &[2]); // derefFindingBaseObj (Net::LDAP's default)
                emit_uint(&mut b, tag::INTEGER, 0); // sizeLimit
                emit_uint(&mut b, tag::INTEGER, 0); // timeLimit
                emit_tlv(&mut b, tag::BOOLEAN, &[0]); // typesOnly
                emit_tlv(&mut b, tag::FILTER_PRESENT, b"objectClass");
                let mut attrs = Vec::new();
                emit_tlv(&mut attrs, tag::OCTET_STRING, b"1.1"); // no attributes
                emit_tlv(&mut b, tag::SEQUENCE, &attrs);
                emit_tlv(&mut op, tag::SEARCH_REQUEST, &b);
            }
            Request::Unbind => emit_tlv(&mut op, tag::UNBIND_REQUEST, &[]),
        }
        let mut m = Vec::new();
        emit_uint(&mut m, tag::INTEGER, id);
        m.extend_from_slice(&op);
        let mut out = Vec::new();
        emit_tlv(&mut out, tag::SEQUENCE, &m);
        out
    }
}

/// An LDAP result code (RFC 4511 §4.1.9 and Appendix A); any value is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultCode(pub i64);

impl ResultCode {
    pub const SUCCESS: ResultCode = ResultCode(0);

    /// The RFC's name for the common codes.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "success",
            1 => "operationsError",
            2 => "protocolError",
            3 => "timeLimitExceeded",
            4 => "sizeLimitExceeded",
            7 => "authMethodNotSupported",
            8 => "strongerAuthRequired",
            10 => "referral",
            13 => "confidentialityRequired",
            32 => "noSuchObject",
            34 => "invalidDNSyntax",
            48 => "inappropriateAuthentication",
            49 => "invalidCredentials",
            50 => "insufficientAccessRights",
            51 => "busy",
            52 => "unavailable",
            53 => "unwillingToPerform",
            80 => "other",
            _ => "unknown",
        }
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// LDAPResult (RFC 4511 §4.1.9), without the referral URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapResult {
    pub code: ResultCode,
    pub matched_dn: String,
    pub diagnostic: String,
}

impl fmt::Display for LdapResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if !self.diagnostic.is_empty() {
            write!(f, ": {}", self.diagnostic)?;
        }
        Ok(())
    }
}

/// The responses the check reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Bind(LdapResult),
    /// A SearchResultEntry; only its DN (objectName) is kept.
    Entry {
        dn: String,
    },
    SearchDone(LdapResult),
    /// Any other protocolOp (a reference, an unsolicited notification, ...), by tag.
    Other(u8),
}

/// A received LDAPMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: i64,
    pub response: Response,
}

fn ldap_result(body: &[u8]) -> Result<LdapResult, LdapError> {
    let mut f = Fields(body);
    let code = ResultCode(integer(f.expect(tag::ENUMERATED)?)?);
    let matched_dn = text(f.expect(tag::OCTET_STRING)?);
    let diagnostic = text(f.expect(tag::OCTET_STRING)?);
    Ok(LdapResult {
        code,
        matched_dn,
        diagnostic,
    })
}

impl Message {
    /// Decodes the message at the front of `stream`, and how many bytes it took.
    /// `Ok(None)`: the message is not complete yet.
    pub fn parse(stream: &[u8]) -> Result<Option<(Message, usize)>, LdapError> {
        // Judge the first byte at once: a non-LDAP peer is not waited on.
        if stream.first().is_some_and(|&t| t != tag::SEQUENCE) {
            return Err(LdapError::NotLdap);
        }
        let Some(outer) = read_tlv(stream)? else {
            return Ok(None);
        };
        let mut f = Fields(outer.body);
        let id = integer(f.expect(tag::INTEGER)?)?;
        let op = f.next()?;
        let response = match op.tag {
            tag::BIND_RESPONSE => Response::Bind(ldap_result(op.body)?),
            tag::SEARCH_RESULT_DONE => Response::SearchDone(ldap_result(op.body)?),
            tag::SEARCH_RESULT_ENTRY => Response::Entry {
                dn: text(Fields(op.body).expect(tag::OCTET_STRING)?),
            },
            other => Response::Other(other),
        };
        Ok(Some((Message { id, response }, outer.len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::{hex, Xorshift32};

    #[test]
    fn bind_request_bytes() {
        let b = Request::Bind {
            name: "cn=admin,dc=example,dc=test".into(),
            password: "secret".into(),
        }
        .emit(1);
        let mut want = hex("302d020101602802010304");
        want.push(27);
        want.extend_from_slice(b"cn=admin,dc=example,dc=test");
        want.extend_from_slice(&[0x80, 6]);
        want.extend_from_slice(b"secret");
        assert_eq!(b, want);
        assert_eq!(
            Request::Bind {
                name: String::new(),
                password: String::new()
            }
            .emit(1),
            hex("300c020101600702010304008000")
        );
    }

    #[test]
    fn search_request_bytes() {
        let b = Request::SearchBase {
            base: "ou=web,dc=example,dc=test".into(),
        }
        .emit(2);
        let mut want = hex("3043020102633e04");
        want.push(25);
        want.extend_from_slice(b"ou=web,dc=example,dc=test");
        want.extend_from_slice(&hex("0a01000a0102020100020100010100870b"));
        want.extend_from_slice(b"objectClass");
        want.extend_from_slice(&[0x30, 5, 0x04, 3]);
        want.extend_from_slice(b"1.1");
        assert_eq!(b, want);
        assert_eq!(Request::Unbind.emit(3), hex("30050201034200"));
    }

    #[test]
    fn long_lengths_and_ids() {
        let base = "x".repeat(300);
        let b = Request::SearchBase { base: base.clone() }.emit(200);
        // Outer length in the two-byte long form, id 200 with a leading zero byte.
        assert_eq!(&b[..2], &[0x30, 0x82]);
        assert_eq!(&b[4..8], &[0x02, 0x02, 0x00, 200]);
        let mut v = Vec::new();
        emit_uint(&mut v, tag::INTEGER, u32::MAX);
        assert_eq!(v, hex("020500ffffffff"));
    }

    // Captured from OpenLDAP slapd 2.5.13 (Debian 12).
    const BIND_OK: &str = "300c02010161070a010004000400";
    const BIND_BAD_CREDENTIALS: &str = "300c02010161070a013104000400";
    const ENTRY_AND_DONE: &str = "3054020102644f04196f753d7765622c64633d6578616d706c652c64633d7465737430323023040b6f626a656374436c617373311404126f7267616e697a6174696f6e616c556e6974300b04026f7531050403776562300c02010265070a010004000400";
    const NO_SUCH_OBJECT: &str = "301e02010265190a0120041264633d6578616d706c652c64633d746573740400";

    #[test]
    fn parses_slapd_responses() {
        let (m, n) = Message::parse(&hex(BIND_OK)).unwrap().unwrap();
        assert_eq!(n, 14);
        assert_eq!(m.id, 1);
        assert_eq!(
            m.response,
            Response::Bind(LdapResult {
                code: ResultCode::SUCCESS,
                matched_dn: String::new(),
                diagnostic: String::new()
            })
        );
        let (m, _) = Message::parse(&hex(BIND_BAD_CREDENTIALS)).unwrap().unwrap();
        let Response::Bind(r) = m.response else {
            panic!("{m:?}")
        };
        assert_eq!(r.to_string(), "invalidCredentials (49)");

        let both = hex(ENTRY_AND_DONE);
        let (m, n) = Message::parse(&both).unwrap().unwrap();
        assert_eq!(
            m.response,
            Response::Entry {
                dn: "ou=web,dc=example,dc=test".into()
            }
        );
        let (m, k) = Message::parse(&both[n..]).unwrap().unwrap();
        assert_eq!(n + k, both.len());
        assert!(matches!(m.response, Response::SearchDone(r) if r.code == ResultCode::SUCCESS));

        let (m, _) = Message::parse(&hex(NO_SUCH_OBJECT)).unwrap().unwrap();
        let Response::SearchDone(r) = m.response else {
            panic!()
        };
        assert_eq!(r.code.name(), "noSuchObject");
        assert_eq!(r.matched_dn, "dc=example,dc=test");
    }

    #[test]
    fn incomplete_until_the_last_byte() {
        let b = hex(ENTRY_AND_DONE);
        let first = Message::parse(&b).unwrap().unwrap().1;
        for cut in 0..first {
            assert_eq!(Message::parse(&b[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn rejects_bad_ber() {
        // Indefinite length, high tag number, not a SEQUENCE (known from the first byte),
        // length past the end of a field.
        assert_eq!(
            Message::parse(&[0x30, 0x80, 0, 0]),
            Err(LdapError::BadEncoding)
        );
        assert_eq!(
            Message::parse(&[0x30, 3, 0x1f, 1, 0]),
            Err(LdapError::BadEncoding)
        );
        assert_eq!(Message::parse(&[0x04, 1, 0]), Err(LdapError::NotLdap));
        assert_eq!(Message::parse(b"H"), Err(LdapError::NotLdap));
        assert_eq!(
            Message::parse(&hex("3005020101610a")),
            Err(LdapError::BadEncoding)
        );
        assert_eq!(
            Message::parse(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]),
            Err(LdapError::TooBig)
        );
        // An unknown protocolOp is kept by tag, not an error.
        let (m, _) = Message::parse(&hex("30050201017800")).unwrap().unwrap();
        assert_eq!(m.response, Response::Other(0x78));
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = Xorshift32(0x1234_5678);
        let mut next = || rng.next_u32();
        let seed = hex(ENTRY_AND_DONE);
        for _ in 0..20_000 {
            let len = (next() % 96) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if next() % 2 == 0 {
                // Mutate a real message so the parser gets deep.
                b = seed.clone();
                for _ in 0..(next() % 4 + 1) {
                    let i = next() as usize % b.len();
                    b[i] = next() as u8;
                }
                b.truncate(next() as usize % (b.len() + 1));
            }
            let _ = Message::parse(&b);
        }
    }
}
