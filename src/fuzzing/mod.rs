//! The fuzz targets' bodies: one function per parser of untrusted bytes, taking any bytes.
//!
//! `fuzz/fuzz_targets/<name>.rs` hands libFuzzer's input to `TARGETS`' entry of that name
//! (`make fuzz`, nightly); `smoke` runs every body on stable in `cargo test` over seeded
//! random and mutated inputs. A body must never panic; where a format has an `emit`, it also
//! checks that what parses, emits and parses back the same (a failed `assert!` is a finding).
//! Nothing here opens a socket, resolves a name or writes a file.

mod services;
#[cfg(test)]
mod smoke;
mod text;

use crate::wire::{arp, dns, ethernet, icmp, icmpv6, ipv4, ipvs, ldap, ndisc, pike, radius};

pub use services::{ftp, http, imap, mysql, nntp, pgsql, pop, sip, smtp};
pub use text::{
    conntrackd_config, conntrackd_control, corosync_cmapctl, ldirectord_config, pikemon_config,
    pikemon_control, pikemon_paths_file, pikemon_status_file,
};

/// A fuzz body: any bytes in, a panic only on a bug.
pub type Body = fn(&[u8]);

/// Every target by name (the name of its file under `fuzz/fuzz_targets/`).
pub const TARGETS: &[(&str, Body)] = &[
    ("pike", pike),
    ("arp", arp),
    ("icmp", icmp),
    ("icmpv6_ndisc", icmpv6_ndisc),
    ("ethernet_ipv4", ethernet_ipv4),
    ("ipvs", ipvs),
    ("rtnetlink", rtnetlink),
    ("dns", dns),
    ("ldap", ldap),
    ("radius", radius),
    ("http", http),
    ("ftp", ftp),
    ("smtp", smtp),
    ("pop", pop),
    ("imap", imap),
    ("nntp", nntp),
    ("sip", sip),
    ("mysql", mysql),
    ("pgsql", pgsql),
    ("conntrackd_control", conntrackd_control),
    ("corosync_cmapctl", corosync_cmapctl),
    ("pikemon_config", pikemon_config),
    ("ldirectord_config", ldirectord_config),
    ("conntrackd_config", conntrackd_config),
    ("pikemon_control", pikemon_control),
    ("pikemon_status_file", pikemon_status_file),
    ("pikemon_paths_file", pikemon_paths_file),
];

/// The key the PIKE body verifies HMACs with.
const PIKE_KEY: &[u8] = b"0123456789abcdef";

/// A PIKE frame (pikemon's peer messages): split, HMAC check, parse; a parsed message emits
/// and parses back the same, and a frame built from it verifies.
pub fn pike(data: &[u8]) {
    if let Ok(frame) = pike::split_frame(data) {
        if let Ok(p) = pike::Packet::new_checked(frame.payload) {
            let _ = pike::verify(&p, PIKE_KEY, &frame.dst, &frame.src);
        }
    }
    let Ok(p) = pike::Packet::new_checked(data) else {
        return;
    };
    let _ = (p.signed_part(), p.hmac());
    let Ok(repr) = pike::Repr::parse(&p) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut pike::Packet::new_unchecked(&mut out[..]));
    let back = pike::Packet::new_checked(&out[..]).map(|q| pike::Repr::parse(&q));
    if repr.vcs.len() <= pike::MAX_VCS {
        assert_eq!(back, Ok(Ok(repr.clone())), "PIKE round trip");
    }
    let src = [0x02, 0, 0, 0, 0, 1];
    let frame = pike::build_frame(&repr, PIKE_KEY, &src);
    let split = pike::split_frame(&frame).map(|f| (f.dst, f.payload));
    let Ok((dst, payload)) = split else {
        panic!("a built PIKE frame does not split");
    };
    let built = pike::Packet::new_checked(payload).map(|q| pike::verify(&q, PIKE_KEY, &dst, &src));
    assert_eq!(built, Ok(true), "a built PIKE frame does not verify");
}

/// An ARP body and an ARP frame; what parses emits and parses back the same.
pub fn arp(data: &[u8]) {
    if let Some((eth, repr)) = arp::ArpRepr::from_frame(data) {
        let frame = repr.to_frame(eth.destination, eth.source);
        assert_eq!(
            arp::ArpRepr::from_frame(&frame),
            Some((eth, repr)),
            "ARP frame round trip"
        );
    }
    let Ok(p) = arp::Packet::new_checked(data) else {
        return;
    };
    let Ok(repr) = arp::ArpRepr::parse(&p) else {
        return;
    };
    let mut out = vec![0u8; data.len()];
    repr.emit(&mut arp::Packet::new_unchecked(&mut out[..]));
    let back = arp::ArpRepr::parse(&arp::Packet::new_unchecked(&out[..]));
    assert_eq!(back, Ok(repr), "ARP round trip");
}

/// An ICMP message alone and inside an IPv4 datagram (ping's replies and the errors quoting
/// its requests); a parsed message emits with a good checksum and parses back the same.
pub fn icmp(data: &[u8]) {
    let _ = icmp::parse_datagram(data);
    // ldirectord's ping check reads raw ICMP (with the IPv4 header) and ICMPv6 itself.
    let _ = crate::applets::ldirectord::check::ping::judge_for_fuzzing(data);
    let Ok(p) = icmp::Packet::new_checked(data) else {
        return;
    };
    let _ = (p.verify_checksum(), p.info(), p.data());
    let repr = icmp::Repr::parse(&p);
    let mut out = vec![0u8; repr.buffer_len()];
    let mut q = icmp::Packet::new_unchecked(&mut out[..]);
    repr.emit(&mut q);
    let q = icmp::Packet::new_unchecked(&out[..]);
    assert!(q.verify_checksum(), "emitted ICMP has a bad checksum");
    assert_eq!(icmp::Repr::parse(&q), repr, "ICMP round trip");
}

/// An ICMPv6 message (what a raw ICMPv6 socket returns) and an Ethernet frame carrying
/// Neighbor Discovery; a parsed message emits with a good checksum and parses back the same
/// (errors are emitted without their quote, so only their kind and code survive).
pub fn icmpv6_ndisc(data: &[u8]) {
    if let Some(f) = ndisc::parse_frame(data) {
        let _ = f.claims(f.src);
    }
    let Ok(repr) = icmpv6::Repr::parse(data) else {
        return;
    };
    let (src, dst) = (std::net::Ipv6Addr::LOCALHOST, ndisc::ALL_NODES);
    let out = repr.to_bytes(src, dst);
    assert!(
        icmpv6::checksum_ok(&out, src, dst),
        "emitted ICMPv6 has a bad checksum"
    );
    let back = icmpv6::Repr::parse(&out);
    match repr {
        icmpv6::Repr::Error { kind, code, .. } => assert!(
            matches!(back, Ok(icmpv6::Repr::Error { kind: k, code: c, .. }) if k == kind && c == code),
            "ICMPv6 error round trip"
        ),
        _ => assert_eq!(back, Ok(repr), "ICMPv6 round trip"),
    }
}

/// An Ethernet frame and the IPv4 header it carries; the Ethernet header re-emits to the same
/// bytes.
pub fn ethernet_ipv4(data: &[u8]) {
    if let Ok(f) = ethernet::Frame::new_checked(data) {
        if let Ok(eth) = ethernet::EthernetRepr::parse(&f) {
            assert_eq!(eth.frame_with(f.payload()), data, "Ethernet round trip");
        }
        let _ = ipv4_header(f.payload());
    }
    let _ = ipv4_header(data);
}

fn ipv4_header(data: &[u8]) -> Option<ipv4::Repr> {
    let p = ipv4::Packet::new_checked(data).ok()?;
    let _ = (p.total_len(), p.checksum(), p.payload());
    Some(ipv4::Repr::parse(&p))
}

/// A generic netlink datagram as ldirectord's IPVS client reads it: the replies, a family id,
/// services and destinations; each parsed service and destination emits and parses back the
/// same (the kernel's counters are not emitted).
pub fn ipvs(data: &[u8]) {
    let Ok(replies) = ipvs::parse_replies(data) else {
        return;
    };
    for r in &replies {
        let _ = r.family_id();
        let mut af = 2;
        if let Some(Ok(s)) = r.service() {
            af = s.key.af();
            let mut buf = Vec::new();
            s.emit_attrs(&mut buf);
            assert_eq!(
                ipvs::Service::parse_attrs(&buf),
                Ok(s),
                "IPVS service round trip"
            );
        }
        if let Some(Ok(d)) = r.dest(af) {
            let mut buf = Vec::new();
            d.emit_attrs(&mut buf);
            let sent = ipvs::Dest {
                active_conns: 0,
                inact_conns: 0,
                persist_conns: 0,
                ..d
            };
            assert_eq!(
                ipvs::Dest::parse_attrs(&buf, af),
                Ok(sent),
                "IPVS dest round trip"
            );
        }
    }
}

/// An rtnetlink datagram: request and dump answers, errors with extended ACKs, monitor events.
pub fn rtnetlink(data: &[u8]) {
    crate::net::rtnl::digest(data);
}

/// A DNS response: parsed, matched against a question, and judged by ldirectord's dns check
/// over UDP and over TCP (length-prefixed).
pub fn dns(data: &[u8]) {
    if let Some(r) = dns::parse_response(data) {
        let asked = dns::Question::new("www.example.test", dns::TYPE_A);
        for q in &r.questions {
            let _ = asked.answers(q);
        }
    }
    let receive = crate::applets::ldirectord::config::Receive::new("192").ok();
    let _ =
        crate::applets::ldirectord::check::dns::replay(data, "www.example.test", receive.as_ref());
}

/// An LDAP byte stream, message after message, and the same bytes as ldirectord's ldap check
/// receives them.
pub fn ldap(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some((_, n))) = ldap::Message::parse(rest) {
        assert!(n > 0 && n <= rest.len(), "LDAP message of {n} bytes");
        rest = &rest[n..];
    }
    services::ldap_check(data);
}

/// A RADIUS answer: authenticator check, parse, the check's verdict; what parses emits and
/// parses back the same.
pub fn radius(data: &[u8]) {
    let auth = [0u8; 16];
    let p = radius::Packet::new_unchecked(data);
    let _ = p.response_authentic(&auth, b"secret");
    let _ = crate::applets::ldirectord::check::radius::judge(data, 1, &auth, b"secret");
    let Ok(p) = radius::Packet::new_checked(data) else {
        return;
    };
    let Ok(repr) = radius::Repr::parse(&p) else {
        return;
    };
    let _ = repr.reply_message();
    if let Ok(bytes) = repr.to_bytes() {
        let back = radius::Packet::new_checked(&bytes[..]).map(|q| radius::Repr::parse(&q));
        assert_eq!(back, Ok(Ok(repr)), "RADIUS round trip");
    }
}
