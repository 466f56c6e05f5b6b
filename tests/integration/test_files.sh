# test_files.sh - the session file API: round trips, ownership, errors, and
# escape attempts through symlinks, "..", /proc and races set up inside.

# files_put ID PATH FILE [QUERY]: PUT FILE's bytes.
files_put() {
    local API_MAX_TIME=120
    api_file PUT "/v1/sessions/$1/files?path=$2${4:+&$4}" "$3"
}
# files_get ID PATH OUT [QUERY]: GET into OUT; sets API_CODE.
files_get() {
    API_CODE=$(curl -sS --max-time 120 --unix-socket "$SOCK" -o "$3" -w '%{http_code}' \
        "http://sbx/v1/sessions/$1/files?path=$2${4:+&$4}" 2>"$T/.get.err")
    API_BODY=$(head -c 2000 "$3")
}

test_files_put_and_get_round_trip_binary_and_large_files_owned_by_the_sandbox_user() {
    new_session
    python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4096)' >"$T/bin"
    head -c 20000000 /dev/urandom >"$T/big"
    local f
    for f in bin big; do
        files_put "$SID" "/workspace/$f" "$T/$f"
        assert_eq 200 "$API_CODE" "PUT $f: $(short "$API_BODY")"
        assert_eq "$(stat -c %s "$T/$f") file 1000 0644" "$(jb '"\(.size) \(.type) \(.uid) \(.mode)"')" "PUT $f answer"
        files_get "$SID" "/workspace/$f" "$T/$f.back"
        assert_eq 200 "$API_CODE" "GET $f"
        assert_eq "$(md5sum <"$T/$f")" "$(md5sum <"$T/$f.back")" "bytes of $f"
    done
    must_sh "$SID" 'stat -c "%u %g %s" /workspace/big; md5sum /workspace/bin | cut -c1-32'
    assert_eq "1000 1000 20000000
$(md5sum <"$T/bin" | cut -c1-32)" "$SX_OUT" "seen from inside"
    # on the host the file belongs to the session's range, never to a host user
    local base
    base=$(stat -c %u "$STATE/sessions/$SID/upper")
    assert_eq "$((base + 1000))" "$(stat -c %u "$STATE/sessions/$SID/upper/workspace/big")" "host owner"
    # an empty file, and a new file with parents and a mode
    : >"$T/empty"
    files_put "$SID" /workspace/a/b/empty "$T/empty" "parents=1&mode=0600"
    assert_eq 200 "$API_CODE" "PUT with parents: $(short "$API_BODY")"
    assert_eq "0 0600" "$(jb '"\(.size) \(.mode)"')" "empty file"
    files_get "$SID" /workspace/a/b/empty "$T/empty.back"
    assert_eq "200 0" "$API_CODE $(stat -c %s "$T/empty.back")" "GET empty"
}

test_files_stat_list_mkdir_rename_delete() {
    new_session
    must_sh "$SID" 'mkdir -p /workspace/p/q && echo hi > /workspace/p/q/f && ln -s /etc /workspace/p/link'
    api POST "/v1/sessions/$SID/files/mkdir?path=/workspace/p/new/deep&parents=1"
    assert_eq 201 "$API_CODE" "mkdir -p: $(short "$API_BODY")"
    assert_eq "dir 1000" "$(jb '"\(.type) \(.uid)"')" "mkdir answer"
    api POST "/v1/sessions/$SID/files/mkdir?path=/workspace/p/new"
    API_WHAT="mkdir of an existing dir" expect_error 409 conflict
    api GET "/v1/sessions/$SID/files/stat?path=/workspace/p/link"
    assert_eq "200 symlink /etc" "$API_CODE $(jb '"\(.type) \(.target)"')" "stat of a symlink"
    api GET "/v1/sessions/$SID/files/list?path=/workspace/p&depth=2"
    assert_eq 200 "$API_CODE" "list: $(short "$API_BODY")"
    assert_eq "/workspace/p/link /workspace/p/new /workspace/p/new/deep /workspace/p/q /workspace/p/q/f" \
        "$(jb '[.entries[].path] | join(" ")')" "list depth 2 (not through the symlink)"
    api POST "/v1/sessions/$SID/files/rename?from=/workspace/p/q/f&to=/workspace/p/g"
    assert_eq "200 /workspace/p/g" "$API_CODE $(jb .path)" "rename"
    api POST "/v1/sessions/$SID/files/rename?from=/workspace/p/g&to=/workspace/p/link"
    API_WHAT="rename onto an existing name" expect_error 409 conflict
    api DELETE "/v1/sessions/$SID/files?path=/workspace/p"
    API_WHAT="delete a non-empty dir" expect_error 409 conflict
    api DELETE "/v1/sessions/$SID/files?path=/workspace/p&recursive=1"
    assert_eq 204 "$API_CODE" "recursive delete"
    must_sh "$SID" 'ls -A /workspace; ls /etc/passwd'
    assert_eq /etc/passwd "$SX_OUT" "the tree is gone, the symlink's target is not"
}

test_files_errors_are_clear() {
    new_session
    echo x >"$T/x"
    api GET "/v1/sessions/$SID/files?path=workspace/x"
    API_WHAT="relative path" expect_error 400 invalid_path "absolute"
    api GET "/v1/sessions/$SID/files"
    API_WHAT="no path" expect_error 400 invalid_request "path"
    api GET "/v1/sessions/$SID/files?path=/nope"
    API_WHAT="missing file" expect_error 404 not_found "/nope"
    api GET "/v1/sessions/$SID/files?path=/workspace"
    API_WHAT="GET of a directory" expect_error 409 conflict
    files_put "$SID" /etc/passwd "$T/x"
    API_WHAT="PUT over root's file as the sandbox user" expect_error 403 permission_denied "/etc/passwd"
    files_put "$SID" /etc/motd "$T/x" "user=root"
    assert_eq "200 0" "$API_CODE $(jb .uid)" "PUT as root: $(short "$API_BODY")"
    files_put "$SID" /proc/sys/kernel/hostname "$T/x" "user=root"
    [ "${API_CODE:0:1}" = 4 ] || fail "PUT into /proc/sys as the sandbox's root: HTTP $API_CODE $(short "$API_BODY")"
    api GET "/v1/sessions/$SID/files?path=/workspace&user=admin"
    API_WHAT="unknown user" expect_error 400 invalid_request "user"
    api GET "/v1/sessions/000000000000/files?path=/x"
    API_WHAT="unknown session" expect_error 404 not_found
    api_file PUT "/v1/sessions/000000000000/files?path=/x" "$T/x"
    API_WHAT="PUT to an unknown session" expect_error 404 not_found
}

test_files_escape_attempts_stay_inside_the_sandbox() {
    new_session
    local secret=$T/sbx-it-host-secret # a path that exists on the host only
    echo "HOST-SECRET" >"$secret"
    defer "rm -f /etc/sbx-it-pwned /tmp/sbx-it-pwned"
    must_sh "$SID" "ln -s $secret /workspace/to-host; ln -s /etc/passwd /workspace/to-passwd;
        ln -s / /workspace/rootlink; mkdir -p /workspace/d"
    # a symlink to a host path resolves inside the sandbox, where there is no such file
    files_get "$SID" /workspace/to-host "$T/out"
    API_WHAT="symlink to a host file" expect_error 404 not_found
    # .. and absolute symlinks stop at the sandbox's root
    files_get "$SID" /workspace/../../../../../etc/passwd "$T/out"
    assert_eq 200 "$API_CODE" "GET through .."
    grep -q '^sandbox:x:1000' "$T/out" || fail "GET /workspace/../../etc/passwd did not return the sandbox's passwd: $(head -3 "$T/out")"
    files_get "$SID" /workspace/rootlink/etc/passwd "$T/out2"
    assert_eq "$(md5sum <"$T/out")" "$(md5sum <"$T/out2")" "through a symlink to /"
    # /proc of the sandbox: init's root and memory are out of the sandbox user's reach
    files_get "$SID" /proc/1/root/etc/passwd "$T/out"
    [ "${API_CODE:0:1}" = 4 ] || fail "GET /proc/1/root/...: HTTP $API_CODE"
    files_get "$SID" /proc/1/environ "$T/out"
    [ "${API_CODE:0:1}" = 4 ] || fail "GET /proc/1/environ: HTTP $API_CODE"
    # PUT on a symlink replaces the link, never writes through it
    echo pwned >"$T/p"
    files_put "$SID" /workspace/to-passwd "$T/p"
    assert_eq 200 "$API_CODE" "PUT on a symlink: $(short "$API_BODY")"
    must_sh "$SID" 'head -1 /etc/passwd; test -L /workspace/to-passwd || cat /workspace/to-passwd'
    assert_eq "root:x:0:0:root:/root:/bin/sh
pwned" "$SX_OUT" "passwd untouched, link replaced"
    # a directory swapped for a symlink to / while PUTs run: never outside the sandbox
    # (the swapping stops when the PUTs are done: bounded in a slow VM too)
    sx "$SID" -- sh -c 'i=0; while [ ! -e /workspace/stop ] && [ $i -lt 5000 ]; do mv /workspace/d /workspace/d.x 2>/dev/null; ln -sfn /tmp /workspace/d; rm -f /workspace/d; mv /workspace/d.x /workspace/d 2>/dev/null; i=$((i+1)); done' &
    local racer=$! k
    for k in $(seq 1 40); do
        files_put "$SID" /workspace/d/sbx-it-pwned "$T/p"
    done
    curl -sS --max-time 30 --unix-socket "$SOCK" -X PUT --data-binary x -o /dev/null \
        "http://sbx/v1/sessions/$SID/files?path=/workspace/stop"
    wait $racer
    [ ! -e /tmp/sbx-it-pwned ] && [ ! -e /etc/sbx-it-pwned ] || fail "a PUT landed on the host"
    [ "$(cat "$secret")" = HOST-SECRET ] || fail "host file changed"
    assert_health
}

test_files_worker_goes_with_its_session() {
    new_session
    # a PUT whose body trickles in, then the session is removed under it
    { head -c 100000 /dev/zero; sleep 3; head -c 100 /dev/zero; } |
        curl -sS --max-time 30 --unix-socket "$SOCK" -X PUT -T - -o "$T/put.out" -w '%{http_code}' \
            "http://sbx/v1/sessions/$SID/files?path=/workspace/slow" >"$T/put.code" 2>/dev/null &
    local cpid=$!
    sleep 1
    api DELETE "/v1/sessions/$SID"
    assert_eq 204 "$API_CODE" "DELETE during a PUT"
    wait $cpid
    [ "$(cat "$T/put.code")" != 200 ] || fail "the PUT succeeded on a removed session"
    assert_no_leaks
}

test_files_put_over_the_size_limit_is_413_and_leaves_nothing() {
    daemon_start fsmall --file-max-bytes 100000 --warm 0 --no-network || fail "daemon fsmall did not start"
    defer "daemon_stop fsmall"
    new_session
    head -c 200000 /dev/zero >"$T/big"
    files_put "$SID" /workspace/big "$T/big"
    API_WHAT="200 kB, limit 100 kB" expect_error 413 file_too_large "100000"
    must_sh "$SID" 'ls -A /workspace | wc -l'
    assert_eq 0 "$SX_OUT" "no file and no temp file left"
}

test_files_abandoned_upload_writes_nothing_and_a_dropped_download_is_harmless() {
    new_session
    echo old >"$T/old"
    files_put "$SID" /workspace/up "$T/old"
    assert_eq 200 "$API_CODE" "first PUT"
    # the client goes away half way through a chunked body
    { head -c 3000000 /dev/urandom; sleep 5; } |
        curl -sS --max-time 30 --unix-socket "$SOCK" -X PUT -T - -o /dev/null \
            "http://sbx/v1/sessions/$SID/files?path=/workspace/up" 2>/dev/null &
    local cpid=$!
    sleep 1
    kill $cpid 2>/dev/null
    wait $cpid 2>/dev/null
    wait_until 10 _only_up "$SID" || fail "after an abandoned upload /workspace holds: $SX_OUT"
    must_sh "$SID" 'cat /workspace/up'
    assert_eq old "$SX_OUT" "the file is untouched"
    # a download whose reader stops and leaves
    head -c 50000000 /dev/urandom >"$T/big"
    files_put "$SID" /workspace/big "$T/big"
    assert_eq 200 "$API_CODE" "PUT 50 MB"
    curl -sS --max-time 30 --unix-socket "$SOCK" "http://sbx/v1/sessions/$SID/files?path=/workspace/big" |
        (head -c 1000 >/dev/null; sleep 1) 2>/dev/null
    assert_health
    files_get "$SID" /workspace/big "$T/big.back"
    assert_eq "$(md5sum <"$T/big")" "$(md5sum <"$T/big.back")" "a later download"
}
_only_up() {
    sx "$1" -- sh -c 'ls -A /workspace'
    [ "$SX_OUT" = up ]
}

test_cli_cp_copies_files_both_ways() {
    new_session
    head -c 3000000 /dev/urandom >"$T/blob"
    chmod 0640 "$T/blob"
    sbx cp "$T/blob" "$SID:/workspace/" 2>"$T/err" || fail "sbx cp up: $(cat "$T/err")"
    must_sh "$SID" 'stat -c "%a %s %u" /workspace/blob'
    assert_eq "640 3000000 1000" "$SX_OUT" "uploaded file"
    mkdir -p "$T/down"
    sbx cp "$SID:/workspace/blob" "$T/down/" 2>"$T/err" || fail "sbx cp down: $(cat "$T/err")"
    assert_eq "$(md5sum <"$T/blob")" "$(md5sum <"$T/down/blob")" "round trip"
    echo piped | sbx cp -q - "$SID:/workspace/deep/er/f" -p || fail "sbx cp - with --parents"
    assert_eq piped "$(sbx cp "$SID:/workspace/deep/er/f" -)" "cp to stdout"
    sbx cp "$SID:/workspace/nope" "$T/nope" 2>"$T/err"
    assert_eq 1 "$?" "missing remote file: exit status"
    assert_contains "$(cat "$T/err")" "/workspace/nope" "error names the path"
    [ ! -e "$T/nope" ] || fail "a failed download left a local file"
    sbx cp "$T/blob" "$SID:/etc/passwd" 2>"$T/err"
    assert_eq 1 "$?" "write over /etc/passwd as the sandbox user: exit status"
    assert_contains "$(cat "$T/err")" "Permission denied" "permission error"
}
