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

use std::io::{self, ErrorKind, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use nix::sys::socket::{
    bind, connect, getsockopt, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType,
    SockaddrIn,
};

use super::config::DeathWatch as Settings;
use crate::event::{Event, EventLoop, Interest, Token};

/// The listener.
pub const T_LISTEN: Token = Token(100);
/// The outgoing connection (connecting, then established).
pub const T_OUT: Token = Token(101);
/// Retry timer: bind the listener, connect again.
pub const T_RETRY: Token = Token(102);
/// Accepted connections: `T_IN + slot`.
pub const T_IN: usize = 110;
/// Accepted connections kept at once (the peer's instances during a hand-over, stale ones).
const SLOTS: usize = 4;
/// Between connect or bind attempts.
const RETRY: Duration = Duration::from_secs(1);
/// At most one warning about refused strangers per this period: any host that routes to
/// the heart-beat address reaches the port, and a flood must not become a log flood.
const REFUSED_REPORT: Duration = Duration::from_secs(60);
/// Connections accepted per readiness event: a flood cannot hold the supervisor in its
/// accept loop (the listener stays readable and is served again after the other events).
const ACCEPTS_PER_EVENT: usize = 32;

enum Out {
    Idle,
    Connecting(TcpStream),
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
    /// connections stay until this process exits — the peer's probe then finds the new
    /// instance answering.
    pub fn detach(&mut self, ev: &mut EventLoop) {
        self.detached = true;
        if let Some(l) = self.listener.take() {
            ev.deregister(l.as_raw_fd());
        }
        if let Out::Connecting(s) = &self.out {
            ev.deregister(s.as_raw_fd());
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
                if let Out::Up(s) = std::mem::replace(&mut self.out, Out::Idle) {
                    ev.deregister(s.as_raw_fd());
                }
                self.arm_retry(ev);
                self.report(state, format!("to {}", self.peer_addr()))
            }
            Event::Readable(Token(t)) if (T_IN..T_IN + SLOTS).contains(&t) => {
                let slot = t - T_IN;
                let state = self.inbound[slot].as_mut().map_or(State::Open, state);
                if state == State::Open {
                    return Outcome::Nothing;
                }
                if let Some(s) = self.inbound[slot].take() {
                    ev.deregister(s.as_raw_fd());
                }
                self.report(state, format!("from {}", self.cfg.peer))
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

    fn report(&self, state: State, which: String) -> Outcome {
        if state == State::Closed {
            info!("death-watch: the connection {which} closed: the peer's daemon is gone");
            Outcome::PeerGone
        } else {
            info!("death-watch: the connection {which} timed out (keep-alive)");
            Outcome::Nothing
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
                self.out = Out::Connecting(s);
            }
            Err(e) => {
                debug!("death-watch: connect to {}: {e}", self.peer_addr());
                self.arm_retry(ev);
            }
        }
    }

    fn connected(&mut self, ev: &mut EventLoop) {
        let Out::Connecting(s) = std::mem::replace(&mut self.out, Out::Idle) else {
            return;
        };
        ev.deregister(s.as_raw_fd());
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
mod tests {
    use super::*;

    /// The default port: the namespace is the test's own.
    const DEATH_WATCH_PORT_FOR_TEST: u16 = crate::applets::pikemon::config::DEATH_WATCH_PORT;

    fn settings(local: u8, peer: u8, port: u16) -> Settings {
        Settings {
            local: Ipv4Addr::new(127, 0, 0, local),
            peer: Ipv4Addr::new(127, 0, 0, peer),
            port,
        }
    }

    /// Runs the sides' loops for `limit` or until `stop` says so; returns what each reported.
    fn drive(
        sides: &mut [(&mut DeathWatch, &mut EventLoop)],
        limit: Duration,
        mut stop: impl FnMut(&[Vec<Outcome>]) -> bool,
    ) -> Vec<Vec<Outcome>> {
        let mut seen = vec![Vec::new(); sides.len()];
        let end = Instant::now() + limit;
        while Instant::now() < end && !stop(&seen) {
            for (i, (w, ev)) in sides.iter_mut().enumerate() {
                let mut events = Vec::new();
                ev.wait(&mut events, Some(Duration::from_millis(5)))
                    .unwrap();
                for e in events {
                    let o = w.handle(ev, &e);
                    if o != Outcome::Nothing {
                        seen[i].push(o);
                    }
                }
            }
        }
        seen
    }

    fn connected(w: &DeathWatch) -> bool {
        matches!(w.out, Out::Up(_)) && w.inbound.iter().any(Option::is_some)
    }

    /// Runs `f` on a thread of its own in a new, unnamed network namespace with only `lo`
    /// up: the test's sockets never touch the host's namespace, and the namespace goes with
    /// the thread.
    fn in_private_netns(f: impl FnOnce() + Send + 'static) {
        let t = std::thread::spawn(move || {
            // The network namespace is per thread: this one only.
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("unshare(CLONE_NEWNET) (needs root): {e}"));
            let mut rt =
                crate::net::rtnl::Rtnl::open().unwrap_or_else(|e| panic!("rtnetlink: {e}"));
            // `lo` is index 1 in a new namespace.
            rt.set_link_up(1, true)
                .unwrap_or_else(|e| panic!("lo up: {e}"));
            f();
        });
        if let Err(e) = t.join() {
            std::panic::resume_unwind(e);
        }
    }

    #[test]
    fn a_closed_process_is_reported_once_per_connection_and_strangers_are_refused() {
        in_private_netns(closed_process_and_strangers);
    }

    fn closed_process_and_strangers() {
        let port = DEATH_WATCH_PORT_FOR_TEST;
        let (mut a, mut ea) = (DeathWatch::new(settings(1, 2, port)), EventLoop::new());
        let (mut b, mut eb) = (DeathWatch::new(settings(2, 1, port)), EventLoop::new());
        a.start(&mut ea);
        b.start(&mut eb);
        {
            let mut sides = [(&mut a, &mut ea), (&mut b, &mut eb)];
            // B's connect succeeds at once; A's first one was refused (B was not listening
            // yet) and is retried after a second.
            drive(&mut sides, Duration::from_millis(1500), |_| false);
        }
        assert!(connected(&a) && connected(&b), "both directions connect");

        // A stranger (127.0.0.3) is refused; bytes from the peer are dropped; nothing is
        // reported for either.
        let stranger = start_connect(
            Ipv4Addr::new(127, 0, 0, 3),
            SocketAddrV4::new(a.cfg.local, port),
        );
        assert!(stranger.is_ok());
        if let Out::Up(s) = &mut b.out {
            use std::io::Write;
            let _ = s.write_all(b"garbage the peer should never send");
        }
        let mut sides = [(&mut a, &mut ea)];
        let seen = drive(&mut sides, Duration::from_millis(300), |_| false);
        assert!(seen[0].is_empty(), "{:?}", seen[0]);
        assert_eq!(a.inbound.iter().filter(|c| c.is_some()).count(), 1);

        // B's process goes: A sees both connections close.
        drop(b);
        drop(eb);
        let mut sides = [(&mut a, &mut ea)];
        let seen = drive(&mut sides, Duration::from_secs(2), |s| s[0].len() >= 2);
        assert_eq!(seen[0], [Outcome::PeerGone, Outcome::PeerGone]);
        assert!(!connected(&a));
    }
}
