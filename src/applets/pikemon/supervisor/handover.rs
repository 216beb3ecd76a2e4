//! The hand-over between two instances (SIGHUP, or the worker of a killed supervisor found
//! at start) and the release of the addresses when no worker holds them any more.

use std::path::{Path, PathBuf};
use std::time::Duration;

use log::{error, info, warn};
use nix::sys::signal::Signal;

use super::{Phase, Supervisor};
use crate::applets::pikemon::config::Config;

/// The file naming the running worker (`PID_FILE.worker`), for the next instance.
pub fn worker_path(pid_file: &Path) -> PathBuf {
    let mut p = pid_file.as_os_str().to_owned();
    p.push(".worker");
    PathBuf::from(p)
}

/// Names the running worker in `PID_FILE.worker`, read by the next instance should this
/// supervisor be killed (see `hand_over_orphan`). Written atomically: a symlink planted at
/// the path is replaced, never followed. Not synced: it names a process of this boot, and a
/// worker's restart must not wait for a busy disk. A failure is logged, not fatal: the file
/// only matters if this supervisor dies before its worker.
pub(super) fn record_worker(pid_file: &Path, pid: u32) {
    let path = worker_path(pid_file);
    if let Err(e) = crate::sys::file::replace(&path, format!("{pid}\n").as_bytes()) {
        warn!(
            "{}: {e}: the next instance could not take over from this worker",
            path.display()
        );
    }
}

/// A worker whose supervisor was killed (SIGKILL, the OOM killer) runs on, alone: it keeps the
/// role, but a new instance's worker then ran beside it — two workers of one node, each with
/// its own incarnation. The new instance takes over from it as after SIGHUP: it is named in
/// the hand-over file, and the new worker ends it once it plays its role.
pub(super) fn hand_over_orphan(pid_file: &Path) {
    let Some(pid) = std::fs::read_to_string(worker_path(pid_file))
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .filter(|p| *p > 1)
    else {
        return;
    };
    let cmdline = |pid: i32| std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if !cmdline(pid).starts_with(b"pikemon: worker") {
        return;
    }
    // Its parent: a supervisor still running means it is no orphan (another instance's).
    let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| {
            let (_, rest) = st.rsplit_once(')')?;
            rest.split_whitespace().nth(1)?.parse::<i32>().ok()
        })
        .unwrap_or(0);
    if cmdline(ppid).starts_with(b"pikemon: supervisor") {
        return;
    }
    let path = handover_path(pid_file);
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    text.push_str(&format!("worker {pid}\n"));
    match crate::applets::pikemon::status_file::write_atomic(&path, text.as_bytes()) {
        Ok(()) => warn!(
            "the worker of a killed supervisor still runs [pid {pid}]: the new worker takes over from it"
        ),
        Err(e) => error!("{}: {e}", path.display()),
    }
}

/// Releases every controlled interface from the supervisor (see `watchdog`): `why` is logged.
/// Not while a hand-over is pending: the addresses are then the other instance's as well.
pub(super) fn release_addresses(config: &Config, why: &str) {
    if handover_path(&config.pid_file).exists() {
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

/// The file naming the processes of an instance that was told HUP (hand-over pending).
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

impl Supervisor<'_> {
    /// SIGHUP. Hand-over: a new instance may start now; the worker keeps the role and
    /// addresses until the new worker kills it.
    pub(super) fn hand_over(&mut self) {
        self.phase = Phase::HandedOver;
        self.handed_over = true;
        let mut text = format!("supervisor {}\n", std::process::id());
        if let Some(pid) = self.worker.pid() {
            text.push_str(&format!("worker {pid}\n"));
        }
        if let Some(pf) = self.pidfile.take() {
            let path = handover_path(pf.path());
            if let Err(e) =
                crate::applets::pikemon::status_file::write_atomic(&path, text.as_bytes())
            {
                error!("{}: {e}", path.display());
            }
            pf.release_keep_file();
        }
        self.acr.signal(Signal::SIGTERM);
        self.worker.signal(Signal::SIGHUP);
        if let Some(w) = self.watch.as_mut() {
            w.detach(&mut self.ev);
        }
        info!("SIGHUP: leaving the service to a new instance; the worker keeps its role");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_pid_file_followed_a_symlink_planted_at_its_path() {
        use std::os::unix::fs::symlink;
        let dir = std::env::temp_dir().join(format!("pikeworker{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (pid_file, victim) = (dir.join("pikemon.pid"), dir.join("victim"));
        std::fs::write(&victim, "precious").unwrap();
        symlink(&victim, worker_path(&pid_file)).unwrap();
        record_worker(&pid_file, 4242);
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
