//! TCP socket calls nix does not wrap: deferring the handshake's last ACK, and dissolving a
//! connection while keeping its socket.

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd};

/// Sets `TCP_DEFER_ACCEPT` on a socket before its connect. On a connecting socket Linux then
/// does not send the handshake's last ACK as a segment of its own but lets the first data
/// written carry it; if nothing is written within the delayed-ACK time, the pure ACK goes
/// out after all.
pub fn defer_handshake_ack(fd: impl AsFd) -> io::Result<()> {
    let secs: libc::c_int = 1;
    super::set_option(fd, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, &secs)
}

/// Dissolves a TCP socket's connection and keeps the socket for another connect(2):
/// connect(2) to an `AF_UNSPEC` address, which aborts the connection as a close with
/// SO_LINGER 0 does (a reset to a connected peer) and unbinds the local port. The reset
/// leaves ECONNRESET pending on the socket; the next connect(2) clears it (Linux starts each
/// connection with no error pending), so it is not asked for here.
pub fn disconnect(fd: impl AsFd) -> io::Result<()> {
    let unspec = libc::sockaddr {
        sa_family: libc::AF_UNSPEC as libc::sa_family_t,
        sa_data: [0; 14],
    };
    // We pass a pointer to a live sockaddr and its exact size.
    let r = unsafe {
        libc::connect(
            fd.as_fd().as_raw_fd(),
            std::ptr::from_ref(&unspec),
            mem::size_of_val(&unspec) as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
