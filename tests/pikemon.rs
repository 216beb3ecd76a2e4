//! pikemon in network namespaces: node A (primary, node-id 1) and node B, each with `lan0` on
//! a LAN bridge that also holds a client (198.51.100.50) and a gateway (198.51.100.1, the
//! ping-group witness), and two heart-beat veths `hb0`/`hb1` between A and B. The VIP is
//! 198.51.100.10/24 with virtual MAC 02:c6:33:64:0a:00. The real binary runs in foreground
//! mode (`-d`) inside the namespaces; the client uses iputils ping and the kernel ARP table.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use common::{applet, text, unique, veth, Netns, Switch};

const VIP: &str = "198.51.100.10";
const VMAC: &str = "02:c6:33:64:0a:00";
const KEY: &str = "0123456789abcdef0123";

/// The flood test saturates a core for seconds: it runs alone, the timing-sensitive rigs
/// of the other tests share the machine only with each other.
static LOAD: RwLock<()> = RwLock::new(());

enum LoadGuard {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

struct Rig {
    _load: LoadGuard,
    sw: Switch,
    a: Netns,
    b: Netns,
    client: Netns,
    gw: Netns,
    a_port: String,
    b_port: String,
    /// hb1 through a switch of its own (a shared heart-beat segment) instead of a veth.
    hb_sw: Option<Switch>,
    dir: PathBuf,
    kids: Vec<Child>,
}

/// Node `node`'s config; `watch`: with the death-watch over hb0's addresses.
/// Polls `check` every 20 ms until it says done (`Ok`); fails with what it said last
/// (`Err`: the state still awaited) once `limit` has passed.
fn eventually(limit: Duration, mut check: impl FnMut() -> Result<(), String>) {
    let start = Instant::now();
    while let Err(state) = check() {
        assert!(start.elapsed() < limit, "{state}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn config(dir: &Path, node: u32, key: &str, watch: bool) -> String {
    let watch = if watch {
        format!(
            "death-watch local [203.0.113.{node}] peer [203.0.113.{}];",
            3 - node
        )
    } else {
        String::new()
    };
    format!(
        r#"version PIKEMON-1;
pikemon {{
    node-id {node};
    status-file "{d}/status{node}"; pid-file "{d}/pid{node}";
    control-socket "{d}/ctl{node}"; paths-file "{d}/paths{node}";
    hmac key "{key}";
    heart-beat {{ interface hb0; interface hb1; {watch} }}
    hello-interval 100ms;
    garp-interval 20ms;
    virtual-cluster LAN {{
        id 1; primary node 1;
        interface lan0 {{ ipv4 [{VIP}]/24; }}
        ping-group GW {{ host [198.51.100.1]; interval 100ms; timeout 100ms; fall 2; rise 2; }}
        ping-group LO {{ host witness.test; interval 100ms; timeout 100ms; }}
        notify-master "echo master >> {d}/notify{node}";
        notify-backup "echo backup >> {d}/notify{node}";
    }}
}}
"#,
        d = dir.display()
    )
}

impl Rig {
    /// The rig with the death-watch configured (as an operator would).
    fn new() -> Rig {
        Rig::build(true)
    }

    /// The rig without the death-watch: only HELLOs tell the nodes apart from the dead.
    fn without_death_watch() -> Rig {
        Rig::build(false)
    }

    /// The rig with hb1 on a switch that a third host can join (a shared heart-beat
    /// segment, as a VLAN or a dedicated switch would be).
    fn with_shared_heart_beat() -> Rig {
        let load = LoadGuard::Exclusive(LOAD.write().unwrap_or_else(|e| e.into_inner()));
        let mut rig = Rig::build_with(true, load);
        rig.a.ip(&["link", "del", "hb1"]);
        let hb_sw = Switch::new();
        hb_sw.attach(&rig.a, "hb1");
        hb_sw.attach(&rig.b, "hb1");
        rig.hb_sw = Some(hb_sw);
        rig
    }

    /// The rig alone on the machine (no other pikemon test runs meanwhile), at `hello`
    /// intervals (dead-interval 3 hellos) and `realtime yes;` (as pikemon asks for fast
    /// hellos): for timing that load would blur.
    fn alone_at(hello: &str) -> Rig {
        let load = LoadGuard::Exclusive(LOAD.write().unwrap_or_else(|e| e.into_inner()));
        let rig = Rig::build_with(true, load);
        for n in [1, 2] {
            let path = rig.dir.join(format!("n{n}.cfg"));
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.replace(
                "hello-interval 100ms;",
                &format!("hello-interval {hello}; realtime yes;"),
            );
            std::fs::write(&path, text).unwrap();
        }
        rig
    }

    fn build(watch: bool) -> Rig {
        let load = LoadGuard::Shared(LOAD.read().unwrap_or_else(|e| e.into_inner()));
        Rig::build_with(watch, load)
    }

    fn build_with(watch: bool, load: LoadGuard) -> Rig {
        let sw = Switch::new();
        let a = Netns::new("a");
        let b = Netns::new("b");
        let client = Netns::new("c");
        let gw = Netns::new("g");
        let a_port = sw.attach(&a, "lan0");
        let b_port = sw.attach(&b, "lan0");
        sw.attach(&client, "lan0");
        sw.attach(&gw, "lan0");
        veth(&a, "hb0", &b, "hb0");
        veth(&a, "hb1", &b, "hb1");
        a.ip(&["addr", "add", "198.51.100.2/24", "dev", "lan0"]);
        b.ip(&["addr", "add", "198.51.100.3/24", "dev", "lan0"]);
        client.ip(&["addr", "add", "198.51.100.50/24", "dev", "lan0"]);
        gw.ip(&["addr", "add", "198.51.100.1/24", "dev", "lan0"]);
        // The named witness (loopback names are refused as witnesses).
        for ns in [&a, &b] {
            ns.hosts("127.0.0.1 localhost\n198.51.100.50 witness.test\n");
        }
        a.ip(&["addr", "add", "203.0.113.1/30", "dev", "hb0"]);
        b.ip(&["addr", "add", "203.0.113.2/30", "dev", "hb0"]);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("pk"));
        std::fs::create_dir_all(&dir).unwrap();
        for n in [1, 2] {
            std::fs::write(dir.join(format!("n{n}.cfg")), config(&dir, n, KEY, watch)).unwrap();
        }
        Rig {
            _load: load,
            sw,
            a,
            b,
            client,
            gw,
            a_port,
            b_port,
            hb_sw: None,
            dir,
            kids: Vec::new(),
        }
    }

    fn ns(&self, node: u32) -> &Netns {
        if node == 1 {
            &self.a
        } else {
            &self.b
        }
    }

    fn cfg(&self, node: u32) -> String {
        self.dir.join(format!("n{node}.cfg")).display().to_string()
    }

    /// Starts pikemon in the foreground on `node`; its log goes to `log<node>`.
    fn start(&mut self, node: u32) {
        let cfg = PathBuf::from(self.cfg(node));
        self.start_with(node, &cfg);
    }

    /// Starts pikemon on `node` with the config `cfg`; its log goes to `log<node>`.
    fn start_with(&mut self, node: u32, cfg: &Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("log{node}")))
            .unwrap();
        let child = self
            .ns(node)
            .cmd(applet("pikemon"))
            .args(["-f", &cfg.display().to_string(), "-d"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.kids.push(child);
    }

    fn log(&self, node: u32) -> String {
        std::fs::read_to_string(self.dir.join(format!("log{node}"))).unwrap_or_default()
    }

    fn control(&self, node: u32, args: &[&str]) -> Output {
        self.ns(node)
            .cmd(applet("pikemon"))
            .args(["-f", &self.cfg(node), "-c"])
            .args(args)
            .output()
            .unwrap()
    }

    /// The role of the virtual cluster as `-c status` reports it.
    fn role(&self, node: u32) -> String {
        let out = self.control(node, &["status"]);
        let (so, _) = text(&out);
        so.lines()
            .find_map(|l| l.strip_prefix("vc LAN id 1 role "))
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("unreachable")
            .to_string()
    }

    /// Waits until `node`'s log holds `what`, showing the log if it never does.
    fn wait_log(&self, node: u32, what: &str, limit: Duration) {
        eventually(limit, || {
            let log = self.log(node);
            if log.contains(what) {
                Ok(())
            } else {
                Err(format!("no '{what}' in\n{log}"))
            }
        });
    }

    /// The text of `name` in the rig's directory once `done` holds for it (files the worker's
    /// writer thread or a hook writes after the role is visible), showing it if it never does.
    fn wait_file(&self, name: &str, limit: Duration, done: impl Fn(&str) -> bool) -> String {
        let mut text = String::new();
        eventually(limit, || {
            text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            if done(&text) {
                Ok(())
            } else {
                Err(format!("{name} never done:\n{text}"))
            }
        });
        text
    }

    /// Waits (5 s at most) until none of `old` (pids of an instance replaced by a hand-over)
    /// runs on `node`, showing them, the pikemon processes now and the log if they do.
    fn wait_old_gone(&self, node: u32, old: &[i32]) {
        eventually(Duration::from_secs(5), || {
            let now = self.pids(node, "pikemon");
            let left: Vec<&i32> = now.iter().filter(|p| old.contains(p)).collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "the old instance {left:?} still runs (now {now:?})\n{}",
                    self.log(node)
                ))
            }
        });
    }

    /// Waits until `node` reports `role`, showing its log if it never does.
    fn wait_role(&self, node: u32, role: &str, limit: Duration) {
        let start = Instant::now();
        while self.role(node) != role {
            assert!(start.elapsed() < limit, "{}", self.log(node));
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A's and B's roles are `a` and `b` now (both logs shown if not).
    fn assert_roles(&self, a: &str, b: &str) {
        let roles = (self.role(1), self.role(2));
        assert!(
            roles.0 == a && roles.1 == b,
            "roles {roles:?}, expected ({a}, {b})\n--- A:\n{}\n--- B:\n{}",
            self.log(1),
            self.log(2)
        );
    }

    fn wait_roles(&self, a: &str, b: &str, limit: Duration) {
        let start = Instant::now();
        loop {
            let (ra, rb) = (self.role(1), self.role(2));
            if ra == a && rb == b {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "roles {ra}/{rb}, wanted {a}/{b}\nA:\n{}\nB:\n{}",
                self.log(1),
                self.log(2)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The MAC the client resolves the VIP to after a fresh ARP exchange (None: no answer).
    fn client_vip_mac(&self) -> Option<String> {
        self.client_mac_of(VIP)
    }

    /// The MAC the client resolves `ip` to after a fresh ARP exchange (None: no answer).
    fn client_mac_of(&self, ip: &str) -> Option<String> {
        self.client.ip(&["neigh", "flush", "dev", "lan0"]);
        let ok = self
            .client
            .run(&["ping", "-c", "1", "-W", "1", ip])
            .status
            .success();
        if !ok {
            return None;
        }
        let (so, _) = text(&self.client.ip(&["neigh", "show", ip]));
        so.split_whitespace()
            .skip_while(|w| *w != "lladdr")
            .nth(1)
            .map(str::to_string)
    }

    /// The `frames ...` line of `-c status` on `node`.
    fn counters(&self, node: u32) -> String {
        let out = self.control(node, &["status"]);
        let (so, _) = text(&out);
        so.lines()
            .find(|l| l.starts_with("frames "))
            .unwrap_or("")
            .to_string()
    }

    /// Counter `name` of a `frames ...` line (0 when absent).
    fn counter(line: &str, name: &str) -> u64 {
        line.split_whitespace()
            .skip_while(|w| *w != name)
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Loads an nftables ruleset into the switch namespace.
    fn switch_rules(&self, name: &str, rules: &str) {
        let path = self.dir.join(name);
        std::fs::write(&path, rules).unwrap();
        let out = self.sw.ns.run(&["nft", "-f", &path.display().to_string()]);
        assert!(out.status.success(), "{out:?}");
    }

    /// The switch port the bridge's table sends `mac` to.
    fn switch_port_of(&self, mac: &str) -> Option<String> {
        let out = self.sw.ns.run(&["bridge", "fdb", "show", "br", "br0"]);
        let (so, _) = text(&out);
        so.lines()
            .find(|l| l.starts_with(mac) && !l.contains("permanent"))
            .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
    }

    /// Waits up to 3 s until the switch has learned `mac` on B's port, showing where it is
    /// and B's log if it never does.
    fn wait_mac_on_b_port(&self, mac: &str) {
        let start = Instant::now();
        while self.switch_port_of(mac).as_deref() != Some(self.b_port.as_str()) {
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "{mac} stayed on {:?}, not B's port {}\n{}",
                self.switch_port_of(mac),
                self.b_port,
                self.log(2)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn macvlan_up(&self, node: u32) -> bool {
        let out = self.ns(node).ip(&["-br", "link", "show", "pk1-lan0"]);
        let (so, _) = text(&out);
        so.split_whitespace().nth(1) == Some("UP")
    }

    /// Pids of processes in `node`'s namespace whose title starts with `title`.
    fn pids(&self, node: u32, title: &str) -> Vec<i32> {
        let out = Command::new("ip")
            .args(["netns", "pids", &self.ns(node).name])
            .output()
            .unwrap();
        text(&out)
            .0
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .filter(|p| {
                std::fs::read(format!("/proc/{p}/cmdline"))
                    .map(|c| c.starts_with(title.as_bytes()))
                    .unwrap_or(false)
            })
            .collect()
    }

    fn signal(&self, pids: &[i32], sig: &str) {
        for p in pids {
            let _ = Command::new("kill").args([sig, &p.to_string()]).status();
        }
    }

    /// SIGKILLs `node`'s worker, then its supervisor, which is stopped first: it restarts a
    /// dead worker within milliseconds.
    fn kill_daemon(&self, node: u32) {
        let supervisor = self.pids(node, "pikemon: supervisor");
        assert_eq!(supervisor.len(), 1, "{}", self.log(node));
        let killed = self.pids(node, "pikemon");
        self.signal(&supervisor, "-STOP");
        self.signal(&self.pids(node, "pikemon: worker"), "-KILL");
        self.signal(&supervisor, "-KILL");
        // A worker the supervisor had just started may not carry its title yet.
        let start = Instant::now();
        loop {
            let left = self.pids(node, "pikemon");
            if left.is_empty() || start.elapsed() > Duration::from_secs(2) {
                break;
            }
            self.signal(&left, "-KILL");
            std::thread::sleep(Duration::from_millis(20));
        }
        // A killed process loses its cmdline before its files (the pid file's lock): a start
        // right away could still find the lock held. Dead means a zombie or gone.
        let dead = |p: &i32| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .map(|s| {
                    s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z')
                })
                .unwrap_or(true)
        };
        while !killed.iter().all(dead) && start.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn started_pair(mut self) -> Rig {
        self.start(1);
        self.start(2);
        self.wait_roles("Master", "Backup", Duration::from_secs(5));
        self
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for k in &mut self.kids {
            let _ = k.kill();
            let _ = k.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A GOODBYE that claims node 1 gave the role up, well formed with the configured key-id but
/// signed with the wrong key, as hex for the python senders.
fn forged_goodbye_hex(incarnation: u32, ack_incarnation: u32, ack_seq: u64) -> String {
    use habox::wire::pike::{build_frame, MessageType, Repr, Role, VcState};
    let forged = Repr {
        msg_type: MessageType::Goodbye,
        flags: 0,
        cluster_id: 1,
        node_id: 1,
        incarnation,
        seq: 1,
        ack_incarnation,
        ack_seq,
        hello_ms: 100,
        dead_ms: 300,
        path_id: 2,
        key_id: 1,
        vcs: vec![VcState {
            vcid: 1,
            role: Role::Backup,
            flags: 0x20,
            priority: 100,
            fail_count: 0,
            digest: 0,
            more: 0,
            penalty: 0,
        }],
    };
    build_frame(&forged, b"the wrong key 1234", &[2, 0, 0, 0, 0, 0x66])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn election_at_start_and_vip_answered_from_the_virtual_mac_by_the_master_only() {
    let rig = Rig::new().started_pair();
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    assert!(rig.macvlan_up(1));
    assert!(!rig.macvlan_up(2), "the backup's macvlan is down");
    // Process titles carry the letters.
    assert_eq!(rig.pids(1, "pikemon: worker vc1=PMU").len(), 1);
    assert_eq!(rig.pids(2, "pikemon: worker vc1=SBU").len(), 1);
    assert_eq!(rig.pids(1, "pikemon: supervisor").len(), 1);
    // The paths file for ifcheckd (written at the tick after the paths came up).
    let paths = rig.wait_file("paths2", Duration::from_secs(2), |p| {
        p.matches("state UP").count() == 2
    });
    assert!(
        paths.starts_with("# pikemon heart-beat paths\nnode 2\n"),
        "{paths}"
    );
    assert!(
        paths.contains("path hb0 ring 0 local 203.0.113.2 peer 1 state UP age-ms "),
        "{paths}"
    );
    assert!(
        paths.contains("path hb1 ring 1 local - peer 1 state UP"),
        "{paths}"
    );
    // notify-master ran on A, and its exit was logged (once reaped).
    let notify = rig.wait_file("notify1", Duration::from_secs(2), |n| !n.is_empty());
    assert_eq!(notify, "master\n");
    rig.wait_log(1, "/notify1' exited 0", Duration::from_secs(2));
    // The ACR resolved the ping group's host name for the worker.
    assert_eq!(rig.pids(1, "pikemon: acr").len(), 1);
    let start = Instant::now();
    while !text(&rig.control(1, &["status"]))
        .0
        .contains("host witness.test addr 198.51.100.50 up")
    {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            rig.control(1, &["status"])
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // JSON status.
    let out = rig.control(1, &["status", "-j"]);
    let (so, _) = text(&out);
    assert!(so.starts_with("{\"node\":1,"), "{so}");
    assert!(so.contains("\"role\":\"Master\""), "{so}");
}

#[test]
fn failover_when_the_master_daemon_is_sigkilled() {
    let rig = Rig::without_death_watch().started_pair();
    let all = rig.pids(1, "pikemon");
    assert!(all.len() >= 2, "{all:?}");
    rig.signal(&all, "-KILL");
    rig.wait_role(2, "Master", Duration::from_secs(5));
    // A's addresses are still configured, but only B's daemon answers ARP for the VIP.
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    assert!(
        rig.log(2).contains("(peer silent, probe unanswered)"),
        "{}",
        rig.log(2)
    );
}

/// The VIP on `node`'s macvlan, as `ip addr` shows it (with its lifetime), or None.
fn vip_line(rig: &Rig, node: u32) -> Option<String> {
    let out = text(&rig.ns(node).ip(&["addr", "show", "dev", "pk1-lan0"])).0;
    let mut lines = out.lines();
    while let Some(l) = lines.next() {
        if l.contains(&format!("inet {VIP}/24")) {
            return Some(format!("{l}\n{}", lines.next().unwrap_or("")));
        }
    }
    None
}

/// Every pikemon process of the Master SIGKILLed (an operator's `kill -9 $(pidof pikemon)`,
/// or the OOM killer taking both) left its VIP on its macvlan for good, beside the new
/// Master's: now the VIP carries a lease the worker renews, and the kernel deletes it when
/// the lease runs out (2 s at this dead-interval of 300 ms).
#[test]
fn sigkill_of_every_pikemon_process_left_the_vip_on_the_old_master_for_good() {
    let rig = Rig::without_death_watch().started_pair();
    // Held over several leases: the renewals keep it.
    std::thread::sleep(Duration::from_secs(5));
    let held = vip_line(&rig, 1).unwrap_or_else(|| panic!("A lost its VIP\n{}", rig.log(1)));
    assert!(
        held.contains("dynamic") && held.contains("valid_lft ") && !held.contains("forever"),
        "{held}"
    );
    rig.kill_daemon(1);
    let killed = Instant::now();
    rig.wait_role(2, "Master", Duration::from_secs(5));
    while vip_line(&rig, 1).is_some() {
        assert!(
            killed.elapsed() < Duration::from_secs(4),
            "the dead Master still holds {:?}",
            vip_line(&rig, 1)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let gone = killed.elapsed();
    assert!(gone >= Duration::from_millis(1000), "gone after {gone:?}");
    // The new Master keeps its own past its lease.
    std::thread::sleep(Duration::from_secs(3));
    assert!(vip_line(&rig, 2).is_some(), "{}", rig.log(2));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

/// A Master killed whole, its VIPs gone with their lease, started again: its status file said
/// Master and its macvlan was still up (only the addresses went), so it resumed Master, put
/// the VIPs back beside the new Master's and answered ARP for them until the first HELLO
/// made it yield ("the peer took over while we were away"). Now it starts by listening and
/// comes back as Backup without ever claiming the role. (Also on the QEMU pair:
/// `master_killed_whole_kept_its_vips_beside_the_new_master`.)
#[test]
fn master_killed_whole_and_started_again_resumed_master_beside_the_new_one() {
    let mut rig = Rig::without_death_watch().started_pair();
    rig.kill_daemon(1);
    rig.wait_role(2, "Master", Duration::from_secs(5));
    let killed = Instant::now();
    while vip_line(&rig, 1).is_some() {
        assert!(
            killed.elapsed() < Duration::from_secs(6),
            "the dead Master still holds {:?}",
            vip_line(&rig, 1)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(rig.macvlan_up(1), "the dead Master's macvlan went down");
    rig.start(1);
    rig.wait_log(1, "Backup", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    let log = rig.log(1);
    assert!(!log.contains("resumed from status file"), "{log}");
    assert!(
        !log.contains("the peer took over while we were away"),
        "{log}"
    );
    assert_eq!(rig.role(1), "Backup", "{log}");
    assert_eq!(rig.role(2), "Master", "{}", rig.log(2));
    assert!(!rig.macvlan_up(1), "{log}");
    assert!(vip_line(&rig, 2).is_some(), "{}", rig.log(2));
}

/// A Master whose processes were all stopped (SIGSTOP, a frozen container) kept its VIP
/// beside the new Master for as long as it stayed frozen. Now the lease runs out; thawed,
/// the pair settles on one Master, and only that one holds the VIP.
#[test]
fn frozen_master_kept_its_vip_beside_the_new_master_while_frozen() {
    let rig = Rig::without_death_watch().started_pair();
    let all = rig.pids(1, "pikemon");
    rig.signal(&all, "-STOP");
    let frozen = Instant::now();
    rig.wait_role(2, "Master", Duration::from_secs(5));
    while vip_line(&rig, 1).is_some() {
        assert!(
            frozen.elapsed() < Duration::from_secs(4),
            "the frozen Master still holds {:?}",
            vip_line(&rig, 1)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    rig.signal(&all, "-CONT");
    // One Master, whose macvlan is up with the VIP; the Backup's is down (keeping the VIP,
    // `nomadic no`).
    let start = Instant::now();
    loop {
        let roles = (rig.role(1), rig.role(2));
        let up = (rig.macvlan_up(1), rig.macvlan_up(2));
        let plays = |r: &str, up: bool, n: u32| {
            (r == "Master") == up && (!up || vip_line(&rig, n).is_some())
        };
        if (roles.0 == "Master") != (roles.1 == "Master")
            && plays(&roles.0, up.0, 1)
            && plays(&roles.1, up.1, 2)
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "roles {roles:?}, macvlans up {up:?}\n{}\n{}",
            rig.log(1),
            rig.log(2)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What an operator sees on a Master whose pikemon was SIGKILLed whole, once its VIPs went
/// with their lease: the status file still said `Master` with nothing to tell it stale, and
/// `pikemon -c status` said only "cannot reach the daemon ... No such file or directory"
/// (or "Connection refused"). Now the file names its writer, and `-c status` (exit 3) says
/// the writer is not running and that the role it recorded is not held. Checked too: no
/// pikemon process is left (no title to read), no notify hook ran, and the paths file read
/// by ifcheckd is no longer refreshed (older than its 3 s: every ring FAULTY).
#[test]
fn status_after_sigkill_of_every_pikemon_process_still_said_master() {
    let rig = Rig::without_death_watch().started_pair();
    let notified = std::fs::read_to_string(rig.dir.join("notify1")).unwrap_or_default();
    let worker = rig.pids(1, "pikemon: worker");
    assert_eq!(worker.len(), 1, "{}", rig.log(1));
    let status = std::fs::read_to_string(rig.dir.join("status1")).unwrap();
    assert!(
        status.contains(&format!("\nwriter pid {} boot-id ", worker[0])),
        "{status}"
    );
    rig.kill_daemon(1);
    let killed = Instant::now();
    while vip_line(&rig, 1).is_some() {
        assert!(killed.elapsed() < Duration::from_secs(6), "VIP kept");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(rig.pids(1, "pikemon").is_empty());
    // The file is the dead worker's last word: still Master, but it names its writer.
    let status = std::fs::read_to_string(rig.dir.join("status1")).unwrap();
    assert!(status.contains("\nvc 1 Master "), "{status}");
    let out = rig.control(1, &["status"]);
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{so}{se}");
    assert_eq!(so, "", "a role on stdout of a node without a daemon");
    let file = rig.dir.join("status1");
    for want in [
        "pikemon: cannot reach the daemon at ".to_string(),
        format!(
            "pikemon: status file {}: stale: pikemon (pid {}) is not running\n",
            file.display(),
            worker[0]
        ),
        "pikemon:   vc 1 Master (not held)\n".to_string(),
    ] {
        assert!(se.contains(&want), "no '{want}' in\n{se}");
    }
    let notify = std::fs::read_to_string(rig.dir.join("notify1")).unwrap_or_default();
    assert_eq!(
        notify, notified,
        "a hook ran on a node whose pikemon was killed"
    );
    // ifcheckd judges the paths file by its age (3 s): nobody refreshes it any more.
    let mtime = || {
        std::fs::metadata(rig.dir.join("paths1"))
            .and_then(|m| m.modified())
            .unwrap()
    };
    let last = mtime();
    std::thread::sleep(Duration::from_millis(3200).saturating_sub(killed.elapsed()));
    assert_eq!(mtime(), last, "the paths file was refreshed after the kill");
    let age = last.elapsed().unwrap_or_default();
    assert!(age >= Duration::from_secs(3), "paths file {age:?} old");
}

/// A pikemon whose every process was stopped (SIGSTOP, a frozen cgroup): `pikemon -c status`
/// said "Resource temporarily unavailable (os error 11)" after 5 s, exit 3 as for a daemon
/// that is not running. Now it says the daemon did not answer, that its worker is stopped,
/// and exits 5; the role the file records is no longer renewed (the lease runs out).
#[test]
fn status_of_a_frozen_pikemon_said_resource_temporarily_unavailable() {
    let rig = Rig::without_death_watch().started_pair();
    let worker = rig.pids(1, "pikemon: worker");
    assert_eq!(worker.len(), 1, "{}", rig.log(1));
    let all = rig.pids(1, "pikemon");
    rig.signal(&all, "-STOP");
    let start = Instant::now();
    let out = rig.control(1, &["status"]);
    let took = start.elapsed();
    rig.signal(&all, "-CONT");
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{so}{se}");
    assert!(took < Duration::from_secs(7), "took {took:?}");
    assert_eq!(so, "");
    for want in [
        " did not answer within 5 s: it is stopped or hung\n".to_string(),
        format!(
            ": pikemon (pid {}) is stopped (SIGSTOP or frozen): it answers nothing and renews \
             no VIP lease\n",
            worker[0]
        ),
        "pikemon:   vc 1 Master (not renewed: its VIPs go when their lease runs out)\n".to_string(),
    ] {
        assert!(se.contains(&want), "no '{want}' in\n{se}");
    }
    // An order to a frozen daemon: sent, and it says so (15 s: an order's wait).
    rig.signal(&all, "-STOP");
    let out = rig.control(1, &["drop"]);
    rig.signal(&all, "-CONT");
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{so}{se}");
    assert!(
        se.contains(
            " did not answer within 15 s: it is stopped or hung (the order was sent: it takes \
             effect if the daemon resumes)\n"
        ),
        "{se}"
    );
    // Thawed, it answers again, and the order it got took effect.
    rig.wait_roles("Backup", "Master", Duration::from_secs(10));
}

/// A Master's macvlan deleted and made again by an operator (`ip link del pk1-lan0`, then
/// `ip link add ...`) got another index: every renewal of the lease went to the index that
/// was gone ("No such device", twice a second for good), the new macvlan stayed down without
/// the VIP, and the node went on claiming Master with nothing to answer for it.
#[test]
fn a_master_macvlan_made_again_by_an_operator_was_left_down_without_its_vip() {
    let rig = Rig::without_death_watch().started_pair();
    rig.a.ip(&["link", "del", "pk1-lan0"]);
    rig.a.ip(&[
        "link", "add", "pk1-lan0", "link", "lan0", "address", VMAC, "type", "macvlan", "mode",
        "private",
    ]);
    let start = Instant::now();
    while !(rig.macvlan_up(1) && vip_line(&rig, 1).is_some()) {
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "up {}, VIP {:?}\n{}",
            rig.macvlan_up(1),
            vip_line(&rig, 1),
            rig.log(1)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Leased, and renewed past its lease (2 s).
    std::thread::sleep(Duration::from_secs(3));
    let held = vip_line(&rig, 1).unwrap_or_else(|| panic!("A lost its VIP\n{}", rig.log(1)));
    assert!(held.contains("dynamic"), "{held}");
    assert_eq!(rig.role(1), "Master");
    // Nor made for good, without the operator: deleted, it is made again.
    rig.a.ip(&["link", "del", "pk1-lan0"]);
    let up = || {
        let out = text(&rig.a.ip(&["-br", "link", "show", "up"])).0;
        out.lines().any(|l| l.starts_with("pk1-lan0@"))
    };
    let start = Instant::now();
    while !(up() && vip_line(&rig, 1).is_some()) {
        assert!(start.elapsed() < Duration::from_secs(4), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

/// The VIPs a Backup keeps (`nomadic no`) are kept for good, without the Master's lease, both
/// when the worker lets the role go (`-c drop`) and when the supervisor releases for a worker
/// that is gone: with a lease left on them they would vanish from the Backup.
#[test]
fn vips_kept_by_a_backup_lost_their_lease_on_release() {
    let rig = Rig::without_death_watch().started_pair();
    let out = rig.control(1, &["drop"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_roles("Backup", "Master", Duration::from_secs(3));
    // Past the Master's 2 s lease.
    std::thread::sleep(Duration::from_secs(3));
    let kept = vip_line(&rig, 1).unwrap_or_else(|| panic!("A lost its VIP\n{}", rig.log(1)));
    assert!(
        kept.contains("forever") && !kept.contains("dynamic"),
        "{kept}"
    );
    assert!(!rig.macvlan_up(1));
    // B's worker gone for good: its supervisor releases.
    rig.kill_worker_and_rename_lan0_of(2);
    rig.wait_log(
        2,
        "no worker has been alive for the dead-interval (300 ms): addresses released (pk1-lan0 down)",
        Duration::from_secs(3),
    );
    std::thread::sleep(Duration::from_secs(3));
    let kept = vip_line(&rig, 2).unwrap_or_else(|| panic!("B lost its VIP\n{}", rig.log(2)));
    assert!(
        kept.contains("forever") && !kept.contains("dynamic"),
        "{kept}"
    );
}

/// The new master's neighbour flushes now run after its first GARPs (they stood between the
/// decision and the first frame from the virtual MAC); they must still run.
#[test]
fn neighbour_flush_moved_after_the_garps_still_clears_the_new_masters_tables() {
    let rig = Rig::without_death_watch().started_pair();
    // A stale entry on B's parent interface, as one left from before the takeover.
    rig.b.ip(&[
        "neigh",
        "replace",
        "198.51.100.77",
        "lladdr",
        "02:00:00:00:00:77",
        "dev",
        "lan0",
        "nud",
        "stale",
    ]);
    let before = text(&rig.b.ip(&["neigh", "show", "198.51.100.77", "dev", "lan0"])).0;
    assert!(before.contains("02:00:00:00:00:77"), "{before}");
    rig.signal(&rig.pids(1, "pikemon"), "-KILL");
    rig.wait_role(2, "Master", Duration::from_secs(5));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    // The flush comes 10 ms after the GARPs (SETTLE_AFTER), after the role is written: read
    // at once, the entry could still be there under load (seen once in CI). 1 s at most.
    eventually(Duration::from_secs(1), || {
        let after = text(&rig.b.ip(&["neigh", "show", "198.51.100.77", "dev", "lan0"])).0;
        if after.contains("02:00:00:00:00:77") {
            Err(format!("still there: {after}\n{}", rig.log(2)))
        } else {
            Ok(())
        }
    });
}

#[test]
fn death_watch_sigkilled_master_is_taken_over_on_the_closed_connection() {
    let rig = Rig::new().started_pair();
    let wait_log = |node: u32, what: &str| rig.wait_log(node, what, Duration::from_secs(5));
    // Both directions are up: A connected to B and B to A.
    for node in [1, 2] {
        wait_log(node, "death-watch: connected to 203.0.113.");
        wait_log(node, "death-watch: connection from 203.0.113.");
    }
    // The worker first: a worker that outlives its supervisor by a moment still answers
    // the probe the closed connection starts (correctly: it is alive). The supervisor is
    // stopped meanwhile: it restarts a dead worker within milliseconds.
    rig.kill_daemon(1);
    rig.wait_role(2, "Master", Duration::from_secs(5));
    // B did not wait for the dead-interval: the closed connection started the probe.
    let log = rig.log(2);
    assert!(
        log.contains("death-watch: the daemon of peer node 1 exited; probing"),
        "{log}"
    );
    assert!(
        log.contains("(peer's daemon exited, probe unanswered)"),
        "{log}"
    );
    assert!(!log.contains("(peer silent, probe unanswered)"), "{log}");
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

#[test]
fn failover_when_the_master_lan_link_is_cut() {
    let rig = Rig::new().started_pair();
    rig.sw.ns.ip(&["link", "set", &rig.a_port, "down"]);
    rig.wait_roles("Backup", "Master", Duration::from_secs(3));
    assert!(rig.log(1).contains("link lan0 down"), "{}", rig.log(1));
    assert!(rig.log(2).contains("(health)"), "{}", rig.log(2));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    assert_eq!(rig.pids(1, "pikemon: worker vc1=PBD").len(), 1);
}

#[test]
fn failover_when_the_gateway_stops_answering_the_master() {
    let rig = Rig::new().started_pair();
    // The gateway stops answering A only (its replies to A are prohibited).
    rig.gw.ip(&["route", "add", "prohibit", "198.51.100.2/32"]);
    rig.wait_roles("Backup", "Master", Duration::from_secs(5));
    assert!(rig.log(1).contains("health Down"), "{}", rig.log(1));
    let out = rig.control(1, &["status"]);
    assert!(
        text(&out)
            .0
            .contains("host 198.51.100.1 addr 198.51.100.1 down"),
        "{out:?}"
    );
}

#[test]
fn no_failover_when_one_of_two_heart_beat_paths_is_cut() {
    let rig = Rig::new().started_pair();
    rig.a.ip(&["link", "set", "hb1", "down"]);
    std::thread::sleep(Duration::from_millis(1500));
    rig.assert_roles("Master", "Backup");
    let paths = std::fs::read_to_string(rig.dir.join("paths2")).unwrap();
    assert!(
        paths.contains("path hb0 ring 0 local 203.0.113.2 peer 1 state UP"),
        "{paths}"
    );
    assert!(
        paths.contains("path hb1 ring 1 local - peer 1 state FAULTY"),
        "{paths}"
    );
    assert!(
        rig.log(2).contains("heart-beat path hb1 FAULTY"),
        "{}",
        rig.log(2)
    );
}

#[test]
fn all_paths_silent_but_the_master_answers_arp_no_second_master() {
    let rig = Rig::new().started_pair();
    // Both heart-beat links cut and every PIKE frame dropped by the LAN switch (nftables on
    // the bridge), while ARP still passes: B hears nothing, probes the VIP, A's daemon
    // answers from the virtual MAC, and B stays Backup.
    rig.a.ip(&["link", "set", "hb0", "down"]);
    rig.a.ip(&["link", "set", "hb1", "down"]);
    rig.switch_rules(
        "drop-pike.nft",
        "table bridge pikef {\n chain fw {\n  type filter hook forward priority 0;\n  ether type 0x88b5 drop\n }\n}\n",
    );
    std::thread::sleep(Duration::from_millis(1500));
    // B probes again every dead-interval (each time answered): it may be caught Probing.
    rig.wait_roles("Master", "Backup", Duration::from_secs(2));
    assert!(!rig.macvlan_up(2));
    let log = rig.log(2);
    assert!(log.contains("peer silent, ARP-probing the VIPs"), "{log}");
    assert!(
        log.contains("VIP answered from the virtual MAC elsewhere; staying Backup"),
        "{log}"
    );
    assert!(!log.contains("=> Master"), "{log}");
}

#[test]
fn healed_lan_partition_settles_to_one_master_on_the_lan_alone() {
    let rig = Rig::without_death_watch().started_pair();
    // A full partition: both heart-beat links down and the switch drops everything between
    // A's and B's ports (each still reaches the client and the gateway). B's probe goes
    // unanswered, so both become Master.
    for hb in ["hb0", "hb1"] {
        rig.a.ip(&["link", "set", hb, "down"]);
    }
    let (pa, pb) = (&rig.a_port, &rig.b_port);
    rig.switch_rules(
        "partition.nft",
        &format!(
            "table bridge part {{\n chain fw {{\n  type filter hook forward priority 0;\n  \
             iifname \"{pa}\" oifname \"{pb}\" drop\n  iifname \"{pb}\" oifname \"{pa}\" drop\n }}\n}}\n"
        ),
    );
    rig.wait_roles("Master", "Master", Duration::from_secs(5));
    // Only the LAN heals; the heart-beat stays down. Each Master sends its LAN HELLOs from
    // the shared virtual MAC, which the other's macvlan would swallow: they must still hear
    // each other there and settle within about a dead-interval (300 ms).
    let out = rig.sw.ns.run(&["nft", "delete", "table", "bridge", "part"]);
    assert!(out.status.success(), "{out:?}");
    let healed = Instant::now();
    rig.wait_roles("Master", "Backup", Duration::from_secs(2));
    let settled = healed.elapsed();
    assert!(!rig.macvlan_up(2));
    // The winner's frames and GARPs point the switch and the client back at it.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        rig.switch_port_of(VMAC).as_deref(),
        Some(rig.a_port.as_str())
    );
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    let ok = rig
        .client
        .run(&["ping", "-c", "3", "-i", "0.2", "-W", "1", VIP]);
    assert!(ok.status.success(), "{ok:?}");
    eprintln!("two Masters settled {settled:?} after the LAN healed");
}

#[test]
fn hooks_run_one_at_a_time_in_transition_order_and_stop_runs_last() {
    let mut rig = Rig::without_death_watch();
    // A slow notify-master on A (a conntrackd commit that takes a second), a drop right
    // after it started: the Backup hook must run after it, never beside or before it.
    let d = rig.dir.display().to_string();
    let cfg = std::fs::read_to_string(rig.cfg(1)).unwrap().replace(
        &format!("notify-master \"echo master >> {d}/notify1\";"),
        &format!(
            "notify-master \"sleep 1; echo \\\"$2 $1 $PIKEMON_REASON\\\" >> {d}/notify1\";\n\
             notify-stop \"echo \\\"$PIKEMON_ROLE $PIKEMON_VC\\\" >> {d}/notify1\";\n\
             notify-timeout 5s;"
        ),
    );
    std::fs::write(rig.cfg(1), cfg).unwrap();
    rig.start(1);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    let out = rig.control(1, &["drop"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_roles("Backup", "Master", Duration::from_secs(2));
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-TERM");
    let notify = rig.dir.join("notify1");
    let start = Instant::now();
    while !std::fs::read_to_string(&notify)
        .unwrap_or_default()
        .contains("STOP")
    {
        assert!(start.elapsed() < Duration::from_secs(5), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read_to_string(&notify).unwrap(),
        "MASTER LAN primary\nbackup\nSTOP LAN\n"
    );
}

#[test]
fn failed_takeover_is_reported_retried_and_handed_to_a_healthy_peer() {
    let mut rig = Rig::without_death_watch().started_pair();
    // On B, a stray macvlan (an operator's leftover) is up with the virtual MAC: B's own
    // cannot come up when it takes over (EADDRINUSE).
    rig.b.ip(&["link", "del", "pk1-lan0"]);
    rig.b.ip(&[
        "link", "add", "link", "lan0", "name", "stray", "address", VMAC, "type", "macvlan",
    ]);
    rig.b.ip(&["link", "set", "stray", "up"]);
    rig.signal(&rig.pids(1, "pikemon"), "-KILL");
    // B never reports Master without the addresses: it says Failed, and why.
    rig.wait_role(2, "Failed", Duration::from_secs(3));
    let (so, _) = text(&rig.control(2, &["status"]));
    assert!(so.contains("  takeover failed: lan0: "), "{so}");
    let (json, _) = text(&rig.control(2, &["status", "-j"]));
    assert!(json.contains("\"role\":\"Failed\""), "{json}");
    assert!(json.contains("\"takeover_error\":\"lan0: "), "{json}");
    // A healthy peer comes back: it gets the virtual cluster, although not preemptive.
    rig.start(1);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    // Without a peer, the retry succeeds once the stray macvlan is gone.
    rig.signal(&rig.pids(1, "pikemon"), "-KILL");
    rig.wait_roles("unreachable", "Failed", Duration::from_secs(3));
    rig.b.ip(&["link", "del", "stray"]);
    rig.wait_roles("unreachable", "Master", Duration::from_secs(3));
    assert!(
        rig.log(2).contains("takeover succeeded on retry"),
        "{}",
        rig.log(2)
    );
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

/// A release made again the macvlan an operator had deleted from the Master, without its
/// sysctls, and handed its index to the next takeover, which no longer looks the macvlan up
/// nor sets them: the macvlan came up with the kernel's `arp_ignore` 0, so the kernel
/// answered ARP for the VIP from the virtual MAC, also from a node whose pikemon had died.
#[test]
fn macvlan_made_again_by_a_release_came_up_at_the_next_takeover_without_its_sysctls() {
    let rig = Rig::new().started_pair();
    let arp_ignore = || {
        let out = rig
            .a
            .run(&["cat", "/proc/sys/net/ipv4/conf/pk1-lan0/arp_ignore"]);
        text(&out).0.trim().to_string()
    };
    assert_eq!(arp_ignore(), "8");
    rig.a.ip(&["link", "del", "pk1-lan0"]);
    let out = rig.control(1, &["drop"]);
    assert!(out.status.success(), "{out:?}\n{}", rig.log(1));
    rig.wait_roles("Backup", "Master", Duration::from_secs(5));
    let out = rig.control(1, &["take"]);
    assert!(out.status.success(), "{out:?}\n{}", rig.log(1));
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    assert_eq!(arp_ignore(), "8", "{}", rig.log(1));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

/// How often process `pid` went to sleep of its own accord (its wake-ups):
/// `voluntary_ctxt_switches` of /proc/PID/status.
fn wakeups(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .filter_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .filter_map(|v| v.trim().parse::<u64>().ok())
        .sum::<u64>()
}

/// A client pinging the VIP woke the Master's worker (SCHED_FIFO with `realtime`) once per
/// echo request: the ping groups' raw ICMP socket took every ICMP message of the host. In
/// the appliance's one-vCPU guest a client's 200 pings a second kept the new master's worker
/// at a third of the CPU for seconds after a takeover, and its echo replies waited behind it.
/// The socket's filter (ICMP_FILTER) passes echo replies and errors only.
#[test]
fn echo_requests_to_the_vip_woke_the_masters_worker_once_each() {
    let rig = Rig::new().started_pair();
    let worker = rig.pids(1, "pikemon: worker");
    assert_eq!(worker.len(), 1, "{worker:?}");
    let wakeups = || wakeups(worker[0]);
    // The same 2 s without and with 1000 echo requests to the VIP.
    let t0 = wakeups();
    std::thread::sleep(Duration::from_secs(2));
    let idle = wakeups() - t0;
    let t1 = wakeups();
    let out = rig
        .client
        .run(&["ping", "-q", "-i", "0.002", "-c", "1000", "-W", "1", VIP]);
    let pinged = wakeups() - t1;
    let (so, _) = text(&out);
    assert!(so.contains("1000 received"), "{so}");
    assert!(
        pinged < idle + 200,
        "the worker woke {pinged} times while 1000 echo requests came, {idle} in 2 s without"
    );
}

/// A host on the LAN ARPing for other hosts woke both workers once per frame, through
/// their controlled interface's ARP tap (SCHED_FIFO with `realtime`: an ARP storm kept
/// them busy). 1000 requests for an address that is no VIP, from a host of the LAN, at
/// 2 ms: neither worker wakes for them now. The Master still answers ARP for the VIP.
#[test]
fn arp_requests_for_other_hosts_woke_both_workers_once_each() {
    let rig = Rig::new().started_pair();
    let evil = Netns::new("e");
    rig.sw.attach(&evil, "lan0");
    let workers = [
        rig.pids(1, "pikemon: worker"),
        rig.pids(2, "pikemon: worker"),
    ];
    assert!(workers.iter().all(|w| w.len() == 1), "{workers:?}");
    let both = || [wakeups(workers[0][0]), wakeups(workers[1][0])];
    let t0 = both();
    std::thread::sleep(Duration::from_secs(2));
    let t1 = both();
    let storm = "import socket,time\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n\
         s.bind(('lan0',0))\n\
         me=s.getsockname()[4]\n\
         f=b'\\xff'*6+me+bytes([8,6,0,1,8,0,6,4,0,1])+me+bytes([198,51,100,66])+bytes(6)+bytes([198,51,100,77])\n\
         for i in range(1000):\n\
         \x20   s.send(f)\n\
         \x20   time.sleep(0.002)\n";
    let out = evil.run(&["python3", "-c", storm]);
    assert!(out.status.success(), "{out:?}");
    let t2 = both();
    for n in 0..2 {
        let (idle, stormed) = (t1[n] - t0[n], t2[n] - t1[n]);
        assert!(
            stormed < idle + 200,
            "worker of node {}: woke {stormed} times while 1000 ARP requests for another \
             host came, {idle} in 2 s without",
            n + 1
        );
    }
    // The VIP is still answered: the client's kernel asks for it again.
    let out = rig.client.run(&["ip", "neigh", "flush", "all"]);
    assert!(out.status.success(), "{out:?}");
    let out = rig.client.run(&["ping", "-c", "1", "-W", "2", VIP]);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn realtime_runs_the_worker_sched_fifo_with_memory_locked_and_its_hooks_normal() {
    let mut rig = Rig::new();
    let d = rig.dir.display().to_string();
    let cfg = std::fs::read_to_string(rig.cfg(1))
        .unwrap()
        .replace(
            "garp-interval 20ms;",
            "garp-interval 20ms;\n    realtime 10;",
        )
        .replace(
            &format!("notify-master \"echo master >> {d}/notify1\";"),
            &format!("notify-master \"chrt -p $$ > {d}/hook-sched\";"),
        );
    std::fs::write(rig.cfg(1), cfg).unwrap();
    let rig = {
        rig.start(1);
        rig.start(2);
        rig.wait_roles("Master", "Backup", Duration::from_secs(5));
        rig
    };
    let worker = rig.pids(1, "pikemon: worker");
    assert_eq!(worker.len(), 1, "{worker:?}");
    let out = Command::new("chrt")
        .args(["-p", &worker[0].to_string()])
        .output()
        .unwrap();
    let (so, _) = text(&out);
    assert!(
        so.contains("SCHED_FIFO|SCHED_RESET_ON_FORK"),
        "{so}\n{}",
        rig.log(1)
    );
    assert!(so.contains("priority: 10"), "{so}");
    let status = std::fs::read_to_string(format!("/proc/{}/status", worker[0])).unwrap();
    let locked: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(locked > 0, "{status}");
    // The supervisor that restarts it too (a starved one would restart it too late).
    let supervisor = rig.pids(1, "pikemon: supervisor");
    assert_eq!(supervisor.len(), 1, "{supervisor:?}");
    let out = Command::new("chrt")
        .args(["-p", &supervisor[0].to_string()])
        .output()
        .unwrap();
    let (so, _) = text(&out);
    assert!(so.contains("SCHED_FIFO"), "supervisor: {so}");
    assert!(so.contains("priority: 10"), "supervisor: {so}");
    // The hooks it forks run with the normal policy.
    let hook = rig.dir.join("hook-sched");
    let start = Instant::now();
    while std::fs::read_to_string(&hook)
        .unwrap_or_default()
        .is_empty()
    {
        assert!(start.elapsed() < Duration::from_secs(3));
        std::thread::sleep(Duration::from_millis(20));
    }
    let hook = std::fs::read_to_string(&hook).unwrap();
    assert!(hook.contains("SCHED_OTHER"), "{hook}");
    // B runs without the item: normal scheduling.
    let b = rig.pids(2, "pikemon: worker");
    let out = Command::new("chrt")
        .args(["-p", &b[0].to_string()])
        .output()
        .unwrap();
    assert!(text(&out).0.contains("SCHED_OTHER"), "{out:?}");
}

#[test]
fn heart_beat_carrier_loss_moves_nothing_with_a_live_master_and_takes_over_a_dead_one() {
    let rig = Rig::without_death_watch().started_pair();
    // A pulls its end of hb0: B's end loses its carrier, B probes, A answers.
    rig.a.ip(&["link", "set", "hb0", "down"]);
    rig.wait_log(
        2,
        "VIP answered from the virtual MAC elsewhere",
        Duration::from_secs(3),
    );
    assert!(
        rig.log(2).contains("heart-beat link hb0 lost its carrier"),
        "{}",
        rig.log(2)
    );
    rig.wait_roles("Master", "Backup", Duration::from_secs(2));
    // The machine dies: its daemon stops and its other cable goes dark at once. B does not
    // wait for the dead-interval: the carrier loss starts the probe.
    rig.kill_daemon(1);
    rig.a.ip(&["link", "set", "hb1", "down"]);
    rig.wait_role(2, "Master", Duration::from_secs(3));
    let log = rig.log(2);
    assert!(
        log.contains("(heart-beat carrier lost, probe unanswered)"),
        "{log}"
    );
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

#[test]
fn config_drift_of_one_vip_is_shown_on_both_nodes_and_moves_no_role() {
    let mut rig = Rig::new();
    let cfg = std::fs::read_to_string(rig.cfg(2))
        .unwrap()
        .replace(&format!("ipv4 [{VIP}]/24;"), "ipv4 [198.51.100.11]/24;");
    std::fs::write(rig.cfg(2), cfg).unwrap();
    let rig = {
        rig.start(1);
        rig.start(2);
        rig.wait_roles("Master", "Backup", Duration::from_secs(5));
        rig
    };
    for node in [1, 2] {
        let start = Instant::now();
        loop {
            let (so, _) = text(&rig.control(node, &["status"]));
            let paths =
                std::fs::read_to_string(rig.dir.join(format!("paths{node}"))).unwrap_or_default();
            if so.contains("  config drift: digest ") && paths.contains("config LAN drift digest ")
            {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(3), "{so}\n{paths}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let (json, _) = text(&rig.control(node, &["status", "-j"]));
        assert!(json.contains("\"config_drift\":\""), "{json}");
        let log = rig.log(node);
        assert_eq!(
            log.matches("configuration differs from the peer's").count(),
            1,
            "logged once\n{log}"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    rig.assert_roles("Master", "Backup");
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
}

#[test]
fn notify_fifo_streams_every_transition_in_order() {
    let mut rig = Rig::without_death_watch();
    let fifo = rig.dir.join("events1");
    let cfg = std::fs::read_to_string(rig.cfg(1)).unwrap().replace(
        "garp-interval 20ms;",
        &format!(
            "garp-interval 20ms;\n    notify-fifo \"{}\";",
            fifo.display()
        ),
    );
    std::fs::write(rig.cfg(1), cfg).unwrap();
    // A reader that is there before pikemon (as a monitoring script would be).
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let log = rig.dir.join("events1.log");
    let reader = Command::new("sh")
        .arg("-c")
        .arg(format!("cat '{}' > '{}'", fifo.display(), log.display()))
        .spawn()
        .unwrap();
    rig.kids.push(reader);
    rig.start(1);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    let out = rig.control(1, &["drop"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_roles("Backup", "Master", Duration::from_secs(2));
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-TERM");
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("STOP")
    {
        assert!(start.elapsed() < Duration::from_secs(5), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(50));
    }
    let events = std::fs::read_to_string(&log).unwrap();
    let kinds: Vec<&str> = events
        .lines()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .map(|l| match l.as_str() {
            "VC LAN MASTER" => "MASTER",
            "VC LAN BACKUP" => "BACKUP",
            "VC LAN STOP" => "STOP",
            _ => "?",
        })
        .collect();
    assert_eq!(kinds, ["MASTER", "BACKUP", "STOP"], "{events}");
    assert!(events.starts_with("VC LAN MASTER primary\n"), "{events}");
}

#[test]
fn maintenance_hands_over_survives_a_restart_and_ends_with_off() {
    let mut rig = Rig::new().started_pair();
    let out = rig.control(1, &["maintenance", "on"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out).0, "vc LAN maintenance on: Backup\n");
    rig.wait_roles("Backup", "Master", Duration::from_secs(5));
    let (a, _) = text(&rig.control(1, &["status"]));
    assert!(a.contains("  maintenance: on"), "{a}");
    let (b, _) = text(&rig.control(2, &["status"]));
    assert!(b.contains("  peer: in maintenance"), "{b}");
    // A restart of A's daemon (as after a reboot with its status file) keeps it Backup,
    // although it is the primary and B could be preempted.
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-TERM");
    let start = Instant::now();
    while !rig.pids(1, "pikemon").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(20));
    }
    rig.start(1);
    std::thread::sleep(Duration::from_millis(1000));
    rig.assert_roles("Backup", "Master");
    let (json, _) = text(&rig.control(1, &["status", "-j"]));
    assert!(json.contains("\"maintenance\":true"), "{json}");
    // Not even a dead peer moves it.
    rig.kill_daemon(2);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(rig.role(1), "Backup");
    // Off: A takes over.
    let out = rig.control(1, &["maintenance", "off"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_role(1, "Master", Duration::from_secs(3));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

/// `-c maintenance on LAN`, as the usage and the README write it, was refused as "unknown
/// argument 'LAN'" (exit 2): the option parser took one word after the command. And
/// `-c take "$VC"` with VC unset or empty took every virtual cluster: the empty name
/// vanished when the words were joined and split again.
#[test]
fn maintenance_on_a_named_vc_was_refused_and_take_of_an_empty_name_took_every_vc() {
    let rig = Rig::new().started_pair();
    let out = rig.control(2, &["take", ""]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        text(&out)
            .1
            .starts_with("pikemon: -c: an empty argument in 'take '\n"),
        "{out:?}"
    );
    let out = rig.control(2, &["drop", " "]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    std::thread::sleep(Duration::from_millis(300));
    rig.assert_roles("Master", "Backup");
    assert!(!rig.log(2).contains("control:"), "{}", rig.log(2));
    let out = rig.control(1, &["maintenance", "on", "LAN"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out).0, "vc LAN maintenance on: Backup\n");
    rig.wait_roles("Backup", "Master", Duration::from_secs(5));
    let out = rig.control(1, &["maintenance", "off", "1"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out).0, "vc LAN maintenance off: Backup\n");
    let out = rig.control(1, &["maintenance", "on", "DMZ"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(text(&out).1, "pikemon: refused: no virtual-cluster 'DMZ'\n");
}

#[test]
fn track_file_saying_not_zero_makes_the_master_down_and_hands_over() {
    let mut rig = Rig::new();
    let ok = rig.dir.join("ok1");
    std::fs::write(&ok, "0\n").unwrap();
    let cfg = std::fs::read_to_string(rig.cfg(1)).unwrap().replace(
        "ping-group LO {",
        &format!(
            "track-file \"{}\" interval 100ms fall 1 rise 1;\n        ping-group LO {{",
            ok.display()
        ),
    );
    std::fs::write(rig.cfg(1), cfg).unwrap();
    rig.start(1);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    // What the operator's watchdog writes when the firewall's own check fails.
    std::fs::write(&ok, "1\n").unwrap();
    rig.wait_roles("Backup", "Master", Duration::from_secs(5));
    let (so, _) = text(&rig.control(1, &["status"]));
    assert!(
        so.contains(&format!("  track-file {} Down", ok.display())),
        "{so}"
    );
    let (json, _) = text(&rig.control(1, &["status", "-j"]));
    assert!(json.contains("\"item\":\"track-file\""), "{json}");
    assert!(json.contains("\"up\":false}"), "{json}");
    assert!(rig.log(2).contains("(health)"), "{}", rig.log(2));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

#[test]
fn weighted_track_failing_hands_the_role_to_the_peer_with_the_lower_penalty() {
    let mut rig = Rig::new();
    let mut flags = Vec::new();
    for n in [1, 2] {
        let ok = rig.dir.join(format!("weighted{n}"));
        std::fs::write(&ok, "0\n").unwrap();
        let cfg = std::fs::read_to_string(rig.cfg(n)).unwrap().replace(
            "ping-group LO {",
            &format!(
                "track-file \"{}\" interval 100ms fall 1 rise 1 weight 50;\n        ping-group LO {{",
                ok.display()
            ),
        );
        std::fs::write(rig.cfg(n), cfg).unwrap();
        flags.push(ok);
    }
    rig.start(1);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    // A's weighted witness fails: A stays healthy but hands over to B (penalty 50 > 0).
    std::fs::write(&flags[0], "1\n").unwrap();
    rig.wait_roles("Backup", "Master", Duration::from_secs(3));
    let (so, _) = text(&rig.control(1, &["status"]));
    assert!(so.contains(" role Backup health Up "), "{so}");
    assert!(
        so.contains(&format!(
            "  track-file {} Down (weight 50)",
            flags[0].display()
        )),
        "{so}"
    );
    assert!(
        so.contains("  penalty 50 (failing weighted witnesses)"),
        "{so}"
    );
    let (json, _) = text(&rig.control(1, &["status", "-j"]));
    assert!(json.contains("\"penalty\":50,"), "{json}");
    assert!(json.contains("\"weight\":50,\"up\":false}"), "{json}");
    assert!(rig.log(2).contains("(lower penalty)"), "{}", rig.log(2));
    // B's fails too: equal penalties, the master keeps the role.
    std::fs::write(&flags[1], "1\n").unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    rig.assert_roles("Backup", "Master");
    // A's answers again: A has the lower penalty and takes the role back.
    std::fs::write(&flags[0], "0\n").unwrap();
    rig.wait_roles("Master", "Backup", Duration::from_secs(3));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

#[test]
fn take_and_drop() {
    let rig = Rig::new().started_pair();
    let out = rig.control(1, &["drop"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text(&out).0, "vc LAN Drop: Backup\n");
    rig.wait_roles("Backup", "Master", Duration::from_secs(2));
    let start = Instant::now();
    while rig.macvlan_up(1) {
        assert!(start.elapsed() < Duration::from_secs(2), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        rig.log(1)
            .contains("vc LAN: the peer's addresses are up; ours released"),
        "{}",
        rig.log(1)
    );
    let out = rig.control(1, &["take", "LAN"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_roles("Master", "Backup", Duration::from_secs(2));
    let out = rig.control(1, &["take", "DMZ"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out).1, "pikemon: refused: no virtual-cluster 'DMZ'\n");
    // Without a peer, drop is refused.
    rig.signal(&rig.pids(2, "pikemon"), "-KILL");
    std::thread::sleep(Duration::from_millis(600));
    let out = rig.control(1, &["drop"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out).1.contains("no healthy peer"), "{out:?}");
    assert_eq!(rig.role(1), "Master");
    // A daemon that does not run: exit 3.
    let out = rig.control(2, &["status"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}

/// The worker wrote its status and paths files (write, fsync of the file and of its
/// directory) in its loop. On a busy disk one fsync took 0.9 s here (`stress-ng --hdd 3`
/// beside it), and a worker waiting for it sent no HELLO and no sign of life: its watchdog
/// killed healthy workers while other builds wrote to the disk. The loop's thread now makes
/// no sync call at all; a writer thread does, and the file still follows the role.
#[test]
fn worker_waited_for_the_disk_in_its_loop_writing_the_status_file() {
    let rig = Rig::new().started_pair();
    let worker = rig.pids(1, "pikemon: worker");
    assert_eq!(worker.len(), 1, "{worker:?}");
    let trace = rig.dir.join("loop.strace");
    // The main thread only (its tid is the pid): the loop.
    let strace = Command::new("strace")
        .args([
            "-q",
            "-e",
            "trace=fsync,fdatasync,sync_file_range,syncfs,sync",
        ])
        .args(["-o", &trace.display().to_string()])
        .args(["-p", &worker[0].to_string()])
        .spawn()
        .expect("strace (installed by make test)");
    std::thread::sleep(Duration::from_millis(500));
    let status = rig.dir.join("status1");
    let before = std::fs::read_to_string(&status).unwrap_or_default();
    let out = rig.control(1, &["drop"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_roles("Backup", "Master", Duration::from_secs(2));
    let start = Instant::now();
    while std::fs::read_to_string(&status).unwrap_or_default() == before {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the status file was never rewritten\n{}",
            rig.log(1)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = rig.control(1, &["take"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_roles("Master", "Backup", Duration::from_secs(2));
    rig.signal(&[strace.id() as i32], "-INT");
    let _ = strace.wait_with_output();
    let calls = std::fs::read_to_string(&trace).unwrap_or_default();
    assert!(
        !calls.contains("sync"),
        "the worker's loop waited for the disk:\n{calls}"
    );
}

/// `-c take` on the Backup printed "vc LAN Take: Backup" with exit 0 (the role right after
/// the order, before the peer had yielded), and a script took it for a failed take. The
/// answer now comes once the order has taken effect: Master with the addresses up.
#[test]
fn take_on_the_backup_printed_backup_before_the_peer_yielded() {
    let rig = Rig::new().started_pair();
    let out = rig.control(2, &["take"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out).0, "vc LAN Take: Master\n");
    // At once, without waiting: B serves, A has let go.
    assert!(rig.macvlan_up(2), "{}", rig.log(2));
    rig.assert_roles("Backup", "Master");
    let out = rig.control(2, &["drop", "LAN"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out).0, "vc LAN Drop: Backup\n");
    assert!(!rig.macvlan_up(2), "{}", rig.log(2));
    rig.assert_roles("Master", "Backup");
}

/// An order accepted that cannot take effect (B's takeover fails: a stray macvlan holds
/// the virtual MAC) is answered after two dead-intervals with the role as it is, exit 4.
#[test]
fn take_that_cannot_take_effect_is_answered_as_pending_with_exit_4() {
    let rig = Rig::new().started_pair();
    rig.b.ip(&["link", "del", "pk1-lan0"]);
    rig.b.ip(&[
        "link", "add", "link", "lan0", "name", "stray", "address", VMAC, "type", "macvlan",
    ]);
    rig.b.ip(&["link", "set", "stray", "up"]);
    let start = Instant::now();
    let out = rig.control(2, &["take"]);
    let waited = start.elapsed();
    assert_eq!(out.status.code(), Some(4), "{out:?}\n{}", rig.log(2));
    let (so, _) = text(&out);
    assert!(so.starts_with("vc LAN Take: "), "{so}");
    assert!(
        so.ends_with(
            " (ordered, not Master with its addresses up within 600ms; the order stands)\n"
        ),
        "{so}"
    );
    assert!(waited >= Duration::from_millis(600), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

/// `take` on both nodes: the second was answered "Take: Backup" with exit 0 and never
/// happened (the two standing orders cancel out, the current master keeps the role); the
/// same for `drop` on both. Now the order that would do nothing is refused, exit 1, with
/// what to do instead.
#[test]
fn take_on_both_nodes_was_accepted_and_ignored_on_the_second() {
    let rig = Rig::new().started_pair();
    let out = rig.control(2, &["take"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_roles("Backup", "Master", Duration::from_secs(3));
    let out = rig.control(1, &["take", "LAN"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        text(&out).1,
        "pikemon: refused: vc LAN: the peer holds a take order of its own: give it drop there first\n"
    );
    // As told: drop there; then A's take is accepted (and A is Master already).
    let out = rig.control(2, &["drop"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_roles("Master", "Backup", Duration::from_secs(3));
    let out = rig.control(1, &["drop"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        text(&out).1,
        "pikemon: refused: vc LAN: the peer holds a drop order of its own: give it take there instead\n"
    );
    std::thread::sleep(Duration::from_millis(300));
    rig.assert_roles("Master", "Backup");
    let out = rig.control(2, &["take"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_roles("Backup", "Master", Duration::from_secs(3));
}

#[test]
fn sigterm_hands_over_at_once_with_goodbye() {
    let rig = Rig::new().started_pair();
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-TERM");
    rig.wait_role(2, "Master", Duration::from_secs(3));
    assert!(rig.log(2).contains("(peer said GOODBYE)"), "{}", rig.log(2));
    let start = Instant::now();
    while !rig.pids(1, "pikemon").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(3));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!rig.macvlan_up(1));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    // Make-before-break: A let its addresses go only once B reported its own up.
    let log = rig.log(1);
    assert!(
        log.contains("vc LAN: Backup (shutdown); addresses kept until the peer's are up"),
        "{log}"
    );
    assert!(
        log.contains("vc LAN: the peer's addresses are up; ours released"),
        "{log}"
    );
    let notify = std::fs::read_to_string(rig.dir.join("notify1")).unwrap_or_default();
    assert_eq!(
        notify, "master\nbackup\n",
        "one notify each, backup after the release"
    );
    // Nothing left behind: the control socket went with the daemon.
    assert!(!rig.dir.join("ctl1").exists());
}

/// "TERM/INT/QUIT drop Master (GOODBYE) and exit": Ctrl-C on a `pikemon -d` in a terminal
/// (SIGINT to its whole process group at once: supervisor, worker and ACR) and SIGQUIT to
/// the supervisor (whose default action would dump core) each hand the role over on the
/// GOODBYE, not a dead-interval later, and every pikemon process exits 0 with no restart.
#[test]
fn ctrl_c_on_a_foreground_master_or_sigquit_hands_over_with_goodbye_and_exits_0() {
    use std::os::unix::process::CommandExt;
    let mut rig = Rig::new();
    let fg = |rig: &Rig| {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(rig.dir.join("log1"))
            .unwrap();
        rig.ns(1)
            .cmd(applet("pikemon"))
            .args(["-f", &rig.cfg(1), "-d"])
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    };
    let mut a = fg(&rig);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    for (starts, (sig, whole_group)) in (1..).zip([("-INT", true), ("-QUIT", false)]) {
        let pids = rig.pids(1, "pikemon");
        assert!(pids.len() >= 3, "supervisor, worker, acr: {pids:?}");
        let target = if whole_group {
            format!("-{}", a.id())
        } else {
            rig.pids(1, "pikemon: supervisor")[0].to_string()
        };
        let said = rig.log(2).matches("=> Master (peer said GOODBYE)").count();
        let sent = Instant::now();
        let _ = Command::new("kill").args([sig, "--", &target]).status();
        rig.wait_role(2, "Master", Duration::from_secs(3));
        let took = sent.elapsed();
        eprintln!("{sig}: B Master after {took:?}");
        assert_eq!(
            rig.log(2).matches("=> Master (peer said GOODBYE)").count(),
            said + 1,
            "{sig}: B took over without the GOODBYE\n{}",
            rig.log(2)
        );
        // A dead-interval is 300 ms; the GOODBYE moves the role within a few hellos.
        assert!(took < Duration::from_millis(1500), "{sig}: {took:?}");
        let status = loop {
            if let Some(s) = a.try_wait().unwrap() {
                break s;
            }
            assert!(sent.elapsed() < Duration::from_secs(5), "{sig}: still runs");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(0), "{sig}: {status:?}\n{}", rig.log(1));
        let start = Instant::now();
        while !rig.pids(1, "pikemon").is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "{sig}: left behind"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!rig.macvlan_up(1), "{sig}");
        // One worker per start: the stopping supervisor restarted none.
        assert_eq!(
            rig.log(1).matches("worker started").count(),
            starts,
            "{}",
            rig.log(1)
        );
        assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
        // A started again and given the role back, for the next signal.
        a = fg(&rig);
        rig.wait_roles("Backup", "Master", Duration::from_secs(5));
        let out = rig.control(1, &["take"]);
        assert!(out.status.success(), "{out:?}");
        rig.wait_roles("Master", "Backup", Duration::from_secs(3));
    }
    let _ = a.kill();
    let _ = a.wait();
    rig.kids.push(a);
}

#[test]
fn worker_sigkill_is_restarted_without_a_role_change() {
    let rig = Rig::new().started_pair();
    let old = rig.pids(1, "pikemon: worker");
    assert_eq!(old.len(), 1);
    rig.signal(&old, "-KILL");
    let start = Instant::now();
    loop {
        let now = rig.pids(1, "pikemon: worker vc1=PMU");
        if now.len() == 1 && now != old {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    rig.assert_roles("Master", "Backup");
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
    assert!(
        rig.log(1).contains("resumed from status file"),
        "{}",
        rig.log(1)
    );
    assert!(rig.log(1).contains("worker exited"), "{}", rig.log(1));
}

/// SIGKILLs `node`'s worker and waits until a new one plays Master (`vc1=PMU`).
fn kill_worker_and_wait_for_master(rig: &Rig, node: u32) {
    let old = rig.pids(node, "pikemon: worker");
    assert_eq!(old.len(), 1, "{}", rig.log(node));
    rig.signal(&old, "-KILL");
    let start = Instant::now();
    loop {
        let now = rig.pids(node, "pikemon: worker vc1=PMU");
        if now.len() == 1 && now != old {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no new Master worker\n{}",
            rig.log(node)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The addresses on node 1's macvlan.
fn macvlan_addresses(rig: &Rig) -> String {
    text(&rig.a.ip(&["-br", "addr", "show", "dev", "pk1-lan0"])).0
}

/// The supervisor restarted a dead worker as `pikemon --worker -f FILE`, which read FILE
/// again: a config being edited (a typo) made every restart exit 2 and the VIP was released;
/// a valid edit made the restarted worker run another VIP and left the old one orphaned; a
/// rotated key file made it sign with a key the peer did not know yet. A restarted worker
/// now runs the config (and the key) the daemon was started with.
#[test]
fn restarted_worker_ran_the_config_edited_on_disk() {
    let rig = Rig::new();
    for n in [1, 2] {
        let key = rig.dir.join(format!("key{n}"));
        std::fs::write(&key, format!("{KEY}\n")).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let path = rig.dir.join(format!("n{n}.cfg"));
        let cfg = std::fs::read_to_string(&path).unwrap();
        let with_file = cfg.replace(
            &format!("hmac key \"{KEY}\";"),
            &format!("hmac file \"{}\";", key.display()),
        );
        assert_ne!(cfg, with_file);
        std::fs::write(&path, with_file).unwrap();
    }
    let rig = rig.started_pair();
    let path = rig.dir.join("n1.cfg");
    let started = std::fs::read_to_string(&path).unwrap();

    // An operator half-way through an edit, and a new key not yet on the peer.
    let typo = started.replace("node-id 1;", "node-ib 1;");
    assert_ne!(typo, started);
    std::fs::write(&path, typo).unwrap();
    std::fs::write(rig.dir.join("key1"), "a-new-key-the-peer-lacks\n").unwrap();
    kill_worker_and_wait_for_master(&rig, 1);
    std::thread::sleep(Duration::from_millis(500));
    rig.assert_roles("Master", "Backup");
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
    assert_eq!(
        rig.client_vip_mac().as_deref(),
        Some(VMAC),
        "{}",
        rig.log(1)
    );

    // A valid edit moving the VIP: the restarted worker keeps the one it was started with.
    let moved = started.replace(&format!("[{VIP}]/24"), "[198.51.100.11]/24");
    assert_ne!(moved, started);
    std::fs::write(&path, moved).unwrap();
    kill_worker_and_wait_for_master(&rig, 1);
    std::thread::sleep(Duration::from_millis(500));
    rig.assert_roles("Master", "Backup");
    let addrs = macvlan_addresses(&rig);
    assert!(
        addrs.contains(&format!("{VIP}/24")),
        "{addrs}\n{}",
        rig.log(1)
    );
    assert!(!addrs.contains("198.51.100.11"), "{addrs}\n{}", rig.log(1));
    assert_eq!(
        rig.client_vip_mac().as_deref(),
        Some(VMAC),
        "{}",
        rig.log(1)
    );
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
}

/// `pikemon -f NAME.cfg` from the config's directory, detached: after daemonizing (chdir /)
/// the worker opened `/NAME.cfg`, and the start failed with "the daemon exited before it was
/// ready". The path is now made absolute at start.
#[test]
fn relative_config_path_failed_a_detached_start() {
    let rig = Rig::new();
    let out = rig
        .a
        .cmd(applet("pikemon"))
        .args(["-f", "n1.cfg"])
        .current_dir(&rig.dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let st = rig.control(1, &["status"]);
    assert_eq!(st.status.code(), Some(0), "{st:?}");
    let pid = std::fs::read_to_string(rig.dir.join("pid1")).unwrap();
    rig.signal(&[pid.trim().parse().unwrap()], "-TERM");
    let start = Instant::now();
    while !rig.pids(1, "pikemon").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// At 10 ms hellos the peer declares a node dead 30 ms after its last HELLO. A restarted
/// worker used to need 51–78 ms (the dead worker's exit waited a kernel grace period per
/// packet socket, the new one bound them again), so the peer took over and handed back.
/// Now the supervisor holds the sockets: the new worker is up in a few ms.
///
/// A 30 ms budget is a matter of scheduling on a shared 2-core test host: in one full CI run
/// (2026-12-07) a restart missed it once, and 11 runs of the test alone passed. So the
/// scenario runs in up to three fresh pairs and must hold in two: a restart that is slow
/// every time (the old 51–78 ms) fails all three.
#[test]
fn worker_restart_at_10ms_hellos_came_after_the_dead_interval_and_now_moves_no_role() {
    let mut held = 0;
    let mut failures = Vec::new();
    for _ in 0..3 {
        match worker_restart_at_10ms_once() {
            Ok(()) => held += 1,
            Err(e) => failures.push(e),
        }
        if held == 2 {
            return;
        }
    }
    panic!(
        "the role moved in {} of {} restarts:\n{}",
        failures.len(),
        held + failures.len(),
        failures.join("\n----\n")
    );
}

/// One worker restart at 10 ms hellos on a fresh pair; Err with both logs if a role moved.
fn worker_restart_at_10ms_once() -> Result<(), String> {
    let rig = Rig::alone_at("10ms").started_pair();
    let old = rig.pids(1, "pikemon: worker");
    assert_eq!(old.len(), 1, "{}", rig.log(1));
    rig.signal(&old, "-KILL");
    let start = Instant::now();
    loop {
        let now = rig.pids(1, "pikemon: worker vc1=PMU");
        if now.len() == 1 && now != old {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (a, b) = (rig.log(1), rig.log(2));
    // The restarted worker took the supervisor's sockets (2 heart-beats, the LAN's PIKE and
    // ARP taps), as the first one did.
    assert_eq!(
        a.matches("4 of 4 packet socket(s) taken from the supervisor")
            .count(),
        2,
        "{a}"
    );
    // The peer may have started its early probe (it begins 7.5 ms before the dead-interval
    // ends), but the new worker's HELLOs came before the interval ended.
    let roles = (rig.role(1), rig.role(2));
    if roles != ("Master".into(), "Backup".into())
        || b.contains("=> Master")
        || a.contains("took over while we were away")
    {
        return Err(format!("roles {roles:?}\nA:\n{a}\nB:\n{b}"));
    }
    Ok(())
}

/// The supervisor judged its worker by SIGCHLD alone: a stopped (or hung) worker sent no
/// HELLO and answered no ARP probe, the peer took over, and the stopped node kept its macvlan
/// with the virtual MAC and the VIP up — two masters until the worker woke. Now the worker
/// writes to a liveness pipe and the supervisor kills one silent for a dead-interval, takes
/// the macvlan down and starts a new worker, which finds the peer Master.
#[test]
fn sigstopped_worker_kept_the_vip_up_while_the_peer_took_over() {
    let rig = Rig::new().started_pair();
    let old = rig.pids(1, "pikemon: worker");
    assert_eq!(old.len(), 1, "{}", rig.log(1));
    rig.signal(&old, "-STOP");
    let start = Instant::now();
    rig.wait_role(2, "Master", Duration::from_secs(3));
    // Dead-interval 300 ms, then the kill and the release.
    while rig.macvlan_up(1) {
        assert!(
            start.elapsed() < Duration::from_millis(1500),
            "A's macvlan still up\nA:\n{}",
            rig.log(1)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    rig.signal(&old, "-CONT");
    rig.wait_roles("Backup", "Master", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    rig.assert_roles("Backup", "Master");
    assert!(!rig.macvlan_up(1));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    let log = rig.log(1);
    assert!(log.contains("gave no sign of life"), "{log}");
    assert!(
        log.contains(
            "the worker killed for its silence is gone: addresses released (pk1-lan0 down)"
        ),
        "{log}"
    );
    assert!(!rig.log(2).contains("Master => Backup"), "{}", rig.log(2));
}

impl Rig {
    /// A's worker dies while its supervisor is stopped, and `lan0` is renamed meanwhile: the
    /// macvlan stays up with the VIP on the renamed parent, and every new worker's set-up
    /// fails ("interface lan0 does not exist") as after a vanished parent interface.
    fn kill_worker_and_rename_lan0(&self) {
        self.kill_worker_and_rename_lan0_of(1);
    }

    /// The same on `node`.
    fn kill_worker_and_rename_lan0_of(&self, node: u32) {
        let supervisor = self.pids(node, "pikemon: supervisor");
        assert_eq!(supervisor.len(), 1, "{}", self.log(node));
        self.signal(&supervisor, "-STOP");
        self.signal(&self.pids(node, "pikemon: worker"), "-KILL");
        let ns = self.ns(node);
        ns.ip(&["link", "set", "lan0", "down"]);
        ns.ip(&["link", "set", "lan0", "name", "lan7"]);
        ns.ip(&["link", "set", "lan7", "up"]);
        assert!(self.macvlan_up(node), "the stale macvlan is up");
        self.signal(&supervisor, "-CONT");
    }
}

/// TERM to the supervisor while its worker waited out the restart back-off: the supervisor
/// exited and nobody released the addresses; the macvlan and the VIP stayed up for good.
#[test]
fn term_during_the_restart_back_off_left_the_vips_up() {
    let mut rig = Rig::new();
    // A long dead-interval: the release at stop, not the one for a worker long gone.
    let path = rig.dir.join("n1.cfg");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(
            "hello-interval 100ms;",
            "hello-interval 100ms; dead-interval 10s;",
        ),
    )
    .unwrap();
    let rig = {
        rig.start(1);
        rig.start(2);
        rig.wait_roles("Master", "Backup", Duration::from_secs(5));
        rig
    };
    rig.kill_worker_and_rename_lan0();
    rig.wait_log(
        1,
        "worker exited (exit status: 1); restarting in",
        Duration::from_secs(5),
    );
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-TERM");
    let start = Instant::now();
    while !rig.pids(1, "pikemon").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!rig.macvlan_up(1), "{}", rig.log(1));
    let log = rig.log(1);
    assert!(
        log.contains(
            "stopping without a worker that released the addresses: addresses released (pk1-lan0 down)"
        ),
        "{log}"
    );
    rig.wait_role(2, "Master", Duration::from_secs(15));
}

/// A restarted worker whose set-up kept failing (its parent interface gone) was retried for
/// ever while the macvlan and the VIP stayed up and nobody answered the peer's probe.
#[test]
fn restarted_worker_failing_its_set_up_kept_the_vip_up_for_ever() {
    let rig = Rig::new().started_pair();
    rig.kill_worker_and_rename_lan0();
    rig.wait_role(2, "Master", Duration::from_secs(3));
    rig.wait_log(
        1,
        "no worker has been alive for the dead-interval (300 ms): addresses released (pk1-lan0 down)",
        Duration::from_secs(3),
    );
    assert!(!rig.macvlan_up(1), "{}", rig.log(1));
    // The supervisor still retries: the interface may come back.
    assert_eq!(rig.pids(1, "pikemon: supervisor").len(), 1);
    rig.a.ip(&["link", "set", "lan7", "down"]);
    rig.a.ip(&["link", "set", "lan7", "name", "lan0"]);
    rig.a.ip(&["link", "set", "lan0", "up"]);
    rig.wait_roles("Backup", "Master", Duration::from_secs(15));
    assert!(!rig.macvlan_up(1));
}

/// A worker whose spawn failed (here ENOENT: the binary moved away, as during an upgrade)
/// was logged ("cannot start the worker") and never retried: no timer was armed and no
/// SIGCHLD would come. Now the spawn is retried with the restart back-off, and meanwhile the
/// supervisor releases the addresses once no worker has been alive for a dead-interval.
#[test]
fn failed_worker_spawn_was_logged_and_never_retried() {
    let mut rig = Rig::new();
    let exe = rig.dir.join("habox");
    std::fs::copy(common::habox(), &exe).unwrap();
    std::os::unix::fs::symlink("habox", rig.dir.join("pikemon")).unwrap();
    let log = std::fs::File::create(rig.dir.join("log1")).unwrap();
    let child = rig
        .a
        .cmd(rig.dir.join("pikemon"))
        .args(["-f", &rig.cfg(1), "-d"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    rig.kids.push(child);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    let moved = rig.dir.join("habox.moved");
    std::fs::rename(&exe, &moved).unwrap();
    let old = rig.pids(1, "pikemon: worker");
    rig.signal(&old, "-KILL");
    rig.wait_log(1, "cannot start the worker", Duration::from_secs(3));
    rig.wait_log(1, "retrying the worker in", Duration::from_secs(3));
    rig.wait_role(2, "Master", Duration::from_secs(3));
    rig.wait_log(
        1,
        "no worker has been alive for the dead-interval (300 ms): addresses released",
        Duration::from_secs(3),
    );
    assert!(!rig.macvlan_up(1));
    std::fs::rename(&moved, &exe).unwrap();
    let start = Instant::now();
    loop {
        let now = rig.pids(1, "pikemon: worker");
        if now.len() == 1 && now != old {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(50));
    }
    rig.wait_roles("Backup", "Master", Duration::from_secs(5));
}

/// A first worker that died before it was set up (here SIGXFSZ at its status file) made the
/// start say it failed, while the supervisor restarted the worker for ever: pikemon ran on
/// though the start had failed. Now the supervisor stops too and nothing is left.
#[test]
fn first_worker_dead_before_it_was_set_up_left_pikemon_running_after_a_failed_start() {
    let rig = Rig::new();
    // The first worker dies by SIGXFSZ rewriting a status file longer than the limit; the
    // supervisor's own files (the config snapshot, the pid files) fit under it.
    let limit = std::fs::metadata(rig.cfg(1)).unwrap().len() + 1024;
    let reason = "x".repeat(limit as usize + 1000);
    std::fs::write(
        rig.dir.join("status1"),
        format!("boot 1\nvc 1 Backup 5 {reason}\n"),
    )
    .unwrap();
    let out = rig
        .a
        .cmd("prlimit")
        .arg(format!("--fsize={limit}"))
        .arg(applet("pikemon"))
        .args(["-f", &rig.cfg(1)])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(se.contains("exited before it was ready"), "{se}");
    let start = Instant::now();
    while !rig.pids(1, "pikemon").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "still running: {:?}",
            rig.pids(1, "pikemon")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(rig.pids(1, "pikemon").is_empty());
    assert!(!rig.dir.join("pid1").exists());
}

/// The config snapshot for the worker is a memfd, which counts against RLIMIT_FSIZE: under a
/// limit below the config, writing it would kill the daemon by SIGXFSZ without a word. The
/// daemon says why instead and exits 1, with nothing left running.
#[test]
fn file_size_limit_below_the_config_is_refused_at_start_with_the_reason() {
    let rig = Rig::new();
    let out = rig
        .a
        .cmd("prlimit")
        .arg("--fsize=10")
        .arg(applet("pikemon"))
        .args(["-f", &rig.cfg(1), "-d"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(
        se.contains("exceed the file size limit (RLIMIT_FSIZE, 10 bytes)"),
        "{se}"
    );
    assert!(rig.pids(1, "pikemon").is_empty());
    assert!(!rig.dir.join("pid1").exists());
}

/// A host on the LAN forged echo replies from a gateway that had stopped answering: the
/// worker's identifier (its pid), every sequence number of the coming seconds and the fixed
/// data the requests carried. The ping group stayed up, and the Master kept its role behind a
/// dead gateway. Each request now carries a cookie the reply must echo.
#[test]
fn forged_echo_replies_from_a_silent_gateway_kept_the_ping_group_up() {
    let rig = Rig::without_death_watch().started_pair();
    let gw_host = "host 198.51.100.1 addr 198.51.100.1";
    assert!(
        text(&rig.control(1, &["status"]))
            .0
            .contains(&format!("{gw_host} up")),
        "{:?}",
        rig.control(1, &["status"])
    );
    let worker = rig.pids(1, "pikemon: worker");
    assert_eq!(worker.len(), 1);
    rig.gw.sysctl("net.ipv4.icmp_echo_ignore_all", "1");
    // Bounded: 600 replies every 50 ms for 4 s.
    let forge = format!(
        "import socket,struct,time\n\
         def csum(b):\n\
         \x20   s=sum(struct.unpack('!%dH'%(len(b)//2),b))\n\
         \x20   s=(s>>16)+(s&0xffff)\n\
         \x20   s+=s>>16\n\
         \x20   return ~s&0xffff\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP)\n\
         end=time.time()+4\n\
         while time.time()<end:\n\
         \x20   for seq in range(600):\n\
         \x20       h=struct.pack('!BBHHH',0,0,0,{ident},seq)+b'pikemon\\0'\n\
         \x20       s.sendto(h[:2]+struct.pack('!H',csum(h))+h[4:],('198.51.100.2',0))\n\
         \x20   time.sleep(0.05)\n",
        ident = worker[0] & 0xffff
    );
    let mut forger = rig.gw.cmd("python3").args(["-c", &forge]).spawn().unwrap();
    let start = Instant::now();
    let mut status = String::new();
    while !status.contains(&format!("{gw_host} down")) && start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
        status = text(&rig.control(1, &["status"])).0;
    }
    let _ = forger.kill();
    let _ = forger.wait();
    assert!(status.contains(&format!("{gw_host} down")), "{status}");
}

#[test]
fn forged_and_replayed_frames_are_counted_and_ignored() {
    let rig = Rig::new().started_pair();
    // A third host on the LAN: captures one of A's HELLOs (node-id 1 at byte 26), then replays it and sends forged
    // HELLOs (wrong key) that claim node 1 gave up the role.
    let evil = Netns::new("e");
    rig.sw.attach(&evil, "lan0");
    let capture = evil.run(&[
        "python3",
        "-c",
        "import socket,sys\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(0x88b5))\n\
         s.bind(('lan0',0))\n\
         s.settimeout(3)\n\
         f=s.recv(2048)\n\
         while f[26:30]!=bytes([0,0,0,1]): f=s.recv(2048)\n\
         sys.stdout.write(f.hex())",
    ]);
    let frame_hex = text(&capture).0;
    assert!(frame_hex.len() > 100, "{capture:?}");
    let forged_hex = forged_goodbye_hex(1_000_000, 1, 1_000_000);
    let send = format!(
        "import socket,time\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n\
         s.bind(('lan0',0))\n\
         junk=bytes([3,0x50,0x49,0x4b,0x45,0,2,0,0,0,0,0x66,0x88,0xb5])+b'PIKX'+bytes(80)\n\
         other=bytearray.fromhex('{forged_hex}')\n\
         other[22:26]=bytes([0,0,0,9])\n\
         for i in range(20):\n\
         \x20   s.send(bytes.fromhex('{frame_hex}'))\n\
         \x20   s.send(bytes.fromhex('{forged_hex}'))\n\
         \x20   s.send(junk)\n\
         \x20   s.send(bytes(other))\n\
         \x20   time.sleep(0.02)\n"
    );
    // Also garbage of PIKE's EtherType and a frame of another cluster-id: the kernel drops
    // those before they reach the worker (socket filter), so B does not even count them.
    let out = evil.run(&["python3", "-c", &send]);
    assert!(out.status.success(), "{out:?}");
    std::thread::sleep(Duration::from_millis(300));
    rig.assert_roles("Master", "Backup");
    let counters = rig.counters(2);
    let field = |name: &str| Rig::counter(&counters, name);
    assert!(field("auth-failures") >= 20, "{counters}");
    // The first copy of the captured frame can reach B before A's own copy on the LAN path:
    // the same (boot, seq) on another path counts as path liveness, not as a replay
    // (DESIGN.md §3); every later copy is a replay.
    assert!(field("replays") >= 19, "{counters}");
    assert_eq!(field("malformed"), 0, "{counters}");
    assert_eq!(field("foreign"), 0, "{counters}");
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
    // A got its own frame back: a loop, not a second node with its node-id.
    assert!(
        !rig.log(1).contains("carries our node-id"),
        "{}",
        rig.log(1)
    );
}

/// A host on the LAN recorded A's HELLOs across its restarts and replayed those of two
/// old incarnations in turn. Each was "heard for the first time" by B, which made it what
/// its frames acknowledge and answered it at once: one HELLO, on every path, per replay
/// (about 200 a second here instead of 10). Now B, whose peer lives, answers none of them.
#[test]
fn replays_of_two_old_incarnations_in_turn_drew_a_hello_each_from_the_backup() {
    // Three SIGKILLs in a row: the supervisor restarts the worker at once, then after its
    // back-off of 100 and 200 ms (`backoff`). At the rig's 300 ms dead-interval the third
    // restart had 100 ms left to set up before B took over, which it did under load (the
    // test's premise, A's incarnations from a live Master, was lost). A dead-interval of 1 s
    // leaves the restart its back-off plus 800 ms; the hellos, which the flood counts, stay.
    let rig = Rig::new();
    for n in [1, 2] {
        rig.edit(
            n,
            "hello-interval 100ms;",
            "hello-interval 100ms; dead-interval 1s;",
        );
    }
    let rig = rig.started_pair();
    let evil = Netns::new("e");
    rig.sw.attach(&evil, "lan0");
    // One HELLO of node 1 (node-id at byte 26) of an incarnation (bytes 30..34) not in `seen`.
    let capture = |seen: &[String]| -> String {
        let seen: Vec<String> = seen.iter().map(|f| format!("'{}'", &f[60..68])).collect();
        let out = evil.run(&[
            "python3",
            "-c",
            &format!(
                "import socket,sys\n\
                 s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(0x88b5))\n\
                 s.bind(('lan0',0))\n\
                 s.settimeout(3)\n\
                 f=s.recv(2048)\n\
                 while f[26:30]!=bytes([0,0,0,1]) or f[30:34].hex() in [{}]: f=s.recv(2048)\n\
                 sys.stdout.write(f.hex())",
                seen.join(",")
            ),
        ]);
        let hex = text(&out).0;
        assert!(hex.len() > 100, "{out:?}");
        hex
    };
    let mut old: Vec<String> = Vec::new();
    for restart in 0..3 {
        old.push(capture(&old));
        kill_worker_and_wait_for_master(&rig, 1);
        let start = Instant::now();
        while rig.log(2).matches("peer node 1 (incarnation").count() < restart + 2 {
            assert!(start.elapsed() < Duration::from_secs(5), "{}", rig.log(2));
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // B now believes A's fourth incarnation and drops the third's frames as stale; the first
    // two are replayed in turn every 5 ms for a second while B's frames are counted.
    let flood = format!(
        "import socket,time\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(0x88b5))\n\
         s.bind(('lan0',0))\n\
         s.setblocking(False)\n\
         old=[bytes.fromhex('{}'),bytes.fromhex('{}')]\n\
         n=0\n\
         i=0\n\
         end=time.time()+1.0\n\
         while time.time()<end:\n\
         \x20   s.send(old[i%2])\n\
         \x20   i+=1\n\
         \x20   t=time.time()+0.005\n\
         \x20   while time.time()<t:\n\
         \x20       try:\n\
         \x20           f=s.recv(2048)\n\
         \x20       except BlockingIOError:\n\
         \x20           time.sleep(0.0005)\n\
         \x20           continue\n\
         \x20       if f[26:30]==bytes([0,0,0,2]): n+=1\n\
         print(i,n)\n",
        old[0], old[1]
    );
    let out = evil.run(&["python3", "-c", &flood]);
    assert!(out.status.success(), "{out:?}");
    let so = text(&out).0;
    let counts: Vec<u64> = so
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [sent, heard] = counts[..] else {
        panic!("{so}")
    };
    assert!(sent > 100, "{so}");
    // 100 ms hellos: about 10 a second, plus the odd answer to A's own frames.
    assert!(
        heard <= 30,
        "B sent {heard} frames on the LAN for {sent} replays"
    );
    rig.assert_roles("Master", "Backup");
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
}

/// The control socket is made 0600 only after bind(2): a local user that connected in
/// between (a daemon started with umask 0), or once the mode was loosened, was served like
/// root: status, and take/drop. The worker now asks the kernel who connected and answers
/// root only.
#[test]
fn control_socket_served_a_non_root_user_that_got_a_connection() {
    let rig = Rig::new().started_pair();
    let sock = rig.dir.join("ctl1");
    // The window, held open: the socket's mode lets anyone connect.
    std::fs::set_permissions(&sock, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let ask = |req: &str| {
        rig.a
            .cmd("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(["/usr/bin/python3", "-c"])
            .arg(format!(
                "import socket,sys\n\
                 s=socket.socket(socket.AF_UNIX,socket.SOCK_STREAM)\n\
                 s.settimeout(3)\n\
                 s.connect('{}')\n\
                 try: s.sendall(b'{req}\\n')\n\
                 except BrokenPipeError: pass\n\
                 b=b''\n\
                 while True:\n\
                 \x20   d=s.recv(4096)\n\
                 \x20   if not d: break\n\
                 \x20   b+=d\n\
                 sys.stdout.write(b.decode())",
                sock.display()
            ))
            .output()
            .unwrap()
    };
    for req in ["status", "drop"] {
        let out = ask(req);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            text(&out).0,
            "refused: the control socket answers root only\n",
            "{req}"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    rig.assert_roles("Master", "Backup");
    // Root is served as before.
    let out = rig.control(1, &["status"]);
    assert!(out.status.success(), "{out:?}");
}

/// A peer that signs with another key was only "silent" in the log (the failed frames were
/// dropped at debug level) while the Backup probed and logged four lines every
/// dead-interval. Now the failures are summed up in a warning, once per 10 s.
#[test]
fn peer_with_another_key_was_only_silent_in_the_log() {
    let mut rig = Rig::new();
    let cfg = std::fs::read_to_string(rig.cfg(2))
        .unwrap()
        .replace(KEY, "another-key-of-20-b");
    std::fs::write(rig.cfg(2), cfg).unwrap();
    rig.start(1);
    rig.start(2);
    for (node, other) in [(1, 2), (2, 1)] {
        rig.wait_log(
            node,
            &format!("failed authentication (the last claims node {other}"),
            Duration::from_secs(5),
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    for node in [1, 2] {
        let log = rig.log(node);
        assert_eq!(log.matches("failed authentication").count(), 1, "{log}");
    }
    // The probe still keeps a second Master away.
    rig.assert_roles("Master", "Backup");
}

/// A Backup that never hears its peer but whose probe is answered (here: the peer has another
/// key; also PIKE filtered on the way, or a live kernel under a dead daemon) probes again
/// every dead-interval, and logged four lines each time: about 40 a second at 100 ms hellos,
/// for as long as it lasted. The first round is logged as before, the repeats at debug level
/// with a summary at 2, 4, 8, ... rounds; the role stays Backup throughout.
#[test]
fn answered_probes_of_a_silent_peer_logged_four_lines_every_dead_interval() {
    let mut rig = Rig::new();
    let cfg = std::fs::read_to_string(rig.cfg(2))
        .unwrap()
        .replace(KEY, "another-key-of-20-b");
    std::fs::write(rig.cfg(2), cfg).unwrap();
    rig.start(1);
    rig.wait_role(1, "Master", Duration::from_secs(5));
    rig.start(2);
    rig.wait_log(2, "probes in a row; staying Backup", Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(3));
    let log = rig.log(2);
    // Over 3 s and more the probe ran about ten times; each round used to log four lines.
    let rounds = log.matches("=> Probing").count();
    assert_eq!(rounds, 1, "repeats are at debug level\n{log}");
    assert_eq!(
        log.matches("VIP answered from the virtual MAC elsewhere; staying Backup")
            .count(),
        1,
        "{log}"
    );
    let summaries = log.matches("probes in a row").count();
    assert!((1..=5).contains(&summaries), "{log}");
    assert!(
        log.lines().count() < 40,
        "{} lines\n{log}",
        log.lines().count()
    );
    // Between Backup and a probe round, never Master.
    assert!(!log.contains("=> Master"), "{log}");
    assert_ne!(rig.role(2), "Master");
    assert_eq!(rig.role(1), "Master");
}

/// Both nodes configured with node-id 1: each dropped the other's frames as its own, said
/// nothing (the drops were counted as "foreign" at debug level), and both stayed Master.
/// Now each reports the other's incarnation once, as an error, and takes it as its peer once
/// it proves alive (it acknowledges a frame of the current run, which a replay of an earlier
/// run cannot): one Master, the node with the lower incarnation.
#[test]
fn same_node_id_on_both_nodes_was_never_reported_and_both_were_master() {
    let mut rig = Rig::new();
    let cfg = std::fs::read_to_string(rig.cfg(2))
        .unwrap()
        .replace("node-id 2;", "node-id 1;");
    std::fs::write(rig.cfg(2), cfg).unwrap();
    rig.start(1);
    rig.start(2);
    for node in [1, 2] {
        rig.wait_log(
            node,
            "another node is configured with node-id 1",
            Duration::from_secs(5),
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    for node in [1, 2] {
        let log = rig.log(node);
        assert_eq!(log.matches("carries our node-id 1").count(), 1, "{log}");
    }
    // Exactly one Master, and it stays so.
    let start = Instant::now();
    let roles = loop {
        let roles = (rig.role(1), rig.role(2));
        let one = [&roles.0, &roles.1]
            .iter()
            .filter(|r| r.as_str() == "Master")
            .count()
            == 1;
        if one && roles.0 != "Probing" && roles.1 != "Probing" {
            break roles;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{roles:?}\n{}\n{}",
            rig.log(1),
            rig.log(2)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!((rig.role(1), rig.role(2)), roles);
    }
    let master = if roles.0 == "Master" { 1 } else { 2 };
    assert!(rig.macvlan_up(master) && !rig.macvlan_up(3 - master));
    assert!(
        rig.log(master)
            .contains("if it proves alive, the node with the lower incarnation"),
        "{}",
        rig.log(master)
    );
}

#[test]
fn replayed_last_hello_does_not_keep_a_dead_master_alive() {
    let rig = Rig::without_death_watch().started_pair();
    // A host on the LAN records A's HELLOs; once A falls silent (a power loss: no GOODBYE,
    // no FIN) it replays A's newest one every 20 ms for 4 s.
    let evil = Netns::new("e");
    rig.sw.attach(&evil, "lan0");
    let mut replayer = evil
        .cmd("python3")
        .args([
            "-c",
            "import socket,time\n\
             s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(0x88b5))\n\
             s.bind(('lan0',0))\n\
             s.settimeout(0.05)\n\
             last=None\n\
             seen=time.time()\n\
             while time.time()-seen<(0.15 if last else 5):\n\
             \x20   try:\n\
             \x20       f=s.recv(2048)\n\
             \x20   except socket.timeout:\n\
             \x20       continue\n\
             \x20   if f[26:30]==bytes([0,0,0,1]):\n\
             \x20       if last is None:\n\
             \x20           print('armed',flush=True)\n\
             \x20       last=f\n\
             \x20       seen=time.time()\n\
             for i in range(200):\n\
             \x20   s.send(last)\n\
             \x20   time.sleep(0.02)\n",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // A is killed once the replayer holds one of its HELLOs: a fixed 300 ms was too short
    // for python to start and hear one on a loaded host (CI: one replay counted, not 2).
    let mut armed = String::new();
    let mut out = std::io::BufReader::new(replayer.stdout.take().expect("replayer's stdout"));
    let _ = std::io::BufRead::read_line(&mut out, &mut armed);
    assert_eq!(armed.trim(), "armed", "the replayer heard no HELLO of A");
    std::thread::sleep(Duration::from_millis(100));
    rig.signal(&rig.pids(1, "pikemon"), "-KILL");
    let killed = Instant::now();
    while rig.role(2) != "Master" {
        assert!(
            killed.elapsed() < Duration::from_secs(3),
            "the replayed HELLO keeps a dead master alive\n{}",
            rig.log(2)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = killed.elapsed();
    // The replays did reach B (and were counted, not believed); B stays Master.
    let start = Instant::now();
    loop {
        let counters = rig.counters(2);
        if Rig::counter(&counters, "replays") >= 2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(6), "{counters}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rig.role(2), "Master");
    let _ = replayer.kill();
    let _ = replayer.wait();
    assert!(
        rig.log(2).contains("(peer silent, probe unanswered)"),
        "{}",
        rig.log(2)
    );
    eprintln!("B took over {took:?} after A died, with the replays going on");
}

#[test]
fn gratuitous_arps_from_the_virtual_mac_are_no_answer_to_the_probe() {
    let rig = Rig::without_death_watch().started_pair();
    // A dead master, and a host on the LAN that keeps sending the master's gratuitous ARPs
    // (request and reply, sender = target = VIP, from the virtual MAC) every 20 ms: they
    // claim the VIP but answer nobody's probe, so B must still take over.
    let evil = Netns::new("e");
    rig.sw.attach(&evil, "lan0");
    let garps = format!(
        "import socket,time\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n\
         s.bind(('lan0',0))\n\
         vmac=bytes.fromhex('{}')\n\
         vip=bytes([198,51,100,10])\n\
         def arp(op,tha): return b'\\xff'*6+vmac+bytes([8,6,0,1,8,0,6,4,0,op])+vmac+vip+tha+vip\n\
         for i in range(200):\n\
         \x20   s.send(arp(1,b'\\xff'*6))\n\
         \x20   s.send(arp(2,vmac))\n\
         \x20   time.sleep(0.02)\n",
        VMAC.replace(':', "")
    );
    rig.signal(&rig.pids(1, "pikemon"), "-KILL");
    let mut sender = evil.cmd("python3").args(["-c", &garps]).spawn().unwrap();
    let killed = Instant::now();
    while rig.role(2) != "Master" {
        assert!(
            killed.elapsed() < Duration::from_secs(3),
            "GARPs from the virtual MAC answered the probe\n{}",
            rig.log(2)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = sender.kill();
    let _ = sender.wait();
    let log = rig.log(2);
    assert!(log.contains("(peer silent, probe unanswered)"), "{log}");
}

/// A host on the LAN answered the Backup's ARP probes of a dead Master: an ARP reply for
/// the VIP naming the virtual MAC, sent from its own MAC (so the switch does not move the
/// virtual MAC to it). The Backup took that for a live Master and never took over. An answer
/// counts now only when it comes from the MAC it names.
#[test]
fn probe_answers_naming_the_virtual_mac_from_another_host_kept_a_dead_master_alive() {
    let rig = Rig::without_death_watch().started_pair();
    let evil = Netns::new("e");
    rig.sw.attach(&evil, "lan0");
    // Answers every probe for the VIP (sender 0.0.0.0) for at most 6 s.
    let answer = format!(
        "import socket,time\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(0x0806))\n\
         s.bind(('lan0',0))\n\
         s.settimeout(0.2)\n\
         me=s.getsockname()[4]\n\
         vmac=bytes.fromhex('{}')\n\
         vip=bytes([198,51,100,10])\n\
         end=time.time()+6\n\
         while time.time()<end:\n\
         \x20   try: f=s.recv(2048)\n\
         \x20   except socket.timeout: continue\n\
         \x20   if len(f)<42 or f[20:22]!=b'\\0\\1' or f[28:32]!=bytes(4) or f[38:42]!=vip: continue\n\
         \x20   asker=f[22:28]\n\
         \x20   s.send(asker+me+bytes([8,6,0,1,8,0,6,4,0,2])+vmac+vip+asker+bytes(4))\n",
        VMAC.replace(':', "")
    );
    let mut answerer = evil.cmd("python3").args(["-c", &answer]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    rig.kill_daemon(1);
    let killed = Instant::now();
    while rig.role(2) != "Master" {
        if killed.elapsed() > Duration::from_secs(3) {
            let _ = answerer.kill();
            let _ = answerer.wait();
            panic!("the forged answers kept B from taking over\n{}", rig.log(2));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = answerer.kill();
    let _ = answerer.wait();
    let log = rig.log(2);
    assert!(log.contains("(peer silent, probe unanswered)"), "{log}");
}

/// The macvlan of an IPv4-only interface ran IPv6 anyway: a link-local address of its own,
/// with duplicate address detection, router solicitations and MLD reports, all sent from the
/// virtual MAC. Such a frame from a node whose pikemon died (an MLD report answering a
/// querier) moves the virtual MAC back to it on the switch. Now IPv6 is off on such a macvlan.
#[test]
fn ipv4_only_macvlan_ran_ipv6_from_the_virtual_mac() {
    let rig = Rig::without_death_watch().started_pair();
    let n = ipv6_frames_from_the_vmac_while_b_takes_over(&rig, 3, "True");
    assert_eq!(n, "0", "IPv6 frames from the virtual MAC");
    let v6 = text(&rig.b.ip(&["-6", "addr", "show", "dev", "pk1-lan0"])).0;
    assert!(v6.trim().is_empty(), "{v6}");
}

/// How many IPv6 frames from the virtual MAC that also meet `test` (a python expression on
/// the frame `f`) a LAN host sees in `secs` seconds, while A drops the role and B's macvlan
/// comes up.
fn ipv6_frames_from_the_vmac_while_b_takes_over(rig: &Rig, secs: u32, test: &str) -> String {
    let evil = Netns::new("e");
    rig.sw.attach(&evil, "lan0");
    let count = format!(
        "import socket,time\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(0x86dd))\n\
         s.bind(('lan0',0))\n\
         s.settimeout(0.2)\n\
         vmac=bytes.fromhex('{}')\n\
         n=0\n\
         end=time.time()+{secs}\n\
         while time.time()<end:\n\
         \x20   try: f=s.recv(2048)\n\
         \x20   except socket.timeout: continue\n\
         \x20   if f[6:12]==vmac and ({test}): n+=1\n\
         print(n)\n",
        VMAC.replace(':', "")
    );
    let counter = evil
        .cmd("python3")
        .args(["-c", &count])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // B takes over: its macvlan comes up.
    let out = rig.control(1, &["drop"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_role(2, "Master", Duration::from_secs(3));
    let out = counter.wait_with_output().unwrap();
    text(&out).0.trim().to_string()
}

/// A host on the LAN claims the VIP with its own MAC (a gratuitous ARP, as a host with the
/// same address or a spoofer sends): the gateway moved the VIP to that MAC and the Master
/// said and did nothing — only its virtual MAC seen elsewhere was a conflict. Now the
/// Master logs the claim and re-sends its gratuitous ARPs, also after the last of a burst.
#[test]
fn vip_claimed_by_another_mac_went_unanswered_and_the_gateway_kept_the_rogue_mac() {
    let rig = Rig::new().started_pair();
    let gw_entry = || text(&rig.gw.ip(&["neigh", "show", VIP, "dev", "lan0"])).0;
    let ok = rig.gw.run(&["ping", "-c", "1", "-W", "1", VIP]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(gw_entry().contains(VMAC), "{}", gw_entry());
    let evil = Netns::new("e");
    rig.sw.attach(&evil, "lan0");
    // 300 claims (request and reply) over about 0.3 s, then silence.
    let claims = "import socket,time\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n\
         s.bind(('lan0',0))\n\
         me=bytes([2,0,0,0,0,0x66])\n\
         vip=bytes([198,51,100,10])\n\
         for i in range(150):\n\
         \x20   s.send(b'\\xff'*6+me+bytes([8,6,0,1,8,0,6,4,0,1])+me+vip+b'\\xff'*6+vip)\n\
         \x20   s.send(b'\\xff'*6+me+bytes([8,6,0,1,8,0,6,4,0,2])+me+vip+me+vip)\n\
         \x20   time.sleep(0.002)\n";
    let out = evil.run(&["python3", "-c", claims]);
    assert!(out.status.success(), "{out:?}");
    // The Master's answer to the last claims comes within a hello (100 ms) plus its burst.
    let start = Instant::now();
    while !gw_entry().contains(VMAC) {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the gateway still sends the VIP's traffic to {}\n{}",
            gw_entry(),
            rig.log(1)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = rig.log(1);
    assert!(
        log.contains("vc LAN: a VIP claimed by 02:00:00:00:00:66; re-sending our gratuitous ARPs"),
        "{log}"
    );
    // One reaction per hello at most: a handful of lines for the burst, not hundreds.
    assert!(log.matches("a VIP claimed by").count() <= 10, "{log}");
    rig.assert_roles("Master", "Backup");
}

#[test]
fn lan_and_heart_beat_flood_of_well_formed_pike_and_arp_frames_moves_no_role() {
    let rig = Rig::with_shared_heart_beat().started_pair();
    // A host on the LAN sends 40,000 PIKE frames that claim node 1 with the configured key-id
    // (each would cost an HMAC; the tag is wrong) and as many ARP requests for the VIP, over
    // about two seconds, while the client pings the VIP.
    let hex = forged_goodbye_hex(7, 0, 0);
    let evil = Netns::new("e");
    rig.sw.attach(&evil, "lan0");
    // A second one on the shared heart-beat segment sends the same PIKE frames there.
    let evil_hb = Netns::new("h");
    if let Some(hb) = &rig.hb_sw {
        hb.attach(&evil_hb, "lan0");
    }
    let flood = format!(
        "import socket,time\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n\
         s.bind(('lan0',0))\n\
         pike=bytes.fromhex('{hex}')\n\
         me=bytes([2,0,0,0,0,0x66])\n\
         arp=b'\\xff'*6+me+bytes([8,6,0,1,8,0,6,4,0,1])+me+bytes([198,51,100,66])+bytes(6)+bytes([198,51,100,10])\n\
         for i in range(200):\n\
         \x20   for j in range(200):\n\
         \x20       s.send(pike)\n\
         \x20       s.send(arp)\n\
         \x20   time.sleep(0.01)\n"
    );
    let ping = rig
        .client
        .cmd("ping")
        .args(["-c", "30", "-i", "0.1", "-W", "1", VIP])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let hb_flood = evil_hb
        .cmd("python3")
        .args(["-c", &flood])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let out = evil.run(&["python3", "-c", &flood]);
    assert!(out.status.success(), "{out:?}");
    let out = hb_flood.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = ping.wait_with_output().unwrap();
    let (so, _) = text(&out);
    assert!(so.contains("30 packets transmitted, 30 received"), "{so}");
    rig.assert_roles("Master", "Backup");
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
    assert!(!rig.log(1).contains("=> Backup"), "{}", rig.log(1));
    // B verified at most its budget of them; the rest were dropped before the HMAC.
    let counters = rig.counters(2);
    assert!(Rig::counter(&counters, "throttled") > 1000, "{counters}");
}

#[test]
fn sighup_upgrade_hands_over_without_a_vip_outage() {
    let mut rig = Rig::new().started_pair();
    // The client pings the VIP every 10 ms through the upgrade.
    let ping = rig
        .client
        .cmd("ping")
        .args(["-i", "0.01", "-c", "250", "-W", "1", VIP])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let old = rig.pids(1, "pikemon");
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-HUP");
    std::thread::sleep(Duration::from_millis(200));
    rig.start(1);
    rig.wait_old_gone(1, &old);
    let out = ping.wait_with_output().unwrap();
    let (so, _) = text(&out);
    assert!(
        so.contains("250 packets transmitted, 250 received, 0% packet loss"),
        "{so}"
    );
    rig.assert_roles("Master", "Backup");
    let log = rig.log(2);
    assert!(!log.contains("=> Master"), "{log}");
    // The old instance's exit closed its death-watch connections while the new instance's
    // was open: no death, no probe (one a starved new worker could miss, see
    // `upgrade_under_load_moved_the_role_when_the_old_supervisors_death_watch_closed`).
    rig.wait_log(
        2,
        "another connection from the peer's daemon is open",
        Duration::from_secs(3),
    );
    let log = rig.log(2);
    assert!(!log.contains("the daemon of peer node 1 exited"), "{log}");
    assert!(!log.contains("ARP-probing the VIPs"), "{log}");
    assert!(!log.contains("=> Master"), "{log}");
}

/// SIGHUP: the supervisor wrote the hand-over file with fsync (file and directory) in its
/// loop. On a busy disk one fsync took 0.92 s here (`stress-ng --hdd 3` beside it), and the
/// supervisor reaped no child, heard no worker and served no death-watch meanwhile. Its main
/// thread now makes no sync call across a hand-over; a thread writes the file and only then
/// releases the pid file, so the new instance still finds the whole file and takes over.
#[test]
fn supervisor_waited_for_the_disk_in_its_loop_writing_the_hand_over_file() {
    let mut rig = Rig::new().started_pair();
    let sup = rig.pids(1, "pikemon: supervisor");
    assert_eq!(sup.len(), 1, "{sup:?}");
    let old = rig.pids(1, "pikemon");
    let trace = rig.dir.join("supervisor.strace");
    // The main thread only (its tid is the pid, no -f): the loop.
    let strace = Command::new("strace")
        .args([
            "-q",
            "-e",
            "trace=fsync,fdatasync,sync_file_range,syncfs,sync",
        ])
        .args(["-o", &trace.display().to_string()])
        .args(["-p", &sup[0].to_string()])
        .spawn()
        .expect("strace (installed by make test)");
    std::thread::sleep(Duration::from_millis(500));
    rig.signal(&sup, "-HUP");
    // The thread says when the file is whole and the pid file free.
    let start = Instant::now();
    while !rig
        .log(1)
        .contains("pid file released: a new instance may start")
    {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the hand-over file was never written\n{}",
            rig.log(1)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let handover = std::fs::read_to_string(rig.dir.join("pid1.old")).unwrap_or_default();
    assert!(
        handover.starts_with(&format!("supervisor {}\nworker ", sup[0])),
        "{handover}"
    );
    rig.start(1);
    rig.wait_old_gone(1, &old);
    // The old supervisor was killed by the new worker: strace ends with it.
    let _ = strace.wait_with_output();
    let calls = std::fs::read_to_string(&trace).unwrap_or_default();
    assert!(
        !calls.contains("sync"),
        "the supervisor's loop waited for the disk:\n{calls}"
    );
    rig.assert_roles("Master", "Backup");
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
}

#[test]
fn signals_change_the_log_level_and_sigpwr_logs_the_status() {
    let rig = Rig::new().started_pair();
    let sup = rig.pids(1, "pikemon: supervisor");
    rig.signal(&sup, "-USR1");
    rig.signal(&sup, "-PWR");
    let start = Instant::now();
    loop {
        let log = rig.log(1);
        if log.contains("log level 6")
            && log.contains("status: worker pid ")
            && log.contains("status: node 1 boot 1 cluster 1")
            && log.contains("status:     host 198.51.100.1 addr 198.51.100.1 up")
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Two signals of one kind sent back to back may reach the supervisor as one (standard
    // signals do not queue): the second goes once the first has been acted on.
    rig.signal(&sup, "-USR2");
    rig.wait_log(1, "log level 5", Duration::from_secs(10));
    rig.signal(&sup, "-USR2");
    rig.wait_log(1, "log level 4", Duration::from_secs(10));
    assert_eq!(rig.role(1), "Master");
    // Supervisor and worker share stderr and both logged at once: every line is whole.
    let log = rig.log(1);
    for line in log.lines() {
        assert!(
            line.starts_with("pikemon: "),
            "a torn line {line:?} in\n{log}"
        );
    }
}

#[test]
fn config_errors_start_nothing() {
    let rig = Rig::new();
    let bad = rig.dir.join("bad.cfg");
    std::fs::write(&bad, "version PIKEMON-1;\npikemon { node-id 1; }\n").unwrap();
    let out = rig
        .a
        .cmd(applet("pikemon"))
        .args(["-f", &bad.display().to_string(), "-d"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let (_, se) = text(&out);
    assert!(
        se.contains(":2:1: error: missing mandatory item 'hmac'"),
        "{se}"
    );
    assert!(se.contains("nothing started"), "{se}");
    assert!(rig.pids(1, "pikemon").is_empty());
    assert!(!rig.dir.join("pid1").exists());
}

/// `-c status|drop|maintenance` read the whole config (the key file too) before asking the
/// daemon: with a typo anywhere in it, or the key file missing while being rotated, the
/// operator could not reach the running daemon ("1 error(s); nothing started", exit 2).
/// Only the control socket is needed: the errors are a warning now.
#[test]
fn control_with_a_typo_in_the_config_or_its_key_file_gone_said_nothing_started() {
    let mut rig = Rig::new();
    rig.start(1);
    rig.wait_role(1, "Master", Duration::from_secs(5));
    let cfg = std::fs::read_to_string(rig.cfg(1)).unwrap();
    let typo = rig.dir.join("typo.cfg");
    std::fs::write(
        &typo,
        cfg.replace(
            "garp-interval 20ms;",
            "garp-interval 20ms; garp-keepalive 61x;",
        ),
    )
    .unwrap();
    let no_key = rig.dir.join("nokey.cfg");
    let key_file = rig.dir.join("pike.key");
    std::fs::write(
        &no_key,
        cfg.replace(
            &format!("hmac key \"{KEY}\""),
            &format!("hmac file \"{}\"", key_file.display()),
        ),
    )
    .unwrap();
    for bad in [&typo, &no_key] {
        let bad = bad.display().to_string();
        let out = rig
            .a
            .cmd(applet("pikemon"))
            .args(["-f", &bad, "-c", "status"])
            .output()
            .unwrap();
        let (so, se) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(so.contains("vc LAN id 1 role Master"), "{so}");
        assert!(se.contains(&format!("{bad}:")), "{se}");
        assert!(
            se.contains(&format!(
                "pikemon: warning: {bad}: 1 error(s); asking the daemon at {} anyway",
                rig.dir.join("ctl1").display()
            )),
            "{se}"
        );
        assert!(!se.contains("nothing started"), "{se}");
    }
    // An order too, on the file with the typo.
    let out = rig
        .a
        .cmd(applet("pikemon"))
        .args([
            "-f",
            &typo.display().to_string(),
            "-c",
            "maintenance",
            "off",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // A config that cannot be read at all: the default socket, with a warning.
    let out = rig
        .a
        .cmd(applet("pikemon"))
        .args(["-f", "/nonexistent/pikemon.cfg", "-c", "status"])
        .output()
        .unwrap();
    let (_, se) = text(&out);
    assert!(se.contains("cannot read"), "{se}");
    assert!(
        se.contains("asking the daemon at /run/pikemon.sock (the default) anyway"),
        "{se}"
    );
}

/// `-c status -r 1 | head -1` ended with "failed printing to stdout: Broken pipe" and a
/// panic's abort (rc 134) once `head` had gone: command-line output now ends with its
/// reader, by SIGPIPE, as a C tool's does.
#[test]
fn status_refresh_into_head_panicked_on_the_broken_pipe() {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;
    let mut rig = Rig::new();
    rig.start(1);
    rig.wait_role(1, "Master", Duration::from_secs(5));
    let mut child = rig
        .a
        .cmd(applet("pikemon"))
        .args(["-f", &rig.cfg(1), "-c", "status", "-r", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let stdout = child.stdout.take().unwrap();
    std::io::BufReader::new(stdout)
        .read_line(&mut first)
        .unwrap();
    // The reader goes, as `head -1` does.
    assert!(first.starts_with("node 1"), "{first}");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("-c status -r 1 went on writing to a closed pipe");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut se = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut se).unwrap();
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}: {se}");
    assert!(
        !se.contains("panicked") && !se.contains("Broken pipe"),
        "{se}"
    );
}

/// A daemonizing start (no -d) whose interface name was mistyped returned 0 with nothing on
/// the terminal, and the supervisor retried the worker with back-off for ever (the reason only
/// in syslog). The start now waits for the first worker's set-up: it prints why it failed,
/// exits 1 and leaves nothing running.
#[test]
fn start_with_a_mistyped_interface_said_nothing_and_retried_for_ever() {
    let rig = Rig::new();
    let bad = rig.dir.join("typo.cfg");
    let cfg = std::fs::read_to_string(rig.cfg(1))
        .unwrap()
        .replace("interface lan0 {", "interface lan9 {");
    assert!(cfg.contains("lan9"), "{cfg}");
    std::fs::write(&bad, cfg).unwrap();
    let out = rig
        .a
        .cmd(applet("pikemon"))
        .args(["-f", &bad.display().to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{se}");
    assert!(
        se.contains("pikemon: interface lan9 does not exist; nothing started"),
        "{se}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(rig.pids(1, "pikemon").is_empty());
    assert!(!rig.dir.join("pid1").exists());
}

/// A daemonizing start returned before the worker had bound its control socket: a
/// `pikemon -c status` right after it (a script, an init system's check) said "cannot reach
/// the daemon" (exit 3). The start now returns once the worker answers.
#[test]
fn status_right_after_a_daemonizing_start_could_not_reach_the_daemon() {
    let rig = Rig::new();
    let out = rig
        .a
        .cmd(applet("pikemon"))
        .args(["-f", &rig.cfg(1)])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let st = rig.control(1, &["status"]);
    assert_eq!(st.status.code(), Some(0), "{st:?}");
    // The pid file names the supervisor, which stops on SIGTERM.
    let pid = std::fs::read_to_string(rig.dir.join("pid1")).unwrap();
    rig.signal(&[pid.trim().parse().unwrap()], "-TERM");
    let start = Instant::now();
    while !rig.pids(1, "pikemon").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(50));
    }
}

const VIP6: &str = "2001:db8::10";
/// The virtual link-local address both nodes derive from the virtual MAC (EUI-64).
const VLL: &str = "fe80::c6:33ff:fe64:a00";

/// The dual-stack variant of the rig: the same virtual cluster also carries 2001:db8::10/64
/// (its vMAC still from the IPv4 VIP) and a ping group GW6 on the gateway's 2001:db8::1; A, B
/// and the client get 2001:db8::2, ::3, ::50.
impl Rig {
    fn with_ipv6(self) -> Rig {
        for n in [1, 2] {
            let path = self.dir.join(format!("n{n}.cfg"));
            let cfg = std::fs::read_to_string(&path).unwrap();
            let dual = cfg
                .replace(
                    &format!("ipv4 [{VIP}]/24;"),
                    &format!("ipv4 [{VIP}]/24; ipv6 [{VIP6}]/64;"),
                )
                .replace(
                    "ping-group LO {",
                    "ping-group GW6 { host [2001:db8::1]; interval 100ms; timeout 100ms; \
                     fall 2; rise 2; }\n        ping-group LO {",
                );
            assert_ne!(cfg, dual);
            std::fs::write(&path, dual).unwrap();
        }
        for (ns, addr) in [
            (&self.a, "2"),
            (&self.b, "3"),
            (&self.client, "50"),
            (&self.gw, "1"),
        ] {
            ns.ip(&[
                "addr",
                "add",
                &format!("2001:db8::{addr}/64"),
                "dev",
                "lan0",
                "nodad",
            ]);
        }
        self
    }

    /// The client's neighbour entry for `addr` (`lladdr` and state), if any.
    fn client_neigh6(&self, addr: &str) -> String {
        text(
            &self
                .client
                .ip(&["-6", "neigh", "show", addr, "dev", "lan0"]),
        )
        .0
    }

    /// Waits up to `limit` until the client's neighbour entry for `addr` names `mac`,
    /// showing the entry and `node`'s log if it never does.
    fn wait_client_neigh6(&self, addr: &str, mac: &str, limit: Duration, node: u32) {
        let start = Instant::now();
        while !self.client_neigh6(addr).contains(&format!("lladdr {mac}")) {
            assert!(
                start.elapsed() < limit,
                "the client's entry for {addr} is not {mac}: {}\n{}",
                self.client_neigh6(addr),
                self.log(node)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn client_ping6(&self, target: &str) -> bool {
        self.client
            .run(&["ping", "-6", "-c", "1", "-W", "1", target])
            .status
            .success()
    }
}

/// The IPv6 side of `a_master_macvlan_made_again_by_an_operator_was_left_down_without_its_vip`:
/// the macvlan made again carries the IPv6 VIP, the virtual link-local address and the VIP's
/// prefix route (which the kernel drops at link-up from a leased address added while down).
#[test]
fn a_master_macvlan_made_again_by_an_operator_was_left_without_its_ipv6_vip() {
    let rig = Rig::without_death_watch().with_ipv6().started_pair();
    rig.a.ip(&["link", "del", "pk1-lan0"]);
    let start = Instant::now();
    loop {
        let links = text(&rig.a.ip(&["-br", "link", "show", "up"])).0;
        if links.lines().any(|l| l.starts_with("pk1-lan0@")) {
            let addrs = text(&rig.a.ip(&["-6", "addr", "show", "dev", "pk1-lan0"])).0;
            let routes = text(&rig.a.ip(&["-6", "route", "show", "dev", "pk1-lan0"])).0;
            if addrs.contains(&format!("inet6 {VIP6}/64"))
                && addrs.contains(&format!("inet6 {VLL}/64"))
                && routes.contains("2001:db8::/64")
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(4),
                "{addrs}\n{routes}\n{}",
                rig.log(1)
            );
        }
        assert!(start.elapsed() < Duration::from_secs(4), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(rig.client_ping6(VIP6), "{}", rig.log(1));
    assert!(rig.client_ping6(&format!("{VLL}%lan0")));
}

/// The macvlan of a dual-stack interface sent router solicitations from the virtual MAC
/// after it came up (a Master routes; it needs no router), and a node whose pikemon had
/// just died sent them too, moving the virtual MAC back to itself on the switch until the
/// next frame of the new Master. Now the macvlan sends none.
#[test]
fn dual_stack_macvlan_sent_router_solicitations_from_the_virtual_mac() {
    let rig = Rig::without_death_watch().with_ipv6().started_pair();
    // Router solicitations: ICMPv6 (58) of type 133.
    let n = ipv6_frames_from_the_vmac_while_b_takes_over(
        &rig,
        7,
        "len(f)>54 and f[20]==58 and f[54]==133",
    );
    assert_eq!(n, "0", "router solicitations from the virtual MAC");
    assert!(rig.client_ping6(VIP6), "{}", rig.log(2));
}

#[test]
fn ipv6_vip_moves_on_sigkill_and_the_client_neighbour_entry_follows_the_advertisement() {
    let rig = Rig::without_death_watch().with_ipv6().started_pair();
    // The master carries the IPv6 VIP and the virtual link-local address on its macvlan,
    // without DAD; both answer the client from the virtual MAC.
    let addrs = text(&rig.a.ip(&["-6", "addr", "show", "dev", "pk1-lan0"])).0;
    assert!(
        addrs.contains(&format!("inet6 {VIP6}/64 scope global nodad")),
        "{addrs}"
    );
    assert!(
        addrs.contains(&format!("inet6 {VLL}/64 scope link")),
        "{addrs}"
    );
    assert!(rig.client_ping6(VIP6), "{}", rig.log(1));
    assert!(rig.client_ping6(&format!("{VLL}%lan0")));
    assert!(rig.client_neigh6(VIP6).contains(&format!("lladdr {VMAC}")));
    // -c status lists the IPv6 VIP and the link-local address.
    let status = text(&rig.control(1, &["status"])).0;
    assert!(
        status.contains(&format!("vip {VIP}/24,{VIP6}/64,{VLL} (link-local)")),
        "{status}"
    );
    assert!(text(&rig.control(1, &["status", "-j"]))
        .0
        .contains(&format!("\"link_local\":\"{VLL}\"")),);

    // The client's entry is made stale and wrong: only B's unsolicited advertisement
    // (Override set) can put the virtual MAC back, since nothing solicits it meanwhile.
    rig.client.ip(&[
        "-6",
        "neigh",
        "replace",
        VIP6,
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "lan0",
        "nud",
        "stale",
    ]);
    let all = rig.pids(1, "pikemon");
    rig.signal(&all, "-KILL");
    rig.wait_role(2, "Master", Duration::from_secs(5));
    rig.wait_client_neigh6(VIP6, VMAC, Duration::from_secs(3), 2);
    // The switch learned the virtual MAC on B's port from the advertisements and the VIP
    // answers from B. Polled: A's kernel, its pikemon killed whole, keeps the VIP on its
    // macvlan until the lease ends and may still send a frame from the virtual MAC (a CI
    // run under load read A's port once, right after the client's entry moved).
    rig.wait_mac_on_b_port(VMAC);
    let addrs = text(&rig.b.ip(&["-6", "addr", "show", "dev", "pk1-lan0"])).0;
    assert!(addrs.contains(&format!("inet6 {VIP6}/64")), "{addrs}");
    assert!(rig.client_ping6(VIP6), "{}", rig.log(2));
}

#[test]
fn ipv6_ping_group_failover_when_the_gateway_stops_answering_the_master() {
    let rig = Rig::new().with_ipv6().started_pair();
    let start = Instant::now();
    while !text(&rig.control(1, &["status"]))
        .0
        .contains("host 2001:db8::1 addr 2001:db8::1 up rtt-ms")
    {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            rig.control(1, &["status"])
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The gateway stops answering A's ICMPv6 only (its IPv6 replies to A are prohibited; the
    // IPv4 group keeps answering).
    rig.gw
        .ip(&["-6", "route", "add", "prohibit", "2001:db8::2/128"]);
    rig.wait_roles("Backup", "Master", Duration::from_secs(5));
    assert!(rig.log(1).contains("health Down"), "{}", rig.log(1));
    let status = text(&rig.control(1, &["status"])).0;
    assert!(
        status.contains("host 2001:db8::1 addr 2001:db8::1 down"),
        "{status}"
    );
    assert!(
        status.contains("host 198.51.100.1 addr 198.51.100.1 up"),
        "{status}"
    );
}

/// A track-file that is a FIFO without a writer blocked the worker in open(2); one that is
/// /dev/zero or a huge file was read whole into memory, every interval. The worker must keep
/// answering, hold little memory, and count such a witness Down.
#[test]
fn track_file_on_a_fifo_dev_zero_or_huge_file_stalls_nothing_and_is_down() {
    let mut rig = Rig::new();
    let fifo = rig.dir.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let huge = rig.dir.join("huge");
    let f = std::fs::File::create(&huge).unwrap();
    // Sparse: 2 GiB of zero bytes that take no disk.
    f.set_len(2 << 30).unwrap();
    drop(f);
    let tracks: String = [
        fifo.display().to_string(),
        "/dev/zero".into(),
        huge.display().to_string(),
    ]
    .iter()
    .map(|p| format!("track-file \"{p}\" interval 100ms fall 1 rise 1;\n        "))
    .collect();
    let cfg = std::fs::read_to_string(rig.cfg(1))
        .unwrap()
        .replace("ping-group LO {", &format!("{tracks}ping-group LO {{"));
    std::fs::write(rig.cfg(1), cfg).unwrap();
    rig.start(1);
    let start = Instant::now();
    let so = loop {
        let out = rig.control(1, &["status"]);
        let (so, _) = text(&out);
        if out.status.success() && so.matches(" Down").count() >= 3 {
            break so;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the worker does not answer or counts the witnesses Up: {so}\n{}",
            rig.log(1)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    for p in [
        fifo.display().to_string(),
        "/dev/zero".into(),
        huge.display().to_string(),
    ] {
        assert!(so.contains(&format!("  track-file {p} Down")), "{so}");
    }
    // Still answering a second later, and small.
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        rig.control(1, &["status"]).status.success(),
        "{}",
        rig.log(1)
    );
    let worker = rig.pids(1, "pikemon: worker");
    assert_eq!(worker.len(), 1);
    let status = std::fs::read_to_string(format!("/proc/{}/status", worker[0])).unwrap();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(rss_kb < 64 * 1024, "worker peak RSS {rss_kb} kB");
}

/// The worker holds packet sockets handed over by the supervisor (inheritable copies), the
/// supervisor holds the death-watch connections: none of them, and none of the worker's
/// own sockets, pipes or event fds, may reach a notify hook or a track script (a hook that
/// forks a long-lived child would keep them open, and read frames meant for the worker).
#[test]
fn notify_hooks_and_track_scripts_inherit_no_socket_pipe_or_event_fd() {
    let mut rig = Rig::new();
    let d = rig.dir.display().to_string();
    let list = |name: &str| {
        format!("sleep 0; ls -l /proc/$$/fd > {d}/{name}.tmp; mv {d}/{name}.tmp {d}/{name}")
    };
    for n in [1, 2] {
        let cfg = std::fs::read_to_string(rig.cfg(n))
            .unwrap()
            .replace(
                &format!("notify-master \"echo master >> {d}/notify{n}\";"),
                &format!("notify-master \"{}\";", list(&format!("hookfds{n}"))),
            )
            .replace(
                "ping-group LO {",
                &format!(
                    "track-script \"{}\" interval 100ms;\n        ping-group LO {{",
                    list(&format!("trackfds{n}"))
                ),
            );
        std::fs::write(rig.cfg(n), cfg).unwrap();
    }
    rig.start(1);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    // A worker restarted by the supervisor gets the held sockets through the environment.
    let old = rig.pids(1, "pikemon: worker");
    rig.signal(&old, "-KILL");
    let _ = std::fs::remove_file(rig.dir.join("trackfds1"));
    let start = Instant::now();
    while !rig.dir.join("trackfds1").exists() || !rig.dir.join("hookfds1").exists() {
        assert!(start.elapsed() < Duration::from_secs(5), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        rig.log(1).contains("taken from the supervisor"),
        "{}",
        rig.log(1)
    );
    for f in ["hookfds1", "trackfds1", "trackfds2"] {
        let fds = std::fs::read_to_string(rig.dir.join(f)).unwrap();
        for bad in ["socket:", "pipe:", "anon_inode:"] {
            assert!(!fds.contains(bad), "{f}: {bad}\n{fds}");
        }
    }
}

/// A node for `habox-save`: a namespace with the interfaces of its config, a directory
/// standing for / (`HABOX_ROOT`) with etc/habox and the applets in sbin, and a script run
/// in a private mount namespace where `persist` is a small tmpfs (the configuration disk).
struct SaveNode {
    ns: Netns,
    root: PathBuf,
}

impl SaveNode {
    fn new(heart_beat: &str) -> SaveNode {
        let ns = Netns::new("hrv");
        for dev in ["hb0", "lan0"] {
            // No dummy module on every kernel: a veth pair inside the namespace.
            let peer = format!("{dev}p");
            ns.ip(&["link", "add", dev, "type", "veth", "peer", "name", &peer]);
            ns.ip(&["link", "set", dev, "up"]);
        }
        ns.ip(&["addr", "add", "198.51.100.2/24", "dev", "lan0"]);
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("hrvsave"));
        let r = root.display().to_string();
        for d in ["etc/habox", "sbin", "persist", "run"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for a in ["test-pikemon", "pikemon"] {
            std::os::unix::fs::symlink(applet(a), root.join("sbin").join(a)).unwrap();
        }
        std::fs::write(
            root.join("etc/habox/pikemon.cfg"),
            format!(
                "version PIKEMON-1;\npikemon {{\n    node-id 1;\n    status-file \"{r}/status\";\n    \
                 hmac key \"{KEY}\";\n    heart-beat {{ {heart_beat} }}\n    \
                 virtual-cluster LAN {{ id 1; interface lan0 {{ ipv4 [{VIP}]/24; }} }}\n}}\n"
            ),
        )
        .unwrap();
        // Something sizeable beside it, so that a full disk cannot take the copy.
        std::fs::write(root.join("etc/habox/blob"), vec![b'x'; 64 * 1024]).unwrap();
        SaveNode { ns, root }
    }

    /// Runs `body` (sh) with `$R` the root, `$SAVE` the script and persist mounted.
    fn run(&self, body: &str) -> (String, String) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("rootfs/sbin/habox-save");
        let full = format!(
            "R={r}; SAVE='sh {s}'; mount -t tmpfs -o size=256k hrvpersist $R/persist || exit 99\n{body}",
            r = self.root.display(),
            s = script.display()
        );
        let out = self
            .ns
            .cmd("unshare")
            .args(["-m", "sh", "-c", &full])
            .env("HABOX_ROOT", &self.root)
            .output()
            .unwrap();
        text(&out)
    }
}

impl Drop for SaveNode {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// habox-save deleted habox.old — the only saved copy after a save interrupted between its
/// two renames — before making the new one, so a failure then (a full disk) left nothing
/// saved; it saved configs naming interfaces the node does not have, let two runs rename
/// the same directories at once, ignored a second option, and said "nothing changed" (exit
/// 1) when it had saved but the reload failed.
#[test]
fn habox_save_interrupted_full_disk_missing_interface_and_concurrent_runs_keep_the_saved_copy() {
    let node = SaveNode::new("interface hb0;");
    // An interrupted save, then a full disk: the previous copy is still the saved one.
    let (so, se) = node.run(
        "mkdir -p $R/persist/etc/habox.old && echo previous > $R/persist/etc/habox.old/marker\n\
         mkdir -p $R/persist/etc/habox.new && echo partial > $R/persist/etc/habox.new/marker\n\
         dd if=/dev/zero of=$R/persist/fill bs=4k 2>/dev/null\n\
         $SAVE -n; echo \"rc=$?\"; ls $R/persist/etc; cat $R/persist/etc/habox/marker",
    );
    assert!(so.starts_with("rc=1\nhabox\nprevious\n"), "{so}\n{se}");
    assert!(
        se.contains("cannot copy /etc/habox") && se.contains("the previous copy is kept"),
        "{se}"
    );
    // Room again: saved.
    let (so, se) = node.run("$SAVE -n; echo \"rc=$?\"; ls $R/persist/etc/habox");
    assert!(
        so.contains("saved to") && so.contains("rc=0\nblob\npikemon.cfg\n"),
        "{so}\n{se}"
    );

    // Two options: refused, nothing saved.
    let (so, se) = node.run("$SAVE -n -r; echo \"rc=$?\"; ls $R/persist");
    assert_eq!(so, "rc=1\n", "{se}");
    assert!(se.contains("one option at most"), "{se}");

    // A reload that fails after the save: exit 2; a second run meanwhile is refused.
    let (so, se) = node.run(
        "ln -s \"$(command -v sleep)\" $R/pikemon-hangs\n\
         sh -c \"trap '' HUP; exec $R/pikemon-hangs 8\" & echo $! > $R/run/pikemon.pid\n\
         $SAVE > $R/first.out 2>&1 & first=$!\n\
         sleep 1; $SAVE; echo \"second rc=$?\"\n\
         wait $first; echo \"first rc=$?\"; cat $R/first.out; ls $R/persist/etc\n\
         kill $(cat $R/run/pikemon.pid)",
    );
    assert!(so.contains("second rc=1\nfirst rc=2\n"), "{so}\n{se}");
    assert!(se.contains("another habox-save is running (pid "), "{se}");
    assert!(
        so.contains("saved to")
            && so.contains("saved, but pikemon (pid ")
            && so.ends_with("habox\n"),
        "{so}"
    );

    // A pid file left behind, naming a process that is not pikemon: not signalled.
    let (so, se) = node.run(
        "sleep 8 & echo $! > $R/run/pikemon.pid\n\
         $SAVE; echo \"rc=$?\"; kill -0 $(cat $R/run/pikemon.pid) && echo alive\n\
         kill $(cat $R/run/pikemon.pid)",
    );
    assert!(
        so.contains("pikemon is not running: not reloaded\nrc=0\nalive\n"),
        "{so}\n{se}"
    );

    // A config naming an interface this node lacks: refused, nothing saved.
    let node = SaveNode::new("interface hb0; interface hrvnone0;");
    let (so, se) = node.run("$SAVE -n; echo \"rc=$?\"; ls $R/persist");
    assert_eq!(so, "rc=1\n", "{se}");
    assert!(
        se.contains("names interfaces this node does not have: hrvnone0: nothing saved"),
        "{se}"
    );
}

/// Any LAN host can reach the death-watch port (the heart-beat address is a local address of
/// the node, and Linux answers for it on every interface). Each refused connection was a
/// warning, so a connection flood became a log flood; the supervisor must shrug it off and
/// still restart its worker at once.
#[test]
fn death_watch_connection_flood_from_a_lan_host_is_logged_once_and_stalls_nothing() {
    // A flood: alone on the machine, as the frame flood test.
    let load = LoadGuard::Exclusive(LOAD.write().unwrap_or_else(|e| e.into_inner()));
    let rig = Rig::build_with(true, load).started_pair();
    rig.client
        .ip(&["route", "add", "203.0.113.0/30", "via", "198.51.100.2"]);
    let flood = rig.client.run(&[
        "python3",
        "-c",
        "import socket, time\n\
         end = time.monotonic() + 5\n\
         n = 0\n\
         while n < 1000 and time.monotonic() < end:\n\
         \x20   try:\n\
         \x20       s = socket.create_connection(('203.0.113.1', 7013), timeout=1)\n\
         \x20       s.close()\n\
         \x20       n += 1\n\
         \x20   except OSError:\n\
         \x20       time.sleep(0.01)\n\
         print(n)",
    ]);
    let (so, se) = text(&flood);
    assert!(flood.status.success(), "{so}{se}");
    let made: u32 = so.trim().parse().unwrap();
    assert!(made >= 100, "only {made} connections");
    std::thread::sleep(Duration::from_millis(300));
    let refused = rig.log(1).matches("refused: not the peer").count();
    assert!(
        (1..=2).contains(&refused),
        "{made} connections, {refused} log lines"
    );
    // The supervisor still does its job at once.
    let old = rig.pids(1, "pikemon: worker");
    rig.signal(&old, "-KILL");
    let start = Instant::now();
    loop {
        let now = rig.pids(1, "pikemon: worker vc1=PMU");
        if now.len() == 1 && now != old {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(2), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(20));
    }
    rig.assert_roles("Master", "Backup");
}

/// Control connections that never send a request were kept forever, each an fd of the
/// worker: enough of them (a status poller that hangs, a leaking script) used up its fd
/// limit, and then accept(2) failed with EMFILE on a listener that stayed readable — the
/// worker spun and no `-c status` got through. The worker keeps a bounded number, drops the
/// oldest, and stays idle and answering.
#[test]
fn idle_control_connections_cannot_exhaust_the_workers_fds_or_spin_it() {
    let mut rig = Rig::new();
    let log = std::fs::File::create(rig.dir.join("log1")).unwrap();
    // The fd limit of a daemon started by busybox init, made small to reach it quickly.
    let child = rig
        .a
        .cmd("sh")
        .args([
            "-c",
            &format!(
                "ulimit -n 128; exec {} -f {} -d",
                applet("pikemon").display(),
                rig.cfg(1)
            ),
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    rig.kids.push(child);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    let ctl = rig.dir.join("ctl1").display().to_string();
    let mut hog = Command::new("python3")
        .args([
            "-c",
            &format!(
                "import socket, sys, time\n\
                 held = []\n\
                 for i in range(300):\n\
                 \x20   s = socket.socket(socket.AF_UNIX)\n\
                 \x20   s.connect('{ctl}')\n\
                 \x20   held.append(s)\n\
                 print('ready', flush=True)\n\
                 time.sleep(4)"
            ),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(hog.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready, "ready\n");
    std::thread::sleep(Duration::from_millis(300));
    let worker = rig.pids(1, "pikemon: worker");
    assert_eq!(worker.len(), 1);
    let ticks = cpu_ticks_over(worker[0], Duration::from_secs(1));
    assert!(
        ticks < 30,
        "the worker used {ticks} ticks of CPU in one second"
    );
    let out = rig.control(1, &["status"]);
    assert!(out.status.success(), "{out:?}\n{}", rig.log(1));
    assert_eq!(rig.role(2), "Backup");
    let fds = std::fs::read_dir(format!("/proc/{}/fd", worker[0]))
        .unwrap()
        .count();
    assert!(fds < 100, "the worker holds {fds} fds");
    let _ = hog.kill();
    let _ = hog.wait();
}

/// The CPU time process `pid` uses during the next `window`, in clock ticks.
fn cpu_ticks_over(pid: i32, window: Duration) -> u64 {
    let before = cpu_ticks(pid);
    std::thread::sleep(window);
    cpu_ticks(pid) - before
}

/// The CPU time process `pid` used so far, in clock ticks (utime + stime).
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(')').unwrap().1;
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // Fields 14 and 15; 12 and 13 after the name.
    f[11] + f[12]
}

/// A heart-beat interface deleted and made again (a new index): the supervisor's held socket
/// is replaced for a restarted worker (A), and a running worker (B) kept its socket on the
/// index that was gone and stayed deaf on that path until restarted. Both must hear it again.
#[test]
fn heart_beat_interface_recreated_is_heard_again_by_a_running_and_a_restarted_worker() {
    let rig = Rig::new().started_pair();
    rig.a.ip(&["link", "del", "hb1"]);
    veth(&rig.a, "hb1", &rig.b, "hb1");
    let old = rig.pids(1, "pikemon: worker");
    rig.signal(&old, "-KILL");
    let start = Instant::now();
    loop {
        let p1 = std::fs::read_to_string(rig.dir.join("paths1")).unwrap_or_default();
        let p2 = std::fs::read_to_string(rig.dir.join("paths2")).unwrap_or_default();
        let now = rig.pids(1, "pikemon: worker");
        if now.len() == 1
            && now != old
            && p1.contains("path hb1 ring 1 local - peer 2 state UP")
            && p2.contains("path hb1 ring 1 local - peer 1 state UP")
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{p1}\n{p2}\n{}",
            rig.log(1)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Well past a dead-interval: B still hears the new worker on the new hb1.
    std::thread::sleep(Duration::from_secs(1));
    let p2 = std::fs::read_to_string(rig.dir.join("paths2")).unwrap();
    assert!(
        p2.contains("path hb1 ring 1 local - peer 1 state UP"),
        "{p2}\nA:\n{}\nB:\n{}",
        rig.log(1),
        rig.log(2)
    );
    // Both workers took every socket from the supervisor (hb1's made anew for the second).
    let log = rig.log(1);
    assert_eq!(
        log.matches("4 of 4 packet socket(s) taken").count(),
        2,
        "{log}"
    );
    rig.assert_roles("Master", "Backup");
}

/// The status file lives on the small configuration disk: when that disk was full (or
/// read-only), writing the boot counter failed and the worker exited at once, again and again
/// with back-off, so the node never served. The counter only counts starts (freshness keys on
/// the random incarnation): the worker runs, warns, and the pair forms.
#[test]
fn full_status_file_disk_warns_and_the_worker_still_serves() {
    let mut rig = Rig::new();
    let full = rig.dir.join("full");
    std::fs::create_dir_all(&full).unwrap();
    let cfg = std::fs::read_to_string(rig.cfg(1)).unwrap().replace(
        &format!("status-file \"{}/status1\";", rig.dir.display()),
        &format!("status-file \"{}/status1\";", full.display()),
    );
    assert!(cfg.contains("/full/status1"));
    std::fs::write(rig.cfg(1), cfg).unwrap();
    let log = std::fs::File::create(rig.dir.join("log1")).unwrap();
    let child = rig
        .a
        .cmd("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            &format!(
                "mount -t tmpfs -o size=4k hrvfull {f} || exit 99\n\
                 dd if=/dev/zero of={f}/fill bs=1k 2>/dev/null\n\
                 exec {p} -f {c} -d",
                f = full.display(),
                p = applet("pikemon").display(),
                c = rig.cfg(1)
            ),
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    rig.kids.push(child);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    let log = rig.log(1);
    assert!(!log.contains("worker exited"), "{log}");
    assert!(log.contains("the boot counter is not saved"), "{log}");
}

/// A status file that is a link to /dev/zero was read until memory ran out (the worker
/// grew by gigabytes a second and never sent a HELLO); one that is a FIFO blocked the
/// worker in open(2). Both now count as corrupt: warned about, replaced by the first write,
/// and the pair elects as usual.
#[test]
fn status_file_on_dev_zero_ate_the_workers_memory_and_on_a_fifo_hung_it() {
    let mut rig = Rig::new();
    std::os::unix::fs::symlink("/dev/zero", rig.dir.join("status1")).unwrap();
    let made = Command::new("mkfifo")
        .arg(rig.dir.join("status2"))
        .status()
        .unwrap();
    assert!(made.success());
    rig.start(1);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    for node in [1, 2] {
        let log = rig.log(node);
        assert!(
            log.contains(&format!(
                "/status{node}: not a regular file: ignored as corrupt"
            )),
            "{log}"
        );
        assert!(!log.contains("worker exited"), "{log}");
        let worker = rig.pids(node, "pikemon: worker");
        assert_eq!(worker.len(), 1, "{log}");
        let status = std::fs::read_to_string(format!("/proc/{}/status", worker[0])).unwrap();
        let rss_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(u64::MAX);
        assert!(rss_kb < 64 * 1024, "worker of node {node}: {rss_kb} kB");
        // The first write replaced the link or the FIFO with a regular file.
        let meta = std::fs::symlink_metadata(rig.dir.join(format!("status{node}"))).unwrap();
        assert!(meta.is_file(), "{meta:?}");
    }
}

/// The supervisor passes each closed death-watch connection to the worker as a line on its
/// stdin, with a blocking write: a worker that did not read (stopped, or hung in a system
/// call) filled the pipe and the supervisor hung in write(2) — no signal, no restart, no
/// stop. Connections from the peer's address that open and close stand for the many events.
#[test]
fn stalled_worker_never_blocks_the_supervisor_on_its_stdin() {
    // A flood of seconds: alone on the machine, as the frame flood test.
    let load = LoadGuard::Exclusive(LOAD.write().unwrap_or_else(|e| e.into_inner()));
    let mut rig = Rig::build_with(true, load);
    // A dead-interval longer than the flood: the supervisor's watchdog would otherwise kill
    // the stopped worker (see `sigstopped_worker_kept_the_vip_up_while_the_peer_took_over`)
    // and a new one would read the pipe.
    let path = rig.dir.join("n1.cfg");
    let cfg = std::fs::read_to_string(&path).unwrap();
    let cfg = cfg.replace(
        "hello-interval 100ms;",
        "hello-interval 100ms; dead-interval 50s;",
    );
    std::fs::write(&path, cfg).unwrap();
    rig.start(1);
    // Alone, it would wait the dead-interval for a peer before it claimed the role; the test
    // needs only a worker that answers (Init meanwhile).
    rig.wait_role(1, "Init", Duration::from_secs(5));
    let worker = rig.pids(1, "pikemon: worker");
    assert_eq!(worker.len(), 1);
    rig.signal(&worker, "-STOP");
    // 12 bytes per closed connection the supervisor reports (some are pushed out of its
    // four slots unreported): connect and close until 6000 are reported — more than a
    // 64 KiB pipe holds — or 40 s pass (a supervisor blocked in write(2) reports no more).
    let log = rig.dir.join("log1").display().to_string();
    let flood = rig.b.run(&[
        "python3",
        "-c",
        &format!(
            "import socket, time\n\
             end = time.monotonic() + 40\n\
             n = 0\n\
             def reported():\n\
             \x20   return open('{log}').read().count(\"the peer's daemon is gone\")\n\
             while time.monotonic() < end and (n % 500 or reported() < 6000):\n\
             \x20   try:\n\
             \x20       s = socket.create_connection(('203.0.113.1', 7013), timeout=1, source_address=('203.0.113.2', 0))\n\
             \x20       s.close()\n\
             \x20       n += 1\n\
             \x20   except OSError:\n\
             \x20       time.sleep(0.01)\n\
             print(n, reported())"
        ),
    ]);
    let (so, se) = text(&flood);
    assert!(flood.status.success(), "{so}{se}");
    let reported: u32 = so
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(500));
    // A supervisor that still runs its loop logs its status on SIGPWR at once.
    let sup = rig.pids(1, "pikemon: supervisor");
    let before = rig.log(1).matches("status: worker pid").count();
    rig.signal(&sup, "-PWR");
    let start = Instant::now();
    while rig.log(1).matches("status: worker pid").count() == before {
        let tail: String = rig
            .log(1)
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the supervisor does not answer after {reported} closed connections reported: {tail}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        reported >= 6000,
        "the pipe was never full: {reported} reported"
    );
    assert!(
        !rig.log(1).contains("gave no sign of life"),
        "{}",
        rig.log(1)
    );
    rig.signal(&worker, "-CONT");
}

impl Rig {
    /// Node `node`'s lan0 deleted and made again (another index), on the switch, with the
    /// node's IPv4 address.
    fn recreate_lan(&self, node: u32) {
        let ns = self.ns(node);
        ns.ip(&["link", "del", "lan0"]);
        self.sw.attach(ns, "lan0");
        let addr = format!("198.51.100.{}/24", node + 1);
        ns.ip(&["addr", "add", &addr, "dev", "lan0"]);
    }

    /// Waits (5 s at most) until node `node` reports a healthy Backup whose lan0 path is up:
    /// its worker follows a lan0 made again.
    fn wait_healthy_backup_on_new_lan(&self, node: u32) {
        eventually(Duration::from_secs(5), || {
            let (so, _) = text(&self.control(node, &["status"]));
            if so.contains(" role Backup health Up ") && so.contains("path 2 lan0 UP") {
                Ok(())
            } else {
                Err(format!("{so}\n{}", self.log(node)))
            }
        });
    }
}

/// A controlled interface deleted and made again (another index) on the backup: its worker
/// kept the old index, so its health stayed Down, and when the master died the takeover
/// failed every second ("create macvlan ... on link index N: No such device") — no VIP at
/// all. The worker follows the new interface: health Up again, and it takes over.
#[test]
fn controlled_interface_recreated_on_the_backup_is_followed_and_taken_over() {
    let rig = Rig::new().started_pair();
    rig.recreate_lan(2);
    rig.wait_healthy_backup_on_new_lan(2);
    rig.signal(&rig.pids(1, "pikemon"), "-KILL");
    rig.wait_role(2, "Master", Duration::from_secs(3));
    assert!(!rig.log(2).contains("No such device"), "{}", rig.log(2));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

/// The same on the master: the role goes to the peer at once (its LAN link went away), the
/// client keeps the VIP, and the old master is a healthy Backup on the new interface.
#[test]
fn controlled_interface_recreated_on_the_master_hands_over_and_comes_back_healthy() {
    let rig = Rig::new().started_pair();
    rig.recreate_lan(1);
    rig.wait_role(2, "Master", Duration::from_secs(3));
    rig.wait_healthy_backup_on_new_lan(1);
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    // And back: B's daemon dies, A takes the role on its new lan0.
    rig.signal(&rig.pids(2, "pikemon"), "-KILL");
    rig.wait_role(1, "Master", Duration::from_secs(3));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

/// A controlled interface made anew got its ARP and PIKE taps again, but its ND tap stayed
/// on the deleted interface: an IPv6-only cluster's probe never heard the live Master's
/// answer (nor would a Master there have answered a probe or seen a claim of its VIP). B's
/// lan0 made again, then a hint (A's hb0 down) makes B probe: the answer is heard.
#[test]
fn controlled_interface_recreated_kept_its_nd_tap_on_the_deleted_interface() {
    let rig = Rig::without_death_watch().with_ipv6_only().started_pair();
    rig.recreate_lan(2);
    rig.b
        .ip(&["addr", "add", "2001:db8::3/64", "dev", "lan0", "nodad"]);
    rig.wait_healthy_backup_on_new_lan(2);
    rig.a.ip(&["link", "set", "hb0", "down"]);
    rig.wait_log(
        2,
        "VIP answered from the virtual MAC elsewhere",
        Duration::from_secs(3),
    );
    rig.wait_roles("Master", "Backup", Duration::from_secs(2));
    assert!(!rig.macvlan_up(2));
    assert!(rig.client_ping6(VIP6), "{}", rig.log(1));
}

/// Hostile control clients: a request line of megabytes, one that never ends, a client that
/// asks for the status in a loop and never reads the replies. The worker answers the others
/// and keeps its role; nothing of it grows.
#[test]
fn huge_endless_and_unread_control_requests_never_stall_the_worker() {
    let rig = Rig::new().started_pair();
    let ctl = rig.dir.join("ctl1").display().to_string();
    let mut hog = Command::new("python3")
        .args([
            "-c",
            &format!(
                "import socket, time\n\
                 held = []\n\
                 big = socket.socket(socket.AF_UNIX); big.connect('{ctl}')\n\
                 try:\n\
                 \x20   big.sendall(b'status ' + b'x' * 8000000 + b'\\n')\n\
                 except OSError:\n\
                 \x20   pass\n\
                 endless = socket.socket(socket.AF_UNIX); endless.connect('{ctl}')\n\
                 endless.send(b'stat')\n\
                 held.append(endless)\n\
                 for i in range(200):\n\
                 \x20   s = socket.socket(socket.AF_UNIX); s.connect('{ctl}')\n\
                 \x20   s.send(b'status -j\\n')\n\
                 \x20   held.append(s)\n\
                 print('ready', flush=True)\n\
                 time.sleep(3)"
            ),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(hog.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready, "ready\n");
    let out = rig.control(1, &["status"]);
    assert!(out.status.success(), "{out:?}\n{}", rig.log(1));
    rig.assert_roles("Master", "Backup");
    let worker = rig.pids(1, "pikemon: worker");
    let fds = std::fs::read_dir(format!("/proc/{}/fd", worker[0]))
        .unwrap()
        .count();
    assert!(fds < 100, "the worker holds {fds} fds");
    let _ = hog.kill();
    let _ = hog.wait();
}

/// An operator's `kill -9` of the supervisor (or the OOM killer) left its worker running on
/// its own, and starting pikemon again added a second worker beside it: two workers of one
/// node, each sending HELLOs with its own incarnation. The new instance takes over from the
/// orphan as after SIGHUP: one worker, no role change, no VIP gap.
#[test]
fn worker_of_a_killed_supervisor_is_taken_over_by_the_next_instance() {
    let mut rig = Rig::new().started_pair();
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-KILL");
    std::thread::sleep(Duration::from_millis(300));
    let orphan = rig.pids(1, "pikemon: worker");
    assert_eq!(orphan.len(), 1);
    rig.start(1);
    let start = Instant::now();
    loop {
        let workers = rig.pids(1, "pikemon: worker");
        if workers.len() == 1 && workers != orphan {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "workers {workers:?} (orphan {orphan:?})\n{}",
            rig.log(1)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        rig.log(1)
            .contains("the worker of a killed supervisor still runs"),
        "{}",
        rig.log(1)
    );
    std::thread::sleep(Duration::from_millis(500));
    rig.assert_roles("Master", "Backup");
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

/// `kill -9` of the supervisor left its ACR (the re-resolver of host names) running: the next
/// instance took the orphaned worker over and started its own ACR beside the old one, which
/// re-resolved for nobody for ever. No process of the dead instance is left but the worker
/// that is handed over, and that one goes once the new worker plays its role.
#[test]
fn killed_supervisor_left_its_acr_running_beside_the_next_instance() {
    let mut rig = Rig::new().started_pair();
    let old = rig.pids(1, "pikemon");
    let acr = rig.pids(1, "pikemon: acr");
    assert_eq!(acr.len(), 1, "{}", rig.log(1));
    let orphan = rig.pids(1, "pikemon: worker");
    assert_eq!(orphan.len(), 1);
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-KILL");
    // Before the next start: the worker alone runs on.
    let start = Instant::now();
    while rig.pids(1, "pikemon") != orphan {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "left of the killed instance {:?} (worker {orphan:?}, acr {acr:?})",
            rig.pids(1, "pikemon")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    rig.start(1);
    let start = Instant::now();
    loop {
        let left: Vec<i32> = rig
            .pids(1, "pikemon")
            .into_iter()
            .filter(|p| old.contains(p))
            .collect();
        let counts =
            ["supervisor", "worker", "acr"].map(|t| rig.pids(1, &format!("pikemon: {t}")).len());
        if left.is_empty() && counts == [1, 1, 1] {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "left of the killed instance {left:?}, now {counts:?} (old {old:?})\n{}",
            rig.log(1)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rig.pids(1, "pikemon").len(), 3);
    rig.wait_roles("Master", "Backup", Duration::from_secs(3));
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
}

/// `kill -9` of the supervisor, then the next instance started from a config whose `pid-file`
/// differs: it read `PID_FILE.worker` beside its own pid file only, found none, and started a
/// second worker beside the orphan, both on the same macvlans. The supervisor also names its
/// worker for the namespace (`/run/habox-pikemon-net-INODE.worker`); the new instance takes
/// the orphan over as with the same pid file: one worker, no role change, no VIP gap.
#[test]
fn killed_supervisor_then_a_config_with_another_pid_file_ran_a_second_worker_beside_the_orphan() {
    let mut rig = Rig::new().started_pair();
    let other = rig.dir.join("moved.cfg");
    let d = rig.dir.display().to_string();
    let cfg = std::fs::read_to_string(rig.cfg(1)).unwrap();
    let moved = cfg.replace(&format!("{d}/pid1"), &format!("{d}/moved/pid1"));
    assert_ne!(cfg, moved);
    std::fs::write(&other, moved).unwrap();
    let orphan = rig.pids(1, "pikemon: worker");
    assert_eq!(orphan.len(), 1);
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-KILL");
    let start = Instant::now();
    while rig.pids(1, "pikemon") != orphan {
        assert!(start.elapsed() < Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(20));
    }
    rig.start_with(1, &other);
    let start = Instant::now();
    let mut both = false;
    loop {
        let workers = rig.pids(1, "pikemon: worker");
        both |= workers.len() == 2 && !rig.log(1).contains("still runs");
        if workers.len() == 1 && workers != orphan {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "workers {workers:?} (orphan {orphan:?})\n{}",
            rig.log(1)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!both, "a new worker ran beside the orphan\n{}", rig.log(1));
    assert!(
        rig.log(1)
            .contains("the worker of a killed supervisor still runs"),
        "{}",
        rig.log(1)
    );
    assert!(rig.dir.join("moved/pid1").exists());
    std::thread::sleep(Duration::from_millis(500));
    // The hand-over file beside the new pid file is gone with the hand-over.
    assert!(!rig.dir.join("moved/pid1.old").exists());
    rig.assert_roles("Master", "Backup");
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

/// The namespace's worker record (`/run/habox-pikemon-net-INODE.worker`) is found by the
/// namespace's inode number, which the kernel gives again: one naming the orphaned worker of
/// another namespace, a process of another user titled `pikemon: worker`, or one a non-root
/// user could have written is ignored — nothing killed, no hand-over.
#[test]
fn worker_record_naming_another_namespaces_orphan_or_a_users_process_killed_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let mut rig = Rig::new();
    rig.start(2);
    rig.wait_role(2, "Master", Duration::from_secs(5));
    // B's worker, orphaned: a pikemon worker whose parent is no supervisor, of B's namespace.
    rig.signal(&rig.pids(2, "pikemon: supervisor"), "-KILL");
    let b_worker = rig.pids(2, "pikemon: worker");
    assert_eq!(b_worker.len(), 1);
    // A user's process in A's namespace that calls itself a pikemon worker.
    let mut fake = rig
        .a
        .cmd("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "bash",
            "-c",
            "exec -a 'pikemon: worker' sleep 30",
        ])
        .spawn()
        .unwrap();
    let fake_pid = fake.id() as i32;
    let start = Instant::now();
    while !rig.pids(1, "pikemon: worker").contains(&fake_pid) {
        assert!(start.elapsed() < Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(10));
    }
    let record = {
        use std::os::unix::fs::MetadataExt;
        let ino = std::fs::metadata(format!("/run/netns/{}", rig.ns(1).name))
            .unwrap()
            .ino();
        PathBuf::from(format!("/run/habox-pikemon-net-{ino}.worker"))
    };
    for (pid, mode, said) in [
        (
            b_worker[0],
            0o600,
            "names no worker of a killed supervisor: ignored",
        ),
        (
            fake_pid,
            0o600,
            "names no worker of a killed supervisor: ignored",
        ),
        (
            b_worker[0],
            0o666,
            "writable by group or others (mode 666): ignored",
        ),
    ] {
        std::fs::write(&record, format!("{pid}\n")).unwrap();
        std::fs::set_permissions(&record, PermissionsExt::from_mode(mode)).unwrap();
        rig.start(1);
        rig.wait_roles("Backup", "Master", Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(300));
        let log = rig.log(1);
        assert!(log.contains(said), "{said}\n{log}");
        assert!(!log.contains("still runs"), "{log}");
        assert!(!log.contains("stopping the old instance"), "{log}");
        assert_eq!(rig.pids(2, "pikemon: worker"), b_worker, "{log}");
        assert!(rig.pids(1, "pikemon: worker").contains(&fake_pid), "{log}");
        // The record names A's own worker now; a stop removes it.
        let own = rig.pids(1, "pikemon: worker");
        let named: i32 = std::fs::read_to_string(&record)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(own.contains(&named) && named != fake_pid, "{named} {own:?}");
        rig.signal(&rig.pids(1, "pikemon: supervisor"), "-TERM");
        let start = Instant::now();
        while rig.pids(1, "pikemon").iter().any(|p| *p != fake_pid) {
            assert!(start.elapsed() < Duration::from_secs(10), "{}", rig.log(1));
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!record.exists(), "{}", rig.log(1));
        rig.wait_role(2, "Master", Duration::from_secs(5));
    }
    let _ = fake.kill();
    let _ = fake.wait();
}

/// The shared hand-over record of node `node`'s network namespace
/// (`/run/habox-pikemon-net-INODE.old`).
fn namespace_record(rig: &Rig, node: u32) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(format!("/run/netns/{}", rig.ns(node).name))
        .unwrap()
        .ino();
    PathBuf::from(format!("/run/habox-pikemon-net-{ino}.old"))
}

/// SIGHUP, then the new instance started from a config whose `pid-file` differs (an operator
/// moving the pid file with the upgrade): it looked for the hand-over file beside its own pid
/// file, found none, found the namespace's lock free and started a fresh worker while the old
/// worker ran on: two workers on one macvlan. The old supervisor records the hand-over in the
/// namespace too (under /run, before it lets the lock go); the new worker takes over from it.
#[test]
fn sighup_then_a_config_with_another_pid_file_left_the_old_worker_beside_the_new() {
    let mut rig = Rig::new().started_pair();
    let old = rig.pids(1, "pikemon");
    let other = rig.dir.join("moved.cfg");
    let d = rig.dir.display().to_string();
    let cfg = std::fs::read_to_string(rig.cfg(1)).unwrap();
    let moved = cfg.replace(&format!("{d}/pid1"), &format!("{d}/moved/pid1"));
    assert_ne!(cfg, moved);
    std::fs::write(&other, moved).unwrap();
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-HUP");
    rig.wait_log(1, "pid file released", Duration::from_secs(5));
    rig.start_with(1, &other);
    rig.wait_old_gone(1, &old);
    assert_eq!(rig.pids(1, "pikemon: worker").len(), 1);
    assert!(rig.dir.join("moved/pid1").exists());
    // Both hand-over records are gone with the hand-over. The new worker removes them after
    // it has killed the old processes, deleted their macvlans and waited up to 50 ms for them
    // to go: a little after the old pids are gone, so the test waits for that too.
    eventually(Duration::from_secs(2), || {
        let left = [rig.dir.join("pid1.old"), namespace_record(&rig, 1)];
        match left.iter().filter(|f| f.exists()).collect::<Vec<_>>() {
            files if files.is_empty() => Ok(()),
            files => Err(format!("hand-over records left: {files:?}\n{}", rig.log(1))),
        }
    });
    rig.wait_roles("Master", "Backup", Duration::from_secs(3));
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

/// A namespace's hand-over record is found by the namespace's inode number, which the kernel
/// gives again to a later namespace: a record left by an instance whose processes are gone
/// (naming pids now of another namespace's pikemon, and a macvlan) is ignored whole — nothing
/// killed, nothing deleted — and so is one a non-root user could have written.
#[test]
fn stale_or_foreign_hand_over_record_in_run_killed_or_deleted_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let mut rig = Rig::new();
    rig.start(2);
    rig.wait_role(2, "Master", Duration::from_secs(5));
    let b_before = {
        let mut p = rig.pids(2, "pikemon");
        p.sort();
        p
    };
    let b_worker = rig.pids(2, "pikemon: worker")[0];
    let b_supervisor = rig.pids(2, "pikemon: supervisor")[0];
    // A macvlan of the "old instance" that this config does not name.
    rig.a.ip(&[
        "link", "add", "pk9-lan0", "link", "lan0", "type", "macvlan", "mode", "private",
    ]);
    let record = namespace_record(&rig, 1);
    // Removed however the test ends: it would be found by a later namespace of this number.
    struct Removed(PathBuf);
    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _removed = Removed(record.clone());
    let record_text =
        format!("supervisor {b_supervisor}\nworker {b_worker}\nworker 4194000\nmacvlan pk9-lan0\n");
    for (mode, owner, said) in [
        (0o600, None, "of an instance that is gone: ignored"),
        (
            0o666,
            None,
            "writable by group or others (mode 666): ignored",
        ),
        (0o600, Some(65534), "owned by uid 65534: ignored"),
    ] {
        std::fs::write(&record, &record_text).unwrap();
        std::fs::set_permissions(&record, PermissionsExt::from_mode(mode)).unwrap();
        if let Some(uid) = owner {
            std::os::unix::fs::chown(&record, Some(uid), None).unwrap();
        }
        rig.start(1);
        // B keeps the role it holds (no preemption): A is Backup once its worker plays.
        rig.wait_roles("Backup", "Master", Duration::from_secs(5));
        // The new worker has played its role: a hand-over would be done by now.
        std::thread::sleep(Duration::from_millis(300));
        let mut b_now = rig.pids(2, "pikemon");
        b_now.sort();
        assert_eq!(
            b_now,
            b_before,
            "mode {mode:o} owner {owner:?}\n{}",
            rig.log(1)
        );
        let (links, _) = text(&rig.a.ip(&["-br", "link", "show", "pk9-lan0"]));
        assert!(
            links.contains("pk9-lan0"),
            "mode {mode:o} owner {owner:?}\n{}",
            rig.log(1)
        );
        assert!(
            !rig.log(1).contains("stopping the old instance"),
            "{}",
            rig.log(1)
        );
        assert!(rig.log(1).contains(said), "{said}\n{}", rig.log(1));
        // Root's record of the gone is removed; the others are not this daemon's to remove.
        assert_eq!(record.exists(), mode != 0o600 || owner.is_some(), "{said}");
        // Stop A for the next round (SIGTERM: it gives the role back).
        rig.signal(&rig.pids(1, "pikemon: supervisor"), "-TERM");
        let start = Instant::now();
        while !rig.pids(1, "pikemon").is_empty() {
            assert!(start.elapsed() < Duration::from_secs(10), "{}", rig.log(1));
            std::thread::sleep(Duration::from_millis(50));
        }
        rig.wait_role(2, "Master", Duration::from_secs(5));
        let _ = std::fs::remove_file(&record);
    }
}

/// The virtual MAC of the IPv6-only cluster: 02, the last four bytes of 2001:db8::10, 00.
const VMAC6: &str = "02:00:00:00:10:00";

/// The IPv6-only variant of the rig: the virtual cluster carries 2001:db8::10/64 and no IPv4
/// address (so its split-brain probe is a Neighbor Solicitation alone); A, B and the client
/// get 2001:db8::2, ::3, ::50. The ping groups stay as they are.
impl Rig {
    fn with_ipv6_only(self) -> Rig {
        for n in [1, 2] {
            let path = self.dir.join(format!("n{n}.cfg"));
            let cfg = std::fs::read_to_string(&path).unwrap();
            let only = cfg.replace(&format!("ipv4 [{VIP}]/24;"), &format!("ipv6 [{VIP6}]/64;"));
            assert_ne!(cfg, only);
            std::fs::write(&path, only).unwrap();
        }
        for (ns, addr) in [(&self.a, "2"), (&self.b, "3"), (&self.client, "50")] {
            ns.ip(&[
                "addr",
                "add",
                &format!("2001:db8::{addr}/64"),
                "dev",
                "lan0",
                "nodad",
            ]);
        }
        self
    }
}

/// An IPv6-only cluster took over without any probe. Now it probes with a Neighbor
/// Solicitation carrying a nonce: the SIGKILLed master's kernel still holds the VIP on its
/// macvlan and answers the solicitation, but without the nonce, so it is no answer.
#[test]
fn ipv6_only_probe_ignores_the_kernel_of_a_sigkilled_master_and_takes_over() {
    let rig = Rig::without_death_watch().with_ipv6_only().started_pair();
    assert!(rig.client_ping6(VIP6), "{}", rig.log(1));
    assert!(rig.client_neigh6(VIP6).contains(&format!("lladdr {VMAC6}")));
    let all = rig.pids(1, "pikemon");
    assert!(all.len() >= 2, "{all:?}");
    rig.signal(&all, "-KILL");
    rig.wait_role(2, "Master", Duration::from_secs(5));
    let log = rig.log(2);
    assert!(log.contains("(peer silent, probe unanswered)"), "{log}");
    // A's macvlan and VIP stayed up and its kernel did answer the probe.
    assert!(rig.macvlan_up(1));
    assert!(
        log.contains(&format!(
            "probe: {VIP6} advertised by {VMAC6} without our nonce (a kernel's answer, not counted"
        )),
        "{log}"
    );
    // B's daemon answers now: the switch learned the virtual MAC on B's port.
    rig.wait_mac_on_b_port(VMAC6);
    let addrs = text(&rig.b.ip(&["-6", "addr", "show", "dev", "pk1-lan0"])).0;
    assert!(addrs.contains(&format!("inet6 {VIP6}/64")), "{addrs}");
    assert!(rig.client_ping6(VIP6), "{}", rig.log(2));
}

/// With HELLOs still on another path, a hint (heart-beat carrier loss) makes the backup of
/// an IPv6-only cluster probe: the live master's worker echoes the nonce from the virtual
/// MAC and nothing moves.
#[test]
fn ipv6_only_probe_is_answered_by_a_live_master_and_moves_nothing() {
    let rig = Rig::without_death_watch().with_ipv6_only().started_pair();
    rig.a.ip(&["link", "set", "hb0", "down"]);
    rig.wait_log(
        2,
        "VIP answered from the virtual MAC elsewhere",
        Duration::from_secs(3),
    );
    assert!(
        rig.log(2).contains("heart-beat link hb0 lost its carrier"),
        "{}",
        rig.log(2)
    );
    rig.wait_roles("Master", "Backup", Duration::from_secs(2));
    assert!(!rig.macvlan_up(2));
    assert!(rig.client_ping6(VIP6), "{}", rig.log(1));
    assert!(rig.client_neigh6(VIP6).contains(&format!("lladdr {VMAC6}")));

    // A restarted worker inherits the ND tap from the supervisor (2 heart-beats, the LAN's
    // PIKE, ARP and ND taps) and answers the next probe (B's hb1 carrier goes too; HELLOs
    // still come over the LAN).
    let old = rig.pids(1, "pikemon: worker");
    assert_eq!(old.len(), 1, "{}", rig.log(1));
    rig.signal(&old, "-KILL");
    let start = Instant::now();
    loop {
        let now = rig.pids(1, "pikemon: worker vc1=PMU");
        if now.len() == 1 && now != old {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(10));
    }
    let a = rig.log(1);
    assert_eq!(
        a.matches("5 of 5 packet socket(s) taken from the supervisor")
            .count(),
        2,
        "{a}"
    );
    rig.a.ip(&["link", "set", "hb1", "down"]);
    let start = Instant::now();
    while rig
        .log(2)
        .matches("VIP answered from the virtual MAC elsewhere")
        .count()
        < 2
    {
        assert!(start.elapsed() < Duration::from_secs(3), "{}", rig.log(2));
        std::thread::sleep(Duration::from_millis(20));
    }
    rig.wait_roles("Master", "Backup", Duration::from_secs(2));
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
}

/// A notify hook that outlives notify-timeout: it was killed only when it ended by itself
/// (the timeout was looked at on SIGCHLD alone), and until then its deadline, in the past,
/// woke the worker's loop without pause: 100 % of a CPU, SCHED_FIFO with `realtime`.
#[test]
fn hook_past_its_timeout_was_never_killed_and_spun_the_worker() {
    let mut rig = Rig::new();
    let d = rig.dir.display().to_string();
    let cfg = std::fs::read_to_string(rig.cfg(1)).unwrap().replace(
        &format!("notify-master \"echo master >> {d}/notify1\";"),
        "notify-master \"sleep 30\";\n    notify-timeout 1s;",
    );
    std::fs::write(rig.cfg(1), cfg).unwrap();
    rig.start(1);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    let worker = rig.pids(1, "pikemon: worker");
    assert_eq!(worker.len(), 1);
    rig.wait_log(
        1,
        "still running after its timeout: killed",
        Duration::from_secs(3),
    );
    // Past the timeout: the worker is idle again (a HELLO every 100 ms costs little).
    let ticks = cpu_ticks_over(worker[0], Duration::from_secs(1));
    assert!(
        ticks < 30,
        "the worker used {ticks} ticks of CPU in one second"
    );
    assert_eq!(rig.role(2), "Backup");
}

/// A stopping worker polls conntrackd no more, but the poll's deadline, in the past, still
/// woke its loop without pause while a notify-stop hook ran (up to 10 s at full CPU).
#[test]
fn stopping_worker_spun_on_the_conntrackd_poll_while_its_stop_hook_ran() {
    let mut rig = Rig::new();
    let d = rig.dir.display().to_string();
    let cfg = std::fs::read_to_string(rig.cfg(1)).unwrap().replace(
        &format!("notify-master \"echo master >> {d}/notify1\";"),
        &format!(
            "notify-stop \"sleep 3\";\n    \
             conntrack {{ socket \"{d}/no-conntrackd.ctl\"; commit-timeout 200ms; }}"
        ),
    );
    std::fs::write(rig.cfg(1), cfg).unwrap();
    rig.start(1);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    let worker = rig.pids(1, "pikemon: worker");
    assert_eq!(worker.len(), 1);
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-TERM");
    rig.wait_log(1, "stopping: dropping Master", Duration::from_secs(3));
    // The release's `-t -n` fail at once (no socket): only the stop hook is left.
    std::thread::sleep(Duration::from_millis(300));
    let ticks = cpu_ticks_over(worker[0], Duration::from_secs(1));
    assert!(
        ticks < 30,
        "the stopping worker used {ticks} ticks of CPU in one second\n{}",
        rig.log(1)
    );
}

/// A stopping worker removed its paths file, then went on refreshing it once a second while
/// its stop hook ran: the file outlived the worker, and ifcheckd read a stopped node's paths.
#[test]
fn paths_file_came_back_after_the_stopping_worker_removed_it() {
    let mut rig = Rig::new();
    let d = rig.dir.display().to_string();
    let cfg = std::fs::read_to_string(rig.cfg(1)).unwrap().replace(
        &format!("notify-master \"echo master >> {d}/notify1\";"),
        "notify-stop \"sleep 2.5\";",
    );
    std::fs::write(rig.cfg(1), cfg).unwrap();
    rig.start(1);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    let paths = rig.dir.join("paths1");
    assert!(
        paths.exists(),
        "no paths file while running\n{}",
        rig.log(1)
    );
    let worker = rig.pids(1, "pikemon: worker");
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-TERM");
    let start = Instant::now();
    while !rig.pids(1, "pikemon").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(12),
            "still running\n{}",
            rig.log(1)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!worker.is_empty());
    assert!(
        !paths.exists(),
        "the paths file outlived the worker\n{}",
        rig.log(1)
    );
}

/// With no heart-beat path UP (a peer that died, or none yet) the paths file was not
/// refreshed, and its refresh deadline, left in the past, woke the worker's loop without
/// pause. Under QEMU the SCHED_FIFO worker took the one vCPU from the kernel's network
/// processing until RT throttling ('sched: RT throttling activated').
#[test]
fn worker_spun_at_full_cpu_alone_and_after_its_peer_fell_silent() {
    let mut rig = Rig::new();
    rig.start(1);
    rig.wait_role(1, "Master", Duration::from_secs(5));
    let worker = rig.pids(1, "pikemon: worker");
    assert_eq!(worker.len(), 1);
    let idle = |what: &str| {
        let ticks = cpu_ticks_over(worker[0], Duration::from_secs(2));
        assert!(
            ticks < 30,
            "{what}: the worker used {ticks} ticks of CPU in two seconds"
        );
    };
    idle("alone");
    // The peer comes and falls silent (SIGSTOP: a machine death, no death-watch close).
    // The core's next deadline was the end of its dead-interval, in the past for as long
    // as the peer stayed silent: the worker spun on it (the QEMU bench's 100 ms machine
    // death: the new Master's replies left in bursts once a second, 1.1–1.5 s outage).
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    let b = rig.pids(2, "pikemon");
    rig.signal(&b, "-STOP");
    rig.wait_log(1, "heart-beat path hb1 FAULTY", Duration::from_secs(3));
    std::thread::sleep(Duration::from_millis(500));
    idle("after the peer fell silent");
    rig.signal(&b, "-CONT");
    rig.kill_daemon(2);
    rig.wait_log(1, "the peer's daemon is gone", Duration::from_secs(3));
    idle("after the peer's daemon died");
    // The paths file stays fresh for ifcheckd, every path FAULTY.
    let paths = rig.dir.join("paths1");
    let age = std::fs::metadata(&paths)
        .unwrap()
        .modified()
        .unwrap()
        .elapsed()
        .unwrap();
    assert!(age < Duration::from_secs(2), "paths file {age:?} old");
    let text = std::fs::read_to_string(&paths).unwrap();
    assert!(!text.contains("state UP"), "{text}");
}

/// The IPv6 form of `vip_claimed_by_another_mac_...`: an unsolicited advertisement
/// (Override) for the VIP from another MAC moved the client's neighbour entry there, and
/// the Master said and did nothing. Now it logs the claim and advertises again.
#[test]
fn ipv6_vip_advertised_from_another_mac_moved_the_client_and_went_unanswered() {
    let rig = Rig::without_death_watch().with_ipv6_only().started_pair();
    assert!(rig.client_ping6(VIP6), "{}", rig.log(1));
    assert!(rig.client_neigh6(VIP6).contains(&format!("lladdr {VMAC6}")));
    let rogue = Netns::new("e");
    rig.sw.attach(&rogue, "lan0");
    let na = unsolicited_na("020000000066", 20, 0.005);
    let out = rogue.cmd("python3").args(["-c", &na]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    rig.wait_client_neigh6(VIP6, VMAC6, Duration::from_secs(2), 1);
    let log = rig.log(1);
    assert!(
        log.contains("vc LAN: a VIP claimed by 02:00:00:00:00:66"),
        "{log}"
    );
    rig.assert_roles("Master", "Backup");
}

/// A python3 script sending `count` unsolicited Neighbor Advertisements (Override) for
/// `VIP6` from `mac` (hex, no colons) to ff02::1 on lan0, `gap` seconds apart.
fn unsolicited_na(mac: &str, count: u32, gap: f64) -> String {
    format!(
        "import socket,struct,time\n\
         def csum(b):\n\
         \x20   s=sum(struct.unpack('!%dH'%(len(b)//2),b))\n\
         \x20   while s>>16: s=(s&0xffff)+(s>>16)\n\
         \x20   return (~s)&0xffff\n\
         mac=bytes.fromhex('{mac}')\n\
         src=socket.inet_pton(socket.AF_INET6,'{vip}')\n\
         dst=socket.inet_pton(socket.AF_INET6,'ff02::1')\n\
         body=bytes([136,0,0,0,0x20,0,0,0])+src+bytes([2,1])+mac\n\
         c=csum(src+dst+struct.pack('!I',len(body))+bytes([0,0,0,58])+body)\n\
         body=body[:2]+struct.pack('!H',c)+body[4:]\n\
         ip6=bytes([0x60,0,0,0])+struct.pack('!H',len(body))+bytes([58,255])+src+dst\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n\
         s.bind(('lan0',0))\n\
         for i in range({count}):\n\
         \x20   s.send(bytes.fromhex('333300000001')+mac+bytes([0x86,0xdd])+ip6+body)\n\
         \x20   time.sleep({gap})\n",
        vip = VIP6,
    )
}

/// IPv6 had no conflict detection: Neighbor Discovery from the Master's virtual MAC sent by
/// another host (a stale node, a second pair on the LAN with the same MAC) went unnoticed,
/// where the same on ARP re-runs the election and re-sends the advertisements.
#[test]
fn ipv6_advertisement_from_our_virtual_mac_elsewhere_went_unnoticed() {
    let rig = Rig::without_death_watch().with_ipv6_only().started_pair();
    let stray = Netns::new("e");
    rig.sw.attach(&stray, "lan0");
    // Unsolicited Neighbor Advertisements (Override) for the VIP from the virtual MAC, as
    // a node that still believes it is Master sends them.
    let na = unsolicited_na(&VMAC6.replace(':', ""), 10, 0.05);
    let out = stray.cmd("python3").args(["-c", &na]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    rig.wait_log(
        1,
        "virtual MAC seen elsewhere; re-running the election",
        Duration::from_secs(2),
    );
    // Once per hello at most, and no role moves.
    let seen = rig.log(1).matches("virtual MAC seen elsewhere").count();
    assert!(
        (1..=6).contains(&seen),
        "{seen} reactions to 10 frames in 0.5 s"
    );
    rig.assert_roles("Master", "Backup");
    assert!(rig.client_ping6(VIP6), "{}", rig.log(1));
    assert!(rig.client_neigh6(VIP6).contains(&format!("lladdr {VMAC6}")));
    // The Backup is not Master: the same frames are nothing to it.
    assert!(
        !rig.log(2).contains("virtual MAC seen elsewhere"),
        "{}",
        rig.log(2)
    );
}

/// A SIGHUP upgrade of both nodes to a config that renumbered the virtual cluster (`id 1` to
/// `id 2`) left each node's old macvlan `pk1-lan0` up with the virtual MAC, and the kernel
/// refuses a second macvlan up with that MAC on one parent: the new `pk2-lan0` never came up,
/// both nodes reported the takeover Failed, and nobody served the VIP. The old instance's
/// macvlans that the new config does not name are deleted once the new worker takes over.
#[test]
fn renumbered_vc_left_the_old_macvlan_up_and_the_new_one_never_came_up() {
    let mut rig = Rig::new().started_pair();
    for n in [1, 2] {
        let path = rig.dir.join(format!("n{n}.cfg"));
        let cfg = std::fs::read_to_string(&path).unwrap();
        let renumbered = cfg.replace("id 1; primary", "id 2; primary");
        assert_ne!(cfg, renumbered);
        std::fs::write(&path, renumbered).unwrap();
    }
    // The backup first, then the master, as an operator upgrades a pair.
    for n in [2, 1] {
        let old = rig.pids(n, "pikemon");
        rig.signal(&rig.pids(n, "pikemon: supervisor"), "-HUP");
        rig.wait_log(n, "pid file released", Duration::from_secs(5));
        rig.start(n);
        rig.wait_old_gone(n, &old);
    }
    let role = |n: u32| {
        let (so, _) = text(&rig.control(n, &["status"]));
        so.lines()
            .find_map(|l| l.strip_prefix("vc LAN id 2 role "))
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("unreachable")
            .to_string()
    };
    let start = Instant::now();
    while !(role(1) == "Master" || role(2) == "Master") {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "nobody is Master: {} {}\n{}\n{}\nA:\n{}\nB:\n{}",
            role(1),
            role(2),
            text(&rig.a.ip(&["-br", "link"])).0,
            text(&rig.b.ip(&["-br", "link"])).0,
            rig.log(1),
            rig.log(2)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    // And the role moves both ways: each node's new macvlan comes up.
    let show = |out: &Output| {
        format!(
            "{out:?}\n{}\n{}\nA:\n{}\nB:\n{}",
            text(&rig.a.ip(&["-br", "link"])).0,
            text(&rig.b.ip(&["-br", "link"])).0,
            rig.log(1),
            rig.log(2)
        )
    };
    let (m, o) = if role(1) == "Master" { (1, 2) } else { (2, 1) };
    for (order, node, master) in [("drop", m, o), ("take", m, m)] {
        let out = rig.control(node, &[order]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert_eq!(role(master), "Master", "{}", show(&out));
        assert_eq!(
            rig.client_vip_mac().as_deref(),
            Some(VMAC),
            "{}",
            show(&out)
        );
    }
    for n in [1, 2] {
        let (links, _) = text(&rig.ns(n).ip(&["-br", "link"]));
        assert!(!links.contains("pk1-lan0"), "node {n}: {links}");
        assert!(links.contains("pk2-lan0"), "node {n}: {links}");
    }
}

/// `ip -4 -br addr` of `node`'s macvlan `pk1-lan0`: its state, then its addresses.
fn macvlan_v4(rig: &Rig, node: u32) -> (String, Vec<String>) {
    let (so, _) = text(
        &rig.ns(node)
            .ip(&["-4", "-br", "addr", "show", "dev", "pk1-lan0"]),
    );
    let mut w = so.split_whitespace().skip(1);
    let state = w.next().unwrap_or("").to_string();
    let mut addrs: Vec<String> = w.map(str::to_string).collect();
    addrs.sort();
    (state, addrs)
}

/// The MAC of `node`'s macvlan `pk1-lan0`.
fn macvlan_mac(rig: &Rig, node: u32) -> String {
    let (so, _) = text(&rig.ns(node).ip(&["-br", "link", "show", "dev", "pk1-lan0"]));
    so.split_whitespace().nth(2).unwrap_or("").to_string()
}

/// Both nodes' configs edited with `edit`, then a rolling SIGHUP upgrade (the Backup first).
fn edit_and_upgrade(rig: &mut Rig, edit: &dyn Fn(&str) -> String) {
    for n in [1, 2] {
        let path = rig.dir.join(format!("n{n}.cfg"));
        let cfg = std::fs::read_to_string(&path).unwrap();
        let edited = edit(&cfg);
        assert_ne!(cfg, edited);
        std::fs::write(&path, edited).unwrap();
    }
    for n in [2, 1] {
        let old = rig.pids(n, "pikemon");
        let mark = rig.log(n).len();
        rig.signal(&rig.pids(n, "pikemon: supervisor"), "-HUP");
        let start = Instant::now();
        while !rig.log(n)[mark..].contains("pid file released") {
            assert!(start.elapsed() < Duration::from_secs(5), "{}", rig.log(n));
            std::thread::sleep(Duration::from_millis(20));
        }
        let mark = rig.log(n).len();
        rig.start(n);
        let start = Instant::now();
        while rig.pids(n, "pikemon").iter().any(|p| old.contains(p))
            || !rig.log(n)[mark..].contains("hand-over: stopping the old instance")
        {
            assert!(start.elapsed() < Duration::from_secs(5), "{}", rig.log(n));
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A rolling SIGHUP upgrade that changed only the VIP list (198.51.100.12 out, .11 in, same
/// virtual cluster id), then only the virtual MAC. The removed VIP stayed on the Master's
/// macvlan, answered, until its lease ran out (and on a Backup's down macvlan for good,
/// to come up again with the next takeover).
#[test]
fn sighup_with_a_vip_removed_kept_answering_for_it_on_the_master() {
    let rig = Rig::new();
    for n in [1, 2] {
        let path = rig.dir.join(format!("n{n}.cfg"));
        let cfg = std::fs::read_to_string(&path).unwrap();
        let two = cfg.replace(
            "ipv4 [198.51.100.10]/24;",
            "ipv4 [198.51.100.10]/24; ipv4 [198.51.100.12]/24;",
        );
        std::fs::write(&path, two).unwrap();
    }
    let mut rig = rig.started_pair();
    let show = |rig: &Rig, what: &str| {
        format!(
            "{what}\nA: {:?} {}\nB: {:?} {}\n--- A:\n{}\n--- B:\n{}",
            macvlan_v4(rig, 1),
            macvlan_mac(rig, 1),
            macvlan_v4(rig, 2),
            macvlan_mac(rig, 2),
            rig.log(1),
            rig.log(2)
        )
    };
    let wanted = |vips: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vips.iter().map(|a| format!("{a}/24")).collect();
        v.sort();
        v
    };
    assert_eq!(
        macvlan_v4(&rig, 1),
        (
            "UP".to_string(),
            wanted(&["198.51.100.10", "198.51.100.12"])
        ),
        "{}",
        show(&rig, "before")
    );
    assert_eq!(rig.client_mac_of("198.51.100.12").as_deref(), Some(VMAC));

    // 1. Only the VIP list changes.
    edit_and_upgrade(&mut rig, &|c: &str| {
        c.replace("198.51.100.12", "198.51.100.11")
    });
    // A new worker whose config changed starts in Init and is Master once it has heard the
    // peer (a hello or two): the old instance can be gone before that.
    rig.wait_roles("Master", "Backup", Duration::from_secs(2));
    let new = wanted(&["198.51.100.10", "198.51.100.11"]);
    // At once: no waiting for the removed VIP's lease.
    let (state, addrs) = macvlan_v4(&rig, 1);
    assert!(state == "UP" && addrs == new, "{}", show(&rig, "VIPs"));
    let (state, addrs) = macvlan_v4(&rig, 2);
    assert!(state == "DOWN" && addrs == new, "{}", show(&rig, "VIPs"));
    assert_eq!(
        rig.client_mac_of("198.51.100.12"),
        None,
        "{}",
        show(&rig, ".12")
    );
    assert_eq!(
        rig.client_mac_of("198.51.100.11").as_deref(),
        Some(VMAC),
        "{}",
        show(&rig, ".11")
    );
    for n in [1, 2] {
        let (so, _) = text(&rig.control(n, &["status"]));
        assert!(
            so.contains("198.51.100.11") && !so.contains("198.51.100.12"),
            "node {n}: {so}"
        );
    }

    // 2. Only the virtual MAC changes.
    let vmac2 = "02:c6:33:64:0b:00";
    edit_and_upgrade(&mut rig, &|c: &str| {
        c.replace(
            "ipv4 [198.51.100.11]/24;",
            &format!("ipv4 [198.51.100.11]/24; mac {vmac2};"),
        )
    });
    rig.wait_roles("Master", "Backup", Duration::from_secs(2));
    for n in [1, 2] {
        assert_eq!(macvlan_mac(&rig, n), vmac2, "{}", show(&rig, "MAC"));
    }
    let (state, addrs) = macvlan_v4(&rig, 1);
    assert!(state == "UP" && addrs == new, "{}", show(&rig, "MAC"));
    for ip in ["198.51.100.10", "198.51.100.11"] {
        assert_eq!(
            rig.client_mac_of(ip).as_deref(),
            Some(vmac2),
            "{}",
            show(&rig, ip)
        );
    }

    // 3. A failover moves the new set.
    rig.kill_daemon(1);
    rig.wait_role(2, "Master", Duration::from_secs(5));
    let (state, addrs) = macvlan_v4(&rig, 2);
    assert!(state == "UP" && addrs == new, "{}", show(&rig, "failover"));
    for ip in ["198.51.100.10", "198.51.100.11"] {
        assert_eq!(
            rig.client_mac_of(ip).as_deref(),
            Some(vmac2),
            "{}",
            show(&rig, ip)
        );
    }
    assert_eq!(rig.client_mac_of("198.51.100.12"), None);
}

/// Guard (passes before and after): a rolling SIGHUP upgrade that adds a VIP, with the
/// non-primary node B as Master (A told `drop`), keeps B's role: its new worker resumes from
/// the hand-over although its macvlan did not yet carry the added VIP, which comes up at
/// once; the primary does not take the role.
#[test]
fn sighup_adding_a_vip_kept_a_non_primary_masters_role() {
    let mut rig = Rig::new().started_pair();
    let out = rig.control(1, &["drop"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_roles("Backup", "Master", Duration::from_secs(2));
    let marks = (rig.log(1).len(), rig.log(2).len());
    edit_and_upgrade(&mut rig, &|c: &str| {
        c.replace(
            "ipv4 [198.51.100.10]/24;",
            "ipv4 [198.51.100.10]/24; ipv4 [198.51.100.11]/24;",
        )
    });
    // Two hellos' worth of time for a role change to show.
    std::thread::sleep(Duration::from_millis(500));
    rig.assert_roles("Backup", "Master");
    let (a, b) = (rig.log(1), rig.log(2));
    assert!(
        !a[marks.0..].contains("=> Master") && !b[marks.1..].contains("Master =>"),
        "a role changed hands in the upgrade\n--- A:\n{a}\n--- B:\n{b}"
    );
    // The added VIP is up on B at once, the old one still there.
    let (state, addrs) = macvlan_v4(&rig, 2);
    assert!(
        state == "UP"
            && addrs
                == [
                    "198.51.100.10/24".to_string(),
                    "198.51.100.11/24".to_string()
                ],
        "{state} {addrs:?}\n{}",
        rig.log(2)
    );
    assert_eq!(rig.client_mac_of("198.51.100.11").as_deref(), Some(VMAC));
}

/// Runs `pikemon -f CFG -d` on `node` and waits up to `limit` for it to exit: its exit code
/// (None: still running then, and killed) and its stderr.
fn start_bounded(rig: &Rig, node: u32, cfg: &Path, limit: Duration) -> (Option<i32>, String) {
    let log = rig.dir.join(format!("bounded{}", unique("")));
    let mut child = rig
        .ns(node)
        .cmd(applet("pikemon"))
        .args(["-f", &cfg.display().to_string(), "-d"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, std::fs::read_to_string(&log).unwrap_or_default())
}

/// The inode of `path` (0: none).
fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).map_or(0, |m| m.ino())
}

/// A second `pikemon` started on a node whose pikemon runs, the operator having copied the
/// config and changed its pid-file (and status-file): the pid file's lock was the only guard,
/// so it started, replaced the first's control socket with its own, took the same macvlan and
/// played Master beside the first worker. Now the network namespace's lock refuses it (exit 1,
/// `already running [pid N] in this network namespace`) and nothing of the first is touched.
#[test]
fn second_instance_with_another_pid_file_ran_beside_the_first() {
    let rig = Rig::new().started_pair();
    let mut before = rig.pids(1, "pikemon");
    before.sort();
    let ctl = rig.dir.join("ctl1");
    let ctl_inode = inode(&ctl);
    let pid_text = std::fs::read_to_string(rig.dir.join("pid1")).unwrap();
    // The same config: the pid file's lock refuses it.
    let (code, err) = start_bounded(&rig, 1, Path::new(&rig.cfg(1)), Duration::from_secs(3));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("already running"), "{err}");
    let other = rig.dir.join("other.cfg");
    let cfg = std::fs::read_to_string(rig.cfg(1)).unwrap();
    let d = rig.dir.display().to_string();
    std::fs::write(
        &other,
        cfg.replace(&format!("{d}/pid1"), &format!("{d}/pidX"))
            .replace(&format!("{d}/status1"), &format!("{d}/statusX")),
    )
    .unwrap();
    let (code, err) = start_bounded(&rig, 1, &other, Duration::from_secs(3));
    let mut after = rig.pids(1, "pikemon");
    after.sort();
    assert_eq!(code, Some(1), "{err}\nA:\n{}", rig.log(1));
    let supervisor = rig.pids(1, "pikemon: supervisor");
    assert!(
        err.contains(&format!(
            "pikemon: already running [pid {}] in this network namespace",
            supervisor[0]
        )),
        "{err}"
    );
    assert_eq!(after, before, "{err}");
    assert_eq!(inode(&ctl), ctl_inode, "{err}");
    assert_eq!(
        std::fs::read_to_string(rig.dir.join("pid1")).unwrap(),
        pid_text
    );
    assert!(!rig.dir.join("pidX").exists());
    assert!(!rig.dir.join("statusX").exists());
    rig.assert_roles("Master", "Backup");
    assert!(rig.macvlan_up(1));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
}

/// `-c drop` sent to both nodes at once, then `-c take` to both at once, twice each: every
/// answer is a documented exit (0 in effect, 1 refused, 4 pending with the order standing),
/// and once the answers are in exactly one node is Master, for as long as it is watched.
#[test]
fn drop_or_take_on_both_nodes_at_once_leaves_exactly_one_master() {
    let rig = Rig::new().started_pair();
    for order in ["drop", "take", "drop", "take"] {
        let (o1, o2) = std::thread::scope(|s| {
            let h1 = s.spawn(|| rig.control(1, &[order]));
            let h2 = s.spawn(|| rig.control(2, &[order]));
            (h1.join().unwrap(), h2.join().unwrap())
        });
        for o in [&o1, &o2] {
            assert!(matches!(o.status.code(), Some(0 | 1 | 4)), "{order}: {o:?}");
        }
        // Settled within a dead-interval and a hello, then one Master throughout.
        std::thread::sleep(Duration::from_millis(400));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(1) {
            let (ra, rb) = (rig.role(1), rig.role(2));
            let masters = [&ra, &rb].iter().filter(|r| r.as_str() == "Master").count();
            assert_eq!(
                masters,
                1,
                "{order}: roles {ra}/{rb}\n{o1:?}\n{o2:?}\nA:\n{}\nB:\n{}",
                rig.log(1),
                rig.log(2)
            );
            assert!(rig.macvlan_up(1) != rig.macvlan_up(2), "{order}: {ra}/{rb}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

/// SIGHUP on the Master, then new instances while its key file (named by the config) was
/// emptied, deleted, made world-readable and replaced. An emptied or deleted key file was
/// refused (exit 2, the old instance serving on) with `n1.cfg:6:15: error: the key is 0
/// bytes` / `cannot read key file: No such file`: the line named where the path stands, the
/// message not which file; a world-readable one started the new instance without a word
/// (only test-pikemon warned). The errors name the key file now and the daemon warns as
/// test-pikemon does; a replaced key still leaves one Master (the probe is answered).
#[test]
fn upgrade_after_sighup_with_the_key_file_emptied_deleted_or_world_readable_never_named_it() {
    use std::os::unix::fs::PermissionsExt;
    let rig = Rig::new();
    let key = rig.dir.join("pike.key");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    std::fs::set_permissions(&key, PermissionsExt::from_mode(0o600)).unwrap();
    let line = format!("hmac file \"{}\"", key.display());
    for n in [1, 2] {
        let path = rig.dir.join(format!("n{n}.cfg"));
        let cfg = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, cfg.replace(&format!("hmac key \"{KEY}\""), &line)).unwrap();
    }
    let mut rig = rig.started_pair();
    let cfg1 = PathBuf::from(rig.cfg(1));
    let old = rig.pids(1, "pikemon");
    // The ACR goes at SIGHUP; the supervisor and the worker stay until a new worker serves.
    let serving = [
        rig.pids(1, "pikemon: supervisor"),
        rig.pids(1, "pikemon: worker"),
    ]
    .concat();
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-HUP");
    rig.wait_log(1, "pid file released", Duration::from_secs(5));
    let k = key.display().to_string();
    let at = format!("{}:6:15: error: ", cfg1.display());
    for (content, said) in [
        (
            Some(""),
            format!("{at}key file {k}: the key is 0 bytes, at least 16"),
        ),
        (None, format!("{at}cannot read key file {k}: No such file")),
    ] {
        match content {
            Some(c) => std::fs::write(&key, c).unwrap(),
            None => std::fs::remove_file(&key).unwrap(),
        }
        let (code, err) = start_bounded(&rig, 1, &cfg1, Duration::from_secs(3));
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(&said), "{err}");
        // The old instance serves on, its hand-over still pending for the next start.
        let now = rig.pids(1, "pikemon");
        assert!(
            serving.iter().all(|p| now.contains(p)),
            "{serving:?} {now:?} {err}"
        );
        assert!(rig.dir.join("pid1.old").exists());
        assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
        assert_eq!(rig.role(2), "Backup");
    }
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    std::fs::set_permissions(&key, PermissionsExt::from_mode(0o644)).unwrap();
    rig.start(1);
    rig.wait_old_gone(1, &old);
    assert!(
        rig.log(1).contains(&format!(
            "pikemon: warning: key file {k} is readable by group or others (mode 644)"
        )),
        "{}",
        rig.log(1)
    );
    rig.wait_roles("Master", "Backup", Duration::from_secs(3));
    // A key replaced by another: the new instance is valid and takes over; the peer cannot
    // hear it, but its probe is answered from the virtual MAC: still one Master.
    let old = rig.pids(1, "pikemon");
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-HUP");
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&key, "another-key-of-20-b\n").unwrap();
    rig.start(1);
    rig.wait_old_gone(1, &old);
    std::thread::sleep(Duration::from_secs(1));
    rig.assert_roles("Master", "Backup");
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
}

// ---- Config items shown to take effect (not only to parse) ----

impl Rig {
    /// Replaces `from` by `to` in `node`'s config (which must hold `from`).
    fn edit(&self, node: u32, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.cfg(node)).unwrap();
        assert!(text.contains(from), "no '{from}' in\n{text}");
        std::fs::write(self.cfg(node), text.replace(from, to)).unwrap();
    }
}

/// `track-process NAME` on A: while a process of that name runs A is Master; once it is
/// gone A is Down, B takes over, and A's `notify-fault` hook runs with the reason.
#[test]
fn track_process_gone_made_the_master_down_and_ran_notify_fault() {
    let mut rig = Rig::new();
    // comm is the name the program was started by: a link to sleep, unique per run.
    let name = format!("pkt{}", std::process::id() % 1_000_000);
    let link = rig.dir.join(&name);
    std::os::unix::fs::symlink("/bin/sleep", &link).unwrap();
    let mut tracked = Command::new(&link).arg("60").spawn().unwrap();
    let fault = rig.dir.join("fault1");
    rig.edit(
        1,
        "ping-group LO {",
        &format!(
            "track-process {name} interval 100ms fall 1 rise 1;\n        \
             notify-fault \"echo fault $PIKEMON_REASON >> {}\";\n        ping-group LO {{",
            fault.display()
        ),
    );
    rig.start(1);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    rig.assert_roles("Master", "Backup");
    assert!(!fault.exists(), "{}", rig.log(1));
    let (so, _) = text(&rig.control(1, &["status"]));
    assert!(so.contains(&format!("  track-process {name} Up")), "{so}");
    tracked.kill().unwrap();
    tracked.wait().unwrap();
    rig.wait_roles("Backup", "Master", Duration::from_secs(5));
    let (so, _) = text(&rig.control(1, &["status"]));
    assert!(so.contains(&format!("  track-process {name} Down")), "{so}");
    let start = Instant::now();
    while !std::fs::read_to_string(&fault)
        .unwrap_or_default()
        .starts_with("fault ")
    {
        assert!(start.elapsed() < Duration::from_secs(3), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

/// `min-up 2` in a ping group of two hosts, one of which never answers: the group is Down and
/// the primary A yields to B. With `min-up 1` (the default) the same group is Up: A, Backup
/// now, can `take` the role back (an order never wins over health).
#[test]
fn min_up_two_of_a_group_with_one_dead_host_made_the_node_down() {
    let mut rig = Rig::new();
    let group = "ping-group GW { host [198.51.100.1]; ";
    rig.edit(
        1,
        group,
        "ping-group GW { host [198.51.100.1]; host [198.51.100.99]; min-up 2; ",
    );
    rig.start(2);
    rig.wait_role(2, "Master", Duration::from_secs(5));
    rig.start(1);
    std::thread::sleep(Duration::from_secs(2));
    rig.assert_roles("Backup", "Master");
    let (so, _) = text(&rig.control(1, &["status"]));
    assert!(so.contains("ping-group GW Down"), "{so}");
    let out = rig.control(1, &["take"]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    rig.assert_roles("Backup", "Master");
    rig.kill_daemon(1);
    rig.edit(1, "min-up 2; ", "min-up 1; ");
    rig.start(1);
    rig.wait_role(1, "Backup", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    let (so, _) = text(&rig.control(1, &["status"]));
    assert!(so.contains("ping-group GW Up"), "{so}");
    let out = rig.control(1, &["take"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    rig.wait_roles("Master", "Backup", Duration::from_secs(3));
}

/// `preemptive yes; preempt-delay 2s;`: the primary A, started again while B is Master,
/// waits the delay, then takes the role back (without `preemptive` it stays Backup).
#[test]
fn preemptive_primary_took_the_role_back_only_after_preempt_delay() {
    let rig = Rig::new();
    for n in [1, 2] {
        rig.edit(
            n,
            "id 1; primary node 1;",
            "id 1; primary node 1; preemptive yes; preempt-delay 2s;",
        );
    }
    let mut rig = rig.started_pair();
    rig.kill_daemon(1);
    rig.wait_role(2, "Master", Duration::from_secs(5));
    let started = Instant::now();
    rig.start(1);
    rig.wait_role(1, "Backup", Duration::from_secs(3));
    // Its witnesses are up within rise × interval (0.2 s): well before the delay ends.
    while started.elapsed() < Duration::from_millis(1700) {
        rig.assert_roles("Backup", "Master");
        std::thread::sleep(Duration::from_millis(100));
    }
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "A took the role back {took:?} after its start\n{}",
        rig.log(1)
    );
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

/// The gratuitous ARPs from the virtual MAC (requests `tell VIP`, replies `VIP is-at VMAC`),
/// as the client's `tcpdump -e -tt` shows them: their times in seconds.
fn garps_seen(capture: &str) -> Vec<f64> {
    capture
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(VMAC))
        .filter(|l| {
            l.contains(&format!(" tell {VIP},")) || l.contains(&format!("Reply {VIP} is-at {VMAC}"))
        })
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// `garp-repeat 5; garp-interval 100ms; garp-keepalive 1s;`: becoming Master sends 5 bursts
/// of 4 gratuitous ARPs 100 ms apart, then one burst every second while Master.
#[test]
fn garp_repeat_interval_and_keepalive_shape_the_bursts_on_the_wire() {
    let mut rig = Rig::new();
    for n in [1, 2] {
        rig.edit(
            n,
            "garp-interval 20ms;",
            "garp-repeat 5; garp-interval 100ms; garp-keepalive 1s;",
        );
    }
    let mut dump = rig
        .client
        .cmd("tcpdump")
        .args(["-i", "lan0", "-nn", "-e", "-l", "-tt", "arp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    rig.start(1);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(3300));
    let _ = Command::new("kill")
        .args(["-INT", &dump.id().to_string()])
        .status();
    let mut capture = String::new();
    use std::io::Read;
    dump.stdout
        .take()
        .unwrap()
        .read_to_string(&mut capture)
        .unwrap();
    dump.wait().unwrap();
    let t = garps_seen(&capture);
    assert!(t.len() >= 28, "{} GARPs:\n{capture}", t.len());
    // The takeover: 20 frames in 5 bursts 100 ms apart (0.4 s from the first to the last).
    let span = t[19] - t[0];
    assert!((0.35..0.7).contains(&span), "burst span {span}\n{capture}");
    assert!(t[20] - t[19] > 0.7, "a 6th burst right after\n{capture}");
    // Then a burst of 4 every second.
    let rest = &t[20..];
    assert_eq!(rest.len() % 4, 0, "{capture}");
    let starts: Vec<f64> = rest.chunks(4).map(|c| c[0]).collect();
    for c in rest.chunks(4) {
        assert!(
            c[3] - c[0] < 0.05,
            "a keepalive burst spread out\n{capture}"
        );
    }
    assert!(starts.len() >= 2, "{capture}");
    for w in starts.windows(2) {
        assert!(
            (0.8..1.3).contains(&(w[1] - w[0])),
            "keepalive every {}s\n{capture}",
            w[1] - w[0]
        );
    }
}

/// `nomadic yes`: the Backup's macvlan carries no VIP (with the default `no` it keeps it,
/// down: `vips_kept_by_a_backup_lost_their_lease_on_release`), and a Master that drops the
/// role deletes its VIP.
#[test]
fn nomadic_yes_left_no_vip_on_the_backups_macvlan() {
    let rig = Rig::new();
    for n in [1, 2] {
        rig.edit(
            n,
            &format!("ipv4 [{VIP}]/24; }}"),
            &format!("ipv4 [{VIP}]/24; nomadic yes; }}"),
        );
    }
    let rig = rig.started_pair();
    std::thread::sleep(Duration::from_millis(300));
    assert!(vip_line(&rig, 1).is_some(), "{}", rig.log(1));
    assert_eq!(vip_line(&rig, 2), None, "{}", rig.log(2));
    let out = rig.control(1, &["drop"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_roles("Backup", "Master", Duration::from_secs(3));
    let start = Instant::now();
    while vip_line(&rig, 1).is_some() {
        assert!(start.elapsed() < Duration::from_secs(1), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(vip_line(&rig, 2).is_some(), "{}", rig.log(2));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

/// `resolve-interval 1s`: a witness's name that moves to another address in A's hosts file
/// is re-resolved within about a second; the new address does not answer, so A goes Down
/// and B takes over. `log-level 7` shows each lookup (debug), which B at the default level
/// does not log.
#[test]
fn resolve_interval_re_resolved_a_moved_witness_name_and_log_level_7_shows_each_lookup() {
    let rig = Rig::new();
    rig.edit(
        1,
        "hello-interval 100ms;",
        "hello-interval 100ms; resolve-interval 1s; log-level 7;",
    );
    let rig = rig.started_pair();
    std::thread::sleep(Duration::from_millis(2500));
    rig.assert_roles("Master", "Backup");
    let lookup = "acr: witness.test -> Addr(198.51.100.50)";
    let rounds = rig.log(1).matches(lookup).count();
    assert!(
        (2..=5).contains(&rounds),
        "{rounds} lookups in 2.5 s:\n{}",
        rig.log(1)
    );
    assert!(
        !rig.log(2).contains("acr: witness.test ->"),
        "{}",
        rig.log(2)
    );
    rig.a
        .hosts("127.0.0.1 localhost\n198.51.100.60 witness.test\n");
    let moved = Instant::now();
    rig.wait_log(
        1,
        "acr: witness.test is 198.51.100.60",
        Duration::from_secs(3),
    );
    assert!(
        moved.elapsed() < Duration::from_millis(1500),
        "{:?}",
        moved.elapsed()
    );
    rig.wait_roles("Backup", "Master", Duration::from_secs(3));
    let (so, _) = text(&rig.control(1, &["status"]));
    assert!(so.contains("ping-group LO Down"), "{so}");
}

/// `priority` with no `primary`: B (node-id 2, priority 200) against A (node-id 1, the default
/// 100), where the node-ids alone would make A Master. Started together (a dead-interval of
/// 2 s, so each hears the other while it still listens) B wins the election; after a full
/// partition made both Master, the healed LAN leaves B the Master again.
#[test]
fn priority_decided_the_election_and_the_healed_partition_without_a_primary() {
    let mut rig = Rig::without_death_watch();
    for n in [1, 2] {
        rig.edit(n, "id 1; primary node 1;", "id 1;");
        rig.edit(
            n,
            "hello-interval 100ms;",
            "hello-interval 100ms; dead-interval 2s;",
        );
    }
    rig.edit(2, "id 1;", "id 1; priority 200;");
    rig.start(1);
    rig.start(2);
    rig.wait_roles("Backup", "Master", Duration::from_secs(8));
    assert!(rig.log(2).contains("tie: priority"), "{}", rig.log(2));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    // The partition: both heart-beat links down, the switch drops all between A and B.
    for hb in ["hb0", "hb1"] {
        rig.a.ip(&["link", "set", hb, "down"]);
    }
    let (pa, pb) = (&rig.a_port, &rig.b_port);
    rig.switch_rules(
        "partition.nft",
        &format!(
            "table bridge part {{\n chain fw {{\n  type filter hook forward priority 0;\n  \
             iifname \"{pa}\" oifname \"{pb}\" drop\n  iifname \"{pb}\" oifname \"{pa}\" drop\n }}\n}}\n"
        ),
    );
    rig.wait_roles("Master", "Master", Duration::from_secs(8));
    let out = rig.sw.ns.run(&["nft", "delete", "table", "bridge", "part"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_roles("Backup", "Master", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    rig.assert_roles("Backup", "Master");
    assert!(!rig.macvlan_up(1));
}

/// `onlink`: a VIP outside every subnet of lan0 (198.18.0.10/32 beside 198.51.100.10/24).
/// Without `onlink yes;` pikemon refuses to start (exit 2, the error at the address naming
/// the item); with it the pair starts, and the Master answers the client (which routes the
/// address onto the LAN) from the virtual MAC, and so does B after a failover.
#[test]
fn onlink_yes_let_a_vip_outside_the_subnets_of_the_interface_start_and_be_answered() {
    let rig = Rig::new();
    let extra = "198.18.0.10";
    for n in [1, 2] {
        rig.edit(
            n,
            &format!("ipv4 [{VIP}]/24; }}"),
            &format!("ipv4 [{VIP}]/24; ipv4 [{extra}]/32; }}"),
        );
    }
    let cfg = PathBuf::from(rig.cfg(1));
    let (code, log) = start_bounded(&rig, 1, &cfg, Duration::from_secs(10));
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains(&format!("{}:12:", cfg.display()))
            && log.contains("198.18.0.10 is outside every subnet of lan0 (198.51.100.2/24)")
            && log.contains("add 'onlink yes;'"),
        "{log}"
    );
    assert!(rig.pids(1, "pikemon").is_empty());
    for n in [1, 2] {
        rig.edit(
            n,
            &format!("ipv4 [{extra}]/32; }}"),
            &format!("ipv4 [{extra}]/32; onlink yes; }}"),
        );
    }
    let rig = rig.started_pair();
    rig.client
        .ip(&["route", "add", &format!("{extra}/32"), "dev", "lan0"]);
    assert_eq!(rig.client_mac_of(extra).as_deref(), Some(VMAC));
    rig.kill_daemon(1);
    rig.wait_role(2, "Master", Duration::from_secs(5));
    assert_eq!(rig.client_mac_of(extra).as_deref(), Some(VMAC));
    assert!(rig.macvlan_up(2));
}

/// The `host ... up`/`down` state of the gateway in `node`'s `-c status`.
fn gateway_state(rig: &Rig, node: u32) -> Option<&'static str> {
    let (so, _) = text(&rig.control(node, &["status"]));
    let line = "host 198.51.100.1 addr 198.51.100.1 ";
    if so.contains(&format!("{line}down")) {
        Some("down")
    } else if so.contains(&format!("{line}up")) {
        Some("up")
    } else {
        None
    }
}

/// Waits until the gateway is `state` in `node`'s status; how long that took.
fn wait_gateway(rig: &Rig, node: u32, state: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while gateway_state(rig, node) != Some(state) {
        assert!(
            start.elapsed() < limit,
            "gateway not {state} in {limit:?}\n{}",
            rig.log(node)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

/// `interval 1s; timeout 1s; fall 3; rise 2;`: the gateway silent towards A is down after
/// three unanswered requests (3..4 s of silence), and once it answers again up after two
/// replies (1..2 s); meanwhile B holds the role. The bounds leave room for a loaded machine
/// only upwards: a timer never fires early.
#[test]
fn ping_group_fall_3_rise_2_at_interval_1s_took_about_3_and_2_seconds() {
    let mut rig = Rig::new();
    rig.edit(
        1,
        "host [198.51.100.1]; interval 100ms; timeout 100ms; fall 2; rise 2;",
        "host [198.51.100.1]; interval 1s; timeout 1s; fall 3; rise 2;",
    );
    rig.start(1);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(gateway_state(&rig, 1), Some("up"), "{}", rig.log(1));
    let cut = Instant::now();
    rig.gw.ip(&["route", "add", "prohibit", "198.51.100.2/32"]);
    wait_gateway(&rig, 1, "down", Duration::from_secs(8));
    let down = cut.elapsed();
    rig.wait_roles("Backup", "Master", Duration::from_secs(3));
    let healed = Instant::now();
    rig.gw.ip(&["route", "del", "prohibit", "198.51.100.2/32"]);
    wait_gateway(&rig, 1, "up", Duration::from_secs(6));
    let up = healed.elapsed();
    eprintln!("down after {down:?} of silence, up after {up:?} of answers");
    assert!(
        down >= Duration::from_millis(2900) && down < Duration::from_millis(6500),
        "down after {down:?}\n{}",
        rig.log(1)
    );
    assert!(
        up >= Duration::from_millis(900) && up < Duration::from_millis(4500),
        "up after {up:?}\n{}",
        rig.log(1)
    );
    let (so, _) = text(&rig.control(1, &["status"]));
    assert!(so.contains("ping-group GW Up"), "{so}");
}

/// `cluster-id`: a second pair (C, D) on the same LAN and on the same shared heart-beat
/// segment, made as a tired operator would (the same node-ids 1 and 2, the same key, the same
/// virtual-cluster id, only its own VIP) with `cluster-id 2` where A and B keep the default 1.
/// Each pair elects one Master and neither hears the other: no node reports a twin of its
/// node-id, and the failover of one pair moves nothing in the other.
#[test]
fn two_pairs_with_other_cluster_ids_on_one_lan_and_heart_beat_stayed_one_master_each() {
    let mut rig = Rig::with_shared_heart_beat();
    let vip2 = "198.51.100.20";
    let vmac2 = "02:c6:33:64:14:00";
    let dir2 = rig.dir.join("p2");
    std::fs::create_dir_all(&dir2).unwrap();
    let c = Netns::new("c2");
    let d = Netns::new("d2");
    rig.sw.attach(&c, "lan0");
    rig.sw.attach(&d, "lan0");
    let hb_sw = rig.hb_sw.as_ref().unwrap();
    hb_sw.attach(&c, "hb1");
    hb_sw.attach(&d, "hb1");
    veth(&c, "hb0", &d, "hb0");
    c.ip(&["addr", "add", "198.51.100.4/24", "dev", "lan0"]);
    d.ip(&["addr", "add", "198.51.100.5/24", "dev", "lan0"]);
    let pair2 = [(1, &c), (2, &d)];
    for (n, ns) in pair2 {
        ns.hosts("127.0.0.1 localhost\n198.51.100.50 witness.test\n");
        let text = config(&dir2, n, KEY, false)
            .replace(&format!("[{VIP}]"), &format!("[{vip2}]"))
            .replace(
                "hello-interval 100ms;",
                "hello-interval 100ms; cluster-id 2;",
            );
        std::fs::write(dir2.join(format!("n{n}.cfg")), text).unwrap();
    }
    let role2 = |n: u32, ns: &Netns| {
        let out = ns
            .cmd(applet("pikemon"))
            .args(["-f", &dir2.join(format!("n{n}.cfg")).display().to_string()])
            .args(["-c", "status"])
            .output()
            .unwrap();
        text(&out)
            .0
            .lines()
            .find_map(|l| l.strip_prefix("vc LAN id 1 role "))
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("unreachable")
            .to_string()
    };
    let log2 = |n: u32| std::fs::read_to_string(dir2.join(format!("log{n}"))).unwrap_or_default();
    // All four at once.
    for (n, ns) in pair2 {
        let log = std::fs::File::create(dir2.join(format!("log{n}"))).unwrap();
        let cfg = dir2.join(format!("n{n}.cfg")).display().to_string();
        let child = ns
            .cmd(applet("pikemon"))
            .args(["-f", &cfg, "-d"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        rig.kids.push(child);
    }
    rig.start(1);
    rig.start(2);
    let roles2 = || (role2(1, &c), role2(2, &d));
    let start = Instant::now();
    while roles2() != ("Master".to_string(), "Backup".to_string()) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}\nC:\n{}\nD:\n{}",
            roles2(),
            log2(1),
            log2(2)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1000));
    rig.assert_roles("Master", "Backup");
    assert_eq!(roles2(), ("Master".to_string(), "Backup".to_string()));
    assert_eq!(rig.client_mac_of(VIP).as_deref(), Some(VMAC));
    assert_eq!(rig.client_mac_of(vip2).as_deref(), Some(vmac2));
    let logs = [rig.log(1), rig.log(2), log2(1), log2(2)];
    for log in &logs {
        assert!(!log.contains("carries our node-id"), "{log}");
        assert!(!log.contains("config drift"), "{log}");
    }
    // The frames of the other pair reached every node on hb1 and the LAN (the switches
    // flood the group MAC), yet each node heard its own peer only.
    let (so, _) = text(&rig.control(2, &["status"]));
    assert!(so.contains("peer 1 "), "{so}");
    // A fails: B takes over; C and D change nothing.
    let transitions = |log: &str| log.matches(" => ").count();
    let before = (transitions(&log2(1)), transitions(&log2(2)));
    rig.kill_daemon(1);
    rig.wait_role(2, "Master", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(roles2(), ("Master".to_string(), "Backup".to_string()));
    assert_eq!(
        (transitions(&log2(1)), transitions(&log2(2))),
        before,
        "C:\n{}\nD:\n{}",
        log2(1),
        log2(2)
    );
    assert_eq!(rig.client_mac_of(vip2).as_deref(), Some(vmac2));
    assert_eq!(rig.client_mac_of(VIP).as_deref(), Some(VMAC));
}

/// The gateway answers echo requests from a python raw socket instead of its kernel: those
/// of `slow` after `delay_s` seconds, the others at once; it stops after `secs` seconds.
fn slow_gateway(rig: &Rig, slow: &str, delay_s: f64, secs: u32) -> Child {
    rig.gw.sysctl("net.ipv4.icmp_echo_ignore_all", "1");
    let script = format!(
        r#"
import socket, struct, threading, time
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(0.2)
end = time.time() + {secs}
def reply(icmp, src):
    body = b'\0\0\0\0' + icmp[4:]
    body = body[:2] + struct.pack('!H', csum(body)) + body[4:]
    s.sendto(body, (src, 0))
while time.time() < end:
    try:
        pkt, (src, _) = s.recvfrom(2048)
    except socket.timeout:
        continue
    icmp = pkt[(pkt[0] & 15) * 4:]
    if icmp[0] != 8:
        continue
    if src == '{slow}':
        threading.Timer({delay_s}, reply, (icmp, src)).start()
    else:
        reply(icmp, src)
"#
    );
    rig.gw
        .cmd("python3")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// `interval 200ms; timeout 1s;` on A with a gateway that answers A after 0.5 s: every reply
/// comes within the timeout, so the gateway is up and A stays Master. The request still
/// waiting at the next round was counted as missed and its late reply dropped: A went Down
/// with a gateway that answered every request, and B took over.
#[test]
fn replies_within_a_timeout_longer_than_the_interval_counted_as_missed() {
    let mut rig = Rig::new();
    rig.edit(
        1,
        "host [198.51.100.1]; interval 100ms; timeout 100ms; fall 2; rise 2;",
        "host [198.51.100.1]; interval 200ms; timeout 1s; fall 3; rise 2;",
    );
    let mut gw = slow_gateway(&rig, "198.51.100.2", 0.5, 20);
    rig.start(1);
    rig.start(2);
    rig.wait_roles("Master", "Backup", Duration::from_secs(5));
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        rig.assert_roles("Master", "Backup");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (so, _) = text(&rig.control(1, &["status"]));
    let line = so
        .lines()
        .find(|l| l.contains("host 198.51.100.1 addr 198.51.100.1 "))
        .unwrap_or("");
    assert!(line.contains(" up rtt-ms "), "{so}");
    // The answers did come late: the round trip shown is the gateway's delay.
    let rtt: f64 = line
        .split_whitespace()
        .skip_while(|w| *w != "rtt-ms")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!((450.0..1000.0).contains(&rtt), "{so}");
    let _ = gw.kill();
    let _ = gw.wait();
}

/// Both nodes' configs edited by `edit` before the start.
fn edit_configs(rig: &Rig, edit: &dyn Fn(&str) -> String) {
    for n in [1, 2] {
        let path = rig.dir.join(format!("n{n}.cfg"));
        let cfg = std::fs::read_to_string(&path).unwrap();
        let edited = edit(&cfg);
        assert_ne!(cfg, edited);
        std::fs::write(&path, edited).unwrap();
    }
}

/// Runs a python capture in `ns` on `lan0` for `secs` seconds, in the background: its stdout
/// once it ends.
fn capture_in(ns: &Netns, script: &str) -> Child {
    ns.cmd("python3")
        .args(["-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The ARP frames that claim the VIP (sender and target address the VIP: gratuitous ARPs)
/// seen by `lan0` for `secs` seconds, as `ETHER-SOURCE ARP-SENDER-MAC COUNT` lines.
fn garp_capture(secs: u32) -> String {
    format!(
        "import socket,time\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(0x0806))\n\
         s.bind(('lan0',0))\n\
         s.settimeout(0.2)\n\
         vip=bytes([198,51,100,10])\n\
         seen={{}}\n\
         end=time.time()+{secs}\n\
         while time.time()<end:\n\
         \x20   try: f=s.recv(2048)\n\
         \x20   except socket.timeout: continue\n\
         \x20   if len(f)>=42 and f[28:32]==vip and f[38:42]==vip:\n\
         \x20       k=f[6:12].hex(':')+' '+f[22:28].hex(':')\n\
         \x20       seen[k]=seen.get(k,0)+1\n\
         for k,v in seen.items(): print(k,v)\n"
    )
}

const MAC_OVERRIDE: &str = "02:5e:00:00:01:0a";

/// doc/pikemon.cfg.5.md, `mac`: the virtual MAC may be set instead of derived from the VIP
/// (`02:c6:33:64:0a:00` here). Both nodes' macvlans carry the configured MAC; the Master
/// answers ARP for the VIP from it, and the gratuitous ARPs of both Masters (A, then B after
/// a SIGKILL of A's pikemon) are sent from it: the client's stale, wrong entry for the VIP is
/// put back to the configured MAC by B's GARPs alone (nothing solicits it meanwhile), the
/// switch learns it on B's port, and the derived MAC never appears on the wire.
#[test]
fn configured_virtual_mac_was_not_the_one_the_client_learned_before_and_after_a_failover() {
    let rig = Rig::without_death_watch();
    edit_configs(&rig, &|c| {
        c.replace(
            &format!("ipv4 [{VIP}]/24;"),
            &format!("ipv4 [{VIP}]/24; mac {MAC_OVERRIDE};"),
        )
    });
    let rig = rig.started_pair();
    assert_eq!(macvlan_mac(&rig, 1), MAC_OVERRIDE);
    assert_eq!(macvlan_mac(&rig, 2), MAC_OVERRIDE);
    assert_eq!(
        rig.client_vip_mac().as_deref(),
        Some(MAC_OVERRIDE),
        "{}",
        rig.log(1)
    );
    let garps = capture_in(&rig.client, &garp_capture(6));
    // The client's entry made stale and wrong: only a gratuitous ARP can mend it.
    rig.client.ip(&[
        "neigh",
        "replace",
        VIP,
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "lan0",
        "nud",
        "stale",
    ]);
    std::thread::sleep(Duration::from_millis(1200));
    let all = rig.pids(1, "pikemon");
    rig.signal(&all, "-KILL");
    rig.wait_role(2, "Master", Duration::from_secs(5));
    let neigh = || text(&rig.client.ip(&["neigh", "show", VIP, "dev", "lan0"])).0;
    let start = Instant::now();
    while !neigh().contains(&format!("lladdr {MAC_OVERRIDE}")) {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{}\n{}",
            neigh(),
            rig.log(2)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    rig.wait_mac_on_b_port(MAC_OVERRIDE);
    let out = garps.wait_with_output().unwrap();
    let (seen, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines.len(), 1, "GARPs from more than one MAC:\n{seen}");
    let mut w = lines[0].split_whitespace();
    assert_eq!(w.next(), Some(MAC_OVERRIDE), "{seen}");
    assert_eq!(w.next(), Some(MAC_OVERRIDE), "{seen}");
    assert!(
        w.next().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0) >= 2,
        "{seen}"
    );
    assert!(!seen.contains(VMAC), "{seen}");
    // B answers ARP from it too.
    assert_eq!(rig.client_vip_mac().as_deref(), Some(MAC_OVERRIDE));
    assert_eq!(
        rig.switch_port_of(MAC_OVERRIDE).as_deref(),
        Some(rig.b_port.as_str())
    );
}

/// A router address behind the pair's virtual link-local gateway: both nodes hold it on `lo`,
/// so the client reaches it through its default route whichever node is Master.
const BEHIND: &str = "2001:db8:ff::1";

/// The client's IPv6 default router is the pair's virtual link-local address `ll`
/// (`configured`: set by `link-local`, else derived from the virtual MAC). Before and after a
/// SIGKILL of A's pikemon: the gateway answers ping6 at `ll%lan0`, a ping through the default
/// route is answered, and the client's neighbour entry for `ll` names the virtual MAC (after
/// the failover put back from a stale wrong one by B's unsolicited advertisements alone).
fn link_local_gateway_kept_across_a_failover(ll: &str, configured: bool) {
    let rig = Rig::without_death_watch().with_ipv6();
    if configured {
        edit_configs(&rig, &|c| {
            c.replace(
                &format!("ipv6 [{VIP6}]/64;"),
                &format!("ipv6 [{VIP6}]/64; link-local [{ll}];"),
            )
        });
    }
    for ns in [&rig.a, &rig.b] {
        ns.ip(&["addr", "add", &format!("{BEHIND}/128"), "dev", "lo"]);
    }
    let rig = rig.started_pair();
    rig.client
        .ip(&["-6", "route", "add", "default", "via", ll, "dev", "lan0"]);
    let gateway = format!("{ll}%lan0");
    for node in [1, 2] {
        let status = text(&rig.control(node, &["status"])).0;
        assert!(status.contains(&format!("{ll} (link-local)")), "{status}");
    }
    assert!(rig.client_ping6(&gateway), "{}", rig.log(1));
    assert!(rig.client_ping6(BEHIND), "{}", rig.log(1));
    assert!(
        rig.client_neigh6(ll).contains(&format!("lladdr {VMAC}")),
        "{}",
        rig.client_neigh6(ll)
    );
    rig.client.ip(&[
        "-6",
        "neigh",
        "replace",
        ll,
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "lan0",
        "nud",
        "stale",
    ]);
    let all = rig.pids(1, "pikemon");
    rig.signal(&all, "-KILL");
    rig.wait_role(2, "Master", Duration::from_secs(5));
    let addrs = text(&rig.b.ip(&["-6", "addr", "show", "dev", "pk1-lan0"])).0;
    assert!(
        addrs.contains(&format!("inet6 {ll}/64 scope link")),
        "{addrs}"
    );
    rig.wait_client_neigh6(ll, VMAC, Duration::from_secs(3), 2);
    rig.wait_mac_on_b_port(VMAC);
    assert!(rig.client_ping6(&gateway), "{}", rig.log(2));
    assert!(rig.client_ping6(BEHIND), "{}", rig.log(2));
    assert!(rig.client_neigh6(ll).contains(&format!("lladdr {VMAC}")));
    let routes = text(&rig.client.ip(&["-6", "route", "show", "default"])).0;
    assert!(routes.contains(&format!("via {ll} dev lan0")), "{routes}");
}

#[test]
fn configured_link_local_gateway_of_a_client_stopped_answering_after_a_failover() {
    link_local_gateway_kept_across_a_failover("fe80::1", true);
}

#[test]
fn derived_link_local_gateway_of_a_client_stopped_answering_after_a_failover() {
    link_local_gateway_kept_across_a_failover(VLL, false);
}

/// `frames` from `forged_goodbye_hex` with `edits` applied (Python statements on `f`, a
/// bytearray of the frame), sent `count` times each on `lan0` of `ns`.
fn send_frames(ns: &Netns, kinds: &[(&str, u32)]) {
    let base = forged_goodbye_hex(7, 0, 0);
    let mut script = format!(
        "import socket,time\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n\
         s.bind(('lan0',0))\n\
         base=bytes.fromhex('{base}')\n"
    );
    for (edit, count) in kinds {
        script.push_str(&format!(
            "f=bytearray(base)\n{edit}\nfor i in range({count}):\n\
             \x20   s.send(bytes(f))\n\
             \x20   time.sleep(0.002)\n"
        ));
    }
    let out = ns.run(&["python3", "-c", &script]);
    assert!(out.status.success(), "{out:?}");
}

/// README "Floods": the kernel hands PIKE sockets only frames with PIKE's magic, version and
/// our cluster-id. A host on the LAN and one on the shared heart-beat segment each send 30
/// frames of another magic, 30 of version 3, 30 of version 1 and 30 of cluster-id 9 (every
/// one of them well formed otherwise, with our key-id): none reaches B's worker, whose
/// `malformed` and `foreign` counters do not move. The counters are live: 5 frames each that
/// pass the filter, one truncated (malformed) and one from a node-id 9 of our cluster
/// (foreign), are counted exactly, once per sender.
#[test]
fn frames_of_another_magic_version_or_cluster_id_reached_the_worker() {
    let rig = Rig::with_shared_heart_beat().started_pair();
    let evil = Netns::new("e");
    rig.sw.attach(&evil, "lan0");
    let evil_hb = Netns::new("h");
    if let Some(hb) = &rig.hb_sw {
        hb.attach(&evil_hb, "lan0");
    }
    let before = rig.counters(2);
    let filtered = [
        ("f[14:18]=b'PIKX'", 30),
        ("f[18]=3", 30),
        ("f[18]=1", 30),
        ("f[22:26]=bytes([0,0,0,9])", 30),
    ];
    for ns in [&evil, &evil_hb] {
        send_frames(ns, &filtered);
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = rig.counters(2);
    for name in ["malformed", "foreign"] {
        assert_eq!(
            Rig::counter(&after, name),
            Rig::counter(&before, name),
            "{name}: before {before}\nafter {after}"
        );
    }
    let controls = [("f=f[:44]", 5), ("f[26:30]=bytes([0,0,0,9])", 5)];
    for ns in [&evil, &evil_hb] {
        send_frames(ns, &controls);
    }
    std::thread::sleep(Duration::from_millis(300));
    let last = rig.counters(2);
    for name in ["malformed", "foreign"] {
        assert_eq!(
            Rig::counter(&last, name),
            Rig::counter(&before, name) + 10,
            "{name}: before {before}\nafter {last}"
        );
    }
    rig.assert_roles("Master", "Backup");
}

/// Holds node 1's supervisor, told HUP, in its hand-over for `delay`: strace delays the
/// return of the rename that writes the namespace's hand-over record (the hand-over thread's
/// second rename; its first writes `PID_FILE.old`), the last step before the thread lets its
/// pid file and the namespace's lock go. Both
/// files name it meanwhile, as in the real window between them. Returns strace (to be
/// killed) and the instant the record appeared.
fn hup_and_hold_the_lock(rig: &Rig, delay: Duration) -> (Child, Instant) {
    let sup = rig.pids(1, "pikemon: supervisor");
    assert_eq!(sup.len(), 1, "{sup:?}");
    let record = namespace_record(rig, 1);
    let inject = format!("inject=rename:delay_exit={}:when=2", delay.as_micros());
    let strace = Command::new("strace")
        .args(["-q", "-f", "-o"])
        .arg(rig.dir.join("strace.out"))
        .args(["-e", "trace=rename", "-e", &inject])
        .args(["-p", &sup[0].to_string()])
        .stderr(Stdio::null())
        .spawn()
        .expect("strace (installed by make test)");
    // strace attaches to every thread before it reports; give it a moment.
    std::thread::sleep(Duration::from_millis(500));
    rig.signal(&sup, "-HUP");
    let start = Instant::now();
    let mine = format!("supervisor {}\n", sup[0]);
    while !std::fs::read_to_string(&record).is_ok_and(|t| t.contains(&mine)) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no hand-over record\n{}",
            rig.log(1)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    (strace, Instant::now())
}

/// A config of node 1 with its pid file moved (an upgrade that moves it): the new instance
/// meets the old one's namespace lock, not its pid file.
fn moved_pid_file_config(rig: &Rig) -> PathBuf {
    let other = rig.dir.join("moved.cfg");
    let d = rig.dir.display().to_string();
    let cfg = std::fs::read_to_string(rig.cfg(1)).unwrap();
    let moved = cfg.replace(&format!("{d}/pid1"), &format!("{d}/moved/pid1"));
    assert_ne!(cfg, moved);
    std::fs::write(&other, moved).unwrap();
    other
}

/// README: a new instance "started before the old supervisor let the lock go waits for it
/// (up to 5 s)". The old supervisor, told HUP, is held 2.5 s between writing its hand-over
/// records and releasing its pid file and the namespace's lock (`hup_and_hold_the_lock`); a
/// new instance started then (with the same config: it meets the pid file; with the pid file
/// moved: it meets the lock) would have said "already running" and exited 1. It runs on, its
/// worker comes up only after the lock went, and takes over: the old processes are gone, one
/// worker, A still Master and B never took over.
fn new_instance_waits_for_the_lock_of_a_handing_over_one(moved: bool) {
    let hold = Duration::from_millis(2500);
    let mut rig = Rig::new().started_pair();
    let cfg = if moved {
        moved_pid_file_config(&rig)
    } else {
        PathBuf::from(rig.cfg(1))
    };
    let old = rig.pids(1, "pikemon");
    let (mut strace, recorded) = hup_and_hold_the_lock(&rig, hold);
    rig.start_with(1, &cfg);
    let new = rig.kids.len() - 1;
    let start = Instant::now();
    let new_worker = loop {
        if let Some(status) = rig.kids[new].try_wait().unwrap() {
            panic!(
                "the new instance exited ({status}) instead of waiting\n{}",
                rig.log(1)
            );
        }
        let workers: Vec<i32> = rig
            .pids(1, "pikemon: worker")
            .into_iter()
            .filter(|p| !old.contains(p))
            .collect();
        if !workers.is_empty() {
            break recorded.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "no new worker\n{}",
            rig.log(1)
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        new_worker >= hold - Duration::from_millis(200),
        "a new worker {new_worker:?} after the record, while the old supervisor held its lock \
         for {hold:?}\n{}\n{}",
        rig.log(1),
        std::fs::read_to_string(rig.dir.join("strace.out")).unwrap_or_default()
    );
    rig.wait_old_gone(1, &old);
    let _ = strace.kill();
    let _ = strace.wait();
    assert!(
        rig.kids[new].try_wait().unwrap().is_none(),
        "{}",
        rig.log(1)
    );
    assert_eq!(rig.pids(1, "pikemon: worker").len(), 1);
    rig.wait_roles("Master", "Backup", Duration::from_secs(3));
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
}

#[test]
fn new_instance_started_while_the_old_held_its_pid_file_in_the_hand_over_said_already_running() {
    new_instance_waits_for_the_lock_of_a_handing_over_one(false);
}

#[test]
fn new_instance_with_another_pid_file_started_while_the_old_held_the_namespace_lock_said_already_running(
) {
    new_instance_waits_for_the_lock_of_a_handing_over_one(true);
}

/// The other half of the README's promise: the wait is bounded. The old supervisor, told
/// HUP, holds its pid file and the namespace's lock for 8 s (`hup_and_hold_the_lock`, as a
/// stopped or stuck supervisor would); a new instance gives up after 5 s with exit 1 and
/// says that the old instance is handing over and still holds it (it said only "already
/// running", as when no hand-over was asked for), touching nothing: the old worker stays
/// Master. Once the old supervisor lets go, the same start takes over.
fn new_instance_gives_up_on_a_hand_over_that_never_lets_go(moved: bool) {
    let hold = Duration::from_secs(8);
    let mut rig = Rig::new().started_pair();
    let cfg = if moved {
        moved_pid_file_config(&rig)
    } else {
        PathBuf::from(rig.cfg(1))
    };
    let old = rig.pids(1, "pikemon");
    let sup = rig.pids(1, "pikemon: supervisor");
    let (mut strace, recorded) = hup_and_hold_the_lock(&rig, hold);
    // The old supervisor and worker (its ACR ends at HUP).
    let mut held = rig.pids(1, "pikemon");
    held.sort();
    let started = Instant::now();
    let (code, err) = start_bounded(&rig, 1, &cfg, Duration::from_secs(7));
    let waited = started.elapsed();
    assert_eq!(code, Some(1), "{err}\n{}", rig.log(1));
    assert!(
        waited >= Duration::from_millis(4900) && waited < Duration::from_millis(6500),
        "gave up after {waited:?}: {err}"
    );
    assert!(
        err.contains(&format!("[pid {}]", sup[0]))
            && err.contains("is handing over")
            && err.contains("did not let go within 5 s"),
        "{err}"
    );
    assert!(!err.contains("one pikemon per node"), "{err}");
    let mut now = rig.pids(1, "pikemon");
    now.sort();
    assert_eq!(now, held, "{err}");
    assert_eq!(rig.pids(1, "pikemon: worker").len(), 1, "{err}");
    // The old worker still serves (its control socket went at HUP, for the new instance).
    assert!(rig.macvlan_up(1));
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    assert_eq!(
        rig.switch_port_of(VMAC).as_deref(),
        Some(rig.a_port.as_str())
    );
    assert_eq!(rig.role(2), "Backup", "{}", rig.log(2));
    // The old supervisor lets go once its rename returns: then the same start takes over.
    let left = hold.saturating_sub(recorded.elapsed()) + Duration::from_millis(300);
    std::thread::sleep(left);
    rig.start_with(1, &cfg);
    rig.wait_old_gone(1, &old);
    let _ = strace.kill();
    let _ = strace.wait();
    rig.wait_roles("Master", "Backup", Duration::from_secs(3));
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
}

#[test]
fn new_instance_meeting_a_hand_over_that_never_let_go_said_only_already_running() {
    new_instance_gives_up_on_a_hand_over_that_never_lets_go(false);
}

#[test]
fn new_instance_with_another_pid_file_meeting_a_stuck_hand_over_blamed_another_pid_file() {
    new_instance_gives_up_on_a_hand_over_that_never_lets_go(true);
}

/// README "Floods": "each socket is read at most 64 frames per wake-up", so that the HELLOs
/// and the other sockets get their turn. A host on the LAN sends, for 3 s and as fast as one
/// sender can, frames that pass the socket filter (PIKE's magic, version and our cluster-id;
/// from a node-id 9, rejected by the worker as `foreign` before any HMAC): every one of them
/// wakes A's and B's workers on their LAN sockets. What an operator would see fail is the
/// heart-beat: B, capturing A's HELLOs on hb0 with kernel timestamps, sees them keep their
/// 100 ms cadence (no gap of 2.5 hellos; the dead-interval is 3), and neither node changes
/// role. B's `foreign` counter shows the flood reached its worker (the filter cannot drop
/// it; only the worker's loop decides what else it serves meanwhile). Measured here: about
/// 40,000 frames a second, 90,000 read by B's worker, largest HELLO gap 119 ms. This shows
/// the timers served under such a flood; it was not run with the bound removed, so it does
/// not show that one sender outruns a worker without it.
#[test]
fn flood_of_frames_passing_the_socket_filter_held_back_the_hellos_on_the_other_paths() {
    let load = LoadGuard::Exclusive(LOAD.write().unwrap_or_else(|e| e.into_inner()));
    let rig = Rig::build_with(true, load).started_pair();
    let evil = Netns::new("e");
    rig.sw.attach(&evil, "lan0");
    let base = forged_goodbye_hex(7, 0, 0);
    let flood = format!(
        "import socket,time\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n\
         s.bind(('lan0',0))\n\
         f=bytearray.fromhex('{base}')\n\
         f[26:30]=bytes([0,0,0,9])\n\
         f=bytes(f)\n\
         n=0\n\
         end=time.time()+3\n\
         while n<2000000 and time.time()<end:\n\
         \x20   for i in range(100):\n\
         \x20       try: s.send(f)\n\
         \x20       except OSError: pass\n\
         \x20   n+=100\n\
         print(n)\n"
    );
    // A's HELLOs (node-id 1) on B's hb0, kernel receive times.
    let capture = "import socket,struct,time\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(0x88b5))\n\
         s.bind(('hb0',0))\n\
         s.setsockopt(socket.SOL_SOCKET,35,1)\n\
         s.settimeout(0.2)\n\
         ts=[]\n\
         end=time.time()+4\n\
         while time.time()<end:\n\
         \x20   try: f,anc,fl,a=s.recvmsg(2048,256)\n\
         \x20   except socket.timeout: continue\n\
         \x20   if f[26:30]!=bytes([0,0,0,1]): continue\n\
         \x20   for l,t,d in anc:\n\
         \x20       if l==socket.SOL_SOCKET and t==35:\n\
         \x20           sec,ns=struct.unpack('qq',d[:16]); ts.append(sec+ns/1e9)\n\
         gaps=[b-a for a,b in zip(ts,ts[1:])]\n\
         print(len(ts),int(max(gaps)*1000) if gaps else -1)\n";
    let before = Rig::counter(&rig.counters(2), "foreign");
    let hellos = rig
        .b
        .cmd("python3")
        .args(["-c", capture])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = evil.run(&["python3", "-c", &flood]);
    assert!(out.status.success(), "{out:?}");
    let sent: u64 = text(&out).0.trim().parse().unwrap_or(0);
    let out = hellos.wait_with_output().unwrap();
    let (so, se) = text(&out);
    let mut w = so
        .split_whitespace()
        .map(|v| v.parse::<i64>().unwrap_or(-1));
    let (count, max_gap) = (w.next().unwrap_or(-1), w.next().unwrap_or(-1));
    let foreign = Rig::counter(&rig.counters(2), "foreign") - before;
    eprintln!("flood: {sent} frames sent, {foreign} read by B's worker; A's hellos on hb0: {count} in 4 s, largest gap {max_gap} ms");
    assert!(foreign > 10_000, "sent {sent}, B's worker read {foreign}");
    assert!(count >= 30, "{so}{se}");
    assert!(
        (0..250).contains(&max_gap),
        "A's hellos on hb0: largest gap {max_gap} ms under the flood\n{}",
        rig.log(1)
    );
    rig.assert_roles("Master", "Backup");
    assert!(!rig.log(2).contains("=> Master"), "{}", rig.log(2));
    assert!(!rig.log(1).contains("=> Backup"), "{}", rig.log(1));
}

/// Under load a SIGHUP upgrade moved the role to B: the new worker ends the old instance
/// (its supervisor too, with SIGKILL), the old supervisor's death-watch connections close,
/// and B took that for the death of A's daemon although A's new supervisor held a newer
/// connection to it. B's ARP probe lasts tens of milliseconds; A's new worker, starved, did
/// not answer within it, and B took over from a live Master. Made deterministic here: A's
/// kernel holds back the old connections' FIN until B has heard the new worker (as it had
/// in the logs of the failure), and the switch drops the virtual MAC's ARP frames towards B
/// (the starved worker's missing answers). Only a real death may start the probe.
#[test]
fn upgrade_under_load_moved_the_role_when_the_old_supervisors_death_watch_closed() {
    let mut rig = Rig::new().started_pair();
    for node in [1, 2] {
        rig.wait_log(
            node,
            "death-watch: connected to 203.0.113.",
            Duration::from_secs(5),
        );
        rig.wait_log(
            node,
            "death-watch: connection from 203.0.113.",
            Duration::from_secs(5),
        );
    }
    let pb = rig.b_port.clone();
    rig.switch_rules(
        "no-vmac-arp-to-b.nft",
        &format!(
            "table bridge starved {{\n chain fw {{\n  type filter hook forward priority 0;\n  \
             oifname \"{pb}\" ether saddr {VMAC} ether type arp drop\n }}\n}}\n"
        ),
    );
    let hold = rig.dir.join("hold-fin.nft");
    std::fs::write(
        &hold,
        "table inet holdfin {\n chain out {\n  type filter hook output priority 0;\n  \
         tcp sport 7013 tcp flags & (fin | rst) != 0 drop\n  \
         tcp dport 7013 tcp flags & (fin | rst) != 0 drop\n }\n}\n",
    )
    .unwrap();
    let out = rig.a.run(&["nft", "-f", &hold.display().to_string()]);
    assert!(out.status.success(), "{out:?}");
    let heard = |rig: &Rig| rig.log(2).matches("peer node 1 (incarnation").count();
    let before = heard(&rig);
    let old = rig.pids(1, "pikemon");
    rig.signal(&rig.pids(1, "pikemon: supervisor"), "-HUP");
    rig.wait_log(1, "pid file released", Duration::from_secs(5));
    rig.start(1);
    let start = Instant::now();
    while rig.pids(1, "pikemon").iter().any(|p| old.contains(p)) || heard(&rig) == before {
        assert!(start.elapsed() < Duration::from_secs(5), "{}", rig.log(1));
        std::thread::sleep(Duration::from_millis(20));
    }
    // B believes the new worker; now the old connections' FIN goes out (retransmitted).
    let out = rig.a.run(&["nft", "delete", "table", "inet", "holdfin"]);
    assert!(out.status.success(), "{out:?}");
    rig.wait_log(
        2,
        "death-watch: the connection from 203.0.113.1 closed",
        Duration::from_secs(5),
    );
    // Well past the probe B would have run (tens of ms) and past a dead-interval (300 ms):
    // the new worker's HELLOs keep B Backup.
    std::thread::sleep(Duration::from_millis(700));
    let out = rig
        .sw
        .ns
        .run(&["nft", "delete", "table", "bridge", "starved"]);
    assert!(out.status.success(), "{out:?}");
    rig.assert_roles("Master", "Backup");
    let log = rig.log(2);
    assert!(!log.contains("=> Master"), "{log}");
    assert!(!log.contains("the daemon of peer node 1 exited"), "{log}");
    assert!(
        log.contains("another connection from the peer's daemon is open"),
        "{log}"
    );
    assert_eq!(rig.client_vip_mac().as_deref(), Some(VMAC));
    // A real death still starts the probe at once (the new instance's connection closes
    // with no other one left): B takes over on the hint, not after the dead-interval.
    rig.kill_daemon(1);
    rig.wait_role(2, "Master", Duration::from_secs(5));
    let log = rig.log(2);
    assert!(
        log.contains("death-watch: the daemon of peer node 1 exited; probing"),
        "{log}"
    );
    assert!(
        log.contains("(peer's daemon exited, probe unanswered)"),
        "{log}"
    );
}
