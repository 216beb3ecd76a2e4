//! ip-ra as an OCF resource agent: start/stop/monitor/meta-data/validate-all over the kit's
//! restore/remove/quickCheck, parameters from `OCF_RESKEY_*`, OCF exit codes, and meta-data
//! inside the subset of ra-api-1.dtd that ocf-tester validates against.

use std::fmt::Write as _;

use super::params::{default_for, Kind, Naming, SPECS};

/// OCF exit codes used here (OCF Resource Agent API 1.1).
pub const SUCCESS: u8 = 0;
pub const ERR_GENERIC: u8 = 1;
pub const ERR_ARGS: u8 = 2;
pub const ERR_UNIMPLEMENTED: u8 = 3;
pub const ERR_CONFIGURED: u8 = 6;
pub const NOT_RUNNING: u8 = 7;

/// The OCF actions ip-ra answers.
pub const ACTIONS: &[&str] = &[
    "start",
    "stop",
    "monitor",
    "meta-data",
    "validate-all",
    "usage",
    "help",
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The meta-data document (resource type `ip-ra`).
pub fn meta_data() -> String {
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\"?>\n");
    x.push_str("<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n");
    let _ = writeln!(
        x,
        "<resource-agent name=\"ip-ra\" version=\"{}\">",
        env!("CARGO_PKG_VERSION")
    );
    x.push_str("<version>1.0</version>\n");
    x.push_str(
        "<longdesc lang=\"en\">\
Virtual IPv4 address with the semantics of the LifeKeeper IP Recovery Kit, over rtnetlink: \
start checks that the address is not a physical one, the link carrier (one down/up cycle, \
after which the routes and addresses configured through the interface are put back), \
that nobody else answers for the address (ARP), adds it, flushes the neighbour table, sends \
gratuitous ARP (requests and replies to the address and to the subnet broadcast), optionally \
makes it the source of the subnet's routes, and checks connectivity by pinging the pinglist \
hosts, else the subnet broadcast address. monitor checks the address, the link and \
connectivity within ip_quickcheck_timeout; stop reverts the route sources and deletes the \
address. monitor and stop look for the address first where ip-ra added it (IPv4 label \
DEV:ra, IPv6 address protocol 82), wherever that is, so a changed physical address or nic \
never hides an address in service. Defaults for Pacemaker: unlike the kit, nobcastping defaults to 1, because Linux \
hosts ignore broadcast pings and the kit's broadcast check would fail on an ordinary Linux \
subnet; with only ip (and nic, cidr_netmask) the connectivity check is then skipped. Give a \
pinglist, or nobcastping=0 with a host that answers broadcast pings, to check connectivity \
as the kit does.</longdesc>\n",
    );
    x.push_str(
        "<shortdesc lang=\"en\">Virtual IPv4 address (LifeKeeper IP kit semantics)</shortdesc>\n",
    );
    x.push_str("<parameters>\n");
    for s in SPECS {
        let _ = writeln!(
            x,
            "<parameter name=\"{}\" unique=\"{}\" required=\"{}\">",
            s.ocf,
            u8::from(s.ocf == "ip"),
            u8::from(s.required)
        );
        let long = match s.kit {
            Some(k) => format!("{} (LifeKeeper: {k})", s.long),
            None => s.long.to_string(),
        };
        let _ = writeln!(x, "<longdesc lang=\"en\">{}</longdesc>", escape(&long));
        let _ = writeln!(x, "<shortdesc lang=\"en\">{}</shortdesc>", escape(s.short));
        let kind = match s.kind {
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Boolean => "boolean",
            Kind::Time => "integer",
        };
        let default = default_for(s, Naming::Ocf);
        if default.is_empty() {
            let _ = writeln!(x, "<content type=\"{kind}\"/>");
        } else {
            let _ = writeln!(
                x,
                "<content type=\"{kind}\" default=\"{}\"/>",
                escape(default)
            );
        }
        x.push_str("</parameter>\n");
    }
    x.push_str("</parameters>\n");
    x.push_str(
        "<actions>\n\
<action name=\"start\" timeout=\"40s\"/>\n\
<action name=\"stop\" timeout=\"20s\"/>\n\
<action name=\"monitor\" timeout=\"20s\" interval=\"10s\" depth=\"0\"/>\n\
<action name=\"meta-data\" timeout=\"5s\"/>\n\
<action name=\"validate-all\" timeout=\"20s\"/>\n\
</actions>\n",
    );
    x.push_str("</resource-agent>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_data_has_every_parameter_and_action() {
        let m = meta_data();
        for s in SPECS {
            assert!(
                m.contains(&format!("<parameter name=\"{}\"", s.ocf)),
                "{}",
                s.ocf
            );
        }
        for a in ["start", "stop", "monitor", "meta-data", "validate-all"] {
            assert!(m.contains(&format!("<action name=\"{a}\"")), "{a}");
        }
        assert!(m.contains("<resource-agent name=\"ip-ra\""));
        // The OCF default of nobcastping, not the kit's.
        assert!(m.contains("<parameter name=\"nobcastping\" unique=\"0\" required=\"0\">"));
        let nobcast = m
            .split("<parameter name=\"nobcastping\"")
            .nth(1)
            .unwrap_or("");
        assert!(
            nobcast
                .split("</parameter>")
                .next()
                .unwrap_or("")
                .contains("default=\"1\""),
            "{nobcast}"
        );
        // ra-api-1.dtd knows only these content types.
        assert!(!m.contains("type=\"select\""));
        assert_eq!(
            m.matches("<parameter ").count(),
            m.matches("</parameter>").count()
        );
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
