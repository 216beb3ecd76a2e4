//! conntrack-ra: OCF 1.1 promotable resource agent for conntrackd.
//!
//! Called by Pacemaker with the action as its only argument and the parameters in
//! `OCF_RESKEY_*`; also usable by hand or from pikemon's notify hooks as
//! `conntrack-ra [-C CONFIG] [-b BINARY] [-S STATEFILE] [-n NAME] promote|demote|...`
//! (options override the environment). monitor, promote, demote, notify and stop speak to
//! conntrackd's control socket directly; only start runs `conntrackd -C CONFIG -d`.
//!
//! Exit codes are OCF's (see `Status`); a failure also writes one exit-reason line on stderr,
//! `${OCF_EXIT_REASON_PREFIX:-ocf-exit-reason:}TEXT`.

mod actions;
pub mod config;
mod host;
mod metadata;
pub mod notify;
mod statefile;

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::logging;

use statefile::StateFile;

/// OCF exit codes the agent returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success = 0,
    NotRunning = 7,
    RunningPromoted = 8,
}

/// Why an action failed; `main` maps each kind to its OCF code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// OCF_ERR_GENERIC (1).
    Generic(String),
    /// OCF_ERR_ARGS (2): bad parameters on this host.
    Args(String),
    /// OCF_ERR_UNIMPLEMENTED (3).
    Unimplemented(String),
    /// OCF_ERR_INSTALLED (5): software or files missing here.
    Installed(String),
    /// OCF_ERR_CONFIGURED (6): parameters invalid everywhere.
    Configured(String),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Generic(_) => 1,
            Failure::Args(_) => 2,
            Failure::Unimplemented(_) => 3,
            Failure::Installed(_) => 5,
            Failure::Configured(_) => 6,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Generic(s)
            | Failure::Args(s)
            | Failure::Unimplemented(s)
            | Failure::Installed(s)
            | Failure::Configured(s) => write!(f, "{s}"),
        }
    }
}

const USAGE: &str = "\
Usage: conntrack-ra [OPTIONS] ACTION
OCF promotable resource agent for conntrackd.

Actions: start stop promote demote notify monitor status meta-data validate-all usage

Options (override OCF_RESKEY_* from the environment):
  -b, --binary PROG      conntrackd executable (OCF_RESKEY_binary, alias conntrackd)
  -C, --config FILE      conntrackd.conf (OCF_RESKEY_config, alias conntrackdconf)
  -S, --statefile FILE   promoted-state file (OCF_RESKEY_statefile)
  -n, --name NAME        resource instance name (OCF_RESOURCE_INSTANCE)
  -h, --help             this text
  -v, --version          print the version

Exit codes (OCF): 0 success/running, 1 generic error, 2 bad arguments, 3 unimplemented,
5 not installed, 6 not configured, 7 not running, 8 running promoted.
";

/// The agent's parameters after environment and options are merged.
#[derive(Debug, Clone)]
pub struct Params {
    pub binary: String,
    pub config: PathBuf,
    pub statefile: StateFile,
    pub instance: String,
    /// `CRM_meta_interval` in ms; 0 = probe (or not given).
    pub interval_ms: u64,
    /// Every loop of the action ends here (75 % of `CRM_meta_timeout`: the rest covers process
    /// start-up and reporting on a loaded node).
    pub deadline: Instant,
    /// `crm_feature_set` of the DC.
    pub feature_set: Option<String>,
    /// HA_SBIN_DIR, where the Pacemaker tools may live.
    pub sbin: PathBuf,
}

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Command {
    Help,
    Version,
    Action(Option<String>),
}

/// Options given on the command line (None = not given).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Overrides {
    binary: Option<String>,
    config: Option<String>,
    statefile: Option<String>,
    name: Option<String>,
}

/// Splits the arguments: options anywhere, the first other word is the action, further words
/// are ignored (OCF: the agent ignores extra arguments), and so are unknown options after
/// the action; before it they are an error.
fn parse_args(args: &[String]) -> Result<(Command, Overrides), Failure> {
    let mut o = Overrides::default();
    let mut action = None;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let slot = match flag {
            "-h" | "--help" => return Ok((Command::Help, o)),
            "-v" | "--version" => return Ok((Command::Version, o)),
            "-b" | "--binary" => &mut o.binary,
            "-C" | "--config" => &mut o.config,
            "-S" | "--statefile" => &mut o.statefile,
            "-n" | "--name" => &mut o.name,
            _ if a.starts_with('-') && a.len() > 1 => {
                if action.is_some() {
                    continue;
                }
                return Err(Failure::Args(format!("unknown option {a}")));
            }
            _ => {
                if action.is_none() {
                    action = Some(a.clone());
                }
                continue;
            }
        };
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| Failure::Args(format!("option {flag} needs a value")))?,
        };
        *slot = Some(value);
    }
    Ok((Command::Action(action), o))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn reskey(name: &str) -> Option<String> {
    env(&format!("OCF_RESKEY_{name}"))
}

/// `OCF_RESKEY_CRM_meta_NAME`.
fn meta(name: &str) -> Option<String> {
    reskey(&format!("CRM_meta_{name}"))
}

impl Params {
    fn gather(o: Overrides, now: Instant) -> Params {
        let binary = o
            .binary
            .or_else(|| reskey("binary"))
            .or_else(|| reskey("conntrackd"))
            .unwrap_or_else(|| "conntrackd".to_string());
        let config = o
            .config
            .or_else(|| reskey("config"))
            .or_else(|| reskey("conntrackdconf"))
            .unwrap_or_else(|| "/etc/conntrackd/conntrackd.conf".to_string());
        // Clone instances are NAME:N; the state belongs to the node, not the instance number.
        let instance = o
            .name
            .or_else(|| env("OCF_RESOURCE_INSTANCE"))
            .map(|n| n.split(':').next().unwrap_or_default().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "conntrackd".to_string());
        let rsctmp = env("HA_RSCTMP").unwrap_or_else(|| "/run/resource-agents".to_string());
        // The default lives in HA_RSCTMP, which the agent creates (a tmpfs after a reboot);
        // any other directory must exist.
        let rsctmp = PathBuf::from(rsctmp);
        let path = o
            .statefile
            .or_else(|| reskey("statefile"))
            .map(PathBuf::from)
            .unwrap_or_else(|| rsctmp.join(format!("conntrack-ra-{instance}.promoted")));
        let statefile = StateFile {
            creates_dir: path.parent() == Some(rsctmp.as_path()),
            path,
            instance: instance.clone(),
        };
        let timeout_ms: u64 = meta("timeout")
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(20_000);
        // Finish (and report) before Pacemaker's own timeout kills us.
        let budget = Duration::from_millis(timeout_ms.saturating_mul(3) / 4);
        Params {
            binary,
            config: PathBuf::from(config),
            statefile,
            instance,
            interval_ms: meta("interval")
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0),
            deadline: now + budget.max(Duration::from_millis(500)),
            feature_set: reskey("crm_feature_set"),
            sbin: PathBuf::from(env("HA_SBIN_DIR").unwrap_or_else(|| "/usr/sbin".to_string())),
        }
    }
}

/// Sets up logging for `action`; returns where it goes. Pacemaker logs what an agent writes on
/// stderr, and monitor runs every few seconds: monitor says only what is wrong (warnings and
/// the exit reason), unless the cluster asks for debug output.
fn log_setup(action: &str) -> logging::Target {
    // With a configured facility we use syslog.
    let facility = env("HA_LOGFACILITY").or_else(|| env("PCMK_LOGFACILITY"));
    let target = match facility.as_deref() {
        Some("none") | None => logging::Target::Stderr,
        Some(_) => logging::Target::Syslog,
    };
    let level = match (logging::ha_debug(), action) {
        (true, _) => 7,
        (false, "monitor" | "status") => 4,
        (false, _) => 6,
    };
    logging::init("conntrack-ra", target, level);
    target
}

/// The one exit-reason line on stderr (`crate::ocf::exit_reason`).
fn exit_reason(text: &str) {
    eprintln!("{}", crate::ocf::exit_reason(text));
}

/// Entry point of the applet.
pub fn main(args: &[String]) -> ExitCode {
    let (command, overrides) = match parse_args(args) {
        Ok(x) => x,
        Err(f) => {
            eprint!("conntrack-ra: {f}\n{USAGE}");
            return ExitCode::from(f.code());
        }
    };
    let action = match command {
        Command::Help => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("conntrack-ra (habox) {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Action(None) => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
        Command::Action(Some(a)) => a,
    };
    match action.as_str() {
        "meta-data" => {
            print!(
                "{}",
                metadata::xml("conntrack-ra", env!("CARGO_PKG_VERSION"))
            );
            return ExitCode::SUCCESS;
        }
        "usage" | "help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let target = log_setup(&action);
    let params = Params::gather(overrides, Instant::now());
    let result = actions::run(&action, &params);
    match result {
        Ok(status) => ExitCode::from(status as u8),
        Err(failure) => {
            // On stderr the exit-reason line says it; syslog gets its own line.
            if target == logging::Target::Syslog {
                log::error!("{action}: {failure}");
            }
            exit_reason(&failure.to_string());
            ExitCode::from(failure.code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn action_is_the_first_word_and_extra_words_are_ignored() {
        let (c, o) = parse_args(&args(&["conntrack-ra", "monitor", "extra", "more"])).unwrap();
        assert_eq!(c, Command::Action(Some("monitor".into())));
        assert_eq!(o, Overrides::default());
    }

    #[test]
    fn unknown_options_after_the_action_are_ignored_before_it_refused() {
        let (c, o) = parse_args(&args(&["conntrack-ra", "monitor", "-x", "--foo=1"])).unwrap();
        assert_eq!(c, Command::Action(Some("monitor".into())));
        assert_eq!(o, Overrides::default());
        assert_eq!(
            parse_args(&args(&["conntrack-ra", "-x", "monitor"]))
                .unwrap_err()
                .code(),
            2
        );
    }

    #[test]
    fn options_before_and_after_the_action() {
        let (c, o) = parse_args(&args(&[
            "conntrack-ra",
            "-C",
            "/etc/c.conf",
            "promote",
            "--statefile=/run/s",
            "-n",
            "ct",
        ]))
        .unwrap();
        assert_eq!(c, Command::Action(Some("promote".into())));
        assert_eq!(o.config.as_deref(), Some("/etc/c.conf"));
        assert_eq!(o.statefile.as_deref(), Some("/run/s"));
        assert_eq!(o.name.as_deref(), Some("ct"));
    }

    #[test]
    fn no_action_and_bad_options() {
        let (c, _) = parse_args(&args(&["conntrack-ra"])).unwrap();
        assert_eq!(c, Command::Action(None));
        assert_eq!(parse_args(&args(&["x", "-C"])).unwrap_err().code(), 2);
        assert_eq!(
            parse_args(&args(&["x", "-Z", "start"])).unwrap_err().code(),
            2
        );
        assert_eq!(parse_args(&args(&["x", "-h"])).unwrap().0, Command::Help);
    }
}
