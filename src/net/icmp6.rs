//! An owned, non-blocking raw ICMPv6 socket (`AF_INET6`, `SOCK_RAW`, `IPPROTO_ICMPV6`) for
//! the IPv6 pingers: lkping -6, ip-ra's connectivity check, pikemon's ping groups. Used like
//! `net::icmp::IcmpSocket`: register `as_raw_fd()` for reading, call `recv` until `Ok(None)`.
//!
//! Unlike IPv4, the kernel hands over the ICMPv6 message without the IP header: the source
//! comes from recvmsg's address, the hop limit from `IPV6_HOPLIMIT` ancillary data. The kernel
//! fills the checksum of what we send and verifies the checksum of what we receive (RFC 3542
//! §3.1). `ICMP6_FILTER` passes only echo replies and the four error types (what iputils
//! `ping -6` lets through), so Neighbor Discovery and MLD traffic never wakes the pinger.
//! Needs CAP_NET_RAW.

use std::ffi::OsString;
use std::io::{self, IoSliceMut};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, recvmsg, sendto, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned,
    MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn6,
};
use nix::sys::time::TimeVal;

use crate::wire::icmpv6::{self, ErrorKind, Repr};

/// Largest message a raw ICMPv6 socket can hand over.
pub const MAX_MESSAGE: usize = 65535;

/// A raw ICMPv6 socket, closed on drop.
#[derive(Debug)]
pub struct Icmp6Socket {
    fd: OwnedFd,
}

/// One ICMPv6 message read from the socket.
#[derive(Debug, Clone, Copy)]
pub struct Received<'b> {
    /// Who sent it; link-local sources carry the interface as scope id.
    pub src: SocketAddrV6,
    /// The hop limit it arrived with (ping prints it as `ttl=`); 0 when the kernel gave none.
    pub hop_limit: u8,
    /// Bytes of ICMPv6 received (ping's "N bytes from").
    pub icmp_len: usize,
    pub icmp: Repr<'b>,
    /// When the kernel received it (SO_TIMESTAMP, wall clock).
    pub at: SystemTime,
    /// When `recv` read it (monotonic).
    pub read_at: Instant,
}

/// An ICMPv6 error message answering one of our echo requests.
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
        match self.icmp {
            Repr::EchoReply {
                ident: i,
                seq_no,
                data,
            } if i == ident => Some((seq_no, data)),
            _ => None,
        }
    }

    /// The error when this is an ICMPv6 error quoting our echo request (`ident`) to `dst`.
    pub fn error_for(&self, ident: u16, dst: Ipv6Addr) -> Option<EchoError> {
        match self.icmp {
            Repr::Error {
                kind,
                code,
                info,
                quoted: Some(q),
            } if q.dst_addr == dst => {
                let (i, seq_no) = q.echo?;
                (i == ident).then_some(EchoError {
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

impl Icmp6Socket {
    /// Opens a non-blocking, close-on-exec raw ICMPv6 socket with receive timestamps and hop
    /// limits on, filtered to echo replies and errors. Fails with EPERM without CAP_NET_RAW.
    pub fn new() -> io::Result<Icmp6Socket> {
        let fd = socket(
            AddressFamily::Inet6,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::IcmpV6,
        )
        .map_err(io::Error::from)?;
        setsockopt(&fd, sockopt::ReceiveTimestamp, &true).map_err(io::Error::from)?;
        setsockopt(&fd, sockopt::Ipv6RecvHopLimit, &true).map_err(io::Error::from)?;
        crate::sys::icmp6::pass_only(
            &fd,
            &[
                icmpv6::TYPE_ECHO_REPLY,
                icmpv6::TYPE_DST_UNREACH,
                icmpv6::TYPE_PACKET_TOO_BIG,
                icmpv6::TYPE_TIME_EXCEEDED,
                icmpv6::TYPE_PARAM_PROBLEM,
            ],
        )?;
        Ok(Icmp6Socket { fd })
    }

    /// Receives only the echo replies that carry `ident` (a pinger that reads no errors:
    /// pikemon's ping groups); the kernel drops the rest before it wakes anybody.
    pub fn only_replies_to(&self, ident: u16) -> io::Result<()> {
        use crate::sys::packet::{accept_only, FieldEq};
        // A raw ICMPv6 socket's filter sees the ICMPv6 header first.
        let reply = FieldEq {
            offset: 0,
            width: 1,
            value: u32::from(icmpv6::TYPE_ECHO_REPLY),
        };
        let id = FieldEq {
            offset: 4,
            width: 2,
            value: u32::from(ident),
        };
        accept_only(&self.fd, &[reply, id])
    }

    /// Sends and receives only through `ifname` (SO_BINDTODEVICE).
    pub fn bind_device(&self, ifname: &str) -> io::Result<()> {
        setsockopt(&self.fd, sockopt::BindToDevice, &OsString::from(ifname))
            .map_err(io::Error::from)
    }

    /// Uses `addr` as the source address (it must be local; a link-local one needs `scope`).
    pub fn bind_addr(&self, addr: Ipv6Addr, scope: u32) -> io::Result<()> {
        bind(
            self.fd.as_raw_fd(),
            &SockaddrIn6::from(SocketAddrV6::new(addr, 0, 0, scope)),
        )
        .map_err(io::Error::from)
    }

    /// Sets the hop limit of unicast and multicast requests.
    pub fn set_hop_limit(&self, hops: u8) -> io::Result<()> {
        setsockopt(&self.fd, sockopt::Ipv6MulticastHops, &i32::from(hops))
            .map_err(io::Error::from)?;
        setsockopt(&self.fd, sockopt::Ipv6Ttl, &i32::from(hops)).map_err(io::Error::from)
    }

    /// Sends one echo request to `dst` (its scope id picks the interface of a link-local or
    /// multicast destination). `WouldBlock` when the socket buffer is full.
    pub fn send_echo(
        &self,
        dst: SocketAddrV6,
        ident: u16,
        seq_no: u16,
        data: &[u8],
    ) -> io::Result<()> {
        let repr = Repr::EchoRequest {
            ident,
            seq_no,
            data,
        };
        // The kernel computes the checksum with the source it picks (RFC 3542 §3.1).
        let buf = repr.to_bytes(Ipv6Addr::UNSPECIFIED, *dst.ip());
        let to = SockaddrIn6::from(dst);
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

    /// Reads the next ICMPv6 message into `buf` (use `MAX_MESSAGE` bytes; a shorter buffer
    /// truncates). `Ok(None)` when nothing is queued. Messages that do not parse are skipped.
    pub fn recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<Option<Received<'b>>> {
        let (len, src, hop_limit, at) = loop {
            let Some(got) = self.read_one(buf)? else {
                return Ok(None);
            };
            match buf.get(..got.0).map(Repr::parse) {
                Some(Ok(_)) => break got,
                Some(Err(e)) => log::debug!("icmp6: ignored a message: {e}"),
                None => {}
            }
        };
        let read_at = Instant::now();
        let bytes: &'b [u8] = buf.get(..len).unwrap_or(&[]);
        Ok(Repr::parse(bytes).ok().map(|icmp| Received {
            src,
            hop_limit,
            icmp_len: len,
            icmp,
            at,
            read_at,
        }))
    }

    /// One recvmsg: length, source, hop limit and kernel receive time; `None` on EAGAIN.
    fn read_one(
        &self,
        buf: &mut [u8],
    ) -> io::Result<Option<(usize, SocketAddrV6, u8, SystemTime)>> {
        loop {
            let mut iov = [IoSliceMut::new(&mut buf[..])];
            let mut cmsg = nix::cmsg_space!(TimeVal, libc::c_int);
            let msg = match recvmsg::<SockaddrIn6>(
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
            let (mut at, mut hops) = (None, 0u8);
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    match c {
                        ControlMessageOwned::ScmTimestamp(tv) => at = timeval_to_system(tv),
                        ControlMessageOwned::Ipv6HopLimit(h) => hops = u8::try_from(h).unwrap_or(0),
                        _ => {}
                    }
                }
            }
            let src = msg.address.map_or(
                SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0),
                SocketAddrV6::from,
            );
            return Ok(Some((
                msg.bytes,
                src,
                hops,
                at.unwrap_or_else(SystemTime::now),
            )));
        }
    }
}

fn timeval_to_system(tv: TimeVal) -> Option<SystemTime> {
    let secs = u64::try_from(tv.tv_sec()).ok()?;
    let micros = u32::try_from(tv.tv_usec()).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs) + Duration::from_micros(micros.into()))
}

impl AsRawFd for Icmp6Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Icmp6Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::test_ns::TempNs;

    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    #[test]
    fn echo6_over_loopback_is_read_with_hop_limit_and_filtered() {
        let ns = TempNs::new("hv6icmp");
        let seen = ns.run(|| {
            let sock = Icmp6Socket::new().expect("raw socket (needs root)");
            let mut buf = vec![0u8; MAX_MESSAGE];
            assert!(sock.recv(&mut buf).expect("recv").is_none());
            sock.set_hop_limit(7).expect("hop limit");
            let dst = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0);
            sock.send_echo(dst, 0x4242, 9, b"habox").expect("send");
            let mut seen = Vec::new();
            for _ in 0..20 {
                let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
                poll(&mut fds, PollTimeout::from(100u16)).expect("poll");
                while let Some(r) = sock.recv(&mut buf).expect("recv") {
                    let reply = r.echo_reply(0x4242).map(|(s, d)| (s, d.to_vec()));
                    seen.push((*r.src.ip(), r.icmp_len, r.hop_limit, reply));
                }
                if seen.iter().any(|s| s.3.is_some()) {
                    break;
                }
            }
            seen
        });
        // The filter hides our own request (type 128, hop limit 7); only the kernel's reply
        // is read, with the kernel's default hop limit.
        assert_eq!(
            seen,
            vec![(Ipv6Addr::LOCALHOST, 13, 64, Some((9, b"habox".to_vec())))]
        );
    }
}
