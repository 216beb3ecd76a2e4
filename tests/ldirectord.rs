//! ldirectord on the host: the real binary in a network namespace with real servers on its
//! loopback (python3 http.server, openssl s_server, python smtpd, dnsmasq), IPVS in record
//! mode (LDIRECTORD_IPVS_RECORD; the host kernel has no IPVS — the netlink path is proven
//! in qemu-tests/ldirectord-ipvs.sh). Bounded polling waits, never timed assertions.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{applet, text, unique, Netns};

/// One test's world: a namespace, a directory for configs and records.
struct Lab {
    ns: Netns,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Lab {
    fn new(prefix: &str) -> Lab {
        let ns = Netns::new(prefix);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique(&format!("ld{prefix}")));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        Lab {
            ns,
            dir,
            children: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        p
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// Runs `ldirectord ARGS` in the namespace, record mode, and waits for it.
    fn ld(&self, args: &[&str]) -> Output {
        self.ns
            .cmd(applet("ldirectord"))
            .args(args)
            .env("LDIRECTORD_IPVS_RECORD", self.path("ipvs.rec"))
            .output()
            .unwrap_or_else(|e| panic!("ldirectord: {e}"))
    }

    /// Starts `ldirectord -d CFG start` in the background, stderr to `log`.
    fn daemon(&mut self, cfg: &Path) {
        let log = fs::File::create(self.path("log")).unwrap_or_else(|e| panic!("{e}"));
        let child = self
            .ns
            .cmd(applet("ldirectord"))
            .args(["-d"])
            .arg(cfg)
            .arg("start")
            .env("LDIRECTORD_IPVS_RECORD", self.path("ipvs.rec"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        self.children.push(child);
    }

    /// A background server in the namespace.
    fn serve(&mut self, args: &[&str]) -> usize {
        let child = self
            .ns
            .cmd(args[0])
            .args(&args[1..])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        self.children.push(child);
        self.children.len() - 1
    }

    fn http(&mut self, port: u16) -> usize {
        let port = port.to_string();
        let i = self.serve(&["python3", "-m", "http.server", &port, "--bind", "127.0.0.1"]);
        self.wait_port(&port);
        i
    }

    fn wait_port(&self, port: &str) {
        wait(&format!("port {port}"), || {
            let out = self.ns.run(&["ss", "-Hltn", &format!("sport = :{port}")]);
            !text(&out).0.trim().is_empty()
        });
    }

    fn kill(&mut self, i: usize) {
        let _ = self.children[i].kill();
        let _ = self.children[i].wait();
    }

    fn rec(&self) -> String {
        self.read("ipvs.rec")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Polls `cond` every 50 ms for up to 20 s.
fn wait(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

fn cfg(lab: &Lab, name: &str, body: &str) -> PathBuf {
    lab.write(name, body)
}

const VIP: &str = "198.51.100.10";

#[test]
fn b5_http_negotiate_adds_live_real_and_never_the_dead_one() {
    let mut lab = Lab::new("hn");
    lab.write("index.html", "hello Test Page\n");
    lab.http(8081);
    let c = cfg(
        &lab,
        &unique("hn.cf"),
        &format!("checkinterval=1\nvirtual={VIP}:80\n\treal=127.0.0.1:8081 masq\n\treal=127.0.0.1:8082 masq\n\tservice=http\n\trequest=\"index.html\"\n\treceive=\"Test Page\"\n"),
    );
    lab.daemon(&c);
    wait("real 1 added", || {
        lab.rec()
            .contains("-a -t 198.51.100.10:80 -r 127.0.0.1:8081 -m -w 1")
    });
    // Two more cycles: the dead real is never added, not even for a moment.
    wait("dead real checked twice", || {
        lab.read("log").matches("8082").count() >= 1
    });
    std::thread::sleep(Duration::from_millis(1200));
    assert!(!lab.rec().contains("127.0.0.1:8082"), "{}", lab.rec());
    assert!(lab.rec().starts_with("-A -t 198.51.100.10:80 -s wrr\n"));
}

#[test]
fn failurecount_soft_failures_then_removal() {
    let mut lab = Lab::new("fc");
    let srv = lab.http(8081);
    let c = cfg(
        &lab,
        &unique("fc.cf"),
        &format!("checkinterval=1\nfailurecount=3\nvirtual={VIP}:80\n\treal=127.0.0.1:8081 masq\n\tservice=http\n"),
    );
    lab.daemon(&c);
    wait("added", || lab.rec().contains("-a -t"));
    lab.kill(srv);
    wait("removed", || {
        lab.rec()
            .contains("-d -t 198.51.100.10:80 -r 127.0.0.1:8081")
    });
    let log = lab.read("log");
    let f1 = log.find("failure 1/3").unwrap_or(usize::MAX);
    let f2 = log.find("failure 2/3").unwrap_or(usize::MAX);
    let del = log.find("Deleted real server").unwrap_or(0);
    assert!(f1 < f2 && f2 < del, "{log}");
}

#[test]
fn quiescent_weight_zero_and_back() {
    let mut lab = Lab::new("qu");
    let srv = lab.http(8081);
    let c = cfg(
        &lab,
        &unique("qu.cf"),
        &format!("checkinterval=1\nquiescent=yes\nvirtual={VIP}:80\n\treal=127.0.0.1:8081 masq 4\n\tservice=http\n"),
    );
    lab.daemon(&c);
    wait("added", || lab.rec().contains("-w 4"));
    lab.kill(srv);
    wait("quiesced", || {
        lab.rec()
            .contains("-e -t 198.51.100.10:80 -r 127.0.0.1:8081 -m -w 0")
    });
    assert!(!lab.rec().contains("-d -t"));
    lab.http(8081);
    wait("restored", || lab.rec().matches("-w 4").count() == 2);
}

#[test]
fn b6_fallback_and_fallbackcommand_once_when_all_down() {
    let mut lab = Lab::new("fb");
    let marks = lab.path("fbcmd");
    let c = cfg(
        &lab,
        &unique("fb.cf"),
        &format!(
            "checkinterval=1\nfallbackcommand=\"echo >>{} \"\nvirtual={VIP}:80\n\tfallback=127.0.0.1:9999\n\
             \treal=127.0.0.1:8081 masq\n\treal=127.0.0.1:8082 masq\n\treal=127.0.0.1:8083 masq\n\tservice=http\n",
            marks.display()
        ),
    );
    lab.daemon(&c);
    wait("fallback", || lab.rec().contains("-r 127.0.0.1:9999"));
    wait("fallbackcommand", || lab.read("fbcmd").contains("start"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lab.read("fbcmd").trim(), "start 198.51.100.10:80 tcp");
    assert_eq!(
        lab.rec().matches("127.0.0.1:9999").count(),
        1,
        "{}",
        lab.rec()
    );
    lab.http(8082);
    wait("fallback removed", || {
        lab.rec()
            .contains("-d -t 198.51.100.10:80 -r 127.0.0.1:9999")
    });
    wait("stop command", || lab.read("fbcmd").contains("stop"));
}

#[test]
fn maintenancedir_forces_a_real_down_and_back() {
    let mut lab = Lab::new("md");
    lab.http(8081);
    let maint = lab.path("maint");
    fs::create_dir_all(&maint).unwrap_or_else(|e| panic!("{e}"));
    let c = cfg(
        &lab,
        &unique("md.cf"),
        &format!(
            "checkinterval=1\nfailurecount=5\nmaintenancedir={}\nvirtual={VIP}:80\n\treal=127.0.0.1:8081 masq\n\tservice=http\n",
            maint.display()
        ),
    );
    lab.daemon(&c);
    wait("added", || lab.rec().contains("-a -t"));
    fs::write(maint.join("127.0.0.1:8081"), "").unwrap_or_else(|e| panic!("{e}"));
    wait("maintenance", || lab.rec().contains("-d -t"));
    assert!(lab.read("log").contains("Server in maintenance"));
    fs::remove_file(maint.join("127.0.0.1:8081")).unwrap_or_else(|e| panic!("{e}"));
    wait("back", || lab.rec().matches("-a -t").count() == 2);
}

#[test]
fn monitorfile_lines_for_up_and_down() {
    let mut lab = Lab::new("mf");
    lab.http(8081);
    let mon = lab.path("mon.log");
    let c = cfg(
        &lab,
        &unique("mf.cf"),
        &format!(
            "checkinterval=1\nvirtual={VIP}:80\n\treal=127.0.0.1:8081 masq\n\treal=127.0.0.1:8082 masq\n\tservice=http\n\tmonitorfile=\"{}\"\n",
            mon.display()
        ),
    );
    lab.daemon(&c);
    wait("two lines", || lab.read("mon.log").lines().count() >= 2);
    let m = lab.read("mon.log");
    assert!(
        m.contains(" negotiate http tcp 127.0.0.1 8081 1 masq / [up] HTTP/1.0 200 OK"),
        "{m}"
    );
    assert!(
        m.contains(" negotiate http tcp 127.0.0.1 8082 1 masq / [down] connect: "),
        "{m}"
    );
    assert!(m.starts_with('['));
}

#[test]
fn autoreload_applies_only_the_difference() {
    let mut lab = Lab::new("ar");
    lab.http(8081);
    let name = unique("ar.cf");
    let body = |w: u32| {
        format!("checkinterval=1\nautoreload=yes\nvirtual={VIP}:80\n\treal=127.0.0.1:8081 masq {w}\n\tservice=http\n")
    };
    let c = cfg(&lab, &name, &body(1));
    lab.daemon(&c);
    wait("added", || lab.rec().contains("-a -t"));
    std::thread::sleep(Duration::from_millis(1100));
    lab.write(&name, &body(5));
    wait("weight edited", || {
        lab.rec()
            .contains("-e -t 198.51.100.10:80 -r 127.0.0.1:8081 -m -w 5")
    });
    let rec = lab.rec();
    assert_eq!(rec.matches("-A ").count(), 1, "{rec}");
    assert!(!rec.contains("-D ") && !rec.contains("-d "), "{rec}");
}

#[test]
fn b2_broken_reload_keeps_the_running_config_working() {
    let mut lab = Lab::new("b2");
    let srv = lab.http(8081);
    let name = unique("b2.cf");
    let c = cfg(
        &lab,
        &name,
        &format!("checkinterval=1\nvirtual={VIP}:80\n\treal=127.0.0.1:8081 masq\n\tservice=http\n"),
    );
    lab.daemon(&c);
    wait("added", || lab.rec().contains("-a -t"));
    lab.write(
        &name,
        &format!("checkinterval=1\nvirtual={VIP}:80\n\treal=127.0.0.1:8081 bogus\n"),
    );
    let out = lab.ld(&[c.to_str().unwrap_or(""), "reload"]);
    // The original refuses to even signal with a broken file (exit 2); so do we.
    assert_eq!(out.status.code(), Some(2));
    let out = lab.ns.run(&["kill", "-HUP", &daemon_pid(&name)]);
    assert!(out.status.success());
    wait("reload refused", || {
        lab.read("log")
            .contains("keeping the running configuration")
    });
    lab.kill(srv);
    wait("still reacts", || {
        lab.rec()
            .contains("-d -t 198.51.100.10:80 -r 127.0.0.1:8081")
    });
}

fn daemon_pid(cfg_name: &str) -> String {
    fs::read_to_string(format!("/var/run/ldirectord.{cfg_name}.pid"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn b1_bad_config_exits_2_with_file_line_and_leaves_daemon_and_pidfile() {
    let mut lab = Lab::new("b1");
    lab.http(8081);
    let name = unique("b1.cf");
    let c = cfg(
        &lab,
        &name,
        &format!("checkinterval=1\nvirtual={VIP}:80\n\treal=127.0.0.1:8081 masq\n\tservice=http\n"),
    );
    lab.daemon(&c);
    wait("pid file", || !daemon_pid(&name).is_empty());
    let pid = daemon_pid(&name);
    lab.write(
        &name,
        "checkinterval=1\nvirtual=198.51.100.10:80\n\tquiescent=maybe\n",
    );
    for cmd in ["status", "stop", "start", "reload"] {
        let out = lab.ld(&[c.to_str().unwrap_or(""), cmd]);
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
        assert!(
            err.contains(&format!(
                "{}:3:12: error: quiescent must be 'yes' or 'no'",
                c.display()
            )),
            "{err}"
        );
    }
    assert_eq!(daemon_pid(&name), pid, "pid file untouched");
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "daemon still running"
    );
}

#[test]
fn status_stop_and_exit_codes() {
    let mut lab = Lab::new("st");
    let name = unique("st.cf");
    let c = cfg(
        &lab,
        &name,
        &format!(
            "checkinterval=1\nvirtual={VIP}:80\n\treal=127.0.0.1:8081 masq\n\tchecktype=connect\n"
        ),
    );
    let cs = c.to_str().unwrap_or("");
    let out = lab.ld(&[cs, "status"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out).0, format!("ldirectord is stopped for {cs}\n"));
    assert_eq!(lab.ld(&[cs, "reload"]).status.code(), Some(1));
    lab.daemon(&c);
    wait("running", || {
        lab.ld(&[cs, "status"]).status.code() == Some(0)
    });
    let out = lab.ld(&[cs, "status"]);
    assert!(text(&out)
        .1
        .starts_with(&format!("ldirectord for {cs} is running with pid: ")));
    // start while running: nothing happens, exit 0.
    assert_eq!(lab.ld(&[cs, "start"]).status.code(), Some(0));
    let out = lab.ld(&[cs, "stop"]);
    assert_eq!(out.status.code(), Some(0));
    // stop waits for the daemon: the pid file is gone when it returns (B17).
    assert!(!Path::new(&format!("/var/run/ldirectord.{name}.pid")).exists());
    assert_eq!(lab.ld(&[cs, "status"]).status.code(), Some(3));
    // cleanstop (the default) removed the virtual service.
    assert!(
        lab.rec().ends_with("-D -t 198.51.100.10:80\n"),
        "{}",
        lab.rec()
    );
    assert_eq!(
        lab.ld(&["/nonexistent/x.cf", "status"]).status.code(),
        Some(1)
    );
    assert_eq!(lab.ld(&[cs, "bogus"]).status.code(), Some(255));
    assert_eq!(lab.ld(&["-v"]).status.code(), Some(0));
}

#[test]
fn cleanstop_no_leaves_the_table() {
    let mut lab = Lab::new("cs");
    let name = unique("cs.cf");
    let c = cfg(&lab, &name, &format!("checkinterval=1\ncleanstop=no\nvirtual={VIP}:80\n\treal=127.0.0.1:8081 masq\n\tchecktype=on\n"));
    lab.daemon(&c);
    wait("added", || lab.rec().contains("-a -t"));
    assert_eq!(
        lab.ld(&[c.to_str().unwrap_or(""), "stop"]).status.code(),
        Some(0)
    );
    assert!(!lab.rec().contains("-D"), "{}", lab.rec());
}

#[test]
fn checktypes_connect_ping_external_on_off() {
    let mut lab = Lab::new("ct");
    lab.http(8081);
    let script = lab.write(
        "check.sh",
        "#!/bin/sh\n[ \"$3\" = 127.0.0.1 ] && [ \"$4\" = 8081 ] && [ \"$1\" = 198.51.100.13 ]\n",
    );
    let hang = lab.write("hang.sh", "#!/bin/sh\nsleep 30\n");
    let c = cfg(
        &lab,
        &unique("ct.cf"),
        &format!(
            "checkinterval=1\nchecktimeout=1\n\
             virtual=198.51.100.11:80\n\treal=127.0.0.1:8081 masq\n\treal=127.0.0.1:8089 masq\n\tchecktype=connect\n\
             virtual=198.51.100.12:53\n\treal=127.0.0.1:53 masq\n\tchecktype=ping\n\
             virtual=198.51.100.13:80\n\treal=127.0.0.1:8081 masq\n\treal=127.0.0.2:8081 masq\n\tchecktype=external\n\tcheckcommand=\"/bin/sh {}\"\n\
             virtual=198.51.100.14:80\n\treal=127.0.0.1:8081 masq\n\tchecktype=external\n\tcheckcommand=\"/bin/sh {}\"\n\
             virtual=198.51.100.15:80\n\treal=127.0.0.1:8081 masq\n\tchecktype=on\n\
             virtual=198.51.100.16:80\n\treal=127.0.0.1:8081 masq\n\tchecktype=off\n",
            script.display(),
            hang.display()
        ),
    );
    lab.daemon(&c);
    wait("all results", || {
        let r = lab.rec();
        r.contains("-a -t 198.51.100.11:80 -r 127.0.0.1:8081")
            && r.contains("-a -u 198.51.100.12:53 -r 127.0.0.1:53")
            && r.contains("-a -t 198.51.100.13:80 -r 127.0.0.1:8081")
            && r.contains("-a -t 198.51.100.15:80 -r 127.0.0.1:8081")
    });
    wait("hung external timed out", || {
        lab.read("log").contains("timed out after 1 s")
    });
    let r = lab.rec();
    assert!(!r.contains("127.0.0.1:8089"), "{r}");
    assert!(!r.contains("-r 127.0.0.2:8081"), "{r}");
    assert!(!r.contains("198.51.100.14:80 -r"), "{r}");
    assert!(!r.contains("198.51.100.16:80 -r"), "{r}");
}

#[test]
fn https_against_openssl_s_server() {
    let mut lab = Lab::new("tl");
    let key = lab.path("key.pem");
    let crt = lab.path("crt.pem");
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .unwrap_or_else(|e| panic!("openssl: {e}"));
    assert!(out.status.success(), "{out:?}");
    let (k, c) = (
        key.to_string_lossy().to_string(),
        crt.to_string_lossy().to_string(),
    );
    // -www answers every GET with a 200 status page naming the cipher.
    lab.serve(&[
        "openssl",
        "s_server",
        "-quiet",
        "-accept",
        "127.0.0.1:8443",
        "-key",
        &k,
        "-cert",
        &c,
        "-www",
    ]);
    lab.wait_port("8443");
    let conf = cfg(
        &lab,
        &unique("tl.cf"),
        &format!("checkinterval=1\nvirtual={VIP}:443\n\treal=127.0.0.1:8443 masq\n\treal=127.0.0.1:8444 masq\n\tservice=https\n\treceive=\"Ciphers\"\n"),
    );
    lab.daemon(&conf);
    wait("https real added", || {
        lab.rec().contains("-r 127.0.0.1:8443 -m")
    });
    assert!(!lab.rec().contains("8444"));
}

/// A minimal SMTP server for the tests: python3's smtpd (deprecated but shipped with 3.11),
/// writing each message to FILE.
const SMTP_SINK: &str = r#"import smtpd, asyncore, sys
class S(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kw):
        text = data.decode() if isinstance(data, bytes) else data
        open(sys.argv[2], 'a').write('FROM %s TO %s\n%s\n' % (mailfrom, ','.join(rcpttos), text))
S(('127.0.0.1', int(sys.argv[1])), None)
asyncore.loop()
"#;

#[test]
fn emailalert_to_a_local_smtp_sink_and_smtp_service_check() {
    let mut lab = Lab::new("em");
    let sink = lab.write("sink.py", SMTP_SINK);
    let mails = lab.path("mails");
    let (s, m) = (
        sink.to_string_lossy().to_string(),
        mails.to_string_lossy().to_string(),
    );
    lab.serve(&["python3", "-W", "ignore", &s, "25", &m]);
    lab.wait_port("25");
    lab.http(8081);
    let c = cfg(
        &lab,
        &unique("em.cf"),
        &format!(
            "checkinterval=1\nemailalert=\"ops@example.org\"\nemailalertfrom=ld@example.org\nsmtp=127.0.0.1\n\
             virtual={VIP}:80\n\tservicename=Web\n\treal=127.0.0.1:8081 masq\n\tservice=http\n\
             virtual={VIP}:25\n\treal=127.0.0.1:25 masq\n\tservice=smtp\n"
        ),
    );
    lab.daemon(&c);
    wait("smtp real added", || {
        lab.rec().contains("-a -t 198.51.100.10:25 -r 127.0.0.1:25")
    });
    wait("mail", || {
        lab.read("mails")
            .contains("Added real server: 127.0.0.1:8081")
    });
    let mail = lab.read("mails");
    assert!(
        mail.contains("FROM ld@example.org TO ops@example.org"),
        "{mail}"
    );
    assert!(
        mail.contains("Subject: [Web] Added real server: 127.0.0.1:8081 (tcp:198.51.100.10:80)"),
        "{mail}"
    );
    assert!(mail.contains("Log-Message: "), "{mail}");
}

#[test]
fn dns_against_dnsmasq() {
    if Command::new("dnsmasq").arg("--version").output().is_err() {
        // Debian package dnsmasq-base; listed in `make deps`.
        panic!("dnsmasq (dnsmasq-base) is not installed");
    }
    let mut lab = Lab::new("dn");
    lab.serve(&[
        "dnsmasq",
        "-k",
        "--no-resolv",
        "--no-hosts",
        "--port=5353",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--address=/www.example.test/198.51.100.77",
        "--pid-file=",
    ]);
    // The first failure is the one logged: dnsmasq must be listening before the checks start.
    lab.wait_port("5353");
    let c = cfg(
        &lab,
        &unique("dn.cf"),
        &format!(
            "checkinterval=1\nvirtual={VIP}:53\n\treal=127.0.0.1:5353 masq\n\tservice=dns\n\trequest=\"www.example.test\"\n\treceive=\"198.51.100.77\"\n\
             virtual={VIP}:54\n\tprotocol=udp\n\treal=127.0.0.1:5353 masq\n\tservice=dns\n\trequest=\"www.example.test\"\n\treceive=\"198.51.100.99\"\n"
        ),
    );
    lab.daemon(&c);
    wait("dns real added", || {
        lab.rec()
            .contains("-a -u 198.51.100.10:53 -r 127.0.0.1:5353")
    });
    wait("mismatch seen", || {
        lab.read("log").contains("Response mismatch")
    });
    assert!(!lab.rec().contains("198.51.100.10:54 -r"));
}

#[test]
fn more_reals_than_checks_in_flight_are_all_checked_and_added() {
    // 1100 reals due at once: more than the default limit of 1024 open files, and more than the
    // 512 checks the daemon runs at a time; the rest queue and every real is checked and added.
    let mut lab = Lab::new("mq");
    let server = lab.write(
        "accept.py",
        "import socket\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('0.0.0.0', 8093))\ns.listen(4096)\nwhile True:\n    c, _ = s.accept()\n    c.close()\n",
    );
    lab.serve(&["python3", server.to_str().unwrap_or_default()]);
    lab.wait_port("8093");
    let c = cfg(
        &lab,
        &unique("mq.cf"),
        &format!(
            "checkinterval=5\nchecktimeout=5\nvirtual={VIP}:80\n\treal=127.0.1.1->127.0.5.76:8093 masq\n\tchecktype=connect\n"
        ),
    );
    lab.daemon(&c);
    wait("1100 reals added", || {
        lab.rec()
            .lines()
            .filter(|l| l.starts_with("-a -t 198.51.100.10:80 -r 127.0."))
            .count()
            == 1100
    });
    assert!(!lab.read("log").contains("Too many open files"));
}
