//! Connection-tracking state around role changes (`conntrack { ... }`), in the order of
//! conntrackd's `primary-backup.sh` but driven by the core instead of by hooks that run some
//! time later:
//!
//! 1. Takeover (`TakeoverOrder`): `commit-first` commits the external cache into the kernel
//!    (`-c`) *before* the addresses come up, bounded by commit-timeout (a conntrackd that
//!    does not answer is logged and the takeover goes on); `parallel` asks for the commit and
//!    brings the addresses up at once (a ruleset that drops packets of unknown flows lets TCP
//!    retransmit them once the commit is in). Either way `-f -R -B`
//!    (`SyncStep::AfterTakeover`) follows the end of the commit.
//!    The first probe of a silence asks for the commit already (`SyncStep::PreCommit`): the
//!    probe and the commit overlap, so a takeover after it finds the connections in the
//!    kernel table, brings the addresses up at once and commits again a hello later (what
//!    arrived during the probe and since). A probe that ends without a takeover is followed by
//!    `-t -n`, as a release is, and no pre-commit follows for `PRECOMMIT_QUIET`.
//! 2. Release: after the addresses went, `-t -n` (`SyncStep::AfterRelease`); only `-n`
//!    (`SyncStep::RequestResync`) while another virtual cluster is Master here: `-t`
//!    flushes the whole kernel table, that one's flows with it.
//! 3. Failback gated on state: a Master sends a bulk update (`-B`) to every new incarnation
//!    of the peer and says so (`BULK_SENT`); that peer watches its external cache settle and
//!    says `SYNCED`; a preemptive primary is only handed the role once `SYNCED` (or at the
//!    latest preempt-delay + max(preempt-delay, commit-timeout) after it came back).

use std::time::{Duration, Instant};

use log::{info, warn};

use super::node::{Action, Node};
use super::role::{CommitPhase, CommitWait, Mastership, PreCommit, Reason, VcRole};
use crate::wire::pike::{vc_more_flags, Role};

/// What conntrackd is asked at one point of a role change (the worker sends the requests of
/// a step one after the other and answers with `Input::ConntrackDone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStep {
    /// `-c`: commit the external cache to the kernel table.
    Commit,
    /// `-c` while the probe runs, ahead of a takeover (queued behind what is asked
    /// already, so a `-t` of an earlier release never follows it).
    PreCommit,
    /// `-f`, `-R`, `-B`: flush the caches, resync with the kernel, bulk update to the peer.
    AfterTakeover,
    /// `-t`, `-n`: flush the kernel table a while later (conntrackd 1.4.7: in PurgeTimeout
    /// seconds, unless a commit comes first), ask the peer for a resync.
    AfterRelease,
    /// `-n` alone: `AfterRelease` while another virtual cluster is Master (or Releasing)
    /// here; the `-t` would flush its flows as well.
    RequestResync,
    /// `-B`: a bulk update for a peer that joined.
    Bulk,
}

/// Where the addresses come up relative to conntrackd's commit (`conntrack { takeover }`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TakeoverOrder {
    /// The commit first (at most commit-timeout), then the addresses and GARPs.
    #[default]
    CommitFirst,
    /// The addresses and GARPs at once, the commit at the same time.
    Parallel,
}

impl TakeoverOrder {
    /// The config word.
    pub fn as_str(self) -> &'static str {
        match self {
            TakeoverOrder::CommitFirst => "commit-first",
            TakeoverOrder::Parallel => "parallel",
        }
    }
}

/// The state-sync bookkeeping of one virtual cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncState {
    /// Master side: the peer incarnation a bulk update went to, and one under way.
    pub(super) bulk_for: Option<u32>,
    pub(super) bulk_pending: Option<u32>,
    /// Backup side: the master's incarnation whose bulk update has settled here.
    pub(super) synced_with: Option<u32>,
    /// The external cache count at the last poll after the master's bulk update.
    pub(super) settling: Option<u64>,
    /// Bulk updates this node sent (`-B` answered), and received (settled here).
    pub bulk_sent: u64,
    pub bulk_received: u64,
    /// When a probe last ended without a takeover after its pre-commit.
    pub(super) precommit_undone: Option<Instant>,
}

/// After a pre-commit, how long after the addresses came up the second commit is asked for,
/// at most: a hello, up to this. The new master's first moments go to the traffic that just
/// moved to it (in a one-vCPU guest the second commit, 60-70 ms of conntrackd beside the
/// kernel's packet processing, held back the client's first echo replies by 20-60 ms), and the
/// second commit, which only adds what reached the external cache during the probe, takes in
/// what came meanwhile too.
pub const RECOMMIT_AFTER: Duration = Duration::from_millis(100);

/// After a pre-commit that no takeover followed, the next probes within this span commit
/// only if they take over (a flapping heart-beat must not make conntrackd commit its whole
/// external cache, and flush it again, every dead-interval).
pub const PRECOMMIT_QUIET: Duration = Duration::from_secs(10);

impl Node {
    /// Whether virtual cluster `i` drives conntrackd.
    pub(super) fn syncs(&self, i: usize) -> bool {
        self.settings
            .vcs
            .get(i)
            .is_some_and(|s| s.commit_timeout.is_some())
    }

    /// Becoming Master: with state sync and `commit-first` the commit comes first and the
    /// addresses wait for it (at most commit-timeout); with `parallel` the commit is asked
    /// for and the addresses come up in the same breath; without state sync the addresses
    /// come up at once. After a pre-commit (`pre`) that conntrackd answered, the addresses
    /// come up at once and a second commit follows (`RECOMMIT_AFTER`); a pre-commit still
    /// under way is waited for.
    pub(super) fn begin_takeover(
        &mut self,
        now: Instant,
        i: usize,
        reason: Reason,
        hook: bool,
        pre: Option<PreCommit>,
        out: &mut Vec<Action>,
    ) {
        let timeout = self.settings.vcs[i].commit_timeout;
        let parallel = self.settings.vcs[i].takeover == TakeoverOrder::Parallel;
        let name = &self.settings.vcs[i].name;
        match (timeout, &mut self.vcs[i].role) {
            (Some(t), VcRole::Master(m)) => {
                let later = now + self.settings.hello.min(RECOMMIT_AFTER);
                let phase = match pre {
                    Some(PreCommit {
                        done: Some(true), ..
                    }) if !parallel => CommitPhase::RecommitDue {
                        at: later,
                        until: later + t,
                    },
                    Some(PreCommit { since, done: None }) if !parallel && now < since + t => {
                        CommitPhase::PreCommitWait { until: since + t }
                    }
                    _ if parallel => CommitPhase::AddressesUp { until: now + t },
                    _ => CommitPhase::AddressesWait { until: now + t },
                };
                m.commit = Some(CommitWait {
                    reason,
                    hook,
                    phase,
                });
                let commit = Action::Conntrack {
                    vc: i,
                    step: SyncStep::Commit,
                };
                let take = Action::TakeOver {
                    vc: i,
                    reason,
                    hook,
                };
                match phase {
                    CommitPhase::PreCommitWait { .. } => {
                        info!("vc {name}: the addresses wait for the pre-commit under way");
                    }
                    CommitPhase::AddressesWait { .. } => {
                        info!("vc {name}: committing conntrackd's external cache before the addresses come up");
                        out.push(commit);
                    }
                    CommitPhase::AddressesUp { .. } => {
                        info!("vc {name}: committing conntrackd's external cache while the addresses come up");
                        out.extend([commit, take]);
                    }
                    // Pre-committed during the probe: the addresses, HELLO and GARPs first;
                    // the second commit a moment later (`RECOMMIT_AFTER`).
                    CommitPhase::RecommitDue { .. } => out.push(take),
                }
            }
            _ => out.push(Action::TakeOver {
                vc: i,
                reason,
                hook,
            }),
        }
    }

    /// Logs `what` of virtual cluster `i` and asks the worker for conntrackd's `step`.
    fn ask_conntrackd(&self, i: usize, step: SyncStep, what: &str, out: &mut Vec<Action>) {
        info!("vc {}: {what}", self.settings.vcs[i].name);
        out.push(Action::Conntrack { vc: i, step });
    }

    /// The probe `role` that `set_role` is about to enter from `old`, with a pre-commit
    /// asked for when the virtual cluster syncs state, the probe is the first of its silence
    /// and no pre-commit was undone within `PRECOMMIT_QUIET`.
    pub(super) fn with_precommit(
        &mut self,
        now: Instant,
        i: usize,
        old: VcRole,
        role: VcRole,
        out: &mut Vec<Action>,
    ) -> VcRole {
        let VcRole::Probing {
            from_init,
            early,
            precommit: None,
        } = role
        else {
            return role;
        };
        let quiet = self.vcs[i]
            .sync
            .precommit_undone
            .is_some_and(|t| now < t + PRECOMMIT_QUIET);
        if matches!(old, VcRole::Probing { .. }) || !self.syncs(i) || self.probe_repeats(i) || quiet
        {
            return role;
        }
        self.ask_conntrackd(
            i,
            SyncStep::PreCommit,
            "committing conntrackd's external cache while the probe runs",
            out,
        );
        VcRole::Probing {
            from_init,
            early,
            precommit: Some(PreCommit {
                since: now,
                done: None,
            }),
        }
    }

    /// A probe with a pre-commit ended without a takeover: `-t -n`, as after a release
    /// (conntrackd's backup state: the committed entries are flushed from the kernel table
    /// a while later, unless a takeover commits first).
    pub(super) fn precommit_undone(&mut self, now: Instant, i: usize, out: &mut Vec<Action>) {
        self.vcs[i].sync.precommit_undone = Some(now);
        info!(
            "vc {}: no takeover after the pre-commit; asking conntrackd for -t -n as after a release",
            self.settings.vcs[i].name
        );
        self.after_release(i, out);
    }

    /// The addresses of `i` went: with state sync, `-t -n`; only `-n` while another virtual
    /// cluster holds its addresses here. There is one kernel table, and conntrackd 1.4.7's
    /// `-t` flushes every forwarded flow in it a minute later (all but its `Filter`'s ignored
    /// addresses), that one's with them, whichever conntrackd, if any, it syncs through. The
    /// entries of `i` then leave by their own timers, or with the `-t` of the last release.
    pub(super) fn after_release(&self, i: usize, out: &mut Vec<Action>) {
        if !self.syncs(i) {
            return;
        }
        let step = match self.master_beside(i) {
            Some(j) => {
                info!(
                    "vc {}: no -t for conntrackd (it would flush the kernel table, the flows of vc {} with it, Master here); -n only",
                    self.settings.vcs[i].name, self.settings.vcs[j].name
                );
                SyncStep::RequestResync
            }
            None => SyncStep::AfterRelease,
        };
        out.push(Action::Conntrack { vc: i, step });
    }

    /// Another virtual cluster than `i` that holds (or is bringing up) its addresses here.
    fn master_beside(&self, i: usize) -> Option<usize> {
        (0..self.vcs.len()).find(|&j| {
            j != i
                && matches!(
                    self.vcs[j].role,
                    VcRole::Master(_) | VcRole::Releasing { .. }
                )
        })
    }

    /// The worker finished `step` for `vc`; `ok`: conntrackd answered every request.
    pub(super) fn conntrack_done(
        &mut self,
        now: Instant,
        vc: usize,
        step: SyncStep,
        ok: bool,
        out: &mut Vec<Action>,
    ) {
        let Some(name) = self.settings.vcs.get(vc).map(|s| s.name.clone()) else {
            return;
        };
        match step {
            SyncStep::PreCommit => match &mut self.vcs[vc].role {
                VcRole::Probing {
                    precommit: Some(p), ..
                } => {
                    if !ok {
                        warn!("vc {name}: conntrackd did not pre-commit its external cache; a takeover commits first");
                    }
                    p.done = Some(ok);
                }
                VcRole::Master(Mastership {
                    commit:
                        Some(CommitWait {
                            phase: CommitPhase::PreCommitWait { .. },
                            ..
                        }),
                    ..
                }) => {
                    if ok {
                        self.after_precommit(now, vc, out);
                    } else {
                        warn!("vc {name}: conntrackd did not pre-commit its external cache; taking over anyway");
                        self.end_commit(now, vc, out);
                    }
                }
                _ => {}
            },
            SyncStep::Commit => {
                if !ok {
                    warn!("vc {name}: conntrackd did not commit its external cache; taking over anyway");
                }
                self.end_commit(now, vc, out);
            }
            SyncStep::Bulk => {
                let sync = &mut self.vcs[vc].sync;
                let target = sync.bulk_pending.take();
                if ok {
                    sync.bulk_for = target;
                    sync.bulk_sent += 1;
                    info!("vc {name}: bulk update sent to the peer");
                    self.next_hello = now;
                } else {
                    // Not retried for this incarnation: the peer's wait is bounded.
                    sync.bulk_for = target;
                    warn!("vc {name}: conntrackd did not send the bulk update");
                }
            }
            SyncStep::AfterTakeover => {
                let sync = &mut self.vcs[vc].sync;
                let target = sync.bulk_pending.take();
                if ok {
                    sync.bulk_for = target;
                    sync.bulk_sent += 1;
                    self.next_hello = now;
                } else {
                    warn!("vc {name}: conntrackd did not answer -f -R -B after the takeover");
                }
            }
            SyncStep::AfterRelease => {
                if !ok {
                    warn!("vc {name}: conntrackd did not answer -t -n after the release");
                }
            }
            SyncStep::RequestResync => {
                if !ok {
                    warn!("vc {name}: conntrackd did not answer -n after the release");
                }
            }
        }
    }

    /// The pre-commit a takeover waited for is in: the addresses come up now, and a second
    /// commit, for what arrived since it began, follows (`RECOMMIT_AFTER`; its end brings
    /// `-f -R -B`).
    fn after_precommit(&mut self, now: Instant, vc: usize, out: &mut Vec<Action>) {
        let t = self.settings.vcs[vc].commit_timeout.unwrap_or_default();
        let VcRole::Master(m) = &mut self.vcs[vc].role else {
            return;
        };
        let Some(w) = m.commit.as_mut() else { return };
        let later = now + self.settings.hello.min(RECOMMIT_AFTER);
        w.phase = CommitPhase::RecommitDue {
            at: later,
            until: later + t,
        };
        let (reason, hook) = (w.reason, w.hook);
        out.push(Action::TakeOver { vc, reason, hook });
    }

    /// The commit is over (answered, failed or timed out): the addresses come up (unless
    /// `parallel` brought them up already), then `-f -R -B`.
    fn end_commit(&mut self, now: Instant, vc: usize, out: &mut Vec<Action>) {
        let VcRole::Master(m) = &mut self.vcs[vc].role else {
            return;
        };
        let Some(w) = m.commit.take() else { return };
        // The -B of `AfterTakeover` is the bulk update of a peer alive now.
        let peer = self
            .peer
            .as_ref()
            .map(|p| p.incarnation)
            .filter(|_| self.peer_alive(now, Some(vc)));
        self.vcs[vc].sync.bulk_pending = peer;
        if !w.phase.addresses_up() {
            out.push(Action::TakeOver {
                vc,
                reason: w.reason,
                hook: w.hook,
            });
        }
        out.push(Action::Conntrack {
            vc,
            step: SyncStep::AfterTakeover,
        });
    }

    /// A poll of conntrackd's statistics: on a Backup waiting for the master's bulk update,
    /// two equal external-cache counts in a row after `BULK_SENT` mean it has settled.
    pub(super) fn conntrack_stats(&mut self, now: Instant, vc: usize, external: Option<u64>) {
        if !self.syncs(vc) || self.vcs[vc].role.is_master() {
            return;
        }
        let master = self
            .peer_master_incarnation(now, vc)
            .filter(|_| self.bulk_announced(vc));
        let sync = &mut self.vcs[vc].sync;
        let Some(inc) = master else {
            sync.settling = None;
            return;
        };
        if sync.synced_with == Some(inc) {
            return;
        }
        match (sync.settling, external) {
            (Some(a), Some(b)) if a == b => {
                sync.synced_with = Some(inc);
                sync.bulk_received += 1;
                info!(
                    "vc {}: bulk update from the master settled ({b} external entries)",
                    self.settings.vcs[vc].name
                );
                self.next_hello = now;
            }
            _ => sync.settling = external,
        }
    }

    /// The peer's incarnation while it is alive and announces Master for `vc`.
    fn peer_master_incarnation(&self, now: Instant, vc: usize) -> Option<u32> {
        let vcid = self.settings.vcs.get(vc)?.vcid;
        let p = self.peer.as_ref()?;
        let master = p.vc(vcid).is_some_and(|v| v.role == Role::Master);
        (master && self.peer_alive(now, Some(vc))).then_some(p.incarnation)
    }

    /// The peer says it sent a bulk update to this incarnation (its frames are only
    /// believed when they acknowledge ours).
    fn bulk_announced(&self, vc: usize) -> bool {
        let vcid = self.settings.vcs[vc].vcid;
        self.peer
            .as_ref()
            .and_then(|p| p.vc(vcid))
            .is_some_and(|v| v.more & vc_more_flags::BULK_SENT != 0)
    }

    /// The second flags byte's state-sync bits for our HELLO.
    pub(super) fn sync_flags(&self, vc: usize) -> u8 {
        if !self.syncs(vc) {
            return 0;
        }
        let sync = &self.vcs[vc].sync;
        let peer = self.heard.map(|h| h.0);
        let believed = self.peer.as_ref().map(|p| p.incarnation);
        let mut more = vc_more_flags::STATE_SYNC;
        if self.vcs[vc].role.is_master()
            && sync.bulk_for.is_some()
            && sync.bulk_for == peer
            && peer == believed
        {
            more |= vc_more_flags::BULK_SENT;
        }
        if !self.vcs[vc].role.is_master()
            && sync.synced_with.is_some()
            && sync.synced_with == believed
        {
            more |= vc_more_flags::SYNCED;
        }
        more
    }

    /// Whether the preferred peer may be handed virtual cluster `i` as far as state goes:
    /// it said `SYNCED`, or does not sync, or we do not, or it waited long enough.
    pub(super) fn peer_state_ready(&self, now: Instant, i: usize) -> bool {
        let s = &self.settings.vcs[i];
        let Some(timeout) = s.commit_timeout else {
            return true;
        };
        let more = self
            .peer
            .as_ref()
            .and_then(|p| p.vc(s.vcid))
            .map_or(0, |v| v.more);
        if more & vc_more_flags::STATE_SYNC == 0 || more & vc_more_flags::SYNCED != 0 {
            return true;
        }
        let bound = state_wait(s.preempt_delay, timeout);
        self.vcs[i].preempt_since.is_some_and(|t| now >= t + bound)
    }

    /// The latest moment `peer_state_ready` turns true by itself (for `next_deadline`).
    pub(super) fn state_wait_deadline(&self, i: usize) -> Option<Instant> {
        let s = &self.settings.vcs[i];
        let timeout = s.commit_timeout?;
        let since = self.vcs[i].preempt_since?;
        Some(since + state_wait(s.preempt_delay, timeout))
    }

    /// Per role change and tick: a Master sends a bulk update to each new incarnation of a
    /// live peer; a commit that outlived commit-timeout lets the takeover go on.
    pub(super) fn sync_timers(&mut self, now: Instant, out: &mut Vec<Action>) {
        for i in 0..self.vcs.len() {
            if !self.syncs(i) {
                continue;
            }
            let recommit = match &mut self.vcs[i].role {
                VcRole::Master(Mastership {
                    commit: Some(w), ..
                }) => match w.phase {
                    CommitPhase::RecommitDue { at, until } if now >= at => {
                        w.phase = CommitPhase::AddressesUp { until };
                        true
                    }
                    _ => false,
                },
                _ => false,
            };
            if recommit {
                self.ask_conntrackd(
                    i,
                    SyncStep::Commit,
                    "committing conntrackd's external cache again, for what came during the probe",
                    out,
                );
            }
            let timed_out = match self.vcs[i].role {
                VcRole::Master(m) => m.commit.is_some_and(|w| now >= w.phase.until()),
                _ => false,
            };
            if timed_out {
                let t = self.settings.vcs[i].commit_timeout.unwrap_or_default();
                warn!(
                    "vc {}: conntrackd did not commit within {}; taking over anyway",
                    self.settings.vcs[i].name,
                    crate::applets::pikemon::values::show_duration(t)
                );
                self.end_commit(now, i, out);
            }
            let active = matches!(self.vcs[i].role, VcRole::Master(m) if m.active);
            let peer = self
                .peer
                .as_ref()
                .map(|p| p.incarnation)
                .filter(|_| self.peer_alive(now, Some(i)));
            let is_master = self.vcs[i].role.is_master();
            let sync = &mut self.vcs[i].sync;
            if !is_master {
                sync.bulk_for = None;
                sync.bulk_pending = None;
            }
            if let (true, Some(inc)) = (active, peer) {
                if sync.bulk_for != Some(inc) && sync.bulk_pending.is_none() {
                    info!(
                        "vc {}: the peer joined; sending it a bulk update",
                        self.settings.vcs[i].name
                    );
                    sync.bulk_pending = Some(inc);
                    out.push(Action::Conntrack {
                        vc: i,
                        step: SyncStep::Bulk,
                    });
                }
            }
        }
    }

    /// The next commit deadline, if a takeover waits for one.
    pub(super) fn next_commit_deadline(&self) -> Option<Instant> {
        self.vcs
            .iter()
            .filter_map(|v| match v.role {
                VcRole::Master(m) => m.commit.map(|w| w.phase.deadline()),
                _ => None,
            })
            .min()
    }
}

/// How long the state of a joining preferred node may hold up a failback, at most.
pub fn state_wait(preempt_delay: Duration, commit_timeout: Duration) -> Duration {
    preempt_delay + preempt_delay.max(commit_timeout)
}
