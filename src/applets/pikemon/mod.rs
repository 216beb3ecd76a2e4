//! pikemon: the PIKE cluster daemon of a firewall pair (DESIGN.md §2–3) and its config checker
//! `test-pikemon`.
//!
//! `config` reads and validates the Kernun-style config, `show` renders it back, `check` is the
//! `test-pikemon` applet.

pub mod check;
pub mod config;
pub mod election;
pub mod node;
pub mod paths_file;
pub mod peer;
pub mod ping_group;
pub mod show;
pub mod status_file;
pub mod values;
