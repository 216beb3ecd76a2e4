//! The ACR process (address re-resolver): resolves the ping-group host names of the config
//! every `resolve-interval` and writes `resolved NAME ADDR` (or `resolved NAME -`) lines to
//! its stdout, which the supervisor forwards to the worker. Resolving blocks (getaddrinfo),
//! which is why it lives in its own process and never in the worker's loop.
//!
//! `-` means the name is gone: it does not exist (EAI_NONAME, EAI_NODATA), or none of its
//! IPv4 addresses can be a witness (loopback and the like, this node's own, a VIP — a
//! spoofed answer must not pin the group up). A temporary failure (EAI_AGAIN, a refusing
//! server...) sends nothing: the worker keeps pinging the last good address, and the round
//! is retried after `TEMPORARY_RETRY`.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Duration;

use log::{debug, info, warn};

use super::config::{Config, Host};
use crate::event::{Event, EventLoop, Token};
use crate::sys::addrinfo::{lookup, LookupError};

/// How soon a round with a temporary failure is retried (`resolve-interval` if shorter).
const TEMPORARY_RETRY: Duration = Duration::from_secs(5);

/// What one lookup tells the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The first IPv4 address that can be a witness.
    Addr(Ipv4Addr),
    /// The name does not exist, or has no IPv4 address that can be a witness.
    Gone,
    /// The resolver failed for now: nothing is sent.
    Retry(LookupError),
}

/// Why the resolved `addr` cannot be pinged (None: it can). `own`: this node's addresses;
/// `vips`: the virtual clusters' addresses (the Master would answer them itself).
pub fn refusal(addr: IpAddr, own: &[IpAddr], vips: &[IpAddr]) -> Option<&'static str> {
    if let Some(why) = super::ping_group::not_a_witness(addr) {
        Some(why)
    } else if vips.contains(&addr) {
        Some("a VIP of a virtual cluster, answered by the Master itself")
    } else if own.contains(&addr) {
        Some("an address of this node")
    } else {
        None
    }
}

/// What a lookup's `result` tells the worker, and the addresses refused on the way with why.
pub fn answer(
    result: Result<Vec<IpAddr>, LookupError>,
    own: &[IpAddr],
    vips: &[IpAddr],
) -> (Answer, Vec<(IpAddr, &'static str)>) {
    let addrs = match result {
        Ok(a) => a,
        Err(e) if e.is_permanent() => return (Answer::Gone, Vec::new()),
        Err(e) => return (Answer::Retry(e), Vec::new()),
    };
    let mut refused = Vec::new();
    for a in addrs {
        // The worker pings names over IPv4 only.
        let IpAddr::V4(v4) = a else { continue };
        match refusal(a, own, vips) {
            Some(why) => refused.push((a, why)),
            None => return (Answer::Addr(v4), refused),
        }
    }
    (Answer::Gone, refused)
}

/// Every VIP of the config.
pub fn vips(c: &Config) -> Vec<IpAddr> {
    c.virtual_clusters.iter().flat_map(|vc| vc.vips()).collect()
}

/// This node's addresses now (empty, and logged, when rtnetlink fails).
pub fn own_addresses() -> Vec<IpAddr> {
    let listed = crate::net::rtnl::Rtnl::open().and_then(|mut r| {
        let v4 = r.addresses(None)?;
        let v6 = r.addresses6(None)?;
        Ok(v4
            .iter()
            .map(|a| IpAddr::V4(a.address))
            .chain(v6.iter().map(|a| IpAddr::V6(a.address)))
            .collect())
    });
    listed.unwrap_or_else(|e| {
        debug!("acr: this node's addresses: {e}");
        Vec::new()
    })
}

/// The host names the config pings, each once.
pub fn names(c: &Config) -> Vec<String> {
    let mut v: Vec<String> = c
        .virtual_clusters
        .iter()
        .flat_map(|vc| vc.ping_groups.iter())
        .flat_map(|g| g.hosts.iter())
        .filter_map(|h| match h {
            Host::Name(n) => Some(n.clone()),
            Host::Addr(_) => None,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// One line of the ACR's output.
pub fn line(name: &str, addr: Option<Ipv4Addr>) -> String {
    match addr {
        Some(a) => format!("resolved {name} {a}\n"),
        None => format!("resolved {name} -\n"),
    }
}

/// Reads one line of the ACR's output.
pub fn parse_line(line: &str) -> Option<(String, Option<Ipv4Addr>)> {
    let mut w = line.split_whitespace();
    if w.next()? != "resolved" {
        return None;
    }
    let name = w.next()?.to_string();
    let addr = match w.next()? {
        "-" => None,
        a => Some(a.parse().ok()?),
    };
    w.next().is_none().then_some((name, addr))
}

/// The ACR's main loop; returns when stdout is gone or on SIGTERM.
pub fn run(c: &Config) -> ExitCode {
    let _ = crate::sys::proctitle::set("pikemon: acr");
    let names = names(c);
    let vips = vips(c);
    // What was said last per name, and the refusals already logged (each once).
    let mut last: HashMap<String, Answer> = HashMap::new();
    let mut refused_logged: HashSet<(String, IpAddr)> = HashSet::new();
    let mut ev = EventLoop::new();
    if let Err(e) = ev.watch_signals(&[libc::SIGTERM, libc::SIGINT, libc::SIGQUIT, libc::SIGHUP]) {
        log::error!("acr: signals: {e}");
        return ExitCode::from(1);
    }
    const ROUND: Token = Token(1);
    ev.set_timer_in(Duration::ZERO, ROUND);
    let mut events = Vec::new();
    loop {
        if ev.wait(&mut events, None).is_err() {
            return ExitCode::from(1);
        }
        for e in events.drain(..) {
            match e {
                Event::Timer(ROUND, _) => {
                    let (own, mut retry) = (own_addresses(), false);
                    let mut out = String::new();
                    for n in &names {
                        let (ans, refused) = answer(lookup(n), &own, &vips);
                        debug!("acr: {n} -> {ans:?}");
                        for (a, why) in refused {
                            if refused_logged.insert((n.clone(), a)) {
                                warn!("acr: {n} resolves to {a}, refused: {why}");
                            }
                        }
                        if last.get(n) != Some(&ans) {
                            match &ans {
                                Answer::Addr(a) => info!("acr: {n} is {a}"),
                                Answer::Gone => warn!("acr: {n} has no address to ping"),
                                Answer::Retry(e) => {
                                    warn!("acr: {n}: {e}; pinging its last address meanwhile")
                                }
                            }
                        }
                        match ans {
                            Answer::Addr(a) => out.push_str(&line(n, Some(a))),
                            Answer::Gone => out.push_str(&line(n, None)),
                            Answer::Retry(_) => retry = true,
                        }
                        last.insert(n.clone(), ans);
                    }
                    let mut so = std::io::stdout().lock();
                    if so
                        .write_all(out.as_bytes())
                        .and_then(|_| so.flush())
                        .is_err()
                    {
                        info!("acr: the supervisor is gone");
                        return ExitCode::SUCCESS;
                    }
                    let next = if retry {
                        c.resolve_interval.min(TEMPORARY_RETRY)
                    } else {
                        c.resolve_interval
                    };
                    ev.set_timer_in(next, ROUND);
                }
                Event::Signal(_) => return ExitCode::SUCCESS,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let a = Some(Ipv4Addr::new(198, 51, 100, 7));
        assert_eq!(parse_line(&line("gw", a)), Some(("gw".into(), a)));
        assert_eq!(parse_line(&line("gw", None)), Some(("gw".into(), None)));
        assert_eq!(parse_line("resolved gw 1.2.3"), None);
        assert_eq!(parse_line("hello"), None);
        assert_eq!(parse_line("resolved gw - x"), None);
    }

    #[test]
    fn one_dns_error_was_sent_as_does_not_resolve() {
        let own = [IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2))];
        for code in [libc::EAI_AGAIN, libc::EAI_FAIL, libc::EAI_SYSTEM] {
            let e = LookupError(code);
            assert_eq!(answer(Err(e), &own, &[]), (Answer::Retry(e), vec![]));
        }
        let e = LookupError(libc::EAI_NONAME);
        assert_eq!(answer(Err(e), &own, &[]), (Answer::Gone, vec![]));
    }

    #[test]
    fn a_spoofed_loopback_own_or_vip_answer_pinned_the_witness_up() {
        let own = [IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2))];
        let vip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
        let gw = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for bad in [lo, own[0], vip, IpAddr::V4(Ipv4Addr::BROADCAST)] {
            let (ans, refused) = answer(Ok(vec![bad]), &own, &[vip]);
            assert_eq!(ans, Answer::Gone, "{bad}");
            assert_eq!(refused.len(), 1, "{bad}");
        }
        // A usable address after refused ones is taken; IPv6 ones are skipped.
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let (ans, refused) = answer(Ok(vec![lo, v6, vip, gw]), &own, &[vip]);
        assert_eq!(ans, Answer::Addr(Ipv4Addr::new(198, 51, 100, 1)));
        assert_eq!(refused.iter().map(|r| r.0).collect::<Vec<_>>(), [lo, vip]);
        assert_eq!(answer(Ok(vec![v6]), &own, &[]).0, Answer::Gone);
    }
}
