//! service=imap / imaps: what Net::IMAP::Simple does: an `* OK` (or `* PREAUTH`) greeting
//! and, if login is set, `LOGIN` answered `OK`; then LOGOUT. imaps runs inside TLS.

use super::lines::{text, Lines};
use super::{Dialogue, Step};
use crate::applets::ldirectord::config::Virtual;
use crate::applets::ldirectord::core::Outcome;

/// The IMAP check.
pub struct Imap {
    greeted: bool,
    login: String,
    passwd: String,
    lines: Lines,
}

impl Imap {
    pub fn new(v: &Virtual) -> Imap {
        Imap {
            greeted: false,
            login: v.login.clone(),
            passwd: v.passwd.clone(),
            lines: Lines::new(),
        }
    }
}

/// An IMAP quoted string (RFC 3501 §4.3).
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Dialogue for Imap {
    fn opening(&mut self) -> (Vec<u8>, bool) {
        (Vec::new(), false)
    }

    fn received(&mut self, input: &[u8], _eof: bool) -> Step {
        while let Some(raw) = self.lines.next_line(input) {
            let line = text(raw);
            if !self.greeted {
                if !(line.starts_with("* OK") || line.starts_with("* PREAUTH")) {
                    return Step::Done(Outcome::Down(line));
                }
                self.greeted = true;
                self.lines.restart();
                if self.login.is_empty() {
                    return Step::Finish(b"a1 LOGOUT\r\n".to_vec(), Outcome::Up(line));
                }
                let cmd = format!(
                    "a1 LOGIN {} {}\r\n",
                    quoted(&self.login),
                    quoted(&self.passwd)
                );
                return Step::Send(cmd.into_bytes());
            }
            // Untagged lines may come first; the tagged answer decides.
            if line.starts_with("a1 OK") {
                return Step::Finish(b"a2 LOGOUT\r\n".to_vec(), Outcome::Up(line));
            }
            if line.starts_with("a1 ") {
                return Step::Done(Outcome::Down(line));
            }
        }
        Step::More
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imap(login: &str) -> Imap {
        Imap {
            greeted: false,
            login: login.into(),
            passwd: "p\"w".into(),
            lines: Lines::new(),
        }
    }

    #[test]
    fn greeting_and_login() {
        assert!(matches!(
            imap("").received(b"* OK ready\r\n", false),
            Step::Finish(_, Outcome::Up(_))
        ));
        assert!(matches!(
            imap("").received(b"* BYE busy\r\n", false),
            Step::Done(Outcome::Down(_))
        ));
        let mut i = imap("u");
        assert_eq!(
            i.received(b"* OK hi\r\n", false),
            Step::Send(b"a1 LOGIN \"u\" \"p\\\"w\"\r\n".to_vec())
        );
        assert_eq!(i.received(b"* CAPABILITY IMAP4rev1\r\n", false), Step::More);
        assert!(matches!(
            i.received(b"* CAPABILITY IMAP4rev1\r\na1 OK done\r\n", false),
            Step::Finish(_, Outcome::Up(_))
        ));
        let mut i = imap("u");
        i.received(b"* OK hi\r\n", false);
        assert!(matches!(
            i.received(b"a1 NO bad\r\n", false),
            Step::Done(Outcome::Down(_))
        ));
    }

    /// Untagged lines before the tagged answer, dribbled one byte per segment, are searched
    /// once each, not again from the start on every segment.
    #[test]
    fn a_dribbled_imap_answer_is_read_in_bounded_work_per_byte() {
        let mut i = imap("u");
        assert!(matches!(i.received(b"* OK hi\r\n", false), Step::Send(_)));
        let mut answer = Vec::new();
        for n in 0..2_000 {
            answer
                .extend_from_slice(format!("* CAPABILITY X{n} {}\r\n", "w".repeat(60)).as_bytes());
        }
        answer.extend_from_slice(b"a1 OK done\r\n");
        for end in 0..answer.len() {
            assert_eq!(i.received(&answer[..end], false), Step::More);
        }
        assert!(matches!(
            i.received(&answer, false),
            Step::Finish(_, Outcome::Up(_))
        ));
        let all = answer.len() + b"* OK hi\r\n".len();
        assert!(
            i.lines.examined() <= 2 * all,
            "{} looks at {all} bytes",
            i.lines.examined()
        );
    }
}
