//! `make run`: boots the appliance pair (fw-a, fw-b) with the default configuration, plus the
//! client and server namespaces, shows the cluster state, then attaches the terminal to fw-a's
//! serial console (Ctrl-] detaches and shuts the pair down; a guest rebooted from its console
//! boots again on the same disk). Without a terminal it runs a short scripted demonstration
//! (election, a hard failure of the master, the outage the client saw) and exits 0.

mod console;
mod lab;

use lab::{note, Lab, LAN_VIP, NODES, WAN_VIP};
use std::io::{IsTerminal, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

fn show(lab: &mut Lab, node: &str, command: &str) -> Result<(), String> {
    let (_, out) = lab.guest(node).sh().run(command, Duration::from_secs(30))?;
    println!("{node}# {command}");
    for line in out.lines() {
        println!("    {line}");
    }
    Ok(())
}

fn cluster_state(lab: &mut Lab) -> Result<(), String> {
    println!("\n=== cluster state ===");
    for node in &NODES {
        show(
            lab,
            node.name,
            "pikemon -f /etc/habox/pikemon.cfg -c status",
        )?;
        show(
            lab,
            node.name,
            "ip -o -4 addr show | awk '{ print $2, $4 }'",
        )?;
        show(lab, node.name, "logread | grep -o 'rcS: .*'")?;
    }
    Ok(())
}

/// Which guest holds the LAN VIP on an interface that is up.
fn vip_holder(lab: &mut Lab) -> Result<Option<&'static str>, String> {
    for g in lab.guests.iter_mut().filter(|g| g.console.is_some()) {
        if lab::holds_vip(g.sh())? {
            return Ok(Some(g.node.name));
        }
    }
    Ok(None)
}

/// The longest silence between two replies in `ping -D` output, in seconds.
fn longest_gap(ping_output: &str) -> Option<f64> {
    let stamps: Vec<f64> = ping_output
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect();
    stamps
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(None, |m, g| Some(m.map_or(g, |m: f64| m.max(g))))
}

fn failover_demo(lab: &mut Lab) -> Result<(), String> {
    lab.route_via(LAN_VIP, WAN_VIP)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let master = loop {
        if let Some(m) = vip_holder(lab)? {
            break m;
        }
        if Instant::now() > deadline {
            return Err("no master elected within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    println!("\n=== election: {master} is master of {LAN_VIP} ===");
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.client,
            "ping",
            "-D",
            "-n",
            "-i",
            "0.2",
            "-W",
            "1",
            "-w",
            "40",
            LAN_VIP,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("ping: {e}"))?;
    std::thread::sleep(Duration::from_secs(3));
    println!("=== failover: killing {master}'s QEMU (hard failure) ===");
    lab.kill_guest(master);
    let deadline = Instant::now() + Duration::from_secs(30);
    while vip_holder(lab)?.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(3));
    let _ = Command::new("kill")
        .args(["-INT", &ping.id().to_string()])
        .status();
    let out = ping.wait_with_output().map_err(|e| format!("ping: {e}"))?;
    let out = String::from_utf8_lossy(&out.stdout);
    match (vip_holder(lab)?, longest_gap(&out)) {
        (Some(new), Some(gap)) => {
            println!("=== {new} took over; the client's pings stopped for {gap:.2} s ===");
            // What told the new master that the old one was gone: the reason of its role
            // (a silent peer after dead-interval, the carrier of a heart-beat cable, or the
            // death-watch), as its status reports it.
            let (_, status) = lab.guest(new).sh().run(
                "pikemon -f /etc/habox/pikemon.cfg -c status",
                Duration::from_secs(30),
            )?;
            let reason = status
                .lines()
                .find_map(|l| l.split_once(" reason ").map(|(_, r)| r.trim().to_string()))
                .unwrap_or_else(|| "unknown".to_string());
            println!("=== detected by: {reason} ===");
        }
        (new, _) => println!("=== after the failure: master {new:?}; pings:\n{out}"),
    }
    Ok(())
}

/// Attaches the terminal to fw-a's console until Ctrl-]. Both consoles are left to the user
/// (QEMU serves one client per console). A guest that exits by `reboot` (QEMU runs with
/// -no-reboot) is booted again on the same disk, and fw-a's console is attached again.
fn attach(lab: &mut Lab) -> Result<(), String> {
    for node in &NODES {
        let g = lab.guest(node.name);
        if node.name == "fw-a" {
            g.sh().run("stty echo", Duration::from_secs(10))?;
        }
        if let Some(c) = g.console.take() {
            c.close();
        }
    }
    let path = lab.console_path("fw-a");
    println!("\n=== fw-a's serial console. Detach with Ctrl-] (the pair is then shut down). ===");
    println!(
        "=== fw-b's console: socat -,raw,echo=0,escape=0x1d UNIX-CONNECT:{} ===",
        lab.console_path("fw-b").display()
    );
    println!(
        "=== client: ip netns exec {} sh    server: ip netns exec {} sh ===\n",
        lab.client, lab.server
    );
    loop {
        let _ = std::io::stdout().flush();
        // retry: a restarted QEMU creates its console socket a moment after it starts.
        let mut socat = Command::new("socat")
            .arg("-,raw,echo=0,escape=0x1d")
            .arg(format!(
                "UNIX-CONNECT:{},retry=100,interval=0.1",
                path.display()
            ))
            .spawn()
            .map_err(|e| format!("socat: {e}"))?;
        let status = loop {
            if let Some(status) = socat.try_wait().map_err(|e| format!("socat: {e}"))? {
                break status;
            }
            restart_rebooted(lab, "fw-b")?;
            std::thread::sleep(Duration::from_millis(200));
        };
        // The console ended with fw-a's QEMU (a reboot), or the user detached.
        let ended = Instant::now() + Duration::from_secs(2);
        let mut rebooted = false;
        while !rebooted && Instant::now() < ended {
            rebooted = restart_rebooted(lab, "fw-a")?;
            std::thread::sleep(Duration::from_millis(100));
        }
        if !rebooted {
            println!("\ndetached ({status}); shutting the pair down");
            return Ok(());
        }
    }
}

/// Boots `name` again on its disk when it exited by `reboot` (its console left to the user).
fn restart_rebooted(lab: &mut Lab, name: &str) -> Result<bool, String> {
    let restarted = lab.restart_if_rebooted(name, false)?;
    if restarted {
        print!("\r\n=== {name} rebooted: QEMU started again on the same disk ===\r\n");
    }
    Ok(restarted)
}

fn main() -> ExitCode {
    // Ctrl-C / kill while the pair runs: take the namespaces (and the guests) down, then exit.
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
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let result = (|| -> Result<(), String> {
        println!(
            "booting fw-a and fw-b (QEMU, {}) ...",
            std::env::var("QEMU_ACCEL").unwrap_or_else(|_| "tcg".into())
        );
        let mut lab = Lab::new("run")?;
        lab.boot_pair()?;
        for g in &lab.guests {
            println!("{} up in {:.1} s", g.node.name, g.boot_time.as_secs_f64());
        }
        cluster_state(&mut lab)?;
        if tty {
            attach(&mut lab)
        } else {
            failover_demo(&mut lab)
        }
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            note(&format!("make run: {e}"));
            ExitCode::FAILURE
        }
    }
}
