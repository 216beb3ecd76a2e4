//! bench/failover-qemu: bench/failover's failover figures on two real kernels. The appliance
//! pair under QEMU (TCG): fw-a and fw-b each run their own kernel, so nothing is shared between
//! the "nodes" as in the namespace rig. pikemon (the appliance's own configuration, hello and
//! dead-interval set per run) against keepalived (Debian's binary and its libraries added to the
//! image, VRRPv3 unicast over hb0, the same VIPs, a ping track of the same LAN host as
//! pikemon's ping group) on the same pair, in the same run.
//!
//! Faults on the current master: `death` (its QEMU killed: a machine death, no FIN, no
//! carrier change on the bridge), `kill` (the daemon SIGKILLed), `link` (its LAN tap down on the
//! host bridge), `term` (SIGTERM). The client's outage is the longest gap between echo replies
//! of a `ping -i 0.005` from the client namespace to the LAN VIP. Prints every trial, then the
//! medians and the ratio pikemon / keepalived.
//!
//! Knobs (environment): RUNS (5), INTERVALS ("1000 100", ms), SCENARIOS ("death kill link
//! term"), DAEMONS ("pikemon keepalived"), FROM (fw-a: the node every fault starts on, the
//! role is put back there before each trial; `any`: where the last fault left it),
//! KEEPALIVED_TREE (the directory with keepalived and its libraries; run.sh builds it). Needs
//! root and build/appliance (`make image`).

mod console;
mod lab;

use lab::{note, Lab, LAN_VIP, NODES, WAN_VIP};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Daemon {
    Pikemon,
    Keepalived,
}

impl Daemon {
    fn name(self) -> &'static str {
        match self {
            Daemon::Pikemon => "pikemon",
            Daemon::Keepalived => "keepalived",
        }
    }
}

const SCENARIOS: [&str; 4] = ["death", "kill", "link", "term"];

fn knob(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn other(name: &str) -> &'static str {
    if name == NODES[0].name {
        NODES[1].name
    } else {
        NODES[0].name
    }
}

fn node(name: &str) -> &'static lab::Node {
    NODES.iter().find(|n| n.name == name).unwrap_or(&NODES[0])
}

/// The files both guests get on top of the image: pikemon's config at this hello, and for
/// keepalived its binary, libraries and one config per node.
fn overlay(dir: &Path, daemon: Daemon, iv: u64, keepalived: &Path) -> Result<PathBuf, String> {
    let tree = dir.join(format!("tree-{}-{iv}", daemon.name()));
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(tree.join("etc/habox")).map_err(|e| e.to_string())?;
    let cfg = std::fs::read_to_string(lab::top().join("rootfs/etc/habox/pikemon.cfg"))
        .map_err(|e| format!("pikemon.cfg: {e}"))?;
    let cfg = cfg
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("hello-interval") {
                format!("    hello-interval {iv}ms;  dead-interval {}ms;", 3 * iv)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(tree.join("etc/habox/pikemon.cfg"), cfg + "\n").map_err(|e| e.to_string())?;
    if daemon == Daemon::Keepalived {
        let status = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", keepalived.display()))
            .arg(&tree)
            .status()
            .map_err(|e| format!("cp: {e}"))?;
        if !status.success() {
            return Err(format!("cp {} failed", keepalived.display()));
        }
        std::fs::create_dir_all(tree.join("etc/keepalived")).map_err(|e| e.to_string())?;
        for (n, prio) in [(&NODES[0], 200), (&NODES[1], 100)] {
            let peer = node(other(n.name));
            let text = format!(
                "global_defs {{\n    router_id {name}\n    vrrp_version 3\n    script_user root\n    \
                 enable_script_security\n}}\n\
                 vrrp_script chk_lan {{\n    script \"/bin/ping -c 1 -W 1 {client}\"\n    \
                 interval 1\n    timeout 1\n    fall 3\n    rise 2\n}}\n\
                 vrrp_instance FW {{\n    state BACKUP\n    nopreempt\n    interface hb0\n    \
                 unicast_src_ip {own}\n    unicast_peer {{\n        {peer}\n    }}\n    \
                 virtual_router_id 51\n    priority {prio}\n    advert_int {adv}\n    \
                 track_script {{\n        chk_lan\n    }}\n    virtual_ipaddress {{\n        \
                 {LAN_VIP}/24 dev lan0\n        {WAN_VIP}/24 dev wan0\n    }}\n}}\n",
                name = n.name,
                client = lab::CLIENT,
                own = n.hb,
                peer = peer.hb,
                adv = iv as f64 / 1000.0,
            );
            std::fs::write(tree.join(format!("etc/keepalived/{}.conf", n.name)), text)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(tree)
}

/// The shell command that starts `daemon` on a node.
fn start_cmd(daemon: Daemon, name: &str) -> String {
    match daemon {
        Daemon::Pikemon => "pikemon -f /etc/habox/pikemon.cfg".into(),
        // A SIGKILLed keepalived leaves its addresses behind: a restart starts from none.
        Daemon::Keepalived => format!(
            "ip addr del {LAN_VIP}/24 dev lan0 2>/dev/null; ip addr del {WAN_VIP}/24 dev wan0 \
             2>/dev/null; keepalived -f /etc/keepalived/{name}.conf -p /run/keepalived.pid \
             -r /run/vrrp.pid -c /run/checkers.pid -l"
        ),
    }
}

/// The pids of the daemon's processes on a node (all of them: supervisor and worker, or
/// keepalived's parent and children).
fn pids_cmd(daemon: Daemon) -> &'static str {
    match daemon {
        Daemon::Pikemon => {
            "ps -o pid,args | awk '/pikemon: (supervisor|worker|acr)/ && !/awk/ { print $1 }'"
        }
        Daemon::Keepalived => "ps -o pid,args | awk '/keepalived/ && !/awk/ { print $1 }'",
    }
}

fn masters(lab: &mut Lab) -> Result<Vec<&'static str>, String> {
    let mut out = Vec::new();
    for g in lab.guests.iter_mut().filter(|g| g.console.is_some()) {
        if lab::holds_vip(g.sh())? {
            out.push(g.node.name);
        }
    }
    Ok(out)
}

/// Waits until exactly one guest holds the VIP and the client reaches it.
fn settle(lab: &mut Lab, timeout: Duration) -> Result<&'static str, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let m = masters(lab)?;
        if m.len() == 1 {
            let ok = lab
                .on_client(&["ping", "-c", "1", "-W", "1", LAN_VIP])
                .status
                .success();
            if ok {
                return Ok(m[0]);
            }
        }
        if Instant::now() > deadline {
            return Err(format!("no single reachable master (holders {m:?})"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Stops pikemon as the image started it, when `daemon` is keepalived, then starts `daemon`
/// on fw-a, and on fw-b once fw-a holds the VIP.
fn start_pair(lab: &mut Lab, daemon: Daemon) -> Result<(), String> {
    for n in &NODES {
        let sh = lab.guest(n.name).sh();
        if daemon == Daemon::Keepalived {
            sh.ok("p=$(cat /run/pikemon.pid 2>/dev/null) && kill $p; true")?;
        }
    }
    if daemon == Daemon::Keepalived {
        std::thread::sleep(Duration::from_secs(3));
        let first = NODES[0].name;
        lab.guest(first).sh().ok(&start_cmd(daemon, first))?;
        lab::poll(Duration::from_secs(30), || {
            lab::holds_vip(lab.guest(first).sh()).unwrap_or(false)
        });
        let second = NODES[1].name;
        lab.guest(second).sh().ok(&start_cmd(daemon, second))?;
    }
    std::thread::sleep(Duration::from_secs(3));
    settle(lab, Duration::from_secs(60)).map(|_| ())
}

/// The shell command that stops `daemon` on a node as an operator would (SIGTERM: pikemon hands
/// its role over, keepalived sends its priority-0 advert).
fn stop_cmd(daemon: Daemon) -> &'static str {
    match daemon {
        Daemon::Pikemon => "kill -TERM $(cat /run/pikemon.pid)",
        Daemon::Keepalived => "kill -TERM $(cat /run/keepalived.pid)",
    }
}

/// Puts the role back on `home` before a trial (`FROM=fw-a`, the default): every fault then
/// fails over from the same node to the same backup, as in bench/failover, which starts a
/// fresh pair per trial. Without it the roles swap with each machine death, and keepalived's
/// backup alternates between priority 100 and 200, whose skew times differ by 0.39 of an
/// advert: the median then mixes two takeover times. The daemon on the current master is
/// stopped with SIGTERM (the home node takes over), then started again (as the backup).
/// `FROM=any` keeps the role where the last fault left it. Returns the master.
fn home(lab: &mut Lab, daemon: Daemon, from: &str) -> Result<&'static str, String> {
    let master = settle(lab, Duration::from_secs(90))?;
    let Some(home) = NODES.iter().map(|n| n.name).find(|n| *n == from) else {
        return Ok(master);
    };
    if master == home {
        return Ok(master);
    }
    // A home node whose reboot failed has no console (and no daemon): nothing is stopped.
    if lab.guest(home).console.is_none() {
        return Err(format!("{home} is not up: the role stays on {master}"));
    }
    lab.guest(master).sh().ok(stop_cmd(daemon))?;
    let handed = (|| {
        let moved = lab::poll(Duration::from_secs(30), || {
            lab::holds_vip(lab.guest(home).sh()).unwrap_or(false)
        });
        if !moved {
            return Err(format!("{home} did not take the role back from {master}"));
        }
        let gone = lab::poll(Duration::from_secs(20), || {
            lab.guest(master)
                .sh()
                .ok(pids_cmd(daemon))
                .is_ok_and(|out| out.trim().is_empty())
        });
        if !gone {
            return Err(format!("{} on {master} did not stop", daemon.name()));
        }
        Ok(())
    })();
    // Started again whatever happened: a pair left with one daemon fails every later trial.
    lab.guest(master).sh().ok(&start_cmd(daemon, master))?;
    handed?;
    std::thread::sleep(Duration::from_secs(3));
    match settle(lab, Duration::from_secs(60))? {
        m if m == home => Ok(m),
        m => Err(format!("{m} took the role back from {home}")),
    }
}

/// A ping of the LAN VIP from the client every 5 ms for `secs` seconds, with reply times.
fn pinger(lab: &Lab, secs: u64) -> Result<Child, String> {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.client,
            "ping",
            "-D",
            "-n",
            "-i",
            "0.005",
        ])
        .args(["-W", "1", "-w", &secs.to_string(), LAN_VIP])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("ping: {e}"))
}

/// The reply times of `ping -D` output, in seconds.
fn reply_times(out: &str) -> Vec<f64> {
    out.lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect()
}

/// One fault on the current master; the client's outage in ms.
/// `slot` = (this run counted from 0, the number of runs): the fault's phase in the hello
/// schedule (below).
fn trial(
    lab: &mut Lab,
    daemon: Daemon,
    iv: u64,
    scenario: &str,
    slot: (u64, u64),
    from: &str,
) -> Result<f64, String> {
    let master = home(lab, daemon, from)?;
    let backup = other(master);
    let window = 6 * iv / 1000 + 6;
    if let Ok(cmd) = std::env::var("PRE_CMD") {
        let (_, out) = lab.guest(backup).sh().run(&cmd, Duration::from_secs(30))?;
        note(&format!("  {backup}$ {cmd}\n{out}"));
    }
    let mut ping = pinger(lab, window + 2)?;
    // CAPTURE=DIR: the LAN bridge's frames of each trial, and the heart-beat bridge's in
    // hb-NAME (keepalived's adverts go there), for diagnosis (bench/failover-qemu/timeline.py).
    let mut capture = Vec::new();
    if let Ok(dir) = std::env::var("CAPTURE") {
        let name = format!(
            "{}-{iv}-{scenario}-{}.pcap",
            daemon.name(),
            now_secs() as u64
        );
        for (bridge, file) in [("lan", name.clone()), ("hb", format!("hb-{name}"))] {
            let file = format!("{dir}/{file}");
            // A capture that does not start is only noted: the trial runs without it, and
            // the one already started is stopped after the fault as usual.
            match Command::new("ip")
                .args([
                    "netns", "exec", &lab.lab, "tcpdump", "-q", "-i", bridge, "-U", "-w", &file,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(c) => capture.push(c),
                Err(e) => note(&format!("  tcpdump on {bridge}: {e}")),
            }
        }
    }
    // The fault at a spread phase of the master's hello (advert) schedule: a fixed delay after
    // the settle put it at nearly the same point of the schedule in every trial, so the median
    // outage measured that point, not the average (dead-interval - half a hello). Run k of n
    // comes k/n of a hello after a HELLO seen on the heart-beat bridge, plus a random part of
    // 1/n: the runs' phases cover the schedule evenly. (A purely random phase left the median
    // of 10 runs at 1 s hellos 270 ms off; a delay spread from the settle, without the HELLO,
    // still drew its phases at random, because the schedule starts anew with every boot.)
    let (k, n) = (slot.0, slot.1.max(1));
    let spread = k * iv / n + random_below(iv / n);
    std::thread::sleep(Duration::from_millis(1500));
    let fault = (|| {
        next_hello(lab, daemon, master)?;
        std::thread::sleep(Duration::from_millis(spread));
        let fault = now_secs();
        match scenario {
            "death" => lab.kill_guest(master),
            "kill" => {
                let cmd = format!("kill -9 $({})", pids_cmd(daemon));
                lab.guest(master).sh().ok(&cmd)?;
            }
            "link" => lab.cable(node(master), "lan", false)?,
            "term" => {
                let cmd = format!("kill -TERM $({} | head -n 1)", pids_cmd(daemon));
                lab.guest(master).sh().ok(&cmd)?;
            }
            other => return Err(format!("unknown scenario {other}")),
        }
        Ok(fault)
    })();
    // The ping and the captures end with the trial, also when the fault did not come: a
    // capture left running would record the next trials too.
    if fault.is_err() {
        let _ = ping.kill();
    }
    let out = ping.wait_with_output().map_err(|e| format!("ping: {e}"));
    for mut c in capture {
        let _ = Command::new("kill").arg(c.id().to_string()).status();
        let _ = c.wait();
    }
    let (fault, out) = (fault?, out?);
    let times = reply_times(&String::from_utf8_lossy(&out.stdout));
    let before = times.iter().filter(|t| **t < fault).count();
    let after = times.iter().filter(|t| **t > fault).count();
    // The longest silence that contains the fault (from the last reply before it).
    let gap = times
        .windows(2)
        .filter(|w| w[1] > fault)
        .map(|w| w[1] - w[0].max(fault - 0.005))
        .fold(0.0f64, f64::max);
    // Back to a pair: the old master rebooted, its daemon restarted, its cable plugged.
    match scenario {
        "death" => {
            lab.restart_guest(master)?;
            if daemon == Daemon::Keepalived {
                let sh = lab.guest(master).sh();
                sh.ok("p=$(cat /run/pikemon.pid 2>/dev/null) && kill $p; true")?;
                std::thread::sleep(Duration::from_secs(2));
                sh.ok(&start_cmd(daemon, master))?;
            }
        }
        "link" => lab.cable(node(master), "lan", true)?,
        _ => {
            std::thread::sleep(Duration::from_secs(1));
            lab.guest(master).sh().ok(&start_cmd(daemon, master))?;
        }
    }
    if std::env::var_os("SHOW_LOG").is_some() {
        let (_, log) = lab.guest(backup).sh().run(
            "logread | grep -E 'pikemon|Keepalived' | tail -n 12",
            Duration::from_secs(20),
        )?;
        note(&format!(
            "  {backup}'s log after the fault (fault at {fault:.3}):\n{log}"
        ));
    }
    if let Ok(cmd) = std::env::var("GUEST_CMD") {
        let (_, out) = lab.guest(backup).sh().run(&cmd, Duration::from_secs(30))?;
        note(&format!("  {backup}$ {cmd}\n{out}"));
    }
    let now = settle(lab, Duration::from_secs(90))?;
    std::thread::sleep(Duration::from_secs(2));
    if before == 0 || after == 0 {
        return Err(format!(
            "no replies {} the fault",
            if before == 0 { "before" } else { "after" }
        ));
    }
    note(&format!(
        "  {} {iv} ms {scenario}: {backup} took over, outage {:.1} ms (master now {now})",
        daemon.name(),
        gap * 1000.0
    ));
    Ok(gap * 1000.0)
}

/// Returns once `master` has sent a HELLO (keepalived: an advert) on the heart-beat bridge,
/// as a tcpdump in the lab namespace sees it (immediate mode: about a millisecond late).
/// An error when none comes within 5 s.
fn next_hello(lab: &Lab, daemon: Daemon, master: &str) -> Result<(), String> {
    use std::io::BufRead;
    let proto = match daemon {
        Daemon::Pikemon => "ether proto 0x88b5",
        Daemon::Keepalived => "ip proto 112",
    };
    let hb = lab::NICS.iter().position(|n| *n == "hb").unwrap_or(2);
    let filter = format!("ether src {} and {proto}", lab::mac(node(master), hb));
    let mut dump = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.lab,
            "tcpdump",
            "-l",
            "-n",
            "--immediate-mode",
        ])
        .args(["-c", "1", "-i", "hb", &filter])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("tcpdump: {e}"))?;
    let out = dump.stdout.take();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        if let Some(out) = out {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        let _ = tx.send(line);
    });
    let seen = rx.recv_timeout(Duration::from_secs(5));
    let _ = dump.kill();
    let _ = dump.wait();
    match seen {
        Ok(line) if !line.is_empty() => Ok(()),
        _ => Err(format!("no HELLO from {master} on hb within 5 s")),
    }
}

/// A random number in `0..n` (0 when `n` is 0), from /dev/urandom.
fn random_below(n: u64) -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    match (ok, n) {
        (Ok(()), 1..) => u64::from_le_bytes(b) % n,
        _ => 0,
    }
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

fn main() -> ExitCode {
    if let Ok(mut signals) =
        signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP])
    {
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                lab::emergency_teardown();
                std::process::exit(130);
            }
        });
    }
    let runs: usize = knob("RUNS", "5").parse().unwrap_or(5);
    let intervals: Vec<u64> = knob("INTERVALS", "1000 100")
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let scenarios: Vec<String> = knob("SCENARIOS", &SCENARIOS.join(" "))
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let daemons: Vec<Daemon> = knob("DAEMONS", "pikemon keepalived")
        .split_whitespace()
        .filter_map(|d| match d {
            "pikemon" => Some(Daemon::Pikemon),
            "keepalived" => Some(Daemon::Keepalived),
            _ => None,
        })
        .collect();
    let keepalived = PathBuf::from(knob(
        "KEEPALIVED_TREE",
        &lab::top()
            .join("build/bench/keepalived")
            .display()
            .to_string(),
    ));
    let from = knob("FROM", NODES[0].name);
    if from != "any" && !NODES.iter().any(|n| n.name == from) {
        eprintln!(
            "bench/failover-qemu: FROM={from}: expected a node ({}) or any",
            NODES.map(|n| n.name).join(", ")
        );
        return ExitCode::from(2);
    }
    let work = std::env::temp_dir().join(format!("bench-failover-qemu-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&work);
    println!(
        "bench/failover-qemu: runs {runs}, intervals (ms) {intervals:?}, scenarios {scenarios:?}, \
         faults start on {from}, QEMU {}",
        knob("QEMU_ACCEL", "tcg")
    );
    let mut table: Vec<(Daemon, u64, String, Vec<f64>, usize)> = Vec::new();
    for &iv in &intervals {
        for &daemon in &daemons {
            let result = (|| -> Result<(), String> {
                let tree = overlay(&work, daemon, iv, &keepalived)?;
                let mut lab = Lab::new(&format!("fobench-{}-{iv}", daemon.name()))?;
                if daemon == Daemon::Keepalived {
                    // No key: the image's pikemon does not start (keepalived needs none).
                    lab.without_a_key()?;
                }
                lab.with_extra_tree(&tree)?;
                lab.boot_pair()?;
                lab.route_via(LAN_VIP, WAN_VIP)?;
                start_pair(&mut lab, daemon)?;
                for sc in &scenarios {
                    let mut got = Vec::new();
                    let mut failed = 0;
                    for run in 1..=runs {
                        let slot = ((run - 1) as u64, runs as u64);
                        match trial(&mut lab, daemon, iv, sc, slot, &from) {
                            Ok(ms) => {
                                println!("{}\t{iv}\t{sc}\t{run}\tok\t{ms:.1}", daemon.name());
                                got.push(ms);
                            }
                            Err(e) => {
                                println!("{}\t{iv}\t{sc}\t{run}\tfail\t{e}", daemon.name());
                                failed += 1;
                                if settle(&mut lab, Duration::from_secs(60)).is_err() {
                                    return Err(format!("the pair did not recover: {e}"));
                                }
                            }
                        }
                    }
                    table.push((daemon, iv, sc.clone(), got, failed));
                }
                Ok(())
            })();
            if let Err(e) = result {
                println!("{} at {iv} ms: {e}", daemon.name());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    println!("\nVIP outage seen by the client, median ms over the runs (two QEMU guests, TCG)");
    println!(
        "{:<10} {:>9} {:>12} {:>12} {:>8}",
        "scenario", "interval", "pikemon", "keepalived", "ratio"
    );
    for &iv in &intervals {
        for sc in &scenarios {
            let med = |d: Daemon| {
                table
                    .iter()
                    .find(|(dd, i, s, _, _)| *dd == d && *i == iv && s == sc)
                    .and_then(|(_, _, _, v, _)| median(v))
            };
            let (p, k) = (med(Daemon::Pikemon), med(Daemon::Keepalived));
            let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
            let ratio = match (p, k) {
                (Some(p), Some(k)) if k > 0.0 => format!("{:.2}", p / k),
                _ => "-".into(),
            };
            println!(
                "{sc:<10} {:>9} {:>12} {:>12} {:>8}",
                format!("{iv} ms"),
                cell(p),
                cell(k),
                ratio
            );
        }
    }
    let failures: usize = table.iter().map(|t| t.4).sum();
    if failures > 0 {
        println!("{failures} trial(s) failed (see the lines above)");
    }
    ExitCode::SUCCESS
}
