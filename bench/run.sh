#!/usr/bin/env bash
# bench/run.sh - sbx side by side with bwrap, crun, runc and bare fork+exec.
#
#   make bench                      (= SBX_BUILD=build bench/run.sh, as root)
#
# Starts its own sbxd (socket and state under a fresh /var/tmp/sbx-bench.* dir,
# cgroup name sbx-bench-PID), measures, prints a Markdown table and writes it to
# bench/out/results.md (raw figures: bench/out/raw.txt, hyperfine JSON next to it).
# sbxd and every temporary file are removed on exit, also on failure or ^C.
#
# Knobs (environment):
#   SBX_BUILD                build dir with sbxd, sbx, sbx-init, images/ (default build)
#   SBX_BENCH_N              measured iterations of every latency row (default 200)
#   SBX_BENCH_WARMUP         warm-up iterations, not measured (default 10)
#   SBX_BENCH_BYTES          bytes streamed per throughput run (default 1 GiB)
#   SBX_BENCH_STREAM_RUNS    runs of every throughput row (default 5)
#   SBX_BENCH_IDLE_N         iterations of the "idle" start rows (default 50)
#   SBX_BENCH_IDLE_GAP_MS    untimed sleep before each of those (default 100)
#   SBX_BENCH_QUICK=1        N=30 W=3 RUNS=2 BYTES=256 MiB, for a quick look
#
# Every latency figure is measured by bench/sbxbench.c (built here with cc -O2):
# CLOCK_MONOTONIC around the step, N samples after W warm-up ones, median and
# nearest-rank p99.  See the comment at the top of sbxbench.c for each mode.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=${SBX_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
N=${SBX_BENCH_N:-200}
W=${SBX_BENCH_WARMUP:-10}
BYTES=${SBX_BENCH_BYTES:-1073741824}
SRUNS=${SBX_BENCH_STREAM_RUNS:-5}
NI=${SBX_BENCH_IDLE_N:-50}
GAP=${SBX_BENCH_IDLE_GAP_MS:-100}
if [ "${SBX_BENCH_QUICK:-0}" = 1 ]; then N=30 W=3 SRUNS=2 BYTES=268435456 NI=10; fi
MIB=$((BYTES / 1048576))
OUT=$ROOT/bench/out
IMAGE=busybox

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (sbxd, crun and runc need it)"
for f in sbxd sbx sbx-init images/$IMAGE/rootfs/bin/busybox; do
    [ -e "$BUILD/$f" ] || die "$BUILD/$f missing: run make first"
done
ROOTFS=$BUILD/images/$IMAGE/rootfs
mkdir -p "$OUT"

TMP=$(mktemp -d /var/tmp/sbx-bench.XXXXXX) || die "mktemp failed"
chmod 755 "$TMP" # sbx-shim (user nobody) reaches STATE/ca through it
SOCK=$TMP/sbxd.sock
STATE=$TMP/state
CGNAME=sbx-bench-$$
SBXD_PIDS=()
CLI_SID=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    local p
    for p in "${SBXD_PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null || continue
        kill -TERM "$p" 2>/dev/null # sbxd removes its sessions on SIGTERM
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    # Nothing should be mounted under TMP in this namespace (sandboxes mount in
    # their own); detach anything that is before removing the files.
    if command -v findmnt >/dev/null; then
        findmnt -rn -o TARGET | grep "^$TMP/" | sort -r | while read -r m; do umount -l "$m"; done
    fi
    rm -rf "$TMP"
    for d in /sys/fs/cgroup/*/"$CGNAME" /sys/fs/cgroup/"$CGNAME" \
        /sys/fs/cgroup/*/"$CGNAME-nowarm" /sys/fs/cgroup/"$CGNAME-nowarm"; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------- tools
cc -O2 -std=c17 -Wall -Wextra -o "$TMP/sbxbench" bench/sbxbench.c || die "cannot build bench/sbxbench.c"
B=$TMP/sbxbench

missing=()
have() { command -v "$1" >/dev/null 2>&1 || { missing+=("$1"); return 1; }; }
HAVE_BWRAP=0 HAVE_CRUN=0 HAVE_RUNC=0 HAVE_HYPERFINE=0 HAVE_UNSHARE=0
have bwrap && HAVE_BWRAP=1
have crun && HAVE_CRUN=1
have runc && HAVE_RUNC=1
have hyperfine && HAVE_HYPERFINE=1
have unshare && HAVE_UNSHARE=1
JSONTOOL=
if command -v jq >/dev/null; then JSONTOOL=jq; elif command -v python3 >/dev/null; then JSONTOOL=python3; fi

# ---------------------------------------------------------------- machine
cgmode() {
    local t
    t=$(stat -fc %T /sys/fs/cgroup 2>/dev/null)
    if [ "$t" = cgroup2fs ]; then echo v2
    elif [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then echo hybrid
    else echo v1; fi
}
CGMODE=$(cgmode)
MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
CG2OPTS=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5 " (" $(i + 3) ")"; exit } break } }' /proc/self/mountinfo)

# ---------------------------------------------------------------- sbxd
start_sbxd() { # SOCK STATE CGNAME [sbxd options...]
    local sock=$1 state=$2 cg=$3 p
    shift 3
    mkdir -p "$state/images"
    cp -a "$BUILD/images/$IMAGE" "$state/images/" || die "cannot copy the image"
    "$BUILD/sbxd" --socket "$sock" --state-dir "$state" --cgroup-name "$cg" --on-exit remove \
        --preview-listen 127.0.0.1:0 "$@" >>"$TMP/sbxd.log" 2>&1 &
    p=$!
    SBXD_PIDS+=("$p")
    for _ in $(seq 100); do
        [ -S "$sock" ] && "$BUILD/sbx" --socket "$sock" health >/dev/null 2>&1 && return 0
        kill -0 "$p" 2>/dev/null || break
        sleep 0.05
    done
    tail -5 "$TMP/sbxd.log" >&2
    echo "bench: sbxd $* did not start" >&2
    return 1
}
start_sbxd "$SOCK" "$STATE" "$CGNAME" || die "cannot start sbxd"
SBX_VERSION=$("$BUILD/sbx" --version 2>/dev/null | head -1)
# sbxd keeps a warm pool of prepared sandboxes (default 2); a second daemon
# with --warm 0, where supported, shows what a create costs without it.
NOWARM=0
if "$BUILD/sbxd" --help 2>&1 | grep -q -- --warm; then
    SOCK0=$TMP/sbxd-nowarm.sock
    start_sbxd "$SOCK0" "$TMP/state-nowarm" "$CGNAME-nowarm" --warm 0 && NOWARM=1 ||
        FAILED+=("sbxd --warm 0 did not start: rows without the warm pool skipped")
fi

# ---------------------------------------------------------------- measuring
RAW=$OUT/raw.txt
SAMPLES=$OUT/samples.txt
: >"$RAW"
: >"$SAMPLES"
declare -A MED P99
FAILED=()

# run LABEL CMD...: runs CMD (sbxbench, possibly wrapped), keeps the median and
# p99 of every "RESULT name ..." line it prints; a failure is listed, not fatal.
run() {
    local label=$1; shift
    echo "bench: $label" >&2
    local out
    : >"$TMP/samples"
    if ! out=$(SBXBENCH_SAMPLES=$TMP/samples "$@" 2>"$TMP/err"); then
        FAILED+=("$label: $(tail -3 "$TMP/err" | tr '\n' ' ')")
        echo "bench:   FAILED: $(tail -3 "$TMP/err")" >&2
    fi
    printf '%s\n' "$out" | grep '^RESULT' | sed "s/^RESULT \([^ ]*\)/RESULT \1${SUFFIX:-}/" |
        tee -a "$RAW" | sed 's/^RESULT //' >"$TMP/res"
    # every sample too ("NAME VALUE" lines, bench/out/samples.txt), for bench/report.sh's plots
    sed "s/^\([^ ]*\)/\1${SUFFIX:-}/" "$TMP/samples" >>"$SAMPLES"
    while read -r name rest; do
        local med p99
        med=$(sed -n 's/.*median=\([^ ]*\).*/\1/p' <<<"$rest")
        p99=$(sed -n 's/.*p99=\([^ ]*\).*/\1/p' <<<"$rest")
        MED[$name]=$med P99[$name]=$p99
    done <"$TMP/res"
}

# Time of a command (ms) -> throughput (GiB/s) for BYTES.
gibs() { awk -v b="$BYTES" -v ms="$1" 'BEGIN { if (ms == "" || ms <= 0) print ""; else printf "%.4f", b / 1073741824 / (ms / 1000) }'; }

# The run times (s) of a hyperfine --export-json file, one per line.
hf_times() {
    if [ "$JSONTOOL" = jq ]; then jq -r '.results[0].times[]' "$1"
    else python3 -c 'import json,sys; print("\n".join(map(str, json.load(open(sys.argv[1]))["results"][0]["times"])))' "$1"; fi
}

# p50/p99 of a hyperfine --export-json file, in ms (nearest rank).
hf_stats() {
    hf_times "$1" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit 1
        k50 = int(0.5 * NR + 0.999999); k99 = int(0.99 * NR + 0.999999)
        printf "%.4f %.4f %d\n", v[k50] * 1000, v[k99] * 1000, NR }'
}

hyper() { # NAME CMD
    local name=$1 cmd=$2 json=$OUT/hyperfine-$1.json
    echo "bench: $name (hyperfine)" >&2
    if hyperfine -N --style none --warmup "$W" --runs "$N" --export-json "$json" "$cmd" >"$TMP/hf.out" 2>&1 &&
        read -r med p99 n < <(hf_stats "$json"); then
        MED[$name]=$med P99[$name]=$p99
        echo "RESULT $name unit=ms n=$n median=$med p99=$p99 (hyperfine)" >>"$RAW"
        hf_times "$json" | awk -v n="$name" '{ printf "%s %.6f\n", n, $1 * 1000 }' >>"$SAMPLES"
    else
        FAILED+=("$name: $(tail -3 "$TMP/hf.out" | tr '\n' ' ')")
    fi
}

# 1+4: fresh sandbox, /bin/true, exit observed.  Peers right after sbx so that
# they see the same machine state.
run "sbx create -> first exec -> destroy" "$B" create "$SOCK" "$IMAGE" "$N" "$W"
run "bare fork+exec+wait /bin/true" "$B" forkexec "$N" "$W"
if [ $HAVE_BWRAP = 1 ]; then
    run "bwrap" "$B" cmd bwrap "$N" "$W" -- \
        bwrap --unshare-all --ro-bind "$ROOTFS" / --proc /proc --dev /dev /bin/true
    [ $HAVE_HYPERFINE = 1 ] &&
        hyper bwrap_hf "bwrap --unshare-all --ro-bind $ROOTFS / --proc /proc --dev /dev /bin/true"
fi

BUNDLE=$TMP/bundle
CRUN_NOTE=
if [ $HAVE_CRUN = 1 ] || [ $HAVE_RUNC = 1 ]; then
    mkdir -p "$BUNDLE"
    spec=crun; [ $HAVE_CRUN = 1 ] || spec=runc
    if (cd "$BUNDLE" && $spec spec >/dev/null 2>&1) && [ -n "$JSONTOOL" ]; then
        if [ "$JSONTOOL" = jq ]; then
            jq --arg r "$ROOTFS" '.root.path = $r | .root.readonly = true
                | .process.args = ["/bin/true"] | .process.terminal = false' \
                "$BUNDLE/config.json" >"$BUNDLE/c.json" && mv "$BUNDLE/c.json" "$BUNDLE/config.json"
        else
            python3 - "$BUNDLE/config.json" "$ROOTFS" <<'EOF'
import json, sys
p, r = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["root"] = {"path": r, "readonly": True}
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
json.dump(c, open(p, "w"), indent=1)
EOF
        fi
    else
        FAILED+=("OCI bundle: '$spec spec' failed or neither jq nor python3 found")
        HAVE_CRUN=0 HAVE_RUNC=0
    fi
fi
if [ $HAVE_CRUN = 1 ]; then
    CRUN="crun --root $TMP/crun-state --cgroup-manager=cgroupfs run -b $BUNDLE sbxbench-crun-$$"
    if [ "$CGMODE" = hybrid ] && [ $HAVE_UNSHARE = 1 ]; then
        # crun refuses hybrid hosts.  (a) the pure runtime: one private mount
        # namespace with the v2 mount detached, the N runs of crun inside it;
        # (b) what a caller pays per container: the unshare+sh+umount wrapper.
        run "crun (private mount ns without cgroup2, made once)" \
            unshare -m --propagation private sh -c \
            'umount /sys/fs/cgroup/unified && exec "$@"' sh "$B" cmd crun "$N" "$W" -- $CRUN
        run "crun via unshare -m sh -c 'umount ...; crun run' per run" "$B" cmd crun_wrapped "$N" "$W" -- \
            unshare -m --propagation private sh -c "umount /sys/fs/cgroup/unified && exec $CRUN"
        CRUN_NOTE="hybrid host: crun run inside unshare -m --propagation private + umount /sys/fs/cgroup/unified"
    else
        run "crun" "$B" cmd crun "$N" "$W" -- $CRUN
    fi
fi
if [ $HAVE_RUNC = 1 ]; then
    run "runc" "$B" cmd runc "$N" "$W" -- \
        runc --root "$TMP/runc-state" run -b "$BUNDLE" "sbxbench-runc-$$"
fi
# The same, but each start arrives after GAP ms of quiet, as creates do in real
# use: per-create costs that back-to-back loops amortize (RCU grace periods
# behind cgroup.procs writes, cold caches) show up here.
run "sbx create, idle daemon" "$B" create "$SOCK" "$IMAGE" "$NI" 2 "$GAP"
if [ $NOWARM = 1 ]; then
    SUFFIX=_nowarm run "sbx --warm 0: create -> first exec" "$B" create "$SOCK0" "$IMAGE" "$N" "$W"
    SUFFIX=_nowarm run "sbx --warm 0: create, idle daemon" "$B" create "$SOCK0" "$IMAGE" "$NI" 2 "$GAP"
fi
if [ $HAVE_BWRAP = 1 ]; then
    run "bwrap, idle" "$B" cmd bwrap_idle "$NI" 2 --gap-ms "$GAP" -- \
        bwrap --unshare-all --ro-bind "$ROOTFS" / --proc /proc --dev /dev /bin/true
fi
if [ $HAVE_UNSHARE = 1 ]; then
    run "unshare 5 namespaces" "$B" cmd unshare5 "$N" "$W" -- unshare -m -u -i -n -p -f /bin/true
fi
if [ $HAVE_HYPERFINE = 1 ]; then
    hyper sbx_run "$BUILD/sbx --socket $SOCK run --image $IMAGE -- /bin/true"
else
    run "sbx run (CLI)" "$B" cmd sbx_run "$N" "$W" -- "$BUILD/sbx" --socket "$SOCK" run --image "$IMAGE" -- /bin/true
fi

# 2: exec round trip in a live session.
run "sbx exec round trip" "$B" exec "$SOCK" "$IMAGE" "$N" "$W"

# 3: stdout streaming.
DD="dd if=/dev/zero bs=1M count=$MIB status=none"
run "stream, framed" "$B" stream "$SOCK" "$IMAGE" "$SRUNS" frames "$BYTES" stream_frames -- $DD
run "stream, NDJSON" "$B" stream "$SOCK" "$IMAGE" "$SRUNS" ndjson "$BYTES" stream_ndjson -- $DD
if CLI_SID=$("$B" session "$SOCK" "$IMAGE" 2>"$TMP/err"); then
    run "stream, CLI" "$B" cmd stream_cli "$SRUNS" 1 --stdout-null -- \
        "$BUILD/sbx" --socket "$SOCK" exec "$CLI_SID" -- $DD
    "$B" rm "$SOCK" "$CLI_SID" 2>/dev/null
else
    FAILED+=("stream, CLI: $(cat "$TMP/err")")
fi
# busybox head -c (the brief's `cat /dev/zero | head -c N`): producer-bound, one run.
run "stream, framed, head -c" "$B" stream "$SOCK" "$IMAGE" 1 frames "$BYTES" stream_head -- \
    head -c "$BYTES" /dev/zero
run "host pipe 64 KiB" "$B" pipe "$SRUNS" "$BYTES"
run "host pipe 1 MiB" "$B" pipe "$SRUNS" "$BYTES" 1048576
run "host dd | cat" "$B" cmd ddcat "$SRUNS" 1 -- sh -c "$DD | cat >/dev/null"
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- table
fmt() { [ -n "${1:-}" ] && printf '%.2f' "$1" || printf 'n/a'; }
ratio() { # a b -> a/b
    [ -n "${1:-}" ] && [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }' || printf '%s' '-'
}
BW=${MED[bwrap]:-}
row() { # label key [ratio-base-key ratio-label]
    local k=$2 r='-'
    if [ -n "${3:-}" ]; then r=$(ratio "${MED[$k]:-}" "${MED[$3]:-}"); [ "$r" = - ] || r="$r${4:+ $4}"; fi
    printf '| %s | %s | %s | %s |\n' "$1" "$(fmt "${MED[$k]:-}")" "$(fmt "${P99[$k]:-}")" "$r"
}
trow() { # label key-of-a-time-in-ms: throughput from time
    printf '| %s | %s | %s | - |\n' "$1" "$(fmt "$(gibs "${MED[$2]:-}")")" "$(fmt "$(gibs "${P99[$2]:-}")")"
}
pass() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi; }

{
    echo "# sbx benchmark"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), $SBX_VERSION, N=$N after $W warm-up (latency), $SRUNS runs x $MIB MiB (throughput)"
    echo "- machine: nproc=$(nproc), $MODEL, kernel $(uname -r), cgroup mode $CGMODE; cgroup2 mount: ${CG2OPTS:-none}"
    echo "- load average before/after: $LOAD0 / $LOAD1 (other work on the host skews every row)"
    echo "- peers: $(for t in bwrap crun runc hyperfine; do command -v $t >/dev/null && printf '%s ' "$($t --version 2>&1 | head -1)"; done)"
    [ ${#missing[@]} -gt 0 ] && echo "- MISSING (rows skipped): ${missing[*]} (apt-get install bubblewrap crun runc hyperfine)"
    [ -n "$CRUN_NOTE" ] && echo "- $CRUN_NOTE"
    echo
    echo "## Fresh sandbox running /bin/true, until its exit is observed (ms)"
    echo
    echo "| measurement | median | p99 | vs bwrap |"
    echo "| --- | ---: | ---: | ---: |"
    row "sbx: POST /v1/sessions -> exec /bin/true -> exit event (API, kept-alive connection)" create_exec bwrap
    row "... of which POST /v1/sessions -> 201" create_only bwrap
    row "... of which POST exec -> exit event (first exec)" first_exec bwrap
    row "sbx run --image busybox -- /bin/true (CLI, hyperfine -N; includes destroy + CLI start)" sbx_run bwrap
    row "bwrap --unshare-all --ro-bind ROOTFS / --proc /proc --dev /dev /bin/true" bwrap bwrap
    row "... same, hyperfine -N (cross-check of the harness)" bwrap_hf bwrap
    row "crun run (OCI bundle on ROOTFS, readonly; cgroupfs)" crun bwrap
    row "crun run incl. the unshare -m sh -c 'umount cgroup2; crun' wrapper" crun_wrapped bwrap
    row "runc run (same bundle)" runc bwrap
    row "unshare -m -u -i -n -p -f /bin/true (namespaces only, no rootfs)" unshare5 bwrap
    row "plain /bin/true, fork+exec+wait (floor)" forkexec bwrap
    echo
    echo "Idle: each start preceded by ${GAP} ms of quiet (N=$NI); ratios vs bwrap measured the same way."
    echo
    echo "| measurement | median | p99 | vs bwrap (idle) |"
    echo "| --- | ---: | ---: | ---: |"
    row "sbx: POST /v1/sessions -> exec /bin/true -> exit event, idle daemon" create_exec_idle bwrap_idle
    row "... of which POST /v1/sessions -> 201" create_only_idle bwrap_idle
    row "... of which first exec -> exit event" first_exec_idle bwrap_idle
    row "bwrap --unshare-all ... /bin/true, idle" bwrap_idle bwrap_idle
    if [ $NOWARM = 1 ]; then
        echo
        echo "Without the warm pool (a second sbxd started with --warm 0), same measurements."
        echo
        echo "| measurement | median | p99 | vs bwrap |"
        echo "| --- | ---: | ---: | ---: |"
        row "sbx --warm 0: create -> first exec -> exit event" create_exec_nowarm bwrap
        row "... of which POST /v1/sessions -> 201" create_only_nowarm bwrap
        row "... of which first exec -> exit event" first_exec_nowarm bwrap
        row "sbx --warm 0, idle daemon: create -> first exec -> exit event" create_exec_idle_nowarm bwrap_idle "(idle)"
        row "... of which POST /v1/sessions -> 201" create_only_idle_nowarm bwrap_idle "(idle)"
        row "... of which first exec -> exit event" first_exec_idle_nowarm bwrap_idle "(idle)"
    fi
    echo
    echo "## Live session (ms)"
    echo
    echo "| measurement | median | p99 | ratio |"
    echo "| --- | ---: | ---: | ---: |"
    row "sbx exec /bin/true round trip: POST exec -> exit event" exec_rt forkexec "fork+exec"
    row "bare fork+exec+wait /bin/true (same program)" forkexec forkexec "fork+exec"
    row "sbx destroy: DELETE /v1/sessions/ID -> 204" destroy
    row "sbx destroy, idle daemon" destroy_idle
    echo
    echo "## stdout streaming, $MIB MiB of zeros (GiB/s; p99 column = slowest run)"
    echo
    echo "| measurement | median | p99 | ratio |"
    echo "| --- | ---: | ---: | ---: |"
    row "sbx API, framed (\`$DD\`)" stream_frames
    row "sbx API, NDJSON (base64), same command" stream_ndjson
    trow "sbx CLI: \`sbx exec ID -- $DD > /dev/null\`" stream_cli
    row "sbx API, framed, \`head -c $BYTES /dev/zero\` (1 run; busybox head is the bottleneck)" stream_head
    row "host pipe, default 64 KiB capacity (C loop, 1 MiB writes/reads)" pipe
    row "host pipe, 1 MiB capacity (F_SETPIPE_SZ, as sbxd sets)" pipe_big
    trow "host \`$DD \| cat > /dev/null\`" ddcat
    echo
    echo "## Targets"
    echo
    echo "| target | result | |"
    echo "| --- | --- | --- |"
    if [ -n "${MED[create_exec]:-}" ] && [ -n "$BW" ]; then
        echo "| create->first exec p50 below bwrap's | $(fmt "${MED[create_exec]}") ms vs $(fmt "$BW") ms ($(ratio "${MED[create_exec]}" "$BW")) | $(pass "${MED[create_exec]} < $BW") |"
    else
        echo "| create->first exec p50 below bwrap's | n/a | - |"
    fi
    if [ -n "${MED[create_exec_idle]:-}" ] && [ -n "${MED[bwrap_idle]:-}" ]; then
        echo "| (same, idle: each start after ${GAP} ms of quiet) | $(fmt "${MED[create_exec_idle]}") ms vs $(fmt "${MED[bwrap_idle]}") ms ($(ratio "${MED[create_exec_idle]}" "${MED[bwrap_idle]}")) | $(pass "${MED[create_exec_idle]} < ${MED[bwrap_idle]}") |"
    fi
    if [ -n "${MED[exec_rt]:-}" ] && [ -n "${MED[forkexec]:-}" ]; then
        echo "| exec round trip within 2x bare fork+exec | $(fmt "${MED[exec_rt]}") ms vs $(fmt "${MED[forkexec]}") ms ($(ratio "${MED[exec_rt]}" "${MED[forkexec]}")) | $(pass "${MED[exec_rt]} <= 2 * ${MED[forkexec]}") |"
    fi
    if [ -n "${MED[stream_frames]:-}" ]; then
        echo "| stream >= 1 GiB/s (framed, median) | $(fmt "${MED[stream_frames]}") GiB/s | $(pass "${MED[stream_frames]} >= 1") |"
    fi
    if [ ${#FAILED[@]} -gt 0 ]; then
        echo
        echo "## Failed measurements"
        echo
        for f in "${FAILED[@]}"; do echo "- $f"; done
    fi
} >"$OUT/results.md"
cat "$OUT/results.md"
echo
echo "bench: written to bench/out/results.md (raw: bench/out/raw.txt)" >&2
[ ${#FAILED[@]} -eq 0 ]
