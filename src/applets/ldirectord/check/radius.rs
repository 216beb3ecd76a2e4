//! service=radius: what the original's check_radius gets from Authen::Radius `check_pwd`.
//! One Access-Request over UDP (RFC 2865) with User-Name = login, User-Password = passwd
//! hidden with secret, and NAS-IP-Address = the socket's local address (NAS-IPv6-Address for
//! an IPv6 real); no retransmission, as Authen::Radius sends once. The first answer decides:
//! up for an Access-Accept, down for any other code. An answer is a
//! datagram with our identifier and a right Response Authenticator; anything else (garbage,
//! another identifier, a wrong authenticator) is set aside and the check waits on, so a
//! stranger on the LAN who sprays datagrams from the real's address cannot mark it down. A
//! wrong secret therefore times out, and the timeout says what was set aside ("bad response
//! authenticator (wrong secret?)"). An ICMP refusal is set aside as well: anyone can forge
//! one as easily; a closed port times out, named. The daemon bounds it by min(checktimeout,
//! negotiatetimeout), as the original's alarm and receive timeout do.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use super::{random_bytes, refused, Check, Poll, SetAside, DATAGRAMS_PER_WAKE};
use crate::applets::ldirectord::config::Virtual;
use crate::applets::ldirectord::core::Outcome;
use crate::event::Interest;
use crate::wire::radius::{hide_password, Attribute, Code, Packet, Repr, MAX_LEN};

/// The Access-Request for `v` from `local`, with identifier `id` and authenticator `auth`.
fn access_request(v: &Virtual, local: IpAddr, id: u8, auth: [u8; 16]) -> Result<Vec<u8>, String> {
    let hidden = hide_password(v.passwd.as_bytes(), v.secret.as_bytes(), &auth)
        .map_err(|e| format!("passwd: {e}"))?;
    let nas = match local {
        IpAddr::V4(ip) => Attribute::NasIpAddress(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => Attribute::NasIpAddress(v4),
            None => Attribute::NasIpv6Address(ip),
        },
    };
    let r = Repr {
        code: Code::AccessRequest,
        identifier: id,
        authenticator: auth,
        attributes: vec![
            Attribute::UserName(v.login.clone()),
            Attribute::UserPassword(hidden),
            nas,
        ],
    };
    r.to_bytes().map_err(|e| format!("login: {e}"))
}

/// Judges one datagram that came back: the answer's outcome, or Err(why it is no answer to
/// our request).
pub(crate) fn judge(
    reply: &[u8],
    id: u8,
    auth: &[u8; 16],
    secret: &[u8],
) -> Result<Outcome, String> {
    let p = Packet::new_checked(reply).map_err(|e| format!("RADIUS: {e}"))?;
    if p.identifier() != id {
        return Err(format!(
            "RADIUS: answer id {} to request {id}",
            p.identifier()
        ));
    }
    if !p.response_authentic(auth, secret) {
        return Err("RADIUS: bad response authenticator (wrong secret?)".into());
    }
    let reason = Repr::parse(&p)
        .ok()
        .and_then(|r| r.reply_message().map(|m| format!(": {m}")))
        .unwrap_or_default();
    Ok(match p.code() {
        Code::AccessAccept => Outcome::Up(format!("{}{reason}", Code::AccessAccept)),
        other => Outcome::Down(format!("{other}{reason}")),
    })
}

/// A RADIUS authentication in progress.
pub struct Radius {
    sock: UdpSocket,
    id: u8,
    auth: [u8; 16],
    secret: Vec<u8>,
    set_aside: SetAside,
}

impl Radius {
    /// Sends the Access-Request to `addr`.
    pub fn start(v: &Virtual, addr: SocketAddr) -> io::Result<Radius> {
        let bind: SocketAddr = if addr.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = UdpSocket::bind(bind)?;
        sock.set_nonblocking(true)?;
        sock.connect(addr)?;
        let local = sock.local_addr()?.ip();
        let [id, ..] = random_bytes::<1>();
        let auth = random_bytes::<16>();
        let packet = access_request(v, local, id, auth).map_err(io::Error::other)?;
        sock.send(&packet)?;
        Ok(Radius {
            sock,
            id,
            auth,
            secret: v.secret.as_bytes().to_vec(),
            set_aside: SetAside::default(),
        })
    }
}

impl Check for Radius {
    fn fd(&self) -> Option<RawFd> {
        Some(self.sock.as_raw_fd())
    }

    fn advance(&mut self) -> Poll {
        let mut buf = [0u8; MAX_LEN];
        for _ in 0..DATAGRAMS_PER_WAKE {
            match self.sock.recv(&mut buf) {
                Ok(n) => {
                    let d = buf.get(..n).unwrap_or_default();
                    match judge(d, self.id, &self.auth, &self.secret) {
                        Ok(o) => return Poll::Ready(o),
                        Err(why) => self.set_aside.add(why),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Poll::Wait(Interest::Read)
                }
                Err(e) if refused(&e) => self.set_aside.add(format!("RADIUS: {e}")),
                Err(e) => return Poll::Ready(Outcome::Down(format!("RADIUS: {e}"))),
            }
        }
        // More may wait: poll says so at once, after the other events.
        Poll::Wait(Interest::Read)
    }

    fn note(&self) -> Option<String> {
        self.set_aside.note()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applets::ldirectord::config::parse;
    use crate::applets::ldirectord::resolve::SystemResolver;
    use crate::wire::testing::hex;

    const AUTH: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    // As in wire::radius: FreeRADIUS 3.2.1's answers to id 42, authenticator 00..0f,
    // secret testing123 (web/s3cret accepted, web/bad rejected).
    const REQUEST: &str = "012a0031000102030405060708090a0b0c0d0e0f01057765620212e5dd6ab811897a1a104607240014828b04067f000001";
    const ACCEPT: &str = "022a0014b7021c538b0fe2e565c5ae0de07ee65e";
    const REJECT: &str = "032a0014aae749e2ee67bd2fce0e43857e50b0ff";

    fn virt() -> Virtual {
        let text = "virtual=198.51.100.10:1812\n\tprotocol=udp\n\treal=198.51.100.21 masq\n\t\
                    service=radius\n\tlogin=\"web\"\n\tpasswd=\"s3cret\"\n\tsecret=\"testing123\"\n";
        let c = parse("t", text, &SystemResolver).unwrap_or_else(|e| panic!("{e}"));
        c.virtuals[0].clone()
    }

    #[test]
    fn request_as_authen_radius_sends_it() {
        let v = virt();
        let b = access_request(&v, "127.0.0.1".parse().unwrap(), 42, AUTH).unwrap();
        assert_eq!(b, hex(REQUEST));
        let b6 = access_request(&v, "2001:db8::1".parse().unwrap(), 42, AUTH).unwrap();
        assert_eq!(&b6[b6.len() - 18..b6.len() - 16], &[95, 18]);
    }

    /// Only an authentic answer decides; garbage, another id and a wrong authenticator are
    /// no answer (`a_strangers_datagram_before_the_answer_marked_a_healthy_radius_real_down`
    /// in tests/ldirectord_services.rs plays it against a real server).
    #[test]
    fn only_an_authentic_accept_is_up() {
        assert!(matches!(
            judge(&hex(ACCEPT), 42, &AUTH, b"testing123"),
            Ok(Outcome::Up(_))
        ));
        assert_eq!(
            judge(&hex(REJECT), 42, &AUTH, b"testing123"),
            Ok(Outcome::Down("Access-Reject".into()))
        );
        assert!(matches!(
            judge(&hex(ACCEPT), 42, &AUTH, b"wrong"),
            Err(m) if m.contains("authenticator")
        ));
        assert!(judge(&hex(ACCEPT), 43, &AUTH, b"testing123").is_err());
        assert!(judge(b"garbage", 42, &AUTH, b"testing123").is_err());
    }

    #[test]
    fn set_aside_datagrams_are_named_in_the_timeout() {
        let mut a = SetAside::default();
        assert_eq!(a.note(), None);
        a.add("RADIUS: answer id 43 to request 42".into());
        a.add("RADIUS: bad response authenticator (wrong secret?)".into());
        assert_eq!(
            a.note().as_deref(),
            Some(
                "ignored 2 datagrams that answered nothing we asked, the last: RADIUS: bad \
                 response authenticator (wrong secret?)"
            )
        );
    }

    #[test]
    fn too_long_a_password_is_a_start_error() {
        let mut v = virt();
        v.passwd = "x".repeat(129);
        assert!(access_request(&v, "127.0.0.1".parse().unwrap(), 1, AUTH).is_err());
    }

    #[test]
    fn bounded_by_the_shorter_timeout() {
        let mut v = virt();
        (v.checktimeout, v.negotiatetimeout) = (9, 2);
        assert_eq!(v.negotiate_timeout(), 2);
        (v.checktimeout, v.negotiatetimeout) = (3, 30);
        assert_eq!(v.negotiate_timeout(), 3);
    }
}
