//! The ldirectord.cf line reader: splits lines into directives, reads global ones and
//! `virtual=` blocks, then resolves every virtual against the globals (ld_setup's rules).
//! Values are read as loosely as the Perl original (`checkinterval=abc5` is 5, with a warning)
//! so its files load unchanged. Real and fallback syntax lives in `config_real`.

use std::path::PathBuf;
use std::rc::Rc;

use super::config::*;
use super::config_real::{parse_fallback, parse_real_line, parse_virtual_addr, RealDraft};
use super::resolve::Resolve;
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
fn lines(text: &str) -> Vec<(u32, Option<Directive>)> {
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

    /// The first run of digits, as the original's `/(\d+)/`; zero refused when `nonzero`.
    fn number(&mut self, d: &Directive, nonzero: bool, what: &str) -> Option<u32> {
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
                if digits != d.value {
                    self.warn(d, format!("{what}: only the number {n} is used"));
                }
                Some(n)
            }
            Err(_) => {
                self.error(d, format!("invalid {what}: {:?} is not a number", d.value));
                None
            }
        }
    }

    fn yes_no(&mut self, d: &Directive) -> Option<bool> {
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
    fn quoted(&mut self, d: &Directive) -> Option<String> {
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
    fn maybe_quoted(&mut self, d: &Directive) -> Option<String> {
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

    fn email_status(&mut self, d: &Directive) -> Option<u8> {
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

    fn smtp_host(&mut self, d: &Directive) -> Option<String> {
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

/// A virtual block as read, before the globals are known.
struct Draft {
    line: u32,
    v6: bool,
    addr_text: Option<(String, String)>,
    fwmark: Option<u32>,
    protocol: Protocol,
    service: Option<Service>,
    checktype: CheckType,
    checkcommand: String,
    checkport: Option<u16>,
    request: String,
    receive: String,
    httpmethod: String,
    virtualhost: Option<String>,
    login: String,
    passwd: String,
    database: String,
    secret: String,
    scheduler: String,
    persistent: Option<u32>,
    netmask: Option<String>,
    schedflags: Option<String>,
    ops: bool,
    checktimeout: Option<u32>,
    negotiatetimeout: Option<u32>,
    checkcount: Option<u32>,
    failurecount: Option<u32>,
    checkinterval: Option<u32>,
    quiescent: Option<bool>,
    cleanstop: Option<bool>,
    fallback: Option<(u32, String)>,
    fallbackcommand: Option<String>,
    emailalert: Option<String>,
    emailalertfreq: Option<u32>,
    emailalertstatus: Option<u8>,
    smtp: Option<String>,
    monitorfile: Option<PathBuf>,
    servicename: Option<String>,
    comment: Option<String>,
    reals: Vec<(u32, u32, String)>,
    bad: bool,
}

/// The machine's host name, for the ftp password and sip login defaults.
fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Reads a whole ldirectord.cf. `file` names it in messages.
pub fn parse(file: &str, text: &str, resolver: &dyn Resolve) -> Result<Config, Errors> {
    let mut r = Reader {
        file: Rc::from(file),
        errors: Errors::new(),
        warnings: Vec::new(),
        resolver,
    };
    let mut g = Globals::default();
    let mut g_fallback: Vec<(u32, u32, String, bool)> = Vec::new();
    let mut drafts: Vec<Draft> = Vec::new();
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
            r.error(&d, format!("Unknown command \"{}{}\"", d.name, d.value));
            continue;
        }
        match d.name.as_str() {
            "virtual" | "virtual6" => {
                let v6 = d.name == "virtual6";
                drafts.push(new_draft(&mut r, &d, v6));
            }
            _ => global_directive(&mut r, &mut g, &mut g_fallback, &d),
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
    r.errors.into_result(Config {
        globals: g,
        virtuals,
        warnings,
    })
}

fn global_directive(
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
                g.logfile = if v.starts_with('/') {
                    LogTarget::File(PathBuf::from(v))
                } else {
                    LogTarget::Syslog(v)
                };
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

fn new_draft(r: &mut Reader, d: &Directive, v6: bool) -> Draft {
    let mut draft = Draft {
        line: d.line,
        v6,
        addr_text: None,
        fwmark: None,
        protocol: Protocol::Tcp,
        service: None,
        checktype: CheckType::Negotiate,
        checkcommand: "/bin/true".into(),
        checkport: None,
        request: "/".into(),
        receive: String::new(),
        httpmethod: "GET".into(),
        virtualhost: None,
        login: String::new(),
        passwd: String::new(),
        database: String::new(),
        secret: String::new(),
        scheduler: "wrr".into(),
        persistent: None,
        netmask: None,
        schedflags: None,
        ops: false,
        checktimeout: None,
        negotiatetimeout: None,
        checkcount: None,
        failurecount: None,
        checkinterval: None,
        quiescent: None,
        cleanstop: None,
        fallback: None,
        fallbackcommand: None,
        emailalert: None,
        emailalertfreq: None,
        emailalertstatus: None,
        smtp: None,
        monitorfile: None,
        servicename: None,
        comment: None,
        reals: Vec::new(),
        bad: false,
    };
    match parse_virtual_addr(&d.value, v6) {
        Ok((Some(host_port), _)) => {
            if host_port.1 == "53" || host_port.1 == "domain" {
                draft.protocol = Protocol::Udp;
            }
            draft.addr_text = Some(host_port);
        }
        Ok((None, Some(mark))) => {
            draft.fwmark = Some(mark);
            draft.protocol = Protocol::Fwm;
            draft.service = Some(Service::None);
        }
        Ok((None, None)) | Err(_) => {
            let msg = parse_virtual_addr(&d.value, v6)
                .err()
                .unwrap_or("invalid address for virtual server");
            r.error(d, msg);
            draft.bad = true;
        }
    }
    draft
}

fn virtual_directive(r: &mut Reader, v: &mut Draft, d: &Directive) {
    let errors_before = r.errors.len();
    if !d.has_eq {
        r.error(d, format!("Unknown command \"{}{}\"", d.name, d.value));
        v.bad = true;
        return;
    }
    match d.name.as_str() {
        "real" | "real6" => {
            if (d.name == "real6") != v.v6 {
                let want = if v.v6 { "real6" } else { "real" };
                r.error(
                    d,
                    format!("cannot specify \"{}\" here, use \"{want}\"", d.name),
                );
            } else {
                v.reals.push((d.line, d.value_col, d.value.clone()));
            }
        }
        "request" => {
            if let Some(s) = r.quoted(d) {
                v.request = if s.starts_with('/') {
                    s
                } else {
                    format!("/{s}")
                };
            }
        }
        "receive" => {
            if let Some(s) = r.quoted(d) {
                v.receive = s;
            }
        }
        "checktype" => {
            let word: String = d
                .value
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            let digits: String = d
                .value
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(|c| c.is_ascii_digit())
                .collect();
            v.checktype = match word.as_str() {
                "connect" => CheckType::Connect,
                "negotiate" => CheckType::Negotiate,
                "ping" => CheckType::Ping,
                "off" => CheckType::Off,
                "on" => CheckType::On,
                "external" | "external-perl" => CheckType::External,
                _ => match digits.parse::<u32>() {
                    Ok(n) => CheckType::Combined(n),
                    Err(_) => {
                        r.error(d, "checktype must be \"connect\", \"negotiate\", \"on\", \"off\", \"ping\", \"external\", \"external-perl\" or a positive number");
                        v.checktype
                    }
                },
            };
        }
        "checkcommand" => {
            if let Some(s) = r.maybe_quoted(d) {
                v.checkcommand = s;
            }
        }
        "checktimeout" => v.checktimeout = r.number(d, true, "check timeout"),
        "negotiatetimeout" => v.negotiatetimeout = r.number(d, true, "negotiate timeout"),
        "connecttimeout" => r.error(
            d,
            "connecttimeout is deprecated in favour of negotiatetimeout",
        ),
        "checkcount" => {
            v.checkcount = r.number(d, true, "check count");
            r.warn(
                d,
                "checkcount is deprecated (it only sets ping attempts); see failurecount",
            );
        }
        "failurecount" => v.failurecount = r.number(d, true, "failure count"),
        "checkinterval" => v.checkinterval = r.number(d, true, "checkinterval"),
        "checkport" => match r.number(d, true, "port") {
            Some(p) if p < 65536 => v.checkport = u16::try_from(p).ok(),
            Some(_) => r.error(d, "checkport must be in range 1..65535"),
            None => {}
        },
        "login" => v.login = r.quoted(d).unwrap_or_default(),
        "passwd" => v.passwd = r.quoted(d).unwrap_or_default(),
        "database" => v.database = r.quoted(d).unwrap_or_default(),
        "secret" => v.secret = r.quoted(d).unwrap_or_default(),
        // Parsed and never used by the original either (undocumented).
        "load" => {
            r.quoted(d);
        }
        "scheduler" => {
            let s: String = d
                .value
                .chars()
                .skip_while(|c| !c.is_ascii_lowercase())
                .take_while(|c| c.is_ascii_lowercase())
                .collect();
            if s.is_empty() || s != d.value {
                r.error(
                    d,
                    "invalid scheduler, should be only lowercase letters (a-z)",
                );
            } else {
                v.scheduler = s;
            }
        }
        "persistent" => v.persistent = r.number(d, false, "persistent timeout"),
        "schedflags" => match d.value.split_whitespace().next() {
            Some(f) => v.schedflags = Some(f.to_string()),
            None => r.error(d, "invalid sched-flags"),
        },
        "netmask" => {
            let ok = if v.v6 {
                matches!(d.value.parse::<u8>(), Ok(1..=128))
            } else {
                d.value.parse::<std::net::Ipv4Addr>().is_ok()
            };
            if ok {
                v.netmask = Some(d.value.clone());
            } else if v.v6 {
                r.error(
                    d,
                    "invalid netmask: a prefix length between 1 and 128 is required",
                );
            } else {
                r.error(d, "invalid netmask: dotted quad notation is required");
            }
        }
        "protocol" => match (v.protocol, d.value.as_str()) {
            (Protocol::Fwm, "fwm") => {}
            (Protocol::Fwm, _) => r.error(
                d,
                "protocol must be fwm if the virtual service is a fwmark (a number)",
            ),
            (_, "tcp") => v.protocol = Protocol::Tcp,
            (_, "udp") => v.protocol = Protocol::Udp,
            _ => r.error(
                d,
                "protocol must be tcp or udp if the virtual service is an address and port",
            ),
        },
        "ops" => v.ops = r.yes_no(d).unwrap_or(false),
        "service" => {
            let word: String = d
                .value
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            match Service::from_name(&word) {
                Some(s) => v.service = Some(s),
                None => r.error(d, "service must be dns, ftp, http, https, http_proxy, imap, imaps, ldap, ldaps, mysql, nntp, none, oracle, pop, pops, radius, pgsql, simpletcp, sip, smtp or submission"),
            }
        }
        "httpmethod" => match d.value.to_ascii_uppercase().as_str() {
            m @ ("GET" | "HEAD") => v.httpmethod = m.to_string(),
            _ => r.error(d, "httpmethod must be GET or HEAD"),
        },
        "virtualhost" => {
            let s = d.value.trim_matches('"');
            v.virtualhost = (!s.is_empty()).then(|| s.to_string());
        }
        "fallback" | "fallback6" => {
            if (d.name == "fallback6") != v.v6 {
                let want = if v.v6 { "fallback6" } else { "fallback" };
                r.error(
                    d,
                    format!("cannot specify \"{}\" here, use \"{want}\"", d.name),
                );
            } else {
                v.fallback = Some((d.line, d.value.clone()));
            }
        }
        "fallbackcommand" => v.fallbackcommand = r.maybe_quoted(d),
        "quiescent" => v.quiescent = r.yes_no(d),
        "cleanstop" => v.cleanstop = r.yes_no(d),
        "emailalert" => v.emailalert = r.maybe_quoted(d),
        "emailalertfreq" => v.emailalertfreq = r.number(d, false, "email alert frequency"),
        "emailalertstatus" => v.emailalertstatus = r.email_status(d),
        "smtp" => v.smtp = r.smtp_host(d),
        "monitorfile" => {
            if let Some(path) = r.maybe_quoted(d) {
                let open = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&path);
                match open {
                    Ok(_) => v.monitorfile = Some(PathBuf::from(path)),
                    Err(e) => r.error(d, format!("unable to open monitorfile {path}: {e}")),
                }
            }
        }
        "servicename" => v.servicename = Some(d.value.clone()),
        "comment" => v.comment = Some(d.value.clone()),
        other => {
            let span = r.span(d.line, d.name_col);
            r.errors
                .push(&span, format!("Unknown command \"{other}={}\"", d.value));
        }
    }
    if r.errors.len() > errors_before {
        v.bad = true;
    }
}

/// Resolves a draft against the globals (ld_setup) and parses its reals.
fn finish(r: &mut Reader, g: &Globals, d: Draft, host: &str) -> Option<Virtual> {
    if d.bad {
        return None;
    }
    let span = r.span(d.line, 1);
    let addr = match (&d.addr_text, d.fwmark) {
        (Some((h, p)), _) => {
            let Some(ip) = r.resolver.host(h, d.v6) else {
                r.errors.push(
                    &span,
                    format!("invalid address for virtual service: cannot resolve {h}"),
                );
                return None;
            };
            let Some(port) = r.resolver.service(p, d.protocol.name()) else {
                r.errors
                    .push(&span, format!("invalid port for virtual service: {p}"));
                return None;
            };
            VirtualAddr::Inet(ip, port)
        }
        (None, Some(mark)) => VirtualAddr::Fwmark(mark, d.v6),
        (None, None) => return None,
    };
    let port = match addr {
        VirtualAddr::Inet(_, p) => p,
        VirtualAddr::Fwmark(..) => 0,
    };
    let service = d.service.unwrap_or_else(|| Service::from_port(port));
    // checktimeout and negotiatetimeout default to each other, then to the globals.
    let checktimeout = d
        .checktimeout
        .or(d.negotiatetimeout)
        .or(g.checktimeout)
        .or(g.negotiatetimeout)
        .unwrap_or(5);
    let negotiatetimeout = d
        .negotiatetimeout
        .or(d.checktimeout)
        .or(g.negotiatetimeout)
        .or(g.checktimeout)
        .unwrap_or(30);
    let fallback = match &d.fallback {
        Some((line, text)) => {
            let fspan = r.span(*line, 1);
            Some(parse_fallback(r, &fspan, text, d.v6, d.protocol.name())?)
        }
        None if d.v6 => g.fallback6.clone(),
        None => g.fallback.clone(),
    };
    let mut login = d.login;
    let mut passwd = d.passwd;
    if service == Service::Ftp && login.is_empty() {
        login = "anonymous".into();
    }
    if service == Service::Ftp && passwd.is_empty() {
        passwd = format!("ldirectord@{host}");
    }
    if service == Service::Sip && login.is_empty() {
        login = format!("ldirectord@{host}");
    }
    let mut reals: Vec<Real> = Vec::new();
    for (line, col, text) in &d.reals {
        let rspan = r.span(*line, *col);
        let drafts: Vec<RealDraft> = parse_real_line(r, &rspan, text, d.v6)?;
        for rd in drafts {
            let real = rd.into_real();
            if reals
                .iter()
                .any(|o| o.addr == real.addr && o.port == real.port)
            {
                r.warnings.push(format!(
                    "{rspan}: warning: duplicate real server {}:{} ignored",
                    real.addr, real.port
                ));
                continue;
            }
            reals.push(real);
        }
    }
    if d.checktype.negotiates() {
        if let Some(why) = service.unsupported_reason() {
            r.errors
                .push(&span, format!("service={}: {why}", service.name()));
            return None;
        }
    }
    if d.checktype.negotiates() && matches!(service, Service::Mysql | Service::Pgsql) {
        // The original accepts this file but never checks (nor adds) the reals.
        let no_request = reals
            .iter()
            .map(|x| x.request.as_deref().unwrap_or(&d.request))
            .any(|q| q.trim_start_matches('/').is_empty());
        if login.is_empty() || no_request {
            r.warnings.push(format!(
                "{span}: warning: service={} needs login= and request=; its reals stay down",
                service.name()
            ));
        }
    }
    Some(Virtual {
        line: d.line,
        addr,
        protocol: d.protocol,
        service,
        checktype: d.checktype,
        checkcommand: d.checkcommand,
        checkport: d.checkport,
        request: d.request,
        receive: d.receive,
        httpmethod: d.httpmethod,
        virtualhost: d.virtualhost,
        login,
        passwd,
        database: d.database,
        secret: d.secret,
        scheduler: d.scheduler,
        persistent: d.persistent,
        netmask: d.netmask,
        schedflags: d.schedflags,
        ops: d.ops,
        checktimeout,
        negotiatetimeout,
        checkcount: d.checkcount.unwrap_or(g.checkcount),
        failurecount: d.failurecount.unwrap_or(g.failurecount),
        checkinterval: d.checkinterval.unwrap_or(g.checkinterval),
        quiescent: d.quiescent.unwrap_or(g.quiescent),
        cleanstop: d.cleanstop.unwrap_or(g.cleanstop),
        fallback,
        fallbackcommand: d.fallbackcommand.or_else(|| g.fallbackcommand.clone()),
        emailalert: d.emailalert.or_else(|| g.emailalert.clone()),
        emailalertfreq: d.emailalertfreq.unwrap_or(g.emailalertfreq),
        emailalertstatus: d.emailalertstatus.unwrap_or(g.emailalertstatus),
        smtp: d.smtp.or_else(|| g.smtp.clone()),
        monitorfile: d.monitorfile,
        servicename: d.servicename,
        comment: d.comment,
        reals,
    })
}
