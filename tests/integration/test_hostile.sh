# test_hostile.sh - hostile and malformed input: each gets the right 4xx JSON
# error (code + a message naming the problem), and the daemon keeps serving.

# reject BODY STATUS CODE [MESSAGE_SUBSTRING...]: POST /v1/sessions BODY is refused.
reject_create() {
    local body=$1
    shift
    api POST /v1/sessions "$body"
    API_WHAT="POST /v1/sessions ${body:0:80}" expect_error "$@"
}

reject_exec() { # ID BODY STATUS CODE [MESSAGE_SUBSTRING...]
    local id=$1 body=$2
    shift 2
    api POST "/v1/sessions/$id/exec" "$body"
    API_WHAT="exec ${body:0:80}" expect_error "$@"
}

test_malformed_json_is_rejected_with_invalid_json() {
    reject_create '{"image":' 400 invalid_json "byte"
    reject_create '{"image":"busybox"} trailing' 400 invalid_json "trailing"
    reject_create '{"image":"busybox"}{}' 400 invalid_json "trailing"
    reject_create '{image:"busybox"}' 400 invalid_json
    reject_create '{"image":"busybox",,}' 400 invalid_json
    reject_create '{"image" "busybox"}' 400 invalid_json
    reject_create '{"image":"busybox"' 400 invalid_json
    reject_create '{"image":"\x"}' 400 invalid_json
    reject_create $'{"image":"busy\xff\xfebox"}' 400 '*'
    new_session
    reject_exec "$SID" '{"argv":["ls"' 400 invalid_json
    assert_no_leaks_but_one "$SID"
}

# Only session ID exists (no half-made others).
assert_no_leaks_but_one() {
    api GET /v1/sessions
    assert_eq "$1" "$(jb '[.sessions[].id] | join(" ")')" "sessions after the refused requests"
}

# json-c extensions are not JSON: the daemon must not accept them.
test_json_extensions_are_rejected_as_invalid_json() {
    reject_create '{"image":"busybox",}' 400 invalid_json
    reject_create "{'image':'busybox'}" 400 invalid_json
    reject_create '{"image":"busybox" /* comment */}' 400 invalid_json
    reject_create '{"image":"busybox","limits":{"cpu":NaN}}' 400 invalid_json
    api GET /v1/sessions
    assert_eq 0 "$(jb '.sessions | length')" "sessions created from non-JSON bodies"
}

test_non_object_body_is_rejected() {
    local b
    for b in '[]' '[{"image":"busybox"}]' '"busybox"' 'null' 'true' '42' '-1.5'; do
        reject_create "$b" 400 invalid_json "object"
    done
    new_session
    reject_exec "$SID" '["ls"]' 400 invalid_json "object"
    assert_no_leaks_but_one "$SID"
}

test_unknown_fields_are_rejected_top_level_and_nested() {
    reject_create '{"image":"busybox","imgae":"x"}' 400 invalid_request "imgae"
    reject_create '{"image":"busybox","limits":{"memroy":"64M"}}' 400 invalid_request "limits.memroy"
    reject_create '{"image":"busybox","limits":{"memory":"64M","swap":"1G"}}' 400 invalid_request "swap"
    new_session
    reject_exec "$SID" '{"argv":["ls"],"workdir":"/"}' 400 invalid_request "workdir"
    reject_exec "$SID" '{"argv":["ls"],"pty":true}' 400 invalid_request "pty"
    assert_no_leaks_but_one "$SID"
}

test_wrong_field_types_are_rejected() {
    reject_create '{"image":5}' 400 invalid_request "image"
    reject_create '{"image":["busybox"]}' 400 invalid_request "image"
    reject_create '{"image":"busybox","limits":[]}' 400 invalid_request "limits"
    reject_create '{"image":"busybox","limits":"64M"}' 400 invalid_request "limits"
    reject_create '{"image":"busybox","limits":{"pids":"100"}}' 400 invalid_request "pids"
    reject_create '{"image":"busybox","limits":{"pids":10.5}}' 400 invalid_request "pids"
    reject_create '{"image":"busybox","limits":{"cpu":"1"}}' 400 invalid_request "cpu"
    reject_create '{"image":"busybox","limits":{"memory":true}}' 400 invalid_request "memory"
    reject_create '{"image":"busybox","limits":{"memory":1.5e9}}' 400 invalid_request "memory"
    reject_create '{"image":"busybox","env":["A=1"]}' 400 invalid_request "env"
    reject_create '{"image":"busybox","env":{"A":1}}' 400 invalid_request "env.A"
    reject_create '{"image":"busybox","labels":{"a":null}}' 400 invalid_request "labels.a"
    reject_create '{"image":"busybox","labels":{"a":{"b":"c"}}}' 400 invalid_request "labels.a"
    reject_create '{"image":"busybox","ttl":"60"}' 400 invalid_request "ttl"
    reject_create '{"image":"busybox","ttl":1.5}' 400 invalid_request "ttl"
    new_session
    reject_exec "$SID" '{"argv":["ls"],"timeout":"10"}' 400 invalid_request "timeout"
    reject_exec "$SID" '{"argv":["ls"],"cwd":5}' 400 invalid_request "cwd"
    reject_exec "$SID" '{"argv":["ls"],"user":1000}' 400 invalid_request "user"
    reject_exec "$SID" '{"argv":["ls"],"stdin":["a"]}' 400 invalid_request "stdin"
    reject_exec "$SID" '{"argv":["ls"],"env":{"A":true}}' 400 invalid_request "env.A"
    reject_exec "$SID" '{"argv":["ls"],"env":"A=1"}' 400 invalid_request "env"
    assert_no_leaks_but_one "$SID"
}

test_missing_image_is_rejected() {
    reject_create '{}' 400 invalid_request "image"
    reject_create '{"limits":{"memory":"64M"}}' 400 invalid_request "image"
    reject_create '{"image":null}' 400 invalid_request "image"
    reject_create '' 400 invalid_request "image"
    assert_no_leaks
}

test_unknown_image_is_rejected_with_available_list() {
    reject_create '{"image":"busyboxx"}' 400 unknown_image "busyboxx" "busybox"
    sbx create --image busyboxx >"$T/out" 2>"$T/err"
    assert_eq 1 $? "sbx create --image busyboxx: exit status"
    assert_contains "$(cat "$T/err")" busyboxx "sbx create --image busyboxx: stderr"
    assert_no_leaks
}

test_invalid_image_names_are_rejected() {
    local long
    long=$(printf 'a%.0s' $(seq 1000))
    local n
    for n in '../etc' '..' '.' 'BUSYBOX' 'busy/box' '/busybox' 'busy box' '' '-busybox' "$long" 'busybox%00' $'busy\nbox'; do
        reject_create "$(jq -nc --arg n "$n" '{image: $n}')" 400 invalid_request "image"
    done
    # a name with a NUL byte in it
    reject_create '{"image":"busybox\u0000../../etc"}' 400 invalid_request "image"
    # nothing was created, and the host's /etc was never used as an image
    assert_no_leaks
}

test_absurd_limits_are_rejected() {
    local m
    for m in '"1P"' '"-5"' '"abc"' '"64X"' '"M"' '""' '" 64M"' '"64M "' '"99999999999999999999G"' '"2T"' '"3M"' \
        '-5' '1' '0' '4194303' '18446744073709551616' '1e300'; do
        reject_create "{\"image\":\"busybox\",\"limits\":{\"memory\":$m}}" 400 invalid_request "limits.memory"
    done
    local p
    for p in 0 7 -1 1000001 1000000000000 99999999999999999999999; do
        reject_create "{\"image\":\"busybox\",\"limits\":{\"pids\":$p}}" 400 invalid_request "limits.pids"
    done
    local c
    for c in 0 0.001 -1 1025 1e9; do
        reject_create "{\"image\":\"busybox\",\"limits\":{\"cpu\":$c}}" 400 invalid_request "limits.cpu"
    done
    reject_create '{"image":"busybox","limits":{"cpu":1e400}}' 400 '*' 
    reject_create '{"image":"busybox","limits":{"cpu":"NaN"}}' 400 invalid_request "limits.cpu"
    # the edges are accepted
    new_session '{"image":"busybox","limits":{"memory":"4M","pids":8,"cpu":0.01}}'
    assert_eq "4194304 8 0.01" "$(jq -r '"\(.limits.memory) \(.limits.pids) \(.limits.cpu)"' <<<"$SESSION")" "smallest limits"
    api DELETE "/v1/sessions/$SID"
    assert_no_leaks
}

test_bad_env_names_are_rejected() {
    local n
    for n in '1A' 'A=B' 'A-B' 'A B' '' 'Ä' 'A.B' '$A'; do
        reject_create "$(jq -nc --arg n "$n" '{image: "busybox", env: {($n): "x"}}')" 400 invalid_request "env"
    done
    new_session
    for n in '1A' 'A=B' ''; do
        reject_exec "$SID" "$(jq -nc --arg n "$n" '{argv: ["true"], env: {($n): "x"}}')" 400 invalid_request "env"
    done
    # a NUL in a value
    reject_exec "$SID" '{"argv":["true"],"env":{"A":"x\u0000y"}}' 400 invalid_request "env"
    assert_no_leaks_but_one "$SID"
}

test_oversized_labels_are_rejected() {
    local k v many
    k=$(printf 'k%.0s' $(seq 64))
    v=$(printf 'v%.0s' $(seq 256))
    reject_create "{\"image\":\"busybox\",\"labels\":{\"$k\":\"x\"}}" 400 invalid_request "labels"
    reject_create "{\"image\":\"busybox\",\"labels\":{\"a\":\"$v\"}}" 400 invalid_request "labels.a"
    reject_create '{"image":"busybox","labels":{"":"x"}}' 400 invalid_request "labels"
    many=$(jq -nc '{image: "busybox", labels: ([range(65)] | map({key: "l\(.)", value: "x"}) | from_entries)}')
    reject_create "$many" 400 invalid_request "labels"
    # a megabyte label value
    reject_create "$(head -c 1048576 /dev/zero | tr '\0' v | jq -Rc '{image: "busybox", labels: {a: .}}')" 400 invalid_request "labels"
    # the limits themselves are fine
    k=${k:1} v=${v:1}
    new_session "$(jq -nc --arg k "$k" --arg v "$v" '{image: "busybox", labels: ([range(64)] | map({key: "\($k[0:60])\(.)", value: $v}) | from_entries)}')"
    assert_eq 64 "$(jq '.labels | length' <<<"$SESSION")" "64 labels accepted"
    api DELETE "/v1/sessions/$SID"
    assert_no_leaks
}

test_ttl_out_of_range_is_rejected() {
    local t
    for t in 0 -1 2592001 99999999999999 99999999999999999999999; do
        reject_create "{\"image\":\"busybox\",\"ttl\":$t}" 400 invalid_request "ttl"
    done
    reject_create '{"image":"busybox","ttl":null,"limits":{"pids":0}}' 400 invalid_request "pids"
    new_session '{"image":"busybox","ttl":2592000}'
    api DELETE "/v1/sessions/$SID"
    assert_no_leaks
}

test_exec_rejects_bad_argv() {
    new_session
    reject_exec "$SID" '{}' 400 invalid_request "argv"
    reject_exec "$SID" '{"argv":[]}' 400 invalid_request "argv"
    reject_exec "$SID" '{"argv":"ls"}' 400 invalid_request "argv"
    reject_exec "$SID" '{"argv":null}' 400 invalid_request "argv"
    reject_exec "$SID" '{"argv":[1]}' 400 invalid_request "argv[0]"
    reject_exec "$SID" '{"argv":["ls",null]}' 400 invalid_request "argv[1]"
    reject_exec "$SID" '{"argv":["ls",["-l"]]}' 400 invalid_request "argv[1]"
    reject_exec "$SID" '{"argv":[""]}' 400 invalid_request "argv[0]"
    reject_exec "$SID" '{"argv":["ls\u0000-l"]}' 400 invalid_request "argv[0]"
    reject_exec "$SID" "$(jq -nc '{argv: [range(4097) | "x"]}')" 400 invalid_request "argv"
    reject_exec "$SID" "$(head -c 300000 /dev/zero | tr '\0' a | jq -Rc '{argv: ["echo", .]}')" 400 invalid_request "argv"
    api GET "/v1/sessions/$SID"
    assert_eq 0 "$(jb .execs)" "execs after the refused ones"
    assert_no_leaks_but_one "$SID"
    sx "$SID" -- echo still fine
    assert_eq "still fine" "$SX_OUT" "an exec after the refused ones"
}

test_exec_on_missing_or_malformed_session_id_is_404() {
    local id
    for id in 000000000000 abcdefabcdef; do
        API_WHAT="exec in $id" api POST "/v1/sessions/$id/exec" '{"argv":["true"]}'
        API_WHAT="exec in $id" expect_error 404 not_found "$id"
    done
    for id in XYZ 3F2A9C0D1E7B 3f2a9c0d1e7 3f2a9c0d1e7bb 'x%20y' '%2e%2e'; do
        API_WHAT="exec in $id" api POST "/v1/sessions/$id/exec" '{"argv":["true"]}'
        API_WHAT="exec in $id" expect_error 404 not_found
        API_WHAT="GET $id" api GET "/v1/sessions/$id"
        API_WHAT="GET $id" expect_error 404 not_found
        API_WHAT="DELETE $id" api DELETE "/v1/sessions/$id"
        API_WHAT="DELETE $id" expect_error 404 not_found
    done
    sbx exec 000000000000 -- true >"$T/out" 2>"$T/err"
    assert_eq 125 $? "sbx exec in a missing session: exit status"
    assert_contains "$(cat "$T/err")" 000000000000 "sbx exec in a missing session: stderr"
    assert_no_leaks
}

test_exec_rejects_bad_user_relative_cwd_bad_stdin() {
    new_session
    local u
    for u in nobody 99999 65535 -1 '1000:' ':1000' '1000:1000:1' '0x10' '' 'root:root' '1000 '; do
        reject_exec "$SID" "$(jq -nc --arg u "$u" '{argv: ["true"], user: $u}')" 400 invalid_request "user"
    done
    reject_exec "$SID" '{"argv":["true"],"cwd":"tmp"}' 400 invalid_request "cwd"
    reject_exec "$SID" '{"argv":["true"],"cwd":""}' 400 invalid_request "cwd"
    reject_exec "$SID" '{"argv":["true"],"cwd":"./"}' 400 invalid_request "cwd"
    local s
    for s in '!!!' 'abc' 'YQ' 'YQ==YQ==' '====' 'Y Q=='; do
        reject_exec "$SID" "$(jq -nc --arg s "$s" '{argv: ["true"], stdin: $s}')" 400 invalid_request "stdin"
    done
    reject_exec "$SID" '{"argv":["true"],"timeout":0}' 400 invalid_request "timeout"
    reject_exec "$SID" '{"argv":["true"],"timeout":-1}' 400 invalid_request "timeout"
    reject_exec "$SID" '{"argv":["true"],"timeout":1e12}' 400 invalid_request "timeout"
    api GET "/v1/sessions/$SID"
    assert_eq 0 "$(jb .execs)" "execs after the refused ones"
    assert_no_leaks_but_one "$SID"
    # only "UID" or "UID:GID" in digits: no sign, no blanks (strtoul would take them)
    for u in ' 1000' '+1000' '1000:+1000' '1000: 1000'; do
        reject_exec "$SID" "$(jq -nc --arg u "$u" '{argv: ["true"], user: $u}')" 400 invalid_request "user"
    done
}

test_exec_nonexistent_executable_is_400_and_cli_127() {
    new_session
    reject_exec "$SID" '{"argv":["no-such-command"]}' 400 executable_not_found "no-such-command"
    reject_exec "$SID" '{"argv":["/bin/no-such-file"]}' 400 executable_not_found "/bin/no-such-file"
    reject_exec "$SID" '{"argv":["ls"],"env":{"PATH":"/nowhere"}}' 400 executable_not_found "ls"
    sx "$SID" -- no-such-command arg
    assert_eq 127 "$SX_RC" "sbx exec of a missing command: exit status"
    assert_eq "" "$SX_OUT" "stdout"
    assert_contains "$SX_ERR" "no-such-command" "sbx exec of a missing command: stderr"
    sbx run --image busybox -- no-such-command >"$T/out" 2>"$T/err"
    assert_eq 127 $? "sbx run of a missing command: exit status"
    api GET /v1/sessions
    assert_eq "$SID" "$(jb '[.sessions[].id] | join(" ")')" "sessions (sbx run removed its own)"
    api GET "/v1/sessions/$SID"
    assert_eq 0 "$(jb .execs)" "execs"
}

test_exec_in_missing_cwd_is_exec_failed_and_cli_126() {
    new_session
    reject_exec "$SID" '{"argv":["true"],"cwd":"/no/such/dir"}' 400 exec_failed "chdir"
    reject_exec "$SID" '{"argv":["/etc/passwd"]}' 400 exec_failed "ermission"
    reject_exec "$SID" '{"argv":["true"],"cwd":"/root"}' 400 exec_failed "chdir"
    sx -w /no/such/dir "$SID" -- true
    assert_eq 126 "$SX_RC" "sbx exec -w /no/such/dir: exit status"
    assert_contains "$SX_ERR" "chdir" "sbx exec -w /no/such/dir: stderr"
    sx "$SID" -- /etc/passwd
    assert_eq 126 "$SX_RC" "sbx exec of a non-executable: exit status"
    api GET "/v1/sessions/$SID"
    assert_eq "0 1" "$(jb '"\(.execs) \(.usage.pids_current)"')" "execs and pids after the failed starts"
}

test_unknown_routes_are_404_and_wrong_methods_405() {
    new_session
    local r
    for r in / /v1 /v2/health /v1/healthz /v1/sessions/$SID/foo /v1/sessions/$SID/exec/x /V1/health '/v1//health' /v1/sessions/$SID/../../health; do
        API_CURL_ARGS=(--path-as-is)
        API_WHAT="GET $r" api GET "$r"
        API_CURL_ARGS=()
        API_WHAT="GET $r" expect_error 404 not_found
    done
    local m
    for m in PUT DELETE POST PATCH; do
        API_WHAT="$m /v1/health" api "$m" /v1/health
        API_WHAT="$m /v1/health" expect_error 405 method_not_allowed "$m" "GET"
    done
    for m in PUT DELETE PATCH; do
        API_WHAT="$m /v1/sessions" api "$m" /v1/sessions
        API_WHAT="$m /v1/sessions" expect_error 405 method_not_allowed "$m"
    done
    for m in POST PUT PATCH; do
        API_WHAT="$m /v1/sessions/ID" api "$m" "/v1/sessions/$SID"
        API_WHAT="$m /v1/sessions/ID" expect_error 405 method_not_allowed "$m"
    done
    for m in GET PUT DELETE; do
        API_WHAT="$m .../exec" api "$m" "/v1/sessions/$SID/exec"
        API_WHAT="$m .../exec" expect_error 405 method_not_allowed "$m" POST
    done
    api GET "/v1/sessions/$SID"
    assert_eq 200 "$API_CODE" "the session survived DELETE on other routes"
    assert_no_leaks_but_one "$SID"
}

test_body_over_16mib_is_rejected_with_413() {
    head -c $((20 * 1048576)) /dev/zero | tr '\0' a | sed 's/^/{"image":"/; s/$/"}/' >"$T/big.json"
    API_WHAT="POST 20 MiB body" api_file POST /v1/sessions "$T/big.json"
    API_WHAT="POST 20 MiB body" expect_error 413 payload_too_large
    assert_health
    # without Expect: 100-continue, the body is sent right away
    API_CURL_ARGS=(-H 'Expect:')
    API_WHAT="POST 20 MiB body (no Expect)" api_file POST /v1/sessions "$T/big.json"
    API_CURL_ARGS=()
    API_WHAT="POST 20 MiB body (no Expect)" expect_error 413 payload_too_large
    assert_health
    # a client that writes its whole body before reading (as many do) must
    # still get the 413: sbxd drains the rest instead of closing under it
    command -v python3 >/dev/null || skip "python3 not installed"
    local out
    out=$(timeout 60 python3 - "$SOCK" <<'PY' 2>&1
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
body = b'{"image":"' + b"a" * (20 << 20) + b'"}'
s.sendall(b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body))
for i in range(0, len(body), 8192):  # small writes: many chances to hit a closed peer
    s.sendall(body[i:i + 8192])
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode("utf-8", "replace"))
PY
    )
    assert_match "$out" '^HTTP/1\.1 413 ' "answer to a 20 MiB body written in full before reading"
    assert_contains "$out" '"code":"payload_too_large"' "JSON error for a body written in full"
    assert_health
    # chunked, no Content-Length
    API_CURL_ARGS=(-H 'Transfer-Encoding: chunked')
    API_WHAT="POST 20 MiB chunked body" api_file POST /v1/sessions "$T/big.json"
    API_CURL_ARGS=()
    API_WHAT="POST 20 MiB chunked body" expect_error 413 payload_too_large
    assert_health
    assert_no_leaks
}

test_huge_headers_and_uri_are_rejected_with_431_and_414() {
    local h
    h=$(head -c 70000 /dev/zero | tr '\0' h)
    API_CURL_ARGS=(-H "X-Big: $h")
    api GET /v1/health
    API_CURL_ARGS=()
    API_WHAT="70 kB header" expect_error 431 headers_too_large
    assert_health
    API_WHAT="10 kB URI" api GET "/v1/sessions/$(head -c 10000 /dev/zero | tr '\0' a)"
    API_WHAT="10 kB URI" expect_error 414 uri_too_long
    assert_health
}

test_bad_percent_encoding_in_path_gets_400() {
    API_WHAT="GET /v1/sessions/%00" api GET '/v1/sessions/%00'
    API_WHAT="GET /v1/sessions/%00" expect_error 400 bad_request
    assert_health
    API_WHAT="GET /v1/sessions/%zz" api GET '/v1/sessions/%zz'
    API_WHAT="GET /v1/sessions/%zz" expect_error 400 bad_request
    assert_health
}

# raw BYTES_FILE: send the bytes on a fresh connection, half-close, read the
# answer (bounded). RAW_OUT = the answer.
raw() {
    RAW_OUT=$(timeout 10 socat -t 5 - "UNIX-CONNECT:$SOCK" <"$1" 2>"$T/.raw.err")
    RAW_RC=$?
}

test_garbage_bytes_get_400_and_daemon_keeps_serving() {
    command -v socat >/dev/null || skip "socat not installed (apt-get install socat)"
    printf 'GARBAGE\x00\xff\xfe\r\n\r\n' >"$T/g1"
    raw "$T/g1"
    assert_match "$RAW_OUT" '^HTTP/1\.1 400 ' "answer to garbage bytes"
    assert_contains "$RAW_OUT" '"code":"bad_request"' "JSON error for garbage bytes"
    assert_health
    head -c 65536 /dev/urandom >"$T/g2"
    raw "$T/g2"
    assert_health
    printf 'GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' >"$T/g3"
    raw "$T/g3"
    assert_match "$RAW_OUT" '^HTTP/1\.1 4[0-9][0-9] ' "answer to a negative Content-Length"
    assert_health
    printf 'POST /v1/sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n' >"$T/g4"
    raw "$T/g4"
    assert_match "$RAW_OUT" '^HTTP/1\.1 400 ' "answer to a bad chunk size"
    assert_health
    assert_no_leaks
}

test_truncated_request_does_not_block_or_crash_daemon() {
    # headers promise 1000 bytes, 10 come, the client waits: others are served
    curl -sS --max-time 30 --unix-socket "$SOCK" -X POST -H 'Content-Length: 1000' \
        --data-binary '{"image":"' -o /dev/null "http://sbx/v1/sessions" 2>/dev/null &
    local cpid=$!
    sleep 0.3
    assert_health
    new_session
    sx "$SID" -- echo served
    assert_eq served "$SX_OUT" "an exec while a truncated request is pending"
    kill "$cpid" 2>/dev/null
    wait "$cpid" 2>/dev/null
    assert_health
    if command -v socat >/dev/null; then
        # half a request line, then EOF; half the headers, then EOF
        printf 'POST /v1/sess' >"$T/t1"
        raw "$T/t1"
        assert_health
        printf 'POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"image":"busybox"' >"$T/t2"
        raw "$T/t2"
        [ -z "$RAW_OUT" ] || assert_match "$RAW_OUT" '^HTTP/1\.1 400 ' "answer to a truncated body"
        assert_health
    fi
    api GET /v1/sessions
    assert_eq "$SID" "$(jb '[.sessions[].id] | join(" ")')" "sessions (no half-made one)"
}

test_keep_alive_serves_several_requests_on_one_connection() {
    local out
    out=$(curl -sS --max-time 30 --unix-socket "$SOCK" -w '\n%{http_code} %{num_connects}\n' \
        http://sbx/v1/health http://sbx/v1/sessions http://sbx/v1/nope)
    assert_eq "200 1|200 0|404 0" "$(grep -E '^[0-9]{3} [0-9]+$' <<<"$out" | tr '\n' '|' | sed 's/|$//')" "status and new connections of 3 requests on one connection"
}

test_hostile_input_leaves_no_leaks_and_daemon_serves() {
    # a burst of everything above on one daemon, then a clean bill of health
    local b
    for b in '{"image":' '[]' '{"image":"busybox","x":1}' '{"image":"../etc"}' \
        '{"image":"busybox","limits":{"memory":"1P"}}' '{"image":"busybox","limits":{"pids":0}}' \
        '{"image":"busybox","ttl":0}' '{"image":"nope"}' '{"image":"busybox","env":{"1":"x"}}'; do
        api POST /v1/sessions "$b"
        [[ "$API_CODE" == 4* ]] || fail "POST /v1/sessions $b: HTTP $API_CODE $(short "$API_BODY")"
    done
    new_session
    for b in '{"argv":[]}' '{"argv":["x"],"user":"nobody"}' '{"argv":["nope"]}' '{"argv":["true"],"cwd":"/nope"}' \
        '{"argv":["true"],"stdin":"@@"}'; do
        api POST "/v1/sessions/$SID/exec" "$b"
        [[ "$API_CODE" == 4* ]] || fail "exec $b: HTTP $API_CODE $(short "$API_BODY")"
    done
    api GET "/v1/sessions/$SID"
    assert_eq "0 1" "$(jb '"\(.execs) \(.usage.pids_current)"')" "execs and pids of the session"
    api DELETE "/v1/sessions/$SID"
    assert_no_leaks
    sbx run --image busybox -- true
    assert_eq 0 $? "sbx run after all that"
    assert_no_leaks
}
