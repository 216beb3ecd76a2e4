//! Fuzz target `ipvs`: libFuzzer's input through `habox::fuzzing::ipvs`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::ipvs(data));
