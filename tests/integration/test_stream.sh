# test_stream.sh - exec streaming: timing, event order, binary safety, stdin,
# large output, concurrency, timeouts, disconnects.

# Read an NDJSON exec stream and stamp each line with its arrival time (us).
_stamp_lines() {
    local line
    while IFS= read -r line; do printf '%s %s\n' "$(now_us)" "$line"; done
}

test_exec_streams_output_before_process_exits() {
    new_session
    local t0
    t0=$(now_us)
    curl -sS -N --max-time 60 --unix-socket "$SOCK" -X POST \
        -d '{"argv":["sh","-c","echo first; sleep 2; echo second"]}' \
        "http://sbx/v1/sessions/$SID/exec" | _stamp_lines >"$T/stamped"
    local first exit_t first_data
    first=$(grep -m1 '"type": *"stdout"' "$T/stamped")
    [ -n "$first" ] || fail "no stdout event: $(short "$(cat "$T/stamped")")"
    first_data=$(jq -r .data <<<"${first#* }" | base64 -d)
    assert_eq first "$first_data" "first stdout event"
    exit_t=$(grep -m1 '"type": *"exit"' "$T/stamped" | cut -d' ' -f1)
    [ -n "$exit_t" ] || fail "no exit event: $(short "$(cat "$T/stamped")")"
    local gap=$(((exit_t - ${first%% *}) / 1000))
    note "first stdout after $(((${first%% *} - t0) / 1000)) ms, exit $gap ms later"
    [ "$gap" -ge 1000 ] || fail "the first line arrived only ${gap} ms before the exit event (expected >= 1000 ms: output is not streamed while the process runs)"
}

test_cli_exec_streams_output_before_process_exits() {
    new_session
    sbx exec "$SID" -- sh -c 'echo first; sleep 2; echo second' | _stamp_lines >"$T/stamped"
    local t1 t2
    t1=$(sed -n 1p "$T/stamped" | cut -d' ' -f1)
    t2=$(sed -n 2p "$T/stamped" | cut -d' ' -f1)
    assert_eq "first second" "$(cut -d' ' -f2 "$T/stamped" | tr '\n' ' ' | sed 's/ $//')" "sbx exec output"
    local gap=$(((t2 - t1) / 1000))
    [ "$gap" -ge 1000 ] || fail "sbx exec wrote 'first' only ${gap} ms before 'second' (expected >= 1000 ms: the CLI does not stream)"
}

test_exec_ndjson_events_are_ordered_start_output_exit() {
    new_session
    api_exec "$SID" '{"argv":["sh","-c","echo out1; echo err1 >&2; echo out2; exit 5"]}'
    assert_eq 200 "$EXEC_CODE" "exec status ($EXEC_BODY)"
    local hdr
    hdr=$(tr -d '\r' <"$T/exec.hdr")
    assert_match "$hdr" $'(^|\n)[Cc]ontent-[Tt]ype: application/x-ndjson' "Content-Type header"
    assert_match "$hdr" $'(^|\n)[Tt]ransfer-[Ee]ncoding: chunked' "Transfer-Encoding header"
    jq -e . "$T/exec.out" >/dev/null || fail "the body is not NDJSON: $(short "$EXEC_BODY")"
    local types
    types=$(jq -r .type "$T/exec.out" | tr '\n' ' ')
    assert_match "$types" '^start (stdout |stderr )+exit $' "event order"
    assert_eq 1 "$(jq -r .type "$T/exec.out" | grep -c '^start$')" "start events"
    assert_eq 1 "$(jq -r .type "$T/exec.out" | grep -c '^exit$')" "exit events"
    assert_match "$(head -n 1 "$T/exec.out" | jq -r .pid)" '^[1-9][0-9]*$' "start.pid"
    assert_eq "$(printf 'out1\nout2\n')" "$(ndjson_data "$T/exec.out" stdout)" "stdout events"
    assert_eq err1 "$(ndjson_data "$T/exec.out" stderr)" "stderr events"
    local ex
    ex=$(ndjson_exit "$T/exec.out")
    assert_eq "5 null false false" "$(jq -r '"\(.code) \(.signal) \(.oom_killed) \(.timed_out)"' <<<"$ex")" "exit event code/signal/oom_killed/timed_out"
    jq -e '(.duration | type) == "number" and .duration >= 0 and .duration < 60' <<<"$ex" >/dev/null ||
        fail "exit.duration: $ex"
    # killed by a signal
    api_exec "$SID" '{"argv":["sh","-c","kill -KILL $$"]}'
    ex=$(ndjson_exit "$T/exec.out")
    assert_eq "null 9 false false" "$(jq -r '"\(.code) \(.signal) \(.oom_killed) \(.timed_out)"' <<<"$ex")" "exit event of a SIGKILLed process"
    # no output at all: start, exit
    api_exec "$SID" '{"argv":["true"]}'
    assert_eq "start exit" "$(jq -r .type "$T/exec.out" | tr '\n' ' ' | sed 's/ $//')" "events of a silent process"
}

test_exec_output_is_binary_safe_over_ndjson() {
    new_session
    local fmt
    fmt=$(all_bytes_fmt)
    printf "$fmt$fmt$fmt" >"$T/want.out"
    printf "$fmt" >"$T/want.err"
    local body
    body=$(jq -nc --arg f "$fmt" '{argv: ["sh", "-c", "printf \"$1$1$1\"; printf \"$1\" >&2", "_", $f]}')
    api_exec "$SID" "$body"
    assert_eq 200 "$EXEC_CODE" "exec status ($EXEC_BODY)"
    ndjson_data "$T/exec.out" stdout >"$T/got.out"
    ndjson_data "$T/exec.out" stderr >"$T/got.err"
    cmp "$T/want.out" "$T/got.out" >&2 || fail "stdout bytes differ (want 768 bytes: 3 x 0..255; got $(wc -c <"$T/got.out"))"
    cmp "$T/want.err" "$T/got.err" >&2 || fail "stderr bytes differ (want 256 bytes: 0..255; got $(wc -c <"$T/got.err"))"
    # 2 MiB of random bytes: many events, checked against md5sum inside
    api_exec "$SID" '{"argv":["sh","-c","head -c 2097152 /dev/urandom >/tmp/r; cat /tmp/r; md5sum </tmp/r >&2"]}'
    local want got
    want=$(ndjson_data "$T/exec.out" stderr | cut -d' ' -f1)
    got=$(ndjson_data "$T/exec.out" stdout | md5sum | cut -d' ' -f1)
    assert_match "$want" '^[0-9a-f]{32}$' "md5sum inside"
    assert_eq "$want" "$got" "md5 of 2 MiB of random stdout"
}

test_exec_output_is_binary_safe_through_cli() {
    new_session
    local fmt
    fmt=$(all_bytes_fmt)
    printf "$fmt$fmt$fmt" >"$T/want.out"
    printf "$fmt" >"$T/want.err"
    sbx exec "$SID" -- sh -c 'printf "$1$1$1"; printf "$1" >&2' _ "$fmt" >"$T/got.out" 2>"$T/got.err"
    assert_eq 0 $? "sbx exec status"
    cmp "$T/want.out" "$T/got.out" >&2 || fail "stdout bytes differ (want 768 bytes: 3 x 0..255; got $(wc -c <"$T/got.out"))"
    cmp "$T/want.err" "$T/got.err" >&2 || fail "stderr bytes differ (want 256 bytes: 0..255; got $(wc -c <"$T/got.err"))"
    sbx exec "$SID" -- sh -c 'head -c 8388608 /dev/urandom >/tmp/r; cat /tmp/r; md5sum </tmp/r >&2' >"$T/got.out" 2>"$T/got.err"
    assert_eq "$(cut -d' ' -f1 "$T/got.err")" "$(md5sum <"$T/got.out" | cut -d' ' -f1)" "md5 of 8 MiB of random stdout"
}

test_exec_stdin_bytes_are_delivered_via_api() {
    new_session
    local fmt
    fmt=$(all_bytes_fmt)
    { printf "$fmt$fmt"; printf 'tail\000'; } >"$T/in"
    api_exec "$SID" "$(jq -nc --arg s "$(base64 -w0 "$T/in")" '{argv: ["cat"], stdin: $s}')"
    assert_eq 200 "$EXEC_CODE" "exec status ($EXEC_BODY)"
    ndjson_data "$T/exec.out" stdout >"$T/got"
    cmp "$T/in" "$T/got" >&2 || fail "cat echoed $(wc -c <"$T/got") bytes, not the $(wc -c <"$T/in") given as stdin"
    # 3 MiB: more than a pipe holds
    head -c 3145728 /dev/urandom >"$T/big"
    api_exec "$SID" "$(base64 -w0 "$T/big" | jq -Rc '{argv: ["md5sum"], stdin: .}')"
    assert_eq "$(md5sum <"$T/big" | cut -d' ' -f1)" "$(ndjson_data "$T/exec.out" stdout | cut -d' ' -f1)" "md5sum of 3 MiB of stdin"
    # no stdin: EOF at once
    api_exec "$SID" '{"argv":["sh","-c","cat; echo eof"]}'
    assert_eq eof "$(ndjson_data "$T/exec.out" stdout)" "without stdin, cat sees EOF"
    # empty stdin
    api_exec "$SID" '{"argv":["wc","-c"],"stdin":""}'
    assert_match "$(ndjson_data "$T/exec.out" stdout)" '^ *0$' "empty stdin"
}

test_cli_exec_interactive_delivers_stdin() {
    new_session
    local fmt
    fmt=$(all_bytes_fmt)
    printf "$fmt$fmt" >"$T/in"
    sbx exec -i "$SID" -- cat <"$T/in" >"$T/got"
    assert_eq 0 $? "sbx exec -i status"
    cmp "$T/in" "$T/got" >&2 || fail "cat echoed $(wc -c <"$T/got") bytes, not the 512 given"
    head -c 3145728 /dev/urandom >"$T/big"
    assert_eq "$(md5sum <"$T/big" | cut -d' ' -f1)" "$(sbx exec -i "$SID" -- md5sum <"$T/big" | cut -d' ' -f1)" "md5sum of 3 MiB through -i"
    # without -i the command's stdin is empty (EOF), whatever sbx's stdin is
    local out
    out=$(echo data | sbx exec "$SID" -- sh -c 'cat; echo end')
    assert_eq end "$out" "stdin without -i"
}

test_cli_large_output_byte_count_is_exact() {
    new_session
    local mb=${SBX_TEST_BIG_MB:-200}
    local n=$((mb * 1048576)) got
    got=$(sbx exec "$SID" -- head -c "$n" /dev/zero | wc -c)
    assert_eq 0 "${PIPESTATUS[0]}" "sbx exec status"
    assert_eq "$n" "$got" "bytes received for $mb MiB"
    # forwarded, not accumulated: sbxd's peak memory stays far below the output
    local hwm
    hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$(daemon_pid main)/status")
    note "sbxd VmHWM ${hwm} kB after $mb MiB"
    assert_le "$hwm" $((64 * 1024)) "sbxd peak RSS (kB) after streaming $mb MiB"
    # a reader that stalls while the process writes and exits: nothing lost
    got=$(sbx exec "$SID" -- head -c 16777216 /dev/urandom | (sleep 1; wc -c))
    assert_eq 16777216 "$got" "bytes received by a reader that stalled for 1 s"
    # and over NDJSON
    got=$(curl -sS -N --max-time 120 --unix-socket "$SOCK" -X POST \
        -d '{"argv":["head","-c","33554432","/dev/zero"]}' "http://sbx/v1/sessions/$SID/exec" |
        jq -n '[inputs | select(.type == "stdout") | .data |
               (length / 4 * 3) - (if endswith("==") then 2 elif endswith("=") then 1 else 0 end)] | add')
    assert_eq 33554432 "$got" "bytes received over NDJSON for 32 MiB"
}

test_concurrent_execs_in_one_session_run_in_parallel() {
    new_session
    # Each exec announces itself, waits for the other two, then for /tmp/go:
    # serialized execs could never finish (each is bounded by its timeout).
    local n
    for n in a b c; do
        curl -sS -N --max-time 60 --unix-socket "$SOCK" -X POST -o "$T/$n.out" \
            -d "{\"argv\":[\"sh\",\"-c\",\"touch /tmp/ready.$n; while [ ! -e /tmp/ready.a ] || [ ! -e /tmp/ready.b ] || [ ! -e /tmp/ready.c ] || [ ! -e /tmp/go ]; do sleep 0.05; done; echo done $n\"],\"timeout\":30}" \
            "http://sbx/v1/sessions/$SID/exec" &
    done
    wait_until 30 _session_execs_is "$SID" 3 || fail "session execs never reached 3 (got $(session_field "$SID" .execs))"
    api GET /v1/health
    assert_eq 3 "$(jb .execs)" "health execs while three run"
    wait_until 20 _all_ready || fail "the three execs did not all start: $(sbx exec "$SID" -- ls /tmp)"
    sx "$SID" -- touch /tmp/go
    assert_eq 0 "$SX_RC" "a fourth exec while three run ($SX_ERR)"
    wait %1 %2 %3
    for n in a b c; do
        assert_eq "done $n" "$(ndjson_data "$T/$n.out" stdout)" "output of exec $n"
        assert_eq "0 false" "$(ndjson_exit "$T/$n.out" | jq -r '"\(.code) \(.timed_out)"')" "exit of exec $n"
    done
    wait_until 10 _session_execs_is "$SID" 0 || fail "session execs did not return to 0"
}

_session_execs_is() { [ "$(session_field "$1" .execs)" = "$2" ]; }
_all_ready() {
    sx "$SID" -- sh -c 'test -e /tmp/ready.a && test -e /tmp/ready.b && test -e /tmp/ready.c'
    [ "$SX_RC" = 0 ]
}

test_exec_timeout_kills_with_signal_9() {
    new_session
    api_exec "$SID" '{"argv":["sh","-c","sleep 100 & sleep 100"],"timeout":0.5}'
    assert_eq 200 "$EXEC_CODE" "exec status ($EXEC_BODY)"
    local ex
    ex=$(ndjson_exit "$T/exec.out")
    assert_eq "null 9 true false" "$(jq -r '"\(.code) \(.signal) \(.timed_out) \(.oom_killed)"' <<<"$ex")" "exit event after the timeout"
    jq -e '.duration >= 0.4 and .duration < 30' <<<"$ex" >/dev/null || fail "exit.duration of a 0.5 s timeout: $ex"
    # the whole process group went: only init is left
    wait_until 10 _session_pids_is "$SID" 1 || fail "processes left after the timeout: pids_current $(session_field "$SID" .usage.pids_current)"
    # a process that ends in time is not timed out
    api_exec "$SID" '{"argv":["true"],"timeout":30}'
    assert_eq "0 null false" "$(ndjson_exit "$T/exec.out" | jq -r '"\(.code) \(.signal) \(.timed_out)"')" "exit of a process faster than its timeout"
    # CLI
    sx -t 0.5 "$SID" -- sleep 100
    assert_eq 137 "$SX_RC" "sbx exec -t 0.5 -- sleep 100: exit status"
    assert_contains "$SX_ERR" "timed out" "sbx exec -t stderr"
}

_session_pids_is() { [ "$(session_field "$1" .usage.pids_current)" = "$2" ]; }

test_client_disconnect_kills_the_process() {
    new_session
    local uid_sbx=$((IDBASE + 1000))
    curl -sS -N --max-time 120 --unix-socket "$SOCK" -X POST -o "$T/exec.out" \
        -d '{"argv":["sh","-c","sleep 1000; echo never"]}' "http://sbx/v1/sessions/$SID/exec" &
    local cpid=$!
    wait_until 30 _session_execs_is "$SID" 1 || fail "the exec did not start"
    wait_until 10 _host_sleep_1000 || fail "no 'sleep 1000' process of the sandbox on the host: $(range_procs)"
    kill -KILL "$cpid"
    wait "$cpid" 2>/dev/null
    wait_until 10 _session_execs_is "$SID" 0 || fail "session execs still $(session_field "$SID" .execs) 10 s after the client went away"
    wait_until 10 _no_host_sleep_1000 || fail "'sleep 1000' still runs 10 s after the client went away: $(range_procs)"
    wait_until 10 _session_pids_is "$SID" 1 || fail "processes left in the session: pids_current $(session_field "$SID" .usage.pids_current)"
    api GET /v1/health
    assert_eq 0 "$(jb .execs)" "health execs"
}

test_client_disconnect_kills_a_process_blocked_on_output() {
    new_session
    # `yes` writes forever; the client reads 1 MB and goes away while sbxd is
    # holding output back (backpressure)
    curl -sS -N --max-time 60 --unix-socket "$SOCK" -X POST -d '{"argv":["yes","sbx"]}' \
        "http://sbx/v1/sessions/$SID/exec" 2>/dev/null | head -c 1000000 >"$T/head.out"
    assert_eq 1000000 "$(wc -c <"$T/head.out")" "bytes read before going away"
    wait_until 10 _session_execs_is "$SID" 0 || fail "session execs still $(session_field "$SID" .execs) 10 s after the client went away"
    wait_until 10 _session_pids_is "$SID" 1 || fail "processes left in the session: pids_current $(session_field "$SID" .usage.pids_current): $(range_procs)"
    # the CLI's reader goes away: sbx ends with SIGPIPE's status, the process is killed
    sbx exec "$SID" -- yes | head -n 1 >/dev/null
    assert_eq 141 "${PIPESTATUS[0]}" "status of sbx exec -- yes | head -n 1"
    wait_until 10 _session_execs_is "$SID" 0 || fail "session execs still $(session_field "$SID" .execs) after sbx exec's reader went away"
    wait_until 10 _session_pids_is "$SID" 1 || fail "processes left after sbx exec's reader went away: $(range_procs)"
    # the same with a stalled client (connection open, nothing read)
    curl -sS -N --max-time 60 --limit-rate 1k --unix-socket "$SOCK" -X POST -d '{"argv":["yes","sbx"]}' \
        -o /dev/null "http://sbx/v1/sessions/$SID/exec" 2>/dev/null &
    local cpid=$!
    wait_until 20 _session_execs_is "$SID" 1 || fail "the second exec did not start"
    sleep 0.5
    local hwm
    hwm=$(awk '/^VmRSS/ { print $2 }' "/proc/$(daemon_pid main)/status")
    assert_le "$hwm" $((64 * 1024)) "sbxd RSS (kB) while a client stalls on endless output"
    kill "$cpid"
    wait "$cpid" 2>/dev/null
    wait_until 10 _session_execs_is "$SID" 0 || fail "session execs still $(session_field "$SID" .execs) after the stalled client went away"
    wait_until 10 _session_pids_is "$SID" 1 || fail "processes left after the stalled client went away: $(range_procs)"
}

_host_sleep_1000() { range_procs | grep -q ' sleep 1000$'; }
_no_host_sleep_1000() { ! range_procs | grep -q 'sleep 1000'; }

test_delete_ends_running_exec_stream_with_exit_event() {
    new_session
    curl -sS -N --max-time 60 --unix-socket "$SOCK" -X POST -o "$T/exec.out" \
        -d '{"argv":["sleep","1000"]}' "http://sbx/v1/sessions/$SID/exec" &
    local cpid=$!
    wait_until 30 _session_execs_is "$SID" 1 || fail "the exec did not start"
    api DELETE "/v1/sessions/$SID"
    assert_eq 204 "$API_CODE" "DELETE while an exec runs"
    wait_until 20 _gone "$cpid" || fail "the exec stream did not end 20 s after DELETE"
    wait "$cpid"
    assert_eq 0 $? "curl status (stream ended cleanly)"
    assert_eq "null 9" "$(ndjson_exit "$T/exec.out" | jq -r '"\(.code) \(.signal)"')" "exit event after DELETE ($(short "$(cat "$T/exec.out")"))"
    assert_no_leaks
}

_gone() { ! kill -0 "$1" 2>/dev/null; }
