//! Every fuzz body on stable, in `cargo test`: a bounded number of inputs per target from a
//! seeded xorshift generator (the same inputs on every run), as random bytes and as mutations
//! of valid samples (bit flips, truncations, insertions, duplicated slices, length fields set
//! to edge values, splices). The files under `fuzz/corpus/<target>/` (regressions and seeds)
//! are samples too. The assertion is the bodies' own: no panic, round trips hold.

use std::path::Path;

use super::TARGETS;
use crate::wire::testing::{hex, Xorshift32};
use crate::wire::{arp, dns, ethernet::MacAddr, icmp, icmpv6, ipvs, ndisc, pike};

/// Inputs per target: small enough for the whole test to stay well under a minute in debug.
const INPUTS_PER_TARGET: u32 = 20_000;

/// Values a corrupted length or count field takes.
const EDGES: [u32; 10] = [0, 1, 2, 3, 4, 0x7f, 0x80, 0xff, 0xffff, 0xffff_ffff];

/// Bytes text mutations favour: line breaks and the separators parsers split on.
const TEXT_BYTES: &[u8] = b"\n\r\t =\"-;{}[]()/,.:0123456789\0";

struct Mutator {
    rng: Xorshift32,
}

impl Mutator {
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.rng.next_u32() as usize % n
        }
    }

    fn byte(&mut self) -> u8 {
        if self.below(4) == 0 {
            TEXT_BYTES[self.below(TEXT_BYTES.len())]
        } else {
            self.rng.next_u32() as u8
        }
    }

    fn random(&mut self) -> Vec<u8> {
        let len = self.below(300);
        (0..len).map(|_| self.byte()).collect()
    }

    /// One to four stacked mutations of `sample` (`other` is spliced in by one of them).
    fn mutate(&mut self, sample: &[u8], other: &[u8]) -> Vec<u8> {
        let mut d = sample.to_vec();
        for _ in 0..1 + self.below(4) {
            let at = self.below(d.len() + 1);
            match self.below(7) {
                0 => {
                    if let Some(b) = d.get_mut(at) {
                        *b ^= 1 << self.below(8);
                    }
                }
                1 => d.truncate(at),
                2 => {
                    let n = 1 + self.below(16);
                    let bytes: Vec<u8> = (0..n).map(|_| self.byte()).collect();
                    d.splice(at..at, bytes);
                }
                3 => {
                    let len = self.below(d.len().saturating_sub(at) + 1);
                    let copy = d[at..at + len].to_vec();
                    let to = self.below(d.len() + 1);
                    d.splice(to..to, copy);
                }
                4 => {
                    let v = EDGES[self.below(EDGES.len())];
                    let width = [1, 2, 4][self.below(3)];
                    let bytes = if self.below(2) == 0 {
                        v.to_be_bytes()
                    } else {
                        v.to_le_bytes()
                    };
                    let bytes = if bytes[0] == 0 && width < 4 {
                        &bytes[4 - width..]
                    } else {
                        &bytes[..width]
                    };
                    for (i, b) in bytes.iter().enumerate() {
                        if let Some(x) = d.get_mut(at + i) {
                            *x = *b;
                        }
                    }
                }
                5 => {
                    let from = self.below(other.len() + 1);
                    d.truncate(at);
                    d.extend_from_slice(&other[from..]);
                }
                _ => {
                    if let Some(b) = d.get_mut(at) {
                        *b = self.byte();
                    }
                }
            }
        }
        d
    }
}

fn pike_frame() -> Vec<u8> {
    let repr = pike::Repr {
        msg_type: pike::MessageType::Hello,
        flags: 1,
        cluster_id: 0x0102_0304,
        node_id: 2,
        incarnation: 7,
        seq: 9,
        ack_incarnation: 5,
        ack_seq: 8,
        hello_ms: 200,
        dead_ms: 1000,
        path_id: 1,
        key_id: 1,
        vcs: vec![pike::VcState {
            vcid: 1,
            role: pike::Role::Master,
            flags: pike::vc_flags::HEALTH_UP,
            priority: 100,
            fail_count: 0,
            digest: 0x0102_0304,
            more: 0,
            penalty: 0,
        }],
    };
    pike::build_frame(&repr, super::PIKE_KEY, &[2, 0, 0, 0, 0, 1])
}

fn icmp_samples() -> Vec<Vec<u8>> {
    let echo = icmp::Repr::EchoRequest {
        ident: 0x1234,
        seq_no: 1,
        data: b"habox",
    };
    let error = icmp::Repr::Error {
        kind: icmp::ErrorKind::DstUnreachable,
        code: 1,
        info: 0,
        quoted: Some(icmp::Quoted {
            src_addr: [198, 51, 100, 2].into(),
            dst_addr: [198, 51, 100, 9].into(),
            protocol: 1,
            echo: Some((0x1234, 1)),
        }),
    };
    let mut out = Vec::new();
    for repr in [echo, error] {
        let mut b = vec![0u8; repr.buffer_len()];
        repr.emit(&mut icmp::Packet::new_unchecked(&mut b[..]));
        // In an IPv4 datagram (20-byte header, protocol ICMP), as a raw socket returns it.
        let mut ip = hex("45000000 0000 0000 40 01 0000 c6336409 c6336402");
        ip[2..4].copy_from_slice(&((20 + b.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&b);
        out.push(b);
        out.push(ip);
    }
    out
}

fn ipvs_samples() -> Vec<Vec<u8>> {
    let svc = ipvs::Service {
        key: ipvs::ServiceKey::Inet(6, [198, 51, 100, 10].into(), 80),
        scheduler: "rr".into(),
        flags: 0,
        timeout: 300,
        netmask: u32::MAX,
    };
    let dest = ipvs::Dest {
        addr: [203, 0, 113, 101].into(),
        port: 80,
        fwd: ipvs::FwdMethod::Masq,
        weight: 1,
        u_thresh: 0,
        l_thresh: 0,
        active_conns: 3,
        inact_conns: 1,
        persist_conns: 0,
    };
    let flags = 0x0001;
    let cmd = ipvs::Command::NewDest;
    vec![
        ipvs::emit_request(0x1b, 1, cmd, flags, Some(&svc), Some(&dest)),
        ipvs::emit_request(0x1b, 1, ipvs::Command::NewService, flags, Some(&svc), None),
        ipvs::emit_getfamily(1, 2, "IPVS"),
        // NLMSG_ERROR -ENOENT, then NLMSG_DONE.
        hex("14000000 0200 0000 01000000 00000000 feffffff 14000000 0300 0200 01000000 00000000 00000000"),
    ]
}

fn dns_response() -> Vec<u8> {
    let mut m = dns::emit_query(0x1234, "www.example.test", dns::TYPE_A).unwrap_or_default();
    m[2..4].copy_from_slice(&[0x81, 0x80]);
    m[6..8].copy_from_slice(&[0, 1]);
    m.extend_from_slice(&hex("c00c 0001 0001 00000e10 0004 c0000201"));
    m
}

fn mysql_samples() -> Vec<Vec<u8>> {
    let packet = |seq: u8, payload: &[u8]| {
        let mut p = (payload.len() as u32).to_le_bytes()[..3].to_vec();
        p.push(seq);
        p.extend_from_slice(payload);
        p
    };
    let mut hs = vec![10];
    hs.extend_from_slice(b"10.11.6-MariaDB\0");
    hs.extend_from_slice(&7u32.to_le_bytes());
    hs.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 0]);
    hs.extend_from_slice(&0xF7FEu16.to_le_bytes());
    hs.extend_from_slice(&[45, 2, 0]);
    hs.extend_from_slice(&0x81BFu16.to_le_bytes());
    hs.push(21);
    hs.extend_from_slice(&[0; 10]);
    hs.extend_from_slice(&[9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 0]);
    hs.extend_from_slice(b"mysql_native_password\0");
    let mut all = packet(0, &hs);
    all.extend(packet(2, &[0, 0, 0, 2, 0, 0, 0]));
    let login = all.clone();
    all.extend(packet(1, &[1]));
    all.extend(packet(
        2,
        b"\x03def\x00\x00\x00\x011\x00\x0c\x3f\x00\x01\x00\x00\x00\x08\x81\x00\x00\x00\x00",
    ));
    all.extend(packet(3, &[0xfe, 0, 0, 2, 0]));
    all.extend(packet(4, b"\x011"));
    all.extend(packet(5, &[0xfe, 0, 0, 2, 0]));
    let mut switch = packet(0, &hs);
    switch.extend(packet(
        2,
        b"\xfemysql_native_password\0abcdefghijklmnopqrst\0",
    ));
    let err = packet(2, b"\xff\x15\x04#28000Access denied");
    vec![login, all, switch, err]
}

fn pgsql_samples() -> Vec<Vec<u8>> {
    let msg = |kind: u8, body: &[u8]| {
        let mut m = vec![kind];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    };
    let ok = [
        msg(b'R', &[0, 0, 0, 0]),
        msg(b'S', b"server_version\x0015.8\0"),
        msg(b'K', &[0, 0, 0, 42, 1, 2, 3, 4]),
        msg(b'Z', b"I"),
        msg(
            b'T',
            b"\x00\x01x\0\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0",
        ),
        msg(b'D', b"\x00\x01\x00\x00\x00\x011"),
        msg(b'C', b"SELECT 1\0"),
        msg(b'Z', b"I"),
    ]
    .concat();
    let md5 = msg(b'R', &[0, 0, 0, 5, 1, 2, 3, 4]);
    let scram = [
        msg(b'R', b"\x00\x00\x00\x0aSCRAM-SHA-256\0\0"),
        msg(b'R', b"\x00\x00\x00\x0br=abc,s=QSXCR+Q6sek8bf92,i=16"),
    ]
    .concat();
    let err = msg(b'E', b"SFATAL\0C28P01\0Mpassword authentication failed\0\0");
    vec![ok, md5, scram, err]
}

/// Valid inputs for `target`, the mutations' starting points.
fn samples(target: &str) -> Vec<Vec<u8>> {
    let text = |s: &[&str]| s.iter().map(|t| t.as_bytes().to_vec()).collect();
    match target {
        "pike" => {
            let f = pike_frame();
            vec![f[14..].to_vec(), f]
        }
        "arp" => {
            let a = arp::ArpRepr {
                operation: arp::Operation::Reply,
                source_hardware_addr: MacAddr([2, 0, 0, 0, 0, 1]),
                source_protocol_addr: [198, 51, 100, 1].into(),
                target_hardware_addr: MacAddr::BROADCAST,
                target_protocol_addr: [198, 51, 100, 1].into(),
            };
            let f = a.to_frame(MacAddr::BROADCAST, MacAddr([2, 0, 0, 0, 0, 1]));
            vec![f[14..].to_vec(), f]
        }
        "icmp" => icmp_samples(),
        "icmpv6_ndisc" => {
            let vmac = MacAddr([2, 0, 0, 0, 0, 1]);
            let vip = "2001:db8::10".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST);
            let na = ndisc::unsolicited_advertisement(vmac, vip, true);
            let ns = ndisc::solicitation(vmac, std::net::Ipv6Addr::UNSPECIFIED, vip);
            let echo = icmpv6::Repr::EchoReply {
                ident: 1,
                seq_no: 2,
                data: b"habox",
            }
            .to_bytes(vip, vip);
            vec![na[54..].to_vec(), ns[54..].to_vec(), na, ns, echo]
        }
        "ethernet_ipv4" => icmp_samples()
            .into_iter()
            .map(|ip| [hex("ffffffffffff 020000000001 0800"), ip].concat())
            .collect(),
        "ipvs" => ipvs_samples(),
        "rtnetlink" => crate::net::rtnl::sample_datagrams(),
        "dns" => {
            let r = dns_response();
            let mut tcp = (r.len() as u16).to_be_bytes().to_vec();
            tcp.extend_from_slice(&r);
            vec![r, tcp]
        }
        "ldap" => vec![
            hex("300c02010161070a010004000400"),
            hex("3054020102644f04196f753d7765622c64633d6578616d706c652c64633d7465737430323023040b6f626a656374436c617373311404126f7267616e697a6174696f6e616c556e6974300b04026f7531050403776562300c02010265070a010004000400"),
        ],
        "radius" => vec![
            hex("022a0014b7021c538b0fe2e565c5ae0de07ee65e"),
            hex("030100200000000000000000000000000000000012066e6f706501067f000001"),
        ],
        "http" => text(&[
            "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nA Test Page!!!",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nTest \r\n4;x=y\r\nPage\r\n0\r\n\r\n",
            "HTTP/1.0 503 Busy\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
        ]),
        "ftp" => text(&[
            "220 ready\r\n331 pw\r\n230 ok\r\n250 cwd\r\n200 type\r\n227 Entering Passive Mode (192,0,2,21,195,80).\r\n150 ok\r\n",
            "220-Welcome\r\n220 ready\r\n230 ok\r\n250 cwd\r\n200 type\r\n229 Extended Passive Mode (|||50000|)\r\n125 go\r\n",
            "A Test Page",
        ]),
        "smtp" => text(&["220-mx\r\n220 mx ESMTP\r\n250-mx\r\n250 OK\r\n", "554 no\r\n"]),
        "pop" => text(&["+OK ready\r\n+OK user\r\n+OK logged in\r\n", "-ERR no\r\n"]),
        "imap" => text(&["* OK ready\r\na001 OK LOGIN done\r\n", "* BYE\r\n"]),
        "nntp" => text(&["200 news ready\r\n", "502 no\r\n"]),
        "sip" => text(&["SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 198.51.100.1\r\nContent-Length: 0\r\n\r\n"]),
        "mysql" => mysql_samples(),
        "pgsql" => pgsql_samples(),
        "conntrackd_control" => text(&[
            "cache internal:\ncurrent active connections:\t12\n\ncache external:\ncurrent active connections:\t4\nconnections created:\t9\tfailed:\t0\n",
        ]),
        "corosync_cmapctl" => text(&[
            "nodelist.local_node_pos (u32) = 0\nnodelist.node.0.nodeid (u32) = 1\nnodelist.node.0.ring0_addr (str) = 198.51.100.1\nnodelist.node.0.ring1_addr (str) = 203.0.113.1\nnodelist.node.1.nodeid (u32) = 2\nnodelist.node.1.ring0_addr (str) = 198.51.100.2\n\0stats.knet.node2.link0.connected (u8) = 1\nstats.knet.node2.link1.connected (u8) = 0\n",
            "runtime.votequorum.this_node_id (u32) = 2\nnodelist.node.1.nodeid (u32) = 2\nnodelist.node.1.ring0_addr (str) = 198.51.100.2\n",
        ]),
        "pikemon_config" => text(&[include_str!("../../rootfs/etc/habox/pikemon.cfg")]),
        "ldirectord_config" => text(&[
            include_str!("../../rootfs/etc/habox/ldirectord.cf"),
            super::services::CHECKS_CF,
        ]),
        "conntrackd_config" => text(&[include_str!("../../rootfs/etc/habox/conntrackd.conf")]),
        "pikemon_control" => text(&["take FW\n", "status-json", "ok\nVC FW Master\n", "refused: no such VC\n"]),
        "pikemon_status_file" => text(&["# pikemon status\nboot 7\nvc 1 Master 1763900000 peer silent\nvc 2 Backup 5\n", "boot 2\nwriter pid 4242 boot-id 0b6e4d3c-7f0a-4d8e-9c61-2b5f0e1d9a77\nvc 1 Master 5 r\n"]),
        "pikemon_paths_file" => text(&["# pikemon heart-beat paths\nnode 1\npath hb0 ring 0 local 198.18.0.1 peer 2 state UP age-ms 120\npath hb1 ring 1 local - peer - state FAULTY age-ms -\nconfig LAN drift digest 5d41402a peer 7d793037\n"]),
        other => panic!("no samples for target {other}"),
    }
}

/// The files under `fuzz/corpus/<target>/`, when there are any.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Runs `body` on the samples, the corpus and `INPUTS_PER_TARGET` generated inputs; returns
/// how many inputs it ran.
fn smoke(name: &str, body: fn(&[u8]), seed: u32) -> u32 {
    let mut seeds = samples(name);
    seeds.extend(corpus(name));
    for s in &seeds {
        body(s);
    }
    let mut m = Mutator {
        rng: Xorshift32(seed),
    };
    for _ in 0..INPUTS_PER_TARGET {
        let input = if m.below(8) == 0 {
            m.random()
        } else {
            let a = &seeds[m.below(seeds.len())];
            let b = &seeds[m.below(seeds.len())];
            m.mutate(a, b)
        };
        body(&input);
    }
    INPUTS_PER_TARGET + seeds.len() as u32
}

/// Runs the smoke test of target `name` (seeded by its place in `TARGETS`).
fn run(name: &str) {
    let Some(i) = TARGETS.iter().position(|(n, _)| *n == name) else {
        panic!("{name} is not in TARGETS");
    };
    let started = std::time::Instant::now();
    let n = smoke(name, TARGETS[i].1, 0x9e37_79b9 ^ (i as u32 + 1));
    eprintln!("fuzz smoke {name}: {n} inputs in {:?}", started.elapsed());
}

/// One test per target (they run in parallel; a failure names its target).
macro_rules! survives_random_and_mutated_inputs {
    ($($name:ident),* $(,)?) => {
        mod survives_random_and_mutated_inputs {
            $(
                #[test]
                fn $name() {
                    super::run(stringify!($name));
                }
            )*
        }

        const SMOKED: &[&str] = &[$(stringify!($name)),*];
    };
}

survives_random_and_mutated_inputs!(
    pike,
    arp,
    icmp,
    icmpv6_ndisc,
    ethernet_ipv4,
    ipvs,
    rtnetlink,
    dns,
    ldap,
    radius,
    http,
    ftp,
    smtp,
    pop,
    imap,
    nntp,
    sip,
    mysql,
    pgsql,
    conntrackd_control,
    corosync_cmapctl,
    pikemon_config,
    ldirectord_config,
    conntrackd_config,
    pikemon_control,
    pikemon_status_file,
    pikemon_paths_file,
);

#[test]
fn every_target_is_smoked() {
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, SMOKED);
}

#[test]
fn samples_exercise_the_parsers_they_seed() {
    // A sample that no longer parses would leave its target mutating garbage.
    assert!(pike::Repr::parse(&pike::Packet::new_unchecked(&pike_frame()[14..])).is_ok());
    assert!(dns::parse_response(&dns_response()).is_some());
    for s in ipvs_samples() {
        assert!(ipvs::parse_replies(&s).is_ok());
    }
    for s in icmp_samples() {
        assert!(icmp::Packet::new_checked(&s[..]).is_ok() || icmp::parse_datagram(&s).is_ok());
    }
}

#[test]
fn every_target_has_a_fuzz_target_file_and_every_file_a_body() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap_or_default();
    for (name, _) in TARGETS {
        assert!(
            fuzz.join(format!("fuzz_targets/{name}.rs")).exists(),
            "{name}.rs"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "[[bin]] {name}"
        );
    }
    let files = std::fs::read_dir(fuzz.join("fuzz_targets")).map_or(Vec::new(), |d| {
        d.filter_map(|e| e.ok()).map(|e| e.path()).collect()
    });
    for f in files {
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        assert!(
            TARGETS.iter().any(|(n, _)| *n == stem),
            "{} has no body",
            f.display()
        );
    }
}

/// With `HABOX_FUZZ_SEEDS` set, writes every target's samples to
/// `$HABOX_FUZZ_SEEDS/<target>/sample-N`: `make fuzz` starts libFuzzer from them. Without it,
/// does nothing.
#[test]
fn write_fuzz_seeds() {
    let Some(dir) = std::env::var_os("HABOX_FUZZ_SEEDS") else {
        return;
    };
    for (name, _) in TARGETS {
        let dir = Path::new(&dir).join(name);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for (i, s) in samples(name).iter().enumerate() {
            let file = dir.join(format!("sample-{i}"));
            std::fs::write(&file, s).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
    }
}
