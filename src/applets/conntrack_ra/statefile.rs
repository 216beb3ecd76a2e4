//! The promoted-state file: the agent's own marker that this node's conntrackd is promoted.
//!
//! Only a regular file whose first line is `MARKER` counts, and only such a file is ever
//! removed: an operator's `statefile` that names a directory, the conntrackd config or any
//! other file never reads as "promoted" and is never deleted or overwritten. The path must be
//! absolute (the agent's working directory is Pacemaker's, not the operator's) and differ from
//! `config`; its directory must exist, except for HA_RSCTMP (the default's), which the agent
//! creates as resource-agents' helpers do. Opens never follow a symlink (O_NOFOLLOW)
//! and never block on a FIFO (O_NONBLOCK).

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The first line the agent writes; the instance name follows on the second.
pub const MARKER: &str = "conntrack-ra promoted";

/// Enough of a file to see its first line.
const READ_LIMIT: u64 = 256;

/// The statefile parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    pub path: PathBuf,
    /// Its directory is HA_RSCTMP, the default's (`$HA_RSCTMP/conntrack-ra-INSTANCE.promoted`),
    /// which the agent creates when it is missing.
    pub creates_dir: bool,
    /// The resource's instance name: a file holding only this line is the marker of the
    /// agent before `MARKER` (promoted before an upgrade), and counts as the marker.
    pub instance: String,
}

/// Why the statefile parameter cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateFileError {
    /// Not an absolute path: invalid everywhere (OCF 6).
    Relative(PathBuf),
    /// The same file as conntrackd's config: invalid everywhere (OCF 6).
    IsConfig(PathBuf),
    /// Its directory does not exist on this host (OCF 2).
    NoDirectory(PathBuf),
    /// Something that is not the agent's marker is in its place on this host (OCF 2): a
    /// directory, a symlink, a FIFO, or a file with other content.
    Foreign(PathBuf, String),
    /// It could not be inspected (OCF 1).
    Io(PathBuf, String),
}

impl StateFileError {
    /// Whether the parameter is wrong whatever the host (OCF_ERR_CONFIGURED).
    pub fn everywhere(&self) -> bool {
        matches!(
            self,
            StateFileError::Relative(_) | StateFileError::IsConfig(_)
        )
    }
}

impl fmt::Display for StateFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateFileError::Relative(p) => {
                write!(f, "statefile {} is not an absolute path", p.display())
            }
            StateFileError::IsConfig(p) => write!(
                f,
                "statefile {} is conntrackd's config file, not a file of its own",
                p.display()
            ),
            StateFileError::NoDirectory(p) => {
                write!(f, "statefile {}: its directory does not exist", p.display())
            }
            StateFileError::Foreign(p, what) => write!(
                f,
                "statefile {} is {what}, not conntrack-ra's promoted marker",
                p.display()
            ),
            StateFileError::Io(p, e) => write!(f, "statefile {}: {e}", p.display()),
        }
    }
}

/// What is at the statefile's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    Nothing,
    /// A regular file with the marker.
    Marker,
    /// Anything else, described.
    Other(String),
}

fn open_flags() -> i32 {
    libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY
}

/// Reads what is at `path` without following a symlink or blocking on a FIFO.
fn inspect(path: &Path, instance: &str) -> Result<Found, StateFileError> {
    let io_err = |e: io::Error| StateFileError::Io(path.to_path_buf(), e.to_string());
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(e) => return Err(io_err(e)),
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Ok(Found::Other("a symbolic link".into()));
    }
    if kind.is_dir() {
        return Ok(Found::Other("a directory".into()));
    }
    if !kind.is_file() {
        return Ok(Found::Other("not a regular file".into()));
    }
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(open_flags())
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Nothing),
        // ELOOP: it became a symlink since the lstat.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Ok(Found::Other("a symbolic link".into()))
        }
        Err(e) => return Err(io_err(e)),
    };
    if !file.metadata().map_err(io_err)?.is_file() {
        return Ok(Found::Other("not a regular file".into()));
    }
    let mut head = Vec::new();
    file.take(READ_LIMIT)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let legacy = !instance.is_empty() && head == format!("{instance}\n").as_bytes();
    if first == MARKER.as_bytes() || legacy {
        Ok(Found::Marker)
    } else {
        Ok(Found::Other("a file of other content".into()))
    }
}

/// Whether `a` and `b` name the same file: equal paths, or the same inode when both exist.
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || crate::sys::file::same_inode(a, b)
}

impl StateFile {
    /// The checks of validate-all (and of every action that reads or writes the file): an
    /// absolute path other than `config`, in a directory that exists (the default's is
    /// created when needed), with nothing but the agent's own marker in its place.
    pub fn check(&self, config: &Path) -> Result<(), StateFileError> {
        let path = &self.path;
        if !path.is_absolute() {
            return Err(StateFileError::Relative(path.clone()));
        }
        if same_file(path, config) {
            return Err(StateFileError::IsConfig(path.clone()));
        }
        if !self.creates_dir {
            let dir_ok = path
                .parent()
                .and_then(|d| std::fs::metadata(d).ok())
                .is_some_and(|m| m.is_dir());
            if !dir_ok {
                return Err(StateFileError::NoDirectory(path.clone()));
            }
        }
        match inspect(path, &self.instance)? {
            Found::Nothing | Found::Marker => Ok(()),
            Found::Other(what) => Err(StateFileError::Foreign(path.clone(), what)),
        }
    }

    /// Whether the agent's marker is there (after `check`).
    pub fn promoted(&self) -> Result<bool, StateFileError> {
        Ok(inspect(&self.path, &self.instance)? == Found::Marker)
    }

    /// Writes the marker (after `check`), naming `instance` on its second line.
    pub fn set(&self, instance: &str) -> Result<(), StateFileError> {
        let path = &self.path;
        let io_err = |e: io::Error| StateFileError::Io(path.clone(), e.to_string());
        if self.creates_dir {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io_err)?;
            }
        }
        if let Found::Other(what) = inspect(path, &self.instance)? {
            return Err(StateFileError::Foreign(path.clone(), what));
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(open_flags())
            .open(path)
            .map_err(io_err)?;
        if !file.metadata().map_err(io_err)?.is_file() {
            return Err(StateFileError::Foreign(
                path.clone(),
                "not a regular file".into(),
            ));
        }
        file.set_len(0).map_err(io_err)?;
        file.write_all(format!("{MARKER}\n{instance}\n").as_bytes())
            .map_err(io_err)
    }

    /// Removes the marker; anything else in its place is left alone. Returns whether a
    /// marker was removed.
    pub fn clear(&self) -> Result<bool, StateFileError> {
        match inspect(&self.path, &self.instance)? {
            Found::Nothing => Ok(false),
            Found::Other(what) => Err(StateFileError::Foreign(self.path.clone(), what)),
            Found::Marker => match std::fs::remove_file(&self.path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(StateFileError::Io(self.path.clone(), e.to_string())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of the test's own under the temp dir, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            let d = std::env::temp_dir().join(format!(
                "ct-statefile-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Dir(d)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn given(path: &Path) -> StateFile {
        StateFile {
            path: path.to_path_buf(),
            creates_dir: false,
            instance: "ct".into(),
        }
    }

    #[test]
    fn directory_in_place_of_the_statefile_is_refused_and_never_promoted() {
        let d = Dir::new("dir");
        let s = given(&d.0.join("state"));
        std::fs::create_dir(&s.path).unwrap();
        let e = s.check(&d.0.join("c.conf")).unwrap_err();
        assert!(!e.everywhere());
        assert!(e.to_string().contains("is a directory"), "{e}");
        assert_eq!(s.promoted(), Ok(false));
        assert!(s.set("ct").is_err());
        assert!(s.clear().is_err());
        assert!(s.path.is_dir());
    }

    #[test]
    fn config_file_as_statefile_is_refused_and_never_removed() {
        let d = Dir::new("cfg");
        let config = d.0.join("c.conf");
        std::fs::write(&config, "General { UNIX { Path /x } }\n").unwrap();
        for alias in [config.clone(), d.0.join(".").join("c.conf")] {
            let e = given(&alias).check(&config).unwrap_err();
            assert!(e.everywhere(), "{e}");
            assert!(e.to_string().contains("conntrackd's config file"), "{e}");
        }
        // A hard link is the same file too.
        let link = d.0.join("hard");
        std::fs::hard_link(&config, &link).unwrap();
        assert!(matches!(
            given(&link).check(&config),
            Err(StateFileError::IsConfig(_))
        ));
        // And what is not the marker is never read as promoted nor removed.
        let s = given(&config);
        assert_eq!(s.promoted(), Ok(false));
        assert!(s.clear().is_err());
        assert!(config.exists());
    }

    #[test]
    fn relative_statefile_is_refused_everywhere() {
        let e = given(Path::new("ct.promoted"))
            .check(Path::new("/etc/conntrackd/conntrackd.conf"))
            .unwrap_err();
        assert!(e.everywhere());
        assert_eq!(
            e.to_string(),
            "statefile ct.promoted is not an absolute path"
        );
    }

    #[test]
    fn missing_directory_is_not_created_unless_it_is_the_default() {
        let d = Dir::new("nodir");
        let config = d.0.join("c.conf");
        let path = d.0.join("sub").join("state");
        let e = given(&path).check(&config).unwrap_err();
        assert!(matches!(e, StateFileError::NoDirectory(_)), "{e}");
        assert!(!d.0.join("sub").exists());
        let default = StateFile {
            path: path.clone(),
            creates_dir: true,
            instance: "ct".into(),
        };
        assert_eq!(default.check(&config), Ok(()));
        default.set("ct").unwrap();
        assert_eq!(default.promoted(), Ok(true));
    }

    #[test]
    fn a_statefile_of_the_agent_before_the_marker_failed_every_action_after_an_upgrade() {
        // The agent before the marker wrote only the instance name: a node promoted across
        // an upgrade must stay promoted, and demote must clear it, not fail with 2.
        let d = Dir::new("legacy");
        let path = d.0.join("conntrack-ra-ct.promoted");
        std::fs::write(&path, "ct\n").unwrap();
        let s = given(&path);
        let config = d.0.join("conntrackd.conf");
        assert_eq!(s.check(&config), Ok(()));
        assert_eq!(s.promoted(), Ok(true));
        assert_eq!(s.clear(), Ok(true));
        assert!(!path.exists());
        // Another instance's name, or more lines, are not the marker.
        std::fs::write(&path, "other\n").unwrap();
        assert!(s.check(&config).is_err());
        std::fs::write(&path, "ct\nmore\n").unwrap();
        assert!(s.check(&config).is_err());
    }

    #[test]
    fn marker_is_written_read_and_removed_and_nothing_else_is() {
        let d = Dir::new("marker");
        let config = d.0.join("c.conf");
        let s = given(&d.0.join("state"));
        assert_eq!(s.check(&config), Ok(()));
        assert_eq!(s.promoted(), Ok(false));
        s.set("ct").unwrap();
        assert_eq!(
            std::fs::read_to_string(&s.path).unwrap(),
            format!("{MARKER}\nct\n")
        );
        assert_eq!(s.check(&config), Ok(()));
        assert_eq!(s.promoted(), Ok(true));
        s.set("ct").unwrap();
        assert_eq!(s.clear(), Ok(true));
        assert_eq!(s.clear(), Ok(false));
        // Another file in its place: not promoted, not overwritten, not removed.
        std::fs::write(&s.path, "precious\n").unwrap();
        assert!(matches!(s.check(&config), Err(StateFileError::Foreign(..))));
        assert_eq!(s.promoted(), Ok(false));
        assert!(s.set("ct").is_err());
        assert!(s.clear().is_err());
        assert_eq!(std::fs::read_to_string(&s.path).unwrap(), "precious\n");
    }

    #[test]
    fn symlink_to_a_marker_is_not_followed() {
        let d = Dir::new("link");
        let real = given(&d.0.join("real"));
        real.set("ct").unwrap();
        let link = given(&d.0.join("link"));
        std::os::unix::fs::symlink(&real.path, &link.path).unwrap();
        let e = link.check(&d.0.join("c.conf")).unwrap_err();
        assert!(e.to_string().contains("a symbolic link"), "{e}");
        assert_eq!(link.promoted(), Ok(false));
        assert!(link.clear().is_err());
        assert!(link.set("ct").is_err());
        assert_eq!(real.promoted(), Ok(true));
    }
}
