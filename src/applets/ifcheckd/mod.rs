//! ifcheckd: heart-beat ring monitor. Publishes `ringnumber_N` = `ADDR is UP|FAULTY` per ring
//! (a state file always, Pacemaker's attrd when installed), from pikemon's heart-beat path file
//! (default) or from Corosync 3's knet link statistics (`-c`), plus link carrier from
//! rtnetlink. Options and log messages follow the original (pm_extras' ifcheckd for corosync).
//!
//! `ifcheckd -s` prints the attributes in `crm_mon -A1`'s "Node Attributes:" layout.

mod attrd;
mod attributes;
pub mod corosync;
mod daemon;
pub mod pikemon;
mod ring_names;
pub mod tracker;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::logging;
use crate::sys::pidfile::{PidFile, PidFileError};
use daemon::Daemon;

const NAME: &str = "ifcheckd";
const DEFAULT_PID_FILE: &str = "/var/run/ifcheckd.pid";

/// A pikemon report older than this means pikemon is gone (it rewrites the file every second).
const PIKEMON_STALE: Duration = Duration::from_secs(3);
/// How often the path file is looked at (a stat; read only when it changed).
const PIKEMON_POLL: Duration = Duration::from_millis(200);
/// How often corosync's maps are read (the original retried its connection every second).
const COROSYNC_POLL: Duration = Duration::from_secs(1);
/// How long the addresses of a ring's host name (ringN_addr: fw-a) are taken as they are.
const RING_NAME_REFRESH: Duration = Duration::from_secs(60);
/// A corosync-cmapctl that takes longer than this is killed and counts as "corosync lost".
const COROSYNC_LIMIT: Duration = Duration::from_secs(5);
/// Bound of one attrd_updater call.
const ATTRD_LIMIT: Duration = Duration::from_secs(5);
/// How long an exiting daemon waits for the state file's last write or removal (the writer
/// thread syncs; a busy disk took 0.9 s for one sync).
const STATE_FLUSH_LIMIT: Duration = Duration::from_secs(3);

/// Largest path or attribute file read: pikemon's is a few hundred bytes; a bigger one is a
/// wrong `-P` / `-a` (a log, a device) and is refused rather than read into memory.
const MAX_FILE_LEN: u64 = 1 << 20;

/// Reads the path or attribute file (see `conf::file`: never blocks, bounded).
fn read_regular(path: &std::path::Path) -> std::io::Result<String> {
    crate::conf::file::read(path, MAX_FILE_LEN).map_err(std::io::Error::from)
}

const USAGE: &str = "\
Usage: ifcheckd [options]
Daemon for updating attribute by tracing heart-beat ring (link) status.

  -?, --help              This text
  -$, --version           Version information
  -V, --verbose           Increase debug output (stderr with -f, else syslog)
  -p, --pid-file=FILE     (Advanced) Daemon pid file location [/var/run/ifcheckd.pid]
  -f, --foreground        Start application in foreground
  -s, --show              Print the ring attributes (crm_mon -A1 layout) and exit
  -P, --paths=FILE        pikemon heart-beat path file [/run/pikemon/paths]
  -c, --corosync          Read the rings from Corosync 3 (corosync-cmapctl) instead of pikemon
  -a, --attributes=FILE   Attribute state file [/run/ifcheckd/attributes]

Exit: 0 after SIGTERM/SIGINT (attributes deleted), 1 already running or cannot start
(a pid or attribute file that cannot be written), 2 usage error.
";

/// Where the rings come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Pikemon(PathBuf),
    Corosync,
}

/// The validated command line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    pid_file: PathBuf,
    foreground: bool,
    verbose: u8,
    show: bool,
    source: Source,
    state_file: PathBuf,
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Run(Options),
    Help,
    Version,
}

/// The options: short letter, long name, whether a value follows.
const OPTIONS: &[(char, &str, bool)] = &[
    ('?', "help", false),
    ('$', "version", false),
    ('V', "verbose", false),
    ('p', "pid-file", true),
    ('f', "foreground", false),
    ('s', "show", false),
    ('P', "paths", true),
    ('c', "corosync", false),
    ('a', "attributes", true),
];

/// getopt_long's rules, as the original's crm_get_option: clustered short flags (`-fV`),
/// `-pFILE` or `-p FILE`, `--pid-file=FILE` or `--pid-file FILE`; a value given to a flag
/// that takes none, or an empty file name, is an error.
fn parse_args(args: &[String]) -> Result<Parsed, String> {
    let mut o = Options {
        pid_file: PathBuf::from(DEFAULT_PID_FILE),
        foreground: false,
        verbose: 0,
        show: false,
        source: Source::Pikemon(PathBuf::from(pikemon::DEFAULT_PATH)),
        state_file: PathBuf::from(attributes::DEFAULT_STATE_FILE),
    };
    let mut corosync = false;
    let mut paths = None;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        // (short letter, value written in the same word) for each option of this word.
        let mut found: Vec<(char, Option<String>)> = Vec::new();
        if let Some(long) = a.strip_prefix("--").filter(|l| !l.is_empty()) {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let Some(&(short, _, takes)) = OPTIONS.iter().find(|(_, l, _)| *l == name) else {
                return Err(format!("unknown argument '{a}'"));
            };
            if inline.is_some() && !takes {
                return Err(format!("option '--{name}' doesn't allow an argument"));
            }
            found.push((short, inline));
        } else if let Some(shorts) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
            for (i, c) in shorts.char_indices() {
                let Some(&(_, _, takes)) = OPTIONS.iter().find(|(s, _, _)| *s == c) else {
                    return Err(format!("unknown option '-{c}' in '{a}'"));
                };
                if takes {
                    let rest = &shorts[i + c.len_utf8()..];
                    found.push((c, (!rest.is_empty()).then(|| rest.to_string())));
                    break;
                }
                found.push((c, None));
            }
        } else {
            return Err(format!("unknown argument '{a}'"));
        }
        for (short, inline) in found {
            let mut value = || -> Result<PathBuf, String> {
                match inline.clone().or_else(|| it.next().cloned()) {
                    Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
                    Some(_) => Err(format!("option -{short} needs a file name, got ''")),
                    None => Err(format!("option -{short} needs a value")),
                }
            };
            match short {
                '?' => return Ok(Parsed::Help),
                '$' => return Ok(Parsed::Version),
                'V' => o.verbose = o.verbose.saturating_add(1),
                'f' => o.foreground = true,
                's' => o.show = true,
                'c' => corosync = true,
                'p' => o.pid_file = value()?,
                'P' => paths = Some(value()?),
                'a' => o.state_file = value()?,
                _ => return Err(format!("unknown argument '{a}'")),
            }
        }
    }
    o.source = match (corosync, paths) {
        (true, Some(_)) => return Err("-c and -P exclude each other".into()),
        (true, None) => Source::Corosync,
        (false, Some(p)) => Source::Pikemon(p),
        (false, None) => o.source,
    };
    Ok(Parsed::Run(o))
}

/// Entry point of the applet.
pub fn main(args: &[String]) -> ExitCode {
    let opts = match parse_args(args) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("{NAME} (habox) {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprint!("{NAME}: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if opts.show {
        return show(&opts);
    }
    // A daemon's stderr is /dev/null: it logs to syslog; -V raises the level either way.
    let target = if opts.foreground {
        logging::Target::Stderr
    } else {
        logging::Target::Syslog
    };
    logging::init(NAME, target, 6 + opts.verbose.min(3));
    let mut pid = match PidFile::acquire(&opts.pid_file) {
        Ok(p) => p,
        Err(PidFileError::AlreadyRunning(pid)) => {
            let pid = pid.map_or_else(|| "?".to_string(), |p| p.to_string());
            let msg = format!(
                "{NAME}: already running [pid {pid} in {}]",
                opts.pid_file.display()
            );
            log::error!("{msg}");
            if target == logging::Target::Syslog {
                eprintln!("{msg}");
            }
            return ExitCode::from(1);
        }
        Err(e) => {
            let msg = format!(
                "Could not lock '{}' for {NAME}: {e}",
                opts.pid_file.display()
            );
            log::error!("{msg}");
            if target == logging::Target::Syslog {
                eprintln!("{msg}");
            }
            return ExitCode::from(1);
        }
    };
    // The attribute file is checked before detaching: one that cannot be written fails the
    // start (exit 1, the pid file removed, nothing published) instead of a log line later.
    if let Err(e) = crate::sys::file::check_replaceable(&opts.state_file) {
        let msg = format!(
            "cannot write the attribute file {}: {e}",
            opts.state_file.display()
        );
        log::error!("{msg}");
        if target == logging::Target::Syslog {
            eprintln!("{NAME}: {msg}");
        }
        drop(pid);
        return ExitCode::from(1);
    }
    let mut detached = None;
    if !opts.foreground {
        match crate::sys::daemon::daemonize(NAME) {
            Ok(d) => detached = Some(d),
            Err(e) => {
                eprintln!("{NAME}: cannot daemonize: {e}");
                return ExitCode::from(1);
            }
        }
        if let Err(e) = pid.rewrite_pid() {
            log::error!("{}: {e}", opts.pid_file.display());
        }
    }
    log::info!("Starting {NAME}");
    // The starting process returns 0 once the daemon is set up, 1 if that failed.
    let run = match Daemon::new(&opts) {
        Ok(mut d) => {
            if let Some(r) = detached.take() {
                r.ready();
            }
            d.run()
        }
        Err(e) => {
            if let Some(r) = detached.take() {
                r.fail(&e);
            }
            Err(e)
        }
    };
    let code = match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(1)
        }
    };
    drop(pid);
    log::info!("Exiting {NAME}");
    code
}

/// `-s`: this node from the state file, other nodes from attrd when it is there.
fn show(opts: &Options) -> ExitCode {
    let mut nodes: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let text = match read_regular(&opts.state_file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "{NAME}: {}: {e} (is ifcheckd running?)",
                opts.state_file.display()
            );
            return ExitCode::from(1);
        }
    };
    let (node, attrs) = attributes::read_state(&text);
    nodes.entry(node).or_default().extend(attrs.clone());
    if let Some(tool) = attrd::attrd_updater() {
        for (name, _) in &attrs {
            // attrd answers for the nodes it knows to be up: offline nodes are not shown.
            if let Ok(out) = attrd::AttrdCall::wait(&tool, &["-Q", "-A", "-n", name], ATTRD_LIMIT) {
                for (host, n, v) in attributes::parse_query(&out) {
                    nodes.entry(host).or_default().insert(n, v);
                }
            }
        }
    }
    print!("{}", attributes::show(&nodes));
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_are_the_originals() {
        let Parsed::Run(o) = parse_args(&args(&["ifcheckd"])).unwrap() else {
            panic!()
        };
        assert_eq!(o.pid_file, PathBuf::from("/var/run/ifcheckd.pid"));
        assert!(!o.foreground);
        assert_eq!(
            o.source,
            Source::Pikemon(PathBuf::from("/run/pikemon/paths"))
        );
    }

    #[test]
    fn options_short_and_long() {
        let Parsed::Run(o) = parse_args(&args(&[
            "ifcheckd",
            "-f",
            "-V",
            "--pid-file=/tmp/x.pid",
            "-P",
            "/tmp/paths",
            "-a",
            "/tmp/attrs",
        ]))
        .unwrap() else {
            panic!()
        };
        assert!(o.foreground);
        assert_eq!(o.verbose, 1);
        assert_eq!(o.pid_file, PathBuf::from("/tmp/x.pid"));
        assert_eq!(o.source, Source::Pikemon(PathBuf::from("/tmp/paths")));
        assert_eq!(o.state_file, PathBuf::from("/tmp/attrs"));
        assert_eq!(
            parse_args(&args(&["ifcheckd", "-?"])).unwrap(),
            Parsed::Help
        );
        assert_eq!(
            parse_args(&args(&["ifcheckd", "-$"])).unwrap(),
            Parsed::Version
        );
        let Parsed::Run(o) = parse_args(&args(&["ifcheckd", "--corosync", "-s"])).unwrap() else {
            panic!()
        };
        assert_eq!(o.source, Source::Corosync);
        assert!(o.show);
    }

    #[test]
    fn bad_arguments() {
        assert!(parse_args(&args(&["ifcheckd", "-x"])).is_err());
        // getopt_long's forms: clusters, attached values, --name=value.
        let Parsed::Run(o) =
            parse_args(&args(&["ifcheckd", "-fVV", "-p/r/p", "--paths=/q"])).unwrap()
        else {
            panic!()
        };
        assert!(o.foreground);
        assert_eq!((o.verbose, o.pid_file), (2, PathBuf::from("/r/p")));
        assert_eq!(o.source, Source::Pikemon(PathBuf::from("/q")));
        let e = |a: &[&str]| parse_args(&args(a)).unwrap_err();
        assert_eq!(
            e(&["ifcheckd", "--foreground=1"]),
            "option '--foreground' doesn't allow an argument"
        );
        assert_eq!(e(&["ifcheckd", "-fx"]), "unknown option '-x' in '-fx'");
        assert_eq!(
            e(&["ifcheckd", "--pid-file="]),
            "option -p needs a file name, got ''"
        );
        assert_eq!(
            e(&["ifcheckd", "-a", ""]),
            "option -a needs a file name, got ''"
        );
        assert_eq!(e(&["ifcheckd", "-"]), "unknown argument '-'");
        assert!(parse_args(&args(&["ifcheckd", "-p"])).is_err());
        assert!(parse_args(&args(&["ifcheckd", "-c", "-P", "/p"])).is_err());
    }
}
