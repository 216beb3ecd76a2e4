//! Fuzz target `mysql`: libFuzzer's input through `habox::fuzzing::mysql`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::mysql(data));
