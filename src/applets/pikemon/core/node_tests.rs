//! The election core driven with a fake clock (the harness is node_sim.rs), one rule per
//! test.

use super::super::role::Refusal;
use super::*;
use crate::wire::pike::{self, Role};

#[path = "node_sim.rs"]
mod sim;
use sim::*;

#[test]
fn both_start_together_primary_becomes_master_without_probing() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(100));
    assert_eq!(s.master, [true, false]);
    assert_eq!(s.takeovers, [1, 0]);
    assert!(matches!(
        s.node(1).vc(0).unwrap().role,
        VcRole::Backup { .. }
    ));
    assert_eq!(s.node(0).vc(0).unwrap().reason.to_string(), "primary");
    s.run(Duration::from_secs(2));
    assert_eq!(s.takeovers, [1, 0], "no flapping");
}

#[test]
fn peer_dies_backup_takes_over_after_dead_interval_without_skew() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(500));
    let last_hello = s.node(1).peer().unwrap().confirmed_at.unwrap();
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.master[1]);
    let took = s.now - last_hello;
    // The dead peer was Master: nobody else can claim, so no skew; within one tick.
    assert!(took >= DEAD, "{took:?}");
    assert!(took <= DEAD + STEP, "{took:?}");
    assert_eq!(
        s.node(1).vc(0).unwrap().reason.to_string(),
        "peer silent, probe unanswered"
    );
}

#[test]
fn peer_daemon_exit_backup_probes_at_once_and_takes_over() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(500));
    s.kill(0);
    let t = s.now;
    s.input(1, Input::PeerExited);
    s.until(Duration::from_secs(2), |s| s.master[1]);
    // No dead-interval wait: the probe runs on the hint (the sim answers probes at once).
    assert!(s.now - t <= STEP, "{:?}", s.now - t);
    assert_eq!(
        s.node(1).vc(0).unwrap().reason.to_string(),
        "peer's daemon exited, probe unanswered"
    );
}

#[test]
fn peer_daemon_exit_hint_with_a_live_master_changes_nothing() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(500));
    assert_eq!(s.master, [true, false]);
    // A forged or broken death-watch connection while node 1 lives: its probe is answered.
    s.input(1, Input::PeerExited);
    s.run(Duration::from_secs(1));
    assert_eq!(s.master, [true, false]);
    assert_eq!(s.takeovers, [1, 0]);
    assert!(matches!(
        s.node(1).vc(0).unwrap().role,
        VcRole::Backup { .. }
    ));
    // Two newer frames clear the hint: the peer is alive again for the election.
    assert!(s.node(1).peer_alive(s.now, Some(0)));
}

#[test]
fn peer_daemon_exit_hint_survives_one_frame_in_flight() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(500));
    // The hint arrives, then one last frame the dead daemon had sent (seq + 1).
    s.input(1, Input::PeerExited);
    let frame = s.undelivered_hello(0);
    s.kill(0);
    s.input(
        1,
        Input::Frame {
            path: 0,
            frame: &frame,
        },
    );
    assert!(
        !s.node(1).peer_alive(s.now, Some(0)),
        "one frame in flight keeps the hint"
    );
    s.until(Duration::from_secs(2), |s| s.master[1]);
}

#[test]
fn preferred_side_takes_over_without_skew() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.input(
        0,
        Input::Admin {
            vc: None,
            order: Admin::Drop,
        },
    );
    s.run(Duration::from_millis(50));
    assert_eq!(s.master, [false, true]);
    let last = s.node(0).peer().unwrap().confirmed_at.unwrap();
    s.kill(1);
    s.until(Duration::from_secs(2), |s| s.master[0]);
    assert!(s.now - last <= DEAD + STEP, "{:?}", s.now - last);
}

#[test]
fn peer_returns_preemptive_primary_takes_back_after_delay() {
    let mut s = Sim::new(true);
    s.run(Duration::from_millis(300));
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.master[1]);
    s.run(Duration::from_millis(200));
    s.start(0, None);
    // Preempt-delay is 500 ms; the hand-over waits for it and never overlaps.
    let took = s.until(Duration::from_secs(3), |s| s.master[0]);
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(!s.master[1]);
    assert_eq!(
        s.node(1).vc(0).unwrap().reason.to_string(),
        "preemptive primary"
    );
}

#[test]
fn peer_returns_not_preemptive_master_keeps() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.master[1]);
    s.start(0, None);
    s.run(Duration::from_secs(3));
    assert_eq!(s.master, [false, true]);
    assert_eq!(s.node(0).vc(0).unwrap().reason.to_string(), "master keeps");
}

#[test]
fn health_lost_on_master_hands_over_within_one_frame() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    let before = s.node(1).counters().received;
    s.input(0, Input::Health { vc: 0, up: false });
    // No clock advance: the frames sent at once carry the hand-over.
    assert_eq!(s.master, [false, true]);
    assert!(s.node(1).counters().received - before <= 2 * PATHS as u64);
    assert_eq!(s.node(1).vc(0).unwrap().reason.to_string(), "health");
    assert_eq!(s.node(0).vc(0).unwrap().fail_count, 1);
    // Health back: not preemptive, so B keeps it.
    s.input(0, Input::Health { vc: 0, up: true });
    s.run(Duration::from_secs(1));
    assert_eq!(s.master, [false, true]);
}

#[test]
fn both_unhealthy_master_keeps() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.input(1, Input::Health { vc: 0, up: false });
    s.input(0, Input::Health { vc: 0, up: false });
    s.run(Duration::from_secs(1));
    assert_eq!(s.master, [true, false]);
    assert_eq!(s.node(0).vc(0).unwrap().reason.to_string(), "primary");
    assert_eq!(s.takeovers, [1, 0]);
}

#[test]
fn partition_heals_with_two_masters_tie_rule_keeps_one() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.links = [false; PATHS];
    s.run(Duration::from_secs(1));
    assert_eq!(s.master, [true, true], "split brain while fully cut");
    let garps = s.garps;
    s.links = [true; PATHS];
    s.run(Duration::from_millis(200));
    assert_eq!(s.master, [true, false]);
    assert_eq!(s.node(1).vc(0).unwrap().reason.to_string(), "primary");
    // The winner re-announces itself (one GARP schedule: garp-repeat bursts), the loser not
    // at all.
    assert_eq!(s.garps, [garps[0] + 3, garps[1]]);
}

#[test]
fn all_paths_silent_but_vip_answered_no_second_master() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    // Every frame lost, but ARP on the LAN still works: B's probe finds A's virtual MAC.
    s.links = [false; PATHS];
    let now = s.now + DEAD + HELLO;
    let n = s.nodes[1].as_mut().unwrap();
    let acts = n.handle(now, Input::Tick);
    assert!(acts.contains(&Action::Probe { vc: 0 }), "{acts:?}");
    let acts = n.handle(
        now,
        Input::ProbeDone {
            vc: 0,
            answered: true,
        },
    );
    assert!(
        !acts.iter().any(|a| matches!(a, Action::TakeOver { .. })),
        "{acts:?}"
    );
    assert!(matches!(n.vc(0).unwrap().role, VcRole::Backup { .. }));
    // It probes again one dead-interval later, not before.
    assert!(!n
        .handle(now + DEAD / 2, Input::Tick)
        .contains(&Action::Probe { vc: 0 }));
    assert!(n
        .handle(now + DEAD, Input::Tick)
        .contains(&Action::Probe { vc: 0 }));
}

#[test]
fn master_seeing_its_mac_elsewhere_resends_garps() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    let now = s.now;
    let n = s.nodes[0].as_mut().unwrap();
    let acts = n.handle(now, Input::Conflict { vc: 0 });
    assert!(acts.contains(&Action::Garp { vc: 0 }), "{acts:?}");
    assert!(
        acts.iter().any(|a| matches!(a, Action::Send(_))),
        "{acts:?}"
    );
    let n = s.nodes[1].as_mut().unwrap();
    assert!(n
        .handle(now, Input::Conflict { vc: 0 })
        .iter()
        .all(|a| !matches!(a, Action::Garp { .. })));
}

#[test]
fn one_heart_beat_path_cut_is_an_alarm_not_a_failover() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.links[0] = false;
    s.run(Duration::from_secs(2));
    assert_eq!(s.master, [true, false]);
    assert_eq!(s.takeovers, [1, 0]);
    assert!(
        s.path_events.contains(&(1, 0, false)),
        "{:?}",
        s.path_events
    );
    assert!(!s.path_events.contains(&(1, 1, false)));
    let p = s.node(1).peer().unwrap();
    assert!(!p.paths[0].up && p.paths[1].up && p.paths[2].up);
    s.links[0] = true;
    s.run(Duration::from_millis(200));
    assert!(s.node(1).peer().unwrap().paths[0].up);
    let down = s
        .path_events
        .iter()
        .position(|e| *e == (1, 0, false))
        .unwrap();
    assert!(
        s.path_events[down..].contains(&(1, 0, true)),
        "{:?}",
        s.path_events
    );
}

#[test]
fn goodbye_hands_over_within_one_frame() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.input(0, Input::Shutdown);
    assert_eq!(s.master, [false, true]);
    assert_eq!(
        s.node(1).vc(0).unwrap().reason.to_string(),
        "peer said GOODBYE"
    );
    assert_eq!(s.node(0).next_deadline(), None);
}

#[test]
fn worker_restart_resumes_master_without_a_transition() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.kill(0);
    s.master[0] = true; // the addresses stay while the worker restarts
    s.run(Duration::from_millis(100));
    s.start(0, Some(true));
    s.run(Duration::from_secs(2));
    assert_eq!(s.master, [true, false]);
    assert_eq!(s.takeovers, [1, 0]);
    assert_eq!(
        s.node(0).vc(0).unwrap().reason.to_string(),
        "resumed from status file"
    );
}

#[test]
fn alone_at_start_probes_then_takes_over_after_dead_interval() {
    let t0 = Instant::now();
    let mut n = Node::new(t0, settings(2, false), 1, 0xb1, &[None]);
    let acts = n.handle(t0, Input::Tick);
    assert!(matches!(acts.as_slice(), [Action::Send(r)] if r.vcs[0].role == Role::Init));
    assert_eq!(n.next_deadline(), Some(t0 + HELLO));
    let acts = n.handle(t0 + DEAD, Input::Tick);
    assert!(!acts.contains(&Action::Probe { vc: 0 }));
    let acts = n.handle(t0 + DEAD + HELLO, Input::Tick);
    assert!(acts.contains(&Action::Probe { vc: 0 }), "{acts:?}");
    let acts = n.handle(
        t0 + DEAD + HELLO,
        Input::ProbeDone {
            vc: 0,
            answered: false,
        },
    );
    assert!(acts.contains(&Action::TakeOver {
        vc: 0,
        reason: Reason::PeerSilent,
        hook: true,
    }));
}

#[test]
fn restarted_daemon_resuming_master_yields_to_a_peer_that_took_over() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.master[1]);
    // A comes back with "Master" in its status file (its addresses were never removed):
    // two masters until the first exchange, then A yields although it is the primary.
    s.allow_two_masters = true;
    s.start(0, Some(true));
    s.run(Duration::from_millis(300));
    assert_eq!(s.master, [false, true]);
    assert_eq!(
        s.node(0).vc(0).unwrap().reason.to_string(),
        "the peer took over while we were away"
    );
    assert_eq!(s.takeovers, [1, 1]);
}

#[test]
fn active_flag_follows_the_worker_and_is_cleared_by_a_role_change() {
    let t0 = Instant::now();
    let mut n = Node::new(t0, settings(1, false), 1, 0xb4, &[None]);
    let active = |acts: &[Action]| {
        acts.iter().find_map(|a| match a {
            Action::Send(r) => Some(r.vcs[0].has(pike::vc_flags::ACTIVE)),
            _ => None,
        })
    };
    n.handle(t0 + DEAD, Input::Tick);
    let acts = n.handle(
        t0 + DEAD,
        Input::ProbeDone {
            vc: 0,
            answered: false,
        },
    );
    assert_eq!(active(&acts), Some(false), "not before the worker says so");
    // The HELLO with ACTIVE goes out at once.
    let acts = n.handle(t0 + DEAD, Input::TookOver { vc: 0, ok: true });
    assert_eq!(active(&acts), Some(true));
    // A failed takeover is not active, and not healthy: the peer may take over.
    let acts = n.handle(t0 + DEAD + STEP, Input::TookOver { vc: 0, ok: false });
    let hello = acts.iter().find_map(|a| match a {
        Action::Send(r) => Some(r.vcs[0]),
        _ => None,
    });
    let hello = hello.expect("a HELLO at once");
    assert!(!hello.has(pike::vc_flags::ACTIVE));
    assert!(!hello.has(pike::vc_flags::HEALTH_UP));
    assert_eq!(n.vc(0).unwrap().role.name(), "Failed");
    // Retried a second later; success makes it Master and active again.
    let acts = n.handle(t0 + DEAD + STEP + Duration::from_secs(1), Input::Tick);
    assert!(acts.contains(&Action::TakeOver {
        vc: 0,
        reason: Reason::Retry,
        hook: false
    }));
    let acts = n.handle(
        t0 + DEAD + STEP + Duration::from_secs(1),
        Input::TookOver { vc: 0, ok: true },
    );
    assert_eq!(active(&acts), Some(true));
    assert_eq!(n.vc(0).unwrap().role.name(), "Master");
    // A role change clears it.
    let acts = n.handle(t0 + DEAD + Duration::from_secs(2), Input::Shutdown);
    assert_eq!(active(&acts), Some(false));
}

#[test]
fn a_yielding_master_keeps_its_addresses_until_the_peer_reports_its_own_up() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.auto_active = false;
    s.input(
        0,
        Input::Admin {
            vc: None,
            order: Admin::Drop,
        },
    );
    // B is Master in the core, A announces Backup but keeps serving (make-before-break).
    assert!(s.node(1).claims(0));
    assert!(matches!(
        s.node(0).vc(0).unwrap().role,
        VcRole::Releasing { .. }
    ));
    assert_eq!(
        s.master,
        [true, true],
        "both have the addresses for a moment"
    );
    s.run(Duration::from_millis(50));
    assert!(s.master[0], "still waiting for B's addresses");
    // B's worker has its addresses up: its next HELLO says ACTIVE, A lets go on it.
    s.input(1, Input::TookOver { vc: 0, ok: true });
    assert_eq!(s.master, [false, true]);
    assert!(matches!(
        s.node(0).vc(0).unwrap().role,
        VcRole::Backup { .. }
    ));
    // Without the ACTIVE, A lets go after min(dead-interval, 1 s).
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.auto_active = false;
    s.input(
        0,
        Input::Admin {
            vc: None,
            order: Admin::Drop,
        },
    );
    let t = s.now;
    s.until(Duration::from_secs(2), |s| !s.master[0]);
    assert!(
        s.now - t >= DEAD && s.now - t <= DEAD + STEP,
        "{:?}",
        s.now - t
    );
}

#[test]
fn after_shutdown_frames_are_still_heard_but_nothing_is_sent() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.input(0, Input::Shutdown);
    assert_eq!(
        s.master,
        [false, true],
        "GOODBYE: the peer takes over at once"
    );
    assert_eq!(
        s.node(1).vc(0).unwrap().reason.to_string(),
        "peer said GOODBYE"
    );
    let sent = s.node(0).counters().sent;
    s.input(1, Input::TookOver { vc: 0, ok: true });
    // The stopping node learns that the peer's addresses are up...
    assert!(s.node(0).peer_active(0));
    s.run(Duration::from_millis(500));
    // ...and never sends again nor claims anything.
    assert_eq!(s.node(0).counters().sent, sent);
    assert_eq!(s.node(0).next_deadline(), None);
    assert_eq!(s.master, [false, true]);
}

#[test]
fn peer_that_took_over_keeps_the_role_when_the_resumed_side_is_compared_first() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.master[1]);
    // A HELLO of B's from while A was away: it acknowledges A's old boot.
    let old = s.undelivered_hello(1);
    s.allow_two_masters = true;
    s.start(0, Some(true));
    // A hears that frame first (not a confirmation), so A's next HELLO — Master, resumed,
    // acknowledging B — reaches B before A has compared anything: B must keep the role.
    s.input(
        0,
        Input::Frame {
            path: 0,
            frame: &old,
        },
    );
    s.run(Duration::from_millis(300));
    assert_eq!(s.master, [false, true]);
    assert_eq!(s.takeovers, [1, 1], "B never yielded");
    assert_eq!(
        s.node(0).vc(0).unwrap().reason.to_string(),
        "the peer took over while we were away"
    );
}

#[test]
fn a_resumed_master_seeing_its_mac_elsewhere_sends_no_garps_before_the_election() {
    let t0 = Instant::now();
    let mut n = Node::new(t0, settings(1, false), 2, 0xb2, &[Some(true)]);
    let acts = n.handle(t0, Input::Conflict { vc: 0 });
    assert!(!acts.contains(&Action::Garp { vc: 0 }), "{acts:?}");
    assert!(
        acts.iter().any(|a| matches!(a, Action::Send(_))),
        "a HELLO at once"
    );
    // Once it is master for real, a conflict re-sends GARPs.
    let mut n = Node::new(t0, settings(1, false), 2, 0xb3, &[None]);
    n.handle(t0 + DEAD, Input::Tick);
    n.handle(
        t0 + DEAD,
        Input::ProbeDone {
            vc: 0,
            answered: false,
        },
    );
    assert!(matches!(n.vc(0).unwrap().role, VcRole::Master(_)));
    n.handle(t0 + DEAD, Input::TookOver { vc: 0, ok: true });
    let acts = n.handle(t0 + DEAD, Input::Conflict { vc: 0 });
    assert!(acts.contains(&Action::Garp { vc: 0 }), "{acts:?}");
}

/// The new Master's HELLO at the decision went out from the virtual MAC before its worker had
/// the addresses up: the switch moved to it while the yielding peer still served, and the
/// ~10 ms an IPv6 link-up takes were lost (bench/failover, IPv6, TERM at 10 ms: 14 ms).
#[test]
fn new_master_pulled_the_switch_before_its_addresses_were_up() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.auto_active = false;
    s.input(0, Input::Shutdown);
    assert!(s.node(1).claims(0));
    assert!(
        !s.node(1).sends_from_vmac(0),
        "Master without its addresses: frames from its own MAC"
    );
    assert_eq!(s.master, [true, true], "the yielding side still serves");
    s.input(1, Input::TookOver { vc: 0, ok: true });
    assert!(s.node(1).sends_from_vmac(0));
    assert_eq!(s.master, [false, true]);
}

#[path = "admin_tests.rs"]
mod admin_tests;
#[path = "frames_tests.rs"]
mod frames_tests;
#[path = "probe_tests.rs"]
mod probe_tests;
#[path = "state_sync_tests.rs"]
mod state_sync_tests;

/// The rule that a frame of an unproven incarnation draws nothing while the accepted peer
/// lives must not slow down a genuine restart: the restarted peer proves itself with its
/// answer to our next HELLO, and each side believes the other within two hellos, well
/// before the old incarnation's dead-interval runs out.
#[test]
fn a_peer_restarted_within_the_dead_interval_is_believed_within_two_hellos() {
    for (who, resume) in [(1, Some(false)), (1, None), (0, Some(true))] {
        let mut s = Sim::new(false);
        s.run(Duration::from_millis(300));
        assert_eq!(s.master, [true, false]);
        s.kill(who);
        s.master[0] = true; // a restarted Master's addresses stay
        s.start(who, resume);
        let new = s.node(who).incarnation();
        let other = 1 - who;
        let took = s.until(Duration::from_secs(1), |s| {
            let believed = |i: usize, inc: u32| {
                s.node(i)
                    .peer()
                    .is_some_and(|p| p.incarnation == inc && s.node(i).peer_alive(s.now, None))
            };
            believed(other, new) && believed(who, s.node(other).incarnation())
        });
        assert!(took <= 2 * HELLO, "node {who}: believed after {took:?}");
        // Nor does a restarted Backup, even one without a saved role, wait a dead-interval
        // to settle as Backup.
        let settled = s.until(Duration::from_secs(1), |s| {
            matches!(s.node(1).vc(0).map(|v| v.role), Some(VcRole::Backup { .. }))
        });
        assert!(
            settled < DEAD,
            "node {who}: Backup after {:?}",
            took + settled
        );
        s.run(Duration::from_secs(1));
        assert_eq!(s.master, [true, false], "node {who}");
        assert_eq!(s.takeovers[1], 0, "node {who}");
    }
}
#[path = "soak_invariants.rs"]
mod soak_invariants;
#[path = "soak_sim.rs"]
mod soak_sim;
#[path = "soak_tests.rs"]
mod soak_tests;
