//! ldirectord.cf, read into typed values. Layout, bottom up (each module imports only those
//! before it, so the reader has no import cycle): `model` (the values, their defaults and
//! override rules), `lines` (directives with their columns, the loose value readers, the
//! error list), `real` (the `virtual=`, `real=` and `fallback=` address syntaxes), `globals`
//! and `virtuals` (the directives of each level; a virtual is resolved against the globals
//! when its block ends); `parse` here ties them together.

mod globals;
mod lines;
mod model;
mod real;
mod receive;
mod virtuals;

use std::collections::HashMap;
use std::rc::Rc;

pub use model::*;

use super::resolve::Resolve;
use crate::conf::Errors;
use globals::global_directive;
use lines::{lines, Reader};
use real::parse_fallback;
use virtuals::{finish, new_draft, virtual_directive, Draft};

/// The machine's host name, for the ftp password and sip login defaults.
fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// A config file's bytes as text. A leading byte order mark is skipped (editors on Windows
/// write one: it made the first directive an unknown command whose name showed no
/// difference); bytes that are not UTF-8 are an error at their line and column (the message
/// had neither).
pub fn text_of(file: &str, bytes: Vec<u8>) -> Result<String, Errors> {
    let bytes = match bytes.strip_prefix("\u{feff}".as_bytes()) {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let before = e.as_bytes().get(..at).unwrap_or_default();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let col = String::from_utf8_lossy(before.get(line_start..).unwrap_or_default())
            .chars()
            .count()
            + 1;
        let byte = e.as_bytes().get(at).copied().unwrap_or_default();
        let mut errors = Errors::new();
        let span = crate::conf::Span::new(
            &Rc::from(file),
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(col).unwrap_or(u32::MAX),
        );
        errors.push(
            &span,
            format!("byte 0x{byte:02x} is not UTF-8 text (save the file as UTF-8)"),
        );
        errors
    })
}

/// A config with errors, and the warnings found in it too: `-t` printed only the errors, and
/// an operator fixing them learnt of a value read loosely only after the next run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub errors: Errors,
    /// As `Config::warnings`.
    pub warnings: Vec<String>,
}

impl From<Errors> for Rejected {
    fn from(errors: Errors) -> Rejected {
        Rejected {
            errors,
            warnings: Vec::new(),
        }
    }
}

/// The warnings first, then the errors (the last lines an operator sees), one a line.
impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for w in &self.warnings {
            writeln!(f, "{w}")?;
        }
        write!(f, "{}", self.errors)
    }
}

impl std::error::Error for Rejected {}

/// Reads a whole ldirectord.cf. `file` names it in messages.
pub fn parse(file: &str, text: &str, resolver: &dyn Resolve) -> Result<Config, Rejected> {
    let mut r = Reader {
        file: Rc::from(file),
        errors: Errors::new(),
        warnings: Vec::new(),
        resolver,
    };
    let mut g = Globals::default();
    let mut g_fallback: Vec<(u32, u32, String, bool)> = Vec::new();
    let mut drafts: Vec<Draft> = Vec::new();
    let mut seen_globals: HashMap<String, u32> = HashMap::new();
    for (no, d) in lines(text) {
        let Some(d) = d else {
            let span = r.span(no, 1);
            r.errors.push(
                &span,
                "indent the lines of a virtual block by a tab or 4 spaces; global lines start in column 1",
            );
            continue;
        };
        if d.indented {
            match drafts.last_mut() {
                Some(v) => virtual_directive(&mut r, v, &d),
                None => r.error(&d, format!("\"{}\" outside a virtual block", d.name)),
            }
            continue;
        }
        if !d.has_eq && d.name != "supervised" {
            r.unknown_without_eq(&d);
            continue;
        }
        match d.name.as_str() {
            "virtual" | "virtual6" => {
                let v6 = d.name == "virtual6";
                drafts.push(new_draft(&mut r, &d, v6));
            }
            _ => {
                r.note_repeat(&mut seen_globals, &d, &["execute"]);
                global_directive(&mut r, &mut g, &mut g_fallback, &d)
            }
        }
    }
    for (line, col, text, v6) in g_fallback {
        let span = r.span(line, col);
        if let Some(fb) = parse_fallback(&mut r, &span, &text, v6, "") {
            if v6 {
                g.fallback6 = Some(fb);
            } else {
                g.fallback = Some(fb);
            }
        }
    }
    let host = hostname();
    let mut virtuals: Vec<Virtual> = Vec::new();
    for draft in drafts {
        if let Some(v) = finish(&mut r, &g, draft, &host) {
            if virtuals
                .iter()
                .any(|o| o.addr == v.addr && o.protocol == v.protocol)
            {
                let span = r.span(v.line, 1);
                r.errors.push(&span, "duplicate virtual server");
                continue;
            }
            virtuals.push(v);
        }
    }
    if !g.fork {
        for v in &virtuals {
            if v.checkinterval != g.checkinterval {
                let span = r.span(v.line, 1);
                r.warnings.push(format!(
                    "{span}: warning: checkinterval of {} is honoured (the original ignores it when fork=no)",
                    v.id()
                ));
            }
        }
    }
    let warnings = std::mem::take(&mut r.warnings);
    if !r.errors.is_empty() {
        return Err(Rejected {
            errors: r.errors,
            warnings,
        });
    }
    Ok(Config {
        globals: g,
        virtuals,
        warnings,
    })
}
