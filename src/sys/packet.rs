//! Raw AF_PACKET calls nix does not wrap with a safe API: opening a socket for an arbitrary
//! EtherType, binding it to an interface (`sockaddr_ll`) and joining a link-layer multicast
//! group (`PACKET_ADD_MEMBERSHIP`). See packet(7).

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

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
    super::set_option(fd, libc::SOL_PACKET, opt, &mreq)
}

/// Opens a packet socket that receives nothing until it is bound (protocol 0, packet(7)):
/// a filter can be attached before the first frame queues.
pub fn open_unbound() -> io::Result<OwnedFd> {
    open(0)
}

/// One field a frame must carry to reach the socket: `width` (1, 2 or 4) big-endian bytes at
/// `offset` from the start of the Ethernet header, equal to `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldEq {
    pub offset: u32,
    pub width: u8,
    pub value: u32,
}

impl FieldEq {
    /// The EtherType of an untagged frame.
    pub const fn ethertype(ethertype: u16) -> FieldEq {
        FieldEq {
            offset: 12,
            width: 2,
            value: ethertype as u32,
        }
    }

    /// The fields that together match `bytes` at `offset`: 4-byte words, then a 2-byte and
    /// a 1-byte rest (an address: 4 words of an IPv6 one, a word and a half of a MAC).
    pub fn bytes(offset: u32, bytes: &[u8]) -> Vec<FieldEq> {
        let mut out = Vec::new();
        let mut at = 0;
        for width in [4usize, 2, 1] {
            while bytes.len() - at >= width {
                let value = bytes[at..at + width]
                    .iter()
                    .fold(0u32, |v, b| (v << 8) | u32::from(*b));
                out.push(FieldEq {
                    offset: offset + at as u32,
                    width: width as u8,
                    value,
                });
                at += width;
            }
        }
        out
    }
}

/// Attaches a classic BPF program that accepts only frames of EtherType `ethertype` (host
/// order; untagged frames) and drops the rest in the kernel (socket(7) SO_ATTACH_FILTER).
pub fn accept_only_ethertype(fd: &OwnedFd, ethertype: u16) -> io::Result<()> {
    accept_only(
        fd,
        &[FieldEq {
            offset: 12,
            width: 2,
            value: u32::from(ethertype),
        }],
    )
}

/// Attaches a classic BPF program that accepts only frames carrying every field of `fields`
/// and drops the rest in the kernel, before they wake anybody (socket(7) SO_ATTACH_FILTER).
pub fn accept_only(fd: &OwnedFd, fields: &[FieldEq]) -> io::Result<()> {
    // One group that must match whole: the program `program_any` writes for it.
    accept_only_any(fd, &[], &[fields.to_vec()])
}

/// Attaches a classic BPF program that accepts only frames carrying every field of `all`
/// and every field of at least one group of `any`, and drops the rest in the kernel. An
/// error (nothing attached, the old filter stays) when the program would exceed the
/// kernel's 4096 instructions.
pub fn accept_only_any(fd: &OwnedFd, all: &[FieldEq], any: &[Vec<FieldEq>]) -> io::Result<()> {
    attach_filter(fd, &program_any(all, any)?)
}

/// The program of `accept_only_any`: each field of `all` loaded and compared, a mismatch
/// jumping to a drop right after it; then each group of `any`, a mismatch jumping over the
/// rest of the group and its accept. Every jump stays within a group, so no offset
/// overflows a jump's 8 bits whatever the number of groups. A load past the frame's end
/// drops the frame at once (classic BPF), later groups unread: put groups of short
/// offsets first.
fn program_any(all: &[FieldEq], any: &[Vec<FieldEq>]) -> io::Result<Vec<libc::sock_filter>> {
    const MAX_INSNS: usize = 4096;
    const GROUP_MAX: usize = 60;
    let load = |f: &FieldEq| {
        let size = match f.width {
            1 => libc::BPF_B,
            2 => libc::BPF_H,
            _ => libc::BPF_W,
        };
        insn((libc::BPF_LD | size | libc::BPF_ABS) as u16, 0, 0, f.offset)
    };
    let len = all.len() * 3 + any.iter().map(|g| g.len() * 2 + 1).sum::<usize>() + 1;
    if len > MAX_INSNS || any.iter().any(|g| g.len() > GROUP_MAX) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many fields for one filter",
        ));
    }
    let mut prog = Vec::with_capacity(len);
    for f in all {
        prog.push(load(f));
        prog.push(insn(JEQ_K, 1, 0, f.value));
        prog.push(insn(RET_K, 0, 0, 0));
    }
    for group in any {
        for (i, f) in group.iter().enumerate() {
            prog.push(load(f));
            // Over the group's remaining checks and its accept, to the next group.
            let to_next = ((group.len() - i - 1) * 2 + 1) as u8;
            prog.push(insn(JEQ_K, 0, to_next, f.value));
        }
        prog.push(insn(RET_K, 0, 0, 0xffff));
    }
    prog.push(insn(RET_K, 0, 0, 0));
    Ok(prog)
}

/// `jeq #k, jt, jf` of classic BPF.
pub(super) const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
/// `ret #k` of classic BPF: accept that many bytes (0: drop).
pub(super) const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// One classic BPF instruction.
pub(super) fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Attaches the classic BPF program `prog` to the socket `fd` (socket(7) SO_ATTACH_FILTER).
pub(super) fn attach_filter(fd: impl AsFd, prog: &[libc::sock_filter]) -> io::Result<()> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "BPF program too long"))?,
        filter: prog.as_ptr().cast_mut(),
    };
    // fprog points at `prog`, which lives until setsockopt returns (the kernel copies it).
    super::set_option(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
}

/// Stops frames this host sends from being looped back to the socket (PACKET_IGNORE_OUTGOING,
/// Linux 4.20). Best effort: the caller also drops `PACKET_OUTGOING` frames itself.
pub fn ignore_outgoing(fd: &OwnedFd) {
    // linux/if_packet.h; not in the libc crate's Linux module.
    const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
    let one: libc::c_int = 1;
    let _ = super::set_option(fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &one);
}

#[cfg(test)]
mod tests {
    use super::FieldEq;

    #[test]
    fn bytes_are_matched_in_words_then_a_half_and_a_byte() {
        let f = |offset, width, value| FieldEq {
            offset,
            width,
            value,
        };
        let mac = [0x02, 0xc6, 0x33, 0x64, 0x0a, 0x01];
        assert_eq!(
            FieldEq::bytes(6, &mac),
            [f(6, 4, 0x02c6_3364), f(10, 2, 0x0a01)]
        );
        let ip6: Vec<u8> = (1..=16).collect();
        assert_eq!(
            FieldEq::bytes(22, &ip6),
            [
                f(22, 4, 0x0102_0304),
                f(26, 4, 0x0506_0708),
                f(30, 4, 0x090a_0b0c),
                f(34, 4, 0x0d0e_0f10)
            ]
        );
        assert_eq!(
            FieldEq::bytes(0, &[1, 2, 3, 4, 5, 6, 7]),
            [f(0, 4, 0x0102_0304), f(4, 2, 0x0506), f(6, 1, 7)]
        );
        assert_eq!(
            FieldEq::bytes(28, &[198, 51, 100, 10]),
            [f(28, 4, 0xc633_640a)]
        );
        assert!(FieldEq::bytes(0, &[]).is_empty());
    }
}
