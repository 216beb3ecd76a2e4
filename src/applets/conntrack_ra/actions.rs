//! The OCF actions. Every wait is bounded by `Params::deadline`; the checks of validate-all
//! run before start, promote, demote and validate-all, never before stop, and a probe of an
//! unconfigured resource is "not running", not a failure. A statefile that fails its checks
//! fails every action that reads or writes it except stop, which leaves it alone and still
//! stops conntrackd.

use std::io;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::config::{self, DaemonConfig};
use super::host;
use super::notify::{Bulk, Notification};
use super::statefile::StateFileError;
use super::{meta, Failure, Params, Status};
use crate::net::conntrackd::{self as control, ControlError, Request};

/// Promotion scores (resource-agents' conntrackd uses the same).
const SCORE_PROMOTED: u32 = 1000;
const SCORE_UNPROMOTED: u32 = 100;

/// Runs one action. Actions on one conntrackd (one config) run one at a time: a second agent
/// (an operator's shell beside Pacemaker, pikemon's hooks) waits for the first, bounded by its
/// own deadline, and then sees what the first left (two concurrent starts: one starts the
/// daemon, the other finds it running, both 0).
pub fn run(action: &str, p: &Params) -> Result<Status, Failure> {
    let _turn = match action {
        "start" | "stop" | "promote" | "demote" | "notify" => {
            host::exclusive(&p.config, p.deadline).map_err(|e| {
                Failure::Generic(format!(
                    "another conntrack-ra action on {} still runs: {e}",
                    p.config.display()
                ))
            })?
        }
        _ => None,
    };
    match action {
        "start" => {
            let cfg = validate(p)?;
            start(p, &cfg)
        }
        "stop" => stop(p),
        "promote" => {
            let cfg = validate(p)?;
            promote(p, &cfg)
        }
        "demote" => {
            let cfg = validate(p)?;
            demote(p, &cfg)
        }
        "notify" => Ok(notify(p)),
        "monitor" | "status" => monitor(p),
        "validate-all" => validate(p).map(|_| Status::Success),
        other => Err(Failure::Unimplemented(format!(
            "action '{other}' is not implemented"
        ))),
    }
}

/// What the control socket says about the daemon.
enum Daemon {
    Running,
    /// No socket, or a stale one (connection refused).
    Stopped {
        stale: bool,
    },
}

fn probe(cfg: &DaemonConfig, deadline: Instant) -> Result<Daemon, Failure> {
    match control::request(&cfg.socket, Request::Stats, deadline) {
        Ok(_) => Ok(Daemon::Running),
        Err(ControlError::Absent(_)) => Ok(Daemon::Stopped { stale: false }),
        Err(ControlError::Refused(_)) => Ok(Daemon::Stopped { stale: true }),
        Err(e @ ControlError::Timeout(..)) => Err(Failure::Generic(format!(
            "conntrackd is running but does not answer: {e}"
        ))),
        Err(e) => Err(Failure::Generic(format!("conntrackd control socket: {e}"))),
    }
}

fn send(cfg: &DaemonConfig, req: Request, p: &Params) -> Result<String, Failure> {
    control::request(&cfg.socket, req, p.deadline)
        .map_err(|e| Failure::Generic(format!("conntrackd {} failed: {e}", req.option())))
}

/// Largest conntrackd.conf read (real ones are a few KiB); a FIFO, a device or a bigger file
/// named by `config` is "cannot be read" (2), never a hang or a memory blow-up.
const MAX_CONFIG_LEN: u64 = 1 << 20;

/// Reads conntrackd.conf: relative → 6, missing → 5, unreadable → 2, unusable → 2.
/// The path is a parameter and means the same on every node; the file's text is each
/// node's own (its addresses, its interfaces): a typo in one node's copy is this node's
/// problem (2, a hard error here), as conntrackd's own refusal of it is. 6 stopped the
/// clone on every node, the promoted one and its connections too.
fn load_config(p: &Params) -> Result<DaemonConfig, Failure> {
    let name = p.config.display().to_string();
    // The agent runs in Pacemaker's working directory, not the operator's: a relative path
    // passed validate-all in the shell and named another file, or none, in the cluster.
    if p.config.is_relative() {
        return Err(Failure::Configured(format!(
            "conntrackd config {name} is not an absolute path"
        )));
    }
    let text = crate::conf::file::read(&p.config, MAX_CONFIG_LEN).map_err(|e| {
        if e.is_not_found() {
            Failure::Installed(format!("conntrackd config {name} does not exist"))
        } else {
            Failure::Args(format!("conntrackd config {name} cannot be read: {e}"))
        }
    })?;
    config::parse(&name, &text).map_err(|e| Failure::Args(e.to_string()))
}

/// A statefile that cannot be used: wrong everywhere → 6, on this host → 2, unreadable → 1.
fn state_failure(e: StateFileError) -> Failure {
    match e {
        e if e.everywhere() => Failure::Configured(e.to_string()),
        e @ (StateFileError::NoDirectory(_) | StateFileError::Foreign(..)) => {
            Failure::Args(e.to_string())
        }
        e => Failure::Generic(e.to_string()),
    }
}

/// The statefile's checks (`StateFile::check`).
fn check_statefile(p: &Params) -> Result<(), Failure> {
    p.statefile.check(&p.config).map_err(state_failure)
}

/// validate-all: meta attributes, binary, config, statefile.
fn validate(p: &Params) -> Result<DaemonConfig, Failure> {
    for (name, legacy) in [
        ("promoted_max", "master_max"),
        ("promoted_node_max", "master_node_max"),
        ("clone_node_max", "clone_node_max"),
    ] {
        if let Some(v) = meta(name).or_else(|| meta(legacy)) {
            if v.trim() != "1" {
                return Err(Failure::Configured(format!(
                    "meta attribute {} must be 1, found {v}",
                    name.replace('_', "-")
                )));
            }
        }
    }
    // As meta-data says: a name looked up in PATH or an absolute path. `./conntrackd` or
    // `sbin/conntrackd` named a file of the operator's directory in validate-all and of
    // Pacemaker's working directory in the cluster.
    if p.binary.contains('/') && !p.binary.starts_with('/') {
        return Err(Failure::Configured(format!(
            "conntrackd binary '{}' is neither a name looked up in PATH nor an absolute path",
            p.binary
        )));
    }
    if host::which(&p.binary, &[]).is_none() {
        // 5 for each: this node cannot run what the parameter names.
        return Err(Failure::Installed(format!(
            "conntrackd binary '{}' {}",
            p.binary,
            host::not_runnable(&p.binary)
        )));
    }
    let cfg = load_config(p)?;
    if cfg.hashsize.is_some_and(|h| h <= 8192) {
        log::warn!(
            "{}: HashSize {} <= 8192: conntrackd 1.4.x then ignores the cache flush after a commit",
            p.config.display(),
            cfg.hashsize.unwrap_or_default()
        );
    }
    check_statefile(p)?;
    Ok(cfg)
}

/// Whether the agent's promoted marker is there (the statefile passed its checks).
fn promoted(p: &Params) -> Result<bool, Failure> {
    p.statefile.promoted().map_err(state_failure)
}

fn set_promoted(p: &Params) -> Result<(), Failure> {
    p.statefile
        .set(&p.instance)
        .map_err(|e| Failure::Generic(format!("cannot write the promoted state: {e}")))
}

/// Removes the agent's marker; anything else at the statefile's path is left alone.
fn clear_promoted(p: &Params) -> Result<(), Failure> {
    match p.statefile.clear() {
        Ok(true) => {
            log::info!("promoted state {} removed", p.statefile.path.display());
            Ok(())
        }
        Ok(false) => Ok(()),
        Err(e) => Err(state_failure(e)),
    }
}

fn score(p: &Params, value: Option<u32>) {
    host::promotion_score(value, p.feature_set.as_deref(), &p.sbin, p.deadline);
}

fn monitor(p: &Params) -> Result<Status, Failure> {
    let is_probe = p.interval_ms == 0;
    let cfg = match load_config(p) {
        Ok(c) => c,
        // 7 says "cleanly stopped" and makes Pacemaker start a second daemon: a conntrackd
        // of this config that runs although the config is gone or unusable (moved away after
        // start) is found the way stop finds it, and is a failure.
        Err(f) => {
            let running = host::daemon_pids(&p.config);
            if !running.is_empty() {
                return Err(Failure::Generic(format!(
                    "conntrackd {running:?} runs with {} but the agent cannot use that \
                     config to reach it: {f}",
                    p.config.display()
                )));
            }
            // A probe of a resource that cannot be configured here: it is not running.
            if is_probe {
                log::debug!("probe: {f}: not running");
                return Ok(Status::NotRunning);
            }
            return Err(f);
        }
    };
    match probe(&cfg, p.deadline)? {
        Daemon::Stopped { stale } => {
            let running = host::daemon_pids(&p.config);
            if !running.is_empty() {
                return Err(Failure::Generic(format!(
                    "conntrackd {running:?} runs with {} but its control socket {} {}",
                    p.config.display(),
                    cfg.socket.display(),
                    if stale {
                        "refuses connections"
                    } else {
                        "does not exist"
                    }
                )));
            }
            let why = format!(
                "conntrackd is not running ({} control socket {})",
                if stale { "stale" } else { "no" },
                cfg.socket.display()
            );
            if is_probe {
                // The answer a probe expects of a stopped resource: nothing to report.
                log::debug!("probe: {why}");
                score(p, None);
            } else {
                // A recurring monitor: Pacemaker will recover it; say why, once.
                super::exit_reason(&why);
            }
            Ok(Status::NotRunning)
        }
        Daemon::Running => {
            // The role is the marker's, and only a statefile that passes its checks has one.
            check_statefile(p)?;
            let promoted = promoted(p)?;
            // Silent unless the cluster asks for debug output (HA_debug): then the admin
            // sees what the answer rests on.
            log::debug!(
                "monitor: conntrackd answers on {}: running, {}",
                cfg.socket.display(),
                if promoted {
                    format!("promoted (statefile {})", p.statefile.path.display())
                } else {
                    "unpromoted (no statefile)".to_string()
                }
            );
            if promoted {
                if is_probe {
                    score(p, Some(SCORE_PROMOTED));
                }
                Ok(Status::RunningPromoted)
            } else {
                if is_probe {
                    score(p, Some(SCORE_UNPROMOTED));
                }
                Ok(Status::Success)
            }
        }
    }
}

/// What a crashed conntrackd leaves behind, and only that is removed: at the socket path a
/// socket, at the lock file path an empty regular file (conntrackd creates it with O_EXCL and
/// writes nothing) that is not the config. A config naming another file there (its own path
/// as LockFile, a plain file as UNIX Path) is the operator's mistake, never a reason to delete
/// that file: it is left alone and logged (conntrackd then refuses to start over it).
#[derive(Clone, Copy)]
enum Leftover {
    Socket,
    LockFile,
}

fn remove_stale(path: &Path, kind: Leftover, config: &Path) {
    use std::os::unix::fs::FileTypeExt;
    // Never through a symlink.
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            log::warn!("cannot inspect {}: {e}", path.display());
            return;
        }
    };
    let ours = match kind {
        Leftover::Socket => meta.file_type().is_socket(),
        Leftover::LockFile => {
            meta.file_type().is_file()
                && meta.len() == 0
                && std::fs::canonicalize(path).ok() != std::fs::canonicalize(config).ok()
        }
    };
    if !ours {
        log::warn!(
            "{} is not a {} conntrackd left behind: left alone",
            path.display(),
            match kind {
                Leftover::Socket => "control socket",
                Leftover::LockFile => "lock file",
            }
        );
        return;
    }
    match std::fs::remove_file(path) {
        Ok(()) => log::info!("removed stale {}", path.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => log::warn!("cannot remove {}: {e}", path.display()),
    }
}

fn start(p: &Params, cfg: &DaemonConfig) -> Result<Status, Failure> {
    if let Daemon::Running = probe(cfg, p.deadline)? {
        if promoted(p)? {
            log::warn!("conntrackd already running promoted: start ends unpromoted");
            clear_promoted(p)?;
        }
        score(p, Some(SCORE_UNPROMOTED));
        send(cfg, Request::RequestResync, p)?;
        return Ok(Status::Success);
    }
    clear_promoted(p)?;
    // Only a daemon in our own namespaces is in the way; another container's is not.
    let leftovers = host::daemon_pids(&p.config);
    if !leftovers.is_empty() {
        return Err(Failure::Generic(format!(
            "conntrackd {leftovers:?} runs with {} but its socket {} does not answer",
            p.config.display(),
            cfg.socket.display()
        )));
    }
    // A crashed daemon leaves both behind, and conntrackd -d refuses to start over its lock.
    remove_stale(&cfg.socket, Leftover::Socket, &p.config);
    remove_stale(&cfg.lockfile, Leftover::LockFile, &p.config);
    log::info!("starting {} -C {} -d", p.binary, p.config.display());
    let mut cmd = Command::new(&p.binary);
    cmd.arg("-C").arg(&p.config).arg("-d");
    let run = host::run_bounded(cmd, p.deadline)
        .map_err(|e| Failure::Generic(format!("{} -C {} -d: {e}", p.binary, p.config.display())))?;
    if !run.status.success() {
        // The agent checks only the parts of the file it reads; conntrackd checks the rest.
        // The file is this node's (a typo on one node): 2 bans the resource here only, where
        // 6 would stop it on every node, the promoted one too.
        let name = p.config.display().to_string();
        if let Some(why) = crate::conf::file::read(&p.config, MAX_CONFIG_LEN)
            .ok()
            .and_then(|text| config::refusal(&name, &text, &run.stderr))
        {
            return Err(Failure::Args(why));
        }
        return Err(Failure::Generic(format!(
            "{} -C {} -d failed ({}): {}",
            p.binary,
            p.config.display(),
            run.status,
            run.stderr.lines().last().unwrap_or("see conntrackd's log")
        )));
    }
    loop {
        match control::request(&cfg.socket, Request::Stats, p.deadline) {
            Ok(_) => break,
            Err(e) if Instant::now() >= p.deadline => {
                return Err(Failure::Generic(format!(
                    "conntrackd started but does not answer in time: {e}"
                )))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    score(p, Some(SCORE_UNPROMOTED));
    send(cfg, Request::RequestResync, p)?;
    log::info!("conntrackd started");
    Ok(Status::Success)
}

fn stop(p: &Params) -> Result<Status, Failure> {
    // A stop that fails gets the node fenced: a statefile that cannot be used is only logged
    // (and left alone), conntrackd is stopped all the same.
    let marker = check_statefile(p).and_then(|()| promoted(p));
    match marker {
        Ok(true) => {
            log::info!("stopping while promoted: dropping the promoted state first");
            if let Err(f) = clear_promoted(p) {
                log::warn!("stop: {f}");
            }
        }
        Ok(false) => {}
        Err(f) => log::warn!("stop: {f}: left alone"),
    }
    let cfg = match load_config(p) {
        Ok(c) => Some(c),
        Err(f) => {
            log::info!("stop: {f}; looking for a conntrackd with that config only");
            None
        }
    };
    // Leave time for signals if the socket does not do it.
    let soft_deadline = p
        .deadline
        .checked_sub(Duration::from_secs(3))
        .filter(|d| *d > Instant::now())
        .unwrap_or_else(|| Instant::now() + Duration::from_millis(500))
        .min(p.deadline);
    // The daemon the socket answered for and that then went away: nothing left to signal.
    let mut killed_by_socket = false;
    if let Some(cfg) = &cfg {
        let asked = match control::request(&cfg.socket, Request::Kill, soft_deadline) {
            Ok(_) => {
                log::info!("conntrackd asked to exit");
                true
            }
            Err(ControlError::Absent(_)) | Err(ControlError::Refused(_)) => false,
            Err(e) => {
                log::warn!("kill request: {e}");
                false
            }
        };
        loop {
            let gone = matches!(
                control::request(&cfg.socket, Request::Stats, soft_deadline),
                Err(ControlError::Absent(_)) | Err(ControlError::Refused(_))
            );
            if gone || Instant::now() >= soft_deadline {
                killed_by_socket = asked && gone;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Signals only when the socket did not do it, and only to a daemon of our namespaces.
    let alive = if killed_by_socket {
        Vec::new()
    } else {
        terminate(host::daemon_pids(&p.config), p.deadline)
    };
    if !alive.is_empty() {
        return Err(Failure::Generic(format!(
            "conntrackd {alive:?} does not exit"
        )));
    }
    if let Some(cfg) = &cfg {
        socket_released(cfg, &p.config, p.deadline)?;
        // Nobody listens on the socket and no daemon of this config runs: both are stale.
        remove_stale(&cfg.socket, Leftover::Socket, &p.config);
        remove_stale(&cfg.lockfile, Leftover::LockFile, &p.config);
    }
    score(p, None);
    Ok(Status::Success)
}

/// Waits until nobody listens on the control socket any more (no socket, or connection
/// refused), at most until `deadline`. A socket that still accepts connections belongs to a
/// live daemon, even one not found by its command line (another mount namespace's, one
/// started with a relative config path) or one that is stopped or hung: its socket and lock
/// file are not stale, and a stop that leaves it running fails (OCF: 1 when a daemon is
/// provably still alive), or the next start would run a second daemon.
fn socket_released(cfg: &DaemonConfig, config: &Path, deadline: Instant) -> Result<(), Failure> {
    loop {
        // The connect says it; a reply only tells how alive the holder is.
        let check = Instant::now() + Duration::from_millis(200);
        let held = match control::request(&cfg.socket, Request::Stats, check) {
            Err(ControlError::Absent(_)) | Err(ControlError::Refused(_)) => return Ok(()),
            Ok(_) => "answers",
            Err(_) => "accepts connections but does not answer",
        };
        if Instant::now() >= deadline {
            return Err(Failure::Generic(format!(
                "conntrackd still runs: its control socket {} {held}, and no process \
                 'conntrackd -C {}' was found to signal",
                cfg.socket.display(),
                config.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM, a second, then SIGKILL; returns the pids still alive at `deadline`.
fn terminate(pids: Vec<i32>, deadline: Instant) -> Vec<i32> {
    if pids.is_empty() {
        return pids;
    }
    log::warn!("conntrackd {pids:?} still runs: SIGTERM");
    let wait = |pids: &[i32], until: Instant| -> Vec<i32> {
        loop {
            let left: Vec<i32> = pids.iter().copied().filter(|&p| host::alive(p)).collect();
            if left.is_empty() || Instant::now() >= until {
                return left;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    for &pid in &pids {
        host::signal(pid, Signal::SIGTERM);
    }
    let left = wait(
        &pids,
        (Instant::now() + Duration::from_secs(1)).min(deadline),
    );
    if left.is_empty() {
        return left;
    }
    log::warn!("conntrackd {left:?} ignores SIGTERM: SIGKILL");
    for &pid in &left {
        host::signal(pid, Signal::SIGKILL);
    }
    wait(
        &left,
        deadline.max(Instant::now() + Duration::from_millis(500)),
    )
}

fn promote(p: &Params, cfg: &DaemonConfig) -> Result<Status, Failure> {
    if let Daemon::Stopped { .. } = probe(cfg, p.deadline)? {
        return Err(Failure::Generic(
            "cannot promote: conntrackd is not running".into(),
        ));
    }
    if promoted(p)? {
        log::info!("already promoted");
        return Ok(Status::Success);
    }
    // Synchronous: the daemon closes the connection when the commit is done.
    send(cfg, Request::CommitAll, p)?;
    send(cfg, Request::FlushAll, p)?;
    let stats = send(cfg, Request::Stats, p)?;
    if let Some(n) = control::external_entries(&stats).filter(|&n| n > 0) {
        // conntrackd 1.4.x: after a commit done in one step (HashSize <= CommitSteps, 8192)
        // the daemon still believes the commit runs and ignores every flush. The internal
        // flush is not guarded: do that part at least.
        log::warn!(
            "conntrackd ignored the cache flush (\"commit still in progress\"): {n} external \
             entries stay; set HashSize above 8192 in {}",
            p.config.display()
        );
        send(cfg, Request::FlushInternal, p)?;
    }
    send(cfg, Request::ResyncAll, p)?;
    send(cfg, Request::SendBulk, p)?;
    set_promoted(p)?;
    score(p, Some(SCORE_PROMOTED));
    log::info!("promoted: external cache committed, caches resynced, bulk update sent");
    Ok(Status::Success)
}

fn demote(p: &Params, cfg: &DaemonConfig) -> Result<Status, Failure> {
    if !promoted(p)? {
        return Ok(Status::Success);
    }
    let result = match probe(cfg, p.deadline) {
        Ok(Daemon::Running) => send(cfg, Request::ResetTimers, p)
            .and_then(|_| send(cfg, Request::RequestResync, p))
            .map(|_| ()),
        Ok(Daemon::Stopped { .. }) => {
            log::info!("demote: conntrackd is not running");
            Ok(())
        }
        Err(f) => Err(f),
    };
    let cleared = clear_promoted(p);
    score(p, Some(SCORE_UNPROMOTED));
    result.and(cleared).map(|()| Status::Success)
}

fn notify(p: &Params) -> Status {
    let note = Notification::from_env(meta);
    let me = host::node_name(meta("on_node"), p.deadline);
    let Some(bulk) = note.decide(&me) else {
        log::debug!(
            "notify {}-{} on {me}: nothing to do",
            note.kind,
            note.operation
        );
        return Status::Success;
    };
    let why = match bulk {
        Bulk::PostStart => "post-start: a peer started while we are promoted",
        Bulk::PrePromote => "pre-promote: a peer is about to be promoted",
    };
    log::info!("{why}: sending a bulk update");
    // Notify never fails (Pacemaker ignores it anyway); problems are logged.
    match load_config(p) {
        Ok(cfg) => {
            if let Err(e) = send(&cfg, Request::SendBulk, p) {
                log::warn!("{e}");
            }
        }
        Err(f) => log::warn!("notify: {f}"),
    }
    Status::Success
}
