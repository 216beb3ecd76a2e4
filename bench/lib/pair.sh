# shellcheck shell=bash
# A pikemon or keepalived pair on a namespace topology, for benchmarks that watch the roles of a
# healthy pair under stress (bench/flood, bench/starve). Sourced, not run. The process handling
# and the cleanup follow bench/failover/run.sh (which keeps its own copy).
#
# The caller sets before sourcing: BENCH (name in messages), P (namespace prefix, e.g. fl$$),
# TMP (a temp directory it created), HABOX, KEEP, and optionally ATTACKER=1 (an attacker
# namespace on the LAN bridge and on the heart-beat bridge), PING_GROUP=1 (pikemon's ping group
# on the gateway), DEATH_WATCH (1), LOG_LEVEL (pikemon, 5).
#
# Topology (every device inside a namespace; nothing in the root namespace):
#   LAN 198.51.100.0/24, bridge br0 in $NSW: gateway .1 ($NG), A .2, B .3, client .50 ($NC),
#       attacker .66 ($NX, lan0), VIP .10
#   heart-beat 0: bridge hbr0 in $NH: A hb0 203.0.113.1/29, B .2, attacker .6 ($NX, hb0)
#   heart-beat 1: veth hb1 between A (203.0.113.9/30) and B (.10)

ATTACKER=${ATTACKER:-}
PING_GROUP=${PING_GROUP:-0}
DEATH_WATCH=${DEATH_WATCH:-1}
LOG_LEVEL=${LOG_LEVEL:-5}
KEEPALIVED=$(command -v keepalived)
VIP=198.51.100.10
NA=$P-a NB=$P-b NSW=$P-sw NH=$P-hb NC=$P-c NG=$P-g NX=$P-x
NSS=("$NA" "$NB" "$NSW" "$NH" "$NC" "$NG")
[ -n "$ATTACKER" ] && NSS+=("$NX")
PG_A=0 PG_B=0 SETUP_ERR= STARTED_PG=
PIDS=()  # plain background processes we started
PGIDS=() # daemons we started, each its own process group (setsid)
CLK_TCK=$(getconf CLK_TCK)
BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "$BENCH: $*" >&2; exit 2; }

# --- processes ---------------------------------------------------------------------------------

# The members of process group $2 in namespace $1.
group_members() {
    local p stat rest
    for p in $(ip netns pids "$1" 2>/dev/null); do
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        # shellcheck disable=SC2086 # fields: state ppid pgrp ...
        set -- "$1" "$2" $rest
        [ "$5" = "$2" ] && echo "$p"
    done
    return 0
}

# Stops the process group $2 (in namespace $1): TERM, up to 3 s, then KILL (bash reaps it).
stop_group() {
    local ns=$1 pg=$2 i
    [ "$pg" = 0 ] && return 0
    # Signal the group only while it has members in our namespace (never a reused pid).
    [ -n "$(group_members "$ns" "$pg")" ] && kill -TERM -- "-$pg" 2>/dev/null
    for i in $(seq 60); do
        [ -z "$(group_members "$ns" "$pg")" ] && break
        sleep 0.05
    done
    [ -n "$(group_members "$ns" "$pg")" ] && kill -KILL -- "-$pg" 2>/dev/null
    for i in $(seq 20); do
        [ -z "$(group_members "$ns" "$pg")" ] && break
        sleep 0.05
    done
    local keep=() g
    for g in "${PGIDS[@]}"; do [ "$g" = "$pg" ] || keep+=("$g"); done
    PGIDS=("${keep[@]}")
}

# Stops a plain background process we started: INT, up to 2 s, then KILL.
stop_pid() {
    kill -INT "$1" 2>/dev/null || true
    local i
    for i in $(seq 40); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$1" 2>/dev/null || true
    { wait "$1"; } 2>/dev/null || true
    forget_pid "$1"
}

# Takes a reaped pid off the list cleanup kills.
forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# Runs a bounded command in namespace $1 in a process group of its own and waits for it; an
# interrupt meanwhile kills the whole group (a `timeout` and its child alike).
run_group() { # namespace command...
    local ns=$1 pg
    shift
    setsid ip netns exec "$ns" "$@" &
    pg=$!
    PGIDS+=("$pg")
    wait "$pg" 2>/dev/null || true
    local keep=() g
    for g in "${PGIDS[@]}"; do [ "$g" = "$pg" ] || keep+=("$g"); done
    PGIDS=("${keep[@]}")
}

cleanup() {
    set +e
    trap - EXIT INT TERM
    local pg p ns
    # A group still listed was not seen gone; its leader may not have reached setsid yet.
    for pg in "${PGIDS[@]}"; do
        kill -KILL -- "-$pg" 2>/dev/null
        [ -e "/proc/$pg" ] && kill -KILL "$pg" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for pg in "${PGIDS[@]}" "${PIDS[@]}"; do wait "$pg" 2>/dev/null; done
    for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [ -n "$KEEP" ]; then echo "$BENCH: kept $TMP" >&2; else rm -rf "$TMP"; fi
}

# utime+stime (ticks) of the given pids.
cpu_ticks() {
    local p s=0 stat f
    for p; do
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        # shellcheck disable=SC2206 # fields after the comm: state=0 ... utime=11 stime=12
        f=(${stat##*) })
        s=$((s + f[11] + f[12]))
    done
    echo "$s"
}

# ticks seconds -> % of one core
cpu_pct() { awk -v t="$1" -v hz="$CLK_TCK" -v s="$2" 'BEGIN { printf "%.1f", t / hz / s * 100 }'; }

# "idle total" jiffies of the whole machine (/proc/stat; idle counts iowait too).
machine_jiffies() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print $5 + $6, t; exit }' /proc/stat; }
# Idle % of the machine between two machine_jiffies snapshots.
idle_pct() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
    printf "%.0f", (y[2] > x[2]) ? (y[1] - x[1]) * 100 / (y[2] - x[2]) : 0 }'; }

ms() { awk -v m="$1" 'BEGIN { printf "%g", m / 1000 }'; } # ms -> s

# --- topology ----------------------------------------------------------------------------------
make_topology() {
    local ns
    for ns in "${NSS[@]}"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    done
    ip -n "$NSW" link add br0 type bridge mcast_snooping 0
    ip -n "$NSW" link set br0 up
    ip -n "$NH" link add hbr0 type bridge mcast_snooping 0
    ip -n "$NH" link set hbr0 up
    _port "$NA" lan0 "$NSW" br0 p-a 198.51.100.2/24
    _port "$NB" lan0 "$NSW" br0 p-b 198.51.100.3/24
    _port "$NC" lan0 "$NSW" br0 p-c 198.51.100.50/24
    _port "$NG" lan0 "$NSW" br0 p-g 198.51.100.1/24
    _port "$NA" hb0 "$NH" hbr0 h-a 203.0.113.1/29
    _port "$NB" hb0 "$NH" hbr0 h-b 203.0.113.2/29
    if [ -n "$ATTACKER" ]; then
        _port "$NX" lan0 "$NSW" br0 p-x 198.51.100.66/24
        _port "$NX" hb0 "$NH" hbr0 h-x 203.0.113.6/29
    fi
    ip -n "$NA" link add hb1 type veth peer name hb1 netns "$NB"
    ip -n "$NA" addr add 203.0.113.9/30 dev hb1
    ip -n "$NB" addr add 203.0.113.10/30 dev hb1
    ip -n "$NA" link set hb1 up
    ip -n "$NB" link set hb1 up
    mkdir -p "$TMP/bin"
    ln -sf "$HABOX" "$TMP/bin/pikemon"
}

_port() { # namespace ifname bridge-namespace bridge port-name address
    ip -n "$1" link add "$2" type veth peer name "$5" netns "$3"
    ip -n "$3" link set "$5" master "$4" up
    ip -n "$1" addr add "$6" dev "$2"
    ip -n "$1" link set "$2" up
}

# Back to a clean slate before a pair starts: no VIP, no macvlan, default ARP sysctls.
reset_nodes() {
    local ns
    for ns in "$NA" "$NB"; do
        ip -n "$ns" link del pk1-lan0 2>/dev/null || true
        ip -n "$ns" addr del "$VIP/24" dev lan0 2>/dev/null || true
        ip netns exec "$ns" sysctl -qw net.ipv4.conf.lan0.arp_ignore=0 net.ipv4.conf.lan0.arp_announce=0
        ip -n "$ns" link set lan0 up
    done
    ip -n "$NC" neigh flush dev lan0
}

# --- the daemons -------------------------------------------------------------------------------
pikemon_config() { # dir node-id interval-ms realtime(yes|no)
    local dw=
    [ "$DEATH_WATCH" = 1 ] && dw="death-watch local [203.0.113.$2] peer [203.0.113.$((3 - $2))];"
    cat <<EOF
version PIKEMON-1;
pikemon {
    node-id $2;
    status-file "$1/status$2"; pid-file "$1/pid$2";
    control-socket "$1/ctl$2"; paths-file "$1/paths$2";
    hmac key "bench-flood-key-0123456789";
    heart-beat { interface hb0; interface hb1; $dw }
    hello-interval $3ms; dead-interval $(($3 * 3))ms;
    realtime $4;
    log-level $LOG_LEVEL;
    virtual-cluster LAN {
        id 1; primary node 1;
        interface lan0 { ipv4 [$VIP]/24; }
        $([ "$PING_GROUP" = 1 ] && echo "ping-group GW { host [198.51.100.1]; }")
    }
}
EOF
}

keepalived_config() { # node-name state priority interval-ms realtime(yes|no)
    cat <<EOF
global_defs {
    router_id $P-$1
    vrrp_version 3
    script_user root
    enable_script_security
$([ "$5" = yes ] && printf '    vrrp_rt_priority 50\n    vrrp_no_swap\n')
}
vrrp_instance VI_1 {
    state $2
    interface lan0
    virtual_router_id 51
    priority $3
    advert_int $(ms "$4")
    virtual_ipaddress {
        $VIP/24 dev lan0
    }
}
EOF
}

# start_daemon DAEMON NS NODE DIR: starts it in its own process group; sets STARTED_PG.
# keepalived's log goes straight to a file (it stamps its lines itself, and it logs every
# flooded frame: a reader must not slow it down); pikemon's lines get a time by stamp.py (it
# throttles what a remote party can make it log).
start_daemon() {
    local d=$1 ns=$2 node=$3 dir=$4 pg i
    if [ "$d" = pikemon ]; then
        setsid ip netns exec "$ns" "$TMP/bin/pikemon" -f "$dir/$node.cfg" -d \
            </dev/null >/dev/null 2> >(exec python3 -u "$BENCH_LIB/stamp.py" >>"$dir/$node.log") &
    else
        setsid ip netns exec "$ns" "$KEEPALIVED" -f "$dir/$node.conf" -p "$dir/$node.pid" \
            -r "$dir/$node.vrrp.pid" -c "$dir/$node.chk.pid" -n -l -G -P \
            </dev/null >>"$dir/$node.log" 2>&1 &
    fi
    pg=$!
    disown "$pg"
    PGIDS+=("$pg")
    for i in $(seq 100); do # setsid runs in the child, after the fork: up to 5 s on a busy machine
        [ "$(awk '{ sub(/.*\) /, ""); print $3 }' "/proc/$pg/stat" 2>/dev/null)" = "$pg" ] && break
        sleep 0.05
    done
    [ "$(awk '{ sub(/.*\) /, ""); print $3 }' "/proc/$pg/stat" 2>/dev/null)" = "$pg" ] ||
        die "$d on $node did not start in its own process group"
    STARTED_PG=$pg
}

# role DAEMON NS NODE DIR -> Master | Backup | other
role() {
    local d=$1 ns=$2 node=$3 dir=$4
    if [ "$d" = pikemon ]; then
        ip netns exec "$ns" "$TMP/bin/pikemon" -f "$dir/$node.cfg" -c status 2>/dev/null |
            awk '/^vc LAN id 1 role / { print $6; exit }'
    else
        local last
        last=$(node_log "$dir/$node.log" | grep -a -o 'Entering [A-Z]* STATE' | tail -n 1)
        case "$last" in
            "Entering MASTER STATE") echo Master ;;
            "Entering BACKUP STATE") echo Backup ;;
            *) echo "${last:-none}" ;;
        esac
    fi
}

# Lines of a node's log that say it became Master.
master_pattern() { [ "$1" = pikemon ] && echo ': Master (' || echo 'Entering MASTER STATE'; }
masters_logged() { # daemon log-file
    local n
    n=$(node_log "$2" | grep -a -c -F "$(master_pattern "$1")") || true
    echo "${n:-0}"
}

# A node's log: the lines kept by trim_log, then the file.
node_log() { cat "$1.kept" "$1" 2>/dev/null || true; }

# Moves the lines of a log that do not match ERE $2 to LOG.kept, empties LOG (the daemon writes
# it with O_APPEND) and prints how many lines it dropped. Keeps a flooded log small.
trim_log() { # log-file ERE
    local all kept
    all=$(wc -l <"$1")
    kept=$({ grep -a -v -E "$2" "$1" || true; } | tee -a "$1.kept" | wc -l)
    : >"$1"
    echo $((all - kept))
}

# start_pair DAEMON INTERVAL DIR REALTIME: A Master, B Backup, the client reaches the VIP. Sets
# PG_A PG_B (SETUP_ERR on failure). Not to be called in $(...): the daemons must be children of
# this shell.
start_pair() {
    local d=$1 iv=$2 dir=$3 rt=$4 i ra rb
    mkdir -p "$dir"
    if [ "$d" = pikemon ]; then
        pikemon_config "$dir" 1 "$iv" "$rt" >"$dir/A.cfg"
        pikemon_config "$dir" 2 "$iv" "$rt" >"$dir/B.cfg"
    else
        keepalived_config a MASTER 200 "$iv" "$rt" >"$dir/A.conf"
        keepalived_config b BACKUP 100 "$iv" "$rt" >"$dir/B.conf"
    fi
    reset_nodes
    # A first, B once A is Master: a stalled machine cannot make B win the start.
    local limit=$(( (6 * iv + 5000) / 50 ))
    start_daemon "$d" "$NA" A "$dir"; PG_A=$STARTED_PG
    for i in $(seq "$limit"); do
        [ "$(role "$d" "$NA" A "$dir")" = Master ] && break
        sleep 0.05
    done
    start_daemon "$d" "$NB" B "$dir"; PG_B=$STARTED_PG
    for i in $(seq "$limit"); do
        ra=$(role "$d" "$NA" A "$dir"); rb=$(role "$d" "$NB" B "$dir")
        [ "$ra" = Master ] && [ "$rb" = Backup ] && break
        sleep 0.05
    done
    [ "$ra" = Master ] && [ "$rb" = Backup ] || { SETUP_ERR="roles $ra/$rb"; return 1; }
    sleep "$(ms $((iv + 200)))"
    for i in $(seq 20); do
        ip netns exec "$NC" ping -n -q -c 1 -W 0.2 "$VIP" >/dev/null 2>&1 && return 0
    done
    SETUP_ERR="the client cannot reach the VIP"
    return 1
}

# Both roles as "A/B", e.g. Master/Backup.
roles() { echo "$(role "$1" "$NA" A "$2")/$(role "$1" "$NB" B "$2")"; }

# Waits (bounded: 6 intervals + 5 s) until A is Master and B Backup again; 0 when they are.
settle_pair() { # daemon interval dir
    local i limit=$(( (6 * $2 + 5000) / 100 ))
    for i in $(seq "$limit"); do
        [ "$(roles "$1" "$3")" = Master/Backup ] && return 0
        sleep 0.1
    done
    return 1
}

stop_pair() {
    stop_group "$NA" "$PG_A"
    stop_group "$NB" "$PG_B"
    PG_A=0 PG_B=0
}

# The worker of node $2 (A|B): pikemon's worker, keepalived's VRRP child.
worker_pid() { # daemon node dir
    local d=$1 node=$2 dir=$3 ns pg p
    if [ "$node" = A ]; then ns=$NA pg=$PG_A; else ns=$NB pg=$PG_B; fi
    if [ "$d" = pikemon ]; then
        for p in $(group_members "$ns" "$pg"); do
            case "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" in "pikemon: worker"*) echo "$p"; return ;; esac
        done
    else
        p=$(cat "$dir/$node.vrrp.pid" 2>/dev/null)
        [ -n "$p" ] && group_members "$ns" "$pg" | grep -qx "$p" && echo "$p"
    fi
    return 0
}

# Scheduling policy of a pid: TS (normal), FF/prio (SCHED_FIFO) or RR/prio (SCHED_RR).
sched_of() { ps -o cls=,rtprio= -p "$1" 2>/dev/null | awk '{ print ($1 == "FF" || $1 == "RR" ? $1 "/" $2 : $1) }'; }
