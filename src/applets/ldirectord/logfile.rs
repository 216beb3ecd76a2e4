//! ldirectord's log destinations, as the original's: a file (`logfile="/path"`, default
//! /var/log/ldirectord.log) with `[TIME|CFGNAME|PID] message` lines, opened per line so
//! logrotate needs no signal; stdout `[TIME] message` with supervised=yes; stderr with -d.
//! A syslog facility (`logfile="local0"`) goes to the shared syslog logger.
//! Times are UTC in ctime layout (`Mon Nov 23 13:43:06 2026`).

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Log, Metadata, Record};

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    Stderr,
    Stdout,
    File(PathBuf),
}

struct FileLogger {
    sink: Sink,
    name: String,
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
        if !self.enabled(record.metadata()) {
            return;
        }
        match &self.sink {
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
                let line = format!(
                    "[{}|{}|{}] {}\n",
                    now_text(),
                    self.name,
                    std::process::id(),
                    record.args()
                );
                if let Ok(mut f) = open_append(path) {
                    let _ = f.write_all(line.as_bytes());
                }
            }
        }
    }

    fn flush(&self) {}
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

/// Installs the logger for this process (once; later calls are ignored by `log`).
pub fn init(sink: Sink, name: &str, debug: bool) {
    let _ = log::set_boxed_logger(Box::new(FileLogger {
        sink,
        name: name.to_string(),
    }));
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
}
