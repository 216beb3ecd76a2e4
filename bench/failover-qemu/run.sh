#!/usr/bin/env bash
# bench/failover-qemu: the failover figures on two real kernels — the appliance pair under QEMU
# (TCG), pikemon against keepalived on the same guests in the same run. See README.md here.
#
#   bench/failover-qemu/run.sh                              # 5 runs, 1 s and 100 ms, 4 faults
#   RUNS=1 INTERVALS=100 SCENARIOS=death bench/failover-qemu/run.sh   # a quick look
#
# Knobs: RUNS (5), INTERVALS ("1000 100", ms), SCENARIOS ("death kill link term"), DAEMONS
# ("pikemon keepalived"), FROM (fw-a: every fault starts there; any), QEMU_ACCEL (tcg),
# QEMU_NIC_OPTS (extra virtio-net-pci properties, e.g. ioeventfd=off; none by default). Needs
# root; builds the image (make image) and a directory with Debian's keepalived and the
# libraries it links (build/bench/keepalived), which the guests get on top of the image.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "bench/failover-qemu: needs root (network namespaces)" >&2; exit 2; }
command -v keepalived >/dev/null || { echo "bench/failover-qemu: keepalived missing (make deps)" >&2; exit 2; }
make --no-print-directory image >&2

tree=build/bench/keepalived
rm -rf "$tree"
mkdir -p "$tree"
kp=$(command -v keepalived)
cp --parents -L "$kp" "$tree/"
# Every library it links, and the dynamic loader, at the paths ldd names.
for lib in $(ldd "$kp" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }'); do
    cp --parents -L "$lib" "$tree/"
done
echo "keepalived for the guests: $(du -sh "$tree" | cut -f1) in $tree" >&2

export KEEPALIVED_TREE=$PWD/$tree
[ -z "${QEMU_NIC_OPTS:-}" ] || echo "virtio-net-pci options: $QEMU_NIC_OPTS" >&2
exec cargo run --release --locked --quiet --example failover_qemu
