//! Synchronous rtnetlink (NETLINK_ROUTE) client: links, IPv4 addresses, routes, neighbours,
//! and a non-blocking change subscription for event loops (`RtnlMonitor`).
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
mod link;
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

pub use addr::Ipv4Address;
pub use link::{Link, OperState};
pub use monitor::{RtnlEvent, RtnlMonitor};
pub use route::Route;

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
}

impl RtnlError {
    fn new(what: impl Into<String>, kind: RtnlErrorKind) -> RtnlError {
        RtnlError {
            what: what.into(),
            kind,
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
            ),
            RtnlErrorKind::Io(e) => write!(f, "{}: {e}", self.what),
            RtnlErrorKind::Decode(m) => write!(f, "{}: bad netlink answer: {m}", self.what),
        }
    }
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
            .map_err(|kind| RtnlError::new(what(), kind))
    }

    /// Sends a dump request for `msg` and collects every answer.
    fn dump(
        &mut self,
        what: impl FnOnce() -> String,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, RtnlError> {
        self.exchange(msg, NLM_F_DUMP)
            .map_err(|kind| RtnlError::new(what(), kind))
    }

    /// Sends one request and reads until its ACK/error or, for dumps, NLMSG_DONE.
    fn exchange(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, RtnlErrorKind> {
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
                    Err(e) => return Err(RtnlErrorKind::Io(e)),
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
                            Some(code) => Err(RtnlErrorKind::Kernel(code.get().abs())),
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
