//! conntrack-ra against real conntrackd daemons in network namespaces: ocf-tester, a two-node
//! pair over a veth link (failover, failback with Pacemaker's notify environment), stop while
//! promoted, a SIGKILLed and a SIGSTOPped daemon, bad parameters.
//!
//! Each test has its own namespaces and its own directory for conntrackd's socket, lock file,
//! log and config, and for the agent's promoted-state file (HA_RSCTMP).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{applet, text, unique, veth, Netns};

/// A per-test directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = PathBuf::from("/tmp").join(unique(&format!("habox-ct-{tag}")));
        std::fs::create_dir_all(&dir).unwrap();
        // ocf-tester runs meta-data as nobody; nothing else needs other users.
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One firewall: a namespace with a conntrackd config and the agent's environment.
struct Node {
    ns: Netns,
    dir: PathBuf,
    name: &'static str,
}

impl Node {
    fn config(&self) -> PathBuf {
        self.dir.join("conntrackd.conf")
    }
    fn socket(&self) -> PathBuf {
        self.dir.join("conntrackd.ctl")
    }
    fn lock(&self) -> PathBuf {
        self.dir.join("conntrackd.lock")
    }
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("conntrackd.log")).unwrap_or_default()
    }
    fn statefile(&self) -> PathBuf {
        self.dir.join("rsc").join("conntrack-ra-ct.promoted")
    }

    /// Runs `conntrack-ra ACTION` in the namespace with the OCF environment plus `extra`.
    /// Only the network namespace is entered (nsenter, not `ip netns exec`, which makes a new
    /// mount namespace for every call): every action runs, as under Pacemaker, in the same
    /// mount namespace as the conntrackd an earlier start left.
    fn ra(&self, action: &str, extra: &[(&str, &str)]) -> Output {
        self.ra_cmd(action, extra).output().unwrap()
    }

    /// The agent's command line as `ra` runs it, for tests that bound its run time.
    fn ra_cmd(&self, action: &str, extra: &[(&str, &str)]) -> std::process::Command {
        let mut cmd = std::process::Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.ns.name))
            .arg(applet("conntrack-ra"))
            .arg(action)
            .env("OCF_ROOT", "/usr/lib/ocf")
            .env("OCF_RESOURCE_INSTANCE", "ct:0")
            .env("OCF_RESKEY_config", self.config())
            .env("OCF_RESKEY_CRM_meta_timeout", "20000")
            .env("OCF_RESKEY_CRM_meta_interval", "10000")
            .env("OCF_RESKEY_CRM_meta_on_node", self.name)
            .env("HA_RSCTMP", self.dir.join("rsc"))
            // No Pacemaker runs here: its tools, when installed on the host, would only fail
            // to reach a CIB (tests that want them pass mocks in PATH).
            .env("PATH", no_pacemaker_path())
            .env("HA_SBIN_DIR", "/nonexistent");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    }

    fn rc(&self, action: &str, extra: &[(&str, &str)]) -> i32 {
        let out = self.ra(action, extra);
        let (o, e) = text(&out);
        eprintln!(
            "[{}] {action} -> {:?}\n{o}{e}",
            self.name,
            out.status.code()
        );
        out.status.code().unwrap_or(-1)
    }

    /// conntrackd's own client, for what the test observes (caches).
    fn conntrackd(&self, opt: &str) -> String {
        let out = self
            .ns
            .run(&["conntrackd", "-C", self.config().to_str().unwrap(), opt]);
        text(&out).0
    }

    fn kernel_table(&self) -> String {
        let out = self.ns.run(&["conntrack", "-L"]);
        let (o, e) = text(&out);
        o + &e
    }

    fn daemon_pid(&self) -> Option<i32> {
        let out = std::process::Command::new("ip")
            .args(["netns", "pids", &self.ns.name])
            .output()
            .unwrap();
        text(&out)
            .0
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .find(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| {
                        c.starts_with(b"conntrackd\0")
                            || c.windows(11).any(|w| w == b"conntrackd\0")
                    })
                    .unwrap_or(false)
            })
    }

    fn bulk_updates(&self) -> usize {
        self.log().matches("sending bulk update").count()
    }
}

/// A PATH with conntrackd and conntrack but none of the host's Pacemaker tools (which live in
/// /usr/sbin beside them).
fn no_pacemaker_path() -> String {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("ct-sbin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for tool in ["conntrackd", "conntrack"] {
            let _ = std::os::unix::fs::symlink(Path::new("/usr/sbin").join(tool), dir.join(tool));
        }
        dir
    });
    format!("{}:/usr/bin:/bin", dir.display())
}

fn write_config(dir: &Path, local: &str, peer: &str, ifname: &str) {
    let d = dir.display();
    let conf = format!(
        "Sync {{
\tMode FTFW {{
\t\tDisableExternalCache Off
\t}}
\tUDP {{
\t\tIPv4_address {local}
\t\tIPv4_Destination_Address {peer}
\t\tPort 3780
\t\tInterface {ifname}
\t\tChecksum on
\t}}
}}
General {{
\tSystemd off
\tHashSize 16384
\tHashLimit 65535
\tLogFile {d}/conntrackd.log
\tSyslog off
\tLockFile {d}/conntrackd.lock
\tUNIX {{
\t\tPath {d}/conntrackd.ctl
\t}}
\tNetlinkBufferSize 2097152
\tNetlinkBufferSizeMaxGrowth 8388608
}}
"
    );
    std::fs::write(dir.join("conntrackd.conf"), conf).unwrap();
}

/// Two nodes, fw-a (203.0.113.1) and fw-b (203.0.113.2), on one veth link `sync0`.
fn pair(tmp: &TempDir) -> (Node, Node) {
    let a = Node {
        ns: Netns::new("cta"),
        dir: tmp.0.join("a"),
        name: "fw-a",
    };
    let b = Node {
        ns: Netns::new("ctb"),
        dir: tmp.0.join("b"),
        name: "fw-b",
    };
    veth(&a.ns, "sync0", &b.ns, "sync0");
    a.ns.ip(&["addr", "add", "203.0.113.1/24", "dev", "sync0"]);
    b.ns.ip(&["addr", "add", "203.0.113.2/24", "dev", "sync0"]);
    for (n, local, peer) in [
        (&a, "203.0.113.1", "203.0.113.2"),
        (&b, "203.0.113.2", "203.0.113.1"),
    ] {
        std::fs::create_dir_all(&n.dir).unwrap();
        write_config(&n.dir, local, peer, "sync0");
    }
    (a, b)
}

/// One node whose peer address has nobody behind it (enough for single-node behaviour): both
/// ends of its veth link stay in its own namespace.
fn single(tmp: &TempDir) -> Node {
    single_at(tmp.0.join("a"), "cts")
}

/// `single` with its files in `dir`.
fn single_at(dir: PathBuf, prefix: &str) -> Node {
    let a = Node {
        ns: Netns::new(prefix),
        dir,
        name: "fw-a",
    };
    a.ns.ip(&[
        "link", "add", "sync0", "type", "veth", "peer", "name", "sync1",
    ]);
    a.ns.ip(&["link", "set", "sync0", "up"]);
    a.ns.ip(&["link", "set", "sync1", "up"]);
    a.ns.ip(&["addr", "add", "203.0.113.1/24", "dev", "sync0"]);
    std::fs::create_dir_all(&a.dir).unwrap();
    write_config(&a.dir, "203.0.113.1", "203.0.113.2", "sync0");
    a
}

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const ENTRY: &str = "src=198.51.100.10 dst=203.0.113.20 sport=40000 dport=80";

fn insert_entry(n: &Node) {
    let out = n.ns.run(&[
        "conntrack",
        "-I",
        "-p",
        "tcp",
        "-s",
        "198.51.100.10",
        "-d",
        "203.0.113.20",
        "--sport",
        "40000",
        "--dport",
        "80",
        "--state",
        "ESTABLISHED",
        "-t",
        "300",
        "-u",
        "ASSURED",
    ]);
    assert!(out.status.success(), "conntrack -I: {out:?}");
}

fn stop_all(nodes: &[&Node]) {
    for n in nodes {
        n.ra("stop", &[]);
    }
}

#[test]
fn ocf_tester_passes_with_a_real_conntrackd() {
    let tmp = TempDir::new("t");
    let a = single(&tmp);
    // ocf-tester checks meta-data as nobody: the agent must be reachable for that user,
    // wherever the checkout lives, so it runs from a copy in the test's own directory.
    let agent = tmp.0.join("conntrack-ra");
    std::fs::copy(common::habox(), &agent).unwrap();
    for p in [&tmp.0, &agent] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let out =
        a.ns.cmd("ocf-tester")
            .args(["-v", "-n", "ct", "-o"])
            .arg(format!("config={}", a.config().display()))
            .args([
                "-o",
                "CRM_meta_master_max=1",
                "-o",
                "CRM_meta_master_node_max=1",
                "-o",
                "CRM_meta_clone_node_max=1",
            ])
            .arg(&agent)
            .env("HA_RSCTMP", a.dir.join("rsc"))
            .output()
            .unwrap();
    let (o, e) = text(&out);
    stop_all(&[&a]);
    assert!(out.status.success(), "ocf-tester failed:\n{o}\n{e}");
    assert!(o.contains("passed all tests"), "{o}");
}

#[test]
fn entry_on_a_reaches_b_and_promote_on_b_commits_it() {
    let tmp = TempDir::new("f");
    let (a, b) = pair(&tmp);
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(b.rc("start", &[]), 0);
    assert_eq!(a.rc("promote", &[]), 0);
    assert_eq!(a.rc("monitor", &[]), 8);
    assert_eq!(b.rc("monitor", &[]), 0);
    insert_entry(&a);
    wait_for(
        "the entry in b's external cache",
        Duration::from_secs(10),
        || b.conntrackd("-e").contains(ENTRY),
    );
    assert!(!b.kernel_table().contains(ENTRY), "not committed yet");
    // Failover: a steps down, b takes the role and commits a's connections to its kernel.
    assert_eq!(a.rc("demote", &[]), 0);
    assert_eq!(b.rc("promote", &[]), 0);
    assert_eq!(b.rc("monitor", &[]), 8);
    assert_eq!(a.rc("monitor", &[]), 0);
    let table = b.kernel_table();
    assert!(table.contains(ENTRY), "b's kernel table: {table}");
    // The flush after the commit took effect (HashSize > 8192), so no stale external entries.
    assert!(!b.conntrackd("-e").contains(ENTRY));
    stop_all(&[&a, &b]);
}

#[test]
fn failback_with_notifications_sends_bulk_updates() {
    let tmp = TempDir::new("b");
    let (a, b) = pair(&tmp);
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(b.rc("start", &[]), 0);
    assert_eq!(b.rc("promote", &[]), 0);
    insert_entry(&b);
    wait_for(
        "the entry in b's internal cache",
        Duration::from_secs(10),
        || b.conntrackd("-i").contains(ENTRY),
    );
    // a fails and comes back.
    assert_eq!(a.rc("stop", &[]), 0);
    assert_eq!(a.rc("monitor", &[]), 7);
    assert_eq!(a.rc("start", &[]), 0);
    let post_start = [
        ("OCF_RESKEY_CRM_meta_notify_type", "post"),
        ("OCF_RESKEY_CRM_meta_notify_operation", "start"),
        ("OCF_RESKEY_CRM_meta_notify_start_uname", "fw-a"),
        ("OCF_RESKEY_CRM_meta_notify_promoted_uname", "fw-b"),
        ("OCF_RESKEY_CRM_meta_notify_promote_uname", " "),
    ];
    // Only the promoted node sends: a gets the notification too and does nothing.
    let (a_bulk, b_bulk) = (a.bulk_updates(), b.bulk_updates());
    assert_eq!(a.rc("notify", &post_start), 0);
    assert_eq!(b.rc("notify", &post_start), 0);
    wait_for("b's post-start bulk update", Duration::from_secs(5), || {
        b.bulk_updates() == b_bulk + 1
    });
    assert_eq!(a.bulk_updates(), a_bulk);
    wait_for(
        "the entry in a's external cache",
        Duration::from_secs(10),
        || a.conntrackd("-e").contains(ENTRY),
    );
    // Failback: b demotes, gets pre-promote for a and sends its freshest state, a promotes.
    assert_eq!(b.rc("demote", &[]), 0);
    let pre_promote = [
        ("OCF_RESKEY_CRM_meta_notify_type", "pre"),
        ("OCF_RESKEY_CRM_meta_notify_operation", "promote"),
        ("OCF_RESKEY_CRM_meta_notify_promote_uname", "fw-a"),
        ("OCF_RESKEY_CRM_meta_notify_promoted_uname", " "),
        ("OCF_RESKEY_CRM_meta_notify_start_uname", " "),
    ];
    let (a_bulk, b_bulk) = (a.bulk_updates(), b.bulk_updates());
    assert_eq!(a.rc("notify", &pre_promote), 0);
    assert_eq!(b.rc("notify", &pre_promote), 0);
    wait_for(
        "b's pre-promote bulk update",
        Duration::from_secs(5),
        || b.bulk_updates() == b_bulk + 1,
    );
    assert_eq!(
        a.bulk_updates(),
        a_bulk,
        "the node to be promoted does not send"
    );
    assert_eq!(a.rc("promote", &[]), 0);
    assert_eq!(a.rc("monitor", &[]), 8);
    let table = a.kernel_table();
    assert!(table.contains(ENTRY), "a's kernel table: {table}");
    stop_all(&[&a, &b]);
}

#[test]
fn notify_compares_pacemaker_node_names_not_the_hostname() {
    let tmp = TempDir::new("n");
    let a = single(&tmp);
    assert_eq!(a.rc("start", &[]), 0);
    let before = a.bulk_updates();
    // The node to be promoted is this node under its Pacemaker name: nothing to send,
    // whatever the kernel's host name is.
    let me = [
        ("OCF_RESKEY_CRM_meta_notify_type", "pre"),
        ("OCF_RESKEY_CRM_meta_notify_operation", "promote"),
        ("OCF_RESKEY_CRM_meta_notify_promote_uname", "fw-a"),
    ];
    assert_eq!(a.rc("notify", &me), 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(a.bulk_updates(), before);
    // Another node named like this host's kernel name is still another node.
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    let other = [
        ("OCF_RESKEY_CRM_meta_notify_type", "pre"),
        ("OCF_RESKEY_CRM_meta_notify_operation", "promote"),
        ("OCF_RESKEY_CRM_meta_notify_promote_uname", host.as_str()),
    ];
    assert_eq!(a.rc("notify", &other), 0);
    wait_for("the bulk update", Duration::from_secs(5), || {
        a.bulk_updates() == before + 1
    });
    stop_all(&[&a]);
    // Notify never fails, even with conntrackd gone.
    assert_eq!(a.rc("notify", &other), 0);
}

#[test]
fn stop_while_promoted_stops_and_forgets_the_role() {
    let tmp = TempDir::new("s");
    let a = single(&tmp);
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(a.rc("promote", &[]), 0);
    assert!(a.statefile().exists());
    assert_eq!(a.rc("stop", &[]), 0);
    assert!(!a.statefile().exists());
    assert!(!a.socket().exists());
    assert!(!a.lock().exists());
    assert!(a.daemon_pid().is_none());
    assert_eq!(a.rc("monitor", &[]), 7);
    assert_eq!(a.rc("stop", &[]), 0);
    // A start after that is unpromoted.
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(a.rc("monitor", &[]), 0);
    stop_all(&[&a]);
}

#[test]
fn killed_daemon_is_not_running_then_stops_and_starts_cleanly() {
    let tmp = TempDir::new("k");
    let a = single(&tmp);
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(a.rc("promote", &[]), 0);
    let pid = a.daemon_pid().expect("conntrackd pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for("conntrackd to die", Duration::from_secs(5), || {
        !Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.is_empty())
                .unwrap_or(true)
    });
    // Its socket and lock file are left behind.
    assert!(a.socket().exists() && a.lock().exists());
    assert_eq!(
        a.rc("monitor", &[]),
        7,
        "promoted state file but dead daemon"
    );
    assert_eq!(a.rc("stop", &[]), 0);
    assert!(!a.socket().exists() && !a.lock().exists());
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(a.rc("monitor", &[]), 0);
    stop_all(&[&a]);
}

#[test]
fn killed_daemon_start_cleans_the_stale_socket_and_lock() {
    let tmp = TempDir::new("l");
    let a = single(&tmp);
    assert_eq!(a.rc("start", &[]), 0);
    let pid = a.daemon_pid().expect("conntrackd pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for("conntrackd to die", Duration::from_secs(5), || {
        a.daemon_pid().is_none()
    });
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(a.rc("monitor", &[]), 0);
    stop_all(&[&a]);
}

#[test]
fn hung_daemon_fails_monitor_within_the_timeout() {
    let tmp = TempDir::new("h");
    let a = single(&tmp);
    assert_eq!(a.rc("start", &[]), 0);
    let pid = nix::unistd::Pid::from_raw(a.daemon_pid().expect("conntrackd pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let timeout = [("OCF_RESKEY_CRM_meta_timeout", "3000")];
    let start = Instant::now();
    let out = a.ra("monitor", &timeout);
    let took = start.elapsed();
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(took < Duration::from_secs(3), "monitor took {took:?}");
    assert!(
        e.contains("ocf-exit-reason:conntrackd is running but does not answer"),
        "{e}"
    );
    // Repeated monitors of the stuck daemon (its accept queue fills up) still return 1.
    for _ in 0..3 {
        assert_eq!(a.ra("monitor", &timeout).status.code(), Some(1));
    }
    // stop gets rid of it with signals.
    assert_eq!(a.rc("stop", &timeout), 0);
    assert!(a.daemon_pid().is_none());
    assert_eq!(a.rc("monitor", &[]), 7);
}

/// conntrackd.conf is each node's own file (its addresses, its interfaces). A typo in one
/// node's copy was exit 6, OCF_ERR_CONFIGURED, which Pacemaker takes as fatal everywhere:
/// the clone stopped on every node, the promoted one and its connections too. It is 2 now,
/// a hard error on this node only, as conntrackd's own refusal of a file already was. A
/// parameter that is wrong whatever the node (promoted-max, a relative path) stays 6.
#[test]
fn a_typo_in_one_nodes_conntrackd_conf_stopped_the_clone_on_every_node() {
    let tmp = TempDir::new("c");
    let a = single(&tmp);
    std::fs::write(a.config(), "General {\n\tHashSize 16384\n}\n").unwrap();
    for action in ["validate-all", "start", "promote"] {
        let out = a.ra(action, &[]);
        let (_, e) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{action}: {e}");
        assert!(e.contains("no UNIX { Path ... }"), "{e}");
    }
    assert!(a.daemon_pid().is_none());
    std::fs::write(a.config(), "General {\n}\n}\n").unwrap();
    let out = a.ra("validate-all", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains(":3:1: error:"), "{:?}", text(&out).1);
    // Promotable-clone meta attributes other than 1 are fatal too.
    write_config(&a.dir, "203.0.113.1", "203.0.113.2", "sync0");
    assert_eq!(
        a.rc("validate-all", &[("OCF_RESKEY_CRM_meta_promoted_max", "2")]),
        6
    );
    assert_eq!(
        a.rc(
            "validate-all",
            &[("OCF_RESKEY_CRM_meta_master_node_max", "2")]
        ),
        6
    );
    assert_eq!(
        a.rc(
            "validate-all",
            &[("OCF_RESKEY_CRM_meta_clone_node_max", "1")]
        ),
        0
    );
    // stop never validates, and a probe of what cannot run here is "not running".
    std::fs::write(a.config(), "nonsense {").unwrap();
    assert_eq!(a.rc("stop", &[]), 0);
    assert_eq!(a.rc("monitor", &[("OCF_RESKEY_CRM_meta_interval", "0")]), 7);
}

#[test]
fn missing_binary_or_config_is_not_installed() {
    let tmp = TempDir::new("m");
    let a = single(&tmp);
    let missing = [("OCF_RESKEY_binary", "/nonexistent/conntrackd")];
    assert_eq!(a.rc("validate-all", &missing), 5);
    assert_eq!(a.rc("start", &missing), 5);
    // The deprecated alias works the same way.
    assert_eq!(
        a.rc("start", &[("OCF_RESKEY_conntrackd", "no-such-conntrackd")]),
        5
    );
    let no_config = [("OCF_RESKEY_config", "/nonexistent/conntrackd.conf")];
    assert_eq!(a.rc("validate-all", &no_config), 5);
    assert_eq!(
        a.rc(
            "monitor",
            &[("OCF_RESKEY_CRM_meta_interval", "0"), no_config[0]]
        ),
        7
    );
    assert_eq!(a.rc("stop", &no_config), 0);
}

#[test]
fn invocation_without_pacemaker() {
    let tmp = TempDir::new("i");
    let a = single(&tmp);
    let ra = applet("conntrack-ra");
    // No action: usage, 2. Unknown action: 3. meta-data needs nothing.
    let out = std::process::Command::new(&ra).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = std::process::Command::new(&ra)
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let out = std::process::Command::new(&ra)
        .arg("meta-data")
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out)
        .0
        .contains("<resource-agent name=\"conntrack-ra\""));
    // pikemon's hooks: options instead of OCF_RESKEY_*, no Pacemaker tools, no meta.
    let state = a.dir.join("hook.promoted");
    let run = |action: &str| {
        a.ns.cmd(&ra)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .arg("-C")
            .arg(a.config())
            .arg("--statefile")
            .arg(&state)
            .arg(action)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(run("start"), Some(0));
    assert_eq!(run("promote"), Some(0));
    assert!(state.exists());
    assert_eq!(run("monitor"), Some(8));
    assert_eq!(run("demote"), Some(0));
    assert!(!state.exists());
    assert_eq!(run("monitor"), Some(0));
    assert_eq!(run("stop"), Some(0));
}

#[test]
fn promotion_score_goes_through_crm_attribute_or_crm_master() {
    // Mock: crm_attribute and crm_master need a running Pacemaker cluster, which these host
    // tests do not run. These record how they were called (and the resource they act on).
    let tmp = TempDir::new("p");
    let a = single(&tmp);
    let bin = tmp.0.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = tmp.0.join("calls");
    for tool in ["crm_attribute", "crm_master"] {
        let script = format!(
            "#!/bin/sh\necho \"{tool} $* [$OCF_RESOURCE_INSTANCE]\" >> {}\n",
            calls.display()
        );
        std::fs::write(bin.join(tool), script).unwrap();
        std::process::Command::new("chmod")
            .arg("755")
            .arg(bin.join(tool))
            .status()
            .unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [("PATH", path.as_str())];
    let calls_text = || std::fs::read_to_string(&calls).unwrap_or_default();
    assert_eq!(a.rc("start", &env), 0);
    assert_eq!(a.rc("promote", &env), 0);
    assert_eq!(
        a.rc("monitor", &[env[0], ("OCF_RESKEY_CRM_meta_interval", "0")]),
        8
    );
    // A recurring monitor does not touch the score.
    assert_eq!(a.rc("monitor", &env), 8);
    assert_eq!(a.rc("stop", &env), 0);
    assert_eq!(
        calls_text(),
        "crm_attribute --promotion -q -v 100 [ct:0]\n\
         crm_attribute --promotion -q -v 1000 [ct:0]\n\
         crm_attribute --promotion -q -v 1000 [ct:0]\n\
         crm_attribute --promotion -q -D [ct:0]\n"
    );
    // A DC older than feature set 3.10.0 has no --promotion: crm_master.
    std::fs::remove_file(&calls).unwrap();
    let old = [env[0], ("OCF_RESKEY_crm_feature_set", "3.2.0")];
    assert_eq!(a.rc("start", &old), 0);
    assert_eq!(calls_text(), "crm_master -l reboot -q -v 100 [ct:0]\n");
    stop_all(&[&a]);
}

#[test]
fn small_hashsize_flush_quirk_is_detected_and_logged() {
    // conntrackd 1.4.x with HashSize <= 8192 commits in one step and then ignores every flush
    // ("commit still in progress"). Promote still commits, notices the ignored flush, says so.
    let tmp = TempDir::new("q");
    let (a, b) = pair(&tmp);
    for n in [&a, &b] {
        let conf = std::fs::read_to_string(n.config()).unwrap();
        std::fs::write(n.config(), conf.replace("HashSize 16384", "HashSize 8192")).unwrap();
    }
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(b.rc("start", &[]), 0);
    insert_entry(&a);
    wait_for(
        "the entry in b's external cache",
        Duration::from_secs(10),
        || b.conntrackd("-e").contains(ENTRY),
    );
    let out = b.ra("promote", &[]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("conntrackd ignored the cache flush"), "{err}");
    assert!(err.contains("set HashSize above 8192"), "{err}");
    assert!(b
        .log()
        .contains("ignoring flush command, commit still in progress"));
    assert!(b.kernel_table().contains(ENTRY));
    // validate-all warns about it before anything happens.
    let (_, err) = text(&b.ra("validate-all", &[]));
    assert!(err.contains("HashSize 8192 <= 8192"), "{err}");
    stop_all(&[&a, &b]);
}

/// pikemon's config for the hook test: the notify hooks call conntrack-ra as the appliance does.
fn pikemon_config(n: &Node, node: u32) -> String {
    let ra = format!(
        "{} -C {} -S {}",
        applet("conntrack-ra").display(),
        n.config().display(),
        n.statefile().display()
    );
    format!(
        r#"version PIKEMON-1;
pikemon {{
    node-id {node};
    status-file "{d}/pk-status"; pid-file "{d}/pk.pid";
    control-socket "{d}/pk.ctl"; paths-file "{d}/pk-paths";
    hmac key "0123456789abcdef0123";
    heart-beat {{ interface hb0; }}
    hello-interval 100ms;
    virtual-cluster LAN {{
        id 1; primary node 1;
        interface lan0 {{ ipv4 [198.51.100.10]/24; }}
        notify-master "{ra} promote";
        notify-backup "{ra} demote";
    }}
}}
"#,
        d = n.dir.display()
    )
}

#[test]
fn pikemon_hooks_promote_the_new_master_which_commits_the_peer_connections() {
    let tmp = TempDir::new("pk");
    let (a, b) = pair(&tmp);
    veth(&a.ns, "lan0", &b.ns, "lan0");
    veth(&a.ns, "hb0", &b.ns, "hb0");
    a.ns.ip(&["addr", "add", "198.51.100.2/24", "dev", "lan0"]);
    b.ns.ip(&["addr", "add", "198.51.100.3/24", "dev", "lan0"]);
    // conntrackd runs from the boot scripts; pikemon only promotes and demotes it.
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(b.rc("start", &[]), 0);
    let mut pikemons = Vec::new();
    for (n, id) in [(&a, 1), (&b, 2)] {
        // The hooks name the statefile with -S: outside HA_RSCTMP its directory must exist.
        std::fs::create_dir_all(n.statefile().parent().unwrap()).unwrap();
        let cfg = n.dir.join("pikemon.cfg");
        std::fs::write(&cfg, pikemon_config(n, id)).unwrap();
        pikemons.push(
            n.ns.cmd(applet("pikemon"))
                .arg("-f")
                .arg(&cfg)
                .arg("-d")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    wait_for(
        "a promoted by pikemon's notify-master",
        Duration::from_secs(10),
        || a.statefile().exists(),
    );
    assert_eq!(a.rc("monitor", &[]), 8);
    assert!(!b.statefile().exists());
    insert_entry(&a);
    wait_for(
        "the entry in b's external cache",
        Duration::from_secs(10),
        || b.conntrackd("-e").contains(ENTRY),
    );
    // The master's pikemon dies: b takes over and its hook commits a's connections.
    for mut p in pikemons.drain(..1) {
        let _ = p.kill();
        let _ = p.wait();
    }
    for pid in text(
        &std::process::Command::new("ip")
            .args(["netns", "pids", &a.ns.name])
            .output()
            .unwrap(),
    )
    .0
    .split_whitespace()
    {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmd.starts_with(b"pikemon") {
            let _ = std::process::Command::new("kill")
                .args(["-9", pid])
                .status();
        }
    }
    wait_for(
        "b promoted by pikemon's notify-master",
        Duration::from_secs(10),
        || b.statefile().exists(),
    );
    wait_for(
        "a's connection in b's kernel table",
        Duration::from_secs(5),
        || b.kernel_table().contains(ENTRY),
    );
    assert_eq!(b.rc("monitor", &[]), 8);
    for mut p in pikemons {
        let _ = p.kill();
        let _ = p.wait();
    }
    stop_all(&[&a, &b]);
}

#[test]
fn bystander_conntrackd_with_the_same_config_path_in_another_namespace_survives() {
    // Regression: the agent found conntrackd processes through /proc by their command line
    // alone, so another namespace's (a container's) daemon started with the same config path
    // made start refuse ("runs with ... but its socket ... does not answer") and was SIGTERMed
    // by stop.
    let tmp = TempDir::new("y");
    let shared = tmp.0.join("shared");
    let a = single_at(shared.clone(), "cty");
    // The bystander: its own network namespace, and a mount namespace of its own in which
    // the same path shows its own directory with the same config text.
    let by = single_at(tmp.0.join("b"), "ctz");
    std::fs::copy(a.config(), by.config()).unwrap();
    let script = format!(
        "mount --bind {b} {s} && exec conntrackd -C {s}/conntrackd.conf -d",
        b = by.dir.display(),
        s = shared.display()
    );
    let out = by.ns.run(&["sh", "-c", &script]);
    assert!(out.status.success(), "bystander: {out:?}");
    wait_for("the bystander's socket", Duration::from_secs(5), || {
        by.socket().exists()
    });
    let bystander = by.daemon_pid().expect("bystander conntrackd");
    let cmdline = std::fs::read(format!("/proc/{bystander}/cmdline")).unwrap();
    let config = a.config();
    assert!(
        cmdline
            .windows(config.as_os_str().len())
            .any(|w| w == config.as_os_str().as_encoded_bytes()),
        "the bystander runs with the same config path"
    );
    let alive = || {
        std::fs::read_to_string(format!("/proc/{bystander}/stat"))
            .map(|s| !s.contains(") Z"))
            .unwrap_or(false)
    };
    assert_eq!(a.rc("stop", &[]), 0);
    assert!(
        alive(),
        "stop of a stopped resource signalled the bystander"
    );
    assert_eq!(a.rc("start", &[]), 0);
    assert!(a.daemon_pid().is_some());
    assert_eq!(a.rc("promote", &[]), 0);
    assert_eq!(a.rc("monitor", &[]), 8);
    assert_eq!(a.rc("stop", &[]), 0);
    assert!(a.daemon_pid().is_none());
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(), "stop signalled the bystander");
    assert!(by.socket().exists());
    assert_eq!(a.rc("monitor", &[]), 7);
}

/// An agent's stderr as lines; its stdout must be empty.
fn stderr_lines(out: &Output) -> Vec<String> {
    let (o, e) = text(out);
    assert_eq!(o, "", "stdout of a monitor");
    e.lines().map(str::to_string).collect()
}

#[test]
fn monitor_is_quiet_when_all_is_well_and_says_one_reason_line_when_not() {
    // Pacemaker logs an agent's stderr on every monitor: success says nothing, a failure says
    // one line, the exit reason.
    let tmp = TempDir::new("w");
    let a = single(&tmp);
    let probe = [("OCF_RESKEY_CRM_meta_interval", "0")];
    assert_eq!(a.rc("start", &[]), 0);
    for extra in [&[][..], &probe[..]] {
        let out = a.ra("monitor", extra);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
        assert!(stderr_lines(&out).is_empty(), "{}", text(&out).1);
    }
    assert_eq!(a.rc("promote", &[]), 0);
    let out = a.ra("monitor", &[]);
    assert_eq!(out.status.code(), Some(8));
    assert!(stderr_lines(&out).is_empty(), "{}", text(&out).1);
    // Hung: one line.
    let pid = nix::unistd::Pid::from_raw(a.daemon_pid().expect("conntrackd pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let timeout = [("OCF_RESKEY_CRM_meta_timeout", "2000")];
    let out = a.ra("monitor", &timeout);
    assert_eq!(out.status.code(), Some(1));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("ocf-exit-reason:conntrackd is running but does not answer"),
        "{lines:?}"
    );
    assert_eq!(a.rc("stop", &timeout), 0);
    // Stopped: a recurring monitor says why in one line, a probe says nothing.
    let out = a.ra("monitor", &[]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(
        stderr_lines(&out),
        [format!(
            "ocf-exit-reason:conntrackd is not running (no control socket {})",
            a.socket().display()
        )]
    );
    let out = a.ra("monitor", &probe);
    assert_eq!(out.status.code(), Some(7));
    assert!(stderr_lines(&out).is_empty(), "{}", text(&out).1);
}

#[test]
fn monitor_stays_quiet_when_pacemaker_is_installed_but_no_cluster_runs() {
    // Mock (as above): a crm_attribute that answers as Pacemaker's does on a host where the
    // tools are installed but no cluster runs (seen: exit 102, "Could not connect to the
    // CIB"). That is no failure and worth no warning on every monitor.
    let tmp = TempDir::new("n");
    let a = single(&tmp);
    let bin = tmp.0.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = "#!/bin/sh\necho 'crm_attribute: Could not connect to the CIB: Transport endpoint is not connected' >&2\nexit 102\n";
    std::fs::write(bin.join("crm_attribute"), script).unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(bin.join("crm_attribute"))
        .status()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        ("PATH", path.as_str()),
        ("OCF_RESKEY_CRM_meta_interval", "0"),
    ];
    assert_eq!(a.rc("start", &env[..1]), 0);
    let out = a.ra("monitor", &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(stderr_lines(&out).is_empty(), "{}", text(&out).1);
    assert_eq!(a.rc("stop", &env[..1]), 0);
}

#[test]
fn config_naming_a_fifo_hung_every_action_and_dev_zero_ate_the_memory() {
    // An operator's wrong `config`: open(2) of a FIFO waited for a writer past the action's
    // timeout, and /dev/zero was read until memory ran out. Both are "cannot be read" (2) now,
    // at once, as a directory is; stop still returns 0 and a probe 7.
    let tmp = TempDir::new("f");
    let a = single(&tmp);
    let fifo = a.dir.join("fifo.conf");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let huge = a.dir.join("huge.conf");
    std::fs::write(&huge, "# comment\n".repeat(200_000)).unwrap();
    for (config, why) in [
        (fifo.to_str().unwrap(), "not a regular file"),
        ("/dev/zero", "not a regular file"),
        (huge.to_str().unwrap(), "more than the 1048576 expected"),
    ] {
        for (action, interval, want) in [
            ("validate-all", "10000", 2),
            ("start", "10000", 2),
            ("monitor", "10000", 2),
            ("monitor", "0", 7),
            ("stop", "10000", 0),
        ] {
            let env = [
                ("OCF_RESKEY_config", config),
                ("OCF_RESKEY_CRM_meta_timeout", "2000"),
                ("OCF_RESKEY_CRM_meta_interval", interval),
            ];
            let out = output_within(
                a.ra_cmd(action, &env),
                Duration::from_secs(3),
                &format!("{action} with config {config}"),
            );
            let (_, e) = text(&out);
            assert_eq!(out.status.code(), Some(want), "{action} {config}: {e}");
            if want == 7 {
                continue;
            }
            assert!(
                e.contains(&format!("conntrackd config {config} cannot be read: "))
                    && e.contains(why),
                "{action} {config}: {e}"
            );
        }
    }
}

#[test]
fn config_value_missing_or_garbage_passed_validate_and_lockfile_took_the_next_keyword() {
    // `LockFile` with its value forgotten: the agent took the next keyword ("Systemd") as the
    // lock file, relative to its working directory, and validate-all said 0 while conntrackd
    // refuses the file. HashSize garbage and an unclosed section had no position either.
    let tmp = TempDir::new("v");
    let a = single(&tmp);
    let good = std::fs::read_to_string(a.config()).unwrap();
    let name = a.config().display().to_string();
    for (broken, want) in [
        (
            good.replacen("General {", "General {\n\tLockFile", 1),
            ":15:2: error: LockFile expects an absolute lock file path, found 'Systemd'",
        ),
        (
            good.replacen("General {", "General {\n\tHashSize lots", 1),
            ":14:11: error: HashSize expects an integer, found 'lots'",
        ),
        (
            good.replacen("General {", "General {\n\tUNIX { Path run/ct.ctl }", 1),
            ":14:14: error: Path expects an absolute socket path, found 'run/ct.ctl'",
        ),
    ] {
        std::fs::write(a.config(), &broken).unwrap();
        // conntrackd itself refuses each of these.
        let real =
            a.ns.run(&["conntrackd", "-C", a.config().to_str().unwrap(), "-d"]);
        assert_eq!(real.status.code(), Some(1), "conntrackd took:\n{broken}");
        for action in ["validate-all", "start"] {
            let out = a.ra(action, &[]);
            let (_, e) = text(&out);
            assert_eq!(out.status.code(), Some(2), "{action}: {e}");
            assert!(
                e.contains(&format!("ocf-exit-reason:{name}:")) && e.contains(want),
                "{action}: {e}"
            );
        }
        assert!(a.daemon_pid().is_none());
    }
    // The last '}' missing: the error points at the brace that is not closed.
    let unclosed = good.trim_end().strip_suffix('}').unwrap().to_string();
    std::fs::write(a.config(), unclosed).unwrap();
    let (_, e) = text(&a.ra("validate-all", &[]));
    assert!(
        e.contains(":13:9: error: section 'General' opened here is not closed"),
        "{e}"
    );
}

#[test]
fn extra_arguments_after_the_action_were_refused() {
    // Regression: `conntrack-ra monitor -x` exited 2 ("unknown option"); OCF says an agent
    // ignores any argument after the action.
    let tmp = TempDir::new("x");
    let a = single(&tmp);
    let with_extra = |action: &str| {
        let out = a
            .ra_cmd(action, &[])
            .args(["-x", "--what=1", "more"])
            .output()
            .unwrap();
        let (o, e) = text(&out);
        eprintln!(
            "{action} -x --what=1 more -> {:?}\n{o}{e}",
            out.status.code()
        );
        out.status.code()
    };
    assert_eq!(with_extra("monitor"), Some(7));
    assert_eq!(with_extra("start"), Some(0));
    assert_eq!(with_extra("monitor"), Some(0));
    assert_eq!(with_extra("stop"), Some(0));
    assert_eq!(with_extra("monitor"), Some(7));
}

/// A conntrackd the test started itself: SIGKILLed and reaped on drop, even on a panic.
struct OwnDaemon(std::process::Child);

impl OwnDaemon {
    fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
    }

    /// Whether it has exited (reaped).
    fn exited(&mut self) -> bool {
        self.0.try_wait().ok().flatten().is_some()
    }
}

impl Drop for OwnDaemon {
    fn drop(&mut self) {
        if !self.exited() {
            self.signal(nix::sys::signal::Signal::SIGKILL);
            let _ = self.0.wait();
        }
    }
}

/// conntrackd in the foreground (no `-d`, as Debian's conntrackd.service runs it) in the
/// node's network namespace and our mount namespace, with `-C config` as given, from `cwd`;
/// returns once it answers on its control socket.
fn foreground_conntrackd(n: &Node, config: &str, cwd: &Path) -> OwnDaemon {
    let child = std::process::Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", n.ns.name))
        .args(["conntrackd", "-C", config])
        .current_dir(cwd)
        .env("PATH", no_pacemaker_path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let daemon = OwnDaemon(child);
    wait_for("conntrackd to answer", Duration::from_secs(5), || {
        n.ra("monitor", &[]).status.code() == Some(0)
    });
    daemon
}

#[test]
fn stop_missed_a_foreground_conntrackd_removed_its_socket_and_said_success() {
    // Regression: a daemon was found by its pid only with `-C CFG` and `-d` on its command
    // line. One running in the foreground that did not answer the kill request was left
    // running, its socket and lock file removed as "stale", and stop returned 0; the next
    // start launched a second daemon.
    let tmp = TempDir::new("fg");
    let a = single(&tmp);
    let config = a.config().to_str().unwrap().to_string();
    let mut daemon = foreground_conntrackd(&a, &config, &a.dir);
    daemon.signal(nix::sys::signal::Signal::SIGSTOP);
    assert_eq!(a.rc("stop", &[("OCF_RESKEY_CRM_meta_timeout", "4000")]), 0);
    // Found and killed: it is gone, and only then were its files removed.
    wait_for("conntrackd to be gone", Duration::from_secs(2), || {
        daemon.exited()
    });
    assert!(a.daemon_pid().is_none());
    assert!(!a.socket().exists() && !a.lock().exists());
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(a.rc("monitor", &[]), 0);
    stop_all(&[&a]);
}

#[test]
fn stop_removed_the_socket_and_lock_of_a_live_daemon_it_could_not_stop_and_said_success() {
    // Regression: a daemon that holds the control socket but cannot be found by its command
    // line (here started with a relative config path) and does not answer: stop removed its
    // socket and lock file as stale and returned 0. It now leaves them and fails (1) after its
    // time budget: the daemon is provably alive.
    let tmp = TempDir::new("rel");
    let a = single(&tmp);
    let mut daemon = foreground_conntrackd(&a, "./conntrackd.conf", &a.dir);
    daemon.signal(nix::sys::signal::Signal::SIGSTOP);
    let started = Instant::now();
    let out = a.ra("stop", &[("OCF_RESKEY_CRM_meta_timeout", "4000")]);
    let took = started.elapsed();
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("ocf-exit-reason:conntrackd still runs: its control socket"),
        "{e}"
    );
    assert!(took < Duration::from_secs(4), "stop took {took:?}");
    assert!(!daemon.exited());
    assert!(a.socket().exists() && a.lock().exists());
}

/// `ACTION` with `OCF_RESKEY_statefile=STATEFILE`: its exit code and stderr.
fn with_statefile(n: &Node, action: &str, statefile: &Path) -> (Option<i32>, String) {
    let out = n.ra(
        action,
        &[("OCF_RESKEY_statefile", statefile.to_str().unwrap())],
    );
    let (o, e) = text(&out);
    eprintln!(
        "[{}] {action} (statefile {}) -> {:?}\n{o}{e}",
        n.name,
        statefile.display(),
        out.status.code()
    );
    (out.status.code(), e)
}

#[test]
fn statefile_that_is_a_directory_was_taken_for_promoted() {
    // Regression: the statefile counted as "promoted" when its path merely existed. A
    // directory made monitor say 8 without a promote, promote said "already promoted" and
    // skipped the commit, demote failed to remove it and returned 0. Now the directory is a
    // parameter wrong on this host (2) wherever the statefile is read or written, and stop
    // still stops conntrackd.
    let tmp = TempDir::new("sd");
    let a = single(&tmp);
    let dir = a.dir.join("state.d");
    std::fs::create_dir(&dir).unwrap();
    let (rc, e) = with_statefile(&a, "validate-all", &dir);
    assert_eq!(rc, Some(2), "{e}");
    assert!(
        e.contains("is a directory, not conntrack-ra's promoted marker"),
        "{e}"
    );
    assert_eq!(with_statefile(&a, "start", &dir).0, Some(2));
    assert!(a.daemon_pid().is_none(), "start went ahead");
    assert_eq!(a.rc("start", &[]), 0);
    for action in ["monitor", "promote", "demote"] {
        let (rc, e) = with_statefile(&a, action, &dir);
        assert_eq!(rc, Some(2), "{action}: {e}");
    }
    // Nothing was committed or marked on the way.
    assert_eq!(a.rc("monitor", &[]), 0);
    assert!(!a.statefile().exists());
    assert_eq!(with_statefile(&a, "stop", &dir).0, Some(0));
    assert!(a.daemon_pid().is_none());
    assert!(dir.is_dir());
    assert_eq!(a.rc("monitor", &[]), 7);
}

/// A statefile that is a symlink (even to a real marker) or a file of other content is a
/// parameter wrong on this host: every action that reads or writes it exits 2 with the reason
/// on stderr, through the real binary, and changes nothing: conntrackd is neither started nor
/// stopped by them, nothing is committed, the link and both files stay as they were. stop
/// still stops conntrackd (exit 0) and leaves them alone. (Covered before at unit level only.)
#[test]
fn statefile_that_is_a_symlink_or_another_file_exits_2_and_changes_nothing() {
    let tmp = TempDir::new("sf");
    let a = single(&tmp);
    let real = a.dir.join("real.promoted");
    let marker = "conntrack-ra promoted\nct\n";
    std::fs::write(&real, marker).unwrap();
    let link = a.dir.join("link.promoted");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let other = a.dir.join("other.promoted");
    std::fs::write(&other, "precious\n").unwrap();
    let untouched = || {
        assert_eq!(std::fs::read_link(&link).unwrap(), real);
        assert_eq!(std::fs::read_to_string(&real).unwrap(), marker);
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "precious\n");
        assert!(
            !a.statefile().exists(),
            "the agent's own marker was written"
        );
    };
    let cases = [
        (&link, "a symbolic link"),
        (&other, "a file of other content"),
    ];
    let reason = |path: &Path, what: &str| {
        format!(
            "ocf-exit-reason:statefile {} is {what}, not conntrack-ra's promoted marker",
            path.display()
        )
    };
    // Stopped: nothing starts. (monitor of a stopped conntrackd says 7 without reading the
    // statefile: a probe's answer is that nothing runs.)
    for (path, what) in cases {
        assert_eq!(with_statefile(&a, "monitor", path).0, Some(7), "{what}");
        for action in ["validate-all", "start", "promote", "demote"] {
            let (rc, e) = with_statefile(&a, action, path);
            assert_eq!(rc, Some(2), "{action} {what}: {e}");
            assert!(e.contains(&reason(path, what)), "{action} {what}: {e}");
            assert!(
                a.daemon_pid().is_none(),
                "{action} {what} started conntrackd"
            );
        }
    }
    untouched();
    // Running: the same daemon runs on, unpromoted.
    assert_eq!(a.rc("start", &[]), 0);
    let pid = a.daemon_pid().expect("conntrackd runs");
    for (path, what) in cases {
        for action in ["start", "monitor", "promote", "demote"] {
            let (rc, e) = with_statefile(&a, action, path);
            assert_eq!(rc, Some(2), "{action} {what}: {e}");
            assert!(e.contains(&reason(path, what)), "{action} {what}: {e}");
            assert_eq!(a.daemon_pid(), Some(pid), "{action} {what}");
        }
    }
    untouched();
    assert_eq!(a.rc("monitor", &[]), 0);
    assert_eq!(with_statefile(&a, "stop", &link).0, Some(0));
    assert!(a.daemon_pid().is_none());
    untouched();
}

#[test]
fn statefile_equal_to_config_made_demote_delete_the_config() {
    // Regression: with statefile = config, monitor said promoted and demote deleted the
    // conntrackd config ("promoted state ... removed"). Now that is a configuration error
    // (6) everywhere but in stop, which stops conntrackd and leaves the file alone.
    let tmp = TempDir::new("sc");
    let a = single(&tmp);
    let config = a.config();
    let before = std::fs::read_to_string(&config).unwrap();
    let (rc, e) = with_statefile(&a, "validate-all", &config);
    assert_eq!(rc, Some(6), "{e}");
    assert!(e.contains("is conntrackd's config file"), "{e}");
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(a.rc("promote", &[]), 0);
    for action in ["monitor", "demote", "promote", "start"] {
        assert_eq!(with_statefile(&a, action, &config).0, Some(6), "{action}");
    }
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    // The real marker is untouched: still promoted.
    assert_eq!(a.rc("monitor", &[]), 8);
    assert_eq!(with_statefile(&a, "stop", &config).0, Some(0));
    assert!(a.daemon_pid().is_none());
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
}

#[test]
fn relative_statefile_was_written_in_the_agents_cwd() {
    // Regression: statefile=ct.promoted was written relative to the agent's working
    // directory, and a missing parent directory was created (/nonexistent/dir). A relative
    // path is now a configuration error (6), a missing directory one of this host (2);
    // nothing is written or created.
    let tmp = TempDir::new("sr");
    let a = single(&tmp);
    let cwd = a.dir.join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let relative = |action: &str| {
        let out = a
            .ra_cmd(action, &[("OCF_RESKEY_statefile", "ct.promoted")])
            .current_dir(&cwd)
            .output()
            .unwrap();
        let (o, e) = text(&out);
        eprintln!("{action} (relative) -> {:?}\n{o}{e}", out.status.code());
        (out.status.code(), e)
    };
    let (rc, e) = relative("validate-all");
    assert_eq!(rc, Some(6), "{e}");
    assert!(
        e.contains("ocf-exit-reason:statefile ct.promoted is not an absolute path"),
        "{e}"
    );
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(relative("promote").0, Some(6));
    assert!(!cwd.join("ct.promoted").exists());
    let missing = a.dir.join("missing").join("dir").join("ct.promoted");
    let (rc, e) = with_statefile(&a, "promote", &missing);
    assert_eq!(rc, Some(2), "{e}");
    assert!(e.contains("its directory does not exist"), "{e}");
    assert!(!a.dir.join("missing").exists());
    assert_eq!(a.rc("monitor", &[]), 0);
    assert_eq!(relative("stop").0, Some(0));
    assert!(a.daemon_pid().is_none());
}

#[test]
fn monitor_said_stopped_while_conntrackd_ran_with_its_config_moved_away() {
    // Regression: with the config moved away after start, monitor reported "not running"
    // (7; 5 from a recurring monitor) while stop still found and stopped the daemon by its
    // command line; on 7 Pacemaker would have started a second one. monitor now looks for
    // the daemon as stop does and fails (1) with the reason.
    let tmp = TempDir::new("mv");
    let a = single(&tmp);
    assert_eq!(a.rc("start", &[]), 0);
    let away = a.dir.join("away.conf");
    std::fs::rename(a.config(), &away).unwrap();
    for interval in ["0", "10000"] {
        let out = a.ra("monitor", &[("OCF_RESKEY_CRM_meta_interval", interval)]);
        let (_, e) = text(&out);
        assert_eq!(out.status.code(), Some(1), "interval {interval}: {e}");
        assert!(
            e.contains("runs with") && e.contains("but the agent cannot use that config"),
            "{e}"
        );
    }
    // The same when the config is back but the socket is gone (removed by hand).
    std::fs::rename(&away, a.config()).unwrap();
    std::fs::remove_file(a.socket()).unwrap();
    let out = a.ra("monitor", &[]);
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("but its control socket"), "{e}");
    std::fs::rename(a.config(), &away).unwrap();
    assert_eq!(a.rc("stop", &[]), 0);
    assert!(a.daemon_pid().is_none());
    assert_eq!(a.rc("monitor", &[("OCF_RESKEY_CRM_meta_interval", "0")]), 7);
}

/// `config=conntrackd.conf` (relative) passed validate-all in the operator's shell, run from
/// the config's directory, and in the cluster named a file of Pacemaker's working directory:
/// start said "does not exist" (5) of a file that was there. A relative config is now a
/// configuration error (6) for every action that reads it, wherever it is run from; stop
/// still exits 0. And a newline in the value (`config="/etc/c.conf<newline>"`) cut the
/// exit-reason line after the path, leaving no reason in what Pacemaker shows: control
/// characters are escaped, one line.
#[test]
fn relative_config_passed_validate_in_the_config_directory_and_a_newline_cut_the_reason() {
    let tmp = TempDir::new("rc");
    let a = single(&tmp);
    let relative = [("OCF_RESKEY_config", "conntrackd.conf")];
    for action in ["validate-all", "start", "promote", "monitor"] {
        let out = a
            .ra_cmd(action, &relative)
            .current_dir(&a.dir)
            .output()
            .unwrap();
        let (_, e) = text(&out);
        assert_eq!(out.status.code(), Some(6), "{action}: {e}");
        assert_eq!(
            stderr_lines(&out),
            vec!["ocf-exit-reason:conntrackd config conntrackd.conf is not an absolute path"],
            "{action}"
        );
    }
    assert!(a.daemon_pid().is_none());
    let out = a
        .ra_cmd("stop", &relative)
        .current_dir(&a.dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let with_newline = format!("{}\n", a.config().display());
    let out = a.ra("validate-all", &[("OCF_RESKEY_config", &with_newline)]);
    assert_eq!(out.status.code(), Some(5), "{:?}", text(&out));
    assert_eq!(
        stderr_lines(&out),
        vec![format!(
            "ocf-exit-reason:conntrackd config {}\\n does not exist",
            a.config().display()
        )]
    );
    // The absolute path works as before.
    assert_eq!(a.rc("validate-all", &[]), 0);
}

/// `binary=./conntrackd` (or `sbin/conntrackd`) passed validate-all run from the binary's
/// directory, against meta-data's "a name searched in PATH or an absolute path"; in the
/// cluster it names a file of Pacemaker's working directory. Now 6 from any directory,
/// nothing started; a name and an absolute path still work.
#[test]
fn relative_binary_path_passed_validate_in_its_own_directory() {
    let tmp = TempDir::new("rb");
    let a = single(&tmp);
    for (binary, cwd) in [("./conntrackd", "/usr/sbin"), ("sbin/conntrackd", "/usr")] {
        for action in ["validate-all", "start"] {
            let out = a
                .ra_cmd(action, &[("OCF_RESKEY_binary", binary)])
                .current_dir(cwd)
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(6),
                "{binary} {action}: {:?}",
                text(&out)
            );
            assert_eq!(
                stderr_lines(&out),
                vec![format!(
                    "ocf-exit-reason:conntrackd binary '{binary}' is neither a name looked up \
                     in PATH nor an absolute path"
                )]
            );
        }
    }
    assert!(a.daemon_pid().is_none());
    for binary in ["conntrackd", "/usr/sbin/conntrackd"] {
        assert_eq!(a.rc("validate-all", &[("OCF_RESKEY_binary", binary)]), 0);
    }
}

/// Two agents on one node (an operator's `start` beside Pacemaker's, or pikemon's hook beside
/// the cluster) both found conntrackd stopped and went on: the later one said start failed
/// (1) of a resource that was running, with "conntrackd [PID] runs with CONFIG but its socket
/// does not answer" (the other's daemon, still starting) or "see conntrackd's log" (its own
/// daemon refused the other's lock file). Actions on one config now take turns: the second
/// finds the daemon running and says 0, and there is exactly one daemon.
#[test]
fn two_concurrent_starts_on_one_node_failed_one_of_them() {
    let tmp = TempDir::new("ctp-2start");
    let a = single_at(tmp.0.join("a"), "ctp2s");
    for round in 0..4 {
        let spawn = || {
            a.ra_cmd("start", &[])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (first, second) = (spawn(), spawn());
        for child in [first, second] {
            let out = child.wait_with_output().unwrap();
            let (_, e) = text(&out);
            assert_eq!(out.status.code(), Some(0), "round {round}: {e}");
        }
        assert!(a.daemon_pid().is_some(), "round {round}");
        assert_eq!(a.rc("monitor", &[]), 0);
        assert_eq!(a.rc("stop", &[]), 0);
        assert_eq!(a.daemon_pid(), None);
    }
}

/// A conntrackd.conf the agent's checks pass but conntrackd refuses (an unknown keyword, a
/// stray value: a tired operator's typo on one node) made start fail with 1 and conntrackd's
/// log line (date, pid, "line (17)", no file) as the reason. Now 2, this node's problem (6
/// would stop the clone on every node, the promoted one too), with FILE:LINE:COL; nothing is
/// left running or behind, and the fixed file starts.
#[test]
fn config_conntrackd_refuses_failed_start_with_1_and_a_reason_without_file() {
    let tmp = TempDir::new("ctp-syntax");
    let a = single_at(tmp.0.join("a"), "ctpsy");
    let good = std::fs::read_to_string(a.config()).unwrap();
    let bad = good.replace(
        "\tHashLimit 65535\n",
        "\tHashLimit 65535\n\tBogusOption yes\n",
    );
    let line = bad.lines().position(|l| l.contains("BogusOption")).unwrap() + 1;
    std::fs::write(a.config(), &bad).unwrap();
    let out = a.ra("start", &[]);
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    let reason = format!(
        "ocf-exit-reason:{}:{line}:2: error: conntrackd does not accept 'BogusOption' here \
         (syntax error)",
        a.config().display()
    );
    assert!(e.lines().any(|l| l == reason), "{e}");
    assert_eq!(a.daemon_pid(), None);
    assert!(!a.socket().exists() && !a.lock().exists());
    assert_eq!(a.rc("monitor", &[("OCF_RESKEY_CRM_meta_interval", "0")]), 7);
    assert_eq!(a.rc("stop", &[]), 0);
    std::fs::write(a.config(), &good).unwrap();
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(a.rc("monitor", &[]), 0);
    stop_all(&[&a]);
}

/// notify without `CRM_meta_on_node` (run by hand) asks `crm_node -n` for the node name, and
/// waited for it without a bound: with a hung controller the agent hung past its timeout
/// (Pacemaker's crm_node cannot be hung on purpose here without a cluster, so a `crm_node`
/// that sleeps stands in for it). Now the question is bounded (5 s at most), the host name is
/// used instead, and notify exits 0 within its timeout; a crm_node that answers is believed.
#[test]
fn notify_hung_on_crm_node_without_a_bound() {
    let tmp = TempDir::new("ctp-crmnode");
    let a = single_at(tmp.0.join("a"), "ctpcn");
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(a.rc("promote", &[]), 0);
    let bin = tmp.0.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let crm_node = bin.join("crm_node");
    let path = format!("{}:{}", bin.display(), no_pacemaker_path());
    let notify = |timeout: &str| {
        let mut cmd = a.ra_cmd(
            "notify",
            &[
                ("PATH", &path),
                ("OCF_RESKEY_CRM_meta_timeout", timeout),
                ("OCF_RESKEY_CRM_meta_notify_type", "post"),
                ("OCF_RESKEY_CRM_meta_notify_operation", "start"),
                ("OCF_RESKEY_CRM_meta_notify_start_uname", "fw-b"),
                ("OCF_RESKEY_CRM_meta_notify_promoted_uname", "fw-a"),
            ],
        );
        cmd.env_remove("OCF_RESKEY_CRM_meta_on_node")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let t0 = Instant::now();
        let mut child = cmd.spawn().unwrap();
        let limit = Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() && t0.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(50));
        }
        let hung = child.try_wait().unwrap().is_none();
        if hung {
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        (hung, out.status.code(), t0.elapsed(), text(&out).1)
    };
    std::fs::write(&crm_node, "#!/bin/sh\nexec sleep 3600\n").unwrap();
    std::fs::set_permissions(
        &crm_node,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let (hung, rc, took, e) = notify("4000");
    assert!(!hung, "notify still ran after 20 s with a 4 s timeout: {e}");
    assert_eq!(rc, Some(0), "{e}");
    assert!(took < Duration::from_secs(4), "{took:?} {e}");
    // A crm_node that answers names the node: fw-a is promoted, fw-b started: a bulk update.
    let before = a.bulk_updates();
    std::fs::write(&crm_node, "#!/bin/sh\necho fw-a\n").unwrap();
    let (hung, rc, _, e) = notify("20000");
    assert!(!hung && rc == Some(0), "{e}");
    wait_for("the bulk update", Duration::from_secs(5), || {
        a.bulk_updates() > before
    });
    stop_all(&[&a]);
}

/// A promoted node whose conntrackd hangs (SIGSTOP): every action ends within 75 % of its
/// timeout with OCF's answer. promote and monitor 1 (not 8: nothing says the role still
/// holds), demote 1 with the promoted marker gone (the role cannot be kept by a daemon that
/// does not answer; monitor then says 1, not 8), notify 0, stop 0 with the daemon gone, and a
/// promote on the dead daemon's leftovers 1 with the reason, never a promoted marker.
#[test]
fn hung_or_dead_daemon_on_a_promoted_node_every_action_ends_in_time() {
    let tmp = TempDir::new("ctp-hung");
    let a = single_at(tmp.0.join("a"), "ctphu");
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(a.rc("promote", &[]), 0);
    let pid = nix::unistd::Pid::from_raw(a.daemon_pid().expect("conntrackd pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let timeout = ("OCF_RESKEY_CRM_meta_timeout", "4000");
    let notify = [
        timeout,
        ("OCF_RESKEY_CRM_meta_notify_type", "pre"),
        ("OCF_RESKEY_CRM_meta_notify_operation", "promote"),
        ("OCF_RESKEY_CRM_meta_notify_promote_uname", "fw-b"),
    ];
    for (action, extra, want) in [
        ("promote", &[timeout][..], 1),
        ("notify", &notify[..], 0),
        ("monitor", &[timeout][..], 1),
        ("demote", &[timeout][..], 1),
        ("monitor", &[timeout][..], 1),
    ] {
        let t0 = Instant::now();
        let out = a.ra(action, extra);
        let took = t0.elapsed();
        let (_, e) = text(&out);
        assert_eq!(out.status.code(), Some(want), "{action}: {e}");
        assert!(took < Duration::from_millis(3800), "{action} took {took:?}");
        if want == 1 {
            assert!(
                e.contains("ocf-exit-reason:conntrackd is running but does not answer"),
                "{action}: {e}"
            );
        }
    }
    assert!(!a.statefile().exists(), "demote left the promoted marker");
    assert_eq!(a.rc("stop", &[timeout]), 0);
    assert!(a.daemon_pid().is_none());
    // Dead (SIGKILL) with its socket and lock left: promote says why and marks nothing.
    assert_eq!(a.rc("start", &[]), 0);
    let pid = nix::unistd::Pid::from_raw(a.daemon_pid().expect("conntrackd pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_for("the daemon's end", Duration::from_secs(5), || {
        a.daemon_pid().is_none()
    });
    let out = a.ra("promote", &[]);
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("ocf-exit-reason:cannot promote: conntrackd is not running"));
    assert!(!a.statefile().exists());
    assert_eq!(a.rc("monitor", &[]), 7);
    assert_eq!(a.rc("start", &[]), 0);
    assert_eq!(a.rc("promote", &[]), 0);
    stop_all(&[&a]);
}

#[test]
fn a_socket_path_too_long_or_under_a_file_failed_the_probe_and_the_stop() {
    // UNIX { Path } longer than sun_path holds, or under a regular file: connect() said
    // ENAMETOOLONG / ENOTDIR, which the agent took for a daemon that does not answer. The probe
    // of a resource that never ran returned 1, and stop waited its whole timeout and returned
    // 1 ("still runs"): Pacemaker fences the node for a stop that fails.
    let tmp = TempDir::new("sp");
    let a = single(&tmp);
    let good = std::fs::read_to_string(a.config()).unwrap();
    let d = a.dir.display().to_string();
    let long = format!("{d}/{}.ctl", "s".repeat(120));
    let under_file = format!("{d}/conntrackd.conf/ctl");
    let probe = [("OCF_RESKEY_CRM_meta_interval", "0")];
    for path in [&long, &under_file] {
        let broken = good.replace(&format!("{d}/conntrackd.ctl"), path);
        std::fs::write(a.config(), &broken).unwrap();
        // conntrackd itself does not run with either.
        let real =
            a.ns.run(&["conntrackd", "-C", a.config().to_str().unwrap(), "-d"]);
        assert_ne!(real.status.code(), Some(0), "conntrackd ran with {path}");
        assert!(a.daemon_pid().is_none());
        assert_eq!(a.rc("monitor", &probe), 7, "probe with {path}");
        let started = Instant::now();
        assert_eq!(a.rc("stop", &[]), 0, "stop with {path}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "stop with {path}"
        );
        assert_eq!(a.rc("stop", &[]), 0, "second stop with {path}");
    }
    // The long one is refused where it is written, as conntrackd refuses it.
    let broken = good.replace(&format!("{d}/conntrackd.ctl"), &long);
    std::fs::write(a.config(), &broken).unwrap();
    let out = a.ra("validate-all", &[]);
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains(":21:8: error: Path is longer than 107 characters"),
        "{e}"
    );
    // A recurring monitor says "not running", with the reason.
    std::fs::write(
        a.config(),
        good.replace(&format!("{d}/conntrackd.ctl"), &under_file),
    )
    .unwrap();
    let out = a.ra("monitor", &[]);
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(7), "{e}");
    assert!(e.contains("conntrackd is not running"), "{e}");
}

#[test]
fn stop_deleted_the_config_named_as_lock_file_and_a_plain_file_at_the_socket_path() {
    // A tired operator's conntrackd.conf: LockFile names the config itself, UNIX Path a file
    // that is not a socket. stop of the never-started resource took both for a crashed
    // daemon's leftovers and deleted them: the config was gone.
    let tmp = TempDir::new("rm");
    let a = single(&tmp);
    let d = a.dir.display().to_string();
    let victim = a.dir.join("notes.txt");
    std::fs::write(&victim, "operator notes\n").unwrap();
    let text = std::fs::read_to_string(a.config())
        .unwrap()
        .replace(
            &format!("LockFile {d}/conntrackd.lock"),
            &format!("LockFile {}", a.config().display()),
        )
        .replace(&format!("{d}/conntrackd.ctl"), victim.to_str().unwrap());
    std::fs::write(a.config(), &text).unwrap();
    assert_eq!(a.rc("stop", &[]), 0);
    assert_eq!(std::fs::read_to_string(a.config()).unwrap(), text);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "operator notes\n"
    );
    // start cannot run conntrackd over that lock file (conntrackd refuses it), and still
    // deletes nothing.
    assert_ne!(a.rc("start", &[]), 0);
    assert!(a.daemon_pid().is_none());
    assert_eq!(std::fs::read_to_string(a.config()).unwrap(), text);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "operator notes\n"
    );
    assert_eq!(a.rc("stop", &[]), 0);
    assert_eq!(std::fs::read_to_string(a.config()).unwrap(), text);
}

/// A `binary` naming a directory (a typo: `/usr/sbin/` for `/usr/sbin/conntrackd`) was
/// reported as "not found", and so was a file without an execute bit: the operator looked for
/// a missing file that was there. Now each says what it is; the code stays 5 (not installed,
/// as for a missing binary: this node cannot run it), for validate-all and start alike.
#[test]
fn binary_naming_a_directory_was_reported_as_not_found() {
    let tmp = TempDir::new("ctp-bindir");
    let a = single_at(tmp.0.join("a"), "ctpbd");
    let dir = tmp.0.join("sbin");
    std::fs::create_dir_all(&dir).unwrap();
    let plain = tmp.0.join("conntrackd-copy");
    std::fs::write(&plain, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&plain, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let missing = tmp.0.join("no-such-conntrackd");
    for (binary, what) in [
        (&dir, "is a directory, not an executable file"),
        (&plain, "is not executable (no execute permission)"),
        (&missing, "not found"),
    ] {
        let binary = binary.to_str().unwrap();
        for action in ["validate-all", "start"] {
            let out = a.ra(action, &[("OCF_RESKEY_binary", binary)]);
            assert_eq!(
                out.status.code(),
                Some(5),
                "{binary} {action}: {:?}",
                text(&out)
            );
            assert_eq!(
                stderr_lines(&out),
                vec![format!(
                    "ocf-exit-reason:conntrackd binary '{binary}' {what}"
                )],
                "{action}"
            );
        }
    }
    assert!(a.daemon_pid().is_none());
}

/// Processes a test recorded by pid, SIGKILLed on drop if still alive and still running
/// `comm` (a pid the kernel gave to something else is left alone).
struct Recorded(Vec<(i32, &'static str)>);

impl Drop for Recorded {
    fn drop(&mut self) {
        for &(pid, comm) in &self.0 {
            let now = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if now.trim() == comm && proc_alive(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// `/proc/PID/stat` fields after the command name: state, ppid, pgrp, ...
fn proc_stat(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Exists and has not exited (a zombie has).
fn proc_alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|f| f.first().is_some_and(|s| s != "Z" && s != "X"))
}

/// Every process in /proc (zombies too) whose process group or parent is `pid`.
fn group_or_children_of(pid: i32) -> Vec<(i32, Vec<String>)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|p| Some((p, proc_stat(p)?)))
        .filter(|(_, f)| {
            f.get(1).map(String::as_str) == Some(&pid.to_string())
                || f.get(2).map(String::as_str) == Some(&pid.to_string())
        })
        .collect()
}

/// An operator's wrapper script as `binary` that hangs (it runs conntrackd in the foreground,
/// dropping `-d`, and waits for it) after starting a background job: at start's deadline only
/// the script itself was killed; its conntrackd and its `sleep` ran on, orphaned, after the
/// action had failed, and the conntrackd held the socket the next start needed. Now the
/// binary runs in its own process group, and at the deadline the whole group gets SIGTERM,
/// then SIGKILL after a short grace, and is reaped: start fails (1) within the timeout saying
/// so, and no process of the group is left, not even a zombie; the next stop and monitor see
/// nothing running.
#[test]
fn a_hung_wrapper_script_left_its_children_running_after_start_timed_out() {
    let tmp = TempDir::new("ctp-wrap");
    let a = single_at(tmp.0.join("a"), "ctpwr");
    let d = tmp.0.display();
    let wrapper = tmp.0.join("conntrackd-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n\
             echo $$ > {d}/wrapper.pid\n\
             sleep 987 &\n\
             echo $! > {d}/sleep.pid\n\
             /usr/sbin/conntrackd -C \"$2\" &\n\
             echo $! > {d}/conntrackd.pid\n\
             wait\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let t0 = Instant::now();
    let out = a.ra(
        "start",
        &[
            ("OCF_RESKEY_binary", wrapper.to_str().unwrap()),
            ("OCF_RESKEY_CRM_meta_timeout", "3000"),
        ],
    );
    let took = t0.elapsed();
    let pid = |name: &str| -> i32 {
        std::fs::read_to_string(tmp.0.join(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (script, sleep, daemon) = (pid("wrapper.pid"), pid("sleep.pid"), pid("conntrackd.pid"));
    let _cleanup = Recorded(vec![
        (script, "conntrackd-wrap"),
        (sleep, "sleep"),
        (daemon, "conntrackd"),
    ]);
    let (o, e) = text(&out);
    eprintln!("start -> {:?} in {took:?}\n{o}{e}", out.status.code());
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_secs(3), "{took:?}");
    for (p, what) in [(script, "script"), (sleep, "sleep"), (daemon, "conntrackd")] {
        assert!(!proc_alive(p), "the wrapper's {what} {p} still runs");
    }
    // The script led its own group: nothing in it or under it is left, zombies included (the
    // agent reaped them; nobody else would here).
    assert_eq!(
        group_or_children_of(script),
        vec![],
        "left of group {script}"
    );
    assert!(a.daemon_pid().is_none_or(|p| !proc_alive(p)));
    let reason = e
        .lines()
        .find(|l| l.starts_with("ocf-exit-reason:"))
        .unwrap_or_default();
    assert!(
        reason.contains("did not finish in time")
            && reason.contains("process group")
            && reason.contains("SIGTERM"),
        "{reason}"
    );
    assert_eq!(a.rc("monitor", &[("OCF_RESKEY_CRM_meta_interval", "0")]), 7);
    assert_eq!(a.rc("stop", &[]), 0);
}

/// `-n NAME` names the instance (the default statefile `HA_RSCTMP/conntrack-ra-NAME.promoted`
/// holds it) over `OCF_RESOURCE_INSTANCE`, and `-b PROG` is the program run for conntrackd,
/// both given after the action as a hook may write them.
#[test]
fn name_and_binary_options_choose_the_statefile_and_the_program_run() {
    let tmp = TempDir::new("nb");
    let a = single(&tmp);
    let calls = a.dir.join("calls");
    let wrapper = a.dir.join("conntrackd-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\nexec conntrackd \"$@\"\n",
            calls.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let w = wrapper.to_str().unwrap();
    let run = |action: &str, opts: &[&str]| {
        let out = a.ra_cmd(action, &[]).args(opts).output().unwrap();
        let (o, e) = text(&out);
        eprintln!("{action} {opts:?} -> {:?}\n{o}{e}", out.status.code());
        out.status.code()
    };
    let web = a.dir.join("rsc").join("conntrack-ra-web.promoted");
    assert_eq!(run("start", &["-n", "web", "-b", w]), Some(0));
    assert!(
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .contains("-d"),
        "the daemon was not started through -b"
    );
    assert_eq!(run("promote", &["--name=web", "--binary", w]), Some(0));
    assert_eq!(
        std::fs::read_to_string(&web)
            .ok()
            .map(|s| s.contains("\nweb\n")),
        Some(true),
        "{}",
        web.display()
    );
    assert!(!a.statefile().exists(), "the instance's own name was used");
    assert_eq!(run("monitor", &["-n", "web", "-b", w]), Some(8));
    // Under OCF_RESOURCE_INSTANCE (ct) the same daemon runs, not promoted.
    assert_eq!(run("monitor", &["-b", w]), Some(0));
    assert_eq!(run("demote", &["-n", "web", "-b", w]), Some(0));
    assert!(!web.exists());
    assert_eq!(run("stop", &["-n", "web", "-b", w]), Some(0));
    assert_eq!(a.daemon_pid(), None);
}

/// README: "tested for a monitor ... of a FIFO in place of the socket, answered within the
/// timeout". A FIFO where conntrackd's control socket belongs (a mistaken `mkfifo`, a restore
/// from a backup) must not hang a monitor until Pacemaker kills it: a recurring monitor says
/// stopped (7) with the reason, a probe 7 quietly, and stop exits 0 at once, leaving the FIFO
/// alone (only what a crashed conntrackd leaves is removed).
#[test]
fn a_fifo_at_the_control_socket_path_hung_monitor_and_stop() {
    let tmp = TempDir::new("fs");
    let a = single(&tmp);
    nix::unistd::mkfifo(&a.socket(), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    for (action, interval, want) in [
        ("monitor", "10000", 7),
        ("monitor", "0", 7),
        ("stop", "10000", 0),
    ] {
        let env = [
            ("OCF_RESKEY_CRM_meta_timeout", "2000"),
            ("OCF_RESKEY_CRM_meta_interval", interval),
        ];
        let out = output_within(
            a.ra_cmd(action, &env),
            Duration::from_millis(1500),
            &format!("{action} (interval {interval})"),
        );
        let (o, e) = text(&out);
        assert_eq!(out.status.code(), Some(want), "{action} {interval}: {e}");
        assert_eq!(o, "", "{action}");
        match (action, interval) {
            ("monitor", "10000") => assert!(
                e.starts_with("ocf-exit-reason:conntrackd is not running")
                    && e.contains(&a.socket().display().to_string())
                    && e.lines().count() == 1,
                "{e}"
            ),
            ("monitor", _) => assert_eq!(e, "", "a probe is quiet"),
            _ => assert!(e.contains("left alone"), "{e}"),
        }
    }
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::symlink_metadata(a.socket()).unwrap().file_type();
    assert!(kind.is_fifo(), "stop removed or replaced the FIFO");
}

/// README: `config` has the alias `conntrackdconf` (resource-agents' conntrackd agent's
/// name). A resource moved over from `ocf:heartbeat:conntrackd` with only `conntrackdconf` set
/// must run the operator's config, not fall back to /etc/conntrackd/conntrackd.conf; `config`
/// wins where both are given.
#[test]
fn conntrackdconf_of_the_heartbeat_agent_was_not_read_as_config() {
    let tmp = TempDir::new("al");
    let a = single(&tmp);
    let alias = |action: &str, extra: &[(&str, &str)]| {
        let mut cmd = a.ra_cmd(action, &[]);
        cmd.env_remove("OCF_RESKEY_config")
            .env("OCF_RESKEY_conntrackdconf", a.config())
            .envs(extra.iter().copied());
        let out = cmd.output().unwrap();
        (out.status.code(), text(&out).1)
    };
    assert_eq!(alias("validate-all", &[]), (Some(0), String::new()));
    assert_eq!(alias("start", &[]).0, Some(0));
    assert!(
        a.daemon_pid().is_some(),
        "no conntrackd with the alias's config"
    );
    assert_eq!(alias("monitor", &[]), (Some(0), String::new()));
    // Both given: config is read, the alias ignored.
    let missing = a.dir.join("not-here.conf");
    let (rc, e) = alias(
        "validate-all",
        &[("OCF_RESKEY_config", missing.to_str().unwrap())],
    );
    assert_eq!(rc, Some(5), "{e}");
    assert!(e.contains(&missing.display().to_string()), "{e}");
    assert_eq!(alias("stop", &[]).0, Some(0));
    assert!(
        a.daemon_pid().is_none(),
        "stop under the alias left conntrackd running"
    );
}

/// README: "A successful monitor prints nothing (warnings only; HA_debug for everything)". An
/// admin who sets `HA_debug=1` to see what the agent does must get its lines from a monitor
/// that succeeds; `HA_debug=0` stays quiet.
#[test]
fn ha_debug_left_a_successful_monitor_silent() {
    let tmp = TempDir::new("dbg");
    let a = single(&tmp);
    assert_eq!(a.rc("start", &[]), 0);
    let monitor = |extra: &[(&str, &str)]| {
        let mut cmd = a.ra_cmd("monitor", extra);
        for name in ["HA_debug", "HA_DEBUG", "PCMK_debug"] {
            if !extra.iter().any(|(k, _)| *k == name) {
                cmd.env_remove(name);
            }
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", text(&out).1);
        stderr_lines(&out)
    };
    assert!(monitor(&[]).is_empty());
    assert!(monitor(&[("HA_debug", "0")]).is_empty());
    for debug in [("HA_debug", "1"), ("HA_DEBUG", "true")] {
        let lines = monitor(&[debug]);
        assert!(!lines.is_empty(), "{debug:?}: HA_debug printed nothing");
        let socket = a.socket().display().to_string();
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&socket) && l.contains("running, unpromoted")),
            "{debug:?}: {lines:?}"
        );
        assert!(
            lines.iter().all(|l| !l.starts_with("ocf-exit-reason:")),
            "{debug:?}: {lines:?}"
        );
    }
    assert_eq!(a.rc("stop", &[]), 0);
}

/// Runs `cmd` with its output captured; a run still going after `limit` is killed and the
/// test fails naming `what`.
fn output_within(
    mut cmd: std::process::Command,
    limit: Duration,
    what: &str,
) -> std::process::Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}
