//! service=http / https / http_proxy: one HTTP/1.1 request, as the Perl original's LWP call.
//!
//! URL: the per-real request (a full `http[s]://` URL is used as is) or the virtual's,
//! `http://<real>:<checkport>/<request>`; Host header: virtualhost or the real's address;
//! http_proxy sends the absolute URL in the request line (the real is the proxy). Up: a 2xx
//! status and, if receive is set, the body matches the receive regex. The message is the
//! status line. Redirects are not followed (LWP follows up to 7): a 3xx is down, saying where
//! it points.

use regex_lite::Regex;

use super::{host_text, Dialogue, Step};
use crate::applets::ldirectord::config::{Real, Service, Virtual};
use crate::applets::ldirectord::core::Outcome;

/// The HTTP check of one real.
pub struct Http {
    request: Vec<u8>,
    head: bool,
    receive: Option<Regex>,
    receive_text: String,
}

impl Http {
    pub fn new(v: &Virtual, r: &Real) -> Http {
        let scheme = if v.service == Service::Https {
            "https"
        } else {
            "http"
        };
        let (req, receive) = match (&r.request, &r.receive) {
            (Some(q), Some(rc)) => (q.clone(), rc.clone()),
            _ => (v.request.clone(), v.receive.clone()),
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
        let request = format!(
            "{} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ldirectord (habox)\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            v.httpmethod
        )
        .into_bytes();
        Http {
            request,
            head: v.httpmethod == "HEAD",
            receive: (!receive.is_empty())
                .then(|| Regex::new(&receive).ok())
                .flatten(),
            receive_text: receive,
        }
    }
}

/// A parsed response head: status code, status line, header end offset, framing.
struct Head {
    code: u16,
    status: String,
    body_start: usize,
    length: Option<usize>,
    chunked: bool,
    location: Option<String>,
}

fn parse_head(input: &[u8]) -> Option<Head> {
    let end = input.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = String::from_utf8_lossy(&input[..end]);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or("").to_string();
    let code = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut head = Head {
        code,
        status,
        body_start: end + 4,
        length: None,
        chunked: false,
        location: None,
    };
    for l in lines {
        let Some((k, val)) = l.split_once(':') else {
            continue;
        };
        let val = val.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => head.length = val.parse().ok(),
            "transfer-encoding" => head.chunked = val.to_ascii_lowercase().contains("chunked"),
            "location" => head.location = Some(val.to_string()),
            _ => {}
        }
    }
    Some(head)
}

/// Decodes a chunked body; None until the last chunk has arrived.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size =
            usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        let chunk = data.get(..size)?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..)?;
    }
}

impl Dialogue for Http {
    fn opening(&mut self) -> (Vec<u8>, bool) {
        (std::mem::take(&mut self.request), false)
    }

    fn received(&mut self, input: &[u8], eof: bool) -> Step {
        let Some(head) = parse_head(input) else {
            return if eof {
                Step::Done(Outcome::Down("malformed or truncated HTTP response".into()))
            } else {
                Step::More
            };
        };
        let rest = &input[head.body_start..];
        let body: Vec<u8> = if self.head || head.code == 204 || head.code == 304 {
            Vec::new()
        } else if head.chunked {
            match dechunk(rest) {
                Some(b) => b,
                None if eof => rest.to_vec(),
                None => return Step::More,
            }
        } else if let Some(n) = head.length {
            if rest.len() < n && !eof {
                return Step::More;
            }
            rest[..n.min(rest.len())].to_vec()
        } else if eof {
            rest.to_vec()
        } else {
            return Step::More;
        };
        if !(200..300).contains(&head.code) {
            let mut msg = head.status;
            if let Some(l) = head.location {
                msg.push_str(&format!(" (redirect to {l} not followed)"));
            }
            return Step::Done(Outcome::Down(msg));
        }
        match &self.receive {
            Some(re) => {
                let text = String::from_utf8_lossy(&body);
                if re.is_match(&text) {
                    Step::Done(Outcome::Up(head.status))
                } else {
                    Step::Done(Outcome::Down(format!(
                        "{}: body does not match receive {:?}",
                        head.status, self.receive_text
                    )))
                }
            }
            None if !self.receive_text.is_empty() => Step::Done(Outcome::Down(format!(
                "invalid receive regex {:?}",
                self.receive_text
            ))),
            None => Step::Done(Outcome::Up(head.status)),
        }
    }
}

#[cfg(test)]
mod tests {
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
        let mut h = http("\treceive=\"x\"\n");
        for s in [
            &b""[..],
            b"\r\n\r\n",
            b"HTTP/1.1 200\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
        ] {
            let _ = h.received(s, true);
            let _ = h.received(s, false);
        }
    }
}
