//! A non-blocking subscription to link and IPv4 address changes (RTMGRP_LINK,
//! RTMGRP_IPV4_IFADDR), for event loops: register its fd, call `recv` when readable.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::{split_messages, Ipv4Address, Link, RtnlError, RtnlErrorKind, RECV_BUF};

/// rtnetlink multicast group bits (linux/rtnetlink.h).
const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;

/// One change the kernel announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtnlEvent {
    /// A link appeared or changed (flags, carrier, operstate, name, address).
    Link(Link),
    /// A link was deleted.
    LinkRemoved(Link),
    /// An IPv4 address was added (or changed).
    AddressAdded(Ipv4Address),
    /// An IPv4 address was deleted.
    AddressRemoved(Ipv4Address),
    /// The socket buffer overflowed and events were lost: re-read the state you track
    /// (`Rtnl::links`, `Rtnl::addresses`).
    Overrun,
}

/// The subscription socket.
pub struct RtnlMonitor {
    sock: Socket,
    buf: Vec<u8>,
}

impl RtnlMonitor {
    /// Subscribes to link and IPv4 address changes in the caller's network namespace.
    pub fn open() -> Result<RtnlMonitor, RtnlError> {
        let io_err = |e| {
            RtnlError::new(
                "subscribe to rtnetlink link/address groups",
                RtnlErrorKind::Io(e),
            )
        };
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(io_err)?;
        sock.bind(&SocketAddr::new(0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR))
            .map_err(io_err)?;
        sock.set_non_blocking(true).map_err(io_err)?;
        Ok(RtnlMonitor {
            sock,
            buf: vec![0; RECV_BUF],
        })
    }

    /// Reads everything queued (never blocks); empty when nothing was.
    pub fn recv(&mut self) -> Result<Vec<RtnlEvent>, RtnlError> {
        let mut events = Vec::new();
        loop {
            match self.sock.recv(&mut &mut self.buf[..], 0) {
                Ok(n) => events.extend(decode(self.buf.get(..n).unwrap_or(&[]))),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(events),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    events.push(RtnlEvent::Overrun)
                }
                Err(e) => {
                    return Err(RtnlError::new(
                        "read rtnetlink events",
                        RtnlErrorKind::Io(e),
                    ))
                }
            }
        }
    }
}

/// The events in one datagram.
pub(super) fn decode(data: &[u8]) -> Vec<RtnlEvent> {
    split_messages(data)
        .into_iter()
        .filter_map(|m| match m.payload {
            NetlinkPayload::InnerMessage(inner) => match inner {
                RouteNetlinkMessage::NewLink(l) => Some(RtnlEvent::Link(Link::from_message(&l))),
                RouteNetlinkMessage::DelLink(l) => {
                    Some(RtnlEvent::LinkRemoved(Link::from_message(&l)))
                }
                RouteNetlinkMessage::NewAddress(a) => {
                    Ipv4Address::from_message(&a).map(RtnlEvent::AddressAdded)
                }
                RouteNetlinkMessage::DelAddress(a) => {
                    Ipv4Address::from_message(&a).map(RtnlEvent::AddressRemoved)
                }
                _ => None,
            },
            NetlinkPayload::Overrun(_) => Some(RtnlEvent::Overrun),
            _ => None,
        })
        .collect()
}

impl AsRawFd for RtnlMonitor {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl AsFd for RtnlMonitor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{addr, serialize};
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn decodes_address_events_and_ignores_garbage() {
        let mut data = serialize(
            addr::new_address(2, Ipv4Addr::new(203, 0, 113, 5), 24, None, None),
            0,
            0,
        );
        data.extend(serialize(
            addr::del_address(2, Ipv4Addr::new(203, 0, 113, 5), 24),
            0,
            0,
        ));
        let ev = decode(&data);
        assert_eq!(ev.len(), 2);
        assert!(
            matches!(&ev[0], RtnlEvent::AddressAdded(a) if a.address == Ipv4Addr::new(203, 0, 113, 5))
        );
        assert!(matches!(&ev[1], RtnlEvent::AddressRemoved(a) if a.prefix_len == 24));
        assert!(decode(&[0xff; 37]).is_empty());
    }
}
