//! test-pikemon through its applet link: a valid config, every error of a broken one with its
//! position and exit 2, test expressions.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{applet, text};

fn write(name: &str, body: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pikemon-config");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

const GOOD: &str = r#"version PIKEMON-1;
pikemon {
    node-id 1;
    hmac key "0123456789abcdef0123" key-id 7;
    heart-beat { interface hb0; interface hb1; }
    hello-interval 100ms;
    virtual-cluster LAN {
        id 1; primary node 1; preemptive yes;
        interface lan0 { ipv4 [198.51.100.10]/24; }
        ping-group GW { host [198.51.100.1]; }
    }
}
"#;

#[test]
fn valid_config_is_ok_and_expressions_run() {
    let p = write("good.cfg", GOOD);
    let out = Command::new(applet("test-pikemon"))
        .arg("-f")
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out).0.ends_with("configuration OK\n"));
    let out = Command::new(applet("test-pikemon"))
        .arg("-f")
        .arg(&p)
        .args(["-t", "show-mac; show-config all;"])
        .output()
        .unwrap();
    let (so, _) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        so.starts_with("LAN lan0 pk1-lan0 02:c6:33:64:0a:00\n"),
        "{so}"
    );
    assert!(so.contains("    dead-interval 300ms;\n"), "{so}");
    let out = Command::new(applet("test-pikemon"))
        .arg("-f")
        .arg(&p)
        .args(["-t", "show-vc NOPE;"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(text(&out).1, "-t:1:1: error: no virtual-cluster 'NOPE'\n");
}

#[test]
fn config_errors_are_all_printed_with_positions_and_exit_2() {
    let bad = GOOD
        .replace("node-id 1;", "node-id x;")
        .replace("hello-interval 100ms;", "hello-interval 100us;")
        .replace("hmac key \"0123456789abcdef0123\" key-id 7;", "");
    let p = write("bad.cfg", &bad);
    let out = Command::new(applet("test-pikemon"))
        .arg("-f")
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let f = p.display();
    let err = text(&out).1;
    assert!(
        err.contains(&format!("{f}:3:13: error: 'x' is not a number\n")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{f}:6:20: error: '100us': unknown unit 'us'")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{f}:2:1: error: missing mandatory item 'hmac'\n")),
        "{err}"
    );
    assert!(err.contains("3 error(s)"), "{err}");
}
