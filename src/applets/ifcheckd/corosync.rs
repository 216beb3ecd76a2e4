//! Corosync 3 (knet) as the ring source: `corosync-cmapctl` (the icmap: nodelist and this
//! node's id) and `corosync-cmapctl -m stats stats.knet.` (per peer node and link number,
//! `stats.knet.node<ID>.link<N>.connected`). Ring N is UP when the link N to every peer is
//! connected; its address is this node's `nodelist.node.X.ringN_addr` when that is an IP
//! address. `pcs cluster setup` writes host names there: then the address corosync resolved
//! and runs the ring on, `runtime.members.<ID>.ip = r(N) ip(ADDR) ...`; without that key the
//! name is left for the daemon to resolve (`ring_names`).
//!
//! Both tools are run as children whose stdout the event loop reads (nothing blocks); one
//! poll is the two commands in a row. A command is over when its output ended and it was
//! reaped: one that closed its output and lives on is waited for by SIGCHLD, not by a
//! blocking wait (which held the whole loop, SIGTERM included, for as long as it lived).

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Instant;

use super::tracker::{RingReport, RingState};

/// `key (type) = value` lines of corosync-cmapctl into a map.
pub fn parse_cmap(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (lhs, value) = line.split_once(" = ")?;
            let key = lhs.split_once(" (").map_or(lhs, |(k, _)| k);
            Some((key.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

/// The rings of this node from the icmap (`config`) and the stats map (`stats`); None when
/// the maps do not say who we are.
pub fn rings(
    config: &BTreeMap<String, String>,
    stats: &BTreeMap<String, String>,
) -> Option<Vec<RingReport>> {
    // nodelist.node.X.{nodeid,ringN_addr}
    let mut nodes: BTreeMap<String, (Option<u32>, BTreeMap<u32, String>)> = BTreeMap::new();
    for (key, value) in config {
        let Some(rest) = key.strip_prefix("nodelist.node.") else {
            continue;
        };
        let Some((pos, field)) = rest.split_once('.') else {
            continue;
        };
        let entry = nodes.entry(pos.to_string()).or_default();
        if field == "nodeid" {
            entry.0 = value.parse().ok();
        } else if let Some(n) = field
            .strip_prefix("ring")
            .and_then(|f| f.strip_suffix("_addr"))
            .and_then(|n| n.parse::<u32>().ok())
        {
            entry.1.insert(n, value.clone());
        }
    }
    let me: u32 = match config.get("runtime.votequorum.this_node_id") {
        Some(id) => id.parse().ok()?,
        None => {
            let pos = config.get("nodelist.local_node_pos")?;
            nodes.get(pos)?.0?
        }
    };
    let (_, my_rings) = nodes.values().find(|(id, _)| *id == Some(me))?;
    let resolved = config
        .get(&format!("runtime.members.{me}.ip"))
        .map(|v| member_addresses(v))
        .unwrap_or_default();
    let peers: Vec<u32> = nodes
        .values()
        .filter_map(|(id, _)| *id)
        .filter(|id| *id != me)
        .collect();
    Some(
        my_rings
            .iter()
            .map(|(&ring, addr)| {
                let up = peers.iter().all(|peer| {
                    stats
                        .get(&format!("stats.knet.node{peer}.link{ring}.connected"))
                        .is_some_and(|v| v == "1")
                });
                let addr = match (addr.parse::<IpAddr>(), resolved.get(&ring)) {
                    (Ok(_), _) | (Err(_), None) => addr.clone(),
                    (Err(_), Some(ip)) => ip.to_string(),
                };
                RingReport {
                    ring,
                    addr,
                    ifname: None,
                    state: if up { RingState::Up } else { RingState::Faulty },
                }
            })
            .collect(),
    )
}

/// `runtime.members.<ID>.ip`'s value, `r(0) ip(198.51.100.1) r(1) ip(203.0.113.1) `, as
/// ring number → address (corosync 3's `exec/main.c` writes it from the running links).
pub fn member_addresses(value: &str) -> BTreeMap<u32, IpAddr> {
    let mut out = BTreeMap::new();
    let mut ring = None;
    for word in value.split_whitespace() {
        if let Some(n) = word.strip_prefix("r(").and_then(|w| w.strip_suffix(')')) {
            ring = n.parse::<u32>().ok();
        } else if let Some(a) = word.strip_prefix("ip(").and_then(|w| w.strip_suffix(')')) {
            if let (Some(r), Ok(ip)) = (ring.take(), a.parse::<IpAddr>()) {
                out.insert(r, ip);
            }
        }
    }
    out
}

/// What one finished poll produced.
pub enum PollResult {
    /// The rings, and when their link states were read (the stats command's start: the
    /// report is no newer than that).
    Rings(Vec<RingReport>, Instant),
    /// corosync is not reachable (a command failed) or the maps do not name this node.
    Lost(String),
    /// A command's output was not taken (why, for a warning): no ring state from it.
    Refused(String),
}

enum Step {
    Config,
    Stats,
}

/// A poll in progress: the running child and what it printed so far.
pub struct Poll {
    child: Child,
    /// None once the output ended (out of the poll set: at EOF it would be ready for ever).
    stdout: Option<ChildStdout>,
    out: Vec<u8>,
    step: Step,
    config: BTreeMap<String, String>,
    tool: String,
    /// When the current command was started.
    started: Instant,
}

impl Poll {
    /// Starts a poll with `tool` (corosync-cmapctl, or a path to it).
    pub fn start(tool: &str) -> io::Result<Poll> {
        let started = Instant::now();
        let (child, stdout) = spawn(tool, &[])?;
        Ok(Poll {
            started,
            child,
            stdout: Some(stdout),
            out: Vec::new(),
            step: Step::Config,
            config: BTreeMap::new(),
            tool: tool.to_string(),
        })
    }

    /// The fd to wait on; None between the end of a command's output and its exit.
    pub fn fd(&self) -> Option<RawFd> {
        self.stdout.as_ref().map(|s| s.as_raw_fd())
    }

    /// Reads what is there (the fd was readable, or SIGCHLD came); `Some` when the poll is
    /// complete.
    pub fn readable(&mut self) -> Option<PollResult> {
        if let Some(stdout) = self.stdout.as_mut() {
            match read_output(stdout, &mut self.out) {
                Ok(ReadEnd::Pending) => return None,
                Ok(ReadEnd::Eof) => {}
                Ok(ReadEnd::TooLong) => {
                    self.stop();
                    return Some(PollResult::Refused(format!(
                        "{}: more than {MAX_OUTPUT} bytes of output",
                        self.tool
                    )));
                }
                Err(e) => {
                    self.stop();
                    return Some(PollResult::Lost(format!("{}: {e}", self.tool)));
                }
            }
            self.stdout = None;
        }
        let ok = match self.child.try_wait() {
            Ok(Some(status)) => status.success(),
            Ok(None) => return None,
            Err(_) => false,
        };
        let text = String::from_utf8_lossy(&std::mem::take(&mut self.out)).into_owned();
        if !ok {
            return Some(PollResult::Lost(format!("{} failed", self.tool)));
        }
        match self.step {
            Step::Config => {
                self.config = parse_cmap(&text);
                self.started = Instant::now();
                match spawn(&self.tool, &["-m", "stats", "stats.knet."]) {
                    Ok((child, stdout)) => {
                        self.child = child;
                        self.stdout = Some(stdout);
                        self.step = Step::Stats;
                        None
                    }
                    Err(e) => Some(PollResult::Lost(format!("{}: {e}", self.tool))),
                }
            }
            Step::Stats => Some(match rings(&self.config, &parse_cmap(&text)) {
                Some(r) => PollResult::Rings(r, self.started),
                None => PollResult::Lost("the cmap does not name this node".into()),
            }),
        }
    }

    /// Stops a poll that is still running (exit, or a poll that took too long).
    pub fn abort(mut self) {
        self.stop();
    }

    /// Kills and reaps the running command (a dropped `Child` is never reaped).
    fn stop(&mut self) {
        self.stdout = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The most output taken from one command. A real stats map is far smaller (about 40 keys per
/// link: 32 nodes with 8 links each print under 1 MiB); more is a broken or wrong tool, stopped
/// rather than read for the rest of the poll's bound (a flood kept the loop reading at half a
/// core) or cut in the middle of a line.
pub const MAX_OUTPUT: usize = 4 << 20;

/// How reading a command's output stopped.
enum ReadEnd {
    /// The output ended.
    Eof,
    /// Nothing more there yet.
    Pending,
    /// More than `MAX_OUTPUT`.
    TooLong,
}

/// Reads what `from` has into `into`, at most `MAX_OUTPUT` in all.
fn read_output(from: &mut ChildStdout, into: &mut Vec<u8>) -> io::Result<ReadEnd> {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(ReadEnd::Eof),
            Ok(n) => {
                if into.len() + n > MAX_OUTPUT {
                    return Ok(ReadEnd::TooLong);
                }
                into.extend_from_slice(buf.get(..n).unwrap_or_default());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadEnd::Pending),
            Err(e) => return Err(e),
        }
    }
}

fn spawn(tool: &str, args: &[&str]) -> io::Result<(Child, ChildStdout)> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout"))?;
    set_nonblocking(&stdout)?;
    Ok((child, stdout))
}

fn set_nonblocking(f: &ChildStdout) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(f, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    fcntl(
        f,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(io::Error::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from two corosync 3.1.7 instances over a veth pair in namespaces.
    const CONFIG: &str = "\
nodelist.local_node_pos (u32) = 0
nodelist.node.0.name (str) = fw-a
nodelist.node.0.nodeid (u32) = 1
nodelist.node.0.ring0_addr (str) = 198.51.100.1
nodelist.node.0.ring1_addr (str) = 203.0.113.1
nodelist.node.1.name (str) = fw-b
nodelist.node.1.nodeid (u32) = 2
nodelist.node.1.ring0_addr (str) = 198.51.100.2
nodelist.node.1.ring1_addr (str) = 203.0.113.2
runtime.votequorum.this_node_id (u32) = 1
";
    const STATS: &str = "\
stats.knet.node1.link0.connected (u8) = 1
stats.knet.node1.link1.connected (u8) = 1
stats.knet.node2.link0.connected (u8) = 1
stats.knet.node2.link1.connected (u8) = 0
";

    #[test]
    fn rings_follow_the_links_to_the_peer() {
        let r = rings(&parse_cmap(CONFIG), &parse_cmap(STATS)).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].ring, r[0].addr.as_str(), r[0].state),
            (0, "198.51.100.1", RingState::Up)
        );
        assert_eq!(
            (r[1].ring, r[1].addr.as_str(), r[1].state),
            (1, "203.0.113.1", RingState::Faulty)
        );
    }

    #[test]
    fn local_node_pos_is_enough_without_votequorum() {
        let config: String = CONFIG
            .lines()
            .filter(|l| !l.starts_with("runtime."))
            .map(|l| format!("{l}\n"))
            .collect();
        let r = rings(&parse_cmap(&config), &parse_cmap(STATS)).unwrap();
        assert_eq!(r[0].addr, "198.51.100.1");
    }

    #[test]
    fn a_peer_without_stats_is_a_faulty_link() {
        let r = rings(&parse_cmap(CONFIG), &BTreeMap::new()).unwrap();
        assert!(r.iter().all(|r| r.state == RingState::Faulty));
    }

    #[test]
    fn ring_named_by_host_takes_the_address_corosync_runs_it_on() {
        // `pcs cluster setup` writes names: the attribute read "fw-a is UP". Captured from
        // corosync 3.1.7 with ring0_addr: fw-a, ring1_addr: fw-a-r1 (in /etc/hosts).
        let named = CONFIG
            .replace("ring0_addr (str) = 198.51.100.1", "ring0_addr (str) = fw-a")
            .replace(
                "ring1_addr (str) = 203.0.113.1",
                "ring1_addr (str) = fw-a-r1",
            );
        let with_members = format!(
            "{named}runtime.members.1.ip (str) = r(0) ip(198.51.100.1) r(1) ip(203.0.113.1) \n\
             runtime.members.2.ip (str) = r(0) ip(198.51.100.2) r(1) ip(203.0.113.2) \n"
        );
        let r = rings(&parse_cmap(&with_members), &parse_cmap(STATS)).unwrap();
        assert_eq!(
            (r[0].addr.as_str(), r[1].addr.as_str()),
            ("198.51.100.1", "203.0.113.1")
        );
        // Without the runtime key the name is passed on, for the daemon to resolve.
        let r = rings(&parse_cmap(&named), &parse_cmap(STATS)).unwrap();
        assert_eq!(
            (r[0].addr.as_str(), r[1].addr.as_str()),
            ("fw-a", "fw-a-r1")
        );
        assert_eq!(
            member_addresses("r(0) ip(2001:db8::1) r(1) ip(nonsense) r(x) ip(198.51.100.9)"),
            BTreeMap::from([(0, "2001:db8::1".parse().unwrap())])
        );
    }

    #[test]
    fn garbage_never_panics() {
        assert!(rings(&parse_cmap("x = y\n = \n(((= )"), &BTreeMap::new()).is_none());
        let m = parse_cmap("runtime.votequorum.this_node_id (u32) = 99\n");
        assert!(rings(&m, &BTreeMap::new()).is_none());
    }
}
