//! The ICMPv6 socket option nix does not wrap: `ICMP6_FILTER` (RFC 3542 §3.2), the per-type
//! filter of a raw ICMPv6 socket, so a pinger is not woken by every Neighbor Discovery and
//! MLD message on the link.

use std::io;
use std::os::fd::AsFd;

/// `ICMP6_FILTER` at level `IPPROTO_ICMPV6` (linux/icmpv6.h).
const ICMP6_FILTER: libc::c_int = 1;

/// Lets only the ICMPv6 types in `pass` through to the socket (Linux: a set bit blocks).
pub fn pass_only(fd: impl AsFd, pass: &[u8]) -> io::Result<()> {
    let mut filter = [u32::MAX; 8];
    for &t in pass {
        filter[usize::from(t >> 5)] &= !(1u32 << (t & 31));
    }
    // `struct icmp6_filter` is eight u32.
    super::set_option(fd, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter)
}
