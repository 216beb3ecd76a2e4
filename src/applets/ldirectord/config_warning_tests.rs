//! Operator mistakes that ldirectord.cf loads with (as the Perl ldirectord does) but that
//! `-t` must show: values read loosely, repeated directives, duplicate reals, scheduler
//! names IPVS may not have; and the ones refused (a log or monitor file that is the config).

use std::net::IpAddr;

use super::config::*;
use super::resolve::Resolve;

/// Numeric names only; no DNS.
struct Numeric;

impl Resolve for Numeric {
    fn host(&self, host: &str, v6: bool) -> Option<IpAddr> {
        host.parse::<IpAddr>().ok().filter(|ip| ip.is_ipv6() == v6)
    }
    fn service(&self, name: &str, _proto: &str) -> Option<u16> {
        name.parse().ok()
    }
}

fn parse_as(file: &str, text: &str) -> Result<Config, String> {
    super::config::parse(file, text, &Numeric).map_err(|e| e.to_string())
}

fn parse(text: &str) -> Config {
    parse_as("t.cf", text).unwrap_or_else(|e| panic!("{e}"))
}

const VIRTUAL: &str = "virtual=203.0.113.10:80\n\treal=203.0.113.101:80 masq\n";

/// The Perl reads the first run of digits (`/(\d+)/`) and loads `1e3` as 1 s, `-5` as 5,
/// `checktimeout=-1` as 1 and `1.5` as 1 without a word: the same values here, each with a
/// warning at the value that says how it was read.
#[test]
fn loose_numbers_load_as_the_perl_reads_them_with_a_warning_each() {
    let c = parse(&format!(
        "checkinterval=1e3\nchecktimeout=-1\nnegotiatetimeout=1.5\n{VIRTUAL}\tcheckinterval=-5\nfork=yes\n"
    ));
    assert_eq!(c.globals.checkinterval, 1);
    assert_eq!(c.globals.checktimeout, Some(1));
    assert_eq!(c.globals.negotiatetimeout, Some(1));
    assert_eq!(c.virtuals[0].checkinterval, 5);
    let at: Vec<&str> = c
        .warnings
        .iter()
        .filter_map(|w| w.split(": warning: ").next())
        .collect();
    assert_eq!(
        at,
        ["t.cf:1:15", "t.cf:2:14", "t.cf:3:18", "t.cf:6:16"],
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings[0].ends_with(
            "check interval: \"1e3\" is read as 1 (only the first run of digits counts, as in the Perl ldirectord)"
        ),
        "{:?}",
        c.warnings
    );
    assert!(c.warnings[1].contains("\"-1\" is read as 1"));
    // Zero stays an error, as in the Perl.
    let e = parse_as("t.cf", "checkinterval=-0\n")
        .err()
        .unwrap_or_default();
    assert!(
        e.starts_with("t.cf:1:15: error: invalid check interval"),
        "{e}"
    );
}

/// `real=203.0.113.101:80 masq` then `real=203.0.113.101:80 gate 5` gave one real (the
/// first) and no word. The Perl keeps both lines (and flips the one IPVS destination between
/// them); here the first is kept and the second line is warned about, naming the first.
#[test]
fn duplicate_real_line_was_merged_silently() {
    let c = parse(
        "virtual=203.0.113.10:80\n\treal=203.0.113.101:80 masq\n\treal=203.0.113.101:80 gate 5\n",
    );
    let reals = &c.virtuals[0].reals;
    assert_eq!(reals.len(), 1);
    assert_eq!((reals[0].forward, reals[0].weight), (Forward::Masq, 1));
    assert_eq!(
        c.warnings,
        ["t.cf:3:7: warning: duplicate real server 203.0.113.101:80 ignored: line 2 has it (masq, weight 1), which is used"]
    );
}

/// A second `checkinterval=` or `scheduler=` silently overrode the first (an edit above an
/// old line was lost). The last still counts, as in the Perl, with a warning at the later
/// line naming the earlier one. `real=` and `execute=` repeat by design: no warning.
#[test]
fn repeated_checkinterval_or_scheduler_overrode_the_first_silently() {
    let c = parse(
        "checkinterval=5\nexecute=a.cf\nexecute=b.cf\ncheckinterval=7\n\
         virtual=203.0.113.10:80\n\tscheduler=rr\n\treal=203.0.113.101:80 masq\n\
         \treal=203.0.113.102:80 masq\n\tscheduler=wlc\n\
         virtual=203.0.113.10:81\n\tscheduler=sh\n\treal=203.0.113.101:80 masq\n",
    );
    assert_eq!(c.globals.checkinterval, 7);
    assert_eq!(c.virtuals[0].scheduler, "wlc");
    assert_eq!(c.virtuals[1].scheduler, "sh");
    assert_eq!(
        c.warnings,
        [
            "t.cf:4:1: warning: checkinterval given again: this line overrides line 1",
            "t.cf:9:2: warning: scheduler given again: this line overrides line 6",
        ]
    );
}

/// `scheduler=rrr` loaded without a word and failed only when IPVS was programmed. The Perl
/// takes any `[a-z]+` on purpose (new kernels add schedulers), so a name outside IPVS's list
/// is a warning, not an error; the list's names load quietly.
#[test]
fn misspelt_scheduler_loaded_without_a_word() {
    let c = parse(&format!("{VIRTUAL}\tscheduler=rrr\n"));
    assert_eq!(c.virtuals[0].scheduler, "rrr");
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0].starts_with(
            "t.cf:3:12: warning: scheduler \"rrr\" is none of the IPVS schedulers rr wrr "
        ),
        "{:?}",
        c.warnings
    );
    for s in IPVS_SCHEDULERS {
        let c = parse(&format!("{VIRTUAL}\tscheduler=\"{s}\"\n"));
        assert!(c.warnings.is_empty(), "{s}: {:?}", c.warnings);
    }
    let e = parse_as("t.cf", &format!("{VIRTUAL}\tscheduler=Rr\n"))
        .err()
        .unwrap_or_default();
    assert!(e.contains("invalid scheduler"), "{e}");
}

/// `logfile="/etc/ha.d/ldirectord.cf"` in ldirectord.cf itself was accepted: every log line
/// would have been appended to the config. An error at the value, by any name of the file
/// (here a symlink); `monitorfile=` too.
#[test]
fn logfile_naming_the_config_itself_was_accepted() {
    let dir = std::env::temp_dir().join(format!("ldcfg-self-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let cfg = dir.join("self.cf");
    let link = dir.join("link.cf");
    let _ = std::fs::write(&cfg, "");
    let _ = std::fs::remove_file(&link);
    let _ = std::os::unix::fs::symlink(&cfg, &link);
    let file = cfg.to_string_lossy().into_owned();
    let e = parse_as(&file, &format!("logfile=\"{file}\"\n"))
        .err()
        .unwrap_or_default();
    assert_eq!(
        e.trim_end(),
        format!("{file}:1:9: error: logfile {file} is this config file: the log would be appended to it")
    );
    let e = parse_as(
        &file,
        &format!("{VIRTUAL}\tmonitorfile=\"{}\"\n", link.display()),
    )
    .err()
    .unwrap_or_default();
    assert!(
        e.starts_with(&format!("{file}:3:14: error: monitorfile ")),
        "{e}"
    );
    assert!(e.contains("is this config file"), "{e}");
    // Another file in the same directory is a log file as before.
    let other = dir.join("ld.log");
    let c = parse_as(&file, &format!("logfile=\"{}\"\n", other.display()));
    assert!(c.is_ok(), "{c:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
