//! Where `pikemon -c` finds the running daemon. Only the `control-socket` item matters
//! there: a config with an error elsewhere (a typo being edited, a key file missing or being
//! rotated) must not keep the operator from asking the daemon that runs with the config it
//! accepted earlier for its status, a drop or maintenance. The `status-file` item is read the
//! same way, for `-c status` when the daemon does not answer.

use std::path::{Path, PathBuf};

use crate::conf::tree::{parse, Node};
use crate::conf::{Errors, Span};

use super::{absolute_path, read, Config, ReadOptions, MAX_CONFIG_LEN};

/// The control socket named by the config at `path`, with the config's errors if it cannot
/// be read in full (see `control_socket_in`); a file that cannot be read at all gives the
/// default socket.
pub fn control_socket(path: &str) -> (PathBuf, Option<Errors>) {
    match crate::conf::file::read(Path::new(path), MAX_CONFIG_LEN) {
        Ok(text) => control_socket_in(path, &text),
        Err(e) => {
            let mut errors = Errors::new();
            let span = Span::new(&std::rc::Rc::from(path), 0, 0);
            errors.push(&span, format!("cannot read: {e}"));
            (Config::default().control_socket, Some(errors))
        }
    }
}

/// The control socket named by config text `text` (from `file`): the full read's when it
/// succeeds; else, with the errors, the `control-socket` item alone if it parses, and the
/// default socket if it does not (or is given twice: which one the daemon took is unknown).
pub fn control_socket_in(file: &str, text: &str) -> (PathBuf, Option<Errors>) {
    match read(file, text, ReadOptions::default()) {
        Ok(c) => (c.control_socket, None),
        Err(errors) => {
            let (nodes, _) = parse(file, text);
            let path =
                named_path(&nodes, "control-socket").unwrap_or(Config::default().control_socket);
            (path, Some(errors))
        }
    }
}

/// The status file named by the config at `path`, leniently as `control_socket`: the default
/// when the file cannot be read or the item does not parse.
pub fn status_file(path: &str) -> PathBuf {
    match crate::conf::file::read(Path::new(path), MAX_CONFIG_LEN) {
        Ok(text) => status_file_in(path, &text),
        Err(_) => Config::default().status_file,
    }
}

/// The status file named by config text `text` (see `status_file`).
pub fn status_file_in(file: &str, text: &str) -> PathBuf {
    match read(file, text, ReadOptions::default()) {
        Ok(c) => c.status_file,
        Err(_) => {
            let (nodes, _) = parse(file, text);
            named_path(&nodes, "status-file").unwrap_or(Config::default().status_file)
        }
    }
}

/// The path of the top-level item `key`, when it is given once with one absolute path.
fn named_path(nodes: &[Node], key: &str) -> Option<PathBuf> {
    let mut items = nodes
        .iter()
        .filter(|n| n.key() == "pikemon")
        .flat_map(Node::children)
        .filter(|n| n.key() == key);
    let item = items.next()?;
    if items.next().is_some() || item.body.is_some() {
        return None;
    }
    match item.args.as_slice() {
        [arg] => absolute_path(&arg.text).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version PIKEMON-1;\npikemon {\n node-id 1;\n control-socket \"/run/pk/ctl\";\n hmac key \"0123456789abcdef\";\n heart-beat { interface hb0; }\n virtual-cluster LAN { id 1; interface lan0 { ipv4 [198.51.100.10]/24; } }\n}\n";

    fn default() -> PathBuf {
        Config::default().control_socket
    }

    /// `-c status` with a typo elsewhere in the config, or a key file being rotated, said
    /// "error(s); nothing started" (exit 2) and never asked the daemon.
    #[test]
    fn control_socket_of_a_config_with_a_typo_or_a_missing_key_file_was_not_found() {
        assert_eq!(
            control_socket_in("t.cfg", GOOD),
            (PathBuf::from("/run/pk/ctl"), None)
        );
        let typo = GOOD.replace("node-id 1;", "node-id 1; garp-keepalive 61x;");
        let (path, errors) = control_socket_in("t.cfg", &typo);
        assert_eq!(path, PathBuf::from("/run/pk/ctl"));
        let errors = errors.expect("the typo is reported").to_string();
        assert!(errors.starts_with("t.cfg:3:"), "{errors}");
        let no_key = GOOD.replace(
            "hmac key \"0123456789abcdef\"",
            "hmac file \"/nonexistent/pike.key\"",
        );
        let (path, errors) = control_socket_in("t.cfg", &no_key);
        assert_eq!(path, PathBuf::from("/run/pk/ctl"));
        assert!(errors.is_some());
    }

    #[test]
    fn control_socket_falls_back_to_the_default_when_its_own_item_is_bad() {
        for bad in [
            "control-socket \"run/pk/ctl\";",
            "control-socket;",
            "control-socket \"/a\" \"/b\";",
            "control-socket \"/a\"; control-socket \"/b\";",
            "control-socket { }",
        ] {
            let text = GOOD.replace("control-socket \"/run/pk/ctl\";", bad);
            let (path, errors) = control_socket_in("t.cfg", &text);
            assert_eq!(path, default(), "{bad}");
            assert!(errors.is_some(), "{bad}");
        }
        // Unbalanced braces: whatever parses still names it.
        let cut = GOOD.replace("}\n}\n", "");
        assert_eq!(
            control_socket_in("t.cfg", &cut).0,
            PathBuf::from("/run/pk/ctl")
        );
        let (path, errors) = control_socket("/nonexistent/pikemon.cfg");
        assert_eq!(path, default());
        assert!(errors.unwrap().to_string().contains("cannot read"));
        assert_eq!(control_socket_in("t.cfg", "\u{0}{{{;").0, default());
    }

    #[test]
    fn status_file_is_found_as_the_control_socket_is() {
        let named = GOOD.replace("node-id 1;", "node-id 1; status-file \"/run/pk/st\";");
        assert_eq!(status_file_in("t.cfg", &named), PathBuf::from("/run/pk/st"));
        let typo = named.replace("node-id 1;", "node-id 1; garp-keepalive 61x;");
        assert_eq!(status_file_in("t.cfg", &typo), PathBuf::from("/run/pk/st"));
        assert_eq!(status_file_in("t.cfg", GOOD), Config::default().status_file);
        assert_eq!(
            status_file("/nonexistent/pikemon.cfg"),
            Config::default().status_file
        );
    }
}
