//! Fuzz target `http`: libFuzzer's input through `habox::fuzzing::http`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::http(data));
