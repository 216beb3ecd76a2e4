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
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use log::{error, info, warn};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::config::Config;
use super::death_watch::{DeathWatch, Outcome};
use super::liveness::Listener;
use super::sockets::Held;
use super::watchdog::{Verdict, Watchdog};
use super::worker::{FIRST_ENV, REPORT_ENV, SETUP_FAILED};
use crate::event::{Event, EventLoop, Interest, Token};
use crate::logging;
use crate::sys::daemon::Detached;
use crate::sys::pidfile::PidFile;

const ACR_OUT: Token = Token(1);
const RESTART_WORKER: Token = Token(2);
const RESTART_ACR: Token = Token(3);
const STOP_DEADLINE: Token = Token(4);
const LIVENESS: Token = Token(5);

/// How long a worker being set up may stay silent before the watchdog takes it for hung
/// (at least a dead-interval): a set-up waits for netlink and the status file's fsync.
const SETUP_GRACE: Duration = Duration::from_secs(10);

/// Back-off before restarting a child: none the first time, then doubling from 100 ms to
/// 10 s; a child that ran for a minute starts over.
fn backoff(failures: u32) -> Duration {
    // The first restart at once: a worker that crashed once is back before the peer's
    // dead-interval ends (the status file keeps its role); a crash loop backs off.
    match failures {
        0 => Duration::ZERO,
        n => Duration::from_millis(100u64 << (n - 1).min(7)).min(Duration::from_secs(10)),
    }
}

/// Marks close-on-exec every fd above stderr that this process got from whoever started it
/// (a shell's or a management tool's pipe, a jobserver): without it the worker, the ACR and
/// every notify hook and track script held it for the daemon's whole life, and a caller
/// waiting for EOF on such a pipe waited forever. The worker's packet sockets are passed as
/// fresh copies after this.
fn keep_strays_from_children() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for raw in fds {
        // Sets FD_CLOEXEC (the directory's own fd is gone by now: EBADF, skipped); the
        // fd stays open and owned by whoever held it.
        if let Ok(fd) = crate::sys::adopt_inherited(raw) {
            let _ = std::os::fd::IntoRawFd::into_raw_fd(fd);
        }
    }
}

/// Writes one line to the worker's stdin without waiting: a worker that does not read
/// (stopped, hung in a system call) once filled the pipe and held the supervisor in write(2)
/// — no restart, no stop, no signal handled. A line (far below PIPE_BUF) goes in whole or
/// not at all; one that does not fit is dropped: a death-watch hint the dead-interval
/// replaces, or a resolution the next worker gets again from `resolved`.
fn to_worker(w: &mut ChildStdin, line: &[u8]) {
    match w.write(line) {
        Ok(n) if n == line.len() => {}
        Ok(_) => warn!("worker stdin: a line was cut short"),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            log::debug!("worker stdin full (the worker does not read): a line dropped")
        }
        Err(e) => log::debug!("worker stdin: {e}"),
    }
}

/// The file naming the running worker (`PID_FILE.worker`), for the next instance.
pub fn worker_path(pid_file: &Path) -> PathBuf {
    let mut p = pid_file.as_os_str().to_owned();
    p.push(".worker");
    PathBuf::from(p)
}

/// Names the running worker in `PID_FILE.worker`, read by the next instance should this
/// supervisor be killed (see `hand_over_orphan`). Written atomically: a symlink planted at
/// the path is replaced, never followed. A failure is logged, not fatal: the file only
/// matters if this supervisor dies before its worker.
fn record_worker(pid_file: &Path, pid: u32) {
    let path = worker_path(pid_file);
    if let Err(e) = crate::sys::file::write_atomic(&path, format!("{pid}\n").as_bytes()) {
        warn!(
            "{}: {e}: the next instance could not take over from this worker",
            path.display()
        );
    }
}

/// A worker whose supervisor was killed (SIGKILL, the OOM killer) runs on, alone: it keeps the
/// role, but a new instance's worker then ran beside it — two workers of one node, each with
/// its own incarnation. The new instance takes over from it as after SIGHUP: it is named in
/// the hand-over file, and the new worker ends it once it plays its role.
fn hand_over_orphan(pid_file: &Path) {
    let Some(pid) = std::fs::read_to_string(worker_path(pid_file))
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .filter(|p| *p > 1)
    else {
        return;
    };
    let cmdline = |pid: i32| std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if !cmdline(pid).starts_with(b"pikemon: worker") {
        return;
    }
    // Its parent: a supervisor still running means it is no orphan (another instance's).
    let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| {
            let (_, rest) = st.rsplit_once(')')?;
            rest.split_whitespace().nth(1)?.parse::<i32>().ok()
        })
        .unwrap_or(0);
    if cmdline(ppid).starts_with(b"pikemon: supervisor") {
        return;
    }
    let path = handover_path(pid_file);
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    text.push_str(&format!("worker {pid}\n"));
    match super::status_file::write_atomic(&path, text.as_bytes()) {
        Ok(()) => warn!(
            "the worker of a killed supervisor still runs [pid {pid}]: the new worker takes over from it"
        ),
        Err(e) => error!("{}: {e}", path.display()),
    }
}

/// Releases every controlled interface from the supervisor (see `watchdog`): `why` is logged.
/// Not while a hand-over is pending: the addresses are then the other instance's as well.
fn release_addresses(config: &Config, why: &str) {
    if handover_path(&config.pid_file).exists() {
        warn!(
            "{why}; a hand-over between instances is pending: the addresses are left as they are"
        );
        return;
    }
    let mut rt = match crate::net::rtnl::Rtnl::open() {
        Ok(rt) => rt,
        Err(e) => {
            error!("{why}; cannot release the addresses: rtnetlink: {e}");
            return;
        }
    };
    let (done, failed) = super::takeover::release_all(&mut rt, config);
    if done.is_empty() {
        warn!("{why}; no macvlan to release");
    } else {
        warn!("{why}: addresses released ({} down)", done.join(", "));
    }
    for f in failed {
        error!("release: {f}");
    }
}

/// The file naming the processes of an instance that was told HUP (hand-over pending).
pub fn handover_path(pid_file: &Path) -> PathBuf {
    let mut p = pid_file.as_os_str().to_owned();
    p.push(".old");
    PathBuf::from(p)
}

struct Kid {
    child: Option<Child>,
    /// The pid of the last one started.
    last_pid: u32,
    started: Instant,
    failures: u32,
    restarts: u32,
}

impl Kid {
    fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }
    fn signal(&self, sig: Signal) {
        if let Some(pid) = self.pid() {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }
}

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

/// How the supervisor starts its children.
pub struct Spawn {
    pub exe: PathBuf,
    /// The config file's absolute path: only a name in the children's messages.
    pub config: String,
    pub foreground: bool,
    /// The config as the daemon read it at start (a sealed memfd, see `started`): every
    /// child parses it, never the file, which may have been edited since.
    pub started: OwnedFd,
}

impl Spawn {
    /// The command for `role` with the config snapshot passed; drop the fd it returns once
    /// the child is started (see `started::hand_to`).
    fn command(&self, role: &str) -> std::io::Result<(Command, OwnedFd)> {
        let mut c = Command::new(&self.exe);
        c.arg0("pikemon");
        c.args([role, "-f", &self.config]);
        if self.foreground {
            c.arg("-d");
        }
        let copy = super::started::hand_to(&self.started, &mut c)?;
        Ok((c, copy))
    }
}

use std::os::unix::process::CommandExt;

/// Runs the supervisor until stopped; the pid file is already held. `report`: a starting
/// process waits for the first worker's set-up (the worker reports it).
pub fn run(
    config: &Config,
    spawn: &Spawn,
    pidfile: PidFile,
    mut report: Option<Detached>,
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
    let mut pidfile = Some(pidfile);
    let mut worker = Kid {
        child: None,
        last_pid: 0,
        started: Instant::now(),
        failures: 0,
        restarts: 0,
    };
    let mut acr = Kid {
        child: None,
        last_pid: 0,
        started: Instant::now(),
        failures: 0,
        restarts: 0,
    };
    let mut worker_in: Option<ChildStdin> = None;
    let mut acr_out: Option<ChildStdout> = None;
    let mut acr_buf = Vec::new();
    let mut resolved: BTreeMap<String, String> = BTreeMap::new();
    let mut phase = Phase::Serving;
    let mut code = ExitCode::SUCCESS;
    // SIGHUP: the addresses are the next instance's too, never released from here.
    let mut handed_over = false;
    let mut dog = Watchdog::new(Instant::now(), config.dead_interval, SETUP_GRACE);
    let mut live: Option<Listener> = None;
    // The pid of the worker the watchdog killed, until it is reaped.
    let mut killed_for_silence: Option<i32> = None;

    // The worker's packet sockets live here, so that a restarted worker finds them bound and
    // a dead one's exit closes none (see `sockets`).
    let mut held = Held::default();
    // Whether the worker was started; one that was not is retried with back-off by the caller.
    let start_worker = |worker: &mut Kid,
                        worker_in: &mut Option<ChildStdin>,
                        held: &mut Held,
                        resolved: &BTreeMap<String, String>,
                        report: &mut Option<Detached>,
                        ev: &mut EventLoop,
                        live: &mut Option<Listener>,
                        dog: &mut Watchdog|
     -> bool {
        held.refresh(config);
        let (mut cmd, snapshot) = match spawn.command("--worker") {
            Ok(pair) => pair,
            Err(e) => {
                error!("cannot start the worker: passing its config: {e}");
                return false;
            }
        };
        let (listener, writer) = match Listener::for_worker(&mut cmd) {
            Ok(pair) => pair,
            Err(e) => {
                error!("cannot start the worker: its liveness pipe: {e}");
                return false;
            }
        };
        let copies = held.hand_to(&mut cmd);
        let mut passed = None;
        if worker.last_pid == 0 {
            cmd.env(FIRST_ENV, "1");
            if let Some(r) = report.take() {
                match r.hand_to(&mut cmd, REPORT_ENV) {
                    Ok(fd) => passed = Some(fd),
                    Err(e) => warn!("cannot pass the set-up report to the worker: {e}"),
                }
            }
        } else {
            cmd.env_remove(FIRST_ENV).env_remove(REPORT_ENV);
        }
        let started = cmd.stdin(Stdio::piped()).spawn();
        drop(copies);
        drop(passed);
        drop(writer);
        drop(snapshot);
        match started {
            Ok(mut c) => {
                *worker_in = c.stdin.take();
                if let Some(w) = worker_in.as_mut() {
                    // Never wait for a worker that does not read (see `to_worker`).
                    let nonblocking = nix::fcntl::fcntl(&*w, nix::fcntl::FcntlArg::F_GETFL)
                        .and_then(|fl| {
                            let fl = nix::fcntl::OFlag::from_bits_truncate(fl);
                            nix::fcntl::fcntl(
                                &*w,
                                nix::fcntl::FcntlArg::F_SETFL(fl | nix::fcntl::OFlag::O_NONBLOCK),
                            )
                        });
                    if let Err(e) = nonblocking {
                        warn!("worker stdin: O_NONBLOCK: {e}");
                    }
                    for line in resolved.values() {
                        to_worker(w, line.as_bytes());
                    }
                }
                info!("worker started [pid {}]", c.id());
                worker.last_pid = c.id();
                record_worker(&config.pid_file, c.id());
                worker.child = Some(c);
                worker.started = Instant::now();
                if let Some(old) = live.take() {
                    ev.deregister(old.raw());
                }
                ev.register(listener.raw(), LIVENESS, Interest::Read);
                *live = Some(listener);
                dog.spawned(worker.started);
                true
            }
            Err(e) => {
                error!("cannot start the worker: {e}");
                false
            }
        }
    };
    let start_acr = |acr: &mut Kid, acr_out: &mut Option<ChildStdout>, ev: &mut EventLoop| {
        let started = spawn.command("--acr").and_then(|(mut cmd, snapshot)| {
            let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).spawn();
            drop(snapshot);
            child
        });
        match started {
            Ok(mut c) => {
                if let Some(o) = c.stdout.take() {
                    ev.register(o.as_raw_fd(), ACR_OUT, Interest::Read);
                    *acr_out = Some(o);
                }
                acr.child = Some(c);
                acr.started = Instant::now();
            }
            Err(e) => {
                // No SIGCHLD will come: the retry is a timer.
                let wait = backoff(acr.failures);
                acr.failures += 1;
                error!("cannot start the ACR: {e}; retrying in {wait:?}");
                ev.set_timer_in(wait, RESTART_ACR);
            }
        }
    };

    hand_over_orphan(&config.pid_file);
    let first = start_worker(
        &mut worker,
        &mut worker_in,
        &mut held,
        &resolved,
        &mut report,
        &mut ev,
        &mut live,
        &mut dog,
    );
    if !first {
        // The starting process heard it (its report went with the failed command).
        error!("the first worker could not be started; stopping");
        phase = Phase::Stopping;
        code = ExitCode::from(1);
    } else if !super::acr::names(config).is_empty() {
        start_acr(&mut acr, &mut acr_out, &mut ev);
    }
    let mut watch = config.death_watch.map(DeathWatch::new);
    if let Some(w) = watch.as_mut() {
        w.start(&mut ev);
    }

    let mut events = Vec::new();
    loop {
        if phase == Phase::Stopping && worker.child.is_none() && acr.child.is_none() {
            break;
        }
        let wait = dog
            .deadline()
            .map(|d| d.saturating_duration_since(Instant::now()));
        if let Err(e) = ev.wait(&mut events, wait) {
            error!("event loop: {e}");
            return ExitCode::from(1);
        }
        for e in events.drain(..) {
            if let Some(w) = watch.as_mut() {
                match w.handle(&mut ev, &e) {
                    Outcome::NotMine => {}
                    Outcome::Nothing => continue,
                    Outcome::PeerGone => {
                        if let Some(wi) = worker_in.as_mut() {
                            to_worker(wi, b"peer-exited\n");
                        }
                        continue;
                    }
                }
            }
            match e {
                Event::Readable(LIVENESS) => {
                    match live.as_ref().map(Listener::drain) {
                        Some(Some(true)) => dog.beat(Instant::now()),
                        Some(Some(false)) | None => {}
                        Some(None) => {
                            // End of file: the worker is gone (its SIGCHLD tells the rest).
                            if let Some(l) = live.take() {
                                ev.deregister(l.raw());
                            }
                        }
                    }
                }
                Event::Readable(ACR_OUT) => {
                    let mut buf = [0u8; 4096];
                    let n = acr_out.as_mut().map(|o| o.read(&mut buf)).unwrap_or(Ok(0));
                    match n {
                        Ok(0) | Err(_) => {
                            if let Some(o) = acr_out.take() {
                                ev.deregister(o.as_raw_fd());
                            }
                        }
                        Ok(n) => {
                            acr_buf.extend_from_slice(&buf[..n]);
                            while let Some(pos) = acr_buf.iter().position(|b| *b == b'\n') {
                                let line: Vec<u8> = acr_buf.drain(..=pos).collect();
                                let line = String::from_utf8_lossy(&line).into_owned();
                                if let Some((name, _)) = super::acr::parse_line(&line) {
                                    if let Some(w) = worker_in.as_mut() {
                                        to_worker(w, line.as_bytes());
                                    }
                                    resolved.insert(name, line);
                                }
                            }
                        }
                    }
                }
                Event::Signal(libc::SIGCHLD) => {
                    for (kid, name) in [(&mut worker, "worker"), (&mut acr, "acr")] {
                        let done = kid.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                        if let Some(status) = done {
                            kid.child = None;
                            let ran = kid.started.elapsed();
                            if name == "worker" {
                                let killed = killed_for_silence.take().is_some();
                                if dog.exited(Instant::now(), status.success()) == Verdict::Release
                                {
                                    let why = if killed {
                                        "the worker killed for its silence is gone".to_string()
                                    } else {
                                        no_worker_alive(config.dead_interval)
                                    };
                                    if handed_over {
                                        info!("{why}; the addresses are the new instance's");
                                    } else {
                                        release_addresses(config, &why);
                                    }
                                }
                            }
                            if phase != Phase::Serving {
                                info!("{name} exited ({status})");
                                continue;
                            }
                            if name == "worker" && status.code() == Some(SETUP_FAILED) {
                                error!("the first worker could not set up; stopping");
                                phase = Phase::Stopping;
                                code = ExitCode::from(1);
                                continue;
                            }
                            if name == "worker" && !dog.ever_alive() {
                                // The start was told it failed: nothing may run on.
                                error!(
                                    "the first worker exited ({status}) before it was set up; stopping"
                                );
                                phase = Phase::Stopping;
                                code = ExitCode::from(1);
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
                            ev.set_timer_in(wait, token);
                        }
                    }
                    if phase != Phase::Serving && worker.child.is_none() {
                        phase = Phase::Stopping;
                        acr.signal(Signal::SIGTERM);
                    }
                }
                Event::Timer(RESTART_WORKER, _) if phase == Phase::Serving => {
                    let started = start_worker(
                        &mut worker,
                        &mut worker_in,
                        &mut held,
                        &resolved,
                        &mut report,
                        &mut ev,
                        &mut live,
                        &mut dog,
                    );
                    if !started {
                        // No SIGCHLD will come: the retry is a timer.
                        let wait = backoff(worker.failures);
                        worker.failures += 1;
                        warn!("retrying the worker in {wait:?}");
                        ev.set_timer_in(wait, RESTART_WORKER);
                    }
                }
                Event::Timer(RESTART_ACR, _) if phase == Phase::Serving => {
                    start_acr(&mut acr, &mut acr_out, &mut ev)
                }
                Event::Timer(STOP_DEADLINE, _) => {
                    warn!("children did not stop in time; killing them");
                    worker.signal(Signal::SIGKILL);
                    acr.signal(Signal::SIGKILL);
                }
                Event::Signal(libc::SIGTERM | libc::SIGINT | libc::SIGQUIT)
                    if phase != Phase::Stopping =>
                {
                    info!("stopping");
                    phase = Phase::Stopping;
                    worker.signal(Signal::SIGTERM);
                    acr.signal(Signal::SIGTERM);
                    ev.set_timer_in(Duration::from_secs(10), STOP_DEADLINE);
                }
                Event::Signal(libc::SIGHUP) if phase == Phase::Serving => {
                    // Hand-over: a new instance may start now; the worker keeps the role
                    // and addresses until the new worker kills it.
                    phase = Phase::HandedOver;
                    handed_over = true;
                    let mut text = format!("supervisor {}\n", std::process::id());
                    if let Some(pid) = worker.pid() {
                        text.push_str(&format!("worker {pid}\n"));
                    }
                    if let Some(pf) = pidfile.take() {
                        let path = handover_path(pf.path());
                        if let Err(e) = super::status_file::write_atomic(&path, text.as_bytes()) {
                            error!("{}: {e}", path.display());
                        }
                        pf.release_keep_file();
                    }
                    acr.signal(Signal::SIGTERM);
                    worker.signal(Signal::SIGHUP);
                    if let Some(w) = watch.as_mut() {
                        w.detach(&mut ev);
                    }
                    info!(
                        "SIGHUP: leaving the service to a new instance; the worker keeps its role"
                    );
                }
                Event::Signal(libc::SIGUSR1) => {
                    info!("log level {}", logging::raise());
                    worker.signal(Signal::SIGUSR1);
                    acr.signal(Signal::SIGUSR1);
                }
                Event::Signal(libc::SIGUSR2) => {
                    let l = logging::lower();
                    worker.signal(Signal::SIGUSR2);
                    acr.signal(Signal::SIGUSR2);
                    log::warn!("log level {l}");
                }
                Event::Signal(libc::SIGPWR) => {
                    for (kid, name) in [(&worker, "worker"), (&acr, "acr")] {
                        match kid.pid() {
                            Some(pid) => info!(
                                "status: {name} pid {pid}, up {}s, {} restart(s)",
                                kid.started.elapsed().as_secs(),
                                kid.restarts
                            ),
                            None => info!("status: {name} not running"),
                        }
                    }
                    worker.signal(Signal::SIGPWR);
                }
                _ => {}
            }
        }
        match dog.check(Instant::now()) {
            Verdict::Wait => {}
            Verdict::Kill { silent, setting_up } => {
                let pid = worker.pid().unwrap_or(0);
                let how = if setting_up {
                    "since its start (its set-up hangs)"
                } else {
                    "(hung or stopped)"
                };
                error!(
                    "the worker [pid {pid}] gave no sign of life for {} ms {how}, the peer's \
                     dead-interval is {} ms: killing it, its addresses are released once it is gone",
                    silent.as_millis(),
                    config.dead_interval.as_millis()
                );
                killed_for_silence = Some(pid);
                worker.signal(Signal::SIGKILL);
            }
            Verdict::Release if handed_over => {}
            Verdict::Release => {
                release_addresses(config, &no_worker_alive(config.dead_interval));
            }
        }
    }
    if !handed_over && !dog.released() {
        dog.did_release();
        release_addresses(
            config,
            "stopping without a worker that released the addresses",
        );
    }
    drop(pidfile);
    code
}

fn no_worker_alive(dead: Duration) -> String {
    format!(
        "no worker has been alive for the dead-interval ({} ms)",
        dead.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_restart_is_immediate_then_the_back_off_doubles_up_to_ten_seconds() {
        let ms = |n| backoff(n).as_millis();
        assert_eq!(
            (0..10).map(ms).collect::<Vec<_>>(),
            [0, 100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000]
        );
    }

    #[test]
    fn worker_pid_file_followed_a_symlink_planted_at_its_path() {
        use std::os::unix::fs::symlink;
        let dir = std::env::temp_dir().join(format!("pikeworker{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (pid_file, victim) = (dir.join("pikemon.pid"), dir.join("victim"));
        std::fs::write(&victim, "precious").unwrap();
        symlink(&victim, worker_path(&pid_file)).unwrap();
        record_worker(&pid_file, 4242);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        // The link itself is replaced by the file the next instance reads.
        let meta = std::fs::symlink_metadata(worker_path(&pid_file)).unwrap();
        assert!(meta.file_type().is_file(), "{meta:?}");
        assert_eq!(
            std::fs::read_to_string(worker_path(&pid_file)).unwrap(),
            "4242\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
