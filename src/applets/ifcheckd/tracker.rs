//! The ring tracker: ifcheckd's pure core. It merges what the heart-beat source reports per
//! ring (pikemon's paths or Corosync's knet links), how fresh that report is, and link carrier
//! from rtnetlink into one state per ring, and says which `ringnumber_N` attribute to publish or
//! withdraw. No sockets, no clock: time is a parameter (`handle(now, input)`).
//!
//! A ring is FAULTY when its interface has no carrier, when the source says so, or when the
//! source's report is older than `stale_after` (the source is gone); UP otherwise.
//!
//! A report is as old as the data it was taken from (`age`), not as old as its arrival: a
//! corosync poll started before a carrier change may arrive after it. Such a report says
//! nothing about the link after the change, so a ring whose interface changed carrier after
//! the report was taken stays FAULTY until a report taken after the change says otherwise
//! (without this, a knet report read before a short cut was published as UP on the repair,
//! while knet already had the link down: UP, FAULTY, UP within a few seconds).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

/// The state of one ring, as the attribute value spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingState {
    Up,
    Faulty,
}

impl fmt::Display for RingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RingState::Up => "UP",
            RingState::Faulty => "FAULTY",
        })
    }
}

/// One ring as a source reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingReport {
    pub ring: u32,
    /// The local address of the ring (the interface name when it has none).
    pub addr: String,
    /// The interface carrying it, when known (its carrier counts).
    pub ifname: Option<String>,
    pub state: RingState,
}

/// What happens to the attributes when the source disappears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLoss {
    /// pikemon gone: every ring is FAULTY (the heart-beat really is down).
    Faulty,
    /// Corosync gone: the attributes are withdrawn until it is back (the original's
    /// "cmap connection is destroyed" behaviour).
    Withdraw,
}

/// Something the tracker is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A complete report from the source; `age` is how old its data already is (the time
    /// since it was taken).
    Report {
        rings: Vec<RingReport>,
        age: Duration,
    },
    /// The source cannot be read (file missing, corosync unreachable).
    SourceLost,
    /// Link carrier of an interface changed (or was first learned).
    Carrier { ifname: String, up: bool },
    /// Time passed (the deadline from `next_deadline` was reached).
    Tick,
}

/// What the daemon has to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Set `ringnumber_<ring>` to `value` (`ADDR is UP|FAULTY`).
    Publish {
        ring: u32,
        state: RingState,
        value: String,
    },
    /// Delete `ringnumber_<ring>`.
    Withdraw { ring: u32 },
    /// Monitoring started (a fresh report) or stopped (source lost or its report stale).
    Monitoring { active: bool },
}

/// The tracker.
#[derive(Debug)]
pub struct RingTracker {
    stale_after: Duration,
    on_loss: OnLoss,
    rings: BTreeMap<u32, RingReport>,
    /// Until when the last report counts as fresh; None when the source is lost.
    fresh_until: Option<Instant>,
    /// When the last report's data was taken.
    taken: Option<Instant>,
    carrier: HashMap<String, bool>,
    /// When each interface last changed carrier (first learning it is no change).
    carrier_changed: HashMap<String, Instant>,
    published: BTreeMap<u32, String>,
    monitoring: bool,
}

impl RingTracker {
    pub fn new(stale_after: Duration, on_loss: OnLoss) -> RingTracker {
        RingTracker {
            stale_after,
            on_loss,
            rings: BTreeMap::new(),
            fresh_until: None,
            taken: None,
            carrier: HashMap::new(),
            carrier_changed: HashMap::new(),
            published: BTreeMap::new(),
            monitoring: false,
        }
    }

    /// Feeds one input; returns the attribute changes, in ring order.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        let mut actions = Vec::new();
        match input {
            Input::Report { rings, age } => {
                let base = now.checked_sub(age).unwrap_or(now);
                self.fresh_until = Some(base + self.stale_after);
                self.taken = Some(base);
                self.rings = rings.into_iter().map(|r| (r.ring, r)).collect();
            }
            Input::SourceLost => {
                self.fresh_until = None;
                if self.on_loss == OnLoss::Withdraw {
                    self.rings.clear();
                }
            }
            Input::Carrier { ifname, up } => {
                if self.carrier.get(&ifname).is_some_and(|was| *was != up) {
                    self.carrier_changed.insert(ifname.clone(), now);
                }
                self.carrier.insert(ifname, up);
            }
            Input::Tick => {}
        }
        // A report that went stale has no deadline left (the loop must not spin on it).
        if self.fresh_until.is_some_and(|f| now >= f) {
            self.fresh_until = None;
        }
        let fresh = self.fresh_until.is_some();
        if fresh != self.monitoring {
            self.monitoring = fresh;
            actions.push(Action::Monitoring { active: fresh });
        }
        self.diff(now, &mut actions);
        actions
    }

    /// When the current report goes stale (the daemon calls `handle(Tick)` then).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.fresh_until
    }

    /// The effective state of every known ring.
    pub fn states(&self, now: Instant) -> Vec<(u32, String, RingState)> {
        self.rings
            .values()
            .map(|r| (r.ring, r.addr.clone(), self.effective(r, now)))
            .collect()
    }

    fn is_fresh(&self, now: Instant) -> bool {
        self.fresh_until.is_some_and(|f| now < f)
    }

    fn effective(&self, r: &RingReport, now: Instant) -> RingState {
        let no_carrier = r
            .ifname
            .as_ref()
            .and_then(|i| self.carrier.get(i))
            .is_some_and(|up| !up);
        // The report predates the last carrier change of this ring's interface.
        let outdated = r
            .ifname
            .as_ref()
            .and_then(|i| self.carrier_changed.get(i))
            .is_some_and(|changed| self.taken.is_none_or(|taken| taken < *changed));
        if no_carrier || outdated || !self.is_fresh(now) {
            RingState::Faulty
        } else {
            r.state
        }
    }

    fn diff(&mut self, now: Instant, actions: &mut Vec<Action>) {
        let gone: Vec<u32> = self
            .published
            .keys()
            .filter(|k| !self.rings.contains_key(k))
            .copied()
            .collect();
        for ring in gone {
            self.published.remove(&ring);
            actions.push(Action::Withdraw { ring });
        }
        for (ring, addr, state) in self.states(now) {
            let value = format!("{addr} is {state}");
            if self.published.get(&ring) != Some(&value) {
                self.published.insert(ring, value.clone());
                actions.push(Action::Publish { ring, state, value });
            }
        }
    }

    /// Attributes published so far (for the exit cleanup).
    pub fn published(&self) -> impl Iterator<Item = (&u32, &String)> {
        self.published.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALE: Duration = Duration::from_secs(5);

    fn ring(n: u32, addr: &str, ifname: &str, state: RingState) -> RingReport {
        RingReport {
            ring: n,
            addr: addr.into(),
            ifname: Some(ifname.into()),
            state,
        }
    }

    fn report(rings: Vec<RingReport>) -> Input {
        Input::Report {
            rings,
            age: Duration::ZERO,
        }
    }

    fn publish(ring: u32, value: &str) -> Action {
        let state = if value.ends_with("UP") {
            RingState::Up
        } else {
            RingState::Faulty
        };
        Action::Publish {
            ring,
            state,
            value: value.into(),
        }
    }

    #[test]
    fn first_report_publishes_every_ring_once() {
        let mut t = RingTracker::new(STALE, OnLoss::Faulty);
        let now = Instant::now();
        let a = t.handle(
            now,
            report(vec![
                ring(0, "198.51.100.1", "hb0", RingState::Up),
                ring(1, "hb1", "hb1", RingState::Faulty),
            ]),
        );
        assert_eq!(
            a,
            vec![
                Action::Monitoring { active: true },
                publish(0, "198.51.100.1 is UP"),
                publish(1, "hb1 is FAULTY"),
            ]
        );
        // The same report again changes nothing.
        let again = t.handle(
            now + Duration::from_secs(1),
            report(vec![
                ring(0, "198.51.100.1", "hb0", RingState::Up),
                ring(1, "hb1", "hb1", RingState::Faulty),
            ]),
        );
        assert!(again.is_empty());
    }

    #[test]
    fn ring_changes_are_published_when_they_happen() {
        let mut t = RingTracker::new(STALE, OnLoss::Faulty);
        let now = Instant::now();
        t.handle(now, report(vec![ring(0, "a", "hb0", RingState::Up)]));
        let a = t.handle(now, report(vec![ring(0, "a", "hb0", RingState::Faulty)]));
        assert_eq!(a, vec![publish(0, "a is FAULTY")]);
        let a = t.handle(now, report(vec![ring(0, "a", "hb0", RingState::Up)]));
        assert_eq!(a, vec![publish(0, "a is UP")]);
    }

    #[test]
    fn stale_report_means_the_source_is_gone_and_every_ring_is_faulty() {
        let mut t = RingTracker::new(STALE, OnLoss::Faulty);
        let now = Instant::now();
        t.handle(
            now,
            report(vec![
                ring(0, "a", "hb0", RingState::Up),
                ring(1, "b", "hb1", RingState::Up),
            ]),
        );
        assert_eq!(t.next_deadline(), Some(now + STALE));
        assert!(t
            .handle(now + Duration::from_secs(4), Input::Tick)
            .is_empty());
        let a = t.handle(now + STALE, Input::Tick);
        assert_eq!(
            a,
            vec![
                Action::Monitoring { active: false },
                publish(0, "a is FAULTY"),
                publish(1, "b is FAULTY")
            ]
        );
        assert_eq!(t.next_deadline(), None);
        // A fresh report brings them back.
        let later = now + Duration::from_secs(20);
        let a = t.handle(
            later,
            report(vec![
                ring(0, "a", "hb0", RingState::Up),
                ring(1, "b", "hb1", RingState::Up),
            ]),
        );
        assert_eq!(
            a,
            vec![
                Action::Monitoring { active: true },
                publish(0, "a is UP"),
                publish(1, "b is UP")
            ]
        );
    }

    #[test]
    fn an_old_file_counts_as_stale_already() {
        let mut t = RingTracker::new(STALE, OnLoss::Faulty);
        let now = Instant::now();
        let a = t.handle(
            now,
            Input::Report {
                rings: vec![ring(0, "a", "hb0", RingState::Up)],
                age: Duration::from_secs(60),
            },
        );
        // Never fresh: published as FAULTY, monitoring never started.
        assert_eq!(a, vec![publish(0, "a is FAULTY")]);
    }

    #[test]
    fn lost_carrier_makes_the_ring_faulty_at_once() {
        let mut t = RingTracker::new(STALE, OnLoss::Faulty);
        let now = Instant::now();
        t.handle(now, report(vec![ring(0, "a", "hb0", RingState::Up)]));
        let a = t.handle(
            now,
            Input::Carrier {
                ifname: "hb0".into(),
                up: false,
            },
        );
        assert_eq!(a, vec![publish(0, "a is FAULTY")]);
        // Other interfaces do not matter.
        assert!(t
            .handle(
                now,
                Input::Carrier {
                    ifname: "eth9".into(),
                    up: false
                }
            )
            .is_empty());
        let a = t.handle(
            now,
            Input::Carrier {
                ifname: "hb0".into(),
                up: true,
            },
        );
        assert_eq!(a, vec![publish(0, "a is UP")]);
    }

    fn carrier(ifname: &str, up: bool) -> Input {
        Input::Carrier {
            ifname: ifname.into(),
            up,
        }
    }

    fn taken(rings: Vec<RingReport>, age: Duration) -> Input {
        Input::Report { rings, age }
    }

    #[test]
    fn knet_report_taken_before_a_repair_does_not_publish_up() {
        // Seen: a short cut of hb0, repaired; the poll read before the cut (link connected)
        // arrived after the repair and was published as UP while knet already showed
        // `connected = 0`; then FAULTY, then UP again within 2.5 s.
        let mut t = RingTracker::new(STALE, OnLoss::Withdraw);
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        t.handle(t0, carrier("hb0", true));
        t.handle(t0, report(vec![ring(0, "a", "hb0", RingState::Up)]));
        // Cut at t0+100ms: FAULTY from the carrier at once.
        let a = t.handle(t0 + ms(100), carrier("hb0", false));
        assert_eq!(a, vec![publish(0, "a is FAULTY")]);
        // Repaired at t0+300ms: the last report is older than that, so nothing changes.
        assert!(t.handle(t0 + ms(300), carrier("hb0", true)).is_empty());
        // A poll taken at t0+50ms (before the cut) arrives at t0+400ms: still FAULTY.
        assert!(t
            .handle(
                t0 + ms(400),
                taken(vec![ring(0, "a", "hb0", RingState::Up)], ms(350))
            )
            .is_empty());
        // The first poll taken after the repair says knet has the link down: no change.
        assert!(t
            .handle(
                t0 + ms(1400),
                taken(vec![ring(0, "a", "hb0", RingState::Faulty)], ms(100))
            )
            .is_empty());
        // knet reconnects: UP, once.
        let a = t.handle(
            t0 + ms(2400),
            taken(vec![ring(0, "a", "hb0", RingState::Up)], ms(100)),
        );
        assert_eq!(a, vec![publish(0, "a is UP")]);
    }

    #[test]
    fn report_taken_before_a_cut_cannot_undo_it() {
        let mut t = RingTracker::new(STALE, OnLoss::Withdraw);
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        t.handle(t0, carrier("hb0", true));
        t.handle(t0, report(vec![ring(0, "a", "hb0", RingState::Up)]));
        t.handle(t0 + ms(100), carrier("hb0", false));
        // The carrier came back, but the only report that arrives was taken during the cut's
        // first moments (knet had not noticed): FAULTY until a newer report.
        t.handle(t0 + ms(150), carrier("hb0", true));
        assert!(t
            .handle(
                t0 + ms(500),
                taken(vec![ring(0, "a", "hb0", RingState::Up)], ms(380))
            )
            .is_empty());
        assert_eq!(t.states(t0 + ms(500))[0].2, RingState::Faulty);
        // Other rings are not held back by hb0's change.
        let a = t.handle(
            t0 + ms(600),
            taken(
                vec![
                    ring(0, "a", "hb0", RingState::Up),
                    ring(1, "b", "hb1", RingState::Up),
                ],
                ms(500),
            ),
        );
        assert_eq!(a, vec![publish(1, "b is UP")]);
    }

    #[test]
    fn first_learned_carrier_is_not_a_change() {
        let mut t = RingTracker::new(STALE, OnLoss::Withdraw);
        let now = Instant::now();
        t.handle(now, carrier("hb0", true));
        // Learned after the report was taken, but it changed nothing.
        let a = t.handle(
            now + Duration::from_millis(10),
            taken(
                vec![ring(0, "a", "hb0", RingState::Up)],
                Duration::from_millis(500),
            ),
        );
        assert_eq!(
            a,
            vec![Action::Monitoring { active: true }, publish(0, "a is UP")]
        );
    }

    #[test]
    fn corosync_loss_withdraws_and_a_vanished_ring_is_withdrawn() {
        let mut t = RingTracker::new(STALE, OnLoss::Withdraw);
        let now = Instant::now();
        t.handle(
            now,
            report(vec![
                ring(0, "a", "hb0", RingState::Up),
                ring(1, "b", "hb1", RingState::Up),
            ]),
        );
        let a = t.handle(now, report(vec![ring(0, "a", "hb0", RingState::Up)]));
        assert_eq!(a, vec![Action::Withdraw { ring: 1 }]);
        let a = t.handle(now, Input::SourceLost);
        assert_eq!(
            a,
            vec![
                Action::Monitoring { active: false },
                Action::Withdraw { ring: 0 }
            ]
        );
        assert_eq!(t.published().count(), 0);
        let a = t.handle(now, report(vec![ring(0, "a", "hb0", RingState::Up)]));
        assert_eq!(
            a,
            vec![Action::Monitoring { active: true }, publish(0, "a is UP")]
        );
    }

    #[test]
    fn pikemon_loss_marks_rings_faulty_without_withdrawing() {
        let mut t = RingTracker::new(STALE, OnLoss::Faulty);
        let now = Instant::now();
        t.handle(now, report(vec![ring(0, "a", "hb0", RingState::Up)]));
        let a = t.handle(now, Input::SourceLost);
        assert_eq!(
            a,
            vec![
                Action::Monitoring { active: false },
                publish(0, "a is FAULTY")
            ]
        );
        assert_eq!(t.states(now), vec![(0, "a".into(), RingState::Faulty)]);
    }

    #[test]
    fn nothing_before_the_first_report() {
        let mut t = RingTracker::new(STALE, OnLoss::Faulty);
        let now = Instant::now();
        assert!(t.handle(now, Input::SourceLost).is_empty());
        assert!(t.handle(now, Input::Tick).is_empty());
        assert_eq!(t.next_deadline(), None);
    }

    /// The daemon's invariant over a random run (reports fresh, old and already stale, the
    /// source lost, carrier changes, ticks): whatever was handled at `now`, the next deadline
    /// is not at or before `now` (a handled moment offered again is a busy loop).
    #[test]
    fn a_handled_input_never_leaves_its_moment_as_the_next_deadline() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n.max(1)
        };
        for on_loss in [OnLoss::Faulty, OnLoss::Withdraw] {
            let mut t = RingTracker::new(STALE, on_loss);
            let t0 = Instant::now();
            let mut now = t0;
            for step in 0..5000 {
                now += Duration::from_millis(rand(2000));
                let state = if rand(2) == 0 {
                    RingState::Up
                } else {
                    RingState::Faulty
                };
                let input = match rand(4) {
                    0 => Input::Report {
                        rings: vec![ring(0, "a", "hb0", state)],
                        // Up to twice the stale time: some arrive stale already.
                        age: Duration::from_millis(rand(2 * STALE.as_millis() as u64)),
                    },
                    1 => Input::SourceLost,
                    2 => Input::Carrier {
                        ifname: "hb0".into(),
                        up: rand(2) == 0,
                    },
                    _ => Input::Tick,
                };
                t.handle(now, input);
                let next = t.next_deadline();
                assert!(
                    next.is_none_or(|d| d > now),
                    "step {step}: handled at +{:?}, next deadline +{:?}",
                    now - t0,
                    next.map(|d| d - t0)
                );
            }
        }
    }
}
