#!/bin/bash
# The Makefile's own behaviour (run by `make test`, as root):
#  - which target installs which Debian packages: `make` only the build's (a fake dpkg-query says
#    every package is missing, a fake apt-get records what it was asked for), `make run` also the
#    pair's but no test-only server, `make test` everything;
#  - `make` replaces build/habox while it runs (no "Text file busy"), and `make install DESTDIR=`
#    replaces a running DESTDIR/usr/sbin/habox, its applet links relative.
# The running habox is `lkping` in a network namespace of this script's own, deleted at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# Independent make runs, whatever make (if any) started this script.
unset MAKEFLAGS MFLAGS MAKELEVEL
MAKE=${MAKE:-make}

tmp=$(mktemp -d /tmp/habox-make-test.XXXXXX)
ns=hbmk$$
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# --- which target installs what
mkdir -p "$tmp/bin"
cat > "$tmp/bin/dpkg-query" <<'EOF'
#!/bin/sh
exit 1
EOF
cat > "$tmp/bin/apt-get" <<EOF
#!/bin/sh
echo "\$*" >> "$tmp/apt.log"
EOF
chmod 755 "$tmp/bin/dpkg-query" "$tmp/bin/apt-get"
installed() { # what the fake apt-get was asked to install, one package a line, sorted
    sed -n 's/^install -y -q //p' "$tmp/apt.log" 2>/dev/null | tr ' ' '\n' | sed '/^$/d' | sort -u
}
fake_make() { : > "$tmp/apt.log"; PATH="$tmp/bin:$PATH" "$MAKE" POLICY_RC_D="$tmp/policy-rc.d" "$@"; }

fake_make build > "$tmp/out" 2>&1 || { cat "$tmp/out"; fail "make build with every package missing"; }
got=$(installed | tr '\n' ' ')
[ "$got" = "gcc musl-tools " ] && pass "make installs the build's packages only ($got)" \
    || fail "make installed: '$got' (want: gcc musl-tools)"
[ ! -e "$tmp/policy-rc.d" ] || fail "policy-rc.d left behind"

fake_make deps-run > "$tmp/out" 2>&1 || { cat "$tmp/out"; fail "make deps-run"; }
got=$(installed)
for p in musl-tools qemu-system-x86 busybox-static conntrackd nftables ipvsadm socat; do
    grep -qx "$p" <<< "$got" || fail "make run does not install $p"
done
for p in mariadb-server postgresql slapd freeradius sip-tester keepalived hyperfine; do
    if grep -qx "$p" <<< "$got"; then fail "make run installs the test-only $p"; fi
done
pass "make run installs what the pair needs, no test-only server ($(wc -l <<< "$got") packages)"
# `make run` and `make image` reach deps-run, not deps (nothing is run: -n).
for t in run image; do
    out=$("$MAKE" -n "$t" 2>&1)
    grep -q qemu-system-x86 <<< "$out" || fail "make -n $t: no deps-run"
    if grep -q mariadb-server <<< "$out"; then fail "make -n $t reaches the full deps"; fi
done
out=$("$MAKE" -n test 2>&1)
grep -q mariadb-server <<< "$out" || fail "make -n test does not install everything"

fake_make deps > "$tmp/out" 2>&1 || { cat "$tmp/out"; fail "make deps"; }
got=$(installed)
for p in musl-tools qemu-system-x86 mariadb-server postgresql slapd freeradius sip-tester; do
    grep -qx "$p" <<< "$got" || fail "make test (deps) does not install $p"
done
pass "make test installs everything ($(wc -l <<< "$got") packages)"

# --- a running build/habox is replaced, not written into. The copy runs on every make
# (build/habox depends on the phony deps-build), so no source needs touching to exercise it; the
# new inode proves it ran.
ip netns add "$ns"
ip -n "$ns" link set lo up
"$MAKE" build > "$tmp/out" 2>&1 || { cat "$tmp/out"; fail "make build"; exit 1; }
busy() { # PATH: runs it as lkping in the namespace (ip netns exec execs it: $! is its pid)
    ip netns exec "$ns" "$1" lkping -q -i 1 -c 100000 127.0.0.1 > /dev/null 2>&1 &
    pid=$!
    pids+=("$pid")
    sleep 0.5
    kill -0 "$pid" 2>/dev/null || fail "$1 lkping did not start"
}
inode() { stat -L -c %i "$1"; }

busy build/habox
before=$(inode build/habox)
if "$MAKE" build/habox > "$tmp/out" 2>&1; then
    [ "$(inode build/habox)" != "$before" ] || fail "make did not replace build/habox"
    cmp -s build/habox target/x86_64-unknown-linux-musl/release/habox || fail "build/habox differs from cargo's"
    kill -0 "$pid" 2>/dev/null || fail "the running build/habox died"
    [ -z "$(ls build/.habox.* 2>/dev/null)" ] || fail "temporary files left in build/"
    pass "make build/habox while build/habox runs"
else
    cat "$tmp/out"; fail "make build/habox while build/habox runs"
fi

# --- make install DESTDIR=... over a running DESTDIR/usr/sbin/habox
root=$tmp/root
"$MAKE" install DESTDIR="$root" > "$tmp/out" 2>&1 || { cat "$tmp/out"; fail "make install DESTDIR"; exit 1; }
busy "$root/usr/sbin/habox"
before=$(inode "$root/usr/sbin/habox")
if "$MAKE" install DESTDIR="$root" > "$tmp/out" 2>&1; then
    [ "$(inode "$root/usr/sbin/habox")" != "$before" ] || fail "make install did not replace habox"
    cmp -s build/habox "$root/usr/sbin/habox" || fail "installed habox differs from build/habox"
    kill -0 "$pid" 2>/dev/null || fail "the running installed habox died"
    for a in $(build/habox --list); do
        [ "$(readlink "$root/usr/sbin/$a")" = habox ] || fail "$a: not a relative link to habox"
    done
    [ "$(find "$root" -type f | wc -l)" = 1 ] || fail "files other than habox in DESTDIR: $(find "$root" -type f)"
    "$root/usr/sbin/test-pikemon" -v > /dev/null || fail "the installed test-pikemon link does not run"
    pass "make install DESTDIR while DESTDIR/usr/sbin/habox runs"
else
    cat "$tmp/out"; fail "make install DESTDIR while DESTDIR/usr/sbin/habox runs"
fi

if [ "$failures" -ne 0 ]; then
    echo "tests/make.sh: $failures failure(s)" >&2
    exit 1
fi
echo "tests/make.sh: all passed"
