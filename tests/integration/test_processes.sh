# test_processes.sh - background processes, their logs, stdin, ttys, signals
# and waits (/v1/sessions/{id}/processes, docs/api.md "Processes"), through
# the API and through the CLI (sbx exec -d/-i/--tty, shell, ps, logs, kill,
# wait, keepalive).

# ------------------------------------------------------------- helpers ----

# pr_bg ID BODY: start a background exec; PR_PID = its pid, PR_BODY = the answer.
pr_bg() {
    local t0=$(now_us)
    api POST "/v1/sessions/$1/exec" "$2"
    PR_MS=$((($(now_us) - t0) / 1000))
    [ "$API_CODE" = 201 ] || fail "background exec $(short "$2" 160): HTTP $API_CODE $(short "$API_BODY") $API_ERR"
    PR_BODY=$API_BODY
    PR_PID=$(jb .pid)
    [[ "$PR_PID" =~ ^[1-9][0-9]*$ ]] || fail "background exec: no pid in $(short "$API_BODY")"
}

# pr_field ID PID JQ: a field of the process ("" if none).
pr_field() {
    curl -sS --max-time 10 --unix-socket "$SOCK" "http://sbx/v1/sessions/$1/processes/$2" 2>/dev/null |
        jq -r "$3" 2>/dev/null
}
pr_exited() { [ "$(pr_field "$1" "$2" .state)" = exited ]; }
pr_running() { [ "$(pr_field "$1" "$2" .state)" = running ]; }

# pr_logs ID PID [QUERY]: GET .../logs (NDJSON) into $T/logs.out; sets LOGS_CODE.
pr_logs() {
    LOGS_CODE=$(curl -sS -N --max-time "${API_MAX_TIME:-60}" --unix-socket "$SOCK" -o "$T/logs.out" \
        -D "$T/logs.hdr" -w '%{http_code}' "http://sbx/v1/sessions/$1/processes/$2/logs${3:+?$3}" \
        2>"$T/logs.err")
    [ -n "$LOGS_CODE" ] || LOGS_CODE=000
}
# pr_logs_have ID PID TEXT: the process's stdout (as logged so far) contains TEXT.
pr_logs_have() {
    pr_logs "$1" "$2"
    [[ "$(ndjson_data "$T/logs.out" stdout | tr -d '\r')" == *"$3"* ]]
}

# pr_stdin ID PID FILE [QUERY]: POST FILE's bytes to the process's stdin.
pr_stdin() {
    local API_CURL_ARGS=(-H 'Content-Type: application/octet-stream')
    api_file POST "/v1/sessions/$1/processes/$2/stdin${4:+?$4}" "$3"
}

# pr_kill ID PID SIGNAL_JSON: POST .../signal {"signal": SIGNAL_JSON}.
pr_kill() { api POST "/v1/sessions/$1/processes/$2/signal" "{\"signal\":$3}"; }

# pr_sandbox_procs ID PATTERN: processes of session ID (host view) whose
# command line matches PATTERN (grep -E), one per line.
pr_sandbox_procs() {
    local cg
    if [ "$IT_CG_MODE" = v2 ]; then cg="/sys/fs/cgroup/$CGN/$1"; else cg="/sys/fs/cgroup/unified/$CGN/$1"; fi
    local p
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null
        echo
    done | grep -E "$2"
}

pr_stamp() { # stamp each line with its arrival time (us)
    local line
    while IFS= read -r line; do printf '%s %s\n' "$(now_us)" "$line"; done
}

pr_done() { ! kill -0 "$1" 2>/dev/null; }

# The pid of the start event in an NDJSON exec stream being written to FILE.
pr_start_pid() { head -n 1 "$1" 2>/dev/null | jq -r 'select(.type == "start") | .pid' 2>/dev/null; }
pr_has_start() { [[ "$(pr_start_pid "$1")" =~ ^[0-9]+$ ]]; }

# ----------------------------------------------------- background exec ----

test_background_exec_answers_at_once_with_a_pid_and_outlives_its_client() {
    new_session
    pr_bg "$SID" '{"argv":["sh","-c","echo started; exec sleep 1000"],"background":true}'
    note "background exec answered in $PR_MS ms"
    [ "$PR_MS" -lt $((3000 * IT_SLOW)) ] || fail "POST exec with background:true took $PR_MS ms for a process that runs 1000 s (it must answer once the process started)"
    assert_eq "running true false" "$(jq -r '"\(.state) \(.background) \(.tty)"' <<<"$PR_BODY")" "state background tty in the answer"
    assert_eq '["sh","-c","echo started; exec sleep 1000"]' "$(jq -c .argv <<<"$PR_BODY")" "argv in the answer"
    local pid=$PR_PID
    # curl is gone (its connection closed); the process runs on
    sleep 1
    assert_eq running "$(pr_field "$SID" "$pid" .state)" "state 1 s after the client went away"
    [ -n "$(pr_sandbox_procs "$SID" '^sleep 1000 $')" ] || fail "no 'sleep 1000' in the session's cgroup after the client went away"
    wait_until 10 pr_logs_have "$SID" "$pid" started || fail "its output is not in its logs: $(short "$(cat "$T/logs.out")")"
    # the CLI: prints the pid, exits 0 at once
    local t0=$(now_us) out rc
    out=$(sbx exec -d "$SID" -- sleep 1001)
    rc=$?
    local ms=$((($(now_us) - t0) / 1000))
    assert_eq 0 "$rc" "sbx exec -d status"
    assert_match "$out" '^[1-9][0-9]*$' "sbx exec -d prints the pid"
    [ "$ms" -lt $((5000 * IT_SLOW)) ] || fail "sbx exec -d took $ms ms"
    wait_until 10 pr_running "$SID" "$out" || fail "process $out of sbx exec -d is not running: $(pr_field "$SID" "$out" .)"
    [ -n "$(pr_sandbox_procs "$SID" '^sleep 1001 $')" ] || fail "no 'sleep 1001' in the session after sbx exec -d returned"
    # a background exec that cannot start is a plain 400, as before
    api POST "/v1/sessions/$SID/exec" '{"argv":["/no/such/binary"],"background":true}'
    API_WHAT="background exec of a missing binary" expect_error 400 executable_not_found
    sx -d "$SID" -- /no/such/binary
    assert_eq 127 "$SX_RC" "sbx exec -d of a missing binary: status ($SX_ERR)"
    # everything stops with the session
    api DELETE "/v1/sessions/$SID"
    assert_eq 204 "$API_CODE" "DELETE the session with background processes"
    assert_no_leaks
}

test_processes_lists_argv_state_and_exit_of_background_and_foreground_execs() {
    new_session
    pr_bg "$SID" '{"argv":["sleep","1000"],"background":true,"cwd":"/tmp"}'
    local p_sleep=$PR_PID
    pr_bg "$SID" '{"argv":["sh","-c","exit 3"],"background":true}'
    local p_exit=$PR_PID
    pr_bg "$SID" '{"argv":["sh","-c","kill -TERM $$"],"background":true}'
    local p_sig=$PR_PID
    api_exec "$SID" '{"argv":["sh","-c","echo fg; exit 4"]}'
    local p_fg
    p_fg=$(pr_start_pid "$T/exec.out")
    assert_match "$p_fg" '^[1-9][0-9]*$' "pid of the foreground exec"
    wait_until 10 pr_exited "$SID" "$p_exit" || fail "sh -c 'exit 3' did not exit"
    wait_until 10 pr_exited "$SID" "$p_sig" || fail "sh -c 'kill -TERM \$\$' did not exit"

    api GET "/v1/sessions/$SID/processes"
    assert_eq 200 "$API_CODE" "GET processes: $(short "$API_BODY")"
    local all=$API_BODY
    _pr_entry() { jq -c --argjson p "$1" '.processes[] | select(.pid == $p)' <<<"$all"; }
    local e
    e=$(_pr_entry "$p_sleep")
    assert_eq '["sleep","1000"] running null null null true false /tmp sandbox' \
        "$(jq -r '"\(.argv | tojson) \(.state) \(.exit_code) \(.signal) \(.exited_at) \(.background) \(.tty) \(.cwd) \(.user)"' <<<"$e")" \
        "listed sleep 1000 (argv state exit_code signal exited_at background tty cwd user)"
    assert_match "$(jq -r .started_at <<<"$e")" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$' "started_at is ISO-8601 UTC"
    e=$(_pr_entry "$p_exit")
    assert_eq "exited 3 null true" "$(jq -r '"\(.state) \(.exit_code) \(.signal) \(.background)"' <<<"$e")" "listed sh -c 'exit 3'"
    assert_match "$(jq -r .exited_at <<<"$e")" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' "exited_at of an exited process"
    e=$(_pr_entry "$p_sig")
    assert_eq "exited null 15" "$(jq -r '"\(.state) \(.exit_code) \(.signal)"' <<<"$e")" "listed process killed by SIGTERM"
    e=$(_pr_entry "$p_fg")
    assert_eq '["sh","-c","echo fg; exit 4"] exited 4 false' "$(jq -r '"\(.argv | tojson) \(.state) \(.exit_code) \(.background)"' <<<"$e")" "listed foreground exec"
    # one process: the same object as in the list
    api GET "/v1/sessions/$SID/processes/$p_sleep"
    assert_eq 200 "$API_CODE" "GET processes/$p_sleep"
    assert_eq "$(_pr_entry "$p_sleep" | jq -S .)" "$(jq -S . <<<"$API_BODY")" "GET processes/PID vs its list entry"
    # a foreground exec is listed while it runs, as not background
    curl -sS -N --max-time 120 --unix-socket "$SOCK" -X POST -o "$T/fg.out" \
        -d '{"argv":["sleep","1002"]}' "http://sbx/v1/sessions/$SID/exec" &
    local cpid=$!
    wait_until 20 pr_has_start "$T/fg.out" || fail "the foreground exec did not start"
    local p_fg2
    p_fg2=$(pr_start_pid "$T/fg.out")
    assert_eq "running false" "$(pr_field "$SID" "$p_fg2" '"\(.state) \(.background)"')" "a running foreground exec in processes"
    kill "$cpid"
    wait "$cpid" 2>/dev/null
    wait_until 10 pr_exited "$SID" "$p_fg2" || fail "the foreground exec still runs after its client went away: $(pr_field "$SID" "$p_fg2" .)"

    # the CLI's table
    sbx ps "$SID" >"$T/ps.out" 2>"$T/ps.err"
    assert_eq 0 $? "sbx ps status ($(cat "$T/ps.err"))"
    assert_match "$(head -n 1 "$T/ps.out")" '^PID +STATE +EXIT +STARTED +COMMAND$' "sbx ps header"
    assert_match "$(grep -E "^$p_sleep " "$T/ps.out")" "^$p_sleep +running +- +[0-9]+[smhd] ago +sleep 1000\$" "sbx ps row of sleep 1000"
    assert_match "$(grep -E "^$p_exit " "$T/ps.out")" "^$p_exit +exited +3 +[0-9]+[smhd] ago +sh -c 'exit 3'\$" "sbx ps row of exit 3"
    assert_match "$(grep -E "^$p_sig " "$T/ps.out")" "^$p_sig +exited +SIGTERM " "sbx ps row of a SIGTERMed process"
    api GET "/v1/sessions/$SID/processes"
    assert_eq "$(jb '[.processes[].pid] | sort | tojson')" \
        "$(sbx ps --json "$SID" | jq -c '[.processes[].pid] | sort')" "sbx ps --json pids"
    assert_eq "$(sbx ps --json "$SID" | jq -r '.processes[].pid' | sort -n | tr '\n' ' ')" \
        "$(sbx ps -q "$SID" | sort -n | tr '\n' ' ')" "sbx ps -q"
}

# --------------------------------------------------------------- logs ----

test_logs_replay_buffered_output_then_follow_live_output_and_end_with_exit() {
    new_session
    pr_bg "$SID" '{"argv":["sh","-c","echo one; echo err1 >&2; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo two; exit 4"],"background":true}'
    local pid=$PR_PID
    wait_until 10 pr_logs_have "$SID" "$pid" one || fail "'one' never in the logs: $(short "$(cat "$T/logs.out")")"
    # without follow: the replay, and no exit event while it runs
    pr_logs "$SID" "$pid"
    assert_eq 200 "$LOGS_CODE" "GET logs: $(short "$(cat "$T/logs.out")")"
    assert_match "$(tr -d '\r' <"$T/logs.hdr")" $'(^|\n)[Cc]ontent-[Tt]ype: application/x-ndjson' "logs Content-Type"
    assert_eq one "$(ndjson_data "$T/logs.out" stdout)" "replayed stdout"
    assert_eq err1 "$(ndjson_data "$T/logs.out" stderr)" "replayed stderr"
    assert_eq "" "$(ndjson_exit "$T/logs.out")" "exit event of a running process's logs"
    # follow: the replay, then live output, then exit ends the stream
    curl -sS -N --max-time 60 --unix-socket "$SOCK" -o "$T/follow.out" \
        "http://sbx/v1/sessions/$SID/processes/$pid/logs?follow=1" &
    local cpid=$!
    sleep 0.5
    pr_done "$cpid" && fail "logs?follow=1 ended while the process runs: $(short "$(cat "$T/follow.out")")"
    must_sh "$SID" 'touch /tmp/go'
    wait_until 20 pr_done "$cpid" || fail "logs?follow=1 did not end 20 s after the process exited"
    wait "$cpid"
    assert_eq 0 $? "curl status of the followed logs (stream ended cleanly)"
    assert_eq "$(printf 'one\ntwo')" "$(ndjson_data "$T/follow.out" stdout)" "followed stdout"
    assert_eq err1 "$(ndjson_data "$T/follow.out" stderr)" "followed stderr"
    assert_eq exit "$(tail -n 1 "$T/follow.out" | jq -r .type)" "last event of a followed stream"
    assert_eq "4 null" "$(ndjson_exit "$T/follow.out" | jq -r '"\(.code) \(.signal)"')" "exit event of the followed stream"
    # an exited process: the replay and the exit, with or without follow
    pr_logs "$SID" "$pid" follow=1
    assert_eq "one two 4" "$(ndjson_data "$T/logs.out" stdout | tr '\n' ' ')$(ndjson_exit "$T/logs.out" | jq -r .code)" "logs?follow=1 of an exited process"
    pr_logs "$SID" "$pid"
    assert_eq 4 "$(ndjson_exit "$T/logs.out" | jq -r .code)" "logs of an exited process end with its exit"

    # the CLI: stdout to stdout, stderr to stderr
    sbx logs "$SID" "$pid" >"$T/cli.out" 2>"$T/cli.err"
    assert_eq 0 $? "sbx logs status"
    assert_eq "$(printf 'one\ntwo')" "$(cat "$T/cli.out")" "sbx logs stdout"
    assert_eq err1 "$(cat "$T/cli.err")" "sbx logs stderr"
    # sbx logs -f: live lines arrive as written, and it ends when the process does
    pr_bg "$SID" '{"argv":["sh","-c","echo a; while [ ! -e /tmp/go2 ]; do sleep 0.05; done; echo b"],"background":true}'
    local pid2=$PR_PID
    sbx logs -f "$SID" "$pid2" >"$T/f.out" 2>"$T/f.err" &
    local lpid=$!
    wait_until 10 grep -q '^a$' "$T/f.out" || fail "sbx logs -f did not print the replayed line: $(cat "$T/f.out" "$T/f.err")"
    pr_done "$lpid" && fail "sbx logs -f ended while the process runs: $(cat "$T/f.err")"
    must_sh "$SID" 'touch /tmp/go2'
    wait_until 20 pr_done "$lpid" || fail "sbx logs -f did not end after the process exited"
    wait "$lpid"
    assert_eq 0 $? "sbx logs -f status ($(cat "$T/f.err"))"
    assert_eq "$(printf 'a\nb')" "$(cat "$T/f.out")" "sbx logs -f output"
}

test_log_buffer_keeps_only_the_tail_and_reports_the_dropped_bytes() {
    new_session
    local script='awk "BEGIN { for (i = 0; i < 10000; i++) printf \"line %05d\\n\", i }"'
    awk 'BEGIN { for (i = 0; i < 10000; i++) printf "line %05d\n", i }' >"$T/all"
    local total
    total=$(wc -c <"$T/all")
    pr_bg "$SID" "$(jq -nc --arg s "$script" '{argv: ["sh", "-c", $s], background: true, log_buffer: 16384}')"
    local pid=$PR_PID
    wait_until 20 pr_exited "$SID" "$pid" || fail "the writer did not exit"
    pr_logs "$SID" "$pid"
    assert_eq 200 "$LOGS_CODE" "GET logs"
    assert_eq dropped "$(head -n 1 "$T/logs.out" | jq -r .type)" "first event when output was dropped: $(short "$(head -c 300 "$T/logs.out")")"
    local dropped kept
    dropped=$(head -n 1 "$T/logs.out" | jq -r .bytes)
    ndjson_data "$T/logs.out" stdout >"$T/kept"
    kept=$(wc -c <"$T/kept")
    note "log_buffer 16384: kept $kept bytes, dropped $dropped of $total"
    assert_eq "$total" "$((dropped + kept))" "dropped + kept bytes"
    assert_le "$kept" 16384 "bytes kept by a 16384-byte log buffer"
    assert_ge "$kept" 8192 "bytes kept by a 16384-byte log buffer (at least half of it)"
    cmp "$T/kept" <(tail -c "$kept" "$T/all") >&2 || fail "the kept bytes are not the tail of the output"
    assert_eq 1 "$(jq -r .type "$T/logs.out" | grep -c '^dropped$')" "dropped events"
    assert_eq "exit 0" "$(tail -n 1 "$T/logs.out" | jq -r '"\(.type) \(.code)"')" "last event"
    # the default buffer (1 MiB) keeps all of these 110000 bytes
    pr_bg "$SID" "$(jq -nc --arg s "$script" '{argv: ["sh", "-c", $s], background: true}')"
    wait_until 20 pr_exited "$SID" "$PR_PID" || fail "the second writer did not exit"
    pr_logs "$SID" "$PR_PID"
    assert_eq 0 "$(jq -r .type "$T/logs.out" | grep -c '^dropped$')" "dropped events with the default buffer"
    cmp "$T/all" <(ndjson_data "$T/logs.out" stdout) >&2 || fail "the default log buffer did not keep all 110000 bytes"
    # the CLI: --log-buffer with a suffix, and sbx logs says what was dropped
    local p
    p=$(sbx exec -d --log-buffer 16K "$SID" -- sh -c "$script")
    assert_match "$p" '^[1-9][0-9]*$' "sbx exec -d --log-buffer 16K"
    wait_until 20 pr_exited "$SID" "$p" || fail "the CLI's writer did not exit"
    sbx logs "$SID" "$p" >"$T/cli.out" 2>"$T/cli.err"
    assert_eq 0 $? "sbx logs status"
    assert_contains "$(cat "$T/cli.err")" "dropped" "sbx logs note on stderr"
    assert_le "$(wc -c <"$T/cli.out")" 16384 "bytes printed by sbx logs"
    assert_eq "line 09999" "$(tail -n 1 "$T/cli.out")" "last line printed by sbx logs"
}

# ------------------------------------------------------------- signals ----

test_signal_term_ends_a_sleep_with_signal_15_in_its_exit() {
    new_session
    pr_bg "$SID" '{"argv":["sleep","1000"],"background":true}'
    local pid=$PR_PID
    pr_kill "$SID" "$pid" '"TERM"'
    assert_eq 200 "$API_CODE" "signal TERM: $(short "$API_BODY")"
    assert_eq "$pid 15" "$(jb '"\(.pid) \(.signal)"')" "answer to signal TERM"
    wait_until 10 pr_exited "$SID" "$pid" || fail "sleep still runs after SIGTERM"
    assert_eq "null 15" "$(pr_field "$SID" "$pid" '"\(.exit_code) \(.signal)"')" "exit of the SIGTERMed sleep"
    pr_logs "$SID" "$pid"
    assert_eq "null 15" "$(ndjson_exit "$T/logs.out" | jq -r '"\(.code) \(.signal)"')" "exit event in its logs"
    # a signal to an exited process
    pr_kill "$SID" "$pid" '"TERM"'
    API_WHAT="signal to an exited process" expect_error 409 process_exited
    # SIG prefix, numbers
    pr_bg "$SID" '{"argv":["sleep","1000"],"background":true}'
    pr_kill "$SID" "$PR_PID" '"SIGINT"'
    assert_eq "200 2" "$API_CODE $(jb .signal)" "signal SIGINT"
    wait_until 10 pr_exited "$SID" "$PR_PID" || fail "sleep still runs after SIGINT"
    assert_eq 2 "$(pr_field "$SID" "$PR_PID" .signal)" "exit signal after SIGINT"
    pr_bg "$SID" '{"argv":["sleep","1000"],"background":true}'
    pr_kill "$SID" "$PR_PID" 9
    assert_eq "200 9" "$API_CODE $(jb .signal)" "signal 9"
    wait_until 10 pr_exited "$SID" "$PR_PID" || fail "sleep still runs after signal 9"
    assert_eq 9 "$(pr_field "$SID" "$PR_PID" .signal)" "exit signal after signal 9"
    # the whole process group gets it
    pr_bg "$SID" '{"argv":["sh","-c","sleep 1003 & sleep 1004; wait"],"background":true}'
    local grp=$PR_PID
    wait_until 10 _pr_two_sleeps || fail "sleep 1003 and 1004 did not start: $(pr_sandbox_procs "$SID" .)"
    pr_kill "$SID" "$grp" '"KILL"'
    assert_eq 200 "$API_CODE" "signal KILL to a group"
    wait_until 10 _pr_no_sleeps || fail "processes of the group survived the signal: $(pr_sandbox_procs "$SID" 'sleep 100[34]')"
    # the CLI
    pr_bg "$SID" '{"argv":["sleep","1000"],"background":true}'
    sbx kill "$SID" "$PR_PID" 2>"$T/err"
    assert_eq 0 $? "sbx kill status ($(cat "$T/err"))"
    wait_until 10 pr_exited "$SID" "$PR_PID" || fail "sleep still runs after sbx kill"
    assert_eq 15 "$(pr_field "$SID" "$PR_PID" .signal)" "sbx kill sends TERM"
    assert_match "$(sbx ps "$SID" | grep -E "^$PR_PID ")" "^$PR_PID +exited +SIGTERM " "sbx ps after sbx kill"
    pr_bg "$SID" '{"argv":["sleep","1000"],"background":true}'
    sbx kill -s HUP "$SID" "$PR_PID"
    wait_until 10 pr_exited "$SID" "$PR_PID" || fail "sleep still runs after sbx kill -s HUP"
    assert_eq 1 "$(pr_field "$SID" "$PR_PID" .signal)" "sbx kill -s HUP"
    sbx kill "$SID" "$PR_PID" 2>"$T/err"
    assert_eq 1 $? "sbx kill of an exited process: status"
    assert_ne "" "$(cat "$T/err")" "sbx kill of an exited process: message"
}
_pr_two_sleeps() { [ "$(pr_sandbox_procs "$SID" '^sleep 100[34] $' | wc -l)" = 2 ]; }
_pr_no_sleeps() { [ -z "$(pr_sandbox_procs "$SID" '^sleep 100[34] $')" ]; }

# --------------------------------------------------------------- stdin ----

test_stdin_of_a_background_cat_shows_in_its_logs_and_eof_ends_it() {
    new_session
    pr_bg "$SID" "$(jq -nc --arg s "$(printf 'first\n' | base64)" '{argv: ["cat"], background: true, stdin_open: true, stdin: $s}')"
    local pid=$PR_PID
    wait_until 10 pr_logs_have "$SID" "$pid" first || fail "the initial stdin did not reach cat: $(short "$(cat "$T/logs.out")")"
    printf 'hello\n' >"$T/hello"
    pr_stdin "$SID" "$pid" "$T/hello"
    assert_eq 200 "$API_CODE" "POST stdin: $(short "$API_BODY")"
    assert_eq 6 "$(jb .written)" "bytes written"
    wait_until 10 pr_logs_have "$SID" "$pid" hello || fail "'hello' sent to stdin is not in cat's logs: $(short "$(cat "$T/logs.out")")"
    assert_eq running "$(pr_field "$SID" "$pid" .state)" "cat still runs (its stdin is open)"
    # binary safe
    printf "$(all_bytes_fmt)" >"$T/bytes"
    pr_stdin "$SID" "$pid" "$T/bytes"
    assert_eq "200 256" "$API_CODE $(jb .written)" "POST of the 256 byte values"
    # eof=1 with a last piece: written, then stdin closed, cat ends
    printf 'bye\n' >"$T/bye"
    pr_stdin "$SID" "$pid" "$T/bye" eof=1
    assert_eq "200 4" "$API_CODE $(jb .written)" "POST stdin?eof=1 with data"
    wait_until 10 pr_exited "$SID" "$pid" || fail "cat did not exit after eof"
    assert_eq 0 "$(pr_field "$SID" "$pid" .exit_code)" "cat's exit code"
    pr_logs "$SID" "$pid"
    { printf 'first\nhello\n'; cat "$T/bytes"; printf 'bye\n'; } >"$T/want"
    cmp "$T/want" <(ndjson_data "$T/logs.out" stdout) >&2 || fail "cat's output is not what its stdin got"
    # exited: its stdin is closed too
    pr_stdin "$SID" "$pid" "$T/bye"
    [ "$API_CODE" = 409 ] || fail "stdin of the exited cat: expected 409, got $API_CODE $(short "$API_BODY")"
    [[ "$(jb .error.code)" == stdin_closed || "$(jb .error.code)" == process_exited ]] ||
        fail "stdin of the exited cat: code $(jb .error.code)"
    # closed by eof=1 while the process runs on: 409 stdin_closed
    pr_bg "$SID" '{"argv":["sh","-c","cat; echo cat-done; exec sleep 1000"],"background":true,"stdin_open":true}'
    local p1=$PR_PID
    pr_stdin "$SID" "$p1" "$T/bye" eof=1
    assert_eq 200 "$API_CODE" "POST stdin?eof=1"
    wait_until 10 pr_logs_have "$SID" "$p1" cat-done || fail "cat did not end at eof"
    pr_stdin "$SID" "$p1" "$T/bye"
    API_WHAT="stdin after eof of a running process" expect_error 409 stdin_closed
    # eof=1 with an empty body; a process without stdin_open has no open stdin
    pr_bg "$SID" '{"argv":["sh","-c","cat; echo eof-seen"],"background":true,"stdin_open":true}'
    local p2=$PR_PID
    : >"$T/empty"
    pr_stdin "$SID" "$p2" "$T/empty" eof=1
    assert_eq "200 0" "$API_CODE $(jb .written)" "POST stdin?eof=1 with an empty body"
    wait_until 10 pr_exited "$SID" "$p2" || fail "cat did not see the eof"
    wait_until 5 pr_logs_have "$SID" "$p2" eof-seen || fail "no eof-seen"
    pr_bg "$SID" '{"argv":["sleep","1000"],"background":true}'
    pr_stdin "$SID" "$PR_PID" "$T/hello"
    API_WHAT="stdin of a process started without stdin_open" expect_error 409 stdin_closed
    # more than a pipe holds, in one request: all of it arrives
    head -c 3145728 /dev/urandom >"$T/big"
    pr_bg "$SID" '{"argv":["md5sum"],"background":true,"stdin_open":true}'
    pr_stdin "$SID" "$PR_PID" "$T/big" eof=1
    assert_eq "200 3145728" "$API_CODE $(jb .written)" "POST of 3 MiB of stdin"
    wait_until 20 pr_exited "$SID" "$PR_PID" || fail "md5sum did not exit"
    pr_logs "$SID" "$PR_PID"
    assert_eq "$(md5sum <"$T/big" | cut -d' ' -f1)" "$(ndjson_data "$T/logs.out" stdout | cut -d' ' -f1)" "md5sum of 3 MiB sent through stdin"
}

test_cli_exec_interactive_forwards_stdin_as_it_arrives() {
    new_session
    # the command answers the first line while sbx's stdin is still open
    { echo first; sleep 2; echo second; } |
        sbx exec -i "$SID" -- sh -c 'read a; echo "got $a"; read b; echo "got $b"' | pr_stamp >"$T/stamped"
    assert_eq "got first|got second" "$(cut -d' ' -f2- "$T/stamped" | paste -sd '|')" "output"
    local t1 t2
    t1=$(sed -n 1p "$T/stamped" | cut -d' ' -f1)
    t2=$(sed -n 2p "$T/stamped" | cut -d' ' -f1)
    [ $(((t2 - t1) / 1000)) -ge 1000 ] || fail "'got first' came only $(((t2 - t1) / 1000)) ms before 'got second': stdin is not forwarded as it arrives"
    # its end closes the command's stdin; the exit status is the command's
    printf 'x' | sbx exec -i "$SID" -- sh -c 'cat; echo end; exit 6' >"$T/out"
    assert_eq "6 xend" "$? $(cat "$T/out")" "exit status and output after stdin's end"
    # more than any request holds (16 MiB): streamed
    head -c 20000000 /dev/urandom >"$T/big"
    assert_eq "$(md5sum <"$T/big" | cut -d' ' -f1)" "$(sbx exec -i "$SID" -- md5sum <"$T/big" | cut -d' ' -f1)" "md5sum of 20 MB through sbx exec -i"
    # a command that reads late: sbxd holds at most 8 MiB of unread input
    # (429 stdin_backlog), sbx sends the rest when there is room again
    local n
    n=$(sbx exec -i "$SID" -- sh -c 'sleep 2; wc -c' <"$T/big" 2>"$T/err")
    assert_eq "0 20000000" "$? $(tr -d ' ' <<<"$n")" "bytes read by a command that starts reading after 2 s ($(cat "$T/err"))"
    # the command exits without reading everything: sbx does not hang
    local rc
    yes | sbx exec -i "$SID" -- head -n 2 >"$T/out"
    rc=${PIPESTATUS[1]}
    assert_eq "0 y y" "$rc $(tr '\n' ' ' <"$T/out" | sed 's/ $//')" "sbx exec -i with an endless stdin and a command that stops reading"
}

# ---------------------------------------------------------------- waits ----

test_wait_port_answers_once_something_listens() {
    new_session
    pr_bg "$SID" '{"argv":["sh","-c","sleep 1; exec nc -l -p 8080"],"background":true}'
    local pid=$PR_PID t0=$(now_us)
    api GET "/v1/sessions/$SID/processes/$pid/wait?port=8080&timeout=20"
    local ms=$((($(now_us) - t0) / 1000))
    assert_eq 200 "$API_CODE" "wait?port=8080: $(short "$API_BODY")"
    assert_eq true "$(jb .ready)" "ready"
    jq -e '(.waited | type) == "number" and .waited >= 0.5 and .waited < 20' <<<"$API_BODY" >/dev/null ||
        fail "waited should be about 1 s (nc starts after 1 s): $API_BODY"
    [ "$ms" -ge 500 ] || fail "wait?port answered after $ms ms, before nc could listen"
    # it listens now: at once
    api GET "/v1/sessions/$SID/processes/$pid/wait?port=8080"
    assert_eq "200 true" "$API_CODE $(jb .ready)" "wait?port on a listening port"
    # the CLI, with httpd
    local p
    p=$(sbx exec -d "$SID" -- sh -c 'sleep 0.5; exec httpd -f -p 8081 -h /tmp')
    sbx wait "$SID" "$p" --port 8081 --timeout 20 2>"$T/err"
    assert_eq 0 $? "sbx wait --port 8081 status ($(cat "$T/err"))"
    must_sh "$SID" 'echo hi >/tmp/x.txt; wget -q -O - http://127.0.0.1:8081/x.txt'
    assert_eq hi "$SX_OUT" "httpd answers after sbx wait --port"
}

test_wait_log_answers_once_the_text_was_printed_replay_included() {
    new_session
    pr_bg "$SID" '{"argv":["sh","-c","echo booting; sleep 1; echo \"server ready on 3000\"; exec sleep 1000"],"background":true}'
    local pid=$PR_PID
    api GET "/v1/sessions/$SID/processes/$pid/wait?log=ready%20on%203000&timeout=20"
    assert_eq "200 true" "$API_CODE $(jb .ready)" "wait?log: $(short "$API_BODY")"
    jq -e '.waited >= 0.5' <<<"$API_BODY" >/dev/null || fail "waited should be about 1 s: $API_BODY"
    # already in the log buffer: at once
    local t0=$(now_us)
    api GET "/v1/sessions/$SID/processes/$pid/wait?log=booting&timeout=20"
    assert_eq "200 true" "$API_CODE $(jb .ready)" "wait?log of replayed output"
    [ $((($(now_us) - t0) / 1000)) -lt $((3000 * IT_SLOW)) ] || fail "wait?log of a text already printed took $((($(now_us) - t0) / 1000)) ms"
    # stderr counts too
    pr_bg "$SID" '{"argv":["sh","-c","sleep 0.3; echo listening-on-err >&2; exec sleep 1000"],"background":true}'
    api GET "/v1/sessions/$SID/processes/$PR_PID/wait?log=listening-on-err&timeout=20"
    assert_eq 200 "$API_CODE" "wait?log of a text on stderr: $(short "$API_BODY")"
    # the CLI
    sbx wait "$SID" "$pid" --log 'server ready' 2>"$T/err"
    assert_eq 0 $? "sbx wait --log status ($(cat "$T/err"))"
}

test_wait_times_out_with_408_and_a_process_that_exits_first_is_409() {
    new_session
    pr_bg "$SID" '{"argv":["sleep","1000"],"background":true}'
    local pid=$PR_PID t0=$(now_us)
    api GET "/v1/sessions/$SID/processes/$pid/wait?port=9999&timeout=1"
    local ms=$((($(now_us) - t0) / 1000))
    API_WHAT="wait?port with nothing listening" expect_error 408 wait_timeout
    [ "$ms" -ge 900 ] && [ "$ms" -lt $((10000 * IT_SLOW)) ] || fail "wait?timeout=1 answered after $ms ms"
    api GET "/v1/sessions/$SID/processes/$pid/wait?log=never-printed&timeout=1"
    API_WHAT="wait?log of a text never printed" expect_error 408 wait_timeout
    # exits while waited for
    pr_bg "$SID" '{"argv":["sh","-c","sleep 0.5; exit 7"],"background":true}'
    t0=$(now_us)
    api GET "/v1/sessions/$SID/processes/$PR_PID/wait?port=9999&timeout=30"
    ms=$((($(now_us) - t0) / 1000))
    API_WHAT="wait on a process that exits first" expect_error 409 process_exited 7
    [ "$ms" -lt $((10000 * IT_SLOW)) ] || fail "wait on a process that exits after 0.5 s answered after $ms ms (not when it exited)"
    # has exited already
    api GET "/v1/sessions/$SID/processes/$PR_PID/wait?log=x&timeout=30"
    API_WHAT="wait on an exited process" expect_error 409 process_exited 7
    # the CLI
    sbx wait "$SID" "$pid" --port 9999 --timeout 1 2>"$T/err"
    assert_eq 1 $? "sbx wait timing out: status"
    assert_ne "" "$(cat "$T/err")" "sbx wait timing out: message"
    sbx wait "$SID" "$PR_PID" --log x 2>"$T/err"
    assert_eq 1 $? "sbx wait on an exited process: status"
    assert_contains "$(cat "$T/err")" 7 "sbx wait on an exited process: message has its exit status"
    sbx wait "$SID" "$pid" 2>"$T/err"
    assert_eq 2 $? "sbx wait without --port or --log: usage error"
}

# ----------------------------------------------------------------- ttys ----

test_tty_process_has_a_pts_terminal_of_the_asked_size_that_follows_resize() {
    new_session
    api_exec "$SID" '{"argv":["sh","-c","tty; stty size; echo to-stderr >&2"],"tty":true,"tty_size":{"cols":123,"rows":45}}'
    assert_eq 200 "$EXEC_CODE" "tty exec: $EXEC_BODY"
    local out
    out=$(ndjson_data "$T/exec.out" stdout | tr -d '\r')
    assert_match "$out" '^/dev/pts/[0-9]+' "tty of a tty process"
    assert_contains "$out" "45 123" "stty size with tty_size 123x45"
    assert_contains "$out" "to-stderr" "stderr arrives merged on stdout"
    assert_eq "" "$(ndjson_data "$T/exec.out" stderr)" "stderr events of a tty process"
    assert_eq 0 "$(ndjson_exit "$T/exec.out" | jq -r .code)" "exit code"
    api_exec "$SID" '{"argv":["stty","size"],"tty":true}'
    assert_eq "24 80" "$(ndjson_data "$T/exec.out" stdout | tr -d '\r\n')" "default tty size"
    api_exec "$SID" '{"argv":["sh","-c","tty; true"]}'
    assert_eq "not a tty" "$(ndjson_data "$T/exec.out" stdout)" "tty without tty:true"
    # resize a running one
    pr_bg "$SID" '{"argv":["sh","-c","stty size; while [ ! -e /tmp/go ]; do sleep 0.05; done; stty size"],"background":true,"tty":true,"tty_size":{"cols":100,"rows":30}}'
    local pid=$PR_PID
    assert_eq "true" "$(jq -r .tty <<<"$PR_BODY")" "tty in the process object"
    wait_until 10 pr_logs_have "$SID" "$pid" "30 100" || fail "first stty size: $(short "$(cat "$T/logs.out")")"
    api POST "/v1/sessions/$SID/processes/$pid/resize" '{"cols":132,"rows":50}'
    assert_eq 200 "$API_CODE" "resize: $(short "$API_BODY")"
    must_sh "$SID" 'touch /tmp/go'
    wait_until 10 pr_exited "$SID" "$pid" || fail "the tty process did not exit"
    pr_logs "$SID" "$pid"
    assert_eq "30 100|50 132" "$(ndjson_data "$T/logs.out" stdout | tr -d '\r' | paste -sd '|')" "stty size before and after the resize"
    # the CLI without a local terminal: a terminal there all the same (80x24)
    sbx exec --tty "$SID" -- sh -c 'tty; stty size; echo err >&2' </dev/null >"$T/cli.out" 2>"$T/cli.err"
    assert_eq 0 $? "sbx exec --tty status ($(cat "$T/cli.err"))"
    out=$(tr -d '\r' <"$T/cli.out")
    assert_match "$out" '^/dev/pts/[0-9]+' "sbx exec --tty: tty"
    assert_contains "$out" "24 80" "sbx exec --tty: size without a local terminal"
    assert_contains "$out" "err" "sbx exec --tty: stderr merged"
    assert_eq "" "$(cat "$T/cli.err")" "sbx exec --tty: nothing on sbx's stderr"
    # --tty -i forwards a pipe; TERM comes from here
    printf 'hello\n' | TERM=vt220 sbx exec --tty -i "$SID" -- sh -c 'read x; echo "got $x $TERM"' >"$T/cli.out"
    assert_contains "$(tr -d '\r' <"$T/cli.out")" "got hello vt220" "sbx exec --tty -i"
}

test_shell_with_piped_stdin_runs_commands_and_exits_with_the_remote_status() {
    new_session
    printf 'echo hello-$((6*7))\ntty\nexit 3\n' | TERM=xterm-256color sbx shell "$SID" >"$T/out" 2>"$T/err"
    assert_eq 3 $? "sbx shell exit status ($(cat "$T/err"))"
    local out
    out=$(tr -d '\r' <"$T/out")
    assert_contains "$out" "hello-42" "output of a command typed into sbx shell"
    assert_match "$out" $'(^|\n)/dev/pts/[0-9]+' "sbx shell runs on a terminal"
    printf 'echo "term=$TERM"\nexit\n' | TERM=xterm-256color sbx shell "$SID" >"$T/out"
    assert_eq 0 $? "sbx shell 'exit' status"
    assert_contains "$(tr -d '\r' <"$T/out")" "term=xterm-256color" "TERM passed by sbx shell"
    # a command instead of the shell; killed by a signal: 128+N
    sbx shell "$SID" -- sh -c 'exit 5' </dev/null
    assert_eq 5 $? "sbx shell -- sh -c 'exit 5'"
    sbx shell "$SID" -- sh -c 'kill -TERM $$' </dev/null
    assert_eq 143 $? "sbx shell -- a command killed by SIGTERM"
    sbx shell -u root "$SID" -- id -u </dev/null >"$T/out"
    assert_eq 0 "$(tr -d '\r\n' <"$T/out")" "sbx shell -u root"
    sbx shell "$SID" -- /no/such/shell </dev/null 2>"$T/err"
    assert_eq 127 $? "sbx shell with a missing command"
    sbx shell nosuchsession </dev/null 2>"$T/err"
    assert_eq 125 $? "sbx shell with an unknown session"
    assert_ne "" "$(cat "$T/err")" "sbx shell with an unknown session: message"
}

test_ctrl_c_byte_on_a_tty_interrupts_the_foreground_command() {
    new_session
    # a tty exec of sleep: the \x03 byte is SIGINT from its line discipline
    curl -sS -N --max-time 60 --unix-socket "$SOCK" -X POST -o "$T/fg.out" \
        -d '{"argv":["sleep","100"],"tty":true}' "http://sbx/v1/sessions/$SID/exec" &
    local cpid=$!
    wait_until 20 pr_has_start "$T/fg.out" || fail "the tty exec did not start"
    local pid
    pid=$(pr_start_pid "$T/fg.out")
    printf '\003' >"$T/ctrl-c"
    pr_stdin "$SID" "$pid" "$T/ctrl-c"
    assert_eq "200 1" "$API_CODE $(jb .written)" "POST of Ctrl-C"
    wait_until 10 pr_done "$cpid" || fail "sleep 100 on a tty still runs 10 s after Ctrl-C"
    wait "$cpid"
    assert_eq "null 2" "$(ndjson_exit "$T/fg.out" | jq -r '"\(.code) \(.signal)"')" "exit of sleep after Ctrl-C ($(short "$(cat "$T/fg.out")"))"
    # in sbx shell: Ctrl-C stops the command, the shell goes on
    local t0=$(now_us)
    {
        printf 'sleep 100\n'
        wait_until 20 _pr_sleep100 || echo "sleep 100 did not start in the shell" >>"$T/note"
        printf '\003'
        wait_until 20 _pr_no_sleep100 || echo "sleep 100 survived Ctrl-C in the shell" >>"$T/note"
        printf 'echo survived-$((40+2))\nexit 0\n'
    } | sbx shell "$SID" >"$T/out" 2>"$T/err"
    local rc=$? s=$((($(now_us) - t0) / 1000000))
    assert_eq 0 "$rc" "sbx shell status after Ctrl-C ($(cat "$T/err"))"
    assert_contains "$(tr -d '\r' <"$T/out")" "survived-42" "the shell runs the next command after Ctrl-C"
    [ "$s" -lt 60 ] || fail "sbx shell took $s s: Ctrl-C did not interrupt sleep 100"
    [ ! -s "$T/note" ] || fail "$(cat "$T/note") (output: $(short "$(cat "$T/out")"))"
}
_pr_sleep100() { [ -n "$(pr_sandbox_procs "$SID" '^sleep 100 $')" ]; }
_pr_no_sleep100() { ! _pr_sleep100; }

# ------------------------------------------------------------- hostile ----

test_hostile_process_requests_get_clear_errors() {
    new_session
    pr_bg "$SID" '{"argv":["sleep","1000"],"background":true}'
    local pid=$PR_PID
    pr_bg "$SID" '{"argv":["sh","-c","exit 0"],"background":true}'
    local gone=$PR_PID
    wait_until 10 pr_exited "$SID" "$gone" || fail "sh -c 'exit 0' did not exit"
    # unknown pids
    local p
    for p in 999999 "$((pid + 100000))"; do
        api GET "/v1/sessions/$SID/processes/$p"
        API_WHAT="GET processes/$p" expect_error 404 no_such_process
        for r in logs wait?port=80; do
            api GET "/v1/sessions/$SID/processes/$p/$r"
            API_WHAT="GET processes/$p/$r" expect_error 404 no_such_process
        done
        pr_kill "$SID" "$p" '"TERM"'
        API_WHAT="signal to pid $p" expect_error 404 no_such_process
    done
    for p in abc -1 0 99999999999999999999 1.5; do
        api GET "/v1/sessions/$SID/processes/$p"
        [[ "$API_CODE" == 400 || "$API_CODE" == 404 ]] || fail "GET processes/$p: expected 400 or 404, got $API_CODE $(short "$API_BODY")"
        API_WHAT="GET processes/$p" expect_error "$API_CODE" '*'
    done
    api GET /v1/sessions/000000000000/processes
    API_WHAT="processes of an unknown session" expect_error 404 not_found
    # signals
    local s
    for s in '"BOGUS"' '"SIGBOGUS"' '""' 65 -1 1000000000000 '[]' true null; do
        pr_kill "$SID" "$pid" "$s"
        API_WHAT="signal $s" expect_error 400 invalid_request signal
    done
    api POST "/v1/sessions/$SID/processes/$pid/signal" '{}'
    API_WHAT="signal without a signal" expect_error 400 invalid_request signal
    api POST "/v1/sessions/$SID/processes/$pid/signal" '{"signal":"TERM","extra":1}'
    API_WHAT="signal with an unknown field" expect_error 400 invalid_request extra
    assert_eq running "$(pr_field "$SID" "$pid" .state)" "sleep survived the bad signals"
    # resize
    api POST "/v1/sessions/$SID/processes/$pid/resize" '{"cols":100,"rows":30}'
    API_WHAT="resize of a process without a tty" expect_error 409 not_a_tty
    pr_bg "$SID" '{"argv":["sleep","1000"],"background":true,"tty":true}'
    local tp=$PR_PID b
    for b in '{"cols":0,"rows":30}' '{"cols":100,"rows":-1}' '{"cols":100000,"rows":30}' '{"cols":"80","rows":24}' '{"cols":80}' '{"cols":80.5,"rows":24}'; do
        api POST "/v1/sessions/$SID/processes/$tp/resize" "$b"
        API_WHAT="resize $b" expect_error 400 invalid_request
    done
    # stdin
    printf 'x' >"$T/x"
    pr_stdin "$SID" "$pid" "$T/x"
    API_WHAT="stdin of a process whose stdin is closed" expect_error 409 stdin_closed
    pr_stdin "$SID" "$gone" "$T/x"
    [ "$API_CODE" = 409 ] || fail "stdin of an exited process: expected 409, got $API_CODE $(short "$API_BODY")"
    API_WHAT="stdin of an exited process" expect_error 409 '*'
    [[ "$(jb .error.code)" == stdin_closed || "$(jb .error.code)" == process_exited ]] ||
        fail "stdin of an exited process: code $(jb .error.code)"
    # waits
    local q
    for q in port=0 port=65536 port=-1 port=abc port= "port=80&timeout=-1" "port=80&timeout=abc" \
        "port=80&timeout=1000000000000" ""; do
        api GET "/v1/sessions/$SID/processes/$pid/wait?$q"
        API_WHAT="wait?$q" expect_error 400 '*'
    done
    # exec fields
    for b in '{"argv":["true"],"background":"yes"}' '{"argv":["true"],"tty":1}' \
        '{"argv":["true"],"stdin_open":"true"}' '{"argv":["true"],"log_buffer":-1}' \
        '{"argv":["true"],"log_buffer":1125899906842624}' '{"argv":["true"],"log_buffer":"1M"}' \
        '{"argv":["true"],"tty":true,"tty_size":{"cols":0,"rows":24}}' \
        '{"argv":["true"],"tty":true,"tty_size":{"cols":80,"rows":-24}}' \
        '{"argv":["true"],"tty":true,"tty_size":{"cols":100000,"rows":24}}' \
        '{"argv":["true"],"tty":true,"tty_size":{"cols":80,"rows":24,"x":1}}' \
        '{"argv":["true"],"tty":true,"tty_size":[80,24]}'; do
        api POST "/v1/sessions/$SID/exec" "$b"
        API_WHAT="exec $b" expect_error 400 invalid_request
    done
    # keepalive
    api POST "/v1/sessions/000000000000/keepalive"
    API_WHAT="keepalive of an unknown session" expect_error 404 not_found
    # the CLI says what is wrong with its operands before asking
    sbx logs "$SID" abc 2>"$T/err"
    assert_eq 2 $? "sbx logs ID abc: usage error"
    assert_contains "$(cat "$T/err")" "PID" "sbx logs ID abc: message"
    sbx kill "$SID" 2>"$T/err"
    assert_eq 2 $? "sbx kill without PID"
    sbx logs "$SID" 999999 2>"$T/err"
    assert_eq 1 $? "sbx logs of an unknown pid"
    assert_ne "" "$(cat "$T/err")" "sbx logs of an unknown pid: message"
    sbx kill -s BOGUS "$SID" "$pid" 2>"$T/err"
    assert_eq 1 $? "sbx kill -s BOGUS"
    assert_contains "$(cat "$T/err")" "signal" "sbx kill -s BOGUS: message"
    sx -it "$SID" -- sh
    assert_eq 2 "$SX_RC" "sbx exec -it (docker habit): usage error"
    assert_contains "$SX_ERR" "--tty" "sbx exec -it: the message points at --tty"
    assert_health
}

test_keepalive_holds_off_the_idle_timeout_of_a_session() {
    new_session
    api POST "/v1/sessions/$SID/keepalive"
    assert_eq 200 "$API_CODE" "keepalive: $(short "$API_BODY")"
    sbx keepalive "$SID"
    assert_eq 0 $? "sbx keepalive"
    sbx keepalive 000000000000 2>"$T/err"
    assert_eq 1 $? "sbx keepalive of an unknown session"
    assert_ne "" "$(cat "$T/err")" "sbx keepalive of an unknown session: message"
    # sbx create --idle-timeout: kept alive for 5 s by keepalives every 0.5 s
    # (a background sleep alone is no activity), then removed
    local sid
    sid=$(sbx create --image busybox --idle-timeout 2)
    assert_match "$sid" '^[0-9a-f]{12}$' "sbx create --idle-timeout"
    assert_eq 2 "$(session_field "$sid" .idle_timeout)" "idle_timeout of the session"
    sbx exec -d "$sid" -- sleep 1000 >/dev/null
    local i
    for i in $(seq 1 10); do
        sbx keepalive "$sid" || fail "sbx keepalive $i of a session with an idle timeout: status $?"
        sleep 0.5
    done
    assert_eq running "$(session_field "$sid" .state)" "session after 5 s of keepalives (idle timeout 2 s)"
    wait_until 15 session_gone "$sid" || fail "the session was not removed after 2 s without activity"
    api DELETE "/v1/sessions/$SID"
    assert_no_leaks
}

# ------------------------------------------------- sbxd restarts, cuts ----

test_cli_exec_reports_a_restart_or_a_cut_stream_never_as_an_exit_status() {
    daemon_start clirs || fail "second sbxd did not start"
    defer daemon_stop clirs
    new_session
    local sid=$SID
    # sbxd killed and started again: the stream ends with supervisor_restarted
    sbx exec "$sid" -- sh -c 'echo started; exec sleep 1000' >"$T/out" 2>"$T/err" &
    local cpid=$!
    wait_until 20 grep -q started "$T/out" || fail "the exec did not start: $(cat "$T/err")"
    daemon_stop clirs KILL
    daemon_start clirs || fail "sbxd does not start over a killed one"
    wait_until 20 pr_done "$cpid" || fail "sbx exec still runs 20 s after sbxd restarted"
    wait "$cpid"
    assert_eq 125 $? "sbx exec status when sbxd restarted mid-stream (never the process's)"
    local err pid
    err=$(cat "$T/err")
    assert_contains "$err" "supervisor restarted" "sbx exec message after a restart"
    assert_contains "$err" "still running" "sbx exec message after a restart"
    pid=$(sed -n 's/.*process \([0-9]*\) is still running.*/\1/p' <<<"$err")
    assert_match "$pid" '^[1-9][0-9]*$' "the pid in sbx exec's message ($err)"
    assert_contains "$err" "sbx logs -f $sid $pid" "sbx exec's message says how to follow it"
    assert_match "$(sbx ps "$sid" | grep -E "^$pid ")" "^$pid +running +- .*exec sleep 1000'\$" "the process runs on after the restart"
    sbx kill -s KILL "$sid" "$pid"
    wait_until 10 pr_exited "$sid" "$pid" || fail "sleep 1000 survived sbx kill after the restart"
    # sbxd killed and the sandbox gone with it: the connection just ends
    sbx exec "$sid" -- sh -c 'echo started2; exec sleep 1001' >"$T/out" 2>"$T/err" &
    cpid=$!
    wait_until 20 grep -q started2 "$T/out" || fail "the second exec did not start: $(cat "$T/err")"
    local init_pid
    init_pid=$(session_field "$sid" .pid)
    daemon_stop clirs KILL
    kill -KILL "$init_pid"
    wait_until 20 pr_done "$cpid" || fail "sbx exec still runs 20 s after sbxd and the sandbox died"
    wait "$cpid"
    assert_eq 125 $? "sbx exec status when its stream was cut (never the process's, never 0)"
    assert_contains "$(cat "$T/err")" "broke off" "sbx exec message when its stream was cut"
    assert_contains "$(cat "$T/err")" "may still be running" "sbx exec message when its stream was cut"
    daemon_start clirs || fail "sbxd does not start after its sandbox died"
    delete_all_sessions
    LEAK_WHAT="after the restarts" assert_no_leaks clirs
}
