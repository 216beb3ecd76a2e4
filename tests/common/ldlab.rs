//! The world of one ldirectord host test: a network namespace, a directory for configs,
//! records and server data, and the processes the test started. Each test file adds the
//! helpers it needs in its own `impl Lab` block. Dropping it ends every process of the
//! namespace (servers' own children included), the pid files of its daemons and the directory.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::{clean_ldirectord_pid_files, text, unique, Netns};

/// Polls `cond` every 50 ms for up to `secs` seconds; fails the test naming `what`.
pub fn wait_secs(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// `wait_secs` for up to 20 s.
pub fn wait(what: &str, cond: impl FnMut() -> bool) {
    wait_secs(what, 20, cond)
}

pub struct Lab {
    pub ns: Netns,
    pub dir: PathBuf,
    pub children: Vec<Child>,
}

impl Lab {
    pub fn new(prefix: &str) -> Lab {
        let ns = Netns::new(prefix);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique(&format!("ld{prefix}")));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        Lab {
            ns,
            dir,
            children: Vec::new(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn write(&self, name: &str, body: &str) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, body).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        p
    }

    /// The file's text, empty when it does not exist (yet).
    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// The IPVS record file (`LDIRECTORD_IPVS_RECORD`).
    pub fn rec(&self) -> String {
        self.read("ipvs.rec")
    }

    /// Kills background process `i` and reaps it.
    pub fn kill(&mut self, i: usize) {
        let _ = self.children[i].kill();
        let _ = self.children[i].wait();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // A server's own children (PostgreSQL's backends) live in our namespace only: end
        // them before the directory goes, so none writes into it afterwards.
        for _ in 0..50 {
            let out = Command::new("ip")
                .args(["netns", "pids", &self.ns.name])
                .output();
            let list = out.map(|o| text(&o).0).unwrap_or_default();
            if list.trim().is_empty() {
                break;
            }
            for pid in list.split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        clean_ldirectord_pid_files(&self.dir);
        let _ = fs::remove_dir_all(&self.dir);
    }
}
