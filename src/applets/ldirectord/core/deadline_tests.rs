//! The deadline invariant of the event loop, checked by a long random simulation of results,
//! timeouts, instant failures and reloads.

use std::time::{Duration, Instant};

use super::{cfg, down, up};
use crate::applets::ldirectord::config::CheckType;
use crate::applets::ldirectord::core::{Action, Core, Input, Outcome, RealId, State};

/// The configs the simulation below switches between: every deadline source of the core
/// (checks of every kind, checktype=off/on, e-mail resends, quiescent, fallback, a virtual
/// without reals).
const SIMULATED: [&str; 4] = [
    "checkinterval=1\nfailurecount=2\nquiescent=yes\nemailalert=ops@example.org\nemailalertfreq=1\n\
     virtual=198.51.100.10:80\n\treal=198.51.100.21:80 masq\n\treal=198.51.100.22:80 masq\n\
     \tfallback=198.51.100.99:80\n\tfallbackcommand=\"/bin/true\"\n\tservice=http\n\
     virtual=198.51.100.11:80\n\tchecktype=off\n\treal=198.51.100.21:80 masq\n\
     virtual=198.51.100.12:80\n\tchecktype=on\n\treal=198.51.100.23:80 masq\n\
     virtual=198.51.100.13:80\n\tfallback=198.51.100.99:80\n",
    "checkinterval=1\nemailalert=ops@example.org\nemailalertfreq=3\n\
     virtual=198.51.100.10:80\n\tchecktype=3\n\treal=198.51.100.21:80 masq\n\treal=198.51.100.24:80 masq\n\
     virtual=198.51.100.11:80\n\tchecktype=connect\n\treal=198.51.100.21:80 masq\n",
    "checkinterval=2\nquiescent=no\n\
     virtual=198.51.100.11:80\n\tchecktype=off\n\treal=198.51.100.21:80 masq\n\
     virtual=198.51.100.13:80\n\tfallback=198.51.100.99:80\n",
    "checkinterval=1\nemailalert=ops@example.org\nemailalertfreq=2\n\
     virtual=198.51.100.10:80\n\tchecktype=on\n\treal=198.51.100.21:80 masq\n\
     virtual=198.51.100.12:53\n\tprotocol=udp\n\tchecktype=ping\n\treal=198.51.100.23:53 masq\n",
];

/// A long random run of results, timeouts, instant failures and reloads, seeded; `after`
/// sees the core after every step (and after every tick, with `ticked` set).
fn simulate(mut after: impl FnMut(&Core, Instant, usize, bool)) {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n.max(1)
    };
    let t0 = Instant::now();
    let (mut core, _) = Core::new(cfg(SIMULATED[0]), &[], t0);
    let mut now = t0;
    // Checks in flight: which real, and when its result comes.
    let mut running: Vec<(RealId, Instant)> = Vec::new();
    for step in 0..5000 {
        now += Duration::from_millis(rand(1500));
        if rand(200) == 0 {
            // The daemon ends the checks in flight, then reloads.
            running.clear();
            let text = SIMULATED[rand(SIMULATED.len() as u64) as usize];
            core.reload(cfg(text), now);
        }
        let (due, later): (Vec<_>, Vec<_>) = running.drain(..).partition(|(_, at)| *at <= now);
        running = later;
        for (id, _) in due {
            let outcome = match rand(10) {
                0 => Outcome::Maintenance,
                1..=4 => down(),
                _ => up(),
            };
            core.handle(now, Input::Done(id, outcome));
        }
        after(&core, now, step, false);
        if core.next_deadline().is_some_and(|d| d <= now) {
            for a in core.handle(now, Input::Tick) {
                if let Action::Start(id, _) = a {
                    // A third fail at once (refused, maintenancedir): handled at this `now`.
                    if rand(3) == 0 {
                        core.handle(now, Input::Done(id, down()));
                    } else {
                        running.push((id, now + Duration::from_millis(rand(4000))));
                    }
                }
            }
            after(&core, now, step, true);
        }
    }
}

/// The loop's invariant, checked over a long random run of results, timeouts, instant
/// failures and reloads: a tick handled at `now` leaves no deadline at or before `now`.
/// A handled moment offered again is a busy loop (the daemon waits until the next deadline,
/// here at once, for ever).
#[test]
fn a_handled_tick_never_leaves_its_moment_as_the_next_deadline() {
    let mut t0 = None;
    simulate(|core, now, step, ticked| {
        let t0 = *t0.get_or_insert(now);
        let next = core.next_deadline();
        assert!(
            !ticked || next.is_none_or(|d| d > now),
            "step {step}: after a tick at +{:?} the next deadline is +{:?}",
            now.saturating_duration_since(t0),
            next.map(|d| d.saturating_duration_since(t0))
        );
    });
}

/// The next deadline as the core found it before the heap: a scan of every real, on every
/// wake-up of the loop (O(N), the daemon's biggest cost of its own at N=1000).
fn scan_of_every_real(core: &Core) -> Option<Instant> {
    let mut best: Option<Instant> = None;
    for (vi, vs) in core.virtuals.iter().enumerate() {
        let v = &core.cfg.virtuals[vi];
        for rs in &vs.reals {
            let due = match v.checktype {
                CheckType::Off => rs.state != State::Down,
                _ => !rs.running,
            };
            if due {
                best = Some(best.map_or(rs.next_due, |b| b.min(rs.next_due)));
            }
            if let (Some(last), true, true) =
                (rs.last_alert, v.emailalertfreq > 0, rs.state == State::Down)
            {
                let at = last + Duration::from_secs(u64::from(v.emailalertfreq));
                best = Some(best.map_or(at, |b| b.min(at)));
            }
        }
    }
    best
}

/// `every_wake_up_scanned_every_real_for_the_next_deadline`: the heap that replaced the scan
/// gives the scan's deadline after every step of the random run, and what it holds stays
/// bounded (at most a check and a reminder per real, and what one step left behind).
#[test]
fn every_wake_up_scanned_every_real_for_the_next_deadline() {
    simulate(|core, _, step, _| {
        assert_eq!(
            core.next_deadline(),
            scan_of_every_real(core),
            "step {step}: the heap and a scan of every real disagree"
        );
        let reals: usize = core.virtuals.iter().map(|v| v.reals.len()).sum();
        assert!(
            core.due.len() <= 2 * reals + 8,
            "step {step}: {} entries for {reals} reals",
            core.due.len()
        );
    });
}
