//! A `receive` pattern: a regular expression searched unanchored in a check's answer, with
//! Perl's `$` rule, and a fast path for the text every match starts with.

use std::ops::Range;
use std::sync::Arc;

use regex_lite::Regex;

/// A `receive` pattern: the text as written and its regex, compiled once when the config is
/// read. A pattern the regex engine rejects is a config error at that line, not a check that
/// marks every real of the virtual down, and no check compiles it again.
///
/// Perl's `$` (without /m) also matches before a final newline, regex_lite's only at the
/// very end: `receive="^OK$"` was down against the body "OK\n", up in the original. A
/// pattern with a `$` is therefore also tried on the text without one final "\n".
///
/// regex_lite has no literal search of its own: it scans about 30 MiB/s, and a 16 MiB page
/// cost half a second of CPU per check. The literal text every match starts with is found
/// by a substring search first; the regex runs from there, or not at all when that text is
/// the whole pattern (`receive="Test Page"`, the usual case). The verdicts are the regex's.
#[derive(Debug, Clone)]
pub struct Receive {
    text: String,
    regex: Arc<Regex>,
    /// Text every match starts with (maybe empty).
    prefix: String,
    /// The pattern matches `prefix` and nothing else.
    literal: bool,
    /// The pattern has a `$`: also try the text without its final newline.
    perl_end: bool,
}

impl Receive {
    pub fn new(text: &str) -> Result<Receive, String> {
        let regex = Regex::new(text).map_err(|e| {
            format!(
                "receive: invalid regular expression {text:?}: {}",
                e.to_string().replace('\n', " ")
            )
        })?;
        let (prefix, literal) = literal_prefix(text);
        Ok(Receive {
            text: text.to_string(),
            regex: Arc::new(regex),
            prefix,
            literal,
            perl_end: text.contains('$'),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The match the regex finds in `hay` at or after `from` (a character boundary): no
    /// match can start before the first `prefix` there, so the regex starts at it.
    fn find_at(&self, hay: &str, from: usize) -> Option<Range<usize>> {
        let start = from + hay.get(from..)?.find(self.prefix.as_str())?;
        if self.literal {
            return Some(start..start + self.prefix.len());
        }
        self.regex.find_at(hay, start).map(|m| m.range())
    }

    pub fn is_match(&self, text: &str) -> bool {
        let found = |t: &str| self.find_at(t, 0).is_some();
        found(text) || self.before_final_newline(text, found)
    }

    /// `try_match` on `text` without its final "\n", when Perl's `$` could match there.
    fn before_final_newline(&self, text: &str, try_match: impl Fn(&str) -> bool) -> bool {
        self.perl_end && text.strip_suffix('\n').is_some_and(try_match)
    }

    /// Whether the pattern matches in `window`, one of the overlapping pieces a body too big
    /// to hold is searched in: `first`, the body starts with it; `last`, it ends with it. A
    /// match at the very start of a later window (where `^` and `\b` would see no context)
    /// or touching the end of a window before the last (where `$` would see a false end) is
    /// left to the neighbouring window, which holds it whole when it is shorter than the
    /// overlap. Only the last window ends the body, so only there may `$` also match
    /// before a final newline.
    pub fn matches_window(&self, window: &str, first: bool, last: bool) -> bool {
        let from = if first {
            0
        } else {
            window
                .char_indices()
                .nth(1)
                .map_or(window.len(), |(i, _)| i)
        };
        let found = |w: &str| {
            from <= w.len()
                && self
                    .find_at(w, from)
                    .is_some_and(|m| last || m.end < w.len())
        };
        found(window) || (last && self.before_final_newline(window, found))
    }
}

/// Two patterns are the same when their texts are (a reload compares configs).
impl PartialEq for Receive {
    fn eq(&self, other: &Receive) -> bool {
        self.text == other.text
    }
}

impl Eq for Receive {}

/// The literal text every match of `pattern` (a valid regex_lite pattern) starts with, and
/// whether the pattern is that text alone. Literal: any character but
/// `\ . + * ? ( ) | [ ] { } ^ $`, and a backslash before ASCII punctuation but `<` and `>`
/// (regex_lite's escapes of a character by itself). A quantifier takes the character before
/// it off the prefix; a `|` anywhere leaves none (an alternative may start otherwise).
/// Anything else ends the prefix: flags, classes, groups and assertions are the regex's.
fn literal_prefix(pattern: &str) -> (String, bool) {
    let mut prefix = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let literal = match c {
            '\\' => chars
                .next()
                .filter(|&e| e.is_ascii_punctuation() && e != '<' && e != '>'),
            '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' => None,
            c => Some(c),
        };
        match literal {
            Some(l) => prefix.push(l),
            None => {
                if pattern.contains('|') {
                    prefix.clear();
                } else if matches!(c, '+' | '*' | '?' | '{') {
                    prefix.pop();
                }
                return (prefix, false);
            }
        }
    }
    (prefix, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(text: &str) -> Receive {
        Receive::new(text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The same pattern without the fast path: the regex alone, from where it is asked.
    fn regex_only(text: &str) -> Receive {
        Receive {
            prefix: String::new(),
            literal: false,
            ..receive(text)
        }
    }

    #[test]
    fn plain_and_escaped_text_is_searched_as_text() {
        for (pattern, prefix, literal) in [
            ("Test Page", "Test Page", true),
            ("", "", true),
            (r"Test\.Page", "Test.Page", true),
            (
                r"a\$b\(c\)\[d\]\{e\}\|f\\g\^h\*\?\+",
                "a$b(c)[d]{e}|f\\g^h*?+",
                true,
            ),
            ("#&-~ é", "#&-~ é", true),
            ("Test.Page", "Test", false),
            ("Test Page$", "Test Page", false),
            ("ab*c", "a", false),
            (r"ab\.?c", "ab", false),
            ("ab{2}", "a", false),
            ("ab+", "a", false),
            (r"ab\d", "ab", false),
            (r"ab\bc", "ab", false),
            (r"ab\<", "ab", false),
            ("(?i)Test Page", "", false),
            ("^Test", "", false),
            ("abc|abd", "", false),
            ("ab(c|d)", "", false),
            ("[T]est", "", false),
        ] {
            assert_eq!(
                literal_prefix(pattern),
                (prefix.to_string(), literal),
                "{pattern}"
            );
        }
    }

    #[test]
    fn case_matters_as_in_the_regex() {
        assert!(receive("Test Page").is_match("a Test Page here"));
        assert!(!receive("Test Page").is_match("a test page here"));
        assert!(receive("(?i)Test Page").is_match("a test page here"));
        assert!(receive(r"1\.0").is_match("HTTP/1.0"));
        assert!(!receive(r"1\.0").is_match("HTTP/100"));
    }

    /// A window before the last may not end with a match (the next one holds it whole), and
    /// a later window's match at its very start was the previous window's.
    #[test]
    fn a_literal_cut_by_a_window_edge_is_left_to_the_neighbouring_window() {
        let r = receive("NEEDLE");
        assert!(!r.matches_window("xxNEEDLE", true, false));
        assert!(r.matches_window("xxNEEDLE", true, true));
        assert!(r.matches_window("xNEEDLEx", true, false));
        assert!(!r.matches_window("NEEDLExx", false, false));
        assert!(r.matches_window("NEEDLExx", true, false));
        assert!(r.matches_window("xNEEDLEx", false, false));
        assert!(!r.matches_window("xNEEDL", false, true));
        assert!(!r.matches_window("", false, true));
        assert!(receive("").matches_window("", true, true));
        assert!(!receive("").matches_window("x", false, false));
    }

    /// Random patterns, windows and window positions, from a fixed seed: the substring
    /// search gives the regex's verdict every time.
    #[test]
    fn the_fast_path_gives_the_verdicts_of_the_regex_alone() {
        let patterns = [
            "ab", "a", "aba", "", "A", r"a\.b", r"\$", r"a\|b", "é a", "ab$", "b\n$", "ab*",
            "ab+a", "a.b", "aa?b", "ab{2}", r"ab\b", r"a\B", "ab(?i)A", "ab|ba", "^ab", "a[b.]",
            r"a\sb",
        ];
        let alphabet = ['a', 'b', 'A', '.', '$', '|', '\n', ' ', 'é', 'x'];
        let mut seed = 0x2545_f491_u32;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as usize % n
        };
        let mut checked = 0;
        for pattern in patterns {
            let (fast, slow) = (receive(pattern), regex_only(pattern));
            for _ in 0..400 {
                let len = next(24);
                let text: String = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
                assert_eq!(
                    fast.is_match(&text),
                    slow.is_match(&text),
                    "{pattern:?} in {text:?}"
                );
                for (first, last) in [(true, true), (true, false), (false, true), (false, false)] {
                    assert_eq!(
                        fast.matches_window(&text, first, last),
                        slow.matches_window(&text, first, last),
                        "{pattern:?} in window {text:?} first {first} last {last}"
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, patterns.len() * 400);
    }
}
