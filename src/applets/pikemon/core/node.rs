//! The core's entry points: `handle(now, input) -> Vec<Action>` and `next_deadline()`, the
//! types they speak, and the state they keep. Frames are handled in `frames`, roles in
//! `claim`. Time is a parameter: the tests drive it with a fake clock.

use std::time::{Duration, Instant};

use log::{info, warn};

use super::election::Admin;
use super::peer::{Hint, Peer, Proof};
use super::role::{Reason, VcRole};
use super::state_sync::{SyncState, SyncStep, TakeoverOrder};
use crate::wire::pike::{MessageType, Repr};

/// What the core needs to know about one virtual cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcSettings {
    pub vcid: u16,
    pub name: String,
    /// This node is the cluster's `primary node`.
    pub preferred: bool,
    pub preemptive: bool,
    pub preempt_delay: Duration,
    pub priority: u8,
    /// Digest of the cluster-relevant configuration (compared with the peer's).
    pub digest: u32,
    /// `conntrack { commit-timeout }`: the cluster drives conntrackd (None: it does not).
    pub commit_timeout: Option<Duration>,
    /// `conntrack { takeover }`: the addresses after the commit or with it.
    pub takeover: TakeoverOrder,
}

/// ARP requests per split-brain probe.
pub const PROBE_TRIES: u32 = 3;

/// What the core needs to know about this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub node_id: u32,
    pub cluster_id: u32,
    pub hello: Duration,
    pub dead: Duration,
    /// (key-id, secret); the first signs, all verify.
    pub keys: Vec<(u16, Vec<u8>)>,
    /// Heart-beat paths first, then controlled interfaces.
    pub paths: usize,
    pub vcs: Vec<VcSettings>,
    /// GARP bursts on becoming Master, their spacing, and the keep-alive burst interval
    /// (zero: none).
    pub garp_repeat: u32,
    pub garp_interval: Duration,
    pub garp_keepalive: Duration,
}

/// An event for the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// A deadline passed (or anything else woke the loop).
    Tick,
    /// A whole Ethernet frame received on a path.
    Frame { path: usize, frame: &'a [u8] },
    /// The health of virtual cluster `vc` (index) changed: all ping groups and links up or not.
    Health { vc: usize, up: bool },
    /// The summed weights of virtual cluster `vc`'s failing weighted witnesses changed.
    Penalty { vc: usize, penalty: u8 },
    /// `pikemon -c take|drop`; `vc` None means all. Ask `admin_refusal` first.
    Admin { vc: Option<usize>, order: Admin },
    /// `pikemon -c maintenance on|off` (or the status file at start): hand the role over and
    /// stay Backup until `off`, whatever the peer does.
    Maintenance { vc: Option<usize>, on: bool },
    /// The ARP probe asked for by `Action::Probe` finished.
    ProbeDone { vc: usize, answered: bool },
    /// The master saw its virtual MAC answered by someone else.
    Conflict { vc: usize },
    /// The master saw one of its VIPs claimed by another MAC (`by`): hosts that heard it
    /// now send there.
    VipClaimed { vc: usize, by: [u8; 6] },
    /// The worker carried out `Action::TakeOver`: the addresses are up (`ok`; the HELLOs say
    /// ACTIVE from now on, one goes out at once) or could not be brought up (the virtual
    /// cluster counts as unhealthy and the takeover is retried).
    TookOver { vc: usize, ok: bool },
    /// The death-watch connection to the peer's daemon closed: its process is gone (or the
    /// connection broke). A hint, never proof: the peer counts as silent and the VIP probe
    /// decides, exactly as after a dead-interval.
    PeerExited,
    /// Heart-beat path `path` (a point-to-point link) lost its carrier: when the machine at
    /// the other end dies, this is the first sign. A hint like `PeerExited`; a pulled cable
    /// with a live peer moves nothing (the probe is answered).
    CarrierLost { path: usize },
    /// The worker finished `Action::Conntrack` (`ok`: conntrackd answered every request).
    ConntrackDone { vc: usize, step: SyncStep, ok: bool },
    /// A poll of conntrackd's statistics for `vc`: the external cache's entries (None:
    /// conntrackd did not answer).
    ConntrackStats { vc: usize, external: Option<u64> },
    /// SIGINT/SIGQUIT/SIGTERM: drop Master at once, say GOODBYE.
    Shutdown,
}

/// What the worker must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this message on every path (the worker sets path-id and signs per path).
    Send(Repr),
    /// Bring the addresses of `vc` up (macvlan up, VIPs, neighbour flush) and answer with
    /// `Input::TookOver`; run the Master hook when `hook`.
    TakeOver {
        vc: usize,
        reason: Reason,
        hook: bool,
    },
    /// Let the addresses of `vc` go; run the Backup hook when `hook`.
    Release {
        vc: usize,
        reason: Reason,
        hook: bool,
    },
    /// ARP-probe the VIPs of `vc` and answer with `Input::ProbeDone`.
    Probe { vc: usize },
    /// Send one burst of gratuitous ARPs for `vc` now.
    Garp { vc: usize },
    /// A heart-beat path changed state (for the paths file and the log).
    Path { path: usize, up: bool },
    /// Send conntrackd the requests of `step` without blocking, one after the other, each
    /// bounded by commit-timeout; answer with `Input::ConntrackDone`.
    Conntrack { vc: usize, step: SyncStep },
}

/// Frame and error counters (shown by `-c status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub sent: u64,
    pub received: u64,
    pub malformed: u64,
    pub auth_failures: u64,
    pub replays: u64,
    pub foreign: u64,
    pub transitions: u64,
    /// Frames dropped unverified: their path was over its verification budget (a flood).
    pub throttled: u64,
}

/// Per-virtual-cluster state.
#[derive(Debug, Clone)]
pub struct VcStatus {
    pub role: VcRole,
    pub up: bool,
    pub admin: Admin,
    pub fail_count: u8,
    pub since: Instant,
    pub reason: Reason,
    /// The peer announces another config digest for this virtual cluster: an alarm only,
    /// it never moves the role.
    pub drift: Option<u32>,
    /// In maintenance: Backup until the administrator says otherwise.
    pub maintenance: bool,
    /// The summed weights of the failing weighted witnesses (announced; election rule 4).
    pub penalty: u8,
    /// When the preferred side was first seen alive and healthy while we are master (for
    /// preempt-delay).
    pub(super) preempt_since: Option<Instant>,
    /// The peer counted as alive at the last election (to see it come back).
    pub(super) peer_was_alive: bool,
    /// When a conflict (our virtual MAC seen elsewhere, a VIP claimed) was last acted on.
    pub(super) last_conflict: Option<Instant>,
    /// A conflict that came within a hello of the last reaction (with the claiming MAC, if
    /// any): acted on when that hello has passed, so that a burst of claims never has the
    /// last word.
    pub(super) conflict_pending: Option<Option<[u8; 6]>>,
    /// Probes answered in a row while the peer stayed silent, and when the peer was last
    /// heard when they began (a frame heard since starts a new count). A peer that is never
    /// heard but whose VIP answers (another key, PIKE filtered, a live kernel under a dead
    /// daemon) is probed every dead-interval for as long as it lasts: the first round is
    /// logged, the repeats at debug level with a summary at 2, 4, 8, ... rounds.
    pub(super) silent_probes: (Option<Instant>, u32),
    /// conntrackd bulk updates and the failback gate.
    pub sync: SyncState,
}

/// The worker's core.
pub struct Node {
    pub(super) settings: Settings,
    /// The persisted start counter (shown to operators; not on the wire).
    pub(super) boot: u32,
    /// Random per start: what the peer's freshness rules key on (PIKE version 2).
    pub(super) incarnation: u32,
    pub(super) seq: u64,
    /// Our recent frames, against which the peer's acknowledgements are checked.
    pub(super) proof: Proof,
    /// The newest (incarnation, seq) heard from the peer (not yet believed only while no
    /// believed peer lives): what our frames acknowledge, so that a new incarnation of the
    /// peer believes them.
    pub(super) heard: Option<(u32, u64)>,
    /// When we last answered a not yet proven incarnation at once (at most once a hello).
    pub(super) answered_unproven: Option<Instant>,
    /// Per path: the start of the current verification window and the HMACs checked in it.
    pub(super) budgets: Vec<(Instant, u32)>,
    pub(super) started: Instant,
    pub(super) next_hello: Instant,
    pub(super) peer: Option<Peer>,
    pub(super) vcs: Vec<VcStatus>,
    pub(super) counters: Counters,
    /// Incarnations other than ours seen in authentic frames that carry our node-id (a
    /// second node configured with it): each is reported once; the newest few are kept.
    pub(super) twins: Vec<u32>,
    /// When such a report was last logged (at most one per `TWIN_REPORT_GAP`).
    pub(super) twin_reported: Option<Instant>,
    /// When frames failing authentication were last warned about, and the count then.
    pub(super) auth_reported: Option<(Instant, u64)>,
    pub(super) shutting_down: bool,
    /// The time of the last `handle`: the preempt timers at or before it have been acted
    /// on, and are not due again (while the preferred peer is pinned by `drop`, or after the
    /// hand-over, they stay set and would keep the loop spinning).
    pub(super) handled_at: Instant,
}

impl Settings {
    /// The spacing of the probe's ARP requests (and the wait after the last one):
    /// a quarter hello, 5..200 ms.
    pub fn probe_interval(&self) -> Duration {
        probe_interval_at(self.hello)
    }

    /// How long a probe takes from its first request to "unanswered".
    pub fn probe_span(&self) -> Duration {
        self.probe_interval() * PROBE_TRIES
    }

    /// How long before the peer's dead-interval ends the early probe starts: its span and
    /// half a spacing more (at most hello/8), for the worker's timer and its sends. Started
    /// one span before, the probe ended after the interval (8 ms at 100 ms hellos in the
    /// QEMU pair, median of 10) and the takeover waited for it; now a probe unanswered in
    /// time waits for the end. The bound keeps a probe at 10 ms hellos (spacing 5 ms, more
    /// than hello/4) from starting sooner after a HELLO that is only a little late.
    pub fn probe_lead(&self) -> Duration {
        self.probe_span() + (self.probe_interval() / 2).min(self.hello / 8)
    }
}

/// The probe's spacing at hello interval `hello` (`Settings::probe_interval`).
pub fn probe_interval_at(hello: Duration) -> Duration {
    (hello / 4).clamp(Duration::from_millis(5), Duration::from_millis(200))
}

impl Node {
    /// A core for start `boot` (already persisted) and the random `incarnation` of this
    /// start. `resume[i]` is the role saved in the status file: Some(true) Master,
    /// Some(false) Backup, None missing (listen first). `start()` gives the first actions.
    pub fn new(
        now: Instant,
        settings: Settings,
        boot: u32,
        incarnation: u32,
        resume: &[Option<bool>],
    ) -> Node {
        let paths = settings.paths;
        let mut node = Node {
            settings,
            boot,
            incarnation,
            seq: 0,
            proof: Proof::default(),
            heard: None,
            answered_unproven: None,
            budgets: vec![(now, 0); paths],
            started: now,
            next_hello: now,
            peer: None,
            vcs: Vec::new(),
            counters: Counters::default(),
            twins: Vec::new(),
            twin_reported: None,
            auth_reported: None,
            shutting_down: false,
            handled_at: now,
        };
        node.vcs = (0..node.settings.vcs.len())
            .map(|i| {
                let (role, reason) = match resume.get(i).copied().flatten() {
                    Some(true) => (node.master_role(now, true), Reason::Resumed),
                    Some(false) => (VcRole::Backup { probe_after: None }, Reason::Resumed),
                    None => (VcRole::Init, Reason::Start),
                };
                VcStatus {
                    role,
                    up: true,
                    admin: Admin::None,
                    fail_count: 0,
                    since: now,
                    reason,
                    drift: None,
                    maintenance: false,
                    penalty: 0,
                    preempt_since: None,
                    peer_was_alive: false,
                    last_conflict: None,
                    silent_probes: (None, 0),
                    conflict_pending: None,
                    sync: SyncState::default(),
                }
            })
            .collect();
        node
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
    /// This node's boot counter.
    pub fn boot(&self) -> u32 {
        self.boot
    }
    /// This start's incarnation.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }
    /// The peer, once heard.
    pub fn peer(&self) -> Option<&Peer> {
        self.peer.as_ref()
    }
    /// The state of virtual cluster `i`.
    pub fn vc(&self, i: usize) -> Option<&VcStatus> {
        self.vcs.get(i)
    }
    /// Counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Whether the peer is alive: confirmed, no GOODBYE, no exit seen by the death-watch,
    /// heard within dead-interval (plus the skew of virtual cluster `vc`).
    /// Whether virtual cluster `i` is probing again a peer not heard since its last
    /// answered probe: a repeat, logged at debug level (`VcStatus::silent_probes`).
    pub(super) fn probe_repeats(&self, i: usize) -> bool {
        let heard = self.peer.as_ref().and_then(|p| p.confirmed_at);
        self.vcs
            .get(i)
            .is_some_and(|v| v.silent_probes.1 > 0 && v.silent_probes.0 == heard)
    }

    pub fn peer_alive(&self, now: Instant, vc: Option<usize>) -> bool {
        let Some(p) = &self.peer else { return false };
        !p.departed
            && p.exited.is_none()
            && p.confirmed_at.is_some_and(|t| now < t + self.dead_for(vc))
    }

    /// Dead-interval, plus one hello of skew on the non-preferred side of virtual cluster
    /// `vc` while both sides could claim it. A peer last heard as its Master has no rival
    /// claimant (if it is alive it keeps the role and answers the probe), so no skew then.
    pub(super) fn dead_for(&self, vc: Option<usize>) -> Duration {
        let skew = match vc.and_then(|i| self.settings.vcs.get(i).map(|v| (i, v))) {
            Some((i, v)) if !v.preferred && !self.peer_side(i).is_some_and(|p| p.master) => {
                self.settings.hello
            }
            _ => Duration::ZERO,
        };
        self.settings.dead + skew
    }

    /// The earliest moment `handle(Tick)` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let roles = match (self.next_role_deadline(), self.next_commit_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if self.shutting_down {
            // A release still waiting repeats its GOODBYE every hello.
            let goodbye = self.releasing().then_some(self.next_hello);
            return match (roles, goodbye) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        // Moments when something changes (the peer's dead-interval ends, the early probe
        // starts, a path expires, a probe or a preemption is due). One already passed at a `handle` is no longer due:
        // every input looks at the time (expire, elect, timers). Left in, a moment that
        // changed nothing — the dead-interval of a peer that stays silent — was the next
        // deadline for ever, and the worker's loop spun on it at full CPU.
        let mut d = self.next_hello;
        let mut due = |t: Instant| {
            if t > self.handled_at {
                d = d.min(t);
            }
        };
        if let Some(t) = self.next_early_probe() {
            due(t);
        }
        if let Some(p) = &self.peer {
            if let (Some(t), false, None) = (p.confirmed_at, p.departed, p.exited) {
                for i in 0..self.vcs.len() {
                    due(t + self.dead_for(Some(i)));
                }
            }
            if let Some(t) = p.next_path_expiry(self.settings.dead) {
                due(t);
            }
        }
        for (i, v) in self.vcs.iter().enumerate() {
            match v.role {
                VcRole::Init => due(self.started + self.dead_for(Some(i))),
                VcRole::Backup {
                    probe_after: Some(t),
                } => due(t),
                _ => {}
            }
            let preempt = match (v.preempt_since, self.settings.vcs.get(i)) {
                (Some(t), Some(s)) => Some(t + s.preempt_delay),
                _ => None,
            };
            for t in preempt.into_iter().chain(self.state_wait_deadline(i)) {
                due(t);
            }
            if let (Some(_), Some(t)) = (v.conflict_pending, v.last_conflict) {
                due(t + self.settings.hello);
            }
        }
        Some(roles.map_or(d, |r| r.min(d)))
    }

    /// Handles one event.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        self.handled_at = self.handled_at.max(now);
        if self.shutting_down {
            // Still listening (a release waits for the peer's ACTIVE before the addresses
            // go), but no election and no HELLOs.
            match input {
                Input::Frame { path, frame } => self.frame(now, path, frame, &mut Vec::new()),
                Input::TookOver { vc, ok } => self.took_over(now, vc, ok),
                Input::ConntrackDone { vc, step, ok } => {
                    self.conntrack_done(now, vc, step, ok, &mut out)
                }
                _ => {}
            }
            self.role_timers(now, &mut out);
            // The GOODBYE again every hello while the release waits for the peer: one lost
            // (a partition healing meanwhile, a lossy link) left the peer to its
            // dead-interval and probe, and the addresses went before its came up.
            if self.releasing() && now >= self.next_hello {
                out.push(Action::Send(self.message(now, MessageType::Goodbye, true)));
                self.next_hello = now + self.settings.hello;
            }
            return out;
        }
        match input {
            Input::Tick => {}
            Input::Frame { path, frame } => self.frame(now, path, frame, &mut out),
            Input::Health { vc, up } => {
                if let Some(v) = self.vcs.get_mut(vc) {
                    if v.up && !up {
                        v.fail_count = v.fail_count.saturating_add(1);
                    }
                    if v.up != up {
                        info!("vc {}: health {}", self.settings.vcs[vc].name, updown(up));
                        v.up = up;
                        // The peer must learn at once (fast hand-over).
                        self.next_hello = now;
                    }
                }
            }
            Input::Penalty { vc, penalty } => {
                if let Some(v) = self.vcs.get_mut(vc) {
                    if v.penalty != penalty {
                        info!(
                            "vc {}: penalty {} => {penalty}",
                            self.settings.vcs[vc].name, v.penalty
                        );
                        v.penalty = penalty;
                        self.next_hello = now;
                    }
                }
            }
            Input::Admin { vc, order } => {
                for (i, v) in self.vcs.iter_mut().enumerate() {
                    if vc.is_none_or(|x| x == i) {
                        v.admin = order;
                    }
                }
                self.next_hello = now;
            }
            Input::Maintenance { vc, on } => {
                for (i, v) in self.vcs.iter_mut().enumerate() {
                    if vc.is_none_or(|x| x == i) && v.maintenance != on {
                        v.maintenance = on;
                        let name = &self.settings.vcs[i].name;
                        info!("vc {name}: maintenance {}", if on { "on" } else { "off" });
                    }
                }
                self.next_hello = now;
            }
            Input::ProbeDone { vc, answered } => self.probe_done(now, vc, answered, &mut out),
            Input::Conflict { vc } => self.conflict(now, vc, None),
            Input::VipClaimed { vc, by } => self.conflict(now, vc, Some(by)),
            Input::TookOver { vc, ok } => self.took_over(now, vc, ok),
            Input::ConntrackDone { vc, step, ok } => {
                self.conntrack_done(now, vc, step, ok, &mut out)
            }
            Input::ConntrackStats { vc, external } => self.conntrack_stats(now, vc, external),
            Input::PeerExited => self.silent_hint(Hint::DaemonExited),
            Input::CarrierLost { path } => {
                if path < self.settings.paths && self.peer_alive(now, None) {
                    self.silent_hint(Hint::CarrierLost);
                }
            }
            Input::Shutdown => {
                for i in 0..self.vcs.len() {
                    if self.vcs[i].role.is_master() {
                        let backup = VcRole::Backup { probe_after: None };
                        self.set_role(now, i, backup, Reason::Shutdown, &mut out);
                    }
                }
                out.push(Action::Send(self.message(now, MessageType::Goodbye, true)));
                self.next_hello = now + self.settings.hello;
                self.shutting_down = true;
                self.role_timers(now, &mut out);
                return out;
            }
        }
        for vc in 0..self.vcs.len() {
            if let Some(by) = self.vcs[vc].conflict_pending {
                self.conflict(now, vc, by);
            }
        }
        self.expire(now, &mut out);
        self.elect(now, &mut out);
        self.role_timers(now, &mut out);
        self.sync_timers(now, &mut out);
        if now >= self.next_hello {
            out.push(Action::Send(self.message(now, MessageType::Hello, false)));
            self.next_hello = now + self.settings.hello;
        }
        out
    }

    /// Compares the peer's announced config digests with ours; logs each change once.
    pub(super) fn check_drift(&mut self) {
        let Some(p) = &self.peer else { return };
        for (i, s) in self.settings.vcs.iter().enumerate() {
            let theirs = p.vc(s.vcid).map(|v| v.digest);
            let drift = theirs.filter(|d| *d != s.digest);
            let v = &mut self.vcs[i];
            if drift == v.drift {
                continue;
            }
            match drift {
                Some(d) => warn!(
                    "vc {}: configuration differs from the peer's (digest {:08x} here, {d:08x} there): \
                     addresses, virtual MACs, timers, cluster-id or preemption",
                    s.name, s.digest
                ),
                None => info!("vc {}: configuration matches the peer's again", s.name),
            }
            v.drift = drift;
        }
    }

    /// The peer counts as silent from now until a new incarnation or two newer frames are
    /// heard (one frame sent just before may still be on its way): the probe decides.
    fn silent_hint(&mut self, hint: Hint) {
        let Some(p) = self.peer.as_mut() else { return };
        if p.departed || p.exited.is_some() {
            return;
        }
        match hint {
            Hint::DaemonExited => {
                info!(
                    "death-watch: the daemon of peer node {} exited; probing",
                    p.node_id
                )
            }
            Hint::CarrierLost => info!("a heart-beat link lost its carrier; probing"),
        }
        p.exited = Some((p.incarnation, p.seq));
        p.hint = hint;
    }

    fn expire(&mut self, now: Instant, out: &mut Vec<Action>) {
        let dead = self.settings.dead;
        if let Some(p) = self.peer.as_mut() {
            for path in p.expire_paths(now, dead) {
                out.push(Action::Path { path, up: false });
            }
        }
    }
}

fn updown(up: bool) -> &'static str {
    if up {
        "Up"
    } else {
        "Down"
    }
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
