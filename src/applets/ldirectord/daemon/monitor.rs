//! monitorfile=: a line per check result, in the original's layout, appended to the
//! virtual's file (opened per line, as the original, so it can be rotated).

use std::io::Write;

use super::super::config::Virtual;
use super::super::core::RealId;
use super::super::logfile::now_text;
use super::Daemon;

impl Daemon {
    /// Appends the line of a check result to the virtual's monitorfile, if it has one.
    pub(super) fn monitor(&mut self, id: RealId, up: bool, message: &str) {
        let v = &self.core.config().virtuals[id.virt];
        let Some(path) = &v.monitorfile else { return };
        let line = monitor_line(v, id.real, up, message);
        let res =
            super::super::logfile::open_append(path).and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = res {
            // The original dies here; a monitor file is not worth the service.
            log::error!("monitorfile {}: {e}", path.display());
        }
    }
}

/// `[TIME] [PID] <real id> [up|down] message` as the original writes it; `%`, `|`, CR and
/// LF in the message %-escaped.
pub fn monitor_line(v: &Virtual, real: usize, up: bool, message: &str) -> String {
    let r = &v.reals[real];
    let mut parts: Vec<String> = vec![
        v.checktype.name().to_string(),
        v.service.name().to_string(),
        v.protocol.name().to_string(),
        r.addr.to_string(),
        r.port.to_string(),
    ];
    if let Some(h) = &v.virtualhost {
        parts.push(h.clone());
    }
    if let Some(p) = v.checkport {
        parts.push(p.to_string());
    }
    parts.push(r.weight.to_string());
    parts.push(r.forward.name().to_string());
    parts.push(r.request.clone().unwrap_or_else(|| v.request.clone()));
    if let Some(rcv) = r.receive.as_ref().or(v.receive.as_ref()) {
        parts.push(rcv.as_str().to_string());
    }
    let mut escaped = String::new();
    for c in message.chars() {
        match c {
            '%' | '|' | '\r' | '\n' => escaped.push_str(&format!("%{:02X}", c as u32)),
            c => escaped.push(c),
        }
    }
    format!(
        "[{}] [{}] {} [{}] {}\n",
        now_text(),
        std::process::id(),
        parts.join(" "),
        if up { "up" } else { "down" },
        escaped
    )
}
