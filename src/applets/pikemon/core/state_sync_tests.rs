//! State sync in the core: the order of conntrackd steps around a takeover and a release,
//! the commit-timeout path, and the failback gated on the peer's bulk update.

use super::*;
use crate::applets::pikemon::core::election::Admin;
use crate::applets::pikemon::core::state_wait;

const COMMIT: Duration = Duration::from_millis(200);

fn pos(log: &[&str], what: &str) -> usize {
    log.iter()
        .position(|x| *x == what)
        .unwrap_or_else(|| panic!("no {what} in {log:?}"))
}

#[test]
fn takeover_commits_before_the_addresses_then_flushes_resyncs_and_sends_bulk() {
    let mut s = Sim::build(false, Some(COMMIT));
    s.run(Duration::from_millis(300));
    assert_eq!(s.master, [true, false]);
    let log = s.log[0].clone();
    assert!(pos(&log, "commit") < pos(&log, "takeover"), "{log:?}");
    assert!(
        pos(&log, "takeover") < pos(&log, "after-takeover"),
        "{log:?}"
    );
    // The -B of after-takeover was the peer's bulk update: no second one.
    assert!(!log.contains(&"bulk"), "{log:?}");
    // The master dies: the backup committed while it probed, so its addresses come up
    // at once and a second commit follows a hello later; the flush waits for that one.
    s.log[1].clear();
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.master[1]);
    assert_eq!(s.log[1], ["pre-commit", "takeover"]);
    let waited = s.until(Duration::from_secs(1), |s| s.log[1].contains(&"commit"));
    assert!(
        waited >= HELLO - STEP && waited <= HELLO + STEP,
        "{waited:?}"
    );
    assert_eq!(
        s.log[1],
        ["pre-commit", "takeover", "commit", "after-takeover"]
    );
}

#[test]
fn parallel_takeover_brings_the_addresses_up_with_the_commit_and_flushes_after_it() {
    let mut s = Sim::build_ordered(false, Some(COMMIT), TakeoverOrder::Parallel);
    s.run(Duration::from_millis(300));
    assert_eq!(s.master, [true, false]);
    let log = s.log[0].clone();
    let c = pos(&log, "commit");
    assert_eq!(
        log.get(c..c + 3),
        Some(&["commit", "takeover", "after-takeover"][..]),
        "{log:?}"
    );
    assert!(!log.contains(&"bulk"), "{log:?}");
    // The master dies: the backup asks for the commit and brings its addresses up at once
    // (after a pre-commit during its probe).
    s.log[1].clear();
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.master[1]);
    assert_eq!(
        s.log[1],
        ["pre-commit", "commit", "takeover", "after-takeover"]
    );
}

#[test]
fn parallel_takeover_with_a_hung_conntrackd_does_not_wait_for_the_commit() {
    let mut s = Sim::build_ordered(false, Some(COMMIT), TakeoverOrder::Parallel);
    s.run(Duration::from_millis(300));
    s.conntrackd_answers = false;
    s.log[1].clear();
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.log[1].contains(&"commit"));
    // Addresses in the same breath as the request, before any answer.
    assert!(s.master[1], "{:?}", s.log[1]);
    assert_eq!(s.log[1], ["pre-commit", "commit", "takeover"]);
    // -f -R -B waits for the end of the commit: here its timeout.
    let waited = s.until(Duration::from_secs(2), |s| {
        s.log[1].contains(&"after-takeover")
    });
    assert!(waited >= COMMIT - STEP, "{waited:?}");
    assert!(waited <= COMMIT + STEP, "{waited:?}");
    assert_eq!(
        s.log[1],
        ["pre-commit", "commit", "takeover", "after-takeover"]
    );
    // A late answer to the abandoned commit brings nothing up twice.
    s.input(
        1,
        Input::ConntrackDone {
            vc: 0,
            step: SyncStep::Commit,
            ok: true,
        },
    );
    s.run(Duration::from_millis(100));
    assert_eq!(s.log[1].iter().filter(|x| **x == "takeover").count(), 1);
    assert_eq!(
        s.log[1].iter().filter(|x| **x == "after-takeover").count(),
        1
    );
}

#[test]
fn parallel_failback_still_waits_for_the_settled_bulk_update() {
    let mut s = Sim::build_ordered(true, Some(COMMIT), TakeoverOrder::Parallel);
    s.run(Duration::from_millis(300));
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.master[1]);
    s.run(Duration::from_millis(200));
    s.start(0, None);
    s.run(Duration::from_millis(700));
    assert_eq!(s.master, [false, true], "failback before the state arrived");
    for _ in 0..2 {
        s.input(
            0,
            Input::ConntrackStats {
                vc: 0,
                external: Some(42),
            },
        );
    }
    s.until(Duration::from_secs(1), |s| s.master[0]);
    let log = &s.log[0];
    let commit = log.iter().rposition(|x| *x == "commit").unwrap();
    assert_eq!(
        &log[commit..commit + 3],
        ["commit", "takeover", "after-takeover"],
        "{log:?}"
    );
}

#[test]
fn without_state_sync_the_addresses_come_up_at_once() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    assert_eq!(s.master, [true, false]);
    assert!(!s.log[0]
        .iter()
        .any(|x| x.contains("commit") || x.contains("bulk")));
}

#[test]
fn hung_conntrackd_holds_the_takeover_for_commit_timeout_then_takes_over_anyway() {
    let mut s = Sim::build(false, Some(COMMIT));
    s.run(Duration::from_millis(300));
    s.conntrackd_answers = false;
    s.log[1].clear();
    s.kill(0);
    // The probe asks for the commit; it never comes.
    s.until(Duration::from_secs(2), |s| s.log[1].contains(&"pre-commit"));
    let asked = s.now;
    s.until(Duration::from_secs(2), |s| s.node(1).claims(0));
    assert!(!s.master[1], "addresses before the commit");
    // Commit-timeout counts from the pre-commit, not from the decision.
    let waited = s.until(Duration::from_secs(2), |s| s.master[1]);
    assert!(waited > STEP, "{waited:?}");
    let total = s.now - asked;
    assert!(total >= COMMIT - STEP, "{total:?}");
    assert!(total <= COMMIT + STEP, "{total:?}");
    assert_eq!(s.log[1], ["pre-commit", "takeover", "after-takeover"]);
    // A late answer to the abandoned commit changes nothing.
    let takeovers = s.takeovers[1];
    for step in [SyncStep::PreCommit, SyncStep::Commit] {
        s.input(
            1,
            Input::ConntrackDone {
                vc: 0,
                step,
                ok: true,
            },
        );
    }
    s.run(Duration::from_millis(100));
    assert_eq!(s.takeovers[1], takeovers);
    assert_eq!(s.log[1].iter().filter(|x| **x == "takeover").count(), 1);
}

/// The commit used to start only when the peer's dead-interval had run out, and the
/// addresses waited for it: every takeover of a machine death took the probe and then the
/// commit, one after the other (13-22 ms of a TCG guest's 44 from the decision to the first
/// GARP). The probe asks for it now, and a takeover finds it done.
#[test]
fn takeover_waited_for_a_commit_the_probe_could_have_done_already() {
    let mut s = Sim::build(false, Some(COMMIT));
    s.run(Duration::from_millis(300));
    s.conntrackd_answers = false;
    s.log[1].clear();
    let dead_at = s.now;
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.log[1].contains(&"pre-commit"));
    assert!(!s.node(1).claims(0));
    s.input(
        1,
        Input::ConntrackDone {
            vc: 0,
            step: SyncStep::PreCommit,
            ok: true,
        },
    );
    s.until(Duration::from_secs(2), |s| s.master[1]);
    // The addresses came up at the end of the dead-interval (its last HELLO came at most a
    // hello before the kill); a second commit, for what arrived meanwhile, a hello later.
    assert!(s.now - dead_at <= DEAD + STEP, "{:?}", s.now - dead_at);
    assert_eq!(s.log[1], ["pre-commit", "takeover"]);
    s.until(Duration::from_secs(1), |s| s.log[1].contains(&"commit"));
    assert_eq!(s.log[1], ["pre-commit", "takeover", "commit"]);
    // The flush, resync and bulk update wait for that commit.
    s.run(Duration::from_millis(50));
    assert_eq!(s.log[1], ["pre-commit", "takeover", "commit"]);
    s.input(
        1,
        Input::ConntrackDone {
            vc: 0,
            step: SyncStep::Commit,
            ok: true,
        },
    );
    assert_eq!(
        s.log[1],
        ["pre-commit", "takeover", "commit", "after-takeover"]
    );
}

/// After a pre-commit the second commit went out with the addresses: in a one-vCPU guest
/// conntrackd's 60-70 ms of it, beside the kernel's packet processing, held back the
/// client's first echo replies from the new master by 20-60 ms (bench/failover-qemu). It
/// waits a hello now (at most `RECOMMIT_AFTER`).
#[test]
fn second_commit_competed_with_the_new_masters_first_packets() {
    let mut s = Sim::build(false, Some(COMMIT));
    s.run(Duration::from_millis(300));
    s.log[1].clear();
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.master[1]);
    s.run(HELLO - STEP * 2);
    assert_eq!(s.log[1], ["pre-commit", "takeover"]);
    s.run(STEP * 3);
    assert!(s.log[1].contains(&"commit"), "{:?}", s.log[1]);
}

#[test]
fn takeover_during_the_precommit_waits_for_it_then_commits_again_after_the_addresses() {
    let mut s = Sim::build(false, Some(COMMIT));
    s.run(Duration::from_millis(300));
    s.conntrackd_answers = false;
    s.log[1].clear();
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.node(1).claims(0));
    s.run(Duration::from_millis(20));
    assert!(!s.master[1], "addresses before the commit");
    assert_eq!(s.log[1], ["pre-commit"], "no second commit while one runs");
    s.input(
        1,
        Input::ConntrackDone {
            vc: 0,
            step: SyncStep::PreCommit,
            ok: true,
        },
    );
    assert!(s.master[1]);
    assert_eq!(s.log[1], ["pre-commit", "takeover"]);
    s.until(Duration::from_secs(1), |s| s.log[1].contains(&"commit"));
    assert_eq!(s.log[1], ["pre-commit", "takeover", "commit"]);
}

/// A probe answered after its pre-commit left the master's flows in the backup's kernel
/// table, and a peer whose VIP keeps answering is probed every dead-interval: each probe
/// would commit the whole external cache again.
#[test]
fn probe_answered_after_a_precommit_left_the_masters_flows_in_the_backups_kernel() {
    let mut s = Sim::build(false, Some(COMMIT));
    s.run(Duration::from_millis(300));
    s.log[1].clear();
    // A dead daemon on a live kernel: its VIP still answers from the virtual MAC.
    s.kill(0);
    s.master[0] = true;
    s.until(Duration::from_secs(2), |s| {
        s.log[1].contains(&"after-release")
    });
    assert_eq!(s.log[1], ["pre-commit", "after-release"]);
    // Probed again every dead-interval for as long as it lasts: no commit again.
    s.run(Duration::from_secs(1));
    assert_eq!(s.log[1], ["pre-commit", "after-release"]);
    assert!(!s.master[1]);
    // Within PRECOMMIT_QUIET of that, a new silence is probed without one, and its
    // takeover commits first.
    s.start(0, Some(true));
    s.run(Duration::from_millis(300));
    s.log[1].clear();
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.master[1]);
    assert_eq!(s.log[1], ["commit", "takeover", "after-takeover"]);
}

#[test]
fn release_resets_timers_and_asks_for_a_resync_after_the_addresses_go() {
    let mut s = Sim::build(false, Some(COMMIT));
    s.run(Duration::from_millis(300));
    s.log[0].clear();
    s.input(0, Input::Health { vc: 0, up: false });
    s.until(Duration::from_secs(2), |s| !s.master[0] && s.master[1]);
    s.run(Duration::from_millis(50));
    let log = s.log[0].clone();
    assert!(pos(&log, "release") < pos(&log, "after-release"), "{log:?}");
    assert!(!log.contains(&"commit"), "{log:?}");
}

/// Node 0 (the preemptive primary) fails, node 1 takes over, node 0 comes back.
fn failback_rig() -> Sim {
    let mut s = Sim::build(true, Some(COMMIT));
    s.run(Duration::from_millis(300));
    s.kill(0);
    s.until(Duration::from_secs(2), |s| s.master[1]);
    s.run(Duration::from_millis(200));
    s.log[1].clear();
    s.start(0, None);
    s
}

#[test]
fn master_sends_a_bulk_update_to_a_peer_that_joins_once_per_incarnation() {
    let mut s = failback_rig();
    s.run(Duration::from_millis(300));
    assert_eq!(s.log[1], ["bulk"]);
    s.run(Duration::from_millis(300));
    assert_eq!(s.log[1], ["bulk"], "once per incarnation");
    assert_eq!(s.node(1).vc(0).unwrap().sync.bulk_sent, 2);
}

#[test]
fn failback_waits_until_the_joining_primary_has_the_bulk_update_settled() {
    let mut s = failback_rig();
    let back = s.now;
    // Preempt-delay (500 ms) passes, but node 0 has not reported its state settled.
    s.run(Duration::from_millis(700));
    assert_eq!(s.master, [false, true], "failback before the state arrived");
    // Its external cache settles: two equal counts in a row.
    s.input(
        0,
        Input::ConntrackStats {
            vc: 0,
            external: Some(40),
        },
    );
    s.input(
        0,
        Input::ConntrackStats {
            vc: 0,
            external: Some(42),
        },
    );
    assert_eq!(s.node(0).vc(0).unwrap().sync.bulk_received, 0);
    s.input(
        0,
        Input::ConntrackStats {
            vc: 0,
            external: Some(42),
        },
    );
    assert_eq!(s.node(0).vc(0).unwrap().sync.bulk_received, 1);
    s.until(Duration::from_secs(1), |s| s.master[0]);
    assert!(!s.master[1]);
    assert!(
        s.now - back < Duration::from_millis(1000),
        "{:?}",
        s.now - back
    );
    assert!(pos(&s.log[0], "commit") < pos(&s.log[0], "takeover"));
}

#[test]
fn failback_without_settled_state_happens_at_the_bound() {
    let mut s = failback_rig();
    let back = s.now;
    let took = s.until(Duration::from_secs(3), |s| s.master[0]);
    // preempt-delay + max(preempt-delay, commit-timeout) after the peer was seen back.
    let bound = state_wait(Duration::from_millis(500), COMMIT);
    assert!(took >= bound, "{took:?}");
    assert!(took <= bound + DEAD + COMMIT, "{took:?}");
    assert!(s.now - back >= bound);
}

#[test]
fn state_sync_flags_are_announced_only_with_conntrack_configured() {
    let mut s = Sim::build(false, Some(COMMIT));
    s.run(Duration::from_millis(300));
    let flags = s
        .node(1)
        .peer()
        .and_then(|p| p.vc(1))
        .map(|v| v.more)
        .unwrap();
    assert_ne!(flags & pike::vc_more_flags::STATE_SYNC, 0);
    assert_ne!(flags & pike::vc_more_flags::BULK_SENT, 0);
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    let flags = s
        .node(1)
        .peer()
        .and_then(|p| p.vc(1))
        .map(|v| v.more)
        .unwrap();
    assert_eq!(flags, 0);
}

/// Regression: a preempt-delay (or state wait) already run out stayed the core's next
/// deadline while the preferred peer was pinned by `drop` or after the hand-over, so the
/// worker's loop spun on a deadline in the past (HELLOs late under load, paths flapping).
#[test]
fn preempt_deadlines_already_handled_are_not_due_again() {
    for commit_timeout in [None, Some(COMMIT)] {
        let mut s = Sim::build(true, commit_timeout);
        s.run(Duration::from_millis(300));
        s.input(
            0,
            Input::Admin {
                vc: Some(0),
                order: Admin::Drop,
            },
        );
        s.until(Duration::from_secs(2), |s| s.master[1] && !s.master[0]);
        s.run(Duration::from_secs(2));
        for i in 0..2 {
            let d = s.node(i).next_deadline().unwrap();
            assert!(d > s.now, "node {i}: deadline {:?} in the past", s.now - d);
        }
        // The pin goes: the primary takes back over after preempt-delay, then nothing is due
        // in the past either.
        s.input(
            0,
            Input::Admin {
                vc: Some(0),
                order: Admin::None,
            },
        );
        if commit_timeout.is_some() {
            for _ in 0..2 {
                s.input(
                    0,
                    Input::ConntrackStats {
                        vc: 0,
                        external: Some(7),
                    },
                );
            }
        }
        s.until(Duration::from_secs(3), |s| s.master[0] && !s.master[1]);
        s.run(Duration::from_secs(2));
        for i in 0..2 {
            let d = s.node(i).next_deadline().unwrap();
            assert!(d > s.now, "node {i}: deadline {:?} in the past", s.now - d);
        }
    }
}

/// A node with two virtual clusters, LAN (state sync) and DMZ (state sync when
/// `dmz_syncs`: both through one conntrackd, the node's `conntrack { }`), resumed with the
/// roles `resume`.
fn two_vcs(dmz_syncs: bool, resume: [Option<bool>; 2]) -> (Node, Instant) {
    let mut settings = settings(1, false);
    settings.vcs[0].commit_timeout = Some(COMMIT);
    let mut dmz = settings.vcs[0].clone();
    dmz.vcid = 2;
    dmz.name = "DMZ".into();
    dmz.commit_timeout = dmz_syncs.then_some(COMMIT);
    settings.vcs.push(dmz);
    let t0 = Instant::now();
    (Node::new(t0, settings, 1, 0xc1, &resume), t0)
}

/// The conntrackd steps asked for `vc` in `acts`.
fn steps_of(acts: &[Action], vc: usize) -> Vec<SyncStep> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Conntrack { vc: v, step } if *v == vc => Some(*step),
            _ => None,
        })
        .collect()
}

/// One kernel table, two virtual clusters: this node is Master of DMZ, and LAN's probe ends
/// without a takeover after its pre-commit (the VIP answered). Its `-t` made conntrackd
/// 1.4.7 flush every forwarded flow a minute later: all of DMZ's, the cluster this node
/// serves, with no failover at all (whether DMZ syncs state or not). Only `-n` goes now.
#[test]
fn undone_precommit_of_one_vc_flushed_the_table_of_the_vc_master_here() {
    for dmz_syncs in [true, false] {
        let (mut n, t0) = two_vcs(dmz_syncs, [None, Some(true)]);
        let mut acts = n.start();
        let mut now = t0;
        while !acts.contains(&Action::Probe { vc: 0 }) {
            now += STEP;
            assert!(now < t0 + Duration::from_secs(2), "LAN never probed");
            acts = n.handle(now, Input::Tick);
        }
        assert_eq!(steps_of(&acts, 0), [SyncStep::PreCommit]);
        assert!(n.vc(1).unwrap().role.is_master());
        let acts = n.handle(
            now,
            Input::ProbeDone {
                vc: 0,
                answered: true,
            },
        );
        assert!(!n.vc(0).unwrap().role.is_master());
        assert_eq!(
            steps_of(&acts, 0),
            [SyncStep::RequestResync],
            "DMZ syncs {dmz_syncs}: {acts:?}"
        );
        assert!(steps_of(&acts, 1).is_empty(), "{acts:?}");
    }
}

/// The same for a release: at shutdown both virtual clusters let their addresses go, and
/// the first one's `-t` was asked for while the second still served. The last one to go
/// asks for it, once.
#[test]
fn release_of_one_vc_flushed_the_table_of_the_vc_still_master_here() {
    let (mut n, t0) = two_vcs(true, [Some(true), Some(true)]);
    n.start();
    let acts = n.handle(t0 + STEP, Input::Shutdown);
    assert_eq!(steps_of(&acts, 0), [SyncStep::RequestResync], "{acts:?}");
    assert_eq!(steps_of(&acts, 1), [SyncStep::AfterRelease], "{acts:?}");
}
