# habox — build, test, run. `make` builds build/habox (static musl, stripped).
# `make test` installs what it needs on a fresh Debian 12 machine, then runs every test layer.

SHELL        := /bin/bash
TARGET       := x86_64-unknown-linux-musl
CARGO        ?= cargo
export CC_x86_64_unknown_linux_musl := musl-gcc
RELEASE_BIN  := target/$(TARGET)/release/habox

# Debian packages the build and the tests use (installed by `make deps` when missing).
DEBS := musl-tools iproute2 iputils-ping tcpdump busybox-static cpio kmod qemu-system-x86 \
        conntrackd conntrack nftables ipvsadm resource-agents libxml2-utils keepalived \
        ldirectord hyperfine strace python3 socat procps time corosync iputils-arping \
        dnsmasq-base openssl slapd ldap-utils freeradius sip-tester python3-pyftpdlib \
        pacemaker pacemaker-cli-utils \
        mariadb-server postgresql

.PHONY: all build deps test unit-test lint run image rootfs qemu-test bench install clean

all: build

build: build/habox

build/habox: deps-rust $(shell find src -name '*.rs') Cargo.toml Cargo.lock
	$(CARGO) build --release --locked
	@mkdir -p build
	cp $(RELEASE_BIN) build/habox
	@ls -l build/habox | awk '{ printf "build/habox: %d bytes\n", $$5 }'

# The musl target, installed with rustup when missing.
.PHONY: deps-rust
deps-rust:
	@rustup target list --installed 2>/dev/null | grep -qx $(TARGET) || rustup target add $(TARGET)
	@for c in rustfmt clippy; do rustup component list --installed 2>/dev/null | grep -q "^$$c" || rustup component add $$c; done

# Debian packages, installed only when one is missing (idempotent, no network when all are there).
deps: deps-rust
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  guard=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\n# habox make deps: packages must not start host services\nexit 101\n' > /usr/sbin/policy-rc.d; \
	    chmod 755 /usr/sbin/policy-rc.d; guard=1; \
	  fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  rc=$$?; [ -n "$$guard" ] && rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	fi

lint: deps-rust
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Unit tests and the host integration tests (namespaces; needs root).
unit-test: deps
	$(CARGO) test --locked

# Every layer: lint, unit + host tests, then the appliance pair under QEMU.
test: deps lint unit-test qemu-test

# --- The appliance (image/, rootfs/) and its QEMU pair (qemu-tests/) -----------------------------
APPLIANCE    := build/appliance
IMAGE_CACHE  := build/cache
KERNEL_DEB   := $(IMAGE_CACHE)/kernel.deb
ROOTFS_STAMP := $(APPLIANCE)/rootfs.stamp
ROOTFS_INPUTS := $(shell find rootfs -type f -o -type l) image/mkrootfs.sh image/modules.list
# `make qemu-test QEMU_TEST_ARGS=name` runs one scenario; QEMU_ACCEL=kvm is an opt-in (KVM hangs
# guests on some hosts, TCG is the default).
QEMU_TEST_ARGS ?=

# The Debian cloud kernel .deb, downloaded once into the cache (a cached .deb is always reused).
$(KERNEL_DEB): | deps
	image/fetch-kernel.sh $(IMAGE_CACHE)

# A copy of build/habox that changes only when its bytes do (build/habox is re-copied on every make).
$(APPLIANCE)/habox: build/habox
	@mkdir -p $(APPLIANCE)
	@cmp -s build/habox $@ || cp build/habox $@

# The staged root file system (kernel modules, busybox, habox, conntrackd/nft/ipvsadm + libraries).
rootfs: $(ROOTFS_STAMP)
$(ROOTFS_STAMP): $(APPLIANCE)/habox $(KERNEL_DEB) $(ROOTFS_INPUTS) | deps
	image/mkrootfs.sh $(APPLIANCE)/rootfs $(KERNEL_DEB) $(APPLIANCE)/habox $(APPLIANCE)
	touch $@

image: $(APPLIANCE)/initramfs.img
	@ls -l $(APPLIANCE)/vmlinuz $(APPLIANCE)/initramfs.img | awk '{ printf "%s: %d bytes\n", $$9, $$5 }'
$(APPLIANCE)/initramfs.img: $(ROOTFS_STAMP) image/mkinitramfs.sh
	image/mkinitramfs.sh $(APPLIANCE)/rootfs $@

# The cluster-pair scenarios: two TCG guests, client and server namespaces (needs root).
qemu-test: image
	$(CARGO) test --locked --test qemu -- --test-threads=1 $(QEMU_TEST_ARGS)

# Boots the pair with the default configuration; attaches to fw-a's console on a terminal,
# runs a short scripted demonstration without one.
run: deps image
	$(CARGO) run --locked --quiet --example pair

# Side-by-side benchmarks against the real peers (not tests: they print medians and ratios).
# `make bench BENCH=lkping` runs one.
BENCH ?= $(notdir $(wildcard bench/*))
bench: deps build
	@for b in $(BENCH); do \
	  s=bench/$$b; [ -d "$$s" ] && s="$$s/run.sh"; [ -x "$$s" ] || continue; \
	  echo "=== bench/$$b"; "$$s" || exit 1; \
	done

install: build
	install -d $(DESTDIR)/usr/sbin
	install -m 0755 build/habox $(DESTDIR)/usr/sbin/habox
	$(DESTDIR)/usr/sbin/habox --install -s $(DESTDIR)/usr/sbin

clean:
	$(CARGO) clean
	rm -rf build
