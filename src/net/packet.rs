//! An owned, non-blocking AF_PACKET socket bound to one interface and one EtherType:
//! sends whole Ethernet frames and receives them with where they came from (packet(7)).
//! Used for ARP (gratuitous ARP, duplicate-address probes) and PIKE frames.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{getsockname, recvfrom, send, LinkAddr, MsgFlags, SockaddrStorage};

use crate::sys;
use crate::wire::ethernet::MacAddr;

/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Largest frame we read (Ethernet MTU 1500 + header; bigger frames are truncated).
const MAX_FRAME: usize = 1518;

/// How the kernel classified a received frame (`sll_pkttype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// Addressed to this host.
    Host,
    Broadcast,
    Multicast,
    /// Addressed to another host (seen in promiscuous mode).
    OtherHost,
    /// Sent by this host (looped back to packet sockets).
    Outgoing,
    Unknown(u8),
}

impl From<u8> for PacketKind {
    fn from(v: u8) -> Self {
        match v {
            0 => PacketKind::Host,
            1 => PacketKind::Broadcast,
            2 => PacketKind::Multicast,
            3 => PacketKind::OtherHost,
            4 => PacketKind::Outgoing,
            other => PacketKind::Unknown(other),
        }
    }
}

/// Where a received frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSource {
    /// Interface it arrived on.
    pub ifindex: u32,
    /// Link-layer source address (from `sockaddr_ll`).
    pub mac: Option<MacAddr>,
    pub kind: PacketKind,
}

/// A non-blocking packet socket bound to `(ifindex, ethertype)`.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
    ethertype: u16,
}

impl PacketSocket {
    /// Opens a socket receiving and sending frames of `ethertype` (host order) on `ifindex`.
    pub fn bind(ifindex: u32, ethertype: u16) -> io::Result<PacketSocket> {
        let fd = sys::packet::open(ethertype)?;
        sys::packet::bind(&fd, ifindex, ethertype)?;
        Ok(PacketSocket {
            fd,
            ifindex,
            ethertype,
        })
    }

    /// Opens a socket receiving frames of `ethertype` on `ifindex` as a tap (ETH_P_ALL with an
    /// in-kernel filter on the EtherType). A tap sees a frame before any upper device takes
    /// it: a macvlan on `ifindex` that owns the frame's *source* MAC consumes multicast and
    /// broadcast frames from it as its own looped-back traffic, so a plain socket on the
    /// parent never sees the other node's frames from the shared virtual MAC. Frames this
    /// host sends are not looped back (and `recv` still marks any as `Outgoing`).
    pub fn tap(ifindex: u32, ethertype: u16) -> io::Result<PacketSocket> {
        let fd = sys::packet::open_unbound()?;
        sys::packet::accept_only_ethertype(&fd, ethertype)?;
        sys::packet::ignore_outgoing(&fd);
        sys::packet::bind(&fd, ifindex, libc::ETH_P_ALL as u16)?;
        Ok(PacketSocket {
            fd,
            ifindex,
            ethertype,
        })
    }

    /// A tap like `tap` that also takes only frames carrying every one of `fields` (checked
    /// in the kernel: garbage never wakes the reader).
    pub fn tap_matching(
        ifindex: u32,
        ethertype: u16,
        fields: &[sys::packet::FieldEq],
    ) -> io::Result<PacketSocket> {
        let fd = sys::packet::open_unbound()?;
        let mut all = vec![sys::packet::FieldEq::ethertype(ethertype)];
        all.extend_from_slice(fields);
        sys::packet::accept_only(&fd, &all)?;
        sys::packet::ignore_outgoing(&fd);
        sys::packet::bind(&fd, ifindex, libc::ETH_P_ALL as u16)?;
        Ok(PacketSocket {
            fd,
            ifindex,
            ethertype,
        })
    }

    /// A socket opened and bound by another process (the pikemon supervisor), as it is
    /// bound: an error unless `fd` is a packet socket bound to an interface.
    pub fn from_inherited(fd: OwnedFd, ethertype: u16) -> io::Result<PacketSocket> {
        // Storage, not LinkAddr: the kernel returns a sockaddr_ll shortened to its address.
        let addr = getsockname::<SockaddrStorage>(fd.as_raw_fd())?;
        let addr = addr
            .as_link_addr()
            .ok_or_else(|| io::Error::other("not a packet socket"))?;
        let ifindex = u32::try_from(addr.ifindex())
            .ok()
            .filter(|i| *i > 0)
            .ok_or_else(|| io::Error::other("a packet socket bound to no interface"))?;
        // The flag lives in the shared file description: the supervisor's copy has it.
        let fl = fcntl(&fd, FcntlArg::F_GETFL)?;
        fcntl(
            &fd,
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(fl) | OFlag::O_NONBLOCK),
        )?;
        Ok(PacketSocket {
            fd,
            ifindex,
            ethertype,
        })
    }

    /// Takes only frames carrying every one of `fields` from now on (in the kernel).
    pub fn filter(&self, fields: &[sys::packet::FieldEq]) -> io::Result<()> {
        sys::packet::accept_only(&self.fd, fields)
    }

    /// Takes only frames carrying every one of `all` and all of at least one group of
    /// `any` from now on (in the kernel; `sys::packet::accept_only_any`).
    pub fn filter_any(
        &self,
        all: &[sys::packet::FieldEq],
        any: &[Vec<sys::packet::FieldEq>],
    ) -> io::Result<()> {
        sys::packet::accept_only_any(&self.fd, all, any)
    }

    /// The interface this socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The EtherType this socket is bound to (host order).
    pub fn ethertype(&self) -> u16 {
        self.ethertype
    }

    /// Also receives frames sent to the link-layer multicast group `mac` (PACKET_ADD_MEMBERSHIP;
    /// the membership ends with the socket).
    pub fn join_multicast(&self, mac: MacAddr) -> io::Result<()> {
        sys::packet::multicast_membership(&self.fd, self.ifindex, mac.0, true)
    }

    /// Stops receiving the group `mac`.
    pub fn leave_multicast(&self, mac: MacAddr) -> io::Result<()> {
        sys::packet::multicast_membership(&self.fd, self.ifindex, mac.0, false)
    }

    /// Sends one whole Ethernet frame (header included) out of the bound interface.
    /// `WouldBlock` when the device queue is full.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        loop {
            match send(self.fd.as_raw_fd(), frame, MsgFlags::empty()) {
                Ok(n) if n == frame.len() => return Ok(()),
                Ok(n) => {
                    return Err(io::Error::other(format!(
                        "short send: {n} of {} bytes",
                        frame.len()
                    )))
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Receives one frame (header included); `Ok(None)` when nothing is queued.
    pub fn recv(&self) -> io::Result<Option<(Vec<u8>, FrameSource)>> {
        let mut buf = vec![0u8; MAX_FRAME];
        loop {
            match recvfrom::<LinkAddr>(self.fd.as_raw_fd(), &mut buf) {
                Ok((n, addr)) => {
                    buf.truncate(n);
                    let source = match addr {
                        Some(a) => FrameSource {
                            ifindex: u32::try_from(a.ifindex()).unwrap_or(0),
                            mac: a.addr().map(MacAddr),
                            kind: PacketKind::from(a.pkttype()),
                        },
                        None => FrameSource {
                            ifindex: self.ifindex,
                            mac: None,
                            kind: PacketKind::Unknown(255),
                        },
                    };
                    return Ok(Some((buf, source)));
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
