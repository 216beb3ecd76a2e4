//! The test harness of the election core: two nodes on a fake clock, three paths (hb0,
//! hb1, lan), frames built and signed exactly as the worker does, and a simulated worker that
//! carries the actions out.

use std::collections::VecDeque;

use super::*;

pub(super) const KEY: &[u8] = b"0123456789abcdef";
pub(super) const HELLO: Duration = Duration::from_millis(100);
pub(super) const DEAD: Duration = Duration::from_millis(300);
pub(super) const STEP: Duration = Duration::from_millis(5);
pub(super) const PATHS: usize = 3;
pub(super) const LAN: usize = 2;

pub(super) fn settings(node_id: u32, preemptive: bool) -> Settings {
    Settings {
        node_id,
        cluster_id: 1,
        hello: HELLO,
        dead: DEAD,
        keys: vec![(1, KEY.to_vec())],
        paths: PATHS,
        vcs: vec![VcSettings {
            vcid: 1,
            name: "LAN".into(),
            preferred: node_id == 1,
            preemptive,
            preempt_delay: Duration::from_millis(500),
            priority: 100,
            digest: 0x1234_5678,
            commit_timeout: None,
            takeover: TakeoverOrder::CommitFirst,
        }],
        garp_repeat: 3,
        garp_interval: Duration::from_millis(20),
        garp_keepalive: Duration::from_secs(60),
    }
}

pub(super) fn mac_of(node: usize) -> [u8; 6] {
    [2, 0, 0, 0, 0, node as u8 + 1]
}

/// Frame for `repr` on `path` from `node`, signed as the worker signs it.
pub(super) fn frame_for(repr: &Repr, path: usize, node: usize, key: &[u8]) -> Vec<u8> {
    let mut r = repr.clone();
    r.path_id = path as u8;
    pike::build_frame(&r, key, &mac_of(node))
}

pub(super) enum Ev {
    Frame(usize, Vec<u8>),
    Probe(usize),
    /// The worker carried a takeover out (its addresses are up).
    TookOver(usize),
    /// The worker finished a conntrackd step.
    Conntrack(usize, SyncStep),
}

pub(super) struct Sim {
    pub(super) t0: Instant,
    pub(super) now: Instant,
    pub(super) nodes: [Option<Node>; 2],
    /// What each node was last told to play (true = Master).
    pub(super) master: [bool; 2],
    /// Times each node was told to become Master.
    pub(super) takeovers: [u32; 2],
    pub(super) links: [bool; PATHS],
    /// Every frame node 0 sent, for replay tests.
    pub(super) captured: Vec<Vec<u8>>,
    pub(super) path_events: Vec<(usize, usize, bool)>,
    pub(super) boots: [u32; 2],
    /// Starts so far, both nodes: each start draws a new incarnation from it.
    pub(super) starts: u32,
    /// GARP bursts each node was told to send.
    pub(super) garps: [u32; 2],
    pub(super) preemptive: bool,
    pub(super) allow_two_masters: bool,
    /// The simulated worker answers every takeover with its addresses up at once.
    pub(super) auto_active: bool,
    /// `conntrack { commit-timeout }` of both nodes (None: no state sync).
    pub(super) commit_timeout: Option<Duration>,
    /// `conntrack { takeover }` of both nodes.
    pub(super) takeover: TakeoverOrder,
    /// conntrackd answers every step at once (false: it hangs and never answers).
    pub(super) conntrackd_answers: bool,
    /// What each node was told to carry out, in order: "takeover", "release", "commit",
    /// "after-takeover", "after-release", "bulk".
    pub(super) log: [Vec<&'static str>; 2],
    /// Both nodes are configured with node-id 1 (an operator's mistake).
    pub(super) one_node_id: bool,
}

impl Sim {
    pub(super) fn new(preemptive: bool) -> Sim {
        Sim::build(preemptive, None)
    }

    /// Both nodes with `conntrack { commit-timeout }` when `commit_timeout`.
    pub(super) fn build(preemptive: bool, commit_timeout: Option<Duration>) -> Sim {
        Sim::build_ordered(preemptive, commit_timeout, TakeoverOrder::CommitFirst)
    }

    /// As `build`, with `conntrack { takeover ORDER; }` on both nodes.
    pub(super) fn build_ordered(
        preemptive: bool,
        commit_timeout: Option<Duration>,
        takeover: TakeoverOrder,
    ) -> Sim {
        let t0 = Instant::now();
        let mut s = Sim {
            t0,
            now: t0,
            nodes: [None, None],
            master: [false; 2],
            takeovers: [0; 2],
            links: [true; PATHS],
            captured: Vec::new(),
            path_events: Vec::new(),
            boots: [0; 2],
            starts: 0,
            garps: [0; 2],
            preemptive,
            allow_two_masters: false,
            auto_active: true,
            commit_timeout,
            takeover,
            conntrackd_answers: true,
            log: [Vec::new(), Vec::new()],
            one_node_id: false,
        };
        s.start(0, None);
        s.start(1, None);
        s
    }

    /// Both nodes configured with node-id 1, started one after the other.
    pub(super) fn with_one_node_id() -> Sim {
        let mut s = Sim::new(false);
        s.kill(0);
        s.kill(1);
        s.one_node_id = true;
        s.start(0, None);
        s.start(1, None);
        s
    }

    pub(super) fn start(&mut self, i: usize, resume: Option<bool>) {
        self.boots[i] += 1;
        self.starts += 1;
        let id = if self.one_node_id { 1 } else { i as u32 + 1 };
        let mut settings = settings(id, self.preemptive);
        settings.vcs[0].commit_timeout = self.commit_timeout;
        settings.vcs[0].takeover = self.takeover;
        self.nodes[i] = Some(Node::new(
            self.now,
            settings,
            self.boots[i],
            0xa000_0000 + self.starts,
            &[resume],
        ));
        let acts = self.node(i).start();
        self.apply(i, acts);
    }

    pub(super) fn kill(&mut self, i: usize) {
        self.nodes[i] = None;
        self.master[i] = false;
    }

    pub(super) fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().expect("node running")
    }

    pub(super) fn input(&mut self, i: usize, input: Input) {
        let Some(n) = self.nodes[i].as_mut() else {
            return;
        };
        let actions = n.handle(self.now, input);
        self.apply(i, actions);
    }

    pub(super) fn apply(&mut self, i: usize, actions: Vec<Action>) {
        let mut queue: VecDeque<(usize, Ev)> = VecDeque::new();
        let mut pending = vec![(i, actions)];
        while let Some((from, actions)) = pending.pop() {
            for a in actions {
                match a {
                    Action::Send(repr) => {
                        for path in 0..PATHS {
                            let f = frame_for(&repr, path, from, KEY);
                            if from == 0 {
                                self.captured.push(f.clone());
                            }
                            if self.links[path] {
                                queue.push_back((1 - from, Ev::Frame(path, f)));
                            }
                        }
                    }
                    Action::TakeOver { vc, reason, .. } => {
                        self.log[from].push("takeover");
                        self.master[from] = true;
                        if !matches!(reason, Reason::Resumed | Reason::Retry) {
                            self.takeovers[from] += 1;
                        }
                        if self.auto_active {
                            queue.push_back((from, Ev::TookOver(vc)));
                        }
                    }
                    Action::Release { .. } => {
                        self.log[from].push("release");
                        self.master[from] = false;
                    }
                    Action::Conntrack { vc, step } => {
                        self.log[from].push(match step {
                            SyncStep::Commit => "commit",
                            SyncStep::PreCommit => "pre-commit",
                            SyncStep::AfterTakeover => "after-takeover",
                            SyncStep::AfterRelease => "after-release",
                            SyncStep::RequestResync => "request-resync",
                            SyncStep::Bulk => "bulk",
                        });
                        if self.conntrackd_answers {
                            queue.push_back((from, Ev::Conntrack(vc, step)));
                        }
                    }
                    Action::Probe { vc } => queue.push_back((from, Ev::Probe(vc))),
                    Action::Garp { .. } => self.garps[from] += 1,
                    Action::Path { path, up } => self.path_events.push((from, path, up)),
                }
            }
            while let Some((to, ev)) = queue.pop_front() {
                let now = self.now;
                // The probe is answered when the other node is master and the LAN connects them.
                let answered = self.links[LAN] && self.master[1 - to];
                let Some(n) = self.nodes[to].as_mut() else {
                    continue;
                };
                let acts = match &ev {
                    Ev::Frame(path, f) => n.handle(
                        now,
                        Input::Frame {
                            path: *path,
                            frame: f,
                        },
                    ),
                    Ev::Probe(vc) => n.handle(now, Input::ProbeDone { vc: *vc, answered }),
                    Ev::TookOver(vc) => n.handle(now, Input::TookOver { vc: *vc, ok: true }),
                    Ev::Conntrack(vc, step) => n.handle(
                        now,
                        Input::ConntrackDone {
                            vc: *vc,
                            step: *step,
                            ok: true,
                        },
                    ),
                };
                pending.push((to, acts));
            }
        }
    }

    /// A HELLO node `i` sends now (on path 0), kept from the peer: a frame still in flight
    /// or one captured for later.
    pub(super) fn undelivered_hello(&mut self, i: usize) -> Vec<u8> {
        let n = self.nodes[i].as_mut().expect("node running");
        // An admin order without effect makes the node send at once.
        let acts = n.handle(
            self.now,
            Input::Admin {
                vc: None,
                order: Admin::None,
            },
        );
        acts.iter()
            .find_map(|a| match a {
                Action::Send(r) => Some(frame_for(r, 0, i, KEY)),
                _ => None,
            })
            .expect("a hello")
    }

    /// Advances the clock in 5 ms steps, ticking a node only when its deadline is due.
    pub(super) fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += STEP;
            for i in 0..2 {
                let due = self.nodes[i]
                    .as_ref()
                    .and_then(Node::next_deadline)
                    .is_some_and(|t| t <= self.now);
                if due {
                    self.input(i, Input::Tick);
                    // The worker sleeps until this deadline: one at or before the moment
                    // just handled wakes it at once, again and again (a busy loop).
                    let next = self.nodes[i].as_ref().and_then(Node::next_deadline);
                    assert!(
                        next.is_none_or(|t| t > self.now),
                        "node {i}: next deadline {:?} not after the tick at {:?}",
                        next.map(|t| t - self.t0),
                        self.now - self.t0
                    );
                }
            }
            let connected = self.links.iter().any(|l| *l) && self.nodes.iter().all(Option::is_some);
            let claims = |n: &Option<Node>| n.as_ref().is_some_and(|n| n.claims(0));
            if connected && !self.allow_two_masters {
                assert!(
                    !(claims(&self.nodes[0]) && claims(&self.nodes[1])),
                    "two masters at {:?} with a connected pair",
                    self.now - self.t0
                );
            }
        }
    }

    /// Runs until `cond` holds; returns the time it took.
    pub(super) fn until(&mut self, limit: Duration, cond: impl Fn(&Sim) -> bool) -> Duration {
        let start = self.now;
        while !cond(self) {
            assert!(
                self.now - start < limit,
                "condition not reached in {limit:?}"
            );
            self.run(STEP);
        }
        self.now - start
    }
}
