//! Fuzz target `pikemon_config`: libFuzzer's input through `habox::fuzzing::pikemon_config`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::pikemon_config(data));
