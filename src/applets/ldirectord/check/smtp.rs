//! service=smtp / submission: what Net::SMTP->new does: a 2xx greeting, then EHLO (HELO if
//! EHLO is refused) accepted with 2xx; then QUIT. Up when the greeting and EHLO/HELO are.

use super::lines::{Replies, Reply};
use super::{Dialogue, Step};
use crate::applets::ldirectord::core::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Greeting,
    Ehlo,
    Helo,
}

/// The SMTP check.
pub struct Smtp {
    stage: Stage,
    host: String,
    replies: Replies,
}

impl Smtp {
    /// `host`: the name given in EHLO (this machine's).
    pub fn new(host: &str) -> Smtp {
        Smtp {
            stage: Stage::Greeting,
            host: host.to_string(),
            replies: Replies::default(),
        }
    }
}

impl Dialogue for Smtp {
    fn opening(&mut self) -> (Vec<u8>, bool) {
        (Vec::new(), false)
    }

    fn received(&mut self, input: &[u8], _eof: bool) -> Step {
        let (code, line) = match self.replies.next(input) {
            Reply::Incomplete => return Step::More,
            Reply::Garbage(l) => {
                return Step::Done(Outcome::Down(format!("not an SMTP reply: {l}")))
            }
            Reply::Complete(code, line) => (code, line),
        };
        // Whatever comes next is an answer to what we send now.
        self.replies.restart();
        let ok = (200..300).contains(&code);
        match (self.stage, ok) {
            (Stage::Greeting, true) => {
                self.stage = Stage::Ehlo;
                Step::Send(format!("EHLO {}\r\n", self.host).into_bytes())
            }
            (Stage::Ehlo, false) => {
                self.stage = Stage::Helo;
                Step::Send(format!("HELO {}\r\n", self.host).into_bytes())
            }
            (Stage::Ehlo | Stage::Helo, true) => {
                Step::Finish(b"QUIT\r\n".to_vec(), Outcome::Up(line))
            }
            (_, false) => Step::Done(Outcome::Down(line)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_ehlo_quit() {
        let mut s = Smtp::new("lb");
        assert_eq!(s.received(b"220-mx ESMTP\r\n", false), Step::More);
        assert_eq!(
            s.received(b"220-mx ESMTP\r\n220 ready\r\n", false),
            Step::Send(b"EHLO lb\r\n".to_vec())
        );
        assert_eq!(
            s.received(b"250-mx\r\n250 8BITMIME\r\n", false),
            Step::Finish(b"QUIT\r\n".to_vec(), Outcome::Up("250 8BITMIME".into()))
        );
    }

    #[test]
    fn helo_fallback_and_refusals() {
        let mut s = Smtp::new("lb");
        s.received(b"220 ready\r\n", false);
        assert_eq!(
            s.received(b"502 no\r\n", false),
            Step::Send(b"HELO lb\r\n".to_vec())
        );
        assert!(matches!(
            s.received(b"250 hi\r\n", false),
            Step::Finish(_, Outcome::Up(_))
        ));
        let mut s = Smtp::new("lb");
        assert_eq!(
            s.received(b"554 go away\r\n", false),
            Step::Done(Outcome::Down("554 go away".into()))
        );
    }

    /// A long multi-line EHLO answer dribbled one byte per segment is searched once, not
    /// again from its start on every segment (the check's CPU grew with the square of it).
    #[test]
    fn a_dribbled_multi_line_smtp_reply_is_read_in_bounded_work_per_byte() {
        let mut s = Smtp::new("lb");
        let greeting = b"220 ready\r\n";
        for end in 0..greeting.len() {
            assert_eq!(s.received(&greeting[..end], false), Step::More);
        }
        assert_eq!(
            s.received(greeting, false),
            Step::Send(b"EHLO lb\r\n".to_vec())
        );
        let mut reply = Vec::new();
        for i in 0..2_000 {
            reply.extend_from_slice(format!("250-ext{i} {}\r\n", "w".repeat(60)).as_bytes());
        }
        reply.extend_from_slice(b"250 8BITMIME\r\n");
        for end in 0..reply.len() {
            assert_eq!(s.received(&reply[..end], false), Step::More);
        }
        assert_eq!(
            s.received(&reply, false),
            Step::Finish(b"QUIT\r\n".to_vec(), Outcome::Up("250 8BITMIME".into()))
        );
        let all = greeting.len() + reply.len();
        assert!(
            s.replies.examined() <= 2 * all,
            "{} looks at {all} bytes",
            s.replies.examined()
        );
    }
}
