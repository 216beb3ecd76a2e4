//! ldirectord.cf parser tests: the man page's grammar, Debian's example file, the original's
//! defaults and override rules, errors with file:line:col, and the parse bugs B3, B4, B11.

use std::net::IpAddr;

use super::config::*;
use super::resolve::Resolve;

/// Names used in the tests; no DNS. `sqlNN` map to 198.51.100.NN.
struct Fake;

impl Resolve for Fake {
    fn host(&self, host: &str, v6: bool) -> Option<IpAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return (ip.is_ipv6() == v6).then_some(ip);
        }
        if let Some(n) = host.strip_prefix("sql") {
            return format!("198.51.100.{}", n.parse::<u8>().ok()?).parse().ok();
        }
        match host {
            "web.example" if !v6 => "203.0.113.5".parse().ok(),
            _ => None,
        }
    }
    fn service(&self, name: &str, proto: &str) -> Option<u16> {
        if let Ok(n) = name.parse() {
            return Some(n);
        }
        super::resolve::services_lookup(
            "http 80/tcp www\nhttp 80/udp\ndomain 53/tcp\ndomain 53/udp\nmysql 3306/tcp\n",
            name,
            proto,
        )
    }
}

fn parse(text: &str) -> Result<Config, String> {
    super::config::parse("t.cf", text, &Fake).map_err(|e| e.to_string())
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

#[test]
fn debian_example_file_parses_with_its_values() {
    let text = include_str!("../../../tests/data/ldirectord/debian-example.cf");
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.globals.checkinterval, 1);
    assert_eq!(c.globals.checktimeout, Some(3));
    assert!(c.globals.autoreload);
    assert!(!c.globals.quiescent);
    assert_eq!(c.virtuals.len(), 1);
    let v = &c.virtuals[0];
    assert_eq!(v.addr, VirtualAddr::Inet(ip("192.168.6.240"), 80));
    assert_eq!(v.servicename.as_deref(), Some("Web Site"));
    assert_eq!(v.reals.len(), 3);
    assert_eq!(v.reals[2].addr, ip("192.168.6.6"));
    assert_eq!(v.reals[0].forward, Forward::Gate);
    assert_eq!(v.scheduler, "rr");
    assert_eq!(v.service, Service::Http);
    assert_eq!(v.request, "/index.html");
    assert_eq!(v.receive.as_ref().map(Receive::as_str), Some("Test Page"));
    assert_eq!(v.virtualhost.as_deref(), Some("www.x.y.z"));
    assert_eq!(v.checkport, Some(80));
    // checktimeout=3 globally: both timeouts take it.
    assert_eq!((v.checktimeout, v.negotiatetimeout), (3, 3));
    let fb = v.fallback.as_ref().map(|f| (f.addr, f.port, f.forward));
    assert_eq!(fb, Some((ip("127.0.0.1"), Some(80), Forward::Gate)));
}

/// Every commented-out sample of Debian's file, uncommented: all parse except the ones
/// this implementation refuses on purpose, each with its line.
#[test]
fn debian_example_samples_uncommented() {
    let text = include_str!("../../../tests/data/ldirectord/debian-example.cf");
    let mut out = String::new();
    for line in text.lines() {
        match line.strip_prefix('#') {
            Some(l) if l.starts_with("virtual") || l.starts_with('\t') => out.push_str(l),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    // The errors only: the samples repeat directives (warnings, printed with the errors).
    let err = super::config::parse("t.cf", &out, &Fake)
        .err()
        .map(|e| e.errors.to_string())
        .unwrap_or_default();
    for line in err.lines() {
        let known = line.contains("service=oracle")
            || line.contains("(wrong format)")
            || line.contains("ADDRESS[:PORT]")
            || line.contains("duplicate virtual server");
        assert!(known, "unexpected: {line}");
    }
    // The SIP sample's `real=192.168.6.2::5060` is refused with its line and column.
    assert!(
        err.contains("t.cf:319:7: error: invalid address for real server"),
        "{err}"
    );
    assert!(err.contains("service=oracle"), "{err}");
}

#[test]
fn timeouts_default_to_each_other_then_globals_then_5_and_30() {
    let c = parse("virtual=198.51.100.1:80\n\treal=198.51.100.2 gate\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (c.virtuals[0].checktimeout, c.virtuals[0].negotiatetimeout),
        (5, 30)
    );
    let c = parse("negotiatetimeout=7\nvirtual=198.51.100.1:80\n\treal=198.51.100.2 gate\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (c.virtuals[0].checktimeout, c.virtuals[0].negotiatetimeout),
        (7, 7)
    );
    let c = parse(
        "checktimeout=2\nnegotiatetimeout=9\nvirtual=198.51.100.1:80\n    checktimeout=4\n    real=198.51.100.2 gate\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (c.virtuals[0].checktimeout, c.virtuals[0].negotiatetimeout),
        (4, 4)
    );
}

/// A file that sets none of them gets the Perl code's defaults, not its man page's (which
/// says quiescent=yes, bug B7): a dead real is deleted, not left at weight 0.
#[test]
fn a_file_without_quiescent_left_dead_reals_at_weight_zero_as_the_perl_man_page_says() {
    let c = parse("virtual=198.51.100.1:80\n\treal=198.51.100.2 gate\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let (g, v) = (&c.globals, &c.virtuals[0]);
    assert!(!g.quiescent && !v.quiescent && !g.readdquiescent);
    assert_eq!((g.checkinterval, v.checkinterval), (10, 10));
    assert_eq!((v.failurecount, v.checkcount), (1, 1));
    assert!(v.cleanstop);
    assert_eq!(v.emailalertstatus, alert_status::ALL);
    assert_eq!((v.emailalert.as_deref(), v.smtp.as_deref()), (None, None));
    assert!(!g.autoreload && !g.fork && !g.supervised);
    assert_eq!(
        g.logfile,
        LogTarget::File(std::path::PathBuf::from("/var/log/ldirectord.log"))
    );
    assert_eq!(v.scheduler, "wrr");
    assert_eq!(v.checktype, CheckType::Negotiate);
}

#[test]
fn globals_after_a_block_still_apply_and_virtual_overrides() {
    let text = "virtual=198.51.100.1:80\n\treal=198.51.100.2 gate\n\tquiescent=yes\n\
                virtual=198.51.100.1:81\n\treal=198.51.100.2 gate\n\
                quiescent=no\nfailurecount=3\ncleanstop=no\n";
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.virtuals[0].quiescent);
    assert!(!c.virtuals[1].quiescent);
    assert_eq!(c.virtuals[1].failurecount, 3);
    assert!(!c.virtuals[0].cleanstop);
    // Port 81 implies no service: negotiate checks nothing (as the original).
    assert_eq!(c.virtuals[1].service, Service::None);
}

#[test]
fn virtual_forms_hostname_service_fwmark_ipv6() {
    let text = "virtual=web.example:www\n\treal=198.51.100.2:http masq 5\n\
                virtual=198.51.100.9:domain\n\treal=198.51.100.3 gate\n\tchecktype=connect\n\
                virtual=7\n\treal=198.51.100.4 ipip\n\
                virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::2]:8080 masq\n";
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.virtuals[0].addr, VirtualAddr::Inet(ip("203.0.113.5"), 80));
    assert_eq!(c.virtuals[0].reals[0].port, 80);
    assert_eq!(c.virtuals[0].reals[0].weight, 5);
    assert_eq!(c.virtuals[1].protocol, Protocol::Udp);
    assert_eq!(c.virtuals[1].service, Service::Dns);
    assert_eq!(c.virtuals[2].addr, VirtualAddr::Fwmark(7, false));
    assert_eq!(c.virtuals[2].protocol, Protocol::Fwm);
    assert_eq!(c.virtuals[2].service, Service::None);
    assert_eq!(c.virtuals[3].addr, VirtualAddr::Inet(ip("2001:db8::1"), 80));
    assert_eq!(c.virtuals[3].reals[0].addr, ip("2001:db8::2"));
    assert_eq!(c.virtuals[3].check_port(&c.virtuals[3].reals[0]), 8080);
}

#[test]
fn b3_per_real_request_receive_with_leading_slash_is_honoured() {
    let text =
        "virtual=198.51.100.1:80\n\treal=198.51.100.2:80 gate 2 \"/missing.html\", \"NOPE\"\n";
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    let r = &c.virtuals[0].reals[0];
    assert_eq!(r.request.as_deref(), Some("/missing.html"));
    assert_eq!(r.receive.as_ref().map(Receive::as_str), Some("NOPE"));
    assert_eq!(r.weight, 2);
}

#[test]
fn b4_thresholds_after_request_and_quoted_thresholds_are_kept() {
    let text = "virtual=198.51.100.1:80\n\treal=198.51.100.2:80 gate 1 \"/a\", \"b\" l:5 u:9\n\
                \treal=198.51.100.3:80 gate 1 \"l:2\" \"u:8\"\n";
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    let r = &c.virtuals[0].reals;
    assert_eq!((r[0].lower, r[0].upper), (5, 9));
    assert_eq!((r[1].lower, r[1].upper), (2, 8));
    assert_eq!(r[1].request, None);
}

#[test]
fn b11_range_across_decimal_length_boundary_expands() {
    // 5.245.224.250 -> 5.245.225.5 crosses 10^8 as an integer: the original expands nothing.
    let text = "virtual=198.51.100.1:80\n\treal=5.245.224.250->5.245.225.5:80 gate\n";
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    let r = &c.virtuals[0].reals;
    assert_eq!(r.len(), 12);
    assert_eq!(r[0].addr, ip("5.245.224.250"));
    assert_eq!(r[11].addr, ip("5.245.225.5"));
}

#[test]
fn ranges_of_host_names_expand() {
    let text = "virtual=198.51.100.1:3306\n\treal=sql01->sql03:3306 gate 10\n\tchecktype=connect\n";
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    let addrs: Vec<_> = c.virtuals[0].reals.iter().map(|r| r.addr).collect();
    assert_eq!(
        addrs,
        vec![ip("198.51.100.1"), ip("198.51.100.2"), ip("198.51.100.3")]
    );
    assert_eq!(c.virtuals[0].reals[0].weight, 10);
}

#[test]
fn checktype_words_and_numbers() {
    for (word, want) in [
        ("connect", CheckType::Connect),
        ("negotiate", CheckType::Negotiate),
        ("ping", CheckType::Ping),
        ("external-perl", CheckType::External),
        ("off", CheckType::Off),
        ("on", CheckType::On),
        ("3", CheckType::Combined(3)),
        ("checktimeout5", CheckType::Combined(5)),
    ] {
        let text =
            format!("virtual=198.51.100.1:80\n\treal=198.51.100.2 gate\n\tchecktype={word}\n");
        let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.virtuals[0].checktype, want, "{word}");
    }
    let e = parse("virtual=198.51.100.1:80\n\tchecktype=bogus\n")
        .err()
        .unwrap_or_default();
    assert!(e.starts_with("t.cf:2:12: error: checktype must be"), "{e}");
}

/// A logfile in a directory that does not exist was accepted by `-t` and `start`, and every
/// log line was then dropped; the original refuses it at load ("unable to open logfile",
/// exit 2). A facility name that syslog does not know was taken too.
#[test]
fn logfile_that_cannot_be_opened_was_accepted_and_every_line_dropped() {
    let e = parse(
        "logfile=\"/nonexistent-dir/ld.log\"\nvirtual=198.51.100.1:80\n\treal=198.51.100.2 gate\n",
    )
    .err()
    .unwrap_or_default();
    assert!(
        e.starts_with("t.cf:1:9: error: unable to open logfile /nonexistent-dir/ld.log: "),
        "{e}"
    );
    let e = parse("logfile=\"lokal0\"\n").err().unwrap_or_default();
    assert!(e.starts_with("t.cf:1:9: error: logfile: \"lokal0\""), "{e}");
    let dir = std::env::temp_dir().join(format!("ldlog-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("ld.log");
    let c = parse(&format!("logfile=\"{}\"\n", path.display())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.globals.logfile, LogTarget::File(path));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `scheduler="wrr"`, `service="http"` and `checktype="connect"` load in the Perl
/// ldirectord (its patterns are not anchored) and were refused here (exit 2).
#[test]
fn quoted_scheduler_service_and_checktype_were_refused() {
    let c = parse(
        "virtual=198.51.100.1:8080\n\treal=198.51.100.2 gate\n\tscheduler=\"wlc\"\n\
         \tservice=\"http\"\n\tchecktype=\"connect\"\n\
         virtual=198.51.100.1:81\n\treal=198.51.100.2 gate\n\tchecktype=\"3\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.virtuals[0].scheduler, "wlc");
    assert_eq!(c.virtuals[0].service, Service::Http);
    assert_eq!(c.virtuals[0].checktype, CheckType::Connect);
    assert_eq!(c.virtuals[1].checktype, CheckType::Combined(3));
    // A quoted word is still checked: junk stays an error.
    let e = parse("virtual=198.51.100.1:80\n\treal=198.51.100.2 gate\n\tscheduler=\"w r\"\n")
        .err()
        .unwrap_or_default();
    assert!(e.starts_with("t.cf:3:12: error: invalid scheduler"), "{e}");
}

#[test]
fn errors_carry_file_line_col_and_all_are_reported() {
    let text = "checkinterval=0\nfork=yes # comment is fine here\nbogus=1\n\
                virtual=198.51.100.1:80\n\treal=198.51.100.2 tunnel\n\tquiescent=maybe\n  indented=3\n";
    let e = parse(text).err().unwrap_or_default();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(
        lines,
        vec![
            "t.cf:1:15: error: invalid check interval: must be a positive number",
            "t.cf:3:1: error: Unknown command \"bogus=1\"",
            "t.cf:6:12: error: quiescent must be 'yes' or 'no'",
            "t.cf:7:1: error: indent the lines of a virtual block by a tab or 4 spaces; global lines start in column 1",
        ],
        "{e}"
    );
    // A bad real is reported when the block is resolved.
    let e = parse("virtual=198.51.100.1:80\n\treal=198.51.100.2 tunnel\n")
        .err()
        .unwrap_or_default();
    assert_eq!(
        e,
        "t.cf:2:7: error: forward method must be gate, masq or ipip"
    );
}

/// Mistakes a tired operator makes, each once misreported: a number too big for its field
/// was "not a number"; a line without `=` showed its name and value run together at the
/// value's column; a Latin-1 byte gave a message without line or column; a UTF-8 byte order
/// mark made line 1 an unknown command whose name looked right.
#[test]
fn operator_mistakes_were_reported_without_what_was_wrong_or_where() {
    let e = parse("checkinterval=99999999999\nvirtual=198.51.100.1:80\n\tpersistent=4294967296\n")
        .err()
        .unwrap_or_default();
    assert_eq!(
        e,
        "t.cf:1:15: error: invalid check interval: 99999999999 is too big (at most 4294967295)\n\
         t.cf:3:13: error: invalid persistent timeout: 4294967296 is too big (at most 4294967295)",
    );
    let e = parse("include /etc/ha.d/other.cf\nvirtual=198.51.100.1:80\n\tfoo bar\n")
        .err()
        .unwrap_or_default();
    assert_eq!(
        e,
        "t.cf:1:1: error: Unknown command \"include /etc/ha.d/other.cf\" (expected NAME=VALUE)\n\
         t.cf:3:2: error: Unknown command \"foo bar\" (expected NAME=VALUE)",
    );
    let e = parse("junk café\x1b[2J\n").err().unwrap_or_default();
    assert_eq!(
        e,
        "t.cf:1:1: error: Unknown command \"junk café\\u{1b}[2J\" (expected NAME=VALUE)"
    );
    let text_of = |b: &[u8]| super::config::text_of("t.cf", b.to_vec()).map_err(|e| e.to_string());
    assert_eq!(
        text_of(b"checkinterval=1\nvirtual=198.51.100.1:80\n\tcomment=\"caf\xe9\"\n"),
        Err("t.cf:3:14: error: byte 0xe9 is not UTF-8 text (save the file as UTF-8)".into())
    );
    // Columns count characters: the é before the bad byte is one.
    assert_eq!(
        text_of(
            "\tcomment=\"é"
                .as_bytes()
                .iter()
                .chain(b"\xff")
                .copied()
                .collect::<Vec<_>>()
                .as_slice()
        ),
        Err("t.cf:1:12: error: byte 0xff is not UTF-8 text (save the file as UTF-8)".into())
    );
    let bom = text_of(
        b"\xef\xbb\xbfcheckinterval=7\r\nvirtual=198.51.100.1:80\r\n\treal=198.51.100.2 gate\r\n",
    )
    .unwrap_or_default();
    let c = parse(&bom).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.globals.checkinterval, 7);
    assert_eq!(c.virtuals[0].reals.len(), 1);
}

/// Two gate (or ipip) reals on one address that differ only in their port are one IPVS
/// destination (the kernel forwards to the virtual's port): both were checked, and each
/// failure of one deleted the destination the other had added. The second is ignored with a
/// warning, as an exact duplicate is; masq reals on two ports stay two.
#[test]
fn gate_reals_differing_only_in_port_were_one_flapping_destination() {
    let c = parse(
        "virtual=198.51.100.1:80\n\treal=198.51.100.2:8080 gate\n\treal=198.51.100.2:8081 ipip\n\
         \treal=198.51.100.3:8080 masq\n\treal=198.51.100.3:8081 masq\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let reals: Vec<(IpAddr, u16)> = c.virtuals[0]
        .reals
        .iter()
        .map(|r| (r.addr, r.port))
        .collect();
    assert_eq!(
        reals,
        vec![
            (ip("198.51.100.2"), 8080),
            (ip("198.51.100.3"), 8080),
            (ip("198.51.100.3"), 8081)
        ]
    );
    assert_eq!(
        c.warnings,
        vec!["t.cf:3:7: warning: real server 198.51.100.2:8081 ignored: with ipip it is the same IPVS destination as 198.51.100.2:8080 (198.51.100.2:80) of line 2"]
    );
}

/// A fallback that is one of the virtual's reals is the same IPVS destination: turned on,
/// it gave the down real weight 1 again (`-e ... -g -w 1` over the quiescent masq entry),
/// turned off, it deleted that entry. It is dropped for that virtual with a warning; the
/// other virtuals keep it.
#[test]
fn a_fallback_that_is_one_of_the_reals_revived_the_down_real() {
    let c = parse(
        "fallback=198.51.100.2:8080\nvirtual=198.51.100.1:80\n\treal=198.51.100.2:8080 masq\n\tquiescent=yes\n\
         virtual=198.51.100.1:81\n\treal=198.51.100.3:8080 masq\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.virtuals[0].fallback, None);
    assert!(c.virtuals[1].fallback.is_some());
    assert_eq!(
        c.warnings,
        vec!["t.cf:2:1: warning: fallback 198.51.100.2:8080 is a real server of this virtual: no fallback for it"]
    );
}

/// A receive pattern the regex engine rejects was accepted, and every check of the virtual
/// then marked its real down ("invalid receive regex") and deleted it from the table. It is a
/// config error at its line now, whether on `receive=` or in a real's quoted pair, and a
/// reload with it keeps the running config.
#[test]
fn invalid_receive_regex_was_accepted_and_every_real_marked_down() {
    let e = parse("virtual=198.51.100.1:80\n\treal=198.51.100.2 gate\n\treceive=\"OK(\"\n")
        .err()
        .unwrap_or_default();
    assert!(
        e.starts_with("t.cf:3:10: error: receive: invalid regular expression \"OK(\""),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    let e = parse("virtual=198.51.100.1:80\n\treal=198.51.100.2:80 gate 2 \"/\", \"[a-\"\n")
        .err()
        .unwrap_or_default();
    assert!(
        e.starts_with("t.cf:2:") && e.contains("invalid regular expression \"[a-\""),
        "{e}"
    );
    // What the engine accepts is compiled once and matched as before.
    let c = parse("virtual=198.51.100.1:80\n\treal=198.51.100.2 gate\n\treceive=\"^HTTP.*OK$\"\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let rc = c.virtuals[0]
        .receive
        .as_ref()
        .map(|r| r.is_match("HTTP/1.0 200 OK"));
    assert_eq!(rc, Some(true));
}

#[test]
fn deprecated_and_refused_directives() {
    let e = parse("connecttimeout=3\ntimeout=3\n")
        .err()
        .unwrap_or_default();
    assert!(
        e.contains("t.cf:1:16: error: connecttimeout is deprecated"),
        "{e}"
    );
    assert!(e.contains("t.cf:2:9: error: timeout is deprecated"), "{e}");
    let c = parse("checkcount=3\n").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.globals.checkcount, 3);
    assert!(c.warnings[0].contains("deprecated"));
}

#[test]
fn oracle_and_unknown_services_are_refused_at_load() {
    let e = parse("virtual=198.51.100.1:1521\n\treal=198.51.100.2 gate\n")
        .err()
        .unwrap_or_default();
    assert!(e.starts_with("t.cf:1:1: error: service=oracle: "), "{e}");
    let e = parse("virtual=198.51.100.1:80\n\tservice=gopher\n")
        .err()
        .unwrap_or_default();
    assert!(e.starts_with("t.cf:2:10: error: service must be"), "{e}");
    // With checktype=connect the service is never spoken: accepted.
    let c = parse("virtual=198.51.100.1:1521\n\treal=198.51.100.2 gate\n\tchecktype=connect\n");
    assert!(c.is_ok());
}

#[test]
fn blank_line_inside_a_block_does_not_end_it_and_hash_in_quotes_is_kept() {
    let text = "virtual=198.51.100.1:80\n\treal=198.51.100.2 gate\n\n\treceive=\"O#K\" # why\n";
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.virtuals[0].receive.as_ref().map(Receive::as_str),
        Some("O#K")
    );
}

#[test]
fn global_values_and_email_status() {
    let text = "emailalert=\"a@b.example, c@d.example\"\nemailalertfreq=60\n\
                emailalertstatus=starting, stopping\nemailalertfrom=ld@x.example\nsmtp=198.51.100.25\n\
                logfile=\"local0\"\nsupervised\nexecute=other.cf\nmaintenancedir=/nonexistent-dir\n\
                fallback=198.51.100.99:80 masq\ncallback=\"/bin/echo\"\nreaddquiescent=yes\n";
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    let g = &c.globals;
    assert_eq!(g.emailalert.as_deref(), Some("a@b.example, c@d.example"));
    assert_eq!(g.emailalertfreq, 60);
    assert_eq!(
        g.emailalertstatus,
        alert_status::STARTING | alert_status::STOPPING
    );
    assert_eq!(g.smtp.as_deref(), Some("198.51.100.25"));
    assert_eq!(g.logfile, LogTarget::Syslog("local0".into()));
    assert!(g.supervised && g.readdquiescent);
    assert_eq!(g.execute, vec!["other.cf".to_string()]);
    assert_eq!(g.fallback.as_ref().map(|f| f.forward), Some(Forward::Masq));
    assert_eq!(g.callback.as_deref(), Some("/bin/echo"));
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    let e = parse("emailalertstatus=none,running\n")
        .err()
        .unwrap_or_default();
    assert!(e.contains("with \"none\""), "{e}");
}

#[test]
fn ftp_and_sip_login_defaults() {
    let text = "virtual=198.51.100.1:21\n\treal=198.51.100.2 gate\n\tchecktype=connect\n";
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.virtuals[0].login, "anonymous");
    assert!(c.virtuals[0].passwd.starts_with("ldirectord@"));
}

#[test]
fn family_mismatches_are_errors() {
    let e = parse("virtual=[2001:db8::1]:80\n")
        .err()
        .unwrap_or_default();
    assert!(e.contains("use \"virtual6\""), "{e}");
    let e = parse("virtual=198.51.100.1:80\n\treal6=[2001:db8::2] gate\n")
        .err()
        .unwrap_or_default();
    assert!(e.contains("use \"real\""), "{e}");
    let e = parse("virtual=198.51.100.1:80\n\tvirtual=1\n")
        .err()
        .unwrap_or_default();
    assert!(e.contains("Unknown command"), "{e}");
}

#[test]
fn garbage_never_panics() {
    let samples = [
        "",
        "=",
        "virtual=",
        "virtual=[",
        "virtual=[::1",
        "\treal=",
        "virtual=1:2\n\treal=[->",
        "virtual=1.2.3.4:80\n\treal=1.2.3.4->",
        "virtual=1.2.3.4:80\n\treal=a:\u{e9} gate",
        "virtual=99999999999",
        "virtual6=1\n\tnetmask=999",
        "\u{0}\u{1}=\u{ff}",
        "virtual=1.2.3.4:80\n\treal=1.2.3.4 gate 99999999999999",
        "virtual=1.2.3.4:80\n\treal=1.2.3.4 gate \"a",
    ];
    for s in samples {
        let _ = parse(s);
    }
}

#[test]
fn b16_man_page_checktype_form_and_undocumented_schedflags_and_load_are_accepted() {
    // ldirectord(8) spells the combined check `checktype=checktimeoutN` (it means N connects,
    // then one negotiate); the code also takes a bare N. schedflags (ipvsadm -b) and load
    // ("parsed, never used") are in the code only; files using them load here too.
    let text = "virtual=198.51.100.1:80\n\treal=198.51.100.2 gate\n\tchecktype=checktimeout4\n\
                \tschedflags=sh-fallback,sh-port\n\tload=\"anything\"\n\
                virtual=198.51.100.1:81\n\treal=198.51.100.2 gate\n\tchecktype=4\n";
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.virtuals[0].checktype, CheckType::Combined(4));
    assert_eq!(c.virtuals[1].checktype, CheckType::Combined(4));
    assert_eq!(
        c.virtuals[0].schedflags.as_deref(),
        Some("sh-fallback,sh-port")
    );
    let flags = super::core::service_of(&c.virtuals[0]).flags;
    use crate::wire::ipvs::{SVC_F_SCHED1, SVC_F_SCHED2};
    assert_eq!(
        flags & (SVC_F_SCHED1 | SVC_F_SCHED2),
        SVC_F_SCHED1 | SVC_F_SCHED2
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

/// Issue 16 item 8: the core parsed the netmask text again with a silent default
/// (`unwrap_or(128)`) and dropped unknown schedflags without a word. Both are typed when read:
/// the netmask reaches IPVS as read, and an unknown flag is an error at its position.
#[test]
fn netmask_and_schedflags_are_typed_when_read() {
    let text = "virtual=198.51.100.1:80\n\treal=198.51.100.2 gate\n\tpersistent=300\n\
                \tnetmask=255.255.255.0\n\tschedflags=mh-port\n\
                virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::2] gate\n\tpersistent=300\n\tnetmask=64\n";
    let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
    let s = super::core::service_of(&c.virtuals[0]);
    assert_eq!(s.netmask, 0xffff_ff00);
    assert_eq!(
        s.flags & crate::wire::ipvs::SVC_F_SCHED2,
        crate::wire::ipvs::SVC_F_SCHED2
    );
    assert_eq!(super::core::service_of(&c.virtuals[1]).netmask, 64);
    let e =
        parse("virtual=198.51.100.1:80\n\treal=198.51.100.2 gate\n\tschedflags=sh-port,sh-bogus\n")
            .err()
            .unwrap_or_default();
    assert!(
        e.contains("t.cf:3:") && e.contains("invalid schedflags: \"sh-bogus\""),
        "{e}"
    );
    let e = parse("virtual=198.51.100.1:80\n\treal=198.51.100.2 gate\n\tnetmask=24\n")
        .err()
        .unwrap_or_default();
    assert!(e.contains("dotted quad"), "{e}");
}
