//! The pure core of the pikemon worker: `handle(now, input) -> Vec<Action>` and
//! `next_deadline()`. It verifies and orders the peer's frames, tracks heart-beat paths, runs
//! the election per virtual cluster and says what to send and which role to play; the worker
//! does the I/O. Time is a parameter: the tests drive it with a fake clock.

use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::election::{decide, Admin, Side, Verdict, Winner};
use super::peer::{Freshness, Peer, Proof};
use crate::wire::pike::{self, vc_flags, MessageType, Packet, Repr, Role, VcState};

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
}

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
}

/// The role this node plays for one virtual cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcRole {
    /// Just started without a saved role: listening for a dead-interval.
    Init,
    Backup,
    /// Asked the worker to ARP-probe the VIPs before taking over.
    Probing,
    Master,
}

impl VcRole {
    fn wire(self) -> Role {
        match self {
            VcRole::Init => Role::Init,
            VcRole::Backup | VcRole::Probing => Role::Backup,
            VcRole::Master => Role::Master,
        }
    }
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
    /// `pikemon -c take|drop`; `vc` None means all.
    Admin { vc: Option<usize>, order: Admin },
    /// The ARP probe asked for by `Action::Probe` finished.
    ProbeDone { vc: usize, answered: bool },
    /// The master saw its virtual MAC or VIP answered by someone else.
    Conflict { vc: usize },
    /// The worker has the addresses of virtual cluster `vc` up as Master: the HELLOs say
    /// ACTIVE from now on (one goes out at once).
    Active { vc: usize },
    /// The death-watch connection to the peer's daemon closed: its process is gone (or the
    /// connection broke). A hint, never proof: the peer counts as silent and the VIP probe
    /// decides, exactly as after a dead-interval.
    PeerExited,
    /// SIGINT/SIGQUIT/SIGTERM: drop Master at once, say GOODBYE.
    Shutdown,
}

/// What the worker must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this message on every path (the worker sets path-id and signs per path).
    Send(Repr),
    /// Play Master / Backup for virtual cluster `vc` now.
    Become {
        vc: usize,
        master: bool,
        reason: String,
    },
    /// ARP-probe the VIPs of `vc` and answer with `Input::ProbeDone`.
    Probe { vc: usize },
    /// Send gratuitous ARPs for `vc` again.
    Garp { vc: usize },
    /// A heart-beat path changed state (for the paths file and the log).
    Path { path: usize, up: bool },
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
    pub reason: String,
    /// When the preferred side was first seen alive and healthy while we are master (for
    /// preempt-delay).
    preempt_since: Option<Instant>,
    /// An answered probe: do not probe again before this.
    probe_after: Option<Instant>,
    /// The role a probe started from (Backup or Init): where an answered or interrupted
    /// probe returns to.
    before_probe: VcRole,
    /// Master with the addresses up (the worker said `Active`); cleared by any role change.
    active: bool,
    /// Master resumed from the status file, not yet compared with a live peer: if the peer
    /// took over meanwhile, the resumed side yields (a restart never steals the role).
    resumed: bool,
    /// Both sides claim Master and we keep it (a healed partition): our GARPs went out when
    /// the rival was first heard.
    rival: bool,
    /// The peer counted as alive at the last election (to see it come back).
    peer_was_alive: bool,
    /// When a conflict (our virtual MAC seen elsewhere) was last acted on.
    last_conflict: Option<Instant>,
}

impl VcStatus {
    /// Master resumed from the status file and not yet compared with a live peer.
    pub fn resumed(&self) -> bool {
        self.resumed
    }
}

/// The worker's core.
pub struct Node {
    settings: Settings,
    /// The persisted start counter (shown to operators; not on the wire).
    boot: u32,
    /// Random per start: what the peer's freshness rules key on (PIKE version 2).
    incarnation: u32,
    seq: u64,
    /// Our recent frames, against which the peer's acknowledgements are checked.
    proof: Proof,
    /// The newest (incarnation, seq) heard from the peer, believed or not: what our frames
    /// acknowledge, so a new incarnation of the peer can prove itself.
    heard: Option<(u32, u64)>,
    /// Per path: the start of the current verification window and the HMACs checked in it.
    budgets: Vec<(Instant, u32)>,
    started: Instant,
    next_hello: Instant,
    peer: Option<Peer>,
    vcs: Vec<VcStatus>,
    counters: Counters,
    shutting_down: bool,
}

impl Node {
    /// A core for start `boot` (already persisted) and the random `incarnation` of this
    /// start. `resume[i]` is the role saved in the status file: Some(true) Master,
    /// Some(false) Backup, None missing (listen first).
    pub fn new(
        now: Instant,
        settings: Settings,
        boot: u32,
        incarnation: u32,
        resume: &[Option<bool>],
    ) -> Node {
        let vcs = (0..settings.vcs.len())
            .map(|i| {
                let (role, reason) = match resume.get(i).copied().flatten() {
                    Some(true) => (VcRole::Master, "resumed from status file"),
                    Some(false) => (VcRole::Backup, "resumed from status file"),
                    None => (VcRole::Init, "start"),
                };
                VcStatus {
                    role,
                    up: true,
                    admin: Admin::None,
                    fail_count: 0,
                    since: now,
                    reason: reason.to_string(),
                    preempt_since: None,
                    probe_after: None,
                    before_probe: role,
                    active: false,
                    resumed: role == VcRole::Master,
                    rival: false,
                    peer_was_alive: false,
                    last_conflict: None,
                }
            })
            .collect();
        let paths = settings.paths;
        Node {
            settings,
            boot,
            incarnation,
            seq: 0,
            proof: Proof::default(),
            heard: None,
            budgets: vec![(now, 0); paths],
            started: now,
            next_hello: now,
            peer: None,
            vcs,
            counters: Counters::default(),
            shutting_down: false,
        }
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
    pub fn peer_alive(&self, now: Instant, vc: Option<usize>) -> bool {
        let Some(p) = &self.peer else { return false };
        !p.departed
            && p.exited.is_none()
            && p.confirmed_at.is_some_and(|t| now < t + self.dead_for(vc))
    }

    /// Dead-interval, plus one hello of skew on the non-preferred side of virtual cluster
    /// `vc` while both sides could claim it. A peer last heard as its Master has no rival
    /// claimant (if it is alive it keeps the role and answers the probe), so no skew then.
    fn dead_for(&self, vc: Option<usize>) -> Duration {
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
        if self.shutting_down {
            return None;
        }
        let mut d = self.next_hello;
        if let Some(p) = &self.peer {
            if let (Some(t), false, None) = (p.confirmed_at, p.departed, p.exited) {
                for i in 0..self.vcs.len() {
                    d = d.min(t + self.dead_for(Some(i)));
                }
            }
            if let Some(t) = p.next_path_expiry(self.settings.dead) {
                d = d.min(t);
            }
        }
        for (i, v) in self.vcs.iter().enumerate() {
            if v.role == VcRole::Init {
                d = d.min(self.started + self.dead_for(Some(i)));
            }
            if let Some(t) = v.probe_after {
                d = d.min(t);
            }
            if let (Some(t), Some(s)) = (v.preempt_since, self.settings.vcs.get(i)) {
                d = d.min(t + s.preempt_delay);
            }
        }
        Some(d)
    }

    /// Handles one event.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        if self.shutting_down {
            // Still listening (the worker waits for the peer's ACTIVE before it lets the
            // addresses go), but no election and nothing sent.
            if let Input::Frame { path, frame } = input {
                self.frame(now, path, frame, &mut Vec::new());
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
            Input::Admin { vc, order } => {
                for (i, v) in self.vcs.iter_mut().enumerate() {
                    if vc.is_none_or(|x| x == i) {
                        v.admin = order;
                    }
                }
                self.next_hello = now;
            }
            Input::ProbeDone { vc, answered } => {
                if let Some(v) = self.vcs.get_mut(vc) {
                    if v.role == VcRole::Probing {
                        if answered {
                            warn!(
                                "vc {}: VIP answered from the virtual MAC elsewhere; staying Backup",
                                self.settings.vcs[vc].name
                            );
                            v.role = VcRole::Backup;
                            v.probe_after = Some(now + self.settings.dead);
                        } else {
                            let exited = self.peer.as_ref().is_some_and(|p| p.exited.is_some());
                            let reason = if exited {
                                "peer's daemon exited, probe unanswered"
                            } else {
                                "peer silent, probe unanswered"
                            };
                            self.set_role(now, vc, VcRole::Master, reason, &mut out);
                        }
                    }
                }
            }
            Input::Conflict { vc } => {
                // Anyone on the LAN can send frames from the virtual MAC: one reaction (log,
                // HELLO, GARPs) per hello-interval, however many arrive.
                let hello = self.settings.hello;
                let quiet = self.vcs.get(vc).and_then(|v| v.last_conflict);
                if quiet.is_some_and(|t| now < t + hello) {
                    return out;
                }
                if let Some(v) = self.vcs.get_mut(vc) {
                    v.last_conflict = Some(now);
                }
                if self.vcs.get(vc).is_some_and(|v| v.role == VcRole::Master) {
                    warn!(
                        "vc {}: virtual MAC seen elsewhere; re-running the election",
                        self.settings.vcs[vc].name
                    );
                    self.next_hello = now;
                    // A role only resumed from the status file is most likely the one the
                    // peer took over meanwhile: no GARPs to pull the traffic back before the
                    // HELLOs have settled it.
                    if !self.vcs[vc].resumed {
                        out.push(Action::Garp { vc });
                    }
                }
            }
            Input::Active { vc } => {
                if let Some(v) = self.vcs.get_mut(vc) {
                    if v.role == VcRole::Master && !v.active {
                        v.active = true;
                        self.next_hello = now;
                    }
                }
            }
            Input::PeerExited => {
                if let Some(p) = self.peer.as_mut() {
                    if !p.departed && p.exited.is_none() {
                        info!(
                            "death-watch: the daemon of peer node {} exited; probing",
                            p.node_id
                        );
                        p.exited = Some((p.incarnation, p.seq));
                    }
                }
            }
            Input::Shutdown => {
                for i in 0..self.vcs.len() {
                    if self.vcs[i].role == VcRole::Master {
                        self.set_role(now, i, VcRole::Backup, "shutdown", &mut out);
                    }
                }
                out.push(Action::Send(self.message(now, MessageType::Goodbye, true)));
                self.shutting_down = true;
                return out;
            }
        }
        self.expire(now, &mut out);
        self.elect(now, &mut out);
        if now >= self.next_hello {
            out.push(Action::Send(self.message(now, MessageType::Hello, false)));
            self.next_hello = now + self.settings.hello;
        }
        out
    }

    fn frame(&mut self, now: Instant, path: usize, bytes: &[u8], out: &mut Vec<Action>) {
        let repr = match self.authentic(now, path, bytes) {
            Some(r) => r,
            None => return,
        };
        // A frame of another incarnation must acknowledge a frame of ours from within the
        // proof window: our dead-interval plus the peer's own hello-interval (its answer
        // may wait that long), the latter capped.
        let peer_hello = Duration::from_millis(u64::from(repr.hello_ms)).min(MAX_PEER_HELLO);
        let proven = repr.ack_incarnation == self.incarnation
            && self
                .proof
                .proves(now, self.settings.dead + peer_hello, repr.ack_seq);
        let hello = self.settings.hello;
        let fresh = match &self.peer {
            None if proven => Freshness::Fresh,
            None => Freshness::Unproven,
            Some(p) => p.freshness(&repr, path, proven, now, hello),
        };
        self.counters.received += 1;
        match fresh {
            Freshness::Stale => {
                self.counters.replays += 1;
                debug!(
                    "stale frame (incarnation {:08x} seq {}) dropped",
                    repr.incarnation, repr.seq
                );
                return;
            }
            Freshness::Unproven => {
                // Acknowledge it so that its next frame can prove itself; answer at once the
                // first time this incarnation is heard.
                let first = self.heard.is_none_or(|(i, _)| i != repr.incarnation);
                if first || self.heard.is_some_and(|(_, s)| repr.seq > s) {
                    self.heard = Some((repr.incarnation, repr.seq));
                }
                if first {
                    self.next_hello = now;
                }
                debug!(
                    "node {} incarnation {:08x} heard, not yet proven fresh",
                    repr.node_id, repr.incarnation
                );
                return;
            }
            Freshness::Duplicate => {}
            Freshness::Fresh => {
                let n = self.settings.paths;
                self.heard = Some((repr.incarnation, repr.seq));
                let known = self.peer.as_ref().map(|p| p.incarnation);
                let peer = match self.peer.as_mut() {
                    Some(p) => {
                        p.accept(&repr, path, now);
                        p
                    }
                    None => self.peer.insert(Peer::new(&repr, path, now, n)),
                };
                if known != Some(repr.incarnation) {
                    info!(
                        "peer node {} (incarnation {:08x}) is alive",
                        peer.node_id, peer.incarnation
                    );
                    // Answer at once so the peer hears our acknowledgement within one frame.
                    self.next_hello = now;
                }
                if repr.msg_type == MessageType::Goodbye {
                    info!("peer node {} said GOODBYE", repr.node_id);
                }
            }
        }
        // A duplicate marks only its path alive (once per path, within one hello).
        if let Some(p) = self.peer.as_mut() {
            if fresh == Freshness::Duplicate {
                p.delivered_on(path);
            }
            if p.path_seen(path, now) {
                out.push(Action::Path { path, up: true });
            }
        }
    }

    /// Parses and verifies; counts what fails. Everything that can be rejected without the
    /// HMAC is rejected first, and each path verifies at most `VERIFY_BUDGET` frames per
    /// `VERIFY_WINDOW`: a flood of well-formed frames with the right key-id costs an HMAC
    /// each, and on one path (the LAN) it must not starve the others or the HELLOs.
    fn authentic(&mut self, now: Instant, path: usize, bytes: &[u8]) -> Option<Repr> {
        let parsed = pike::split_frame(bytes).and_then(|f| {
            let p = Packet::new_checked(f.payload)?;
            let r = Repr::parse(&p)?;
            Ok((f, p, r))
        });
        let (f, p, r) = match parsed {
            Ok(x) => x,
            Err(e) => {
                self.counters.malformed += 1;
                debug!("malformed PIKE frame: {e}");
                return None;
            }
        };
        if r.cluster_id != self.settings.cluster_id
            || r.node_id == self.settings.node_id
            || self.peer.as_ref().is_some_and(|p| p.node_id != r.node_id)
        {
            self.counters.foreign += 1;
            debug!(
                "frame from node {} of cluster {} ignored",
                r.node_id, r.cluster_id
            );
            return None;
        }
        let key = self.settings.keys.iter().find(|(id, _)| *id == r.key_id);
        let Some((_, secret)) = key else {
            self.counters.auth_failures += 1;
            debug!(
                "PIKE frame from node {} with unknown key-id {}",
                r.node_id, r.key_id
            );
            return None;
        };
        if let Some(b) = self.budgets.get_mut(path) {
            if now >= b.0 + VERIFY_WINDOW {
                *b = (now, 0);
            }
            if b.1 >= VERIFY_BUDGET {
                self.counters.throttled += 1;
                return None;
            }
            b.1 += 1;
        }
        if pike::verify(&p, secret, &f.dst, &f.src) {
            Some(r)
        } else {
            self.counters.auth_failures += 1;
            debug!("PIKE frame from node {} failed authentication", r.node_id);
            None
        }
    }

    fn expire(&mut self, now: Instant, out: &mut Vec<Action>) {
        let dead = self.settings.dead;
        if let Some(p) = self.peer.as_mut() {
            for path in p.expire_paths(now, dead) {
                out.push(Action::Path { path, up: false });
            }
        }
    }

    fn side(&self, i: usize) -> Side {
        let v = &self.vcs[i];
        let s = &self.settings.vcs[i];
        Side {
            node_id: self.settings.node_id,
            up: v.up,
            admin: v.admin,
            preferred: s.preferred,
            master: v.role == VcRole::Master,
            priority: s.priority,
            fail_count: v.fail_count,
        }
    }

    fn peer_side(&self, i: usize) -> Option<Side> {
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

    fn elect(&mut self, now: Instant, out: &mut Vec<Action>) {
        for i in 0..self.vcs.len() {
            let alive = self.peer_alive(now, Some(i));
            let back = alive && !self.vcs[i].peer_was_alive;
            self.vcs[i].peer_was_alive = alive;
            match (alive, self.peer_side(i)) {
                (true, Some(peer)) => self.elect_with_peer(now, i, &peer, back, out),
                _ => self.elect_alone(now, i, out),
            }
        }
    }

    fn elect_alone(&mut self, now: Instant, i: usize, out: &mut Vec<Action>) {
        self.vcs[i].preempt_since = None;
        let departed = self.peer.as_ref().is_some_and(|p| p.departed);
        match self.vcs[i].role {
            VcRole::Master | VcRole::Probing => {}
            VcRole::Init if now < self.started + self.dead_for(Some(i)) && !departed => {}
            VcRole::Init | VcRole::Backup => {
                if departed {
                    // An authentic, fresh GOODBYE: the peer is gone, no need to probe.
                    self.set_role(now, i, VcRole::Master, "peer said GOODBYE", out);
                } else if self.vcs[i].probe_after.is_none_or(|t| now >= t) {
                    self.vcs[i].probe_after = None;
                    self.vcs[i].before_probe = self.vcs[i].role;
                    self.vcs[i].role = VcRole::Probing;
                    info!(
                        "vc {}: peer silent, ARP-probing the VIPs",
                        self.settings.vcs[i].name
                    );
                    out.push(Action::Probe { vc: i });
                }
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
        let preempt_due = if me.preferred {
            true
        } else {
            self.vcs[i]
                .preempt_since
                .is_some_and(|t| now >= t + s.preempt_delay)
        };
        let resumed = std::mem::take(&mut self.vcs[i].resumed);
        let peer_resumed = self
            .peer
            .as_ref()
            .and_then(|p| p.vc(s.vcid))
            .is_some_and(|v| v.has(vc_flags::RESUMED));
        // A restart never steals the role: both sides apply the same rule, whichever of
        // them compares first.
        let Verdict { winner, reason } = if resumed && !peer_resumed && me.master && peer.master {
            Verdict {
                winner: Winner::Peer,
                reason: "the peer took over while we were away",
            }
        } else if peer_resumed && !resumed && me.master && peer.master {
            Verdict {
                winner: Winner::Me,
                reason: "the peer resumed after a restart; we took over meanwhile",
            }
        } else {
            decide(&me, peer, s.preemptive, preempt_due)
        };
        let role = self.vcs[i].role;
        let keep = winner == Winner::Me && role == VcRole::Master;
        let rival = keep && peer.master;
        if rival && !self.vcs[i].rival {
            // Two Masters (a healed partition): the peer yields on our next frame.
            info!(
                "vc {}: the peer claims Master too; keeping the role ({reason})",
                self.settings.vcs[i].name
            );
            self.next_hello = now;
        }
        // A peer heard again after a partition may have been Master meanwhile, and may have
        // yielded before we heard it claim: either way GARPs point the switches and hosts
        // back at us at once (not for a role only resumed, whose GARPs wait for the
        // election to settle).
        if ((rival && !self.vcs[i].rival) || (keep && back)) && !resumed {
            out.push(Action::Garp { vc: i });
        }
        self.vcs[i].rival = rival;
        match winner {
            Winner::Me if role != VcRole::Master && !peer.master => {
                self.set_role(now, i, VcRole::Master, reason, out);
            }
            Winner::Me => {}
            Winner::Peer
                if role == VcRole::Probing && self.vcs[i].before_probe == VcRole::Backup =>
            {
                // Heard again while probing: still Backup, nothing to carry out.
                self.vcs[i].role = VcRole::Backup;
                self.vcs[i].probe_after = None;
            }
            Winner::Peer if role != VcRole::Backup => {
                self.set_role(now, i, VcRole::Backup, reason, out);
            }
            Winner::Peer => {}
        }
    }

    /// The one place a role changes: logs `old => new (reason)`, tells the worker, and sends
    /// a frame at once so the peer learns within one frame.
    fn set_role(
        &mut self,
        now: Instant,
        i: usize,
        role: VcRole,
        reason: &str,
        out: &mut Vec<Action>,
    ) {
        let v = &mut self.vcs[i];
        if v.role == role {
            return;
        }
        info!(
            "vc {}: {:?} => {:?} ({reason})",
            self.settings.vcs[i].name, v.role, role
        );
        v.role = role;
        v.active = false;
        v.since = now;
        v.reason = reason.to_string();
        v.probe_after = None;
        self.next_hello = now;
        self.counters.transitions += 1;
        if role != VcRole::Probing {
            out.push(Action::Become {
                vc: i,
                master: role == VcRole::Master,
                reason: reason.to_string(),
            });
        }
    }

    /// The next message, with a new sequence number.
    fn message(&mut self, now: Instant, t: MessageType, releasing: bool) -> Repr {
        self.seq += 1;
        self.counters.sent += 1;
        self.proof.sent(now, self.seq);
        let (ack_incarnation, ack_seq) = self.heard.unwrap_or((0, 0));
        let vcs = self
            .vcs
            .iter()
            .zip(&self.settings.vcs)
            .map(|(v, s)| {
                let mut flags = 0;
                let mut set = |c: bool, f: u8| {
                    if c {
                        flags |= f;
                    }
                };
                set(v.up, vc_flags::HEALTH_UP);
                set(s.preferred, vc_flags::PREFERRED);
                set(v.admin == Admin::Take, vc_flags::ADMIN_TAKE);
                set(v.admin == Admin::Drop, vc_flags::ADMIN_DROP);
                set(s.preemptive, vc_flags::PREEMPTIVE);
                set(releasing, vc_flags::RELEASING);
                set(v.active && v.role == VcRole::Master, vc_flags::ACTIVE);
                set(v.resumed && v.role == VcRole::Master, vc_flags::RESUMED);
                VcState {
                    vcid: s.vcid,
                    role: v.role.wire(),
                    flags,
                    priority: s.priority,
                    fail_count: v.fail_count,
                }
            })
            .collect();
        Repr {
            msg_type: t,
            flags: 0,
            cluster_id: self.settings.cluster_id,
            node_id: self.settings.node_id,
            incarnation: self.incarnation,
            seq: self.seq,
            ack_incarnation,
            ack_seq,
            hello_ms: ms(self.settings.hello),
            dead_ms: ms(self.settings.dead),
            path_id: 0,
            key_id: self.settings.keys.first().map(|k| k.0).unwrap_or(0),
            vcs,
        }
    }

    /// The signing key (first configured).
    pub fn signing_key(&self) -> &[u8] {
        self.settings
            .keys
            .first()
            .map(|k| k.1.as_slice())
            .unwrap_or(&[])
    }
}

/// Each path verifies at most `VERIFY_BUDGET` frames per `VERIFY_WINDOW` (800 a second:
/// eight times what a peer at the shortest hello-interval sends).
const VERIFY_WINDOW: Duration = Duration::from_millis(10);
const VERIFY_BUDGET: u32 = 8;

/// The longest peer hello-interval the proof window allows for.
const MAX_PEER_HELLO: Duration = Duration::from_secs(10);

fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
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
