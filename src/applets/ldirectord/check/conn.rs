//! A check's TCP connection, and the spare sockets a check that speaks first connects from.
//!
//! At a thousand checks a second on a real's own loopback nearly all of a check's cost is
//! the kernel's, both ends' (bench/ldirectord/README.md). A check that speaks first (an HTTP
//! request, a TLS hello) saves two parts of it:
//! - its socket has TCP_DEFER_ACCEPT: the handshake's last ACK rides on the request instead
//!   of being a segment of its own, and the server is woken once for the connection and its
//!   request, not twice;
//! - once its answer is judged, the connection is dissolved with a reset (connect(2) to
//!   AF_UNSPEC: what a close with SO_LINGER 0 does, no TIME_WAIT on either side) and the
//!   socket is kept for the next check *of the same target*, so a check costs no socket(2),
//!   setsockopt(2) or close(2) with its socket teardown.
//!
//! Why the same target only: after a disconnect Linux does not draw the next connection's
//! initial sequence number afresh but derives it from the last connection's (its last
//! sequence number plus the peer's largest window plus 2). The real a socket last talked to
//! knows it. Kept for any target, a socket's next check could go to another real, and that
//! real (or whoever controls it) could forge the other's SYN-ACK and answer, needing only to
//! guess the source port: a dead real brought up. Kept for its own target, the number is
//! known only to the real it goes to, which answers its own check anyway.
//!
//! A check whose server speaks first (FTP, SMTP, MySQL, …) gets a new socket without the
//! option: its ACK must not wait for data it will not send. Any connection not judged (timed
//! out, failed, ended with a courtesy QUIT) is closed, never kept.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;

use nix::sys::socket::{
    connect as nix_connect, socket, AddressFamily, SockFlag, SockType, SockaddrStorage,
};

use crate::sys::tcp::{defer_handshake_ack, disconnect};

/// Spare sockets kept until `limit_spares` says otherwise (tests, a mail's delivery).
const DEFAULT_SPARES: usize = 16;

/// The most spare sockets the daemon keeps, whatever the open-files limit: each is about
/// 3.4 KiB of kernel memory (the TCP socket, its inode and file), so 10,000 reals that speak
/// first hold about 34 MiB of it.
pub const MAX_SPARES: usize = 16_384;

struct Spare {
    /// By the target each last connected to, one each (two checks of one real and port at
    /// once, from two virtuals, are rare: the second socket is closed).
    by_target: HashMap<SocketAddr, OwnedFd>,
    /// The most kept.
    limit: usize,
    /// The only targets spares are kept for, once the daemon named them (`spare_targets`).
    targets: Option<HashSet<SocketAddr>>,
}

impl Spare {
    fn take(&mut self, target: SocketAddr) -> Option<OwnedFd> {
        self.by_target.remove(&target)
    }

    fn keep(&mut self, target: SocketAddr, fd: OwnedFd) {
        if self.targets.as_ref().is_some_and(|t| !t.contains(&target)) {
            return;
        }
        if self.by_target.len() < self.limit && !self.by_target.contains_key(&target) {
            self.by_target.insert(target, fd);
        }
    }

    /// Closes one spare (of any target).
    fn close_one(&mut self) {
        if let Some(target) = self.by_target.keys().next().copied() {
            drop(self.take(target));
        }
    }
}

thread_local! {
    /// Disconnected sockets with TCP_DEFER_ACCEPT set, ready to connect again.
    static SPARE: RefCell<Spare> = RefCell::new(Spare {
        by_target: HashMap::new(),
        limit: DEFAULT_SPARES,
        targets: None,
    });
}

/// Keeps at most `n` spare sockets from now on, and closes those beyond. The daemon says how
/// many of the open files it gives to checks no check may need (the open-files limit less
/// `check_slots::RESERVED_FILES`, less two for each check in flight; at most `MAX_SPARES`)
/// before it starts a check, so checks and spares together stay within the limit. A spare
/// serves its own target only, so every real that speaks first needs one: at N=10,000 a
/// limit of 2,048 left 80 % of the checks making and closing a socket.
pub fn limit_spares(n: usize) {
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        s.limit = n;
        while s.by_target.len() > n {
            s.close_one();
        }
    });
}

/// Keeps spares only for `targets` from now on (the configured checks' targets) and closes
/// those of any other: a reload that removed a real left its spare open until the limit
/// pushed it out, and a real's redirects to ports of its own filled the spares with targets
/// no check has, keeping the configured reals out.
pub fn spare_targets(targets: HashSet<SocketAddr>) {
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        s.by_target.retain(|t, _| targets.contains(t));
        s.targets = Some(targets);
    });
}

/// How many spare sockets are kept now (IPv4 targets, IPv6 targets), for the tests.
pub fn spare_count() -> (usize, usize) {
    SPARE.with(|s| {
        let s = s.borrow();
        let v6 = s.by_target.keys().filter(|t| t.is_ipv6()).count();
        (s.by_target.len() - v6, v6)
    })
}

fn new_socket(v6: bool) -> io::Result<OwnedFd> {
    let fam = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    Ok(socket(
        fam,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?)
}

/// Starts a non-blocking connect of `fd` to `addr`.
fn connect(fd: OwnedFd, addr: SocketAddr) -> io::Result<TcpStream> {
    match nix_connect(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(addr),
    ) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => Ok(TcpStream::from(fd)),
        Err(e) => Err(e.into()),
    }
}

/// Starts a TCP connect without waiting for it, on a new socket.
pub fn connect_nonblocking(addr: SocketAddr) -> io::Result<TcpStream> {
    connect(new_socket(addr.is_ipv6())?, addr)
}

/// A check's connection (`Conn::start`).
pub struct Conn {
    /// Always there until the drop, which takes it to keep it as a spare.
    stream: Option<TcpStream>,
    /// Made for a check that speaks first: a spare socket, kept again at the end.
    speaks_first: bool,
    /// Where it connects (whose spares it joins).
    target: SocketAddr,
    /// The answer was judged with nothing left to send: the connection ends with a reset.
    answered: bool,
}

impl Conn {
    /// Starts the connect to `addr` of a check that speaks first (from a spare socket, with
    /// the handshake's last ACK deferred) or of one whose server speaks first.
    pub fn start(addr: SocketAddr, speaks_first: bool) -> io::Result<Conn> {
        let stream = if speaks_first {
            let fd = match SPARE.with(|s| s.borrow_mut().take(addr)) {
                Some(fd) => fd,
                None => {
                    let fd = new_socket(addr.is_ipv6())?;
                    // Without it the check works the same, with one more segment.
                    let _ = defer_handshake_ack(&fd);
                    fd
                }
            };
            connect(fd, addr)?
        } else {
            connect_nonblocking(addr)?
        };
        Ok(Conn {
            stream: Some(stream),
            speaks_first,
            target: addr,
            answered: false,
        })
    }

    pub fn stream(&self) -> &TcpStream {
        self.stream
            .as_ref()
            .expect("a Conn holds its stream until dropped")
    }

    pub fn stream_mut(&mut self) -> &mut TcpStream {
        self.stream
            .as_mut()
            .expect("a Conn holds its stream until dropped")
    }

    /// The server's answer is judged and nothing is left to send: the connection ends with a
    /// reset. A FIN would leave a TIME_WAIT socket for every check on whichever side closed
    /// first, 60 s each (60,000 of them at a thousand checks a second), and cost both
    /// kernels the extra segments. HTTP servers close after an HTTP/1.0 answer anyway; a
    /// server that still reads gets ECONNRESET instead of end-of-file. A dialogue that ends
    /// with a courtesy (QUIT, LOGOUT: `Step::Finish`) is not `answered` and closes with a
    /// FIN, so that the server reads it.
    pub fn answered(&mut self) {
        self.answered = true;
    }
}

/// Closes with a reset instead of a FIN (`Conn::answered`).
fn reset_on_close(s: &TcpStream) {
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = nix::sys::socket::setsockopt(s, nix::sys::socket::sockopt::Linger, &linger);
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        if !self.answered {
            return;
        }
        if self.speaks_first {
            let fd = OwnedFd::from(stream);
            // The reset goes out here; a socket that cannot be dissolved is closed.
            if disconnect(&fd).is_ok() {
                SPARE.with(|s| s.borrow_mut().keep(self.target, fd));
            }
            return;
        }
        reset_on_close(&stream);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener};
    use std::time::{Duration, Instant};

    use super::super::{Check, Dialogue, Poll, Step, TcpCheck};
    use super::{limit_spares, spare_count, spare_targets};
    use crate::applets::ldirectord::core::Outcome;
    use crate::net::test_ns::TempNs;

    /// Says "ping", up at a line back: a check that speaks first.
    struct Ping;
    impl Dialogue for Ping {
        fn opening(&mut self) -> (Vec<u8>, bool) {
            (b"ping\n".to_vec(), false)
        }
        fn received(&mut self, input: &[u8], eof: bool) -> Step {
            match (input.ends_with(b"\n"), eof) {
                (true, _) => Step::Done(Outcome::Up(String::new())),
                (false, true) => Step::Done(Outcome::Down("closed".into())),
                (false, false) => Step::More,
            }
        }
    }

    /// Waits for the server's line, up at it: a check whose server speaks first.
    struct Banner;
    impl Dialogue for Banner {
        fn opening(&mut self) -> (Vec<u8>, bool) {
            (Vec::new(), false)
        }
        fn received(&mut self, input: &[u8], eof: bool) -> Step {
            Ping.received(input, eof)
        }
    }

    /// Advances `c` until it has an outcome (5 s at most).
    fn outcome(c: &mut dyn Check) -> Outcome {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            if let Poll::Ready(o) = c.advance() {
                return o;
            }
            assert!(Instant::now() < until, "no outcome in 5 s");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The server's side of one check: accepts (waiting up to 5 s), reads the request line,
    /// answers a line, and gives back the accepted connection.
    fn answer(l: &TcpListener) -> std::net::TcpStream {
        let until = Instant::now() + Duration::from_secs(5);
        let mut s = loop {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => panic!("accept: {e}"),
            }
        };
        s.set_nonblocking(false).expect("blocking");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut line = [0u8; 5];
        s.read_exact(&mut line).expect("request");
        assert_eq!(&line, b"ping\n");
        s.write_all(b"pong\n").expect("answer");
        s
    }

    /// A real's listening socket on `host` (port 0: any), accepting without blocking.
    fn real(host: &str) -> TcpListener {
        let l = TcpListener::bind(host).expect("listen");
        l.set_nonblocking(true).expect("nonblocking");
        l
    }

    /// Runs check `c`, started towards `l`, to its end, with `l` answering (`answer`): it must
    /// be up. Gives back the server's side of the connection.
    fn judged_up(c: &mut TcpCheck<Ping>, l: &TcpListener) -> std::net::TcpStream {
        let _ = c.advance();
        let server = answer(l);
        assert_eq!(outcome(c), Outcome::Up(String::new()));
        server
    }

    /// Every check made a socket of its own, set an option on it and closed it: socket(2),
    /// setsockopt(2) and close(2) with the socket's teardown were about a quarter of a
    /// check's CPU at N=1000 (bench/ldirectord). A check that speaks first now takes a
    /// spare socket and leaves it for the next one. The spare must not carry the reset of
    /// its last connection into the next: the kernel leaves ECONNRESET pending after the
    /// disconnect, and a next connect that did not clear it would fail the check.
    #[test]
    fn every_check_made_and_tore_down_a_socket_of_its_own() {
        let ns = TempNs::new("hbx-spare");
        ns.run(|| {
            for (host, v6) in [("127.0.0.1:0", false), ("[::1]:0", true)] {
                let l = real(host);
                let addr = l.local_addr().expect("addr");
                let spares = || {
                    let (v4, v6n) = spare_count();
                    if v6 {
                        v6n
                    } else {
                        v4
                    }
                };
                assert_eq!(spares(), 0);
                for round in 0..3 {
                    let mut c = TcpCheck::start(addr, Ping, false).expect("start");
                    // A spare (after the first round) is in use.
                    assert_eq!(spares(), 0, "round {round}");
                    let mut server = judged_up(&mut c, &l);
                    drop(c);
                    assert_eq!(spares(), 1, "round {round}: the socket was not kept");
                    // The connection ended with a reset, as a close with SO_LINGER 0 did.
                    let mut rest = Vec::new();
                    let e = server.read_to_end(&mut rest).expect_err("a reset");
                    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{round}");
                }
            }
        });
    }

    /// The handshake's last ACK of a check that speaks first rides on its request: the
    /// server's accept finds nothing until the request is written (the kernel sends a pure
    /// ACK after the delayed-ACK time, up to 200 ms, if nothing is written). A check whose
    /// server speaks first must not wait for that: its ACK goes out at once.
    #[test]
    fn the_handshake_cost_a_segment_of_its_own_before_the_request() {
        let ns = TempNs::new("hbx-defer");
        ns.run(|| {
            let l = real("127.0.0.1:0");
            let addr = l.local_addr().expect("addr");
            let started = Instant::now();
            let mut c = TcpCheck::start(addr, Ping, false).expect("start");
            let early = l.accept();
            // Only meaningful if this ran within the delayed-ACK time of the connect.
            if started.elapsed() < Duration::from_millis(150) {
                assert!(early.is_err(), "the handshake completed before the request");
            }
            drop(early);
            let _server = judged_up(&mut c, &l);

            let mut b = TcpCheck::start(addr, Banner, false).expect("start");
            let until = Instant::now() + Duration::from_millis(100);
            let mut server = loop {
                match l.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if Instant::now() < until => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(e) => panic!("the banner server's accept waited: {e}"),
                }
            };
            server.write_all(b"220 hello\n").expect("banner");
            assert_eq!(outcome(&mut b), Outcome::Up(String::new()));
        });
    }

    /// A check that speaks first learns that its connect failed from its first write: the
    /// real is down with the connect's error, as when getpeername(2) was asked first, and the
    /// socket is not kept. Neither is one whose check ends before its answer (a timeout
    /// drops it).
    #[test]
    fn a_refused_or_unjudged_connection_was_kept_as_a_spare() {
        let ns = TempNs::new("hbx-refuse");
        ns.run(|| {
            // A port below the ephemeral range: one freed by a listener of the test could be
            // drawn as the check's own source port, and a socket connected to itself (TCP's
            // simultaneous open) is no refusal (3 % of the runs).
            let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
            let mut c = TcpCheck::start(addr, Ping, false).expect("start");
            match outcome(&mut c) {
                Outcome::Down(m) => assert!(m.starts_with("connect: Connection refused"), "{m}"),
                o => panic!("{o:?}"),
            }
            drop(c);
            assert_eq!(spare_count(), (0, 0));

            let l = real("127.0.0.1:0");
            let mut c = TcpCheck::start(l.local_addr().expect("addr"), Ping, false).expect("start");
            assert!(matches!(c.advance(), Poll::Wait(_)));
            drop(c);
            assert_eq!(spare_count(), (0, 0));
        });
    }

    /// Spares are open files beside the checks': the daemon keeps them within its free check
    /// slots, so a burst of checks that needs every slot is never short of a file because
    /// idle sockets hold them. Those beyond the limit are closed at once.
    #[test]
    fn spare_sockets_could_hold_the_files_of_the_check_slots() {
        let ns = TempNs::new("hbx-limit");
        ns.run(|| {
            let reals: Vec<TcpListener> = (0..3).map(|_| real("127.0.0.1:0")).collect();
            let addr = |i: usize| reals[i].local_addr().expect("addr");
            let mut servers = Vec::new();
            let mut checks: Vec<_> = (0..3)
                .map(|i| TcpCheck::start(addr(i), Ping, false).expect("start"))
                .collect();
            for (i, c) in checks.iter_mut().enumerate() {
                let _ = c.advance();
                servers.push(answer(&reals[i]));
            }
            for c in &mut checks {
                assert_eq!(outcome(c), Outcome::Up(String::new()));
            }
            drop(checks);
            assert_eq!(spare_count(), (3, 0));
            limit_spares(1);
            assert_eq!(spare_count(), (1, 0));
            // Checks of all three: the one kept is taken, the others make sockets; at their
            // end only one fits the limit again.
            let mut checks: Vec<_> = (0..3)
                .map(|i| TcpCheck::start(addr(i), Ping, false).expect("start"))
                .collect();
            assert_eq!(spare_count(), (0, 0));
            for (i, c) in checks.iter_mut().enumerate() {
                servers.push(judged_up(c, &reals[i]));
            }
            drop(checks);
            assert_eq!(spare_count(), (1, 0));
            limit_spares(0);
            assert_eq!(spare_count(), (0, 0));
            let mut c = TcpCheck::start(addr(0), Ping, false).expect("start");
            servers.push(judged_up(&mut c, &reals[0]));
            drop(c);
            assert_eq!(spare_count(), (0, 0), "kept beyond the limit");
        });
    }

    /// Linux starts a disconnected socket's next connection at a sequence number derived
    /// from its last one, which the real it talked to can work out. Handed to the check of
    /// another real, a spare let that real forge the other's SYN-ACK and answer with little
    /// more than the source port to guess. A spare now goes back to its own target only.
    #[test]
    fn a_spare_socket_took_a_sequence_number_its_last_real_knew_to_another_real() {
        let ns = TempNs::new("hbx-target");
        ns.run(|| {
            let (a, b) = (real("127.0.0.1:0"), real("127.0.0.1:0"));
            let mut servers = Vec::new();
            let mut check = |l: &TcpListener, spares_while: (usize, usize)| {
                let mut c =
                    TcpCheck::start(l.local_addr().expect("addr"), Ping, false).expect("start");
                assert_eq!(spare_count(), spares_while);
                servers.push(judged_up(&mut c, l));
            };
            check(&a, (0, 0));
            assert_eq!(spare_count(), (1, 0));
            // B's check makes a socket of its own: A's spare stays.
            check(&b, (1, 0));
            assert_eq!(spare_count(), (2, 0));
            // A's next check takes A's.
            check(&a, (1, 0));
            assert_eq!(spare_count(), (2, 0));
        });
    }

    /// Spares outlived the reals they were kept for: a reload that removed a real left its
    /// socket open, and a real redirecting to ports of its own could fill the spares with
    /// targets no check has. Only the configured checks' targets keep spares now.
    #[test]
    fn a_reload_left_the_spare_of_a_removed_real_open() {
        let ns = TempNs::new("hbx-retain");
        ns.run(|| {
            let reals: Vec<TcpListener> = (0..3).map(|_| real("127.0.0.1:0")).collect();
            let addr = |i: usize| reals[i].local_addr().expect("addr");
            let mut servers = Vec::new();
            let mut check = |i: usize| {
                let mut c = TcpCheck::start(addr(i), Ping, false).expect("start");
                servers.push(judged_up(&mut c, &reals[i]));
            };
            check(0);
            check(1);
            assert_eq!(spare_count(), (2, 0));
            // The config now names only the second and the third.
            spare_targets([addr(1), addr(2)].into_iter().collect());
            assert_eq!(spare_count(), (1, 0));
            check(2);
            assert_eq!(spare_count(), (2, 0));
            // A target no check has (a redirect's) keeps nothing.
            spare_targets([addr(1)].into_iter().collect());
            assert_eq!(spare_count(), (1, 0));
            check(0);
            check(2);
            assert_eq!(spare_count(), (1, 0));
        });
    }
}
