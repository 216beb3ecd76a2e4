//! ICMPv4 (RFC 792): echo request/reply and the error messages that quote one of our echo
//! requests (destination unreachable, time exceeded, parameter problem, source quench,
//! redirect). Any other type is `Repr::Unknown`, never a parse failure. No I/O.
//!
//! `parse_datagram` reads what a raw `AF_INET`/`IPPROTO_ICMP` socket delivers: the IPv4
//! header (source, TTL) followed by the ICMP message.
//!
//! `etherparse` computes the checksum and builds the echo header and the IPv4 header an error
//! message quotes; IPv4 headers are read through `ipv4` (etherparse's `Ipv4HeaderSlice`).
//! The ICMP message itself keeps a hand-written view, because etherparse's `Icmpv4Slice`
//! refuses a timestamp message (type 13/14) that is not exactly 20 bytes, where habox reads
//! any type as `Unknown`; its `Icmpv4Type` turns an echo with a non-zero code into `Unknown`,
//! where ping still reads it as an echo; and lkping describes errors from the raw
//! rest-of-header word as iputils does, which etherparse splits into per-type fields and
//! drops for codes it does not know.

use std::fmt;
use std::net::Ipv4Addr;

use etherparse::checksum::Sum16BitWords;
use etherparse::{IcmpEchoHeader, Icmpv4Header, Icmpv4Type, IpNumber, Ipv4Header};

use super::ipv4::{self, Ipv4Error};

/// Why bytes are not an ICMP message this module can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpError {
    /// Shorter than the 8-byte ICMP header.
    Truncated,
    /// The enclosing IPv4 header is unreadable.
    Ip(Ipv4Error),
    /// The datagram carries another protocol.
    NotIcmp(u8),
}

impl fmt::Display for IcmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IcmpError::Truncated => f.write_str("truncated ICMP message"),
            IcmpError::Ip(e) => write!(f, "{e}"),
            IcmpError::NotIcmp(p) => write!(f, "IP protocol {p} is not ICMP"),
        }
    }
}

impl std::error::Error for IcmpError {}

impl From<Ipv4Error> for IcmpError {
    fn from(e: Ipv4Error) -> Self {
        IcmpError::Ip(e)
    }
}

/// ICMP message types (RFC 792).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    EchoReply,
    DstUnreachable,
    SourceQuench,
    Redirect,
    EchoRequest,
    TimeExceeded,
    ParamProblem,
    Unknown(u8),
}

impl From<u8> for Message {
    fn from(t: u8) -> Self {
        match t {
            0 => Message::EchoReply,
            3 => Message::DstUnreachable,
            4 => Message::SourceQuench,
            5 => Message::Redirect,
            8 => Message::EchoRequest,
            11 => Message::TimeExceeded,
            12 => Message::ParamProblem,
            other => Message::Unknown(other),
        }
    }
}

impl From<Message> for u8 {
    fn from(m: Message) -> u8 {
        match m {
            Message::EchoReply => 0,
            Message::DstUnreachable => 3,
            Message::SourceQuench => 4,
            Message::Redirect => 5,
            Message::EchoRequest => 8,
            Message::TimeExceeded => 11,
            Message::ParamProblem => 12,
            Message::Unknown(t) => t,
        }
    }
}

mod field {
    use std::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    /// Rest-of-header of error messages: unused, next-hop MTU, gateway or pointer.
    pub const INFO: Range<usize> = 4..8;
    pub const HEADER_END: usize = 8;
}

/// Length of the ICMP header (type, code, checksum and the 4-byte rest of header).
pub const HEADER_LEN: usize = field::HEADER_END;

/// The Internet checksum (RFC 1071) of `data`: the ones' complement of the ones' complement
/// sum of its 16-bit big-endian words, an odd last byte padded with zero.
pub fn checksum(data: &[u8]) -> u16 {
    // etherparse sums native-endian words; the ones' complement sum does not care about byte
    // order, so swapping the result gives the big-endian value.
    Sum16BitWords::new()
        .add_slice(data)
        .ones_complement()
        .to_be()
}

/// The 20-byte IPv4 header an error message quotes: no options, no flags, TTL 64.
fn quoted_ipv4_header(q: &Quoted, total_len: u16) -> [u8; 20] {
    let mut h = Ipv4Header {
        total_len,
        dont_fragment: false,
        time_to_live: 64,
        protocol: IpNumber(q.protocol),
        source: q.src_addr.octets(),
        destination: q.dst_addr.octets(),
        ..Ipv4Header::default()
    };
    h.header_checksum = h.calc_header_checksum();
    let mut out = [0u8; 20];
    out.copy_from_slice(&h.to_bytes());
    out
}

/// A view of an ICMP message over a buffer.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking it; getters may then panic on a short buffer.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` after `check_len`: every getter is then safe.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, IcmpError> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The 8-byte header must be there.
    pub fn check_len(&self) -> Result<(), IcmpError> {
        if self.buffer.as_ref().len() < field::HEADER_END {
            Err(IcmpError::Truncated)
        } else {
            Ok(())
        }
    }

    /// The buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn u16_at(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.b()[at], self.b()[at + 1]])
    }

    pub fn msg_type(&self) -> Message {
        Message::from(self.b()[field::TYPE])
    }

    pub fn msg_code(&self) -> u8 {
        self.b()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM.start)
    }

    /// Identifier of an echo request or reply.
    pub fn echo_ident(&self) -> u16 {
        self.u16_at(field::ECHO_IDENT.start)
    }

    /// Sequence number of an echo request or reply.
    pub fn echo_seq_no(&self) -> u16 {
        self.u16_at(field::ECHO_SEQNO.start)
    }

    /// The rest-of-header word of an error message (next-hop MTU, gateway, pointer).
    pub fn info(&self) -> u32 {
        let i = &self.b()[field::INFO];
        u32::from_be_bytes([i[0], i[1], i[2], i[3]])
    }

    /// Everything after the 8-byte header.
    pub fn data(&self) -> &[u8] {
        &self.b()[field::HEADER_END..]
    }

    /// True when the checksum over the whole message is right.
    pub fn verify_checksum(&self) -> bool {
        checksum(self.b()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn put_u16(&mut self, at: usize, v: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_msg_type(&mut self, m: Message) {
        self.buffer.as_mut()[field::TYPE] = m.into();
    }

    pub fn set_msg_code(&mut self, code: u8) {
        self.buffer.as_mut()[field::CODE] = code;
    }

    pub fn set_echo_ident(&mut self, ident: u16) {
        self.put_u16(field::ECHO_IDENT.start, ident);
    }

    pub fn set_echo_seq_no(&mut self, seq_no: u16) {
        self.put_u16(field::ECHO_SEQNO.start, seq_no);
    }

    pub fn set_info(&mut self, info: u32) {
        self.buffer.as_mut()[field::INFO].copy_from_slice(&info.to_be_bytes());
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::HEADER_END..]
    }

    /// Computes and stores the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.put_u16(field::CHECKSUM.start, 0);
        let c = checksum(self.buffer.as_ref());
        self.put_u16(field::CHECKSUM.start, c);
    }
}

/// The kinds of ICMP error message that quote an offending datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    DstUnreachable,
    SourceQuench,
    Redirect,
    TimeExceeded,
    ParamProblem,
}

impl ErrorKind {
    fn message(self) -> Message {
        match self {
            ErrorKind::DstUnreachable => Message::DstUnreachable,
            ErrorKind::SourceQuench => Message::SourceQuench,
            ErrorKind::Redirect => Message::Redirect,
            ErrorKind::TimeExceeded => Message::TimeExceeded,
            ErrorKind::ParamProblem => Message::ParamProblem,
        }
    }
}

/// What an error message tells about the datagram it quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: u8,
    /// Identifier and sequence number when the quoted datagram is an ICMP echo request.
    pub echo: Option<(u16, u16)>,
}

/// A parsed ICMP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    /// An error message; `quoted` is `None` when the quoted header is unreadable.
    Error {
        kind: ErrorKind,
        code: u8,
        info: u32,
        quoted: Option<Quoted>,
    },
    /// A type this module does not interpret.
    Unknown { msg_type: u8, code: u8 },
}

impl<'a> Repr<'a> {
    /// Reads a checked packet. The checksum is not verified here (see
    /// `Packet::verify_checksum`): ping reports a bad one rather than dropping the reply.
    pub fn parse(packet: &Packet<&'a [u8]>) -> Repr<'a> {
        let data: &'a [u8] = packet.buffer.get(field::HEADER_END..).unwrap_or(&[]);
        let error = |kind| {
            let inner = data;
            let quoted = ipv4::Packet::new_checked(inner).ok().map(|ip| {
                let after = ip.payload();
                let echo = match (ip.protocol(), Packet::new_checked(after)) {
                    (ipv4::PROTO_ICMP, Ok(q)) if q.msg_type() == Message::EchoRequest => {
                        Some((q.echo_ident(), q.echo_seq_no()))
                    }
                    _ => None,
                };
                Quoted {
                    src_addr: ip.src_addr(),
                    dst_addr: ip.dst_addr(),
                    protocol: ip.protocol(),
                    echo,
                }
            });
            Repr::Error {
                kind,
                code: packet.msg_code(),
                info: packet.info(),
                quoted,
            }
        };
        match packet.msg_type() {
            Message::EchoRequest => Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            Message::EchoReply => Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            Message::DstUnreachable => error(ErrorKind::DstUnreachable),
            Message::SourceQuench => error(ErrorKind::SourceQuench),
            Message::Redirect => error(ErrorKind::Redirect),
            Message::TimeExceeded => error(ErrorKind::TimeExceeded),
            Message::ParamProblem => error(ErrorKind::ParamProblem),
            Message::Unknown(t) => Repr::Unknown {
                msg_type: t,
                code: packet.msg_code(),
            },
        }
    }

    /// Bytes `emit` writes. Errors quote a 20-byte IPv4 header and, for an echo, its 8-byte
    /// ICMP header.
    pub fn buffer_len(&self) -> usize {
        match self {
            Repr::EchoRequest { data, .. } | Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
            Repr::Error { quoted, .. } => {
                HEADER_LEN
                    + quoted.map_or(0, |q| 20 + if q.echo.is_some() { HEADER_LEN } else { 0 })
            }
            Repr::Unknown { .. } => HEADER_LEN,
        }
    }

    /// Writes the message into `packet` (at least `buffer_len` bytes; the excess is left as
    /// it is and covered by the checksum) and fills the checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        match *self {
            Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }
            | Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                let echo = IcmpEchoHeader {
                    id: ident,
                    seq: seq_no,
                };
                let icmp_type = if matches!(self, Repr::EchoRequest { .. }) {
                    Icmpv4Type::EchoRequest(echo)
                } else {
                    Icmpv4Type::EchoReply(echo)
                };
                // Type, code 0, a zero checksum (filled below, over the whole buffer) and the
                // identifier and sequence number.
                let header = Icmpv4Header::new(icmp_type).to_bytes();
                packet.buffer.as_mut()[..HEADER_LEN].copy_from_slice(&header);
                packet.data_mut()[..data.len()].copy_from_slice(data);
            }
            Repr::Error {
                kind,
                code,
                info,
                quoted,
            } => {
                packet.set_msg_type(kind.message());
                packet.set_msg_code(code);
                packet.set_info(info);
                if let Some(q) = quoted {
                    let echo_len = if q.echo.is_some() { HEADER_LEN } else { 0 };
                    let d = packet.data_mut();
                    d[..20].copy_from_slice(&quoted_ipv4_header(&q, 20 + echo_len as u16));
                    if let Some((ident, seq_no)) = q.echo {
                        let mut inner = Packet::new_unchecked(&mut d[20..28]);
                        Repr::EchoRequest {
                            ident,
                            seq_no,
                            data: &[],
                        }
                        .emit(&mut inner);
                    }
                }
            }
            Repr::Unknown { msg_type, code } => {
                packet.set_msg_type(Message::Unknown(msg_type));
                packet.set_msg_code(code);
                packet.set_info(0);
            }
        }
        packet.fill_checksum();
    }
}

/// An ICMP message as a raw IPv4 socket delivers it, with the IP header fields ping reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub ttl: u8,
    /// Bytes of ICMP received (ping's "N bytes from").
    pub icmp_len: usize,
    pub checksum_ok: bool,
    pub icmp: Repr<'a>,
}

/// Parses a whole IPv4 datagram carrying ICMP (what `recv` on a raw ICMP socket returns).
pub fn parse_datagram(datagram: &[u8]) -> Result<Datagram<'_>, IcmpError> {
    let ip = ipv4::Packet::new_checked(datagram)?;
    if ip.protocol() != ipv4::PROTO_ICMP {
        return Err(IcmpError::NotIcmp(ip.protocol()));
    }
    // The kernel hands over exactly the datagram: use what arrived, as ping does, not the
    // total-length field.
    let icmp_bytes = datagram.get(ip.header_len()..).unwrap_or(&[]);
    let packet = Packet::new_checked(icmp_bytes)?;
    Ok(Datagram {
        src_addr: ip.src_addr(),
        dst_addr: ip.dst_addr(),
        ttl: ip.ttl(),
        icmp_len: icmp_bytes.len(),
        checksum_ok: packet.verify_checksum(),
        icmp: Repr::parse(&Packet::new_unchecked(icmp_bytes)),
    })
}

#[cfg(test)]
#[path = "icmp_tests.rs"]
mod tests;
