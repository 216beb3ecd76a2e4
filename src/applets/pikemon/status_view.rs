//! The monitor view of a running worker (`pikemon -c status [-j]`, SIGPWR): this node, the
//! peer with the age of the last HELLO per path, every virtual cluster with its VIPs,
//! virtual MACs and ping groups (per member state, RTT, loss), and the frame counters.

use std::fmt::Write as _;
use std::time::Instant;

use super::config::Host;
use super::control::json_str;
use super::worker::Worker;
use crate::wire::pike;

fn host_name(h: &Host) -> String {
    match h {
        Host::Addr(a) => a.to_string(),
        Host::Name(n) => n.clone(),
    }
}

fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or("-".to_string(), |x| x.to_string())
}

fn or_null<T: ToString>(v: Option<T>) -> String {
    v.map_or("null".to_string(), |x| x.to_string())
}

impl Worker {
    /// conntrackd as virtual cluster `i` sees it (None: no `conntrack` section applies).
    fn conntrack_text(&self, i: usize) -> Option<String> {
        let s = self.vcs[i].sync.as_ref()?;
        let sync = self.node.vc(i).map(|v| v.sync).unwrap_or_default();
        let reachable = match s.reachable {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        let commit = match &s.last_commit {
            Some(c) => format!(
                "{} ms {}",
                c.took.as_millis(),
                c.error.as_deref().unwrap_or("ok")
            ),
            None => "-".to_string(),
        };
        let mut line = format!(
            "conntrackd {} reachable {reachable} external {} internal {} last-commit {commit} bulk-sent {} bulk-received {}{}",
            s.conf.socket.display(),
            or_dash(s.external),
            or_dash(s.internal),
            sync.bulk_sent,
            sync.bulk_received,
            if s.conf.required { " required" } else { "" }
        );
        if let Some(e) = &s.last_error {
            line.push_str(&format!(" error {e}"));
        }
        Some(line)
    }

    fn conntrack_json(&self, i: usize) -> String {
        let Some(s) = self.vcs[i].sync.as_ref() else {
            return "null".to_string();
        };
        let sync = self.node.vc(i).map(|v| v.sync).unwrap_or_default();
        format!(
            "{{\"socket\":{},\"required\":{},\"reachable\":{},\"external\":{},\"internal\":{},\"last_commit_ms\":{},\"last_commit_error\":{},\"bulk_sent\":{},\"bulk_received\":{},\"error\":{}}}",
            json_str(&s.conf.socket.to_string_lossy()),
            s.conf.required,
            or_null(s.reachable),
            or_null(s.external),
            or_null(s.internal),
            or_null(s.last_commit.as_ref().map(|c| c.took.as_millis())),
            s.last_commit
                .as_ref()
                .and_then(|c| c.error.as_deref())
                .map_or("null".to_string(), json_str),
            sync.bulk_sent,
            sync.bulk_received,
            s.last_error.as_deref().map_or("null".to_string(), json_str),
        )
    }

    /// Plain-text status.
    pub(super) fn status_text(&self) -> String {
        let now = Instant::now();
        let mut o = String::new();
        let _ = writeln!(
            o,
            "node {} boot {} cluster {} incarnation {:08x} up {}s {}",
            self.cfg.node_id,
            self.node.boot(),
            self.cfg.cluster_id,
            self.node.incarnation(),
            now.duration_since(self.started).as_secs(),
            self.letters()
        );
        match self.node.peer() {
            Some(p) => {
                let _ = writeln!(
                    o,
                    "peer {} incarnation {:08x} {} last HELLO {} ms ago",
                    p.node_id,
                    p.incarnation,
                    if self.node.peer_alive(now, None) {
                        "alive"
                    } else {
                        "dead"
                    },
                    now.saturating_duration_since(p.last_seen).as_millis()
                );
            }
            None => o.push_str("peer unknown (no HELLO yet)\n"),
        }
        for (i, path) in self.paths.iter().enumerate() {
            let st = self.node.peer().and_then(|p| p.paths.get(i));
            let age = st.and_then(|s| s.last).map_or("-".to_string(), |t| {
                now.saturating_duration_since(t).as_millis().to_string()
            });
            let _ = writeln!(
                o,
                "path {} {} {} last-hello-ms {age}",
                i,
                path.ifname,
                if st.is_some_and(|s| s.up) {
                    "UP"
                } else {
                    "FAULTY"
                }
            );
        }
        for (i, vc) in self.cfg.virtual_clusters.iter().enumerate() {
            let v = &self.vcs[i];
            let st = self.node.vc(i);
            let _ = writeln!(
                o,
                "vc {} id {} role {} health {} admin {:?} since {}s reason {}",
                vc.name,
                vc.id,
                self.role_name(i),
                if v.health { "Up" } else { "Down" },
                st.map(|s| s.admin).unwrap_or_default(),
                st.map_or(0, |s| now.saturating_duration_since(s.since).as_secs()),
                st.map_or(String::new(), |s| s.reason.to_string())
            );
            if st.is_some_and(|s| s.maintenance) {
                o.push_str(
                    "  maintenance: on (Backup until 'maintenance off'; kept across restarts)\n",
                );
            }
            let peer_vc = self.node.peer().and_then(|p| p.vc(vc.id));
            if peer_vc.is_some_and(|p| p.more & pike::vc_more_flags::MAINTENANCE != 0) {
                o.push_str("  peer: in maintenance\n");
            }
            if let Some(d) = st.and_then(|s| s.drift) {
                let ours = self.node.settings().vcs[i].digest;
                let _ = writeln!(
                    o,
                    "  config drift: digest {ours:08x} here, {d:08x} on the peer"
                );
            }
            if let Some(e) = &v.takeover_error {
                let _ = writeln!(o, "  takeover failed: {e} (retried every second)");
            }
            for &ci in &v.ctls {
                let c = &self.ctls[ci].c;
                let mut vips: Vec<String> =
                    c.vips.iter().map(|(a, l)| format!("{a}/{l}")).collect();
                vips.extend(c.vips6.iter().map(|(a, l)| format!("{a}/{l}")));
                if !c.vips6.is_empty() {
                    vips.push(format!("{} (link-local)", c.link_local));
                }
                let _ = writeln!(
                    o,
                    "  interface {} link {} macvlan {} vmac {} vip {}",
                    c.ifname,
                    if c.link_up { "up" } else { "down" },
                    c.macvlan,
                    c.vmac,
                    vips.join(",")
                );
            }
            for g in &v.groups {
                let _ = writeln!(
                    o,
                    "  ping-group {} {}",
                    g.config.name,
                    if g.up() { "Up" } else { "Down" }
                );
                for m in &g.members {
                    let _ = writeln!(
                        o,
                        "    host {} addr {} {} rtt-ms {} loss {}%",
                        host_name(&m.host),
                        m.addr.map_or("-".to_string(), |a| a.to_string()),
                        if m.up { "up" } else { "down" },
                        m.last_rtt.map_or("-".to_string(), |r| format!(
                            "{:.3}",
                            r.as_secs_f64() * 1000.0
                        )),
                        m.loss_pct()
                    );
                }
            }
            for t in &v.tracks {
                let _ = writeln!(
                    o,
                    "  {} {} {}{}",
                    t.track.item(),
                    t.track.target(),
                    if t.up { "Up" } else { "Down" },
                    t.track
                        .weight
                        .map_or(String::new(), |w| format!(" (weight {w})"))
                );
            }
            if let Some(line) = self.conntrack_text(i) {
                let _ = writeln!(o, "  {line}");
            }
            if v.penalty > 0 {
                let _ = writeln!(o, "  penalty {} (failing weighted witnesses)", v.penalty);
            }
            let _ = writeln!(o, "  garp-bursts {}", v.garps_sent);
        }
        let c = self.node.counters();
        let _ = writeln!(
            o,
            "frames sent {} received {} malformed {} auth-failures {} replays {} foreign {} transitions {} throttled {}",
            c.sent, c.received, c.malformed, c.auth_failures, c.replays, c.foreign, c.transitions, c.throttled
        );
        o
    }

    /// The same as JSON.
    pub(super) fn status_json(&self) -> String {
        let now = Instant::now();
        let mut o = String::from("{");
        let _ = write!(
            o,
            "\"node\":{},\"boot\":{},\"cluster\":{},\"incarnation\":{},\"title\":{}",
            self.cfg.node_id,
            self.node.boot(),
            self.cfg.cluster_id,
            self.node.incarnation(),
            json_str(&self.letters())
        );
        match self.node.peer() {
            Some(p) => {
                let _ = write!(
                    o,
                    ",\"peer\":{{\"node\":{},\"incarnation\":{},\"alive\":{},\"last_hello_ms\":{}}}",
                    p.node_id,
                    p.incarnation,
                    self.node.peer_alive(now, None),
                    now.saturating_duration_since(p.last_seen).as_millis()
                );
            }
            None => o.push_str(",\"peer\":null"),
        }
        o.push_str(",\"paths\":[");
        for (i, path) in self.paths.iter().enumerate() {
            let st = self.node.peer().and_then(|p| p.paths.get(i));
            let age = st.and_then(|s| s.last).map_or("null".to_string(), |t| {
                now.saturating_duration_since(t).as_millis().to_string()
            });
            if i > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "{{\"id\":{i},\"interface\":{},\"up\":{},\"last_hello_ms\":{age}}}",
                json_str(&path.ifname),
                st.is_some_and(|s| s.up)
            );
        }
        o.push_str("],\"virtual_clusters\":[");
        for (i, vc) in self.cfg.virtual_clusters.iter().enumerate() {
            let v = &self.vcs[i];
            let st = self.node.vc(i);
            if i > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "{{\"name\":{},\"id\":{},\"role\":{},\"health\":{},\"admin\":{},\"since_s\":{},\"reason\":{},\"takeover_error\":{},\"config_digest\":\"{:08x}\",\"config_drift\":{},\"maintenance\":{},\"peer_maintenance\":{},\"garp_bursts\":{},\"interfaces\":[",
                json_str(&vc.name),
                vc.id,
                json_str(self.role_name(i)),
                v.health,
                json_str(&format!("{:?}", st.map(|s| s.admin).unwrap_or_default())),
                st.map_or(0, |s| now.saturating_duration_since(s.since).as_secs()),
                json_str(&st.map_or(String::new(), |s| s.reason.to_string())),
                v.takeover_error.as_deref().map_or("null".to_string(), json_str),
                self.node.settings().vcs[i].digest,
                st.and_then(|s| s.drift)
                    .map_or("null".to_string(), |d| format!("\"{d:08x}\"")),
                st.is_some_and(|s| s.maintenance),
                self.node
                    .peer()
                    .and_then(|p| p.vc(vc.id))
                    .is_some_and(|p| p.more & pike::vc_more_flags::MAINTENANCE != 0),
                v.garps_sent
            );
            for (k, &ci) in v.ctls.iter().enumerate() {
                let c = &self.ctls[ci].c;
                if k > 0 {
                    o.push(',');
                }
                let vips: Vec<String> = c
                    .vips
                    .iter()
                    .map(|(a, l)| json_str(&format!("{a}/{l}")))
                    .chain(c.vips6.iter().map(|(a, l)| json_str(&format!("{a}/{l}"))))
                    .collect();
                let link_local = if c.vips6.is_empty() {
                    "null".to_string()
                } else {
                    json_str(&c.link_local.to_string())
                };
                let _ = write!(
                    o,
                    "{{\"name\":{},\"link_up\":{},\"macvlan\":{},\"vmac\":{},\"vips\":[{}],\
                     \"link_local\":{}}}",
                    json_str(&c.ifname),
                    c.link_up,
                    json_str(&c.macvlan),
                    json_str(&c.vmac.to_string()),
                    vips.join(","),
                    link_local
                );
            }
            o.push_str("],\"ping_groups\":[");
            for (k, g) in v.groups.iter().enumerate() {
                if k > 0 {
                    o.push(',');
                }
                let _ = write!(
                    o,
                    "{{\"name\":{},\"up\":{},\"hosts\":[",
                    json_str(&g.config.name),
                    g.up()
                );
                for (j, m) in g.members.iter().enumerate() {
                    if j > 0 {
                        o.push(',');
                    }
                    let _ = write!(
                        o,
                        "{{\"host\":{},\"addr\":{},\"up\":{},\"rtt_ms\":{},\"loss_pct\":{}}}",
                        json_str(&host_name(&m.host)),
                        m.addr
                            .map_or("null".to_string(), |a| json_str(&a.to_string())),
                        m.up,
                        m.last_rtt.map_or("null".to_string(), |r| format!(
                            "{:.3}",
                            r.as_secs_f64() * 1000.0
                        )),
                        m.loss_pct()
                    );
                }
                o.push_str("]}");
            }
            let _ = write!(o, "],\"penalty\":{},\"tracks\":[", v.penalty);
            for (k, t) in v.tracks.iter().enumerate() {
                if k > 0 {
                    o.push(',');
                }
                let _ = write!(
                    o,
                    "{{\"item\":{},\"target\":{},\"weight\":{},\"up\":{}}}",
                    json_str(t.track.item()),
                    json_str(&t.track.target()),
                    t.track.weight.map_or("null".to_string(), |w| w.to_string()),
                    t.up
                );
            }
            let _ = write!(o, "],\"conntrack\":{}}}", self.conntrack_json(i));
        }
        let c = self.node.counters();
        let _ = writeln!(
            o,
            "],\"counters\":{{\"sent\":{},\"received\":{},\"malformed\":{},\"auth_failures\":{},\"replays\":{},\"foreign\":{},\"transitions\":{},\"throttled\":{}}}}}",
            c.sent, c.received, c.malformed, c.auth_failures, c.replays, c.foreign, c.transitions, c.throttled
        );
        o
    }
}
