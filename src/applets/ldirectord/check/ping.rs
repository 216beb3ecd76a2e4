//! checktype=ping (and connect for UDP virtuals): ICMP echo requests to the real over a raw
//! socket (root, as Net::Ping "icmp"); up on the first echo reply from it that answers one
//! of them. `checkcount` requests go one after another, `checktimeout` apart, as the
//! original's: attempt k at start + k × checktimeout while no reply came, down after
//! checkcount × checktimeout (the daemon's bound). All of them sent at once were lost
//! together in a short outage of the real (a NIC reset, a lost ARP entry), and the retries
//! were worth nothing. The check never sleeps: it asks the loop to wake it for the next
//! attempt (`Poll::Until`). The echo layout (RFC 792 / RFC 4443) is small enough to live here.
//! Each check draws its identifier and an 8-byte cookie at random, and a reply counts only
//! with both, a sequence number it sent, and the cookie echoed at the start of its data.
//! With the daemon's pid as the identifier and fixed data, anyone who could send packets
//! from a dead real's address kept it in the table with forged replies for every identifier.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    recvfrom, sendto, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType,
    SockaddrStorage,
};

use super::{random_bytes, Check, Poll, SetAside, DATAGRAMS_PER_WAKE};
use crate::applets::ldirectord::core::Outcome;
use crate::event::Interest;

/// An echo request: type, code, checksum, id, sequence, the 8-byte cookie as its data.
fn echo_request(v6: bool, id: u16, seq: u16, cookie: &[u8; 8]) -> Vec<u8> {
    let mut b = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(cookie);
    if !v6 {
        // ICMPv6 checksums are filled in by the kernel on raw sockets.
        let sum = checksum(&b);
        b[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    b
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What was asked: the identifier, the sequence numbers below `count` (those sent so far),
/// and the cookie.
#[derive(Debug, Clone, Copy)]
struct Asked {
    id: u16,
    count: u16,
    cookie: [u8; 8],
}

/// Whether `packet` (IPv4: with its IP header) is an echo reply to one of our requests.
fn is_reply(packet: &[u8], v6: bool, asked: &Asked) -> bool {
    let icmp = if v6 {
        packet
    } else {
        let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
        packet.get(ihl..).unwrap_or(&[])
    };
    let want_type = if v6 { 129 } else { 0 };
    let (Some(&kind), Some(id), Some(seq), Some(data)) =
        (icmp.first(), icmp.get(4..6), icmp.get(6..8), icmp.get(8..))
    else {
        return false;
    };
    kind == want_type
        && id == asked.id.to_be_bytes()
        && u16::from_be_bytes([seq[0], seq[1]]) < asked.count
        && data.starts_with(&asked.cookie)
}

/// How many of `total` attempts, one every `per_try` from `start`, are due by `now`: the
/// first at once, attempt k at start + k × per_try.
fn attempts_due(start: Instant, now: Instant, per_try: Duration, total: u16) -> u16 {
    let per_try_ns = per_try.as_nanos().max(1);
    let elapsed = now.saturating_duration_since(start).as_nanos() / per_try_ns;
    u16::try_from(elapsed.saturating_add(1))
        .unwrap_or(u16::MAX)
        .min(total)
}

/// When attempt `k` is due.
fn attempt_at(start: Instant, per_try: Duration, k: u16) -> Instant {
    start
        .checked_add(per_try.saturating_mul(u32::from(k)))
        .unwrap_or(start)
}

/// A ping in progress.
pub struct Ping {
    sock: OwnedFd,
    target: IpAddr,
    /// `asked.count` grows as the attempts go out, up to `total`.
    asked: Asked,
    total: u16,
    start: Instant,
    per_try: Duration,
    /// Echo replies from the real that answered none of our requests.
    set_aside: SetAside,
    /// Why an attempt after the first could not be sent (it counts as lost).
    send_failed: Option<String>,
}

impl Ping {
    /// Sends the first of `count` attempts (1 to 16), `per_try` apart from `start`.
    pub fn start(
        target: IpAddr,
        count: u32,
        per_try: Duration,
        start: Instant,
    ) -> io::Result<Ping> {
        let v6 = target.is_ipv6();
        let (fam, proto) = if v6 {
            (AddressFamily::Inet6, SockProtocol::IcmpV6)
        } else {
            (AddressFamily::Inet, SockProtocol::Icmp)
        };
        let sock = socket(
            fam,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            proto,
        )?;
        // Echo replies only: every other ICMP message of the host (echo requests to it, the
        // neighbour discovery of the link) would wake the loop for nothing.
        if v6 {
            crate::sys::icmp6::pass_only(&sock, &[crate::wire::icmpv6::TYPE_ECHO_REPLY])?;
        } else {
            crate::sys::icmp::pass_only(&sock, &[u8::from(crate::wire::icmp::Message::EchoReply)])?;
        }
        let asked = Asked {
            id: u16::from_be_bytes(random_bytes::<2>()),
            count: 0,
            cookie: random_bytes::<8>(),
        };
        let mut ping = Ping {
            sock,
            target,
            asked,
            total: u16::try_from(count.clamp(1, 16)).unwrap_or(1),
            start,
            per_try,
            set_aside: SetAside::default(),
            send_failed: None,
        };
        ping.send_next()?;
        Ok(ping)
    }

    /// Sends the next attempt; its sequence number counts as asked even if it failed.
    fn send_next(&mut self) -> io::Result<()> {
        let seq = self.asked.count;
        self.asked.count = seq.saturating_add(1);
        let dest = SockaddrStorage::from(SocketAddr::new(self.target, 0));
        let req = echo_request(
            self.target.is_ipv6(),
            self.asked.id,
            seq,
            &self.asked.cookie,
        );
        sendto(self.sock.as_raw_fd(), &req, &dest, MsgFlags::empty())?;
        Ok(())
    }

    /// Sends the attempts due by `now`, and says what to wait for: a reply, and the next
    /// attempt's time while some are left.
    fn send_due(&mut self, now: Instant) -> Poll {
        let due = attempts_due(self.start, now, self.per_try, self.total);
        while self.asked.count < due {
            let k = self.asked.count;
            if let Err(e) = self.send_next() {
                self.send_failed = Some(format!(
                    "ping: attempt {} of {} not sent: {e}",
                    k + 1,
                    self.total
                ));
            }
        }
        if self.asked.count < self.total {
            Poll::Until(
                Interest::Read,
                attempt_at(self.start, self.per_try, self.asked.count),
            )
        } else {
            Poll::Wait(Interest::Read)
        }
    }
}

/// The fuzz body's entry: `packet` judged as a reply to a fixed request, both families.
pub(crate) fn judge_for_fuzzing(packet: &[u8]) -> [bool; 4] {
    let asked = Asked {
        id: 0x1234,
        count: 16,
        cookie: *b"c00k1e!!",
    };
    [
        is_reply(packet, false, &asked),
        is_reply(packet, true, &asked),
        is_echo_reply(packet, false),
        is_echo_reply(packet, true),
    ]
}

/// Whether `packet` is an echo reply at all (for the timeout's note).
fn is_echo_reply(packet: &[u8], v6: bool) -> bool {
    let icmp = if v6 {
        packet
    } else {
        let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
        packet.get(ihl..).unwrap_or(&[])
    };
    icmp.first() == Some(if v6 { &129 } else { &0 })
}

impl Check for Ping {
    fn fd(&self) -> Option<RawFd> {
        Some(self.sock.as_raw_fd())
    }

    fn note(&self) -> Option<String> {
        match (self.set_aside.note(), &self.send_failed) {
            (Some(n), Some(f)) => Some(format!("{n}; {f}")),
            (n, f) => n.or_else(|| f.clone()),
        }
    }

    fn advance(&mut self) -> Poll {
        let mut buf = [0u8; 1500];
        for _ in 0..DATAGRAMS_PER_WAKE {
            match recvfrom::<SockaddrStorage>(self.sock.as_raw_fd(), &mut buf) {
                Ok((n, from)) => {
                    let from_ip = from.and_then(|a| {
                        a.as_sockaddr_in()
                            .map(|s| IpAddr::V4(s.ip()))
                            .or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
                    });
                    if from_ip == Some(self.target) {
                        let v6 = self.target.is_ipv6();
                        let packet = buf.get(..n).unwrap_or_default();
                        if is_reply(packet, v6, &self.asked) {
                            return Poll::Ready(Outcome::Up("echo reply".into()));
                        }
                        if is_echo_reply(packet, v6) {
                            self.set_aside
                                .add("ping: an echo reply to none of our requests".into());
                        }
                    }
                }
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(e) => return Poll::Ready(Outcome::Down(format!("ping: {e}"))),
            }
        }
        // More may wait after a full batch: poll says so at once, after the other events.
        self.send_due(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASKED: Asked = Asked {
        id: 0x1234,
        count: 2,
        cookie: *b"c00k1e!!",
    };

    #[test]
    fn echo_request_checksum_verifies() {
        let b = echo_request(false, 0x1234, 1, &ASKED.cookie);
        assert_eq!(checksum(&b), 0);
        assert_eq!(&b[..2], &[8, 0]);
        assert_eq!(&b[8..], b"c00k1e!!");
    }

    /// A reply counts with our identifier, a sequence number we sent and our cookie; the
    /// old fixed data and the daemon's pid as identifier let a forger keep a dead real up
    /// (`forged_echo_replies_kept_a_dead_ping_real_in_the_table` plays it for real).
    #[test]
    fn forged_echo_replies_with_the_right_identifier_kept_a_dead_real_up() {
        let reply = |id: [u8; 2], seq: u8, data: &[u8]| {
            let mut ip = vec![0x45u8; 20];
            ip.extend_from_slice(&[0, 0, 0, 0, id[0], id[1], 0, seq]);
            ip.extend_from_slice(data);
            ip
        };
        assert!(is_reply(
            &reply([0x12, 0x34], 1, b"c00k1e!!"),
            false,
            &ASKED
        ));
        // Padding after the cookie is fine.
        assert!(is_reply(
            &reply([0x12, 0x34], 0, b"c00k1e!!\0\0"),
            false,
            &ASKED
        ));
        assert!(!is_reply(
            &reply([0x12, 0x35], 1, b"c00k1e!!"),
            false,
            &ASKED
        ));
        assert!(!is_reply(
            &reply([0x12, 0x34], 2, b"c00k1e!!"),
            false,
            &ASKED
        ));
        assert!(!is_reply(
            &reply([0x12, 0x34], 1, b"ldirectd"),
            false,
            &ASKED
        ));
        assert!(!is_reply(&reply([0x12, 0x34], 1, b"c00k"), false, &ASKED));
        assert!(!is_reply(&[0x4f], false, &ASKED));
        let mut v6 = vec![129, 0, 0, 0, 0x12, 0x34, 0, 0];
        v6.extend_from_slice(b"c00k1e!!");
        assert!(is_reply(&v6, true, &ASKED));
        assert!(is_echo_reply(&v6, true));
        assert!(!is_reply(&v6[..12], true, &ASKED));
    }

    /// checkcount=3 sent all three requests at once, so a short outage of the real (a NIC
    /// reset, a lost ARP entry) lost them together; attempt k goes at start + k × checktimeout
    /// now (`ping_checkcount_sent_every_attempt_at_once_so_a_short_outage_lost_them_all`
    /// plays it for real).
    #[test]
    fn ping_checkcount_attempts_are_spaced_one_checktimeout_apart() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(attempts_due(t0, t0, s, 3), 1);
        assert_eq!(attempts_due(t0, at(999), s, 3), 1);
        assert_eq!(attempts_due(t0, at(1000), s, 3), 2);
        assert_eq!(attempts_due(t0, at(1999), s, 3), 2);
        assert_eq!(attempts_due(t0, at(2000), s, 3), 3);
        // Never more than checkcount, however late the loop comes.
        assert_eq!(attempts_due(t0, at(60_000), s, 3), 3);
        assert_eq!(attempts_due(t0, at(60_000), s, 1), 1);
        // A clock read before the start sends only the first.
        assert_eq!(attempts_due(at(5), t0, s, 3), 1);
        assert_eq!(attempt_at(t0, s, 0), t0);
        assert_eq!(attempt_at(t0, s, 2), at(2000));
    }

    /// Only the sequence numbers sent so far are answers: a reply to attempt 2 before it
    /// went out is forged.
    #[test]
    fn a_reply_to_an_attempt_not_yet_sent_is_not_an_answer() {
        let asked = Asked { count: 1, ..ASKED };
        let mut r = vec![0x45u8; 20];
        r.extend_from_slice(&[0, 0, 0, 0, 0x12, 0x34, 0, 1]);
        r.extend_from_slice(b"c00k1e!!");
        assert!(!is_reply(&r, false, &asked));
        assert!(is_reply(&r, false, &ASKED));
    }
}
