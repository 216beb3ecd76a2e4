//! The address syntaxes of ldirectord.cf: `virtual=`, `real=` (ranges, forward method, weight,
//! per-real request/receive, thresholds) and `fallback=`.
//!
//! Unlike the original: a per-real `"request", "receive"` is honoured whatever the request
//! starts with (bug B3), thresholds after it are kept and may be quoted (B4), and a range is
//! compared as numbers (B11).

use std::net::{IpAddr, Ipv4Addr};

use super::lines::Reader;
use super::model::{Fallback, Forward, Real, Receive};
use crate::conf::Span;

/// The largest range `a->b` expands to (a /16); beyond it is surely a typo.
const MAX_RANGE: u32 = 65536;

fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+')
}

fn is_port_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
}

/// Splits a host (`[v6]` or a name/IPv4 ending before `->`, `:` or a blank) off `s`.
fn take_host(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        return Some((&rest[..end], &rest[end + 1..]));
    }
    let mut end = 0;
    let bytes = s.as_bytes();
    while end < s.len() {
        let c = char::from(bytes[end]);
        if c == '-' && bytes.get(end + 1) == Some(&b'>') {
            break;
        }
        if !is_host_char(c) {
            break;
        }
        end += 1;
    }
    (end > 0).then(|| (&s[..end], &s[end..]))
}

/// Splits an optional `:port` (number or service name) off `s`.
fn take_port(s: &str) -> (Option<&str>, &str) {
    match s.strip_prefix(':') {
        Some(rest) => {
            let end = rest.find(|c| !is_port_char(c)).unwrap_or(rest.len());
            if end == 0 {
                (None, s)
            } else {
                (Some(&rest[..end]), &rest[end..])
            }
        }
        None => (None, s),
    }
}

/// A `virtual=` value: `Ok((Some((host, port)), None))` or `Ok((None, Some(fwmark)))`.
pub(super) type VirtualAddrText = (Option<(String, String)>, Option<u32>);

pub(super) fn parse_virtual_addr(value: &str, v6: bool) -> Result<VirtualAddrText, &'static str> {
    if value.starts_with('[') && !v6 {
        return Err("cannot specify an IPv6 address here, use \"virtual6\"");
    }
    if value.chars().all(|c| c.is_ascii_digit()) && !value.is_empty() {
        return value
            .parse()
            .map(|m| (None, Some(m)))
            .map_err(|_| "firewall mark out of range");
    }
    let (host, rest) = take_host(value).ok_or("invalid address for virtual server")?;
    if value.starts_with('[') && host.parse::<std::net::Ipv6Addr>().is_err() {
        return Err("invalid ipv6 address for virtual server");
    }
    let (port, rest) = take_port(rest);
    let port = port.ok_or("invalid address for virtual server: ip:port or a firewall mark")?;
    if !rest.trim().is_empty() {
        return Err("invalid address for virtual server: unexpected text after the port");
    }
    Ok((Some((host.to_string(), port.to_string())), None))
}

/// One real server as read (a range gives several).
pub(super) struct RealDraft {
    addr: IpAddr,
    port: u16,
    forward: Forward,
    weight: u32,
    request: Option<String>,
    receive: Option<Receive>,
    lower: u32,
    upper: u32,
}

impl RealDraft {
    pub(super) fn into_real(self) -> Real {
        Real {
            addr: self.addr,
            port: self.port,
            forward: self.forward,
            weight: self.weight,
            request: self.request,
            receive: self.receive,
            lower: self.lower,
            upper: self.upper,
        }
    }
}

/// Splits a `"quoted"` word off the front of `s` (after blanks).
fn take_quoted(s: &str) -> Option<(&str, &str)> {
    let rest = s.trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    Some((&rest[..end], &rest[end + 1..]))
}

/// The flags after the address: `gate|masq|ipip [weight] ["request", "receive"] [l:N] [u:N]`.
struct Flags {
    forward: Forward,
    weight: u32,
    request: Option<String>,
    receive: Option<Receive>,
    lower: u32,
    upper: u32,
}

fn parse_flags(text: &str) -> Result<Flags, String> {
    let text = text.trim();
    let fwd_end = text.find(|c: char| c.is_whitespace()).unwrap_or(text.len());
    let forward = Forward::from_word(&text[..fwd_end])
        .ok_or_else(|| "forward method must be gate, masq or ipip".to_string())?;
    let mut rest = text[fwd_end..].trim_start();
    let mut flags = Flags {
        forward,
        weight: 1,
        request: None,
        receive: None,
        lower: 0,
        upper: 0,
    };
    let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 {
        flags.weight = rest[..digits]
            .parse()
            .map_err(|_| format!("weight {} out of range", &rest[..digits]))?;
        rest = rest[digits..].trim_start();
    }
    // A quoted pair is request/receive unless it is a threshold ("l:N" as the man page shows).
    if let Some((first, after)) = take_quoted(rest) {
        if !is_threshold(first) {
            let after = after.trim_start();
            let after = after.strip_prefix(',').unwrap_or(after);
            let (second, after) = take_quoted(after).ok_or_else(|| {
                "a per-real request needs a receive: \"request\", \"receive\"".to_string()
            })?;
            flags.request = Some(if first.starts_with('/') {
                first.to_string()
            } else {
                format!("/{first}")
            });
            flags.receive = Some(Receive::new(second)?);
            rest = after.trim_start();
        }
    }
    for word in rest.split_whitespace() {
        let w = word
            .trim_matches('"')
            .trim_start_matches('<')
            .trim_end_matches('>');
        let (slot, n) = match w.split_once(':') {
            Some(("l", n)) => (&mut flags.lower, n),
            Some(("u", n)) => (&mut flags.upper, n),
            _ => return Err(format!("Invalid real server line, around \"{word}\"")),
        };
        *slot = n
            .parse()
            .map_err(|_| format!("invalid threshold \"{word}\""))?;
    }
    Ok(flags)
}

fn is_threshold(s: &str) -> bool {
    let s = s.trim_start_matches('<').trim_end_matches('>');
    matches!(s.split_once(':'), Some(("l" | "u", n)) if n.parse::<u32>().is_ok())
}

/// Reads a `real=`/`real6=` value into one or more real servers.
pub(super) fn parse_real_line(
    r: &mut Reader,
    span: &Span,
    text: &str,
    v6: bool,
) -> Option<Vec<RealDraft>> {
    let fail = |r: &mut Reader, msg: String| {
        r.errors.push(span, msg);
        None
    };
    let Some((h1, rest)) = take_host(text) else {
        return fail(r, "invalid address for real server (wrong format)".into());
    };
    let (h2, rest) = match rest.strip_prefix("->") {
        Some(rest) => match take_host(rest) {
            Some((h2, rest)) => (Some(h2), rest),
            None => return fail(r, "invalid address for real server (wrong format)".into()),
        },
        None => (None, rest),
    };
    let (port, rest) = take_port(rest);
    if !rest.starts_with(char::is_whitespace) {
        return fail(
            r,
            "invalid address for real server: ADDRESS[:PORT] gate|masq|ipip [WEIGHT]".into(),
        );
    }
    let Some(a1) = r.resolver.host(h1, v6) else {
        return fail(
            r,
            format!("invalid address ({h1}) for real server (could not resolve host)"),
        );
    };
    let port = match port {
        Some(p) => match r.resolver.service(p, "") {
            Some(n) => n,
            None => {
                return fail(
                    r,
                    format!("invalid port ({p}) for real server (could not resolve port)"),
                )
            }
        },
        None => 0,
    };
    let flags = match parse_flags(rest) {
        Ok(f) => f,
        Err(e) => return fail(r, e),
    };
    let addrs: Vec<IpAddr> = match h2 {
        None => vec![a1],
        Some(h2) => {
            let Some(a2) = r.resolver.host(h2, v6) else {
                return fail(
                    r,
                    format!("invalid address ({h2}) for real server (could not resolve end host)"),
                );
            };
            let (IpAddr::V4(first), IpAddr::V4(last)) = (a1, a2) else {
                return fail(r, "address range for IPv6 is not supported".into());
            };
            let (first, last) = (u32::from(first), u32::from(last));
            if first > last {
                return fail(r, format!("invalid range {a1}->{a2}: the first address must not be greater than the last"));
            }
            if last - first >= MAX_RANGE {
                return fail(
                    r,
                    format!("range {a1}->{a2} is larger than {MAX_RANGE} addresses"),
                );
            }
            (first..=last)
                .map(|i| IpAddr::V4(Ipv4Addr::from(i)))
                .collect()
        }
    };
    Some(
        addrs
            .into_iter()
            .map(|addr| RealDraft {
                addr,
                port,
                forward: flags.forward,
                weight: flags.weight,
                request: flags.request.clone(),
                receive: flags.receive.clone(),
                lower: flags.lower,
                upper: flags.upper,
            })
            .collect(),
    )
}

/// Reads `host[:port] [gate|masq|ipip]`; `proto` ("tcp"/"udp"/"") for a service-name port.
pub(super) fn parse_fallback(
    r: &mut Reader,
    span: &Span,
    text: &str,
    v6: bool,
    proto: &str,
) -> Option<Fallback> {
    let mut words = text.split_whitespace();
    let addr_text = words.next().unwrap_or("");
    let forward = match words.next() {
        Some(w) => match Forward::from_word(w) {
            Some(f) => f,
            None => {
                r.errors
                    .push(span, "forward method must be gate, masq or ipip");
                return None;
            }
        },
        None => Forward::Gate,
    };
    if words.next().is_some() {
        r.errors
            .push(span, format!("invalid fallback server: {text}"));
        return None;
    }
    let Some((host, rest)) = take_host(addr_text) else {
        r.errors
            .push(span, format!("invalid fallback server: {text}"));
        return None;
    };
    let (port, rest) = take_port(rest);
    if !rest.is_empty() {
        r.errors
            .push(span, format!("invalid fallback server: {text}"));
        return None;
    }
    let Some(addr) = r.resolver.host(host, v6) else {
        let fam = if v6 { "IPv6" } else { "IPv4" };
        r.errors.push(
            span,
            format!("invalid {fam} address or could not resolve for fallback server: {host}"),
        );
        return None;
    };
    let port = match port {
        Some(p) => match r.resolver.service(p, proto) {
            Some(n) => Some(n),
            None => {
                r.errors.push(span, "invalid port for fallback server");
                return None;
            }
        },
        None => None,
    };
    Some(Fallback {
        addr,
        port,
        forward,
    })
}
