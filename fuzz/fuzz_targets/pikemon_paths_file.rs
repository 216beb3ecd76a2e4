//! Fuzz target `pikemon_paths_file`: libFuzzer's input through `habox::fuzzing::pikemon_paths_file`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::pikemon_paths_file(data));
