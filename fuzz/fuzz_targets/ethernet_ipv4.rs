//! Fuzz target `ethernet_ipv4`: libFuzzer's input through `habox::fuzzing::ethernet_ipv4`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::ethernet_ipv4(data));
