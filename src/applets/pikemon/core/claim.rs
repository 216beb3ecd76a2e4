//! The role of each virtual cluster and everything that follows from it: the election with
//! and without a live peer, the one `set_role` every change goes through, the make-before-
//! break release (`Releasing`), the GARP schedule, takeover failures and their retries, the
//! split-brain probe's outcome, conflicts, and which admin orders are refused.

use std::fmt;
use std::time::{Duration, Instant};

use log::{info, warn};

use super::election::{decide, Admin, Side, Verdict, Winner};
use super::node::{Action, Node};
use super::peer::Hint;
use crate::wire::pike::{vc_flags, Role};

/// The longest a yielding master keeps its addresses waiting for the peer's ACTIVE (the
/// supervisor gives a stopping worker 10 s).
const RELEASE_WAIT: Duration = Duration::from_secs(1);

/// How often a failed takeover is tried again.
const TAKEOVER_RETRY: Duration = Duration::from_secs(1);

/// Master's own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mastership {
    /// The addresses are up (the worker said `Active`): the HELLOs say ACTIVE.
    pub active: bool,
    /// Resumed from the status file, not yet compared with a live peer: if the peer took
    /// over meanwhile, the resumed side yields (a restart never steals the role), and sends
    /// no GARPs or frames from the virtual MAC until that is settled.
    pub resumed: bool,
    /// The peer claims Master too and we keep it (a healed partition).
    pub rival: bool,
    /// The takeover failed: the virtual cluster counts as unhealthy, and the takeover is
    /// tried again at this instant (None while a try is under way or none failed).
    pub failed: bool,
    pub retry_at: Option<Instant>,
    /// GARP bursts still to send, and when the next one is due.
    pub garps_left: u32,
    pub next_garp: Option<Instant>,
}

impl Mastership {
    fn new(now: Instant, resumed: bool, garps: u32) -> Mastership {
        Mastership {
            active: false,
            resumed,
            rival: false,
            failed: false,
            retry_at: None,
            garps_left: garps,
            next_garp: Some(now),
        }
    }
}

/// A probe started one probe-span before the peer's dead-interval ends, so that its answer
/// is known when the interval ends (before, the takeover waited dead-interval + probe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlyProbe {
    /// When it started: a fresh frame of the peer after this cancels it.
    pub since: Instant,
    /// It went unanswered: take over the moment the dead-interval ends.
    pub clear: bool,
}

/// The role this node plays for one virtual cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcRole {
    /// Just started without a saved role: listening for a dead-interval.
    Init,
    /// Backup; after an answered probe, no new probe before `probe_after`.
    Backup {
        probe_after: Option<Instant>,
    },
    /// ARP-probing the VIPs before taking over; an answered or interrupted probe returns
    /// to Init (`from_init`) or Backup. `early`: started before the dead-interval ran out.
    Probing {
        from_init: bool,
        early: Option<EarlyProbe>,
    },
    Master(Mastership),
    /// Gave the role to a live peer (the HELLOs say Backup) but keeps the addresses until
    /// the peer's HELLO says ACTIVE, at most until `until`: make-before-break.
    Releasing {
        until: Instant,
    },
}

impl VcRole {
    /// The role as announced on the wire.
    pub fn wire(self) -> Role {
        match self {
            VcRole::Init => Role::Init,
            VcRole::Backup { .. } | VcRole::Probing { .. } | VcRole::Releasing { .. } => {
                Role::Backup
            }
            VcRole::Master(_) => Role::Master,
        }
    }

    /// The name shown in logs and the status.
    pub fn name(self) -> &'static str {
        match self {
            VcRole::Init => "Init",
            VcRole::Backup { .. } => "Backup",
            VcRole::Probing { .. } => "Probing",
            VcRole::Master(m) if m.failed => "Failed",
            VcRole::Master(_) => "Master",
            VcRole::Releasing { .. } => "Releasing",
        }
    }

    /// Master (the addresses are ours, or being taken).
    pub fn is_master(self) -> bool {
        matches!(self, VcRole::Master(_))
    }

    fn same_kind(self, other: VcRole) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }
}

/// Why a role changed: logged, kept in the status, passed to the hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Start,
    Resumed,
    /// A rule of the election (`election::decide`).
    Rule(&'static str),
    PeerTookOverMeanwhile,
    PeerResumedAfterRestart,
    PeerSilent,
    PeerExited,
    CarrierLost,
    /// The probe started because the peer fell silent / its daemon exited / a heart-beat
    /// link lost its carrier.
    ProbingSilent,
    ProbingExited,
    ProbingCarrier,
    ProbeAnswered,
    Goodbye,
    Shutdown,
    Retry,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Start => "start",
            Reason::Resumed => "resumed from status file",
            Reason::Rule(r) => r,
            Reason::PeerTookOverMeanwhile => "the peer took over while we were away",
            Reason::PeerResumedAfterRestart => {
                "the peer resumed after a restart; we took over meanwhile"
            }
            Reason::PeerSilent => "peer silent, probe unanswered",
            Reason::PeerExited => "peer's daemon exited, probe unanswered",
            Reason::ProbingSilent => "peer silent",
            Reason::ProbingExited => "peer's daemon exited",
            Reason::CarrierLost => "heart-beat carrier lost, probe unanswered",
            Reason::ProbingCarrier => "heart-beat carrier lost",
            Reason::ProbeAnswered => "VIP answered from the virtual MAC elsewhere",
            Reason::Goodbye => "peer said GOODBYE",
            Reason::Shutdown => "shutdown",
            Reason::Retry => "takeover retried",
        })
    }
}

/// Why an admin order is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `drop` with no healthy peer alive: nobody would serve the addresses.
    NoHealthyPeer,
    /// `take` on a Down node while the peer is Up: health beats admin.
    DownWhilePeerUp,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NoHealthyPeer => "no healthy peer to hand over to",
            Refusal::DownWhilePeerUp => "this node is Down and the peer is Up",
        })
    }
}

impl Node {
    /// The initial actions: a role resumed as Master takes its addresses (they are still up
    /// after a worker restart), every other virtual cluster makes sure its are down.
    pub fn start(&self) -> Vec<Action> {
        (0..self.vcs.len())
            .map(|vc| match self.vcs[vc].role {
                VcRole::Master(_) => Action::TakeOver {
                    vc,
                    reason: Reason::Resumed,
                    hook: true,
                },
                _ => Action::Release {
                    vc,
                    reason: Reason::Start,
                    hook: false,
                },
            })
            .collect()
    }

    /// Whether this node claims virtual cluster `i` (answers ARP for its VIPs).
    pub fn claims(&self, i: usize) -> bool {
        self.vcs.get(i).is_some_and(|v| v.role.is_master())
    }

    /// Whether frames on `i`'s controlled interfaces go out from the virtual MAC: Master and
    /// settled (not only resumed), so the switches are never pulled to a side about to yield.
    pub fn sends_from_vmac(&self, i: usize) -> bool {
        matches!(self.vcs.get(i).map(|v| v.role), Some(VcRole::Master(m)) if !m.resumed)
    }

    /// Whether a release is still waiting for the peer's addresses.
    pub fn releasing(&self) -> bool {
        self.vcs
            .iter()
            .any(|v| matches!(v.role, VcRole::Releasing { .. }))
    }

    /// Whether the peer announces virtual cluster `i` as Master with its addresses up.
    pub fn peer_active(&self, i: usize) -> bool {
        let Some(s) = self.settings.vcs.get(i) else {
            return false;
        };
        self.peer
            .as_ref()
            .and_then(|p| p.vc(s.vcid))
            .is_some_and(|v| v.role == Role::Master && v.has(vc_flags::ACTIVE))
    }

    /// Why `order` for virtual cluster `i` must be refused now, if it must.
    pub fn admin_refusal(&self, now: Instant, i: usize, order: Admin) -> Option<Refusal> {
        if i >= self.vcs.len() {
            return None;
        }
        let peer_up = self.peer_alive(now, Some(i)) && self.peer_side(i).is_some_and(|p| p.up);
        let up = self.side(i).up;
        match order {
            Admin::Drop if !peer_up && up => Some(Refusal::NoHealthyPeer),
            Admin::Take if !up && peer_up => Some(Refusal::DownWhilePeerUp),
            _ => None,
        }
    }

    pub(super) fn side(&self, i: usize) -> Side {
        let v = &self.vcs[i];
        let s = &self.settings.vcs[i];
        let failed = matches!(v.role, VcRole::Master(m) if m.failed);
        Side {
            node_id: self.settings.node_id,
            up: v.up && !failed,
            admin: v.admin,
            preferred: s.preferred,
            master: v.role.is_master(),
            priority: s.priority,
            fail_count: v.fail_count,
        }
    }

    pub(super) fn peer_side(&self, i: usize) -> Option<Side> {
        let p = self.peer.as_ref()?;
        let s = p.vc(self.settings.vcs[i].vcid)?;
        let admin = if s.has(vc_flags::ADMIN_TAKE) {
            Admin::Take
        } else if s.has(vc_flags::ADMIN_DROP) {
            Admin::Drop
        } else {
            Admin::None
        };
        Some(Side {
            node_id: p.node_id,
            up: s.has(vc_flags::HEALTH_UP),
            admin,
            preferred: s.has(vc_flags::PREFERRED),
            master: s.role == Role::Master && !s.has(vc_flags::RELEASING),
            priority: s.priority,
            fail_count: s.fail_count,
        })
    }

    pub(super) fn elect(&mut self, now: Instant, out: &mut Vec<Action>) {
        for i in 0..self.vcs.len() {
            let alive = self.peer_alive(now, Some(i));
            let back = alive && !self.vcs[i].peer_was_alive;
            self.vcs[i].peer_was_alive = alive;
            if alive && self.early_probe(now, i, out) {
                continue;
            }
            match (alive, self.peer_side(i)) {
                (true, Some(peer)) => self.elect_with_peer(now, i, &peer, back, out),
                _ => self.elect_alone(now, i, out),
            }
        }
    }

    /// The peer's dead-interval for virtual cluster `i` ends within one probe-span (it sent
    /// nothing for a while): probe now, so that the answer is in when the interval ends.
    /// True while such a probe runs and nothing newer was heard (the election waits).
    fn early_probe(&mut self, now: Instant, i: usize, out: &mut Vec<Action>) -> bool {
        let Some(p) = &self.peer else { return false };
        let Some(last) = p.confirmed_at else {
            return false;
        };
        match self.vcs[i].role {
            // Heard again since it started: the peer lives; the election puts us back.
            VcRole::Probing { early: Some(e), .. } => last <= e.since,
            VcRole::Backup { probe_after } => {
                let peer_master = self.peer_side(i).is_some_and(|s| s.master);
                let start = (last + self.dead_for(Some(i))).checked_sub(self.settings.probe_span());
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
                };
                self.set_role(now, i, probing, Reason::ProbingSilent, out);
                out.push(Action::Probe { vc: i });
                true
            }
            _ => false,
        }
    }

    fn elect_alone(&mut self, now: Instant, i: usize, out: &mut Vec<Action>) {
        self.vcs[i].preempt_since = None;
        let departed = self.peer.as_ref().is_some_and(|p| p.departed);
        let hint = self
            .peer
            .as_ref()
            .filter(|p| p.exited.is_some())
            .map(|p| p.hint);
        match self.vcs[i].role {
            // An early probe went unanswered and the dead-interval is over now.
            VcRole::Probing {
                early: Some(EarlyProbe { clear: true, .. }),
                ..
            } => {
                let reason = match hint {
                    Some(Hint::DaemonExited) => Reason::PeerExited,
                    Some(Hint::CarrierLost) => Reason::CarrierLost,
                    None => Reason::PeerSilent,
                };
                self.set_role(now, i, self.master_role(now, false), reason, out);
            }
            VcRole::Master(_) | VcRole::Probing { .. } => {}
            // The peer we were handing over to is gone before its addresses came up: the
            // addresses never went, keep serving.
            VcRole::Releasing { .. } => {
                let reason = if departed {
                    Reason::Goodbye
                } else {
                    Reason::PeerSilent
                };
                self.set_role(now, i, self.master_role(now, false), reason, out);
            }
            VcRole::Init if now < self.started + self.dead_for(Some(i)) && !departed => {}
            VcRole::Init | VcRole::Backup { .. } if departed => {
                // An authentic, fresh GOODBYE: the peer is gone, no need to probe.
                self.set_role(now, i, self.master_role(now, false), Reason::Goodbye, out);
            }
            VcRole::Backup {
                probe_after: Some(t),
            } if now < t => {}
            role @ (VcRole::Init | VcRole::Backup { .. }) => {
                let from_init = role == VcRole::Init;
                let reason = match hint {
                    Some(Hint::DaemonExited) => Reason::ProbingExited,
                    Some(Hint::CarrierLost) => Reason::ProbingCarrier,
                    None => Reason::ProbingSilent,
                };
                info!(
                    "vc {}: peer silent, ARP-probing the VIPs",
                    self.settings.vcs[i].name
                );
                let probing = VcRole::Probing {
                    from_init,
                    early: None,
                };
                self.set_role(now, i, probing, reason, out);
                out.push(Action::Probe { vc: i });
            }
        }
    }

    /// `back`: the peer was not alive at the last election (a start, a healed partition).
    fn elect_with_peer(
        &mut self,
        now: Instant,
        i: usize,
        peer: &Side,
        back: bool,
        out: &mut Vec<Action>,
    ) {
        let me = self.side(i);
        let s = &self.settings.vcs[i];
        // The master side times the preempt-delay of a healthy preferred peer.
        let preempt_watch = s.preemptive && peer.preferred && !me.preferred && peer.up;
        if preempt_watch {
            self.vcs[i].preempt_since.get_or_insert(now);
        } else {
            self.vcs[i].preempt_since = None;
        }
        let preempt_due = me.preferred
            || self.vcs[i]
                .preempt_since
                .is_some_and(|t| now >= t + s.preempt_delay);
        // The comparison settles a resumed role: from here on it is an ordinary Master.
        let resumed = match &mut self.vcs[i].role {
            VcRole::Master(m) => std::mem::take(&mut m.resumed),
            _ => false,
        };
        let peer_resumed = self
            .peer
            .as_ref()
            .and_then(|p| p.vc(s.vcid))
            .is_some_and(|v| v.has(vc_flags::RESUMED));
        // A restart never steals the role: both sides apply the same rule, whichever of
        // them compares first.
        let (winner, reason) = if resumed && !peer_resumed && me.master && peer.master {
            (Winner::Peer, Reason::PeerTookOverMeanwhile)
        } else if peer_resumed && !resumed && me.master && peer.master {
            (Winner::Me, Reason::PeerResumedAfterRestart)
        } else {
            let Verdict { winner, reason } = decide(&me, peer, s.preemptive, preempt_due);
            (winner, Reason::Rule(reason))
        };
        let role = self.vcs[i].role;
        if let VcRole::Master(m) = &mut self.vcs[i].role {
            let keep = winner == Winner::Me;
            let rival = keep && peer.master;
            let first_rival = rival && !m.rival;
            m.rival = rival;
            if first_rival {
                // Two Masters (a healed partition): the peer yields on our next frame.
                info!(
                    "vc {}: the peer claims Master too; keeping the role ({reason})",
                    self.settings.vcs[i].name
                );
                self.next_hello = now;
            }
            // A peer heard again after a partition may have been Master meanwhile, and may
            // have yielded before we heard it claim: either way GARPs point the switches
            // and hosts back at us at once (not for a role only resumed, whose GARPs wait
            // for the election to settle).
            if (first_rival || (keep && back)) && !resumed {
                m.garps_left = self.settings.garp_repeat;
                m.next_garp = Some(now);
            }
        }
        match (winner, role) {
            (Winner::Me, VcRole::Master(_)) => {}
            // The peer still claims: it yields on our frame, then we take over.
            (Winner::Me, _) if peer.master => {}
            (Winner::Me, _) => self.set_role(now, i, self.master_role(now, false), reason, out),
            (Winner::Peer, VcRole::Backup { .. } | VcRole::Releasing { .. }) => {}
            (Winner::Peer, _) => {
                let backup = VcRole::Backup { probe_after: None };
                self.set_role(now, i, backup, reason, out);
            }
        }
    }

    /// A fresh Master role (GARP bursts from now).
    pub(super) fn master_role(&self, now: Instant, resumed: bool) -> VcRole {
        VcRole::Master(Mastership::new(now, resumed, self.settings.garp_repeat))
    }

    /// The one place a role changes: logs `old => new (reason)`, says what the worker must
    /// carry out, and sends a frame at once so the peer learns within one frame. A Master
    /// that yields to a live peer whose addresses are not up yet keeps its own: Releasing.
    pub(super) fn set_role(
        &mut self,
        now: Instant,
        i: usize,
        role: VcRole,
        reason: Reason,
        out: &mut Vec<Action>,
    ) {
        let old = self.vcs[i].role;
        if old.same_kind(role) {
            return;
        }
        let role = match (old, role) {
            (VcRole::Master(_), VcRole::Backup { .. })
                if self.peer_alive(now, Some(i)) && !self.peer_active(i) =>
            {
                VcRole::Releasing {
                    until: now + self.settings.dead.min(RELEASE_WAIT),
                }
            }
            _ => role,
        };
        let name = &self.settings.vcs[i].name;
        info!("vc {name}: {} => {} ({reason})", old.name(), role.name());
        let v = &mut self.vcs[i];
        v.role = role;
        v.since = now;
        v.reason = reason;
        self.next_hello = now;
        if old.wire() != role.wire() {
            self.counters.transitions += 1;
        }
        match (old, role) {
            (VcRole::Releasing { .. }, VcRole::Master(_)) => {
                // The addresses never went and Backup was never announced to the hooks.
                out.push(Action::TakeOver {
                    vc: i,
                    reason,
                    hook: false,
                });
            }
            (_, VcRole::Master(_)) => out.push(Action::TakeOver {
                vc: i,
                reason,
                hook: true,
            }),
            (VcRole::Master(_), VcRole::Releasing { .. }) => {
                info!("vc {name}: Backup ({reason}); addresses kept until the peer's are up");
            }
            (
                VcRole::Master(_)
                | VcRole::Releasing { .. }
                | VcRole::Init
                | VcRole::Probing {
                    from_init: true, ..
                },
                VcRole::Backup { .. },
            ) => out.push(Action::Release {
                vc: i,
                reason,
                hook: true,
            }),
            // Backup => Probing => Backup: nothing to carry out.
            _ => {}
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
            warn!(
                "vc {}: VIP answered from the virtual MAC elsewhere; staying Backup",
                self.settings.vcs[vc].name
            );
            // An early probe answered while the peer still counts as alive holds off only
            // until its dead-interval ends: if it dies now, the next probe must not wait
            // another dead-interval.
            let deadline = self
                .peer
                .as_ref()
                .and_then(|p| p.confirmed_at)
                .map(|t| t + self.dead_for(Some(vc)));
            let probe_after = match (alive, deadline) {
                (true, Some(t)) => Some(t),
                _ => Some(now + self.settings.dead),
            };
            let backup = VcRole::Backup { probe_after };
            self.set_role(now, vc, backup, Reason::ProbeAnswered, out);
        } else if let (Some(e), true) = (early, alive) {
            // Unanswered before the interval ran out: the takeover waits for its end.
            if let VcRole::Probing { early, .. } = &mut self.vcs[vc].role {
                *early = Some(EarlyProbe { clear: true, ..e });
            }
        } else {
            let hint = self
                .peer
                .as_ref()
                .filter(|p| p.exited.is_some())
                .map(|p| p.hint);
            let reason = match hint {
                Some(Hint::DaemonExited) => Reason::PeerExited,
                Some(Hint::CarrierLost) => Reason::CarrierLost,
                None => Reason::PeerSilent,
            };
            self.set_role(now, vc, self.master_role(now, false), reason, out);
        }
    }

    /// Our virtual MAC or VIP was seen elsewhere: anyone on the LAN can send such frames,
    /// so one reaction (log, HELLO, GARPs) per hello-interval, however many arrive.
    pub(super) fn conflict(&mut self, now: Instant, vc: usize) {
        let hello = self.settings.hello;
        let garps = self.settings.garp_repeat;
        let Some(v) = self.vcs.get_mut(vc) else {
            return;
        };
        if v.last_conflict.is_some_and(|t| now < t + hello) {
            return;
        }
        v.last_conflict = Some(now);
        if let VcRole::Master(m) = &mut v.role {
            warn!(
                "vc {}: virtual MAC seen elsewhere; re-running the election",
                self.settings.vcs[vc].name
            );
            self.next_hello = now;
            // A role only resumed from the status file is most likely the one the peer
            // took over meanwhile: no GARPs to pull the traffic back before the HELLOs have
            // settled it.
            if !m.resumed {
                m.garps_left = garps;
                m.next_garp = Some(now);
            }
        }
    }

    /// The worker has the addresses of `vc` up (`ok`) or could not bring them up.
    pub(super) fn took_over(&mut self, now: Instant, vc: usize, ok: bool) {
        let Some(VcRole::Master(m)) = self.vcs.get_mut(vc).map(|v| &mut v.role) else {
            return;
        };
        if ok {
            if m.failed {
                info!(
                    "vc {}: takeover succeeded on retry",
                    self.settings.vcs[vc].name
                );
            }
            if !m.active || m.failed {
                self.next_hello = now;
            }
            m.active = true;
            m.failed = false;
            m.retry_at = None;
        } else {
            // Unhealthy until it works: a healthy peer takes the virtual cluster over.
            if !m.failed {
                self.next_hello = now;
            }
            m.active = false;
            m.failed = true;
            m.retry_at = Some(now + TAKEOVER_RETRY);
        }
    }

    /// Everything timed per role: GARP bursts, takeover retries, releases that waited for
    /// the peer's addresses.
    pub(super) fn role_timers(&mut self, now: Instant, out: &mut Vec<Action>) {
        let listening = now < self.started + self.settings.dead;
        for i in 0..self.vcs.len() {
            let peer_alive = self.peer_alive(now, Some(i));
            let peer_active = self.peer_active(i);
            match &mut self.vcs[i].role {
                VcRole::Master(m) => {
                    if m.retry_at.is_some_and(|t| now >= t) {
                        m.retry_at = None;
                        out.push(Action::TakeOver {
                            vc: i,
                            reason: Reason::Retry,
                            hook: false,
                        });
                    }
                    let due = m.next_garp.is_some_and(|t| now >= t) && m.active;
                    if !due {
                        continue;
                    }
                    // A role resumed by a restarted worker: the addresses never went and the
                    // switches still point here, unless the peer took over meanwhile — which
                    // its HELLOs tell within a dead-interval, and the election settles.
                    if m.resumed && (listening || peer_alive) {
                        m.next_garp = Some(now + self.settings.hello);
                        continue;
                    }
                    out.push(Action::Garp { vc: i });
                    m.garps_left = m.garps_left.saturating_sub(1);
                    m.next_garp = if m.garps_left > 0 {
                        Some(now + self.settings.garp_interval)
                    } else if !self.settings.garp_keepalive.is_zero() {
                        m.garps_left = 1;
                        Some(now + self.settings.garp_keepalive)
                    } else {
                        None
                    };
                }
                VcRole::Releasing { until } => {
                    if !peer_active && now < *until {
                        continue;
                    }
                    let name = &self.settings.vcs[i].name;
                    if peer_active {
                        info!("vc {name}: the peer's addresses are up; ours released");
                    } else {
                        warn!("vc {name}: the peer did not report its addresses up; ours released");
                    }
                    let reason = self.vcs[i].reason;
                    let backup = VcRole::Backup { probe_after: None };
                    self.set_role(now, i, backup, reason, out);
                }
                _ => {}
            }
        }
    }

    /// When an early probe is due (one probe-span before the peer's dead-interval ends).
    fn next_early_probe(&self) -> Option<Instant> {
        let p = self
            .peer
            .as_ref()
            .filter(|p| !p.departed && p.exited.is_none())?;
        if self.shutting_down {
            return None;
        }
        let last = p.confirmed_at?;
        (0..self.vcs.len())
            .filter(|&i| matches!(self.vcs[i].role, VcRole::Backup { .. }))
            .filter_map(|i| (last + self.dead_for(Some(i))).checked_sub(self.settings.probe_span()))
            .min()
    }

    /// The next moment `role_timers` has something to do.
    pub(super) fn next_role_deadline(&self) -> Option<Instant> {
        self.vcs
            .iter()
            .filter_map(|v| match v.role {
                VcRole::Master(m) => match (m.retry_at, m.next_garp.filter(|_| m.active)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
                VcRole::Releasing { until } => Some(until),
                _ => None,
            })
            .chain(self.next_early_probe())
            .min()
    }
}
