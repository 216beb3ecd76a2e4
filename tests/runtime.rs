//! The shared runtime seen from outside a process: the process title in /proc and `ps`, and the
//! pid-file lock between two processes. The child side runs in a re-executed copy of this test
//! binary (no fork in a threaded test harness).
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "HABOX_RUNTIME_CHILD";

fn child_mode() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// Child side: acts on the env, then waits to be looked at (bounded: 10 s).
#[test]
fn child_entry() {
    let Some(mode) = child_mode() else { return };
    match mode.as_str() {
        "title" => habox::sys::proctitle::set("pikemon: worker vc1=PMU").unwrap(),
        path => {
            let held = habox::sys::pidfile::PidFile::acquire(std::path::Path::new(path)).unwrap();
            println!("locked");
            std::thread::sleep(Duration::from_secs(10));
            drop(held);
            return;
        }
    }
    println!("ready");
    std::thread::sleep(Duration::from_secs(10));
}

fn spawn_child(mode: &str) -> std::process::Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the child's line (bounded).
    let mut out = child.stdout.take().unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    use std::io::Read;
    while start.elapsed() < Duration::from_secs(10) {
        if out.read(&mut byte).unwrap_or(0) == 0 {
            break;
        }
        buf.push(byte[0]);
        let s = String::from_utf8_lossy(&buf);
        if s.contains("ready") || s.contains("locked") {
            break;
        }
    }
    child
}

#[test]
fn process_title_is_visible_in_proc_and_ps() {
    if child_mode().is_some() {
        return;
    }
    let mut child = spawn_child("title");
    let pid = child.id();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    // PR_SET_NAME names the calling thread; the child calls it from a test thread.
    let comms: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .collect();
    let ps = Command::new("ps")
        .args(["-o", "args=", "-p", &pid.to_string()])
        .output()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(
        cmdline.starts_with("pikemon: worker vc1=PMU"),
        "cmdline: {cmdline:?}"
    );
    assert!(comms.iter().any(|c| c == "pikemon"), "comms: {comms:?}");
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert_eq!(ps.trim(), "pikemon: worker vc1=PMU");
}

#[test]
fn pid_file_held_by_another_process_says_already_running() {
    if child_mode().is_some() {
        return;
    }
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("runtime-{}.pid", std::process::id()));
    let mut child = spawn_child(path.to_str().unwrap());
    let err = habox::sys::pidfile::PidFile::acquire(&path).err();
    let holder = habox::sys::pidfile::PidFile::holder(&path);
    child.kill().unwrap();
    child.wait().unwrap();
    let err = err.expect("second acquire must fail");
    assert_eq!(
        err.to_string(),
        format!("already running [pid {}]", child.id())
    );
    assert_eq!(holder, Some(child.id() as i32));
    // The lock died with the process: the stale file is taken over.
    let held = habox::sys::pidfile::PidFile::acquire(&path).unwrap();
    drop(held);
}
