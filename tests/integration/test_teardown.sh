# test_teardown.sh - removing sessions (DELETE, sbx run, ttl, failed create,
# daemon stop, daemon restart after a crash) leaves nothing on the host.

# Background processes that outlive their exec, plus a running exec; checks
# they are there (host view). Sets BUSY_NETNS (the session's net namespace).
_make_busy() { # ID
    must_sh "$1" 'sleep 1000 >/dev/null 2>&1 & sleep 1001 >/dev/null 2>&1 & echo x >/tmp/file; echo started'
    curl -sS -N --max-time 120 --unix-socket "$SOCK" -X POST -o "$T/busy.$1.out" \
        -d '{"argv":["sleep","1002"]}' "http://sbx/v1/sessions/$1/exec" &
    wait_until 20 _busy_up "$1" || fail "background processes of session $1 not running: $(range_procs)"
    BUSY_NETNS=$(readlink "/proc/$(session_field "$1" .pid)/ns/net")
    [ -d "$STATE/sessions/$1" ] || fail "no workspace $STATE/sessions/$1 for a running session"
}
_busy_up() {
    [ "$(session_field "$1" .usage.pids_current)" = 4 ] && [ "$(session_field "$1" .execs)" = 1 ]
}

_netns_gone() { ! ps -eo netns= | grep -qx "$(tr -dc 0-9 <<<"$1")"; }

test_delete_with_background_processes_leaves_nothing() {
    new_session
    local a=$SID
    _make_busy "$a"
    local ns_a=$BUSY_NETNS
    new_session
    local b=$SID
    _make_busy "$b"
    api DELETE "/v1/sessions/$a"
    assert_eq 204 "$API_CODE" "DELETE $a"
    # b is untouched
    assert_eq "4 1" "$(session_field "$b" '"\(.usage.pids_current) \(.execs)"')" "pids and execs of the other session"
    _netns_gone "$ns_a" || fail "net namespace $ns_a of the removed session still used: $(ps -eo pid,netns,args | grep "$(tr -dc 0-9 <<<"$ns_a")")"
    api DELETE "/v1/sessions/$b"
    assert_eq 204 "$API_CODE" "DELETE $b"
    assert_no_leaks
}

test_cli_run_leaves_nothing() {
    local out
    out=$(sbx run --image busybox -- sh -c 'sleep 1000 >/dev/null 2>&1 & echo x >/tmp/f; echo hi')
    assert_eq "0 hi" "$? $out" "sbx run with a background process"
    assert_no_leaks
    # interrupted: SIGINT removes the session
    sbx run --image busybox -- sleep 1000 >"$T/out" 2>"$T/err" &
    local spid=$!
    wait_until 20 _one_session_running || fail "the session of sbx run did not appear"
    # the timeout wrapper forwards nothing: signal sbx itself
    local cli
    cli=$(pgrep -P "$spid" -f "sbx run" | head -1)
    [ -n "$cli" ] || cli=$spid
    kill -INT "$cli"
    wait_until 20 _gone "$spid" || fail "sbx run did not exit 20 s after SIGINT"
    wait "$spid"
    assert_eq 130 $? "sbx run exit status after SIGINT"
    assert_no_leaks
}
_one_session_running() {
    api GET /v1/sessions
    [ "$(jb '[.sessions[] | select(.execs == 1)] | length')" = 1 ]
}

test_ttl_expiry_removes_session_and_leaves_nothing() {
    new_session '{"image":"busybox","ttl":1}'
    local id=$SID
    assert_match "$(jq -r .expires_at <<<"$SESSION")" '^[0-9]{4}-' "expires_at"
    _make_busy "$id"
    wait_until 15 session_gone "$id" || fail "session with ttl 1 still there after 15 s"
    # the running exec ended with an exit event
    wait_until 10 _no_jobs || fail "the exec stream did not end after the ttl expired"
    assert_eq 9 "$(ndjson_exit "$T/busy.$id.out" | jq -r .signal)" "exit.signal of the exec cut by the ttl ($(short "$(cat "$T/busy.$id.out")"))"
    assert_no_leaks
    # sbx run with a ttl shorter than its command: still no trace, clean exit status
    sbx run --image busybox --ttl 1 -- sleep 5 >"$T/out" 2>"$T/err"
    local rc=$?
    assert_eq 137 "$rc" "sbx run --ttl 1 -- sleep 5: exit status (stderr: $(cat "$T/err"))"
    assert_no_leaks
}
_no_jobs() { [ -z "$(jobs -pr)" ]; }

test_failed_create_leaves_nothing() {
    # images whose /proc or /dev is a symlink (to a host path): the sandbox
    # cannot be built, and nothing may be mounted on the symlink's target
    mkdir -p "$T/decoy"
    local img
    for img in evil-proc evil-dev evil-tmp; do
        mkdir -p "$STATE/images/$img/rootfs"
        defer rm -rf "$STATE/images/$img"
        mkdir -p "$STATE/images/$img/rootfs/"{proc,dev,tmp}
    done
    rmdir "$STATE/images/evil-proc/rootfs/proc" && ln -s "$T/decoy" "$STATE/images/evil-proc/rootfs/proc"
    rmdir "$STATE/images/evil-dev/rootfs/dev" && ln -s "$T/decoy" "$STATE/images/evil-dev/rootfs/dev"
    rmdir "$STATE/images/evil-tmp/rootfs/tmp" && ln -s "$T/decoy" "$STATE/images/evil-tmp/rootfs/tmp"
    for img in evil-proc evil-dev evil-tmp; do
        api POST /v1/sessions "{\"image\":\"$img\"}"
        [[ "$API_CODE" =~ ^[45] ]] || fail "create with image $img: HTTP $API_CODE $(short "$API_BODY")"
        [ -n "$(jb .error.code)" ] && [ -n "$(jb .error.message)" ] || fail "create with image $img: not a JSON error: $(short "$API_BODY")"
        note "image $img: HTTP $API_CODE $(jb .error.message)"
        mountpoint -q "$T/decoy" && fail "image $img: something got mounted on the host path $T/decoy"
        assert_eq "" "$(ls -A "$T/decoy")" "host dir $T/decoy after create with image $img"
        LEAK_WHAT="after the failed create with image $img" assert_no_leaks
    done
    # a failure before anything is made, too
    api POST /v1/sessions '{"image":"nope"}'
    assert_no_leaks
    # and the id slots were given back: sessions can still be made
    new_session
    sx "$SID" -- echo ok
    assert_eq ok "$SX_OUT" "an exec in a session made after the failures"
}

test_sigterm_removes_all_sessions() {
    daemon_start term || fail "second sbxd did not start"
    defer daemon_stop term
    new_session
    local a=$SID
    _make_busy "$a"
    new_session
    local b=$SID
    _make_busy "$b"
    [ -n "$(range_procs)" ] || fail "no processes of the second daemon's sessions on the host"
    daemon_stop term TERM
    assert_eq 0 "$DAEMON_STATUS" "exit status of sbxd after SIGTERM"
    wait_until 10 _no_jobs || fail "exec streams still open after sbxd stopped"
    LEAK_WHAT="after SIGTERM" assert_no_leaks term
    grep -q '"msg":"stopped"' "$DLOG" || fail "sbxd did not log that it stopped"
}

test_restart_after_kill9_cleans_leftovers() {
    daemon_start k9 || fail "second sbxd did not start"
    defer daemon_stop k9
    new_session
    local a=$SID pa
    pa=$(session_field "$a" .pid)
    _make_busy "$a"
    new_session
    local b=$SID
    _make_busy "$b"
    daemon_stop k9 KILL
    # what a crash leaves: sandboxes still running, cgroups, workspaces
    kill -0 "$pa" 2>/dev/null || fail "the session's init died with sbxd (nothing left to clean: test is moot)"
    local d
    for d in $(cg_dirs "$CGN" "$a"); do [ -d "$d" ] || fail "cgroup $d gone before the restart"; done
    [ -d "$STATE/sessions/$a" ] || fail "workspace of $a gone before the restart"
    daemon_start k9 || fail "sbxd does not start over the leftovers of a killed one"
    LEAK_WHAT="after restarting over a killed sbxd" assert_no_leaks k9
    grep -q 'removed what a previous sbxd left: 2 cgroups, 2 workspaces' "$DLOG" ||
        fail "sbxd did not report the cleanup: $(grep -i 'previous\|stale' "$DLOG" | tail -3)"
    # and it works
    new_session
    sx "$SID" -- echo ok
    assert_eq ok "$SX_OUT" "an exec after the restart"
    api DELETE "/v1/sessions/$SID"
    assert_no_leaks k9
}
