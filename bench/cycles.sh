#!/usr/bin/env bash
# bench/cycles.sh - churn: create -> exec /bin/true -> destroy, many times over.
#
#   make bench-cycles                (= SBX_BUILD=build bench/cycles.sh, as root)
#   SBX_CYCLES_N=1000 make bench-cycles       a quick, small run
#
# Starts its own sbxd (+ the sbx-shim it starts; socket and state under a fresh
# /var/tmp/sbx-cycles.* dir, cgroup name sbx-cycles-PID, default flags: warm
# pool 2, egress network via the shim), then runs SBX_CYCLES_N sequential
# cycles (bench/sbxbench.c "cycles": POST /v1/sessions {"image":"busybox"};
# POST exec /bin/true, framed, to its exit frame; DELETE to its 204; one
# kept-alive connection) in batches of SBX_CYCLES_BATCH. Per batch: p50/p99 of
# create, exec, destroy and the whole cycle; after it, the leak gauges:
#   sbxd / shim   open fds, RSS
#   mounts        lines of /proc/self/mountinfo (host) and of sbxd's
#   cgroups       directories under sbxd's subtree, every hierarchy
#   netns         net namespaces alive: net_namespace slab objects (the
#                 kernel's count, includes ones being torn down) and
#                 namespaces some process uses (/proc/*/ns/net inodes)
#   veth          veth links in sbx's egress namespace (host side of sessions)
#   uid slots     distinct uid ranges of processes in sbxd's subtree (warm pool
#                 + live sessions)
#   slab          Slab and SUnreclaim (/proc/meminfo)
#   unshare -n    median of 5 `unshare --net true` from the host (fork, exec,
#                 a net namespace made and dropped): does the kernel's netns
#                 teardown backlog slow down making new ones?
# A create that fails (non-201) does not stop the run: it is counted per batch
# (create_failed) and its answer listed in the report, with sbxd's error log
# lines (bench/out/cycles-errors.log).
# At the end: how long the kernel takes to free the net namespaces of
# destroyed sessions (net namespace teardown is asynchronous: cleanup_net on a
# workqueue), measured as the time from the last DELETE 204 until the
# net_namespace slab is back to its count before the first create, and a
# burst probe: SBX_CYCLES_BURST sessions created, deleted together, and the
# same wait timed.
#
# Writes bench/out/cycles.md (Markdown section) and bench/out/cycles.dat
# (whitespace columns, '#' header). Figures are printed, never asserted.
# Host-wide gauges (netns, slab) include whatever else runs on the machine.
#
# Knobs (environment):
#   SBX_BUILD          build dir with sbxd, sbx-shim, sbx, images/ (default build)
#   SBX_CYCLES_N       cycles (default 10000)
#   SBX_CYCLES_BATCH   cycles per batch / sample (default 500)
#   SBX_CYCLES_BURST   sessions of the teardown burst probe (default 100, 0 = off)
# sbxd, its sessions and every temporary file are removed on exit, also on
# failure or ^C.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=${SBX_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
N=${SBX_CYCLES_N:-10000}
BATCH=${SBX_CYCLES_BATCH:-500}
BURST=${SBX_CYCLES_BURST:-100}
OUT=$ROOT/bench/out
IMAGE=busybox

NAME=cycles
. bench/lib.sh # die, TMP, SOCK, STATE, CGNAME, B; cleanup on exit
bench_start_sbxd
EGRESS_NS=$STATE/egress.netns

# ---------------------------------------------------------------- gauges
CGU=/sys/fs/cgroup/unified/$CGNAME
[ -d "$CGU" ] || CGU=/sys/fs/cgroup/$CGNAME
mi() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; } # kB
kb_of() { awk -v k="$2:" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/smaps_rollup" 2>/dev/null; }
netns_slab() { awk '$1 == "net_namespace" { print $2 }' /proc/slabinfo; }
netns_used() { stat -L -c %i /proc/[0-9]*/ns/net 2>/dev/null | sort -u | wc -l; }
cg_dirs() {
    local n=0 d
    for d in /sys/fs/cgroup/*/"$CGNAME" /sys/fs/cgroup/"$CGNAME"; do
        [ -d "$d" ] && n=$((n + $(find "$d" -mindepth 1 -type d | wc -l)))
    done
    echo "$n"
}
veths() {
    if [ -e "$EGRESS_NS" ]; then
        nsenter --net="$EGRESS_NS" ip -o link show type veth 2>/dev/null | wc -l
    else echo 0; fi
}
uid_slots() {
    find "$CGU" -name cgroup.procs -exec cat {} + 2>/dev/null | grep -vx -e "$SBXD_PID" -e "$SHIM_PID" |
        while read -r p; do awk 'NR == 1 { print $2 }' "/proc/$p/uid_map" 2>/dev/null; done | sort -u | grep -vc '^0$'
}
unshare_ms() {
    local i t0 t1 v=()
    for i in 1 2 3 4 5; do
        t0=$(date +%s%N)
        unshare --net true 2>/dev/null
        t1=$(date +%s%N)
        v+=($(((t1 - t0) / 1000)))
    done
    printf '%s\n' "${v[@]}" | sort -n | awk 'NR == 3 { printf "%.2f", $1 / 1000 }'
}
gauge() { # sets G_*
    G_sbxd_fds=$(ls /proc/"$SBXD_PID"/fd | wc -l)
    G_shim_fds=$(ls /proc/"$SHIM_PID"/fd | wc -l)
    G_sbxd_rss=$(kb_of "$SBXD_PID" Rss)
    G_shim_rss=$(kb_of "$SHIM_PID" Rss)
    G_mounts=$(wc -l </proc/self/mountinfo)
    G_sbxd_mounts=$(wc -l <"/proc/$SBXD_PID/mountinfo")
    G_cg=$(cg_dirs)
    G_netns=$(netns_slab)
    G_netns_used=$(netns_used)
    G_veth=$(veths)
    G_slots=$(uid_slots)
    G_slab=$(mi Slab) G_sunrec=$(mi SUnreclaim)
    G_unshare=$(unshare_ms)
}
gauge_line() {
    echo "sbxd fds $G_sbxd_fds, RSS $((G_sbxd_rss / 1024)) MiB; shim fds $G_shim_fds, RSS $((G_shim_rss / 1024)) MiB; mounts $G_mounts (sbxd's $G_sbxd_mounts); cgroup dirs $G_cg; netns (slab) $G_netns, in use $G_netns_used; veth $G_veth; uid slots $G_slots; Slab $((G_slab / 1024)) MiB (SUnreclaim $((G_sunrec / 1024))); unshare -n $G_unshare ms"
}

# wait_netns TARGET: seconds (at most 120) until the net_namespace slab is
# back to TARGET, give or take two slabs of 7 (the count is per slab, and other
# work on the host makes and drops namespaces too)
wait_netns() {
    local t0 cur lim=$(($1 + 14)) end=$((SECONDS + 120))
    t0=$(date +%s.%N)
    while :; do
        cur=$(netns_slab)
        [ "$cur" -le "$lim" ] && break
        [ "$SECONDS" -ge "$end" ] && break
        sleep 0.1
    done
    awk -v a="$t0" -v b="$(date +%s.%N)" -v c="$cur" -v t="$lim" 'BEGIN { printf "%.1f%s", b - a, c <= t ? "" : " (not reached in 120 s: " c " > " t ")" }'
}

sleep 2
gauge
declare -A G0
for v in sbxd_fds shim_fds sbxd_rss shim_rss mounts sbxd_mounts cg netns netns_used veth slots slab sunrec; do
    eval "G0[$v]=\$G_$v"
done
G0_LINE=$(gauge_line)
echo "bench-cycles: sbxd $SBXD_PID, sbx-shim $SHIM_PID; $N cycles in batches of $BATCH" >&2
echo "bench-cycles: start: $G0_LINE" >&2

DAT=$OUT/cycles.dat
{
    echo "# sbx churn: $N create -> exec /bin/true -> destroy cycles, batches of $BATCH ($(date -u +%FT%TZ))"
    echo "# batch_end_cycle create_p50_ms create_p99_ms exec_p50_ms destroy_p50_ms cycle_p50_ms cycle_p99_ms sbxd_rss_mib sbxd_fds netns_count exec_p99_ms destroy_p99_ms shim_rss_mib shim_fds mounts cgroup_dirs veth uid_slots slab_mib netns_in_use create_failed unshare_net_ms"
} >"$DAT.tmp"
res() { awk -v n="$1" -v f="$2" '$1 == "RESULT" && $2 == n { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$TMP/batch"; }
done_n=0
FAIL_MSG=
NFAILED=0
: >"$TMP/failures"
T_START=$(date +%s.%N)
while [ "$done_n" -lt "$N" ]; do
    k=$BATCH
    [ $((done_n + k)) -gt "$N" ] && k=$((N - done_n))
    if ! "$B" cycles "$SOCK" "$IMAGE" "$k" >"$TMP/batch" 2>"$TMP/batch.err"; then
        FAIL_MSG="batch after cycle $done_n failed: $(cat "$TMP/batch.err")"
        echo "bench-cycles: $FAIL_MSG" >&2
        break
    fi
    done_n=$((done_n + k))
    nf=$(awk '$1 == "FAILED" { print $2 }' "$TMP/batch")
    NFAILED=$((NFAILED + nf))
    grep '^CREATE_FAILED' "$TMP/batch" | sed "s/^/after cycle $done_n: /" >>"$TMP/failures"
    gauge
    printf '%d %.2f %.2f %.2f %.2f %.2f %.2f %.1f %d %d %.2f %.2f %.1f %d %d %d %d %d %.1f %d %d %s\n' "$done_n" \
        "$(res create median)" "$(res create p99)" "$(res exec median)" "$(res destroy median)" \
        "$(res cycle median)" "$(res cycle p99)" "$(awk -v k="$G_sbxd_rss" 'BEGIN { print k / 1024 }')" \
        "$G_sbxd_fds" "$G_netns" "$(res exec p99)" "$(res destroy p99)" \
        "$(awk -v k="$G_shim_rss" 'BEGIN { print k / 1024 }')" "$G_shim_fds" "$G_mounts" "$G_cg" "$G_veth" \
        "$G_slots" "$(awk -v k="$G_slab" 'BEGIN { print k / 1024 }')" "$G_netns_used" "$nf" "$G_unshare" | tee -a "$DAT.tmp"
done
T_END=$(date +%s.%N)
mv "$DAT.tmp" "$DAT"
NETNS_WAIT=$(wait_netns "${G0[netns]}")
sleep 2
gauge
G1_LINE=$(gauge_line)
echo "bench-cycles: end (after netns teardown): $G1_LINE" >&2

# burst probe: BURST sessions, deleted back to back, then the teardown wait
BURST_LINE=
if [ "$BURST" -gt 0 ] && [ -z "$FAIL_MSG" ]; then
    b0=$(netns_slab)
    if "$B" mkmany "$SOCK" "$IMAGE" "$BURST" >"$TMP/burst" 2>"$TMP/burst.err"; then
        b1=$(netns_slab)
        awk '$1 == "ID" { print $2 }' "$TMP/burst" | "$B" rmmany "$SOCK" >"$TMP/brm" 2>&1
        b2=$(netns_slab)
        bw=$(wait_netns "$b0")
        BURST_LINE="Teardown burst: $BURST sessions created (net_namespace slab $b0 → $b1), deleted in $(awk '$1 == "ELAPSED" { printf "%.2f", $2 }' "$TMP/brm") s (slab right after the last 204: $b2); back to $b0 after $bw s."
    else
        BURST_LINE="Teardown burst: create failed: $(cat "$TMP/burst.err")"
    fi
fi

# ---------------------------------------------------------------- report
MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
first() { awk -v c="$1" '!/^#/ { print $c; exit }' "$DAT"; }
last() { awk -v c="$1" '!/^#/ { v = $c } END { print v }' "$DAT"; }
{
    echo "## Churn: $done_n create → exec /bin/true → destroy cycles"
    echo
    echo "Machine: $(nproc) CPUs ($MODEL), $(($(mi MemTotal) / 1024)) MiB RAM, kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME");"
    echo "sbx $("$BUILD/sbx" --version 2>/dev/null | head -1); sbxd defaults (warm pool 2, egress via sbx-shim), busybox image; sequential cycles over one"
    echo "kept-alive connection (bench/sbxbench.c cycles); $(date -u +%F). $done_n cycles took $(awk -v a="$T_START" -v b="$T_END" 'BEGIN { printf "%.0f", b - a }') s in all."
    echo "Host-wide gauges (netns, slab) include anything else the machine ran meanwhile."
    [ -n "$FAIL_MSG" ] && { echo; echo "**Stopped early:** $FAIL_MSG"; }
    echo
    echo "| cycles | create p50/p99 ms | exec p50/p99 ms | destroy p50/p99 ms | cycle p50/p99 ms | failed creates | sbxd RSS MiB / fds | shim RSS MiB / fds | netns (slab) | veth | cgroup dirs | mounts | unshare -n ms |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk '!/^#/ { printf "| %d | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %d | %.1f / %d | %.1f / %d | %d | %d | %d | %d | %s |\n", $1, $2, $3, $4, $11, $5, $12, $6, $7, $21, $8, $9, $13, $14, $10, $17, $16, $15, $22 }' "$DAT"
    echo
    echo "Failed creates: $NFAILED of $done_n."
    if [ -s "$TMP/failures" ]; then
        echo
        sed 's/^/    /' "$TMP/failures" | head -20
    fi
    echo
    echo "Creation as churn goes on: create p50 $(first 2) ms in the first batch, $(last 2) ms in the last; cycle p50 $(first 6) → $(last 6) ms."
    echo
    echo "Leak gauges before the first cycle and after the last (after the netns teardown wait):"
    echo
    echo "- start: $G0_LINE"
    echo "- end:   $G1_LINE"
    echo
    echo "Net namespace teardown (asynchronous in the kernel): after the last cycle's 204 the net_namespace slab was back to its count before the first create ($((G0[netns])), ±14) after $NETNS_WAIT s."
    [ -n "$BURST_LINE" ] && echo "$BURST_LINE"
    echo
    echo "A leaked uid slot would show as failed creates: sbxd has 4096 (--id-slots) and every cycle takes one."
    echo
    echo "Raw columns: bench/out/cycles.dat."
} >"$OUT/cycles.md"
grep '"level":"error"' "$TMP/sbxd.log" >"$OUT/cycles-errors.log" 2>/dev/null
[ -s "$OUT/cycles-errors.log" ] || rm -f "$OUT/cycles-errors.log"
cat "$OUT/cycles.md"
[ -z "$FAIL_MSG" ]
