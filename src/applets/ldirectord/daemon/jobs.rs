//! The daemon's jobs: checks and e-mail alerts in flight, each with its fd in the poll set,
//! its timeout and the timers of a paced or waiting dialogue. `io_event` is the one dispatch
//! of what the loop reports for them (a child reaped, a timer, a ready fd): the running loop
//! and the stop's wait for its last mails both call it.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use super::super::check::{self, Check, Poll};
use super::super::core::{Input, Outcome, RealId};
use super::super::server_text::printable;
use super::{Daemon, FIRST_TOKEN};
use crate::event::{Event, EventLoop, TimerId, Token};

/// What a running job is for.
pub(super) enum Job {
    Check(RealId),
    Mail,
}

/// A check or a mail in flight: what wakes it and when its time is up.
pub(super) struct Running {
    pub(super) job: Job,
    check: Box<dyn Check>,
    fd: Option<RawFd>,
    /// What `fd` is registered for.
    interest: crate::event::Interest,
    timer: TimerId,
    /// The timer after which a paced check (`Poll::Later`) reads again.
    pace: Option<TimerId>,
    /// The timer at which a check that asked for it (`Poll::Until`) is advanced again.
    wake: Option<TimerId>,
    timeout: Duration,
}

impl Daemon {
    /// Carries one event of the loop to the jobs it concerns. A signal other than CHLD is
    /// the caller's to act on (the running loop stops or reloads; the stop ignores it) and is
    /// handed back.
    pub(super) fn io_event(&mut self, ev: Event) -> Option<i32> {
        match ev {
            Event::Signal(libc::SIGCHLD) => self.children(),
            Event::Signal(sig) => return Some(sig),
            Event::Timer(Token(t), id) => self.timer(t, id),
            Event::Readable(Token(t)) | Event::Writable(Token(t)) => self.advance(t),
        }
        None
    }

    /// A child exited: the jobs waiting on one (external checks, sendmail) look again.
    fn children(&mut self) {
        check::external::reap();
        let tokens: Vec<usize> = self
            .running
            .iter()
            .filter(|(_, r)| r.fd.is_none() && r.pace.is_none())
            .map(|(t, _)| *t)
            .collect();
        for t in tokens {
            self.advance(t);
        }
    }

    /// A job's timer fired: its pause ended (paced check) or its time is up.
    fn timer(&mut self, token: usize, id: TimerId) {
        if let Some(r) = self.running.get_mut(&token) {
            if r.pace == Some(id) {
                r.pace = None;
                self.advance(token);
                return;
            }
            if r.wake == Some(id) {
                r.wake = None;
                self.advance(token);
                return;
            }
            // Time is up during a pause: what piled up since the last read is read and
            // judged first. An answer that completed in the pause was marked down
            // ("timed out") without this.
            if let Some(p) = r.pace.take() {
                self.ev.cancel_timer(p);
                self.advance(token);
            }
        }
        self.timed_out(token);
    }

    fn timed_out(&mut self, token: usize) {
        let Some(r) = self.running.get(&token) else {
            return;
        };
        let secs = r.timeout.as_secs();
        let why = match r.check.note() {
            Some(note) => format!("timed out after {secs} s; {note}"),
            None => format!("timed out after {secs} s"),
        };
        match self.finish(token) {
            Some(Job::Check(id)) => {
                self.record(id, true);
                self.react(Instant::now(), Input::Done(id, Outcome::Down(why)));
            }
            Some(Job::Mail) => log::error!("e-mail alert: timed out after {secs} s"),
            None => {}
        }
    }

    /// Removes a job: deregisters its fd, cancels its timer, drops (closes/kills) it.
    pub(super) fn finish(&mut self, token: usize) -> Option<Job> {
        let r = self.running.remove(&token)?;
        match r.job {
            Job::Mail => self.mails = self.mails.saturating_sub(1),
            Job::Check(id) => self.slots.release(id),
        }
        if let Some(fd) = r.fd {
            self.ev.deregister(fd);
        }
        self.ev.cancel_timer(r.timer);
        if let Some(p) = r.pace {
            self.ev.cancel_timer(p);
        }
        if let Some(w) = r.wake {
            self.ev.cancel_timer(w);
        }
        Some(r.job)
    }

    /// Watches the check's fd for `interest`. A check may move to another fd (ftp: control,
    /// then data connection). The usual case, the same fd waiting for the same thing again
    /// (a server sending its answer in many segments), leaves the registration alone: both
    /// calls walk every registered fd.
    fn watch(ev: &mut EventLoop, r: &mut Running, token: usize, interest: crate::event::Interest) {
        let fd = r.check.fd();
        if fd == r.fd && interest == r.interest {
            return;
        }
        if let Some(old) = r.fd.filter(|_| fd != r.fd) {
            ev.deregister(old);
        }
        r.fd = fd;
        r.interest = interest;
        if let Some(fd) = fd {
            ev.register(fd, Token(token), interest);
        }
    }

    fn advance(&mut self, token: usize) {
        let Some(r) = self.running.get_mut(&token) else {
            return;
        };
        match r.check.advance() {
            Poll::Wait(interest) => Self::watch(&mut self.ev, r, token, interest),
            Poll::Until(interest, at) => {
                if let Some(w) = r.wake.take() {
                    self.ev.cancel_timer(w);
                }
                r.wake = Some(self.ev.set_timer(at, Token(token)));
                Self::watch(&mut self.ev, r, token, interest);
            }
            Poll::Later(interest, after) => {
                // Not watched until the pause ends; then `advance` reads what piled up.
                if let Some(fd) = r.fd.take() {
                    self.ev.deregister(fd);
                }
                r.interest = interest;
                if let Some(p) = r.pace.take() {
                    self.ev.cancel_timer(p);
                }
                // The next point of the grid at least half a pause away: 125–375 ms.
                let at = check::on_grid(self.pace_epoch, Instant::now() + after / 2, after);
                r.pace = Some(self.ev.set_timer(at, Token(token)));
            }
            Poll::Child => {}
            Poll::Ready(outcome) => match self.finish(token) {
                Some(Job::Check(id)) => {
                    self.record(id, false);
                    self.react(Instant::now(), Input::Done(id, outcome));
                }
                Some(Job::Mail) => match outcome {
                    Outcome::Up(_) => log::debug!("e-mail alert sent"),
                    Outcome::Down(m) => log::error!("e-mail alert: {}", printable(&m)),
                    Outcome::Maintenance => {}
                },
                None => {}
            },
        }
    }

    /// Puts a started job into the loop.
    pub(super) fn launch(&mut self, job: Job, check: Box<dyn Check>, timeout: Duration) {
        if let Job::Mail = job {
            self.mails += 1;
        }
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1).max(FIRST_TOKEN);
        let timer = self.ev.set_timer_in(timeout, Token(token));
        let fd = check.fd();
        self.running.insert(
            token,
            Running {
                job,
                check,
                fd,
                interest: crate::event::Interest::Write,
                timer,
                pace: None,
                wake: None,
                timeout,
            },
        );
        if let Some(fd) = fd {
            self.ev
                .register(fd, Token(token), crate::event::Interest::Write);
        }
        self.advance(token);
    }
}
