//! Fuzz target `icmp`: libFuzzer's input through `habox::fuzzing::icmp`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::icmp(data));
