//! Carrying out `Action::Conntrack`: conntrackd's control socket driven from the poll loop
//! (`net::conntrackd::Exchange`), one request at a time per virtual cluster, each bounded by
//! commit-timeout, so a hung conntrackd never holds the loop. Between steps, a statistics
//! poll (`-s`) every hello (100 ms..1 s) feeds the status view, `required yes` and the
//! core's failback gate.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::super::config::Conntrack;
use super::super::core::{Input, SyncStep};
use crate::event::{Interest, Token};
use crate::net::conntrackd::{self, ControlError, Exchange, Progress, Request};

use super::*;

/// The requests of one step, in conntrackd's `primary-backup.sh` order. After the flush of a
/// takeover, a statistics request checks that the external cache is empty: conntrackd 1.4.x
/// ignores the flush while it believes a commit is still running ("ignoring flush command,
/// commit still in progress": always with HashSize <= 8192, where the commit is done in one
/// step). Its stale entries would be committed again at the next takeover, as established
/// flows that ended long ago; then the internal cache is flushed at least (that flush is not
/// guarded), and the operator is told.
fn requests(step: Option<SyncStep>) -> &'static [Request] {
    match step {
        Some(SyncStep::Commit | SyncStep::PreCommit) => &[Request::CommitAll],
        Some(SyncStep::AfterTakeover) => &[
            Request::FlushAll,
            Request::Stats,
            Request::ResyncAll,
            Request::SendBulk,
        ],
        Some(SyncStep::AfterRelease) => &[Request::ResetTimers, Request::RequestResync],
        Some(SyncStep::RequestResync) => &[Request::RequestResync],
        Some(SyncStep::Bulk) => &[Request::SendBulk],
        None => &[Request::Stats],
    }
}

/// Where a takeover's commit goes in `queue`: first, but behind the last `-t -n` queued.
fn commit_slot(queue: &VecDeque<Job>) -> usize {
    queue
        .iter()
        .rposition(|j| j.step == Some(SyncStep::AfterRelease))
        .map_or(0, |k| k + 1)
}

/// Whether a job of `step` commits (`-c`).
fn commits(step: Option<SyncStep>) -> bool {
    matches!(step, Some(SyncStep::Commit | SyncStep::PreCommit))
}

/// Whether `run` (another virtual cluster's) still has a `-t -n` asked for before `seq`
/// to send or to hear answered.
fn reset_pending(run: &SyncRun, seq: u64) -> bool {
    run.current
        .iter()
        .map(|(j, _)| j)
        .chain(run.queue.iter())
        .any(|j| j.step == Some(SyncStep::AfterRelease) && j.seq < seq)
}

/// Whether the first job of `runs[vi]` waits: it commits, and another virtual cluster that
/// drives conntrackd over the same socket asked for `-t -n` before it and is not done with
/// it. Each virtual cluster has its own queue and connection: a commit for one could reach
/// conntrackd before the `-t` of another (one release, one probe without a takeover), and
/// conntrackd 1.4.7 would flush the kernel table a minute after the new master's commit.
fn commit_held(runs: &[Option<&SyncRun>], vi: usize) -> bool {
    let Some(Some(run)) = runs.get(vi) else {
        return false;
    };
    let Some(job) = run.queue.front() else {
        return false;
    };
    commits(job.step)
        && job.next == 0
        && runs.iter().enumerate().any(|(wi, w)| {
            wi != vi
                && w.is_some_and(|w| w.conf.socket == run.conf.socket && reset_pending(w, job.seq))
        })
}

/// One step (None: a statistics poll) on its way.
#[derive(Debug)]
struct Job {
    step: Option<SyncStep>,
    /// When it was asked for, among the jobs of every virtual cluster (`Worker::job_seq`).
    seq: u64,
    /// The requests (`requests(step)`, and a `-f internal` when a flush was ignored).
    reqs: Vec<Request>,
    next: usize,
    started: Instant,
    error: Option<ControlError>,
    reply: String,
}

impl Job {
    /// The job of `step` (None: a statistics poll), number `seq` in the order of asking.
    fn new(step: Option<SyncStep>, seq: u64, now: Instant) -> Job {
        Job {
            step,
            seq,
            reqs: requests(step).to_vec(),
            next: 0,
            started: now,
            error: None,
            reply: String::new(),
        }
    }
}

/// The last commit, for the status.
#[derive(Debug, Clone)]
pub(in crate::applets::pikemon) struct CommitResult {
    pub took: Duration,
    /// None: committed; Some: why not.
    pub error: Option<String>,
}

/// conntrackd as one virtual cluster drives it.
#[derive(Debug)]
pub(in crate::applets::pikemon) struct SyncRun {
    pub conf: Conntrack,
    queue: VecDeque<Job>,
    current: Option<(Job, Exchange)>,
    /// Finished jobs not yet told to the core (never told from inside `apply`).
    done: VecDeque<Job>,
    next_poll: Instant,
    poll_every: Duration,
    /// conntrackd answered the last request (None: not asked yet).
    pub reachable: Option<bool>,
    pub external: Option<u64>,
    pub internal: Option<u64>,
    pub last_commit: Option<CommitResult>,
    pub last_error: Option<String>,
}

impl SyncRun {
    pub(super) fn new(conf: Conntrack, now: Instant, hello: Duration) -> SyncRun {
        SyncRun {
            conf,
            queue: VecDeque::new(),
            current: None,
            done: VecDeque::new(),
            next_poll: now,
            poll_every: hello.clamp(Duration::from_millis(100), Duration::from_secs(1)),
            reachable: None,
            external: None,
            internal: None,
            last_commit: None,
            last_error: None,
        }
    }

    /// When something is due: a finished job, a reply's deadline or the next poll.
    /// `polling`: whether statistics polls are due at all (not while stopping: its
    /// `next_poll`, left in the past, would wake the loop without end).
    pub(super) fn next_deadline(&self, now: Instant, polling: bool) -> Option<Instant> {
        if !self.done.is_empty() {
            return Some(now);
        }
        match &self.current {
            Some((_, x)) => Some(x.deadline()),
            // A commit held behind another virtual cluster's `-t` (`commit_held`): started
            // when that one ends, no poll meanwhile.
            None if !self.queue.is_empty() => None,
            None => polling.then_some(self.next_poll),
        }
    }

    /// Nothing queued or on its way.
    pub(super) fn idle(&self) -> bool {
        self.current.is_none() && self.queue.is_empty() && self.done.is_empty()
    }

    /// Whether the node counts as Down for `required yes`.
    pub(super) fn down(&self) -> bool {
        self.conf.required && self.reachable == Some(false)
    }
}

/// The event-loop token of virtual cluster `vi`'s conntrackd exchange.
pub(super) fn token(vi: usize) -> Token {
    Token(T_CT + vi)
}

impl Worker {
    /// The next number in the order in which conntrackd jobs are asked for, across the
    /// virtual clusters (`Job::seq`; `commit_held` compares them).
    fn job_seq(&mut self) -> u64 {
        self.conntrack_asked += 1;
        self.conntrack_asked
    }

    /// `Action::Conntrack`: queue the step and start it if idle. A takeover's commit goes
    /// first, but never before a queued `-t -n`: conntrackd 1.4 takes `-t` for "flush the
    /// kernel table in PurgeTimeout seconds" and only a later commit calls that off, so a
    /// `-t` after the commit would empty the new master's table a minute later.
    pub(super) fn conntrack_step(&mut self, now: Instant, vi: usize, step: SyncStep) {
        let seq = self.job_seq();
        let Some(run) = self.vcs.get_mut(vi).and_then(|v| v.sync.as_mut()) else {
            return;
        };
        let job = Job::new(Some(step), seq, now);
        if step == SyncStep::Commit {
            let at = commit_slot(&run.queue);
            run.queue.insert(at, job);
        } else {
            run.queue.push_back(job);
        }
        self.conntrack_pump(now, vi);
    }

    /// The exchange of `vi` is readable.
    pub(super) fn read_conntrack(&mut self, now: Instant, vi: usize) {
        self.conntrack_advance(now, vi);
        self.conntrack_drain(now, vi);
    }

    /// Tells the core (and the status) about the finished jobs of `vi`.
    fn conntrack_drain(&mut self, now: Instant, vi: usize) {
        while let Some(job) = self
            .vcs
            .get_mut(vi)
            .and_then(|v| v.sync.as_mut())
            .and_then(|r| r.done.pop_front())
        {
            self.conntrack_finished(now, vi, job);
        }
    }

    /// Deadlines and polls of every virtual cluster's conntrackd.
    pub(super) fn conntrack_tick(&mut self, now: Instant) {
        for vi in 0..self.vcs.len() {
            let Some(run) = self.vcs[vi].sync.as_ref() else {
                continue;
            };
            // A stopping worker only finishes what the core asked for (`-t -n`).
            let poll = !self.stopping
                && now >= run.next_poll
                && run.current.is_none()
                && run.queue.is_empty();
            let late = run
                .current
                .as_ref()
                .is_some_and(|(_, x)| now >= x.deadline());
            if poll {
                let seq = self.job_seq();
                if let Some(run) = self.vcs[vi].sync.as_mut() {
                    run.next_poll = now + run.poll_every;
                    run.queue.push_back(Job::new(None, seq, now));
                }
                self.conntrack_pump(now, vi);
            } else if late {
                self.conntrack_advance(now, vi);
            }
            self.conntrack_drain(now, vi);
        }
    }

    fn conntrack_advance(&mut self, now: Instant, vi: usize) {
        let Some(run) = self.vcs.get_mut(vi).and_then(|v| v.sync.as_mut()) else {
            return;
        };
        let Some((_, x)) = run.current.as_mut() else {
            return;
        };
        let result = match x.advance(now) {
            Progress::Pending => return,
            Progress::Done(r) => r,
        };
        let Some((mut job, x)) = run.current.take() else {
            return;
        };
        self.ev.deregister(x.as_raw_fd());
        match result {
            Ok(text) => {
                if job.step == Some(SyncStep::AfterTakeover) && x.request() == Request::Stats {
                    let stale = conntrackd::external_entries(&text).unwrap_or(0);
                    if stale > 0 {
                        warn!(
                            "vc {}: conntrackd ignored the cache flush (\"commit still in \
                             progress\"): {stale} external entries stay and would be committed \
                             again at the next takeover; set HashSize above 8192 in \
                             conntrackd.conf; flushing the internal cache",
                            self.cfg.virtual_clusters[vi].name
                        );
                        job.reqs.insert(job.next, Request::FlushInternal);
                    }
                }
                job.reply = text;
            }
            Err(e) => job.error = Some(e),
        }
        if let Some(run) = self.vcs[vi].sync.as_mut() {
            run.queue.push_front(job);
        }
        self.conntrack_pump(now, vi);
    }

    /// Starts the next request of the first job, or moves it to `done`; never blocks. A
    /// commit waits for the `-t -n` that another virtual cluster on the same socket asked
    /// for before it (`commit_held`); the end of one starts the commits it held.
    fn conntrack_pump(&mut self, now: Instant, vi: usize) {
        if !self.conntrack_pump_one(now, vi) {
            return;
        }
        let Some(socket) = self.vcs[vi].sync.as_ref().map(|r| r.conf.socket.clone()) else {
            return;
        };
        for wi in 0..self.vcs.len() {
            let same = self.vcs[wi]
                .sync
                .as_ref()
                .is_some_and(|r| r.conf.socket == socket);
            if wi != vi && same {
                self.conntrack_pump(now, wi);
            }
        }
    }

    /// `conntrack_pump` for `vi` alone; whether a `-t -n` ended.
    fn conntrack_pump_one(&mut self, now: Instant, vi: usize) -> bool {
        let mut reset_ended = false;
        loop {
            let runs: Vec<Option<&SyncRun>> = self.vcs.iter().map(|v| v.sync.as_ref()).collect();
            if commit_held(&runs, vi) {
                return reset_ended;
            }
            let Some(run) = self.vcs.get_mut(vi).and_then(|v| v.sync.as_mut()) else {
                return reset_ended;
            };
            if run.current.is_some() {
                return reset_ended;
            }
            let Some(mut job) = run.queue.pop_front() else {
                return reset_ended;
            };
            if let (None, Some(&req)) = (&job.error, job.reqs.get(job.next)) {
                job.next += 1;
                let deadline = now + run.conf.commit_timeout;
                match Exchange::start(&run.conf.socket, req, deadline) {
                    Ok(x) => {
                        self.ev.register(x.as_raw_fd(), token(vi), Interest::Read);
                        run.current = Some((job, x));
                        return reset_ended;
                    }
                    Err(e) => {
                        job.error = Some(e);
                        run.queue.push_front(job);
                        continue;
                    }
                }
            }
            reset_ended |= job.step == Some(SyncStep::AfterRelease);
            run.done.push_back(job);
        }
    }

    fn conntrack_finished(&mut self, now: Instant, vi: usize, job: Job) {
        let name = self.cfg.virtual_clusters[vi].name.clone();
        let Some(run) = self.vcs.get_mut(vi).and_then(|v| v.sync.as_mut()) else {
            return;
        };
        let ok = job.error.is_none();
        let was = run.reachable;
        run.reachable = Some(ok);
        match &job.error {
            Some(e) => {
                let text = e.to_string();
                if run.last_error.as_ref() != Some(&text) || was != Some(false) {
                    warn!("vc {name}: conntrackd: {text}");
                }
                run.last_error = Some(text);
            }
            None => {
                if was == Some(false) {
                    info!("vc {name}: conntrackd answers again");
                }
                run.last_error = None;
            }
        }
        match job.step {
            None => {
                if ok {
                    run.external = conntrackd::external_entries(&job.reply);
                    run.internal = conntrackd::internal_entries(&job.reply);
                }
                let external = if ok { run.external } else { None };
                let acts = self
                    .node
                    .handle(now, Input::ConntrackStats { vc: vi, external });
                self.apply(now, acts);
            }
            Some(step) => {
                let took = now.saturating_duration_since(job.started);
                if matches!(step, SyncStep::Commit | SyncStep::PreCommit) {
                    run.last_commit = Some(CommitResult {
                        took,
                        error: job.error.as_ref().map(|e| e.to_string()),
                    });
                    let pre = if step == SyncStep::PreCommit {
                        "pre-"
                    } else {
                        ""
                    };
                    if ok {
                        info!(
                            "vc {name}: conntrackd {pre}committed in {} ms",
                            took.as_millis()
                        );
                    }
                } else {
                    debug!(
                        "vc {name}: conntrackd {step:?} done in {} ms",
                        took.as_millis()
                    );
                }
                let acts = self
                    .node
                    .handle(now, Input::ConntrackDone { vc: vi, step, ok });
                self.apply(now, acts);
            }
        }
        self.update_health(now, vi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Jobs numbered in the order the test makes them, as `Worker::job_seq` does.
    fn job(step: Option<SyncStep>) -> Job {
        static ASKED: AtomicU64 = AtomicU64::new(0);
        Job::new(step, ASKED.fetch_add(1, Ordering::Relaxed), Instant::now())
    }

    /// A takeover's commit went to the head of the queue, ahead of the `-t -n` of a release
    /// still waiting behind a statistics poll. conntrackd 1.4 takes `-t` for "flush the
    /// kernel table in PurgeTimeout seconds" and only a commit after it calls that off: the
    /// new master's table would have been flushed a minute after it took over.
    #[test]
    fn commit_jumped_ahead_of_a_queued_reset_and_would_flush_the_new_masters_table() {
        let mut q: VecDeque<Job> = [None, Some(SyncStep::AfterRelease), Some(SyncStep::Bulk)]
            .into_iter()
            .map(job)
            .collect();
        assert_eq!(commit_slot(&q), 2);
        q.insert(commit_slot(&q), job(Some(SyncStep::Commit)));
        let order: Vec<_> = q.iter().map(|j| j.step).collect();
        assert_eq!(
            order,
            [
                None,
                Some(SyncStep::AfterRelease),
                Some(SyncStep::Commit),
                Some(SyncStep::Bulk)
            ]
        );
        // With no reset queued it goes first, as before.
        let q: VecDeque<Job> = [None, Some(SyncStep::Bulk)].into_iter().map(job).collect();
        assert_eq!(commit_slot(&q), 0);
    }

    fn run_with(socket: &str, steps: &[Option<SyncStep>]) -> SyncRun {
        let conf = Conntrack {
            socket: socket.into(),
            ..Conntrack::default()
        };
        let mut r = SyncRun::new(conf, Instant::now(), Duration::from_millis(100));
        r.queue = steps.iter().map(|&s| job(s)).collect();
        r
    }

    /// Two virtual clusters drive one conntrackd, each with its own queue and connection.
    /// LAN's probe ends without a takeover (`-t -n`, behind a statistics poll), then DMZ
    /// takes over: its commit went out at once and could reach conntrackd before LAN's `-t`,
    /// which conntrackd 1.4.7 takes for "flush the kernel table in 60 s" — the new master's
    /// table, with only a commit *after* the `-t` calling it off. The commit now waits for it.
    #[test]
    fn commit_of_one_vc_overtook_the_reset_of_another_on_the_same_conntrackd() {
        let mut lan = run_with("/run/ct.ctl", &[None, Some(SyncStep::AfterRelease)]);
        for step in [SyncStep::Commit, SyncStep::PreCommit] {
            let dmz = run_with("/run/ct.ctl", &[Some(step)]);
            assert!(commit_held(&[Some(&lan), Some(&dmz)], 1), "{step:?}");
            // Held: nothing to wake up for until LAN's reset ends (no busy loop on the poll).
            assert_eq!(dmz.next_deadline(Instant::now(), true), None);
        }
        let dmz = run_with("/run/ct.ctl", &[Some(SyncStep::Commit)]);
        // Another conntrackd, or a step that does not commit: not held.
        let other = run_with("/run/other.ctl", &[Some(SyncStep::Commit)]);
        assert!(!commit_held(&[Some(&lan), Some(&other)], 1));
        let bulk = run_with("/run/ct.ctl", &[Some(SyncStep::Bulk)]);
        assert!(!commit_held(&[Some(&lan), Some(&bulk)], 1));
        // A reset asked for after the commit does not hold it (and two virtual clusters
        // never wait for each other).
        let later = run_with("/run/ct.ctl", &[Some(SyncStep::AfterRelease)]);
        assert!(!commit_held(&[Some(&later), Some(&dmz)], 1));
        // LAN's reset answered: the commit goes.
        lan.queue.clear();
        assert!(!commit_held(&[Some(&lan), Some(&dmz)], 1));
    }
}
