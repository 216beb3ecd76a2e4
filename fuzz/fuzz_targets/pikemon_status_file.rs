//! Fuzz target `pikemon_status_file`: libFuzzer's input through `habox::fuzzing::pikemon_status_file`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::pikemon_status_file(data));
