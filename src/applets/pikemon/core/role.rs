//! The state of a virtual cluster's role (`VcRole`, with what each role carries), why it
//! changed (`Reason`), and why an admin order is refused (`Refusal`).

use std::fmt;
use std::time::Instant;

use crate::wire::pike::Role;

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
    /// Waiting for conntrackd's commit before the addresses come up.
    pub commit: Option<CommitWait>,
}

/// A takeover's wait for conntrackd (`conntrack { commit-timeout }`): for what, and how it
/// was ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitWait {
    pub reason: Reason,
    pub hook: bool,
    pub phase: CommitPhase,
}

/// Where a takeover stands with conntrackd's commit. Each phase ends at `until` at the
/// latest (commit-timeout): the takeover then goes on without the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitPhase {
    /// `commit-first`: a commit is under way and the addresses wait for it.
    AddressesWait { until: Instant },
    /// The addresses wait for the pre-commit the probe asked for (no commit asked since):
    /// when it ends they come up, and a second commit follows.
    PreCommitWait { until: Instant },
    /// Pre-committed: the addresses are up, and the second commit, for what reached the
    /// external cache during the probe, is asked for `at` (`RECOMMIT_AFTER` past them);
    /// `until` counts from then.
    RecommitDue { at: Instant, until: Instant },
    /// The addresses are up (`parallel`, or the second commit asked for): only `-f -R -B`
    /// waits for the commit under way.
    AddressesUp { until: Instant },
}

impl CommitPhase {
    /// When the wait gives up on conntrackd.
    pub fn until(self) -> Instant {
        match self {
            CommitPhase::AddressesWait { until }
            | CommitPhase::PreCommitWait { until }
            | CommitPhase::RecommitDue { until, .. }
            | CommitPhase::AddressesUp { until } => until,
        }
    }

    /// The next instant the core must act at: the second commit, or the timeout.
    pub fn deadline(self) -> Instant {
        match self {
            CommitPhase::RecommitDue { at, .. } => at,
            other => other.until(),
        }
    }

    /// Whether the addresses are up already (the end of the commit brings only `-f -R -B`).
    pub fn addresses_up(self) -> bool {
        matches!(
            self,
            CommitPhase::RecommitDue { .. } | CommitPhase::AddressesUp { .. }
        )
    }
}

/// A commit of conntrackd's external cache asked for when the probe began (`-c`, the
/// takeover's own request): a takeover then finds the connections in the kernel table and
/// brings its addresses up at once; one more commit follows for what arrived during the
/// probe. A probe that ends without a takeover is followed by `-t -n`, as a release is
/// (only `-n` while another virtual cluster is Master here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreCommit {
    pub since: Instant,
    /// None while it runs; then whether conntrackd answered.
    pub done: Option<bool>,
}

impl Mastership {
    pub(super) fn new(now: Instant, resumed: bool, garps: u32) -> Mastership {
        Mastership {
            active: false,
            resumed,
            rival: false,
            failed: false,
            retry_at: None,
            garps_left: garps,
            next_garp: Some(now),
            commit: None,
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
    /// `precommit`: with state sync, the commit asked for when it began.
    Probing {
        from_init: bool,
        early: Option<EarlyProbe>,
        precommit: Option<PreCommit>,
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

    pub(super) fn same_kind(self, other: VcRole) -> bool {
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
    Maintenance,
    PeerMaintenance,
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
            Reason::Maintenance => "maintenance",
            Reason::PeerMaintenance => "the peer is in maintenance",
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
    /// `take` while this node is in maintenance: it stays Backup until `maintenance off`.
    Maintenance,
    /// `take` by the Backup while the peer, as healthy, holds a `take` of its own: the two
    /// orders cancel out and the current master keeps the role.
    PeerTakes,
    /// `drop` by the Master while the peer, as healthy, holds a `drop` of its own.
    PeerDrops,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NoHealthyPeer => "no healthy peer to hand over to",
            Refusal::DownWhilePeerUp => "this node is Down and the peer is Up",
            Refusal::Maintenance => "this node is in maintenance: run 'maintenance off' first",
            Refusal::PeerTakes => {
                "the peer holds a take order of its own: give it drop there first"
            }
            Refusal::PeerDrops => {
                "the peer holds a drop order of its own: give it take there instead"
            }
        })
    }
}
