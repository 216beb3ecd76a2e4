//! The worker's network side: PIKE frames out and in, ARP (answers for the VIPs, GARP
//! bursts, the split-brain probe), Neighbor Discovery (the IPv6 probe and the Master's
//! answer to it), ICMP replies of the ping groups, rtnetlink link events.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::time::Instant;

use log::{debug, info, warn};

use super::super::core::Input;
use super::super::takeover;
use crate::event::Interest;
use crate::net::garp::{ArpProbe, Probe, ProbeStep};
use crate::net::nd_probe::NdProbe;
use crate::net::packet::{PacketKind, PacketSocket};
use crate::net::rtnl::{RtnlEvent, RtnlMonitor};
use crate::wire::pike;

use super::*;

impl Worker {
    pub(super) fn send(&mut self, repr: &pike::Repr) {
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

    /// One burst of gratuitous ARPs on every controlled interface of `vi`.
    pub(super) fn send_garps(&mut self, vi: usize) {
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

    pub(super) fn start_probe(&mut self, now: Instant, vi: usize) {
        let interval = self.node.probe_interval();
        self.vcs[vi].probe_answered = false;
        self.vcs[vi].probing = true;
        for &ci in &self.vcs[vi].ctls.clone() {
            let c = &mut self.ctls[ci];
            for (vip, _) in &c.c.vips {
                let p = ArpProbe::new(
                    c.c.parent_mac,
                    Ipv4Addr::UNSPECIFIED,
                    *vip,
                    super::super::core::PROBE_TRIES,
                    interval,
                );
                c.probes.push((p, now));
            }
            for (vip, _) in &c.c.vips6 {
                // A fresh nonce per probe: an answer proves a worker alive now, not before.
                let mut nonce = [0u8; 6];
                if let Err(e) = crate::sys::random::fill(&mut nonce) {
                    warn!("probe nonce: {e}");
                }
                let p = NdProbe::new(
                    c.c.parent_mac,
                    *vip,
                    nonce,
                    super::super::core::PROBE_TRIES,
                    interval,
                );
                c.probes6.push((p, now));
            }
        }
        self.probe_tick(now);
    }

    pub(super) fn probe_tick(&mut self, now: Instant) {
        for c in &mut self.ctls {
            tick_probes(&mut c.probes, c.arp.as_ref(), now);
            tick_probes(&mut c.probes6, c.nd.as_ref(), now);
        }
        for vi in 0..self.vcs.len() {
            if !self.vcs[vi].probing {
                continue;
            }
            let pending = self.vcs[vi]
                .ctls
                .iter()
                .any(|&ci| !self.ctls[ci].probes.is_empty() || !self.ctls[ci].probes6.is_empty());
            if !pending || self.vcs[vi].probe_answered {
                self.vcs[vi].probing = false;
                for &ci in &self.vcs[vi].ctls {
                    self.ctls[ci].probes.clear();
                    self.ctls[ci].probes6.clear();
                }
                let answered = self.vcs[vi].probe_answered;
                let acts = self.node.handle(now, Input::ProbeDone { vc: vi, answered });
                self.apply(now, acts);
            }
        }
    }

    pub(super) fn read_path(&mut self, now: Instant, path: usize) {
        // At most MAX_PER_WAKE frames per wake-up: the HELLOs and the other sockets get
        // their turn under a flood (poll reports the rest again at once).
        for _ in 0..MAX_PER_WAKE {
            let sock = self.paths.get(path).and_then(|p| p.sock.as_ref());
            let frame = match recv_one(sock, &format_args!("path {path}")) {
                Got::Frame(f) => f,
                Got::Own => continue,
                Got::Done => return,
            };
            let acts = self.node.handle(
                now,
                Input::Frame {
                    path,
                    frame: &frame,
                },
            );
            self.apply(now, acts);
        }
    }

    pub(super) fn read_arp(&mut self, now: Instant, ci: usize) {
        // At most MAX_PER_WAKE frames per wake-up: the HELLOs and the other sockets get
        // their turn under a flood (poll reports the rest again at once).
        for _ in 0..MAX_PER_WAKE {
            let sock = self.ctls.get(ci).and_then(|c| c.arp.as_ref());
            let frame = match recv_one(sock, &"ARP socket") {
                Got::Frame(f) => f,
                Got::Own => continue,
                Got::Done => return,
            };
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
            for (p, _) in &c.probes {
                let answered = &mut self.vcs[vi].probe_answered;
                take_answer(
                    p.answer(&frame),
                    vmac,
                    answered,
                    &mut self.throttle,
                    now,
                    "a VIP",
                );
            }
            self.conflict_check(now, vi, vmac, &frame);
            if self.node.claims(vi) {
                if let Some(by) = takeover::vip_claimed_by(&frame, vmac, &self.ctls[ci].c.vips) {
                    let acts = self
                        .node
                        .handle(now, Input::VipClaimed { vc: vi, by: by.0 });
                    self.apply(now, acts);
                }
            }
        }
    }

    /// Conflict detection on a controlled interface's ARP or ND tap: a frame from our
    /// virtual MAC that this host did not send (a stale node, a second pair with the same
    /// MAC) while we are Master re-runs the election.
    fn conflict_check(&mut self, now: Instant, vi: usize, vmac: MacAddr, frame: &[u8]) {
        if frame.get(6..12) == Some(&vmac.0[..]) && self.node.claims(vi) {
            let acts = self.node.handle(now, Input::Conflict { vc: vi });
            self.apply(now, acts);
        }
    }

    /// Neighbor Discovery on a controlled interface: the Master answers a peer's probe
    /// (echoing its nonce from the virtual MAC), the prober looks for that echo.
    pub(super) fn read_nd(&mut self, now: Instant, ci: usize) {
        for _ in 0..MAX_PER_WAKE {
            let sock = self.ctls.get(ci).and_then(|c| c.nd.as_ref());
            let frame = match recv_one(sock, &"ND socket") {
                Got::Frame(f) => f,
                Got::Own => continue,
                Got::Done => return,
            };
            let c = &self.ctls[ci];
            let vi = c.vc;
            let vmac = c.c.vmac;
            if self.node.claims(vi) {
                if let (Some(answer), Some(s)) = (takeover::nd_probe_answer(&frame, &c.c), &c.nd) {
                    if let Err(e) = s.send(&answer) {
                        debug!("probe answer on {}: {e}", c.c.ifname);
                    }
                }
            }
            for (p, _) in &c.probes6 {
                if let Some(mac) = p.unechoed(&frame) {
                    if let Some(held) = self.throttle.allow(mac, now) {
                        info!(
                            "probe: {} advertised by {mac} without our nonce (a kernel's \
                             answer, not counted; {held} more such lines held back)",
                            p.target()
                        );
                    }
                }
                let answered = &mut self.vcs[vi].probe_answered;
                take_answer(
                    p.answer(&frame),
                    vmac,
                    answered,
                    &mut self.throttle,
                    now,
                    "an IPv6 VIP",
                );
            }
            self.conflict_check(now, vi, vmac, &frame);
            if self.node.claims(vi) {
                if let Some(by) = takeover::vip6_claimed_by(&frame, &self.ctls[ci].c) {
                    let acts = self
                        .node
                        .handle(now, Input::VipClaimed { vc: vi, by: by.0 });
                    self.apply(now, acts);
                }
            }
        }
    }

    pub(super) fn read_icmp(&mut self, now: Instant) {
        let Some(s) = &self.icmp else { return };
        let mut buf = vec![0u8; 2048];
        // Each reply carries the instant it was read: the loop's `now` is one instant for
        // every reply drained here, which gave every ping group the same RTT.
        for r in s.drain_replies(&mut buf, self.ident, MAX_PER_WAKE) {
            for v in &mut self.vcs {
                for g in &mut v.groups {
                    g.on_reply(r.from, r.seq, &r.data, r.at);
                }
            }
        }
        for vi in 0..self.vcs.len() {
            self.update_health(now, vi);
        }
    }

    pub(super) fn read_monitor(&mut self, now: Instant) {
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
                        let other = l.name != c.c.macvlan || l.mac != Some(c.c.vmac);
                        if c.known == Some(l.index) && other {
                            c.known = None;
                        }
                    }
                    self.follow_recreated_heart_beat(&l);
                    self.follow_recreated_controlled(&l);
                    let carrier = l.is_up() && l.has_carrier();
                    let hb = self
                        .paths
                        .iter()
                        .position(|p| p.ctl.is_none() && p.index == Some(l.index));
                    if let Some(path) = hb {
                        let lost = self.paths[path].carrier && !carrier;
                        self.paths[path].carrier = carrier;
                        if lost {
                            warn!(
                                "heart-beat link {} lost its carrier",
                                self.paths[path].ifname
                            );
                            let acts = self.node.handle(now, Input::CarrierLost { path });
                            self.apply(now, acts);
                        }
                    }
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
                        if c.known == Some(l.index) {
                            c.known = None;
                        }
                        if c.c.parent == l.index {
                            warn!("link {} removed", c.c.ifname);
                            c.c.link_up = false;
                        }
                    }
                }
                RtnlEvent::AddressAdded(a) | RtnlEvent::AddressRemoved(a) => {
                    // The renewals of a Master's lease on its macvlans are no path's address.
                    let leased = self
                        .ctls
                        .iter()
                        .any(|c| c.lease.is_some_and(|(index, _)| index == a.index));
                    refresh |= !leased;
                }
                RtnlEvent::Overrun => {
                    refresh = true;
                    for c in &mut self.ctls {
                        c.known = None;
                    }
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
                self.paths[i].local = super::setup::first_ipv4(&mut self.rt, &name);
            }
            self.paths_dirty = true;
        }
        for vi in 0..self.vcs.len() {
            self.update_health(now, vi);
        }
    }

    /// A heart-beat interface made anew (deleted and created again: another index) gets a
    /// new socket: the old one stays bound to the index that is gone and hears nothing.
    fn follow_recreated_heart_beat(&mut self, l: &crate::net::rtnl::Link) {
        let Some(i) = self
            .paths
            .iter()
            .position(|p| p.ctl.is_none() && p.ifname == l.name && p.index != Some(l.index))
        else {
            return;
        };
        let socket = match super::super::sockets::open(
            super::super::sockets::Kind::Pike,
            l.index,
            self.cfg.cluster_id,
        ) {
            Ok(s) => s,
            Err(e) => {
                warn!(
                    "heart-beat interface {} (index {}): PIKE socket: {e}",
                    l.name, l.index
                );
                return;
            }
        };
        let p = &mut self.paths[i];
        if let Some(old) = p.sock.take() {
            self.ev.deregister(old.as_raw_fd());
        }
        self.ev
            .register(socket.as_raw_fd(), Token(T_PATH + i), Interest::Read);
        info!(
            "heart-beat interface {} is back (index {}): listening on it again",
            l.name, l.index
        );
        p.sock = Some(socket);
        p.index = Some(l.index);
        p.mac = l.mac.map_or([0; 6], |m| m.0);
        p.carrier = l.is_up() && l.has_carrier();
        self.paths_dirty = true;
    }

    /// A controlled interface made anew (another index): its sysctls, the macvlan on the new
    /// parent and the ARP, ND and PIKE taps are made again. Before, its health stayed Down and a
    /// takeover failed forever ("create macvlan ... on link index N: No such device").
    fn follow_recreated_controlled(&mut self, l: &crate::net::rtnl::Link) {
        use super::super::sockets::{open, Kind};
        for i in 0..self.ctls.len() {
            if self.ctls[i].c.ifname != l.name || self.ctls[i].c.parent == l.index {
                continue;
            }
            let vc = &self.cfg.virtual_clusters[self.ctls[i].vc];
            let Some(ci) = vc.interfaces.iter().find(|ci| ci.name == l.name) else {
                continue;
            };
            match takeover::prepare(
                &mut self.rt,
                ci,
                vc.id,
                takeover::vip_lease(self.cfg.dead_interval, self.cfg.hello_interval),
            ) {
                Ok(c) => {
                    self.ctls[i].c = c;
                    self.ctls[i].known = None;
                }
                Err(e) => {
                    warn!("controlled interface {} is back: {e}", l.name);
                    continue;
                }
            }
            // The ARP and ND taps on the new parent (`prepare` gave `c` its index).
            let c = &self.ctls[i].c;
            let arp = super::setup::controlled_tap(Kind::Arp, None, c);
            let nd = (!c.vips6.is_empty())
                .then(|| super::setup::controlled_tap(Kind::Nd, None, c))
                .flatten();
            for (old, new, token) in [
                (self.ctls[i].arp.take(), &arp, T_ARP + i),
                (self.ctls[i].nd.take(), &nd, T_ND + i),
            ] {
                if let Some(old) = old {
                    self.ev.deregister(old.as_raw_fd());
                }
                if let Some(s) = new {
                    self.ev
                        .register(s.as_raw_fd(), Token(token), Interest::Read);
                }
            }
            self.ctls[i].arp = arp;
            self.ctls[i].nd = nd;
            if let Some(p) = self.paths.iter().position(|p| p.ctl == Some(i)) {
                if let Some(old) = self.paths[p].sock.take() {
                    self.ev.deregister(old.as_raw_fd());
                }
                match open(Kind::PikeTap, l.index, self.cfg.cluster_id) {
                    Ok(s) => {
                        self.ev
                            .register(s.as_raw_fd(), Token(T_PATH + p), Interest::Read);
                        self.paths[p].sock = Some(s);
                    }
                    Err(e) => warn!("{}: PIKE socket: {e}", l.name),
                }
                self.paths[p].index = Some(l.index);
                self.paths[p].mac = l.mac.map_or([0; 6], |m| m.0);
                self.paths_dirty = true;
            }
            info!(
                "controlled interface {} is back (index {}): macvlan and sockets made again",
                l.name, l.index
            );
        }
    }
}

/// A probe's answer (`what` names the address asked for): from our virtual MAC it counts,
/// from another MAC it is logged (throttled per MAC) and does not.
fn take_answer(
    answer: Option<MacAddr>,
    vmac: MacAddr,
    answered: &mut bool,
    throttle: &mut logging::Throttle<MacAddr>,
    now: Instant,
    what: &str,
) {
    match answer {
        Some(mac) if mac == vmac => *answered = true,
        Some(mac) => {
            if let Some(held) = throttle.allow(mac, now) {
                warn!(
                    "probe: {what} is answered by {mac}, not our virtual MAC \
                     ({held} more such lines held back)"
                );
            }
        }
        None => {}
    }
}

/// One read of a packet socket within a wake-up's budget.
enum Got {
    /// A frame another host sent.
    Frame(Vec<u8>),
    /// One of this host's own frames (skipped; it counts in the budget).
    Own,
    /// Nothing queued, no socket, or an error (logged).
    Done,
}

fn recv_one(sock: Option<&PacketSocket>, what: &dyn std::fmt::Display) -> Got {
    match sock.map(PacketSocket::recv) {
        None | Some(Ok(None)) => Got::Done,
        Some(Ok(Some((_, src)))) if src.kind == PacketKind::Outgoing => Got::Own,
        Some(Ok(Some((frame, _)))) => Got::Frame(frame),
        Some(Err(e)) => {
            debug!("recv on {what}: {e}");
            Got::Done
        }
    }
}

/// Sends the requests of `probes` that are due on `sock` and drops those that went
/// unanswered (the caller reads the answers).
fn tick_probes<P: Probe>(
    probes: &mut Vec<(P, Instant)>,
    sock: Option<&PacketSocket>,
    now: Instant,
) {
    let mut keep = Vec::with_capacity(probes.len());
    for (mut p, at) in std::mem::take(probes) {
        if now < at {
            keep.push((p, at));
            continue;
        }
        match p.on_timer(now) {
            ProbeStep::Send(frame, next) => {
                if let Some(s) = sock {
                    let _ = s.send(&frame);
                }
                keep.push((p, next));
            }
            ProbeStep::Wait(next) => keep.push((p, next)),
            ProbeStep::Unanswered => {}
        }
    }
    *probes = keep;
}
