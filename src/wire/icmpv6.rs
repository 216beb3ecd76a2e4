//! ICMPv6 (RFC 4443) and the two Neighbor Discovery messages habox uses (RFC 4861 §4.3,
//! §4.4): echo request/reply, the error messages that quote one of our echo requests, and
//! Neighbor Solicitation/Advertisement with their source/target link-layer address options
//! and the Nonce option (RFC 3971 §5.3.2, 6 bytes as RFC 7527 sends it).
//! Parsing and checksums are `etherparse`'s; this module only gives them the shape the
//! rest of habox reads (`Repr`, smoltcp-style). Any other type is `Repr::Unknown`, never a
//! parse failure. No I/O.
//!
//! A raw `AF_INET6`/`IPPROTO_ICMPV6` socket delivers the ICMPv6 message without the IPv6
//! header (source and hop limit come from recvmsg), so `Repr::parse` takes the message alone.

use std::fmt;
use std::net::Ipv6Addr;

use etherparse::icmpv6::{
    DestUnreachableCode, NdpOptionSlice, NdpOptionsIterator, NeighborAdvertisementHeader,
    ParameterProblemCode, ParameterProblemHeader, TimeExceededCode,
};
use etherparse::{IcmpEchoHeader, Icmpv6Slice, Icmpv6Type, Ipv6HeaderSlice};

/// IPv6 next-header number of ICMPv6.
pub const PROTO_ICMPV6: u8 = 58;
/// Length of the ICMPv6 header (type, code, checksum and the 4-byte rest of header).
pub const HEADER_LEN: usize = 8;
/// Type numbers (RFC 4443 §2.1, RFC 4861 §4).
pub const TYPE_DST_UNREACH: u8 = 1;
pub const TYPE_PACKET_TOO_BIG: u8 = 2;
pub const TYPE_TIME_EXCEEDED: u8 = 3;
pub const TYPE_PARAM_PROBLEM: u8 = 4;
pub const TYPE_ECHO_REQUEST: u8 = 128;
pub const TYPE_ECHO_REPLY: u8 = 129;
pub const TYPE_NEIGHBOR_SOLICITATION: u8 = 135;
pub const TYPE_NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// The Nonce option's type (RFC 3971 §5.3.2).
pub const OPTION_NONCE: u8 = 14;

/// Why bytes are not an ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Error {
    /// Shorter than the 8-byte header, or than the fixed part of its type.
    Truncated,
}

impl fmt::Display for Icmpv6Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Icmpv6Error::Truncated => f.write_str("truncated ICMPv6 message"),
        }
    }
}

impl std::error::Error for Icmpv6Error {}

/// The kinds of ICMPv6 error message (they all quote the offending packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    DstUnreachable,
    PacketTooBig,
    TimeExceeded,
    ParamProblem,
}

impl ErrorKind {
    fn type_u8(self) -> u8 {
        match self {
            ErrorKind::DstUnreachable => TYPE_DST_UNREACH,
            ErrorKind::PacketTooBig => TYPE_PACKET_TOO_BIG,
            ErrorKind::TimeExceeded => TYPE_TIME_EXCEEDED,
            ErrorKind::ParamProblem => TYPE_PARAM_PROBLEM,
        }
    }
}

/// What an error message tells about the packet it quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    pub src_addr: Ipv6Addr,
    pub dst_addr: Ipv6Addr,
    pub next_header: u8,
    /// Identifier and sequence number when the quoted packet is an ICMPv6 echo request.
    pub echo: Option<(u16, u16)>,
}

/// The flags of a Neighbor Advertisement (RFC 4861 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NaFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: an answer to a solicitation.
    pub solicited: bool,
    /// O: the advertised link-layer address replaces a cached one.
    pub override_cache: bool,
}

/// A parsed ICMPv6 message.
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
    /// An error; `info` is the MTU (packet too big) or the pointer (parameter problem);
    /// `quoted` is `None` when the quoted header is unreadable.
    Error {
        kind: ErrorKind,
        code: u8,
        info: u32,
        quoted: Option<Quoted>,
    },
    /// "Who has `target`?"; the source link-layer address option and a 6-byte Nonce option
    /// when present.
    NeighborSolicitation {
        target: Ipv6Addr,
        source_lladdr: Option<[u8; 6]>,
        nonce: Option<[u8; 6]>,
    },
    /// "`target` is at ..."; the target link-layer address option and a 6-byte Nonce option
    /// (the echo of a solicitation's) when present.
    NeighborAdvertisement {
        flags: NaFlags,
        target: Ipv6Addr,
        target_lladdr: Option<[u8; 6]>,
        nonce: Option<[u8; 6]>,
    },
    /// A type this module does not interpret (router messages, MLD, redirect ...).
    Unknown { msg_type: u8, code: u8 },
}

/// The first 6-byte link-layer address option of `kind` (1 source, 2 target); a malformed
/// option list ends the search (RFC 4861 §4.6: such a packet is dropped by hosts, but the
/// address fields before it are still what the sender meant).
fn lladdr_option(options: &[u8], want_source: bool) -> Option<[u8; 6]> {
    for opt in NdpOptionsIterator::from_slice(options) {
        let bytes = match opt {
            Ok(NdpOptionSlice::SourceLinkLayerAddress(o)) if want_source => o.link_layer_address(),
            Ok(NdpOptionSlice::TargetLinkLayerAddress(o)) if !want_source => o.link_layer_address(),
            Ok(_) => continue,
            Err(_) => return None,
        };
        if let Some(mac) = bytes.get(..6).and_then(|b| <[u8; 6]>::try_from(b).ok()) {
            return Some(mac);
        }
    }
    None
}

/// The first Nonce option of 6 bytes (one 8-byte unit); a malformed option list ends the
/// search. Longer nonces (SEND's own) are not ours and are skipped.
fn nonce_option(options: &[u8]) -> Option<[u8; 6]> {
    for opt in NdpOptionsIterator::from_slice(options) {
        match opt {
            Ok(NdpOptionSlice::Unknown(o)) if o.option_type().0 == OPTION_NONCE => {
                if let Ok(n) = <[u8; 6]>::try_from(o.data()) {
                    return Some(n);
                }
            }
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    None
}

fn quoted(payload: &[u8]) -> Option<Quoted> {
    let ip = Ipv6HeaderSlice::from_slice(payload).ok()?;
    let after = payload.get(ip.slice().len()..).unwrap_or(&[]);
    let next_header = ip.next_header().0;
    let echo = match Icmpv6Slice::from_slice(after).map(|s| s.icmp_type()) {
        Ok(Icmpv6Type::EchoRequest(e)) if next_header == PROTO_ICMPV6 => Some((e.id, e.seq)),
        _ => None,
    };
    Some(Quoted {
        src_addr: ip.source_addr(),
        dst_addr: ip.destination_addr(),
        next_header,
        echo,
    })
}

fn target_of(payload: &[u8]) -> Result<(Ipv6Addr, &[u8]), Icmpv6Error> {
    let t: [u8; 16] = payload
        .get(..16)
        .and_then(|b| b.try_into().ok())
        .ok_or(Icmpv6Error::Truncated)?;
    Ok((Ipv6Addr::from(t), payload.get(16..).unwrap_or(&[])))
}

impl<'a> Repr<'a> {
    /// Reads one ICMPv6 message. The checksum is not verified here: the kernel checks it
    /// before a raw socket sees the message, and frames read off the link are checked by
    /// `ndisc::parse_frame`.
    pub fn parse(bytes: &'a [u8]) -> Result<Repr<'a>, Icmpv6Error> {
        let slice = Icmpv6Slice::from_slice(bytes).map_err(|_| Icmpv6Error::Truncated)?;
        let payload = slice.payload();
        let rest = slice.bytes5to8();
        let info = u32::from_be_bytes(rest);
        let (t, code) = (slice.type_u8(), slice.code_u8());
        let error = |kind| Repr::Error {
            kind,
            code,
            info,
            quoted: quoted(payload),
        };
        Ok(match slice.icmp_type() {
            Icmpv6Type::EchoRequest(e) => Repr::EchoRequest {
                ident: e.id,
                seq_no: e.seq,
                data: payload,
            },
            Icmpv6Type::EchoReply(e) => Repr::EchoReply {
                ident: e.id,
                seq_no: e.seq,
                data: payload,
            },
            _ if t == TYPE_DST_UNREACH => error(ErrorKind::DstUnreachable),
            _ if t == TYPE_PACKET_TOO_BIG => error(ErrorKind::PacketTooBig),
            _ if t == TYPE_TIME_EXCEEDED => error(ErrorKind::TimeExceeded),
            _ if t == TYPE_PARAM_PROBLEM => error(ErrorKind::ParamProblem),
            Icmpv6Type::NeighborSolicitation => {
                let (target, options) = target_of(payload)?;
                Repr::NeighborSolicitation {
                    target,
                    source_lladdr: lladdr_option(options, true),
                    nonce: nonce_option(options),
                }
            }
            Icmpv6Type::NeighborAdvertisement(h) => {
                let (target, options) = target_of(payload)?;
                Repr::NeighborAdvertisement {
                    flags: NaFlags {
                        router: h.router,
                        solicited: h.solicited,
                        override_cache: h.r#override,
                    },
                    target,
                    target_lladdr: lladdr_option(options, false),
                    nonce: nonce_option(options),
                }
            }
            _ => Repr::Unknown { msg_type: t, code },
        })
    }

    /// The etherparse type (bytes 0..8 but the checksum) and the bytes after the header.
    fn parts(&self) -> (Icmpv6Type, Vec<u8>) {
        let lladdr_option = |kind: u8, mac: Option<[u8; 6]>| -> Vec<u8> {
            // RFC 4861 §4.6.1: type, length in 8-byte units (1), the Ethernet address.
            mac.map_or(Vec::new(), |m| {
                let mut o = vec![kind, 1];
                o.extend_from_slice(&m);
                o
            })
        };
        let nonce_option = |nonce: Option<[u8; 6]>| -> Vec<u8> {
            // RFC 3971 §5.3.2: type 14, length 1, six bytes of nonce.
            nonce.map_or(Vec::new(), |n| {
                let mut o = vec![OPTION_NONCE, 1];
                o.extend_from_slice(&n);
                o
            })
        };
        match *self {
            Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (
                Icmpv6Type::EchoRequest(IcmpEchoHeader {
                    id: ident,
                    seq: seq_no,
                }),
                data.to_vec(),
            ),
            Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (
                Icmpv6Type::EchoReply(IcmpEchoHeader {
                    id: ident,
                    seq: seq_no,
                }),
                data.to_vec(),
            ),
            Repr::Error {
                kind, code, info, ..
            } => {
                let t = match kind {
                    ErrorKind::DstUnreachable => {
                        DestUnreachableCode::from_u8(code).map(Icmpv6Type::DestinationUnreachable)
                    }
                    ErrorKind::PacketTooBig => {
                        (code == 0).then_some(Icmpv6Type::PacketTooBig { mtu: info })
                    }
                    ErrorKind::TimeExceeded => {
                        TimeExceededCode::from_u8(code).map(Icmpv6Type::TimeExceeded)
                    }
                    ErrorKind::ParamProblem => ParameterProblemCode::from_u8(code).map(|c| {
                        Icmpv6Type::ParameterProblem(ParameterProblemHeader {
                            code: c,
                            pointer: info,
                        })
                    }),
                };
                let t = t.unwrap_or(Icmpv6Type::Unknown {
                    type_u8: kind.type_u8(),
                    code_u8: code,
                    bytes5to8: info.to_be_bytes(),
                });
                (t, Vec::new())
            }
            Repr::NeighborSolicitation {
                target,
                source_lladdr,
                nonce,
            } => {
                let mut p = target.octets().to_vec();
                p.extend(lladdr_option(1, source_lladdr));
                p.extend(nonce_option(nonce));
                (Icmpv6Type::NeighborSolicitation, p)
            }
            Repr::NeighborAdvertisement {
                flags,
                target,
                target_lladdr,
                nonce,
            } => {
                let mut p = target.octets().to_vec();
                p.extend(lladdr_option(2, target_lladdr));
                p.extend(nonce_option(nonce));
                (
                    Icmpv6Type::NeighborAdvertisement(NeighborAdvertisementHeader {
                        router: flags.router,
                        solicited: flags.solicited,
                        r#override: flags.override_cache,
                    }),
                    p,
                )
            }
            Repr::Unknown { msg_type, code } => (
                Icmpv6Type::Unknown {
                    type_u8: msg_type,
                    code_u8: code,
                    bytes5to8: [0; 4],
                },
                Vec::new(),
            ),
        }
    }

    /// The etherparse type and the bytes after the 8-byte header, for `ndisc`'s frame
    /// builder.
    pub(crate) fn type_and_payload(&self) -> (Icmpv6Type, Vec<u8>) {
        self.parts()
    }

    /// The message as bytes with the checksum over the pseudo-header of `src` → `dst`
    /// (RFC 4443 §2.3). Errors are written without a quoted packet.
    pub fn to_bytes(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
        let (t, payload) = self.parts();
        let checksum = t
            .calc_checksum(src.octets(), dst.octets(), &payload)
            .unwrap_or(0);
        let header = etherparse::Icmpv6Header {
            icmp_type: t,
            checksum,
        };
        let mut out = header.to_bytes().to_vec();
        out.extend_from_slice(&payload);
        out
    }
}

/// True when the checksum of `bytes` (a whole ICMPv6 message) from `src` to `dst` is right.
pub fn checksum_ok(bytes: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> bool {
    Icmpv6Slice::from_slice(bytes).is_ok_and(|s| s.is_checksum_valid(src.octets(), dst.octets()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::{hex, Xorshift32};

    const A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

    #[test]
    fn echo_request_bytes_and_checksum_follow_rfc_4443() {
        // An echo request like iputils `ping -6 -s 4` sends from 2001:db8::1 to 2001:db8::2,
        // id 0x1234, seq 1, data 00 01 02 03; checksum 0x100b over the RFC 4443 §2.3
        // pseudo-header, worked out independently of etherparse.
        let repr = Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 1,
            data: &[0, 1, 2, 3],
        };
        let bytes = repr.to_bytes(A, B);
        assert_eq!(bytes, hex("80 00 100b 1234 0001 00010203"));
        assert!(checksum_ok(&bytes, A, B));
        assert!(!checksum_ok(&bytes, A, A));
        assert_eq!(Repr::parse(&bytes), Ok(repr));
    }

    #[test]
    fn echo_reply_round_trips() {
        let repr = Repr::EchoReply {
            ident: 7,
            seq_no: 65535,
            data: b"hello",
        };
        let bytes = repr.to_bytes(B, A);
        assert_eq!(bytes.len(), 13);
        assert_eq!(Repr::parse(&bytes), Ok(repr));
    }

    #[test]
    fn address_unreachable_quoting_our_echo_is_read() {
        // What the kernel sends when neighbour resolution for 2001:db8::9 fails: type 1 code
        // 3, quoting our IPv6 header and echo request.
        let mut bytes = hex("01 03 0000 00000000");
        bytes.extend(hex("60000000 0010 3a 40"));
        bytes.extend(A.octets());
        bytes.extend(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9).octets());
        bytes.extend(hex("80 00 0000 beef 0003 0000000000000000"));
        assert_eq!(
            Repr::parse(&bytes),
            Ok(Repr::Error {
                kind: ErrorKind::DstUnreachable,
                code: 3,
                info: 0,
                quoted: Some(Quoted {
                    src_addr: A,
                    dst_addr: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9),
                    next_header: 58,
                    echo: Some((0xbeef, 3)),
                }),
            })
        );
    }

    #[test]
    fn packet_too_big_carries_the_mtu() {
        let bytes = hex("02 00 0000 000005dc");
        assert_eq!(
            Repr::parse(&bytes),
            Ok(Repr::Error {
                kind: ErrorKind::PacketTooBig,
                code: 0,
                info: 1500,
                quoted: None,
            })
        );
    }

    #[test]
    fn neighbor_advertisement_with_override_and_target_lladdr() {
        // An unsolicited NA as `ndisc6`/keepalived send it: flags R=0 S=0 O=1, target, option
        // type 2 length 1 with the MAC.
        let mut bytes = hex("88 00 0000 20000000");
        bytes.extend(A.octets());
        bytes.extend(hex("0201 02c6336400 0a"));
        let repr = Repr::parse(&bytes).unwrap();
        assert_eq!(
            repr,
            Repr::NeighborAdvertisement {
                flags: NaFlags {
                    router: false,
                    solicited: false,
                    override_cache: true
                },
                target: A,
                target_lladdr: Some([0x02, 0xc6, 0x33, 0x64, 0x00, 0x0a]),
                nonce: None,
            }
        );
        let out = repr.to_bytes(A, "ff02::1".parse().unwrap());
        assert_eq!(&out[4..], &bytes[4..]);
        assert!(checksum_ok(&out, A, "ff02::1".parse().unwrap()));
    }

    #[test]
    fn neighbor_solicitation_round_trips_with_and_without_option() {
        for lladdr in [None, Some([2, 0, 0, 0, 0, 1])] {
            let repr = Repr::NeighborSolicitation {
                target: B,
                source_lladdr: lladdr,
                nonce: None,
            };
            let bytes = repr.to_bytes(A, B);
            assert_eq!(bytes.len(), 24 + if lladdr.is_some() { 8 } else { 0 });
            assert_eq!(Repr::parse(&bytes), Ok(repr));
        }
    }

    #[test]
    fn nonce_option_is_type_14_of_one_unit_and_round_trips_in_ns_and_na() {
        let nonce = [1, 2, 3, 4, 5, 6];
        let ns = Repr::NeighborSolicitation {
            target: B,
            source_lladdr: None,
            nonce: Some(nonce),
        };
        let bytes = ns.to_bytes(Ipv6Addr::UNSPECIFIED, B);
        assert_eq!(&bytes[24..], &hex("0e01 010203040506")[..]);
        assert_eq!(Repr::parse(&bytes), Ok(ns));
        let na = Repr::NeighborAdvertisement {
            flags: NaFlags::default(),
            target: B,
            target_lladdr: Some([2, 0, 0, 0, 0, 1]),
            nonce: Some(nonce),
        };
        let bytes = na.to_bytes(B, A);
        assert_eq!(
            &bytes[24..],
            &hex("0201 020000000001 0e01 010203040506")[..]
        );
        assert_eq!(Repr::parse(&bytes), Ok(na));
        // A longer nonce (SEND's, two units) is not ours: no nonce read.
        let mut long = Repr::NeighborSolicitation {
            target: B,
            source_lladdr: None,
            nonce: None,
        }
        .to_bytes(Ipv6Addr::UNSPECIFIED, B);
        long.extend(hex("0e02 0102030405060708090a0b0c0d0e"));
        assert!(matches!(
            Repr::parse(&long),
            Ok(Repr::NeighborSolicitation { nonce: None, .. })
        ));
    }

    #[test]
    fn short_messages_are_truncated_and_unknown_types_are_not_errors() {
        assert_eq!(Repr::parse(&[128, 0, 0]), Err(Icmpv6Error::Truncated));
        // An NS without its 16-byte target.
        assert_eq!(
            Repr::parse(&hex("87 00 0000 00000000 2001")),
            Err(Icmpv6Error::Truncated)
        );
        assert_eq!(
            Repr::parse(&hex("86 00 0000 00000000 00000000 00000000")),
            Ok(Repr::Unknown {
                msg_type: 134,
                code: 0
            })
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = Xorshift32(0x1234_5678);
        for len in 0..120usize {
            for round in 0..60u32 {
                let mut buf: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
                if let Some(b) = buf.get_mut(0) {
                    *b = [1, 2, 3, 4, 128, 129, 135, 136, 137][(round % 9) as usize];
                }
                if let Some(b) = buf.get_mut(8) {
                    *b = 0x60;
                }
                if let Some(b) = buf.get_mut(14) {
                    *b = 58;
                }
                if let Ok(r) = Repr::parse(&buf) {
                    let _ = r.to_bytes(A, B);
                }
                let _ = checksum_ok(&buf, A, B);
            }
        }
    }
}
