//! Raw AF_PACKET calls nix does not wrap with a safe API: opening a socket for an arbitrary
//! EtherType, binding it to an interface (`sockaddr_ll`) and joining a link-layer multicast
//! group (`PACKET_ADD_MEMBERSHIP`). See packet(7).

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Opens a non-blocking, close-on-exec `SOCK_RAW` packet socket for EtherType `ethertype`
/// (host order; `libc::ETH_P_ALL as u16` for every frame).
pub fn open(ethertype: u16) -> io::Result<OwnedFd> {
    let proto = i32::from(ethertype.to_be());
    // socket(2) takes no pointers; the result is checked before it is owned.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            proto,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn sockaddr_ll(ifindex: u32, ethertype: u16) -> io::Result<libc::sockaddr_ll> {
    // sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = ethertype.to_be();
    sa.sll_ifindex = i32::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index too large"))?;
    Ok(sa)
}

/// Binds a packet socket to interface `ifindex` and EtherType `ethertype` (host order).
pub fn bind(fd: &OwnedFd, ifindex: u32, ethertype: u16) -> io::Result<()> {
    let sa = sockaddr_ll(ifindex, ethertype)?;
    // We pass a pointer to a live sockaddr_ll and its exact size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const libc::sockaddr_ll as *const libc::sockaddr,
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Adds (`join = true`) or drops a link-layer multicast membership on `ifindex`.
pub fn multicast_membership(
    fd: &OwnedFd,
    ifindex: u32,
    mac: [u8; 6],
    join: bool,
) -> io::Result<()> {
    // packet_mreq is plain old data; all-zero is a valid value.
    let mut mreq: libc::packet_mreq = unsafe { mem::zeroed() };
    mreq.mr_ifindex = i32::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index too large"))?;
    mreq.mr_type = libc::PACKET_MR_MULTICAST as u16;
    mreq.mr_alen = 6;
    mreq.mr_address[..6].copy_from_slice(&mac);
    let opt = if join {
        libc::PACKET_ADD_MEMBERSHIP
    } else {
        libc::PACKET_DROP_MEMBERSHIP
    };
    // We pass a pointer to a live packet_mreq and its exact size.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            opt,
            &mreq as *const libc::packet_mreq as *const libc::c_void,
            mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
