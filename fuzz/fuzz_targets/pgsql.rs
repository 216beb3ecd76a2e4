//! Fuzz target `pgsql`: libFuzzer's input through `habox::fuzzing::pgsql`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::pgsql(data));
