//! Byte tests for the IPVS generic netlink messages. The CTRL_CMD_GETFAMILY bytes are the
//! ones `strace -xx ipvsadm -A -t 198.51.100.10:80 -s rr` shows on this host (whose kernel
//! has no IPVS, so ipvsadm stops there); the IPVS messages are laid out by hand from
//! include/uapi/linux/ip_vs.h and libipvs's attribute order.

use super::*;
use crate::wire::testing::hex;

fn svc() -> Service {
    Service {
        key: ServiceKey::Inet(
            IPPROTO_TCP,
            "198.51.100.10"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            80,
        ),
        scheduler: "rr".into(),
        flags: 0,
        timeout: 0,
        netmask: u32::MAX,
    }
}

const SERVICE_ATTRS: &str = "
    54 00 01 80
      06 00 01 00 02 00 00 00
      06 00 02 00 06 00 00 00
      14 00 03 00 c6 33 64 0a 00 00 00 00 00 00 00 00 00 00 00 00
      06 00 04 00 00 50 00 00
      07 00 06 00 72 72 00 00
      0c 00 07 00 00 00 00 00 ff ff ff ff
      08 00 08 00 00 00 00 00
      08 00 09 00 ff ff ff ff";

#[test]
fn getfamily_matches_ipvsadm() {
    // seq 1795462265 = 0x6b04a679, pid -1447010067 = 0xa9c0f0ed, as in the strace.
    let got = emit_getfamily(0x6b04_a679, 0xa9c0_f0ed, "IPVS");
    let want = hex("20 00 00 00 10 00 05 00 79 a6 04 6b ed f0 c0 a9
         03 01 00 00 09 00 02 00 49 50 56 53 00 00 00 00");
    assert_eq!(got, want);
}

#[test]
fn new_service_bytes() {
    let got = emit_request(
        0x1b,
        1,
        Command::NewService,
        NLM_F_REQUEST | NLM_F_ACK,
        Some(&svc()),
        None,
    );
    let want = hex(&format!(
        "68 00 00 00 1b 00 05 00 01 00 00 00 00 00 00 00 01 01 00 00 {SERVICE_ATTRS}"
    ));
    assert_eq!(got, want);
}

#[test]
fn new_dest_bytes() {
    let d = Dest {
        addr: "198.51.100.20"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        port: 8080,
        fwd: FwdMethod::Route,
        weight: 3,
        u_thresh: 9,
        l_thresh: 2,
        active_conns: 0,
        inact_conns: 0,
        persist_conns: 0,
    };
    let got = emit_request(
        0x1b,
        2,
        Command::NewDest,
        NLM_F_REQUEST | NLM_F_ACK,
        Some(&svc()),
        Some(&d),
    );
    let want = hex(&format!(
        "b0 00 00 00 1b 00 05 00 02 00 00 00 00 00 00 00 05 01 00 00 {SERVICE_ATTRS}
         48 00 02 80
           14 00 01 00 c6 33 64 14 00 00 00 00 00 00 00 00 00 00 00 00
           06 00 02 00 1f 90 00 00
           08 00 03 00 03 00 00 00
           08 00 04 00 03 00 00 00
           08 00 05 00 09 00 00 00
           08 00 06 00 02 00 00 00
           06 00 0b 00 02 00 00 00"
    ));
    assert_eq!(got, want);
}

#[test]
fn fwmark_v6_service_and_persistence() {
    let s = Service {
        key: ServiceKey::Fwmark(7, true),
        scheduler: "wlc".into(),
        flags: SVC_F_PERSISTENT,
        timeout: 600,
        netmask: 64,
    };
    let got = emit_request(
        0x1b,
        3,
        Command::SetService,
        NLM_F_REQUEST | NLM_F_ACK,
        Some(&s),
        None,
    );
    let want = hex("4c 00 00 00 1b 00 05 00 03 00 00 00 00 00 00 00 02 01 00 00
         38 00 01 80
           06 00 01 00 0a 00 00 00
           08 00 05 00 07 00 00 00
           08 00 06 00 77 6c 63 00
           0c 00 07 00 01 00 00 00 ff ff ff ff
           08 00 08 00 58 02 00 00
           08 00 09 00 40 00 00 00");
    assert_eq!(got, want);
    let parsed = Service::parse_attrs(&got[24..]);
    assert_eq!(parsed, Ok(s));
}

#[test]
fn kernel_service_reply_parses_and_skips_stats() {
    // A GET_SERVICE dump entry as the kernel sends it: HASHED set, a stats nest we skip.
    let msg = hex(&format!(
        "74 00 00 00 1b 00 02 00 05 00 00 00 00 00 00 00 01 01 00 00 {SERVICE_ATTRS}
         0c 00 0a 80 08 00 01 00 05 00 00 00"
    ));
    let mut msg = msg;
    // Set HASHED in the reply's flags (offset: headers 20 + nest 4 + 8+8+20+8+8 + 4).
    msg[20 + 4 + 52 + 4] = 0x02;
    let replies = parse_replies(&msg).unwrap_or_default();
    assert_eq!(replies.len(), 1);
    let got = replies[0].service();
    assert_eq!(got, Some(Ok(svc())));
}

#[test]
fn error_and_done_replies() {
    let msg = hex("24 00 00 00 02 00 00 00 07 00 00 00 00 00 00 00 ef ff ff ff
         14 00 00 00 1b 00 05 00 07 00 00 00 00 00 00 00
         14 00 00 00 03 00 02 00 08 00 00 00 00 00 00 00 00 00 00 00");
    let replies = parse_replies(&msg).unwrap_or_default();
    assert_eq!(
        replies,
        vec![Reply::Error { seq: 7, errno: -17 }, Reply::Done { seq: 8 }]
    );
}

#[test]
fn getfamily_reply_gives_the_id() {
    let msg = hex("20 00 00 00 10 00 00 00 01 00 00 00 00 00 00 00 01 02 00 00
         09 00 02 00 49 50 56 53 00 00 00 00 06 00 01 00 1b 00 00 00");
    let mut msg = msg;
    msg[0] = msg.len() as u8;
    let replies = parse_replies(&msg).unwrap_or_default();
    assert_eq!(replies.first().and_then(Reply::family_id), Some(0x1b));
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x1234_5678u32;
    for len in 0..300 {
        let buf: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as u8
            })
            .collect();
        let _ = parse_replies(&buf);
        let _ = Service::parse_attrs(&buf);
        let _ = Dest::parse_attrs(&buf, AF_INET6);
        for r in parse_replies(&buf).unwrap_or_default() {
            let _ = (r.service(), r.dest(AF_INET), r.family_id());
        }
    }
    // A valid header claiming more than there is.
    assert_eq!(
        parse_replies(&hex("ff 00 00 00 1b 00 00 00 00 00 00 00 00 00 00 00")),
        Err(WireError::Truncated)
    );
}
