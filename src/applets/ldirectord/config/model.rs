//! ldirectord.cf: the values every directive of the Perl ldirectord's man page produces, with
//! its defaults and override rules (a virtual's value, else the global one, else the built-in
//! default). The reader is the rest of `config` (`parse`).
//!
//! Syntax (as the Perl original, ldirectord(8)): `directive=value` lines; a `virtual=` line opens
//! a block of lines indented by a tab or at least 4 spaces. Differences, all accepting files
//! the original rejects, never the other way round: a `#` comment may follow a value outside
//! quotes on any line (the original strips it only inside blocks, and also inside quotes), and
//! a blank line inside a block does not end it when the next line is indented.
//! Every problem is reported as `FILE:LINE:COL: error: ...`; all of them, not the first only.

use std::net::IpAddr;
use std::path::PathBuf;

pub use super::receive::Receive;

/// How a real server is reached (ipvsadm -g / -m / -i).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    Gate,
    Masq,
    Ipip,
}

impl Forward {
    pub fn from_word(w: &str) -> Option<Forward> {
        match w {
            "gate" => Some(Forward::Gate),
            "masq" => Some(Forward::Masq),
            "ipip" => Some(Forward::Ipip),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Forward::Gate => "gate",
            Forward::Masq => "masq",
            Forward::Ipip => "ipip",
        }
    }
}

/// The virtual service's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    /// A firewall-mark service (`virtual=N`).
    Fwm,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Fwm => "fwm",
        }
    }
}

/// What `checktype=` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckType {
    Connect,
    Negotiate,
    Ping,
    /// `external` and `external-perl` (the latter runs the file as a program too).
    External,
    On,
    Off,
    /// `checktype=N`: N connect checks, then one negotiate check.
    Combined(u32),
}

impl CheckType {
    pub fn name(self) -> &'static str {
        match self {
            CheckType::Connect => "connect",
            CheckType::Negotiate => "negotiate",
            CheckType::Ping => "ping",
            CheckType::External => "external",
            CheckType::On => "on",
            CheckType::Off => "off",
            CheckType::Combined(_) => "combined",
        }
    }

    /// Whether the service's protocol is spoken (so the service must be implemented).
    pub fn negotiates(self) -> bool {
        matches!(self, CheckType::Negotiate | CheckType::Combined(_))
    }
}

/// `service=`: the protocol a negotiate check speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Dns,
    Ftp,
    Http,
    Https,
    HttpProxy,
    Imap,
    Imaps,
    Ldap,
    Ldaps,
    Mysql,
    Nntp,
    None,
    Oracle,
    Pop,
    Pops,
    Radius,
    Pgsql,
    Sip,
    Smtp,
    Submission,
    SimpleTcp,
}

/// Every service name the original accepts, with its default port (ld_service_to_port).
const SERVICES: &[(&str, Service, u16)] = &[
    ("dns", Service::Dns, 53),
    ("ftp", Service::Ftp, 21),
    ("http", Service::Http, 80),
    ("https", Service::Https, 443),
    ("http_proxy", Service::HttpProxy, 3128),
    ("imap", Service::Imap, 143),
    ("imaps", Service::Imaps, 993),
    ("ldap", Service::Ldap, 389),
    ("ldaps", Service::Ldaps, 636),
    ("mysql", Service::Mysql, 3306),
    ("nntp", Service::Nntp, 119),
    ("none", Service::None, 0),
    ("oracle", Service::Oracle, 1521),
    ("pop", Service::Pop, 110),
    ("pops", Service::Pops, 995),
    ("radius", Service::Radius, 1812),
    ("pgsql", Service::Pgsql, 5432),
    ("sip", Service::Sip, 5060),
    ("smtp", Service::Smtp, 25),
    ("submission", Service::Submission, 587),
    ("simpletcp", Service::SimpleTcp, 0),
];

impl Service {
    pub fn from_name(name: &str) -> Option<Service> {
        SERVICES.iter().find(|(n, _, _)| *n == name).map(|e| e.1)
    }

    pub fn name(self) -> &'static str {
        SERVICES
            .iter()
            .find(|e| e.1 == self)
            .map(|e| e.0)
            .unwrap_or("none")
    }

    /// The well-known port (0: none), used when neither checkport nor the real's port says.
    pub fn default_port(self) -> u16 {
        SERVICES
            .iter()
            .find(|e| e.1 == self)
            .map(|e| e.2)
            .unwrap_or(0)
    }

    /// ld_port_to_service: the service a virtual's port implies, else none.
    pub fn from_port(port: u16) -> Service {
        SERVICES
            .iter()
            .find(|e| e.2 == port && e.2 != 0)
            .map(|e| e.1)
            .unwrap_or(Service::None)
    }

    /// Why this build cannot speak the service, if it cannot (a config error at load).
    pub fn unsupported_reason(self) -> Option<&'static str> {
        match self {
            Service::Http | Service::HttpProxy | Service::None | Service::SimpleTcp => None,
            Service::Smtp | Service::Submission | Service::Nntp | Service::Dns => None,
            Service::Pop | Service::Imap => None,
            Service::Ldap | Service::Radius | Service::Sip => None,
            Service::Ftp | Service::Mysql | Service::Pgsql => None,
            Service::Https | Service::Pops | Service::Imaps | Service::Ldaps
                if cfg!(feature = "https") =>
            {
                None
            }
            Service::Https | Service::Pops | Service::Imaps | Service::Ldaps => {
                Some("this build has no TLS (cargo feature \"https\" is off)")
            }
            Service::Oracle => Some(
                "Oracle's network protocol (TNS) is closed; no implementation exists here \
                 (use checktype=connect or an external check)",
            ),
        }
    }
}

/// `emailalertstatus=` bits: in which daemon states alerts are sent.
pub mod alert_status {
    pub const STARTING: u8 = 1;
    pub const RUNNING: u8 = 2;
    pub const STOPPING: u8 = 4;
    pub const RELOADING: u8 = 8;
    pub const ALL: u8 = 15;
}

/// A fallback server (`fallback=host[:port] [gate|masq|ipip]`), weight 1, no thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    pub addr: IpAddr,
    /// None: the virtual's port.
    pub port: Option<u16>,
    pub forward: Forward,
}

/// Where log lines go (`logfile="/path"` or `logfile="facility"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    File(PathBuf),
    Syslog(String),
}

/// Global directives, with the original's defaults (set_defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Globals {
    pub checktimeout: Option<u32>,
    pub negotiatetimeout: Option<u32>,
    pub checkinterval: u32,
    pub checkcount: u32,
    pub failurecount: u32,
    pub fallback: Option<Fallback>,
    pub fallback6: Option<Fallback>,
    pub fallbackcommand: Option<String>,
    pub autoreload: bool,
    pub callback: Option<String>,
    pub logfile: LogTarget,
    pub execute: Vec<String>,
    pub fork: bool,
    pub supervised: bool,
    pub quiescent: bool,
    pub readdquiescent: bool,
    pub emailalert: Option<String>,
    pub emailalertfreq: u32,
    pub emailalertstatus: u8,
    pub emailalertfrom: Option<String>,
    pub cleanstop: bool,
    pub smtp: Option<String>,
    pub maintenancedir: Option<PathBuf>,
}

impl Default for Globals {
    fn default() -> Self {
        Globals {
            checktimeout: None,
            negotiatetimeout: None,
            checkinterval: 10,
            checkcount: 1,
            failurecount: 1,
            fallback: None,
            fallback6: None,
            fallbackcommand: None,
            autoreload: false,
            callback: None,
            logfile: LogTarget::File(PathBuf::from("/var/log/ldirectord.log")),
            execute: Vec::new(),
            fork: false,
            supervised: false,
            // The code's default; the man page says yes (bug B7).
            quiescent: false,
            readdquiescent: false,
            emailalert: None,
            emailalertfreq: 0,
            emailalertstatus: alert_status::ALL,
            emailalertfrom: None,
            cleanstop: true,
            smtp: None,
            maintenancedir: None,
        }
    }
}

/// What a virtual service is keyed by in IPVS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VirtualAddr {
    Inet(IpAddr, u16),
    /// Firewall mark, with the family (`virtual6=N` is IPv6).
    Fwmark(u32, bool),
}

/// One real server of a virtual (a range is expanded into several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Real {
    pub addr: IpAddr,
    /// 0: the virtual's port.
    pub port: u16,
    pub forward: Forward,
    pub weight: u32,
    /// Per-real `"request", "receive"` (a leading `/` added to the request).
    pub request: Option<String>,
    pub receive: Option<Receive>,
    /// `l:N` / `u:N` connection thresholds (0: none).
    pub lower: u32,
    pub upper: u32,
}

impl Real {
    /// The port IPVS holds this real under in a virtual of port `vport` (0 for fwmark):
    /// the virtual's for gate and ipip (the kernel forwards to the virtual's port) and for a
    /// real without one, else its own.
    pub fn table_port(&self, vport: u16) -> u16 {
        if self.port == 0 || (self.forward != Forward::Masq && vport != 0) {
            vport
        } else {
            self.port
        }
    }
}

/// The schedulers of Linux IPVS (net/netfilter/ipvs/ip_vs_*.c, up to `twos` of 6.x).
pub const IPVS_SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// The IPVS service flag of one `schedflags` name (ipvsadm -b: sh-fallback,sh-port, their
/// mh- twins and flag-1..3), None for a name ipvsadm does not know.
pub fn sched_flag(name: &str) -> Option<u32> {
    use crate::wire::ipvs::{SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3};
    match name {
        "sh-fallback" | "mh-fallback" | "flag-1" => Some(SVC_F_SCHED1),
        "sh-port" | "mh-port" | "flag-2" => Some(SVC_F_SCHED2),
        "flag-3" => Some(SVC_F_SCHED3),
        _ => None,
    }
}

/// One `virtual=` block with every value resolved against the globals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Virtual {
    /// Config line of the `virtual=` directive.
    pub line: u32,
    pub addr: VirtualAddr,
    pub protocol: Protocol,
    pub service: Service,
    pub checktype: CheckType,
    pub checkcommand: String,
    pub checkport: Option<u16>,
    pub request: String,
    /// None: no `receive=` (or an empty one).
    pub receive: Option<Receive>,
    pub httpmethod: String,
    pub virtualhost: Option<String>,
    pub login: String,
    pub passwd: String,
    pub database: String,
    pub secret: String,
    pub scheduler: String,
    pub persistent: Option<u32>,
    /// The persistence netmask as IPVS takes it: an IPv4 mask as a number, an IPv6 prefix
    /// length; checked when read.
    pub netmask: Option<u32>,
    pub schedflags: Option<String>,
    pub ops: bool,
    pub checktimeout: u32,
    pub negotiatetimeout: u32,
    pub checkcount: u32,
    pub failurecount: u32,
    /// Per-virtual checkinterval (honoured: every virtual runs on its own timer here).
    pub checkinterval: u32,
    pub quiescent: bool,
    pub cleanstop: bool,
    pub fallback: Option<Fallback>,
    pub fallbackcommand: Option<String>,
    pub emailalert: Option<String>,
    pub emailalertfreq: u32,
    pub emailalertstatus: u8,
    pub smtp: Option<String>,
    pub monitorfile: Option<PathBuf>,
    pub servicename: Option<String>,
    pub comment: Option<String>,
    pub reals: Vec<Real>,
}

impl Virtual {
    /// The port a check of `real` connects to (ld_checkport).
    pub fn check_port(&self, real: &Real) -> u16 {
        if let Some(p) = self.checkport {
            return p;
        }
        if real.port > 0 {
            return real.port;
        }
        self.service.default_port()
    }

    /// How long one negotiate check may take. The original bounds most services by
    /// alarm(negotiatetimeout), but check_ldap by alarm(checktimeout), and check_radius by
    /// alarm(checktimeout) around an Authen::Radius receive of negotiatetimeout.
    pub fn negotiate_timeout(&self) -> u32 {
        match self.service {
            Service::Ldap | Service::Ldaps => self.checktimeout,
            Service::Radius => self.checktimeout.min(self.negotiatetimeout),
            _ => self.negotiatetimeout,
        }
    }

    /// The virtual's port (0 for a firewall mark).
    pub fn port(&self) -> u16 {
        match self.addr {
            VirtualAddr::Inet(_, p) => p,
            VirtualAddr::Fwmark(..) => 0,
        }
    }

    /// `tcp:198.51.100.10:80`, `fwm:1`: the id used in logs.
    pub fn id(&self) -> String {
        match self.addr {
            VirtualAddr::Inet(IpAddr::V6(ip), port) => {
                format!("{}:[{ip}]:{port}", self.protocol.name())
            }
            VirtualAddr::Inet(ip, port) => format!("{}:{ip}:{port}", self.protocol.name()),
            VirtualAddr::Fwmark(m, _) => format!("fwm:{m}"),
        }
    }
}

/// A whole ldirectord.cf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub globals: Globals,
    pub virtuals: Vec<Virtual>,
    /// Problems the original also only warns about (`file:line:col: warning: ...`).
    pub warnings: Vec<String>,
}
