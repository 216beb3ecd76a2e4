//! The top level of a config file (`version` and the `pikemon` section) and the items of
//! `pikemon` itself; the sections inside it have their own readers (`heart_beat`, `vc`,
//! `conntrack`).

use std::collections::HashMap;
use std::time::Duration;

use super::{absolute_path, checks, values, Config, Reader, Seen, MAX_VCS, VERSION};
use crate::conf::tree::Node;
use crate::conf::Span;

impl Reader<'_> {
    pub(super) fn top(&mut self, file: &str, nodes: &[Node]) -> Config {
        let mut config = Config::default();
        let mut version: Option<&Node> = None;
        let mut section: Option<&Node> = None;
        for node in nodes {
            match node.key() {
                "version" => {
                    if version.is_some() {
                        self.err(node.span(), "duplicate 'version'");
                    } else if self.item(node, 1) {
                        if node.args[0].text != VERSION {
                            self.err(
                                &node.args[0].span,
                                format!(
                                    "unsupported version '{}' (expected {VERSION})",
                                    node.args[0].text
                                ),
                            );
                        }
                        version = Some(node);
                    } else {
                        version = Some(node);
                    }
                    if section.is_some() {
                        self.err(node.span(), "'version' must come before 'pikemon'");
                    }
                }
                "pikemon" => {
                    if section.is_some() {
                        self.err(node.span(), "duplicate section 'pikemon'");
                    } else if self.section(node, 0) {
                        self.pikemon(node, &mut config);
                        self.file_collision_check(file, node);
                    }
                    section = Some(node);
                }
                _ => self.unknown(node, "the top level (expected 'version' and 'pikemon')"),
            }
        }
        let start = Span::new(&std::rc::Rc::from(file), 1, 1);
        if version.is_none() {
            self.err(&start, format!("missing 'version {VERSION};' line"));
        }
        if section.is_none() {
            self.err(&start, "missing section 'pikemon { ... }'");
        }
        config
    }

    fn pikemon(&mut self, sect: &Node, c: &mut Config) {
        let mut seen = Seen::default();
        let mut key_spans: HashMap<u16, Span> = HashMap::new();
        let mut hmac_items = 0;
        let mut hello_ok = true;
        let mut dead_set: Option<&Node> = None;
        let mut vc_names: HashMap<String, Span> = HashMap::new();
        let mut vc_ids: HashMap<u16, Span> = HashMap::new();
        let mut claims = checks::Claims::default();
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        for node in sect.children() {
            match node.key() {
                "node-id" => {
                    if let Some(v) = self.single(&mut seen, node, |t| {
                        values::number(t, 1, u64::from(u32::MAX))
                    }) {
                        c.node_id = v as u32;
                    }
                }
                "cluster-id" => {
                    if let Some(v) = self.single(&mut seen, node, |t| {
                        values::number(t, 1, u64::from(u32::MAX))
                    }) {
                        c.cluster_id = v as u32;
                    }
                }
                "notify-fifo" => {
                    if let Some(p) = self.single(&mut seen, node, absolute_path) {
                        c.notify_fifo = Some(p);
                    }
                }
                "status-file" | "pid-file" | "control-socket" | "paths-file" => {
                    if let Some(p) = self.single(&mut seen, node, absolute_path) {
                        match node.key() {
                            "status-file" => c.status_file = p,
                            "pid-file" => c.pid_file = p,
                            "control-socket" => {
                                if self.opts.check_host {
                                    self.control_socket_check(node, &p);
                                }
                                c.control_socket = p
                            }
                            _ => c.paths_file = p,
                        }
                    }
                }
                "realtime" => {
                    if let Some(v) = self.single(&mut seen, node, values::realtime) {
                        c.realtime = v;
                    }
                }
                "log-level" => {
                    if let Some(v) = self.single(&mut seen, node, |t| values::number(t, 3, 9)) {
                        c.log_level = v as u8;
                    }
                }
                "hmac" => {
                    hmac_items += 1;
                    if let Some(key) = self.hmac(node) {
                        if let Some(first) = key_spans.get(&key.id) {
                            let msg = format!("duplicate key-id {} (first at {first})", key.id);
                            self.err(node.span(), msg);
                        } else {
                            key_spans.insert(key.id, node.span().clone());
                            c.keys.push(key);
                        }
                    }
                }
                "heart-beat" => {
                    if self.once(&mut seen, node) && self.section(node, 0) {
                        self.heart_beat(node, c);
                    }
                }
                "hello-interval" => {
                    match self.single(&mut seen, node, |t| values::duration(t, ms(10), s(60))) {
                        Some(d) => c.hello_interval = d,
                        None => hello_ok = false,
                    }
                }
                "dead-interval" => {
                    if let Some(d) =
                        self.single(&mut seen, node, |t| values::duration(t, ms(20), s(600)))
                    {
                        c.dead_interval = d;
                        dead_set = Some(node);
                    }
                }
                "garp-repeat" => {
                    if let Some(v) = self.single(&mut seen, node, |t| values::number(t, 1, 100)) {
                        c.garp_repeat = v as u32;
                    }
                }
                "garp-interval" => {
                    if let Some(d) =
                        self.single(&mut seen, node, |t| values::duration(t, ms(1), s(10)))
                    {
                        c.garp_interval = d;
                    }
                }
                "garp-keepalive" => {
                    if let Some(d) = self.single(&mut seen, node, |t| {
                        values::duration(t, Duration::ZERO, s(86_400))
                    }) {
                        c.garp_keepalive = d;
                    }
                }
                "resolve-interval" => {
                    if let Some(d) =
                        self.single(&mut seen, node, |t| values::duration(t, s(1), s(86_400)))
                    {
                        c.resolve_interval = d;
                    }
                }
                "conntrack" => {
                    if self.once(&mut seen, node) && self.section(node, 0) {
                        c.conntrack = self.conntrack(node);
                    }
                }
                "virtual-cluster" => {
                    if !self.section(node, 1) {
                        continue;
                    }
                    let name_tok = &node.args[0];
                    let Some(name) = self.value(name_tok, values::name) else {
                        continue;
                    };
                    if let Some(first) = vc_names.get(&name) {
                        let msg = format!("duplicate virtual-cluster '{name}' (first at {first})");
                        self.err(&name_tok.span, msg);
                        continue;
                    }
                    vc_names.insert(name.clone(), name_tok.span.clone());
                    if let Some(vc) = self.virtual_cluster(node, name) {
                        self.cross_check(node, &vc, &mut claims);
                        if self.opts.check_host {
                            self.host_check(node, &vc);
                        }
                        if let Some(first) = vc_ids.get(&vc.id) {
                            let msg = format!("duplicate id {} (first at {first})", vc.id);
                            self.err(node.span(), msg);
                        } else {
                            vc_ids.insert(vc.id, node.span().clone());
                            c.virtual_clusters.push(vc);
                        }
                    }
                }
                _ => self.unknown(node, "section 'pikemon'"),
            }
        }
        if !seen.0.contains_key("node-id") {
            self.err(sect.span(), "missing mandatory item 'node-id'");
        }
        if hmac_items == 0 {
            self.err(sect.span(), "missing mandatory item 'hmac'");
        }
        if !seen.0.contains_key("heart-beat") {
            self.err(
                sect.span(),
                "missing mandatory section 'heart-beat { interface NAME; }'",
            );
        }
        if vc_names.is_empty() && !sect.children().iter().any(|n| n.key() == "virtual-cluster") {
            self.err(
                sect.span(),
                "missing mandatory section 'virtual-cluster NAME { ... }'",
            );
        }
        if c.virtual_clusters.len() > MAX_VCS {
            self.err(
                sect.span(),
                format!("at most {MAX_VCS} virtual clusters are supported"),
            );
        }
        match dead_set {
            Some(node) if hello_ok && c.dead_interval < c.hello_interval * 2 => self.err(
                node.span(),
                format!(
                    "dead-interval {} must be at least twice hello-interval {}",
                    values::show_duration(c.dead_interval),
                    values::show_duration(c.hello_interval)
                ),
            ),
            Some(_) => {}
            None => c.dead_interval = c.hello_interval * 3,
        }
        self.foreign_vip_check(sect, c);
        self.own_address_check(sect, c);
        if self.opts.resolve {
            self.resolve_check(c);
        }
    }
}
