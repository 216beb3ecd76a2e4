//! The `conntrack { ... }` section: pikemon drives conntrackd over its control socket on
//! every role change (commit on takeover, resync on release, a bulk update for a peer that
//! joins), per node (section `pikemon`) or per virtual cluster (which overrides the node's).
//!
//! ```text
//! conntrack { socket "/var/run/conntrackd.ctl"; commit-timeout 2s; takeover commit-first; required no; }
//! ```

use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::{absolute_path, values, Reader, Seen};
use crate::applets::pikemon::core::TakeoverOrder;
use crate::conf::tree::Node;

/// conntrackd's default control socket (`General { UNIX { Path } }` in its sample config).
pub const CONNTRACKD_SOCKET: &str = "/var/run/conntrackd.ctl";
/// How long a takeover waits for conntrackd's commit by default.
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(2);

/// How pikemon reaches conntrackd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conntrack {
    /// conntrackd's UNIX control socket.
    pub socket: PathBuf,
    /// The longest a takeover waits for the commit of the external cache (and the longest
    /// any other request may take) before going on without it.
    pub commit_timeout: Duration,
    /// Whether the addresses wait for the commit or come up with it.
    pub takeover: TakeoverOrder,
    /// A conntrackd that does not answer makes the node's health Down.
    pub required: bool,
}

impl Default for Conntrack {
    fn default() -> Conntrack {
        Conntrack {
            socket: PathBuf::from(CONNTRACKD_SOCKET),
            commit_timeout: COMMIT_TIMEOUT,
            takeover: TakeoverOrder::default(),
            required: false,
        }
    }
}

impl Conntrack {
    /// The section as config text (one line), `all` with the items left at their defaults.
    pub fn show(&self, all: bool) -> String {
        let d = Conntrack::default();
        let mut o = String::from("conntrack {");
        if all || self.socket != d.socket {
            let _ = write!(o, " socket \"{}\";", self.socket.display());
        }
        if all || self.commit_timeout != d.commit_timeout {
            let t = values::show_duration(self.commit_timeout);
            let _ = write!(o, " commit-timeout {t};");
        }
        if all || self.takeover != d.takeover {
            let _ = write!(o, " takeover {};", self.takeover.as_str());
        }
        if all || self.required != d.required {
            let _ = write!(o, " required {};", values::show_bool(self.required));
        }
        o.push_str(" }");
        o
    }
}

impl Reader<'_> {
    /// Reads a `conntrack { ... }` section (already checked to be a section without name).
    pub(super) fn conntrack(&mut self, sect: &Node) -> Option<Conntrack> {
        let mut c = Conntrack::default();
        let mut seen = Seen::default();
        let mut ok = true;
        for node in sect.children() {
            match node.key() {
                "socket" => match self.single(&mut seen, node, absolute_path) {
                    Some(p) => c.socket = p,
                    None => ok = false,
                },
                "commit-timeout" => {
                    let range = |t: &str| {
                        values::duration(t, Duration::from_millis(10), Duration::from_secs(60))
                    };
                    match self.single(&mut seen, node, range) {
                        Some(d) => c.commit_timeout = d,
                        None => ok = false,
                    }
                }
                "takeover" => match self.single(&mut seen, node, takeover_order) {
                    Some(t) => c.takeover = t,
                    None => ok = false,
                },
                "required" => match self.single(&mut seen, node, values::boolean) {
                    Some(b) => c.required = b,
                    None => ok = false,
                },
                _ => {
                    self.unknown(
                        node,
                        "section 'conntrack' (expected 'socket', 'commit-timeout', 'takeover' or 'required')",
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(c)
    }
}

/// `takeover commit-first|parallel`.
fn takeover_order(word: &str) -> Result<TakeoverOrder, String> {
    match word {
        "commit-first" => Ok(TakeoverOrder::CommitFirst),
        "parallel" => Ok(TakeoverOrder::Parallel),
        _ => Err(format!(
            "expected 'commit-first' or 'parallel', found '{word}'"
        )),
    }
}
