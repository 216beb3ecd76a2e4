//! Which due check starts when. The daemon runs a bounded number of checks at once (each
//! holds an open file; the bound follows the open-files limit, `cap_for`); the others wait
//! here. Pure: the shell says what is due, what ended and what time it is.
//!
//! The rules, in the order they apply:
//! 1. At most `cap` checks in flight.
//! 2. A check of a *dark* real (the last check of its address and check port timed out,
//!    and it is not up) holds at most half of them. Such a check keeps its slot for its
//!    whole timeout: a rack of reals that drop every SYN filled every slot, and the checks
//!    of healthy reals of the same virtual waited behind theirs
//!    (`dark_rack_in_the_same_virtual_delayed_the_healthy_reals_checks`).
//!    A real that is still up is never dark, so its failurecount runs at its own pace.
//! 3. Waiting checks of other reals start before waiting dark ones.
//! 4. Within each kind, the next is from the virtual with the fewest checks in flight (the
//!    reals of one virtual that never answer do not starve another's,
//!    `reals_that_never_answer_starved_the_checks_of_another_virtual`), then the oldest.
//!
//! What timed out is remembered by address and check port, so it outlives a reload (a
//! config rewritten every second must not make the dark rack look new each time).
//!
//! A check's timeout runs from its start, not from when it became due: time spent waiting
//! here never counts as a failure. A check that waited longer than its checkinterval is
//! counted late, and `late_report` says so at most once a minute.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::core::{Probe, RealId};

/// Open files kept for everything but checks: the mails' sockets and pipes (16 at most, two
/// files each), the log, netlink, poll, the signal pipe, the pid file, config reads and the
/// pipes of children being spawned. (The checks' spare sockets, `check::conn`, take only
/// files no check may need.)
pub const RESERVED_FILES: u64 = 128;
/// The most checks in flight whatever the limit: each may hold up to 1 MiB of an answer.
pub const MAX_CHECKS: usize = 2048;
/// The fewest, even under a lower open-files limit.
pub const MIN_CHECKS: usize = 16;
/// How often `late_report` may speak.
const LATE_REPORT_EVERY: Duration = Duration::from_secs(60);

/// How many checks may run at once under an open-files limit of `open_files`: one file per
/// check counted. A check may hold two for a while (ftp's control connection stays open
/// during its data connection, a redirect's next hop opens before the last closes, dns
/// falls back to TCP with its UDP socket open); the daemon raises the limit towards two per
/// check, and the spare sockets never take those (`check::conn::limit_spares`).
pub fn cap_for(open_files: u64) -> usize {
    let room = open_files.saturating_sub(RESERVED_FILES);
    usize::try_from(room)
        .unwrap_or(usize::MAX)
        .clamp(MIN_CHECKS, MAX_CHECKS)
}

/// A check that is due and waits for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    pub id: RealId,
    pub probe: Probe,
    /// Since when it waits.
    pub since: Instant,
    /// Where the check goes.
    pub target: SocketAddr,
}

/// Waiting checks of one kind: per virtual, in order of arrival (numbered across virtuals).
/// Taking the next looks at each virtual's oldest only, not at every check waiting.
#[derive(Debug, Default)]
struct Line {
    by_virtual: BTreeMap<usize, VecDeque<(u64, Waiting)>>,
    len: usize,
    /// The last queue emptied, kept for the next virtual to wait (`KEEP_WAITING`).
    spare: VecDeque<(u64, Waiting)>,
}

/// The most waiting checks whose emptied queue a line keeps (80 bytes each): every burst
/// of due checks (300 at N=1000, checkinterval=1) grew a new one to 32 KiB, which musl's
/// allocator mapped, faulted in and unmapped again, over a hundred times a second.
const KEEP_WAITING: usize = 2048;

impl Line {
    fn push(&mut self, seq: u64, w: Waiting) {
        let spare = &mut self.spare;
        self.by_virtual
            .entry(w.id.virt)
            .or_insert_with(|| std::mem::take(spare))
            .push_back((seq, w));
        self.len += 1;
    }

    /// The oldest check of the virtual with the fewest in flight (`per_virtual`).
    fn pop(&mut self, per_virtual: &HashMap<usize, usize>) -> Option<Waiting> {
        let (_, _, virt) = self
            .by_virtual
            .iter()
            .filter_map(|(v, q)| {
                let (seq, _) = q.front()?;
                Some((per_virtual.get(v).copied().unwrap_or(0), *seq, *v))
            })
            .min()?;
        let q = self.by_virtual.get_mut(&virt)?;
        let (_, w) = q.pop_front()?;
        if q.is_empty() {
            if let Some(q) = self.by_virtual.remove(&virt) {
                if q.capacity() <= KEEP_WAITING && q.capacity() > self.spare.capacity() {
                    self.spare = q;
                }
            }
        }
        self.len -= 1;
        Some(w)
    }

    /// Empties the line; returns what waited.
    fn take(&mut self) -> impl Iterator<Item = Waiting> {
        self.len = 0;
        std::mem::take(&mut self.by_virtual)
            .into_values()
            .flatten()
            .map(|(_, w)| w)
    }
}

/// The slots, the checks waiting for one and what the last check of each real did.
#[derive(Debug)]
pub struct CheckSlots {
    cap: usize,
    /// Waiting checks of reals that are not dark.
    bright: Line,
    /// Waiting checks of dark reals.
    dark: Line,
    /// The number of the next check to wait (the order of arrival).
    next_seq: u64,
    /// Every check in flight, and whether its real was dark when it started.
    in_flight: HashMap<RealId, bool>,
    dark_in_flight: usize,
    /// Checks in flight per virtual.
    per_virtual: HashMap<usize, usize>,
    /// The check targets (address, check port) whose last check timed out.
    timed_out: HashSet<SocketAddr>,
    /// Since when the checks dropped by the last reload waited, by target: asked again, they
    /// wait from then (a config rewritten every second hid every late check).
    waited_before_reload: HashMap<SocketAddr, Instant>,
    /// Checks started later than their checkinterval since the last report.
    late: usize,
    last_report: Option<Instant>,
}

impl CheckSlots {
    pub fn new(cap: usize) -> CheckSlots {
        CheckSlots {
            cap: cap.max(1),
            bright: Line::default(),
            dark: Line::default(),
            next_seq: 0,
            in_flight: HashMap::new(),
            dark_in_flight: 0,
            per_virtual: HashMap::new(),
            timed_out: HashSet::new(),
            waited_before_reload: HashMap::new(),
            late: 0,
            last_report: None,
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The most slots dark reals may hold.
    pub fn dark_cap(&self) -> usize {
        (self.cap / 2).max(1)
    }

    /// How many checks are in flight (each holds a slot).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    pub fn waiting(&self) -> usize {
        self.bright.len + self.dark.len
    }

    /// A check of `id` (to `target`) is due; `up` says whether the core has the real up.
    pub fn due(&mut self, now: Instant, id: RealId, probe: Probe, target: SocketAddr, up: bool) {
        let since = self
            .waited_before_reload
            .remove(&target)
            .map_or(now, |t| t.min(now));
        let w = Waiting {
            id,
            probe,
            since,
            target,
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        if !up && self.timed_out.contains(&target) {
            self.dark.push(seq, w);
        } else {
            self.bright.push(seq, w);
        }
    }

    /// The next check to start now, its slot taken, or None when none may. `interval` gives
    /// a real's checkinterval, to count the check late when it waited longer.
    pub fn next(&mut self, now: Instant, interval: impl Fn(RealId) -> Duration) -> Option<Waiting> {
        if self.in_flight.len() >= self.cap {
            return None;
        }
        let (w, dark) = match self.pick(false) {
            Some(w) => (w, false),
            None if self.dark_in_flight < self.dark_cap() => (self.pick(true)?, true),
            None => return None,
        };
        self.in_flight.insert(w.id, dark);
        if dark {
            self.dark_in_flight += 1;
        }
        *self.per_virtual.entry(w.id.virt).or_default() += 1;
        if now.saturating_duration_since(w.since) > interval(w.id) {
            self.late += 1;
        }
        Some(w)
    }

    /// Takes the oldest waiting check of the virtual with the fewest in flight.
    fn pick(&mut self, dark: bool) -> Option<Waiting> {
        let line = if dark {
            &mut self.dark
        } else {
            &mut self.bright
        };
        line.pop(&self.per_virtual)
    }

    /// The check of `id` ended (or never ran): its slot is free.
    pub fn release(&mut self, id: RealId) {
        let Some(dark) = self.in_flight.remove(&id) else {
            return;
        };
        if dark {
            self.dark_in_flight = self.dark_in_flight.saturating_sub(1);
        }
        if let Some(n) = self.per_virtual.get_mut(&id.virt) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_virtual.remove(&id.virt);
            }
        }
    }

    /// What the last check to `target` did: timed out or not.
    pub fn record(&mut self, target: SocketAddr, timed_out: bool) {
        if timed_out {
            self.timed_out.insert(target);
        } else {
            self.timed_out.remove(&target);
        }
    }

    /// Drops every waiting check (the core asks again). Checks in flight keep their slots
    /// until released.
    pub fn drop_waiting(&mut self) {
        drop(self.bright.take());
        drop(self.dark.take());
    }

    /// After a reload: the waiting checks are dropped (when asked again, they wait from when
    /// they first did), the checks in flight that carry on take their reals' new ids
    /// (`renumbered`: before, now; the others must have been released), and only the
    /// records of `targets` (the new config's) are kept.
    pub fn reloaded(&mut self, renumbered: &[(RealId, RealId)], targets: &HashSet<SocketAddr>) {
        let waited: Vec<Waiting> = self.bright.take().chain(self.dark.take()).collect();
        self.waited_before_reload = waited
            .into_iter()
            .filter(|w| targets.contains(&w.target))
            .map(|w| (w.target, w.since))
            .collect();
        let moved: Vec<(RealId, bool)> = renumbered
            .iter()
            .filter_map(|(old, new)| {
                let dark = self.in_flight.get(old).copied()?;
                Some((*new, dark))
            })
            .collect();
        for (old, _) in renumbered {
            self.release(*old);
        }
        for (new, dark) in moved {
            self.in_flight.insert(new, dark);
            if dark {
                self.dark_in_flight += 1;
            }
            *self.per_virtual.entry(new.virt).or_default() += 1;
        }
        self.timed_out.retain(|t| targets.contains(t));
    }

    /// At most once a minute, a line saying how many checks started late since the last.
    pub fn late_report(&mut self, now: Instant) -> Option<String> {
        if self.late == 0
            || self
                .last_report
                .is_some_and(|t| now.saturating_duration_since(t) < LATE_REPORT_EVERY)
        {
            return None;
        }
        let line = format!(
            "{} checks started later than their checkinterval: all {} check slots were busy \
             ({} with reals that did not answer their last check, {} checks waiting)",
            self.late,
            self.cap,
            self.dark_in_flight,
            self.waiting()
        );
        self.late = 0;
        self.last_report = Some(now);
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(virt: usize, real: usize) -> RealId {
        RealId { virt, real }
    }

    /// Each real's check target: 198.18.VIRT.REAL:80.
    fn target(id: RealId) -> SocketAddr {
        let octet = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
        SocketAddr::from(([198, 18, octet(id.virt), octet(id.real)], 80))
    }

    fn due(s: &mut CheckSlots, now: Instant, id: RealId, up: bool) {
        s.due(now, id, Probe::Connect, target(id), up);
    }

    const SECOND: Duration = Duration::from_secs(1);

    fn start_all(s: &mut CheckSlots, now: Instant) -> Vec<RealId> {
        let mut started = Vec::new();
        while let Some(w) = s.next(now, |_| SECOND) {
            started.push(w.id);
        }
        started
    }

    /// Every burst of due checks grew a new queue from nothing and freed it once started:
    /// at N=1000 a 32 KiB one, mapped and unmapped by musl's allocator over a hundred times
    /// a second. The emptied queue is kept for the next burst (of at most `KEEP_WAITING`).
    #[test]
    fn every_burst_of_due_checks_grew_and_freed_a_queue_of_its_own() {
        let bytes = KEEP_WAITING * std::mem::size_of::<(u64, Waiting)>();
        assert!(bytes <= 256 << 10, "{bytes}");
        let t = Instant::now();
        let mut s = CheckSlots::new(MAX_CHECKS);
        for burst in 0..3 {
            for r in 0..300 {
                due(&mut s, t, id(0, r), true);
            }
            let cap = s.bright.by_virtual.get(&0).map_or(0, VecDeque::capacity);
            assert!(cap >= 300, "burst {burst}: {cap}");
            assert_eq!(start_all(&mut s, t).len(), 300);
            assert!(s.bright.by_virtual.is_empty());
            assert_eq!(s.bright.spare.capacity(), cap, "burst {burst}: not kept");
            for r in 0..300 {
                s.release(id(0, r));
            }
        }
    }

    #[test]
    fn the_cap_follows_the_open_files_limit_within_bounds() {
        assert_eq!(cap_for(1024), 896);
        assert_eq!(cap_for(4096), MAX_CHECKS);
        assert_eq!(cap_for(1 << 40), MAX_CHECKS);
        assert_eq!(cap_for(100), MIN_CHECKS);
    }

    #[test]
    fn no_more_than_cap_checks_run_and_a_freed_slot_starts_the_next() {
        let t = Instant::now();
        let mut s = CheckSlots::new(2);
        for r in 0..3 {
            due(&mut s, t, id(0, r), false);
        }
        assert_eq!(start_all(&mut s, t), vec![id(0, 0), id(0, 1)]);
        s.release(id(0, 0));
        assert_eq!(start_all(&mut s, t), vec![id(0, 2)]);
        assert_eq!(s.in_flight(), 2);
    }

    #[test]
    fn dark_reals_hold_at_most_half_the_slots_and_the_others_start_first() {
        let t = Instant::now();
        let mut s = CheckSlots::new(4);
        for r in 0..10 {
            s.record(target(id(0, r)), true);
            due(&mut s, t, id(0, r), false);
        }
        due(&mut s, t, id(0, 10), true);
        due(&mut s, t, id(0, 11), false);
        // The healthy ones first, though due last; then two dark ones, not four.
        assert_eq!(
            start_all(&mut s, t),
            vec![id(0, 10), id(0, 11), id(0, 0), id(0, 1)]
        );
        s.release(id(0, 10));
        s.release(id(0, 11));
        due(&mut s, t, id(0, 10), true);
        // A free slot, but the dark share is full: only the healthy real starts.
        assert_eq!(start_all(&mut s, t), vec![id(0, 10)]);
        assert_eq!(s.waiting(), 8);
    }

    #[test]
    fn a_real_that_timed_out_but_is_still_up_is_not_dark() {
        let t = Instant::now();
        let mut s = CheckSlots::new(2);
        s.record(target(id(0, 0)), true);
        s.record(target(id(0, 1)), true);
        s.record(target(id(0, 2)), true);
        due(&mut s, t, id(0, 0), false);
        due(&mut s, t, id(0, 1), false);
        // Soft failure (failurecount=2): still up, so it runs at once.
        due(&mut s, t, id(0, 2), true);
        assert_eq!(start_all(&mut s, t), vec![id(0, 2), id(0, 0)]);
    }

    #[test]
    fn an_answer_takes_a_real_out_of_the_dark() {
        let t = Instant::now();
        let mut s = CheckSlots::new(2);
        s.record(target(id(0, 0)), true);
        s.record(target(id(0, 1)), true);
        s.record(target(id(0, 0)), false);
        due(&mut s, t, id(0, 1), false);
        due(&mut s, t, id(0, 0), false);
        assert_eq!(start_all(&mut s, t), vec![id(0, 0), id(0, 1)]);
    }

    #[test]
    fn the_virtual_with_fewest_in_flight_goes_first() {
        let t = Instant::now();
        let mut s = CheckSlots::new(3);
        for r in 0..4 {
            due(&mut s, t, id(0, r), false);
        }
        due(&mut s, t, id(1, 0), false);
        assert_eq!(start_all(&mut s, t), vec![id(0, 0), id(1, 0), id(0, 1)]);
    }

    #[test]
    fn between_virtuals_alike_in_flight_the_oldest_check_goes_first() {
        let t = Instant::now();
        let mut s = CheckSlots::new(4);
        due(&mut s, t, id(1, 0), false);
        due(&mut s, t, id(0, 0), false);
        due(&mut s, t, id(2, 0), false);
        due(&mut s, t, id(0, 1), false);
        assert_eq!(
            start_all(&mut s, t),
            vec![id(1, 0), id(0, 0), id(2, 0), id(0, 1)]
        );
    }

    #[test]
    fn a_release_of_a_check_never_started_changes_nothing() {
        let t = Instant::now();
        let mut s = CheckSlots::new(1);
        due(&mut s, t, id(0, 0), false);
        due(&mut s, t, id(0, 1), false);
        assert_eq!(start_all(&mut s, t), vec![id(0, 0)]);
        s.release(id(0, 1));
        assert_eq!(start_all(&mut s, t), vec![]);
        assert_eq!(s.in_flight(), 1);
    }

    #[test]
    fn a_reload_drops_the_waiting_renumbers_the_flying_and_keeps_records_of_its_targets() {
        let t = Instant::now();
        let mut s = CheckSlots::new(4);
        for r in 0..3 {
            s.record(target(id(0, r)), true);
        }
        due(&mut s, t, id(0, 0), false);
        due(&mut s, t, id(0, 1), false);
        due(&mut s, t, id(0, 2), false);
        assert_eq!(start_all(&mut s, t), vec![id(0, 0), id(0, 1)]);
        // The new config: 0:0 is gone (its check ended), 0:1 is now 1:0 and carries on,
        // 0:2 stays with its id.
        s.release(id(0, 0));
        let targets: HashSet<SocketAddr> = [target(id(0, 1)), target(id(0, 2))].into();
        s.reloaded(&[(id(0, 1), id(1, 0))], &targets);
        assert_eq!(s.waiting(), 0);
        assert_eq!(s.in_flight(), 1);
        assert_eq!(s.dark_in_flight, 1);
        assert_eq!(s.per_virtual.get(&1), Some(&1));
        assert_eq!(s.per_virtual.get(&0), None);
        // 0:2 is still dark, the dark share (2) has room for one; 0:0's record is gone.
        // Asked again 5 s on, 0:2 still waits since before the reload: late.
        let later = t + 5 * SECOND;
        due(&mut s, later, id(0, 2), false);
        due(&mut s, later, id(0, 0), false);
        assert!(!s.timed_out.contains(&target(id(0, 0))));
        assert_eq!(start_all(&mut s, later), vec![id(0, 0), id(0, 2)]);
        assert_eq!(s.late, 1);
        s.release(id(1, 0));
        assert_eq!(s.in_flight(), 2);
    }

    #[test]
    fn a_check_that_waited_past_its_interval_is_reported_late_once_a_minute() {
        let t = Instant::now();
        let mut s = CheckSlots::new(1);
        due(&mut s, t, id(0, 0), false);
        due(&mut s, t, id(0, 1), false);
        assert_eq!(start_all(&mut s, t), vec![id(0, 0)]);
        assert_eq!(s.late_report(t), None);
        s.release(id(0, 0));
        let later = t + 2 * SECOND;
        assert_eq!(start_all(&mut s, later), vec![id(0, 1)]);
        let line = s.late_report(later).unwrap_or_default();
        assert!(
            line.starts_with("1 checks started later than their checkinterval"),
            "{line}"
        );
        s.release(id(0, 1));
        due(&mut s, later, id(0, 0), false);
        due(&mut s, later, id(0, 1), false);
        let much_later = later + 5 * SECOND;
        assert_eq!(start_all(&mut s, much_later), vec![id(0, 0)]);
        assert_eq!(s.late_report(much_later), None);
        assert!(s.late_report(later + LATE_REPORT_EVERY).is_some());
    }
}
