//! The library under ip-ra, on real namespaces: rtnetlink, AF_PACKET, gratuitous ARP and
//! the ARP probe.

use std::net::Ipv4Addr;
use std::time::Duration;

use habox::net::garp::{self, ArpProbe};
use habox::net::packet::{PacketSocket, ETHERTYPE_ARP};
use habox::net::rtnl::{Rtnl, RtnlEvent, RtnlMonitor};
use habox::wire::arp::{ArpRepr, Operation};
use habox::wire::ethernet::MacAddr;

use crate::common::{veth, Netns};
use crate::rig::{capture_arp, captured_frames, in_ns, ip_out};

#[test]
fn rtnl_links_addresses_routes_macvlan_and_events() {
    let a = Netns::new("rl");
    let b = Netns::new("rl");
    veth(&a, "eth0", &b, "eth0");
    in_ns(&a, || {
        let mut rt = Rtnl::open().unwrap();
        let mut mon = RtnlMonitor::open().unwrap();
        let eth = rt.link_by_name("eth0").unwrap().expect("eth0");
        assert!(eth.is_up());
        assert_eq!(eth.kind.as_deref(), Some("veth"));
        assert_eq!(rt.link_by_index(eth.index).unwrap().unwrap().name, "eth0");
        assert!(rt.link_by_name("nosuch0").unwrap().is_none());
        assert!(rt.links().unwrap().iter().any(|l| l.name == "lo"));

        let ip = Ipv4Addr::new(198, 51, 100, 2);
        rt.add_address(
            eth.index,
            ip,
            24,
            Some(Ipv4Addr::new(198, 51, 100, 255)),
            None,
        )
        .unwrap();
        let err = rt
            .add_address(eth.index, ip, 24, None, None)
            .expect_err("duplicate add");
        assert_eq!(err.errno(), Some(libc::EEXIST));
        assert!(err.to_string().contains("198.51.100.2/24"), "{err}");
        let vip = Ipv4Addr::new(198, 51, 100, 10);
        rt.add_address(eth.index, vip, 24, None, Some("eth0:ra"))
            .unwrap();
        let addrs = rt.addresses(Some(eth.index)).unwrap();
        let v = addrs.iter().find(|a| a.address == vip).unwrap();
        assert_eq!(v.label, "eth0:ra");
        assert!(v.is_secondary());

        // The subnet route: set its source to the VIP and back.
        let subnet = rt
            .routes()
            .unwrap()
            .into_iter()
            .find(|r| r.table == 254 && r.prefix_len == 24 && r.oif == Some(eth.index))
            .expect("subnet route");
        assert_eq!(subnet.source, Some(ip));
        rt.set_route_source(&subnet, Some(vip)).unwrap();
        let changed = rt
            .routes()
            .unwrap()
            .into_iter()
            .find(|r| r.table == 254 && r.prefix_len == 24 && r.oif == Some(eth.index))
            .unwrap();
        assert_eq!(changed.source, Some(vip));
        rt.set_route_source(&changed, Some(ip)).unwrap();

        rt.delete_address(eth.index, vip, 24).unwrap();
        // Changing a route that does not exist fails with ENOENT and names it.
        let mut absent = changed.clone();
        absent.destination = Ipv4Addr::new(203, 0, 113, 0);
        let err = rt
            .set_route_source(&absent, Some(ip))
            .expect_err("no route");
        assert_eq!(err.errno(), Some(libc::ENOENT));
        assert!(
            err.to_string().starts_with("change route 203.0.113.0/24"),
            "{err}"
        );
        let err = rt.delete_route(&absent).expect_err("no route");
        assert_eq!(err.errno(), Some(libc::ESRCH));
        // The kernel's extended-ACK text comes along where it gives one.
        let err = rt
            .add_address(eth.index, vip, 40, None, None)
            .expect_err("prefix 40");
        assert_eq!(err.errno(), Some(libc::EINVAL));
        assert_eq!(err.detail.as_deref(), Some("ipv4: Invalid prefix length"));
        let err = rt.delete_address(eth.index, vip, 24).expect_err("gone");
        assert_eq!(err.errno(), Some(libc::EADDRNOTAVAIL));

        // macvlan: create with a MAC, up, change MAC, delete.
        let mac = MacAddr([2, 198, 51, 100, 10, 0]);
        rt.add_macvlan("mv0", eth.index, mac).unwrap();
        let mv = rt.link_by_name("mv0").unwrap().unwrap();
        assert_eq!(mv.mac, Some(mac));
        assert_eq!(mv.kind.as_deref(), Some("macvlan"));
        assert_eq!(mv.parent, Some(eth.index));
        rt.set_link_up(mv.index, true).unwrap();
        assert!(rt.link_by_index(mv.index).unwrap().unwrap().is_up());
        rt.set_link_up(mv.index, false).unwrap();
        let mac2 = MacAddr([2, 198, 51, 100, 11, 0]);
        rt.set_link_mac(mv.index, mac2).unwrap();
        assert_eq!(rt.link_by_index(mv.index).unwrap().unwrap().mac, Some(mac2));
        rt.delete_link(mv.index).unwrap();
        assert!(rt.link_by_name("mv0").unwrap().is_none());

        let events = mon.recv().unwrap();
        assert!(events
            .iter()
            .any(|e| matches!(e, RtnlEvent::AddressAdded(a) if a.address == vip)));
        assert!(events
            .iter()
            .any(|e| matches!(e, RtnlEvent::AddressRemoved(a) if a.address == vip)));
        assert!(events
            .iter()
            .any(|e| matches!(e, RtnlEvent::LinkRemoved(l) if l.name == "mv0")));
        assert!(mon.recv().unwrap().is_empty());
    });
    // The peer's ARP entry for us, then flushed from our side.
    b.ip(&["addr", "add", "198.51.100.3/24", "dev", "eth0"]);
    a.run(&["ping", "-c1", "-W1", "198.51.100.3"]);
    assert!(ip_out(&a, &["neigh", "show", "dev", "eth0"]).contains("198.51.100.3"));
    let flushed = in_ns(&a, || {
        let mut rt = Rtnl::open().unwrap();
        let i = rt.link_by_name("eth0").unwrap().unwrap().index;
        rt.flush_neighbours(i).unwrap()
    });
    assert!(flushed >= 1);
    assert!(!ip_out(&a, &["neigh", "show", "dev", "eth0"]).contains("198.51.100.3"));
}

#[test]
fn packet_socket_garps_and_probe() {
    let a = Netns::new("pk");
    let b = Netns::new("pk");
    veth(&a, "eth0", &b, "eth0");
    b.ip(&["addr", "add", "198.51.100.20/24", "dev", "eth0"]);
    let vip = Ipv4Addr::new(198, 51, 100, 10);
    // A listener in b, then four GARPs from a.
    let b_name = b.name.clone();
    let listener = std::thread::spawn(move || {
        habox::sys::netns::enter(&b_name).unwrap();
        let mut rt = Rtnl::open().unwrap();
        let i = rt.link_by_name("eth0").unwrap().unwrap().index;
        let sock = PacketSocket::bind(i, ETHERTYPE_ARP).unwrap();
        let mut got = Vec::new();
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while got.len() < 4 && std::time::Instant::now() < end {
            match sock.recv().unwrap() {
                Some((frame, _)) => got.extend(ArpRepr::from_frame(&frame)),
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        got
    });
    std::thread::sleep(Duration::from_millis(300));
    let mac = in_ns(&a, move || {
        let mut rt = Rtnl::open().unwrap();
        let l = rt.link_by_name("eth0").unwrap().unwrap();
        let sock = PacketSocket::bind(l.index, ETHERTYPE_ARP).unwrap();
        sock.join_multicast(MacAddr([3, 0x50, 0x49, 0x4b, 0x45, 0]))
            .unwrap();
        let mac = l.mac.unwrap();
        garp::send_garps(&sock, mac, vip, garp::broadcast_of(vip, 24)).unwrap();
        mac
    });
    let got = listener.join().unwrap();
    assert_eq!(got.len(), 4, "{got:?}");
    let ops: Vec<_> = got.iter().map(|(_, a)| a.operation).collect();
    assert_eq!(
        ops,
        [
            Operation::Request,
            Operation::Reply,
            Operation::Request,
            Operation::Reply
        ]
    );
    for (eth, arp) in &got {
        assert_eq!(eth.source, mac);
        assert_eq!(eth.destination, MacAddr::BROADCAST);
        assert_eq!(arp.source_protocol_addr, vip);
        assert_eq!(arp.source_hardware_addr, mac);
    }
    // Probe: b owns 198.51.100.20, nobody owns .30.
    let b_mac = in_ns(&b, || {
        Rtnl::open()
            .unwrap()
            .link_by_name("eth0")
            .unwrap()
            .unwrap()
            .mac
            .unwrap()
    });
    let (hit, miss) = in_ns(&a, move || {
        let mut rt = Rtnl::open().unwrap();
        let l = rt.link_by_name("eth0").unwrap().unwrap();
        let sock = PacketSocket::bind(l.index, ETHERTYPE_ARP).unwrap();
        let ms = Duration::from_millis(200);
        let me = l.mac.unwrap();
        let hit = garp::probe_blocking(
            &sock,
            ArpProbe::new(
                me,
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::new(198, 51, 100, 20),
                3,
                ms,
            ),
        )
        .unwrap();
        let miss = garp::probe_blocking(
            &sock,
            ArpProbe::new(
                me,
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::new(198, 51, 100, 30),
                2,
                ms,
            ),
        )
        .unwrap();
        (hit, miss)
    });
    assert_eq!(hit, Some(b_mac));
    assert_eq!(miss, None);
}

#[test]
fn garps_are_what_arping_sends() {
    let a = Netns::new("ga");
    let b = Netns::new("gb");
    veth(&a, "eth0", &b, "eth0");
    a.ip(&["addr", "add", "198.51.100.10/24", "dev", "eth0"]);
    let tcpdump = capture_arp(&b);
    // The kit's four sends with iputils arping (Debian: iputils-arping) ...
    for args in [
        ["-U", "198.51.100.10", "", ""],
        ["-A", "198.51.100.10", "", ""],
        ["-U", "-s", "198.51.100.10", "198.51.100.255"],
        ["-A", "-s", "198.51.100.10", "198.51.100.255"],
    ] {
        let mut full = vec!["arping", "-q", "-c1", "-w1", "-I", "eth0"];
        full.extend(args.iter().filter(|s| !s.is_empty()));
        let out = a.run(&full);
        assert!(
            out.status.code().is_some(),
            "arping (iputils-arping) did not run: {out:?}"
        );
    }
    // ... then ours.
    let vip = Ipv4Addr::new(198, 51, 100, 10);
    in_ns(&a, move || {
        let mut rt = Rtnl::open().unwrap();
        let l = rt.link_by_name("eth0").unwrap().unwrap();
        let sock = PacketSocket::bind(l.index, ETHERTYPE_ARP).unwrap();
        garp::send_garps(&sock, l.mac.unwrap(), vip, garp::broadcast_of(vip, 24)).unwrap();
    });
    let frames: Vec<_> = captured_frames(tcpdump)
        .into_iter()
        .filter(|(_, arp)| arp.source_protocol_addr == vip)
        .collect();
    assert_eq!(frames.len(), 8, "{frames:?}");
    assert_eq!(frames[..4], frames[4..]);
}
