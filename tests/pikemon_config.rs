//! test-pikemon through its applet link: a valid config, every error of a broken one with its
//! position and exit 2, test expressions.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{applet, text};

/// `test-pikemon -f CFG ARGS...`, run to its end.
fn test_pikemon(cfg: &Path, args: &[&str]) -> Output {
    Command::new(applet("test-pikemon"))
        .arg("-f")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap()
}

fn write(name: &str, body: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pikemon-config");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

const GOOD: &str = r#"version PIKEMON-1;
pikemon {
    node-id 1;
    hmac key "0123456789abcdef0123" key-id 7;
    heart-beat { interface hb0; interface hb1; }
    hello-interval 100ms;
    virtual-cluster LAN {
        id 1; primary node 1; preemptive yes;
        interface lan0 { ipv4 [198.51.100.10]/24; }
        ping-group GW { host [198.51.100.1]; }
    }
}
"#;

#[test]
fn valid_config_is_ok_and_expressions_run() {
    let p = write("good.cfg", GOOD);
    let out = test_pikemon(&p, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out).0.ends_with("configuration OK\n"));
    let out = test_pikemon(&p, &["-t", "show-mac; show-config all;"]);
    let (so, _) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        so.starts_with("LAN lan0 pk1-lan0 02:c6:33:64:0a:00\n"),
        "{so}"
    );
    assert!(so.contains("    dead-interval 300ms;\n"), "{so}");
    let out = test_pikemon(&p, &["-t", "show-vc NOPE;"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(text(&out).1, "-t:1:1: error: no virtual-cluster 'NOPE'\n");
}

#[test]
fn key_file_readable_by_group_or_others_is_warned_about_and_the_exit_stays_0() {
    use std::os::unix::fs::PermissionsExt;
    let key = write("loose.key", "a-secret-of-20-bytes\n");
    let cfg = write(
        "keyfile.cfg",
        &GOOD.replace(
            "hmac key \"0123456789abcdef0123\" key-id 7;",
            &format!("hmac file \"{}\";", key.display()),
        ),
    );
    let check = || {
        let out = test_pikemon(&cfg, &[]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(text(&out).0.ends_with("configuration OK\n"), "{out:?}");
        text(&out).1
    };
    for mode in [0o400, 0o600] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        assert_eq!(check(), "", "mode {mode:o}");
    }
    for (mode, shown) in [(0o644, "644"), (0o640, "640"), (0o604, "604")] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        assert_eq!(
            check(),
            format!(
                "test-pikemon: warning: key file {} is readable by group or others \
                 (mode {shown}): chmod 600 it\n",
                key.display()
            )
        );
    }
}

#[test]
fn config_errors_are_all_printed_with_positions_and_exit_2() {
    let bad = GOOD
        .replace("node-id 1;", "node-id x;")
        .replace("hello-interval 100ms;", "hello-interval 100us;")
        .replace("hmac key \"0123456789abcdef0123\" key-id 7;", "");
    let p = write("bad.cfg", &bad);
    let out = test_pikemon(&p, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let f = p.display();
    let err = text(&out).1;
    assert!(
        err.contains(&format!("{f}:3:13: error: 'x' is not a number\n")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{f}:6:20: error: '100us': unknown unit 'us'")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{f}:2:1: error: missing mandatory item 'hmac'\n")),
        "{err}"
    );
    assert!(err.contains("3 error(s)"), "{err}");
}

#[test]
fn vip_outside_every_subnet_of_its_interface_is_refused_unless_onlink() {
    // On the node (a namespace whose lan0 holds 198.51.100.2/24): a VIP in another subnet
    // would be unreachable for the hosts on lan0.
    let ns = common::Netns::new("cf");
    ns.ip(&[
        "link", "add", "lan0", "type", "veth", "peer", "name", "lan0p",
    ]);
    ns.ip(&["addr", "add", "198.51.100.2/24", "dev", "lan0"]);
    let check = |name: &str, body: &str| {
        let p = write(name, body);
        let out = ns
            .cmd(applet("test-pikemon"))
            .arg("-f")
            .arg(&p)
            .output()
            .unwrap();
        (p, out)
    };
    let (_, out) = check("in-subnet.cfg", GOOD);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let outside = GOOD.replace("[198.51.100.10]/24", "[203.0.113.10]/24");
    let (p, out) = check("outside.cfg", &outside);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = text(&out).1;
    assert!(
        err.contains(&format!(
            "{}:9:31: error: 203.0.113.10 is outside every subnet of lan0 (198.51.100.2/24)",
            p.display()
        )),
        "{err}"
    );
    // The daemon refuses it the same way, before it starts anything.
    let out = ns
        .cmd(applet("pikemon"))
        .arg("-f")
        .arg(&p)
        .arg("-d")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        text(&out).1.contains("outside every subnet of lan0"),
        "{out:?}"
    );
    let onlink = outside.replace("/24; }", "/24; onlink yes; }");
    let (_, out) = check("onlink.cfg", &onlink);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// An IPv6 VIP with a typo in its prefix (2001:db8:1::10 where lan0 holds 2001:db8::2/64)
/// said "configuration OK" and pikemon started with it: hosts on lan0 could never reach it.
/// IPv6 VIPs now get the IPv4 check (a subnet of a global address of the interface; its
/// link-local one is no subnet of a VIP), with the same `onlink yes;` override.
#[test]
fn ipv6_vip_outside_every_subnet_of_its_interface_was_accepted_and_unreachable() {
    let ns = common::Netns::new("cf6");
    ns.ip(&[
        "link", "add", "lan0", "type", "veth", "peer", "name", "lan0p",
    ]);
    ns.ip(&["link", "set", "lan0", "up"]);
    ns.ip(&["addr", "add", "198.51.100.2/24", "dev", "lan0"]);
    ns.ip(&["addr", "add", "2001:db8::2/64", "dev", "lan0", "nodad"]);
    ns.ip(&["addr", "add", "fe80::2/64", "dev", "lan0", "nodad"]);
    let check = |name: &str, body: &str| {
        let p = write(name, body);
        let out = ns
            .cmd(applet("test-pikemon"))
            .arg("-f")
            .arg(&p)
            .output()
            .unwrap();
        (p, out)
    };
    let good = GOOD.replace("/24; }", "/24; ipv6 [2001:db8::10]/64; }");
    let (_, out) = check("v6-in-subnet.cfg", &good);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let typo = good.replace("[2001:db8::10]/64", "[2001:db8:1::10]/64");
    let (p, out) = check("v6-outside.cfg", &typo);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        text(&out).1,
        format!(
            "{}:9:56: error: 2001:db8:1::10 is outside every subnet of lan0 \
             (2001:db8::2/64): hosts there cannot reach it; add 'onlink yes;' to the \
             interface if that is intended\ntest-pikemon: {}: 1 error(s)\n",
            p.display(),
            p.display()
        )
    );
    // The daemon refuses it the same way, before it starts anything.
    let out = ns
        .cmd(applet("pikemon"))
        .arg("-f")
        .arg(&p)
        .arg("-d")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        text(&out)
            .1
            .contains("2001:db8:1::10 is outside every subnet of lan0"),
        "{out:?}"
    );
    let (_, out) = check(
        "v6-onlink.cfg",
        &typo.replace("/64; }", "/64; onlink yes; }"),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // No global IPv6 address on the interface (the nodes talk over link-local only): there
    // is no prefix to hold the VIP against, so neither the VIP nor the typo is refused.
    ns.ip(&["addr", "del", "2001:db8::2/64", "dev", "lan0"]);
    let (_, out) = check("v6-none.cfg", &good);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let (_, out) = check("v6-none-typo.cfg", &typo);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// A literal ping-group host on one of this node's own addresses was accepted at start:
/// the node answers it itself, so the group could never fail. test-pikemon and the daemon
/// now refuse it on the node (IPv4 and IPv6 alike), at its position; elsewhere it is fine.
#[test]
fn ping_group_host_on_an_address_of_this_node_was_accepted_and_could_never_fail() {
    let ns = common::Netns::new("ow");
    ns.ip(&[
        "link", "add", "lan0", "type", "veth", "peer", "name", "lan0p",
    ]);
    ns.ip(&["addr", "add", "198.51.100.2/24", "dev", "lan0"]);
    ns.ip(&["addr", "add", "2001:db8::2/64", "dev", "lan0", "nodad"]);
    for (name, host) in [("own4.cfg", "198.51.100.2"), ("own6.cfg", "2001:db8::2")] {
        let p = write(
            name,
            &GOOD.replace("host [198.51.100.1];", &format!("host [{host}];")),
        );
        let want = format!(
            "{}:10:30: error: {host} cannot be pinged as a host (an address of this node)\n",
            p.display()
        );
        let out = ns
            .cmd(applet("test-pikemon"))
            .arg("-f")
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(text(&out).1.starts_with(&want), "{out:?}");
        // The daemon refuses it the same way, before it starts anything.
        let out = output_within_5s({
            let mut c = ns.cmd(applet("pikemon"));
            c.arg("-f").arg(&p).arg("-d");
            c
        })
        .expect("pikemon started with its own address as a witness");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(text(&out).1.contains(&want), "{out:?}");
        // Off the node (no such address here) the config is fine.
        let out = test_pikemon(&p, &[]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
}

/// Runs `cmd` for at most 5 s; a command still running then is killed and None returned.
fn output_within_5s(mut cmd: Command) -> Option<std::process::Output> {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Some(child.wait_with_output().unwrap())
}

/// `-f /dev/zero` read on until memory ran out (the daemon and test-pikemon alike) and
/// `-f FIFO` blocked in open(2) for good: now both are an error at once, with exit 2.
#[test]
fn config_on_dev_zero_grew_without_bound_and_on_a_fifo_hung_and_now_both_are_errors() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pikemon-config");
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join(format!("fifo{}", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let fifo = fifo.display().to_string();
    for path in ["/dev/zero", fifo.as_str()] {
        for (applet_name, extra) in [("test-pikemon", None), ("pikemon", Some("-d"))] {
            let mut cmd = Command::new(applet(applet_name));
            cmd.args(["-f", path]).args(extra);
            let out = output_within_5s(cmd)
                .unwrap_or_else(|| panic!("{applet_name} -f {path} still runs after 5 s"));
            assert_eq!(out.status.code(), Some(2), "{out:?}");
            assert!(
                text(&out).1.starts_with(&format!(
                    "{path}:0:0: error: cannot read: not a regular file\n"
                )),
                "{out:?}"
            );
        }
    }
    // The same for `hmac file`: an error at the file name's position.
    for path in ["/dev/zero", fifo.as_str()] {
        let cfg = write(
            "keydev.cfg",
            &GOOD.replace(
                "hmac key \"0123456789abcdef0123\" key-id 7;",
                &format!("hmac file \"{path}\";"),
            ),
        );
        let mut cmd = Command::new(applet("test-pikemon"));
        cmd.arg("-f").arg(&cfg);
        let out = output_within_5s(cmd)
            .unwrap_or_else(|| panic!("test-pikemon with hmac file {path} still runs after 5 s"));
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(
            text(&out).1.contains(&format!(
                "keydev.cfg:4:15: error: cannot read key file {path}: not a regular file\n"
            )),
            "{out:?}"
        );
    }
    let _ = std::fs::remove_file(&fifo);
}

/// A VIP on its subnet's broadcast address (or its network address) was "configuration OK":
/// the master carried it, and the clients sent to it as a broadcast, never to the vMAC.
#[test]
fn vip_on_the_broadcast_or_network_address_of_its_prefix_was_accepted() {
    // In a namespace of its own: were the address accepted, pikemon would start there.
    let ns = common::Netns::new("cv");
    for (vip, what) in [("198.51.100.255", "broadcast"), ("198.51.100.0", "network")] {
        let p = write(
            "vip-bcast.cfg",
            &GOOD.replace("[198.51.100.10]/24", &format!("[{vip}]/24")),
        );
        for (applet_name, extra) in [("test-pikemon", None), ("pikemon", Some("-d"))] {
            let out = ns
                .cmd(applet(applet_name))
                .arg("-f")
                .arg(&p)
                .args(extra)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{applet_name}: {out:?}");
            assert!(
                text(&out).1.starts_with(&format!(
                    "{}:9:31: error: {vip} is the {what} address of /24, not a host's\n",
                    p.display()
                )),
                "{applet_name}: {out:?}"
            );
        }
    }
    // /31 has neither (RFC 3021): both of its addresses are hosts'.
    let p = write(
        "vip-31.cfg",
        &GOOD.replace("[198.51.100.10]/24", "[198.51.100.0]/31"),
    );
    let out = test_pikemon(&p, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// `control-socket` mistyped onto an existing file: the worker deleted the file and bound
/// its socket there. Now that is an error at the path's position (pikemon and test-pikemon
/// on the node, exit 2) and the file stays; a stale socket is still fine.
#[test]
fn control_socket_path_on_an_existing_file_deleted_the_file() {
    // In a namespace of its own: were the path accepted, pikemon would start there.
    let ns = common::Netns::new("cs");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pikemon-ctl{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let precious = dir.join("precious");
    std::fs::write(&precious, "keep me\n").unwrap();
    let d = dir.display();
    let line = format!(
        "    node-id 1; control-socket \"{}\"; status-file \"{d}/status\"; pid-file \"{d}/pid\";",
        precious.display()
    );
    let col = line.find('"').unwrap() + 1;
    let cfg = dir.join("ctl.cfg");
    std::fs::write(&cfg, GOOD.replace("    node-id 1;", &line)).unwrap();
    for (applet_name, extra) in [("test-pikemon", None), ("pikemon", Some("-d"))] {
        let mut cmd = ns.cmd(applet(applet_name));
        cmd.arg("-f").arg(&cfg).args(extra);
        let out = output_within_5s(cmd).unwrap_or_else(|| panic!("{applet_name} started"));
        assert_eq!(out.status.code(), Some(2), "{applet_name}: {out:?}");
        assert!(
            text(&out).1.starts_with(&format!(
                "{}:3:{col}: error: {} exists and is not a socket: pikemon would replace it; \
                 name a free path\n",
                cfg.display(),
                precious.display()
            )),
            "{applet_name}: {out:?}"
        );
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me\n");
    }
    // A stale socket (a dead instance's) is no error.
    std::fs::remove_file(&precious).unwrap();
    let stale = std::os::unix::net::UnixListener::bind(&precious).unwrap();
    drop(stale);
    let out = test_pikemon(&cfg, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `test-pikemon -r` said "configuration OK" for a host name that resolves only to loopback,
/// an address the daemon's resolver refuses: the group then went down at run time.
#[test]
fn test_pikemon_r_passed_a_name_that_resolves_only_to_loopback() {
    let line = "        ping-group GW { host localhost; }";
    let col = line.find("localhost").unwrap() + 1;
    let p = write(
        "witness-loopback.cfg",
        &GOOD.replace("        ping-group GW { host [198.51.100.1]; }", line),
    );
    assert_eq!(test_pikemon(&p, &[]).status.code(), Some(0));
    let out = test_pikemon(&p, &["-r"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        text(&out).1.starts_with(&format!(
            "{}:10:{col}: error: host name 'localhost' has no address pikemon can ping as a \
             witness: 127.0.0.1: a unicast address of another host is needed\n",
            p.display()
        )),
        "{out:?}"
    );
}

/// A ping-group host that is the virtual cluster's own VIP was "configuration OK": the
/// Master pinged itself and stayed Up whatever became of its network.
#[test]
fn ping_group_host_on_its_own_vip_was_accepted_and_witnessed_nothing() {
    let line = "        ping-group GW { host [198.51.100.10]; }";
    let col = line.find('[').unwrap() + 1;
    let p = write(
        "witness-vip.cfg",
        &GOOD.replace("        ping-group GW { host [198.51.100.1]; }", line),
    );
    let out = test_pikemon(&p, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        text(&out).1.starts_with(&format!(
            "{}:10:{col}: error: 198.51.100.10 is a VIP of this virtual cluster: the Master \
             answers it itself, so it witnesses nothing; ping a gateway or another host\n",
            p.display()
        )),
        "{out:?}"
    );
}

/// Two of pikemon's files on one path said "configuration OK", and pikemon started: its
/// status write renamed over the locked pid file (a second pikemon then started beside the
/// first), and a paths-file on the config file overwrote the config. Now both applets
/// refuse it at the later item (exit 2) and touch nothing.
#[test]
fn pid_file_equal_to_status_file_said_configuration_ok_and_pikemon_started() {
    // In a namespace of its own: were the config accepted, pikemon would start there.
    let ns = common::Netns::new("pf");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pikemon-files{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    let cfg = dir.join("same.cfg");
    let line = format!(
        "    node-id 1; pid-file \"{d}/x\"; status-file \"{d}/x\"; paths-file \"{}\";",
        cfg.display()
    );
    let body = GOOD.replace("    node-id 1;", &line);
    std::fs::write(&cfg, &body).unwrap();
    let col = |needle: &str| line.find(needle).unwrap() + needle.len() + 1;
    let f = cfg.display();
    let want = [
        format!(
            "{f}:3:{}: error: status-file \"{d}/x\" is also pid-file (at {f}:3:{}): each file \
             pikemon writes needs a path of its own",
            col("status-file "),
            col("pid-file ")
        ),
        format!(
            "{f}:3:{}: error: paths-file \"{f}\" is also the config file itself: pikemon would \
             write over a file it reads; name another path",
            col("paths-file ")
        ),
    ];
    for (applet_name, extra) in [("test-pikemon", None), ("pikemon", Some("-d"))] {
        let mut cmd = ns.cmd(applet(applet_name));
        cmd.arg("-f").arg(&cfg).args(extra);
        let out = output_within_5s(cmd).unwrap_or_else(|| panic!("{applet_name} started"));
        assert_eq!(out.status.code(), Some(2), "{applet_name}: {out:?}");
        let err = text(&out).1;
        assert!(
            err.starts_with(&format!("{}\n{}\n", want[0], want[1])),
            "{applet_name}: {err}"
        );
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), body);
        assert!(!dir.join("x").exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `-t` arguments that do not parse exited 1, the status of an expression that failed,
/// where the documented status of bad usage is 2; a `-t` argument without its last `;`
/// was an error about "end of file".
#[test]
fn t_argument_that_does_not_parse_exited_1_where_bad_usage_is_2() {
    let p = write("t-usage.cfg", GOOD);
    for (expr, code, err) in [
        (
            "show-mac {",
            2,
            "-t:1:10: error: section opened here is never closed with '}'\n",
        ),
        (
            "show-vc;",
            2,
            "-t:1:1: error: 'show-vc' needs the name of a virtual cluster: 'show-vc NAME;' \
             (try 'help;')\n",
        ),
        (
            "show-vcs LAN;",
            2,
            "-t:1:1: error: unknown test expression 'show-vcs LAN' (try 'help;')\n",
        ),
        (
            "show-vc NOPE;",
            1,
            "-t:1:1: error: no virtual-cluster 'NOPE'\n",
        ),
        ("show-mac", 0, ""),
    ] {
        let out = test_pikemon(&p, &["-t", expr]);
        assert_eq!(out.status.code(), Some(code), "{expr}: {out:?}");
        assert_eq!(text(&out).1, err, "{expr}");
    }
}

/// A config saved with a byte order mark (as some Windows editors do) was refused with
/// `1:1: error: unknown item 'version' in the top level (expected 'version' and 'pikemon')`:
/// the mark is invisible in the message, which so named the very item it expected. An
/// invisible character (a byte order mark, a zero-width space, a bidirectional override) is
/// now named where it stands, and the rest of the file is read as if it were not there.
#[test]
fn config_with_a_byte_order_mark_said_unknown_item_version() {
    let p = write("bom.cfg", &format!("\u{feff}{GOOD}"));
    let out = test_pikemon(&p, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        text(&out).1,
        format!(
            "{f}:1:1: error: a byte order mark (U+FEFF) starts the file: save it as UTF-8 \
             without one\ntest-pikemon: {f}: 1 error(s)\n",
            f = p.display()
        )
    );
    // A zero-width space inside an item name: named, with its position.
    let p = write("zwsp.cfg", &GOOD.replace("node-id", "node\u{200b}-id"));
    let out = test_pikemon(&p, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let (_, se) = text(&out);
    assert!(
        se.starts_with(&format!(
            "{}:3:9: error: invisible character U+200B",
            p.display()
        )),
        "{se}"
    );
}

/// `cmd` run with its stdout (and, with `stderr_too`, its stderr) on a pipe whose reader is
/// already gone, as `| head -1` leaves it once `head` has its line; its stderr otherwise.
fn into_a_closed_pipe(cmd: &mut Command, stderr_too: bool) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    if stderr_too {
        cmd.stderr(writer.try_clone().unwrap());
    }
    cmd.stdout(writer).output().unwrap()
}

/// `test-pikemon -t 'show-config all;' | head -3` (or `-h`, `-v`) printed "thread 'main'
/// panicked ... failed printing to stdout: Broken pipe" on the terminal once `head` was gone,
/// and exited 134 (abort); `pikemon -f BAD.cfg 2>&1 | head -1` aborted the same way instead of
/// exiting 2. Now the command-line output ends with its reader as a C tool's does (SIGPIPE,
/// as `pikemon -h`, `-v` and `-c` already did), and the daemon's start, which keeps SIGPIPE
/// ignored, still exits 2 on a config error whatever became of its stderr.
#[test]
fn output_into_a_closed_pipe_panicked_and_aborted() {
    use std::os::unix::process::ExitStatusExt;
    let good = write("pipe-good.cfg", GOOD);
    let good = good.to_str().unwrap();
    for (applet_name, args) in [
        ("test-pikemon", &["-f", good, "-t", "show-config all;"][..]),
        ("test-pikemon", &["-f", good][..]),
        ("test-pikemon", &["-h"][..]),
        ("test-pikemon", &["-v"][..]),
        ("pikemon", &["-h"][..]),
        ("pikemon", &["-v"][..]),
    ] {
        let out = into_a_closed_pipe(Command::new(applet(applet_name)).args(args), false);
        let (_, se) = text(&out);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGPIPE),
            "{applet_name} {args:?}: {:?}: {se}",
            out.status
        );
        assert!(!se.contains("panicked"), "{applet_name} {args:?}: {se}");
    }
    // Errors on a stderr that goes nowhere: test-pikemon ends as a C tool, the daemon's
    // start says nothing more and exits with its documented code.
    let bad = write("pipe-bad.cfg", &GOOD.replace("node-id 1;", "node-id x;"));
    let bad = bad.to_str().unwrap();
    let out = into_a_closed_pipe(Command::new(applet("test-pikemon")).args(["-f", bad]), true);
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
    let out = into_a_closed_pipe(Command::new(applet("pikemon")).args(["-f", bad]), true);
    assert_eq!(out.status.code(), Some(2), "{:?}", out.status);
}
