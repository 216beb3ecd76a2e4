#!/bin/bash
# State-sync benchmark: long-lived TCP flows through a stateful firewall pair across a failover,
# pikemon (driving conntrackd itself) vs keepalived with conntrackd's own primary-backup.sh as its
# notify script, on the same namespace rig in the same run.
#
#   client 198.51.100.50 -- LAN bridge -- fw A / fw B -- WAN bridge -- server 203.0.113.50
#   VIPs 198.51.100.10 (lan0) and 203.0.113.10 (wan0); heart-beat veth hb0 198.18.0.1/.2
#   carrying PIKE / VRRP... (VRRP runs on lan0) and conntrackd FTFW (UDP 3780).
#
# The firewalls forward with nftables `ct state established,related accept`, `ct state invalid
# drop`, new connections only from the LAN, and nf_conntrack_tcp_loose=0 (per namespace): a
# flow that the new master's kernel table does not hold is dropped.
#
# Faults: kill (SIGKILL of the master's daemon), drop (pikemon -c drop; keepalived: SIGTERM, its
# graceful release with a priority-0 advert), failback (B serves, then A, the preferred node,
# starts conntrackd and its daemon and takes the role back after preempt-delay 1 s).
# Per run, from bench/statesync/flows.py: connections reset, stalled (longest gap between two
# echoes > the VIP outage + 1 s), bytes lost (sent, never echoed), and the commit duration
# (pikemon: its log; keepalived: `conntrackd -c` timed in primary-backup.sh).
#
# Knobs: N ("1000 10000"), RUNS (3), FAULTS ("kill drop failback"), DAEMONS ("pikemon
# keepalived"), DEATH_WATCH (0; 1: pikemon with a death-watch on hb0), INTERVAL_MS (100), SECONDS_PER_RUN (12, the flows' lifetime; the fault comes 3 s in), ORDERS
# (pikemon's `conntrack { takeover }` orders to run, e.g. "commit-first parallel"; unset: its
# default, shown as `pikemon`, else each as `pikemon/ORDER`).
# Output: a table per run, then one line per daemon, N and fault (medians over the runs):
#   statesync DAEMON N FAULT reset=R stalled=S lost=BYTES commit_ms=MS outage_ms=MS
# Needs root, iproute2, nft, conntrackd, conntrack, keepalived, python3; build/habox or
# target/x86_64-unknown-linux-musl/release/habox (the newer). Every namespace is its own (prefix hct) and deleted at the end.
set -u
cd "$(dirname "$0")/../.."
N=${N:-"1000 10000"}
RUNS=${RUNS:-3}
FAULTS=${FAULTS:-"kill drop failback"}
DAEMONS=${DAEMONS:-"pikemon keepalived"}
SECS=${SECONDS_PER_RUN:-12}
ORDERS=${ORDERS:-}
# INTERVAL_MS: each flow's line interval (100 ms; 10,000 flows at 100 ms are 100,000 lines a
# second, more than this rig forwards: see README).
INTERVAL_MS=${INTERVAL_MS:-100}
# DEATH_WATCH=1: pikemon's supervisors watch each other over hb0 (as on the appliance).
DEATH_WATCH=${DEATH_WATCH:-0}
# The newer of `make`'s artifact and cargo's release build.
HABOX=${HABOX:-$(ls -t build/habox target/x86_64-unknown-linux-musl/release/habox 2>/dev/null | head -n 1)}
[ -x "$HABOX" ] || { echo "no habox binary (make)" >&2; exit 1; }
HABOX=$(readlink -f "$HABOX")
FLOWS=$(readlink -f bench/statesync/flows.py)
FLOWS_C=$(readlink -f bench/statesync/flows.c)
PB=/usr/share/doc/conntrackd/examples/sync/primary-backup.sh
for t in ip nft conntrackd conntrack keepalived python3; do
    command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
done
[ -f "$PB" ] || { echo "missing $PB" >&2; exit 1; }
TMP=$(mktemp -d /tmp/hct-statesync.XXXXXX)
P=hct$$
NL=${P}l NW=${P}w NA=${P}a NB=${P}b NC=${P}c NS_=${P}s
cleanup() { # only this run's namespaces (and what runs in them)
    local ns pid
    for ns in "$NL" "$NW" "$NA" "$NB" "$NC" "$NS_"; do
        [ -e "/run/netns/$ns" ] || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    ip link del "${P}x" 2>/dev/null || true
}
# KEEP=1 keeps the logs and configs of the last run in $TMP.
trap 'cleanup; [ "${KEEP:-0}" = 1 ] && echo "kept $TMP" || rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

mkns() { ip netns add "$1" && ip -n "$1" link set lo up; }
link() { # ns-a if-a ns-b if-b
    ip link add "${P}x" type veth peer name "${P}y"
    ip link set "${P}x" netns "$1" name "$2"
    ip link set "${P}y" netns "$3" name "$4"
    ip -n "$1" link set "$2" up
    ip -n "$3" link set "$4" up
}

conntrackd_conf() { # node own peer
    cat <<EOF2
Sync {
	Mode FTFW {
		ResendQueueSize 131072
		PurgeTimeout 5
		ACKWindowSize 300
		DisableExternalCache Off
	}
	UDP {
		IPv4_address $2
		IPv4_Destination_Address $3
		Port 3780
		Interface hb0
		SndSocketBuffer 1249280
		RcvSocketBuffer 1249280
		Checksum on
	}
}
General {
	Systemd off
	HashSize 32768
	HashLimit 131072
	LogFile $TMP/conntrackd$1.log
	Syslog off
	LockFile $TMP/conntrackd$1.lock
	UNIX {
		Path $TMP/conntrackd$1.ctl
	}
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
	Filter From Userspace {
		Address Ignore {
			IPv4_address 127.0.0.1
			IPv4_address 198.18.0.0/30
		}
	}
}
EOF2
}

pikemon_conf() { # node [order]
    local order=""
    [ -n "${2:-}" ] && order=" takeover $2;"
    local dw=""
    [ "$DEATH_WATCH" = 1 ] && dw=" death-watch local [198.18.0.$1] peer [198.18.0.$((3 - $1))];"
    cat <<EOF2
version PIKEMON-1;
pikemon {
    node-id $1;
    status-file "$TMP/status$1"; pid-file "$TMP/pid$1";
    control-socket "$TMP/ctl$1"; paths-file "$TMP/paths$1";
    hmac key "0123456789abcdef0123";
    heart-beat { interface hb0;$dw }
    hello-interval 100ms;
    conntrack { socket "$TMP/conntrackd$1.ctl"; commit-timeout 2s;$order }
    virtual-cluster FW {
        id 1; primary node 1; preemptive yes; preempt-delay 1s;
        interface lan0 { ipv4 [198.51.100.10]/24; }
        interface wan0 { ipv4 [203.0.113.10]/24; }
    }
}
EOF2
}

keepalived_conf() { # node priority
    cat <<EOF2
global_defs {
    router_id $P-$1
    vrrp_version 3
    script_user root
    enable_script_security
}
vrrp_instance FW {
    state BACKUP
    interface lan0
    virtual_router_id 51
    priority $2
    advert_int 0.1
    preempt_delay 1
    virtual_ipaddress {
        198.51.100.10/24 dev lan0
        203.0.113.10/24 dev wan0
    }
    notify_master "$TMP/pb$1.sh primary"
    notify_backup "$TMP/pb$1.sh backup"
    notify_fault "$TMP/pb$1.sh fault"
}
EOF2
}

# conntrackd as primary-backup.sh calls it, timing -c.
cat >"$TMP/conntrackd-timed" <<EOF2
#!/bin/sh
if [ "\$3" = -c ]; then
    t0=\$(date +%s%N); /usr/sbin/conntrackd "\$@"; rc=\$?; t1=\$(date +%s%N)
    echo \$(( (t1 - t0) / 1000000 )) >>"\${2%.conf}.commit"
    exit \$rc
fi
exec /usr/sbin/conntrackd "\$@"
EOF2
chmod 755 "$TMP/conntrackd-timed"
for n in 1 2; do
    sed -e "s|^CONNTRACKD_BIN=.*|CONNTRACKD_BIN=$TMP/conntrackd-timed|" \
        -e "s|^CONNTRACKD_LOCK=.*|CONNTRACKD_LOCK=$TMP/conntrackd$n.lock|" \
        -e "s|^CONNTRACKD_CONFIG=.*|CONNTRACKD_CONFIG=$TMP/conntrackd$n.conf|" "$PB" >"$TMP/pb$n.sh"
    chmod 755 "$TMP/pb$n.sh"
    pikemon_conf "$n" >"$TMP/pikemon$n.default.cfg"
    for o in $ORDERS; do pikemon_conf "$n" "$o" >"$TMP/pikemon$n.$o.cfg"; done
done
# The daemons to run: pikemon once per order.
VARIANTS=""
for d in $DAEMONS; do
    if [ "$d" = pikemon ] && [ -n "$ORDERS" ]; then
        for o in $ORDERS; do VARIANTS="$VARIANTS pikemon/$o"; done
    else
        VARIANTS="$VARIANTS $d"
    fi
done
keepalived_conf 1 200 >"$TMP/keepalived1.conf"
keepalived_conf 2 100 >"$TMP/keepalived2.conf"
conntrackd_conf 1 198.18.0.1 198.18.0.2 >"$TMP/conntrackd1.conf"
conntrackd_conf 2 198.18.0.2 198.18.0.1 >"$TMP/conntrackd2.conf"
mkdir -p "$TMP/bin" && "$HABOX" --install -s "$TMP/bin" >/dev/null
# The flows: flows.c (one epoll loop) when a C compiler is there, else flows.py (same
# protocol and summary, far more CPU per line).
if command -v cc >/dev/null && cc -O2 -o "$TMP/flows" "$FLOWS_C" 2>/dev/null; then
    GEN="$TMP/flows"
else
    GEN="python3 $FLOWS"
fi

setup() {
    cleanup
    rm -f "$TMP"/conntrackd?.{log,lock,ctl,commit} "$TMP"/status? "$TMP"/log? "$TMP"/ka?*.pid
    local ns
    for ns in "$NL" "$NW" "$NA" "$NB" "$NC" "$NS_"; do mkns "$ns"; done
    for ns in "$NL" "$NW"; do
        ip -n "$ns" link add br0 type bridge && ip -n "$ns" link set br0 type bridge forward_delay 0
        ip -n "$ns" link set br0 up
    done
    local i=0 pair
    for pair in "$NC lan0 $NL" "$NA lan0 $NL" "$NB lan0 $NL" "$NS_ wan0 $NW" "$NA wan0 $NW" "$NB wan0 $NW"; do
        set -- $pair
        link "$3" "p$i" "$1" "$2"; ip -n "$3" link set "p$i" master br0; i=$((i + 1))
    done
    link "$NA" hb0 "$NB" hb0
    local n
    for n in 1 2; do
        ns=$([ $n = 1 ] && echo "$NA" || echo "$NB")
        ip -n "$ns" addr add 198.51.100.$((n + 1))/24 dev lan0
        ip -n "$ns" addr add 203.0.113.$((n + 1))/24 dev wan0
        ip -n "$ns" addr add 198.18.0.$n/30 dev hb0
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
        ip netns exec "$ns" nft -f - <<'EOF2'
table inet hctfw {
    chain forward {
        type filter hook forward priority 0; policy drop;
        ct state established,related accept
        ct state invalid counter drop
        ip saddr 198.51.100.0/24 tcp flags & (syn | ack) == syn ct state new accept
    }
}
EOF2
        ip netns exec "$ns" sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
    done
    ip -n "$NC" addr add 198.51.100.50/24 dev lan0
    ip -n "$NC" route add default via 198.51.100.10
    ip -n "$NS_" addr add 203.0.113.50/24 dev wan0
    ip -n "$NS_" route add default via 203.0.113.10
}

ns_of() { [ "$1" = 1 ] && echo "$NA" || echo "$NB"; }
start_conntrackd() { ip netns exec "$(ns_of "$1")" conntrackd -C "$TMP/conntrackd$1.conf" -d >/dev/null 2>&1; }
start_daemon() { # daemon node
    local ns; ns=$(ns_of "$2")
    if [ "$1" = pikemon ]; then
        # Each log line with the wall-clock time (to set it beside the flows' outage).
        ip netns exec "$ns" "$TMP/bin/pikemon" -f "$TMP/pikemon$2.cfg" -d </dev/null 2>&1 >/dev/null |
            while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done >>"$TMP/log$2" &
        disown
    else
        ip netns exec "$ns" keepalived -f "$TMP/keepalived$2.conf" -p "$TMP/ka$2.pid" \
            -r "$TMP/ka$2.vrrp.pid" -c "$TMP/ka$2.chk.pid" -n -l -P </dev/null >>"$TMP/log$2" 2>&1 &
        disown
    fi
}
# Whether node $2 serves the VIP now.
is_master() {
    local ns; ns=$(ns_of "$2")
    if [ "$1" = pikemon ]; then
        ip netns exec "$ns" "$TMP/bin/pikemon" -f "$TMP/pikemon$2.cfg" -c status 2>/dev/null |
            grep -q '^vc FW id 1 role Master'
    else
        ip -n "$ns" -br addr show dev lan0 | grep -q 198.51.100.10
    fi
}
wait_master() { local i; for i in $(seq 100); do is_master "$1" "$2" && return 0; sleep 0.1; done; return 1; }
daemon_pids() { # daemon node
    local p
    for p in $(ip netns pids "$(ns_of "$2")"); do
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -E "^(\S*/)?$1[: ]" && echo "$p"
    done
}

# One run: sets OUT to "reset stalled lost commit_ms outage_ms connected misordered" or
# "error TEXT". Not run in $(...): the namespaces and daemons belong to this shell.
one_run() { # daemon[/order] n fault
    local d=${1%%/*} n=$2 f=$3 new order=default
    [ "$1" != "$d" ] && order=${1#*/}
    setup
    cp "$TMP/pikemon1.$order.cfg" "$TMP/pikemon1.cfg"
    cp "$TMP/pikemon2.$order.cfg" "$TMP/pikemon2.cfg"
    ip netns exec "$NS_" $GEN server 7000 >/dev/null 2>&1 &
    disown
    if [ "$f" = failback ]; then
        start_conntrackd 2; start_daemon "$d" 2
        wait_master "$d" 2 || { OUT="error B never Master"; return; }
        new=1
    else
        start_conntrackd 1; start_conntrackd 2
        start_daemon "$d" 1; wait_master "$d" 1 || { OUT="error A never Master: $(tail -n 2 "$TMP/log1" | tr "\n" " ")"; return; }
        sleep 0.5; start_daemon "$d" 2; sleep 1
        new=2
    fi
    sleep 0.5
    exec 3< <(ip netns exec "$NC" $GEN client 203.0.113.50 7000 "$n" "$SECS" "$INTERVAL_MS")
    local line
    read -r -t 60 line <&3 || { OUT="error flows not ready"; exec 3<&-; return; }
    sleep 3
    echo "$EPOCHREALTIME fault $f" >>"$TMP/log$new"
    echo "$1 $n $f fault_at=$EPOCHREALTIME" >>"$TMP/faults"
    # flows.c counts the gaps that overlap the 5 s after this signal (the control too).
    [ "$GEN" = "$TMP/flows" ] && kill -USR1 $(ip netns pids "$NC") 2>/dev/null
    case "$f" in
        kill) kill -9 $(daemon_pids "$d" 1) 2>/dev/null ;;
        drop)
            if [ "$d" = pikemon ]; then
                ip netns exec "$NA" "$TMP/bin/pikemon" -f "$TMP/pikemon1.cfg" -c drop >/dev/null 2>&1
            else
                kill -TERM $(daemon_pids "$d" 1) 2>/dev/null
            fi ;;
        failback) start_conntrackd 1; start_daemon "$d" 1 ;;
        none) ;; # the control: the same flows without a fault
    esac
    read -r -t $((SECS + 60)) line <&3 || line=""
    exec 3<&-
    # Which firewall dropped packets as invalid (no entry, or out of window): kept with KEEP=1.
    local fw
    for fw in "$NA" "$NB"; do
        echo "$1 $n $f $fw $(ip netns exec "$fw" nft list chain inet hctfw forward 2>/dev/null |
            grep -o 'invalid counter packets [0-9]*' | awk '{print $4}')"
    done >>"$TMP/invalid"
    [ -n "$line" ] || { OUT="error no summary"; return; }
    echo "$1 $n $f $line" >>"$TMP/flows.json"
    [ "$d" = pikemon ] && echo "$1 $n $f addresses_at=$(grep -a "vc FW: Master (" "$TMP/log$new" | tail -n 1 | cut -d ' ' -f 1)" >>"$TMP/faults"
    local commit=-
    if [ "$d" = pikemon ]; then
        commit=$(grep -a -o 'conntrackd committed in [0-9]* ms' "$TMP/log$new" | tail -n 1 | awk '{print $4}')
        grep -q -a "did not commit" "$TMP/log$new" && commit=timeout
    else
        commit=$(tail -n 1 "$TMP/conntrackd$new.commit" 2>/dev/null)
    fi
    OUT=$(python3 - "$line" "${commit:--}" <<'EOF2'
import json, sys
s = json.loads(sys.argv[1])
# flows.c: the stall and the outage within 5 s of the fault; flows.py: over the whole run.
print(s["reset"], s.get("fault_stalled", s["stalled"]), s["lost"], sys.argv[2],
      s.get("fault_outage_ms", s["outage_ms"]), s["connected"], s["misordered"])
EOF2
)
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else print a[int((NR + 1) / 2)] }'; }

echo "flows: $GEN   habox: $HABOX   keepalived: $(keepalived --version 2>&1 | head -n 1)   conntrackd: $(conntrackd -v 2>&1 | head -n 1)"
printf "%-22s %6s %-9s %3s %6s %7s %8s %9s %9s %9s %5s\n" daemon N fault run reset stalled lost commit_ms outage_ms connected load
RES="$TMP/results"
: >"$RES"
for n in $N; do
    for f in $FAULTS; do
        for d in $VARIANTS; do
            for r in $(seq "$RUNS"); do
                OUT=""
                one_run "$d" "$n" "$f" 2>>"$TMP/errors"
                out=$OUT
                cleanup
                if [ "${out%% *}" = error ]; then
                    printf "%-22s %6s %-9s %3s %s\n" "$d" "$n" "$f" "$r" "$out"
                    continue
                fi
                set -- $out
                printf "%-22s %6s %-9s %3s %6s %7s %8s %9s %9s %9s %5s\n" "$d" "$n" "$f" "$r" "$1" "$2" "$3" "$4" "$5" "$6" "$(cut -d ' ' -f 1 /proc/loadavg)"
                echo "$d $n $f $*" >>"$RES"
            done
        done
    done
done
for n in $N; do
    for f in $FAULTS; do
        for d in $VARIANTS; do
            rows=$(awk -v d="$d" -v n="$n" -v f="$f" '$1 == d && $2 == n && $3 == f' "$RES")
            [ -n "$rows" ] || continue
            echo "statesync $d $n $f reset=$(echo "$rows" | awk '{print $4}' | median) stalled=$(echo "$rows" | awk '{print $5}' | median) lost=$(echo "$rows" | awk '{print $6}' | median) commit_ms=$(echo "$rows" | awk '$7 ~ /^[0-9]+$/ {print $7}' | median) outage_ms=$(echo "$rows" | awk '{print $8}' | median)"
        done
    done
done
