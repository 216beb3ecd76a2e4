//! Fuzz target: any text through pikemon's config reader.
#![no_main]

use habox::applets::pikemon::config::{read, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = read("fuzz.cfg", text, ReadOptions::default());
    }
});
