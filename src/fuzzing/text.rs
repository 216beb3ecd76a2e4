//! Text from other programs and from files: conntrackd's control replies, corosync-cmapctl's
//! output and the two config readers.

use crate::applets::conntrack_ra::control::external_entries;
use crate::applets::ifcheckd::corosync::{parse_cmap, rings};
use crate::applets::ldirectord::config::parse as parse_ldirectord;
use crate::applets::pikemon::config::{read as read_pikemon, ReadOptions};

use super::services::Literal;

/// A conntrackd control reply (STATS and the others), read as `control::request` does.
pub fn conntrackd_control(data: &[u8]) {
    let _ = external_entries(&String::from_utf8_lossy(data));
}

/// corosync-cmapctl output: the input is the icmap dump, or the icmap and the knet stats
/// dump split at the first NUL.
pub fn corosync_cmapctl(data: &[u8]) {
    let (config, stats) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let config = parse_cmap(&String::from_utf8_lossy(config));
    let stats = parse_cmap(&String::from_utf8_lossy(stats));
    let _ = rings(&config, &stats);
}

/// A pikemon config (names are not resolved, the host is not consulted).
pub fn pikemon_config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = read_pikemon("fuzz.cfg", text, ReadOptions::default());
    }
}

/// An ldirectord.cf, with literal addresses only. `monitorfile` creates the file it names,
/// so text naming it is left out.
pub fn ldirectord_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.to_ascii_lowercase().contains("monitorfile") {
        return;
    }
    let _ = parse_ldirectord("fuzz.cf", text, &Literal);
}
