//! Range-checked readers for the values of pikemon's config items: numbers, durations
//! (`100ms`, `1s`, `2m`), booleans (`yes`/`no`), IPv4 addresses in Kernun's `[a.b.c.d]`
//! notation with an optional `/len`, MAC addresses and names. Each returns a message; the
//! caller attaches the token's span.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// Reads an unsigned integer in `min..=max`.
pub fn number(text: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: u64 = text.parse().map_err(|e: std::num::ParseIntError| {
        if *e.kind() == std::num::IntErrorKind::PosOverflow {
            format!("{text} is out of range {min}..{max}")
        } else {
            format!("'{text}' is not a number")
        }
    })?;
    if n < min || n > max {
        return Err(format!("{n} is out of range {min}..{max}"));
    }
    Ok(n)
}

/// Reads a duration: a number with the unit `ms`, `s`, `m` or `h`; a bare number is seconds.
pub fn duration(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let out_of_range = || {
        format!(
            "{text} is out of range {}..{}",
            show_duration(min),
            show_duration(max)
        )
    };
    let n: u64 = digits.parse().map_err(|e: std::num::ParseIntError| {
        if *e.kind() == std::num::IntErrorKind::PosOverflow {
            out_of_range()
        } else {
            format!("'{text}' is not a duration (e.g. 100ms, 1s, 2m)")
        }
    })?;
    let ms = match unit {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(format!("'{text}': unknown unit '{unit}' (ms, s, m, h)")),
    };
    let d = ms.map(Duration::from_millis).ok_or_else(out_of_range)?;
    if d < min || d > max {
        return Err(format!(
            "{} is out of range {}..{}",
            show_duration(d),
            show_duration(min),
            show_duration(max)
        ));
    }
    Ok(d)
}

/// Writes a duration the way `duration` reads it, in the largest exact unit.
pub fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms != 0 && ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms != 0 && ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// `realtime`: `no`, `yes` (priority `REALTIME_DEFAULT`) or a SCHED_FIFO priority 1..99.
pub fn realtime(text: &str) -> Result<Option<u8>, String> {
    match text {
        "no" => Ok(None),
        "yes" => Ok(Some(REALTIME_DEFAULT)),
        _ => match text.parse::<u8>() {
            Ok(n @ 1..=99) => Ok(Some(n)),
            _ => Err(format!(
                "expected 'yes', 'no' or a priority 1..99, found '{text}'"
            )),
        },
    }
}

/// The SCHED_FIFO priority of `realtime yes;`.
pub const REALTIME_DEFAULT: u8 = 50;

/// Reads `yes` or `no`.
pub fn boolean(text: &str) -> Result<bool, String> {
    match text {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("expected 'yes' or 'no', found '{text}'")),
    }
}

/// Writes a boolean as `yes` / `no`.
pub fn show_bool(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Reads an IPv4 address, `[198.51.100.1]` (Kernun) or bare.
pub fn ipv4(text: &str) -> Result<Ipv4Addr, String> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    inner
        .parse()
        .map_err(|_| format!("'{text}' is not an IPv4 address"))
}

/// Reads `[a.b.c.d]/len` (len 1..32); the address must be a usable unicast host address.
pub fn ipv4_prefix(text: &str) -> Result<(Ipv4Addr, u8), String> {
    let (addr, len) = text
        .rsplit_once('/')
        .ok_or_else(|| format!("'{text}' lacks a prefix length (e.g. [198.51.100.10]/24)"))?;
    let addr = ipv4(addr)?;
    let len = number(len, 1, 32).map_err(|e| format!("prefix length: {e}"))? as u8;
    if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() || addr.is_loopback() {
        return Err(format!("{addr} is not a unicast host address"));
    }
    // A host part of all zeros or all ones is the subnet's network or broadcast address,
    // never a host's (RFC 1122 §3.2.1.3; /31 and /32 have no such addresses, RFC 3021):
    // clients send to the broadcast one as a broadcast, and neither may be a source.
    if len <= 30 {
        let host = u32::MAX >> len;
        match u32::from(addr) & host {
            0 => {
                return Err(format!(
                    "{addr} is the network address of /{len}, not a host's"
                ))
            }
            h if h == host => {
                return Err(format!(
                    "{addr} is the broadcast address of /{len}, not a host's"
                ))
            }
            _ => {}
        }
    }
    Ok((addr, len))
}

/// Reads an IPv6 address, `[2001:db8::1]` (Kernun) or bare.
pub fn ipv6(text: &str) -> Result<Ipv6Addr, String> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    inner
        .parse()
        .map_err(|_| format!("'{text}' is not an IPv6 address"))
}

pub(super) fn is_link_local(a: Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80
}

/// Reads `[2001:db8::10]/len` (len 1..128); a global unicast address (link-local ones go in
/// `link-local`).
pub fn ipv6_prefix(text: &str) -> Result<(Ipv6Addr, u8), String> {
    let (addr, len) = text
        .rsplit_once('/')
        .ok_or_else(|| format!("'{text}' lacks a prefix length (e.g. [2001:db8::10]/64)"))?;
    let addr = ipv6(addr)?;
    let len = number(len, 1, 128).map_err(|e| format!("prefix length: {e}"))? as u8;
    if addr.is_unspecified()
        || addr.is_multicast()
        || addr.is_loopback()
        || is_link_local(addr)
        || addr.to_ipv4_mapped().is_some()
    {
        return Err(format!(
            "{addr} is not a global unicast address (a link-local one goes in 'link-local')"
        ));
    }
    Ok((addr, len))
}

/// Reads a link-local unicast address `[fe80::1]`.
pub fn link_local(text: &str) -> Result<Ipv6Addr, String> {
    let a = ipv6(text)?;
    if !is_link_local(a) || a.is_multicast() {
        return Err(format!(
            "{a} is not a link-local unicast address (fe80::/10)"
        ));
    }
    Ok(a)
}

/// Reads a MAC address `02:00:5e:00:01:01`; it must be unicast.
pub fn mac(text: &str) -> Result<[u8; 6], String> {
    let bad = || format!("'{text}' is not a MAC address (e.g. 02:c6:33:64:0a:00)");
    let mut out = [0u8; 6];
    let mut parts = text.split(':');
    for byte in out.iter_mut() {
        let part = parts.next().ok_or_else(bad)?;
        if part.is_empty() || part.len() > 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    if out[0] & 1 != 0 {
        return Err(format!("{text} is a multicast MAC address"));
    }
    if out == [0; 6] {
        return Err(format!("{text} is the all-zero MAC address"));
    }
    Ok(out)
}

/// Writes a MAC address in lower-case colon notation.
pub fn show_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Checks an interface name (IFNAMSIZ: at most 15 bytes, no '/', no whitespace).
pub fn ifname(text: &str) -> Result<String, String> {
    if text.is_empty()
        || text.len() > 15
        || text.contains('/')
        || text.contains(':')
        || text.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "'{text}' is not an interface name (1..15 characters, no '/' or ':')"
        ));
    }
    Ok(text.to_string())
}

/// Checks the name of a virtual cluster or ping group: letters, digits, `-`, `_`, `.`.
pub fn name(text: &str) -> Result<String, String> {
    if text.is_empty()
        || text.len() > 32
        || !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "'{text}' is not a valid name (1..32 of letters, digits, '-', '_', '.')"
        ));
    }
    Ok(text.to_string())
}

/// Checks a host name for the resolver (RFC 1123 labels).
pub fn hostname(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "'{text}' is neither an address [a.b.c.d] nor a host name"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units_and_ranges() {
        let (lo, hi) = (Duration::from_millis(10), Duration::from_secs(60));
        assert_eq!(duration("100ms", lo, hi), Ok(Duration::from_millis(100)));
        assert_eq!(duration("2", lo, hi), Ok(Duration::from_secs(2)));
        assert_eq!(duration("1m", lo, hi), Ok(Duration::from_secs(60)));
        assert_eq!(
            duration("5ms", lo, hi),
            Err("5ms is out of range 10ms..1m".into())
        );
        assert!(duration("1x", lo, hi).unwrap_err().contains("unknown unit"));
        assert!(duration("ms", lo, hi).is_err());
        assert!(duration("99999999999999999999h", lo, hi).is_err());
        assert!(duration("9999999999999999h", lo, hi).is_err());
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(show_duration(Duration::from_secs(120)), "2m");
        assert_eq!(show_duration(Duration::ZERO), "0s");
    }

    /// `node-id 99999999999999999999999999999;` said "is not a number".
    #[test]
    fn a_number_too_large_for_its_type_was_called_not_a_number() {
        let max = u64::from(u32::MAX);
        let huge = "99999999999999999999999999999";
        assert_eq!(
            number(huge, 1, max),
            Err(format!("{huge} is out of range 1..4294967295"))
        );
        assert_eq!(number("x1", 1, max), Err("'x1' is not a number".into()));
        assert_eq!(number("-1", 1, max), Err("'-1' is not a number".into()));
        let (lo, hi) = (Duration::from_millis(10), Duration::from_secs(60));
        assert_eq!(
            duration("99999999999999999999h", lo, hi),
            Err("99999999999999999999h is out of range 10ms..1m".into())
        );
        assert_eq!(
            duration("9999999999999999h", lo, hi),
            Err("9999999999999999h is out of range 10ms..1m".into())
        );
    }

    #[test]
    fn addresses_and_macs() {
        assert_eq!(ipv4("[198.51.100.1]"), Ok(Ipv4Addr::new(198, 51, 100, 1)));
        assert_eq!(
            ipv4_prefix("[198.51.100.10]/24"),
            Ok((Ipv4Addr::new(198, 51, 100, 10), 24))
        );
        assert!(ipv4_prefix("[198.51.100.10]").is_err());
        assert!(ipv4_prefix("[198.51.100.10]/33").is_err());
        assert!(ipv4_prefix("[224.0.0.1]/4").is_err());
        assert_eq!(
            ipv4_prefix("[198.51.100.255]/24").unwrap_err(),
            "198.51.100.255 is the broadcast address of /24, not a host's"
        );
        assert_eq!(
            ipv4_prefix("[198.51.100.0]/24").unwrap_err(),
            "198.51.100.0 is the network address of /24, not a host's"
        );
        assert!(ipv4_prefix("[198.51.100.3]/30").is_err());
        assert!(ipv4_prefix("[198.51.100.2]/30").is_ok());
        assert!(ipv4_prefix("[198.51.100.0]/31").is_ok());
        assert!(ipv4_prefix("[198.51.100.255]/32").is_ok());
        assert_eq!(mac("02:c6:33:64:0a:00"), Ok([2, 0xc6, 0x33, 0x64, 10, 0]));
        assert!(mac("03:00:00:00:00:01").unwrap_err().contains("multicast"));
        assert!(mac("02:00:00:00:00").is_err());
        assert!(mac("02:00:00:00:00:00:00").is_err());
        assert!(mac("02:0g:00:00:00:00").is_err());
        assert!(hostname("gw.example.").is_err());
        assert!(hostname("gw-1.example").is_ok());
        assert!(ifname("a-very-long-interface").is_err());
    }
}
