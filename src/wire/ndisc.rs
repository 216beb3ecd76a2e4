//! Neighbor Discovery on the wire (RFC 4861): whole Ethernet frames for the unsolicited
//! Neighbor Advertisement that is IPv6's gratuitous ARP, and for the Neighbor Solicitation
//! that probes an address (duplicate check, split-brain probe); and the reading of such frames
//! off an AF_PACKET socket. The frames are built and sliced with `etherparse`; the messages are
//! `icmpv6::Repr`. No I/O.
//!
//! Every ND packet goes with hop limit 255 and a receiver drops any other (RFC 4861 §7.1), so
//! `parse_frame` does the same.

use std::net::Ipv6Addr;

use etherparse::{EtherType, Ethernet2Slice, Ipv6Slice, PacketBuilder};

use super::ethernet::MacAddr;
use super::icmpv6::{self, NaFlags, Repr};

/// The hop limit of every Neighbor Discovery packet.
pub const ND_HOP_LIMIT: u8 = 255;
/// The all-nodes link-local multicast group (RFC 4291 §2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The Ethernet group address of an IPv6 multicast address: 33:33 and its last 32 bits
/// (RFC 2464 §7).
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// The solicited-node multicast address of `addr`: ff02::1:ff and its last 24 bits
/// (RFC 4291 §2.7.1).
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// The modified EUI-64 link-local address of `mac` (RFC 4291 appendix A): fe80::, the MAC
/// with the universal/local bit flipped and ff:fe in the middle.
pub fn link_local_of(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 0x02,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

fn frame(src_mac: MacAddr, dst_mac: MacAddr, src: Ipv6Addr, dst: Ipv6Addr, msg: Repr) -> Vec<u8> {
    let (t, payload) = msg.type_and_payload();
    let builder = PacketBuilder::ethernet2(src_mac.0, dst_mac.0)
        .ipv6(src.octets(), dst.octets(), ND_HOP_LIMIT)
        .icmpv6(t);
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    // Writing into a Vec cannot fail, and an ND payload is far below the length limits.
    if builder.write(&mut out, &payload).is_err() {
        out.clear();
    }
    out
}

/// The unsolicited Neighbor Advertisement for `addr` owned by `mac` (RFC 4861 §7.2.6):
/// Override set, Solicited clear, Router as given (a gateway address must keep R set or hosts
/// drop it from their default-router list, §7.2.5), the target link-layer address option
/// carrying `mac`, from `addr` to all-nodes.
pub fn unsolicited_advertisement(mac: MacAddr, addr: Ipv6Addr, router: bool) -> Vec<u8> {
    frame(
        mac,
        multicast_mac(ALL_NODES),
        addr,
        ALL_NODES,
        Repr::NeighborAdvertisement {
            flags: NaFlags {
                router,
                solicited: false,
                override_cache: true,
            },
            target: addr,
            target_lladdr: Some(mac.0),
            nonce: None,
        },
    )
}

/// A Neighbor Solicitation for `target` from `mac` to the target's solicited-node group.
/// `src` is the unspecified address for a duplicate-address probe (RFC 4862 §5.4.2, then no
/// source link-layer option is allowed) or an address of ours.
pub fn solicitation(mac: MacAddr, src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let group = solicited_node(target);
    frame(
        mac,
        multicast_mac(group),
        src,
        group,
        Repr::NeighborSolicitation {
            target,
            source_lladdr: (!src.is_unspecified()).then_some(mac.0),
            nonce: None,
        },
    )
}

/// pikemon's split-brain probe for `target`: a solicitation from the unspecified address
/// (the prober holds no address of the cluster) carrying a Nonce option (RFC 3971 §5.3.2).
/// The Linux kernel answers it for an address it holds but does not echo the nonce; only a
/// live pikemon worker does (`probe_answer`), so an NA with the nonce proves a live master.
pub fn probe_solicitation(mac: MacAddr, target: Ipv6Addr, nonce: [u8; 6]) -> Vec<u8> {
    let group = solicited_node(target);
    frame(
        mac,
        multicast_mac(group),
        Ipv6Addr::UNSPECIFIED,
        group,
        Repr::NeighborSolicitation {
            target,
            source_lladdr: None,
            nonce: Some(nonce),
        },
    )
}

/// The live master's answer to a `probe_solicitation`: an NA for `target` from `vmac`, to
/// all-nodes as for any solicitation from the unspecified address (RFC 4861 §7.2.4: Solicited
/// clear), Override set, and the probe's nonce echoed.
pub fn probe_answer(vmac: MacAddr, target: Ipv6Addr, router: bool, nonce: [u8; 6]) -> Vec<u8> {
    frame(
        vmac,
        multicast_mac(ALL_NODES),
        target,
        ALL_NODES,
        Repr::NeighborAdvertisement {
            flags: NaFlags {
                router,
                solicited: false,
                override_cache: true,
            },
            target,
            target_lladdr: Some(vmac.0),
            nonce: Some(nonce),
        },
    )
}

/// A Neighbor Discovery message read off the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdFrame {
    /// Ethernet source of the frame.
    pub eth_src: MacAddr,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// An NS or NA (other ICMPv6 types are not returned).
    pub message: NdMessage,
}

/// The two ND messages, owned (no borrowed data left in them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdMessage {
    Solicitation {
        target: Ipv6Addr,
        source_lladdr: Option<MacAddr>,
        nonce: Option<[u8; 6]>,
    },
    Advertisement {
        flags: NaFlags,
        target: Ipv6Addr,
        target_lladdr: Option<MacAddr>,
        nonce: Option<[u8; 6]>,
    },
}

impl NdFrame {
    /// The nonce of a `probe_solicitation` for one of `addrs`: a solicitation from the
    /// unspecified address with a Nonce option, and the solicited address.
    pub fn probe_for(&self, addrs: &[Ipv6Addr]) -> Option<(Ipv6Addr, [u8; 6])> {
        match self.message {
            NdMessage::Solicitation {
                target,
                nonce: Some(n),
                ..
            } if self.src.is_unspecified() && addrs.contains(&target) => Some((target, n)),
            _ => None,
        }
    }

    /// The link-layer address of an advertisement for `addr` that echoes `nonce`: the answer
    /// to our probe. An NA without the nonce (a kernel's) or with another is no answer.
    pub fn answers_probe(&self, addr: Ipv6Addr, nonce: [u8; 6]) -> Option<MacAddr> {
        match self.message {
            NdMessage::Advertisement {
                target,
                target_lladdr,
                nonce: Some(n),
                ..
            } if target == addr && n == nonce => Some(target_lladdr.unwrap_or(self.eth_src)),
            _ => None,
        }
    }

    /// The link-layer address this frame says owns `addr`: an NA's target option (or its
    /// Ethernet source without one), or a solicitation's source option when it solicits from
    /// `addr` itself.
    pub fn claims(&self, addr: Ipv6Addr) -> Option<MacAddr> {
        match self.message {
            NdMessage::Advertisement {
                target,
                target_lladdr,
                ..
            } if target == addr => Some(target_lladdr.unwrap_or(self.eth_src)),
            NdMessage::Solicitation { source_lladdr, .. } if self.src == addr => {
                Some(source_lladdr.unwrap_or(self.eth_src))
            }
            _ => None,
        }
    }
}

/// Reads an Ethernet frame carrying an NS or NA with hop limit 255 and a right checksum;
/// anything else is `None` (frames from the network never fail the caller).
pub fn parse_frame(frame: &[u8]) -> Option<NdFrame> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).ok()?;
    if eth.ether_type() != EtherType::IPV6 {
        return None;
    }
    let ip = Ipv6Slice::from_slice(eth.payload_slice()).ok()?;
    let header = ip.header();
    let payload = ip.payload();
    if header.hop_limit() != ND_HOP_LIMIT || payload.ip_number.0 != icmpv6::PROTO_ICMPV6 {
        return None;
    }
    let (src, dst) = (header.source_addr(), header.destination_addr());
    let bytes = payload.payload;
    if !icmpv6::checksum_ok(bytes, src, dst) {
        return None;
    }
    let message = match Repr::parse(bytes).ok()? {
        Repr::NeighborSolicitation {
            target,
            source_lladdr,
            nonce,
        } => NdMessage::Solicitation {
            target,
            source_lladdr: source_lladdr.map(MacAddr),
            nonce,
        },
        Repr::NeighborAdvertisement {
            flags,
            target,
            target_lladdr,
            nonce,
        } => NdMessage::Advertisement {
            flags,
            target,
            target_lladdr: target_lladdr.map(MacAddr),
            nonce,
        },
        _ => return None,
    };
    Some(NdFrame {
        eth_src: MacAddr(eth.source()),
        src,
        dst,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testing::{hex, Xorshift32};

    const VMAC: MacAddr = MacAddr([0x02, 0xc6, 0x33, 0x64, 0x0a, 0x00]);
    const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);

    #[test]
    fn group_addresses_follow_rfc_4291_and_2464() {
        assert_eq!(
            solicited_node(VIP),
            "ff02::1:ff00:10".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            multicast_mac(solicited_node(VIP)),
            MacAddr([0x33, 0x33, 0xff, 0, 0, 0x10])
        );
        assert_eq!(multicast_mac(ALL_NODES), MacAddr([0x33, 0x33, 0, 0, 0, 1]));
        assert_eq!(
            link_local_of(VMAC),
            "fe80::c6:33ff:fe64:a00".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn unsolicited_advertisement_is_the_frame_ndisc6_sends() {
        let f = unsolicited_advertisement(VMAC, VIP, false);
        // Ethernet: to 33:33:00:00:00:01 from the vMAC, IPv6.
        assert_eq!(&f[..14], &hex("333300000001 02c633640a00 86dd")[..]);
        // IPv6: payload 32 bytes (24 + 8-byte option), ICMPv6, hop limit 255, VIP → ff02::1.
        assert_eq!(&f[14..22], &hex("60000000 0020 3a ff")[..]);
        assert_eq!(&f[22..38], &VIP.octets());
        assert_eq!(&f[38..54], &ALL_NODES.octets());
        // ICMPv6: type 136, O flag only, target, option 2 with the vMAC.
        assert_eq!(f[54], 136);
        assert_eq!(&f[58..62], &hex("20000000")[..]);
        assert_eq!(&f[62..78], &VIP.octets());
        assert_eq!(&f[78..], &hex("0201 02c633640a00")[..]);
        let parsed = parse_frame(&f).expect("own NA parses");
        assert_eq!(parsed.claims(VIP), Some(VMAC));
        assert_eq!(
            parsed.message,
            NdMessage::Advertisement {
                flags: NaFlags {
                    router: false,
                    solicited: false,
                    override_cache: true
                },
                target: VIP,
                target_lladdr: Some(VMAC),
                nonce: None,
            }
        );
        let r = parse_frame(&unsolicited_advertisement(VMAC, VIP, true)).unwrap();
        assert!(matches!(r.message, NdMessage::Advertisement { flags, .. } if flags.router));
    }

    #[test]
    fn duplicate_probe_solicits_from_the_unspecified_address_without_option() {
        let f = solicitation(VMAC, Ipv6Addr::UNSPECIFIED, VIP);
        assert_eq!(&f[..6], &hex("3333ff000010")[..]);
        let p = parse_frame(&f).unwrap();
        assert_eq!(p.dst, solicited_node(VIP));
        assert_eq!(
            p.message,
            NdMessage::Solicitation {
                target: VIP,
                source_lladdr: None,
                nonce: None,
            }
        );
        // A solicitation from the unspecified address claims nothing.
        assert_eq!(p.claims(VIP), None);
        let from_vip = parse_frame(&solicitation(VMAC, VIP, VIP)).unwrap();
        assert_eq!(from_vip.claims(VIP), Some(VMAC));
    }

    #[test]
    fn only_an_advertisement_echoing_the_probes_nonce_answers_it() {
        const PARENT: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);
        let nonce = [9, 8, 7, 6, 5, 4];
        let ns = parse_frame(&probe_solicitation(PARENT, VIP, nonce)).expect("probe parses");
        assert!(ns.src.is_unspecified());
        assert_eq!(ns.dst, solicited_node(VIP));
        assert_eq!(ns.probe_for(&[VIP]), Some((VIP, nonce)));
        let other = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x11);
        assert_eq!(ns.probe_for(&[other]), None);
        // A plain duplicate-address solicitation (no nonce) is no probe of ours.
        let dad = parse_frame(&solicitation(PARENT, Ipv6Addr::UNSPECIFIED, VIP)).unwrap();
        assert_eq!(dad.probe_for(&[VIP]), None);

        let na = parse_frame(&probe_answer(VMAC, VIP, false, nonce)).expect("answer parses");
        assert_eq!(na.dst, ALL_NODES);
        assert_eq!(na.answers_probe(VIP, nonce), Some(VMAC));
        assert_eq!(na.answers_probe(VIP, [0; 6]), None);
        assert_eq!(na.answers_probe(other, nonce), None);
        // What a kernel sends for the address (no nonce) answers nothing.
        let kernel = parse_frame(&unsolicited_advertisement(VMAC, VIP, false)).unwrap();
        assert_eq!(kernel.answers_probe(VIP, nonce), None);
        assert!(matches!(
            na.message,
            NdMessage::Advertisement { flags, .. } if flags.override_cache && !flags.solicited
        ));
    }

    #[test]
    fn frames_with_a_bad_checksum_or_hop_limit_are_ignored() {
        let mut f = unsolicited_advertisement(VMAC, VIP, false);
        f[21] = 64;
        assert_eq!(parse_frame(&f), None);
        let mut f = unsolicited_advertisement(VMAC, VIP, false);
        f[70] ^= 1;
        assert_eq!(parse_frame(&f), None);
        assert_eq!(parse_frame(&f[..40]), None);
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = Xorshift32(0xdead_beef);
        let good = unsolicited_advertisement(VMAC, VIP, false);
        for len in 0..100usize {
            for _ in 0..50 {
                let mut buf: Vec<u8> = good.iter().copied().take(len).collect();
                let at = rng.next_u32() as usize % good.len();
                if let Some(b) = buf.get_mut(at) {
                    *b = rng.next_u32() as u8;
                }
                if let Some(f) = parse_frame(&buf) {
                    let _ = f.claims(VIP);
                }
            }
        }
    }
}
