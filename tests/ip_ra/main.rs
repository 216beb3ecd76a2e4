//! ip-ra and the library under it (rtnetlink, AF_PACKET, gratuitous ARP), on real network
//! namespaces with a peer. Addresses: 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/64 only.

#[path = "../common/mod.rs"]
mod common;

mod inet6;
mod kit;
mod library;
mod ocf;
mod rig;
