//! Operator orders in the core: take, drop and maintenance against health and a live or
//! dead peer, and the config drift alarm (which moves no role).

use super::*;

#[test]
fn admin_take_and_drop_with_a_healthy_peer() {
    let mut s = Sim::new(true);
    s.run(Duration::from_millis(300));
    s.input(
        1,
        Input::Admin {
            vc: Some(0),
            order: Admin::Take,
        },
    );
    assert_eq!(
        s.master,
        [false, true],
        "take pins even over a preemptive primary"
    );
    s.run(Duration::from_secs(2));
    assert_eq!(s.master, [false, true]);
    s.input(
        1,
        Input::Admin {
            vc: Some(0),
            order: Admin::Drop,
        },
    );
    assert_eq!(s.master, [true, false]);
    assert_eq!(s.node(0).vc(0).unwrap().reason.to_string(), "admin drop");
}

#[test]
fn admin_never_overrides_health() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.input(1, Input::Health { vc: 0, up: false });
    s.input(
        1,
        Input::Admin {
            vc: None,
            order: Admin::Take,
        },
    );
    s.run(Duration::from_millis(500));
    assert_eq!(s.master, [true, false], "an unhealthy node cannot take");
    s.input(
        0,
        Input::Admin {
            vc: None,
            order: Admin::Drop,
        },
    );
    s.run(Duration::from_millis(500));
    assert_eq!(
        s.master,
        [true, false],
        "drop does not hand over to an unhealthy peer"
    );
    // The peer down too: then the admin order applies.
    s.input(0, Input::Health { vc: 0, up: false });
    assert_eq!(s.master, [false, true]);
}

#[test]
fn admin_drop_without_a_live_peer_keeps_the_role() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.kill(1);
    s.run(Duration::from_millis(600));
    s.input(
        0,
        Input::Admin {
            vc: None,
            order: Admin::Drop,
        },
    );
    s.run(Duration::from_millis(600));
    assert!(s.master[0], "nobody to hand over to");
    // The peer returns: the standing drop hands over.
    s.start(1, None);
    s.until(Duration::from_secs(1), |s| s.master[1]);
    assert!(!s.master[0]);
}

#[test]
fn config_drift_is_shown_on_both_sides_once_and_moves_no_role() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    assert_eq!(s.node(0).vc(0).unwrap().drift, None);
    // B restarts with another VIP: another digest.
    s.kill(1);
    let mut other = settings(2, false);
    other.vcs[0].digest = 0x0bad_cafe;
    s.nodes[1] = Some(Node::new(s.now, other, 2, 0xc1, &[None]));
    let acts = s.node(1).start();
    s.apply(1, acts);
    s.run(Duration::from_secs(1));
    assert_eq!(s.node(0).vc(0).unwrap().drift, Some(0x0bad_cafe));
    assert_eq!(s.node(1).vc(0).unwrap().drift, Some(0x1234_5678));
    assert_eq!(s.master, [true, false]);
    assert_eq!(s.takeovers, [1, 0]);
}

#[test]
fn maintenance_hands_over_and_stays_backup_even_when_the_peer_dies() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    assert_eq!(s.master, [true, false]);
    // A Master with no healthy peer may not go into maintenance (checked first).
    s.input(
        0,
        Input::Maintenance {
            vc: Some(0),
            on: true,
        },
    );
    s.run(Duration::from_millis(100));
    assert_eq!(s.master, [false, true], "handed over at once");
    assert!(s.node(0).vc(0).unwrap().maintenance);
    // The primary stays Backup: no preemption, no takeover when the peer dies.
    s.kill(1);
    s.run(Duration::from_secs(2));
    assert_eq!(s.master, [false, false]);
    assert!(matches!(
        s.node(0).vc(0).unwrap().role,
        VcRole::Backup { .. }
    ));
    // Off: it probes and takes over.
    s.input(
        0,
        Input::Maintenance {
            vc: Some(0),
            on: false,
        },
    );
    s.until(Duration::from_secs(2), |s| s.master[0]);
}

#[test]
fn maintenance_on_a_master_without_a_healthy_peer_is_refused() {
    let t0 = Instant::now();
    let mut n = Node::new(t0, settings(1, false), 1, 0xd1, &[None]);
    n.handle(t0 + DEAD, Input::Tick);
    n.handle(
        t0 + DEAD,
        Input::ProbeDone {
            vc: 0,
            answered: false,
        },
    );
    assert!(n.claims(0));
    assert_eq!(
        n.admin_refusal(t0 + DEAD, 0, Admin::Maintenance),
        Some(Refusal::NoHealthyPeer)
    );
}

#[test]
fn take_against_the_peers_take_and_drop_against_the_peers_drop_are_refused() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    assert_eq!(s.master, [true, false]);
    let take = |vc| Input::Admin {
        vc,
        order: Admin::Take,
    };
    let drop = |vc| Input::Admin {
        vc,
        order: Admin::Drop,
    };
    // B takes; A's take would meet B's and change nothing: refused, B keeps the role.
    s.input(1, take(Some(0)));
    s.run(Duration::from_millis(300));
    assert_eq!(s.master, [false, true]);
    let now = s.now;
    assert_eq!(
        s.node(0).admin_refusal(now, 0, Admin::Take),
        Some(Refusal::PeerTakes)
    );
    // B drops there instead: A's take is no longer refused, and A already wins.
    s.input(1, drop(Some(0)));
    s.run(Duration::from_millis(300));
    assert_eq!(s.master, [true, false]);
    assert_eq!(s.node(0).admin_refusal(s.now, 0, Admin::Take), None);
    // A drops too: B holds a drop, A is Master; A's drop would change nothing.
    assert_eq!(
        s.node(0).admin_refusal(s.now, 0, Admin::Drop),
        Some(Refusal::PeerDrops)
    );
    // The Backup may repeat its own orders (nothing to cancel), and health still rules.
    assert_eq!(s.node(1).admin_refusal(s.now, 0, Admin::Drop), None);
    s.input(1, Input::Health { vc: 0, up: false });
    s.run(Duration::from_millis(300));
    assert_eq!(
        s.node(0).admin_refusal(s.now, 0, Admin::Drop),
        Some(Refusal::NoHealthyPeer)
    );
}

/// `take` in maintenance was refused as "this node is Down and the peer is Up" while status
/// showed health Up: maintenance counts as Down in the election. The refusal names it.
#[test]
fn take_in_maintenance_was_refused_as_down_while_health_was_up() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    s.input(
        0,
        Input::Maintenance {
            vc: Some(0),
            on: true,
        },
    );
    s.run(Duration::from_millis(300));
    assert_eq!(s.master, [false, true]);
    assert!(s.node(0).vc(0).unwrap().up, "health itself is Up");
    let refusal = s.node(0).admin_refusal(s.now, 0, Admin::Take);
    assert_eq!(refusal, Some(Refusal::Maintenance));
    assert_eq!(
        refusal.unwrap().to_string(),
        "this node is in maintenance: run 'maintenance off' first"
    );
    // The same with the peer gone.
    s.kill(1);
    s.run(Duration::from_secs(1));
    assert_eq!(
        s.node(0).admin_refusal(s.now, 0, Admin::Take),
        Some(Refusal::Maintenance)
    );
}

/// `take` on the Backup was answered with the role right after the order (Backup, exit 0)
/// while the peer had yet to yield: the worker now waits for `order_settled`, which holds
/// only once the order has taken effect.
#[test]
fn take_on_the_backup_was_answered_before_the_peer_yielded() {
    let mut s = Sim::new(false);
    s.run(Duration::from_millis(300));
    assert_eq!(s.master, [true, false]);
    assert!(s.node(0).order_settled(0, Admin::Take));
    assert!(!s.node(1).order_settled(0, Admin::Take));
    assert!(s.node(1).order_settled(0, Admin::Drop));
    assert!(s.node(1).order_settled(0, Admin::None));
    // Before the peer hears of the order, nothing has taken effect.
    let acts = s.nodes[1].as_mut().unwrap().handle(
        s.now,
        Input::Admin {
            vc: Some(0),
            order: Admin::Take,
        },
    );
    assert!(!s.node(1).order_settled(0, Admin::Take));
    s.apply(1, acts);
    s.until(Duration::from_secs(1), |s| {
        s.node(1).order_settled(0, Admin::Take)
    });
    assert_eq!(s.master, [false, true]);
    s.until(Duration::from_secs(1), |s| {
        s.node(0).order_settled(0, Admin::Drop)
    });
    // A yielding master has not dropped while it still holds its addresses.
    let t0 = Instant::now();
    let mut n = Node::new(t0, settings(1, false), 1, 0xd1, &[None]);
    assert!(!n.order_settled(0, Admin::Drop), "Init is no Backup yet");
    n.handle(t0 + DEAD, Input::Tick);
    assert!(!n.order_settled(0, Admin::Take), "probing");
    assert!(n.order_settled(7, Admin::Take), "no such virtual cluster");
}
