//! Host and service name resolution for ldirectord.cf, done once at load time as the Perl
//! original does (getaddrinfo, first address of the wanted family; getservbyname).
//!
//! A trait so the config parser is tested without DNS or /etc/services.

use std::net::{IpAddr, ToSocketAddrs};

/// Turns names from the config into addresses and port numbers.
pub trait Resolve {
    /// First address of `host` in the wanted family (`v6`), or None.
    fn host(&self, host: &str, v6: bool) -> Option<IpAddr>;
    /// Port number of a service name for `proto` ("tcp", "udp" or "" for any), or None.
    fn service(&self, name: &str, proto: &str) -> Option<u16>;
}

/// Names ldirectord itself knows (its service table), used when /etc/services lacks them
/// (the appliance ships none).
const KNOWN_SERVICES: &[(&str, u16)] = &[
    ("ftp", 21),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("nntp", 119),
    ("imap2", 143),
    ("imap", 143),
    ("ldap", 389),
    ("https", 443),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pop3s", 995),
    ("radius", 1812),
    ("mysql", 3306),
    ("sip", 5060),
    ("postgresql", 5432),
];

/// The system: literal addresses, then getaddrinfo; /etc/services, then the table above.
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn host(&self, host: &str, v6: bool) -> Option<IpAddr> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return (ip.is_ipv6() == v6).then_some(ip);
        }
        let addrs = (bare, 0).to_socket_addrs().ok()?;
        addrs.map(|a| a.ip()).find(|ip| ip.is_ipv6() == v6)
    }

    fn service(&self, name: &str, proto: &str) -> Option<u16> {
        if let Ok(n) = name.parse::<u16>() {
            return Some(n);
        }
        if let Ok(text) = std::fs::read_to_string("/etc/services") {
            if let Some(port) = services_lookup(&text, name, proto) {
                return Some(port);
            }
        }
        KNOWN_SERVICES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    }
}

/// Looks `name` up in /etc/services text (`name port/proto aliases... # comment`).
pub fn services_lookup(text: &str, name: &str, proto: &str) -> Option<u16> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(first), Some(port_proto)) = (words.next(), words.next()) else {
            continue;
        };
        let Some((port, p)) = port_proto.split_once('/') else {
            continue;
        };
        if !proto.is_empty() && p != proto {
            continue;
        }
        if first == name || words.any(|alias| alias == name) {
            if let Ok(port) = port.parse() {
                return Some(port);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_file_names_and_aliases() {
        let text = "# c\nhttp 80/tcp www # WWW\nhttp 80/udp\ndomain 53/udp\nsubmission 587/tcp\n";
        assert_eq!(services_lookup(text, "www", "tcp"), Some(80));
        assert_eq!(services_lookup(text, "domain", "tcp"), None);
        assert_eq!(services_lookup(text, "domain", ""), Some(53));
        assert_eq!(services_lookup(text, "nope", ""), None);
    }

    #[test]
    fn literal_addresses_keep_their_family() {
        let r = SystemResolver;
        assert_eq!(r.host("198.51.100.1", false), "198.51.100.1".parse().ok());
        assert_eq!(r.host("198.51.100.1", true), None);
        assert_eq!(r.host("[2001:db8::1]", true), "2001:db8::1".parse().ok());
        assert_eq!(r.service("8080", "tcp"), Some(8080));
    }
}
