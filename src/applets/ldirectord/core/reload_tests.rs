//! Reloads: only the difference reaches the table, and a reload resolves host names again
//! (B19).

use std::time::{Duration, Instant};

use super::{cfg, down, id, ops, up, TWO};
use crate::applets::ldirectord::config::parse;
use crate::applets::ldirectord::core::table::IpvsOp;
use crate::applets::ldirectord::core::{Action, Core, Input, Probe};

#[test]
fn reload_applies_only_the_difference() {
    let t0 = Instant::now();
    let (mut core, _) = Core::new(cfg(TWO), &[], t0);
    core.handle(t0, Input::Tick);
    core.handle(t0, Input::Done(id(0, 0), up()));
    core.handle(t0, Input::Done(id(0, 1), up()));
    // Same file: nothing changes at all.
    assert!(ops(&core.reload(cfg(TWO), t0)).is_empty());
    // Weight of real 1 changed, real 2 removed, real 3 added, a new virtual.
    let new = "checkinterval=2\nvirtual=198.51.100.10:80\n\treal=198.51.100.21:80 masq 7\n\
               \treal=198.51.100.23:80 masq 1\nvirtual=198.51.100.11:80\n\treal=198.51.100.21:80 masq\n";
    let got = ops(&core.reload(cfg(new), t0));
    assert_eq!(
        got,
        vec![
            "e 198.51.100.21 w7",
            "d 198.51.100.22",
            "A -t 198.51.100.11:80"
        ]
    );
    // The kept real is still up: a success adds nothing.
    let t2 = t0 + Duration::from_secs(2);
    let started = core.handle(t2, Input::Tick);
    assert_eq!(started.len(), 3);
    assert!(ops(&core.handle(t2, Input::Done(id(0, 0), up()))).is_empty());
    // Virtual removed from the config: deleted.
    let got = ops(&core.reload(
        cfg("virtual=198.51.100.11:80\n\treal=198.51.100.21:80 masq\n"),
        t2,
    ));
    assert_eq!(got, vec!["D -t 198.51.100.10:80"]);
}

/// A reload that changed quiescent=yes to no left a dead real at weight 0 for ever: only
/// state changes acted. The original's reload applies the rule again: the dead real is
/// deleted with quiescent=no, and put back at weight 0 with quiescent=yes.
#[test]
fn reload_to_quiescent_no_left_a_dead_real_at_weight_zero() {
    let yes = format!("quiescent=yes\n{TWO}");
    let no = format!("quiescent=no\n{TWO}");
    let t0 = Instant::now();
    let (mut core, _) = Core::new(cfg(&yes), &[], t0);
    core.handle(t0, Input::Tick);
    assert_eq!(
        ops(&core.handle(t0, Input::Done(id(0, 0), down()))),
        vec!["a 198.51.100.21 w0"]
    );
    core.handle(t0, Input::Done(id(0, 1), up()));
    assert_eq!(ops(&core.reload(cfg(&no), t0)), vec!["d 198.51.100.21"]);
    // Still down: nothing more; the up real is left alone.
    let t2 = t0 + Duration::from_secs(2);
    core.handle(t2, Input::Tick);
    assert!(ops(&core.handle(t2, Input::Done(id(0, 0), down()))).is_empty());
    assert!(ops(&core.reload(cfg(&no), t2)).is_empty());
    assert_eq!(ops(&core.reload(cfg(&yes), t2)), vec!["a 198.51.100.21 w0"]);
}

/// A resolver whose answer for `web1.example` the test changes, as DNS does between reloads.
struct Moving {
    web1: std::cell::Cell<Option<[u8; 4]>>,
    asked: std::cell::Cell<u32>,
}

impl crate::applets::ldirectord::resolve::Resolve for Moving {
    fn host(&self, host: &str, v6: bool) -> Option<std::net::IpAddr> {
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return (ip.is_ipv6() == v6).then_some(ip);
        }
        self.asked.set(self.asked.get() + 1);
        match host {
            "web1.example" if !v6 => self.web1.get().map(std::net::IpAddr::from),
            _ => None,
        }
    }
    fn service(&self, name: &str, _proto: &str) -> Option<u16> {
        name.parse().ok()
    }
}

#[test]
fn b19_a_reload_resolves_host_names_again_and_a_failing_name_is_refused() {
    let text = "checkinterval=2\nvirtual=198.51.100.10:80\n\treal=web1.example:80 masq\n";
    let dns = Moving {
        web1: std::cell::Cell::new(Some([198, 51, 100, 21])),
        asked: std::cell::Cell::new(0),
    };
    let load = |dns: &Moving| parse("t.cf", text, dns).map_err(|e| e.to_string());
    let t0 = Instant::now();
    let (mut core, _) = Core::new(load(&dns).unwrap_or_else(|e| panic!("{e}")), &[], t0);
    core.handle(t0, Input::Tick);
    assert_eq!(
        ops(&core.handle(t0, Input::Done(id(0, 0), up()))),
        vec!["a 198.51.100.21 w1"]
    );
    // The name moved: the reload (the same file) asks again and follows it.
    dns.web1.set(Some([198, 51, 100, 22]));
    let asked = dns.asked.get();
    let moved = load(&dns).unwrap_or_else(|e| panic!("{e}"));
    assert!(dns.asked.get() > asked, "the name is resolved again");
    assert_eq!(ops(&core.reload(moved, t0)), vec!["d 198.51.100.21"]);
    let t2 = t0 + Duration::from_secs(2);
    assert_eq!(
        core.handle(t2, Input::Tick),
        vec![Action::Start(id(0, 0), Probe::Negotiate)]
    );
    assert_eq!(
        ops(&core.handle(t2, Input::Done(id(0, 0), up()))),
        vec!["a 198.51.100.22 w1"]
    );
    // The name no longer resolves: the file is refused with the reason, so the daemon keeps
    // the running config whole (Daemon::reload; B2 host test) instead of dropping the real.
    dns.web1.set(None);
    let e = load(&dns).err().unwrap_or_default();
    assert!(e.contains("t.cf:3:") && e.contains("web1.example"), "{e}");
    assert_eq!(
        core.config().virtuals[0].reals[0].addr,
        std::net::IpAddr::from([198, 51, 100, 22])
    );
}

/// A reload that moved `fallback=` while every real was down swapped the fallback server,
/// but ran `fallbackcommand start` a second time (the virtual looked as if it had just lost
/// its last real) and logged only the new server's addition. The reals' state did not
/// change: the command is not run again, and the old server's deletion is logged.
#[test]
fn a_reload_that_moved_the_fallback_ran_fallbackcommand_start_again() {
    let text = |fb: &str| {
        format!(
            "checkinterval=2\nvirtual=198.51.100.10:80\n\treal=198.51.100.21:80 masq\n\
             {fb}\tfallbackcommand=\"/bin/true\"\n"
        )
    };
    let t0 = Instant::now();
    let (mut core, _) = Core::new(cfg(&text("\tfallback=198.51.100.31:80 masq\n")), &[], t0);
    core.handle(t0, Input::Tick);
    assert_eq!(
        ops(&core.handle(t0, Input::Done(id(0, 0), down()))),
        vec!["a 198.51.100.31 w1", "cmd true"]
    );
    let moved = text("\tfallback=198.51.100.32:80 masq\n");
    assert_eq!(
        ops(&core.reload(cfg(&moved), t0)),
        vec!["d 198.51.100.31", "a 198.51.100.32 w1"]
    );
    // Removed, then given again: the server only.
    assert_eq!(
        ops(&core.reload(cfg(&text("")), t0)),
        vec!["d 198.51.100.32"]
    );
    assert_eq!(
        ops(&core.reload(cfg(&moved), t0)),
        vec!["a 198.51.100.32 w1"]
    );
    // The real comes back: the fallback in the table goes, and the command is told once.
    let t2 = t0 + Duration::from_secs(2);
    core.handle(t2, Input::Tick);
    assert_eq!(
        ops(&core.handle(t2, Input::Done(id(0, 0), up()))),
        vec!["a 198.51.100.21 w1", "d 198.51.100.32", "cmd false"]
    );
}

/// With quiescent=yes a dead real stays in the table at weight 0. A reload that changed
/// its forwarding method (or its thresholds) left it there with the old one until it came
/// back, so the table disagreed with the config the whole time it was down; the Perl
/// ldirectord's reload writes it again at weight 0. Its weight stays 0 whatever the config.
#[test]
fn a_reload_left_a_quiescent_dead_real_with_its_old_forwarding_method() {
    let text = |how: &str| {
        format!(
            "checkinterval=2\nquiescent=yes\nvirtual=198.51.100.10:80\n\t\
             real=198.51.100.21:80 {how}\n\treal=198.51.100.22:80 masq\n"
        )
    };
    let t0 = Instant::now();
    let (mut core, _) = Core::new(cfg(&text("masq 3")), &[], t0);
    core.handle(t0, Input::Tick);
    assert_eq!(
        ops(&core.handle(t0, Input::Done(id(0, 0), down()))),
        vec!["a 198.51.100.21 w0"]
    );
    core.handle(t0, Input::Done(id(0, 1), up()));
    let edits = |actions: &[Action]| -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Ipvs(IpvsOp::EditDest(_, d)) => {
                    Some(format!("e {} {:?} w{}", d.addr, d.fwd, d.weight))
                }
                Action::Ipvs(_) => Some("other".into()),
                _ => None,
            })
            .collect()
    };
    let got = edits(&core.reload(cfg(&text("gate 3")), t0));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("e 198.51.100.21 ") && got[0].ends_with(" w0"),
        "{got:?}"
    );
    assert!(!got[0].contains("Masq"), "{got:?}");
    // Only the weight changed: nothing to write while it is down.
    assert!(ops(&core.reload(cfg(&text("gate 5")), t0)).is_empty());
}

/// A config rewritten more often than a check takes (a tool that stamps the time in a
/// comment, with autoreload) ended every check in flight before it could time out, and a
/// real that had stopped answering stayed in the table. Checks in flight whose real and
/// check the new config leaves alike carry on under the real's new id; a changed check
/// starts again.
#[test]
fn reloads_more_often_than_a_check_takes_kept_a_dead_real_in_the_table() {
    let three = "checkinterval=2\nvirtual=198.51.100.10:80\n\treal=198.51.100.20:80 masq\n\
                 \treal=198.51.100.21:80 masq 3\n\treal=198.51.100.22:80 masq 1\n";
    let t0 = Instant::now();
    let (mut core, _) = Core::new(cfg(three), &[], t0);
    for r in 0..3 {
        core.handle(t0, Input::Tick);
        core.handle(t0, Input::Done(id(0, r), up()));
    }
    let t2 = t0 + Duration::from_secs(2);
    assert_eq!(core.handle(t2, Input::Tick).len(), 3);
    // The same text with a comment: every check in flight carries on; the third was only
    // queued by the daemon (not in flight), and is asked for again.
    let stamped = format!("# written at {t2:?}\n{three}");
    let r = core.reload_keeping(cfg(&stamped), t2, &[id(0, 0), id(0, 1)]);
    assert!(ops(&r.actions).is_empty());
    assert_eq!(r.kept, vec![(id(0, 0), id(0, 0)), (id(0, 1), id(0, 1))]);
    assert_eq!(
        core.handle(t2, Input::Tick),
        vec![Action::Start(id(0, 2), Probe::Negotiate)]
    );
    let in_flight = [id(0, 0), id(0, 1), id(0, 2)];
    // Nothing is started again while they run.
    let r = core.reload_keeping(cfg(&stamped), t2, &in_flight);
    assert_eq!(r.kept.len(), 3);
    assert!(core.handle(t2, Input::Tick).is_empty());
    // The first real removed and the last one's weight changed: the others move up one
    // place and carry on; the weight is the table's, not the check's.
    let two = "checkinterval=2\nvirtual=198.51.100.10:80\n\treal=198.51.100.21:80 masq 3\n\
               \treal=198.51.100.22:80 masq 5\n";
    let r = core.reload_keeping(cfg(two), t2, &in_flight);
    assert_eq!(r.kept, vec![(id(0, 1), id(0, 0)), (id(0, 2), id(0, 1))]);
    assert!(core.handle(t2, Input::Tick).is_empty());
    // The kept check's result counts for the real it was for: down and deleted.
    assert_eq!(
        ops(&core.handle(t2, Input::Done(id(0, 0), down()))),
        vec!["d 198.51.100.21"]
    );
    // A changed check (another receive) starts again.
    let changed = "checkinterval=2\nvirtual=198.51.100.10:80\n\treal=198.51.100.21:80 masq 3\n\
                   \treal=198.51.100.22:80 masq 5 \".\" \"other\"\n";
    let r = core.reload_keeping(cfg(changed), t2, &[id(0, 1)]);
    assert!(r.kept.is_empty(), "{:?}", r.kept);
    let started = core.handle(t2, Input::Tick);
    assert_eq!(started, vec![Action::Start(id(0, 1), Probe::Negotiate)]);
}

/// The kernel table the core of `c` (TWO, both reals up) wrote, changed by `change`.
fn table_of(
    c: &crate::applets::ldirectord::config::Config,
    change: impl FnOnce(&mut Vec<crate::wire::ipvs::Dest>),
) -> Vec<(crate::wire::ipvs::Service, Vec<crate::wire::ipvs::Dest>)> {
    use crate::applets::ldirectord::core::{dest_of, service_of};
    let v = &c.virtuals[0];
    let mut dests: Vec<_> = v.reals.iter().map(|r| dest_of(v, r, r.weight)).collect();
    change(&mut dests);
    vec![(service_of(v), dests)]
}

/// TWO with both reals up, and `text`'s config.
fn both_up(text: &str, t0: Instant) -> Core {
    let (mut core, _) = Core::new(cfg(text), &[], t0);
    core.handle(t0, Input::Tick);
    core.handle(t0, Input::Done(id(0, 0), up()));
    core.handle(t0, Input::Done(id(0, 1), up()));
    core
}

/// An operator flushed the table (`ipvsadm -C`) and reloaded: the reload compared the two
/// configs only, found nothing to do, and the virtual stayed out of the kernel until a real
/// changed state. It is put back whole, as the original's reload (ld_start) does.
#[test]
fn a_table_flushed_by_the_operator_stayed_empty_after_a_reload() {
    let t0 = Instant::now();
    let mut core = both_up(TWO, t0);
    let r = core.reload_listed(cfg(TWO), t0, &[], Some(&[]));
    assert_eq!(
        ops(&r.actions),
        vec![
            "A -t 198.51.100.10:80",
            "a 198.51.100.21 w3",
            "a 198.51.100.22 w1"
        ]
    );
    // The same table listed again: nothing more to do.
    let c = cfg(TWO);
    let r = core.reload_listed(cfg(TWO), t0, &[], Some(&table_of(&c, |_| {})));
    assert!(ops(&r.actions).is_empty(), "{:?}", ops(&r.actions));
}

/// A live real deleted by hand (`ipvsadm -d`) or set to weight 0 (`-e ... -w 0`), and a
/// stray added by hand: the reload put nothing back and left the stray. Now the live real
/// is back at its weight, and the stray is purged with the start's line, "(reload)".
#[test]
fn a_live_real_deleted_or_reweighted_by_hand_stayed_so_after_a_reload() {
    let t0 = Instant::now();
    let text = format!("emailalert=ops@example.org\n{TWO}");
    let mut core = both_up(&text, t0);
    let c = cfg(&text);
    let hand = table_of(&c, |d| {
        d[0].weight = 0;
        let stray = crate::wire::ipvs::Dest {
            addr: std::net::IpAddr::from([198, 51, 100, 99]),
            ..d[1].clone()
        };
        d.remove(1);
        d.push(stray);
    });
    let r = core.reload_listed(cfg(&text), t0, &[], Some(&hand));
    assert_eq!(
        ops(&r.actions),
        vec![
            "e 198.51.100.21 w3",
            "a 198.51.100.22 w1",
            "mail Added real server (reload): 198.51.100.22:80 (tcp:198.51.100.10:80)",
            "d 198.51.100.99",
            "mail Purged real server (reload): 198.51.100.99:80 (tcp:198.51.100.10:80)"
        ]
    );
}

/// With quiescent=yes, a dead real at weight 0 that the operator deleted by hand stays out
/// after a reload with readdquiescent=no (ending its persistent connections is why one
/// deletes it), also on the next reload; with readdquiescent=yes it is put back at weight 0.
/// One edited by hand to a weight is set back to 0.
#[test]
fn a_reload_put_back_a_quiescent_real_the_operator_deleted_with_readdquiescent_no() {
    for readd in ["no", "yes"] {
        let text = format!("quiescent=yes\nreaddquiescent={readd}\n{TWO}");
        let t0 = Instant::now();
        let (mut core, _) = Core::new(cfg(&text), &[], t0);
        core.handle(t0, Input::Tick);
        core.handle(t0, Input::Done(id(0, 0), down()));
        core.handle(t0, Input::Done(id(0, 1), up()));
        let c = cfg(&text);
        let deleted = table_of(&c, |d| {
            d.remove(0);
        });
        let r = core.reload_listed(cfg(&text), t0, &[], Some(&deleted));
        let want: Vec<&str> = if readd == "yes" {
            vec!["a 198.51.100.21 w0"]
        } else {
            vec![]
        };
        assert_eq!(ops(&r.actions), want, "readdquiescent={readd}");
        let r = core.reload_listed(cfg(&text), t0, &[], Some(&deleted));
        assert_eq!(ops(&r.actions), want, "readdquiescent={readd}, again");
        // Without a listing, the core's belief stands: nothing either way.
        assert!(ops(&core.reload(cfg(&text), t0)).is_empty());
        let edited = table_of(&c, |d| d[0].weight = 5);
        let r = core.reload_listed(cfg(&text), t0, &[], Some(&edited));
        assert_eq!(ops(&r.actions), vec!["e 198.51.100.21 w0"]);
    }
}

/// One virtual deleted by hand (`ipvsadm -D`) while the other stays: the reload adds it
/// back with its reals and leaves the other alone; a real not checked yet that the kernel
/// holds is taken as up, as at start.
#[test]
fn a_virtual_deleted_by_the_operator_stayed_out_after_a_reload() {
    let two_virtuals = format!("{TWO}virtual=198.51.100.11:80\n\treal=198.51.100.21:80 masq\n");
    let t0 = Instant::now();
    let (mut core, _) = Core::new(cfg(&two_virtuals), &[], t0);
    core.handle(t0, Input::Tick);
    core.handle(t0, Input::Done(id(0, 0), up()));
    core.handle(t0, Input::Done(id(0, 1), up()));
    let c = cfg(&two_virtuals);
    let second = {
        use crate::applets::ldirectord::core::{dest_of, service_of};
        let v = &c.virtuals[1];
        (service_of(v), vec![dest_of(v, &v.reals[0], 1)])
    };
    let r = core.reload_listed(cfg(&two_virtuals), t0, &[], Some(&[second]));
    assert_eq!(
        ops(&r.actions),
        vec![
            "A -t 198.51.100.10:80",
            "a 198.51.100.21 w3",
            "a 198.51.100.22 w1"
        ]
    );
    assert!(core.is_up(id(1, 0)), "taken as the kernel has it");
}
