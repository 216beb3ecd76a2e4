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

    /// A SIGHUP hand-over on A: the new instance's supervisor connects while the old one
    /// still holds its connections, then the new worker SIGKILLs the old instance. B read
    /// the old connections' close as the death of A's daemon and probed; a starved new
    /// worker missed the probe and B took over from a live Master.
    #[test]
    fn the_old_instances_close_after_a_hand_over_was_taken_for_a_death() {
        in_private_netns(old_instance_close_after_hand_over);
    }

    /// A (node 1) and B (node 2) started, B first, and connected both ways.
    fn connected_pair() -> ((DeathWatch, EventLoop), (DeathWatch, EventLoop)) {
        let port = DEATH_WATCH_PORT_FOR_TEST;
        let (mut a, mut ea) = (DeathWatch::new(settings(1, 2, port)), EventLoop::new());
        let (mut b, mut eb) = (DeathWatch::new(settings(2, 1, port)), EventLoop::new());
        b.start(&mut eb);
        a.start(&mut ea);
        {
            let mut sides = [(&mut a, &mut ea), (&mut b, &mut eb)];
            drive(&mut sides, Duration::from_millis(1500), |_| false);
        }
        assert!(connected(&a) && connected(&b), "both directions connect");
        ((a, ea), (b, eb))
    }

    /// The peer's last instance died with both of its connections: `w` reports it, once or
    /// twice (the worker's core takes the first).
    fn assert_death_reported(w: &mut DeathWatch, ev: &mut EventLoop) {
        let mut sides = [(w, ev)];
        let seen = drive(&mut sides, Duration::from_secs(2), |s| !s[0].is_empty());
        assert!(
            !seen[0].is_empty() && seen[0].iter().all(|o| *o == Outcome::PeerGone),
            "{:?}",
            seen[0]
        );
    }

    fn old_instance_close_after_hand_over() {
        let port = DEATH_WATCH_PORT_FOR_TEST;
        let ((mut old, mut eo), (mut b, mut eb)) = connected_pair();

        // SIGHUP: the old instance gives up its listener, the new one starts.
        old.detach(&mut eo);
        let (mut new, mut en) = (DeathWatch::new(settings(1, 2, port)), EventLoop::new());
        new.start(&mut en);
        // The new instance's connect is in B's listener queue, not accepted yet, when the
        // old instance dies: B must find it there before it decides.
        std::thread::sleep(Duration::from_millis(50));
        drop(old);
        drop(eo);
        let mut sides = [(&mut b, &mut eb), (&mut new, &mut en)];
        let seen = drive(&mut sides, Duration::from_millis(1500), |_| false);
        assert!(seen[0].is_empty(), "B: {:?}", seen[0]);
        assert!(
            connected(&b) && connected(&new),
            "B reconnects to the new instance"
        );
        assert_eq!(b.inbound.iter().filter(|c| c.is_some()).count(), 1);

        // The new instance dies too (SIGKILL): nothing is left open, that is a death.
        drop(new);
        drop(en);
        assert_death_reported(&mut b, &mut eb);
    }

    /// A LAN host that keeps a connection to B's port open (from its own address) holds
    /// nothing open for the peer: it is closed at accept, and the peer's death is reported.
    #[test]
    fn a_strangers_open_connection_masked_the_peers_death() {
        in_private_netns(stranger_masks_nothing);
    }

    fn stranger_masks_nothing() {
        let port = DEATH_WATCH_PORT_FOR_TEST;
        let ((a, ea), (mut b, mut eb)) = connected_pair();
        let mut stranger = start_connect(
            Ipv4Addr::new(127, 0, 0, 3),
            SocketAddrV4::new(b.cfg.local, port),
        )
        .unwrap();
        {
            let mut sides = [(&mut b, &mut eb)];
            drive(&mut sides, Duration::from_millis(200), |_| false);
        }
        let mut buf = [0u8; 8];
        assert!(matches!(stranger.read(&mut buf), Ok(0) | Err(_)));
        assert_eq!(b.inbound.iter().filter(|c| c.is_some()).count(), 1);
        drop(a);
        drop(ea);
        assert_death_reported(&mut b, &mut eb);
    }

    /// The peer's SYNs were lost while it booted (here: its accept queue is full, so its
    /// kernel drops them, as a firewall not loaded yet does). The connect waited for the
    /// kernel's back-off: SYNs at 1, 3, 7, 15 s (Linux 6.1, the image's), or at 1, 2, 3, 4,
    /// 6, 10, 18 s (6.5 on, `tcp_syn_linear_timeouts`). When the peer could answer 12 s in,
    /// the death-watch stayed closed 3 or 6 s more; a QEMU test's 20 s wait ran out.
    #[test]
    fn lost_syns_kept_the_death_watch_closed_for_the_kernels_backoff() {
        in_private_netns(lost_syns);
    }

    fn lost_syns() {
        use nix::sys::socket::{listen, Backlog};
        let port = DEATH_WATCH_PORT_FOR_TEST;
        let peer = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), port);
        let fd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        bind(fd.as_raw_fd(), &SockaddrIn::from(peer)).unwrap();
        // Room for one connection, which the filler takes.
        listen(&fd, Backlog::new(0).unwrap()).unwrap();
        let listener = TcpListener::from(fd);
        let _filler = start_connect(Ipv4Addr::new(127, 0, 0, 3), peer).unwrap();
        std::thread::sleep(Duration::from_millis(100));

        let (mut a, mut ea) = (DeathWatch::new(settings(1, 2, port)), EventLoop::new());
        a.start(&mut ea);
        let up = |a: &DeathWatch| matches!(a.out, Out::Up(_));
        drive(&mut [(&mut a, &mut ea)], Duration::from_secs(12), |_| false);
        assert!(!up(&a), "the peer's kernel dropped every SYN");

        // The peer can answer now.
        let (_accepted, _) = listener.accept().unwrap();
        let ready = Instant::now();
        while !up(&a) && ready.elapsed() < Duration::from_secs(5) {
            drive(&mut [(&mut a, &mut ea)], Duration::from_millis(50), |_| {
                false
            });
        }
        assert!(
            up(&a),
            "connected only {:?} after the peer could answer",
            ready.elapsed()
        );
        assert!(ready.elapsed() < CONNECT_TIMEOUT + Duration::from_millis(500));
    }
}
