//! ip-ra with an IPv6 address: the kit's steps in their IPv6 form on a namespace pair
//! (2001:db8::/64, the physical addresses without DAD): DAD as the duplicate check, the
//! unsolicited Neighbor Advertisement moving the peer's neighbour entry, the physical-address
//! check, source-address routes, the PingList and all-nodes connectivity checks, the OCF face
//! and ocf-tester.

use crate::common::{self, Netns};
use crate::rig::*;

const VIP6: &str = "2001:db8::10";
const VIP6_64: &str = "2001:db8::10/64";

/// a = 2001:db8::2, b = 2001:db8::3 on eth0.
fn pair6() -> Pair {
    let a = Netns::new("hv6ra");
    let b = Netns::new("hv6rb");
    wire(&a, &b);
    a.ip(&["addr", "add", "2001:db8::2/64", "dev", "eth0", "nodad"]);
    b.ip(&["addr", "add", "2001:db8::3/64", "dev", "eth0", "nodad"]);
    Pair { a, b }
}

fn addrs6(ns: &Netns) -> String {
    ip_out(ns, &["-6", "addr", "show", "dev", "eth0"])
}

fn has_vip6(ns: &Netns) -> bool {
    addrs6(ns).contains(&format!("inet6 {VIP6_64}"))
}

fn kit6(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![("IP", VIP6_64), ("DEVICE", "eth0")];
    env.extend_from_slice(extra);
    env
}

#[test]
fn ipv6_restore_passes_dad_advertises_and_the_peer_entry_follows_then_remove() {
    let p = pair6();
    // The peer knows the VIP at a stale, wrong MAC: the Override flag must replace it.
    p.b.ip(&[
        "-6",
        "neigh",
        "add",
        VIP6,
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "eth0",
        "nud",
        "stale",
    ]);
    let out = ip_ra(&p.a, &["restore"], &kit6(&[]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let log = stderr(&out);
    assert!(
        log.contains("duplicate check: DAD for 2001:db8::10 passed"),
        "{log}"
    );
    assert!(
        log.contains("unsolicited neighbor advertisement: 3 × 2001:db8::10 is at"),
        "{log}"
    );
    assert!(
        log.contains("another host answers the all-nodes ping of ff02::1 on eth0"),
        "{log}"
    );
    assert!(has_vip6(&p.a), "{}", addrs6(&p.a));
    let mac = mac_of(&p.a).to_string();
    let neigh = ip_out(&p.b, &["-6", "neigh", "show", VIP6, "dev", "eth0"]);
    assert!(neigh.contains(&format!("lladdr {mac}")), "{neigh}");

    let out = ip_ra(&p.a, &["quickCheck"], &kit6(&[]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A second restore finds it assigned, announces it again and checks it.
    let out = ip_ra(&p.a, &["restore"], &kit6(&[]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("is already assigned to eth0: announcing and checking it"));
    assert!(stderr(&out).contains("unsolicited neighbor advertisement: 3 ×"));

    let out = ip_ra(&p.a, &["remove"], &kit6(&[]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!has_vip6(&p.a));
    let out = ip_ra(&p.a, &["quickCheck"], &kit6(&[]));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("2001:db8::10 is not assigned to eth0"));
    // recover = remove + restore.
    let out = ip_ra(&p.a, &["recover"], &kit6(&[]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(has_vip6(&p.a));
}

#[test]
fn ipv6_duplicate_found_by_dad_fails_restore_unless_noipunique() {
    let p = pair6();
    p.b.ip(&["addr", "add", VIP6_64, "dev", "eth0", "nodad"]);
    let out = ip_ra(&p.a, &["restore"], &kit6(&[]));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "restore: duplicate check: 2001:db8::10 is already in use on the link (DAD failed)"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!addrs6(&p.a).contains(VIP6), "{}", addrs6(&p.a));
    // NOIPUNIQUE=1: no DAD, the address goes on (nodad) whatever the link says (no ping: the
    // peer owning the VIP would answer itself).
    let env = kit6(&[("NOIPUNIQUE", "1"), ("NOBCASTPING", "1")]);
    let out = ip_ra(&p.a, &["restore"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("duplicate check: skipped (NOIPUNIQUE=1)"));
    assert!(addrs6(&p.a).contains("inet6 2001:db8::10/64 scope global nodad"));
}

#[test]
fn ipv6_physical_address_is_left_alone_and_not_recoverable() {
    let p = pair6();
    p.a.ip(&["addr", "add", VIP6_64, "dev", "eth0", "nodad"]);
    let out = ip_ra(&p.a, &["restore"], &kit6(&[]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("is a physical address of eth0: nothing to do"));
    let out = ip_ra(&p.a, &["remove"], &kit6(&[]));
    assert_eq!(code(&out), 0);
    assert!(has_vip6(&p.a), "remove must leave a physical address");
    let out = ip_ra(&p.a, &["recover"], &kit6(&[]));
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("not a recoverable resource"));
}

#[test]
fn ipv6_source_address_routes_take_the_vip_and_remove_gives_them_back() {
    let p = pair6();
    p.a.ip(&[
        "-6",
        "route",
        "add",
        "2001:db8:7::/64",
        "via",
        "2001:db8::3",
    ]);
    let env = kit6(&[("SOURCE_ADDRESS", "enable"), ("NOIPUNIQUE", "1")]);
    let out = ip_ra(&p.a, &["restore"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let routes = ip_out(&p.a, &["-6", "route", "show", "table", "main"]);
    for dst in ["2001:db8::/64", "2001:db8:7::/64"] {
        let line = routes
            .lines()
            .find(|l| l.starts_with(dst))
            .unwrap_or_else(|| panic!("no {dst} in {routes}"));
        assert!(line.contains("src 2001:db8::10"), "{line}");
    }
    let out = ip_ra(&p.a, &["remove"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let routes = ip_out(&p.a, &["-6", "route", "show", "table", "main"]);
    assert!(!routes.contains("src 2001:db8::10"), "{routes}");
    assert!(
        routes.contains("2001:db8:7::/64 via 2001:db8::3"),
        "{routes}"
    );
}

#[test]
fn ipv6_connectivity_by_pinglist_then_all_nodes_and_its_failures_roll_back() {
    let p = pair6();
    let base = [("NOIPUNIQUE", "1"), ("IP_PINGTIME", "0.3")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut e = kit6(&base);
        e.extend_from_slice(extra);
        e
    };
    let out = ip_ra(&p.a, &["restore"], &with(&[("PingList", "2001:db8::3")]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("2001:db8::3 (PingList) answers 2001:db8::10"));
    assert_eq!(code(&ip_ra(&p.a, &["remove"], &kit6(&[]))), 0);

    // Nobody in the PingList answers and NOBCASTPING=1: failure, the address goes again.
    let env = with(&[("PingList", "2001:db8::99"), ("NOBCASTPING", "1")]);
    let out = ip_ra(&p.a, &["restore"], &env);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("no PingList host answers and NOBCASTPING=1"));
    assert!(!has_vip6(&p.a));

    // The peer ignores every echo request: the all-nodes ping finds nobody but ourselves.
    p.b.sysctl("net.ipv6.icmp.echo_ignore_all", "1");
    let out = ip_ra(&p.a, &["restore"], &with(&[]));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nobody answers the all-nodes ping of ff02::1 on eth0"),
        "{}",
        stderr(&out)
    );
    assert!(!has_vip6(&p.a));
}

#[test]
fn ipv6_ocf_face_and_ocf_tester_pass() {
    let p = pair6();
    let params = [("ip", VIP6), ("cidr_netmask", "64"), ("nic", "eth0")];
    assert_eq!(code(&ocf(&p.a, "validate-all", &params)), 0);
    assert_eq!(code(&ocf(&p.a, "monitor", &params)), 7);
    let out = ocf(&p.a, "start", &params);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(has_vip6(&p.a));
    assert_eq!(code(&ocf(&p.a, "monitor", &params)), 0);
    assert_eq!(code(&ocf(&p.a, "stop", &params)), 0);
    assert!(!has_vip6(&p.a));
    // nic and cidr_netmask found from the physical address whose prefix holds ip.
    assert_eq!(code(&ocf(&p.a, "start", &[("ip", VIP6)])), 0);
    assert!(has_vip6(&p.a));
    assert_eq!(code(&ocf(&p.a, "stop", &[("ip", VIP6)])), 0);
    let bad = [("ip", VIP6), ("cidr_netmask", "129")];
    assert_eq!(code(&ocf(&p.a, "validate-all", &bad)), 6);

    let out =
        p.a.cmd("/usr/sbin/ocf-tester")
            .args([
                "-n",
                "ipra6",
                "-o",
                &format!("ip={VIP6}"),
                "-o",
                "cidr_netmask=64",
                "-o",
                "nic=eth0",
            ])
            .arg(common::applet("ip-ra"))
            .output()
            .expect("ocf-tester");
    let (o, e) = common::text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(o.contains("passed all tests"), "{o}{e}");
    assert!(!has_vip6(&p.a));
}

#[test]
fn ipv6_subnet_router_anycast_address_was_taken_as_a_vip() {
    // "2001:db8::/64" for "2001:db8::10/64": the prefix's Subnet-Router anycast address
    // (RFC 4291 2.6.1) passed DAD (nobody owns it) and was added as a unicast VIP.
    let p = pair6();
    let before = addrs6(&p.a);
    for (args, env) in [
        (
            &["restore", "-i", "2001:db8::/64", "-d", "eth0"][..],
            &[][..],
        ),
        // Without a prefix it comes from a's own 2001:db8::2/64.
        (
            &["restore"][..],
            &[("IP", "2001:db8::"), ("DEVICE", "eth0")][..],
        ),
    ] {
        let out = ip_ra(&p.a, args, env);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("the Subnet-Router anycast address of its prefix"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let out = ocf(
        &p.a,
        "start",
        &[
            ("ip", "2001:db8::"),
            ("cidr_netmask", "64"),
            ("nic", "eth0"),
        ],
    );
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert_eq!(before, addrs6(&p.a));
}

#[test]
fn ipv6_stop_and_monitor_missed_the_vip_once_the_physical_address_of_its_prefix_was_gone() {
    // Regression: as for IPv4, stop and monitor looked for the VIP only on the device of the
    // address covering it; without that address monitor said 7 and stop 0 with the VIP left.
    let p = pair6();
    let params = [
        ("ip", VIP6),
        ("noipunique", "1"),
        ("CRM_meta_interval", "10000"),
    ];
    assert_eq!(code(&ocf(&p.a, "start", &params)), 0);
    assert!(has_vip6(&p.a));
    p.a.ip(&["-6", "addr", "del", "2001:db8::2/64", "dev", "eth0"]);
    let out = ocf(&p.a, "monitor", &params);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = ocf(&p.a, "stop", &params);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!has_vip6(&p.a), "{}", addrs6(&p.a));
    assert_eq!(code(&ocf(&p.a, "monitor", &params)), 7);
}

#[test]
fn ipv6_duplicate_was_added_unseen_where_the_device_does_no_dad() {
    // Regression: the IPv6 duplicate check was the kernel's DAD only; with accept_dad=0 or
    // dad_transmits=0 on the device the address is never tentative, so an address another
    // node holds was added as if the check had passed. ip-ra now solicits itself there.
    let p = pair6();
    p.b.ip(&["addr", "add", VIP6_64, "dev", "eth0", "nodad"]);
    let peer = mac_of(&p.b).to_string();
    let params = [
        ("ip", VIP6),
        ("nic", "eth0"),
        ("cidr_netmask", "64"),
        ("ip_pingtimeout", "1"),
    ];
    for (knob, off, on) in [("accept_dad", "0", "1"), ("dad_transmits", "0", "1")] {
        p.a.sysctl(&format!("net.ipv6.conf.eth0.{knob}"), off);
        let out = ocf(&p.a, "start", &params);
        assert_eq!(code(&out), 1, "{knob}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("2001:db8::10 is already in use by {peer}")),
            "{knob}: {}",
            stderr(&out)
        );
        assert!(!has_vip6(&p.a), "{knob}: {}", addrs6(&p.a));
        p.a.sysctl(&format!("net.ipv6.conf.eth0.{knob}"), on);
    }
    // Nobody else holds it: the solicitations go unanswered and the address is added.
    p.b.ip(&["addr", "del", VIP6_64, "dev", "eth0"]);
    p.a.sysctl("net.ipv6.conf.eth0.accept_dad", "0");
    let out = ocf(&p.a, "start", &params);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(has_vip6(&p.a), "{}", addrs6(&p.a));
    assert_eq!(code(&ocf(&p.a, "stop", &params)), 0);
}

#[test]
fn ipv6_own_physical_address_as_the_vip_is_named_as_such() {
    // The IPv6 twin of own_physical_address_as_the_vip_was_reported_as_no_address_in_its_subnet.
    let p = pair6();
    let own = "2001:db8::2";
    for params in [vec![("ip", own)], vec![("ip", own), ("nic", "eth0")]] {
        for action in ["validate-all", "start", "monitor"] {
            let out = ocf(&p.a, action, &params);
            assert_eq!(code(&out), 2, "{action} {params:?}: {}", stderr(&out));
            assert!(
                stderr(&out)
                    .contains("2001:db8::2 is already eth0's own address, not a virtual IP"),
                "{action}: {}",
                stderr(&out)
            );
        }
        assert_eq!(code(&ocf(&p.a, "stop", &params)), 0);
        assert!(
            addrs6(&p.a).contains("inet6 2001:db8::2/64"),
            "stop took it"
        );
    }
}

/// Adds `ip/prefix` to eth0 of `ns` as ip-ra does (owner mark `proto 82`, with DAD): what a
/// restore killed in its duplicate check leaves behind (iproute2 6.1 cannot set the mark).
fn add_ours6(ns: &Netns, ip: &'static str, prefix: u8) {
    in_ns(ns, move || {
        let mut rt = habox::net::rtnl::Rtnl::open().expect("rtnl");
        let link = rt.link_by_name("eth0").expect("link").expect("eth0");
        rt.add_address6(link.index, ip.parse().expect("ip"), prefix, false, 82)
            .expect("add address");
    });
}

/// Waits (at most 10 s) until `what` shows in eth0's IPv6 addresses of `ns`.
fn wait_addr6(ns: &Netns, what: &str) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !addrs6(ns).contains(what) && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(addrs6(ns).contains(what), "no {what}: {}", addrs6(ns));
}

#[test]
fn ipv6_restore_said_success_over_its_own_dadfailed_address() {
    // Regression: the VIP of ours on the device that had failed DAD (a peer held it while
    // our restore was killed, or while the link was down and up) was "already assigned":
    // restore checked link and connectivity (nothing, with NOBCASTPING=1) and said success,
    // while quickCheck called the same address a failed duplicate. The kernel never retries
    // DAD on such an address; restore now deletes it and adds it again, with DAD.
    let p = pair6();
    p.b.ip(&["addr", "add", VIP6_64, "dev", "eth0", "nodad"]);
    add_ours6(&p.a, VIP6, 64);
    wait_addr6(&p.a, "dadfailed");
    let env = kit6(&[("NOBCASTPING", "1")]);
    let out = ip_ra(&p.a, &["quickCheck"], &env);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("failed DAD"), "{}", stderr(&out));
    // The peer still holds it: restore fails and leaves no address behind.
    let out = ip_ra(&p.a, &["restore"], &env);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already in use on the link (DAD failed)"),
        "{}",
        stderr(&out)
    );
    assert!(!addrs6(&p.a).contains(VIP6), "{}", addrs6(&p.a));
    // The peer let it go: a dadfailed leftover no longer blocks the restore.
    add_ours6(&p.a, VIP6, 64);
    wait_addr6(&p.a, "dadfailed");
    p.b.ip(&["addr", "del", VIP6_64, "dev", "eth0"]);
    let out = ip_ra(&p.a, &["restore"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = addrs6(&p.a);
    assert!(has_vip6(&p.a), "{text}");
    assert!(
        !text.contains("dadfailed") && !text.contains("tentative"),
        "{text}"
    );
    let out = ip_ra(&p.a, &["quickCheck"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn ipv6_quickcheck_of_a_tentative_address_failed_its_connectivity_check() {
    // Regression: while the VIP was still tentative (DAD running: a restore killed in its
    // duplicate check, or the link just came back) quickCheck pinged the PingList from it,
    // which the kernel does not allow, and reported a connectivity failure. It now waits for
    // DAD to end (within IP_QUICKCHECK_TIMEOUT) and judges the outcome.
    let p = pair6();
    p.a.sysctl("net.ipv6.conf.eth0.dad_transmits", "3");
    add_ours6(&p.a, VIP6, 64);
    assert!(addrs6(&p.a).contains("tentative"), "{}", addrs6(&p.a));
    let env = kit6(&[("NOBCASTPING", "1"), ("PingList", "2001:db8::3")]);
    let out = ip_ra(&p.a, &["quickCheck"], &env);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("tentative"), "{}", stderr(&out));
}
