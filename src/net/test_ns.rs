//! A network namespace of a unit test's own, with its loopback up, deleted on drop: the socket
//! tests send only there.

use std::process::Command;

pub struct TempNs(pub String);

impl TempNs {
    /// `PREFIX<pid>`, created with `lo` up (the test fails if `ip` does).
    pub fn new(prefix: &str) -> TempNs {
        // Owned before it exists: a failure half-way still deletes it.
        let ns = TempNs(format!("{prefix}{}", std::process::id()));
        ip(&["netns", "add", &ns.0]);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }
}

impl Drop for TempNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let ok = Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ip {args:?}");
}
