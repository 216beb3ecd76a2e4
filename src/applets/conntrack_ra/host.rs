//! The agent's dealings with the rest of the host: finding programs, running them with a
//! deadline, finding the conntrackd process of a config, the promotion score and the node name.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Takes an exclusive `flock` on the config file, the one thing every agent acting on the same
/// conntrackd shares, waiting for another holder until `deadline`. A config that cannot be
/// opened or is not a regular file is not locked (`Ok(None)`): the action reports it itself.
/// Opened non-blocking (a FIFO must not hang the agent) and close-on-exec (the conntrackd that
/// start runs must not inherit the lock).
pub fn exclusive(config: &Path, deadline: Instant) -> io::Result<Option<Flock<File>>> {
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(config)
    else {
        return Ok(None);
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let mut file = file;
    let mut said = false;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(Some(lock)),
            Err((f, Errno::EWOULDBLOCK)) => file = f,
            Err((_, e)) => return Err(e.into()),
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "timed out waiting for it",
            ));
        }
        if !said {
            log::info!(
                "waiting for another conntrack-ra action on {}",
                config.display()
            );
            said = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Finds `prog` as a shell would: a name with `/` is taken as is, others are searched in PATH
/// (then `extra` directories, e.g. HA_SBIN_DIR). Only executable regular files count.
pub fn which(prog: &str, extra: &[&Path]) -> Option<PathBuf> {
    let executable = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if prog.is_empty() {
        return None;
    }
    if prog.contains('/') {
        let p = PathBuf::from(prog);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .chain(extra.iter().map(|p| p.to_path_buf()))
        .map(|dir| dir.join(prog))
        .find(|p| executable(p))
}

/// Why `which(prog)` found nothing, for the operator: a path names a directory, a file without
/// an execute bit or something else than a file; a name is not found in PATH.
pub fn not_runnable(prog: &str) -> &'static str {
    if !prog.contains('/') {
        return "not found";
    }
    match Path::new(prog).metadata() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => "not found",
        Err(_) => "cannot be examined",
        Ok(m) if m.is_dir() => "is a directory, not an executable file",
        Ok(m) if !m.is_file() => "is not a regular file",
        Ok(m) if m.permissions().mode() & 0o111 == 0 => "is not executable (no execute permission)",
        Ok(_) => "not found",
    }
}

/// What a bounded run produced.
pub struct Finished {
    pub status: ExitStatus,
    /// stdout (its first 4 KiB, trimmed).
    pub stdout: String,
    /// stderr, for exit reasons.
    pub stderr: String,
}

/// Runs `cmd` (stdin from /dev/null) until it exits or `deadline` passes. stdout and stderr go
/// to temporary files, not pipes: a daemon that forks keeps the write end of a pipe open, and
/// reading it would wait for the daemon's death. The command runs in its own process group:
/// on timeout the whole group (an operator's wrapper script and whatever it started) is ended
/// and reaped by `end_group`, not only the process the agent started. What left the group
/// (`setsid`, `setpgid`) is beyond reach. A command that exits in time may leave processes
/// in its group running (`conntrackd -d` forks its daemon): those are left alone.
pub fn run_bounded(mut cmd: Command, deadline: Instant) -> io::Result<Finished> {
    use std::os::unix::process::CommandExt;
    let errfile = tempfile()?;
    let outfile = tempfile()?;
    cmd.stdin(Stdio::null())
        .stdout(outfile.try_clone()?)
        .stderr(errfile.try_clone()?)
        .process_group(0);
    let mut child = cmd.spawn()?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let how = end_group(&mut child);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("did not finish in time: {how}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = read_back(errfile);
    let stdout = read_back(outfile);
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

/// How long a timed-out command's process group has between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_millis(500);
/// How long SIGKILL is given to end the group (a process in uninterruptible sleep outlives it).
const KILL_WAIT: Duration = Duration::from_millis(500);

/// Ends the process group `child` leads: SIGTERM, up to `GRACE` for it to go, then SIGKILL;
/// reaps `child` and the members re-parented to the agent. Says what it took. At most
/// `GRACE + KILL_WAIT` and a few ms: the action still ends before Pacemaker's timeout, which
/// is a quarter of it away.
fn end_group(child: &mut std::process::Child) -> String {
    use nix::sys::signal::{killpg, Signal};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::Pid;
    let Ok(pgid) = i32::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return "killed".to_string();
    };
    // Members whose parent dies from now on come to the agent (not to init) and are reaped
    // below: nothing of the group is left, not even a zombie.
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        log::debug!("PR_SET_CHILD_SUBREAPER: {e}");
    }
    // The leader is reaped last: until then its pid, the group's id, cannot be given to
    // another process, and the signals reach this group only.
    let group = Pid::from_raw(pgid);
    let ended = |limit: Duration| {
        let end = Instant::now() + limit;
        loop {
            let left = crate::sys::procfs::group_alive(pgid);
            if left.is_empty() || Instant::now() >= end {
                return left;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let _ = killpg(group, Signal::SIGTERM);
    let mut how = "its process group was ended with SIGTERM".to_string();
    if !ended(GRACE).is_empty() {
        let _ = killpg(group, Signal::SIGKILL);
        how = format!(
            "its process group was ended with SIGTERM, then SIGKILL after {} ms",
            GRACE.as_millis()
        );
        let left = ended(KILL_WAIT);
        if !left.is_empty() {
            how = format!("its process group got SIGTERM, then SIGKILL, and {left:?} still run");
        }
    }
    let _ = child.wait();
    // The zombies of members re-parented here.
    let end = Instant::now() + Duration::from_millis(100);
    loop {
        match waitpid(Pid::from_raw(-pgid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(_) => {}
        }
    }
    log::debug!("timed out: {how}");
    how
}

fn tempfile() -> io::Result<std::fs::File> {
    // An unlinked file in the temp dir: nothing to clean up, nothing left behind.
    let dir = std::env::temp_dir();
    for n in 0..100u32 {
        let path = dir.join(format!(".conntrack-ra.{}.{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                let _ = std::fs::remove_file(&path);
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no temporary file"))
}

fn read_back(mut f: std::fs::File) -> String {
    use std::io::{Read, Seek};
    let mut s = String::new();
    let _ = f.rewind();
    let _ = f.take(4096).read_to_string(&mut s);
    s.trim().to_string()
}

/// The network and mount namespaces of a process: (device, inode) of `/proc/PID/ns/net` and
/// `/proc/PID/ns/mnt` (namespaces(7): two processes share a namespace when these are equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespaces {
    net: (u64, u64),
    mnt: (u64, u64),
}

impl Namespaces {
    /// `proc` is `self` or a pid; `None` when the process is gone or not ours to inspect.
    pub fn of(proc: &str) -> Option<Namespaces> {
        use std::os::unix::fs::MetadataExt;
        let id = |ns: &str| {
            std::fs::metadata(format!("/proc/{proc}/ns/{ns}"))
                .ok()
                .map(|m| (m.dev(), m.ino()))
        };
        Some(Namespaces {
            net: id("net")?,
            mnt: id("mnt")?,
        })
    }
}

/// Pids of processes running `conntrackd ... -C CONFIG ...` (found through /proc/PID/cmdline)
/// in our own network and mount namespaces, the fallback when the control socket cannot stop
/// a daemon. Another namespace or container may run its own conntrackd with the same config
/// path: that one is not ours, and it is never counted (nor signalled).
pub fn daemon_pids(config: &Path) -> Vec<i32> {
    let Some(mine) = Namespaces::of("self") else {
        log::warn!("cannot read /proc/self/ns: no conntrackd process counts as ours");
        return Vec::new();
    };
    let me = std::process::id() as i32;
    crate::sys::procfs::pids()
        .filter(|&pid| pid != me)
        .filter(|&pid| cmdline_runs(&crate::sys::procfs::cmdline(pid), config))
        .filter(|&pid| {
            let ours = Namespaces::of(&pid.to_string()) == Some(mine);
            if !ours {
                log::debug!("conntrackd {pid} runs with the same config in another namespace");
            }
            ours
        })
        .collect()
}

/// conntrackd's compiled-in configuration file, read when it runs without `-C`.
const DEFAULT_CONFIG: &[u8] = b"/etc/conntrackd/conntrackd.conf";

/// Whether a NUL-separated command line is a conntrackd daemon for `config`: conntrackd with
/// `-C CONFIG` (or none, for the default config) and otherwise only `-d`. Daemon mode is
/// `-d`, or no client request at all: Debian's conntrackd.service runs
/// `conntrackd -C /etc/conntrackd/conntrackd.conf` in the foreground. Any other argument is a
/// client request (`-s`, `-k`, `-c`, ...: conntrackd -h), a short-lived client of the daemon.
pub fn cmdline_runs(cmdline: &[u8], config: &Path) -> bool {
    let mut args = cmdline.split(|&b| b == 0);
    let Some(prog) = args.next() else {
        return false;
    };
    let is_conntrackd = prog
        .rsplit(|&b| b == b'/')
        .next()
        .is_some_and(|name| name.starts_with(b"conntrackd"));
    if !is_conntrackd {
        return false;
    }
    // The command line ends in a NUL: the last piece is empty.
    let mut args = args.filter(|a| !a.is_empty());
    let mut cfg_given = None;
    while let Some(a) = args.next() {
        match a {
            b"-d" => {}
            b"-C" => match args.next() {
                Some(c) => cfg_given = Some(c),
                None => return false,
            },
            _ => return false,
        }
    }
    cfg_given.unwrap_or(DEFAULT_CONFIG) == config.as_os_str().as_encoded_bytes()
}

pub use crate::sys::procfs::alive;

/// Sends `sig` to `pid`, ignoring a process that is already gone.
pub fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

/// The local node's name for comparisons with notify lists: `CRM_meta_on_node`, else
/// `crm_node -n`, else the kernel's node name.
pub fn node_name(on_node: Option<String>, deadline: Instant) -> String {
    if let Some(n) = on_node.filter(|n| !n.trim().is_empty()) {
        return n.trim().to_string();
    }
    // Bounded: crm_node asks the controller, and a hung cluster must not hang the agent.
    if let Some(crm_node) = which("crm_node", &[]) {
        let mut cmd = Command::new(crm_node);
        cmd.arg("-n");
        let until = deadline.min(Instant::now() + Duration::from_secs(5));
        match run_bounded(cmd, until) {
            Ok(out) if out.status.success() && !out.stdout.is_empty() => return out.stdout,
            Ok(_) => {}
            Err(e) => log::warn!("crm_node -n: {e}: using the host name"),
        }
    }
    nix::sys::utsname::uname()
        .map(|u| u.nodename().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Sets (`Some`) or deletes (`None`) this node's promotion score for the resource, with
/// `crm_attribute --promotion` (Pacemaker feature set ≥ 3.10.0 or unknown) or the older
/// `crm_master -l reboot`. Without those tools (no Pacemaker, e.g. called from pikemon's notify
/// hooks) or when they fail, the score is logged and left alone: that is not an error.
pub fn promotion_score(
    score: Option<u32>,
    feature_set: Option<&str>,
    sbin: &Path,
    deadline: Instant,
) {
    let modern = feature_set
        .map(|f| version_at_least(f, &[3, 10, 0]))
        .unwrap_or(true);
    let order: [&str; 2] = if modern {
        ["crm_attribute", "crm_master"]
    } else {
        ["crm_master", "crm_attribute"]
    };
    let Some((tool, path)) = order
        .iter()
        .find_map(|t| which(t, &[sbin]).map(|p| (*t, p)))
    else {
        log::info!(
            "promotion score {} not recorded: neither crm_attribute nor crm_master is installed",
            describe(score)
        );
        return;
    };
    let mut cmd = Command::new(&path);
    if tool == "crm_attribute" {
        cmd.arg("--promotion");
    } else {
        cmd.args(["-l", "reboot"]);
    }
    cmd.arg("-q");
    match score {
        Some(v) => cmd.args(["-v", &v.to_string()]),
        None => cmd.arg("-D"),
    };
    match run_bounded(cmd, deadline) {
        Ok(f) if f.status.success() => log::debug!("promotion score {} set", describe(score)),
        // CRM_EX_NOT_CONNECTED: Pacemaker's tools are installed but no cluster runs here
        // (called by hand, or from pikemon's hooks): nothing to record, nothing to warn about.
        Ok(f) if f.status.code() == Some(CRM_EX_NOT_CONNECTED) => log::debug!(
            "{tool}: promotion score {} not recorded: no cluster is running here",
            describe(score)
        ),
        Ok(f) => log::warn!(
            "{tool}: promotion score {} not set ({}): {}",
            describe(score),
            f.status,
            f.stderr
        ),
        Err(e) => log::warn!("{tool}: promotion score {} not set: {e}", describe(score)),
    }
}

/// Pacemaker's exit status for "could not connect to the cluster" (crm_exit_t).
const CRM_EX_NOT_CONNECTED: i32 = 102;

fn describe(score: Option<u32>) -> String {
    score.map_or_else(|| "(delete)".to_string(), |v| v.to_string())
}

/// `3.19.0` ≥ `[3, 10, 0]`, comparing numerically part by part (missing parts are 0).
pub fn version_at_least(v: &str, min: &[u32]) -> bool {
    let parts: Vec<u32> = v
        .trim()
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    for (i, m) in min.iter().enumerate() {
        let p = parts.get(i).copied().unwrap_or(0);
        if p != *m {
            return p > *m;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_set_comparison() {
        assert!(version_at_least("3.10.0", &[3, 10, 0]));
        assert!(version_at_least("3.19.6", &[3, 10, 0]));
        assert!(version_at_least("4.0", &[3, 10, 0]));
        assert!(!version_at_least("3.9.9", &[3, 10, 0]));
        assert!(!version_at_least("3.2", &[3, 10, 0]));
        assert!(!version_at_least("garbage", &[3, 10, 0]));
    }

    #[test]
    fn cmdline_match_needs_program_config_and_daemon_mode() {
        let cfg = Path::new("/run/t/ct.conf");
        assert!(cmdline_runs(
            b"/usr/sbin/conntrackd\0-C\0/run/t/ct.conf\0-d\0",
            cfg
        ));
        assert!(cmdline_runs(b"conntrackd\0-d\0-C\0/run/t/ct.conf\0", cfg));
        // In the foreground (Debian's conntrackd.service): a daemon too.
        assert!(cmdline_runs(
            b"/usr/sbin/conntrackd\0-C\0/run/t/ct.conf\0",
            cfg
        ));
        assert!(cmdline_runs(
            b"conntrackd\0",
            Path::new("/etc/conntrackd/conntrackd.conf")
        ));
        assert!(!cmdline_runs(b"conntrackd\0", cfg));
        assert!(!cmdline_runs(b"conntrackd\0-C\0/run/t/ct.conf\0-s\0", cfg));
        assert!(!cmdline_runs(b"conntrackd\0-C\0/run/t/ct.conf\0-k\0", cfg));
        assert!(!cmdline_runs(b"conntrackd\0-C\0", cfg));
        assert!(!cmdline_runs(
            b"conntrackd\0-C\0/run/t/other.conf\0-d\0",
            cfg
        ));
        assert!(!cmdline_runs(b"vi\0-C\0/run/t/ct.conf\0-d\0", cfg));
        assert!(!cmdline_runs(b"", cfg));
    }

    #[test]
    fn namespaces_of_self_match_our_pid_and_not_a_missing_process() {
        let mine = Namespaces::of("self");
        assert!(mine.is_some());
        assert_eq!(Namespaces::of(&std::process::id().to_string()), mine);
        assert_eq!(Namespaces::of("0"), None);
    }

    #[test]
    fn which_finds_sh_and_rejects_missing() {
        assert!(which("sh", &[]).is_some());
        assert!(which("/nonexistent/conntrackd", &[]).is_none());
        assert!(which("", &[]).is_none());
    }

    #[test]
    fn not_runnable_says_what_the_path_is() {
        assert_eq!(
            not_runnable("/tmp"),
            "is a directory, not an executable file"
        );
        assert_eq!(not_runnable("/dev/null"), "is not a regular file");
        assert_eq!(not_runnable("/nonexistent/conntrackd"), "not found");
        assert_eq!(not_runnable("no-such-conntrackd"), "not found");
    }

    /// A group that ignores SIGTERM (the ignored disposition is inherited by what sh starts):
    /// SIGKILL after the grace, and the background job, re-parented to this process, reaped.
    #[test]
    fn a_timed_out_group_that_ignores_sigterm_is_killed_and_reaped() {
        let file = std::env::temp_dir().join(format!("ct-ra-group.{}", std::process::id()));
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(format!(
            "trap '' TERM; sleep 30 & echo $! > {}; sleep 30",
            file.display()
        ));
        let start = Instant::now();
        let e = run_bounded(cmd, start + Duration::from_millis(300)).err();
        let took = start.elapsed();
        let bg: i32 = std::fs::read_to_string(&file)
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0);
        let _ = std::fs::remove_file(&file);
        let e = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("SIGTERM, then SIGKILL after 500 ms"), "{e}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(bg > 0);
        assert_eq!(crate::sys::procfs::state(bg), None, "sleep {bg} is left");
    }

    #[test]
    fn bounded_run_reports_status_and_stderr() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo oops >&2; exit 3"]);
        let f = run_bounded(cmd, Instant::now() + Duration::from_secs(5)).unwrap();
        assert_eq!(f.status.code(), Some(3));
        assert_eq!(f.stderr, "oops");
        let mut cmd = Command::new("sleep");
        cmd.arg("5");
        let start = Instant::now();
        let r = run_bounded(cmd, start + Duration::from_millis(100));
        assert!(r.is_err());
        assert!(start.elapsed() < Duration::from_secs(3));
    }
}
