# sbx - build, test, install, bench.
#
#   make                 build sbxd, sbx, sbx-init, sbx-shim, sbx-import, sbx-archive and the
#                        busybox image into build/
#   make images          the debian and node base images (debootstrap; docs/images.md)
#   make test            unit + integration tests on this host (root needed for integration)
#   make tools-test      the static test tools: netprobe against loopback servers, loadgen
#   make security        escape attempts from inside sandboxes (tests/security/)
#   make SAN=1 test      the same under ASan+UBSan (objects in build-san/)
#   make vm-test         integration tests inside a pure cgroup v2 VM (tests/vm/)
#   make check           everything .ci/run runs
#   make fuzz            libFuzzer targets (tests/fuzz/), FUZZ_SECONDS each (build-fuzz/)
#   make install         PREFIX/DESTDIR install of binaries, units and the busybox image
#   make bench           bench/ side by side with bwrap, crun and fork+exec
#   make bench-egress    HTTP egress only: direct vs sbx-shim vs tinyproxy (also part of bench)
#   make bench-tls       HTTPS the shim terminates (secret injected) vs passes through (also part of bench)
#   make bench-images    create -> first exec on busybox vs node (also part of bench, after make images)
#   make bench-density   memory per idle session, 1000 sessions (SBX_DENSITY_N; also part of bench)
#   make bench-cycles    10,000 create/exec/destroy cycles, leaks (SBX_CYCLES_N; also part of bench)

VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
STATEDIR  ?= /var/lib/sbx
SAN       ?= 0
CC        ?= gcc
PKG_CONFIG ?= pkg-config

ifeq ($(SAN),1)
# A small quarantine: ASan otherwise keeps up to 256 MiB of freed buffers
# alive, which the tests' bounds on sbxd's memory would (rightly) flag.
export ASAN_OPTIONS ?= quarantine_size_mb=8:detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
BUILD     ?= build-san
SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT       := -O1
else
BUILD     ?= build
SANFLAGS  :=
OPT       := -O2
endif

# -Wno-format-truncation: bounded snprintf truncation is the intended, safe behaviour.
WARN      := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wformat=2 -Wno-format-truncation
CPPFLAGS  += -D_GNU_SOURCE -DSBX_VERSION='"$(VERSION)"' -Icommon -Ipolicy -MMD -MP
CFLAGS    ?= $(OPT) -g
CFLAGS    += -std=c17 $(WARN) -fstack-protector-strong -fPIE $(SANFLAGS)
LDFLAGS   += -pie -Wl,-z,relro,-z,now $(SANFLAGS)

SBXD_PKGS := json-c libevent_core libseccomp libcap libnl-3.0 libnl-route-3.0 libsystemd
CLI_PKGS  := json-c libcurl libarchive

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(SBXD_PKGS) $(CLI_PKGS) 2>/dev/null)
CPPFLAGS  += $(PKG_CFLAGS)

COMMON_SRC := common/error.c common/log.c common/initproto.c common/json.c common/util.c
# Egress policy (pure logic): for sbxd, sbx-shim and `sbx policy check`.
POLICY_SRC := policy/policy.c policy/addr.c policy/httprules.c
SBXD_SRC   := $(COMMON_SRC) common/http.c \
              supervisor/main.c supervisor/server.c supervisor/api.c supervisor/session.c \
              supervisor/sandbox.c supervisor/userns.c supervisor/mounts.c supervisor/cgroup.c \
              supervisor/seccomp.c supervisor/netns.c supervisor/exec.c supervisor/images.c \
              supervisor/limits.c supervisor/egress.c supervisor/shimctl.c supervisor/imgstore.c \
              supervisor/imgimport.c supervisor/bodypipe.c supervisor/helper.c supervisor/files.c \
              supervisor/fileops.c supervisor/init/caps.c supervisor/logring.c \
              supervisor/workspace.c supervisor/wsrules.c \
              supervisor/procapi.c supervisor/state.c supervisor/enter.c supervisor/sbjob.c \
              supervisor/jobio.c supervisor/archives.c supervisor/secrets.c supervisor/ports.c $(POLICY_SRC) \
              supervisor/quota.c
# Tar packing and safe extraction (libarchive), shared by sbx-archive and the CLI.
ARCHIVE_LIB_SRC := archive/names.c archive/dirlist.c archive/unpack.c archive/commit.c \
                   archive/extract.c archive/pack.c
# The CLI's pure-logic modules (unit-tested).
CLI_PURE   := cli/jsontext.c cli/audit.c
CLI_SRC    := common/error.c common/json.c cli/sbx.c cli/client.c cli/image.c cli/cp.c cli/cpdir.c \
              cli/packer.c cli/proc.c cli/table.c cli/workspace.c cli/ports.c \
              $(CLI_PURE) $(POLICY_SRC) $(ARCHIVE_LIB_SRC)
INIT_SRC   := supervisor/init/sbx-init.c supervisor/init/caps.c common/initproto.c

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

all: $(BUILD)/sbxd $(BUILD)/sbx $(BUILD)/sbx-init image-busybox

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/sbxd: $(call obj,$(SBXD_SRC))
	$(CC) $(LDFLAGS) -o $@ $^ $$($(PKG_CONFIG) --libs $(SBXD_PKGS)) -lhttp_parser

$(BUILD)/sbx: $(call obj,$(CLI_SRC))
	$(CC) $(LDFLAGS) -o $@ $^ $$($(PKG_CONFIG) --libs $(CLI_PKGS))

# pid 1 inside every sandbox: static (it runs after pivot_root, from a sealed
# memfd), no sanitizers (they cannot be linked statically).
INIT_CFLAGS := -std=c17 $(WARN) -O2 -g -D_GNU_SOURCE -Icommon -static
$(BUILD)/sbx-init: $(INIT_SRC) common/initproto.h supervisor/init/caps.h
	@mkdir -p $(dir $@)
	$(CC) $(INIT_CFLAGS) -o $@ $(INIT_SRC) -l:libcap.a

# sbx-shim: the network edge (shim/, docs/network.md), linking the policy library.
# Unit tests named test_shim_*.c link its pure-logic objects.
SHIM_PKGS    := json-c libevent_core ldns libcares libssl libcrypto libcurl
SHIM_LIB_SRC := $(COMMON_SRC) $(POLICY_SRC) shim/fakenet.c shim/quota.c \
                shim/sni.c shim/httpflow.c shim/hosts.c shim/audit.c shim/ca.c shim/secrets.c \
                shim/preview.c
SHIM_SRC     := $(SHIM_LIB_SRC) shim/main.c shim/sessions.c shim/dns.c shim/proxy.c shim/resolve.c \
                shim/tlsterm.c shim/upstream.c shim/ingress.c shim/acceptor.c
all: $(BUILD)/sbx-shim
$(BUILD)/obj/shim/%.o: CPPFLAGS += -Ishim -Ipolicy
$(BUILD)/sbx-shim: $(call obj,$(SHIM_SRC))
	$(CC) $(LDFLAGS) -o $@ $^ $$($(PKG_CONFIG) --libs $(SHIM_PKGS)) -lhttp_parser
$(BUILD)/tests/test_shim_%: tests/unit/test_shim_%.c $(call obj,$(SHIM_LIB_SRC)) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ishim -Ipolicy $(CFLAGS) $(LDFLAGS) -o $@ $< $(call obj,$(SHIM_LIB_SRC)) \
	    $$($(PKG_CONFIG) --libs $(SHIM_PKGS)) -lhttp_parser
shim-test: all
	@SBX_BUILD=$(BUILD) tests/shim/run.sh
.PHONY: shim-test

# sbx-import: sbxd's helper that unpacks one image archive into the store
# (supervisor/import/, docs/images.md). libarchive and libcrypto live only here.
IMPORT_PKGS    := json-c libarchive libcrypto
IMPORT_LIB_SRC := common/error.c common/util.c common/json.c supervisor/import/manifest.c supervisor/import/layer.c
all: $(BUILD)/sbx-import
$(BUILD)/obj/supervisor/import/%.o: CPPFLAGS += -Isupervisor/import $(shell $(PKG_CONFIG) --cflags libarchive 2>/dev/null)
$(BUILD)/sbx-import: $(call obj,$(IMPORT_LIB_SRC) supervisor/import/sbx-import.c)
	$(CC) $(LDFLAGS) -o $@ $^ $$($(PKG_CONFIG) --libs $(IMPORT_PKGS))
$(BUILD)/tests/test_import_%: tests/unit/test_import_%.c $(call obj,$(IMPORT_LIB_SRC)) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Isupervisor/import $(CFLAGS) $(LDFLAGS) -o $@ $< $(call obj,$(IMPORT_LIB_SRC)) \
	    $$($(PKG_CONFIG) --libs $(IMPORT_PKGS))

# sbx-archive: sbxd's helper for GET/PUT /v1/sessions/{id}/archive
# (supervisor/archive/, docs/api.md). It joins the sandbox before touching a
# path; sbxd itself does not link libarchive. archive/ (tar packing and safe
# extraction) is shared with the CLI's sbx cp.
ARCHIVE_PKGS    := json-c libarchive libcap
ARCHIVE_SRC     := common/error.c common/util.c common/json.c supervisor/fileops.c \
                   supervisor/enter.c supervisor/jobio.c supervisor/init/caps.c \
                   $(ARCHIVE_LIB_SRC) supervisor/archive/sbx-archive.c
all: $(BUILD)/sbx-archive
$(BUILD)/obj/archive/%.o: CPPFLAGS += -Iarchive
$(BUILD)/obj/cli/%.o: CPPFLAGS += -Iarchive
$(BUILD)/obj/supervisor/archive/%.o: CPPFLAGS += -Iarchive
$(BUILD)/sbx-archive: $(call obj,$(ARCHIVE_SRC))
	$(CC) $(LDFLAGS) -o $@ $^ $$($(PKG_CONFIG) --libs $(ARCHIVE_PKGS))
$(BUILD)/tests/test_archive_%: tests/unit/test_archive_%.c $(call obj,$(ARCHIVE_LIB_SRC) common/error.c) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Iarchive $(CFLAGS) $(LDFLAGS) -o $@ $< $(call obj,$(ARCHIVE_LIB_SRC) common/error.c) \
	    $$($(PKG_CONFIG) --libs libarchive)

# Object files of sbxd's pure-logic modules that unit tests link against.
UNIT_LINK := $(call obj,$(COMMON_SRC) common/http.c supervisor/limits.c supervisor/fileops.c supervisor/logring.c \
                        supervisor/wsrules.c $(POLICY_SRC) $(CLI_PURE))
$(BUILD)/tests/%: tests/unit/%.c $(UNIT_LINK) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Isupervisor $(CFLAGS) $(LDFLAGS) -o $@ $< $(UNIT_LINK) \
	    $$($(PKG_CONFIG) --libs json-c) -lhttp_parser

# netprobe: a static test tool that integration tests copy into sandboxes (the
# busybox image has no curl, python or TLS client): HTTP(S) and WebSocket
# client, a Vite-like dev server (tests/tools/netprobe.c). Static like
# sbx-init, no sanitizers. glibc's static getaddrinfo works (nss files and dns
# are built into libc since 2.34: /etc/hosts and /etc/resolv.conf, with or
# without nsswitch.conf); -Wl,--no-warnings drops ld's notes that getaddrinfo,
# gethostbyname and dlopen (OpenSSL's, unused) want glibc's shared libraries
# at run time. Compiles keep -Werror.
NETPROBE_CFLAGS := -std=c17 $(WARN) -O2 -g -D_GNU_SOURCE -static
$(BUILD)/tests/netprobe: tests/tools/netprobe.c
	@mkdir -p $(dir $@)
	$(CC) $(NETPROBE_CFLAGS) -o $@ $< -Wl,--no-warnings -l:libssl.a -l:libcrypto.a -lpthread -ldl
# loadgen: the load test's exec-stream client (host) and output generator
# (copied into sandboxes: static, no sanitizers). tests/integration/test_load.sh.
# (common/util.c for its base64 decoder)
$(BUILD)/tests/loadgen: tests/tools/loadgen.c common/util.c common/error.c
	@mkdir -p $(dir $@)
	$(CC) $(NETPROBE_CFLAGS) -Icommon -o $@ $^
tools: $(BUILD)/tests/netprobe $(BUILD)/tests/loadgen
# projid: static project-id/quota probe for the disk quota tests (tests/tools/projid.c)
$(BUILD)/tests/projid: tests/tools/projid.c
	@mkdir -p $(dir $@)
	$(CC) $(NETPROBE_CFLAGS) -o $@ $<
tools: $(BUILD)/tests/projid
# netprobe against local servers on loopback (python3, openssl)
tools-test: $(BUILD)/tests/netprobe $(BUILD)/tests/loadgen
	@tests/tools/selftest.sh $(BUILD)/tests/netprobe
	@tests/tools/loadgen-selftest.sh $(BUILD)/tests/loadgen

# escape: the security suite's probe (tests/security/escape.c), static like
# netprobe (it runs in the busybox image), no sanitizers. `make security` runs
# tests/security/ (escape attempts as the sandbox user and as root) through
# the integration runner; part of `make test`, its cgroup tests also of vm-test.
$(BUILD)/tests/escape: tests/security/escape.c
	@mkdir -p $(dir $@)
	$(CC) $(NETPROBE_CFLAGS) -o $@ $<
tools: $(BUILD)/tests/escape
security: all $(BUILD)/tests/escape $(BUILD)/tests/netprobe
	@SBX_BUILD=$(BUILD) tests/security/run.sh
test: security
vm-test: $(BUILD)/tests/escape
.PHONY: security

image-busybox: $(BUILD)/images/busybox/rootfs/bin/busybox
$(BUILD)/images/busybox/rootfs/bin/busybox: images/busybox/build.sh
	images/busybox/build.sh $(BUILD)/images/busybox

# Debian-based images (minutes; need the Debian archive and debootstrap:
# scripts/install-deps.sh --images), not part of all. docs/images.md.
# .debs and apt indexes are cached in IMAGE_CACHE; make -B images refreshes.
IMAGE_CACHE ?= $(BUILD)/image-cache
images: image-debian image-node
image-debian: $(BUILD)/images/debian/image.json
image-node: $(BUILD)/images/node/image.json
$(BUILD)/images/debian/image.json: images/debian/build.sh images/lib.sh
	SBX_IMAGE_CACHE=$(abspath $(IMAGE_CACHE)) images/debian/build.sh $(BUILD)/images/debian
$(BUILD)/images/node/image.json: images/node/build.sh images/lib.sh $(BUILD)/images/debian/image.json
	SBX_IMAGE_CACHE=$(abspath $(IMAGE_CACHE)) images/node/build.sh $(BUILD)/images/node \
	    $(BUILD)/images/debian/rootfs
# a Vite + React dev server in a sandbox on the node image (needs npm on the host)
images-check: all image-node
	images/check-node.sh $(BUILD)

unit: $(UNIT_TESTS)
	@tests/unit/run.sh $(UNIT_TESTS)

integration: all $(BUILD)/tests/netprobe $(BUILD)/tests/loadgen $(BUILD)/tests/projid
	@SBX_BUILD=$(BUILD) tests/integration/run.sh

test: unit tools-test shim-test integration

vm-test: all $(BUILD)/tests/projid
	@SBX_BUILD=$(BUILD) tests/vm/run.sh

# libFuzzer targets (tests/fuzz/, README "Fuzzing"): clang with
# -fsanitize=fuzzer,address,undefined, objects in their own FUZZ_BUILD.
# make fuzz runs each target FUZZ_SECONDS on a scratch copy of its corpus
# (the repo's corpus is never written) and fails on any crash, leak, UB or
# hang; artifacts land in $(FUZZ_BUILD)/artifacts/<target>/. make fuzz-long:
# an hour each, keeping what it learns in $(FUZZ_BUILD)/corpus/<target>/.
FUZZ_BUILD   ?= build-fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZ_LONG_SECONDS ?= 3600
FUZZ_TARGETS := api_request policy dns shim_http
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c17 $(filter-out -Wno-format-truncation,$(WARN)) -Wno-format-nonliteral -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link
fuzzobj = $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(1))
$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<
$(FUZZ_BUILD)/obj/shim/%.o $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_dns.o \
    $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_shim_http.o: CPPFLAGS += -Ishim
$(FUZZ_BUILD)/obj/tests/fuzz/fuzz_api_request.o: CPPFLAGS += -Isupervisor
FUZZ_API_SRC  := $(COMMON_SRC) common/http.c supervisor/limits.c
FUZZ_POL_SRC  := $(COMMON_SRC) $(POLICY_SRC)
FUZZ_SHIM_SRC := $(SHIM_LIB_SRC) shim/dns.c shim/sessions.c
FUZZ_LINK      = $(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^
$(FUZZ_BUILD)/fuzz_api_request: $(call fuzzobj,tests/fuzz/fuzz_api_request.c $(FUZZ_API_SRC))
	$(FUZZ_LINK) $$($(PKG_CONFIG) --libs json-c) -lhttp_parser
$(FUZZ_BUILD)/fuzz_policy: $(call fuzzobj,tests/fuzz/fuzz_policy.c $(FUZZ_POL_SRC))
	$(FUZZ_LINK) $$($(PKG_CONFIG) --libs json-c)
$(FUZZ_BUILD)/fuzz_dns: $(call fuzzobj,tests/fuzz/fuzz_dns.c $(FUZZ_SHIM_SRC))
	$(FUZZ_LINK) $$($(PKG_CONFIG) --libs $(SHIM_PKGS)) -lhttp_parser
$(FUZZ_BUILD)/fuzz_shim_http: $(call fuzzobj,tests/fuzz/fuzz_shim_http.c $(SHIM_LIB_SRC))
	$(FUZZ_LINK) $$($(PKG_CONFIG) --libs $(SHIM_PKGS)) -lhttp_parser
fuzz-build: $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))
fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) fresh $(FUZZ_TARGETS)
fuzz-long: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_LONG_SECONDS) keep $(FUZZ_TARGETS)
.PHONY: fuzz fuzz-build fuzz-long
-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)

check:
	$(MAKE) test
	$(MAKE) SAN=1 test
	$(MAKE) vm-test
	$(MAKE) fuzz

bench: all
	SBX_BUILD=$(BUILD) bench/run.sh
	SBX_BUILD=$(BUILD) bench/egress.sh
	SBX_BUILD=$(BUILD) bench/tls.sh
	SBX_BUILD=$(BUILD) bench/density.sh
	SBX_BUILD=$(BUILD) bench/cycles.sh
	@if [ -d $(BUILD)/images/node/rootfs ]; then SBX_BUILD=$(BUILD) bench/images.sh; \
	 else echo "bench: skipping bench/images.sh (make images builds the node image)"; fi
	bench/report.sh

# bench/RESULTS.md + bench/plots/ again from what bench/out/ holds
bench-report:
	bench/report.sh

# create -> first exec on busybox vs node (needs make images; bench/images.sh)
bench-images: all
	SBX_BUILD=$(BUILD) bench/images.sh

# HTTP egress alone: direct vs sbx-shim vs tinyproxy (bench/egress.sh)
bench-egress: all
	SBX_BUILD=$(BUILD) bench/egress.sh

bench-tls: all
	SBX_BUILD=$(BUILD) bench/tls.sh

# idle sessions' memory (bench/density.sh) and create/destroy churn (bench/cycles.sh)
bench-density: all
	SBX_BUILD=$(BUILD) bench/density.sh

bench-cycles: all
	SBX_BUILD=$(BUILD) bench/cycles.sh

.PHONY: bench-density bench-cycles

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/libexec/sbx
	install -m 0755 $(BUILD)/sbx $(DESTDIR)$(PREFIX)/bin/sbx
	install -m 0755 $(BUILD)/sbxd $(DESTDIR)$(PREFIX)/sbin/sbxd
	install -m 0755 $(BUILD)/sbx-init $(DESTDIR)$(PREFIX)/libexec/sbx/sbx-init
	install -m 0755 $(BUILD)/sbx-shim $(DESTDIR)$(PREFIX)/libexec/sbx/sbx-shim
	install -m 0755 $(BUILD)/sbx-import $(DESTDIR)$(PREFIX)/libexec/sbx/sbx-import
	install -m 0755 $(BUILD)/sbx-archive $(DESTDIR)$(PREFIX)/libexec/sbx/sbx-archive
	install -d $(DESTDIR)$(PREFIX)/share/sbx/policy
	install -m 0644 policy/schema.json policy/examples/*.json $(DESTDIR)$(PREFIX)/share/sbx/policy/
	install -d $(DESTDIR)$(STATEDIR)/images
	rm -rf $(DESTDIR)$(STATEDIR)/images/busybox
	cp -a $(BUILD)/images/busybox $(DESTDIR)$(STATEDIR)/images/busybox
	install -d $(DESTDIR)/etc/systemd/system $(DESTDIR)/usr/lib/tmpfiles.d $(DESTDIR)/usr/lib/sysusers.d
	sed 's|@PREFIX@|$(PREFIX)|g; s|@STATEDIR@|$(STATEDIR)|g' systemd/sbxd.service.in \
	    > $(DESTDIR)/etc/systemd/system/sbxd.service
	install -m 0644 systemd/sbxd.socket $(DESTDIR)/etc/systemd/system/sbxd.socket
	install -m 0644 systemd/sbx.tmpfiles.conf $(DESTDIR)/usr/lib/tmpfiles.d/sbx.conf
	install -m 0644 systemd/sbx.sysusers.conf $(DESTDIR)/usr/lib/sysusers.d/sbx.conf

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz

.PHONY: all tools tools-test image-busybox images image-debian image-node images-check unit integration test vm-test check bench bench-egress bench-tls bench-images bench-report install format clean

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
