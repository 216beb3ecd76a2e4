//! When each real server is checked: the next deadline, the checks a tick starts (at most
//! one in flight per real, each real on its own timer, B14), which probe it runs, and the
//! return of a result to the real that asked for it. checktype=on reals are up and off
//! reals down at their first tick, without a probe.
//!
//! The moments are kept in a min-heap, so the next deadline and a tick cost O(log N) in the
//! number of reals. Scanning every real for them on every wake-up of the loop (a few
//! thousand a second at N=1000) was the daemon's own biggest cost after the kernel's.
//! An entry is checked against the real's state when it comes out: one left behind by a
//! change (a real that came up cancels its alert reminder) is dropped, and `settle` keeps
//! the top always a live entry, so `next_deadline` is exact.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use super::{Action, Core, Outcome, Probe, RealId, State, Wake};
use crate::applets::ldirectord::config::{CheckType, Protocol};

impl Core {
    /// When `handle(_, Tick)` has something to do next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.due.peek().map(|Reverse((at, _))| *at)
    }

    /// Puts `wake` on the heap at `at`.
    pub(super) fn wake_at(&mut self, at: Instant, wake: Wake) {
        self.due.push(Reverse((at, wake)));
    }

    /// Whether `wake` at `at` still stands: the real's check is due then, or its reminder is.
    fn stands(&self, at: Instant, wake: Wake) -> bool {
        let (Wake::Check(id) | Wake::Alert(id)) = wake;
        let (Some(v), Some(rs)) = (
            self.cfg.virtuals.get(id.virt),
            self.virtuals
                .get(id.virt)
                .and_then(|vs| vs.reals.get(id.real)),
        ) else {
            return false;
        };
        match wake {
            // An off real is due once, to be taken down.
            Wake::Check(_) if v.checktype == CheckType::Off => {
                rs.state != State::Down && rs.next_due == at
            }
            Wake::Check(_) => !rs.running && rs.next_due == at,
            Wake::Alert(_) => {
                rs.state == State::Down
                    && v.emailalertfreq > 0
                    && rs
                        .last_alert
                        .map(|last| last + alert_period(v.emailalertfreq))
                        == Some(at)
            }
        }
    }

    /// Drops entries that no longer stand from the top of the heap.
    pub(super) fn settle(&mut self) {
        while let Some(&Reverse((at, wake))) = self.due.peek() {
            if self.stands(at, wake) {
                return;
            }
            self.due.pop();
        }
    }

    /// The heap made again from every real's state (at start and after a reload).
    pub(super) fn rebuild_schedule(&mut self) {
        self.due.clear();
        let mut entries = Vec::new();
        for (vi, vs) in self.virtuals.iter().enumerate() {
            let freq = self.cfg.virtuals[vi].emailalertfreq;
            for (ri, rs) in vs.reals.iter().enumerate() {
                let id = RealId { virt: vi, real: ri };
                // A check in flight (kept by a reload) has its entry pushed when it is done.
                if !rs.running {
                    entries.push(Reverse((rs.next_due, Wake::Check(id))));
                }
                if let (Some(last), true) = (rs.last_alert, freq > 0) {
                    entries.push(Reverse((last + alert_period(freq), Wake::Alert(id))));
                }
            }
        }
        self.due = entries.into();
        self.settle();
    }

    fn probe_for(&self, id: RealId) -> Option<Probe> {
        let v = &self.cfg.virtuals[id.virt];
        let rs = &self.virtuals[id.virt].reals[id.real];
        let udp = v.protocol == Protocol::Udp;
        match v.checktype {
            CheckType::Off => None,
            CheckType::On => Some(Probe::Negotiate),
            CheckType::Negotiate => Some(Probe::Negotiate),
            CheckType::Connect if udp => Some(Probe::Ping),
            CheckType::Connect => Some(Probe::Connect),
            CheckType::Ping => Some(Probe::Ping),
            CheckType::External => Some(Probe::External),
            CheckType::Combined(n) if rs.connects >= n => Some(Probe::Negotiate),
            CheckType::Combined(_) => Some(Probe::Connect),
        }
    }

    /// Starts what is due at `now`, in the order it fell due (reals of one moment in config
    /// order, their checks before the reminders).
    pub(super) fn tick(&mut self, now: Instant, actions: &mut Vec<Action>) {
        while let Some(&Reverse((at, wake))) = self.due.peek() {
            if at > now {
                break;
            }
            self.due.pop();
            if !self.stands(at, wake) {
                continue;
            }
            match wake {
                Wake::Check(id) => self.check_due(now, id, actions),
                Wake::Alert(id) => self.resend_alert(now, id, actions),
            }
        }
        self.settle();
    }

    fn check_due(&mut self, now: Instant, id: RealId, actions: &mut Vec<Action>) {
        match self.cfg.virtuals[id.virt].checktype {
            CheckType::Off => {
                // checktype=off: down from the start, never probed, as the original's
                // start-up leaves it; left "not checked yet", it kept the fallback off.
                self.set_down(now, id, "checktype=off", actions);
                self.judged(id);
            }
            CheckType::On => {
                // checktype=on: up every cycle without any network activity.
                let next = self.interval_from(id.virt, now);
                self.virtuals[id.virt].reals[id.real].next_due = next;
                self.wake_at(next, Wake::Check(id));
                self.apply(now, id, Outcome::Up("checktype=on".into()), actions);
                self.judged(id);
            }
            _ => {
                if let Some(p) = self.probe_for(id) {
                    self.virtuals[id.virt].reals[id.real].running = true;
                    actions.push(Action::Start(id, p));
                }
            }
        }
    }

    fn interval_from(&self, vi: usize, now: Instant) -> Instant {
        now + Duration::from_secs(u64::from(self.cfg.virtuals[vi].checkinterval.max(1)))
    }

    pub(super) fn done(
        &mut self,
        now: Instant,
        id: RealId,
        outcome: Outcome,
        actions: &mut Vec<Action>,
    ) {
        let next = self.interval_from(id.virt, now);
        let Some(rs) = self
            .virtuals
            .get_mut(id.virt)
            .and_then(|v| v.reals.get_mut(id.real))
        else {
            return;
        };
        if !rs.running {
            // A result from before a reload replaced this real.
            return;
        }
        rs.running = false;
        rs.next_due = next;
        self.wake_at(next, Wake::Check(id));
        self.apply(now, id, outcome, actions);
        self.judged(id);
    }
}

/// How often an "Inaccessible" reminder goes out (emailalertfreq, seconds).
pub(super) fn alert_period(freq: u32) -> Duration {
    Duration::from_secs(u64::from(freq))
}
