//! The `log` backend every applet uses: stderr in the foreground (or with `-d`), syslog
//! (daemon facility unless the applet names another) when daemonized. Syslog goes over a non-blocking datagram socket to
//! /dev/log: a full or absent syslogd drops the line (and counts it) — logging never blocks
//! the loop and never falls back to /dev/console.
//!
//! Kernun debug levels 3..9 map to `log` levels: 3 error, 4 warn, 5–6 info (notice/info),
//! 7 debug, 8–9 trace. SIGUSR1/SIGUSR2 move the level up/down one step (`raise`, `lower`).

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Lowest and highest Kernun debug levels.
pub const MIN_LEVEL: u8 = 3;
pub const MAX_LEVEL: u8 = 9;

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Stderr,
    Syslog,
}

static KERNUN_LEVEL: AtomicU8 = AtomicU8::new(6);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The `log` filter for a Kernun debug level (clamped to 3..9).
pub fn filter_for(level: u8) -> LevelFilter {
    match level.clamp(MIN_LEVEL, MAX_LEVEL) {
        3 => LevelFilter::Error,
        4 => LevelFilter::Warn,
        5 | 6 => LevelFilter::Info,
        7 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Syslog severity (RFC 5424 §6.2.1) for a `log` level; Kernun 5 (notice) has no `log` level of
/// its own and is logged as info.
pub fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// The facility daemons log under unless configured otherwise.
pub const FACILITY_DAEMON: u8 = 3;

/// The syslog(3) facility of a name (`daemon`, `local0`, ...; RFC 5424 §6.2.1 codes).
pub fn facility_code(name: &str) -> Option<u8> {
    const NAMES: [&str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "", "", "", "", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    ];
    if name.is_empty() {
        return None;
    }
    let i = NAMES.iter().position(|n| *n == name)?;
    u8::try_from(i).ok()
}

/// One syslog datagram: `<PRI>IDENT[PID]: message`.
fn syslog_text(ident: &str, facility: u8, level: Level, message: &str) -> String {
    let pri = u16::from(facility) * 8 + u16::from(severity(level));
    format!("<{pri}>{ident}[{}]: {message}", std::process::id())
}

struct Logger {
    ident: String,
    target: Target,
    facility: u8,
    /// /dev/log, but for the tests.
    socket: &'static str,
    syslog: Mutex<Option<UnixDatagram>>,
}

impl Logger {
    fn syslog_line(&self, record: &Record) {
        let line = syslog_text(
            &self.ident,
            self.facility,
            record.level(),
            &record.args().to_string(),
        );
        let Ok(mut guard) = self.syslog.lock() else {
            return;
        };
        if guard.is_none() {
            *guard = connect_syslog(self.socket);
        }
        let sent = match guard.as_ref() {
            Some(sock) => sock.send(line.as_bytes()).is_ok(),
            None => false,
        };
        if !sent {
            // syslogd restarted or is busy: reconnect next time, drop this line.
            *guard = None;
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn connect_syslog(path: &str) -> Option<UnixDatagram> {
    let sock = UnixDatagram::unbound().ok()?;
    sock.connect(path).ok()?;
    sock.set_nonblocking(true).ok()?;
    Some(sock)
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        match self.target {
            Target::Stderr => {
                // One write(2) per line: pikemon's supervisor and worker share stderr, and a
                // line formatted piecewise interleaved with the other process's.
                let line = format!("{}: {}\n", self.ident, record.args());
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Target::Syslog => self.syslog_line(record),
        }
    }

    fn flush(&self) {}
}

/// Installs the logger once per process; later calls only change the level.
/// `ident` is the syslog tag and the stderr prefix (the applet name).
pub fn init(ident: &str, target: Target, kernun_level: u8) {
    init_with_facility(ident, target, kernun_level, FACILITY_DAEMON);
}

/// `init` with syslog lines sent under `facility` (a `facility_code`).
pub fn init_with_facility(ident: &str, target: Target, kernun_level: u8, facility: u8) {
    set_level(kernun_level);
    let logger = Logger {
        ident: ident.to_string(),
        target,
        facility,
        socket: "/dev/log",
        syslog: Mutex::new(None),
    };
    // A second init (e.g. after fork in tests) keeps the first logger.
    let _ = log::set_boxed_logger(Box::new(logger));
}

/// Whether the cluster asks resource agents for debug output: `HA_debug`, `HA_DEBUG` or
/// `PCMK_debug` set to anything but empty, 0, no or false.
pub fn ha_debug() -> bool {
    ["HA_debug", "HA_DEBUG", "PCMK_debug"].iter().any(|name| {
        std::env::var(name).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "no" | "false"))
    })
}

/// Sets the Kernun debug level (3..9).
pub fn set_level(level: u8) {
    let level = level.clamp(MIN_LEVEL, MAX_LEVEL);
    KERNUN_LEVEL.store(level, Ordering::SeqCst);
    log::set_max_level(filter_for(level));
}

/// The current Kernun debug level.
pub fn level() -> u8 {
    KERNUN_LEVEL.load(Ordering::SeqCst)
}

/// One step more verbose (SIGUSR1); returns the new level.
pub fn raise() -> u8 {
    set_level(level().saturating_add(1));
    level()
}

/// One step less verbose (SIGUSR2); returns the new level.
pub fn lower() -> u8 {
    set_level(level().saturating_sub(1));
    level()
}

/// Lines dropped because syslog could not take them.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernun_levels_map_as_designed() {
        assert_eq!(filter_for(0), LevelFilter::Error);
        assert_eq!(filter_for(3), LevelFilter::Error);
        assert_eq!(filter_for(4), LevelFilter::Warn);
        assert_eq!(filter_for(5), LevelFilter::Info);
        assert_eq!(filter_for(6), LevelFilter::Info);
        assert_eq!(filter_for(7), LevelFilter::Debug);
        assert_eq!(filter_for(8), LevelFilter::Trace);
        assert_eq!(filter_for(9), LevelFilter::Trace);
        assert_eq!(filter_for(200), LevelFilter::Trace);
    }

    #[test]
    fn raise_and_lower_stay_in_range() {
        set_level(9);
        assert_eq!(raise(), 9);
        set_level(3);
        assert_eq!(lower(), 3);
        set_level(6);
        assert_eq!(raise(), 7);
        assert_eq!(lower(), 6);
    }

    /// A syslogd that stops reading, or none at all, costs dropped lines: never a stalled
    /// daemon, never a line on /dev/console.
    #[test]
    fn stuck_or_missing_syslogd_stalled_the_logger() {
        let dir = std::env::temp_dir().join(format!("habox-syslog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        // Bound and never read: its queue is full after a few hundred lines.
        let _stuck = UnixDatagram::bind(&path).unwrap();
        let stuck: &'static str = Box::leak(path.display().to_string().into_boxed_str());
        let absent = dir.join("absent").display().to_string();
        let absent: &'static str = Box::leak(absent.into_boxed_str());
        for socket in [stuck, absent] {
            let logger = Logger {
                ident: "t".into(),
                target: Target::Syslog,
                facility: FACILITY_DAEMON,
                socket,
                syslog: Mutex::new(None),
            };
            let before = dropped();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for i in 0..5000 {
                    logger.syslog_line(
                        &Record::builder()
                            .level(Level::Error)
                            .args(format_args!("line {i}"))
                            .build(),
                    );
                }
                let _ = tx.send(());
            });
            // A bound, not a speed figure: a blocking send never returns.
            rx.recv_timeout(std::time::Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("{socket}: logging blocked"));
            assert!(dropped() > before, "{socket}: no line counted as dropped");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// ldirectord's `logfile="local0"` went out under the daemon facility.
    #[test]
    fn logfile_facility_local0_was_sent_as_daemon() {
        assert_eq!(facility_code("local0"), Some(16));
        assert_eq!(facility_code("daemon"), Some(FACILITY_DAEMON));
        assert_eq!(facility_code("local7"), Some(23));
        assert_eq!(facility_code("bogus"), None);
        assert_eq!(facility_code(""), None);
        let line = syslog_text("ldirectord", 16, Level::Info, "x");
        assert!(line.starts_with("<134>ldirectord["), "{line}");
        assert!(line.ends_with("]: x"), "{line}");
    }

    #[test]
    fn syslog_severity_follows_rfc5424() {
        assert_eq!(severity(Level::Error), 3);
        assert_eq!(severity(Level::Warn), 4);
        assert_eq!(severity(Level::Info), 6);
        assert_eq!(severity(Level::Trace), 7);
    }
}

/// At most one log line per key (a source address, a kind of event) per interval, for lines
/// anyone on the network can trigger; the lines held back are counted and reported with the
/// next one. Remembers at most `THROTTLE_KEYS` keys (the oldest is forgotten first), so
/// spoofed sources cannot grow it.
pub struct Throttle<K> {
    interval: std::time::Duration,
    seen: std::collections::HashMap<K, (std::time::Instant, u64)>,
}

const THROTTLE_KEYS: usize = 64;

impl<K: std::hash::Hash + Eq + Clone> Throttle<K> {
    pub fn new(interval: std::time::Duration) -> Throttle<K> {
        Throttle {
            interval,
            seen: std::collections::HashMap::new(),
        }
    }

    /// Whether a line for `key` may be written at `now`; `Some(n)`: yes, and `n` lines were
    /// held back since the last one.
    pub fn allow(&mut self, key: K, now: std::time::Instant) -> Option<u64> {
        if let Some((last, held)) = self.seen.get_mut(&key) {
            if now < *last + self.interval {
                *held += 1;
                return None;
            }
            let n = std::mem::take(held);
            *last = now;
            return Some(n);
        }
        if self.seen.len() >= THROTTLE_KEYS {
            let oldest = self
                .seen
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.seen.remove(&k);
            }
        }
        self.seen.insert(key, (now, 0));
        Some(0)
    }
}

#[cfg(test)]
mod throttle_tests {
    use super::Throttle;
    use std::time::{Duration, Instant};

    #[test]
    fn one_line_per_key_per_interval_with_the_count_held_back() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut t = Throttle::new(s);
        assert_eq!(t.allow("a", t0), Some(0));
        assert_eq!(t.allow("a", t0), None);
        assert_eq!(t.allow("a", t0 + s / 2), None);
        assert_eq!(t.allow("b", t0), Some(0), "keys are independent");
        assert_eq!(t.allow("a", t0 + s), Some(2));
        // Spoofed sources do not grow it past its bound.
        for i in 0..1000u32 {
            t.allow("x".repeat(1 + (i % 200) as usize).leak() as &str, t0);
        }
        assert!(t.seen.len() <= super::THROTTLE_KEYS);
    }
}
