//! Fuzz target: any bytes as a RADIUS answer through the parser and the authenticator check.
#![no_main]

use habox::wire::radius::{Packet, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = Packet::new_unchecked(data);
    let _ = p.response_authentic(&[0; 16], b"secret");
    if let Ok(p) = Packet::new_checked(data) {
        if let Ok(r) = Repr::parse(&p) {
            let _ = r.to_bytes();
        }
    }
});
