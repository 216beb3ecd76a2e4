//! The election rule of DESIGN.md §3 for one virtual cluster when both nodes are alive: which
//! side should hold the role, and why. Both nodes evaluate the same function on the same
//! announced facts, so they agree; the loser releases, the winner takes over once the loser
//! no longer claims Master.
//!
//! In order: (1) health Up beats Down — an admin command never overrides health; (2) admin
//! `take` pins, `drop` yields, when health is equal; (3) both Down: the current master keeps
//! it; (4) both Up: the lower penalty (the summed weights of failing weighted witnesses,
//! keepalived's priority adjustment) wins; (5) `preemptive yes`: the primary wins once its
//! preempt-delay has run; (6) otherwise the current master keeps it; (7) nobody or both are
//! master (start, healed partition): the primary, else higher priority, fewer failures,
//! lower node-id.

/// An administrator's standing order for a virtual cluster on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Admin {
    #[default]
    None,
    Take,
    Drop,
    /// Not a standing order of the election: only asked of `admin_refusal` before
    /// `maintenance on` (the same rule as a drop by a Master).
    Maintenance,
}

/// One side's announced facts for a virtual cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    pub node_id: u32,
    /// The daemon's incarnation: the last tie, between two nodes given the same node-id.
    pub incarnation: u32,
    pub up: bool,
    pub admin: Admin,
    pub preferred: bool,
    pub master: bool,
    pub priority: u8,
    pub fail_count: u8,
    /// Summed weights of the failing weighted witnesses (0: all of them answer).
    pub penalty: u8,
}

/// Who should hold the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Winner {
    Me,
    Peer,
}

/// The decision and the rule that made it (logged with every transition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub winner: Winner,
    pub reason: &'static str,
}

fn pick(me_wins: bool, reason: &'static str) -> Verdict {
    Verdict {
        winner: if me_wins { Winner::Me } else { Winner::Peer },
        reason,
    }
}

/// Decides between `me` and `peer`. `preempt_due` says the preferred side's preempt-delay
/// has run (only consulted with `preemptive`).
pub fn decide(me: &Side, peer: &Side, preemptive: bool, preempt_due: bool) -> Verdict {
    if me.up != peer.up {
        return pick(me.up, "health");
    }
    let (mt, pt) = (me.admin == Admin::Take, peer.admin == Admin::Take);
    if mt != pt {
        return pick(mt, "admin take");
    }
    let (md, pd) = (me.admin == Admin::Drop, peer.admin == Admin::Drop);
    if md != pd {
        return pick(pd, "admin drop");
    }
    let one_master = me.master != peer.master;
    if !me.up && one_master {
        return pick(me.master, "both down, master keeps");
    }
    if me.up && me.penalty != peer.penalty {
        return pick(me.penalty < peer.penalty, "lower penalty");
    }
    if preemptive && me.preferred != peer.preferred {
        let preferred_is_master = if me.preferred { me.master } else { peer.master };
        if preferred_is_master || preempt_due {
            return pick(me.preferred, "preemptive primary");
        }
    }
    if one_master {
        return pick(me.master, "master keeps");
    }
    if me.preferred != peer.preferred {
        return pick(me.preferred, "primary");
    }
    if me.priority != peer.priority {
        return pick(me.priority > peer.priority, "tie: priority");
    }
    if me.fail_count != peer.fail_count {
        return pick(me.fail_count < peer.fail_count, "tie: fewer failures");
    }
    if me.node_id != peer.node_id {
        return pick(me.node_id < peer.node_id, "tie: lower node-id");
    }
    // Two nodes configured with one node-id (an operator's mistake, reported as an error):
    // still exactly one Master.
    pick(
        me.incarnation < peer.incarnation,
        "tie: same node-id, lower incarnation",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(node_id: u32) -> Side {
        Side {
            node_id,
            incarnation: 0,
            up: true,
            admin: Admin::None,
            preferred: false,
            master: false,
            priority: 100,
            fail_count: 0,
            penalty: 0,
        }
    }

    #[test]
    fn one_node_id_on_both_sides_ties_on_the_lower_incarnation() {
        let me = Side {
            incarnation: 0x10,
            master: true,
            ..side(1)
        };
        let peer = Side {
            incarnation: 0x20,
            master: true,
            ..side(1)
        };
        let v = decide(&me, &peer, false, false);
        assert_eq!(v.winner, Winner::Me);
        assert_eq!(v.reason, "tie: same node-id, lower incarnation");
        assert_eq!(decide(&peer, &me, false, false).winner, Winner::Peer);
    }

    #[test]
    fn lower_penalty_wins_over_the_master_and_the_preemptive_primary() {
        let me = Side {
            master: true,
            preferred: true,
            penalty: 30,
            ..side(1)
        };
        let peer = Side {
            penalty: 10,
            ..side(2)
        };
        assert_eq!(decide(&me, &peer, true, true), pick(false, "lower penalty"));
        assert_eq!(decide(&peer, &me, true, true), pick(true, "lower penalty"));
    }

    #[test]
    fn equal_penalties_leave_the_role_to_the_usual_rules() {
        let me = Side {
            master: true,
            penalty: 30,
            ..side(1)
        };
        let peer = Side {
            penalty: 30,
            ..side(2)
        };
        assert_eq!(decide(&me, &peer, false, false), pick(true, "master keeps"));
    }

    #[test]
    fn a_hard_down_loses_to_any_penalty_and_admin_beats_penalty() {
        let me = Side {
            penalty: 255,
            ..side(1)
        };
        let down = Side {
            up: false,
            master: true,
            ..side(2)
        };
        assert_eq!(decide(&me, &down, false, false), pick(true, "health"));
        let taker = Side {
            admin: Admin::Take,
            penalty: 100,
            ..side(2)
        };
        assert_eq!(decide(&me, &taker, false, false), pick(false, "admin take"));
        // Both Down: penalties are not compared, the master keeps it.
        let me_down = Side {
            up: false,
            penalty: 0,
            ..side(1)
        };
        let peer_down = Side {
            penalty: 50,
            ..down
        };
        assert_eq!(
            decide(&me_down, &peer_down, false, false),
            pick(false, "both down, master keeps")
        );
    }

    #[test]
    fn health_beats_everything_even_admin() {
        let me = Side {
            admin: Admin::Take,
            master: true,
            preferred: true,
            up: false,
            ..side(1)
        };
        let v = decide(&me, &side(2), true, true);
        assert_eq!(v, pick(false, "health"));
    }

    #[test]
    fn admin_applies_when_health_is_equal_even_both_down() {
        let me = Side {
            admin: Admin::Take,
            ..side(2)
        };
        let peer = Side {
            master: true,
            preferred: true,
            ..side(1)
        };
        assert_eq!(decide(&me, &peer, true, true).reason, "admin take");
        let me = Side {
            admin: Admin::Drop,
            master: true,
            up: false,
            ..side(1)
        };
        let peer = Side {
            up: false,
            ..side(2)
        };
        assert_eq!(decide(&me, &peer, false, false), pick(false, "admin drop"));
        // Both take: the order cancels out and the other rules decide.
        let me = Side {
            admin: Admin::Take,
            ..side(1)
        };
        let peer = Side {
            admin: Admin::Take,
            master: true,
            ..side(2)
        };
        assert_eq!(decide(&me, &peer, false, false).reason, "master keeps");
    }

    #[test]
    fn both_down_master_keeps() {
        let me = Side {
            up: false,
            ..side(2)
        };
        let peer = Side {
            up: false,
            master: true,
            ..side(1)
        };
        assert_eq!(
            decide(&me, &peer, false, false),
            pick(false, "both down, master keeps")
        );
    }

    #[test]
    fn preemptive_primary_waits_for_its_delay() {
        let me = Side {
            preferred: true,
            ..side(1)
        };
        let peer = Side {
            master: true,
            ..side(2)
        };
        assert_eq!(decide(&me, &peer, true, false), pick(false, "master keeps"));
        assert_eq!(
            decide(&me, &peer, true, true),
            pick(true, "preemptive primary")
        );
        // Not preemptive: the master keeps it.
        assert_eq!(decide(&me, &peer, false, true), pick(false, "master keeps"));
    }

    #[test]
    fn nobody_master_primary_then_ties() {
        let me = side(2);
        let peer = Side {
            preferred: true,
            ..side(1)
        };
        assert_eq!(decide(&me, &peer, false, false), pick(false, "primary"));
        let me = Side {
            priority: 200,
            ..side(2)
        };
        assert_eq!(
            decide(&me, &side(1), false, false),
            pick(true, "tie: priority")
        );
        let me = Side {
            fail_count: 1,
            ..side(1)
        };
        assert_eq!(
            decide(&me, &side(2), false, false),
            pick(false, "tie: fewer failures")
        );
        assert_eq!(
            decide(&side(1), &side(2), false, false),
            pick(true, "tie: lower node-id")
        );
        assert_eq!(
            decide(&side(2), &side(1), false, false),
            pick(false, "tie: lower node-id")
        );
    }

    #[test]
    fn two_masters_after_a_partition_use_the_tie_rule() {
        let me = Side {
            master: true,
            ..side(2)
        };
        let peer = Side {
            master: true,
            ..side(1)
        };
        assert_eq!(
            decide(&me, &peer, false, false),
            pick(false, "tie: lower node-id")
        );
        assert_eq!(
            decide(&peer, &me, false, false),
            pick(true, "tie: lower node-id")
        );
    }

    #[test]
    fn both_sides_always_agree() {
        // Exhaustive over the facts: the two views never both win or both lose.
        let admins = [Admin::None, Admin::Take, Admin::Drop];
        for bits in 0..(1u32 << 10) {
            for a in admins {
                for b in admins {
                    let b0 = |i: u32| bits & (1 << i) != 0;
                    let x = Side {
                        node_id: 1,
                        incarnation: 9,
                        up: b0(0),
                        admin: a,
                        preferred: b0(1),
                        master: b0(2),
                        priority: 100,
                        fail_count: u8::from(b0(6)),
                        penalty: if b0(8) { 20 } else { 0 },
                    };
                    let y = Side {
                        node_id: 2,
                        incarnation: 7,
                        up: b0(3),
                        admin: b,
                        preferred: b0(4) && !b0(1),
                        master: b0(5),
                        priority: 100,
                        fail_count: 0,
                        penalty: if b0(9) { 20 } else { 0 },
                    };
                    let pre = b0(7);
                    let vx = decide(&x, &y, pre, true);
                    let vy = decide(&y, &x, pre, true);
                    assert_ne!(vx.winner, vy.winner, "{x:?} {y:?} {pre}");
                    assert_eq!(vx.reason, vy.reason);
                }
            }
        }
    }
}
