//! maintenancedir: a file named after a real server puts it into maintenance (down at once,
//! without a check). The names are the Perl ldirectord's (`_check_real_for_maintenance`):
//! `RIP:PORT`, then `RIP`, where RIP is the address as its config reader leaves it, an IPv6
//! one in brackets (`[2001:db8::1]:80`, `[2001:db8::1]`). The bare IPv6 address
//! (`2001:db8::1`) is taken too; `2001:db8::1:80` never is: it is the bare address of
//! another real.
//!
//! PORT is the port of the `real=` line, as in the Perl ldirectord, or the port the real's
//! checks connect to (`checkport=`, else the real's port, else the service's): only the
//! latter was taken, so with `checkport=` set the Perl name `RIP:REALPORT` put nothing into
//! maintenance.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// The file names that put the real at `addr` into maintenance, for each of `ports`.
fn names(addr: IpAddr, ports: &[u16]) -> Vec<String> {
    // SocketAddr writes an IPv6 address in brackets before its port, as the original does.
    let mut names: Vec<String> = Vec::new();
    for &port in ports {
        let name = SocketAddr::new(addr, port).to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if addr.is_ipv6() {
        names.push(format!("[{addr}]"));
    }
    names.push(addr.to_string());
    names
}

/// Whether `dir` holds a file naming the real at `addr`, with one of `ports` or none. The
/// original also tries the real's reverse-DNS names; a blocking lookup per check has no
/// place in the loop.
pub fn holds(dir: &Path, addr: IpAddr, ports: &[u16]) -> bool {
    names(addr, ports)
        .iter()
        .any(|name| dir.join(name).exists())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::PathBuf;

    /// A fresh directory of the test's own (tests run in parallel in one process).
    fn dir(test: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ldmaint-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        d
    }

    /// Alone in `dir`: the file `name`.
    fn only(dir: &Path, name: &str) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let _ = fs::remove_file(e.path());
        }
        fs::write(dir.join(name), "").unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    /// For 2001:db8::1 port 80 only `2001:db8::1:80` and `2001:db8::1` were looked for: the
    /// first is ambiguous (it is also the bare address 2001:db8::1:80), and the files the Perl
    /// ldirectord looks for, `[2001:db8::1]:80` and `[2001:db8::1]`, were never seen.
    #[test]
    fn maintenancedir_missed_ipv6_reals_named_in_brackets() {
        let d = dir("v6");
        let real: IpAddr = "2001:db8::1".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(!holds(&d, real, &[80]), "empty directory");
        for name in ["[2001:db8::1]:80", "[2001:db8::1]", "2001:db8::1"] {
            only(&d, name);
            assert!(holds(&d, real, &[80]), "{name} missed");
        }
        for name in [
            "2001:db8::1:80",
            "[2001:db8::1]:81",
            "[2001:db8::2]",
            "2001:db8::",
        ] {
            only(&d, name);
            assert!(!holds(&d, real, &[80]), "{name} taken for [2001:db8::1]:80");
        }
        // The ambiguous name is the bare address of another real.
        only(&d, "2001:db8::1:80");
        let other: IpAddr = "2001:db8::1:80".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(holds(&d, other, &[443]));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn ipv4_reals_by_address_and_port_or_address_alone() {
        let d = dir("v4");
        let real: IpAddr = "198.51.100.7".parse().unwrap_or_else(|e| panic!("{e}"));
        for name in ["198.51.100.7:80", "198.51.100.7"] {
            only(&d, name);
            assert!(holds(&d, real, &[80]), "{name} missed");
        }
        for name in ["198.51.100.7:81", "198.51.100.70", "[198.51.100.7]"] {
            only(&d, name);
            assert!(!holds(&d, real, &[80]), "{name} taken for 198.51.100.7:80");
        }
        let _ = fs::remove_dir_all(&d);
    }

    /// With `checkport=8080` on `real=198.51.100.7:80`, only `198.51.100.7:8080` was taken;
    /// the Perl ldirectord looks for `198.51.100.7:80`. Both are taken now, no other port.
    #[test]
    fn maintenance_file_with_the_real_port_was_missed_when_checkport_differs() {
        let d = dir("checkport");
        let real: IpAddr = "198.51.100.7".parse().unwrap_or_else(|e| panic!("{e}"));
        for name in ["198.51.100.7:80", "198.51.100.7:8080"] {
            only(&d, name);
            assert!(holds(&d, real, &[80, 8080]), "{name} missed");
        }
        only(&d, "198.51.100.7:81");
        assert!(!holds(&d, real, &[80, 8080]));
        assert_eq!(
            names(real, &[80, 80]),
            ["198.51.100.7:80", "198.51.100.7"],
            "one name per port"
        );
        let _ = fs::remove_dir_all(&d);
    }
}
