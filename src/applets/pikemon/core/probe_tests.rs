//! The split-brain probe: started by hints (carrier loss, the death-watch) or overlapping
//! the end of the dead-interval, cancelled by a late frame, and its spacing.

use super::*;

#[test]
fn heart_beat_carrier_loss_with_a_dead_master_is_taken_over_at_once() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(500));
    s.kill(0);
    let t = s.now;
    s.input(1, Input::CarrierLost { path: 0 });
    s.until(Duration::from_secs(2), |s| s.master[1]);
    assert!(s.now - t <= STEP, "{:?}", s.now - t);
    assert_eq!(
        s.node(1).vc(0).unwrap().reason.to_string(),
        "heart-beat carrier lost, probe unanswered"
    );
}

#[test]
fn heart_beat_carrier_loss_with_a_live_master_moves_nothing() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(500));
    // The cable is pulled: the hint makes B probe, A answers, and its next frames on the
    // other paths clear the hint.
    s.links[0] = false;
    s.input(1, Input::CarrierLost { path: 0 });
    s.run(Duration::from_secs(1));
    assert_eq!(s.master, [true, false]);
    assert_eq!(s.takeovers, [1, 0]);
    assert!(s.node(1).peer_alive(s.now, Some(0)));
    // A hint for a path that does not exist is ignored.
    let now = s.now;
    let n = s.nodes[1].as_mut().unwrap();
    let acts = n.handle(now, Input::CarrierLost { path: 99 });
    assert!(!acts.contains(&Action::Probe { vc: 0 }));
}

/// Node 1 (B, Backup) of a pair that ran for half a second, with A's last confirmed frame.
fn backup_after_a_while() -> (Sim, Instant) {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(500));
    let last = s.node(1).peer().unwrap().confirmed_at.unwrap();
    (s, last)
}

#[test]
fn the_probe_overlaps_the_end_of_the_dead_interval_and_the_takeover_comes_when_it_ends() {
    let (mut s, last) = backup_after_a_while();
    let span = settings(2, false).probe_lead();
    s.kill(0);
    let n = s.nodes[1].as_mut().unwrap();
    let probes = |acts: &[Action]| acts.contains(&Action::Probe { vc: 0 });
    assert!(!probes(&n.handle(last + DEAD - span - STEP, Input::Tick)));
    assert_eq!(n.next_deadline(), Some(last + DEAD - span));
    assert!(probes(&n.handle(last + DEAD - span, Input::Tick)));
    // Unanswered just before the interval ends: nothing yet, the peer still counts as alive.
    let acts = n.handle(
        last + DEAD - STEP,
        Input::ProbeDone {
            vc: 0,
            answered: false,
        },
    );
    assert!(!acts.iter().any(|a| matches!(a, Action::TakeOver { .. })));
    // The moment it ends: Master, no second probe.
    let acts = n.handle(last + DEAD, Input::Tick);
    assert!(acts.contains(&Action::TakeOver {
        vc: 0,
        reason: Reason::PeerSilent,
        hook: true,
    }));
    assert!(!probes(&acts));
}

/// The early probe started one probe-span before the dead-interval ended, so any delay of
/// the worker's timer or sends made "unanswered" come after the end, and the takeover
/// waited for it (8 ms at 100 ms hellos in the QEMU pair). It starts half a spacing sooner.
#[test]
fn early_probe_ended_a_few_ms_late_and_held_the_takeover_past_the_dead_interval() {
    let (mut s, last) = backup_after_a_while();
    let st = settings(2, false);
    s.kill(0);
    let n = s.nodes[1].as_mut().unwrap();
    let start = last + DEAD - st.probe_lead();
    assert!(!n
        .handle(start - STEP, Input::Tick)
        .contains(&Action::Probe { vc: 0 }));
    assert!(n
        .handle(start, Input::Tick)
        .contains(&Action::Probe { vc: 0 }));
    // "Unanswered" 5 ms later than the span: the worker's timer and sends under load.
    let done = start + st.probe_span() + STEP;
    assert!(done < last + DEAD);
    let acts = n.handle(
        done,
        Input::ProbeDone {
            vc: 0,
            answered: false,
        },
    );
    assert!(!acts.iter().any(|a| matches!(a, Action::TakeOver { .. })));
    assert!(n
        .handle(last + DEAD, Input::Tick)
        .contains(&Action::TakeOver {
            vc: 0,
            reason: Reason::PeerSilent,
            hook: true,
        }));
}

#[test]
fn an_early_probe_is_cancelled_by_a_late_frame_and_an_answered_one_holds_nothing_back() {
    let (mut s, last) = backup_after_a_while();
    let span = settings(2, false).probe_lead();
    // A's next HELLO is late (kept back), then arrives while B probes early.
    let late = s.undelivered_hello(0);
    let n = s.nodes[1].as_mut().unwrap();
    assert!(n
        .handle(last + DEAD - span, Input::Tick)
        .contains(&Action::Probe { vc: 0 }));
    let t = last + DEAD - span + STEP;
    n.handle(
        t,
        Input::Frame {
            path: 0,
            frame: &late,
        },
    );
    assert!(matches!(n.vc(0).unwrap().role, VcRole::Backup { .. }));
    // The probe's late result changes nothing.
    let acts = n.handle(
        t + STEP,
        Input::ProbeDone {
            vc: 0,
            answered: false,
        },
    );
    assert!(!acts.iter().any(|a| matches!(a, Action::TakeOver { .. })));
    // An early probe answered by the live master: Backup again, and it probes again when
    // the dead-interval ends (no further dead-interval of hold-off).
    let last = n.peer().unwrap().confirmed_at.unwrap();
    assert!(n
        .handle(last + DEAD - span, Input::Tick)
        .contains(&Action::Probe { vc: 0 }));
    let acts = n.handle(
        last + DEAD - span + STEP,
        Input::ProbeDone {
            vc: 0,
            answered: true,
        },
    );
    assert!(!acts.contains(&Action::Probe { vc: 0 }), "no probe loop");
    assert_eq!(
        n.vc(0).unwrap().role,
        VcRole::Backup {
            probe_after: Some(last + DEAD)
        }
    );
    assert!(!n
        .handle(last + DEAD - STEP, Input::Tick)
        .contains(&Action::Probe { vc: 0 }));
    assert!(n
        .handle(last + DEAD, Input::Tick)
        .contains(&Action::Probe { vc: 0 }));
}

/// Machine death on a direct heart-beat cable drops its carrier at once; the probe that
/// followed the hint used to space its requests a quarter hello apart (600 ms to
/// "unanswered" at 1 s hellos). After a hint it is at most 10 ms whatever the hello.
#[test]
fn a_hint_probed_a_quarter_hello_apart_and_now_probes_at_most_10ms_apart() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(500));
    let normal = s.node(1).settings().probe_interval();
    assert_eq!(s.node(1).probe_interval(), normal);
    assert!(
        normal > crate::applets::pikemon::core::probe::HINT_PROBE_INTERVAL,
        "{normal:?}"
    );
    s.input(1, Input::CarrierLost { path: 0 });
    assert_eq!(s.node(1).probe_interval(), Duration::from_millis(10));
    // A frame from the live peer clears the hint: back to the hello's spacing.
    s.run(Duration::from_secs(1));
    assert_eq!(s.node(1).probe_interval(), normal);
}
