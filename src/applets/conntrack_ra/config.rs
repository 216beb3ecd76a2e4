//! What conntrack-ra needs from conntrackd.conf: the control socket path (`General { UNIX {
//! Path ... } }`), the lock file (`General { LockFile ... }`, default /var/lock/conntrackd.lock)
//! and the hash size (the conntrackd 1.4.x flush-after-commit quirk depends on it).
//!
//! conntrackd's own grammar is larger; everything else is skipped. The shared tokenizer keeps
//! `file:line:col`, so a stray brace is reported where it is.

use std::fmt;
use std::path::PathBuf;

use crate::conf::{tokenize, Kind, Span};

/// conntrackd's compiled-in lock file (conntrackd.h, DEFAULT_LOCKFILE).
pub const DEFAULT_LOCKFILE: &str = "/var/lock/conntrackd.lock";

/// The longest control socket path conntrackd takes (UNIX_PATH_MAX 108, less the NUL).
const MAX_SOCKET_PATH: usize = 107;

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

/// The keys the agent reads, by the sections they must sit in (conntrackd's grammar).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Path,
    LockFile,
    HashSize,
}

fn key_in(stack: &[(String, Span)], word: &str) -> Option<(Key, &'static str)> {
    let lower: Vec<String> = stack.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    let path: Vec<&str> = lower.iter().map(String::as_str).collect();
    match (path.as_slice(), word) {
        (["general", "unix"], "path") => Some((Key::Path, "an absolute socket path")),
        (["general"], "lockfile") => Some((Key::LockFile, "an absolute lock file path")),
        (["general"], "hashsize") => Some((Key::HashSize, "an integer")),
        _ => None,
    }
}

/// Reads the values out of the text of conntrackd.conf (`file` names it in errors). Every
/// problem with the values the agent uses is reported as `FILE:LINE:COL: error: ...`.
pub fn parse(file: &str, text: &str) -> Result<DaemonConfig, ConfigError> {
    let (tokens, errors) = tokenize(file, text);
    if !errors.is_empty() {
        return Err(ConfigError::Syntax(errors.to_string()));
    }
    // Section stack: the word before each `{` ("General", "UNIX", "Filter From Userspace"...)
    // as written, and where its brace is.
    let mut stack: Vec<(String, Span)> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut socket = None;
    let mut lockfile = None;
    let mut hashsize = None;
    let mut i = 0;
    while let Some(tok) = tokens.get(i) {
        i += 1;
        match tok.kind {
            Kind::OpenBrace => {
                let name = i
                    .checked_sub(2)
                    .and_then(|p| tokens.get(p))
                    .map(|t| t.text.clone())
                    .unwrap_or_default();
                stack.push((name, tok.span.clone()));
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
                let word = tok.text.to_ascii_lowercase();
                let Some((key, expected)) = key_in(&stack, &word) else {
                    continue;
                };
                let value = tokens
                    .get(i)
                    .filter(|t| matches!(t.kind, Kind::Word | Kind::Str));
                let Some(value) = value else {
                    problems.push(format!(
                        "{}: error: {} needs a value ({expected})",
                        tok.span, tok.text
                    ));
                    continue;
                };
                i += 1;
                // conntrackd's lexer: a path starts with '/', a number is digits; anything
                // else (the next keyword when the value is missing) is its syntax error.
                let valid = match key {
                    Key::Path | Key::LockFile => value.text.starts_with('/'),
                    Key::HashSize => value.text.parse::<u64>().is_ok(),
                };
                if !valid {
                    problems.push(format!(
                        "{}: error: {} expects {expected}, found '{}'",
                        value.span, tok.text, value.text
                    ));
                    continue;
                }
                // sun_path holds 108 bytes with the NUL: conntrackd refuses a longer Path
                // ("Path is longer than 107 characters"), and connect() cannot reach it.
                if key == Key::Path && value.text.len() > MAX_SOCKET_PATH {
                    problems.push(format!(
                        "{}: error: Path is longer than {MAX_SOCKET_PATH} characters \
                         ({} given): conntrackd refuses it",
                        value.span,
                        value.text.len()
                    ));
                    continue;
                }
                match key {
                    Key::Path => socket = Some(PathBuf::from(&value.text)),
                    Key::LockFile => lockfile = Some(PathBuf::from(&value.text)),
                    Key::HashSize => hashsize = value.text.parse().ok(),
                }
            }
            Kind::Semicolon => {}
        }
    }
    if let Some((name, at)) = stack.last() {
        problems.push(format!(
            "{at}: error: section '{name}' opened here is not closed (missing '}}')"
        ));
    }
    if !problems.is_empty() {
        return Err(ConfigError::Syntax(problems.join("\n")));
    }
    let socket = socket.ok_or_else(|| ConfigError::NoSocket(file.to_string()))?;
    Ok(DaemonConfig {
        socket,
        lockfile: lockfile.unwrap_or_else(|| PathBuf::from(DEFAULT_LOCKFILE)),
        hashsize,
    })
}

/// conntrackd's own refusal of its config, out of what `conntrackd -d` wrote on stderr
/// (`[DATE] (pid=N) [ERROR] parsing config file in line (LINE), symbol 'WORD': syntax error`,
/// conntrack-tools src/read_config_yy.y), as `FILE:LINE:COL: error: ...`: the column is
/// where WORD first appears on that line of `text`. `None` when stderr says something else.
pub fn refusal(file: &str, text: &str, stderr: &str) -> Option<String> {
    let (_, rest) = stderr.split_once("parsing config file in line (")?;
    let (line, rest) = rest.split_once(')')?;
    let line: usize = line.trim().parse().ok()?;
    let what = rest.trim_start_matches([',', ' ']).lines().next()?.trim();
    let symbol = what
        .strip_prefix("symbol '")
        .and_then(|s| s.split_once("':"))
        .map(|(sym, _)| sym);
    let col = symbol
        .filter(|sym| !sym.is_empty())
        .and_then(|sym| {
            let at = text.lines().nth(line.checked_sub(1)?)?;
            // The word itself, not the same letters inside an earlier word.
            let mut hits = at.match_indices(sym).map(|(i, _)| i);
            let boundary =
                |c: Option<char>| c.is_none_or(|c| c.is_whitespace() || "{}".contains(c));
            let whole = |i: usize| {
                boundary(at.get(..i).and_then(|b| b.chars().last()))
                    && boundary(at.get(i + sym.len()..).and_then(|a| a.chars().next()))
            };
            hits.clone().find(|&i| whole(i)).or_else(|| hits.next())
        })
        .map_or(1, |byte| byte + 1);
    let why = match symbol {
        Some(sym) => format!("conntrackd does not accept '{sym}' here (syntax error)"),
        None => format!("conntrackd refuses the config: {what}"),
    };
    Some(format!("{file}:{line}:{col}: error: {why}"))
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
    fn values_the_agent_uses_are_checked_where_they_are() {
        let e = |text: &str| parse("c.conf", text).unwrap_err().to_string();
        assert_eq!(
            e("General {\n UNIX { Path /x }\n"),
            "c.conf:1:9: error: section 'General' opened here is not closed (missing '}')"
        );
        assert_eq!(
            e("General {\n UNIX { Path }\n}\n"),
            "c.conf:2:9: error: Path needs a value (an absolute socket path)"
        );
        assert_eq!(
            e("General {\n HashSize lots\n UNIX { Path /x }\n}\n"),
            "c.conf:2:11: error: HashSize expects an integer, found 'lots'"
        );
        // A missing value is not the next keyword; every problem is listed.
        assert_eq!(
            e("General {\n LockFile\n UNIX { Path run/x.ctl }\n}\n"),
            "c.conf:3:2: error: LockFile expects an absolute lock file path, found 'UNIX'\n\
             c.conf:3:14: error: Path expects an absolute socket path, found 'run/x.ctl'"
        );
        // conntrackd takes a value on the next line.
        let c = parse("c", "General {\n LockFile\n /l\n UNIX { Path\n /x }\n}\n").unwrap();
        assert_eq!((c.lockfile, c.socket), ("/l".into(), "/x".into()));
        // UNIX belongs in General.
        assert!(matches!(
            parse("c", "General { }\nUNIX { Path /y }\n"),
            Err(ConfigError::NoSocket(_))
        ));
    }

    #[test]
    fn conntrackds_syntax_error_gets_file_line_and_column() {
        let text = "General {\n\tHashSize 16384 17\n}\n";
        let stderr = "[Sun Dec  6 20:04:35 2026] (pid=22146) [ERROR] parsing config file in \
                      line (2), symbol '17': syntax error";
        assert_eq!(
            refusal("c.conf", text, stderr).as_deref(),
            Some("c.conf:2:17: error: conntrackd does not accept '17' here (syntax error)")
        );
        // A line the file does not have, or another message.
        assert_eq!(
            refusal(
                "c.conf",
                "",
                "parsing config file in line (9), symbol 'x': syntax error"
            )
            .as_deref(),
            Some("c.conf:9:1: error: conntrackd does not accept 'x' here (syntax error)")
        );
        assert_eq!(
            refusal(
                "c.conf",
                "General { Syslog onoff on\n",
                "parsing config file in line (1), symbol 'on': x"
            )
            .as_deref(),
            Some("c.conf:1:24: error: conntrackd does not accept 'on' here (syntax error)")
        );
        assert_eq!(
            refusal("c.conf", text, "nosuch0 is an invalid interface"),
            None
        );
        for garbage in ["parsing config file in line (", "in line (x), symbol '", ""] {
            let _ = refusal("c", text, garbage);
        }
    }

    #[test]
    fn a_socket_path_longer_than_sun_path_is_refused_where_it_is() {
        let ok = format!("General {{ UNIX {{ Path /{} }} }}", "p".repeat(106));
        assert!(parse("c", &ok).is_ok());
        let long = format!("General {{\n UNIX {{ Path /{} }}\n}}", "p".repeat(107));
        assert_eq!(
            parse("c.conf", &long).unwrap_err().to_string(),
            "c.conf:2:14: error: Path is longer than 107 characters (108 given): \
             conntrackd refuses it"
        );
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
