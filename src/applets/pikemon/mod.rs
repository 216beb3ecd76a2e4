//! pikemon: the PIKE cluster daemon of a firewall pair (DESIGN.md §2–3) and its config checker
//! `test-pikemon`.
//!
//! `config` reads and validates the Kernun-style config, `show` renders it back, `check` is the
//! `test-pikemon` applet.

pub mod check;
pub mod config;
pub mod election;
pub mod node;
pub mod peer;
pub mod show;
pub mod values;
