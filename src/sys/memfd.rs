//! Sealed in-memory files (memfd_create(2), fcntl(2) F_ADD_SEALS): bytes a process hands to
//! its children that nobody can change afterwards, whatever happens to the files they came
//! from.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::resource::{getrlimit, Resource};

/// The seals every such file carries: no write, no resize, no change of the seals.
fn seals() -> SealFlag {
    SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL
}

/// A new close-on-exec memfd named `name` (shown in /proc/PID/fd) holding `bytes`, sealed.
/// A memfd counts against RLIMIT_FSIZE like any file: past it write(2) would kill the process
/// with SIGXFSZ, so a limit too low is an error said first.
pub fn sealed(name: &str, bytes: &[u8]) -> io::Result<OwnedFd> {
    let (soft, _) = getrlimit(Resource::RLIMIT_FSIZE)?;
    if bytes.len() as u64 > soft {
        return Err(io::Error::other(format!(
            "{} bytes exceed the file size limit (RLIMIT_FSIZE, {soft} bytes)",
            bytes.len()
        )));
    }
    let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
    let mut done = 0;
    while done < bytes.len() {
        match nix::unistd::write(&fd, &bytes[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    fcntl(&fd, FcntlArg::F_ADD_SEALS(seals()))?;
    Ok(fd)
}

/// The whole content of a file made by `sealed`, read from offset 0 whatever the shared
/// offset of its copies (pread(2)); at most `limit` bytes. A file without the seals (an fd
/// that is something else) is an error.
pub fn read_sealed(fd: BorrowedFd<'_>, limit: usize) -> io::Result<Vec<u8>> {
    let have = SealFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GET_SEALS)?);
    if !have.contains(seals()) {
        return Err(io::Error::other("not a sealed memfd"));
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let offset = i64::try_from(out.len()).map_err(io::Error::other)?;
        match nix::sys::uio::pread(fd.as_fd(), &mut buf, offset) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                if out.len() + n > limit {
                    return Err(io::Error::other(format!("longer than {limit} bytes")));
                }
                out.extend_from_slice(&buf[..n]);
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_file_reads_back_whole_and_refuses_every_write() {
        let fd = sealed("t", b"version PIKEMON-1;\n").unwrap();
        assert_eq!(
            read_sealed(fd.as_fd(), 1024).unwrap(),
            b"version PIKEMON-1;\n"
        );
        assert!(nix::sys::uio::pwrite(&fd, b"x", 0).is_err());
        assert!(nix::unistd::ftruncate(&fd, 0).is_err());
        assert!(read_sealed(fd.as_fd(), 4).is_err());
    }

    #[test]
    fn an_unsealed_file_is_no_snapshot() {
        let f = std::fs::File::open("/proc/self/status").unwrap();
        assert!(read_sealed(f.as_fd(), 1 << 20).is_err());
    }
}
