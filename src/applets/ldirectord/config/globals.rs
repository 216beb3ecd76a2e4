//! The global directives of ldirectord.cf (the lines outside `virtual=` blocks).

use std::path::PathBuf;

use super::lines::{Directive, Reader};
use super::model::*;

pub(super) fn global_directive(
    r: &mut Reader,
    g: &mut Globals,
    fallbacks: &mut Vec<(u32, u32, String, bool)>,
    d: &Directive,
) {
    match d.name.as_str() {
        "checktimeout" => g.checktimeout = r.number(d, true, "check timeout").or(g.checktimeout),
        "negotiatetimeout" => {
            g.negotiatetimeout = r
                .number(d, true, "negotiate timeout")
                .or(g.negotiatetimeout)
        }
        "checkinterval" => {
            g.checkinterval = r
                .number(d, true, "check interval")
                .unwrap_or(g.checkinterval)
        }
        "checkcount" => {
            g.checkcount = r.number(d, true, "check count").unwrap_or(g.checkcount);
            r.warn(
                d,
                "checkcount is deprecated (it only sets ping attempts); see failurecount",
            );
        }
        "failurecount" => {
            g.failurecount = r.number(d, true, "failure count").unwrap_or(g.failurecount)
        }
        "fallback" | "fallback6" => {
            fallbacks.push((d.line, d.value_col, d.value.clone(), d.name == "fallback6"))
        }
        "fallbackcommand" => g.fallbackcommand = r.maybe_quoted(d).or(g.fallbackcommand.take()),
        "autoreload" => g.autoreload = r.yes_no(d).unwrap_or(g.autoreload),
        "callback" => g.callback = r.quoted(d),
        "logfile" => {
            if let Some(v) = r.quoted(d) {
                if let Some(t) = log_target(r, d, v) {
                    g.logfile = t;
                }
            }
        }
        "execute" => {
            if d.value.is_empty() {
                r.error(d, "execute needs a config name");
            } else {
                g.execute.push(d.value.clone());
            }
        }
        "fork" => g.fork = r.yes_no(d).unwrap_or(g.fork),
        "supervised" if !d.has_eq && d.value.is_empty() => {
            g.supervised = true;
            r.warn(
                d,
                "please update your config not to use a bare supervised directive",
            );
        }
        "supervised" => g.supervised = r.yes_no(d).unwrap_or(g.supervised),
        "quiescent" => g.quiescent = r.yes_no(d).unwrap_or(g.quiescent),
        "readdquiescent" => g.readdquiescent = r.yes_no(d).unwrap_or(g.readdquiescent),
        "emailalert" => g.emailalert = r.maybe_quoted(d),
        "emailalertfreq" => {
            g.emailalertfreq = r.number(d, false, "email alert frequency").unwrap_or(0)
        }
        "emailalertstatus" => g.emailalertstatus = r.email_status(d).unwrap_or(g.emailalertstatus),
        "emailalertfrom" => g.emailalertfrom = r.maybe_quoted(d),
        "cleanstop" => g.cleanstop = r.yes_no(d).unwrap_or(g.cleanstop),
        "smtp" => g.smtp = r.smtp_host(d),
        "maintenancedir" => {
            if let Some(dir) = r.maybe_quoted(d) {
                if !std::path::Path::new(&dir).is_dir() {
                    r.warn(d, "maintenance directory does not exist");
                }
                g.maintenancedir = Some(PathBuf::from(dir));
            }
        }
        "connecttimeout" => r.error(
            d,
            "connecttimeout is deprecated in favour of negotiatetimeout",
        ),
        "timeout" => r.error(
            d,
            "timeout is deprecated in favour of checktimeout and negotiatetimeout",
        ),
        other => {
            let span = r.span(d.line, d.name_col);
            r.errors
                .push(&span, format!("Unknown command \"{other}={}\"", d.value));
        }
    }
}

/// `logfile="/path"` or `logfile="facility"`. The original opens the file at load and refuses
/// one it cannot open ("unable to open logfile", exit 2): accepted, every line was dropped.
/// A FIFO without a reader (ENXIO) is taken: lines wait for no reader, they are dropped.
/// A facility name must be a syslog(3) one: it was ignored (everything went out as daemon).
fn log_target(r: &mut Reader, d: &Directive, v: String) -> Option<LogTarget> {
    if v.starts_with('/') {
        let path = PathBuf::from(v);
        if r.is_this_config(&path) {
            r.error(
                d,
                format!(
                    "logfile {} is this config file: the log would be appended to it",
                    path.display()
                ),
            );
            return None;
        }
        match crate::applets::ldirectord::logfile::open_append(&path) {
            Err(e) if e.raw_os_error() != Some(libc::ENXIO) => {
                r.error(d, format!("unable to open logfile {}: {e}", path.display()));
                None
            }
            _ => Some(LogTarget::File(path)),
        }
    } else if crate::logging::facility_code(&v).is_some() {
        Some(LogTarget::Syslog(v))
    } else {
        r.error(
            d,
            format!(
                "logfile: {v:?} is neither an absolute path nor a syslog facility \
                 (daemon, local0 ... local7, user, ...)"
            ),
        );
        None
    }
}
