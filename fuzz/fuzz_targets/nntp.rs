//! Fuzz target `nntp`: libFuzzer's input through `habox::fuzzing::nntp`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::nntp(data));
