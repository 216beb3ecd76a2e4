//! The `meta-data` XML. It stays inside ra-api-1.dtd (what ocf-tester 4.x validates with), so
//! no `reload-agent`, `unique-group`, `reloadable`, `select` or `<deprecated>`; roles are the
//! Pacemaker ≥ 2.1 names `Promoted`/`Unpromoted`.

/// The meta-data document for the agent called `name`.
pub fn xml(name: &str, version: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="{name}" version="{version}">
<version>1.1</version>
<longdesc lang="en">Promotable OCF resource agent for conntrackd, the netfilter connection-tracking
synchronisation daemon (habox). It talks to conntrackd's UNIX control socket directly.
Promote commits the external cache to the kernel, flushes the caches, resyncs the internal cache
from the kernel and sends a bulk update; demote schedules the kernel-table purge and asks the new
promoted node for a resync. Run as a promotable clone with promoted-max=1, promoted-node-max=1,
clone-node-max=1 and notify=true: a post-start notification on the promoted node and a
pre-promote notification on the other nodes send bulk updates, which makes failback safe.
With conntrackd 1.4.x, set HashSize above 8192 in conntrackd.conf: with a smaller table the
daemon ignores the cache flush that follows a commit (the agent logs it).
Stop asks the daemon to exit over its socket, then signals the conntrackd process running
with -C config (with -d or in the foreground, as conntrackd.service runs it); it removes the
socket and lock file only once nobody listens on the socket, and fails while a daemon still
holds it.</longdesc>
<shortdesc lang="en">Manages conntrackd (promotable)</shortdesc>
<parameters>
<parameter name="binary" required="0" unique="0">
<longdesc lang="en">conntrackd executable: a name searched in PATH or an absolute path.
The old parameter name "conntrackd" is accepted as an alias.</longdesc>
<shortdesc lang="en">conntrackd executable</shortdesc>
<content type="string" default="conntrackd"/>
</parameter>
<parameter name="config" required="0" unique="0">
<longdesc lang="en">Full (absolute) path of conntrackd.conf. It must define the control socket
(General {{ UNIX {{ Path ... }} }}); the lock file is read from General {{ LockFile }}.
The old parameter name "conntrackdconf" is accepted as an alias.</longdesc>
<shortdesc lang="en">Path of conntrackd.conf</shortdesc>
<content type="string" default="/etc/conntrackd/conntrackd.conf"/>
</parameter>
<parameter name="statefile" required="0" unique="0">
<longdesc lang="en">The agent's marker that this node's conntrackd is promoted (keep it on
tmpfs, so a reboot forgets the role): a regular file whose first line is "conntrack-ra promoted".
An absolute path, not the config file, in a directory that exists; nothing else may be in its
place, and symlinks are not followed. Default: $HA_RSCTMP/conntrack-ra-INSTANCE.promoted, with
HA_RSCTMP defaulting to /run/resource-agents (created when missing).</longdesc>
<shortdesc lang="en">Promoted-state file</shortdesc>
<content type="string" default=""/>
</parameter>
</parameters>
<actions>
<action name="start" timeout="30s"/>
<action name="stop" timeout="30s"/>
<action name="promote" timeout="30s"/>
<action name="demote" timeout="30s"/>
<action name="notify" timeout="30s"/>
<action name="monitor" timeout="20s" interval="20s" role="Unpromoted"/>
<action name="monitor" timeout="20s" interval="10s" role="Promoted"/>
<action name="meta-data" timeout="5s"/>
<action name="validate-all" timeout="30s"/>
</actions>
</resource-agent>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_agent_and_every_action() {
        let x = xml("conntrack-ra", "0.1.0");
        assert!(x.contains(r#"<resource-agent name="conntrack-ra" version="0.1.0">"#));
        for a in [
            "start",
            "stop",
            "promote",
            "demote",
            "notify",
            "monitor",
            "meta-data",
            "validate-all",
        ] {
            assert!(x.contains(&format!(r#"<action name="{a}""#)), "{a}");
        }
        assert!(x.contains("General { UNIX { Path ... } }"));
        assert!(!x.contains("reload-agent"));
    }
}
