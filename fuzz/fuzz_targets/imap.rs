//! Fuzz target `imap`: libFuzzer's input through `habox::fuzzing::imap`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::imap(data));
