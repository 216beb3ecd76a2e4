//! What one check result changes for its real server: the combined-check counter, the
//! failurecount, and the move up (added or restored) or down (quiescent at weight 0 or
//! deleted), with its log line, alert and monitor line.

use std::time::Instant;

use super::schedule::alert_period;
use super::table::{dest_of, real_name, service_of, IpvsOp};
use super::{Action, Core, Outcome, RealId, State, Wake};
use crate::applets::ldirectord::config::CheckType;
use crate::applets::ldirectord::server_text::printable;

impl Core {
    pub(super) fn apply(
        &mut self,
        now: Instant,
        id: RealId,
        outcome: Outcome,
        actions: &mut Vec<Action>,
    ) {
        let v = &self.cfg.virtuals[id.virt];
        let r = &v.reals[id.real];
        let rs = &mut self.virtuals[id.virt].reals[id.real];
        if let CheckType::Combined(n) = v.checktype {
            let negotiated = rs.connects >= n;
            rs.connects = match (&outcome, negotiated) {
                (Outcome::Up(_), true) => 0,
                (Outcome::Up(_), false) => rs.connects + 1,
                _ => n,
            };
        }
        // The message may carry what the server sent: from here on it goes into logs, the
        // monitorfile and alert mails.
        let (up, message, forced) = match &outcome {
            Outcome::Up(m) => (true, printable(m), false),
            Outcome::Down(m) => (false, printable(m), false),
            Outcome::Maintenance => (false, "Server in maintenance".to_string(), true),
        };
        if v.monitorfile.is_some() {
            actions.push(Action::Monitor {
                id,
                up,
                message: message.clone(),
            });
        }
        if up {
            if rs.failcount > 0 {
                log::info!(
                    "Resetting soft failure count: {} ({})",
                    real_name(v, r),
                    v.id()
                );
            }
            rs.failcount = 0;
            if rs.state != State::Up {
                self.set_up(now, id, actions);
            }
            return;
        }
        rs.failcount = rs.failcount.saturating_add(1);
        if !forced && rs.state == State::Up && rs.failcount < v.failurecount {
            log::info!(
                "Soft failure real server: {} ({}) failure {}/{}: {message}",
                real_name(v, r),
                v.id(),
                rs.failcount,
                v.failurecount
            );
            return;
        }
        if rs.state != State::Down || forced && rs.in_table.is_some_and(|w| w > 0) {
            self.set_down(now, id, &message, actions);
        }
    }

    fn set_up(&mut self, now: Instant, id: RealId, actions: &mut Vec<Action>) {
        let _ = now;
        let v = &self.cfg.virtuals[id.virt];
        let r = &v.reals[id.real];
        let svc = service_of(v);
        let dest = dest_of(v, r, r.weight);
        let rs = &mut self.virtuals[id.virt].reals[id.real];
        let op = match rs.in_table {
            Some(_) => IpvsOp::EditDest(svc, dest),
            None => IpvsOp::AddDest(svc, dest),
        };
        let verb = if rs.in_table.is_some() {
            "Restored"
        } else {
            "Added"
        };
        rs.in_table = Some(r.weight);
        rs.state = State::Up;
        rs.last_alert = None;
        let msg = format!("{verb} real server: {} ({})", real_name(v, r), v.id());
        log::info!("{msg}");
        actions.push(Action::Ipvs(op));
        self.alert(id.virt, msg, actions);
        self.update_fallback(id.virt, actions);
    }

    pub(super) fn set_down(
        &mut self,
        now: Instant,
        id: RealId,
        why: &str,
        actions: &mut Vec<Action>,
    ) {
        let v = &self.cfg.virtuals[id.virt];
        let r = &v.reals[id.real];
        let svc = service_of(v);
        let readd = self.cfg.globals.readdquiescent;
        let rs = &mut self.virtuals[id.virt].reals[id.real];
        let was = rs.state;
        rs.state = State::Down;
        let name = real_name(v, r);
        let msg = if v.quiescent {
            let zero = dest_of(v, r, 0);
            match rs.in_table {
                Some(w) if w > 0 => {
                    actions.push(Action::Ipvs(IpvsOp::EditDest(svc, zero)));
                    rs.in_table = Some(0);
                    Some(format!(
                        "Quiescent real server: {name} ({}) ({why})",
                        v.id()
                    ))
                }
                Some(_) => None,
                // First result (or an admin deleted it with readdquiescent=yes): weight 0.
                None if was == State::Unknown || readd => {
                    actions.push(Action::Ipvs(IpvsOp::AddDest(svc, zero)));
                    rs.in_table = Some(0);
                    Some(format!(
                        "Quiescent real server: {name} ({}) ({why})",
                        v.id()
                    ))
                }
                None => None,
            }
        } else {
            match rs.in_table.take() {
                Some(_) => {
                    actions.push(Action::Ipvs(IpvsOp::DelDest(svc, dest_of(v, r, 0))));
                    Some(format!("Deleted real server: {name} ({}) ({why})", v.id()))
                }
                None => None,
            }
        };
        match &msg {
            Some(m) => log::info!("{m}"),
            None if was != State::Down => {
                log::info!("Real server down: {name} ({}) ({why})", v.id())
            }
            None => {}
        }
        let remind = v.emailalertfreq > 0 && was != State::Down;
        if remind {
            rs.last_alert = Some(now);
        }
        if remind {
            let next = now + alert_period(self.cfg.virtuals[id.virt].emailalertfreq);
            self.wake_at(next, Wake::Alert(id));
        }
        if let Some(m) = msg {
            self.alert(id.virt, m, actions);
        }
        self.update_fallback(id.virt, actions);
    }
}
