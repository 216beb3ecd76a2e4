//! service=simpletcp: connect, send the request (its leading `/` dropped, `\n` written as a
//! newline), shut down writing, read lines until one matches receive. Down at EOF without a
//! match. An empty receive matches the first line (the original's empty Perl pattern reuses
//! whatever regex matched last: bug B12).

use super::lines::Lines;
use super::{Dialogue, Step};
use crate::applets::ldirectord::config::{Real, Receive, Virtual};
use crate::applets::ldirectord::core::Outcome;

/// The simpletcp check.
pub struct SimpleTcp {
    request: Vec<u8>,
    /// None (no receive) matches any line.
    receive: Option<Receive>,
    lines: Lines,
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
        }
    }
}

impl Dialogue for SimpleTcp {
    fn opening(&mut self) -> (Vec<u8>, bool) {
        (std::mem::take(&mut self.request), true)
    }

    fn received(&mut self, input: &[u8], eof: bool) -> Step {
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
