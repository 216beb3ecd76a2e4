//! lkping's errors: why a run could not start (or its event loop failed), in ping's words.

use std::fmt;
use std::io;
use std::time::Duration;

/// Why a run could not start (or its event loop failed). Display is ping's message.
#[derive(Debug)]
pub enum LkpingError {
    /// The destination does not resolve to an IPv4 address.
    UnknownHost { host: String, reason: String },
    /// The raw socket cannot be opened (no CAP_NET_RAW: "Operation not permitted").
    Socket(io::Error),
    /// `-I` names an interface that SO_BINDTODEVICE refuses.
    BindDevice { device: String, source: io::Error },
    /// An IPv6 run's `-I` device (or the `%DEV` of `-I ADDR%DEV`) does not exist.
    UnknownInterface(String),
    /// `-I` names an address that is not local.
    Bind(io::Error),
    /// An IPv6 run's `-I` address is not local (ping6 words it "bind icmp socket").
    BindV6(io::Error),
    /// No route to the destination (found by the UDP probe, as ping does).
    Connect(io::Error),
    /// The destination is a broadcast address and `-b` was not given.
    BroadcastRefused,
    /// A user without root asked for broadcast pings more often than once a second.
    BroadcastInterval(Duration),
    /// A socket option failed (`what` says which, in ping's words).
    SocketOption {
        what: &'static str,
        source: io::Error,
    },
    /// poll(2) or the signal pipe failed.
    EventLoop(io::Error),
}

/// The OS error text without Rust's " (os error N)" suffix, as ping prints it.
pub(super) fn os_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
    }
}

impl fmt::Display for LkpingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LkpingError::UnknownHost { host, reason } => write!(f, "{host}: {reason}"),
            LkpingError::Socket(e) => write!(f, "socket: {}", os_text(e)),
            LkpingError::BindDevice { device, source } => {
                write!(f, "SO_BINDTODEVICE {device}: {}", os_text(source))
            }
            LkpingError::UnknownInterface(name) => write!(f, "unknown iface: {name}"),
            LkpingError::Bind(e) => write!(f, "bind: {}", os_text(e)),
            LkpingError::BindV6(e) => write!(f, "bind icmp socket: {}", os_text(e)),
            LkpingError::Connect(e) => write!(f, "connect: {}", os_text(e)),
            LkpingError::BroadcastRefused => f.write_str(
                "Do you want to ping broadcast? Then -b. If not, check your local firewall rules",
            ),
            LkpingError::BroadcastInterval(d) => write!(
                f,
                "broadcast ping with too short interval: {}",
                d.as_millis()
            ),
            LkpingError::SocketOption { what, source } => {
                write!(f, "{what}: {}", os_text(source))
            }
            LkpingError::EventLoop(e) => write!(f, "event loop: {}", os_text(e)),
        }
    }
}

impl std::error::Error for LkpingError {}
