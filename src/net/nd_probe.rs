//! The split-brain probe for an IPv6 address: Neighbor Solicitations carrying a Nonce option
//! (`wire::ndisc::probe_solicitation`), answered only by an advertisement that echoes the
//! nonce. The kernel of a node that holds the address answers any solicitation but never
//! echoes a nonce (Linux reads it for its own duplicate detection only), so only a live
//! pikemon worker answers: a daemon killed with its macvlan and addresses left up does not.
//! A state machine for event loops, like `garp::ArpProbe`.

use std::io;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use super::garp::{Probe, ProbeStep, Tries};
use super::packet::PacketSocket;
use crate::wire::ethernet::MacAddr;
use crate::wire::ndisc;

/// A probe: `tries` solicitations for `target`, `interval` apart, from `mac`.
#[derive(Debug, Clone)]
pub struct NdProbe {
    mac: MacAddr,
    target: Ipv6Addr,
    nonce: [u8; 6],
    tries: Tries,
}

impl NdProbe {
    /// A probe that sends `tries` solicitations with `nonce` and gives up `interval` after
    /// the last one.
    pub fn new(
        mac: MacAddr,
        target: Ipv6Addr,
        nonce: [u8; 6],
        tries: u32,
        interval: Duration,
    ) -> NdProbe {
        NdProbe {
            mac,
            target,
            nonce,
            tries: Tries::new(tries, interval),
        }
    }

    /// Advances the probe at `now` (call it first right away, then at the instant it names).
    pub fn on_timer(&mut self, now: Instant) -> ProbeStep {
        let (mac, target, nonce) = (self.mac, self.target, self.nonce);
        self.tries
            .step(now, || ndisc::probe_solicitation(mac, target, nonce))
    }

    /// The link-layer address an advertisement in `frame` gives for the target when it
    /// echoes our nonce (after the first solicitation went out) and comes from that address
    /// (its Ethernet source); anything else is `None`. A host that sees our solicitation can
    /// echo the nonce too, but it cannot name the virtual MAC without sending from it.
    pub fn answer(&self, frame: &[u8]) -> Option<MacAddr> {
        if !self.tries.started() {
            return None;
        }
        let nd = ndisc::parse_frame(frame)?;
        nd.answers_probe(self.target, self.nonce)
            .filter(|mac| *mac == nd.eth_src)
    }

    /// The link-layer address an advertisement for the target gives without echoing our
    /// nonce (what a kernel that holds the address sends): seen, but no answer.
    pub fn unechoed(&self, frame: &[u8]) -> Option<MacAddr> {
        if !self.tries.started() {
            return None;
        }
        let nd = ndisc::parse_frame(frame)?;
        match nd.message {
            ndisc::NdMessage::Advertisement { .. }
                if nd.answers_probe(self.target, self.nonce).is_none() =>
            {
                nd.claims(self.target)
            }
            _ => None,
        }
    }

    /// The probed address.
    pub fn target(&self) -> Ipv6Addr {
        self.target
    }
}

impl Probe for NdProbe {
    fn on_timer(&mut self, now: Instant) -> ProbeStep {
        NdProbe::on_timer(self, now)
    }
}

/// Runs `probe` on `sock` (IPv6 frames of the device) until an advertisement claims the
/// target, whether it echoes the nonce (a pikemon worker) or not (any kernel that holds the
/// address): the owner's MAC. `None` when the probe gives up; blocks the calling thread for
/// at most `tries × interval`. The duplicate check of an address added without the kernel's
/// DAD (ip-ra), done as DAD does it (RFC 4862 §5.4.2: a solicitation from the unspecified
/// address to the solicited-node group).
pub fn probe_blocking(sock: &PacketSocket, probe: NdProbe) -> io::Result<Option<MacAddr>> {
    super::garp::run_blocking(sock, probe, |p, frame| {
        p.answer(frame).or_else(|| p.unechoed(frame))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);
    const VMAC: MacAddr = MacAddr([0x02, 0xc6, 0x33, 0x64, 0x0a, 0x00]);
    const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);

    #[test]
    fn probe_sends_its_tries_then_gives_up() {
        let t0 = Instant::now();
        let iv = Duration::from_millis(100);
        let mut p = NdProbe::new(PARENT, VIP, [1; 6], 2, iv);
        let ProbeStep::Send(f, at) = p.on_timer(t0) else {
            panic!("first call sends")
        };
        assert_eq!(f, ndisc::probe_solicitation(PARENT, VIP, [1; 6]));
        assert_eq!(at, t0 + iv);
        assert_eq!(p.on_timer(t0), ProbeStep::Wait(t0 + iv));
        assert!(matches!(p.on_timer(t0 + iv), ProbeStep::Send(..)));
        assert_eq!(p.on_timer(t0 + iv * 2), ProbeStep::Unanswered);
    }

    #[test]
    fn only_the_echo_of_our_nonce_after_the_first_solicitation_answers() {
        let mut p = NdProbe::new(PARENT, VIP, [7; 6], 3, Duration::from_millis(50));
        let echo = ndisc::probe_answer(VMAC, VIP, false, [7; 6]);
        assert_eq!(p.answer(&echo), None, "nothing asked yet");
        let _ = p.on_timer(Instant::now());
        assert_eq!(p.answer(&echo), Some(VMAC));
        assert_eq!(
            p.answer(&ndisc::probe_answer(VMAC, VIP, false, [8; 6])),
            None
        );
        let kernel = ndisc::unsolicited_advertisement(VMAC, VIP, false);
        assert_eq!(p.answer(&kernel), None);
        assert_eq!(p.unechoed(&kernel), Some(VMAC));
        assert_eq!(p.unechoed(&echo), None);
    }

    #[test]
    fn an_echo_naming_the_virtual_mac_from_another_ethernet_source_answered_the_probe() {
        let mut p = NdProbe::new(PARENT, VIP, [7; 6], 3, Duration::from_millis(50));
        let _ = p.on_timer(Instant::now());
        let mut forged = ndisc::probe_answer(VMAC, VIP, false, [7; 6]);
        // Another host that saw the solicitation echoes the nonce, from its own MAC.
        forged[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0x66]);
        assert_eq!(p.answer(&forged), None);
    }
}
