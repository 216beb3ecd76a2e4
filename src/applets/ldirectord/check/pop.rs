//! service=pop / pops: what Mail::POP3Client does: a `+OK` greeting and, if login is set,
//! `USER`/`PASS` both answered `+OK`; then QUIT. pops runs the same inside TLS.

use super::lines::{text, Lines};
use super::{Dialogue, Step};
use crate::applets::ldirectord::config::Virtual;
use crate::applets::ldirectord::core::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Greeting,
    User,
    Pass,
}

/// The POP3 check.
pub struct Pop {
    stage: Stage,
    login: String,
    passwd: String,
    lines: Lines,
}

impl Pop {
    pub fn new(v: &Virtual) -> Pop {
        Pop {
            stage: Stage::Greeting,
            login: v.login.clone(),
            passwd: v.passwd.clone(),
            lines: Lines::new(),
        }
    }
}

impl Dialogue for Pop {
    fn opening(&mut self) -> (Vec<u8>, bool) {
        (Vec::new(), false)
    }

    fn received(&mut self, input: &[u8], _eof: bool) -> Step {
        let Some(line) = self.lines.next_line(input).map(text) else {
            return Step::More;
        };
        self.lines.restart();
        if !line.starts_with("+OK") {
            return Step::Done(Outcome::Down(line));
        }
        match self.stage {
            Stage::Greeting if self.login.is_empty() => {
                Step::Finish(b"QUIT\r\n".to_vec(), Outcome::Up(line))
            }
            Stage::Greeting => {
                self.stage = Stage::User;
                Step::Send(format!("USER {}\r\n", self.login).into_bytes())
            }
            Stage::User => {
                self.stage = Stage::Pass;
                Step::Send(format!("PASS {}\r\n", self.passwd).into_bytes())
            }
            Stage::Pass => Step::Finish(b"QUIT\r\n".to_vec(), Outcome::Up(line)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pop(login: &str) -> Pop {
        Pop {
            stage: Stage::Greeting,
            login: login.into(),
            passwd: "pw".into(),
            lines: Lines::new(),
        }
    }

    #[test]
    fn greeting_only_and_login() {
        assert!(matches!(
            pop("").received(b"+OK POP3 ready\r\n", false),
            Step::Finish(_, Outcome::Up(_))
        ));
        let mut p = pop("u");
        assert_eq!(
            p.received(b"+OK hi\r\n", false),
            Step::Send(b"USER u\r\n".to_vec())
        );
        assert_eq!(
            p.received(b"+OK\r\n", false),
            Step::Send(b"PASS pw\r\n".to_vec())
        );
        assert_eq!(
            p.received(b"-ERR auth\r\n", false),
            Step::Done(Outcome::Down("-ERR auth".into()))
        );
    }

    /// A long greeting dribbled one byte per segment is searched once, not again from its
    /// start on every segment.
    #[test]
    fn a_dribbled_pop_greeting_is_read_in_bounded_work_per_byte() {
        let mut p = pop("");
        let line = format!("+OK {}\r\n", "w".repeat(200_000)).into_bytes();
        for end in 0..line.len() {
            assert_eq!(p.received(&line[..end], false), Step::More);
        }
        assert!(matches!(
            p.received(&line, false),
            Step::Finish(_, Outcome::Up(_))
        ));
        assert!(
            p.lines.examined() <= 2 * line.len(),
            "{} looks at {} bytes",
            p.lines.examined(),
            line.len()
        );
    }
}
