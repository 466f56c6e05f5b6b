# test_resources.sh - memory, pids and cpu limits: enforced, reported, visible
# in the host's cgroup files.

test_memory_limit_oom_kills_and_session_survives() {
    new_session '{"image":"busybox","limits":{"memory":"32M"}}'
    # dd allocates (and fills) a 64 MiB buffer
    api_exec "$SID" '{"argv":["dd","if=/dev/zero","of=/dev/null","bs=64M","count=1"],"timeout":60}'
    assert_eq 200 "$EXEC_CODE" "exec status ($EXEC_BODY)"
    local ex
    ex=$(ndjson_exit "$T/exec.out")
    assert_eq "null 9 true false" "$(jq -r '"\(.code) \(.signal) \(.oom_killed) \(.timed_out)"' <<<"$ex")" "exit event of the memory hog ($ex)"
    # the session lives on
    session_json "$SID"
    assert_eq running "$(jb .state)" "session state after the OOM kill"
    assert_ge "$(jb .usage.oom_kills)" 1 "usage.oom_kills"
    assert_le "$(jb .usage.memory_peak)" $((32 * 1048576)) "usage.memory_peak (bytes) within the 32M limit"
    sx "$SID" -- echo alive
    assert_eq "0 alive" "$SX_RC $SX_OUT" "an exec after the OOM kill"
    # a process that stays under the limit is not flagged
    api_exec "$SID" '{"argv":["dd","if=/dev/zero","of=/dev/null","bs=1M","count=8"]}'
    assert_eq "0 false" "$(ndjson_exit "$T/exec.out" | jq -r '"\(.code) \(.oom_killed)"')" "exit of a small allocation after the OOM"
    # a process killed with SIGKILL by someone else is not an OOM kill
    api_exec "$SID" '{"argv":["sh","-c","kill -KILL $$"]}'
    assert_eq "9 false" "$(ndjson_exit "$T/exec.out" | jq -r '"\(.signal) \(.oom_killed)"')" "exit of a SIGKILLed process after the OOM"
}

test_cli_reports_oom_and_exits_137() {
    new_session '{"image":"busybox","limits":{"memory":"32M"}}'
    sx "$SID" -- dd if=/dev/zero of=/dev/null bs=64M count=1
    assert_eq 137 "$SX_RC" "sbx exec of a memory hog: exit status"
    assert_contains "$SX_ERR" "out of memory" "sbx exec of a memory hog: stderr"
    sbx run --image busybox --memory 32M -- dd if=/dev/zero of=/dev/null bs=64M count=1 2>"$T/err"
    assert_eq 137 $? "sbx run of a memory hog: exit status"
    assert_contains "$(cat "$T/err")" "out of memory" "sbx run of a memory hog: stderr"
    sx "$SID" -- echo alive
    assert_eq alive "$SX_OUT" "an exec after the OOM"
}

test_fork_bomb_is_capped_by_pids_limit() {
    local limit=32
    new_session "{\"image\":\"busybox\",\"limits\":{\"pids\":$limit}}"
    assert_eq "$limit" "$(cat "$(cg_limit_file pids "$SID")")" "host pids.max"
    # A subshell forks sleeps until fork fails (and dies of it), then the
    # exec's process becomes `sleep 30`: the exec timeout kills the group.
    curl -sS -N --max-time 60 --unix-socket "$SOCK" -X POST -o "$T/bomb.out" \
        -d '{"argv":["sh","-c","(for i in $(seq 500); do sleep 30 & done); exec sleep 30"],"timeout":'$((3 * IT_SLOW))'}' \
        "http://sbx/v1/sessions/$SID/exec" &
    local cpid=$! max=0 n host_max=0 h
    local pidsfile
    pidsfile=$(dirname "$(cg_limit_file pids "$SID")")/pids.current
    while kill -0 "$cpid" 2>/dev/null; do
        n=$(session_field "$SID" .usage.pids_current)
        [ -n "$n" ] && [ "$n" -gt "$max" ] && max=$n
        h=$(cat "$pidsfile" 2>/dev/null)
        [ -n "$h" ] && [ "$h" -gt "$host_max" ] && host_max=$h
        sleep 0.1
    done
    wait "$cpid"
    note "pids_current peaked at $max (host pids.current $host_max), limit $limit"
    assert_le "$max" "$limit" "usage.pids_current during the bomb"
    assert_le "$host_max" "$limit" "host pids.current during the bomb"
    assert_ge "$max" $((limit - 3)) "usage.pids_current during the bomb (the bomb reached the limit)"
    assert_contains "$(ndjson_data "$T/bomb.out" stderr)" "can't fork" "stderr of the bomb"
    assert_eq "9 true" "$(ndjson_exit "$T/bomb.out" | jq -r '"\(.signal) \(.timed_out)"')" "exit of the bomb (timed out)"
    wait_until 10 _session_pids_is "$SID" 1 || fail "pids_current $(session_field "$SID" .usage.pids_current) 10 s after the bomb was killed (expected 1: init)"
    sx "$SID" -- echo alive
    assert_eq "0 alive" "$SX_RC $SX_OUT" "an exec after the bomb"
    # a bomb that leaves its children behind: they hold the pids, the session
    # still answers once they are killed
    sx -t 10 "$SID" -- sh -c 'for i in $(seq 500); do sleep 30 & done'
    assert_ne 0 "$SX_RC" "second bomb (exits when fork fails)"
    n=$(session_field "$SID" .usage.pids_current)
    assert_le "$n" "$limit" "pids_current with the second bomb's leftovers"
    sx -t 10 "$SID" -- killall sleep
    wait_until 10 _session_pids_is "$SID" 1 || fail "pids_current $(session_field "$SID" .usage.pids_current) after killall (exec status $SX_RC: $SX_ERR)"
    sx "$SID" -- echo alive
    assert_eq "0 alive" "$SX_RC $SX_OUT" "an exec after killing the leftovers"
}

test_cpu_limit_throttles_busy_loop() {
    new_session '{"image":"busybox","limits":{"cpu":0.2}}'
    local before after used
    before=$(session_field "$SID" .usage.cpu_usec)
    api_exec "$SID" '{"argv":["sh","-c","while :; do :; done"],"timeout":2}'
    assert_eq "9 true" "$(ndjson_exit "$T/exec.out" | jq -r '"\(.signal) \(.timed_out)"')" "exit of the busy loop"
    after=$(session_field "$SID" .usage.cpu_usec)
    used=$((after - before))
    note "busy loop for 2 s at cpu 0.2 used $used us of CPU"
    [ "$used" -ge 100000 ] || fail "the busy loop got only $used us of CPU in 2 s (expected about 400000 at cpu 0.2)"
    [ "$used" -le 800000 ] || fail "the busy loop got $used us of CPU in 2 s with cpu 0.2 (expected about 400000, at most 800000): not throttled"
}

test_limits_are_written_to_host_cgroup_files() {
    new_session '{"image":"busybox","limits":{"memory":"64M","pids":100,"cpu":0.5}}'
    local id=$SID pid1
    pid1=$(jq -r .pid <<<"$SESSION")
    local d
    for d in $(cg_dirs "$CGN" "$id"); do
        [ -d "$d" ] || fail "cgroup $d missing"
        grep -qx "$pid1" "$d/cgroup.procs" || fail "the session's init ($pid1) is not in $d"
    done
    assert_eq 67108864 "$(cat "$(cg_limit_file memory "$id")")" "host memory limit ($(cg_limit_file memory "$id"))"
    assert_eq 100 "$(cat "$(cg_limit_file pids "$id")")" "host pids.max"
    if [ "$IT_CG_MODE" = v2 ]; then
        assert_eq "50000 100000" "$(cat "$(cg_limit_file cpu "$id")")" "host cpu.max"
        [ ! -e "/sys/fs/cgroup/$CGN/$id/memory.swap.max" ] ||
            assert_eq 0 "$(cat "/sys/fs/cgroup/$CGN/$id/memory.swap.max")" "host memory.swap.max"
    else
        assert_eq 50000 "$(cat "$(cg_limit_file cpu "$id")")" "host cpu.cfs_quota_us"
        assert_eq 100000 "$(cat "/sys/fs/cgroup/cpu/$CGN/$id/cpu.cfs_period_us")" "host cpu.cfs_period_us"
        local sw="/sys/fs/cgroup/memory/$CGN/$id/memory.memsw.limit_in_bytes"
        [ ! -e "$sw" ] || assert_eq 67108864 "$(cat "$sw")" "host memory.memsw.limit_in_bytes"
    fi
    # an exec'd process lands in the same cgroups
    _bg_sleep "$id" 108
    for d in $(cg_dirs "$CGN" "$id"); do
        grep -qx "$BG_HOSTPID" "$d/cgroup.procs" || fail "an exec'd process ($BG_HOSTPID) is not in $d"
    done
    # defaults: 512M, 1024 pids, no cpu limit
    new_session
    assert_eq 536870912 "$(cat "$(cg_limit_file memory "$SID")")" "host memory limit of a default session"
    assert_eq 1024 "$(cat "$(cg_limit_file pids "$SID")")" "host pids.max of a default session"
    if [ "$IT_CG_MODE" = v2 ]; then
        assert_eq "max 100000" "$(cat "$(cg_limit_file cpu "$SID")")" "host cpu.max of a default session"
    else
        assert_eq -1 "$(cat "$(cg_limit_file cpu "$SID")")" "host cpu.cfs_quota_us of a default session"
    fi
}
