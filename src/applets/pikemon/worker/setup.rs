//! Setting the worker up: the status file's boot counter, one socket per heart-beat
//! interface and controlled interface (PIKE and ARP taps), the macvlans, the ICMP socket,
//! the rtnetlink subscription, the control socket, and the core with its resumed roles.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use log::{error, info, warn};

use super::super::config::{Config, Host};
use super::super::core::{Node, Settings, VcSettings};
use super::super::hooks::Hooks;
use super::super::ping_group::PingGroupState;
use super::super::sockets::{self, Inherited, Kind};
use super::super::status_file;
use super::super::takeover::{self, Controlled};
use crate::event::{EventLoop, Interest, Token};
use crate::logging;
use crate::net::echo::EchoSockets;
use crate::net::packet::{ETHERTYPE_ARP, ETHERTYPE_IPV6};
use crate::net::rtnl::{Rtnl, RtnlMonitor};
use crate::wire::pike;

use super::*;

impl Worker {
    pub(super) fn setup(cfg: Config) -> Result<Worker, String> {
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
        // The supervisor's sockets, when it passed them (see `sockets`).
        let mut inherited = Inherited::from_env();
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
            paths.push(open_path(
                &mut rt,
                &mut inherited,
                name,
                None,
                cfg.cluster_id,
            ));
        }
        let mut ctls = Vec::new();
        let mut vcs = Vec::new();
        let mut resume = Vec::new();
        let lease = takeover::vip_lease(cfg.dead_interval, cfg.hello_interval);
        for (vi, vc) in cfg.virtual_clusters.iter().enumerate() {
            let mut run = VcRun {
                ctls: Vec::new(),
                groups: vc
                    .ping_groups
                    .iter()
                    .map(|g| PingGroupState::new(g.clone(), now))
                    .collect(),
                tracks: vc
                    .tracks
                    .iter()
                    .map(|t| TrackState::new(t.clone(), now))
                    .collect(),
                health: true,
                penalty: 0,
                probe_answered: false,
                probing: false,
                garps_sent: 0,
                takeover_error: None,
                sync: cfg
                    .conntrack_of(vi)
                    .map(|c| conntrack::SyncRun::new(c.clone(), now, cfg.hello_interval)),
            };
            let mut all_up = true;
            for ci in &vc.interfaces {
                let c = takeover::prepare(&mut rt, ci, vc.id, lease)?;
                let up = macvlan_up(&mut rt, &c);
                all_up &= up.is_some();
                // A tap: the other Master's ARP from the shared virtual MAC would otherwise go
                // to our macvlan, not to this socket (see PacketSocket::tap).
                let held =
                    inherited.take(&sockets::key(Kind::Arp, &c.ifname), c.parent, ETHERTYPE_ARP);
                let arp = controlled_tap(Kind::Arp, held, &c);
                let nd = if c.vips6.is_empty() {
                    None
                } else {
                    let held = inherited.take(
                        &sockets::key(Kind::Nd, &c.ifname),
                        c.parent,
                        ETHERTYPE_IPV6,
                    );
                    controlled_tap(Kind::Nd, held, &c)
                };
                let idx = ctls.len();
                paths.push(open_path(
                    &mut rt,
                    &mut inherited,
                    &c.ifname,
                    Some(idx),
                    cfg.cluster_id,
                ));
                run.ctls.push(idx);
                ctls.push(Ctl {
                    vc: vi,
                    c,
                    arp,
                    nd,
                    probes: Vec::new(),
                    probes6: Vec::new(),
                    // Renewed at once if the role is resumed (below).
                    lease: up.map(|index| (index, now)),
                    known: up,
                });
            }
            // Resume Master only when the saved role says so *and* the addresses are still
            // up (a worker restart or an upgrade); after a reboot, or once the lease of a
            // daemon killed whole ran out, listen first.
            let saved = old.as_ref().and_then(|s| s.role(vc.id));
            let resumed = saved == Some(true) && all_up;
            if !resumed {
                for &ci in &run.ctls {
                    if let Some(c) = ctls.get_mut(ci) {
                        c.lease = None;
                    }
                }
            }
            resume.push(resumed.then_some(true));
            vcs.push(run);
        }
        if inherited.count() > 0 {
            info!(
                "{} of {} packet socket(s) taken from the supervisor",
                inherited.taken(),
                inherited.count()
            );
        }
        drop(inherited);
        for (i, p) in paths.iter().enumerate() {
            if let Some(s) = &p.sock {
                ev.register(s.as_raw_fd(), Token(T_PATH + i), Interest::Read);
            }
        }
        for (i, c) in ctls.iter().enumerate() {
            if let Some(s) = &c.arp {
                ev.register(s.as_raw_fd(), Token(T_ARP + i), Interest::Read);
            }
            if let Some(s) = &c.nd {
                ev.register(s.as_raw_fd(), Token(T_ND + i), Interest::Read);
            }
        }
        // One raw socket per family that some ping-group host needs (names resolve to IPv4).
        let hosts = || {
            vcs.iter()
                .flat_map(|v| v.groups.iter())
                .flat_map(|g| g.config.hosts.iter())
        };
        let v6 = hosts().any(|h| matches!(h, Host::Addr(IpAddr::V6(_))));
        // The echo identifier of this worker's ping groups: the sockets pass no other.
        let ident = (std::process::id() & 0xffff) as u16;
        let v4 = hosts().any(|h| !matches!(h, Host::Addr(IpAddr::V6(_))));
        let icmp = if v4 || v6 {
            let s = EchoSockets::open(v4, v6, ident).map_err(err("ICMP socket"))?;
            for fd in s.fds() {
                ev.register(fd, T_ICMP, Interest::Read);
            }
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
                    digest: super::super::digest::of(&cfg, v),
                    commit_timeout: v
                        .conntrack
                        .as_ref()
                        .or(cfg.conntrack.as_ref())
                        .map(|c| c.commit_timeout),
                    takeover: v
                        .conntrack
                        .as_ref()
                        .or(cfg.conntrack.as_ref())
                        .map(|c| c.takeover)
                        .unwrap_or_default(),
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
        let fifo = cfg.notify_fifo.as_deref().map(EventFifo::new);
        let mut w = Worker {
            cfg,
            node,
            rt,
            ev,
            paths,
            ctls,
            vcs,
            icmp,
            ident,
            monitor: Some(monitor),
            control,
            conns: Vec::new(),
            orders: Vec::new(),
            hooks,
            fifo,
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
            unsettled: Vec::new(),
            settle_at: None,
            beacon: None,
            files: crate::sys::file::Writer::spawn("pikemon-files")
                .map_err(err("the status file's writer thread"))?,
            conntrack_asked: 0,
        };
        // Maintenance set before a restart or a reboot stays.
        let kept = old.as_ref().map_or(&[][..], |s| &s.maintenance[..]);
        let mut pending = Vec::new();
        for (i, vc) in w.cfg.virtual_clusters.iter().enumerate() {
            if kept.contains(&vc.id) {
                info!("vc {}: in maintenance (status file)", vc.name);
                let acts = w.node.handle(
                    now,
                    Input::Maintenance {
                        vc: Some(i),
                        on: true,
                    },
                );
                pending.extend(acts);
            }
        }
        w.apply(now, pending);
        let acts = w.node.start();
        w.apply(now, acts);
        w.write_status();
        w.set_title();
        w.finish_handover();
        Ok(w)
    }
}

fn open_path(
    rt: &mut Rtnl,
    inherited: &mut Inherited,
    name: &str,
    ctl: Option<usize>,
    cluster_id: u32,
) -> PathIo {
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
    let kind = match ctl {
        Some(_) => Kind::PikeTap,
        None => Kind::Pike,
    };
    let sock = link.as_ref().and_then(|l| {
        if let Some(s) = inherited.take(&sockets::key(kind, name), l.index, pike::ETHERTYPE) {
            return Some(s);
        }
        match sockets::open(kind, l.index, cluster_id) {
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
        index: link.as_ref().map(|l| l.index),
        carrier: link.as_ref().is_some_and(|l| l.is_up() && l.has_carrier()),
    }
}

pub(super) fn first_ipv4(rt: &mut Rtnl, name: &str) -> Option<Ipv4Addr> {
    let link = rt.link_by_name(name).ok().flatten()?;
    rt.addresses(Some(link.index))
        .ok()?
        .into_iter()
        .find(|a| !a.is_secondary())
        .map(|a| a.address)
}

/// The ARP or ND tap (`kind`) of controlled interface `c`: `held` (the supervisor's) or one
/// opened on its parent, narrowed to the frames about its addresses or from its virtual MAC
/// (`sockets::filter_arp`, `filter_nd`). A failure to open is logged and gives none; a
/// failure to narrow is logged and leaves the tap taking every ARP or ND frame, as before.
pub(super) fn controlled_tap(
    kind: Kind,
    held: Option<crate::net::packet::PacketSocket>,
    c: &Controlled,
) -> Option<crate::net::packet::PacketSocket> {
    let what = if kind == Kind::Nd { "ND" } else { "ARP" };
    let s = match held.map_or_else(|| sockets::open(kind, c.parent, 0), Ok) {
        Ok(s) => s,
        Err(e) => {
            warn!("{}: {what} socket: {e}", c.ifname);
            return None;
        }
    };
    let narrowed = if kind == Kind::Nd {
        let addrs: Vec<std::net::Ipv6Addr> =
            takeover::addresses6(c).iter().map(|(ip, _)| *ip).collect();
        sockets::filter_nd(&s, &addrs, c.vmac)
    } else {
        let vips: Vec<Ipv4Addr> = c.vips.iter().map(|(ip, _)| *ip).collect();
        sockets::filter_arp(&s, &vips, c.vmac)
    };
    if let Err(e) = narrowed {
        warn!("{}: {what} socket takes every {what} frame: {e}", c.ifname);
    }
    Some(s)
}

/// The macvlan's index when it is up.
/// The macvlan's index when it is up and still carries every VIP (a worker restart, an
/// upgrade): a role to resume. A daemon killed whole leaves its macvlan up while the VIPs go
/// with their lease (`takeover::vip_lease`): started again, it has no role to resume, and
/// resuming one put the VIPs back beside the new Master's until the first HELLO.
fn macvlan_up(rt: &mut Rtnl, c: &Controlled) -> Option<u32> {
    let index = rt
        .link_by_name(&c.macvlan)
        .ok()
        .flatten()
        .filter(|l| l.is_up())?
        .index;
    let v4 = rt.addresses(Some(index)).ok()?;
    let v6 = if c.vips6.is_empty() {
        Vec::new()
    } else {
        rt.addresses6(Some(index)).ok()?
    };
    let held = c
        .vips
        .iter()
        .all(|(ip, _)| v4.iter().any(|a| a.address == *ip))
        && c.vips6
            .iter()
            .all(|(ip, _)| v6.iter().any(|a| a.address == *ip));
    held.then_some(index)
}

fn bind_control(cfg: &Config) -> Result<Option<UnixListener>, String> {
    let path = &cfg.control_socket;
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // A stale socket of a dead instance (the pid file says we are the only one); never
    // anything else found at the path (the config check refuses that at start).
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            let _ = std::fs::remove_file(path);
        }
        Ok(_) => return Err(format!("{}: exists and is not a socket", path.display())),
        Err(_) => {}
    }
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
