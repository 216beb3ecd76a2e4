//! A reload: the new config replaces the old, unchanged reals keep their state, and only
//! the difference reaches the IPVS table; down reals follow the new quiescent setting.

use std::time::{Duration, Instant};

use super::table::{dest_of, fallback_dest, real_name, service_of, IpvsOp};
use super::{Action, Core, DaemonStatus, RealState, State, VirtualState};
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

impl Core {
    /// Replaces the config with `new`, keeping the state of every real that is still there
    /// with the same check. Returns the IPVS changes of the difference only.
    pub fn reload(&mut self, new: Config, now: Instant) -> Vec<Action> {
        self.status = DaemonStatus::Reloading;
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
                .find(|(ov, _)| service_of(ov).key == nsvc.key);
            let Some((ov, os)) = old else {
                let vs = self.fresh_virtual(vi, &[], now, &mut actions);
                self.virtuals.push(vs);
                self.update_fallback(vi, &mut actions);
                continue;
            };
            if service_of(ov) != nsvc {
                actions.push(Action::Ipvs(IpvsOp::EditService(nsvc.clone())));
            }
            let mut reals = Vec::new();
            for nr in &nv.reals {
                let nd = dest_of(nv, nr, nr.weight);
                let prev = ov.reals.iter().zip(os.reals.iter()).find(|(or, _)| {
                    let od = dest_of(ov, or, 0);
                    od.addr == nd.addr && od.port == nd.port
                });
                let same_check = ov.checktype == nv.checktype && ov.service == nv.service;
                match prev {
                    Some((or, ors)) => {
                        let mut rs = ors.clone();
                        if !same_check {
                            rs.failcount = 0;
                            rs.next_due = now;
                        }
                        rs.running = false;
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
                    actions.push(Action::Ipvs(IpvsOp::DelDest(nsvc.clone(), od)));
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
        self.status = DaemonStatus::Running;
        actions
    }
}
