//! Owned sockets: AF_PACKET, raw ICMP, netlink (route, generic/IPVS), conntrackd's control
//! socket, TCP/UDP health checks.
//! Sockets read in an event loop (ICMP, AF_PACKET, the rtnetlink monitor, checks) are non-blocking
//! and expose their fd; request/answer netlink calls (`rtnl::Rtnl`, `genl`) block until the kernel
//! answers, which it does at once.
pub mod conntrackd;
pub mod echo;
pub mod garp;
pub mod genl;
pub mod icmp;
pub mod icmp6;
pub mod nd_probe;
pub mod packet;
pub mod rtnl;
#[cfg(test)]
pub(crate) mod test_ns;
