#!/bin/bash
# Runs each unit-test binary given; prints their lines and one total.
set -u
pass=0 fail=0
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    echo "$out" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$'
    line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n1)
    if [ -z "$line" ]; then
        echo "not ok - $(basename "$t"): crashed or printed no summary (exit $rc)"
        fail=$((fail + 1)); continue
    fi
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
    pass=$((pass + p)); fail=$((fail + f))
    [ $rc = 0 ] || [ "$f" != 0 ] || { echo "not ok - $(basename "$t"): exit $rc"; fail=$((fail + 1)); }
done
echo "unit: $pass passed, $fail failed"
[ $fail = 0 ]
