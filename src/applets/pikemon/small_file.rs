//! Reading the small files pikemon is pointed at (its config, key files, its status file) without
//! ever blocking or running out of memory: a path that names a FIFO, a device such as
//! /dev/zero, or a runaway file is an error, not a hang or an endless read.

use std::fmt;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Why a small file could not be read.
#[derive(Debug)]
pub enum Error {
    /// open(2) or read(2) failed.
    Io(io::Error),
    /// A FIFO, a device, a socket or a directory.
    NotRegular,
    /// Longer than the limit given.
    TooLong(u64),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::NotRegular => write!(f, "not a regular file"),
            Error::TooLong(limit) => write!(f, "longer than {limit} bytes"),
        }
    }
}

impl std::error::Error for Error {}

/// The text of the regular file `path`, at most `limit` bytes (see `read_bytes`).
pub fn read(path: &Path, limit: u64) -> Result<String, Error> {
    let bytes = read_bytes(path, limit)?;
    String::from_utf8(bytes).map_err(|e| Error::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
}

/// The bytes of the regular file `path`, at most `limit`. Opened non-blocking (a FIFO
/// without a writer would block open(2) itself) and read only when it is a regular file.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(Error::Io)?;
    if !f.metadata().map_err(Error::Io)?.is_file() {
        return Err(Error::NotRegular);
    }
    let mut bytes = Vec::new();
    f.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(Error::Io)?;
    if bytes.len() as u64 > limit {
        return Err(Error::TooLong(limit));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_directories_and_long_files_are_errors_at_once() {
        let dir = std::env::temp_dir().join(format!("pikesmall{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(
            read(Path::new("/dev/zero"), 100),
            Err(Error::NotRegular)
        ));
        assert!(matches!(read(&dir, 100), Err(Error::NotRegular)));
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRUSR).unwrap();
        assert!(matches!(read(&fifo, 100), Err(Error::NotRegular)));
        let f = dir.join("f");
        std::fs::write(&f, "0123456789").unwrap();
        assert_eq!(read(&f, 10).unwrap(), "0123456789");
        assert_eq!(read(&f, 9).unwrap_err().to_string(), "longer than 9 bytes");
        assert!(matches!(read(&dir.join("none"), 9), Err(Error::Io(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
