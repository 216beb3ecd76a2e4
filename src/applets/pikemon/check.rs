//! `test-pikemon`: checks a pikemon config (syntax and semantics, every error printed as
//! `FILE:LINE:COL: error: ...`), optionally resolves host names (`-r`) and runs test
//! expressions (`-t 'show-config all; show-vc LAN;'`).
//!
//! Exit codes: 0 the config is valid (and every expression ran), 1 an expression failed
//! (e.g. an unknown virtual cluster), 2 the config has errors or the command line is wrong
//! (a `-t` argument that does not parse, or names an unknown expression, is bad usage).
//! A key file that group or others can read is warned about on stderr; the exit code stays.

use std::os::unix::fs::PermissionsExt;
use std::process::ExitCode;

use super::config::{self, Config, KeySource, ReadOptions};
use super::show;

/// Default config path, shared with the daemon.
pub const DEFAULT_CONFIG: &str = "/etc/habox/pikemon.cfg";

const USAGE: &str = "\
Usage: test-pikemon [-f CFG] [-r] [-t EXPR]
  -f CFG   config file (default /etc/habox/pikemon.cfg)
  -r       also resolve host names (ping-group hosts): one with no address
           pikemon would ping (loopback, this host's, a VIP) is an error
  -t EXPR  run test expressions, ';'-separated:
             show-config [all];  the config (all: with defaults)
             show-vc NAME;       one virtual cluster, with its virtual MACs
             show-mac;           VC, interface, macvlan and virtual MAC per line
             help;               this list
  -h       help    -v  version
Exit: 0 valid, 1 an expression failed, 2 config errors or usage.
";

const EXPR_HELP: &str = "\
show-config [all];  print the config (all: with defaults)
show-vc NAME;       print one virtual cluster and its virtual MACs
show-mac;           print VC, interface, macvlan and virtual MAC per line
help;               print this list
";

/// Command line of test-pikemon, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub config: String,
    pub resolve: bool,
    pub expr: Option<String>,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(Options),
    Help,
    Version,
}

/// Parses the arguments (without argv[0]).
pub fn parse_args(args: &[String]) -> Result<Command, String> {
    let mut o = Options {
        config: DEFAULT_CONFIG.into(),
        resolve: false,
        expr: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-f" => o.config = it.next().ok_or("-f needs a file")?.clone(),
            "-r" => o.resolve = true,
            "-t" => o.expr = Some(it.next().ok_or("-t needs an expression")?.clone()),
            "-h" | "--help" => return Ok(Command::Help),
            "-v" | "--version" => return Ok(Command::Version),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(Command::Run(o))
}

/// Why a `-t` argument did not run to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprError {
    /// It does not parse or names no expression (bad usage, exit 2).
    Usage(String),
    /// An expression ran and failed, e.g. on an unknown virtual cluster (exit 1).
    Failed(String),
}

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExprError::Usage(e) | ExprError::Failed(e) => f.write_str(e),
        }
    }
}

/// Runs the test expressions against a valid config; returns the output or why not. The
/// last expression's `;` may be left out (`-t show-mac`).
pub fn eval(c: &Config, expr: &str) -> Result<String, ExprError> {
    // On a line of its own: a `#` comment at the end cannot swallow it.
    let (nodes, errors) = crate::conf::tree::parse("-t", &format!("{expr}\n;"));
    if !errors.is_empty() {
        return Err(ExprError::Usage(errors.to_string()));
    }
    let usage = |n: &crate::conf::tree::Node, what: String| {
        ExprError::Usage(format!("{}: error: {what} (try 'help;')", n.span()))
    };
    let mut out = String::new();
    for n in &nodes {
        if n.body.is_some() {
            return Err(usage(n, format!("'{}' takes no '{{ }}'", n.key())));
        }
        let args: Vec<&str> = n.args.iter().map(|t| t.text.as_str()).collect();
        match (n.key(), args.as_slice()) {
            ("show-config", []) => out.push_str(&show::config(c, false)),
            ("show-config", ["all"]) => out.push_str(&show::config(c, true)),
            ("show-vc", []) => {
                let what = "'show-vc' needs the name of a virtual cluster: 'show-vc NAME;'";
                return Err(usage(n, what.into()));
            }
            ("show-vc", [name]) => {
                let vc = c
                    .virtual_clusters
                    .iter()
                    .find(|v| v.name == *name)
                    .ok_or_else(|| {
                        let e = format!("{}: error: no virtual-cluster '{name}'", n.span());
                        ExprError::Failed(e)
                    })?;
                out.push_str(&show::virtual_cluster(vc, true));
                for ci in &vc.interfaces {
                    out.push_str(&format!(
                        "# {}: macvlan {} mac {}\n",
                        ci.name,
                        ci.macvlan_name(vc.id),
                        super::values::show_mac(&ci.virtual_mac())
                    ));
                }
            }
            ("show-mac", []) => out.push_str(&show::macs(c)),
            ("help", []) => out.push_str(EXPR_HELP),
            (key, _) => {
                let all: String = args.iter().map(|a| format!(" {a}")).collect();
                return Err(usage(n, format!("unknown test expression '{key}{all}'")));
            }
        }
    }
    Ok(out)
}

/// One warning per HMAC key file that group or others can read: the key is the cluster's only
/// secret (anyone who reads it can forge HELLOs and take the VIPs).
pub fn key_file_warnings(c: &Config) -> Vec<String> {
    c.keys
        .iter()
        .filter_map(|k| match &k.source {
            KeySource::File(path) => {
                let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
                (mode & 0o044 != 0).then(|| {
                    format!(
                        "warning: key file {} is readable by group or others (mode {mode:03o}): \
                         chmod 600 it",
                        path.display()
                    )
                })
            }
            KeySource::Inline => None,
        })
        .collect()
}

/// A hello-interval under 100 ms without `realtime`: measured here (bench/starve), a loaded
/// machine delays a normal-priority worker past dead-interval + probe and the backup takes
/// over a live master; with `realtime` it did not happen.
pub fn timing_warnings(c: &Config) -> Vec<String> {
    let fast = c.hello_interval < std::time::Duration::from_millis(100);
    if fast && c.realtime.is_none() {
        vec![format!(
            "warning: hello-interval {} without 'realtime yes;': CPU starvation can make \
             the backup take over a live master",
            super::values::show_duration(c.hello_interval)
        )]
    } else {
        Vec::new()
    }
}

/// Entry point of the `test-pikemon` applet.
pub fn main(args: &[String]) -> ExitCode {
    // A command-line tool only: its output ends with its reader (`-t 'show-config all;' |
    // head -3`) as a C tool's does, never with a panic.
    crate::sys::default_sigpipe();
    let name = args.first().map(String::as_str).unwrap_or("test-pikemon");
    let opts = match parse_args(args.get(1..).unwrap_or(&[])) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("{name} (habox) {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{name}: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match config::load(
        &opts.config,
        ReadOptions {
            resolve: opts.resolve,
            check_host: true,
        },
    ) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{name}: {}: {} error(s)", opts.config, errors.len());
            return ExitCode::from(2);
        }
    };
    for w in key_file_warnings(&config)
        .into_iter()
        .chain(timing_warnings(&config))
    {
        eprintln!("{name}: {w}");
    }
    match opts.expr {
        None => {
            println!("{}: configuration OK", opts.config);
            ExitCode::SUCCESS
        }
        Some(expr) => match eval(&config, &expr) {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                match e {
                    ExprError::Usage(_) => ExitCode::from(2),
                    ExprError::Failed(_) => ExitCode::from(1),
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "version PIKEMON-1; pikemon { node-id 2; hmac key \"0123456789abcdef\";
        heart-beat { interface hb0; }
        virtual-cluster LAN { id 3; interface lan0 { ipv4 [198.51.100.10]/24; } }
        virtual-cluster WAN { id 4; interface wan0 { ipv4 [203.0.113.5]/24; mac 02:00:00:00:00:04; } } }";

    fn cfg() -> Config {
        config::read("c", CFG, ReadOptions::default()).unwrap()
    }

    #[test]
    fn show_mac_lists_every_controlled_interface() {
        assert_eq!(
            eval(&cfg(), "show-mac;").unwrap(),
            "LAN lan0 pk3-lan0 02:c6:33:64:0a:00\nWAN wan0 pk4-wan0 02:00:00:00:00:04\n"
        );
    }

    #[test]
    fn show_vc_and_show_config() {
        let out = eval(&cfg(), "show-vc WAN; show-config;").unwrap();
        assert!(
            out.starts_with("virtual-cluster WAN {\n    id 4;\n    preemptive no;"),
            "{out}"
        );
        assert!(
            out.contains("# wan0: macvlan pk4-wan0 mac 02:00:00:00:00:04\n"),
            "{out}"
        );
        assert!(
            out.contains("version PIKEMON-1;\npikemon {\n    node-id 2;\n"),
            "{out}"
        );
        assert!(
            !out.contains("0123456789abcdef"),
            "the key must never be shown: {out}"
        );
        assert!(
            !out.contains("garp-repeat"),
            "defaults are shown only with 'all': {out}"
        );
        assert!(eval(&cfg(), "show-config all;")
            .unwrap()
            .contains("    garp-repeat 3;\n"));
    }

    #[test]
    fn bad_expressions_name_their_position() {
        assert_eq!(
            eval(&cfg(), "help; show-vc DMZ;").unwrap_err(),
            ExprError::Failed("-t:1:7: error: no virtual-cluster 'DMZ'".into())
        );
        assert_eq!(
            eval(&cfg(), "show-config some;").unwrap_err(),
            ExprError::Usage(
                "-t:1:1: error: unknown test expression 'show-config some' (try 'help;')".into()
            )
        );
        assert!(eval(&cfg(), "help;").unwrap().contains("show-vc NAME;"));
    }

    /// A `-t` argument that does not parse exited 1, the status of a failed expression,
    /// where the documented status of bad usage is 2.
    #[test]
    fn a_t_argument_that_does_not_parse_exited_1_not_2() {
        for bad in ["show-mac {", "show-vc \"LAN", "{", "show-mac; }"] {
            let e = eval(&cfg(), bad).unwrap_err();
            assert!(matches!(e, ExprError::Usage(_)), "{bad}: {e:?}");
        }
    }

    /// `-t 'show-vc;'` said "unknown test expression 'show-vc'".
    #[test]
    fn show_vc_without_its_name_was_called_an_unknown_expression() {
        assert_eq!(
            eval(&cfg(), "show-vc;").unwrap_err().to_string(),
            "-t:1:1: error: 'show-vc' needs the name of a virtual cluster: 'show-vc NAME;' \
             (try 'help;')"
        );
    }

    /// `-t show-mac` complained that the statement "is not ended with ';' before end of
    /// file", a file the operator never wrote.
    #[test]
    fn t_argument_without_its_last_semicolon_was_an_error_about_a_file() {
        assert_eq!(eval(&cfg(), "show-mac"), eval(&cfg(), "show-mac;"));
        assert_eq!(
            eval(&cfg(), "help; show-mac"),
            eval(&cfg(), "help; show-mac;")
        );
        assert!(eval(&cfg(), "show-mac # all of them").is_ok());
    }

    #[test]
    fn arguments() {
        let a = |v: &[&str]| parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            a(&["-f", "x.cfg", "-r", "-t", "help;"]),
            Ok(Command::Run(Options {
                config: "x.cfg".into(),
                resolve: true,
                expr: Some("help;".into())
            }))
        );
        assert!(a(&["-f"]).is_err());
        assert!(a(&["-x"]).is_err());
        assert_eq!(a(&["-h"]), Ok(Command::Help));
    }

    #[test]
    fn a_fast_hello_without_realtime_is_warned_about() {
        let mut c = cfg();
        c.hello_interval = std::time::Duration::from_millis(10);
        let w = timing_warnings(&c);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("hello-interval 10ms without 'realtime yes;'"),
            "{w:?}"
        );
        c.realtime = Some(50);
        assert!(timing_warnings(&c).is_empty());
        c.realtime = None;
        c.hello_interval = std::time::Duration::from_millis(100);
        assert!(timing_warnings(&c).is_empty());
    }
}
