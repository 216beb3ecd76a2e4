//! Tests of the death-watch (death_watch.rs), each in a network namespace of its own.

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
        let mut rt = crate::net::rtnl::Rtnl::open().unwrap_or_else(|e| panic!("rtnetlink: {e}"));
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
