#!/usr/bin/env bash
# habox ldirectord vs Debian's Perl ldirectord: start-up, check-cycle time, CPU per check, RSS
# and reaction to a dead real server, for N real servers (one virtual, checktype=negotiate,
# service=http, checkinterval=1, checktimeout=3, fork=no, the same config for both).
# See bench/ldirectord/README.md for the method and the figures measured.
#
# Everything runs in a network namespace this script creates and deletes: the N reals are
# 127.1.x.y:80 on its private loopback, answered by ONE process (realservers.c; SERVER=py:
# realservers.py).
# The Perl's ipvsadm is a logging stand-in (ipvsadm-shim, via a copy of the script whose
# ipvsadm path points at it); ours writes LDIRECTORD_IPVS_RECORD. Needs root, python3 and
# the ldirectord package (`make deps`).
#
#   bench/ldirectord/run.sh                       # N = 10 100 1000, ~9 minutes
#   NS="10 100" RUNS=3 WINDOW=20 REACTS=2 HABOX=build/habox bench/ldirectord/run.sh
#   KEEP=1 ...                                    # keep the temp dir (logs, record files)
#   NS=1000 DRIBBLE="0 0.1" PERL_RUNS=1 PERL_REACTS=1 ...  # also with 10 % of the reals dribbling
#   NS=10000 RUNS=1 PERL_RUNS=1 PERL_STARTUP_MAX=300 ...    # the Perl cut off after 300 s
# (measure.py lists the other knobs: IMPLS, PERL_RUNS, PERL_REACTS, PERL_STARTUP_MAX)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../.."

export NS=${NS:-10 100 1000} RUNS=${RUNS:-3} WINDOW=${WINDOW:-20} REACTS=${REACTS:-2}
HABOX=${HABOX:-build/habox}
PERL_LD=${PERL_LD:-/usr/sbin/ldirectord}
if [ ! -x "$HABOX" ]; then
    cargo build --release --locked >&2
    HABOX=target/x86_64-unknown-linux-musl/release/habox
fi
for tool in python3 ip bash "$PERL_LD"; do
    command -v "$tool" >/dev/null || { echo "bench/ldirectord: $tool is missing (make deps)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench/ldirectord: needs root (network namespace)" >&2; exit 2; }

NETNS=hbbench-ld-$$
TMP=$(mktemp -d /tmp/hbbench-ld.XXXXXX)
SERVER_PID=""
DRIVER_PID=""
# Running, i.e. neither gone nor a zombie.
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "${st%% *}" != Z ]
}
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    # Only what this script started: the driver, the server, the daemons the driver listed.
    # Daemon pids are checked against their command line (their config is under $TMP), so a
    # reused pid is never hit; the server and the driver are unreaped children of this shell.
    local daemons=""
    for pid in $(cat "$TMP/pids" 2>/dev/null); do
        grep -qsF "$TMP" "/proc/$pid/cmdline" && daemons="$daemons $pid"
    done
    for pid in $DRIVER_PID $SERVER_PID $daemons; do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 30); do
        local left=""
        for pid in $DRIVER_PID $SERVER_PID $daemons; do alive "$pid" && left=1; done
        [ -n "$left" ] || break
        sleep 0.1
    done
    for pid in $DRIVER_PID $SERVER_PID $daemons; do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$NETNS" 2>/dev/null || true
    rm -f /var/run/ldirectord.hbbench-$$-*.pid
    if [ -n "${KEEP:-}" ]; then echo "bench/ldirectord: kept $TMP" >&2; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The Perl finds ipvsadm only at /sbin or /usr/sbin (§4: PATH is never searched): a copy
# whose two paths point at the shim. It keeps the name ldirectord (its liveness check
# matches /ldirectord/ in /proc/PID/cmdline).
mkdir -p "$TMP/perl"
sed -e "s#\"/sbin/ipvsadm\"#\"$HERE/ipvsadm-shim\"#; s#\"/usr/sbin/ipvsadm\"#\"$HERE/ipvsadm-shim\"#" \
    "$PERL_LD" >"$TMP/perl/ldirectord"
chmod 755 "$TMP/perl/ldirectord"
grep -q "$HERE/ipvsadm-shim" "$TMP/perl/ldirectord" ||
    { echo "bench/ldirectord: could not point $PERL_LD at the shim" >&2; exit 2; }

ip netns add "$NETNS"
ip -n "$NETNS" link set lo up

# The real servers: realservers.c (SERVER=c, the default) or the same protocol in python
# (SERVER=py), which at about 70 µs a request bounded the start-up round of N=1000.
if [ "${SERVER:-c}" = c ]; then
    cc -O2 -o "$TMP/realservers" "$HERE/realservers.c" ||
        { echo "bench/ldirectord: cannot build realservers.c (cc; SERVER=py uses python)" >&2; exit 2; }
    SERVER_CMD=("$TMP/realservers")
else
    SERVER_CMD=(python3 "$HERE/realservers.py")
fi
# PIN="D S": the daemon on CPU D (measure.py), the servers on CPU S, so that neither
# preempts the other (unset: wherever the scheduler puts them).
if [ -n "${PIN:-}" ]; then
    read -r _ PIN_SERVER <<<"$PIN"
    [[ "$PIN" =~ ^[0-9]+\ [0-9]+$ ]] || { echo "bench/ldirectord: PIN=\"D S\" (two CPU numbers)" >&2; exit 2; }
    SERVER_CMD=(taskset -c "$PIN_SERVER" "${SERVER_CMD[@]}")
fi
ip netns exec "$NETNS" "${SERVER_CMD[@]}" 80 "$TMP/server.log" "$TMP/server.sock" \
    </dev/null >"$TMP/server.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do [ -S "$TMP/server.sock" ] && break; sleep 0.05; done
[ -S "$TMP/server.sock" ] || { echo "bench/ldirectord: real servers did not start" >&2; exit 1; }

printf 'ours: %s (%s bytes)   perl: %s (%s)\n' "$HABOX" "$(stat -c %s "$HABOX")" "$PERL_LD" \
    "$(dpkg-query -W -f='${Version}' ldirectord 2>/dev/null || echo '?')"
printf 'host: %s cores, load %s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
TMP=$TMP HABOX=$(realpath "$HABOX") PERL=$TMP/perl/ldirectord SHIM=$HERE/ipvsadm-shim \
    SERVER_LOG=$TMP/server.log SERVER_CTL=$TMP/server.sock SERVER_PID=$SERVER_PID TAG=hbbench-$$ \
    ip netns exec "$NETNS" python3 "$HERE/measure.py" &
DRIVER_PID=$!
wait "$DRIVER_PID"
