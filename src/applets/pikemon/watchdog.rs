//! The supervisor's judgement of its worker beyond SIGCHLD (pure: time is a parameter).
//! The worker writes a byte to a pipe at least once per hello-interval (`liveness`); a worker
//! silent for one dead-interval — the time after which the peer takes over — is hung
//! (stopped, stuck in a system call, blocked on stderr) and killed, and its addresses are
//! released once it is reaped: the peer is Master by then, and a hung node whose kernel
//! still carried the VIPs and the virtual MAC was a second one. When no worker has been alive
//! for a dead-interval (spawns failing, set-ups failing over and over), nobody answers the
//! peer's probe: the addresses are released too, by the supervisor alone.
//!
//! A worker being set up has not spoken yet: it gets `setup_grace` (at least a dead-interval)
//! before it counts as hung. A worker killed and restarted at once moves nothing: no release
//! while a worker runs, and its successor's first byte is a sign of life again.

use std::time::{Duration, Instant};

/// What the supervisor knows of the current worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// None runs (waiting out the back-off, or its spawn failed).
    Absent,
    /// Started at this moment; not a byte yet.
    Starting(Instant),
    /// Its last byte came at this moment.
    Alive(Instant),
    /// Killed for its silence; released once it is reaped.
    Killed,
}

/// What the supervisor does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Wait,
    /// SIGKILL the worker: silent this long (as alive, or since its start while set up).
    Kill {
        silent: Duration,
        setting_up: bool,
    },
    /// Release every controlled interface (macvlan down, nomadic VIPs deleted).
    Release,
}

#[derive(Debug, Clone)]
pub struct Watchdog {
    dead: Duration,
    setup_grace: Duration,
    state: State,
    /// The last sign of life of any worker.
    last_life: Instant,
    /// The addresses are released (by us, or by a worker that stopped cleanly) since it.
    released: bool,
    /// Some worker has spoken since the supervisor started (the first one is set up).
    ever_alive: bool,
}

impl Watchdog {
    pub fn new(now: Instant, dead: Duration, setup_grace: Duration) -> Watchdog {
        Watchdog {
            dead,
            setup_grace: setup_grace.max(dead),
            state: State::Absent,
            last_life: now,
            released: false,
            ever_alive: false,
        }
    }

    /// A worker was started.
    pub fn spawned(&mut self, now: Instant) {
        self.state = State::Starting(now);
    }

    /// A byte came from the worker.
    pub fn beat(&mut self, now: Instant) {
        if self.state != State::Killed {
            self.state = State::Alive(now);
            self.last_life = now;
            self.released = false;
            self.ever_alive = true;
        }
    }

    /// Whether some worker has been set up (spoken) since the supervisor started.
    pub fn ever_alive(&self) -> bool {
        self.ever_alive
    }

    /// Whether the addresses are released since the last sign of life.
    pub fn released(&self) -> bool {
        self.released
    }

    /// The worker was reaped; `clean`: it exited 0 (it stopped, releasing what it held).
    pub fn exited(&mut self, now: Instant, clean: bool) -> Verdict {
        let killed = self.state == State::Killed;
        self.state = State::Absent;
        if clean {
            self.released = true;
        }
        if killed && !self.released {
            self.released = true;
            return Verdict::Release;
        }
        self.check(now)
    }

    /// The supervisor released the addresses (at its exit).
    pub fn did_release(&mut self) {
        self.released = true;
    }

    /// When `check` has something to say next.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Alive(last) => Some(last + self.dead),
            State::Starting(since) => Some(since + self.setup_grace),
            State::Absent if !self.released => Some(self.last_life + self.dead),
            State::Absent | State::Killed => None,
        }
    }

    /// What is due at `now`.
    pub fn check(&mut self, now: Instant) -> Verdict {
        match self.state {
            // Woken half a dead-interval after the deadline: the supervisor did not run
            // either (the whole daemon SIGSTOPped, the machine paused), so the silence is not
            // the worker's alone. Both resume together, and the worker speaks within a hello;
            // it gets one dead-interval from now before it counts as hung.
            State::Alive(last) if now >= last + self.dead + self.dead / 2 => {
                self.state = State::Alive(now);
                Verdict::Wait
            }
            State::Alive(last) if now >= last + self.dead => {
                self.state = State::Killed;
                Verdict::Kill {
                    silent: now - last,
                    setting_up: false,
                }
            }
            State::Starting(since) if now >= since + self.setup_grace => {
                self.state = State::Killed;
                Verdict::Kill {
                    silent: now - since,
                    setting_up: true,
                }
            }
            State::Absent if !self.released && now >= self.last_life + self.dead => {
                self.released = true;
                Verdict::Release
            }
            _ => Verdict::Wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEAD: Duration = Duration::from_millis(300);
    const GRACE: Duration = Duration::from_secs(10);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn alive_at(t0: Instant) -> Watchdog {
        let mut w = Watchdog::new(t0, DEAD, GRACE);
        w.spawned(t0);
        w.beat(t0 + ms(50));
        w
    }

    #[test]
    fn sigstopped_worker_silent_for_a_dead_interval_is_killed_then_released_once_reaped() {
        let t0 = Instant::now();
        let mut w = alive_at(t0);
        w.beat(t0 + ms(150));
        assert_eq!(w.deadline(), Some(t0 + ms(450)));
        assert_eq!(w.check(t0 + ms(449)), Verdict::Wait);
        assert_eq!(
            w.check(t0 + ms(450)),
            Verdict::Kill {
                silent: DEAD,
                setting_up: false
            }
        );
        // Nothing more until it is reaped; a byte still in the pipe revives nothing.
        assert_eq!(w.deadline(), None);
        w.beat(t0 + ms(451));
        assert_eq!(w.exited(t0 + ms(452), false), Verdict::Release);
        assert!(w.released());
        // The new worker: set up, then alive again.
        w.spawned(t0 + ms(452));
        assert_eq!(w.check(t0 + ms(2000)), Verdict::Wait);
        w.beat(t0 + ms(500));
        assert!(!w.released());
    }

    #[test]
    fn whole_daemon_sigstopped_and_continued_killed_its_healthy_worker() {
        let t0 = Instant::now();
        let mut w = alive_at(t0);
        // Supervisor and worker stopped together for 2 s: the supervisor's check comes 2 s
        // late, before the worker (resumed at the same time) has written its byte.
        assert_eq!(w.check(t0 + ms(2050)), Verdict::Wait);
        w.beat(t0 + ms(2060));
        assert_eq!(w.check(t0 + ms(2200)), Verdict::Wait);
        // A worker that stays silent after that is still killed a dead-interval on.
        assert_eq!(
            w.check(t0 + ms(2360)),
            Verdict::Kill {
                silent: DEAD,
                setting_up: false
            }
        );
    }

    #[test]
    fn worker_sigkilled_and_restarted_at_once_releases_nothing() {
        let t0 = Instant::now();
        let mut w = alive_at(t0);
        assert_eq!(w.exited(t0 + ms(100), false), Verdict::Wait);
        w.spawned(t0 + ms(100));
        // Its set-up outlasts the dead-interval: still no kill, no release.
        assert_eq!(w.check(t0 + ms(400)), Verdict::Wait);
        assert_eq!(w.check(t0 + ms(1000)), Verdict::Wait);
        w.beat(t0 + ms(1000));
        assert_eq!(w.check(t0 + ms(1200)), Verdict::Wait);
    }

    #[test]
    fn no_worker_alive_for_a_dead_interval_releases_once() {
        let t0 = Instant::now();
        let mut w = alive_at(t0);
        // Set-ups failing over and over, each exit followed by a back-off.
        assert_eq!(w.exited(t0 + ms(60), false), Verdict::Wait);
        w.spawned(t0 + ms(60));
        assert_eq!(w.exited(t0 + ms(200), false), Verdict::Wait);
        assert_eq!(w.deadline(), Some(t0 + ms(350)));
        w.spawned(t0 + ms(300));
        // A worker runs at the deadline: nothing released under it.
        assert_eq!(w.check(t0 + ms(350)), Verdict::Wait);
        assert_eq!(w.exited(t0 + ms(400), false), Verdict::Release);
        assert_eq!(w.check(t0 + ms(900)), Verdict::Wait);
        assert_eq!(w.deadline(), None);
    }

    #[test]
    fn failed_spawns_release_after_a_dead_interval_without_a_worker() {
        let t0 = Instant::now();
        let mut w = alive_at(t0);
        assert_eq!(w.exited(t0 + ms(100), false), Verdict::Wait);
        // The spawns fail: no worker, no SIGCHLD; the deadline alone decides.
        assert_eq!(w.deadline(), Some(t0 + ms(350)));
        assert_eq!(w.check(t0 + ms(350)), Verdict::Release);
        assert_eq!(w.check(t0 + ms(360)), Verdict::Wait);
    }

    #[test]
    fn worker_that_stopped_cleanly_needs_no_release() {
        let t0 = Instant::now();
        let mut w = alive_at(t0);
        assert_eq!(w.exited(t0 + ms(100), true), Verdict::Wait);
        assert!(w.released());
        assert_eq!(w.check(t0 + ms(5000)), Verdict::Wait);
    }

    #[test]
    fn worker_hung_in_its_set_up_is_killed_after_the_grace() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(t0, DEAD, GRACE);
        w.spawned(t0);
        assert!(!w.ever_alive());
        assert_eq!(w.check(t0 + GRACE - ms(1)), Verdict::Wait);
        assert_eq!(
            w.check(t0 + GRACE),
            Verdict::Kill {
                silent: GRACE,
                setting_up: true
            }
        );
        assert_eq!(w.exited(t0 + GRACE, false), Verdict::Release);
    }
}
