//! Text a server sent — an HTTP status line, an LDAP diagnostic, an FTP, SIP or SMTP reply —
//! is data, not log format: before it reaches a log line, the monitorfile or an alert mail it
//! is capped and every control character (and the Unicode line and bidi controls) is written
//! as an escape, so a server cannot forge log lines, move the terminal or end an SMTP DATA.

/// The most bytes of server text kept (the escapes count); a longer text is cut and ends in
/// `...`.
pub const MAX_BYTES: usize = 200;

/// Unicode characters that are not `char::is_control` but reorder or break lines.
fn is_layout_control(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` capped at `MAX_BYTES` with its control characters escaped (`\n`, `\r`, `\t`,
/// `\xNN`, `\u{NNNN}`), and the backslash itself as `\\`: otherwise a server's literal
/// `bad\nfake` would read exactly like an escaped line break.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_BYTES + 3));
    for c in text.chars() {
        let piece = match c {
            '\\' => "\\\\".to_string(),
            '\n' => "\\n".to_string(),
            '\r' => "\\r".to_string(),
            '\t' => "\\t".to_string(),
            c if c.is_control() && (c as u32) < 0x100 => format!("\\x{:02x}", c as u32),
            c if c.is_control() || is_layout_control(c) => format!("\\u{{{:04x}}}", c as u32),
            c => c.to_string(),
        };
        if out.len() + piece.len() > MAX_BYTES {
            out.push_str("...");
            return out;
        }
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            printable("HTTP/1.0 500 a\nInjected\r\x1b[31m\x07\t\u{7f}"),
            "HTTP/1.0 500 a\\nInjected\\r\\x1b[31m\\x07\\t\\x7f"
        );
        assert_eq!(
            printable("x\u{85}\u{202e}y\u{2028}"),
            "x\\x85\\u{202e}y\\u{2028}"
        );
        assert_eq!(printable("caf\u{e9} 200 OK"), "caf\u{e9} 200 OK");
    }

    /// A status line with the literal text `bad\nfake` was logged exactly as one with a line
    /// break in it: the backslash was not escaped.
    #[test]
    fn backslash_in_server_text_read_as_an_escape() {
        assert_eq!(printable("500 bad\\nfake"), "500 bad\\\\nfake");
        assert_eq!(printable("500 bad\nfake"), "500 bad\\nfake");
        assert_ne!(printable("a\\nb"), printable("a\nb"));
        assert_eq!(printable("\\"), "\\\\");
    }

    #[test]
    fn long_text_is_capped_on_a_character_boundary() {
        let long = "\u{e9}".repeat(1000);
        let p = printable(&long);
        assert!(p.len() <= MAX_BYTES + 3, "{}", p.len());
        assert!(p.ends_with("..."));
        let escapes = printable(&"\x01".repeat(100));
        assert_eq!(escapes.len(), MAX_BYTES + 3);
        assert_eq!(printable(&"a".repeat(MAX_BYTES)), "a".repeat(MAX_BYTES));
    }
}
