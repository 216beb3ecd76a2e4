//! pikemon's heart-beat path file, the default ring source. pikemon rewrites it atomically
//! (temp + rename) at least once a second while any path is UP and on every change:
//!
//! ```text
//! # pikemon heart-beat paths
//! node 1
//! path hb0 ring 0 local 198.51.100.1 peer 2 state UP age-ms 120
//! path hb1 ring 1 local - peer 2 state FAULTY age-ms 4100
//! ```
//!
//! One line per path and peer. A ring is UP when every peer's path on it is UP (one silent peer
//! makes the ring faulty, as a broken knet link does in Corosync). Its address is the local
//! address of its first path, or the interface name when the path has none (a heart-beat link
//! needs no IP).

use super::tracker::{RingReport, RingState};

/// Default location of the file.
pub const DEFAULT_PATH: &str = "/run/pikemon/paths";

/// One `path` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PathLine {
    ifname: String,
    ring: u32,
    local: Option<String>,
    up: bool,
}

/// Reads the rings out of the file text; lines that cannot be read are reported as
/// `FILE:LINE: reason` and skipped (the others still count).
pub fn parse(file: &str, text: &str) -> (Vec<RingReport>, Vec<String>) {
    let mut errors = Vec::new();
    let mut paths = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        // `node N` and whatever a newer pikemon adds are skipped.
        if words.next() == Some("path") {
            match path_line(words) {
                Ok(p) => paths.push(p),
                Err(e) => errors.push(format!("{file}:{}: {e}", n + 1)),
            }
        }
    }
    let mut rings: Vec<RingReport> = Vec::new();
    for p in paths {
        match rings.iter_mut().find(|r| r.ring == p.ring) {
            Some(r) => {
                if !p.up {
                    r.state = RingState::Faulty;
                }
            }
            None => rings.push(RingReport {
                ring: p.ring,
                addr: p.local.unwrap_or_else(|| p.ifname.clone()),
                ifname: Some(p.ifname),
                state: if p.up {
                    RingState::Up
                } else {
                    RingState::Faulty
                },
            }),
        }
    }
    rings.sort_by_key(|r| r.ring);
    (rings, errors)
}

fn path_line<'a>(mut words: impl Iterator<Item = &'a str>) -> Result<PathLine, String> {
    let ifname = words
        .next()
        .ok_or("path without an interface name")?
        .to_string();
    let (mut ring, mut local, mut state) = (None, None, None);
    while let Some(key) = words.next() {
        let value = words.next().ok_or(format!("'{key}' without a value"))?;
        match key {
            "ring" => {
                ring = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| format!("bad ring number '{value}'"))?,
                )
            }
            "local" => local = (value != "-").then(|| value.to_string()),
            "state" => state = Some(value == "UP"),
            // peer, age-ms and future keys
            _ => {}
        }
    }
    Ok(PathLine {
        ifname,
        ring: ring.ok_or("path without 'ring'")?,
        local,
        up: state.ok_or("path without 'state'")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# pikemon heart-beat paths
node 1
path hb0 ring 0 local 198.51.100.1 peer 2 state UP age-ms 120
path hb1 ring 1 local - peer 2 state FAULTY age-ms 4100
";

    #[test]
    fn reads_the_documented_example() {
        let (rings, errors) = parse("paths", SAMPLE);
        assert!(errors.is_empty());
        assert_eq!(
            rings,
            vec![
                RingReport {
                    ring: 0,
                    addr: "198.51.100.1".into(),
                    ifname: Some("hb0".into()),
                    state: RingState::Up
                },
                RingReport {
                    ring: 1,
                    addr: "hb1".into(),
                    ifname: Some("hb1".into()),
                    state: RingState::Faulty
                },
            ]
        );
    }

    #[test]
    fn a_path_that_never_saw_its_peer() {
        // pikemon writes `-` for an unknown peer and a HELLO that never came.
        let (rings, errors) = parse(
            "p",
            "path hb2 ring 2 local - peer - state FAULTY age-ms -\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rings[0].addr, "hb2");
        assert_eq!(rings[0].state, RingState::Faulty);
    }

    #[test]
    fn one_faulty_peer_makes_the_ring_faulty() {
        let text = "path hb0 ring 0 local 198.51.100.1 peer 2 state UP\n\
                    path hb0 ring 0 local 198.51.100.1 peer 3 state FAULTY\n";
        let (rings, _) = parse("p", text);
        assert_eq!(rings.len(), 1);
        assert_eq!(rings[0].state, RingState::Faulty);
    }

    #[test]
    fn unknown_state_is_not_up_and_bad_lines_are_reported() {
        let text = "path hb0 ring 0 local - peer 2 state STARTING\n\
                    path hb1 ring x state UP\n\
                    path hb2 state UP\n\
                    path\n\
                    path hb3 ring 3 state\n\
                    path hb4 ring 4 state UP future-key 1\n";
        let (rings, errors) = parse("p", text);
        assert_eq!(rings.len(), 2);
        assert_eq!(rings[0].state, RingState::Faulty);
        assert_eq!(rings[1].ring, 4);
        assert_eq!(errors.len(), 4);
        assert!(errors[0].starts_with("p:2: bad ring number"), "{errors:?}");
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "",
            "\u{0}",
            "path path path",
            "ring 0 state UP",
            "path a ring 99999999999 state UP",
        ] {
            let _ = parse("g", text);
        }
    }
}
