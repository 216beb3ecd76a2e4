//! The `track-process`, `track-file` and `track-script` items of a virtual cluster: more
//! witnesses of a node's health beside its ping groups (keepalived's track_process,
//! track_file and track_script). Each one failing `fall` times in a row fails, `rise`
//! successes in a row make it answer again. A failing witness without a weight makes the
//! virtual cluster Down (a hard Down, as a ping group does); one with `weight N` adds N to
//! the virtual cluster's penalty instead, which the election compares between two healthy
//! nodes (the lower penalty holds the role; keepalived's priority adjustment).
//!
//! ```text
//! track-process conntrackd;
//! track-file "/run/fw/ok" interval 500ms fall 1 rise 1;
//! track-script "/usr/local/bin/check-uplink" interval 2s timeout 1s fall 2 rise 2 weight 50;
//! ```

use std::path::PathBuf;
use std::time::Duration;

use super::{values, Reader};
use crate::conf::tree::Node;

/// What is watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackKind {
    /// A process of this name (its `comm`, at most 15 characters) runs.
    Process(String),
    /// The file holds the number 0 (keepalived's track_file); missing or anything else: down.
    File(PathBuf),
    /// The command exits 0 within `timeout` (run with `/bin/sh -c`, killed at the timeout).
    Script(String),
}

/// One tracked witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub kind: TrackKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub fall: u32,
    pub rise: u32,
    /// None: a failure makes the virtual cluster Down; Some(N): it adds N to its penalty.
    pub weight: Option<u8>,
}

impl Track {
    /// The item's name in the config.
    pub fn item(&self) -> &'static str {
        match self.kind {
            TrackKind::Process(_) => "track-process",
            TrackKind::File(_) => "track-file",
            TrackKind::Script(_) => "track-script",
        }
    }

    /// What it watches, as written.
    pub fn target(&self) -> String {
        match &self.kind {
            TrackKind::Process(n) => n.clone(),
            TrackKind::File(p) => p.display().to_string(),
            TrackKind::Script(c) => c.clone(),
        }
    }
}

impl Reader<'_> {
    /// Reads one `track-*` item (`node.key()` says which).
    pub(super) fn track(&mut self, node: &Node) -> Option<Track> {
        if node.body.is_some() {
            self.err(
                node.span(),
                format!(
                    "'{}' is an item, not a section{}",
                    node.key(),
                    super::missing_semicolon(node)
                ),
            );
            return None;
        }
        let Some(first) = node.args.first() else {
            self.err(
                node.span(),
                format!("'{}' needs what it tracks", node.key()),
            );
            return None;
        };
        let what = first.text.trim().to_string();
        let kind = match node.key() {
            "track-process" => {
                if what.is_empty() || what.len() > 15 || what.contains('/') {
                    self.err(
                        &first.span,
                        format!("'{what}' is not a process name (1..15 characters, no '/')"),
                    );
                    return None;
                }
                // pikemon's own processes are named so (the binary, or its link): such a
                // witness would find the daemon itself and never fail.
                if what == "pikemon" || what == "habox" {
                    self.err(
                        &first.span,
                        format!(
                            "'{what}' names pikemon's own processes: that witness would never fail \
                             (expected the name of another daemon, e.g. conntrackd)"
                        ),
                    );
                    return None;
                }
                TrackKind::Process(what)
            }
            "track-file" => match super::absolute_path(&what) {
                Ok(p) => TrackKind::File(p),
                Err(e) => {
                    self.err(&first.span, e);
                    return None;
                }
            },
            _ => {
                if what.is_empty() {
                    self.err(&first.span, "empty command");
                    return None;
                }
                TrackKind::Script(what)
            }
        };
        let mut t = Track {
            kind,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            fall: 2,
            rise: 2,
            weight: None,
        };
        let ms = Duration::from_millis;
        let rest = &node.args[1..];
        if !rest.len().is_multiple_of(2) {
            let last = &rest[rest.len() - 1];
            let hint = super::missing_semicolon(node);
            self.err(&last.span, format!("'{}' needs a value{hint}", last.text));
            return None;
        }
        let mut ok = true;
        for pair in rest.chunks(2) {
            let (key, val) = (&pair[0], &pair[1]);
            match key.text.as_str() {
                "interval" => {
                    match self.value(val, |v| values::duration(v, ms(100), ms(3_600_000))) {
                        Some(d) => t.interval = d,
                        None => ok = false,
                    }
                }
                "timeout" if matches!(t.kind, TrackKind::Script(_)) => {
                    match self.value(val, |v| values::duration(v, ms(100), ms(3_600_000))) {
                        Some(d) => t.timeout = d,
                        None => ok = false,
                    }
                }
                "fall" | "rise" => match self.value(val, |v| values::number(v, 1, 100)) {
                    Some(n) if key.text == "fall" => t.fall = n as u32,
                    Some(n) => t.rise = n as u32,
                    None => ok = false,
                },
                "weight" => match self.value(val, |v| values::number(v, 1, 254)) {
                    Some(n) => t.weight = Some(n as u8),
                    None => ok = false,
                },
                other => {
                    let allowed = if matches!(t.kind, TrackKind::Script(_)) {
                        "interval, timeout, fall, rise, weight"
                    } else {
                        "interval, fall, rise, weight"
                    };
                    let hint = super::missing_semicolon(node);
                    self.err(
                        &key.span,
                        format!("unknown option '{other}' (expected {allowed}){hint}"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(t)
    }
}

#[cfg(test)]
mod tests {
    use crate::applets::pikemon::config::{read, ReadOptions};

    #[test]
    fn track_process_naming_pikemon_itself_is_refused_with_its_position() {
        for name in ["pikemon", "habox"] {
            let text = format!(
                "version PIKEMON-1;\npikemon {{ node-id 1; hmac key \"0123456789abcdef\";\n\
                 heart-beat {{ interface hb0; }}\n\
                 virtual-cluster A {{ id 1; interface lan0 {{ ipv4 [198.51.100.10]/24; }}\n\
                 track-process {name}; }}\n}}\n"
            );
            let e = match read("t.cfg", &text, ReadOptions::default()) {
                Ok(_) => panic!("track-process {name} accepted"),
                Err(e) => e.to_string(),
            };
            assert!(
                e.contains(&format!(
                    "t.cfg:5:15: error: '{name}' names pikemon's own processes"
                )),
                "{e}"
            );
        }
    }
}
