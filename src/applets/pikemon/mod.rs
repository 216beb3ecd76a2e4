//! pikemon: the PIKE cluster daemon of a firewall pair (DESIGN.md §2–3) and its config checker
//! `test-pikemon`.
//!
//! `config` reads and validates the Kernun-style config, `show` renders it back, `check` is the
//! `test-pikemon` applet.

pub mod acr;
pub mod check;
pub mod config;
pub mod control;
pub mod election;
pub mod node;
pub mod paths_file;
pub mod peer;
pub mod ping_group;
pub mod show;
pub mod status_file;
pub mod supervisor;
pub mod values;
