//! The test rig of ip-ra: a host and a peer namespace, running the applet, snapshots,
//! tcpdump captures decoded with our ARP parser, link up/down watching.

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use habox::net::rtnl::{RtnlEvent, RtnlMonitor};
use habox::wire::arp::ArpRepr;
use habox::wire::ethernet::{EthernetRepr, MacAddr};

use crate::common::{self, veth, Netns};

/// Runs `f` on a fresh thread inside namespace `ns` (setns is per thread).
pub fn in_ns<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> T {
    let name = ns.name.clone();
    std::thread::spawn(move || {
        habox::sys::netns::enter(&name).expect("setns");
        f()
    })
    .join()
    .expect("thread in namespace panicked")
}

pub fn ip_out(ns: &Netns, args: &[&str]) -> String {
    common::text(&ns.ip(args)).0
}

pub const VIP: &str = "198.51.100.10";
pub const VIP24: &str = "198.51.100.10/24";

/// Every parameter name ip-ra reads, cleared so the test's own environment cannot leak in.
pub const KIT_NAMES: &[&str] = &[
    "IP",
    "DEVICE",
    "PingList",
    "IP_NOLINKCHECK",
    "IP_WAIT_LINKDOWN",
    "NOIPUNIQUE",
    "IP_PINGTIME",
    "IP_PINGTRIES",
    "IP_PINGTIMEOUT",
    "NOBCASTPING",
    "IP_QUICKCHECK_TIMEOUT",
    "RESTORE_AND_RECOVER",
    "SOURCE_ADDRESS",
];

pub struct Pair {
    pub a: Netns,
    pub b: Netns,
}

pub fn pair() -> Pair {
    let a = Netns::new("ra");
    let b = Netns::new("rb");
    veth(&a, "eth0", &b, "eth0");
    a.ip(&["addr", "add", "198.51.100.2/24", "dev", "eth0"]);
    b.ip(&["addr", "add", "198.51.100.3/24", "dev", "eth0"]);
    b.sysctl("net.ipv4.icmp_echo_ignore_broadcasts", "0");
    Pair { a, b }
}

/// Runs `ip-ra ARGS` inside `ns` with `env` (kit names) set.
pub fn ip_ra(ns: &Netns, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = ns.cmd(common::applet("ip-ra"));
    for n in KIT_NAMES {
        c.env_remove(n);
    }
    c.args(args).envs(env.iter().copied());
    c.output().expect("run ip-ra")
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn stderr(out: &Output) -> String {
    common::text(out).1
}

pub fn addrs(ns: &Netns) -> String {
    ip_out(ns, &["-4", "addr", "show", "dev", "eth0"])
}

pub fn has_vip(ns: &Netns) -> bool {
    addrs(ns).contains(&format!("inet {VIP24}"))
}

/// Everything ip-ra could change: addresses, routes, links, neighbours.
pub fn snapshot(ns: &Netns) -> String {
    [
        ip_out(ns, &["addr"]),
        ip_out(ns, &["route", "show", "table", "all"]),
        ip_out(ns, &["link"]),
    ]
    .join("\n")
}

/// tcpdump in `ns` printing ARP frames in hex; returns once it listens.
pub fn capture_arp(ns: &Netns) -> Child {
    let mut child = ns
        .cmd("tcpdump")
        .args(["-i", "eth0", "-n", "-l", "--immediate-mode", "-xx", "arp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump");
    // tcpdump says "listening on eth0" on stderr once the capture runs.
    let mut err = child.stderr.take().expect("stderr");
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        use std::io::Read;
        match err.read(&mut byte) {
            Ok(1) => {
                seen.push(byte[0]);
                if String::from_utf8_lossy(&seen).contains("listening on") {
                    break;
                }
            }
            _ => break,
        }
    }
    child
}

/// Stops tcpdump and decodes the frames it printed with `-xx`.
pub fn captured_frames(child: Child) -> Vec<(EthernetRepr, ArpRepr)> {
    std::thread::sleep(Duration::from_millis(300));
    // SIGINT: tcpdump ends its loop and exits cleanly (`ip netns exec` exec'd into it).
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    let out = child.wait_with_output().expect("tcpdump output");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(hex) = t.strip_prefix("0x").and_then(|r| r.split_once(':')) {
            let bytes = hex
                .1
                .split_whitespace()
                .flat_map(|w| {
                    (0..w.len() / 2)
                        .filter_map(move |i| u8::from_str_radix(&w[2 * i..2 * i + 2], 16).ok())
                })
                .collect::<Vec<u8>>();
            if let Some(f) = frames.last_mut().filter(|_| !t.starts_with("0x0000")) {
                f.extend(bytes);
            } else {
                frames.push(bytes);
            }
        }
    }
    frames
        .iter()
        .filter_map(|f| ArpRepr::from_frame(f))
        .collect()
}

pub fn mac_of(ns: &Netns) -> MacAddr {
    let text = ip_out(ns, &["link", "show", "eth0"]);
    let mac = text
        .split("link/ether ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("link/ether");
    MacAddr::parse(mac).expect("mac")
}

/// Collects eth0's up/down transitions in `ns` while `f` runs.
pub fn link_cycles(ns: &Netns, f: impl FnOnce()) -> Vec<bool> {
    let name = ns.name.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let watcher = std::thread::spawn(move || {
        habox::sys::netns::enter(&name).unwrap();
        let mut mon = RtnlMonitor::open().unwrap();
        ready_tx.send(()).unwrap();
        let mut last = None;
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            for e in mon.recv().unwrap() {
                if let RtnlEvent::Link(l) = e {
                    if l.name == "eth0" && last != Some(l.is_up()) {
                        last = Some(l.is_up());
                        tx.send(l.is_up()).unwrap();
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    ready_rx.recv().unwrap();
    f();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    watcher.join().unwrap();
    rx.try_iter().collect()
}

/// Runs `ip-ra ACTION` as an OCF agent with `OCF_RESKEY_*` parameters.
pub fn ocf(ns: &Netns, action: &str, params: &[(&str, &str)]) -> Output {
    let mut c = ns.cmd(common::applet("ip-ra"));
    c.arg(action);
    for (k, v) in params {
        c.env(format!("OCF_RESKEY_{k}"), v);
    }
    c.output().expect("run ip-ra")
}
