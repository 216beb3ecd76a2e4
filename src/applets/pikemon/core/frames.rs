//! The frames of PIKE as the core sees them: authentication (cheap checks first, then the
//! HMAC under a per-path budget), freshness and the peer's liveness (`peer`), and the
//! frames this node sends, each recorded for the freshness proof.

use std::time::{Duration, Instant};

use log::{debug, error, info, warn};

use super::election::Admin;
use super::node::{Action, Node};
use super::peer::{Freshness, Peer};
use super::role::VcRole;
use crate::wire::pike::{self, vc_flags, vc_more_flags, MessageType, Packet, Repr, VcState};

/// Each path verifies at most `VERIFY_BUDGET` frames per `VERIFY_WINDOW` (800 a second:
/// eight times what a peer at the shortest hello-interval sends).
const VERIFY_WINDOW: Duration = Duration::from_millis(10);
const VERIFY_BUDGET: u32 = 8;

/// The shortest time between two warnings about frames that fail authentication.
const AUTH_REPORT_GAP: Duration = Duration::from_secs(10);

/// How many incarnations carrying our node-id are remembered (each is reported once).
const MAX_TWINS: usize = 8;
/// The shortest time between two such reports.
const TWIN_REPORT_GAP: Duration = Duration::from_secs(10);

/// The longest peer hello-interval the proof window allows for.
const MAX_PEER_HELLO: Duration = Duration::from_secs(10);

impl Node {
    pub(super) fn frame(&mut self, now: Instant, path: usize, bytes: &[u8], out: &mut Vec<Action>) {
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
            Freshness::Unproven if self.peer_alive(now, None) => {
                // While the accepted peer lives, a new incarnation of it (a restart) proves
                // itself by acknowledging our frames, which it can: it has no peer yet and
                // acknowledges what it hears. Acknowledging it ourselves is not needed, and
                // an authentic frame of an older incarnation, replayed from a capture, must
                // neither replace the peer's in what our frames acknowledge nor draw an
                // answer: replays of two such incarnations in turn made us send one HELLO
                // each, on every path.
                debug!(
                    "node {} incarnation {:08x} heard while incarnation {:08x} lives, not \
                     yet proven fresh",
                    repr.node_id,
                    repr.incarnation,
                    self.peer.as_ref().map_or(0, |p| p.incarnation)
                );
                return;
            }
            Freshness::Unproven => {
                // Acknowledge it so that it can believe our next frame; answer at once the
                // first time this incarnation is heard, at most once a hello (replays of
                // old incarnations in turn must not make a storm of HELLOs).
                let first = self.heard.is_none_or(|(i, _)| i != repr.incarnation);
                if first || self.heard.is_some_and(|(_, s)| repr.seq > s) {
                    self.heard = Some((repr.incarnation, repr.seq));
                }
                let may_answer = self.answered_unproven.is_none_or(|t| now >= t + hello);
                if first && may_answer {
                    self.answered_unproven = Some(now);
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
                self.check_drift();
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
        // Our node-id: our own frame looped back (our incarnation) is dropped at once; from
        // another incarnation it is a second node configured with our node-id, or a replay
        // of an earlier run of this daemon. Verified like any frame and reported (once per
        // incarnation). With no other peer it is then taken as the peer: like any frame of a
        // new incarnation it counts only once it acknowledges a frame of ours from within
        // the proof window, which no replay of an earlier run can, and the election's last
        // tie (the lower incarnation) leaves one Master of the two.
        let own_id = r.node_id == self.settings.node_id;
        let other_peer = self.peer.as_ref().is_some_and(|p| p.node_id != r.node_id);
        let twin =
            r.cluster_id == self.settings.cluster_id && own_id && r.incarnation != self.incarnation;
        if !twin && (r.cluster_id != self.settings.cluster_id || own_id || other_peer) {
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
            self.report_auth_failures(now, path, r.node_id);
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
            if twin {
                self.report_twin(now, path, &r, other_peer);
                if other_peer {
                    self.counters.foreign += 1;
                    return None;
                }
            }
            Some(r)
        } else {
            self.counters.auth_failures += 1;
            debug!("PIKE frame from node {} failed authentication", r.node_id);
            self.report_auth_failures(now, path, r.node_id);
            None
        }
    }

    /// An authentic frame with our node-id from another incarnation, reported once per
    /// incarnation (the last `MAX_TWINS` remembered) and at most once per `TWIN_REPORT_GAP`:
    /// replays of many earlier runs must not flood the log.
    fn report_twin(&mut self, now: Instant, path: usize, r: &Repr, dropped: bool) {
        if self.twins.contains(&r.incarnation) {
            return;
        }
        if self.twins.len() == MAX_TWINS {
            self.twins.remove(0);
        }
        self.twins.push(r.incarnation);
        if self
            .twin_reported
            .is_some_and(|t| now < t + TWIN_REPORT_GAP)
        {
            return;
        }
        self.twin_reported = Some(now);
        let then = if dropped {
            "ignored"
        } else {
            "if it proves alive, the node with the lower incarnation holds the roles until the \
             node-ids are fixed"
        };
        error!(
            "an authentic frame carries our node-id {} from incarnation {:08x} (ours is {:08x}) \
             on path {path}: another node is configured with node-id {}, or frames of an \
             earlier run of this daemon are replayed; {then}",
            r.node_id, r.incarnation, self.incarnation, r.node_id
        );
    }

    /// Frames that fail authentication are dropped one by one at debug level; a peer with
    /// another key (or key-id) is then only "silent". So they are also summed up as a
    /// warning, at most once per `AUTH_REPORT_GAP` however many arrive.
    fn report_auth_failures(&mut self, now: Instant, path: usize, node_id: u32) {
        if self
            .auth_reported
            .is_some_and(|(t, _)| now < t + AUTH_REPORT_GAP)
        {
            return;
        }
        let since = self.auth_reported.map_or(0, |(_, n)| n);
        let n = self.counters.auth_failures - since;
        self.auth_reported = Some((now, self.counters.auth_failures));
        warn!(
            "{n} PIKE frame(s) failed authentication (the last claims node {node_id}, on path \
             {path}): the peer signs with another key or key-id, or someone forges frames"
        );
    }

    /// The next message, with a new sequence number.
    pub(super) fn message(&mut self, now: Instant, t: MessageType, releasing: bool) -> Repr {
        self.seq += 1;
        self.counters.sent += 1;
        self.proof.sent(now, self.seq);
        let (ack_incarnation, ack_seq) = self.heard.unwrap_or((0, 0));
        let sync_flags: Vec<u8> = (0..self.vcs.len()).map(|i| self.sync_flags(i)).collect();
        let vcs = self
            .vcs
            .iter()
            .zip(&self.settings.vcs)
            .enumerate()
            .map(|(i, (v, s))| {
                let mut flags = 0;
                let mut set = |c: bool, f: u8| {
                    if c {
                        flags |= f;
                    }
                };
                let (active, resumed, failed) = match v.role {
                    VcRole::Master(m) => (m.active, m.resumed, m.failed),
                    _ => (false, false, false),
                };
                set(v.up && !failed && !v.maintenance, vc_flags::HEALTH_UP);
                set(s.preferred, vc_flags::PREFERRED);
                set(v.admin == Admin::Take, vc_flags::ADMIN_TAKE);
                set(v.admin == Admin::Drop, vc_flags::ADMIN_DROP);
                set(s.preemptive, vc_flags::PREEMPTIVE);
                set(releasing, vc_flags::RELEASING);
                set(active, vc_flags::ACTIVE);
                set(resumed, vc_flags::RESUMED);
                VcState {
                    vcid: s.vcid,
                    role: v.role.wire(),
                    flags,
                    priority: s.priority,
                    fail_count: v.fail_count,
                    digest: s.digest,
                    more: if v.maintenance {
                        vc_more_flags::MAINTENANCE
                    } else {
                        0
                    } | sync_flags[i],
                    penalty: v.penalty,
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

fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}
