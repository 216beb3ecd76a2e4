//! Detaching from the terminal (double fork, setsid, stdio to /dev/null, chdir /), with the
//! starting process waiting until the daemon says it is ready, as an init script or a
//! Pacemaker agent expects of `start`: when it returns 0 the pid file names the daemon.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};

/// How long the starting process waits for `ready` before giving up (exit 1).
const READY_WAIT: Duration = Duration::from_secs(60);

/// Held by the daemon until it is ready; dropping it without `ready` (an error return, an
/// exit) makes the waiting process exit 1.
pub struct Detached {
    fd: OwnedFd,
}

/// The longest failure text passed to the waiting process.
const MAX_FAILURE: usize = 1024;

impl Detached {
    /// Tells the waiting process to exit 0.
    pub fn ready(self) {
        let _ = nix::unistd::write(&self.fd, b"R");
    }

    /// Tells the waiting process to print `why` (after its name) and exit 1.
    pub fn fail(self, why: &str) {
        let mut text = b"E".to_vec();
        text.extend(why.bytes().take(MAX_FAILURE));
        let _ = nix::unistd::write(&self.fd, &text);
    }

    /// Passes the duty to report to a child `cmd` will start: an inheritable copy, named in
    /// the environment variable `env` (read back with `from_env`). Drop what this returns once
    /// the child is started; this process then holds no copy.
    pub fn hand_to(self, cmd: &mut std::process::Command, env: &str) -> io::Result<OwnedFd> {
        // dup(2) leaves close-on-exec clear on the copy: the child inherits it.
        let copy = nix::unistd::dup(self.fd.as_fd())?;
        cmd.env(env, copy.as_raw_fd().to_string());
        Ok(copy)
    }

    /// The report duty a parent passed with `hand_to`, if any; `env` is removed so that
    /// this process's own children neither see it nor inherit the fd.
    pub fn from_env(env: &str) -> Option<Detached> {
        let text = std::env::var_os(env)?;
        std::env::remove_var(env);
        let raw: RawFd = text.to_str()?.parse().ok()?;
        super::adopt_inherited(raw).ok().map(|fd| Detached { fd })
    }
}

/// Detaches the process; returns in the grandchild only. The calling process waits until the
/// grandchild calls `Detached::ready` (exit 0) or exits or drops it first (exit 1, with a
/// line on stderr naming `name`).
pub fn daemonize(name: &str) -> io::Result<Detached> {
    // CLOEXEC: a worker the daemon spawns must not keep the starting process waiting.
    let (rd, wr) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    match daemonize::Daemonize::new()
        .working_directory("/")
        .umask(0o022)
        .execute()
    {
        daemonize::Outcome::Child(Ok(_)) => {
            drop(rd);
            Ok(Detached { fd: wr })
        }
        daemonize::Outcome::Child(Err(e)) => Err(io::Error::other(e.to_string())),
        daemonize::Outcome::Parent(Err(e)) => Err(io::Error::other(e.to_string())),
        daemonize::Outcome::Parent(Ok(p)) => {
            drop(wr);
            // The waiting process answers ^C and kill again: a daemon may hold its stop and
            // reload signals blocked until its loop catches them (ldirectord), and the mask
            // came with the fork.
            let _ = nix::sys::signal::pthread_sigmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&nix::sys::signal::SigSet::empty()),
                None,
            );
            if p.first_child_exit_code != 0 {
                std::process::exit(p.first_child_exit_code);
            }
            let code = match wait_ready(&rd) {
                Ok(Report::Ready) => 0,
                Ok(Report::Failed(why)) => {
                    eprintln!("{name}: {why}");
                    1
                }
                Ok(Report::Exited) => {
                    eprintln!("{name}: the daemon exited before it was ready (see its log)");
                    1
                }
                Err(e) => {
                    eprintln!("{name}: waiting for the daemon: {e}");
                    1
                }
            };
            std::process::exit(code)
        }
    }
}

/// What the daemon told the waiting process.
enum Report {
    Ready,
    Failed(String),
    /// End of file without a word.
    Exited,
}

/// `Ready` once an `R` arrives; `Failed` with the text after an `E` (read to end of file);
/// `Exited` on end of file first; an error after `READY_WAIT`.
fn wait_ready(rd: &OwnedFd) -> io::Result<Report> {
    let mut got = Vec::new();
    let until = Instant::now() + READY_WAIT;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("not ready after {} s", READY_WAIT.as_secs()),
            ));
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(rd.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        let mut b = [0u8; 512];
        match nix::unistd::read(rd, &mut b) {
            Ok(0) => {
                return Ok(match got.first() {
                    Some(b'E') => {
                        Report::Failed(String::from_utf8_lossy(&got[1..]).trim().to_string())
                    }
                    _ => Report::Exited,
                })
            }
            Ok(n) => {
                if got.is_empty() && b[0] == b'R' {
                    return Ok(Report::Ready);
                }
                if got.len() <= MAX_FAILURE {
                    got.extend_from_slice(&b[..n]);
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
