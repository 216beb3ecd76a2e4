//! ldirectord beside a dark rack: many reals of one virtual whose SYNs are dropped (no answer
//! at all, each check waits its whole checktimeout) and healthy reals in the same virtual.
//! The black holes are addresses routed to the namespace's loopback with an nft rule that
//! drops their port; the healthy reals are loopback addresses served by one python server
//! that accepts and closes. IPVS in record mode (LDIRECTORD_IPVS_RECORD), as tests/ldirectord.rs.

mod common;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ldlab::{wait, wait_secs, Lab};
use common::{applet, text, unique};

const VIP: &str = "198.51.100.10";
/// Reals that never answer: 198.18.0.1 onwards, port 9800 dropped.
const DARK: usize = 2000;
/// The healthy reals: 127.0.1.1 onwards, port 8093.
const HEALTHY: usize = 50;

impl Lab {
    /// Routes 198.18.0.0/19 to loopback and drops every SYN to port 9800.
    fn dark_rack(&self) {
        for args in [
            &["ip", "route", "add", "local", "198.18.0.0/19", "dev", "lo"][..],
            &["nft", "add", "table", "inet", "dark"],
            &[
                "nft",
                "add chain inet dark in { type filter hook input priority 0; }",
            ],
            &[
                "nft", "add", "rule", "inet", "dark", "in", "tcp", "dport", "9800", "drop",
            ],
        ] {
            let out = self.ns.run(args);
            assert!(out.status.success(), "{args:?}: {out:?}");
        }
    }

    /// A server on 0.0.0.0:`port` that accepts and closes; returns its child index.
    fn acceptor(&mut self, port: u16) -> usize {
        let script = self.write(
            &format!("accept{port}.py"),
            &format!(
                "import socket\ns = socket.socket()\n\
                 s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
                 s.bind(('0.0.0.0', {port}))\ns.listen(4096)\n\
                 while True:\n    c, _ = s.accept()\n    c.close()\n"
            ),
        );
        let child = self
            .ns
            .cmd("python3")
            .arg(&script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("python3: {e}"));
        self.children.push(child);
        let port = port.to_string();
        wait(&format!("port {port}"), || {
            let out = self.ns.run(&["ss", "-Hltn", &format!("sport = :{port}")]);
            !text(&out).0.trim().is_empty()
        });
        self.children.len() - 1
    }

    /// Starts `ldirectord -d CFG start` under `prlimit --nofile=LIMIT`, stderr to `log`.
    fn daemon_limited(&mut self, cfg: &Path, nofile: &str) {
        let log = fs::File::create(self.path("log")).unwrap_or_else(|e| panic!("{e}"));
        let child = self
            .ns
            .cmd("prlimit")
            .arg(format!("--nofile={nofile}"))
            .arg("--")
            .arg(applet("ldirectord"))
            .arg("-d")
            .arg(cfg)
            .arg("start")
            .env("LDIRECTORD_IPVS_RECORD", self.path("ipvs.rec"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        self.children.push(child);
    }

    /// How many check results the monitorfile `mon.log` holds for `addr`.
    fn checks_of(&self, addr: &str) -> usize {
        let needle = format!(" {addr} ");
        self.read("mon.log")
            .lines()
            .filter(|l| l.contains(&needle))
            .count()
    }

    /// Whether the record file holds an add of `addr` to the virtual.
    fn added(&self, addr: &str) -> bool {
        self.rec().contains(&format!("-a -t {VIP}:80 -r {addr} "))
    }
}

/// Reals on servers of their own, taken down one after the other: 127.0.2.N:PORT.
const SINGLES: [(u8, u16); 3] = [(1, 8094), (2, 8095), (3, 8096)];

/// The config: `DARK` black holes first, then `HEALTHY` reals on one server, then the
/// `SINGLES`, all in one virtual, checkinterval=1, checktimeout=2, connect checks, every
/// result in the monitorfile; `stamp` goes into a comment line first.
fn dark_rack_config(mon: &Path, stamp: usize, autoreload: bool) -> String {
    let last_dark = DARK;
    let mut text = format!(
        "# written {stamp} times\n\
         autoreload={}\ncheckinterval=1\nchecktimeout=2\nnegotiatetimeout=2\n\
         virtual={VIP}:80\n\tchecktype=connect\n\tmonitorfile=\"{}\"\n\
         \treal=198.18.0.1->198.18.{}.{}:9800 masq\n\
         \treal=127.0.1.1->127.0.1.{HEALTHY}:8093 masq\n",
        if autoreload { "yes" } else { "no" },
        mon.display(),
        last_dark / 256,
        last_dark % 256,
    );
    for (n, port) in SINGLES {
        text.push_str(&format!("\treal=127.0.2.{n}:{port} masq\n"));
    }
    text
}

/// What the healthy reals saw beside the dark rack.
struct Seen {
    /// Checks of one healthy real in 10 s.
    checks: usize,
    /// The longest a real whose server died stayed in the table.
    slowest: Duration,
    log: String,
}

/// Runs the dark rack under an open-files limit of 1024 (soft and hard); with `rewrite`,
/// autoreload=yes and the config rewritten (a new comment) every 700 ms meanwhile.
fn beside_a_dark_rack(prefix: &str, rewrite: bool) -> Seen {
    let mut lab = Lab::new(prefix);
    lab.dark_rack();
    lab.acceptor(8093);
    let singles: Vec<usize> = SINGLES
        .iter()
        .map(|&(_, port)| lab.acceptor(port))
        .collect();
    let mon = lab.path("mon.log");
    let c = lab.write(&unique("dark.cf"), &dark_rack_config(&mon, 0, rewrite));
    let started = Instant::now();
    lab.daemon_limited(&c, "1024:1024");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = rewrite.then(|| {
        let (stop, c, mon) = (stop.clone(), c.clone(), mon.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(700));
                n += 1;
                // Whole files only (temp + rename), as such tools write them.
                let tmp = c.with_extension("tmp");
                if fs::write(&tmp, dark_rack_config(&mon, n, true)).is_ok() {
                    let _ = fs::rename(&tmp, &c);
                }
            }
        })
    });
    wait_secs("every healthy real added", 30, || {
        lab.added("127.0.1.1:8093") && lab.added(&format!("127.0.1.{HEALTHY}:8093"))
    });
    eprintln!(
        "start-up: every healthy real added after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Let the black holes' first round (start-up) pass.
    std::thread::sleep(Duration::from_secs(6));
    let probe = format!("127.0.1.{}", HEALTHY / 2);
    let before = lab.checks_of(&probe);
    std::thread::sleep(Duration::from_secs(10));
    let checks = lab.checks_of(&probe) - before;
    eprintln!("{checks} checks of {probe} in 10 s");
    // Each server is killed at another point of its real's check period.
    let mut slowest = Duration::ZERO;
    for (&(n, port), &server) in SINGLES.iter().zip(&singles) {
        lab.kill(server);
        let killed = Instant::now();
        wait_secs("the dead real removed", 30, || {
            lab.rec()
                .contains(&format!("-d -t {VIP}:80 -r 127.0.2.{n}:{port}"))
        });
        let took = killed.elapsed();
        eprintln!(
            "127.0.2.{n}:{port}, whose server died, removed after {:.1} s",
            took.as_secs_f64()
        );
        slowest = slowest.max(took);
        std::thread::sleep(Duration::from_millis(700));
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(w) = writer {
        let _ = w.join();
    }
    Seen {
        checks,
        slowest,
        log: lab.read("log"),
    }
}

/// The healthy reals were checked about every second and a dead one left the table within
/// checkinterval + checktimeout; no check failed for want of a file descriptor.
fn assert_undelayed(seen: &Seen) {
    // checkinterval=1: ~10 checks in 10 s; at least 6 leaves room for a loaded machine.
    assert!(
        seen.checks >= 6,
        "{} checks of a healthy real in 10 s",
        seen.checks
    );
    // checkinterval + checktimeout (3 s), with 2 s for a loaded machine.
    assert!(
        seen.slowest < Duration::from_secs(5),
        "a real was removed {:?} after its server died",
        seen.slowest
    );
    // EMFILE: musl says "No file descriptors available", glibc "Too many open files".
    assert!(!seen.log.contains("(os error 24)"), "{}", seen.log);
    assert!(
        seen.log
            .contains("At most 896 checks at once (open files limit 1024)"),
        "{}",
        seen.log
    );
    // Checks do wait (at start-up all 2,053 are due at once on 896 slots), and that is said.
    assert!(
        seen.log
            .contains("checks started later than their checkinterval: all 896 check slots"),
        "{}",
        seen.log
    );
}

/// 2,000 reals that drop every SYN beside 53 healthy ones in the same virtual, with the
/// open-files limit at 1024 (soft and hard, as many boxes run daemons). The checks of the
/// black holes (2 s each, due every 3 s: 1,333 slots' worth) filled the 512 check slots,
/// and as a virtual's checks queued in order of arrival, each healthy real's check waited
/// behind ~1,500 of them: checked once in 10 s instead of every second, and a healthy real
/// whose server died stayed in the table up to 5.3 s. Now reals whose last check timed out
/// and that are down hold at most half the slots, and the others go first.
#[test]
fn dark_rack_in_the_same_virtual_delayed_the_healthy_reals_checks() {
    assert_undelayed(&beside_a_dark_rack("dark", false));
}

/// The same with autoreload=yes and the config rewritten every 700 ms (a tool that stamps
/// the time in a comment): what timed out is remembered by address and port, so a reload
/// does not make the dark reals new again, to be checked among the healthy ones.
#[test]
fn dark_rack_stays_dark_through_a_config_rewritten_every_second() {
    let seen = beside_a_dark_rack("darkre", true);
    assert!(seen.log.contains("Reloading configuration"), "{}", seen.log);
    assert_undelayed(&seen);
}

/// 300 reals that never answer and 50 healthy ones due at once under an open-files limit of
/// 256: the daemon ran 512 checks at once whatever the limit, so with the black holes
/// holding their sockets the healthy reals' sockets failed with EMFILE and they were
/// reported down ("No file descriptors available (os error 24)"). The number of checks in
/// flight follows the limit now (the limit less 128 files kept for the rest).
#[test]
fn a_low_open_files_limit_reported_healthy_reals_down_for_want_of_file_descriptors() {
    let mut lab = Lab::new("nofile");
    lab.dark_rack();
    lab.acceptor(8093);
    let c = lab.write(
        &unique("nofile.cf"),
        &format!(
            "checkinterval=1\nchecktimeout=3\nvirtual={VIP}:80\n\tchecktype=connect\n\
             \treal=198.18.0.1->198.18.1.44:9800 masq\n\
             \treal=127.0.3.1->127.0.3.50:8093 masq\n"
        ),
    );
    lab.daemon_limited(&c, "256:256");
    wait_secs("the 50 healthy reals added", 30, || {
        lab.rec()
            .lines()
            .filter(|l| l.starts_with(&format!("-a -t {VIP}:80 -r 127.0.3.")))
            .count()
            == 50
    });
    let log = lab.read("log");
    // EMFILE: musl says "No file descriptors available", glibc "Too many open files".
    assert!(!log.contains("(os error 24)"), "{log}");
    assert!(!log.contains("Real server down: 127.0.3."), "{log}");
    assert!(
        log.contains("At most 128 checks at once (open files limit 256)"),
        "{log}"
    );
}

/// The soft open-files limit (1024 here) is raised towards what the most checks need
/// (2,048 checks of up to two files each, 128 other files and 16,384 spare sockets), within
/// the hard limit (4096). A limit that holds the checks below 2,048 is logged (the other
/// tests); this one is not.
#[test]
fn the_open_files_soft_limit_is_raised_towards_the_hard_one() {
    let mut lab = Lab::new("raise");
    lab.acceptor(8093);
    let c = lab.write(
        &unique("raise.cf"),
        &format!("virtual={VIP}:80\n\tchecktype=connect\n\treal=127.0.3.1:8093 masq\n"),
    );
    lab.daemon_limited(&c, "1024:4096");
    wait("the real added", || lab.added("127.0.3.1:8093"));
    let pid = lab.children[1].id();
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_default();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.get(3..5), Some(&["4096", "4096"][..]), "{limits}");
    // The most checks fit: nothing to say.
    assert!(!lab.read("log").contains("At most"), "{}", lab.read("log"));
}

/// TCP sockets the process `pid` holds now: its fds naming a socket of its namespace's
/// /proc/net/tcp or tcp6 (its other sockets, a unix pair for signals, are not checks').
fn tcp_sockets_of(pid: u32) -> usize {
    let mut tcp = std::collections::HashSet::new();
    for table in ["tcp", "tcp6"] {
        let text = fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            if let Some(inode) = line.split_whitespace().nth(9) {
                tcp.insert(format!("socket:[{inode}]"));
            }
        }
    }
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    fs::read_link(e.path()).is_ok_and(|t| tcp.contains(&*t.to_string_lossy()))
                })
                .count()
        })
        .unwrap_or(0)
}

/// The README bounds the checks in flight (at most 2,048, fewer under a low open-files
/// limit): with 300 reals that never answer and 50 healthy ones due at once under a limit of
/// 256 (128 checks at once), the daemon, sampled every 10 ms, never held more than 128
/// TCP sockets, held that many while the black holes waited out their checktimeout, and still
/// judged every one of the 350 reals.
#[test]
fn more_reals_due_at_once_than_check_slots_opened_a_socket_per_real() {
    let mut lab = Lab::new("cap");
    lab.dark_rack();
    lab.acceptor(8093);
    let mon = lab.path("mon.log");
    let c = lab.write(
        &unique("cap.cf"),
        &format!(
            "checkinterval=1\nchecktimeout=2\nvirtual={VIP}:80\n\tchecktype=connect\n\
             \tmonitorfile=\"{}\"\n\
             \treal=198.18.0.1->198.18.1.44:9800 masq\n\
             \treal=127.0.3.1->127.0.3.50:8093 masq\n",
            mon.display()
        ),
    );
    lab.daemon_limited(&c, "256:256");
    let pid = lab.children[1].id();
    // As the monitorfile writes them: "tcp ADDRESS PORT ".
    let dark: Vec<String> = (1..=300)
        .map(|n| format!("198.18.{}.{} 9800", n / 256, n % 256))
        .collect();
    let healthy: Vec<String> = (1..=50).map(|n| format!("127.0.3.{n} 8093")).collect();
    let mut most = 0;
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        most = most.max(tcp_sockets_of(pid));
        let judged = lab.read("mon.log");
        if dark
            .iter()
            .chain(&healthy)
            .all(|a| judged.contains(&format!("tcp {a} ")))
        {
            break;
        }
        assert!(
            Instant::now() < until,
            "not every real judged in 60 s (most sockets {most}):\n{judged}\n{}",
            lab.read("log")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = lab.read("log");
    assert!(
        log.contains("At most 128 checks at once (open files limit 256)"),
        "{log}"
    );
    assert!(most <= 128, "{most} sockets held at once\n{log}");
    // The cap was what held the checks back: the slots were full while the holes waited.
    assert!(
        most >= 120,
        "only {most} sockets at most: the cap was never reached"
    );
    assert!(!log.contains("(os error 24)"), "{log}");
    for n in 1..=50 {
        let a = format!("127.0.3.{n}:8093");
        assert!(lab.added(&a), "{a} not added\n{log}");
    }
}
