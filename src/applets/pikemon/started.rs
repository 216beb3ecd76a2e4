//! The config a daemon started with, kept for its children: the supervisor reads the config
//! file (and every `hmac file`) once, and the worker and the ACR — every restart of them
//! included — parse that text, never the file. A file edited on disk (a typo half-way, a new
//! node-id or VIP) thus reaches only a new instance (SIGHUP hand-over, then `pikemon -f`),
//! never a restarted worker, which resumes the role of the config that was started.
//!
//! The snapshot travels as a sealed memfd (`sys::memfd`), inherited by the child and named
//! in `ENV`, like the worker's packet sockets (`sockets`) and its liveness pipe.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use super::config::{Config, KeySource};

/// Names the snapshot's fd in a child's environment.
pub const ENV: &str = "PIKEMON_STARTED_CONFIG";

/// The first bytes of an encoded snapshot.
const MAGIC: &[u8] = b"PIKEMON-STARTED-1\n";

/// The longest snapshot read back: the config (4 MiB at most) and a few key files.
const MAX_LEN: usize = 8 * 1024 * 1024;

/// What the daemon read at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedConfig {
    /// The config file's text.
    pub text: String,
    /// Each `hmac file`'s key as the daemon used it (its trailing newline dropped), by path.
    pub key_files: BTreeMap<PathBuf, Vec<u8>>,
}

/// Why a child could not take the snapshot its supervisor passed.
#[derive(Debug)]
pub enum Error {
    /// `ENV` is not set: a child started by something other than the supervisor.
    Missing,
    /// `ENV` does not name an open fd.
    BadFd(String),
    Read(std::io::Error),
    /// The bytes are not a snapshot (`what` says where they stop being one).
    Malformed(&'static str),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Missing => write!(f, "{ENV} is not set (started other than by the supervisor)"),
            Error::BadFd(why) => write!(f, "{ENV}: {why}"),
            Error::Read(e) => write!(f, "reading the config snapshot: {e}"),
            Error::Malformed(what) => write!(f, "the config snapshot is malformed: {what}"),
        }
    }
}

impl StartedConfig {
    /// The snapshot of `text`, read as `config`: the key files' contents are those it used.
    pub fn of(text: String, config: &Config) -> StartedConfig {
        let key_files = config
            .keys
            .iter()
            .filter_map(|k| match &k.source {
                KeySource::File(path) => Some((path.clone(), k.secret.clone())),
                KeySource::Inline => None,
            })
            .collect();
        StartedConfig { text, key_files }
    }

    /// `MAGIC`, the text, the number of key files, then each key file's path and key; every
    /// number and length a u32, little endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        // Config and key files are capped far below 4 GiB when read.
        let put = |out: &mut Vec<u8>, bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        };
        put(&mut out, self.text.as_bytes());
        out.extend_from_slice(&(self.key_files.len() as u32).to_le_bytes());
        for (path, key) in &self.key_files {
            put(&mut out, path.as_os_str().as_encoded_bytes());
            put(&mut out, key);
        }
        out
    }

    /// The snapshot `encode` wrote; anything else is `Malformed`.
    pub fn decode(bytes: &[u8]) -> Result<StartedConfig, Error> {
        let mut rest = bytes
            .strip_prefix(MAGIC)
            .ok_or(Error::Malformed("no header"))?;
        let text = String::from_utf8(field(&mut rest, "the config text")?.to_vec())
            .map_err(|_| Error::Malformed("the config text is not UTF-8"))?;
        let count = number(&mut rest, "the number of key files")?;
        let mut key_files = BTreeMap::new();
        for _ in 0..count {
            let path = std::str::from_utf8(field(&mut rest, "a key file's path")?)
                .map_err(|_| Error::Malformed("a key file's path is not UTF-8"))?;
            let key = field(&mut rest, "a key file's key")?;
            key_files.insert(PathBuf::from(path), key.to_vec());
        }
        if !rest.is_empty() {
            return Err(Error::Malformed("bytes after the last key file"));
        }
        Ok(StartedConfig { text, key_files })
    }

    /// The snapshot in a sealed memfd, for `hand_to`.
    /// A snapshot longer than a child reads is refused here, at start, with the reason.
    pub fn seal(&self) -> std::io::Result<OwnedFd> {
        let bytes = self.encode();
        if bytes.len() > MAX_LEN {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the config and its key files are {} bytes together, more than the {MAX_LEN} \
                     a worker reads",
                    bytes.len()
                ),
            ));
        }
        crate::sys::memfd::sealed("pikemon-config", &bytes)
    }

    /// The snapshot `ENV` names, passed by the supervisor; `ENV` is removed so that this
    /// process's own children (hooks, scripts) neither see it nor inherit the fd.
    pub fn from_env() -> Result<StartedConfig, Error> {
        let text = std::env::var_os(ENV).ok_or(Error::Missing)?;
        std::env::remove_var(ENV);
        let raw: RawFd = text
            .to_str()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| Error::BadFd(format!("'{}' is no fd", text.to_string_lossy())))?;
        let fd = crate::sys::adopt_inherited(raw).map_err(|e| Error::BadFd(e.to_string()))?;
        let bytes = crate::sys::memfd::read_sealed(fd.as_fd(), MAX_LEN).map_err(Error::Read)?;
        StartedConfig::decode(&bytes)
    }
}

/// The next u32 of `rest`, which moves past it.
fn number(rest: &mut &[u8], what: &'static str) -> Result<u32, Error> {
    let (n, tail) = rest
        .split_first_chunk::<4>()
        .ok_or(Error::Malformed(what))?;
    *rest = tail;
    Ok(u32::from_le_bytes(*n))
}

/// The next length-prefixed field of `rest`, which moves past it.
fn field<'a>(rest: &mut &'a [u8], what: &'static str) -> Result<&'a [u8], Error> {
    let len = number(rest, what)? as usize;
    let tail = *rest;
    if tail.len() < len {
        return Err(Error::Malformed(what));
    }
    let (value, tail) = tail.split_at(len);
    *rest = tail;
    Ok(value)
}

/// Passes the sealed snapshot `fd` to a child `cmd` will start: an inheritable copy named in
/// `ENV`. Drop what this returns once the child is started; the child reads from offset 0,
/// whatever the offset the copies share.
pub fn hand_to(fd: &OwnedFd, cmd: &mut std::process::Command) -> std::io::Result<OwnedFd> {
    // dup(2) leaves close-on-exec clear on the copy: the child inherits it.
    let copy = nix::unistd::dup(fd.as_fd())?;
    cmd.env(ENV, copy.as_raw_fd().to_string());
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config with many big key files passed the daemon's own limits (4 MiB of config, 64
    /// KiB per key) and came to more than a worker reads: the daemon started, and every worker
    /// refused the copy with the reason on a stderr nobody saw. It is refused at start now.
    #[test]
    fn a_snapshot_longer_than_a_worker_reads_started_the_daemon() {
        let mut big = sample();
        for i in 0..140 {
            big.key_files
                .insert(PathBuf::from(format!("/k/{i}")), vec![b'k'; 64 * 1024]);
        }
        let e = big.seal().expect_err("sealed a snapshot no worker reads");
        assert!(e.to_string().contains("more than the"), "{e}");
        assert!(sample().seal().is_ok());
    }

    fn sample() -> StartedConfig {
        StartedConfig {
            text: "version PIKEMON-1;\npikemon { node-id 1; }\n".into(),
            key_files: BTreeMap::from([
                (
                    PathBuf::from("/etc/habox/pike.key"),
                    b"0123456789abcdef".to_vec(),
                ),
                (PathBuf::from("/etc/habox/old.key"), vec![0, 255, b'\n', 7]),
            ]),
        }
    }

    #[test]
    fn snapshot_round_trips_text_and_key_files() {
        let s = sample();
        assert_eq!(StartedConfig::decode(&s.encode()).unwrap(), s);
        let empty = StartedConfig {
            text: String::new(),
            key_files: BTreeMap::new(),
        };
        assert_eq!(StartedConfig::decode(&empty.encode()).unwrap(), empty);
    }

    #[test]
    fn truncated_or_garbage_snapshot_is_an_error_never_a_panic() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert!(
                StartedConfig::decode(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(StartedConfig::decode(&longer).is_err());
        assert!(StartedConfig::decode(b"garbage").is_err());
        // A length past the end is refused before anything is allocated.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(StartedConfig::decode(&huge).is_err());
    }
}
