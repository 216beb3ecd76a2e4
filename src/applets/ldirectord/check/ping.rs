//! checktype=ping (and connect for UDP virtuals): ICMP echo requests to the real over a raw
//! socket (root, as Net::Ping "icmp"); up on the first echo reply from it. `checkcount`
//! requests are sent at once (the original sends them one after another).
//! The echo layout (RFC 792 / RFC 4443) is small enough to live here.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvfrom, sendto, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType,
    SockaddrStorage,
};

use super::{Check, Poll};
use crate::applets::ldirectord::core::Outcome;
use crate::event::Interest;

/// An echo request: type, code, checksum, id, sequence, 8 bytes of payload.
fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut b = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(b"ldirectd");
    if !v6 {
        // ICMPv6 checksums are filled in by the kernel on raw sockets.
        let sum = checksum(&b);
        b[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    b
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Whether `packet` (IPv4: with its IP header) is an echo reply with our id.
fn is_reply(packet: &[u8], v6: bool, id: u16) -> bool {
    let icmp = if v6 {
        packet
    } else {
        let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
        packet.get(ihl..).unwrap_or(&[])
    };
    let want_type = if v6 { 129 } else { 0 };
    icmp.len() >= 8 && icmp[0] == want_type && u16::from_be_bytes([icmp[4], icmp[5]]) == id
}

/// A ping in progress.
pub struct Ping {
    sock: OwnedFd,
    target: IpAddr,
    id: u16,
}

impl Ping {
    pub fn start(target: IpAddr, count: u32) -> io::Result<Ping> {
        let v6 = target.is_ipv6();
        let (fam, proto) = if v6 {
            (AddressFamily::Inet6, SockProtocol::IcmpV6)
        } else {
            (AddressFamily::Inet, SockProtocol::Icmp)
        };
        let sock = socket(
            fam,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            proto,
        )?;
        let id = (std::process::id() as u16) ^ 0x4c44;
        let dest = SockaddrStorage::from(SocketAddr::new(target, 0));
        for seq in 0..count.clamp(1, 16) {
            sendto(
                sock.as_raw_fd(),
                &echo_request(v6, id, seq as u16),
                &dest,
                MsgFlags::empty(),
            )?;
        }
        Ok(Ping { sock, target, id })
    }
}

impl Check for Ping {
    fn fd(&self) -> Option<RawFd> {
        Some(self.sock.as_raw_fd())
    }

    fn advance(&mut self) -> Poll {
        let mut buf = [0u8; 1500];
        loop {
            match recvfrom::<SockaddrStorage>(self.sock.as_raw_fd(), &mut buf) {
                Ok((n, from)) => {
                    let from_ip = from.and_then(|a| {
                        a.as_sockaddr_in()
                            .map(|s| IpAddr::V4(s.ip()))
                            .or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
                    });
                    if from_ip == Some(self.target)
                        && is_reply(&buf[..n], self.target.is_ipv6(), self.id)
                    {
                        return Poll::Ready(Outcome::Up("echo reply".into()));
                    }
                }
                Err(nix::errno::Errno::EAGAIN) => return Poll::Wait(Interest::Read),
                Err(e) => return Poll::Ready(Outcome::Down(format!("ping: {e}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksum_verifies() {
        let b = echo_request(false, 0x1234, 1);
        assert_eq!(checksum(&b), 0);
        assert_eq!(&b[..2], &[8, 0]);
    }

    #[test]
    fn reply_matching() {
        let mut ip = vec![0x45u8; 20];
        ip.extend_from_slice(&[0, 0, 0, 0, 0x12, 0x34, 0, 1]);
        assert!(is_reply(&ip, false, 0x1234));
        assert!(!is_reply(&ip, false, 0x1235));
        assert!(!is_reply(&[0x4f], false, 0));
        assert!(is_reply(&[129, 0, 0, 0, 0, 7, 0, 0], true, 7));
    }
}
