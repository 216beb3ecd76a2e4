//! Counting replies and printing them the way iputils ping (20221126, Debian 12) does: the
//! per-reply time field, the statistics block, loss as C's `%g`, rtt with integer
//! microseconds and mdev by the same integer square root. Pure: no sockets, no clock.

use std::fmt::Write as _;
use std::time::Duration;

/// Sequence numbers remembered for duplicate detection (all 16-bit values, as ping).
const SEQ_SPACE: usize = 0x10000;

/// What a ping run counted; `run` returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Echo requests sent (or attempted, after a local send error, as ping counts them).
    pub transmitted: u64,
    /// Distinct, correct replies (duplicates and excluded sources not counted).
    pub received: u64,
    /// Replies to a sequence number already answered.
    pub duplicates: u64,
    /// Replies with a bad ICMP checksum.
    pub corrupted: u64,
    /// ICMP errors (unreachable, time exceeded, ...) quoting one of our requests.
    pub errors: u64,
    /// Round-trip times, when the payload was large enough to carry a send time (≥ 16 bytes)
    /// and at least one reply came.
    pub rtt: Option<Rtt>,
    /// From the start to the last request sent (ping's `time Tms`).
    pub time: Duration,
}

/// Round-trip summary, microsecond resolution as ping's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtt {
    pub min: Duration,
    pub avg: Duration,
    pub max: Duration,
    pub mdev: Duration,
}

/// The running counters of one ping (iputils' `ping_rts` statistics part).
pub(crate) struct Tally {
    pub transmitted: u64,
    pub received: u64,
    pub repeats: u64,
    pub checksum: u64,
    pub errors: u64,
    tmin: i64,
    tmax: i64,
    tsum: f64,
    tsum2: f64,
    /// Exponentially weighted moving average of the rtt, ×8 fixed point (µs).
    ewma: u64,
    acked: u16,
    pub pipesize: u64,
    rcvd: Vec<u64>,
}

/// How a reply was classified by `Tally::reply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplyClass {
    New,
    Duplicate,
    BadChecksum,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            transmitted: 0,
            received: 0,
            repeats: 0,
            checksum: 0,
            errors: 0,
            tmin: i64::MAX,
            tmax: 0,
            tsum: 0.0,
            tsum2: 0.0,
            ewma: 0,
            acked: 0,
            pipesize: 1,
            rcvd: vec![0; SEQ_SPACE / 64],
        }
    }

    fn bit(seq: u16) -> (usize, u64) {
        (usize::from(seq) / 64, 1u64 << (seq % 64))
    }

    fn rcvd_test(&self, seq: u16) -> bool {
        let (w, b) = Tally::bit(seq);
        self.rcvd.get(w).is_some_and(|v| v & b != 0)
    }

    fn rcvd_set(&mut self, seq: u16, on: bool) {
        let (w, b) = Tally::bit(seq);
        if let Some(v) = self.rcvd.get_mut(w) {
            if on {
                *v |= b;
            } else {
                *v &= !b;
            }
        }
    }

    /// Records a request about to go out; returns its sequence number.
    pub fn transmit(&mut self) -> u16 {
        let seq = (self.transmitted + 1) as u16;
        self.rcvd_set(seq, false);
        self.transmitted += 1;
        // Invalidate `acked` when the 16-bit sequence wraps (ping's advance_ntransmitted).
        if (self.transmitted as u16).wrapping_sub(self.acked) > 0x7fff {
            self.acked = (self.transmitted as u16).wrapping_add(1);
        }
        seq
    }

    /// Requests not yet answered (by a reply or an error), ping's in_flight().
    pub fn in_flight(&self) -> u64 {
        let diff = (self.transmitted as u16).wrapping_sub(self.acked);
        if diff <= 0x7fff {
            u64::from(diff)
        } else {
            self.transmitted
                .saturating_sub(self.received)
                .saturating_sub(self.errors)
        }
    }

    /// An answer (reply or error) for `seq` arrived: updates the pipe size.
    pub fn acknowledge(&mut self, seq: u16) {
        let diff = (self.transmitted as u16).wrapping_sub(seq);
        if diff <= 0x7fff {
            self.pipesize = self.pipesize.max(u64::from(diff) + 1);
            if (seq.wrapping_sub(self.acked) as i16) > 0
                || (self.transmitted as u16).wrapping_sub(self.acked) > 0x7fff
            {
                self.acked = seq;
            }
        }
    }

    /// Counts an echo reply; `rtt_us` is its round trip when timing is on.
    pub fn reply(&mut self, seq: u16, rtt_us: Option<i64>, checksum_ok: bool) -> ReplyClass {
        self.received += 1;
        if checksum_ok {
            self.acknowledge(seq);
        }
        if let (Some(t), true) = (rtt_us, checksum_ok) {
            self.tsum += t as f64;
            self.tsum2 += (t as f64) * (t as f64);
            self.tmin = self.tmin.min(t);
            self.tmax = self.tmax.max(t);
            // A forged or corrupted time stamp gives any rtt up to i64::MAX: saturate.
            let t = t.max(0) as u64;
            if self.ewma == 0 {
                self.ewma = t.saturating_mul(8);
            } else {
                self.ewma = self.ewma.saturating_add(t).saturating_sub(self.ewma / 8);
            }
        }
        if !checksum_ok {
            self.checksum += 1;
            self.received -= 1;
            ReplyClass::BadChecksum
        } else if self.rcvd_test(seq) {
            self.repeats += 1;
            self.received -= 1;
            ReplyClass::Duplicate
        } else {
            self.rcvd_set(seq, true);
            ReplyClass::New
        }
    }

    /// Counts an ICMP error quoting request `seq`.
    pub fn error(&mut self, seq: u16) {
        self.acknowledge(seq);
        self.errors += 1;
    }

    /// An ICMPv6 error arrived: ping6_parse_reply counts it without acknowledging `seq`, so
    /// it neither moves the pipe size nor frees a flood slot.
    pub fn error_unacknowledged(&mut self) {
        self.errors += 1;
    }

    /// Largest rtt seen, µs (0 before any).
    pub fn tmax_us(&self) -> i64 {
        self.tmax
    }

    /// (min, avg, max, mdev) in µs, computed exactly as ping's finish().
    fn rtt_us(&self) -> Option<(i64, i64, i64, i64)> {
        let total = self.received + self.repeats;
        if self.received == 0 || total == 0 || self.tmin == i64::MAX {
            return None;
        }
        let total_f = total as f64;
        let avg = (self.tsum / total_f) as i64;
        let var = if self.tsum < f64::from(i32::MAX) {
            // ping: this order avoids integer rounding errors for small times.
            ((self.tsum2 - (self.tsum * self.tsum) / total_f) / total_f) as i64
        } else {
            ((self.tsum2 / total_f) as i64).saturating_sub(avg.saturating_mul(avg))
        };
        Some((self.tmin, avg, self.tmax, isqrt(var)))
    }

    /// The public summary.
    pub fn stats(&self, timing: bool, time: Duration) -> Stats {
        let us = |v: i64| Duration::from_micros(v.max(0) as u64);
        Stats {
            transmitted: self.transmitted,
            received: self.received,
            duplicates: self.repeats,
            corrupted: self.checksum,
            errors: self.errors,
            rtt: self
                .rtt_us()
                .filter(|_| timing)
                .map(|(min, avg, max, mdev)| Rtt {
                    min: us(min),
                    avg: us(avg),
                    max: us(max),
                    mdev: us(mdev),
                }),
            time,
        }
    }

    /// The block ping prints at the end, from the empty line to the last newline.
    /// `flood` adds ping's `ipg/ewma` field (interval 0).
    pub fn summary(&self, host: &str, timing: bool, time: Duration, flood: bool) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "\n--- {host} ping statistics ---\n{} packets transmitted, {} received",
            self.transmitted, self.received
        );
        if self.repeats > 0 {
            let _ = write!(s, ", +{} duplicates", self.repeats);
        }
        if self.checksum > 0 {
            let _ = write!(s, ", +{} corrupted", self.checksum);
        }
        if self.errors > 0 {
            let _ = write!(s, ", +{} errors", self.errors);
        }
        if self.transmitted > 0 {
            let lost = self.transmitted as f64 - self.received as f64;
            // ping casts the percentage to float before printing it with %g.
            let loss = ((lost * 100.0) / self.transmitted as f64) as f32;
            let _ = write!(
                s,
                ", {}% packet loss, time {}ms",
                format_g(f64::from(loss)),
                ms_rounded(time)
            );
        }
        s.push('\n');
        let mut comma = "";
        if let (Some((min, avg, max, mdev)), true) = (self.rtt_us(), timing) {
            let _ = write!(
                s,
                "rtt min/avg/max/mdev = {}/{}/{}/{} ms",
                ms3(min),
                ms3(avg),
                ms3(max),
                ms3(mdev)
            );
            comma = ", ";
        }
        if self.pipesize > 1 {
            let _ = write!(s, "{comma}pipe {}", self.pipesize);
            comma = ", ";
        }
        if self.received > 0 && flood && self.transmitted > 1 {
            let ipg = time.as_micros() as u64 / (self.transmitted - 1);
            let _ = write!(
                s,
                "{comma}ipg/ewma {}.{:03}/{}.{:03} ms",
                ipg / 1000,
                ipg % 1000,
                self.ewma / 8000,
                (self.ewma / 8) % 1000
            );
        }
        s.push('\n');
        s
    }
}

impl Tally {
    /// The line ping writes to stderr on SIGQUIT (ping_common.c status()) and goes on:
    /// `\rR/T packets, L% loss` (integer percent, truncated), with
    /// `, min/avg/ewma/max = …` once a timed reply came.
    pub fn status(&self, timing: bool) -> String {
        let loss = (self.transmitted.saturating_sub(self.received) * 100)
            .checked_div(self.transmitted)
            .unwrap_or(0);
        let mut s = format!(
            "\r{}/{} packets, {loss}% loss",
            self.received, self.transmitted
        );
        let timed = self.received + self.repeats;
        if self.received > 0 && timing && self.tmin != i64::MAX && timed > 0 {
            let avg = (self.tsum / timed as f64) as i64;
            let _ = write!(
                s,
                ", min/avg/ewma/max = {}/{}/{}.{:03}/{} ms",
                ms3(self.tmin),
                ms3(avg),
                self.ewma / 8000,
                (self.ewma / 8) % 1000,
                ms3(self.tmax)
            );
        }
        s.push('\n');
        s
    }
}

/// ping's `time Tms`: milliseconds rounded half up.
fn ms_rounded(d: Duration) -> u128 {
    (d.as_nanos() + 500_000) / 1_000_000
}

/// Microseconds as ping's `%ld.%03ld` milliseconds (truncated, not rounded).
fn ms3(us: i64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// Newton's integer square root, as ping's llsqrt().
fn isqrt(a: i64) -> i64 {
    if a <= 0 {
        return a.max(0);
    }
    let mut prev = i64::MAX;
    let mut x = a;
    while x < prev {
        prev = x;
        x = ((i128::from(x) + i128::from(a / x)) / 2) as i64;
    }
    x
}

/// The per-reply ` time=X ms` value: 3 decimals below 1 ms, 2 below 10, 1 below 100, none
/// above, with ping's rounding.
pub(crate) fn reply_time(us: i64) -> String {
    if us >= 100_000 - 50 {
        format!("{}", us.saturating_add(500) / 1000)
    } else if us >= 10_000 - 5 {
        format!("{}.{:01}", (us + 50) / 1000, ((us + 50) % 1000) / 100)
    } else if us >= 1000 {
        format!("{}.{:02}", (us + 5) / 1000, ((us + 5) % 1000) / 10)
    } else {
        format!("{}.{:03}", us / 1000, us % 1000)
    }
}

/// C's `printf("%g", v)`: 6 significant digits, trailing zeros dropped.
pub(crate) fn format_g(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_finite() {
            "0".into()
        } else {
            format!("{v}")
        };
    }
    let sci = format!("{v:.5e}");
    let exp: i32 = sci
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let (mant, _) = sci.split_once('e').unwrap_or((&sci, ""));
        let mant = trim_zeros(mant);
        return format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    let decimals = (5 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_printed_like_printf_g() {
        let f = |lost: f64, tx: f64| format_g(f64::from(((lost * 100.0) / tx) as f32));
        assert_eq!(f(0.0, 3.0), "0");
        assert_eq!(f(3.0, 3.0), "100");
        assert_eq!(f(1.0, 3.0), "33.3333");
        assert_eq!(f(2.0, 3.0), "66.6667");
        assert_eq!(f(1.0, 101.0), "0.990099");
        assert_eq!(f(1.0, 2.0), "50");
        assert_eq!(format_g(0.00001234), "1.234e-05");
    }

    #[test]
    fn reply_time_has_ping_precision() {
        assert_eq!(reply_time(45), "0.045");
        assert_eq!(reply_time(1234), "1.23");
        assert_eq!(reply_time(12_345), "12.3");
        assert_eq!(reply_time(123_456), "123");
        assert_eq!(reply_time(9_999), "10.0");
    }

    /// A reply whose time stamp was altered (a corrupting middlebox, a forger) gives any rtt
    /// up to i64::MAX; the ewma, the mdev and the time field overflowed (a panic in ip-ra's
    /// in-process pings in a debug build, wrapped figures otherwise). Ping's own figures for
    /// one such reply (byte #3 of the stamp changed): `time=1644167168000 ms`, mdev 0.000.
    #[test]
    fn forged_time_stamp_overflowed_the_rtt_figures() {
        let mut t = Tally::new();
        let seq = t.transmit();
        t.reply(seq, Some(1_644_167_168_000_273), true);
        assert_eq!(reply_time(1_644_167_168_000_273), "1644167168000");
        assert!(t
            .summary("h", true, Duration::ZERO, true)
            .ends_with("= 1644167168000.273/1644167168000.273/1644167168000.273/0.000 ms\n"));
        let mut t = Tally::new();
        for _ in 0..3 {
            let seq = t.transmit();
            t.reply(seq, Some(i64::MAX), true);
        }
        let seq = t.transmit();
        t.reply(seq, Some(0), true);
        assert_eq!(reply_time(i64::MAX), (i64::MAX / 1000).to_string());
        let summary = t.summary("h", true, Duration::from_secs(3), true);
        assert!(
            summary.contains("rtt min/avg/max/mdev = 0.000/"),
            "{summary}"
        );
        assert!(t.status(true).contains("min/avg/ewma/max = 0.000/"));
        assert!(isqrt(i64::MAX) > 3_000_000_000);
    }

    /// SIGQUIT killed lkping (exit 131, no statistics) where ping prints this line and
    /// goes on; figures from an iputils run: 4/4, rtts 47, 52, 66, 55 µs.
    #[test]
    fn sigquit_status_line_is_pings() {
        let mut t = Tally::new();
        assert_eq!(t.status(true), "\r0/0 packets, 0% loss\n");
        t.transmit();
        t.transmit();
        t.transmit();
        assert_eq!(t.status(true), "\r0/3 packets, 100% loss\n");
        let mut t = Tally::new();
        for rtt in [47, 52, 66, 55] {
            let seq = t.transmit();
            t.reply(seq, Some(rtt), true);
        }
        t.transmit();
        t.transmit();
        // ewma (×8 µs): 47×8 = 376, then += t − ewma/8: 381, 400, 405, so 0.050 ms.
        assert_eq!(
            t.status(true),
            "\r4/6 packets, 33% loss, min/avg/ewma/max = 0.047/0.055/0.050/0.066 ms\n"
        );
        assert_eq!(t.status(false), "\r4/6 packets, 33% loss\n");
    }

    #[test]
    fn summary_matches_iputils_run() {
        // iputils: rtts 134, 54, 45 µs over 3 packets, time 404 ms.
        let mut t = Tally::new();
        for rtt in [134, 54, 45] {
            let seq = t.transmit();
            assert_eq!(t.reply(seq, Some(rtt), true), ReplyClass::New);
        }
        assert_eq!(
            t.summary("198.51.100.2", true, Duration::from_micros(404_200), false),
            "\n--- 198.51.100.2 ping statistics ---\n\
             3 packets transmitted, 3 received, 0% packet loss, time 404ms\n\
             rtt min/avg/max/mdev = 0.045/0.077/0.134/0.040 ms\n"
        );
        let s = t.stats(true, Duration::from_millis(404));
        assert_eq!(s.rtt.map(|r| r.mdev), Some(Duration::from_micros(40)));
    }

    #[test]
    fn errors_and_pipe_are_reported_without_rtt() {
        // iputils to an unreachable neighbour: 3 sent, 3 host-unreachable errors, pipe 3.
        let mut t = Tally::new();
        for _ in 0..3 {
            t.transmit();
        }
        for seq in 1..=3 {
            t.error(seq);
        }
        assert_eq!(t.in_flight(), 0);
        assert_eq!(
            t.summary("198.51.100.9", true, Duration::from_millis(407), false),
            "\n--- 198.51.100.9 ping statistics ---\n\
             3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 407ms\n\
             pipe 3\n"
        );
    }

    #[test]
    fn duplicates_and_bad_checksums_are_not_received() {
        let mut t = Tally::new();
        let seq = t.transmit();
        assert_eq!(t.reply(seq, Some(100), true), ReplyClass::New);
        assert_eq!(t.reply(seq, Some(300), true), ReplyClass::Duplicate);
        assert_eq!(t.reply(seq, Some(300), false), ReplyClass::BadChecksum);
        assert_eq!((t.received, t.repeats, t.checksum), (1, 1, 1));
        let s = t.summary("h", true, Duration::ZERO, false);
        assert!(s.contains("1 packets transmitted, 1 received, +1 duplicates, +1 corrupted, 0% packet loss, time 0ms\n"), "{s}");
        // avg over replies and duplicates, as ping.
        assert!(
            s.contains("rtt min/avg/max/mdev = 0.100/0.200/0.300/0.100 ms"),
            "{s}"
        );
    }

    #[test]
    fn no_reply_prints_an_empty_line_after_the_counts() {
        let mut t = Tally::new();
        t.transmit();
        assert_eq!(
            t.summary("h", true, Duration::ZERO, false),
            "\n--- h ping statistics ---\n1 packets transmitted, 0 received, 100% packet loss, time 0ms\n\n"
        );
        assert_eq!(t.stats(true, Duration::ZERO).rtt, None);
    }

    #[test]
    fn isqrt_follows_pings_newton_iteration() {
        assert_eq!(isqrt(0), 0);
        assert_eq!(isqrt(1600), 40);
        assert_eq!(isqrt(1601), 40);
        // ping's llsqrt returns the last iterate, which can be one above the floor.
        assert_eq!(isqrt(1599), 40);
        assert_eq!(isqrt(15), 4);
    }
}
