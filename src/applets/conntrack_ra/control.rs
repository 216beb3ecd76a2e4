//! conntrackd's UNIX control socket, spoken directly (no `conntrackd -C CFG -X` fork).
//!
//! The protocol (conntrack-tools src/local.c, include/conntrackd.h; verified with strace against
//! conntrackd 1.4.7): connect a SOCK_STREAM socket to `General { UNIX { Path } }`, send the
//! request code as one native-endian `int`, read text until the daemon closes the connection.
//! There is no status in the reply: a request the daemon took is a request that "worked".
//! Commit is synchronous: the daemon keeps the connection until the commit has finished, so
//! reading to EOF waits for it.
//!
//! The connect is non-blocking: a stopped (SIGSTOP) daemon with a full accept queue would
//! otherwise block `connect` forever; `EAGAIN` there means "hung", like a reply that never comes.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};

/// Request codes (conntrackd.h). Only the ones the agent sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `-k`: shut down.
    Kill,
    /// `-s`: statistics; the liveness probe.
    Stats,
    /// `-B`: send a bulk update of our internal cache to the peers.
    SendBulk,
    /// `-n`: ask the peers for a full resync.
    RequestResync,
    /// `-t`: purge the kernel table after PurgeTimeout.
    ResetTimers,
    /// `-f internal`.
    FlushInternal,
    /// `-R`: resync the internal cache with the kernel tables.
    ResyncAll,
    /// `-f`: flush internal and external caches.
    FlushAll,
    /// `-c`: commit the external caches to the kernel.
    CommitAll,
}

impl Request {
    /// The code on the wire.
    pub fn code(self) -> i32 {
        match self {
            Request::Kill => 20,
            Request::Stats => 21,
            Request::SendBulk => 22,
            Request::RequestResync => 23,
            Request::ResetTimers => 26,
            Request::FlushInternal => 33,
            Request::ResyncAll => 44,
            Request::FlushAll => 45,
            Request::CommitAll => 46,
        }
    }

    /// conntrackd's client option for the same request (for messages).
    pub fn option(self) -> &'static str {
        match self {
            Request::Kill => "-k",
            Request::Stats => "-s",
            Request::SendBulk => "-B",
            Request::RequestResync => "-n",
            Request::ResetTimers => "-t",
            Request::FlushInternal => "-f internal",
            Request::ResyncAll => "-R",
            Request::FlushAll => "-f",
            Request::CommitAll => "-c",
        }
    }
}

/// Why a request did not get through.
#[derive(Debug)]
pub enum ControlError {
    /// The socket file does not exist: the daemon is not running.
    Absent(PathBuf),
    /// The socket file exists but nobody listens (a crashed daemon left it).
    Refused(PathBuf),
    /// Connected (or queued) but no complete reply in time: the daemon is hung.
    Timeout(PathBuf, Request),
    Io(PathBuf, io::Error),
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::Absent(p) => write!(f, "{}: no such socket", p.display()),
            ControlError::Refused(p) => write!(f, "{}: connection refused", p.display()),
            ControlError::Timeout(p, r) => {
                write!(f, "{}: no reply to {} in time", p.display(), r.option())
            }
            ControlError::Io(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

/// Replies are small text; more than this is read and dropped.
const MAX_REPLY: usize = 256 * 1024;

/// Sends `req` to the daemon listening on `path` and returns its reply text, reading until the
/// daemon closes the connection or `deadline` passes.
pub fn request(path: &Path, req: Request, deadline: Instant) -> Result<String, ControlError> {
    let io_err = |e: io::Error| ControlError::Io(path.to_path_buf(), e);
    let mut stream = connect_nonblocking(path)?;
    stream.set_nonblocking(false).map_err(io_err)?;
    let left = |d: Instant| -> Result<Duration, ControlError> {
        let l = d.saturating_duration_since(Instant::now());
        if l.is_zero() {
            Err(ControlError::Timeout(path.to_path_buf(), req))
        } else {
            Ok(l)
        }
    };
    stream
        .set_write_timeout(Some(left(deadline)?))
        .map_err(io_err)?;
    stream
        .write_all(&req.code().to_ne_bytes())
        .map_err(|e| timeout_or_io(path, req, e))?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        stream
            .set_read_timeout(Some(left(deadline)?))
            .map_err(io_err)?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = MAX_REPLY.saturating_sub(reply.len());
                reply.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // The daemon closed without reading everything we sent: it is gone (kill).
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(timeout_or_io(path, req, e)),
        }
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

fn timeout_or_io(path: &Path, req: Request, e: io::Error) -> ControlError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            ControlError::Timeout(path.to_path_buf(), req)
        }
        _ => ControlError::Io(path.to_path_buf(), e),
    }
}

fn connect_nonblocking(path: &Path) -> Result<UnixStream, ControlError> {
    let io_err = |e: Errno| ControlError::Io(path.to_path_buf(), e.into());
    let addr = UnixAddr::new(path).map_err(io_err)?;
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io_err)?;
    match connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr) {
        Ok(()) => Ok(UnixStream::from(fd)),
        Err(Errno::ENOENT) => Err(ControlError::Absent(path.to_path_buf())),
        Err(Errno::ECONNREFUSED) => Err(ControlError::Refused(path.to_path_buf())),
        // The listener's accept queue is full: nobody accepts, the daemon is stuck.
        Err(Errno::EAGAIN) => Err(ControlError::Timeout(path.to_path_buf(), Request::Stats)),
        Err(e) => Err(io_err(e)),
    }
}

/// `current active connections` of the `cache external:` block of a STATS reply.
pub fn external_entries(stats: &str) -> Option<u64> {
    let mut in_external = false;
    for line in stats.lines() {
        if line.starts_with("cache ") {
            in_external = line.trim_end() == "cache external:";
            continue;
        }
        if in_external {
            if let Some(rest) = line.trim().strip_prefix("current active connections:") {
                return rest.trim().parse().ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A socket path in a directory of its own, removed when the test ends.
    struct Tmp(PathBuf);

    impl Tmp {
        fn new(name: &str) -> Tmp {
            let dir = std::env::temp_dir().join(format!("ctra-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Tmp(dir)
        }

        fn ctl(&self) -> PathBuf {
            self.0.join("ctl")
        }
    }

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn codes_match_conntrackd_h() {
        let codes: Vec<i32> = [
            Request::Kill,
            Request::Stats,
            Request::SendBulk,
            Request::RequestResync,
            Request::ResetTimers,
            Request::FlushInternal,
            Request::ResyncAll,
            Request::FlushAll,
            Request::CommitAll,
        ]
        .iter()
        .map(|r| r.code())
        .collect();
        assert_eq!(codes, vec![20, 21, 22, 23, 26, 33, 44, 45, 46]);
    }

    #[test]
    fn sends_native_int_and_reads_to_eof() {
        let tmp = Tmp::new("eof");
        let path = tmp.ctl();
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut code = [0u8; 4];
            s.read_exact(&mut code).unwrap();
            s.write_all(b"cache external:\ncurrent active connections:\t 3\n")
                .unwrap();
            i32::from_ne_bytes(code)
        });
        let reply = request(
            &path,
            Request::Stats,
            Instant::now() + Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(server.join().unwrap(), 21);
        assert_eq!(external_entries(&reply), Some(3));
    }

    #[test]
    fn absent_and_refused_sockets_are_told_apart() {
        let tmp = Tmp::new("stale");
        let path = tmp.ctl();
        let soon = Instant::now() + Duration::from_secs(1);
        assert!(matches!(
            request(&path, Request::Stats, soon),
            Err(ControlError::Absent(_))
        ));
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        assert!(matches!(
            request(&path, Request::Stats, soon),
            Err(ControlError::Refused(_))
        ));
    }

    #[test]
    fn silent_daemon_times_out() {
        let tmp = Tmp::new("hung");
        let path = tmp.ctl();
        let _listener = UnixListener::bind(&path).unwrap();
        let start = Instant::now();
        let r = request(&path, Request::Stats, start + Duration::from_millis(200));
        assert!(matches!(r, Err(ControlError::Timeout(_, Request::Stats))));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn stats_parser_reads_the_external_block_only() {
        let stats = "cache internal:\ncurrent active connections:\t  7\n\n\
                     cache external:\ncurrent active connections:\t  0\n";
        assert_eq!(external_entries(stats), Some(0));
        assert_eq!(external_entries("garbage\n\u{0}"), None);
    }
}
