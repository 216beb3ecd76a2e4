//! Owned sockets: AF_PACKET, raw ICMP, netlink (route, generic/IPVS), TCP/UDP health checks.
//! Every socket here is non-blocking and exposes its fd for the event loop.
pub mod garp;
pub mod genl;
pub mod icmp;
pub mod packet;
pub mod rtnl;
