//! E-mail alerts: filtered by emailalertstatus, prefixed with the servicename, and the
//! "Inaccessible" reminder resent every emailalertfreq seconds while a real stays down.

use std::time::Instant;

use super::schedule::alert_period;
use super::table::real_name;
use super::{Action, Core, RealId, Wake};

impl Core {
    /// Mails `subject` (its `Log-Message:` too), if the virtual asks for mails in the
    /// daemon's status.
    pub(super) fn alert(&self, vi: usize, subject: String, actions: &mut Vec<Action>) {
        self.alert_listing(vi, subject, Vec::new(), actions);
    }

    /// `alert`, with `lines` as the mail's `Log-Message:` lines (none: the subject). The
    /// subject is prefixed `[servicename]` as the original's; the lines are as logged.
    pub(super) fn alert_listing(
        &self,
        vi: usize,
        subject: String,
        lines: Vec<String>,
        actions: &mut Vec<Action>,
    ) {
        let v = &self.cfg.virtuals[vi];
        if v.emailalert.is_some() && v.emailalertstatus & self.status.bit() != 0 {
            let subject = match &v.servicename {
                Some(s) => format!("[{s}] {subject}"),
                None => subject,
            };
            let log = if lines.is_empty() {
                vec![subject.clone()]
            } else {
                lines
            };
            actions.push(Action::Alert {
                virt: vi,
                subject,
                log,
                status: self.status,
            });
        }
    }

    /// A real in the table that the config (at `why`: start or reload) does not name went:
    /// logged and mailed in the original's words (`purge_untracked_service`).
    pub(super) fn purged(&self, vi: usize, real: String, why: &str, actions: &mut Vec<Action>) {
        let msg = format!(
            "Purged real server ({why}): {real} ({})",
            self.cfg.virtuals[vi].id()
        );
        log::info!("{msg}");
        self.alert(vi, msg, actions);
    }

    /// Sends the "Inaccessible" reminder of a real that is still down, and sets the next.
    pub(super) fn resend_alert(&mut self, now: Instant, id: RealId, actions: &mut Vec<Action>) {
        let v = &self.cfg.virtuals[id.virt];
        let next = now + alert_period(v.emailalertfreq);
        let subject = format!(
            "Inaccessible real server: {} ({})",
            real_name(v, &v.reals[id.real]),
            v.id()
        );
        self.virtuals[id.virt].reals[id.real].last_alert = Some(now);
        self.wake_at(next, Wake::Alert(id));
        self.alert(id.virt, subject, actions);
    }
}
