//! The stop: checks in flight are dropped, the core's clean stop (cleanstop) is carried out,
//! and the mails still being sent or queued (the stop's among them) are given a bounded time
//! to leave.

use std::time::{Duration, Instant};

use super::jobs::Job;
use super::Daemon;

/// How long a stop waits for the mails still being sent.
const STOP_MAIL_WAIT: Duration = Duration::from_secs(10);

impl Daemon {
    /// TERM, INT or QUIT: the last thing the daemon does.
    pub(super) fn stop(&mut self) {
        log::info!("Exiting on signal");
        self.slots.drop_waiting();
        let checks: Vec<usize> = self
            .running
            .iter()
            .filter(|(_, r)| matches!(r.job, Job::Check(_)))
            .map(|(t, _)| *t)
            .collect();
        for t in checks {
            self.finish(t);
        }
        let actions = self.core.stop();
        self.apply(actions);
        self.send_last_mails();
    }

    /// Carries the mails still being sent and those still queued (the stop's among them) to
    /// their end, for at most STOP_MAIL_WAIT: the loop ended with `stop`, and a mail it had
    /// only begun was lost, so `emailalertstatus=stopping` never reached anybody. The Perl
    /// sends each mail before it goes on (for up to 120 s). What is left at the end is
    /// counted in the log.
    fn send_last_mails(&mut self) {
        let until = Instant::now() + STOP_MAIL_WAIT;
        let mut events = Vec::new();
        loop {
            self.send_queued_mails();
            if self.mails == 0 && self.mail_queue.is_empty() {
                break;
            }
            let now = Instant::now();
            if now >= until {
                break;
            }
            events.clear();
            if let Err(e) = self.ev.wait(&mut events, Some(until - now)) {
                log::error!("poll: {e}");
                break;
            }
            // A second TERM, or a HUP, changes nothing now: the stop is under way.
            for ev in events.drain(..) {
                let _ = self.io_event(ev);
            }
        }
        let (dropped, queued) = self.mail_queue.give_up();
        if let Some(line) = dropped {
            log::error!("{line}");
        }
        if self.mails > 0 || queued > 0 {
            log::error!(
                "e-mail alerts: {} being sent and {queued} queued not sent within {} s of the stop",
                self.mails,
                STOP_MAIL_WAIT.as_secs()
            );
        }
    }
}
