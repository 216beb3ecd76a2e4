//! The control protocol between `pikemon -c ...` and the running worker, over a root-only
//! UNIX stream socket: one request line, then the reply `ok` (done), `pending` (an order
//! accepted that has not taken effect within the worker's wait) or `refused: why`, a body,
//! and the worker closes the connection.
//!
//! Requests: `take [VC]`, `drop [VC]`, `maintenance on|off [VC]`, `status`, `status-json`
//! (VC: a virtual cluster's name or id; none = all).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A control request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Take(Option<String>),
    Drop(Option<String>),
    /// `maintenance on|off [VC]`: hand the role over and stay Backup (kept across
    /// restarts) until `off`.
    Maintenance {
        on: bool,
        vc: Option<String>,
    },
    Status {
        json: bool,
    },
}

impl Request {
    /// Parses one request line.
    pub fn parse(line: &str) -> Result<Request, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["take"] => Ok(Request::Take(None)),
            ["take", vc] => Ok(Request::Take(Some(vc.to_string()))),
            ["drop"] => Ok(Request::Drop(None)),
            ["drop", vc] => Ok(Request::Drop(Some(vc.to_string()))),
            ["maintenance", on @ ("on" | "off")] => Ok(Request::Maintenance {
                on: *on == "on",
                vc: None,
            }),
            ["maintenance", on @ ("on" | "off"), vc] => Ok(Request::Maintenance {
                on: *on == "on",
                vc: Some(vc.to_string()),
            }),
            ["status"] => Ok(Request::Status { json: false }),
            ["status-json"] => Ok(Request::Status { json: true }),
            ["maintenance"] => {
                Err("'maintenance' needs 'on' or 'off': maintenance on|off [VC]".into())
            }
            ["maintenance", word, ..] if !matches!(*word, "on" | "off") => Err(format!(
                "'maintenance' needs 'on' or 'off', found '{word}': maintenance on|off [VC]"
            )),
            _ => Err(format!("unknown request '{}'", line.trim())),
        }
    }

    /// The request line sent.
    pub fn line(&self) -> String {
        match self {
            Request::Take(None) => "take\n".into(),
            Request::Take(Some(v)) => format!("take {v}\n"),
            Request::Drop(None) => "drop\n".into(),
            Request::Drop(Some(v)) => format!("drop {v}\n"),
            Request::Maintenance { on, vc } => format!(
                "maintenance {}{}\n",
                if *on { "on" } else { "off" },
                vc.as_ref().map_or(String::new(), |v| format!(" {v}"))
            ),
            Request::Status { json: false } => "status\n".into(),
            Request::Status { json: true } => "status-json\n".into(),
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered, or the order has taken effect.
    Done,
    /// The order was accepted and stands, but had not taken effect when the worker stopped
    /// waiting for it (`ORDER_WAIT_MAX`).
    Pending,
    Refused,
}

/// The reply to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub outcome: Outcome,
    /// For a refusal, why; else the body.
    pub text: String,
}

impl Reply {
    pub fn done(text: String) -> Reply {
        Reply {
            outcome: Outcome::Done,
            text,
        }
    }

    pub fn refused(why: impl Into<String>) -> Reply {
        Reply {
            outcome: Outcome::Refused,
            text: why.into(),
        }
    }

    /// The bytes sent.
    pub fn render(&self) -> String {
        match self.outcome {
            Outcome::Done => format!("ok\n{}", self.text),
            Outcome::Pending => format!("pending\n{}", self.text),
            Outcome::Refused => format!("refused: {}\n", self.text.trim_end()),
        }
    }

    /// Parses what the worker sent.
    pub fn parse(text: &str) -> Result<Reply, String> {
        for (head, outcome) in [("ok\n", Outcome::Done), ("pending\n", Outcome::Pending)] {
            if let Some(body) = text.strip_prefix(head) {
                return Ok(Reply {
                    outcome,
                    text: body.to_string(),
                });
            }
        }
        if let Some(why) = text.strip_prefix("refused: ") {
            return Ok(Reply::refused(why.trim_end()));
        }
        Err("garbled reply from the daemon".into())
    }
}

/// The longest the worker keeps an order's connection open waiting for the order to take
/// effect (it waits two dead-intervals and conntrackd's commit-timeout, at most this).
pub const ORDER_WAIT_MAX: Duration = Duration::from_secs(10);

/// How long the client waits for the reply to `req`: an order's comes once it has taken
/// effect, or after `ORDER_WAIT_MAX`.
pub fn reply_timeout(req: &Request) -> Duration {
    match req {
        Request::Status { .. } => Duration::from_secs(5),
        _ => ORDER_WAIT_MAX + Duration::from_secs(5),
    }
}

/// Connects to `socket` within `timeout`. A plain connect waits for good once the listen
/// queue of a stopped daemon is full (every earlier `-c status` of a monitoring script left
/// its connection there); the send timeout bounds an AF_UNIX connect (unix(7)).
fn connect(socket: &Path, timeout: Duration) -> io::Result<UnixStream> {
    use nix::sys::socket::{self as ns, sockopt, AddressFamily, SockFlag, SockType, UnixAddr};
    use std::os::fd::AsRawFd;
    let fd = ns::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let tv = nix::sys::time::TimeVal::new(
        timeout.as_secs().try_into().unwrap_or(i64::MAX),
        timeout.subsec_micros().into(),
    );
    ns::setsockopt(&fd, sockopt::SendTimeout, &tv)?;
    let addr = UnixAddr::new(socket)?;
    ns::connect(fd.as_raw_fd(), &addr).map_err(|e| match e {
        // The timeout: the queue stayed full.
        nix::errno::Errno::EAGAIN => io::Error::from(io::ErrorKind::TimedOut),
        e => io::Error::from(e),
    })?;
    Ok(UnixStream::from(fd))
}

/// Whether a `call` error means the daemon did not answer in time (stopped, hung), not that
/// nothing listens: `TimedOut` when the connection was never taken (a full listen queue),
/// `WouldBlock` when it was and the request went out, but no reply came.
pub fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// Sends `req` to the daemon at `socket` and returns its reply.
pub fn call(socket: &Path, req: &Request, timeout: Duration) -> io::Result<Reply> {
    let mut s = connect(socket, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(req.line().as_bytes())?;
    let mut buf = String::new();
    s.take(1 << 20).read_to_string(&mut buf)?;
    Reply::parse(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Escapes a string for JSON.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::Take(None),
            Request::Take(Some("LAN".into())),
            Request::Drop(Some("2".into())),
            Request::Drop(None),
            Request::Status { json: false },
            Request::Status { json: true },
            Request::Maintenance { on: true, vc: None },
            Request::Maintenance {
                on: false,
                vc: Some("LAN".into()),
            },
        ] {
            assert_eq!(Request::parse(&r.line()), Ok(r));
        }
        assert!(Request::parse("reboot").is_err());
        assert!(Request::parse("maintenance maybe").is_err());
        assert!(Request::parse("take a b").is_err());
    }

    /// `pikemon -c maintenance` said "unknown request 'maintenance'".
    #[test]
    fn maintenance_without_on_or_off_was_called_an_unknown_request() {
        assert_eq!(
            Request::parse("maintenance"),
            Err("'maintenance' needs 'on' or 'off': maintenance on|off [VC]".into())
        );
        assert_eq!(
            Request::parse("maintenance LAN"),
            Err("'maintenance' needs 'on' or 'off', found 'LAN': maintenance on|off [VC]".into())
        );
    }

    /// `pikemon -c status` against a stopped daemon whose listen queue was full (every
    /// earlier call of a monitoring script left its connection there) waited in connect(2)
    /// for good: the read timeout starts only once connected.
    #[test]
    fn status_of_a_stopped_daemon_with_a_full_listen_queue_waited_in_connect_for_good() {
        use nix::sys::socket::{self as ns, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
        use std::os::fd::AsRawFd;
        let dir = std::env::temp_dir().join(format!("pikectl{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl");
        let l = ns::socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        ns::bind(l.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();
        // Backlog 0: one connection waits in the queue, the next finds it full.
        ns::listen(&l, Backlog::new(0).unwrap()).unwrap();
        let status = Request::Status { json: false };
        let short = Duration::from_millis(300);
        let first = call(&path, &status, short).unwrap_err();
        assert!(timed_out(&first), "{first:?}");
        let start = std::time::Instant::now();
        let queued = call(&path, &status, short).unwrap_err();
        assert!(timed_out(&queued), "{queued:?}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn replies_round_trip() {
        let ok = Reply::done("node 1\n".into());
        assert_eq!(Reply::parse(&ok.render()), Ok(ok));
        let pending = Reply {
            outcome: Outcome::Pending,
            text: "vc LAN Take: Backup\n".into(),
        };
        assert_eq!(pending.render(), "pending\nvc LAN Take: Backup\n");
        assert_eq!(Reply::parse(&pending.render()), Ok(pending));
        let no = Reply::refused("no virtual-cluster 'X'");
        assert_eq!(no.render(), "refused: no virtual-cluster 'X'\n");
        assert_eq!(Reply::parse(&no.render()), Ok(no));
        assert!(Reply::parse("").is_err());
        assert_eq!(json_str("a\"b\\\n\u{1}"), "\"a\\\"b\\\\\\n\\u0001\"");
    }
}
