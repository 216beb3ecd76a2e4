//! ip-ra's parameter table: each parameter's kit name (environment, `-o NAME=VALUE`), its OCF
//! name (`OCF_RESKEY_name`), value kind, default and descriptions, and the names and
//! defaults each face (kit or OCF) looks them up by. The OCF meta-data is written from it.

/// One parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Ip,
    Netmask,
    Device,
    PingList,
    NoLinkCheck,
    WaitLinkDown,
    NoIpUnique,
    PingTime,
    PingTries,
    PingTimeout,
    NoBcastPing,
    QuickCheckTimeout,
    RestoreAndRecover,
    SourceAddress,
}

/// What kind of value a parameter takes (for parsing and the meta-data `content type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Integer,
    Boolean,
    Time,
}

/// A row of the parameter table.
pub struct Spec {
    pub key: Key,
    /// The LifeKeeper kit's name (environment variable, `-o` name); `None` when only OCF has it.
    pub kit: Option<&'static str>,
    /// The OCF instance parameter (`OCF_RESKEY_<ocf>`).
    pub ocf: &'static str,
    pub kind: Kind,
    /// Default as written in the meta-data; `""` when there is none.
    pub default: &'static str,
    pub required: bool,
    pub short: &'static str,
    pub long: &'static str,
}

/// Every parameter, in meta-data order.
pub const SPECS: &[Spec] = &[
    Spec {
        key: Key::Ip,
        kit: Some("IP"),
        ocf: "ip",
        kind: Kind::String,
        default: "",
        required: true,
        short: "IPv4 or IPv6 virtual address",
        long: "The virtual IPv4 or IPv6 address to bring into service, optionally with its \
               prefix length (198.51.100.10/24, 2001:db8::10/64).",
    },
    Spec {
        key: Key::Netmask,
        kit: None,
        ocf: "cidr_netmask",
        kind: Kind::String,
        default: "",
        required: false,
        short: "Prefix length",
        long: "Prefix length of the virtual address (1..32, IPv6 1..128); for IPv4 a dotted \
               netmask (255.255.255.0) is taken too, as IPaddr2 does, with a warning. When \
               neither this nor a /prefix on ip is given, the prefix of the interface address \
               whose subnet holds ip. stop needs only ip: a bad value of any other parameter \
               is logged and ignored there.",
    },
    Spec {
        key: Key::Device,
        kit: Some("DEVICE"),
        ocf: "nic",
        kind: Kind::String,
        default: "",
        required: false,
        short: "Network interface",
        long: "The interface that carries the address. When empty, the interface with an \
               address in the subnet of ip.",
    },
    Spec {
        key: Key::PingList,
        kit: Some("PingList"),
        ocf: "pinglist",
        kind: Kind::String,
        default: "",
        required: false,
        short: "Hosts to ping",
        long: "Addresses of the virtual address's family (separated by spaces or commas) \
               pinged from the virtual address by the connectivity check; any reply is \
               success.",
    },
    Spec {
        key: Key::NoLinkCheck,
        kit: Some("IP_NOLINKCHECK"),
        ocf: "ip_nolinkcheck",
        kind: Kind::Boolean,
        default: "0",
        required: false,
        short: "Skip the link check",
        long: "1 skips the carrier check (and the down/up cycle) of restore and quickCheck.",
    },
    Spec {
        key: Key::WaitLinkDown,
        kit: Some("IP_WAIT_LINKDOWN"),
        ocf: "ip_wait_linkdown",
        kind: Kind::Time,
        default: "5",
        required: false,
        short: "Seconds between link down and up",
        long: "Seconds the interface stays down in the down/up cycle of the link check.",
    },
    Spec {
        key: Key::NoIpUnique,
        kit: Some("NOIPUNIQUE"),
        ocf: "noipunique",
        kind: Kind::Boolean,
        default: "0",
        required: false,
        short: "Skip the duplicate check",
        long: "1 skips the check that nobody else answers for the address before it is added.",
    },
    Spec {
        key: Key::PingTime,
        kit: Some("IP_PINGTIME"),
        ocf: "ip_pingtime",
        kind: Kind::Time,
        default: "1",
        required: false,
        short: "Seconds to wait for one ping reply",
        long: "Seconds the connectivity check waits for a reply to one echo request. A PingList \
               host that does not answer costs this much (one request), or IP_PINGTRIES times \
               this when IP_PINGTRIES is set.",
    },
    Spec {
        key: Key::PingTries,
        kit: Some("IP_PINGTRIES"),
        ocf: "ip_pingtries",
        kind: Kind::Integer,
        default: "3",
        required: false,
        short: "Echo requests per host",
        long: "Echo requests sent to the broadcast address, IP_PINGTIME apart, before nobody \
               counts as answering; when set, also to each PingList host (else one request \
               each). Also the number of ARP requests of the duplicate check.",
    },
    Spec {
        key: Key::PingTimeout,
        kit: Some("IP_PINGTIMEOUT"),
        ocf: "ip_pingtimeout",
        kind: Kind::Time,
        default: "",
        required: false,
        short: "Seconds the duplicate check waits",
        long: "How long the duplicate check of restore asks (ARP) whether another host has \
               the address: IP_PINGTRIES ARP requests spread over this time, and an answer \
               counts until it ends. Default IP_PINGTRIES times IP_PINGTIME.",
    },
    Spec {
        key: Key::NoBcastPing,
        kit: Some("NOBCASTPING"),
        ocf: "nobcastping",
        kind: Kind::Boolean,
        default: "0",
        required: false,
        short: "No broadcast ping",
        long: "1 disables the broadcast ping of the virtual address's subnet: without a \
               PingList the connectivity check then always succeeds, with one it fails when \
               no host answers. The OCF default is 1: Linux hosts ignore broadcast pings \
               (net.ipv4.icmp_echo_ignore_broadcasts=1), so the kit's default check (0) fails \
               on an ordinary Linux subnet. Set 0, with a host on the subnet that answers \
               broadcast pings, or give a pinglist, to check connectivity; the LifeKeeper \
               face keeps the kit's default 0.",
    },
    Spec {
        key: Key::QuickCheckTimeout,
        kit: Some("IP_QUICKCHECK_TIMEOUT"),
        ocf: "ip_quickcheck_timeout",
        kind: Kind::Time,
        default: "12",
        required: false,
        short: "quickCheck time limit",
        long: "Seconds quickCheck (monitor) may take, more than 0; running over is a failure.",
    },
    Spec {
        key: Key::RestoreAndRecover,
        kit: Some("RESTORE_AND_RECOVER"),
        ocf: "restore_and_recover",
        kind: Kind::String,
        default: "enable",
        required: false,
        short: "Restore and recover",
        long: "disable makes restore succeed without configuring the address, and \
               quickCheck (monitor) succeed without checking anything.",
    },
    Spec {
        key: Key::SourceAddress,
        kit: Some("SOURCE_ADDRESS"),
        ocf: "source_address",
        kind: Kind::String,
        default: "disable",
        required: false,
        short: "Use as source address",
        long: "enable makes the virtual address the preferred source (src) of the routes \
               through the interface into its subnet or via a gateway in it; remove \
               reverts them.",
    },
];

/// Which names the values are looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// The kit's names (IP, DEVICE, PingList, IP_NOLINKCHECK, ...).
    Kit,
    /// OCF instance parameters (ip, cidr_netmask, nic, pinglist, ip_nolinkcheck, ...).
    Ocf,
}

/// Where the OCF face's default differs from the kit's (and why: see the parameter's text).
const OCF_DEFAULTS: &[(Key, &str)] = &[(Key::NoBcastPing, "1")];

/// The default of a parameter under `naming`; `""` when there is none.
pub fn default_for(s: &Spec, naming: Naming) -> &'static str {
    match naming {
        Naming::Kit => s.default,
        Naming::Ocf => OCF_DEFAULTS
            .iter()
            .find(|(k, _)| *k == s.key)
            .map_or(s.default, |(_, d)| d),
    }
}

pub(super) fn spec(key: Key) -> &'static Spec {
    SPECS.iter().find(|s| s.key == key).unwrap_or(&SPECS[0])
}

/// The name a parameter goes by under `naming`.
pub fn name(key: Key, naming: Naming) -> &'static str {
    let s = spec(key);
    match naming {
        Naming::Kit => s.kit.unwrap_or(s.ocf),
        Naming::Ocf => s.ocf,
    }
}
