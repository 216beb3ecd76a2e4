//! Fuzz target `rtnetlink`: libFuzzer's input through `habox::fuzzing::rtnetlink`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::rtnetlink(data));
