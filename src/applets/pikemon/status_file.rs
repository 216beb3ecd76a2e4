//! The status file: the boot counter and, per virtual cluster, the role, since when and why.
//! Written atomically (temp + fsync + rename) on every change; read at start to resume the
//! role (Kernun semantics: a restarted worker keeps playing Master without a gap). A corrupt
//! or missing file means: start as Backup and listen for a dead-interval.
//!
//! ```text
//! # pikemon status: the roles hold only while the writer runs (`pikemon -c status` tells)
//! boot 7
//! writer pid 4242 boot-id 0b6e4d3c-7f0a-4d8e-9c61-2b5f0e1d9a77
//! vc 1 Master 1763900000 peer silent, probe unanswered
//! maintenance 1
//! ```
//!
//! The file outlives its writer: a worker SIGKILLed (with its supervisor) or a reboot leaves
//! `Master` in it while the node holds nothing (the VIPs go with their lease). The `writer`
//! line names the process and the kernel boot (`/proc/sys/kernel/random/boot_id`) that wrote
//! it, so a reader tells a live record from a stale one (`Status::writer_state`).

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

/// The process that wrote the file: its pid and the kernel boot it ran in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    pub pid: u32,
    pub boot_id: String,
}

impl Writer {
    /// This process in this boot (boot id `-` where /proc does not tell).
    pub fn this_process() -> Writer {
        Writer {
            pid: std::process::id(),
            boot_id: kernel_boot_id().unwrap_or_else(|| "-".into()),
        }
    }
}

/// The kernel's boot id: a new one at every boot.
fn kernel_boot_id() -> Option<String> {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = text.trim();
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| id.to_string())
}

/// Whether the writer of a status file still runs, as a reader on the same host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriterState {
    /// A pikemon worker runs with the recorded pid, in this boot.
    Running { pid: u32 },
    /// It runs, but is stopped (SIGSTOP, a frozen cgroup): it holds what it held, renews
    /// nothing, and answers nobody.
    Stopped { pid: u32 },
    /// No pikemon worker has the recorded pid: killed, crashed or stopped.
    Gone { pid: u32 },
    /// Written before the last reboot.
    EarlierBoot { pid: u32 },
    /// A file of an older pikemon, without a `writer` line: who wrote it is unknown.
    Unknown,
}

impl std::fmt::Display for WriterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriterState::Running { pid } => write!(f, "pikemon (pid {pid}) is running"),
            WriterState::Stopped { pid } => write!(
                f,
                "pikemon (pid {pid}) is stopped (SIGSTOP or frozen): it answers nothing and \
                 renews no VIP lease"
            ),
            WriterState::Gone { pid } => write!(f, "stale: pikemon (pid {pid}) is not running"),
            WriterState::EarlierBoot { pid } => write!(
                f,
                "stale: written by pikemon (pid {pid}) before the last reboot"
            ),
            WriterState::Unknown => {
                write!(f, "unknown: no writer line (written by an older pikemon)")
            }
        }
    }
}

/// The whole status file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    pub boot: u32,
    /// Who wrote it; None in a file of an older pikemon.
    pub writer: Option<Writer>,
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
                "writer" => {
                    let rest: Vec<&str> = line.split_whitespace().skip(1).collect();
                    let ["pid", pid, "boot-id", id] = rest.as_slice() else {
                        return None;
                    };
                    st.writer = Some(Writer {
                        pid: pid.parse().ok()?,
                        boot_id: id.to_string(),
                    });
                }
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
        let mut s = String::from(
            "# pikemon status: the roles hold only while the writer runs (`pikemon -c status` tells)\n",
        );
        let _ = writeln!(s, "boot {}", self.boot);
        if let Some(w) = &self.writer {
            let _ = writeln!(s, "writer pid {} boot-id {}", w.pid, w.boot_id);
        }
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

    /// Whether the writer still runs, judged against this host's boot id and processes.
    pub fn writer_state(&self) -> WriterState {
        let Some(w) = &self.writer else {
            return WriterState::Unknown;
        };
        let pid = w.pid;
        if kernel_boot_id().is_some_and(|now| now != w.boot_id) {
            return WriterState::EarlierBoot { pid };
        }
        // The pid may have been reused since: only a pikemon worker counts, by its title or,
        // should setting that have failed, by its argument.
        let title = crate::sys::procfs::cmdline(pid as i32);
        let worker = title.starts_with(b"pikemon: worker")
            || title.split(|&b| b == 0).any(|arg| arg == b"--worker");
        if !worker {
            return WriterState::Gone { pid };
        }
        match crate::sys::procfs::state(pid as i32) {
            Some('T' | 't') => WriterState::Stopped { pid },
            Some('Z' | 'X' | 'x') | None => WriterState::Gone { pid },
            Some(_) => WriterState::Running { pid },
        }
    }

    /// One line per virtual cluster, `vc ID ROLE` and what `state` makes of it: `(not held)`
    /// when the writer is gone; a stopped writer's addresses last until their lease runs out
    /// (seconds: `takeover::vip_lease`).
    pub fn roles_text(&self, state: &WriterState) -> String {
        let note = match state {
            WriterState::Running { .. } => "",
            WriterState::Stopped { .. } => " (not renewed: its VIPs go when their lease runs out)",
            WriterState::Unknown => " (unknown whether held)",
            WriterState::Gone { .. } | WriterState::EarlierBoot { .. } => " (not held)",
        };
        let mut s = String::new();
        for r in &self.roles {
            let role = if r.master { "Master" } else { "Backup" };
            let _ = writeln!(s, "vc {} {role}{note}", r.vcid);
        }
        s
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
    st.writer = Some(Writer::this_process());
    if let Err(e) = st.store(path) {
        log::warn!(
            "{}: {e}: the boot counter is not saved, and neither will roles or maintenance \
             be until the file can be written",
            path.display()
        );
    }
    Ok((st.boot, old))
}

/// The state letter of `/proc/PID/stat` (R, S, D, T, Z ...).
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
            writer: Some(Writer {
                pid: 4242,
                boot_id: "0b6e4d3c-7f0a-4d8e-9c61-2b5f0e1d9a77".into(),
            }),
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
            "# pikemon status: the roles hold only while the writer runs (`pikemon -c status` \
             tells)\nboot 7\nwriter pid 4242 boot-id 0b6e4d3c-7f0a-4d8e-9c61-2b5f0e1d9a77\n\
             vc 1 Master 1763900000 peer silent, probe unanswered\nmaintenance 2\n"
        );
        assert_eq!(Status::parse("boot 1\nwriter pid x boot-id y\n"), None);
        assert_eq!(Status::parse("boot 1\nwriter pid 5\n"), None);
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

    /// The status file of a pikemon killed whole (or of the boot before) said `Master`, and
    /// nothing in it told a reader that no process held that role any more.
    #[test]
    fn status_file_of_a_killed_pikemon_said_master_with_nothing_to_tell_it_stale() {
        let mut st = Status::parse("boot 3\nvc 1 Master 5 peer silent\n")
            .unwrap_or_else(|| panic!("does not parse"));
        assert_eq!(st.writer_state(), WriterState::Unknown);
        // This test process has a pid and this boot's id, but is no pikemon worker.
        st.writer = Some(Writer::this_process());
        let me = std::process::id();
        assert_eq!(st.writer_state(), WriterState::Gone { pid: me });
        assert_eq!(
            st.writer_state().to_string(),
            format!("stale: pikemon (pid {me}) is not running")
        );
        st.writer = Some(Writer {
            pid: me,
            boot_id: "00000000-0000-0000-0000-000000000000".into(),
        });
        assert_eq!(st.writer_state(), WriterState::EarlierBoot { pid: me });
        assert_eq!(
            st.roles_text(&st.writer_state()),
            "vc 1 Master (not held)\n"
        );
        let read = Status::parse(&st.render()).unwrap_or_else(|| panic!("does not parse"));
        assert_eq!(read, st);
    }

    #[test]
    fn boot_counter_is_persisted_before_use() {
        let dir = std::env::temp_dir().join(format!("pikest{}", std::process::id()));
        let path = dir.join("sub/status");
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(next_boot(&path).unwrap(), (1, None));
        let (b, old) = next_boot(&path).unwrap();
        assert_eq!((b, old.map(|o| o.boot)), (2, Some(1)));
        let saved = Status::load(&path).unwrap();
        assert_eq!(saved.boot, 2);
        assert_eq!(saved.writer, Some(Writer::this_process()));
        fs::write(&path, "rubbish").unwrap();
        assert_eq!(next_boot(&path).unwrap(), (1, None));
        let _ = fs::remove_dir_all(&dir);
    }
}
