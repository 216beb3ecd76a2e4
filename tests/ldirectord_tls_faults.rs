//! ldirectord's TLS checks (pops, imaps, ldaps, and https as the reference) against reals
//! that misbehave inside TLS (`ODD_TLS`, python3 with OpenSSL over memory BIOs, so the test
//! decides what goes on the wire and when): a fatal alert in the middle of the answer,
//! close_notify followed by the rest of the answer in clear, a stall after the handshake, a
//! first line over the MiB a check holds, server text full of control characters, and a
//! healthy answer sent one line every 200 ms. IPVS in record mode, verdicts read back from
//! a monitorfile. Bounded polling waits only.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::ldlab::{wait_secs, Lab};
use common::{applet, text, unique};

const VIP: &str = "198.51.100.10";

/// `python3 SCRIPT PROTO MODE PORT CERT KEY`: PROTO pop, imap, ldap or http answers as a
/// healthy server would, but as MODE says: `good`; `slow` (each line, or LDAP message, 200 ms
/// after the last); `alert` (half the answer, then a fatal bad_record_mac alert, connection
/// held); `notify` (half the answer, close_notify, the other half in clear, held); `stall`
/// (nothing after the handshake); `huge` (a first line, or LDAP message, over 2 MiB, held);
/// `ctrl` (a refusal or greeting with NULs, ESC, BEL, CR and 300 more bytes); `tail` (the
/// whole answer and a fatal bad_record_mac alert after it in one write, held); `garbage`
/// (the whole answer and a record that cannot be decrypted in one write, held); `cut` (half
/// the answer and the alert in one write, held); http only: `endless` (a 200 chunked head,
/// then a chunk-size line without end, over 2 MiB, held), `endext` (a first chunk, then a
/// chunk extension without end). A sixth argument `plain` serves the same without TLS.
const ODD_TLS: &str = r#"import os, socket, ssl, sys, threading, time
proto, mode, port, cert, key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
plain = sys.argv[6:] == ['plain']
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)

class Tls:
    """TLS over memory BIOs: what OpenSSL writes is ours to send, hold or follow with more."""
    def __init__(self, sock):
        self.sock, self.inc, self.out = sock, ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_side=True)
        self.buf = b''
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                self.pull()
        self.flush()
    def pull(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.inc.write(data)
    def flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)
    def send(self, data):
        self.obj.write(data)
        self.flush()
    def recv(self):
        while True:
            try:
                return self.obj.read(65536)
            except ssl.SSLWantReadError:
                self.flush()
                self.pull()
    def line(self):
        while b'\n' not in self.buf:
            self.buf += self.recv()
        l, _, self.buf = self.buf.partition(b'\n')
        return l + b'\n'
    def alert(self):
        # A record that cannot be decrypted makes OpenSSL send a fatal bad_record_mac alert,
        # encrypted with the session's keys as any alert after the handshake.
        self.inc.write(bytes([23, 3, 3, 0, 40]) + os.urandom(40))
        try:
            self.obj.read(1024)
        except ssl.SSLError:
            pass
        self.flush()
    def close_notify(self):
        try:
            self.obj.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLError):
            pass
        self.flush()

class Plain(Tls):
    """The same server without TLS."""
    def __init__(self, sock):
        self.sock, self.buf = sock, b''
    def send(self, data):
        self.sock.sendall(data)
    def recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        return data

def tlv(t, body):
    n = len(body)
    if n < 128:
        return bytes([t, n]) + body
    b = n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([t, 0x80 | len(b)]) + b + body

def ldap_result(op, mid, code, msg=b''):
    return tlv(0x30, tlv(0x02, bytes([mid])) + tlv(op, tlv(0x0a, bytes([code])) + tlv(0x04, b'') + tlv(0x04, msg)))

CTRL = b'\x00\x1b[2J\x07evil\rinjected\x00\x7f' + b'A' * 300

def answer(t):
    """The healthy answer as pieces (a line each), after reading what the client asks."""
    if proto == 'pop':
        return [b'+OK POP3 ready\r\n']
    if proto == 'imap':
        return [b'* OK [CAPABILITY IMAP4rev1] ready\r\n']
    if proto == 'http':
        while t.line() not in (b'\r\n', b'\n'):
            pass
        body = [b'line %d of the test page\n' % i for i in range(8)]
        head = [b'HTTP/1.1 200 OK\r\n', b'Content-Length: %d\r\n' % len(b''.join(body)), b'Connection: close\r\n', b'\r\n']
        return head + body
    if proto == 'ldap':
        t.recv()
        bind = ldap_result(0x61, 1, 0)
        return [bind]

def ldap_search(t):
    t.recv()
    entry = tlv(0x30, tlv(0x02, b'\x02') + tlv(0x64, tlv(0x04, b'ou=web,dc=example,dc=test') + tlv(0x30, b'')))
    return [entry, ldap_result(0x65, 2, 0)]

def serve(c):
    try:
        t = Plain(c) if plain else Tls(c)
        if mode in ('endless', 'endext'):
            answer(t)
            t.send(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')
            if mode == 'endless':
                t.send(b'1' + b'0' * (2 << 20))
            else:
                t.send(b'5\r\nhello\r\n5;ext=' + b'x' * (2 << 20))
            time.sleep(60)
            return
        if mode == 'stall':
            time.sleep(60)
            return
        if mode == 'huge':
            if proto == 'ldap':
                t.recv()
                t.send(b'\x30\x84\x01\x00\x00\x00' + b'\x02\x01\x01' + b'v' * (2 << 20))
            else:
                start = {'pop': b'+OK ', 'imap': b'* OK ', 'http': b'HTTP/1.1 200 '}[proto]
                if proto == 'http':
                    answer(t)
                t.send(start + b'x' * (2 << 20))
            time.sleep(60)
            return
        if mode == 'ctrl':
            if proto == 'pop':
                t.send(b'+OK ' + CTRL + b'\r\n')
            elif proto == 'imap':
                t.send(b'* BYE ' + CTRL + b'\r\n')
            elif proto == 'http':
                answer(t)
                t.send(b'HTTP/1.1 503 ' + CTRL + b'\r\nContent-Length: 0\r\n\r\n')
            else:
                t.recv()
                t.send(ldap_result(0x61, 1, 49, CTRL))
            time.sleep(60)
            return
        pieces = answer(t)
        if proto == 'ldap':
            t.send(pieces[0])
            pieces = ldap_search(t)
        if mode in ('tail', 'garbage', 'cut'):
            # What OpenSSL makes of the answer, and right behind it in the same segment the
            # alert or a record no key decrypts.
            whole = b''.join(pieces)
            t.obj.write(whole[:len(whole) // 2] if mode == 'cut' else whole)
            if mode == 'garbage':
                c.sendall(t.out.read() + bytes([23, 3, 3, 0, 40]) + os.urandom(40))
            else:
                t.alert()
            time.sleep(60)
            return
        if mode in ('alert', 'notify'):
            # The answer cut in the middle of a piece, then the alert or close_notify, then
            # (close_notify) the rest in clear, on the same connection.
            whole = b''.join(pieces)
            half = len(whole) // 2
            t.send(whole[:half])
            time.sleep(0.2)
            if mode == 'alert':
                t.alert()
            else:
                t.close_notify()
                c.sendall(whole[half:])
            time.sleep(60)
            return
        for p in pieces:
            if mode == 'slow':
                time.sleep(0.2)
            t.send(p)
        if proto in ('pop', 'imap'):
            t.line()
            t.send(b'+OK bye\r\n' if proto == 'pop' else b'* BYE\r\na1 OK LOGOUT\r\n')
        elif proto == 'ldap':
            t.recv()
        time.sleep(1)
    except (OSError, ssl.SSLError, EOFError):
        pass
    finally:
        c.close()

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', port))
s.listen(16)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
"#;

impl Lab {
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

    /// A self-signed certificate and its key, made once.
    fn certificate(&self) -> (String, String) {
        let (crt, key) = (self.path("crt.pem"), self.path("key.pem"));
        if !crt.exists() {
            let out = Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=test",
                ])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&crt)
                .output()
                .unwrap_or_else(|e| panic!("openssl: {e}"));
            assert!(out.status.success(), "{out:?}");
        }
        (
            crt.to_string_lossy().into_owned(),
            key.to_string_lossy().into_owned(),
        )
    }

    /// Starts an `ODD_TLS` server for `proto` in `mode` on `port`.
    fn odd_server(&mut self, proto: &str, mode: &str, port: u16) {
        self.odd_server_with(proto, mode, port, &[]);
    }

    /// Starts an `ODD_TLS` server with `extra` arguments (`plain`: without TLS).
    fn odd_server_with(&mut self, proto: &str, mode: &str, port: u16, extra: &[&str]) {
        let script = self.write("odd.py", ODD_TLS);
        let (crt, key) = self.certificate();
        let child = self
            .ns
            .cmd("python3")
            .arg(&script)
            .args([proto, mode, &port.to_string(), &crt, &key])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("python3: {e}"));
        self.children.push(child);
    }

    fn wait_ports(&self, ports: &[u16]) {
        wait_secs("servers listening", 30, || {
            let out = self.ns.run(&["ss", "-Hltn"]);
            let listening = text(&out).0;
            ports
                .iter()
                .all(|p| listening.contains(&format!("127.0.0.1:{p} ")))
        });
    }
}

/// The monitorfile lines of the real on `port`.
fn lines_of(mon: &str, port: u16) -> Vec<String> {
    let tag = format!(" {port} ");
    mon.lines()
        .filter(|l| l.contains(&tag))
        .map(str::to_string)
        .collect()
}

/// The services under test: ldirectord's name, the server's protocol, the virtual's port.
const SERVICES: [(&str, &str, u16); 4] = [
    ("pops", "pop", 995),
    ("imaps", "imap", 993),
    ("ldaps", "ldap", 636),
    ("https", "http", 443),
];

const MODES: [&str; 6] = ["good", "alert", "notify", "stall", "huge", "ctrl"];

/// The real of `service` in `mode`: 20000 + 100 × the service's index + the mode's.
fn port_of(service: usize, mode: usize) -> u16 {
    20000 + 100 * service as u16 + mode as u16
}

/// What the real of `service` in `mode` must show in every monitorfile line, each check.
fn expected(service: &str, mode: &str) -> &'static str {
    match (service, mode) {
        ("pops", "good") => "[up] +OK POP3 ready",
        ("imaps", "good") => "[up] * OK [CAPABILITY IMAP4rev1] ready",
        ("ldaps", "good") => "[up] Success (ou=web,dc=example,dc=test)",
        ("https", "good") => "[up] HTTP/1.1 200 OK",
        (_, "alert") => "[down] receive: received fatal alert: BadRecordMac",
        // The Perl's LWP reads the cut body to the close as well (200, up); with a receive
        // string the missing half would not match.
        ("https", "notify") => "[up] HTTP/1.1 200 OK",
        (_, "notify") => "[down] connection closed",
        (_, "stall") => "[down] timed out after 3 s",
        ("ldaps", "huge") => "[down] LDAP: LDAP message too big",
        ("https", "huge") => "[down] no complete HTTP head in the first 1024 KiB",
        (_, "huge") => "[down] no complete answer in the first 1024 KiB",
        ("pops", "ctrl") => "[up] +OK \\x00\\x1b[2J\\x07evil\\rinjected\\x00\\x7fAAAA",
        ("imaps", "ctrl") => "[down] * BYE \\x00\\x1b[2J\\x07evil\\rinjected\\x00\\x7fAAAA",
        ("ldaps", "ctrl") => {
            "[down] Bind failed: invalidCredentials (49): \\x00\\x1b[2J\\x07evil\\rinjected"
        }
        ("https", "ctrl") => "[down] HTTP/1.1 503 \\x00\\x1b[2J\\x07evil\\rinjected\\x00\\x7fAAAA",
        _ => unreachable!("{service} {mode}"),
    }
}

/// Every TLS service against every misbehaving real, all under one daemon: each verdict as
/// `expected` says, each message capped and escaped in the monitorfile and the log alike,
/// and the healthy reals checked every second while the stalled ones hold their checks for
/// the whole 3 s timeout. A status line over the held MiB was up (`https` `huge`); see
/// `a_status_line_over_the_held_mib_was_read_as_a_whole_answer` in check/http.rs.
#[test]
fn tls_reals_that_misbehave_mid_answer_are_judged_on_what_they_sent() {
    let mut lab = Lab::new("tlf");
    let mon = lab.path("mon.log");
    let mut conf = String::from("checkinterval=1\nnegotiatetimeout=3\nchecktimeout=3\n");
    let mut ports = Vec::new();
    for (si, (service, proto, vport)) in SERVICES.iter().enumerate() {
        conf.push_str(&format!(
            "virtual={VIP}:{vport}\n\tservice={service}\n\trequest=\"/ou=web,dc=example,dc=test\"\n\tmonitorfile=\"{}\"\n",
            mon.display()
        ));
        for (mi, mode) in MODES.iter().enumerate() {
            let port = port_of(si, mi);
            lab.odd_server(proto, mode, port);
            ports.push(port);
            conf.push_str(&format!("\treal=127.0.0.1:{port} masq\n"));
        }
    }
    lab.wait_ports(&ports);
    let cfg = lab.write(&unique("tlf.cf"), &conf);
    lab.daemon(&cfg);
    wait_secs("two results of every real", 40, || {
        let m = lab.read("mon.log");
        ports.iter().all(|&p| lines_of(&m, p).len() >= 2)
    });
    let m = lab.read("mon.log");
    for (si, (service, _, _)) in SERVICES.iter().enumerate() {
        for (mi, mode) in MODES.iter().enumerate() {
            let want = expected(service, mode);
            for l in lines_of(&m, port_of(si, mi)) {
                assert!(l.contains(want), "{service} {mode}: {l}\n{m}");
                // Capped: the 300 filler bytes and the 2 MiB line never come whole.
                assert!(l.len() < 400, "{service} {mode}: {} bytes", l.len());
            }
        }
        // The healthy real kept its cadence while the stalled one held its check 3 s.
        let good = lines_of(&m, port_of(si, 0)).len();
        let stalled = lines_of(&m, port_of(si, 3)).len();
        assert!(
            good >= 2 * stalled,
            "{service}: {good} checks of the healthy real, {stalled} of the stalled\n{m}"
        );
    }
    // No raw control byte of a server reached the monitorfile or the log.
    let log = lab.read("log");
    for (name, text) in [("monitorfile", &m), ("log", &log)] {
        assert!(
            !text
                .bytes()
                .any(|b| b == 0 || b == 0x1b || b == 0x07 || b == b'\r'),
            "{name} holds a raw control byte"
        );
    }
    assert!(log.contains("\\x00\\x1b[2J\\x07evil\\rinjected"), "{log}");
    let rec = lab.rec();
    for (si, (service, _, vport)) in SERVICES.iter().enumerate() {
        for (mi, mode) in MODES.iter().enumerate() {
            let added = rec.contains(&format!(
                "-a -t {VIP}:{vport} -r 127.0.0.1:{} ",
                port_of(si, mi)
            ));
            let up = expected(service, mode).starts_with("[up]");
            assert_eq!(added, up, "{service} {mode}\n{rec}");
        }
    }
}

/// A healthy real that sends each line (each LDAP message) 200 ms after the last: up while
/// the whole answer fits in negotiatetimeout (the https page is 12 lines, 2.4 s, in 5 s),
/// down with "timed out" when it does not (the same page in 1 s, its own monitorfile), and
/// the quick real beside them checked about every second all the while.
#[test]
fn a_slow_healthy_tls_real_is_up_within_negotiatetimeout_and_timed_out_past_it() {
    let mut lab = Lab::new("tls");
    let (mon, short) = (lab.path("mon.log"), lab.path("short.log"));
    let (m, s) = (mon.display(), short.display());
    let servers = [
        ("pop", "slow", 21001),
        ("imap", "slow", 21002),
        ("ldap", "slow", 21003),
        ("http", "slow", 21004),
        ("http", "good", 21005),
    ];
    for (proto, mode, port) in servers {
        lab.odd_server(proto, mode, port);
    }
    lab.wait_ports(&servers.map(|s| s.2));
    let conf = format!(
        "checkinterval=1\nnegotiatetimeout=5\nchecktimeout=5\n\
         virtual={VIP}:995\n\tservice=pops\n\treal=127.0.0.1:21001 masq\n\tmonitorfile=\"{m}\"\n\
         virtual={VIP}:993\n\tservice=imaps\n\treal=127.0.0.1:21002 masq\n\tmonitorfile=\"{m}\"\n\
         virtual={VIP}:636\n\tservice=ldaps\n\trequest=\"/ou=web,dc=example,dc=test\"\n\treal=127.0.0.1:21003 masq\n\tmonitorfile=\"{m}\"\n\
         virtual={VIP}:443\n\tservice=https\n\treal=127.0.0.1:21004 masq\n\treal=127.0.0.1:21005 masq\n\tmonitorfile=\"{m}\"\n\
         virtual={VIP}:444\n\tservice=https\n\tnegotiatetimeout=1\n\treal=127.0.0.1:21004 masq\n\tmonitorfile=\"{s}\"\n"
    );
    let cfg = lab.write(&unique("tls.cf"), &conf);
    lab.daemon(&cfg);
    let started = Instant::now();
    wait_secs("three results of every slow real", 40, || {
        let t = lab.read("mon.log");
        [21001, 21002, 21003, 21004]
            .iter()
            .all(|&p| lines_of(&t, p).len() >= 3)
            && lines_of(&lab.read("short.log"), 21004).len() >= 3
    });
    let took = started.elapsed();
    let t = lab.read("mon.log");
    for (port, want) in [
        (21001, "[up] +OK POP3 ready"),
        (21002, "[up] * OK [CAPABILITY IMAP4rev1] ready"),
        (21003, "[up] Success (ou=web,dc=example,dc=test)"),
        (21004, "[up] HTTP/1.1 200 OK"),
        (21005, "[up] HTTP/1.1 200 OK"),
    ] {
        for l in lines_of(&t, port) {
            assert!(l.contains(want), "{l}\n{t}");
        }
    }
    let short = lab.read("short.log");
    for l in lines_of(&short, 21004) {
        assert!(l.contains("[down] timed out after 1 s"), "{l}\n{short}");
    }
    // About one check a second plus its 0.01 s: never held back by the slow ones.
    let quick = lines_of(&t, 21005).len() as u64;
    let secs = took.as_secs().max(1);
    assert!(
        quick + 2 >= secs,
        "{quick} checks of the quick real in {took:?}\n{t}"
    );
    let rec = lab.rec();
    for r in [
        "-a -t 198.51.100.10:995 -r 127.0.0.1:21001 ",
        "-a -t 198.51.100.10:993 -r 127.0.0.1:21002 ",
        "-a -t 198.51.100.10:636 -r 127.0.0.1:21003 ",
        "-a -t 198.51.100.10:443 -r 127.0.0.1:21004 ",
    ] {
        assert!(rec.contains(r), "{r}\n{rec}");
    }
    assert!(
        !rec.contains("-a -t 198.51.100.10:444 -r 127.0.0.1:21004 "),
        "{rec}"
    );
}

/// Runs one daemon over `reals` (service, server's protocol, mode, port, `plain`), each real
/// in a virtual of its own, until every real has two monitorfile lines; returns the
/// monitorfile and the IPVS record.
fn judge(lab: &mut Lab, reals: &[(&str, &str, &str, u16, bool)]) -> (String, String) {
    let mon = lab.path("mon.log");
    let mut conf = String::from("checkinterval=1\nnegotiatetimeout=3\nchecktimeout=3\n");
    for (i, &(service, proto, mode, port, plain)) in reals.iter().enumerate() {
        lab.odd_server_with(proto, mode, port, if plain { &["plain"] } else { &[] });
        conf.push_str(&format!(
            "virtual={VIP}:{}\n\tservice={service}\n\trequest=\"/ou=web,dc=example,dc=test\"\n\treal=127.0.0.1:{port} masq\n\tmonitorfile=\"{}\"\n",
            1000 + i,
            mon.display()
        ));
    }
    let ports: Vec<u16> = reals.iter().map(|r| r.3).collect();
    lab.wait_ports(&ports);
    let cfg = lab.write(&unique("tlj.cf"), &conf);
    lab.daemon(&cfg);
    wait_secs("two results of every real", 40, || {
        let m = lab.read("mon.log");
        ports.iter().all(|&p| lines_of(&m, p).len() >= 2)
    });
    (lab.read("mon.log"), lab.rec())
}

/// Asserts every monitorfile line of each real shows its `want`, and that exactly the up
/// ones were added to IPVS.
fn assert_judged(m: &str, rec: &str, want: &[(u16, &str)]) {
    for &(port, w) in want {
        let lines = lines_of(m, port);
        assert!(lines.len() >= 2, "{port}\n{m}");
        for l in lines {
            assert!(l.contains(w), "{port}: want {w:?}: {l}\n{m}");
        }
        let added = rec.contains(&format!("-r 127.0.0.1:{port} "));
        assert_eq!(added, w.starts_with("[up]"), "{port}\n{rec}");
    }
}

/// A whole answer (an https 200 with its whole Content-Length body, a pops or imaps
/// greeting, an ldaps search result) with a fatal alert, or a record that fails to decrypt,
/// right behind it in the same segment was down ("receive: received fatal alert:
/// BadRecordMac", "receive: cannot decrypt peer's message"): rustls failed the whole read,
/// and the answer it had already decrypted was never looked at. The same answer with the
/// alert in a later segment was up. What was decrypted before the error is judged now as it
/// stands (not as a close: no end of stream is read into it): up when it is a whole answer,
/// down with the TLS error when it is not (`cut`: half the answer and the alert in one
/// segment). Debian 12's Perl check code, run by hand against these servers (LWP 6.68,
/// IO::Socket::SSL 2.081, its `check_http` request with the test's certificate as CA):
/// `tail` and `garbage` are 200 OK (up), as here; `cut` is 200 OK too, LWP reading the alert
/// as the end of the body (up; down here, as for an alert in a later segment).
#[test]
fn a_whole_tls_answer_with_an_alert_behind_it_in_the_same_segment_was_down() {
    let mut lab = Lab::new("tlt");
    let mut reals = Vec::new();
    let mut want = Vec::new();
    for (si, &(service, proto, _)) in SERVICES.iter().enumerate() {
        for (mi, mode) in ["tail", "garbage", "cut"].into_iter().enumerate() {
            let port = 22000 + 100 * si as u16 + mi as u16;
            reals.push((service, proto, mode, port, false));
            want.push((
                port,
                match mode {
                    "cut" => "[down] receive: received fatal alert: BadRecordMac",
                    _ => expected(service, "good"),
                },
            ));
        }
    }
    let (m, rec) = judge(&mut lab, &reals);
    assert_judged(&m, &rec, &want);
}

/// A chunked body whose chunk-size line (or a chunk's extension) never ends, from a server
/// that keeps the connection open, filled the MiB a check holds and was judged as if the
/// server had closed there: a body cut by the close is judged on what arrived, so the real
/// was up ("HTTP/1.1 200 OK"). The full input is no close: it is down now with "no complete
/// chunk-size line in the first 1024 KiB", over TLS and in clear. Debian 12's Perl LWP
/// (6.68, run by hand against these servers) stops at its 8 KiB line limit and keeps the 200
/// with `X-Died: Entity body line too long`, so the Perl ldirectord calls these reals up.
#[test]
fn a_chunk_size_line_without_end_filling_the_held_mib_was_up_as_if_the_server_had_closed() {
    let mut lab = Lab::new("tlc");
    let want = "[down] no complete chunk-size line in the first 1024 KiB";
    let reals = [
        ("https", "http", "endless", 23001, false),
        ("https", "http", "endext", 23002, false),
        ("http", "http", "endless", 23003, true),
        ("http", "http", "endext", 23004, true),
    ];
    let (m, rec) = judge(&mut lab, &reals);
    assert_judged(&m, &rec, &reals.map(|r| (r.3, want)));
}
