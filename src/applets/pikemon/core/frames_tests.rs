//! What the core makes of the frames it receives: replays, forgeries, stale and lost
//! incarnations, duplicates over several paths, floods, and its own virtual MAC seen
//! elsewhere.

use super::*;

#[test]
fn replayed_and_forged_frames_are_counted_and_ignored() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    let old = s.captured[3].clone();
    // A has gone away; the replayed frames must not keep it alive.
    s.kill(0);
    let before = s.node(1).counters();
    for _ in 0..100 {
        s.run(Duration::from_millis(10));
        s.apply(0, Vec::new());
        let now = s.now;
        let n = s.nodes[1].as_mut().unwrap();
        let _ = n.handle(
            now,
            Input::Frame {
                path: 0,
                frame: &old,
            },
        );
    }
    let c = s.node(1).counters();
    assert!(c.replays - before.replays >= 100, "{c:?}");
    assert!(s.master[1], "replays kept a dead peer alive");
    // Forged: right format, wrong key, from a third party.
    let mut r = s.node(1).peer().unwrap().vcs.clone();
    r[0].role = Role::Master;
    let forged = Repr {
        msg_type: MessageType::Hello,
        flags: 0,
        cluster_id: 1,
        node_id: 1,
        incarnation: 99,
        seq: 1,
        ack_incarnation: 1,
        ack_seq: 1_000_000,
        hello_ms: 100,
        dead_ms: 300,
        path_id: 0,
        key_id: 1,
        vcs: r,
    };
    let f = frame_for(&forged, 0, 0, b"the wrong key 123");
    let now = s.now;
    let n = s.nodes[1].as_mut().unwrap();
    let acts = n.handle(now, Input::Frame { path: 0, frame: &f });
    assert!(!acts
        .iter()
        .any(|a| matches!(a, Action::TakeOver { .. } | Action::Release { .. })));
    assert_eq!(n.counters().auth_failures, 1);
    assert!(matches!(n.vc(0).unwrap().role, VcRole::Master(_)));
    // Garbage is counted as malformed.
    let _ = n.handle(
        now,
        Input::Frame {
            path: 0,
            frame: &f[..40],
        },
    );
    assert_eq!(n.counters().malformed, 1);
}

#[test]
fn frame_of_an_incarnation_left_behind_is_stale() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    let old = s.captured.last().unwrap().clone();
    let first = s.node(1).peer().unwrap().incarnation;
    // A restarts (a new incarnation), B accepts it.
    s.kill(0);
    s.start(0, Some(false));
    s.run(Duration::from_millis(300));
    let second = s.node(1).peer().unwrap().incarnation;
    assert_ne!(first, second);
    let replays = s.node(1).counters().replays;
    let now = s.now;
    let n = s.nodes[1].as_mut().unwrap();
    let _ = n.handle(
        now,
        Input::Frame {
            path: 1,
            frame: &old,
        },
    );
    assert_eq!(n.counters().replays, replays + 1);
    assert_eq!(n.peer().unwrap().incarnation, second);
}

#[test]
fn rolled_back_status_file_does_not_silence_a_node() {
    let mut s = Sim::new(false);
    s.boots[0] = 5;
    s.kill(0);
    s.start(0, None); // boot 6
    s.run(Duration::from_millis(500));
    // A restarts with its status file restored from an old backup (boot 1): it is heard
    // and believed as soon as it acknowledges one of B's frames, while its old
    // incarnation still counts as alive — no dead-interval, let alone hours, of silence.
    s.kill(0);
    s.boots[0] = 0;
    s.start(0, None);
    let mine = s.node(0).incarnation();
    let took = s.until(HELLO * 2, |s| {
        s.node(1).peer().is_some_and(|p| p.incarnation == mine)
    });
    assert!(took < DEAD, "{took:?}");
    assert!(s.node(1).peer_alive(s.now, Some(0)));
    s.run(Duration::from_millis(500));
    // The restarted primary is elected again; B never saw A as dead.
    assert_eq!(s.master, [true, false]);
    assert_eq!(s.takeovers[1], 0);
}

#[test]
fn frames_of_a_lost_incarnation_are_not_replayable_after_a_restart() {
    let mut s = Sim::new(false);
    // Incarnation 1 of A runs long; its frames (high seqs) are captured.
    s.run(Duration::from_secs(2));
    let lost: Vec<Vec<u8>> = s.captured.iter().rev().take(20).cloned().collect();
    // A restarts twice (its status file is lost each time): B follows each incarnation.
    for _ in 0..2 {
        s.kill(0);
        s.start(0, None);
        s.run(Duration::from_millis(400));
    }
    let now_incarnation = s.node(0).incarnation();
    assert_eq!(s.node(1).peer().unwrap().incarnation, now_incarnation);
    // The first incarnation's frames carry higher seqs than anything A sends now: none is
    // believed, neither state nor liveness.
    let before = s.node(1).peer().unwrap().seq;
    s.kill(0);
    for f in &lost {
        let now = s.now;
        let n = s.nodes[1].as_mut().unwrap();
        let _ = n.handle(now, Input::Frame { path: 0, frame: f });
        s.run(Duration::from_millis(20));
    }
    let p = s.node(1).peer().unwrap();
    assert_eq!((p.incarnation, p.seq), (now_incarnation, before));
    assert!(s.master[1], "the replays kept a dead A alive");
}

#[test]
fn replayed_last_hello_does_not_keep_a_dead_master_alive() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(500));
    // A's newest HELLO, recorded on the LAN by a third host (or looped by a switch).
    let newest = s.captured[s.captured.len() - 1].clone();
    let last = s.node(1).peer().unwrap().last_seen;
    s.kill(0);
    // Replayed every 10 ms on every path until B takes over.
    let start = s.now;
    while !s.master[1] {
        assert!(
            s.now - start < Duration::from_secs(2),
            "replays keep A alive"
        );
        for path in 0..PATHS {
            let now = s.now;
            let n = s.nodes[1].as_mut().unwrap();
            let _ = n.handle(
                now,
                Input::Frame {
                    path,
                    frame: &newest,
                },
            );
        }
        s.run(Duration::from_millis(10));
    }
    // Exactly as without the replays: a dead-interval after A's last genuine frame.
    let took = s.now - last;
    assert!(took <= DEAD + Duration::from_millis(10), "{took:?}");
    assert!(s.node(1).counters().replays > 50);
}

#[test]
fn a_duplicate_marks_only_a_new_path_alive_and_only_within_one_hello() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    // A's HELLO reaches B on hb0 only.
    let f = s.undelivered_hello(0);
    let t = s.now;
    let n = s.nodes[1].as_mut().unwrap();
    let _ = n.handle(t, Input::Frame { path: 0, frame: &f });
    let seen = n.peer().unwrap().last_seen;
    let replays = n.counters().replays;
    // The same frame on hb1 within one hello: path liveness, not peer liveness.
    let _ = n.handle(t + HELLO / 2, Input::Frame { path: 1, frame: &f });
    assert_eq!(n.peer().unwrap().paths[1].last, Some(t + HELLO / 2));
    assert_eq!(n.peer().unwrap().last_seen, seen);
    assert_eq!(n.counters().replays, replays);
    // Again on hb1, or on the LAN a hello later: a replay, nothing marked.
    let _ = n.handle(t + HELLO / 2, Input::Frame { path: 1, frame: &f });
    let _ = n.handle(
        t + HELLO,
        Input::Frame {
            path: LAN,
            frame: &f,
        },
    );
    assert_eq!(n.counters().replays, replays + 2);
    assert_ne!(n.peer().unwrap().paths[LAN].last, Some(t + HELLO));
    assert_eq!(n.peer().unwrap().last_seen, seen);
}

#[test]
fn a_flood_of_well_formed_frames_is_throttled_per_path_and_the_peer_stays_alive() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    // Well-formed frames claiming node 1 with the configured key-id but a wrong HMAC, 1000
    // per 5 ms on the LAN path, for a second: each would cost an HMAC.
    let mut forged = s.node(1).peer().unwrap().vcs.clone();
    forged[0].role = Role::Backup;
    let repr = Repr {
        msg_type: MessageType::Goodbye,
        flags: 0,
        cluster_id: 1,
        node_id: 1,
        incarnation: 7,
        seq: 1,
        ack_incarnation: 0,
        ack_seq: 0,
        hello_ms: 100,
        dead_ms: 300,
        path_id: 0,
        key_id: 1,
        vcs: forged,
    };
    let f = frame_for(&repr, LAN, 0, b"not the key at all");
    for _ in 0..200 {
        let now = s.now;
        let n = s.nodes[1].as_mut().unwrap();
        for _ in 0..1000 {
            let _ = n.handle(
                now,
                Input::Frame {
                    path: LAN,
                    frame: &f,
                },
            );
        }
        s.run(STEP);
    }
    let c = s.node(1).counters();
    // 8 verifications per 10 ms window on the flooded path, the rest dropped unverified.
    assert!(c.auth_failures <= 8 * 101, "{c:?}");
    assert!(c.throttled >= 199_000 - 8 * 101, "{c:?}");
    // The heart-beat paths were never throttled: the peer is alive, nothing moved.
    assert!(s.node(1).peer_alive(s.now, Some(0)));
    assert_eq!(s.master, [true, false]);
    assert_eq!(s.takeovers, [1, 0]);
}

#[test]
fn conflicts_are_acted_on_once_per_hello() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    let now = s.now;
    let n = s.nodes[0].as_mut().unwrap();
    let garps = (0..100)
        .flat_map(|_| n.handle(now, Input::Conflict { vc: 0 }))
        .filter(|a| matches!(a, Action::Garp { .. }))
        .count();
    assert_eq!(garps, 1);
    let again = n.handle(now + HELLO, Input::Conflict { vc: 0 });
    assert!(again.contains(&Action::Garp { vc: 0 }), "{again:?}");
}

#[test]
fn a_burst_of_vip_claims_is_answered_again_after_the_hello_without_more_input() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    let now = s.now;
    let n = s.nodes[0].as_mut().unwrap();
    let claim = Input::VipClaimed {
        vc: 0,
        by: [2, 0, 0, 0, 0, 0x66],
    };
    let garps = (0..100)
        .flat_map(|_| n.handle(now, claim))
        .filter(|a| matches!(a, Action::Garp { .. }))
        .count();
    assert_eq!(garps, 1, "one reaction per hello");
    // The claims after the first had the last word with the hosts: once the hello has
    // passed, the core answers them by itself (the loop wakes for it).
    let due = n.next_deadline().unwrap();
    assert!(due <= now + HELLO, "{due:?}");
    let acts = n.handle(now + HELLO, Input::Tick);
    assert!(acts.contains(&Action::Garp { vc: 0 }), "{acts:?}");
    // Nothing pending any more: no further reaction (the burst's repeats aside).
    assert_eq!(n.vcs[0].conflict_pending, None);
    let _ = n.handle(now + HELLO * 3, Input::Tick);
    assert_eq!(n.vcs[0].last_conflict, Some(now + HELLO));
}

#[test]
fn a_second_node_with_our_node_id_is_reported_once_and_our_own_looped_frame_never() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    // B's own frame looped back to it: dropped without a report.
    let now = s.now;
    let n = s.nodes[1].as_mut().unwrap();
    let mut own = n.message(now, MessageType::Hello, false);
    let looped = frame_for(&own, 0, 1, KEY);
    let before = n.counters();
    let _ = n.handle(
        now,
        Input::Frame {
            path: 0,
            frame: &looped,
        },
    );
    assert!(n.twins.is_empty());
    assert_eq!(n.counters().foreign, before.foreign + 1);
    // The same node-id from another incarnation, signed with our key: a second node
    // configured with it. Reported (kept once), dropped; B's role does not move.
    own.incarnation ^= 0x5a5a_5a5a;
    let twin = frame_for(&own, 0, 1, KEY);
    for _ in 0..3 {
        let acts = n.handle(
            now,
            Input::Frame {
                path: 0,
                frame: &twin,
            },
        );
        assert!(!acts
            .iter()
            .any(|a| matches!(a, Action::TakeOver { .. } | Action::Release { .. })));
    }
    assert_eq!(n.twins, vec![own.incarnation]);
    assert_eq!(n.counters().foreign, before.foreign + 4);
    assert_eq!(n.counters().auth_failures, before.auth_failures);
    // The same claim with a wrong key is a forgery, not a report.
    own.incarnation ^= 1;
    let forged = frame_for(&own, 0, 1, b"the wrong key 123");
    let _ = n.handle(
        now,
        Input::Frame {
            path: 0,
            frame: &forged,
        },
    );
    assert_eq!(n.twins.len(), 1);
    assert_eq!(n.counters().auth_failures, before.auth_failures + 1);
    // Many incarnations (replays of earlier runs): remembered up to a bound, and reported
    // at most once per TWIN_REPORT_GAP.
    let reported = n.twin_reported;
    for i in 0..20u32 {
        own.incarnation = 0x7000_0000 + i;
        let f = frame_for(&own, 0, 1, KEY);
        // Past each verification window: none is throttled.
        let at = now + Duration::from_millis(20 * u64::from(i + 1));
        let _ = n.handle(at, Input::Frame { path: 0, frame: &f });
    }
    assert_eq!(n.twins.len(), 8);
    assert_eq!(n.twin_reported, reported);
}

/// Both nodes configured with node-id 1: each dropped the other's frames as its own and
/// both played Master for good. Now each takes the other as its peer once it proves alive
/// (it acknowledges a frame of ours, which no replay of an earlier run can), and the lower
/// incarnation alone holds the role, across restarts of either.
#[test]
fn two_nodes_with_one_node_id_both_stayed_master() {
    let mut s = Sim::with_one_node_id();
    // `run` asserts at every step that the connected pair never has two Masters.
    s.run(Duration::from_secs(2));
    assert_eq!(s.master, [true, false]);
    assert_eq!(s.node(0).incarnation, 0xa000_0003);
    assert_eq!(s.node(1).incarnation, 0xa000_0004);
    // The Master dies: the other takes over after the dead-interval (and a probe).
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.master[1]);
    // Back with a higher incarnation than the Master's: it stays Backup ("master keeps").
    s.start(0, None);
    s.run(Duration::from_secs(2));
    assert_eq!(s.master, [false, true]);
    // A replay of the dead run's frames (an earlier incarnation with our node-id) proves
    // nothing and moves no role.
    let old = s
        .captured
        .first()
        .cloned()
        .expect("a frame of node 0's first run");
    for _ in 0..5 {
        s.input(
            1,
            Input::Frame {
                path: 0,
                frame: &old,
            },
        );
        s.run(Duration::from_millis(50));
    }
    assert_eq!(s.master, [false, true]);
}

#[test]
fn frames_failing_authentication_are_warned_about_once_per_gap() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    let now = s.now;
    let n = s.nodes[1].as_mut().unwrap();
    let mut r = n.message(now, MessageType::Hello, false);
    r.node_id = 1;
    let forged = frame_for(&r, 0, 0, b"another key 12345");
    assert_eq!(n.auth_reported, None);
    for i in 0..50u64 {
        let at = now + Duration::from_millis(20 * i);
        let _ = n.handle(
            at,
            Input::Frame {
                path: 0,
                frame: &forged,
            },
        );
    }
    // One warning at the first (count 1), none for the other 49 within 10 s.
    assert_eq!(n.auth_reported, Some((now, 1)));
    assert_eq!(n.counters().auth_failures, 50);
    let later = now + Duration::from_secs(11);
    let _ = n.handle(
        later,
        Input::Frame {
            path: 0,
            frame: &forged,
        },
    );
    assert_eq!(n.auth_reported, Some((later, 51)));
}

/// Frames of two incarnations of A left behind, neither the one B accepted before A's
/// current one (B drops that one's frames as stale): A restarts three times.
fn two_old_incarnations(s: &mut Sim) -> Vec<Vec<u8>> {
    let mut old = Vec::new();
    for _ in 0..3 {
        s.run(Duration::from_millis(400));
        old.push(s.captured.last().unwrap().clone());
        s.kill(0);
        s.start(0, None);
    }
    old.truncate(2);
    old
}

/// Replays `old` in turn to B, two every 5 ms (within B's HMAC budget) for `steps` steps,
/// the sim running between; returns how many HELLOs B sent in answer to them and how many
/// times it acknowledged another incarnation than `heard` (when given) after one.
fn replay_in_turn(
    s: &mut Sim,
    old: &[Vec<u8>],
    steps: usize,
    heard: Option<u32>,
) -> (usize, usize) {
    let (mut sent, mut displaced) = (0, 0);
    for _ in 0..steps {
        s.run(STEP);
        for f in old {
            let now = s.now;
            let n = s.nodes[1].as_mut().unwrap();
            let acts = n.handle(
                now,
                Input::Frame {
                    path: LAN,
                    frame: f,
                },
            );
            sent += acts.iter().filter(|a| matches!(a, Action::Send(_))).count();
            if heard.is_some_and(|live| n.heard.map(|h| h.0) != Some(live)) {
                displaced += 1;
            }
        }
    }
    (sent, displaced)
}

/// A host on the LAN that recorded A's frames over two of its restarts replayed them in
/// turn, an old incarnation after the other. Each was "heard for the first time": B made it
/// what its frames acknowledge and answered it at once, one HELLO (on every path) per replay,
/// as many as the attacker sent and B's HMAC budget let through.
#[test]
fn replays_of_two_old_incarnations_in_turn_drew_a_hello_each() {
    let mut s = Sim::new(false);
    let old = two_old_incarnations(&mut s);
    s.run(Duration::from_millis(400));
    let live = s.node(0).incarnation();
    assert_eq!(s.node(1).peer().unwrap().incarnation, live);
    // 80 replays in 200 ms: B answers none, and acknowledges A's live incarnation.
    let (sent, displaced) = replay_in_turn(&mut s, &old, 40, Some(live));
    assert!(sent <= 2, "{sent} HELLOs for 80 replays");
    assert_eq!(displaced, 0);
    // The pair still works: A stays Master, B hears it.
    s.run(Duration::from_millis(400));
    assert_eq!(s.master, [true, false]);
    assert_eq!(s.node(1).peer().unwrap().incarnation, live);
    assert_eq!(
        s.node(0).peer().unwrap().incarnation,
        s.node(1).incarnation()
    );
}

/// The same replays while B has no live peer (A is down): B acknowledges what it hears,
/// but answers at once at most once a hello, not once per replay.
#[test]
fn replays_of_old_incarnations_to_a_node_alone_draw_at_most_one_answer_a_hello() {
    let mut s = Sim::new(false);
    let old = two_old_incarnations(&mut s);
    s.run(Duration::from_millis(400));
    s.kill(0);
    s.run(Duration::from_secs(1));
    assert!(!s.node(1).peer_alive(s.now, None));
    // 80 replays in 200 ms: an answer each hello at most (B's own HELLOs aside).
    let (sent, _) = replay_in_turn(&mut s, &old, 40, None);
    assert!(sent <= 2, "{sent} HELLOs for 80 replays");
    // A restarts: both believe each other as before, with no dead-interval of silence.
    s.start(0, None);
    let mine = s.node(0).incarnation();
    let took = s.until(HELLO * 3, |s| {
        s.node(1).peer().is_some_and(|p| p.incarnation == mine)
            && s.node(0)
                .peer()
                .is_some_and(|p| p.incarnation == s.node(1).incarnation())
    });
    assert!(took < DEAD, "{took:?}");
}
