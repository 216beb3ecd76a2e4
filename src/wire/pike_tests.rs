//! Byte tests of PIKE frames, HMAC checks and garbage.

use super::*;

const KEY: &[u8] = b"0123456789abcdef";
const SRC: [u8; 6] = [0x02, 0xc6, 0x33, 0x64, 0x01, 0x00];

fn repr() -> Repr {
    Repr {
        msg_type: MessageType::Hello,
        flags: 0x0001,
        cluster_id: 0x0102_0304,
        node_id: 2,
        incarnation: 7,
        seq: 0x1122_3344_5566_7788,
        ack_incarnation: 5,
        ack_seq: 9,
        hello_ms: 100,
        dead_ms: 300,
        path_id: 1,
        key_id: 0x0a0b,
        vcs: vec![VcState {
            vcid: 0x0102,
            role: Role::Master,
            flags: vc_flags::HEALTH_UP | vc_flags::PREFERRED,
            priority: 100,
            fail_count: 3,
            digest: 0xdead_beef,
            more: vc_more_flags::MAINTENANCE,
            penalty: 40,
        }],
    }
}

#[rustfmt::skip]
const PAYLOAD: [u8; 64] = [
    b'P', b'I', b'K', b'E', 0x02, 0x01, 0x00, 0x01,
    0x01, 0x02, 0x03, 0x04, // cluster-id
    0x00, 0x00, 0x00, 0x02, // node-id
    0x00, 0x00, 0x00, 0x07, // incarnation
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // seq
    0x00, 0x00, 0x00, 0x05, // ack-incarnation
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, // ack-seq
    0x00, 0x00, 0x00, 0x64, // hello-ms
    0x00, 0x00, 0x01, 0x2c, // dead-ms
    0x01, 0x0a, 0x0b, 0x01, // path-id, key-id, n-vc
    0x01, 0x02, 0x02, 0x03, 0x64, 0x03, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x28, // vc entry
];

#[test]
fn emit_writes_the_documented_bytes() {
    let r = repr();
    assert_eq!(r.buffer_len(), PAYLOAD.len() + HMAC_LEN);
    let mut buf = vec![0u8; r.buffer_len()];
    let mut p = Packet::new_unchecked(&mut buf[..]);
    r.emit(&mut p);
    assert_eq!(&buf[..PAYLOAD.len()], &PAYLOAD[..]);
}

#[test]
fn parse_reads_the_documented_bytes() {
    let mut buf = PAYLOAD.to_vec();
    buf.extend_from_slice(&[0u8; HMAC_LEN]);
    let p = Packet::new_checked(&buf[..]).unwrap();
    assert_eq!(Repr::parse(&p).unwrap(), repr());
}

#[test]
fn frame_round_trip_and_hmac() {
    let r = repr();
    let frame = build_frame(&r, KEY, &SRC);
    assert_eq!(&frame[0..6], &GROUP_MAC);
    assert_eq!(&frame[12..14], &[0x88, 0xb5]);
    let Frame { dst, src, payload } = split_frame(&frame).unwrap();
    let p = Packet::new_checked(payload).unwrap();
    assert!(verify(&p, KEY, &dst, &src));
    assert!(!verify(&p, b"another key 1234", &dst, &src));
    // The source MAC is covered: a frame re-sent from another MAC fails.
    assert!(!verify(&p, KEY, &dst, &[2, 0, 0, 0, 0, 1]));
    assert_eq!(Repr::parse(&p).unwrap(), r);
}

#[test]
fn any_flipped_bit_breaks_the_hmac() {
    let frame = build_frame(&repr(), KEY, &SRC);
    for i in 0..frame.len() {
        if (12..14).contains(&i) {
            continue; // the EtherType decides whether it is PIKE at all
        }
        let mut f = frame.clone();
        f[i] ^= 0x40;
        let Frame { dst, src, payload } = split_frame(&f).unwrap();
        let ok = Packet::new_checked(payload).is_ok_and(|p| verify(&p, KEY, &dst, &src));
        assert!(!ok, "byte {i} flipped and still verified");
    }
}

#[test]
fn hmac_matches_rfc4231_construction() {
    // The tag is plain HMAC-SHA256 over dst|src|ethertype|payload: recompute it by hand.
    let frame = build_frame(&repr(), KEY, &SRC);
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(KEY).unwrap();
    m.update(&frame[..frame.len() - HMAC_LEN]);
    let want = m.finalize().into_bytes();
    assert_eq!(&frame[frame.len() - HMAC_LEN..], &want[..]);
}

#[test]
fn errors() {
    let mut buf = PAYLOAD.to_vec();
    buf.extend_from_slice(&[0u8; HMAC_LEN]);
    // One byte short reads as an earlier release's 11-byte entry (the HMAC then decides);
    // two bytes short is no entry length at all.
    assert_eq!(
        Packet::new_checked(&buf[..buf.len() - 2]).unwrap_err(),
        Error::Truncated
    );
    let mut b = buf.clone();
    b[0] = b'X';
    assert_eq!(
        Repr::parse(&Packet::new_unchecked(&b[..])).unwrap_err(),
        Error::BadMagic
    );
    // Version 1 (the persisted boot counter) is refused: its freshness rules differ.
    let mut b = buf.clone();
    b[4] = 1;
    assert_eq!(
        Repr::parse(&Packet::new_unchecked(&b[..])).unwrap_err(),
        Error::BadVersion(1)
    );
    let mut b = buf.clone();
    b[51] = 200;
    assert_eq!(
        Packet::new_checked(&b[..]).unwrap_err(),
        Error::TooManyVcs(200)
    );
    let mut b = buf.clone();
    b[5] = 9;
    assert_eq!(
        Repr::parse(&Packet::new_unchecked(&b[..]))
            .unwrap()
            .msg_type,
        MessageType::Unknown(9)
    );
    assert_eq!(split_frame(&[0u8; 13]).unwrap_err(), Error::Truncated);
    assert_eq!(split_frame(&[0u8; 20]).unwrap_err(), Error::NotPike);
}

#[test]
fn unknown_roles_are_kept() {
    let mut buf = PAYLOAD.to_vec();
    buf[54] = 77;
    buf.extend_from_slice(&[0u8; HMAC_LEN]);
    let r = Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap();
    assert_eq!(r.vcs[0].role, Role::Unknown(77));
    let mut out = vec![0u8; r.buffer_len()];
    r.emit(&mut Packet::new_unchecked(&mut out[..]));
    assert_eq!(out[54], 77);
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x9e37_79b9u32;
    let good = build_frame(&repr(), KEY, &SRC);
    for round in 0..5000 {
        let mut f = if round % 2 == 0 {
            good.clone()
        } else {
            vec![0u8; (seed % 400) as usize]
        };
        for _ in 0..(1 + seed % 8) {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            if !f.is_empty() {
                let i = (seed >> 8) as usize % f.len();
                f[i] = (seed >> 24) as u8;
            }
        }
        f.truncate((seed % 300) as usize);
        if let Ok(Frame { dst, src, payload }) = split_frame(&f) {
            if let Ok(p) = Packet::new_checked(payload) {
                let _ = verify(&p, KEY, &dst, &src);
                let _ = Repr::parse(&p);
            }
        }
        // The payload alone, too.
        if let Ok(p) = Packet::new_checked(&f[..]) {
            let _ = Repr::parse(&p);
        }
    }
}

/// The payload `entry` (the documented one, cut or extended) signed as a sender would.
fn signed_with_entry(entry: &[u8]) -> Vec<u8> {
    let mut buf = PAYLOAD[..HEADER_LEN].to_vec();
    buf.extend_from_slice(entry);
    buf.extend_from_slice(&[0u8; HMAC_LEN]);
    if Packet::new_checked(&buf[..]).is_ok() {
        Packet::new_unchecked(&mut buf[..]).sign(KEY, &GROUP_MAC, &SRC);
    }
    buf
}

/// A rolling upgrade: the first version-2 release wrote 11-byte entries (no penalty). Its
/// frames failed the HMAC here once the entry grew to 12 bytes, and the two nodes were deaf
/// to each other until both ran the same release.
#[test]
fn an_earlier_release_s_11_byte_entries_failed_the_hmac_and_now_read_with_penalty_0() {
    let buf = signed_with_entry(&PAYLOAD[HEADER_LEN..HEADER_LEN + 11]);
    let p = Packet::new_checked(&buf[..]).unwrap();
    assert_eq!(p.entry_len(), 11);
    assert!(verify(&p, KEY, &GROUP_MAC, &SRC));
    let mut want = repr();
    want.vcs[0].penalty = 0;
    assert_eq!(Repr::parse(&p).unwrap(), want);
}

#[test]
fn a_later_release_s_longer_entries_are_read_by_their_known_prefix() {
    let mut entry = PAYLOAD[HEADER_LEN..].to_vec();
    entry.extend_from_slice(&[0xaa, 0xbb, 0xcc]);
    let buf = signed_with_entry(&entry);
    let p = Packet::new_checked(&buf[..]).unwrap();
    assert_eq!(p.entry_len(), VC_LEN + 3);
    assert!(verify(&p, KEY, &GROUP_MAC, &SRC));
    assert_eq!(Repr::parse(&p).unwrap(), repr());
    // Entries shorter than the first release's, or a length that is no whole number of
    // entries, are read as this release's: the HMAC then fails.
    let short = signed_with_entry(&PAYLOAD[HEADER_LEN..HEADER_LEN + 10]);
    assert!(Packet::new_checked(&short[..]).is_err());
}
