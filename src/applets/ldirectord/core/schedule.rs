//! When each real server is checked: the next deadline, the checks a tick starts (at most
//! one in flight per real, each real on its own timer, B14), which probe it runs, and the
//! return of a result to the real that asked for it. checktype=on reals are up and off
//! reals down at their first tick, without a probe.

use std::time::{Duration, Instant};

use super::{Action, Core, Outcome, Probe, RealId, State};
use crate::applets::ldirectord::config::{CheckType, Protocol};

impl Core {
    /// When `handle(_, Tick)` has something to do next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut best: Option<Instant> = None;
        for (vi, vs) in self.virtuals.iter().enumerate() {
            let v = &self.cfg.virtuals[vi];
            for rs in &vs.reals {
                // An off real is due once, to be taken down.
                let due = match v.checktype {
                    CheckType::Off => rs.state != State::Down,
                    _ => !rs.running,
                };
                if due {
                    best = Some(best.map_or(rs.next_due, |b| b.min(rs.next_due)));
                }
                if let (Some(last), true) = (rs.last_alert, v.emailalertfreq > 0) {
                    let at = last + Duration::from_secs(u64::from(v.emailalertfreq));
                    best = Some(best.map_or(at, |b| b.min(at)));
                }
            }
        }
        best
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

    pub(super) fn tick(&mut self, now: Instant, actions: &mut Vec<Action>) {
        for vi in 0..self.virtuals.len() {
            for ri in 0..self.virtuals[vi].reals.len() {
                let id = RealId { virt: vi, real: ri };
                let rs = &self.virtuals[vi].reals[ri];
                if rs.running || rs.next_due > now {
                    continue;
                }
                if self.cfg.virtuals[vi].checktype == CheckType::Off {
                    // checktype=off: down from the start, never probed, as the original's
                    // start-up leaves it; left "not checked yet", it kept the fallback off.
                    if rs.state != State::Down {
                        self.set_down(now, id, "checktype=off", actions);
                    }
                    continue;
                }
                if self.cfg.virtuals[vi].checktype == CheckType::On {
                    // checktype=on: up every cycle without any network activity.
                    self.virtuals[vi].reals[ri].next_due = self.interval_from(vi, now);
                    self.apply(now, id, Outcome::Up("checktype=on".into()), actions);
                    continue;
                }
                if let Some(p) = self.probe_for(id) {
                    let rs = &mut self.virtuals[vi].reals[ri];
                    rs.running = true;
                    actions.push(Action::Start(id, p));
                }
            }
            self.resend_alerts(vi, now, actions);
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
        self.apply(now, id, outcome, actions);
    }
}
