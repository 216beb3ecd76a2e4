#!/usr/bin/env bash
# lkping vs iputils ping to a host in a network namespace: median wall time (hyperfine) and
# median of the max RSS (GNU time, %M) for `-c 1` and `-c 100 -i 0.01`, over IPv4 and over
# IPv6 (`ping -6`), and lkping/ping ratios. Creates and deletes its own two namespaces
# (198.18.0.0/24 and 2001:db8::/64 without DAD on a veth pair). Needs root,
# hyperfine and GNU time (Debian: hyperfine, time).
#
#   bench/lkping.sh                 # uses build/habox, else builds the release binary
#   HABOX=path/to/habox RUNS=30 bench/lkping.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-20}
HABOX=${HABOX:-build/habox}
if [ ! -x "$HABOX" ]; then
    cargo build --release --locked >&2
    HABOX=target/x86_64-unknown-linux-musl/release/habox
fi
HABOX=$(realpath "$HABOX")
for tool in hyperfine /usr/bin/time ping python3; do
    command -v "$tool" >/dev/null || { echo "bench/lkping: $tool is missing" >&2; exit 2; }
done

A=hbbench-a-$$
B=hbbench-b-$$
TMP=$(mktemp -d)
cleanup() {
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

ip netns add "$A"
ip netns add "$B"
ip link add "hbbva$$" type veth peer name "hbbvb$$"
ip link set "hbbva$$" netns "$A" name eth0
ip link set "hbbvb$$" netns "$B" name eth0
ip -n "$A" addr add 198.18.0.1/24 dev eth0
ip -n "$B" addr add 198.18.0.2/24 dev eth0
ip -n "$A" addr add 2001:db8::1/64 dev eth0 nodad
ip -n "$B" addr add 2001:db8::2/64 dev eth0 nodad
for ns in "$A" "$B"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
done
ln -s "$HABOX" "$TMP/lkping"
PING=$(command -v ping)
# Warm the neighbour cache so neither program pays for ARP.
ip netns exec "$A" "$PING" -c 1 -q 198.18.0.2 >/dev/null
ip netns exec "$A" "$PING" -6 -c 1 -q 2001:db8::2 >/dev/null

# median wall time (ms) of one command, run inside namespace A
wall_ms() {
    local json="$TMP/h.json"
    ip netns exec "$A" hyperfine -N --style none --warmup 3 --runs "$RUNS" \
        --export-json "$json" "$*" >/dev/null 2>&1
    python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$json"
}

# median of the max RSS (KiB) over RUNS runs
rss_kib() {
    local i
    for i in $(seq "$RUNS"); do
        ip netns exec "$A" /usr/bin/time -f %M -o "$TMP/rss" "$@" >/dev/null 2>&1 || true
        tail -n 1 "$TMP/rss"
    done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

ratio() { python3 -c 'import sys; print("%.2f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"; }

printf 'lkping: %s (%s bytes)   ping: %s (%s)   runs: %s\n' "$HABOX" "$(stat -c %s "$HABOX")" \
    "$PING" "$("$PING" -V | head -n 1)" "$RUNS"
printf '%-30s %12s %12s %8s\n' "case" "lkping" "ping" "ratio"
for args in "-c 1 198.18.0.2" "-c 100 -i 0.01 198.18.0.2" "-6 -c 1 2001:db8::2" \
    "-6 -c 100 -i 0.01 2001:db8::2"; do
    # shellcheck disable=SC2086 # word splitting of the argument string is intended
    {
        ours=$(wall_ms "$TMP/lkping" $args)
        theirs=$(wall_ms "$PING" $args)
        printf '%-30s %12s %12s %8s\n' "${args% *} wall ms" "$ours" "$theirs" "$(ratio "$ours" "$theirs")"
        ours=$(rss_kib "$TMP/lkping" $args)
        theirs=$(rss_kib "$PING" $args)
        printf '%-30s %12s %12s %8s\n' "${args% *} max RSS KiB" "$ours" "$theirs" "$(ratio "$ours" "$theirs")"
    }
done
