# test_workspaces.sh - named workspaces (POST /v1/sessions "workspace",
# /v1/workspaces, sbx workspace): a session's files outlive it, keep their
# sandbox owners on any id range, one session at a time, and survive sbxd.
# Tests that need their own sbxd all call it "ws" (a run has room for only so
# many daemon names); each leaves no session behind, its workspaces have
# distinct names.

# _ws_body NAME [IMAGE]: a create body naming workspace NAME.
_ws_body() { printf '{"image":"%s","workspace":"%s"}' "${2:-busybox}" "$1"; }

# _ws_drop NAME: remove the session attached to workspace NAME (if any) and
# the workspace (deferred: the harness removes sessions only after the test).
_ws_drop() {
    local s
    s=$(curl -sS --max-time 10 --unix-socket "$SOCK" "http://sbx/v1/workspaces/$1" 2>/dev/null |
        jq -r '.session // empty' 2>/dev/null)
    [ -z "$s" ] || curl -sS --max-time 60 -o /dev/null --unix-socket "$SOCK" -X DELETE "http://sbx/v1/sessions/$s"
    curl -sS --max-time 10 -o /dev/null --unix-socket "$SOCK" -X DELETE "http://sbx/v1/workspaces/$1"
}

# _host_base ID: the host uid of the session's sandbox uid 0 (its init's uid_map).
_host_base() { awk 'NR == 1 { print $2 }' "/proc/$(session_field "$1" .pid)/uid_map"; }

# _ws_id_base NAME: the host id base recorded for the workspace's files.
_ws_id_base() { jq -r .id_base "$STATE/workspaces/$1/workspace.json"; }

_ws_gone_on_disk() { # NAME
    [ ! -e "$STATE/workspaces/$1" ] && [ -z "$(ls -A "$STATE/workspaces/.trash" 2>/dev/null)" ]
}

_ws_size_at_least() { # NAME BYTES
    api GET "/v1/workspaces/$1"
    [ "$(jb '.size_bytes // 0')" -ge "$2" ] 2>/dev/null
}

# Files of every kind in session ID (sandbox user and root), for _check_files.
_write_files() { # ID
    must_sh "$1" 'echo hello >/home/sandbox/notes.txt && chmod 640 /home/sandbox/notes.txt &&
        mkdir -p /home/sandbox/proj/src && echo deep >/home/sandbox/proj/src/main.c &&
        ln -s notes.txt /home/sandbox/link && mkfifo /home/sandbox/pipe'
    must_sh "$1" '[ "$(ls /usr/sbin | wc -l)" -gt 1 ] &&
        echo conf >/etc/sbx-it.conf && rm /etc/hosts &&
        mkdir -p /opt/data && echo other >/opt/data/f && chown -R 1234:2345 /opt/data &&
        echo tool >/home/sandbox/tool && chown 1000:1000 /home/sandbox/tool && chmod 4755 /home/sandbox/tool &&
        rm -rf /usr/sbin && mkdir /usr/sbin && echo only >/usr/sbin/only' root
}

# The files of _write_files, as sandbox ids, modes and contents (in session ID).
_check_files() { # ID WHAT
    must_sh "$1" 'cd /home/sandbox && stat -c "%n %u:%g %a" notes.txt proj proj/src/main.c tool &&
        cat notes.txt proj/src/main.c && readlink link && test -p pipe &&
        stat -c "%n %u:%g" /etc/sbx-it.conf /opt/data /opt/data/f && cat /etc/sbx-it.conf &&
        { test -e /etc/hosts && echo "hosts is back" || echo "hosts removed"; } && ls /usr/sbin'
    assert_eq "notes.txt 1000:1000 640
proj 1000:1000 755
proj/src/main.c 1000:1000 644
tool 1000:1000 4755
hello
deep
notes.txt
/etc/sbx-it.conf 0:0
/opt/data 1234:2345
/opt/data/f 1234:2345
conf
hosts removed
only" "$SX_OUT" "$2: files, owners and modes as the earlier session left them"
    # the sandbox user still owns its files: it can change them
    must_sh "$1" 'echo more >>/home/sandbox/notes.txt && rm /home/sandbox/proj/src/main.c'
    in_sbx "$1" 'echo x >>/etc/sbx-it.conf'
    assert_ne 0 "$SX_RC" "$2: the sandbox user writing root's file"
}

test_workspaces_files_survive_session_delete_with_owners_and_content() {
    local ws=files-$$ a b
    defer _ws_drop "$ws"
    new_session
    assert_eq null "$(jb .workspace)" "a session without a workspace"
    api DELETE "/v1/sessions/$SID"
    new_session "$(_ws_body "$ws")"
    a=$SID
    assert_eq "$ws" "$(jb .workspace)" "the new session's workspace"
    session_json "$a"
    assert_eq "$ws" "$(jb .workspace)" "GET /v1/sessions/$a: workspace"
    _write_files "$a"
    api GET "/v1/workspaces/$ws"
    assert_eq "200 $ws $a busybox" "$API_CODE $(jb '"\(.name) \(.session) \(.image)"')" "the workspace while attached"
    api DELETE "/v1/sessions/$a"
    assert_eq 204 "$API_CODE" "DELETE the first session"
    [ ! -e "$STATE/sessions/$a" ] || fail "the session's own dir $STATE/sessions/$a is left"
    [ -d "$STATE/workspaces/$ws/upper/home/sandbox" ] || fail "no workspace files on disk after the delete"
    api GET "/v1/workspaces/$ws"
    assert_eq "null" "$(jb .session)" "the workspace's session after the delete"
    [ "$(jb .last_used_at)" != null ] || fail "last_used_at not set: $(short "$API_BODY")"
    new_session "$(_ws_body "$ws")"
    b=$SID
    _check_files "$b" "the next session"
    api DELETE "/v1/sessions/$b"
    LEAK_WHAT="after two sessions on a workspace" assert_no_leaks
}

test_workspaces_on_another_id_range_show_the_same_owners() {
    # no warm pool: id ranges go lowest first, so a session in between takes
    # the first one's range and the next one gets another
    daemon_start ws --warm 0 || fail "sbxd --warm 0 did not start"
    defer daemon_stop ws
    local ws=range a blocker b base_a base_b
    new_session "$(_ws_body "$ws")"
    a=$SID
    base_a=$(_host_base "$a")
    assert_eq "$base_a" "$(_ws_id_base "$ws")" "id_base recorded for a new workspace"
    _write_files "$a"
    api DELETE "/v1/sessions/$a"
    new_session
    blocker=$SID
    assert_eq "$base_a" "$(_host_base "$blocker")" "the session in between took the freed range"
    new_session "$(_ws_body "$ws")"
    b=$SID
    base_b=$(_host_base "$b")
    assert_ne "$base_a" "$base_b" "host id range of the second session"
    _check_files "$b" "a session on another id range"
    # as the file API sees them, too (its worker is the sandbox's user)
    api GET "/v1/sessions/$b/files/stat?path=/home/sandbox/notes.txt"
    assert_eq "200 1000 1000" "$API_CODE $(jb '"\(.uid) \(.gid)"')" "file API stat of the sandbox user's file"
    # nothing on disk was rewritten: the files keep the first range's ids,
    # and what the second session writes is stored in that range too
    must_sh "$b" 'echo new >/home/sandbox/from-b'
    local up=$STATE/workspaces/$ws/upper
    assert_eq "$((base_a + 1000)) $((base_a + 1000)) $((base_a + 1000))" \
        "$(stat -c %u "$up/home/sandbox/notes.txt") $(stat -c %u "$up/home/sandbox/from-b") $(stat -c %g "$up/home/sandbox/proj")" \
        "host owners of the workspace's files"
    assert_eq "$base_a $((base_a + 1234))" "$(stat -c %u "$up/etc/sbx-it.conf") $(stat -c %u "$up/opt/data/f")" \
        "host owners of root's and uid 1234's files"
    assert_eq "$base_a" "$(_ws_id_base "$ws")" "id_base after a session on another range"
    [ "$(stat -c %a "$up/home/sandbox/tool")" = 4755 ] || fail "the setuid bit was lost on disk"
    api DELETE "/v1/sessions/$b"
    api DELETE "/v1/sessions/$blocker"
    api DELETE "/v1/workspaces/$ws"
    assert_eq 204 "$API_CODE" "DELETE the workspace"
    wait_until 20 _ws_gone_on_disk "$ws" || fail "workspace files left: $(ls -A "$STATE/workspaces" "$STATE/workspaces/.trash")"
    LEAK_WHAT="after sessions on two id ranges" assert_no_leaks ws
}

test_workspaces_second_session_on_a_busy_one_gets_409_and_leaves_nothing() {
    local ws=busy-$$ a before after cg
    defer _ws_drop "$ws"
    new_session "$(_ws_body "$ws")"
    a=$SID
    must_sh "$a" 'echo mine >/home/sandbox/f'
    # a quiet moment: the warm pool refilled after the first create
    wait_until 10 _warm_count "$IT_WARM_MAX" || fail "warm pool did not refill: $(short "$API_BODY")"
    cg=/sys/fs/cgroup/$CGN
    [ "$IT_CG_MODE" = v2 ] || cg=/sys/fs/cgroup/unified/$CGN
    before="$(ls "$STATE/sessions" | sort | tr '\n' ' ')|$(ls "$STATE/workspaces" | sort | tr '\n' ' ')|$(ls "$cg" | grep -E '^[0-9a-f]{12}$' | sort | tr '\n' ' ')"
    api POST /v1/sessions "$(_ws_body "$ws")"
    API_WHAT="second session on $ws" expect_error 409 workspace_busy "$ws" "$a"
    sbx create --image busybox --workspace "$ws" >"$T/cli.out" 2>"$T/cli.err"
    assert_eq 1 "$?" "sbx create on a busy workspace: exit status"
    assert_contains "$(cat "$T/cli.err")" "$a" "sbx create on a busy workspace: message"
    after="$(ls "$STATE/sessions" | sort | tr '\n' ' ')|$(ls "$STATE/workspaces" | sort | tr '\n' ' ')|$(ls "$cg" | grep -E '^[0-9a-f]{12}$' | sort | tr '\n' ' ')"
    assert_eq "$before" "$after" "session dirs | workspaces | cgroups after the refused creates"
    api GET /v1/health
    assert_eq 1 "$(jb .sessions)" "sessions after the refused creates"
    # the first session is untouched
    must_sh "$a" 'cat /home/sandbox/f'
    assert_eq mine "$SX_OUT" "the attached session's file"
    api GET "/v1/workspaces/$ws"
    assert_eq "$a" "$(jb .session)" "the workspace's session"
    api DELETE "/v1/sessions/$a"
    # free again
    new_session "$(_ws_body "$ws")"
    must_sh "$SID" 'cat /home/sandbox/f'
    assert_eq mine "$SX_OUT" "the file in the session made once the workspace was free"
}
_warm_count() { api GET /v1/health && [ "$(jb .warm)" = "$1" ]; }

test_workspaces_invalid_names_are_400_and_make_nothing() {
    local before name long
    before=$(ls -A "$STATE/workspaces" | sort | tr '\n' ' ')
    long=$(printf 'a%.0s' $(seq 64))
    for name in '' Proj -x .x _x .. 'a/b' 'a b' 'x:y' "$long"; do
        api POST /v1/sessions "$(jq -cn --arg w "$name" '{image: "busybox", workspace: $w}')"
        API_WHAT="create with workspace [$name]" expect_error 400 invalid_request "workspace" "a-z, 0-9"
    done
    api POST /v1/sessions '{"image":"busybox","workspace":42}'
    API_WHAT="create with a number for workspace" expect_error 400 invalid_request "workspace"
    api POST /v1/sessions '{"image":"busybox","workspace":"fine-name","bogus":1}'
    API_WHAT="create with an unknown field" expect_error 400 invalid_request "bogus" "workspace"
    api GET /v1/workspaces/Bad_Name
    API_WHAT="GET an invalid workspace name" expect_error 400 invalid_request "Bad_Name"
    api DELETE /v1/workspaces/.trash
    API_WHAT="DELETE .trash" expect_error 400 invalid_request ".trash"
    api GET /v1/workspaces/no-such-ws
    API_WHAT="GET an unknown workspace" expect_error 404 unknown_workspace "no-such-ws"
    api DELETE /v1/workspaces/no-such-ws
    API_WHAT="DELETE an unknown workspace" expect_error 404 unknown_workspace "no-such-ws"
    api POST /v1/workspaces '{}'
    API_WHAT="POST /v1/workspaces" expect_error 405 method_not_allowed
    # a 63-character name is fine
    name=$(printf 'b%.0s' $(seq 63))
    defer _ws_drop "$name"
    new_session "$(_ws_body "$name")"
    api DELETE "/v1/sessions/$SID"
    api DELETE "/v1/workspaces/$name"
    assert_eq 204 "$API_CODE" "DELETE the 63-character workspace"
    wait_until 20 _ws_gone_on_disk "$name" || fail "workspace $name left on disk"
    assert_eq "$before" "$(ls -A "$STATE/workspaces" | sort | tr '\n' ' ')" "workspaces dir after the refused requests"
    assert_no_leaks
}

test_workspaces_delete_while_attached_is_409_and_keeps_the_files() {
    local ws=attached-$$ a
    defer _ws_drop "$ws"
    new_session "$(_ws_body "$ws")"
    a=$SID
    must_sh "$a" 'echo keep >/home/sandbox/f'
    api DELETE "/v1/workspaces/$ws"
    API_WHAT="DELETE an attached workspace" expect_error 409 workspace_busy "$ws" "$a"
    must_sh "$a" 'cat /home/sandbox/f'
    assert_eq keep "$SX_OUT" "the file after the refused DELETE"
    sbx workspace rm "$ws" >"$T/rm.out" 2>"$T/rm.err"
    assert_eq 1 "$?" "sbx workspace rm of an attached workspace: exit status"
    assert_contains "$(cat "$T/rm.err")" "$a" "sbx workspace rm of an attached workspace: message"
    api DELETE "/v1/sessions/$a"
    api DELETE "/v1/workspaces/$ws"
    assert_eq 204 "$API_CODE" "DELETE once the session is gone"
}

test_workspaces_delete_frees_the_disk_and_unlists_it() {
    local ws=big-$$ a
    defer _ws_drop "$ws"
    new_session "$(_ws_body "$ws")"
    a=$SID
    must_sh "$a" 'dd if=/dev/zero of=/home/sandbox/big bs=1M count=20 2>/dev/null && sync'
    api DELETE "/v1/sessions/$a"
    # the size is measured in the background once the session let go of it
    wait_until 20 _ws_size_at_least "$ws" $((20 << 20)) || fail "size_bytes never reached 20 MiB: $(short "$API_BODY")"
    local used
    used=$(du -sk "$STATE/workspaces/$ws" | cut -f1)
    [ "$used" -ge $((20 << 10)) ] || fail "the workspace uses only $used KiB on disk"
    api GET /v1/workspaces
    assert_eq "$ws" "$(jb '.workspaces[] | select(.name == "'"$ws"'") | .name')" "listed before the DELETE"
    api DELETE "/v1/workspaces/$ws"
    assert_eq 204 "$API_CODE" "DELETE the workspace"
    api GET "/v1/workspaces/$ws"
    API_WHAT="GET after DELETE" expect_error 404 unknown_workspace
    api GET /v1/workspaces
    assert_eq "" "$(jb '.workspaces[] | select(.name == "'"$ws"'") | .name')" "listed after the DELETE"
    wait_until 20 _ws_gone_on_disk "$ws" || fail "the workspace's files are still on disk: $(ls -A "$STATE/workspaces/.trash")"
    # the name can be used again: a new, empty workspace
    new_session "$(_ws_body "$ws")"
    in_sbx "$SID" 'ls /home/sandbox'
    assert_eq "" "$SX_OUT" "/home/sandbox of a workspace made again under the same name"
}

test_workspaces_attach_with_another_image_and_keep_the_files() {
    local ws=img-$$ img=it-other-$$
    defer _ws_drop "$ws"
    cp -a "$STATE/images/busybox" "$STATE/images/$img" || fail "copy the busybox image"
    defer rm -rf "$STATE/images/$img"
    echo other >"$STATE/images/$img/rootfs/etc/other-image"
    new_session "$(_ws_body "$ws")"
    _write_files "$SID"
    api DELETE "/v1/sessions/$SID"
    new_session "$(_ws_body "$ws" "$img")"
    _check_files "$SID" "a session on another image"
    must_sh "$SID" 'cat /etc/other-image'
    assert_eq other "$SX_OUT" "the other image's own file"
    api GET "/v1/workspaces/$ws"
    assert_eq "$img" "$(jb .image)" "the workspace's image"
    api DELETE "/v1/sessions/$SID"
    # and back on the first image
    new_session "$(_ws_body "$ws")"
    must_sh "$SID" 'cat /home/sandbox/notes.txt; test -e /etc/other-image || echo gone'
    assert_eq "hello
more
gone" "$SX_OUT" "back on busybox"
}

test_workspaces_failed_create_removes_a_new_one_and_keeps_an_old_one() {
    local ws=kept-$$ fresh=fresh-$$ used
    defer _ws_drop "$ws"
    # an image whose /proc is a symlink: the sandbox cannot be built
    mkdir -p "$T/decoy" "$STATE/images/it-bad-$$/rootfs/"{dev,tmp}
    defer rm -rf "$STATE/images/it-bad-$$"
    ln -s "$T/decoy" "$STATE/images/it-bad-$$/rootfs/proc"
    api POST /v1/sessions "$(_ws_body "$fresh" "it-bad-$$")"
    [[ "$API_CODE" =~ ^[45] ]] || fail "create on a broken image: HTTP $API_CODE $(short "$API_BODY")"
    [ ! -e "$STATE/workspaces/$fresh" ] || fail "the workspace made for the failed create is left"
    api GET "/v1/workspaces/$fresh"
    API_WHAT="GET the workspace of a failed create" expect_error 404 unknown_workspace
    LEAK_WHAT="after a failed create with a new workspace" assert_no_leaks
    new_session "$(_ws_body "$ws")"
    must_sh "$SID" 'echo precious >/home/sandbox/f'
    api DELETE "/v1/sessions/$SID"
    api GET "/v1/workspaces/$ws"
    used=$(jb .last_used_at)
    api POST /v1/sessions "$(_ws_body "$ws" "it-bad-$$")"
    [[ "$API_CODE" =~ ^[45] ]] || fail "create on a broken image: HTTP $API_CODE $(short "$API_BODY")"
    api GET "/v1/workspaces/$ws"
    assert_eq "null busybox $used" "$(jb '"\(.session) \(.image) \(.last_used_at)"')" "the workspace after a failed create"
    new_session "$(_ws_body "$ws")"
    must_sh "$SID" 'cat /home/sandbox/f'
    assert_eq precious "$SX_OUT" "the file after a failed create"
    api DELETE "/v1/sessions/$SID"
    LEAK_WHAT="after a failed create with an existing workspace" assert_no_leaks
}

test_workspaces_survive_sbxd_restart() {
    daemon_start ws || fail "sbxd did not start"
    defer daemon_stop ws
    local ws=persist a
    new_session "$(_ws_body "$ws")"
    a=$SID
    must_sh "$a" 'echo before-restart >/home/sandbox/f'
    daemon_stop ws TERM
    assert_eq 0 "$DAEMON_STATUS" "exit status of sbxd after SIGTERM"
    [ -f "$STATE/workspaces/$ws/upper/home/sandbox/f" ] || fail "workspace file gone after sbxd stopped"
    # what a creation and a removal cut short by a crash leave
    mkdir -p "$STATE/workspaces/.tmp-0123456789abcdef/upper" "$STATE/workspaces/.trash/old.0123456789abcdef/upper/x"
    daemon_start ws || fail "sbxd did not start again"
    wait_until 10 _ws_gone_on_disk .tmp-0123456789abcdef ||
        fail "unfinished creation and removal left after the restart: $(ls -A "$STATE/workspaces" "$STATE/workspaces/.trash")"
    api GET "/v1/workspaces/$ws"
    assert_eq "200 null" "$API_CODE $(jb .session)" "the workspace after the restart"
    new_session "$(_ws_body "$ws")"
    must_sh "$SID" 'cat /home/sandbox/f'
    assert_eq before-restart "$SX_OUT" "the file after the restart"
    api DELETE "/v1/sessions/$SID"
    LEAK_WHAT="after a restart with a workspace" assert_no_leaks ws
}

test_workspaces_stay_attached_to_a_session_taken_over_after_kill9() {
    daemon_start ws || fail "sbxd did not start"
    defer daemon_stop ws
    local ws=adopted a
    new_session "$(_ws_body "$ws")"
    a=$SID
    must_sh "$a" 'echo before >/home/sandbox/f'
    daemon_stop ws KILL
    daemon_start ws || fail "sbxd does not start over a killed one"
    assert_eq "running $ws" "$(session_field "$a" '"\(.state) \(.workspace)"')" "the session taken over"
    api GET "/v1/workspaces/$ws"
    assert_eq "$a" "$(jb .session)" "the workspace's session after the restart"
    api POST /v1/sessions "$(_ws_body "$ws")"
    API_WHAT="another session on the workspace of a session taken over" expect_error 409 workspace_busy "$a"
    must_sh "$a" 'cat /home/sandbox/f; echo after >>/home/sandbox/f'
    assert_eq before "$SX_OUT" "the file in the session taken over"
    api DELETE "/v1/sessions/$a"
    new_session "$(_ws_body "$ws")"
    must_sh "$SID" 'cat /home/sandbox/f'
    assert_eq "before
after" "$SX_OUT" "the file once the session taken over was removed"
    api DELETE "/v1/sessions/$SID"
    LEAK_WHAT="after a session taken over with a workspace" assert_no_leaks ws
}

test_workspaces_of_a_session_that_died_while_sbxd_was_away_are_free_again() {
    daemon_start ws || fail "sbxd did not start"
    defer daemon_stop ws
    local ws=orphan a init
    new_session "$(_ws_body "$ws")"
    a=$SID
    init=$(session_field "$a" .pid)
    must_sh "$a" 'echo written >/home/sandbox/f; mkdir /home/sandbox/d'
    daemon_stop ws KILL
    kill -KILL "$init"
    wait_until 10 eval '! kill -0 "$init" 2>/dev/null' || fail "init $init did not die"
    daemon_start ws || fail "sbxd does not start over a killed one"
    api GET "/v1/sessions/$a"
    API_WHAT="the session that died while sbxd was away" expect_error 410 session_lost "$a"
    api GET "/v1/workspaces/$ws"
    assert_eq "200 null" "$API_CODE $(jb .session)" "its workspace after the restart"
    new_session "$(_ws_body "$ws")"
    must_sh "$SID" 'cat /home/sandbox/f && stat -c %u /home/sandbox/d'
    assert_eq "written
1000" "$SX_OUT" "the files of the session that died"
    api DELETE "/v1/sessions/$SID"
    LEAK_WHAT="after the restart over a killed sbxd and a dead session" assert_no_leaks ws
}

test_workspaces_cli_create_run_ls_inspect_rm() {
    local ws=cli-$$ id out
    defer _ws_drop "$ws"
    id=$(sbx create --image busybox --workspace "$ws") || fail "sbx create --workspace failed"
    out=$(sbx inspect "$id" | jq -r .workspace)
    assert_eq "$ws" "$out" "sbx inspect: workspace"
    out=$(sbx workspace ls)
    assert_match "$out" "NAME +SESSION +IMAGE +SIZE +LAST USED +CREATED" "sbx workspace ls: header"
    assert_match "$out" "$ws +$id +busybox " "sbx workspace ls: the row"
    out=$(sbx workspace ls -q)
    assert_contains "$out" "$ws" "sbx workspace ls -q"
    out=$(sbx workspace inspect "$ws" | jq -r '"\(.name) \(.session)"')
    assert_eq "$ws $id" "$out" "sbx workspace inspect"
    sbx rm "$id" >/dev/null
    out=$(sbx run --image busybox --workspace "$ws" -- sh -c 'echo run >/home/sandbox/r; id -u')
    assert_eq 1000 "$out" "sbx run --workspace"
    out=$(sbx run --image busybox --workspace "$ws" -- cat /home/sandbox/r)
    assert_eq run "$out" "a file of the previous sbx run"
    sbx workspace inspect Nope >/dev/null 2>"$T/err"
    assert_eq 1 "$?" "sbx workspace inspect of a bad name: exit status"
    assert_contains "$(cat "$T/err")" "not a workspace name" "sbx workspace inspect of a bad name"
    out=$(sbx workspace rm "$ws")
    assert_eq "$ws" "$out" "sbx workspace rm"
    out=$(sbx workspace ls --json | jq -r '.workspaces[].name')
    assert_not_contains "$out" "$ws" "sbx workspace ls --json after rm"
    sbx workspace frob >/dev/null 2>&1
    assert_eq 2 "$?" "sbx workspace with an unknown command"
    assert_no_leaks
}
