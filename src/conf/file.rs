//! Reading a small config or state file named by an operator without ever blocking: a FIFO
//! given by mistake would hold open(2) until a writer comes (deaf to the cluster's timeout
//! and to SIGTERM), and `/dev/zero` or a huge log would be read until memory runs out.

use std::io::{self, Error, ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens `path` with `O_NONBLOCK`, refuses anything but a regular file of at most `max`
/// bytes, and reads it as UTF-8.
pub fn read_small(path: &Path, max: u64) -> io::Result<String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > max {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("{} bytes, more than the {max} expected", meta.len()),
        ));
    }
    let mut text = String::new();
    file.take(max).read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_directories_and_oversized_files_are_refused() {
        let e = read_small(Path::new("/dev/zero"), 1024).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file");
        assert!(read_small(Path::new("/"), 1024).is_err());
        let f = std::env::temp_dir().join(format!("habox-read-small-{}", std::process::id()));
        std::fs::write(&f, "x".repeat(2048)).unwrap();
        let e = read_small(&f, 1024).unwrap_err();
        assert_eq!(e.to_string(), "2048 bytes, more than the 1024 expected");
        assert_eq!(read_small(&f, 4096).unwrap().len(), 2048);
        let _ = std::fs::remove_file(&f);
    }
}
