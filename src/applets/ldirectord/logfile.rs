//! ldirectord's log destinations, as the original's: a file (`logfile="/path"`, default
//! /var/log/ldirectord.log) with `[TIME|CFGNAME|PID] message` lines, opened per line so
//! logrotate needs no signal; stdout `[TIME] message` with supervised=yes; stderr with -d.
//! A syslog facility (`logfile="local0"`) goes to the shared syslog logger.
//! Times are UTC in ctime layout (`Mon Nov 23 13:43:06 2026`).
//!
//! A line the logfile cannot take (its directory removed at run time, a full disk) goes to
//! syslog (daemon facility) instead of nowhere: the reload refused for that very reason
//! ("unable to open logfile") was otherwise told to no one.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Log, Metadata, Record};

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    Stderr,
    Stdout,
    File(PathBuf),
    /// `logfile="facility"`: syslog under that facility code.
    Syslog(u8),
}

struct FileLogger {
    /// A reload may change it (`follow`).
    sink: Mutex<Sink>,
    name: String,
    /// Where lines go when the logfile cannot be written: /dev/log, but for the tests.
    fallback: PathBuf,
    syslog: Mutex<Option<UnixDatagram>>,
    /// Whether the last line went to syslog (the switch is told once each way).
    falling_back: AtomicBool,
}

impl FileLogger {
    fn new(sink: Sink, name: &str, fallback: PathBuf) -> FileLogger {
        FileLogger {
            sink: Mutex::new(sink),
            name: name.to_string(),
            fallback,
            syslog: Mutex::new(None),
            falling_back: AtomicBool::new(false),
        }
    }

    /// Sends `message` to syslog, daemon facility, tagged `ldirectord[PID]: CFGNAME:`.
    /// Never blocks; a line syslog does not take is dropped.
    fn to_syslog(&self, level: log::Level, message: &str) {
        let tagged = format!("{}: {message}", self.name);
        self.send_syslog(crate::logging::FACILITY_DAEMON, level, &tagged);
    }

    /// Sends `<PRI>ldirectord[PID]: message` to syslog without blocking.
    fn send_syslog(&self, facility: u8, level: log::Level, message: &str) {
        let pri = u16::from(facility) * 8 + u16::from(crate::logging::severity(level));
        let line = format!("<{pri}>ldirectord[{}]: {message}", std::process::id());
        let Ok(mut guard) = self.syslog.lock() else {
            return;
        };
        if guard.is_none() {
            *guard = UnixDatagram::unbound().ok().and_then(|s| {
                s.connect(&self.fallback).ok()?;
                s.set_nonblocking(true).ok()?;
                Some(s)
            });
        }
        let sent = guard
            .as_ref()
            .is_some_and(|s| s.send(line.as_bytes()).is_ok());
        if !sent {
            *guard = None;
        }
    }

    /// Appends `line` to the logfile at `path`; on failure sends `message` to syslog.
    fn to_file(&self, path: &std::path::Path, line: &str, level: log::Level, message: &str) {
        let written = open_append(path).and_then(|mut f| f.write_all(line.as_bytes()));
        match written {
            Ok(()) => {
                if self.falling_back.swap(false, Ordering::Relaxed) {
                    self.to_syslog(
                        log::Level::Info,
                        &format!("logfile {} written again", path.display()),
                    );
                }
            }
            Err(e) => {
                if !self.falling_back.swap(true, Ordering::Relaxed) {
                    self.to_syslog(
                        log::Level::Error,
                        &format!(
                            "cannot write logfile {}: {e}; logging to syslog until it can",
                            path.display()
                        ),
                    );
                }
                self.to_syslog(level, message);
            }
        }
    }
}

/// `Mon Nov 23 13:43:06 2026` for a Unix time (UTC).
pub fn ctime(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86400;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1).clamp(0, 11) as usize],
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        y
    )
}

/// Now, in `ctime` layout.
pub fn now_text() -> String {
    ctime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

impl Log for FileLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            self.emit(record);
        }
    }

    fn flush(&self) {}
}

impl FileLogger {
    /// Writes `record` to the sink, whatever the level.
    fn emit(&self, record: &Record) {
        let sink = match self.sink.lock() {
            Ok(s) => s.clone(),
            Err(_) => return,
        };
        match &sink {
            Sink::Syslog(facility) => {
                self.send_syslog(*facility, record.level(), &record.args().to_string());
            }
            Sink::Stderr => {
                let _ = writeln!(std::io::stderr().lock(), "{}", record.args());
            }
            Sink::Stdout => {
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "[{}] {}",
                    now_text(),
                    record.args()
                );
            }
            Sink::File(path) => {
                let message = record.args().to_string();
                let line = format!(
                    "[{}|{}|{}] {message}\n",
                    now_text(),
                    self.name,
                    std::process::id(),
                );
                self.to_file(path, &line, record.level(), &message);
            }
        }
    }
}

/// Opens `path` to append (created if missing) without ever blocking. A FIFO without a
/// reader (a monitorfile or logfile pointed at one by mistake) made the open wait for a
/// reader forever, and the whole daemon with it, at start or at a reload; it is ENXIO now,
/// and a write that would block fails instead of waiting.
pub fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// The logger of this process, once `init` installed it.
static LOGGER: std::sync::OnceLock<&'static FileLogger> = std::sync::OnceLock::new();

/// After a reload: lines go where the new config's `logfile=` says (a file or a syslog
/// facility), as the original's do; a reload that changed it kept the old destination.
/// Stderr (`-d`) and stdout (supervised=yes) stay as they are.
pub fn follow(sink: Sink) {
    let Some(logger) = LOGGER.get() else {
        return;
    };
    logger.follow(sink);
}

impl FileLogger {
    fn follow(&self, sink: Sink) {
        let Ok(mut cur) = self.sink.lock() else {
            return;
        };
        if matches!(*cur, Sink::File(_) | Sink::Syslog(_)) && *cur != sink {
            *cur = sink;
            self.falling_back.store(false, Ordering::Relaxed);
        }
    }
}

/// Installs the logger for this process (once; later calls are ignored by `log`).
pub fn init(sink: Sink, name: &str, debug: bool) {
    let logger: &'static FileLogger = Box::leak(Box::new(FileLogger::new(
        sink,
        name,
        PathBuf::from("/dev/log"),
    )));
    if log::set_logger(logger).is_ok() {
        let _ = LOGGER.set(logger);
    }
    log::set_max_level(if debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_layout() {
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        // 2026-11-23 13:43:06 UTC, the time in the reference's monitorfile example.
        assert_eq!(ctime(1_795_441_386), "Mon Nov 23 13:43:06 2026");
        assert_eq!(ctime(951_782_400), "Tue Feb 29 00:00:00 2000");
    }

    /// The lines received on `sock` so far.
    fn received(sock: &UnixDatagram) -> Vec<String> {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        got
    }

    /// The logfile's directory removed while the daemon ran: every line was dropped, the
    /// error of the reload that this refused ("unable to open logfile") among them, so the
    /// operator never learnt why an edit was not applied. They go to syslog now, and back to
    /// the file once it can be written again.
    #[test]
    fn log_lines_were_lost_once_the_logfile_directory_was_removed() {
        let base = std::env::temp_dir().join(format!("ldlog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let logdir = base.join("logd");
        std::fs::create_dir_all(&logdir).unwrap_or_else(|e| panic!("{e}"));
        let socket = base.join("syslog");
        let sock = UnixDatagram::bind(&socket).unwrap_or_else(|e| panic!("{e}"));
        sock.set_nonblocking(true).unwrap_or_else(|e| panic!("{e}"));
        let path = logdir.join("ld.log");
        let logger = FileLogger::new(Sink::File(path.clone()), "web.cf", socket);
        let line = |msg: &str| {
            let args = format_args!("{msg}");
            logger.emit(
                &Record::builder()
                    .args(args)
                    .level(log::Level::Error)
                    .build(),
            );
        };
        line("first");
        assert!(std::fs::read_to_string(&path)
            .unwrap_or_default()
            .contains("|web.cf|"));
        assert!(received(&sock).is_empty());
        std::fs::remove_dir_all(&logdir).unwrap_or_else(|e| panic!("{e}"));
        line("web.cf:3:9: error: unable to open logfile");
        line("Reload failed: keeping the running configuration");
        let got = received(&sock);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].starts_with("<27>ldirectord["), "{got:?}");
        assert!(got[0].contains("cannot write logfile"), "{got:?}");
        assert!(
            got[1].ends_with("]: web.cf: web.cf:3:9: error: unable to open logfile"),
            "{got:?}"
        );
        assert!(got[2].contains("Reload failed"), "{got:?}");
        std::fs::create_dir_all(&logdir).unwrap_or_else(|e| panic!("{e}"));
        line("back");
        let got = received(&sock);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("written again"), "{got:?}");
        assert!(std::fs::read_to_string(&path)
            .unwrap_or_default()
            .contains("back"));
        let _ = std::fs::remove_dir_all(&base);
    }

    /// A reload that named a syslog facility instead of the file: the lines follow it, in
    /// the format the shared syslog logger uses, and a later reload takes them back.
    #[test]
    fn a_reload_moves_the_log_between_a_file_and_a_syslog_facility() {
        let base = std::env::temp_dir().join(format!("ldlogf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap_or_else(|e| panic!("{e}"));
        let socket = base.join("syslog");
        let sock = UnixDatagram::bind(&socket).unwrap_or_else(|e| panic!("{e}"));
        sock.set_nonblocking(true).unwrap_or_else(|e| panic!("{e}"));
        let path = base.join("ld.log");
        let logger = FileLogger::new(Sink::File(path.clone()), "web.cf", socket);
        let line = |msg: &str| {
            let args = format_args!("{msg}");
            logger.emit(&Record::builder().args(args).level(log::Level::Info).build());
        };
        let local0 = crate::logging::facility_code("local0").unwrap_or(0);
        logger.follow(Sink::Syslog(local0));
        line("to syslog");
        let got = received(&sock);
        assert_eq!(got.len(), 1, "{got:?}");
        let pri = u16::from(local0) * 8 + 6;
        assert!(
            got[0].starts_with(&format!("<{pri}>ldirectord[")),
            "{got:?}"
        );
        assert!(got[0].ends_with("]: to syslog"), "{got:?}");
        assert!(!path.exists());
        logger.follow(Sink::File(path.clone()));
        line("to the file");
        assert!(received(&sock).is_empty());
        assert!(std::fs::read_to_string(&path)
            .unwrap_or_default()
            .contains("|web.cf|"));
        // -d and supervised=yes keep their destination whatever the config says.
        let debug = FileLogger::new(Sink::Stderr, "web.cf", base.join("none"));
        debug.follow(Sink::File(path.clone()));
        assert_eq!(
            debug.sink.lock().map(|s| s.clone()).ok(),
            Some(Sink::Stderr)
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}
