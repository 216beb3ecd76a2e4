//! Fuzz target `corosync_cmapctl`: libFuzzer's input through `habox::fuzzing::corosync_cmapctl`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::corosync_cmapctl(data));
