#!/bin/bash
# Assembles the appliance root file system in STAGE: the rootfs/ overlay, busybox (busybox-static)
# with its links, habox with its applet links, conntrackd/conntrack/nft/ipvsadm with the shared
# libraries ldd lists, and the kernel modules of image/modules.list plus their dependencies from
# the Debian cloud kernel package (which also gives OUT/vmlinuz), the cluster's HMAC key KEY
# as /etc/habox/pike.key (mode 0600), and resource-agents' ldirectord OCF agent when installed.
# Usage: image/mkrootfs.sh STAGE KERNEL_DEB HABOX OUT KEY
set -euo pipefail
stage=$1 deb=$2 habox=$3 out=$4 key=$5
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")

mkdir -p "$stage" "$out"
stage=$(realpath "$stage")
rm -rf "$stage" "$stage.kernel"
mkdir -p "$stage"

# --- overlay and directory skeleton
cp -a "$top/rootfs/." "$stage/"
for d in bin sbin usr/bin usr/sbin lib lib64 proc sys dev run tmp var/log var/lib/pikemon \
         var/lib/conntrackd etc/conntrackd root; do
    mkdir -p "$stage/$d"
done
install -m 0600 "$key" "$stage/etc/habox/pike.key"
ln -sfn ../run "$stage/var/run"
ln -sfn ../run/lock "$stage/var/lock"
chmod 1777 "$stage/tmp"

# --- busybox: one link per applet at the path busybox itself names (bin/ash, usr/sbin/...)
install -m 0755 /bin/busybox "$stage/bin/busybox"
/bin/busybox --list-full | while read -r path; do
    [ -e "$stage/$path" ] && continue        # the overlay or an earlier copy wins
    mkdir -p "$stage/$(dirname "$path")"
    rel=$(realpath -m --relative-to="$stage/$(dirname "$path")" "$stage/bin/busybox")
    ln -s "$rel" "$stage/$path"
done
ln -sfn bin/busybox "$stage/init"

# --- habox and its applets (hard links inside the staging tree)
install -m 0755 "$habox" "$stage/sbin/habox"
"$stage/sbin/habox" --install "$stage/sbin"

# --- dynamically linked tools and their libraries, each at the path ldd resolved
copy_with_libs() {
    local bin=$1 dest
    dest="$stage$bin"
    mkdir -p "$(dirname "$dest")"
    cp -L "$bin" "$dest"
    ldd "$bin" | awk '/=> \// { print $3 } /^\t\// { print $1 }' | while read -r lib; do
        mkdir -p "$stage$(dirname "$lib")"
        [ -e "$stage$lib" ] || cp -L "$lib" "$stage$lib"
    done
}
for tool in conntrackd conntrack nft ipvsadm; do
    path=$(command -v "$tool" || true)
    [ -n "$path" ] || path=$(ls /usr/sbin/"$tool" /sbin/"$tool" 2>/dev/null | head -n 1)
    [ -n "$path" ] || { echo "mkrootfs: $tool not installed (make deps)" >&2; exit 1; }
    copy_with_libs "$(realpath "$path")"
    # Reachable under the usual name whatever the host's merged-/usr layout.
    [ -e "$stage/usr/sbin/$tool" ] || ln -s "$(realpath "$path")" "$stage/usr/sbin/$tool"
done
for f in /etc/protocols /etc/services; do [ -e "$f" ] && cp "$f" "$stage$f"; done

# --- resource-agents' ocf:heartbeat:ldirectord and the shell library it sources, when the host
# has them (Debian resource-agents, installed by `make deps`): they run under busybox sh, so
# an administrator can drive habox's ldirectord as Pacemaker would (OCF_ROOT=/usr/lib/ocf).
ocf=/usr/lib/ocf
if [ -f "$ocf/resource.d/heartbeat/ldirectord" ]; then
    mkdir -p "$stage$ocf/resource.d/heartbeat" "$stage$ocf/lib/heartbeat"
    cp "$ocf/resource.d/heartbeat/ldirectord" "$stage$ocf/resource.d/heartbeat/"
    for f in ocf-shellfuncs ocf-binaries ocf-returncodes ocf-directories ocf-rarun ocf-distro; do
        cp "$ocf/lib/heartbeat/$f" "$stage$ocf/lib/heartbeat/"
    done
else
    echo "mkrootfs: no $ocf/resource.d/heartbeat/ldirectord (resource-agents): the image has no OCF agent" >&2
fi

# --- kernel and modules
mkdir -p "$stage.kernel"
dpkg-deb -x "$deb" "$stage.kernel"
kver=$(ls "$stage.kernel/lib/modules" | head -n 1)
cp "$stage.kernel/boot/vmlinuz-$kver" "$out/vmlinuz"
depmod -b "$stage.kernel" "$kver"          # the .deb ships no modules.dep
mods=$(grep -v '^#' "$here/modules.list" | grep -v '^$')
order=$stage/etc/modules.load
: > "$order"
for m in $mods; do
    modprobe -d "$stage.kernel" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
    rel=${ko#"$stage.kernel"}
    mkdir -p "$stage$(dirname "$rel")"
    cp "$ko" "$stage$rel"
    echo "$rel" >> "$order"
done
cp "$stage.kernel/lib/modules/$kver/modules.order" "$stage.kernel/lib/modules/$kver/modules.builtin"* \
   "$stage/lib/modules/$kver/"
depmod -b "$stage" "$kver"
rm -rf "$stage.kernel"
echo "mkrootfs: kernel $kver, $(wc -l < "$order") modules, $(du -sh "$stage" | cut -f1) unpacked"
