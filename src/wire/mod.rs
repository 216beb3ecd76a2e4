//! Packet and message formats: bytes ⇄ values, no I/O. One file per protocol, smoltcp-style
//! (`Packet` view over a buffer + parsed `Repr` with `parse` / `buffer_len` / `emit`).
pub mod arp;
pub mod dns;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod ipvs;
pub mod ldap;
pub mod pike;
pub mod radius;
