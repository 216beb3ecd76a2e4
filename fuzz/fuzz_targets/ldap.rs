//! Fuzz target: any bytes as an LDAP byte stream, decoded message after message.
#![no_main]

use habox::wire::ldap::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((_, n))) = Message::parse(rest) {
        rest = &rest[n..];
    }
});
