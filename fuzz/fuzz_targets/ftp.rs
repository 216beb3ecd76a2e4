//! Fuzz target `ftp`: libFuzzer's input through `habox::fuzzing::ftp`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::ftp(data));
