//! A `virtual-cluster NAME { }` section: its controlled interfaces (VIPs, virtual MAC,
//! macvlan), ping groups, tracked witnesses, hooks and state sync (doc/pikemon.cfg.5.md).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::conf::tree::Node;
use crate::conf::Token;

use super::{values, ControlledInterface, Host, PingGroup, Reader, Seen, VirtualCluster};

impl Reader<'_> {
    pub(super) fn virtual_cluster(&mut self, sect: &Node, name: String) -> Option<VirtualCluster> {
        let mut vc = VirtualCluster::new(name);
        let mut seen = Seen::default();
        let mut ok = true;
        for node in sect.children() {
            match node.key() {
                "id" => match self.single(&mut seen, node, |t| values::number(t, 1, 65_535)) {
                    Some(v) => vc.id = v as u16,
                    None => ok = false,
                },
                "primary" => {
                    if !self.once(&mut seen, node) || !self.item(node, 2) {
                        continue;
                    }
                    if node.args[0].text != "node" {
                        self.err(&node.args[0].span, "expected 'primary node N;'");
                        continue;
                    }
                    vc.primary = self
                        .value(&node.args[1], |t| values::number(t, 1, u64::from(u32::MAX)))
                        .map(|v| v as u32);
                }
                "preemptive" => {
                    if let Some(b) = self.single(&mut seen, node, values::boolean) {
                        vc.preemptive = b;
                    }
                }
                "preempt-delay" => {
                    if let Some(d) = self.single(&mut seen, node, |t| {
                        values::duration(t, Duration::ZERO, Duration::from_secs(3600))
                    }) {
                        vc.preempt_delay = d;
                    }
                }
                "priority" => {
                    if let Some(v) = self.single(&mut seen, node, |t| values::number(t, 1, 255)) {
                        vc.priority = v as u8;
                    }
                }
                "interface" => {
                    if !self.section(node, 1) {
                        continue;
                    }
                    let Some(ifname) = self.value(&node.args[0], values::ifname) else {
                        continue;
                    };
                    if vc.interfaces.iter().any(|i| i.name == ifname) {
                        let msg = format!("interface '{ifname}' is listed twice");
                        self.err(node.span(), msg);
                        continue;
                    }
                    if let Some(ci) = self.controlled_interface(node, ifname) {
                        vc.interfaces.push(ci);
                    }
                }
                "ping-group" => {
                    if !self.section(node, 1) {
                        continue;
                    }
                    let Some(gname) = self.value(&node.args[0], values::name) else {
                        continue;
                    };
                    if vc.ping_groups.iter().any(|g| g.name == gname) {
                        let msg = format!("ping-group '{gname}' is listed twice");
                        self.err(node.span(), msg);
                        continue;
                    }
                    if let Some(g) = self.ping_group(node, gname) {
                        vc.ping_groups.push(g);
                    }
                }
                "track-process" | "track-file" | "track-script" => {
                    if let Some(t) = self.track(node) {
                        vc.tracks.push(t);
                    }
                }
                "conntrack" => {
                    if self.once(&mut seen, node) && self.section(node, 0) {
                        vc.conntrack = self.conntrack(node);
                    }
                }
                "notify-timeout" => {
                    if let Some(d) = self.single(&mut seen, node, |t| {
                        values::duration(t, Duration::from_millis(100), Duration::from_secs(3600))
                    }) {
                        vc.notify_timeout = d;
                    }
                }
                "notify-master" | "notify-backup" | "notify-fault" | "notify-stop" => {
                    if !self.once(&mut seen, node) || !self.item(node, 1) {
                        continue;
                    }
                    let cmd = node.args[0].text.trim().to_string();
                    if cmd.is_empty() {
                        self.err(&node.args[0].span, "empty command");
                        continue;
                    }
                    let slot = match node.key() {
                        "notify-master" => &mut vc.notify_master,
                        "notify-backup" => &mut vc.notify_backup,
                        "notify-fault" => &mut vc.notify_fault,
                        _ => &mut vc.notify_stop,
                    };
                    *slot = Some(cmd);
                }
                _ => self.unknown(node, "section 'virtual-cluster'"),
            }
        }
        if !seen.0.contains_key("id") {
            self.err(sect.span(), "missing mandatory item 'id' (1..65535)");
            ok = false;
        }
        if !sect.children().iter().any(|n| n.key() == "interface") {
            self.err(
                sect.span(),
                "a virtual-cluster needs at least one 'interface NAME { ipv4 ...; }'",
            );
        }
        self.witness_check(sect, &vc);
        ok.then_some(vc)
    }

    /// A ping-group host that is one of the virtual cluster's own VIPs witnesses nothing:
    /// the Master answers it itself (Up whatever became of its network) and the Backup
    /// hears the Master. (Another virtual cluster's: `foreign_vip_check`.)
    fn witness_check(&mut self, sect: &Node, vc: &VirtualCluster) {
        for (tok, a) in literal_hosts(sect) {
            if vc.vips().any(|v| v == a) {
                let msg = format!(
                    "{a} is a VIP of this virtual cluster: the Master answers it itself, \
                     so it witnesses nothing; ping a gateway or another host"
                );
                self.err(&tok.span, msg);
            }
        }
    }

    fn controlled_interface(&mut self, sect: &Node, name: String) -> Option<ControlledInterface> {
        let mut ci = ControlledInterface {
            name,
            ipv4: Vec::new(),
            ipv6: Vec::new(),
            link_local: None,
            nomadic: false,
            mac: None,
            onlink: false,
        };
        let mut seen = Seen::default();
        for node in sect.children() {
            match node.key() {
                "ipv4" => {
                    if !self.item(node, 1) {
                        continue;
                    }
                    if let Some(a) = self.value(&node.args[0], values::ipv4_prefix) {
                        if ci.ipv4.iter().any(|(x, _)| *x == a.0) {
                            self.err(node.span(), format!("address {} is listed twice", a.0));
                        } else {
                            ci.ipv4.push(a);
                        }
                    }
                }
                "ipv6" => {
                    if !self.item(node, 1) {
                        continue;
                    }
                    if let Some(a) = self.value(&node.args[0], values::ipv6_prefix) {
                        if ci.ipv6.iter().any(|(x, _)| *x == a.0) {
                            self.err(node.span(), format!("address {} is listed twice", a.0));
                        } else {
                            ci.ipv6.push(a);
                        }
                    }
                }
                "link-local" => {
                    if let Some(a) = self.single(&mut seen, node, values::link_local) {
                        ci.link_local = Some(a);
                    }
                }
                "nomadic" => {
                    if let Some(b) = self.single(&mut seen, node, values::boolean) {
                        ci.nomadic = b;
                    }
                }
                "mac" => {
                    if let Some(m) = self.single(&mut seen, node, values::mac) {
                        ci.mac = Some(m);
                    }
                }
                "onlink" => {
                    if let Some(b) = self.single(&mut seen, node, values::boolean) {
                        ci.onlink = b;
                    }
                }
                _ => self.unknown(node, "section 'interface'"),
            }
        }
        if ci.ipv4.is_empty() && ci.ipv6.is_empty() {
            if sect
                .children()
                .iter()
                .any(|n| n.key() == "ipv4" || n.key() == "ipv6")
            {
                return None;
            }
            self.err(
                sect.span(),
                "an interface needs at least one 'ipv4 [a.b.c.d]/len;' or 'ipv6 [2001:db8::1]/len;'",
            );
            return None;
        }
        Some(ci)
    }

    fn ping_group(&mut self, sect: &Node, name: String) -> Option<PingGroup> {
        let mut g = PingGroup::new(name);
        let mut seen = Seen::default();
        let mut min_up: Option<&Node> = None;
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        for node in sect.children() {
            match node.key() {
                "host" => {
                    if !self.item(node, 1) {
                        continue;
                    }
                    if let Some(h) = self.host(&node.args[0]) {
                        g.hosts.push(h);
                    }
                }
                "min-up" => {
                    if let Some(v) = self.single(&mut seen, node, |t| values::number(t, 1, 64)) {
                        g.min_up = v as u32;
                        min_up = Some(node);
                    }
                }
                "interval" => {
                    if let Some(d) =
                        self.single(&mut seen, node, |t| values::duration(t, ms(10), s(3600)))
                    {
                        g.interval = d;
                    }
                }
                "timeout" => {
                    if let Some(d) =
                        self.single(&mut seen, node, |t| values::duration(t, ms(10), s(60)))
                    {
                        g.timeout = d;
                    }
                }
                "fall" | "rise" => {
                    if let Some(v) = self.single(&mut seen, node, |t| values::number(t, 1, 100)) {
                        if node.key() == "fall" {
                            g.fall = v as u32;
                        } else {
                            g.rise = v as u32;
                        }
                    }
                }
                _ => self.unknown(node, "section 'ping-group'"),
            }
        }
        if g.hosts.is_empty() {
            // Hosts given but each refused were reported where they were read.
            if !sect.children().iter().any(|n| n.key() == "host") {
                self.err(sect.span(), "a ping-group needs at least one 'host'");
            }
            return None;
        }
        if let Some(node) = min_up {
            if g.min_up as usize > g.hosts.len() {
                let msg = format!(
                    "min-up {} is more than the {} host(s) of the group",
                    g.min_up,
                    g.hosts.len()
                );
                self.err(node.span(), msg);
                return None;
            }
        }
        Some(g)
    }

    /// A configured address, refused as the ACR refuses a resolved one: loopback and the
    /// like always, and on the node (`check_host`) one of its own addresses, which it
    /// answers itself so that the group could never fail. (A VIP: `witness_check` and
    /// `foreign_vip_check`, which say whose.)
    fn literal_host(&mut self, tok: &Token, a: IpAddr) -> Option<Host> {
        if let Some(why) = crate::applets::pikemon::acr::refusal(a, self.own_addresses(), &[]) {
            self.err(&tok.span, format!("{a} cannot be pinged as a host ({why})"));
            return None;
        }
        Some(Host::Addr(a))
    }

    fn host(&mut self, tok: &Token) -> Option<Host> {
        let inner = tok.text.trim_start_matches('[').trim_end_matches(']');
        if inner.contains(':') && (tok.text.starts_with('[') || inner.parse::<Ipv6Addr>().is_ok()) {
            let a = IpAddr::V6(self.value(tok, values::ipv6)?);
            return self.literal_host(tok, a);
        }
        if tok.text.starts_with('[') || tok.text.parse::<Ipv4Addr>().is_ok() {
            let a = IpAddr::V4(self.value(tok, values::ipv4)?);
            return self.literal_host(tok, a);
        }
        let name = self.value(tok, values::hostname)?;
        self.names.push((name.clone(), tok.span.clone()));
        Some(Host::Name(name))
    }
}

/// The ping-group hosts of virtual cluster section `sect` written as addresses, with their
/// tokens (one that does not parse was reported where it was read).
pub(super) fn literal_hosts(sect: &Node) -> impl Iterator<Item = (&Token, IpAddr)> {
    sect.children()
        .iter()
        .filter(|n| n.key() == "ping-group")
        .flat_map(|g| g.children().iter().filter(|n| n.key() == "host"))
        .filter_map(|item| {
            let tok = item.args.first()?;
            let inner = tok.text.trim_start_matches('[').trim_end_matches(']');
            Some((tok, inner.parse::<IpAddr>().ok()?))
        })
}
