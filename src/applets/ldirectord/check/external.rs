//! checktype=external (and external-perl): `checkcommand VIP VPORT RIP RPORT` as a child
//! process (through /bin/sh, so the command may carry arguments); up when it exits 0.
//! A child still running at checktimeout is killed with its process group and reaped later.
//! The arguments are the original's (check_external): IPv6 addresses in brackets, and RPORT
//! the real's own port (0 when it has none), not the check port. The fallbackcommand's
//! arguments (`start|stop VIP:VPORT PROTO`) are written the same way.

use std::io;
use std::net::IpAddr;
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

/// An address as the original hands it to scripts: IPv6 in brackets (`[2001:db8::10]`).
pub fn script_addr(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// `checkcommand`'s four arguments: VIP (or fwmark), VPORT, RIP, the real's port.
pub fn arguments(v: &Virtual, r: &Real) -> [String; 4] {
    let (vip, vport) = virtual_args(v);
    [vip, vport, script_addr(r.addr), r.port.to_string()]
}

/// The shell line of `fallbackcommand`: `COMMAND start|stop VIP:VPORT PROTO`.
pub fn fallback_command_line(command: &str, start: bool, v: &Virtual) -> String {
    let (vip, vport) = virtual_args(v);
    let word = if start { "start" } else { "stop" };
    format!("{command} {word} {vip}:{vport} {}", v.protocol.name())
}

impl External {
    pub fn start(v: &Virtual, r: &Real) -> io::Result<External> {
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{} \"$@\"", v.checkcommand))
            .arg(&v.checkcommand)
            .args(arguments(v, r))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applets::ldirectord::config::parse;
    use crate::applets::ldirectord::resolve::SystemResolver;

    fn virt(text: &str) -> Virtual {
        let c = parse("t.cf", text, &SystemResolver).unwrap_or_else(|e| panic!("{e}"));
        c.virtuals
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no virtual"))
    }

    /// IPv6 addresses reached the scripts without their brackets (`start 2001:db8::1:80
    /// tcp`, `2001:db8::1 80 2001:db8::10 ...`), and an external check got the check port
    /// as its 4th argument; the Perl ldirectord passes `[2001:db8::10]` and the real's own
    /// port (0 when it has none).
    #[test]
    fn script_arguments_lost_the_ipv6_brackets_and_gave_the_check_port() {
        let v = virt(
            "virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::10]:8080 masq\n\treal6=[2001:db8::11] gate\n\
             \tchecktype=external\n\tcheckport=9000\n",
        );
        assert_eq!(
            arguments(&v, &v.reals[0]),
            ["[2001:db8::1]", "80", "[2001:db8::10]", "8080"]
        );
        assert_eq!(
            arguments(&v, &v.reals[1]),
            ["[2001:db8::1]", "80", "[2001:db8::11]", "0"]
        );
        assert_eq!(
            fallback_command_line("/bin/fb", true, &v),
            "/bin/fb start [2001:db8::1]:80 tcp"
        );
        let v4 = virt("virtual=198.51.100.10:53\n\treal=198.51.100.21:5353 masq\n\tcheckport=53\n");
        assert_eq!(
            arguments(&v4, &v4.reals[0]),
            ["198.51.100.10", "53", "198.51.100.21", "5353"]
        );
        assert_eq!(
            fallback_command_line("/bin/fb", false, &v4),
            "/bin/fb stop 198.51.100.10:53 udp"
        );
        let fw = virt("virtual=7\n\treal=198.51.100.21:80 gate\n");
        assert_eq!(
            arguments(&fw, &fw.reals[0]),
            ["7", "0", "198.51.100.21", "80"]
        );
    }
}
