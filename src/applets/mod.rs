//! The applet table and the multicall dispatcher (busybox semantics).
//!
//! `habox APPLET ARGS` or a link named after the applet (`basename(argv[0])`, a leading `-`
//! stripped, as a login shell would be called). `habox --list`, `habox --install [-s] DIR`,
//! `habox --help`. An unknown applet is `habox: NAME: applet not found`, exit 127.

pub mod conntrack_ra;
pub mod ifcheckd;
pub mod ip_ra;
pub mod ldirectord;
pub mod lkping;
pub mod pikemon;

use std::path::Path;
use std::process::ExitCode;

/// An applet's entry point: `args[0]` is the name it was called by, the rest its arguments.
pub type Entry = fn(&[String]) -> ExitCode;

/// One row of the applet table.
pub struct Applet {
    pub name: &'static str,
    pub entry: Entry,
    pub summary: &'static str,
}

/// Every applet habox provides, in the order `--list` prints them.
pub const APPLETS: &[Applet] = &[
    Applet {
        name: "pikemon",
        entry: pikemon::main,
        summary: "master/backup cluster daemon for a firewall pair (PIKE protocol)",
    },
    Applet {
        name: "test-pikemon",
        entry: pikemon::check::main,
        summary: "check a pikemon configuration and run test expressions",
    },
    Applet {
        name: "ldirectord",
        entry: ldirectord::main,
        summary: "health checks of real servers, programs the IPVS load balancer",
    },
    Applet {
        name: "ifcheckd",
        entry: ifcheckd::main,
        summary: "heart-beat ring monitor publishing ringnumber_N attributes",
    },
    Applet {
        name: "lkping",
        entry: lkping::main,
        summary: "ping (iputils output) with LifeKeeper's -b -z -w -I options",
    },
    Applet {
        name: "ip-ra",
        entry: ip_ra::main,
        summary: "virtual-IP resource: restore/remove/quickCheck/recover, OCF agent",
    },
    Applet {
        name: "conntrack-ra",
        entry: conntrack_ra::main,
        summary: "OCF promotable resource agent for conntrackd",
    },
];

/// Finds an applet by the name it was called by.
pub fn find(name: &str) -> Option<&'static Applet> {
    APPLETS.iter().find(|a| a.name == name)
}

/// The applet name for `argv[0]`: its basename with one leading `-` stripped.
pub fn applet_name(argv0: &str) -> &str {
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    base.strip_prefix('-').unwrap_or(base)
}

const HABOX_USAGE: &str = "\
Usage: habox APPLET [ARGS...]
       APPLET [ARGS...]            (through a link named after the applet)
       habox --list                print the applets, one a line
       habox --install [-s] DIR    link every applet into DIR (hard links; -s: symbolic)
       habox --help                this text

Applets:
";

fn usage() -> String {
    let mut s = String::from(HABOX_USAGE);
    for a in APPLETS {
        s.push_str(&format!("  {:<14}{}\n", a.name, a.summary));
    }
    s
}

/// Runs the applet `argv` names and returns its exit code.
pub fn dispatch(argv: Vec<String>) -> ExitCode {
    let called = argv.first().map(|s| applet_name(s)).unwrap_or("habox");
    if called != "habox" {
        return run(called, &argv);
    }
    match argv.get(1).map(String::as_str) {
        None | Some("--help") | Some("-h") => {
            print!("{}", usage());
            if argv.len() < 2 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Some("--list") => {
            for a in APPLETS {
                println!("{}", a.name);
            }
            ExitCode::SUCCESS
        }
        Some("--install") => install_main(&argv[2..]),
        Some(name) => run(name, &argv[1..]),
    }
}

fn run(name: &str, args: &[String]) -> ExitCode {
    match find(name) {
        Some(applet) => {
            let mut args = args.to_vec();
            args[0] = name.to_string();
            (applet.entry)(&args)
        }
        None => {
            eprintln!("habox: {name}: applet not found");
            ExitCode::from(127)
        }
    }
}

fn install_main(args: &[String]) -> ExitCode {
    let (symbolic, dir) = match args {
        [flag, dir] if flag == "-s" => (true, dir),
        [dir] if !dir.starts_with('-') => (false, dir),
        _ => {
            eprintln!("habox: usage: habox --install [-s] DIR");
            return ExitCode::from(2);
        }
    };
    match install(Path::new(dir), symbolic) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("habox: --install {dir}: {e}");
            ExitCode::from(1)
        }
    }
}

/// Links every applet name in `dir` to this binary (busybox semantics: an existing entry of
/// that name is replaced).
pub fn install(dir: &Path, symbolic: bool) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    std::fs::create_dir_all(dir)?;
    for a in APPLETS {
        let link = dir.join(a.name);
        match std::fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if symbolic {
            std::os::unix::fs::symlink(&exe, &link)?;
        } else {
            std::fs::hard_link(&exe, &link)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applet_name_strips_path_and_dash() {
        assert_eq!(applet_name("/usr/sbin/pikemon"), "pikemon");
        assert_eq!(applet_name("-lkping"), "lkping");
        assert_eq!(applet_name("habox"), "habox");
    }

    #[test]
    fn table_names_are_unique() {
        let mut names: Vec<_> = APPLETS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), APPLETS.len());
    }
}
