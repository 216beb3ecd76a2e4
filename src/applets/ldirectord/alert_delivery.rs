//! Delivering an alert without stalling the loop: each delivery is a job like a check.
//! `smtp=`: a host name is resolved by getaddrinfo in a thread that sends the answer to a
//! socket pair the loop waits on (a resolver that never answers costs the mail, never the
//! checks); one thread per name at a time, its answer going to every alert that waits for
//! it, so a burst of alerts is one lookup. Then the SMTP dialogue runs as a `TcpCheck`.
//! Without `smtp=`: the message goes to `sendmail -t -i` through a non-blocking pipe,
//! written as it drains.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Mutex;

use super::alert::{Message, SmtpSend};
use super::check::{self, Check, Poll, TcpCheck};
use super::core::Outcome;
use crate::event::Interest;

/// The mail port (the original's Net::SMTP default).
const SMTP_PORT: u16 = 25;

/// Names being looked up, each with the socket ends of the alerts waiting for the answer.
static LOOKUPS: Mutex<Vec<(String, Vec<UnixDatagram>)>> = Mutex::new(Vec::new());

/// Waits for the answer about `name`: joins its running lookup, or starts one.
fn look_up(name: &str) -> io::Result<UnixDatagram> {
    let (ours, theirs) = UnixDatagram::pair()?;
    ours.set_nonblocking(true)?;
    let mut lookups = LOOKUPS
        .lock()
        .map_err(|_| io::Error::other("lookup table poisoned"))?;
    if let Some((_, waiting)) = lookups.iter_mut().find(|(n, _)| n == name) {
        waiting.push(theirs);
        return Ok(ours);
    }
    let owned = name.to_string();
    std::thread::Builder::new()
        .name("smtp-lookup".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let addr = (owned.as_str(), SMTP_PORT)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next());
            let text = addr.map(|a| a.to_string()).unwrap_or_default();
            let waiting = LOOKUPS.lock().ok().and_then(|mut l| {
                let i = l.iter().position(|(n, _)| *n == owned)?;
                Some(l.swap_remove(i).1)
            });
            for w in waiting.unwrap_or_default() {
                // An alert that timed out meanwhile has closed its end: nobody to tell.
                let _ = w.send(text.as_bytes());
            }
        })?;
    lookups.push((name.to_string(), vec![theirs]));
    Ok(ours)
}

enum Phase {
    /// Waiting for the lookup's answer (`"ADDR:PORT"`, empty when none).
    Resolving {
        answer: UnixDatagram,
        server: String,
        send: Option<SmtpSend>,
    },
    Sending(Box<TcpCheck<SmtpSend>>),
}

/// One alert to an SMTP server (`smtp=`).
pub struct SmtpDelivery {
    phase: Phase,
}

impl SmtpDelivery {
    /// Starts delivering `msg` to `server` (an address, or a name looked up off the loop).
    pub fn start(server: &str, msg: Message, host: &str) -> io::Result<SmtpDelivery> {
        let send = SmtpSend::new(msg, host);
        if let Ok(ip) = server.parse::<IpAddr>() {
            let c = TcpCheck::start(SocketAddr::new(ip, SMTP_PORT), send, false)?;
            return Ok(SmtpDelivery {
                phase: Phase::Sending(Box::new(c)),
            });
        }
        Ok(SmtpDelivery {
            phase: Phase::Resolving {
                answer: look_up(server)?,
                server: server.to_string(),
                send: Some(send),
            },
        })
    }
}

impl Check for SmtpDelivery {
    fn fd(&self) -> Option<RawFd> {
        match &self.phase {
            Phase::Resolving { answer, .. } => Some(answer.as_raw_fd()),
            Phase::Sending(c) => c.fd(),
        }
    }

    fn advance(&mut self) -> Poll {
        if let Phase::Resolving {
            answer,
            server,
            send,
        } = &mut self.phase
        {
            let mut buf = [0u8; 128];
            let text = match answer.recv(&mut buf) {
                Ok(n) => String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).to_string(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Poll::Wait(Interest::Read)
                }
                Err(e) => return Poll::Ready(Outcome::Down(format!("lookup of {server}: {e}"))),
            };
            let Ok(addr) = text.parse::<SocketAddr>() else {
                return Poll::Ready(Outcome::Down(format!(
                    "cannot resolve smtp server {server}"
                )));
            };
            let Some(send) = send.take() else {
                return Poll::Ready(Outcome::Down("no message".into()));
            };
            match TcpCheck::start(addr, send, false) {
                Ok(c) => self.phase = Phase::Sending(Box::new(c)),
                Err(e) => return Poll::Ready(Outcome::Down(format!("{addr}: {e}"))),
            }
        }
        match &mut self.phase {
            Phase::Sending(c) => c.advance(),
            Phase::Resolving { .. } => Poll::Ready(Outcome::Down("no address".into())),
        }
    }
}

/// One alert handed to sendmail (no `smtp=`), as the original's Mail::Send does.
pub struct SendmailDelivery {
    stdin: Option<ChildStdin>,
    data: Vec<u8>,
}

/// The mail program (`-t`: recipients from the headers; `-i`: a lone dot is text).
const SENDMAIL: &str = "/usr/sbin/sendmail";

impl SendmailDelivery {
    pub fn start(msg: &Message) -> io::Result<SendmailDelivery> {
        Self::start_program(SENDMAIL, &["-t", "-i"], msg.sendmail_text().into_bytes())
    }

    /// Runs `program args` and feeds it `data` on stdin; the child is reaped on SIGCHLD.
    fn start_program(program: &str, args: &[&str], data: Vec<u8>) -> io::Result<Self> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("{program}: {e}")))?;
        let stdin = child.stdin.take();
        check::external::adopt(child);
        let stdin = stdin.ok_or_else(|| io::Error::other(format!("{program}: no stdin")))?;
        set_nonblocking(&stdin)?;
        Ok(SendmailDelivery {
            stdin: Some(stdin),
            data,
        })
    }
}

fn set_nonblocking(f: &impl AsFd) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let fl = fcntl(f, FcntlArg::F_GETFL)?;
    fcntl(
        f,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(fl) | OFlag::O_NONBLOCK),
    )?;
    Ok(())
}

impl Check for SendmailDelivery {
    fn fd(&self) -> Option<RawFd> {
        self.stdin.as_ref().map(AsRawFd::as_raw_fd)
    }

    fn advance(&mut self) -> Poll {
        let Some(stdin) = self.stdin.as_mut() else {
            return Poll::Ready(Outcome::Down("sendmail: no stdin".into()));
        };
        while !self.data.is_empty() {
            match stdin.write(&self.data) {
                Ok(0) => return Poll::Ready(Outcome::Down("sendmail: write returned 0".into())),
                Ok(n) => {
                    self.data.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Poll::Wait(Interest::Write)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Outcome::Down(format!("sendmail: {e}"))),
            }
        }
        // End of the message: sendmail sees EOF.
        self.stdin = None;
        Poll::Ready(Outcome::Up("handed to sendmail".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mail_program_that_does_not_read_never_blocks_the_writer() {
        // More than a pipe holds (64 KiB): a blocking write would hang here.
        let data = vec![b'x'; 1 << 20];
        let mut d = SendmailDelivery::start_program("/bin/sh", &["-c", "sleep 1"], data)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(d.advance(), Poll::Wait(Interest::Write)));
        assert!(d.data.len() < 1 << 20, "part was written");
    }

    #[test]
    fn a_mail_program_that_reads_gets_everything_then_eof() {
        let mut d = SendmailDelivery::start_program("/bin/sh", &["-c", "cat >/dev/null"], {
            b"Subject: x\n\nbody\n".to_vec()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(d.advance(), Poll::Ready(Outcome::Up(_))));
        assert_eq!(d.fd(), None);
    }

    #[test]
    fn every_alert_waiting_for_a_name_gets_the_answer() {
        let name = "localhost";
        let a = look_up(name).unwrap_or_else(|e| panic!("{e}"));
        let b = look_up(name).unwrap_or_else(|e| panic!("{e}"));
        for s in [a, b] {
            s.set_nonblocking(false).unwrap_or_else(|e| panic!("{e}"));
            let mut buf = [0u8; 128];
            let n = s.recv(&mut buf).unwrap_or_else(|e| panic!("{e}"));
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let addr: SocketAddr = text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(addr.port(), SMTP_PORT);
            assert!(addr.ip().is_loopback(), "{addr}");
        }
        let left = LOOKUPS.lock().map(|l| l.len()).unwrap_or(1);
        assert_eq!(left, 0);
    }

    #[test]
    fn an_smtp_address_needs_no_lookup() {
        let m = Message::new("h", None, "a@x", "s", "running", None, None);
        let d = SmtpDelivery::start("127.0.0.1", m, "h").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(d.phase, Phase::Sending(_)));
    }
}
