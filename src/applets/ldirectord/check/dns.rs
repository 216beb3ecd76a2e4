//! service=dns: the request (leading `/` dropped) asked of the real as a name server — an
//! A query, or PTR for an IPv4 address (Net::DNS `search`) — over UDP, or TCP when
//! protocol=tcp. Up: an A address or PTR name in the answer matches receive (an empty
//! receive never matches, as in the original).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use regex_lite::Regex;

use super::{Check, Dialogue, Poll, Step, TcpCheck};
use crate::applets::ldirectord::config::{Protocol, Virtual};
use crate::applets::ldirectord::core::Outcome;
use crate::event::Interest;
use crate::wire::dns::{emit_query, parse_response, question_for, Answer};

/// Judges a response against receive.
fn judge(msg: &[u8], id: u16, receive: &str) -> Option<Outcome> {
    let r = parse_response(msg)?;
    if r.id != id {
        return None;
    }
    let re = Regex::new(receive).ok();
    let hit = r.answers.iter().any(|a| {
        let text = match a {
            Answer::A(ip) => ip.to_string(),
            Answer::Ptr(name) => name.clone(),
            Answer::Other(_) => return false,
        };
        !receive.is_empty() && re.as_ref().is_some_and(|re| re.is_match(&text))
    });
    Some(if hit {
        Outcome::Up("Success".into())
    } else {
        Outcome::Down(format!("Response mismatch (rcode {})", r.rcode))
    })
}

fn query(v: &Virtual, id: u16) -> io::Result<Vec<u8>> {
    let name = v.request.strip_prefix('/').unwrap_or(&v.request);
    let (qname, qtype) = question_for(name);
    emit_query(id, &qname, qtype).ok_or_else(|| io::Error::other(format!("bad DNS name {name:?}")))
}

/// The DNS check over UDP (`Dns::start` returns the TCP form for protocol=tcp).
pub struct Dns {
    sock: UdpSocket,
    id: u16,
    receive: String,
}

/// The TCP form: 2-byte length prefix (RFC 1035 §4.2.2).
pub struct DnsTcp {
    query: Vec<u8>,
    id: u16,
    receive: String,
}

impl Dialogue for DnsTcp {
    fn opening(&mut self) -> (Vec<u8>, bool) {
        let mut b = (self.query.len() as u16).to_be_bytes().to_vec();
        b.extend_from_slice(&self.query);
        (b, false)
    }

    fn received(&mut self, input: &[u8], eof: bool) -> Step {
        let len = match input {
            [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => return Step::More,
        };
        match input.get(2..2 + len) {
            Some(msg) => match judge(msg, self.id, &self.receive) {
                Some(o) => Step::Done(o),
                None => Step::Done(Outcome::Down("malformed DNS response".into())),
            },
            None if eof => Step::Done(Outcome::Down("truncated DNS response".into())),
            None => Step::More,
        }
    }
}

impl Dns {
    /// Starts the check of the name server at `addr`.
    pub fn start(v: &Virtual, addr: SocketAddr) -> io::Result<Box<dyn Check>> {
        let id = (std::process::id() as u16) ^ (addr.port().rotate_left(7));
        let q = query(v, id)?;
        if v.protocol == Protocol::Tcp {
            let d = DnsTcp {
                query: q,
                id,
                receive: v.receive.clone(),
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
        sock.connect(addr)?;
        sock.send(&q)?;
        Ok(Box::new(Dns {
            sock,
            id,
            receive: v.receive.clone(),
        }))
    }
}

impl Check for Dns {
    fn fd(&self) -> Option<RawFd> {
        Some(self.sock.as_raw_fd())
    }

    fn advance(&mut self) -> Poll {
        let Dns { sock, id, receive } = self;
        let mut buf = [0u8; 4096];
        loop {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    if let Some(o) = judge(&buf[..n], *id, receive) {
                        return Poll::Ready(o);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Poll::Wait(Interest::Read)
                }
                Err(e) => return Poll::Ready(Outcome::Down(format!("DNS: {e}"))),
            }
        }
    }
}
