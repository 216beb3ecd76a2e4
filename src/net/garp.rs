//! Gratuitous ARP and ARP duplicate-address probes over a `PacketSocket`.
//!
//! The four gratuitous ARP frames are what the LifeKeeper kit sends with iputils `arping -U`
//! and `arping -A`, once with the VIP as target and once with the network's broadcast address
//! (checked against frames `arping` puts on the wire): Ethernet destination ff:ff:ff:ff:ff:ff,
//! sender = (MAC, VIP); the request (`-U`) carries target hardware address ff:ff:ff:ff:ff:ff,
//! the reply (`-A`) carries the sender MAC as target hardware address.
//!
//! The probe asks "who has IP?" and reports the MAC of any other host that claims it (RFC 5227
//! conflict: an ARP packet whose sender protocol address is the probed IP). It is a small state
//! machine (`ArpProbe`) for event loops, plus `probe_blocking` for one-shot tools.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::packet::PacketSocket;
use crate::wire::arp::{ArpRepr, Operation};
use crate::wire::ethernet::MacAddr;

/// The subnet broadcast address of `ip/prefix` (255.255.255.255 for /31 and /32, which have
/// none).
pub fn broadcast_of(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    if prefix >= 31 {
        return Ipv4Addr::BROADCAST;
    }
    let host_mask = u32::MAX >> prefix;
    Ipv4Addr::from(u32::from(ip) | host_mask)
}

/// The four gratuitous ARP frames for `vip` owned by `mac`, in sending order:
/// request to the VIP, reply to the VIP, request to `broadcast`, reply to `broadcast`.
pub fn garp_frames(mac: MacAddr, vip: Ipv4Addr, broadcast: Ipv4Addr) -> [Vec<u8>; 4] {
    let frame = |op: Operation, target: Ipv4Addr| {
        let tha = match op {
            Operation::Reply => mac,
            _ => MacAddr::BROADCAST,
        };
        ArpRepr {
            operation: op,
            source_hardware_addr: mac,
            source_protocol_addr: vip,
            target_hardware_addr: tha,
            target_protocol_addr: target,
        }
        .to_frame(MacAddr::BROADCAST, mac)
    };
    [
        frame(Operation::Request, vip),
        frame(Operation::Reply, vip),
        frame(Operation::Request, broadcast),
        frame(Operation::Reply, broadcast),
    ]
}

/// Sends the four gratuitous ARP frames on the socket's interface.
pub fn send_garps(
    sock: &PacketSocket,
    mac: MacAddr,
    vip: Ipv4Addr,
    broadcast: Ipv4Addr,
) -> io::Result<()> {
    for frame in garp_frames(mac, vip, broadcast) {
        sock.send(&frame)?;
    }
    Ok(())
}

/// What an `ArpProbe` wants done next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeStep {
    /// Send this frame now, then call `on_timer` again at the given instant.
    Send(Vec<u8>, Instant),
    /// Nothing to send; call `on_timer` at this instant.
    Wait(Instant),
    /// The probe ran out of time and nobody answered.
    Unanswered,
}

/// A probe an event loop drives: `on_timer` at once, then at each instant it names.
pub trait Probe {
    /// Advances the probe at `now`.
    fn on_timer(&mut self, now: Instant) -> ProbeStep;
}

/// The schedule every probe shares: `tries` requests `interval` apart, then `interval` more
/// for the last answer.
#[derive(Debug, Clone)]
pub struct Tries {
    interval: Duration,
    left: u32,
    next: Option<Instant>,
}

impl Tries {
    /// At least one try.
    pub fn new(tries: u32, interval: Duration) -> Tries {
        Tries {
            interval,
            left: tries.max(1),
            next: None,
        }
    }

    /// At `now`: the request `frame` builds is due, or nothing yet, or the probe is over.
    pub fn step(&mut self, now: Instant, frame: impl FnOnce() -> Vec<u8>) -> ProbeStep {
        match self.next {
            Some(at) if now < at => ProbeStep::Wait(at),
            _ if self.left == 0 => ProbeStep::Unanswered,
            _ => {
                self.left -= 1;
                let at = now + self.interval;
                self.next = Some(at);
                ProbeStep::Send(frame(), at)
            }
        }
    }

    /// Whether the first request went out (nothing before it can be an answer).
    pub fn started(&self) -> bool {
        self.next.is_some()
    }
}

/// A duplicate-address probe: `tries` ARP requests for `target`, `interval` apart, from
/// (`mac`, `sender_ip`). `sender_ip` 0.0.0.0 makes it an RFC 5227 probe.
#[derive(Debug, Clone)]
pub struct ArpProbe {
    mac: MacAddr,
    sender_ip: Ipv4Addr,
    target: Ipv4Addr,
    tries: Tries,
}

impl ArpProbe {
    /// A probe that sends `tries` requests and gives up `interval` after the last one.
    pub fn new(
        mac: MacAddr,
        sender_ip: Ipv4Addr,
        target: Ipv4Addr,
        tries: u32,
        interval: Duration,
    ) -> ArpProbe {
        ArpProbe {
            mac,
            sender_ip,
            target,
            tries: Tries::new(tries, interval),
        }
    }

    /// The request frame (broadcast "who has TARGET? tell SENDER").
    pub fn request_frame(&self) -> Vec<u8> {
        request(self.mac, self.sender_ip, self.target)
    }

    /// Advances the probe at `now` (call it first right away, then at the instant it names).
    pub fn on_timer(&mut self, now: Instant) -> ProbeStep {
        let (mac, sender, target) = (self.mac, self.sender_ip, self.target);
        self.tries.step(now, || request(mac, sender, target))
    }

    /// The MAC of whoever claims the target in `frame`, if it does: any ARP packet whose
    /// sender protocol address is the target, from a hardware address other than ours.
    pub fn on_frame(&self, frame: &[u8]) -> Option<MacAddr> {
        let (_, arp) = ArpRepr::from_frame(frame)?;
        if arp.source_protocol_addr == self.target && arp.source_hardware_addr != self.mac {
            Some(arp.source_hardware_addr)
        } else {
            None
        }
    }

    /// The MAC of whoever *answered this probe* in `frame`: an ARP reply for the target,
    /// addressed to us (Ethernet destination and target hardware address are our MAC), sent
    /// from the MAC it names (Ethernet source and sender hardware address alike), after our
    /// first request went out. A gratuitous ARP or any other claim of the address does not
    /// count: pikemon's split-brain probe asks "is a live Master there now?", and a replayed
    /// or stray claim must not keep a Backup from taking over; nor does a reply that names a
    /// MAC its sender does not send from (a host that answers for the virtual MAC without
    /// taking its traffic).
    pub fn answer(&self, frame: &[u8]) -> Option<MacAddr> {
        let (eth, arp) = ArpRepr::from_frame(frame)?;
        let to_us = eth.destination == self.mac && arp.target_hardware_addr == self.mac;
        let answered = self.tries.started()
            && arp.operation == Operation::Reply
            && arp.source_protocol_addr == self.target
            && arp.source_hardware_addr != self.mac
            && eth.source == arp.source_hardware_addr
            && to_us;
        answered.then_some(arp.source_hardware_addr)
    }
}

impl Probe for ArpProbe {
    fn on_timer(&mut self, now: Instant) -> ProbeStep {
        ArpProbe::on_timer(self, now)
    }
}

fn request(mac: MacAddr, sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    ArpRepr {
        operation: Operation::Request,
        source_hardware_addr: mac,
        source_protocol_addr: sender,
        target_hardware_addr: MacAddr::ZERO,
        target_protocol_addr: target,
    }
    .to_frame(MacAddr::BROADCAST, mac)
}

/// Runs an `ArpProbe` on `sock` until someone answers (their MAC) or it gives up (`None`).
/// Blocks the calling thread for at most `tries × interval`.
pub fn probe_blocking(sock: &PacketSocket, probe: ArpProbe) -> io::Result<Option<MacAddr>> {
    run_blocking(sock, probe, |p, frame| p.on_frame(frame))
}

/// Runs `probe` on `sock` until `answer` finds the owner's MAC in a frame, or the probe
/// gives up (`None`): the one-shot form of every probe (ARP here, Neighbor Discovery in
/// `nd_probe`). Blocks the calling thread for at most `tries × interval`.
pub fn run_blocking<P: Probe>(
    sock: &PacketSocket,
    mut probe: P,
    answer: impl Fn(&P, &[u8]) -> Option<MacAddr>,
) -> io::Result<Option<MacAddr>> {
    // Drop what queued before the first request went out.
    while sock.recv()?.is_some() {}
    loop {
        let until = match probe.on_timer(Instant::now()) {
            ProbeStep::Send(frame, at) => {
                sock.send(&frame)?;
                at
            }
            ProbeStep::Wait(at) => at,
            ProbeStep::Unanswered => return Ok(None),
        };
        let left = until.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        while let Some((frame, _)) = sock.recv()? {
            if let Some(mac) = answer(&probe, &frame) {
                return Ok(Some(mac));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0x1a, 0xd2, 0x35, 0xa2, 0xde, 0x6b]);
    const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

    // The four frames as tcpdump -xx showed `arping -U/-A -c1 -I eth0 [-s VIP] VIP|BCAST`.
    fn captured(op: u8, tha: [u8; 6], tpa_last: u8) -> Vec<u8> {
        let mut v = vec![0xff; 6];
        v.extend_from_slice(&MAC.0);
        v.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, op]);
        v.extend_from_slice(&MAC.0);
        v.extend_from_slice(&[198, 51, 100, 10]);
        v.extend_from_slice(&tha);
        v.extend_from_slice(&[198, 51, 100, tpa_last]);
        v
    }

    #[test]
    fn garp_frames_match_arping() {
        let f = garp_frames(MAC, VIP, broadcast_of(VIP, 24));
        assert_eq!(f[0], captured(1, [0xff; 6], 10));
        assert_eq!(f[1], captured(2, MAC.0, 10));
        assert_eq!(f[2], captured(1, [0xff; 6], 255));
        assert_eq!(f[3], captured(2, MAC.0, 255));
    }

    #[test]
    fn broadcast_addresses() {
        assert_eq!(broadcast_of(VIP, 24), Ipv4Addr::new(198, 51, 100, 255));
        assert_eq!(broadcast_of(VIP, 26), Ipv4Addr::new(198, 51, 100, 63));
        assert_eq!(broadcast_of(VIP, 0), Ipv4Addr::BROADCAST);
        assert_eq!(broadcast_of(VIP, 31), Ipv4Addr::BROADCAST);
        assert_eq!(broadcast_of(VIP, 32), Ipv4Addr::BROADCAST);
    }

    #[test]
    fn probe_sends_tries_then_gives_up() {
        let t0 = Instant::now();
        let ms = Duration::from_millis(100);
        let mut p = ArpProbe::new(MAC, Ipv4Addr::new(198, 51, 100, 2), VIP, 2, ms);
        let ProbeStep::Send(frame, at) = p.on_timer(t0) else {
            panic!("first call must send")
        };
        let (_, arp) = ArpRepr::from_frame(&frame).unwrap();
        assert_eq!(arp.operation, Operation::Request);
        assert_eq!(arp.target_protocol_addr, VIP);
        assert_eq!(at, t0 + ms);
        assert_eq!(p.on_timer(t0 + ms / 2), ProbeStep::Wait(t0 + ms));
        assert!(matches!(p.on_timer(t0 + ms), ProbeStep::Send(..)));
        assert_eq!(p.on_timer(t0 + ms * 2), ProbeStep::Unanswered);
    }

    /// A virtual MAC and the reply it gives our probe for VIP.
    fn probe_reply() -> (MacAddr, ArpRepr) {
        let vmac = MacAddr([2, 198, 51, 100, 10, 0]);
        let reply = ArpRepr {
            operation: Operation::Reply,
            source_hardware_addr: vmac,
            source_protocol_addr: VIP,
            target_hardware_addr: MAC,
            target_protocol_addr: Ipv4Addr::UNSPECIFIED,
        };
        (vmac, reply)
    }

    #[test]
    fn probe_answers_are_replies_to_us_after_a_request_not_gratuitous_arps() {
        let mut p = ArpProbe::new(MAC, Ipv4Addr::UNSPECIFIED, VIP, 1, Duration::from_secs(1));
        let (vmac, reply) = probe_reply();
        let answer = reply.to_frame(MAC, vmac);
        assert_eq!(p.answer(&answer), None, "no request sent yet");
        assert!(matches!(p.on_timer(Instant::now()), ProbeStep::Send(..)));
        assert_eq!(p.answer(&answer), Some(vmac));
        // The four gratuitous ARPs of a Master (or a replay of them) are no answer.
        for garp in garp_frames(vmac, VIP, broadcast_of(VIP, 24)) {
            assert_eq!(p.answer(&garp), None);
            assert_eq!(p.on_frame(&garp), Some(vmac), "still a claim for ip-ra");
        }
        // A reply for another address, or to another host, is no answer either.
        let mut other = reply;
        other.source_protocol_addr = Ipv4Addr::new(198, 51, 100, 11);
        assert_eq!(p.answer(&other.to_frame(MAC, vmac)), None);
        let elsewhere = MacAddr([2, 0, 0, 0, 0, 9]);
        let mut to_other = reply;
        to_other.target_hardware_addr = elsewhere;
        assert_eq!(p.answer(&to_other.to_frame(elsewhere, vmac)), None);
        assert_eq!(p.answer(&reply.to_frame(MacAddr::BROADCAST, vmac)), None);
    }

    #[test]
    fn a_reply_naming_the_virtual_mac_from_another_ethernet_source_answered_the_probe() {
        let mut p = ArpProbe::new(MAC, Ipv4Addr::UNSPECIFIED, VIP, 1, Duration::from_secs(1));
        let (vmac, reply) = probe_reply();
        let forger = MacAddr([2, 0, 0, 0, 0, 0x66]);
        assert!(matches!(p.on_timer(Instant::now()), ProbeStep::Send(..)));
        assert_eq!(p.answer(&reply.to_frame(MAC, forger)), None);
        assert_eq!(p.answer(&reply.to_frame(MAC, vmac)), Some(vmac));
    }

    #[test]
    fn probe_recognises_claims_but_not_itself() {
        let p = ArpProbe::new(MAC, Ipv4Addr::UNSPECIFIED, VIP, 1, Duration::ZERO);
        let other = MacAddr([2, 0, 0, 0, 0, 1]);
        let claim = ArpRepr {
            operation: Operation::Reply,
            source_hardware_addr: other,
            source_protocol_addr: VIP,
            target_hardware_addr: MAC,
            target_protocol_addr: Ipv4Addr::UNSPECIFIED,
        };
        assert_eq!(p.on_frame(&claim.to_frame(MAC, other)), Some(other));
        assert_eq!(p.on_frame(&p.request_frame()), None);
        let mut unrelated = claim;
        unrelated.source_protocol_addr = Ipv4Addr::new(198, 51, 100, 3);
        assert_eq!(p.on_frame(&unrelated.to_frame(MAC, other)), None);
        assert_eq!(p.on_frame(&[1, 2, 3]), None);
    }
}
