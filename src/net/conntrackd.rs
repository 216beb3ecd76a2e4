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
//!
//! Two ways to use it: `request` blocks until the reply or the deadline (conntrack-ra, a
//! one-shot command), `Exchange` never blocks and is driven from an event loop (pikemon's
//! worker, which must not stall on a hung daemon).

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
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
    /// The socket file does not exist (or a part of its path is not a directory): the daemon
    /// is not running.
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
    match connect(fd.as_raw_fd(), &addr) {
        Ok(()) => Ok(UnixStream::from(fd)),
        // A part of the path that is not a directory: nothing can listen there either.
        Err(Errno::ENOENT | Errno::ENOTDIR) => Err(ControlError::Absent(path.to_path_buf())),
        Err(Errno::ECONNREFUSED) => Err(ControlError::Refused(path.to_path_buf())),
        // The listener's accept queue is full: nobody accepts, the daemon is stuck.
        Err(Errno::EAGAIN) => Err(ControlError::Timeout(path.to_path_buf(), Request::Stats)),
        Err(e) => Err(io_err(e)),
    }
}

/// One request in flight on a non-blocking socket: `start` connects and sends the code,
/// `advance` (when the fd is readable, or at the deadline) reads what arrived and says
/// whether the reply is complete. Nothing in it ever blocks.
#[derive(Debug)]
pub struct Exchange {
    path: PathBuf,
    req: Request,
    stream: UnixStream,
    deadline: Instant,
    reply: Vec<u8>,
}

/// What `Exchange::advance` found.
#[derive(Debug)]
pub enum Progress {
    /// The daemon has not finished; wait for the fd or the deadline.
    Pending,
    /// The reply text (the daemon closed the connection) or why there is none.
    Done(Result<String, ControlError>),
}

impl Exchange {
    /// Connects to `path` and sends `req`. An absent, refused or full socket fails at once.
    pub fn start(path: &Path, req: Request, deadline: Instant) -> Result<Exchange, ControlError> {
        let mut stream = connect_nonblocking(path).map_err(|e| match e {
            ControlError::Timeout(p, _) => ControlError::Timeout(p, req),
            e => e,
        })?;
        // Four bytes on a fresh connection always fit the socket buffer.
        stream
            .write_all(&req.code().to_ne_bytes())
            .map_err(|e| timeout_or_io(path, req, e))?;
        Ok(Exchange {
            path: path.to_path_buf(),
            req,
            stream,
            deadline,
            reply: Vec::new(),
        })
    }

    /// The request in flight.
    pub fn request(&self) -> Request {
        self.req
    }

    /// When it counts as unanswered.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Reads what is there without blocking; past the deadline an unfinished reply is a
    /// timeout.
    pub fn advance(&mut self, now: Instant) -> Progress {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Progress::Done(Ok(self.text())),
                Ok(n) => {
                    let room = MAX_REPLY.saturating_sub(self.reply.len());
                    let take = buf.get(..n.min(room)).unwrap_or_default();
                    self.reply.extend_from_slice(take);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Progress::Done(Ok(self.text()))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if now >= self.deadline {
                        return Progress::Done(Err(ControlError::Timeout(
                            self.path.clone(),
                            self.req,
                        )));
                    }
                    return Progress::Pending;
                }
                Err(e) => return Progress::Done(Err(ControlError::Io(self.path.clone(), e))),
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.reply).into_owned()
    }
}

impl AsRawFd for Exchange {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

/// `current active connections` of the `cache external:` block of a STATS reply.
pub fn external_entries(stats: &str) -> Option<u64> {
    cache_entries(stats, "external")
}

/// `current active connections` of the `cache internal:` block of a STATS reply.
pub fn internal_entries(stats: &str) -> Option<u64> {
    cache_entries(stats, "internal")
}

fn cache_entries(stats: &str, which: &str) -> Option<u64> {
    let header = format!("cache {which}:");
    let mut in_block = false;
    for line in stats.lines() {
        if line.starts_with("cache ") {
            in_block = line.trim_end() == header;
            continue;
        }
        if in_block {
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
            let dir = std::env::temp_dir().join(format!("ctd-{}-{name}", std::process::id()));
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
        assert_eq!(internal_entries(stats), Some(7));
        assert_eq!(external_entries("garbage\n\u{0}"), None);
    }

    #[test]
    fn exchange_never_blocks_and_completes_on_eof() {
        let tmp = Tmp::new("xeof");
        let path = tmp.ctl();
        let listener = UnixListener::bind(&path).unwrap();
        let start = Instant::now();
        let mut x =
            Exchange::start(&path, Request::CommitAll, start + Duration::from_secs(5)).unwrap();
        // Nobody has accepted yet: pending, at once.
        assert!(matches!(x.advance(Instant::now()), Progress::Pending));
        let (mut s, _) = listener.accept().unwrap();
        let mut code = [0u8; 4];
        s.read_exact(&mut code).unwrap();
        assert_eq!(i32::from_ne_bytes(code), 46);
        s.write_all(b"done\n").unwrap();
        drop(s);
        match x.advance(Instant::now()) {
            Progress::Done(Ok(t)) => assert_eq!(t, "done\n"),
            other => panic!("{other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn exchange_with_a_silent_daemon_times_out_at_its_deadline() {
        let tmp = Tmp::new("xhung");
        let path = tmp.ctl();
        let _listener = UnixListener::bind(&path).unwrap();
        let start = Instant::now();
        let deadline = start + Duration::from_millis(50);
        let mut x = Exchange::start(&path, Request::CommitAll, deadline).unwrap();
        assert!(matches!(x.advance(start), Progress::Pending));
        assert!(matches!(
            x.advance(deadline),
            Progress::Done(Err(ControlError::Timeout(_, Request::CommitAll)))
        ));
        assert!(matches!(
            Exchange::start(&tmp.0.join("none"), Request::Stats, deadline),
            Err(ControlError::Absent(_))
        ));
    }
}
