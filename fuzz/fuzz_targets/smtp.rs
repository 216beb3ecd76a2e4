//! Fuzz target `smtp`: libFuzzer's input through `habox::fuzzing::smtp`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::smtp(data));
