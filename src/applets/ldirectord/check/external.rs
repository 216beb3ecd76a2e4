//! checktype=external (and external-perl): `checkcommand VIP VPORT RIP RPORT` as a child
//! process (through /bin/sh, so the command may carry arguments); up when it exits 0.
//! A child still running at checktimeout is killed with its process group and reaped later.

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use super::{virtual_args, Check, Poll};
use crate::applets::ldirectord::config::{Real, Virtual};
use crate::applets::ldirectord::core::Outcome;

/// Killed children not reaped yet; `reap` collects them (on SIGCHLD).
static KILLED: Mutex<Vec<Child>> = Mutex::new(Vec::new());

/// A running external check.
pub struct External {
    child: Option<Child>,
    command: String,
}

impl External {
    pub fn start(v: &Virtual, r: &Real) -> io::Result<External> {
        let (vip, vport) = virtual_args(v);
        let rport = v.check_port(r);
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{} \"$@\"", v.checkcommand))
            .arg(&v.checkcommand)
            .arg(vip)
            .arg(vport)
            .arg(r.addr.to_string())
            .arg(rport.to_string())
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()?;
        Ok(External {
            child: Some(child),
            command: v.checkcommand.clone(),
        })
    }
}

impl Check for External {
    fn fd(&self) -> Option<RawFd> {
        None
    }

    fn advance(&mut self) -> Poll {
        let Some(child) = self.child.as_mut() else {
            return Poll::Ready(Outcome::Down("no child".into()));
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                if status.success() {
                    Poll::Ready(Outcome::Up(format!("{} exited 0", self.command)))
                } else {
                    Poll::Ready(Outcome::Down(format!("{} {status}", self.command)))
                }
            }
            Ok(None) => Poll::Child,
            Err(e) => Poll::Ready(Outcome::Down(format!("{}: {e}", self.command))),
        }
    }
}

impl Drop for External {
    /// Timed out (or the daemon stops): kill the whole group, reap now or later.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::SIGKILL,
                );
            }
            if !matches!(child.try_wait(), Ok(Some(_))) {
                if let Ok(mut list) = KILLED.lock() {
                    list.push(child);
                }
            }
        }
    }
}

/// Reaps killed children that have exited.
pub fn reap() {
    if let Ok(mut list) = KILLED.lock() {
        list.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_)) | Err(_)));
    }
}

/// Takes a child the daemon does not wait for (fallbackcommand, callback, sendmail) so it
/// is reaped when it exits.
pub fn adopt(child: Child) {
    if let Ok(mut list) = KILLED.lock() {
        list.push(child);
    }
}
