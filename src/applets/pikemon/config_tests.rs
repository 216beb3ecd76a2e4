//! Tests of the config reader as a whole and of the `pikemon` section's own items: the
//! DESIGN.md sample, every error with its position, defaults, keys, the death-watch.

use super::*;

pub(super) const SAMPLE: &str = r#"version PIKEMON-1;
pikemon {
    node-id 1;
    status-file "/var/lib/pikemon/status";
    hmac key "0123456789abcdef0123" key-id 7;
    heart-beat { interface hb0; interface hb1; }
    hello-interval 100ms;  dead-interval 300ms; notify-fifo "/run/pikemon/events";
    garp-keepalive 60s;
    virtual-cluster LAN {
        id 1; primary node 1; preemptive yes; preempt-delay 5s;
        interface lan0 { ipv4 [198.51.100.10]/24; nomadic no; }
        ping-group GW { host [198.51.100.1]; host [198.51.100.2]; min-up 1; interval 1s; timeout 1s; fall 3; rise 2; }
        notify-master "/sbin/conntrack-ra promote";
        notify-backup "/sbin/conntrack-ra demote";
        notify-fault "logger fault";
        notify-stop "logger \"$2\"";
        notify-timeout 3s; track-process conntrackd; track-file "/run/fw/ok" interval 500ms fall 1 rise 1; track-script "test -e /run/up" interval 2s timeout 1s weight 50;
    }
}
"#;

pub(super) fn errors_of(text: &str) -> String {
    match read("t.cfg", text, ReadOptions::default()) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn design_sample_reads() {
    let c = read("t.cfg", SAMPLE, ReadOptions::default()).unwrap();
    assert_eq!(c.node_id, 1);
    assert_eq!(c.keys.len(), 1);
    assert_eq!(c.keys[0].id, 7);
    assert_eq!(c.keys[0].secret, b"0123456789abcdef0123");
    assert_eq!(c.heart_beat, ["hb0", "hb1"]);
    assert_eq!(c.hello_interval, Duration::from_millis(100));
    assert_eq!(c.dead_interval, Duration::from_millis(300));
    assert_eq!(c.paths_file, PathBuf::from("/run/pikemon/paths"));
    let vc = &c.virtual_clusters[0];
    assert_eq!((vc.name.as_str(), vc.id, vc.primary), ("LAN", 1, Some(1)));
    assert!(vc.preemptive);
    assert_eq!(vc.preempt_delay, Duration::from_secs(5));
    assert_eq!(vc.interfaces[0].virtual_mac(), [2, 198, 51, 100, 10, 0]);
    assert_eq!(vc.interfaces[0].macvlan_name(1), "pk1-lan0");
    let g = &vc.ping_groups[0];
    assert_eq!(g.hosts.len(), 2);
    assert_eq!((g.min_up, g.fall, g.rise), (1, 3, 2));
    assert_eq!(
        vc.notify_master.as_deref(),
        Some("/sbin/conntrack-ra promote")
    );
    assert_eq!(vc.notify_fault.as_deref(), Some("logger fault"));
    assert_eq!(vc.notify_stop.as_deref(), Some("logger \"$2\""));
    assert_eq!(vc.notify_timeout, Duration::from_secs(3));
    assert_eq!(c.notify_fifo, Some(PathBuf::from("/run/pikemon/events")));
}

#[test]
fn show_config_all_reads_back_to_the_same_config() {
    let c = read("t.cfg", SAMPLE, ReadOptions::default()).unwrap();
    for all in [false, true] {
        // The inline key is hidden in the output: put the real one back to compare.
        let text =
            super::super::show::config(&c, all).replace("\"(hidden)\"", "\"0123456789abcdef0123\"");
        let back =
            read("shown", &text, ReadOptions::default()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, c, "{text}");
    }
}

#[test]
fn dead_interval_defaults_to_three_hellos() {
    let text = SAMPLE.replace("dead-interval 300ms;", "");
    let text = text.replace("hello-interval 100ms;", "hello-interval 20ms;");
    let c = read("t.cfg", &text, ReadOptions::default()).unwrap();
    assert_eq!(c.dead_interval, Duration::from_millis(60));
}

#[test]
fn hmac_and_virtual_cluster_are_mandatory() {
    let e = errors_of(
        "version PIKEMON-1;\npikemon {\n node-id 2;\n heart-beat { interface hb0; }\n}\n",
    );
    assert!(
        e.contains("t.cfg:2:1: error: missing mandatory item 'hmac'"),
        "{e}"
    );
    assert!(
        e.contains("t.cfg:2:1: error: missing mandatory section 'virtual-cluster NAME { ... }'"),
        "{e}"
    );
}

#[test]
fn every_error_is_reported_with_its_position() {
    let text = SAMPLE
        .replace("node-id 1;", "node-id 0; bogus 1;")
        .replace("hello-interval 100ms;", "hello-interval 5ms;")
        .replace("[198.51.100.10]/24", "[198.51.100.300]/24")
        .replace("preemptive yes", "preemptive maybe")
        .replace("min-up 1", "min-up 3");
    let e = errors_of(&text);
    let lines: Vec<&str> = e.lines().collect();
    assert!(
        lines.contains(&"t.cfg:3:13: error: 0 is out of range 1..4294967295"),
        "{e}"
    );
    assert!(
        lines.contains(&"t.cfg:3:16: error: unknown item 'bogus' in section 'pikemon'"),
        "{e}"
    );
    assert!(
        lines.contains(&"t.cfg:7:20: error: 5ms is out of range 10ms..1m"),
        "{e}"
    );
    assert!(
        lines.contains(&"t.cfg:10:42: error: expected 'yes' or 'no', found 'maybe'"),
        "{e}"
    );
    assert!(
        lines.contains(&"t.cfg:11:31: error: '[198.51.100.300]' is not an IPv4 address"),
        "{e}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("t.cfg:12:67: error: min-up 3 is more than the 2")),
        "{e}"
    );
}

#[test]
fn duplicates_and_arity() {
    let text = SAMPLE
        .replace("node-id 1;", "node-id 1; node-id 2; cluster-id;")
        .replace("id 1; primary", "id 1; id 2; primary");
    let e = errors_of(&text);
    assert!(
        e.contains("t.cfg:3:16: error: duplicate 'node-id' (first at t.cfg:3:5)"),
        "{e}"
    );
    assert!(
        e.contains("t.cfg:3:27: error: 'cluster-id' takes 1 argument, found 0"),
        "{e}"
    );
    assert!(
        e.contains("t.cfg:10:15: error: duplicate 'id' (first at t.cfg:10:9)"),
        "{e}"
    );
}

#[test]
fn dead_interval_must_cover_two_hellos() {
    let text = SAMPLE.replace("dead-interval 300ms;", "dead-interval 150ms;");
    let e = errors_of(&text);
    assert!(
        e.contains("t.cfg:7:28: error: dead-interval 150ms must be at least twice"),
        "{e}"
    );
}

#[test]
fn short_keys_missing_key_files_and_bad_version() {
    let text = SAMPLE
        .replace("version PIKEMON-1;", "version PIKEMON-9;")
        .replace(
            "hmac key \"0123456789abcdef0123\" key-id 7;",
            "hmac key \"short\"; hmac file \"/nonexistent/pike.key\" key-id 2; hmac foo;",
        );
    let e = errors_of(&text);
    assert!(
        e.contains("t.cfg:1:9: error: unsupported version 'PIKEMON-9'"),
        "{e}"
    );
    assert!(
        e.contains("t.cfg:5:14: error: the key is 5 bytes, at least 16"),
        "{e}"
    );
    assert!(e.contains("t.cfg:5:33: error: cannot read key file"), "{e}");
    assert!(e.contains("t.cfg:5:67: error: expected 'hmac file"), "{e}");
}

#[test]
fn key_file_is_read_and_its_newline_dropped() {
    let dir = std::env::temp_dir().join(format!("pikecfg{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("pike.key");
    std::fs::write(&key, "a-secret-of-20-bytes\n").unwrap();
    let text = SAMPLE.replace(
        "hmac key \"0123456789abcdef0123\" key-id 7;",
        &format!("hmac file \"{}\";", key.display()),
    );
    let c = read("t.cfg", &text, ReadOptions::default()).unwrap();
    assert_eq!(c.keys[0].secret, b"a-secret-of-20-bytes");
    assert_eq!(c.keys[0].id, 1);
    assert_eq!(c.keys[0].source, KeySource::File(key.clone()));
    assert!(!format!("{:?}", c.keys[0]).contains("a-secret"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A worker restarted after the key file was rotated or removed on disk signed with a key
/// its peer did not know, or could not start: it now takes the keys the daemon read.
#[test]
fn restarted_worker_read_the_key_file_rotated_on_disk() {
    let text = SAMPLE.replace(
        "hmac key \"0123456789abcdef0123\" key-id 7;",
        "hmac file \"/nonexistent/pike.key\" key-id 7;",
    );
    let started = BTreeMap::from([(
        PathBuf::from("/nonexistent/pike.key"),
        b"the-key-read-at-start".to_vec(),
    )]);
    let c = read_with_key_files("t.cfg", &text, ReadOptions::default(), &started).unwrap();
    assert_eq!(c.keys[0].secret, b"the-key-read-at-start");
    assert_eq!(
        c.keys[0].source,
        KeySource::File("/nonexistent/pike.key".into())
    );
    // A path the daemon did not read is an error at its position, never a read of the disk.
    let other = text.replace("/nonexistent/pike.key", "/etc/passwd");
    match read_with_key_files("t.cfg", &other, ReadOptions::default(), &started) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => assert!(
            e.to_string().contains(
                "t.cfg:5:15: error: cannot read key file /etc/passwd: not among the key files \
                 the daemon read at start"
            ),
            "{e}"
        ),
    }
}

#[test]
fn missing_file_is_an_error_not_a_panic() {
    let e = load("/nonexistent/pikemon.cfg", ReadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x1234_5678u32;
    let alphabet = b"{};\" #[]/.:abcdefghijklmnopqrstuvwxyz0123456789-\n";
    for _ in 0..300 {
        let mut s = String::new();
        for _ in 0..(seed % 200) {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            s.push(alphabet[(seed >> 16) as usize % alphabet.len()] as char);
        }
        let _ = read("g", &s, ReadOptions::default());
    }
    // Mutations of the real sample: every prefix.
    for n in 0..SAMPLE.len() {
        if SAMPLE.is_char_boundary(n) {
            let _ = read("g", &SAMPLE[..n], ReadOptions::default());
        }
    }
}

#[test]
fn death_watch_reads_with_and_without_a_port_and_shows_back() {
    let c = read("t.cfg", SAMPLE, ReadOptions::default()).unwrap();
    assert_eq!(c.death_watch, None);
    let text = SAMPLE.replace(
        "interface hb1; }",
        "interface hb1; death-watch local [203.0.113.1] peer [203.0.113.2]; }",
    );
    let c = read("t.cfg", &text, ReadOptions::default()).unwrap();
    let w = c.death_watch.expect("death-watch");
    assert_eq!(w.local, Ipv4Addr::new(203, 0, 113, 1));
    assert_eq!(w.peer, Ipv4Addr::new(203, 0, 113, 2));
    assert_eq!(w.port, DEATH_WATCH_PORT);
    let text = text.replace("[203.0.113.2];", "[203.0.113.2] port 7100;");
    let c = read("t.cfg", &text, ReadOptions::default()).unwrap();
    assert_eq!(c.death_watch.map(|w| w.port), Some(7100));
    for all in [false, true] {
        let shown =
            super::super::show::config(&c, all).replace("\"(hidden)\"", "\"0123456789abcdef0123\"");
        assert_eq!(read("shown", &shown, ReadOptions::default()).unwrap(), c);
    }
}

#[test]
fn death_watch_errors() {
    let with = |item: &str| {
        errors_of(&SAMPLE.replace("interface hb1; }", &format!("interface hb1; {item} }}")))
    };
    let e = with("death-watch [203.0.113.1] [203.0.113.2];");
    assert!(
        e.contains("t.cfg:6:48: error: expected 'death-watch local [ADDR] peer [ADDR] [port N];'"),
        "{e}"
    );
    let e = with("death-watch local [203.0.113.1] peer [203.0.113.1];");
    assert!(e.contains("the peer address is the local address"), "{e}");
    let e = with("death-watch local [203.0.113.1] peer [203.0.113.2] port 0;");
    assert!(e.contains("0 is out of range 1..65535"), "{e}");
    let e = with("death-watch local [0.0.0.0] peer [203.0.113.2];");
    assert!(e.contains("0.0.0.0 is not a unicast address"), "{e}");
    let e = with(
        "death-watch local [203.0.113.1] peer [203.0.113.2]; death-watch local [203.0.113.1] peer [203.0.113.2];",
    );
    assert!(e.contains("duplicate 'death-watch'"), "{e}");
}

#[test]
fn realtime_is_no_yes_or_a_priority() {
    let with = |v: &str| {
        SAMPLE.replace(
            "garp-keepalive 60s;",
            &format!("garp-keepalive 60s; realtime {v};"),
        )
    };
    let rt = |v: &str| read("t.cfg", &with(v), ReadOptions::default()).map(|c| c.realtime);
    assert_eq!(rt("no").unwrap(), None);
    assert_eq!(rt("yes").unwrap(), Some(50));
    assert_eq!(rt("99").unwrap(), Some(99));
    let e = errors_of(&with("100"));
    assert!(
        e.contains("t.cfg:8:34: error: expected 'yes', 'no' or a priority 1..99, found '100'"),
        "{e}"
    );
    assert_eq!(
        read("t.cfg", SAMPLE, ReadOptions::default())
            .unwrap()
            .realtime,
        None
    );
}

/// `node-id 1` without its `;`, the next statement on the next line, said only "'node-id'
/// takes 1 argument, found 3".
#[test]
fn a_missing_semicolon_mid_line_said_only_takes_1_argument_found_3() {
    let e = errors_of(&SAMPLE.replace("node-id 1;", "node-id 1"));
    assert!(
        e.contains(
            "t.cfg:3:5: error: 'node-id' takes 1 argument, found 3 (missing ';' at the end \
             of line 3?)"
        ),
        "{e}"
    );
    // Before a section, and in the items that read their own arguments.
    let e = errors_of(&SAMPLE.replace(
        "hmac key \"0123456789abcdef0123\" key-id 7;",
        "hmac key \"0123456789abcdef0123\" key-id 7\nnode-id 2;",
    ));
    assert!(
        e.contains(
            "t.cfg:5:5: error: expected 'hmac file \"PATH\" [key-id N];' or 'hmac key \
             \"SECRET\" [key-id N];' (missing ';' at the end of line 5?)"
        ),
        "{e}"
    );
    let e = errors_of(&SAMPLE.replace("garp-keepalive 60s;", "garp-keepalive 60s"));
    assert!(
        e.contains(
            "t.cfg:8:5: error: 'garp-keepalive' is an item, not a section (missing ';' at the \
             end of line 8?)"
        ),
        "{e}"
    );
    // Too many arguments on one line: no hint.
    let e = errors_of(&SAMPLE.replace("node-id 1;", "node-id 1 2;"));
    assert!(
        e.lines()
            .any(|l| l == "t.cfg:3:5: error: 'node-id' takes 1 argument, found 2"),
        "{e}"
    );
}
