//! ip-ra as an OCF resource agent: exit codes, meta-data against the DTD as `nobody`,
//! ocf-tester in a namespace.

use std::process::{Command, Stdio};

use crate::common;
use crate::rig::*;

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

/// The lines an agent wrote on stderr; stdout must be empty.
fn stderr_lines(out: &std::process::Output) -> Vec<String> {
    let (o, e) = common::text(out);
    assert_eq!(o, "", "stdout of a monitor");
    e.lines().map(str::to_string).collect()
}

#[test]
fn monitor_wrote_lines_on_every_successful_run_and_now_is_quiet() {
    // Regression: every monitor wrote three lines on stderr (assignment, link and
    // connectivity checks), which Pacemaker logs every interval.
    let p = pair();
    let probe = [("ip", VIP), ("cidr_netmask", "24"), ("nic", "eth0")];
    let recurring = [probe[0], probe[1], probe[2], ("CRM_meta_interval", "10000")];
    assert_eq!(code(&ocf(&p.a, "start", &probe)), 0);
    for params in [&probe[..], &recurring[..]] {
        let out = ocf(&p.a, "monitor", params);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(stderr_lines(&out).is_empty(), "{}", stderr(&out));
    }
    // A failure: one line, the exit reason.
    p.b.ip(&["link", "set", "eth0", "down"]);
    let out = ocf(&p.a, "monitor", &recurring);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(
        stderr_lines(&out),
        ["ocf-exit-reason:monitor: link check: eth0 has no carrier (198.51.100.10/24 on eth0)"]
    );
    assert_eq!(code(&ocf(&p.a, "stop", &probe)), 0);
    // Not running: a recurring monitor says why in one line, a probe says nothing.
    let out = ocf(&p.a, "monitor", &recurring);
    assert_eq!(code(&out), 7);
    assert_eq!(
        stderr_lines(&out),
        ["ocf-exit-reason:monitor: assignment check: 198.51.100.10 is not assigned to eth0"]
    );
    let out = ocf(&p.a, "monitor", &probe);
    assert_eq!(code(&out), 7);
    assert!(stderr_lines(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn ocf_start_with_only_ip_failed_on_a_linux_subnet_that_ignores_broadcast_pings() {
    // Regression: the kit's default connectivity check is a broadcast ping, which Linux hosts
    // ignore (icmp_echo_ignore_broadcasts=1 by default): OCF start with only ip failed on an
    // ordinary Linux subnet. The OCF face skips it by default; the kit's face keeps it.
    let p = pair();
    p.b.sysctl("net.ipv4.icmp_echo_ignore_broadcasts", "1");
    for params in [
        &[("ip", VIP)][..],
        &[("ip", VIP), ("nic", "eth0"), ("cidr_netmask", "24")][..],
    ] {
        let out = ocf(&p.a, "start", params);
        assert_eq!(code(&out), 0, "{params:?}: {}", stderr(&out));
        assert!(has_vip(&p.a));
        assert_eq!(code(&ocf(&p.a, "monitor", params)), 0);
        assert_eq!(code(&ocf(&p.a, "stop", params)), 0);
        assert!(!has_vip(&p.a));
    }
    // The kit's checks stay available as parameters: the broadcast ping fails here, the
    // pinglist host answers.
    let out = ocf(&p.a, "start", &[("ip", VIP), ("nobcastping", "0")]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("nobody answers the broadcast ping of 198.51.100.255 on eth0"),
        "{}",
        stderr(&out)
    );
    assert!(!has_vip(&p.a));
    let out = ocf(&p.a, "start", &[("ip", VIP), ("pinglist", "198.51.100.3")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&ocf(&p.a, "stop", &[("ip", VIP)])), 0);
    // The LifeKeeper face keeps the kit's default: the broadcast ping, which fails here.
    let out = ip_ra(&p.a, &["restore"], &[("IP", VIP24), ("DEVICE", "eth0")]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("nobody answers the broadcast ping"));
    assert!(!has_vip(&p.a));
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
    // The peer is an ordinary Linux host: it ignores broadcast pings.
    p.b.sysctl("net.ipv4.icmp_echo_ignore_broadcasts", "1");
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

#[test]
fn stop_of_one_vip_deleted_the_other_vips_of_its_subnet() {
    // Regression: the first VIP of a subnet is the kernel's primary address there, and with
    // promote_secondaries=0 (the default) deleting it deleted every secondary address of the
    // subnet: stopping one resource took the other resources' VIPs down.
    let p = pair();
    let vip = |ip: &'static str| {
        [
            ("ip", ip),
            ("nic", "eth0"),
            ("cidr_netmask", "25"),
            ("noipunique", "1"),
            ("CRM_meta_interval", "10000"),
        ]
    };
    let (first, second) = (vip("198.51.100.130"), vip("198.51.100.131"));
    assert_eq!(code(&ocf(&p.a, "start", &first)), 0);
    assert_eq!(code(&ocf(&p.a, "start", &second)), 0);
    assert!(
        addrs(&p.a).contains("inet 198.51.100.131/25"),
        "{}",
        addrs(&p.a)
    );
    let out = ocf(&p.a, "stop", &first);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let left = addrs(&p.a);
    assert!(!left.contains("inet 198.51.100.130/25"), "{left}");
    assert!(left.contains("inet 198.51.100.131/25"), "{left}");
    assert!(left.contains("inet 198.51.100.2/24"), "{left}");
    let out = ocf(&p.a, "monitor", &second);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&ocf(&p.a, "stop", &second)), 0);
    assert!(!addrs(&p.a).contains("198.51.100.131"));
}

#[test]
fn stop_and_monitor_missed_the_vip_once_the_physical_address_of_its_subnet_was_gone() {
    // Regression: stop and monitor looked for the VIP only on the device and prefix of the
    // physical address covering it. With that address gone the VIP stayed in service while
    // monitor said 7 and stop said 0 having removed nothing: live on two nodes.
    let p = pair();
    let params = [("ip", VIP), ("CRM_meta_interval", "10000")];
    assert_eq!(code(&ocf(&p.a, "start", &params)), 0);
    assert!(has_vip(&p.a));
    // The VIP (secondary of 198.51.100.2/24) survives its primary only when promoted.
    p.a.sysctl("net.ipv4.conf.eth0.promote_secondaries", "1");
    p.a.ip(&["addr", "del", "198.51.100.2/24", "dev", "eth0"]);
    assert!(has_vip(&p.a), "{}", addrs(&p.a));
    let out = ocf(&p.a, "monitor", &params);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = ocf(&p.a, "stop", &params);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!has_vip(&p.a), "{}", addrs(&p.a));
    assert_eq!(code(&ocf(&p.a, "monitor", &params)), 7);
    // Also with nic and cidr_netmask given but no longer matching where the VIP is.
    p.a.ip(&["addr", "add", "198.51.100.2/24", "dev", "eth0"]);
    assert_eq!(code(&ocf(&p.a, "start", &params)), 0);
    let moved = [("ip", VIP), ("nic", "lo"), ("cidr_netmask", "25")];
    assert_eq!(code(&ocf(&p.a, "monitor", &moved)), 0);
    assert_eq!(code(&ocf(&p.a, "stop", &moved)), 0);
    assert!(!has_vip(&p.a), "{}", addrs(&p.a));
}

#[test]
fn stop_returned_6_when_a_parameter_other_than_ip_did_not_parse() {
    // Regression: stop parsed every parameter and returned 6 (fatal, cluster-wide) for a bad
    // value of any of them, and for a network address that only the host's prefix made one;
    // OCF wants 0 from the stop of a resource that is not configured here.
    let p = pair();
    for bad in [
        &[("ip", VIP), ("nobcastping", "2")][..],
        &[("ip", VIP), ("cidr_netmask", "33")][..],
        &[("ip", VIP), ("ip_pingtries", "0"), ("nic", "eth0")][..],
        &[("ip", "198.51.100.0")][..],
        &[("ip", "not-an-address")][..],
        &[][..],
    ] {
        let out = ocf(&p.a, "stop", bad);
        assert_eq!(code(&out), 0, "{bad:?}: {}", stderr(&out));
    }
    // The host makes 198.51.100.0 the network address: not a fatal configuration error.
    assert_eq!(code(&ocf(&p.a, "start", &[("ip", "198.51.100.0")])), 2);
    assert_eq!(code(&ocf(&p.a, "monitor", &[("ip", "198.51.100.0")])), 7);
    // And a VIP in service is still removed by a stop whose other parameters are bad.
    assert_eq!(code(&ocf(&p.a, "start", &[("ip", VIP)])), 0);
    let out = ocf(
        &p.a,
        "stop",
        &[("ip", VIP), ("nobcastping", "2"), ("nic", "x/y")],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!has_vip(&p.a), "{}", addrs(&p.a));
}

#[test]
fn cidr_netmask_in_dotted_form_was_rejected_as_ipaddr2_accepts_it() {
    // resource-agents' IPaddr2 takes cidr_netmask=255.255.255.0 (with a warning); ip-ra
    // returned 6 for it, which made a configuration moved from IPaddr2 fatal.
    let p = pair();
    let params = [
        ("ip", VIP),
        ("nic", "eth0"),
        ("cidr_netmask", "255.255.255.0"),
    ];
    let out = ocf(&p.a, "validate-all", &params);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&ocf(&p.a, "start", &params)), 0);
    assert!(has_vip(&p.a), "{}", addrs(&p.a));
    assert_eq!(code(&ocf(&p.a, "stop", &params)), 0);
    assert!(!has_vip(&p.a));
    assert_eq!(
        code(&ocf(
            &p.a,
            "validate-all",
            &[("ip", VIP), ("cidr_netmask", "255.0.255.0")]
        )),
        6
    );
}

#[test]
fn ip_quickcheck_timeout_0_passed_validate_and_every_monitor_failed_naming_no_device() {
    // Regression: ip_quickcheck_timeout=0 passed validate-all, then every monitor ran over
    // it, and the message named no device when nic was not given ("(... on )").
    let p = pair();
    let out = ocf(
        &p.a,
        "validate-all",
        &[("ip", VIP), ("ip_quickcheck_timeout", "0")],
    );
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "ocf-exit-reason:ip_quickcheck_timeout=0: quickCheck (monitor) would always run over"
        ),
        "{}",
        stderr(&out)
    );
    // A monitor that does run over names the device it found.
    assert_eq!(code(&ocf(&p.a, "start", &[("ip", VIP)])), 0);
    let slow = [
        ("ip", VIP),
        ("pinglist", "198.51.100.99"),
        ("ip_pingtime", "3"),
        ("ip_quickcheck_timeout", "0.5"),
        ("CRM_meta_interval", "10000"),
    ];
    let out = ocf(&p.a, "monitor", &slow);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("monitor: ran over IP_QUICKCHECK_TIMEOUT (0.5s) (198.51.100.10 on eth0)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(code(&ocf(&p.a, "stop", &[("ip", VIP)])), 0);
}

#[test]
fn own_physical_address_as_the_vip_was_reported_as_no_address_in_its_subnet() {
    // Regression: ip=198.51.100.2, a's own address on eth0, was refused with "no DEVICE given
    // and no interface has an address in the subnet of 198.51.100.2" (with nic=eth0: "eth0
    // has no address in its subnet"), both false; with nic and cidr_netmask start said 0 and
    // monitor 0 for an address no stop can take away. validate-all, start and monitor now
    // name the real mistake (2: wrong on this host); stop returns 0 and leaves the address.
    let p = pair();
    let before = snapshot(&p.a);
    let own = "198.51.100.2";
    let expected = format!("{own} is already eth0's own address, not a virtual IP");
    for params in [
        vec![("ip", own)],
        vec![("ip", own), ("nic", "eth0")],
        vec![("ip", own), ("nic", "eth0"), ("cidr_netmask", "24")],
    ] {
        for action in ["validate-all", "start", "monitor"] {
            let out = ocf(&p.a, action, &params);
            assert_eq!(code(&out), 2, "{action} {params:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains(&format!(
                    "ocf-exit-reason:{action}: physical-IP check: {expected}"
                )),
                "{action} {params:?}: {}",
                stderr(&out)
            );
        }
        let out = ocf(&p.a, "stop", &params);
        assert_eq!(code(&out), 0, "stop {params:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is a physical address of eth0: left alone"),
            "{}",
            stderr(&out)
        );
        assert_eq!(before, snapshot(&p.a), "stop {params:?} changed something");
    }
    // The kit keeps its semantics: restore of a physical address is "nothing to do", now
    // also without DEVICE.
    let out = ip_ra(&p.a, &["restore"], &[("IP", own)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("is a physical address of eth0: nothing to do"));
    assert_eq!(before, snapshot(&p.a));
}

/// A newline in a parameter value (`nic="eth0<newline>x"`, pasted from a file) cut the
/// exit-reason line after the value: Pacemaker keeps only the first line, so it showed
/// `ocf-exit-reason:nic=eth0`, blaming a good interface and giving no reason. Control
/// characters are now escaped: one line, with the whole value and why it is refused.
#[test]
fn exit_reason_was_cut_at_a_newline_in_a_parameter_value() {
    let p = pair();
    for (params, want) in [
        (
            &[("ip", VIP), ("nic", "eth0\nx")][..],
            "ocf-exit-reason:nic=eth0\\nx: not an interface name",
        ),
        (
            &[("ip", "198.51.100.10\n;id")][..],
            "ocf-exit-reason:ip=198.51.100.10\\n;id: not an IPv4 or IPv6 address",
        ),
    ] {
        let out = ocf(&p.a, "validate-all", params);
        assert_eq!(code(&out), 6, "{params:?}: {}", stderr(&out));
        assert_eq!(stderr_lines(&out), vec![want.to_string()], "{params:?}");
    }
    // An empty prefix is the default (OCF: ${OCF_EXIT_REASON_PREFIX:-ocf-exit-reason:}).
    let out =
        p.a.cmd(common::applet("ip-ra"))
            .arg("validate-all")
            .env("OCF_EXIT_REASON_PREFIX", "")
            .output()
            .expect("run ip-ra");
    assert_eq!(code(&out), 6);
    assert_eq!(
        stderr_lines(&out),
        vec!["ocf-exit-reason:ip: missing (the virtual IPv4 or IPv6 address)".to_string()]
    );
}

#[test]
fn probe_on_a_node_where_it_never_ran_returned_6_for_a_bad_parameter() {
    // Regression: a probe (monitor, interval 0) parsed every parameter and returned 6 (fatal,
    // cluster-wide) on a node where the VIP was never configured; OCF wants 7 from the probe
    // of a stopped resource, as from its stop 0, whatever the configuration. start still
    // says 6, and a probe of a VIP in service with a bad parameter still says 6.
    let p = pair();
    for bad in [
        &[("ip", VIP), ("nobcastping", "maybe")][..],
        &[("ip", VIP), ("cidr_netmask", "33"), ("nic", "eth0")][..],
        &[("ip", "not-an-address")][..],
        &[("ip", " ")][..],
    ] {
        let out = ocf(&p.a, "monitor", bad);
        assert_eq!(code(&out), 7, "{bad:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("ocf-exit-reason"),
            "{}",
            stderr(&out)
        );
        let out = ocf(&p.a, "start", bad);
        assert_eq!(code(&out), 6, "{bad:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("ocf-exit-reason:"),
            "{}",
            stderr(&out)
        );
    }
    // A recurring monitor with a bad parameter is no probe: 6, with the reason.
    let bad = [
        ("ip", VIP),
        ("nobcastping", "maybe"),
        ("CRM_meta_interval", "10000"),
    ];
    let out = ocf(&p.a, "monitor", &bad);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ocf-exit-reason:nobcastping=maybe: expected 0 or 1"),
        "{}",
        stderr(&out)
    );
    // The VIP in service here: the probe cannot say it is stopped.
    assert_eq!(code(&ocf(&p.a, "start", &[("ip", VIP)])), 0);
    let out = ocf(&p.a, "monitor", &[("ip", VIP), ("nobcastping", "maybe")]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert_eq!(code(&ocf(&p.a, "stop", &[("ip", VIP)])), 0);
}

#[test]
fn promote_secondaries_log_line_had_a_run_of_spaces_in_its_middle() {
    // Regression: the line stop logs when it sets promote_secondaries (and the error when it
    // cannot) carried 14 to 22 spaces in the middle of a sentence, a lost line continuation.
    let p = pair();
    let vip = |ip: &'static str| {
        [
            ("ip", ip),
            ("nic", "eth0"),
            ("cidr_netmask", "25"),
            ("noipunique", "1"),
        ]
    };
    let (first, second) = (vip("198.51.100.130"), vip("198.51.100.131"));
    assert_eq!(code(&ocf(&p.a, "start", &first)), 0);
    assert_eq!(code(&ocf(&p.a, "start", &second)), 0);
    let out = ocf(&p.a, "stop", &first);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "stop: delete address: 198.51.100.130 is the primary address of its subnet: \
             promote_secondaries set on eth0 so that 198.51.100.131/25 stay"
        ),
        "{err}"
    );
    assert!(!err.contains("  "), "{err}");
    assert_eq!(code(&ocf(&p.a, "stop", &second)), 0);
}

#[test]
fn ocf_errors_named_the_kits_device_parameter_instead_of_nic() {
    // Regression: under Pacemaker the interface parameter is `nic`, but the reasons said
    // "DEVICE nosuch0: no such interface", the LifeKeeper kit's name, which no crm
    // configuration holds. The kit's face (`ip-ra restore`, `-d`) keeps DEVICE.
    let p = pair();
    let bad_nic = [("ip", VIP), ("cidr_netmask", "24"), ("nic", "nosuch0")];
    let out = ocf(&p.a, "start", &bad_nic);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ocf-exit-reason:nic nosuch0: no such interface"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("DEVICE"), "{}", stderr(&out));
    // An address in no subnet of ours and no nic: the reason names nic too.
    let out = ocf(&p.a, "start", &[("ip", "203.0.113.77")]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no nic given and no interface has an address"),
        "{}",
        stderr(&out)
    );
    // An IPv4-mapped IPv6 address says which address is meant (it was "not a unicast
    // address").
    let out = ocf(&p.a, "validate-all", &[("ip", "::ffff:198.51.100.10")]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("an IPv4-mapped IPv6 address: give the IPv4 address 198.51.100.10"),
        "{}",
        stderr(&out)
    );
}

/// README: "A successful monitor prints nothing (HA_debug makes it verbose)". An admin who
/// sets `HA_debug=1` (or `PCMK_debug`) in /etc/default/pacemaker to see why a monitor
/// passes or fails must get the checks' lines; `HA_debug=0` stays quiet.
#[test]
fn ha_debug_left_a_successful_monitor_silent() {
    let p = pair();
    let params = [("ip", VIP), ("cidr_netmask", "24"), ("nic", "eth0")];
    assert_eq!(code(&ocf(&p.a, "start", &params)), 0);
    let monitor = |debug: Option<(&str, &str)>| {
        let mut c = p.a.cmd(common::applet("ip-ra"));
        c.arg("monitor")
            .env_remove("HA_debug")
            .env_remove("HA_DEBUG")
            .env_remove("PCMK_debug");
        for (k, v) in params {
            c.env(format!("OCF_RESKEY_{k}"), v);
        }
        c.env("OCF_RESKEY_CRM_meta_interval", "10000");
        if let Some((k, v)) = debug {
            c.env(k, v);
        }
        let out = c.output().expect("run ip-ra");
        assert_eq!(code(&out), 0, "{debug:?}: {}", stderr(&out));
        stderr_lines(&out)
    };
    assert!(monitor(None).is_empty());
    assert!(monitor(Some(("HA_debug", "0"))).is_empty());
    for debug in [("HA_debug", "1"), ("PCMK_debug", "yes")] {
        let lines = monitor(Some(debug));
        assert!(
            lines
                .iter()
                .any(|l| l.contains("assignment check") && l.contains(VIP)),
            "{debug:?}: {lines:?}"
        );
        assert!(
            lines.iter().all(|l| !l.starts_with("ocf-exit-reason:")),
            "{debug:?}: {lines:?}"
        );
    }
    assert_eq!(code(&ocf(&p.a, "stop", &params)), 0);
}
