//! An HTTP/1.x response read as it arrives (RFC 9112): status line, header fields, then the
//! body framed by `Transfer-Encoding: chunked`, `Content-Length` or the connection's close.
//!
//! The reader keeps its place between calls: the head is split into lines once
//! (`lines::Lines`), a chunked body is decoded chunk by chunk into `decoded`, a body by length
//! is only counted. Every byte is examined a bounded number of times however the server
//! splits its answer (issue 16 item 3: the old parser searched the whole input for the head's
//! end and decoded the whole chunked body again on every segment).
//!
//! A line ends at LF, with or without the CR before it (RFC 9112 §2.2 lets a recipient
//! take a bare LF as the end of a line; LWP does, so a server answering with bare LFs was up
//! with the original). Interim 1xx answers before the final one are skipped (RFC 9110
//! §15.2: a client must parse them even unasked). A chunk's extensions and the trailer
//! section are ignored (the body is complete at the last chunk, RFC 9112 §7.1).
//!
//! An answer that does not begin with `HTTP/` is an HTTP/0.9 one, as LWP (the original's
//! client) reads it: status `200 Assumed OK`, the whole answer its body, up to the close.
//! Empty lines before the status line are passed over (LWP takes such an answer for an
//! HTTP/0.9 body too; read as HTTP/1.x, a `503` behind them is still down). A first line
//! that begins with `HTTP/` but is no status line stays an error (LWP assumes 200 there as
//! well): it is an HTTP/1.x answer whose status cannot be read, and `HTTP/1.1 5030 down`
//! must not count as up. The status line is read as RFC 9112 §4 has it (`status_code`).

use super::lines::{text, Lines};

/// The parts of the head the check uses.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code (0 if the status line has none).
    pub code: u16,
    /// The status line without its line break.
    pub status: String,
    pub location: Option<String>,
    length: Option<usize>,
    chunked: bool,
}

/// Where in the chunked body the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes to go.
    Data(usize),
    /// Reading the line break after a chunk's data.
    DataEnd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    StatusLine,
    Fields,
    /// A body of `Content-Length` bytes starting at this offset.
    Length {
        start: usize,
        length: usize,
    },
    /// A body up to the connection's close, starting at this offset.
    ToEof {
        start: usize,
    },
    Chunked(Chunk),
    /// The whole response is there: its body is `body`.
    Complete,
    Malformed(String),
}

/// What `ResponseReader::feed` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Wait for more bytes.
    More,
    /// Head and body are complete (or the peer closed): see `head` and `body`.
    Complete,
    Malformed(String),
}

/// One response being read.
#[derive(Debug)]
pub struct ResponseReader {
    lines: Lines,
    state: State,
    head: Head,
    /// A response to HEAD: no body whatever the head says (RFC 9110 §9.3.2).
    no_body: bool,
    /// Where the body lies in the input (not chunked), once complete.
    body_range: (usize, usize),
    /// The chunked body decoded so far.
    decoded: Vec<u8>,
    /// The field line read last with its continuation lines (obs-fold), applied once the
    /// next line shows it ends.
    field: Option<String>,
}

impl ResponseReader {
    /// `no_body`: the request was HEAD.
    pub fn new(no_body: bool) -> ResponseReader {
        ResponseReader {
            lines: Lines::new(),
            state: State::StatusLine,
            head: Head::default(),
            no_body,
            body_range: (0, 0),
            decoded: Vec::new(),
            field: None,
        }
    }

    /// The head read so far.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Whether the head (status line and fields) is complete.
    pub fn head_done(&self) -> bool {
        !matches!(self.state, State::StatusLine | State::Fields)
    }

    /// The body, once `feed` said `Complete`; `input` is what was fed.
    pub fn body<'a>(&'a self, input: &'a [u8]) -> &'a [u8] {
        if self.head.chunked {
            &self.decoded
        } else {
            input
                .get(self.body_range.0..self.body_range.1)
                .unwrap_or_default()
        }
    }

    /// The part of the body held in `input` while it is still being read (`feed` said
    /// `More`): what follows the head of a body framed by `Content-Length` or by the close,
    /// or what a chunked body decoded to so far. `None` before the head is complete.
    pub fn held_body<'a>(&'a self, input: &'a [u8]) -> Option<&'a [u8]> {
        match self.state {
            State::Length { start, .. } | State::ToEof { start } => input.get(start..),
            State::Chunked(_) => Some(&self.decoded),
            _ => None,
        }
    }

    /// The owner is done with the first `body` bytes of `held_body`: they are dropped, with
    /// everything before them in the input that they came from. Returns how many bytes of
    /// the input the owner drops (the reader's offsets move down by as many); a length counts
    /// only what is still to come.
    pub fn release(&mut self, body: usize) -> usize {
        let input = match &mut self.state {
            State::Length { start, length } => {
                let n = *start + body;
                *length = length.saturating_sub(body);
                *start = 0;
                n
            }
            State::ToEof { start } => {
                let n = *start + body;
                *start = 0;
                n
            }
            // The chunk framing of what was decoded goes too.
            State::Chunked(_) => {
                self.decoded.drain(..body.min(self.decoded.len()));
                let n = self.lines.offset();
                self.lines.forget(n);
                return n;
            }
            _ => return 0,
        };
        // The head's lines are behind: nothing reads lines in these states.
        self.lines.restart();
        input
    }

    /// The chunk line all of `input` is (from its first byte on, no end yet): "chunk-size
    /// line" (a size or its extensions) or "line break after a chunk's data". Asked when the
    /// input is full and nothing of it could be released: a chunked body is never cut there
    /// by a line, only by the close.
    pub fn chunk_line_filling(&self, input: &[u8]) -> Option<&'static str> {
        if self.lines.offset() != 0 || input.is_empty() {
            return None;
        }
        match self.state {
            State::Chunked(Chunk::Size) => Some("chunk-size line"),
            State::Chunked(Chunk::DataEnd) => Some("line break after a chunk's data"),
            _ => None,
        }
    }

    /// Bytes examined so far: searched for a line break, handed out as a line or copied.
    pub fn examined(&self) -> usize {
        self.lines.examined()
    }

    /// Reads on in `input` (everything received so far; it only grows) from where the last
    /// call stopped. With `eof` the peer closed: the answer is `Complete` or `Malformed`.
    pub fn feed(&mut self, input: &[u8], eof: bool) -> Progress {
        loop {
            let progressed = match self.state.clone() {
                State::StatusLine => self.status_line(input),
                State::Fields => self.field(input),
                State::Length { start, length } => {
                    let have = input.len().saturating_sub(start);
                    if have >= length || eof {
                        self.body_range = (start, start + have.min(length));
                        self.state = State::Complete;
                    }
                    false
                }
                State::ToEof { start } => {
                    if eof {
                        self.body_range = (start, input.len().max(start));
                        self.state = State::Complete;
                    }
                    false
                }
                State::Chunked(c) => self.chunk(input, c),
                State::Complete => return Progress::Complete,
                State::Malformed(m) => return Progress::Malformed(m),
            };
            if progressed {
                continue;
            }
            return match &self.state {
                State::Complete => Progress::Complete,
                State::Malformed(m) => Progress::Malformed(m.clone()),
                // The close ended the status line itself (`HTTP/1.0 200 OK` and no line
                // break), or the head after a whole line but before its blank line: the
                // answer is what arrived, without a body, as LWP reads it.
                State::StatusLine if eof => {
                    let last = text(self.lines.rest(input));
                    match status_code(&last) {
                        Some(code) => {
                            self.head.code = code;
                            self.head.status = last;
                            self.body_range = (input.len(), input.len());
                            self.state = State::Complete;
                        }
                        None => {
                            self.state =
                                State::Malformed("malformed or truncated HTTP response".into());
                        }
                    }
                    continue;
                }
                // Only at a line's end: a field cut in the middle is a truncated head.
                State::Fields if eof && self.lines.rest(input).is_empty() => {
                    self.apply_field();
                    if let State::Fields = self.state {
                        self.body_range = (input.len(), input.len());
                        self.state = State::Complete;
                    }
                    continue;
                }
                State::Fields if eof => {
                    self.state = State::Malformed("malformed or truncated HTTP response".into());
                    continue;
                }
                // A chunked body cut short by the close is judged on what arrived.
                State::Chunked(_) if eof => {
                    self.state = State::Complete;
                    Progress::Complete
                }
                _ => Progress::More,
            };
        }
    }

    fn status_line(&mut self, input: &[u8]) -> bool {
        const VERSION: &[u8] = b"HTTP/";
        let rest = self.lines.rest(input);
        if rest.starts_with(b"\n") || rest.starts_with(b"\r\n") {
            return self.lines.next_line(input).is_some();
        }
        let seen = rest.len().min(VERSION.len());
        if seen == 0 || rest == b"\r" {
            return false;
        }
        if rest.get(..seen) != VERSION.get(..seen) {
            // HTTP/0.9: no head, the body is everything up to the close.
            self.head.code = 200;
            self.head.status = "200 Assumed OK".into();
            self.state = self.http09_body_state();
            return true;
        }
        let Some(line) = self.lines.next_line(input) else {
            return false;
        };
        let status = text(line);
        match status_code(&status) {
            Some(code) => {
                self.head.code = code;
                self.head.status = status;
                self.state = State::Fields;
            }
            None => {
                self.state = State::Malformed(format!("not an HTTP status line: {status:?}"));
            }
        }
        true
    }

    /// One line of the head after the status line. A line that begins with a space or a tab
    /// continues the field before it (obs-fold): RFC 9112 §5.2 has a user agent replace it
    /// with a space before it reads the value, and LWP does. Read as a field of its own,
    /// `Content-Length:` with its number on the next line was no length and a server that
    /// kept the connection open timed the check out (up with the original). Whitespace
    /// lines before the first field are dropped (RFC 9112 §2.2).
    fn field(&mut self, input: &[u8]) -> bool {
        let Some(line) = self.lines.next_line(input) else {
            return false;
        };
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some(f) = self.field.as_mut() {
                let more = text(line);
                f.push(' ');
                f.push_str(more.trim());
            }
            return true;
        }
        self.apply_field();
        if !matches!(self.state, State::Fields) {
            return true;
        }
        if is_blank(line) {
            self.state = if (100..200).contains(&self.head.code) && self.head.code != 101 {
                // An interim answer (100 Continue, 102, 103): the final one follows.
                self.head = Head::default();
                State::StatusLine
            } else {
                self.body_state()
            };
            return true;
        }
        self.field = Some(text(line));
        true
    }

    /// Reads the field line kept in `field`, now that it is complete.
    fn apply_field(&mut self) {
        let Some(line) = self.field.take() else {
            return;
        };
        if let Some((k, val)) = line.split_once(':') {
            let val = val.trim();
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => match content_length(val) {
                    Ok(Some(n)) if self.head.length.is_some_and(|m| m != n) => {
                        self.state = State::Malformed(format!(
                            "conflicting Content-Length fields: {:?}",
                            cap(val)
                        ));
                    }
                    Ok(Some(n)) => self.head.length = Some(n),
                    Ok(None) => {}
                    Err(m) => self.state = State::Malformed(m),
                },
                "transfer-encoding" => {
                    self.head.chunked = val.to_ascii_lowercase().contains("chunked")
                }
                "location" => self.head.location = Some(val.to_string()),
                _ => {}
            }
        }
    }

    /// The framing of the body, once the head is complete (RFC 9112 §6.3).
    fn body_state(&mut self) -> State {
        let start = self.lines.offset();
        if self.no_body || self.head.code == 204 || self.head.code == 304 {
            self.head.chunked = false;
            self.body_range = (start, start);
            State::Complete
        } else if self.head.chunked {
            State::Chunked(Chunk::Size)
        } else if let Some(length) = self.head.length {
            State::Length { start, length }
        } else {
            State::ToEof { start }
        }
    }

    /// The body of an HTTP/0.9 answer: from where the next line starts to the close (none
    /// for a HEAD request).
    fn http09_body_state(&mut self) -> State {
        let start = self.lines.offset();
        if self.no_body {
            self.body_range = (start, start);
            State::Complete
        } else {
            State::ToEof { start }
        }
    }

    fn chunk(&mut self, input: &[u8], c: Chunk) -> bool {
        match c {
            Chunk::Size => {
                let Some(line) = self.lines.next_line(input) else {
                    return false;
                };
                let line = text(line);
                let size = line.split(';').next().unwrap_or("").trim();
                self.state = match usize::from_str_radix(size, 16) {
                    Ok(0) => State::Complete,
                    Ok(n) => State::Chunked(Chunk::Data(n)),
                    Err(_) => State::Malformed(format!("bad chunk size {:?}", cap(&line))),
                };
                true
            }
            Chunk::Data(left) => {
                let data = self.lines.take(input, left);
                if data.is_empty() {
                    return false;
                }
                self.decoded.extend_from_slice(data);
                self.state = State::Chunked(match left - data.len() {
                    0 => Chunk::DataEnd,
                    n => Chunk::Data(n),
                });
                true
            }
            Chunk::DataEnd => {
                let Some(line) = self.lines.next_line(input) else {
                    return false;
                };
                self.state = if is_blank(line) {
                    State::Chunked(Chunk::Size)
                } else {
                    State::Malformed("chunk data longer than its size".into())
                };
                true
            }
        }
    }
}

/// A Content-Length value (RFC 9112 §6.3 item 5): a number, or a list of the same number
/// repeated (`16, 16`, which a proxy that merged two fields makes). A list of different
/// numbers is an error; a value that is no number is ignored, as LWP ignores it (the body
/// then runs to the close).
fn content_length(val: &str) -> Result<Option<usize>, String> {
    let mut length = None;
    for item in val.split(',') {
        let Ok(n) = item.trim().parse::<usize>() else {
            return Ok(None);
        };
        if length.is_some_and(|m| m != n) {
            return Err(format!("conflicting Content-Length: {:?}", cap(val)));
        }
        length = Some(n);
    }
    Ok(length)
}

/// An empty line: CR LF, or a bare LF.
fn is_blank(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

/// At most 40 characters of a malformed line for the message.
fn cap(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The code of a status line (without its line break and trailing blanks), RFC 9112 §4:
/// `HTTP/` DIGIT `.` DIGIT (§2.3), one SP, three digits, the first 1-9 (RFC 9110 §15), then
/// the end or SP and the reason phrase. Anything else is no status line, whatever number it
/// carries: `HTTP/ 200 OK`, `HTTP/x.y 200` and `HTTP/2 200` (HTTP/2 has no status line)
/// were up, as they are with LWP, which takes any `HTTP/...` word. The SP that §4 asks a
/// server to send after the code even without a reason phrase may be missing: `HTTP/1.0
/// 200` is a status line (servers send it; LWP takes it).
fn status_code(line: &str) -> Option<u16> {
    let b = line.as_bytes();
    let version = matches!(
        b.get(..9),
        Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor, b' '])
            if major.is_ascii_digit() && minor.is_ascii_digit()
    );
    let code = b.get(9..12)?;
    if !version || !code.iter().all(u8::is_ascii_digit) || !matches!(b.get(12), None | Some(b' ')) {
        return None;
    }
    let code = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    (code >= 100).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces ending at `cuts`, then all of it with `eof`.
    fn feed_split(input: &[u8], cuts: &[usize], eof: bool) -> (Progress, Head, Vec<u8>) {
        let mut r = ResponseReader::new(false);
        for &c in cuts {
            if let p @ (Progress::Complete | Progress::Malformed(_)) = r.feed(&input[..c], false) {
                let body = r.body(&input[..c]).to_vec();
                return (p, r.head().clone(), body);
            }
        }
        let p = r.feed(input, eof);
        let body = r.body(input).to_vec();
        (p, r.head().clone(), body)
    }

    /// The code was read as the second word of whatever came first, so a server of another
    /// protocol answering "RTSP/1.0 200 OK" (or any line with 200 second) counted as up
    /// with that line as its status. An answer that starts with `HTTP/` must carry a status
    /// line; any other is an HTTP/0.9 body (`an_answer_without_a_status_line_...`).
    #[test]
    fn a_non_http_answer_with_200_second_was_read_as_its_status() {
        for line in [
            &b"HTTP/1.1 2000 OK\r\n\r\n"[..],
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 OK 200\r\n\r\n",
            b"HTTP/1.1 +20 OK\r\n\r\n",
            b"HTTP/1.1 000 OK\r\n\r\n",
        ] {
            let (p, h, _) = feed_split(line, &[], true);
            assert!(
                matches!(&p, Progress::Malformed(m) if m.starts_with("not an HTTP status line")),
                "{:?}: {p:?}",
                String::from_utf8_lossy(line)
            );
            assert_eq!(h.code, 0);
        }
        // No reason phrase is still a status line (RFC 9112 allows it).
        let (p, h, _) = feed_split(b"HTTP/1.0 204\r\n\r\n", &[], true);
        assert_eq!((p, h.code), (Progress::Complete, 204));
        for (line, code) in [
            ("HTTP/1.1 200", 200),
            ("HTTP/1.0 200", 200),
            ("HTTP/1.1 200 ", 200),
            ("HTTP/1.1 503 Busy now", 503),
            ("HTTP/9.9 404 x", 404),
        ] {
            assert_eq!(status_code(line), Some(code), "{line:?}");
        }
        let (p, h, body) = feed_split(b"RTSP/1.0 200 OK\r\n\r\n", &[], true);
        assert_eq!(
            (p, h.status.as_str()),
            (Progress::Complete, "200 Assumed OK")
        );
        assert_eq!(body, b"RTSP/1.0 200 OK\r\n\r\n");
    }

    /// `HTTP/ 200 OK` (a version without digits) was a status line, and so was any first
    /// word that began with `HTTP/` followed by a 3-digit second word: a real answering such
    /// garbage was up. RFC 9112 §2.3, §4: `HTTP/` DIGIT `.` DIGIT SP 3DIGIT.
    #[test]
    fn http_slash_without_version_digits_was_a_status_line() {
        for line in [
            &b"HTTP/ 200 OK\r\n\r\n"[..],
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/x.y 200 OK\r\n\r\n",
            b"HTTP/1.1x 200 OK\r\n\r\n",
            b"HTTP/11.1 200 OK\r\n\r\n",
            b"HTTP/1. 200 OK\r\n\r\n",
            b"HTTP/1.1  200 OK\r\n\r\n",
            b"HTTP/1.1\t200 OK\r\n\r\n",
            b"HTTP/1.1 200OK\r\n\r\n",
            b"HTTP/1.1 200\tOK\r\n\r\n",
            b"HTTP/1.1 2\xc3\xa90 OK\r\n\r\n",
            b"HTTP/\r\n\r\n",
        ] {
            let (p, h, _) = feed_split(line, &[], true);
            assert!(
                matches!(&p, Progress::Malformed(m) if m.starts_with("not an HTTP status line")),
                "{:?}: {p:?}",
                String::from_utf8_lossy(line)
            );
            assert_eq!(h.code, 0);
        }
    }

    /// An answer without a status line (`hello Test Page\n`, then the close) was down ("not an
    /// HTTP status line"); LWP reads it as an HTTP/0.9 answer, `200 Assumed OK` with the whole
    /// answer as its body, and the Perl ldirectord judges that body. An empty line before
    /// the status line was down the same way; it is passed over.
    #[test]
    fn an_answer_without_a_status_line_was_down() {
        let (p, h, body) = feed_split(b"hello Test Page\n", &[], true);
        assert_eq!(
            (p, h.code, h.status.as_str()),
            (Progress::Complete, 200, "200 Assumed OK")
        );
        assert_eq!(body, b"hello Test Page\n");
        // Read to the close: no end before it.
        let (p, _, _) = feed_split(b"hello Test Page\n", &[], false);
        assert_eq!(p, Progress::More);
        // A HEAD request's answer has no body, whatever comes.
        let mut r = ResponseReader::new(true);
        assert_eq!(r.feed(b"h", false), Progress::Complete);
        assert_eq!(r.head().status, "200 Assumed OK");
        // Until five bytes show whether it is `HTTP/`, it could be a status line.
        let (p, _, _) = feed_split(b"HTTP", &[1, 2, 3], false);
        assert_eq!(p, Progress::More);
        let (p, _, _) = feed_split(b"HTTP", &[], true);
        assert_eq!(
            p,
            Progress::Malformed("malformed or truncated HTTP response".into())
        );
        for lead in [&b"\r\n"[..], b"\n", b"\r\n\r\n"] {
            let mut a = lead.to_vec();
            a.extend_from_slice(b"HTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\nno");
            let (p, h, body) = feed_split(&a, &[], false);
            assert_eq!(
                (p, h.status.as_str(), &body[..]),
                (Progress::Complete, "HTTP/1.1 503 Busy", &b"no"[..])
            );
        }
        // An empty answer is none (LWP: "Server closed connection without sending any data").
        let (p, _, _) = feed_split(b"\r\n", &[], true);
        assert!(matches!(p, Progress::Malformed(_)), "{p:?}");
    }

    /// `Content-Length: 16, 16` (a list of one value repeated, RFC 9112 §6.3) was no length:
    /// the body was read to the close, and a server keeping the connection open made the check
    /// time out. Different values, in a list or in two fields, are an error.
    #[test]
    fn a_content_length_list_of_one_repeated_value_was_not_a_length() {
        let (p, _, body) = feed_split(
            b"HTTP/1.1 200 OK\r\nContent-Length: 16, 16\r\n\r\nhello Test Page\nMORE",
            &[],
            false,
        );
        assert_eq!(
            (p, &body[..]),
            (Progress::Complete, &b"hello Test Page\n"[..])
        );
        let (p, _, body) = feed_split(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5 ,5\r\n\r\nhello",
            &[],
            false,
        );
        assert_eq!((p, &body[..]), (Progress::Complete, &b"hello"[..]));
        for two in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 16, 17\r\n\r\nhello"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\nContent-Length: 17\r\n\r\nhello",
        ] {
            let (p, _, _) = feed_split(two, &[], false);
            assert!(
                matches!(&p, Progress::Malformed(m) if m.starts_with("conflicting Content-Length")),
                "{p:?}"
            );
        }
        // No number: ignored as LWP ignores it, the body runs to the close.
        let (p, _, body) = feed_split(
            b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\nhello",
            &[],
            true,
        );
        assert_eq!((p, &body[..]), (Progress::Complete, &b"hello"[..]));
    }

    #[test]
    fn length_chunked_and_to_eof_bodies() {
        let (p, h, body) = feed_split(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
            &[],
            false,
        );
        assert_eq!(
            (p, h.code, &body[..]),
            (Progress::Complete, 200, &b"hello"[..])
        );
        assert_eq!(h.status, "HTTP/1.1 200 OK");
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let (p, _, body) = feed_split(chunked, &[], false);
        assert_eq!((p, &body[..]), (Progress::Complete, &b"hello world"[..]));
        let (p, _, body) = feed_split(
            b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nto the end",
            &[],
            false,
        );
        assert_eq!(p, Progress::More);
        assert!(body.is_empty());
        let (p, _, body) = feed_split(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nto the end", &[], true);
        assert_eq!((p, &body[..]), (Progress::Complete, &b"to the end"[..]));
    }

    #[test]
    fn malformed_and_truncated() {
        // A head cut by the close before its blank line: what arrived, without a body.
        let (p, head, body) = feed_split(b"HTTP/1.1 200 OK\r\nServer: x\r\n", &[], true);
        assert_eq!(
            (p, head.code, &body[..]),
            (Progress::Complete, 200, &b""[..])
        );
        let (p, _, _) = feed_split(b"HTTP/1.1 200 OK\r\nServer: x\r\n", &[], false);
        assert_eq!(p, Progress::More);
        // A field cut in the middle is a truncated head.
        let (p, _, _) = feed_split(b"HTTP/1.1 200 OK\r\nContent-", &[], true);
        assert!(matches!(p, Progress::Malformed(_)), "{p:?}");
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(matches!(
            feed_split(bad, &[], false).0,
            Progress::Malformed(_)
        ));
        let long = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n";
        assert!(matches!(
            feed_split(long, &[], false).0,
            Progress::Malformed(_)
        ));
        // Cut short by the close: judged on the part that arrived.
        let cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc";
        let (p, _, body) = feed_split(cut, &[], true);
        assert_eq!((p, &body[..]), (Progress::Complete, &b"abc"[..]));
    }

    #[test]
    fn a_status_line_ended_by_the_close_without_a_line_break_was_down() {
        for answer in [
            &b"HTTP/1.0 200 OK"[..],
            b"HTTP/1.1 200",
            b"HTTP/1.0 200 OK\r",
        ] {
            let (p, head, body) = feed_split(answer, &[], true);
            assert_eq!(
                (p, head.code, &body[..]),
                (Progress::Complete, 200, &b""[..])
            );
            assert_eq!(feed_split(answer, &[], false).0, Progress::More);
        }
        assert_eq!(head_status(b"HTTP/1.0 503 Busy"), "HTTP/1.0 503 Busy");
        for junk in [&b"HTTP/1.0 2"[..], b"HTTP/1.0", b"HTTP/", b"HTTP/ 200 OK"] {
            let (p, _, _) = feed_split(junk, &[], true);
            assert!(matches!(p, Progress::Malformed(_)), "{junk:?}: {p:?}");
        }
    }

    fn head_status(answer: &[u8]) -> String {
        feed_split(answer, &[], true).1.status
    }

    #[test]
    fn no_body_for_head_204_and_304() {
        let mut r = ResponseReader::new(true);
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
        assert_eq!(r.feed(input, false), Progress::Complete);
        assert!(r.body(input).is_empty());
        let (p, _, _) = feed_split(b"HTTP/1.1 204 No Content\r\n\r\n", &[], false);
        assert_eq!(p, Progress::Complete);
    }

    /// A server whose head lines end in a bare LF (RFC 9112 §2.2 lets a client accept it; LWP
    /// does) was down with "malformed or truncated HTTP response", and an interim
    /// `100 Continue` before the answer was taken for the answer (down, "HTTP/1.1 100
    /// Continue"): both were up with the original.
    #[test]
    fn bare_lf_heads_and_an_interim_100_continue_were_read_as_a_failed_answer() {
        let (p, h, body) = feed_split(b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello", &[], false);
        assert_eq!(
            (p, h.code, &body[..]),
            (Progress::Complete, 200, &b"hello"[..])
        );
        assert_eq!(h.status, "HTTP/1.1 200 OK");
        let chunked = b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n";
        let (p, _, body) = feed_split(chunked, &[], false);
        assert_eq!((p, &body[..]), (Progress::Complete, &b"hello"[..]));
        let interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let (p, h, body) = feed_split(interim, &[], false);
        assert_eq!(
            (p, h.code, &body[..]),
            (Progress::Complete, 200, &b"hello"[..])
        );
        assert_eq!(h.status, "HTTP/1.1 200 OK");
        // An interim answer alone is no answer; 101 is final (a protocol switch never asked).
        let (p, _, _) = feed_split(b"HTTP/1.1 100 Continue\r\n\r\n", &[], true);
        assert!(matches!(p, Progress::Malformed(_)), "{p:?}");
        let (p, h, _) = feed_split(b"HTTP/1.1 101 Switching\r\n\r\n", &[], false);
        assert_eq!((p, h.code), (Progress::More, 101));
    }

    /// The same answer in any pieces gives the same result as in one.
    #[test]
    fn any_split_gives_the_same_result_as_one_piece() {
        let answers: [&[u8]; 8] = [
            b"hello Test Page\n",
            b"\r\n\nHTTP/1.0 200 OK\r\nContent-Length: 16, 16\r\n\r\nhello Test Page\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.0 200 OK\nServer: x\n\nbody\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
            b"HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n",
        ];
        for a in answers {
            for eof in [false, true] {
                let whole = feed_split(a, &[], eof);
                for i in 0..a.len() {
                    for j in i..a.len() {
                        assert_eq!(feed_split(a, &[i, j], eof), whole, "{i} {j}");
                    }
                }
                let every: Vec<usize> = (0..a.len()).collect();
                assert_eq!(feed_split(a, &every, eof), whole);
            }
        }
    }

    /// Issue 16 item 3: a server dribbling a long chunked answer one byte per segment costs
    /// a bounded number of looks per byte (the old parser looked at the whole input again on
    /// every segment: about len²/2 looks).
    #[test]
    fn a_response_dribbled_byte_by_byte_is_examined_a_bounded_number_of_times_per_byte() {
        let mut a = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n".to_vec();
        for i in 0..200 {
            a.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "f".repeat(50)).as_bytes());
        }
        a.extend_from_slice(b"\r\n");
        for _ in 0..100 {
            a.extend_from_slice(b"200\r\n");
            a.extend_from_slice(&[b'b'; 0x200]);
            a.extend_from_slice(b"\r\n");
        }
        // Complete at the last chunk (its trailer section is not awaited).
        a.extend_from_slice(b"0\r\n");
        let mut r = ResponseReader::new(false);
        for end in 0..a.len() {
            assert_eq!(r.feed(&a[..end], false), Progress::More);
        }
        assert_eq!(r.feed(&a, false), Progress::Complete);
        assert_eq!(r.body(&a).len(), 100 * 0x200);
        assert!(
            r.examined() <= 2 * a.len(),
            "{} looks for {} bytes",
            r.examined(),
            a.len()
        );
    }

    /// A head field folded onto a continuation line (obs-fold: `Content-Length:` then ` 9`
    /// on the next line) was read as two fields, the first without a number: the body ran to
    /// the close and a server that kept the connection open timed the check out. LWP (the
    /// original's client) joins the lines and was up. A folded `Transfer-Encoding` or
    /// `Location` is read the same way; a continuation line carrying a colon is no field of
    /// its own.
    #[test]
    fn a_folded_content_length_timed_out_a_healthy_real() {
        let folded = b"HTTP/1.1 200 OK\r\nContent-Length:\r\n 9\r\n\r\nTest Page";
        let (p, h, body) = feed_split(folded, &[], false);
        assert_eq!(
            (p, h.code, &body[..]),
            (Progress::Complete, 200, &b"Test Page"[..])
        );
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\tchunked\r\n\r\n9\r\nTest Page\r\n0\r\n\r\n";
        let (p, _, body) = feed_split(chunked, &[], false);
        assert_eq!((p, &body[..]), (Progress::Complete, &b"Test Page"[..]));
        let colon = b"HTTP/1.1 200 OK\r\nX-Note: a\r\n Content-Length: 2\r\nContent-Length: 9\r\n\r\nTest Page";
        let (p, _, body) = feed_split(colon, &[], false);
        assert_eq!((p, &body[..]), (Progress::Complete, &b"Test Page"[..]));
        let moved = b"HTTP/1.1 302 Found\r\nLocation:\r\n /elsewhere\r\n";
        let (p, h, _) = feed_split(moved, &[], true);
        assert_eq!(
            (p, h.location.as_deref()),
            (Progress::Complete, Some("/elsewhere"))
        );
        for a in [&folded[..], chunked, colon, moved] {
            let whole = feed_split(a, &[], true);
            for i in 0..a.len() {
                assert_eq!(feed_split(a, &[i], true), whole, "{i}");
            }
        }
    }
}
