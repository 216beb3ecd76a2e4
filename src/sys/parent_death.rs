//! A child that ends with the process that started it (`PR_SET_PDEATHSIG`, prctl(2)): for a
//! helper that serves only its parent and would otherwise run on, alone, once the parent
//! is killed (SIGKILL, the OOM killer).

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The child started from `cmd` gets SIGKILL when this process's calling thread ends (the
/// kernel's rule: the thread that forked, so call from the thread that lives as long as the
/// process). A child whose parent died before the prctl took effect does not start.
pub fn end_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // The closure runs in the child between fork and exec: only prctl and getppid, both
    // async-signal-safe, and errors made without allocating.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent died between fork and prctl: no signal will ever come.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::time::{Duration, Instant};

    /// The kernel's parent is the forking thread: a thread that starts the child and ends
    /// stands for a parent that is killed.
    #[test]
    fn a_child_ends_with_the_thread_that_started_it() {
        let mut child = std::thread::spawn(|| {
            let mut cmd = Command::new("sleep");
            cmd.arg("30");
            end_with_parent(&mut cmd);
            cmd.spawn().unwrap()
        })
        .join()
        .unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                panic!("the child outlived its parent by 5 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    }
}
