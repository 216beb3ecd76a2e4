//! The worker process: the only one that touches the network. It owns the PIKE sockets (one
//! per heart-beat interface and per controlled interface), the ARP sockets of the controlled
//! interfaces, the ICMP socket of the ping groups, the rtnetlink subscription and the control
//! socket, feeds everything into the pure `Node` core and carries out its actions (frames,
//! takeover/release, probes, GARPs, notify hooks, status file, paths file, process title).

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use log::{debug, error, info, warn};

use super::config::Config;
use super::control::{Reply, Request};
use super::core::election::Admin;
use super::core::{Action, Input, Node, Reason, Settings, VcSettings};
use super::hooks::{HookJob, HookKind, Hooks};
use super::paths_file::{self, PathLine};
use super::ping_group::PingGroupState;
use super::status_file::{self, SavedRole, Status};
use super::takeover::{self, Controlled};
use crate::event::{Event, EventLoop, Interest, Token};
use crate::logging;
use crate::net::garp::{ArpProbe, ProbeStep};
use crate::net::icmp::IcmpSocket;
use crate::net::packet::{PacketKind, PacketSocket, ETHERTYPE_ARP};
use crate::net::rtnl::{Rtnl, RtnlEvent, RtnlMonitor};
use crate::wire::ethernet::MacAddr;
use crate::wire::pike;

const T_ICMP: Token = Token(1);
const T_MONITOR: Token = Token(2);
const T_CONTROL: Token = Token(3);
const T_STDIN: Token = Token(4);
const T_PATH: usize = 100;
const T_ARP: usize = 1000;
const T_CONN: usize = 5000;

/// Frames read from one socket per wake-up.
const MAX_PER_WAKE: usize = 64;

/// How long a stopping worker waits for its notify hooks.
const STOP_HOOK_WAIT: Duration = Duration::from_secs(8);

/// How long a VIP probe listens after each of its requests, and how many it sends.
const PROBE_TRIES: u32 = 3;

/// One heart-beat path or controlled interface carrying PIKE frames.
pub(super) struct PathIo {
    pub ifname: String,
    pub mac: [u8; 6],
    pub sock: Option<PacketSocket>,
    pub local: Option<Ipv4Addr>,
    /// For a controlled interface: its index in `ctls`.
    pub ctl: Option<usize>,
}

/// A controlled interface at run time.
pub(super) struct Ctl {
    pub vc: usize,
    pub c: Controlled,
    pub arp: Option<PacketSocket>,
    pub probes: Vec<(ArpProbe, Instant)>,
}

/// A virtual cluster at run time.
pub(super) struct VcRun {
    pub ctls: Vec<usize>,
    pub groups: Vec<PingGroupState>,
    pub health: bool,
    pub probe_answered: bool,
    pub probing: bool,
    pub garps_sent: u64,
    /// Why the last takeover failed, for the status (the core retries it).
    pub takeover_error: Option<String>,
}

pub(super) struct Worker {
    pub cfg: Config,
    pub node: Node,
    pub rt: Rtnl,
    pub ev: EventLoop,
    pub paths: Vec<PathIo>,
    pub ctls: Vec<Ctl>,
    pub vcs: Vec<VcRun>,
    pub icmp: Option<IcmpSocket>,
    pub ident: u16,
    pub monitor: Option<RtnlMonitor>,
    pub control: Option<UnixListener>,
    pub conns: Vec<Option<(UnixStream, Vec<u8>)>>,
    /// The notify hooks, one queue per virtual cluster.
    pub hooks: Hooks,
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
}

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Runs the worker; returns on SIGTERM/INT/QUIT (after GOODBYE) or a fatal setup error.
pub fn run(cfg: Config) -> ExitCode {
    let mut w = match Worker::setup(cfg) {
        Ok(w) => w,
        Err(e) => {
            error!("worker: {e}");
            return ExitCode::from(1);
        }
    };
    w.main_loop()
}

impl Worker {
    fn setup(cfg: Config) -> Result<Worker, String> {
        if let Some(priority) = cfg.realtime {
            // CPU starvation must not delay HELLOs into a false failover (keepalived's
            // vrrp_rt_priority / vrrp_no_swap). Without the privilege, run normally.
            match crate::sys::sched::fifo(priority) {
                Ok(()) => info!("worker: SCHED_FIFO priority {priority}"),
                Err(e) => warn!("worker: SCHED_FIFO priority {priority}: {e}"),
            }
            if let Err(e) = crate::sys::sched::lock_memory() {
                warn!("worker: mlockall: {e}");
            }
        }
        let now = Instant::now();
        // The boot counter is persisted before any frame carries it.
        let (boot, old) = status_file::next_boot(&cfg.status_file)
            .map_err(err(&cfg.status_file.display().to_string()))?;
        let mut rt = Rtnl::open().map_err(|e| e.to_string())?;
        let monitor = RtnlMonitor::open().map_err(|e| e.to_string())?;
        let mut ev = EventLoop::new();
        ev.watch_signals(&[
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGPWR,
            libc::SIGCHLD,
        ])
        .map_err(err("signals"))?;
        ev.register(monitor.as_raw_fd(), T_MONITOR, Interest::Read);

        let mut paths = Vec::new();
        for name in &cfg.heart_beat {
            paths.push(open_path(&mut rt, name, None));
        }
        let mut ctls = Vec::new();
        let mut vcs = Vec::new();
        let mut resume = Vec::new();
        for (vi, vc) in cfg.virtual_clusters.iter().enumerate() {
            let mut run = VcRun {
                ctls: Vec::new(),
                groups: vc
                    .ping_groups
                    .iter()
                    .map(|g| PingGroupState::new(g.clone(), now))
                    .collect(),
                health: true,
                probe_answered: false,
                probing: false,
                garps_sent: 0,
                takeover_error: None,
            };
            let mut all_up = true;
            for ci in &vc.interfaces {
                let c = takeover::prepare(&mut rt, ci, vc.id)?;
                all_up &= macvlan_up(&mut rt, &c);
                // A tap: the other Master's ARP from the shared virtual MAC would otherwise go
                // to our macvlan, not to this socket (see PacketSocket::tap).
                let arp = match PacketSocket::tap(c.parent, ETHERTYPE_ARP) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        warn!("{}: ARP socket: {e}", c.ifname);
                        None
                    }
                };
                let idx = ctls.len();
                paths.push(open_path(&mut rt, &c.ifname, Some(idx)));
                run.ctls.push(idx);
                ctls.push(Ctl {
                    vc: vi,
                    c,
                    arp,
                    probes: Vec::new(),
                });
            }
            // Resume Master only when the saved role says so *and* the addresses are still
            // up (a worker restart or an upgrade); after a reboot, listen first.
            let saved = old.as_ref().and_then(|s| s.role(vc.id));
            resume.push((saved == Some(true) && all_up).then_some(true));
            vcs.push(run);
        }
        for (i, p) in paths.iter().enumerate() {
            if let Some(s) = &p.sock {
                ev.register(s.as_raw_fd(), Token(T_PATH + i), Interest::Read);
            }
        }
        for (i, c) in ctls.iter().enumerate() {
            if let Some(s) = &c.arp {
                ev.register(s.as_raw_fd(), Token(T_ARP + i), Interest::Read);
            }
        }
        let icmp = if vcs.iter().any(|v| !v.groups.is_empty()) {
            let s = IcmpSocket::new().map_err(err("ICMP socket"))?;
            ev.register(s.as_raw_fd(), T_ICMP, Interest::Read);
            Some(s)
        } else {
            None
        };
        let control = bind_control(&cfg)?;
        if let Some(l) = &control {
            ev.register(l.as_raw_fd(), T_CONTROL, Interest::Read);
        }
        if set_nonblocking_stdin() {
            ev.register(0, T_STDIN, Interest::Read);
        }
        let settings = Settings {
            node_id: cfg.node_id,
            cluster_id: cfg.cluster_id,
            hello: cfg.hello_interval,
            dead: cfg.dead_interval,
            keys: cfg.keys.iter().map(|k| (k.id, k.secret.clone())).collect(),
            paths: paths.len(),
            vcs: cfg
                .virtual_clusters
                .iter()
                .map(|v| VcSettings {
                    vcid: v.id,
                    name: v.name.clone(),
                    preferred: v.primary == Some(cfg.node_id),
                    preemptive: v.preemptive,
                    preempt_delay: v.preempt_delay,
                    priority: v.priority,
                })
                .collect(),
            garp_repeat: cfg.garp_repeat,
            garp_interval: cfg.garp_interval,
            garp_keepalive: cfg.garp_keepalive,
        };
        // A fresh incarnation per start: the peer's freshness rules key on it, not on the
        // persisted boot counter, which a restored or reset status file can roll back.
        let incarnation = crate::sys::random::u32()
            .map_err(err("random incarnation"))?
            .max(1);
        let node = Node::new(now, settings, boot, incarnation, &resume);
        info!(
            "worker boot {boot} (incarnation {incarnation:08x}): {} path(s), {} virtual cluster(s)",
            paths.len(),
            vcs.len()
        );
        let hooks = Hooks::new(
            cfg.virtual_clusters
                .iter()
                .map(|v| v.notify_timeout)
                .collect(),
        );
        let mut w = Worker {
            cfg,
            node,
            rt,
            ev,
            paths,
            ctls,
            vcs,
            icmp,
            ident: (std::process::id() & 0xffff) as u16,
            monitor: Some(monitor),
            control,
            conns: Vec::new(),
            hooks,
            throttle: logging::Throttle::new(Duration::from_secs(1)),
            detached: false,
            paths_written: None,
            paths_dirty: true,
            stdin_buf: Vec::new(),
            // Once the sockets are bound (setup takes ~50 ms): from here the worker hears.
            started: Instant::now(),
            stopping: false,
            stopped_at: None,
            stop_hooks_queued: false,
        };
        let acts = w.node.start();
        w.apply(now, acts);
        w.write_status();
        w.set_title();
        w.finish_handover();
        Ok(w)
    }

    fn main_loop(&mut self) -> ExitCode {
        let mut events = Vec::new();
        loop {
            let now = Instant::now();
            let wait = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(now));
            if let Err(e) = self.ev.wait(&mut events, wait) {
                error!("event loop: {e}");
                return ExitCode::from(1);
            }
            let list: Vec<Event> = std::mem::take(&mut events);
            for e in list {
                let now = Instant::now();
                match e {
                    Event::Readable(Token(t)) if (T_PATH..T_ARP).contains(&t) => {
                        self.read_path(now, t - T_PATH)
                    }
                    Event::Readable(Token(t)) if (T_ARP..T_CONN).contains(&t) => {
                        self.read_arp(now, t - T_ARP)
                    }
                    Event::Readable(Token(t)) if t >= T_CONN => self.read_conn(now, t - T_CONN),
                    Event::Readable(T_ICMP) => self.read_icmp(now),
                    Event::Readable(T_MONITOR) => self.read_monitor(now),
                    Event::Readable(T_CONTROL) => self.accept_control(),
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
            if self.stopping && !self.node.releasing() {
                if !self.stop_hooks_queued {
                    // After every Backup hook the releases queued: notify-stop last.
                    self.stop_hooks_queued = true;
                    let now = Instant::now();
                    for vi in 0..self.vcs.len() {
                        self.notify(now, vi, HookKind::Stop);
                    }
                    self.write_status();
                    let _ = std::fs::remove_file(&self.cfg.paths_file);
                    // After SIGHUP the socket path is the new instance's already.
                    if self.control.take().is_some() {
                        let _ = std::fs::remove_file(&self.cfg.control_socket);
                    }
                }
                // The supervisor gives a stopping worker 10 s: hooks still busy after
                // STOP_HOOK_WAIT keep running on their own.
                let waited = self.stopped_at.map_or(Duration::ZERO, |t| t.elapsed());
                if self.hooks.idle() || waited >= STOP_HOOK_WAIT {
                    if !self.hooks.idle() {
                        warn!("exiting with notify hooks still running");
                    }
                    return ExitCode::SUCCESS;
                }
            }
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
        }
        for c in &self.ctls {
            for (_, t) in &c.probes {
                min(*t);
            }
        }
        if let Some(t) = self.paths_written {
            min(t + Duration::from_secs(1));
        }
        if let Some(t) = self.hooks.next_deadline() {
            min(t);
        }
        if let Some(t) = self.stopped_at.filter(|_| self.stop_hooks_queued) {
            min(t + STOP_HOOK_WAIT);
        }
        d
    }

    /// Everything time-driven: the core, ping groups, GARPs, probes, the paths file.
    fn tick(&mut self, now: Instant) {
        if self.node.next_deadline().is_some_and(|d| d <= now) {
            let acts = self.node.handle(now, Input::Tick);
            self.apply(now, acts);
        }
        for vi in 0..self.vcs.len() {
            let mut echoes = Vec::new();
            for g in &mut self.vcs[vi].groups {
                echoes.extend(g.on_timer(now));
            }
            if let Some(s) = &self.icmp {
                for e in echoes {
                    if let Err(err) = s.send_echo(e.addr, self.ident, e.seq, b"pikemon") {
                        debug!("ping {}: {err}", e.addr);
                    }
                }
            }
            self.update_health(now, vi);
        }
        self.probe_tick(now);
        let any_up = self
            .node
            .peer()
            .is_some_and(|p| p.paths.iter().any(|x| x.up));
        let due = self
            .paths_written
            .is_none_or(|t| now >= t + Duration::from_secs(1));
        if self.paths_dirty || (any_up && due) {
            self.write_paths(now);
        }
    }

    /// Carries out the core's actions, frames first (a GOODBYE or a release reaches the
    /// peer before the addresses go). What a takeover did goes back to the core, and what
    /// that answers is carried out in turn.
    fn apply(&mut self, now: Instant, actions: Vec<Action>) {
        let mut queue: std::collections::VecDeque<Action> = actions.into();
        let mut roles_changed = false;
        while !queue.is_empty() {
            if let Some(i) = queue.iter().position(|a| matches!(a, Action::Send(_))) {
                if let Some(Action::Send(repr)) = queue.remove(i) {
                    self.send(&repr);
                }
                continue;
            }
            let Some(a) = queue.pop_front() else { break };
            match a {
                Action::Send(_) => {}
                Action::TakeOver { vc, reason, hook } => {
                    let ok = self.take_over(vc, reason, hook, now);
                    queue.extend(self.node.handle(now, Input::TookOver { vc, ok }));
                    roles_changed = true;
                }
                Action::Release { vc, reason, hook } => {
                    self.release(now, vc, reason, hook);
                    roles_changed = true;
                }
                Action::Probe { vc } => self.start_probe(now, vc),
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
        if roles_changed {
            self.write_status();
            self.set_title();
        }
    }

    fn send(&mut self, repr: &pike::Repr) {
        let key = self.node.signing_key().to_vec();
        for (i, p) in self.paths.iter().enumerate() {
            let Some(sock) = &p.sock else { continue };
            // The master sends on a controlled interface from the virtual MAC, which keeps
            // the switches' tables pointing at it — not while its role is only resumed (a
            // peer that took over meanwhile keeps the traffic until that is settled), nor
            // in the frame that yields the role.
            let src = match p.ctl {
                Some(c) if self.node.sends_from_vmac(self.ctls[c].vc) => self.ctls[c].c.vmac.0,
                Some(_) => p.mac,
                None => p.mac,
            };
            let mut r = repr.clone();
            r.path_id = u8::try_from(i).unwrap_or(u8::MAX);
            let frame = pike::build_frame(&r, &key, &src);
            if let Err(e) = sock.send(&frame) {
                debug!("send on {}: {e}", p.ifname);
            }
        }
    }

    /// Brings the addresses of virtual cluster `vi` up on every controlled interface (the
    /// Master hook first when `hook`). A failure is kept for the status; the core counts
    /// the virtual cluster as unhealthy and asks again.
    fn take_over(&mut self, vi: usize, reason: Reason, hook: bool, now: Instant) -> bool {
        let name = self.cfg.virtual_clusters[vi].name.clone();
        let mut failed = None;
        for &ci in &self.vcs[vi].ctls {
            let c = &self.ctls[ci].c;
            if let Err(e) = takeover::to_master(&mut self.rt, c) {
                error!("vc {name}: takeover on {}: {e}", c.ifname);
                failed = Some(format!("{}: {e}", c.ifname));
            }
        }
        if reason != Reason::Retry {
            info!("vc {name}: Master ({reason})");
        }
        if hook {
            self.notify(now, vi, HookKind::Master);
        }
        let ok = failed.is_none();
        self.vcs[vi].takeover_error = failed;
        ok
    }

    /// Lets the addresses of virtual cluster `vi` go (the Backup hook after, when `hook`).
    fn release(&mut self, now: Instant, vi: usize, reason: Reason, hook: bool) {
        self.vcs[vi].takeover_error = None;
        for &ci in &self.vcs[vi].ctls {
            if let Err(e) = takeover::to_backup(&mut self.rt, &self.ctls[ci].c) {
                error!("release on {}: {e}", self.ctls[ci].c.ifname);
            }
        }
        if reason != Reason::Start {
            info!(
                "vc {}: Backup ({reason})",
                self.cfg.virtual_clusters[vi].name
            );
        }
        if hook {
            self.notify(now, vi, HookKind::Backup);
        }
    }

    /// One burst of gratuitous ARPs on every controlled interface of `vi`.
    fn send_garps(&mut self, vi: usize) {
        for &ci in &self.vcs[vi].ctls {
            let c = &self.ctls[ci];
            if let Some(s) = &c.arp {
                if let Err(e) = takeover::garp(s, &c.c) {
                    debug!("GARP on {}: {e}", c.c.ifname);
                }
            }
        }
        self.vcs[vi].garps_sent += 1;
    }

    /// Queues the hook of `kind` for virtual cluster `vi` (hooks::Hooks runs them in order).
    fn notify(&mut self, now: Instant, vi: usize, kind: HookKind) {
        let vc = &self.cfg.virtual_clusters[vi];
        let cmd = match kind {
            HookKind::Master => &vc.notify_master,
            HookKind::Backup => &vc.notify_backup,
            HookKind::Fault => &vc.notify_fault,
            HookKind::Stop => &vc.notify_stop,
        };
        let Some(command) = cmd.clone() else { return };
        let reason = self
            .node
            .vc(vi)
            .map_or_else(String::new, |v| v.reason.to_string());
        let job = HookJob {
            kind,
            command,
            vc: vc.name.clone(),
            vcid: vc.id,
            reason,
        };
        self.hooks.push(now, vi, job);
    }

    fn start_probe(&mut self, now: Instant, vi: usize) {
        let interval = (self.cfg.hello_interval / 4)
            .clamp(Duration::from_millis(5), Duration::from_millis(200));
        self.vcs[vi].probe_answered = false;
        self.vcs[vi].probing = true;
        for &ci in &self.vcs[vi].ctls.clone() {
            let c = &mut self.ctls[ci];
            for (vip, _) in &c.c.vips {
                let p = ArpProbe::new(
                    c.c.parent_mac,
                    Ipv4Addr::UNSPECIFIED,
                    *vip,
                    PROBE_TRIES,
                    interval,
                );
                c.probes.push((p, now));
            }
        }
        self.probe_tick(now);
    }

    fn probe_tick(&mut self, now: Instant) {
        for ci in 0..self.ctls.len() {
            let c = &mut self.ctls[ci];
            let mut keep = Vec::new();
            for (mut p, at) in std::mem::take(&mut c.probes) {
                if now < at {
                    keep.push((p, at));
                    continue;
                }
                match p.on_timer(now) {
                    ProbeStep::Send(frame, next) => {
                        if let Some(s) = &c.arp {
                            let _ = s.send(&frame);
                        }
                        keep.push((p, next));
                    }
                    ProbeStep::Wait(next) => keep.push((p, next)),
                    ProbeStep::Unanswered => {}
                }
            }
            c.probes = keep;
        }
        for vi in 0..self.vcs.len() {
            if !self.vcs[vi].probing {
                continue;
            }
            let pending = self.vcs[vi]
                .ctls
                .iter()
                .any(|&ci| !self.ctls[ci].probes.is_empty());
            if !pending || self.vcs[vi].probe_answered {
                self.vcs[vi].probing = false;
                for &ci in &self.vcs[vi].ctls {
                    self.ctls[ci].probes.clear();
                }
                let answered = self.vcs[vi].probe_answered;
                let acts = self.node.handle(now, Input::ProbeDone { vc: vi, answered });
                self.apply(now, acts);
            }
        }
    }

    fn read_path(&mut self, now: Instant, path: usize) {
        // At most MAX_PER_WAKE frames per wake-up: the HELLOs and the other sockets get
        // their turn under a flood (poll reports the rest again at once).
        for _ in 0..MAX_PER_WAKE {
            let got = match self.paths.get(path).and_then(|p| p.sock.as_ref()) {
                Some(s) => s.recv(),
                None => return,
            };
            match got {
                Ok(Some((frame, src))) => {
                    if src.kind == PacketKind::Outgoing {
                        continue;
                    }
                    let acts = self.node.handle(
                        now,
                        Input::Frame {
                            path,
                            frame: &frame,
                        },
                    );
                    self.apply(now, acts);
                }
                Ok(None) => return,
                Err(e) => {
                    debug!("recv on path {path}: {e}");
                    return;
                }
            }
        }
    }

    fn read_arp(&mut self, now: Instant, ci: usize) {
        // At most MAX_PER_WAKE frames per wake-up: the HELLOs and the other sockets get
        // their turn under a flood (poll reports the rest again at once).
        for _ in 0..MAX_PER_WAKE {
            let got = match self.ctls.get(ci).and_then(|c| c.arp.as_ref()) {
                Some(s) => s.recv(),
                None => return,
            };
            let (frame, src) = match got {
                Ok(Some(x)) => x,
                Ok(None) => return,
                Err(e) => {
                    debug!("ARP recv: {e}");
                    return;
                }
            };
            if src.kind == PacketKind::Outgoing {
                continue;
            }
            let c = &self.ctls[ci];
            let vi = c.vc;
            let vmac = c.c.vmac;
            if self.node.claims(vi) {
                if let (Some(reply), Some(s)) =
                    (takeover::arp_reply_for(&frame, vmac, &c.c.vips), &c.arp)
                {
                    if let Err(e) = s.send(&reply) {
                        debug!("ARP reply on {}: {e}", c.c.ifname);
                    }
                }
            }
            let from_vmac = frame.get(6..12) == Some(&vmac.0[..]);
            for (p, _) in &c.probes {
                match p.answer(&frame) {
                    Some(mac) if mac == vmac => self.vcs[vi].probe_answered = true,
                    Some(mac) => {
                        if let Some(held) = self.throttle.allow(mac, now) {
                            warn!(
                                "probe: a VIP is answered by {mac}, not our virtual MAC \
                                 ({held} more such lines held back)"
                            );
                        }
                    }
                    None => {}
                }
            }
            if from_vmac && self.node.claims(vi) {
                let acts = self.node.handle(now, Input::Conflict { vc: vi });
                self.apply(now, acts);
            }
        }
    }

    fn read_icmp(&mut self, now: Instant) {
        let Some(s) = &self.icmp else { return };
        let mut buf = vec![0u8; 2048];
        for _ in 0..MAX_PER_WAKE {
            match s.recv(&mut buf) {
                Ok(Some(r)) => {
                    if let Some((seq, _)) = r.echo_reply(self.ident) {
                        let from = r.datagram.src_addr;
                        // A fresh clock per reply: the loop's `now` is one instant for every
                        // reply drained here, which gave every ping group the same RTT.
                        let arrived = Instant::now();
                        for v in &mut self.vcs {
                            for g in &mut v.groups {
                                g.on_reply(from, seq, arrived);
                            }
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    debug!("ICMP recv: {e}");
                    break;
                }
            }
        }
        for vi in 0..self.vcs.len() {
            self.update_health(now, vi);
        }
    }

    fn read_monitor(&mut self, now: Instant) {
        let events = match self.monitor.as_mut().map(RtnlMonitor::recv) {
            Some(Ok(e)) => e,
            Some(Err(e)) => {
                warn!("rtnetlink events: {e}");
                return;
            }
            None => return,
        };
        let mut refresh = false;
        for e in events {
            match e {
                RtnlEvent::Link(l) => {
                    for c in &mut self.ctls {
                        if c.c.parent == l.index {
                            let up = l.is_up() && l.has_carrier();
                            if up != c.c.link_up {
                                info!("link {} {}", c.c.ifname, if up { "up" } else { "down" });
                                c.c.link_up = up;
                            }
                        }
                    }
                }
                RtnlEvent::LinkRemoved(l) => {
                    for c in &mut self.ctls {
                        if c.c.parent == l.index {
                            warn!("link {} removed", c.c.ifname);
                            c.c.link_up = false;
                        }
                    }
                }
                RtnlEvent::AddressAdded(_) | RtnlEvent::AddressRemoved(_) => refresh = true,
                RtnlEvent::Overrun => {
                    refresh = true;
                    if let Ok(links) = self.rt.links() {
                        for c in &mut self.ctls {
                            if let Some(l) = links.iter().find(|l| l.index == c.c.parent) {
                                c.c.link_up = l.is_up() && l.has_carrier();
                            }
                        }
                    }
                }
            }
        }
        if refresh {
            for i in 0..self.paths.len() {
                let name = self.paths[i].ifname.clone();
                self.paths[i].local = first_ipv4(&mut self.rt, &name);
            }
            self.paths_dirty = true;
        }
        for vi in 0..self.vcs.len() {
            self.update_health(now, vi);
        }
    }

    fn update_health(&mut self, now: Instant, vi: usize) {
        let v = &self.vcs[vi];
        let up = v.groups.iter().all(PingGroupState::up)
            && v.ctls.iter().all(|&ci| self.ctls[ci].c.link_up)
            && v.takeover_error.is_none();
        if up != v.health {
            self.vcs[vi].health = up;
            let acts = self.node.handle(now, Input::Health { vc: vi, up });
            self.apply(now, acts);
            if !up {
                self.notify(now, vi, HookKind::Fault);
            }
            self.set_title();
        }
    }

    fn read_stdin(&mut self, now: Instant) {
        let mut buf = [0u8; 4096];
        match std::io::stdin().lock().read(&mut buf) {
            Ok(0) => self.ev.deregister(0),
            Ok(n) => {
                self.stdin_buf.extend_from_slice(&buf[..n]);
                while let Some(pos) = self.stdin_buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = self.stdin_buf.drain(..=pos).collect();
                    let line = String::from_utf8_lossy(&line);
                    if line.trim() == "peer-exited" {
                        let acts = self.node.handle(now, Input::PeerExited);
                        self.apply(now, acts);
                        continue;
                    }
                    if let Some((name, addr)) = super::acr::parse_line(&line) {
                        debug!("ACR: {name} -> {addr:?}");
                        for v in &mut self.vcs {
                            for g in &mut v.groups {
                                g.resolved(&name, addr);
                            }
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => self.ev.deregister(0),
        }
    }

    fn accept_control(&mut self) {
        let Some(l) = &self.control else { return };
        while let Ok((s, _)) = l.accept() {
            if s.set_nonblocking(true).is_err() {
                continue;
            }
            let slot = self
                .conns
                .iter()
                .position(Option::is_none)
                .unwrap_or_else(|| {
                    self.conns.push(None);
                    self.conns.len() - 1
                });
            self.ev
                .register(s.as_raw_fd(), Token(T_CONN + slot), Interest::Read);
            self.conns[slot] = Some((s, Vec::new()));
        }
    }

    fn read_conn(&mut self, now: Instant, slot: usize) {
        let Some(Some((s, buf))) = self.conns.get_mut(slot) else {
            return;
        };
        let mut tmp = [0u8; 512];
        let done = match s.read(&mut tmp) {
            Ok(0) => true,
            Ok(n) => {
                buf.extend_from_slice(&tmp[..n]);
                buf.contains(&b'\n') || buf.len() > 256
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(_) => true,
        };
        if !done {
            return;
        }
        let Some((mut s, buf)) = self.conns[slot].take() else {
            return;
        };
        self.ev.deregister(s.as_raw_fd());
        let line = String::from_utf8_lossy(&buf).into_owned();
        let reply = match Request::parse(line.lines().next().unwrap_or("")) {
            Ok(r) => self.control_request(now, r),
            Err(e) => Reply { ok: false, text: e },
        };
        // The reply fits the socket buffer; a client that does not read loses it.
        let _ = s.write_all(reply.render().as_bytes());
    }

    fn control_request(&mut self, now: Instant, req: Request) -> Reply {
        let (vc, order) = match req {
            Request::Status { json } => {
                let text = if json {
                    self.status_json()
                } else {
                    self.status_text()
                };
                return Reply { ok: true, text };
            }
            Request::Take(vc) => (vc, Admin::Take),
            Request::Drop(vc) => (vc, Admin::Drop),
        };
        let targets: Vec<usize> = match &vc {
            None => (0..self.vcs.len()).collect(),
            Some(name) => match self
                .cfg
                .virtual_clusters
                .iter()
                .position(|v| &v.name == name || v.id.to_string() == *name)
            {
                Some(i) => vec![i],
                None => {
                    return Reply {
                        ok: false,
                        text: format!("no virtual-cluster '{name}'"),
                    }
                }
            },
        };
        for &i in &targets {
            if let Some(refusal) = self.node.admin_refusal(now, i, order) {
                let name = &self.cfg.virtual_clusters[i].name;
                return Reply {
                    ok: false,
                    text: format!("vc {name}: {refusal}"),
                };
            }
        }
        let mut text = String::new();
        for &i in &targets {
            info!(
                "control: {order:?} vc {}",
                self.cfg.virtual_clusters[i].name
            );
            let acts = self.node.handle(now, Input::Admin { vc: Some(i), order });
            self.apply(now, acts);
            text.push_str(&format!(
                "vc {} {:?}: {}\n",
                self.cfg.virtual_clusters[i].name,
                order,
                if self.node.claims(i) {
                    "Master"
                } else {
                    "Backup"
                }
            ));
        }
        Reply { ok: true, text }
    }

    fn detach(&mut self) {
        if self.detached {
            return;
        }
        self.detached = true;
        if let Some(l) = self.control.take() {
            self.ev.deregister(l.as_raw_fd());
            let _ = std::fs::remove_file(&self.cfg.control_socket);
        }
        info!("SIGHUP: keeping the role and addresses until a new instance takes over");
    }

    /// A new instance after SIGHUP: the old processes go once this worker plays its role.
    fn finish_handover(&mut self) {
        let path = super::supervisor::handover_path(&self.cfg.pid_file);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return;
        };
        for line in text.lines() {
            let mut w = line.split_whitespace();
            let (Some(_), Some(pid)) = (w.next(), w.next().and_then(|p| p.parse::<i32>().ok()))
            else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if pid > 1 && cmdline.starts_with(b"pikemon") {
                info!("hand-over: stopping the old instance [pid {pid}]");
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let _ = std::fs::remove_file(&path);
    }

    fn write_status(&mut self) {
        let since = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let roles = self
            .cfg
            .virtual_clusters
            .iter()
            .enumerate()
            .map(|(i, vc)| SavedRole {
                vcid: vc.id,
                master: self.node.claims(i),
                since,
                reason: self
                    .node
                    .vc(i)
                    .map_or(String::new(), |v| v.reason.to_string()),
            })
            .collect();
        let st = Status {
            boot: self.node.boot(),
            roles,
        };
        if let Err(e) = st.store(&self.cfg.status_file) {
            error!("{}: {e}", self.cfg.status_file.display());
        }
    }

    fn write_paths(&mut self, now: Instant) {
        let peer = self.node.peer();
        let lines: Vec<PathLine> = self
            .paths
            .iter()
            .take(self.cfg.heart_beat.len())
            .enumerate()
            .map(|(i, p)| {
                let st = peer.and_then(|x| x.paths.get(i));
                PathLine {
                    ifname: p.ifname.clone(),
                    local: p.local,
                    peer: peer.map(|x| x.node_id),
                    up: st.is_some_and(|s| s.up),
                    age: st
                        .and_then(|s| s.last)
                        .map(|t| now.saturating_duration_since(t)),
                }
            })
            .collect();
        let text = paths_file::render(self.cfg.node_id, &lines);
        if let Err(e) = status_file::write_atomic(&self.cfg.paths_file, text.as_bytes()) {
            debug!("{}: {e}", self.cfg.paths_file.display());
        }
        self.paths_written = Some(now);
        self.paths_dirty = false;
    }

    /// `pikemon: worker vc1=PMU vc2=SBD`.
    pub(super) fn letters(&self) -> String {
        self.cfg
            .virtual_clusters
            .iter()
            .enumerate()
            .map(|(i, vc)| {
                let p = if vc.primary == Some(self.cfg.node_id) {
                    'P'
                } else {
                    'S'
                };
                let m = if self.node.claims(i) { 'M' } else { 'B' };
                let u = if self.vcs[i].health { 'U' } else { 'D' };
                format!("vc{}={p}{m}{u}", vc.id)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn set_title(&self) {
        let _ = crate::sys::proctitle::set(&format!("pikemon: worker {}", self.letters()));
    }

    pub(super) fn role_name(&self, i: usize) -> &'static str {
        // Never "Master" without the addresses: a failed takeover says "Failed".
        self.node.vc(i).map_or("Init", |v| v.role.name())
    }
}

fn open_path(rt: &mut Rtnl, name: &str, ctl: Option<usize>) -> PathIo {
    let link = match rt.link_by_name(name) {
        Ok(Some(l)) => Some(l),
        Ok(None) => {
            error!("heart-beat interface {name} does not exist");
            None
        }
        Err(e) => {
            error!("{name}: {e}");
            None
        }
    };
    let sock = link.as_ref().and_then(|l| {
        // On a controlled interface a tap: two Masters send from the same virtual MAC, and
        // each kernel hands the other's frames to its own macvlan instead of the parent.
        let s = match ctl {
            Some(_) => PacketSocket::tap(l.index, pike::ETHERTYPE),
            None => PacketSocket::bind(l.index, pike::ETHERTYPE),
        }
        .and_then(|s| s.join_multicast(MacAddr(pike::GROUP_MAC)).map(|_| s));
        match s {
            Ok(s) => Some(s),
            Err(e) => {
                error!("{name}: PIKE socket: {e}");
                None
            }
        }
    });
    PathIo {
        ifname: name.to_string(),
        mac: link.as_ref().and_then(|l| l.mac).map_or([0; 6], |m| m.0),
        sock,
        local: first_ipv4(rt, name),
        ctl,
    }
}

fn first_ipv4(rt: &mut Rtnl, name: &str) -> Option<Ipv4Addr> {
    let link = rt.link_by_name(name).ok().flatten()?;
    rt.addresses(Some(link.index))
        .ok()?
        .into_iter()
        .find(|a| !a.is_secondary())
        .map(|a| a.address)
}

fn macvlan_up(rt: &mut Rtnl, c: &Controlled) -> bool {
    rt.link_by_name(&c.macvlan)
        .ok()
        .flatten()
        .is_some_and(|l| l.is_up())
}

fn bind_control(cfg: &Config) -> Result<Option<UnixListener>, String> {
    let path = &cfg.control_socket;
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // A stale socket of a dead instance (the pid file says we are the only one).
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path).map_err(err(&path.display().to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(err(&path.display().to_string()))?;
    l.set_nonblocking(true).map_err(err("control socket"))?;
    Ok(Some(l))
}

fn set_nonblocking_stdin() -> bool {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let fd = crate::sys::borrow_fd(0);
    match fcntl(fd, FcntlArg::F_GETFL) {
        Ok(fl) => {
            let fl = OFlag::from_bits_truncate(fl) | OFlag::O_NONBLOCK;
            fcntl(fd, FcntlArg::F_SETFL(fl)).is_ok()
        }
        Err(_) => false,
    }
}
