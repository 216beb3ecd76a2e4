//! How the config maps onto the kernel's IPVS table: the service of a virtual, the
//! destination of a real or of the fallback server, and the table changes (`IpvsOp`) the
//! core asks for. Pure functions of the config; no state.

use crate::applets::ldirectord::config::{
    sched_flag, Forward, Protocol, Real, Virtual, VirtualAddr,
};
use crate::wire::ipvs::{
    Dest, FwdMethod, Service, ServiceKey, IPPROTO_TCP, IPPROTO_UDP, SVC_F_ONEPACKET,
    SVC_F_PERSISTENT,
};

/// The kernel's IPVS table as listed: each service with its destinations.
pub type Table = [(Service, Vec<Dest>)];

/// One change of the IPVS table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpvsOp {
    AddService(Service),
    EditService(Service),
    DelService(Service),
    AddDest(Service, Dest),
    EditDest(Service, Dest),
    DelDest(Service, Dest),
}

/// The IPVS service a virtual maps to.
pub fn service_of(v: &Virtual) -> Service {
    let key = match v.addr {
        VirtualAddr::Inet(ip, port) => {
            let proto = if v.protocol == Protocol::Udp {
                IPPROTO_UDP
            } else {
                IPPROTO_TCP
            };
            ServiceKey::Inet(proto, ip, port)
        }
        VirtualAddr::Fwmark(m, v6) => ServiceKey::Fwmark(m, v6),
    };
    let v6 = key.af() == crate::wire::ipvs::AF_INET6;
    let mut flags = 0;
    let mut timeout = 0;
    // Without persistence, or without a netmask, the host's own: /32 or /128.
    let mut netmask = if v6 { 128 } else { u32::MAX };
    if let Some(p) = v.persistent {
        flags |= SVC_F_PERSISTENT;
        timeout = p;
        if let Some(m) = v.netmask {
            netmask = m;
        }
    }
    if v.ops && v.protocol == Protocol::Udp {
        flags |= SVC_F_ONEPACKET;
    }
    // ipvsadm -b; the names were checked when the config was read.
    if let Some(names) = &v.schedflags {
        flags |= names
            .split(',')
            .filter_map(sched_flag)
            .fold(0, |a, b| a | b);
    }
    Service {
        key,
        scheduler: v.scheduler.clone(),
        flags,
        timeout,
        netmask,
    }
}

fn fwd_of(f: Forward) -> FwdMethod {
    match f {
        Forward::Gate => FwdMethod::Route,
        Forward::Masq => FwdMethod::Masq,
        Forward::Ipip => FwdMethod::Tunnel,
    }
}

/// The IPVS destination of a real at `weight`. With gate/ipip the kernel uses the virtual's
/// port (as ipvsadm rewrites it); a real without a port takes the virtual's.
pub fn dest_of(v: &Virtual, r: &Real, weight: u32) -> Dest {
    Dest {
        addr: r.addr,
        port: r.table_port(v.port()),
        fwd: fwd_of(r.forward),
        weight,
        u_thresh: r.upper,
        l_thresh: r.lower,
        active_conns: 0,
        inact_conns: 0,
        persist_conns: 0,
    }
}
pub(super) fn fallback_dest(v: &Virtual) -> Option<Dest> {
    let fb = v.fallback.as_ref()?;
    Some(Dest {
        addr: fb.addr,
        port: fb.port.unwrap_or_else(|| v.port()),
        fwd: fwd_of(fb.forward),
        weight: 1,
        u_thresh: 0,
        l_thresh: 0,
        active_conns: 0,
        inact_conns: 0,
        persist_conns: 0,
    })
}

/// `RIP:PORT (VIP:VPORT)`-style name for logs.
pub fn real_name(v: &Virtual, r: &Real) -> String {
    dest_name(&dest_of(v, r, 0))
}

/// A destination as the logs name a real: `IP:PORT`, `[IPv6]:PORT`.
pub fn dest_name(d: &Dest) -> String {
    match d.addr {
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", d.port),
        std::net::IpAddr::V4(ip) => format!("{ip}:{}", d.port),
    }
}

/// The entry of `table` for virtual `v`'s service, if it has one.
pub(super) fn entry<'t>(table: &'t Table, v: &Virtual) -> Option<&'t (Service, Vec<Dest>)> {
    let key = service_of(v).key;
    table.iter().find(|(s, _)| s.key == key)
}

/// Makes virtual `v`'s service in the table (`existing`) what the config says: added when
/// missing, edited when it differs, with the original's log lines (ld_start), which
/// operators grep for. Returns the destinations the table holds for it.
pub(super) fn sync_service<'t>(
    v: &Virtual,
    existing: Option<&'t (Service, Vec<Dest>)>,
    actions: &mut Vec<super::Action>,
) -> &'t [Dest] {
    let svc = service_of(v);
    match existing {
        Some((s, _)) if *s == svc => {}
        Some(_) => {
            log::info!("Changed virtual server: {}", v.id());
            actions.push(super::Action::Ipvs(IpvsOp::EditService(svc)));
        }
        None => {
            log::info!("Added virtual server: {}", v.id());
            actions.push(super::Action::Ipvs(IpvsOp::AddService(svc)));
        }
    }
    existing.map(|(_, d)| d.as_slice()).unwrap_or(&[])
}

/// Whether a destination in the table is written as `want` says: weight, forwarding method
/// and thresholds (the counters are the kernel's).
pub(super) fn same_dest(have: &Dest, want: &Dest) -> bool {
    have.same_place(want)
        && (have.weight, have.fwd, have.u_thresh, have.l_thresh)
            == (want.weight, want.fwd, want.u_thresh, want.l_thresh)
}

/// Whether a real of `v` has its destination at `d`'s place.
pub(super) fn has_real_at(v: &Virtual, d: &Dest) -> bool {
    v.reals.iter().any(|r| dest_of(v, r, 0).same_place(d))
}
