//! ip-ra and the library under it (rtnetlink, AF_PACKET, gratuitous ARP), on real namespaces.
//! Addresses: 198.51.100.0/24 and 203.0.113.0/24 only.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{veth, Netns};
use habox::net::garp::{self, ArpProbe};
use habox::net::packet::{PacketSocket, ETHERTYPE_ARP};
use habox::net::rtnl::{Rtnl, RtnlEvent, RtnlMonitor};
use habox::wire::arp::{ArpRepr, Operation};
use habox::wire::ethernet::MacAddr;

/// Runs `f` on a fresh thread inside namespace `ns` (setns is per thread).
fn in_ns<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> T {
    let name = ns.name.clone();
    std::thread::spawn(move || {
        habox::sys::netns::enter(&name).expect("setns");
        f()
    })
    .join()
    .expect("thread in namespace panicked")
}

fn ip_out(ns: &Netns, args: &[&str]) -> String {
    common::text(&ns.ip(args)).0
}

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

// ---------------------------------------------------------------------------------------------
// The ip-ra applet. Host `a` runs ip-ra on eth0 (198.51.100.2/24); peer `b` is 198.51.100.3/24
// and answers broadcast pings.

use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

const VIP: &str = "198.51.100.10";
const VIP24: &str = "198.51.100.10/24";

/// Every parameter name ip-ra reads, cleared so the test's own environment cannot leak in.
const KIT_NAMES: &[&str] = &[
    "IP",
    "DEVICE",
    "PingList",
    "IP_NOLINKCHECK",
    "IP_WAIT_LINKDOWN",
    "NOIPUNIQUE",
    "IP_PINGTIME",
    "IP_PINGTRIES",
    "IP_PINGTIMEOUT",
    "NOBCASTPING",
    "IP_QUICKCHECK_TIMEOUT",
    "RESTORE_AND_RECOVER",
    "SOURCE_ADDRESS",
];

struct Pair {
    a: Netns,
    b: Netns,
}

fn pair() -> Pair {
    let a = Netns::new("ra");
    let b = Netns::new("rb");
    veth(&a, "eth0", &b, "eth0");
    a.ip(&["addr", "add", "198.51.100.2/24", "dev", "eth0"]);
    b.ip(&["addr", "add", "198.51.100.3/24", "dev", "eth0"]);
    b.sysctl("net.ipv4.icmp_echo_ignore_broadcasts", "0");
    Pair { a, b }
}

/// Runs `ip-ra ARGS` inside `ns` with `env` (kit names) set.
fn ip_ra(ns: &Netns, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = ns.cmd(common::applet("ip-ra"));
    for n in KIT_NAMES {
        c.env_remove(n);
    }
    c.args(args).envs(env.iter().copied());
    c.output().expect("run ip-ra")
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &Output) -> String {
    common::text(out).1
}

fn addrs(ns: &Netns) -> String {
    ip_out(ns, &["-4", "addr", "show", "dev", "eth0"])
}

fn has_vip(ns: &Netns) -> bool {
    addrs(ns).contains(&format!("inet {VIP24}"))
}

/// Everything ip-ra could change: addresses, routes, links, neighbours.
fn snapshot(ns: &Netns) -> String {
    [
        ip_out(ns, &["addr"]),
        ip_out(ns, &["route", "show", "table", "all"]),
        ip_out(ns, &["link"]),
    ]
    .join("\n")
}

/// tcpdump in `ns` printing ARP frames in hex; returns once it listens.
fn capture_arp(ns: &Netns) -> Child {
    let mut child = ns
        .cmd("tcpdump")
        .args(["-i", "eth0", "-n", "-l", "--immediate-mode", "-xx", "arp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump");
    // tcpdump says "listening on eth0" on stderr once the capture runs.
    let mut err = child.stderr.take().expect("stderr");
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        use std::io::Read;
        match err.read(&mut byte) {
            Ok(1) => {
                seen.push(byte[0]);
                if String::from_utf8_lossy(&seen).contains("listening on") {
                    break;
                }
            }
            _ => break,
        }
    }
    child
}

/// Stops tcpdump and decodes the frames it printed with `-xx`.
fn captured_frames(child: Child) -> Vec<(habox::wire::ethernet::EthernetRepr, ArpRepr)> {
    std::thread::sleep(Duration::from_millis(300));
    // SIGINT: tcpdump ends its loop and exits cleanly (`ip netns exec` exec'd into it).
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    let out = child.wait_with_output().expect("tcpdump output");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(hex) = t.strip_prefix("0x").and_then(|r| r.split_once(':')) {
            let bytes = hex
                .1
                .split_whitespace()
                .flat_map(|w| {
                    (0..w.len() / 2)
                        .filter_map(move |i| u8::from_str_radix(&w[2 * i..2 * i + 2], 16).ok())
                })
                .collect::<Vec<u8>>();
            if let Some(f) = frames.last_mut().filter(|_| !t.starts_with("0x0000")) {
                f.extend(bytes);
            } else {
                frames.push(bytes);
            }
        }
    }
    frames
        .iter()
        .filter_map(|f| ArpRepr::from_frame(f))
        .collect()
}

fn mac_of(ns: &Netns) -> MacAddr {
    let text = ip_out(ns, &["link", "show", "eth0"]);
    let mac = text
        .split("link/ether ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("link/ether");
    MacAddr::parse(mac).expect("mac")
}

#[test]
fn restore_adds_address_flushes_neighbours_and_sends_four_garps() {
    let p = pair();
    // A neighbour entry that restore must flush.
    p.a.run(&["ping", "-c1", "-W1", "198.51.100.3"]);
    assert!(ip_out(&p.a, &["neigh", "show", "dev", "eth0"]).contains("198.51.100.3"));
    let tcpdump = capture_arp(&p.b);
    let out = ip_ra(
        &p.a,
        &["restore"],
        &[("IP", VIP24), ("DEVICE", "eth0"), ("NOBCASTPING", "1")],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let frames = captured_frames(tcpdump);
    let log = stderr(&out);
    for step in [
        "physical-IP check",
        "link check",
        "pre-assignment check",
        "duplicate check",
        "add address",
        "neighbour flush: 1 entries",
        "gratuitous ARP",
        "connectivity check",
    ] {
        assert!(log.contains(step), "no '{step}' in:\n{log}");
    }
    let text = addrs(&p.a);
    assert!(
        text.contains("inet 198.51.100.10/24 brd 198.51.100.255"),
        "{text}"
    );
    assert!(text.contains("eth0:ra"), "{text}");
    assert!(!ip_out(&p.a, &["neigh", "show", "dev", "eth0"]).contains("198.51.100.3"));

    // The peer saw the four gratuitous ARPs, exactly as arping -U / -A send them.
    let mac = mac_of(&p.a);
    let vip: Ipv4Addr = VIP.parse().unwrap();
    let garps: Vec<_> = frames
        .iter()
        .filter(|(_, a)| a.source_protocol_addr == vip)
        .collect();
    assert_eq!(garps.len(), 4, "{frames:?}");
    let bcast = Ipv4Addr::new(198, 51, 100, 255);
    let expect = [
        (Operation::Request, MacAddr::BROADCAST, vip),
        (Operation::Reply, mac, vip),
        (Operation::Request, MacAddr::BROADCAST, bcast),
        (Operation::Reply, mac, bcast),
    ];
    for ((eth, arp), (op, tha, tpa)) in garps.iter().zip(expect) {
        assert_eq!(eth.source, mac);
        assert_eq!(eth.destination, MacAddr::BROADCAST);
        assert_eq!(arp.operation, op);
        assert_eq!(arp.source_hardware_addr, mac);
        assert_eq!(arp.target_hardware_addr, tha);
        assert_eq!(arp.target_protocol_addr, tpa);
    }
    // The duplicate check asked from our physical address before.
    assert!(frames.iter().any(|(_, a)| a.operation == Operation::Request
        && a.source_protocol_addr == Ipv4Addr::new(198, 51, 100, 2)
        && a.target_protocol_addr == vip));

    // Restore again: already assigned, so the monitor checks decide (and nothing is added).
    let out = ip_ra(
        &p.a,
        &["restore", "-i", VIP24, "-d", "eth0", "-o", "NOBCASTPING=1"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("already assigned"));
}

#[test]
fn restore_refuses_an_address_someone_else_answers_for() {
    let p = pair();
    p.b.ip(&["addr", "add", VIP24, "dev", "eth0"]);
    let before = snapshot(&p.a);
    let out = ip_ra(&p.a, &["restore", "-i", VIP24, "-d", "eth0"], &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "restore: duplicate check: {VIP} is already in use by {}",
            mac_of(&p.b)
        )),
        "{err}"
    );
    assert!(err.contains("(198.51.100.10/24 on eth0)"), "{err}");
    assert!(!has_vip(&p.a));
    assert_eq!(before, snapshot(&p.a));
    // NOIPUNIQUE=1 skips the check.
    let out = ip_ra(
        &p.a,
        &[
            "restore",
            "-i",
            VIP24,
            "-d",
            "eth0",
            "-o",
            "NOIPUNIQUE=1",
            "-o",
            "NOBCASTPING=1",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("duplicate check: skipped"));
    assert!(has_vip(&p.a));
}

/// Collects eth0's up/down transitions in `ns` while `f` runs.
fn link_cycles(ns: &Netns, f: impl FnOnce()) -> Vec<bool> {
    let name = ns.name.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let watcher = std::thread::spawn(move || {
        habox::sys::netns::enter(&name).unwrap();
        let mut mon = RtnlMonitor::open().unwrap();
        ready_tx.send(()).unwrap();
        let mut last = None;
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            for e in mon.recv().unwrap() {
                if let RtnlEvent::Link(l) = e {
                    if l.name == "eth0" && last != Some(l.is_up()) {
                        last = Some(l.is_up());
                        tx.send(l.is_up()).unwrap();
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    ready_rx.recv().unwrap();
    f();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    watcher.join().unwrap();
    rx.try_iter().collect()
}

#[test]
fn restore_without_carrier_cycles_the_link_once_then_fails() {
    let p = pair();
    p.b.ip(&["link", "set", "eth0", "down"]);
    let mut out = None;
    let changes = link_cycles(&p.a, || {
        out = Some(ip_ra(
            &p.a,
            &[
                "restore",
                "-i",
                VIP24,
                "-d",
                "eth0",
                "-o",
                "IP_WAIT_LINKDOWN=1",
            ],
            &[],
        ))
    });
    let out = out.unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // Exactly one down/up cycle.
    assert_eq!(changes, vec![false, true]);
    assert!(
        stderr(&out).contains("restore: link check: eth0 has no carrier after a down/up cycle (198.51.100.10/24 on eth0)"),
        "{}",
        stderr(&out)
    );
    assert!(!has_vip(&p.a));
}

#[test]
fn ip_nolinkcheck_skips_the_link_check() {
    let p = pair();
    p.b.ip(&["link", "set", "eth0", "down"]);
    let mut out = None;
    let changes = link_cycles(&p.a, || {
        out = Some(ip_ra(
            &p.a,
            &["restore"],
            &[
                ("IP", VIP24),
                ("DEVICE", "eth0"),
                ("IP_NOLINKCHECK", "1"),
                ("NOBCASTPING", "1"),
            ],
        ))
    });
    let out = out.unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(changes.is_empty(), "{changes:?}");
    assert!(stderr(&out).contains("link check: skipped (IP_NOLINKCHECK=1)"));
    assert!(has_vip(&p.a));
    // quickCheck with IP_NOLINKCHECK passes despite the missing carrier, without it fails.
    let env = [("IP", VIP24), ("DEVICE", "eth0"), ("NOBCASTPING", "1")];
    let out = ip_ra(&p.a, &["quickCheck", "-o", "IP_NOLINKCHECK=1"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = ip_ra(&p.a, &["quickCheck"], &env);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
}

#[test]
fn remove_when_present_and_when_absent() {
    let p = pair();
    let env = [("IP", VIP24), ("DEVICE", "eth0"), ("NOBCASTPING", "1")];
    assert_eq!(code(&ip_ra(&p.a, &["restore"], &env)), 0);
    assert!(has_vip(&p.a));
    let out = ip_ra(&p.a, &["remove"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("remove: delete address: 198.51.100.10/24 deleted from eth0"));
    assert!(!has_vip(&p.a));
    assert!(addrs(&p.a).contains("198.51.100.2/24"));
    let out = ip_ra(&p.a, &["remove"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("is not assigned to eth0: nothing to do"));
}

#[test]
fn physical_address_and_restore_and_recover_disabled_change_nothing() {
    let p = pair();
    let before = snapshot(&p.a);
    let phys = [("IP", "198.51.100.2/24"), ("DEVICE", "eth0")];
    for action in ["restore", "remove"] {
        let out = ip_ra(&p.a, &[action], &phys);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(stderr(&out).contains("is a physical address of eth0"));
    }
    let out = ip_ra(&p.a, &["recover"], &phys);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("recover: physical-IP check"));
    let out = ip_ra(
        &p.a,
        &["restore", "-o", "RESTORE_AND_RECOVER=disable"],
        &[("IP", VIP24), ("DEVICE", "eth0")],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!has_vip(&p.a));
    assert_eq!(before, snapshot(&p.a));
}

#[test]
fn quickcheck_fails_when_the_address_is_removed_behind_its_back() {
    let p = pair();
    let env = [
        ("IP", VIP24),
        ("DEVICE", "eth0"),
        ("PingList", "198.51.100.3"),
    ];
    assert_eq!(code(&ip_ra(&p.a, &["restore"], &env)), 0);
    let out = ip_ra(&p.a, &["quickCheck"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("198.51.100.3 (PingList) answers 198.51.100.10"));
    p.a.ip(&["addr", "del", VIP24, "dev", "eth0"]);
    let out = ip_ra(&p.a, &["quickCheck"], &env);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out)
            .contains("quickCheck: assignment check: 198.51.100.10 is not assigned to eth0"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn quickcheck_fails_when_the_link_drops() {
    let p = pair();
    let env = [("IP", VIP24), ("DEVICE", "eth0"), ("NOBCASTPING", "1")];
    assert_eq!(code(&ip_ra(&p.a, &["restore"], &env)), 0);
    p.b.ip(&["link", "set", "eth0", "down"]);
    let out = ip_ra(&p.a, &["quickCheck"], &env);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out)
            .contains("quickCheck: link check: eth0 has no carrier (198.51.100.10/24 on eth0)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn quickcheck_connectivity_by_pinglist_then_broadcast() {
    let p = pair();
    let base = [("IP", VIP24), ("DEVICE", "eth0")];
    assert_eq!(
        code(&ip_ra(&p.a, &["restore", "-o", "NOBCASTPING=1"], &base)),
        0
    );
    let quick = |extra: &[&str]| {
        let mut args = vec![
            "quickCheck",
            "-o",
            "IP_PINGTIME=0.3",
            "-o",
            "IP_PINGTRIES=2",
        ];
        args.extend_from_slice(extra);
        ip_ra(&p.a, &args, &base)
    };
    // Nobody at .99: no PingList answer and NOBCASTPING=1 → failure.
    let out = quick(&["-p", "198.51.100.99", "-o", "NOBCASTPING=1"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("no PingList host answers and NOBCASTPING=1"));
    // The same with the broadcast ping allowed: the peer answers it.
    let out = quick(&["-p", "198.51.100.99"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("answers the broadcast ping of 198.51.100.255"));
    // Any PingList host answering is enough.
    let out = quick(&["-p", "198.51.100.99,198.51.100.3", "-o", "NOBCASTPING=1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // No PingList and NOBCASTPING=1: success without a check.
    let out = quick(&["-o", "NOBCASTPING=1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("not checked"));
    // No PingList, broadcast ping only; with the peer ignoring broadcasts it fails.
    p.b.sysctl("net.ipv4.icmp_echo_ignore_broadcasts", "1");
    let out = quick(&[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("nobody answers the broadcast ping of 198.51.100.255 on eth0"));
}

#[test]
fn quickcheck_fails_when_it_runs_past_the_timeout() {
    let p = pair();
    let env = [("IP", VIP24), ("DEVICE", "eth0"), ("NOBCASTPING", "1")];
    assert_eq!(code(&ip_ra(&p.a, &["restore"], &env)), 0);
    // The peer stays silent to pings, so each PingList ping waits its full 5 s.
    p.b.sysctl("net.ipv4.icmp_echo_ignore_all", "1");
    let out = ip_ra(
        &p.a,
        &[
            "quickCheck",
            "-p",
            "198.51.100.3",
            "-o",
            "IP_PINGTIMEOUT=5",
            "-o",
            "IP_QUICKCHECK_TIMEOUT=1",
        ],
        &env,
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("quickCheck: ran over IP_QUICKCHECK_TIMEOUT (1s) (198.51.100.10 on eth0)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn recover_removes_and_restores() {
    let p = pair();
    let env = [("IP", VIP24), ("DEVICE", "eth0"), ("NOBCASTPING", "1")];
    // Recover of an address that is not there: remove is a no-op, restore adds it.
    let out = ip_ra(&p.a, &["recover"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(has_vip(&p.a));
    let out = ip_ra(&p.a, &["recover"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let log = stderr(&out);
    let del = log.find("recover: delete address").expect("deleted");
    let add = log.find("recover: add address").expect("added");
    assert!(del < add, "{log}");
    assert!(has_vip(&p.a));
}

#[test]
fn source_address_routes_are_set_and_reverted() {
    let p = pair();
    p.a.ip(&[
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        "198.51.100.1",
        "dev",
        "eth0",
    ]);
    let routes = || ip_out(&p.a, &["route", "show", "dev", "eth0"]);
    let before = routes();
    let env = [
        ("IP", VIP24),
        ("DEVICE", "eth0"),
        ("NOBCASTPING", "1"),
        ("SOURCE_ADDRESS", "enable"),
    ];
    let out = ip_ra(&p.a, &["restore"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let during = routes();
    assert!(
        during.contains("198.51.100.0/24 proto kernel scope link src 198.51.100.10"),
        "{during}"
    );
    assert!(
        during.contains("203.0.113.0/24 via 198.51.100.1 src 198.51.100.10"),
        "{during}"
    );
    // Traffic into the subnet now leaves from the VIP.
    let get = ip_out(&p.a, &["route", "get", "198.51.100.3"]);
    assert!(get.contains("src 198.51.100.10"), "{get}");
    let out = ip_ra(&p.a, &["remove"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("source-address revert"));
    assert_eq!(routes(), before);
    assert!(!has_vip(&p.a));
}

#[test]
fn bad_input_exits_2_and_changes_nothing() {
    let p = pair();
    let before = snapshot(&p.a);
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["restore"], &[("DEVICE", "eth0")], "IP: missing"),
        (
            &["restore", "-i", "198.51.100.10/33", "-d", "eth0"],
            &[],
            "prefix length must be 1..32",
        ),
        (
            &["restore"],
            &[("IP", "198.51.100.10/x"), ("DEVICE", "eth0")],
            "prefix length",
        ),
        (
            &["restore", "-i", VIP24, "-d", "nosuch0"],
            &[],
            "DEVICE nosuch0: no such interface",
        ),
        (
            &["quickCheck", "-i", VIP24, "-d", "nosuch0"],
            &[],
            "no such interface",
        ),
        (
            &["remove", "-i", "198.51.100.999/24", "-d", "eth0"],
            &[],
            "not an IPv4 address",
        ),
        (
            &[
                "restore",
                "-i",
                VIP24,
                "-d",
                "eth0",
                "-o",
                "NOIPUNIQUE=maybe",
            ],
            &[],
            "NOIPUNIQUE=maybe",
        ),
        (
            &["restore", "-i", VIP24, "-x"],
            &[],
            "unexpected argument -x",
        ),
    ];
    for (args, env, msg) in cases {
        let out = ip_ra(&p.a, args, env);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(msg), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(before, snapshot(&p.a));
}

/// Runs `ip-ra ACTION` as an OCF agent with `OCF_RESKEY_*` parameters.
fn ocf(ns: &Netns, action: &str, params: &[(&str, &str)]) -> Output {
    let mut c = ns.cmd(common::applet("ip-ra"));
    c.arg(action);
    for (k, v) in params {
        c.env(format!("OCF_RESKEY_{k}"), v);
    }
    c.output().expect("run ip-ra")
}

#[test]
fn ocf_actions_and_exit_codes() {
    let p = pair();
    let params = [("ip", VIP), ("cidr_netmask", "24"), ("nic", "eth0")];
    assert_eq!(code(&ocf(&p.a, "validate-all", &params)), 0);
    assert_eq!(code(&ocf(&p.a, "monitor", &params)), 7);
    assert_eq!(code(&ocf(&p.a, "stop", &params)), 0);
    assert_eq!(code(&ocf(&p.a, "start", &params)), 0);
    assert!(has_vip(&p.a));
    assert_eq!(code(&ocf(&p.a, "start", &params)), 0);
    assert_eq!(code(&ocf(&p.a, "monitor", &params)), 0);
    assert_eq!(code(&ocf(&p.a, "stop", &params)), 0);
    assert!(!has_vip(&p.a));
    assert_eq!(code(&ocf(&p.a, "monitor", &params)), 7);
    // nic and cidr_netmask found from the physical address in the subnet.
    assert_eq!(code(&ocf(&p.a, "start", &[("ip", VIP)])), 0);
    assert!(has_vip(&p.a));
    assert_eq!(code(&ocf(&p.a, "stop", &[("ip", VIP)])), 0);
    // Errors: 6 without ip, 2 for an unknown nic, 3 for an unknown action, with a reason.
    let out = ocf(&p.a, "validate-all", &[]);
    assert_eq!(code(&out), 6);
    assert!(
        stderr(&out).contains("ocf-exit-reason:ip: missing"),
        "{}",
        stderr(&out)
    );
    let bad_nic = [("ip", VIP), ("cidr_netmask", "24"), ("nic", "nosuch0")];
    assert_eq!(code(&ocf(&p.a, "validate-all", &bad_nic)), 2);
    assert_eq!(code(&ocf(&p.a, "start", &bad_nic)), 2);
    assert_eq!(code(&ocf(&p.a, "monitor", &bad_nic)), 7);
    assert_eq!(code(&ocf(&p.a, "stop", &bad_nic)), 0);
    assert_eq!(code(&ocf(&p.a, "promote", &params)), 3);
    // A failing start (duplicate) is a generic error, with the reason.
    p.b.ip(&["addr", "add", VIP24, "dev", "eth0"]);
    let out = ocf(&p.a, "start", &params);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("ocf-exit-reason:start: duplicate check"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ocf_meta_data_is_valid_and_works_as_nobody() {
    let out = Command::new("su")
        .args(["nobody", "-s", "/bin/sh", "-c"])
        .arg(format!("{} meta-data", common::applet("ip-ra").display()))
        .output()
        .expect("su nobody");
    assert_eq!(code(&out), 0, "{out:?}");
    let xml = common::text(&out).0;
    let mut lint = Command::new("xmllint")
        .args(["--noout", "--valid", "-"])
        .current_dir("/usr/share/resource-agents")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xmllint");
    use std::io::Write;
    lint.stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let lint = lint.wait_with_output().unwrap();
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stderr)
    );
}

#[test]
fn ocf_tester_passes_in_a_namespace() {
    let p = pair();
    let out =
        p.a.cmd("/usr/sbin/ocf-tester")
            .args([
                "-n",
                "ipra",
                "-o",
                &format!("ip={VIP}"),
                "-o",
                "cidr_netmask=24",
                "-o",
                "nic=eth0",
            ])
            .arg(common::applet("ip-ra"))
            .output()
            .expect("ocf-tester");
    let (o, e) = common::text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(o.contains("passed all tests"), "{o}{e}");
    assert!(!has_vip(&p.a));
}
