//! The kit's connectivity check, pinging in-process with lkping from the virtual address:
//! the PingList hosts one by one (any reply is success); when none answers, a broadcast ping
//! of the VIP's subnet (IPv6: the all-nodes group ff02::1 on the device) that ignores our own
//! addresses (lkping `-b -z`) — unless NOBCASTPING=1, which makes it a failure. No PingList: the broadcast ping alone, or with NOBCASTPING=1
//! success without a check.
//!
//! The pings are strict (lkping `Options::strict`): a reply counts only from the host pinged
//! (any host but ours for the broadcast ping) and when it echoes the request's random data,
//! so a LAN host sending every echo identifier cannot make a dead gateway answer.
//!
//! What a host that does not answer costs: a PingList host gets the kit's one
//! `lkping -w IP_PINGTIME` (IP_PINGTRIES requests IP_PINGTIME apart when IP_PINGTRIES is set);
//! the broadcast ping gets IP_PINGTRIES requests IP_PINGTIME apart.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::applets::lkping::{self, Interface, Options};

use super::params::Params;

/// The group the fallback ping goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The IPv4 subnet broadcast address.
    Broadcast(Ipv4Addr),
    /// IPv6: the all-nodes link-local group on the device.
    AllNodes,
}

impl fmt::Display for Group {
    /// The log's name of the ping: "broadcast ping of 198.51.100.255", "all-nodes ping of
    /// ff02::1".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Group::Broadcast(b) => write!(f, "broadcast ping of {b}"),
            Group::AllNodes => write!(f, "all-nodes ping of {}", lkping::ALL_NODES),
        }
    }
}

/// Shortest time between two echo requests, whatever IP_PINGTIME says.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Pings `target` from `vip` with up to `tries` requests `p.ping_time` apart, until one reply
/// or `tries × p.ping_time`; true when a reply came.
fn answered(
    p: &Params,
    vip: IpAddr,
    target: String,
    tries: u32,
    broadcast: bool,
    ignore: &[IpAddr],
) -> Result<bool, String> {
    let opts = Options {
        target: target.clone(),
        count: Some(1),
        deadline: Some(p.ping_time.max(MIN_INTERVAL) * tries.max(1)),
        linger: p.ping_time,
        interval: p.ping_time.max(MIN_INTERVAL),
        quiet: true,
        broadcast,
        interface: Some(Interface::Address(vip)),
        ignore_from: ignore.to_vec(),
        strict: true,
        ..Options::default()
    };
    let mut out = Vec::new();
    let result = lkping::run(&opts, &mut out);
    for line in String::from_utf8_lossy(&out).lines() {
        log::debug!("lkping: {line}");
    }
    match result {
        Ok(stats) => Ok(stats.received > 0),
        Err(e) => Err(format!("ping {target} from {vip}: {e}")),
    }
}

/// Runs the check; `Ok` says how it succeeded, `Err` why it failed.
pub fn check(
    p: &Params,
    vip: IpAddr,
    group: Group,
    device: &str,
    own: &[IpAddr],
) -> Result<String, String> {
    let host_tries = if p.ping_tries_given { p.ping_tries } else { 1 };
    for &host in &p.ping_list {
        match answered(p, vip, host.to_string(), host_tries, false, &[]) {
            Ok(true) => return Ok(format!("{host} (PingList) answers {vip}")),
            Ok(false) => log::info!("connectivity check: {host} (PingList) does not answer"),
            Err(e) => log::warn!("connectivity check: {e}"),
        }
    }
    if p.no_bcast_ping {
        return if p.ping_list.is_empty() {
            Ok("no PingList and NOBCASTPING=1: not checked".to_string())
        } else {
            Err("no PingList host answers and NOBCASTPING=1".to_string())
        };
    }
    let bcast = group;
    let target = match group {
        Group::Broadcast(b) => b.to_string(),
        Group::AllNodes => format!("{}%{device}", lkping::ALL_NODES),
    };
    match answered(p, vip, target, p.ping_tries, true, own)? {
        true => Ok(format!("another host answers the {bcast} on {device}")),
        false => Err(if p.ping_list.is_empty() {
            format!("nobody answers the {bcast} on {device}")
        } else {
            format!("no PingList host answers and nobody answers the {bcast} on {device}")
        }),
    }
}
