//! The hand-over between two instances (SIGHUP, or the worker of a killed supervisor found
//! at start) and the release of the addresses when no worker holds them any more.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{error, info, warn};
use nix::sys::signal::Signal;

use super::{Phase, Supervisor};
use crate::applets::pikemon::config::Config;
use crate::sys::netns_lock::{namespace_path, read_root_file, same_netns, NetnsLock};
use crate::sys::pidfile::{PidFile, PidFileError};

/// The file naming the running worker (`PID_FILE.worker`), for the next instance.
pub fn worker_path(pid_file: &Path) -> PathBuf {
    let mut p = pid_file.as_os_str().to_owned();
    p.push(".worker");
    PathBuf::from(p)
}

/// Names the running worker in `PID_FILE.worker` and in the network namespace's worker record
/// (`namespace_worker_path`), read by the next instance should this supervisor be killed (see
/// `hand_over_orphan`). Written atomically: a symlink planted at the path is replaced, never
/// followed. Not synced: it names a process of this boot, and a worker's restart must not wait
/// for a busy disk. A failure is logged, not fatal: the files only matter if this supervisor
/// dies before its worker.
pub(super) fn record_worker(pid_file: &Path, pid: u32) {
    write_worker_record(&worker_path(pid_file), pid);
    match namespace_worker_path() {
        Ok(path) => write_worker_record(&path, pid),
        Err(e) => warn!(
            "the network namespace's worker record: {e}: a new instance with another \
             pid-file could not take over from this worker"
        ),
    }
}

fn write_worker_record(path: &Path, pid: u32) {
    if let Err(e) = crate::sys::file::replace(path, format!("{pid}\n").as_bytes()) {
        warn!(
            "{}: {e}: the next instance could not take over from this worker",
            path.display()
        );
    }
}

/// The worker record of this network namespace (`/run/habox-pikemon-net-INODE.worker`): the
/// running worker's pid, for a new instance whose config names another `pid-file`. After a
/// `kill -9` of the supervisor it looked beside its own pid file only, found nothing, and
/// started a second worker beside the orphan, on the same macvlans.
fn namespace_worker_path() -> std::io::Result<PathBuf> {
    namespace_path(NETNS_LOCK, "worker")
}

/// Removes the namespace's worker record when a supervisor stops with its worker (not after
/// SIGHUP: the record is the new instance's by then).
pub(super) fn forget_worker() {
    if let Ok(path) = namespace_worker_path() {
        let _ = std::fs::remove_file(path);
    }
}

/// The pid a worker record names (`PID\n`).
fn recorded_pid(text: &str) -> Option<i32> {
    text.trim().parse::<i32>().ok().filter(|p| *p > 1)
}

/// Whether `pid` is the worker of a killed supervisor: a pikemon worker of this network
/// namespace, run by this user (root), whose parent is no pikemon supervisor (a supervisor
/// still running means it is another instance's, e.g. one handing over after SIGHUP). A pid
/// from a record of an earlier boot or namespace may be anything by now.
fn orphaned_worker(pid: i32) -> bool {
    use crate::sys::procfs::{cmdline, ppid};
    use std::os::unix::fs::MetadataExt;
    of_an_old_instance(pid, std::process::id() as i32)
        && cmdline(pid).starts_with(b"pikemon: worker")
        && std::fs::metadata(format!("/proc/{pid}"))
            .is_ok_and(|m| m.uid() == nix::unistd::geteuid().as_raw())
        && !cmdline(ppid(pid).unwrap_or(0)).starts_with(b"pikemon: supervisor")
}

/// A worker whose supervisor was killed (SIGKILL, the OOM killer) runs on, alone: it keeps the
/// role, but a new instance's worker then ran beside it — two workers of one node, each with
/// its own incarnation. The new instance takes over from it as after SIGHUP: it is named in
/// the hand-over file, and the new worker ends it once it plays its role. It is found by
/// `PID_FILE.worker` beside this instance's pid file, and by the namespace's worker record
/// whatever `pid-file` the killed instance's config named (read only if root wrote it).
pub(super) fn hand_over_orphan(pid_file: &Path) {
    let mut orphans: Vec<i32> = std::fs::read_to_string(worker_path(pid_file))
        .ok()
        .as_deref()
        .and_then(recorded_pid)
        .filter(|p| orphaned_worker(*p))
        .into_iter()
        .collect();
    if let Ok(path) = namespace_worker_path() {
        match read_root_file(&path) {
            Ok(Some(text)) => match recorded_pid(&text) {
                Some(pid) if orphaned_worker(pid) => {
                    if !orphans.contains(&pid) {
                        orphans.push(pid);
                    }
                }
                _ => info!(
                    "{}: names no worker of a killed supervisor: ignored",
                    path.display()
                ),
            },
            Ok(None) => {}
            Err(e) => warn!("{}: {e}: ignored", path.display()),
        }
    }
    if orphans.is_empty() {
        return;
    }
    let path = handover_path(pid_file);
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    for pid in &orphans {
        text.push_str(&format!("worker {pid}\n"));
    }
    match crate::applets::pikemon::status_file::write_atomic(&path, text.as_bytes()) {
        Ok(()) => {
            for pid in orphans {
                warn!(
                    "the worker of a killed supervisor still runs [pid {pid}]: the new worker takes over from it"
                );
            }
        }
        Err(e) => error!("{}: {e}", path.display()),
    }
}

/// How long a new instance waits for the pid file of an instance that is handing over.
const HANDOVER_WAIT: Duration = Duration::from_secs(5);

/// Takes the pid file at `path` for a new instance. The instance that holds it and is
/// handing over (the hand-over file names it as `supervisor PID`) releases it once that
/// file is written and synced; a new instance started as soon as the file appeared (as
/// `habox-save` does) waits for that, up to `HANDOVER_WAIT`, rather than saying "already
/// running".
pub fn acquire_pid_file(path: &Path) -> Result<PidFile, PidFileError> {
    let give_up = Instant::now() + HANDOVER_WAIT;
    loop {
        match PidFile::acquire(path) {
            Err(PidFileError::AlreadyRunning(Some(pid)))
                if Instant::now() < give_up && handing_over(path, pid) =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// The name of the lock a pikemon supervisor holds for its network namespace (`sys::netns_lock`).
const NETNS_LOCK: &str = "habox-pikemon";

/// What makes an instance the only one of its node: its pid file and the network
/// namespace's lock. The pid file alone let a copy of the config with another `pid-file`
/// start a second instance beside the first, on the same macvlans (and control socket).
pub struct InstanceLock {
    netns: Option<NetnsLock>,
    pid_file: PidFile,
}

/// Why a new instance does not start (exit 1).
#[derive(Debug)]
pub enum StartRefused {
    PidFile(PidFileError),
    /// Another pikemon supervisor runs in this network namespace (its pid when found).
    OtherInstance(Option<i32>),
    Netns(std::io::Error),
    /// The supervisor (pid) handing over after SIGHUP still held its pid file (`false`) or the
    /// namespace's lock (`true`) after `HANDOVER_WAIT`: stopped or stuck. It said only
    /// "already running", as if no hand-over had been asked for.
    HandOverStuck(i32, bool),
}

impl std::fmt::Display for StartRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartRefused::PidFile(e) => write!(f, "{e}"),
            StartRefused::OtherInstance(pid) => {
                write!(f, "already running")?;
                if let Some(pid) = pid {
                    write!(f, " [pid {pid}]")?;
                }
                write!(
                    f,
                    " in this network namespace, with another pid-file: one pikemon per node \
                     (nothing started, nothing of it touched)"
                )
            }
            StartRefused::Netns(e) => write!(f, "the network namespace's lock: {e}"),
            StartRefused::HandOverStuck(pid, lock) => write!(
                f,
                "the instance [pid {pid}] is handing over (SIGHUP) but did not let go within \
                 {} s of {}: stopped or stuck? (nothing started, nothing of it touched; start \
                 again once it has let go)",
                HANDOVER_WAIT.as_secs(),
                if *lock {
                    "the network namespace's lock"
                } else {
                    "its pid file"
                }
            ),
        }
    }
}

impl InstanceLock {
    pub fn path(&self) -> &Path {
        self.pid_file.path()
    }

    pub fn rewrite_pid(&mut self) -> std::io::Result<()> {
        self.pid_file.rewrite_pid()
    }

    /// Lets a new instance start (after SIGHUP): the namespace's lock first, so that the
    /// new instance, which waits for the pid file, finds it free.
    pub fn release_keep_file(self) {
        let InstanceLock { netns, pid_file } = self;
        drop(netns);
        pid_file.release_keep_file();
    }
}

/// Takes the pid file (see `acquire_pid_file`), then the network namespace's lock. A pid
/// file taken but a lock held elsewhere: the pid file this instance made is removed again.
/// A lock held by a supervisor that is handing over (the namespace's record names it) is
/// waited for as its pid file is: a config with another `pid-file` meets only the lock.
pub fn acquire_instance(path: &Path) -> Result<InstanceLock, StartRefused> {
    let pid_file = acquire_pid_file(path).map_err(|e| match e {
        // `acquire_pid_file` waited for it, in vain.
        PidFileError::AlreadyRunning(Some(pid)) if handing_over(path, pid) => {
            StartRefused::HandOverStuck(pid, false)
        }
        e => StartRefused::PidFile(e),
    })?;
    let give_up = Instant::now() + HANDOVER_WAIT;
    loop {
        match NetnsLock::acquire(NETNS_LOCK) {
            Ok(Some(netns)) => {
                return Ok(InstanceLock {
                    netns: Some(netns),
                    pid_file,
                })
            }
            Ok(None) => {
                let other = other_supervisor();
                let waiting = other.is_some_and(|p| {
                    namespace_record()
                        .is_some_and(|(_, text)| OldInstance::parse(&text).supervisors.contains(&p))
                });
                match other {
                    Some(pid) if waiting && Instant::now() >= give_up => {
                        return Err(StartRefused::HandOverStuck(pid, true))
                    }
                    _ if !waiting => return Err(StartRefused::OtherInstance(other)),
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // A system without /run (a bare container): the pid file alone guards, as before.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Not eprintln!: a stderr whose reader is gone must not end the start.
                crate::applets::pikemon::say(&format!(
                    "pikemon: warning: no /run for the network namespace's lock ({e}): only \
                     the pid file keeps a second instance out"
                ));
                return Ok(InstanceLock {
                    netns: None,
                    pid_file,
                });
            }
            Err(e) => return Err(StartRefused::Netns(e)),
        }
    }
}

/// The pid of a pikemon supervisor of this network namespace other than this process.
fn other_supervisor() -> Option<i32> {
    let me = std::process::id() as i32;
    crate::sys::procfs::pids().filter(|&p| p != me).find(|&p| {
        crate::sys::procfs::cmdline(p).starts_with(b"pikemon: supervisor") && same_netns(p)
    })
}

/// Whether the hand-over file beside pid file `path` names `pid` as the supervisor.
fn handing_over(path: &Path, pid: i32) -> bool {
    let text = std::fs::read_to_string(handover_path(path)).unwrap_or_default();
    OldInstance::parse(&text).supervisors.contains(&pid)
}

/// Releases every controlled interface from the supervisor (see `watchdog`): `why` is logged.
/// Not while a hand-over is pending: the addresses are then the other instance's as well.
pub(super) fn release_addresses(config: &Config, why: &str) {
    let me = std::process::id() as i32;
    let recorded = namespace_record().is_some_and(|(_, text)| {
        OldInstance::parse(&text)
            .processes()
            .any(|p| of_an_old_instance(p, me))
    });
    if recorded || handover_path(&config.pid_file).exists() {
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
    let (done, failed) = crate::applets::pikemon::takeover::release_all(&mut rt, config);
    if done.is_empty() {
        warn!("{why}; no macvlan to release");
    } else {
        warn!("{why}: addresses released ({} down)", done.join(", "));
    }
    for f in failed {
        error!("release: {f}");
    }
}

/// The file naming the processes of an instance that was told HUP (hand-over pending):
/// `supervisor PID`, `worker PID`, and `macvlan NAME` per macvlan of its config.
pub fn handover_path(pid_file: &Path) -> PathBuf {
    let mut p = pid_file.as_os_str().to_owned();
    p.push(".old");
    PathBuf::from(p)
}

pub(super) fn no_worker_alive(dead: Duration) -> String {
    format!(
        "no worker has been alive for the dead-interval ({} ms)",
        dead.as_millis()
    )
}

/// The hand-over thread's stack: a path and a few lines of text.
const HANDOVER_STACK: usize = 128 * 1024;

/// Writes the hand-over file (`write_atomic`: synced, so that it outlives a power cut) and
/// only then releases the pid file, so a new instance that gets the pid file finds the whole
/// file. Off the supervisor's loop: on a busy disk the sync took 0.9 s here, and the loop
/// must go on reaping children and hearing the worker meanwhile. Without a thread (none could
/// be made), the same is done here.
fn write_then_release(path: PathBuf, text: String, pf: InstanceLock) -> Option<JoinHandle<()>> {
    // The thread takes `pf` through the slot; a failed spawn leaves it there for this thread.
    let slot = Arc::new(Mutex::new(Some((path, text, pf))));
    let theirs = Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name("handover".into())
        // Small: a supervisor under `realtime` locks all its memory (mlockall), stacks too.
        .stack_size(HANDOVER_STACK)
        .spawn(move || {
            let job = theirs.lock().ok().and_then(|mut j| j.take());
            if let Some((path, text, pf)) = job {
                write_and_release(&path, &text, pf);
            }
        });
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            warn!("hand-over: no thread ({e}): writing the hand-over file in the loop");
            let job = slot.lock().ok().and_then(|mut j| j.take());
            if let Some((path, text, pf)) = job {
                write_and_release(&path, &text, pf);
            }
            None
        }
    }
}

fn write_and_release(path: &Path, text: &str, pf: InstanceLock) {
    match crate::applets::pikemon::status_file::write_atomic(path, text.as_bytes()) {
        Ok(()) => info!(
            "hand-over file {} written; pid file released: a new instance may start",
            path.display()
        ),
        Err(e) => error!("{}: {e}", path.display()),
    }
    // Before the namespace's lock goes: a new instance that gets the lock finds the record.
    // Under /run, lost at a reboot as the processes it names are.
    let mut record = text.to_string();
    if let Some(p) = path.to_str().filter(|p| !p.contains('\n')) {
        record.push_str(&format!("file {p}\n"));
    }
    match namespace_record_path() {
        Ok(ns) => {
            if let Err(e) = crate::sys::file::replace(&ns, record.as_bytes()) {
                error!(
                    "{}: {e}: a new instance with another pid-file would not find this one",
                    ns.display()
                );
            }
        }
        Err(e) => error!("the network namespace's hand-over record: {e}"),
    }
    pf.release_keep_file();
}

/// The hand-over record of this network namespace (`/run/habox-pikemon-net-INODE.old`): the
/// hand-over file's text and its path (`file PATH`), for a new instance whose config names
/// another `pid-file`. It looked beside its own pid file only, found nothing, and started a
/// worker beside the old one.
fn namespace_record_path() -> std::io::Result<PathBuf> {
    namespace_path(NETNS_LOCK, "old")
}

/// The record's path and text, when there is one that only root could have written.
fn namespace_record() -> Option<(PathBuf, String)> {
    let path = namespace_record_path().ok()?;
    match read_root_file(&path) {
        Ok(Some(text)) => Some((path, text)),
        Ok(None) => None,
        Err(e) => {
            warn!("{}: {e}: ignored", path.display());
            None
        }
    }
}

/// What a hand-over file names: `supervisor PID`, `worker PID`, `macvlan NAME` and (in the
/// namespace's record) `file PATH`; other lines are skipped.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct OldInstance {
    pub supervisors: Vec<i32>,
    pub workers: Vec<i32>,
    pub macvlans: Vec<String>,
    /// The hand-over files read, and the one the namespace's record names: removed once the
    /// hand-over is done.
    files: Vec<PathBuf>,
}

impl OldInstance {
    pub fn parse(text: &str) -> OldInstance {
        let mut old = OldInstance::default();
        for line in text.lines() {
            let Some((what, arg)) = line.split_once(' ') else {
                continue;
            };
            let pid = arg.trim().parse::<i32>().ok().filter(|p| *p > 1);
            match (what, pid) {
                ("supervisor", Some(p)) => old.supervisors.push(p),
                ("worker", Some(p)) => old.workers.push(p),
                ("macvlan", _) if !arg.trim().is_empty() => old.macvlans.push(arg.trim().into()),
                ("file", _) if arg.starts_with('/') && arg.ends_with(".old") => {
                    old.files.push(PathBuf::from(arg))
                }
                _ => {}
            }
        }
        old
    }

    /// The processes named, supervisors first.
    pub fn processes(&self) -> impl Iterator<Item = i32> + '_ {
        self.supervisors.iter().chain(&self.workers).copied()
    }

    fn merge(&mut self, other: OldInstance) {
        for (ours, theirs) in [
            (&mut self.supervisors, other.supervisors),
            (&mut self.workers, other.workers),
        ] {
            for p in theirs {
                if !ours.contains(&p) {
                    ours.push(p);
                }
            }
        }
        for m in other.macvlans {
            if !self.macvlans.contains(&m) {
                self.macvlans.push(m);
            }
        }
        self.files.extend(other.files);
    }

    /// Removes the hand-over files once the hand-over is done (or the record is stale).
    pub fn forget(&self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Whether `pid` may be a process of an old instance of this node: a pikemon process of this
/// network namespace, neither the supervisor `own` of the asking instance nor one of its
/// children. A pid named in a record of an instance that is gone may be anything by now.
fn of_an_old_instance(pid: i32, own: i32) -> bool {
    use crate::sys::procfs::{cmdline, ppid};
    pid > 1
        && pid != own
        && ppid(pid) != Some(own)
        && cmdline(pid).starts_with(b"pikemon")
        && same_netns(pid)
}

/// The old instance a new worker (of the supervisor `own`) takes over from: what the
/// hand-over file beside `pid_file` names, and what the network namespace's record names
/// (found whatever `pid-file` either config names). The record is ignored whole, and
/// removed, when none of its processes runs: it is of an instance that is gone, maybe of an
/// earlier namespace that had this one's inode number. The processes are only those that
/// may be an old instance's (`of_an_old_instance`). None: no hand-over is pending.
pub fn old_instance(pid_file: &Path, own: i32) -> Option<OldInstance> {
    let own_file = handover_path(pid_file);
    let mut found = std::fs::read_to_string(&own_file).ok().map(|text| {
        let mut old = OldInstance::parse(&text);
        old.files.push(own_file.clone());
        old
    });
    if let Some((path, text)) = namespace_record() {
        let mut record = OldInstance::parse(&text);
        record.files.push(path.clone());
        if record.processes().any(|p| of_an_old_instance(p, own)) {
            match found.as_mut() {
                Some(old) => old.merge(record),
                None => found = Some(record),
            }
        } else {
            info!(
                "{}: a hand-over record of an instance that is gone: ignored",
                path.display()
            );
            let _ = std::fs::remove_file(&path);
        }
    }
    let mut old = found?;
    old.supervisors.retain(|p| of_an_old_instance(*p, own));
    old.workers.retain(|p| of_an_old_instance(*p, own));
    Some(old)
}

impl Supervisor<'_> {
    /// SIGHUP. Hand-over: a new instance may start once the hand-over file is written (the
    /// pid file is released then, see `write_then_release`); the worker keeps the role and
    /// addresses until the new worker kills it.
    pub(super) fn hand_over(&mut self) {
        self.phase = Phase::HandedOver;
        self.handed_over = true;
        let mut text = format!("supervisor {}\n", std::process::id());
        if let Some(pid) = self.worker.pid() {
            text.push_str(&format!("worker {pid}\n"));
        }
        // This instance's macvlans: the new one deletes those its config no longer names.
        for vc in &self.config.virtual_clusters {
            for ci in &vc.interfaces {
                text.push_str(&format!("macvlan {}\n", ci.macvlan_name(vc.id)));
            }
        }
        if let Some(pf) = self.pidfile.take() {
            let path = handover_path(pf.path());
            self.handover_write = write_then_release(path, text, pf);
        }
        self.acr.signal(Signal::SIGTERM);
        self.worker.signal(Signal::SIGHUP);
        if let Some(w) = self.watch.as_mut() {
            w.detach(&mut self.ev);
        }
        info!("SIGHUP: leaving the service to a new instance; the worker keeps its role");
    }

    /// Waits for the hand-over file's write (at the supervisor's exit): leaving before it
    /// is done would end the thread half-way, with no file for the next instance.
    pub(super) fn finish_handover_write(&mut self) {
        if let Some(h) = self.handover_write.take() {
            if h.join().is_err() {
                error!("hand-over: the writing thread panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `habox-save` starts the new instance as soon as the hand-over file appears; the old
    /// supervisor released the pid file only after syncing the directory, and the new one,
    /// finding it still locked, said "already running" and did not start.
    #[test]
    fn new_instance_started_when_the_hand_over_file_appeared_said_already_running() {
        let dir = std::env::temp_dir().join(format!("pikehandover{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("pikemon.pid");
        // The old instance (this process, through its own open file) holds the lock.
        let old = PidFile::acquire(&pid_file).unwrap();
        // Not handing over: refused at once.
        let start = Instant::now();
        match acquire_pid_file(&pid_file) {
            Err(PidFileError::AlreadyRunning(Some(p))) => {
                assert_eq!(p, std::process::id() as i32)
            }
            other => panic!("expected already running, got {:?}", other.map(|_| ())),
        }
        assert!(start.elapsed() < Duration::from_millis(500));
        // Handing over: the file is there, the lock goes 300 ms later.
        let me = std::process::id();
        std::fs::write(
            handover_path(&pid_file),
            format!("supervisor {me}\nworker 1\n"),
        )
        .unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            old.release_keep_file();
        });
        let start = Instant::now();
        let new = acquire_pid_file(&pid_file);
        assert!(new.is_ok(), "{:?}", new.map(|_| ()));
        assert!(start.elapsed() >= Duration::from_millis(250));
        releaser.join().unwrap();
        drop(new);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_hand_over_record_names_processes_macvlans_and_its_file_and_nothing_else() {
        let text = "supervisor 300\nworker 301\nworker 1\nworker -5\nworker x\n\
                    macvlan pk1-lan0\nfile /run/pid.old\nfile relative.old\n\
                    file /etc/passwd\nbogus 7\nsupervisor\n";
        let old = OldInstance::parse(text);
        assert_eq!(old.supervisors, [300]);
        assert_eq!(old.workers, [301]);
        assert_eq!(old.macvlans, ["pk1-lan0"]);
        assert_eq!(old.files, [PathBuf::from("/run/pid.old")]);
        assert_eq!(old.processes().collect::<Vec<_>>(), [300, 301]);
        let mut both = OldInstance::parse("supervisor 300\nworker 302\nmacvlan pk2-lan0\n");
        both.merge(old);
        assert_eq!(both.processes().collect::<Vec<_>>(), [300, 302, 301]);
        assert_eq!(both.macvlans, ["pk2-lan0", "pk1-lan0"]);
    }

    /// A record naming this process, its children, pid 1 or a pid that is gone names no
    /// old instance (a stale record's pids may be anything by now).
    #[test]
    fn the_asking_instance_and_the_gone_are_no_old_instance() {
        let me = std::process::id() as i32;
        assert!(!of_an_old_instance(me, me));
        assert!(!of_an_old_instance(1, me));
        assert!(!of_an_old_instance(i32::MAX, me));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(!of_an_old_instance(child.id() as i32, me));
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Only a pikemon worker of this namespace whose supervisor is gone is an orphan: not this
    /// process, pid 1, a pid that is gone, nor a child of this process that is no worker.
    #[test]
    fn no_orphan_but_a_pikemon_worker_without_its_supervisor() {
        assert_eq!(recorded_pid("4242\n"), Some(4242));
        for bad in ["", "1\n", "-3\n", "x\n", "4242 4243\n"] {
            assert_eq!(recorded_pid(bad), None, "{bad:?}");
        }
        assert!(!orphaned_worker(std::process::id() as i32));
        assert!(!orphaned_worker(1));
        assert!(!orphaned_worker(i32::MAX));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(!orphaned_worker(child.id() as i32));
        let _ = child.kill();
        let _ = child.wait();
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
        write_worker_record(&worker_path(&pid_file), 4242);
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
