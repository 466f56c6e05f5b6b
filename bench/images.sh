#!/usr/bin/env bash
# bench/images.sh - does session create time grow with image size?
#
#   make bench-images       (= SBX_BUILD=build bench/images.sh, as root; also part of make bench)
#
# One sbxd, measured in the same run:
#   - create -> first exec of /bin/true -> exit, on busybox (2 MiB) and on node
#     (debian + nodejs, npm, python3, git, gcc: hundreds of MiB), both as
#     directory images;
#   - the same on node imported into the content-addressed store (`sbx image
#     import` of a tarball of its rootfs), which also gives the import rate;
#   - the same on a 3-layer OCI image (busybox + two small layers), the
#     overlay-of-layers path.
# Target (issue 5): node within 10% of busybox (p50). Writes a Markdown table
# to bench/out/images.md. Needs `make images` (the node image) first.
#
# Knobs: SBX_BENCH_N (default 200), SBX_BENCH_WARMUP (default 10 per round),
# SBX_BENCH_ROUNDS (default 5: the images take turns, samples pooled).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=${SBX_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
N=${SBX_BENCH_N:-200}
W=${SBX_BENCH_WARMUP:-10}
OUT=$ROOT/bench/out

die() { echo "bench/images: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
for f in sbxd sbx sbx-init sbx-import images/busybox/rootfs/bin/busybox; do
    [ -e "$BUILD/$f" ] || die "$BUILD/$f missing: run make first"
done
[ -d "$BUILD/images/node/rootfs" ] || die "$BUILD/images/node missing: run make images first (docs/images.md)"
mkdir -p "$OUT"

TMP=$(mktemp -d /var/tmp/sbx-bench-img.XXXXXX) || die "mktemp failed"
chmod 755 "$TMP" # sbx-shim (user nobody) reaches STATE/ca through it
SOCK=$TMP/sbxd.sock
STATE=$TMP/state
CGNAME=sbx-bench-img-$$
PID=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID"
        for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    # sbxd's disk volume (README "Disk quotas") stays mounted after it exits
    findmnt -rn -o TARGET | grep "^$TMP/" | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf --one-file-system "$TMP"
    for d in /sys/fs/cgroup/*/"$CGNAME" /sys/fs/cgroup/"$CGNAME"; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

cc -O2 -std=c17 -Wall -Wextra -o "$TMP/sbxbench" bench/sbxbench.c || die "cannot build bench/sbxbench.c"
B=$TMP/sbxbench

# The directory images are used in place (no copy): --image-dir is the build's.
mkdir -p "$STATE"
"$BUILD/sbxd" --socket "$SOCK" --state-dir "$STATE" --image-dir "$BUILD/images" --on-exit remove \
    --cgroup-name "$CGNAME" --no-network >"$TMP/sbxd.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
    [ -S "$SOCK" ] && "$BUILD/sbx" --socket "$SOCK" health >/dev/null 2>&1 && break
    sleep 0.05
done
"$BUILD/sbx" --socket "$SOCK" health >/dev/null 2>&1 || { tail "$TMP/sbxd.log" >&2; die "sbxd did not start"; }
sbx() { "$BUILD/sbx" --socket "$SOCK" "$@"; }

declare -A MED P99
# Interleaved rounds: every image gets N/ROUNDS iterations per round, the order
# rotates, and the samples are pooled, so drift on the host (other work,
# page cache, thermal) hits every image alike instead of the last one measured.
ROUNDS=${SBX_BENCH_ROUNDS:-5}
run_round() { # KEY IMAGE
    SBXBENCH_SAMPLES="$TMP/$1.samples" "$B" create "$SOCK" "$2" $((N / ROUNDS)) "$W" >"$TMP/$1.out" 2>&1 ||
        { cat "$TMP/$1.out" >&2; die "sbxbench create $2 failed"; }
}
pool() { # KEY: median and p99 (nearest rank) of the pooled create_exec samples
    local v
    v=$(awk '$1 == "create_exec" { print $2 }' "$TMP/$1.samples" | sort -g |
        awk '{ a[NR] = $1 } END { m = int(NR * 0.5 + 0.999999); p = int(NR * 0.99 + 0.999999);
              printf "%s %s %d", a[m], a[p], NR }')
    read -r MED[$1] P99[$1] n <<<"$v"
    echo "bench/images: $1: create->first exec p50 ${MED[$1]} ms, p99 ${P99[$1]} ms (n=$n)" >&2
}

# node imported into the store: a tarball of its rootfs (import rate measured)
size_mib() { echo $(($(du -sk "$1" | cut -f1) / 1024)); }
NODE_MIB=$(size_mib "$BUILD/images/node/rootfs")
BB_MIB=$(size_mib "$BUILD/images/busybox/rootfs")
tar -C "$BUILD/images/node/rootfs" --numeric-owner -cf "$TMP/node.tar" . || die "tar of the node rootfs"
TAR_MIB=$(($(stat -c %s "$TMP/node.tar") / 1048576))
t0=$EPOCHREALTIME
sbx image import "$TMP/node.tar" --name node-imported -q >/dev/null || die "import of node failed"
t1=$EPOCHREALTIME
rm -f "$TMP/node.tar"
IMPORT_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
IMPORT_RATE=$(awk -v m="$TAR_MIB" -v s="$IMPORT_S" 'BEGIN { printf "%.0f", m / s }')

# a 3-layer OCI image: busybox + two small layers
mkdir -p "$TMP/l1/etc" "$TMP/l2/srv"
echo a >"$TMP/l1/etc/l1"
echo b >"$TMP/l2/srv/l2"
python3 tests/integration/mkimage.py oci "$TMP/oci.tar" "$BUILD/images/busybox/rootfs" \
    "$TMP/l1" "$TMP/l2" --gzip >/dev/null || die "mkimage"
sbx image import "$TMP/oci.tar" --name bb-3layers -q >/dev/null || die "import of the OCI image failed"

KEYS=(busybox node node_store bb3)
declare -A IMG=([busybox]=busybox [node]=node [node_store]=node-imported [bb3]=bb-3layers)
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#KEYS[@]}; k++)); do
        key=${KEYS[(k + r) % ${#KEYS[@]}]}
        run_round "$key" "${IMG[$key]}"
    done
done
for key in "${KEYS[@]}"; do pool "$key"; done
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

fmt() { printf '%.2f' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
within=$(awk -v a="${MED[node]}" -v b="${MED[busybox]}" 'BEGIN { d = a / b - 1; if (d < 0) d = -d; print (d <= 0.10) ? "PASS" : "FAIL" }')
within_store=$(awk -v a="${MED[node_store]}" -v b="${MED[busybox]}" 'BEGIN { d = a / b - 1; if (d < 0) d = -d; print (d <= 0.10) ? "PASS" : "FAIL" }')
{
    echo "# sbx: session create vs image size"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), N=$N per image in $ROUNDS interleaved rounds (each after $W warm-up), one sbxd (--no-network, warm pool 2), load average after: $LOAD"
    echo "- machine: nproc=$(nproc), $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
    echo
    echo "| image | size | create -> first exec p50 (ms) | p99 (ms) | vs busybox |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    echo "| busybox (directory image) | $BB_MIB MiB | $(fmt "${MED[busybox]}") | $(fmt "${P99[busybox]}") | 1.00x |"
    echo "| node (directory image) | $NODE_MIB MiB | $(fmt "${MED[node]}") | $(fmt "${P99[node]}") | $(ratio "${MED[node]}" "${MED[busybox]}") |"
    echo "| node imported into the store (1 layer) | $NODE_MIB MiB | $(fmt "${MED[node_store]}") | $(fmt "${P99[node_store]}") | $(ratio "${MED[node_store]}" "${MED[busybox]}") |"
    echo "| busybox + 2 layers, OCI (3 layers) | $BB_MIB MiB | $(fmt "${MED[bb3]}") | $(fmt "${P99[bb3]}") | $(ratio "${MED[bb3]}" "${MED[busybox]}") |"
    echo
    echo "- target: node within 10% of busybox (p50): **$within** (directory image), **$within_store** (store image)"
    echo "- import of node: $TAR_MIB MiB tar in $IMPORT_S s through the API ($IMPORT_RATE MiB/s, unpacked once, shared by every session)"
} | tee "$OUT/images.md"
