//! The worker's control side: `pikemon -c` requests on the UNIX socket (an accepted order is
//! answered once it has taken effect, or at a bound, without the loop ever waiting for it),
//! the supervisor's lines on stdin (death-watch), and the SIGHUP hand-over to a new instance.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use log::{debug, info, warn};

use super::super::control::{Outcome, Reply, Request, ORDER_WAIT_MAX};
use super::super::core::election::Admin;
use super::super::core::Input;
use super::super::values;
use crate::event::{Interest, Token};

use super::*;

/// Control connections kept while they wait for their request line, and orders kept while
/// they wait for their effect.
const CONTROL_CONNS: usize = 16;

/// What a control request gets: a reply now, or an accepted order's wait for its effect.
pub(super) enum Answer {
    Now(Reply),
    Wait(Order),
}

/// An accepted order whose client waits for it to take effect (`Node::order_settled`).
pub(super) struct Order {
    stream: Option<UnixStream>,
    targets: Vec<usize>,
    order: Admin,
    what: &'static str,
    at: Instant,
    until: Instant,
}
/// Connections accepted per wake-up of the listener.
const CONTROL_ACCEPTS_PER_WAKE: usize = 16;

impl Worker {
    pub(super) fn read_stdin(&mut self, now: Instant) {
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
                    if let Some((name, addr)) = super::super::acr::parse_line(&line) {
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

    pub(super) fn accept_control(&mut self, now: Instant) {
        let Some(l) = &self.control else { return };
        // Bounded per wake-up; a failing accept (EMFILE) is logged, not retried in a spin.
        for _ in 0..CONTROL_ACCEPTS_PER_WAKE {
            let s = match l.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    debug!("control: accept: {e}");
                    return;
                }
            };
            if s.set_nonblocking(true).is_err() {
                continue;
            }
            let free = self.conns.iter().position(Option::is_none);
            let slot = match free {
                Some(slot) => slot,
                None if self.conns.len() < CONTROL_CONNS => {
                    self.conns.push(None);
                    self.conns.len() - 1
                }
                // Full: the connection that waited longest for its request goes (a client
                // sends its line at once; one that does not is stale or hostile).
                None => {
                    let oldest = self
                        .conns
                        .iter()
                        .enumerate()
                        .filter_map(|(i, c)| c.as_ref().map(|c| (i, c.2)))
                        .min_by_key(|&(_, at)| at)
                        .map_or(0, |(i, _)| i);
                    if let Some((old, _, _)) = self.conns[oldest].take() {
                        self.ev.deregister(old.as_raw_fd());
                    }
                    debug!("control: {CONTROL_CONNS} connections wait for a request; the oldest dropped");
                    oldest
                }
            };
            self.ev
                .register(s.as_raw_fd(), Token(T_CONN + slot), Interest::Read);
            self.conns[slot] = Some((s, Vec::new(), now));
        }
    }

    pub(super) fn read_conn(&mut self, now: Instant, slot: usize) {
        let Some(Some((s, buf, _))) = self.conns.get_mut(slot) else {
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
        let Some((mut s, buf, _)) = self.conns[slot].take() else {
            return;
        };
        self.ev.deregister(s.as_raw_fd());
        let uid = peer_uid(&s);
        if uid != Some(0) {
            // The socket is made 0600 right after bind(2); a process that connected in
            // between (a daemon started with umask 0), or through a mode changed later, is
            // still no operator. Answered once its request is read: closing on a request
            // not read would reset the connection before the client read the answer.
            debug!("control: a request from uid {uid:?} refused");
            let _ = s.write_all(b"refused: the control socket answers root only\n");
            return;
        }
        let line = String::from_utf8_lossy(&buf).into_owned();
        let answer = match Request::parse(line.lines().next().unwrap_or("")) {
            Ok(r) => self.control_request(now, r),
            Err(e) => Answer::Now(Reply::refused(e)),
        };
        match answer {
            // The reply fits the socket buffer; a client that does not read loses it.
            Answer::Now(reply) => {
                let _ = s.write_all(reply.render().as_bytes());
            }
            // Answered by `answer_orders` once in effect, or at the bound: the loop never
            // waits for it.
            Answer::Wait(mut order) => {
                if self.orders.len() >= CONTROL_CONNS {
                    // The oldest is answered now, as it stands.
                    self.orders[0].until = now;
                }
                order.until = now + self.order_wait(&order.targets);
                order.stream = Some(s);
                self.orders.push(order);
                self.answer_orders(now);
            }
        }
    }

    /// Answers the orders that have taken effect, those whose wait is over and, when the
    /// worker stops, all of them: each with the role of its virtual clusters now.
    pub(super) fn answer_orders(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.orders.len() {
            let o = &self.orders[i];
            let settled = o
                .targets
                .iter()
                .all(|&vc| self.node.order_settled(vc, o.order));
            if !settled && now < o.until && !self.stopping {
                i += 1;
                continue;
            }
            let mut o = self.orders.remove(i);
            let waited = values::show_duration(o.until.saturating_duration_since(o.at));
            let mut text = String::new();
            for &vc in &o.targets {
                let name = &self.cfg.virtual_clusters[vc].name;
                let role = self.node.vc(vc).map_or("?", |v| v.role.name());
                let _ = write!(text, "vc {name} {}: {role}", o.what);
                if !self.node.order_settled(vc, o.order) {
                    let goal = if o.order == Admin::Take {
                        "Master with its addresses up"
                    } else {
                        "Backup"
                    };
                    let why = if self.stopping {
                        "the daemon is stopping".to_string()
                    } else {
                        format!("not {goal} within {waited}")
                    };
                    let _ = write!(text, " (ordered, {why}; the order stands)");
                }
                text.push('\n');
            }
            let reply = Reply {
                outcome: if settled {
                    Outcome::Done
                } else {
                    Outcome::Pending
                },
                text,
            };
            if let Some(s) = o.stream.as_mut() {
                let _ = s.write_all(reply.render().as_bytes());
            }
        }
    }

    /// How long an order for `targets` may take in a sound pair: the peer yields within a
    /// frame, or is dead after a dead-interval; a takeover may wait for conntrackd's commit.
    fn order_wait(&self, targets: &[usize]) -> std::time::Duration {
        let commit = targets
            .iter()
            .filter_map(|&vi| self.cfg.conntrack_of(vi))
            .map(|c| c.commit_timeout)
            .max()
            .unwrap_or_default();
        (self.cfg.dead_interval * 2 + commit).min(ORDER_WAIT_MAX)
    }

    /// When the next order waiting for its effect is answered as it stands.
    pub(super) fn next_order_deadline(&self) -> Option<Instant> {
        self.orders.iter().map(|o| o.until).min()
    }

    /// Carries out `req`: status and a refusal are answered at once, an accepted order
    /// waits for its effect.
    pub(super) fn control_request(&mut self, now: Instant, req: Request) -> Answer {
        // The order as the core takes it, what admin_refusal and order_settled are asked,
        // and its name.
        let (vc, input, ask, what): (_, fn(usize) -> Input<'static>, _, _) = match req {
            Request::Status { json } => {
                let text = if json {
                    self.status_json()
                } else {
                    self.status_text()
                };
                return Answer::Now(Reply::done(text));
            }
            Request::Take(vc) => (vc, |i| admin(i, Admin::Take), Admin::Take, "Take"),
            Request::Drop(vc) => (vc, |i| admin(i, Admin::Drop), Admin::Drop, "Drop"),
            Request::Maintenance { on: true, vc } => (
                vc,
                |i| maintenance(i, true),
                Admin::Maintenance,
                "maintenance on",
            ),
            Request::Maintenance { on: false, vc } => (
                vc,
                |i| maintenance(i, false),
                Admin::None,
                "maintenance off",
            ),
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
                    let why = format!("no virtual-cluster '{name}'");
                    return Answer::Now(Reply::refused(why));
                }
            },
        };
        if ask != Admin::None {
            for &i in &targets {
                if let Some(refusal) = self.node.admin_refusal(now, i, ask) {
                    let name = &self.cfg.virtual_clusters[i].name;
                    return Answer::Now(Reply::refused(format!("vc {name}: {refusal}")));
                }
            }
        }
        for &i in &targets {
            info!("control: {what} vc {}", self.cfg.virtual_clusters[i].name);
            let acts = self.node.handle(now, input(i));
            self.apply(now, acts);
        }
        // Maintenance is kept across restarts and reboots.
        self.write_status();
        Answer::Wait(Order {
            stream: None,
            targets,
            order: ask,
            what,
            at: now,
            until: now,
        })
    }

    pub(super) fn detach(&mut self) {
        if self.detached {
            return;
        }
        self.detached = true;
        // The new instance's config may name addresses this one does not: kept.
        for c in &mut self.ctls {
            c.c.prune = false;
        }
        if let Some(l) = self.control.take() {
            self.ev.deregister(l.as_raw_fd());
            let _ = std::fs::remove_file(&self.cfg.control_socket);
        }
        info!("SIGHUP: keeping the role and addresses until a new instance takes over");
    }

    /// A new instance after SIGHUP: the old processes go once this worker plays its role.
    pub(super) fn finish_handover(&mut self) {
        let own = nix::unistd::getppid().as_raw();
        let Some(old) = super::super::supervisor::old_instance(&self.cfg.pid_file, own) else {
            return;
        };
        let mut killed = Vec::new();
        for pid in old.processes() {
            info!("hand-over: stopping the old instance [pid {pid}]");
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            killed.push(pid);
        }
        let macvlans: Vec<&str> = old.macvlans.iter().map(String::as_str).collect();
        self.delete_old_macvlans(&macvlans);
        self.prune_old_addresses(&killed);
        old.forget();
    }

    /// The addresses the old instance's config named and this one does not (a VIP removed
    /// by the upgrade): deleted at once, once the old worker (which renewed them until its
    /// end) is gone, rather than answered until their lease runs out. The wait for the
    /// killed processes is short (this is the worker's loop, and HELLOs are due): one still
    /// there after it leaves the rest to the next renewal, which prunes too.
    fn prune_old_addresses(&mut self, killed: &[i32]) {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(50);
        while killed
            .iter()
            .any(|p| crate::sys::procfs::cmdline(*p).starts_with(b"pikemon"))
            && std::time::Instant::now() < until
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for ctl in &self.ctls {
            let index = match self.rt.link_by_name(&ctl.c.macvlan) {
                Ok(Some(l)) => l.index,
                Ok(None) => continue,
                Err(e) => {
                    warn!("hand-over: {}: {e}", ctl.c.macvlan);
                    continue;
                }
            };
            if let Err(e) = super::super::takeover::prune_stale(&mut self.rt, index, &ctl.c) {
                warn!("hand-over: {}: {e}", ctl.c.macvlan);
            }
        }
    }

    /// The old instance's macvlans that this config does not name (another virtual-cluster
    /// id, another interface): left up with the virtual MAC they blocked this instance's own
    /// macvlan of that MAC on the parent (the kernel brings up one macvlan per MAC), and
    /// their addresses had no owner. The old worker is gone: they are deleted.
    fn delete_old_macvlans(&mut self, names: &[&str]) {
        let ours: Vec<String> = self
            .cfg
            .virtual_clusters
            .iter()
            .flat_map(|vc| vc.interfaces.iter().map(|ci| ci.macvlan_name(vc.id)))
            .collect();
        for name in names.iter().filter(|n| !ours.iter().any(|o| o == *n)) {
            // Only a macvlan: the name came from a file.
            let link = match self.rt.link_by_name(name) {
                Ok(Some(l)) if l.kind.as_deref() == Some("macvlan") => l,
                Ok(_) => continue,
                Err(e) => {
                    warn!("hand-over: the old instance's macvlan {name}: {e}");
                    continue;
                }
            };
            match self.rt.delete_link(link.index) {
                Ok(()) => info!(
                    "hand-over: deleted the old instance's macvlan {name} (not in this config)"
                ),
                Err(e) => warn!("hand-over: the old instance's macvlan {name}: {e}"),
            }
        }
    }
}

fn admin(vc: usize, order: Admin) -> Input<'static> {
    Input::Admin {
        vc: Some(vc),
        order,
    }
}

fn maintenance(vc: usize, on: bool) -> Input<'static> {
    Input::Maintenance { vc: Some(vc), on }
}

/// The uid of the process at the other end of `s` (None: unknown).
fn peer_uid(s: &UnixStream) -> Option<u32> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    getsockopt(s, PeerCredentials).ok().map(|c| c.uid())
}
