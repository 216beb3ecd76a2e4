//! What conntrack-ra needs from conntrackd.conf: the control socket path (`General { UNIX {
//! Path ... } }`), the lock file (`General { LockFile ... }`, default /var/lock/conntrackd.lock)
//! and the hash size (the conntrackd 1.4.x flush-after-commit quirk depends on it).
//!
//! conntrackd's own grammar is larger; everything else is skipped. The shared tokenizer keeps
//! `file:line:col`, so a stray brace is reported where it is.

use std::fmt;
use std::path::PathBuf;

use crate::conf::{tokenize, Kind};

/// conntrackd's compiled-in lock file (conntrackd.h, DEFAULT_LOCKFILE).
pub const DEFAULT_LOCKFILE: &str = "/var/lock/conntrackd.lock";

/// The parts of conntrackd.conf the agent uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// The UNIX control socket.
    pub socket: PathBuf,
    /// The lock file conntrackd refuses to start over.
    pub lockfile: PathBuf,
    /// `General { HashSize N }`, when set.
    pub hashsize: Option<u64>,
}

/// Why a conntrackd.conf cannot be used (all of these are "inherently invalid": OCF 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// Tokenizer or brace problems, `FILE:LINE:COL: error: ...` lines.
    Syntax(String),
    /// No `UNIX { Path ... }` in the file.
    NoSocket(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Syntax(s) => write!(f, "{s}"),
            ConfigError::NoSocket(file) => {
                write!(
                    f,
                    "{file}: error: no UNIX {{ Path ... }} (control socket) in General"
                )
            }
        }
    }
}

/// Reads the values out of the text of conntrackd.conf (`file` names it in errors).
pub fn parse(file: &str, text: &str) -> Result<DaemonConfig, ConfigError> {
    let (tokens, errors) = tokenize(file, text);
    if !errors.is_empty() {
        return Err(ConfigError::Syntax(errors.to_string()));
    }
    // Section stack: the word before each `{` ("General", "UNIX", "Filter From Userspace"...).
    let mut stack: Vec<String> = Vec::new();
    let mut socket = None;
    let mut lockfile = None;
    let mut hashsize = None;
    let mut i = 0;
    while let Some(tok) = tokens.get(i) {
        match tok.kind {
            Kind::OpenBrace => {
                let name = i
                    .checked_sub(1)
                    .and_then(|p| tokens.get(p))
                    .map(|t| t.text.to_ascii_lowercase())
                    .unwrap_or_default();
                stack.push(name);
            }
            Kind::CloseBrace => {
                if stack.pop().is_none() {
                    return Err(ConfigError::Syntax(format!(
                        "{}: error: '}}' without a matching '{{'",
                        tok.span
                    )));
                }
            }
            Kind::Word | Kind::Str => {
                let value = tokens
                    .get(i + 1)
                    .filter(|t| matches!(t.kind, Kind::Word | Kind::Str))
                    .map(|t| t.text.clone());
                let key = tok.text.to_ascii_lowercase();
                let section = stack.last().map(String::as_str);
                match (section, key.as_str(), value) {
                    (Some("unix"), "path", Some(v)) => socket = Some(PathBuf::from(v)),
                    (Some("general"), "lockfile", Some(v)) => lockfile = Some(PathBuf::from(v)),
                    (Some("general"), "hashsize", Some(v)) => hashsize = v.parse().ok(),
                    _ => {}
                }
            }
            Kind::Semicolon => {}
        }
        i += 1;
    }
    if let Some(open) = stack.last() {
        return Err(ConfigError::Syntax(format!(
            "{file}: error: section '{open}' is not closed (missing '}}')"
        )));
    }
    let socket = socket.ok_or_else(|| ConfigError::NoSocket(file.to_string()))?;
    Ok(DaemonConfig {
        socket,
        lockfile: lockfile.unwrap_or_else(|| PathBuf::from(DEFAULT_LOCKFILE)),
        hashsize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Sync {
\tMode FTFW { DisableExternalCache Off }
\tUDP { IPv4_address 203.0.113.1  Interface eth1 }
}
General {
\tHashSize 8192  # small
\tLockFile /run/t/ct.lock
\tUNIX {
\t\tPath /run/t/ct.ctl
\t}
\tFilter From Userspace { Protocol Accept { TCP } }
}
";

    #[test]
    fn reads_socket_lockfile_and_hashsize() {
        let c = parse("c.conf", SAMPLE).unwrap();
        assert_eq!(c.socket, PathBuf::from("/run/t/ct.ctl"));
        assert_eq!(c.lockfile, PathBuf::from("/run/t/ct.lock"));
        assert_eq!(c.hashsize, Some(8192));
    }

    #[test]
    fn lockfile_defaults_like_conntrackd() {
        let c = parse("c", "General { UNIX { Path /x.ctl } }").unwrap();
        assert_eq!(c.lockfile, PathBuf::from(DEFAULT_LOCKFILE));
        assert_eq!(c.hashsize, None);
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let c = parse("c", "general { unix { path \"/a b.ctl\" } lockfile /l }").unwrap();
        assert_eq!(c.socket, PathBuf::from("/a b.ctl"));
        assert_eq!(c.lockfile, PathBuf::from("/l"));
    }

    #[test]
    fn missing_socket_is_reported() {
        let e = parse("c.conf", "General { LockFile /l }").unwrap_err();
        assert!(matches!(e, ConfigError::NoSocket(_)));
        assert!(e.to_string().starts_with("c.conf: error: no UNIX"));
    }

    #[test]
    fn path_outside_unix_section_does_not_count() {
        assert!(parse("c", "General { Path /x }").is_err());
    }

    #[test]
    fn stray_brace_has_a_position() {
        let e = parse("c.conf", "General {\n}\n}\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "c.conf:3:1: error: '}' without a matching '{'"
        );
        assert!(parse("c.conf", "General { UNIX { Path /x }").is_err());
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "{",
            "}",
            "\"",
            "UNIX { Path",
            "{{{{}}",
            "\u{0}\u{1}{ Path }",
            "#",
        ] {
            let _ = parse("g", text);
        }
    }
}
