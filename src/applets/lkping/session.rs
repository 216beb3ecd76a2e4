//! One ping run: resolve the destination, set the socket up as ping4_run / ping6_run do
//! (broadcast probe, device or source binding, TTL or hop limit), then the event loop — send timer, deadline and
//! linger timers, socket reads, SIGINT — and finally the statistics block.

use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{setsockopt, sockopt};

use super::options::{Family, Interface, Options};
use super::pinger::{scoped_text, Destination, Incoming, Pinger};
use super::stats::{reply_time, ReplyClass, Stats, Tally};
use crate::event::{Event, EventLoop, Interest, TimerId, Token};
use crate::net::icmp::IcmpSocket;
use crate::net::icmp6::Icmp6Socket;
use crate::sys::addrinfo::lookup;

/// Why a run could not start (or its event loop failed). Display is ping's message.
#[derive(Debug)]
pub enum LkpingError {
    /// The destination does not resolve to an IPv4 address.
    UnknownHost { host: String, reason: String },
    /// The raw socket cannot be opened (no CAP_NET_RAW: "Operation not permitted").
    Socket(io::Error),
    /// `-I` names an interface that SO_BINDTODEVICE refuses.
    BindDevice { device: String, source: io::Error },
    /// An IPv6 run's `-I` device (or the `%DEV` of `-I ADDR%DEV`) does not exist.
    UnknownInterface(String),
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
            LkpingError::UnknownInterface(name) => write!(f, "unknown iface: {name}"),
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
    let device = opts.interface.as_ref().and_then(Interface::device);
    let mut dst = resolve(&opts.target, opts.family, device)?;
    let (sock, source) = match dst {
        Destination::V4(d) => {
            let (sock, source) = open_v4(opts, d, device, err)?;
            // ping4_run: the unspecified destination (`0.0.0.0`, `0`) becomes the source the
            // kernel picked for it (127.0.0.1, or the -I address), shown in the header and
            // compared with repliers ("PING 0.0.0.0 (127.0.0.1)").
            if d.is_unspecified() {
                dst = Destination::V4(source);
            }
            (sock, source.to_string())
        }
        Destination::V6(d) => open_v6(opts, d, device)?,
    };
    let privileged = nix::unistd::geteuid().is_root();
    let multicast = opts.broadcast || dst.ip().is_multicast();
    if multicast && !privileged && opts.interval < MIN_USER_BROADCAST_INTERVAL {
        return Err(LkpingError::BroadcastInterval(opts.interval));
    }

    let mut ev = EventLoop::new();
    ev.register(sock_fd(&sock), SOCKET, Interest::Read);
    if opts.stop_on_sigint {
        ev.watch_signals(&[libc::SIGINT])
            .map_err(LkpingError::EventLoop)?;
    }
    let from = match (&opts.interface, device) {
        (Some(_), d) => format!("from {source} {}: ", d.unwrap_or("")),
        (None, _) => String::new(),
    };
    // ping4: "PING t (a) [from s d: ]56(84) bytes of data."; ping6: "PING t(a) ... 56 data bytes".
    let header = match dst {
        Destination::V4(a) => format!(
            "PING {} ({a}) {from}{}({}) bytes of data.\n",
            opts.target,
            opts.size,
            opts.size + 8 + 20
        ),
        // The scope is shown only when the destination named it (`fe80::1%v0`), not when it
        // came from -I.
        Destination::V6(a) => format!(
            "PING {}({}) {from}{} data bytes\n",
            opts.target,
            if opts.target.contains('%') {
                dst.text()
            } else {
                a.ip().to_string()
            },
            opts.size
        ),
    };
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

fn sock_fd(p: &Pinger) -> std::os::fd::RawFd {
    match p {
        Pinger::V4(s) => s.as_raw_fd(),
        Pinger::V6(s) => s.as_raw_fd(),
    }
}

/// ping4_run's socket set-up: device, source (bound or found by the UDP probe), broadcast,
/// TTL. Returns the socket and the source address as the header prints it.
fn open_v4(
    opts: &Options,
    dst: Ipv4Addr,
    device: Option<&str>,
    err: &mut dyn Write,
) -> Result<(Pinger, Ipv4Addr), LkpingError> {
    let sock = IcmpSocket::new().map_err(LkpingError::Socket)?;
    if let Some(d) = device {
        sock.bind_device(d)
            .map_err(|source| LkpingError::BindDevice {
                device: d.to_string(),
                source,
            })?;
    }
    let source = match opts.interface.as_ref().and_then(Interface::address) {
        Some(IpAddr::V4(a)) => {
            sock.bind_addr(a).map_err(LkpingError::Bind)?;
            a
        }
        Some(IpAddr::V6(_)) => {
            return Err(LkpingError::Bind(io::Error::from_raw_os_error(
                libc::EAFNOSUPPORT,
            )))
        }
        None => probe_source(dst, device, opts.broadcast, err)?,
    };
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
    Ok((Pinger::V4(sock), source))
}

/// ping6_run's socket set-up: device (its index first: "unknown iface"), source (bound — a
/// link-local one in the device's scope —, or found by the UDP probe for a unicast
/// destination; ping6 prints `::` for a multicast one), hop limit.
fn open_v6(
    opts: &Options,
    dst: SocketAddrV6,
    device: Option<&str>,
) -> Result<(Pinger, String), LkpingError> {
    let device_index = device.map(interface_index).transpose()?;
    let sock = Icmp6Socket::new().map_err(LkpingError::Socket)?;
    if let Some(d) = device {
        sock.bind_device(d)
            .map_err(|source| LkpingError::BindDevice {
                device: d.to_string(),
                source,
            })?;
    }
    let source = match opts.interface.as_ref().and_then(Interface::address) {
        Some(IpAddr::V6(a)) => {
            let scope = match device_index {
                Some(index) if needs_scope(a) => index,
                _ => dst.scope_id(),
            };
            sock.bind_addr(a, scope).map_err(LkpingError::Bind)?;
            // ping6 prints the bound address as getnameinfo does: `fe80::1%eth0`.
            let shown = if needs_scope(a) { scope } else { 0 };
            scoped_text(&SocketAddrV6::new(a, 0, 0, shown))
        }
        Some(IpAddr::V4(_)) => {
            return Err(LkpingError::Bind(io::Error::from_raw_os_error(
                libc::EAFNOSUPPORT,
            )))
        }
        None if dst.ip().is_multicast() => Ipv6Addr::UNSPECIFIED.to_string(),
        None => probe_source_v6(dst, device)?.to_string(),
    };
    if let Some(hops) = opts.ttl {
        sock.set_hop_limit(hops)
            .map_err(|source| LkpingError::SocketOption {
                what: "cannot set unicast hop limit",
                source,
            })?;
    }
    Ok((Pinger::V6(sock), source))
}

/// An interface's index, as ping6_run looks it up before anything else.
fn interface_index(name: &str) -> Result<u32, LkpingError> {
    nix::net::if_::if_nametoindex(name).map_err(|_| LkpingError::UnknownInterface(name.to_string()))
}

/// The destination: a literal address of the asked family (IPv6 with an optional `%ifname`
/// scope; a link-local or multicast one without it takes `-I`'s device), or the first address
/// of a name (IPv4 first unless `-6`).
fn resolve(
    target: &str,
    family: Option<Family>,
    device: Option<&str>,
) -> Result<Destination, LkpingError> {
    let unknown = |reason: &str| LkpingError::UnknownHost {
        host: target.to_string(),
        reason: reason.to_string(),
    };
    let unsupported = || unknown("Address family for hostname not supported");
    let (addr_text, scope_name) = match target.split_once('%') {
        Some((a, s)) => (a, Some(s)),
        None => (target, None),
    };
    if let Ok(a) = target.parse::<Ipv4Addr>() {
        return match family {
            Some(Family::V6) => Err(unsupported()),
            _ => Ok(Destination::V4(a)),
        };
    }
    if let Ok(a) = addr_text.parse::<Ipv6Addr>() {
        if family == Some(Family::V4) {
            return Err(unsupported());
        }
        let scope = match (scope_name, device) {
            (Some(name), _) => nix::net::if_::if_nametoindex(name)
                .map_err(|_| unknown("Name or service not known"))?,
            (None, Some(name)) if needs_scope(a) => interface_index(name)?,
            _ => 0,
        };
        return Ok(Destination::V6(SocketAddrV6::new(a, 0, 0, scope)));
    }
    if target.is_empty() {
        return Err(unknown("Name or service not known"));
    }
    // ping prints glibc's gai_strerror text ("Temporary failure in name resolution"), not
    // musl's ("Try again").
    let addrs = lookup(target).map_err(|e| unknown(e.glibc_text()))?;
    let v4 = addrs.iter().find_map(|a| match a {
        IpAddr::V4(v4) => Some(Destination::V4(*v4)),
        IpAddr::V6(_) => None,
    });
    let v6 = addrs.iter().find_map(|a| match a {
        IpAddr::V6(v6) => Some(Destination::V6(SocketAddrV6::new(*v6, 0, 0, 0))),
        IpAddr::V4(_) => None,
    });
    match family {
        Some(Family::V4) => v4,
        Some(Family::V6) => v6,
        None => v4.or(v6),
    }
    .ok_or_else(unsupported)
}

/// Link-local unicast and link- or interface-local multicast addresses mean nothing without
/// an interface.
fn needs_scope(a: Ipv6Addr) -> bool {
    let s = a.segments();
    (s[0] & 0xffc0) == 0xfe80 || (a.is_multicast() && matches!(s[0] & 0x000f, 1 | 2))
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
                source: e.into(),
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

/// ping6's UDP probe: the source address the kernel would use for `dst`, and an error for
/// an unroutable one.
fn probe_source_v6(dst: SocketAddrV6, device: Option<&str>) -> Result<Ipv6Addr, LkpingError> {
    let probe = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).map_err(LkpingError::Socket)?;
    if let Some(d) = device {
        setsockopt(&probe, sockopt::BindToDevice, &d.into()).map_err(|e| {
            LkpingError::BindDevice {
                device: d.to_string(),
                source: e.into(),
            }
        })?;
    }
    let mut to = dst;
    to.set_port(1025);
    probe.connect(to).map_err(LkpingError::Connect)?;
    match probe.local_addr().map_err(LkpingError::Connect)? {
        SocketAddr::V6(a) => Ok(*a.ip()),
        SocketAddr::V4(_) => Ok(Ipv6Addr::UNSPECIFIED),
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
    sock: Pinger,
    dst: Destination,
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
        match self.sock.send(self.dst, self.ident, seq, &self.payload) {
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
            // least one interval) when replies came, else the -W linger time; -W 0 arms no
            // timer (ping's zero itimer: wait without a limit).
            self.linger_armed = true;
            let wait = if self.tally.received > 0 {
                let two_max = Duration::from_micros(2 * self.tally.tmax_us().max(0) as u64);
                Some(two_max.max(self.opts.interval))
            } else {
                Some(self.opts.linger).filter(|l| !l.is_zero())
            };
            if let Some(wait) = wait {
                self.ev.set_timer(now + wait, LINGER);
            }
        }
    }

    fn read_all(&mut self, buf: &mut [u8]) {
        loop {
            match self.sock.recv(buf, self.ident, self.dst) {
                Ok(Some(m)) => {
                    self.handle(m);
                    // ping's receive loop goes back to its exit checks as soon as nothing is in
                    // flight (ping_common.c main_loop); the rest stays queued.
                    if self.tally.in_flight() == 0 {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    log::debug!("lkping: recv: {e}");
                    return;
                }
            }
        }
    }

    /// One ICMP message: our echo reply, an error quoting our request, or someone else's.
    fn handle(&mut self, m: Incoming) {
        match m {
            Incoming::Reply {
                from,
                from_text,
                ttl,
                icmp_len: cc,
                checksum_ok,
                seq,
                rtt_us,
            } => {
                if self.opts.ignore_from.contains(&from) {
                    return;
                }
                let rtt = (self.timing && cc >= 8 + STAMP_LEN).then_some(rtt_us);
                let class = self.tally.reply(seq, rtt, checksum_ok);
                if self.opts.quiet {
                    return;
                }
                let mut line = format!("{cc} bytes from {from_text}: icmp_seq={seq} ttl={ttl}");
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
                    // ping flags a unicast reply whose source is not the destination (a
                    // spoofed or NATed answer); it is still counted (ping4_parse_reply,
                    // ping6_parse_reply).
                    if !self.multicast && from != self.dst.ip() {
                        line += " (DIFFERENT ADDRESS!)";
                    }
                }
                let _ = writeln!(self.out, "{line}");
            }
            Incoming::Error {
                from,
                from_text,
                seq,
                text,
                counted,
                acknowledges,
            } => {
                if self.opts.ignore_from.contains(&from) {
                    return;
                }
                match (counted, acknowledges) {
                    (true, true) => self.tally.error(seq),
                    (true, false) => self.tally.error_unacknowledged(),
                    (false, _) => {}
                }
                if !self.opts.quiet {
                    // Advice (redirect, source quench) is printed with a colon, not counted.
                    let colon = if counted { "" } else { ":" };
                    let _ = writeln!(self.out, "From {from_text}{colon} icmp_seq={seq} {text}");
                }
            }
            Incoming::Other => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_targets_resolve_without_dns() {
        assert_eq!(
            resolve("198.51.100.7", None, None).unwrap(),
            Destination::V4(Ipv4Addr::new(198, 51, 100, 7))
        );
        assert!(matches!(
            resolve("", None, None),
            Err(LkpingError::UnknownHost { .. })
        ));
    }

    #[test]
    fn ipv6_targets_take_their_scope_from_percent_or_the_device() {
        let lo = nix::net::if_::if_nametoindex("lo").expect("lo");
        let v6 =
            |a: &str, scope| Destination::V6(SocketAddrV6::new(a.parse().unwrap(), 0, 0, scope));
        assert_eq!(
            resolve("2001:db8::2", None, Some("lo")).unwrap(),
            v6("2001:db8::2", 0)
        );
        assert_eq!(
            resolve("fe80::1%lo", None, None).unwrap(),
            v6("fe80::1", lo)
        );
        assert_eq!(
            resolve("ff02::1", None, Some("lo")).unwrap(),
            v6("ff02::1", lo)
        );
        assert_eq!(
            resolve("ff02::1", Some(Family::V6), None).unwrap(),
            v6("ff02::1", 0)
        );
        let wrong = |t, f| match resolve(t, Some(f), None) {
            Err(e) => e.to_string(),
            Ok(d) => panic!("{t}: {d:?}"),
        };
        assert_eq!(
            wrong("2001:db8::2", Family::V4),
            "2001:db8::2: Address family for hostname not supported"
        );
        assert_eq!(
            wrong("198.51.100.1", Family::V6),
            "198.51.100.1: Address family for hostname not supported"
        );
        assert!(resolve("fe80::1%nosuchif0", None, None).is_err());
    }
}
