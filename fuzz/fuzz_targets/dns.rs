//! Fuzz target `dns`: libFuzzer's input through `habox::fuzzing::dns`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::dns(data));
