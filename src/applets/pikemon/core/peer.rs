//! What this node knows about its peer: the (incarnation, seq) of its newest accepted frame,
//! its announced per-virtual-cluster state, and per heart-beat path liveness.
//!
//! Freshness (DESIGN.md §3, PIKE version 2). Every daemon start draws a random incarnation
//! and counts seq from 1 within it; nothing about ordering is persisted, so a status file
//! restored from a backup, reset after corruption or whose rename was lost cannot silence a
//! node or make its frames look old.
//! - Within the accepted incarnation, a higher seq is fresh (its state is taken, the peer is
//!   alive); a lower one is a replay.
//! - The same seq again is a duplicate: it proves nothing about *now*. It may only mark a
//!   path alive, only a path that had not delivered that seq yet, and only within one
//!   hello-interval of the seq's first arrival; it never refreshes the peer's liveness. So a
//!   replayed (or looped) last HELLO cannot keep a dead peer alive.
//! - Another incarnation (a restart, or the first frame ever heard) is accepted only when the
//!   frame proves it was made recently: it acknowledges one of the frames *we* sent within
//!   the proof window (`Proof`). Frames captured from an earlier incarnation acknowledge our
//!   old frames and are dropped, whatever their numbers; an incarnation we have already left
//!   is never taken back.

use std::time::{Duration, Instant};

use crate::wire::pike::{MessageType, Repr, VcState};

/// How a received, authentic frame relates to what we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Newer seq of the accepted incarnation, or a proven new incarnation: take its state.
    Fresh,
    /// The seq already accepted, on a path that had not delivered it, within one hello of
    /// its first arrival: path liveness only.
    Duplicate,
    /// Older than what was accepted, a copy that proves nothing, or an incarnation left
    /// behind: a replay (or a reordered frame); dropped and counted.
    Stale,
    /// Another incarnation that does not (yet) acknowledge a recent frame of ours: not
    /// believed; acknowledged only while no believed peer lives (see `Node::frame`).
    Unproven,
}

/// What made the peer count as silent before its dead-interval ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// The death-watch connection to its daemon closed.
    DaemonExited,
    /// A point-to-point heart-beat link lost its carrier (the machine at the other end went
    /// dark, or the cable was pulled).
    CarrierLost,
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
    pub incarnation: u32,
    pub seq: u64,
    /// The incarnation accepted before this one (never taken back).
    pub previous: Option<u32>,
    /// When the current seq first arrived, and the paths (bits) that delivered it since.
    seq_first: Instant,
    seq_paths: u64,
    /// The last fresh frame: liveness counts from here.
    pub last_seen: Instant,
    /// The same instant, kept for the callers that ask when the peer was last confirmed.
    pub confirmed_at: Option<Instant>,
    /// A GOODBYE arrived and nothing newer since.
    pub departed: bool,
    /// The death-watch saw the peer's daemon exit while (incarnation, seq) was the newest
    /// frame: the peer counts as silent until it is heard from a new incarnation, or two
    /// frames past that seq (one frame sent just before the exit may still be on its way).
    pub exited: Option<(u32, u64)>,
    /// Why `exited` was set.
    pub hint: Hint,
    pub hello_ms: u32,
    pub dead_ms: u32,
    pub vcs: Vec<VcState>,
    pub paths: Vec<PathState>,
}

impl Peer {
    /// A peer first heard of (and proven) through `frame`, which arrived on `path`.
    pub fn new(frame: &Repr, path: usize, now: Instant, n_paths: usize) -> Peer {
        let mut p = Peer {
            node_id: frame.node_id,
            incarnation: frame.incarnation,
            seq: frame.seq,
            previous: None,
            seq_first: now,
            seq_paths: 0,
            last_seen: now,
            confirmed_at: Some(now),
            departed: false,
            exited: None,
            hint: Hint::DaemonExited,
            hello_ms: frame.hello_ms,
            dead_ms: frame.dead_ms,
            vcs: frame.vcs.clone(),
            paths: vec![PathState::default(); n_paths],
        };
        p.delivered_on(path);
        p
    }

    /// Classifies `frame`, which arrived on `path` at `now`. `proven`: it acknowledges a
    /// frame we sent within the proof window; `hello`: our hello-interval.
    pub fn freshness(
        &self,
        frame: &Repr,
        path: usize,
        proven: bool,
        now: Instant,
        hello: Duration,
    ) -> Freshness {
        if frame.incarnation != self.incarnation {
            return if self.previous == Some(frame.incarnation) {
                Freshness::Stale
            } else if proven {
                Freshness::Fresh
            } else {
                Freshness::Unproven
            };
        }
        if frame.seq > self.seq {
            return Freshness::Fresh;
        }
        let new_path = path < 64 && self.seq_paths & (1 << path) == 0;
        if frame.seq == self.seq && new_path && now < self.seq_first + hello {
            return Freshness::Duplicate;
        }
        Freshness::Stale
    }

    /// Takes the state of a fresh frame that arrived on `path`.
    pub fn accept(&mut self, frame: &Repr, path: usize, now: Instant) {
        if let Some((incarnation, seq)) = self.exited {
            if frame.incarnation != incarnation || frame.seq > seq.saturating_add(1) {
                self.exited = None;
            }
        }
        if frame.incarnation != self.incarnation {
            self.previous = Some(self.incarnation);
            self.incarnation = frame.incarnation;
        }
        self.seq = frame.seq;
        self.seq_first = now;
        self.seq_paths = 0;
        self.delivered_on(path);
        self.last_seen = now;
        self.confirmed_at = Some(now);
        self.departed = frame.msg_type == MessageType::Goodbye;
        self.hello_ms = frame.hello_ms;
        self.dead_ms = frame.dead_ms;
        self.vcs = frame.vcs.clone();
    }

    /// Notes that `path` delivered the current seq (a duplicate counts once per path).
    pub fn delivered_on(&mut self, path: usize) {
        if path < 64 {
            self.seq_paths |= 1 << path;
        }
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

/// The record of our own recent frames that lets a peer's frame prove it is fresh: a frame
/// that acknowledges (our incarnation, a seq we sent at or after `now - window`) was made
/// after that moment. Bounded: the oldest entries go first, which only narrows the window.
#[derive(Debug, Clone, Default)]
pub struct Proof {
    sent: std::collections::VecDeque<(Instant, u64)>,
}

/// At most this many of our frames are remembered (a window of 256 hellos).
const PROOF_ENTRIES: usize = 256;

impl Proof {
    /// Notes that seq `seq` went out at `now`.
    pub fn sent(&mut self, now: Instant, seq: u64) {
        if self.sent.len() == PROOF_ENTRIES {
            self.sent.pop_front();
        }
        self.sent.push_back((now, seq));
    }

    /// Whether `ack_seq` names a frame we sent within `window` before `now`.
    pub fn proves(&self, now: Instant, window: Duration, ack_seq: u64) -> bool {
        let oldest = self
            .sent
            .iter()
            .find(|(t, _)| now.saturating_duration_since(*t) <= window);
        match (oldest, self.sent.back()) {
            (Some((_, oldest)), Some((_, newest))) => (*oldest..=*newest).contains(&ack_seq),
            _ => false,
        }
    }
}
