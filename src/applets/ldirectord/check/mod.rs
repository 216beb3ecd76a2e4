//! Health checks as non-blocking state machines driven by the daemon's one poll loop.
//!
//! A check waits on one fd at a time; `advance` is called once at start and again whenever
//! that fd is ready, and says what to wait for next or gives the outcome (`fd` is asked again
//! after every wait: ftp moves from its control to its data connection). The daemon bounds
//! each check by its timeout (dropping it closes the socket). Protocol checks over TCP (and
//! TLS) are a `Dialogue`: pure logic over the bytes received so far, driven by `TcpCheck`;
//! each service lives in its own file with the Perl original's request and success rule.

pub mod conn;
pub mod connect;
pub mod dns;
pub mod external;
pub mod ftp;
pub mod http;
pub mod http_response;
pub mod imap;
pub mod ldap;
pub mod lines;
pub mod mysql;
pub mod nntp;
pub mod pgsql;
pub mod ping;
pub mod pop;
pub mod radius;
pub mod redirect;
pub mod simpletcp;
pub mod sip;
pub mod smtp;
#[cfg(feature = "https")]
pub mod tls;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use super::config::{CheckType, Real, Service, Virtual, VirtualAddr};
use super::core::{Outcome, Probe};
use crate::event::Interest;
use conn::Conn;

/// What a check needs next.
#[derive(Debug)]
pub enum Poll {
    /// Wait until the fd is ready for this.
    Wait(Interest),
    /// Nothing to wait on by fd (a child process): call `advance` again on SIGCHLD.
    Child,
    /// Wait for the fd as `Wait` does, but not before this long: the server sends its answer
    /// in many tiny pieces, which are read in batches instead of one wake-up each.
    Later(Interest, Duration),
    /// Wait for the fd as `Wait` does, and call `advance` again at this instant if nothing
    /// came before: a check with something to do at a set time (ping's next attempt).
    Until(Interest, Instant),
    Ready(Outcome),
}

/// A running health check.
pub trait Check {
    /// The fd to wait on now, if any.
    fn fd(&self) -> Option<RawFd>;
    /// Makes progress; never blocks.
    fn advance(&mut self) -> Poll;
    /// What the check saw and set aside, for the message of its timeout (a UDP check's
    /// datagrams that were no answer to its request).
    fn note(&self) -> Option<String> {
        None
    }
}

/// The most datagrams a UDP or ICMP check reads at one wake-up: a flood at its socket (the
/// ping check's raw socket sees every ICMP packet of the host) yields the loop to the other
/// checks between batches instead of holding it while datagrams keep coming.
pub const DATAGRAMS_PER_WAKE: usize = 64;

/// Whether a UDP check's receive error is an ICMP refusal (port or host unreachable) of its
/// connected socket. Anyone who can send us the real's address can forge one, so a check
/// sets it aside like a stranger's datagram, and a closed port times out with it named.
pub fn refused(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::HostUnreachable
    )
}

/// Datagrams a UDP check received that were no answer to its request (another id, a wrong
/// authenticator, a stranger's text): set aside, never a verdict. Anyone on the LAN can
/// send the real's address and port a datagram for every ephemeral port of ours; judged,
/// the first of them marked a healthy real down, or a dead one up.
#[derive(Debug, Default)]
pub struct SetAside {
    count: u32,
    last: Option<String>,
}

impl SetAside {
    pub fn add(&mut self, why: String) {
        self.count = self.count.saturating_add(1);
        self.last = Some(why);
    }

    /// "ignored N datagram(s) that were no answer, the last: WHY".
    pub fn note(&self) -> Option<String> {
        let last = self.last.as_ref()?;
        let s = if self.count == 1 { "" } else { "s" };
        Some(format!(
            "ignored {} datagram{s} that answered nothing we asked, the last: {last}",
            self.count
        ))
    }
}

/// An outcome that is already known (checktype=on, service=none).
pub struct Done(pub Option<Outcome>);

impl Check for Done {
    fn fd(&self) -> Option<RawFd> {
        None
    }
    fn advance(&mut self) -> Poll {
        Poll::Ready(self.0.take().unwrap_or(Outcome::Up(String::new())))
    }
}

/// Where a check goes: the real's address and the check port.
pub fn target(v: &Virtual, r: &Real) -> SocketAddr {
    SocketAddr::new(r.addr, v.check_port(r))
}

pub use conn::connect_nonblocking;

/// Whether a non-blocking connect finished: Ok(false) while it is pending, Err when it failed.
/// A connected socket answers getpeername(2), which settles the usual case in one call; only
/// an unconnected one is asked for its pending error (SO_ERROR), and an unconnected one
/// without an error is still connecting.
pub fn connect_finished(s: &TcpStream) -> io::Result<bool> {
    match s.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => match s.take_error()? {
            Some(e) => Err(e),
            None => Ok(false),
        },
        Err(e) => Err(e),
    }
}

/// The next move of a protocol dialogue.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Wait for more bytes.
    More,
    /// Send these bytes; the input seen so far is consumed.
    Send(Vec<u8>),
    /// Send these bytes as a courtesy (QUIT, LOGOUT) without waiting, and finish.
    Finish(Vec<u8>, Outcome),
    Done(Outcome),
}

/// A service's protocol logic: pure, driven by what arrives.
pub trait Dialogue {
    /// Whether `connected` wants the local address (a getsockname(2) per check otherwise saved).
    fn needs_local_addr(&self) -> bool {
        false
    }
    /// Told the local address once connected, before `opening` (SIP names it in Via), if
    /// `needs_local_addr`.
    fn connected(&mut self, _local: SocketAddr) {}
    /// Bytes to send once connected (may be empty), and whether to shut down writing after.
    fn opening(&mut self) -> (Vec<u8>, bool);
    /// Everything received since the last `Send` (`eof`: the peer closed). Until the next
    /// `Send` the input only grows, so a dialogue resumes where its last call stopped
    /// (`lines::Lines`, a parser state) instead of scanning it again from the start: each
    /// byte is examined a bounded number of times however the server splits its answer.
    fn received(&mut self, input: &[u8], eof: bool) -> Step;
    /// The input reached `MAX_INPUT`: how many of its first bytes the dialogue is done with
    /// (it has examined them and moved its offsets down by as many); they are dropped and
    /// reading goes on. 0, the default: the answer is judged on what arrived, as if the peer
    /// had closed.
    fn release(&mut self, _input: &[u8]) -> usize {
        0
    }
}

/// The most a check holds; a bigger answer is judged on its first part unless the dialogue
/// releases what it has examined (an HTTP body searched window by window).
const MAX_INPUT: usize = 1 << 20;

/// Asks `dialogue` what of the full `input` it is done with and drops that; false if nothing.
fn release<D: Dialogue>(dialogue: &mut D, input: &mut Vec<u8>) -> bool {
    let n = dialogue.release(input).min(input.len());
    input.drain(..n);
    n > 0
}

/// A server that needed more than this many reads for an answer not yet complete… (16 left
/// a dribbler about 28 reads per check, and the others' CPU per check 17–20 % above a run
/// without dribblers; 4 about 15 reads and 6 %: bench/ldirectord/README.md. A normal answer
/// takes 1–3 reads.)
const PACE_AFTER_READS: u32 = 4;
/// …at fewer bytes a read on average than this dribbles: it is read every `PACE`, not on
/// every segment. Each wake-up costs a poll(2) over every fd in flight (about 5 µs at 100 of
/// them, measured in bench/ldirectord); a dribbler at one byte per 10 ms would cost 300 of
/// them per check. A slow link's full segments (~1,400 bytes) are never paced.
const PACE_BELOW_BYTES: usize = 256;
/// 100 ms left the others' CPU per check 9–25 % above a run without dribblers (4 runs),
/// 250 ms 3–4 % (2 runs). The pauses end on a grid (`on_grid`), 125–375 ms after they
/// begin; a paced answer is judged at most that much later, and never after the timeout
/// (time up during a pause reads what piled up first).
const PACE: Duration = Duration::from_millis(250);

/// `at` moved up to the next multiple of `step` since `epoch`. A paused check reads again on
/// this grid: all the dribblers' pauses then end in one wake-up of the loop, not each in one
/// of its own (100 dribblers cost 400 wake-ups a second that way).
pub fn on_grid(epoch: Instant, at: Instant, step: Duration) -> Instant {
    let step_ns = step.as_nanos().max(1);
    let steps = at
        .saturating_duration_since(epoch)
        .as_nanos()
        .div_ceil(step_ns);
    u64::try_from(steps.saturating_mul(step_ns))
        .ok()
        .and_then(|ns| epoch.checked_add(Duration::from_nanos(ns)))
        .unwrap_or(at)
}

/// Whether a check that has done `reads` reads for `received` bytes, still without a
/// complete answer, reads in batches from now on.
fn paced(reads: u32, received: usize) -> bool {
    reads > PACE_AFTER_READS && received < PACE_BELOW_BYTES * reads as usize
}

enum Phase {
    /// The connect is pending; the dialogue's opening is asked for once it is done.
    Connecting,
    /// The connect is pending and the opening waits in `out` (or the TLS hello): the first
    /// write says whether the connect is done (it would block until then, and fails as the
    /// connect failed), which saves a getpeername(2) per check.
    Opening,
    Talking,
}

/// How the connection stands after a read.
enum Received {
    /// Open: more may come.
    Open,
    /// The peer closed (or the input is full): the answer is what arrived.
    End,
    /// The peer reset the connection. What arrived before is the answer, as at a close: a
    /// server that ends its answer with a reset (SO_LINGER 0, or a close before it read the
    /// whole request) is healthy, and the Perl's LWP keeps what it read too.
    Reset(io::Error),
    /// The TLS stream failed (a fatal alert, a record that does not decrypt) after what
    /// arrived before it. That is judged as it stands, not as at a close: a whole answer is
    /// up, one the failure cut short is down with the failure.
    #[cfg_attr(not(feature = "https"), allow(dead_code))]
    Failed(String),
}

/// Whether `e` says the peer reset the connection (a read or write after its RST).
fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// A dialogue's verdict on an answer ended by a reset (`reset`: what said so): a down one
/// says the reset too.
fn after_reset(o: Outcome, reset: Option<String>) -> Outcome {
    match (o, reset) {
        (Outcome::Down(m), Some(r)) => Outcome::Down(format!("{m} ({r})")),
        (o, _) => o,
    }
}

/// Drives a `Dialogue` over TCP, optionally wrapped in TLS.
pub struct TcpCheck<D: Dialogue> {
    conn: Conn,
    phase: Phase,
    dialogue: D,
    out: Vec<u8>,
    shutdown_after: bool,
    input: Vec<u8>,
    /// Reads that left the answer incomplete, and the bytes received in all (for `paced`).
    reads: u32,
    received: usize,
    /// The peer's end (a close, a reset, a TLS close_notify or failure) was read.
    ended: bool,
    #[cfg(feature = "https")]
    /// Boxed: a rustls connection is over a kilobyte, and inline it made every plain check's
    /// allocation one of a size class that musl's allocator maps and unmaps a page for.
    tls: Option<Box<tls::Session>>,
}

impl<D: Dialogue> TcpCheck<D> {
    /// Connects to `addr`; with `tls` the dialogue runs inside TLS (server name `sni`).
    pub fn start(addr: SocketAddr, mut dialogue: D, tls: bool) -> io::Result<Self> {
        // The opening is asked for now unless it names the local address (SIP's Via): a
        // dialogue that speaks first has it written as soon as the connect is done.
        let early = !dialogue.needs_local_addr();
        let (out, shutdown_after) = if early {
            dialogue.opening()
        } else {
            (Vec::new(), false)
        };
        let speaks_first = early && (tls || !out.is_empty());
        let phase = if speaks_first {
            Phase::Opening
        } else {
            Phase::Connecting
        };
        let conn = Conn::start(addr, speaks_first)?;
        #[cfg(feature = "https")]
        let tls = if tls {
            Some(Box::new(tls::Session::new(addr.ip())?))
        } else {
            None
        };
        #[cfg(not(feature = "https"))]
        if tls {
            return Err(io::Error::other("built without TLS"));
        }
        Ok(TcpCheck {
            conn,
            phase,
            dialogue,
            out,
            shutdown_after,
            input: Vec::new(),
            reads: 0,
            received: 0,
            ended: false,
            #[cfg(feature = "https")]
            tls,
        })
    }

    /// The dialogue, to read what it found.
    pub fn dialogue(&self) -> &D {
        &self.dialogue
    }

    fn down(msg: impl std::fmt::Display) -> Poll {
        Poll::Ready(Outcome::Down(msg.to_string()))
    }

    fn wants_write(&self) -> bool {
        #[cfg(feature = "https")]
        if let Some(t) = &self.tls {
            return t.wants_write() || !self.out.is_empty();
        }
        !self.out.is_empty()
    }

    fn interest(&self) -> Interest {
        if self.wants_write() {
            Interest::ReadWrite
        } else {
            Interest::Read
        }
    }

    /// Writes what is pending; says whether anything went out, Err on a broken connection
    /// (or a failed connect, in `Phase::Opening`).
    fn flush(&mut self) -> io::Result<bool> {
        #[cfg(feature = "https")]
        if let Some(t) = self.tls.as_mut() {
            if !self.out.is_empty() {
                t.write_plain(&self.out)?;
                self.out.clear();
                if self.shutdown_after {
                    t.close();
                }
            }
            return t.write_tls(self.conn.stream_mut());
        }
        let mut wrote = false;
        while !self.out.is_empty() {
            match self.conn.stream_mut().write(&self.out) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.drain(..n);
                    wrote = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(wrote),
                Err(e) => return Err(e),
            }
        }
        if self.shutdown_after {
            let _ = self.conn.stream().shutdown(std::net::Shutdown::Write);
            self.shutdown_after = false;
        }
        Ok(wrote)
    }

    /// Reads what is there; says whether the peer closed (or the input is full and the
    /// dialogue released nothing of it) or reset the connection.
    fn fill(&mut self) -> io::Result<Received> {
        #[cfg(feature = "https")]
        if let Some(t) = self.tls.as_mut() {
            loop {
                let before = self.input.len();
                let end = t.read(self.conn.stream_mut(), &mut self.input, MAX_INPUT);
                self.received += self.input.len().saturating_sub(before);
                return match end {
                    Ok(true)
                        if self.input.len() >= MAX_INPUT
                            && release(&mut self.dialogue, &mut self.input) =>
                    {
                        continue
                    }
                    Ok(true) => Ok(Received::End),
                    Ok(false) => Ok(Received::Open),
                    Err(tls::ReadError::Io(e)) if is_reset(&e) => Ok(Received::Reset(e)),
                    Err(tls::ReadError::Io(e)) => Err(e),
                    Err(tls::ReadError::Failed(m)) => Ok(Received::Failed(m)),
                };
            }
        }
        let mut buf = [0u8; 16384];
        loop {
            let room = MAX_INPUT.saturating_sub(self.input.len());
            if room == 0 {
                if release(&mut self.dialogue, &mut self.input) {
                    continue;
                }
                return Ok(Received::End);
            }
            // Never more than fits: what is read is never dropped.
            let want = room.min(buf.len());
            match self.conn.stream_mut().read(&mut buf[..want]) {
                Ok(0) => return Ok(Received::End),
                Ok(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    self.received += n;
                    // A short read emptied the socket: poll says when there is more, and
                    // asking again now would only cost a call that fails (once per segment
                    // of a server that dribbles).
                    if n < want {
                        return Ok(Received::Open);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Received::Open),
                Err(e) if is_reset(&e) => return Ok(Received::Reset(e)),
                Err(e) => return Err(e),
            }
        }
    }
}

impl<D: Dialogue> Check for TcpCheck<D> {
    fn fd(&self) -> Option<RawFd> {
        Some(self.conn.stream().as_raw_fd())
    }

    fn advance(&mut self) -> Poll {
        match self.phase {
            Phase::Connecting => {
                match connect_finished(self.conn.stream()) {
                    Ok(true) => {}
                    Ok(false) => return Poll::Wait(Interest::Write),
                    Err(e) => return Self::down(format!("connect: {e}")),
                }
                self.phase = Phase::Talking;
                // Not asked for at the start (`TcpCheck::start`).
                if self.dialogue.needs_local_addr() {
                    if let Ok(local) = self.conn.stream().local_addr() {
                        self.dialogue.connected(local);
                    }
                    let (bytes, shutdown) = self.dialogue.opening();
                    self.out = bytes;
                    self.shutdown_after = shutdown;
                }
            }
            // A connect still pending makes the write block, a failed one fails it.
            Phase::Opening => match self.flush() {
                Ok(true) => {
                    self.phase = Phase::Talking;
                    return Poll::Wait(self.interest());
                }
                Ok(false) => return Poll::Wait(Interest::Write),
                // A reset right after the connect fails the first write too.
                Err(e) if is_reset(&e) => return Self::down(format!("send: {e}")),
                Err(e) => return Self::down(format!("connect: {e}")),
            },
            Phase::Talking => {}
        }
        loop {
            match self.flush() {
                Err(e) => return Self::down(format!("send: {e}")),
                // What was just sent is answered a round trip later at the earliest: a read
                // now would be a call that finds nothing (on a real's own loopback too, one
                // per check). poll(2) says when the answer is there; after the peer's end
                // (a TLS close_notify on an open connection) it would say nothing more.
                Ok(true) if !self.ended => return Poll::Wait(self.interest()),
                Ok(_) => {}
            }
            // `reset`: what ended the connection under what arrived (a reset, a TLS failure).
            let (eof, reset) = match self.fill() {
                Ok(Received::Open) => (false, None),
                Ok(Received::End) => (true, None),
                Ok(Received::Reset(e)) => (true, Some(format!("receive: {e}"))),
                Ok(Received::Failed(m)) => (false, Some(format!("receive: {m}"))),
                Err(e) => return Self::down(format!("receive: {e}")),
            };
            self.ended |= eof || reset.is_some();
            if self.input.is_empty() {
                match reset {
                    // Nothing ever came. What came and was judged or released already (a big
                    // body's windows) is judged at the reset as at a close.
                    Some(r) if self.received == 0 => return Self::down(r),
                    Some(_) => {}
                    None if !eof => return Poll::Wait(self.interest()),
                    None => {}
                }
            }
            match (self.dialogue.received(&self.input, eof), reset) {
                (Step::Done(o), reset) => {
                    self.conn.answered();
                    return Poll::Ready(after_reset(o, reset));
                }
                (Step::Finish(bytes, o), reset) => {
                    if reset.is_none() {
                        self.out.extend_from_slice(&bytes);
                        // Inside TLS the courtesy ends with close_notify (as IO::Socket::SSL
                        // closes): a bare FIN is an unexpected EOF to the server, which
                        // OpenSSL 3 logs and answers with an alert. In clear, a FIN.
                        self.shutdown_after = true;
                        let _ = self.flush();
                    }
                    return Poll::Ready(after_reset(o, reset));
                }
                // The answer needed more than arrived before the reset (or the TLS failure:
                // a body framed by the close is not ended by one), or the dialogue has
                // more to say on a connection that is gone.
                (Step::More | Step::Send(_), Some(r)) => return Self::down(r),
                // The input is full and the dialogue released none of it: the connection
                // is still open (it said "connection closed").
                (Step::More, None) if eof && self.input.len() >= MAX_INPUT => {
                    return Self::down(format!(
                        "no complete answer in the first {} KiB",
                        MAX_INPUT >> 10
                    ))
                }
                (Step::More, None) if eof => return Self::down("connection closed"),
                (Step::More, None) => {
                    self.reads = self.reads.saturating_add(1);
                    if paced(self.reads, self.received) && !self.wants_write() {
                        return Poll::Later(Interest::Read, PACE);
                    }
                    return Poll::Wait(self.interest());
                }
                (Step::Send(bytes), None) => {
                    self.input.clear();
                    self.out.extend_from_slice(&bytes);
                }
            }
        }
    }
}

/// The first complete line of `input` (without CR LF), if one has arrived.
pub fn first_line(input: &[u8]) -> Option<String> {
    let end = input.iter().position(|&b| b == b'\n')?;
    Some(
        String::from_utf8_lossy(&input[..end])
            .trim_end()
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_checks_read_again_on_one_grid() {
        let epoch = Instant::now();
        let step = Duration::from_millis(250);
        let ms = |n: u64| epoch + Duration::from_millis(n);
        // Pauses asked for at different moments end together.
        assert_eq!(on_grid(epoch, ms(260), step), ms(500));
        assert_eq!(on_grid(epoch, ms(499), step), ms(500));
        assert_eq!(on_grid(epoch, ms(500), step), ms(500));
        assert_eq!(on_grid(epoch, ms(501), step), ms(750));
        // Never earlier than asked, and at most one step later.
        for n in [1u64, 7, 249, 250, 251, 9_999] {
            let at = on_grid(epoch, ms(n), step);
            assert!(at >= ms(n) && at < ms(n) + step, "{n}");
        }
    }

    #[test]
    fn only_a_server_dribbling_tiny_pieces_is_read_in_batches() {
        // The first reads are never paced, whatever their size.
        assert!(!paced(PACE_AFTER_READS, 0));
        // One byte a read: a dribbler.
        assert!(paced(PACE_AFTER_READS + 1, 17));
        // Full segments of a slow link, or a big answer in 16 KiB reads: not paced.
        assert!(!paced(100, 100 * 1400));
        assert!(!paced(64, 64 * 16384));
    }
}

/// Why a check could not even start (becomes a down result with this message).
fn start_failed(e: io::Error) -> Box<dyn Check> {
    Box::new(Done(Some(Outcome::Down(e.to_string()))))
}

/// Builds the check for real `r` of virtual `v`.
pub fn build(v: &Virtual, r: &Real, probe: Probe, host: &str) -> Box<dyn Check> {
    let addr = target(v, r);
    let res: io::Result<Box<dyn Check>> = match probe {
        Probe::Connect => connect::Connect::start(addr).map(|c| Box::new(c) as Box<dyn Check>),
        Probe::Ping => {
            let per_try = Duration::from_secs(u64::from(v.checktimeout.max(1)));
            ping::Ping::start(r.addr, v.checkcount, per_try, Instant::now())
                .map(|c| Box::new(c) as Box<dyn Check>)
        }
        Probe::External => external::External::start(v, r).map(|c| Box::new(c) as Box<dyn Check>),
        Probe::Negotiate if v.checktype == CheckType::On => {
            Ok(Box::new(Done(Some(Outcome::Up("checktype=on".into())))))
        }
        Probe::Negotiate => negotiate(v, r, addr, host),
    };
    res.unwrap_or_else(start_failed)
}

fn tcp<D: Dialogue + 'static>(addr: SocketAddr, d: D, tls: bool) -> io::Result<Box<dyn Check>> {
    Ok(Box::new(TcpCheck::start(addr, d, tls)?))
}

fn negotiate(v: &Virtual, r: &Real, addr: SocketAddr, host: &str) -> io::Result<Box<dyn Check>> {
    match v.service {
        Service::Http => Ok(Box::new(redirect::Follow::start(v, r, addr, false)?)),
        Service::HttpProxy => tcp(addr, http::Http::new(v, r), false),
        Service::Https => Ok(Box::new(redirect::Follow::start(v, r, addr, true)?)),
        Service::Smtp | Service::Submission => tcp(addr, smtp::Smtp::new(host), false),
        Service::Pop => tcp(addr, pop::Pop::new(v), false),
        Service::Pops => tcp(addr, pop::Pop::new(v), true),
        Service::Imap => tcp(addr, imap::Imap::new(v), false),
        Service::Imaps => tcp(addr, imap::Imap::new(v), true),
        Service::Nntp => tcp(addr, nntp::Nntp, false),
        Service::SimpleTcp => tcp(addr, simpletcp::SimpleTcp::new(v, r), false),
        Service::Dns => dns::Dns::start(v, addr),
        Service::Ldap => tcp(addr, ldap::Ldap::new(v, r), false),
        Service::Ldaps => tcp(addr, ldap::Ldap::new(v, r), true),
        Service::Radius => Ok(Box::new(radius::Radius::start(v, addr)?)),
        Service::Sip => sip::start(v, addr),
        Service::Ftp => Ok(Box::new(ftp::Ftp::start(v, r, addr)?)),
        Service::Mysql => mysql::Mysql::start(v, r, addr),
        Service::Pgsql => pgsql::Pgsql::start(v, r, addr),
        Service::None => Ok(Box::new(Done(Some(Outcome::Up("service=none".into()))))),
        // Refused when the config is loaded; never reaches a check.
        Service::Oracle => Err(io::Error::other("service oracle is not supported")),
    }
}

/// What a database check (mysql, pgsql) logs in with and runs: the virtual's login, passwd
/// and database, and the request (per real or the virtual's, leading `/` stripped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlLogin {
    pub login: String,
    pub passwd: String,
    pub database: String,
    pub query: String,
}

impl SqlLogin {
    /// Without a login or a request there is nothing to check: the original logs the same
    /// and leaves the real down.
    pub fn of(v: &Virtual, r: &Real, service: &str) -> io::Result<SqlLogin> {
        let req = r.request.as_ref().unwrap_or(&v.request);
        let sql = SqlLogin {
            login: v.login.clone(),
            passwd: v.passwd.clone(),
            database: v.database.clone(),
            query: req.strip_prefix('/').unwrap_or(req).to_string(),
        };
        if sql.login.is_empty() || sql.query.is_empty() {
            return Err(io::Error::other(format!(
                "Must specify a login and request string for {service} checks"
            )));
        }
        Ok(sql)
    }
}

/// The real's address as the Perl original writes it in URLs and Host headers.
pub fn host_text(r: &Real) -> String {
    match r.addr {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    }
}

/// The virtual's address (IPv6 in brackets, as the original passes it) and port as an
/// external check's first two arguments; a fwmark and port 0 for a fwmark virtual.
pub fn virtual_args(v: &Virtual) -> (String, String) {
    match v.addr {
        VirtualAddr::Inet(ip, port) => (external::script_addr(ip), port.to_string()),
        VirtualAddr::Fwmark(m, _) => (m.to_string(), "0".to_string()),
    }
}

/// `N` unpredictable bytes (RADIUS authenticators, SIP Call-IDs, ping cookies), from the
/// kernel's generator (getrandom(2): one call, no /dev needed); failing that, from std's
/// randomly keyed hasher.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if crate::sys::random::fill(&mut b).is_err() {
        use std::hash::{BuildHasher, Hasher};
        for chunk in b.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            for (d, s) in chunk.iter_mut().zip(h.finish().to_le_bytes()) {
                *d = s;
            }
        }
    }
    b
}
