#!/usr/bin/env bash
# Flood benchmark: does a flood of the protocol's own frames make the backup take over from a
# healthy master? pikemon (habox) vs keepalived (VRRPv3) on one namespace topology.
# See bench/flood/README.md for the topology, what is measured and the figures measured here.
#
#   bench/flood/run.sh                                       # everything (about 13 minutes)
#   RATES="10000 max" INTERVALS=10 PLACES=lan bench/flood/run.sh   # a quick look
#
# Knobs: RUNS (1), RATES ("0 1000 10000 100000 max", frames/s; 0 = no flood, the control;
# max = trafgen's TX ring unpaced),
# INTERVALS ("100 10", ms: pikemon hello-interval, keepalived advert_int), PLACES ("lan hb":
# the attacker's port), KINDS ("garbage forged"), DAEMONS ("pikemon keepalived"), STEP (10, s
# of flood per step), REALTIME (no: pikemon `realtime`, keepalived vrrp_rt_priority 50 +
# vrrp_no_swap when yes), PING_GROUP (0; 1 gives pikemon a ping group on the gateway),
# DEATH_WATCH (1), GEN_CPUS (1: trafgen processes), HABOX (build/habox, else cargo build),
# KEEP=1 keeps the temp directory.
# Needs root, iproute2, tcpdump, python3, keepalived, trafgen (netsniff-ng), setsid, timeout.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../.."

RUNS=${RUNS:-1}
RATES=${RATES:-"0 1000 10000 100000 max"}
INTERVALS=${INTERVALS:-"100 10"}
PLACES=${PLACES:-"lan hb"}
KINDS=${KINDS:-"garbage forged"}
DAEMONS=${DAEMONS:-"pikemon keepalived"}
STEP=${STEP:-10}
GEN_CPUS=${GEN_CPUS:-1}
REALTIME=${REALTIME:-no}
KEEP=${KEEP:-}
HABOX=${HABOX:-build/habox}
BENCH=bench/flood
P=fl$$
ATTACKER=1

[ "$(id -u)" = 0 ] || { echo "$BENCH: needs root (network namespaces)" >&2; exit 2; }
for tool in ip tcpdump python3 setsid keepalived trafgen timeout; do
    command -v "$tool" >/dev/null || { echo "$BENCH: $tool is missing (apt-get install netsniff-ng keepalived tcpdump)" >&2; exit 2; }
done
if [ ! -x "$HABOX" ]; then
    cargo build --release --locked >&2
    HABOX=target/x86_64-unknown-linux-musl/release/habox
fi
HABOX=$(realpath "$HABOX")
TMP=$(mktemp -d /tmp/bench-flood.XXXXXX)
# shellcheck source=bench/lib/pair.sh
. "$HERE/../lib/pair.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM
make_topology

# /sys/class/net counter of an interface in a namespace.
counter() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3" 2>/dev/null || echo 0; }

# pikemon's frame counters of node $1 as "auth-failures throttled foreign malformed".
pike_counters() { # node dir
    local ns=$NA
    [ "$1" = B ] && ns=$NB
    ip netns exec "$ns" "$TMP/bin/pikemon" -f "$2/$1.cfg" -c status 2>/dev/null |
        awk '/ auth-failures / { for (i = 1; i < NF; i++) v[$i] = $(i + 1);
             print v["auth-failures"] + 0, v["throttled"] + 0, v["foreign"] + 0, v["malformed"] + 0; f = 1 }
             END { if (!f) print "0 0 0 0" }'
}

# Writes the trafgen config of KIND for daemon D attacking at PLACE; sets CFG to its path. Not
# to be called in $(...): a capture it starts must stay known to cleanup.
flood_config() { # daemon kind place interval dir
    local d=$1 kind=$2 place=$3 iv=$4 dir=$5 ifn=lan0 src cfg
    CFG=
    [ "$place" = hb ] && ifn=hb0
    src=$(ip netns exec "$NX" cat "/sys/class/net/$ifn/address")
    cfg=$dir/$kind-$place.trafgen
    case "$d-$kind" in
        pikemon-garbage) python3 "$HERE/frames.py" pike-garbage "$src" >"$cfg" ;;
        pikemon-forged)
            # A real HELLO of node 1 (A, the master) as the attacker sees it on that link.
            run_group "$NX" timeout 5 tcpdump -n -i "$ifn" -c 5 -w "$dir/hello-$place.pcap" \
                "ether proto 0x88b5 and not ether src $src" >/dev/null 2>&1
            python3 "$HERE/frames.py" pike-forged "$src" "$dir/hello-$place.pcap" >"$cfg" ;;
        keepalived-garbage) python3 "$HERE/frames.py" vrrp-garbage "$src" 198.51.100.66 >"$cfg" ;;
        keepalived-forged)
            python3 "$HERE/frames.py" vrrp-forged "$src" 198.51.100.2 51 200 $((iv / 10)) "$VIP" >"$cfg" ;;
    esac
    CFG=$cfg
}

# keepalived's log lines of one flooded frame each.
FLOOD_LINES='Invalid VRRPv[23] checksum|vrrp packet too (short|long)|wrong version|[Ii]nvalid (ttl|type|vrid)|bad (advert|auth)'
left_master() { node_log "$1" | grep -a -c -E 'Master => |Entering BACKUP STATE|Entering FAULT STATE' || true; }

RESULTS=$TMP/results.tsv
: >"$RESULTS"

# One flood step against a running pair; appends a line to $RESULTS.
step() { # daemon interval place kind rate run dir cfg
    local d=$1 iv=$2 place=$3 kind=$4 rate=$5 run=$6 dir=$7 cfg=$8 ifn=lan0
    [ "$place" = hb ] && ifn=hb0
    local j0 j1 wa wb ta0 tb0 ta1 tb1 tx0 tx1 rx0 rx1 mb0 mb1 ba0 ba1 t0 t1 pc0 pc1 lb0 lb1 count args
    wa=$(worker_pid "$d" A "$dir"); wb=$(worker_pid "$d" B "$dir")
    [ -n "$wa" ] && [ -n "$wb" ] || die "$d: no worker found"
    mb0=$(masters_logged "$d" "$dir/B.log")
    ba0=$(left_master "$dir/A.log")
    lb0=$(node_log "$dir/B.log" | wc -l)
    [ "$d" = pikemon ] && pc0=$(pike_counters B "$dir")
    tx0=$(counter "$NX" "$ifn" tx_packets)
    rx0=$(counter "$NB" "$ifn" rx_packets)
    ta0=$(cpu_ticks "$wa"); tb0=$(cpu_ticks "$wb")
    args=(-o "$ifn" -i "$cfg" -P "$GEN_CPUS" --no-sock-mem --notouch-irq)
    if [ "$rate" = max ]; then count=$((STEP * 5000000)); else count=$((STEP * rate)); args+=(-b "${rate}pps"); fi
    j0=$(machine_jiffies)
    t0=$EPOCHREALTIME
    if [ "$rate" = 0 ]; then # the control: the same watch without a flood
        sleep "$STEP"
    else
        # Bounded twice: -n frames and a SIGINT after STEP seconds.
        run_group "$NX" timeout -s INT -k 2 "$STEP" trafgen "${args[@]}" -n "$count" >"$dir/trafgen.out" 2>&1
    fi
    t1=$EPOCHREALTIME
    j1=$(machine_jiffies)
    ta1=$(cpu_ticks "$wa"); tb1=$(cpu_ticks "$wb")
    tx1=$(counter "$NX" "$ifn" tx_packets)
    rx1=$(counter "$NB" "$ifn" rx_packets)
    # Late reactions: a dead-interval and a probe after the last frame.
    sleep "$(ms $((4 * iv + 500)))"
    lb1=$(node_log "$dir/B.log" | wc -l)
    if [ "$d" = keepalived ]; then # one line per flooded frame: keep the rest, drop those
        trim_log "$dir/A.log" "$FLOOD_LINES" >/dev/null
        trim_log "$dir/B.log" "$FLOOD_LINES" >/dev/null
    fi
    mb1=$(masters_logged "$d" "$dir/B.log")
    ba1=$(left_master "$dir/A.log")
    [ "$d" = pikemon ] && pc1=$(pike_counters B "$dir")
    local secs worker_note=
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    [ "$(worker_pid "$d" A "$dir")" = "$wa" ] || worker_note="A-worker-restarted"
    [ "$(worker_pid "$d" B "$dir")" = "$wb" ] || worker_note="$worker_note B-worker-restarted"
    local drops=-
    if [ "$d" = pikemon ]; then
        # shellcheck disable=SC2086
        drops=$(awk -v a="$pc0" -v b="$pc1" 'BEGIN { split(a, x, " "); split(b, y, " ");
            printf "auth=%d,throttled=%d,foreign=%d,malformed=%d", y[1]-x[1], y[2]-x[2], y[3]-x[3], y[4]-x[4] }')
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$d" "$iv" "$place" "$kind" "$rate" "$run" $((mb1 - mb0)) $((ba1 - ba0)) \
        "$(awk -v n=$((tx1 - tx0)) -v s="$secs" 'BEGIN { printf "%.0f", n / s }')" \
        "$(awk -v n=$((rx1 - rx0)) -v s="$secs" 'BEGIN { printf "%.0f", n / s }')" $((lb1 - lb0)) \
        "$(cpu_pct $((ta1 - ta0)) "$secs")" "$(cpu_pct $((tb1 - tb0)) "$secs")" "$secs" \
        "$(roles "$d" "$dir")" "$drops" "${worker_note:--}" "$(idle_pct "$j0" "$j1")" | tee -a "$RESULTS" >&2
}

# --- main --------------------------------------------------------------------------------------
echo "pikemon: $HABOX ($(stat -c %s "$HABOX") bytes)   keepalived: $("$KEEPALIVED" --version 2>&1 | head -n 1)   $(trafgen -v 2>&1 | head -n 1 | cut -d, -f1)"
echo "runs $RUNS, rates $RATES, intervals (ms) $INTERVALS, places $PLACES, kinds $KINDS, $STEP s per step, realtime $REALTIME; $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '# daemon iv place kind rate run B-became-master A-left-master sent/s B-rx/s B-log-lines cpuA cpuB secs roles-after pikemon-B-drops note machine-idle\n' >&2
for place in $PLACES; do
    for d in $DAEMONS; do
        # keepalived speaks VRRP on the LAN only: nothing of it to flood on a heart-beat link.
        [ "$d" = keepalived ] && [ "$place" = hb ] && continue
        for iv in $INTERVALS; do
            n=0
            dir=$TMP/$d-$iv-$place
            start_pair "$d" "$iv" "$dir" "$REALTIME" || die "$d $iv ms: setup failed: $SETUP_ERR"
            for kind in $KINDS; do
                flood_config "$d" "$kind" "$place" "$iv" "$dir"
                for rate in $RATES; do
                    for run in $(seq "$RUNS"); do
                        if ! settle_pair "$d" "$iv" "$dir"; then
                            # The last step left B Master: a fresh pair for the next one.
                            stop_pair
                            n=$((n + 1))
                            dir=$TMP/$d-$iv-$place.$n
                            start_pair "$d" "$iv" "$dir" "$REALTIME" || die "$d $iv ms: setup failed: $SETUP_ERR"
                            flood_config "$d" "$kind" "$place" "$iv" "$dir"
                        fi
                        step "$d" "$iv" "$place" "$kind" "$rate" "$run" "$dir" "$CFG"
                    done
                done
            done
            stop_pair
        done
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$HERE/report.py" "$RESULTS" "$RATES"
