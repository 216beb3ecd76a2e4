//! Text from other programs and from files: conntrackd's control replies and config,
//! corosync-cmapctl's output, pikemon's control lines, status file and paths file, and the
//! two config readers.

use crate::applets::conntrack_ra::config::parse as parse_conntrackd;
use crate::applets::ifcheckd::corosync::{parse_cmap, rings};
use crate::applets::ifcheckd::pikemon::parse as parse_paths;
use crate::applets::ldirectord::config::parse as parse_ldirectord;
use crate::applets::pikemon::config::{read as read_pikemon, ReadOptions};
use crate::applets::pikemon::control::{Reply, Request};
use crate::applets::pikemon::status_file::Status;
use crate::net::conntrackd::external_entries;

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

/// conntrackd.conf, as conntrack-ra reads it for the control socket's path.
pub fn conntrackd_config(data: &[u8]) {
    let _ = parse_conntrackd("conntrackd.conf", &String::from_utf8_lossy(data));
}

/// A line on pikemon's control socket and the worker's reply to it; each renders and parses
/// back the same.
pub fn pikemon_control(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(req) = Request::parse(&text) {
        assert_eq!(
            Request::parse(&req.line()),
            Ok(req),
            "control request round trip"
        );
    }
    if let Ok(reply) = Reply::parse(&text) {
        assert_eq!(
            Reply::parse(&reply.render()),
            Ok(reply),
            "control reply round trip"
        );
    }
}

/// pikemon's status file (roles kept across restarts); what parses renders and parses back
/// the same.
pub fn pikemon_status_file(data: &[u8]) {
    if let Some(st) = Status::parse(&String::from_utf8_lossy(data)) {
        assert_eq!(
            Status::parse(&st.render()),
            Some(st),
            "status file round trip"
        );
    }
}

/// pikemon's paths file as ifcheckd reads it (its rings).
pub fn pikemon_paths_file(data: &[u8]) {
    let _ = parse_paths("paths", &String::from_utf8_lossy(data));
}
