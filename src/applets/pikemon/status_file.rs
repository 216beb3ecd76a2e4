//! The status file: the boot counter and, per virtual cluster, the role, since when and why.
//! Written atomically (temp + fsync + rename) on every change; read at start to resume the
//! role (Kernun semantics: a restarted worker keeps playing Master without a gap). A corrupt
//! or missing file means: start as Backup and listen for a dead-interval.
//!
//! ```text
//! # pikemon status
//! boot 7
//! vc 1 Master 1763900000 peer silent, probe unanswered
//! maintenance 1
//! ```

use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// The longest status file read: a line per virtual cluster is far less.
const MAX_LEN: u64 = 64 * 1024;

/// One virtual cluster's saved role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedRole {
    pub vcid: u16,
    pub master: bool,
    /// Seconds since the epoch.
    pub since: u64,
    pub reason: String,
}

/// The whole status file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    pub boot: u32,
    pub roles: Vec<SavedRole>,
    /// Virtual clusters (ids) the administrator put in maintenance: kept across restarts.
    pub maintenance: Vec<u16>,
}

impl Status {
    /// Parses the text; None when anything is off (the file is then ignored as corrupt).
    pub fn parse(text: &str) -> Option<Status> {
        let mut st = Status::default();
        let mut boot = None;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut w = line.splitn(5, ' ');
            match w.next()? {
                "boot" => boot = Some(w.next()?.parse().ok()?),
                "maintenance" => st.maintenance.push(w.next()?.parse().ok()?),
                "vc" => {
                    let vcid = w.next()?.parse().ok()?;
                    let master = match w.next()? {
                        "Master" => true,
                        "Backup" => false,
                        _ => return None,
                    };
                    let since = w.next()?.parse().ok()?;
                    // A lone CR is not a line end to `lines()`; `render` writes it as a space.
                    let reason = w.next().unwrap_or("").replace('\r', " ");
                    st.roles.push(SavedRole {
                        vcid,
                        master,
                        since,
                        reason,
                    });
                }
                _ => return None,
            }
        }
        st.boot = boot?;
        Some(st)
    }

    /// The text written to disk.
    pub fn render(&self) -> String {
        let mut s = String::from("# pikemon status\n");
        let _ = writeln!(s, "boot {}", self.boot);
        for r in &self.roles {
            let role = if r.master { "Master" } else { "Backup" };
            let reason = r.reason.replace(['\n', '\r'], " ");
            let _ = writeln!(s, "vc {} {role} {} {reason}", r.vcid, r.since);
        }
        for vcid in &self.maintenance {
            let _ = writeln!(s, "maintenance {vcid}");
        }
        s
    }

    /// The saved role of `vcid`.
    pub fn role(&self, vcid: u16) -> Option<bool> {
        self.roles.iter().find(|r| r.vcid == vcid).map(|r| r.master)
    }

    /// Reads `path`; None when missing or corrupt. Anything but a missing file is warned
    /// about: a FIFO, a device (/dev/zero) or a runaway file is corrupt, never read on and on.
    pub fn load(path: &Path) -> Option<Status> {
        match crate::conf::file::read(path, MAX_LEN) {
            Ok(t) => Status::parse(&t),
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                log::warn!("{}: {e}: ignored as corrupt", path.display());
                None
            }
        }
    }

    /// Writes `path` atomically.
    pub fn store(&self, path: &Path) -> io::Result<()> {
        write_atomic(path, self.render().as_bytes())
    }
}

/// Increments the boot counter in `path` and writes it back *before* it is used. The
/// counter only tells operators how often the daemon started: freshness on the wire keys on
/// a random incarnation per start (PIKE version 2), so a rolled-back file is harmless.
/// Returns the new boot and the previous status. A file that cannot be written (a full or
/// read-only disk) is warned about, not fatal: a worker that refused to start for it left the
/// node out of service, again at every restart, for a number that only counts starts.
pub fn next_boot(path: &Path) -> io::Result<(u32, Option<Status>)> {
    let old = Status::load(path);
    let mut st = old.clone().unwrap_or_default();
    st.boot = st.boot.wrapping_add(1).max(1);
    if let Err(e) = st.store(path) {
        log::warn!(
            "{}: {e}: the boot counter is not saved, and neither will roles or maintenance \
             be until the file can be written",
            path.display()
        );
    }
    Ok((st.boot, old))
}

pub use crate::sys::file::write_atomic;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::file::create_new;
    use std::fs;

    #[test]
    fn a_carriage_return_in_a_reason_reads_as_render_writes_it() {
        // Found by the pikemon_status_file fuzz target: the reason read back had a CR that
        // `render` turns into a space, so the next save changed what was read.
        let st = Status::parse("boot 7\nvc 1 Master 5 peer\rsilent\n");
        let st = st.unwrap_or_else(|| panic!("does not parse"));
        assert_eq!(st.roles[0].reason, "peer silent");
        assert_eq!(Status::parse(&st.render()), Some(st));
    }

    #[test]
    fn round_trip_and_corruption() {
        let st = Status {
            boot: 7,
            roles: vec![SavedRole {
                vcid: 1,
                master: true,
                since: 1_763_900_000,
                reason: "peer silent, probe unanswered".into(),
            }],
            maintenance: vec![2],
        };
        let text = st.render();
        assert_eq!(
            text,
            "# pikemon status\nboot 7\nvc 1 Master 1763900000 peer silent, probe unanswered\n\
             maintenance 2\n"
        );
        assert_eq!(Status::parse("boot 1\nmaintenance x\n"), None);
        assert_eq!(Status::parse(&text), Some(st));
        assert_eq!(Status::parse("boot x\n"), None);
        assert_eq!(Status::parse("vc 1 Master 5 r\n"), None, "no boot line");
        assert_eq!(Status::parse("boot 1\nvc 1 King 5\n"), None);
        assert_eq!(Status::parse("boot 1\ngarbage\n"), None);
        for n in 0..text.len() {
            let _ = Status::parse(&text[..n]);
        }
    }

    #[test]
    fn write_atomic_followed_a_symlink_planted_at_its_temp_name() {
        use std::os::unix::fs::symlink;
        let dir = std::env::temp_dir().join(format!("pikesym{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let (path, victim) = (dir.join("status"), dir.join("victim"));
        fs::write(&victim, "precious").unwrap();
        // The name the old code used, and one guessed exactly: neither is followed.
        let old_name = dir.join(format!("status.tmp{}", std::process::id()));
        symlink(&victim, &old_name).unwrap();
        write_atomic(&path, b"boot 1\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "boot 1\n");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        let err = create_new(&old_name).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        let dangling = dir.join("dangling");
        symlink(dir.join("nothing"), &dangling).unwrap();
        assert!(create_new(&dangling).is_err());
        assert!(
            !dir.join("nothing").exists(),
            "a dangling symlink made its target"
        );
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        // Nothing but the file, the victim and the planted links is left.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 4);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn boot_counter_is_persisted_before_use() {
        let dir = std::env::temp_dir().join(format!("pikest{}", std::process::id()));
        let path = dir.join("sub/status");
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(next_boot(&path).unwrap(), (1, None));
        let (b, old) = next_boot(&path).unwrap();
        assert_eq!((b, old.map(|o| o.boot)), (2, Some(1)));
        assert_eq!(Status::load(&path).unwrap().boot, 2);
        fs::write(&path, "rubbish").unwrap();
        assert_eq!(next_boot(&path).unwrap(), (1, None));
        let _ = fs::remove_dir_all(&dir);
    }
}
