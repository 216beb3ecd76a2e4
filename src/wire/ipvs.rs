//! IPVS generic netlink messages (include/uapi/linux/ip_vs.h, family "IPVS" version 1) and
//! the generic netlink controller's family lookup (CTRL_CMD_GETFAMILY): bytes ⇄ values.
//!
//! A message is `nlmsghdr` (16 bytes) + `genlmsghdr` (cmd, version, 2 reserved) + attributes
//! (`nla_len` u16, `nla_type` u16, payload padded to 4). Services and destinations travel as
//! nested attributes with every field ipvsadm's libipvs sends (the kernel wants the full set
//! for NEW/SET and takes the key fields from it for DEL). Ports and IPv4 netmasks are in
//! network byte order, everything else in host order (x86_64: little endian).
//! Unknown attributes are skipped; truncated input is an error, never a panic.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Netlink message types and flags used here (linux/netlink.h).
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
/// The generic netlink controller's fixed family id (linux/genetlink.h).
pub const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;
const IPVS_GENL_VERSION: u8 = 1;

const IPVS_CMD_ATTR_SERVICE: u16 = 1;
const IPVS_CMD_ATTR_DEST: u16 = 2;

const SVC_AF: u16 = 1;
const SVC_PROTOCOL: u16 = 2;
const SVC_ADDR: u16 = 3;
const SVC_PORT: u16 = 4;
const SVC_FWMARK: u16 = 5;
const SVC_SCHED_NAME: u16 = 6;
const SVC_FLAGS: u16 = 7;
const SVC_TIMEOUT: u16 = 8;
const SVC_NETMASK: u16 = 9;

const DEST_ADDR: u16 = 1;
const DEST_PORT: u16 = 2;
const DEST_FWD_METHOD: u16 = 3;
const DEST_WEIGHT: u16 = 4;
const DEST_U_THRESH: u16 = 5;
const DEST_L_THRESH: u16 = 6;
const DEST_ACTIVE_CONNS: u16 = 7;
const DEST_INACT_CONNS: u16 = 8;
const DEST_PERSIST_CONNS: u16 = 9;
const DEST_ADDR_FAMILY: u16 = 11;

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const IPPROTO_TCP: u16 = 6;
pub const IPPROTO_UDP: u16 = 17;

/// Service flags (ip_vs.h IP_VS_SVC_F_*).
pub const SVC_F_PERSISTENT: u32 = 0x0001;
pub const SVC_F_ONEPACKET: u32 = 0x0004;
pub const SVC_F_SCHED1: u32 = 0x0008;
pub const SVC_F_SCHED2: u32 = 0x0010;
pub const SVC_F_SCHED3: u32 = 0x0020;
/// Flags the kernel sets itself and reports back; not part of what we configure.
pub const SVC_F_HASHED: u32 = 0x0002;

/// IPVS commands (enum IPVS_CMD_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    NewService,
    SetService,
    DelService,
    GetService,
    NewDest,
    SetDest,
    DelDest,
    GetDest,
    Flush,
    Unknown(u8),
}

impl Command {
    pub fn to_u8(self) -> u8 {
        match self {
            Command::NewService => 1,
            Command::SetService => 2,
            Command::DelService => 3,
            Command::GetService => 4,
            Command::NewDest => 5,
            Command::SetDest => 6,
            Command::DelDest => 7,
            Command::GetDest => 8,
            Command::Flush => 17,
            Command::Unknown(c) => c,
        }
    }

    pub fn from_u8(c: u8) -> Command {
        match c {
            1 => Command::NewService,
            2 => Command::SetService,
            3 => Command::DelService,
            4 => Command::GetService,
            5 => Command::NewDest,
            6 => Command::SetDest,
            7 => Command::DelDest,
            8 => Command::GetDest,
            17 => Command::Flush,
            c => Command::Unknown(c),
        }
    }
}

/// Forwarding method of a destination (IP_VS_CONN_F_*, the FWD_MASK bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FwdMethod {
    Masq,
    Local,
    Tunnel,
    Route,
    Unknown(u32),
}

impl FwdMethod {
    pub fn to_u32(self) -> u32 {
        match self {
            FwdMethod::Masq => 0,
            FwdMethod::Local => 1,
            FwdMethod::Tunnel => 2,
            FwdMethod::Route => 3,
            FwdMethod::Unknown(v) => v,
        }
    }

    pub fn from_u32(v: u32) -> FwdMethod {
        match v & 7 {
            0 => FwdMethod::Masq,
            1 => FwdMethod::Local,
            2 => FwdMethod::Tunnel,
            3 => FwdMethod::Route,
            other => FwdMethod::Unknown(other),
        }
    }
}

/// What identifies a virtual service in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKey {
    /// protocol (IPPROTO_TCP/UDP), address, port.
    Inet(u16, IpAddr, u16),
    /// Firewall mark and whether it is IPv6.
    Fwmark(u32, bool),
}

impl ServiceKey {
    pub fn af(&self) -> u16 {
        let v6 = match self {
            ServiceKey::Inet(_, ip, _) => ip.is_ipv6(),
            ServiceKey::Fwmark(_, v6) => *v6,
        };
        if v6 {
            AF_INET6
        } else {
            AF_INET
        }
    }
}

impl fmt::Display for ServiceKey {
    /// ipvsadm's `-t|-u|-f` notation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Inet(p, ip, port) => {
                let flag = if *p == IPPROTO_UDP { "-u" } else { "-t" };
                match ip {
                    IpAddr::V6(ip) => write!(f, "{flag} [{ip}]:{port}"),
                    IpAddr::V4(ip) => write!(f, "{flag} {ip}:{port}"),
                }
            }
            ServiceKey::Fwmark(m, v6) => write!(f, "-f {m}{}", if *v6 { " -6" } else { "" }),
        }
    }
}

/// A virtual service: key plus scheduling parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub key: ServiceKey,
    pub scheduler: String,
    /// IP_VS_SVC_F_* as configured (HASHED is dropped when parsing).
    pub flags: u32,
    /// Persistence timeout in seconds (0: not persistent).
    pub timeout: u32,
    /// IPv4: the mask (e.g. 255.255.255.255 = u32::MAX); IPv6: the prefix length.
    pub netmask: u32,
}

/// A destination (real server) of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    pub addr: IpAddr,
    pub port: u16,
    pub fwd: FwdMethod,
    pub weight: u32,
    pub u_thresh: u32,
    pub l_thresh: u32,
    /// Counters reported by the kernel (0 in requests).
    pub active_conns: u32,
    pub inact_conns: u32,
    pub persist_conns: u32,
}

/// Why bytes could not be read as a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    Truncated,
    /// A required attribute is missing (its name).
    Missing(&'static str),
    BadAddress,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => write!(f, "truncated netlink message"),
            WireError::Missing(a) => write!(f, "attribute {a} missing"),
            WireError::BadAddress => write!(f, "bad address attribute"),
        }
    }
}

impl std::error::Error for WireError {}

fn put_attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

fn put_nested(buf: &mut Vec<u8>, kind: u16, inner: &[u8]) {
    put_attr(buf, kind | NLA_F_NESTED, inner);
}

fn addr16(ip: &IpAddr) -> [u8; 16] {
    let mut a = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => a[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => a.copy_from_slice(&v6.octets()),
    }
    a
}

/// Iterates over the attributes in `buf` as (type without flags, payload).
pub struct Attrs<'a> {
    buf: &'a [u8],
}

impl<'a> Attrs<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Attrs { buf }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([self.buf[0], self.buf[1]]));
        let kind = u16::from_ne_bytes([self.buf[2], self.buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > self.buf.len() {
            self.buf = &[];
            return Some(Err(WireError::Truncated));
        }
        let payload = &self.buf[4..len];
        let padded = (len + 3) & !3;
        self.buf = self.buf.get(padded..).unwrap_or(&[]);
        Some(Ok((kind, payload)))
    }
}

fn get_u16(p: &[u8]) -> Result<u16, WireError> {
    p.get(..2)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_ne_bytes)
        .ok_or(WireError::Truncated)
}

fn get_u32(p: &[u8]) -> Result<u32, WireError> {
    p.get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
        .ok_or(WireError::Truncated)
}

fn get_be16(p: &[u8]) -> Result<u16, WireError> {
    get_u16(p).map(u16::from_be)
}

fn get_addr(p: &[u8], af: u16) -> Result<IpAddr, WireError> {
    if af == AF_INET6 {
        let b: [u8; 16] = p
            .get(..16)
            .and_then(|b| b.try_into().ok())
            .ok_or(WireError::BadAddress)?;
        Ok(IpAddr::V6(Ipv6Addr::from(b)))
    } else {
        let b: [u8; 4] = p
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or(WireError::BadAddress)?;
        Ok(IpAddr::V4(Ipv4Addr::from(b)))
    }
}

impl Service {
    /// The nested IPVS_CMD_ATTR_SERVICE payload, in libipvs's order.
    pub fn emit_attrs(&self, buf: &mut Vec<u8>) {
        let af = self.key.af();
        put_attr(buf, SVC_AF, &af.to_ne_bytes());
        match self.key {
            ServiceKey::Fwmark(mark, _) => put_attr(buf, SVC_FWMARK, &mark.to_ne_bytes()),
            ServiceKey::Inet(proto, ip, port) => {
                put_attr(buf, SVC_PROTOCOL, &proto.to_ne_bytes());
                put_attr(buf, SVC_ADDR, &addr16(&ip));
                put_attr(buf, SVC_PORT, &port.to_be_bytes());
            }
        }
        let mut sched = self.scheduler.as_bytes().to_vec();
        sched.push(0);
        put_attr(buf, SVC_SCHED_NAME, &sched);
        let mut flags = Vec::with_capacity(8);
        flags.extend_from_slice(&self.flags.to_ne_bytes());
        flags.extend_from_slice(&u32::MAX.to_ne_bytes());
        put_attr(buf, SVC_FLAGS, &flags);
        put_attr(buf, SVC_TIMEOUT, &self.timeout.to_ne_bytes());
        let mask = if af == AF_INET6 {
            self.netmask.to_ne_bytes()
        } else {
            self.netmask.to_be_bytes()
        };
        put_attr(buf, SVC_NETMASK, &mask);
    }

    /// Reads the nested IPVS_CMD_ATTR_SERVICE payload.
    pub fn parse_attrs(buf: &[u8]) -> Result<Service, WireError> {
        let (mut af, mut proto, mut addr, mut port, mut mark) = (None, None, None, None, None);
        let (mut sched, mut flags, mut timeout, mut netmask) = (String::new(), 0, 0, u32::MAX);
        let mut raw_mask = None;
        for a in Attrs::new(buf) {
            let (kind, p) = a?;
            match kind {
                SVC_AF => af = Some(get_u16(p)?),
                SVC_PROTOCOL => proto = Some(get_u16(p)?),
                SVC_ADDR => addr = Some(p),
                SVC_PORT => port = Some(get_be16(p)?),
                SVC_FWMARK => mark = Some(get_u32(p)?),
                SVC_SCHED_NAME => {
                    let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
                    sched = String::from_utf8_lossy(&p[..end]).into_owned();
                }
                SVC_FLAGS => flags = get_u32(p)? & !SVC_F_HASHED,
                SVC_TIMEOUT => timeout = get_u32(p)?,
                SVC_NETMASK => raw_mask = Some(p),
                _ => {}
            }
        }
        let af = af.ok_or(WireError::Missing("IPVS_SVC_ATTR_AF"))?;
        if let Some(p) = raw_mask {
            netmask = if af == AF_INET6 {
                get_u32(p)?
            } else {
                get_u32(p)?.swap_bytes()
            };
        }
        let key = match (mark, proto, addr, port) {
            (Some(m), ..) if m != 0 => ServiceKey::Fwmark(m, af == AF_INET6),
            (_, Some(proto), Some(a), Some(port)) => {
                ServiceKey::Inet(proto, get_addr(a, af)?, port)
            }
            _ => return Err(WireError::Missing("IPVS_SVC_ATTR_ADDR")),
        };
        Ok(Service {
            key,
            scheduler: sched,
            flags,
            timeout,
            netmask,
        })
    }
}

impl Dest {
    /// Whether `other` is at the same address and port: the kernel's key of a destination
    /// within its service.
    pub fn same_place(&self, other: &Dest) -> bool {
        self.addr == other.addr && self.port == other.port
    }

    /// The nested IPVS_CMD_ATTR_DEST payload, in libipvs's order.
    pub fn emit_attrs(&self, buf: &mut Vec<u8>) {
        put_attr(buf, DEST_ADDR, &addr16(&self.addr));
        put_attr(buf, DEST_PORT, &self.port.to_be_bytes());
        put_attr(buf, DEST_FWD_METHOD, &self.fwd.to_u32().to_ne_bytes());
        put_attr(buf, DEST_WEIGHT, &self.weight.to_ne_bytes());
        put_attr(buf, DEST_U_THRESH, &self.u_thresh.to_ne_bytes());
        put_attr(buf, DEST_L_THRESH, &self.l_thresh.to_ne_bytes());
        let af = if self.addr.is_ipv6() {
            AF_INET6
        } else {
            AF_INET
        };
        put_attr(buf, DEST_ADDR_FAMILY, &af.to_ne_bytes());
    }

    /// Reads a nested IPVS_CMD_ATTR_DEST payload; `svc_af` when it has no family attribute.
    pub fn parse_attrs(buf: &[u8], svc_af: u16) -> Result<Dest, WireError> {
        let mut d = Dest {
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            fwd: FwdMethod::Masq,
            weight: 0,
            u_thresh: 0,
            l_thresh: 0,
            active_conns: 0,
            inact_conns: 0,
            persist_conns: 0,
        };
        let mut addr = None;
        let mut af = svc_af;
        for a in Attrs::new(buf) {
            let (kind, p) = a?;
            match kind {
                DEST_ADDR => addr = Some(p),
                DEST_PORT => d.port = get_be16(p)?,
                DEST_FWD_METHOD => d.fwd = FwdMethod::from_u32(get_u32(p)?),
                DEST_WEIGHT => d.weight = get_u32(p)?,
                DEST_U_THRESH => d.u_thresh = get_u32(p)?,
                DEST_L_THRESH => d.l_thresh = get_u32(p)?,
                DEST_ACTIVE_CONNS => d.active_conns = get_u32(p)?,
                DEST_INACT_CONNS => d.inact_conns = get_u32(p)?,
                DEST_PERSIST_CONNS => d.persist_conns = get_u32(p)?,
                DEST_ADDR_FAMILY => af = get_u16(p)?,
                _ => {}
            }
        }
        d.addr = get_addr(addr.ok_or(WireError::Missing("IPVS_DEST_ATTR_ADDR"))?, af)?;
        Ok(d)
    }
}

/// Builds one IPVS request: headers, then the service and destination if given.
pub fn emit_request(
    family: u16,
    seq: u32,
    cmd: Command,
    flags: u16,
    service: Option<&Service>,
    dest: Option<&Dest>,
) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(s) = service {
        let mut inner = Vec::new();
        s.emit_attrs(&mut inner);
        put_nested(&mut body, IPVS_CMD_ATTR_SERVICE, &inner);
    }
    if let Some(d) = dest {
        let mut inner = Vec::new();
        d.emit_attrs(&mut inner);
        put_nested(&mut body, IPVS_CMD_ATTR_DEST, &inner);
    }
    frame(family, flags, seq, cmd.to_u8(), IPVS_GENL_VERSION, &body)
}

/// Only the service key's attributes (a GET_DEST dump names its service this way).
pub fn emit_dest_dump(family: u16, seq: u32, key: &ServiceKey) -> Vec<u8> {
    let mut inner = Vec::new();
    put_attr(&mut inner, SVC_AF, &key.af().to_ne_bytes());
    match *key {
        ServiceKey::Fwmark(mark, _) => put_attr(&mut inner, SVC_FWMARK, &mark.to_ne_bytes()),
        ServiceKey::Inet(proto, ip, port) => {
            put_attr(&mut inner, SVC_PROTOCOL, &proto.to_ne_bytes());
            put_attr(&mut inner, SVC_ADDR, &addr16(&ip));
            put_attr(&mut inner, SVC_PORT, &port.to_be_bytes());
        }
    }
    let mut body = Vec::new();
    put_nested(&mut body, IPVS_CMD_ATTR_SERVICE, &inner);
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP;
    frame(
        family,
        flags,
        seq,
        Command::GetDest.to_u8(),
        IPVS_GENL_VERSION,
        &body,
    )
}

fn frame(kind: u16, flags: u16, seq: u32, cmd: u8, version: u8, body: &[u8]) -> Vec<u8> {
    let len = 16 + 4 + body.len();
    let mut buf = Vec::with_capacity(len);
    buf.extend_from_slice(&(len as u32).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&[cmd, version, 0, 0]);
    buf.extend_from_slice(body);
    buf
}

/// CTRL_CMD_GETFAMILY for `name` (what libnl's genl_ctrl_resolve sends).
pub fn emit_getfamily(seq: u32, pid: u32, name: &str) -> Vec<u8> {
    let mut body = Vec::new();
    let mut n = name.as_bytes().to_vec();
    n.push(0);
    put_attr(&mut body, CTRL_ATTR_FAMILY_NAME, &n);
    let mut buf = frame(
        GENL_ID_CTRL,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        CTRL_CMD_GETFAMILY,
        1,
        &body,
    );
    buf[12..16].copy_from_slice(&pid.to_ne_bytes());
    buf
}

/// One netlink message of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// NLMSG_ERROR: 0 is an ACK, otherwise a negative errno.
    Error {
        seq: u32,
        errno: i32,
    },
    Done {
        seq: u32,
    },
    /// A generic netlink message: its command and the top-level attributes.
    Genl {
        seq: u32,
        kind: u16,
        cmd: u8,
        attrs: Vec<(u16, Vec<u8>)>,
    },
}

/// Splits a datagram into netlink messages.
pub fn parse_replies(buf: &[u8]) -> Result<Vec<Reply>, WireError> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= 16 {
        let len = usize::try_from(get_u32(rest)?).map_err(|_| WireError::Truncated)?;
        if len < 16 || len > rest.len() {
            return Err(WireError::Truncated);
        }
        let kind = get_u16(&rest[4..])?;
        let seq = get_u32(&rest[8..])?;
        let body = &rest[16..len];
        match kind {
            NLMSG_ERROR => {
                let errno = get_u32(body)? as i32;
                out.push(Reply::Error { seq, errno });
            }
            NLMSG_DONE => out.push(Reply::Done { seq }),
            _ => {
                let cmd = *body.first().ok_or(WireError::Truncated)?;
                let attrs = Attrs::new(body.get(4..).unwrap_or(&[]))
                    .map(|a| a.map(|(k, p)| (k, p.to_vec())))
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(Reply::Genl {
                    seq,
                    kind,
                    cmd,
                    attrs,
                });
            }
        }
        rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
    }
    Ok(out)
}

impl Reply {
    /// The family id in a CTRL_CMD_NEWFAMILY reply.
    pub fn family_id(&self) -> Option<u16> {
        match self {
            Reply::Genl { attrs, .. } => attrs
                .iter()
                .find(|(k, _)| *k == CTRL_ATTR_FAMILY_ID)
                .and_then(|(_, p)| get_u16(p).ok()),
            _ => None,
        }
    }

    /// The service in an IPVS reply, if it carries one.
    pub fn service(&self) -> Option<Result<Service, WireError>> {
        match self {
            Reply::Genl { attrs, .. } => attrs
                .iter()
                .find(|(k, _)| *k == IPVS_CMD_ATTR_SERVICE)
                .map(|(_, p)| Service::parse_attrs(p)),
            _ => None,
        }
    }

    /// The destination in an IPVS reply, if it carries one.
    pub fn dest(&self, svc_af: u16) -> Option<Result<Dest, WireError>> {
        match self {
            Reply::Genl { attrs, .. } => attrs
                .iter()
                .find(|(k, _)| *k == IPVS_CMD_ATTR_DEST)
                .map(|(_, p)| Dest::parse_attrs(p, svc_af)),
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "ipvs_tests.rs"]
mod tests;
