#!/usr/bin/env bash
# CPU of habox ldirectord's http check on a big page with `receive` set: one real that answers
# every check with a 17 MiB body (of which the check reads its 16 MiB maximum), checkinterval=1,
# for WINDOW seconds; prints the daemon's CPU per check and per MiB searched, once for each
# RECEIVE pattern. A benchmark, not a test: nothing is asserted. See README.md ("Big pages").
#
#   HABOX=build/habox bench/ldirectord/bigpage.sh
#   WINDOW=20 RECEIVE="Test Page|Test.Page" bench/ldirectord/bigpage.sh
#
# Runs in a network namespace it creates and deletes (the real is 127.0.0.1:8080 there); kills
# only the processes it started. Needs root and python3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../.."
HABOX=${HABOX:-build/habox}
WINDOW=${WINDOW:-15}
RECEIVE=${RECEIVE:-Test Page|Test.Page}
[ -x "$HABOX" ] || { echo "bigpage: $HABOX is not built" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bigpage: needs root (network namespace)" >&2; exit 2; }

NETNS=hbbench-bp-$$
TMP=$(mktemp -d /tmp/hbbench-bp.XXXXXX)
PIDS=""
cleanup() {
    trap - EXIT INT TERM
    for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$NETNS" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
ip netns add "$NETNS"
ip -n "$NETNS" link set lo up

# Every request: a 200 with a 17 MiB body of "x", no match; one line per request on stdout.
cat >"$TMP/server.py" <<'PY'
import socket, sys, threading
body = b"x" * (17 << 20)
head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8080))
s.listen(16)
def serve(c):
    try:
        c.recv(4096)
        print("request", flush=True)
        c.sendall(head + body)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
ip netns exec "$NETNS" python3 "$TMP/server.py" >"$TMP/requests" 2>/dev/null &
PIDS="$PIDS $!"
for _ in $(seq 50); do
    ip netns exec "$NETNS" ss -Hltn "sport = :8080" | grep -q . && break
    sleep 0.1
done

TICK=$(getconf CLK_TCK)
IFS='|' read -r -a PATTERNS <<<"$RECEIVE"
for pattern in "${PATTERNS[@]}"; do
    cfg="$TMP/ld.cf"
    printf 'checkinterval=1\nchecktimeout=5\nnegotiatetimeout=5\nfork=no\nvirtual=198.51.100.10:80\n\treal=127.0.0.1:8080 masq\n\tservice=http\n\trequest="/"\n\treceive="%s"\n' \
        "$pattern" >"$cfg"
    : >"$TMP/requests"
    ip netns exec "$NETNS" env LDIRECTORD_IPVS_RECORD="$TMP/ipvs.rec" \
        "$HABOX" ldirectord -d "$cfg" start >/dev/null 2>"$TMP/log" &
    ld=$!
    PIDS="$PIDS $ld"
    sleep "$WINDOW"
    # utime + stime in ticks, and the ns on CPU from schedstat, before the daemon stops.
    read -r -a st <<<"$(sed 's/.*) //' "/proc/$ld/stat")"
    ns=$(cut -d' ' -f1 "/proc/$ld/schedstat")
    kill "$ld"
    wait "$ld" 2>/dev/null || true
    checks=$(wc -l <"$TMP/requests")
    awk -v p="$pattern" -v n="$checks" -v t=$((st[11] + st[12])) -v hz="$TICK" -v ns="$ns" 'BEGIN {
        ms = ns / 1e6
        printf "receive=%-12s checks %3d  CPU %7.1f ms (ticks %.1f ms)  %6.1f ms/check  %5.2f ms/MiB\n",
            "\"" p "\"", n, ms, t * 1000 / hz, ms / n, ms / n / 16 }'
done
