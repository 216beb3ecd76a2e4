//! The config digest each HELLO carries per virtual cluster: what both nodes must agree on
//! for a failover to do what the operator expects — the virtual addresses and MACs, the
//! timers, the cluster-id and the preemption settings. Interface names, ping groups and
//! hooks are each node's own business and stay out. A mismatch is an alarm (`-c status`,
//! the log, the paths file), never a reason to move a role.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::config::{Config, VirtualCluster};

/// The digest of virtual cluster `vc` of `cfg`: the first 4 bytes of a SHA-256 over a
/// canonical text of the items above.
pub fn of(cfg: &Config, vc: &VirtualCluster) -> u32 {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "cluster-id {} hello-ms {} dead-ms {}",
        cfg.cluster_id,
        cfg.hello_interval.as_millis(),
        cfg.dead_interval.as_millis()
    );
    let primary = vc.primary.map_or("-".to_string(), |n| n.to_string());
    let _ = writeln!(
        text,
        "vc {} primary {primary} preemptive {} preempt-delay-ms {}",
        vc.id,
        vc.preemptive,
        vc.preempt_delay.as_millis()
    );
    let mut interfaces: Vec<String> = vc
        .interfaces
        .iter()
        .map(|ci| {
            let mut vips: Vec<String> = ci.ipv4.iter().map(|(a, l)| format!("{a}/{l}")).collect();
            // IPv6 addresses and the link-local address enter the digest only when there
            // are IPv6 addresses, so an IPv4-only configuration keeps its digest.
            vips.extend(ci.ipv6.iter().map(|(a, l)| format!("{a}/{l}")));
            if !ci.ipv6.is_empty() {
                vips.push(format!("ll {}", ci.virtual_link_local()));
            }
            vips.sort();
            let mac = ci.virtual_mac();
            format!(
                "vmac {mac:02x?} vips {} nomadic {}",
                vips.join(","),
                ci.nomadic
            )
        })
        .collect();
    interfaces.sort();
    for i in interfaces {
        let _ = writeln!(text, "{i}");
    }
    let d = Sha256::digest(text.as_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

#[cfg(test)]
mod tests {
    use super::super::config::{read, ReadOptions};
    use super::*;

    fn cfg(lan: &str, vip: &str, hello: &str) -> Config {
        let text = format!(
            "version PIKEMON-1;\npikemon {{ node-id 1; hmac key \"0123456789abcdef\"; \
             heart-beat {{ interface hb0; }} hello-interval {hello};\n\
             virtual-cluster LAN {{ id 1; interface {lan} {{ ipv4 [{vip}]/24; }}\n\
             notify-master \"true\"; }} }}\n"
        );
        read("t.cfg", &text, ReadOptions::default()).unwrap()
    }

    #[test]
    fn the_digest_follows_addresses_and_timers_not_local_names() {
        let base = cfg("lan0", "198.51.100.10", "100ms");
        let d = |c: &Config| of(c, &c.virtual_clusters[0]);
        assert_eq!(d(&base), d(&cfg("eth1", "198.51.100.10", "100ms")));
        assert_ne!(d(&base), d(&cfg("lan0", "198.51.100.11", "100ms")));
        assert_ne!(d(&base), d(&cfg("lan0", "198.51.100.10", "200ms")));
    }
}
