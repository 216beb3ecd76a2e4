//! pikemon: the PIKE cluster daemon of a firewall pair (DESIGN.md §2–3) and its config checker
//! `test-pikemon`.
//!
//! `config` reads and validates the Kernun-style config, `show` renders it back, `check` is the
//! `test-pikemon` applet.

pub mod acr;
pub mod check;
pub mod config;
pub mod control;
pub mod core;
pub mod death_watch;
pub mod digest;
pub mod hooks;
mod liveness;
pub mod paths_file;
pub mod ping_group;
pub mod show;
pub mod sockets;
pub mod started;
pub mod status_file;
mod status_view;
pub mod supervisor;
pub mod takeover;
pub mod track;
pub mod values;
mod watchdog;
pub mod worker;

use std::process::ExitCode;
use std::time::Duration;

use crate::logging::{self, Target};
use config::ReadOptions;
use started::StartedConfig;

const USAGE: &str = "\
Usage: pikemon [-f CFG] [-d]                  run the daemon (-d: foreground, log to stderr)
       pikemon [-f CFG] -c take [VC]          take the Master role (all virtual clusters or VC)
       pikemon [-f CFG] -c drop [VC]          hand the Master role to the peer
       pikemon [-f CFG] -c maintenance on|off [VC]  hand over and stay Backup (kept
                                              across restarts) until off
       pikemon [-f CFG] -c status [-j] [-r SEC]  show the state (-j JSON, -r refresh every SEC)
       pikemon -h | -v
  -f CFG  config file (default /etc/habox/pikemon.cfg)
Exit: 0 ok (an order: in effect), 1 refused or runtime error, 2 config or usage error,
3 daemon unreachable (not running: the status file's roles are then not held), 4 an order
accepted but not in effect within 2 dead-intervals (plus commit-timeout; 10 s at most),
5 the daemon did not answer in time (stopped or hung; an order sent stands).
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Daemon {
        foreground: bool,
    },
    Worker {
        foreground: bool,
    },
    Acr {
        foreground: bool,
    },
    Control {
        request: control::Request,
        refresh: Option<Duration>,
    },
    Help,
    Version,
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub config: String,
    pub mode: Mode,
}

/// Parses pikemon's arguments (without argv[0]).
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut config = check::DEFAULT_CONFIG.to_string();
    let mut foreground = false;
    let mut role: Option<&str> = None;
    let mut cmd: Option<Vec<String>> = None;
    let mut json = false;
    let mut refresh = None;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-f" => config = it.next().ok_or("-f needs a file")?.clone(),
            "-d" => foreground = true,
            "-j" => json = true,
            "-r" => {
                let s = it.next().ok_or("-r needs seconds")?;
                let n = values::number(s, 1, 3600).map_err(|e| format!("-r: {e}"))?;
                refresh = Some(Duration::from_secs(n));
            }
            "-c" => {
                // The command and its arguments, up to the next option: `maintenance on LAN`
                // has two. An empty one (an unset shell variable) is an error, not "all".
                let mut words = vec![it.next().ok_or("-c needs a command")?.clone()];
                while let Some(next) = it.next_if(|w| !w.starts_with('-')) {
                    words.push(next.clone());
                }
                if words.iter().any(|w| w.trim().is_empty()) {
                    return Err(format!("-c: an empty argument in '{}'", words.join(" ")));
                }
                cmd = Some(words);
            }
            "--worker" => role = Some("worker"),
            "--acr" => role = Some("acr"),
            "-h" | "--help" => {
                return Ok(Options {
                    config,
                    mode: Mode::Help,
                })
            }
            "-v" | "--version" => {
                return Ok(Options {
                    config,
                    mode: Mode::Version,
                })
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    let mode = match (role, cmd) {
        (Some("worker"), None) => Mode::Worker { foreground },
        (Some(_), None) => Mode::Acr { foreground },
        (Some(_), Some(_)) => return Err("-c cannot be combined with an internal role".into()),
        (None, Some(words)) => {
            let request = control::Request::parse(&words.join(" "))?;
            let request = match request {
                control::Request::Status { .. } => control::Request::Status { json },
                r if json || refresh.is_some() => {
                    return Err(format!(
                        "-j and -r go with -c status, not {}",
                        r.line().trim()
                    ))
                }
                r => r,
            };
            Mode::Control { request, refresh }
        }
        (None, None) if json || refresh.is_some() => {
            return Err("-j and -r go with -c status".into())
        }
        (None, None) => Mode::Daemon { foreground },
    };
    Ok(Options { config, mode })
}

/// Entry point of the `pikemon` applet.
pub fn main(args: &[String]) -> ExitCode {
    let opts = match parse_args(args.get(1..).unwrap_or(&[])) {
        Ok(o) => o,
        Err(e) => {
            say(&format!("pikemon: {e}\n{USAGE}"));
            return ExitCode::from(2);
        }
    };
    if matches!(opts.mode, Mode::Help | Mode::Version | Mode::Control { .. }) {
        // Command-line output ends with its reader (`-c status -r 1 | head -1`) as a C
        // tool's does; the daemon's processes keep SIGPIPE ignored.
        crate::sys::default_sigpipe();
    }
    let (foreground, role) = match &opts.mode {
        Mode::Help => return exit_of(out(USAGE)),
        Mode::Version => {
            return exit_of(out(&format!(
                "pikemon (habox) {}\n",
                env!("CARGO_PKG_VERSION")
            )))
        }
        Mode::Control { request, refresh } => return control_main(&opts.config, request, *refresh),
        Mode::Daemon { foreground } => (*foreground, "daemon"),
        Mode::Worker { foreground } => (*foreground, "worker"),
        Mode::Acr { foreground } => (*foreground, "acr"),
    };
    // The daemon checks the VIPs against this host's interfaces (as test-pikemon does); its
    // worker and the ACR read the config it already accepted, as it read it (`started`).
    let daemon = matches!(opts.mode, Mode::Daemon { .. });
    let read = ReadOptions {
        check_host: daemon,
        ..ReadOptions::default()
    };
    let path = if daemon {
        // After daemonizing (chdir /) a relative path named another file or none; messages
        // and the children name the file the operator meant.
        match absolute_config(&opts.config) {
            Ok(p) => p,
            Err(e) => {
                say(&format!("pikemon: -f {}: {e}", opts.config));
                return ExitCode::from(2);
            }
        }
    } else {
        opts.config.clone()
    };
    let loaded = if daemon {
        config::load_text(&path).and_then(|text| {
            let cfg = config::read(&path, &text, read)?;
            let started = StartedConfig::of(text, &cfg);
            Ok((cfg, Some(started)))
        })
    } else {
        match StartedConfig::from_env() {
            Ok(s) => config::read_with_key_files(&path, &s.text, read, &s.key_files)
                .map(|cfg| (cfg, None)),
            Err(e) => {
                say(&format!("pikemon: {path}: {e}"));
                return ExitCode::from(2);
            }
        }
    };
    let (cfg, started) = match loaded {
        Ok(c) => c,
        Err(errors) => {
            say(&format!("{errors}"));
            say(&format!(
                "pikemon: {path}: {} error(s); nothing started",
                errors.len()
            ));
            return ExitCode::from(2);
        }
    };
    if matches!(opts.mode, Mode::Daemon { .. }) {
        // The operator who starts the daemon (an upgrade after SIGHUP) rarely ran
        // test-pikemon first: a key file others can read is said here too.
        for w in check::key_file_warnings(&cfg)
            .into_iter()
            .chain(check::timing_warnings(&cfg))
        {
            say(&format!("pikemon: {w}"));
        }
    }
    if role != "daemon" {
        let target = if foreground {
            Target::Stderr
        } else {
            Target::Syslog
        };
        logging::init("pikemon", target, cfg.log_level);
        return if role == "worker" {
            worker::run(cfg)
        } else {
            acr::run(&cfg)
        };
    }
    // Every worker and ACR this daemon starts, restarts included, gets this copy.
    let sealed = match started.as_ref().map(StartedConfig::seal) {
        Some(Ok(fd)) => fd,
        Some(Err(e)) => {
            say(&format!(
                "pikemon: cannot keep the config read for the worker: {e}"
            ));
            return ExitCode::from(1);
        }
        None => {
            say("pikemon: internal error: the daemon has no config snapshot");
            return ExitCode::from(1);
        }
    };
    // The pid file first, so "already running" reaches the terminal.
    let mut pidfile = match supervisor::acquire_instance(&cfg.pid_file) {
        Ok(p) => p,
        Err(e) => {
            say(&format!("pikemon: {e}"));
            return ExitCode::from(1);
        }
    };
    let mut detached = None;
    if !foreground {
        match crate::sys::daemon::daemonize("pikemon") {
            Ok(d) => detached = Some(d),
            Err(e) => {
                say(&format!("pikemon: daemonize: {e}"));
                return ExitCode::from(1);
            }
        }
    }
    let target = if foreground {
        Target::Stderr
    } else {
        Target::Syslog
    };
    logging::init("pikemon", target, cfg.log_level);
    if let Err(e) = pidfile.rewrite_pid() {
        log::error!("{}: {e}", cfg.pid_file.display());
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let spawn = supervisor::Spawn {
        exe,
        config: path,
        foreground,
        started: sealed,
    };
    // The starting process returns once the first worker is set up (its control socket
    // answers), or prints why it could not be and exits 1.
    supervisor::run(&cfg, &spawn, pidfile, detached)
}

/// `path` made absolute against the current directory, without resolving symlinks (the
/// operator may point `-f` at a link to switch configs).
fn absolute_config(path: &str) -> Result<String, String> {
    let abs = std::path::absolute(path).map_err(|e| e.to_string())?;
    abs.into_os_string()
        .into_string()
        .map_err(|_| "the current directory is not UTF-8: give an absolute path".into())
}

/// `-c ...`: only the control socket is read from the config, leniently (`config::
/// control_socket`): a config with errors elsewhere is warned about, and the daemon, which
/// runs with the config it accepted, is asked all the same.
fn control_main(config: &str, req: &control::Request, refresh: Option<Duration>) -> ExitCode {
    let (socket, errors) = config::control_socket(config);
    if let Some(errors) = errors {
        let default = socket == config::Config::default().control_socket;
        say(&format!(
            "{errors}\npikemon: warning: {config}: {} error(s); asking the daemon at {}{} anyway",
            errors.len(),
            socket.display(),
            if default { " (the default)" } else { "" }
        ));
    }
    loop {
        match control::call(&socket, req, control::reply_timeout(req)) {
            Ok(r) if r.outcome == control::Outcome::Refused => {
                say(&format!("pikemon: refused: {}", r.text));
                return ExitCode::from(1);
            }
            Ok(r) => {
                if out(&r.text).is_err() {
                    return ExitCode::from(1);
                }
                if r.outcome == control::Outcome::Pending {
                    return ExitCode::from(4);
                }
            }
            Err(e) if control::timed_out(&e) => {
                // Connected, then no reply: an order was sent and stands should it resume.
                let order = !matches!(req, control::Request::Status { .. })
                    && e.kind() == std::io::ErrorKind::WouldBlock;
                say(&format!(
                    "pikemon: the daemon at {} did not answer within {} s: it is stopped or hung{}\n{}",
                    socket.display(),
                    control::reply_timeout(req).as_secs(),
                    if order {
                        " (the order was sent: it takes effect if the daemon resumes)"
                    } else {
                        ""
                    },
                    status_file_note(config)
                ));
                return ExitCode::from(5);
            }
            Err(e) => {
                say(&format!(
                    "pikemon: cannot reach the daemon at {}: {e}\n{}",
                    socket.display(),
                    status_file_note(config)
                ));
                return ExitCode::from(3);
            }
        }
        match refresh {
            Some(d) => {
                if out("\n").is_err() {
                    return ExitCode::from(1);
                }
                std::thread::sleep(d);
            }
            None => return ExitCode::SUCCESS,
        }
    }
}

/// What the status file says when the daemon does not answer: whether its writer still
/// runs, and the roles it recorded marked `(not held)` unless it does. A reader must never
/// take `Master` from the file of a pikemon that is gone (its VIPs went with their lease).
fn status_file_note(config: &str) -> String {
    let path = config::status_file(config);
    let Some(st) = status_file::Status::load(&path) else {
        return format!(
            "pikemon: status file {}: none, or unreadable",
            path.display()
        );
    };
    let state = st.writer_state();
    let mut note = format!("pikemon: status file {}: {state}", path.display());
    for line in st.roles_text(&state).lines() {
        note.push_str(&format!("\npikemon:   {line}"));
    }
    note
}

/// Writes command-line output; a reader gone is an error returned, never a panic (as
/// `print!` would).
fn out(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())?;
    o.flush()
}

fn exit_of(written: std::io::Result<()>) -> ExitCode {
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    }
}

/// A line on stderr; nowhere to report a failure to write it.
pub(super) fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<Options, String> {
        parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn relative_config_path_is_made_absolute_without_resolving_links() {
        let cwd = std::env::current_dir().unwrap();
        let abs = absolute_config("conf/../live.cfg").unwrap();
        assert_eq!(abs, format!("{}/conf/../live.cfg", cwd.display()));
        assert_eq!(absolute_config("/etc/x.cfg").unwrap(), "/etc/x.cfg");
        assert!(absolute_config("").is_err());
    }

    #[test]
    fn command_lines() {
        assert_eq!(
            p(&["-f", "x", "-d"]).unwrap().mode,
            Mode::Daemon { foreground: true }
        );
        assert_eq!(
            p(&["-c", "take", "LAN"]).unwrap().mode,
            Mode::Control {
                request: control::Request::Take(Some("LAN".into())),
                refresh: None
            }
        );
        assert_eq!(
            p(&["-c", "status", "-j", "-r", "2"]).unwrap().mode,
            Mode::Control {
                request: control::Request::Status { json: true },
                refresh: Some(Duration::from_secs(2))
            }
        );
        assert_eq!(
            p(&["-c", "drop"]).unwrap().mode,
            Mode::Control {
                request: control::Request::Drop(None),
                refresh: None
            }
        );
        assert!(p(&["-c", "reboot"]).is_err());
        assert!(p(&["-c", "take", "-j"]).is_err());
        assert_eq!(
            p(&["-c", "maintenance", "on", "LAN"]).unwrap().mode,
            Mode::Control {
                request: control::Request::Maintenance {
                    on: true,
                    vc: Some("LAN".into())
                },
                refresh: None
            }
        );
        assert_eq!(
            p(&["-c", "take", ""]).unwrap_err(),
            "-c: an empty argument in 'take '"
        );
        assert!(p(&["-c", "drop", " "]).is_err());
        assert!(p(&["-c", "", "LAN"]).is_err());
        assert!(p(&["-j"]).is_err());
        assert!(p(&["-r", "0", "-c", "status"]).is_err());
        assert_eq!(
            p(&["--worker", "-f", "c"]).unwrap().mode,
            Mode::Worker { foreground: false }
        );
    }
}
