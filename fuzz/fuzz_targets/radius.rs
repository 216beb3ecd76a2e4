//! Fuzz target `radius`: libFuzzer's input through `habox::fuzzing::radius`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::radius(data));
