//! A lock held per network namespace, whatever paths a daemon's config names: an exclusive
//! `flock` on `/run/NAME-net-INODE.lock`, INODE being the namespace's (`/proc/self/ns/net`).
//! The kernel frees it when its holder exits however it exits. /run is root's alone: an
//! abstract UNIX socket name would leave no file, but any local user of the namespace could
//! take it first, and the daemon would never start again. Files beside the lock
//! (`namespace_path`) carry what the next holder must know, read only if root wrote them.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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
    namespace_path(name, "lock")
}

/// `/run/NAME-net-INODE.SUFFIX`: a file of this network namespace, beside its lock, found
/// whatever paths a daemon's config names. The kernel gives a namespace's inode number again
/// to a later namespace: what such a file names must be checked against the living.
pub fn namespace_path(name: &str, suffix: &str) -> io::Result<PathBuf> {
    let ino = std::fs::metadata("/proc/self/ns/net")?.ino();
    Ok(PathBuf::from(LOCK_DIR).join(format!("{name}-net-{ino}.{suffix}")))
}

/// The text of `path`, a file only root may have written: `Ok(None)` when there is none; an
/// error for a symlink, anything but a regular file, a file owned by another user than root
/// (or this process's), or one that group or others may write.
pub fn read_root_file(path: &Path) -> io::Result<Option<String>> {
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    let euid = nix::unistd::geteuid().as_raw();
    if !meta.file_type().is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(io::Error::other(format!("owned by uid {}", meta.uid())));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "writable by group or others (mode {:o})",
            meta.mode() & 0o777
        )));
    }
    let mut text = String::new();
    // A few lines: a larger file is no record of ours.
    io::Read::read_to_string(&mut io::Read::take(&mut file, 64 * 1024), &mut text)?;
    Ok(Some(text))
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

    #[test]
    fn a_record_others_could_write_or_a_symlink_is_not_read() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let dir = std::env::temp_dir().join(format!("habox-nsrec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("record");
        assert!(read_root_file(&path).unwrap().is_none());
        std::fs::write(&path, "worker 42\n").unwrap();
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o644)).unwrap();
        assert_eq!(
            read_root_file(&path).unwrap().as_deref(),
            Some("worker 42\n")
        );
        for mode in [0o664, 0o646] {
            std::fs::set_permissions(&path, PermissionsExt::from_mode(mode)).unwrap();
            let e = read_root_file(&path).unwrap_err().to_string();
            assert!(e.contains("writable by group or others"), "{e}");
        }
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o600)).unwrap();
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
            let e = read_root_file(&path).unwrap_err().to_string();
            assert!(e.contains("owned by uid 65534"), "{e}");
        }
        let link = dir.join("link");
        symlink(&path, &link).unwrap();
        assert!(read_root_file(&link).is_err());
        assert!(read_root_file(&dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
