//! Fuzz target `conntrackd_control`: libFuzzer's input through `habox::fuzzing::conntrackd_control`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::conntrackd_control(data));
