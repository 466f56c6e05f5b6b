#!/usr/bin/env bash
# bench/report.sh - bench/RESULTS.md and bench/plots/*.png from what the
# benchmarks of one `make bench` run left in bench/out/.
#
#   make bench            runs every benchmark, then this
#   bench/report.sh       (again) from bench/out/ as it is
#
# Inputs (each optional; a missing one is named in RESULTS.md, not an error):
#   results.md  samples.txt            bench/run.sh: start, exec, destroy, streaming vs
#                                      bwrap, crun, runc, unshare, fork+exec, pipes
#   egress.md   egress-samples.txt     bench/egress.sh: direct vs sbx-shim vs tinyproxy
#   tls.md      tls-samples.txt        bench/tls.sh: terminated+injected vs passthrough
#   images.md                          bench/images.sh: busybox vs node image
#   density.md  density.dat            bench/density.sh: 1000 idle sessions
#   cycles.md   cycles.dat             bench/cycles.sh: 10,000 create/destroy cycles
# samples files hold "NAME VALUE" lines, every measured sample of a row.
#
# Plots (gnuplot, pngcairo): latency distributions as CDFs (x: latency on a log
# axis, y: fraction of samples at or below it), one PNG per comparison, and
# the density/cycles series. A plot whose data is missing is skipped.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUT=${1:-$ROOT/bench/out}
RES=$ROOT/bench/RESULTS.md
PLOTS=$ROOT/bench/plots
say() { printf 'bench/report: %s\n' "$*" >&2; }

command -v gnuplot >/dev/null || say "gnuplot missing (apt-get install gnuplot-nox): no plots"
TMP=$(mktemp -d /tmp/sbx-report.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$PLOTS"
PLOTTED=()

# series FILE NAME -> $TMP/NAME.cdf ("value fraction", sorted); 0 if it has samples
series() {
    local f=$1 n=$2
    [ -s "$f" ] || return 1
    awk -v n="$n" '$1 == n { print $2 }' "$f" | sort -g >"$TMP/$n.v"
    [ -s "$TMP/$n.v" ] || return 1
    awk -v t="$(wc -l <"$TMP/$n.v")" '{ print $1, NR / t }' "$TMP/$n.v" >"$TMP/$n.cdf"
}

# render PNG TITLE < gnuplot commands: the plot into $PLOTS/PNG, listed in RESULTS.md
render() {
    { printf 'set terminal pngcairo size 1000,650 font ",11"\nset output "%s"\nset title "%s"\n' \
        "$PLOTS/$1" "$2"; cat; } | gnuplot || { say "gnuplot failed for $1"; return 0; }
    PLOTTED+=("$1|$2")
}

# cdf PNG TITLE XLABEL FILE NAME=LABEL... : one CDF plot of the named series
cdf() {
    local png=$1 title=$2 xlabel=$3 f=$4 plot='' nm lb
    shift 4
    command -v gnuplot >/dev/null || return 0
    for s in "$@"; do
        nm=${s%%=*} lb=${s#*=}
        series "$f" "$nm" || continue
        plot+="${plot:+, }'$TMP/$nm.cdf' using 1:2 with lines lw 2 title '${lb//\'/}'"
    done
    [ -n "$plot" ] || { say "no samples for $png: skipped"; return 0; }
    render "$png" "$title" <<EOF
set xlabel "$xlabel (log scale)"
set ylabel "fraction of samples <="
set logscale x
set grid xtics mxtics ytics
set key outside below center maxrows 3
set yrange [0:1]
plot $plot
EOF
}

# xy PNG TITLE XLABEL YLABEL FILE COL=LABEL... : lines of columns against column 1
xy() {
    local png=$1 title=$2 xlabel=$3 ylabel=$4 f=$5 plot='' c lb
    shift 5
    command -v gnuplot >/dev/null || return 0
    [ -s "$f" ] || { say "no $f: $png skipped"; return 0; }
    for s in "$@"; do
        c=${s%%=*} lb=${s#*=}
        plot+="${plot:+, }'$f' using 1:$c with linespoints lw 2 title '${lb//\'/}'"
    done
    render "$png" "$title" <<EOF
set xlabel "$xlabel"
set ylabel "$ylabel"
set grid
set key top left
plot $plot
EOF
}

# bars PNG TITLE YLABEL NAME=LABEL... : medians (GiB/s) from results' raw lines
bars() {
    local png=$1 title=$2 ylabel=$3 raw=$OUT/raw.txt
    shift 3
    command -v gnuplot >/dev/null || return 0
    [ -s "$raw" ] || return 0
    local mib # MiB per run, from results.md's "N runs x MIB MiB"
    mib=$(sed -n 's/.* runs x \([0-9]*\) MiB.*/\1/p' "$OUT/results.md" 2>/dev/null | head -1)
    : >"$TMP/bars.dat"
    for s in "$@"; do
        local nm=${s%%=*} lb=${s#*=} v
        # rows timed in ms (a whole command streaming MIB MiB) become GiB/s
        v=$(awk -v n="$nm" -v mib="$mib" '$1 == "RESULT" && $2 == n {
                for (i = 3; i <= NF; i++) { if ($i ~ /^median=/) { sub(/median=/, "", $i); m = $i } if ($i == "unit=ms") ms = 1 }
                if (ms && mib > 0) m = mib / 1024 / (m / 1000); else if (ms) m = ""
                print m }' "$raw" | tail -1)
        [ -n "$v" ] && printf '"%s" %s\n' "$lb" "$v" >>"$TMP/bars.dat"
    done
    [ -s "$TMP/bars.dat" ] || return 0
    render "$png" "$title" <<EOF
set ylabel "$ylabel"
set style fill solid 0.6
set boxwidth 0.6
set grid ytics
set yrange [0:*]
set xtics rotate by -20
unset key
plot '$TMP/bars.dat' using 0:2:xtic(1) with boxes, '' using 0:2:(sprintf("%.2f", \$2)) with labels offset 0,1
EOF
}

rm -f "$PLOTS"/*.png
S=$OUT/samples.txt
cdf start.png "Fresh sandbox running /bin/true until its exit is observed" "ms" "$S" \
    create_exec="sbx: create -> first exec -> exit (API)" \
    create_exec_nowarm="sbx --warm 0" \
    bwrap="bwrap --unshare-all" crun="crun run" runc="runc run" \
    unshare5="unshare (5 namespaces, no rootfs)" forkexec="fork+exec+wait (floor)"
cdf start-idle.png "Fresh sandbox, each start after 100 ms of quiet" "ms" "$S" \
    create_exec_idle="sbx: create -> first exec -> exit" create_only_idle="sbx: create -> 201" \
    first_exec_idle="sbx: first exec -> exit" bwrap_idle="bwrap --unshare-all"
cdf exec.png "Exec round trip in a live session vs bare fork+exec" "ms" "$S" \
    exec_rt="sbx: POST exec /bin/true -> exit event" forkexec="fork+exec+wait /bin/true"
cdf destroy.png "Destroy: DELETE /v1/sessions/ID -> 204" "ms" "$S" \
    destroy="busy daemon" destroy_idle="idle daemon" destroy_nowarm="--warm 0"
bars stream.png "stdout streaming, 1 GiB (median GiB/s)" "GiB/s" \
    stream_frames="sbx API framed" stream_ndjson="sbx API NDJSON" stream_cli="sbx CLI" \
    pipe="host pipe 64 KiB" pipe_big="host pipe 1 MiB" ddcat="host dd | cat"
E=$OUT/egress-samples.txt
cdf egress-new.png "HTTP GET, a new connection per request" "us" "$E" \
    direct_new="direct (no proxy)" shim_new="sbx-shim" tiny_new="tinyproxy" \
    shim_dns_new="sbx-shim + DNS query each"
cdf egress-keepalive.png "HTTP GET on a kept-alive connection" "us" "$E" \
    direct_ka="direct (no proxy)" shim_ka="sbx-shim" tiny_ka="tinyproxy"
cdf tls.png "HTTPS through sbx-shim: terminated + secret injected vs passthrough" "us" \
    "$OUT/tls-samples.txt" tls_passthrough="passthrough (spliced)" tls_terminated="terminated, secret injected"
# density.dat's memory columns less their value at 0 sessions: what the sessions added
[ -s "$OUT/density.dat" ] && awk '/^#/ { next } !b { for (i = 2; i <= 8; i++) b0[i] = $i; b = 1 }
    { printf "%s", $1; for (i = 2; i <= 8; i++) printf " %.2f", $i - b0[i]; print "" }' \
    "$OUT/density.dat" >"$TMP/density-added.dat"
xy density.png "Idle sessions on one node: memory added since 0 sessions" "idle sessions" "MiB" \
    "$TMP/density-added.dat" 2="host memory used (MemTotal - MemAvailable)" 7="kernel slab" \
    8="unreclaimable slab" 3="PSS of the sessions' processes" 4="sbxd RSS" 5="sbx-shim RSS"
xy density-create.png "Create time as the node fills" "idle sessions" "ms per create (last batch)" \
    "$OUT/density.dat" 6="create, ms per session"
xy cycles.png "10,000 create/exec/destroy cycles: latency by batch" "cycles done" "ms" \
    "$OUT/cycles.dat" 2="create p50" 3="create p99" 4="exec p50" 5="destroy p50" 6="cycle p50" 7="cycle p99"
xy cycles-leaks.png "10,000 cycles: sbxd resources by batch" "cycles done" "count / MiB" \
    "$OUT/cycles.dat" 8="sbxd RSS MiB" 9="sbxd fds" 10="net namespaces"

# ---------------------------------------------------------------- RESULTS.md
cgmode() {
    if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then echo "pure v2"
    elif [ -d /sys/fs/cgroup/unified ]; then echo "hybrid (v1 controllers + v2)"
    else echo v1; fi
}
# demote FILE: its headings one level down when it starts with a "# title"
demote() { if head -n 1 "$1" | grep -q '^# '; then sed 's/^#/##/' "$1"; else cat "$1"; fi; }
# the density target from density.md's verdict line
density_target() {
    local l
    l=$(grep -m1 '^Target .* per idle session' "$OUT/density.md" 2>/dev/null) || return 0
    printf '| 1000 idle sessions, host memory <= 2 MiB per idle session beyond its processes | %s | %s |\n' \
        "$(sed -n 's/.*(\(.*\))\.*$/\1/p' <<<"$l")" "$(grep -o 'PASS\|FAIL' <<<"$l" | head -1)"
}
# churn targets from cycles.dat: first batch vs last batch
cycles_targets() {
    local d=$OUT/cycles.dat
    [ -s "$d" ] || return 0
    awk '/^#/ { next } !n++ { f = $0 } { l = $0; fails += $21 } END {
        split(f, a); split(l, b)
        slow = b[2] <= a[2] * 1.2
        printf "| %d create/destroy cycles, no slowdown (create p50, first vs last batch of the run) | %.2f -> %.2f ms | %s |\n",
            b[1], a[2], b[2], slow ? "PASS" : "FAIL"
        leak = b[9] <= a[9] && b[15] <= a[15] && b[16] <= a[16] && b[17] <= a[17] && b[18] <= a[18] && b[8] <= a[8] * 1.1
        printf "| %d cycles, nothing leaked (first -> last batch: sbxd fds %d -> %d, RSS %.1f -> %.1f MiB; mounts %d -> %d; cgroup dirs %d -> %d; veths %d -> %d; uid slots in use %d -> %d) | %d failed creates | %s |\n",
            b[1], a[9], b[9], a[8], b[8], a[15], b[15], a[16], b[16], a[17], b[17], a[18], b[18], fails, leak ? "PASS" : "FAIL"
    }' "$d"
}
# targets FILE: the rows of its "## Targets" table
targets() { awk '/^## Targets/ { t = 1; next } /^#/ { t = 0 } t && /^\| / && !/^\| target/ && !/^\| ---/' "$1"; }

{
    echo "# sbx benchmark results"
    echo
    echo "Written by \`make bench\` (bench/run.sh, egress.sh, tls.sh, images.sh, density.sh,"
    echo "cycles.sh, then bench/report.sh) on $(date -u +%Y-%m-%dT%H:%MZ), commit"
    echo "$(git rev-parse --short HEAD 2>/dev/null || echo '?'). Rerun: \`scripts/install-deps.sh --bench && make bench\` (root)."
    echo
    echo "- machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)),"
    echo "  $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory, kernel $(uname -r),"
    echo "  cgroups $(cgmode), $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}")"
    echo "- every figure: median (p50) and nearest-rank p99 of the samples named in its table;"
    echo "  peers are measured in the same run, right after sbx, on the same machine state."
    echo "- each section below is one benchmark's own output, with its date and load average."
    echo
    echo "## Targets"
    echo
    echo "| target | result | |"
    echo "| --- | --- | --- |"
    for f in results egress tls images density cycles; do
        [ -s "$OUT/$f.md" ] && targets "$OUT/$f.md"
    done
    density_target
    cycles_targets
    echo
    if [ ${#PLOTTED[@]} -gt 0 ]; then
        echo "## Plots"
        echo
        for p in "${PLOTTED[@]}"; do
            echo "### ${p#*|}"
            echo
            echo "![${p#*|}](plots/${p%%|*})"
            echo
        done
    fi
    for f in results egress tls images density cycles; do
        if [ -s "$OUT/$f.md" ]; then
            demote "$OUT/$f.md" | sed 's/^Egress (direct vs sbx-shim vs tinyproxy): see .*//'
        else
            echo "## ($f: not measured in this run: bench/out/$f.md missing)"
        fi
        echo
    done
} >"$RES"
say "wrote $RES and ${#PLOTTED[@]} plots in $PLOTS"
