# habox — build, test, run. `make` builds build/habox (static musl, stripped).
# `make test` installs what it needs on a fresh Debian 12 machine, then runs every test layer.

SHELL        := /bin/bash
TARGET       := x86_64-unknown-linux-musl
CARGO        ?= cargo
export CC_x86_64_unknown_linux_musl := musl-gcc
RELEASE_BIN  := target/$(TARGET)/release/habox

# Debian packages, by the target that needs them; each deps-* target installs what is missing.
# The build (`make`): musl-gcc for ring's C code, gcc as the linker of build scripts.
DEBS_BUILD := musl-tools gcc
# The appliance image and its QEMU pair (`make image`, `make run`, `make qemu-test`): what goes into
# the image, QEMU, and the host side of the pair (namespaces, the client's ping, console attach).
DEBS_RUN := busybox-static cpio kmod conntrackd conntrack nftables ipvsadm qemu-system-x86 \
        iproute2 iputils-ping socat procps
# Everything `make test` and `make bench` use, the real peers and test-only servers included.
DEBS := musl-tools iproute2 iputils-ping tcpdump busybox-static cpio kmod qemu-system-x86 \
        conntrackd conntrack nftables ipvsadm resource-agents libxml2-utils keepalived \
        ldirectord hyperfine strace python3 socat procps time corosync iputils-arping \
        dnsmasq-base openssl slapd ldap-utils freeradius sip-tester python3-pyftpdlib \
        pacemaker pacemaker-cli-utils \
        mariadb-server postgresql

.PHONY: all build deps test unit-test make-test lint run image rootfs qemu-test bench install clean fuzz

all: build

build: build/habox

# The copy is a new file renamed over the old one: a build/habox that is running keeps its own
# inode (copying over it fails with "Text file busy").
build/habox: deps-build $(shell find src -name '*.rs') Cargo.toml Cargo.lock
	$(CARGO) build --release --locked
	@mkdir -p build
	@t=$$(mktemp build/.habox.XXXXXX) && cp $(RELEASE_BIN) $$t && chmod 0755 $$t && mv -f $$t $@ \
	  || { rm -f "$$t"; exit 1; }
	@ls -l build/habox | awk '{ printf "build/habox: %d bytes\n", $$5 }'

# The musl target and the lint components, installed with rustup when missing.
.PHONY: deps-rust deps-build deps-run
deps-rust:
	@command -v rustup >/dev/null && command -v $(CARGO) >/dev/null || { \
	  echo "make: rustup and cargo are needed: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
	@rustup target list --installed 2>/dev/null | grep -qx $(TARGET) || rustup target add $(TARGET)
	@for c in rustfmt clippy; do rustup component list --installed 2>/dev/null | grep -q "^$$c" || rustup component add $$c; done

# Installs the Debian packages of $(1) that are missing (idempotent, no network when all are
# there). Packages must not start services on the host: a policy-rc.d refuses while apt-get runs.
POLICY_RC_D ?= /usr/sbin/policy-rc.d
define install-debs
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  guard=""; if [ ! -e $(POLICY_RC_D) ]; then \
	    printf '#!/bin/sh\n# habox make deps: packages must not start host services\nexit 101\n' > $(POLICY_RC_D); \
	    chmod 755 $(POLICY_RC_D); guard=1; \
	  fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  rc=$$?; [ -n "$$guard" ] && rm -f $(POLICY_RC_D); \
	  [ $$rc -eq 0 ] || echo "make: installing$$missing failed (apt-get needs root)" >&2; exit $$rc; \
	fi
endef

# `make`: the Rust target and the C toolchain of the build.
deps-build: deps-rust
	$(call install-debs,$(DEBS_BUILD))

# `make image` and `make run`: the above and what the pair needs to boot.
deps-run: deps-build
	$(call install-debs,$(DEBS_RUN))

# `make test`: everything.
deps: deps-run
	$(call install-debs,$(DEBS))

lint: deps-build
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Unit tests and the host integration tests (namespaces; needs root).
unit-test: deps
	$(CARGO) test --locked

# The Makefile itself: what each target installs, replacing a running build/habox and a running
# installed habox (needs root: the running habox is lkping in a namespace of its own).
make-test: build
	tests/make.sh

# Every layer: lint, unit + host tests, the Makefile, then the appliance pair under QEMU.
test: deps lint unit-test make-test qemu-test

# --- The appliance (image/, rootfs/) and its QEMU pair (qemu-tests/) -----------------------------
APPLIANCE    := build/appliance
IMAGE_CACHE  := build/cache
KERNEL_DEB   := $(IMAGE_CACHE)/kernel.deb
ROOTFS_STAMP := $(APPLIANCE)/rootfs.stamp
# resource-agents' ldirectord agent goes into the image when the host has it (`make deps`).
ROOTFS_INPUTS := $(shell find rootfs -type f -o -type l) image/mkrootfs.sh image/modules.list \
        $(wildcard /usr/lib/ocf/resource.d/heartbeat/ldirectord)
# `make qemu-test QEMU_TEST_ARGS=name` runs one scenario; QEMU_ACCEL=kvm is an opt-in (KVM hangs
# guests on some hosts, TCG is the default).
QEMU_TEST_ARGS ?=

# The Debian cloud kernel .deb, downloaded once into the cache (a cached .deb is always reused).
$(KERNEL_DEB): | deps-run
	image/fetch-kernel.sh $(IMAGE_CACHE)

# A copy of build/habox that changes only when its bytes do (build/habox is re-copied on every make).
$(APPLIANCE)/habox: build/habox
	@mkdir -p $(APPLIANCE)
	@cmp -s build/habox $@ || cp build/habox $@

# The cluster's HMAC key in the image: PIKE_KEY=FILE, else one generated once for this build tree
# (build/pike.key: 32 random bytes in hex, mode 0600, never in git; `make clean` forgets it).
# `make run` and the QEMU suite give the guests a fresh key per run over fw_cfg, which rcS prefers.
PIKE_KEY ?=
GENERATED_KEY := build/pike.key
$(GENERATED_KEY):
	@mkdir -p $(@D)
	@(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > $@.tmp && echo >> $@.tmp && mv -f $@.tmp $@)
	@echo "$@: a new random HMAC key for the image"

# The key going into the image, changed only when its bytes do (so is the image).
KEY_SOURCE := $(or $(PIKE_KEY),$(GENERATED_KEY))
$(APPLIANCE)/pike.key: $(if $(PIKE_KEY),,$(GENERATED_KEY)) FORCE
	@[ -r "$(KEY_SOURCE)" ] && [ "$$(tr -d '\r\n' < "$(KEY_SOURCE)" | wc -c)" -ge 16 ] \
	  || { echo "make: PIKE_KEY=$(KEY_SOURCE): no readable key of at least 16 bytes" >&2; exit 1; }
	@mkdir -p $(@D)
	@cmp -s "$(KEY_SOURCE)" $@ || (umask 077 && cp "$(KEY_SOURCE)" $@.tmp && chmod 0600 $@.tmp && mv -f $@.tmp $@)

.PHONY: FORCE
FORCE:

# The staged root file system (kernel modules, busybox, habox, conntrackd/nft/ipvsadm + libraries).
rootfs: $(ROOTFS_STAMP)
$(ROOTFS_STAMP): $(APPLIANCE)/habox $(APPLIANCE)/pike.key $(KERNEL_DEB) $(ROOTFS_INPUTS) | deps-run
	image/mkrootfs.sh $(APPLIANCE)/rootfs $(KERNEL_DEB) $(APPLIANCE)/habox $(APPLIANCE) $(APPLIANCE)/pike.key
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
run: deps-run image
	$(CARGO) run --locked --quiet --example pair

# Side-by-side benchmarks against the real peers (not tests: they print medians and ratios).
# `make bench BENCH=lkping` runs one.
BENCH ?= $(notdir $(wildcard bench/*))
bench: deps build
	@for b in $(BENCH); do \
	  s=bench/$$b; [ -d "$$s" ] && s="$$s/run.sh"; [ -x "$$s" ] || continue; \
	  echo "=== bench/$$b"; "$$s" || exit 1; \
	done

# --- Fuzzing (fuzz/, src/fuzzing/) ---------------------------------------------------------------
# Every target under fuzz/fuzz_targets/ with cargo-fuzz (nightly; both installed when missing)
# for FUZZ_SECONDS each, one after the other; prints executions and crashes per target and
# fails if any crashed. `make fuzz FUZZ_TARGETS="pike http" FUZZ_SECONDS=60` runs a few. New
# inputs go to build/fuzz/corpus/<target>/, crashing ones to build/fuzz/artifacts/<target>/
# (emptied when the target starts) and libFuzzer's output to build/fuzz/<target>.log; the smoke
# test's samples (written to build/fuzz/seeds/) and fuzz/corpus/<target>/ (regressions) are only
# read. `make test` runs the same bodies on stable (src/fuzzing/smoke.rs).
FUZZ_SECONDS   ?= 600
FUZZ_TARGETS   ?= $(basename $(notdir $(wildcard fuzz/fuzz_targets/*.rs)))
FUZZ_SANITIZER ?= none
FUZZ_DIR       := $(CURDIR)/build/fuzz
fuzz:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cargo +nightly fuzz build --sanitizer $(FUZZ_SANITIZER) $(if $(filter 1,$(words $(FUZZ_TARGETS))),$(FUZZ_TARGETS))
	HABOX_FUZZ_SEEDS=$(FUZZ_DIR)/seeds $(CARGO) test --lib --quiet fuzzing::smoke::write_fuzz_seeds
	@mkdir -p $(FUZZ_DIR); summary=$(FUZZ_DIR)/summary.txt; : > $$summary; failed=0; \
	for t in $(FUZZ_TARGETS); do \
	  rm -rf $(FUZZ_DIR)/artifacts/$$t; mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/artifacts/$$t; \
	  seeds=$(FUZZ_DIR)/seeds/$$t; [ -d fuzz/corpus/$$t ] && seeds="$$seeds $(CURDIR)/fuzz/corpus/$$t"; \
	  echo "=== fuzz $$t for $(FUZZ_SECONDS) s"; \
	  cargo +nightly fuzz run --sanitizer $(FUZZ_SANITIZER) $$t $(FUZZ_DIR)/corpus/$$t $$seeds -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t/ > $(FUZZ_DIR)/$$t.log 2>&1; \
	  execs=$$(awk '/stat::number_of_executed_units/ { n = $$2 } END { print n + 0 }' $(FUZZ_DIR)/$$t.log); \
	  crashes=$$(find $(FUZZ_DIR)/artifacts/$$t -type f | wc -l); \
	  [ "$$crashes" -eq 0 ] || failed=1; \
	  printf '%-20s %12s executions %4s crashes\n' $$t $$execs $$crashes | tee -a $$summary; \
	done; \
	echo "=== fuzz summary ($(FUZZ_SECONDS) s per target; crashes in $(FUZZ_DIR)/artifacts)"; \
	cat $$summary; exit $$failed

# A new file renamed over the old one, as for build/habox: a running /usr/sbin/habox is replaced,
# not written into. The applet links are relative (right under any DESTDIR).
install: build
	install -d $(DESTDIR)/usr/sbin
	@t=$$(mktemp $(DESTDIR)/usr/sbin/.habox.XXXXXX) && cp build/habox $$t && chmod 0755 $$t \
	  && mv -f $$t $(DESTDIR)/usr/sbin/habox || { rm -f "$$t"; exit 1; }
	@for a in $$(build/habox --list); do ln -sfn habox $(DESTDIR)/usr/sbin/$$a || exit 1; done
	@echo "installed $(DESTDIR)/usr/sbin/habox and its applet links"

clean:
	$(CARGO) clean
	rm -rf build
