//! Fuzz target `pop`: libFuzzer's input through `habox::fuzzing::pop`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::pop(data));
