#!/usr/bin/env bash
# bench/egress.sh - HTTP egress: direct vs through sbx-shim vs through tinyproxy.
#
#   make bench-egress               (= SBX_BUILD=build bench/egress.sh, as root;
#                                    `make bench` runs it after bench/run.sh)
#
# Builds a "fake internet" like tests/integration/test_network.sh does: a network
# namespace with bench/egressserver.c (C, epoll, bodies from memory) on the
# public-looking 93.184.216.34:80 on its `lo`, known as origin.egress.test
# through a hosts file. Then measures, with the same client (bench/egressbench.c,
# static, built here with cc -O2 -static), three paths to it:
#
#   (a) direct     client in a plain namespace, veth pair to the fake internet
#                  (no proxy): client -veth-> server
#   (b) sbx-shim   client inside a real sbx session (POST /v1/sessions with a
#                  policy allowing origin.egress.test) of an sbxd started here
#                  with --shim-netns (the fake internet) --shim-hosts; the client
#                  resolves the name through the shim's DNS and connects by it:
#                  client -veth-> egress ns -> sbx-shim -lo-> server
#   (c) tinyproxy  our own tinyproxy (generated config, never the system
#                  service) in the fake internet namespace on the veth address,
#                  the client in (a)'s namespace using it as its HTTP proxy
#                  (absolute-URI requests): client -veth-> tinyproxy -lo-> server
#
# Rows: GET /small (100-byte body), N sequential requests, a new connection each
# (as an agent's curl would: connection setup through the proxy is measured)
# and kept alive; p50/p99 per request and req/s; for (b) also with a DNS query
# before every request, and the DNS answer time alone. GET /big (100 MiB):
# MiB/s, RUNS downloads. Added latency = (b) - (a), (c) - (a). The CPU time the
# proxy process (sbx-shim / tinyproxy, all threads) used during each row comes
# from /proc/PID/stat (10 ms ticks: coarse for short rows).
#
# Prints a Markdown table and writes it to bench/out/egress.md (raw RESULT
# lines: bench/out/egress-raw.txt), referenced from the last line of
# bench/out/results.md when bench/run.sh wrote one. Everything it starts (sbxd and its shim,
# the server, tinyproxy, both namespaces, the temp dir) is removed on exit,
# also on failure or ^C. Traffic stays on the namespaces made here.
#
# Knobs (environment):
#   SBX_BUILD                 build dir with sbxd, sbx, sbx-init, sbx-shim, images/ (default build)
#   SBX_EGRESS_N              measured requests of every small-request row (default 5000;
#                             well above 10000, ephemeral ports may run out: TIME_WAIT)
#   SBX_EGRESS_WARMUP         warm-up requests, not measured (default 100)
#   SBX_EGRESS_BYTES          bytes of the download (default 100 MiB)
#   SBX_EGRESS_RUNS           downloads per path (default 10)
#   SBX_EGRESS_QUICK=1        N=300 W=20 RUNS=2, for a quick look (SBX_BENCH_QUICK=1 too)
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=${SBX_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
N=${SBX_EGRESS_N:-5000}
W=${SBX_EGRESS_WARMUP:-100}
BYTES=${SBX_EGRESS_BYTES:-104857600}
RUNS=${SBX_EGRESS_RUNS:-10}
if [ "${SBX_EGRESS_QUICK:-${SBX_BENCH_QUICK:-0}}" = 1 ]; then N=300 W=20 RUNS=2; fi
MIB=$((BYTES / 1048576))
OUT=$ROOT/bench/out
IMAGE=busybox

NAME=origin.egress.test     # the server's name (hosts file, policy, Host header)
SRV=93.184.216.34           # its address, on lo in the fake internet namespace
GW=10.77.0.1                # fake internet end of the veth pair (tinyproxy listens here)
CLI=10.77.0.2               # client namespace end
TPPORT=8888

die() { echo "bench-egress: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (namespaces, sbxd)"
for f in sbxd sbx sbx-init sbx-shim images/$IMAGE/rootfs/bin/busybox; do
    [ -e "$BUILD/$f" ] || die "$BUILD/$f missing: run make first"
done
command -v ip >/dev/null || die "ip (iproute2) not found"
HAVE_TP=0
command -v tinyproxy >/dev/null && HAVE_TP=1
mkdir -p "$OUT"

TMP=$(mktemp -d /var/tmp/sbx-egress.XXXXXX) || die "mktemp failed"
chmod 755 "$TMP"
SOCK=$TMP/sbxd.sock
STATE=$TMP/state
CGNAME=sbx-egress-$$
INET_NS=sbxeb-inet-$$
CLI_NS=sbxeb-cli-$$
VI=ebi$$ VC=ebc$$ # veth ends (names <= 15 chars)
PIDS=()           # server, tinyproxy: killed on exit
SBXD_PID=
INET_MADE='' CLI_MADE=''

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    local p
    if [ -n "$SBXD_PID" ] && kill -0 "$SBXD_PID" 2>/dev/null; then
        kill -TERM "$SBXD_PID" 2>/dev/null # sbxd removes its sessions and its shim on SIGTERM
        for _ in $(seq 100); do kill -0 "$SBXD_PID" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$SBXD_PID" 2>/dev/null
        wait "$SBXD_PID" 2>/dev/null
    fi
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    # only the namespaces made here; deleting one takes its veth end, and so the pair, along
    [ -n "$CLI_MADE" ] && ip netns delete "$CLI_NS" 2>/dev/null
    [ -n "$INET_MADE" ] && ip netns delete "$INET_NS" 2>/dev/null
    if command -v findmnt >/dev/null; then
        findmnt -rn -o TARGET | grep "^$TMP/" | sort -r | while read -r m; do umount -l "$m"; done
    fi
    rm -rf "$TMP"
    for d in /sys/fs/cgroup/*/"$CGNAME" /sys/fs/cgroup/"$CGNAME"; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------- tools
cc -O2 -std=c17 -Wall -Wextra -static -o "$TMP/egressbench" bench/egressbench.c ||
    die "cannot build bench/egressbench.c statically (libc.a: apt-get install libc6-dev)"
cc -O2 -std=c17 -Wall -Wextra -o "$TMP/egressserver" bench/egressserver.c ||
    die "cannot build bench/egressserver.c"
EB=$TMP/egressbench

MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
TICK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# ---------------------------------------------------------------- fake internet
ip netns add "$INET_NS" || die "ip netns add $INET_NS"
INET_MADE=1
ip netns add "$CLI_NS" || die "ip netns add $CLI_NS"
CLI_MADE=1
INET="ip netns exec $INET_NS"
CLIX="ip netns exec $CLI_NS"
$INET ip link set lo up
$INET ip addr add "$SRV/32" dev lo || die "address $SRV"
$CLIX ip link set lo up
ip link add "$VI" netns "$INET_NS" type veth peer name "$VC" netns "$CLI_NS" || die "veth pair"
$INET ip addr add "$GW/30" dev "$VI"
$INET ip link set "$VI" up
$CLIX ip addr add "$CLI/30" dev "$VC"
$CLIX ip link set "$VC" up
$CLIX ip route add default via "$GW" || die "client default route"

$INET "$TMP/egressserver" "$SRV" 80 "$BYTES" >"$TMP/server.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q ready "$TMP/server.out" && break; sleep 0.05; done
grep -q ready "$TMP/server.out" || die "egressserver did not start: $(cat "$TMP/server.out")"

echo "$SRV $NAME" >"$TMP/hosts"
# the direct path must work before anything is measured
$CLIX "$EB" check "http://$NAME/small" --connect "$SRV:80" --n 1 --warmup 0 >/dev/null ||
    die "the client namespace cannot reach the server"

# tinyproxy: ours, in the fake internet, on the veth address; it resolves the
# name with getaddrinfo, so our hosts file is bound over /etc/hosts in a mount
# namespace of its own (ip netns exec already gives it one; unshare makes sure).
TP_VERSION=
TP_PID=
if [ $HAVE_TP = 1 ]; then
    TP_VERSION=$(tinyproxy -v 2>&1 | head -1)
    cat >"$TMP/tinyproxy.conf" <<EOF
User nobody
Group nogroup
Port $TPPORT
Listen $GW
Timeout 60
MaxClients 256
LogLevel Error
Allow $CLI
DisableViaHeader Yes
XTinyproxy No
EOF
    grep -q '^nogroup:' /etc/group || sed -i 's/^Group nogroup/Group nobody/' "$TMP/tinyproxy.conf"
    $INET unshare -m --propagation private sh -c \
        'mount --bind "$1" /etc/hosts && exec tinyproxy -d -c "$2"' sh "$TMP/hosts" "$TMP/tinyproxy.conf" \
        >"$TMP/tinyproxy.log" 2>&1 &
    TP_PID=$!
    PIDS+=("$TP_PID")
    ok=0
    for _ in $(seq 100); do
        kill -0 "$TP_PID" 2>/dev/null || break
        if $CLIX "$EB" check "http://$NAME/small" --proxy "$GW:$TPPORT" --n 1 --warmup 0 >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.1
    done
    [ $ok = 1 ] || { echo "bench-egress: tinyproxy did not answer: $(tail -5 "$TMP/tinyproxy.log")" >&2; HAVE_TP=0; }
fi

# ---------------------------------------------------------------- sbxd + session
mkdir -p "$STATE/images" "$TMP/policy.d"
cp -a "$BUILD/images/$IMAGE" "$STATE/images/" || die "cannot copy the image"
# A uid range of our own (4 sessions), away from sbxd's default and the tests' regions.
IDBASE=$((0x30000000 + ($$ % 256) * 4 * 65536))
WARM=()
"$BUILD/sbxd" --help 2>&1 | grep -q -- --warm && WARM=(--warm 0)
"$BUILD/sbxd" --socket "$SOCK" --state-dir "$STATE" --cgroup-name "$CGNAME" --on-exit remove \
    --id-base "$IDBASE" --id-slots 4 "${WARM[@]}" --preview-listen 127.0.0.1:0 \
    --shim-netns "/run/netns/$INET_NS" --shim-hosts "$TMP/hosts" \
    --audit-log "$TMP/egress.jsonl" --policy-dir "$TMP/policy.d" >>"$TMP/sbxd.log" 2>&1 &
SBXD_PID=$!
SBX=("$BUILD/sbx" --socket "$SOCK")
for _ in $(seq 200); do
    [ -S "$SOCK" ] && "${SBX[@]}" health >/dev/null 2>&1 && break
    kill -0 "$SBXD_PID" 2>/dev/null || break
    sleep 0.05
done
"${SBX[@]}" health >/dev/null 2>&1 || die "sbxd did not start: $(tail -5 "$TMP/sbxd.log")"
SBX_VERSION=$("${SBX[@]}" --version 2>/dev/null | head -1)
# POST /v1/sessions {"image":"busybox","network":{"allow":["origin.egress.test"]}}
SID=$("${SBX[@]}" create --image "$IMAGE" --allow "$NAME" 2>"$TMP/err") ||
    die "cannot create the session: $(cat "$TMP/err")"
"${SBX[@]}" exec -i "$SID" -- sh -c 'cat > /tmp/eb && chmod +x /tmp/eb' <"$EB" ||
    die "cannot copy the client into the session"
"${SBX[@]}" exec -t 30 "$SID" -- /tmp/eb check "http://$NAME/small" --n 1 --warmup 0 >/dev/null 2>"$TMP/err" ||
    die "the session cannot reach http://$NAME/small through sbx-shim: $(cat "$TMP/err")"
SHIM_PID=$(pgrep -P "$SBXD_PID" -x sbx-shim | head -1)
[ -n "$SHIM_PID" ] || SHIM_PID=$(pgrep -P "$SBXD_PID" -f sbx-shim | head -1)

# ---------------------------------------------------------------- measuring
RAW=$OUT/egress-raw.txt
: >"$RAW"
SAMPLES=$OUT/egress-samples.txt
: >"$SAMPLES"
declare -A F # F[row.field] from "RESULT row k=v ..."
FAILED=()

cpu_ticks() { # PID -> utime+stime of the process, all threads (ticks)
    [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || { echo ""; return; }
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# m ROW PROXYPID CMD...: runs CMD (egressbench, in its namespace or via sbx
# exec), keeps the fields of its RESULT line, and the CPU the proxy used.
m() {
    local row=$1 ppid=$2 c0 c1 out
    shift 2
    echo "bench-egress: $row" >&2
    c0=$(cpu_ticks "$ppid")
    if ! out=$("$@" 2>"$TMP/err"); then
        FAILED+=("$row: $(tail -3 "$TMP/err" | tr '\n' ' ')")
        echo "bench-egress:   FAILED: $(tail -3 "$TMP/err")" >&2
    fi
    c1=$(cpu_ticks "$ppid")
    printf '%s\n' "$out" | grep '^RESULT' | tee -a "$RAW" >"$TMP/res"
    printf '%s\n' "$out" | sed -n 's/^SAMPLE //p' >>"$SAMPLES" # for bench/report.sh's plots
    local name kv
    while read -r _ name rest; do
        for kv in $rest; do F[$name.${kv%%=*}]=${kv#*=}; done
        if [ -n "$c0" ] && [ -n "$c1" ]; then
            F[$name.cpu_ms]=$(awk -v t=$((c1 - c0)) -v h="$TICK" 'BEGIN { printf "%.0f", t * 1000 / h }')
            echo "CPU $name proxy_pid=$ppid cpu_ms=${F[$name.cpu_ms]}" >>"$RAW"
        fi
    done <"$TMP/res"
}

SMALL=http://$NAME/small
BIG=http://$NAME/big
INSBX=("${SBX[@]}" exec -t 600 "$SID" -- /tmp/eb)
REQ=(--n "$N" --warmup "$W")

# Small requests, new connection each: the three paths back to back.
m direct_new "" $CLIX "$EB" direct_new "$SMALL" --connect "$SRV:80" "${REQ[@]}"
m shim_new "$SHIM_PID" "${INSBX[@]}" shim_new "$SMALL" "${REQ[@]}"
[ $HAVE_TP = 1 ] && m tiny_new "$TP_PID" $CLIX "$EB" tiny_new "$SMALL" --proxy "$GW:$TPPORT" "${REQ[@]}"
m shim_dns_new "$SHIM_PID" "${INSBX[@]}" shim_dns_new "$SMALL" --dns-each "${REQ[@]}"
# Kept alive.
m direct_ka "" $CLIX "$EB" direct_ka "$SMALL" --connect "$SRV:80" --keepalive "${REQ[@]}"
m shim_ka "$SHIM_PID" "${INSBX[@]}" shim_ka "$SMALL" --keepalive "${REQ[@]}"
[ $HAVE_TP = 1 ] && m tiny_ka "$TP_PID" $CLIX "$EB" tiny_ka "$SMALL" --proxy "$GW:$TPPORT" --keepalive "${REQ[@]}"
# DNS answers alone (the shim's; the direct path has no DNS, tinyproxy resolves itself).
m shim_dns "$SHIM_PID" "${INSBX[@]}" shim_dns "$SMALL" --dns-only "${REQ[@]}"
# The download.
m direct_big "" $CLIX "$EB" direct_big "$BIG" --connect "$SRV:80" --runs "$RUNS"
m shim_big "$SHIM_PID" "${INSBX[@]}" shim_big "$BIG" --runs "$RUNS"
[ $HAVE_TP = 1 ] && m tiny_big "$TP_PID" $CLIX "$EB" tiny_big "$BIG" --proxy "$GW:$TPPORT" --runs "$RUNS"
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
AUDIT_LINES=$(wc -l <"$TMP/egress.jsonl" 2>/dev/null || echo 0)

# ---------------------------------------------------------------- table
f() { [ -n "${F[$1]:-}" ] && printf "%.${2:-0}f" "${F[$1]}" || printf 'n/a'; }
# added ROW FIELD: F[ROW.FIELD] - F[direct.FIELD] (same kind of row)
added() {
    local base=$3
    [ -n "${F[$1.$2]:-}" ] && [ -n "${F[$base.$2]:-}" ] &&
        awk -v a="${F[$1.$2]}" -v b="${F[$base.$2]}" 'BEGIN { printf "%+.0f", a - b }' || printf -- '-'
}
per_req() { # ROW: proxy CPU per request in µs (warm-up included in the CPU time)
    [ -n "${F[$1.cpu_ms]:-}" ] && [ -n "${F[$1.n]:-}" ] &&
        awk -v c="${F[$1.cpu_ms]}" -v n="$((${F[$1.n]} + W))" 'BEGIN { printf "%.0f", c * 1000 / n }' || printf -- '-'
}
rrow() { # LABEL ROW BASE
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(f "$2.median")" "$(f "$2.p99")" \
        "$(f "$2.rps")" "$(added "$2" median "$3")" "$(added "$2" p99 "$3")" "$(per_req "$2")"
}
ratio() { [ -n "${1:-}" ] && [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }' || printf -- '-'; }
brow() { # LABEL ROW
    local cpu=-
    [ -n "${F[$2.cpu_ms]:-}" ] && cpu=$(awk -v c="${F[$2.cpu_ms]}" -v r="$RUNS" 'BEGIN { printf "%.0f", c / r }')
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$(f "$2.median")" "$(f "$2.p99")" \
        "$(ratio "${F[$2.median]:-}" "${F[direct_big.median]:-}")" "$cpu"
}
pass() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi; }

{
    echo "# sbx egress benchmark: direct vs sbx-shim vs tinyproxy"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), $SBX_VERSION, ${TP_VERSION:-tinyproxy: not installed}"
    echo "- machine: nproc=$(nproc), $MODEL, kernel $(uname -r)"
    echo "- load average before/after: $LOAD0 / $LOAD1 (other work on the host skews every row)"
    echo "- server: bench/egressserver.c (epoll, one thread) on $SRV:80 in a fake internet namespace, as \`$NAME\`;"
    echo "  client: bench/egressbench.c (static, the same binary on every path), sequential requests"
    echo "- (a) direct: client namespace -veth-> server; (b) sbx-shim: client in an sbx session (policy"
    echo "  \`allow: [$NAME]\`), name resolved by the shim's DNS -veth-> egress ns -> sbx-shim -lo-> server;"
    echo "  (c) tinyproxy in the fake internet namespace on $GW:$TPPORT, client as in (a) with it as HTTP proxy"
    echo "  -veth-> tinyproxy -lo-> server"
    echo "- audit lines the shim wrote during the run: $AUDIT_LINES"
    [ $HAVE_TP = 1 ] || echo "- MISSING: tinyproxy (apt-get install tinyproxy): rows (c) skipped"
    echo
    echo "## GET /small (100-byte body), N=$N sequential requests after $W warm-up (µs)"
    echo
    echo "A new connection per request (\`Connection: close\`), timed from socket() to the last body byte."
    echo "\"proxy CPU\": CPU time of the proxy process (all threads) during the row / requests (10 ms ticks)."
    echo
    echo "| path | p50 | p99 | req/s | added p50 | added p99 | proxy CPU µs/req |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    rrow "(a) direct (veth, no proxy)" direct_new direct_new
    rrow "(b) sbx-shim" shim_new direct_new
    rrow "(c) tinyproxy" tiny_new direct_new
    rrow "(b) sbx-shim, plus a DNS query to the shim before each request (a fresh curl)" shim_dns_new direct_new
    echo
    echo "One kept-alive connection (reconnecting when the proxy closes it; connections used in brackets)."
    echo
    echo "| path | p50 | p99 | req/s | added p50 | added p99 | proxy CPU µs/req |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    rrow "(a) direct [${F[direct_ka.conns]:-?}]" direct_ka direct_ka
    rrow "(b) sbx-shim [${F[shim_ka.conns]:-?}]" shim_ka direct_ka
    rrow "(c) tinyproxy [${F[tiny_ka.conns]:-?}]" tiny_ka direct_ka
    echo
    echo "| DNS | p50 | p99 | queries/s | | | shim CPU µs/query |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    printf '| %s | %s | %s | %s | | | %s |\n' "A query for $NAME, answered by sbx-shim (inside the session)" \
        "$(f shim_dns.median)" "$(f shim_dns.p99)" "$(f shim_dns.rps)" "$(per_req shim_dns)"
    echo
    echo "## GET /big: $MIB MiB download, $RUNS runs (MiB/s; slowest = the lowest run)"
    echo
    echo "| path | median | slowest | vs direct | proxy CPU ms/run |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    brow "(a) direct (veth, no proxy)" direct_big
    brow "(b) sbx-shim" shim_big
    brow "(c) tinyproxy" tiny_big
    echo
    echo "## Targets"
    echo
    echo "| target | result | |"
    echo "| --- | --- | --- |"
    if [ -n "${F[shim_new.median]:-}" ] && [ -n "${F[direct_new.median]:-}" ]; then
        a=$(added shim_new median direct_new)
        echo "| sbx-shim added p50 latency < 100 µs per request (new connection) | $a µs ($(f shim_new.median) vs $(f direct_new.median)) | $(pass "$a < 100") |"
    fi
    if [ -n "${F[shim_ka.median]:-}" ] && [ -n "${F[direct_ka.median]:-}" ]; then
        a=$(added shim_ka median direct_ka)
        echo "| (same, kept-alive connection) | $a µs ($(f shim_ka.median) vs $(f direct_ka.median)) | $(pass "$a < 100") |"
    fi
    if [ -n "${F[shim_big.median]:-}" ] && [ -n "${F[tiny_big.median]:-}" ]; then
        echo "| sbx-shim $MIB MiB throughput >= 2x tinyproxy | $(f shim_big.median) vs $(f tiny_big.median) MiB/s ($(ratio "${F[shim_big.median]}" "${F[tiny_big.median]}")) | $(pass "${F[shim_big.median]} >= 2 * ${F[tiny_big.median]}") |"
    fi
    if [ ${#FAILED[@]} -gt 0 ]; then
        echo
        echo "## Failed measurements"
        echo
        for x in "${FAILED[@]}"; do echo "- $x"; done
    fi
} >"$OUT/egress.md"
cat "$OUT/egress.md"
echo
# bench/run.sh rewrites results.md; point it at this table (one line, replaced on every run).
if [ -f "$OUT/results.md" ]; then
    sed -i '/^Egress (direct vs sbx-shim vs tinyproxy): /d' "$OUT/results.md"
    echo "Egress (direct vs sbx-shim vs tinyproxy): see [egress.md](egress.md) ($(date -u +%Y-%m-%dT%H:%M:%SZ))." >>"$OUT/results.md"
fi
echo "bench-egress: written to bench/out/egress.md (raw: bench/out/egress-raw.txt)" >&2
[ ${#FAILED[@]} -eq 0 ]
