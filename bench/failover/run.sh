#!/usr/bin/env bash
# Failover benchmark: pikemon (habox) vs keepalived (VRRPv3) on the same namespace topology.
# See bench/failover/README.md for the topology, the metric and the figures measured here.
#
#   bench/failover/run.sh                                  # everything (about 20 minutes)
#   RUNS=1 INTERVALS=10 SCENARIOS="kill term" bench/failover/run.sh   # a quick look
#
# Knobs: RUNS (5), INTERVALS ("1000 100 10", ms), SCENARIOS ("kill link term worker"; also
# "cable": the master's daemons frozen and its end of the direct hb0 cable down at once, a
# machine death as the peer sees it on a point-to-point heart-beat link),
# DEATH_WATCH (1: pikemon's supervisors keep a death-watch connection over hb0; 0: HELLOs only),
# DAEMONS ("pikemon keepalived"), PROBE_MS (2, the client's echo interval, probe.py), CPU_SECS
# (10, the idle period of the CPU figure; 0 skips RSS/CPU), HABOX (build/habox), KEEP=1 keeps the temp
# directory (configs, daemon logs with timestamps, captures) and prints its path; STRACE=1
# (with KEEP=1) records every syscall of both daemons during each trial, for diagnosis only.
# FAMILY (4; 6: the VIP is 2001:db8::10/64 — pikemon an IPv6-only virtual cluster with an IPv6
# ping-group host, keepalived a VRRPv3 IPv6 instance — and the client probes it with ICMPv6).
# Needs root, iproute2, tcpdump, iputils ping, python3, keepalived, setsid.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../.."

RUNS=${RUNS:-5}
INTERVALS=${INTERVALS:-"1000 100 10"}
SCENARIOS=${SCENARIOS:-"kill link term worker"}
DEATH_WATCH=${DEATH_WATCH:-1}
DAEMONS=${DAEMONS:-"pikemon keepalived"}
PROBE_MS=${PROBE_MS:-2}
CPU_SECS=${CPU_SECS:-10}
KEEP=${KEEP:-}
STRACE=${STRACE:-}
HABOX=${HABOX:-build/habox}
FAMILY=${FAMILY:-4}

die() { echo "bench/failover: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for tool in ip tcpdump ping python3 setsid keepalived; do
    command -v "$tool" >/dev/null || die "$tool is missing (make deps installs it)"
done
if [ ! -x "$HABOX" ]; then
    cargo build --release --locked >&2
    HABOX=target/x86_64-unknown-linux-musl/release/habox
fi
HABOX=$(realpath "$HABOX")
KEEPALIVED=$(command -v keepalived)
OUTAGE="$HERE/outage.py"

case "$FAMILY" in
    4) VIP=198.51.100.10 VLEN=24 GW=198.51.100.1 PING=(ping) ;;
    6) VIP=2001:db8::10 VLEN=64 GW=2001:db8::1 PING=(ping -6) ;;
    *) die "FAMILY must be 4 or 6" ;;
esac
P=fo$$
NA=$P-a NB=$P-b NSW=$P-sw NC=$P-c NG=$P-g
NSS=("$NA" "$NB" "$NSW" "$NC" "$NG")
TMP=$(mktemp -d /tmp/bench-failover.XXXXXX)
PG_A=0 PG_B=0 SETUP_ERR= STARTED_PG= TRIAL_RESULT=
PIDS=()   # plain background processes we started (captures, probe, strace)
PGIDS=()  # daemons we started, each its own process group (setsid)
CLK_TCK=$(getconf CLK_TCK)

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

stop_pid() {
    kill -INT "$1" 2>/dev/null || true
    local i
    for i in $(seq 40); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$1" 2>/dev/null || true
    { wait "$1"; } 2>/dev/null || true
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
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
    if [ -n "$KEEP" ]; then echo "bench/failover: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prefixes every line of stdin with CLOCK_REALTIME (the clock tcpdump stamps with).
stamp() { local l; while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }

# Sum of VmRSS (KiB) and of utime+stime (ticks) over the given pids.
rss_kib() { local p s=0 v; for p; do v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null); s=$((s + ${v:-0})); done; echo "$s"; }
# RSS with the file pages counted once (KiB): sum of RssAnon + the largest RssFile. The processes
# of one daemon map the same executable (and libraries), which VmRSS counts in each of them; PSS
# would also divide them with the other node's processes, so it is not used.
rss_once_kib() {
    local p a=0 f=0 v w
    for p; do
        read -r v w < <(awk '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } END { print a + 0, f + 0 }' "/proc/$p/status" 2>/dev/null)
        a=$((a + ${v:-0})); [ "${w:-0}" -gt "$f" ] && f=$w
    done
    echo $((a + f))
}
# Per process: title=VmRSS(RssAnon+RssFile) KiB.
rss_detail() {
    local p
    for p; do
        printf '%s=%s ' "$(tr '\0' ' ' <"/proc/$p/cmdline" | sed 's/ *$//; s/ /_/g' | cut -c1-28)" \
            "$(awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } END { printf "%d(%d+%d)", r, a, f }' "/proc/$p/status")"
    done
}
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

# --- topology ----------------------------------------------------------------------------------
# LAN 198.51.100.0/24 on a bridge in $NSW: gateway .1, A .2, B .3, client .50, VIP .10.
# Heart-beat veth hb0 between A and B (203.0.113.0/30). Every device is created inside a
# namespace; nothing touches the root namespace.
for ns in "${NSS[@]}"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    if [ "$FAMILY" = 6 ]; then
        # No DAD wait on the LAN addresses and link-locals (keepalived adverts from the latter).
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    else
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    fi
done
ip -n "$NSW" link add br0 type bridge mcast_snooping 0
ip -n "$NSW" link set br0 up
lan() { # namespace port-name address
    ip -n "$1" link add lan0 type veth peer name "$2" netns "$NSW"
    ip -n "$NSW" link set "$2" master br0 up
    ip -n "$1" addr add "$3/24" dev lan0
    # IPv6: the same host number in 2001:db8::/64.
    [ "$FAMILY" = 6 ] && ip -n "$1" addr add "2001:db8::${3##*.}/64" dev lan0 nodad
    ip -n "$1" link set lan0 up
}
lan "$NA" p-a 198.51.100.2
lan "$NB" p-b 198.51.100.3
lan "$NC" p-c 198.51.100.50
lan "$NG" p-g 198.51.100.1
ip -n "$NA" link add hb0 type veth peer name hb0 netns "$NB"
ip -n "$NA" addr add 203.0.113.1/30 dev hb0
ip -n "$NB" addr add 203.0.113.2/30 dev hb0
ip -n "$NA" link set hb0 up
ip -n "$NB" link set hb0 up
mkdir -p "$TMP/bin"
ln -s "$HABOX" "$TMP/bin/pikemon"

# Back to a clean slate between trials: no VIP, no macvlan, default ARP sysctls, LAN up.
reset_nodes() {
    local ns
    for ns in "$NA" "$NB"; do
        ip -n "$ns" link del pk1-lan0 2>/dev/null || true
        ip -n "$ns" addr del "$VIP/$VLEN" dev lan0 2>/dev/null || true
        ip netns exec "$ns" sysctl -qw net.ipv4.conf.lan0.arp_ignore=0 net.ipv4.conf.lan0.arp_announce=0
        ip -n "$ns" link set lan0 up
        ip -n "$ns" link set hb0 up # after `cable`
    done
    ip -n "$NC" neigh flush dev lan0
    [ "$FAMILY" = 6 ] && ip -n "$NC" -6 neigh flush dev lan0
    return 0
}

# --- the daemons -------------------------------------------------------------------------------
ms() { awk -v m="$1" 'BEGIN { printf "%g", m / 1000 }'; } # ms -> s

pikemon_config() { # dir node-id interval-ms
    cat <<EOF
version PIKEMON-1;
pikemon {
    node-id $2;
    status-file "$1/status$2"; pid-file "$1/pid$2";
    control-socket "$1/ctl$2"; paths-file "$1/paths$2";
    hmac key "bench-failover-key-0123456789";
    heart-beat { interface hb0; $( [ "$DEATH_WATCH" = 1 ] && echo "death-watch local [203.0.113.$2] peer [203.0.113.$((3 - $2))];" ) }
    hello-interval $3ms; dead-interval $(($3 * 3))ms;
    virtual-cluster LAN {
        id 1; primary node 1;
        interface lan0 { ipv$FAMILY [$VIP]/$VLEN; }
        ping-group GW { host [$GW]; }
    }
}
EOF
}

keepalived_config() { # node-name state priority interval-ms
    cat <<EOF
global_defs {
    router_id fo-$1
    vrrp_version 3
    script_user root
    enable_script_security
}
vrrp_instance VI_1 {
    state $2
    interface lan0
    virtual_router_id 51
    priority $3
    advert_int $(ms "$4")
    virtual_ipaddress {
        $VIP/$VLEN dev lan0
    }
}
EOF
}

# start_daemon DAEMON NS NODE DIR: starts it in its own process group; sets STARTED_PG.
start_daemon() {
    local d=$1 ns=$2 node=$3 dir=$4 pg
    if [ "$d" = pikemon ]; then
        setsid ip netns exec "$ns" "$TMP/bin/pikemon" -f "$dir/$node.cfg" -d \
            </dev/null >/dev/null 2> >(stamp >"$dir/$node.log") &
    else
        setsid ip netns exec "$ns" "$KEEPALIVED" -f "$dir/$node.conf" -p "$dir/$node.pid" \
            -r "$dir/$node.vrrp.pid" -c "$dir/$node.chk.pid" -n -l -D -G -P \
            </dev/null > >(stamp >"$dir/$node.log") 2>&1 &
    fi
    pg=$!
    disown "$pg" # bash reaps it; no "Killed" job notices when a scenario SIGKILLs it
    PGIDS+=("$pg")
    local i
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
        last=$(grep -o 'Entering [A-Z]* STATE' "$dir/$node.log" 2>/dev/null | tail -n 1)
        case "$last" in
            "Entering MASTER STATE") echo Master ;;
            "Entering BACKUP STATE") echo Backup ;;
            *) echo "${last:-none}" ;;
        esac
    fi
}

# start_pair DAEMON INTERVAL DIR: A Master, B Backup, the client reaches the VIP. Sets PG_A PG_B
# (SETUP_ERR on failure). Not to be called in $(...): the daemons must be children of this shell.
start_pair() {
    local d=$1 iv=$2 dir=$3 i ra rb
    mkdir -p "$dir"
    if [ "$d" = pikemon ]; then
        pikemon_config "$dir" 1 "$iv" >"$dir/A.cfg"
        pikemon_config "$dir" 2 "$iv" >"$dir/B.cfg"
    else
        keepalived_config a MASTER 200 "$iv" >"$dir/A.conf"
        keepalived_config b BACKUP 100 "$iv" >"$dir/B.conf"
    fi
    # A first, B once A is Master: a stalled machine cannot make B win the start. Bounded: 6
    # intervals + 5 s each.
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
    # One more interval so that B has heard A as Master, then the client's ARP entry.
    sleep "$(ms $((iv + 200)))"
    for i in $(seq 20); do
        ip netns exec "$NC" "${PING[@]}" -n -q -c 1 -W 0.2 "$VIP" >/dev/null 2>&1 && return 0
    done
    SETUP_ERR="the client cannot reach the VIP"
    return 1
}

stop_pair() {
    stop_group "$NA" "$PG_A"
    stop_group "$NB" "$PG_B"
}

# The worker child: pikemon's worker, keepalived's VRRP child.
worker_pid() {
    local d=$1 dir=$2 p
    if [ "$d" = pikemon ]; then
        for p in $(group_members "$NA" "$PG_A"); do
            case "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" in "pikemon: worker"*) echo "$p"; return ;; esac
        done
    else
        p=$(cat "$dir/A.vrrp.pid" 2>/dev/null)
        [ -n "$p" ] && group_members "$NA" "$PG_A" | grep -qx "$p" && echo "$p"
    fi
    return 0
}

# --- one trial ---------------------------------------------------------------------------------
RESULTS=$TMP/results.tsv
: >"$RESULTS"

wait_listening() { # stderr-file of a tcpdump
    local i
    for i in $(seq 60); do grep -q 'listening on' "$1" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}

# A trial whose rig failed (the captures saw nothing before the fault, or the client stalled
# around it: a busy machine) is repeated, at most twice; the last try is reported.
trial() { # daemon interval scenario run
    local try
    for try in 1 2 3; do
        trial_once "$@" "$try"
        case "$TRIAL_RESULT" in *no-replies-before-fault* | invalid*) ;; *) break ;; esac
    done
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${TRIAL_RESULT// /	}" | tee -a "$RESULTS" >&2
}

# An `ip -batch` in namespace $1 waiting for its line on $IPB_FD: the fault is then one write,
# without a fork.
ipb_start() {
    local i
    coproc IPB { exec ip -n "$1" -batch - >/dev/null 2>&1; }
    IPB_PID_=$IPB_PID IPB_FD=${IPB[1]}
    for i in $(seq 60); do # until `ip` itself waits for its line
        [ "$(readlink "/proc/$IPB_PID_/exe")" = "$(readlink -f "$(command -v ip)")" ] &&
            [ "$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$IPB_PID_/stat")" = S ] && break
        sleep 0.05
    done
}
ipb_end() {
    eval "exec $IPB_FD>&-"
    wait "$IPB_PID_" 2>/dev/null || true
}

trial_once() { # daemon interval scenario run try
    local d=$1 iv=$2 sc=$3 run=$4 dir=$TMP/$1-$2-$3-$4-$5 expect=B target t_fault t_end res i
    reset_nodes
    if ! start_pair "$d" "$iv" "$dir"; then
        stop_pair
        TRIAL_RESULT="fail setup:${SETUP_ERR// /_}"
        return
    fi
    case "$sc" in kill | cable) expect=B-only ;; esac
    if [ "$sc" = worker ]; then
        expect=any
        target=$(worker_pid "$d" "$dir")
        [ -n "$target" ] || die "$d: no worker process found"
    fi
    local window=$((6 * iv + 1000)) pre=300
    # Linux reports a carrier change through its link-watch, which handles a non-urgent event
    # at most once a second: the daemons' own link changes at start-up (macvlans) would hold
    # the carrier loss back by up to a second. A link-quiet second before the cable fault.
    [ "$sc" = cable ] && pre=1500
    # At a spread phase of the hello (advert) schedule: with a fixed delay every trial's fault
    # fell at about the same point of it, and the median measured that point. Run k of RUNS
    # waits (k-1)/RUNS of a hello more, plus a random part of 1/RUNS.
    local slot=$((iv / RUNS > 0 ? iv / RUNS : 1))
    pre=$((pre + (run - 1) * iv / RUNS + RANDOM % slot))
    local count=$(( (pre + window + 8000) / PROBE_MS ))
    local deadline=$(( (pre + window) / 1000 + 8 ))
    local f_reply='icmp[icmptype] = icmp-echoreply' f_echo='icmp[icmptype] = icmp-echo'
    if [ "$FAMILY" = 6 ]; then # ICMPv6 right after the fixed header (no extension headers here)
        f_reply='icmp6 and ip6[40] = 129' f_echo='icmp6 and ip6[40] = 128'
    fi
    ip netns exec "$NC" tcpdump -l -n -e -tt --immediate-mode -i lan0 "$f_reply" \
        >"$dir/client.cap" 2>"$dir/client.err" &
    PIDS+=($!); local cap1=$!
    ip netns exec "$NSW" tcpdump -l -n -tt --immediate-mode -i any -Q in "($f_reply) or ($f_echo)" \
        >"$dir/switch.cap" 2>"$dir/switch.err" &
    PIDS+=($!); local cap2=$!
    wait_listening "$dir/client.err" && wait_listening "$dir/switch.err" || die "tcpdump did not start"
    ip netns exec "$NC" python3 "$HERE/probe.py" "$VIP" "$PROBE_MS" "$count" "$deadline" >"$dir/probe.out" 2>&1 &
    PIDS+=($!); local pinger=$!
    for i in $(seq 60); do grep -q 'echo reply' "$dir/client.cap" && break; sleep 0.05; done
    local tracers=() node pg p args
    if [ -n "$STRACE" ]; then # diagnosis: every syscall of both daemons, with times
        for node in A B; do
            if [ $node = A ]; then pg=$PG_A; else pg=$PG_B; fi
            args=()
            for p in $(group_members "$([ $node = A ] && echo "$NA" || echo "$NB")" "$pg"); do args+=(-p "$p"); done
            strace -f -ttt -T -o "$dir/$node.strace" "${args[@]}" 2>/dev/null &
            PIDS+=($!); tracers+=($!)
        done
        sleep 1
    fi
    sleep "$(ms $pre)"
    # The fault, timestamped without a fork: builtin kill, or a line to a waiting `ip -batch`.
    case "$sc" in
        kill) t_fault=$EPOCHREALTIME; kill -KILL -- "-$PG_A" ;;
        term) t_fault=$EPOCHREALTIME; kill -TERM -- "-$PG_A" ;;
        worker) t_fault=$EPOCHREALTIME; kill -KILL "$target" ;;
        link)
            ipb_start "$NA"
            t_fault=$EPOCHREALTIME
            echo "link set lan0 down" >&"$IPB_FD"
            ipb_end
            ;;
        cable) # machine death on a direct heart-beat cable: the daemons stop, the carrier drops
            # The daemons are frozen (SIGSTOP: they stop executing, as on a dead machine), not
            # killed: in the shared kernel a killed daemon's socket teardown takes the RTNL
            # lock and held the carrier change back by 150-430 ms, a delay a real machine
            # death (the peer's PHY sees the signal vanish) does not have. SIGKILL after the
            # window.
            ipb_start "$NA"
            t_fault=$EPOCHREALTIME
            kill -STOP -- "-$PG_A"
            echo "link set hb0 down" >&"$IPB_FD"
            ipb_end
            ;;
    esac
    echo "$t_fault" >"$dir/fault"
    sleep "$(ms "$window")"
    [ "$sc" = cable ] && kill -KILL -- "-$PG_A" 2>/dev/null || true
    t_end=$EPOCHREALTIME
    stop_pid "$pinger"
    sleep 0.05
    stop_pid "$cap1"
    stop_pid "$cap2"
    for p in "${tracers[@]}"; do stop_pid "$p"; done
    if [ "$d" = pikemon ]; then
        res=$(python3 "$OUTAGE" "$dir/client.cap" "$dir/switch.cap" "$t_fault" "$expect" "$t_end" "$PROBE_MS" \
            "$dir/B.log" probe "ARP-probing" "$dir/B.log" B-decides "=> Master" "$dir/B.log" B-master ": Master (" "$dir/A.log" A-worker-up "worker boot")
    else
        res=$(python3 "$OUTAGE" "$dir/client.cap" "$dir/switch.cap" "$t_fault" "$expect" "$t_end" "$PROBE_MS" \
            "$dir/B.log" B-master "Entering MASTER STATE")
    fi
    stop_pair
    TRIAL_RESULT=$res
}

# --- RSS and CPU at 10 ms ----------------------------------------------------------------------
IDLE=$TMP/idle.tsv
: >"$IDLE"
idle_cost() { # daemon
    local d=$1 dir=$TMP/$1-idle node ns pg pids r t0 t1
    reset_nodes
    if ! start_pair "$d" 10 "$dir"; then
        stop_pair
        echo "bench/failover: $d idle setup failed: $SETUP_ERR" >&2
        return
    fi
    sleep 1
    declare -A T0 PIDS_OF
    for node in A B; do
        if [ $node = A ]; then ns=$NA pg=$PG_A; else ns=$NB pg=$PG_B; fi
        pids=$(group_members "$ns" "$pg" | tr '\n' ' ')
        PIDS_OF[$node]=$pids
        # shellcheck disable=SC2086
        T0[$node]=$(cpu_ticks $pids)
    done
    sleep "$CPU_SECS"
    for node in A B; do
        # shellcheck disable=SC2086
        r=$(rss_kib ${PIDS_OF[$node]}); t1=$(cpu_ticks ${PIDS_OF[$node]})
        # shellcheck disable=SC2086
        set -- ${PIDS_OF[$node]}
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$d" "$node" "$#" "$r" "$(rss_once_kib "$@")" \
            "$(awk -v t=$((t1 - T0[$node])) -v hz="$CLK_TCK" -v s="$CPU_SECS" 'BEGIN { printf "%.2f", t / hz / s * 100 }')" \
            "$(rss_detail "$@")" >>"$IDLE"
    done
    stop_pair
}

# --- main --------------------------------------------------------------------------------------
echo "pikemon: $HABOX ($(stat -c %s "$HABOX") bytes)   keepalived: $("$KEEPALIVED" --version 2>&1 | head -n 1)"
echo "IPv$FAMILY, VIP $VIP/$VLEN; runs $RUNS, intervals (ms) $INTERVALS, scenarios $SCENARIOS, probe every $PROBE_MS ms; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for iv in $INTERVALS; do
    for sc in $SCENARIOS; do
        for run in $(seq "$RUNS"); do
            for d in $DAEMONS; do
                trial "$d" "$iv" "$sc" "$run"
            done
        done
    done
done
if [ "$CPU_SECS" != 0 ]; then
    for d in $DAEMONS; do idle_cost "$d"; done
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RESULTS" "$IDLE" "$SCENARIOS" "$INTERVALS" <<'EOF'
import statistics, sys
results, idle, scenarios, intervals = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
names = {"kill": "master SIGKILL", "link": "master LAN link down", "term": "graceful stop (TERM)",
         "worker": "worker SIGKILL", "cable": "master dies, hb cable"}
by, stalled = {}, {}
for line in open(results):
    f = line.rstrip("\n").split("\t")
    by.setdefault((f[0], f[1], f[2]), []).append(f[5] if f[4] in ("ok", "invalid") else None)
    if f[4] == "invalid":
        stalled[(f[0], f[1], f[2])] = stalled.get((f[0], f[1], f[2]), 0) + 1
def cell(v):
    if not v:
        return None, "-"
    ok = [float(x) for x in v if x is not None]
    fails = len(v) - len(ok)
    if len(ok) * 2 <= len(v):
        return None, "FAIL %d/%d" % (fails, len(v))
    m = statistics.median(ok)
    return m, ("%.1f" % m) + (" (%d fail)" % fails if fails else "")
print()
print("VIP outage seen by the client, median ms over the runs (0 = no probe lost)")
print("%-22s %8s %18s %18s %8s" % ("scenario", "interval", "pikemon", "keepalived", "ratio"))
for sc in scenarios:
    for iv in intervals:
        mp, tp = cell(by.get(("pikemon", iv, sc)))
        mk, tk = cell(by.get(("keepalived", iv, sc)))
        tp += "*" * min(1, stalled.get(("pikemon", iv, sc), 0))
        tk += "*" * min(1, stalled.get(("keepalived", iv, sc), 0))
        ratio = "%.2f" % (mp / mk) if mp is not None and mk else "-"
        print("%-22s %6s ms %18s %18s %8s" % (names.get(sc, sc), iv, tp, tk, ratio))
if stalled:
    print("* includes a run whose client stalled three times (a busy machine): see the per-run lines")
rows = [l.rstrip("\n").split("\t") for l in open(idle)]
if rows:
    print()
    print("Idle at 10 ms hellos/adverts: RSS of all the daemon's processes of a node, CPU (utime+stime)")
    print("%-11s %5s %6s %9s %11s %10s  %s" % ("daemon", "node", "procs", "RSS KiB", "file once", "CPU % core",
                                            "per process: VmRSS(anon+file) KiB"))
    for d, node, n, rss, pss, cpu, detail in rows:
        print("%-11s %5s %6s %9s %11s %10s  %s" % (d, node, n, rss, pss, cpu, detail))
EOF
