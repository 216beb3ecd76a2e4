//! Filters of a raw IPv4 ICMP socket: `ICMP_FILTER` (raw(7)), the per-type filter nix does
//! not wrap, and a BPF program on the echo identifier, so a pinger is not woken by every
//! echo request that reaches the host (a realtime pikemon worker was, once per packet, for
//! each ping of a VIP).

use std::io;
use std::os::fd::AsFd;

use super::packet::{attach_filter, insn, JEQ_K, RET_K};

/// `ICMP_FILTER` at level `SOL_RAW` (linux/icmp.h).
const ICMP_FILTER: libc::c_int = 1;

/// Lets only the ICMP types in `pass` (each below 32) through to the socket; the kernel
/// passes types from 32 up whatever the filter says (a set bit blocks).
pub fn pass_only(fd: impl AsFd, pass: &[u8]) -> io::Result<()> {
    let mut filter: u32 = u32::MAX;
    for &t in pass.iter().filter(|&&t| t < 32) {
        filter &= !(1u32 << t);
    }
    // `struct icmp_filter` is one u32.
    super::set_option(fd, libc::SOL_RAW, ICMP_FILTER, &filter)
}

/// Attaches a classic BPF program to a raw IPv4 ICMP socket that accepts only echo replies
/// carrying identifier `ident` (the program sees the IP header first, of any length) and
/// drops everything else in the kernel, before it wakes anybody: what iputils ping filters.
pub fn accept_only_echo_replies(fd: impl AsFd, ident: u16) -> io::Result<()> {
    const MSH: u16 = (libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH) as u16;
    const LDB_IND: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_IND) as u16;
    const LDH_IND: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_IND) as u16;
    let prog = [
        // X = the IP header's length; the ICMP header follows it.
        insn(MSH, 0, 0, 0),
        insn(LDB_IND, 0, 0, 0),
        insn(JEQ_K, 0, 3, 0),
        insn(LDH_IND, 0, 0, 4),
        insn(JEQ_K, 0, 1, u32::from(ident)),
        insn(RET_K, 0, 0, 0xffff),
        insn(RET_K, 0, 0, 0),
    ];
    attach_filter(fd, &prog)
}
