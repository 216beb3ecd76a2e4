//! Detaching from the terminal (double fork, setsid, stdio to /dev/null, chdir /).

use std::io;

/// Detaches the process; returns in the grandchild only (the parents exit 0).
pub fn daemonize() -> io::Result<()> {
    daemonize::Daemonize::new()
        .working_directory("/")
        .umask(0o022)
        .start()
        .map_err(|e| io::Error::other(e.to_string()))
}
