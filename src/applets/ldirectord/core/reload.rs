//! A reload: the new config replaces the old, unchanged reals keep their state, and the
//! kernel's table, listed again, is made what the config and those states say (the original
//! re-runs its ld_start): a service or a real someone removed by hand is put back, one
//! edited is written again, a stray of ours is purged; down reals follow the new quiescent
//! setting. When the table cannot be listed, the table the core believes in stands for it,
//! and only the difference of the configs reaches the kernel.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::table::{self, dest_of, fallback_dest, real_name, service_of, IpvsOp, Table};
use super::{fresh_real, Action, Core, DaemonStatus, RealId, RealState, State, VirtualState};
use crate::applets::ldirectord::config::{Config, Real, Virtual};
use crate::wire::ipvs::{Dest, Service};

/// The table the core believes the kernel holds for `cfg` and its reals' `states`: what it
/// wrote and nobody changed since. It stands for the kernel's when that cannot be listed.
fn believed(cfg: &Config, states: &[VirtualState]) -> Vec<(Service, Vec<Dest>)> {
    cfg.virtuals
        .iter()
        .zip(states)
        .map(|(v, vs)| {
            let mut dests: Vec<Dest> = v
                .reals
                .iter()
                .zip(&vs.reals)
                .filter_map(|(r, rs)| rs.in_table.map(|w| dest_of(v, r, w)))
                .collect();
            if vs.fallback_on {
                dests.extend(fallback_dest(v));
            }
            (service_of(v), dests)
        })
        .collect()
}

/// Whether a check built for a real of `a` still is the one `b` asks for: the virtuals are
/// the same but for their line and their reals. A real's own part of its check is in
/// `real_checks_alike`.
fn virtual_checks_alike(a: &Virtual, b: &Virtual) -> bool {
    let bare = |v: &Virtual| Virtual {
        line: 0,
        reals: Vec::new(),
        ..v.clone()
    };
    bare(a) == bare(b)
}

/// A real's part of its check: where it connects and what it asks and expects (its weight,
/// forwarding method and thresholds are the table's only).
fn real_checks_alike(a: &Real, b: &Real) -> bool {
    (a.addr, a.port, &a.request, &a.receive) == (b.addr, b.port, &b.request, &b.receive)
}

/// What a reload changed, and the checks in flight that carry on under it.
pub struct Reloaded {
    pub actions: Vec<Action>,
    /// (the real's id before, its id now) of every check in flight that is still the one
    /// the new config asks for; its result is taken as the new real's.
    pub kept: Vec<(RealId, RealId)>,
}

impl Core {
    /// Replaces the config with `new`, keeping the state of every real that is still there
    /// with the same check. Returns the IPVS changes of the difference only. Checks in
    /// flight end with it (`reload_keeping` lets unchanged ones carry on).
    pub fn reload(&mut self, new: Config, now: Instant) -> Vec<Action> {
        self.reload_keeping(new, now, &[]).actions
    }

    /// `reload`, where the checks of `in_flight` (old ids) whose real and check the new config
    /// leaves as they were carry on: their results count. A config rewritten more often than
    /// a check takes (a tool that stamps the time in a comment) restarted every check before
    /// it could time out, and a real that had stopped answering stayed in the table.
    pub fn reload_keeping(&mut self, new: Config, now: Instant, in_flight: &[RealId]) -> Reloaded {
        self.reload_listed(new, now, in_flight, None)
    }

    /// `reload_keeping` against the kernel's table as listed now (`listed`), as the
    /// original's reload re-runs its start-up: a table flushed (`ipvsadm -C`), a virtual
    /// deleted (`-D`), a live real deleted (`-d`) or re-weighted (`-e`) by hand got nothing
    /// back from a reload, which only compared the configs. `None` (the listing failed):
    /// the table the core believes in stands for the kernel's.
    pub fn reload_listed(
        &mut self,
        new: Config,
        now: Instant,
        in_flight: &[RealId],
        listed: Option<&Table>,
    ) -> Reloaded {
        self.status = DaemonStatus::Reloading;
        let in_flight: HashSet<RealId> = in_flight.iter().copied().collect();
        let mut kept = Vec::new();
        let mut actions = Vec::new();
        let old_cfg = std::mem::replace(&mut self.cfg, new);
        let old_states = std::mem::take(&mut self.virtuals);
        let readd = self.cfg.globals.readdquiescent;
        let believed_table;
        let table: &Table = match listed {
            Some(t) => t,
            None => {
                believed_table = believed(&old_cfg, &old_states);
                &believed_table
            }
        };
        // Virtuals gone from the config are removed with their reals.
        for ov in &old_cfg.virtuals {
            let gone = !self
                .cfg
                .virtuals
                .iter()
                .any(|nv| service_of(nv).key == service_of(ov).key);
            if gone && table::entry(table, ov).is_some() {
                log::info!("Purged virtual server (reload): {}", ov.id());
                actions.push(Action::Ipvs(IpvsOp::DelService(service_of(ov))));
            }
        }
        for vi in 0..self.cfg.virtuals.len() {
            let nv = &self.cfg.virtuals[vi];
            let nsvc = service_of(nv);
            let old = old_cfg
                .virtuals
                .iter()
                .zip(old_states.iter())
                .enumerate()
                .find(|(_, (ov, _))| service_of(ov).key == nsvc.key);
            let Some((ovi, (ov, os))) = old else {
                let vs = self.fresh_virtual(vi, table, now, "reload", &mut actions);
                self.virtuals.push(vs);
                self.update_fallback(vi, &mut actions);
                continue;
            };
            let dests = table::sync_service(nv, table::entry(table, nv), &mut actions);
            let mut reals = Vec::new();
            let alike = virtual_checks_alike(ov, nv);
            for nr in &nv.reals {
                let nd = dest_of(nv, nr, nr.weight);
                let prev = ov
                    .reals
                    .iter()
                    .zip(os.reals.iter())
                    .enumerate()
                    .find(|(_, (or, _))| dest_of(ov, or, 0).same_place(&nd));
                let same_check = ov.checktype == nv.checktype && ov.service == nv.service;
                match prev {
                    Some((ori, (or, ors))) => {
                        let mut rs = ors.clone();
                        if !same_check {
                            rs.failcount = 0;
                            rs.next_due = now;
                            rs.judged = false;
                        }
                        let old_id = RealId {
                            virt: ovi,
                            real: ori,
                        };
                        rs.running = ors.running
                            && alike
                            && real_checks_alike(or, nr)
                            && in_flight.contains(&old_id);
                        if rs.running {
                            kept.push((
                                old_id,
                                RealId {
                                    virt: vi,
                                    real: reals.len(),
                                },
                            ));
                        }
                        rs.next_due = rs
                            .next_due
                            .min(now + Duration::from_secs(u64::from(nv.checkinterval)));
                        if rs.state == State::Unknown {
                            // No result yet: taken as the table has it, as at start.
                            let fresh = fresh_real(nv, nr, dests, now, &mut actions);
                            rs.state = fresh.state;
                            rs.in_table = fresh.in_table;
                        }
                        self.put_back(vi, nr, &mut rs, dests, ov.quiescent, readd, &mut actions);
                        reals.push(rs);
                    }
                    None => reals.push(fresh_real(nv, nr, dests, now, &mut actions)),
                }
            }
            let fallback_on = os.fallback_on;
            self.purge_strays(
                vi,
                dests,
                fallback_on,
                fallback_dest(ov).as_ref(),
                "reload",
                &mut actions,
            );
            // A fallback in use is put back (or swapped in, when the config moved it); the
            // virtual stays without a live real, so fallbackcommand is not run again.
            if let (true, Some(f)) = (fallback_on, fallback_dest(nv)) {
                match dests.iter().find(|d| d.same_place(&f)) {
                    Some(d) if table::same_dest(d, &f) => {}
                    Some(_) => actions.push(Action::Ipvs(IpvsOp::EditDest(nsvc.clone(), f))),
                    None => {
                        log::info!("Added fallback server for {}", nv.id());
                        actions.push(Action::Ipvs(IpvsOp::AddDest(nsvc.clone(), f)));
                    }
                }
            }
            self.virtuals.push(VirtualState { reals, fallback_on });
            self.update_fallback(vi, &mut actions);
        }
        self.rebuild_schedule();
        self.end_first_round();
        Reloaded { actions, kept }
    }

    /// Writes a real that has a result into its virtual's table entry (`dests`) as the core
    /// sees it, as the original's reload writes every real again: up, at its weight, method
    /// and thresholds (put back if missing); down, deleted with quiescent=no, at weight 0
    /// with quiescent=yes. A quiescent dead real missing from the table is put back only
    /// with readdquiescent=yes (`readd`) or when quiescent was no before (`was_quiescent`):
    /// an operator deletes it by hand to end its persistent connections.
    #[allow(clippy::too_many_arguments)]
    fn put_back(
        &self,
        vi: usize,
        r: &Real,
        rs: &mut RealState,
        dests: &[Dest],
        was_quiescent: bool,
        readd: bool,
        actions: &mut Vec<Action>,
    ) {
        let v = &self.cfg.virtuals[vi];
        let svc = service_of(v);
        let name = real_name(v, r);
        let zero = dest_of(v, r, 0);
        let found = dests.iter().find(|d| d.same_place(&zero));
        match rs.state {
            State::Unknown => {}
            State::Up => {
                let want = dest_of(v, r, r.weight);
                match found {
                    Some(d) if table::same_dest(d, &want) => {}
                    Some(_) => actions.push(Action::Ipvs(IpvsOp::EditDest(svc, want))),
                    None => {
                        let msg = format!("Added real server (reload): {name} ({})", v.id());
                        log::info!("{msg}");
                        actions.push(Action::Ipvs(IpvsOp::AddDest(svc, want)));
                        self.alert(vi, msg, actions);
                    }
                }
                rs.in_table = Some(r.weight);
            }
            State::Down if !v.quiescent => {
                if found.is_some() {
                    log::info!("Deleted real server: {name} ({}) (quiescent=no)", v.id());
                    actions.push(Action::Ipvs(IpvsOp::DelDest(svc, zero)));
                }
                rs.in_table = None;
            }
            State::Down => match found {
                Some(d) => {
                    if !table::same_dest(d, &zero) {
                        actions.push(Action::Ipvs(IpvsOp::EditDest(svc, zero)));
                    }
                    rs.in_table = Some(0);
                }
                None if !was_quiescent || readd => {
                    let why = if was_quiescent {
                        "readdquiescent=yes"
                    } else {
                        "quiescent=yes"
                    };
                    log::info!("Quiescent real server: {name} ({}) ({why})", v.id());
                    actions.push(Action::Ipvs(IpvsOp::AddDest(svc, zero)));
                    rs.in_table = Some(0);
                }
                None => {
                    if rs.in_table.is_some() {
                        log::info!(
                            "Real server {name} is not in the table of {}: left out \
                             (readdquiescent=no)",
                            v.id()
                        );
                    }
                    rs.in_table = None;
                }
            },
        }
    }
}
