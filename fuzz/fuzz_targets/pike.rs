//! Fuzz target: any bytes as an Ethernet frame through the PIKE parser and HMAC check.
#![no_main]

use habox::wire::pike::{split_frame, Frame, verify, Packet, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Frame { dst, src, payload }) = split_frame(data) {
        if let Ok(p) = Packet::new_checked(payload) {
            let _ = verify(&p, b"0123456789abcdef", &dst, &src);
            if let Ok(r) = Repr::parse(&p) {
                let mut out = vec![0u8; r.buffer_len()];
                r.emit(&mut Packet::new_unchecked(&mut out[..]));
            }
        }
    }
    if let Ok(p) = Packet::new_checked(data) {
        let _ = Repr::parse(&p);
    }
});
