//! Tests of what a virtual cluster holds: its addresses (IPv4 and IPv6, VIPs and virtual
//! MACs across virtual clusters), its ping-groups and their host names, its tracks, and the
//! `conntrack` section (the node's default or the virtual cluster's own).

use super::tests::{errors_of, SAMPLE};
use super::*;
use crate::applets::pikemon::core::TakeoverOrder;
use std::net::Ipv6Addr;

#[test]
fn host_names_and_resolution() {
    let text = SAMPLE.replace("host [198.51.100.2];", "host gw.invalid;");
    let c = read("t.cfg", &text, ReadOptions::default()).unwrap();
    assert_eq!(
        c.virtual_clusters[0].ping_groups[0].hosts[1],
        Host::Name("gw.invalid".into())
    );
    // .invalid never resolves (RFC 6761).
    let e = read(
        "t.cfg",
        &text,
        ReadOptions {
            resolve: true,
            ..ReadOptions::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("t.cfg:12:51: error: host name 'gw.invalid' does not resolve"),
        "{e}"
    );
}

/// `test-pikemon -r` said "configuration OK" for a name that resolves only to loopback,
/// which the ACR refuses at run time: the group went down with no error at the check.
#[test]
fn a_host_name_resolving_only_to_loopback_passed_the_resolve_check() {
    // musl reads /etc/hosts first; localhost is 127.0.0.1 there (its ::1 is not pinged).
    let text = SAMPLE.replace("host [198.51.100.2];", "host localhost;");
    let resolve = ReadOptions {
        resolve: true,
        ..ReadOptions::default()
    };
    let e = read("t.cfg", &text, resolve).unwrap_err().to_string();
    assert_eq!(
        e,
        "t.cfg:12:51: error: host name 'localhost' has no address pikemon can ping as a \
         witness: 127.0.0.1: a unicast address of another host is needed"
    );
    // Without -r the name is taken as written: the ACR resolves it at run time.
    assert!(read("t.cfg", &text, ReadOptions::default()).is_ok());
}

/// SAMPLE with a second virtual cluster `WAN` (id 2) whose body is `body`.
fn with_second_vc(body: &str) -> String {
    SAMPLE.replacen(
        "    }\n}\n",
        &format!("    }}\n    virtual-cluster WAN {{\n        id 2;\n{body}\n    }}\n}}\n"),
        1,
    )
}

#[test]
fn same_vip_in_two_virtual_clusters_is_refused() {
    let e = errors_of(&with_second_vc(
        "        interface lan1 { ipv4 [198.51.100.10]/24; }",
    ));
    assert!(
        e.contains(
            "t.cfg:21:31: error: 198.51.100.10 is already a virtual address of \
             virtual-cluster 'LAN' (at t.cfg:11:31)"
        ),
        "{e}"
    );
}

/// The same IPv6 VIP in two virtual clusters said "configuration OK": each virtual cluster
/// elects its own Master, so the two could hold one address on both nodes at once, and a
/// Backup releasing one virtual cluster deleted the address the other still served.
#[test]
fn same_ipv6_vip_in_two_virtual_clusters_was_accepted() {
    let text = with_second_vc("        interface lan1 { ipv6 [2001:db8::10]/64; }").replace(
        "ipv4 [198.51.100.10]/24; nomadic no;",
        "ipv4 [198.51.100.10]/24; ipv6 [2001:db8::10]/64; nomadic no;",
    );
    assert_eq!(
        errors_of(&text),
        "t.cfg:21:31: error: 2001:db8::10 is already a virtual address of virtual-cluster \
         'LAN' (at t.cfg:11:56): an address can move with one virtual cluster only"
    );
    // Two spellings of one address are one address.
    let text = text.replace(
        "lan1 { ipv6 [2001:db8::10]/64;",
        "lan1 { ipv6 [2001:db8:0::0:10]/64;",
    );
    assert!(
        errors_of(&text).contains("error: 2001:db8::10 is already a virtual address"),
        "{}",
        errors_of(&text)
    );
}

/// One explicit `link-local` address in two virtual clusters on one parent said
/// "configuration OK": each virtual cluster elects its own Master, so both nodes could answer
/// it at once from two virtual MACs (the hosts' default router flapping between them), and
/// releasing one virtual cluster deleted the address the other still served.
#[test]
fn same_link_local_in_two_virtual_clusters_on_one_parent_was_accepted() {
    let lan = "ipv4 [198.51.100.10]/24; ipv6 [2001:db8::10]/64; link-local [fe80::1]; nomadic no;";
    let text =
        with_second_vc("        interface lan0 { ipv6 [2001:db8::20]/64; link-local [fe80::1]; }")
            .replace("ipv4 [198.51.100.10]/24; nomadic no;", lan);
    assert_eq!(
        errors_of(&text),
        "t.cfg:21:61: error: link-local fe80::1 on lan0 is already virtual-cluster 'LAN''s \
         (at t.cfg:11:86): a virtual link-local address can move with one virtual cluster \
         only; give this one another 'link-local'"
    );
    // An explicit address equal to the other's derived one (EUI-64 of its virtual MAC).
    let derived = "fe80::c6:33ff:fe64:a00";
    let text = with_second_vc(&format!(
        "        interface lan0 {{ ipv6 [2001:db8::20]/64; link-local [{derived}]; }}"
    ))
    .replace(
        "ipv4 [198.51.100.10]/24; nomadic no;",
        "ipv4 [198.51.100.10]/24; ipv6 [2001:db8::10]/64; nomadic no;",
    );
    assert!(
        errors_of(&text).contains(&format!(
            "error: link-local {derived} on lan0 is already virtual-cluster 'LAN''s (at t.cfg:11:9)"
        )),
        "{}",
        errors_of(&text)
    );
    // On another parent, or without IPv6 VIPs (no link-local is added), it is fine.
    let other =
        with_second_vc("        interface lan1 { ipv6 [2001:db8::20]/64; link-local [fe80::1]; }")
            .replace("ipv4 [198.51.100.10]/24; nomadic no;", lan);
    read("t.cfg", &other, ReadOptions::default()).unwrap();
    let v4 =
        with_second_vc("        interface lan0 { ipv4 [198.51.100.20]/24; link-local [fe80::1]; }")
            .replace(
                "ipv4 [198.51.100.10]/24; nomadic no;",
                "ipv4 [198.51.100.10]/24; link-local [fe80::1];",
            );
    read("t.cfg", &v4, ReadOptions::default()).unwrap();
}

/// A ping-group host that is a VIP of another virtual cluster was accepted: this node
/// answers it itself whenever it is that virtual cluster's Master, so it witnessed nothing.
#[test]
fn ping_group_host_on_a_vip_of_another_virtual_cluster_was_accepted() {
    // LAN pings a later virtual cluster's VIP, WAN an earlier one's.
    let e = errors_of(&with_second_vc(
        "        interface lan1 { ipv4 [198.51.100.2]/24; }\n        \
         ping-group UP { host [198.51.100.10]; }",
    ));
    let why = "so it witnesses nothing; ping a gateway or another host";
    assert_eq!(
        e,
        format!(
            "t.cfg:12:51: error: 198.51.100.2 is a VIP of virtual-cluster 'WAN': this node \
             answers it itself whenever it is that virtual cluster's Master, {why}\n\
             t.cfg:22:30: error: 198.51.100.10 is a VIP of virtual-cluster 'LAN': this node \
             answers it itself whenever it is that virtual cluster's Master, {why}"
        )
    );
}

/// A ping-group host on the address the config names as this node's own (`death-watch
/// local`) was accepted: this node answers it itself, so the group could never fail.
#[test]
fn ping_group_host_on_this_nodes_own_death_watch_address_was_accepted() {
    let text = SAMPLE.replace(
        "interface hb1; }",
        "interface hb1; death-watch local [198.51.100.2] peer [198.51.100.3]; }",
    );
    assert_eq!(
        errors_of(&text),
        "t.cfg:12:51: error: 198.51.100.2 is this node's own address (death-watch local at \
         t.cfg:6:66): this node answers it itself, so the ping group can never fail; ping a \
         gateway or another host"
    );
    // The peer's address, and the same host with the death-watch elsewhere, stay accepted.
    let text = text.replace(
        "local [198.51.100.2] peer [198.51.100.3]",
        "local [198.51.100.3] peer [198.51.100.2]",
    );
    assert!(read("t.cfg", &text, ReadOptions::default()).is_ok());
}

#[test]
fn macvlan_names_colliding_after_truncation_are_refused() {
    let text = SAMPLE.replace(
        "interface lan0 { ipv4 [198.51.100.10]/24; nomadic no; }",
        "interface lan-uplink-0a { ipv4 [198.51.100.10]/24; }\n        \
         interface lan-uplink-0b { ipv4 [198.51.100.11]/24; }",
    );
    let e = errors_of(&text);
    assert!(
        e.contains("t.cfg:12:9: error: macvlan name 'pk1-lan-uplink-' (names are cut to 15"),
        "{e}"
    );
}

#[test]
fn one_virtual_mac_twice_on_a_parent_is_refused() {
    let text = with_second_vc(
        "        interface lan0 { ipv4 [198.51.100.20]/24; mac 02:c6:33:64:0a:00; }",
    );
    let e = errors_of(&text);
    assert!(
        e.contains("t.cfg:21:9: error: virtual MAC 02:c6:33:64:0a:00 on lan0 is already"),
        "{e}"
    );
    // The same interface in two virtual clusters with their own MACs is fine.
    let ok = with_second_vc("        interface lan0 { ipv4 [198.51.100.20]/24; }");
    read("t.cfg", &ok, ReadOptions::default()).unwrap();
}

#[test]
fn tracks_read_with_their_options_and_bad_ones_are_refused_with_positions() {
    let c = read("t.cfg", SAMPLE, ReadOptions::default()).unwrap();
    let t = &c.virtual_clusters[0].tracks;
    assert_eq!(t.len(), 3);
    assert_eq!(t[0].kind, TrackKind::Process("conntrackd".into()));
    assert_eq!(
        (t[0].interval, t[0].fall, t[0].rise),
        (Duration::from_secs(1), 2, 2)
    );
    assert_eq!(t[1].kind, TrackKind::File(PathBuf::from("/run/fw/ok")));
    assert_eq!(
        (t[1].interval, t[1].fall, t[1].rise),
        (Duration::from_millis(500), 1, 1)
    );
    assert_eq!(t[2].kind, TrackKind::Script("test -e /run/up".into()));
    assert_eq!(t[2].timeout, Duration::from_secs(1));
    // Without a weight a failing witness is a hard Down; with one it adds to the penalty.
    assert_eq!(
        (t[0].weight, t[1].weight, t[2].weight),
        (None, None, Some(50))
    );
    let bad = SAMPLE
        .replace(
            "track-process conntrackd;",
            "track-process /sbin/conntrackd;",
        )
        .replace("interval 500ms fall 1", "timeout 500ms fall 1");
    let e = errors_of(&bad);
    assert!(
        e.contains("t.cfg:17:42: error: '/sbin/conntrackd' is not a process name"),
        "{e}"
    );
    assert!(
        e.contains("unknown option 'timeout' (expected interval, fall, rise, weight)"),
        "{e}"
    );
    for (weight, why) in [
        ("0", "0 is out of range 1..254"),
        ("255", "255 is out of range 1..254"),
    ] {
        let bad = SAMPLE.replace("weight 50;", &format!("weight {weight};"));
        let line = bad
            .lines()
            .position(|l| l.contains("track-script"))
            .unwrap()
            + 1;
        let col = bad
            .lines()
            .nth(line - 1)
            .unwrap()
            .find(&format!("weight {weight}"))
            .unwrap()
            + 8;
        let e = errors_of(&bad);
        assert!(
            e.contains(&format!("t.cfg:{line}:{col}: error: {why}")),
            "{e}"
        );
    }
}

#[test]
fn conntrack_section_per_node_and_per_virtual_cluster_reads_and_shows_back() {
    let c = read("t.cfg", SAMPLE, ReadOptions::default()).unwrap();
    assert_eq!(c.conntrack_of(0), None);
    let text = SAMPLE.replace(
        "garp-keepalive 60s;",
        "garp-keepalive 60s; conntrack { socket \"/run/ct.ctl\"; required yes; }",
    );
    let c = read("t.cfg", &text, ReadOptions::default()).unwrap();
    let node = c.conntrack_of(0).expect("node's conntrack");
    assert_eq!(node.socket, PathBuf::from("/run/ct.ctl"));
    assert_eq!(node.commit_timeout, COMMIT_TIMEOUT);
    assert!(node.required);
    let text = text.replace(
        "notify-timeout 3s;",
        "notify-timeout 3s; conntrack { commit-timeout 500ms; takeover parallel; }",
    );
    let c = read("t.cfg", &text, ReadOptions::default()).unwrap();
    let vc = c.conntrack_of(0).expect("the vc's own conntrack");
    assert_eq!(vc.socket, PathBuf::from(CONNTRACKD_SOCKET));
    assert_eq!(vc.commit_timeout, Duration::from_millis(500));
    assert_eq!(vc.takeover, TakeoverOrder::Parallel);
    assert_eq!(node.takeover, TakeoverOrder::CommitFirst);
    assert!(!vc.required);
    for all in [false, true] {
        let shown =
            super::super::show::config(&c, all).replace("\"(hidden)\"", "\"0123456789abcdef0123\"");
        assert!(shown.contains("conntrack {"), "{shown}");
        assert_eq!(read("shown", &shown, ReadOptions::default()).unwrap(), c);
    }
}

#[test]
fn bad_conntrack_items_are_refused_with_positions() {
    let with = |body: &str| {
        errors_of(&SAMPLE.replace(
            "garp-keepalive 60s;",
            &format!("garp-keepalive 60s; conntrack {{ {body} }}"),
        ))
    };
    let e = with("commit-timeout 5m;");
    assert!(
        e.contains("t.cfg:8:52: error: 5m is out of range 10ms..1m"),
        "{e}"
    );
    let e = with("socket relative.ctl;");
    assert!(
        e.contains("t.cfg:8:44: error: 'relative.ctl' is not an absolute path"),
        "{e}"
    );
    let e = with("takeover later;");
    assert!(
        e.contains("t.cfg:8:46: error: expected 'commit-first' or 'parallel', found 'later'"),
        "{e}"
    );
    let e = with("takeover parallel; takeover parallel;");
    assert!(e.contains("duplicate 'takeover'"), "{e}");
    let e = with("required maybe;");
    assert!(e.contains("t.cfg:8:46: error:"), "{e}");
    let e = with("sockets \"/x\";");
    assert!(
        e.contains("t.cfg:8:37: error: unknown item 'sockets' in section 'conntrack'"),
        "{e}"
    );
    let e = with("required yes; required no;");
    assert!(e.contains("duplicate 'required'"), "{e}");
    let e = errors_of(&SAMPLE.replace(
        "garp-keepalive 60s;",
        "garp-keepalive 60s; conntrack \"/x\";",
    ));
    assert!(
        e.contains("t.cfg:8:25: error: 'conntrack' is a section"),
        "{e}"
    );
}

const DUAL_STACK: &str = r#"version PIKEMON-1;
pikemon {
    node-id 1;
    hmac key "0123456789abcdef0123";
    heart-beat { interface hb0; }
    virtual-cluster LAN {
        id 1;
        interface lan0 { ipv4 [198.51.100.10]/24; ipv6 [2001:db8::10]/64; ipv6 [2001:db8:1::10]/64; }
        interface dmz0 { ipv6 [2001:db8:2::a:b]/64; link-local [fe80::1]; }
        ping-group GW { host [2001:db8::1]; host 2001:db8::2; host [198.51.100.1]; }
    }
}
"#;

#[test]
fn ipv6_items_mix_with_ipv4_in_one_virtual_cluster() {
    let c = read("t.cfg", DUAL_STACK, ReadOptions::default()).unwrap();
    let vc = &c.virtual_clusters[0];
    let lan = &vc.interfaces[0];
    assert_eq!(lan.ipv4, [("198.51.100.10".parse().unwrap(), 24)]);
    assert_eq!(
        lan.ipv6,
        [
            ("2001:db8::10".parse().unwrap(), 64),
            ("2001:db8:1::10".parse().unwrap(), 64)
        ]
    );
    // The vMAC still comes from the first IPv4 VIP; the link-local from the vMAC (EUI-64).
    assert_eq!(lan.virtual_mac(), [2, 198, 51, 100, 10, 0]);
    assert_eq!(
        lan.virtual_link_local(),
        "fe80::c6:33ff:fe64:a00".parse::<Ipv6Addr>().unwrap()
    );
    // IPv6 only: the vMAC takes the last four bytes of the first IPv6 VIP.
    let dmz = &vc.interfaces[1];
    assert_eq!(dmz.virtual_mac(), [2, 0, 0x0a, 0, 0x0b, 0]);
    assert_eq!(
        dmz.virtual_link_local(),
        "fe80::1".parse::<Ipv6Addr>().unwrap()
    );
    let hosts = &vc.ping_groups[0].hosts;
    assert_eq!(
        hosts,
        &[
            Host::Addr("2001:db8::1".parse().unwrap()),
            Host::Addr("2001:db8::2".parse().unwrap()),
            Host::Addr("198.51.100.1".parse().unwrap())
        ]
    );
    // show-config prints the items and reads back to the same configuration.
    let shown = super::super::show::config(&c, false);
    assert!(shown.contains("ipv6 [2001:db8::10]/64;"), "{shown}");
    assert!(shown.contains("link-local [fe80::1];"), "{shown}");
    let all = super::super::show::config(&c, true);
    assert!(
        all.contains("# link-local [fe80::c6:33ff:fe64:a00]; (derived from the virtual MAC)"),
        "{all}"
    );
    for text in [shown, all] {
        let text = text.replace("\"(hidden)\"", "\"0123456789abcdef0123\"");
        let back = read("t.cfg", &text, ReadOptions::default()).unwrap();
        assert_eq!(back.virtual_clusters, c.virtual_clusters);
    }
}

#[test]
fn bad_ipv6_items_are_reported_with_their_position() {
    let text = DUAL_STACK
        .replace(
            "ipv6 [2001:db8:1::10]/64;",
            "ipv6 [2001:db8::10]/64; ipv6 [fe80::5]/64;",
        )
        .replace("[2001:db8:2::a:b]/64", "[2001:db8::zz]/64")
        .replace("link-local [fe80::1]", "link-local [2001:db8::1]");
    let e = errors_of(&text);
    let lines: Vec<&str> = e.lines().collect();
    assert!(
        lines.contains(&"t.cfg:8:75: error: address 2001:db8::10 is listed twice"),
        "{e}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("t.cfg:8:104: error: fe80::5 is not a global unicast")),
        "{e}"
    );
    assert!(
        lines.contains(&"t.cfg:9:31: error: '[2001:db8::zz]' is not an IPv6 address"),
        "{e}"
    );
    assert!(
        lines.contains(
            &"t.cfg:9:61: error: 2001:db8::1 is not a link-local unicast address (fe80::/10)"
        ),
        "{e}"
    );
    let e = errors_of(&DUAL_STACK.replace("host 2001:db8::2;", "host [fe80::2];"));
    assert!(
        e.contains("fe80::2 cannot be pinged as a host (a global unicast address is needed)"),
        "{e}"
    );
    let e = errors_of(&DUAL_STACK.replace(
        "interface dmz0 { ipv6 [2001:db8:2::a:b]/64; link-local [fe80::1]; }",
        "interface dmz0 { link-local [fe80::1]; }",
    ));
    assert!(
        e.contains(
            "an interface needs at least one 'ipv4 [a.b.c.d]/len;' or 'ipv6 [2001:db8::1]/len;'"
        ),
        "{e}"
    );
}

/// A ping-group whose only host was refused (a bad address) also said "a ping-group needs
/// at least one 'host'", a knock-on of the error already reported.
#[test]
fn a_refused_ping_group_host_also_said_the_group_needs_a_host() {
    let text = SAMPLE.replace(
        "host [198.51.100.1]; host [198.51.100.2]; min-up 1;",
        "host [198.51.100.300]; host [127.0.0.1];",
    );
    let e = errors_of(&text);
    assert_eq!(e.lines().count(), 2, "{e}");
    assert!(
        e.contains("'[198.51.100.300]' is not an IPv4 address"),
        "{e}"
    );
    assert!(e.contains("127.0.0.1 cannot be pinged as a host"), "{e}");
    // With no `host` item at all it is the error.
    let text = SAMPLE.replace("host [198.51.100.1]; host [198.51.100.2]; min-up 1;", "");
    assert!(errors_of(&text).contains("a ping-group needs at least one 'host'"));
}

/// `test-pikemon -r` with a host name that does not resolve reports that name alone.
#[test]
fn an_unresolvable_ping_group_host_under_resolve_is_one_error() {
    let text = SAMPLE.replace(
        "host [198.51.100.1]; host [198.51.100.2];",
        "host nonexistent.invalid;",
    );
    let opts = ReadOptions {
        resolve: true,
        check_host: false,
    };
    let e = match read("t.cfg", &text, opts) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("host name 'nonexistent.invalid' does not resolve"),
        "{e}"
    );
}
