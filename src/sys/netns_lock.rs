//! A lock held per network namespace, whatever paths a daemon's config names: an exclusive
//! `flock` on `/run/NAME-net-INODE.lock`, INODE being the namespace's (`/proc/self/ns/net`).
//! The kernel frees it when its holder exits however it exits. /run is root's alone: an
//! abstract UNIX socket name would leave no file, but any local user of the namespace could
//! take it first, and the daemon would never start again.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use nix::fcntl::{Flock, FlockArg};

/// Where the lock files are: a directory only root may write in.
const LOCK_DIR: &str = "/run";

/// The held lock; on drop the file is removed, then the lock released (a namespace made and
/// deleted by each test would leave a file each otherwise).
#[derive(Debug)]
pub struct NetnsLock {
    path: PathBuf,
    _lock: Flock<File>,
}

impl NetnsLock {
    /// Takes `name` in this network namespace: `Ok(None)` when another process holds it.
    pub fn acquire(name: &str) -> io::Result<Option<NetnsLock>> {
        let path = lock_path(name)?;
        // A holder that stopped removed the file between our open and our lock: the lock
        // taken is on a file nobody else will open again, so take the new one.
        for _ in 0..3 {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)?;
            let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => lock,
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Ok(None),
                Err((_, e)) => return Err(e.into()),
            };
            let held = lock.metadata()?.ino();
            if std::fs::metadata(&path).is_ok_and(|m| m.ino() == held) {
                return Ok(Some(NetnsLock { path, _lock: lock }));
            }
        }
        Err(io::Error::other(format!(
            "{}: removed and made again while it was being locked",
            path.display()
        )))
    }
}

impl Drop for NetnsLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `/run/NAME-net-INODE.lock` for this process's network namespace.
fn lock_path(name: &str) -> io::Result<PathBuf> {
    let ino = std::fs::metadata("/proc/self/ns/net")?.ino();
    Ok(PathBuf::from(LOCK_DIR).join(format!("{name}-net-{ino}.lock")))
}

/// Whether process `pid` runs in this process's network namespace.
pub fn same_netns(pid: i32) -> bool {
    let ours = std::fs::read_link("/proc/self/ns/net");
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net"));
    matches!((ours, theirs), (Ok(a), Ok(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let name = format!("habox-test-{}", std::process::id());
        let first = NetnsLock::acquire(&name).unwrap();
        assert!(first.is_some());
        assert!(NetnsLock::acquire(&name).unwrap().is_none());
        drop(first);
        let again = NetnsLock::acquire(&name).unwrap();
        assert!(again.is_some());
        assert!(same_netns(std::process::id() as i32));
        assert!(lock_path(&name).unwrap().exists());
        drop(again);
        assert!(!lock_path(&name).unwrap().exists(), "removed with the lock");
    }
}
