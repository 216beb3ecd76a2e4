//! Fuzz target `sip`: libFuzzer's input through `habox::fuzzing::sip`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::sip(data));
