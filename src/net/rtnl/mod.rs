//! Synchronous rtnetlink (NETLINK_ROUTE) client: links, IPv4 and IPv6 addresses, routes,
//! neighbours,
//! what is configured through a link (`LinkSetup`, both families), and a non-blocking change subscription for event loops (`RtnlMonitor`).
//!
//! Message types come from `netlink-packet-route`; this module owns the socket, sequence
//! numbers, acknowledgements and dumps, and turns kernel answers into small plain types
//! (`Link`, `Ipv4Address`, `Route`). Every request asks for an ACK, so a failure comes back
//! as `RtnlError` with the kernel's errno and a description of what was attempted.
//!
//! ```no_run
//! # use habox::net::rtnl::Rtnl;
//! let mut rt = Rtnl::open()?;
//! let link = rt.link_by_name("eth0")?.expect("no eth0");
//! rt.set_link_up(link.index, true)?;
//! # Ok::<(), habox::net::rtnl::RtnlError>(())
//! ```

mod addr;
mod inet6;
mod link;
mod link_setup;
mod monitor;
mod route;

use std::fmt;
use std::io;

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

pub use addr::{same_net, Ipv4Address};
pub use inet6::{same_prefix6, Ipv6Address};
pub use link::{Link, OperState};
pub use link_setup::{LinkSetup, Restored};
pub use monitor::{RtnlEvent, RtnlMonitor};
pub use route::{Route, Route6, RouteFamily, RT_TABLE_MAIN};

/// Receive buffer: large enough for any single rtnetlink datagram the kernel sends
/// (dumps are cut at 32 KiB).
const RECV_BUF: usize = 64 * 1024;

/// What went wrong, below the description of the attempted operation.
#[derive(Debug)]
pub enum RtnlErrorKind {
    /// The kernel refused the request with this errno (positive, e.g. 17 = EEXIST).
    Kernel(i32),
    /// The socket itself failed.
    Io(io::Error),
    /// The kernel's answer could not be parsed.
    Decode(String),
}

/// A failed rtnetlink operation: what was attempted and why it failed.
#[derive(Debug)]
pub struct RtnlError {
    /// E.g. `add address 198.51.100.10/24 to eth0 (index 3)`.
    pub what: String,
    pub kind: RtnlErrorKind,
    /// The kernel's own explanation (extended ACK message), when it gave one.
    pub detail: Option<String>,
}

impl RtnlError {
    fn new(what: impl Into<String>, kind: RtnlErrorKind) -> RtnlError {
        RtnlError {
            what: what.into(),
            kind,
            detail: None,
        }
    }

    fn from_failure(what: impl Into<String>, failure: Failure) -> RtnlError {
        RtnlError {
            what: what.into(),
            kind: failure.kind,
            detail: failure.detail,
        }
    }

    /// The kernel errno, when the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        match &self.kind {
            RtnlErrorKind::Kernel(e) => Some(*e),
            RtnlErrorKind::Io(e) => e.raw_os_error(),
            RtnlErrorKind::Decode(_) => None,
        }
    }
}

impl fmt::Display for RtnlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RtnlErrorKind::Kernel(e) => write!(
                f,
                "{}: {} (errno {e})",
                self.what,
                nix::errno::Errno::from_raw(*e).desc()
            )?,
            RtnlErrorKind::Io(e) => write!(f, "{}: {e}", self.what)?,
            RtnlErrorKind::Decode(m) => write!(f, "{}: bad netlink answer: {m}", self.what)?,
        }
        match &self.detail {
            Some(d) => write!(f, ": {d}"),
            None => Ok(()),
        }
    }
}

/// What `exchange` failed with, before the caller adds what it attempted.
#[derive(Debug)]
struct Failure {
    kind: RtnlErrorKind,
    detail: Option<String>,
}

impl Failure {
    fn errno(&self) -> Option<i32> {
        match self.kind {
            RtnlErrorKind::Kernel(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RtnlErrorKind> for Failure {
    fn from(kind: RtnlErrorKind) -> Failure {
        Failure { kind, detail: None }
    }
}

/// `NLM_F_CAPPED` on an error: the quoted request is only its header.
const NLM_F_CAPPED: u16 = 0x100;
/// `NLM_F_ACK_TLVS` on an error: extended-ACK attributes follow the quoted request.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLMSGERR_ATTR_MSG`: a NUL-terminated explanation.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// The kernel's extended-ACK message in an NLMSG_ERROR payload (after the errno), if any.
fn ext_ack_message(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let quoted = if flags & NLM_F_CAPPED != 0 {
        16
    } else {
        let len = payload.get(..4)?;
        u32::from_ne_bytes([len[0], len[1], len[2], len[3]]) as usize
    };
    let mut tlvs = payload.get(quoted..)?;
    while tlvs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([tlvs[0], tlvs[1]]));
        let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
        if len < 4 {
            return None;
        }
        let value = tlvs.get(4..len)?;
        if kind == NLMSGERR_ATTR_MSG {
            let text = value.split(|&b| b == 0).next().unwrap_or(&[]);
            let text = String::from_utf8_lossy(text).trim().to_string();
            return (!text.is_empty()).then_some(text);
        }
        tlvs = tlvs.get((len + 3) & !3..).unwrap_or(&[]);
    }
    None
}

impl std::error::Error for RtnlError {}

/// A blocking NETLINK_ROUTE socket for requests and dumps.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    /// Opens and binds a NETLINK_ROUTE socket in the caller's network namespace.
    pub fn open() -> Result<Rtnl, RtnlError> {
        let io_err = |e| RtnlError::new("open NETLINK_ROUTE socket", RtnlErrorKind::Io(e));
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(io_err)?;
        sock.bind_auto().map_err(io_err)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(io_err)?;
        // Extended ACKs carry the kernel's reason with an error; old kernels lack them.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        Ok(Rtnl {
            sock,
            seq: 0,
            buf: vec![0; RECV_BUF],
        })
    }

    /// Sends `msg` with `NLM_F_REQUEST | NLM_F_ACK | flags` and waits for the ACK.
    fn execute(
        &mut self,
        what: impl FnOnce() -> String,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), RtnlError> {
        self.exchange(msg, NLM_F_ACK | flags)
            .map(|_| ())
            .map_err(|f| RtnlError::from_failure(what(), f))
    }

    /// Sends a dump request for `msg` and collects every answer.
    fn dump(
        &mut self,
        what: impl FnOnce() -> String,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, RtnlError> {
        self.exchange(msg, NLM_F_DUMP)
            .map_err(|f| RtnlError::from_failure(what(), f))
    }

    /// Sends one request and reads until its ACK/error or, for dumps, NLMSG_DONE.
    fn exchange(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, Failure> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = serialize(msg, NLM_F_REQUEST | flags, seq);
        self.sock.send(&bytes, 0).map_err(RtnlErrorKind::Io)?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        loop {
            let n = loop {
                match self.sock.recv(&mut &mut self.buf[..], 0) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(RtnlErrorKind::Io(e).into()),
                }
            };
            let data = self.buf.get(..n).unwrap_or(&[]);
            for m in split_messages(data) {
                if m.header.sequence_number != seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::InnerMessage(inner) => out.push(inner),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(code) => Err(Failure {
                                kind: RtnlErrorKind::Kernel(code.get().abs()),
                                detail: ext_ack_message(m.header.flags, &e.header),
                            }),
                        }
                    }
                    NetlinkPayload::Done(_) if dump => return Ok(out),
                    _ => {}
                }
            }
        }
    }
}

/// Serializes a request with the given flags and sequence number.
fn serialize(msg: RouteNetlinkMessage, flags: u16, seq: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
    nl.finalize();
    let mut bytes = vec![0u8; nl.buffer_len()];
    nl.serialize(&mut bytes);
    bytes
}

/// Splits a datagram into netlink messages, skipping (and logging) what does not parse so
/// one odd message never hides the others.
fn split_messages(mut data: &[u8]) -> Vec<NetlinkMessage<RouteNetlinkMessage>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let len = match NetlinkBuffer::new_checked(data) {
            Ok(b) => b.length() as usize,
            Err(e) => {
                log::debug!("rtnetlink: dropping {} undecodable bytes: {e}", data.len());
                break;
            }
        };
        let Some(one) = data.get(..len) else { break };
        match NetlinkMessage::<RouteNetlinkMessage>::deserialize(one) {
            Ok(m) => out.push(m),
            Err(e) => log::debug!("rtnetlink: skipping a message: {e}"),
        }
        // Messages are 4-byte aligned (NLMSG_ALIGN).
        let next = (len + 3) & !3;
        if len == 0 {
            break;
        }
        data = data.get(next..).unwrap_or(&[]);
    }
    out
}

/// Reads one datagram as every reader here would: a request's or a dump's answer (links,
/// addresses, routes, what a link carries, the extended ACK of an error) and monitor events.
/// The socket-free part of this module, for `crate::fuzzing`.
pub(crate) fn digest(data: &[u8]) {
    for m in split_messages(data) {
        match &m.payload {
            NetlinkPayload::InnerMessage(inner) => {
                match inner {
                    RouteNetlinkMessage::NewLink(l) => {
                        let _ = Link::from_message(l);
                    }
                    RouteNetlinkMessage::NewAddress(a) => {
                        let _ = Ipv4Address::from_message(a);
                    }
                    RouteNetlinkMessage::NewRoute(r) => {
                        let _ = Route::<std::net::Ipv4Addr>::from_message(r);
                        let _ = Route6::from_message(r);
                    }
                    _ => {}
                }
                link_setup::digest(inner);
            }
            NetlinkPayload::Error(e) => {
                let _ = ext_ack_message(m.header.flags, &e.header);
            }
            _ => {}
        }
    }
    let _ = monitor::decode(data);
}

/// Datagrams as the kernel sends them (an address, a macvlan link, a route, an error ACK),
/// the smoke test's seeds for `digest`.
#[cfg(test)]
pub(crate) fn sample_datagrams() -> Vec<Vec<u8>> {
    use std::net::Ipv4Addr;
    let ip = Ipv4Addr::new(198, 51, 100, 2);
    let route = Route {
        table: RT_TABLE_MAIN,
        destination: Ipv4Addr::new(198, 51, 100, 0),
        prefix_len: 24,
        tos: 0,
        gateway: Some(Ipv4Addr::new(198, 51, 100, 1)),
        oif: Some(3),
        source: Some(ip),
        priority: Some(10),
        protocol: 2,
        scope: 253,
        kind: 1,
    };
    let mac = crate::wire::ethernet::MacAddr([2, 0, 0, 0, 0, 1]);
    let mut all = vec![
        serialize(addr::new_address(2, ip, 24, Some(ip), Some("lan0")), 0, 1),
        serialize(link::new_macvlan("vc1", 2, mac), 0, 1),
        serialize(route::change_source(&route, Some(ip)), 0, 1),
    ];
    // NLMSG_ERROR -EEXIST with NLM_F_CAPPED | NLM_F_ACK_TLVS and an NLMSGERR_ATTR_MSG.
    let mut err = vec![0u8; 16];
    err[4..6].copy_from_slice(&2u16.to_ne_bytes());
    err[6..8].copy_from_slice(&(NLM_F_CAPPED | NLM_F_ACK_TLVS).to_ne_bytes());
    err[8..12].copy_from_slice(&1u32.to_ne_bytes());
    err.extend_from_slice(&(-17i32).to_ne_bytes());
    err.extend_from_slice(&all[0][..16]);
    err.extend_from_slice(&12u16.to_ne_bytes());
    err.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
    err.extend_from_slice(b"exists\0\0");
    let len = err.len() as u32;
    err[..4].copy_from_slice(&len.to_ne_bytes());
    all.push(err);
    let joined = all.concat();
    all.push(joined);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_operation_and_errno() {
        let e = RtnlError::new(
            "add address 198.51.100.10/24 to eth0 (index 3)",
            RtnlErrorKind::Kernel(17),
        );
        assert_eq!(e.errno(), Some(17));
        assert_eq!(
            e.to_string(),
            "add address 198.51.100.10/24 to eth0 (index 3): File exists (errno 17)"
        );
    }

    #[test]
    fn ext_ack_message_is_read_after_the_capped_header() {
        let mut payload = vec![0u8; 16];
        // NLMSGERR_ATTR_MSG "Invalid prefix\0", padded; then NLMSGERR_ATTR_OFFS.
        let msg = b"Invalid prefix\0";
        payload.extend_from_slice(&((4 + msg.len()) as u16).to_ne_bytes());
        payload.extend_from_slice(&1u16.to_ne_bytes());
        payload.extend_from_slice(msg);
        payload.push(0);
        payload.extend_from_slice(&[8, 0, 2, 0, 20, 0, 0, 0]);
        assert_eq!(
            ext_ack_message(NLM_F_CAPPED | NLM_F_ACK_TLVS, &payload).as_deref(),
            Some("Invalid prefix")
        );
        assert_eq!(ext_ack_message(NLM_F_CAPPED, &payload), None);
        assert_eq!(ext_ack_message(NLM_F_ACK_TLVS, &[1, 2]), None);
        assert_eq!(
            ext_ack_message(NLM_F_CAPPED | NLM_F_ACK_TLVS, &[0; 19]),
            None
        );
    }

    #[test]
    fn split_handles_garbage_and_truncation() {
        assert!(split_messages(&[1, 2, 3]).is_empty());
        // A header claiming 200 bytes in a 20-byte buffer.
        let mut b = [0u8; 20];
        b[0] = 200;
        assert!(split_messages(&b).is_empty());
        // A zero-length header must not loop forever.
        assert!(split_messages(&[0u8; 16]).is_empty());
    }
}
