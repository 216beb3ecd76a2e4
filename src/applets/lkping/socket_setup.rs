//! A run's set-up: resolve the destination, then open the socket and set it up as
//! ping4_run / ping6_run do (broadcast probe, device or source binding, TTL or hop limit).

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};

use nix::sys::socket::{setsockopt, sockopt};

use super::error::LkpingError;
use super::options::{Family, Interface, Options};
use super::pinger::{scoped_text, Destination, Pinger};
use crate::net::icmp::IcmpSocket;
use crate::net::icmp6::Icmp6Socket;
use crate::sys::addrinfo::lookup;

/// ping4_run's socket set-up: device, source (bound or found by the UDP probe), broadcast,
/// TTL. Returns the socket and the source address as the header prints it.
pub(super) fn open_v4(
    opts: &Options,
    dst: Ipv4Addr,
    device: Option<&str>,
    err: &mut dyn Write,
) -> Result<(Pinger, Ipv4Addr), LkpingError> {
    let sock = IcmpSocket::new().map_err(LkpingError::Socket)?;
    if let Some(d) = device {
        sock.bind_device(d)
            .map_err(|source| LkpingError::BindDevice {
                device: d.to_string(),
                source,
            })?;
    }
    let source = match opts.interface.as_ref().and_then(Interface::address) {
        Some(IpAddr::V4(a)) => {
            sock.bind_addr(a).map_err(LkpingError::Bind)?;
            a
        }
        Some(IpAddr::V6(_)) => {
            return Err(LkpingError::Bind(io::Error::from_raw_os_error(
                libc::EAFNOSUPPORT,
            )))
        }
        None => {
            let source = probe_source(dst, device, opts.broadcast, err)?;
            if let Some(d) = device.filter(|d| !device_has_address(d, IpAddr::V4(source))) {
                warn_source_off_device(err, d);
            }
            source
        }
    };
    if opts.broadcast {
        sock.set_broadcast(true)
            .map_err(|source| LkpingError::SocketOption {
                what: "cannot set broadcasting",
                source,
            })?;
    }
    if let Some(ttl) = opts.ttl {
        sock.set_ttl(ttl)
            .map_err(|source| LkpingError::SocketOption {
                what: "cannot set unicast time-to-live",
                source,
            })?;
    }
    Ok((Pinger::V4(sock), source))
}

/// ping6_run's socket set-up: device (its index first: "unknown iface"), source (bound — a
/// link-local one in the device's scope —, or found by the UDP probe for a unicast
/// destination; ping6 prints `::` for a multicast one), hop limit.
pub(super) fn open_v6(
    opts: &Options,
    dst: SocketAddrV6,
    device: Option<&str>,
    err: &mut dyn Write,
) -> Result<(Pinger, String), LkpingError> {
    let device_index = device.map(interface_index).transpose()?;
    let sock = Icmp6Socket::new().map_err(LkpingError::Socket)?;
    if let Some(d) = device {
        sock.bind_device(d)
            .map_err(|source| LkpingError::BindDevice {
                device: d.to_string(),
                source,
            })?;
    }
    let source = match opts.interface.as_ref().and_then(Interface::address) {
        Some(IpAddr::V6(a)) => {
            let scope = match device_index {
                Some(index) if needs_scope(a) => index,
                _ => dst.scope_id(),
            };
            sock.bind_addr(a, scope).map_err(LkpingError::BindV6)?;
            // ping6 prints the bound address as getnameinfo does: `fe80::1%eth0`.
            let shown = if needs_scope(a) { scope } else { 0 };
            scoped_text(&SocketAddrV6::new(a, 0, 0, shown))
        }
        Some(IpAddr::V4(_)) => {
            return Err(LkpingError::Bind(io::Error::from_raw_os_error(
                libc::EAFNOSUPPORT,
            )))
        }
        None => {
            // ping6_run probes only for a global unicast destination: a multicast or
            // link-local one is sent from `::` (the kernel picks per packet), so with -I it
            // shows `from :: DEV` and warns that `::` is on no device.
            let source = if dst.ip().is_multicast() || needs_scope(*dst.ip()) {
                Ipv6Addr::UNSPECIFIED
            } else {
                probe_source_v6(dst, device)?
            };
            if let Some(d) = device.filter(|d| !device_has_address(d, IpAddr::V6(source))) {
                warn_source_off_device(err, d);
            }
            source.to_string()
        }
    };
    if let Some(hops) = opts.ttl {
        sock.set_hop_limit(hops)
            .map_err(|source| LkpingError::SocketOption {
                what: "cannot set unicast hop limit",
                source,
            })?;
    }
    Ok((Pinger::V6(sock), source))
}

/// Whether `addr` is one of `device`'s addresses (ping's getifaddrs walk); an interface list
/// that cannot be read counts as no.
fn device_has_address(device: &str, addr: IpAddr) -> bool {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return false;
    };
    addrs
        .filter(|i| i.interface_name == device)
        .filter_map(|i| {
            let a = i.address?;
            a.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        })
        .any(|a| a == addr)
}

/// ping warns (and goes on) when the kernel picked a source that is not on the -I device:
/// replies may not come back through it.
fn warn_source_off_device(err: &mut dyn Write, device: &str) {
    let _ = writeln!(
        err,
        "lkping: Warning: source address might be selected on device other than: {device}"
    );
}

/// An interface's index, as ping6_run looks it up before anything else.
fn interface_index(name: &str) -> Result<u32, LkpingError> {
    nix::net::if_::if_nametoindex(name).map_err(|_| LkpingError::UnknownInterface(name.to_string()))
}

/// The destination: a literal address of the asked family (IPv6 with an optional `%ifname`
/// scope; a link-local or multicast one without it takes `-I`'s device), or the first address
/// of a name (IPv4 first unless `-6`).
pub(super) fn resolve(
    target: &str,
    family: Option<Family>,
    device: Option<&str>,
) -> Result<Destination, LkpingError> {
    let unknown = |reason: &str| LkpingError::UnknownHost {
        host: target.to_string(),
        reason: reason.to_string(),
    };
    let unsupported = || unknown("Address family for hostname not supported");
    let (addr_text, scope_name) = match target.split_once('%') {
        Some((a, s)) => (a, Some(s)),
        None => (target, None),
    };
    if let Ok(a) = target.parse::<Ipv4Addr>() {
        return match family {
            Some(Family::V6) => Err(unsupported()),
            _ => Ok(Destination::V4(a)),
        };
    }
    if let Ok(a) = addr_text.parse::<Ipv6Addr>() {
        if family == Some(Family::V4) {
            return Err(unsupported());
        }
        let scope = match (scope_name, device) {
            (Some(name), _) => nix::net::if_::if_nametoindex(name)
                .map_err(|_| unknown("Name or service not known"))?,
            (None, Some(name)) if needs_scope(a) => interface_index(name)?,
            _ => 0,
        };
        return Ok(Destination::V6(SocketAddrV6::new(a, 0, 0, scope)));
    }
    if target.is_empty() {
        return Err(unknown("Name or service not known"));
    }
    // ping prints glibc's gai_strerror text ("Temporary failure in name resolution"), not
    // musl's ("Try again").
    let addrs = lookup(target).map_err(|e| unknown(e.glibc_text()))?;
    let v4 = addrs.iter().find_map(|a| match a {
        IpAddr::V4(v4) => Some(Destination::V4(*v4)),
        IpAddr::V6(_) => None,
    });
    let v6 = addrs.iter().find_map(|a| match a {
        IpAddr::V6(v6) => Some(Destination::V6(SocketAddrV6::new(*v6, 0, 0, 0))),
        IpAddr::V4(_) => None,
    });
    match family {
        Some(Family::V4) => v4,
        Some(Family::V6) => v6,
        None => v4.or(v6),
    }
    .ok_or_else(unsupported)
}

/// Link-local unicast and link- or interface-local multicast addresses mean nothing without
/// an interface.
fn needs_scope(a: Ipv6Addr) -> bool {
    let s = a.segments();
    (s[0] & 0xffc0) == 0xfe80 || (a.is_multicast() && matches!(s[0] & 0x000f, 1 | 2))
}

/// ping's UDP probe: connecting a UDP socket finds the source address the kernel would use,
/// refuses an unroutable destination and reveals a broadcast one (EACCES without
/// SO_BROADCAST).
fn probe_source(
    dst: Ipv4Addr,
    device: Option<&str>,
    broadcast: bool,
    err: &mut dyn Write,
) -> Result<Ipv4Addr, LkpingError> {
    let probe = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(LkpingError::Socket)?;
    if let Some(d) = device {
        setsockopt(&probe, sockopt::BindToDevice, &d.into()).map_err(|e| {
            LkpingError::BindDevice {
                device: d.to_string(),
                source: e.into(),
            }
        })?;
    }
    if let Err(e) = probe.connect((dst, 1025)) {
        if e.raw_os_error() != Some(libc::EACCES) {
            return Err(LkpingError::Connect(e));
        }
        if !broadcast {
            return Err(LkpingError::BroadcastRefused);
        }
        let _ = writeln!(err, "WARNING: pinging broadcast address");
        probe
            .set_broadcast(true)
            .map_err(|source| LkpingError::SocketOption {
                what: "cannot set broadcasting",
                source,
            })?;
        probe.connect((dst, 1025)).map_err(LkpingError::Connect)?;
    }
    match probe.local_addr().map_err(LkpingError::Connect)? {
        SocketAddr::V4(a) => Ok(*a.ip()),
        SocketAddr::V6(_) => Ok(Ipv4Addr::UNSPECIFIED),
    }
}

/// ping6's UDP probe: the source address the kernel would use for `dst`, and an error for
/// an unroutable one.
fn probe_source_v6(dst: SocketAddrV6, device: Option<&str>) -> Result<Ipv6Addr, LkpingError> {
    let probe = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).map_err(LkpingError::Socket)?;
    if let Some(d) = device {
        setsockopt(&probe, sockopt::BindToDevice, &d.into()).map_err(|e| {
            LkpingError::BindDevice {
                device: d.to_string(),
                source: e.into(),
            }
        })?;
    }
    let mut to = dst;
    to.set_port(1025);
    probe.connect(to).map_err(LkpingError::Connect)?;
    match probe.local_addr().map_err(LkpingError::Connect)? {
        SocketAddr::V6(a) => Ok(*a.ip()),
        SocketAddr::V4(_) => Ok(Ipv6Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_targets_resolve_without_dns() {
        assert_eq!(
            resolve("198.51.100.7", None, None).unwrap(),
            Destination::V4(Ipv4Addr::new(198, 51, 100, 7))
        );
        assert!(matches!(
            resolve("", None, None),
            Err(LkpingError::UnknownHost { .. })
        ));
    }

    #[test]
    fn ipv6_targets_take_their_scope_from_percent_or_the_device() {
        let lo = nix::net::if_::if_nametoindex("lo").expect("lo");
        let v6 =
            |a: &str, scope| Destination::V6(SocketAddrV6::new(a.parse().unwrap(), 0, 0, scope));
        assert_eq!(
            resolve("2001:db8::2", None, Some("lo")).unwrap(),
            v6("2001:db8::2", 0)
        );
        assert_eq!(
            resolve("fe80::1%lo", None, None).unwrap(),
            v6("fe80::1", lo)
        );
        assert_eq!(
            resolve("ff02::1", None, Some("lo")).unwrap(),
            v6("ff02::1", lo)
        );
        assert_eq!(
            resolve("ff02::1", Some(Family::V6), None).unwrap(),
            v6("ff02::1", 0)
        );
        let wrong = |t, f| match resolve(t, Some(f), None) {
            Err(e) => e.to_string(),
            Ok(d) => panic!("{t}: {d:?}"),
        };
        assert_eq!(
            wrong("2001:db8::2", Family::V4),
            "2001:db8::2: Address family for hostname not supported"
        );
        assert_eq!(
            wrong("198.51.100.1", Family::V6),
            "198.51.100.1: Address family for hostname not supported"
        );
        assert!(resolve("fe80::1%nosuchif0", None, None).is_err());
    }
}
