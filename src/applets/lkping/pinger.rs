//! The socket side of a ping run for either family: one echo socket (raw ICMPv4 or raw
//! ICMPv6) and its destination, and what a message read from it means to ping (a reply, an
//! error quoting one of our requests, or someone else's traffic), with iputils' wording of
//! the errors (ping4_common.c / ping6_common.c `pr_icmph`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV6};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::net::icmp::IcmpSocket;
use crate::net::icmp6::Icmp6Socket;
use crate::wire::icmp::ErrorKind;
use crate::wire::icmpv6::ErrorKind as ErrorKind6;

/// A destination: IPv4, or IPv6 with the scope (interface index) of a link-local or
/// multicast address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    V4(Ipv4Addr),
    V6(SocketAddrV6),
}

impl Destination {
    pub fn ip(&self) -> IpAddr {
        match self {
            Destination::V4(a) => IpAddr::V4(*a),
            Destination::V6(a) => IpAddr::V6(*a.ip()),
        }
    }

    /// Whether a unicast reply from another address than this one is flagged
    /// `(DIFFERENT ADDRESS!)`. Not for an IPv6 destination whose interface identifier is all
    /// zero: ping6 takes it for a Subnet-Router anycast address (RFC 4291 2.6.1), which any
    /// router of the subnet answers from its own address (ping6_common.c
    /// `subnet_router_anycast`). That includes `::`, which the kernel delivers to `::1`.
    pub fn flags_other_repliers(&self) -> bool {
        match self {
            Destination::V4(_) => true,
            Destination::V6(a) => a.ip().octets()[8..].iter().any(|b| *b != 0),
        }
    }

    /// As ping prints it: a scoped IPv6 address with `%` and the interface name.
    pub fn text(&self) -> String {
        match self {
            Destination::V4(a) => a.to_string(),
            Destination::V6(a) => scoped_text(a),
        }
    }
}

/// `addr%ifname` for an address with a scope, the plain address otherwise.
pub fn scoped_text(a: &SocketAddrV6) -> String {
    if a.scope_id() == 0 {
        return a.ip().to_string();
    }
    match nix::net::if_::if_indextoname(a.scope_id()) {
        Ok(name) => format!("{}%{}", a.ip(), name.to_string_lossy()),
        Err(_) => format!("{}%{}", a.ip(), a.scope_id()),
    }
}

/// The open socket of one run.
pub enum Pinger {
    V4(IcmpSocket),
    V6(Icmp6Socket),
}

/// What a message read from the socket is to this run.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// An echo reply with our identifier.
    Reply {
        from: IpAddr,
        from_text: String,
        ttl: u8,
        icmp_len: usize,
        checksum_ok: bool,
        seq: u16,
        /// Round trip from the send time in the payload to the kernel's receive time, µs.
        rtt_us: i64,
        /// The echoed data (after the ICMP header).
        data: Vec<u8>,
    },
    /// An ICMP error quoting one of our requests; `counted` errors end a run with a deadline
    /// and appear in the statistics, the others (IPv4 redirect, source quench) are advice.
    Error {
        from: IpAddr,
        from_text: String,
        seq: u16,
        text: String,
        counted: bool,
        /// ping4 acknowledges the quoted request (pipe size, flood pacing); ping6 does not.
        acknowledges: bool,
    },
    /// Another process's traffic.
    Other,
}

impl Pinger {
    /// Sends one echo request.
    pub fn send(&self, dst: Destination, ident: u16, seq: u16, data: &[u8]) -> io::Result<()> {
        match (self, dst) {
            (Pinger::V4(s), Destination::V4(d)) => s.send_echo(d, ident, seq, data),
            (Pinger::V6(s), Destination::V6(d)) => s.send_echo(d, ident, seq, data),
            _ => Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT)),
        }
    }

    /// Reads the next message (`Ok(None)` when nothing is queued) and classifies it for a
    /// run with `ident` to `dst`.
    pub fn recv(
        &self,
        buf: &mut [u8],
        ident: u16,
        dst: Destination,
    ) -> io::Result<Option<Incoming>> {
        match self {
            Pinger::V4(s) => {
                let Some(r) = s.recv(buf)? else {
                    return Ok(None);
                };
                let from = r.datagram.src_addr;
                if let Some((seq, data)) = r.echo_reply(ident) {
                    return Ok(Some(Incoming::Reply {
                        from: from.into(),
                        from_text: from.to_string(),
                        ttl: r.datagram.ttl,
                        icmp_len: r.datagram.icmp_len,
                        checksum_ok: r.datagram.checksum_ok,
                        seq,
                        rtt_us: rtt_us(data, r.at),
                        data: data.to_vec(),
                    }));
                }
                let Destination::V4(d) = dst else {
                    return Ok(Some(Incoming::Other));
                };
                Ok(Some(match r.error_for(ident, d) {
                    Some(e) => Incoming::Error {
                        from: from.into(),
                        from_text: from.to_string(),
                        seq: e.seq_no,
                        text: describe_v4(e.kind, e.code, e.info),
                        counted: !matches!(e.kind, ErrorKind::Redirect | ErrorKind::SourceQuench),
                        acknowledges: true,
                    },
                    None => Incoming::Other,
                }))
            }
            Pinger::V6(s) => {
                let Some(r) = s.recv(buf)? else {
                    return Ok(None);
                };
                let from_text = scoped_text(&r.src);
                let from = IpAddr::V6(*r.src.ip());
                if let Some((seq, data)) = r.echo_reply(ident) {
                    return Ok(Some(Incoming::Reply {
                        from,
                        from_text,
                        ttl: r.hop_limit,
                        icmp_len: r.icmp_len,
                        // The kernel drops ICMPv6 with a bad checksum before a raw socket.
                        checksum_ok: true,
                        seq,
                        rtt_us: rtt_us(data, r.at),
                        data: data.to_vec(),
                    }));
                }
                let Destination::V6(d) = dst else {
                    return Ok(Some(Incoming::Other));
                };
                Ok(Some(match r.error_for(ident, *d.ip()) {
                    Some(e) => Incoming::Error {
                        from,
                        from_text,
                        seq: e.seq_no,
                        text: describe_v6(e.kind, e.code, e.info),
                        counted: true,
                        acknowledges: false,
                    },
                    None => Incoming::Other,
                }))
            }
        }
    }
}

/// Round trip from the send time in the payload to the kernel's receive time, µs. A clock
/// step backwards gives 0 rather than a negative time (ping warns and does the same).
pub fn rtt_us(data: &[u8], at: SystemTime) -> i64 {
    let field = |r: std::ops::Range<usize>| {
        data.get(r)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, i64::from_ne_bytes)
    };
    let (secs, usecs) = (field(0..8), field(8..16));
    let now = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let now_us = i64::try_from(now.as_micros()).unwrap_or(i64::MAX);
    let sent_us = secs.saturating_mul(1_000_000).saturating_add(usecs);
    now_us.saturating_sub(sent_us).max(0)
}

/// ping's pr_icmph() wording for an ICMPv4 error.
pub fn describe_v4(kind: ErrorKind, code: u8, info: u32) -> String {
    match kind {
        ErrorKind::DstUnreachable => match code {
            0 => "Destination Net Unreachable".into(),
            1 => "Destination Host Unreachable".into(),
            2 => "Destination Protocol Unreachable".into(),
            3 => "Destination Port Unreachable".into(),
            4 => format!("Frag needed and DF set (mtu = {})", info & 0xffff),
            5 => "Source Route Failed".into(),
            6 => "Destination Net Unknown".into(),
            7 => "Destination Host Unknown".into(),
            8 => "Source Host Isolated".into(),
            9 => "Destination Net Prohibited".into(),
            10 => "Destination Host Prohibited".into(),
            11 => "Destination Net Unreachable for Type of Service".into(),
            12 => "Destination Host Unreachable for Type of Service".into(),
            13 => "Packet filtered".into(),
            14 => "Precedence Violation".into(),
            15 => "Precedence Cutoff".into(),
            c => format!("Dest Unreachable, Bad Code: {c}"),
        },
        ErrorKind::SourceQuench => "Source Quench".into(),
        ErrorKind::Redirect => {
            let what = match code {
                0 => "Redirect Network".to_string(),
                1 => "Redirect Host".to_string(),
                2 => "Redirect Type of Service and Network".to_string(),
                3 => "Redirect Type of Service and Host".to_string(),
                c => format!("Redirect, Bad Code: {c}"),
            };
            format!("{what}(New nexthop: {})", Ipv4Addr::from(info))
        }
        ErrorKind::TimeExceeded => match code {
            0 => "Time to live exceeded".into(),
            1 => "Frag reassembly time exceeded".into(),
            c => format!("Time exceeded, Bad Code: {c}"),
        },
        ErrorKind::ParamProblem => format!("Parameter problem: pointer = {}", info >> 24),
    }
}

/// ping6's pr_icmph() wording for an ICMPv6 error (RFC 4443 codes).
pub fn describe_v6(kind: ErrorKind6, code: u8, info: u32) -> String {
    match kind {
        ErrorKind6::DstUnreachable => {
            let what = match code {
                0 => "No route".to_string(),
                1 => "Administratively prohibited".into(),
                2 => "Beyond scope of source address".into(),
                3 => "Address unreachable".into(),
                4 => "Port unreachable".into(),
                c => format!("Unknown code {c}"),
            };
            format!("Destination unreachable: {what}")
        }
        ErrorKind6::PacketTooBig if code == 0 => format!("Packet too big: mtu={info}"),
        ErrorKind6::PacketTooBig => format!("Packet too big: mtu={info}, code={code}"),
        ErrorKind6::TimeExceeded => match code {
            0 => "Time exceeded: Hop limit".into(),
            1 => "Time exceeded: Defragmentation failure".into(),
            c => format!("Time exceeded: code {c}"),
        },
        ErrorKind6::ParamProblem => {
            let what = match code {
                0 => "wrong header field ".to_string(),
                1 => "unknown header ".into(),
                2 => "unknown option ".into(),
                c => format!("code {c} "),
            };
            format!("Parameter problem: {what}at {info}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn errors_are_worded_as_ping() {
        assert_eq!(
            describe_v4(ErrorKind::DstUnreachable, 1, 0),
            "Destination Host Unreachable"
        );
        assert_eq!(
            describe_v4(ErrorKind::DstUnreachable, 4, 1400),
            "Frag needed and DF set (mtu = 1400)"
        );
        assert_eq!(
            describe_v4(ErrorKind::TimeExceeded, 0, 0),
            "Time to live exceeded"
        );
        assert_eq!(
            describe_v4(ErrorKind::Redirect, 1, 0xc633_6401),
            "Redirect Host(New nexthop: 198.51.100.1)"
        );
        assert_eq!(
            describe_v4(ErrorKind::ParamProblem, 0, 0x1400_0000),
            "Parameter problem: pointer = 20"
        );
    }

    #[test]
    fn icmpv6_errors_are_worded_as_ping6() {
        assert_eq!(
            describe_v6(ErrorKind6::DstUnreachable, 3, 0),
            "Destination unreachable: Address unreachable"
        );
        assert_eq!(
            describe_v6(ErrorKind6::DstUnreachable, 9, 0),
            "Destination unreachable: Unknown code 9"
        );
        assert_eq!(
            describe_v6(ErrorKind6::PacketTooBig, 0, 1280),
            "Packet too big: mtu=1280"
        );
        assert_eq!(
            describe_v6(ErrorKind6::TimeExceeded, 0, 0),
            "Time exceeded: Hop limit"
        );
        assert_eq!(
            describe_v6(ErrorKind6::ParamProblem, 1, 40),
            "Parameter problem: unknown header at 40"
        );
    }

    #[test]
    fn rtt_comes_from_the_payload_stamp() {
        let sent = UNIX_EPOCH + Duration::new(1_700_000_000, 250_000_000);
        let mut data = vec![0u8; 56];
        data[..8].copy_from_slice(&1_700_000_000i64.to_ne_bytes());
        data[8..16].copy_from_slice(&250_000i64.to_ne_bytes());
        assert_eq!(rtt_us(&data, sent + Duration::from_micros(1234)), 1234);
        // A clock step back, or a stamp from the future, is 0, never negative.
        assert_eq!(rtt_us(&data, sent - Duration::from_secs(1)), 0);
    }

    #[test]
    fn scoped_addresses_print_with_the_interface_name() {
        let lo = nix::net::if_::if_nametoindex("lo").unwrap_or(1);
        let a = SocketAddrV6::new("fe80::1".parse().unwrap(), 0, 0, lo);
        assert_eq!(scoped_text(&a), "fe80::1%lo");
        let b = SocketAddrV6::new("2001:db8::1".parse().unwrap(), 0, 0, 0);
        assert_eq!(Destination::V6(b).text(), "2001:db8::1");
    }

    #[test]
    fn subnet_router_anycast_destinations_do_not_flag_other_repliers() {
        let v6 = |a: &str| Destination::V6(SocketAddrV6::new(a.parse().unwrap(), 0, 0, 0));
        assert!(!v6("::").flags_other_repliers());
        assert!(!v6("2001:db8:1::").flags_other_repliers());
        assert!(v6("2001:db8::1").flags_other_repliers());
        assert!(v6("::1").flags_other_repliers());
        assert!(v6("::ffff:0.0.0.1").flags_other_repliers());
        assert!(Destination::V4(Ipv4Addr::UNSPECIFIED).flags_other_repliers());
    }
}
