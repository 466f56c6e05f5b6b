#!/usr/bin/env bash
# bench/density.sh - how many idle sessions fit, and what each one costs.
#
#   make bench-density              (= SBX_BUILD=build bench/density.sh, as root)
#   SBX_DENSITY_N=200 make bench-density      a quick, small run
#
# Starts its own sbxd (+ the sbx-shim it starts; socket and state under a fresh
# /var/tmp/sbx-density.* dir, cgroup name sbx-density-PID, default flags: warm
# pool 2, egress network via the shim, default limits), records baselines, then
# creates SBX_DENSITY_N idle sessions (busybox, {"image":"busybox"}: default
# network and limits) in batches of SBX_DENSITY_STEP and after every batch
# records:
#   host used     MemTotal - MemAvailable (/proc/meminfo), and Slab,
#                 SUnreclaim, PageTables, KernelStack, Percpu
#   all PSS       sum of Pss of every process on the host: what processes
#                 outside sbx (other work on the machine) grew by is taken out
#                 of the host figure (below)
#   session PSS   sum of Pss (smaps_rollup) of every process in sbxd's cgroup
#                 subtree but sbxd and sbx-shim (each sandbox's init, ...)
#   sbxd, shim    Rss and Pss of each
#   cgroup        memory.usage_in_bytes / memory.kmem.usage_in_bytes of sbxd's
#                 subtree (cgroup v1 memory controller, when there is one)
#   create time   wall time of the batch's creates / batch size
# Then deletes them all (timed) and records the same again: the memory must
# come back. Derived, per idle session beyond its own processes, two ways:
#   A = (Δhost used - Δsession PSS - Δother PSS) / N, where "other" is every
#       process that is neither a session's nor sbxd nor sbx-shim (on a quiet
#       machine Δother is ~0; the raw (Δhost used - Δsession PSS) / N is shown
#       too). MemAvailable counts reclaimable slab and page cache as
#       available, and moves with whatever else the host does.
#   B = (Δslab + Δpage tables + Δkernel stacks + Δpercpu + Δsbxd PSS +
#       Δshim PSS) / N: the kernel's and sbx's own parts, summed, reclaimable
#       slab (dentries, inodes) included.
# The ≤ 2 MiB target is judged on the larger of the two; also shown: sbxd and
# shim bytes per session, and the slab caches that grew most (/proc/slabinfo).
#
# Writes bench/out/density.md (Markdown section) and bench/out/density.dat
# (whitespace columns, '#' header). Figures are printed, never asserted; the
# ≤ 2 MiB target line says PASS or FAIL. Host-wide figures include whatever
# else runs on the machine meanwhile: run it on a quiet machine.
#
# Knobs (environment):
#   SBX_BUILD            build dir with sbxd, sbx-shim, sbx, images/ (default build)
#   SBX_DENSITY_N        sessions to create (default 1000)
#   SBX_DENSITY_STEP     sessions per batch / sample (default 100)
#   SBX_DENSITY_SETTLE   seconds to let things settle before a sample (default 2)
#   SBX_DENSITY_ACTIVE   1 (default): after the idle samples, every session does
#                        one DNS lookup through sbx-shim (8 at a time); the report
#                        says how many were answered and whether the kernel's
#                        neighbour table overflowed (dmesg); 0: skip
# sbxd, its sessions and every temporary file are removed on exit, also on
# failure or ^C.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=${SBX_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
N=${SBX_DENSITY_N:-1000}
STEP=${SBX_DENSITY_STEP:-100}
SETTLE=${SBX_DENSITY_SETTLE:-2}
ACTIVE=${SBX_DENSITY_ACTIVE:-1}
OUT=$ROOT/bench/out
IMAGE=busybox

NAME=density
. bench/lib.sh # die, TMP, SOCK, STATE, CGNAME, B; cleanup on exit
IDS=$TMP/ids
bench_start_sbxd

# ---------------------------------------------------------------- sampling
CGU=/sys/fs/cgroup/unified/$CGNAME
[ -d "$CGU" ] || CGU=/sys/fs/cgroup/$CGNAME
CGM=/sys/fs/cgroup/memory/$CGNAME
mi() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; } # kB
kb_of() { awk -v k="$2:" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/smaps_rollup" 2>/dev/null; }
session_pids() {
    find "$CGU" -name cgroup.procs -exec cat {} + 2>/dev/null | grep -vx -e "$SBXD_PID" -e "$SHIM_PID" | sort -un
}
# sample NAME: sets S_<field> (kB unless said)
sample() {
    sleep "$SETTLE"
    local pids
    pids=$(session_pids)
    S_nproc=$(printf '%s\n' "$pids" | grep -c .)
    S_pss=0
    if [ -n "$pids" ]; then
        S_pss=$(printf '/proc/%s/smaps_rollup\n' $pids | xargs awk '$1 == "Pss:" { s += $2 } END { print s + 0 }' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
    fi
    S_all=$(cat /proc/[0-9]*/smaps_rollup 2>/dev/null | awk '$1 == "Pss:" { s += $2 } END { print s + 0 }')
    S_percpu=$(mi Percpu)
    S_total=$(mi MemTotal)
    S_used=$(($(mi MemTotal) - $(mi MemAvailable)))
    S_slab=$(mi Slab) S_sunrec=$(mi SUnreclaim) S_pt=$(mi PageTables) S_ks=$(mi KernelStack)
    S_sbxd_rss=$(kb_of "$SBXD_PID" Rss) S_sbxd_pss=$(kb_of "$SBXD_PID" Pss)
    S_shim_rss=$(kb_of "$SHIM_PID" Rss) S_shim_pss=$(kb_of "$SHIM_PID" Pss)
    S_cg=0 S_cgk=0
    [ -r "$CGM/memory.usage_in_bytes" ] && S_cg=$(($(cat "$CGM/memory.usage_in_bytes") / 1024))
    [ -r "$CGM/memory.kmem.usage_in_bytes" ] && S_cgk=$(($(cat "$CGM/memory.kmem.usage_in_bytes") / 1024))
    S_netns=$(awk '$1 == "net_namespace" { print $2 }' /proc/slabinfo 2>/dev/null)
    S_sbxd_fds=$(ls /proc/"$SBXD_PID"/fd | wc -l)
    S_shim_fds=$(ls /proc/"$SHIM_PID"/fd | wc -l)
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

DAT=$OUT/density.dat
RAW=$TMP/raw
{
    echo "# sbx density: $N idle busybox sessions, sampled every $STEP ($(date -u +%FT%TZ))"
    echo "# sessions host_used_mib session_pss_mib sbxd_rss_mib shim_rss_mib create_ms_per_session_last_batch slab_mib sunreclaim_mib pagetables_mib kernelstack_mib sbxd_pss_mib shim_pss_mib cgroup_mib cgroup_kmem_mib session_procs sbxd_fds shim_fds"
} >"$DAT.tmp"
row() { # SESSIONS CREATE_MS
    printf '%d %s %s %s %s %s %s %s %s %s %s %s %s %s %d %d %d\n' "$1" "$(mib $S_used)" "$(mib $S_pss)" \
        "$(mib $S_sbxd_rss)" "$(mib $S_shim_rss)" "$2" "$(mib $S_slab)" "$(mib $S_sunrec)" \
        "$(mib $S_pt)" "$(mib $S_ks)" "$(mib $S_sbxd_pss)" "$(mib $S_shim_pss)" "$(mib $S_cg)" \
        "$(mib $S_cgk)" "$S_nproc" "$S_sbxd_fds" "$S_shim_fds" | tee -a "$DAT.tmp"
}

echo "bench-density: sbxd $SBXD_PID, sbx-shim $SHIM_PID; $N sessions in batches of $STEP" >&2
sample
cp /proc/slabinfo "$TMP/slab0"
for v in used pss all percpu slab sunrec pt ks sbxd_rss sbxd_pss shim_rss shim_pss cg cgk nproc; do
    eval "B_$v=\$S_$v"
done
B_sbxd_fds=$S_sbxd_fds B_shim_fds=$S_shim_fds B_netns=$S_netns
row 0 0
: >"$IDS"
made=0
FAIL_MSG=
while [ "$made" -lt "$N" ]; do
    k=$STEP
    [ $((made + k)) -gt "$N" ] && k=$((N - made))
    if ! "$B" mkmany "$SOCK" "$IMAGE" "$k" >"$TMP/batch" 2>"$TMP/batch.err"; then
        awk '$1 == "ID" { print $2 }' "$TMP/batch" >>"$IDS"
        made=$(wc -l <"$IDS")
        FAIL_MSG="create failed after $made sessions: $(cat "$TMP/batch.err")"
        echo "bench-density: $FAIL_MSG" >&2
        break
    fi
    awk '$1 == "ID" { print $2 }' "$TMP/batch" >>"$IDS"
    made=$(wc -l <"$IDS")
    el=$(awk '$1 == "ELAPSED" { print $2 }' "$TMP/batch")
    sample
    row "$made" "$(awk -v e="$el" -v k="$k" 'BEGIN { printf "%.1f", e * 1000 / k }')"
done
cp /proc/slabinfo "$TMP/slab1"
P_all=$S_all P_percpu=$S_percpu
P_used=$S_used P_pss=$S_pss P_slab=$S_slab P_sunrec=$S_sunrec P_pt=$S_pt P_ks=$S_ks
P_sbxd_rss=$S_sbxd_rss P_sbxd_pss=$S_sbxd_pss P_shim_rss=$S_shim_rss P_shim_pss=$S_shim_pss
P_cg=$S_cg P_cgk=$S_cgk P_nproc=$S_nproc P_sbxd_fds=$S_sbxd_fds P_shim_fds=$S_shim_fds
mv "$DAT.tmp" "$DAT"

# ---------------------------------------------------------------- all active
# Each session once on the network: two neighbour (ARP) entries per talking
# session unless they are static, and the kernel's table is host-wide.
ACTIVE_LINE=
if [ "$ACTIVE" = 1 ] && [ -s "$IDS" ]; then
    ov0=$(dmesg 2>/dev/null | grep -c 'neighbor table overflow')
    t0=$(date +%s.%N)
    xargs -P 8 -I{} sh -c '"$1" --socket "$2" exec -t 30 "$3" -- sh -c "nslookup density.example.com 2>&1 | grep -q NXDOMAIN"; echo $?' \
        sh "$BUILD/sbx" "$SOCK" {} <"$IDS" >"$TMP/active"
    t1=$(date +%s.%N)
    ov1=$(dmesg 2>/dev/null | grep -c 'neighbor table overflow')
    ok=$(grep -cx 0 "$TMP/active")
    ACTIVE_LINE="All active: every session made one DNS lookup through sbx-shim (8 at a time, $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s): $ok of $(wc -l <"$TMP/active") answered; kernel \"neighbor table overflow\" messages meanwhile: $((ov1 - ov0))."
    echo "bench-density: $ACTIVE_LINE" >&2
fi

# ---------------------------------------------------------------- destroy
B_netns_end=$S_netns
"$B" rmmany "$SOCK" <"$IDS" >"$TMP/rm" 2>"$TMP/rm.err" || echo "bench-density: delete failed: $(cat "$TMP/rm.err")" >&2
RM_S=$(awk '$1 == "ELAPSED" { print $2 }' "$TMP/rm")
RM_LINE=$(grep '^RESULT rm_one' "$TMP/rm")
# netns teardown is asynchronous: wait (up to 120 s) for the net_namespace slab
# to come back to its count before the first create (give or take two slabs of
# 7: the count is per slab, and other work on the host makes namespaces too)
t0=$(date +%s.%N)
for _ in $(seq 1200); do
    cur=$(awk '$1 == "net_namespace" { print $2 }' /proc/slabinfo 2>/dev/null)
    [ -z "$cur" ] || [ "$cur" -le $((${B_netns:-0} + 14)) ] && break
    sleep 0.1
done
sample
NETNS_WAIT=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

# ---------------------------------------------------------------- report
d() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.1f", (b - a) / (n > 0 ? n : 1) }'; } # kB per session
nm=$made
PER_RAW=$(awk -v a="$B_used" -v b="$P_used" -v pa="$B_pss" -v pb="$P_pss" -v n="$nm" \
    'BEGIN { printf "%.4f", ((b - a) - (pb - pa)) / 1024 / (n > 0 ? n : 1) }')
# other processes' PSS = all - sessions' - sbxd's - shim's
OTHER0=$((B_all - B_pss - B_sbxd_pss - B_shim_pss)) OTHER1=$((P_all - P_pss - P_sbxd_pss - P_shim_pss))
PER_HOST=$(awk -v a="$B_used" -v b="$P_used" -v pa="$B_pss" -v pb="$P_pss" -v oa="$OTHER0" -v ob="$OTHER1" -v n="$nm" \
    'BEGIN { printf "%.4f", ((b - a) - (pb - pa) - (ob - oa)) / 1024 / (n > 0 ? n : 1) }')
PER_SUM=$(awk -v n="$nm" -v a="$((P_slab - B_slab + P_pt - B_pt + P_ks - B_ks + P_percpu - B_percpu + P_sbxd_pss - B_sbxd_pss + P_shim_pss - B_shim_pss))" \
    'BEGIN { printf "%.4f", a / 1024 / (n > 0 ? n : 1) }')
PER_MAX=$(awk -v a="$PER_HOST" -v b="$PER_SUM" 'BEGIN { print (a > b) ? a : b }')
# slab caches by growth (num_objs * objsize), the top 10
SLABTOP=$(awk 'FNR == 1 { f++ } /^#|^slabinfo/ { next } { b = $3 * $4; if (f == 1) a0[$1] = b; else a1[$1] = b }
    END { for (k in a1) { d = a1[k] - a0[k]; if (d > 0) printf "%d %s\n", d, k } }' "$TMP/slab0" "$TMP/slab1" |
    sort -rn | head -10 | awk -v n="$nm" '{ printf "%s%s %.1f", (NR > 1 ? ", " : ""), $2, $1 / 1024 / n }')
VERDICT=$(awk -v x="$PER_MAX" 'BEGIN { print (x <= 2.0) ? "PASS" : "FAIL" }')
MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
{
    echo "## Density: $nm idle sessions"
    echo
    echo "Machine: $(nproc) CPUs ($MODEL), $(mib "$S_total") MiB RAM, kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME");"
    echo "sbx $("$BUILD/sbx" --version 2>/dev/null | head -1); sbxd defaults (warm pool 2, egress via sbx-shim), busybox image, \`{\"image\":\"busybox\"}\`;"
    echo "$(date -u +%F). Host-wide figures include anything else the machine ran meanwhile."
    [ -n "$FAIL_MSG" ] && { echo; echo "**Stopped early:** $FAIL_MSG"; }
    echo
    echo "| sessions | host used MiB | session PSS MiB | sbxd RSS MiB | shim RSS MiB | slab MiB | page tables MiB | create ms/session (batch) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk '!/^#/ { printf "| %d | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $7, $9, $6 }' "$DAT"
    echo
    echo "Per idle session (Δ from 0 to $nm sessions, / $nm):"
    echo
    echo "| cost | KiB per session |"
    echo "|---|---:|"
    echo "| host memory used (MemTotal − MemAvailable) | $(d "$B_used" "$P_used" "$nm") |"
    echo "| PSS of the session's own processes ($((P_nproc - B_nproc)) processes in all) | $(d "$B_pss" "$P_pss" "$nm") |"
    echo "| PSS of every other process on the host (not sbx; subtracted below) | $(d "$OTHER0" "$OTHER1" "$nm") |"
    echo "| **A: host memory beyond its processes** (Δused − Δsession PSS − Δother PSS) | **$(awk -v x="$PER_HOST" 'BEGIN { printf "%.1f", x * 1024 }')** |"
    echo "| **B: kernel + sbx daemons** (Δslab + Δpage tables + Δkernel stacks + Δpercpu + Δsbxd PSS + Δshim PSS) | **$(awk -v x="$PER_SUM" 'BEGIN { printf "%.1f", x * 1024 }')** |"
    echo "| the same without taking out other processes (Δused − Δsession PSS) | $(awk -v x="$PER_RAW" 'BEGIN { printf "%.1f", x * 1024 }') |"
    echo "| kernel slab (netns, veth, overlay, cgroups, dentries/inodes) | $(d "$B_slab" "$P_slab" "$nm") |"
    echo "| unreclaimable slab | $(d "$B_sunrec" "$P_sunrec" "$nm") |"
    echo "| page tables | $(d "$B_pt" "$P_pt" "$nm") |"
    echo "| kernel stacks | $(d "$B_ks" "$P_ks" "$nm") |"
    echo "| percpu (cgroups' counters, ...) | $(d "$B_percpu" "$P_percpu" "$nm") |"
    echo "| sbxd RSS (PSS) | $(d "$B_sbxd_rss" "$P_sbxd_rss" "$nm") ($(d "$B_sbxd_pss" "$P_sbxd_pss" "$nm")) |"
    echo "| sbx-shim RSS (PSS) | $(d "$B_shim_rss" "$P_shim_rss" "$nm") ($(d "$B_shim_pss" "$P_shim_pss" "$nm")) |"
    echo "| sbxd's memory cgroup subtree (all / kmem) | $(d "$B_cg" "$P_cg" "$nm") / $(d "$B_cgk" "$P_cgk" "$nm") |"
    echo "| sbxd fds / shim fds (per session) | $(awk -v a="$B_sbxd_fds" -v b="$P_sbxd_fds" -v n="$nm" 'BEGIN { printf "%.2f", (b - a) / n }') / $(awk -v a="$B_shim_fds" -v b="$P_shim_fds" -v n="$nm" 'BEGIN { printf "%.2f", (b - a) / n }') |"
    echo
    echo "Slab caches that grew most, KiB per session: $SLABTOP."
    echo
    echo "Target ≤ 2 MiB host memory per idle session beyond its processes: **$VERDICT** (the larger of A and B: $(awk -v x="$PER_MAX" 'BEGIN { printf "%.2f", x }') MiB)."
    echo
    echo "Destroy: $nm DELETEs in ${RM_S:-?} s (one at a time; ${RM_LINE#RESULT }); the net_namespace slab (${B_netns_end:-?} objects at $nm sessions) was back to its baseline (${B_netns:-?}, ±14) $NETNS_WAIT s after the last 204."
    [ -n "$ACTIVE_LINE" ] && { echo; echo "$ACTIVE_LINE"; }
    echo "After destroy, vs. before the first create: host used $(awk -v a="$B_used" -v b="$S_used" 'BEGIN { printf "%+.1f", (b - a) / 1024 }') MiB, slab $(awk -v a="$B_slab" -v b="$S_slab" 'BEGIN { printf "%+.1f", (b - a) / 1024 }') MiB, session processes $S_nproc (were $B_nproc), sbxd RSS $(mib "$S_sbxd_rss") MiB (was $(mib "$B_sbxd_rss")), shim RSS $(mib "$S_shim_rss") MiB (was $(mib "$B_shim_rss")), sbxd fds $S_sbxd_fds (were $B_sbxd_fds), shim fds $S_shim_fds (were $B_shim_fds)."
    echo
    echo "Raw columns: bench/out/density.dat."
} >"$OUT/density.md"
cat "$OUT/density.md"
[ -z "$FAIL_MSG" ]
