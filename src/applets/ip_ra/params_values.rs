//! Reading one parameter value: booleans and enable/disable switches, seconds, prefix
//! lengths and netmasks, addresses, and the checks that an address can be a virtual one.

use std::net::IpAddr;
use std::time::Duration;

use super::ParamError;

pub(super) fn bool_value(name: &str, v: &str) -> Result<bool, ParamError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" | "enable" | "enabled" => Ok(true),
        "0" | "no" | "false" | "off" | "disable" | "disabled" | "" => Ok(false),
        _ => Err(ParamError(format!("{name}={v}: expected 0 or 1"))),
    }
}

pub(super) fn switch_value(name: &str, v: &str) -> Result<bool, ParamError> {
    bool_value(name, v).map_err(|_| ParamError(format!("{name}={v}: expected enable or disable")))
}

/// Seconds, integer or decimal, 0..=3600.
pub(super) fn seconds_value(name: &str, v: &str) -> Result<Duration, ParamError> {
    match v.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(ParamError(format!(
            "{name}={v}: expected seconds between 0 and 3600"
        ))),
    }
}

/// The longest prefix of `ip`'s family.
pub(super) fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

pub(super) fn prefix_value(name: &str, v: &str, max: u8) -> Result<u8, ParamError> {
    match v.trim().parse::<u8>() {
        Ok(p) if (1..=max).contains(&p) => Ok(p),
        _ => Err(ParamError(format!(
            "{name}={v}: prefix length must be 1..{max}"
        ))),
    }
}

/// A prefix length, or for IPv4 a contiguous dotted netmask (255.255.255.0), which
/// resource-agents' IPaddr2 (findif.sh) also accepts in cidr_netmask and converts with a
/// warning.
pub(super) fn netmask_value(name: &str, v: &str, ip: IpAddr) -> Result<u8, ParamError> {
    let max = max_prefix(ip);
    if !ip.is_ipv4() || !v.contains('.') {
        return prefix_value(name, v, max);
    }
    let mask = match v.trim().parse::<std::net::Ipv4Addr>() {
        Ok(m) => u32::from(m),
        Err(_) => {
            return Err(ParamError(format!(
                "{name}={v}: expected a prefix length 1..{max} or a dotted netmask"
            )))
        }
    };
    let len = mask.leading_ones();
    if len == 0 || mask.checked_shl(len).unwrap_or(0) != 0 {
        return Err(ParamError(format!(
            "{name}={v}: not a contiguous netmask (expected e.g. 255.255.255.0 or 24)"
        )));
    }
    // At most 32: the value fits.
    let len = u8::try_from(len).unwrap_or(max);
    log::warn!("{name}={v}: a dotted netmask; taken as the prefix length {len} (write {len})");
    Ok(len)
}

pub(super) fn ip_value(name: &str, v: &str) -> Result<IpAddr, ParamError> {
    v.trim()
        .parse::<IpAddr>()
        .map_err(|_| ParamError(format!("{name}={v}: not an IPv4 or IPv6 address")))
}

/// A unicast address a host may carry as a virtual address (link-local IPv6 excluded: it
/// cannot be reached from another link and every interface has its own).
pub(super) fn is_usable_vip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
        }
        IpAddr::V6(a) => {
            !(a.is_unspecified()
                || a.is_multicast()
                || a.is_loopback()
                || (a.segments()[0] & 0xffc0) == 0xfe80
                || a.to_ipv4_mapped().is_some())
        }
    }
}

/// Why a VIP cannot be a host address of its subnet. IPv4: the all-zeros (network) or
/// all-ones (broadcast) host part (RFC 919, RFC 922); /31 (RFC 3021) and /32 have neither.
/// IPv6: the all-zeros interface identifier is the Subnet-Router anycast address (RFC 4291
/// 2.6.1); /127 (RFC 6164) and /128 have none.
pub fn subnet_edge(ip: IpAddr, prefix: u8) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => {
            if prefix >= 31 {
                return None;
            }
            let host_mask = u32::MAX >> prefix;
            match u32::from(a) & host_mask {
                0 => Some("the network address of its subnet"),
                h if h == host_mask => Some("the broadcast address of its subnet"),
                _ => None,
            }
        }
        IpAddr::V6(a) => {
            let host_mask = u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
            (prefix < 127 && u128::from(a) & host_mask == 0)
                .then_some("the Subnet-Router anycast address of its prefix")
        }
    }
}
