//! The main pikemon process: holds the pid file, starts the ACR and the worker (this binary
//! re-executed with `--acr` / `--worker`), forwards the ACR's resolutions to the worker,
//! restarts a dead child with back-off (the worker resumes its role from the status file and
//! takes the packet sockets the supervisor holds for it, see `sockets`) and
//! handles the signals of DESIGN.md §2:
//! USR1/USR2 log level (forwarded), PWR status to the log (forwarded to the worker), HUP
//! hand-over to a new instance (release the pid file, the worker keeps role and addresses
//! until the new worker kills it), INT/QUIT/TERM stop (the worker drops Master and says
//! GOODBYE).

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::{ChildStdin, ChildStdout, ExitCode};
use std::time::{Duration, Instant};

use log::{error, info, warn};
use nix::sys::signal::Signal;

use super::config::Config;
use super::death_watch::{DeathWatch, Outcome};
use super::liveness::Listener;
use super::sockets::Held;
use super::watchdog::{Verdict, Watchdog};
use super::worker::SETUP_FAILED;
use crate::event::{Event, EventLoop, Token};
use crate::logging;
use crate::sys::daemon::Detached;

mod children;
mod handover;

pub use children::Spawn;
use children::{backoff, keep_strays_from_children, to_worker, Kid};
pub use handover::{
    acquire_instance, handover_path, old_instance, worker_path, InstanceLock, OldInstance,
    StartRefused,
};
use handover::{forget_worker, hand_over_orphan, no_worker_alive, release_addresses};

const ACR_OUT: Token = Token(1);
const RESTART_WORKER: Token = Token(2);
const RESTART_ACR: Token = Token(3);
const STOP_DEADLINE: Token = Token(4);
const LIVENESS: Token = Token(5);

/// How long a worker being set up may stay silent before the watchdog takes it for hung
/// (at least a dead-interval): a set-up waits for netlink and the status file's fsync.
const SETUP_GRACE: Duration = Duration::from_secs(10);

/// Where the supervisor is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Children run and are restarted when they die.
    Serving,
    /// After SIGHUP: a new instance takes over; the worker keeps the role until the new
    /// worker kills it, nothing is restarted, and its exit ends this instance.
    HandedOver,
    /// SIGTERM/INT/QUIT (or the hand-over done): the children are stopping; no restarts.
    Stopping,
}

/// The supervisor's state between events. The fields drop in this order (the pid file
/// after the children's pipes, the set-up report last).
struct Supervisor<'a> {
    config: &'a Config,
    spawn: &'a Spawn,
    watch: Option<DeathWatch>,
    /// The worker's packet sockets live here, so that a restarted worker finds them bound and
    /// a dead one's exit closes none (see `sockets`).
    held: Held,
    /// The pid of the worker the watchdog killed, until it is reaped.
    killed_for_silence: Option<i32>,
    live: Option<Listener>,
    dog: Watchdog,
    /// SIGHUP: the addresses are the next instance's too, never released from here.
    handed_over: bool,
    code: ExitCode,
    phase: Phase,
    resolved: BTreeMap<String, String>,
    acr_buf: Vec<u8>,
    acr_out: Option<ChildStdout>,
    worker_in: Option<ChildStdin>,
    acr: Kid,
    worker: Kid,
    pidfile: Option<InstanceLock>,
    /// After SIGHUP: the thread writing the hand-over file, which then releases the pid file.
    handover_write: Option<std::thread::JoinHandle<()>>,
    ev: EventLoop,
    /// The set-up report a starting process waits for, passed to the first worker.
    report: Option<Detached>,
}

/// Runs the supervisor until stopped; the pid file is already held. `report`: a starting
/// process waits for the first worker's set-up (the worker reports it).
pub fn run(
    config: &Config,
    spawn: &Spawn,
    pidfile: InstanceLock,
    report: Option<Detached>,
) -> ExitCode {
    let _ = crate::sys::proctitle::set("pikemon: supervisor");
    keep_strays_from_children();
    if let Some(priority) = config.realtime {
        // A worker that dies is restarted from here: a starved supervisor would let the
        // peer's dead-interval run out first. Children start with the normal policy.
        if let Err(e) = crate::sys::sched::fifo(priority) {
            warn!("supervisor: SCHED_FIFO priority {priority}: {e}");
        }
        if let Err(e) = crate::sys::sched::lock_memory() {
            warn!("supervisor: mlockall: {e}");
        }
    }
    let mut ev = EventLoop::new();
    let sigs = [
        libc::SIGCHLD,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGPWR,
    ];
    if let Err(e) = ev.watch_signals(&sigs) {
        error!("signals: {e}");
        return ExitCode::from(1);
    }
    let mut s = Supervisor {
        config,
        spawn,
        pidfile: Some(pidfile),
        handover_write: None,
        worker: Kid {
            child: None,
            last_pid: 0,
            started: Instant::now(),
            failures: 0,
            restarts: 0,
        },
        acr: Kid {
            child: None,
            last_pid: 0,
            started: Instant::now(),
            failures: 0,
            restarts: 0,
        },
        worker_in: None,
        acr_out: None,
        acr_buf: Vec::new(),
        resolved: BTreeMap::new(),
        phase: Phase::Serving,
        code: ExitCode::SUCCESS,
        handed_over: false,
        dog: Watchdog::new(Instant::now(), config.dead_interval, SETUP_GRACE),
        live: None,
        killed_for_silence: None,
        held: Held::default(),
        watch: None,
        ev,
        report,
    };

    // Before the first worker: after a hand-over that worker ends the old instance, whose
    // death-watch connections then close; the peer takes that for a death unless this
    // instance's connection is open by then (see `death_watch`).
    s.watch = config.death_watch.map(DeathWatch::new);
    if let Some(w) = s.watch.as_mut() {
        w.start(&mut s.ev);
    }
    hand_over_orphan(&config.pid_file);
    let first = s.start_worker();
    if !first {
        // The starting process heard it (its report went with the failed command).
        error!("the first worker could not be started; stopping");
        s.phase = Phase::Stopping;
        s.code = ExitCode::from(1);
    } else if !super::acr::names(config).is_empty() {
        s.start_acr();
    }

    let mut events = Vec::new();
    loop {
        if s.phase == Phase::Stopping && s.worker.child.is_none() && s.acr.child.is_none() {
            break;
        }
        let wait = s
            .dog
            .deadline()
            .map(|d| d.saturating_duration_since(Instant::now()));
        if let Err(e) = s.ev.wait(&mut events, wait) {
            error!("event loop: {e}");
            return ExitCode::from(1);
        }
        for e in events.drain(..) {
            if s.death_watch_took(&e) {
                continue;
            }
            match e {
                Event::Readable(LIVENESS) => s.worker_alive(),
                Event::Readable(ACR_OUT) => s.acr_output(),
                Event::Signal(libc::SIGCHLD) => s.child_exited(),
                Event::Timer(token, _) => s.timer_due(token),
                Event::Signal(sig) => s.signalled(sig),
                _ => {}
            }
        }
        s.watchdog_verdict();
    }
    if !s.handed_over && !s.dog.released() {
        s.dog.did_release();
        release_addresses(
            config,
            "stopping without a worker that released the addresses",
        );
    }
    s.finish_handover_write();
    if !s.handed_over {
        forget_worker();
    }
    drop(s.pidfile.take());
    s.code
}

impl Supervisor<'_> {
    /// Whether the death watch took `e`; it tells the worker at once when the peer's
    /// supervisor is gone.
    fn death_watch_took(&mut self, e: &Event) -> bool {
        let Some(w) = self.watch.as_mut() else {
            return false;
        };
        match w.handle(&mut self.ev, e) {
            Outcome::NotMine => false,
            Outcome::Nothing => true,
            Outcome::PeerGone => {
                if let Some(wi) = self.worker_in.as_mut() {
                    to_worker(wi, b"peer-exited\n");
                }
                true
            }
        }
    }

    /// The worker's liveness pipe is readable: a sign of life, or its end.
    fn worker_alive(&mut self) {
        match self.live.as_ref().map(Listener::drain) {
            Some(Some(true)) => self.dog.beat(Instant::now()),
            Some(Some(false)) | None => {}
            Some(None) => {
                // End of file: the worker is gone (its SIGCHLD tells the rest).
                if let Some(l) = self.live.take() {
                    self.ev.deregister(l.raw());
                }
            }
        }
    }

    /// The ACR wrote: each whole resolution line goes to the worker and is kept for the next.
    fn acr_output(&mut self) {
        let mut buf = [0u8; 4096];
        let n = self
            .acr_out
            .as_mut()
            .map(|o| o.read(&mut buf))
            .unwrap_or(Ok(0));
        match n {
            Ok(0) | Err(_) => {
                if let Some(o) = self.acr_out.take() {
                    self.ev.deregister(o.as_raw_fd());
                }
            }
            Ok(n) => {
                self.acr_buf.extend_from_slice(&buf[..n]);
                while let Some(pos) = self.acr_buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = self.acr_buf.drain(..=pos).collect();
                    let line = String::from_utf8_lossy(&line).into_owned();
                    if let Some((name, _)) = super::acr::parse_line(&line) {
                        if let Some(w) = self.worker_in.as_mut() {
                            to_worker(w, line.as_bytes());
                        }
                        self.resolved.insert(name, line);
                    }
                }
            }
        }
    }

    /// SIGCHLD: reaps the children that exited. A dead worker's addresses are released (if
    /// the watchdog says so) before anything is decided about a restart.
    fn child_exited(&mut self) {
        let config = self.config;
        for (kid, name) in [(&mut self.worker, "worker"), (&mut self.acr, "acr")] {
            let done = kid.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = done {
                kid.child = None;
                let ran = kid.started.elapsed();
                if name == "worker" {
                    let killed = self.killed_for_silence.take().is_some();
                    if self.dog.exited(Instant::now(), status.success()) == Verdict::Release {
                        let why = if killed {
                            "the worker killed for its silence is gone".to_string()
                        } else {
                            no_worker_alive(config.dead_interval)
                        };
                        if self.handed_over {
                            info!("{why}; the addresses are the new instance's");
                        } else {
                            release_addresses(config, &why);
                        }
                    }
                }
                if self.phase != Phase::Serving {
                    info!("{name} exited ({status})");
                    continue;
                }
                if name == "worker" && status.code() == Some(SETUP_FAILED) {
                    error!("the first worker could not set up; stopping");
                    self.phase = Phase::Stopping;
                    self.code = ExitCode::from(1);
                    continue;
                }
                if name == "worker" && !self.dog.ever_alive() {
                    // The start was told it failed: nothing may run on.
                    error!("the first worker exited ({status}) before it was set up; stopping");
                    self.phase = Phase::Stopping;
                    self.code = ExitCode::from(1);
                    continue;
                }
                if ran > Duration::from_secs(60) {
                    kid.failures = 0;
                }
                let wait = backoff(kid.failures);
                kid.failures += 1;
                kid.restarts += 1;
                warn!("{name} exited ({status}); restarting in {wait:?}");
                let token = if name == "worker" {
                    RESTART_WORKER
                } else {
                    RESTART_ACR
                };
                self.ev.set_timer_in(wait, token);
            }
        }
        if self.phase != Phase::Serving && self.worker.child.is_none() {
            self.phase = Phase::Stopping;
            self.acr.signal(Signal::SIGTERM);
        }
    }

    fn timer_due(&mut self, token: Token) {
        match token {
            RESTART_WORKER if self.phase == Phase::Serving => {
                let started = self.start_worker();
                if !started {
                    // No SIGCHLD will come: the retry is a timer.
                    let wait = backoff(self.worker.failures);
                    self.worker.failures += 1;
                    warn!("retrying the worker in {wait:?}");
                    self.ev.set_timer_in(wait, RESTART_WORKER);
                }
            }
            RESTART_ACR if self.phase == Phase::Serving => self.start_acr(),
            STOP_DEADLINE => {
                warn!("children did not stop in time; killing them");
                self.worker.signal(Signal::SIGKILL);
                self.acr.signal(Signal::SIGKILL);
            }
            _ => {}
        }
    }

    /// Every signal but SIGCHLD (see `child_exited`).
    fn signalled(&mut self, sig: i32) {
        match sig {
            libc::SIGTERM | libc::SIGINT | libc::SIGQUIT if self.phase != Phase::Stopping => {
                info!("stopping");
                self.phase = Phase::Stopping;
                self.worker.signal(Signal::SIGTERM);
                self.acr.signal(Signal::SIGTERM);
                self.ev.set_timer_in(Duration::from_secs(10), STOP_DEADLINE);
            }
            libc::SIGHUP if self.phase == Phase::Serving => self.hand_over(),
            libc::SIGUSR1 => {
                info!("log level {}", logging::raise());
                self.worker.signal(Signal::SIGUSR1);
                self.acr.signal(Signal::SIGUSR1);
            }
            libc::SIGUSR2 => {
                let l = logging::lower();
                self.worker.signal(Signal::SIGUSR2);
                self.acr.signal(Signal::SIGUSR2);
                log::warn!("log level {l}");
            }
            libc::SIGPWR => {
                for (kid, name) in [(&self.worker, "worker"), (&self.acr, "acr")] {
                    match kid.pid() {
                        Some(pid) => info!(
                            "status: {name} pid {pid}, up {}s, {} restart(s)",
                            kid.started.elapsed().as_secs(),
                            kid.restarts
                        ),
                        None => info!("status: {name} not running"),
                    }
                }
                self.worker.signal(Signal::SIGPWR);
            }
            _ => {}
        }
    }

    /// After each round of events: the watchdog kills a silent worker, or releases the
    /// addresses once no worker has been alive for the dead-interval.
    fn watchdog_verdict(&mut self) {
        match self.dog.check(Instant::now()) {
            Verdict::Wait => {}
            Verdict::Kill { silent, setting_up } => {
                let pid = self.worker.pid().unwrap_or(0);
                let how = if setting_up {
                    "since its start (its set-up hangs)"
                } else {
                    "(hung or stopped)"
                };
                error!(
                    "the worker [pid {pid}] gave no sign of life for {} ms {how}, the peer's \
                     dead-interval is {} ms: killing it, its addresses are released once it is gone",
                    silent.as_millis(),
                    self.config.dead_interval.as_millis()
                );
                self.killed_for_silence = Some(pid);
                self.worker.signal(Signal::SIGKILL);
            }
            Verdict::Release if self.handed_over => {}
            Verdict::Release => {
                release_addresses(self.config, &no_worker_alive(self.config.dead_interval));
            }
        }
    }
}
