//! The appliance pair scenarios: fw-a and fw-b booted from build/appliance under QEMU, driven over
//! their serial consoles as an administrator would, with a client on `lan` and a server on `wan`.
//! Run with `make qemu-test` (root; builds the image first); `make test` runs them after the host
//! tests.

mod cluster;
mod console;
mod lab;
mod ldirectord_ocf;
mod persistence;
mod scenarios;
