# tests/security/test_escape_disk.sh - a sandbox cannot fill the host's disk
# past its quota nor exhaust its inodes (limits.disk_bytes / disk_inodes,
# supervisor/quota.h). Also runs in the pure cgroup v2 VM (tests/vm/run.sh),
# whose Debian kernel enforces project quotas; a kernel without quota support
# (CONFIG_QUOTA) answers 503 disk_quota_unsupported and these tests skip there.

source "$(dirname "${BASH_SOURCE[0]}")/lib_escape.sh"

# _esc_quota_session LIMITS: a session with these limits, or skip where this
# host's kernel cannot enforce them (503 disk_quota_unsupported).
_esc_quota_session() {
    api POST /v1/sessions "{\"image\":\"busybox\",\"limits\":$1}"
    if [ "$API_CODE" = 503 ] && [ "$(jb .error.code)" = disk_quota_unsupported ]; then
        skip "no per-session disk quota on this host (503: $(jb .error.message))"
    fi
    [ "$API_CODE" = 201 ] || fail "create session with limits $1: HTTP $API_CODE $(short "$API_BODY")"
    SID=$(jb .id)
    SESSION=$API_BODY
}

test_disk_quota_stops_writes_and_the_host_keeps_its_space() {
    local quota=$((64 * 1048576))
    _esc_quota_session "{\"disk_bytes\":$quota}"
    esc_install "$SID"
    local user free0 free1 written
    for user in sandbox root; do
        free0=$(df -B1 --output=avail "$STATE" | tail -n 1)
        esc_run "$SID" "$user" fill "/home/sandbox/escape-fill-$user" 256
        free1=$(df -B1 --output=avail "$STATE" | tail -n 1)
        esc_assert_refused "filling the writable layer past disk_bytes=$quota as $user" 1
        written=$(sed -n 's|^# fill .*: \([0-9]*\) bytes.*|\1|p' <<<"$ESC_OUT")
        assert_le "$written" "$quota" "bytes written past a $quota-byte quota as $user"
        # 256 MiB were tried: the host lost at most the quota (and some noise)
        assert_le $((free0 - free1)) $((quota + 32 * 1048576)) "host bytes lost during the fill as $user"
    done
}

test_disk_inode_quota_stops_file_creation() {
    _esc_quota_session '{"disk_inodes":500}'
    esc_install "$SID"
    local user made
    for user in sandbox root; do
        esc_run "$SID" "$user" inodes "/home/sandbox/escape-inodes-$user" 20000
        esc_assert_refused "creating files past disk_inodes=500 as $user" 1
        made=$(sed -n 's|^# inodes .*: \([0-9]*\) files.*|\1|p' <<<"$ESC_OUT")
        assert_le "$made" 500 "files created past a 500-inode quota as $user"
    done
}
