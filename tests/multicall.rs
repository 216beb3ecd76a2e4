//! The multicall dispatcher: the applet table against `--list` and against `--install` links.
mod common;

use std::process::Command;

use common::{habox, text};

const APPLETS: [&str; 7] = [
    "pikemon",
    "test-pikemon",
    "ldirectord",
    "ifcheckd",
    "lkping",
    "ip-ra",
    "conntrack-ra",
];

#[test]
fn list_prints_the_table() {
    let out = Command::new(habox()).arg("--list").output().unwrap();
    assert!(out.status.success());
    let listed: Vec<String> = text(&out).0.lines().map(str::to_string).collect();
    let table: Vec<&str> = habox::applets::APPLETS.iter().map(|a| a.name).collect();
    assert_eq!(listed, table);
    assert_eq!(table, APPLETS);
}

#[test]
fn install_links_every_applet_and_each_link_dispatches() {
    for symbolic in [false, true] {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("install-{}-{symbolic}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cmd = Command::new(habox());
        cmd.arg("--install");
        if symbolic {
            cmd.arg("-s");
        }
        assert!(cmd.arg(&dir).status().unwrap().success());
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut want: Vec<String> = APPLETS.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(names, want);
        for name in APPLETS {
            let link = dir.join(name);
            let meta = std::fs::symlink_metadata(&link).unwrap();
            assert_eq!(meta.file_type().is_symlink(), symbolic, "{name}");
            // Every applet answers -h through its link (exit status aside, never "not found").
            let out = Command::new(&link).arg("-h").output().unwrap();
            let (o, e) = text(&out);
            assert!(!e.contains("applet not found"), "{name}: {o}{e}");
            assert_ne!(out.status.code(), Some(127), "{name}");
        }
        // Installing again over existing links works (busybox replaces them).
        let mut again = Command::new(habox());
        again.arg("--install");
        if symbolic {
            again.arg("-s");
        }
        assert!(again.arg(&dir).status().unwrap().success());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn unknown_applet_exits_127() {
    let out = Command::new(habox()).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(text(&out).1, "habox: frobnicate: applet not found\n");
}

#[test]
fn leading_dash_in_argv0_is_stripped() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dash");
    let _ = std::fs::create_dir_all(&dir);
    let link = dir.join("-frob");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(habox(), &link).unwrap();
    let out = Command::new(&link).output().unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(text(&out).1, "habox: frob: applet not found\n");
}

#[test]
fn help_lists_every_applet() {
    let out = Command::new(habox()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = text(&out).0;
    for name in APPLETS {
        assert!(help.contains(name), "{name} missing from --help");
    }
}

#[test]
fn install_without_dir_is_a_usage_error() {
    let out = Command::new(habox()).arg("--install").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
