//! What this node knows about its peer: the freshest (boot, seq) accepted, its announced
//! per-virtual-cluster state, and per heart-beat path liveness.
//!
//! Freshness (DESIGN.md §3): state is taken only from a newer (boot, seq); the same (boot,
//! seq) on another path is path liveness only; anything older is a replay. A peer is only
//! *confirmed* once a frame acknowledges our current boot: a frame captured before we started
//! cannot carry that, so a replayed frame never makes a dead peer look alive. A peer that lost
//! its boot counter (older boot) is accepted once its frames acknowledge our current boot with
//! a sequence number beyond anything acknowledged before.

use std::time::{Duration, Instant};

use crate::wire::pike::{MessageType, Repr, VcState};

/// How a received, authentic frame relates to what we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Newer (boot, seq): take its state.
    Fresh,
    /// The same (boot, seq) seen on another path: path liveness only.
    Duplicate,
    /// Older than what was accepted: a replay (or a reordered frame); dropped and counted.
    Stale,
}

/// One heart-beat path (or controlled interface) as seen from the peer's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PathState {
    /// When the last valid frame arrived on this path.
    pub last: Option<Instant>,
    /// UP while a valid frame arrived within the dead interval.
    pub up: bool,
}

/// The peer as known from its frames.
#[derive(Debug, Clone)]
pub struct Peer {
    pub node_id: u32,
    pub boot: u32,
    pub seq: u64,
    /// Highest (boot, seq) of ours the peer acknowledged.
    pub acked: (u32, u64),
    /// The frame acknowledged our current boot: it was made after we started.
    pub confirmed: bool,
    /// The last fresh or duplicate frame, any path.
    pub last_seen: Instant,
    /// The last frame that acknowledged our current boot: liveness counts from here, so a
    /// replay can never make the peer look alive.
    pub confirmed_at: Option<Instant>,
    /// A GOODBYE arrived and nothing newer since.
    pub departed: bool,
    /// The death-watch saw the peer's daemon exit while (boot, seq) was the newest frame:
    /// the peer counts as silent until it is heard from a new boot, or two frames past that
    /// seq (one frame sent just before the exit may still be on its way).
    pub exited: Option<(u32, u64)>,
    pub hello_ms: u32,
    pub dead_ms: u32,
    pub vcs: Vec<VcState>,
    pub paths: Vec<PathState>,
}

impl Peer {
    /// A peer first heard of through `frame`.
    pub fn new(frame: &Repr, now: Instant, n_paths: usize) -> Peer {
        Peer {
            node_id: frame.node_id,
            boot: frame.boot,
            seq: frame.seq,
            acked: (frame.ack_boot, frame.ack_seq),
            confirmed: false,
            last_seen: now,
            confirmed_at: None,
            departed: false,
            exited: None,
            hello_ms: frame.hello_ms,
            dead_ms: frame.dead_ms,
            vcs: frame.vcs.clone(),
            paths: vec![PathState::default(); n_paths],
        }
    }

    /// Classifies `frame`; `alive` says whether the peer is currently considered alive,
    /// `our_boot` is this node's boot counter.
    pub fn freshness(&self, frame: &Repr, alive: bool, our_boot: u32) -> Freshness {
        let theirs = (frame.boot, frame.seq);
        let known = (self.boot, self.seq);
        if theirs > known {
            return Freshness::Fresh;
        }
        if theirs == known {
            return Freshness::Duplicate;
        }
        // An older boot: the peer lost its counter. Only believable when it proves it heard
        // us after the last frame we accepted from it, and the old incarnation is gone.
        let proves_new = frame.ack_boot == our_boot && (frame.ack_boot, frame.ack_seq) > self.acked;
        if frame.boot < self.boot && !alive && proves_new {
            return Freshness::Fresh;
        }
        Freshness::Stale
    }

    /// Takes the state of a fresh frame.
    pub fn accept(&mut self, frame: &Repr, now: Instant, our_boot: u32) {
        if let Some((boot, seq)) = self.exited {
            if frame.boot != boot || frame.seq > seq.saturating_add(1) {
                self.exited = None;
            }
        }
        self.boot = frame.boot;
        self.seq = frame.seq;
        if (frame.ack_boot, frame.ack_seq) > self.acked || frame.ack_boot == our_boot {
            self.acked = (frame.ack_boot, frame.ack_seq);
        }
        self.confirmed = frame.ack_boot == our_boot;
        self.last_seen = now;
        if self.confirmed {
            self.confirmed_at = Some(now);
        }
        self.departed = frame.msg_type == MessageType::Goodbye;
        self.hello_ms = frame.hello_ms;
        self.dead_ms = frame.dead_ms;
        self.vcs = frame.vcs.clone();
    }

    /// Records liveness of `path`; returns true when the path came up.
    pub fn path_seen(&mut self, path: usize, now: Instant) -> bool {
        match self.paths.get_mut(path) {
            Some(p) => {
                p.last = Some(now);
                let was = p.up;
                p.up = true;
                !was
            }
            None => false,
        }
    }

    /// Marks paths silent for `dead` as down; returns the paths that went down.
    pub fn expire_paths(&mut self, now: Instant, dead: Duration) -> Vec<usize> {
        let mut down = Vec::new();
        for (i, p) in self.paths.iter_mut().enumerate() {
            if p.up && p.last.is_some_and(|t| now >= t + dead) {
                p.up = false;
                down.push(i);
            }
        }
        down
    }

    /// The next moment a path goes down if nothing arrives.
    pub fn next_path_expiry(&self, dead: Duration) -> Option<Instant> {
        self.paths
            .iter()
            .filter(|p| p.up)
            .filter_map(|p| p.last.map(|t| t + dead))
            .min()
    }

    /// The peer's announced state of virtual cluster `vcid`.
    pub fn vc(&self, vcid: u16) -> Option<&VcState> {
        self.vcs.iter().find(|v| v.vcid == vcid)
    }
}
