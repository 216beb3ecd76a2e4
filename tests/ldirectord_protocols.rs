//! ldirectord's pop, pops, imap, imaps, smtp, submission, nntp, simpletcp and http_proxy
//! checks, which had no test of their own, and two regressions of simpletcp and ldap,
//! against servers that speak each protocol
//! (`PROTOCOL_SERVER`, python3; pops and imaps inside TLS with a self-signed certificate
//! made by openssl in the test). Each real that answers as a healthy server must be up, each
//! that answers as a broken or refusing one down. IPVS in record mode, results read back
//! from a monitorfile (it carries the check's message). Bounded polling waits only.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::ldlab::{wait, Lab};
use common::{applet, text, unique};

const VIP: &str = "198.51.100.10";

/// One server: `python3 SCRIPT PROTOCOL PORT MODE [CERT KEY]`. MODE `good` answers as a
/// healthy server (the login `user`/`secret` accepted), `bad` as a broken or refusing one;
/// with CERT and KEY it speaks TLS from the first byte (pops, imaps).
const PROTOCOL_SERVER: &str = r#"import socket, ssl, sys, threading, time
proto, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
good = mode == 'good'
ctx = None
if len(sys.argv) > 5:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])

def pop(c, f):
    c.sendall(b'+OK POP3 ready\r\n')
    for line in f:
        w = line.split()
        cmd = w[0].upper() if w else b''
        if cmd == b'USER':
            c.sendall(b'+OK send PASS\r\n')
        elif cmd == b'PASS':
            ok = good and w[1:] == [b'secret']
            c.sendall(b'+OK logged in\r\n' if ok else b'-ERR [AUTH] invalid password\r\n')
        elif cmd == b'QUIT':
            c.sendall(b'+OK bye\r\n')
            return
        else:
            c.sendall(b'-ERR unknown command\r\n')

def imap(c, f):
    c.sendall(b'* OK [CAPABILITY IMAP4rev1] ready\r\n')
    for line in f:
        w = line.split()
        if len(w) < 2:
            c.sendall(b'* BAD no tag\r\n')
            continue
        tag, cmd = w[0], w[1].upper()
        if cmd == b'LOGIN':
            if good and w[2:] == [b'"user"', b'"secret"']:
                c.sendall(b'* CAPABILITY IMAP4rev1\r\n' + tag + b' OK LOGIN completed\r\n')
            else:
                c.sendall(tag + b' NO [AUTHENTICATIONFAILED] Invalid credentials\r\n')
        elif cmd == b'LOGOUT':
            c.sendall(b'* BYE logging out\r\n' + tag + b' OK LOGOUT completed\r\n')
            return
        else:
            c.sendall(tag + b' BAD unknown command\r\n')

def smtp(c, f):
    if not good:
        c.sendall(b'554 5.3.2 mx.test no service here\r\n')
        return
    c.sendall(b'220-mx.test ESMTP\r\n220 mx.test ready\r\n')
    for line in f:
        cmd = line[:4].upper()
        if cmd == b'EHLO':
            c.sendall(b'250-mx.test hello ' + line[5:].strip() + b'\r\n250 8BITMIME\r\n')
        elif cmd == b'QUIT':
            c.sendall(b'221 2.0.0 bye\r\n')
            return
        else:
            c.sendall(b'502 5.5.2 not implemented\r\n')

def nntp(c, f):
    c.sendall(b'200 news.test ready, posting ok\r\n' if good else b'502 access denied\r\n')
    f.readline()

def simpletcp(c, f):
    asked = f.read()
    if asked == b'PING\n':
        c.sendall(b'hello\nPONG\n' if good else b'hello\nNOPE\n')
    else:
        c.sendall(b'what? ' + asked + b'\n')

def simpletcp_long(c, f):
    f.read()
    for i in range(2000):
        c.sendall(b'z' * 1000 + b'\n')
    c.sendall(b'PONG\n' if good else b'NOPE\n')

def tlv(t, body):
    n = len(body)
    if n < 128:
        return bytes([t, n]) + body
    b = n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([t, 0x80 | len(b)]) + b + body

def ldap(c, f):
    # RFC 4511: a bind (id 1) answered success or invalidCredentials, then a base search
    # (id 2) answered with its entry and attributes as asked: the list `1.1` means none,
    # otherwise a 2 MiB jpegPhoto comes along.
    c.recv(4096)
    result = lambda op, code: tlv(0x30, tlv(0x02, bytes([1 if op == 0x61 else 2]))
                                  + tlv(op, tlv(0x0a, bytes([code])) + tlv(0x04, b'') + tlv(0x04, b'')))
    if not good:
        c.sendall(result(0x61, 49))
        return
    c.sendall(result(0x61, 0))
    request = c.recv(4096)
    attrs = b''
    if tlv(0x04, b'1.1') not in request:
        attrs = tlv(0x30, tlv(0x04, b'jpegPhoto') + tlv(0x31, tlv(0x04, b'v' * (2 << 20))))
    entry = tlv(0x64, tlv(0x04, b'ou=web,dc=example,dc=test') + tlv(0x30, attrs))
    c.sendall(tlv(0x30, tlv(0x02, b'\x02') + entry) + result(0x65, 0))
    c.recv(4096)

def pop_flood(c, f):
    if good:
        return pop(c, f)
    c.sendall(b'+OK ' + b'x' * (2 << 20))
    time.sleep(10)

def http_proxy(c, f):
    request = f.readline()
    while f.readline() not in (b'\r\n', b'\n', b''):
        pass
    if request != b'GET http://www.example.com/index.html HTTP/1.1\r\n':
        c.sendall(b'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')
    elif good:
        c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nproxied page\n')
    else:
        c.sendall(b'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 13\r\n\r\nproxied page\n')

def serve(c):
    try:
        if ctx:
            c = ctx.wrap_socket(c, server_side=True)
        f = c.makefile('rb')
        globals()[proto](c, f)
    except (OSError, ssl.SSLError):
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

    /// Starts a `PROTOCOL_SERVER` for `proto` on `port` and waits until it listens.
    fn protocol_server(&mut self, proto: &str, port: u16, mode: &str, tls: bool) {
        let script = self.write("server.py", PROTOCOL_SERVER);
        let args = [
            script.to_string_lossy().into_owned(),
            proto.to_string(),
            port.to_string(),
            mode.to_string(),
        ];
        self.python_server(&args, port, tls);
    }

    /// Runs `python3 ARGS` (with the lab's certificate and key appended for `tls`) and waits
    /// until something listens on `port`.
    fn python_server(&mut self, args: &[String], port: u16, tls: bool) {
        let mut args = args.to_vec();
        if tls {
            let (crt, key) = self.certificate();
            args.extend([crt, key]);
        }
        let child = self
            .ns
            .cmd("python3")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 {args:?}: {e}"));
        self.children.push(child);
        wait(&format!("port {port}"), || {
            let out = self.ns.run(&["ss", "-Hltn", &format!("sport = :{port}")]);
            !text(&out).0.trim().is_empty()
        });
    }

    /// A self-signed certificate and its key in the lab directory, made once.
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
}

/// One virtual of `service` (with `extra` directives) on VIP:`vport` in front of a `good`
/// server on `vport + 8000` and a `bad` one on `vport + 9000`.
struct Case {
    service: &'static str,
    /// The `PROTOCOL_SERVER` protocol that plays the real.
    server: &'static str,
    vport: u16,
    tls: bool,
    extra: &'static str,
    /// The monitorfile message of the good real, then of the bad one.
    up: &'static str,
    down: &'static str,
}

impl Case {
    fn ports(&self) -> (u16, u16) {
        (self.vport + 8000, self.vport + 9000)
    }
}

/// Serves every case, runs one daemon for all, waits until each real has been judged twice,
/// and checks that every good real is up and in the table, every bad one down and never in it.
fn run(prefix: &str, cases: &[Case]) {
    let mut lab = Lab::new(prefix);
    let mon = lab.path("mon.log");
    let mut conf = String::from("checkinterval=1\nnegotiatetimeout=5\n");
    for c in cases {
        let (good, bad) = c.ports();
        lab.protocol_server(c.server, good, "good", c.tls);
        lab.protocol_server(c.server, bad, "bad", c.tls);
        conf.push_str(&format!(
            "virtual={VIP}:{}\n\treal=127.0.0.1:{good} masq\n\treal=127.0.0.1:{bad} masq\n\
             \tservice={}\n{}\tmonitorfile=\"{}\"\n",
            c.vport,
            c.service,
            c.extra,
            mon.display()
        ));
    }
    let cfg = lab.write(&unique("proto.cf"), &conf);
    lab.daemon(&cfg);
    wait("two results of every real", || {
        let m = lab.read("mon.log");
        cases.iter().all(|c| {
            let (good, bad) = c.ports();
            [good, bad]
                .iter()
                .all(|p| m.matches(&format!(" {p} ")).count() >= 2)
        })
    });
    let m = lab.read("mon.log");
    let rec = lab.rec();
    for c in cases {
        let (good, bad) = c.ports();
        let lines = |port: u16| -> Vec<&str> {
            m.lines()
                .filter(|l| l.contains(&format!(" {port} ")))
                .collect()
        };
        for l in lines(good) {
            assert!(
                l.contains(&format!("[up] {}", c.up)),
                "{} good real: {l}\n{m}",
                c.service
            );
        }
        for l in lines(bad) {
            assert!(
                l.contains(&format!("[down] {}", c.down)),
                "{} bad real: {l}\n{m}",
                c.service
            );
        }
        let vip = format!("-a -t {VIP}:{} ", c.vport);
        assert!(
            rec.contains(&format!("{vip}-r 127.0.0.1:{good} ")),
            "{} good real not added:\n{rec}",
            c.service
        );
        assert!(
            !rec.contains(&format!("-r 127.0.0.1:{bad} ")),
            "{} bad real added:\n{rec}",
            c.service
        );
    }
}

/// POP3 in clear and inside TLS: a `+OK` greeting and a login answered `+OK` is up, a login
/// refused with `-ERR` is down (Mail::POP3Client's verdict in the Perl ldirectord).
#[test]
fn pop_and_pops_up_when_the_login_is_accepted_down_when_refused() {
    let login = "\tlogin=\"user\"\n\tpasswd=\"secret\"\n";
    run(
        "pop",
        &[
            Case {
                service: "pop",
                server: "pop",
                vport: 110,
                tls: false,
                extra: login,
                up: "+OK logged in",
                down: "-ERR [AUTH] invalid password",
            },
            Case {
                service: "pops",
                server: "pop",
                vport: 995,
                tls: true,
                extra: login,
                up: "+OK logged in",
                down: "-ERR [AUTH] invalid password",
            },
        ],
    );
}

/// IMAP in clear and inside TLS: an `* OK` greeting and `LOGIN` answered `OK` (after an
/// untagged line) is up, `NO` is down.
#[test]
fn imap_and_imaps_up_when_the_login_is_accepted_down_when_refused() {
    let login = "\tlogin=\"user\"\n\tpasswd=\"secret\"\n";
    run(
        "imap",
        &[
            Case {
                service: "imap",
                server: "imap",
                vport: 143,
                tls: false,
                extra: login,
                up: "a1 OK LOGIN completed",
                down: "a1 NO [AUTHENTICATIONFAILED] Invalid credentials",
            },
            Case {
                service: "imaps",
                server: "imap",
                vport: 993,
                tls: true,
                extra: login,
                up: "a1 OK LOGIN completed",
                down: "a1 NO [AUTHENTICATIONFAILED] Invalid credentials",
            },
        ],
    );
}

/// SMTP on 25 and submission on 587: a multi-line 220 greeting and EHLO answered 250 is up,
/// a 554 greeting down (Net::SMTP->new's verdict).
#[test]
fn smtp_and_submission_up_on_220_and_250_down_on_a_554_greeting() {
    run(
        "smtp",
        &[
            Case {
                service: "smtp",
                server: "smtp",
                vport: 25,
                tls: false,
                extra: "",
                up: "250 8BITMIME",
                down: "554 5.3.2 mx.test no service here",
            },
            Case {
                service: "submission",
                server: "smtp",
                vport: 587,
                tls: false,
                extra: "",
                up: "250 8BITMIME",
                down: "554 5.3.2 mx.test no service here",
            },
        ],
    );
}

/// nntp: a 200 greeting is up, 502 down. simpletcp: the request (leading `/` dropped, `\n`
/// a newline) is sent and the write side shut; a line matching receive is up, none down.
/// http_proxy: the real, as a proxy, is asked for the absolute URL (the server answers 400
/// to anything else); 200 is up, 502 down.
#[test]
fn nntp_simpletcp_and_http_proxy_up_on_a_good_answer_down_on_a_bad_one() {
    run(
        "misc",
        &[
            Case {
                service: "nntp",
                server: "nntp",
                vport: 119,
                tls: false,
                extra: "",
                up: "200 news.test ready, posting ok",
                down: "502 access denied",
            },
            Case {
                service: "simpletcp",
                server: "simpletcp",
                vport: 700,
                tls: false,
                extra: "\trequest=\"/PING\\n\"\n\treceive=\"PONG\"\n",
                up: "PONG",
                down: "no line matched receive",
            },
            Case {
                service: "http_proxy",
                server: "http_proxy",
                vport: 3128,
                tls: false,
                extra: "\trequest=\"http://www.example.com/index.html\"\n\treceive=\"proxied\"\n",
                up: "HTTP/1.1 200 OK",
                down: "HTTP/1.1 502 Bad Gateway",
            },
        ],
    );
}

/// A simpletcp real that sends 2,000 lines of 1,000 bytes before its `PONG` was down: at the
/// 1 MiB a check holds, the answer was judged as if the server had closed. Lines already
/// examined are dropped now and reading goes on (up to 16 MiB); one that ends in `NOPE`
/// stays down.
#[test]
fn simpletcp_line_after_more_than_one_mib_of_output_was_not_found() {
    run(
        "stl",
        &[Case {
            service: "simpletcp",
            server: "simpletcp_long",
            vport: 701,
            tls: false,
            extra: "\trequest=\"/PING\\n\"\n\treceive=\"PONG\"\n",
            up: "PONG",
            down: "no line matched receive",
        }],
    );
}

/// A base entry with a 2 MiB attribute (a photo) made its healthy LDAP server down, "LDAP
/// message too big": the search asked for every attribute, and only the DN is judged. It
/// asks for none now (the attribute list `1.1`, RFC 4511 §4.5.1.8), which this server, as
/// slapd, honours. A refused bind stays down.
#[test]
fn ldap_base_entry_with_a_big_attribute_marked_a_healthy_server_down() {
    run(
        "ldb",
        &[Case {
            service: "ldap",
            server: "ldap",
            vport: 389,
            tls: false,
            extra: "\trequest=\"ou=web,dc=example,dc=test\"\n",
            up: "Success (ou=web,dc=example,dc=test)",
            down: "Bind failed: invalidCredentials",
        }],
    );
}

/// A real whose answer filled the 1 MiB a check holds without completing (a 2 MiB greeting
/// line, the connection left open) was down with "connection closed": it was not closed.
#[test]
fn answer_over_the_held_mib_was_reported_as_a_closed_connection() {
    run(
        "big",
        &[Case {
            service: "pop",
            server: "pop_flood",
            vport: 110,
            tls: false,
            extra: "",
            up: "+OK POP3 ready",
            down: "no complete answer in the first 1024 KiB",
        }],
    );
}

/// `python3 SCRIPT PROTOCOL PORT RECORD [CERT KEY]`: a healthy pop, imap or smtp server
/// (inside TLS with CERT and KEY) that, once it has read the check's QUIT or LOGOUT, reads
/// on and appends to RECORD `PROTOCOL PORT` and how the session ended: `fin` (a FIN, after
/// TLS's close_notify inside TLS), `reset` (by the error or by the socket's TCP state),
/// `unexpected eof` (a FIN inside TLS without close_notify: OpenSSL 3 servers log "unexpected
/// eof while reading" and answer with an alert), `more` (more bytes came).
const COURTESY_SERVER: &str = r#"import socket, ssl, sys, threading, time
proto, port, record = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = None
if len(sys.argv) > 5:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
greeting = {'pop': b'+OK POP3 ready\r\n', 'imap': b'* OK IMAP4rev1 ready\r\n',
            'smtp': b'220 mx.test ready\r\n'}
def answer(line):
    w = line.split()
    if proto == 'pop':
        cmd = w[0].upper() if w else b''
        if cmd == b'QUIT': return None
        return b'+OK send PASS\r\n' if cmd == b'USER' else b'+OK logged in\r\n'
    if proto == 'imap':
        if len(w) > 1 and w[1].upper() == b'LOGOUT': return None
        return w[0] + b' OK LOGIN completed\r\n'
    if line[:4].upper() == b'QUIT': return None
    return b'250-mx.test hello\r\n250 8BITMIME\r\n'
def serve(c):
    try:
        if ctx:
            c = ctx.wrap_socket(c, server_side=True, suppress_ragged_eofs=False)
        c.sendall(greeting[proto])
        buf = b''
        while True:
            while b'\n' not in buf:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
            line, buf = buf.split(b'\n', 1)
            reply = answer(line)
            if reply is None:
                break
            c.sendall(reply)
        try:
            what = 'more' if buf or c.recv(1) else 'fin'
        except ssl.SSLEOFError:
            what = 'unexpected eof'
        except ConnectionResetError:
            what = 'reset'
        # The kernel's TCP state: CLOSE_WAIT after a FIN, CLOSE after a reset (inside TLS,
        # close_notify may be read before the FIN arrives: waited for, 2 s at most).
        for _ in range(200):
            state = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
            if what != 'fin' or state != 1:
                break
            time.sleep(0.01)
        if what == 'fin' and state != 8:
            what = 'reset' if state == 7 else 'no end, tcp state %d' % state
        with open(record, 'a') as f:
            f.write('%s %d %s\n' % (proto, port, what))
    except (OSError, ssl.SSLError):
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

/// A check that ends with a courtesy (QUIT, LOGOUT) closes with a FIN, so that the server
/// reads it (the README), where a judged answer closes with a reset. Inside TLS (pops, imaps)
/// the courtesy went out and then a bare FIN, without TLS's close_notify: a server on
/// OpenSSL 3 read "unexpected eof while reading" and answered with an alert on every check
/// (the Perl's IO::Socket::SSL closes with close_notify). Now close_notify follows the
/// courtesy; pop, imap and smtp in clear end with a FIN as before.
#[test]
fn a_pops_or_imaps_check_ended_its_session_without_close_notify() {
    let mut lab = Lab::new("fin");
    let script = lab.write("courtesy.py", COURTESY_SERVER);
    let record = lab.path("record");
    let cases = [
        ("pop", "pop", 8110, false),
        ("pops", "pop", 8995, true),
        ("imap", "imap", 8143, false),
        ("imaps", "imap", 8993, true),
        ("smtp", "smtp", 8025, false),
    ];
    let mut conf = String::from("checkinterval=1\nnegotiatetimeout=5\n");
    for (vport, (service, proto, port, tls)) in (100u16..).zip(cases) {
        let args = [
            script.to_string_lossy().into_owned(),
            proto.to_string(),
            port.to_string(),
            record.to_string_lossy().into_owned(),
        ];
        lab.python_server(&args, port, tls);
        conf.push_str(&format!(
            "virtual={VIP}:{vport}\n\treal=127.0.0.1:{port} masq\n\tservice={service}\n\
             \tlogin=\"user\"\n\tpasswd=\"secret\"\n"
        ));
    }
    let cfg = lab.write(&unique("fin.cf"), &conf);
    lab.daemon(&cfg);
    wait("every server's courtesy read twice", || {
        let r = lab.read("record");
        cases
            .iter()
            .all(|(_, proto, port, _)| r.matches(&format!("{proto} {port} ")).count() >= 2)
    });
    let r = lab.read("record");
    for l in r.lines() {
        assert!(l.ends_with(" fin"), "{l}\n{r}");
    }
    let rec = lab.rec();
    for (_, _, port, _) in cases {
        assert!(
            rec.contains(&format!("-r 127.0.0.1:{port} ")),
            "{port}: {rec}"
        );
    }
}

/// `python3 SCRIPT PORT RECORD [CERT KEY]`: a healthy LDAP server (inside TLS with CERT and
/// KEY) answering the check's bind and base search with slapd 2.5's captured bytes (bind
/// success; entry ou=web,dc=example,dc=test and search done); once it has read the Unbind it
/// reads on and appends `ldap PORT` and how the session ended, as `COURTESY_SERVER` does.
const LDAP_COURTESY_SERVER: &str = r#"import socket, ssl, sys, threading, time
port, record = int(sys.argv[1]), sys.argv[2]
ctx = None
if len(sys.argv) > 4:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
BIND_OK = bytes.fromhex('300c02010161070a010004000400')
ENTRY_AND_DONE = bytes.fromhex('3054020102644f04196f753d7765622c64633d6578616d706c652c64633d7465737430323023040b6f626a656374436c617373311404126f7267616e697a6174696f6e616c556e6974300b04026f7531050403776562300c02010265070a010004000400')
def message(c, buf):
    while True:
        if len(buf) >= 2:
            n, hdr = buf[1], 2
            if n & 0x80:
                hdr = 2 + (n & 0x7f)
                n = int.from_bytes(buf[2:hdr], 'big') if len(buf) >= hdr else None
            if n is not None and len(buf) >= hdr + n:
                return buf[:hdr + n], buf[hdr + n:]
        d = c.recv(4096)
        if not d:
            return None, buf
        buf += d
def op(m):
    # SEQUENCE { INTEGER id, protocolOp }: the tag after the id.
    hdr = 2 + (m[1] & 0x7f if m[1] & 0x80 else 0)
    return m[hdr + 2 + m[hdr + 1]]
def serve(c):
    try:
        if ctx:
            c = ctx.wrap_socket(c, server_side=True, suppress_ragged_eofs=False)
        buf = b''
        while True:
            m, buf = message(c, buf)
            if m is None:
                return
            tag = op(m)
            if tag == 0x42:
                break
            c.sendall(BIND_OK if tag == 0x60 else ENTRY_AND_DONE)
        try:
            what = 'more' if buf or c.recv(1) else 'fin'
        except ssl.SSLEOFError:
            what = 'unexpected eof'
        except ConnectionResetError:
            what = 'reset'
        for _ in range(200):
            state = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
            if what != 'fin' or state != 1:
                break
            time.sleep(0.01)
        if what == 'fin' and state != 8:
            what = 'reset' if state == 7 else 'no end, tcp state %d' % state
        with open(record, 'a') as f:
            f.write('ldap %d %s\n' % (port, what))
    except (OSError, ssl.SSLError):
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

/// The ldap(s) check ends with an Unbind, a courtesy: it closes with a FIN, inside TLS after
/// close_notify (as IO::Socket::SSL closes for the Perl's Net::LDAPS). A bare FIN inside TLS
/// is an "unexpected eof" to an OpenSSL 3 server, logged on every check.
#[test]
fn an_ldaps_check_ended_its_session_without_close_notify() {
    let mut lab = Lab::new("lfin");
    let script = lab.write("ldap_courtesy.py", LDAP_COURTESY_SERVER);
    let record = lab.path("record");
    let cases = [("ldap", 8389, false), ("ldaps", 8636, true)];
    let mut conf = String::from("checkinterval=1\nnegotiatetimeout=5\n");
    for (vport, (service, port, tls)) in (100u16..).zip(cases) {
        let args = [
            script.to_string_lossy().into_owned(),
            port.to_string(),
            record.to_string_lossy().into_owned(),
        ];
        lab.python_server(&args, port, tls);
        conf.push_str(&format!(
            "virtual={VIP}:{vport}\n\treal=127.0.0.1:{port} masq\n\tservice={service}\n\
             \trequest=\"ou=web,dc=example,dc=test\"\n"
        ));
    }
    let cfg = lab.write(&unique("lfin.cf"), &conf);
    lab.daemon(&cfg);
    wait("every server's unbind read twice", || {
        let r = lab.read("record");
        cases
            .iter()
            .all(|(_, port, _)| r.matches(&format!("ldap {port} ")).count() >= 2)
    });
    let r = lab.read("record");
    for l in r.lines() {
        assert!(l.ends_with(" fin"), "{l}\n{r}");
    }
    let rec = lab.rec();
    for (_, port, _) in cases {
        assert!(
            rec.contains(&format!("-r 127.0.0.1:{port} ")),
            "{port}: {rec}"
        );
    }
}
