//! The node's configuration disk: a config changed on the console and saved with `habox-save`
//! is there after a reboot, and maintenance (pikemon's status file on the disk) survives one.

use crate::cluster::{cluster, one_master, other, FAILOVER};
use crate::console::Console;
use crate::lab::{note, Lab, LAN_VIP};
use crate::scenarios::{send, step, Stream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CFG: &str = "/etc/habox/pikemon.cfg";

/// `ping -D` from the client to the VIP every 200 ms until stopped (bounded by -w).
fn start_ping(lab: &Lab) -> Child {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.client,
            "ping",
            "-D",
            "-n",
            "-i",
            "0.2",
        ])
        .args(["-W", "1", "-w", "600", LAN_VIP])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("ping: {e}"))
}

/// Seconds since the Unix epoch (the clock of `ping -D`).
fn epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What the client's ping saw.
struct PingResult {
    sent: u32,
    answered: u32,
    /// The longest silence between two replies (s) and when it began (epoch s).
    gap: f64,
    gap_at: f64,
}

/// Stops the ping and reads its output.
fn stop_ping(ping: Child) -> PingResult {
    let _ = Command::new("kill")
        .args(["-INT", &ping.id().to_string()])
        .status();
    let out = ping
        .wait_with_output()
        .unwrap_or_else(|e| panic!("ping: {e}"));
    let out = String::from_utf8_lossy(&out.stdout);
    let stamps: Vec<f64> = out
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect();
    let (gap, gap_at) = stamps
        .windows(2)
        .map(|w| (w[1] - w[0], w[0]))
        .fold((0.0, 0.0), |m, g| if g.0 > m.0 { g } else { m });
    // "N packets transmitted, M received, ..."
    let summary = out
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary in\n{out}"));
    let mut numbers = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok());
    PingResult {
        sent: numbers.next().unwrap_or(0),
        answered: numbers.next().unwrap_or(0),
        gap,
        gap_at,
    }
}

#[test]
fn config_saved_on_the_console_survives_a_reboot_and_the_pair_reforms_without_an_outage() {
    let (mut lab, master) = cluster("hapsave");
    // fw-b is the node changed and rebooted: fw-a keeps the role (pinned by `take`).
    if master == "fw-b" {
        step(
            lab.guest("fw-a")
                .sh()
                .ok(&format!("pikemon -f {CFG} -c take 1")),
        );
        one_master(&mut lab, Some("fw-a"), FAILOVER);
    }
    let a_master_since = Instant::now();
    let b = lab.guest("fw-b").sh();
    assert!(
        b.transcript()
            .contains("rcS: config disk: /dev/vda was blank, formatted (ext2)"),
        "fw-b did not format its blank disk:\n{}",
        b.transcript()
    );
    let ping = start_ping(&lab);
    let t0 = epoch();
    std::thread::sleep(Duration::from_secs(2));

    // A value test-pikemon rejects is not saved (and nothing is reloaded).
    let b = lab.guest("fw-b").sh();
    step(b.ok(&format!(
        "sed -i 's/hello-interval 200ms;/hello-interval 5ms;/' {CFG}"
    )));
    let (rc, out) = step(b.run("habox-save", Duration::from_secs(30)));
    assert_eq!(rc, 1, "habox-save accepted a bad config:\n{out}");
    assert!(
        out.contains("pikemon.cfg:") && out.contains("5ms is out of range"),
        "{out}"
    );
    assert!(out.contains("nothing saved"), "{out}");
    step(b.ok("test ! -e /persist/etc/habox"));

    // The accepted change is saved and pikemon reloaded by the HUP hand-over. A file deleted
    // before the save stays deleted after the reboot (a_deleted_config_file_stays_deleted_...).
    step(b.ok(&format!(
        "sed -i 's/hello-interval 5ms;/hello-interval 300ms;/' {CFG}"
    )));
    step(b.ok("rm /etc/habox/ldirectord.cf"));
    let out = step(b.ok("habox-save"));
    assert!(out.contains("pikemon reloaded"), "{out}");
    assert!(
        out.contains("habox-save: not saved: /etc/nftables.conf, /etc/sysctl.conf"),
        "habox-save does not say what it leaves out:\n{out}"
    );
    step(b.ok("grep -q 'hello-interval 300ms;' /persist/etc/habox/pikemon.cfg"));
    // The running fw-b now advertises other timers: fw-a shows the drift (the new config runs).
    step(lab.guest("fw-a").sh().until(
        &format!("pikemon -f {CFG} -c status"),
        "config drift",
        Duration::from_secs(20),
    ));

    // fw-b boots without the host's key this time: the saved configuration's (this run's key,
    // installed from fw_cfg at the first boot) is used, and the console says so.
    let t_reboot = epoch() - t0;
    let host_key = lab.key.take();
    let took = step(lab.reboot_guest("fw-b"));
    lab.key = host_key;
    let t_booted = epoch() - t0;
    let b = lab.guest("fw-b").sh();
    let boot = b.transcript();
    assert!(
        boot.contains("rcS: config disk: /etc/habox restored: replaced by the saved configuration"),
        "{boot}"
    );
    a_deleted_config_file_stays_deleted_after_save_and_reboot(b);
    a_saved_key_says_where_it_came_from(b);
    let cfg = step(b.ok(&format!("grep hello-interval {CFG}")));
    assert!(cfg.contains("hello-interval 300ms;"), "{cfg}");
    // The pair re-forms: fw-b sees fw-a alive, fw-a still sees fw-b's changed timers.
    step(b.until(
        &format!("pikemon -f {CFG} -c status"),
        "peer 1 incarnation",
        Duration::from_secs(30),
    ));
    step(b.until(
        &format!("pikemon -f {CFG} -c status | grep '^peer'"),
        "alive",
        Duration::from_secs(30),
    ));
    step(lab.guest("fw-a").sh().until(
        &format!("pikemon -f {CFG} -c status"),
        "config drift",
        Duration::from_secs(30),
    ));
    one_master(&mut lab, Some("fw-a"), Duration::from_secs(5));
    // `habox-save -r` forgets the saved configuration (the next boot takes the defaults).
    let b = lab.guest("fw-b").sh();
    let out = step(b.ok("habox-save -r"));
    assert!(out.contains("saved configuration removed"), "{out}");
    step(b.ok("test ! -e /persist/etc/habox"));
    std::thread::sleep(Duration::from_secs(2));
    let p = stop_ping(ping);
    note(&format!(
        "hapsave: fw-b reboot {:.1}s (at +{t_reboot:.1}s, up at +{t_booted:.1}s); client: {} of {} \
         pings answered in {:.1}s, longest wait between replies {:.2}s at +{:.1}s",
        took.as_secs_f64(),
        p.answered,
        p.sent,
        epoch() - t0,
        p.gap,
        p.gap_at - t0
    ));
    // No outage: every ping was answered (the one in flight when ping was stopped aside). A
    // late batch of replies is TCG on a loaded host (tcpdump showed fw-a answering every
    // request, some 0.7 s late, with no ARP or role change), not a gap in the service.
    assert!(p.sent > 20, "the client's ping did not run");
    assert!(
        p.answered + 1 >= p.sent,
        "the client lost {} of {} pings",
        p.sent - p.answered,
        p.sent
    );
    // fw-a held the role throughout (its role's age covers the test); fw-b's new boot never
    // claimed it.
    let view = step(
        lab.guest("fw-a")
            .sh()
            .ok(&format!("pikemon -f {CFG} -c status")),
    );
    let since: u64 = view
        .lines()
        .find(|l| l.starts_with("vc FW ") && l.contains(" role Master "))
        .and_then(|l| l.split(" since ").nth(1)?.split('s').next()?.parse().ok())
        .unwrap_or_else(|| panic!("fw-a is not Master:\n{view}"));
    assert!(
        since + 1 >= a_master_since.elapsed().as_secs(),
        "fw-a's role is younger than the test:\n{view}"
    );
    let b_log = step(lab.guest("fw-b").sh().ok("logread | grep 'vc FW:' || true"));
    assert!(!b_log.contains("=> Master"), "{b_log}");
}

/// Regression: the restore copied the saved /etc/habox over the image's defaults, so a file
/// deleted and saved (`rm /etc/habox/ldirectord.cf; habox-save; reboot`) came back. fw-b's
/// console after its reboot: the file is gone and ldirectord was not started.
fn a_deleted_config_file_stays_deleted_after_save_and_reboot(b: &mut Console) {
    step(b.ok("test ! -e /etc/habox/ldirectord.cf && test ! -e /persist/etc/habox/ldirectord.cf"));
    let boot = b.transcript();
    assert!(
        boot.contains("rcS: ldirectord: /etc/habox/ldirectord.cf missing, not started"),
        "{boot}"
    );
}

/// Regression: a saved pike.key silently overrode the image's (and the host's key replaced it
/// without a word). Booted without a fw_cfg key on a disk with a saved configuration, the
/// console says the key is the saved one and that the image has another.
fn a_saved_key_says_where_it_came_from(b: &mut Console) {
    let boot = b.transcript();
    assert!(
        boot.contains(
            "rcS: HMAC key: from the saved configuration (/persist/etc/habox/pike.key), \
             not the image's (another key)"
        ),
        "{boot}"
    );
    assert!(!boot.contains("HMAC key: from the host"), "{boot}");
    step(b.ok("cmp -s /etc/habox/pike.key /persist/etc/habox/pike.key"));
}

#[test]
fn maintenance_on_survives_a_reboot_and_the_node_stays_backup() {
    let (mut lab, _) = cluster("hapmaint");
    step(
        lab.guest("fw-a")
            .sh()
            .ok(&format!("pikemon -f {CFG} -c maintenance on")),
    );
    one_master(&mut lab, Some("fw-b"), FAILOVER);
    let status = step(lab.guest("fw-a").sh().ok("cat /var/lib/pikemon/status"));
    assert!(status.contains("maintenance 1"), "{status}");
    step(
        lab.guest("fw-a")
            .sh()
            .ok("grep -q ' /var/lib/pikemon ' /proc/mounts"),
    );

    step(lab.reboot_guest("fw-a"));
    let a = lab.guest("fw-a").sh();
    // After its start-up wait (Init) the node settles as Backup, still in maintenance, and its
    // boot counter went on from the disk's status file.
    let view = step(a.until(
        &format!("pikemon -f {CFG} -c status"),
        " role Backup ",
        Duration::from_secs(30),
    ));
    assert!(view.contains("maintenance: on"), "{view}");
    assert!(!view.contains(" boot 1 "), "{view}");
    step(lab.guest("fw-b").sh().until(
        &format!("pikemon -f {CFG} -c status"),
        "peer: in maintenance",
        Duration::from_secs(30),
    ));
    // Several dead-intervals after the boot, fw-b still holds the VIP.
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        one_master(&mut lab, Some("fw-b"), Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(500));
    }
    // `habox-save -n` saves without reloading: the same pikemon runs on.
    let a = lab.guest("fw-a").sh();
    let before = step(a.ok("cat /run/pikemon.pid"));
    let out = step(a.ok("habox-save -n"));
    assert!(
        out.contains("/etc/habox saved") && !out.contains("reloaded"),
        "{out}"
    );
    assert_eq!(step(a.ok("cat /run/pikemon.pid")), before);
    step(a.ok(&format!("pikemon -f {CFG} -c maintenance off")));
    let view = step(a.ok(&format!("pikemon -f {CFG} -c status")));
    assert!(!view.contains("maintenance: on"), "{view}");
    // fw-b, the Master, is rebooted in turn (a new pair boot would cost CI half a minute).
    a_clean_reboot_of_the_master_hands_over_before_conntrackd_and_ldirectord_stop(&mut lab, "fw-b");
}

/// Regression: rcK sent TERM to pikemon, ldirectord and ifcheckd together and ran `conntrackd -k`
/// at once, while pikemon (a Master keeps the VIPs until the peer has them up) still needed
/// conntrackd for its release and the IPVS service. `reboot` typed on the Master's console: rcK
/// says pikemon exited before it stops the others, the peer takes over, and the client's
/// established TCP stream through the VIPs survives the reboot.
fn a_clean_reboot_of_the_master_hands_over_before_conntrackd_and_ldirectord_stop(
    lab: &mut Lab,
    master: &str,
) {
    let peer = other(master);
    one_master(lab, Some(master), Duration::from_secs(5));
    let (stream, mut input) = Stream::open(lab, 5020);
    send(&mut input, "before-reboot\n");
    assert!(
        stream.wait_for("before-reboot", Duration::from_secs(20)),
        "stream did not start"
    );
    // Time for conntrackd to carry the established state to the peer.
    std::thread::sleep(Duration::from_secs(2));
    step(lab.reboot_guest(master));
    let shutdown = lab.guest(master).previous_boot.clone();
    let shutdown = shutdown
        .rfind("rcK: pikemon")
        .and_then(|at| shutdown.get(at..))
        .unwrap_or_else(|| panic!("{master}: rcK did not stop pikemon:\n{shutdown}"));
    let exited = shutdown.find("rcK: pikemon exited after ");
    let others = shutdown.find("rcK: stopping ldirectord, ifcheckd and conntrackd");
    assert!(
        matches!((exited, others), (Some(e), Some(o)) if e < o),
        "{master}: pikemon did not exit before the other daemons were stopped:\n{shutdown}"
    );
    one_master(lab, Some(peer), FAILOVER);
    send(&mut input, "after-reboot\n");
    assert!(
        stream.wait_for("after-reboot", Duration::from_secs(15)),
        "the stream broke across the Master's reboot: {:?}",
        stream.received()
    );
    assert_eq!(stream.received(), "before-reboot\nafter-reboot\n");
}
