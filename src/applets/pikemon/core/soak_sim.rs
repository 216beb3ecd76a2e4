//! The world of the random soak (`soak_tests`): two nodes on a fake clock, driven event by
//! event (no fixed step), three paths whose two directions fail apart, frames delayed,
//! duplicated, reordered and replayed, nodes killed, restarted and frozen, health, admin
//! orders, conntrackd and the split-brain probe — and the watches that check the invariants
//! while it runs. Frames are signed as the worker signs them (`sim::frame_for`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::sim::{frame_for, settings, DEAD, HELLO, KEY, LAN, PATHS};
use super::soak_invariants::{Watch, TAKEOVERS_PER_CHANGE};
use super::*;

/// splitmix64: a small seeded generator, the same sequence on every machine.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub(super) fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
    /// Log-uniform between `lo` and `hi` ms: as many short faults as long ones.
    pub(super) fn span(&mut self, lo: u64, hi: u64) -> Duration {
        let (l, h) = ((lo as f64).ln(), (hi as f64).ln());
        let x = l + (h - l) * (self.below(1 << 20) as f64 / f64::from(1u32 << 20));
        Duration::from_millis(x.exp() as u64)
    }
}

/// The longest time a frame spends on a working path (the base jitter).
pub(super) const LATENCY: Duration = Duration::from_millis(2);
/// The longest the simulated worker takes to bring the addresses up.
pub(super) const TAKEOVER_LATENCY: Duration = Duration::from_millis(5);
/// The extra delay of a reordering path, at most.
pub(super) const REORDER: Duration = Duration::from_millis(150);

/// One change of the world, applied at its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// `dir`: frames from that node; None: both directions. `on` false heals.
    Cut {
        path: usize,
        dir: Option<usize>,
        on: bool,
    },
    Partition {
        on: bool,
    },
    Delay {
        path: usize,
        from: usize,
        ms: u64,
        on: bool,
    },
    Duplicate {
        path: usize,
        on: bool,
    },
    Reorder {
        path: usize,
        on: bool,
    },
    /// Captured frames are replayed while on.
    Replay {
        on: bool,
    },
    Kill {
        node: usize,
        how: Death,
    },
    /// SIGTERM: the worker hands over (GOODBYE) and is killed some time later.
    Stop {
        node: usize,
    },
    /// Start again; `resume`: with the role of the status file (else none: corrupt file).
    Start {
        node: usize,
        resume: bool,
    },
    Freeze {
        node: usize,
    },
    Thaw {
        node: usize,
    },
    Health {
        node: usize,
        up: bool,
    },
    Admin {
        node: usize,
        order: Admin,
    },
    /// `preemptive` flipped in the config, picked up by a worker restart of `node` (the
    /// other node follows with its own op).
    Preemptive {
        node: usize,
        on: bool,
    },
    Conntrackd {
        node: usize,
        hangs: bool,
    },
    ProbeAnswers {
        node: usize,
        absent: bool,
    },
}

/// How a node dies (DESIGN.md §2, `death_watch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Death {
    /// The machine loses power: its addresses go, no FIN reaches the death-watch; the peer
    /// sees the carrier of the heart-beat cables drop when they are direct (`carrier`).
    PowerLoss { carrier: bool },
    /// The whole daemon is killed: its kernel closes the death-watch connection, and the
    /// VIPs go with it.
    Daemon,
    /// Only the worker (the supervisor restarts it): the addresses stay, nothing is closed.
    Worker,
}

/// An input the world delivers to a node (frozen nodes keep them for later).
#[derive(Debug, Clone)]
enum Owned {
    Frame(usize, Vec<u8>),
    TookOver,
    Conntrack(SyncStep, bool),
    Stats,
    /// Try `k` of a probe; `gen` the node's start it belongs to.
    ProbeTry(u32, Duration),
    ProbeDone(bool),
    Health(bool),
    Exited,
    Carrier(usize),
    Conflict,
    Shutdown,
    Tick,
}

#[derive(Debug)]
enum Ev {
    Op(Op),
    To { node: usize, gen: u32, input: Owned },
    ReplayOne,
}

pub(super) struct World {
    pub(super) seed: u64,
    pub(super) rng: Rng,
    pub(super) t0: Instant,
    pub(super) now: Instant,
    queue: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    events: Vec<Option<Ev>>,
    order: u64,
    pub(super) nodes: [Option<Node>; 2],
    /// Starts of each node (events of an earlier start are dropped).
    gens: [u32; 2],
    incarnations: u32,
    /// The node's addresses are up (the kernel answers ARP for them, frozen or not).
    pub(super) addr: [bool; 2],
    pub(super) frozen: [Option<Instant>; 2],
    /// Told to shut down (SIGTERM), not killed yet.
    pub(super) stopping: [bool; 2],
    backlog: [Vec<Owned>; 2],
    /// Per path and sending node: cut faults in force.
    cut: [[u32; 2]; PATHS],
    delays: Vec<(usize, usize, u64)>,
    dup: [u32; PATHS],
    reorder: [u32; PATHS],
    replay: u32,
    captured: Vec<(usize, Vec<u8>)>,
    /// The newest frame each node sent (what a replay most likes to repeat).
    newest: [Vec<u8>; 2],
    /// Replays repeat only the newest frame of the other node (a directed test).
    pub(super) replay_newest_only: bool,
    health_down: [u32; 2],
    hangs: [u32; 2],
    probe_absent: [u32; 2],
    pub(super) preemptive: [bool; 2],
    pub(super) commit_timeout: Option<Duration>,
    takeover: TakeoverOrder,
    /// TakeOver actions that were real takeovers (not a resume or a retry).
    pub(super) takeovers: u32,
    /// Takeovers since the last change of the world, and the most seen after one change.
    since_op: u32,
    pub(super) most_per_op: u32,
    /// Role changes (TakeOver or Release actions) and when the last one was.
    pub(super) changes: u32,
    pub(super) last_change: Instant,
    pub(super) two_masters: Watch,
    pub(super) healthy_backup: [Watch; 2],
    pub(super) nobody_serves: Watch,
    /// A hand-over between two linked nodes left nobody serving (make-before-break broken).
    pub(super) handover_gap: Watch,
    pub(super) gap_open: bool,
    /// A node let its addresses go after waiting in Releasing (for the peer's ACTIVE).
    pub(super) gap_armed: bool,
    pub(super) was_releasing: [bool; 2],
    /// Since when the pair is linked (`linked`).
    pub(super) linked_since: Option<Instant>,
    /// The role in each node's status file: Master (written at every change).
    pub(super) saved_master: [bool; 2],
    /// The last delivery of a frame a delaying or reordering path holds back.
    pub(super) late_until: Instant,
    /// Frames, deliveries and node inputs handled (the soak's size).
    pub(super) handled: u64,
    /// Every fault has healed by this moment minus `CONVERGENCE_BOUND`: from here on
    /// exactly one Master, and no role change.
    pub(super) settled_from: Option<Instant>,
    /// `PIKEMON_SOAK_TRACE=SEED`: print the ops and actions of that seed.
    trace: bool,
}

impl World {
    pub(super) fn new(seed: u64) -> World {
        let mut rng = Rng::new(seed);
        let commit_timeout = rng.chance(50).then(|| rng.ms(50, 400));
        let takeover = if rng.chance(50) {
            TakeoverOrder::Parallel
        } else {
            TakeoverOrder::CommitFirst
        };
        let preemptive = rng.chance(50);
        World::with(seed, rng, commit_timeout, takeover, preemptive)
    }

    /// A world with the given state sync and preemption (directed tests).
    pub(super) fn with(
        seed: u64,
        rng: Rng,
        commit_timeout: Option<Duration>,
        takeover: TakeoverOrder,
        preemptive: bool,
    ) -> World {
        let t0 = Instant::now();
        let mut w = World {
            seed,
            rng,
            t0,
            now: t0,
            queue: BinaryHeap::new(),
            events: Vec::new(),
            order: 0,
            nodes: [None, None],
            gens: [0; 2],
            incarnations: 0,
            addr: [false; 2],
            frozen: [None; 2],
            stopping: [false; 2],
            backlog: [Vec::new(), Vec::new()],
            cut: [[0; 2]; PATHS],
            delays: Vec::new(),
            dup: [0; PATHS],
            reorder: [0; PATHS],
            replay: 0,
            captured: Vec::new(),
            newest: [Vec::new(), Vec::new()],
            replay_newest_only: false,
            health_down: [0; 2],
            hangs: [0; 2],
            probe_absent: [0; 2],
            preemptive: [preemptive; 2],
            commit_timeout,
            takeover,
            takeovers: 0,
            since_op: 0,
            most_per_op: 0,
            changes: 0,
            last_change: t0,
            two_masters: Watch::default(),
            healthy_backup: [Watch::default(), Watch::default()],
            nobody_serves: Watch::default(),
            handover_gap: Watch::default(),
            gap_open: false,
            gap_armed: false,
            was_releasing: [false; 2],
            linked_since: None,
            saved_master: [false; 2],
            late_until: t0,
            handled: 0,
            settled_from: None,
            trace: std::env::var("PIKEMON_SOAK_TRACE").is_ok_and(|v| v == seed.to_string()),
        };
        w.start(0, None);
        w.start(1, None);
        w
    }

    pub(super) fn at(&mut self, t: Duration, op: Op) {
        let when = self.t0 + t;
        self.push(when, Ev::Op(op));
    }

    fn push(&mut self, when: Instant, ev: Ev) {
        self.order += 1;
        self.events.push(Some(ev));
        self.queue
            .push(Reverse((when, self.order, self.events.len() - 1)));
    }

    fn to(&mut self, node: usize, after: Duration, input: Owned) {
        let gen = self.gens[node];
        self.push(self.now + after, Ev::To { node, gen, input });
    }

    pub(super) fn claims(&self, i: usize) -> bool {
        self.nodes[i].as_ref().is_some_and(|n| n.claims(0))
    }

    pub(super) fn healthy(&self, i: usize) -> bool {
        self.health_down[i] == 0
    }

    /// A path works both ways at normal latency, and both nodes run unfrozen (one may be
    /// shutting down).
    pub(super) fn linked(&self) -> bool {
        let running = (0..2).all(|i| self.nodes[i].is_some() && self.frozen[i].is_none());
        running && self.path_works()
    }

    fn path_works(&self) -> bool {
        (0..PATHS).any(|p| {
            self.cut[p] == [0, 0] && self.reorder[p] == 0 && !self.delays.iter().any(|d| d.0 == p)
        })
    }

    /// A path works both ways at normal latency, and both nodes run, unfrozen and not
    /// shutting down.
    pub(super) fn connected(&self) -> bool {
        let running = (0..2)
            .all(|i| self.nodes[i].is_some() && self.frozen[i].is_none() && !self.stopping[i]);
        running
            && (0..PATHS).any(|p| {
                self.cut[p] == [0, 0]
                    && self.reorder[p] == 0
                    && !self.delays.iter().any(|d| d.0 == p)
            })
    }

    fn start(&mut self, i: usize, resume: Option<bool>) {
        self.gens[i] += 1;
        self.incarnations += 1;
        let mut s = settings(i as u32 + 1, self.preemptive[i]);
        s.vcs[0].commit_timeout = self.commit_timeout;
        s.vcs[0].takeover = self.takeover;
        let incarnation = (self.rng.next() as u32) | 1;
        self.nodes[i] = Some(Node::new(self.now, s, self.gens[i], incarnation, &[resume]));
        self.frozen[i] = None;
        self.stopping[i] = false;
        // A new process: a release the old one waited in is not carried over (the status
        // file saves Releasing as Backup, and the start lets the addresses go).
        self.was_releasing[i] = false;
        self.backlog[i].clear();
        let acts = self.nodes[i].as_ref().map(Node::start).unwrap_or_default();
        self.carry_out(i, acts);
        if !self.healthy(i) {
            self.feed(i, Input::Health { vc: 0, up: false });
        }
        if self.commit_timeout.is_some() {
            self.to(i, HELLO, Owned::Stats);
        }
    }

    /// Hands `input` to node `i` and carries the actions out; then ticks it while a
    /// deadline is due (the worker's loop), checking that a tick moves the deadline on.
    fn feed(&mut self, i: usize, input: Input) {
        let now = self.now;
        let Some(n) = self.nodes[i].as_mut() else {
            return;
        };
        self.handled += 1;
        let acts = n.handle(now, input);
        self.carry_out(i, acts);
        self.tick_due(i);
    }

    pub(super) fn tick_due(&mut self, i: usize) {
        let now = self.now;
        let seed = self.seed;
        loop {
            let Some(n) = self.nodes[i].as_mut() else {
                return;
            };
            if n.next_deadline().is_none_or(|t| t > now) {
                return;
            }
            self.handled += 1;
            let acts = n.handle(now, Input::Tick);
            let next = n.next_deadline();
            assert!(
                next.is_none_or(|t| t > now),
                "seed {seed}: node {i}: next deadline not after the tick at {:?} (busy loop)",
                now - self.t0
            );
            self.carry_out(i, acts);
        }
    }

    /// The simulated worker of node `i`.
    fn carry_out(&mut self, i: usize, actions: Vec<Action>) {
        for a in actions {
            if self.trace && !matches!(a, Action::Send(_) | Action::Garp { .. }) {
                let role = self.nodes[i].as_ref().and_then(|n| n.vc(0)).map(|v| v.role);
                eprintln!("{:>8?} node {i}: {a:?} now {role:?}", self.now - self.t0);
            }
            match a {
                Action::Send(repr) => self.send(i, &repr),
                Action::TakeOver { reason, .. } => {
                    self.addr[i] = true;
                    self.changes += 1;
                    self.last_change = self.now;
                    if !matches!(reason, Reason::Resumed | Reason::Retry) {
                        self.takeovers += 1;
                        self.since_op += 1;
                        self.most_per_op = self.most_per_op.max(self.since_op);
                        assert!(
                            self.since_op <= TAKEOVERS_PER_CHANGE,
                            "seed {}: {} takeovers without a change of the world since, at {:?}",
                            self.seed,
                            self.since_op,
                            self.now - self.t0
                        );
                    }
                    let d = self.rng.ms(0, TAKEOVER_LATENCY.as_millis() as u64);
                    self.to(i, d, Owned::TookOver);
                }
                Action::Release { .. } => {
                    // Make-before-break owed: the node waited in Releasing and the pair was
                    // linked long enough for the peer to come up (one hello, the frames, its
                    // commit, its takeover).
                    let need = HELLO + LATENCY * 2 + self.peer_commit_wait() + TAKEOVER_LATENCY;
                    let linked_long = self.linked_since.is_some_and(|t| self.now >= t + need);
                    if self.addr[i] && self.was_releasing[i] && linked_long {
                        self.gap_armed = true;
                    }
                    if self.addr[i] {
                        self.changes += 1;
                        self.last_change = self.now;
                    }
                    self.addr[i] = false;
                }
                Action::Conntrack { step, .. } => {
                    let requests = match step {
                        SyncStep::Commit
                        | SyncStep::PreCommit
                        | SyncStep::Bulk
                        | SyncStep::RequestResync => 1,
                        SyncStep::AfterRelease => 2,
                        SyncStep::AfterTakeover => 3,
                    };
                    if self.hangs[i] > 0 {
                        let t = self.commit_timeout.unwrap_or(DEAD) * requests;
                        self.to(i, t, Owned::Conntrack(step, false));
                    } else {
                        let d = self.rng.ms(1, 5);
                        self.to(i, d, Owned::Conntrack(step, true));
                    }
                }
                Action::Probe { .. } => {
                    let spacing = self.nodes[i]
                        .as_ref()
                        .map_or(HELLO / 4, Node::probe_interval);
                    self.to(i, Duration::ZERO, Owned::ProbeTry(0, spacing));
                }
                Action::Garp { .. } => {
                    // The other node's worker sees our virtual MAC on its LAN while its own
                    // addresses are up.
                    if self.addr[1 - i] && self.cut[LAN][i] == 0 {
                        let d = self.rng.ms(0, LATENCY.as_millis() as u64);
                        self.to(1 - i, d, Owned::Conflict);
                    }
                }
                Action::Path { .. } => {}
            }
        }
    }

    fn send(&mut self, from: usize, repr: &Repr) {
        for path in 0..PATHS {
            let f = frame_for(repr, path, from, KEY);
            self.capture(from, &f);
            if self.cut[path][from] > 0 {
                continue;
            }
            let extra = self
                .delays
                .iter()
                .filter(|d| d.0 == path && d.1 == from)
                .map(|d| Duration::from_millis(d.2))
                .max()
                .unwrap_or_default();
            let mut d = self.rng.ms(0, LATENCY.as_millis() as u64) + extra;
            if self.reorder[path] > 0 {
                d += self.rng.ms(0, REORDER.as_millis() as u64);
            }
            if d > LATENCY {
                self.late_until = self.late_until.max(self.now + d);
            }
            let to = 1 - from;
            if self.dup[path] > 0 {
                let again = d + self.rng.ms(0, HELLO.as_millis() as u64 * 2);
                self.to(to, again, Owned::Frame(path, f.clone()));
            }
            self.to(to, d, Owned::Frame(path, f));
        }
    }

    /// Keeps frames for replays: all of the first few hundred, then a random sample.
    fn capture(&mut self, from: usize, f: &[u8]) {
        const KEEP: usize = 400;
        self.newest[from] = f.to_vec();
        if self.captured.len() < KEEP {
            self.captured.push((from, f.to_vec()));
        } else if self.rng.chance(10) {
            let k = self.rng.below(KEEP as u64) as usize;
            self.captured[k] = (from, f.to_vec());
        }
    }

    /// The probe of node `i` gets an answer now: the peer's addresses are up (its kernel
    /// answers, frozen or not) and the LAN carries both ways.
    fn probe_answered(&self, i: usize) -> bool {
        self.addr[1 - i] && self.cut[LAN] == [0, 0] && self.probe_absent[i] == 0
    }

    fn apply(&mut self, op: Op) {
        self.since_op = 0;
        if self.trace {
            eprintln!("{:>8?} op {op:?}", self.now - self.t0);
        }
        match op {
            Op::Cut { path, dir, on } => {
                if on && dir.is_none() && path < LAN {
                    // A pulled heart-beat cable: both ends lose the carrier.
                    self.to(0, Duration::ZERO, Owned::Carrier(path));
                    self.to(1, Duration::ZERO, Owned::Carrier(path));
                }
                for from in 0..2 {
                    if dir.is_none_or(|d| d == from) {
                        bump(&mut self.cut[path][from], on);
                    }
                }
            }
            Op::Partition { on } => {
                for c in self.cut.iter_mut().flatten() {
                    bump(c, on);
                }
            }
            Op::Delay { path, from, ms, on } => {
                if on {
                    self.delays.push((path, from, ms));
                } else if let Some(k) = self.delays.iter().position(|d| *d == (path, from, ms)) {
                    self.delays.remove(k);
                }
            }
            Op::Duplicate { path, on } => bump(&mut self.dup[path], on),
            Op::Reorder { path, on } => bump(&mut self.reorder[path], on),
            Op::Replay { on } => {
                bump(&mut self.replay, on);
                if on {
                    self.push(self.now, Ev::ReplayOne);
                }
            }
            Op::Kill { node, how } => {
                if self.nodes[node].is_some() {
                    let d = self.rng.ms(0, 5);
                    match how {
                        Death::PowerLoss { carrier: true } => {
                            for path in 0..LAN {
                                self.to(1 - node, d, Owned::Carrier(path));
                            }
                        }
                        Death::Daemon => self.to(1 - node, d, Owned::Exited),
                        Death::PowerLoss { carrier: false } | Death::Worker => {}
                    }
                }
                self.nodes[node] = None;
                self.stopping[node] = false;
                self.frozen[node] = None;
                self.backlog[node].clear();
                if how != Death::Worker {
                    self.addr[node] = false;
                }
            }
            Op::Start { node, resume } => {
                if self.nodes[node].is_none() {
                    let role = self.resume_role(node, resume);
                    self.start(node, role);
                }
            }
            Op::Stop { node } => {
                if self.frozen[node].is_none() && self.nodes[node].is_some() {
                    self.stopping[node] = true;
                    self.deliver(node, Owned::Shutdown);
                }
            }
            Op::Freeze { node } => {
                if self.nodes[node].is_some() && self.frozen[node].is_none() {
                    self.frozen[node] = Some(self.now);
                }
            }
            Op::Thaw { node } => {
                if self.frozen[node].take().is_some() {
                    for input in std::mem::take(&mut self.backlog[node]) {
                        self.deliver(node, input);
                    }
                    self.deliver(node, Owned::Tick);
                }
            }
            Op::Health { node, up } => {
                let was = self.healthy(node);
                bump(&mut self.health_down[node], !up);
                if was != self.healthy(node) {
                    let up = self.healthy(node);
                    self.to(node, Duration::ZERO, Owned::Health(up));
                }
            }
            Op::Admin { node, order } => {
                // The control socket of a frozen or dead worker does not answer.
                if self.frozen[node].is_none() {
                    let refused = self.nodes[node]
                        .as_ref()
                        .is_none_or(|n| n.admin_refusal(self.now, 0, order).is_some());
                    if !refused {
                        self.feed(node, Input::Admin { vc: Some(0), order });
                    }
                }
            }
            Op::Preemptive { node, on } => {
                self.preemptive[node] = on;
                if self.nodes[node].is_some() && self.frozen[node].is_none() {
                    // A config reload: the worker restarts and resumes its role.
                    self.nodes[node] = None;
                    let role = self.resume_role(node, true);
                    self.start(node, role);
                }
            }
            Op::Conntrackd { node, hangs } => bump(&mut self.hangs[node], hangs),
            Op::ProbeAnswers { node, absent } => bump(&mut self.probe_absent[node], absent),
        }
    }

    /// The longest a takeover's addresses wait for conntrackd's commit.
    fn peer_commit_wait(&self) -> Duration {
        match (self.commit_timeout, self.takeover) {
            (Some(t), TakeoverOrder::CommitFirst) => t,
            _ => Duration::ZERO,
        }
    }

    /// What the worker passes the core at a start (`worker::setup`): Master when the status
    /// file (`file_ok`) says Master and the addresses are still up, else nothing (listen
    /// first). A role in Releasing is saved as Backup.
    fn resume_role(&self, i: usize, file_ok: bool) -> Option<bool> {
        (file_ok && self.saved_master[i] && self.addr[i]).then_some(true)
    }

    /// One input for node `gen`'s start of node `i`, at once or kept while it is frozen.
    fn deliver(&mut self, i: usize, input: Owned) {
        if self.nodes[i].is_none() {
            return;
        }
        if self.frozen[i].is_some() {
            self.backlog[i].push(input);
            return;
        }
        match input {
            Owned::Frame(path, f) => self.feed(i, Input::Frame { path, frame: &f }),
            Owned::TookOver => self.feed(i, Input::TookOver { vc: 0, ok: true }),
            Owned::Conntrack(step, ok) => self.feed(i, Input::ConntrackDone { vc: 0, step, ok }),
            Owned::Stats => {
                // Polled every hello: a steady external cache while conntrackd answers.
                let external = (self.hangs[i] == 0).then_some(1000);
                self.feed(i, Input::ConntrackStats { vc: 0, external });
                self.to(i, HELLO, Owned::Stats);
            }
            Owned::ProbeTry(k, spacing) => {
                if self.probe_answered(i) {
                    self.to(i, Duration::from_millis(1), Owned::ProbeDone(true));
                } else if k + 1 < PROBE_TRIES {
                    self.to(i, spacing, Owned::ProbeTry(k + 1, spacing));
                } else {
                    self.to(i, spacing, Owned::ProbeDone(false));
                }
            }
            Owned::ProbeDone(answered) => self.feed(i, Input::ProbeDone { vc: 0, answered }),
            Owned::Health(up) => self.feed(i, Input::Health { vc: 0, up }),
            Owned::Exited => self.feed(i, Input::PeerExited),
            Owned::Carrier(path) => self.feed(i, Input::CarrierLost { path }),
            Owned::Conflict => self.feed(i, Input::Conflict { vc: 0 }),
            Owned::Shutdown => self.feed(i, Input::Shutdown),
            Owned::Tick => self.feed(i, Input::Tick),
        }
    }

    /// Runs the world until `end`, event by event, checking the invariants as it goes.
    pub(super) fn run_until(&mut self, end: Instant) {
        loop {
            let mut next = self.queue.peek().map(|Reverse((t, _, _))| *t);
            for i in 0..2 {
                if self.frozen[i].is_some() {
                    continue;
                }
                if let Some(t) = self.nodes[i].as_ref().and_then(Node::next_deadline) {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
            }
            let t = next.map_or(end, |t| t.max(self.now));
            if t > end {
                self.check(end);
                self.now = end;
                return;
            }
            self.check(t);
            self.now = t;
            if let Some(Reverse((when, _, k))) = self.queue.peek().copied() {
                if when <= t {
                    self.queue.pop();
                    if let Some(ev) = self.events[k].take() {
                        self.event(ev);
                    }
                }
            }
            for i in 0..2 {
                if self.frozen[i].is_none() {
                    self.tick_due(i);
                }
            }
            self.watch();
        }
    }

    fn event(&mut self, ev: Ev) {
        match ev {
            Ev::Op(op) => self.apply(op),
            Ev::To { node, gen, input } => {
                if gen == self.gens[node] {
                    self.deliver(node, input);
                }
            }
            Ev::ReplayOne => {
                if self.replay == 0 || self.captured.is_empty() {
                    return;
                }
                let k = self.rng.below(self.captured.len() as u64) as usize;
                let (mut from, mut f) = self.captured[k].clone();
                if self.replay_newest_only {
                    from = 0;
                    f = self.newest[0].clone();
                } else if self.rng.chance(50) {
                    from = self.rng.below(2) as usize;
                    f = self.newest[from].clone();
                }
                // Mostly to the peer of the sender, now and then back to the sender (an
                // earlier run of itself).
                let to = if self.replay_newest_only || self.rng.chance(85) {
                    1 - from
                } else {
                    from
                };
                let path = self.rng.below(PATHS as u64) as usize;
                self.deliver(to, Owned::Frame(path, f));
                let gap = self.rng.ms(2, HELLO.as_millis() as u64);
                self.push(self.now + gap, Ev::ReplayOne);
            }
        }
    }
}

fn bump(c: &mut u32, on: bool) {
    if on {
        *c += 1;
    } else {
        *c = c.saturating_sub(1);
    }
}
