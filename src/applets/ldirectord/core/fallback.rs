//! The fallback server and fallbackcommand of a virtual: on when every real has a first
//! result and none is up (at once for a virtual without reals), off as soon as one is
//! (never during start-up, B6).

use super::table::{fallback_dest, service_of, IpvsOp};
use super::{Action, Core, State};

impl Core {
    /// Fallback on when every real has a result and none is up; off when one is.
    pub(super) fn update_fallback(&mut self, vi: usize, actions: &mut Vec<Action>) {
        let v = &self.cfg.virtuals[vi];
        let vs = &mut self.virtuals[vi];
        if vs.reals.iter().any(|r| r.state == State::Unknown) {
            return;
        }
        let any_up = vs.reals.iter().any(|r| r.state == State::Up);
        let want = !any_up;
        if want == vs.fallback_on {
            return;
        }
        vs.fallback_on = want;
        if let Some(fb) = fallback_dest(v) {
            let svc = service_of(v);
            let op = if want {
                IpvsOp::AddDest(svc, fb)
            } else {
                IpvsOp::DelDest(svc, fb)
            };
            log::info!(
                "{} fallback server for {}",
                if want { "Added" } else { "Deleted" },
                v.id()
            );
            actions.push(Action::Ipvs(op));
        }
        if let Some(cmd) = &v.fallbackcommand {
            actions.push(Action::FallbackCommand {
                command: cmd.clone(),
                start: want,
                virt: vi,
            });
        }
    }
}
