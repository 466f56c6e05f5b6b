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
    # A: ttl 1, idle. B: a ttl long enough to start work in it first (a
    # background process and a running exec), which the expiry must end.
    new_session '{"image":"busybox","ttl":1}'
    local a=$SID
    assert_match "$(jq -r .expires_at <<<"$SESSION")" '^[0-9]{4}-' "expires_at"
    new_session "{\"image\":\"busybox\",\"ttl\":$((3 * IT_SLOW))}"
    local b=$SID
    curl -sS -N --max-time 120 --unix-socket "$SOCK" -X POST -o "$T/b.out" \
        -d '{"argv":["sh","-c","sleep 1000 >/dev/null 2>&1 & exec sleep 1002"]}' "http://sbx/v1/sessions/$b/exec" &
    wait_until 5 session_gone "$a" || fail "session with ttl 1 still there after 5 s"
    wait_until 15 session_gone "$b" || fail "session with ttl $((3 * IT_SLOW)) still there after $((15 * IT_SLOW)) s"
    # the running exec ended with an exit event
    wait_until 10 _no_jobs || fail "the exec stream did not end after the ttl expired"
    assert_eq 9 "$(ndjson_exit "$T/b.out" | jq -r .signal)" "exit.signal of the exec cut by the ttl ($(short "$(cat "$T/b.out")"))"
    assert_no_leaks
    # sbx run with a ttl shorter than its command: still no trace, clean exit status
    sbx run --image busybox --ttl $((2 * IT_SLOW)) -- sleep 60 >"$T/out" 2>"$T/err"
    local rc=$?
    assert_eq 137 "$rc" "sbx run --ttl $((2 * IT_SLOW)) -- sleep 60: exit status (stderr: $(cat "$T/err"))"
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

test_restart_after_kill9_takes_sessions_over_and_cleans_the_rest() {
    daemon_start k9 || fail "second sbxd did not start"
    defer daemon_stop k9
    new_session
    local a=$SID pa
    pa=$(session_field "$a" .pid)
    _make_busy "$a"
    new_session
    local b=$SID
    _make_busy "$b"
    # a leftover no record names (what an sbxd before session records left)
    mkdir -p "$STATE/sessions/0123456789ab/upper"
    daemon_stop k9 KILL
    # what a crash leaves: sandboxes still running, cgroups, workspaces, warm pool entries
    kill -0 "$pa" 2>/dev/null || fail "the session's init died with sbxd (nothing to take over: test is moot)"
    daemon_start k9 || fail "sbxd does not start over the leftovers of a killed one"
    # the sessions live on; their exec streams ended with the restart event
    assert_eq "running running" "$(session_field "$a" .state) $(session_field "$b" .state)" "sessions after the restart"
    assert_eq "$pa" "$(session_field "$a" .pid)" "init of $a after the restart"
    sx "$a" -- cat /tmp/file
    assert_eq x "$SX_OUT" "a file written before the restart"
    # and the rest (the warm pool's entries, the stray workspace) is gone
    [ -e "$STATE/sessions/0123456789ab" ] && fail "stray workspace not removed"
    grep -q 'removed what a previous sbxd left' "$DLOG" || fail "sbxd did not report the cleanup: $(grep -i 'previous\|stale' "$DLOG" | tail -3)"
    new_session
    sx "$SID" -- echo ok
    assert_eq ok "$SX_OUT" "an exec after the restart"
    local id
    for id in "$a" "$b"; do
        wait_until 10 _ended_by_restart "$T/busy.$id.out" || fail "exec stream of $id: $(short "$(cat "$T/busy.$id.out")")"
    done
    api DELETE "/v1/sessions/$SID"
    api DELETE "/v1/sessions/$a"
    api DELETE "/v1/sessions/$b"
    assert_no_leaks k9
}
_ended_by_restart() { [ "$(tail -n 1 "$1" | jq -r .type 2>/dev/null)" = supervisor_restarted ]; }

test_session_whose_init_died_is_dead_and_removable() {
    new_session
    local pid1
    pid1=$(jq -r .pid <<<"$SESSION")
    _make_busy "$SID"
    # the sandbox's init is killed from the host
    kill -KILL "$pid1"
    wait_until 10 _state_is "$SID" dead || fail "state $(session_field "$SID" .state) 10 s after its init died (expected dead)"
    wait_until 10 _no_jobs || fail "the running exec stream did not end when the init died"
    assert_eq 9 "$(ndjson_exit "$T/busy.$SID.out" | jq -r .signal)" "exit.signal of the exec when init died ($(short "$(cat "$T/busy.$SID.out")"))"
    API_WHAT="exec in a dead session" api POST "/v1/sessions/$SID/exec" '{"argv":["true"]}'
    API_WHAT="exec in a dead session" expect_error 409 conflict "$SID"
    sx "$SID" -- true
    assert_eq 125 "$SX_RC" "sbx exec in a dead session: exit status"
    api GET /v1/sessions
    assert_eq dead "$(jb '.sessions[0].state')" "state in the list"
    api DELETE "/v1/sessions/$SID"
    assert_eq 204 "$API_CODE" "DELETE of a dead session"
    assert_no_leaks
}
_state_is() { [ "$(session_field "$1" .state)" = "$2" ]; }

test_id_slots_exhausted_gives_503_and_recovers() {
    # 3 id ranges = at most 3 sessions, whatever the warm pool holds
    daemon_start slots --id-slots 3 || fail "sbxd --id-slots 3 did not start"
    defer daemon_stop slots
    new_session
    local a=$SID
    new_session
    new_session
    API_WHAT="4th create with 3 id slots" api POST /v1/sessions '{"image":"busybox"}'
    API_WHAT="4th create with 3 id slots" expect_error 503 unavailable
    api GET /v1/health
    assert_eq 3 "$(jb .sessions)" "sessions after the refused create"
    api DELETE "/v1/sessions/$a"
    # the freed range is usable again (right away or once the pool refilled)
    wait_until 10 _create_ok || fail "create after freeing a slot: HTTP $API_CODE $(short "$API_BODY")"
    sx "$(jb .id)" -- echo ok
    assert_eq ok "$SX_OUT" "exec in the session made in the freed slot"
    delete_all_sessions
    LEAK_WHAT="after the slot exhaustion" assert_no_leaks slots
}
_create_ok() { api POST /v1/sessions '{"image":"busybox"}' && [ "$API_CODE" = 201 ]; }

test_killed_warm_sandbox_is_not_handed_out() {
    [ "$IT_WARM_MAX" -gt 0 ] || skip "sbxd keeps no warm pool (--warm 0)"
    wait_until 10 _warm_is "$IT_WARM_MAX" || fail "health never reported $IT_WARM_MAX warm sandboxes: $(short "$API_BODY")"
    # the prepared sandboxes' setup children (uid 0, children of sbxd) die
    local dpid kids p
    dpid=$(daemon_pid main)
    kids=$(ps -eo pid=,ppid=,uid= | awk -v d="$dpid" '$2 == d && $3 == 0 { print $1 }')
    [ -n "$kids" ] || fail "no setup children of sbxd ($dpid) to kill"
    for p in $kids; do kill -KILL "$p"; done
    # every create still succeeds
    local i
    for i in $(seq $((IT_WARM_MAX + 1))); do
        API_WHAT="create $i after the warm sandboxes died" api POST /v1/sessions '{"image":"busybox"}'
        [ "$API_CODE" = 201 ] || fail "create $i after the warm sandboxes died: HTTP $API_CODE $(short "$API_BODY")"
        sx "$(jb .id)" -- true
        assert_eq 0 "$SX_RC" "exec in session $i ($SX_ERR)"
    done
    delete_all_sessions
    LEAK_WHAT="after replacing dead warm sandboxes" assert_no_leaks
}
_warm_is() { api GET /v1/health && [ "$(jb .warm)" = "$1" ]; }

test_idle_session_is_removed_unless_kept_alive_or_streaming() {
    local idle=$((2 * IT_SLOW))
    new_session "{\"image\":\"busybox\",\"idle_timeout\":$idle}"
    local sid=$SID i
    assert_eq "$idle" "$(jq -r .idle_timeout <<<"$SESSION")" "idle_timeout in the session"
    # keepalives every half period keep it for three periods
    for i in $(seq 1 6); do
        sleep "$(awk "BEGIN{print $idle / 2}")"
        api POST "/v1/sessions/$sid/keepalive"
        assert_eq 200 "$API_CODE" "keepalive $i: $(short "$API_BODY")"
    done
    # an open exec stream keeps it longer than its idle timeout
    curl -sS -N --max-time 60 --unix-socket "$SOCK" -X POST -o "$T/s.out" \
        -d "{\"argv\":[\"sleep\",\"$((2 * idle))\"]}" "http://sbx/v1/sessions/$sid/exec" &
    sleep "$((idle + 1))"
    assert_eq running "$(session_field "$sid" .state)" "session with an open exec stream after its idle timeout"
    # a background process alone does not; once the stream ended it goes
    api POST "/v1/sessions/$sid/exec" '{"argv":["sleep","1000"],"background":true}'
    wait_until $((4 * idle + 5)) session_gone "$sid" || fail "idle session still there $((4 * idle + 5)) s later"
    grep -q '"msg":"session idle timeout","session":"'"$sid" "$DLOG" || fail "no log line for the idle timeout"
    assert_eq "exit" "$(tail -n 1 "$T/s.out" | jq -r .type)" "the stream ended before the session went"
    assert_no_leaks
}

test_idle_timeout_out_of_range_is_rejected() {
    api POST /v1/sessions '{"image":"busybox","idle_timeout":0}'
    expect_error 400 invalid_request idle_timeout
    api POST /v1/sessions '{"image":"busybox","idle_timeout":"10"}'
    expect_error 400 invalid_request idle_timeout
    api POST /v1/sessions/0123456789ab/keepalive
    expect_error 404 not_found 0123456789ab
    assert_no_leaks
}
