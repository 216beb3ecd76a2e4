//! Fuzz target `conntrackd_config`: libFuzzer's input through `habox::fuzzing::conntrackd_config`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::conntrackd_config(data));
