//! The pure core of the pikemon worker: time and input in, actions out. It owns every
//! decision — frame freshness and authentication (`frames`, `peer`), the election
//! (`election`), the role of each virtual cluster with its make-before-break release, GARP
//! schedule, takeover retries and admin refusals (`claim`) — and the worker
//! (`super::worker`) only carries the actions out. Tests drive it with a fake clock
//! (`node_tests`).

mod claim;
pub mod election;
mod frames;
mod node;
pub mod peer;
mod probe;
mod role;
mod state_sync;

pub use node::{
    probe_interval_at, Action, Counters, Input, Node, Settings, VcSettings, VcStatus, PROBE_TRIES,
};
pub use role::{
    CommitPhase, CommitWait, EarlyProbe, Mastership, PreCommit, Reason, Refusal, VcRole,
};
pub use state_sync::{
    state_wait, SyncState, SyncStep, TakeoverOrder, PRECOMMIT_QUIET, RECOMMIT_AFTER,
};
