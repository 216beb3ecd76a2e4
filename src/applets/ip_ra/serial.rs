//! One changing action at a time per VIP: restore, remove and recover of the same address in
//! the same network namespace take an exclusive `flock` on a file in `/run/ip-ra`, so a remove
//! started while a restore is still in its duplicate check waits for it and then removes,
//! instead of finding nothing, saying success and leaving the address behind.

use std::fs::{File, OpenOptions};
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use nix::fcntl::{Flock, FlockArg};

/// Where the lock files live (tmpfs: gone at boot, nothing to clean).
const LOCK_DIR: &str = "/run/ip-ra";

/// The held lock; released when dropped (or when the process ends, however it ends).
pub struct ActionLock {
    _lock: Flock<File>,
}

/// The lock file of `ip` in this network namespace: namespaces share `/run` but not their
/// addresses, so the namespace's inode is part of the name.
fn lock_path(ip: IpAddr) -> PathBuf {
    let netns = std::fs::metadata("/proc/self/ns/net").map_or(0, |m| m.ino());
    let name = ip.to_string().replace(':', "_");
    PathBuf::from(format!("{LOCK_DIR}/{netns}.{name}.lock"))
}

/// Takes the lock of `ip`, waiting (and saying so) while another action holds it. The holder
/// is bounded by its own timeouts, and by the cluster's action timeout that kills it.
pub fn lock(ip: IpAddr, label: &str) -> io::Result<ActionLock> {
    let path = lock_path(ip);
    std::fs::create_dir_all(LOCK_DIR)?;
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => return Ok(ActionLock { _lock: lock }),
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => file,
        Err((_, e)) => return Err(e.into()),
    };
    log::info!(
        "{label}: waiting for another ip-ra action on {ip} ({})",
        path.display()
    );
    match Flock::lock(file, FlockArg::LockExclusive) {
        Ok(lock) => Ok(ActionLock { _lock: lock }),
        Err((_, e)) => Err(e.into()),
    }
}
