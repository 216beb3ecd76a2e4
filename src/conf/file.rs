//! Reading a small file an operator names (a config, a key, a state or paths file) without
//! ever blocking or running out of memory: a FIFO given by mistake would hold open(2) until a
//! writer comes (deaf to a cluster's timeout and to SIGTERM), and `/dev/zero` or a runaway
//! log would be read until memory runs out. Such a path is an error at once.

use std::fmt;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Why a small file could not be read.
#[derive(Debug)]
pub enum Error {
    /// open(2) or read(2) failed (`NotFound` among them), or the text is not UTF-8.
    Io(io::Error),
    /// A FIFO, a device, a socket or a directory.
    NotRegular,
    /// Its length (as far as it was read) and the limit.
    TooLong(u64, u64),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::NotRegular => write!(f, "not a regular file"),
            Error::TooLong(len, limit) => write!(f, "{len} bytes, more than the {limit} expected"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(e) => e,
            Error::NotRegular => io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
            Error::TooLong(..) => io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
        }
    }
}

impl Error {
    /// The file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// The text of the regular file `path`, at most `limit` bytes (see `read_bytes`).
pub fn read(path: &Path, limit: u64) -> Result<String, Error> {
    let bytes = read_bytes(path, limit)?;
    String::from_utf8(bytes).map_err(|e| Error::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
}

/// The bytes of the regular file `path`, at most `limit`. Opened non-blocking (a FIFO
/// without a writer would block open(2) itself) and read only when it is a regular file; a
/// file longer than `limit` is refused before it is read, and one that grows while it is
/// read is cut at `limit` + 1 and refused too.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(Error::Io)?;
    let meta = f.metadata().map_err(Error::Io)?;
    if !meta.is_file() {
        return Err(Error::NotRegular);
    }
    if meta.len() > limit {
        return Err(Error::TooLong(meta.len(), limit));
    }
    let mut bytes = Vec::new();
    f.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(Error::Io)?;
    if bytes.len() as u64 > limit {
        return Err(Error::TooLong(bytes.len() as u64, limit));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_directories_and_long_files_are_errors_at_once() {
        let dir = std::env::temp_dir().join(format!("habox-conf-file-{}", std::process::id()));
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
        assert_eq!(
            read(&f, 9).unwrap_err().to_string(),
            "10 bytes, more than the 9 expected"
        );
        assert!(read(&dir.join("none"), 10).unwrap_err().is_not_found());
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert!(matches!(read(&f, 10), Err(Error::Io(_))));
        assert_eq!(read_bytes(&f, 10).unwrap(), vec![0xff, 0xfe]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
