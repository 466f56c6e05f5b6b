# test_restart.sh - sbxd restarts (kill -9 and SIGTERM) while sessions run:
# the next sbxd takes every live session over (processes, output, stdin,
# signals, limits, network), open exec streams end with an explicit
# "supervisor_restarted" event, a sandbox that died meanwhile is reported and
# cleaned up, and nothing is leaked on the host.

# _bg ID SCRIPT [EXTRA JSON FIELDS]: start a background sh -c SCRIPT; BG_PID = its pid.
_bg() {
    api POST "/v1/sessions/$1/exec" "{\"argv\":[\"sh\",\"-c\",$(jq -Rn --arg s "$2" '$s')],\"background\":true${3:+,$3}}"
    assert_eq 201 "$API_CODE" "background exec of [$2]: $(short "$API_BODY")"
    BG_PID=$(jb .pid)
}

# _logs ID PID: the process's buffered stdout (decoded).
_logs() {
    curl -sS --max-time 20 --unix-socket "$SOCK" "http://sbx/v1/sessions/$1/processes/$2/logs" |
        jq -r 'select(.type == "stdout") | .data' | base64 -d
}

_proc() { # ID PID JQ
    curl -sS --max-time 20 --unix-socket "$SOCK" "http://sbx/v1/sessions/$1/processes/$2" | jq -r "$3"
}

_last_tick() { _logs "$1" "$2" | tail -n 1 | awk '{print $2}'; }
_ticked_past() { local t; t=$(_last_tick "$1" "$2"); [ -n "$t" ] && [ "$t" -gt "$3" ]; }
# the test's curl jobs (not the daemons it started, which are jobs too)
_stream_ended() { ! pgrep -f -P $$ '^curl .*/exec' >/dev/null; }
_exited() { [ "$(_proc "$1" "$2" .state)" = exited ]; }
# the session's processes on the host but the loops' short sleeps: pid and command
_long_lived() { range_procs | awk '$4 == "sleep" && $5 == "0.2" { next } { $2 = ""; $3 = ""; print }' | sort; }
# _long_lived_n N: _long_lived once it lists N processes, within 5 s. A tick
# loop's child between fork and exec of its sleep shows up for an instant as a
# copy of the loop's shell: not a process of the session's to keep.
_long_lived_n() {
    local i out
    for i in $(seq 50); do
        out=$(_long_lived)
        [ "$(wc -l <<<"$out")" = "$1" ] && break
        sleep 0.1
    done
    echo "$out"
}
# _veth ID: the session's veth end in the egress namespace ("" when none)
_veth() { nsenter --net="$STATE/egress.netns" ip -o link show 2>/dev/null | grep -o " sbx$1[@:]" | tr -d ' @:'; }
_no_veth() { [ -z "$(_veth "$1")" ]; }
_n_started() { [ "$(cat "$T"/fg.*.out 2>/dev/null | grep -c '"type":"start"')" = "$1" ]; }

test_kill9_with_20_background_processes_and_5_open_streams_loses_nothing() {
    daemon_start k9r || fail "sbxd k9r did not start"
    defer daemon_stop k9r
    new_session '{"image":"busybox","limits":{"pids":200}}'
    local sid=$SID i bg=() fgpids=()
    for i in $(seq 1 20); do
        _bg "$sid" "i=0; while true; do echo \"tick \$i p$i\"; i=\$((i+1)); sleep 0.2; done"
        bg+=("$BG_PID")
    done
    _bg "$sid" 'cat' '"stdin_open":true'
    local catpid=$BG_PID
    for i in $(seq 1 5); do
        curl -sS -N --max-time 120 --unix-socket "$SOCK" -X POST -o "$T/fg.$i.out" \
            -d "{\"argv\":[\"sleep\",\"100$i\"]}" \
            "http://sbx/v1/sessions/$sid/exec" &
    done
    wait_until 20 _n_started 5 ||
        fail "the 5 exec streams did not start: $(cat "$T"/fg.*.out | head -c 600)"
    for i in $(seq 1 5); do fgpids+=("$(jq -r 'select(.type=="start") | .pid' <"$T/fg.$i.out")"); done
    wait_until 10 _ticked_past "$sid" "${bg[19]}" 2 || fail "background process ${bg[19]} does not tick"
    # what must survive, seen from the host
    local init_pid host_procs cgs netns
    init_pid=$(session_field "$sid" .pid)
    host_procs=$(_long_lived_n 27)
    cgs=$(cg_dirs "$CGN" "$sid")
    netns=$(readlink "/proc/$init_pid/ns/net")
    assert_eq "sbx$sid" "$(_veth "$sid")" "the session's veth before the restart"
    assert_eq 27 "$(wc -l <<<"$host_procs")" "host processes of the session before the restart (init + 26)"

    daemon_stop k9r KILL
    daemon_start k9r || fail "sbxd does not start over a killed one"

    # the open streams ended with the explicit event, never an exit
    wait_until 20 _stream_ended || fail "exec streams still open 20 s after the restart"
    for i in $(seq 1 5); do
        assert_eq supervisor_restarted "$(tail -n 1 "$T/fg.$i.out" | jq -r .type)" "last event of stream $i ($(short "$(cat "$T/fg.$i.out")"))"
        assert_eq 0 "$(grep -c '"type":"exit"' "$T/fg.$i.out")" "exit events on stream $i"
        assert_eq "${fgpids[$((i - 1))]}" "$(tail -n 1 "$T/fg.$i.out" | jq -r .pid)" "pid in stream $i's restart event"
    done
    # the session and every process, alive and reachable
    assert_eq running "$(session_field "$sid" .state)" "session state after the restart"
    assert_eq "$init_pid" "$(session_field "$sid" .pid)" "the session's init after the restart"
    api GET "/v1/sessions/$sid/processes"
    assert_eq 26 "$(jb '[.processes[] | select(.state == "running" and .adopted)] | length')" "running processes taken over ($(short "$API_BODY" 400))"
    local after
    after=$(_long_lived_n 27)
    [ "$host_procs" = "$after" ] ||
        fail "host processes of the session changed across the restart: $(diff <(echo "$host_procs") <(echo "$after") | grep '^[<>]' | tr '\n' ';')"
    assert_eq "$cgs" "$(cg_dirs "$CGN" "$sid")" "cgroups after the restart"
    assert_eq "$netns" "$(readlink "/proc/$init_pid/ns/net")" "net namespace after the restart"
    assert_eq "sbx$sid" "$(_veth "$sid")" "the session's veth after the restart"
    # output after the restart reaches the logs of every background process
    local before
    for i in 0 9 19; do
        before=$(_last_tick "$sid" "${bg[$i]}")
        [ -z "$before" ] && before=0
        wait_until 10 _ticked_past "$sid" "${bg[$i]}" "$before" || fail "process ${bg[$i]}: no output after the restart (last tick $before)"
    done
    assert_contains "$(_logs "$sid" "${bg[4]}")" "p5" "logs of the 5th background process"
    # stdin still reaches a process started before the restart
    printf 'hello after restart\n' >"$T/in"
    api_file POST "/v1/sessions/$sid/processes/$catpid/stdin" "$T/in"
    assert_eq 200 "$API_CODE" "POST stdin after the restart: $(short "$API_BODY")"
    wait_until 10 eval '_logs "$sid" "$catpid" | grep -q "hello after restart"' || fail "cat did not echo its input after the restart: $(_logs "$sid" "$catpid")"
    # signals reach them: one background process and one whose stream was cut
    api POST "/v1/sessions/$sid/processes/${bg[0]}/signal" '{"signal":"TERM"}'
    assert_eq 200 "$API_CODE" "signal after the restart: $(short "$API_BODY")"
    wait_until 10 _exited "$sid" "${bg[0]}" || fail "process ${bg[0]} still running after TERM"
    assert_eq 15 "$(_proc "$sid" "${bg[0]}" .signal)" "exit signal of the TERMed process"
    api POST "/v1/sessions/$sid/processes/${fgpids[2]}/signal" '{"signal":"KILL"}'
    wait_until 10 _exited "$sid" "${fgpids[2]}" || fail "stream process ${fgpids[2]} still running after KILL"
    # limits still apply: the pids limit (200) stops a fork bomb's growth
    in_sbx "$sid" 'i=0; while [ $i -lt 300 ]; do sleep 30 & i=$((i+1)); done'
    assert_le "$(session_field "$sid" .usage.pids_current)" 200 "pids in the session after the restart (limit 200)"
    # new work works
    sx "$sid" -- echo after
    assert_eq after "$SX_OUT" "an exec after the restart"
    api DELETE "/v1/sessions/$sid"
    assert_eq 204 "$API_CODE" "DELETE after the restart"
    wait_until 5 _no_veth "$sid" || fail "veth of the removed session still in the egress namespace"
    LEAK_WHAT="after the restart and DELETE" assert_no_leaks k9r
    daemon_stop k9r
    LEAK_WHAT="after stopping the restarted sbxd" assert_no_leaks k9r
}

test_network_of_a_session_works_after_kill9_restart() {
    daemon_start k9n || fail "sbxd k9n did not start"
    defer daemon_stop k9n
    new_session '{"image":"busybox","network":{"allow":["allowed.example"]}}'
    local sid=$SID
    daemon_stop k9n KILL
    daemon_start k9n || fail "sbxd does not start over a killed one"
    # DNS through the shim: answered (the allowed name gets an address, the
    # other NXDOMAIN), and both decisions audited under this session
    sx -t 10 "$sid" -- nslookup allowed.example
    assert_match "$SX_OUT" 'Address: 198\.1[89]\.' "an allowed name resolves into the shim's range after the restart ($SX_ERR)"
    sx -t 10 "$sid" -- nslookup denied.example
    assert_contains "$SX_OUT$SX_ERR" "NXDOMAIN" "DNS for a denied name after the restart"
    wait_until 10 grep -q "denied.example" "$IT_RUN/k9n/egress.jsonl" || fail "no audit line for the denied name"
    assert_contains "$(grep denied.example "$IT_RUN/k9n/egress.jsonl" | tail -n 1)" "$sid" "audit line's session"
    api DELETE "/v1/sessions/$sid"
    daemon_stop k9n
    LEAK_WHAT="after stopping" assert_no_leaks k9n
}

test_session_whose_sandbox_died_while_sbxd_was_down_is_reported_lost_and_cleaned_up() {
    daemon_start k9d || fail "sbxd k9d did not start"
    defer daemon_stop k9d
    new_session
    local dead=$SID init
    init=$(session_field "$dead" .pid)
    _bg "$dead" 'sleep 1000'
    new_session
    local alive=$SID
    daemon_stop k9d KILL
    kill -KILL "$init"
    wait_until 10 eval '! kill -0 "$init" 2>/dev/null' || fail "init $init did not die"
    daemon_start k9d || fail "sbxd does not start over a killed one"
    api GET "/v1/sessions/$dead"
    expect_error 410 session_lost "$dead"
    api GET /v1/sessions
    assert_eq "$alive" "$(jb '[.sessions[].id] | join(",")')" "sessions listed after the restart"
    grep -q "session lost while sbxd was away.*$dead" "$DLOG" || fail "sbxd did not log the lost session"
    [ -e "$STATE/run/$dead.json" ] && fail "record of the lost session still there"
    [ -e "$STATE/sessions/$dead" ] && fail "workspace of the lost session still there"
    for d in $(cg_dirs "$CGN" "$dead"); do [ -d "$d" ] && fail "cgroup $d of the lost session still there"; done
    assert_eq "" "$(_veth "$dead")" "veth of the lost session in the egress namespace"
    assert_eq "sbx$alive" "$(_veth "$alive")" "veth of the session taken over"
    api DELETE "/v1/sessions/$dead"
    assert_eq 204 "$API_CODE" "DELETE of a lost session (already cleaned up)"
    api DELETE "/v1/sessions/$alive"
    daemon_stop k9d
    LEAK_WHAT="after stopping" assert_no_leaks k9d
}

test_sigterm_with_on_exit_keep_ends_streams_with_an_event_and_the_next_sbxd_takes_over() {
    daemon_start keep --on-exit keep || fail "sbxd keep did not start"
    defer daemon_stop keep
    new_session
    local sid=$SID
    _bg "$sid" 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done'
    local bgp=$BG_PID
    curl -sS -N --max-time 60 --unix-socket "$SOCK" -X POST -o "$T/fg.out" \
        -d '{"argv":["sh","-c","echo up; exec sleep 1000"]}' "http://sbx/v1/sessions/$sid/exec" &
    wait_until 10 grep -q '"type":"start"' "$T/fg.out" || fail "exec stream did not start"
    daemon_stop keep TERM
    assert_eq 0 "$DAEMON_STATUS" "exit status of sbxd after SIGTERM"
    wait_until 10 _stream_ended || fail "exec stream still open after sbxd exited"
    assert_eq supervisor_restarted "$(tail -n 1 "$T/fg.out" | jq -r .type)" "last event of the stream ($(short "$(cat "$T/fg.out")"))"
    grep -q "leaving 1 sessions running" "$DLOG" || fail "sbxd did not log that it left the session running"
    daemon_start keep --on-exit remove || fail "sbxd does not start again"
    assert_eq running "$(session_field "$sid" .state)" "session after the restart"
    local before
    before=$(_last_tick "$sid" "$bgp")
    wait_until 10 _ticked_past "$sid" "$bgp" "${before:-0}" || fail "background process silent after the restart"
    daemon_stop keep TERM
    LEAK_WHAT="after stopping with --on-exit remove" assert_no_leaks keep
}

test_a_second_sbxd_on_the_same_state_dir_is_refused() {
    local out rc
    out=$("$SBX_BUILD/sbxd" --socket "$T/other.sock" --state-dir "$STATE" --cgroup-name "$CGN-other" \
        --no-network 2>&1)
    rc=$?
    assert_eq 1 "$rc" "exit status of a second sbxd on the main daemon's state dir"
    assert_contains "$out" "another sbxd uses the state dir" "its error"
    assert_health
}

# While no sbxd runs, init keeps the rendezvous socket at fd 9 and every
# process's kept fds: root inside the sandbox must reach none of them (it may
# list /proc/1/fd's numbers, as the owner of a non-dumpable task's proc dir;
# opening, readlink and fdinfo need ptrace rights over init, which it lacks).
test_sandbox_root_cannot_reach_inits_fds_while_sbxd_is_away() {
    daemon_start k9s || fail "sbxd k9s did not start"
    defer daemon_stop k9s
    new_session
    local sid=$SID
    _bg "$sid" 'sleep 1000'
    api POST "/v1/sessions/$sid/exec" '{"argv":["sh","-c","for i in $(seq 1 40); do readlink /proc/1/fd/9 >/dev/null 2>&1 && echo READLINK; cat /proc/1/fdinfo/9 >/dev/null 2>&1 && echo FDINFO; (exec 7</proc/1/fd/9) 2>/dev/null && echo OPENED; sleep 0.1; done; echo done"],"background":true,"user":"root"}'
    assert_eq 201 "$API_CODE" "background prober: $(short "$API_BODY")"
    local prober
    prober=$(jb .pid)
    daemon_stop k9s KILL
    sleep 2
    daemon_start k9s || fail "sbxd does not start over a killed one"
    wait_until 20 eval '_logs "$sid" "$prober" | grep -q done' || fail "prober did not finish: $(_logs "$sid" "$prober")"
    assert_eq done "$(_logs "$sid" "$prober")" "what root in the sandbox could reach of init's fds while sbxd was away"
    api DELETE "/v1/sessions/$sid"
    daemon_stop k9s
    LEAK_WHAT="after stopping" assert_no_leaks k9s
}
