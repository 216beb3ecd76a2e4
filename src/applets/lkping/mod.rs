//! lkping: ping over a raw ICMPv4 or ICMPv6 socket with iputils ping's (and `ping -6`'s)
//! output and LifeKeeper's options (`-b` broadcast — with IPv6 the all-nodes group —, `-z`
//! ignored sources, `-w` deadline, `-I` device or address).
//!
//! Two entries: `main` for the command line, and `run` / `run_with` for code that pings
//! in-process (ip-ra's duplicate and connectivity checks, pikemon's ping groups):
//!
//! ```no_run
//! use habox::applets::lkping::{run, Options};
//! use std::time::Duration;
//! let opts = Options {
//!     target: "198.51.100.1".into(),
//!     count: Some(1),
//!     deadline: Some(Duration::from_secs(2)),
//!     quiet: true,
//!     ..Options::default()
//! };
//! let reachable = run(&opts, &mut std::io::sink()).map(|s| s.received > 0);
//! ```
//!
//! The run follows ping's main loop (ping_common.c, iputils 20221126): requests every
//! interval; with a count and no deadline, sending stops after `count` requests and the run
//! waits for replies (twice the largest rtt, at least one interval; `-W` when nothing came
//! yet); with a deadline it stops at the deadline or after `count` answers; an ICMP error
//! ends a run that has a deadline. Exit status is LifeKeeper's: 0 when a reply was counted.

mod error;
mod options;
mod pinger;
mod session;
mod socket_setup;
mod stats;
mod wrong_data;

use std::io::{self, Write};
use std::process::ExitCode;

pub use error::LkpingError;
pub use options::{parse_args, Command, Family, Interface, Options, UsageError, ALL_NODES, USAGE};
pub use session::{run, run_with};
pub use stats::{Rtt, Stats};

/// Exit status when a counted reply came.
pub const EXIT_REPLY: u8 = 0;
/// Exit status when no reply came.
pub const EXIT_NO_REPLY: u8 = 1;
/// Exit status of a bad command line, an unknown host or a socket that cannot be set up.
pub const EXIT_ERROR: u8 = 2;

/// The applet: `lkping [options] destination`.
pub fn main(args: &[String]) -> ExitCode {
    // Like ping, die of SIGPIPE when the reader of our output is gone (`lkping … | head`).
    crate::sys::default_sigpipe();
    let name = args.first().map(String::as_str).unwrap_or("lkping");
    let privileged = nix::unistd::geteuid().is_root();
    let opts = match parse_args(args.get(1..).unwrap_or(&[]), privileged) {
        Ok(Command::Ping(o)) => o,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("{name} from habox {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = run_with(&opts, &mut out, &mut io::stderr());
    let _ = out.flush();
    match result {
        Ok(stats) if stats.received > 0 => ExitCode::from(EXIT_REPLY),
        Ok(_) => ExitCode::from(EXIT_NO_REPLY),
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
