//! The scenarios that run against the image as it is today (kernel, busybox, conntrackd, nft,
//! ipvsadm), plus those of the habox daemons, each skipped with a reason while its applet is
//! still a placeholder in the image.

use crate::console::Console;
use crate::lab::{self, Lab, CLIENT, LAN_VIP, NODES, REAL_SERVERS, SERVER};
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

/// Boots the pair for `test` or fails the test with the reason.
pub fn pair(test: &str) -> Lab {
    let mut lab = Lab::new(test).unwrap_or_else(|e| panic!("{test}: {e}"));
    if let Err(e) = lab.boot_pair() {
        panic!("{test}: {e}");
    }
    lab
}

/// Four connections from the client to the virtual service `vs`: each real server (they
/// answer with their own address) must have answered at least one.
pub fn assert_every_real_server_answers(lab: &Lab, vs: &str) {
    let mut answers = Vec::new();
    for _ in 0..4 {
        let out = lab.on_client(&[
            "socat",
            "-t",
            "5",
            "-T",
            "10",
            "-",
            &format!("TCP:{vs},connect-timeout=5"),
        ]);
        answers.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    for rs in REAL_SERVERS {
        assert!(
            answers.iter().any(|a| a == rs),
            "{rs} never answered through {vs}: {answers:?}"
        );
    }
}

/// Unwraps a harness step, failing the test with its error text.
pub fn step<T>(r: Result<T, String>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn both_nodes_boot_with_interfaces_from_the_kernel_command_line() {
    let mut lab = Lab::new("boot").unwrap_or_else(|e| panic!("boot: {e}"));
    // fw-a's configuration disk is blank (formatted at boot), fw-b's holds something else
    // (left alone: the node runs on the built-in defaults, nothing is kept).
    step(lab.foreign_disk(&NODES[1]));
    step(lab.boot_pair());
    let a = lab.guest("fw-a").sh();
    assert!(
        a.transcript()
            .contains("rcS: config disk: /dev/vda was blank, formatted (ext2)"),
        "{}",
        a.transcript()
    );
    step(a.ok("grep -q ' /persist ' /proc/mounts && grep -q ' /var/lib/pikemon ' /proc/mounts"));
    let b = lab.guest("fw-b").sh();
    assert!(
        b.transcript().contains(
            "rcS: config disk: /dev/vda holds no ext2/ext4 file system and is not blank: left alone"
        ),
        "{}",
        b.transcript()
    );
    step(b.ok("! grep -q ' /persist ' /proc/mounts"));
    step(b.ok("test \"$(head -c 4 /dev/vda | od -An -tx1 | tr -d ' ')\" = a5a5a5a5"));
    let (rc, out) = step(b.run("habox-save", Duration::from_secs(30)));
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("no configuration disk is mounted"), "{out}");
    for node in &NODES {
        let sh = lab.guest(node.name).sh();
        assert_eq!(step(sh.ok("hostname")).trim(), node.name);
        let addrs = step(sh.ok("ip -4 -o addr show"));
        for (nic, addr) in [("lan0", node.lan), ("wan0", node.wan), ("hb0", node.hb)] {
            let want = format!("{nic}    inet {addr}/24");
            assert!(
                addrs.contains(&want),
                "{}: no {want:?} in\n{addrs}",
                node.name
            );
        }
        // Dual-stack LAN and WAN: the static IPv6 addresses, without DAD (never tentative).
        for (nic, addr) in [("lan0", node.lan6), ("wan0", node.wan6)] {
            let addrs6 = step(sh.ok(&format!("ip -6 -o addr show dev {nic}")));
            assert!(
                addrs6.contains(&format!("inet6 {addr}/64")) && !addrs6.contains("tentative"),
                "{}: no usable {addr} on {nic} in\n{addrs6}",
                node.name
            );
        }
        let links = step(sh.ok("ip -o link show"));
        for (n, nic) in ["lan0", "wan0", "hb0"].iter().enumerate() {
            let mac = lab::mac(node, n);
            assert!(
                links.lines().any(|l| l.contains(&format!(": {nic}:"))
                    && l.contains(&mac)
                    && l.contains("UP")),
                "{}: {nic} not up with {mac}:\n{links}",
                node.name
            );
        }
        // The shipped configs were localised for this node.
        let cfg = step(sh.ok("grep node-id /etc/habox/pikemon.cfg"));
        assert!(cfg.contains(&format!("node-id {};", node.id)), "{cfg}");
        let sync = step(sh.ok("grep IPv4_Destination_Address /etc/habox/conntrackd.conf"));
        let peer = NODES
            .iter()
            .find(|p| p.id != node.id)
            .map(|p| p.hb)
            .unwrap_or_default();
        assert!(sync.contains(peer), "{}: {sync}", node.name);
        let sysctl = step(sh.ok(
            "sysctl -n net.netfilter.nf_conntrack_tcp_loose net.ipv4.ip_forward \
             net.ipv6.conf.all.forwarding",
        ));
        assert_eq!(
            sysctl.split_whitespace().collect::<Vec<_>>(),
            ["0", "1", "1"]
        );
        // Forwarding came on after the ruleset (the lab checks the console line at every boot).
        let tables = step(sh.ok("nft list tables"));
        assert!(tables.contains("table inet filter"), "{tables}");
    }
    a_broken_ruleset_leaves_forwarding_off_and_says_why(lab.guest("fw-b").sh());
    a_sysctl_that_does_not_hold_is_named_not_hidden(lab.guest("fw-a").sh());
    bad_kernel_command_line_values_are_refused_with_a_clear_error(lab.guest("fw-b").sh());
    // Both nodes replaced the image's key with this run's, handed over by fw_cfg, root-only.
    let key = lab
        .key
        .clone()
        .unwrap_or_else(|| panic!("the lab has no key"));
    let host = std::process::Command::new("sha256sum")
        .arg(&key)
        .output()
        .unwrap_or_else(|e| panic!("sha256sum: {e}"));
    let want = String::from_utf8_lossy(&host.stdout);
    let want = want.split_whitespace().next().unwrap_or("?").to_string();
    for node in &NODES {
        let sh = lab.guest(node.name).sh();
        assert!(
            sh.transcript()
                .contains("rcS: HMAC key: from the host (fw_cfg opt/habox/pike.key)"),
            "{}: no fw_cfg key at boot",
            node.name
        );
        let got = step(sh.ok("sha256sum /etc/habox/pike.key; stat -c '%a %u' /etc/habox/pike.key"));
        assert!(
            got.starts_with(&want),
            "{}: not the run's key: {got}",
            node.name
        );
        assert!(got.trim_end().ends_with("\n600 0"), "{}: {got}", node.name);
        assert!(
            !step(sh.ok("cat /proc/cmdline")).contains("key"),
            "{}: a key on the kernel command line",
            node.name
        );
    }
}

/// Regression: with a ruleset that failed to load the node forwarded everything (forwarding was
/// on before `nft -f`). `habox-firewall FILE` (rcS's firewall step) on a running node: a broken
/// ruleset turns forwarding off and prints nft's reason; the shipped one turns it on again.
fn a_broken_ruleset_leaves_forwarding_off_and_says_why(sh: &mut Console) {
    const FORWARDING: &str =
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding";
    step(sh.ok(
        "printf 'table inet filter {\\n\\tchain forward {\\n\\t\\tno-such-statement\\n\\t}\\n}\\n' > /tmp/broken.nft",
    ));
    let (rc, out) = step(sh.run("habox-firewall /tmp/broken.nft", Duration::from_secs(30)));
    assert_eq!(rc, 1, "a broken ruleset was accepted:\n{out}");
    assert!(
        out.contains(
            "nft -f /tmp/broken.nft failed: the firewall is not loaded, forwarding stays off"
        ) && out.contains("habox-firewall: nft: ")
            && out.contains("rror"),
        "{out}"
    );
    let fwd = step(sh.ok(FORWARDING));
    assert_eq!(
        fwd.split_whitespace().collect::<Vec<_>>(),
        ["0", "0"],
        "{fwd}"
    );
    let (rc, out) = step(sh.run("habox-firewall /tmp/no-such.nft", Duration::from_secs(30)));
    assert!(rc == 1 && out.contains("cannot be read"), "{out}");
    let out = step(sh.ok("habox-firewall"));
    assert!(
        out.contains("/etc/nftables.conf loaded, forwarding on"),
        "{out}"
    );
    let fwd = step(sh.ok(FORWARDING));
    assert_eq!(
        fwd.split_whitespace().collect::<Vec<_>>(),
        ["1", "1"],
        "{fwd}"
    );
}

/// Regression: busybox `sysctl -p` exits 0 when keys fail and rcS sent its stderr to /dev/null,
/// so a sysctl the appliance needs could be missing without a word. `habox-sysctl FILE` (rcS's
/// sysctl step) reads each value back and names every key that does not hold.
fn a_sysctl_that_does_not_hold_is_named_not_hidden(sh: &mut Console) {
    step(sh.ok(
        "printf 'net.ipv4.conf.lan0.arp_ignore = 1\\nnet.ipv4.conf.nosuch0.arp_announce = 2\\n         net.ipv4.tcp_syn_retries = 200\\n' > /tmp/bad-sysctl.conf",
    ));
    let (rc, out) = step(sh.run("habox-sysctl /tmp/bad-sysctl.conf", Duration::from_secs(30)));
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("habox-sysctl: net.ipv4.conf.nosuch0.arp_announce: no such key")
            && out.contains("habox-sysctl: net.ipv4.tcp_syn_retries is ")
            && out.contains(", not 200: not applied")
            && !out.contains("arp_ignore"),
        "{out}"
    );
    step(sh.ok("habox-sysctl"));
}

/// Regression: rcS took habox.* values as they came: `habox.peer=198.18.0.1/24` broke its sed
/// edits with an obscure error, `habox.name=$(cmd)` ended up in PS1 and ran at every prompt.
/// `habox-cmdline FILE` (rcS's parser) passes on the values that fit and names the others.
fn bad_kernel_command_line_values_are_refused_with_a_clear_error(sh: &mut Console) {
    assert!(
        !sh.transcript().contains("rcS: kernel command line:"),
        "the lab's command line was refused:\n{}",
        sh.transcript()
    );
    let out = step(sh.ok("habox-cmdline"));
    for want in ["NODE=2\n", "NAME=fw-b\n", "PEER=198.18.0.1\n", "IF=hb0,"] {
        assert!(out.contains(want), "{want:?} not in\n{out}");
    }
    step(sh.ok(
        "printf '%s\\n' 'quiet habox.node=2x habox.name=$(reboot) habox.peer=198.18.0.1/24 \
         habox.if=lan0;reboot' > /tmp/bad-cmdline",
    ));
    let (rc, out) = step(sh.run("habox-cmdline /tmp/bad-cmdline", Duration::from_secs(30)));
    assert_eq!(rc, 1, "{out}");
    for want in [
        "habox-cmdline: habox.node=2x: not a node number (1, 2, ...): node 1 is used",
        "habox-cmdline: habox.name=$(reboot): not a host name",
        "habox-cmdline: habox.peer=198.18.0.1/24: not an IPv4 address",
        "habox-cmdline: habox.if=lan0;reboot: unexpected characters",
    ] {
        assert!(out.contains(want), "{want:?} not in\n{out}");
    }
    for never in ["NODE=", "NAME=", "PEER=", "IF="] {
        assert!(!out.contains(never), "{never} passed on:\n{out}");
    }
}

/// `sh -c SCRIPT` on the host; its stdout (the test fails with stderr when it fails).
fn host_sh(script: &str) -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", script])
        .output()
        .unwrap_or_else(|e| panic!("sh -c {script}: {e}"));
    assert!(
        out.status.success(),
        "sh -c {script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_image_holds_the_build_key_readable_by_root_only() {
    use std::os::unix::fs::PermissionsExt;
    let image = lab::top().join("build/appliance/initramfs.img");
    let mode = std::fs::metadata(&image)
        .unwrap_or_else(|e| panic!("{}: {e} (make image)", image.display()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{} is not root-only", image.display());
    let listing = host_sh(&format!(
        "zcat {} | cpio -itv --quiet etc/habox/pike.key",
        image.display()
    ));
    assert!(listing.starts_with("-rw------- "), "{listing}");
    let inside = host_sh(&format!(
        "zcat {} | cpio -i --quiet --to-stdout etc/habox/pike.key",
        image.display()
    ));
    let built = std::fs::read_to_string(lab::top().join("build/appliance/pike.key"))
        .unwrap_or_else(|e| panic!("build/appliance/pike.key: {e}"));
    assert!(inside.trim_end().len() >= 16, "a short key in the image");
    assert_eq!(inside, built, "the image's key is not the build's");
    // The repository carries no key for the overlay to copy.
    assert!(!lab::top().join("rootfs/etc/habox/pike.key").exists());
}

#[test]
fn client_server_and_nodes_reach_each_other() {
    let mut lab = pair("reach");
    for node in &NODES {
        let out = lab.on_client(&["ping", "-c", "1", "-W", "3", node.lan]);
        assert!(
            out.status.success(),
            "client -> {} {}: {out:?}",
            node.name,
            node.lan
        );
        let out = lab.on_server(&["ping", "-c", "1", "-W", "3", node.wan]);
        assert!(
            out.status.success(),
            "server -> {} {}: {out:?}",
            node.name,
            node.wan
        );
    }
    let sh = lab.guest("fw-a").sh();
    step(sh.ok(&format!("ping -c 1 -W 3 {}", NODES[1].hb)));
    step(sh.ok(&format!("ping -c 1 -W 3 {CLIENT}")));
    step(sh.ok(&format!("ping -c 1 -W 3 {SERVER}")));
}

/// A TCP stream from the client to the server through fw-a: the server writes what it gets to
/// a file; the client's socat reads from a pipe the test writes to.
pub struct Stream {
    file: std::path::PathBuf,
    port: u16,
}

impl Stream {
    pub fn open(lab: &mut Lab, port: u16) -> (Stream, std::process::ChildStdin) {
        Stream::open_to(lab, SERVER, port)
    }

    /// The same stream to `server` (an IPv4 or IPv6 address of the server namespace).
    pub fn open_to(lab: &mut Lab, server: &str, port: u16) -> (Stream, std::process::ChildStdin) {
        let v6 = server.contains(':');
        let file =
            std::env::temp_dir().join(format!("habox-qemu-{}-{port}.out", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let listen = if v6 {
            format!("TCP6-LISTEN:{port},reuseaddr")
        } else {
            format!("TCP-LISTEN:{port},reuseaddr")
        };
        let sink = format!("CREATE:{}", file.display());
        let server_ns = lab.server.clone();
        step(
            lab.spawn(&server_ns, &["socat", "-u", &listen, &sink], Stdio::null())
                .map(|_| ()),
        );
        // The listener needs a moment; connect attempts are retried by socat's `retry`.
        let target = if v6 {
            format!("TCP6:[{server}]:{port},retry=20,interval=0.5")
        } else {
            format!("TCP:{server}:{port},retry=20,interval=0.5")
        };
        let client = lab.client.clone();
        let child = step(lab.spawn(&client, &["socat", "-u", "STDIN", &target], Stdio::piped()));
        let stdin = child.stdin.take().unwrap_or_else(|| panic!("socat stdin"));
        (Stream { file, port }, stdin)
    }

    pub fn received(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap_or_default()
    }

    pub fn wait_for(&self, text: &str, timeout: Duration) -> bool {
        lab::poll(timeout, || self.received().contains(text))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

pub fn send(stdin: &mut std::process::ChildStdin, text: &str) {
    step(
        stdin
            .write_all(text.as_bytes())
            .and_then(|_| stdin.flush())
            .map_err(|e| e.to_string()),
    );
}

#[test]
fn conntrackd_runs_on_both_nodes_and_syncs_over_heartbeat() {
    let mut lab = pair("ctsync");
    step(lab.route_via(NODES[0].lan, NODES[0].wan));
    for node in &NODES {
        step(lab.guest(node.name).sh().ok("pidof conntrackd"));
    }
    let (stream, mut input) = Stream::open(&mut lab, 5001);
    send(&mut input, "hello\n");
    assert!(
        stream.wait_for("hello", Duration::from_secs(20)),
        "no data through fw-a: {:?}",
        stream.received()
    );
    let flow = format!("dport={}", stream.port);
    // fw-a tracks the flow in the kernel and in conntrackd's internal cache ...
    let a = lab.guest("fw-a").sh();
    let kernel = step(a.until("conntrack -L -p tcp", &flow, Duration::from_secs(10)));
    assert!(
        kernel.contains("ESTABLISHED") && kernel.contains(CLIENT),
        "{kernel}"
    );
    step(a.until("conntrackd -i", &flow, Duration::from_secs(10)));
    // ... and fw-b received it over hb0 into its external cache, not into its kernel table.
    let b = lab.guest("fw-b").sh();
    let external = step(b.until("conntrackd -e", &flow, Duration::from_secs(15)));
    assert!(external.contains(&format!("src={CLIENT}")), "{external}");
    let (_, b_kernel) = step(b.run("conntrack -L -p tcp", Duration::from_secs(10)));
    assert!(
        !b_kernel.contains(&flow),
        "fw-b kernel table already has the flow:\n{b_kernel}"
    );
}

#[test]
fn stateful_firewall_drops_a_midstream_packet_without_conntrack_state() {
    let mut lab = pair("stateful");
    step(lab.route_via(NODES[0].lan, NODES[0].wan));
    let (stream, mut input) = Stream::open(&mut lab, 5002);
    send(&mut input, "before\n");
    assert!(
        stream.wait_for("before", Duration::from_secs(20)),
        "stream did not pass fw-a"
    );
    let a = lab.guest("fw-a").sh();
    let count = |sh: &mut crate::console::Console| -> u64 {
        let out = step(sh.ok("nft list counter inet filter forward_dropped"));
        out.split_whitespace()
            .skip_while(|w| *w != "packets")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no packet count in {out}"))
    };
    let dropped_before = count(a);
    // Forget the connection on fw-a, as a node that never saw it would (no conntrackd sync).
    step(a.ok("conntrack -D -p tcp --dport 5002"));
    send(&mut input, "after\n");
    let passed = stream.wait_for("after", Duration::from_secs(6));
    let dropped_after = count(lab.guest("fw-a").sh());
    assert!(
        !passed,
        "a mid-stream segment without state was forwarded: {:?}",
        stream.received()
    );
    assert!(
        dropped_after > dropped_before,
        "forward_dropped did not count the segment ({dropped_before} -> {dropped_after})"
    );
    // Control: a new connection (SYN first) is still forwarded.
    let (fresh, mut input2) = Stream::open(&mut lab, 5003);
    send(&mut input2, "fresh\n");
    assert!(
        fresh.wait_for("fresh", Duration::from_secs(20)),
        "a new connection was not forwarded"
    );
}

#[test]
fn ipvs_typed_on_the_console_balances_to_real_servers() {
    let mut lab = pair("ipvs");
    step(lab.route_via(NODES[0].lan, NODES[0].wan));
    // Two real servers in the server namespace, each answering its own address.
    for rs in REAL_SERVERS {
        let listen = format!("TCP-LISTEN:80,bind={rs},reuseaddr,fork");
        let reply = format!("SYSTEM:echo {rs}");
        let server = lab.server.clone();
        step(
            lab.spawn(&server, &["socat", &listen, &reply], Stdio::null())
                .map(|_| ()),
        );
    }
    // The administrator takes the service over by hand: ldirectord (which owns this virtual
    // service) and pikemon (which owns the VIP) are stopped on both nodes first.
    for node in &NODES {
        let sh = lab.guest(node.name).sh();
        step(sh.ok("ldirectord /etc/habox/ldirectord.cf stop"));
        step(sh.ok("kill $(cat /run/pikemon.pid)"));
        step(sh.until(
            "ipvsadm -Ln; ip -o link show; test -e /run/pikemon.pid || echo pikemon-gone",
            "pikemon-gone",
            Duration::from_secs(20),
        ));
    }
    let vs = format!("{LAN_VIP}:80");
    let a = lab.guest("fw-a").sh();
    step(a.ok(&format!("ip addr add {LAN_VIP}/32 dev lan0")));
    step(a.ok(&format!("ipvsadm -A -t {vs} -s rr")));
    for rs in REAL_SERVERS {
        step(a.ok(&format!("ipvsadm -a -t {vs} -r {rs}:80 -m")));
    }
    let table = step(a.ok("ipvsadm -Ln"));
    assert!(table.contains(&format!("TCP  {vs} rr")), "{table}");
    for rs in REAL_SERVERS {
        assert!(
            table.contains(&format!("-> {rs}:80")) && table.contains("Masq"),
            "{table}"
        );
    }
    assert_every_real_server_answers(&lab, &vs);
    // The connections went through IPVS NAT to both real servers.
    let conns = step(lab.guest("fw-a").sh().ok("ipvsadm -Lnc"));
    for rs in REAL_SERVERS {
        assert!(conns.contains(&format!("{rs}:80")), "{conns}");
    }
}
