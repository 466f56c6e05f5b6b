# test_api.sh - the API and CLI basics (docs/api.md).

test_health_reports_version_cgroup_mode_and_counts() {
    api GET /v1/health
    assert_eq 200 "$API_CODE" "GET /v1/health status"
    assert_match "$(jb .version)" '^[0-9]+\.[0-9]+\.[0-9]+' "health version"
    local mode expect
    mode=$(jb .cgroup)
    # what the host really is: a cgroup2 mount at /sys/fs/cgroup = v2
    if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then expect=v2; else expect=hybrid; fi
    assert_eq "$expect" "$mode" "health cgroup mode"
    assert_eq "0 0" "$(jb '"\(.sessions) \(.execs)"')" "health counts with nothing running"
    assert_match "$(jb .uptime)" '^[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$' "health uptime"
    # warm pool (if the daemon has one): prepared sandboxes, never more than configured
    local warm
    warm=$(jb '.warm // 0')
    assert_match "$warm" '^[0-9]+$' "health warm"
    assert_le "$warm" "$IT_WARM_MAX" "health warm (sbxd --warm default $IT_WARM_MAX)"
    # the socket is for root and group sbx only
    assert_eq 660 "$(stat -c %a "$SOCK")" "mode of the API socket"

    new_session
    local a=$SID
    new_session
    # an exec that runs while we look
    curl -sS -N --max-time 60 --unix-socket "$SOCK" -X POST -d '{"argv":["sleep","30"]}' \
        "http://sbx/v1/sessions/$a/exec" >/dev/null 2>&1 &
    wait_until 20 _health_execs_is 1 || fail "health execs never became 1: $(short "$API_BODY")"
    assert_eq 2 "$(jb .sessions)" "health sessions with two sessions"
    kill %1 2>/dev/null
    wait_until 20 _health_execs_is 0 || fail "health execs did not return to 0: $(short "$API_BODY")"
}

_health_execs_is() { api GET /v1/health && [ "$(jb .execs)" = "$1" ]; }

test_create_returns_201_with_id_state_limits_labels() {
    api POST /v1/sessions '{"image":"busybox","limits":{"memory":"64M","pids":100,"cpu":0.5},"env":{"FOO":"bar"},"labels":{"team":"data","x":""},"ttl":3600}'
    assert_eq 201 "$API_CODE" "create status ($(short "$API_BODY"))"
    local id
    id=$(jb .id)
    assert_match "$id" '^[0-9a-f]{12}$' "session id"
    assert_eq running "$(jb .state)" "state"
    assert_eq busybox "$(jb .image)" "image"
    assert_eq 67108864 "$(jb .limits.memory)" "limits.memory (64M in bytes)"
    assert_eq 100 "$(jb .limits.pids)" "limits.pids"
    assert_eq 0.5 "$(jb .limits.cpu)" "limits.cpu"
    assert_eq '{"team":"data","x":""}' "$(jb '.labels | tojson')" "labels"
    assert_eq '{"FOO":"bar"}' "$(jb '.env | tojson')" "env"
    assert_match "$(jb .created_at)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$' "created_at"
    assert_match "$(jb .expires_at)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "expires_at with a ttl"
    local c e
    c=$(date -d "$(jb .created_at)" +%s) e=$(date -d "$(jb .expires_at)" +%s)
    assert_eq 3600 $((e - c)) "expires_at - created_at"
    assert_match "$(jb .pid)" '^[1-9][0-9]*$' "pid"
    [ -d "/proc/$(jb .pid)" ] || fail "pid $(jb .pid) of the session's init is not a host process"
    assert_eq 0 "$(jb .execs)" "execs"
    # the env applies to execs; the exec's own env wins
    sx "$id" -- sh -c 'echo "$FOO"'
    assert_eq bar "$SX_OUT" "session env in an exec"
    sx -e FOO=baz -e NEW=1 "$id" -- sh -c 'echo "$FOO $NEW $PATH $HOME $USER $HOSTNAME"'
    assert_eq "baz 1 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /home/sandbox sandbox $id" "$SX_OUT" "exec env over session env and defaults"
    # defaults
    new_session
    assert_eq "536870912 1024 null null" "$(jq -r '"\(.limits.memory) \(.limits.pids) \(.limits.cpu) \(.expires_at)"' <<<"$SESSION")" "default limits and no expiry"
}

test_list_includes_created_sessions() {
    api GET /v1/sessions
    assert_eq 200 "$API_CODE" "GET /v1/sessions"
    assert_eq 0 "$(jb '.sessions | length')" "sessions before"
    new_session '{"image":"busybox","labels":{"n":"1"}}'
    local a=$SID
    new_session '{"image":"busybox","labels":{"n":"2"}}'
    local b=$SID
    api GET /v1/sessions
    assert_eq 200 "$API_CODE" "GET /v1/sessions"
    assert_eq "$(printf '%s\n' "$a" "$b" | sort | tr '\n' ' ')" "$(jb '.sessions[].id' | sort | tr '\n' ' ')" "listed ids"
    assert_eq 1 "$(jq --arg a "$a" '[.sessions[] | select(.id == $a and .labels.n == "1" and .state == "running")] | length' <<<"$API_BODY")" "session $a in the list with its labels"
    api DELETE "/v1/sessions/$a"
    api GET /v1/sessions
    assert_eq "$b" "$(jb '.sessions[].id')" "list after removing $a"
}

test_inspect_reports_usage_fields() {
    new_session
    must_sh "$SID" 'echo hi >/dev/null'
    session_json "$SID"
    assert_eq 200 "$API_CODE" "GET session"
    assert_eq "$SID" "$(jb .id)" "id"
    local k v
    for k in memory_current memory_peak pids_current cpu_usec oom_kills; do
        v=$(jb ".usage.$k")
        assert_match "$v" '^[0-9]+$' "usage.$k"
    done
    assert_ge "$(jb .usage.memory_current)" 1 "usage.memory_current of a running session"
    assert_ge "$(jb .usage.memory_peak)" "$(jb .usage.memory_current)" "usage.memory_peak >= memory_current"
    assert_eq 1 "$(jb .usage.pids_current)" "usage.pids_current (only init)"
    assert_ge "$(jb .usage.cpu_usec)" 1 "usage.cpu_usec after an exec"
    assert_eq 0 "$(jb .usage.oom_kills)" "usage.oom_kills"
    for k in id state image created_at expires_at limits env labels pid execs usage; do
        assert_eq true "$(jb "has(\"$k\")")" "session has field $k"
    done
}

test_delete_returns_204_then_404() {
    new_session
    api DELETE "/v1/sessions/$SID"
    assert_eq 204 "$API_CODE" "DELETE status"
    assert_eq "" "$API_BODY" "DELETE body"
    API_WHAT="GET after DELETE" api GET "/v1/sessions/$SID"
    API_WHAT="GET after DELETE" expect_error 404 not_found "$SID"
    API_WHAT="second DELETE" api DELETE "/v1/sessions/$SID"
    API_WHAT="second DELETE" expect_error 404 not_found "$SID"
    API_WHAT="exec after DELETE" api POST "/v1/sessions/$SID/exec" '{"argv":["true"]}'
    API_WHAT="exec after DELETE" expect_error 404 not_found "$SID"
    assert_no_leaks
}

test_cli_create_prints_only_the_id() {
    sbx create --image busybox --memory 64M --pids 50 --label a=b --env X=y >"$T/out" 2>"$T/err"
    local rc=$? out
    out=$(cat "$T/out")
    assert_eq 0 "$rc" "sbx create exit status (stderr: $(cat "$T/err"))"
    assert_match "$out" '^[0-9a-f]{12}$' "sbx create stdout (only the id)"
    assert_eq 1 "$(wc -l <"$T/out")" "sbx create prints one line"
    assert_eq "" "$(cat "$T/err")" "sbx create stderr"
    session_json "$out"
    assert_eq "67108864 50 b" "$(jb '"\(.limits.memory) \(.limits.pids) \(.labels.a)"')" "created session's limits and labels"
    # errors go to stderr, nothing on stdout
    sbx create --image nosuchimage >"$T/out" 2>"$T/err"
    rc=$?
    assert_eq 1 "$rc" "sbx create of an unknown image: exit status"
    assert_eq "" "$(cat "$T/out")" "sbx create of an unknown image: stdout"
    assert_contains "$(cat "$T/err")" nosuchimage "sbx create of an unknown image: stderr"
}

test_cli_exec_separates_stdout_stderr_and_exit_code() {
    new_session
    sx "$SID" -- sh -c 'echo out; echo err >&2; exit 3'
    assert_eq 3 "$SX_RC" "exit status"
    assert_eq out "$SX_OUT" "stdout"
    assert_eq err "$SX_ERR" "stderr"
    sx "$SID" -- true
    assert_eq "0||" "$SX_RC|$SX_OUT|$SX_ERR" "true: status|stdout|stderr"
    # killed by a signal: 128+N
    sx "$SID" -- sh -c 'kill -TERM $$'
    assert_eq 143 "$SX_RC" "killed by SIGTERM: exit status"
    # options: env, cwd, user
    sx -e A=1 -e B=two -w /tmp -u root "$SID" -- sh -c 'echo "$A $B $(pwd) $(id -u)"'
    assert_eq "1 two /tmp 0" "$SX_OUT" "exec -e/-w/-u"
}

test_cli_run_executes_and_leaves_no_session() {
    local out rc
    out=$(sbx run --image busybox -- uname -a 2>"$T/err")
    rc=$?
    assert_eq 0 "$rc" "sbx run exit status (stderr: $(cat "$T/err"))"
    assert_match "$out" '^Linux [0-9a-f]{12} ' "uname -a output (hostname = session id)"
    sbx run --image busybox -- sh -c 'exit 7' 2>"$T/err"
    assert_eq 7 $? "sbx run propagates the exit status"
    api GET /v1/sessions
    assert_eq 0 "$(jb '.sessions | length')" "sessions left after sbx run"
    assert_no_leaks
}

test_cli_ls_inspect_rm_manage_sessions() {
    new_session '{"image":"busybox","labels":{"team":"data"}}'
    local a=$SID
    new_session
    local b=$SID
    local out
    out=$(sbx ls)
    assert_eq 0 $? "sbx ls exit status"
    assert_match "$(head -n 1 <<<"$out")" '^ID +IMAGE +STATE +CREATED +EXECS +LABELS' "sbx ls header"
    assert_match "$out" "$a +busybox +running +[0-9]+s ago +0 +team=data" "sbx ls row of $a"
    assert_match "$out" "$b +busybox +running" "sbx ls row of $b"
    assert_eq 3 "$(wc -l <<<"$out")" "sbx ls lines"
    assert_eq "$(printf '%s\n' "$a" "$b" | sort)" "$(sbx ls -q | sort)" "sbx ls -q"
    assert_eq "$(printf '%s\n' "$a" "$b" | sort)" "$(sbx ls --json | jq -r '.sessions[].id' | sort)" "sbx ls --json"
    out=$(sbx inspect "$a")
    assert_eq 0 $? "sbx inspect exit status"
    assert_eq "$a running data" "$(jq -r '"\(.id) \(.state) \(.labels.team)"' <<<"$out")" "sbx inspect JSON"
    sbx inspect 000000000000 >"$T/out" 2>"$T/err"
    assert_eq 1 $? "sbx inspect of a missing session: exit status"
    assert_contains "$(cat "$T/err")" 000000000000 "sbx inspect of a missing session: stderr"
    out=$(sbx rm "$a" "$b")
    assert_eq 0 $? "sbx rm exit status"
    assert_eq "$(printf '%s\n' "$a" "$b")" "$out" "sbx rm prints the ids removed"
    assert_eq "" "$(sbx ls -q)" "sbx ls -q after rm"
    sbx rm "$a" >"$T/out" 2>"$T/err"
    assert_eq 1 $? "sbx rm of a removed session: exit status"
    assert_contains "$(cat "$T/err")" "$a" "sbx rm of a removed session: stderr"
    assert_no_leaks
}

test_parallel_creates_get_distinct_sessions() {
    local i
    for i in 1 2 3 4 5; do
        curl -sS --max-time 60 --unix-socket "$SOCK" -X POST -d '{"image":"busybox"}' \
            -o "$T/c$i.json" -w '%{http_code}' "http://sbx/v1/sessions" >"$T/c$i.code" &
    done
    wait
    local ids=() uids=()
    for i in 1 2 3 4 5; do
        assert_eq 201 "$(cat "$T/c$i.code")" "parallel create $i ($(short "$(cat "$T/c$i.json")"))"
        ids+=("$(jq -r .id "$T/c$i.json")")
    done
    assert_eq 5 "$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)" "distinct ids of 5 parallel creates"
    for i in "${ids[@]}"; do
        sx "$i" -- sh -c 'cat /proc/self/uid_map; hostname'
        assert_eq 0 "$SX_RC" "exec in $i ($SX_ERR)"
        assert_eq "$i" "$(sed -n 2p <<<"$SX_OUT")" "hostname of $i"
        uids+=("$(awk 'NR == 1 { print $2 }' <<<"$SX_OUT")")
    done
    assert_eq 5 "$(printf '%s\n' "${uids[@]}" | sort -u | wc -l)" "distinct host id ranges of 5 sessions (${uids[*]})"
    api GET /v1/health
    assert_eq 5 "$(jb .sessions)" "health sessions"
}
