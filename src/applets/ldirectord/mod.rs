//! ldirectord: health checks of real servers behind IPVS virtual services, compatible with
//! the Perl ldirectord's ldirectord.cf and command line; IPVS is programmed over generic
//! netlink, every check runs concurrently in one poll loop.
//!
//! Exit codes as the original: 0 success; 1 config file not found, `reload` of a daemon that
//! is not running, a stale pid file at `status`, a `stop` not obeyed within 30 s, or a start
//! that failed; 2 config error;
//! 3 `status` of a stopped daemon; 255 bad command line. `-t` (config test): 0 valid, 1 not
//! found, 2 errors. Unlike the original, `status` and `stop` work on a running daemon whatever
//! its config file holds now (errors are reported as warnings), or with the file deleted (they
//! go by the pid file named after it), and `reload` of a broken file reports it (exit 2) and
//! leaves the daemon on its running config.

mod alert;
mod alert_delivery;
pub mod check;
mod check_slots;
pub mod cli;
pub mod config;
/// Where `logfile=` sends the log: a file, or syslog under a facility.
pub fn sink_of(target: &LogTarget) -> logfile::Sink {
    match target {
        LogTarget::File(p) => logfile::Sink::File(p.clone()),
        LogTarget::Syslog(name) => logfile::Sink::Syslog(
            crate::logging::facility_code(name).unwrap_or(crate::logging::FACILITY_DAEMON),
        ),
    }
}

#[cfg(test)]
mod config_tests;
#[cfg(test)]
mod config_warning_tests;
mod config_watch;
pub mod core;
pub mod daemon;
pub mod ipvs;
pub mod logfile;
mod maintenance;
pub mod resolve;
pub mod server_text;

use crate::sys::procfs::alive;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cli::{Cli, Command};
use config::LogTarget;

use crate::sys::pidfile::{PidFile, PidFileError};

/// The version line (the original prints "Linux Director v1.186-ha").
const VERSION: &str = concat!(
    "Linux Director (habox ldirectord) ",
    env!("CARGO_PKG_VERSION")
);
/// How long `stop` and `restart` wait for the daemon to go.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// The config file as a command found it.
enum ConfigFile {
    Read(Box<config::Config>),
    /// It has errors (printed already); a running daemon keeps what it read before.
    Broken,
    /// Not there, but the pid file named after it is (deleted under a running daemon):
    /// `status` and `stop` go by that.
    Missing,
}

/// Entry point (`ldirectord [-d] [--] [configfile] COMMAND`).
pub fn main(args: &[String]) -> ExitCode {
    let cli = match cli::parse(args.get(1..).unwrap_or(&[])) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ldirectord: {e}");
            eprint!("{}", cli::USAGE);
            return ExitCode::from(255);
        }
    };
    let (debug, config, command) = match cli {
        Cli::Help => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Cli::Version => {
            println!("{VERSION}");
            return ExitCode::SUCCESS;
        }
        Cli::ConfigTest { config } => return config_test(&config),
        Cli::Run {
            debug,
            config,
            command,
        } => (debug, config, command),
    };
    let config_arg = config.as_deref().unwrap_or(cli::DEFAULT_CONFIG);
    // Parsed for every command, as the original; an error never touches the pid file (B1).
    // `status`, `stop` and the "is it running" of `reload` need only the pid file, named
    // after the config file: with a file broken since the daemon started they exited 2, and
    // resource-agents' stop then looked for the daemon with `pgrep -f "ldirectord CFG
    // start"`, missed our process title and reported stopped while it ran on. With the file
    // deleted they said "not found" (as the original does) and lost the daemon.
    let (path, file) = match cli::resolve_config(config_arg) {
        Ok(path) => match daemon::load(&path) {
            Ok(c) => (path, ConfigFile::Read(Box::new(c))),
            Err(e) => {
                eprintln!("{e}");
                if !matches!(command, Command::Status | Command::Stop | Command::Reload) {
                    return ExitCode::from(2);
                }
                (path, ConfigFile::Broken)
            }
        },
        Err(e) => {
            // Without a pid file by its name too, the name is most likely mistyped.
            let path = PathBuf::from(config_arg);
            let pid_path = cli::pid_path(&cli::config_name(config.as_deref(), &path));
            if !matches!(command, Command::Status | Command::Stop) || !pid_path.exists() {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
            eprintln!(
                "ldirectord: warning: {e}; {} goes by {}",
                command.word(),
                pid_path.display()
            );
            (path, ConfigFile::Missing)
        }
    };
    let name = cli::config_name(config.as_deref(), &path);
    let pid_path = cli::pid_path(&name);
    // The `execute=` instances first: `start` only returns when this daemon stops (with -d, or
    // in the daemonized child), so they must not wait for it. A started instance runs on its
    // own (it daemonizes, or stays in the foreground with -d or supervised=yes); the other
    // commands are waited for.
    let others: &[String] = match &file {
        ConfigFile::Read(c) => &c.globals.execute,
        ConfigFile::Broken | ConfigFile::Missing => &[],
    };
    for other in others {
        let Ok(exe) = std::env::current_exe() else {
            continue;
        };
        let mut c = std::process::Command::new(exe);
        c.arg("ldirectord");
        if debug {
            c.arg("-d");
        }
        c.arg(other).arg(command.word());
        let r = if matches!(
            command,
            Command::Start | Command::Restart | Command::TryRestart
        ) {
            // Reaped by the daemon's SIGCHLD handling if it stays our child.
            c.spawn().map(check::external::adopt)
        } else {
            c.status().map(|_| ())
        };
        if let Err(e) = r {
            eprintln!("ldirectord: execute={other}: {e}");
        }
    }
    run_command(command, debug, &path, &name, &pid_path, file)
}

/// `-t`: the config read as `start` would read it; nothing else happens. Warnings (a value
/// read loosely, a repeated directive, an unknown scheduler) go to stderr with their
/// FILE:LINE:COL and leave the exit status 0: the original loads such a file. They were
/// only logged at start, so `-t` said "syntax OK" of `checkinterval=1e3` (read as 1 s).
/// A file with errors has its warnings printed too, before the errors (exit 2): they were
/// dropped, and came up only once the errors were fixed.
fn config_test(config: &str) -> ExitCode {
    let path = match cli::resolve_config(config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    match daemon::load(&path) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("{w}");
            }
            let reals: usize = c.virtuals.iter().map(|v| v.reals.len()).sum();
            println!(
                "{}: syntax OK (virtual services: {}, real servers: {reals}{})",
                path.display(),
                c.virtuals.len(),
                match c.warnings.len() {
                    0 => String::new(),
                    1 => ", 1 warning".to_string(),
                    n => format!(", {n} warnings"),
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn running_pid(pid_path: &Path) -> Option<i32> {
    PidFile::holder(pid_path)
}

fn signal(pid: i32, sig: nix::sys::signal::Signal) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).is_ok()
}

/// Sends TERM and waits (bounded) until the pid file's lock is released and the daemon has
/// exited: it gives the lock up before its last clean-up, and a `start` right after `stop`
/// must not meet it (the original returns at once, B17).
fn stop_and_wait(pid: i32, pid_path: &Path) -> bool {
    signal(pid, nix::sys::signal::Signal::SIGTERM);
    let until = Instant::now() + STOP_WAIT;
    while Instant::now() < until {
        if running_pid(pid_path).is_none() && !alive(pid) {
            // A daemon TERMed while still starting (before its handlers) dies without its
            // clean-up: its pid file, unlocked now, is stale.
            if pid_path.exists() && running_pid(pid_path).is_none() {
                let _ = std::fs::remove_file(pid_path);
            }
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn run_command(
    command: Command,
    debug: bool,
    path: &Path,
    name: &str,
    pid_path: &Path,
    file: ConfigFile,
) -> ExitCode {
    let shown = path.display();
    match command {
        Command::Status => match running_pid(pid_path) {
            Some(pid) => {
                eprintln!("ldirectord for {shown} is running with pid: {pid}");
                if let ConfigFile::Broken = file {
                    eprintln!(
                        "ldirectord: warning: {shown} has errors; the daemon runs on with the configuration it read before"
                    );
                }
                ExitCode::SUCCESS
            }
            None if pid_path.exists() => {
                eprintln!(
                    "ldirectord stale pid file {} for {shown}",
                    pid_path.display()
                );
                println!("ldirectord is stopped for {shown}");
                ExitCode::from(1)
            }
            None => {
                println!("ldirectord is stopped for {shown}");
                ExitCode::from(3)
            }
        },
        Command::Stop => {
            if let Some(pid) = running_pid(pid_path) {
                if !stop_and_wait(pid, pid_path) {
                    eprintln!(
                        "ldirectord for {shown} [pid {pid}] did not stop within {} s",
                        STOP_WAIT.as_secs()
                    );
                    return ExitCode::from(1);
                }
            }
            ExitCode::SUCCESS
        }
        Command::Reload => match running_pid(pid_path) {
            Some(pid) if !matches!(file, ConfigFile::Read(_)) => {
                eprintln!("ldirectord for {shown} [pid {pid}] not reloaded: it keeps its running configuration");
                ExitCode::from(2)
            }
            Some(pid) => {
                signal(pid, nix::sys::signal::Signal::SIGHUP);
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("ldirectord for {shown} is not running");
                ExitCode::from(1)
            }
        },
        Command::TryRestart | Command::Restart | Command::Start => {
            // `main` refused these: a broken file never stops a daemon it could not replace.
            let cfg = match file {
                ConfigFile::Read(cfg) => *cfg,
                ConfigFile::Broken => return ExitCode::from(2),
                ConfigFile::Missing => return ExitCode::from(1),
            };
            if command != Command::Start {
                match running_pid(pid_path) {
                    Some(pid) if !stop_and_wait(pid, pid_path) => {
                        eprintln!("ldirectord for {shown} [pid {pid}] did not stop");
                        return ExitCode::from(1);
                    }
                    Some(_) => {}
                    None if command == Command::TryRestart => return ExitCode::SUCCESS,
                    None => {}
                }
            }
            start(debug, path, name, pid_path, cfg)
        }
    }
}

fn start(debug: bool, path: &Path, name: &str, pid_path: &Path, cfg: config::Config) -> ExitCode {
    let foreground = debug || cfg.globals.supervised;
    daemon::hold_signals();
    // supervised=yes writes no pid file in the original; we keep one for the lock only
    // when daemonizing or with -d, so `status` works in every mode.
    let mut pidfile = match PidFile::acquire(pid_path) {
        Ok(p) => p,
        Err(PidFileError::AlreadyRunning(pid)) => {
            let pid = pid.map(|p| p.to_string()).unwrap_or_default();
            eprintln!(
                "ldirectord for {} is already running with pid: {pid}",
                path.display()
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ldirectord: {e}");
            return ExitCode::from(1);
        }
    };
    let ipvs = match ipvs::open_from_env() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("ldirectord: IPVS: {e}");
            return ExitCode::from(1);
        }
    };
    let sink = if debug {
        logfile::Sink::Stderr
    } else if cfg.globals.supervised {
        logfile::Sink::Stdout
    } else {
        sink_of(&cfg.globals.logfile)
    };
    // `start` returns once the daemon is set up and its pid file names it: an agent's
    // `status` right after it found the file empty, being rewritten (Pacemaker failed the start).
    let mut detached = None;
    if !foreground {
        match crate::sys::daemon::daemonize("ldirectord") {
            Ok(d) => detached = Some(d),
            Err(e) => {
                eprintln!("ldirectord: daemonize: {e}");
                return ExitCode::from(1);
            }
        }
        // A pid file still naming the starting process (gone in a moment) hid the daemon
        // from `status` and `stop`; the error went to /dev/null and `start` said ready.
        if let Err(e) = pidfile.rewrite_pid() {
            let why = format!("{}: {e}", pid_path.display());
            if let Some(r) = detached.take() {
                r.fail(&why);
            }
            return ExitCode::from(1);
        }
    }
    logfile::init(sink, name, debug);
    let _ = crate::sys::proctitle::set(&format!("ldirectord {name}"));
    log::info!("Starting Linux Director (habox) with {}", path.display());
    daemon::log_warnings(&cfg);
    let mut d = match daemon::Daemon::new(cfg, path.to_path_buf(), ipvs) {
        Ok(d) => d,
        Err(e) => {
            log::error!("{e}");
            match detached.take() {
                Some(r) => r.fail(&e.to_string()),
                None => eprintln!("ldirectord: {e}"),
            }
            return ExitCode::from(1);
        }
    };
    if let Some(r) = detached.take() {
        r.ready();
    }
    d.run();
    log::info!("Linux Director stopped");
    drop(pidfile);
    ExitCode::SUCCESS
}
