#!/bin/sh
# Puts Debian's cloud kernel package into the cache directory (once) and links it as kernel.deb.
# A cached .deb is always reused: rebuilding the image never touches the network.
# Usage: image/fetch-kernel.sh CACHE_DIR    (KERNEL_PACKAGE overrides linux-image-cloud-amd64)
set -eu
cache=$1
meta=${KERNEL_PACKAGE:-linux-image-cloud-amd64}
mkdir -p "$cache"

cached() { ls "$cache"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -n 1; }

deb=$(cached)
if [ -z "$deb" ]; then
    # The meta package depends on the current ABI's real package; resolve it, download only that.
    resolve() { apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }'; }
    real=$(resolve)
    if [ -z "$real" ]; then
        apt-get update -q >&2
        real=$(resolve)
    fi
    [ -n "$real" ] || { echo "fetch-kernel: cannot resolve $meta" >&2; exit 1; }
    echo "fetch-kernel: downloading $real" >&2
    (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root "$real" >&2)
    deb=$(cached)
    [ -n "$deb" ] || { echo "fetch-kernel: download of $real failed" >&2; exit 1; }
fi
ln -sfn "$(basename "$deb")" "$cache/kernel.deb"
echo "$deb"
