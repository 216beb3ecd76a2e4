//! service=http / https / http_proxy: one HTTP/1.1 request, as the Perl original's LWP call.
//!
//! URL: the per-real request (a full `http[s]://` URL is used as is) or the virtual's,
//! `http://<real>:<checkport>/<request>`; Host header: virtualhost or the real's address;
//! http_proxy sends the absolute URL in the request line (the real is the proxy). Up: a 2xx
//! status and, if receive is set, the body matches the receive regex. The message is the
//! status line. Redirects are followed as LWP follows them (up to 7) while they stay on the
//! real server (`redirect`); a 3xx that is not followed is down, saying where it points.

use super::http_response::{Progress, ResponseReader};
use super::{host_text, Dialogue, Step, MAX_INPUT};
use crate::applets::ldirectord::config::{Real, Receive, Service, Virtual};
use crate::applets::ldirectord::core::Outcome;

/// The HTTP check of one real.
pub struct Http {
    request: Vec<u8>,
    /// The method, request target and Host header sent (a redirect is resolved against them).
    method: String,
    target: String,
    host: String,
    receive: Option<Receive>,
    /// Body bytes released (searched, then dropped) while reading a body bigger than the
    /// input cap.
    released: usize,
    /// `receive` matched in a released window: up, whatever follows.
    matched: bool,
    response: ResponseReader,
}

impl Http {
    pub fn new(v: &Virtual, r: &Real) -> Http {
        let scheme = if v.service == Service::Https {
            "https"
        } else {
            "http"
        };
        let (req, receive) = match (&r.request, &r.receive) {
            (Some(q), Some(rc)) => (q.as_str(), Some(rc)),
            _ => (v.request.as_str(), v.receive.as_ref()),
        };
        let uri = req.trim_start_matches('/');
        let port = v.check_port(r);
        let full = uri.starts_with("http://") || uri.starts_with("https://");
        let default_host = host_text(r);
        let host = v.virtualhost.clone().unwrap_or(default_host);
        let (target, host) = if v.service == Service::HttpProxy || full {
            let url_host = uri
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .unwrap_or(&host)
                .to_string();
            let path = if v.service == Service::HttpProxy {
                uri.to_string()
            } else {
                let after = uri.split("://").nth(1).unwrap_or("");
                format!("/{}", after.split_once('/').map(|x| x.1).unwrap_or(""))
            };
            (path, url_host)
        } else {
            let _ = (scheme, port);
            (format!("/{uri}"), host)
        };
        Http::request(&v.httpmethod, target, host, receive.cloned())
    }

    fn request(method: &str, target: String, host: String, receive: Option<Receive>) -> Http {
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ldirectord (habox)\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        Http {
            request,
            method: method.to_string(),
            target,
            host,
            response: ResponseReader::new(method == "HEAD"),
            receive,
            released: 0,
            matched: false,
        }
    }

    /// Where the answer redirects to: its Location, when its status is one LWP follows
    /// (301, 302, 303, 307, 308).
    pub fn redirect(&self) -> Option<&str> {
        let head = self.response.head();
        match head.code {
            301 | 302 | 303 | 307 | 308 => head.location.as_deref(),
            _ => None,
        }
    }

    /// The answer's status line.
    pub fn status(&self) -> &str {
        &self.response.head().status
    }

    /// The request target and Host header sent.
    pub fn sent(&self) -> (&str, &str) {
        (&self.target, &self.host)
    }

    /// The same check for another `target` with Host `host` (a redirect followed).
    pub fn follow(&self, target: String, host: String) -> Http {
        Http::request(&self.method, target, host, self.receive.clone())
    }

    /// Bytes of the answer examined so far (each a bounded number of times).
    pub fn examined(&self) -> usize {
        self.response.examined()
    }
}

/// The most of one body read (in windows of the input cap): the Perl's LWP reads a page of
/// any size; a server that sends without end is cut here, and judged on what came.
const MAX_BODY: usize = 16 << 20;
/// What consecutive windows of a big body share: a match shorter than this is found
/// wherever it lies.
const OVERLAP: usize = 64 << 10;

/// Searches `body`, the part of a big body held now (`first`: the body starts with it), for
/// `receive`, not as its last window; sets `matched` on a match. Returns how much of `body`
/// may go: all but the last `OVERLAP` bytes (all without `receive`), cut before a character,
/// never inside one.
fn window_searched(
    receive: Option<&Receive>,
    matched: &mut bool,
    first: bool,
    body: &[u8],
) -> usize {
    let Some(re) = receive else {
        return body.len();
    };
    if body.len() <= OVERLAP {
        return 0;
    }
    let window = String::from_utf8_lossy(body);
    *matched = *matched || re.matches_window(&window, first, false);
    let mut drop = body.len() - OVERLAP;
    while body.get(drop).is_some_and(|b| b & 0xc0 == 0x80) {
        drop += 1;
    }
    drop
}

impl Dialogue for Http {
    fn opening(&mut self) -> (Vec<u8>, bool) {
        (std::mem::take(&mut self.request), false)
    }

    /// A body that outgrows the input cap: the part held is searched for `receive` and
    /// dropped but for its last `OVERLAP` bytes (all of it without `receive`), up to
    /// `MAX_BODY` in all; a chunked body is windowed after decoding, and the input it was
    /// decoded from goes.
    fn release(&mut self, input: &[u8]) -> usize {
        // The input may have filled up in one go, before `received` saw any of it.
        if self.response.feed(input, false) != Progress::More {
            return 0;
        }
        let Some(body) = self.response.held_body(input) else {
            return 0;
        };
        if self.released + body.len() > MAX_BODY {
            return 0;
        }
        let first = self.released == 0;
        let drop = window_searched(self.receive.as_ref(), &mut self.matched, first, body);
        self.released += drop;
        self.response.release(drop)
    }

    fn received(&mut self, input: &[u8], eof: bool) -> Step {
        // A full input is no close: a status line or head cut there is not the whole answer
        // the close would make it (LWP: "500 Status line too long", down), and a chunked
        // body whose chunk line fills it is not a body the close cut (LWP stops at 8 KiB
        // with "X-Died: Entity body line too long" and keeps the 200: up there).
        if eof && input.len() >= MAX_INPUT {
            let _ = self.response.feed(input, false);
            let kib = MAX_INPUT >> 10;
            if !self.response.head_done() {
                return Step::Done(Outcome::Down(format!(
                    "no complete HTTP head in the first {kib} KiB"
                )));
            }
            if let Some(line) = self.response.chunk_line_filling(input) {
                if !self.matched {
                    return Step::Done(Outcome::Down(format!(
                        "no complete {line} in the first {kib} KiB"
                    )));
                }
            }
        }
        let progress = self.response.feed(input, eof);
        let head = self.response.head();
        // Without a status line (cut, or not HTTP) the status is empty: say what was wrong.
        // With one, a non-2xx head decides below, however much of a bad body came with it.
        if let (Progress::Malformed(m), 0) = (&progress, head.code) {
            return Step::Done(Outcome::Down(m.clone()));
        }
        // Anything but 2xx is down whatever the body says: no need to wait for it.
        let decided = progress == Progress::Complete || self.response.head_done();
        if decided && !(200..300).contains(&head.code) {
            let mut msg = head.status.clone();
            if let Some(l) = &head.location {
                msg.push_str(&format!(" (redirect to {l} not followed)"));
            }
            return Step::Done(Outcome::Down(msg));
        }
        // A 2xx whose big body matched in a window already searched: the rest cannot undo it.
        if self.matched {
            return Step::Done(Outcome::Up(head.status.clone()));
        }
        match progress {
            Progress::More => return Step::More,
            Progress::Malformed(m) => return Step::Done(Outcome::Down(m)),
            Progress::Complete => {}
        }
        let status = head.status.clone();
        match &self.receive {
            Some(re) => {
                let text = String::from_utf8_lossy(self.response.body(input));
                if re.matches_window(&text, self.released == 0, true) {
                    Step::Done(Outcome::Up(status))
                } else {
                    Step::Done(Outcome::Down(format!(
                        "{status}: body does not match receive {:?}",
                        re.as_str()
                    )))
                }
            }
            None => Step::Done(Outcome::Up(status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::release;
    use super::*;
    use crate::applets::ldirectord::config::parse;
    use crate::applets::ldirectord::resolve::SystemResolver;

    fn http(extra: &str) -> Http {
        let text = format!("virtual=198.51.100.10:80\n\treal=198.51.100.21:8080 masq\n{extra}");
        let c = parse("t", &text, &SystemResolver).unwrap_or_else(|e| panic!("{e}"));
        Http::new(&c.virtuals[0], &c.virtuals[0].reals[0])
    }

    fn outcome(h: &mut Http, input: &[u8], eof: bool) -> Step {
        h.received(input, eof)
    }

    /// A server that closed in the middle of its status line (or sent something else) was
    /// reported down with an empty reason: the empty status of an unfinished head was the
    /// message, not what was wrong.
    #[test]
    fn a_cut_status_line_was_reported_down_with_an_empty_reason() {
        for (input, says) in [
            (&b"HTTP/1.1 20"[..], "malformed or truncated HTTP response"),
            (b"", "malformed or truncated HTTP response"),
            (
                b"HTTP/1.1 2000 OK\r\n\r\n",
                "not an HTTP status line: \"HTTP/1.1 2000 OK\"",
            ),
        ] {
            let mut h = http("");
            let _ = h.opening();
            assert_eq!(
                outcome(&mut h, input, true),
                Step::Done(Outcome::Down(says.into())),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// A server answering `hello Test Page\n` without a status line, then closing, was down
    /// ("not an HTTP status line"); the Perl's LWP reads it as HTTP/0.9, `200 Assumed OK`, and
    /// judges the whole answer against receive.
    #[test]
    fn an_answer_without_a_status_line_marked_a_healthy_real_down() {
        let mut h = http("\treceive=\"Test Page\"\n");
        let _ = h.opening();
        assert_eq!(outcome(&mut h, b"hello Test Page\n", false), Step::More);
        assert_eq!(
            outcome(&mut h, b"hello Test Page\n", true),
            Step::Done(Outcome::Up("200 Assumed OK".into()))
        );
        let mut h = http("\treceive=\"Test Page\"\n");
        assert_eq!(
            outcome(&mut h, b"Service Unavailable\n", true),
            Step::Done(Outcome::Down(
                "200 Assumed OK: body does not match receive \"Test Page\"".into()
            ))
        );
        let mut h = http("\treceive=\"Test Page\"\n");
        assert_eq!(
            outcome(
                &mut h,
                b"\r\nHTTP/1.1 200 OK\r\n\r\nhello Test Page\n",
                true
            ),
            Step::Done(Outcome::Up("HTTP/1.1 200 OK".into()))
        );
    }

    #[test]
    fn request_line_and_host() {
        let mut h = http("\trequest=\"index.html\"\n\tvirtualhost=www.example\n");
        let (req, _) = h.opening();
        let req = String::from_utf8_lossy(&req).to_string();
        assert!(
            req.starts_with("GET /index.html HTTP/1.1\r\nHost: www.example\r\n"),
            "{req}"
        );
        let mut h = http("\thttpmethod=head\n");
        let req = String::from_utf8_lossy(&h.opening().0).to_string();
        assert!(
            req.starts_with("HEAD / HTTP/1.1\r\nHost: 198.51.100.21\r\n"),
            "{req}"
        );
    }

    /// `service=http_proxy` asks the real, as a proxy, for the absolute URL of `request`
    /// (the Perl sets the real as LWP's proxy): the request line carries the whole URL and
    /// Host is the URL's host, not the real's.
    #[test]
    fn http_proxy_asks_for_the_absolute_url_with_its_host() {
        let mut h = http(
            "\tservice=http_proxy\n\trequest=\"http://www.example.com/index.html\"\n\treceive=\"ok\"\n",
        );
        let req = String::from_utf8_lossy(&h.opening().0).to_string();
        assert!(
            req.starts_with(
                "GET http://www.example.com/index.html HTTP/1.1\r\nHost: www.example.com\r\n"
            ),
            "{req}"
        );
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert!(matches!(
            outcome(&mut h, ok, true),
            Step::Done(Outcome::Up(_))
        ));
    }

    #[test]
    fn status_and_receive_decide() {
        let mut h = http("\treceive=\"Test Pa.e\"\n");
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nA Test Page!!!";
        assert_eq!(outcome(&mut h, &ok[..40], false), Step::More);
        assert_eq!(
            outcome(&mut h, ok, false),
            Step::Done(Outcome::Up("HTTP/1.1 200 OK".into()))
        );
        let miss = b"HTTP/1.1 200 OK\r\n\r\nnothing";
        let mut h = http("\treceive=\"Test Pa.e\"\n");
        assert!(matches!(
            outcome(&mut h, miss, true),
            Step::Done(Outcome::Down(_))
        ));
        let mut h = http("");
        let e = b"HTTP/1.0 503 Busy\r\n\r\n";
        assert_eq!(
            outcome(&mut h, e, true),
            Step::Done(Outcome::Down("HTTP/1.0 503 Busy".into()))
        );
    }

    #[test]
    fn chunked_body() {
        let mut h = http("\treceive=\"hello world\"\n");
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        assert_eq!(outcome(&mut h, &r[..60], false), Step::More);
        assert!(matches!(
            outcome(&mut h, r, false),
            Step::Done(Outcome::Up(_))
        ));
    }

    #[test]
    fn b3_per_real_request_is_used() {
        let text = "virtual=198.51.100.10:80\n\treal=198.51.100.21:80 masq 1 \"/missing.html\", \"NOPE\"\n";
        let c = parse("t", text, &SystemResolver).unwrap_or_else(|e| panic!("{e}"));
        let mut h = Http::new(&c.virtuals[0], &c.virtuals[0].reals[0]);
        let req = String::from_utf8_lossy(&h.opening().0).to_string();
        assert!(req.starts_with("GET /missing.html "), "{req}");
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert!(matches!(h.received(r, false), Step::Done(Outcome::Down(_))));
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            &b""[..],
            b"\r\n\r\n",
            b"HTTP/1.1 200\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
        ] {
            let _ = http("\treceive=\"x\"\n").received(s, true);
            let mut h = http("\treceive=\"x\"\n");
            let _ = h.received(s, false);
            let _ = h.received(s, true);
        }
    }

    /// A redirect or an error is down as soon as the head is there: the body is not awaited.
    #[test]
    fn a_non_2xx_head_decides_without_its_body() {
        let mut h = http("");
        let r = b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 1000\r\n\r\n";
        assert_eq!(
            h.received(r, false),
            Step::Done(Outcome::Down(
                "HTTP/1.1 302 Found (redirect to /elsewhere not followed)".into()
            ))
        );
    }

    /// Issue 16 item 3: the check re-scanned the whole answer on every segment; a 64 KiB
    /// answer dribbled one byte per segment now costs a bounded number of looks per byte and
    /// gives the same result as in one piece.
    #[test]
    fn dribbled_answer_costs_bounded_work_per_byte_and_the_same_result() {
        let mut a = b"HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n".to_vec();
        a.extend(std::iter::repeat_n(b'z', 65536 - 9));
        a.extend_from_slice(b"Test Page");
        let mut whole = http("\treceive=\"Test Pa.e$\"\n");
        let one = whole.received(&a, false);
        assert_eq!(one, Step::Done(Outcome::Up("HTTP/1.1 200 OK".into())));
        let mut h = http("\treceive=\"Test Pa.e$\"\n");
        for end in 1..a.len() {
            assert_eq!(h.received(&a[..end], false), Step::More, "at {end}");
        }
        assert_eq!(h.received(&a, false), one);
        assert!(
            h.examined() <= 2 * a.len(),
            "{} looks for {} bytes",
            h.examined(),
            a.len()
        );
    }

    /// Feeds `answer` as `TcpCheck` reads it: 16 KiB reads, `reads` of them (or until the
    /// end) before the dialogue sees the input, at most `MAX_INPUT` held and the dialogue
    /// asked to release when it is full; the peer closes after the answer. Returns the
    /// decision and how much of the answer had been read for it.
    fn drive_by(h: &mut Http, answer: &[u8], reads: usize) -> (Step, usize) {
        let mut input = Vec::new();
        let mut at = 0;
        loop {
            let mut eof = false;
            for _ in 0..reads {
                if input.len() >= MAX_INPUT {
                    if release(h, &mut input) {
                        continue;
                    }
                    eof = true;
                    break;
                }
                if at == answer.len() {
                    eof = true;
                    break;
                }
                let n = (MAX_INPUT - input.len()).min(16384).min(answer.len() - at);
                input.extend_from_slice(&answer[at..at + n]);
                at += n;
            }
            match h.received(&input, eof) {
                Step::More if !eof => {}
                step => return (step, at),
            }
        }
    }

    /// A status line of 2 MiB without a line break, or a head whose fields never end, from a
    /// server that keeps the connection open: the input filled up and was judged as if the
    /// server had closed, so the cut status line (or the fields so far) was a whole answer and
    /// the real was up with "HTTP/1.1 200 xxx...". The Perl's LWP says "500 Status line too
    /// long" (or "Header line too long") and the real is down.
    #[test]
    fn a_status_line_over_the_held_mib_was_read_as_a_whole_answer() {
        let mut endless_status = b"HTTP/1.1 200 ".to_vec();
        endless_status.resize(2 << 20, b'x');
        let mut endless_fields = b"HTTP/1.1 200 OK\r\n".to_vec();
        while endless_fields.len() < 2 << 20 {
            endless_fields.extend_from_slice(b"X-Filler: yes\r\n");
        }
        for answer in [endless_status, endless_fields] {
            let (step, _) = drive("", &answer);
            let said = match &step {
                Step::Done(Outcome::Down(m)) => m.clone(),
                other => format!("{:.80}", format!("{other:?}")),
            };
            assert_eq!(
                said,
                "no complete HTTP head in the first 1024 KiB",
                "{:?}",
                String::from_utf8_lossy(&answer[..20])
            );
        }
    }

    /// A chunked body whose chunk-size line (or its extension, or the line break after a
    /// chunk's data) never ends, from a server that keeps the connection open: the input
    /// filled up and was judged as if the server had closed, so the body decoded so far was
    /// a whole one and the real up. The same line cut short by the close is still judged on
    /// what arrived, as LWP does.
    #[test]
    fn a_chunk_line_over_the_held_mib_was_read_as_the_end_of_the_body() {
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let endless = |start: &[u8], fill: u8| {
            let mut a = head.clone();
            a.extend_from_slice(start);
            a.resize(2 << 20, fill);
            a
        };
        for (answer, says) in [
            (endless(b"1", b'0'), "no complete chunk-size line"),
            (
                endless(b"5\r\nhello\r\n5;ext=", b'x'),
                "no complete chunk-size line",
            ),
            (
                endless(b"5\r\nhello", b'x'),
                "no complete line break after a chunk's data",
            ),
        ] {
            for extra in ["", "\treceive=\"hello\"\n"] {
                let (step, _) = drive(extra, &answer);
                assert_eq!(
                    step,
                    Step::Done(Outcome::Down(format!("{says} in the first 1024 KiB"))),
                    "{extra}"
                );
            }
        }
        let mut cut = head.clone();
        cut.extend_from_slice(b"5\r\nhello\r\n5;ext=xxxx");
        assert_eq!(drive("", &cut).0, up());
    }

    /// `drive_by` a segment at a time, and a whole cap's worth before the first look (a fast
    /// server): both must decide alike.
    fn drive(extra: &str, answer: &[u8]) -> (Step, usize) {
        let slow = drive_by(&mut http(extra), answer, 1);
        assert_eq!(
            drive_by(&mut http(extra), answer, 1000).0,
            slow.0,
            "{extra}"
        );
        slow
    }

    /// A 200 answer with a Content-Length body of `len` bytes of `fill`, `marks` written
    /// over it at their offsets.
    fn big(len: usize, fill: u8, marks: &[(usize, &[u8])]) -> Vec<u8> {
        let mut a = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n").into_bytes();
        let head = a.len();
        a.resize(head + len, fill);
        for (at, m) in marks {
            a[head + at..head + at + m.len()].copy_from_slice(m);
        }
        a
    }

    /// The same body chunked: 8 KiB chunks.
    fn big_chunked(len: usize, fill: u8, marks: &[(usize, &[u8])]) -> Vec<u8> {
        let plain = big(len, fill, marks);
        let body = &plain[plain.len() - len..];
        let mut a = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for c in body.chunks(8192) {
            a.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            a.extend_from_slice(c);
            a.extend_from_slice(b"\r\n");
        }
        a.extend_from_slice(b"0\r\n\r\n");
        a
    }

    fn up() -> Step {
        Step::Done(Outcome::Up("HTTP/1.1 200 OK".into()))
    }

    /// A page over the 1 MiB input cap was judged on its first MiB: a receive string near its
    /// end (where a page's footer puts it) was not found and the healthy real went down; the
    /// Perl's LWP reads the whole page. The body is now searched in overlapping windows up to
    /// 16 MiB.
    #[test]
    fn receive_near_the_end_of_a_page_over_one_mib_was_not_found() {
        let len = 5 << 19;
        let a = big(len, b'x', &[(len - 9, b"Test Page")]);
        for re in ["Test Page", "Test Pa.e$"] {
            assert_eq!(drive(&format!("\treceive=\"{re}\"\n"), &a).0, up(), "{re}");
        }
        let (step, _) = drive("\treceive=\"Not There\"\n", &a);
        assert!(matches!(step, Step::Done(Outcome::Down(_))));
        // Chunked: windows of the decoded body.
        let c = big_chunked(len, b'x', &[(len - 9, b"Test Page")]);
        assert_eq!(drive("\treceive=\"Test Pa.e$\"\n", &c).0, up());
        let (step, _) = drive("\treceive=\"Not There\"\n", &c);
        assert!(matches!(step, Step::Done(Outcome::Down(_))));
        assert_eq!(drive("", &c), (up(), c.len()));
        // Without receive the whole body is read and dropped: up at its end.
        assert_eq!(drive("", &a), (up(), a.len()));
        // Found in the first window: up at once, the rest not waited for.
        let a = big(len, b'x', &[(10, b"Test Page")]);
        let (step, read) = drive("\treceive=\"Test Page\"\n", &a);
        assert_eq!(step, up());
        assert!(read <= MAX_INPUT + 16384, "{read}");
    }

    /// A match across the end of a window is found in the next one (they overlap); `$` at a
    /// window's end and `^` at a later window's start, which are neither the body's end nor
    /// its start, match nothing.
    #[test]
    fn window_edges_neither_lose_a_match_nor_invent_one() {
        let len = 2 << 20;
        let head = big(len, b'x', &[]).len() - len;
        // The first window is the body part of the first MiB; the second starts OVERLAP
        // before its end.
        let first_end = MAX_INPUT - head;
        let second = first_end - OVERLAP;
        for at in [
            first_end - 5,
            first_end - 1,
            first_end,
            second - 3,
            second,
            second + 1,
        ] {
            let a = big(len, b'x', &[(at, b"NEEDLE")]);
            assert_eq!(
                drive("\treceive=\"NEEDLE\"\n", &a).0,
                up(),
                "needle at {at}"
            );
        }
        let a = big(len, b'x', &[(len - 1, b"y")]);
        let (step, _) = drive("\treceive=\"x$\"\n", &a);
        assert!(matches!(step, Step::Done(Outcome::Down(_))));
        let a = big(len, b'x', &[(second, b"y")]);
        let (step, _) = drive("\treceive=\"^y\"\n", &a);
        assert!(matches!(step, Step::Done(Outcome::Down(_))));
    }

    /// Perl's `$` also matches before a final newline: `receive="^OK$"` against the body
    /// "OK\n" is up in the original and was down here. Only the body's end counts: a window
    /// that ends in "\n" before the last one, or a newline that is not the final one, is no
    /// end for `$`.
    #[test]
    fn perl_dollar_before_a_final_newline_was_down() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nOK\n";
        let mut h = http("\treceive=\"^OK$\"\n");
        assert_eq!(outcome(&mut h, ok, false), up());
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nOK\n\n";
        let mut h = http("\treceive=\"^OK$\"\n");
        assert!(matches!(
            outcome(&mut h, two, false),
            Step::Done(Outcome::Down(_))
        ));
        let len = 2 << 20;
        let head = big(len, b'x', &[]).len() - len;
        let first_end = MAX_INPUT - head;
        let a = big(len, b'x', &[(first_end - 4, b"END\n")]);
        let (step, _) = drive("\treceive=\"END$\"\n", &a);
        assert!(matches!(step, Step::Done(Outcome::Down(_))));
        let a = big(len, b'x', &[(len - 4, b"END\n")]);
        assert_eq!(drive("\treceive=\"END$\"\n", &a).0, up());
    }

    /// A body without end (or beyond 16 MiB) is cut there and judged on what came (here
    /// without `receive`: the window searches are the other tests').
    #[test]
    fn a_body_past_sixteen_mib_is_cut_and_judged() {
        let len = 20 << 20;
        let a = big(len, b'x', &[]);
        let (step, read) = drive("", &a);
        assert_eq!(step, up());
        assert!((MAX_BODY..=MAX_BODY + MAX_INPUT).contains(&read), "{read}");
    }
}
