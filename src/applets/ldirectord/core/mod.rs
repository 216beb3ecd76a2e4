//! The pure heart of ldirectord: when each real server is checked, what a result changes
//! (failurecount, quiescent, fallback, fallbackcommand, e-mail alerts, monitor lines) and
//! the IPVS operations that follow. No sockets, no clock: `handle(now, input) -> actions`.
//!
//! Differences from the Perl original, on purpose: a real server is never put in the table
//! before its first successful check (B5); the fallback server and fallbackcommand are only
//! decided once every real has a first result, so they never flap during start-up (B6);
//! every real runs on its own timer, so a slow check delays nobody (B14); a reload keeps the
//! state of unchanged reals and only applies the difference.
//!
//! The core is split by concern: `table` maps the config onto IPVS services and
//! destinations, `schedule` decides when each real is checked, `outcome` applies a result,
//! `alerts` and `fallback` follow from it, and `reload` diffs an old config against a new
//! one. This file holds the types, start-up, `handle` and the clean stop.

mod alerts;
mod fallback;
mod outcome;
mod reload;
mod schedule;
mod table;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::config::{alert_status, CheckType, Config, Real, Virtual};
use crate::wire::ipvs::Dest;

pub use reload::Reloaded;
use table::fallback_dest;
pub use table::{dest_name, dest_of, real_name, service_of, IpvsOp, Table};

/// Index of a virtual in the config, and of a real inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RealId {
    pub virt: usize,
    pub real: usize,
}

/// What the daemon is doing (emailalertstatus filters on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonStatus {
    Starting,
    Running,
    Stopping,
    Reloading,
}

impl DaemonStatus {
    fn bit(self) -> u8 {
        match self {
            DaemonStatus::Starting => alert_status::STARTING,
            DaemonStatus::Running => alert_status::RUNNING,
            DaemonStatus::Stopping => alert_status::STOPPING,
            DaemonStatus::Reloading => alert_status::RELOADING,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DaemonStatus::Starting => "starting",
            DaemonStatus::Running => "running",
            DaemonStatus::Stopping => "stopping",
            DaemonStatus::Reloading => "reloading",
        }
    }
}

/// Which probe a check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The service's protocol (negotiate), bounded by `Virtual::negotiate_timeout`.
    Negotiate,
    /// TCP connect (or ping for UDP), bounded by checktimeout.
    Connect,
    Ping,
    External,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Up(String),
    Down(String),
    /// A file in maintenancedir names the real: down at once, no failurecount.
    Maintenance,
}

/// What happened, as the shell reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A timer is due: start the checks that are.
    Tick,
    Done(RealId, Outcome),
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Start(RealId, Probe),
    Ipvs(IpvsOp),
    /// `fallbackcommand start|stop VIP:VPORT PROTO`, run through the shell.
    FallbackCommand {
        command: String,
        start: bool,
        virt: usize,
    },
    /// Send `subject` to the virtual's emailalert addresses; `log` is what the mail's
    /// `Log-Message:` lines say (the subject, but for a stop's mail: every line it logged),
    /// `status` what the daemon was doing (the mail's `Daemon-Status:`).
    Alert {
        virt: usize,
        subject: String,
        log: Vec<String>,
        status: DaemonStatus,
    },
    /// Append a line to the virtual's monitorfile.
    Monitor {
        id: RealId,
        up: bool,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not checked yet (and not in the table unless it was at start).
    Unknown,
    Up,
    Down,
}

#[derive(Debug, Clone)]
struct RealState {
    state: State,
    failcount: u32,
    /// checktype=N: connects since the last negotiate (starts at N: negotiate first).
    connects: u32,
    next_due: Instant,
    running: bool,
    /// The weight it has in the table, if it is there.
    in_table: Option<u32>,
    /// For emailalertfreq: when the last "Inaccessible" alert went out.
    last_alert: Option<Instant>,
    /// Its first result since the start (or the reload that added it) is in: until every
    /// real's is, the daemon is `starting` (`reloading`) to `emailalertstatus`.
    judged: bool,
}

#[derive(Debug, Clone)]
struct VirtualState {
    reals: Vec<RealState>,
    fallback_on: bool,
}

/// What the core has to do for one real at a moment on its schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Wake {
    /// Its check is due.
    Check(RealId),
    /// Its "Inaccessible" reminder is (emailalertfreq).
    Alert(RealId),
}

/// The daemon's state: the config it runs and where every real stands.
pub struct Core {
    cfg: Config,
    virtuals: Vec<VirtualState>,
    status: DaemonStatus,
    /// The moments ahead, earliest on top (see `schedule`).
    due: BinaryHeap<Reverse<(Instant, Wake)>>,
}

impl Core {
    /// Starts from `cfg` and what the kernel table holds now (`table`). Returns the changes
    /// that make the table match: services added or edited, unknown reals of our services
    /// removed. Reals already in the table keep their place until checked (no B5 flash).
    pub fn new(cfg: Config, table: &Table, now: Instant) -> (Core, Vec<Action>) {
        let mut core = Core {
            cfg,
            virtuals: Vec::new(),
            status: DaemonStatus::Starting,
            due: BinaryHeap::new(),
        };
        let mut actions = Vec::new();
        for vi in 0..core.cfg.virtuals.len() {
            let vs = core.fresh_virtual(vi, table, now, "start", &mut actions);
            core.virtuals.push(vs);
            // A virtual without reals (or with every real known down from the table) has
            // nothing to wait for: its fallback goes in now, as the original's ld_start. It
            // was only looked at on a check's result, so an empty virtual never got it.
            core.update_fallback(vi, &mut actions);
        }
        core.rebuild_schedule();
        core.end_first_round();
        (core, actions)
    }

    /// A virtual the core did not run before (at start, or added by a reload), taken as the
    /// kernel table (`table`) has it: the service added or edited, reals that are not ours
    /// purged (`why`: start or reload), reals already in the table kept in their place.
    fn fresh_virtual(
        &self,
        vi: usize,
        table: &Table,
        now: Instant,
        why: &str,
        actions: &mut Vec<Action>,
    ) -> VirtualState {
        let v = &self.cfg.virtuals[vi];
        let existing = table::entry(table, v);
        let dests = table::sync_service(v, existing, actions);
        let fb = fallback_dest(v);
        let fallback_on = dests
            .iter()
            .any(|d| fb.as_ref().is_some_and(|f| f.same_place(d)) && !table::has_real_at(v, d));
        self.purge_strays(vi, dests, fallback_on, None, why, actions);
        let reals = v
            .reals
            .iter()
            .map(|r| fresh_real(v, r, dests, now, actions))
            .collect();
        VirtualState { reals, fallback_on }
    }

    /// Deletes the destinations of virtual `vi`'s table entry (`dests`) that are none of its
    /// reals nor, while it is on (`fallback_on`), its fallback server: logged and mailed as
    /// the original's `Purged real server (start|reload)`. A fallback server the config moved
    /// or that is off (`old_fallback`: the one of the config before a reload) is deleted as
    /// a fallback.
    fn purge_strays(
        &self,
        vi: usize,
        dests: &[Dest],
        fallback_on: bool,
        old_fallback: Option<&Dest>,
        why: &str,
        actions: &mut Vec<Action>,
    ) {
        let v = &self.cfg.virtuals[vi];
        let svc = service_of(v);
        let fb = fallback_dest(v);
        for d in dests {
            if table::has_real_at(v, d) {
                continue;
            }
            let is_fb = fb.as_ref().is_some_and(|f| f.same_place(d));
            if is_fb && fallback_on {
                continue;
            }
            let is_fb = is_fb || old_fallback.is_some_and(|f| f.same_place(d));
            actions.push(Action::Ipvs(IpvsOp::DelDest(svc.clone(), d.clone())));
            if is_fb {
                log::info!("Deleted fallback server for {} ({why})", v.id());
            } else {
                self.purged(vi, table::dest_name(d), why, actions);
            }
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Where the daemon stands to `emailalertstatus`.
    pub fn status(&self) -> DaemonStatus {
        self.status
    }

    /// `real` has its first result. The first round's results (every real judged once after
    /// the start or a reload) go out as `starting` (`reloading`), as the original's ld_start
    /// checks every real before it says `running`: with the status always `running`,
    /// `emailalertstatus=starting` sent nothing and `=running` got the start-up's mails.
    pub(super) fn judged(&mut self, id: RealId) {
        if let Some(rs) = self
            .virtuals
            .get_mut(id.virt)
            .and_then(|v| v.reals.get_mut(id.real))
        {
            rs.judged = true;
        }
        self.end_first_round();
    }

    /// `running` once every real of a start or a reload is judged.
    pub(super) fn end_first_round(&mut self) {
        let first_round = matches!(
            self.status,
            DaemonStatus::Starting | DaemonStatus::Reloading
        );
        if first_round
            && self
                .virtuals
                .iter()
                .all(|v| v.reals.iter().all(|r| r.judged))
        {
            self.status = DaemonStatus::Running;
        }
    }

    /// Reacts to one input.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        let mut actions = Vec::new();
        self.handle_into(now, input, &mut actions);
        actions
    }

    /// `handle`, appending the actions to `actions` (a vector the caller keeps).
    pub fn handle_into(&mut self, now: Instant, input: Input, actions: &mut Vec<Action>) {
        match input {
            Input::Tick => self.tick(now, actions),
            Input::Done(id, outcome) => self.done(now, id, outcome, actions),
        }
        self.settle();
    }

    /// The changes of a clean stop, in the Perl's words (its ld_stop): for every virtual
    /// with cleanstop=yes, `Purged real server (stop): RIP:PORT (VIRTUAL)` for each real
    /// believed up, then `Purged virtual server (stop): VIRTUAL`, all logged. The service
    /// goes with its reals in one deletion (the Perl deletes each real first). One mail per
    /// virtual carries its lines: the Perl mails each real's, and ours, in flight at once,
    /// would have run into the cap on mails with a few dozen reals.
    pub fn stop(&mut self) -> Vec<Action> {
        self.status = DaemonStatus::Stopping;
        let mut actions = Vec::new();
        for (vi, v) in self.cfg.virtuals.iter().enumerate() {
            if !v.cleanstop {
                continue;
            }
            let mut lines: Vec<String> = v
                .reals
                .iter()
                .zip(&self.virtuals[vi].reals)
                .filter(|(_, rs)| rs.state == State::Up)
                .map(|(r, _)| {
                    format!(
                        "Purged real server (stop): {} ({})",
                        real_name(v, r),
                        v.id()
                    )
                })
                .collect();
            let gone = format!("Purged virtual server (stop): {}", v.id());
            lines.push(gone.clone());
            for l in &lines {
                log::info!("{l}");
            }
            actions.push(Action::Ipvs(IpvsOp::DelService(service_of(v))));
            self.alert_listing(vi, gone, lines, &mut actions);
        }
        actions
    }

    /// Whether `id` is up (the shell's check slots treat a real that timed out but is still
    /// up as any other).
    pub fn is_up(&self, id: RealId) -> bool {
        self.virtuals
            .get(id.virt)
            .and_then(|v| v.reals.get(id.real))
            .is_some_and(|r| r.state == State::Up)
    }

    /// Whether a check of `id` is in flight (for the shell's bookkeeping).
    pub fn is_running(&self, id: RealId) -> bool {
        self.virtuals
            .get(id.virt)
            .and_then(|v| v.reals.get(id.real))
            .is_some_and(|r| r.running)
    }
}

/// A real the core knows nothing of yet, as the kernel table of its virtual (`dests`) has
/// it (the original's ld_start): at a weight, up and written again if its weight, forwarding
/// method or thresholds differ; at weight 0, down; absent, unknown until checked.
fn fresh_real(
    v: &Virtual,
    r: &Real,
    dests: &[Dest],
    now: Instant,
    actions: &mut Vec<Action>,
) -> RealState {
    let want = dest_of(v, r, r.weight);
    let found = dests.iter().find(|d| d.same_place(&want));
    let state = match found {
        Some(d) if d.weight > 0 => State::Up,
        Some(_) => State::Down,
        None => State::Unknown,
    };
    if let Some(d) = found {
        if d.weight > 0 && !table::same_dest(d, &want) {
            actions.push(Action::Ipvs(IpvsOp::EditDest(service_of(v), want.clone())));
        }
    }
    RealState {
        state,
        failcount: 0,
        connects: match v.checktype {
            CheckType::Combined(n) => n,
            _ => 0,
        },
        next_due: now,
        running: false,
        in_table: found.map(|d| if d.weight > 0 { want.weight } else { 0 }),
        last_alert: None,
        judged: false,
    }
}

#[cfg(test)]
mod tests;
