//! ldirectord's ldap, ldaps, radius and sip checks against real servers, each in a network
//! namespace of its own with only loopback: OpenLDAP slapd (ldap and ldaps with a
//! self-signed certificate), FreeRADIUS, and sipp as a UAS over UDP and TCP. IPVS in record
//! mode (LDIRECTORD_IPVS_RECORD), as in tests/ldirectord.rs; every check result is also
//! read back from a monitorfile, which carries the check's message. Bounded polling waits,
//! never timed assertions. The servers come from `make deps` (slapd, ldap-utils,
//! freeradius, sip-tester).

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::ldlab::{wait, Lab};
use common::{applet, text, unique};

impl Lab {
    fn path_text(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }

    /// Starts `ldirectord -d CFG start` in the background: stderr to `log`, stdout to `out`.
    fn daemon(&mut self, cfg: &Path) {
        let log = fs::File::create(self.path("log")).unwrap_or_else(|e| panic!("{e}"));
        let out = fs::File::create(self.path("out")).unwrap_or_else(|e| panic!("{e}"));
        let child = self
            .ns
            .cmd(applet("ldirectord"))
            .args(["-d"])
            .arg(cfg)
            .arg("start")
            .env("LDIRECTORD_IPVS_RECORD", self.path("ipvs.rec"))
            .stdout(out)
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        self.children.push(child);
    }

    /// A background server in the namespace, its stdout and stderr in the file `log`.
    fn serve(&mut self, log: &str, args: &[&str]) -> usize {
        let out = fs::File::create(self.path(log)).unwrap_or_else(|e| panic!("{e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let child = self
            .ns
            .cmd(args[0])
            .args(&args[1..])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        self.children.push(child);
        self.children.len() - 1
    }

    /// Waits until something listens on `port` (`-t` TCP, `-u` UDP) in the namespace.
    fn wait_port(&self, proto: &str, port: u16) {
        wait(&format!("port {proto} {port}"), || {
            let out = self
                .ns
                .run(&["ss", "-Hln", proto, &format!("sport = :{port}")]);
            !text(&out).0.trim().is_empty()
        });
    }

    /// Runs a client tool in the namespace, bounded by coreutils `timeout`; it must succeed.
    fn tool(&self, args: &[&str]) {
        let out = self
            .ns
            .cmd("timeout")
            .arg("10")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(out.status.success(), "{args:?}: {out:?}");
    }

    /// Waits until the record has a line containing `line`.
    fn wait_rec(&self, what: &str, line: &str) {
        wait(what, || self.rec().lines().any(|l| l.contains(line)));
    }

    /// Waits until the monitorfile `name` holds `n` results, then returns it.
    fn wait_results(&self, name: &str, n: usize) -> String {
        wait(&format!("{n} results in {name}"), || {
            self.read(name).lines().count() >= n
        });
        self.read(name)
    }
}

/// Fails the test at once, naming the package, when a server program is missing.
fn need(prog: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).exists()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(prog).exists();
    assert!(
        found,
        "{prog} is not installed (Debian package {package}; `make deps`)"
    );
}

const VIP: &str = "198.51.100.10";

/// A server on 127.0.0.1:`port` (`tcp` or `udp`) that takes what comes and never answers.
fn silent(lab: &mut Lab, proto: &str, port: u16) {
    let script = format!(
        "import socket\nkind = socket.SOCK_STREAM if '{proto}' == 'tcp' else socket.SOCK_DGRAM\n\
         s = socket.socket(socket.AF_INET, kind)\ns.bind(('127.0.0.1', {port}))\nheld = []\n\
         if kind == socket.SOCK_STREAM:\n    s.listen(16)\n\
         while True:\n    held.append(s.accept()[0]) if kind == socket.SOCK_STREAM else s.recv(4096)\n"
    );
    let name = format!("silent{port}.py");
    lab.write(&name, &script);
    lab.serve(
        &format!("silent{port}.log"),
        &["python3", &lab.path_text(&name)],
    );
    lab.wait_port(if proto == "tcp" { "-t" } else { "-u" }, port);
}

/// A self-signed certificate and key in the lab directory.
fn certificate(lab: &Lab) -> (String, String) {
    let (key, crt) = (lab.path_text("key.pem"), lab.path_text("crt.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test",
            "-keyout", &key, "-out", &crt,
        ])
        .output()
        .unwrap_or_else(|e| panic!("openssl: {e}"));
    assert!(out.status.success(), "{out:?}");
    (key, crt)
}

const LDAP_BASE: &str = "dc=example,dc=test";
const LDAP_ADMIN: &str = "cn=admin,dc=example,dc=test";

/// slapd with an mdb database for dc=example,dc=test, on ldap://127.0.0.1:3890 and
/// ldaps://127.0.0.1:6360 (GnuTLS with a self-signed certificate), seeded with ldapadd.
/// No access directives: slapd's default lets anyone read and users bind.
fn slapd(lab: &mut Lab) -> usize {
    need("slapd", "slapd");
    need("ldapadd", "ldap-utils");
    let (key, crt) = certificate(lab);
    fs::create_dir_all(lab.path("db")).unwrap_or_else(|e| panic!("{e}"));
    let conf = lab.write(
        "slapd.conf",
        &format!(
            "include /etc/ldap/schema/core.schema\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             pidfile {dir}/slapd.pid\n\
             TLSCertificateFile {crt}\n\
             TLSCertificateKeyFile {key}\n\
             database mdb\n\
             suffix \"{LDAP_BASE}\"\n\
             rootdn \"{LDAP_ADMIN}\"\n\
             rootpw secret\n\
             directory {dir}/db\n",
            dir = lab.dir.display()
        ),
    );
    let i = lab.serve(
        "slapd.log",
        &[
            "slapd",
            "-d",
            "0",
            "-h",
            "ldap://127.0.0.1:3890/ ldaps://127.0.0.1:6360/",
            "-f",
            &conf.to_string_lossy(),
        ],
    );
    lab.wait_port("-t", 3890);
    lab.wait_port("-t", 6360);
    lab.write(
        "seed.ldif",
        "dn: dc=example,dc=test\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: ou=web,dc=example,dc=test\nobjectClass: organizationalUnit\nou: web\n\n\
         dn: cn=check,ou=web,dc=example,dc=test\nobjectClass: person\ncn: check\nsn: check\nuserPassword: pw1\n\n\
         dn: cn=gone,ou=web,dc=example,dc=test\nobjectClass: person\ncn: gone\nsn: gone\n",
    );
    ldap_tool(lab, "ldapadd", &["-f", &lab.path_text("seed.ldif")]);
    i
}

/// An ldap-utils tool bound as the admin (`ldapadd`, `ldapmodify`, `ldapdelete`).
fn ldap_tool(lab: &Lab, tool: &str, args: &[&str]) {
    let mut a = vec![
        tool,
        "-x",
        "-H",
        "ldap://127.0.0.1:3890/",
        "-o",
        "nettimeout=5",
        "-D",
        LDAP_ADMIN,
        "-w",
        "secret",
    ];
    a.extend_from_slice(args);
    lab.tool(&a);
}

#[test]
fn ldap_and_ldaps_against_slapd() {
    let mut lab = Lab::new("la");
    let slapd = slapd(&mut lab);
    silent(&mut lab, "tcp", 3899);
    let m = |name: &str| format!("\tmonitorfile=\"{}\"\n", lab.path_text(name));
    let conf = lab.write(
        &unique("la.cf"),
        &format!(
            "checkinterval=1\nnegotiatetimeout=3\n\
             virtual={VIP}:389\n\treal=127.0.0.1:3890 masq\n\tservice=ldap\n\
             \tlogin=\"cn=check,ou=web,{LDAP_BASE}\"\n\tpasswd=\"pw1\"\n\
             \trequest=\"ou=web,{LDAP_BASE}\"\n\treceive=\"^ou=web,\"\n{bind}\
             virtual={VIP}:390\n\treal=127.0.0.1:3890 masq\n\tservice=ldap\n\
             \trequest=\"cn=gone,ou=web,{LDAP_BASE}\"\n{entry}\
             virtual={VIP}:391\n\treal=127.0.0.1:3890 masq\n\tservice=ldap\n\
             \tlogin=\"{LDAP_ADMIN}\"\n\tpasswd=\"wrong\"\n{wrong}\
             virtual={VIP}:392\n\treal=127.0.0.1:3890 masq\n\tservice=ldap\n\
             \trequest=\"ou=web,{LDAP_BASE}\"\n\treceive=\"^cn=\"\n{mismatch}\
             virtual={VIP}:636\n\treal=127.0.0.1:6360 masq\n\tservice=ldaps\n\
             \tlogin=\"{LDAP_ADMIN}\"\n\tpasswd=\"secret\"\n\trequest=\"{LDAP_BASE}\"\n{tls}\
             virtual={VIP}:393\n\treal=127.0.0.1:3899 masq\n\tservice=ldap\n\
             \tchecktimeout=1\n\tnegotiatetimeout=9\n{hung}",
            bind = m("bind.mon"),
            entry = m("entry.mon"),
            wrong = m("wrong.mon"),
            mismatch = m("mismatch.mon"),
            tls = m("tls.mon"),
            hung = m("hung.mon"),
        ),
    );
    lab.daemon(&conf);
    lab.wait_rec(
        "ldap real added",
        "-a -t 198.51.100.10:389 -r 127.0.0.1:3890 -m",
    );
    lab.wait_rec(
        "entry real added",
        "-a -t 198.51.100.10:390 -r 127.0.0.1:3890 -m",
    );
    lab.wait_rec(
        "ldaps real added",
        "-a -t 198.51.100.10:636 -r 127.0.0.1:6360 -m",
    );
    // The wrong password and the DN that does not match receive: down, twice, never added.
    let wrong = lab.wait_results("wrong.mon", 2);
    assert!(
        wrong.contains("[down] Bind failed: invalidCredentials (49)"),
        "{wrong}"
    );
    let mismatch = lab.wait_results("mismatch.mon", 2);
    assert!(
        mismatch.contains("[down] Response mismatch (ou=web,dc=example,dc=test)"),
        "{mismatch}"
    );
    assert!(!lab.rec().contains(":391 -r"), "{}", lab.rec());
    assert!(!lab.rec().contains(":392 -r"), "{}", lab.rec());
    assert!(lab
        .read("tls.mon")
        .contains("[up] Success (dc=example,dc=test)"));

    // The check user's password changes: its bind fails, the real goes.
    lab.write(
        "pw.ldif",
        "dn: cn=check,ou=web,dc=example,dc=test\nchangetype: modify\nreplace: userPassword\nuserPassword: pw2\n",
    );
    ldap_tool(&lab, "ldapmodify", &["-f", &lab.path_text("pw.ldif")]);
    lab.wait_rec(
        "bind-failed real removed",
        "-d -t 198.51.100.10:389 -r 127.0.0.1:3890",
    );
    assert!(lab
        .read("bind.mon")
        .contains("[down] Bind failed: invalidCredentials (49)"));

    // The searched entry disappears: no entry, the real goes.
    ldap_tool(
        &lab,
        "ldapdelete",
        &[&format!("cn=gone,ou=web,{LDAP_BASE}")],
    );
    lab.wait_rec(
        "no-entry real removed",
        "-d -t 198.51.100.10:390 -r 127.0.0.1:3890",
    );
    assert!(
        lab.read("entry.mon")
            .contains("[down] No answer received (0 entries; noSuchObject (32))"),
        "{}",
        lab.read("entry.mon")
    );

    // slapd killed: the ldaps real goes too.
    lab.kill(slapd);
    lab.wait_rec(
        "ldaps real removed",
        "-d -t 198.51.100.10:636 -r 127.0.0.1:6360",
    );
    assert_eq!(lab.read("out"), "", "nothing on stdout");
}

/// FreeRADIUS 3 with a minimal radiusd.conf: one client (127.0.0.1, secret testing123),
/// users from a `files` users file, PAP; auth on 127.0.0.1:18120. reject_delay 0 so a
/// reject is not held back a second.
fn freeradius(lab: &mut Lab) -> usize {
    need("freeradius", "freeradius");
    let d = lab.dir.display().to_string();
    lab.write("users", "web\tCleartext-Password := \"s3cret\"\n");
    lab.write(
        "radiusd.conf",
        &format!(
            "prefix = /usr\nexec_prefix = /usr\nsysconfdir = /etc\nlocalstatedir = /var\n\
             sbindir = /usr/sbin\nlogdir = {d}\nraddbdir = {d}\nradacctdir = {d}\n\
             name = freeradius\nconfdir = {d}\nmodconfdir = {d}\nrun_dir = {d}\ndb_dir = {d}\n\
             libdir = /usr/lib/freeradius\npidfile = {d}/radiusd.pid\n\
             max_request_time = 30\ncleanup_delay = 5\nmax_requests = 1024\nhostname_lookups = no\n\
             log {{\n\tdestination = stderr\n}}\n\
             security {{\n\tallow_core_dumps = no\n\tmax_attributes = 200\n\treject_delay = 0\n\tstatus_server = no\n}}\n\
             thread pool {{\n\tstart_servers = 1\n\tmax_servers = 2\n\tmin_spare_servers = 1\n\tmax_spare_servers = 2\n}}\n\
             client local {{\n\tipaddr = 127.0.0.1\n\tsecret = testing123\n}}\n\
             modules {{\n\tfiles {{\n\t\tfilename = {d}/users\n\t}}\n\tpap {{\n\t}}\n}}\n\
             server default {{\n\
             \tlisten {{\n\t\ttype = auth\n\t\tipaddr = 127.0.0.1\n\t\tport = 18120\n\t}}\n\
             \tauthorize {{\n\t\tfiles\n\t\tpap\n\t}}\n\
             \tauthenticate {{\n\t\tAuth-Type PAP {{\n\t\t\tpap\n\t\t}}\n\t}}\n\
             }}\n"
        ),
    );
    let i = lab.serve("radiusd.log", &["freeradius", "-X", "-d", &d]);
    wait("freeradius ready", || {
        lab.read("radiusd.log")
            .contains("Ready to process requests")
    });
    i
}

#[test]
fn radius_against_freeradius() {
    let mut lab = Lab::new("ra");
    let radius = freeradius(&mut lab);
    // Answers every datagram with 20 bytes of garbage.
    lab.write(
        "garbage.py",
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.bind(('127.0.0.1', 18130))\nwhile True:\n    d, a = s.recvfrom(4096)\n    s.sendto(b'\\x02' + d[1:2] + b'\\x00\\x14' + b'x' * 16, a)\n",
    );
    lab.serve("garbage.log", &["python3", &lab.path_text("garbage.py")]);
    lab.wait_port("-u", 18130);
    silent(&mut lab, "udp", 18131);
    let m = |name: &str| format!("\tmonitorfile=\"{}\"\n", lab.path_text(name));
    let radius_virtual = |port: u16, real: u16, passwd: &str, secret: &str, mon: &str| {
        format!(
            "virtual={VIP}:{port}\n\tprotocol=udp\n\treal=127.0.0.1:{real} masq\n\tservice=radius\n\
             \tlogin=\"web\"\n\tpasswd=\"{passwd}\"\n\tsecret=\"{secret}\"\n{}",
            m(mon)
        )
    };
    let conf = lab.write(
        &unique("ra.cf"),
        &format!(
            "checkinterval=1\nchecktimeout=3\n{}{}{}{}{}\tchecktimeout=1\n\tnegotiatetimeout=9\n",
            radius_virtual(1812, 18120, "s3cret", "testing123", "ok.mon"),
            radius_virtual(1813, 18120, "bad", "testing123", "reject.mon"),
            radius_virtual(1814, 18120, "s3cret", "wrong-secret", "secret.mon"),
            radius_virtual(1815, 18130, "s3cret", "testing123", "garbage.mon"),
            radius_virtual(1816, 18131, "s3cret", "testing123", "silent.mon"),
        ),
    );
    lab.daemon(&conf);
    lab.wait_rec(
        "radius real added",
        "-a -u 198.51.100.10:1812 -r 127.0.0.1:18120 -m",
    );
    let reject = lab.wait_results("reject.mon", 2);
    assert!(reject.contains("[down] Access-Reject"), "{reject}");
    // A wrong secret and garbage are no answer: the check waits for one, and its timeout
    // says what it set aside.
    let secret = lab.wait_results("secret.mon", 2);
    assert!(
        secret.contains("[down] timed out after 3 s; ignored 1 datagram that answered nothing we asked, the last: RADIUS: bad response authenticator (wrong secret?)"),
        "{secret}"
    );
    let garbage = lab.wait_results("garbage.mon", 2);
    assert!(
        garbage.contains("[down] timed out after 3 s; ignored 1 datagram")
            && garbage.contains("RADIUS: bad response authenticator"),
        "{garbage}"
    );
    // No answer at all: down after min(checktimeout, negotiatetimeout).
    let silent = lab.wait_results("silent.mon", 1);
    assert!(silent.contains("[down] timed out after 1 s"), "{silent}");
    let rec = lab.rec();
    for port in [1813, 1814, 1815, 1816] {
        assert!(!rec.contains(&format!(":{port} -r")), "{rec}");
    }
    assert!(lab.read("ok.mon").contains("[up] Access-Accept"));

    // FreeRADIUS killed: the ICMP refusal (or the timeout) takes the real out.
    lab.kill(radius);
    lab.wait_rec(
        "radius real removed",
        "-d -u 198.51.100.10:1812 -r 127.0.0.1:18120",
    );
}

/// The namespace's ephemeral port range, where ldirectord's UDP checks have their sockets.
fn ephemeral_ports(lab: &Lab) -> (String, String) {
    let out = lab
        .ns
        .run(&["cat", "/proc/sys/net/ipv4/ip_local_port_range"]);
    let range = text(&out).0;
    let mut it = range.split_whitespace().map(str::to_string);
    match (it.next(), it.next()) {
        (Some(lo), Some(hi)) => (lo, hi),
        _ => panic!("ip_local_port_range: {range:?}"),
    }
}

/// Starts tests/data/ldirectord/udp_spray.py in the namespace: `payload` from
/// 127.0.0.1:`from_port` to every ephemeral port of 127.0.0.1 for `secs` seconds (`mode`
/// udp), or an ICMP port unreachable for each (`mode` icmp, no payload). Returns the child's
/// index.
fn spray_as(lab: &mut Lab, mode: &str, from_port: u16, secs: u32, payload: &[u8]) -> usize {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/ldirectord/udp_spray.py"
    );
    let (lo, hi) = ephemeral_ports(lab);
    let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    lab.serve(
        &format!("spray{from_port}.log"),
        &[
            "python3",
            script,
            mode,
            "127.0.0.1",
            &from_port.to_string(),
            "127.0.0.1",
            &lo,
            &hi,
            &secs.to_string(),
            &hex,
        ],
    )
}

/// Starts the sprayer as `spray_as` does, with every argument given.
fn spray_with(lab: &mut Lab, args: &[&str]) -> usize {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/ldirectord/udp_spray.py"
    );
    let mut all = vec!["python3", script];
    all.extend_from_slice(args);
    lab.serve(&format!("spray{}.log", args[2]), &all)
}

/// `spray_as` datagrams.
fn spray(lab: &mut Lab, from_port: u16, secs: u32, payload: &[u8]) -> usize {
    spray_as(lab, "udp", from_port, secs, payload)
}

/// Waits (bounded) for the sprayer `i` to end and returns how many datagrams it sent.
fn sprayed(lab: &mut Lab, i: usize, from_port: u16) -> u64 {
    wait("the sprayer ended", || {
        matches!(lab.children[i].try_wait(), Ok(Some(_)))
    });
    let log = lab.read(&format!("spray{from_port}.log"));
    log.trim()
        .parse()
        .unwrap_or_else(|_| panic!("sprayer {from_port}: {log}"))
}

/// A slow but healthy server: answers each request after `delay` seconds, `reply` being a
/// python expression of the request `d`.
fn slow_udp_server(lab: &mut Lab, port: u16, delay: &str, imports: &str, reply: &str) {
    let name = format!("slow{port}.py");
    lab.write(
        &name,
        &format!(
            "import socket, time\n{imports}\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             s.bind(('127.0.0.1', {port}))\nwhile True:\n    d, a = s.recvfrom(4096)\n\
             \x20   time.sleep({delay})\n    r = {reply}\n    if r:\n        s.sendto(r, a)\n"
        ),
    );
    lab.serve(
        &format!("slow{port}.log"),
        &["python3", &lab.path_text(&name)],
    );
    lab.wait_port("-u", port);
}

/// Anyone on the LAN can send datagrams from a RADIUS real's address and port to every
/// ephemeral port of ours. The check judged the first datagram, so a stranger's garbage,
/// arriving before a slow server's answer, marked a healthy real down (and with
/// failurecount=1 deleted it). Only an authentic answer decides now.
#[test]
fn a_strangers_datagram_before_the_answer_marked_a_healthy_radius_real_down() {
    let mut lab = Lab::new("rs");
    // An Access-Accept with the right Response Authenticator, 0.8 s after each request.
    slow_udp_server(
        &mut lab,
        18140,
        "0.8",
        "import hashlib",
        "bytes([2, d[1], 0, 20]) + hashlib.md5(bytes([2, d[1], 0, 20]) + d[4:20] + b'testing123').digest() if len(d) >= 20 else b''",
    );
    let conf = lab.write(
        &unique("rs.cf"),
        &format!(
            "checkinterval=1\nnegotiatetimeout=4\nchecktimeout=4\n\
             virtual={VIP}:1812\n\tprotocol=udp\n\treal=127.0.0.1:18140 masq\n\tservice=radius\n\
             \tlogin=\"web\"\n\tpasswd=\"s3cret\"\n\tsecret=\"testing123\"\n\tmonitorfile=\"{}\"\n",
            lab.path_text("rs.mon")
        ),
    );
    lab.daemon(&conf);
    lab.wait_rec(
        "the slow radius real added",
        "-a -u 198.51.100.10:1812 -r 127.0.0.1:18140",
    );
    // Access-Accept-looking garbage of every identifier's shape, from the real's address.
    let mut garbage = vec![2u8, 0, 0, 20];
    garbage.extend_from_slice(&[0x55; 16]);
    let sprayer = spray(&mut lab, 18140, 6, &garbage);
    let sent = sprayed(&mut lab, sprayer, 18140);
    assert!(sent > 10_000, "the sprayer sent {sent} datagrams");
    let mon = lab.read("rs.mon");
    let rec = lab.rec();
    assert!(!mon.contains("[down]"), "{mon}");
    assert!(!rec.contains("-d -u"), "{rec}");
    assert!(mon.matches("[up] Access-Accept").count() >= 2, "{mon}");
}

/// Two sip-over-UDP virtuals: VIP:5060 with the real `live` (a server answering `200 OK`
/// with our Call-ID after 0.8 s, started here; monitorfile `live.mon`) and VIP:5061 with the
/// real `other` (monitorfile `other_mon`); the daemon started, the live real in the table.
fn two_sip_virtuals(lab: &mut Lab, name: &str, live: u16, other: u16, other_mon: &str) {
    slow_udp_server(
        lab,
        live,
        "0.8",
        "import re",
        "b'SIP/2.0 200 OK\\r\\nCall-ID: ' + re.search(rb'(?im)^call-id:[ \\t]*(\\S+)', d).group(1) + b'\\r\\nContent-Length: 0\\r\\n\\r\\n'",
    );
    let conf = lab.write(
        &unique(&format!("{name}.cf")),
        &format!(
            "checkinterval=1\nnegotiatetimeout=3\nchecktimeout=3\n\
             virtual={VIP}:5060\n\tprotocol=udp\n\treal=127.0.0.1:{live} masq\n\tservice=sip\n\
             \tlogin=\"ld@example.test\"\n\tmonitorfile=\"{}\"\n\
             virtual={VIP}:5061\n\tprotocol=udp\n\treal=127.0.0.1:{other} masq\n\tservice=sip\n\
             \tlogin=\"ld@example.test\"\n\tmonitorfile=\"{}\"\n",
            lab.path_text("live.mon"),
            lab.path_text(other_mon)
        ),
    );
    lab.daemon(&conf);
    lab.wait_rec(
        "the slow sip real added",
        &format!("-a -u 198.51.100.10:5060 -r 127.0.0.1:{live}"),
    );
}

/// An ICMP port unreachable is as easy to forge as a datagram: quoting each of our
/// ephemeral ports, from a live real's address, it ended every check in flight with
/// "Connection refused" and took the real out. It is set aside now, and a port that is
/// really closed times out with the refusal named (radius, sip and dns alike).
#[test]
fn a_forged_icmp_refusal_marked_a_healthy_udp_real_down() {
    let mut lab = Lab::new("ic");
    two_sip_virtuals(&mut lab, "ic", 5072, 5073, "closed.mon");
    let forger = spray_as(&mut lab, "icmp", 5072, 6, b"");
    let sent = sprayed(&mut lab, forger, 5072);
    assert!(sent > 10_000, "the forger sent {sent} packets");
    let (live, closed, rec) = (lab.read("live.mon"), lab.read("closed.mon"), lab.rec());
    assert!(!live.contains("[down]"), "{live}");
    assert!(live.matches("[up] SIP/2.0 200 OK").count() >= 2, "{live}");
    assert!(!rec.contains("-d -u 198.51.100.10:5060"), "{rec}");
    // Nothing listens on 5073: each check is refused and times out, the refusal named.
    assert!(
        closed.contains("[down] timed out after 3 s; ignored 1 datagram that answered nothing we asked, the last: SIP: Connection refused"),
        "{closed}"
    );
}

/// checktype=ping matched an echo reply on the daemon's pid as identifier and sent fixed
/// data: forged replies from a dead real's address, one for every identifier, kept it in
/// the table. Each check draws its identifier and a cookie now, and a reply counts only
/// with both, echoed.
#[test]
fn forged_echo_replies_kept_a_dead_ping_real_in_the_table() {
    let mut lab = Lab::new("pf");
    for args in [
        &["ip", "route", "add", "local", "198.18.0.0/24", "dev", "lo"][..],
        &["nft", "add", "table", "inet", "dead"],
        &[
            "nft",
            "add chain inet dead in { type filter hook input priority 0; }",
        ],
        &[
            "nft",
            "add rule inet dead in ip daddr 198.18.0.7 icmp type echo-request drop",
        ],
    ] {
        let out = lab.ns.run(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    let conf = lab.write(
        &unique("pf.cf"),
        &format!(
            "checkinterval=1\nchecktimeout=2\n\
             virtual={VIP}:53\n\treal=127.0.0.1:53 masq\n\treal=198.18.0.7:53 masq\n\
             \tchecktype=ping\n\tmonitorfile=\"{}\"\n",
            lab.path_text("ping.mon")
        ),
    );
    lab.daemon(&conf);
    lab.wait_rec(
        "the live real added",
        "-a -u 198.51.100.10:53 -r 127.0.0.1:53",
    );
    // Every identifier, sequence number 0, the old fixed data, from the dead real.
    let hex: String = b"ldirectd".iter().map(|b| format!("{b:02x}")).collect();
    let forger = spray_with(
        &mut lab,
        &[
            "echo",
            "198.18.0.7",
            "0",
            "127.0.0.1",
            "0",
            "65535",
            "6",
            &hex,
        ],
    );
    let sent = sprayed(&mut lab, forger, 0);
    assert!(sent > 65_536, "the forger sent {sent} replies");
    let (mon, rec) = (lab.read("ping.mon"), lab.rec());
    assert!(!rec.contains("-r 198.18.0.7"), "{rec}\n{mon}");
    assert!(
        mon.lines()
            .any(|l| l.contains("198.18.0.7") && l.contains("[down] timed out after 2 s")),
        "{mon}"
    );
    assert!(
        !mon.lines()
            .any(|l| l.contains("198.18.0.7") && l.contains("[up]")),
        "{mon}"
    );
}

/// The packets counted by the rule of chain `in` of table inet `table` in the namespace.
fn dropped(lab: &Lab, table: &str) -> u64 {
    let out = lab.ns.run(&["nft", "list", "chain", "inet", table, "in"]);
    let listing = text(&out).0;
    listing
        .split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// checktype=ping with checkcount=3 sent its three echo requests in the same millisecond and
/// waited 3 × checktimeout: a real that dropped them for one second (a NIC reset, a lost ARP
/// entry) lost all three and was marked down, the retries worth nothing. Attempt k goes at
/// start + k × checktimeout now, as the Perl's one after another, and the real that answers
/// again a second into the check stays up.
#[test]
fn ping_checkcount_sent_every_attempt_at_once_so_a_short_outage_lost_them_all() {
    let mut lab = Lab::new("po");
    for args in [
        &["ip", "route", "add", "local", "198.18.0.0/24", "dev", "lo"][..],
        &["nft", "add", "table", "inet", "outage"],
        &[
            "nft",
            "add chain inet outage in { type filter hook input priority 0; }",
        ],
        &[
            "nft",
            "add rule inet outage in ip daddr 198.18.0.8 icmp type echo-request counter drop",
        ],
        // The same over IPv6, counted apart.
        &["ip", "addr", "add", "2001:db8::8/128", "dev", "lo", "nodad"],
        &["nft", "add", "table", "inet", "outage6"],
        &[
            "nft",
            "add chain inet outage6 in { type filter hook input priority 0; }",
        ],
        &[
            "nft",
            "add rule inet outage6 in ip6 daddr 2001:db8::8 icmpv6 type echo-request counter drop",
        ],
    ] {
        let out = lab.ns.run(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    let conf = lab.write(
        &unique("po.cf"),
        &format!(
            "checkinterval=1\nchecktimeout=1\n\
             virtual={VIP}:53\n\treal=198.18.0.8:53 masq\n\
             \tchecktype=ping\n\tcheckcount=3\n\tmonitorfile=\"{}\"\n\
             virtual6=[2001:db8::10]:53\n\treal6=[2001:db8::8]:53 masq\n\
             \tchecktype=ping\n\tcheckcount=3\n\tmonitorfile=\"{}\"\n",
            lab.path_text("ping.mon"),
            lab.path_text("ping6.mon")
        ),
    );
    lab.daemon(&conf);
    // The first check's first request is dropped; the outage ends a second later.
    wait("the first echo requests dropped", || {
        dropped(&lab, "outage") >= 1 && dropped(&lab, "outage6") >= 1
    });
    std::thread::sleep(std::time::Duration::from_millis(1000));
    for table in ["outage", "outage6"] {
        let out = lab.ns.run(&["nft", "delete", "table", "inet", table]);
        assert!(out.status.success(), "{out:?}");
    }
    let mon = lab.wait_results("ping.mon", 1);
    let first = mon.lines().next().unwrap_or_default();
    assert!(
        first.contains("198.18.0.8") && first.contains("[up] echo reply"),
        "{mon}"
    );
    assert!(!mon.contains("[down]"), "{mon}");
    let mon6 = lab.wait_results("ping6.mon", 1);
    let first6 = mon6.lines().next().unwrap_or_default();
    assert!(
        first6.contains("2001:db8::8") && first6.contains("[up] echo reply"),
        "{mon6}"
    );
    assert!(!mon6.contains("[down]"), "{mon6}");
    lab.wait_rec("the real added", "-a -u 198.51.100.10:53 -r 198.18.0.8:53");
}

/// The same against SIP over UDP: a stranger's "503" from a live server's address took it
/// out, and a "200 OK" from a dead one's address (its requests dropped) put it in the
/// table. Only a datagram with our Call-ID decides now.
#[test]
fn a_strangers_sip_datagrams_decided_the_check_of_a_udp_real() {
    let mut lab = Lab::new("ss");
    // The dead server: its requests are dropped, so no ICMP refusal either.
    silent(&mut lab, "udp", 5071);
    two_sip_virtuals(&mut lab, "ss", 5070, 5071, "dead.mon");
    let busy = spray(
        &mut lab,
        5070,
        6,
        b"SIP/2.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
    );
    let ok = spray(
        &mut lab,
        5071,
        6,
        b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
    let sent = sprayed(&mut lab, busy, 5070) + sprayed(&mut lab, ok, 5071);
    assert!(sent > 20_000, "the sprayers sent {sent} datagrams");
    let (live, dead, rec) = (lab.read("live.mon"), lab.read("dead.mon"), lab.rec());
    assert!(!live.contains("[down]"), "{live}");
    assert!(live.matches("[up] SIP/2.0 200 OK").count() >= 2, "{live}");
    assert!(!dead.contains("[up]"), "{dead}");
    assert!(
        dead.contains("[down] timed out after 3 s; ignored"),
        "{dead}"
    );
    assert!(!rec.contains("-r 127.0.0.1:5071"), "{rec}");
    assert!(!rec.contains("-d -u 198.51.100.10:5060"), "{rec}");
}

/// A sipp UAS scenario answering each OPTIONS with `status` (headers echoed, RFC 3261 §8.2.6).
fn sipp_scenario(status: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n\
         <scenario name=\"answer OPTIONS with {status}\">\n\
         <recv request=\"OPTIONS\" crlf=\"true\"/>\n\
         <send><![CDATA[\n\n\
         SIP/2.0 {status}\n\
         [last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag01[call_number]\n\
         [last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n\
         ]]></send>\n\
         </scenario>\n"
    )
}

#[test]
fn sip_over_udp_and_tcp_against_sipp() {
    need("sipp", "sip-tester");
    let mut lab = Lab::new("si");
    let ok = lab.write("ok.xml", &sipp_scenario("200 OK"));
    let nf = lab.write("nf.xml", &sipp_scenario("404 Not Found"));
    let sipp = |lab: &mut Lab, xml: &Path, transport: &str, port: u16| {
        let (x, p) = (xml.to_string_lossy().to_string(), port.to_string());
        let i = lab.serve(
            &format!("sipp{port}.log"),
            &[
                "sipp",
                "-sf",
                &x,
                "-i",
                "127.0.0.1",
                "-p",
                &p,
                "-t",
                transport,
                "-nostdin",
            ],
        );
        lab.wait_port(if transport == "u1" { "-u" } else { "-t" }, port);
        i
    };
    let udp_ok = sipp(&mut lab, &ok, "u1", 5062);
    let tcp_ok = sipp(&mut lab, &ok, "t1", 5063);
    sipp(&mut lab, &nf, "u1", 5064);
    sipp(&mut lab, &nf, "t1", 5065);
    let m = |name: &str| format!("\tmonitorfile=\"{}\"\n", lab.path_text(name));
    let conf = lab.write(
        &unique("si.cf"),
        &format!(
            "checkinterval=1\nnegotiatetimeout=3\n\
             virtual={VIP}:5060\n\tprotocol=udp\n\treal=127.0.0.1:5062 masq\n\tservice=sip\n\tlogin=\"ld@example.test\"\n{}\
             virtual={VIP}:5060\n\tprotocol=tcp\n\treal=127.0.0.1:5063 masq\n\tservice=sip\n{}\
             virtual={VIP}:5061\n\tprotocol=udp\n\treal=127.0.0.1:5064 masq\n\tservice=sip\n{}\
             virtual={VIP}:5061\n\tprotocol=tcp\n\treal=127.0.0.1:5065 masq\n\tservice=sip\n{}",
            m("udp.mon"),
            m("tcp.mon"),
            m("udp404.mon"),
            m("tcp404.mon"),
        ),
    );
    lab.daemon(&conf);
    lab.wait_rec(
        "sip/udp real added",
        "-a -u 198.51.100.10:5060 -r 127.0.0.1:5062 -m",
    );
    lab.wait_rec(
        "sip/tcp real added",
        "-a -t 198.51.100.10:5060 -r 127.0.0.1:5063 -m",
    );
    for mon in ["udp404.mon", "tcp404.mon"] {
        let r = lab.wait_results(mon, 2);
        assert!(r.contains("[down] SIP/2.0 404 Not Found"), "{mon}: {r}");
    }
    assert!(!lab.rec().contains(":5061 -r"), "{}", lab.rec());
    assert!(lab.read("udp.mon").contains("[up] SIP/2.0 200 OK"));

    lab.kill(udp_ok);
    lab.wait_rec(
        "sip/udp real removed",
        "-d -u 198.51.100.10:5060 -r 127.0.0.1:5062",
    );
    lab.kill(tcp_ok);
    lab.wait_rec(
        "sip/tcp real removed",
        "-d -t 198.51.100.10:5060 -r 127.0.0.1:5063",
    );
    // The original prints every request and reply on stdout (bug B10); this one does not.
    assert_eq!(lab.read("out"), "", "nothing on stdout");
}

/// Servers that dribble their answer one byte per segment (TCP_NODELAY, a pause after each
/// byte): HTTP with a Content-Length body (port 8091), HTTP with a chunked body (8092), an
/// HTTP 500 whose body never ends (8093), an SMTP server with long multi-line replies (8094).
/// At most 3000 bytes per answer, then the connection is closed.
const DRIBBLER: &str = r#"import socket, sys, threading, time
PAUSE = float(sys.argv[1])
fill = b''.join(b'X-Filler-%d: %s\r\n' % (i, b'f' * 40) for i in range(15))
body = b'd' * 1000 + b'DRIBBLED OK'
chunks = b''.join(b'%x\r\n%s\r\n' % (len(body[i:i + 100]), body[i:i + 100]) for i in range(0, len(body), 100))
ANSWERS = {
    8091: b'HTTP/1.1 200 OK\r\n' + fill + b'Content-Length: %d\r\n\r\n' % len(body) + body,
    8092: b'HTTP/1.1 200 OK\r\n' + fill + b'Transfer-Encoding: chunked\r\n\r\n' + chunks + b'0\r\n\r\n',
    8093: b'HTTP/1.1 500 Broken\r\n' + fill + b'\r\n' + b'e' * 1500,
}
SMTP_GREETING = b''.join(b'220-line %d %s\r\n' % (i, b'g' * 40) for i in range(10)) + b'220 ready\r\n'
SMTP_EHLO = b''.join(b'250-EXT%d %s\r\n' % (i, b'e' * 40) for i in range(10)) + b'250 OK\r\n'
def dribble(c, data):
    for i in range(len(data)):
        c.sendall(data[i:i + 1])
        time.sleep(PAUSE)
def serve(c, port):
    try:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if port == 8094:
            dribble(c, SMTP_GREETING)
            c.recv(4096)
            dribble(c, SMTP_EHLO)
            c.recv(4096)
        else:
            c.recv(4096)
            dribble(c, ANSWERS[port])
    except OSError:
        pass
    c.close()
def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', port))
    s.listen(16)
    while True:
        threading.Thread(target=serve, args=(s.accept()[0], port), daemon=True).start()
for p in (8091, 8092, 8093, 8094):
    threading.Thread(target=listen, args=(p,), daemon=True).start()
while True:
    time.sleep(3600)
"#;

/// A real that dribbles the first bytes of its answer (one per 5 ms, so the check reads it in
/// batches, every 250 ms) and sends the rest `LATE` seconds after the request, then keeps
/// the connection open (the Content-Length ends the answer).
const LATE_FINISHER: &str = r#"import socket, sys, threading, time
LATE = float(sys.argv[1])
body = b'real is OK'
answer = b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Pad: %s\r\n\r\n' % (len(body), b'p' * 40) + body
def serve(c):
    try:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.recv(4096)
        t0 = time.monotonic()
        for i in range(40):
            c.sendall(answer[i:i + 1])
            time.sleep(0.005)
        time.sleep(max(0.0, t0 + LATE - time.monotonic()))
        c.sendall(answer[40:])
        time.sleep(5)
    except OSError:
        pass
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 8095))
s.listen(16)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
"#;

/// A dribbling real is read in batches (every 250 ms). Its answer, complete 1.92 s into a
/// 2 s negotiatetimeout, waited for the next batch, after the timeout, and the real was
/// marked down ("timed out after 2 s") though the whole answer had arrived in time: three
/// checks of three. Time up during a pause now reads what piled up first. The Perl reads
/// until the answer is complete or its alarm rings: up.
#[test]
fn an_answer_completed_during_a_reading_pause_was_marked_down_as_timed_out() {
    let mut lab = Lab::new("lf");
    lab.write("late.py", LATE_FINISHER);
    lab.serve("late.log", &["python3", &lab.path_text("late.py"), "1.92"]);
    lab.wait_port("-t", 8095);
    let conf = lab.write(
        &unique("lf.cf"),
        &format!(
            "checkinterval=1\nnegotiatetimeout=2\n\
             virtual={VIP}:80\n\treal=127.0.0.1:8095 masq\n\tservice=http\n\
             \trequest=\"/\"\n\treceive=\"real is OK\"\n\tmonitorfile=\"{}\"\n",
            lab.path_text("late.mon")
        ),
    );
    lab.daemon(&conf);
    let r = lab.wait_results("late.mon", 3);
    let first: Vec<&str> = r.lines().take(3).collect();
    assert!(
        first.iter().all(|l| l.contains("[up] HTTP/1.1 200 OK")),
        "every check up: {r}"
    );
    assert!(
        lab.rec()
            .contains("-a -t 198.51.100.10:80 -r 127.0.0.1:8095"),
        "{}",
        lab.rec()
    );
}

/// Issue 16 item 3: the http and smtp checks re-scanned everything received on every segment;
/// they now read on from where they stopped. Against servers that dribble their answers a
/// byte at a time, the check still reads every answer to its end and judges it as a whole:
/// the Content-Length and the chunked page are up (receive matches the last bytes), the 500
/// is down as soon as its head is there (its body never ends in time), the SMTP server with
/// multi-line replies is up.
#[test]
fn answers_dribbled_a_byte_at_a_time_are_read_whole_and_judged() {
    let mut lab = Lab::new("dr");
    lab.write("dribbler.py", DRIBBLER);
    lab.serve(
        "dribbler.log",
        &["python3", &lab.path_text("dribbler.py"), "0.001"],
    );
    for port in [8091, 8092, 8093, 8094] {
        lab.wait_port("-t", port);
    }
    let m = |name: &str| format!("\tmonitorfile=\"{}\"\n", lab.path_text(name));
    let http = |port: u16, mon: &str| {
        format!(
            "virtual={VIP}:{port}\n\treal=127.0.0.1:{port} masq\n\tservice=http\n\
             \trequest=\"/\"\n\treceive=\"DRIBBLED OK$\"\n{}",
            m(mon)
        )
    };
    let conf = lab.write(
        &unique("dr.cf"),
        &format!(
            "checkinterval=2\nnegotiatetimeout=20\n{}{}{}\
             virtual={VIP}:25\n\treal=127.0.0.1:8094 masq\n\tservice=smtp\n{}",
            http(8091, "length.mon"),
            http(8092, "chunked.mon"),
            http(8093, "error.mon"),
            m("smtp.mon"),
        ),
    );
    lab.daemon(&conf);
    lab.wait_rec(
        "Content-Length page up",
        "-a -t 198.51.100.10:8091 -r 127.0.0.1:8091",
    );
    lab.wait_rec(
        "chunked page up",
        "-a -t 198.51.100.10:8092 -r 127.0.0.1:8092",
    );
    lab.wait_rec("smtp up", "-a -t 198.51.100.10:25 -r 127.0.0.1:8094");
    for mon in ["length.mon", "chunked.mon"] {
        let r = lab.wait_results(mon, 1);
        assert!(r.contains("[up] HTTP/1.1 200 OK"), "{mon}: {r}");
        assert!(!r.contains("[down]"), "{mon}: {r}");
    }
    assert!(lab.wait_results("smtp.mon", 1).contains("[up] 250 OK"));
    let r = lab.wait_results("error.mon", 1);
    assert!(r.contains("[down] HTTP/1.1 500 Broken"), "{r}");
    assert!(!lab.rec().contains(":8093 -r"), "{}", lab.rec());
}
