//! Fuzz target `icmpv6_ndisc`: libFuzzer's input through `habox::fuzzing::icmpv6_ndisc`, the body `cargo test` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| habox::fuzzing::icmpv6_ndisc(data));
