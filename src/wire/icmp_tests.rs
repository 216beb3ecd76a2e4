//! Byte tests for the ICMPv4 views: echo, errors and their quoted datagrams.

use super::*;

// An echo request as iputils ping sends it with -s 4: id 0x1234, seq 1, data 00 01 02 03.
const ECHO_REQUEST: [u8; 12] = [
    0x08, 0x00, 0xe3, 0xc6, 0x12, 0x34, 0x00, 0x01, 0x00, 0x01, 0x02, 0x03,
];

#[test]
fn checksum_matches_rfc1071_example() {
    // RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2 (before complement).
    assert_eq!(
        checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
        !0xddf2
    );
    assert_eq!(checksum(&[0xff]), !0xff00);
}

#[test]
fn parses_echo_request_bytes() {
    let p = Packet::new_checked(&ECHO_REQUEST[..]).unwrap();
    assert!(p.verify_checksum());
    assert_eq!(
        Repr::parse(&p),
        Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 1,
            data: &[0, 1, 2, 3]
        }
    );
}

#[test]
fn emits_echo_request_bytes() {
    let repr = Repr::EchoRequest {
        ident: 0x1234,
        seq_no: 1,
        data: &[0, 1, 2, 3],
    };
    let mut buf = vec![0xa5; repr.buffer_len()];
    repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
    assert_eq!(buf, ECHO_REQUEST);
}

#[test]
fn echo_reply_round_trips_inside_a_datagram() {
    let repr = Repr::EchoReply {
        ident: 7,
        seq_no: 65535,
        data: b"hello",
    };
    let mut icmp = vec![0; repr.buffer_len()];
    repr.emit(&mut Packet::new_unchecked(&mut icmp[..]));
    let mut d = vec![
        0x45, 0, 0, 0, 0, 0, 0, 0, 63, 1, 0, 0, 198, 51, 100, 2, 198, 51, 100, 1,
    ];
    let total = (d.len() + icmp.len()) as u16;
    d[2..4].copy_from_slice(&total.to_be_bytes());
    d.extend_from_slice(&icmp);
    let got = parse_datagram(&d).unwrap();
    assert_eq!(got.src_addr, Ipv4Addr::new(198, 51, 100, 2));
    assert_eq!(got.ttl, 63);
    assert_eq!(got.icmp_len, 13);
    assert!(got.checksum_ok);
    assert_eq!(got.icmp, repr);
    d[25] ^= 1;
    assert!(!parse_datagram(&d).unwrap().checksum_ok);
}

#[test]
fn host_unreachable_quoting_our_echo_is_read() {
    // Destination Host Unreachable from 198.51.100.1 quoting echo id 0xbeef seq 3 to .9,
    // as the kernel sends it when ARP for .9 fails.
    let mut bytes: Vec<u8> = vec![3, 1, 0, 0, 0, 0, 0, 0];
    bytes.extend_from_slice(&[
        0x45, 0, 0, 84, 0, 0, 0x40, 0, 64, 1, 0, 0, 198, 51, 100, 1, 198, 51, 100, 9,
    ]);
    bytes.extend_from_slice(&[8, 0, 0, 0, 0xbe, 0xef, 0, 3]);
    bytes.extend_from_slice(&[0; 8]);
    let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
    p.fill_checksum();
    let p = Packet::new_checked(&bytes[..]).unwrap();
    assert!(p.verify_checksum());
    assert_eq!(
        Repr::parse(&p),
        Repr::Error {
            kind: ErrorKind::DstUnreachable,
            code: 1,
            info: 0,
            quoted: Some(Quoted {
                src_addr: Ipv4Addr::new(198, 51, 100, 1),
                dst_addr: Ipv4Addr::new(198, 51, 100, 9),
                protocol: 1,
                echo: Some((0xbeef, 3)),
            }),
        }
    );
}

#[test]
fn time_exceeded_round_trips() {
    let repr = Repr::Error {
        kind: ErrorKind::TimeExceeded,
        code: 0,
        info: 0,
        quoted: Some(Quoted {
            src_addr: Ipv4Addr::new(203, 0, 113, 1),
            dst_addr: Ipv4Addr::new(203, 0, 113, 200),
            protocol: 1,
            echo: Some((1, 2)),
        }),
    };
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
    assert_eq!(buf.len(), 36);
    assert_eq!(buf[0], 11);
    let p = Packet::new_checked(&buf[..]).unwrap();
    assert!(p.verify_checksum());
    assert_eq!(Repr::parse(&p), repr);
}

#[test]
fn unknown_type_is_not_an_error() {
    let bytes = [13u8, 0, 0, 0, 0, 0, 0, 0];
    let p = Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(
        Repr::parse(&p),
        Repr::Unknown {
            msg_type: 13,
            code: 0
        }
    );
}

#[test]
fn short_and_foreign_datagrams_are_errors() {
    assert_eq!(
        Packet::new_checked(&[0u8; 7][..]).unwrap_err(),
        IcmpError::Truncated
    );
    let udp = [
        0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(parse_datagram(&udp).unwrap_err(), IcmpError::NotIcmp(17));
    assert_eq!(
        parse_datagram(&udp[..24]).unwrap_err(),
        IcmpError::NotIcmp(17)
    );
    let mut icmp_short = udp;
    icmp_short[9] = 1;
    assert_eq!(
        parse_datagram(&icmp_short[..24]).unwrap_err(),
        IcmpError::Truncated
    );
}

#[test]
fn checksum_agrees_with_a_plain_rfc1071_sum() {
    fn rfc1071(data: &[u8]) -> u16 {
        let mut sum: u32 = data
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }
    let mut rng = crate::wire::testing::Xorshift32(0x0bad_cafe);
    for len in 0..300 {
        let data: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
        assert_eq!(checksum(&data), rfc1071(&data), "length {len}");
    }
    assert_eq!(checksum(&[0xff; 64]), 0);
}

#[test]
fn quoted_header_is_the_one_emitted_before() {
    // What the hand-written emitter wrote for 203.0.113.1 → .200, ICMP, 28 bytes.
    let q = Quoted {
        src_addr: Ipv4Addr::new(203, 0, 113, 1),
        dst_addr: Ipv4Addr::new(203, 0, 113, 200),
        protocol: 1,
        echo: Some((1, 2)),
    };
    let h = quoted_ipv4_header(&q, 28);
    let before = [
        0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0x02, 0x17, 203, 0, 113, 1, 203, 0, 113, 200,
    ];
    assert_eq!(h, before);
    assert_eq!(checksum(&h), 0);
}

#[test]
fn echo_reply_bytes_and_excess_covered_by_the_checksum() {
    let repr = Repr::EchoReply {
        ident: 0x1234,
        seq_no: 1,
        data: &[0, 1, 2, 3],
    };
    let mut buf = vec![0xa5; repr.buffer_len() + 3];
    repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
    assert_eq!(buf[..8], [0, 0, buf[2], buf[3], 0x12, 0x34, 0, 1]);
    assert_eq!(buf[8..], [0, 1, 2, 3, 0xa5, 0xa5, 0xa5]);
    assert!(Packet::new_checked(&buf[..]).unwrap().verify_checksum());
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for len in 0..160usize {
        for round in 0..40 {
            let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Steer most buffers past the first checks so the deeper paths run too:
            // IPv4 version, ICMP protocol, and an error type quoting another header.
            if round % 4 != 0 {
                if let Some(b) = buf.get_mut(0) {
                    *b = 0x45 + (*b & 1);
                }
                if let Some(b) = buf.get_mut(9) {
                    *b = 1;
                }
                if let Some(b) = buf.get_mut(20) {
                    *b = [0, 3, 5, 8, 11, 12, 4, 99][round % 8];
                }
                if let Some(b) = buf.get_mut(28) {
                    *b = 0x45;
                }
            }
            let _ = parse_datagram(&buf);
            if let Ok(p) = Packet::new_checked(&buf[..]) {
                let _ = (Repr::parse(&p), p.verify_checksum(), p.info());
            }
        }
    }
}
