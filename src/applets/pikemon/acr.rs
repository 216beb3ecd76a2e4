//! The ACR process (address re-resolver): resolves the ping-group host names of the config
//! every `resolve-interval` and writes `resolved NAME ADDR` (or `resolved NAME -`) lines to
//! its stdout, which the supervisor forwards to the worker. Resolving blocks (getaddrinfo),
//! which is why it lives in its own process and never in the worker's loop.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use log::{debug, info};

use super::config::{resolve, Config, Host};
use crate::event::{Event, EventLoop, Token};

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
                    let mut out = String::new();
                    for n in &names {
                        let addr = resolve(n).first().copied();
                        debug!("acr: {n} -> {addr:?}");
                        out.push_str(&line(n, addr));
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
                    ev.set_timer_in(c.resolve_interval, ROUND);
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
}
