//! Pacemaker's attrd through `attrd_updater`, without blocking the daemon. `AttrdCall` is one
//! running call: the child's stderr is a non-blocking pipe in the event loop's poll set, its
//! end (EOF) is when the child is reaped, and a call still running at its deadline is killed.
//! `AttrdQueue` holds the changes attrd has not taken yet, one call in flight at a time (the
//! changes of one ring stay in order), a refused change offered again after `retry`.
//! Every attribute set is set again each `refresh`: attrd keeps transient attributes in
//! memory only, and a restart of Pacemaker (or of attrd alone) while ifcheckd runs lost them
//! until the next ring change. A refresh attrd refuses (Pacemaker is down) is dropped, not
//! retried each `retry`: the next one comes a `refresh` later.
//! `AttrdCall::wait` is the blocking form for the exit cleanup and `ifcheckd -s`, bounded by
//! poll(2) on the same pipes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::attributes;
use super::tracker::RingState;

/// A change of one ring's attribute: set it (state for the log, value) or delete it.
pub type Change = Option<(RingState, String)>;

struct Pending {
    change: Change,
    /// Offered once already (and refused): the next offer waits for the retry time.
    tried: bool,
    /// Sets again what attrd was given before (a refresh, not a change).
    refresh: bool,
}

/// What the running call sends.
struct Sent {
    ring: u32,
    change: Change,
    refresh: bool,
}

/// Attribute changes on their way to attrd.
pub struct AttrdQueue {
    tool: Option<PathBuf>,
    limit: Duration,
    retry: Duration,
    refresh: Duration,
    pending: BTreeMap<u32, Pending>,
    in_flight: Option<(Sent, AttrdCall)>,
    retry_at: Instant,
    /// What attrd should hold: the last value set of each ring not deleted since.
    current: BTreeMap<u32, (RingState, String)>,
    refresh_at: Instant,
    /// Rings whose last refresh attrd refused (their next accepted one is logged).
    refresh_refused: BTreeSet<u32>,
}

impl AttrdQueue {
    /// Changes go to `tool` (None: attrd_updater is not installed and changes are dropped).
    pub fn new(
        tool: Option<PathBuf>,
        limit: Duration,
        retry: Duration,
        refresh: Duration,
    ) -> AttrdQueue {
        let now = Instant::now();
        AttrdQueue {
            tool,
            limit,
            retry,
            refresh,
            pending: BTreeMap::new(),
            in_flight: None,
            retry_at: now,
            current: BTreeMap::new(),
            refresh_at: now + refresh,
            refresh_refused: BTreeSet::new(),
        }
    }

    /// Queues a change of `ring` (replacing one not yet sent) and starts a call if none runs.
    pub fn set(&mut self, now: Instant, ring: u32, change: Change) {
        if self.tool.is_none() {
            // The state file is the whole record: the change is made.
            if let Some((state, _)) = &change {
                log::info!("Interface link status changed [ring id={ring}, state={state}]");
            }
            return;
        }
        match &change {
            Some(set) => self.current.insert(ring, set.clone()),
            None => self.current.remove(&ring),
        };
        self.refresh_refused.remove(&ring);
        self.pending.insert(
            ring,
            Pending {
                change,
                tried: false,
                refresh: false,
            },
        );
        self.pump(now);
    }

    /// The running call's fd, for the poll set.
    pub fn fd(&self) -> Option<RawFd> {
        self.in_flight.as_ref().and_then(|(_, c)| c.fd())
    }

    /// When `progress` has to be called even without the fd becoming readable or a SIGCHLD:
    /// the running call's deadline, the next retry of refused changes, or the next refresh
    /// (when something is set). A call whose pipe
    /// closed before its process was reaped is reaped on SIGCHLD (looked at every 5 ms
    /// instead, it woke the loop 200 times a second for as long as the process lived).
    pub fn next_deadline(&self) -> Option<Instant> {
        if let Some((_, c)) = &self.in_flight {
            return Some(c.deadline());
        }
        let retry = (!self.pending.is_empty()).then_some(self.retry_at);
        let refresh = (!self.current.is_empty()).then_some(self.refresh_at);
        retry.into_iter().chain(refresh).min()
    }

    /// The fd was readable or a deadline passed: finishes the running call when it is over,
    /// then starts the next one that is due.
    pub fn progress(&mut self, now: Instant) {
        if let Some((sent, mut call)) = self.in_flight.take() {
            match call.progress(now) {
                None => {
                    self.in_flight = Some((sent, call));
                    return;
                }
                Some(result) => self.finished(now, sent, result),
            }
        }
        self.pump(now);
    }

    fn finished(&mut self, now: Instant, sent: Sent, result: Result<(), AttrdError>) {
        let Sent {
            ring,
            change: sent,
            refresh,
        } = sent;
        let name = attributes::name(ring);
        let current = self.pending.get_mut(&ring);
        match result {
            Ok(()) if refresh => {
                if let (true, Some((state, _))) = (self.refresh_refused.remove(&ring), &sent) {
                    log::info!(
                        "Interface link status published again [ring id={ring}, state={state}]"
                    );
                } else {
                    log::debug!("{name} set again");
                }
            }
            Err(e) if refresh => {
                // Dropped: the next refresh tries again (a change queued meanwhile stays).
                log::debug!("{name}: refresh refused: {e}");
                self.refresh_refused.insert(ring);
            }
            Ok(()) => {
                if let Some((state, _)) = &sent {
                    log::info!("Interface link status changed [ring id={ring}, state={state}]");
                }
                // A newer change that came in meanwhile stays queued.
                if current.is_some_and(|p| p.change == sent) {
                    self.pending.remove(&ring);
                }
            }
            Err(e) => {
                log::debug!("{name}: {e}");
                let Some(p) = current else { return };
                if p.change != sent {
                    return;
                }
                if !p.tried {
                    if let Some((state, _)) = &sent {
                        log::error!(
                            "Failed to change link status [ring id={ring}, expected state={state}]"
                        );
                    }
                }
                p.tried = true;
                self.retry_at = now + self.retry;
            }
        }
    }

    /// Starts the next call when none runs: a new change at once, a refused one at retry time.
    /// A due refresh queues every attribute set that has no change of its own on the way.
    fn pump(&mut self, now: Instant) {
        let Some(tool) = self.tool.clone() else {
            return;
        };
        if now >= self.refresh_at {
            self.refresh_at = now + self.refresh;
            let busy = self.in_flight.as_ref().map(|(s, _)| s.ring);
            for (ring, set) in &self.current {
                if busy != Some(*ring) && !self.pending.contains_key(ring) {
                    self.pending.insert(
                        *ring,
                        Pending {
                            change: Some(set.clone()),
                            tried: false,
                            refresh: true,
                        },
                    );
                }
            }
        }
        while self.in_flight.is_none() {
            let retry_due = now >= self.retry_at;
            let Some((&ring, p)) = self
                .pending
                .iter()
                .find(|(_, p)| !p.tried)
                .or_else(|| self.pending.iter().next().filter(|_| retry_due))
            else {
                return;
            };
            let sent = Sent {
                ring,
                change: p.change.clone(),
                refresh: p.refresh,
            };
            if sent.refresh {
                // Never offered twice: a refused refresh waits for the next one.
                self.pending.remove(&ring);
            }
            let name = attributes::name(ring);
            let args: Vec<&str> = match &sent.change {
                Some((_, value)) => vec!["-n", &name, "-U", value],
                None => vec!["-n", &name, "-D"],
            };
            match AttrdCall::start(&tool, &args, self.limit) {
                Ok(call) => self.in_flight = Some((sent, call)),
                Err(e) => self.finished(now, sent, Err(e)),
            }
        }
    }

    /// Exit: ends a running call and deletes `rings` (blocking, each call bounded).
    pub fn delete_all(&mut self, rings: &[u32]) {
        if let Some((_, mut call)) = self.in_flight.take() {
            call.kill();
        }
        self.pending.clear();
        self.current.clear();
        let Some(tool) = &self.tool else { return };
        for ring in rings {
            let name = attributes::name(*ring);
            if let Err(e) = AttrdCall::wait(tool, &["-n", &name, "-D"], self.limit) {
                log::debug!("Could not delete {name}: {e}");
            }
        }
    }
}

/// `attrd_updater` when installed.
pub fn attrd_updater() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join("attrd_updater"))
        .find(|p| p.is_file())
}

/// Why a call did not succeed.
#[derive(Debug)]
pub enum AttrdError {
    Spawn(String, io::Error),
    TimedOut(String),
    Failed(String, String),
}

impl std::fmt::Display for AttrdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttrdError::Spawn(tool, e) => write!(f, "{tool}: {e}"),
            AttrdError::TimedOut(tool) => write!(f, "{tool} timed out"),
            AttrdError::Failed(tool, why) => write!(f, "{tool} {why}"),
        }
    }
}

/// A started call.
pub struct AttrdCall {
    child: Child,
    /// stdout is read only by `wait` (`-Q` answers); the event loop's calls send it nowhere.
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    out: Vec<u8>,
    err: Vec<u8>,
    tool: String,
    deadline: Instant,
}

impl AttrdCall {
    /// Starts `tool args`; it has `limit` to finish.
    pub fn start(tool: &Path, args: &[&str], limit: Duration) -> Result<AttrdCall, AttrdError> {
        Self::spawn(tool, args, limit, false)
    }

    fn spawn(
        tool: &Path,
        args: &[&str],
        limit: Duration,
        with_stdout: bool,
    ) -> Result<AttrdCall, AttrdError> {
        let name = tool.display().to_string();
        let mut child = Command::new(tool)
            .args(args)
            .stdin(Stdio::null())
            .stdout(if with_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| AttrdError::Spawn(name.clone(), e))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        if let Some(e) = &stderr {
            set_nonblocking(e).map_err(|e| AttrdError::Spawn(name.clone(), e))?;
        }
        if let Some(o) = &stdout {
            set_nonblocking(o).map_err(|e| AttrdError::Spawn(name.clone(), e))?;
        }
        Ok(AttrdCall {
            child,
            stdout,
            stderr,
            out: Vec::new(),
            err: Vec::new(),
            tool: name,
            deadline: Instant::now() + limit,
        })
    }

    /// The fd to wait on (stderr; None once it reached EOF).
    pub fn fd(&self) -> Option<RawFd> {
        self.stderr.as_ref().map(|e| e.as_raw_fd())
    }

    /// When the call is killed if it has not ended.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Reads what is there and reaps the child once its pipes are closed; `Some` when the call
    /// is over. Past the deadline the child is killed.
    pub fn progress(&mut self, now: Instant) -> Option<Result<(), AttrdError>> {
        drain(&mut self.stderr, &mut self.err);
        drain(&mut self.stdout, &mut self.out);
        if self.stderr.is_none() && self.stdout.is_none() {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Some(Ok(())),
                Ok(Some(status)) => {
                    let why = format!("{status}: {}", String::from_utf8_lossy(&self.err).trim());
                    return Some(Err(AttrdError::Failed(self.tool.clone(), why)));
                }
                Ok(None) => {}
                Err(e) => return Some(Err(AttrdError::Failed(self.tool.clone(), e.to_string()))),
            }
        }
        if now >= self.deadline {
            self.kill();
            return Some(Err(AttrdError::TimedOut(self.tool.clone())));
        }
        None
    }

    /// Runs the call to its end, blocking at most until the deadline; returns its stdout.
    pub fn wait(tool: &Path, args: &[&str], limit: Duration) -> Result<String, AttrdError> {
        let mut call = Self::spawn(tool, args, limit, true)?;
        loop {
            if let Some(result) = call.progress(Instant::now()) {
                return result.map(|()| String::from_utf8_lossy(&call.out).into_owned());
            }
            let left = call.deadline.saturating_duration_since(Instant::now());
            let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX).max(1);
            let fds: Vec<_> = [call.stderr.as_ref().map(|e| e.as_fd())]
                .into_iter()
                .chain([call.stdout.as_ref().map(|o| o.as_fd())])
                .flatten()
                .collect();
            if fds.is_empty() {
                // Both pipes closed, the child not yet reaped: it is exiting.
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            let mut pfds: Vec<PollFd> = fds
                .into_iter()
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
                .collect();
            match poll(&mut pfds, PollTimeout::from(ms)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(AttrdError::Failed(call.tool.clone(), e.to_string())),
            }
        }
    }

    /// Ends a call that is still running (exit, timeout).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr = None;
        self.stdout = None;
    }
}

/// Reads a non-blocking pipe empty; drops it at EOF or on an error.
fn drain<R: Read>(pipe: &mut Option<R>, into: &mut Vec<u8>) {
    let Some(p) = pipe.as_mut() else {
        return;
    };
    let mut buf = [0u8; 4096];
    loop {
        match p.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                // attrd_updater says little; a runaway output is cut.
                if into.len() < 1 << 20 {
                    into.extend_from_slice(buf.get(..n).unwrap_or_default());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => break,
        }
    }
    *pipe = None;
}

fn set_nonblocking<F: AsFd>(f: &F) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(f, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    fcntl(
        f,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(io::Error::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_reaped_when_its_pipe_closes() {
        let sh = Path::new("/bin/sh");
        assert_eq!(
            AttrdCall::wait(sh, &["-c", "echo hi"], Duration::from_secs(5)).unwrap(),
            "hi\n"
        );
        let e = AttrdCall::wait(sh, &["-c", "echo no >&2; exit 3"], Duration::from_secs(5))
            .unwrap_err();
        assert!(e.to_string().contains("no"), "{e}");
    }

    /// Runs `queue` until no call is in flight.
    fn settle(queue: &mut AttrdQueue) {
        let end = Instant::now() + Duration::from_secs(5);
        while queue.in_flight.is_some() {
            assert!(Instant::now() < end, "call did not end");
            std::thread::sleep(Duration::from_millis(5));
            queue.progress(Instant::now());
        }
    }

    #[test]
    fn every_attribute_is_set_again_each_refresh_and_a_refused_refresh_is_not_retried() {
        let dir = std::env::temp_dir().join(format!("hbx-ifc-refresh-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (tool, calls, down) = (dir.join("tool"), dir.join("calls"), dir.join("down"));
        std::fs::write(
            &tool,
            format!(
                "#!/bin/sh\n[ -e {} ] && exit 1\necho \"$*\" >> {}\n",
                down.display(),
                calls.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (retry, refresh) = (Duration::from_secs(1), Duration::from_secs(10));
        let mut q = AttrdQueue::new(Some(tool), Duration::from_secs(5), retry, refresh);
        let t0 = Instant::now();
        q.set(t0, 0, Some((RingState::Up, "198.51.100.1 is UP".into())));
        settle(&mut q);
        assert_eq!(q.next_deadline(), Some(q.refresh_at));
        let at = q.refresh_at;
        q.progress(at);
        settle(&mut q);
        let c = std::fs::read_to_string(&calls).unwrap();
        assert_eq!(
            c.matches("-n ringnumber_0 -U 198.51.100.1 is UP").count(),
            2,
            "{c}"
        );
        // attrd down: the refresh is refused, and the next offer is the next refresh.
        std::fs::write(&down, "").unwrap();
        let at = q.refresh_at;
        q.progress(at);
        settle(&mut q);
        assert!(q.pending.is_empty());
        assert!(q.next_deadline().is_some_and(|d| d >= at + refresh));
        // A deleted attribute is not set again.
        std::fs::remove_file(&down).unwrap();
        q.set(Instant::now(), 0, None);
        settle(&mut q);
        assert_eq!(q.next_deadline(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_hung_call_is_killed_at_its_deadline() {
        let t = Instant::now();
        let e = AttrdCall::wait(
            Path::new("/bin/sh"),
            &["-c", "exec sleep 10"],
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(matches!(e, AttrdError::TimedOut(_)), "{e}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }
}
