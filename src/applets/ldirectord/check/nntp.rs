//! service=nntp: connect, read the greeting; up if it starts with `2` (200/201).

use super::{Dialogue, Step};
use crate::applets::ldirectord::core::Outcome;

/// The NNTP greeting check.
pub struct Nntp;

impl Dialogue for Nntp {
    fn opening(&mut self) -> (Vec<u8>, bool) {
        (Vec::new(), false)
    }

    fn received(&mut self, input: &[u8], _eof: bool) -> Step {
        // Called empty only at the close: the down line said nothing.
        if input.is_empty() {
            return Step::Done(Outcome::Down("connection closed without a greeting".into()));
        }
        let line = String::from_utf8_lossy(input.split(|&b| b == b'\n').next().unwrap_or(&[]))
            .trim_end()
            .to_string();
        if input.first() == Some(&b'2') {
            Step::Done(Outcome::Up(line))
        } else {
            Step::Done(Outcome::Down(line))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_decides() {
        assert!(matches!(
            Nntp.received(b"200 news ready\r\n", false),
            Step::Done(Outcome::Up(_))
        ));
        assert!(matches!(
            Nntp.received(b"502 no\r\n", false),
            Step::Done(Outcome::Down(_))
        ));
    }

    /// A server that closed without a word was down with an empty message.
    #[test]
    fn close_without_a_greeting_was_down_with_an_empty_message() {
        assert_eq!(
            Nntp.received(b"", true),
            Step::Done(Outcome::Down("connection closed without a greeting".into()))
        );
    }
}
