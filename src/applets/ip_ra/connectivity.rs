//! The kit's connectivity check, pinging in-process with lkping from the virtual address:
//! the PingList hosts one by one (any reply is success); when none answers, a broadcast ping
//! of the VIP's subnet that ignores our own addresses (lkping `-b -z`) — unless NOBCASTPING=1,
//! which makes it a failure. No PingList: the broadcast ping alone, or with NOBCASTPING=1
//! success without a check.
//!
//! What a host that does not answer costs: a PingList host gets the kit's one
//! `lkping -w IP_PINGTIME` (IP_PINGTRIES requests IP_PINGTIME apart when IP_PINGTRIES is set);
//! the broadcast ping gets IP_PINGTRIES requests IP_PINGTIME apart.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::applets::lkping::{self, Interface, Options};
use crate::net::garp::broadcast_of;

use super::params::Params;

/// Shortest time between two echo requests, whatever IP_PINGTIME says.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Pings `target` from `vip` with up to `tries` requests `p.ping_time` apart, until one reply
/// or `tries × p.ping_time`; true when a reply came.
fn answered(
    p: &Params,
    vip: Ipv4Addr,
    target: Ipv4Addr,
    tries: u32,
    broadcast: bool,
    ignore: &[Ipv4Addr],
) -> Result<bool, String> {
    let opts = Options {
        target: target.to_string(),
        count: Some(1),
        deadline: Some(p.ping_time.max(MIN_INTERVAL) * tries.max(1)),
        linger: p.ping_time,
        interval: p.ping_time.max(MIN_INTERVAL),
        quiet: true,
        broadcast,
        interface: Some(Interface::Address(vip.into())),
        ignore_from: ignore.iter().map(|a| (*a).into()).collect(),
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
    vip: Ipv4Addr,
    prefix: u8,
    device: &str,
    own: &[Ipv4Addr],
) -> Result<String, String> {
    let host_tries = if p.ping_tries_given { p.ping_tries } else { 1 };
    for &host in &p.ping_list {
        match answered(p, vip, host, host_tries, false, &[]) {
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
    let bcast = broadcast_of(vip, prefix);
    match answered(p, vip, bcast, p.ping_tries, true, own)? {
        true => Ok(format!(
            "another host answers the broadcast ping of {bcast} on {device}"
        )),
        false => Err(if p.ping_list.is_empty() {
            format!("nobody answers the broadcast ping of {bcast} on {device}")
        } else {
            format!(
                "no PingList host answers and nobody answers the broadcast ping of {bcast} on {device}"
            )
        }),
    }
}
