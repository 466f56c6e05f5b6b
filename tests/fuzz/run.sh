#!/bin/bash
# tests/fuzz/run.sh BUILD SECONDS fresh|keep TARGET... - run libFuzzer targets
# (make fuzz, make fuzz-long; README "Fuzzing").
#
# Each target runs SECONDS on BUILD/corpus/TARGET, a working copy of
# tests/fuzz/corpus/TARGET: "fresh" makes a new copy each time (make fuzz: the
# repo's corpus is never written), "keep" adds to what the last run left there
# (make fuzz-long; merge it back with -merge=1, see README). Crashes, leaks,
# UB reports, timeouts (FUZZ_TIMEOUT s per input) land in
# BUILD/artifacts/TARGET/ with the log in BUILD/logs/TARGET.log; any of them
# fails the run. FUZZ_JOBS=N runs N workers per target (-fork=N).
set -u
build=$1 secs=$2 mode=$3
shift 3
here=$(dirname "$0")
fail=0
for t in "$@"; do
    bin=$build/fuzz_$t corpus=$build/corpus/$t art=$build/artifacts/$t/ log=$build/logs/$t.log
    [ -x "$bin" ] || { echo "fuzz: $bin missing (make fuzz-build)" >&2; exit 1; }
    [ "$mode" = keep ] || rm -rf "$corpus" "$art"
    mkdir -p "$corpus" "$art" "$build/logs"
    cp -n "$here/corpus/$t"/* "$corpus"/ 2>/dev/null || true
    opts=(-max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048
          -max_len=65536 -artifact_prefix="$art" -print_final_stats=1)
    [ -f "$here/$t.dict" ] && opts+=(-dict="$here/$t.dict")
    [ -n "${FUZZ_JOBS:-}" ] && opts+=(-fork="$FUZZ_JOBS" -ignore_crashes=0)
    start=$(date +%s)
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$bin" "${opts[@]}" "$corpus" >"$log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1 | grep -o '[0-9]*')
    took=$(($(date +%s) - start))
    if [ $rc = 0 ]; then
        echo "ok - fuzz_$t: ${runs:-?} runs in ${took}s, cov ${cov:-?}, corpus $(ls "$corpus" | wc -l)"
    else
        echo "not ok - fuzz_$t: exit $rc after ${took}s; log $log; artifacts:"
        ls "$art" | sed "s|^|    $art|"
        grep -m1 -A12 -E '^==[0-9]+==ERROR|runtime error|fuzz invariant broken|ALARM|ERROR: libFuzzer' "$log" | sed 's/^/    /'
        fail=1
    fi
done
[ $fail = 0 ] && [ "$mode" = keep ] && echo "fuzz: merge new inputs into the repo's corpus: README \"Fuzzing\""
exit $fail
