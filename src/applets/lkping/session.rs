//! One ping run: resolve the destination, set the socket up as ping4_run does (broadcast
//! probe, device or source binding, TTL), then the event loop — send timer, deadline and
//! linger timers, socket reads, SIGINT — and finally the statistics block.

use std::fmt;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{setsockopt, sockopt};

use super::options::{Interface, Options};
use super::stats::{reply_time, ReplyClass, Stats, Tally};
use crate::event::{Event, EventLoop, Interest, TimerId, Token};
use crate::net::icmp::{IcmpSocket, Received};
use crate::wire::icmp::ErrorKind;

/// Why a run could not start (or its event loop failed). Display is ping's message.
#[derive(Debug)]
pub enum LkpingError {
    /// The destination does not resolve to an IPv4 address.
    UnknownHost { host: String, reason: String },
    /// The raw socket cannot be opened (no CAP_NET_RAW: "Operation not permitted").
    Socket(io::Error),
    /// `-I` names an interface that SO_BINDTODEVICE refuses.
    BindDevice { device: String, source: io::Error },
    /// `-I` names an address that is not local.
    Bind(io::Error),
    /// No route to the destination (found by the UDP probe, as ping does).
    Connect(io::Error),
    /// The destination is a broadcast address and `-b` was not given.
    BroadcastRefused,
    /// A user without root asked for broadcast pings more often than once a second.
    BroadcastInterval(Duration),
    /// A socket option failed (`what` says which, in ping's words).
    SocketOption {
        what: &'static str,
        source: io::Error,
    },
    /// poll(2) or the signal pipe failed.
    EventLoop(io::Error),
}

/// The OS error text without Rust's " (os error N)" suffix, as ping prints it.
fn os_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
    }
}

impl fmt::Display for LkpingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LkpingError::UnknownHost { host, reason } => write!(f, "{host}: {reason}"),
            LkpingError::Socket(e) => write!(f, "socket: {}", os_text(e)),
            LkpingError::BindDevice { device, source } => {
                write!(f, "SO_BINDTODEVICE {device}: {}", os_text(source))
            }
            LkpingError::Bind(e) => write!(f, "bind: {}", os_text(e)),
            LkpingError::Connect(e) => write!(f, "connect: {}", os_text(e)),
            LkpingError::BroadcastRefused => f.write_str(
                "Do you want to ping broadcast? Then -b. If not, check your local firewall rules",
            ),
            LkpingError::BroadcastInterval(d) => write!(
                f,
                "broadcast ping with too short interval: {}",
                d.as_millis()
            ),
            LkpingError::SocketOption { what, source } => {
                write!(f, "{what}: {}", os_text(source))
            }
            LkpingError::EventLoop(e) => write!(f, "event loop: {}", os_text(e)),
        }
    }
}

impl std::error::Error for LkpingError {}

const SOCKET: Token = Token(0);
const SEND: Token = Token(1);
const DEADLINE: Token = Token(2);
const LINGER: Token = Token(3);

/// Bytes of the send time at the start of the payload (a `struct timeval` on 64-bit Linux,
/// so the request bytes are ping's).
const STAMP_LEN: usize = 16;
/// ping's MAXIPLEN + MAXICMPLEN: room for IP options and an error quoting our request.
const RECV_SLACK: usize = 60 + 76;
/// Retry delay when the socket buffer is full, and the flood-ping pace (ping's MININTERVAL).
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// Shortest broadcast interval for a user without root (ping's 1000 ms).
const MIN_USER_BROADCAST_INTERVAL: Duration = Duration::from_secs(1);

/// Pings as `opts` says, writing ping's output to `out`; warnings and per-packet send errors
/// are dropped. Returns the counts (exit status 0 when `received > 0`).
pub fn run(opts: &Options, out: &mut dyn Write) -> Result<Stats, LkpingError> {
    run_with(opts, out, &mut io::sink())
}

/// Like `run`, with ping's stderr lines (broadcast warning, send errors) written to `err`.
pub fn run_with(
    opts: &Options,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Stats, LkpingError> {
    let dst = resolve(&opts.target)?;
    let sock = IcmpSocket::new().map_err(LkpingError::Socket)?;
    let device = match &opts.interface {
        Some(Interface::Device(d)) => Some(d.as_str()),
        _ => None,
    };
    if let Some(d) = device {
        sock.bind_device(d)
            .map_err(|source| LkpingError::BindDevice {
                device: d.to_string(),
                source,
            })?;
    }
    let source = match &opts.interface {
        Some(Interface::Address(a)) => {
            sock.bind_addr(*a).map_err(LkpingError::Bind)?;
            *a
        }
        _ => probe_source(dst, device, opts.broadcast, err)?,
    };
    let privileged = nix::unistd::geteuid().is_root();
    let multicast = opts.broadcast || dst.is_multicast();
    if multicast && !privileged && opts.interval < MIN_USER_BROADCAST_INTERVAL {
        return Err(LkpingError::BroadcastInterval(opts.interval));
    }
    if opts.broadcast {
        sock.set_broadcast(true)
            .map_err(|source| LkpingError::SocketOption {
                what: "cannot set broadcasting",
                source,
            })?;
    }
    if let Some(ttl) = opts.ttl {
        sock.set_ttl(ttl)
            .map_err(|source| LkpingError::SocketOption {
                what: "cannot set unicast time-to-live",
                source,
            })?;
    }

    let mut ev = EventLoop::new();
    ev.register(sock.as_raw_fd(), SOCKET, Interest::Read);
    if opts.stop_on_sigint {
        ev.watch_signals(&[libc::SIGINT])
            .map_err(LkpingError::EventLoop)?;
    }
    let mut header = format!("PING {} ({dst}) ", opts.target);
    if opts.interface.is_some() {
        header += &format!("from {source} {}: ", device.unwrap_or(""));
    }
    header += &format!("{}({}) bytes of data.\n", opts.size, opts.size + 8 + 20);
    let _ = out.write_all(header.as_bytes());
    let _ = out.flush();

    let start = Instant::now();
    if let Some(d) = opts.deadline {
        ev.set_timer(start + d, DEADLINE);
    }
    let mut s = Session {
        opts,
        out,
        err,
        sock,
        dst,
        ident: random_ident(),
        timing: opts.size >= STAMP_LEN,
        multicast,
        tally: Tally::new(),
        payload: (0..opts.size).map(|i| i as u8).collect(),
        start,
        last_send: start,
        next_send: start,
        send_timer: None,
        linger_armed: false,
        exiting: false,
        ev,
    };
    s.main_loop()?;
    let time = s.last_send.saturating_duration_since(s.start);
    let flood = opts.interval.is_zero();
    let summary = s.tally.summary(&opts.target, s.timing, time, flood);
    let _ = s.out.write_all(summary.as_bytes());
    let _ = s.out.flush();
    Ok(s.tally.stats(s.timing, time))
}

/// The destination as an IPv4 address: dotted quad, or the first IPv4 address of a name.
fn resolve(target: &str) -> Result<Ipv4Addr, LkpingError> {
    if let Ok(a) = target.parse::<Ipv4Addr>() {
        return Ok(a);
    }
    let unknown = |reason: String| LkpingError::UnknownHost {
        host: target.to_string(),
        reason,
    };
    if target.is_empty() {
        return Err(unknown("Name or service not known".into()));
    }
    let addrs = (target, 0).to_socket_addrs().map_err(|e| {
        let text = e.to_string();
        let text = text
            .strip_prefix("failed to lookup address information: ")
            .unwrap_or(&text);
        unknown(text.to_string())
    })?;
    addrs
        .filter_map(|a| match a {
            SocketAddr::V4(v4) => Some(*v4.ip()),
            SocketAddr::V6(_) => None,
        })
        .next()
        .ok_or_else(|| unknown("Address family for hostname not supported".into()))
}

/// ping's UDP probe: connecting a UDP socket finds the source address the kernel would use,
/// refuses an unroutable destination and reveals a broadcast one (EACCES without
/// SO_BROADCAST).
fn probe_source(
    dst: Ipv4Addr,
    device: Option<&str>,
    broadcast: bool,
    err: &mut dyn Write,
) -> Result<Ipv4Addr, LkpingError> {
    let probe = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(LkpingError::Socket)?;
    if let Some(d) = device {
        setsockopt(&probe, sockopt::BindToDevice, &d.into()).map_err(|e| {
            LkpingError::BindDevice {
                device: d.to_string(),
                source: io::Error::from_raw_os_error(e as i32),
            }
        })?;
    }
    if let Err(e) = probe.connect((dst, 1025)) {
        if e.raw_os_error() != Some(libc::EACCES) {
            return Err(LkpingError::Connect(e));
        }
        if !broadcast {
            return Err(LkpingError::BroadcastRefused);
        }
        let _ = writeln!(err, "WARNING: pinging broadcast address");
        probe
            .set_broadcast(true)
            .map_err(|source| LkpingError::SocketOption {
                what: "cannot set broadcasting",
                source,
            })?;
        probe.connect((dst, 1025)).map_err(LkpingError::Connect)?;
    }
    match probe.local_addr().map_err(LkpingError::Connect)? {
        SocketAddr::V4(a) => Ok(*a.ip()),
        SocketAddr::V6(_) => Ok(Ipv4Addr::UNSPECIFIED),
    }
}

/// A per-run echo identifier (ping: `rand() & 0xFFFF`), so concurrent pings on one host
/// tell their replies apart.
fn random_ident() -> u16 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() as u16
}

struct Session<'a> {
    opts: &'a Options,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    sock: IcmpSocket,
    dst: Ipv4Addr,
    ident: u16,
    /// The payload carries the send time (size ≥ 16), so rtt is measured and shown.
    timing: bool,
    /// Broadcast or multicast: duplicates are expected and not marked unless verbose.
    multicast: bool,
    tally: Tally,
    payload: Vec<u8>,
    start: Instant,
    last_send: Instant,
    next_send: Instant,
    send_timer: Option<TimerId>,
    linger_armed: bool,
    exiting: bool,
    ev: EventLoop,
}

impl Session<'_> {
    /// ping's loop exit conditions.
    fn done(&self) -> bool {
        let t = &self.tally;
        self.exiting
            || self.opts.count.is_some_and(|c| t.received + t.errors >= c)
            || (self.opts.deadline.is_some() && t.errors > 0)
    }

    /// With a count and no deadline, sending stops after `count` requests.
    fn may_send(&self) -> bool {
        !(self.opts.deadline.is_none()
            && self.opts.count.is_some_and(|c| self.tally.transmitted >= c))
    }

    fn main_loop(&mut self) -> Result<(), LkpingError> {
        let mut buf = vec![0u8; self.opts.size + 8 + RECV_SLACK];
        let mut events = Vec::new();
        self.send();
        while !self.done() {
            self.ev
                .wait(&mut events, None)
                .map_err(LkpingError::EventLoop)?;
            for e in &events {
                match *e {
                    Event::Readable(SOCKET) => self.read_all(&mut buf),
                    Event::Timer(SEND, _) => {
                        self.send_timer = None;
                        self.send();
                    }
                    Event::Timer(DEADLINE, _) | Event::Timer(LINGER, _) => self.exiting = true,
                    Event::Signal(libc::SIGINT) => self.exiting = true,
                    _ => {}
                }
            }
            // Flood ping (-i 0): the next request goes as soon as the last one is answered.
            if self.opts.interval.is_zero()
                && !self.done()
                && self.tally.in_flight() == 0
                && self.may_send()
            {
                if let Some(t) = self.send_timer.take() {
                    self.ev.cancel_timer(t);
                }
                self.send();
            }
        }
        Ok(())
    }

    /// Sends the next request (ping's pinger) and arms the next send or the linger timer.
    fn send(&mut self) {
        if !self.may_send() || self.exiting {
            return;
        }
        let now = Instant::now();
        if self.timing {
            let since = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
            let usecs = i64::from(since.subsec_micros());
            self.payload[..8].copy_from_slice(&secs.to_ne_bytes());
            self.payload[8..STAMP_LEN].copy_from_slice(&usecs.to_ne_bytes());
        }
        let seq = (self.tally.transmitted + 1) as u16;
        match self
            .sock
            .send_echo(self.dst, self.ident, seq, &self.payload)
        {
            Ok(()) => {}
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.raw_os_error() == Some(libc::ENOBUFS)
                    || e.raw_os_error() == Some(libc::ENOMEM) =>
            {
                // Queue full: not sent, try again shortly (ping does the same).
                self.send_timer = Some(self.ev.set_timer(now + MIN_INTERVAL, SEND));
                return;
            }
            Err(e) => {
                // A hard local error: ping pretends the request went out and says why.
                if !self.opts.quiet {
                    let _ = writeln!(self.err, "lkping: sendmsg: {}", os_text(&e));
                }
            }
        }
        self.tally.transmit();
        self.last_send = now;
        if self.may_send() {
            let step = if self.opts.interval.is_zero() {
                MIN_INTERVAL
            } else {
                self.opts.interval
            };
            self.next_send = (self.next_send + step).max(now);
            self.send_timer = Some(self.ev.set_timer(self.next_send, SEND));
        } else if !self.linger_armed && self.opts.deadline.is_none() {
            // ping's schedule_exit: after the last request, wait twice the worst rtt (at
            // least one interval) when replies came, else the -W linger time.
            self.linger_armed = true;
            let wait = if self.tally.received > 0 {
                let two_max = Duration::from_micros(2 * self.tally.tmax_us().max(0) as u64);
                two_max.max(self.opts.interval)
            } else {
                self.opts.linger
            };
            self.ev.set_timer(now + wait, LINGER);
        }
    }

    fn read_all(&mut self, buf: &mut [u8]) {
        loop {
            match self.sock.recv(buf) {
                Ok(Some(r)) => self.handle(&r),
                Ok(None) => return,
                Err(e) => {
                    log::debug!("lkping: recv: {e}");
                    return;
                }
            }
        }
    }

    /// One ICMP message: our echo reply, an error quoting our request, or someone else's.
    fn handle(&mut self, r: &Received<'_>) {
        let from = r.datagram.src_addr;
        if self.opts.ignore_from.contains(&from) {
            return;
        }
        if let Some((seq, data)) = r.echo_reply(self.ident) {
            let cc = r.datagram.icmp_len;
            let rtt = if self.timing && cc >= 8 + STAMP_LEN {
                Some(rtt_us(data, r.at))
            } else {
                None
            };
            let class = self.tally.reply(seq, rtt, r.datagram.checksum_ok);
            if self.opts.quiet {
                return;
            }
            let mut line = format!(
                "{cc} bytes from {from}: icmp_seq={seq} ttl={}",
                r.datagram.ttl
            );
            if cc < self.opts.size + 8 {
                line += " (truncated)";
            } else {
                if self.timing {
                    line += &format!(" time={} ms", reply_time(rtt.unwrap_or(0)));
                }
                if class == ReplyClass::Duplicate && (!self.multicast || self.opts.verbose) {
                    line += " (DUP!)";
                }
                if class == ReplyClass::BadChecksum {
                    line += " (BAD CHECKSUM!)";
                }
            }
            let _ = writeln!(self.out, "{line}");
        } else if let Some(e) = r.error_for(self.ident, self.dst) {
            let text = describe(e.kind, e.code, e.info);
            match e.kind {
                // Advice, not a failure: shown, not counted.
                ErrorKind::Redirect | ErrorKind::SourceQuench => {
                    if !self.opts.quiet {
                        let _ = writeln!(self.out, "From {from}: icmp_seq={} {text}", e.seq_no);
                    }
                }
                _ => {
                    self.tally.error(e.seq_no);
                    if !self.opts.quiet {
                        let _ = writeln!(self.out, "From {from} icmp_seq={} {text}", e.seq_no);
                    }
                }
            }
        }
    }
}

/// Round trip from the send time in the payload to the kernel's receive time, µs. A clock
/// step backwards gives 0 rather than a negative time (ping warns and does the same).
fn rtt_us(data: &[u8], at: SystemTime) -> i64 {
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

/// ping's pr_icmph() wording for an ICMP error.
fn describe(kind: ErrorKind, code: u8, info: u32) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_worded_as_ping() {
        assert_eq!(
            describe(ErrorKind::DstUnreachable, 1, 0),
            "Destination Host Unreachable"
        );
        assert_eq!(
            describe(ErrorKind::DstUnreachable, 4, 1400),
            "Frag needed and DF set (mtu = 1400)"
        );
        assert_eq!(
            describe(ErrorKind::TimeExceeded, 0, 0),
            "Time to live exceeded"
        );
        assert_eq!(
            describe(ErrorKind::Redirect, 1, 0xc633_6401),
            "Redirect Host(New nexthop: 198.51.100.1)"
        );
        assert_eq!(
            describe(ErrorKind::ParamProblem, 0, 0x1400_0000),
            "Parameter problem: pointer = 20"
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
    fn numeric_targets_resolve_without_dns() {
        assert_eq!(
            resolve("198.51.100.7").unwrap(),
            Ipv4Addr::new(198, 51, 100, 7)
        );
        assert!(matches!(resolve(""), Err(LkpingError::UnknownHost { .. })));
    }
}
