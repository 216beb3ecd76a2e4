//! ifcheckd on this host: the pikemon source, pid file and already-running detection, daemon
//! mode, SIGTERM cleanup, attrd_updater calls and `-s`; and the Corosync source with two real
//! corosync 3 instances (knet) over veth pairs in namespaces.
//!
//! Most pikemon-source tests write pikemon's heart-beat path file themselves, in pikemon's
//! format and the way pikemon writes it (temp file + rename), to control exactly what ifcheckd
//! reads (a stale file, a faulty path); `two_pikemon_nodes_...` runs the real pikemon pair.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{applet, text, unique, veth, Netns};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = PathBuf::from("/tmp").join(unique(&format!("habox-ifc-{tag}")));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running ifcheckd, killed on drop if the test did not stop it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Makes the stand-in tool at `path` executable (0755).
fn executable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes the path file as pikemon does: a temporary file renamed over the old one.
fn write_paths(path: &Path, hb0: &str, hb1: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(
        &tmp,
        format!(
            "# pikemon heart-beat paths\nnode 1\n\
             path hb0 ring 0 local 198.51.100.1 peer 2 state {hb0} age-ms 120\n\
             path hb1 ring 1 local - peer 2 state {hb1} age-ms 300\n"
        ),
    )
    .unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn attrs(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap_or_default()
}

/// A PATH holding only `tools` (linked from the system): Pacemaker tools installed on the
/// host (attrd_updater, crm_node) must not change what these tests see.
fn isolated_path(dir: &TempDir, tools: &[&str]) -> String {
    let bin = dir.path("sys-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for t in tools {
        let real = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(t))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{t} is not installed"));
        let _ = std::os::unix::fs::symlink(real, bin.join(t));
    }
    bin.display().to_string()
}

fn ifcheckd(dir: &TempDir, extra: &[&str]) -> Command {
    let mut c = Command::new(applet("ifcheckd"));
    c.env("PATH", isolated_path(dir, &[]))
        .arg("-p")
        .arg(dir.path("ifcheckd.pid"))
        .arg("-a")
        .arg(dir.path("attributes"))
        .args(extra);
    c
}

fn sigterm(pid: u32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

#[test]
fn pikemon_rings_are_published_and_follow_the_path_file() {
    let dir = TempDir::new("p");
    let paths = dir.path("paths");
    let state = dir.path("attributes");
    write_paths(&paths, "UP", "FAULTY");
    let mut d = Running(
        ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for("both rings", Duration::from_secs(5), || {
        let a = attrs(&state);
        a.contains("ringnumber_0 198.51.100.1 is UP") && a.contains("ringnumber_1 hb1 is FAULTY")
    });
    // -s shows them in crm_mon -A1's layout.
    let out = ifcheckd(&dir, &["-s"]).output().unwrap();
    let (shown, _) = text(&out);
    assert!(shown.starts_with("Node Attributes:\n  * Node: "), "{shown}");
    assert!(
        shown.contains("    * ringnumber_0                    \t: 198.51.100.1 is UP\n"),
        "{shown}"
    );
    // pikemon sees hb1 come back: rewritten file, attribute follows. Keep it fresh meanwhile.
    let start = Instant::now();
    while !attrs(&state).contains("ringnumber_1 hb1 is UP") {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{}",
            attrs(&state)
        );
        write_paths(&paths, "UP", "UP");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(attrs(&state).contains("ringnumber_0 198.51.100.1 is UP"));
    // pikemon stops writing: after a few seconds every ring is FAULTY.
    wait_for("stale file → FAULTY", Duration::from_secs(8), || {
        let a = attrs(&state);
        a.contains("ringnumber_0 198.51.100.1 is FAULTY")
            && a.contains("ringnumber_1 hb1 is FAULTY")
    });
    // pikemon is back: monitoring resumes.
    let start = Instant::now();
    while !attrs(&state).contains("ringnumber_0 198.51.100.1 is UP") {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{}",
            attrs(&state)
        );
        write_paths(&paths, "UP", "UP");
        std::thread::sleep(Duration::from_millis(300));
    }
    // SIGTERM: attributes deleted, pid file removed, exit 0, the original's messages.
    sigterm(d.0.id());
    let status = d.0.wait().unwrap();
    assert!(status.success());
    assert!(!state.exists());
    assert!(!dir.path("ifcheckd.pid").exists());
    let mut log = String::new();
    use std::io::Read;
    d.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    for line in [
        "Starting ifcheckd",
        "Start to monitor interface",
        "Interface link status changed [ring id=1, state=UP]",
        "Interface link status changed [ring id=0, state=FAULTY]",
        "Stop monitoring interface. pikemon's heart-beat path file is stale or gone",
        "Start to monitor interface after pikemon restarted",
        "Exiting ifcheckd",
    ] {
        assert!(log.contains(line), "missing '{line}' in:\n{log}");
    }
}

#[test]
fn a_second_instance_says_already_running() {
    let dir = TempDir::new("r");
    let paths = dir.path("paths");
    write_paths(&paths, "UP", "UP");
    let d = Running(
        ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid_file = dir.path("ifcheckd.pid");
    wait_for("the pid file", Duration::from_secs(5), || {
        std::fs::read_to_string(&pid_file)
            .map(|s| s.trim() == d.0.id().to_string())
            .unwrap_or(false)
    });
    let out = ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let (_, err) = text(&out);
    assert!(
        err.contains(&format!(
            "ifcheckd: already running [pid {} in {}]",
            d.0.id(),
            pid_file.display()
        )),
        "{err}"
    );
    // The running one is untouched.
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        d.0.id().to_string()
    );
}

#[test]
fn daemon_mode_detaches_writes_its_pid_and_cleans_up_on_sigterm() {
    let dir = TempDir::new("d");
    let paths = dir.path("paths");
    let state = dir.path("attributes");
    let pid_file = dir.path("ifcheckd.pid");
    write_paths(&paths, "UP", "UP");
    let out = ifcheckd(&dir, &["-P", paths.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    wait_for("the attributes", Duration::from_secs(5), || {
        attrs(&state).contains("ringnumber_1 hb1 is UP")
    });
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(comm.contains("ifcheckd"), "{comm}");
    // Detached: its own session, not our child.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    assert_ne!(
        fields[1],
        std::process::id().to_string(),
        "parent is the test"
    );
    let own = std::fs::read_to_string("/proc/self/stat").unwrap();
    let own_session = own
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(3)
        .unwrap()
        .to_string();
    assert_ne!(
        fields[3], own_session,
        "still in the test's session: {stat}"
    );
    sigterm(pid);
    wait_for("the daemon to exit", Duration::from_secs(5), || {
        !Path::new(&format!("/proc/{pid}")).exists()
    });
    assert!(!pid_file.exists());
    assert!(!state.exists());
}

#[test]
fn attrd_updater_gets_each_change_and_deletes_on_exit() {
    // Mock: Pacemaker's attrd needs a whole running cluster stack (corosync + pacemakerd), which
    // these host tests do not run. This attrd_updater records its arguments and answers -Q
    // for a peer the way Pacemaker 2.1's does.
    let dir = TempDir::new("a");
    let bin = dir.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = dir.path("calls");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> {}\n\
         case \"$*\" in *-Q*) echo \"name=\\\"$4\\\" host=\\\"fw-b\\\" value=\\\"198.51.100.2 is UP\\\"\";; esac\n",
        calls.display()
    );
    std::fs::write(bin.join("attrd_updater"), script).unwrap();
    executable(&bin.join("attrd_updater"));
    let path_var = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let paths = dir.path("paths");
    write_paths(&paths, "UP", "FAULTY");
    let mut d = Running(
        ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()])
            .env("PATH", &path_var)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("two updates", Duration::from_secs(5), || {
        let c = std::fs::read_to_string(&calls).unwrap_or_default();
        c.contains("-n ringnumber_0 -U 198.51.100.1 is UP")
            && c.contains("-n ringnumber_1 -U hb1 is FAULTY")
    });
    let out = ifcheckd(&dir, &["-s"])
        .env("PATH", &path_var)
        .output()
        .unwrap();
    let (shown, _) = text(&out);
    assert!(
        shown.contains("  * Node: fw-b:\n    * ringnumber_0"),
        "{shown}"
    );
    assert!(shown.contains(": 198.51.100.2 is UP"), "{shown}");
    sigterm(d.0.id());
    assert!(d.0.wait().unwrap().success());
    let c = std::fs::read_to_string(&calls).unwrap();
    assert!(
        c.contains("-n ringnumber_0 -D") && c.contains("-n ringnumber_1 -D"),
        "{c}"
    );
}

/// A corosync 3 node in its own namespace; a private /run keeps its pid file off the host.
fn corosync(ns: &Netns, dir: &Path) -> Child {
    let conf = dir.join("corosync.conf");
    std::fs::create_dir_all(dir.join("run")).unwrap();
    std::fs::write(
        &conf,
        format!(
            "totem {{\n version: 2\n cluster_name: habox\n transport: knet\n\
             crypto_cipher: none\n crypto_hash: none\n token: 1000\n}}\n\
             nodelist {{\n\
              node {{\n  ring0_addr: 198.51.100.1\n  ring1_addr: 203.0.113.1\n  nodeid: 1\n  name: fw-a\n }}\n\
              node {{\n  ring0_addr: 198.51.100.2\n  ring1_addr: 203.0.113.2\n  nodeid: 2\n  name: fw-b\n }}\n\
             }}\n\
             quorum {{\n provider: corosync_votequorum\n two_node: 1\n}}\n\
             logging {{\n to_stderr: no\n to_syslog: no\n to_logfile: yes\n logfile: {d}/corosync.log\n}}\n\
             system {{\n run_dir: {d}/run\n}}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    ns.cmd("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs tmpfs /run && exec corosync -f -c {}",
            conf.display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn corosync_knet_links_become_ring_attributes() {
    if Command::new("corosync").arg("-v").output().is_err() {
        panic!("corosync is not installed (apt-get install corosync)");
    }
    let dir = TempDir::new("c");
    let a = Netns::new("cca");
    let b = Netns::new("ccb");
    veth(&a, "ring0", &b, "ring0");
    veth(&a, "ring1", &b, "ring1");
    a.ip(&["addr", "add", "198.51.100.1/24", "dev", "ring0"]);
    b.ip(&["addr", "add", "198.51.100.2/24", "dev", "ring0"]);
    a.ip(&["addr", "add", "203.0.113.1/24", "dev", "ring1"]);
    b.ip(&["addr", "add", "203.0.113.2/24", "dev", "ring1"]);
    let _ca = Running(corosync(&a, &dir.path("a")));
    let _cb = Running(corosync(&b, &dir.path("b")));
    let state = dir.path("attributes");
    let _d = Running(
        a.cmd(applet("ifcheckd"))
            .env("PATH", isolated_path(&dir, &["ip", "corosync-cmapctl"]))
            .arg("-f")
            .arg("-c")
            .arg("-p")
            .arg(dir.path("ifcheckd.pid"))
            .arg("-a")
            .arg(&state)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("both rings UP", Duration::from_secs(20), || {
        let s = attrs(&state);
        s.contains("ringnumber_0 198.51.100.1 is UP")
            && s.contains("ringnumber_1 203.0.113.1 is UP")
    });
    // Cut ring 1 with a firewall (the carrier stays up, so only knet can tell): knet marks
    // the link down, the attribute follows; ring 0 stays UP.
    let nft = |args: &str| {
        let out = b.run(&["nft", args]);
        assert!(out.status.success(), "nft {args}: {out:?}");
    };
    nft("add table inet cut");
    nft("add chain inet cut in { type filter hook input priority 0; }");
    nft("add chain inet cut out { type filter hook output priority 0; }");
    nft("add rule inet cut in iifname ring1 drop");
    nft("add rule inet cut out oifname ring1 drop");
    wait_for("ring 1 FAULTY", Duration::from_secs(15), || {
        attrs(&state).contains("ringnumber_1 203.0.113.1 is FAULTY")
    });
    assert!(attrs(&state).contains("ringnumber_0 198.51.100.1 is UP"));
    nft("delete table inet cut");
    wait_for("ring 1 UP again", Duration::from_secs(20), || {
        attrs(&state).contains("ringnumber_1 203.0.113.1 is UP")
    });
    // corosync stops: the attributes are withdrawn (the original's cmap-destroyed behaviour).
    for pid in text(
        &Command::new("ip")
            .args(["netns", "pids", &a.name])
            .output()
            .unwrap(),
    )
    .0
    .split_whitespace()
    {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "corosync" {
            let _ = Command::new("kill").arg(pid).status();
        }
    }
    wait_for("attributes withdrawn", Duration::from_secs(15), || {
        let s = attrs(&state);
        s.contains("\nnode ") && !s.contains("\nringnumber_")
    });
}

/// Waits for `cond` while keeping the path file fresh (as a live pikemon would).
fn wait_fresh(paths: &Path, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        write_paths(paths, "UP", "UP");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn lost_carrier_makes_the_ring_faulty_before_pikemon_notices() {
    let dir = TempDir::new("l");
    let a = Netns::new("ifa");
    let b = Netns::new("ifb");
    veth(&a, "hb0", &b, "hb0");
    veth(&a, "hb1", &b, "hb1");
    let paths = dir.path("paths");
    let state = dir.path("attributes");
    write_paths(&paths, "UP", "UP");
    let _d = Running(
        a.cmd(applet("ifcheckd"))
            .env("PATH", isolated_path(&dir, &["ip"]))
            .arg("-f")
            .arg("-P")
            .arg(&paths)
            .arg("-p")
            .arg(dir.path("ifcheckd.pid"))
            .arg("-a")
            .arg(&state)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_fresh(&paths, "both rings UP", || {
        let s = attrs(&state);
        s.contains("ringnumber_0 198.51.100.1 is UP") && s.contains("ringnumber_1 hb1 is UP")
    });
    // The peer's end goes down: hb0 loses its carrier. pikemon still says UP (its
    // dead-interval has not passed); ifcheckd reports the ring FAULTY from rtnetlink at once.
    b.ip(&["link", "set", "hb0", "down"]);
    wait_fresh(&paths, "ring 0 FAULTY from carrier", || {
        attrs(&state).contains("ringnumber_0 198.51.100.1 is FAULTY")
    });
    assert!(attrs(&state).contains("ringnumber_1 hb1 is UP"));
    b.ip(&["link", "set", "hb0", "up"]);
    wait_fresh(&paths, "ring 0 UP with carrier back", || {
        attrs(&state).contains("ringnumber_0 198.51.100.1 is UP")
    });
}

#[test]
fn changes_attrd_refused_are_retried_until_it_takes_them() {
    // Mock as above (no cluster stack here): this attrd_updater fails while `down` exists, as
    // the real one does before Pacemaker runs.
    let dir = TempDir::new("t");
    let bin = dir.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = dir.path("calls");
    let down = dir.path("down");
    std::fs::write(&down, "").unwrap();
    let script = format!(
        "#!/bin/sh\n[ -e {} ] && exit 1\necho \"$*\" >> {}\n",
        down.display(),
        calls.display()
    );
    std::fs::write(bin.join("attrd_updater"), script).unwrap();
    executable(&bin.join("attrd_updater"));
    let paths = dir.path("paths");
    write_paths(&paths, "UP", "FAULTY");
    let mut d = Running(
        ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()])
            .env("PATH", &bin)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The state file has them at once; attrd does not.
    wait_for("the state file", Duration::from_secs(5), || {
        attrs(&dir.path("attributes")).contains("ringnumber_1 hb1 is FAULTY")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!calls.exists());
    // attrd comes up: both changes arrive.
    std::fs::remove_file(&down).unwrap();
    wait_for("the retried updates", Duration::from_secs(5), || {
        let c = std::fs::read_to_string(&calls).unwrap_or_default();
        c.contains("-n ringnumber_0 -U 198.51.100.1 is UP")
            && c.contains("-n ringnumber_1 -U hb1 is FAULTY")
    });
    sigterm(d.0.id());
    assert!(d.0.wait().unwrap().success());
    let mut log = String::new();
    use std::io::Read;
    d.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(
        log.contains("Failed to change link status [ring id=0, expected state=UP]"),
        "{log}"
    );
    assert!(
        log.contains("Interface link status changed [ring id=0, state=UP]"),
        "{log}"
    );
}

#[test]
fn a_hung_attrd_updater_does_not_hold_back_the_loop() {
    // Regression: each attrd_updater call was waited for (a 5 ms sleep-poll for up to 5 s), so
    // a hung attrd held back every later change, the state file's too. Mock as above: this
    // attrd_updater hangs while `slow` exists.
    let dir = TempDir::new("h");
    let bin = dir.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = dir.path("calls");
    let slow = dir.path("slow");
    let script = format!(
        "#!/bin/sh\n[ -e {} ] && exec /bin/sleep 30\necho \"$*\" >> {}\n",
        slow.display(),
        calls.display()
    );
    std::fs::write(bin.join("attrd_updater"), script).unwrap();
    executable(&bin.join("attrd_updater"));
    let paths = dir.path("paths");
    let state = dir.path("attributes");
    write_paths(&paths, "UP", "FAULTY");
    let _d = Running(
        ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()])
            .env("PATH", &bin)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let called = |what: &str| {
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .contains(what)
    };
    wait_for("the first updates", Duration::from_secs(5), || {
        called("-n ringnumber_1 -U hb1 is FAULTY")
    });
    // attrd hangs on ring 1's next change.
    std::fs::write(&slow, "").unwrap();
    wait_fresh(&paths, "ring 1 UP in the state file", || {
        attrs(&state).contains("ringnumber_1 hb1 is UP")
    });
    // While that call hangs, ring 0 changes: the state file has it at once.
    let t = Instant::now();
    let mut seen = None;
    while t.elapsed() < Duration::from_secs(4) {
        write_paths(&paths, "FAULTY", "UP");
        if attrs(&state).contains("ringnumber_0 198.51.100.1 is FAULTY") {
            seen = Some(t.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = seen.expect("ring 0 FAULTY in the state file");
    assert!(seen < Duration::from_secs(1), "took {seen:?}");
    // attrd recovers: the hung call is killed at its bound, both changes are taken.
    std::fs::remove_file(&slow).unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while !(called("-n ringnumber_1 -U hb1 is UP")
        && called("-n ringnumber_0 -U 198.51.100.1 is FAULTY"))
    {
        assert!(
            Instant::now() < end,
            "{}",
            std::fs::read_to_string(&calls).unwrap_or_default()
        );
        write_paths(&paths, "FAULTY", "UP");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The voluntary context switches of process `pid` so far: one per wake-up of its loop.
fn wake_ups(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// An attrd_updater call whose stderr had closed while the process lived on (not reaped
/// yet) was looked at again every 5 ms until its 5 s bound: 200 wake-ups a second. It is
/// reaped on SIGCHLD now (or killed at the bound), and the loop sleeps meanwhile. Mock as
/// above: this attrd_updater closes its stderr, then lives on for four seconds.
#[test]
fn attrd_updater_that_closed_its_stderr_woke_the_loop_every_5ms_until_reaped() {
    let dir = TempDir::new("w");
    let bin = dir.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = dir.path("calls");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> {}\nexec 2>&-\nexec /bin/sleep 4\n",
        calls.display()
    );
    std::fs::write(bin.join("attrd_updater"), script).unwrap();
    executable(&bin.join("attrd_updater"));
    let paths = dir.path("paths");
    write_paths(&paths, "UP", "FAULTY");
    let d = Running(
        ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()])
            .env("PATH", &bin)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the first call", Duration::from_secs(5), || calls.exists());
    std::thread::sleep(Duration::from_millis(200));
    let before = wake_ups(d.0.id());
    std::thread::sleep(Duration::from_secs(2));
    let woke = wake_ups(d.0.id()) - before;
    // The path file is looked at every 200 ms: about 10 in two seconds.
    assert!(woke < 60, "the loop woke {woke} times in two seconds");
    // The call ends (the child exits): the next change goes out.
    wait_for("the second call", Duration::from_secs(8), || {
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .lines()
            .count()
            >= 2
    });
}

/// A corosync-cmapctl that closed its output but did not exit (yet) held the whole loop:
/// after the end of its output the poll waited for the process, blocking. SIGTERM (and every
/// carrier change) waited with it. Mock: this corosync-cmapctl closes its stdout, then lives
/// on for twenty seconds.
#[test]
fn corosync_cmapctl_that_closed_its_output_blocked_the_loop_until_it_exited() {
    let dir = TempDir::new("c");
    let bin = dir.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = dir.path("calls");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> {}\nexec >&-\nexec /bin/sleep 20\n",
        calls.display()
    );
    std::fs::write(bin.join("corosync-cmapctl"), script).unwrap();
    executable(&bin.join("corosync-cmapctl"));
    let mut d = Running(
        ifcheckd(&dir, &["-f", "-c"])
            .env("PATH", &bin)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the first poll", Duration::from_secs(5), || calls.exists());
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    sigterm(d.0.id());
    wait_for("the exit after SIGTERM", Duration::from_secs(10), || {
        matches!(d.0.try_wait(), Ok(Some(_)))
    });
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "SIGTERM took {:?}",
        t.elapsed()
    );
}

/// pikemon's config for the two-node ring test: two heart-beat paths, one virtual cluster on
/// a LAN veth, hello every 100 ms (dead-interval 300 ms).
fn pikemon_config(dir: &Path, node: u32) -> String {
    format!(
        r#"version PIKEMON-1;
pikemon {{
    node-id {node};
    status-file "{d}/status{node}"; pid-file "{d}/pikemon{node}.pid";
    control-socket "{d}/ctl{node}"; paths-file "{d}/paths{node}";
    hmac key "0123456789abcdef0123";
    heart-beat {{ interface hb0; interface hb1; }}
    hello-interval 100ms;
    virtual-cluster LAN {{
        id 1; primary node 1;
        interface lan0 {{ ipv4 [198.51.100.10]/24; }}
    }}
}}
"#,
        d = dir.display()
    )
}

/// Drops (or lets through again) every frame arriving on `ifname` in `ns`: the link keeps its
/// carrier, only pikemon's HELLOs stop.
fn cut_ingress(ns: &Netns, ifname: &str, cut: bool) {
    let cmds: Vec<String> = if cut {
        vec![
            "add table netdev cut".into(),
            format!("add chain netdev cut in {{ type filter hook ingress device {ifname} priority 0; }}"),
            "add rule netdev cut in drop".into(),
        ]
    } else {
        vec!["delete table netdev cut".into()]
    };
    for c in cmds {
        let out = ns.run(&["nft", &c]);
        assert!(out.status.success(), "nft {c}: {out:?}");
    }
}

#[test]
fn two_pikemon_nodes_cut_heart_beat_path_is_faulty_on_both_sides() {
    let dir = TempDir::new("k");
    let a = Netns::new("ka");
    let b = Netns::new("kb");
    veth(&a, "lan0", &b, "lan0");
    veth(&a, "hb0", &b, "hb0");
    veth(&a, "hb1", &b, "hb1");
    a.ip(&["addr", "add", "198.51.100.2/24", "dev", "lan0"]);
    b.ip(&["addr", "add", "198.51.100.3/24", "dev", "lan0"]);
    a.ip(&["addr", "add", "203.0.113.1/30", "dev", "hb0"]);
    b.ip(&["addr", "add", "203.0.113.2/30", "dev", "hb0"]);
    let mut kids = Vec::new();
    for (n, ns) in [(1, &a), (2, &b)] {
        let cfg = dir.path(&format!("pikemon{n}.cfg"));
        std::fs::write(&cfg, pikemon_config(&dir.0, n)).unwrap();
        kids.push(Running(
            ns.cmd(applet("pikemon"))
                .arg("-f")
                .arg(&cfg)
                .arg("-d")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
        kids.push(Running(
            ns.cmd(applet("ifcheckd"))
                .env("PATH", isolated_path(&dir, &["ip"]))
                .arg("-f")
                .arg("-P")
                .arg(dir.path(&format!("paths{n}")))
                .arg("-a")
                .arg(dir.path(&format!("attributes{n}")))
                .arg("-p")
                .arg(dir.path(&format!("ifcheckd{n}.pid")))
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ));
    }
    let both = |ring0: [&str; 2], ring1: &str| {
        let (sa, sb) = (
            attrs(&dir.path("attributes1")),
            attrs(&dir.path("attributes2")),
        );
        sa.contains(&format!("ringnumber_0 203.0.113.1 is {}", ring0[0]))
            && sb.contains(&format!("ringnumber_0 203.0.113.2 is {}", ring0[1]))
            && sa.contains(&format!("ringnumber_1 hb1 is {ring1}"))
            && sb.contains(&format!("ringnumber_1 hb1 is {ring1}"))
    };
    wait_for(
        "every ring UP on both nodes",
        Duration::from_secs(10),
        || both(["UP", "UP"], "UP"),
    );
    // HELLOs stop on hb1 in both directions (carrier stays): pikemon marks the path FAULTY
    // after its dead-interval (300 ms), ifcheckd follows on both sides; ring 0 stays UP.
    // Designed for dead-interval + 1 s; the limit leaves room for a loaded test machine.
    cut_ingress(&a, "hb1", true);
    cut_ingress(&b, "hb1", true);
    let cut = Instant::now();
    wait_for(
        "ring 1 FAULTY on both nodes",
        Duration::from_secs(5),
        || both(["UP", "UP"], "FAULTY"),
    );
    eprintln!(
        "ring 1 FAULTY on both sides {:?} after the cut",
        cut.elapsed()
    );
    cut_ingress(&a, "hb1", false);
    cut_ingress(&b, "hb1", false);
    wait_for("ring 1 UP again", Duration::from_secs(5), || {
        both(["UP", "UP"], "UP")
    });
    // A cable cut: the carrier goes on both ends.
    a.ip(&["link", "set", "hb1", "down"]);
    wait_for(
        "ring 1 FAULTY after the cable cut",
        Duration::from_secs(5),
        || both(["UP", "UP"], "FAULTY"),
    );
    a.ip(&["link", "set", "hb1", "up"]);
    wait_for("ring 1 UP after the repair", Duration::from_secs(5), || {
        both(["UP", "UP"], "UP")
    });
}

#[test]
fn a_fifo_as_path_file_blocked_ifcheckd_in_open_deaf_to_sigterm() {
    // `-P` naming a FIFO (or /dev/zero, or a huge log) by mistake: open(2) of a FIFO waits for
    // a writer forever, SIGTERM only reached the signal pipe, and /dev/zero never ends. Each is
    // now refused with a warning and the daemon still stops on SIGTERM.
    let dir = TempDir::new("fifo");
    let fifo = dir.path("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let huge = dir.path("huge");
    std::fs::write(&huge, "# not pikemon's\n".repeat(200_000)).unwrap();
    for (source, why) in [
        (fifo.to_str().unwrap(), "not a regular file"),
        ("/dev/zero", "not a regular file"),
        (
            huge.to_str().unwrap(),
            "bytes, more than the 1048576 expected",
        ),
    ] {
        let mut d = Running(
            ifcheckd(&dir, &["-f", "-V", "-P", source])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        std::thread::sleep(Duration::from_millis(800));
        sigterm(d.0.id());
        let start = Instant::now();
        let status = loop {
            if let Some(s) = d.0.try_wait().unwrap() {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "{source}: no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{source}: {status:?}");
        let mut log = String::new();
        use std::io::Read;
        d.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
        assert!(log.contains(&format!("{source}: ")), "{source}: {log}");
        assert!(log.contains(why), "{source}: {log}");
        assert!(log.contains("Exiting ifcheckd"), "{source}: {log}");
    }
    // -s on a FIFO state file says why instead of waiting for a writer.
    let out = ifcheckd(&dir, &["-s", "-a", fifo.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out).1.contains("not a regular file"), "{out:?}");
}

#[test]
fn foreground_with_a_value_was_silently_taken_and_clustered_flags_were_refused() {
    // getopt_long (the original's crm_get_option) refuses `--foreground=1` and takes `-fV`;
    // ifcheckd did the opposite. An empty pid file name also reached the lock call.
    let dir = TempDir::new("opt");
    for (args, msg) in [
        (
            &["--foreground=1"][..],
            "ifcheckd: option '--foreground' doesn't allow an argument",
        ),
        (
            &["--pid-file="][..],
            "ifcheckd: option -p needs a file name, got ''",
        ),
        (&["-fq"][..], "ifcheckd: unknown option '-q' in '-fq'"),
    ] {
        let out = ifcheckd(&dir, args).output().unwrap();
        let (_, e) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.starts_with(msg), "{args:?}: {e}");
        assert!(e.contains("Usage: ifcheckd"), "{args:?}: {e}");
    }
    let paths = dir.path("paths");
    write_paths(&paths, "UP", "UP");
    let mut d = Running(
        ifcheckd(&dir, &["-fV", &format!("-P{}", paths.display())])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let state = dir.path("attributes");
    wait_for("rings from -fV -PFILE", Duration::from_secs(5), || {
        attrs(&state).contains("ringnumber_0 198.51.100.1 is UP")
    });
    sigterm(d.0.id());
    assert!(d.0.wait().unwrap().success());
}

#[test]
fn corosync_cmapctl_missing_was_retried_every_second_without_a_word() {
    // `-c` on a host without corosync-cmapctl: ifcheckd retried each second and logged only
    // at debug level, so nothing told the operator why no ring appeared. Said once now.
    let dir = TempDir::new("nocmap");
    let mut d = Running(
        ifcheckd(&dir, &["-f", "-c"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(2500));
    sigterm(d.0.id());
    assert!(d.0.wait().unwrap().success());
    let mut log = String::new();
    use std::io::Read;
    d.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    let said = log
        .lines()
        .filter(|l| l.contains("corosync-cmapctl not found"))
        .count();
    assert_eq!(said, 1, "{log}");
    assert!(log.contains("no ring state until installed"), "{log}");
    assert!(!attrs(&dir.path("attributes")).contains("ringnumber_"));
}

/// `pcs cluster setup` writes host names as ring addresses (`ring0_addr: fw-a`): the
/// attribute read `fw-a is UP` instead of the ring's IP, and carrier checking was silently
/// off (no interface has the address "fw-a"). Stand-in: this corosync-cmapctl prints the
/// nodelist with names and no `runtime.members` (so the name itself must be resolved), and
/// the knet stats with every link connected. ifcheckd runs with a private /etc/hosts (its
/// own mount namespace): fw-a is this node's ring 0 address, fw-a-r1 an address that is not
/// configured here (logged, the name stays).
#[test]
fn corosync_ring_given_by_host_name_was_published_as_the_name() {
    let dir = TempDir::new("cn");
    let bin = dir.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = "#!/bin/sh\n\
        case \"$*\" in\n\
        *stats*) printf '%s\\n' \
          'stats.knet.node2.link0.connected (u8) = 1' \
          'stats.knet.node2.link1.connected (u8) = 1' ;;\n\
        *) printf '%s\\n' \
          'nodelist.local_node_pos (u32) = 0' \
          'nodelist.node.0.name (str) = fw-a' \
          'nodelist.node.0.nodeid (u32) = 1' \
          'nodelist.node.0.ring0_addr (str) = fw-a' \
          'nodelist.node.0.ring1_addr (str) = fw-a-r1' \
          'nodelist.node.1.name (str) = fw-b' \
          'nodelist.node.1.nodeid (u32) = 2' \
          'nodelist.node.1.ring0_addr (str) = fw-b' \
          'nodelist.node.1.ring1_addr (str) = fw-b-r1' ;;\n\
        esac\n";
    std::fs::write(bin.join("corosync-cmapctl"), script).unwrap();
    executable(&bin.join("corosync-cmapctl"));
    let hosts = dir.path("hosts");
    std::fs::write(
        &hosts,
        "127.0.0.1 localhost\n198.51.100.1 fw-a\n198.51.100.2 fw-b\n\
         203.0.113.9 fw-a-r1\n203.0.113.2 fw-b-r1\n",
    )
    .unwrap();
    let a = Netns::new("cna");
    let b = Netns::new("cnb");
    veth(&a, "ring0", &b, "ring0");
    a.ip(&["addr", "add", "198.51.100.1/24", "dev", "ring0"]);
    let state = dir.path("attributes");
    let log = dir.path("log");
    let mut d = Running(
        a.cmd("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount --bind {hosts} /etc/hosts && PATH={bin} exec {ifc} -f -c -p {pid} -a {state} 2>{log}",
                hosts = hosts.display(),
                bin = bin.display(),
                ifc = applet("ifcheckd").display(),
                pid = dir.path("ifcheckd.pid").display(),
                state = state.display(),
                log = log.display(),
            ))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("ring 0 by its address", Duration::from_secs(10), || {
        let s = attrs(&state);
        s.contains("ringnumber_0 198.51.100.1 is UP") && s.contains("ringnumber_1 fw-a-r1 is UP")
    });
    // Carrier counts now that the ring has its interface: the peer's end goes down.
    b.ip(&["link", "set", "ring0", "down"]);
    wait_for("ring 0 FAULTY from carrier", Duration::from_secs(5), || {
        attrs(&state).contains("ringnumber_0 198.51.100.1 is FAULTY")
    });
    sigterm(d.0.id());
    assert!(d.0.wait().unwrap().success());
    let said = std::fs::read_to_string(&log).unwrap();
    let warnings: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("no local address for ring1_addr"))
        .collect();
    assert_eq!(warnings.len(), 1, "{said}");
    assert!(
        warnings[0].contains("fw-a-r1 resolves to 203.0.113.9, none of them configured"),
        "{said}"
    );
    assert!(!said.contains("ring0_addr"), "{said}");
}

/// ifcheckd wrote its state file with `write_atomic` (fsync of the file and its directory) in
/// its loop. On a busy disk one such sync took up to 0.92 s here (`stress-ng --hdd 3`
/// beside it), and every ring and carrier change behind it waited as long. The loop's
/// thread now makes no sync call at all, up to and including its exit; a writer thread
/// does, the file still follows the rings (the newest content), and is gone after SIGTERM.
#[test]
fn ifcheckd_waited_for_the_disk_in_its_loop_writing_the_state_file() {
    let dir = TempDir::new("sync");
    let paths = dir.path("paths");
    let state = dir.path("attributes");
    write_paths(&paths, "UP", "FAULTY");
    let mut d = Running(
        ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("both rings", Duration::from_secs(5), || {
        attrs(&state).contains("ringnumber_1 hb1 is FAULTY")
    });
    let trace = dir.path("loop.strace");
    // The main thread only (its tid is the pid): the loop.
    let strace = Command::new("strace")
        .args([
            "-q",
            "-e",
            "trace=fsync,fdatasync,sync_file_range,syncfs,sync",
        ])
        .args(["-o", &trace.display().to_string()])
        .args(["-p", &d.0.id().to_string()])
        .spawn()
        .expect("strace (installed by make test)");
    std::thread::sleep(Duration::from_millis(500));
    for (hb1, value) in [("UP", "hb1 is UP"), ("FAULTY", "hb1 is FAULTY")] {
        write_paths(&paths, "UP", hb1);
        wait_for(value, Duration::from_secs(5), || {
            attrs(&state).contains(&format!("ringnumber_1 {value}\n"))
        });
    }
    write_paths(&paths, "UP", "UP");
    wait_for("hb1 UP again", Duration::from_secs(5), || {
        attrs(&state).contains("ringnumber_1 hb1 is UP\n")
    });
    assert!(attrs(&state).contains("ringnumber_0 198.51.100.1 is UP\n"));
    sigterm(d.0.id());
    assert!(d.0.wait().unwrap().success());
    assert!(!state.exists(), "{}", attrs(&state));
    // strace ends with the process it traced.
    let mut strace = strace;
    let _ = strace.wait();
    let calls = std::fs::read_to_string(&trace).unwrap_or_default();
    assert!(
        !calls.contains("sync"),
        "ifcheckd's loop waited for the disk:\n{calls}"
    );
}

/// `kill -HUP` (an operator's reload reflex, a logrotate postrotate script) killed ifcheckd
/// by the default action: no cleanup, so the state file (and attrd) went on saying the ring
/// was UP for a daemon that no longer watched it, and the pid file named a dead process.
/// SIGHUP, SIGUSR1 and SIGUSR2 are logged and ignored now; the daemon keeps following the
/// path file and still cleans up on SIGTERM.
#[test]
fn sighup_killed_ifcheckd_and_left_its_rings_up_in_the_state_file() {
    let dir = TempDir::new("hup");
    let paths = dir.path("paths");
    write_paths(&paths, "UP", "UP");
    let state = dir.path("attributes");
    let mut d = Running(
        ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_fresh(&paths, "ring 0 UP", || {
        attrs(&state).contains("ringnumber_0 198.51.100.1 is UP")
    });
    let pid = nix::unistd::Pid::from_raw(d.0.id() as i32);
    use nix::sys::signal::Signal;
    for sig in [Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGUSR2] {
        nix::sys::signal::kill(pid, sig).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            d.0.try_wait().unwrap().is_none(),
            "{sig:?} ended ifcheckd: {:?}",
            d.0.try_wait()
        );
    }
    // Still watching: a faulty path is published.
    write_paths(&paths, "FAULTY", "UP");
    wait_for("ring 0 FAULTY after SIGHUP", Duration::from_secs(5), || {
        attrs(&state).contains("ringnumber_0 198.51.100.1 is FAULTY")
    });
    sigterm(d.0.id());
    assert!(d.0.wait().unwrap().success());
    assert!(!state.exists(), "state file left behind");
    assert!(!dir.path("ifcheckd.pid").exists(), "pid file left behind");
    let mut log = String::new();
    use std::io::Read;
    d.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(
        log.contains("SIGHUP ignored (ifcheckd has nothing to reload"),
        "{log}"
    );
}

/// CPU time (user + system, in clock ticks) process `pid` has used so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|w| w.parse().unwrap_or(0))
        .collect();
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

/// Children of `pid` that are zombies (exited, never reaped).
fn zombie_children(pid: u32) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|s| {
            let rest: Vec<&str> = s
                .rsplit_once(')')
                .map_or("", |(_, r)| r)
                .split_whitespace()
                .collect();
            rest.first() == Some(&"Z") && rest.get(1) == Some(&pid.to_string().as_str())
        })
        .count()
}

/// A corosync-cmapctl that floods its output (a broken build, a wrong tool under that name)
/// was read to the end of each poll's 5 s bound, half a core spent reading lines that were
/// thrown away past the first MiB, and nothing said why no ring appeared. Past 4 MiB the
/// command is stopped now, its output refused with a warning (said once), and the loop idles
/// until the next poll. Mock: this corosync-cmapctl is `yes` printing one nodelist line.
#[test]
fn corosync_cmapctl_flooding_its_output_kept_ifcheckd_reading_at_half_a_core() {
    let dir = TempDir::new("flood");
    let bin = dir.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("corosync-cmapctl"),
        "#!/bin/sh\nexec /usr/bin/yes 'nodelist.node.0.ring0_addr (str) = 198.51.100.1'\n",
    )
    .unwrap();
    executable(&bin.join("corosync-cmapctl"));
    let mut d = Running(
        ifcheckd(&dir, &["-f", "-c"])
            .env("PATH", &bin)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let before = cpu_ticks(d.0.id());
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(d.0.id()) - before;
    // 100 ticks a second: a quarter of a core is 75 ticks in three seconds.
    assert!(used < 75, "ifcheckd used {used} ticks of CPU in 3 s");
    assert_eq!(zombie_children(d.0.id()), 0, "unreaped corosync-cmapctl");
    let t = Instant::now();
    sigterm(d.0.id());
    assert!(d.0.wait().unwrap().success());
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "SIGTERM took {:?}",
        t.elapsed()
    );
    let mut log = String::new();
    use std::io::Read;
    d.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    let said = log
        .lines()
        .filter(|l| l.contains("corosync-cmapctl: more than 4194304 bytes of output"))
        .count();
    assert_eq!(said, 1, "{log}");
    assert!(!attrs(&dir.path("attributes")).contains("ringnumber_"));
}

/// The node line of the state file was the host name as it is: a name holding a newline
/// (sethostname(2) takes any bytes) wrote a line of its own, which `ifcheckd -s` showed as a
/// ring attribute ifcheckd never published, and escape sequences in it reached the terminal.
/// Control characters are written as `\xNN` now. Real: ifcheckd runs in its own UTS
/// namespace (python3 sets the name there; no crm_node on its PATH, so the host name is used).
#[test]
fn a_host_name_with_a_newline_forged_a_ring_attribute_in_the_state_file() {
    let dir = TempDir::new("host");
    let paths = dir.path("paths");
    write_paths(&paths, "UP", "UP");
    let state = dir.path("attributes");
    let script = "import os, socket, sys\n\
        socket.sethostname(b'fw a\\nringnumber_7 198.51.100.9 is UP\\x1b[2J')\n\
        os.execv(sys.argv[1], sys.argv[1:])\n";
    // unshare and python3 by their path: ifcheckd's PATH has no Pacemaker tools.
    let python = ["/usr/bin/python3", "/bin/python3"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("python3 is not installed");
    let mut d = Running(
        Command::new("/usr/bin/unshare")
            .args(["-u", python, "-c", script])
            .arg(applet("ifcheckd"))
            .args(ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()]).get_args())
            .env("PATH", isolated_path(&dir, &[]))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_fresh(&paths, "ring 0 UP", || {
        attrs(&state).contains("ringnumber_0 198.51.100.1 is UP")
    });
    let s = attrs(&state);
    assert!(
        s.contains("\nnode fw a\\x0aringnumber_7 198.51.100.9 is UP\\x1b[2J\n"),
        "{s:?}"
    );
    let out = ifcheckd(&dir, &["-s"]).output().unwrap();
    let (shown, _) = text(&out);
    assert!(out.status.success(), "{out:?}");
    assert!(!shown.contains("* ringnumber_7"), "{shown}");
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
    sigterm(d.0.id());
    assert!(d.0.wait().unwrap().success());
}

/// Pacemaker (or only its attribute daemon) restarted while ifcheckd ran: the transient
/// `ringnumber_N` attributes were gone with it, and ifcheckd, which called attrd_updater only
/// when a ring changed, left them missing until the next link change (a location rule on them
/// moved the resources meanwhile). Now every published attribute is set again every 10 s.
/// Stand-in attrd_updater (as in the tests above: no cluster stack here; tests/pacemaker.rs
/// builds a three-node cluster, too heavy to restart in a host test): it keeps the attributes
/// as files in `store`, refuses while `down` exists; the restart is `down` created, the store
/// wiped, `down` removed.
#[test]
fn attributes_lost_in_an_attrd_restart_stayed_missing_until_the_next_link_change() {
    let dir = TempDir::new("restart");
    let bin = dir.path("bin");
    let store = dir.path("store");
    let down = dir.path("down");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&store).unwrap();
    let script = format!(
        "#!/bin/sh\n[ -e {down} ] && {{ echo 'Could not connect to attrd' >&2; exit 102; }}\n\
         case \"$1 $3\" in\n\
         '-n -U') printf '%s' \"$4\" > {store}/\"$2\" ;;\n\
         '-n -D') /bin/rm -f {store}/\"$2\" ;;\n\
         esac\n",
        down = down.display(),
        store = store.display()
    );
    std::fs::write(bin.join("attrd_updater"), script).unwrap();
    executable(&bin.join("attrd_updater"));
    let paths = dir.path("paths");
    write_paths(&paths, "UP", "UP");
    let mut d = Running(
        ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()])
            .env("PATH", &bin)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let value = |ring: u32| std::fs::read_to_string(store.join(format!("ringnumber_{ring}")));
    let both_set = || {
        value(0).is_ok_and(|v| v == "198.51.100.1 is UP")
            && value(1).is_ok_and(|v| v == "hb1 is UP")
    };
    // The path file kept fresh throughout, as a live pikemon does: no ring changes.
    let keep_fresh = |what: &str, limit: Duration, cond: &dyn Fn() -> bool| {
        let end = Instant::now() + limit;
        while !cond() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            write_paths(&paths, "UP", "UP");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    keep_fresh("both attributes", Duration::from_secs(5), &both_set);
    // A quick restart: attrd back at once, empty.
    std::fs::write(&down, "").unwrap();
    for f in std::fs::read_dir(&store).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    std::fs::remove_file(&down).unwrap();
    keep_fresh(
        "both attributes set again after the restart",
        Duration::from_secs(13),
        &both_set,
    );
    // A longer outage (Pacemaker stopped for over a refresh period): the refused refreshes
    // are not an error each time, and the attributes are back once attrd is.
    std::fs::write(&down, "").unwrap();
    for f in std::fs::read_dir(&store).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let outage = Instant::now();
    keep_fresh("the outage", Duration::from_secs(12), &|| {
        outage.elapsed() > Duration::from_millis(10_500)
    });
    assert!(!both_set());
    std::fs::remove_file(&down).unwrap();
    keep_fresh(
        "both attributes set again after the outage",
        Duration::from_secs(13),
        &both_set,
    );
    // ifcheckd's own state file never changed: the rings stayed UP.
    assert!(attrs(&dir.path("attributes")).contains("ringnumber_1 hb1 is UP"));
    sigterm(d.0.id());
    assert!(d.0.wait().unwrap().success());
    assert!(
        value(0).is_err() && value(1).is_err(),
        "deleted on exit: {:?}",
        std::fs::read_dir(&store).unwrap().collect::<Vec<_>>()
    );
    let mut log = String::new();
    use std::io::Read;
    d.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(!log.contains("Failed to change link status"), "{log}");
    assert!(
        log.contains("Interface link status published again [ring id=0, state=UP]"),
        "{log}"
    );
}

/// The state file's escape wrote control characters as `\xNN` but left a backslash as it
/// was: a host name holding the four characters `\x0a` read the same, in the state file and
/// by `ifcheckd -s`, as one holding a newline. A backslash is written `\\` now, and `-s`
/// reads the escapes back before showing the name (escaped once). Real, as the test above:
/// ifcheckd in its own UTS namespace with that host name.
#[test]
fn a_host_name_holding_backslash_x0a_read_the_same_as_an_escaped_newline() {
    let dir = TempDir::new("bslash");
    let paths = dir.path("paths");
    write_paths(&paths, "UP", "UP");
    let state = dir.path("attributes");
    let script = "import os, socket, sys\n\
        socket.sethostname(b'fw\\\\x0a\\\\')\n\
        os.execv(sys.argv[1], sys.argv[1:])\n";
    let python = ["/usr/bin/python3", "/bin/python3"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("python3 is not installed");
    let mut d = Running(
        Command::new("/usr/bin/unshare")
            .args(["-u", python, "-c", script])
            .arg(applet("ifcheckd"))
            .args(ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()]).get_args())
            .env("PATH", isolated_path(&dir, &[]))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_fresh(&paths, "ring 0 UP", || {
        attrs(&state).contains("ringnumber_0 198.51.100.1 is UP")
    });
    let s = attrs(&state);
    assert!(s.contains("\nnode fw\\\\x0a\\\\\n"), "{s:?}");
    let out = ifcheckd(&dir, &["-s"]).output().unwrap();
    let (shown, _) = text(&out);
    assert!(out.status.success(), "{out:?}");
    assert!(shown.contains("  * Node: fw\\\\x0a\\\\:\n"), "{shown}");
    sigterm(d.0.id());
    assert!(d.0.wait().unwrap().success());
}

/// `-V` raises the log level to debug: the debug lines (attrd_updater missing, the signal
/// that ended the main loop) are on stderr with it and not without it; `--verbose` the same.
#[test]
fn verbose_flag_adds_the_debug_lines_to_the_log() {
    let dir = TempDir::new("verb");
    let paths = dir.path("paths");
    write_paths(&paths, "UP", "UP");
    let state = dir.path("attributes");
    let mut logs = Vec::new();
    for flag in [None, Some("-V"), Some("--verbose")] {
        let mut cmd = ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()]);
        if let Some(f) = flag {
            cmd.arg(f);
        }
        let mut d = Running(cmd.stderr(Stdio::piped()).spawn().unwrap());
        wait_for("rings", Duration::from_secs(5), || {
            attrs(&state).contains("ringnumber_0 198.51.100.1 is UP")
        });
        sigterm(d.0.id());
        assert!(d.0.wait().unwrap().success());
        let mut log = String::new();
        use std::io::Read;
        d.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
        assert!(log.contains("Starting ifcheckd"), "{flag:?}: {log}");
        logs.push((flag, log));
    }
    for (flag, log) in &logs {
        let debug = [
            "attrd_updater not installed: attributes go to the state file only",
            "mainloop shutdown. SIGNAL is",
        ];
        for line in debug {
            assert_eq!(log.contains(line), flag.is_some(), "{flag:?}: {log}");
        }
    }
}

/// README: "SIGTERM/SIGINT delete the attributes and the pid file and exit 0". An operator's
/// ^C on `ifcheckd -f` is SIGINT: the rings' attributes must not be left in attrd (read by
/// constraints as a live ring) nor the pid file and state file on disk. Mock attrd_updater:
/// as in `attrd_updater_gets_each_change_and_deletes_on_exit` (no cluster stack runs here).
#[test]
fn ctrl_c_on_a_foreground_ifcheckd_left_its_attributes_and_pid_file_behind() {
    let dir = TempDir::new("int");
    let bin = dir.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = dir.path("calls");
    std::fs::write(
        bin.join("attrd_updater"),
        format!("#!/bin/sh\necho \"$*\" >> {}\n", calls.display()),
    )
    .unwrap();
    executable(&bin.join("attrd_updater"));
    let paths = dir.path("paths");
    write_paths(&paths, "UP", "UP");
    let state = dir.path("attributes");
    let pid_file = dir.path("ifcheckd.pid");
    let mut d = Running(
        ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()])
            .env("PATH", bin.display().to_string())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for("both rings set in attrd", Duration::from_secs(5), || {
        let c = std::fs::read_to_string(&calls).unwrap_or_default();
        c.contains("-n ringnumber_0 -U 198.51.100.1 is UP")
            && c.contains("-n ringnumber_1 -U hb1 is UP")
    });
    assert!(attrs(&state).contains("ringnumber_0 198.51.100.1 is UP"));
    assert!(pid_file.exists());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.0.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = d.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    let c = std::fs::read_to_string(&calls).unwrap();
    assert!(
        c.contains("-n ringnumber_0 -D") && c.contains("-n ringnumber_1 -D"),
        "{c}"
    );
    assert!(!state.exists(), "state file left behind");
    assert!(!pid_file.exists(), "pid file left behind");
    let mut log = String::new();
    use std::io::Read;
    d.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("Exiting ifcheckd"), "{log}");
}

/// `-p FILE/x.pid` with FILE a regular file exited 1 with "File exists (os error 17)":
/// `create_dir_all`'s word for a parent that is there but no directory. The error now names
/// the pid file and the part of its way that is not a directory, in both modes.
#[test]
fn a_pid_file_under_a_regular_file_was_refused_as_file_exists() {
    let dir = TempDir::new("pidnotdir");
    let paths = dir.path("paths");
    write_paths(&paths, "UP", "UP");
    let file = dir.path("FILE");
    std::fs::write(&file, "keep\n").unwrap();
    for (pid_file, mode) in [
        (file.join("x.pid"), "-f"),
        (file.join("x.pid"), "-V"),
        (file.join("sub/x.pid"), "-f"),
    ] {
        let out = ifcheckd(&dir, &[mode, "-P", paths.to_str().unwrap()])
            .arg("-p")
            .arg(&pid_file)
            .output()
            .unwrap();
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{mode} {err}");
        assert!(
            err.contains(&format!(
                "{}: {} is not a directory",
                pid_file.display(),
                file.display()
            )),
            "{mode} {err}"
        );
        assert!(!err.contains("File exists"), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep\n");
    assert!(!dir.path("attributes").exists());
}

/// A stand-in attrd_updater that records its calls (no cluster stack in these tests).
fn recording_attrd(dir: &TempDir) -> (String, PathBuf) {
    let bin = dir.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = dir.path("calls");
    std::fs::write(
        bin.join("attrd_updater"),
        format!("#!/bin/sh\necho \"$*\" >> {}\n", calls.display()),
    )
    .unwrap();
    executable(&bin.join("attrd_updater"));
    (bin.display().to_string(), calls)
}

/// In daemon mode an `-a` file that could not be written (its parent a regular file, a
/// read-only file system, a directory at its name) was found only after detaching: the start
/// said 0 and the daemon logged a write error at every ring change, its rings in attrd only.
/// Now the start fails with 1 and says why, before detaching: no daemon, no pid file, no
/// attribute published.
#[test]
fn an_attribute_file_it_could_not_write_was_found_only_after_the_start_said_0() {
    let dir = TempDir::new("attrfail");
    let paths = dir.path("paths");
    write_paths(&paths, "UP", "UP");
    let (bin, calls) = recording_attrd(&dir);
    let pid_file = dir.path("ifcheckd.pid");
    let file = dir.path("FILE");
    std::fs::write(&file, "keep\n").unwrap();
    let ro = dir.path("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let a_dir = dir.path("a-directory");
    std::fs::create_dir_all(&a_dir).unwrap();
    let cases = [
        (
            file.join("attributes"),
            format!("{} is not a directory", file.display()),
        ),
        (ro.join("attributes"), "Read-only file system".to_string()),
        (a_dir.clone(), "is a directory".to_string()),
    ];
    for (state, why) in cases {
        // Root writes in a 0555 directory: read-only is a read-only mount, in a mount
        // namespace of its own.
        let mut cmd = Command::new("/usr/bin/unshare");
        cmd.args(["-m", "--propagation", "private", "/bin/sh", "-c"])
            .arg(format!(
                "/bin/mount -t tmpfs -o ro hbxro {} || exit 99\nexec \"$@\"",
                ro.display()
            ))
            .arg("sh")
            .arg(applet("ifcheckd"))
            .args(["-P", paths.to_str().unwrap(), "-p"])
            .arg(&pid_file)
            .arg("-a")
            .arg(&state)
            .env("PATH", &bin);
        let out = cmd.output().unwrap();
        let (_, err) = text(&out);
        if out.status.success() {
            // The daemon detached (the failure): end it before failing the test.
            wait_for("its pid file", Duration::from_secs(5), || pid_file.exists());
            if let Ok(pid) = text_of(&pid_file).trim().parse::<u32>() {
                sigterm(pid);
            }
        }
        assert_eq!(out.status.code(), Some(1), "{}: {err}", state.display());
        assert!(
            err.contains(&format!(
                "ifcheckd: cannot write the attribute file {}: {why}",
                state.display()
            )),
            "{err}"
        );
        assert!(!pid_file.exists(), "pid file left for {}", state.display());
        assert!(
            !calls.exists(),
            "attributes published: {:?}",
            text_of(&calls)
        );
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep\n");
    assert_eq!(std::fs::read_dir(&a_dir).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(&ro).unwrap().count(), 0);
    // No daemon was left behind: none runs with this test's pid file.
    let ours = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(&pid_file.display().to_string()))
        .count();
    assert_eq!(ours, 0, "a daemon runs with {}", pid_file.display());
}

fn text_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The pid and attribute files' missing directories are made, as pikemon and ldirectord
/// make theirs (the defaults live under /run, a tmpfs that starts empty); the files go on
/// exit, the directories stay.
#[test]
fn missing_directories_of_the_pid_and_attribute_files_are_created() {
    let dir = TempDir::new("mkdirs");
    let paths = dir.path("paths");
    write_paths(&paths, "UP", "UP");
    let pid_file = dir.path("run/a/b/ifcheckd.pid");
    let state = dir.path("run/c/d/attributes");
    let mut d = Running(
        ifcheckd(&dir, &["-f", "-P", paths.to_str().unwrap()])
            .arg("-p")
            .arg(&pid_file)
            .arg("-a")
            .arg(&state)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the attributes", Duration::from_secs(5), || {
        attrs(&state).contains("ringnumber_0 198.51.100.1 is UP")
    });
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        d.0.id().to_string()
    );
    sigterm(d.0.id());
    assert!(d.0.wait().unwrap().success());
    assert!(!pid_file.exists() && !state.exists());
    assert!(dir.path("run/a/b").is_dir() && dir.path("run/c/d").is_dir());
}

/// The "Node Attributes:" section of `crm_mon -1 -A` for a saved CIB holding `nodes` (all
/// online) and their transient attributes: crm_mon renders a CIB file (`CIB_file`) without a
/// running cluster.
fn crm_mon_node_attributes(dir: &TempDir, nodes: &[(&str, &[(&str, &str)])]) -> String {
    let mut members = String::new();
    let mut states = String::new();
    for (id, (name, attrs)) in nodes.iter().enumerate() {
        let id = id + 1;
        members.push_str(&format!("<node id=\"{id}\" uname=\"{name}\"/>"));
        let pairs: String = attrs
            .iter()
            .map(|(n, v)| format!("<nvpair id=\"status-{id}-{n}\" name=\"{n}\" value=\"{v}\"/>"))
            .collect();
        let transient = if attrs.is_empty() {
            String::new()
        } else {
            format!(
                "<transient_attributes id=\"{id}\"><instance_attributes id=\"status-{id}\">\
                 {pairs}</instance_attributes></transient_attributes>"
            )
        };
        states.push_str(&format!(
            "<node_state id=\"{id}\" uname=\"{name}\" in_ccm=\"true\" crmd=\"online\" \
             join=\"member\" expected=\"member\">{transient}</node_state>"
        ));
    }
    let cib = dir.path("cib.xml");
    std::fs::write(
        &cib,
        format!(
            "<cib crm_feature_set=\"3.16.1\" validate-with=\"pacemaker-3.9\" epoch=\"1\" \
             num_updates=\"0\" admin_epoch=\"0\"><configuration><crm_config/>\
             <nodes>{members}</nodes><resources/><constraints/></configuration>\
             <status>{states}</status></cib>\n"
        ),
    )
    .unwrap();
    let out = Command::new("crm_mon")
        .args(["-1", "-A"])
        .env("CIB_file", &cib)
        .output()
        .expect("crm_mon (pacemaker-cli-utils) is not installed");
    let (shown, err) = text(&out);
    assert!(out.status.success(), "crm_mon: {err}");
    // The section runs from its title to the next blank line or the end.
    shown
        .split("\n\n")
        .find(|s| s.starts_with("Node Attributes:"))
        .map(|s| format!("{}\n", s.trim_end_matches('\n')))
        .unwrap_or_default()
}

/// `ifcheckd -s` is documented as `crm_mon -A1`'s layout, but no test compared the two. Given
/// the same attributes, real crm_mon (rendering a saved CIB) listed the nodes as `fw-2`,
/// `fw-10`, `fw-a`, `FW-b` (numbers by value, case ignored) where `-s` listed them in byte
/// order, and left out a node without attributes (the whole section when none has any) that
/// `-s` showed. The attrd_updater here is a stand-in answering `-Q -A` as Pacemaker 2.1's does
/// (attrd needs a running cluster stack; tests/pacemaker.rs has one, too slow for this).
#[test]
fn show_differed_from_crm_mon_a1_for_the_same_attributes() {
    let dir = TempDir::new("crmmon");
    let bin = dir.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let peers = [
        ("fw-10", "198.51.100.10"),
        ("FW-b", "198.51.100.11"),
        ("fw-2", "198.51.100.2"),
    ];
    // One case per name, every peer's line for it.
    let mut by_name: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (host, addr) in peers {
        by_name.entry("ringnumber_0").or_default().push(format!(
            "echo 'name=\"ringnumber_0\" host=\"{host}\" value=\"{addr} is UP\"'"
        ));
        by_name.entry("ringnumber_1").or_default().push(format!(
            "echo 'name=\"ringnumber_1\" host=\"{host}\" value=\"hb1 is FAULTY\"'"
        ));
    }
    let cases: String = by_name
        .iter()
        .map(|(n, lines)| format!("  {n}) {};;\n", lines.join("; ")))
        .collect();
    std::fs::write(
        bin.join("attrd_updater"),
        format!(
            "#!/bin/sh\n[ \"$1 $2 $3\" = \"-Q -A -n\" ] || exit 1\ncase \"$4\" in\n{cases}esac\n"
        ),
    )
    .unwrap();
    executable(&bin.join("attrd_updater"));
    let state = dir.path("attributes");
    std::fs::write(
        &state,
        "# ifcheckd ring attributes: ringnumber_N ADDR is UP|FAULTY\nnode fw-a\n\
         ringnumber_0 198.51.100.1 is UP\nringnumber_1 hb1 is UP\n",
    )
    .unwrap();
    let out = ifcheckd(&dir, &["-s"])
        .env("PATH", bin.display().to_string())
        .output()
        .unwrap();
    let (shown, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let mut nodes: Vec<(&str, Vec<(&str, String)>)> = vec![(
        "fw-a",
        vec![
            ("ringnumber_0", "198.51.100.1 is UP".to_string()),
            ("ringnumber_1", "hb1 is UP".to_string()),
        ],
    )];
    for (host, addr) in peers {
        nodes.push((
            host,
            vec![
                ("ringnumber_0", format!("{addr} is UP")),
                ("ringnumber_1", "hb1 is FAULTY".to_string()),
            ],
        ));
    }
    let attrs: Vec<Vec<(&str, &str)>> = nodes
        .iter()
        .map(|(_, a)| a.iter().map(|(n, v)| (*n, v.as_str())).collect())
        .collect();
    let mut cib: Vec<(&str, &[(&str, &str)])> = nodes
        .iter()
        .zip(&attrs)
        .map(|((n, _), a)| (*n, a.as_slice()))
        .collect();
    cib.push(("fw-idle", &[]));
    let expected = crm_mon_node_attributes(&dir, &cib);
    assert!(expected.contains("* Node: fw-10:"), "{expected}");
    assert_eq!(
        shown, expected,
        "ifcheckd -s:\n{shown}\ncrm_mon -1 -A:\n{expected}"
    );
    // No ring yet on this node, none known to attrd: crm_mon shows no section, -s nothing.
    std::fs::write(
        &state,
        "# ifcheckd ring attributes: ringnumber_N ADDR is UP|FAULTY\nnode fw-a\n",
    )
    .unwrap();
    let out = ifcheckd(&dir, &["-s"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let expected = crm_mon_node_attributes(&dir, &[("fw-a", &[]), ("fw-b", &[])]);
    assert_eq!(expected, "");
    assert_eq!(text(&out).0, expected);
}
