//! Carrying out the core's role actions (addresses up or down, hooks) and what follows a
//! change: health fed to the core, the status and paths files, the process title.

use std::time::{Instant, SystemTime};

use log::{error, info};

use super::super::core::{Input, Reason};
use super::super::hooks::{HookJob, HookKind};
use super::super::paths_file::{self, ConfigLine, PathLine};
use super::super::ping_group::PingGroupState;
use super::super::status_file::{SavedRole, Status, Writer};
use super::super::takeover;

use super::*;

impl Worker {
    /// Brings the addresses of virtual cluster `vi` up on every controlled interface (the
    /// Master hook first when `hook`). A failure is kept for the status; the core counts
    /// the virtual cluster as unhealthy and asks again.
    pub(super) fn take_over(
        &mut self,
        vi: usize,
        reason: Reason,
        hook: bool,
        now: Instant,
    ) -> bool {
        let name = self.cfg.virtual_clusters[vi].name.clone();
        let mut failed = None;
        for &ci in &self.vcs[vi].ctls {
            let c = &self.ctls[ci].c;
            match takeover::to_master(&mut self.rt, c, self.ctls[ci].known) {
                Ok(index) => {
                    self.unsettled.push((ci, index));
                    self.ctls[ci].lease = Some((index, now + takeover::renew_every(c.lease)));
                    self.ctls[ci].known = Some(index);
                }
                Err(e) => {
                    error!("vc {name}: takeover on {}: {e}", c.ifname);
                    failed = Some(format!("{}: {e}", c.ifname));
                }
            }
        }
        if reason != Reason::Retry {
            info!("vc {name}: Master ({reason})");
        }
        if hook {
            self.notify(now, vi, HookKind::Master);
        }
        let ok = failed.is_none();
        self.vcs[vi].takeover_error = failed;
        ok
    }

    /// The IPv6 prefix routes of the interfaces just taken over, `(controlled interface,
    /// macvlan index)` (`takeover::routes6_back`), right after the GARPs.
    pub(super) fn routes6_back(&mut self, taken: &[(usize, u32)]) {
        for &(ci, index) in taken {
            let c = &self.ctls[ci].c;
            if let Err(e) = takeover::routes6_back(&mut self.rt, c, index) {
                error!("after the takeover on {}: {e}", c.ifname);
            }
        }
    }

    /// The neighbour flushes of the interfaces taken over (`takeover::settle_master`), once
    /// the frames and GARPs that announce the takeover are out (`SETTLE_AFTER`).
    pub(super) fn settle(&mut self) {
        self.settle_at = None;
        for (ci, index) in std::mem::take(&mut self.unsettled) {
            let c = &self.ctls[ci].c;
            if let Err(e) = takeover::settle_master(&mut self.rt, c, index) {
                error!("after the takeover on {}: {e}", c.ifname);
            }
        }
    }

    /// Renews the lease of the addresses of every interface played as Master whose renewal
    /// is due. A failure is logged and tried again at the next renewal, a quarter of the
    /// lease later (three more before the kernel deletes them).
    pub(super) fn renew_leases(&mut self, now: Instant) {
        for ctl in &mut self.ctls {
            let Some((index, due)) = ctl.lease else {
                continue;
            };
            if now < due {
                continue;
            }
            let next = now + takeover::renew_every(ctl.c.lease);
            ctl.lease = Some((index, next));
            match takeover::renew(&mut self.rt, &ctl.c, index) {
                Ok(index) => {
                    ctl.lease = Some((index, next));
                    ctl.known = Some(index);
                }
                Err(e) => error!("renewing the addresses on {}: {e}", ctl.c.macvlan),
            }
        }
    }

    /// Lets the addresses of virtual cluster `vi` go (the Backup hook after, when `hook`).
    pub(super) fn release(&mut self, now: Instant, vi: usize, reason: Reason, hook: bool) {
        self.vcs[vi].takeover_error = None;
        // Released before its flushes were due: the macvlan is down, and `settle_master`
        // would put its IPv6 VIPs back.
        let ctls = &self.vcs[vi].ctls;
        self.unsettled.retain(|(ci, _)| !ctls.contains(ci));
        for &ci in &self.vcs[vi].ctls {
            self.ctls[ci].lease = None;
            match takeover::to_backup(&mut self.rt, &self.ctls[ci].c) {
                Ok(index) => self.ctls[ci].known = Some(index),
                Err(e) => {
                    self.ctls[ci].known = None;
                    error!("release on {}: {e}", self.ctls[ci].c.ifname);
                }
            }
        }
        if reason != Reason::Start {
            info!(
                "vc {}: Backup ({reason})",
                self.cfg.virtual_clusters[vi].name
            );
        }
        if hook {
            self.notify(now, vi, HookKind::Backup);
        }
    }

    /// Queues the hook of `kind` for virtual cluster `vi` (hooks::Hooks runs them in order).
    pub(super) fn notify(&mut self, now: Instant, vi: usize, kind: HookKind) {
        let vc = &self.cfg.virtual_clusters[vi];
        let cmd = match kind {
            HookKind::Master => &vc.notify_master,
            HookKind::Backup => &vc.notify_backup,
            HookKind::Fault => &vc.notify_fault,
            HookKind::Stop => &vc.notify_stop,
        };
        let reason = self
            .node
            .vc(vi)
            .map_or_else(String::new, |v| v.reason.to_string());
        let job = HookJob {
            kind,
            command: cmd.clone().unwrap_or_default(),
            vc: vc.name.clone(),
            vcid: vc.id,
            reason,
        };
        // The stream gets every transition, in the same order as the hooks.
        if let Some(f) = self.fifo.as_mut() {
            f.write(&job);
        }
        if cmd.is_some() {
            self.hooks.push(now, vi, job);
        }
    }

    pub(super) fn update_health(&mut self, now: Instant, vi: usize) {
        let v = &self.vcs[vi];
        let up = v.groups.iter().all(PingGroupState::up)
            && v.tracks.iter().all(|t| t.up || t.track.weight.is_some())
            && v.ctls.iter().all(|&ci| self.ctls[ci].c.link_up)
            && v.takeover_error.is_none()
            && !v.sync.as_ref().is_some_and(|s| s.down());
        let penalty = penalty(&v.tracks);
        if penalty != v.penalty {
            self.vcs[vi].penalty = penalty;
            let acts = self.node.handle(now, Input::Penalty { vc: vi, penalty });
            self.apply(now, acts);
        }
        let v = &self.vcs[vi];
        if up != v.health {
            self.vcs[vi].health = up;
            let acts = self.node.handle(now, Input::Health { vc: vi, up });
            self.apply(now, acts);
            if !up {
                self.notify(now, vi, HookKind::Fault);
            }
            self.set_title();
        }
    }

    pub(super) fn write_status(&mut self) {
        let since = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let roles = self
            .cfg
            .virtual_clusters
            .iter()
            .enumerate()
            .map(|(i, vc)| SavedRole {
                vcid: vc.id,
                master: self.node.claims(i),
                since,
                reason: self
                    .node
                    .vc(i)
                    .map_or(String::new(), |v| v.reason.to_string()),
            })
            .collect();
        let maintenance = (0..self.vcs.len())
            .filter(|&i| self.node.vc(i).is_some_and(|v| v.maintenance))
            .map(|i| self.cfg.virtual_clusters[i].id)
            .collect();
        let st = Status {
            boot: self.node.boot(),
            writer: Some(Writer::this_process()),
            roles,
            maintenance,
        };
        self.files.write(
            &self.cfg.status_file,
            st.render().into_bytes(),
            log::Level::Error,
        );
    }

    pub(super) fn write_paths(&mut self, now: Instant) {
        if self.stop_hooks_queued {
            // Removed on the way out: a newer write would replace the queued removal. Marked
            // written all the same, or its refresh deadline stays in the past and spins the loop.
            self.paths_written = Some(now);
            self.paths_dirty = false;
            return;
        }
        let peer = self.node.peer();
        let lines: Vec<PathLine> = self
            .paths
            .iter()
            .take(self.cfg.heart_beat.len())
            .enumerate()
            .map(|(i, p)| {
                let st = peer.and_then(|x| x.paths.get(i));
                PathLine {
                    ifname: p.ifname.clone(),
                    local: p.local,
                    peer: peer.map(|x| x.node_id),
                    up: st.is_some_and(|s| s.up),
                    age: st
                        .and_then(|s| s.last)
                        .map(|t| now.saturating_duration_since(t)),
                }
            })
            .collect();
        let configs: Vec<ConfigLine> = self
            .node
            .settings()
            .vcs
            .iter()
            .filter_map(|s| {
                let theirs = peer.and_then(|p| p.vc(s.vcid))?.digest;
                Some(ConfigLine {
                    vc: s.name.clone(),
                    digest: s.digest,
                    peer: theirs,
                })
            })
            .collect();
        let text = paths_file::render(self.cfg.node_id, &lines, &configs);
        self.files
            .write(&self.cfg.paths_file, text.into_bytes(), log::Level::Debug);
        self.paths_written = Some(now);
        self.paths_dirty = false;
    }

    /// `pikemon: worker vc1=PMU vc2=SBD`.
    pub(in crate::applets::pikemon) fn letters(&self) -> String {
        self.cfg
            .virtual_clusters
            .iter()
            .enumerate()
            .map(|(i, vc)| {
                let p = if vc.primary == Some(self.cfg.node_id) {
                    'P'
                } else {
                    'S'
                };
                let m = if self.node.claims(i) { 'M' } else { 'B' };
                let u = if self.vcs[i].health { 'U' } else { 'D' };
                format!("vc{}={p}{m}{u}", vc.id)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(super) fn set_title(&self) {
        let _ = crate::sys::proctitle::set(&format!("pikemon: worker {}", self.letters()));
    }

    pub(in crate::applets::pikemon) fn role_name(&self, i: usize) -> &'static str {
        // Never "Master" without the addresses: a failed takeover says "Failed".
        self.node.vc(i).map_or("Init", |v| v.role.name())
    }
}

/// The summed weights (saturating) of the weighted witnesses that fail.
fn penalty(tracks: &[TrackState]) -> u8 {
    tracks
        .iter()
        .filter(|t| !t.up)
        .filter_map(|t| t.track.weight)
        .fold(0u8, u8::saturating_add)
}
