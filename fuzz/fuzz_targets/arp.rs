//! Fuzz target `arp`: libFuzzer's input through `habox::fuzzing::arp`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::arp(data));
