//! Renders a `Config` back as config text (`show-config`, `show-config all`), one virtual
//! cluster (`show-vc NAME`) and the virtual MACs (`show-mac`). The output reads back to the
//! same `Config`, except HMAC secrets, which are never printed.

use std::fmt::Write;

use super::config::{
    Config, ControlledInterface, Host, KeySource, PingGroup, TrackKind, VirtualCluster,
    NOTIFY_TIMEOUT,
};
use super::values::{show_bool, show_duration, show_mac};

/// Writes `item value;` when `all` or the value differs from the default.
fn opt(out: &mut String, ind: &str, all: bool, item: &str, value: String, default: String) {
    if all || value != default {
        let _ = writeln!(out, "{ind}{item} {value};");
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The whole config; `all` also prints items left at their defaults.
pub fn config(c: &Config, all: bool) -> String {
    let d = Config::default();
    let mut o = String::new();
    let _ = writeln!(o, "version {};", super::config::VERSION);
    o.push_str("pikemon {\n");
    let i = "    ";
    let _ = writeln!(o, "{i}node-id {};", c.node_id);
    opt(
        &mut o,
        i,
        all,
        "cluster-id",
        c.cluster_id.to_string(),
        d.cluster_id.to_string(),
    );
    if let Some(p) = &c.notify_fifo {
        let _ = writeln!(o, "{i}notify-fifo {};", quote(&p.to_string_lossy()));
    }
    for (item, v, dv) in [
        ("status-file", &c.status_file, &d.status_file),
        ("pid-file", &c.pid_file, &d.pid_file),
        ("control-socket", &c.control_socket, &d.control_socket),
        ("paths-file", &c.paths_file, &d.paths_file),
    ] {
        opt(
            &mut o,
            i,
            all,
            item,
            quote(&v.to_string_lossy()),
            quote(&dv.to_string_lossy()),
        );
    }
    opt(
        &mut o,
        i,
        all,
        "log-level",
        c.log_level.to_string(),
        d.log_level.to_string(),
    );
    opt(
        &mut o,
        i,
        all,
        "realtime",
        c.realtime.map_or("no".to_string(), |p| p.to_string()),
        "no".to_string(),
    );
    for k in &c.keys {
        match &k.source {
            KeySource::File(p) => {
                let _ = writeln!(
                    o,
                    "{i}hmac file {} key-id {};",
                    quote(&p.to_string_lossy()),
                    k.id
                );
            }
            KeySource::Inline => {
                let _ = writeln!(o, "{i}hmac key \"(hidden)\" key-id {};", k.id);
            }
        }
    }
    let _ = write!(o, "{i}heart-beat {{");
    for hb in &c.heart_beat {
        let _ = write!(o, " interface {hb};");
    }
    if let Some(w) = &c.death_watch {
        let _ = write!(o, " death-watch local [{}] peer [{}]", w.local, w.peer);
        if all || w.port != super::config::DEATH_WATCH_PORT {
            let _ = write!(o, " port {}", w.port);
        }
        o.push(';');
    }
    o.push_str(" }\n");
    let dur = |x| show_duration(x);
    opt(
        &mut o,
        i,
        all,
        "hello-interval",
        dur(c.hello_interval),
        dur(d.hello_interval),
    );
    opt(
        &mut o,
        i,
        all,
        "dead-interval",
        dur(c.dead_interval),
        dur(c.hello_interval * 3),
    );
    opt(
        &mut o,
        i,
        all,
        "garp-repeat",
        c.garp_repeat.to_string(),
        d.garp_repeat.to_string(),
    );
    opt(
        &mut o,
        i,
        all,
        "garp-interval",
        dur(c.garp_interval),
        dur(d.garp_interval),
    );
    opt(
        &mut o,
        i,
        all,
        "garp-keepalive",
        dur(c.garp_keepalive),
        dur(d.garp_keepalive),
    );
    opt(
        &mut o,
        i,
        all,
        "resolve-interval",
        dur(c.resolve_interval),
        dur(d.resolve_interval),
    );
    if let Some(ct) = &c.conntrack {
        let _ = writeln!(o, "{i}{}", ct.show(all));
    }
    for vc in &c.virtual_clusters {
        virtual_cluster_into(&mut o, i, vc, all);
    }
    o.push_str("}\n");
    o
}

/// One virtual cluster as config text.
pub fn virtual_cluster(vc: &VirtualCluster, all: bool) -> String {
    let mut o = String::new();
    virtual_cluster_into(&mut o, "", vc, all);
    o
}

fn virtual_cluster_into(o: &mut String, ind: &str, vc: &VirtualCluster, all: bool) {
    let _ = writeln!(o, "{ind}virtual-cluster {} {{", vc.name);
    let i = format!("{ind}    ");
    let _ = writeln!(o, "{i}id {};", vc.id);
    if let Some(p) = vc.primary {
        let _ = writeln!(o, "{i}primary node {p};");
    }
    opt(
        o,
        &i,
        all,
        "preemptive",
        show_bool(vc.preemptive).into(),
        "no".into(),
    );
    opt(
        o,
        &i,
        all,
        "preempt-delay",
        show_duration(vc.preempt_delay),
        "0s".into(),
    );
    opt(
        o,
        &i,
        all,
        "priority",
        vc.priority.to_string(),
        "100".into(),
    );
    for ci in &vc.interfaces {
        interface_into(o, &i, ci, all);
    }
    for g in &vc.ping_groups {
        ping_group_into(o, &i, g, all);
    }
    for t in &vc.tracks {
        let timeout = match t.kind {
            TrackKind::Script(_) => format!(" timeout {}", show_duration(t.timeout)),
            _ => String::new(),
        };
        let weight = t.weight.map_or(String::new(), |w| format!(" weight {w}"));
        let _ = writeln!(
            o,
            "{i}{} {} interval {}{timeout} fall {} rise {}{weight};",
            t.item(),
            quote(&t.target()),
            show_duration(t.interval),
            t.fall,
            t.rise
        );
    }
    let hooks = [
        ("notify-master", &vc.notify_master),
        ("notify-backup", &vc.notify_backup),
        ("notify-fault", &vc.notify_fault),
        ("notify-stop", &vc.notify_stop),
    ];
    for (key, cmd) in hooks {
        if let Some(cmd) = cmd {
            let _ = writeln!(o, "{i}{key} {};", quote(cmd));
        }
    }
    opt(
        o,
        &i,
        all,
        "notify-timeout",
        show_duration(vc.notify_timeout),
        show_duration(NOTIFY_TIMEOUT),
    );
    if let Some(ct) = &vc.conntrack {
        let _ = writeln!(o, "{i}{}", ct.show(all));
    }
    let _ = writeln!(o, "{ind}}}");
}

fn interface_into(o: &mut String, ind: &str, ci: &ControlledInterface, all: bool) {
    let _ = writeln!(o, "{ind}interface {} {{", ci.name);
    let i = format!("{ind}    ");
    for (a, len) in &ci.ipv4 {
        let _ = writeln!(o, "{i}ipv4 [{a}]/{len};");
    }
    for (a, len) in &ci.ipv6 {
        let _ = writeln!(o, "{i}ipv6 [{a}]/{len};");
    }
    if let Some(ll) = ci.link_local {
        let _ = writeln!(o, "{i}link-local [{ll}];");
    } else if all && !ci.ipv6.is_empty() {
        let _ = writeln!(
            o,
            "{i}# link-local [{}]; (derived from the virtual MAC)",
            ci.virtual_link_local()
        );
    }
    opt(
        o,
        &i,
        all,
        "nomadic",
        show_bool(ci.nomadic).into(),
        "no".into(),
    );
    if let Some(m) = &ci.mac {
        let _ = writeln!(o, "{i}mac {};", show_mac(m));
    }
    opt(
        o,
        &i,
        all,
        "onlink",
        show_bool(ci.onlink).into(),
        "no".into(),
    );
    let _ = writeln!(o, "{ind}}}");
}

fn ping_group_into(o: &mut String, ind: &str, g: &PingGroup, all: bool) {
    let _ = writeln!(o, "{ind}ping-group {} {{", g.name);
    let i = format!("{ind}    ");
    for h in &g.hosts {
        match h {
            Host::Addr(a) => {
                let _ = writeln!(o, "{i}host [{a}];");
            }
            Host::Name(n) => {
                let _ = writeln!(o, "{i}host {n};");
            }
        }
    }
    opt(o, &i, all, "min-up", g.min_up.to_string(), "1".into());
    opt(
        o,
        &i,
        all,
        "interval",
        show_duration(g.interval),
        "1s".into(),
    );
    opt(o, &i, all, "timeout", show_duration(g.timeout), "1s".into());
    opt(o, &i, all, "fall", g.fall.to_string(), "3".into());
    opt(o, &i, all, "rise", g.rise.to_string(), "2".into());
    let _ = writeln!(o, "{ind}}}");
}

/// `show-mac`: one line per controlled interface: VC, interface, macvlan, virtual MAC.
pub fn macs(c: &Config) -> String {
    let mut o = String::new();
    for vc in &c.virtual_clusters {
        for ci in &vc.interfaces {
            let _ = writeln!(
                o,
                "{} {} {} {}",
                vc.name,
                ci.name,
                ci.macvlan_name(vc.id),
                show_mac(&ci.virtual_mac())
            );
        }
    }
    o
}
