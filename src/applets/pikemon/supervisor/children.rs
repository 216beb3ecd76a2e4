//! The supervisor's children: how they are started (the worker with its held sockets, its
//! liveness pipe and the ACR's resolutions; the ACR with its output pipe), what they inherit
//! and the back-off between restarts.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use log::{error, info, warn};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::handover::record_worker;
use super::{Supervisor, ACR_OUT, LIVENESS, RESTART_ACR};
use crate::applets::pikemon::liveness::Listener;
use crate::applets::pikemon::worker::{FIRST_ENV, REPORT_ENV};
use crate::event::Interest;

/// Back-off before restarting a child: none the first time, then doubling from 100 ms to
/// 10 s; a child that ran for a minute starts over.
pub(super) fn backoff(failures: u32) -> Duration {
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
pub(super) fn keep_strays_from_children() {
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
pub(super) fn to_worker(w: &mut ChildStdin, line: &[u8]) {
    match w.write(line) {
        Ok(n) if n == line.len() => {}
        Ok(_) => warn!("worker stdin: a line was cut short"),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            log::debug!("worker stdin full (the worker does not read): a line dropped")
        }
        Err(e) => log::debug!("worker stdin: {e}"),
    }
}

pub(super) struct Kid {
    pub(super) child: Option<Child>,
    /// The pid of the last one started.
    pub(super) last_pid: u32,
    pub(super) started: Instant,
    pub(super) failures: u32,
    pub(super) restarts: u32,
}

impl Kid {
    pub(super) fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }
    pub(super) fn signal(&self, sig: Signal) {
        if let Some(pid) = self.pid() {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }
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
        let copy = crate::applets::pikemon::started::hand_to(&self.started, &mut c)?;
        Ok((c, copy))
    }
}

impl Supervisor<'_> {
    /// Whether the worker was started; one that was not is retried with back-off by the caller.
    pub(super) fn start_worker(&mut self) -> bool {
        self.held.refresh(self.config);
        let (mut cmd, snapshot) = match self.spawn.command("--worker") {
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
        let copies = self.held.hand_to(&mut cmd);
        let mut passed = None;
        if self.worker.last_pid == 0 {
            cmd.env(FIRST_ENV, "1");
            if let Some(r) = self.report.take() {
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
                self.worker_in = c.stdin.take();
                if let Some(w) = self.worker_in.as_mut() {
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
                    for line in self.resolved.values() {
                        to_worker(w, line.as_bytes());
                    }
                }
                info!("worker started [pid {}]", c.id());
                self.worker.last_pid = c.id();
                record_worker(&self.config.pid_file, c.id());
                self.worker.child = Some(c);
                self.worker.started = Instant::now();
                if let Some(old) = self.live.take() {
                    self.ev.deregister(old.raw());
                }
                self.ev.register(listener.raw(), LIVENESS, Interest::Read);
                self.live = Some(listener);
                self.dog.spawned(self.worker.started);
                true
            }
            Err(e) => {
                error!("cannot start the worker: {e}");
                false
            }
        }
    }

    pub(super) fn start_acr(&mut self) {
        let started = self.spawn.command("--acr").and_then(|(mut cmd, snapshot)| {
            // The ACR serves this supervisor alone: killed with it (SIGKILL, the OOM killer),
            // it re-resolved for nobody beside the next instance's. Unlike the worker, it
            // holds no role to hand over.
            crate::sys::parent_death::end_with_parent(&mut cmd);
            let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).spawn();
            drop(snapshot);
            child
        });
        match started {
            Ok(mut c) => {
                if let Some(o) = c.stdout.take() {
                    self.ev.register(o.as_raw_fd(), ACR_OUT, Interest::Read);
                    self.acr_out = Some(o);
                }
                self.acr.child = Some(c);
                self.acr.started = Instant::now();
            }
            Err(e) => {
                // No SIGCHLD will come: the retry is a timer.
                let wait = backoff(self.acr.failures);
                self.acr.failures += 1;
                error!("cannot start the ACR: {e}; retrying in {wait:?}");
                self.ev.set_timer_in(wait, RESTART_ACR);
            }
        }
    }
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
}
