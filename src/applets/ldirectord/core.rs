//! The pure heart of ldirectord: when each real server is checked, what a result changes
//! (failurecount, quiescent, fallback, fallbackcommand, e-mail alerts, monitor lines) and
//! the IPVS operations that follow. No sockets, no clock: `handle(now, input) -> actions`.
//!
//! Differences from the Perl original, on purpose: a real server is never put in the table
//! before its first successful check (B5); the fallback server and fallbackcommand are only
//! decided once every real has a first result, so they never flap during start-up (B6);
//! every real runs on its own timer, so a slow check delays nobody (B14); a reload keeps the
//! state of unchanged reals and only applies the difference.

use std::time::{Duration, Instant};

use super::config::{alert_status, CheckType, Config, Forward, Real, Virtual, VirtualAddr};
use super::server_text::printable;
use crate::wire::ipvs::{
    Dest, FwdMethod, Service, ServiceKey, IPPROTO_TCP, IPPROTO_UDP, SVC_F_ONEPACKET,
    SVC_F_PERSISTENT,
};

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

/// One change of the IPVS table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpvsOp {
    AddService(Service),
    EditService(Service),
    DelService(Service),
    AddDest(Service, Dest),
    EditDest(Service, Dest),
    DelDest(Service, Dest),
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
    /// Send `subject` to the virtual's emailalert addresses.
    Alert {
        virt: usize,
        subject: String,
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
}

#[derive(Debug, Clone)]
struct VirtualState {
    reals: Vec<RealState>,
    fallback_on: bool,
}

/// The daemon's state: the config it runs and where every real stands.
pub struct Core {
    cfg: Config,
    virtuals: Vec<VirtualState>,
    status: DaemonStatus,
}

/// The IPVS service a virtual maps to.
pub fn service_of(v: &Virtual) -> Service {
    let key = match v.addr {
        VirtualAddr::Inet(ip, port) => {
            let proto = if v.protocol == super::config::Protocol::Udp {
                IPPROTO_UDP
            } else {
                IPPROTO_TCP
            };
            ServiceKey::Inet(proto, ip, port)
        }
        VirtualAddr::Fwmark(m, v6) => ServiceKey::Fwmark(m, v6),
    };
    let v6 = key.af() == crate::wire::ipvs::AF_INET6;
    let mut flags = 0;
    let mut timeout = 0;
    // Without persistence, or without a netmask, the host's own: /32 or /128.
    let mut netmask = if v6 { 128 } else { u32::MAX };
    if let Some(p) = v.persistent {
        flags |= SVC_F_PERSISTENT;
        timeout = p;
        if let Some(m) = v.netmask {
            netmask = m;
        }
    }
    if v.ops && v.protocol == super::config::Protocol::Udp {
        flags |= SVC_F_ONEPACKET;
    }
    // ipvsadm -b; the names were checked when the config was read.
    if let Some(names) = &v.schedflags {
        flags |= names
            .split(',')
            .filter_map(super::config::sched_flag)
            .fold(0, |a, b| a | b);
    }
    Service {
        key,
        scheduler: v.scheduler.clone(),
        flags,
        timeout,
        netmask,
    }
}

fn fwd_of(f: Forward) -> FwdMethod {
    match f {
        Forward::Gate => FwdMethod::Route,
        Forward::Masq => FwdMethod::Masq,
        Forward::Ipip => FwdMethod::Tunnel,
    }
}

/// The IPVS destination of a real at `weight`. With gate/ipip the kernel uses the virtual's
/// port (as ipvsadm rewrites it); a real without a port takes the virtual's.
pub fn dest_of(v: &Virtual, r: &Real, weight: u32) -> Dest {
    let port = if r.port == 0 || (r.forward != Forward::Masq && v.port() != 0) {
        v.port()
    } else {
        r.port
    };
    Dest {
        addr: r.addr,
        port,
        fwd: fwd_of(r.forward),
        weight,
        u_thresh: r.upper,
        l_thresh: r.lower,
        active_conns: 0,
        inact_conns: 0,
        persist_conns: 0,
    }
}

fn fallback_dest(v: &Virtual) -> Option<Dest> {
    let fb = v.fallback.as_ref()?;
    Some(Dest {
        addr: fb.addr,
        port: fb.port.unwrap_or_else(|| v.port()),
        fwd: fwd_of(fb.forward),
        weight: 1,
        u_thresh: 0,
        l_thresh: 0,
        active_conns: 0,
        inact_conns: 0,
        persist_conns: 0,
    })
}

/// `RIP:PORT (VIP:VPORT)`-style name for logs.
pub fn real_name(v: &Virtual, r: &Real) -> String {
    let d = dest_of(v, r, 0);
    match d.addr {
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", d.port),
        std::net::IpAddr::V4(ip) => format!("{ip}:{}", d.port),
    }
}

impl Core {
    /// Starts from `cfg` and what the kernel table holds now (`table`). Returns the changes
    /// that make the table match: services added or edited, unknown reals of our services
    /// removed. Reals already in the table keep their place until checked (no B5 flash).
    pub fn new(cfg: Config, table: &[(Service, Vec<Dest>)], now: Instant) -> (Core, Vec<Action>) {
        let mut core = Core {
            cfg,
            virtuals: Vec::new(),
            status: DaemonStatus::Starting,
        };
        let mut actions = Vec::new();
        for vi in 0..core.cfg.virtuals.len() {
            let vs = core.fresh_virtual(vi, table, now, &mut actions);
            core.virtuals.push(vs);
        }
        core.status = DaemonStatus::Running;
        (core, actions)
    }

    fn fresh_virtual(
        &self,
        vi: usize,
        table: &[(Service, Vec<Dest>)],
        now: Instant,
        actions: &mut Vec<Action>,
    ) -> VirtualState {
        let v = &self.cfg.virtuals[vi];
        let svc = service_of(v);
        let existing = table.iter().find(|(s, _)| s.key == svc.key);
        match existing {
            Some((s, _)) if *s == svc => {}
            Some(_) => actions.push(Action::Ipvs(IpvsOp::EditService(svc.clone()))),
            None => actions.push(Action::Ipvs(IpvsOp::AddService(svc.clone()))),
        }
        let dests: &[Dest] = existing.map(|(_, d)| d.as_slice()).unwrap_or(&[]);
        let fb = fallback_dest(v);
        let mut fallback_on = false;
        for d in dests {
            let ours = v
                .reals
                .iter()
                .any(|r| dest_of(v, r, 0).addr == d.addr && dest_of(v, r, 0).port == d.port);
            let is_fb = fb
                .as_ref()
                .is_some_and(|f| f.addr == d.addr && f.port == d.port);
            if is_fb && !ours {
                fallback_on = true;
            } else if !ours {
                actions.push(Action::Ipvs(IpvsOp::DelDest(svc.clone(), d.clone())));
            }
        }
        let reals = v
            .reals
            .iter()
            .map(|r| {
                let want = dest_of(v, r, r.weight);
                let found = dests
                    .iter()
                    .find(|d| d.addr == want.addr && d.port == want.port);
                let state = match found {
                    Some(d) if d.weight > 0 => State::Up,
                    Some(_) => State::Down,
                    None => State::Unknown,
                };
                if let Some(d) = found {
                    if d.weight > 0 && (d.weight != want.weight || d.fwd != want.fwd) {
                        actions.push(Action::Ipvs(IpvsOp::EditDest(svc.clone(), want.clone())));
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
                }
            })
            .collect();
        VirtualState { reals, fallback_on }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn set_status(&mut self, s: DaemonStatus) {
        self.status = s;
    }

    /// When `handle(_, Tick)` has something to do next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut best: Option<Instant> = None;
        for (vi, vs) in self.virtuals.iter().enumerate() {
            let v = &self.cfg.virtuals[vi];
            for rs in &vs.reals {
                if !rs.running && v.checktype != CheckType::Off {
                    best = Some(best.map_or(rs.next_due, |b| b.min(rs.next_due)));
                }
                if let (Some(last), true) = (rs.last_alert, v.emailalertfreq > 0) {
                    let at = last + Duration::from_secs(u64::from(v.emailalertfreq));
                    best = Some(best.map_or(at, |b| b.min(at)));
                }
            }
        }
        best
    }

    /// Reacts to one input.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        let mut actions = Vec::new();
        match input {
            Input::Tick => self.tick(now, &mut actions),
            Input::Done(id, outcome) => self.done(now, id, outcome, &mut actions),
        }
        actions
    }

    fn probe_for(&self, id: RealId) -> Option<Probe> {
        let v = &self.cfg.virtuals[id.virt];
        let rs = &self.virtuals[id.virt].reals[id.real];
        let udp = v.protocol == super::config::Protocol::Udp;
        match v.checktype {
            CheckType::Off => None,
            CheckType::On => Some(Probe::Negotiate),
            CheckType::Negotiate => Some(Probe::Negotiate),
            CheckType::Connect if udp => Some(Probe::Ping),
            CheckType::Connect => Some(Probe::Connect),
            CheckType::Ping => Some(Probe::Ping),
            CheckType::External => Some(Probe::External),
            CheckType::Combined(n) if rs.connects >= n => Some(Probe::Negotiate),
            CheckType::Combined(_) => Some(Probe::Connect),
        }
    }

    fn tick(&mut self, now: Instant, actions: &mut Vec<Action>) {
        for vi in 0..self.virtuals.len() {
            for ri in 0..self.virtuals[vi].reals.len() {
                let id = RealId { virt: vi, real: ri };
                let rs = &self.virtuals[vi].reals[ri];
                if rs.running || rs.next_due > now {
                    continue;
                }
                if self.cfg.virtuals[vi].checktype == CheckType::On {
                    // checktype=on: up every cycle without any network activity.
                    self.virtuals[vi].reals[ri].next_due = self.interval_from(vi, now);
                    self.apply(now, id, Outcome::Up("checktype=on".into()), actions);
                    continue;
                }
                if let Some(p) = self.probe_for(id) {
                    let rs = &mut self.virtuals[vi].reals[ri];
                    rs.running = true;
                    actions.push(Action::Start(id, p));
                }
            }
            self.resend_alerts(vi, now, actions);
        }
    }

    fn interval_from(&self, vi: usize, now: Instant) -> Instant {
        now + Duration::from_secs(u64::from(self.cfg.virtuals[vi].checkinterval.max(1)))
    }

    fn done(&mut self, now: Instant, id: RealId, outcome: Outcome, actions: &mut Vec<Action>) {
        let next = self.interval_from(id.virt, now);
        let Some(rs) = self
            .virtuals
            .get_mut(id.virt)
            .and_then(|v| v.reals.get_mut(id.real))
        else {
            return;
        };
        if !rs.running {
            // A result from before a reload replaced this real.
            return;
        }
        rs.running = false;
        rs.next_due = next;
        self.apply(now, id, outcome, actions);
    }

    fn apply(&mut self, now: Instant, id: RealId, outcome: Outcome, actions: &mut Vec<Action>) {
        let v = &self.cfg.virtuals[id.virt];
        let r = &v.reals[id.real];
        let name = real_name(v, r);
        let vid = v.id();
        let rs = &mut self.virtuals[id.virt].reals[id.real];
        if let CheckType::Combined(n) = v.checktype {
            let negotiated = rs.connects >= n;
            rs.connects = match (&outcome, negotiated) {
                (Outcome::Up(_), true) => 0,
                (Outcome::Up(_), false) => rs.connects + 1,
                _ => n,
            };
        }
        // The message may carry what the server sent: from here on it goes into logs, the
        // monitorfile and alert mails.
        let (up, message, forced) = match &outcome {
            Outcome::Up(m) => (true, printable(m), false),
            Outcome::Down(m) => (false, printable(m), false),
            Outcome::Maintenance => (false, "Server in maintenance".to_string(), true),
        };
        if v.monitorfile.is_some() {
            actions.push(Action::Monitor {
                id,
                up,
                message: message.clone(),
            });
        }
        if up {
            if rs.failcount > 0 {
                log::info!("Resetting soft failure count: {name} ({vid})");
            }
            rs.failcount = 0;
            if rs.state != State::Up {
                self.set_up(now, id, actions);
            }
            return;
        }
        rs.failcount = rs.failcount.saturating_add(1);
        if !forced && rs.state == State::Up && rs.failcount < v.failurecount {
            log::info!(
                "Soft failure real server: {name} ({vid}) failure {}/{}: {message}",
                rs.failcount,
                v.failurecount
            );
            return;
        }
        if rs.state != State::Down || forced && rs.in_table.is_some_and(|w| w > 0) {
            self.set_down(now, id, &message, actions);
        }
    }

    fn alert(&self, vi: usize, subject: String, actions: &mut Vec<Action>) {
        let v = &self.cfg.virtuals[vi];
        if v.emailalert.is_some() && v.emailalertstatus & self.status.bit() != 0 {
            let subject = match &v.servicename {
                Some(s) => format!("[{s}] {subject}"),
                None => subject,
            };
            actions.push(Action::Alert { virt: vi, subject });
        }
    }

    fn set_up(&mut self, now: Instant, id: RealId, actions: &mut Vec<Action>) {
        let _ = now;
        let v = &self.cfg.virtuals[id.virt];
        let r = &v.reals[id.real];
        let svc = service_of(v);
        let dest = dest_of(v, r, r.weight);
        let rs = &mut self.virtuals[id.virt].reals[id.real];
        let op = match rs.in_table {
            Some(_) => IpvsOp::EditDest(svc, dest),
            None => IpvsOp::AddDest(svc, dest),
        };
        let verb = if rs.in_table.is_some() {
            "Restored"
        } else {
            "Added"
        };
        rs.in_table = Some(r.weight);
        rs.state = State::Up;
        rs.last_alert = None;
        let msg = format!("{verb} real server: {} ({})", real_name(v, r), v.id());
        log::info!("{msg}");
        actions.push(Action::Ipvs(op));
        self.alert(id.virt, msg, actions);
        self.update_fallback(id.virt, actions);
    }

    fn set_down(&mut self, now: Instant, id: RealId, why: &str, actions: &mut Vec<Action>) {
        let v = &self.cfg.virtuals[id.virt];
        let r = &v.reals[id.real];
        let svc = service_of(v);
        let readd = self.cfg.globals.readdquiescent;
        let rs = &mut self.virtuals[id.virt].reals[id.real];
        let was = rs.state;
        rs.state = State::Down;
        let name = real_name(v, r);
        let msg = if v.quiescent {
            let zero = dest_of(v, r, 0);
            match rs.in_table {
                Some(w) if w > 0 => {
                    actions.push(Action::Ipvs(IpvsOp::EditDest(svc, zero)));
                    rs.in_table = Some(0);
                    Some(format!(
                        "Quiescent real server: {name} ({}) ({why})",
                        v.id()
                    ))
                }
                Some(_) => None,
                // First result (or an admin deleted it with readdquiescent=yes): weight 0.
                None if was == State::Unknown || readd => {
                    actions.push(Action::Ipvs(IpvsOp::AddDest(svc, zero)));
                    rs.in_table = Some(0);
                    Some(format!(
                        "Quiescent real server: {name} ({}) ({why})",
                        v.id()
                    ))
                }
                None => None,
            }
        } else {
            match rs.in_table.take() {
                Some(_) => {
                    actions.push(Action::Ipvs(IpvsOp::DelDest(svc, dest_of(v, r, 0))));
                    Some(format!("Deleted real server: {name} ({}) ({why})", v.id()))
                }
                None => None,
            }
        };
        match &msg {
            Some(m) => log::info!("{m}"),
            None if was != State::Down => {
                log::info!("Real server down: {name} ({}) ({why})", v.id())
            }
            None => {}
        }
        if v.emailalertfreq > 0 && was != State::Down {
            rs.last_alert = Some(now);
        }
        if let Some(m) = msg {
            self.alert(id.virt, m, actions);
        }
        self.update_fallback(id.virt, actions);
    }

    fn resend_alerts(&mut self, vi: usize, now: Instant, actions: &mut Vec<Action>) {
        let v = &self.cfg.virtuals[vi];
        if v.emailalertfreq == 0 {
            return;
        }
        let freq = Duration::from_secs(u64::from(v.emailalertfreq));
        let mut due = Vec::new();
        for (ri, rs) in self.virtuals[vi].reals.iter_mut().enumerate() {
            if let Some(last) = rs.last_alert {
                if rs.state == State::Down && now >= last + freq {
                    rs.last_alert = Some(now);
                    due.push(ri);
                }
            }
        }
        for ri in due {
            let v = &self.cfg.virtuals[vi];
            let subject = format!(
                "Inaccessible real server: {} ({})",
                real_name(v, &v.reals[ri]),
                v.id()
            );
            self.alert(vi, subject, actions);
        }
    }

    /// Fallback on when every real has a result and none is up; off when one is.
    fn update_fallback(&mut self, vi: usize, actions: &mut Vec<Action>) {
        let v = &self.cfg.virtuals[vi];
        let vs = &mut self.virtuals[vi];
        if vs.reals.iter().any(|r| r.state == State::Unknown) {
            return;
        }
        let any_up = vs.reals.iter().any(|r| r.state == State::Up);
        let want = !any_up;
        if want == vs.fallback_on {
            return;
        }
        vs.fallback_on = want;
        if let Some(fb) = fallback_dest(v) {
            let svc = service_of(v);
            let op = if want {
                IpvsOp::AddDest(svc, fb)
            } else {
                IpvsOp::DelDest(svc, fb)
            };
            log::info!(
                "{} fallback server for {}",
                if want { "Added" } else { "Deleted" },
                v.id()
            );
            actions.push(Action::Ipvs(op));
        }
        if let Some(cmd) = &v.fallbackcommand {
            actions.push(Action::FallbackCommand {
                command: cmd.clone(),
                start: want,
                virt: vi,
            });
        }
    }

    /// Replaces the config with `new`, keeping the state of every real that is still there
    /// with the same check. Returns the IPVS changes of the difference only.
    pub fn reload(&mut self, new: Config, now: Instant) -> Vec<Action> {
        self.status = DaemonStatus::Reloading;
        let mut actions = Vec::new();
        let old_cfg = std::mem::replace(&mut self.cfg, new);
        let old_states = std::mem::take(&mut self.virtuals);
        // Virtuals gone from the config are removed with their reals.
        for ov in &old_cfg.virtuals {
            let gone = !self
                .cfg
                .virtuals
                .iter()
                .any(|nv| service_of(nv).key == service_of(ov).key);
            if gone {
                actions.push(Action::Ipvs(IpvsOp::DelService(service_of(ov))));
            }
        }
        for vi in 0..self.cfg.virtuals.len() {
            let nv = &self.cfg.virtuals[vi];
            let nsvc = service_of(nv);
            let old = old_cfg
                .virtuals
                .iter()
                .zip(old_states.iter())
                .find(|(ov, _)| service_of(ov).key == nsvc.key);
            let Some((ov, os)) = old else {
                let vs = self.fresh_virtual(vi, &[], now, &mut actions);
                self.virtuals.push(vs);
                continue;
            };
            if service_of(ov) != nsvc {
                actions.push(Action::Ipvs(IpvsOp::EditService(nsvc.clone())));
            }
            let mut reals = Vec::new();
            for nr in &nv.reals {
                let nd = dest_of(nv, nr, nr.weight);
                let prev = ov.reals.iter().zip(os.reals.iter()).find(|(or, _)| {
                    let od = dest_of(ov, or, 0);
                    od.addr == nd.addr && od.port == nd.port
                });
                let same_check = ov.checktype == nv.checktype && ov.service == nv.service;
                match prev {
                    Some((or, ors)) => {
                        let mut rs = ors.clone();
                        if !same_check {
                            rs.failcount = 0;
                            rs.next_due = now;
                        }
                        rs.running = false;
                        rs.next_due = rs
                            .next_due
                            .min(now + Duration::from_secs(u64::from(nv.checkinterval)));
                        if rs.state == State::Up
                            && (or.weight != nr.weight
                                || or.forward != nr.forward
                                || or.lower != nr.lower
                                || or.upper != nr.upper)
                        {
                            actions.push(Action::Ipvs(IpvsOp::EditDest(nsvc.clone(), nd.clone())));
                            rs.in_table = Some(nr.weight);
                        }
                        reals.push(rs);
                    }
                    None => reals.push(RealState {
                        state: State::Unknown,
                        failcount: 0,
                        connects: match nv.checktype {
                            CheckType::Combined(n) => n,
                            _ => 0,
                        },
                        next_due: now,
                        running: false,
                        in_table: None,
                        last_alert: None,
                    }),
                }
            }
            for (or, ors) in ov.reals.iter().zip(os.reals.iter()) {
                let od = dest_of(ov, or, 0);
                let kept = nv.reals.iter().any(|nr| {
                    let nd = dest_of(nv, nr, 0);
                    nd.addr == od.addr && nd.port == od.port
                });
                if !kept && ors.in_table.is_some() {
                    actions.push(Action::Ipvs(IpvsOp::DelDest(nsvc.clone(), od)));
                }
            }
            let mut fallback_on = os.fallback_on;
            let (ofb, nfb) = (fallback_dest(ov), fallback_dest(nv));
            if fallback_on && ofb != nfb {
                if let Some(f) = ofb {
                    actions.push(Action::Ipvs(IpvsOp::DelDest(nsvc.clone(), f)));
                }
                fallback_on = false;
            }
            self.virtuals.push(VirtualState { reals, fallback_on });
            self.update_fallback(vi, &mut actions);
        }
        self.status = DaemonStatus::Running;
        actions
    }

    /// The changes of a clean stop: every virtual with cleanstop=yes is removed.
    pub fn stop(&mut self) -> Vec<Action> {
        self.status = DaemonStatus::Stopping;
        let mut actions = Vec::new();
        for (vi, v) in self.cfg.virtuals.iter().enumerate() {
            if v.cleanstop {
                actions.push(Action::Ipvs(IpvsOp::DelService(service_of(v))));
                if v.emailalert.is_some() && v.emailalertstatus & alert_status::STOPPING != 0 {
                    actions.push(Action::Alert {
                        virt: vi,
                        subject: format!("Removed virtual service {} (stopping)", v.id()),
                    });
                }
            }
        }
        actions
    }

    /// Whether a check of `id` is in flight (for the shell's bookkeeping).
    pub fn is_running(&self, id: RealId) -> bool {
        self.virtuals
            .get(id.virt)
            .and_then(|v| v.reals.get(id.real))
            .is_some_and(|r| r.running)
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
