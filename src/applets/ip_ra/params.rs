//! ip-ra's parameters: one table of the kit's names (environment, `-o NAME=VALUE`), their OCF
//! names (`OCF_RESKEY_name`), defaults and descriptions (`table`), the readers of single
//! values (`values`), and a pure parser into `Params`. The same table writes the OCF meta-data.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

#[path = "params_table.rs"]
mod table;
#[path = "params_values.rs"]
mod values;

pub use table::{default_for, Kind, Naming, SPECS};
use table::{name, spec, Key};
pub(super) use values::subnet_edge;
use values::{
    bool_value, ip_value, is_usable_vip, max_prefix, netmask_value, prefix_value, seconds_value,
    switch_value,
};

/// The validated parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub ip: IpAddr,
    /// `None`: take it from the interface address whose subnet holds `ip`.
    pub prefix: Option<u8>,
    /// `None`: the interface with an address in the subnet of `ip`.
    pub device: Option<String>,
    /// Of `ip`'s family.
    pub ping_list: Vec<IpAddr>,
    pub no_link_check: bool,
    pub wait_linkdown: Duration,
    pub no_ip_unique: bool,
    pub ping_time: Duration,
    pub ping_tries: u32,
    /// IP_PINGTRIES was given (else a PingList host gets one request, as the kit's one
    /// `lkping -w IP_PINGTIME`).
    pub ping_tries_given: bool,
    /// The duplicate check's time; `ping_tries × ping_time` when not set.
    pub ping_timeout: Duration,
    pub no_bcast_ping: bool,
    pub quickcheck_timeout: Duration,
    pub restore_and_recover: bool,
    pub source_address: bool,
    /// The names the caller used (messages name DEVICE or `nic` as it was given).
    pub naming: Naming,
}

/// A bad parameter: its name (as the caller spelled it) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError(pub String);

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParamError {}

/// The name of the interface parameter under `naming` (DEVICE, `nic`).
pub fn device_param(naming: Naming) -> &'static str {
    name(Key::Device, naming)
}

/// Parses the parameters; `get` returns the value for a name (already merged from the
/// environment and the options). Empty values count as unset.
pub fn parse(get: impl Fn(&str) -> Option<String>, naming: Naming) -> Result<Params, ParamError> {
    let val = |key: Key| -> Option<(&'static str, String)> {
        let n = name(key, naming);
        get(n).filter(|v| !v.trim().is_empty()).map(|v| (n, v))
    };
    let or_default = |key: Key| -> (&'static str, String) {
        val(key).unwrap_or_else(|| {
            (
                name(key, naming),
                default_for(spec(key), naming).to_string(),
            )
        })
    };

    let Some((ip_name, ip_text)) = val(Key::Ip) else {
        return Err(ParamError(format!(
            "{}: missing (the virtual IPv4 or IPv6 address)",
            name(Key::Ip, naming)
        )));
    };
    let (ip, mut prefix) = match ip_text.trim().split_once('/') {
        Some((a, p)) => {
            let ip = ip_value(ip_name, a).map_err(|_| {
                ParamError(format!("{ip_name}={ip_text}: not an IPv4 or IPv6 address"))
            })?;
            let max = max_prefix(ip);
            let prefix = prefix_value(ip_name, p, max).map_err(|_| {
                ParamError(format!(
                    "{ip_name}={ip_text}: prefix length must be 1..{max}"
                ))
            })?;
            (ip, Some(prefix))
        }
        None => (ip_value(ip_name, &ip_text)?, None),
    };
    if let Some(v4) = match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped(),
        IpAddr::V4(_) => None,
    } {
        return Err(ParamError(format!(
            "{ip_name}={ip_text}: an IPv4-mapped IPv6 address: give the IPv4 address {v4}"
        )));
    }
    if !is_usable_vip(ip) {
        return Err(ParamError(format!(
            "{ip_name}={ip_text}: not a unicast address"
        )));
    }
    if let Some((n, v)) = val(Key::Netmask) {
        let p = netmask_value(n, &v, ip)?;
        if prefix.is_some_and(|q| q != p) {
            return Err(ParamError(format!(
                "{n}={v} contradicts {ip_name}={ip_text}"
            )));
        }
        prefix = Some(p);
    }
    if let Some(p) = prefix {
        if let Some(what) = subnet_edge(ip, p) {
            return Err(ParamError(format!(
                "{ip_name}={ip_text} (prefix /{p}): {what}, not a host address"
            )));
        }
    }
    let device = match val(Key::Device) {
        Some((n, d)) => {
            let d = d.trim().to_string();
            // The kernel's dev_valid_name: below IFNAMSIZ, not `.` or `..`, and no `/`, `:`
            // or white space (a newline pasted into the value is no interface of any host).
            let bad_char = |c: char| matches!(c, '/' | ':' | '\x0b') || c.is_ascii_whitespace();
            if d.len() > 15 || d == "." || d == ".." || d.contains(bad_char) {
                return Err(ParamError(format!("{n}={d}: not an interface name")));
            }
            Some(d)
        }
        None => None,
    };
    let ping_list = match val(Key::PingList) {
        Some((n, list)) => list
            .split([' ', ',', '\t', '\n'])
            .filter(|s| !s.is_empty())
            .map(|s| match ip_value(n, s) {
                Ok(a) if a.is_ipv4() == ip.is_ipv4() => Ok(a),
                Ok(_) => Err(ParamError(format!(
                    "{n}: {s} is not of the family of {ip_name}={ip_text}"
                ))),
                Err(e) => Err(e),
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let flag = |key: Key| {
        let (n, v) = or_default(key);
        bool_value(n, &v)
    };
    let secs = |key: Key| {
        let (n, v) = or_default(key);
        seconds_value(n, &v)
    };
    let switch = |key: Key| {
        let (n, v) = or_default(key);
        switch_value(n, &v)
    };
    let ping_time = secs(Key::PingTime)?;
    let ping_tries_given = val(Key::PingTries).is_some();
    let ping_tries = {
        let (n, v) = or_default(Key::PingTries);
        match v.trim().parse::<u32>() {
            Ok(t) if (1..=100).contains(&t) => t,
            _ => return Err(ParamError(format!("{n}={v}: expected 1..100"))),
        }
    };
    let quickcheck_timeout = {
        let (n, v) = or_default(Key::QuickCheckTimeout);
        let t = seconds_value(n, &v)?;
        if t.is_zero() {
            return Err(ParamError(format!(
                "{n}={v}: quickCheck (monitor) would always run over it; expected seconds \
                 above 0 and up to 3600"
            )));
        }
        t
    };
    let ping_timeout = match val(Key::PingTimeout) {
        Some((n, v)) => seconds_value(n, &v)?,
        None => ping_time * ping_tries,
    };
    Ok(Params {
        ip,
        prefix,
        device,
        ping_list,
        no_link_check: flag(Key::NoLinkCheck)?,
        wait_linkdown: secs(Key::WaitLinkDown)?,
        no_ip_unique: flag(Key::NoIpUnique)?,
        ping_time,
        ping_tries,
        ping_tries_given,
        ping_timeout,
        no_bcast_ping: flag(Key::NoBcastPing)?,
        quickcheck_timeout,
        restore_and_recover: switch(Key::RestoreAndRecover)?,
        source_address: switch(Key::SourceAddress)?,
        naming,
    })
}

/// The parameters stop needs: only `ip` must be valid. stop must succeed when the resource
/// is not configured here whatever the configuration (OCF: a stop that fails for a bad
/// parameter gets the node fenced), and ip-ra finds its own addresses by their mark, so a
/// bad value of any other parameter (or a bad /prefix on ip) is left out and returned for
/// the log. `Err` only when `ip` itself cannot be read: then nothing of ours can be
/// configured under it.
pub fn parse_for_stop(
    get: impl Fn(&str) -> Option<String>,
    naming: Naming,
) -> Result<(Params, Vec<ParamError>), ParamError> {
    let first = match parse(&get, naming) {
        Ok(p) => return Ok((p, Vec::new())),
        Err(e) => e,
    };
    let ip_name = name(Key::Ip, naming);
    let bare_ip = || {
        get(ip_name).map(|v| match v.trim().split_once('/') {
            Some((a, _)) => a.to_string(),
            None => v,
        })
    };
    let attempts: [&[Key]; 3] = [&[Key::Device, Key::Netmask], &[Key::Device], &[]];
    let mut last = first.clone();
    for (bare, keys) in [false, true]
        .into_iter()
        .flat_map(|b| attempts.iter().map(move |k| (b, *k)))
    {
        let only = |n: &str| {
            if n == ip_name {
                return if bare { bare_ip() } else { get(n) };
            }
            keys.iter()
                .any(|k| name(*k, naming) == n)
                .then(|| get(n))
                .flatten()
        };
        match parse(only, naming) {
            Ok(p) => return Ok((p, vec![first])),
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    fn kit(pairs: &[(&str, &str)]) -> Result<Params, ParamError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(|n| m.get(n).cloned(), Naming::Kit)
    }

    #[test]
    fn defaults_follow_the_kit() {
        let p = kit(&[("IP", "198.51.100.10/24"), ("DEVICE", "eth0")]).unwrap();
        assert_eq!(p.ip, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)));
        assert_eq!(p.prefix, Some(24));
        assert_eq!(p.device.as_deref(), Some("eth0"));
        assert!(p.ping_list.is_empty());
        assert!(!p.no_link_check && !p.no_ip_unique && !p.no_bcast_ping);
        assert_eq!(p.wait_linkdown, Duration::from_secs(5));
        assert_eq!(p.quickcheck_timeout, Duration::from_secs(12));
        assert_eq!(p.ping_timeout, Duration::from_secs(3));
        assert_eq!(p.ping_tries, 3);
        assert!(!p.ping_tries_given);
        assert!(p.restore_and_recover);
        assert!(!p.source_address);
    }

    #[test]
    fn ping_list_and_tunables() {
        let p = kit(&[
            ("IP", "203.0.113.7"),
            ("PingList", "203.0.113.1, 203.0.113.2 203.0.113.3"),
            ("IP_NOLINKCHECK", "1"),
            ("NOBCASTPING", "1"),
            ("IP_WAIT_LINKDOWN", "0.5"),
            ("SOURCE_ADDRESS", "enable"),
            ("RESTORE_AND_RECOVER", "disable"),
            ("IP_PINGTIMEOUT", "2"),
        ])
        .unwrap();
        assert_eq!(p.prefix, None);
        assert_eq!(p.ping_list.len(), 3);
        assert!(p.no_link_check && p.no_bcast_ping && p.source_address);
        assert!(!p.restore_and_recover);
        assert_eq!(p.wait_linkdown, Duration::from_millis(500));
        assert_eq!(p.ping_timeout, Duration::from_secs(2));
        let p = kit(&[("IP", "203.0.113.7"), ("IP_PINGTRIES", "3")]).unwrap();
        assert!(p.ping_tries_given);
    }

    #[test]
    fn device_names_the_kernel_refuses_are_not_interface_names() {
        for d in [
            "eth0\nx",
            "eth0\tx",
            "a/b",
            "eth0:ra",
            ".",
            "..",
            "sixteen-chars-xx",
        ] {
            let e = kit(&[("IP", "203.0.113.7"), ("DEVICE", d)]).unwrap_err();
            assert!(
                e.to_string().ends_with(": not an interface name"),
                "{d:?}: {e}"
            );
        }
        for d in ["eth0", "bond0.100", "veth-a_1", "fifteen-chars-x"] {
            let p = kit(&[("IP", "203.0.113.7"), ("DEVICE", d)]).unwrap();
            assert_eq!(p.device.as_deref(), Some(d));
        }
    }

    #[test]
    fn bad_values_are_named() {
        let e = |pairs: &[(&str, &str)]| kit(pairs).unwrap_err().to_string();
        assert!(e(&[]).starts_with("IP: missing"));
        assert_eq!(
            e(&[("IP", "198.51.100.10/33")]),
            "IP=198.51.100.10/33: prefix length must be 1..32"
        );
        assert!(e(&[("IP", "198.51.100.300/24")]).contains("not an IPv4 or IPv6 address"));
        assert!(e(&[("IP", "224.0.0.1/24")]).contains("not a unicast"));
        assert_eq!(
            e(&[("IP", "198.51.100.255/24")]),
            "IP=198.51.100.255/24 (prefix /24): the broadcast address of its subnet, \
             not a host address"
        );
        let m: HashMap<&str, &str> = [("ip", "198.51.100.0"), ("cidr_netmask", "24")].into();
        assert!(parse(|n| m.get(n).map(|v| v.to_string()), Naming::Ocf)
            .unwrap_err()
            .to_string()
            .contains("network address"));
        assert!(e(&[("IP", "198.51.100.127/25")]).contains("broadcast address"));
        assert!(e(&[("IP", "2001:db8:7::/64")]).contains("Subnet-Router anycast"));
        assert!(e(&[("IP", "2001:db8:7:0:8000::/65")]).contains("Subnet-Router anycast"));
        for ok in [
            "198.51.100.255/23",
            "198.51.100.0/31",
            "198.51.100.255/32",
            "2001:db8:7::1:0/96",
            "2001:db8:7::/127",
            "2001:db8:7::/128",
            "2001:db8:7::ffff/64",
        ] {
            assert!(kit(&[("IP", ok)]).is_ok(), "{ok}");
        }
        assert!(e(&[("IP", "198.51.100.10/24"), ("PingList", "x")]).starts_with("PingList=x"));
        assert!(e(&[("IP", "198.51.100.10/24"), ("NOIPUNIQUE", "2")]).starts_with("NOIPUNIQUE"));
        assert!(e(&[("IP", "198.51.100.10/24"), ("DEVICE", "a/b")]).contains("interface"));
        assert!(e(&[("IP", "198.51.100.10/24"), ("IP_WAIT_LINKDOWN", "-1")]).contains("seconds"));
        assert!(
            e(&[("IP", "198.51.100.10/24"), ("IP_QUICKCHECK_TIMEOUT", "0")])
                .starts_with("IP_QUICKCHECK_TIMEOUT=0: quickCheck (monitor) would always run over")
        );
    }

    #[test]
    fn ipv6_addresses_take_prefixes_up_to_128_and_a_ping_list_of_their_family() {
        let p = kit(&[
            ("IP", "2001:db8::10/64"),
            ("PingList", "2001:db8::1,2001:db8::2"),
        ])
        .unwrap();
        assert_eq!(p.ip, "2001:db8::10".parse::<IpAddr>().unwrap());
        assert_eq!((p.prefix, p.ping_list.len()), (Some(64), 2));
        assert_eq!(
            kit(&[("IP", "2001:db8::10/128")]).unwrap().prefix,
            Some(128)
        );
        let e = |pairs: &[(&str, &str)]| kit(pairs).unwrap_err().to_string();
        assert_eq!(
            e(&[("IP", "2001:db8::10/129")]),
            "IP=2001:db8::10/129: prefix length must be 1..128"
        );
        assert!(e(&[("IP", "fe80::10/64")]).contains("not a unicast"));
        assert!(e(&[("IP", "ff02::1")]).contains("not a unicast"));
        assert_eq!(
            e(&[("IP", "2001:db8::10/64"), ("PingList", "198.51.100.1")]),
            "PingList: 198.51.100.1 is not of the family of IP=2001:db8::10/64"
        );
        let m: HashMap<&str, &str> = [("ip", "2001:db8::10"), ("cidr_netmask", "64")].into();
        let p = parse(|n| m.get(n).map(|v| v.to_string()), Naming::Ocf).unwrap();
        assert_eq!(p.prefix, Some(64));
        let m: HashMap<&str, &str> = [("ip", "198.51.100.10"), ("cidr_netmask", "64")].into();
        assert!(parse(|n| m.get(n).map(|v| v.to_string()), Naming::Ocf)
            .unwrap_err()
            .0
            .contains("prefix length must be 1..32"));
    }

    fn ocf(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<&str, &str> = pairs.iter().copied().collect();
        move |n| m.get(n).map(|v| v.to_string())
    }

    #[test]
    fn a_dotted_netmask_is_a_prefix_length_as_in_ipaddr2() {
        let p = parse(
            ocf(&[("ip", "198.51.100.10"), ("cidr_netmask", "255.255.255.128")]),
            Naming::Ocf,
        )
        .unwrap();
        assert_eq!(p.prefix, Some(25));
        for bad in ["255.0.255.0", "0.0.0.0", "255.255.255.1", "255.255"] {
            let e = parse(
                ocf(&[("ip", "198.51.100.10"), ("cidr_netmask", bad)]),
                Naming::Ocf,
            )
            .unwrap_err();
            assert!(e.0.starts_with(&format!("cidr_netmask={bad}: ")), "{e}");
        }
        let p = parse(
            ocf(&[("ip", "198.51.100.10"), ("cidr_netmask", "255.255.255.255")]),
            Naming::Ocf,
        )
        .unwrap();
        assert_eq!(p.prefix, Some(32));
        // Not for IPv6.
        assert!(parse(
            ocf(&[("ip", "2001:db8::10"), ("cidr_netmask", "255.255.255.0")]),
            Naming::Ocf
        )
        .is_err());
    }

    #[test]
    fn stop_needs_only_a_valid_ip() {
        let (p, ignored) = parse_for_stop(
            ocf(&[
                ("ip", "198.51.100.10"),
                ("nic", "eth0"),
                ("cidr_netmask", "33"),
                ("nobcastping", "2"),
            ]),
            Naming::Ocf,
        )
        .unwrap();
        assert_eq!((p.prefix, p.device.as_deref()), (None, Some("eth0")));
        assert_eq!(ignored.len(), 1);
        let (p, _) = parse_for_stop(
            ocf(&[("ip", "198.51.100.0/24"), ("nic", "a/b")]),
            Naming::Ocf,
        )
        .unwrap();
        assert_eq!((p.prefix, p.device), (None, None));
        assert!(parse_for_stop(ocf(&[("ip", "nonsense")]), Naming::Ocf).is_err());
        assert!(parse_for_stop(ocf(&[]), Naming::Ocf).is_err());
    }

    #[test]
    fn ocf_names_and_netmask() {
        let m: HashMap<&str, &str> = [
            ("ip", "198.51.100.10"),
            ("cidr_netmask", "24"),
            ("nic", "eth0"),
            ("nobcastping", "1"),
        ]
        .into();
        let p = parse(|n| m.get(n).map(|v| v.to_string()), Naming::Ocf).unwrap();
        assert_eq!(p.prefix, Some(24));
        assert!(p.no_bcast_ping);
        // The OCF face does without the broadcast ping by default, the kit's face does not.
        let m: HashMap<&str, &str> = [("ip", "198.51.100.10")].into();
        let p = parse(|n| m.get(n).map(|v| v.to_string()), Naming::Ocf).unwrap();
        assert!(p.no_bcast_ping);
        assert!(!kit(&[("IP", "198.51.100.10")]).unwrap().no_bcast_ping);
        let m: HashMap<&str, &str> = [("ip", "198.51.100.10"), ("nobcastping", "0")].into();
        let p = parse(|n| m.get(n).map(|v| v.to_string()), Naming::Ocf).unwrap();
        assert!(!p.no_bcast_ping);
        let m: HashMap<&str, &str> = [("ip", "198.51.100.10/25"), ("cidr_netmask", "24")].into();
        assert!(parse(|n| m.get(n).map(|v| v.to_string()), Naming::Ocf)
            .unwrap_err()
            .0
            .contains("contradicts"));
    }
}
