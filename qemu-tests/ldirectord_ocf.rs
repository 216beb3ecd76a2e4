//! habox's ldirectord driven by resource-agents' `ocf:heartbeat:ldirectord` inside the guest, as
//! Pacemaker would run it (the agent and its shell library are in the image and run under
//! busybox sh), against the guest's real IPVS table and real servers on the WAN.

use crate::cluster::cluster;
use crate::lab::{LAN_VIP, REAL_SERVERS};
use crate::scenarios::{assert_every_real_server_answers, step};
use std::process::Stdio;
use std::time::Duration;

/// The agent with the OCF environment Pacemaker gives it.
const AGENT: &str = "env OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=ld \
     OCF_RESKEY_configfile=/etc/habox/ldirectord.cf OCF_RESKEY_ldirectord=/sbin/ldirectord \
     /usr/lib/ocf/resource.d/heartbeat/ldirectord";

#[test]
fn ocf_heartbeat_ldirectord_starts_monitors_and_stops_habox_ldirectord_on_real_ipvs() {
    let (mut lab, master) = cluster("hapocf");
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
    let service = format!("TCP  {vs} rr");
    let sh = lab.guest(master).sh();
    let (rc, _) = step(sh.run(
        "test -x /usr/lib/ocf/resource.d/heartbeat/ldirectord",
        Duration::from_secs(10),
    ));
    assert_eq!(
        rc, 0,
        "the image has no ocf:heartbeat:ldirectord: install resource-agents (make deps), then make image"
    );
    // The agent owns the service from here: the ldirectord rcS started leaves first.
    step(sh.ok("ldirectord /etc/habox/ldirectord.cf stop"));
    let table = step(sh.ok("ipvsadm -Ln"));
    assert!(!table.contains(&service), "{table}");

    let ra = |sh: &mut crate::console::Console, action: &str| {
        step(sh.run(&format!("{AGENT} {action}"), Duration::from_secs(30)))
    };
    let (rc, out) = ra(sh, "monitor");
    assert_eq!(rc, 7, "monitor before start (OCF_NOT_RUNNING):\n{out}");
    let (rc, out) = ra(sh, "start");
    assert_eq!(rc, 0, "start:\n{out}");
    let (rc, out) = ra(sh, "monitor");
    assert_eq!(rc, 0, "monitor after start:\n{out}");
    // The checks put both real servers in; the client reaches each through IPVS NAT.
    let table = step(sh.until(
        "ipvsadm -Ln",
        &format!("-> {}:80", REAL_SERVERS[1]),
        Duration::from_secs(20),
    ));
    assert!(table.contains(&service), "{table}");
    assert!(
        table.contains(&format!("-> {}:80", REAL_SERVERS[0])) && table.contains("Masq"),
        "{table}"
    );
    assert_every_real_server_answers(&lab, &vs);

    let sh = lab.guest(master).sh();
    let (rc, out) = ra(sh, "stop");
    assert_eq!(rc, 0, "stop:\n{out}");
    let (rc, out) = ra(sh, "monitor");
    assert_eq!(rc, 7, "monitor after stop (OCF_NOT_RUNNING):\n{out}");
    // No ldirectord process is left but, for a moment, the exited daemon's zombie until init
    // reaps it (stop waits for the exit, as OCF asks, not for init).
    let live = step(sh.ok(
        "for p in $(pidof ldirectord); do s=$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null); \
         [ -n \"$s\" ] && [ \"$s\" != Z ] && echo \"$p $s\"; done; true",
    ));
    assert!(
        live.trim().is_empty(),
        "ldirectord runs after the stop: {live}"
    );
    let table = step(sh.ok("ipvsadm -Ln"));
    assert!(!table.contains(&service), "stop left the service:\n{table}");
}
