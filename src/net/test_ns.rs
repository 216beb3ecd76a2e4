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

impl TempNs {
    /// Runs `f` in a thread of its own that enters this namespace first (setns moves only
    /// the calling thread), and gives back what it returns; a panic in `f` fails the test.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let name = self.0.clone();
        let t = std::thread::spawn(move || {
            crate::sys::netns::enter(&name).expect("enter netns");
            f()
        });
        t.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
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
