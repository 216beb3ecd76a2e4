//! The worker process: the only one that touches the network. It owns the PIKE sockets (one
//! per heart-beat interface and per controlled interface), the ARP and ND sockets of the
//! controlled interfaces, the ICMP socket of the ping groups, the rtnetlink subscription and the control
//! socket, feeds everything into the pure `Node` core and carries out its actions (frames,
//! takeover/release, probes, GARPs, notify hooks, status file, paths file, process title).

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};

use super::config::Config;
use super::core::{Action, Input, Node};
use super::hooks::{EventFifo, HookKind, Hooks};
use super::ping_group::PingGroupState;
use super::takeover::Controlled;
use super::track::TrackState;
use crate::event::{Event, EventLoop, Token};
use crate::logging;
use crate::net::echo::EchoSockets;
use crate::net::garp::ArpProbe;
use crate::net::nd_probe::NdProbe;
use crate::net::packet::PacketSocket;
use crate::net::rtnl::{Rtnl, RtnlMonitor};
use crate::wire::ethernet::MacAddr;

pub(super) mod conntrack;
mod control;
mod net;
mod roles;
mod setup;

const T_ICMP: Token = Token(1);
const T_MONITOR: Token = Token(2);
const T_CONTROL: Token = Token(3);
/// The paths file is written at least this often (ifcheckd's freshness test).
const PATHS_REFRESH: Duration = Duration::from_secs(1);
const T_STDIN: Token = Token(4);
const T_PATH: usize = 100;
const T_ARP: usize = 1000;
const T_ND: usize = 2500;
const T_CT: usize = 4000;
const T_CONN: usize = 5000;

/// Frames read from one socket per wake-up.
const MAX_PER_WAKE: usize = 64;

/// How long a stopping worker waits for its notify hooks.
const STOP_HOOK_WAIT: Duration = Duration::from_secs(8);

/// One heart-beat path or controlled interface carrying PIKE frames.
pub(super) struct PathIo {
    pub ifname: String,
    pub mac: [u8; 6],
    pub sock: Option<PacketSocket>,
    pub local: Option<Ipv4Addr>,
    /// For a controlled interface: its index in `ctls`.
    pub ctl: Option<usize>,
    /// The interface's index and whether it is up with a carrier (heart-beat links: a lost
    /// carrier is a hint that the machine at the other end died).
    pub index: Option<u32>,
    pub carrier: bool,
}

/// A controlled interface at run time.
pub(super) struct Ctl {
    pub vc: usize,
    pub c: Controlled,
    pub arp: Option<PacketSocket>,
    /// The ND tap (an interface with IPv6 VIPs).
    pub nd: Option<PacketSocket>,
    pub probes: Vec<(ArpProbe, Instant)>,
    pub probes6: Vec<(NdProbe, Instant)>,
    /// While Master here: the macvlan's index and when the lease of its addresses is to be
    /// renewed next (`takeover::vip_lease`).
    pub lease: Option<(u32, Instant)>,
    /// The macvlan's index as last looked up (release, renewal, takeover), for the next
    /// takeover (`takeover::to_master`); forgotten when the rtnetlink monitor reports that
    /// link removed, renamed or with another MAC.
    pub known: Option<u32>,
}

/// A virtual cluster at run time.
pub(super) struct VcRun {
    pub ctls: Vec<usize>,
    pub groups: Vec<PingGroupState>,
    /// `track-process`, `track-file`, `track-script`.
    pub tracks: Vec<TrackState>,
    pub health: bool,
    /// The summed weights of the failing weighted witnesses, as the core last heard it.
    pub penalty: u8,
    pub probe_answered: bool,
    pub probing: bool,
    pub garps_sent: u64,
    /// Why the last takeover failed, for the status (the core retries it).
    pub takeover_error: Option<String>,
    /// conntrackd, when `conntrack { ... }` applies.
    pub sync: Option<conntrack::SyncRun>,
}

pub(super) struct Worker {
    pub cfg: Config,
    pub node: Node,
    pub rt: Rtnl,
    pub ev: EventLoop,
    pub paths: Vec<PathIo>,
    pub ctls: Vec<Ctl>,
    pub vcs: Vec<VcRun>,
    pub icmp: Option<EchoSockets>,
    pub ident: u16,
    pub monitor: Option<RtnlMonitor>,
    pub control: Option<UnixListener>,
    /// Control connections waiting for their request: stream, bytes so far, accepted at.
    pub conns: Vec<Option<(UnixStream, Vec<u8>, Instant)>>,
    /// Orders accepted whose clients wait for them to take effect.
    orders: Vec<control::Order>,
    /// The notify hooks, one queue per virtual cluster.
    pub hooks: Hooks,
    /// `notify-fifo`: every transition as a line, in order.
    pub fifo: Option<EventFifo>,
    /// Log lines a remote party can trigger: one per source per second.
    pub throttle: logging::Throttle<MacAddr>,
    pub detached: bool,
    pub paths_written: Option<Instant>,
    pub paths_dirty: bool,
    pub stdin_buf: Vec<u8>,
    pub started: Instant,
    /// SIGTERM/INT/QUIT seen: GOODBYE sent, exiting once the pending releases and the
    /// hooks are done.
    pub stopping: bool,
    pub stopped_at: Option<Instant>,
    pub stop_hooks_queued: bool,
    /// Interfaces taken over whose neighbour tables are still to be flushed (controlled
    /// interface, macvlan index), and when: `SETTLE_AFTER` past the takeover's frames and
    /// GARPs.
    pub unsettled: Vec<(usize, u32)>,
    pub settle_at: Option<Instant>,
    /// The sign of life to the supervisor's watchdog, at least once per hello-interval.
    pub beacon: Option<super::liveness::Beacon>,
    /// Writes the status and paths files off the loop: a busy disk's fsync must not hold
    /// back HELLOs or the sign of life.
    pub files: crate::sys::file::Writer,
    /// conntrackd jobs asked for so far, every virtual cluster's (`Job::seq`).
    pub conntrack_asked: u64,
}

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Runs the worker; returns on SIGTERM/INT/QUIT (after GOODBYE) or a fatal setup error.
/// Set (to 1) by the supervisor for the first worker it starts: a set-up that fails exits
/// with `SETUP_FAILED`, and the supervisor stops instead of retrying (a typo in an interface
/// name is reported, not retried for ever). Later workers are restarts: they exit 1 and are
/// retried with back-off (an interface may come back).
pub const FIRST_ENV: &str = "PIKEMON_FIRST_WORKER";
/// Names the fd on which the first worker tells a waiting `pikemon` start that it is set up
/// (its control socket answers) or why it is not (`sys::daemon::Detached`).
pub const REPORT_ENV: &str = "PIKEMON_SETUP_REPORT";
/// The exit status of a first worker whose set-up failed.
pub const SETUP_FAILED: i32 = 78;
/// How long after a takeover's frames and GARPs the worker flushes the neighbour tables
/// (`takeover::settle_master`; 19-25 ms of a SCHED_FIFO worker under TCG). It sleeps
/// meanwhile, and the kernel answers the first packets to the VIPs: with the flushes right
/// after the GARPs a client's first echo reply waited for them, about 10 ms in the QEMU pair.
const SETTLE_AFTER: Duration = Duration::from_millis(10);
/// How long an exiting worker waits for its last status and paths files to be written: with
/// `STOP_HOOK_WAIT`, within the 10 s the supervisor gives a stopping worker.
const FILES_FLUSH_LIMIT: Duration = Duration::from_millis(1500);

pub fn run(cfg: Config) -> ExitCode {
    let first = std::env::var_os(FIRST_ENV).is_some();
    std::env::remove_var(FIRST_ENV);
    let report = crate::sys::daemon::Detached::from_env(REPORT_ENV);
    let beacon = super::liveness::Beacon::from_env(cfg.hello_interval / 2);
    let mut w = match Worker::setup(cfg) {
        Ok(w) => w,
        Err(e) => {
            error!("worker: {e}");
            if let Some(r) = report {
                r.fail(&format!("{e}; nothing started"));
            }
            return ExitCode::from(if first { SETUP_FAILED as u8 } else { 1 });
        }
    };
    // The first byte tells the supervisor that this worker is set up (before the starting
    // process hears it: a worker gone between the two is then a restart, not a failed start).
    w.beacon = beacon;
    w.beat(Instant::now());
    if let Some(r) = report {
        r.ready();
    }
    w.main_loop()
}

impl Worker {
    fn main_loop(&mut self) -> ExitCode {
        let mut events = Vec::new();
        loop {
            let now = Instant::now();
            let wait = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(now));
            if let Err(e) = self.ev.wait(&mut events, wait) {
                error!("event loop: {e}");
                self.flush_files();
                return ExitCode::from(1);
            }
            let list: Vec<Event> = std::mem::take(&mut events);
            for e in list {
                let now = Instant::now();
                match e {
                    Event::Readable(Token(t)) if (T_PATH..T_ARP).contains(&t) => {
                        self.read_path(now, t - T_PATH)
                    }
                    Event::Readable(Token(t)) if (T_ARP..T_ND).contains(&t) => {
                        self.read_arp(now, t - T_ARP)
                    }
                    Event::Readable(Token(t)) if (T_ND..T_CT).contains(&t) => {
                        self.read_nd(now, t - T_ND)
                    }
                    Event::Readable(Token(t)) if (T_CT..T_CONN).contains(&t) => {
                        self.read_conntrack(now, t - T_CT)
                    }
                    Event::Readable(Token(t)) if t >= T_CONN => self.read_conn(now, t - T_CONN),
                    Event::Readable(T_ICMP) => self.read_icmp(now),
                    Event::Readable(T_MONITOR) => self.read_monitor(now),
                    Event::Readable(T_CONTROL) => self.accept_control(now),
                    Event::Readable(T_STDIN) => self.read_stdin(now),
                    Event::Signal(libc::SIGTERM | libc::SIGINT | libc::SIGQUIT)
                        if !self.stopping =>
                    {
                        info!("stopping: dropping Master, sending GOODBYE");
                        self.stopping = true;
                        self.stopped_at = Some(now);
                        let acts = self.node.handle(now, Input::Shutdown);
                        self.apply(now, acts);
                    }
                    Event::Signal(libc::SIGHUP) => self.detach(),
                    Event::Signal(libc::SIGUSR1) => info!("log level {}", logging::raise()),
                    Event::Signal(libc::SIGUSR2) => warn!("log level {}", logging::lower()),
                    Event::Signal(libc::SIGPWR) => {
                        for line in self.status_text().lines() {
                            info!("status: {line}");
                        }
                    }
                    Event::Signal(libc::SIGCHLD) => self.hooks.tick(now),
                    _ => {}
                }
            }
            self.tick(Instant::now());
            self.beat(Instant::now());
            self.answer_orders(Instant::now());
            if self.stopping && !self.node.releasing() {
                if !self.stop_hooks_queued {
                    // After every Backup hook the releases queued: notify-stop last.
                    self.stop_hooks_queued = true;
                    let now = Instant::now();
                    for vi in 0..self.vcs.len() {
                        self.notify(now, vi, HookKind::Stop);
                    }
                    self.write_status();
                    self.files.remove(&self.cfg.paths_file);
                    // After SIGHUP the socket path is the new instance's already.
                    // Out of the poll set before it closes: a closed fd there is POLLNVAL
                    // on every wait, and the stop hook's seconds became a busy loop.
                    if let Some(l) = self.control.take() {
                        self.ev.deregister(l.as_raw_fd());
                        let _ = std::fs::remove_file(&self.cfg.control_socket);
                    }
                }
                // The supervisor gives a stopping worker 10 s: hooks still busy after
                // STOP_HOOK_WAIT keep running on their own.
                let waited = self.stopped_at.map_or(Duration::ZERO, |t| t.elapsed());
                // The release's `-t -n` too: each request is bounded by commit-timeout.
                let conntrack_idle = self.vcs.iter().flat_map(|v| &v.sync).all(|s| s.idle());
                if (self.hooks.idle() && conntrack_idle) || waited >= STOP_HOOK_WAIT {
                    if !self.hooks.idle() {
                        warn!("exiting with notify hooks still running");
                    }
                    if !conntrack_idle {
                        warn!("exiting with conntrackd requests unanswered");
                    }
                    self.flush_files();
                    return ExitCode::SUCCESS;
                }
            }
        }
    }

    /// Waits (bounded) for the status and paths files handed to the writer thread.
    /// Beats while it waits: the supervisor's watchdog still watches a stopping worker.
    fn flush_files(&mut self) {
        let until = Instant::now() + FILES_FLUSH_LIMIT;
        let step = (self.cfg.hello_interval / 2).max(Duration::from_millis(5));
        while !self.files.flush(step) {
            self.beat(Instant::now());
            if Instant::now() >= until {
                warn!(
                    "exiting before the status file was written ({} ms, a stalled disk?)",
                    FILES_FLUSH_LIMIT.as_millis()
                );
                return;
            }
        }
    }

    /// Tells the supervisor this loop turns (a hung worker is killed and its addresses
    /// released: see `watchdog`). The loop wakes at least once per hello-interval.
    fn beat(&mut self, now: Instant) {
        if let Some(b) = self.beacon.as_mut() {
            b.beat(now);
        }
    }

    /// The earliest moment something is due.
    fn next_deadline(&self) -> Option<Instant> {
        let mut d = self.node.next_deadline();
        let mut min = |t: Instant| d = Some(d.map_or(t, |x| x.min(t)));
        for v in &self.vcs {
            for g in &v.groups {
                min(g.next_deadline());
            }
            for t in &v.tracks {
                min(t.next_deadline());
            }
            if let Some(t) = v
                .sync
                .as_ref()
                .and_then(|s| s.next_deadline(Instant::now(), !self.stopping))
            {
                min(t);
            }
        }
        for c in &self.ctls {
            if let Some((_, t)) = c.lease {
                min(t);
            }
            for t in c
                .probes
                .iter()
                .map(|p| p.1)
                .chain(c.probes6.iter().map(|p| p.1))
            {
                min(t);
            }
        }
        if let Some(t) = self.paths_written {
            min(t + PATHS_REFRESH);
        }
        if let Some(t) = self.hooks.next_deadline() {
            min(t);
        }
        if let Some(t) = self.next_order_deadline() {
            min(t);
        }
        if let Some(t) = self.stopped_at.filter(|_| self.stop_hooks_queued) {
            min(t + STOP_HOOK_WAIT);
        }
        if let Some(t) = self.beacon.as_ref().and_then(|b| b.due()) {
            min(t);
        }
        if let Some(t) = self.settle_at {
            min(t);
        }
        d
    }

    /// Everything time-driven: the core, ping groups, GARPs, probes, the paths file.
    fn tick(&mut self, now: Instant) {
        // A hook past its notify-timeout is killed here: its end (SIGCHLD) may never come,
        // and its deadline, left in the past, would wake the loop without end.
        if self.hooks.next_deadline().is_some_and(|d| d <= now) {
            self.hooks.tick(now);
        }
        if self.node.next_deadline().is_some_and(|d| d <= now) {
            let acts = self.node.handle(now, Input::Tick);
            self.apply(now, acts);
        }
        for vi in 0..self.vcs.len() {
            let mut echoes = Vec::new();
            for g in &mut self.vcs[vi].groups {
                echoes.extend(g.on_timer(now));
            }
            for t in &mut self.vcs[vi].tracks {
                if t.on_timer(now) {
                    let what = format!("{} {}", t.track.item(), t.track.target());
                    if t.up {
                        info!("vc {}: {what} up", self.cfg.virtual_clusters[vi].name);
                    } else {
                        warn!("vc {}: {what} down", self.cfg.virtual_clusters[vi].name);
                    }
                }
            }
            if let Some(s) = &self.icmp {
                for e in echoes {
                    if let Err(err) = s.send_echo(e.addr, self.ident, e.seq, &e.data()) {
                        debug!("ping {}: {err}", e.addr);
                    }
                }
            }
            self.update_health(now, vi);
        }
        self.probe_tick(now);
        if self.settle_at.is_some_and(|t| now >= t) {
            self.settle();
        }
        self.conntrack_tick(now);
        self.renew_leases(now);
        // Once a second whatever the paths say: a file left unwritten while no path was up
        // kept its deadline in the past (the loop spun at full CPU, SCHED_FIFO with
        // `realtime`, for as long as the peer was gone), and ifcheckd took it for a
        // vanished pikemon.
        let due = self.paths_written.is_none_or(|t| now >= t + PATHS_REFRESH);
        if self.paths_dirty || due {
            self.write_paths(now);
        }
    }

    /// Carries out the core's actions, frames first (a GOODBYE or a release reaches the
    /// peer before the addresses go) and GARPs next (a takeover's first GARP does not wait
    /// for conntrackd's flush request: `urgency`). What a takeover did goes back to the core,
    /// and what that answers is carried out in turn; the neighbour flushes of a takeover
    /// come last.
    fn apply(&mut self, now: Instant, actions: Vec<Action>) {
        let mut queue: std::collections::VecDeque<Action> = actions.into();
        let mut roles_changed = false;
        // The interfaces this call takes over (`unsettled` entries it adds).
        let mut fresh = Vec::new();
        while let Some(a) = next_action(&mut queue) {
            match a {
                Action::Send(repr) => self.send(&repr),
                Action::TakeOver { vc, reason, hook } => {
                    let before = self.unsettled.len();
                    let ok = self.take_over(vc, reason, hook, now);
                    fresh.extend_from_slice(&self.unsettled[before..]);
                    queue.extend(self.node.handle(now, Input::TookOver { vc, ok }));
                    roles_changed = true;
                }
                Action::Release { vc, reason, hook } => {
                    self.release(now, vc, reason, hook);
                    roles_changed = true;
                }
                Action::Probe { vc } => self.start_probe(now, vc),
                Action::Conntrack { vc, step } => self.conntrack_step(now, vc, step),
                Action::Garp { vc } => self.send_garps(vc),
                Action::Path { path, up } => {
                    let name = self.paths.get(path).map_or("?", |p| p.ifname.as_str());
                    if up {
                        info!("heart-beat path {name} UP");
                    } else {
                        warn!("heart-beat path {name} FAULTY (no HELLO within dead-interval)");
                    }
                    self.paths_dirty = true;
                }
            }
        }
        // Not those released again meanwhile (`release` drops their entries).
        fresh.retain(|e| self.unsettled.contains(e));
        if !fresh.is_empty() {
            // The IPv6 prefix routes at once; the flushes once the worker has slept, counted
            // from now: the takeover's netlink work took most of the time since `now`.
            self.routes6_back(&fresh);
            self.settle_at = Some(Instant::now() + SETTLE_AFTER);
        }
        if roles_changed {
            self.write_status();
            self.set_title();
        }
    }
}

/// Frames out first, then GARPs, then the rest in the core's order; a path's change (a log
/// line and the paths file, written later anyway) last: at the end of a dead peer's
/// dead-interval its three FAULTY lines came before the takeover (2.6 ms under TCG).
fn urgency(a: &Action) -> u8 {
    match a {
        Action::Send(_) => 0,
        // A probe's first requests go out before conntrackd's pre-commit request (under
        // TCG its start took 12-14 ms of the probe's 75).
        Action::Garp { .. } | Action::Probe { .. } => 1,
        Action::Path { .. } => 3,
        _ => 2,
    }
}

/// The next action `apply` carries out: the first of the most urgent kind.
fn next_action(queue: &mut std::collections::VecDeque<Action>) -> Option<Action> {
    let i = (0..queue.len()).min_by_key(|&i| (urgency(&queue[i]), i))?;
    queue.remove(i)
}

#[cfg(test)]
mod tests {
    use super::super::core::{Reason, SyncStep};
    use super::*;

    #[test]
    fn takeover_waited_for_the_dead_peers_faulty_path_lines() {
        // The end of a dead peer's dead-interval: its paths go FAULTY in the same tick as
        // the takeover; the addresses do not wait for their log lines.
        let mut queue: std::collections::VecDeque<Action> = vec![
            Action::Path { path: 0, up: false },
            Action::Path { path: 1, up: false },
            Action::TakeOver {
                vc: 0,
                reason: Reason::PeerSilent,
                hook: true,
            },
            Action::Conntrack {
                vc: 0,
                step: SyncStep::Commit,
            },
        ]
        .into();
        let first = next_action(&mut queue);
        assert!(matches!(first, Some(Action::TakeOver { .. })), "{first:?}");
        let second = next_action(&mut queue);
        assert!(
            matches!(second, Some(Action::Conntrack { .. })),
            "{second:?}"
        );
    }

    #[test]
    fn first_garp_waited_for_the_conntrack_flush_request() {
        // What the core answers a takeover with: conntrackd's after-takeover step, then the
        // GARP burst; a path change queued before them.
        let mut queue: std::collections::VecDeque<Action> = vec![
            Action::Path { path: 0, up: false },
            Action::Conntrack {
                vc: 0,
                step: SyncStep::AfterTakeover,
            },
            Action::Garp { vc: 0 },
            Action::Probe { vc: 1 },
            Action::Garp { vc: 1 },
        ]
        .into();
        let mut order = Vec::new();
        while let Some(a) = next_action(&mut queue) {
            order.push(a);
        }
        assert_eq!(
            order,
            vec![
                Action::Garp { vc: 0 },
                Action::Probe { vc: 1 },
                Action::Garp { vc: 1 },
                Action::Conntrack {
                    vc: 0,
                    step: SyncStep::AfterTakeover
                },
                Action::Path { path: 0, up: false },
            ]
        );
    }
}
