//! Files replaced whole: a reader sees the old content or the new, never a part, and a power
//! cut loses neither (pikemon's status and paths files, ifcheckd's state file).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes a file atomically: a temporary file in the same directory, fsync, rename, then
/// fsync of the directory, so a power cut cannot lose the rename (and with it the write).
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            fs::create_dir_all(dir)?;
        }
    }
    let (mut f, tmp) = create_temp(path)?;
    let result = (|| {
        f.write_all(data)?;
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
