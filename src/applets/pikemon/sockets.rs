//! The packet sockets of the heart-beat and controlled interfaces: opened by the supervisor,
//! held for its whole life and handed to every worker it starts. A restarted worker then
//! finds its sockets bound, filtered and joined (no bind, no RCU grace period per socket),
//! and the dead worker's exit closes nothing (the last reference of a packet socket waits
//! for a grace period in the kernel: about 13 ms each). Frames that arrive while no worker
//! runs wait in the sockets' queues instead of being lost. A worker started without them
//! (`--worker` by hand, an interface that appeared later) opens its own, as before.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::process::Command;

use log::{debug, warn};
use nix::sys::socket::{getsockname, AddressFamily, SockaddrLike, SockaddrStorage};

use super::config::Config;
use crate::net::packet::{PacketSocket, ETHERTYPE_ARP, ETHERTYPE_IPV6};
use crate::net::rtnl::Rtnl;
use crate::sys::packet::FieldEq;
use crate::wire::ethernet::MacAddr;
use crate::wire::pike;

/// The environment variable naming the inherited sockets: `KEY=FD` items separated by
/// spaces, KEY being `KIND:IFNAME` (interface names hold neither spaces nor colons).
pub const ENV: &str = "PIKEMON_SOCKETS";

/// What a socket is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// PIKE on a heart-beat interface: bound to the EtherType, filtered.
    Pike,
    /// PIKE on a controlled interface: a filtered tap (see `PacketSocket::tap`).
    PikeTap,
    /// ARP on a controlled interface: a tap.
    Arp,
    /// Neighbor Discovery on a controlled interface (the IPv6 split-brain probe and its
    /// answer): a tap on IPv6 frames filtered to ICMPv6 with hop limit 255.
    Nd,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Pike => "pike",
            Kind::PikeTap => "pike-tap",
            Kind::Arp => "arp",
            Kind::Nd => "nd",
        }
    }
}

/// The key of a socket in the hand-over.
pub fn key(kind: Kind, ifname: &str) -> String {
    format!("{}:{ifname}", kind.word())
}

/// What a frame must carry for the kernel to hand it to a PIKE socket: the magic, this
/// version and our cluster-id (Ethernet header 14 bytes, then the layout of `wire::pike`).
/// Garbage and other clusters' frames are dropped before they wake the worker.
fn pike_fields(cluster_id: u32) -> [FieldEq; 3] {
    [
        FieldEq {
            offset: 14,
            width: 4,
            value: u32::from_be_bytes(pike::MAGIC),
        },
        FieldEq {
            offset: 18,
            width: 1,
            value: u32::from(pike::VERSION),
        },
        FieldEq {
            offset: 22,
            width: 4,
            value: cluster_id,
        },
    ]
}

/// What an IPv6 frame must carry to reach the ND tap: next header ICMPv6 and hop limit 255
/// (RFC 4861 §7.1; offsets 20 and 21 from the Ethernet header). The worker's traffic on a
/// busy IPv6 LAN never wakes it; ND messages behind extension headers are not read.
const ND_FIELDS: [FieldEq; 2] = [
    FieldEq {
        offset: 20,
        width: 1,
        value: crate::wire::icmpv6::PROTO_ICMPV6 as u32,
    },
    FieldEq {
        offset: 21,
        width: 1,
        value: crate::wire::ndisc::ND_HOP_LIMIT as u32,
    },
];

/// Opens the socket of `kind` on `ifindex`.
pub fn open(kind: Kind, ifindex: u32, cluster_id: u32) -> io::Result<PacketSocket> {
    let fields = pike_fields(cluster_id);
    match kind {
        Kind::Arp => PacketSocket::tap(ifindex, ETHERTYPE_ARP),
        // A tap for the same reason as ARP: frames from the shared virtual MAC.
        Kind::Nd => PacketSocket::tap_matching(ifindex, ETHERTYPE_IPV6, &ND_FIELDS),
        // On a controlled interface a tap: two Masters send from the same virtual MAC, and
        // each kernel hands the other's frames to its own macvlan instead of the parent.
        Kind::PikeTap => PacketSocket::tap_matching(ifindex, pike::ETHERTYPE, &fields)
            .and_then(|s| s.join_multicast(MacAddr(pike::GROUP_MAC)).map(|_| s)),
        Kind::Pike => PacketSocket::bind(ifindex, pike::ETHERTYPE).and_then(|s| {
            let mut all = vec![FieldEq::ethertype(pike::ETHERTYPE)];
            all.extend_from_slice(&fields);
            s.filter(&all)?;
            s.join_multicast(MacAddr(pike::GROUP_MAC))?;
            Ok(s)
        }),
    }
}

/// Narrows a controlled interface's ARP tap to the frames the worker reads: ARP whose sender
/// or target address is one of `vips` (requests to answer, probe answers, claims of a VIP)
/// and any ARP sent from `vmac` (another Master). The rest of the LAN's ARP, a storm
/// included, is dropped in the kernel and never wakes the worker. An error keeps the tap's
/// EtherType filter (all ARP).
pub fn filter_arp(s: &PacketSocket, vips: &[Ipv4Addr], vmac: MacAddr) -> io::Result<()> {
    // Ethernet header (14), then hardware and protocol types and sizes and the operation
    // (8), the sender's hardware address (6) and protocol address, the target's.
    const SENDER_IP: u32 = 28;
    const TARGET_IP: u32 = 38;
    // From the virtual MAC first: a short frame ends the program at the first load past
    // its end.
    let mut any = vec![FieldEq::bytes(ETH_SOURCE, &vmac.0)];
    for ip in vips {
        any.push(FieldEq::bytes(SENDER_IP, &ip.octets()));
        any.push(FieldEq::bytes(TARGET_IP, &ip.octets()));
    }
    s.filter_any(&[FieldEq::ethertype(ETHERTYPE_ARP)], &any)
}

/// Narrows a controlled interface's ND tap (`ND_FIELDS`) the same way: Neighbor Discovery
/// whose target or IPv6 source is one of `addrs` (the IPv6 VIPs and the virtual link-local
/// address: solicitations to answer, probe answers, claims) and any sent from `vmac`. The
/// LAN's other neighbour solicitations never wake the worker. An error keeps `ND_FIELDS`.
pub fn filter_nd(s: &PacketSocket, addrs: &[Ipv6Addr], vmac: MacAddr) -> io::Result<()> {
    // The IPv6 header's source (8 bytes in) and an NS's or NA's target (8 bytes into the
    // ICMPv6 message after the 40-byte header), from the Ethernet header's start.
    const SOURCE: u32 = 14 + 8;
    const TARGET: u32 = 14 + 40 + 8;
    let mut all = vec![FieldEq::ethertype(ETHERTYPE_IPV6)];
    all.extend_from_slice(&ND_FIELDS);
    // From the virtual MAC first: a frame shorter than an NS (a Router Solicitation) ends
    // the program at the first load past its end.
    let mut any = vec![FieldEq::bytes(ETH_SOURCE, &vmac.0)];
    for ip in addrs {
        any.push(FieldEq::bytes(SOURCE, &ip.octets()));
        any.push(FieldEq::bytes(TARGET, &ip.octets()));
    }
    s.filter_any(&all, &any)
}

/// The Ethernet header's source address.
const ETH_SOURCE: u32 = 6;

/// Every socket a worker of `cfg` opens, by kind and interface name.
pub fn wanted(cfg: &Config) -> Vec<(Kind, String)> {
    let mut out: Vec<(Kind, String)> = cfg
        .heart_beat
        .iter()
        .map(|n| (Kind::Pike, n.clone()))
        .collect();
    for vc in &cfg.virtual_clusters {
        for ci in &vc.interfaces {
            let nd = (!ci.ipv6.is_empty()).then_some(Kind::Nd);
            for kind in [Kind::PikeTap, Kind::Arp].into_iter().chain(nd) {
                if !out.iter().any(|(k, n)| *k == kind && *n == ci.name) {
                    out.push((kind, ci.name.clone()));
                }
            }
        }
    }
    out
}

/// The sockets the supervisor holds.
#[derive(Debug, Default)]
pub struct Held {
    items: Vec<(Kind, String, PacketSocket)>,
}

impl Held {
    /// Opens what is missing or stale: a socket whose interface is gone or was re-created
    /// (another index) is replaced. Called before each worker start.
    pub fn refresh(&mut self, cfg: &Config) {
        let mut rt = match Rtnl::open() {
            Ok(rt) => rt,
            Err(e) => {
                warn!("sockets for the worker: rtnetlink: {e}");
                return;
            }
        };
        let mut items = Vec::new();
        for (kind, name) in wanted(cfg) {
            let index = match rt.link_by_name(&name) {
                Ok(Some(l)) => l.index,
                // The worker reports a missing interface.
                _ => continue,
            };
            let old = self
                .items
                .iter()
                .position(|(k, n, s)| *k == kind && *n == name && s.ifindex() == index);
            match old {
                Some(i) => items.push(self.items.swap_remove(i)),
                None => match open(kind, index, cfg.cluster_id) {
                    Ok(s) => items.push((kind, name, s)),
                    // The worker tries again and reports it.
                    Err(e) => debug!("{name}: {} socket: {e}", kind.word()),
                },
            }
        }
        self.items = items;
    }

    /// Makes the held sockets visible to the process `cmd` starts: an inheritable copy of
    /// each and their names in the environment. The copies are closed by dropping what this
    /// returns once the child is started.
    pub fn hand_to(&self, cmd: &mut Command) -> Vec<OwnedFd> {
        let mut fds = Vec::new();
        let mut names = Vec::new();
        for (kind, name, s) in &self.items {
            // dup(2) leaves close-on-exec clear on the copy: the child inherits it.
            match nix::unistd::dup(s.as_fd()) {
                Ok(fd) => {
                    names.push(format!("{}={}", key(*kind, name), fd.as_raw_fd()));
                    fds.push(fd);
                }
                Err(e) => warn!("{name}: cannot pass the {} socket: {e}", kind.word()),
            }
        }
        if names.is_empty() {
            cmd.env_remove(ENV);
        } else {
            cmd.env(ENV, names.join(" "));
        }
        fds
    }
}

/// The sockets a worker inherited from its supervisor.
#[derive(Debug, Default)]
pub struct Inherited {
    items: Vec<(String, OwnedFd)>,
    count: usize,
    taken: usize,
}

impl Inherited {
    /// Takes the sockets `ENV` names (and removes it, so hooks neither see it nor inherit
    /// the sockets). A malformed item, an fd that is not open or not a packet socket, and
    /// an fd named a second time are skipped and left as they are.
    pub fn from_env() -> Inherited {
        let Some(text) = std::env::var_os(ENV) else {
            return Inherited::default();
        };
        std::env::remove_var(ENV);
        let mut seen = Vec::new();
        let items: Vec<(String, OwnedFd)> = parse(&text.to_string_lossy())
            .into_iter()
            // Only a packet socket is taken, each fd once: an fd named twice would be closed
            // twice, and one that is not a packet socket may be this process's own (its
            // syslog socket) — adopting it would close it when it is found wrong.
            .filter(|(k, raw)| {
                if seen.contains(raw) {
                    warn!("inherited socket {k} (fd {raw}): named twice, ignored");
                    return false;
                }
                seen.push(*raw);
                let packet = getsockname::<SockaddrStorage>(*raw)
                    .is_ok_and(|a| a.family() == Some(AddressFamily::Packet));
                if !packet {
                    warn!("inherited socket {k} (fd {raw}): not a packet socket, ignored");
                }
                packet
            })
            .filter_map(|(k, raw)| match crate::sys::adopt_inherited(raw) {
                Ok(fd) => Some((k, fd)),
                Err(e) => {
                    warn!("inherited socket {k} (fd {raw}): {e}");
                    None
                }
            })
            .collect();
        Inherited {
            count: items.len(),
            items,
            taken: 0,
        }
    }

    /// The inherited socket `key`, when it is a packet socket bound to `ifindex`.
    pub fn take(&mut self, key: &str, ifindex: u32, ethertype: u16) -> Option<PacketSocket> {
        let i = self.items.iter().position(|(k, _)| k == key)?;
        let (_, fd) = self.items.swap_remove(i);
        match PacketSocket::from_inherited(fd, ethertype) {
            Ok(s) if s.ifindex() == ifindex => {
                self.taken += 1;
                Some(s)
            }
            Ok(s) => {
                debug!(
                    "inherited {key} is bound to index {}, not {ifindex}",
                    s.ifindex()
                );
                None
            }
            Err(e) => {
                warn!("inherited {key}: {e}");
                None
            }
        }
    }

    /// How many sockets were inherited (taken or not).
    pub fn count(&self) -> usize {
        self.count
    }

    /// How many were taken by `take`.
    pub fn taken(&self) -> usize {
        self.taken
    }
}

/// `KEY=FD` items; a malformed one is skipped.
fn parse(text: &str) -> Vec<(String, RawFd)> {
    text.split_ascii_whitespace()
        .filter_map(|item| {
            let (k, fd) = item.rsplit_once('=')?;
            let fd: RawFd = fd.parse().ok()?;
            (fd > 2 && k.contains(':')).then(|| (k.to_string(), fd))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::test_ns::TempNs;
    use crate::wire::arp::{ArpRepr, Operation};

    /// The frames of `frames` that reach a tap of `kind` on one end of a veth pair, sent
    /// from the other end (a namespace of its own, `prefix`), once `narrow` has filtered it.
    fn through_tap(
        prefix: &str,
        kind: Kind,
        ethertype: u16,
        frames: Vec<Vec<u8>>,
        narrow: impl FnOnce(&PacketSocket) -> io::Result<()> + Send + 'static,
    ) -> Vec<Vec<u8>> {
        let ns = TempNs::new(prefix);
        for args in [
            &[
                "link", "add", "arp0", "type", "veth", "peer", "name", "arp1",
            ][..],
            &["link", "set", "arp0", "up"],
            &["link", "set", "arp1", "up"],
        ] {
            let ok = Command::new("ip")
                .args(["-n", &ns.0])
                .args(args)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "ip {args:?}");
        }
        ns.run(move || {
            let index = |n| nix::net::if_::if_nametoindex(n).expect("veth");
            let tap = open(kind, index("arp0"), 0).expect("tap (needs root)");
            narrow(&tap).expect("filter");
            let out = PacketSocket::bind(index("arp1"), ethertype).expect("sender");
            for f in &frames {
                out.send(f).expect("send");
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            let mut got = Vec::new();
            while let Ok(Some((f, _))) = tap.recv() {
                got.push(f);
            }
            got
        })
    }

    /// Every ARP frame on the LAN woke the worker (SCHED_FIFO with `realtime`) through a
    /// controlled interface's ARP tap, to be dropped in user space: a host asking for its
    /// gateway, or an ARP storm. The kernel now hands the tap only ARP about a VIP or sent
    /// from the virtual MAC. Frames sent on a veth pair, each tagged in its target hardware
    /// address.
    #[test]
    fn arp_about_other_hosts_woke_the_controlled_interfaces_arp_tap() {
        let vmac = MacAddr([0x02, 0xc6, 0x33, 0x64, 0x0a, 0x00]);
        let host = MacAddr([0x02, 0, 0, 0, 0, 0x50]);
        let ip = |d| Ipv4Addr::new(198, 51, 100, d);
        let (vip1, vip2) = (ip(10), ip(11));
        let frame = |tag: u8, op, eth_src: MacAddr, spa, tpa| {
            ArpRepr {
                operation: op,
                source_hardware_addr: eth_src,
                source_protocol_addr: spa,
                target_hardware_addr: MacAddr([0, 0, 0, 0, 0, tag]),
                target_protocol_addr: tpa,
            }
            .to_frame(MacAddr([0xff; 6]), eth_src)
        };
        let near = |i: usize| {
            let mut m = vmac;
            m.0[i] ^= 1;
            m
        };
        let mut not_arp = frame(9, Operation::Request, host, ip(50), vip1);
        not_arp[12..14].copy_from_slice(&[0x08, 0x00]);
        let frames = vec![
            frame(1, Operation::Request, host, ip(50), ip(1)),
            frame(2, Operation::Reply, host, ip(60), ip(50)),
            frame(3, Operation::Request, host, ip(50), vip1),
            frame(4, Operation::Request, host, ip(50), vip2),
            frame(5, Operation::Request, host, vip1, vip1),
            frame(6, Operation::Request, vmac, ip(3), ip(1)),
            frame(7, Operation::Request, near(5), ip(3), ip(1)),
            frame(8, Operation::Request, near(0), ip(3), ip(1)),
            not_arp,
        ];
        let got: Vec<Option<u8>> =
            through_tap("harpflt", Kind::Arp, ETHERTYPE_ARP, frames, move |tap| {
                filter_arp(tap, &[vip1, vip2], vmac)
            })
            .iter()
            .map(|f| f.get(37).copied())
            .collect();
        // About a VIP (as target or sender) or from the virtual MAC; not the others.
        assert_eq!(got, [Some(3), Some(4), Some(5), Some(6)]);
    }

    /// The same for the ND tap of an IPv6 interface: every neighbour solicitation on the LAN
    /// (hop limit 255, ICMPv6) woke the worker. Now only those about the IPv6 VIPs or the
    /// virtual link-local address, or sent from the virtual MAC.
    #[test]
    fn neighbour_discovery_about_other_hosts_woke_the_nd_tap() {
        use crate::wire::ndisc;
        let vmac = MacAddr([0x02, 0xc6, 0x33, 0x64, 0x0a, 0x00]);
        let host = MacAddr([0x02, 0, 0, 0, 0, 0x50]);
        let ip = |d: u16| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, d);
        let (vip, ll) = (ip(0x10), ndisc::link_local_of(vmac));
        let mut near = vmac;
        near.0[5] ^= 1;
        // A 70-byte ICMPv6 message from the virtual MAC (a Router Solicitation's size),
        // shorter than an NS's target, whose bytes where the target would begin are the
        // VIP's first half: a check of the target loads past its end, which drops the
        // frame unless the virtual MAC was checked before.
        let mut short = ndisc::solicitation(vmac, ip(3), ip(1));
        short.truncate(70);
        short[18..20].copy_from_slice(&16u16.to_be_bytes());
        short[54] = 133;
        short[62..70].copy_from_slice(&vip.octets()[..8]);
        // A solicitation for the VIP with a hop limit below 255: no ND (RFC 4861 7.1.1).
        let mut routed = ndisc::solicitation(host, ip(0x50), vip);
        routed[21] = 64;
        let frames = vec![
            // Not about us, or no ND: dropped.
            ndisc::solicitation(host, ip(0x50), ip(1)),
            ndisc::unsolicited_advertisement(host, ip(0x60), false),
            ndisc::solicitation(near, ip(3), ip(1)),
            routed,
            // About the VIP or the virtual link-local address, or from the virtual MAC.
            ndisc::solicitation(host, ip(0x50), vip),
            ndisc::probe_solicitation(host, vip, [1, 2, 3, 4, 5, 6]),
            ndisc::unsolicited_advertisement(host, vip, false),
            ndisc::solicitation(host, vip, ip(1)),
            ndisc::unsolicited_advertisement(host, ll, false),
            ndisc::solicitation(vmac, ip(3), ip(1)),
            short,
        ];
        let sent = frames.clone();
        let got = through_tap("hndflt", Kind::Nd, ETHERTYPE_IPV6, frames, move |tap| {
            filter_nd(tap, &[vip, ll], vmac)
        });
        let which: Vec<Option<usize>> = got
            .iter()
            .map(|f| sent.iter().position(|s| s == f))
            .collect();
        assert_eq!(
            which,
            [
                Some(4),
                Some(5),
                Some(6),
                Some(7),
                Some(8),
                Some(9),
                Some(10)
            ]
        );
    }

    #[test]
    fn the_hand_over_names_parse_and_junk_is_skipped() {
        assert_eq!(
            parse("pike:hb0=5 arp:lan0=7  pike-tap:lan0=6"),
            [
                ("pike:hb0".to_string(), 5),
                ("arp:lan0".to_string(), 7),
                ("pike-tap:lan0".to_string(), 6)
            ]
        );
        // No fd, not a number, stdin..stderr, no kind: skipped.
        assert!(parse("pike:hb0= x=1 arp:lan0=zz pike:hb1=2 hb0=9").is_empty());
    }

    #[test]
    fn every_heart_beat_and_controlled_interface_gets_its_sockets_once_and_ipv6_ones_an_nd_tap() {
        use crate::applets::pikemon::config::{read, ReadOptions};
        let cfg = read(
            "t.cfg",
            "version PIKEMON-1;\npikemon { node-id 1; hmac key \"0123456789abcdef\";\n\
             heart-beat { interface hb0; interface lan0; }\n\
             virtual-cluster A { id 1; interface lan0 { ipv4 [198.51.100.10]/24; } }\n\
             virtual-cluster B { id 2; interface lan0 { ipv4 [198.51.100.11]/24; } }\n\
             virtual-cluster C { id 3; interface lan1 { ipv6 [2001:db8::10]/64; } }\n\
             virtual-cluster D { id 4; interface lan1 { ipv6 [2001:db8::11]/64; } }\n}\n",
            ReadOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            wanted(&cfg),
            [
                (Kind::Pike, "hb0".to_string()),
                (Kind::Pike, "lan0".to_string()),
                (Kind::PikeTap, "lan0".to_string()),
                (Kind::Arp, "lan0".to_string()),
                (Kind::PikeTap, "lan1".to_string()),
                (Kind::Arp, "lan1".to_string()),
                (Kind::Nd, "lan1".to_string()),
            ]
        );
    }

    /// A worker started by hand with a hostile or mistaken `PIKEMON_SOCKETS` (one fd named
    /// twice, an fd that is the worker's own, e.g. its syslog socket) closed a socket it
    /// kept using: the duplicate's drop closed the taken packet socket, and a non-packet
    /// fd was closed after the check failed.
    #[test]
    fn hostile_socket_names_close_none_of_the_workers_own_fds() {
        use std::os::fd::IntoRawFd;
        let t = std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("unshare(CLONE_NEWNET) (needs root): {e}"));
            let pike = PacketSocket::bind(1, pike::ETHERTYPE).unwrap();
            // The inheritable copy a supervisor would pass, and an fd the worker owns.
            let named = nix::unistd::dup(pike.as_fd()).unwrap().into_raw_fd();
            drop(pike);
            let (own, _other) = std::os::unix::net::UnixDatagram::pair().unwrap();
            let own_fd = own.as_raw_fd();
            std::env::set_var(
                ENV,
                format!("pike:lo={named} pike-tap:lo={named} arp:lo={own_fd}"),
            );
            let mut inherited = Inherited::from_env();
            assert!(std::env::var_os(ENV).is_none());
            let taken = inherited.take(&key(Kind::Pike, "lo"), 1, pike::ETHERTYPE);
            let taken = taken.expect("the named packet socket is taken");
            assert!(inherited
                .take(&key(Kind::Arp, "lo"), 1, ETHERTYPE_ARP)
                .is_none());
            drop(inherited);
            let open = |fd: RawFd| std::path::Path::new(&format!("/proc/self/fd/{fd}")).exists();
            assert!(
                open(taken.as_fd().as_raw_fd()),
                "the taken socket was closed"
            );
            assert!(open(own_fd), "the worker's own socket was closed");
            drop(own);
        });
        if let Err(e) = t.join() {
            std::panic::resume_unwind(e);
        }
    }
}
