//! A lock held per network namespace: an abstract UNIX socket name, which the kernel keeps per
//! network namespace, frees when its holder exits however it exits, and leaves no file behind
//! for anyone to delete or steal. A daemon that owns the namespace's links (pikemon's
//! macvlans) holds one, whatever paths its config names.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};

/// The held name; released on drop.
#[derive(Debug)]
pub struct NetnsLock {
    _socket: UnixListener,
}

impl NetnsLock {
    /// Takes `name` in this network namespace: `Ok(None)` when another process holds it.
    pub fn acquire(name: &str) -> io::Result<Option<NetnsLock>> {
        let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
        match UnixListener::bind_addr(&addr) {
            Ok(socket) => Ok(Some(NetnsLock { _socket: socket })),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Whether process `pid` runs in this process's network namespace.
pub fn same_netns(pid: i32) -> bool {
    let ours = std::fs::read_link("/proc/self/ns/net");
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net"));
    matches!((ours, theirs), (Ok(a), Ok(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let name = format!("habox-test-{}", std::process::id());
        let first = NetnsLock::acquire(&name).unwrap();
        assert!(first.is_some());
        assert!(NetnsLock::acquire(&name).unwrap().is_none());
        drop(first);
        assert!(NetnsLock::acquire(&name).unwrap().is_some());
        assert!(same_netns(std::process::id() as i32));
    }
}
