//! One ping run: the set-up (`socket_setup`), the header, then the event loop — send timer,
//! deadline and linger timers, socket reads, SIGINT — and finally the statistics block.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::error::{os_text, LkpingError};
use super::options::{Interface, Options};
use super::pinger::{Destination, Incoming, Pinger};
use super::socket_setup::{open_v4, open_v6, resolve};
use super::stats::{reply_time, ReplyClass, Stats, Tally};
use super::wrong_data::wrong_data_report;
use crate::event::{Event, EventLoop, Interest, TimerId, Token};

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

/// Pings as `opts` says, writing ping's output to `out`; stderr warnings are dropped.
/// Returns the counts (exit status 0 when `received > 0`).
pub fn run(opts: &Options, out: &mut dyn Write) -> Result<Stats, LkpingError> {
    run_with(opts, out, &mut io::sink())
}

/// Like `run`, with ping's stderr lines (broadcast and source-device warnings, SIGQUIT status)
/// written to `err`.
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
        Destination::V6(d) => open_v6(opts, d, device, err)?,
    };
    let privileged = nix::unistd::geteuid().is_root();
    let multicast = opts.broadcast || dst.ip().is_multicast();
    if multicast && !privileged && opts.interval < MIN_USER_BROADCAST_INTERVAL {
        return Err(LkpingError::BroadcastInterval(opts.interval));
    }

    let mut ev = EventLoop::new();
    ev.register(sock_fd(&sock), SOCKET, Interest::Read);
    if opts.stop_on_sigint {
        // As ping: SIGINT and SIGALRM end the run with the statistics, SIGQUIT (^\) prints
        // the status line and the run goes on.
        ev.watch_signals(&[libc::SIGINT, libc::SIGALRM, libc::SIGQUIT])
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
        payload: payload(opts),
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

/// The request data: ping's pattern (byte i is i), or for a strict run random bytes
/// (getrandom(2); failing that, std's randomly keyed hasher), so that only who saw a
/// request can echo it.
fn payload(opts: &Options) -> Vec<u8> {
    if !opts.strict {
        return (0..opts.size).map(|i| i as u8).collect();
    }
    let mut b = vec![0u8; opts.size];
    if crate::sys::random::fill(&mut b).is_err() {
        use std::collections::hash_map::RandomState;
        use std::hash::BuildHasher;
        let state = RandomState::new();
        for (i, d) in b.iter_mut().enumerate() {
            *d = state.hash_one(i).to_ne_bytes()[i % 8];
        }
    }
    b
}

fn sock_fd(p: &Pinger) -> std::os::fd::RawFd {
    match p {
        Pinger::V4(s) => s.as_raw_fd(),
        Pinger::V6(s) => s.as_raw_fd(),
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
            || (self.opts.deadline.is_some() && t.errors > 0 && !self.opts.strict)
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
                    Event::Signal(libc::SIGINT | libc::SIGALRM) => self.exiting = true,
                    Event::Signal(libc::SIGQUIT) => {
                        let line = self.tally.status(self.timing);
                        let _ = self.err.write_all(line.as_bytes());
                        let _ = self.err.flush();
                    }
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
                // A hard local error (no route, a broadcast without -b): ping pretends the
                // request went out and, its error queue being empty, prints nothing (its
                // "sendmsg:" perror is only reached when reading that queue fails).
                log::debug!("lkping: sendmsg: {}", os_text(&e));
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
                let two_max =
                    Duration::from_micros((self.tally.tmax_us().max(0) as u64).saturating_mul(2));
                Some(two_max.max(self.opts.interval))
            } else {
                Some(self.opts.linger).filter(|l| !l.is_zero())
            };
            // A forged time stamp can make twice the worst rtt longer than an Instant holds:
            // no timer then, as ping's wait that never ends.
            if let Some(at) = wait.and_then(|w| now.checked_add(w)) {
                self.ev.set_timer(at, LINGER);
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

    /// A strict run's test of a reply: from the destination (unless it is a broadcast or a
    /// group) and carrying our data after the time stamp (all of it when there is none).
    fn echoes_our_request(&self, from: std::net::IpAddr, data: &[u8]) -> bool {
        let skip = if self.timing { STAMP_LEN } else { 0 };
        let from_destination = self.multicast || from == self.dst.ip();
        from_destination
            && data.len() == self.payload.len()
            && data.get(skip..) == self.payload.get(skip..)
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
                data,
            } => {
                if self.opts.ignore_from.contains(&from) {
                    return;
                }
                if self.opts.strict && !self.echoes_our_request(from, &data) {
                    log::debug!("lkping: reply from {from_text} icmp_seq={seq} not counted: not from the host pinged, or not our data");
                    return;
                }
                let rtt = (self.timing && cc >= 8 + STAMP_LEN).then_some(rtt_us);
                let class = self.tally.reply(seq, rtt, checksum_ok);
                if self.opts.quiet {
                    return;
                }
                let mut line = format!("{cc} bytes from {from_text}: icmp_seq={seq}");
                if self.opts.verbose {
                    // ping -v shows the echo identifier of the run.
                    line += &format!(" ident={}", self.ident);
                }
                line += &format!(" ttl={ttl}");
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
                    if !self.multicast && self.dst.flags_other_repliers() && from != self.dst.ip() {
                        line += " (DIFFERENT ADDRESS!)";
                    }
                    // Altered data (a corrupting middlebox, a forger who guessed the
                    // identifier): ping names the first wrong byte and dumps the rest, and
                    // counts the reply all the same. A strict run counted only replies with
                    // our data, so it never gets here with any.
                    if let Some(report) = wrong_data_report(&self.payload, &data) {
                        line += &report;
                    }
                }
                if self.opts.audible {
                    line.push('\x07');
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
