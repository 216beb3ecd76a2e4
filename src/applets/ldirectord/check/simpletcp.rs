//! service=simpletcp: connect, send the request (its leading `/` dropped, `\n` written as a
//! newline), shut down writing, read lines until one matches receive. Down at EOF without a
//! match. An empty receive matches the first line (the original's empty Perl pattern reuses
//! whatever regex matched last: bug B12).
//!
//! The lines are read on past the 1 MiB a check holds: those examined are dropped, up to
//! `MAX_ANSWER` in all (the original reads on until its timeout). A healthy real that sent
//! more than 1 MiB of lines before the matching one was down ("no line matched receive").
//! One line longer than 1 MiB is judged on its first MiB.

use super::lines::Lines;
use super::{Dialogue, Step};
use crate::applets::ldirectord::config::{Real, Receive, Virtual};
use crate::applets::ldirectord::core::Outcome;

/// How much of an answer is read in all before it is judged on what was read.
const MAX_ANSWER: usize = 16 << 20;

/// The simpletcp check.
pub struct SimpleTcp {
    request: Vec<u8>,
    /// None (no receive) matches any line.
    receive: Option<Receive>,
    lines: Lines,
    /// Bytes of examined lines dropped from the input so far.
    released: usize,
    /// A line matched while the full input was released, before `received` saw it.
    found: Option<Step>,
}

impl SimpleTcp {
    pub fn new(v: &Virtual, r: &Real) -> SimpleTcp {
        let (req, rcv) = match (&r.request, &r.receive) {
            (Some(q), Some(rc)) => (q.as_str(), Some(rc)),
            _ => (v.request.as_str(), v.receive.as_ref()),
        };
        let req = req.strip_prefix('/').unwrap_or(req).replace("\\n", "\n");
        SimpleTcp {
            request: req.into_bytes(),
            receive: rcv.cloned(),
            lines: Lines::new(),
            released: 0,
            found: None,
        }
    }
}

impl Dialogue for SimpleTcp {
    fn opening(&mut self) -> (Vec<u8>, bool) {
        (std::mem::take(&mut self.request), true)
    }

    fn release(&mut self, input: &[u8]) -> usize {
        // The input may have filled up in one go, before `received` saw any of it.
        while self.found.is_none() {
            let Some(raw) = self.lines.next_line(input) else {
                break;
            };
            self.found = matching(self.receive.as_ref(), raw);
        }
        let done = self.lines.offset();
        if self.found.is_some() || self.released + done > MAX_ANSWER {
            return 0;
        }
        self.lines.forget(done);
        self.released += done;
        done
    }

    fn received(&mut self, input: &[u8], eof: bool) -> Step {
        if let Some(up) = self.found.take() {
            return up;
        }
        let re = self.receive.as_ref();
        while let Some(raw) = self.lines.next_line(input) {
            if let Some(up) = matching(re, raw) {
                return up;
            }
        }
        if !eof {
            return Step::More;
        }
        // At the end, a last line without its line break counts too.
        let rest = self.lines.rest(input);
        match (!rest.is_empty()).then(|| matching(re, rest)).flatten() {
            Some(up) => up,
            None => Step::Done(Outcome::Down("no line matched receive".into())),
        }
    }
}

/// Up with the line if it matches (the line without `\n` or `\r\n`, as Perl's chomp'd
/// line).
fn matching(re: Option<&Receive>, raw: &[u8]) -> Option<Step> {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let line = String::from_utf8_lossy(raw);
    re.is_none_or(|re| re.is_match(&line))
        .then(|| Step::Done(Outcome::Up(line.into_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applets::ldirectord::config::parse;
    use crate::applets::ldirectord::resolve::SystemResolver;

    fn check(extra: &str) -> SimpleTcp {
        let text = format!(
            "virtual=198.51.100.10:7\n\tservice=simpletcp\n\treal=198.51.100.21 masq\n{extra}"
        );
        let c = parse("t", &text, &SystemResolver).unwrap_or_else(|e| panic!("{e}"));
        SimpleTcp::new(&c.virtuals[0], &c.virtuals[0].reals[0])
    }

    #[test]
    fn request_unescaped_and_lines_matched() {
        let mut c = check("\trequest=\"PING\\n\"\n\treceive=\"^PONG\"\n");
        assert_eq!(c.opening(), (b"PING\n".to_vec(), true));
        assert_eq!(c.received(b"hello\nPO", false), Step::More);
        assert_eq!(
            c.received(b"hello\nPONG 1\n", false),
            Step::Done(Outcome::Up("PONG 1".into()))
        );
        let mut c = check("\trequest=\"PING\\n\"\n\treceive=\"^PONG\"\n");
        assert!(matches!(
            c.received(b"nope\n", true),
            Step::Done(Outcome::Down(_))
        ));
        // A last line without its line break is read at the end.
        let mut c = check("\trequest=\"PING\\n\"\n\treceive=\"^PONG\"\n");
        assert_eq!(c.received(b"nope\nPONG 2", false), Step::More);
        assert_eq!(
            c.received(b"nope\nPONG 2", true),
            Step::Done(Outcome::Up("PONG 2".into()))
        );
    }

    /// Feeds `answer` as `TcpCheck` does, holding at most `cap` bytes: full input is offered
    /// to `release` first, then judged as at a close if nothing was released.
    fn feed_capped(c: &mut SimpleTcp, answer: &[u8], cap: usize) -> Step {
        let mut input: Vec<u8> = Vec::new();
        let mut rest = answer;
        loop {
            let room = cap - input.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            input.extend_from_slice(now);
            rest = later;
            if input.len() == cap {
                let n = c.release(&input);
                if n > 0 {
                    input.drain(..n);
                    continue;
                }
                return c.received(&input, true);
            }
            match c.received(&input, rest.is_empty()) {
                Step::More if !rest.is_empty() => {}
                step => return step,
            }
        }
    }

    /// 2,000 lines of 1,000 bytes before `PONG`: at the 1 MiB a check holds the answer was
    /// judged as if closed, and a healthy real was down ("no line matched receive").
    #[test]
    fn matching_line_after_more_than_the_held_input_was_not_found() {
        let mut answer = Vec::new();
        for _ in 0..2000 {
            answer.extend_from_slice(&[b'z'; 1000]);
            answer.push(b'\n');
        }
        answer.extend_from_slice(b"PONG\n");
        let mut c = check("\trequest=\"PING\\n\"\n\treceive=\"^PONG\"\n");
        assert_eq!(
            feed_capped(&mut c, &answer, super::super::MAX_INPUT),
            Step::Done(Outcome::Up("PONG".into()))
        );
        // Also when the match lies in an input that filled up before `received` saw it.
        let mut c = check("\trequest=\"PING\\n\"\n\treceive=\"^PONG\"\n");
        assert_eq!(
            feed_capped(&mut c, &answer, 4096),
            Step::Done(Outcome::Up("PONG".into()))
        );
        // Past MAX_ANSWER the answer is judged on what was read.
        let mut c = check("\trequest=\"PING\\n\"\n\treceive=\"^PONG\"\n");
        let mut endless = Vec::new();
        while endless.len() <= MAX_ANSWER + (2 << 20) {
            endless.extend_from_slice(&[b'z'; 1000]);
            endless.push(b'\n');
        }
        endless.extend_from_slice(b"PONG\n");
        assert!(matches!(
            feed_capped(&mut c, &endless, super::super::MAX_INPUT),
            Step::Done(Outcome::Down(_))
        ));
    }

    #[test]
    fn b12_empty_receive_matches_the_first_line() {
        let mut c = check("\trequest=\"x\"\n");
        assert_eq!(
            c.received(b"anything\n", false),
            Step::Done(Outcome::Up("anything".into()))
        );
        assert!(matches!(
            check("\trequest=\"x\"\n").received(b"", true),
            Step::Done(Outcome::Down(_))
        ));
    }
}
