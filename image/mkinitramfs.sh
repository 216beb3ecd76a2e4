#!/bin/bash
# Packs the staged root file system into a gzip'd newc cpio archive. Owners are root, times are
# fixed and the file order sorted, so the same inputs give the same bytes. The archive holds the
# cluster's HMAC key: it is readable by root only.
# Usage: image/mkinitramfs.sh STAGE OUTPUT
set -euo pipefail
umask 077
stage=$1 output=$2
tmp=$output.tmp
find "$stage" -exec touch -h -d @0 {} +
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) \
    | gzip -9n > "$tmp"
mv "$tmp" "$output"
