//! Test rig shared by the host integration tests: network namespaces that delete themselves
//! (even when a test panics), veth pairs, bridges, and the real habox binary called through
//! applet links. Addresses used by tests: 198.51.100.0/24, 203.0.113.0/24, 198.18.0.0/15 only.
#![allow(dead_code)]

pub mod ldlab;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique short name: `prefix` + pid + a per-process counter (fits IFNAMSIZ for short prefixes).
pub fn unique(prefix: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

/// Runs a command, panicking with its output when it fails.
pub fn sh(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A network namespace made for one test; killed and deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `hbPREFIX…` with loopback up (`HABOX_TEST_NETNS` replaces `hb`, so that
    /// people testing on one machine at once can tell their namespaces apart).
    pub fn new(prefix: &str) -> Netns {
        let base = std::env::var("HABOX_TEST_NETNS").unwrap_or_else(|_| "hb".into());
        let name = unique(&format!("{base}{prefix}"));
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ARGS…`, which must succeed.
    pub fn ip(&self, args: &[&str]) -> Output {
        let mut full = vec!["ip", "-n", &self.name];
        full.extend_from_slice(args);
        sh(&full)
    }

    /// A command to run inside the namespace (`ip netns exec NAME PROG`).
    pub fn cmd(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(prog);
        c
    }

    /// Runs `args` inside the namespace and returns its output (whatever the exit status).
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args[0])
            .args(&args[1..])
            .output()
            .unwrap_or_else(|e| panic!("{args:?} in {}: {e}", self.name))
    }

    /// Gives commands run with `cmd` their own /etc/hosts (`ip netns exec` bind-mounts
    /// /etc/netns/NAME/hosts over it), so that a test can name hosts without DNS.
    pub fn hosts(&self, text: &str) {
        let dir = Path::new("/etc/netns").join(&self.name);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        std::fs::write(dir.join("hosts"), text).unwrap_or_else(|e| panic!("hosts: {e}"));
    }

    /// Sets a sysctl inside the namespace.
    pub fn sysctl(&self, key: &str, value: &str) {
        let out = self.run(&["sysctl", "-qw", &format!("{key}={value}")]);
        assert!(out.status.success(), "sysctl {key}={value}: {out:?}");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Kill what still runs inside (only processes in *our* namespace), then delete it.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        // A pikemon killed here leaves its namespace's lock file in /run (a stop removes it),
        // its worker record, and a SIGHUP without a successor its hand-over record.
        if let Ok(ns) = std::fs::metadata(Path::new("/run/netns").join(&self.name)) {
            use std::os::unix::fs::MetadataExt;
            for suffix in ["lock", "old", "worker"] {
                let _ =
                    std::fs::remove_file(format!("/run/habox-pikemon-net-{}.{suffix}", ns.ino()));
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(&self.name));
        // Left to the system when other namespaces still use it.
        let _ = std::fs::remove_dir("/etc/netns");
    }
}

/// Connects `a` and `b` with a veth pair named `a_if` / `b_if`, both set up.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    let tmp_a = unique("va");
    let tmp_b = unique("vb");
    sh(&[
        "ip", "link", "add", &tmp_a, "type", "veth", "peer", "name", &tmp_b,
    ]);
    sh(&["ip", "link", "set", &tmp_a, "netns", &a.name, "name", a_if]);
    sh(&["ip", "link", "set", &tmp_b, "netns", &b.name, "name", b_if]);
    a.ip(&["link", "set", a_if, "up"]);
    b.ip(&["link", "set", b_if, "up"]);
}

/// A namespace holding one bridge `br0`; hosts join it with `attach`.
pub struct Switch {
    pub ns: Netns,
    ports: AtomicU32,
}

impl Switch {
    pub fn new() -> Switch {
        let ns = Netns::new("sw");
        ns.ip(&["link", "add", "br0", "type", "bridge"]);
        ns.ip(&["link", "set", "br0", "type", "bridge", "forward_delay", "0"]);
        ns.ip(&["link", "set", "br0", "up"]);
        Switch {
            ns,
            ports: AtomicU32::new(0),
        }
    }

    /// Plugs `host` into the bridge with interface `ifname` on the host side; returns the
    /// bridge-side port name (set it down to "cut the cable").
    pub fn attach(&self, host: &Netns, ifname: &str) -> String {
        let port = format!("p{}", self.ports.fetch_add(1, Ordering::SeqCst));
        veth(&self.ns, &port, host, ifname);
        self.ns.ip(&["link", "set", &port, "master", "br0"]);
        port
    }
}

impl Default for Switch {
    fn default() -> Self {
        Self::new()
    }
}

/// The habox binary cargo built for this test run.
pub fn habox() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_habox"))
}

/// A directory with every applet linked to the test binary (`habox --install -s`), made once.
pub fn applet_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // One directory per test process: several test binaries may install at once.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("applets-{}", std::process::id()));
        let out = Command::new(habox())
            .args(["--install", "-s"])
            .arg(&dir)
            .output()
            .expect("habox --install");
        assert!(out.status.success(), "habox --install: {out:?}");
        dir
    })
}

/// The path of one applet link.
pub fn applet(name: &str) -> PathBuf {
    applet_dir().join(name)
}

/// stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// After an ldirectord test: for every config file in `dir`, a daemon still holding its pid
/// file `/var/run/ldirectord.NAME.pid` (a daemonized one a failed test left, or one killed
/// before it could remove the file) is killed when its command line names `dir`, and the pid
/// file is removed.
pub fn clean_ldirectord_pid_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid_file = PathBuf::from(format!("/var/run/ldirectord.{name}.pid"));
        let Ok(text) = std::fs::read_to_string(&pid_file) else {
            continue;
        };
        if let Ok(pid) = text.trim().parse::<i32>() {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*dir.to_string_lossy()) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
        let _ = std::fs::remove_file(&pid_file);
    }
}
