//! Network-namespace helpers: enter a named namespace (`ip netns` layout under /run/netns).

use std::fs::File;
use std::io;
use std::path::Path;

use nix::sched::{setns, CloneFlags};

/// Moves the calling thread into the network namespace `name` (/run/netns/NAME).
/// Tests call it in a spawned thread or a child process, never on a thread they share.
pub fn enter(name: &str) -> io::Result<()> {
    enter_path(&Path::new("/run/netns").join(name))
}

/// Moves the calling thread into the network namespace at `path`.
pub fn enter_path(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    setns(file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}
