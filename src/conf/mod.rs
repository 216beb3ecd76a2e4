//! The shared config tokenizer: every token keeps its `file:line:col`, errors are collected
//! (never stop at the first) and printed as `FILE:LINE:COL: error: message`.
//!
//! `tokenize` splits Kernun-style text (`item args;`, `section NAME { ... }`, `"strings"`,
//! `# comments`); `tree::parse` builds the statement tree pikemon's config reader walks.
//! Line-oriented formats (ldirectord.cf) use `Span` and `Errors` with their own reader.

pub mod file;
pub mod tree;

use std::fmt;
use std::rc::Rc;

/// Where a token or a problem is: file, 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub file: Rc<str>,
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub fn new(file: &Rc<str>, line: u32, col: u32) -> Span {
        Span {
            file: Rc::clone(file),
            line,
            col,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// What kind of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A bare word: keywords, names, numbers with units (`100ms`), `[198.51.100.1]/24`.
    Word,
    /// A double-quoted string, escapes resolved (`\"`, `\\`, `\n`, `\t`).
    Str,
    OpenBrace,
    CloseBrace,
    Semicolon,
}

/// One token with its text and where it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub text: String,
    pub span: Span,
}

/// One problem found in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub span: Span,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: error: {}", self.span, self.message)
    }
}

/// All problems found in a config, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Errors(pub Vec<Error>);

impl Errors {
    pub fn new() -> Errors {
        Errors(Vec::new())
    }

    pub fn push(&mut self, span: &Span, message: impl Into<String>) {
        self.0.push(Error {
            span: span.clone(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn extend(&mut self, other: Errors) {
        self.0.extend(other.0);
    }

    /// Ok if nothing was found, else all of it.
    pub fn into_result<T>(self, value: T) -> Result<T, Errors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '{' | '}' | ';' | '"' | '#')
}

/// A character an editor shows as nothing (a byte order mark, a zero-width space or joiner,
/// a soft hyphen, a bidirectional mark or override): inside a word it made an item that
/// looked right unknown, and its message showed nothing wrong.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{feff}'
            | '\u{00ad}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// Splits `text` (read from `file`) into tokens; problems (an unterminated string, a
/// control character) are collected, and tokenizing goes on after them.
pub fn tokenize(file: &str, text: &str) -> (Vec<Token>, Errors) {
    let file: Rc<str> = Rc::from(file);
    let mut tokens = Vec::new();
    let mut errors = Errors::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut col) = (1u32, 1u32);
    let advance = |c: char, line: &mut u32, col: &mut u32| {
        if c == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
    };
    while let Some(&c) = chars.peek() {
        let span = Span::new(&file, line, col);
        match c {
            '#' => {
                while let Some(&c) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    chars.next();
                    advance(c, &mut line, &mut col);
                }
            }
            c if c.is_whitespace() => {
                chars.next();
                advance(c, &mut line, &mut col);
            }
            '{' | '}' | ';' => {
                chars.next();
                advance(c, &mut line, &mut col);
                let kind = match c {
                    '{' => Kind::OpenBrace,
                    '}' => Kind::CloseBrace,
                    _ => Kind::Semicolon,
                };
                tokens.push(Token {
                    kind,
                    text: c.to_string(),
                    span,
                });
            }
            '"' => {
                chars.next();
                advance(c, &mut line, &mut col);
                let mut s = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    advance(c, &mut line, &mut col);
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => {
                            let Some(e) = chars.next() else { break };
                            advance(e, &mut line, &mut col);
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                        '\n' => {
                            errors.push(&span, "unterminated string (a string ends on its line)");
                            closed = true;
                            break;
                        }
                        other => s.push(other),
                    }
                }
                if !closed {
                    errors.push(&span, "unterminated string at end of file");
                }
                tokens.push(Token {
                    kind: Kind::Str,
                    text: s,
                    span,
                });
            }
            c if c.is_control() => {
                chars.next();
                advance(c, &mut line, &mut col);
                errors.push(&span, format!("unexpected control character {:?}", c));
            }
            c if is_invisible(c) => {
                chars.next();
                advance(c, &mut line, &mut col);
                if c == '\u{feff}' && (line, col) == (1, 2) {
                    errors.push(
                        &span,
                        "a byte order mark (U+FEFF) starts the file: save it as UTF-8 without one",
                    );
                } else {
                    errors.push(
                        &span,
                        format!("invisible character U+{:04X} (delete it)", c as u32),
                    );
                }
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if !is_word_char(c) || c.is_control() || is_invisible(c) {
                        break;
                    }
                    s.push(c);
                    chars.next();
                    advance(c, &mut line, &mut col);
                }
                tokens.push(Token {
                    kind: Kind::Word,
                    text: s,
                    span,
                });
            }
        }
    }
    (tokens, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(ts: &[Token]) -> Vec<(Kind, &str)> {
        ts.iter().map(|t| (t.kind, t.text.as_str())).collect()
    }

    #[test]
    fn tokens_keep_line_and_column() {
        let (ts, errs) = tokenize(
            "a.cfg",
            "version X;\n  item \"s p\" [198.51.100.1]/24; # c\n}",
        );
        assert!(errs.is_empty());
        assert_eq!(
            kinds(&ts),
            vec![
                (Kind::Word, "version"),
                (Kind::Word, "X"),
                (Kind::Semicolon, ";"),
                (Kind::Word, "item"),
                (Kind::Str, "s p"),
                (Kind::Word, "[198.51.100.1]/24"),
                (Kind::Semicolon, ";"),
                (Kind::CloseBrace, "}"),
            ]
        );
        assert_eq!(ts[3].span.to_string(), "a.cfg:2:3");
        assert_eq!(ts[5].span.to_string(), "a.cfg:2:14");
        assert_eq!(ts[7].span.to_string(), "a.cfg:3:1");
    }

    #[test]
    fn string_escapes_are_resolved() {
        let (ts, errs) = tokenize("f", r#""a\"b\\c\n""#);
        assert!(errs.is_empty());
        assert_eq!(ts[0].text, "a\"b\\c\n");
    }

    #[test]
    fn unterminated_strings_are_errors_and_tokenizing_goes_on() {
        let (ts, errs) = tokenize("f", "x \"abc\ny;\n\"open");
        assert_eq!(errs.len(), 2);
        assert_eq!(
            errs.0[0].to_string(),
            "f:1:3: error: unterminated string (a string ends on its line)"
        );
        assert!(errs.0[1]
            .to_string()
            .starts_with("f:3:1: error: unterminated string"));
        assert!(ts.iter().any(|t| t.text == "y"));
    }

    #[test]
    fn garbage_never_panics() {
        for s in ["\u{0}\u{1}{{;;\"\\", "\"\\", "#", "}}}}", "\u{7f}é€\"é"] {
            let _ = tokenize("g", s);
        }
    }
}
