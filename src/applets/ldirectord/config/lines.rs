//! The ldirectord.cf line reader: splits the text into directives (name, value and their
//! columns) and reads values as loosely as the Perl original (`checkinterval=abc5` is 5, with
//! a warning) so its files load unchanged; every problem is collected with FILE:LINE:COL.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use super::model::alert_status;
use crate::applets::ldirectord::resolve::Resolve;
use crate::conf::{Errors, Span};

/// One meaningful line: its number, indentation and `name`/`value` with their columns.
pub(super) struct Directive {
    pub line: u32,
    pub indented: bool,
    pub name: String,
    pub value: String,
    pub name_col: u32,
    pub value_col: u32,
    pub has_eq: bool,
}

/// Strips a `#` comment that is outside double quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Splits `text` into directives; blank and comment lines are dropped. `None` for a line
/// indented by 1-3 spaces (neither global nor part of a block).
pub(super) fn lines(text: &str) -> Vec<(u32, Option<Directive>)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let body = strip_comment(raw).trim_end();
        if body.trim().is_empty() {
            continue;
        }
        let mut width = 0usize;
        let mut skipped = 0usize;
        for c in body.chars() {
            match c {
                ' ' => width += 1,
                '\t' => width += 4,
                _ => break,
            }
            skipped += 1;
        }
        if width > 0 && width < 4 {
            out.push((no, None));
            continue;
        }
        let rest: String = body.chars().skip(skipped).collect();
        let name_len = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .count();
        let name: String = rest.chars().take(name_len).collect();
        let after: String = rest.chars().skip(name_len).collect();
        let ws1 = after.chars().take_while(|c| c.is_whitespace()).count();
        let after_ws: String = after.chars().skip(ws1).collect();
        let (has_eq, value, value_off) = match after_ws.strip_prefix('=') {
            Some(v) => {
                let ws2 = v.chars().take_while(|c| c.is_whitespace()).count();
                let value: String = v.chars().skip(ws2).collect();
                (true, value, skipped + name_len + ws1 + 1 + ws2)
            }
            None => (false, after_ws.clone(), skipped + name_len + ws1),
        };
        out.push((
            no,
            Some(Directive {
                line: no,
                indented: width >= 4,
                name,
                value,
                name_col: u32::try_from(skipped + 1).unwrap_or(u32::MAX),
                value_col: u32::try_from(value_off + 1).unwrap_or(u32::MAX),
                has_eq,
            }),
        ));
    }
    out
}

/// Reads values of one file and reports problems with its name.
pub(super) struct Reader<'a> {
    pub file: Rc<str>,
    pub errors: Errors,
    pub warnings: Vec<String>,
    pub resolver: &'a dyn Resolve,
}

impl Reader<'_> {
    pub fn span(&self, line: u32, col: u32) -> Span {
        Span::new(&self.file, line, col)
    }

    pub fn error(&mut self, d: &Directive, msg: impl Into<String>) {
        let span = self.span(d.line, d.value_col);
        self.errors.push(&span, msg);
    }

    pub fn warn(&mut self, d: &Directive, msg: impl std::fmt::Display) {
        let span = self.span(d.line, d.value_col);
        self.warnings.push(format!("{span}: warning: {msg}"));
    }

    /// Records `d` in `seen` (the directives of one level: the globals or one virtual) and
    /// warns at its name when that directive came before: the last one counts, as in the
    /// original, which says nothing, so an edit below an old line was silently lost (or the
    /// old line won over an edit above it). `multi` names those that may repeat (each adds one).
    pub fn note_repeat(&mut self, seen: &mut HashMap<String, u32>, d: &Directive, multi: &[&str]) {
        if multi.contains(&d.name.as_str()) {
            return;
        }
        match seen.get(&d.name) {
            Some(first) => {
                let span = self.span(d.line, d.name_col);
                self.warnings.push(format!(
                    "{span}: warning: {} given again: this line overrides line {first}",
                    d.name
                ));
                seen.insert(d.name.clone(), d.line);
            }
            None => {
                seen.insert(d.name.clone(), d.line);
            }
        }
    }

    /// Whether `path` is this config file (the same inode, by any name): a log or monitor
    /// file there would be appended to the config.
    pub fn is_this_config(&self, path: &Path) -> bool {
        crate::sys::file::same_inode(Path::new(&*self.file), path)
    }

    /// A line that is no `NAME=VALUE`: reported at its name, as written (the message showed
    /// name and value run together, "include/etc/x", at the value's column).
    pub fn unknown_without_eq(&mut self, d: &Directive) {
        let shown = if d.value.is_empty() {
            d.name.clone()
        } else {
            format!("{} {}", d.name, d.value)
        };
        // Control characters escaped: the message goes to a terminal or the log.
        let shown: String = shown
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect();
        let span = self.span(d.line, d.name_col);
        self.errors.push(
            &span,
            format!("Unknown command \"{shown}\" (expected NAME=VALUE)"),
        );
    }

    /// The first run of digits, as the original's `/(\d+)/`; zero refused when `nonzero`.
    pub(super) fn number(&mut self, d: &Directive, nonzero: bool, what: &str) -> Option<u32> {
        let digits: String = d
            .value
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(|c| c.is_ascii_digit())
            .collect();
        match digits.parse::<u32>() {
            Ok(0) if nonzero => {
                self.error(d, format!("invalid {what}: must be a positive number"));
                None
            }
            Ok(n) => {
                // The original's `/(\d+)/` reads `1e3` as 1, `-5` as 5 and `1.5` as 1 without a
                // word; the file loads the same here, but the operator is told.
                if digits != d.value {
                    self.warn(
                        d,
                        format!(
                            "{what}: {:?} is read as {n} (only the first run of digits counts, \
                             as in the Perl ldirectord)",
                            d.value
                        ),
                    );
                }
                Some(n)
            }
            // Digits that do not fit: the message said "not a number" of a number.
            Err(_) if !digits.is_empty() => {
                self.error(
                    d,
                    format!("invalid {what}: {digits} is too big (at most {})", u32::MAX),
                );
                None
            }
            Err(_) => {
                self.error(d, format!("invalid {what}: {:?} is not a number", d.value));
                None
            }
        }
    }

    /// The value without one pair of enclosing double quotes: `scheduler="wrr"`,
    /// `service="http"` and `checktype="connect"` are the bare words to the original, whose
    /// patterns are not anchored.
    pub(super) fn word_value(d: &Directive) -> &str {
        d.value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(&d.value)
    }

    pub(super) fn yes_no(&mut self, d: &Directive) -> Option<bool> {
        match d.value.as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => {
                self.error(d, format!("{} must be 'yes' or 'no'", d.name));
                None
            }
        }
    }

    /// A value that must be `"quoted"` (the original's `"(.*)"`, greedy) and not empty.
    pub(super) fn quoted(&mut self, d: &Directive) -> Option<String> {
        match d
            .value
            .strip_prefix('"')
            .and_then(|v| v.rfind('"').map(|i| &v[..i]))
        {
            Some("") => {
                self.error(d, format!("{}: empty string", d.name));
                None
            }
            Some(s) => Some(s.to_string()),
            None => {
                self.error(d, format!("{} needs a \"quoted\" value", d.name));
                None
            }
        }
    }

    /// A value whose quotes are optional.
    pub(super) fn maybe_quoted(&mut self, d: &Directive) -> Option<String> {
        let v = d
            .value
            .strip_prefix('"')
            .and_then(|v| v.rfind('"').map(|i| v[..i].to_string()))
            .unwrap_or_else(|| d.value.clone());
        if v.is_empty() {
            self.error(d, format!("{}: no value", d.name));
            return None;
        }
        Some(v)
    }

    pub(super) fn email_status(&mut self, d: &Directive) -> Option<u8> {
        let words: Vec<&str> = d.value.split(',').map(str::trim).collect();
        let none = words.contains(&"none");
        let mut status = 0;
        for w in &words {
            status |= match *w {
                "none" => 0,
                "all" => alert_status::ALL,
                "starting" => alert_status::STARTING,
                "running" => alert_status::RUNNING,
                "stopping" => alert_status::STOPPING,
                "reloading" => alert_status::RELOADING,
                other => {
                    self.error(d, format!("invalid email alert status at: \"{other}\""));
                    return None;
                }
            };
            if none && *w != "none" {
                self.error(
                    d,
                    format!("invalid email alert status: \"{w}\" with \"none\""),
                );
                return None;
            }
        }
        Some(status)
    }

    pub(super) fn smtp_host(&mut self, d: &Directive) -> Option<String> {
        let host: String = d
            .value
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "._+-".contains(*c))
            .collect();
        if host.is_empty() {
            self.error(d, "invalid SMTP server address");
            return None;
        }
        Some(host)
    }
}
