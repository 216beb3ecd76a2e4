//! What follows from the role of each virtual cluster: the election with and without a live
//! peer, the one `set_role` every change goes through, the make-before-break release
//! (`Releasing`), the GARP schedule, takeover failures and their retries, conflicts, and which
//! admin orders are refused. The role types live in `role`, the probe in `probe`.

use std::time::{Duration, Instant};

use log::{info, warn};

use super::election::{decide, Admin, Side, Verdict, Winner};
use super::node::{Action, Node};
use super::peer::Hint;
use super::role::{EarlyProbe, Mastership, Reason, Refusal, VcRole};
use super::state_sync::TakeoverOrder;
use crate::wire::pike::{vc_flags, vc_more_flags, Role};

/// The longest a yielding master keeps its addresses waiting for the peer's ACTIVE (the
/// supervisor gives a stopping worker 10 s), before the peer's commit (`release_wait`).
const RELEASE_WAIT: Duration = Duration::from_secs(1);

/// The longest a yielding master waits for the peer's ACTIVE in all, the peer's commit
/// included: within the 8 s a stopping worker gives its release, hooks and `-t -n`.
const RELEASE_WAIT_MAX: Duration = Duration::from_secs(5);

/// How often a failed takeover is tried again.
const TAKEOVER_RETRY: Duration = Duration::from_secs(1);

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

    /// Whether frames on `i`'s controlled interfaces go out from the virtual MAC: Master,
    /// settled (not only resumed) and with its addresses up, so the switches are never pulled
    /// to a side about to yield, nor to one that cannot answer yet (its HELLO at the decision
    /// moved the switch while the peer still served, and an IPv6 takeover's ~10 ms of link-up
    /// were lost).
    pub fn sends_from_vmac(&self, i: usize) -> bool {
        matches!(self.vcs.get(i).map(|v| v.role), Some(VcRole::Master(m)) if !m.resumed && m.active)
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
        let peer = self.peer_side(i).filter(|_| self.peer_alive(now, Some(i)));
        let peer_up = peer.is_some_and(|p| p.up);
        let up = self.side(i).up;
        // The peer's standing order equal to this one, at equal health: the two cancel out
        // in the election (rule 2) and the order would be accepted and do nothing.
        let cancelled = peer.is_some_and(|p| p.up == up && p.admin == order);
        match order {
            // Checked before health: maintenance counts as Down in the election, and "this
            // node is Down" sent the operator after a health that status shows Up.
            Admin::Take if self.vcs[i].maintenance => Some(Refusal::Maintenance),
            Admin::Drop | Admin::Maintenance if !peer_up && self.claims(i) => {
                Some(Refusal::NoHealthyPeer)
            }
            Admin::Drop if !peer_up && up => Some(Refusal::NoHealthyPeer),
            Admin::Take if !up && peer_up => Some(Refusal::DownWhilePeerUp),
            Admin::Take if cancelled && !self.claims(i) => Some(Refusal::PeerTakes),
            Admin::Drop if cancelled && self.claims(i) => Some(Refusal::PeerDrops),
            _ => None,
        }
    }

    /// Whether `order` for virtual cluster `i` has taken effect, for the operator who waits
    /// on it: a take once this node is Master with its addresses up, a drop or maintenance
    /// once it is Backup with its addresses gone (not while it releases them); no order
    /// (`maintenance off`) at once.
    pub fn order_settled(&self, i: usize, order: Admin) -> bool {
        let Some(v) = self.vcs.get(i) else {
            return true;
        };
        match (order, v.role) {
            (Admin::None, _) => true,
            (Admin::Take, VcRole::Master(m)) => m.active && !m.failed,
            (Admin::Drop | Admin::Maintenance, VcRole::Backup { .. }) => true,
            _ => false,
        }
    }

    pub(super) fn side(&self, i: usize) -> Side {
        let v = &self.vcs[i];
        let s = &self.settings.vcs[i];
        let failed = matches!(v.role, VcRole::Master(m) if m.failed);
        Side {
            node_id: self.settings.node_id,
            incarnation: self.incarnation,
            up: v.up && !failed && !v.maintenance,
            admin: v.admin,
            preferred: s.preferred,
            master: v.role.is_master(),
            priority: s.priority,
            fail_count: v.fail_count,
            penalty: v.penalty,
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
            incarnation: p.incarnation,
            up: s.has(vc_flags::HEALTH_UP),
            admin,
            preferred: s.has(vc_flags::PREFERRED),
            master: s.role == Role::Master && !s.has(vc_flags::RELEASING),
            priority: s.priority,
            fail_count: s.fail_count,
            penalty: s.penalty,
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

    fn elect_alone(&mut self, now: Instant, i: usize, out: &mut Vec<Action>) {
        self.vcs[i].preempt_since = None;
        if self.vcs[i].maintenance {
            // In maintenance nothing is claimed, whatever became of the peer.
            if matches!(self.vcs[i].role, VcRole::Master(_) | VcRole::Probing { .. }) {
                let backup = VcRole::Backup { probe_after: None };
                self.set_role(now, i, backup, Reason::Maintenance, out);
            }
            return;
        }
        let departed = self.peer.as_ref().is_some_and(|p| p.departed);
        match self.vcs[i].role {
            // An early probe went unanswered and the dead-interval is over now.
            VcRole::Probing {
                early: Some(EarlyProbe { clear: true, .. }),
                ..
            } => {
                let reason = self.unanswered_reason();
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
                let reason = match self.silence_hint() {
                    Some(Hint::DaemonExited) => Reason::ProbingExited,
                    Some(Hint::CarrierLost) => Reason::ProbingCarrier,
                    None => Reason::ProbingSilent,
                };
                let level = if self.probe_repeats(i) {
                    log::Level::Debug
                } else {
                    log::Level::Info
                };
                log::log!(
                    level,
                    "vc {}: peer silent, ARP-probing the VIPs",
                    self.settings.vcs[i].name
                );
                let probing = VcRole::Probing {
                    from_init,
                    early: None,
                    precommit: None,
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
        // A failback also waits for the preferred peer's conntrack state (state_sync).
        let preempt_due = me.preferred
            || (self.vcs[i]
                .preempt_since
                .is_some_and(|t| now >= t + s.preempt_delay)
                && self.peer_state_ready(now, i));
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
        let peer_maintenance = self
            .peer
            .as_ref()
            .and_then(|p| p.vc(s.vcid))
            .is_some_and(|v| v.more & vc_more_flags::MAINTENANCE != 0);
        let (winner, reason) = if self.vcs[i].maintenance {
            (Winner::Peer, Reason::Maintenance)
        } else if peer_maintenance {
            (Winner::Me, Reason::PeerMaintenance)
        } else if resumed && !peer_resumed && me.master && peer.master {
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
                    until: now + self.release_wait(i),
                }
            }
            _ => role,
        };
        let name = self.settings.vcs[i].name.clone();
        let repeat = self.probe_repeats(i)
            && matches!(
                (old, role),
                (VcRole::Backup { .. }, VcRole::Probing { .. })
                    | (VcRole::Probing { .. }, VcRole::Backup { .. })
            );
        let level = if repeat {
            log::Level::Debug
        } else {
            log::Level::Info
        };
        log::log!(
            level,
            "vc {name}: {} => {} ({reason})",
            old.name(),
            role.name()
        );
        let role = self.with_precommit(now, i, old, role, out);
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
            (_, VcRole::Master(_)) => {
                let pre = match old {
                    VcRole::Probing { precommit, .. } => precommit,
                    _ => None,
                };
                self.begin_takeover(now, i, reason, true, pre, out);
            }
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
            ) => {
                out.push(Action::Release {
                    vc: i,
                    reason,
                    hook: true,
                });
                if matches!(old, VcRole::Master(_) | VcRole::Releasing { .. }) {
                    self.after_release(i, out);
                }
            }
            // Backup => Probing => Backup: nothing to carry out, but for a pre-commit.
            _ => {}
        }
        if let (
            VcRole::Probing {
                precommit: Some(_), ..
            },
            VcRole::Backup { .. } | VcRole::Init | VcRole::Releasing { .. },
        ) = (old, role)
        {
            self.precommit_undone(now, i, out);
        }
    }

    /// How long a yielding master keeps the addresses of `i` waiting for the peer's ACTIVE:
    /// a dead-interval (at most `RELEASE_WAIT`), plus commit-timeout when the takeover is
    /// `commit-first` — the peer's addresses come up only after conntrackd's commit, at
    /// most commit-timeout later, and the hand-over is make-before-break (pikemon.cfg(5),
    /// State sync). Without it a conntrackd hanging on the peer left nobody serving for up to
    /// commit-timeout minus the dead-interval.
    fn release_wait(&self, i: usize) -> Duration {
        let s = &self.settings.vcs[i];
        let commit = match (s.commit_timeout, s.takeover) {
            (Some(t), TakeoverOrder::CommitFirst) => t,
            _ => Duration::ZERO,
        };
        (self.settings.dead.min(RELEASE_WAIT) + commit).min(RELEASE_WAIT_MAX)
    }

    /// Our virtual MAC was seen elsewhere, or a VIP claimed by another MAC (`by`): anyone
    /// on the LAN can send such frames, so one reaction (log, HELLO, GARPs) per
    /// hello-interval, however many arrive. The GARPs point the hosts back at us.
    pub(super) fn conflict(&mut self, now: Instant, vc: usize, by: Option<[u8; 6]>) {
        let hello = self.settings.hello;
        let garps = self.settings.garp_repeat;
        let Some(v) = self.vcs.get_mut(vc) else {
            return;
        };
        if v.last_conflict.is_some_and(|t| now < t + hello) {
            // The newest claim is what the hosts heard last: answer it once the hello ends.
            if v.role.is_master() {
                v.conflict_pending = Some(by);
            }
            return;
        }
        v.last_conflict = Some(now);
        v.conflict_pending = None;
        if let VcRole::Master(m) = &mut v.role {
            let name = &self.settings.vcs[vc].name;
            match by {
                None => warn!("vc {name}: virtual MAC seen elsewhere; re-running the election"),
                Some(mac) => warn!(
                    "vc {name}: a VIP claimed by {}; re-sending our gratuitous ARPs and advertisements",
                    crate::wire::ethernet::MacAddr(mac)
                ),
            }
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
            .min()
    }
}
