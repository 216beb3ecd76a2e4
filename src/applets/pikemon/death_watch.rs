//! The death-watch (`heart-beat { death-watch local [A] peer [B]; }`): the two supervisors
//! keep TCP connections to each other (each listens on `local:port` and connects to
//! `peer:port`) and never send a byte on them. When a pikemon dies — SIGKILL, a crash, the
//! OOM killer — its kernel closes the sockets and the peer reads EOF (or a reset) at once,
//! instead of waiting a dead-interval for HELLOs that will not come.
//!
//! A closed connection is a hint, never proof: the worker treats the peer as silent and runs
//! the ARP probe of the VIPs, which a living Master answers, so a forged reset or a broken
//! connection moves nothing. A machine that loses power sends no FIN: that is still the
//! dead-interval's job. The supervisor holds the sockets, so a worker restart closes nothing.
//!
//! A close is a hint only when no other connection to or from the peer stays open. After a
//! SIGHUP hand-over the peer's new supervisor connects before its worker ends the old
//! instance (with SIGKILL, so the old one cannot say goodbye on its sockets): the old
//! instance's connections then close while the new one's is open, and that is no death. A
//! starved new worker that missed the short probe let the backup take over from a live Master.
//! Only connections from the peer's address are kept (others are closed at accept), and a
//! LAN host cannot open one from that address without receiving the peer's SYN-ACK, so a
//! stranger cannot hold a connection open to mask a real death.

use std::io::{self, ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use nix::sys::socket::{
    bind, connect, getsockopt, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags,
    SockFlag, SockType, SockaddrIn,
};

use super::config::DeathWatch as Settings;
use crate::event::{Event, EventLoop, Interest, TimerId, Token};

/// The listener.
pub const T_LISTEN: Token = Token(100);
/// The outgoing connection (connecting, then established).
pub const T_OUT: Token = Token(101);
/// Retry timer: bind the listener, connect again.
pub const T_RETRY: Token = Token(102);
/// A connect that has not completed in `CONNECT_TIMEOUT` is given up and started again.
pub const T_CONNECT: Token = Token(103);
/// Accepted connections: `T_IN + slot`.
pub const T_IN: usize = 110;
/// Accepted connections kept at once (the peer's instances during a hand-over, stale ones).
const SLOTS: usize = 4;
/// Between connect or bind attempts.
const RETRY: Duration = Duration::from_secs(1);
/// How long one connect may wait for the peer's SYN-ACK. A SYN that is lost (the peer
/// still booting, its firewall not loaded yet, the heart-beat link down) is otherwise
/// retransmitted by the kernel's exponential back-off (1, 3, 7, 15, 31 s after the
/// first): the death-watch would stay closed for half a minute after the peer is there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// At most one warning about refused strangers per this period: any host that routes to
/// the heart-beat address reaches the port, and a flood must not become a log flood.
const REFUSED_REPORT: Duration = Duration::from_secs(60);
/// Connections accepted per readiness event: a flood cannot hold the supervisor in its
/// accept loop (the listener stays readable and is served again after the other events).
const ACCEPTS_PER_EVENT: usize = 32;

enum Out {
    Idle,
    /// With the timer that gives it up (`T_CONNECT`).
    Connecting(TcpStream, TimerId),
    Up(TcpStream),
}

/// The supervisor's half of the death-watch.
pub struct DeathWatch {
    cfg: Settings,
    listener: Option<TcpListener>,
    out: Out,
    inbound: [Option<TcpStream>; SLOTS],
    /// The listener is given up (SIGHUP: the new instance binds it).
    detached: bool,
    /// An error was logged for the current run of failed attempts.
    bind_warned: bool,
    retry_armed: bool,
    /// Strangers refused since the last warning, and when it was logged.
    refused: u64,
    refused_reported: Option<Instant>,
}

/// What one event meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not a death-watch event.
    NotMine,
    Nothing,
    /// An established connection to or from the peer closed.
    PeerGone,
}

impl DeathWatch {
    pub fn new(cfg: Settings) -> DeathWatch {
        DeathWatch {
            cfg,
            listener: None,
            out: Out::Idle,
            inbound: Default::default(),
            detached: false,
            bind_warned: false,
            retry_armed: false,
            refused: 0,
            refused_reported: None,
        }
    }

    /// Binds the listener and starts the outgoing connection (retried every second).
    pub fn start(&mut self, ev: &mut EventLoop) {
        self.bind(ev);
        self.connect(ev);
    }

    /// SIGHUP hand-over: the listener goes (the new instance binds it), the established
    /// connections stay until this process exits — the peer then sees them close while the
    /// new instance's connection is open, which is no death.
    pub fn detach(&mut self, ev: &mut EventLoop) {
        self.detached = true;
        if let Some(l) = self.listener.take() {
            ev.deregister(l.as_raw_fd());
        }
        if let Out::Connecting(s, timer) = &self.out {
            ev.deregister(s.as_raw_fd());
            ev.cancel_timer(*timer);
            self.out = Out::Idle;
        }
    }

    /// Handles `e` if it is the death-watch's.
    pub fn handle(&mut self, ev: &mut EventLoop, e: &Event) -> Outcome {
        match *e {
            Event::Readable(T_LISTEN) => {
                self.accept(ev);
                Outcome::Nothing
            }
            Event::Writable(T_OUT) => {
                self.connected(ev);
                Outcome::Nothing
            }
            Event::Readable(T_OUT) => {
                let state = match &mut self.out {
                    Out::Up(s) => state(s),
                    _ => State::Open,
                };
                if state == State::Open {
                    return Outcome::Nothing;
                }
                self.drop_out(ev);
                self.report(ev, state, format!("to {}", self.peer_addr()))
            }
            Event::Readable(Token(t)) if (T_IN..T_IN + SLOTS).contains(&t) => {
                let slot = t - T_IN;
                let state = self.inbound[slot].as_mut().map_or(State::Open, state);
                if state == State::Open {
                    return Outcome::Nothing;
                }
                self.drop_in(ev, slot);
                self.report(ev, state, format!("from {}", self.cfg.peer))
            }
            Event::Timer(T_CONNECT, id) => {
                match std::mem::replace(&mut self.out, Out::Idle) {
                    Out::Connecting(s, timer) if timer == id => {
                        ev.deregister(s.as_raw_fd());
                        debug!(
                            "death-watch: connect to {}: no answer in {CONNECT_TIMEOUT:?}; again",
                            self.peer_addr()
                        );
                        self.connect(ev);
                    }
                    other => self.out = other,
                }
                Outcome::Nothing
            }
            Event::Timer(T_RETRY, _) => {
                self.retry_armed = false;
                if !self.detached {
                    self.bind(ev);
                    self.connect(ev);
                }
                Outcome::Nothing
            }
            _ => Outcome::NotMine,
        }
    }

    /// What a connection that just ended means: a death only when it closed and no other
    /// connection to or from the peer stays open.
    fn report(&mut self, ev: &mut EventLoop, state: State, which: String) -> Outcome {
        if state != State::Closed {
            timed_out(&which);
            return Outcome::Nothing;
        }
        // A connection of the peer's new instance may wait in the listener's queue, behind
        // this close in the same round of events.
        self.accept(ev);
        if self.others_open(ev) {
            info!(
                "death-watch: the connection {which} closed; another connection from the \
                 peer's daemon is open (an instance that handed over ended): not a death"
            );
            return Outcome::Nothing;
        }
        info!("death-watch: the connection {which} closed: the peer's daemon is gone");
        Outcome::PeerGone
    }

    /// Whether a connection to or from the peer is still open. One that timed out is dropped
    /// here (its error is read only once); one that closed is left to its own event.
    fn others_open(&mut self, ev: &mut EventLoop) -> bool {
        let mut open = false;
        for slot in 0..SLOTS {
            let Some(s) = self.inbound[slot].as_mut() else {
                continue;
            };
            match state(s) {
                State::Open => open = true,
                State::Closed => {}
                State::TimedOut => {
                    self.drop_in(ev, slot);
                    timed_out(&format!("from {}", self.cfg.peer));
                }
            }
        }
        if let Out::Up(s) = &mut self.out {
            match state(s) {
                State::Open => open = true,
                State::Closed => {}
                State::TimedOut => {
                    self.drop_out(ev);
                    timed_out(&format!("to {}", self.peer_addr()));
                }
            }
        }
        open
    }

    /// Ends the connection to the peer; a new one is tried after the retry interval.
    fn drop_out(&mut self, ev: &mut EventLoop) {
        if let Out::Up(s) = std::mem::replace(&mut self.out, Out::Idle) {
            ev.deregister(s.as_raw_fd());
        }
        self.arm_retry(ev);
    }

    /// Ends the connection from the peer in `slot`.
    fn drop_in(&mut self, ev: &mut EventLoop, slot: usize) {
        if let Some(s) = self.inbound[slot].take() {
            ev.deregister(s.as_raw_fd());
        }
    }

    fn peer_addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.cfg.peer, self.cfg.port)
    }

    fn arm_retry(&mut self, ev: &mut EventLoop) {
        if !self.retry_armed && !self.detached {
            self.retry_armed = true;
            ev.set_timer_in(RETRY, T_RETRY);
        }
    }

    fn bind(&mut self, ev: &mut EventLoop) {
        if self.listener.is_some() || self.detached {
            return;
        }
        // std sets SO_REUSEADDR: the new instance of a hand-over binds while the old one's
        // accepted connections still use the port.
        let addr = SocketAddr::V4(SocketAddrV4::new(self.cfg.local, self.cfg.port));
        match TcpListener::bind(addr).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
            Ok(l) => {
                ev.register(l.as_raw_fd(), T_LISTEN, Interest::Read);
                info!("death-watch: listening on {addr}");
                self.listener = Some(l);
                self.bind_warned = false;
            }
            Err(e) => {
                if !self.bind_warned {
                    warn!("death-watch: cannot listen on {addr}: {e}; retrying every second");
                    self.bind_warned = true;
                }
                self.arm_retry(ev);
            }
        }
    }

    fn connect(&mut self, ev: &mut EventLoop) {
        if !matches!(self.out, Out::Idle) || self.detached {
            return;
        }
        match start_connect(self.cfg.local, self.peer_addr()) {
            Ok(s) => {
                ev.register(s.as_raw_fd(), T_OUT, Interest::Write);
                let timer = ev.set_timer_in(CONNECT_TIMEOUT, T_CONNECT);
                self.out = Out::Connecting(s, timer);
            }
            Err(e) => {
                debug!("death-watch: connect to {}: {e}", self.peer_addr());
                self.arm_retry(ev);
            }
        }
    }

    fn connected(&mut self, ev: &mut EventLoop) {
        let Out::Connecting(s, timer) = std::mem::replace(&mut self.out, Out::Idle) else {
            return;
        };
        ev.deregister(s.as_raw_fd());
        ev.cancel_timer(timer);
        match getsockopt(&s.as_fd(), sockopt::SocketError) {
            Ok(0) => {
                keepalive(&s);
                ev.register(s.as_raw_fd(), T_OUT, Interest::Read);
                info!("death-watch: connected to {}", self.peer_addr());
                self.out = Out::Up(s);
            }
            Ok(errno) => {
                debug!(
                    "death-watch: connect to {}: {}",
                    self.peer_addr(),
                    io::Error::from_raw_os_error(errno)
                );
                self.arm_retry(ev);
            }
            Err(e) => {
                debug!("death-watch: connect to {}: {e}", self.peer_addr());
                self.arm_retry(ev);
            }
        }
    }

    fn accept(&mut self, ev: &mut EventLoop) {
        let Some(l) = &self.listener else { return };
        for _ in 0..ACCEPTS_PER_EVENT {
            let (s, from) = match l.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    debug!("death-watch: accept: {e}");
                    return;
                }
            };
            if from.ip() != self.cfg.peer {
                self.refused += 1;
                let now = Instant::now();
                if self
                    .refused_reported
                    .is_none_or(|t| now.duration_since(t) >= REFUSED_REPORT)
                {
                    warn!(
                        "death-watch: connection from {from} refused: not the peer \
                         ({} refused since the last report; next report in a minute at the earliest)",
                        self.refused
                    );
                    self.refused = 0;
                    self.refused_reported = Some(now);
                }
                continue;
            }
            if s.set_nonblocking(true).is_err() {
                continue;
            }
            keepalive(&s);
            // A full table holds stale connections (a peer that rebooted without closing
            // them): the oldest slot makes room.
            let slot = self
                .inbound
                .iter()
                .position(Option::is_none)
                .unwrap_or_else(|| {
                    if let Some(old) = self.inbound[0].take() {
                        ev.deregister(old.as_raw_fd());
                    }
                    self.inbound.rotate_left(1);
                    for (i, c) in self.inbound.iter().enumerate() {
                        if let Some(c) = c {
                            ev.deregister(c.as_raw_fd());
                            ev.register(c.as_raw_fd(), Token(T_IN + i), Interest::Read);
                        }
                    }
                    SLOTS - 1
                });
            ev.register(s.as_raw_fd(), Token(T_IN + slot), Interest::Read);
            info!("death-watch: connection from {from}");
            self.inbound[slot] = Some(s);
            self.nudge_others(slot);
        }
    }

    /// A new connection from the peer: one byte on each other connection, which a live
    /// peer reads and drops. A peer machine that rebooted without closing its old ones
    /// answers with a reset at once, so a stale connection does not count as open (see
    /// `others_open`) until keep-alive finds it.
    fn nudge_others(&self, new: usize) {
        let others = self
            .inbound
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != new)
            .filter_map(|(_, c)| c.as_ref());
        let out = match &self.out {
            Out::Up(s) => Some(s),
            _ => None,
        };
        for s in others.chain(out) {
            // MSG_NOSIGNAL: a connection the peer closed meanwhile must not raise SIGPIPE.
            let _ = send(
                s.as_raw_fd(),
                &[0],
                MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
            );
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// EOF or a reset: the peer's kernel closed it.
    Closed,
    /// Keep-alive gave up: a peer machine that vanished without a FIN. Not a daemon exit
    /// (the dead-interval handled that long before); the connection is replaced quietly.
    TimedOut,
}

/// Reads what is there (bytes the peer should never send are dropped).
/// Logs that the connection `which` ("to ADDR", "from ADDR") was given up by keep-alive.
fn timed_out(which: &str) {
    info!("death-watch: the connection {which} timed out (keep-alive)");
}

fn state(s: &mut TcpStream) -> State {
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return State::Closed,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return State::Open,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::TimedOut => return State::TimedOut,
            Err(e) => {
                debug!("death-watch: {e}");
                return State::Closed;
            }
        }
    }
}

/// Keep-alive so that a connection to a peer machine that vanished (no FIN) is found and
/// replaced within about half a minute.
fn keepalive(s: &TcpStream) {
    let fd = s.as_fd();
    let _ = setsockopt(&fd, sockopt::KeepAlive, &true);
    let _ = setsockopt(&fd, sockopt::TcpKeepIdle, &10);
    let _ = setsockopt(&fd, sockopt::TcpKeepInterval, &5);
    let _ = setsockopt(&fd, sockopt::TcpKeepCount, &3);
}

/// A non-blocking connect from `local` (any port) to `peer`.
fn start_connect(local: Ipv4Addr, peer: SocketAddrV4) -> io::Result<TcpStream> {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    bind(
        fd.as_raw_fd(),
        &SockaddrIn::from(SocketAddrV4::new(local, 0)),
    )?;
    match connect(fd.as_raw_fd(), &SockaddrIn::from(peer)) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => Ok(TcpStream::from(fd)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
#[path = "death_watch_tests.rs"]
mod tests;
