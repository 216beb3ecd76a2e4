//! A generic netlink socket bound to one family (resolved by name through the controller),
//! doing request → replies exchanges with the kernel.
//!
//! The exchanges are synchronous with a receive timeout: the kernel answers a netlink request
//! at once (there is no peer to wait for), so a daemon may call this from its loop.

use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_GENERIC, Socket};
use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
use nix::sys::time::TimeVal;

use crate::wire::ipvs::{emit_getfamily, parse_replies, Reply, WireError};

/// The most a kernel reply waits before it counts as lost.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a generic netlink exchange failed.
#[derive(Debug)]
pub enum GenlError {
    Io(io::Error),
    /// The family is not registered (module not loaded / not built).
    NoFamily(String),
    /// The kernel refused the request: a positive errno.
    Kernel(i32),
    Wire(WireError),
}

impl fmt::Display for GenlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenlError::Io(e) => write!(f, "netlink: {e}"),
            GenlError::NoFamily(n) => {
                write!(
                    f,
                    "generic netlink family {n} not found (is the module loaded?)"
                )
            }
            GenlError::Kernel(errno) => {
                write!(f, "kernel: {}", io::Error::from_raw_os_error(*errno))
            }
            GenlError::Wire(e) => write!(f, "netlink reply: {e}"),
        }
    }
}

impl std::error::Error for GenlError {}

impl From<io::Error> for GenlError {
    fn from(e: io::Error) -> Self {
        GenlError::Io(e)
    }
}

/// A socket talking to one generic netlink family.
pub struct GenlSocket {
    sock: Socket,
    pid: u32,
    seq: u32,
    family: u16,
}

impl GenlSocket {
    /// Opens a socket and resolves `name` (e.g. "IPVS") to its family id.
    pub fn open(name: &str) -> Result<GenlSocket, GenlError> {
        let mut sock = Socket::new(NETLINK_GENERIC)?;
        let addr = sock.bind_auto()?;
        let tv = TimeVal::new(REPLY_TIMEOUT.as_secs() as i64, 0);
        setsockopt(&sock.as_fd(), ReceiveTimeout, &tv).map_err(io::Error::from)?;
        let mut s = GenlSocket {
            sock,
            pid: addr.port_number(),
            seq: 1,
            family: 0,
        };
        let seq = s.next_seq();
        let pid = s.pid;
        let replies = match s.exchange(seq, &emit_getfamily(seq, pid, name)) {
            Err(GenlError::Kernel(libc::ENOENT)) => return Err(GenlError::NoFamily(name.into())),
            other => other?,
        };
        s.family = replies
            .iter()
            .find_map(Reply::family_id)
            .ok_or_else(|| GenlError::NoFamily(name.into()))?;
        Ok(s)
    }

    /// The family id requests must carry.
    pub fn family(&self) -> u16 {
        self.family
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends the message `build(family, seq)` returns and collects the replies up to the
    /// ACK or NLMSG_DONE. A kernel error becomes `GenlError::Kernel`.
    pub fn request(
        &mut self,
        build: impl FnOnce(u16, u32) -> Vec<u8>,
    ) -> Result<Vec<Reply>, GenlError> {
        let seq = self.next_seq();
        let msg = build(self.family, seq);
        self.exchange(seq, &msg)
    }

    fn exchange(&mut self, seq: u32, msg: &[u8]) -> Result<Vec<Reply>, GenlError> {
        self.sock.send(msg, 0)?;
        let mut out = Vec::new();
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        loop {
            buf.clear();
            self.sock.recv(&mut buf, 0)?;
            for reply in parse_replies(&buf).map_err(GenlError::Wire)? {
                match reply {
                    Reply::Error { seq: s, errno } if s == seq => {
                        if errno != 0 {
                            return Err(GenlError::Kernel(-errno));
                        }
                        return Ok(out);
                    }
                    Reply::Done { seq: s } if s == seq => return Ok(out),
                    Reply::Genl { seq: s, .. } if s == seq => out.push(reply),
                    // A late answer to an earlier, timed-out request.
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The controller resolves itself on any kernel: a real round trip through the socket.
    #[test]
    fn resolves_the_controller_family() {
        let s = GenlSocket::open("nlctrl");
        assert_eq!(
            s.map(|s| s.family()).ok(),
            Some(crate::wire::ipvs::GENL_ID_CTRL)
        );
    }

    #[test]
    fn unknown_family_is_reported_by_name() {
        match GenlSocket::open("habox-nofam") {
            Err(GenlError::NoFamily(n)) => assert_eq!(n, "habox-nofam"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("resolved a family that does not exist"),
        }
    }
}
