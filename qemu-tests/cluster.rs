//! Scenarios of the habox daemons on the pair: pikemon's election and failovers, conntrackd
//! state surviving a failover (pikemon commits conntrackd's external cache itself), ldirectord,
//! ifcheckd.

use crate::console::Console;
use crate::lab::{self, note, Lab, LAN_VIP, LAN_VIP6, NODES, REAL_SERVERS, WAN_VIP, WAN_VIP6};
use crate::scenarios::{assert_every_real_server_answers, pair, send, step, Stream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const ELECTION: Duration = Duration::from_secs(30);
pub const FAILOVER: Duration = Duration::from_secs(20);
/// The virtual MAC of the LAN VIP: 02:<IPv4 bytes>:00 (DESIGN.md §3).
const LAN_VMAC: &str = "02:c6:33:64:01:00";

/// Whether this guest has the LAN VIP on an interface that is up (the master's macvlan).
pub fn holds_vip(sh: &mut Console) -> bool {
    step(lab::holds_vip(sh))
}

/// The names of the running guests that hold the VIP.
pub fn masters(lab: &mut Lab) -> Vec<&'static str> {
    let mut found = Vec::new();
    for g in lab.guests.iter_mut().filter(|g| g.console.is_some()) {
        if holds_vip(g.sh()) {
            found.push(g.node.name);
        }
    }
    found
}

/// Waits until exactly one guest (and, when given, that one) holds the VIP.
pub fn one_master(lab: &mut Lab, want: Option<&str>, timeout: Duration) -> &'static str {
    let deadline = Instant::now() + timeout;
    loop {
        let m = masters(lab);
        if let [one] = m.as_slice() {
            if want.is_none_or(|w| w == *one) {
                return one;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no single master{} within {timeout:?}: {m:?}",
            want.map(|w| format!(" {w}")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub fn other(name: &str) -> &'static str {
    NODES
        .iter()
        .map(|n| n.name)
        .find(|n| *n != name)
        .unwrap_or("fw-b")
}

/// The client reaches the VIP (a bounded number of pings).
fn client_reaches_vip(lab: &Lab, timeout: Duration) -> bool {
    lab::poll(timeout, || {
        lab.on_client(&["ping", "-c", "1", "-W", "1", LAN_VIP])
            .status
            .success()
    })
}

/// Boots the pair with client and server routed through the VIPs and waits for the election.
pub fn cluster(test: &str) -> (Lab, &'static str) {
    let mut lab = pair(test);
    step(lab.route_via(LAN_VIP, WAN_VIP));
    let master = one_master(&mut lab, None, ELECTION);
    note(&format!("{test}: {master} is master"));
    (lab, master)
}

#[test]
fn pair_elects_one_master_and_the_client_sees_the_virtual_mac() {
    let (lab, _) = cluster("election");
    assert!(
        client_reaches_vip(&lab, Duration::from_secs(10)),
        "client cannot ping {LAN_VIP}"
    );
    let neigh = lab.on_client(&["ip", "neigh", "show", LAN_VIP]);
    let neigh = String::from_utf8_lossy(&neigh.stdout);
    assert!(
        neigh.contains(LAN_VMAC),
        "client's neighbour entry of the VIP: {neigh}"
    );
}

#[test]
fn a_node_without_a_key_says_so_on_the_console_and_starts_no_pikemon() {
    let mut lab = Lab::new("nokey").unwrap_or_else(|e| panic!("nokey: {e}"));
    step(lab.without_a_key());
    step(lab.boot_pair());
    for node in &NODES {
        let sh = lab.guest(node.name).sh();
        let boot = sh.transcript();
        assert!(
            boot.contains("rcS: NO HMAC KEY: /etc/habox/pike.key is missing or empty"),
            "{}: the console does not say the key is missing:\n{boot}",
            node.name
        );
        assert!(!boot.contains("pikemon started"), "{}: {boot}", node.name);
        // Nothing of pikemon runs, and the other daemons are up as usual.
        let ps = step(sh.ok("ps -o args"));
        assert!(
            !ps.contains("pikemon"),
            "{}: pikemon runs:\n{ps}",
            node.name
        );
        step(sh.ok("pidof conntrackd"));
        assert!(
            !holds_vip(sh),
            "{}: holds the VIP without pikemon",
            node.name
        );
    }
}

#[test]
fn drop_and_take_typed_on_the_console_move_the_role() {
    let (mut lab, master) = cluster("droptake");
    let backup = other(master);
    step(
        lab.guest(master)
            .sh()
            .ok("pikemon -f /etc/habox/pikemon.cfg -c drop 1"),
    );
    one_master(&mut lab, Some(backup), FAILOVER);
    assert!(
        client_reaches_vip(&lab, Duration::from_secs(10)),
        "VIP unreachable after drop"
    );
    step(
        lab.guest(master)
            .sh()
            .ok("pikemon -f /etc/habox/pikemon.cfg -c take 1"),
    );
    one_master(&mut lab, Some(master), FAILOVER);
    assert!(
        client_reaches_vip(&lab, Duration::from_secs(10)),
        "VIP unreachable after take"
    );
}

#[test]
fn killing_the_master_fails_over_to_the_backup() {
    let (mut lab, master) = cluster("hardfail");
    lab.kill_guest(master);
    let start = Instant::now();
    one_master(&mut lab, Some(other(master)), FAILOVER);
    assert!(
        client_reaches_vip(&lab, FAILOVER),
        "client's pings did not resume"
    );
    note(&format!(
        "hardfail: client reaches the VIP again after {:.1}s",
        start.elapsed().as_secs_f64()
    ));
}

/// The client reaches the IPv6 VIP (a bounded number of pings).
fn client_reaches_vip6(lab: &Lab, timeout: Duration) -> bool {
    lab::poll(timeout, || {
        lab.on_client(&["ping", "-6", "-c", "1", "-W", "1", LAN_VIP6])
            .status
            .success()
    })
}

/// Whether this guest has the IPv6 VIP on an interface that is up.
fn holds_vip6(sh: &mut Console) -> bool {
    step(lab::holds_vip6(sh))
}

#[test]
fn ipv6_vip_fails_over_when_the_master_is_killed() {
    let (mut lab, master) = cluster("v6fail");
    assert!(
        client_reaches_vip6(&lab, FAILOVER),
        "client cannot reach the IPv6 VIP on {master}"
    );
    let neigh = lab.on_client(&["ip", "-6", "neigh", "show", LAN_VIP6]);
    let neigh = String::from_utf8_lossy(&neigh.stdout).to_string();
    assert!(neigh.contains(&format!("lladdr {LAN_VMAC}")), "{neigh}");
    assert!(holds_vip6(lab.guest(master).sh()));
    lab.kill_guest(master);
    let start = Instant::now();
    let new = one_master(&mut lab, Some(other(master)), FAILOVER);
    assert!(holds_vip6(lab.guest(new).sh()), "{new} has no IPv6 VIP");
    assert!(
        client_reaches_vip6(&lab, FAILOVER),
        "client's IPv6 pings did not resume"
    );
    note(&format!(
        "v6fail: client reaches the IPv6 VIP on {new} again after {:.1}s",
        start.elapsed().as_secs_f64()
    ));
}

#[test]
fn sigkilled_pikemon_on_the_master_is_taken_over_through_the_death_watch() {
    let (mut lab, master) = cluster("deathwatch");
    let backup = other(master);
    // Both supervisors hold their death-watch connections over hb0 (rcS filled in the
    // addresses; the firewall lets hb0 in). A connect is given up and started again after
    // 2 s, so this takes seconds; the wait is long for TCG beside other tests, and the time
    // it took is printed. On a timeout the last death-watch lines show why.
    let start = Instant::now();
    for node in [master, backup] {
        step(lab.guest(node).sh().until(
            "logread | grep -q 'death-watch: connected to' && echo watching || \
             { logread | grep -e 'death-watch' -e 'pikemon' | tail -n 6; }",
            "watching",
            Duration::from_secs(40),
        ));
    }
    note(&format!(
        "deathwatch: both connected {:.1}s after the election",
        start.elapsed().as_secs_f64()
    ));
    // The whole daemon dies at once (supervisor and worker; the OOM killer or a crash).
    step(lab.guest(master).sh().ok(
        "kill -9 $(ps -o pid,args | awk '/pikemon: (supervisor|worker)/ && !/awk/ { print $1 }')",
    ));
    // The dead daemon's macvlan stays up on the old master and its VIPs until their lease
    // runs out (its kernel does not answer ARP for them meanwhile): wait for the backup's.
    assert!(
        lab::poll(FAILOVER, || holds_vip(lab.guest(backup).sh())),
        "{backup} never took the VIP"
    );
    // The last transition to Master (the takeover's later lines, the second conntrackd
    // commit among them, follow it).
    let log = step(lab.guest(backup).sh().until(
        "logread | grep 'vc FW: Probing => Master' | tail -n 1",
        "(peer's daemon exited, probe unanswered)",
        Duration::from_secs(10),
    ));
    assert!(!log.contains("(peer silent, probe unanswered)"), "{log}");
    assert!(
        client_reaches_vip(&lab, FAILOVER),
        "client's pings did not resume"
    );
}

/// The lease of a Master's VIPs on the image's configuration (`dead-interval 1s`): 1 s rounded
/// up, plus one, at least 2 s (`takeover::vip_lease`).
const VIP_LEASE_S: f64 = 2.0;
/// Every VIP of the image's configuration (lan0 and wan0, IPv4 and IPv6).
const VIPS: [&str; 4] = [LAN_VIP, WAN_VIP, LAN_VIP6, WAN_VIP6];

/// The lines of `ip -o addr show` on this guest that carry one of the VIPs.
fn vip_lines(sh: &mut Console) -> Vec<String> {
    let out = step(sh.ok("ip -o addr show"));
    out.lines()
        .filter(|l| {
            VIPS.iter()
                .any(|v| l.contains(&format!(" inet {v}/")) || l.contains(&format!(" inet6 {v}/")))
        })
        .map(str::to_string)
        .collect()
}

/// The `valid_lft` of an `ip -o addr` line in seconds (None: `forever` or none printed).
fn valid_lft(line: &str) -> Option<u32> {
    line.split("valid_lft ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .strip_suffix("sec")?
        .parse()
        .ok()
}

/// pikemon gives a Master's VIPs a kernel lease its worker renews. On two real kernels: the
/// Master's VIPs show a finite `valid_lft` (`dynamic`) for several leases in a row (renewed),
/// the Backup's kept IPv4 VIPs (`nomadic no`) show `forever`. Then every pikemon process of
/// the Master (supervisor, worker, acr) is SIGKILLed: before the lease, its VIPs stayed on its
/// macvlan for good beside the new Master's. Now the kernel deletes them within the lease
/// (measured in the guest, from the kill to the last VIP gone), the peer takes over and the
/// client reaches the VIP through it. pikemon started again on the old node as rcS starts it
/// comes back as Backup (`preemptive no` in the image) and leaves the VIP where it is.
#[test]
fn master_killed_whole_kept_its_vips_beside_the_new_master() {
    let (mut lab, master) = cluster("leasekill");
    let backup = other(master);
    // Steady state: the Master's VIPs (IPv4 and IPv6) are leased and renewed over three
    // leases; the Backup keeps its IPv4 VIPs, down and without a lease.
    let start = Instant::now();
    let mut samples = 0;
    while start.elapsed().as_secs_f64() < 3.0 * VIP_LEASE_S || samples < 3 {
        let lines = vip_lines(lab.guest(master).sh());
        assert_eq!(lines.len(), VIPS.len(), "{master}: {lines:#?}");
        for l in &lines {
            let lft = valid_lft(l);
            assert!(
                l.contains(" dynamic ") && lft.is_some_and(|s| f64::from(s) <= VIP_LEASE_S),
                "{master}: a VIP without a lease of at most {VIP_LEASE_S} s after {:.1} s: {l}",
                start.elapsed().as_secs_f64()
            );
        }
        samples += 1;
    }
    note(&format!(
        "leasekill: {master}'s VIPs leased over {:.1} s ({samples} samples)",
        start.elapsed().as_secs_f64()
    ));
    let kept = vip_lines(lab.guest(backup).sh());
    for v in [LAN_VIP, WAN_VIP] {
        let l = kept
            .iter()
            .find(|l| l.contains(&format!(" inet {v}/")))
            .unwrap_or_else(|| panic!("{backup} does not keep {v}: {kept:#?}"));
        assert!(
            l.contains("valid_lft forever") && !l.contains(" dynamic "),
            "{backup}: {l}"
        );
    }
    assert!(!holds_vip(lab.guest(backup).sh()), "{backup} holds the VIP");
    // Every pikemon process of the Master at once (those bench_failover kills); the guest times the VIPs' going itself
    // (/proc/uptime, a bounded poll every 50 ms).
    let sh = lab.guest(master).sh();
    let ps = step(sh.ok("ps -o pid,args | grep 'pikemon: ' | grep -v grep"));
    // (No ACR here: the image's ping-group hosts are addresses, there is no name to resolve.)
    for title in ["pikemon: supervisor", "pikemon: worker"] {
        assert!(ps.contains(title), "{master}: no {title:?} in\n{ps}");
    }
    let vip_re = VIPS.map(|v| v.replace('.', "\\.")).join("|");
    let (_, out) = step(sh.run(
        &format!(
            "P=$(ps -o pid,args | awk '/pikemon: (supervisor|worker|acr)/ && !/awk/ {{ print $1 }}'); \
             T0=$(cut -d' ' -f1 /proc/uptime); kill -9 $P; i=0; \
             while ip -o addr show | grep -qE ' ({vip_re})/' && [ $i -lt 200 ]; do \
             usleep 50000; i=$((i+1)); done; \
             echo \"killed $P uptime $T0 gone $(cut -d' ' -f1 /proc/uptime)\""
        ),
        Duration::from_secs(90),
    ));
    let field = |name: &str| -> f64 {
        out.split(&format!(" {name} "))
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{master}: no {name} in {out}"))
    };
    let gone = field("gone") - field("uptime");
    note(&format!(
        "leasekill: {master}'s VIPs gone {gone:.2} s after the kill (lease {VIP_LEASE_S} s)"
    ));
    let sh = lab.guest(master).sh();
    let left = vip_lines(sh);
    assert!(left.is_empty(), "{master} kept its VIPs: {left:#?}");
    assert!(
        gone <= VIP_LEASE_S + 2.0,
        "{master}'s VIPs went {gone:.2} s after the kill (lease {VIP_LEASE_S} s)"
    );
    let ps = step(sh.ok("ps -o args"));
    assert!(
        !ps.contains("pikemon: "),
        "{master}: pikemon survived:\n{ps}"
    );
    // The peer is the one Master, its own VIPs leased too, and the client reaches it.
    one_master(&mut lab, Some(backup), FAILOVER);
    let new = vip_lines(lab.guest(backup).sh());
    assert_eq!(new.len(), VIPS.len(), "{backup}: {new:#?}");
    assert!(new.iter().all(|l| l.contains(" dynamic ")), "{new:#?}");
    assert!(
        client_reaches_vip(&lab, FAILOVER),
        "client cannot reach {LAN_VIP} through {backup}"
    );
    let neigh = lab.on_client(&["ip", "neigh", "show", LAN_VIP]);
    let neigh = String::from_utf8_lossy(&neigh.stdout);
    assert!(neigh.contains(LAN_VMAC), "{neigh}");
    // pikemon again on the old node, as rcS starts it: Backup, the VIP stays on the peer
    // (`preemptive no`), and the old node's kept VIPs are the Backup's (no lease).
    let sh = lab.guest(master).sh();
    step(sh.ok(
        "pikemon -f /etc/habox/pikemon.cfg </dev/null >/run/habox/pikemon.start 2>&1 \
         || { cat /run/habox/pikemon.start; false; }",
    ));
    step(sh.until(
        "pikemon -f /etc/habox/pikemon.cfg -c status",
        "vc FW id 1 role Backup",
        Duration::from_secs(30),
    ));
    for _ in 0..5 {
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            masters(&mut lab),
            [backup],
            "the restarted {master} took the VIP back"
        );
    }
    let status = step(
        lab.guest(master)
            .sh()
            .ok("pikemon -f /etc/habox/pikemon.cfg -c status"),
    );
    assert!(status.contains("vc FW id 1 role Backup"), "{status}");
    // Not even for a moment: its status file says Master and its macvlan is still up, but
    // the addresses went with the lease, so there is no role to resume.
    let log = step(
        lab.guest(master)
            .sh()
            .ok("logread | grep 'vc FW' | tail -n 12"),
    );
    note(&format!("leasekill: {master} restarted:\n{log}"));
    for never in [
        "resumed from status file",
        "the peer took over while we were away",
    ] {
        assert!(
            !log.contains(never),
            "{master} resumed Master beside {backup}:\n{log}"
        );
    }
    let kept = vip_lines(lab.guest(master).sh());
    assert!(
        kept.iter().all(|l| l.contains("valid_lft forever")),
        "{master}: {kept:#?}"
    );
    assert!(
        client_reaches_vip(&lab, Duration::from_secs(10)),
        "client cannot reach {LAN_VIP} after {master}'s pikemon came back"
    );
}

#[test]
fn heartbeat_cable_cut_keeps_exactly_one_master() {
    let (mut lab, master) = cluster("hbcut");
    step(lab.cable(&NODES[0], "hb", false));
    // HELLOs still flow over the controlled interfaces: no failover, no second master.
    for _ in 0..5 {
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            masters(&mut lab),
            [master],
            "heart-beat cut changed the masters"
        );
    }
    assert!(
        client_reaches_vip(&lab, Duration::from_secs(5)),
        "VIP unreachable with hb cut"
    );
    step(lab.cable(&NODES[0], "hb", true));
    one_master(&mut lab, Some(master), Duration::from_secs(5));
}

#[test]
fn lan_cable_cut_on_the_master_fails_over() {
    let (mut lab, master) = cluster("lancut");
    let node = NODES.iter().find(|n| n.name == master).unwrap_or(&NODES[0]);
    step(lab.cable(node, "lan", false));
    let backup = other(master);
    let deadline = Instant::now() + FAILOVER;
    while !holds_vip(lab.guest(backup).sh()) {
        assert!(
            Instant::now() < deadline,
            "{backup} did not take over after {master}'s LAN cut"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        client_reaches_vip(&lab, FAILOVER),
        "client cannot reach the VIP through {backup}"
    );
}

/// An established stream through the master; the master dies; returns what the server got after
/// `after` was sent through the new master, and the new master's `pikemon -c status`.
fn stream_across_failover(test: &str, stop_conntrackd: bool) -> (String, bool, String) {
    stream_to_across_failover(test, lab::SERVER, stop_conntrackd)
}

/// `stream_across_failover` to `server` (IPv4 or IPv6, through the VIPs of its family).
fn stream_to_across_failover(
    test: &str,
    server: &str,
    stop_conntrackd: bool,
) -> (String, bool, String) {
    let (mut lab, master) = cluster(test);
    step(lab.route6_via_vips());
    if stop_conntrackd {
        for node in &NODES {
            step(lab.guest(node.name).sh().ok("conntrackd -k"));
        }
    }
    let (stream, mut input) = Stream::open_to(&mut lab, server, 5010);
    send(&mut input, "before-failover\n");
    assert!(
        stream.wait_for("before-failover", Duration::from_secs(20)),
        "stream did not start"
    );
    // Give the sync a moment to carry the established state to the backup.
    std::thread::sleep(Duration::from_secs(2));
    lab.kill_guest(master);
    one_master(&mut lab, Some(other(master)), FAILOVER);
    send(&mut input, "after-failover\n");
    let arrived = stream.wait_for("after-failover", Duration::from_secs(15));
    let status = step(
        lab.guest(other(master))
            .sh()
            .ok("pikemon -f /etc/habox/pikemon.cfg -c status"),
    );
    (stream.received(), arrived, status)
}

#[test]
fn established_tcp_stream_survives_master_failure() {
    let (got, arrived, status) = stream_across_failover("ctfail", false);
    assert!(arrived, "stream broke across the failover: {got:?}");
    assert_eq!(
        got, "before-failover\nafter-failover\n",
        "bytes lost or changed"
    );
    // The appliance's pikemon committed conntrackd's cache itself (no conntrack-ra hook).
    assert!(
        status.contains("conntrackd /var/run/conntrackd.ctl reachable yes")
            && status.contains(" ms ok "),
        "{status}"
    );
}

/// The same over IPv6: the client's TCP stream to the server's IPv6 address through the
/// IPv6 VIPs survives the master's death byte for byte (conntrackd synced its state).
#[test]
fn established_ipv6_tcp_stream_survives_master_failure() {
    let (got, arrived, _) = stream_to_across_failover("ct6fail", lab::SERVER6, false);
    assert!(arrived, "IPv6 stream broke across the failover: {got:?}");
    assert_eq!(
        got, "before-failover\nafter-failover\n",
        "bytes lost or changed"
    );
}

/// The control of the IPv6 stream: without conntrackd it breaks (strict TCP tracking).
#[test]
fn without_conntrackd_the_ipv6_stream_breaks_on_failover() {
    let (got, arrived, _) = stream_to_across_failover("ct6ctl", lab::SERVER6, true);
    assert!(
        !arrived,
        "IPv6 stream survived without conntrackd: the firewall is not stateful: {got:?}"
    );
}

#[test]
fn without_conntrackd_the_stream_breaks_on_failover() {
    let (got, arrived, _) = stream_across_failover("ctctl", true);
    assert!(
        !arrived,
        "stream survived without conntrackd: the firewall is not stateful: {got:?}"
    );
}

#[test]
fn ldirectord_balances_and_removes_a_dead_real_server() {
    let (mut lab, master) = cluster("ldirectord");
    let server = lab.server.clone();
    for rs in REAL_SERVERS {
        let listen = format!("TCP-LISTEN:80,bind={rs},reuseaddr,fork");
        let reply = format!("SYSTEM:echo {rs}");
        step(
            lab.spawn(&server, &["socat", &listen, &reply], Stdio::null())
                .map(|_| ()),
        );
    }
    let vs = format!("{LAN_VIP}:80");
    let sh = lab.guest(master).sh();
    let table = step(sh.until(
        "ipvsadm -Ln",
        &format!("-> {}:80", REAL_SERVERS[1]),
        Duration::from_secs(20),
    ));
    assert!(
        table.contains(&format!("-> {}:80", REAL_SERVERS[0])),
        "{table}"
    );
    assert_every_real_server_answers(&lab, &vs);
    // Kill the second real server's listener: ldirectord removes it (quiescent=no).
    let pids = lab.on_server(&[
        "sh",
        "-c",
        &format!(
            "ss -Hltnp 'sport = :80' src {} | grep -o 'pid=[0-9]*' | cut -d= -f2",
            REAL_SERVERS[1]
        ),
    ]);
    for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
        let _ = Command::new("kill").arg(pid).status();
    }
    let dead = format!("-> {}:80", REAL_SERVERS[1]);
    let sh = lab.guest(master).sh();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let table = step(sh.ok("ipvsadm -Ln"));
        let gone = !table.contains(&dead)
            || table
                .lines()
                .any(|l| l.contains(&dead) && l.split_whitespace().nth(3) == Some("0"));
        if gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dead real server still active:\n{table}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// What only the kernel can show: ldirectord.cf's `persistent=`, `netmask=`, `schedflags=` and
/// `ops=` as the master's IPVS holds them (`ipvsadm -Ln`), where the host tests only see the
/// commands. The IPv4 persistence mask goes to the kernel in network byte order, the flags as
/// IPVS defines them; a wrong byte order reads back as `mask 0.255.255.255`; an IPv6 virtual's
/// netmask is a prefix length (`mask 64`). The services are typed on the console as an
/// administrator would, `checktype=on` (no checks needed). Then the operator's mistake: the
/// table flushed by hand (`ipvsadm -C`) and ldirectord reloaded puts every service back as it
/// was, read from the kernel's own listing (the original re-runs its start-up on a reload).
#[test]
fn ldirectord_persistence_mask_schedflags_and_ops_reach_the_kernel_table() {
    let (mut lab, master) = cluster("ldflags");
    let rs = REAL_SERVERS[0];
    let rs6 = "2001:db8:200::101";
    let sh = lab.guest(master).sh();
    step(sh.ok(&format!(
        "printf 'virtual={LAN_VIP}:8443\\n\\treal={rs}:443 masq\\n\\tscheduler=sh\\n\\t\
         schedflags=sh-port\\n\\tpersistent=300\\n\\tnetmask=255.255.255.0\\n\\t\
         protocol=tcp\\n\\tchecktype=on\\n\
         virtual={LAN_VIP}:5353\\n\\treal={rs}:53 masq\\n\\tscheduler=rr\\n\\t\
         protocol=udp\\n\\tops=yes\\n\\tchecktype=on\\n\
         virtual6=[{LAN_VIP6}]:8443\\n\\treal6=[{rs6}]:443 masq\\n\\tscheduler=sh\\n\\t\
         persistent=300\\n\\tnetmask=64\\n\\tprotocol=tcp\\n\\tchecktype=on\\n' \
         >> /etc/habox/ldirectord.cf && ldirectord /etc/habox/ldirectord.cf reload"
    )));
    let check = |table: &str| {
        let line = |what: &str| {
            table
                .lines()
                .find(|l| l.starts_with(what))
                .unwrap_or_else(|| panic!("no {what} in\n{table}"))
                .to_string()
        };
        let tcp = line(&format!("TCP  {LAN_VIP}:8443 sh"));
        assert!(tcp.contains("sh-port"), "{tcp}");
        assert!(tcp.contains("persistent 300"), "{tcp}");
        assert!(tcp.contains("mask 255.255.255.0"), "{tcp}");
        let udp = line(&format!("UDP  {LAN_VIP}:5353 rr"));
        assert!(udp.contains("ops"), "{udp}");
        assert!(!udp.contains("persistent"), "{udp}");
        let tcp6 = line(&format!("TCP  [{LAN_VIP6}]:8443 sh"));
        assert!(tcp6.contains("persistent 300"), "{tcp6}");
        assert!(tcp6.contains("mask 64"), "{tcp6}");
        assert!(table.contains(&format!("-> {rs}:443")), "{table}");
        assert!(table.contains(&format!("-> {rs}:53")), "{table}");
        assert!(table.contains(&format!("-> [{rs6}]:443")), "{table}");
    };
    check(&step(sh.until(
        "ipvsadm -Ln",
        &format!("-> [{rs6}]:443"),
        Duration::from_secs(30),
    )));
    step(sh.ok("ipvsadm -C && ipvsadm -Ln"));
    step(sh.ok("ldirectord /etc/habox/ldirectord.cf reload"));
    check(&step(sh.until(
        "ipvsadm -Ln",
        &format!("-> [{rs6}]:443"),
        Duration::from_secs(30),
    )));
}

/// ldirectord with an IPv6 virtual service (`virtual6=`) on the LAN's IPv6 VIP: programmed into
/// the master's IPVS as AF_INET6 (`ipvsadm -Ln` lists it and both reals), checked over IPv6
/// (connect) and balancing the client's IPv6 connections over two IPv6 real servers behind the
/// WAN (masq; they route back through the WAN's IPv6 VIP). The service is added for this test
/// only, typed on the console as an administrator would.
#[test]
fn ldirectord_balances_an_ipv6_virtual_service() {
    let (mut lab, master) = cluster("ldv6");
    let reals = ["2001:db8:200::101", "2001:db8:200::102"];
    let server = lab.server.clone();
    for rs in reals {
        let out = lab.on_server(&[
            "ip",
            "addr",
            "add",
            &format!("{rs}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        assert!(out.status.success(), "{out:?}");
    }
    step(lab.route6_via_vips());
    // Each real answers with its last group (socat takes ':' in SYSTEM: as a separator).
    let tag = |rs: &str| rs.rsplit(':').next().unwrap_or("?").to_string();
    for rs in reals {
        let listen = format!("TCP6-LISTEN:80,bind=[{rs}],reuseaddr,fork");
        let reply = format!("SYSTEM:echo real-{}", tag(rs));
        step(
            lab.spawn(&server, &["socat", &listen, &reply], Stdio::null())
                .map(|_| ()),
        );
    }
    let sh = lab.guest(master).sh();
    step(sh.ok(&format!(
        "printf 'virtual6=[{LAN_VIP6}]:80\\n\\treal6=[{}]:80 masq\\n\\treal6=[{}]:80 masq\\n\\t\
         scheduler=rr\\n\\tprotocol=tcp\\n\\tchecktype=connect\\n' >> /etc/habox/ldirectord.cf \
         && ldirectord /etc/habox/ldirectord.cf reload",
        reals[0], reals[1]
    )));
    let table = step(sh.until(
        "ipvsadm -Ln",
        &format!("-> [{}]:80", reals[1]),
        Duration::from_secs(30),
    ));
    assert!(
        table.contains(&format!("TCP  [{LAN_VIP6}]:80 rr")),
        "{table}"
    );
    assert!(table.contains(&format!("-> [{}]:80", reals[0])), "{table}");
    let mut answers = Vec::new();
    for _ in 0..4 {
        let out = lab.on_client(&[
            "socat",
            "-t",
            "5",
            "-T",
            "10",
            "-",
            &format!("TCP6:[{LAN_VIP6}]:80,connect-timeout=5"),
        ]);
        answers.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    for rs in reals {
        assert!(
            answers.iter().any(|a| *a == format!("real-{}", tag(rs))),
            "{rs} never answered through [{LAN_VIP6}]:80: {answers:?}"
        );
    }
}

#[test]
fn ifcheckd_shows_the_heartbeat_ring_faulty_when_cut_and_up_after() {
    let (mut lab, _) = cluster("ifcheckd");
    let sh = lab.guest("fw-a").sh();
    step(sh.until("ifcheckd -s", "is UP", Duration::from_secs(20)));
    step(lab.cable(&NODES[0], "hb", false));
    step(
        lab.guest("fw-a")
            .sh()
            .until("ifcheckd -s", "is FAULTY", Duration::from_secs(15)),
    );
    step(lab.cable(&NODES[0], "hb", true));
    let out = step(
        lab.guest("fw-a")
            .sh()
            .until("ifcheckd -s", "is UP", Duration::from_secs(15)),
    );
    assert!(!out.contains("FAULTY"), "{out}");
}

/// A thousand established TCP connections through the stateful pair (nf_conntrack_tcp_loose=0
/// on the nodes: a packet of a flow the kernel table does not hold is dropped) survive the
/// master's death: conntrackd synced them to the backup and its pikemon committed them before
/// the VIPs came up. Each connection sends a numbered line every 3 s (bench/statesync's
/// flows.py; a TCG guest on a loaded host forwarded well under 1,000 packets a second, so
/// 1,000 lines a second fell behind with or without a failover) and checks every echo: no
/// connection reset, every byte echoed in order. ("stalled" is not asserted: a flow that sent
/// during the outage resumes when its TCP retransmission timer fires, seconds after the VIP is
/// back, which flows.py's outage + 1 s criterion counts as stalled.) It failed while the new
/// master's SCHED_FIFO worker spun on its silent peer's dead-interval: the guest's network
/// processing ran only when RT throttling let it, and some flows never resumed.
#[test]
fn a_thousand_tcp_flows_survive_the_masters_death() {
    let (mut lab, master) = cluster("ctflows");
    let flows = lab::top().join("bench/statesync/flows.py");
    let flows = flows.display().to_string();
    let server = lab.server.clone();
    step(lab.spawn(
        &server,
        &["python3", &flows, "server", "5020"],
        Stdio::null(),
    ));
    std::thread::sleep(Duration::from_secs(1));
    let mut client = match Command::new("ip")
        .args(["netns", "exec", &lab.client, "python3", &flows, "client"])
        .args([lab::SERVER, "5020", "1000", "30", "3000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("flows client: {e}"),
    };
    let Some(out) = client.stdout.take() else {
        panic!("flows client: no stdout")
    };
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(out));
    let ready = lines.next().and_then(Result::ok);
    assert_eq!(ready.as_deref(), Some("ready"), "the flows did not start");
    // The sync carries the established entries to the backup meanwhile.
    std::thread::sleep(Duration::from_secs(4));
    lab.kill_guest(master);
    one_master(&mut lab, Some(other(master)), FAILOVER);
    let report = lines.next().and_then(Result::ok).unwrap_or_default();
    let _ = client.wait();
    note(&format!("ctflows: {report}"));
    let new = other(master);
    let (_, diag) = step(lab.guest(new).sh().run(
        "pikemon -f /etc/habox/pikemon.cfg -c status | grep -i conntrack; \
         conntrackd -C /etc/conntrackd/conntrackd.conf -s | head -n 30; \
         cat /proc/sys/net/netfilter/nf_conntrack_count; \
         logread | grep -iE 'conntrack|commit' | tail -n 15; nft list counters",
        Duration::from_secs(30),
    ));
    note(&format!("ctflows: {new} after the failover:\n{diag}"));
    let field = |name: &str| -> i64 {
        report
            .split(&format!("\"{name}\": "))
            .nth(1)
            .and_then(|r| r.split([',', '}']).next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1)
    };
    assert_eq!(field("connected"), 1000, "{report}");
    for bad in ["reset", "lost", "misordered"] {
        assert_eq!(field(bad), 0, "{bad}: {report}");
    }
}
