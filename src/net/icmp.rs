//! An owned, non-blocking raw ICMPv4 socket (`AF_INET`, `SOCK_RAW`, `IPPROTO_ICMP`) for
//! every habox pinger: lkping, pikemon's ping groups, ip-ra's connectivity check. Each runs
//! it in its own event loop: register `as_raw_fd()` for reading, call `recv` until it returns
//! `Ok(None)`.
//!
//! A raw socket sees every ICMP message reaching the host; the kernel's filter keeps echo
//! replies and errors only, other pings' replies included; `Received::echo_reply` and `Received::error_for` pick out the ones answering our
//! identifier. Needs CAP_NET_RAW.

use std::ffi::OsString;
use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, recvmsg, sendto, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned,
    MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn,
};
use nix::sys::time::TimeVal;

use crate::wire::icmp::{self, Datagram, ErrorKind, Packet, Repr};

/// Largest datagram a raw IPv4 socket can hand over.
pub const MAX_DATAGRAM: usize = 65535;

/// A raw ICMPv4 socket, closed on drop.
#[derive(Debug)]
pub struct IcmpSocket {
    fd: OwnedFd,
}

/// One ICMP message read from the socket.
#[derive(Debug, Clone, Copy)]
pub struct Received<'b> {
    /// The parsed datagram: source, TTL, ICMP length and message.
    pub datagram: Datagram<'b>,
    /// When the kernel received it (SO_TIMESTAMP, wall clock).
    pub at: SystemTime,
    /// When `recv` read it (monotonic).
    pub read_at: Instant,
}

/// An ICMP error message answering one of our echo requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoError {
    pub kind: ErrorKind,
    pub code: u8,
    pub info: u32,
    /// Sequence number of the echo request the error quotes.
    pub seq_no: u16,
}

impl Received<'_> {
    /// `(seq_no, data)` when this is an echo reply carrying our `ident`.
    pub fn echo_reply(&self, ident: u16) -> Option<(u16, &[u8])> {
        match self.datagram.icmp {
            Repr::EchoReply {
                ident: i,
                seq_no,
                data,
            } if i == ident => Some((seq_no, data)),
            _ => None,
        }
    }

    /// The error when this is an ICMP error quoting our echo request (`ident`) to `dst`.
    pub fn error_for(&self, ident: u16, dst: Ipv4Addr) -> Option<EchoError> {
        match self.datagram.icmp {
            Repr::Error {
                kind,
                code,
                info,
                quoted: Some(q),
            } if q.dst_addr == dst && q.echo.is_some_and(|(i, _)| i == ident) => {
                let (_, seq_no) = q.echo?;
                Some(EchoError {
                    kind,
                    code,
                    info,
                    seq_no,
                })
            }
            _ => None,
        }
    }
}

impl IcmpSocket {
    /// Opens a non-blocking, close-on-exec raw ICMP socket with receive timestamps on,
    /// filtered to echo replies and errors. Fails with EPERM without CAP_NET_RAW.
    pub fn new() -> io::Result<IcmpSocket> {
        let fd = socket(
            AddressFamily::Inet,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::Icmp,
        )
        .map_err(io::Error::from)?;
        setsockopt(&fd, sockopt::ReceiveTimestamp, &true).map_err(io::Error::from)?;
        // Echo replies and the errors `Received::error_for` reads: an echo request to the
        // host (a client pinging a VIP 200 times a second) no longer wakes the pinger.
        let pass = [
            icmp::Message::EchoReply,
            icmp::Message::DstUnreachable,
            icmp::Message::SourceQuench,
            icmp::Message::Redirect,
            icmp::Message::TimeExceeded,
            icmp::Message::ParamProblem,
        ]
        .map(u8::from);
        crate::sys::icmp::pass_only(&fd, &pass)?;
        Ok(IcmpSocket { fd })
    }

    /// Receives only the echo replies that carry `ident` (a pinger that reads no errors:
    /// pikemon's ping groups); the kernel drops the rest before it wakes anybody.
    pub fn only_replies_to(&self, ident: u16) -> io::Result<()> {
        crate::sys::icmp::accept_only_echo_replies(&self.fd, ident)
    }

    /// Sends and receives only through `ifname` (SO_BINDTODEVICE).
    pub fn bind_device(&self, ifname: &str) -> io::Result<()> {
        setsockopt(&self.fd, sockopt::BindToDevice, &OsString::from(ifname))
            .map_err(io::Error::from)
    }

    /// Uses `addr` as the source address (it must be local).
    pub fn bind_addr(&self, addr: Ipv4Addr) -> io::Result<()> {
        bind(
            self.fd.as_raw_fd(),
            &SockaddrIn::from(SocketAddrV4::new(addr, 0)),
        )
        .map_err(io::Error::from)
    }

    /// Sets the TTL of unicast and multicast requests.
    pub fn set_ttl(&self, ttl: u8) -> io::Result<()> {
        setsockopt(&self.fd, sockopt::IpMulticastTtl, &ttl).map_err(io::Error::from)?;
        setsockopt(&self.fd, sockopt::Ipv4Ttl, &i32::from(ttl)).map_err(io::Error::from)
    }

    /// Allows (or forbids) sending to broadcast addresses (SO_BROADCAST).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        setsockopt(&self.fd, sockopt::Broadcast, &on).map_err(io::Error::from)
    }

    /// Sends one echo request; the kernel adds the IP header. `WouldBlock` when the socket
    /// buffer is full.
    pub fn send_echo(&self, dst: Ipv4Addr, ident: u16, seq_no: u16, data: &[u8]) -> io::Result<()> {
        let repr = Repr::EchoRequest {
            ident,
            seq_no,
            data,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let to = SockaddrIn::from(SocketAddrV4::new(dst, 0));
        let sent =
            sendto(self.fd.as_raw_fd(), &buf, &to, MsgFlags::empty()).map_err(io::Error::from)?;
        if sent != buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short send of an echo request",
            ));
        }
        Ok(())
    }

    /// Reads the next ICMP message into `buf` (use `MAX_DATAGRAM` bytes; a shorter buffer
    /// truncates). `Ok(None)` when nothing is queued. Datagrams that do not parse are
    /// skipped, never an error: what arrives from the network cannot fail the caller.
    pub fn recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<Option<Received<'b>>> {
        let (len, at) = loop {
            let Some((len, at)) = self.read_one(buf)? else {
                return Ok(None);
            };
            match buf.get(..len).map(icmp::parse_datagram) {
                Some(Ok(_)) => break (len, at),
                Some(Err(e)) => log::debug!("icmp: ignored a datagram: {e}"),
                None => {}
            }
        };
        let read_at = Instant::now();
        let bytes: &'b [u8] = buf.get(..len).unwrap_or(&[]);
        Ok(icmp::parse_datagram(bytes).ok().map(|datagram| Received {
            datagram,
            at,
            read_at,
        }))
    }

    /// One recvmsg: the datagram's length and kernel receive time, `None` on EAGAIN.
    fn read_one(&self, buf: &mut [u8]) -> io::Result<Option<(usize, SystemTime)>> {
        loop {
            let mut iov = [IoSliceMut::new(&mut buf[..])];
            let mut cmsg = nix::cmsg_space!(TimeVal);
            let msg = match recvmsg::<SockaddrIn>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(m) => m,
                Err(Errno::EAGAIN) => return Ok(None),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut at = None;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmTimestamp(tv) = c {
                        at = timeval_to_system(tv);
                    }
                }
            }
            return Ok(Some((msg.bytes, at.unwrap_or_else(SystemTime::now))));
        }
    }
}

fn timeval_to_system(tv: TimeVal) -> Option<SystemTime> {
    let secs = u64::try_from(tv.tv_sec()).ok()?;
    let micros = u32::try_from(tv.tv_usec()).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs) + Duration::from_micros(micros.into()))
}

impl AsRawFd for IcmpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for IcmpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<OwnedFd> for IcmpSocket {
    /// Adopts an already opened raw ICMP socket (e.g. one passed by a parent).
    fn from(fd: OwnedFd) -> Self {
        IcmpSocket { fd }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::test_ns::TempNs;

    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    #[test]
    fn echo_over_loopback_is_read_parsed_and_matched() {
        let ns = TempNs::new("hbicmp");
        let seen = ns.run(|| {
            let sock = IcmpSocket::new().expect("raw socket (needs root)");
            let mut buf = vec![0u8; MAX_DATAGRAM];
            assert!(
                sock.recv(&mut buf).expect("recv").is_none(),
                "nothing queued yet"
            );
            sock.set_ttl(7).expect("ttl");
            let dst = Ipv4Addr::LOCALHOST;
            sock.send_echo(dst, 0x4242, 9, b"habox").expect("send");
            let mut seen = Vec::new();
            for _ in 0..20 {
                let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
                poll(&mut fds, PollTimeout::from(100u16)).expect("poll");
                while let Some(r) = sock.recv(&mut buf).expect("recv") {
                    let reply = r.echo_reply(0x4242).map(|(s, d)| (s, d.to_vec()));
                    let other = r.echo_reply(0x4243).is_some();
                    seen.push((r.datagram.icmp_len, r.datagram.ttl, reply, other));
                }
                if seen.iter().any(|s| s.2.is_some()) {
                    break;
                }
            }
            seen
        });
        // Loopback shows the raw socket the kernel's reply, and no longer our own request
        // (TTL 7): the filter keeps echo requests out (`echo_requests_woke_the_pinger`).
        assert!(!seen.iter().any(|s| s.1 == 7), "{seen:?}");
        assert!(
            seen.iter()
                .any(|s| s.2 == Some((9, b"habox".to_vec())) && s.0 == 13 && !s.3),
            "{seen:?}"
        );
    }

    #[test]
    fn error_for_matches_only_our_ident_and_destination() {
        use crate::wire::icmp::Quoted;
        let dst = Ipv4Addr::new(198, 51, 100, 9);
        let repr = Repr::Error {
            kind: ErrorKind::DstUnreachable,
            code: 1,
            info: 0,
            quoted: Some(Quoted {
                src_addr: Ipv4Addr::new(198, 51, 100, 1),
                dst_addr: dst,
                protocol: 1,
                echo: Some((0x77, 5)),
            }),
        };
        let mut d = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 198, 51, 100, 1, 198, 51, 100, 1,
        ];
        let mut icmp_buf = vec![0; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut icmp_buf[..]));
        d.extend_from_slice(&icmp_buf);
        let r = Received {
            datagram: icmp::parse_datagram(&d).expect("parse"),
            at: SystemTime::now(),
            read_at: Instant::now(),
        };
        assert_eq!(
            r.error_for(0x77, dst),
            Some(EchoError {
                kind: ErrorKind::DstUnreachable,
                code: 1,
                info: 0,
                seq_no: 5
            })
        );
        assert_eq!(r.error_for(0x78, dst), None);
        assert_eq!(r.error_for(0x77, Ipv4Addr::new(198, 51, 100, 8)), None);
        assert_eq!(r.echo_reply(0x77), None);
    }
}
