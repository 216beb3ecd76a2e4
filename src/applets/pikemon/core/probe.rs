//! The split-brain probe as the core sees it: started when the peer falls silent, or a
//! little more than one probe-span before its dead-interval ends (an early probe, so that the answer is in when the
//! interval ends); its outcome moves the role.

use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::node::{Action, Node};
use super::peer::Hint;
use super::role::{EarlyProbe, Reason, VcRole};

/// The longest spacing of a probe's requests after a hint (3 tries: 30 ms to "unanswered").
pub const HINT_PROBE_INTERVAL: Duration = Duration::from_millis(10);

impl Node {
    /// The peer's dead-interval for virtual cluster `i` ends within one probe-span (it sent
    /// nothing for a while): probe now, so that the answer is in when the interval ends.
    /// True while such a probe runs and nothing newer was heard (the election waits).
    pub(super) fn early_probe(&mut self, now: Instant, i: usize, out: &mut Vec<Action>) -> bool {
        let Some(p) = &self.peer else { return false };
        let Some(last) = p.confirmed_at else {
            return false;
        };
        match self.vcs[i].role {
            // Heard again since it started: the peer lives; the election puts us back.
            VcRole::Probing { early: Some(e), .. } => last <= e.since,
            VcRole::Backup { probe_after } => {
                let peer_master = self.peer_side(i).is_some_and(|s| s.master);
                let start = self
                    .peer_deadline(i)
                    .and_then(|t| t.checked_sub(self.settings.probe_lead()));
                let due = start.is_some_and(|t| now >= t);
                if !peer_master || !due || probe_after.is_some_and(|t| now < t) || p.departed {
                    return false;
                }
                info!(
                    "vc {}: peer silent for a while, ARP-probing the VIPs before its dead-interval ends",
                    self.settings.vcs[i].name
                );
                let early = Some(EarlyProbe {
                    since: now,
                    clear: false,
                });
                let probing = VcRole::Probing {
                    from_init: false,
                    early,
                    precommit: None,
                };
                self.set_role(now, i, probing, Reason::ProbingSilent, out);
                out.push(Action::Probe { vc: i });
                true
            }
            _ => false,
        }
    }

    /// The ARP probe of virtual cluster `vc` finished.
    pub(super) fn probe_done(
        &mut self,
        now: Instant,
        vc: usize,
        answered: bool,
        out: &mut Vec<Action>,
    ) {
        let Some(VcRole::Probing { early, .. }) = self.vcs.get(vc).map(|v| v.role) else {
            return;
        };
        let alive = self.peer_alive(now, Some(vc));
        if answered {
            let name = &self.settings.vcs[vc].name;
            let heard = self.peer.as_ref().and_then(|p| p.confirmed_at);
            let rounds = match self.vcs[vc].silent_probes {
                (since, n) if since == heard => n.saturating_add(1),
                _ => 1,
            };
            if rounds == 1 {
                warn!("vc {name}: VIP answered from the virtual MAC elsewhere; staying Backup");
            } else if rounds.is_power_of_two() {
                warn!(
                    "vc {name}: peer still silent and its VIP still answered from the virtual \
                     MAC: {rounds} probes in a row; staying Backup (repeats logged at debug \
                     level)"
                );
            } else {
                debug!("vc {name}: VIP answered from the virtual MAC elsewhere; staying Backup");
            }
            // An early probe answered while the peer still counts as alive holds off only
            // until its dead-interval ends: if it dies now, the next probe must not wait
            // another dead-interval.
            let probe_after = match (alive, self.peer_deadline(vc)) {
                (true, Some(t)) => Some(t),
                _ => Some(now + self.settings.dead),
            };
            let backup = VcRole::Backup { probe_after };
            self.set_role(now, vc, backup, Reason::ProbeAnswered, out);
            self.vcs[vc].silent_probes = (heard, rounds);
        } else if let (Some(e), true) = (early, alive) {
            // Unanswered before the interval ran out: the takeover waits for its end.
            if let VcRole::Probing { early, .. } = &mut self.vcs[vc].role {
                *early = Some(EarlyProbe { clear: true, ..e });
            }
        } else {
            let reason = self.unanswered_reason();
            self.set_role(now, vc, self.master_role(now, false), reason, out);
        }
    }

    /// The spacing of the probe's ARP requests starting now. After a hint (the peer's
    /// daemon exited, a heart-beat cable lost its carrier) at most `HINT_PROBE_INTERVAL`
    /// whatever the hello: a live master's worker answers the probe at once (from its tap,
    /// and with `realtime` under any load), and the machine death that drops a direct
    /// cable's carrier is taken over in tens of milliseconds even at 1 s hellos.
    pub fn probe_interval(&self) -> Duration {
        let normal = self.settings.probe_interval();
        match self.silence_hint() {
            Some(_) => normal.min(HINT_PROBE_INTERVAL),
            None => normal,
        }
    }

    /// What made the peer count as silent before its dead-interval ran out, if anything.
    pub(super) fn silence_hint(&self) -> Option<Hint> {
        self.peer
            .as_ref()
            .filter(|p| p.exited.is_some())
            .map(|p| p.hint)
    }

    /// The reason of a takeover after an unanswered probe.
    pub(super) fn unanswered_reason(&self) -> Reason {
        match self.silence_hint() {
            Some(Hint::DaemonExited) => Reason::PeerExited,
            Some(Hint::CarrierLost) => Reason::CarrierLost,
            None => Reason::PeerSilent,
        }
    }

    /// When the peer's dead-interval for virtual cluster `i` ends, counted from its last
    /// fresh frame.
    pub(super) fn peer_deadline(&self, i: usize) -> Option<Instant> {
        let last = self.peer.as_ref()?.confirmed_at?;
        Some(last + self.dead_for(Some(i)))
    }

    /// When an early probe is due (`Settings::probe_lead` before the peer's dead-interval
    /// ends).
    pub(super) fn next_early_probe(&self) -> Option<Instant> {
        let quiet = self
            .peer
            .as_ref()
            .is_none_or(|p| p.departed || p.exited.is_some());
        if quiet || self.shutting_down {
            return None;
        }
        (0..self.vcs.len())
            .filter(|&i| matches!(self.vcs[i].role, VcRole::Backup { .. }))
            .filter_map(|i| {
                self.peer_deadline(i)?
                    .checked_sub(self.settings.probe_lead())
            })
            .min()
    }
}
