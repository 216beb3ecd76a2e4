//! ldirectord: health checks of real servers behind IPVS virtual services, compatible with
//! the Perl ldirectord's ldirectord.cf and command line; IPVS is programmed over generic
//! netlink, every check runs concurrently in one poll loop.

pub mod check;
pub mod config;
mod config_read;
mod config_real;
#[cfg(test)]
mod config_tests;
pub mod core;
pub mod ipvs;
pub mod resolve;

use std::process::ExitCode;

/// Entry point (`ldirectord [-d] [--] [configfile] COMMAND`).
pub fn main(args: &[String]) -> ExitCode {
    let _ = args;
    ExitCode::from(255)
}
