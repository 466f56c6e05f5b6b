# bench/lib.sh - sourced by bench/density.sh and bench/cycles.sh: a temporary
# directory, an sbxd of their own (with its sbx-shim) and the cleanup of both.
#
#   NAME=cycles; . bench/lib.sh      (with ROOT, BUILD, IMAGE, OUT set)
#   bench_start_sbxd                 sets SBXD_PID, SHIM_PID
#
# Defines die, TMP (0755: sbx-shim, another user, reads the state dir's CA),
# SOCK, STATE, CGNAME (sbx-NAME-PID), B (bench/sbxbench.c built -O2). On exit
# (also failure, ^C): SIGTERM to sbxd (--on-exit remove: it removes its
# sessions), every mount under TMP (sbxd's disk volume and egress namespace pin
# stay mounted after it exits), TMP, and the cgroup dirs named CGNAME.

die() { echo "bench-$NAME: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (sbxd needs it)"
for f in sbxd sbx sbx-shim sbx-init images/$IMAGE/rootfs/bin/busybox; do
    [ -e "$BUILD/$f" ] || die "$BUILD/$f missing: run make first"
done
mkdir -p "$OUT"

TMP=$(mktemp -d "/var/tmp/sbx-$NAME.XXXXXX") || die "mktemp failed"
chmod 755 "$TMP"
SOCK=$TMP/sbxd.sock
STATE=$TMP/state
CGNAME=sbx-$NAME-$$
SBXD_PID=

bench_cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ -n "$SBXD_PID" ] && kill -0 "$SBXD_PID" 2>/dev/null; then
        kill -TERM "$SBXD_PID" 2>/dev/null
        for _ in $(seq 1200); do kill -0 "$SBXD_PID" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$SBXD_PID" 2>/dev/null
        wait "$SBXD_PID" 2>/dev/null
    fi
    findmnt -rn -o TARGET | grep "^$TMP/" | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf --one-file-system "$TMP"
    local d
    for d in /sys/fs/cgroup/*/"$CGNAME" /sys/fs/cgroup/"$CGNAME"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

cc -O2 -std=c17 -Wall -Wextra -o "$TMP/sbxbench" bench/sbxbench.c || die "cannot build bench/sbxbench.c"
B=$TMP/sbxbench

bench_start_sbxd() {
    mkdir -p "$STATE/images"
    cp -a "$BUILD/images/$IMAGE" "$STATE/images/" || die "cannot copy the image"
    "$BUILD/sbxd" --socket "$SOCK" --state-dir "$STATE" --cgroup-name "$CGNAME" --on-exit remove \
        --preview-listen 127.0.0.1:0 --audit-log "$TMP/egress.jsonl" --policy-dir "$TMP/policy.d" \
        --secrets-dir "$TMP/secrets" >>"$TMP/sbxd.log" 2>&1 &
    SBXD_PID=$!
    for _ in $(seq 200); do
        [ -S "$SOCK" ] && "$BUILD/sbx" --socket "$SOCK" health >/dev/null 2>&1 && break
        kill -0 "$SBXD_PID" 2>/dev/null || break
        sleep 0.05
    done
    "$BUILD/sbx" --socket "$SOCK" health >/dev/null 2>&1 || die "sbxd did not start: $(tail -5 "$TMP/sbxd.log")"
    SHIM_PID=
    for _ in $(seq 100); do
        SHIM_PID=$(pgrep -P "$SBXD_PID" -x sbx-shim | head -1)
        [ -n "$SHIM_PID" ] && break
        sleep 0.05
    done
    [ -n "$SHIM_PID" ] || die "no sbx-shim under sbxd $SBXD_PID"
}
