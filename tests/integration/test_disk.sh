# test_disk.sh - per-session disk quotas (supervisor/quota.h): limits.disk_bytes
# and limits.disk_inodes hold on the session's writable layer for the sandbox
# user and for root in the user namespace, the host's disk keeps its space,
# the sandbox cannot move its files out of its quota project, and the quota
# goes with the session.
#
# Enforcement needs a kernel with project quotas (CONFIG_QUOTA, CONFIG_QFMT_V2)
# and loop devices (or a state filesystem mounted with prjquota): the tests
# that write skip elsewhere, saying why (GET /v1/health "disk_quota"). The VM
# pass (make vm-test; Debian's kernel) runs them.

DQ_TOOL=$SBX_BUILD/tests/projid
DQ_ERR='Disk quota exceeded|No space left on device'

# skip unless this daemon enforces per-session disk quotas
dq_need_quota() {
    api GET /v1/health
    local mode
    mode=$(jb .disk_quota.mode)
    [ "$mode" = project ] || skip "per-session disk quotas are not enforced on this host (mode $mode): $(jb .disk_quota.reason)"
}

dq_need_tool() {
    [ -x "$DQ_TOOL" ] || skip "no $DQ_TOOL (make $DQ_TOOL)"
}

dq_avail() { df -B1 --output=avail "$1" | tail -n 1 | tr -d ' '; }

# the session's quota project id, from its upper dir on the host
dq_projid() { "$DQ_TOOL" get "$STATE/sessions/$1/upper" | cut -d' ' -f1; }

test_disk_limits_are_validated() {
    local b
    for b in '"disk_bytes":"lots"' '"disk_bytes":-5' '"disk_bytes":1000' '"disk_bytes":2251799813685248' \
        '"disk_bytes":true' '"disk_bytes":"3X"'; do
        api POST /v1/sessions "{\"image\":\"busybox\",\"limits\":{$b}}"
        API_WHAT="limits {$b}" expect_error 400 invalid_request limits.disk_bytes
    done
    for b in '"disk_inodes":0' '"disk_inodes":5' '"disk_inodes":"many"' '"disk_inodes":4294967296' \
        '"disk_inodes":1.5'; do
        api POST /v1/sessions "{\"image\":\"busybox\",\"limits\":{$b}}"
        API_WHAT="limits {$b}" expect_error 400 invalid_request limits.disk_inodes
    done
    # the CLI passes them on as they are
    sbx create --image busybox --disk 3X >"$T/out" 2>"$T/err"
    assert_ne 0 $? "sbx create --disk 3X: exit status"
    assert_contains "$(cat "$T/err")" limits.disk_bytes "sbx create --disk 3X: stderr"
    sbx create --image busybox --disk-inodes 5 >"$T/out" 2>"$T/err"
    assert_ne 0 $? "sbx create --disk-inodes 5: exit status"
    assert_contains "$(cat "$T/err")" limits.disk_inodes "sbx create --disk-inodes 5: stderr"
    api POST /v1/sessions '{"image":"busybox","limits":{"disk":1}}'
    API_WHAT="unknown limit" expect_error 400 invalid_request disk
    # a session without disk limits gets the node defaults
    new_session '{"image":"busybox"}'
    assert_eq "10737418240 1000000" "$(jb '"\(.limits.disk_bytes) \(.limits.disk_inodes)"')" "default disk limits"
    api DELETE "/v1/sessions/$SID"
    LEAK_WHAT="after refused disk limits" assert_no_leaks
}

test_disk_limits_where_they_cannot_be_enforced_are_503() {
    daemon_start noq --disk-quota off --disk-bytes 2G --disk-inodes 5000 || fail "sbxd did not start"
    defer daemon_stop noq
    api GET /v1/health
    assert_eq "off false" "$(jb '"\(.disk_quota.mode) \(.disk_quota.volume)"')" "health disk_quota under --disk-quota off"
    api POST /v1/sessions '{"image":"busybox","limits":{"disk_bytes":"64M"}}'
    expect_error 503 disk_quota_unsupported limits.disk_bytes "--disk-quota off"
    # no explicit disk limits: the session runs, showing the node defaults
    new_session '{"image":"busybox"}'
    assert_eq "2147483648 5000" "$(jb '"\(.limits.disk_bytes) \(.limits.disk_inodes)"')" "node default disk limits (--disk-bytes, --disk-inodes)"
    assert_eq null "$(jb .usage.disk_bytes)" "usage.disk_bytes without quotas"
    [ ! -e "$STATE/volume.img" ] || fail "--disk-quota off made a volume"
    api DELETE "/v1/sessions/$SID"
    LEAK_WHAT="after --disk-quota off" assert_no_leaks noq
}

test_writes_beyond_disk_bytes_fail_with_enospc_or_edquot_and_host_keeps_space() {
    dq_need_quota
    local q=$((24 << 20)) before after
    before=$(dq_avail "$STATE")
    new_session "{\"image\":\"busybox\",\"limits\":{\"disk_bytes\":\"24M\"}}"
    assert_eq "$q" "$(jb .limits.disk_bytes)" "limits.disk_bytes in the answer"
    in_sbx "$SID" 'dd if=/dev/zero of=/workspace/big bs=1M count=64 conv=fsync'
    assert_ne 0 "$SX_RC" "dd of 64M by the sandbox user under a 24M quota: exit status ($SX_ERR)"
    assert_match "$SX_ERR" "$DQ_ERR" "dd's error as the sandbox user"
    session_json "$SID"
    assert_le "$(jb .usage.disk_bytes)" "$q" "usage.disk_bytes after the sandbox user's dd"
    assert_ge "$(jb .usage.disk_bytes)" $((16 << 20)) "usage.disk_bytes (the sandbox user's dd filled the quota)"
    must_sh "$SID" 'rm /workspace/big'
    # root in the sandbox's user namespace is held to the same quota
    as_root "$SID" 'dd if=/dev/zero of=/root/big bs=1M count=64 conv=fsync'
    assert_ne 0 "$SX_RC" "dd of 64M by root in the user namespace: exit status ($SX_ERR)"
    assert_match "$SX_ERR" "$DQ_ERR" "dd's error as root in the user namespace"
    session_json "$SID"
    note "usage after the writes: $(jq -c .usage <<<"$API_BODY")"
    assert_le "$(jb .usage.disk_bytes)" "$q" "usage.disk_bytes"
    assert_ge "$(jb .usage.disk_bytes)" $((16 << 20)) "usage.disk_bytes (root's dd filled the quota)"
    after=$(dq_avail "$STATE")
    note "free space on the host filesystem of $STATE: $before -> $after bytes"
    assert_le $((before - after)) $((q + (16 << 20))) "drop of the host's free space (bytes) for a 24M quota"
    # freeing space makes room again
    must_sh "$SID" 'rm /root/big' root
    must_sh "$SID" 'dd if=/dev/zero of=/workspace/small bs=1M count=8 conv=fsync 2>&1'
}

test_creating_files_beyond_disk_inodes_fails() {
    dq_need_quota
    new_session '{"image":"busybox","limits":{"disk_inodes":64}}'
    assert_eq 64 "$(jb .limits.disk_inodes)" "limits.disk_inodes in the answer"
    in_sbx "$SID" 'mkdir /workspace/many || exit 2; i=0
        while [ $i -lt 300 ]; do touch /workspace/many/f$i || exit 3; i=$((i + 1)); done'
    assert_eq 3 "$SX_RC" "creating 300 files under a 64-inode quota: exit status ($SX_ERR)"
    assert_match "$SX_ERR" "$DQ_ERR" "the shell's error"
    in_sbx "$SID" 'ls /workspace/many | wc -l'
    note "files made: $SX_OUT"
    assert_le "$SX_OUT" 64 "files made"
    assert_ge "$SX_OUT" 32 "files made (the quota, not something else, stopped it)"
    as_root "$SID" 'mkdir /root/d'
    assert_ne 0 "$SX_RC" "mkdir by root in the user namespace at the inode quota"
    assert_match "$SX_ERR" "$DQ_ERR" "mkdir's error as root"
    session_json "$SID"
    assert_le "$(jb .usage.disk_inodes)" 64 "usage.disk_inodes"
}

test_quota_is_released_on_destroy() {
    dq_need_quota
    dq_need_tool
    # through the CLI: sbx create --disk --disk-inodes
    SID=$(sbx create --image busybox --disk 24M --disk-inodes 500 2>"$T/err") || fail "sbx create --disk 24M --disk-inodes 500: $(cat "$T/err")"
    session_json "$SID"
    assert_eq "25165824 500" "$(jb '"\(.limits.disk_bytes) \(.limits.disk_inodes)"')" "limits of a session made by sbx create --disk 24M --disk-inodes 500"
    local p
    p=$(dq_projid "$SID")
    assert_ne 0 "$p" "project id of the session's upper dir"
    assert_eq "$p 1" "$("$DQ_TOOL" get "$STATE/sessions/$SID/upper")" "project id and inherit flag of the upper dir"
    must_sh "$SID" 'dd if=/dev/zero of=/workspace/f bs=1M count=4 conv=fsync 2>&1'
    assert_eq "$p 0" "$("$DQ_TOOL" get "$STATE/sessions/$SID/upper/workspace/f")" "project id of a file the sandbox wrote"
    local qa
    qa=$("$DQ_TOOL" quota "$STATE/sessions" "$p")
    note "project $p: $qa"
    assert_eq "$((24 << 20)) 500" "$(cut -d' ' -f1,2 <<<"$qa")" "the project's limits on the host"
    assert_ge "$(cut -d' ' -f3 <<<"$qa")" $((4 << 20)) "the project's usage on the host"
    api DELETE "/v1/sessions/$SID"
    assert_eq 204 "$API_CODE" "DELETE the session"
    assert_eq "0 0 0 0" "$("$DQ_TOOL" quota "$STATE/sessions" "$p")" "the project's limits and usage after the session"
    LEAK_WHAT="after a session with a disk quota" assert_no_leaks
}

test_root_in_sandbox_cannot_change_project_id_or_drop_inherit() {
    dq_need_quota
    dq_need_tool
    new_session '{"image":"busybox","limits":{"disk_bytes":"24M"}}'
    local p
    p=$(dq_projid "$SID")
    sbx cp -q "$DQ_TOOL" "$SID:/tmp/projid" 2>"$T/cp.err" || fail "sbx cp projid: $(cat "$T/cp.err")"
    must_sh "$SID" 'chmod 0755 /tmp/projid && mkdir /data && chmod 1777 /data && : >/data/f' root
    must_sh "$SID" '/tmp/projid get /data' root
    assert_eq "$p 1" "$SX_OUT" "project id and inherit flag of a new dir, seen inside"
    local op
    for op in 'set /data 0' 'set /data/f 0' "set /data $((p + 1))" 'noinherit /data'; do
        as_root "$SID" "/tmp/projid $op"
        assert_ne 0 "$SX_RC" "projid $op as root in the user namespace: exit status ($SX_OUT)"
        note "projid $op: $SX_ERR"
    done
    assert_eq "$p 1" "$("$DQ_TOOL" get "$STATE/sessions/$SID/upper/data")" "/data's project on the host afterwards"
    assert_eq "$p" "$("$DQ_TOOL" get "$STATE/sessions/$SID/upper/data/f" | cut -d' ' -f1)" "/data/f's project on the host afterwards"
    in_sbx "$SID" 'dd if=/dev/zero of=/data/big bs=1M count=64 conv=fsync'
    assert_match "$SX_ERR" "$DQ_ERR" "the quota still holds in /data"
}

test_named_workspace_has_its_own_quota_from_the_session() {
    dq_need_quota
    dq_need_tool
    local ws=dq-$$
    new_session "{\"image\":\"busybox\",\"workspace\":\"$ws\",\"limits\":{\"disk_bytes\":\"24M\"}}"
    local p
    p=$("$DQ_TOOL" get "$STATE/workspaces/$ws/upper" | cut -d' ' -f1)
    assert_ge "$p" $((0x01000000)) "the workspace's project id"
    in_sbx "$SID" 'dd if=/dev/zero of=/workspace/big bs=1M count=64 conv=fsync'
    assert_match "$SX_ERR" "$DQ_ERR" "dd beyond the quota in a named workspace"
    api DELETE "/v1/sessions/$SID"
    # the next session's limits apply to it
    new_session "{\"image\":\"busybox\",\"workspace\":\"$ws\",\"limits\":{\"disk_bytes\":\"64M\"}}"
    must_sh "$SID" 'dd if=/dev/zero of=/workspace/more bs=1M count=24 conv=fsync 2>&1'
    assert_eq "$((64 << 20))" "$("$DQ_TOOL" quota "$STATE/workspaces" "$p" | cut -d' ' -f1)" "the workspace's limit after the second session"
    api DELETE "/v1/sessions/$SID"
    api DELETE "/v1/workspaces/$ws"
    assert_eq 204 "$API_CODE" "DELETE the workspace"
    assert_eq "0 0" "$("$DQ_TOOL" quota "$STATE/workspaces" "$p" | cut -d' ' -f1,2)" "the workspace's limits after its removal"
    LEAK_WHAT="after a workspace with a quota" assert_no_leaks
}

test_disk_quota_holds_for_a_session_taken_over_after_restart() {
    daemon_start dqr --on-exit keep || fail "sbxd did not start"
    defer daemon_stop dqr
    dq_need_quota
    new_session '{"image":"busybox","limits":{"disk_bytes":"24M","disk_inodes":300}}'
    local a=$SID
    daemon_stop dqr TERM
    mountpoint -q "$STATE/sessions" || fail "the volume's $STATE/sessions is not mounted after sbxd stopped"
    daemon_start dqr --on-exit keep || fail "sbxd did not start again"
    session_json "$a"
    assert_eq "200 25165824 300" "$API_CODE $(jb .limits.disk_bytes) $(jb .limits.disk_inodes)" "the session's disk limits after the restart"
    in_sbx "$a" 'dd if=/dev/zero of=/workspace/big bs=1M count=64 conv=fsync'
    assert_match "$SX_ERR" "$DQ_ERR" "dd beyond the quota after the restart"
    api DELETE "/v1/sessions/$a"
    LEAK_WHAT="after a restart with a disk quota" assert_no_leaks dqr
}
