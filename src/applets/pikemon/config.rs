//! pikemon's configuration: the model (`Config`, `VirtualCluster`, `ControlledInterface`,
//! `PingGroup`) and its reader over the Kernun-style statement tree of `conf::tree`.
//!
//! Every item is range-checked; every problem is collected with its `FILE:LINE:COL` and the
//! whole list is returned, so `test-pikemon` and `pikemon` print all of them at once. The
//! items are documented in doc/pikemon.cfg.5.md.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use crate::conf::tree::{parse, Node};
use crate::conf::{Errors, Span, Token};

use super::values;

/// The first line every config carries.
pub const VERSION: &str = "PIKEMON-1";
/// Shortest HMAC key accepted (bytes): 128 bits.
pub const MIN_KEY_LEN: usize = 16;
/// Most virtual clusters one pair runs (they all ride in one HELLO).
pub const MAX_VCS: usize = 32;

/// A whole pikemon configuration, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub node_id: u32,
    pub cluster_id: u32,
    pub status_file: PathBuf,
    pub pid_file: PathBuf,
    pub control_socket: PathBuf,
    pub paths_file: PathBuf,
    /// Every transition as a line `VC NAME ROLE REASON`, in order (keepalived's
    /// notify_fifo), for monitoring and for scripts that must not race the hooks.
    pub notify_fifo: Option<PathBuf>,
    pub log_level: u8,
    /// SCHED_FIFO priority of the worker (with its memory locked), None: normal scheduling.
    pub realtime: Option<u8>,
    /// HMAC keys; the first one signs, every one verifies (key rotation).
    pub keys: Vec<HmacKey>,
    /// Heart-beat interfaces in ring order.
    pub heart_beat: Vec<String>,
    /// `death-watch local [A] peer [B] [port N];` in `heart-beat`: a TCP connection between
    /// the two supervisors whose close tells the peer at once that this daemon died.
    pub death_watch: Option<DeathWatch>,
    pub hello_interval: Duration,
    pub dead_interval: Duration,
    pub garp_repeat: u32,
    pub garp_interval: Duration,
    /// Zero: no keep-alive GARPs.
    pub garp_keepalive: Duration,
    pub resolve_interval: Duration,
    /// `conntrack { ... }` for every virtual cluster without its own.
    pub conntrack: Option<Conntrack>,
    pub virtual_clusters: Vec<VirtualCluster>,
}

/// The death-watch endpoints (see `Config::death_watch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeathWatch {
    pub local: Ipv4Addr,
    pub peer: Ipv4Addr,
    pub port: u16,
}

/// The death-watch's TCP port unless `port N` says otherwise.
pub const DEATH_WATCH_PORT: u16 = 7013;

/// Where an HMAC key came from (only the source is ever shown, never the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    Inline,
}

/// One HMAC-SHA256 key with its id.
#[derive(Clone, PartialEq, Eq)]
pub struct HmacKey {
    pub id: u16,
    pub source: KeySource,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log or a debug dump.
        f.debug_struct("HmacKey")
            .field("id", &self.id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// One virtual cluster: a set of addresses that move together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualCluster {
    pub name: String,
    pub id: u16,
    /// The node that wants to be Master (`primary node N`), if any.
    pub primary: Option<u32>,
    pub preemptive: bool,
    pub preempt_delay: Duration,
    pub priority: u8,
    pub interfaces: Vec<ControlledInterface>,
    pub ping_groups: Vec<PingGroup>,
    /// More witnesses of the node's health (`track-process`, `track-file`, `track-script`).
    pub tracks: Vec<Track>,
    pub notify_master: Option<String>,
    pub notify_backup: Option<String>,
    /// Run when the virtual cluster's health goes Down.
    pub notify_fault: Option<String>,
    /// Run when pikemon stops (after the Backup hook of a Master it gave up).
    pub notify_stop: Option<String>,
    /// A hook still running after this is killed (with its process group).
    pub notify_timeout: Duration,
    /// `conntrack { ... }` of this virtual cluster (overrides the node's).
    pub conntrack: Option<Conntrack>,
}

/// Default `notify-timeout`.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// An interface whose virtual addresses the Master carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlledInterface {
    pub name: String,
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    /// Virtual IPv6 addresses (added without DAD on the macvlan).
    pub ipv6: Vec<(Ipv6Addr, u8)>,
    /// The virtual link-local address (`link-local`); `None`: derived from the virtual MAC.
    pub link_local: Option<Ipv6Addr>,
    pub nomadic: bool,
    pub mac: Option<[u8; 6]>,
    /// The VIPs may lie outside every subnet of the interface (`onlink yes;`).
    pub onlink: bool,
}

impl ControlledInterface {
    /// The virtual MAC: the configured `mac`, else `02:<first IPv4 VIP's bytes>:00`, else (an
    /// IPv6-only interface) `02:<last four bytes of the first IPv6 VIP>:00`.
    pub fn virtual_mac(&self) -> [u8; 6] {
        if let Some(m) = self.mac {
            return m;
        }
        let o = match (self.ipv4.first(), self.ipv6.first()) {
            (Some((a, _)), _) => a.octets(),
            (None, Some((a, _))) => {
                let b = a.octets();
                [b[12], b[13], b[14], b[15]]
            }
            (None, None) => [0; 4],
        };
        [0x02, o[0], o[1], o[2], o[3], 0x00]
    }

    /// The virtual link-local address: the configured one, else the modified EUI-64 address of
    /// the virtual MAC (RFC 4291), the same on both nodes.
    pub fn virtual_link_local(&self) -> Ipv6Addr {
        self.link_local.unwrap_or_else(|| {
            crate::wire::ndisc::link_local_of(crate::wire::ethernet::MacAddr(self.virtual_mac()))
        })
    }

    /// The macvlan's name: `pk` + vcid + `-` + parent, cut to IFNAMSIZ.
    pub fn macvlan_name(&self, vcid: u16) -> String {
        let mut n = format!("pk{vcid}-{}", self.name);
        n.truncate(15);
        n
    }
}

/// A ping target: an address, or a host name the ACR resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An IPv4 or IPv6 address (pinged over ICMP or ICMPv6).
    Addr(IpAddr),
    Name(String),
}

/// Witnesses: the node is healthy for this group while `min_up` hosts answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingGroup {
    pub name: String,
    pub hosts: Vec<Host>,
    pub min_up: u32,
    pub interval: Duration,
    pub timeout: Duration,
    pub fall: u32,
    pub rise: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            node_id: 0,
            cluster_id: 1,
            status_file: PathBuf::from("/var/lib/pikemon/status"),
            pid_file: PathBuf::from("/run/pikemon.pid"),
            control_socket: PathBuf::from("/run/pikemon.sock"),
            paths_file: PathBuf::from("/run/pikemon/paths"),
            notify_fifo: None,
            log_level: 5,
            realtime: None,
            keys: Vec::new(),
            heart_beat: Vec::new(),
            death_watch: None,
            hello_interval: Duration::from_secs(1),
            dead_interval: Duration::from_secs(3),
            garp_repeat: 3,
            garp_interval: Duration::from_millis(100),
            garp_keepalive: Duration::from_secs(60),
            resolve_interval: Duration::from_secs(60),
            conntrack: None,
            virtual_clusters: Vec::new(),
        }
    }
}

impl Config {
    /// How virtual cluster `vi` reaches conntrackd: its own section, else the node's.
    pub fn conntrack_of(&self, vi: usize) -> Option<&Conntrack> {
        let vc = self.virtual_clusters.get(vi)?;
        vc.conntrack.as_ref().or(self.conntrack.as_ref())
    }
}

impl VirtualCluster {
    fn new(name: String) -> VirtualCluster {
        VirtualCluster {
            name,
            id: 0,
            primary: None,
            preemptive: false,
            preempt_delay: Duration::ZERO,
            priority: 100,
            interfaces: Vec::new(),
            ping_groups: Vec::new(),
            tracks: Vec::new(),
            notify_master: None,
            notify_backup: None,
            notify_fault: None,
            notify_stop: None,
            notify_timeout: NOTIFY_TIMEOUT,
            conntrack: None,
        }
    }

    /// Its virtual addresses, IPv4 then IPv6 per interface.
    pub fn vips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.interfaces.iter().flat_map(|ci| {
            let v4 = ci.ipv4.iter().map(|(a, _)| IpAddr::V4(*a));
            v4.chain(ci.ipv6.iter().map(|(a, _)| IpAddr::V6(*a)))
        })
    }
}

impl PingGroup {
    fn new(name: String) -> PingGroup {
        PingGroup {
            name,
            hosts: Vec::new(),
            min_up: 1,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            fall: 3,
            rise: 2,
        }
    }
}

/// How to read a config.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Resolve ping-group host names now; a name that does not resolve is an error.
    pub resolve: bool,
    /// Check the VIPs against this host's interfaces (pikemon and test-pikemon on the node).
    pub check_host: bool,
}

/// The longest config file read (a FIFO, a device or a runaway file is an error, not a hang).
const MAX_CONFIG_LEN: u64 = 4 * 1024 * 1024;

/// Reads the config file at `path`.
pub fn load(path: &str, opts: ReadOptions) -> Result<Config, Errors> {
    read(path, &load_text(path)?, opts)
}

/// The text of the config file at `path` (a failure as an error at `path`).
pub fn load_text(path: &str) -> Result<String, Errors> {
    crate::conf::file::read(std::path::Path::new(path), MAX_CONFIG_LEN).map_err(|e| {
        let mut errors = Errors::new();
        let span = Span::new(&std::rc::Rc::from(path), 0, 0);
        errors.push(&span, format!("cannot read: {e}"));
        errors
    })
}

/// Reads config text; `file` names it in errors.
pub fn read(file: &str, text: &str, opts: ReadOptions) -> Result<Config, Errors> {
    read_inner(file, text, opts, None)
}

/// Reads config text as `read` does, but takes each `hmac file`'s key from `key_files` (what
/// the daemon read at start, see `started`) instead of the disk.
pub fn read_with_key_files(
    file: &str,
    text: &str,
    opts: ReadOptions,
    key_files: &BTreeMap<PathBuf, Vec<u8>>,
) -> Result<Config, Errors> {
    read_inner(file, text, opts, Some(key_files))
}

fn read_inner(
    file: &str,
    text: &str,
    opts: ReadOptions,
    key_files: Option<&BTreeMap<PathBuf, Vec<u8>>>,
) -> Result<Config, Errors> {
    let (nodes, mut errors) = parse(file, text);
    let mut r = Reader {
        errors: &mut errors,
        opts,
        names: Vec::new(),
        key_files,
        own: None,
    };
    let config = r.top(file, &nodes);
    errors.into_result(config)
}

struct Reader<'e> {
    errors: &'e mut Errors,
    opts: ReadOptions,
    /// The ping-group host names read, with where: with `resolve`, each is looked up once
    /// every VIP of the config is known (`resolve_check`).
    names: Vec<(String, Span)>,
    /// The keys of the `hmac file` items, when they come from the daemon's start rather
    /// than the disk.
    key_files: Option<&'e BTreeMap<PathBuf, Vec<u8>>>,
    /// This machine's addresses, listed once when first needed (`check_host` only).
    own: Option<Vec<std::net::IpAddr>>,
}

/// Singleton items seen in one section, for "duplicate" errors.
#[derive(Default)]
struct Seen(HashMap<String, Span>);

impl Reader<'_> {
    fn err(&mut self, span: &Span, msg: impl Into<String>) {
        self.errors.push(span, msg);
    }

    /// An item with exactly `n` arguments and no body.
    fn item(&mut self, node: &Node, n: usize) -> bool {
        if node.body.is_some() {
            self.err(
                node.span(),
                format!(
                    "'{}' is an item, not a section{}",
                    node.key(),
                    missing_semicolon(node)
                ),
            );
            return false;
        }
        if node.args.len() != n {
            let hint = if node.args.len() > n {
                missing_semicolon(node)
            } else {
                String::new()
            };
            self.err(
                node.span(),
                format!(
                    "'{}' takes {n} argument{}, found {}{hint}",
                    node.key(),
                    if n == 1 { "" } else { "s" },
                    node.args.len()
                ),
            );
            return false;
        }
        true
    }

    /// A section with exactly `n` arguments (its name) and a body.
    fn section(&mut self, node: &Node, n: usize) -> bool {
        if node.body.is_none() {
            self.err(
                node.span(),
                format!("'{}' is a section: expected '{{ ... }}'", node.key()),
            );
            return false;
        }
        if node.args.len() != n {
            let what = if n == 0 { "no name" } else { "one name" };
            self.err(
                node.span(),
                format!("section '{}' takes {what}", node.key()),
            );
            return false;
        }
        true
    }

    /// Records a singleton item; reports the second one.
    fn once(&mut self, seen: &mut Seen, node: &Node) -> bool {
        if let Some(first) = seen.0.get(node.key()) {
            let msg = format!("duplicate '{}' (first at {first})", node.key());
            self.err(node.span(), msg);
            return false;
        }
        seen.0.insert(node.key().to_string(), node.span().clone());
        true
    }

    fn value<T>(&mut self, tok: &Token, f: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        match f(&tok.text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(&tok.span, e);
                None
            }
        }
    }

    /// A one-argument singleton item's value.
    fn single<T>(
        &mut self,
        seen: &mut Seen,
        node: &Node,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        if !self.once(seen, node) || !self.item(node, 1) {
            return None;
        }
        self.value(&node.args[0], f)
    }

    fn unknown(&mut self, node: &Node, within: &str) {
        self.err(
            node.span(),
            format!("unknown item '{}' in {within}", node.key()),
        );
    }
}

fn absolute_path(text: &str) -> Result<PathBuf, String> {
    if !text.starts_with('/') {
        return Err(format!("'{text}' is not an absolute path"));
    }
    if text.contains('\0') {
        return Err("a path cannot contain NUL".into());
    }
    Ok(PathBuf::from(text))
}

/// ` (missing ';' at the end of line N?)` when an argument of `node` starts on a later line
/// than the token before it: the next statement was read as more arguments. Else empty.
fn missing_semicolon(node: &Node) -> String {
    let mut line = node.name.span.line;
    for arg in &node.args {
        if arg.span.line > line {
            return format!(" (missing ';' at the end of line {line}?)");
        }
        line = arg.span.line;
    }
    String::new()
}

/// A key file holds the secret; a trailing newline is not part of it.
fn trim_key(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    while v.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        v.pop();
    }
    v
}

#[path = "config_checks.rs"]
mod checks;
#[path = "config_conntrack.rs"]
mod conntrack;
#[path = "config_files.rs"]
mod files;
#[path = "config_heart_beat.rs"]
mod heart_beat;
#[path = "config_socket.rs"]
mod socket;
pub use socket::{control_socket, control_socket_in, status_file, status_file_in};
#[path = "config_vc.rs"]
mod vc;
pub use conntrack::{Conntrack, COMMIT_TIMEOUT, CONNTRACKD_SOCKET};
#[path = "config_top.rs"]
mod top;
#[path = "config_track.rs"]
mod track;
pub use track::{Track, TrackKind};

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
#[cfg(test)]
#[path = "config_vc_tests.rs"]
mod vc_tests;
