#!/usr/bin/env bash
# CPU starvation benchmark: does a machine busy with stress-ng make the backup take over from a
# healthy master? pikemon (habox) vs keepalived (VRRPv3), each with and without its real-time
# option. See bench/starve/README.md for the topology, what is measured and the figures.
#
#   bench/starve/run.sh                                   # everything (about 20 minutes)
#   DURATION=20 STRESSORS=cpu INTERVALS=10 bench/starve/run.sh   # a quick look
#
# Knobs: DURATION (60, s of stress per trial), STRESSORS ("cpu matrix"; also "vm" and "io"),
# CPU_LOAD (empty; N adds --cpu-load N to the cpu stressor), WORKERS ($(nproc): stressor
# instances), INTERVALS ("100 10", ms), REALTIME ("no yes"), DAEMONS ("pikemon keepalived"),
# RUNS (1), PING_GROUP (0), DEATH_WATCH (1), HABOX (build/habox, else cargo build), KEEP=1.
# Needs root, iproute2, python3, keepalived, stress-ng, setsid.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../.."

DURATION=${DURATION:-60}
STRESSORS=${STRESSORS:-"cpu matrix"}
CPU_LOAD=${CPU_LOAD:-}
WORKERS=${WORKERS:-$(nproc)}
INTERVALS=${INTERVALS:-"100 10"}
REALTIME=${REALTIME:-"no yes"}
DAEMONS=${DAEMONS:-"pikemon keepalived"}
RUNS=${RUNS:-1}
KEEP=${KEEP:-}
HABOX=${HABOX:-build/habox}
BENCH=bench/starve
P=st$$

[ "$(id -u)" = 0 ] || { echo "$BENCH: needs root (network namespaces)" >&2; exit 2; }
for tool in ip python3 setsid keepalived stress-ng; do
    command -v "$tool" >/dev/null || { echo "$BENCH: $tool is missing (apt-get install stress-ng keepalived)" >&2; exit 2; }
done
if [ ! -x "$HABOX" ]; then
    cargo build --release --locked >&2
    HABOX=target/x86_64-unknown-linux-musl/release/habox
fi
HABOX=$(realpath "$HABOX")
TMP=$(mktemp -d /tmp/bench-starve.XXXXXX)
# shellcheck source=bench/lib/pair.sh
. "$HERE/../lib/pair.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM
make_topology

# The stress-ng arguments of a stressor name.
stress_args() {
    case "$1" in
        cpu) echo "--cpu $WORKERS${CPU_LOAD:+ --cpu-load $CPU_LOAD}" ;;
        matrix) echo "--matrix $WORKERS" ;;
        vm) echo "--vm $WORKERS --vm-bytes 64M" ;;         # page faults and memory bandwidth
        io) echo "--io 1 --hdd 1 --hdd-bytes 64M --temp-path $TMP" ;; # sync(2) and writes
        *) die "unknown stressor $1" ;;
    esac
}

left_master() { node_log "$1" | grep -a -c -E 'Master => |Entering BACKUP STATE|Entering FAULT STATE' || true; }

RESULTS=$TMP/results.tsv
: >"$RESULTS"

# One trial: a fresh pair, DURATION seconds of stress-ng, then a dead-interval and a probe.
trial() { # daemon interval realtime stressor run
    local d=$1 iv=$2 rt=$3 st=$4 run=$5 dir=$TMP/$1-$2-$3-$4-$5 j0 j1 wa wb mb0 mb1 ba0 ba1 ta0 ta1 tb0 tb1 t0 t1 pg i secs
    if ! start_pair "$d" "$iv" "$dir" "$rt"; then
        stop_pair
        printf '%s\t%s\t%s\t%s\t%s\tsetup-failed:%s\n' "$d" "$iv" "$rt" "$st" "$run" "${SETUP_ERR// /_}" | tee -a "$RESULTS" >&2
        return
    fi
    sleep 1
    wa=$(worker_pid "$d" A "$dir"); wb=$(worker_pid "$d" B "$dir")
    [ -n "$wa" ] && [ -n "$wb" ] || die "$d: no worker found"
    mb0=$(masters_logged "$d" "$dir/B.log"); ba0=$(left_master "$dir/A.log")
    ta0=$(cpu_ticks "$wa"); tb0=$(cpu_ticks "$wb")
    j0=$(machine_jiffies)
    t0=$EPOCHREALTIME
    # shellcheck disable=SC2046 # the arguments split on purpose
    setsid ip netns exec "$NC" stress-ng $(stress_args "$st") --timeout "${DURATION}s" \
        >"$dir/stress.out" 2>&1 </dev/null &
    pg=$!
    disown "$pg"
    PGIDS+=("$pg")
    for i in $(seq $(( (DURATION + 15) * 10 ))); do # stress-ng ends itself; bounded anyway
        [ -e "/proc/$pg" ] || [ -n "$(group_members "$NC" "$pg")" ] || break
        sleep 0.1
    done
    stop_group "$NC" "$pg"
    t1=$EPOCHREALTIME
    j1=$(machine_jiffies)
    ta1=$(cpu_ticks "$wa"); tb1=$(cpu_ticks "$wb")
    sleep "$(ms $((4 * iv + 500)))"
    mb1=$(masters_logged "$d" "$dir/B.log"); ba1=$(left_master "$dir/A.log")
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    printf '%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$d" "$iv" "$rt" "$st" "$run" \
        $((mb1 - mb0)) $((ba1 - ba0)) "$(sched_of "$wa")" "$(cpu_pct $((ta1 - ta0)) "$secs")" \
        "$(cpu_pct $((tb1 - tb0)) "$secs")" "$secs" "$(roles "$d" "$dir")" \
        "$(cut -d' ' -f1 /proc/loadavg)" "$(idle_pct "$j0" "$j1")" |
        tee -a "$RESULTS" >&2
    stop_pair
}

echo "pikemon: $HABOX ($(stat -c %s "$HABOX") bytes)   keepalived: $("$KEEPALIVED" --version 2>&1 | head -n 1)   $(stress-ng --version | cut -d' ' -f1-3)"
echo "duration ${DURATION}s, stressors $STRESSORS ($WORKERS instances${CPU_LOAD:+, cpu-load $CPU_LOAD}), intervals (ms) $INTERVALS, realtime $REALTIME, runs $RUNS; $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '# daemon iv realtime stressor run B-became-master A-left-master A-sched cpuA cpuB secs roles-after load1 machine-idle\n' >&2
for st in $STRESSORS; do
    for iv in $INTERVALS; do
        for rt in $REALTIME; do
            for d in $DAEMONS; do
                for run in $(seq "$RUNS"); do
                    trial "$d" "$iv" "$rt" "$st" "$run"
                done
            done
        done
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RESULTS" "$WORKERS" "$CPU_LOAD" <<'EOF'
import sys
results, workers, load = sys.argv[1:4]
names = {"cpu": "--cpu %s%s" % (workers, " --cpu-load " + load if load else ""), "matrix": "--matrix " + workers,
         "vm": "--vm %s --vm-bytes 64M" % workers, "io": "--io 1 --hdd 1"}
by, order = {}, []
for line in open(results):
    r = line.rstrip("\n").split("\t")
    k = (r[3], r[1], r[0], r[2])
    if k not in by:
        order.append(k)
    by.setdefault(k, []).append(r)
print()
print("False failovers (B became Master while A was healthy) under stress-ng, summed over the runs.")
print("A left = A gave up Master; sched = A's worker (pikemon) / VRRP child (keepalived): TS normal,")
print("FF/N SCHED_FIFO, RR/N SCHED_RR; CPU = that process on A / on B, % of one core (max over the")
print("runs); idle = the whole machine's idle % over the stress (min over the runs); load = the 1-min")
print("load average at the end of each run.")
print()
print("%-22s %5s %-10s %8s %4s %6s %6s %6s %6s %6s %4s  %s" % ("stressor", "iv ms", "daemon", "realtime", "runs",
      "false", "A left", "sched", "CPU A", "CPU B", "idle", "roles after / load"))
for k in order:
    runs = by[k]
    ok = [r for r in runs if len(r) >= 14]
    bad = [r[5] for r in runs if len(r) < 14]
    if not ok:
        print("%-22s %5s %-10s %8s %4d  %s" % (names.get(k[0], k[0]), k[1], k[2], k[3], len(runs), " ".join(bad)))
        continue
    print("%-22s %5s %-10s %8s %4d %6d %6d %6s %6.1f %6.1f %4d  %s" % (
        names.get(k[0], k[0]), k[1], k[2], k[3], len(runs), sum(int(r[5]) for r in ok), sum(int(r[6]) for r in ok),
        ok[0][7], max(float(r[8]) for r in ok), max(float(r[9]) for r in ok), min(int(r[13]) for r in ok),
        " ".join("%s/%s" % (r[11], r[12]) for r in ok) + (" " + " ".join(bad) if bad else "")))
EOF
