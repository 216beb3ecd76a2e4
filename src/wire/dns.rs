//! DNS messages (RFC 1035): a one-question query, and the A/PTR answers of a response —
//! all ldirectord's dns check needs. Names in answers may be compressed (§4.1.4); loops and
//! truncation are errors, never panics.

use std::net::{IpAddr, Ipv4Addr};

/// Record types used here.
pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
const CLASS_IN: u16 = 1;

/// An answer record we understand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    A(Ipv4Addr),
    Ptr(String),
    Other(u16),
}

/// A question: name (labels joined by dots, as sent), type and class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

impl Question {
    /// The question a query for `name` / `qtype` asks (class IN).
    pub fn new(name: &str, qtype: u16) -> Question {
        Question {
            name: name.to_string(),
            qtype,
            qclass: CLASS_IN,
        }
    }

    /// Whether a response's question is this one; names compare without regard to ASCII
    /// case (RFC 1035 §2.3.3; some servers echo the name in another case).
    pub fn answers(&self, other: &Question) -> bool {
        self.qtype == other.qtype
            && self.qclass == other.qclass
            && self
                .name
                .trim_end_matches('.')
                .eq_ignore_ascii_case(other.name.trim_end_matches('.'))
    }
}

/// The parts of a response the check looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub id: u16,
    /// The QR bit: set in a response, clear in a query.
    pub is_response: bool,
    pub rcode: u8,
    /// The TC bit: the server cut the message to fit a datagram (RFC 1035 §4.1.1); the
    /// whole answer is to be asked over TCP (RFC 7766 §5).
    pub truncated: bool,
    /// The questions it repeats (normally the one that was asked).
    pub questions: Vec<Question>,
    pub answers: Vec<Answer>,
}

/// The question for `name` as Net::DNS's `search` asks it: an IPv4 address becomes a PTR
/// query for in-addr.arpa, anything else an A query.
pub fn question_for(name: &str) -> (String, u16) {
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            let o = ip.octets();
            (
                format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0]),
                TYPE_PTR,
            )
        }
        _ => (name.trim_end_matches('.').to_string(), TYPE_A),
    }
}

/// A standard query with recursion desired. None if a label is empty or longer than 63.
pub fn emit_query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let mut b = Vec::with_capacity(32 + name.len());
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    if !name.is_empty() {
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return None;
            }
            b.push(label.len() as u8);
            b.extend_from_slice(label.as_bytes());
        }
    }
    b.push(0);
    b.extend_from_slice(&qtype.to_be_bytes());
    b.extend_from_slice(&CLASS_IN.to_be_bytes());
    Some(b)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Reads the (possibly compressed) name at `at`; returns it and the offset after it.
fn read_name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *msg.get(at)?;
        match len {
            0 => {
                return Some((labels.join("."), end.unwrap_or(at + 1)));
            }
            l if l & 0xc0 == 0xc0 => {
                let ptr = usize::from(be16(msg, at)? & 0x3fff);
                end.get_or_insert(at + 2);
                at = ptr;
            }
            l => {
                let l = usize::from(l);
                let label = msg.get(at + 1..at + 1 + l)?;
                labels.push(String::from_utf8_lossy(label).into_owned());
                at += 1 + l;
            }
        }
    }
    None
}

/// Parses a response; None if it is cut short or malformed. A response with the TC bit set
/// may end inside its answer section (RFC 2181 §9): its answers are the records that
/// arrived whole.
pub fn parse_response(msg: &[u8]) -> Option<Response> {
    let id = be16(msg, 0)?;
    let flags = be16(msg, 2)?;
    let truncated = flags & 0x0200 != 0;
    let qd = be16(msg, 4)?;
    let an = be16(msg, 6)?;
    let mut at = 12;
    let mut questions = Vec::new();
    for _ in 0..qd {
        let (name, next) = read_name(msg, at)?;
        questions.push(Question {
            name,
            qtype: be16(msg, next)?,
            qclass: be16(msg, next + 2)?,
        });
        at = next + 4;
    }
    let mut answers = Vec::new();
    for _ in 0..an {
        match read_answer(msg, at) {
            Some((answer, next)) => {
                answers.push(answer);
                at = next;
            }
            None if truncated => break,
            None => return None,
        }
    }
    Some(Response {
        id,
        is_response: flags & 0x8000 != 0,
        rcode: (flags & 0xf) as u8,
        truncated,
        questions,
        answers,
    })
}

/// Reads the answer record at `at`; returns it and the offset after it.
fn read_answer(msg: &[u8], at: usize) -> Option<(Answer, usize)> {
    let (_, next) = read_name(msg, at)?;
    let rtype = be16(msg, next)?;
    let rdlen = usize::from(be16(msg, next + 8)?);
    let rdata_at = next + 10;
    let rdata = msg.get(rdata_at..rdata_at + rdlen)?;
    let answer = match rtype {
        TYPE_A if rdlen == 4 => Answer::A(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3])),
        TYPE_PTR => Answer::Ptr(read_name(msg, rdata_at)?.0),
        t => Answer::Other(t),
    };
    Some((answer, rdata_at + rdlen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bytes() {
        let q = emit_query(0x1234, "www.example", TYPE_A).unwrap_or_default();
        let want: Vec<u8> = [
            &[0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0][..],
            b"\x03www\x07example\x00",
            &[0, 1, 0, 1],
        ]
        .concat();
        assert_eq!(q, want);
        assert_eq!(emit_query(1, "a..b", TYPE_A), None);
        assert_eq!(
            question_for("198.51.100.7"),
            ("7.100.51.198.in-addr.arpa".into(), TYPE_PTR)
        );
    }

    #[test]
    fn response_with_compression() {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        m.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        // A answer, name = pointer to offset 12.
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 7]);
        // PTR answer whose target is "host." + pointer to "example".
        m.extend_from_slice(&[
            0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60, 0, 7, 4, b'h', b'o', b's', b't', 0xc0, 16,
        ]);
        let r = parse_response(&m);
        let want = Response {
            id: 0x1234,
            is_response: true,
            rcode: 0,
            truncated: false,
            questions: vec![Question::new("www.example", TYPE_A)],
            answers: vec![
                Answer::A(Ipv4Addr::new(198, 51, 100, 7)),
                Answer::Ptr("host.example".into()),
            ],
        };
        assert_eq!(r, Some(want));
    }

    #[test]
    fn questions_match_by_name_in_any_case_type_and_class() {
        let q = Question::new("www.example", TYPE_A);
        assert!(q.answers(&Question::new("WWW.Example.", TYPE_A)));
        assert!(!q.answers(&Question::new("www.example", TYPE_PTR)));
        assert!(!q.answers(&Question::new("www.other", TYPE_A)));
        let chaos = Question {
            qclass: 3,
            ..q.clone()
        };
        assert!(!q.answers(&chaos));
    }

    #[test]
    fn a_truncated_response_keeps_the_answers_that_arrived_whole() {
        let mut m = vec![0x12, 0x34, 0x83, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        m.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 7]);
        // The second answer is cut inside its data.
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51]);
        let r = parse_response(&m).unwrap_or_else(|| panic!("not parsed"));
        assert!(r.truncated);
        assert_eq!(r.answers, vec![Answer::A(Ipv4Addr::new(198, 51, 100, 7))]);
        // Without the TC bit the same message is malformed.
        m[2] = 0x81;
        assert_eq!(parse_response(&m), None);
    }

    #[test]
    fn garbage_never_panics() {
        let mut loopy = vec![0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        loopy.extend_from_slice(&[0xc0, 12]);
        assert_eq!(parse_response(&loopy), None);
        let mut seed = 7u32;
        for len in 0..200 {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            let _ = parse_response(&buf);
        }
    }
}
