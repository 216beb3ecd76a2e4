//! pikemon driving real conntrackd daemons (FTFW over the heart-beat link) on a pair of
//! stateful firewalls in network namespaces: client (198.51.100.50) — LAN switch — fw A / fw B
//! (VIPs 198.51.100.10 and 203.0.113.10, one virtual cluster) — WAN switch — server
//! (203.0.113.50). The firewalls forward with nftables `ct state established,related accept`,
//! `ct state invalid drop` and `nf_conntrack_tcp_loose=0`: a flow the new master's kernel does
//! not know is dropped, so a connection survives a failover only if conntrackd's external
//! cache is in the kernel table when the VIPs move. The flows are bench/statesync/flows.py.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use common::{applet, text, unique, veth, Netns, Switch};

const KEY: &str = "0123456789abcdef0123";
const PORT: &str = "7000";

struct Fw {
    ns: Netns,
    node: u32,
}

struct Rig {
    _lan: Switch,
    _wan: Switch,
    fw: [Fw; 2],
    client: Netns,
    server: Netns,
    dir: PathBuf,
    kids: Vec<Child>,
}

fn flows_py() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/statesync/flows.py")
}

fn conntrackd_conf(d: &Path, node: u32) -> String {
    let (local, peer) = if node == 1 {
        ("198.18.0.1", "198.18.0.2")
    } else {
        ("198.18.0.2", "198.18.0.1")
    };
    format!(
        "Sync {{
\tMode FTFW {{
\t\tDisableExternalCache Off
\t}}
\tUDP {{
\t\tIPv4_address {local}
\t\tIPv4_Destination_Address {peer}
\t\tPort 3780
\t\tInterface hb0
\t\tChecksum on
\t}}
}}
General {{
\tSystemd off
\tHashSize 16384
\tHashLimit 65535
\tLogFile {d}/conntrackd{node}.log
\tSyslog off
\tLockFile {d}/conntrackd{node}.lock
\tUNIX {{
\t\tPath {d}/conntrackd{node}.ctl
\t}}
\tNetlinkBufferSize 2097152
\tNetlinkBufferSizeMaxGrowth 8388608
\tFilter From Userspace {{
\t\tAddress Ignore {{
\t\t\tIPv4_address 127.0.0.1
\t\t\tIPv4_address 198.18.0.0/30
\t\t}}
\t}}
}}
",
        d = d.display()
    )
}

/// `extra`: more virtual clusters after FW.
fn pikemon_conf(d: &Path, node: u32, conntrack: &str, extra: &str) -> String {
    format!(
        r#"version PIKEMON-1;
pikemon {{
    node-id {node};
    status-file "{d}/status{node}"; pid-file "{d}/pid{node}";
    control-socket "{d}/ctl{node}"; paths-file "{d}/paths{node}";
    hmac key "{KEY}";
    heart-beat {{ interface hb0; }}
    hello-interval 100ms;
    garp-interval 20ms;
    conntrack {{ socket "{d}/conntrackd{node}.ctl"; {conntrack} }}
    virtual-cluster FW {{
        id 1; primary node 1;
        interface lan0 {{ ipv4 [198.51.100.10]/24; }}
        interface wan0 {{ ipv4 [203.0.113.10]/24; }}
    }}
{extra}}}
"#,
        d = d.display()
    )
}

const RULES: &str = "table inet hctfw {
    chain forward {
        type filter hook forward priority 0; policy drop;
        ct state established,related accept
        ct state invalid drop
        ip saddr 198.51.100.0/24 tcp flags & (syn | ack) == syn ct state new accept
    }
}
";

impl Rig {
    /// `conntrack`: the items of the `conntrack` section after `socket`.
    fn new(conntrack: &str) -> Rig {
        Rig::with_vcs(conntrack, "")
    }

    /// As `new`, with the virtual clusters `extra` after FW (the same `conntrack`).
    fn with_vcs(conntrack: &str, extra: &str) -> Rig {
        let lan = Switch::new();
        let wan = Switch::new();
        let fw = [1, 2].map(|node| Fw {
            ns: Netns::new("hct"),
            node,
        });
        let client = Netns::new("hctc");
        let server = Netns::new("hcts");
        lan.attach(&client, "lan0");
        wan.attach(&server, "wan0");
        veth(&fw[0].ns, "hb0", &fw[1].ns, "hb0");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("hct"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in &fw {
            let n = f.node;
            lan.attach(&f.ns, "lan0");
            wan.attach(&f.ns, "wan0");
            f.ns.ip(&[
                "addr",
                "add",
                &format!("198.51.100.{}/24", n + 1),
                "dev",
                "lan0",
            ]);
            f.ns.ip(&[
                "addr",
                "add",
                &format!("203.0.113.{}/24", n + 1),
                "dev",
                "wan0",
            ]);
            f.ns.ip(&["addr", "add", &format!("198.18.0.{n}/30"), "dev", "hb0"]);
            f.ns.sysctl("net.ipv4.ip_forward", "1");
            let rules = dir.join(format!("rules{n}.nft"));
            std::fs::write(&rules, RULES).unwrap();
            let out = f.ns.run(&["nft", "-f", rules.to_str().unwrap()]);
            assert!(out.status.success(), "{out:?}");
            // After the ruleset: nf_conntrack is loaded in the namespace now.
            f.ns.sysctl("net.netfilter.nf_conntrack_tcp_loose", "0");
            std::fs::write(
                dir.join(format!("conntrackd{n}.conf")),
                conntrackd_conf(&dir, n),
            )
            .unwrap();
            std::fs::write(
                dir.join(format!("pikemon{n}.cfg")),
                pikemon_conf(&dir, n, conntrack, extra),
            )
            .unwrap();
        }
        client.ip(&["addr", "add", "198.51.100.50/24", "dev", "lan0"]);
        client.ip(&["route", "add", "default", "via", "198.51.100.10"]);
        server.ip(&["addr", "add", "203.0.113.50/24", "dev", "wan0"]);
        server.ip(&["route", "add", "default", "via", "203.0.113.10"]);
        Rig {
            _lan: lan,
            _wan: wan,
            fw,
            client,
            server,
            dir,
            kids: Vec::new(),
        }
    }

    fn ns(&self, node: u32) -> &Netns {
        &self.fw[node as usize - 1].ns
    }

    fn conntrackd(&self, node: u32, opt: &str) -> String {
        let conf = self.dir.join(format!("conntrackd{node}.conf"));
        text(
            &self
                .ns(node)
                .run(&["conntrackd", "-C", conf.to_str().unwrap(), opt]),
        )
        .0
    }

    fn start_conntrackd(&self, node: u32) {
        let conf = self.dir.join(format!("conntrackd{node}.conf"));
        let out = self
            .ns(node)
            .run(&["conntrackd", "-C", conf.to_str().unwrap(), "-d"]);
        assert!(out.status.success(), "{out:?}");
        let sock = self.dir.join(format!("conntrackd{node}.ctl"));
        wait_for("conntrackd's socket", Duration::from_secs(5), || {
            sock.exists()
        });
    }

    fn start_pikemon(&mut self, node: u32) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("log{node}")))
            .unwrap();
        let cfg = self.dir.join(format!("pikemon{node}.cfg"));
        let child = self
            .ns(node)
            .cmd(applet("pikemon"))
            .args(["-f", cfg.to_str().unwrap(), "-d"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.kids.push(child);
    }

    fn log(&self, node: u32) -> String {
        std::fs::read_to_string(self.dir.join(format!("log{node}"))).unwrap_or_default()
    }

    fn status(&self, node: u32, json: bool) -> String {
        let cfg = self.dir.join(format!("pikemon{node}.cfg"));
        let mut args = vec!["-f", cfg.to_str().unwrap(), "-c", "status"];
        if json {
            args.push("-j");
        }
        text(
            &self
                .ns(node)
                .cmd(applet("pikemon"))
                .args(args)
                .output()
                .unwrap(),
        )
        .0
    }

    fn role(&self, node: u32) -> String {
        self.role_of(node, "vc FW id 1 role ")
    }

    /// The role in the status line that starts with `prefix` ("vc NAME id N role ").
    fn role_of(&self, node: u32, prefix: &str) -> String {
        self.status(node, false)
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("unreachable")
            .to_string()
    }

    fn wait_role(&self, node: u32, role: &str, limit: Duration) {
        wait_for(&format!("node {node} {role}"), limit, || {
            self.role(node) == role
        });
    }

    /// Pids in `node`'s namespace whose command line starts with `prefix`.
    fn pids(&self, node: u32, prefix: &str) -> Vec<i32> {
        let out = std::process::Command::new("ip")
            .args(["netns", "pids", &self.ns(node).name])
            .output()
            .unwrap();
        text(&out)
            .0
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .filter(|p| {
                std::fs::read(format!("/proc/{p}/cmdline"))
                    .map(|c| c.starts_with(prefix.as_bytes()))
                    .unwrap_or(false)
            })
            .collect()
    }

    fn signal(&self, pids: &[i32], sig: &str) {
        for p in pids {
            let _ = std::process::Command::new("kill")
                .args([sig, &p.to_string()])
                .status();
        }
    }

    /// Server, then `n` client flows for `seconds` through A; returns once every flow is
    /// established and B's conntrackd holds them in its external cache.
    fn flows(&mut self, n: usize, seconds: u32) -> Flows {
        let py = flows_py();
        let mut server = self
            .server
            .cmd("python3")
            .args([py.to_str().unwrap(), "server", PORT])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "listening");
        self.kids.push(server);
        let mut client = self
            .client
            .cmd("python3")
            .args([
                py.to_str().unwrap(),
                "client",
                "203.0.113.50",
                PORT,
                &n.to_string(),
                &seconds.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(client.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        wait_for("B's external cache", Duration::from_secs(5), || {
            self.conntrackd(2, "-e").matches("dport=7000").count() >= n
        });
        Flows { client, out }
    }

    /// `node`'s conntrackd log.
    fn conntrackd_log(&self, node: u32) -> String {
        std::fs::read_to_string(self.dir.join(format!("conntrackd{node}.log"))).unwrap_or_default()
    }

    /// The flows' entries in `node`'s kernel conntrack table (`conntrack -L`).
    fn kernel_flows(&self, node: u32) -> String {
        text(
            &self
                .ns(node)
                .run(&["conntrack", "-L", "-p", "tcp", "--dport", PORT]),
        )
        .0
    }
}

/// The client of `Rig::flows`, running.
struct Flows {
    client: Child,
    out: BufReader<ChildStdout>,
}

impl Flows {
    /// Waits for the client's end; its JSON summary.
    fn summary(mut self) -> String {
        let mut summary = String::new();
        self.out.read_line(&mut summary).unwrap();
        let _ = self.client.wait();
        summary
    }

    /// No flow was reset or lost.
    fn assert_unbroken(self) {
        let summary = self.summary();
        for key in ["reset", "lost"] {
            assert_eq!(field(&summary, key), 0, "{key}: {summary}");
        }
    }

    /// All `n` flows connected, and none was reset, stalled, lost or misordered.
    fn assert_intact(self, n: i64) {
        let summary = self.summary();
        assert_eq!(field(&summary, "connected"), n, "{summary}");
        for key in ["reset", "stalled", "lost", "misordered"] {
            assert_eq!(field(&summary, key), 0, "{key}: {summary}");
        }
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

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `"key":N` of the flows' JSON summary.
fn field(json: &str, key: &str) -> i64 {
    let pat = format!("\"{key}\": ");
    json.split(&pat)
        .nth(1)
        .and_then(|r| r.split([',', '}']).next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {json}"))
}

/// The pair up, A Master, both conntrackds syncing.
fn started(conntrack: &str) -> Rig {
    started_with(conntrack, "")
}

/// `started` with the virtual clusters `extra` after FW.
fn started_with(conntrack: &str, extra: &str) -> Rig {
    let mut rig = Rig::with_vcs(conntrack, extra);
    for n in [1, 2] {
        rig.start_conntrackd(n);
    }
    rig.start_pikemon(1);
    rig.wait_role(1, "Master", Duration::from_secs(5));
    rig.start_pikemon(2);
    rig.wait_role(2, "Backup", Duration::from_secs(5));
    rig
}

#[test]
fn sigkilled_master_flows_survive_because_the_commit_precedes_the_vip_move() {
    let mut rig = started("commit-timeout 2s;");
    let flows = rig.flows(20, 8);
    // The flows run through A; B's conntrackd holds them in its external cache only.
    let b_kernel = rig.kernel_flows(2);
    assert!(!b_kernel.contains("dport=7000"), "{b_kernel}");
    std::thread::sleep(Duration::from_secs(1));
    let a = rig.pids(1, "pikemon");
    assert!(!a.is_empty());
    rig.signal(&a, "-KILL");
    rig.wait_role(2, "Master", Duration::from_secs(5));
    let b_kernel = rig.kernel_flows(2);
    assert!(
        b_kernel.matches("dport=7000").count() >= 20,
        "B's kernel table after the takeover:\n{b_kernel}"
    );
    // The commit was asked for while B probed, and was in before the addresses came up;
    // a second one followed beside them.
    let log = rig.log(2);
    let pre = log.find("conntrackd pre-committed in").expect(&log);
    let decided = log.find("Probing => Master").expect(&log);
    let addresses = log.find("vc FW: Master (").expect(&log);
    assert!(pre < decided && decided < addresses, "{log}");
    wait_for("the second commit", Duration::from_secs(5), || {
        rig.log(2).contains("conntrackd committed in")
    });
    let log = rig.log(2);
    assert!(!log.contains("ignored the cache flush"), "{log}");
    flows.assert_intact(20);
    // The status shows conntrackd and the commit.
    let st = rig.status(2, false);
    assert!(st.contains("reachable yes"), "{st}");
    assert!(st.contains("last-commit ") && st.contains(" ms ok"), "{st}");
    let j = rig.status(2, true);
    assert!(j.contains("\"conntrack\":{\"socket\":"), "{j}");
    assert!(j.contains("\"last_commit_error\":null"), "{j}");
}

/// With HashSize 8192 (what the appliance's conntrackd.conf had) conntrackd 1.4.x commits
/// in one step and then ignores the flush pikemon sends after the takeover ("commit still in
/// progress"): the external cache kept its entries without a word, to be committed again at
/// the next takeover as flows that may have ended long ago. pikemon now checks the external
/// cache after the flush, says so with the fix, and flushes the internal cache at least.
#[test]
fn ignored_flush_after_the_takeover_commit_left_stale_external_entries_unsaid() {
    let mut rig = Rig::new("commit-timeout 2s;");
    for n in [1, 2] {
        let conf = rig.dir.join(format!("conntrackd{n}.conf"));
        let text = std::fs::read_to_string(&conf).unwrap();
        std::fs::write(&conf, text.replace("HashSize 16384", "HashSize 8192")).unwrap();
        rig.start_conntrackd(n);
    }
    rig.start_pikemon(1);
    rig.wait_role(1, "Master", Duration::from_secs(5));
    rig.start_pikemon(2);
    rig.wait_role(2, "Backup", Duration::from_secs(5));
    let flows = rig.flows(5, 4);
    let a = rig.pids(1, "pikemon");
    rig.signal(&a, "-KILL");
    rig.wait_role(2, "Master", Duration::from_secs(5));
    wait_for("the warning", Duration::from_secs(5), || {
        rig.log(2).contains("ignored the cache flush")
    });
    let log = rig.log(2);
    assert!(log.contains("set HashSize above 8192"), "{log}");
    let ctd = rig.conntrackd_log(2);
    assert!(
        ctd.contains("ignoring flush command, commit still in progress"),
        "{ctd}"
    );
    // The takeover itself went through: the flows were committed and carry on.
    flows.assert_unbroken();
}

#[test]
fn hung_conntrackd_takeover_goes_on_after_commit_timeout_and_says_so() {
    let rig = started("commit-timeout 500ms;");
    let ctd = rig.pids(2, "conntrackd");
    assert!(!ctd.is_empty());
    rig.signal(&ctd, "-STOP");
    let a = rig.pids(1, "pikemon");
    rig.signal(&a, "-KILL");
    let t = Instant::now();
    rig.wait_role(2, "Master", Duration::from_secs(5));
    // Master from the start of the commit; the addresses (the macvlan up) only after it.
    wait_for("the addresses on B", Duration::from_secs(3), || {
        let out = rig.ns(2).ip(&["-br", "link", "show", "dev", "pk1-lan0"]);
        text(&out).0.split_whitespace().nth(1) == Some("UP")
    });
    let took = t.elapsed();
    rig.signal(&ctd, "-CONT");
    // lan0 comes up first; the role's log line follows once every interface is up.
    wait_for("B's Master line", Duration::from_secs(3), || {
        rig.log(2).contains("vc FW: Master (")
    });
    let log = rig.log(2);
    assert!(
        log.contains("conntrackd did not commit within 500ms; taking over anyway"),
        "{log}"
    );
    // Dead-interval (300 ms) + the commit-timeout, with room for a loaded machine.
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let waited = log.find("taking over anyway").expect(&log);
    assert!(waited < log.find("vc FW: Master (").expect(&log), "{log}");
    // The loop never stalled: the status answered during the wait (wait_role polled it).
    let st = rig.status(2, false);
    assert!(st.contains("last-commit "), "{st}");
}

#[test]
fn required_conntrackd_gone_makes_the_master_down_and_it_hands_over() {
    let rig = started("required yes;");
    let st = rig.status(1, false);
    assert!(
        st.contains("reachable yes") && st.contains(" required"),
        "{st}"
    );
    let ctd = rig.pids(1, "conntrackd");
    assert!(!ctd.is_empty());
    rig.signal(&ctd, "-KILL");
    rig.wait_role(2, "Master", Duration::from_secs(5));
    rig.wait_role(1, "Backup", Duration::from_secs(5));
    let st = rig.status(1, false);
    assert!(st.contains("health Down"), "{st}");
    assert!(st.contains("reachable no"), "{st}");
    let j = rig.status(1, true);
    assert!(j.contains("\"reachable\":false"), "{j}");
    let log = rig.log(1);
    assert!(
        log.contains("conntrackd: ") && log.contains("health Down"),
        "{log}"
    );
}

#[test]
fn parallel_takeover_sigkilled_master_flows_survive_the_commit_beside_the_vip_move() {
    let mut rig = started("commit-timeout 2s; takeover parallel;");
    let flows = rig.flows(20, 8);
    std::thread::sleep(Duration::from_secs(1));
    let a = rig.pids(1, "pikemon");
    assert!(!a.is_empty());
    rig.signal(&a, "-KILL");
    rig.wait_role(2, "Master", Duration::from_secs(5));
    wait_for("the commit on B", Duration::from_secs(3), || {
        rig.log(2).contains("conntrackd committed in")
    });
    let b_kernel = rig.kernel_flows(2);
    assert!(
        b_kernel.matches("dport=7000").count() >= 20,
        "B's kernel table after the takeover:\n{b_kernel}"
    );
    let log = rig.log(2);
    assert!(
        log.contains("committing conntrackd's external cache while the addresses come up"),
        "{log}"
    );
    // The ruleset drops the packets that came before the commit; TCP sends them again.
    flows.assert_intact(20);
}

#[test]
fn parallel_takeover_with_a_hung_conntrackd_brings_the_addresses_up_at_once() {
    let rig = started("commit-timeout 4s; takeover parallel;");
    let ctd = rig.pids(2, "conntrackd");
    assert!(!ctd.is_empty());
    rig.signal(&ctd, "-STOP");
    let a = rig.pids(1, "pikemon");
    rig.signal(&a, "-KILL");
    let t = Instant::now();
    wait_for("the addresses on B", Duration::from_secs(3), || {
        let out = rig.ns(2).ip(&["-br", "link", "show", "dev", "pk1-lan0"]);
        text(&out).0.split_whitespace().nth(1) == Some("UP")
    });
    let took = t.elapsed();
    // lan0 comes up first; the role's log line follows once wan0 is up too.
    wait_for("B's Master line", Duration::from_secs(3), || {
        rig.log(2).contains("vc FW: Master (")
    });
    let log = rig.log(2);
    rig.signal(&ctd, "-CONT");
    // Dead-interval (300 ms) and the probe, well before the 4 s commit-timeout.
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(!log.contains("did not commit"), "{log}");
}

/// pikemon's HELLOs from node `n` dropped on their way out (netdev egress, PIKE's ether type)
/// on every heart-beat path, or let through again; everything else passes, the worker's
/// answer to a probe included.
fn mute_hellos(rig: &Rig, n: u32, mute: bool) {
    if !mute {
        let out = rig
            .ns(n)
            .run(&["nft", "delete", "table", "netdev", "hctmute"]);
        assert!(out.status.success(), "{out:?}");
        return;
    }
    let mut rules = String::from("table netdev hctmute {\n");
    for dev in ["hb0", "lan0", "wan0"] {
        rules += &format!(
            "    chain {dev} {{ type filter hook egress device \"{dev}\" priority 0; \
             ether type 0x88b5 drop; }}\n"
        );
    }
    rules += "}\n";
    let file = rig.dir.join(format!("mute{n}.nft"));
    std::fs::write(&file, rules).unwrap();
    let out = rig.ns(n).run(&["nft", "-f", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
}

/// A's HELLOs stop until B has probed, pre-committed, heard A's worker answer the probe and
/// given the takeover up; then they go again. B's log, once conntrackd has answered the
/// pre-commit too: the probe's answer can come before conntrackd's.
fn undone_precommit(rig: &Rig) -> String {
    mute_hellos(rig, 1, true);
    wait_for("B's undone pre-commit", Duration::from_secs(5), || {
        rig.log(2).contains("no takeover after the pre-commit")
    });
    mute_hellos(rig, 1, false);
    wait_for(
        "conntrackd's answer to B's pre-commit",
        Duration::from_secs(5),
        || rig.log(2).contains("conntrackd pre-committed in"),
    );
    rig.log(2)
}

/// The commit now starts with the probe, ahead of a takeover. A probe that a live master
/// answers ends without one: the master's flows that the pre-commit put into the backup's
/// kernel table must not stay there, so conntrackd gets `-t -n`, as after a release.
#[test]
fn probe_answered_after_a_precommit_left_the_masters_flows_in_the_backups_kernel() {
    let mut rig = started("commit-timeout 2s;");
    let flows = rig.flows(10, 6);
    let log = undone_precommit(&rig);
    assert!(log.contains("conntrackd pre-committed in"), "{log}");
    assert!(
        log.contains("VIP answered from the virtual MAC elsewhere"),
        "{log}"
    );
    assert!(!log.contains("=> Master"), "{log}");
    // The pre-commit reached the kernel table, and conntrackd was told to drop it again
    // (`-t`: flush the table in PurgeTimeout seconds unless a takeover commits first).
    let b_kernel = rig.kernel_flows(2);
    assert!(b_kernel.contains("dport=7000"), "{b_kernel}");
    // `-t` and `-n` are queued behind the pre-commit's exchange.
    wait_for(
        "B's flush and resync requests",
        Duration::from_secs(5),
        || {
            let ctd = rig.conntrackd_log(2);
            ctd.contains("flushing conntrack table in") && ctd.contains("resync requested")
        },
    );
    let ctd = rig.conntrackd_log(2);
    let commit = ctd.find("committing all external caches").expect(&ctd);
    let flush = ctd.find("flushing conntrack table in").expect(&ctd);
    let resync = ctd.find("resync requested").expect(&ctd);
    assert!(commit < flush && flush < resync, "{ctd}");
    // A stays master, its flows carry on.
    rig.wait_role(1, "Master", Duration::from_secs(2));
    rig.wait_role(2, "Backup", Duration::from_secs(2));
    flows.assert_unbroken();
}

/// Active-active: B serves DMZ, A serves FW, and one conntrackd per firewall syncs both (the
/// node's `conntrack { }` section). A's HELLOs stop for a while: B probes FW after its
/// pre-commit and A's VIP answers. B's `-t` for that undone pre-commit made B's conntrackd
/// schedule the flush of its whole kernel table (DMZ's flows: B is their master, no failover
/// happened). B asks for `-n` only.
#[test]
fn undone_precommit_beside_a_master_vc_flushed_its_kernel_table_a_minute_later() {
    let mut rig = started_with(
        "commit-timeout 2s;",
        "    virtual-cluster DMZ {
        id 2; primary node 2;
        interface lan0 { ipv4 [198.51.100.20]/24; }
    }
",
    );
    let dmz = "vc DMZ id 2 role ";
    let cfg = rig.dir.join("pikemon2.cfg");
    let out = rig
        .ns(2)
        .cmd(applet("pikemon"))
        .args(["-f", cfg.to_str().unwrap(), "-c", "take", "DMZ"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    wait_for("B Master of DMZ", Duration::from_secs(5), || {
        rig.role_of(2, dmz) == "Master"
    });
    wait_for("B's commit for DMZ", Duration::from_secs(5), || {
        rig.log(2).contains("conntrackd committed in")
    });
    let flows = rig.flows(10, 6);
    let log = undone_precommit(&rig);
    assert!(log.contains("conntrackd pre-committed in"), "{log}");
    assert!(!log.contains("vc FW: Probing => Master"), "{log}");
    assert_eq!(rig.role_of(2, dmz), "Master");
    // The -n went, no flush was scheduled on B (nor on A, whose release of DMZ to B's
    // `take` came while it served FW).
    wait_for("B's resync request", Duration::from_secs(5), || {
        let ctd = rig.conntrackd_log(2);
        ctd.rfind("resync requested") > ctd.rfind("committing all external caches")
    });
    for n in [2, 1] {
        let ctd = rig.conntrackd_log(n);
        assert!(
            !ctd.contains("flushing conntrack table in"),
            "node {n}: {ctd}"
        );
    }
    assert!(
        log.contains("vc FW: no -t for conntrackd (it would flush the kernel table, the flows of vc DMZ with it"),
        "{log}"
    );
    let log = rig.log(1);
    assert!(
        log.contains("vc DMZ: no -t for conntrackd (it would flush the kernel table, the flows of vc FW with it"),
        "{log}"
    );
    rig.wait_role(1, "Master", Duration::from_secs(2));
    flows.assert_unbroken();
}
