//! Fuzz target `ldap`: libFuzzer's input through `habox::fuzzing::ldap`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::ldap(data));
