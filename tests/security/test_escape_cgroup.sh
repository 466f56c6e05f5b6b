# tests/security/test_escape_cgroup.sh - a sandbox cannot leave its cgroup or
# raise its limits. Also runs in the pure cgroup v2 VM (tests/vm/run.sh), where
# cgroupfs is what production hosts have.

source "$(dirname "${BASH_SOURCE[0]}")/lib_escape.sh"

# _esc_host_cgroup ID: the cgroup (v2 / unified line) of a fresh process of the
# session, as the host sees it.
_esc_host_cgroup() {
    sbx exec -d "$1" -- sleep 331 >/dev/null || fail "background sleep in session $1"
    wait_until 20 _esc_has_sleep331 || fail "sleep 331 of session $1 never showed up on the host"
    local p
    p=$(range_procs | awk '$4 == "sleep" && $5 == "331" { print $1; exit }')
    grep '^0::' "/proc/$p/cgroup"
    kill "$p" 2>/dev/null
    wait_until 10 _esc_no_sleep331
}
_esc_has_sleep331() { range_procs | awk '$4 == "sleep" && $5 == "331"' | grep -q .; }
_esc_no_sleep331() { ! _esc_has_sleep331; }

test_sandbox_cannot_move_out_of_its_cgroup() {
    new_session
    esc_install "$SID"
    local before
    before=$(_esc_host_cgroup "$SID")
    assert_contains "$before" "/$CGN/$SID" "host cgroup of a session process"
    esc_both "$SID" cgroup 9
    esc_line cgroup "open /sys/fs/cgroup/cgroup.procs for writing" ENOENT
    esc_line cgroup "mount cgroup2 on /tmp/escape-cg" EPERM
    esc_line cgroup "clone3(CLONE_INTO_CGROUP)" ENOSYS
    esc_line cgroup "read /proc/self/cgroup" "all at / (the namespace root)"
    assert_eq "$before" "$(_esc_host_cgroup "$SID")" "host cgroup of a session process after the attempts"
    # the session's init is still in the session's cgroup too
    assert_contains "$(grep '^0::' "/proc/$(jq -r .pid <<<"$SESSION")/cgroup")" "/$CGN/$SID" "host cgroup of the session's init"
}

test_sandbox_cannot_raise_its_limits() {
    new_session '{"image":"busybox","limits":{"memory":"64M","pids":64}}'
    esc_install "$SID"
    local mem pids
    mem=$(cat "$(cg_limit_file memory "$SID")") || fail "no memory limit file"
    pids=$(cat "$(cg_limit_file pids "$SID")") || fail "no pids limit file"
    assert_eq 64 "$pids" "pids limit on the host"
    esc_both "$SID" rlimit 15
    esc_line rlimit "prlimit(init, RLIMIT_NOFILE, unlimited)" EPERM
    esc_line nice "setpriority(self, -20)" EACCES
    esc_line capset "capset(all capabilities)" EPERM
    esc_line no_new_privs "prctl(PR_SET_NO_NEW_PRIVS, 0)" EINVAL
    esc_line oom 'write "-1000" to /proc/self/oom_score_adj' EACCES
    esc_line idmap 'write "0 0 4294967295" to /proc/self/uid_map' EPERM
    esc_line rlimit "open /sys/fs/cgroup/memory.max for writing" ENOENT
    assert_eq "$mem" "$(cat "$(cg_limit_file memory "$SID")")" "memory limit on the host after the attempts"
    assert_eq "$pids" "$(cat "$(cg_limit_file pids "$SID")")" "pids limit on the host after the attempts"
}
