//! service=sip: the original's check_sip. An `OPTIONS sip:<login> SIP/2.0` request (RFC 3261
//! §11) with the same Via, Max-Forwards, To, From, Call-ID, CSeq, Contact, Accept and
//! Content-Length: 0 headers, over UDP for protocol=udp and TCP otherwise. Up: the first
//! line of the answer matches `^SIP/2.0 200 OK`. Bounded by negotiatetimeout.
//! Over UDP, the answer is the first datagram that carries our Call-ID (a server copies it
//! into every response, RFC 3261 §8.2.6.2); others are set aside and the check waits on. The
//! original judged the first datagram, so a stranger on the LAN who sprayed "SIP/2.0 200 OK"
//! from the real's address kept a dead server in the table (or a 5xx took a live one out).
//! An ICMP refusal is set aside too (as easy to forge); a closed port times out, named.
//! Two differences, both fixes: the Via names the transport really used (the original
//! always writes `SIP/2.0/UDP`, against §18.1.1, even over TCP), and nothing is printed on
//! stdout (the original prints request and reply there, a debug leftover: bug B10).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use regex_lite::Regex;

use super::lines::{text, Lines};
use super::{
    first_line, random_bytes, refused, Check, Dialogue, Poll, SetAside, Step, TcpCheck,
    DATAGRAMS_PER_WAKE,
};
use crate::applets::ldirectord::config::{Protocol, Virtual};
use crate::applets::ldirectord::core::Outcome;
use crate::event::Interest;

/// The OPTIONS request, headers as the original writes them.
fn request(login: &str, transport: &str, local: SocketAddr, call_id: &str) -> Vec<u8> {
    let host = match local {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    let port = local.port();
    format!(
        "OPTIONS sip:{login} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {host}:{port};branch=z9hG4bKhjhs8ass877\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:{login}>\r\n\
         From: <sip:{login}>;tag=1928301774\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 63104 OPTIONS\r\n\
         Contact: <sip:{login}>\r\n\
         Accept: application/sdp\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// 8 random bytes in hex, as the original's Call-ID.
fn call_id() -> String {
    random_bytes::<8>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The original's success rule for a status line.
fn status_ok(line: &str) -> bool {
    Regex::new(r"^SIP/2.0 200 OK").is_ok_and(|re| re.is_match(line))
}

/// Starts the check of the SIP server at `addr`.
pub fn start(v: &Virtual, addr: SocketAddr) -> io::Result<Box<dyn Check>> {
    if v.protocol == Protocol::Udp {
        return Ok(Box::new(SipUdp::start(v, addr)?));
    }
    Ok(Box::new(TcpCheck::start(
        addr,
        SipTcp::new(&v.login),
        false,
    )?))
}

/// The TCP form: the answer's head is read on the connection.
pub struct SipTcp {
    login: String,
    local: Option<SocketAddr>,
    lines: Lines,
    /// The status line, once it arrived and said 200 OK.
    status: Option<String>,
}

impl SipTcp {
    /// The dialogue alone (`start` connects it); `login` names the OPTIONS request's user.
    pub(crate) fn new(login: &str) -> SipTcp {
        SipTcp {
            login: login.to_string(),
            local: None,
            lines: Lines::new(),
            status: None,
        }
    }
}

impl Dialogue for SipTcp {
    fn needs_local_addr(&self) -> bool {
        true
    }

    fn connected(&mut self, local: SocketAddr) {
        self.local = Some(local);
    }

    fn opening(&mut self) -> (Vec<u8>, bool) {
        let local = self
            .local
            .unwrap_or_else(|| (Ipv4Addr::UNSPECIFIED, 0).into());
        (request(&self.login, "TCP", local, &call_id()), false)
    }

    fn received(&mut self, input: &[u8], eof: bool) -> Step {
        while let Some(raw) = self.lines.next_line(input) {
            match self.status.take() {
                None => {
                    let line = text(raw);
                    if !status_ok(&line) {
                        return Step::Done(Outcome::Down(line));
                    }
                    self.status = Some(line);
                }
                // Like the original, read on to the end of the head (an empty line).
                Some(status) if raw == b"\r\n" || raw == b"\n" => {
                    return Step::Done(Outcome::Up(status))
                }
                Some(status) => self.status = Some(status),
            }
        }
        match self.status.take() {
            Some(status) if eof => Step::Done(Outcome::Up(status)),
            status => {
                self.status = status;
                Step::More
            }
        }
    }
}

/// The UDP form: the first line of the first datagram with our Call-ID decides.
pub struct SipUdp {
    sock: UdpSocket,
    call_id: String,
    set_aside: SetAside,
}

impl SipUdp {
    fn start(v: &Virtual, addr: SocketAddr) -> io::Result<SipUdp> {
        let bind: SocketAddr = if addr.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = UdpSocket::bind(bind)?;
        sock.set_nonblocking(true)?;
        sock.connect(addr)?;
        let local = sock.local_addr()?;
        let call_id = call_id();
        sock.send(&request(&v.login, "UDP", local, &call_id))?;
        Ok(SipUdp {
            sock,
            call_id,
            set_aside: SetAside::default(),
        })
    }
}

/// The Call-ID a SIP message carries (`Call-ID:` or its compact form `i:`, RFC 3261 §7.3.3,
/// names case-insensitive), if it has one in its head.
fn call_id_of(d: &[u8]) -> Option<&str> {
    let head = d.split(|&b| b == b'\n').skip(1);
    for line in head {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return None;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let name = std::str::from_utf8(name).ok()?.trim();
        if name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i") {
            return std::str::from_utf8(value.get(1..)?).ok().map(str::trim);
        }
    }
    None
}

/// One datagram of the UDP form: the answer's outcome when it carries `call_id`, else
/// Err(why it is no answer to our request).
pub(crate) fn judge_reply(d: &[u8], call_id: &str) -> Result<Outcome, String> {
    match call_id_of(d) {
        Some(id) if id == call_id => Ok(judge_datagram(d)),
        Some(id) => Err(format!(
            "SIP: an answer to Call-ID {}",
            crate::applets::ldirectord::server_text::printable(id)
        )),
        None => Err(format!(
            "SIP: a datagram without our Call-ID: {}",
            crate::applets::ldirectord::server_text::printable(&String::from_utf8_lossy(
                d.split(|&b| b == b'\n').next().unwrap_or_default()
            ))
        )),
    }
}

/// The verdict on one datagram.
pub(crate) fn judge_datagram(d: &[u8]) -> Outcome {
    let line = first_line(d).unwrap_or_else(|| String::from_utf8_lossy(d).trim_end().to_string());
    if status_ok(&line) {
        Outcome::Up(line)
    } else {
        Outcome::Down(line)
    }
}

impl Check for SipUdp {
    fn fd(&self) -> Option<RawFd> {
        Some(self.sock.as_raw_fd())
    }

    fn advance(&mut self) -> Poll {
        let mut buf = [0u8; 8192];
        for _ in 0..DATAGRAMS_PER_WAKE {
            match self.sock.recv(&mut buf) {
                Ok(n) => match judge_reply(buf.get(..n).unwrap_or_default(), &self.call_id) {
                    Ok(o) => return Poll::Ready(o),
                    Err(why) => self.set_aside.add(why),
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Poll::Wait(Interest::Read)
                }
                Err(e) if refused(&e) => self.set_aside.add(format!("SIP: {e}")),
                Err(e) => return Poll::Ready(Outcome::Down(format!("SIP: {e}"))),
            }
        }
        // More may wait: poll says so at once, after the other events.
        Poll::Wait(Interest::Read)
    }

    fn note(&self) -> Option<String> {
        self.set_aside.note()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // sipp 3.6.1's answer to the request below (scenario: 200 OK echoing the headers).
    const SIPP_OK: &[u8] = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:46902;branch=z9hG4bKhjhs8ass877\r\nFrom: <sip:ld@test>;tag=1928301774\r\nTo: <sip:ld@test>;tag=27287SIPpTag011\r\nCall-ID: 30fe4891a3d291db\r\nCSeq: 63104 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn request_headers_as_the_original() {
        let local: SocketAddr = "127.0.0.1:46902".parse().unwrap();
        let r = request("ld@test", "UDP", local, "30fe4891a3d291db");
        assert_eq!(
            String::from_utf8(r).unwrap(),
            "OPTIONS sip:ld@test SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:46902;branch=z9hG4bKhjhs8ass877\r\n\
             Max-Forwards: 70\r\n\
             To: <sip:ld@test>\r\n\
             From: <sip:ld@test>;tag=1928301774\r\n\
             Call-ID: 30fe4891a3d291db\r\n\
             CSeq: 63104 OPTIONS\r\n\
             Contact: <sip:ld@test>\r\n\
             Accept: application/sdp\r\n\
             Content-Length: 0\r\n\r\n"
        );
        let v6 = request("x", "TCP", "[2001:db8::1]:5060".parse().unwrap(), "c");
        assert!(String::from_utf8(v6)
            .unwrap()
            .contains("Via: SIP/2.0/TCP [2001:db8::1]:5060;"));
        assert_eq!(call_id().len(), 16);
    }

    #[test]
    fn first_line_decides() {
        assert_eq!(
            judge_datagram(SIPP_OK),
            Outcome::Up("SIP/2.0 200 OK".into())
        );
        assert_eq!(
            judge_datagram(b"SIP/2.0 404 Not Found\r\n\r\n"),
            Outcome::Down("SIP/2.0 404 Not Found".into())
        );
        // The original's regex is unanchored at the end and its '.' matches anything.
        assert!(status_ok("SIP/2.0 200 OK but more"));
        assert!(status_ok("SIP/2x0 200 OK"));
        assert!(!status_ok(" SIP/2.0 200 OK"));
        assert!(matches!(
            judge_datagram(b"\xff\x00garbage"),
            Outcome::Down(_)
        ));
        assert!(matches!(judge_datagram(b""), Outcome::Down(_)));
    }

    /// Over UDP only a datagram with our Call-ID decides: a stranger's "200 OK" kept a dead
    /// server up, its "503" took a live one out
    /// (`a_strangers_sip_datagrams_decided_the_check_of_a_udp_real` plays it for real).
    #[test]
    fn a_strangers_sip_datagram_decided_the_check() {
        let ours = "30fe4891a3d291db";
        assert_eq!(
            judge_reply(SIPP_OK, ours),
            Ok(Outcome::Up("SIP/2.0 200 OK".into()))
        );
        let compact = b"SIP/2.0 503 Busy\r\nv: x\r\ni:  30fe4891a3d291db \r\n\r\n";
        assert_eq!(
            judge_reply(compact, ours),
            Ok(Outcome::Down("SIP/2.0 503 Busy".into()))
        );
        assert!(judge_reply(SIPP_OK, "0000000000000000").is_err());
        assert!(judge_reply(b"SIP/2.0 200 OK\r\n\r\n", ours).is_err());
        // A Call-ID in the body is not the head's.
        assert!(judge_reply(b"SIP/2.0 200 OK\r\n\r\nCall-ID: 30fe4891a3d291db\r\n", ours).is_err());
        assert!(judge_reply(b"", ours).is_err());
    }

    #[test]
    fn tcp_reads_to_the_end_of_the_head() {
        let mut d = SipTcp::new("ld@test");
        d.connected("127.0.0.1:40000".parse().unwrap());
        let (req, shut) = d.opening();
        assert!(!shut);
        assert!(
            req.starts_with(b"OPTIONS sip:ld@test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:40000;")
        );
        assert_eq!(d.received(b"SIP/2.0 200", false), Step::More);
        assert_eq!(d.received(&SIPP_OK[..25], false), Step::More);
        assert_eq!(
            d.received(SIPP_OK, false),
            Step::Done(Outcome::Up("SIP/2.0 200 OK".into()))
        );
        assert_eq!(
            SipTcp::new("x").received(b"SIP/2.0 200 OK\r\n", true),
            Step::Done(Outcome::Up("SIP/2.0 200 OK".into()))
        );
        assert_eq!(
            SipTcp::new("x").received(b"SIP/2.0 503 Service Unavailable\r\n", false),
            Step::Done(Outcome::Down("SIP/2.0 503 Service Unavailable".into()))
        );
        let mut bare = SipTcp::new("x");
        assert_eq!(
            bare.received(b"SIP/2.0 200 OK\nVia: x\n", false),
            Step::More
        );
        assert_eq!(
            bare.received(b"SIP/2.0 200 OK\nVia: x\n\n", false),
            Step::Done(Outcome::Up("SIP/2.0 200 OK".into()))
        );
    }

    /// A long head dribbled one byte per segment over TCP is searched once, not again from
    /// its start on every segment.
    #[test]
    fn a_dribbled_sip_head_is_read_in_bounded_work_per_byte() {
        let mut s = SipTcp::new("ld@test");
        let mut head = b"SIP/2.0 200 OK\r\n".to_vec();
        for n in 0..2_000 {
            head.extend_from_slice(format!("X-Pad-{n}: {}\r\n", "w".repeat(60)).as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        for end in 0..head.len() {
            assert_eq!(s.received(&head[..end], false), Step::More);
        }
        assert_eq!(
            s.received(&head, false),
            Step::Done(Outcome::Up("SIP/2.0 200 OK".into()))
        );
        assert!(
            s.lines.examined() <= 2 * head.len(),
            "{} looks at {} bytes",
            s.lines.examined(),
            head.len()
        );
    }
}
