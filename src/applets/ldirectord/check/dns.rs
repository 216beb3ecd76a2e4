//! service=dns: the request (leading `/` dropped) asked of the real as a name server — an
//! A query, or PTR for an IPv4 address (Net::DNS `search`) — over UDP, or TCP when
//! protocol=tcp. Up: an A address or PTR name in the answer matches receive (an empty
//! receive never matches, as in the original). A UDP reply with the TC bit set and no
//! match among the answers that came is asked again over TCP (Net::DNS does so by default).
//! The query id is random; a reply counts only
//! with that id, the question asked and the server's address, anything else is ignored and
//! the check waits on until its timeout.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use super::{
    random_bytes, refused, Check, Dialogue, Poll, SetAside, Step, TcpCheck, DATAGRAMS_PER_WAKE,
};
use crate::applets::ldirectord::config::{Protocol, Receive, Virtual};
use crate::applets::ldirectord::core::Outcome;
use crate::event::Interest;
use crate::wire::dns::{emit_query, parse_response, question_for, Answer, Question};

/// What a reply must repeat to be the answer to our query (RFC 5452 §4.3: id and question;
/// the id is random so that an off-path sender has to guess it).
#[derive(Clone)]
struct Asked {
    id: u16,
    question: Question,
}

/// What a reply to our query says.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    /// An answer matches receive.
    Match,
    /// None does; `truncated`: the server set the TC bit, the whole answer is over TCP.
    Mismatch { rcode: u8, truncated: bool },
}

impl Reply {
    /// The outcome when the reply is final (over TCP, or not truncated).
    fn outcome(&self) -> Outcome {
        match self {
            Reply::Match => Outcome::Up("Success".into()),
            Reply::Mismatch { rcode, .. } => {
                Outcome::Down(format!("Response mismatch (rcode {rcode})"))
            }
        }
    }
}

/// Judges a reply; None when it is not the answer to our query (malformed, not a response,
/// another id or question): such a reply is ignored and the check waits on.
fn judge(msg: &[u8], asked: &Asked, receive: Option<&Receive>) -> Option<Reply> {
    let r = parse_response(msg)?;
    if !r.is_response || r.id != asked.id {
        return None;
    }
    match r.questions.as_slice() {
        [q] if asked.question.answers(q) => {}
        _ => return None,
    }
    let hit = r.answers.iter().any(|a| {
        let text = match a {
            Answer::A(ip) => ip.to_string(),
            Answer::Ptr(name) => name.clone(),
            Answer::Other(_) => return false,
        };
        receive.is_some_and(|re| re.is_match(&text))
    });
    Some(if hit {
        Reply::Match
    } else {
        Reply::Mismatch {
            rcode: r.rcode,
            truncated: r.truncated,
        }
    })
}

/// The query for the virtual's request under a fresh random id.
fn query(v: &Virtual) -> io::Result<(Vec<u8>, Asked)> {
    let name = v.request.strip_prefix('/').unwrap_or(&v.request);
    let (qname, qtype) = question_for(name);
    let id = u16::from_ne_bytes(random_bytes::<2>());
    let q = emit_query(id, &qname, qtype)
        .ok_or_else(|| io::Error::other(format!("bad DNS name {name:?}")))?;
    let question = Question::new(&qname, qtype);
    Ok((q, Asked { id, question }))
}

/// The DNS check over UDP (`Dns::start` returns the TCP form for protocol=tcp). A reply
/// with the TC bit and no matching answer is asked again over TCP, of the same server and
/// port with the same query, within the same check timeout — as Net::DNS's resolver does
/// unless told `igntc` (the original's check uses its defaults).
pub struct Dns {
    transport: Transport,
    server: SocketAddr,
    /// The query sent, kept for the retry over TCP.
    query: Vec<u8>,
    asked: Asked,
    receive: Option<Receive>,
    set_aside: SetAside,
}

/// Where the answer is awaited.
enum Transport {
    Udp(UdpSocket),
    /// The UDP reply was truncated: the retry over TCP (boxed: rare, and inline it would
    /// make every UDP check as big).
    Tcp(Box<TcpCheck<DnsTcp>>),
}

/// The TCP form: 2-byte length prefix (RFC 1035 §4.2.2).
pub struct DnsTcp {
    query: Vec<u8>,
    asked: Asked,
    receive: Option<Receive>,
    /// Input bytes already taken by replies that were not ours.
    skipped: usize,
}

impl Dialogue for DnsTcp {
    fn opening(&mut self) -> (Vec<u8>, bool) {
        let mut b = (self.query.len() as u16).to_be_bytes().to_vec();
        b.extend_from_slice(&self.query);
        (b, false)
    }

    fn received(&mut self, input: &[u8], eof: bool) -> Step {
        loop {
            let rest = input.get(self.skipped..).unwrap_or_default();
            let len = match rest {
                [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
                _ if eof => return Step::Done(Outcome::Down("no DNS answer".into())),
                _ => return Step::More,
            };
            match rest.get(2..2 + len) {
                Some(msg) => match judge(msg, &self.asked, self.receive.as_ref()) {
                    Some(r) => return Step::Done(r.outcome()),
                    None => self.skipped += 2 + len,
                },
                None if eof => return Step::Done(Outcome::Down("truncated DNS response".into())),
                None => return Step::More,
            }
        }
    }
}

/// Feeds `input` to the TCP form and judges it as a UDP reply, for a query with id
/// 0x1234 for `name`: the socket-free part of the check, for `crate::fuzzing`.
pub(crate) fn replay(input: &[u8], name: &str, receive: Option<&Receive>) -> Vec<Step> {
    let (qname, qtype) = question_for(name);
    let asked = || Asked {
        id: 0x1234,
        question: Question::new(&qname, qtype),
    };
    let _ = judge(input, &asked(), receive);
    let mut d = DnsTcp {
        query: emit_query(0x1234, &qname, qtype).unwrap_or_default(),
        asked: asked(),
        receive: receive.cloned(),
        skipped: 0,
    };
    let _ = d.opening();
    vec![d.received(input, false), d.received(input, true)]
}

impl Dns {
    /// Starts the check of the name server at `addr`.
    pub fn start(v: &Virtual, addr: SocketAddr) -> io::Result<Box<dyn Check>> {
        let (q, asked) = query(v)?;
        if v.protocol == Protocol::Tcp {
            let d = DnsTcp {
                query: q,
                asked,
                receive: v.receive.clone(),
                skipped: 0,
            };
            return Ok(Box::new(TcpCheck::start(addr, d, false)?));
        }
        let bind: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse().map_err(io::Error::other)?
        } else {
            "[::]:0".parse().map_err(io::Error::other)?
        };
        let sock = UdpSocket::bind(bind)?;
        sock.set_nonblocking(true)?;
        // Connected: the kernel passes on only datagrams from the server (checked again below).
        sock.connect(addr)?;
        sock.send(&q)?;
        Ok(Box::new(Dns {
            transport: Transport::Udp(sock),
            server: addr,
            query: q,
            asked,
            receive: v.receive.clone(),
            set_aside: SetAside::default(),
        }))
    }

    /// Asks the same query again over TCP (the UDP reply was truncated).
    fn retry_over_tcp(&mut self) -> Poll {
        let d = DnsTcp {
            query: std::mem::take(&mut self.query),
            asked: self.asked.clone(),
            receive: self.receive.clone(),
            skipped: 0,
        };
        match TcpCheck::start(self.server, d, false) {
            Ok(tcp) => {
                self.transport = Transport::Tcp(Box::new(tcp));
                self.advance()
            }
            Err(e) => Poll::Ready(Outcome::Down(format!(
                "truncated UDP answer, over TCP: {e}"
            ))),
        }
    }

    /// Reads the datagrams that arrived; a reply to our query decides, unless it is
    /// truncated without a match.
    fn advance_udp(&mut self) -> Poll {
        let Transport::Udp(sock) = &self.transport else {
            return Poll::Ready(Outcome::Down("DNS: not over UDP".into()));
        };
        let mut buf = [0u8; 4096];
        for _ in 0..DATAGRAMS_PER_WAKE {
            match sock.recv_from(&mut buf) {
                // Address and port only: an IPv6 source may carry a flow label or scope id.
                Ok((n, from))
                    if (from.ip(), from.port()) == (self.server.ip(), self.server.port()) =>
                {
                    let msg = buf.get(..n).unwrap_or_default();
                    match judge(msg, &self.asked, self.receive.as_ref()) {
                        Some(Reply::Mismatch {
                            truncated: true, ..
                        }) => return self.retry_over_tcp(),
                        Some(r) => return Poll::Ready(r.outcome()),
                        None => self.set_aside.add("DNS: no answer to our query".into()),
                    }
                }
                Ok((_, from)) => self.set_aside.add(format!("DNS: a datagram from {from}")),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Poll::Wait(Interest::Read)
                }
                // As easy to forge as a stranger's answer: the timeout names it.
                Err(e) if refused(&e) => self.set_aside.add(format!("DNS: {e}")),
                Err(e) => return Poll::Ready(Outcome::Down(format!("DNS: {e}"))),
            }
        }
        // More may wait: poll says so at once, after the other events.
        Poll::Wait(Interest::Read)
    }
}

impl Check for Dns {
    fn fd(&self) -> Option<RawFd> {
        match &self.transport {
            Transport::Udp(sock) => Some(sock.as_raw_fd()),
            Transport::Tcp(tcp) => tcp.fd(),
        }
    }

    fn note(&self) -> Option<String> {
        self.set_aside.note()
    }

    fn advance(&mut self) -> Poll {
        match &mut self.transport {
            Transport::Udp(_) => self.advance_udp(),
            Transport::Tcp(tcp) => match tcp.advance() {
                Poll::Ready(Outcome::Down(m)) => Poll::Ready(Outcome::Down(format!(
                    "truncated UDP answer, over TCP: {m}"
                ))),
                p => p,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applets::ldirectord::config::parse;
    use crate::applets::ldirectord::resolve::SystemResolver;
    use crate::wire::dns::TYPE_A;

    fn asked() -> Asked {
        Asked {
            id: 0x4a2f,
            question: Question::new("www.example.test", TYPE_A),
        }
    }

    /// A response with `id`, one question `name` (type A) and one A answer 198.51.100.77.
    fn response(id: u16, name: &str) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
        for label in name.split('.') {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 77]);
        m
    }

    fn receive(text: &str) -> Receive {
        Receive::new(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn only_the_answer_to_our_id_and_question_counts() {
        let a = asked();
        let good = response(0x4a2f, "WWW.example.test");
        assert_eq!(
            judge(&good, &a, Some(&receive("198.51.100.77"))),
            Some(Reply::Match)
        );
        assert_eq!(
            judge(
                &response(0x4a2e, "www.example.test"),
                &a,
                Some(&receive("77"))
            ),
            None
        );
        assert_eq!(
            judge(
                &response(0x4a2f, "www.other.test"),
                &a,
                Some(&receive("77"))
            ),
            None
        );
        let mut query = good.clone();
        query[2] &= 0x7f;
        assert_eq!(judge(&query, &a, Some(&receive("77"))), None);
        assert_eq!(
            judge(&good, &a, Some(&receive("198.51.100.99"))),
            Some(Reply::Mismatch {
                rcode: 0,
                truncated: false
            })
        );
    }

    /// The UDP reply of a server with more answers than fit a datagram: TC set, and only the
    /// answers that fitted. Without a match among them it was judged down at once; the whole
    /// answer is asked over TCP now. With one it is up at once, as before.
    #[test]
    fn truncated_udp_answer_without_a_match_is_asked_again_over_tcp() {
        let a = asked();
        let mut tc = response(0x4a2f, "www.example.test");
        tc[2] |= 0x02;
        assert_eq!(
            judge(&tc, &a, Some(&receive("198.51.100.99"))),
            Some(Reply::Mismatch {
                rcode: 0,
                truncated: true
            })
        );
        assert_eq!(
            judge(&tc, &a, Some(&receive("198.51.100.77"))),
            Some(Reply::Match)
        );
        // Cut inside its only answer: no answer came whole, asked again over TCP.
        tc.truncate(tc.len() - 2);
        assert_eq!(
            judge(&tc, &a, Some(&receive("198.51.100.77"))),
            Some(Reply::Mismatch {
                rcode: 0,
                truncated: true
            })
        );
    }

    #[test]
    fn tcp_skips_replies_that_are_not_ours() {
        let mut d = DnsTcp {
            query: Vec::new(),
            asked: asked(),
            receive: Some(receive("198.51.100.77")),
            skipped: 0,
        };
        let mut input = Vec::new();
        for m in [response(1, "www.example.test"), response(0x4a2f, "x.test")] {
            input.extend_from_slice(&(m.len() as u16).to_be_bytes());
            input.extend_from_slice(&m);
        }
        assert_eq!(d.received(&input, false), Step::More);
        assert!(matches!(
            d.received(&input, true),
            Step::Done(Outcome::Down(_))
        ));
        let m = response(0x4a2f, "www.example.test");
        input.extend_from_slice(&(m.len() as u16).to_be_bytes());
        input.extend_from_slice(&m);
        assert_eq!(
            d.received(&input, false),
            Step::Done(Outcome::Up("Success".into()))
        );
    }

    #[test]
    fn query_ids_are_random() {
        let text =
            "virtual=198.51.100.10:53\n\treal=198.51.100.21 masq\n\trequest=\"www.example.test\"\n";
        let c = parse("t", text, &SystemResolver).unwrap_or_else(|e| panic!("{e}"));
        let v = &c.virtuals[0];
        let ids: std::collections::HashSet<u16> = (0..16)
            .filter_map(|_| query(v).ok())
            .map(|(_, a)| a.id)
            .collect();
        assert!(ids.len() > 8, "{ids:?}");
    }
}
