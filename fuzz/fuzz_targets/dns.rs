//! Fuzz target: any bytes as a DNS response through the parser and the question match.
#![no_main]

use habox::wire::dns::{parse_response, Question, TYPE_A};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(r) = parse_response(data) {
        let asked = Question::new("www.example.test", TYPE_A);
        for q in &r.questions {
            let _ = asked.answers(q);
        }
    }
});
