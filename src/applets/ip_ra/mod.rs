//! ip-ra: the virtual-IP resource with LifeKeeper IP Recovery Kit semantics — the kit's
//! `restore | remove | quickCheck | recover` (parameters from the environment or `-o`, exit
//! 0 / 1 / 2) and the same as an OCF agent (`start | stop | monitor | meta-data |
//! validate-all`, `OCF_RESKEY_*`, OCF exit codes), for an IPv4 or an IPv6 address (`inet6`).
//! Everything runs in-process: rtnetlink for links, addresses and routes, AF_PACKET for ARP
//! and Neighbor Advertisements, lkping for the pings.

mod actions;
mod connectivity;
mod inet6;
mod ocf;
mod params;
mod serial;
mod steps;

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::logging::{self, Target};

use actions::{Failure, Lookup, Resource};
use params::{Naming, Params, SPECS};

pub use actions::label_for;

/// Usage text (`-h`).
pub const USAGE: &str = "\
Usage: ip-ra restore|remove|quickCheck|recover [-i IP[/PREFIX]] [-d DEVICE] [-p PINGLIST]
             [-o NAME=VALUE]... [-D LEVEL]
       ip-ra start|stop|monitor|meta-data|validate-all     (OCF resource agent)
       ip-ra -h | -v

The kit's actions take their parameters from the environment (IP, DEVICE, PingList,
IP_NOLINKCHECK, IP_WAIT_LINKDOWN, NOIPUNIQUE, IP_PINGTIME, IP_PINGTRIES, IP_PINGTIMEOUT,
NOBCASTPING, IP_QUICKCHECK_TIMEOUT, RESTORE_AND_RECOVER, SOURCE_ADDRESS); options win.
  -i IP[/PREFIX]   the virtual address (IP)
  -d DEVICE        the interface (DEVICE)
  -p LIST          hosts to ping, separated by spaces or commas (PingList)
  -o NAME=VALUE    any parameter by its kit name
  -D LEVEL         log level 3..9 (default 6)
Exit: 0 success, 1 failure, 2 bad parameters; an unknown action exits 3.

IP may be IPv6 (2001:db8::10/64): DAD is the duplicate check (ip-ra's own Neighbor
Solicitations where the device has accept_dad=0 or dad_transmits=0), unsolicited Neighbor
Advertisements replace the gratuitous ARPs, the all-nodes group ff02::1 the broadcast ping.

OCF actions read OCF_RESKEY_ip, cidr_netmask, nic, pinglist and the tunables in lower case
(ip_nolinkcheck, ...; see meta-data); nobcastping defaults to 1 there (Linux hosts ignore
broadcast pings). Exit codes: 0 success, 1 generic error, 2 bad arguments,
3 unimplemented, 6 not configured, 7 not running.
";

/// Kit exit codes.
const EXIT_OK: u8 = 0;
const EXIT_FAILED: u8 = 1;
const EXIT_BAD_PARAMS: u8 = 2;

/// The kit's actions, by the name they are called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KitAction {
    Restore,
    Remove,
    QuickCheck,
    Recover,
}

impl KitAction {
    fn from_name(s: &str) -> Option<KitAction> {
        match s {
            "restore" => Some(KitAction::Restore),
            "remove" => Some(KitAction::Remove),
            "quickCheck" | "quickcheck" => Some(KitAction::QuickCheck),
            "recover" => Some(KitAction::Recover),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            KitAction::Restore => "restore",
            KitAction::Remove => "remove",
            KitAction::QuickCheck => "quickCheck",
            KitAction::Recover => "recover",
        }
    }
}

/// A parsed kit command line: the action, `NAME=VALUE` overrides, the log level.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KitCommand {
    action: KitAction,
    overrides: Vec<(String, String)>,
    level: u8,
}

/// The kit name of a parameter spelled in any case.
fn kit_name(name: &str) -> Option<&'static str> {
    SPECS
        .iter()
        .filter_map(|s| s.kit)
        .find(|k| k.eq_ignore_ascii_case(name))
}

fn parse_kit_args(action: KitAction, args: &[String]) -> Result<KitCommand, String> {
    let mut cmd = KitCommand {
        action,
        overrides: Vec::new(),
        level: 6,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |opt: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("option {opt} needs a value"))
        };
        match a.as_str() {
            "-i" => cmd.overrides.push(("IP".into(), value("-i")?)),
            "-d" => cmd.overrides.push(("DEVICE".into(), value("-d")?)),
            "-p" => cmd.overrides.push(("PingList".into(), value("-p")?)),
            "-o" => {
                let kv = value("-o")?;
                let Some((k, v)) = kv.split_once('=') else {
                    return Err(format!("-o {kv}: expected NAME=VALUE"));
                };
                let Some(name) = kit_name(k) else {
                    return Err(format!("-o {kv}: unknown parameter {k}"));
                };
                cmd.overrides.push((name.to_string(), v.to_string()));
            }
            "-D" => {
                let v = value("-D")?;
                cmd.level = match v.parse::<u8>() {
                    Ok(l) if (3..=9).contains(&l) => l,
                    _ => return Err(format!("-D {v}: expected a level 3..9")),
                };
            }
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Ok(cmd)
}

/// Runs `f` on its own thread and gives up waiting after `limit` (`None`); the process
/// exits soon after, taking the thread with it.
fn bounded<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

/// Which face an action was called through. The kit's restore, remove and quickCheck take a
/// physical address as "nothing to do" (its semantics, documented); the OCF start, monitor and
/// validate-all refuse one, since stop must leave it: it is the host's own address, and a
/// cluster would see a resource it can neither stop nor move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Face {
    Kit,
    Ocf,
}

/// Runs one kit action (or its OCF twin, `label` naming it in the log) on resolved params.
fn perform(action: KitAction, face: Face, label: &'static str, p: Params) -> Result<(), Failure> {
    let timeout = p.quickcheck_timeout;
    let ip = p.ip;
    // The device as resolved (DEVICE may be unset), for the message of a timed-out quickCheck.
    let device = Arc::new(Mutex::new(p.device.clone()));
    let resolved = Arc::clone(&device);
    let named = move |link: &str| {
        if let Ok(mut d) = resolved.lock() {
            *d = Some(link.to_string());
        }
    };
    let lookup = match action {
        KitAction::Remove | KitAction::QuickCheck => Lookup::Ours,
        KitAction::Restore | KitAction::Recover => Lookup::Configured,
    };
    let refuse_physical = face == Face::Ocf && action != KitAction::Remove;
    let run = move || -> Result<(), Failure> {
        match p.ip {
            IpAddr::V4(ip) => {
                let mut r = Resource::resolve(p, ip, lookup)?;
                named(&r.link.name);
                if refuse_physical {
                    r.refuse_physical(label)?;
                }
                match action {
                    KitAction::Restore => r.restore(label),
                    KitAction::Remove => r.remove(label),
                    KitAction::QuickCheck => r.quick_check(label),
                    KitAction::Recover => r.recover(label),
                }
            }
            IpAddr::V6(ip) => {
                let mut r = Resource::resolve6(p, ip, lookup)?;
                named(&r.link.name);
                if refuse_physical {
                    r.refuse_physical(label)?;
                }
                match action {
                    KitAction::Restore => r.restore(label),
                    KitAction::Remove => r.remove(label),
                    KitAction::QuickCheck => r.quick_check(label),
                    KitAction::Recover => r.recover(label),
                }
            }
        }
    };
    let on = move || match device.lock().ok().and_then(|d| d.clone()) {
        Some(d) => format!("{ip} on {d}"),
        None => format!("{ip}, device not found yet"),
    };
    if action != KitAction::QuickCheck {
        let _serial = serial::lock(ip, label).map_err(|e| {
            Failure::Failed(format!("{label}: action lock for {ip}: {e} ({})", on()))
        })?;
        return run();
    }
    bounded(timeout, run).unwrap_or_else(|| {
        Err(Failure::Failed(format!(
            "{label}: ran over IP_QUICKCHECK_TIMEOUT ({}s) ({})",
            timeout.as_secs_f64(),
            on()
        )))
    })
}

fn kit_main(action: KitAction, args: &[String]) -> ExitCode {
    let cmd = match parse_kit_args(action, args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ip-ra: {e}");
            eprint!("{USAGE}");
            return ExitCode::from(EXIT_BAD_PARAMS);
        }
    };
    logging::init("ip-ra", Target::Stderr, cmd.level);
    let get = |name: &str| {
        cmd.overrides
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    };
    let p = match params::parse(get, Naming::Kit) {
        Ok(p) => p,
        Err(e) => {
            log::error!("{}: bad parameters: {e}", action.name());
            return ExitCode::from(EXIT_BAD_PARAMS);
        }
    };
    match perform(action, Face::Kit, action.name(), p) {
        Ok(()) => {
            log::info!("{}: success", action.name());
            ExitCode::from(EXIT_OK)
        }
        Err(f @ (Failure::Config(_) | Failure::Host(_) | Failure::Physical(_))) => {
            log::error!("{}: bad parameters: {f}", action.name());
            ExitCode::from(EXIT_BAD_PARAMS)
        }
        Err(f) => {
            log::error!("{f}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn ocf_params() -> Result<Params, Failure> {
    params::parse(
        |name| std::env::var(format!("OCF_RESKEY_{name}")).ok(),
        Naming::Ocf,
    )
    .map_err(|e| Failure::Config(e.to_string()))
}

/// The parameters of stop and of a probe: only `ip` has to be valid
/// (`params::parse_for_stop`); the others are logged and left out. `None` when `ip` cannot
/// be read: nothing of ours can be configured under it, and OCF wants 0 from the stop (7 from
/// the probe) of a resource that is not configured here, whatever the configuration.
fn ocf_stop_params(action: &str) -> Option<Params> {
    let get = |name: &str| std::env::var(format!("OCF_RESKEY_{name}")).ok();
    match params::parse_for_stop(get, Naming::Ocf) {
        Ok((p, ignored)) => {
            for e in ignored {
                log::warn!("{action}: {e}: ignored, {action} needs only ip");
            }
            Some(p)
        }
        Err(e) => {
            log::info!("{action}: {e}: no address of ours can be configured under it");
            None
        }
    }
}

/// A probe: monitor with `CRM_meta_interval` 0 or unset.
fn is_probe() -> bool {
    std::env::var("OCF_RESKEY_CRM_meta_interval")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0)
        == 0
}

/// A probe whose parameters do not parse: the VIP is not in service here (7, what Pacemaker
/// expects on a node where the resource never ran, quietly, as stop says 0), or it is, and
/// the configuration error stands (`None`). start and validate-all still say 6.
fn probe_with_bad_params(f: &Failure) -> Option<ExitCode> {
    let in_service = match ocf_stop_params("probe") {
        None => false,
        Some(p) => match p.ip {
            IpAddr::V4(ip) => {
                Resource::resolve(p, ip, Lookup::Ours).and_then(|mut r| r.in_service("probe"))
            }
            IpAddr::V6(ip) => {
                Resource::resolve6(p, ip, Lookup::Ours).and_then(|mut r| r.in_service("probe"))
            }
        }
        .unwrap_or_else(|e| {
            log::debug!("probe: {e}");
            // The device is not here (or cannot be read): neither is the VIP.
            !matches!(e, Failure::Host(_))
        }),
    };
    if in_service {
        return None;
    }
    log::info!("probe: {f}: the VIP is not configured here: not running");
    Some(ExitCode::from(ocf::NOT_RUNNING))
}

/// A failure: the one exit-reason line on stderr (ip-ra logs to stderr, so no second line).
fn ocf_fail(code: u8, f: &Failure) -> ExitCode {
    eprintln!("{}", crate::ocf::exit_reason(&f.to_string()));
    ExitCode::from(code)
}

/// monitor found the address not in service: a probe (`CRM_meta_interval` 0 or unset)
/// expects that of a stopped resource and hears nothing; a recurring monitor hears why.
fn ocf_not_running(why: &str) -> ExitCode {
    if is_probe() {
        log::debug!("probe: {why}: not running");
    } else {
        eprintln!("{}", crate::ocf::exit_reason(why));
    }
    ExitCode::from(ocf::NOT_RUNNING)
}

fn ocf_main(action: &str) -> ExitCode {
    match action {
        "meta-data" => {
            print!("{}", ocf::meta_data());
            return ExitCode::from(ocf::SUCCESS);
        }
        "usage" | "help" => {
            print!("{USAGE}");
            return ExitCode::from(ocf::SUCCESS);
        }
        _ => {}
    }
    // Pacemaker logs what an agent writes on stderr, and monitor runs every few seconds:
    // monitor says only what is wrong unless the cluster asks for debug output.
    let level = match (logging::ha_debug(), action) {
        (true, _) => 7,
        (false, "monitor") => 4,
        (false, _) => 6,
    };
    logging::init("ip-ra", Target::Stderr, level);
    let p = if action == "stop" {
        match ocf_stop_params("stop") {
            Some(p) => p,
            None => return ExitCode::from(ocf::SUCCESS),
        }
    } else {
        match ocf_params() {
            Ok(p) => p,
            Err(f) => {
                if action == "monitor" && is_probe() {
                    if let Some(code) = probe_with_bad_params(&f) {
                        return code;
                    }
                }
                return ocf_fail(ocf::ERR_CONFIGURED, &f);
            }
        }
    };
    let result = match action {
        "validate-all" => match p.ip {
            IpAddr::V4(ip) => Resource::resolve(p, ip, Lookup::Configured)
                .and_then(|mut r| r.refuse_physical("validate-all")),
            IpAddr::V6(ip) => Resource::resolve6(p, ip, Lookup::Configured)
                .and_then(|mut r| r.refuse_physical("validate-all")),
        },
        "start" => perform(KitAction::Restore, Face::Ocf, "start", p),
        "stop" => perform(KitAction::Remove, Face::Ocf, "stop", p),
        "monitor" => perform(KitAction::QuickCheck, Face::Ocf, "monitor", p),
        _ => return ExitCode::from(ocf::ERR_UNIMPLEMENTED),
    };
    match (action, result) {
        ("monitor", Ok(())) => {
            log::debug!("monitor: in service");
            ExitCode::from(ocf::SUCCESS)
        }
        (_, Ok(())) => ExitCode::from(ocf::SUCCESS),
        // The device is not here, so neither is the address.
        ("stop", Err(Failure::Host(m))) => {
            log::info!("stop: {m}: nothing to remove");
            ExitCode::from(ocf::SUCCESS)
        }
        ("monitor", Err(Failure::Host(m) | Failure::NotRunning(m))) => ocf_not_running(&m),
        (_, Err(f @ Failure::Config(_))) => ocf_fail(ocf::ERR_CONFIGURED, &f),
        // Also from monitor: the address is in service, but as the host's own, which no
        // stop can take away; "not running" (7) would be a lie.
        (_, Err(f @ (Failure::Host(_) | Failure::Physical(_)))) => ocf_fail(ocf::ERR_ARGS, &f),
        (_, Err(f)) => ocf_fail(ocf::ERR_GENERIC, &f),
    }
}

/// The applet: `ip-ra ACTION [options]`.
pub fn main(args: &[String]) -> ExitCode {
    let Some(action) = args.get(1) else {
        eprint!("{USAGE}");
        return ExitCode::from(EXIT_BAD_PARAMS);
    };
    match action.as_str() {
        "-h" | "--help" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        "-v" | "--version" => {
            println!("ip-ra (habox) {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        a if ocf::ACTIONS.contains(&a) => ocf_main(a),
        a => match KitAction::from_name(a) {
            Some(k) => kit_main(k, args.get(2..).unwrap_or(&[])),
            None => {
                eprintln!("ip-ra: unknown action {a}");
                eprint!("{USAGE}");
                // OCF: an unknown action is "unimplemented" (3).
                ExitCode::from(ocf::ERR_UNIMPLEMENTED)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kit_options_become_overrides() {
        let c = parse_kit_args(
            KitAction::Restore,
            &args(&[
                "-i",
                "198.51.100.10/24",
                "-d",
                "eth0",
                "-o",
                "nobcastping=1",
                "-D",
                "7",
            ]),
        )
        .unwrap();
        assert_eq!(
            c.overrides,
            vec![
                ("IP".to_string(), "198.51.100.10/24".to_string()),
                ("DEVICE".to_string(), "eth0".to_string()),
                ("NOBCASTPING".to_string(), "1".to_string()),
            ]
        );
        assert_eq!(c.level, 7);
    }

    #[test]
    fn kit_option_errors() {
        let e = |v: &[&str]| parse_kit_args(KitAction::Remove, &args(v)).unwrap_err();
        assert!(e(&["-i"]).contains("needs a value"));
        assert!(e(&["-o", "FOO=1"]).contains("unknown parameter FOO"));
        assert!(e(&["-o", "IP"]).contains("NAME=VALUE"));
        assert!(e(&["-D", "12"]).contains("3..9"));
        assert!(e(&["extra"]).contains("unexpected"));
    }

    #[test]
    fn action_names() {
        assert_eq!(
            KitAction::from_name("quickCheck"),
            Some(KitAction::QuickCheck)
        );
        assert_eq!(KitAction::from_name("start"), None);
    }

    #[test]
    fn bounded_gives_up() {
        assert_eq!(bounded(Duration::from_secs(5), || 3), Some(3));
        assert_eq!(
            bounded(Duration::from_millis(10), || std::thread::sleep(
                Duration::from_secs(2)
            )),
            None
        );
    }
}
