//! Echo requests to IPv4 and IPv6 hosts side by side, for a daemon that pings a mixed list of
//! hosts from one event loop (pikemon's ping groups): a raw ICMPv4 socket, a raw ICMPv6
//! socket, or both, each opened only when a host of its family is pinged. Register every fd
//! of `fds()` for reading and call `drain_replies` when one is readable.

use std::io;
use std::net::{IpAddr, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use super::icmp::IcmpSocket;
use super::icmp6::Icmp6Socket;

/// The raw sockets of both families (each optional), closed on drop.
#[derive(Debug)]
pub struct EchoSockets {
    v4: Option<IcmpSocket>,
    v6: Option<Icmp6Socket>,
}

/// An echo reply that carries our identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoReply {
    pub from: IpAddr,
    pub seq: u16,
    /// Its data, up to the first 64 bytes.
    pub data: Vec<u8>,
    /// When it was read (monotonic).
    pub at: Instant,
}

impl EchoSockets {
    /// Opens the sockets of the families asked for (CAP_NET_RAW), each passing only the
    /// echo replies that carry `ident`: every other ICMP message of the host (a LAN's pings
    /// of a VIP, a stranger's replies or errors) stays in the kernel.
    pub fn open(v4: bool, v6: bool, ident: u16) -> io::Result<EchoSockets> {
        let v4 = if v4 {
            let s = IcmpSocket::new()?;
            s.only_replies_to(ident)?;
            Some(s)
        } else {
            None
        };
        let v6 = if v6 {
            let s = Icmp6Socket::new()?;
            s.only_replies_to(ident)?;
            Some(s)
        } else {
            None
        };
        Ok(EchoSockets { v4, v6 })
    }

    /// The fds to watch for reading.
    pub fn fds(&self) -> Vec<RawFd> {
        let mut fds = Vec::new();
        if let Some(s) = &self.v4 {
            fds.push(s.as_raw_fd());
        }
        if let Some(s) = &self.v6 {
            fds.push(s.as_raw_fd());
        }
        fds
    }

    /// Sends one echo request to `dst` (a global IPv6 address; no scope).
    pub fn send_echo(&self, dst: IpAddr, ident: u16, seq: u16, data: &[u8]) -> io::Result<()> {
        let unsupported = || io::Error::from_raw_os_error(libc::EAFNOSUPPORT);
        match dst {
            IpAddr::V4(a) => self
                .v4
                .as_ref()
                .ok_or_else(unsupported)?
                .send_echo(a, ident, seq, data),
            IpAddr::V6(a) => self.v6.as_ref().ok_or_else(unsupported)?.send_echo(
                SocketAddrV6::new(a, 0, 0, 0),
                ident,
                seq,
                data,
            ),
        }
    }

    /// Reads what is queued (at most `max` messages per socket) and returns the echo replies
    /// carrying `ident`; everything else is dropped. A read error ends that socket's turn.
    pub fn drain_replies(&self, buf: &mut [u8], ident: u16, max: usize) -> Vec<EchoReply> {
        let mut out = Vec::new();
        if let Some(s) = &self.v4 {
            for _ in 0..max {
                match s.recv(buf) {
                    Ok(Some(r)) => {
                        if let Some((seq, data)) = r.echo_reply(ident) {
                            out.push(EchoReply {
                                from: r.datagram.src_addr.into(),
                                seq,
                                data: data[..data.len().min(64)].to_vec(),
                                at: r.read_at,
                            });
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        log::debug!("ICMP recv: {e}");
                        break;
                    }
                }
            }
        }
        if let Some(s) = &self.v6 {
            for _ in 0..max {
                match s.recv(buf) {
                    Ok(Some(r)) => {
                        if let Some((seq, data)) = r.echo_reply(ident) {
                            out.push(EchoReply {
                                from: IpAddr::V6(*r.src.ip()),
                                seq,
                                data: data[..data.len().min(64)].to_vec(),
                                at: r.read_at,
                            });
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        log::debug!("ICMPv6 recv: {e}");
                        break;
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::test_ns::TempNs;
    use std::net::{Ipv4Addr, Ipv6Addr};

    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    #[test]
    fn both_families_are_pinged_and_their_replies_drained_together() {
        let ns = TempNs::new("hv6echo");
        let got = ns.run(|| {
            let s = EchoSockets::open(true, true, 0x77).expect("raw sockets (needs root)");
            assert_eq!(s.fds().len(), 2);
            s.send_echo(Ipv4Addr::LOCALHOST.into(), 0x77, 1, b"pikemon")
                .expect("v4");
            s.send_echo(Ipv6Addr::LOCALHOST.into(), 0x77, 2, b"pikemon")
                .expect("v6");
            let mut buf = vec![0u8; 2048];
            let mut got = Vec::new();
            for _ in 0..20 {
                let fds = s.fds();
                let mut pfds: Vec<PollFd> = fds
                    .iter()
                    .map(|fd| PollFd::new(crate::sys::borrow_fd(*fd), PollFlags::POLLIN))
                    .collect();
                poll(&mut pfds, PollTimeout::from(100u16)).expect("poll");
                got.extend(
                    s.drain_replies(&mut buf, 0x77, 8)
                        .into_iter()
                        .map(|r| (r.from, r.seq)),
                );
                if got.len() >= 2 {
                    break;
                }
            }
            got
        });
        assert!(got.contains(&(Ipv4Addr::LOCALHOST.into(), 1)), "{got:?}");
        assert!(got.contains(&(Ipv6Addr::LOCALHOST.into(), 2)), "{got:?}");
        // Only v4 open: an IPv6 destination is refused, not sent.
        let only4 = EchoSockets { v4: None, v6: None };
        assert!(only4
            .send_echo(Ipv6Addr::LOCALHOST.into(), 1, 1, b"")
            .is_err());
    }

    /// The ping groups' raw sockets took every ICMP message of the host: each echo request
    /// to it (a client pinging a VIP) and each reply to another pinger woke the worker,
    /// SCHED_FIFO with `realtime`, to be dropped in user space. The kernel drops them now.
    #[test]
    fn strangers_echoes_woke_the_ping_groups_sockets() {
        let ns = TempNs::new("hechoflt");
        let read = ns.run(|| {
            let s = EchoSockets::open(true, true, 0x77).expect("raw sockets (needs root)");
            // Another pinger of the host: its requests and the kernel's replies to them.
            let other = EchoSockets {
                v4: Some(IcmpSocket::new().expect("v4")),
                v6: Some(Icmp6Socket::new().expect("v6")),
            };
            for seq in 0..5 {
                other
                    .send_echo(Ipv4Addr::LOCALHOST.into(), 0x78, seq, b"stranger")
                    .expect("v4");
                other
                    .send_echo(Ipv6Addr::LOCALHOST.into(), 0x78, seq, b"stranger")
                    .expect("v6");
            }
            s.send_echo(Ipv4Addr::LOCALHOST.into(), 0x77, 9, b"ours")
                .expect("v4");
            s.send_echo(Ipv6Addr::LOCALHOST.into(), 0x77, 9, b"ours")
                .expect("v6");
            std::thread::sleep(std::time::Duration::from_millis(200));
            let mut buf = vec![0u8; 2048];
            let mut read = (Vec::new(), Vec::new());
            if let Some(v4) = &s.v4 {
                while let Ok(Some(r)) = v4.recv(&mut buf) {
                    read.0.push(r.echo_reply(0x77).map(|(seq, _)| seq));
                }
            }
            if let Some(v6) = &s.v6 {
                while let Ok(Some(r)) = v6.recv(&mut buf) {
                    read.1.push(r.echo_reply(0x77).map(|(seq, _)| seq));
                }
            }
            read
        });
        // Our two replies, nothing else: not the 20 requests, not the 10 strangers' replies.
        assert_eq!(read, (vec![Some(9)], vec![Some(9)]));
    }
}
