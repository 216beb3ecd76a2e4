//! The check scheduler without sockets or sleeps: failurecount, quiescent, fallback,
//! fallbackcommand, maintenance, combined checks, clean stop, e-mail resend, and the Perl
//! bugs B2/B5/B6/B14 that live here. Reloads are in `reload_tests.rs`, the deadline
//! simulation in `deadline_tests.rs`; both use the helpers below.

#[path = "deadline_tests.rs"]
mod deadline;
#[path = "reload_tests.rs"]
mod reload;

use std::time::Duration;

use super::*;
use crate::applets::ldirectord::config::parse;
use crate::applets::ldirectord::resolve::SystemResolver;
use crate::wire::ipvs::Service;

fn cfg(text: &str) -> Config {
    parse("t.cf", text, &SystemResolver).unwrap_or_else(|e| panic!("{e}"))
}

const TWO: &str = "checkinterval=2\nvirtual=198.51.100.10:80\n\treal=198.51.100.21:80 masq 3\n\treal=198.51.100.22:80 masq 1\n";

fn id(virt: usize, real: usize) -> RealId {
    RealId { virt, real }
}

fn ops(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Ipvs(IpvsOp::AddService(s)) => Some(format!("A {}", s.key)),
            Action::Ipvs(IpvsOp::EditService(s)) => Some(format!("E {}", s.key)),
            Action::Ipvs(IpvsOp::DelService(s)) => Some(format!("D {}", s.key)),
            Action::Ipvs(IpvsOp::AddDest(_, d)) => Some(format!("a {} w{}", d.addr, d.weight)),
            Action::Ipvs(IpvsOp::EditDest(_, d)) => Some(format!("e {} w{}", d.addr, d.weight)),
            Action::Ipvs(IpvsOp::DelDest(_, d)) => Some(format!("d {}", d.addr)),
            Action::FallbackCommand { start, .. } => Some(format!("cmd {start}")),
            Action::Alert { subject, .. } => Some(format!("mail {subject}")),
            _ => None,
        })
        .collect()
}

fn up() -> Outcome {
    Outcome::Up("200 OK".into())
}

fn down() -> Outcome {
    Outcome::Down("refused".into())
}

#[test]
fn b5_start_adds_the_service_but_no_unchecked_real() {
    let t0 = Instant::now();
    let (mut core, actions) = Core::new(cfg(TWO), &[], t0);
    assert_eq!(ops(&actions), vec!["A -t 198.51.100.10:80"]);
    let started = core.handle(t0, Input::Tick);
    assert_eq!(
        started,
        vec![
            Action::Start(id(0, 0), Probe::Negotiate),
            Action::Start(id(0, 1), Probe::Negotiate)
        ]
    );
    // A dead real is never added, not even for a moment.
    assert!(ops(&core.handle(t0, Input::Done(id(0, 0), down()))).is_empty());
    assert_eq!(
        ops(&core.handle(t0, Input::Done(id(0, 1), up()))),
        vec!["a 198.51.100.22 w1"]
    );
}

/// The kernel table of TWO's service: its first real up at weight 3, and 198.51.100.99:80,
/// which the config does not name.
fn with_a_stray(c: &Config) -> Vec<(Service, Vec<Dest>)> {
    let svc = service_of(&c.virtuals[0]);
    let d1 = dest_of(&c.virtuals[0], &c.virtuals[0].reals[0], 3);
    let stray = Dest {
        addr: "198.51.100.99".parse().unwrap_or(d1.addr),
        ..d1.clone()
    };
    vec![(svc, vec![d1, stray])]
}

#[test]
fn reals_already_in_the_kernel_stay_until_checked() {
    let t0 = Instant::now();
    let c = cfg(TWO);
    let table = with_a_stray(&c);
    let (mut core, actions) = Core::new(c, &table, t0);
    // Service identical: nothing to edit; the stray destination is removed.
    assert_eq!(ops(&actions), vec!["d 198.51.100.99"]);
    core.handle(t0, Input::Tick);
    // Up already: a success changes nothing; a failure removes it.
    assert!(ops(&core.handle(t0, Input::Done(id(0, 0), up()))).is_empty());
    let t1 = t0 + Duration::from_secs(2);
    core.handle(t1, Input::Tick);
    assert_eq!(
        ops(&core.handle(t1, Input::Done(id(0, 0), down()))),
        vec!["d 198.51.100.21"]
    );
}

#[test]
fn failurecount_needs_consecutive_failures_and_success_resets() {
    let text = format!("failurecount=3\n{TWO}");
    let mut t = Instant::now();
    let (mut core, _) = Core::new(cfg(&text), &[], t);
    core.handle(t, Input::Tick);
    assert_eq!(
        ops(&core.handle(t, Input::Done(id(0, 0), up()))),
        vec!["a 198.51.100.21 w3"]
    );
    let mut step = |core: &mut Core, o: Outcome| {
        t += Duration::from_secs(2);
        core.handle(t, Input::Tick);
        ops(&core.handle(t, Input::Done(id(0, 0), o)))
    };
    assert!(step(&mut core, down()).is_empty());
    assert!(step(&mut core, down()).is_empty());
    assert!(step(&mut core, up()).is_empty(), "success resets the count");
    assert!(step(&mut core, down()).is_empty());
    assert!(step(&mut core, down()).is_empty());
    assert_eq!(step(&mut core, down()), vec!["d 198.51.100.21"]);
}

#[test]
fn quiescent_sets_weight_zero_and_restores() {
    let text = format!("quiescent=yes\n{TWO}");
    let mut t = Instant::now();
    let (mut core, _) = Core::new(cfg(&text), &[], t);
    core.handle(t, Input::Tick);
    // First result down: in the table at weight 0 (never at full weight).
    assert_eq!(
        ops(&core.handle(t, Input::Done(id(0, 0), down()))),
        vec!["a 198.51.100.21 w0"]
    );
    t += Duration::from_secs(2);
    core.handle(t, Input::Tick);
    assert_eq!(
        ops(&core.handle(t, Input::Done(id(0, 0), up()))),
        vec!["e 198.51.100.21 w3"]
    );
    t += Duration::from_secs(2);
    core.handle(t, Input::Tick);
    assert_eq!(
        ops(&core.handle(t, Input::Done(id(0, 0), down()))),
        vec!["e 198.51.100.21 w0"]
    );
}

/// A virtual without reals (all commented out for maintenance, or added by a reload) never
/// got its fallback server nor its fallbackcommand: both were only looked at on a check's
/// result. The original turns them on at start.
#[test]
fn a_virtual_without_reals_never_got_its_fallback() {
    let text = "fallbackcommand=/bin/fb\nfallback=198.51.100.99:8080\n\
                virtual=198.51.100.10:80\n\tservice=http\n\
                virtual=198.51.100.11:80\n\treal=198.51.100.21:80 masq\n";
    let t0 = Instant::now();
    let (mut core, actions) = Core::new(cfg(text), &[], t0);
    assert_eq!(
        ops(&actions),
        vec![
            "A -t 198.51.100.10:80",
            "a 198.51.100.99 w1",
            "cmd true",
            "A -t 198.51.100.11:80"
        ]
    );
    // Added by a reload: the same.
    let more = format!("{text}virtual=198.51.100.12:80\n\tservice=http\n");
    assert_eq!(
        ops(&core.reload(cfg(&more), t0)),
        vec!["A -t 198.51.100.12:80", "a 198.51.100.99 w1", "cmd true"]
    );
}

#[test]
fn b6_fallback_and_fallbackcommand_fire_once_without_flapping() {
    let text = "fallbackcommand=/bin/fb\nvirtual=198.51.100.10:80\n\tfallback=198.51.100.99:8080\n\
                \treal=198.51.100.21:80 masq\n\treal=198.51.100.22:80 masq\n\treal=198.51.100.23:80 masq\n";
    let mut t = Instant::now();
    let (mut core, _) = Core::new(cfg(text), &[], t);
    core.handle(t, Input::Tick);
    let mut all = Vec::new();
    for r in 0..3 {
        all.extend(ops(&core.handle(t, Input::Done(id(0, r), down()))));
    }
    assert_eq!(all, vec!["a 198.51.100.99 w1", "cmd true"]);
    t += Duration::from_secs(10);
    core.handle(t, Input::Tick);
    let got = ops(&core.handle(t, Input::Done(id(0, 1), up())));
    assert_eq!(
        got,
        vec!["a 198.51.100.22 w1", "d 198.51.100.99", "cmd false"]
    );
    assert!(ops(&core.handle(t, Input::Done(id(0, 0), down()))).is_empty());
}

#[test]
fn maintenance_forces_down_without_failurecount() {
    let text = format!("failurecount=5\n{TWO}");
    let mut t = Instant::now();
    let (mut core, _) = Core::new(cfg(&text), &[], t);
    core.handle(t, Input::Tick);
    core.handle(t, Input::Done(id(0, 0), up()));
    t += Duration::from_secs(2);
    core.handle(t, Input::Tick);
    let got = core.handle(t, Input::Done(id(0, 0), Outcome::Maintenance));
    assert_eq!(ops(&got), vec!["d 198.51.100.21"]);
}

#[test]
fn combined_checktype_negotiates_first_then_every_nth() {
    let text = "virtual=198.51.100.10:80\n\tchecktype=2\n\tcheckinterval=1\n\treal=198.51.100.21:80 masq\n";
    let mut t = Instant::now();
    let (mut core, _) = Core::new(cfg(text), &[], t);
    let mut probes = Vec::new();
    let results = [up(), up(), up(), down(), up(), up()];
    for o in results {
        let started = core.handle(t, Input::Tick);
        if let Some(Action::Start(_, p)) = started.first() {
            probes.push(*p);
        }
        core.handle(t, Input::Done(id(0, 0), o));
        t += Duration::from_secs(1);
    }
    use Probe::*;
    assert_eq!(
        probes,
        vec![Negotiate, Connect, Connect, Negotiate, Negotiate, Connect]
    );
}

#[test]
fn b14_a_slow_check_delays_nobody() {
    let t0 = Instant::now();
    let (mut core, _) = Core::new(cfg(TWO), &[], t0);
    core.handle(t0, Input::Tick);
    // Real 0 hangs; real 1 answers at once and is due again after checkinterval (2 s).
    core.handle(t0, Input::Done(id(0, 1), up()));
    assert_eq!(core.next_deadline(), Some(t0 + Duration::from_secs(2)));
    let t2 = t0 + Duration::from_secs(2);
    assert_eq!(
        core.handle(t2, Input::Tick),
        vec![Action::Start(id(0, 1), Probe::Negotiate)]
    );
    assert!(core.is_running(id(0, 0)));
}

#[test]
fn cleanstop_removes_only_the_virtuals_that_ask() {
    let text = "virtual=198.51.100.10:80\n\treal=198.51.100.21:80 masq\n\
                virtual=198.51.100.11:80\n\tcleanstop=no\n\treal=198.51.100.21:80 masq\n";
    let (mut core, _) = Core::new(cfg(text), &[], Instant::now());
    assert_eq!(ops(&core.stop()), vec!["D -t 198.51.100.10:80"]);
}

/// The stop names each real it takes out that was up (a quiesced one, at weight 0, is not),
/// then the virtual, in one mail per virtual; emailalertstatus without `stopping` sends none.
#[test]
fn a_stop_lists_the_reals_up_in_one_mail_per_virtual() {
    let t0 = Instant::now();
    let text = format!(
        "quiescent=yes\nemailalert=ops@example.org\n{TWO}\tservicename=Web\n\
         virtual=198.51.100.11:80\n\temailalertstatus=running\n\treal=198.51.100.23:80 masq\n"
    );
    let (mut core, _) = Core::new(cfg(&text), &[], t0);
    core.handle(t0, Input::Tick);
    core.handle(t0, Input::Done(id(0, 0), up()));
    core.handle(t0, Input::Done(id(0, 1), down()));
    core.handle(t0, Input::Done(id(1, 0), up()));
    let got = core.stop();
    assert_eq!(
        ops(&got),
        vec![
            "D -t 198.51.100.10:80",
            "mail [Web] Purged virtual server (stop): tcp:198.51.100.10:80",
            "D -t 198.51.100.11:80",
        ]
    );
    let log = got.iter().find_map(|a| match a {
        Action::Alert {
            log,
            status: DaemonStatus::Stopping,
            ..
        } => Some(log.clone()),
        _ => None,
    });
    assert_eq!(
        log,
        Some(vec![
            "Purged real server (stop): 198.51.100.21:80 (tcp:198.51.100.10:80)".to_string(),
            "Purged virtual server (stop): tcp:198.51.100.10:80".to_string(),
        ])
    );
}

#[test]
fn email_alerts_respect_status_and_resend_frequency() {
    let text = format!(
        "emailalert=ops@example.org\nemailalertfreq=60\nemailalertstatus=running\n{}\tservicename=Web\n",
        TWO
    );
    let t0 = Instant::now();
    let (mut core, _) = Core::new(cfg(&text), &[], t0);
    core.handle(t0, Input::Tick);
    // The first round is `starting`: its additions send nothing with `running` only.
    let got = ops(&core.handle(t0, Input::Done(id(0, 0), up())));
    assert_eq!(got, vec!["a 198.51.100.21 w3"]);
    let got = ops(&core.handle(t0, Input::Done(id(0, 1), down())));
    assert!(!got.iter().any(|o| o.starts_with("mail")), "{got:?}");
    assert_eq!(core.status(), DaemonStatus::Running);
    let t2 = t0 + Duration::from_secs(2);
    core.handle(t2, Input::Tick);
    let got = ops(&core.handle(t2, Input::Done(id(0, 1), up())));
    assert_eq!(
        got[1],
        "mail [Web] Added real server: 198.51.100.22:80 (tcp:198.51.100.10:80)"
    );
    let got = ops(&core.handle(t2, Input::Done(id(0, 0), down())));
    assert_eq!(
        got[1],
        "mail [Web] Deleted real server: 198.51.100.21:80 (tcp:198.51.100.10:80) (refused)"
    );
    let t62 = t2 + Duration::from_secs(60);
    let got = ops(&core.handle(t62, Input::Tick));
    assert_eq!(
        got,
        vec!["mail [Web] Inaccessible real server: 198.51.100.21:80 (tcp:198.51.100.10:80)"]
    );
    // Stopping is not in emailalertstatus: no mail.
    assert_eq!(ops(&core.stop()), vec!["D -t 198.51.100.10:80"]);
}

#[test]
fn checktype_on_adds_without_probing_and_off_never_adds() {
    let text = "virtual=198.51.100.10:80\n\tchecktype=on\n\treal=198.51.100.21:80 masq\n\
                virtual=198.51.100.11:80\n\tchecktype=off\n\treal=198.51.100.21:80 masq\n";
    let t0 = Instant::now();
    let (mut core, _) = Core::new(cfg(text), &[], t0);
    let got = core.handle(t0, Input::Tick);
    assert_eq!(ops(&got), vec!["a 198.51.100.21 w1"]);
    assert!(!got.iter().any(|a| matches!(a, Action::Start(..))));
}

/// checktype=off: its reals were never probed, so they stayed "not checked yet", and the
/// fallback waits for every real's first result: the fallback server and fallbackcommand
/// never came on. Off reals are down at once now (the original's start-up leaves them
/// down), one already in the table is deleted, and the fallback follows.
#[test]
fn checktype_off_never_turned_the_fallback_on() {
    let text = "fallbackcommand=/bin/fb\nvirtual=198.51.100.10:80\n\tchecktype=off\n\
                \tfallback=198.51.100.99:8080\n\treal=198.51.100.21:80 masq\n\treal=198.51.100.22:80 masq\n";
    let c = cfg(text);
    let v = &c.virtuals[0];
    let table = vec![(service_of(v), vec![dest_of(v, &v.reals[1], 1)])];
    let t0 = Instant::now();
    let (mut core, _) = Core::new(c, &table, t0);
    assert_eq!(core.next_deadline(), Some(t0));
    let got = core.handle(t0, Input::Tick);
    assert!(!got.iter().any(|a| matches!(a, Action::Start(..))));
    assert_eq!(
        ops(&got),
        vec!["d 198.51.100.22", "a 198.51.100.99 w1", "cmd true"]
    );
    // Once down, nothing more is due and nothing flaps.
    assert_eq!(core.next_deadline(), None);
    assert!(ops(&core.handle(t0 + Duration::from_secs(60), Input::Tick)).is_empty());
}

#[test]
fn udp_connect_is_a_ping_and_gate_uses_the_virtual_port() {
    let text = "virtual=198.51.100.10:53\n\tchecktype=connect\n\treal=198.51.100.21:5353 gate\n";
    let c = cfg(text);
    assert_eq!(dest_of(&c.virtuals[0], &c.virtuals[0].reals[0], 1).port, 53);
    let t0 = Instant::now();
    let (mut core, _) = Core::new(c, &[], t0);
    assert_eq!(
        core.handle(t0, Input::Tick),
        vec![Action::Start(id(0, 0), Probe::Ping)]
    );
}

#[test]
fn monitor_lines_for_every_result() {
    let text =
        "virtual=198.51.100.10:80\n\tmonitorfile=\"/dev/null\"\n\treal=198.51.100.21:80 masq\n";
    let t0 = Instant::now();
    let (mut core, _) = Core::new(cfg(text), &[], t0);
    core.handle(t0, Input::Tick);
    let got = core.handle(t0, Input::Done(id(0, 0), down()));
    assert_eq!(
        got,
        vec![Action::Monitor {
            id: id(0, 0),
            up: false,
            message: "refused".into()
        }]
    );
}

#[test]
fn server_text_reaches_monitor_and_alert_capped_and_escaped() {
    let text = "emailalert=\"ops@example.org\"\nvirtual=198.51.100.10:80\n\tmonitorfile=\"/dev/null\"\n\treal=198.51.100.21:80 masq\n";
    let t0 = Instant::now();
    let (mut core, _) = Core::new(cfg(text), &[], t0);
    core.handle(t0, Input::Tick);
    core.handle(t0, Input::Done(id(0, 0), up()));
    let t1 = t0 + Duration::from_secs(10);
    core.handle(t1, Input::Tick);
    let evil = format!("HTTP/1.0 500 x\nForged line\r\x1b[2J{}", "A".repeat(5000));
    let got = core.handle(t1, Input::Done(id(0, 0), Outcome::Down(evil)));
    let texts: Vec<&String> = got
        .iter()
        .filter_map(|a| match a {
            Action::Monitor { message, .. } => Some(message),
            Action::Alert { subject, .. } => Some(subject),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 2, "{got:?}");
    for t in texts {
        assert!(t.contains("HTTP/1.0 500 x\\nForged line\\r\\x1b[2J"), "{t}");
        assert!(!t.chars().any(char::is_control), "{t}");
        assert!(t.len() < 300, "{}", t.len());
    }
}

#[test]
fn b7_quiescent_defaults_to_no_as_the_code_does_and_usage_says_so() {
    // The Perl man page says yes, its code says no; ours follows the code, and says so.
    let c = cfg(TWO);
    assert!(!c.globals.quiescent && !c.virtuals[0].quiescent);
    let t0 = Instant::now();
    let (mut core, _) = Core::new(c, &[], t0);
    core.handle(t0, Input::Tick);
    core.handle(t0, Input::Done(id(0, 0), up()));
    let t2 = t0 + Duration::from_secs(2);
    core.handle(t2, Input::Tick);
    assert_eq!(
        ops(&core.handle(t2, Input::Done(id(0, 0), down()))),
        vec!["d 198.51.100.21"],
        "a down real is deleted, not set to weight 0"
    );
    let usage = crate::applets::ldirectord::cli::USAGE;
    assert!(usage.contains("quiescent defaults to no"), "{usage}");
    let readme = include_str!("../../../../README.md");
    assert!(readme.contains("`quiescent` defaults to **no**"));
}

#[test]
fn b9_repeated_timeouts_remove_the_real_once() {
    let text = format!("emailalert=ops@example.org\n{TWO}");
    let mut t = Instant::now();
    let (mut core, _) = Core::new(cfg(&text), &[], t);
    core.handle(t, Input::Tick);
    core.handle(t, Input::Done(id(0, 0), up()));
    let mut all = Vec::new();
    for _ in 0..4 {
        t += Duration::from_secs(2);
        core.handle(t, Input::Tick);
        let timeout = Outcome::Down("timed out after 1 s".into());
        all.extend(ops(&core.handle(t, Input::Done(id(0, 0), timeout))));
    }
    assert_eq!(
        all,
        vec![
            "d 198.51.100.21",
            "mail Deleted real server: 198.51.100.21:80 (tcp:198.51.100.10:80) (timed out after 1 s)"
        ]
    );
}

#[test]
fn b15_ipvs_work_per_check_does_not_grow_with_the_number_of_reals() {
    // The original lists the whole IPVS table and scans every real to change one (O(N) per
    // check, O(N²) at start). Here the table is read once, by the shell, before `Core::new`;
    // the core never asks for it again, and a result costs at most one IPVS change whatever
    // N is. (Comparisons of deadlines are not counted: that would need timing.)
    for n in [10u32, 1000] {
        let mut text = String::from("checkinterval=2\nvirtual=198.51.100.10:80\n");
        text.push_str(&format!(
            "\treal=198.18.0.1->198.18.{}.{}:80 masq\n",
            n / 256,
            n % 256
        ));
        let c = cfg(&text);
        assert_eq!(c.virtuals[0].reals.len(), n as usize);
        let t0 = Instant::now();
        let (mut core, actions) = Core::new(c, &[], t0);
        assert_eq!(ops(&actions), vec!["A -t 198.51.100.10:80"], "n={n}");
        let started = core.handle(t0, Input::Tick);
        assert_eq!(started.len(), n as usize);
        for r in 0..n as usize {
            let got = core.handle(t0, Input::Done(id(0, r), up()));
            assert_eq!(got.len(), 1, "n={n} real {r}: {got:?}");
        }
        // Steady state: a success of an up real, and a failure after it, one change at most.
        let t2 = t0 + Duration::from_secs(2);
        assert_eq!(core.handle(t2, Input::Tick).len(), n as usize);
        assert!(core.handle(t2, Input::Done(id(0, 7), up())).is_empty());
        assert_eq!(core.handle(t2, Input::Done(id(0, 8), down())).len(), 1);
    }
}

/// The original checks every real once in ld_start, as `starting`, before it says `running`;
/// a reload's first results are `reloading`. Here the status was `running` before any check
/// had answered: `emailalertstatus=starting` never sent a mail, and `=running` (chosen to
/// keep the start-up's mails out) got every one of them.
#[test]
fn start_up_alerts_went_out_as_running_and_emailalertstatus_starting_sent_nothing() {
    let text = format!("emailalert=ops@example.org\nemailalertstatus=starting\n{TWO}");
    let t0 = Instant::now();
    let (mut core, _) = Core::new(cfg(&text), &[], t0);
    assert_eq!(core.status(), DaemonStatus::Starting);
    core.handle(t0, Input::Tick);
    let got = ops(&core.handle(t0, Input::Done(id(0, 0), up())));
    assert_eq!(
        got,
        vec![
            "a 198.51.100.21 w3",
            "mail Added real server: 198.51.100.21:80 (tcp:198.51.100.10:80)"
        ]
    );
    assert_eq!(core.status(), DaemonStatus::Starting);
    let got = ops(&core.handle(t0, Input::Done(id(0, 1), up())));
    assert_eq!(
        got[1],
        "mail Added real server: 198.51.100.22:80 (tcp:198.51.100.10:80)"
    );
    // Every real judged: running, and a later change sends nothing with `starting` only.
    assert_eq!(core.status(), DaemonStatus::Running);
    let t2 = t0 + Duration::from_secs(2);
    core.handle(t2, Input::Tick);
    let got = ops(&core.handle(t2, Input::Done(id(0, 0), down())));
    assert!(!got.iter().any(|o| o.starts_with("mail")), "{got:?}");
    // A reload that adds a real is `reloading` until that real's first result.
    let more = format!("{text}\treal=198.51.100.23:80 masq\n").replace("starting", "reloading");
    let t3 = t2 + Duration::from_secs(1);
    core.reload(cfg(&more), t3);
    assert_eq!(core.status(), DaemonStatus::Reloading);
    core.handle(t3, Input::Tick);
    let got = ops(&core.handle(t3, Input::Done(id(0, 2), up())));
    assert_eq!(
        got.get(1).map(String::as_str),
        Some("mail Added real server: 198.51.100.23:80 (tcp:198.51.100.10:80)"),
        "{got:?}"
    );
    assert_eq!(core.status(), DaemonStatus::Running);
}

/// A virtual with no real (or only checktype=on/off ones) has no check to wait for.
#[test]
fn a_config_without_checks_is_running_once_its_reals_are_set() {
    let (core, _) = Core::new(cfg("virtual=198.51.100.10:80\n"), &[], Instant::now());
    assert_eq!(core.status(), DaemonStatus::Running);
    let text = "virtual=198.51.100.10:80\n\tchecktype=off\n\treal=198.51.100.21:80 masq\n";
    let t0 = Instant::now();
    let (mut core, _) = Core::new(cfg(text), &[], t0);
    assert_eq!(core.status(), DaemonStatus::Starting);
    core.handle(t0, Input::Tick);
    assert_eq!(core.status(), DaemonStatus::Running);
}

/// A real the kernel table held but the config does not name went without a word at start,
/// and a real a reload dropped went the same way: the original logs and mails `Purged real
/// server (start|reload): RIP:PORT (VIRTUAL)` (`purge_untracked_service`), and logs `Added
/// virtual server` / `Changed virtual server` / `Purged virtual server`.
#[test]
fn reals_purged_at_start_or_by_a_reload_were_neither_logged_nor_mailed() {
    let t0 = Instant::now();
    let text = format!("emailalert=ops@example.org\n{TWO}");
    let c = cfg(&text);
    let table = with_a_stray(&c);
    let (mut core, actions) = Core::new(c, &table, t0);
    assert_eq!(
        ops(&actions),
        vec![
            "d 198.51.100.99",
            "mail Purged real server (start): 198.51.100.99:80 (tcp:198.51.100.10:80)"
        ]
    );
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Alert {
            status: DaemonStatus::Starting,
            ..
        }
    )));
    core.handle(t0, Input::Tick);
    core.handle(t0, Input::Done(id(0, 0), up()));
    core.handle(t0, Input::Done(id(0, 1), up()));
    // The reload drops the second real, which is in the table.
    let fewer = text.replace("\treal=198.51.100.22:80 masq 1\n", "");
    let t1 = t0 + Duration::from_secs(1);
    let got = core.reload(cfg(&fewer), t1);
    assert_eq!(
        ops(&got),
        vec![
            "d 198.51.100.22",
            "mail Purged real server (reload): 198.51.100.22:80 (tcp:198.51.100.10:80)"
        ]
    );
    assert!(got.iter().any(|a| matches!(
        a,
        Action::Alert {
            status: DaemonStatus::Reloading,
            ..
        }
    )));
}
