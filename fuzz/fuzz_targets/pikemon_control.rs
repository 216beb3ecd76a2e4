//! Fuzz target `pikemon_control`: libFuzzer's input through `habox::fuzzing::pikemon_control`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::pikemon_control(data));
