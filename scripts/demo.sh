#!/bin/bash
# scripts/demo.sh - the README's first command ends here: start sbxd from the
# build tree, create a sandbox, run a command in it with its output streamed
# live, show the session, remove it, stop sbxd. Leaves nothing behind.
# Run as root from the repository root after `make`.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SBX_BUILD:-build}
[ "$(id -u)" = 0 ] || { echo "demo: run as root (sbxd creates namespaces and cgroups)" >&2; exit 1; }
[ -x "$BUILD/sbxd" ] || { echo "demo: $BUILD/sbxd not built: run make first" >&2; exit 1; }
STATE=$(mktemp -d /var/tmp/sbx-demo.XXXXXX)   # ext4/xfs: images are idmapped mounts
SOCK=$STATE/sbxd.sock
mkdir -p "$STATE/images" && cp -a "$BUILD/images/busybox" "$STATE/images/"
"$BUILD/sbxd" --socket "$SOCK" --state-dir "$STATE" --cgroup-name sbx-demo \
    --audit-log "$STATE/egress.jsonl" --on-exit remove --preview-listen 127.0.0.1:0 \
    2> "$STATE/sbxd.log" &
PID=$!
cleanup() { # sbxd's disk volume (README "Disk quotas") stays mounted after it exits
    { set +x; } 2>/dev/null
    kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null
    findmnt -rn -o TARGET | grep "^$STATE/" | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf --one-file-system "$STATE"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
export SBX_SOCKET=$SOCK
PATH=$PWD/$BUILD:$PATH   # so the trace below reads like what you would type
set -x
sbx health
ID=$(sbx create --image busybox --memory 256M --pids 128 --cpu 0.5 --label team=data)
sbx exec "$ID" -- sh -c 'for i in 1 2 3; do echo "line $i from $(hostname) as $(id -un)"; sleep 0.3; done; echo err >&2; exit 3' || echo "exit status: $?"
sbx run --image busybox -- uname -a
sbx ls
sbx inspect "$ID"
# egress: a new session reaches nothing; every attempt is refused and audited
sbx exec -t 10 "$ID" -- wget -q -O - http://example.com/ || echo "exit status: $?"
sbx audit --file "$STATE/egress.jsonl" --session "$ID"
sbx rm "$ID"
