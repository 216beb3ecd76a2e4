//! The e-mail alerts waiting for a delivery slot: first in, first out, bounded. A burst
//! (a rack switch taking 40 reals down, a stop mailing one alert per virtual) waits here
//! while the mails in flight leave; past the bound an alert is dropped, and the drops of a
//! burst are said in two lines (when they begin, and how many when they end), never one
//! line per mail. Pure: time in, log lines out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many alerts may wait. A burst is one alert per real or per virtual: 512 holds a
/// switch or a stop taking down 512 of them at once, at a few hundred bytes to a few KB each
/// (well under a MB). With an smtp host that never answers the 16 mails in flight free
/// their slots every 30 s (MAIL_TIMEOUT), so the queue fills and the drops are what bounds
/// it; with a healthy one it drains in well under a second per slot.
pub const MAIL_QUEUE_CAP: usize = 512;

/// While alerts keep being dropped (the queue never drains to half), how often their count
/// is said.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// Alerts waiting, and the drops of the burst under way.
pub struct MailQueue<T> {
    waiting: VecDeque<T>,
    cap: usize,
    /// Dropped since the last count was said.
    dropped: usize,
    /// When the drops last said began or were counted.
    since: Option<Instant>,
}

impl<T> MailQueue<T> {
    pub fn new(cap: usize) -> MailQueue<T> {
        MailQueue {
            waiting: VecDeque::new(),
            cap,
            dropped: 0,
            since: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Queues `item`, or drops it when the queue is full: the first drop of a burst returns
    /// the line that says so (`in_flight`: mails being sent).
    pub fn push(&mut self, item: T, now: Instant, in_flight: usize) -> Option<String> {
        if self.waiting.len() < self.cap {
            self.waiting.push_back(item);
            return None;
        }
        self.dropped += 1;
        if self.since.is_some() {
            return None;
        }
        self.since = Some(now);
        Some(format!(
            "e-mail alerts: {} waiting and {in_flight} being sent, the queue is full: \
             alerts are dropped until it drains",
            self.waiting.len()
        ))
    }

    /// The oldest alert waiting.
    pub fn pop(&mut self) -> Option<T> {
        self.waiting.pop_front()
    }

    /// The count of a burst of drops, once it ended (the queue drained to half) or, while
    /// it lasts, every DROP_REPORT_INTERVAL.
    pub fn drop_report(&mut self, now: Instant) -> Option<String> {
        let since = self.since?;
        let drained = self.waiting.len() <= self.cap / 2;
        if !drained && now.saturating_duration_since(since) < DROP_REPORT_INTERVAL {
            return None;
        }
        let line = self.count_line();
        if drained {
            self.since = None;
        } else {
            self.since = Some(now);
        }
        line
    }

    /// The drops not yet counted (at a stop), and the alerts still waiting, emptied: what
    /// will not be sent.
    pub fn give_up(&mut self) -> (Option<String>, usize) {
        let line = self.count_line();
        self.since = None;
        let left = self.waiting.len();
        self.waiting.clear();
        (line, left)
    }

    fn count_line(&mut self) -> Option<String> {
        let n = std::mem::take(&mut self.dropped);
        (n > 0).then(|| {
            format!(
                "e-mail alerts: {n} not sent, dropped while the queue of {} was full",
                self.cap
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_leave_in_the_order_they_came() {
        let now = Instant::now();
        let mut q = MailQueue::new(4);
        for i in 0..3 {
            assert_eq!(q.push(i, now, 16), None);
        }
        assert_eq!(
            (q.pop(), q.pop(), q.pop(), q.pop()),
            (Some(0), Some(1), Some(2), None)
        );
    }

    #[test]
    fn a_burst_past_the_bound_is_said_in_two_lines_however_many_were_dropped() {
        let now = Instant::now();
        let mut q = MailQueue::new(4);
        let mut lines = Vec::new();
        for i in 0..1000 {
            lines.extend(q.push(i, now, 16));
            lines.extend(q.drop_report(now));
        }
        assert_eq!(q.waiting.len(), 4);
        assert_eq!(
            lines,
            [
                "e-mail alerts: 4 waiting and 16 being sent, the queue is full: alerts are \
              dropped until it drains"
            ]
        );
        // One leaving is not the end of the burst: the queue must drain to half.
        q.pop();
        assert_eq!(q.drop_report(now), None);
        q.pop();
        assert_eq!(
            q.drop_report(now).as_deref(),
            Some("e-mail alerts: 996 not sent, dropped while the queue of 4 was full")
        );
        assert_eq!(q.drop_report(now), None);
        // The next burst is said again.
        q.push(7, now, 16);
        q.push(8, now, 16);
        assert!(q.push(9, now, 16).is_some());
    }

    #[test]
    fn drops_that_never_end_are_counted_once_a_minute() {
        let t0 = Instant::now();
        let mut q = MailQueue::new(2);
        q.push(0, t0, 16);
        q.push(1, t0, 16);
        assert!(q.push(2, t0, 16).is_some());
        assert_eq!(q.drop_report(t0 + Duration::from_secs(59)), None);
        q.push(3, t0 + Duration::from_secs(59), 16);
        assert_eq!(
            q.drop_report(t0 + DROP_REPORT_INTERVAL).as_deref(),
            Some("e-mail alerts: 2 not sent, dropped while the queue of 2 was full")
        );
        // Still full: no new "dropped until it drains" line, the next count a minute on.
        assert_eq!(q.push(4, t0 + DROP_REPORT_INTERVAL, 16), None);
        assert_eq!(q.drop_report(t0 + Duration::from_secs(90)), None);
    }

    #[test]
    fn giving_up_counts_the_drops_and_the_alerts_left_waiting() {
        let now = Instant::now();
        let mut q = MailQueue::new(2);
        for i in 0..5 {
            q.push(i, now, 16);
        }
        let (line, left) = q.give_up();
        assert_eq!(
            line.as_deref(),
            Some("e-mail alerts: 3 not sent, dropped while the queue of 2 was full")
        );
        assert_eq!(left, 2);
        assert!(q.is_empty());
        assert_eq!(q.give_up(), (None, 0));
    }
}
