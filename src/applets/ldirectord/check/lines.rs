//! Complete lines out of a check's growing input, each byte looked at a bounded number of
//! times.
//!
//! A dialogue's input only grows until it sends again (`Dialogue::received`). `Lines`
//! remembers where the next line starts and how far the search for its end got, so a server
//! that dribbles a long reply one byte per segment costs constant work per byte instead of a
//! scan from the start on every segment (issue 16 item 3: 1 KB segments of a 1 MiB answer
//! cost about a second of CPU per check).

/// A resumable line splitter over one growing input.
#[derive(Debug, Default, Clone)]
pub struct Lines {
    /// Where the next line starts: everything before was handed out or skipped.
    start: usize,
    /// How far the search for the next line break got (no `\n` in `start..searched`).
    searched: usize,
    /// Bytes searched or handed out so far: the work done, for tests and the bench.
    examined: usize,
}

impl Lines {
    pub fn new() -> Lines {
        Lines::default()
    }

    /// The next complete line of `input` with its `\n`, if one has arrived.
    pub fn next_line<'a>(&mut self, input: &'a [u8]) -> Option<&'a [u8]> {
        let from = self.searched.max(self.start);
        let tail = input.get(from..)?;
        match tail.iter().position(|&b| b == b'\n') {
            None => {
                self.examined += tail.len();
                self.searched = input.len();
                None
            }
            Some(i) => {
                let end = from + i + 1;
                let line = input.get(self.start..end)?;
                self.examined += i + 1 + line.len();
                self.start = end;
                self.searched = end;
                Some(line)
            }
        }
    }

    /// Passes over up to `n` bytes that are not lines (a chunk's data); returns them.
    pub fn take<'a>(&mut self, input: &'a [u8], n: usize) -> &'a [u8] {
        let rest = input.get(self.start..).unwrap_or_default();
        let taken = rest.get(..n.min(rest.len())).unwrap_or_default();
        self.start += taken.len();
        self.searched = self.start;
        self.examined += taken.len();
        taken
    }

    /// Where the next line starts.
    pub fn offset(&self) -> usize {
        self.start
    }

    /// What follows the last complete line (a last line without its break, at the end).
    pub fn rest<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        input.get(self.start..).unwrap_or_default()
    }

    /// The owner dropped the first `n` bytes of the input (at most `offset()`).
    pub fn forget(&mut self, n: usize) {
        let n = n.min(self.start);
        self.start -= n;
        self.searched = self.searched.saturating_sub(n);
    }

    /// The input starts over (the dialogue sent something and `TcpCheck` cleared it).
    pub fn restart(&mut self) {
        self.start = 0;
        self.searched = 0;
    }

    /// Bytes searched or handed out since creation.
    pub fn examined(&self) -> usize {
        self.examined
    }
}

/// A line without its line break and trailing white space, as text.
pub fn text(line: &[u8]) -> String {
    String::from_utf8_lossy(line).trim_end().to_string()
}

/// One line of an SMTP-style reply (RFC 5321 §4.2: `NNN-text` continues, `NNN text` ends).
#[derive(Debug, PartialEq, Eq)]
pub enum ReplyLine {
    /// A continuation line (or one too short to hold a code): read on.
    Continues,
    /// The last line: its code and text.
    Last(u16, String),
    /// Not a reply line at all.
    Garbage(String),
}

/// Classifies one complete reply line as the SMTP checks read it.
pub fn reply_line(line: &[u8]) -> ReplyLine {
    let l = text(line);
    if l.len() < 3 || l.as_bytes().get(3) == Some(&b'-') {
        return ReplyLine::Continues;
    }
    match l.get(..3).and_then(|c| c.parse().ok()) {
        Some(code) => ReplyLine::Last(code, l),
        None => ReplyLine::Garbage(l),
    }
}

/// A reply as `Replies` reads it.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Incomplete,
    /// The code and last line of a complete reply.
    Complete(u16, String),
    Garbage(String),
}

/// SMTP-style replies read as they arrive (the smtp check and the alert mail's session).
#[derive(Debug, Default)]
pub struct Replies {
    lines: Lines,
}

impl Replies {
    /// The first reply of `input` once complete; resumes where the last call stopped.
    pub fn next(&mut self, input: &[u8]) -> Reply {
        while let Some(line) = self.lines.next_line(input) {
            match reply_line(line) {
                ReplyLine::Continues => {}
                ReplyLine::Last(code, l) => return Reply::Complete(code, l),
                ReplyLine::Garbage(l) => return Reply::Garbage(l),
            }
        }
        Reply::Incomplete
    }

    /// The input starts over (after a `Send`).
    pub fn restart(&mut self) {
        self.lines.restart();
    }

    /// Bytes searched or handed out so far (each a bounded number of times).
    pub fn examined(&self) -> usize {
        self.lines.examined()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_out_whole_however_the_input_grows() {
        let all = b"one\r\ntwo\nthree";
        let mut l = Lines::new();
        let mut got = Vec::new();
        for end in 0..=all.len() {
            while let Some(line) = l.next_line(&all[..end]) {
                got.push(line.to_vec());
            }
        }
        assert_eq!(got, vec![b"one\r\n".to_vec(), b"two\n".to_vec()]);
        assert_eq!(l.rest(all), b"three");
        assert_eq!(l.offset(), 9);
        l.restart();
        assert_eq!(l.next_line(b"x\n"), Some(&b"x\n"[..]));
    }

    #[test]
    fn a_line_dribbled_byte_by_byte_is_searched_once() {
        let line: Vec<u8> = std::iter::repeat_n(b'a', 100_000).chain(*b"\r\n").collect();
        let mut l = Lines::new();
        for end in 0..line.len() {
            assert_eq!(l.next_line(&line[..end]), None);
        }
        assert_eq!(l.next_line(&line).map(<[u8]>::len), Some(line.len()));
        // Searched once and handed out once.
        assert!(l.examined() <= 2 * line.len(), "{}", l.examined());
    }

    #[test]
    fn take_passes_over_data() {
        let mut l = Lines::new();
        assert_eq!(l.take(b"abc", 5), b"abc");
        assert_eq!(l.take(b"abcdef\n", 2), b"de");
        assert_eq!(l.next_line(b"abcdef\n"), Some(&b"f\n"[..]));
    }

    #[test]
    fn reply_lines() {
        assert_eq!(reply_line(b"250-mx\r\n"), ReplyLine::Continues);
        assert_eq!(reply_line(b"\r\n"), ReplyLine::Continues);
        assert_eq!(
            reply_line(b"250 ok\r\n"),
            ReplyLine::Last(250, "250 ok".into())
        );
        assert_eq!(reply_line(b"abc\n"), ReplyLine::Garbage("abc".into()));
        assert_eq!(
            reply_line("é5 x\n".as_bytes()),
            ReplyLine::Garbage("é5 x".into())
        );
    }
}
