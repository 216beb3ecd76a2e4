//! Fuzz target `pike`: libFuzzer's input through `habox::fuzzing::pike`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::pike(data));
