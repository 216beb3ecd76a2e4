//! Files replaced whole: a reader sees the old content or the new, never a part, and a power
//! cut loses neither (pikemon's status and paths files, ifcheckd's state file).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Writes a file atomically: a temporary file in the same directory, fsync, rename, then
/// fsync of the directory, so a power cut cannot lose the rename (and with it the write).
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    write_replacing(path, data, true)
}

/// `write_atomic` without its syncs: for a file that only this run needs (a pid file under
/// /run) and that a loop writes which must not wait for a busy disk. A power cut may lose it.
pub fn replace(path: &Path, data: &[u8]) -> io::Result<()> {
    write_replacing(path, data, false)
}

/// Creates the missing directories above `path` (as pikemon, ldirectord and ifcheckd do for
/// the files they are told to write: their defaults live under /run, a tmpfs). When a part of
/// the way is not a directory, the error names it (ENOTDIR): `create_dir_all` said only "File
/// exists" for `FILE/x.pid` with FILE a regular file.
pub fn create_parent_dirs(path: &Path) -> io::Result<()> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    match fs::create_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) => {
            // The nearest part of the way that is there (followed through symlinks, as the
            // kernel does) and is no directory is the reason.
            let blocking = dir
                .ancestors()
                .filter(|a| !a.as_os_str().is_empty())
                .find_map(|a| fs::metadata(a).ok().map(|m| (a, m)))
                .filter(|(_, m)| !m.is_dir());
            match blocking {
                Some((a, _)) => Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("{} is not a directory", a.display()),
                )),
                None => Err(e),
            }
        }
    }
}

/// Checks that `write_atomic` can replace `path`, writing nothing there: its directories are
/// made (`create_parent_dirs`), a temporary file is created beside it and removed, and a
/// directory at `path` is refused (the rename would be). A daemon calls it at start, so that
/// a file it was told to write and cannot fails the start instead of a log line later.
pub fn check_replaceable(path: &Path) -> io::Result<()> {
    create_parent_dirs(path)?;
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        ));
    }
    let (f, tmp) = create_temp(path)?;
    drop(f);
    fs::remove_file(&tmp)
}

fn write_replacing(path: &Path, data: &[u8], sync: bool) -> io::Result<()> {
    create_parent_dirs(path)?;
    let (mut f, tmp) = create_temp(path)?;
    let result = (|| {
        f.write_all(data)?;
        if !sync {
            return fs::rename(&tmp, path);
        }
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Whether `a` and `b` are one file by any name (the same device and inode); false when
/// either cannot be looked at.
pub fn same_inode(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The writer thread's stack: a path, a file's content and a log line.
const WRITER_STACK: usize = 128 * 1024;

/// What the writer thread does with a path.
enum Op {
    /// `write_atomic` this content; a failure is logged at this level.
    Write(Vec<u8>, log::Level),
    Remove,
}

struct Queue {
    ops: Vec<(PathBuf, Op)>,
    /// The thread holds an op taken off `ops`.
    busy: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Work was queued.
    work: Condvar,
    /// The queue ran empty.
    idle: Condvar,
}

/// Files written off a daemon's loop. `write_atomic` syncs the file and its directory, and
/// on a busy disk one such sync took 0.9 s here (`stress-ng --hdd 3` beside it): a pikemon
/// worker that waited for it sent no HELLO and no sign of life for that long, so its
/// supervisor's watchdog killed it and the peer took over. The loop hands the newest content
/// of a path to this thread and goes on; a newer content (or a removal) replaces one that is
/// not written yet, and the order of the paths is kept.
pub struct Writer {
    shared: Arc<Shared>,
}

impl Writer {
    /// Starts the thread (named `name`).
    pub fn spawn(name: &str) -> io::Result<Writer> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                ops: Vec::new(),
                busy: false,
            }),
            work: Condvar::new(),
            idle: Condvar::new(),
        });
        let s = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(name.to_string())
            // Small: a worker under `realtime` locks all its memory (mlockall), stacks too.
            .stack_size(WRITER_STACK)
            .spawn(move || writer_thread(&s))?;
        Ok(Writer { shared })
    }

    /// Queues `data` for `path` (`write_atomic`); a failure is logged at `on_error`.
    pub fn write(&self, path: &Path, data: Vec<u8>, on_error: log::Level) {
        self.push(path, Op::Write(data, on_error));
    }

    /// Queues the removal of `path` (after what was queued before for other paths).
    pub fn remove(&self, path: &Path) {
        self.push(path, Op::Remove);
    }

    fn push(&self, path: &Path, op: Op) {
        let Ok(mut q) = self.shared.queue.lock() else {
            return;
        };
        q.ops.retain(|(p, _)| p != path);
        q.ops.push((path.to_path_buf(), op));
        self.shared.work.notify_one();
    }

    /// Waits, at most `limit`, until everything queued is written; false if it is not.
    pub fn flush(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let Ok(mut q) = self.shared.queue.lock() else {
            return false;
        };
        while !q.ops.is_empty() || q.busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            q = match self.shared.idle.wait_timeout(q, left) {
                Ok((q, _)) => q,
                Err(_) => return false,
            };
        }
        true
    }
}

fn writer_thread(s: &Shared) {
    loop {
        let (path, op) = {
            let Ok(mut q) = s.queue.lock() else {
                return;
            };
            q.busy = false;
            while q.ops.is_empty() {
                s.idle.notify_all();
                q = match s.work.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
            q.busy = true;
            q.ops.remove(0)
        };
        match op {
            Op::Write(data, level) => {
                if let Err(e) = write_atomic(&path, &data) {
                    log::log!(level, "{}: {e}", path.display());
                }
            }
            Op::Remove => match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => log::warn!("{}: {e}", path.display()),
            },
        }
    }
}

/// Tries at a temporary name before giving up.
const TEMP_TRIES: u32 = 8;

/// A new temporary file beside `path`, `PATH.tmpPID.RANDOM`. Made with O_EXCL|O_NOFOLLOW:
/// whatever already holds the name (a symlink planted by someone who guessed it, a file left
/// by a crash) is neither followed nor truncated, and another name is tried.
fn create_temp(path: &Path) -> io::Result<(fs::File, PathBuf)> {
    let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
    for _ in 0..TEMP_TRIES {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(
            ".tmp{}.{:08x}",
            std::process::id(),
            crate::sys::random::u32()?
        ));
        let tmp = PathBuf::from(tmp);
        match create_new(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Creates `path` (0644 before the umask), failing if anything, even a dangling symlink, is
/// there.
pub(crate) fn create_new(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("habox-writer-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_directory_under_a_regular_file_was_refused_as_file_exists() {
        let d = dir("notdir");
        fs::write(d.join("FILE"), "x").unwrap();
        for path in [d.join("FILE/x.pid"), d.join("FILE/sub/x.pid")] {
            let e = create_parent_dirs(&path).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotADirectory, "{e}");
            assert_eq!(
                e.to_string(),
                format!("{} is not a directory", d.join("FILE").display())
            );
        }
        create_parent_dirs(&d.join("new/sub/x.pid")).unwrap();
        assert!(d.join("new/sub").is_dir());
        let _ = fs::remove_dir_all(&d);
    }

    /// The newest content of a path wins, a removal queued after a write removes, and flush
    /// returns once all of it is on disk.
    #[test]
    fn writer_keeps_the_newest_content_and_the_order_of_a_removal() {
        let d = dir("order");
        let w = Writer::spawn("test-writer").unwrap();
        let (a, b) = (d.join("a"), d.join("b"));
        for i in 0..100 {
            w.write(&a, format!("a {i}\n").into_bytes(), log::Level::Error);
        }
        w.write(&b, b"b\n".to_vec(), log::Level::Error);
        w.remove(&b);
        assert!(w.flush(Duration::from_secs(10)));
        assert_eq!(fs::read_to_string(&a).unwrap(), "a 99\n");
        assert!(!b.exists());
        // Nothing left beside the files: no temporary file stays behind.
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a")]);
        let _ = fs::remove_dir_all(&d);
    }

    /// A write that cannot be done is logged by the thread; the caller neither waits nor
    /// fails, and the thread goes on with the next path.
    #[test]
    fn writer_goes_on_after_a_path_that_cannot_be_written() {
        let d = dir("fail");
        let w = Writer::spawn("test-writer").unwrap();
        let blocked = d.join("file-not-dir");
        fs::write(&blocked, "x").unwrap();
        w.write(&blocked.join("status"), b"x".to_vec(), log::Level::Debug);
        w.write(&d.join("ok"), b"ok".to_vec(), log::Level::Debug);
        assert!(w.flush(Duration::from_secs(10)));
        assert_eq!(fs::read_to_string(d.join("ok")).unwrap(), "ok");
        let _ = fs::remove_dir_all(&d);
    }
}
