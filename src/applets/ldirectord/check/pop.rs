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
}
