//! The heart-beat paths file read by ifcheckd: per heart-beat interface (ring = its order in
//! `heart-beat { }`), its first IPv4 address, the peer, UP while a valid HELLO arrived within
//! the dead-interval, and the age of the last one. Written atomically on every path change and
//! at least once a second (a file older than a few seconds means pikemon is gone).
//!
//! ```text
//! # pikemon heart-beat paths
//! node 1
//! path hb0 ring 0 local 198.51.100.1 peer 2 state UP age-ms 120
//! path hb1 ring 1 local - peer 2 state FAULTY age-ms 4100
//! config LAN drift digest 5d41402a peer 7d793037
//! ```
//!
//! A `config` line per virtual cluster once the peer is heard: `match` or `drift` of the
//! configuration digests (readers of the `path` lines skip it).

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

/// One heart-beat path as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathLine {
    pub ifname: String,
    pub local: Option<Ipv4Addr>,
    pub peer: Option<u32>,
    pub up: bool,
    pub age: Option<Duration>,
}

/// One virtual cluster's config digests: ours and the peer's as announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigLine {
    pub vc: String,
    pub digest: u32,
    pub peer: u32,
}

/// The file's text; the ring number is the index in `paths`.
pub fn render(node_id: u32, paths: &[PathLine], configs: &[ConfigLine]) -> String {
    let mut s = String::from("# pikemon heart-beat paths\n");
    let _ = writeln!(s, "node {node_id}");
    for (ring, p) in paths.iter().enumerate() {
        let local = p.local.map_or("-".to_string(), |a| a.to_string());
        let peer = p.peer.map_or("-".to_string(), |n| n.to_string());
        let state = if p.up { "UP" } else { "FAULTY" };
        let age = p.age.map_or("-".to_string(), |a| a.as_millis().to_string());
        let _ = writeln!(
            s,
            "path {} ring {ring} local {local} peer {peer} state {state} age-ms {age}",
            p.ifname
        );
    }
    for c in configs {
        let state = if c.digest == c.peer { "match" } else { "drift" };
        let _ = writeln!(
            s,
            "config {} {state} digest {:08x} peer {:08x}",
            c.vc, c.digest, c.peer
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_format() {
        let text = render(
            1,
            &[
                PathLine {
                    ifname: "hb0".into(),
                    local: Some(Ipv4Addr::new(198, 51, 100, 1)),
                    peer: Some(2),
                    up: true,
                    age: Some(Duration::from_millis(120)),
                },
                PathLine {
                    ifname: "hb1".into(),
                    local: None,
                    peer: Some(2),
                    up: false,
                    age: Some(Duration::from_millis(4100)),
                },
                PathLine {
                    ifname: "hb2".into(),
                    local: None,
                    peer: None,
                    up: false,
                    age: None,
                },
            ],
            &[ConfigLine {
                vc: "LAN".into(),
                digest: 0x5d41_402a,
                peer: 0x7d79_3037,
            }],
        );
        assert_eq!(
            text,
            "# pikemon heart-beat paths\nnode 1\n\
             path hb0 ring 0 local 198.51.100.1 peer 2 state UP age-ms 120\n\
             path hb1 ring 1 local - peer 2 state FAULTY age-ms 4100\n\
             path hb2 ring 2 local - peer - state FAULTY age-ms -\n\
             config LAN drift digest 5d41402a peer 7d793037\n"
        );
    }
}
