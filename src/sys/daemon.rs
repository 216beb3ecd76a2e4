//! Detaching from the terminal (double fork, setsid, stdio to /dev/null, chdir /), with the
//! starting process waiting until the daemon says it is ready, as an init script or a
//! Pacemaker agent expects of `start`: when it returns 0 the pid file names the daemon.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
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

impl Detached {
    /// Tells the waiting process to exit 0.
    pub fn ready(self) {
        let _ = nix::unistd::write(&self.fd, b"R");
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
            if p.first_child_exit_code != 0 {
                std::process::exit(p.first_child_exit_code);
            }
            let code = match wait_ready(&rd) {
                Ok(true) => 0,
                Ok(false) => {
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

/// True once a byte arrives, false on end of file; an error after `READY_WAIT`.
fn wait_ready(rd: &OwnedFd) -> io::Result<bool> {
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
        let mut b = [0u8; 1];
        match nix::unistd::read(rd, &mut b) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
