//! The only place with `unsafe`: raw fd borrowing, process title, namespaces, pid-file locks,
//! daemonizing. Every `unsafe` block carries a one-line reason.
#![allow(unsafe_code)]

pub mod daemon;
pub mod icmp6;
pub mod netns;
pub mod packet;
pub mod pidfile;
pub mod proctitle;
pub mod random;
pub mod sched;

use std::os::fd::{BorrowedFd, RawFd};

/// Borrows a raw fd for a call that needs `BorrowedFd` (poll, setsockopt).
pub fn borrow_fd(fd: RawFd) -> BorrowedFd<'static> {
    // The event loop's callers keep registered fds open until they deregister them.
    unsafe { BorrowedFd::borrow_raw(fd) }
}
