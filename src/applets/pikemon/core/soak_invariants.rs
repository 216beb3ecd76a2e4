//! The invariants of the random soak, with the bounds derived from the timers (hello 100 ms,
//! dead 300 ms, preempt-delay 500 ms, probe-span 75 ms, commit-timeout at most 400 ms), and
//! the watches that time how long a condition holds.

use super::sim::{DEAD, HELLO};
use super::soak_sim::{World, LATENCY};
use super::*;

/// Invariant (2): the longest two Masters may coexist while a path works both ways and both
/// nodes run. A node that is heard again after a partition, a freeze or a restart sends a
/// HELLO within one hello-interval; a new incarnation proves itself in one more round trip
/// (its frame is answered at once); the loser of the election stops claiming on the first
/// fresh frame of the winner. An early probe in flight holds the election back for one
/// probe-span. So: two hellos, a probe-span, and four frame latencies.
pub(super) const TWO_MASTERS_BOUND: Duration = Duration::from_millis(
    2 * HELLO.as_millis() as u64
        + 3 * HELLO.as_millis() as u64 / 4
        + 4 * LATENCY.as_millis() as u64,
);

/// Invariant (3): the longest a healthy node stays Backup beside an unhealthy node that still
/// holds the addresses (Master or releasing them), with a path working: the same round trips
/// as `TWO_MASTERS_BOUND`, and the release wait (make-before-break) when the healthy side's
/// ACTIVE is late.
pub(super) const HEALTH_BOUND: Duration = TWO_MASTERS_BOUND;

/// Invariant (6): the longest nobody has the addresses up while a node runs (unfrozen, not
/// shutting down): a node that starts listens a dead-interval and one hello of skew, a
/// backup whose peer went silent waits the rest of the dead-interval (counted once the frames
/// a delaying path held back have arrived: they are authentic and newer), then probes for a probe-span and, with state sync, waits at most commit-timeout (400 ms here)
/// for the commit; plus two hellos of slack for an answered probe's hold-off ending.
pub(super) const NOBODY_SERVES_BOUND: Duration =
    Duration::from_millis(DEAD.as_millis() as u64 + 3 * HELLO.as_millis() as u64 + 75 + 400);

/// The longest fault (and the longest extra delay of a path) the schedules draw.
pub(super) const MAX_FAULT_MS: u64 = 1500;

/// Invariant (4), per change: a change of the world (a fault beginning or ending, an admin
/// order, a restart) moves the role at most twice before the next change — a takeover it
/// causes and, at most, the failback or tie that follows; more is a storm.
pub(super) const TAKEOVERS_PER_CHANGE: u32 = 2;

/// Invariant (7), make-before-break: a node that yields to a live peer (Releasing) lets its
/// addresses go only once the peer's are up (pikemon.cfg(5), State sync: "an old master
/// handing over keeps its addresses until then"): no stretch of nobody serving at all, when
/// both nodes ran unfrozen with a path working for as long as the peer needs to come up (a
/// hello, two frames, its commit, its takeover) before the release. The release wait ends
/// regardless (the peer may never come up), and a release without a live peer (a GOODBYE to
/// a peer not heard yet) promises only that the peer takes over within one frame: the
/// nobody-serving watch covers those.
pub(super) const HANDOVER_GAP_BOUND: Duration = Duration::ZERO;

/// Invariant (1): after the last fault heals, the time until exactly one Master that stays:
/// a restarted node listens a dead-interval plus one hello of skew; a preemptive failback
/// waits preempt-delay (500 ms) and, with state sync, for the bulk update: in all at most
/// `state_wait` = preempt-delay + max(preempt-delay, commit-timeout ≤ 400 ms); the hand-over
/// waits at most the release wait (a dead-interval); plus a probe-span and two hellos of
/// round trips.
pub(super) const CONVERGENCE_BOUND: Duration = Duration::from_millis(
    2 * DEAD.as_millis() as u64 + 3 * HELLO.as_millis() as u64 + 2 * 500 + 75,
);

/// A condition that must not hold longer than a bound.
#[derive(Debug, Default)]
pub(super) struct Watch {
    since: Option<Instant>,
    /// The longest stretch seen.
    pub(super) longest: Duration,
}

impl Watch {
    pub(super) fn update(&mut self, now: Instant, holds: bool) {
        match (holds, self.since) {
            (true, None) => self.since = Some(now),
            (false, Some(_)) => self.since = None,
            _ => {}
        }
    }
    pub(super) fn held(&mut self, now: Instant) -> Duration {
        let d = self.since.map_or(Duration::ZERO, |s| now - s);
        self.longest = self.longest.max(d);
        d
    }
}

impl World {
    /// The invariants that watch a stretch of time: checked at `t`, before anything
    /// changes there (the state held since the last event).
    pub(super) fn check(&mut self, t: Instant) {
        let seed = self.seed;
        let at = t - self.t0;
        let held = self.two_masters.held(t);
        assert!(
            held <= TWO_MASTERS_BOUND,
            "seed {seed}: two Masters for {held:?} (bound {TWO_MASTERS_BOUND:?}) with a \
             working path, at {at:?}"
        );
        for i in 0..2 {
            let held = self.healthy_backup[i].held(t);
            assert!(
                held <= HEALTH_BOUND,
                "seed {seed}: healthy node {i} left Backup beside an unhealthy Master for \
                 {held:?} (bound {HEALTH_BOUND:?}), at {at:?}"
            );
        }
        let held = self.handover_gap.held(t);
        assert!(
            held <= HANDOVER_GAP_BOUND,
            "seed {seed}: a hand-over left nobody serving for {held:?} (bound \
             {HANDOVER_GAP_BOUND:?}) with both nodes linked, at {at:?}"
        );
        let held = self.nobody_serves.held(t);
        assert!(
            held <= NOBODY_SERVES_BOUND,
            "seed {seed}: no addresses up for {held:?} (bound {NOBODY_SERVES_BOUND:?}) with a \
             node running, at {at:?}"
        );
        if let Some(from) = self.settled_from.filter(|f| t > *f) {
            let masters = (0..2).filter(|i| self.claims(*i)).count();
            let served = (0..2).filter(|i| self.addr[*i]).count();
            assert!(
                masters == 1 && served == 1,
                "seed {seed}: {masters} Master(s), {served} with addresses, at {at:?}, \
                 {:?} after every fault healed",
                t - from + CONVERGENCE_BOUND
            );
            assert!(
                self.last_change <= from,
                "seed {seed}: role changed at {:?}, after the pair had settled at {:?}",
                self.last_change - self.t0,
                from - self.t0
            );
        }
    }

    pub(super) fn watch(&mut self) {
        let now = self.now;
        let connected = self.connected();
        let both = self.claims(0) && self.claims(1);
        self.two_masters.update(now, connected && both);
        let runs =
            |i: usize| self.nodes[i].is_some() && self.frozen[i].is_none() && !self.stopping[i];
        // Frames held back by a delaying path still make a dead peer look alive (they are
        // authentic and newer): the watch starts when the last of them has arrived.
        let nobody =
            !self.addr[0] && !self.addr[1] && (runs(0) || runs(1)) && now >= self.late_until;
        self.nobody_serves.update(now, nobody);
        let serving = self.addr[0] || self.addr[1];
        let linked = self.linked();
        self.linked_since = if linked {
            self.linked_since.or(Some(now))
        } else {
            None
        };
        self.gap_open = linked && !serving && (self.gap_open || self.gap_armed);
        self.gap_armed = false;
        for i in 0..2 {
            if let Some(n) = &self.nodes[i] {
                self.was_releasing[i] = n.releasing();
                self.saved_master[i] = n.claims(0);
            }
        }
        self.handover_gap.update(now, self.gap_open);
        for i in 0..2 {
            let stuck = connected
                && self.healthy(i)
                && !self.healthy(1 - i)
                && self.addr[1 - i]
                && !self.claims(i);
            self.healthy_backup[i].update(now, stuck);
        }
    }
}
