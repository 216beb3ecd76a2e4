//! A reload: the new config replaces the old, unchanged reals keep their state, and only
//! the difference reaches the IPVS table; down reals follow the new quiescent setting.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::table::{dest_of, fallback_dest, real_name, service_of, IpvsOp};
use super::{Action, Core, DaemonStatus, RealId, RealState, State, VirtualState};
use crate::applets::ldirectord::config::{CheckType, Config, Real, Virtual};

/// The quiescent rule applied again to a real that is down, as the original's reload
/// (ld_start) does: deleted with quiescent=no, at weight 0 with quiescent=yes. Only state
/// changes acted before, and a change of quiescent=yes to no left dead reals at weight 0
/// for ever.
fn requiesce(v: &Virtual, r: &Real, rs: &mut RealState, actions: &mut Vec<Action>) {
    let svc = service_of(v);
    let name = real_name(v, r);
    match (v.quiescent, rs.in_table) {
        (false, Some(_)) => {
            log::info!("Deleted real server: {name} ({}) (quiescent=no)", v.id());
            actions.push(Action::Ipvs(IpvsOp::DelDest(svc, dest_of(v, r, 0))));
            rs.in_table = None;
        }
        (true, None) => {
            log::info!("Quiescent real server: {name} ({}) (quiescent=yes)", v.id());
            actions.push(Action::Ipvs(IpvsOp::AddDest(svc, dest_of(v, r, 0))));
            rs.in_table = Some(0);
        }
        _ => {}
    }
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
        self.status = DaemonStatus::Reloading;
        let in_flight: HashSet<RealId> = in_flight.iter().copied().collect();
        let mut kept = Vec::new();
        let mut actions = Vec::new();
        let old_cfg = std::mem::replace(&mut self.cfg, new);
        let old_states = std::mem::take(&mut self.virtuals);
        // Virtuals gone from the config are removed with their reals.
        for ov in &old_cfg.virtuals {
            let gone = !self
                .cfg
                .virtuals
                .iter()
                .any(|nv| service_of(nv).key == service_of(ov).key);
            if gone {
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
                let vs = self.fresh_virtual(vi, &[], now, &mut actions);
                self.virtuals.push(vs);
                self.update_fallback(vi, &mut actions);
                continue;
            };
            if service_of(ov) != nsvc {
                actions.push(Action::Ipvs(IpvsOp::EditService(nsvc.clone())));
            }
            let mut reals = Vec::new();
            let alike = virtual_checks_alike(ov, nv);
            for nr in &nv.reals {
                let nd = dest_of(nv, nr, nr.weight);
                let prev = ov
                    .reals
                    .iter()
                    .zip(os.reals.iter())
                    .enumerate()
                    .find(|(_, (or, _))| {
                        let od = dest_of(ov, or, 0);
                        od.addr == nd.addr && od.port == nd.port
                    });
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
                        let how_changed = or.forward != nr.forward
                            || or.lower != nr.lower
                            || or.upper != nr.upper;
                        if rs.state == State::Up && (or.weight != nr.weight || how_changed) {
                            actions.push(Action::Ipvs(IpvsOp::EditDest(nsvc.clone(), nd.clone())));
                            rs.in_table = Some(nr.weight);
                        }
                        if rs.state == State::Down {
                            // A quiescent dead real at weight 0 takes the new method and
                            // thresholds too, as the original's reload writes it again.
                            if nv.quiescent && rs.in_table.is_some() && how_changed {
                                let zero = dest_of(nv, nr, 0);
                                actions.push(Action::Ipvs(IpvsOp::EditDest(nsvc.clone(), zero)));
                                rs.in_table = Some(0);
                            }
                            requiesce(nv, nr, &mut rs, &mut actions);
                        }
                        reals.push(rs);
                    }
                    None => reals.push(RealState {
                        state: State::Unknown,
                        failcount: 0,
                        connects: match nv.checktype {
                            CheckType::Combined(n) => n,
                            _ => 0,
                        },
                        next_due: now,
                        running: false,
                        in_table: None,
                        last_alert: None,
                        judged: false,
                    }),
                }
            }
            for (or, ors) in ov.reals.iter().zip(os.reals.iter()) {
                let od = dest_of(ov, or, 0);
                let kept = nv.reals.iter().any(|nr| {
                    let nd = dest_of(nv, nr, 0);
                    nd.addr == od.addr && nd.port == od.port
                });
                if !kept && ors.in_table.is_some() {
                    let name = super::table::dest_name(&od);
                    actions.push(Action::Ipvs(IpvsOp::DelDest(nsvc.clone(), od)));
                    self.purged(vi, name, "reload", &mut actions);
                }
            }
            // A fallback in use that the config moved is swapped in the table; the virtual
            // stays without a live real, so fallbackcommand is not run again.
            let fallback_on = os.fallback_on;
            let (ofb, nfb) = (fallback_dest(ov), fallback_dest(nv));
            if fallback_on && ofb != nfb {
                if let Some(f) = ofb {
                    log::info!("Deleted fallback server for {} (fallback changed)", nv.id());
                    actions.push(Action::Ipvs(IpvsOp::DelDest(nsvc.clone(), f)));
                }
                if let Some(f) = nfb {
                    log::info!("Added fallback server for {}", nv.id());
                    actions.push(Action::Ipvs(IpvsOp::AddDest(nsvc.clone(), f)));
                }
            }
            self.virtuals.push(VirtualState { reals, fallback_on });
            self.update_fallback(vi, &mut actions);
        }
        self.rebuild_schedule();
        self.end_first_round();
        Reloaded { actions, kept }
    }
}
