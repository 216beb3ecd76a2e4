//! `virtual=` blocks: read line by line into a draft, then resolved against the globals
//! (ld_setup's rules: a virtual's value, else the global one, else the built-in default) with
//! their reals parsed.

use std::collections::HashMap;
use std::path::PathBuf;

use super::lines::{Directive, Reader};
use super::model::*;
use super::real::{parse_fallback, parse_real_line, parse_virtual_addr, RealDraft};

/// A virtual block as read, before the globals are known.
pub(super) struct Draft {
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
    receive: Option<Receive>,
    httpmethod: String,
    virtualhost: Option<String>,
    login: String,
    passwd: String,
    database: String,
    secret: String,
    scheduler: String,
    persistent: Option<u32>,
    netmask: Option<u32>,
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
    /// The line of each directive read so far (repeats are warned about).
    seen: HashMap<String, u32>,
    bad: bool,
}

pub(super) fn new_draft(r: &mut Reader, d: &Directive, v6: bool) -> Draft {
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
        receive: None,
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
        seen: HashMap::new(),
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

pub(super) fn virtual_directive(r: &mut Reader, v: &mut Draft, d: &Directive) {
    let errors_before = r.errors.len();
    if !d.has_eq {
        r.unknown_without_eq(d);
        v.bad = true;
        return;
    }
    r.note_repeat(&mut v.seen, d, &["real", "real6"]);
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
                match Receive::new(&s) {
                    Ok(rc) => v.receive = Some(rc),
                    Err(e) => r.error(d, e),
                }
            }
        }
        "checktype" => {
            let value = Reader::word_value(d);
            let word: String = value
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            let digits: String = value
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
            let value = Reader::word_value(d);
            let s: String = value
                .chars()
                .skip_while(|c| !c.is_ascii_lowercase())
                .take_while(|c| c.is_ascii_lowercase())
                .collect();
            if s.is_empty() || s != value {
                r.error(
                    d,
                    "invalid scheduler, should be only lowercase letters (a-z)",
                );
            } else {
                // The original takes any [a-z]+ on purpose (new kernels bring new
                // schedulers) and ipvsadm fails at start: `rrr` passed `-t`. A name outside
                // the list is still taken, with a warning, so a newer kernel's keeps working.
                if !IPVS_SCHEDULERS.contains(&s.as_str()) {
                    r.warn(
                        d,
                        format!(
                            "scheduler \"{s}\" is none of the IPVS schedulers {}: IPVS refuses \
                             it unless this kernel has an ip_vs_{s} module",
                            IPVS_SCHEDULERS.join(" ")
                        ),
                    );
                }
                v.scheduler = s;
            }
        }
        "persistent" => v.persistent = r.number(d, false, "persistent timeout"),
        "schedflags" => match d.value.split_whitespace().next() {
            // ipvsadm -b: what ipvsadm 1.31 takes; the core maps each to its IPVS bit.
            Some(f) => match f.split(',').find(|x| sched_flag(x).is_none()) {
                None => v.schedflags = Some(f.to_string()),
                Some(bad) => r.error(
                    d,
                    format!(
                        "invalid schedflags: {bad:?}; expected a comma-separated list of \
                         sh-fallback, sh-port, mh-fallback, mh-port, flag-1, flag-2, flag-3"
                    ),
                ),
            },
            None => r.error(d, "invalid sched-flags"),
        },
        "netmask" => {
            let mask = if v.v6 {
                d.value
                    .parse::<u8>()
                    .ok()
                    .filter(|p| (1..=128).contains(p))
                    .map(u32::from)
            } else {
                d.value.parse::<std::net::Ipv4Addr>().ok().map(u32::from)
            };
            match mask {
                Some(m) => v.netmask = Some(m),
                None if v.v6 => r.error(
                    d,
                    "invalid netmask: a prefix length between 1 and 128 is required",
                ),
                None => r.error(d, "invalid netmask: dotted quad notation is required"),
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
            let word: String = Reader::word_value(d)
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
                let open = if r.is_this_config(path.as_ref()) {
                    Err(format!(
                        "monitorfile {path} is this config file: lines would be appended to it"
                    ))
                } else {
                    crate::applets::ldirectord::logfile::open_append(path.as_ref())
                        .map_err(|e| format!("unable to open monitorfile {path}: {e}"))
                };
                match open {
                    Ok(_) => v.monitorfile = Some(PathBuf::from(path)),
                    Err(e) => r.error(d, e),
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
pub(super) fn finish(r: &mut Reader, g: &Globals, d: Draft, host: &str) -> Option<Virtual> {
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
    // The `real=` line each kept real came from, to name it when a later one repeats it.
    let mut real_lines: Vec<u32> = Vec::new();
    for (line, col, text) in &d.reals {
        let rspan = r.span(*line, *col);
        let drafts: Vec<RealDraft> = parse_real_line(r, &rspan, text, d.v6)?;
        for rd in drafts {
            let real = rd.into_real();
            // One IPVS destination per address and table port: two gate reals that differ
            // only in their port were both checked, and the one that failed deleted the
            // destination the other had just added, every interval. The original keeps both
            // lines (and flips the destination between them); the first one is kept here.
            let same = reals
                .iter()
                .zip(&real_lines)
                .find(|(o, _)| o.addr == real.addr && o.table_port(port) == real.table_port(port));
            match same {
                Some((o, first)) if o.port == real.port => r.warnings.push(format!(
                    "{rspan}: warning: duplicate real server {}:{} ignored: line {first} has it \
                     ({}, weight {}), which is used",
                    real.addr,
                    real.port,
                    o.forward.name(),
                    o.weight
                )),
                Some((o, first)) => r.warnings.push(format!(
                    "{rspan}: warning: real server {}:{} ignored: with {} it is the same IPVS destination as {}:{} ({}:{}) of line {first}",
                    real.addr,
                    real.port,
                    real.forward.name(),
                    o.addr,
                    o.port,
                    real.addr,
                    real.table_port(port)
                )),
                None => {
                    reals.push(real);
                    real_lines.push(*line);
                    continue;
                }
            }
        }
    }
    // A fallback that is one of the reals is the same IPVS destination: turned on, it gave
    // the down real weight 1 again (traffic to a failed server), and turned off, it deleted
    // the entry the real's quiescent state counted on.
    let fallback = match fallback {
        Some(fb)
            if reals
                .iter()
                .any(|x| x.addr == fb.addr && x.table_port(port) == fb.port.unwrap_or(port)) =>
        {
            r.warnings.push(format!(
                "{span}: warning: fallback {}:{} is a real server of this virtual: no fallback for it",
                fb.addr,
                fb.port.unwrap_or(port)
            ));
            None
        }
        other => other,
    };
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
