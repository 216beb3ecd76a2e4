//! Every file pikemon writes or holds — `pid-file` (locked) with the `PID_FILE.worker` and
//! `PID_FILE.old` beside it, `status-file`, `paths-file`, `control-socket`, `notify-fifo` — has a
//! path of its own, apart from each other and from every file it reads: the config file
//! itself, the `hmac file` keys, conntrackd's sockets, `track-file`s and the programs of
//! `track-script` and the hooks. Two items on one path read well one by one, but at run time
//! the status write renamed over the locked pid file (a second pikemon then started beside the
//! first), and a `paths-file` on the config file overwrote the config and deleted it at stop.
//!
//! Paths are compared lexically (`.`, `..` and repeated `/` resolved), the config file's
//! against the working directory, as it is opened; and on the file system: two paths whose
//! directories are one once symlinks are resolved (`/var/run/x` and `/run/x`), or one
//! existing file under two names (a hard link, a symlink), are one path too.

use std::path::{Component, Path, PathBuf};

use super::{absolute_path, Config, Reader, CONNTRACKD_SOCKET};
use crate::applets::pikemon::supervisor::{handover_path, worker_path};
use crate::conf::tree::Node;
use crate::conf::Span;

/// One file the config names or implies, and whether pikemon writes (or holds) it.
struct FileUse {
    /// What the config calls it: `pid-file`, `status-file (the default)`.
    what: String,
    /// Lexically normalised, absolute.
    path: PathBuf,
    /// Its directory with symlinks resolved, and its name (None: no such directory).
    resolved: Option<PathBuf>,
    /// The path's token; None: the config file itself or a default.
    at: Option<Span>,
    writes: bool,
}

impl Reader<'_> {
    /// Reports, at the later item, every file of section `sect` (of config `file`) that
    /// pikemon writes and that another item, a default or the config file also names.
    pub(super) fn file_collision_check(&mut self, file: &str, sect: &Node) {
        let mut uses = files_of(file, sect);
        // Stable: the config file and the defaults (no position) come first, in that order.
        uses.sort_by_key(|u| u.at.as_ref().map(|s| (s.line, s.col)));
        for (j, later) in uses.iter().enumerate() {
            let earlier = uses[..j]
                .iter()
                .find(|e| same_file(e, later) && (e.writes || later.writes));
            let Some(earlier) = earlier else {
                continue;
            };
            let other = match &earlier.at {
                Some(at) => format!("{} (at {at})", earlier.what),
                None => earlier.what.clone(),
            };
            let why = if earlier.writes && later.writes {
                "each file pikemon writes needs a path of its own"
            } else {
                "pikemon would write over a file it reads; name another path"
            };
            let msg = format!(
                "{} \"{}\" is also {other}: {why}",
                later.what,
                later.path.display()
            );
            let at = later
                .at
                .clone()
                .unwrap_or_else(|| Span::new(&std::rc::Rc::from(file), 1, 1));
            self.err(&at, msg);
        }
    }
}

/// The files the config `file` with section `sect` names or implies.
fn files_of(file: &str, sect: &Node) -> Vec<FileUse> {
    let mut uses = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        uses.push(file_use("the config file itself", &cwd.join(file), false));
    }
    let items = sect.children();
    let defaults = Config::default();
    let own = [
        ("pid-file", &defaults.pid_file),
        ("status-file", &defaults.status_file),
        ("paths-file", &defaults.paths_file),
        ("control-socket", &defaults.control_socket),
    ];
    for (key, default) in own {
        let (path, at, what) = match items.iter().find(|n| n.key() == key) {
            // A bad or repeated item was reported where it was read.
            Some(item) => match path_arg(item) {
                Some((p, tok)) => (p, Some(tok.clone()), key.to_string()),
                None => continue,
            },
            None => (default.clone(), None, format!("{key} (the default)")),
        };
        if key == "pid-file" {
            let worker = worker_path(&path);
            let derived = [
                (
                    worker,
                    "the worker's pid file of pid-file (PID_FILE.worker)",
                ),
                (
                    handover_path(&path),
                    "the hand-over file of pid-file (PID_FILE.old)",
                ),
            ];
            for (p, name) in derived {
                uses.push(FileUse {
                    at: at.clone(),
                    ..file_use(name, &p, true)
                });
            }
        }
        uses.push(FileUse {
            at,
            ..file_use(&what, &path, true)
        });
    }
    if let Some((p, at)) = items
        .iter()
        .find(|n| n.key() == "notify-fifo")
        .and_then(path_arg)
    {
        uses.push(writes("notify-fifo", &p, at));
    }
    for item in items.iter().filter(|n| n.key() == "hmac") {
        if let [kind, arg, ..] = item.args.as_slice() {
            if kind.text == "file" {
                if let Ok(p) = absolute_path(&arg.text) {
                    uses.push(reads("hmac file", &p, &arg.span));
                }
            }
        }
    }
    for node in items {
        match node.key() {
            "conntrack" => conntrack_socket(node, &mut uses),
            "virtual-cluster" => virtual_cluster_files(node, &mut uses),
            _ => {}
        }
    }
    uses
}

/// The files a `virtual-cluster` section reads.
fn virtual_cluster_files(sect: &Node, uses: &mut Vec<FileUse>) {
    for node in sect.children() {
        let Some(arg) = node.args.first() else {
            continue;
        };
        match node.key() {
            "conntrack" => conntrack_socket(node, uses),
            "track-file" => {
                if let Ok(p) = absolute_path(arg.text.trim()) {
                    uses.push(reads("track-file", &p, &arg.span));
                }
            }
            "track-script" | "notify-master" | "notify-backup" | "notify-fault" | "notify-stop" => {
                // The program of a command written as an absolute path.
                let program = arg.text.split_whitespace().next().unwrap_or("");
                if let Ok(p) = absolute_path(program) {
                    let what = format!("the program of {}", node.key());
                    uses.push(reads(&what, &p, &arg.span));
                }
            }
            _ => {}
        }
    }
}

/// conntrackd's socket of a `conntrack { }` section (connected to, never replaced).
fn conntrack_socket(sect: &Node, uses: &mut Vec<FileUse>) {
    match sect.children().iter().find(|n| n.key() == "socket") {
        Some(item) => {
            if let Some((p, at)) = path_arg(item) {
                uses.push(reads("conntrack socket", &p, at));
            }
        }
        None => {
            let what = "conntrack socket (the default)";
            uses.push(reads(what, Path::new(CONNTRACKD_SOCKET), sect.span()));
        }
    }
}

/// The path of a one-argument item, with its token's span; None if it is malformed.
fn path_arg(item: &Node) -> Option<(PathBuf, &Span)> {
    match item.args.as_slice() {
        [arg] if item.body.is_none() => Some((absolute_path(&arg.text).ok()?, &arg.span)),
        _ => None,
    }
}

fn writes(what: &str, path: &Path, at: &Span) -> FileUse {
    FileUse {
        at: Some(at.clone()),
        ..file_use(what, path, true)
    }
}

fn file_use(what: &str, path: &Path, writes: bool) -> FileUse {
    let path = lexical(path);
    FileUse {
        what: what.into(),
        resolved: resolved(&path),
        path,
        at: None,
        writes,
    }
}

/// `path` with its directory's symlinks resolved; None when the directory does not exist.
fn resolved(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    Some(std::fs::canonicalize(path.parent()?).ok()?.join(name))
}

/// Whether two uses name one file: lexically, through their directories' symlinks, or as
/// one existing file (a hard link or a symlink to it).
fn same_file(a: &FileUse, b: &FileUse) -> bool {
    a.path == b.path
        || matches!((&a.resolved, &b.resolved), (Some(x), Some(y)) if x == y)
        || crate::sys::file::same_inode(&a.path, &b.path)
}

fn reads(what: &str, path: &Path, at: &Span) -> FileUse {
    FileUse {
        writes: false,
        ..writes(what, path, at)
    }
}

/// An absolute path with `.`, `..` and repeated `/` resolved without looking at the file
/// system (`..` at the root stays at the root, as the kernel resolves it).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applets::pikemon::config::{read, ReadOptions};

    const BASE: &str = "version PIKEMON-1;\npikemon {\n    node-id 1;\n    \
        hmac key \"0123456789abcdef\";\n    heart-beat { interface hb0; }\n    \
        virtual-cluster LAN { id 1; interface lan0 { ipv4 [198.51.100.10]/24; } }\n}\n";

    /// BASE with `items` (one line, line 4) in section `pikemon`.
    fn config(items: &str) -> String {
        BASE.replace("    node-id 1;\n", &format!("    node-id 1;\n{items}\n"))
    }

    fn errors(file: &str, text: &str) -> Vec<String> {
        match read(file, text, ReadOptions::default()) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn lexical_resolves_dots_and_slashes_without_the_file_system() {
        for (given, want) in [
            ("/run/./pikemon//status", "/run/pikemon/status"),
            ("/run/x/../pikemon.pid", "/run/pikemon.pid"),
            ("/../run/a/", "/run/a"),
            ("/", "/"),
        ] {
            assert_eq!(lexical(Path::new(given)), PathBuf::from(want), "{given}");
        }
    }

    /// The status write renamed its temp file over the locked pid file: the lock went with
    /// the old inode and a second pikemon started beside the first.
    #[test]
    fn pid_file_equal_to_status_file_was_accepted() {
        let text = config("    pid-file \"/run/pk/x\"; status-file \"/run/pk/x\";");
        assert_eq!(
            errors("/etc/pk/m.cfg", &text),
            [
                "/etc/pk/m.cfg:4:39: error: status-file \"/run/pk/x\" is also pid-file (at \
                 /etc/pk/m.cfg:4:14): each file pikemon writes needs a path of its own"
            ]
        );
    }

    /// pikemon wrote its heart-beat paths over its own config and deleted it at stop.
    #[test]
    fn paths_file_equal_to_the_config_file_was_accepted() {
        let text = config("    paths-file \"/etc/pk/../pk/m.cfg\";");
        assert_eq!(
            errors("/etc/pk/m.cfg", &text),
            [
                "/etc/pk/m.cfg:4:16: error: paths-file \"/etc/pk/m.cfg\" is also the config \
                 file itself: pikemon would write over a file it reads; name another path"
            ]
        );
        // A relative config file name is the file opened from the working directory.
        let cwd = std::env::current_dir().unwrap();
        let text = config(&format!("    paths-file \"{}/m.cfg\";", cwd.display()));
        assert_eq!(errors("sub/../m.cfg", &text).len(), 1);
        assert!(errors("other.cfg", &text).is_empty());
    }

    #[test]
    fn paths_that_differ_only_by_a_symlink_or_a_hard_link_were_one_file_accepted_twice() {
        let dir = std::env::temp_dir().join(format!("pikelinks{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("run")).unwrap();
        std::os::unix::fs::symlink(dir.join("run"), dir.join("var-run")).unwrap();
        // Through a symlinked directory, the file not there yet (as /var/run -> /run).
        let text = config(&format!(
            "    status-file \"{d}/run/pk\"; paths-file \"{d}/var-run/pk\";",
            d = dir.display()
        ));
        let e = errors("t.cfg", &text);
        assert!(
            e.len() == 1 && e[0].contains("paths-file") && e[0].contains("is also status-file"),
            "{e:?}"
        );
        // A hard link to the config file.
        let cfg = dir.join("m.cfg");
        std::fs::write(&cfg, "x").unwrap();
        std::fs::hard_link(&cfg, dir.join("copy")).unwrap();
        let text = config(&format!("    paths-file \"{}/copy\";", dir.display()));
        let e = errors(&cfg.display().to_string(), &text);
        assert!(
            e.len() == 1 && e[0].contains("is also the config file itself"),
            "{e:?}"
        );
        // Different files stay apart.
        let text = config(&format!(
            "    status-file \"{d}/run/a\"; paths-file \"{d}/var-run/b\";",
            d = dir.display()
        ));
        assert!(errors("t.cfg", &text).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn files_pikemon_writes_on_a_path_another_item_names_were_accepted() {
        let key = std::env::temp_dir().join(format!("pikefiles{}.key", std::process::id()));
        std::fs::write(&key, "0123456789abcdef\n").unwrap();
        let key = key.display().to_string();
        let vc = |body: &str| {
            BASE.replace(
                "    virtual-cluster LAN { id 1;",
                &format!("    virtual-cluster LAN {{ id 1; {body}"),
            )
        };
        let key_line = format!("    hmac file \"{key}\" key-id 2; status-file \"{key}\";");
        let key_col = key_line.rfind('"').unwrap() - key.len();
        let key_what = format!("status-file \"{key}\" is also hmac file (at t.cfg:4:15)");
        // (config, the later item's line:col, the start of what it collides with)
        let table = [
            (config(&key_line), format!("4:{key_col}"), key_what.as_str()),
            (
                config("    notify-fifo \"/run/pk/s\"; status-file \"/run/pk/s\";"),
                "4:42".to_string(),
                "status-file \"/run/pk/s\" is also notify-fifo (at t.cfg:4:17)",
            ),
            (
                config("    pid-file \"/run/pk/p\"; control-socket \"/run/pk//p\";"),
                "4:42".to_string(),
                "control-socket \"/run/pk/p\" is also pid-file (at t.cfg:4:14)",
            ),
            (
                config("    pid-file \"/run/pk/p\"; status-file \"/run/pk/p.worker\";"),
                "4:39".to_string(),
                "status-file \"/run/pk/p.worker\" is also the worker's pid file of pid-file",
            ),
            (
                config("    paths-file \"/run/pk/p.old\"; pid-file \"/run/pk/p\";"),
                "4:42".to_string(),
                "the hand-over file of pid-file (PID_FILE.old) \"/run/pk/p.old\" is also \
                 paths-file (at t.cfg:4:16)",
            ),
            (
                config("    status-file \"/run/pikemon.pid\";"),
                "4:17".to_string(),
                "status-file \"/run/pikemon.pid\" is also pid-file (the default)",
            ),
            (
                config("    control-socket \"/run/ct.ctl\"; conntrack { socket \"/run/ct.ctl\"; }"),
                "4:54".to_string(),
                "conntrack socket \"/run/ct.ctl\" is also control-socket (at t.cfg:4:20): \
                 pikemon would write over a file it reads",
            ),
            (
                vc("track-file \"/run/pikemon/paths\";"),
                "6:44".to_string(),
                "track-file \"/run/pikemon/paths\" is also paths-file (the default)",
            ),
            (
                vc("notify-master \"/run/pikemon.sock start\";"),
                "6:47".to_string(),
                "the program of notify-master \"/run/pikemon.sock\" is also control-socket",
            ),
            (
                vc("track-script \"/var/lib/pikemon/status -x\";"),
                "6:46".to_string(),
                "the program of track-script \"/var/lib/pikemon/status\" is also status-file",
            ),
        ];
        for (text, at, what) in &table {
            let e = errors("t.cfg", text);
            let want = format!("t.cfg:{at}: error: {what}");
            assert!(e.len() == 1 && e[0].starts_with(&want), "{want}\n{e:?}");
        }
        // Files that are only read may be shared.
        let shared = vc(&format!(
            "track-file \"{key}\"; track-script \"/bin/true\"; notify-master \"/bin/true\";"
        ))
        .replace(
            "hmac key \"0123456789abcdef\"",
            &format!("hmac file \"{key}\""),
        );
        assert_eq!(errors("t.cfg", &shared), Vec::<String>::new());
        let _ = std::fs::remove_file(&key);
    }
}
