//! The appliance pair scenarios: fw-a and fw-b booted from build/appliance under QEMU, driven over
//! their serial consoles as an administrator would, with a client on `lan` and a server on `wan`.
//! Run with `make qemu-test` (root; builds the image first). Scenarios that need an applet still
//! missing from the image say so on stderr and return without asserting anything.

mod cluster;
mod console;
mod lab;
mod scenarios;
