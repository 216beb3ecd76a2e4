//! Pid file held with an exclusive `flock` for the daemon's whole life, so a second instance
//! can say `already running [pid N]` and a stale file from a crash is simply taken over.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Why a pid file could not be taken.
#[derive(Debug)]
pub enum PidFileError {
    /// Another live process holds the lock; its pid as written in the file.
    AlreadyRunning(Option<i32>),
    Io(PathBuf, io::Error),
}

impl fmt::Display for PidFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PidFileError::AlreadyRunning(Some(pid)) => write!(f, "already running [pid {pid}]"),
            PidFileError::AlreadyRunning(None) => write!(f, "already running"),
            PidFileError::Io(path, e) => write!(f, "{}: {e}", path.display()),
        }
    }
}

impl std::error::Error for PidFileError {}

/// A held pid file; the lock is released (and the file removed) on drop.
pub struct PidFile {
    path: PathBuf,
    lock: Option<Flock<File>>,
}

impl PidFile {
    /// Takes the lock and writes our pid. Fails with `AlreadyRunning` if another process
    /// holds it.
    pub fn acquire(path: &Path) -> Result<PidFile, PidFileError> {
        let io_err = |e| PidFileError::Io(path.to_path_buf(), e);
        crate::sys::file::create_parent_dirs(path).map_err(io_err)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(PidFileError::AlreadyRunning(read_pid(&mut file)));
            }
            Err((_, e)) => return Err(io_err(e.into())),
        };
        write_pid(&mut lock).map_err(io_err)?;
        Ok(PidFile {
            path: path.to_path_buf(),
            lock: Some(lock),
        })
    }

    /// The pid of the live process holding `path`, if any (without taking the lock). A
    /// holder that has just taken the lock and not yet written its pid is waited for (up to
    /// 200 ms) rather than reported as none.
    pub fn holder(path: &Path) -> Option<i32> {
        let file = File::open(path).ok()?;
        let mut file = match Flock::lock(file, FlockArg::LockSharedNonblock) {
            Ok(_) => return None,
            Err((file, _)) => file,
        };
        for _ in 0..200 {
            if let Some(pid) = read_pid(&mut file) {
                return Some(pid);
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        None
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the lock across `exec`-less forks: the child inherits the open description.
    /// Rewrites the pid (after daemonizing the pid changes). The new line is written over the
    /// old one before the file is cut to its length, so a reader never finds it empty (it
    /// reads the first line only).
    pub fn rewrite_pid(&mut self) -> io::Result<()> {
        match self.lock.as_mut() {
            Some(lock) => write_pid(lock),
            None => Ok(()),
        }
    }

    /// Gives up the lock without removing the file (a successor reuses it).
    pub fn release_keep_file(mut self) {
        self.lock = None;
        std::mem::forget(self);
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        self.lock = None;
    }
}

/// Writes our pid over the file's first line, then cuts the file to that line: a reader
/// never finds it empty (it reads the first line only), whether a stale pid or an earlier
/// one of ours was there.
fn write_pid(file: &mut File) -> io::Result<()> {
    let line = format!("{}\n", std::process::id());
    file.rewind()?;
    file.write_all(line.as_bytes())?;
    file.set_len(line.len() as u64)?;
    file.sync_all()
}

fn read_pid(file: &mut File) -> Option<i32> {
    let mut s = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut s).ok()?;
    s.lines().next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_reports_the_holder() {
        let dir = std::env::temp_dir().join(format!("habox-pid-{}", std::process::id()));
        let path = dir.join("t.pid");
        let held = PidFile::acquire(&path).unwrap();
        // A second open file description conflicts with the first lock even in one process.
        match PidFile::acquire(&path) {
            Err(PidFileError::AlreadyRunning(Some(pid))) => {
                assert_eq!(pid, std::process::id() as i32)
            }
            other => panic!("expected AlreadyRunning, got {:?}", other.map(|_| ())),
        }
        assert_eq!(PidFile::holder(&path), Some(std::process::id() as i32));
        drop(held);
        assert!(!path.exists());
        assert_eq!(PidFile::holder(&path), None);
        let again = PidFile::acquire(&path).unwrap();
        drop(again);
        let _ = std::fs::remove_dir(&dir);
    }

    /// The rewrite after daemonizing cut the file to nothing before writing the new pid; a
    /// reader in between found no pid and took the file for stale.
    #[test]
    fn a_reader_found_the_pid_file_empty_while_it_was_rewritten() {
        let dir = std::env::temp_dir().join(format!("habox-pid3-{}", std::process::id()));
        let path = dir.join("rw.pid");
        let mut held = PidFile::acquire(&path).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut empty = 0;
                let mut reads = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut f = File::open(&path).unwrap();
                    if read_pid(&mut f).is_none() {
                        empty += 1;
                    }
                    reads += 1;
                }
                (empty, reads)
            })
        };
        for _ in 0..3_000 {
            held.rewrite_pid().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (empty, reads) = reader.join().unwrap();
        assert_eq!(empty, 0, "{empty} of {reads} reads found no pid");
        drop(held);
        let _ = std::fs::remove_dir(&dir);
    }

    #[test]
    fn a_pid_file_under_a_regular_file_was_refused_as_file_exists() {
        let dir = std::env::temp_dir().join(format!("habox-pid4-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("FILE"), "").unwrap();
        let path = dir.join("FILE/x.pid");
        let e = PidFile::acquire(&path)
            .err()
            .expect("a pid file under a file");
        assert_eq!(
            e.to_string(),
            format!(
                "{}: {} is not a directory",
                path.display(),
                dir.join("FILE").display()
            )
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn stale_file_without_lock_is_taken_over() {
        let dir = std::env::temp_dir().join(format!("habox-pid2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stale.pid");
        std::fs::write(&path, "999999\n").unwrap();
        let held = PidFile::acquire(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        drop(held);
        let _ = std::fs::remove_dir(&dir);
    }
}
