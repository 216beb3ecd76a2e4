//! habox: the high-availability layer of a minimal firewall appliance, as one multicall binary.
//!
//! Layers, bottom up (nothing below imports from above):
//! `sys` (the only `unsafe`) → `wire` (bytes ⇄ values, no I/O) → `net` (owned sockets) →
//! `event` (the poll loop) → `applets`. `conf` is the shared config tokenizer, `logging`
//! the `log` backend every applet uses and `ocf` what the resource agents share; `fuzzing` holds the fuzz targets' bodies.
#![deny(unsafe_code)]

pub mod applets;
pub mod conf;
pub mod event;
/// The fuzz targets' bodies (`fuzz/`, `make fuzz`); not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod logging;
pub mod net;
pub mod ocf;
pub mod sys;
pub mod wire;
