//! The deadline invariant of the event loop, checked by a long random simulation of results,
//! timeouts, instant failures and reloads.

use std::time::{Duration, Instant};

use super::{cfg, down, up};
use crate::applets::ldirectord::core::{Action, Core, Input, Outcome, RealId};

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

/// The loop's invariant, checked over a long random run of results, timeouts, instant
/// failures and reloads: a tick handled at `now` leaves no deadline at or before `now`.
/// A handled moment offered again is a busy loop (the daemon waits until the next deadline,
/// here at once, for ever).
#[test]
fn a_handled_tick_never_leaves_its_moment_as_the_next_deadline() {
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
            let next = core.next_deadline();
            assert!(
                next.is_none_or(|d| d > now),
                "step {step}: after a tick at +{:?} the next deadline is +{:?}",
                now - t0,
                next.map(|d| d - t0)
            );
        }
    }
}
