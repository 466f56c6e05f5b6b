#!/bin/bash
# tests/tools/loadgen-selftest.sh LOADGEN - loadgen's generator and checker
# against each other (make tools-test): an intact stream passes; a stream
# with a byte lost, changed, added, or its end cut off fails.
set -uo pipefail
lg=$1
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fails=0
check() { # WHAT EXPECTED_RC FD < stream
    local out rc
    out=$("$lg" verify 7 "$3")
    rc=$?
    if [ "$rc" = "$2" ]; then echo "ok - loadgen: $1"; else echo "not ok - loadgen: $1: exit $rc: $out"; fails=$((fails + 1)); fi
}
"$lg" gen 7 1 300000 >"$d/1" 2>"$d/2"
rc=$?
[ "$rc" = 0 ] && echo "ok - loadgen gen exits 7 % 7" || { echo "not ok - loadgen gen exit $rc"; fails=$((fails + 1)); }
n=$(stat -c %s "$d/1")
[ "$n" -gt 200000 ] || { echo "not ok - loadgen gen wrote only $n bytes"; fails=$((fails + 1)); }
check "intact stdout passes" 0 1 <"$d/1"
check "intact stderr passes" 0 2 <"$d/2"
check "stderr checked as stdout fails" 1 1 <"$d/2"
m=$((n / 2))
{ head -c "$m" "$d/1"; tail -c +$((m + 2)) "$d/1"; } | check "a lost byte fails" 1 1
{ head -c "$m" "$d/1"; printf 'x'; tail -c +$((m + 2)) "$d/1"; } | check "a changed byte fails" 1 1
{ head -c "$m" "$d/1"; printf 'x'; tail -c +$((m + 1)) "$d/1"; } | check "an added byte fails" 1 1
head -c $((n - 1)) "$d/1" | check "a cut end fails" 1 1
{ cat "$d/1"; printf 'x'; } | check "a byte after the end fails" 1 1
[ "$fails" = 0 ]
