//! service=ftp: what the original does with Net::FTP: log in (login/passwd, by default
//! anonymous / ldirectord@HOST), `CWD /`, `TYPE I`, `PASV`, then `RETR <request>` over the
//! passive data connection. Up: the file's content matches receive (an empty receive matches
//! any content, where the original's empty Perl pattern is unpredictable: bug B12).
//!
//! Like Net::FTP called without checking results, a failed `CWD` or `TYPE` does not stop
//! the check; a failed login, `PASV` or `RETR` is down at once (the original would go on and
//! fetch nothing, which is down too). The data connection goes to the real's own address
//! and the port of the 227 reply, never to the address the reply names (Net::FTP trusts it:
//! a hostile or NATed server could point the check at any host, the FTP bounce of RFC 2577
//! §3); an IPv6 real is asked `EPSV` (RFC 2428) instead, which names only a port.
//!
//! Two sockets, one at a time: the control connection until the server accepts `RETR`, then
//! the data connection until the server closes it (RFC 959 §3.2: end of file in stream mode).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

use super::lines::{text, Lines};
use super::{after_reset, connect_finished, connect_nonblocking, is_reset, Check, Poll, MAX_INPUT};
use crate::applets::ldirectord::config::{Real, Receive, Virtual};
use crate::applets::ldirectord::core::Outcome;
use crate::event::Interest;

/// The most a control reply may take before it is garbage.
const MAX_REPLY: usize = 64 * 1024;

/// One complete reply at the start of the control input.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Incomplete,
    /// Code, last line, and where the reply ends in the input.
    Reply(u16, String, usize),
    Garbage(String),
}

/// The code of a reply line (`NNN` then space, `-` or the end), and whether it continues.
fn line_code(line: &str) -> Option<(u16, bool)> {
    let digits = line.get(..3)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code = digits.parse().ok()?;
    match line.as_bytes().get(3) {
        None | Some(b' ') => Some((code, false)),
        Some(b'-') => Some((code, true)),
        Some(_) => None,
    }
}

/// RFC 959 §4.2: a reply is one `NNN text` line, or `NNN-` … up to a line `NNN text`.
/// Read as it arrives: each call resumes where the last one stopped, so a reply dribbled a
/// byte per segment is not scanned again from its start every time.
#[derive(Debug, Default)]
struct ReplyReader {
    lines: Lines,
    /// The code of the multi-line reply being read.
    first: Option<u16>,
    /// Where the reply being read starts.
    start: usize,
}

impl ReplyReader {
    /// The next reply in `input` (everything received, minus what `forget` dropped).
    fn next(&mut self, input: &[u8]) -> Parsed {
        while let Some(raw) = self.lines.next_line(input) {
            let line = text(raw);
            match (self.first, line_code(&line)) {
                (None, Some((code, false))) => return self.complete(code, line),
                (None, Some((code, true))) => self.first = Some(code),
                (None, None) => return Parsed::Garbage(line),
                (Some(c), Some((code, false))) if code == c => return self.complete(code, line),
                (Some(_), _) => {}
            }
        }
        if input.len().saturating_sub(self.start) > MAX_REPLY {
            return Parsed::Garbage("reply too long".into());
        }
        Parsed::Incomplete
    }

    fn complete(&mut self, code: u16, line: String) -> Parsed {
        self.first = None;
        self.start = self.lines.offset();
        Parsed::Reply(code, line, self.start)
    }

    /// The replies read so far take this many bytes at the start of the input.
    fn used(&self) -> usize {
        self.start
    }

    /// The caller dropped the first `used()` bytes of the input.
    fn forget_used(&mut self) {
        self.lines.forget(self.start);
        self.start = 0;
    }
}

/// The first reply of `input`.
#[cfg(test)]
fn parse_reply(input: &[u8]) -> Parsed {
    ReplyReader::default().next(input)
}

/// RFC 959 / RFC 1123 §4.1.2.6: the `h1,h2,h3,h4,p1,p2` anywhere in a 227 reply.
fn parse_pasv(text: &str) -> Option<SocketAddr> {
    text.split(|c: char| !c.is_ascii_digit() && c != ',')
        .find_map(|tok| {
            let n: Vec<u8> = tok
                .split(',')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            match n.as_slice() {
                [a, b, c, d, p1, p2] => Some(SocketAddr::new(
                    IpAddr::from([*a, *b, *c, *d]),
                    u16::from(*p1) << 8 | u16::from(*p2),
                )),
                _ => None,
            }
        })
}

/// RFC 2428 §3: the port in a 229 reply, `(|||port|)` with any delimiter.
fn parse_epsv(text: &str) -> Option<u16> {
    let inner = text.split_once('(')?.1.split_once(')')?.0;
    let delim = inner.chars().next()?;
    let parts: Vec<&str> = inner.split(delim).collect();
    match parts.as_slice() {
        ["", "", "", port, ""] => port.parse().ok().filter(|p| *p != 0),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Greeting,
    User,
    Pass,
    Cwd,
    Type,
    Passive,
    Retr,
}

/// What the session wants after a reply.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    /// Wait for the next reply.
    More,
    Send(Vec<u8>),
    /// Open the data connection, then send `retr_command`.
    OpenData(SocketAddr),
    /// RETR accepted: read the data connection to its end.
    Transfer,
    Done(Outcome),
}

/// The control dialogue: pure, reply by reply.
struct Session {
    stage: Stage,
    login: String,
    passwd: String,
    request: String,
    /// The control connection's peer (EPSV gives only a port).
    peer: SocketAddr,
}

impl Session {
    fn down(what: &str, line: &str) -> Action {
        Action::Done(Outcome::Down(format!("{what}: {line}")))
    }

    fn passive_command(&self) -> &'static [u8] {
        if self.peer.is_ipv4() {
            b"PASV\r\n"
        } else {
            b"EPSV\r\n"
        }
    }

    fn reply(&mut self, code: u16, line: &str) -> Action {
        // 1xx: a preliminary reply; the final one follows (RFC 959 §4.2), except for RETR.
        if code < 200 && self.stage != Stage::Retr {
            return Action::More;
        }
        match self.stage {
            Stage::Greeting if code == 220 => {
                self.stage = Stage::User;
                Action::Send(format!("USER {}\r\n", self.login).into_bytes())
            }
            Stage::Greeting => Self::down("greeting", line),
            Stage::User if code == 331 => {
                self.stage = Stage::Pass;
                Action::Send(format!("PASS {}\r\n", self.passwd).into_bytes())
            }
            Stage::User | Stage::Pass if code == 230 || code == 202 => {
                self.stage = Stage::Cwd;
                Action::Send(b"CWD /\r\n".to_vec())
            }
            Stage::User | Stage::Pass => Self::down("login", line),
            // The original ignores what CWD and TYPE answer.
            Stage::Cwd => {
                self.stage = Stage::Type;
                Action::Send(b"TYPE I\r\n".to_vec())
            }
            Stage::Type => {
                self.stage = Stage::Passive;
                Action::Send(self.passive_command().to_vec())
            }
            Stage::Passive => {
                let addr = match code {
                    227 => parse_pasv(line.get(3..).unwrap_or(""))
                        .map(|named| SocketAddr::new(self.peer.ip(), named.port())),
                    229 => parse_epsv(line).map(|p| SocketAddr::new(self.peer.ip(), p)),
                    _ => return Self::down("passive mode", line),
                };
                match addr {
                    Some(a) => {
                        self.stage = Stage::Retr;
                        Action::OpenData(a)
                    }
                    None => Self::down("passive mode: no address", line),
                }
            }
            Stage::Retr if code < 200 => Action::Transfer,
            Stage::Retr => Self::down("RETR", line),
        }
    }

    fn retr_command(&self) -> Vec<u8> {
        format!("RETR {}\r\n", self.request).into_bytes()
    }
}

/// Judges the retrieved file.
fn judge(content: &[u8], receive: Option<&Receive>) -> Outcome {
    match receive {
        None => Outcome::Up(format!("retrieved {} bytes", content.len())),
        Some(re) if re.is_match(&String::from_utf8_lossy(content)) => {
            Outcome::Up("content matched receive".into())
        }
        Some(_) => Outcome::Down(format!(
            "content ({} bytes) does not match receive",
            content.len()
        )),
    }
}

/// Replays `input` as one server's control replies, then judges it as the retrieved file
/// against `receive`: the socket-free part of the check, for `crate::fuzzing`.
pub(crate) fn replay(input: &[u8], peer: SocketAddr, receive: Option<&Receive>) {
    let mut session = Session {
        stage: Stage::Greeting,
        login: "anonymous".into(),
        passwd: "ldirectord@fw".into(),
        request: "/index.html".into(),
        peer,
    };
    let mut replies = ReplyReader::default();
    let mut end = 0;
    while let Parsed::Reply(code, line, next) = replies.next(input) {
        // A reply takes at least its line break, and never more than there is.
        assert!(next > end && next <= input.len(), "reply ends at {next}");
        end = next;
        if let Action::Done(_) | Action::Transfer = session.reply(code, &line) {
            break;
        }
    }
    let _ = judge(input, receive);
}

enum Phase {
    Connecting,
    Control,
    DataConnecting,
    Transfer,
}

/// The ftp check: the control connection, and the data connection once there is one.
pub struct Ftp {
    control: TcpStream,
    data: Option<TcpStream>,
    phase: Phase,
    session: Session,
    receive: Option<Receive>,
    out: Vec<u8>,
    input: Vec<u8>,
    replies: ReplyReader,
    content: Vec<u8>,
}

/// Writes what it can of `out`.
fn write_some(s: &mut TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    while !out.is_empty() {
        match s.write(out) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads what is there into `into` (at most `max` bytes kept); true at end of stream.
fn read_some(s: &mut TcpStream, into: &mut Vec<u8>, max: usize) -> io::Result<bool> {
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                let room = max.saturating_sub(into.len());
                into.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
                if room <= n {
                    return Ok(true);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

fn down(msg: impl std::fmt::Display) -> Poll {
    Poll::Ready(Outcome::Down(msg.to_string()))
}

impl Ftp {
    /// Connects to the real's control port.
    pub fn start(v: &Virtual, r: &Real, addr: SocketAddr) -> io::Result<Ftp> {
        let (request, receive) = match (&r.request, &r.receive) {
            (Some(q), Some(rc)) => (q.clone(), Some(rc.clone())),
            _ => (v.request.clone(), v.receive.clone()),
        };
        if request.contains(['\r', '\n']) {
            return Err(io::Error::other("ftp request contains a line break"));
        }
        Ok(Ftp {
            control: connect_nonblocking(addr)?,
            data: None,
            phase: Phase::Connecting,
            session: Session {
                stage: Stage::Greeting,
                login: v.login.clone(),
                passwd: v.passwd.clone(),
                request,
                peer: addr,
            },
            receive,
            out: Vec::new(),
            input: Vec::new(),
            replies: ReplyReader::default(),
            content: Vec::new(),
        })
    }

    /// Ends the session politely (best effort, never waits).
    fn quit(&mut self, outcome: Outcome) -> Poll {
        let mut bye = b"QUIT\r\n".to_vec();
        let _ = write_some(&mut self.control, &mut bye);
        Poll::Ready(outcome)
    }

    /// Talks on the control connection until it must wait or the data phase starts.
    fn control(&mut self) -> Option<Poll> {
        if let Err(e) = write_some(&mut self.control, &mut self.out) {
            return Some(down(format!("send: {e}")));
        }
        let eof = match read_some(&mut self.control, &mut self.input, MAX_REPLY + 1) {
            Ok(eof) => eof,
            Err(e) => return Some(down(format!("receive: {e}"))),
        };
        loop {
            let (code, line) = match self.replies.next(&self.input) {
                Parsed::Reply(c, l, _) => (c, l),
                Parsed::Garbage(l) => return Some(down(format!("not an FTP reply: {l}"))),
                Parsed::Incomplete if eof => return Some(down("connection closed")),
                Parsed::Incomplete => {
                    // Drop the replies handled, once per wait (not per reply: a burst of
                    // short replies would move the rest of the input each time).
                    self.input
                        .drain(..self.replies.used().min(self.input.len()));
                    self.replies.forget_used();
                    return Some(Poll::Wait(if self.out.is_empty() {
                        Interest::Read
                    } else {
                        Interest::ReadWrite
                    }));
                }
            };
            match self.session.reply(code, &line) {
                Action::More => {}
                Action::Send(bytes) => {
                    self.out.extend_from_slice(&bytes);
                    if let Err(e) = write_some(&mut self.control, &mut self.out) {
                        return Some(down(format!("send: {e}")));
                    }
                }
                Action::OpenData(addr) => {
                    match connect_nonblocking(addr) {
                        Ok(s) => self.data = Some(s),
                        Err(e) => return Some(self.quit(Outcome::Down(format!("data: {e}")))),
                    }
                    self.phase = Phase::DataConnecting;
                    return None;
                }
                Action::Transfer => {
                    self.phase = Phase::Transfer;
                    return None;
                }
                Action::Done(o) => return Some(self.quit(o)),
            }
        }
    }
}

impl Check for Ftp {
    fn fd(&self) -> Option<RawFd> {
        match (&self.phase, &self.data) {
            (Phase::DataConnecting | Phase::Transfer, Some(d)) => Some(d.as_raw_fd()),
            _ => Some(self.control.as_raw_fd()),
        }
    }

    fn advance(&mut self) -> Poll {
        loop {
            match self.phase {
                Phase::Connecting => match connect_finished(&self.control) {
                    Ok(true) => self.phase = Phase::Control,
                    Ok(false) => return Poll::Wait(Interest::Write),
                    Err(e) => return down(format!("connect: {e}")),
                },
                Phase::Control => {
                    if let Some(p) = self.control() {
                        return p;
                    }
                }
                Phase::DataConnecting => {
                    let Some(d) = &self.data else {
                        return down("no data connection");
                    };
                    match connect_finished(d) {
                        Ok(true) => {
                            self.out = self.session.retr_command();
                            self.phase = Phase::Control;
                        }
                        Ok(false) => return Poll::Wait(Interest::Write),
                        Err(e) => return self.quit(Outcome::Down(format!("data connection: {e}"))),
                    }
                }
                Phase::Transfer => {
                    let Some(d) = self.data.as_mut() else {
                        return down("no data connection");
                    };
                    return match read_some(d, &mut self.content, MAX_INPUT) {
                        Ok(false) => Poll::Wait(Interest::Read),
                        Ok(true) => {
                            let o = judge(&self.content, self.receive.as_ref());
                            self.quit(o)
                        }
                        // A reset after the file arrived ends it, as a close does.
                        Err(e) if is_reset(&e) && !self.content.is_empty() => {
                            let o = judge(&self.content, self.receive.as_ref());
                            self.quit(after_reset(o, Some(format!("data: {e}"))))
                        }
                        Err(e) => self.quit(Outcome::Down(format!("data: {e}"))),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            stage: Stage::Greeting,
            login: "anonymous".into(),
            passwd: "ldirectord@fw".into(),
            request: "/index.html".into(),
            peer: "127.0.0.1:21".parse().unwrap_or_else(|e| panic!("{e}")),
        }
    }

    fn send(s: &str) -> Action {
        Action::Send(s.as_bytes().to_vec())
    }

    #[test]
    fn replies_single_and_multi_line() {
        assert_eq!(parse_reply(b"220 ready\r"), Parsed::Incomplete);
        assert_eq!(
            parse_reply(b"220 ready\r\n331 x"),
            Parsed::Reply(220, "220 ready".into(), 11)
        );
        let multi = b"230-Welcome\r\n text 230 inside\r\n230-more\r\n230 done\r\nNEXT";
        assert_eq!(
            parse_reply(multi),
            Parsed::Reply(230, "230 done".into(), multi.len() - 4)
        );
        assert_eq!(parse_reply(b"230-Welcome\r\n"), Parsed::Incomplete);
        assert!(matches!(
            parse_reply(b"HTTP/1.1 400\r\n"),
            Parsed::Garbage(_)
        ));
        assert!(matches!(parse_reply(b"22\r\n"), Parsed::Garbage(_)));
    }

    /// Issue 16 item 3: a long multi-line reply dribbled a byte per segment was parsed again
    /// from its start on every segment; now each byte is looked at a bounded number of times.
    #[test]
    fn a_dribbled_multi_line_reply_is_read_in_bounded_work_per_byte() {
        let mut reply = Vec::new();
        for i in 0..500 {
            reply.extend_from_slice(format!("230-line {i} {}\r\n", "w".repeat(60)).as_bytes());
        }
        reply.extend_from_slice(b"230 done\r\n");
        let mut r = ReplyReader::default();
        for end in 0..reply.len() {
            assert_eq!(r.next(&reply[..end]), Parsed::Incomplete);
        }
        assert_eq!(
            r.next(&reply),
            Parsed::Reply(230, "230 done".into(), reply.len())
        );
        assert!(
            r.lines.examined() <= 2 * reply.len(),
            "{}",
            r.lines.examined()
        );
        // What was used can be dropped; the next reply is read from there.
        reply.extend_from_slice(b"331 pw");
        r.forget_used();
        let rest = reply.split_off(reply.len() - 6);
        assert_eq!(r.next(&rest), Parsed::Incomplete);
        let mut rest = rest;
        rest.extend_from_slice(b"\r\n");
        assert_eq!(r.next(&rest), Parsed::Reply(331, "331 pw".into(), 8));
    }

    #[test]
    fn passive_addresses() {
        assert_eq!(
            parse_pasv(" Entering Passive Mode (127,0,0,1,195,80)."),
            "127.0.0.1:50000".parse().ok()
        );
        assert_eq!(
            parse_pasv(" =198,51,100,21,4,1"),
            "198.51.100.21:1025".parse().ok()
        );
        assert_eq!(parse_pasv(" (127,0,0,1,195)"), None);
        assert_eq!(parse_pasv(" (256,0,0,1,1,1)"), None);
        assert_eq!(parse_epsv("229 Extended (|||6446|)"), Some(6446));
        assert_eq!(parse_epsv("229 Extended (!!!6446!)"), Some(6446));
        assert_eq!(parse_epsv("229 Extended (|||x|)"), None);
        assert_eq!(parse_epsv("229 (||"), None);
    }

    #[test]
    fn dialogue_as_net_ftp() {
        let mut s = session();
        assert_eq!(s.reply(220, "220 ready"), send("USER anonymous\r\n"));
        assert_eq!(s.reply(331, "331 pw"), send("PASS ldirectord@fw\r\n"));
        assert_eq!(s.reply(230, "230 ok"), send("CWD /\r\n"));
        // A failed CWD or TYPE does not stop the original either.
        assert_eq!(s.reply(550, "550 no"), send("TYPE I\r\n"));
        assert_eq!(s.reply(200, "200 binary"), send("PASV\r\n"));
        assert_eq!(
            s.reply(227, "227 Entering Passive Mode (127,0,0,1,4,0)"),
            Action::OpenData("127.0.0.1:1024".parse().unwrap_or_else(|e| panic!("{e}")))
        );
        assert_eq!(s.retr_command(), b"RETR /index.html\r\n".to_vec());
        assert_eq!(s.reply(150, "150 opening"), Action::Transfer);
    }

    #[test]
    fn pasv_naming_another_host_still_connects_to_the_real() {
        let mut s = session();
        s.stage = Stage::Passive;
        assert_eq!(
            s.reply(227, "227 Entering Passive Mode (198,51,100,99,0,22)"),
            Action::OpenData("127.0.0.1:22".parse().unwrap_or_else(|e| panic!("{e}")))
        );
        assert_eq!(s.reply(150, "150 opening"), Action::Transfer);
    }

    #[test]
    fn failures_are_down_with_the_reply() {
        let mut s = session();
        assert_eq!(
            s.reply(421, "421 too many"),
            Action::Done(Outcome::Down("greeting: 421 too many".into()))
        );
        let mut s = session();
        s.reply(220, "220");
        s.reply(331, "331");
        assert_eq!(
            s.reply(530, "530 Login incorrect."),
            Action::Done(Outcome::Down("login: 530 Login incorrect.".into()))
        );
        s.stage = Stage::Retr;
        assert_eq!(
            s.reply(550, "550 No such file"),
            Action::Done(Outcome::Down("RETR: 550 No such file".into()))
        );
        s.stage = Stage::Passive;
        assert!(matches!(
            s.reply(227, "227 nope"),
            Action::Done(Outcome::Down(_))
        ));
        // A preliminary reply waits for the final one.
        s.stage = Stage::Cwd;
        assert_eq!(s.reply(120, "120 soon"), Action::More);
    }

    #[test]
    fn content_judged_by_receive() {
        let re = Receive::new("Test Page").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(judge(b"a Test Page\n", Some(&re)), Outcome::Up(_)));
        assert!(matches!(judge(b"other", Some(&re)), Outcome::Down(_)));
        assert!(matches!(judge(b"", None), Outcome::Up(_)));
    }

    #[test]
    fn garbage_never_panics() {
        const ALPHABET: &[u8] = b"0123456789 -,|()\r\n\xff2";
        let mut seed = 0x2545_f491_u32;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    // Mostly digits, separators and line ends, to reach the deep paths.
                    ALPHABET[seed as usize % ALPHABET.len()]
                })
                .collect();
            let _ = parse_reply(&bytes);
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_pasv(&text);
            let _ = parse_epsv(&text);
            let mut s = session();
            for stage in [Stage::Greeting, Stage::Passive, Stage::Retr] {
                s.stage = stage;
                if let Some(l) = text.get(..3).and_then(|d| d.parse::<u16>().ok()) {
                    let _ = s.reply(l, &text);
                }
            }
        }
    }
}
