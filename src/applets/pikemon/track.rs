//! The tracked witnesses of a virtual cluster at run time (`config::Track`): a process that
//! must run, a file that must say 0, a script that must exit 0 in time. Checked every
//! `interval` without blocking the loop (a script runs as a child in its own process group,
//! reaped from the loop, its group killed at its timeout or when it ends); `fall` failures
//! in a row make it Down, `rise` successes Up. It starts Up, like a ping-group host, so a
//! restarted worker does not give its role away before the first check.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::config::{Track, TrackKind};

/// One witness's state.
pub struct TrackState {
    pub track: Track,
    pub up: bool,
    hits: u32,
    misses: u32,
    next: Instant,
    /// A script under way and when it times out.
    running: Option<(Child, Instant)>,
}

impl TrackState {
    pub fn new(track: Track, now: Instant) -> TrackState {
        TrackState {
            track,
            up: true,
            hits: 0,
            misses: 0,
            next: now,
            running: None,
        }
    }

    /// The next moment `on_timer` has something to do.
    pub fn next_deadline(&self) -> Instant {
        match &self.running {
            Some((_, deadline)) => (*deadline).min(self.next),
            None => self.next,
        }
    }

    /// Checks when due (and reaps a script); returns true when `up` changed.
    pub fn on_timer(&mut self, now: Instant) -> bool {
        if let Some((child, deadline)) = self.running.as_mut() {
            let pid = i32::try_from(child.id()).map(Pid::from_raw).ok();
            // Has the script ended? Looked at without reaping it: until it is reaped its
            // pid — its process group's id — cannot be reused, so the group is killed safely.
            let ended = pid.is_none_or(|p| {
                let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
                !matches!(waitid(Id::Pid(p), flags), Ok(WaitStatus::StillAlive))
            });
            if !ended && now < *deadline {
                return false;
            }
            // Whatever the script left behind (a background child) goes with it, at its end
            // or at the timeout: a check must not pile up processes interval after interval.
            if let Some(p) = pid {
                let _ = killpg(p, Signal::SIGKILL);
            }
            let status = child.wait();
            self.running = None;
            return self.result(ended && status.is_ok_and(|s| s.success()));
        }
        if now < self.next {
            return false;
        }
        self.next = now + self.track.interval;
        match &self.track.kind {
            TrackKind::Process(name) => self.result(process_runs(name)),
            TrackKind::File(path) => {
                let zero = file_head(path).and_then(|t| t.trim().parse::<i64>().ok()) == Some(0);
                self.result(zero)
            }
            TrackKind::Script(cmd) => {
                let spawned = Command::new("/bin/sh")
                    .args(["-c", cmd])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .process_group(0)
                    .spawn();
                match spawned {
                    Ok(child) => {
                        self.running = Some((child, now + self.track.timeout));
                        false
                    }
                    Err(_) => self.result(false),
                }
            }
        }
    }

    fn result(&mut self, ok: bool) -> bool {
        let was = self.up;
        if ok {
            self.misses = 0;
            self.hits = self.hits.saturating_add(1);
            if self.hits >= self.track.rise {
                self.up = true;
            }
        } else {
            self.hits = 0;
            self.misses = self.misses.saturating_add(1);
            if self.misses >= self.track.fall {
                self.up = false;
            }
        }
        was != self.up
    }
}

/// The bytes a track-file may hold: a number and white space.
const FILE_HEAD: u64 = 64;

/// The first `FILE_HEAD` bytes of the regular file `path`, without ever blocking: opened
/// non-blocking (a FIFO without a writer would block open(2) itself) and read only when it
/// is a regular file (a FIFO, a device such as /dev/zero or a socket is no witness: Down).
fn file_head(path: &std::path::Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    f.take(FILE_HEAD).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Whether a process whose `comm` is `name` runs (in this PID namespace); a zombie does not.
fn process_runs(name: &str) -> bool {
    crate::sys::procfs::pids().any(|pid| {
        let dir = std::path::PathBuf::from(format!("/proc/{pid}"));
        std::fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim_end() == name)
            && !zombie(&dir)
    })
}

/// A process that exited but was not reaped by its parent (state Z in /proc/PID/stat):
/// its name stays listed, but it runs no more.
fn zombie(proc_dir: &std::path::Path) -> bool {
    std::fs::read_to_string(proc_dir.join("stat")).is_ok_and(|st| {
        st.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            == Some("Z")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn track(kind: TrackKind, fall: u32, rise: u32) -> Track {
        Track {
            kind,
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(300),
            fall,
            rise,
            weight: None,
        }
    }

    #[test]
    fn a_file_saying_zero_is_up_anything_else_falls_after_fall_checks() {
        let dir = std::env::temp_dir().join(format!("pktrack{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("ok");
        std::fs::write(&f, "0\n").unwrap();
        let t0 = Instant::now();
        let mut t = TrackState::new(track(TrackKind::File(f.clone()), 2, 1), t0);
        assert!(!t.on_timer(t0));
        assert!(t.up);
        std::fs::write(&f, "1\n").unwrap();
        let step = Duration::from_millis(100);
        assert!(!t.on_timer(t0 + step), "one failure is not enough");
        assert!(t.on_timer(t0 + step * 2));
        assert!(!t.up);
        std::fs::remove_file(&f).unwrap();
        assert!(!t.on_timer(t0 + step * 3), "missing: still down");
        std::fs::write(&f, "0").unwrap();
        assert!(t.on_timer(t0 + step * 4));
        assert!(t.up);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_process_is_found_by_its_name() {
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert!(process_runs(me.trim_end()));
        assert!(!process_runs("no-such-proc-x"));
    }

    #[test]
    fn a_script_runs_without_blocking_and_a_hung_one_is_killed_at_its_timeout() {
        let t0 = Instant::now();
        let mut t = TrackState::new(track(TrackKind::Script("sleep 30".into()), 1, 1), t0);
        let started = Instant::now();
        assert!(!t.on_timer(t0), "started, not waited for");
        assert!(started.elapsed() < Duration::from_millis(200));
        assert_eq!(t.next_deadline(), t0 + Duration::from_millis(100));
        assert!(t.on_timer(t0 + Duration::from_millis(300)), "killed: down");
        assert!(!t.up);
        let mut ok = TrackState::new(track(TrackKind::Script("exit 0".into()), 1, 1), t0);
        ok.up = false;
        ok.on_timer(t0);
        let end = Instant::now() + Duration::from_secs(5);
        while !ok.up {
            assert!(Instant::now() < end);
            std::thread::sleep(Duration::from_millis(10));
            ok.on_timer(t0 + Duration::from_millis(50));
        }
    }

    /// A script that started a background child and exited left it running; at every
    /// interval another one joined it.
    #[test]
    fn a_track_script_leaves_no_process_behind() {
        let dir = std::env::temp_dir().join(format!("pktrackbg{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pid");
        let cmd = format!("sleep 30 & echo $! > {}; exit 0", f.display());
        let t0 = Instant::now();
        let mut t = TrackState::new(track(TrackKind::Script(cmd), 1, 1), t0);
        t.on_timer(t0);
        let end = Instant::now() + Duration::from_secs(5);
        while t.running.is_some() {
            assert!(Instant::now() < end, "the script never ended");
            std::thread::sleep(Duration::from_millis(10));
            t.on_timer(t0 + Duration::from_millis(50));
        }
        assert!(t.up, "exit 0 is a success");
        let pid = std::fs::read_to_string(&f).unwrap();
        let proc_dir = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
        while proc_dir.exists() && !zombie(&proc_dir) {
            assert!(
                Instant::now() < end,
                "the script's background child still runs"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_zombie_does_not_count_as_a_running_process() {
        let dir = std::env::temp_dir().join(format!("pktrackz{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("hrvz{}", std::process::id() % 100_000);
        let exe = dir.join(&name);
        std::fs::copy("/bin/true", &exe).unwrap();
        // Not waited for until the end: it stays a zombie of this process.
        let mut child = Command::new(&exe).spawn().unwrap();
        let proc_dir = std::path::PathBuf::from(format!("/proc/{}", child.id()));
        let end = Instant::now() + Duration::from_secs(5);
        while !zombie(&proc_dir) {
            assert!(Instant::now() < end);
            std::thread::sleep(Duration::from_millis(10));
        }
        let runs = process_runs(&name);
        let _ = child.wait();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!runs, "a zombie {name} counted as running");
    }

    /// Its output goes nowhere: a script that prints megabytes never waits on a full pipe.
    #[test]
    fn a_track_script_printing_megabytes_ends_and_counts() {
        let t0 = Instant::now();
        let cmd = "head -c 20000000 /dev/zero; head -c 20000000 /dev/zero >&2; exit 0";
        let mut t = TrackState::new(track(TrackKind::Script(cmd.into()), 1, 1), t0);
        t.up = false;
        t.on_timer(t0);
        let end = Instant::now() + Duration::from_secs(10);
        while !t.up {
            assert!(Instant::now() < end, "the script never ended");
            std::thread::sleep(Duration::from_millis(10));
            t.on_timer(t0 + Duration::from_millis(50));
        }
    }
}
