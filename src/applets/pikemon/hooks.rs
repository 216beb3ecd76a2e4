//! The notify hooks of the virtual clusters, run one at a time per virtual cluster in the
//! order of the transitions that asked for them (a slow `notify-master` followed by a drop
//! can no longer leave its work behind the `notify-backup` that undoes it).
//!
//! Each hook runs as `/bin/sh -c CMD pikemon VC ROLE REASON` — the command sees the virtual
//! cluster's name, the new role (`MASTER`, `BACKUP`, `FAULT`, `STOP`) and the reason as `$1`
//! `$2` `$3` (write `"$@"` in the command to pass them on), and in the environment as
//! `PIKEMON_VC`, `PIKEMON_VCID`, `PIKEMON_ROLE`, `PIKEMON_REASON` (keepalived's notify
//! scripts get instance, state and priority the same way). A hook still running after
//! `notify-timeout` is killed with its process group, logged, and the next one starts.

use std::collections::VecDeque;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Which hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    Master,
    Backup,
    Fault,
    Stop,
}

impl HookKind {
    /// The role word passed to the hook.
    pub fn word(self) -> &'static str {
        match self {
            HookKind::Master => "MASTER",
            HookKind::Backup => "BACKUP",
            HookKind::Fault => "FAULT",
            HookKind::Stop => "STOP",
        }
    }
}

/// One hook to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookJob {
    pub kind: HookKind,
    pub command: String,
    pub vc: String,
    pub vcid: u16,
    pub reason: String,
}

struct Running {
    child: Child,
    job: HookJob,
    deadline: Instant,
}

/// The queues of every virtual cluster.
pub struct Hooks {
    queues: Vec<VecDeque<HookJob>>,
    running: Vec<Option<Running>>,
    timeouts: Vec<Duration>,
}

impl Hooks {
    /// One queue per virtual cluster, each with its `notify-timeout`.
    pub fn new(timeouts: Vec<Duration>) -> Hooks {
        Hooks {
            queues: timeouts.iter().map(|_| VecDeque::new()).collect(),
            running: timeouts.iter().map(|_| None).collect(),
            timeouts,
        }
    }

    /// Queues `job` for virtual cluster `vc`; it starts at once when the queue was idle.
    pub fn push(&mut self, now: Instant, vc: usize, job: HookJob) {
        if let Some(q) = self.queues.get_mut(vc) {
            q.push_back(job);
        }
        self.tick(now);
    }

    /// Reaps finished hooks, kills the ones past their timeout, starts the next ones.
    pub fn tick(&mut self, now: Instant) {
        for vc in 0..self.queues.len() {
            self.reap(now, vc);
            while self.running[vc].is_none() {
                let Some(job) = self.queues[vc].pop_front() else {
                    break;
                };
                self.running[vc] = spawn(now, job, self.timeouts[vc]);
            }
        }
    }

    fn reap(&mut self, now: Instant, vc: usize) {
        let Some(r) = self.running[vc].as_mut() else {
            return;
        };
        let cmd = &r.job.command;
        match r.child.try_wait() {
            Ok(Some(st)) if st.success() => info!("notify '{cmd}' exited 0"),
            Ok(Some(st)) => warn!("notify '{cmd}' failed: {st}"),
            Ok(None) if now >= r.deadline => {
                warn!("notify '{cmd}' still running after its timeout: killed");
                if let Ok(pid) = i32::try_from(r.child.id()) {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = r.child.wait();
            }
            Ok(None) => return,
            Err(e) => error!("notify '{cmd}': {e}"),
        }
        self.running[vc] = None;
    }

    /// The next timeout to enforce.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.running.iter().flatten().map(|r| r.deadline).min()
    }

    /// Nothing running, nothing queued.
    pub fn idle(&self) -> bool {
        self.running.iter().all(Option::is_none) && self.queues.iter().all(VecDeque::is_empty)
    }
}

/// The ordered event stream of `notify-fifo`: one line per transition, `VC NAME ROLE
/// REASON`, written without blocking. Without a reader (or with a full pipe) the line is
/// dropped and counted; the FIFO is made (0600) when nothing is at the path. Anything but a
/// FIFO there (a regular file, a symlink) is never written to: refused, and logged once.
pub struct EventFifo {
    path: std::path::PathBuf,
    file: Option<std::fs::File>,
    /// The refusal already logged (logged again only after a good open).
    refused: bool,
    pub dropped: u64,
}

/// Why the notify-fifo could not be opened.
#[derive(Debug)]
pub enum FifoError {
    /// ENXIO: nobody reads the FIFO now (the line is simply dropped).
    NoReader,
    /// Something else than a FIFO is at the path; the text says what.
    NotAFifo(&'static str),
    Io(std::io::Error),
}

impl std::fmt::Display for FifoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FifoError::NoReader => f.write_str("no reader"),
            FifoError::NotAFifo(what) => {
                write!(f, "{what}, not a FIFO: refused, no event is written to it")
            }
            FifoError::Io(e) => e.fmt(f),
        }
    }
}

/// Opens the FIFO at `path` for writing: O_NONBLOCK (no reader is ENXIO, not a hang),
/// O_NOFOLLOW (a symlink is refused, not followed), and fstat must say S_ISFIFO (a regular
/// file, opened without O_TRUNC, would else be overwritten from offset 0).
pub fn open_fifo(path: &std::path::Path) -> Result<std::fs::File, FifoError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => FifoError::NoReader,
            Some(libc::ELOOP) => FifoError::NotAFifo("a symlink"),
            _ => FifoError::Io(e),
        })?;
    let kind = f.metadata().map_err(FifoError::Io)?.file_type();
    if kind.is_fifo() {
        Ok(f)
    } else if kind.is_file() {
        Err(FifoError::NotAFifo("a regular file"))
    } else {
        Err(FifoError::NotAFifo("neither a FIFO nor a regular file"))
    }
}

impl EventFifo {
    pub fn new(path: &std::path::Path) -> EventFifo {
        // symlink_metadata: a dangling symlink is something at the path too.
        if std::fs::symlink_metadata(path).is_err() {
            if let Err(e) =
                nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
            {
                warn!("notify-fifo {}: {e}", path.display());
            }
        }
        EventFifo {
            path: path.to_path_buf(),
            file: None,
            refused: false,
            dropped: 0,
        }
    }

    /// Writes the line of `job`'s transition.
    pub fn write(&mut self, job: &HookJob) {
        use std::io::Write;
        let line = format!("VC {} {} {}\n", job.vc, job.kind.word(), job.reason);
        if self.file.is_none() {
            match open_fifo(&self.path) {
                Ok(f) => {
                    self.file = Some(f);
                    self.refused = false;
                }
                Err(FifoError::NoReader) => {}
                Err(e) => {
                    if !self.refused {
                        error!("notify-fifo {}: {e}", self.path.display());
                        self.refused = true;
                    }
                }
            }
        }
        let written = self.file.as_mut().map(|f| f.write_all(line.as_bytes()));
        match written {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                // EPIPE: the reader went away; EAGAIN: it does not keep up.
                debug!("notify-fifo {}: {e}", self.path.display());
                if e.kind() != std::io::ErrorKind::WouldBlock {
                    self.file = None;
                }
                self.dropped += 1;
            }
            None => self.dropped += 1,
        }
    }
}

fn spawn(now: Instant, job: HookJob, timeout: Duration) -> Option<Running> {
    let vcid = job.vcid.to_string();
    let spawned = Command::new("/bin/sh")
        .args([
            "-c",
            &job.command,
            "pikemon",
            &job.vc,
            job.kind.word(),
            &job.reason,
        ])
        .env("PIKEMON_VC", &job.vc)
        .env("PIKEMON_VCID", &vcid)
        .env("PIKEMON_ROLE", job.kind.word())
        .env("PIKEMON_REASON", &job.reason)
        .stdin(Stdio::null())
        // Its own process group, so a timeout kills whatever the command started too.
        .process_group(0)
        .spawn();
    match spawned {
        Ok(child) => {
            debug!(
                "notify [{}] {}: {}",
                child.id(),
                job.kind.word(),
                job.command
            );
            Some(Running {
                child,
                job,
                deadline: now + timeout,
            })
        }
        Err(e) => {
            error!("notify {}: {e}", job.command);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(kind: HookKind, command: &str) -> HookJob {
        HookJob {
            kind,
            command: command.to_string(),
            vc: "LAN".into(),
            vcid: 1,
            reason: "peer said GOODBYE".into(),
        }
    }

    fn drain(h: &mut Hooks, limit: Duration) {
        let end = Instant::now() + limit;
        while !h.idle() {
            assert!(Instant::now() < end, "hooks still busy");
            std::thread::sleep(Duration::from_millis(5));
            h.tick(Instant::now());
        }
    }

    #[test]
    fn notify_fifo_overwrote_a_regular_file_or_followed_a_symlink() {
        use std::os::unix::fs::symlink;
        let dir = std::env::temp_dir().join(format!("pikefifo{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (file, link) = (dir.join("file"), dir.join("link"));
        std::fs::write(&file, "precious").unwrap();
        symlink(&file, &link).unwrap();
        for path in [&file, &link] {
            let mut fifo = EventFifo::new(path);
            fifo.write(&job(HookKind::Master, "true"));
            fifo.write(&job(HookKind::Backup, "true"));
            assert_eq!(fifo.dropped, 2, "{}", path.display());
            assert!(fifo.refused, "{}", path.display());
        }
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
        let msg = |p: &std::path::Path| match open_fifo(p) {
            Err(e) => e.to_string(),
            Ok(_) => "opened".into(),
        };
        assert_eq!(
            msg(&file),
            "a regular file, not a FIFO: refused, no event is written to it"
        );
        assert!(
            msg(&link).starts_with("a symlink, not a FIFO"),
            "{}",
            msg(&link)
        );
        // A real FIFO without a reader: dropped quietly, not refused.
        let real = dir.join("fifo");
        let mut fifo = EventFifo::new(&real);
        fifo.write(&job(HookKind::Master, "true"));
        assert!(matches!(open_fifo(&real), Err(FifoError::NoReader)));
        assert_eq!((fifo.dropped, fifo.refused), (1, false));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn hooks_run_one_at_a_time_in_transition_order_with_their_arguments() {
        let dir = std::env::temp_dir().join(format!("pkhooks{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("order");
        let o = out.display();
        let mut h = Hooks::new(vec![Duration::from_secs(5)]);
        let now = Instant::now();
        // A slow Master hook, then a fast Backup hook: the Backup one must wait.
        h.push(
            now,
            0,
            job(
                HookKind::Master,
                &format!("sleep 0.3; echo \"$2 $1 $PIKEMON_VCID\" >> {o}"),
            ),
        );
        h.push(
            now,
            0,
            job(
                HookKind::Backup,
                &format!("echo \"$PIKEMON_ROLE $3\" >> {o}"),
            ),
        );
        assert!(!h.idle());
        drain(&mut h, Duration::from_secs(5));
        let got = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, "MASTER LAN 1\nBACKUP peer said GOODBYE\n");
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed_and_the_next_one_runs() {
        let dir = std::env::temp_dir().join(format!("pkhookt{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let o = out.display();
        let mut h = Hooks::new(vec![Duration::from_millis(200)]);
        let start = Instant::now();
        h.push(start, 0, job(HookKind::Master, "sleep 30; sleep 30"));
        h.push(start, 0, job(HookKind::Stop, &format!("echo \"$2\" > {o}")));
        assert_eq!(h.next_deadline(), Some(start + Duration::from_millis(200)));
        drain(&mut h, Duration::from_secs(5));
        assert!(start.elapsed() < Duration::from_secs(5));
        let got = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, "STOP\n");
    }
}
