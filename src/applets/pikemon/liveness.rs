//! The worker's sign of life to its supervisor (see `watchdog`): a pipe per worker, the write
//! end inherited like its packet sockets and named in `LIVENESS_ENV`. Both ends are
//! non-blocking: a worker never waits for a supervisor that does not read, and a byte that
//! does not fit is not needed (the pipe is full of fresher ones).

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;

/// Names the write end's fd in the worker's environment.
pub const LIVENESS_ENV: &str = "PIKEMON_LIVENESS";

/// The supervisor's read end for one worker.
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// A new pipe; the write end's inheritable copy goes to `cmd` (drop what this returns
    /// with the `Listener` once the worker is started: the supervisor then holds no writer,
    /// and a dead worker's end of file comes with its exit).
    pub fn for_worker(cmd: &mut std::process::Command) -> io::Result<(Listener, OwnedFd)> {
        let (rd, wr) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        // dup(2) leaves close-on-exec clear on the copy: the worker inherits it.
        let copy = nix::unistd::dup(wr.as_fd())?;
        drop(wr);
        cmd.env(LIVENESS_ENV, copy.as_raw_fd().to_string());
        Ok((Listener { fd: rd }, copy))
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads what is there: `Some(true)` bytes came, `Some(false)` nothing new, `None` end
    /// of file (the worker and every copy of its end are gone).
    pub fn drain(&self) -> Option<bool> {
        let mut got = false;
        let mut buf = [0u8; 256];
        loop {
            match nix::unistd::read(&self.fd, &mut buf) {
                Ok(0) => return if got { Some(true) } else { None },
                Ok(_) => got = true,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return Some(got),
            }
        }
    }
}

/// The worker's write end.
pub struct Beacon {
    fd: OwnedFd,
    last: Option<Instant>,
    every: Duration,
}

impl Beacon {
    /// The end the supervisor passed, if any; writes at most once per `every`.
    pub fn from_env(every: Duration) -> Option<Beacon> {
        let text = std::env::var_os(LIVENESS_ENV)?;
        std::env::remove_var(LIVENESS_ENV);
        let raw: RawFd = text.to_str()?.parse().ok()?;
        let fd = crate::sys::adopt_inherited(raw).ok()?;
        Some(Beacon {
            fd,
            last: None,
            every,
        })
    }

    /// When the next byte is due (the loop must wake for it even with nothing else to do).
    pub fn due(&self) -> Option<Instant> {
        self.last.map(|t| t + self.every)
    }

    /// One byte, unless one went out less than `every` ago. Never blocks.
    pub fn beat(&mut self, now: Instant) {
        if self.last.is_some_and(|t| now < t + self.every) {
            return;
        }
        self.last = Some(now);
        match nix::unistd::write(&self.fd, b".") {
            Ok(_) | Err(nix::errno::Errno::EAGAIN) => {}
            Err(e) => log::debug!("liveness pipe: {e}"),
        }
    }
}
