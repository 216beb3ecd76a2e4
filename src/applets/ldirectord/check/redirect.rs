//! Redirects of the http and https checks, followed as the Perl original's LWP follows them:
//! 301, 302, 303, 307 and 308, at most 7 in a row, with the same method (GET or HEAD), all
//! within the check's one negotiatetimeout. Unlike LWP, only while they stay on the real
//! server being checked: a relative Location, or an absolute one naming the real's address or
//! the Host header sent (scheme and port may change: `http://real/` to `https://real/` is
//! followed on port 443 with TLS). A Location on another server is not followed (the check
//! of one real must not judge another), and the check is down, saying where it pointed.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;

use super::http::Http;
use super::{Check, Poll, TcpCheck};
use crate::applets::ldirectord::config::{Real, Virtual};
use crate::applets::ldirectord::core::Outcome;

/// LWP::UserAgent's default `max_redirect`.
pub const MAX_REDIRECTS: u8 = 7;

/// A request as sent: over TLS or not, to which port, its target and Host header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub tls: bool,
    pub port: u16,
    pub target: String,
    pub host: String,
}

/// Where a Location points, seen from the request that got it.
#[derive(Debug, PartialEq, Eq)]
pub enum Hop {
    /// The real server again, with this request.
    Same(Sent),
    /// Another server: the URL as given.
    Elsewhere(String),
}

/// Resolves `location` (RFC 9110 §10.2.2, a URI reference) against `sent`, a request to the
/// real server at `real`.
pub fn resolve(location: &str, sent: &Sent, real: IpAddr) -> Hop {
    let location = location.trim();
    let location = location.split('#').next().unwrap_or_default();
    let lower = location.to_ascii_lowercase();
    let (tls, rest) = if lower.starts_with("https://") {
        (true, location.get(8..).unwrap_or_default())
    } else if lower.starts_with("http://") {
        (false, location.get(7..).unwrap_or_default())
    } else if let Some(rest) = location.strip_prefix("//") {
        (sent.tls, rest)
    } else {
        // A path: absolute, or relative to the sent target's last segment.
        let target = if location.starts_with('/') {
            location.to_string()
        } else {
            let path = sent.target.split('?').next().unwrap_or("/");
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            if location.starts_with('?') || location.is_empty() {
                format!("{path}{location}")
            } else {
                format!("{dir}/{location}")
            }
        };
        return Hop::Same(Sent {
            target,
            ..sent.clone()
        });
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let target = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    let (host, port) = split_authority(authority);
    let port = match port {
        Some(p) => p,
        None if tls => 443,
        None => 80,
    };
    let sent_host = split_authority(&sent.host).0;
    let is_real = host.parse::<IpAddr>().is_ok_and(|ip| ip == real);
    if host.is_empty() || !(is_real || host.eq_ignore_ascii_case(&sent_host)) {
        return Hop::Elsewhere(location.to_string());
    }
    Hop::Same(Sent {
        tls,
        port,
        target,
        host: authority.to_string(),
    })
}

/// `host[:port]` or `[v6][:port]`: the host without brackets, and the port if one is given
/// and valid (an invalid one makes the host empty: elsewhere).
fn split_authority(authority: &str) -> (String, Option<u16>) {
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, rest)) => (h, rest.strip_prefix(':')),
            None => return (String::new(), None),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    match port.map(str::parse::<u16>) {
        None => (host.to_string(), None),
        Some(Ok(p)) if p > 0 => (host.to_string(), Some(p)),
        Some(_) => (String::new(), None),
    }
}

/// An http or https check that follows the redirects of its real server.
pub struct Follow {
    check: TcpCheck<Http>,
    real: IpAddr,
    sent: Sent,
    hops: u8,
}

impl Follow {
    pub fn start(v: &Virtual, r: &Real, addr: SocketAddr, tls: bool) -> io::Result<Follow> {
        let http = Http::new(v, r);
        let (target, host) = http.sent();
        let sent = Sent {
            tls,
            port: addr.port(),
            target: target.to_string(),
            host: host.to_string(),
        };
        Ok(Follow {
            check: TcpCheck::start(addr, http, tls)?,
            real: addr.ip(),
            sent,
            hops: 0,
        })
    }

    /// The answer redirected to `location`: the next request, or the final outcome.
    fn hop(&mut self, location: &str) -> Option<Outcome> {
        let status = self.check.dialogue().status().to_string();
        let not_followed = |why: &str| {
            Some(Outcome::Down(format!(
                "{status} (redirect to {location} not followed: {why})"
            )))
        };
        if self.hops >= MAX_REDIRECTS {
            return not_followed(&format!("more than {MAX_REDIRECTS} redirects"));
        }
        let next = match resolve(location, &self.sent, self.real) {
            Hop::Elsewhere(_) => return not_followed("another server"),
            Hop::Same(next) => next,
        };
        let http = self
            .check
            .dialogue()
            .follow(next.target.clone(), next.host.clone());
        match TcpCheck::start(SocketAddr::new(self.real, next.port), http, next.tls) {
            Ok(c) => {
                self.check = c;
                self.sent = next;
                self.hops += 1;
                None
            }
            Err(e) => Some(Outcome::Down(format!("redirect to {location}: {e}"))),
        }
    }
}

impl Check for Follow {
    fn fd(&self) -> Option<RawFd> {
        self.check.fd()
    }

    fn advance(&mut self) -> Poll {
        loop {
            let poll = self.check.advance();
            let Poll::Ready(outcome) = poll else {
                return poll;
            };
            let Some(location) = self.check.dialogue().redirect().map(str::to_string) else {
                return Poll::Ready(outcome);
            };
            if let Some(o) = self.hop(&location) {
                return Poll::Ready(o);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 21));

    fn sent(tls: bool, port: u16, target: &str, host: &str) -> Sent {
        Sent {
            tls,
            port,
            target: target.into(),
            host: host.into(),
        }
    }

    #[test]
    fn locations_on_the_real_are_followed_and_others_are_not() {
        let cur = sent(false, 8080, "/app/index.html", "198.51.100.21");
        let same = |l: &str| resolve(l, &cur, REAL);
        assert_eq!(
            same("/login"),
            Hop::Same(sent(false, 8080, "/login", "198.51.100.21"))
        );
        assert_eq!(
            same("login?next=1#top"),
            Hop::Same(sent(false, 8080, "/app/login?next=1", "198.51.100.21"))
        );
        assert_eq!(
            same("https://198.51.100.21/secure"),
            Hop::Same(sent(true, 443, "/secure", "198.51.100.21"))
        );
        assert_eq!(
            same("HTTP://198.51.100.21:8081"),
            Hop::Same(sent(false, 8081, "/", "198.51.100.21:8081"))
        );
        assert_eq!(
            same("//198.51.100.21/x"),
            Hop::Same(sent(false, 80, "/x", "198.51.100.21"))
        );
        for other in [
            "http://198.51.100.22/",
            "https://www.example.com/",
            "http://:80/",
            "http://198.51.100.21:99999/",
            "http://[2001:db8::1]/",
        ] {
            assert_eq!(same(other), Hop::Elsewhere(other.into()), "{other}");
        }
        // The Host header sent (virtualhost) names the real server too.
        let vh = sent(false, 80, "/", "www.example.com");
        assert_eq!(
            resolve("https://WWW.example.com/", &vh, REAL),
            Hop::Same(sent(true, 443, "/", "WWW.example.com"))
        );
        let v6 = IpAddr::V6(
            "2001:db8::21"
                .parse()
                .unwrap_or(std::net::Ipv6Addr::LOCALHOST),
        );
        assert_eq!(
            resolve(
                "http://[2001:db8::21]:81/a",
                &sent(false, 80, "/", "[2001:db8::21]"),
                v6
            ),
            Hop::Same(sent(false, 81, "/a", "[2001:db8::21]:81"))
        );
    }
}
