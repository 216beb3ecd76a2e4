//! The command line of the Perl ldirectord:
//! `ldirectord [-d|--debug] [--] [configfile] start|stop|restart|try-restart|reload|force-reload|status`,
//! `-h|-?|--help`, `-v|--version`; `-t|--config-test [configfile]` (not in the original: the
//! config check keepalived's `-t` and `nginx -t` give, before a reload); and how the config
//! file is found (a bare name is looked up
//! in /etc/ha.d, then /etc/ha.d/conf, then taken as a path; default ldirectord.cf).

use std::path::{Path, PathBuf};

/// What to do with the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Start,
    Stop,
    Restart,
    TryRestart,
    Reload,
    Status,
}

impl Command {
    pub fn from_word(w: &str) -> Option<Command> {
        match w {
            "start" => Some(Command::Start),
            "stop" => Some(Command::Stop),
            "restart" => Some(Command::Restart),
            "try-restart" => Some(Command::TryRestart),
            "reload" | "force-reload" => Some(Command::Reload),
            "status" => Some(Command::Status),
            _ => None,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::Stop => "stop",
            Command::Restart => "restart",
            Command::TryRestart => "try-restart",
            Command::Reload => "reload",
            Command::Status => "status",
        }
    }
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cli {
    Help,
    Version,
    /// `-t`: read the config, report every error, touch nothing.
    ConfigTest {
        config: String,
    },
    Run {
        debug: bool,
        /// None: no config argument (`DEFAULT_CONFIG`, instance name `DEFAULT_NAME`).
        config: Option<String>,
        command: Command,
    },
}

/// The config file read when none is named.
pub const DEFAULT_CONFIG: &str = "ldirectord.cf";
/// The instance name (pid file, log tag) when no config is named: the original's CFGNAME
/// is "ldirectord" then (the upstream unit's PIDFile=/var/run/ldirectord.ldirectord.pid),
/// the file's name only when one is given.
pub const DEFAULT_NAME: &str = "ldirectord";

/// Usage text (the original prints its POD synopsis, exit 255).
pub const USAGE: &str = "\
Usage: ldirectord [-d|--debug] [--] [ldirectord.cf] start|stop|restart|try-restart|reload|force-reload|status
       ldirectord -t|--config-test [ldirectord.cf]
       ldirectord -h|--help
       ldirectord -v|--version

Health-checks the real servers of the IPVS virtual services in ldirectord.cf and programs the
kernel's IPVS table over generic netlink. A bare config name is looked up in /etc/ha.d and
/etc/ha.d/conf. -d stays in the foreground and logs to stderr. -t reads the config and reports
every error (FILE:LINE:COL) without touching the daemon or IPVS: exit 0 if it is valid, 2 if
not, 1 if it is not found. quiescent defaults to no (a
down real is deleted; the Perl code's default, although its man page says yes).
Environment: LDIRECTORD_IPVS_RECORD=FILE records IPVS changes (ipvsadm syntax) in FILE
instead of programming the kernel.
";

/// Parses the arguments (without argv[0]); Err is the message for a bad command line.
pub fn parse(args: &[String]) -> Result<Cli, String> {
    let mut debug = false;
    let mut test = false;
    let mut rest: Vec<&str> = Vec::new();
    let mut options = true;
    for a in args {
        match a.as_str() {
            "--" if options => options = false,
            "-d" | "--debug" if options => debug = true,
            "-t" | "--config-test" if options => test = true,
            "-h" | "-?" | "--help" if options => return Ok(Cli::Help),
            "-v" | "--version" if options => return Ok(Cli::Version),
            o if options && o.starts_with('-') && o.len() > 1 => {
                return Err(format!("Unknown option: {}", o.trim_start_matches('-')))
            }
            other => rest.push(other),
        }
    }
    if test {
        return match rest.as_slice() {
            [] => Ok(Cli::ConfigTest {
                config: DEFAULT_CONFIG.into(),
            }),
            [cfg] => Ok(Cli::ConfigTest {
                config: cfg.to_string(),
            }),
            _ => Err("-t takes one config file and no command".into()),
        };
    }
    let (config, word) = match rest.as_slice() {
        [cmd] => (None, *cmd),
        [cfg, cmd] => (Some(cfg.to_string()), *cmd),
        [] => return Err("no command given".into()),
        _ => return Err("too many arguments".into()),
    };
    let command = Command::from_word(word).ok_or_else(|| format!("unknown command {word:?}"))?;
    Ok(Cli::Run {
        debug,
        config,
        command,
    })
}

/// Why no config file was found for a name (exit 1).
#[derive(Debug)]
pub enum LookupError {
    /// No candidate exists.
    NotFound(String),
    /// A candidate exists but is no regular file (the original's `-f` said "not found" of
    /// a directory, a FIFO, /dev/zero or a symlink loop, and left the operator guessing).
    Unusable { path: PathBuf, what: Unusable },
}

/// What a config path that exists is instead of a regular file.
#[derive(Debug)]
pub enum Unusable {
    Directory,
    /// The kind of special file: "a FIFO", "a character device", ...
    Special(&'static str),
    /// stat(2) failed other than "no such file" (e.g. ELOOP of a symlink loop).
    Os(std::io::Error),
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::NotFound(name) => write!(f, "Config file {name} not found"),
            LookupError::Unusable { path, what } => {
                let path = path.display();
                match what {
                    Unusable::Directory => write!(f, "Config file {path} is a directory"),
                    Unusable::Special(kind) => {
                        write!(f, "Config file {path} is not a regular file ({kind})")
                    }
                    Unusable::Os(e) => write!(f, "Config file {path}: {e}"),
                }
            }
        }
    }
}

/// The config file for `name`, as the original looks it up (the first regular file).
pub fn resolve_config(name: &str) -> Result<PathBuf, LookupError> {
    resolve_config_in(Path::new("/etc/ha.d"), name)
}

/// `resolve_config` with another base directory (tests). Without a regular file, the first
/// candidate that exists as something else is named, else the name is "not found".
pub fn resolve_config_in(base: &Path, name: &str) -> Result<PathBuf, LookupError> {
    use std::os::unix::fs::FileTypeExt;
    let candidates = [
        base.join(name),
        base.join("conf").join(name),
        PathBuf::from(name),
    ];
    let mut unusable = None;
    for path in candidates {
        let what = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => return Ok(path),
            Ok(m) if m.is_dir() => Unusable::Directory,
            Ok(m) => {
                let t = m.file_type();
                Unusable::Special(if t.is_fifo() {
                    "a FIFO"
                } else if t.is_char_device() {
                    "a character device"
                } else if t.is_block_device() {
                    "a block device"
                } else if t.is_socket() {
                    "a socket"
                } else {
                    "of an unknown type"
                })
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                continue
            }
            Err(e) => Unusable::Os(e),
        };
        unusable.get_or_insert(LookupError::Unusable { path, what });
    }
    Err(unusable.unwrap_or_else(|| LookupError::NotFound(name.to_string())))
}

/// The name that tags the pid file and log lines: the config's file name when one was
/// named (`config`), else `DEFAULT_NAME`.
pub fn config_name(config: Option<&str>, path: &Path) -> String {
    if config.is_none() {
        return DEFAULT_NAME.into();
    }
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| DEFAULT_CONFIG.into())
}

/// `/var/run/ldirectord.NAME.pid`.
pub fn pid_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/var/run/ldirectord.{name}.pid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn config_test_takes_an_optional_file_and_no_command() {
        assert_eq!(
            parse(&args("-t")),
            Ok(Cli::ConfigTest {
                config: "ldirectord.cf".into()
            })
        );
        assert_eq!(
            parse(&args("--config-test /etc/x.cf")),
            Ok(Cli::ConfigTest {
                config: "/etc/x.cf".into()
            })
        );
        assert!(parse(&args("-t x.cf start")).is_err());
    }

    #[test]
    fn command_lines() {
        assert_eq!(
            parse(&args("start")),
            Ok(Cli::Run {
                debug: false,
                config: None,
                command: Command::Start
            })
        );
        assert_eq!(
            parse(&args("-d -- my.cf force-reload")),
            Ok(Cli::Run {
                debug: true,
                config: Some("my.cf".into()),
                command: Command::Reload
            })
        );
        assert_eq!(parse(&args("--help")), Ok(Cli::Help));
        assert_eq!(parse(&args("-v start")), Ok(Cli::Version));
        assert!(parse(&args("")).is_err());
        assert!(parse(&args("a.cf bogus")).is_err());
        assert!(parse(&args("-x start")).is_err());
        assert!(parse(&args("a b c")).is_err());
    }

    /// `ldirectord start` (no config named, ldirectord.cf read) used the pid file
    /// /var/run/ldirectord.ldirectord.cf.pid and the log tag ldirectord.cf; the original's
    /// CFGNAME is "ldirectord" there, and the upstream unit waits for
    /// /var/run/ldirectord.ldirectord.pid. Naming the file keeps its name.
    #[test]
    fn default_config_named_its_pid_file_ldirectord_cf() {
        let Ok(Cli::Run { config, .. }) = parse(&args("start")) else {
            panic!("start did not parse");
        };
        let path = Path::new("/etc/ha.d/ldirectord.cf");
        let name = config_name(config.as_deref(), path);
        assert_eq!(name, "ldirectord");
        assert_eq!(
            pid_path(&name),
            PathBuf::from("/var/run/ldirectord.ldirectord.pid")
        );
        let Ok(Cli::Run { config, .. }) = parse(&args("ldirectord.cf start")) else {
            panic!("ldirectord.cf start did not parse");
        };
        assert_eq!(config_name(config.as_deref(), path), "ldirectord.cf");
    }

    #[test]
    fn config_lookup_order() {
        let dir = std::env::temp_dir().join(format!("ldcli-{}", std::process::id()));
        let _ = std::fs::create_dir_all(dir.join("conf"));
        let _ = std::fs::write(dir.join("conf").join("x.cf"), "");
        assert_eq!(
            resolve_config_in(&dir, "x.cf").ok(),
            Some(dir.join("conf").join("x.cf"))
        );
        let _ = std::fs::write(dir.join("x.cf"), "");
        assert_eq!(resolve_config_in(&dir, "x.cf").ok(), Some(dir.join("x.cf")));
        let abs = dir.join("x.cf");
        let abs = abs.to_string_lossy();
        assert_eq!(
            resolve_config_in(Path::new("/nonexistent"), &abs).ok(),
            Some(PathBuf::from(abs.as_ref()))
        );
        assert!(matches!(
            resolve_config_in(&dir, "missing.cf"),
            Err(LookupError::NotFound(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            config_name(Some("web.cf"), Path::new("/etc/ha.d/web.cf")),
            "web.cf"
        );
        assert_eq!(
            pid_path("web.cf"),
            PathBuf::from("/var/run/ldirectord.web.cf.pid")
        );
    }

    /// A directory, a FIFO, /dev/zero or a symlink loop as the config was "Config file X
    /// not found" (the Perl's `-f`), though X was there. Still exit 1, saying what X is; a
    /// regular file later in the lookup order still wins.
    #[test]
    fn config_path_that_is_a_directory_fifo_device_or_loop_was_not_found() {
        let dir = std::env::temp_dir().join(format!("ldcli-kinds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::create_dir_all(dir.join("conf"));
        let none = Path::new("/nonexistent");
        let shown = |p: &Path| match resolve_config_in(none, &p.to_string_lossy()) {
            Err(e) => e.to_string(),
            Ok(p) => panic!("found {}", p.display()),
        };
        let d = dir.join("d.cf");
        let _ = std::fs::create_dir(&d);
        assert_eq!(
            shown(&d),
            format!("Config file {} is a directory", d.display())
        );
        let fifo = dir.join("fifo.cf");
        let _ = nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600));
        assert_eq!(
            shown(&fifo),
            format!(
                "Config file {} is not a regular file (a FIFO)",
                fifo.display()
            )
        );
        assert_eq!(
            shown(Path::new("/dev/zero")),
            "Config file /dev/zero is not a regular file (a character device)"
        );
        let lp = dir.join("loop.cf");
        let _ = std::os::unix::fs::symlink(&lp, &lp);
        let e = shown(&lp);
        let eloop = std::io::Error::from_raw_os_error(libc::ELOOP).to_string();
        assert_eq!(e, format!("Config file {}: {eloop}", lp.display()));
        assert_eq!(
            shown(&dir.join("missing.cf")),
            format!("Config file {} not found", dir.join("missing.cf").display())
        );
        // /etc/ha.d/NAME a directory, /etc/ha.d/conf/NAME a file: the file.
        let _ = std::fs::create_dir(dir.join("x.cf"));
        let _ = std::fs::write(dir.join("conf").join("x.cf"), "");
        assert_eq!(
            resolve_config_in(&dir, "x.cf").ok(),
            Some(dir.join("conf").join("x.cf"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
