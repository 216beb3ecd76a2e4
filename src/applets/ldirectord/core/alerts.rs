//! E-mail alerts: filtered by emailalertstatus, prefixed with the servicename, and the
//! "Inaccessible" reminder resent every emailalertfreq seconds while a real stays down.

use std::time::{Duration, Instant};

use super::table::real_name;
use super::{Action, Core, State};

impl Core {
    pub(super) fn alert(&self, vi: usize, subject: String, actions: &mut Vec<Action>) {
        let v = &self.cfg.virtuals[vi];
        if v.emailalert.is_some() && v.emailalertstatus & self.status.bit() != 0 {
            let subject = match &v.servicename {
                Some(s) => format!("[{s}] {subject}"),
                None => subject,
            };
            actions.push(Action::Alert { virt: vi, subject });
        }
    }

    pub(super) fn resend_alerts(&mut self, vi: usize, now: Instant, actions: &mut Vec<Action>) {
        let v = &self.cfg.virtuals[vi];
        if v.emailalertfreq == 0 {
            return;
        }
        let freq = Duration::from_secs(u64::from(v.emailalertfreq));
        let mut due = Vec::new();
        for (ri, rs) in self.virtuals[vi].reals.iter_mut().enumerate() {
            if let Some(last) = rs.last_alert {
                if rs.state == State::Down && now >= last + freq {
                    rs.last_alert = Some(now);
                    due.push(ri);
                }
            }
        }
        for ri in due {
            let v = &self.cfg.virtuals[vi];
            let subject = format!(
                "Inaccessible real server: {} ({})",
                real_name(v, &v.reals[ri]),
                v.id()
            );
            self.alert(vi, subject, actions);
        }
    }
}
