//! The only place with `unsafe`: raw fd borrowing, process title, namespaces, pid-file locks,
//! daemonizing, getaddrinfo, a child's death signal. Every `unsafe` block carries a one-line
//! reason.
#![allow(unsafe_code)]

pub mod addrinfo;
pub mod daemon;
pub mod file;
pub mod icmp;
pub mod icmp6;
pub mod memfd;
pub mod netns;
pub mod netns_lock;
pub mod packet;
pub mod parent_death;
pub mod pidfile;
pub mod procfs;
pub mod proctitle;
pub mod random;
pub mod rlimit;
pub mod sched;
pub mod tcp;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

/// setsockopt(2) with `value` as the option's bytes: the socket options nix does not wrap
/// (ICMP filters, BPF programs, packet memberships, TCP_DEFER_ACCEPT).
pub fn set_option<T: Copy>(
    fd: impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> std::io::Result<()> {
    // We pass a pointer to a live `T` and its exact size; the kernel copies it before
    // returning (a pointer inside it, a BPF program's, is the caller's to keep alive).
    let r = unsafe {
        libc::setsockopt(
            fd.as_fd().as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(value).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Borrows a raw fd for a call that needs `BorrowedFd` (poll, setsockopt).
pub fn borrow_fd(fd: RawFd) -> BorrowedFd<'static> {
    // The event loop's callers keep registered fds open until they deregister them.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Takes ownership of `raw`, an fd this process inherited and was told about (by its
/// parent, in the environment), after checking that it is open; sets close-on-exec so that
/// the process's own children do not inherit it in turn.
pub fn adopt_inherited(raw: RawFd) -> std::io::Result<std::os::fd::OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    if raw <= 2 {
        return Err(std::io::Error::other("not a socket (a standard stream)"));
    }
    fcntl(borrow_fd(raw), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    // F_SETFD succeeded, so `raw` is open; the parent named it to this process alone.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(raw) })
}

/// Lets a write to a closed pipe end the process (SIGPIPE's default action), as it ends
/// `ping` or `cat`: the Rust runtime ignores SIGPIPE, so `lkping | head -2` pinged on after
/// `head` had exited. Only for command-line output; daemons keep ignoring it (their writes to
/// sockets report EPIPE instead).
pub fn default_sigpipe() {
    // signal(2) with SIG_DFL installs no handler; nothing else in the process depends on
    // SIGPIPE being ignored at this point (called first thing by the command-line paths).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
