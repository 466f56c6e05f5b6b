# tests/security/test_escape.sh - escape attempts from inside sandboxes, as
# the sandbox user and as root in the sandbox's user namespace (issue 7).
#
# Each test copies the static probe tests/security/escape.c into a session and
# runs one of its groups; the probe tries each attack for real and prints
# "TRY name: what -> result (expected ...): ok" per attempt (see escape.c for
# why each expected errno is the right reason). The tests assert that every
# attempt was made and refused for its reason, and check from the host that
# nothing changed where that can be seen. The cgroup and limit attempts are in
# test_escape_cgroup.sh (they also run in the cgroup v2 VM).

source "$(dirname "${BASH_SOURCE[0]}")/lib_escape.sh"

test_every_escape_attempt_fails_for_the_expected_reason() {
    new_session
    esc_install "$SID"
    esc_both "$SID" all 150
    # the same attempts were made as both users
    assert_eq "$(grep -c '^TRY ' <<<"$ESC_OUT_SANDBOX")" "$(grep -c '^TRY ' <<<"$ESC_OUT_ROOT")" \
        "number of attempts as the sandbox user and as root"
}

test_sandbox_user_and_root_cannot_create_any_namespace() {
    new_session
    esc_install "$SID"
    local user flag ns
    for user in sandbox root; do
        esc_run "$SID" "$user" ns
        # 8 unshare + 7 clone + clone3 + 7 setns
        esc_assert_refused "namespaces as $user" 23
        for flag in NS CGROUP UTS IPC USER PID NET TIME; do
            esc_line unshare "unshare(CLONE_NEW$flag)" EPERM
        done
        for flag in NS CGROUP UTS IPC USER PID NET; do
            esc_line clone "clone(CLONE_NEW$flag|SIGCHLD)" EPERM
        done
        esc_line clone3 "clone3(CLONE_NEWUSER|CLONE_NEWNS)" ENOSYS
        for ns in mnt net user pid ipc uts cgroup; do
            esc_line setns "setns(/proc/self/ns/$ns)" EPERM
        done
    done
    # and the session's processes still share init's namespaces
    local pid1
    pid1=$(jq -r .pid <<<"$SESSION")
    must_sh "$SID" 'for n in mnt net user pid ipc uts cgroup; do readlink /proc/self/ns/$n; done'
    local expect=
    for ns in mnt net user pid ipc uts cgroup; do expect+="$(readlink "/proc/$pid1/ns/$ns")"$'\n'; done
    assert_eq "${expect%$'\n'}" "$SX_OUT" "namespaces of a process started after the attempts"
}

test_sandbox_user_and_root_cannot_mount_unmount_or_pivot_root() {
    new_session
    esc_install "$SID"
    local user fs
    local mi_before
    mi_before=$(nsenter -t "$(jq -r .pid <<<"$SESSION")" -m cat /proc/self/mountinfo | wc -l)
    for user in sandbox root; do
        esc_run "$SID" "$user" mount
        esc_assert_refused "mounts as $user" 24
        for fs in proc tmpfs sysfs "bind of /" overlay cgroup2 devpts debugfs; do
            esc_line mount "mount $fs on /tmp/escape-mnt" EPERM
        done
        esc_line umount "umount2(/proc/keys, MNT_DETACH) (unmask)" EPERM
        esc_line mount "fsopen(tmpfs) (new mount API)" EPERM
        esc_line mount "open_tree(/, OPEN_TREE_CLONE)" EPERM
        esc_run "$SID" "$user" pivot
        esc_assert_refused "pivot_root as $user" 2
        esc_line pivot_root "pivot_root(/tmp, /tmp/escape-old)" EPERM
    done
    assert_eq "$mi_before" "$(nsenter -t "$(jq -r .pid <<<"$SESSION")" -m cat /proc/self/mountinfo | wc -l)" \
        "mounts in the session's mount namespace (seen from the host) before and after"
}

test_root_chroot_breakout_ends_at_the_sandbox_root() {
    new_session
    esc_install "$SID"
    esc_run "$SID" root chroot
    esc_assert_refused "chroot breakout as root" 1
    esc_line chroot "chroot(/tmp/escape-cb), chdir(..) x64, chroot(.)" "at the sandbox's own root"
    esc_run "$SID" sandbox chroot
    esc_assert_refused "chroot as the sandbox user" 1
    esc_line chroot "chroot(/tmp/escape-cb)" EPERM
}

test_no_process_can_be_ptraced_or_have_its_memory_read() {
    new_session
    esc_install "$SID"
    esc_both "$SID" ptrace 14
    local out
    for out in "$ESC_OUT_SANDBOX" "$ESC_OUT_ROOT"; do
        ESC_OUT=$out
        esc_line ptrace "ptrace(PTRACE_ATTACH, the sandbox's init 1)" EPERM
        esc_line process_vm_readv "process_vm_readv(the sandbox's init 1)" EPERM
        esc_line proc-mem "open /proc/1/mem read-write" EACCES
    done
}

test_open_by_handle_at_is_refused() {
    new_session
    esc_install "$SID"
    esc_both "$SID" handle 2
    esc_line open_by_handle_at "open_by_handle_at(forged handle, inode 2)" EPERM
}

test_kcore_keys_and_kernel_logs_are_unreadable() {
    new_session
    esc_install "$SID"
    esc_both "$SID" procfiles 8
    # /proc/keys exists on every kernel with keys: masked by /dev/null
    if [ -e /proc/keys ]; then
        esc_line keys "open + read /proc/keys" "masked (/dev/null), 0 bytes"
    fi
    if [ -e /proc/kcore ]; then esc_line kcore "open + read /proc/kcore" "masked (/dev/null), 0 bytes"; fi
}

test_keyctl_bpf_perf_io_uring_and_userfaultfd_are_refused() {
    new_session
    esc_install "$SID"
    esc_both "$SID" keyctl 4
    esc_line keyctl "add_key(user, escape)" EPERM
    esc_line keyctl "keyctl(KEYCTL_JOIN_SESSION_KEYRING)" EPERM
    esc_both "$SID" bpf 2
    esc_line bpf "bpf(BPF_PROG_LOAD, socket filter)" EPERM
    esc_both "$SID" perf 2
    esc_line perf_event_open "perf_event_open(sw cpu-clock, self)" EPERM
    esc_both "$SID" io_uring 3
    esc_line io_uring "io_uring_setup(8)" EPERM
    esc_both "$SID" userfaultfd 3
    esc_line userfaultfd "userfaultfd(O_CLOEXEC)" EPERM
}

test_raw_and_packet_sockets_are_refused() {
    new_session
    esc_install "$SID"
    esc_both "$SID" rawsock 5
    esc_line raw-socket "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)" EPERM
    esc_line packet-socket "socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)" EPERM
}

test_socket_families_beyond_unix_inet_netlink_packet_are_refused() {
    new_session
    esc_install "$SID"
    # 39 families + socketpair(AF_TIPC): EAFNOSUPPORT from sbx's filter (no
    # module autoloading from a sandbox), not the kernel's own answer
    esc_both "$SID" families 40
    esc_line socket-family "socket(AF_ALG, any type)" EAFNOSUPPORT
    esc_line socket-family "socket(AF_VSOCK, any type)" EAFNOSUPPORT
    esc_line socket-family "socket(AF_XDP, any type)" EAFNOSUPPORT
    esc_line socket-family "socketpair(AF_TIPC)" EAFNOSUPPORT
    # what a sandbox does use still works: unix socketpairs, inet, netlink
    must_sh "$SID" 'ip -o link show lo >/dev/null && echo netlink; mkdir -p /tmp/w && echo hi >/tmp/w/index.html && httpd -f -p 127.0.0.1:7000 -h /tmp/w & for i in $(seq 50); do wget -q -O - http://127.0.0.1:7000/ 2>/dev/null && break; sleep 0.1; done; kill $!'
    assert_eq "$(printf 'netlink\nhi')" "$SX_OUT" "netlink and a TCP connection on loopback inside"
}

test_netlink_cannot_change_the_sandbox_network() {
    new_session
    esc_install "$SID"
    local pid1 before
    pid1=$(jq -r .pid <<<"$SESSION")
    before=$(nsenter -t "$pid1" -n sh -c 'ip -o link show; ip -o addr show; ip route show')
    esc_both "$SID" netlink 9
    esc_line netlink "RTM_NEWLINK eth0 down" EPERM
    esc_line netlink "RTM_NEWADDR 10.66.77.88/32 on lo" EPERM
    esc_line netlink "RTM_NEWROUTE 10.0.0.0/8 dev lo" EPERM
    esc_line netlink "RTM_NEWLINK create dummy escape0" EPERM
    [ -e /proc/self/loginuid ] && esc_line netlink "NETLINK_AUDIT AUDIT_USER_MSG" ECONNREFUSED
    assert_eq "$before" "$(nsenter -t "$pid1" -n sh -c 'ip -o link show; ip -o addr show; ip route show')" \
        "links, addresses and routes of the session (seen from the host)"
}

test_kernel_modules_cannot_be_loaded() {
    new_session
    esc_install "$SID"
    esc_both "$SID" module 6
    esc_line module "finit_module(/bin/busybox)" EPERM
    esc_line module "init_module(4 bytes)" EPERM
}

test_host_clock_swap_devices_and_device_nodes_are_off_limits() {
    new_session
    esc_install "$SID"
    local before
    before=$(stat -c '%a %u %g' /dev/null)
    esc_both "$SID" kernel 16
    esc_line clock "clock_settime(CLOCK_REALTIME, 1970)" EPERM
    esc_line clock "adjtimex(ADJ_FREQUENCY)" EPERM
    esc_line mknod "mknod(/tmp/escape-sda, block 8:0)" EPERM
    esc_line devnode "chmod(/dev/null, 0777)" EPERM
    esc_line devnode "setxattr(/dev/null, security.capability)" EPERM
    assert_eq "$before" "$(stat -c '%a %u %g' /dev/null)" "mode and owner of the host's /dev/null"
}

# esc_tty ID USER: the tiocsti group with a terminal (exec "tty": true); ESC_OUT.
esc_tty() {
    api_exec "$1" "{\"argv\":[\"/tmp/escape\",\"tiocsti\"],\"tty\":true,\"user\":\"$2\"}"
    [ "$EXEC_CODE" = 200 ] || fail "exec with a tty as $2: HTTP $EXEC_CODE $(short "$EXEC_BODY")"
    ESC_OUT=$(ndjson_data "$T/exec.out" stdout | tr -d '\r')
    ESC_RC=$(ndjson_exit "$T/exec.out" | jq -r .code)
    printf '%s\n' "--- escape tiocsti (tty) as $2 (exit $ESC_RC)" "$ESC_OUT" >>"$T/escape.log"
}

test_tiocsti_is_refused_on_the_controlling_terminal() {
    new_session
    esc_install "$SID"
    local user
    for user in sandbox root; do
        esc_tty "$SID" "$user"
        esc_assert_refused "TIOCSTI with a terminal as $user" 4
        esc_line tiocsti "ioctl(stdin (a tty), TIOCSTI)" EPERM
        esc_line tiocsti "ioctl(/dev/tty, TIOCSTI)" EPERM
        esc_line tioclinux "ioctl(/dev/tty, TIOCLINUX)" EPERM
        esc_line tiocsti "ioctl(/dev/tty, 1<<32 | TIOCSTI)" EPERM
        # without a terminal there is none to open
        esc_run "$SID" "$user" tiocsti
        esc_assert_refused "TIOCSTI without a terminal as $user" 2
        esc_line tiocsti "ioctl(stdin, TIOCSTI)" EPERM
        esc_line tiocsti "open /dev/tty" ENXIO
    done
}

test_proc_sys_sysrq_and_sys_cannot_be_written() {
    new_session
    esc_install "$SID"
    local host_hn
    host_hn=$(cat /proc/sys/kernel/hostname)
    esc_both "$SID" procsys 8
    esc_line procsys "open /proc/sys/kernel/core_pattern for writing" EACCES
    esc_line procsys "statvfs /proc/sys" "read-only mount"
    esc_both "$SID" sysfs 5
    esc_line sysfs "list /sys" empty
    esc_both "$SID" procfiles 8
    assert_eq "$host_hn" "$(cat /proc/sys/kernel/hostname)" "the host's hostname"
    must_sh "$SID" 'hostname'
    assert_eq "$SID" "$SX_OUT" "the session's hostname"
}

test_other_sessions_files_and_processes_are_unreachable() {
    new_session
    local a=$SID a_init
    a_init=$(jq -r .pid <<<"$SESSION")
    must_sh "$a" 'echo a-secret >/home/sandbox/secret; echo a-tmp >/tmp/secret'
    sbx exec -d "$a" -- sleep 317 >/dev/null || fail "background sleep in session $a"
    wait_until 20 _esc_has_sleep || fail "sleep 317 of session $a never showed up on the host"
    local a_sleep
    a_sleep=$(range_procs | awk '$4 == "sleep" && $5 == "317" { print $1; exit }')
    new_session
    local b=$SID
    esc_install "$b"
    local paths=("$STATE/sessions/$a/upper/home/sandbox/secret" "$STATE/sessions/$a/merged/tmp/secret"
        "/proc/$a_init/root/home/sandbox/secret" "/proc/$a_sleep/root/tmp/secret" "$STATE/run/$a.json")
    local user
    for user in sandbox root; do
        esc_run "$b" "$user" file "${paths[@]}"
        esc_assert_refused "session $a's files from session $b as $user" 5
        esc_line file "open /proc/$a_init/root/home/sandbox/secret" ENOENT
        esc_run "$b" "$user" pid "$a_init" "$a_sleep"
        esc_assert_refused "session $a's processes from session $b as $user" 8
        esc_line pid "kill($a_sleep, 0)" ESRCH
        esc_line pid "pidfd_open($a_sleep)" ESRCH
    done
    # the other session's processes are invisible: only b's own are listed
    must_sh "$b" 'ps -o comm | grep -cx sleep || true'
    assert_eq 0 "$SX_OUT" "sleep processes (session $a has one) among session $b's processes"
    kill -0 "$a_sleep" 2>/dev/null || fail "session $a's sleep died"
}
test_other_sessions_addresses_are_unreachable() {
    new_session
    local a=$SID a_addr
    a_addr=$(jq -r .network.address <<<"$SESSION")
    must_sh "$a" 'mkdir -p /tmp/www && echo a-page >/tmp/www/index.html'
    sbx exec -d "$a" -- httpd -f -p 0.0.0.0:8080 -h /tmp/www >/dev/null || fail "httpd in session $a"
    local i
    for i in $(seq 50); do
        sx -t 5 "$a" -- wget -q -O - http://127.0.0.1:8080/
        [ "$SX_OUT" = a-page ] && break
        sleep 0.1
    done
    assert_eq a-page "$SX_OUT" "session $a's listener, from inside session $a"
    new_session
    local b=$SID user
    esc_install "$b"
    for user in sandbox root; do
        # sbx's egress namespace does not forward between its links: the
        # packets are dropped there (no answer at all: ETIMEDOUT after 3 s)
        esc_run "$b" "$user" connect "$a_addr" 8080 ETIMEDOUT
        esc_assert_refused "session $a's listener from session $b as $user" 1
        esc_line connect "TCP connect to $a_addr port 8080" ETIMEDOUT
    done
}

_esc_has_sleep() { range_procs | awk '$4 == "sleep" && $5 == "317"' | grep -q .; }

test_sbxd_and_shim_control_sockets_are_unreachable() {
    new_session
    esc_install "$SID"
    # an abstract socket on the host: abstract names are per network namespace
    local name=sbx-escape-$$-$RANDOM
    : >"$T/abstract.log"
    timeout 120 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + sys.argv[1]); s.listen(8)
open(sys.argv[2] + ".ready", "w").close()
while True:
    c, _ = s.accept(); open(sys.argv[2], "a").write("accepted\n"); c.close()
' "$name" "$T/abstract.log" &
    defer "kill $! 2>/dev/null"
    wait_until 10 test -e "$T/abstract.log.ready" || fail "abstract listener did not start"
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect("\0"+sys.argv[1])' "$name" ||
        fail "the host abstract listener does not answer the host"
    wait_until 5 grep -q accepted "$T/abstract.log" || fail "abstract listener logged nothing"
    : >"$T/abstract.log"
    local user
    for user in sandbox root; do
        esc_run "$SID" "$user" unix "$SOCK" "$IT_RUN/main.sock" "$STATE/egress.netns" "@$name"
        esc_assert_refused "sbxd's socket and a host abstract socket as $user" 4
        esc_line unix-path "connect to unix socket $SOCK" ENOENT
        esc_line unix-abstract "connect to unix socket @$name" ECONNREFUSED
        esc_run "$SID" "$user" unixguess
        esc_assert_refused "guessed control socket paths as $user" 12
        esc_run "$SID" "$user" fds
        esc_assert_refused "inherited descriptors as $user" 1
        esc_line fds "open fds beyond 0-2 (a leaked sbxd or shim socket)" none
    done
    assert_eq "" "$(cat "$T/abstract.log")" "connections the host's abstract listener accepted"
    # sbx-shim's control channel is a socketpair with sbxd: no name to reach
    local shim
    shim=$(ps -eo pid=,ppid=,comm= | awk -v d="$(daemon_pid main)" '$2 == d && $3 == "sbx-shim" { print $1 }')
    [ -n "$shim" ] || fail "no sbx-shim child of sbxd"
    assert_eq "" "$(ss -xlp 2>/dev/null | grep "pid=$shim,")" "unix sockets sbx-shim listens on"
}

test_host_addresses_are_unreachable() {
    new_session
    esc_install "$SID"
    # a listener on every host address (IPv4 and IPv6): it must see nothing
    : >"$T/listener.log"
    timeout 150 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 0)); s.listen(16)
open(sys.argv[1] + ".port", "w").write(str(s.getsockname()[1]))
while True:
    c, a = s.accept(); open(sys.argv[1], "a").write("accepted %s\n" % (a,)); c.close()
' "$T/listener.log" &
    defer "kill $! 2>/dev/null"
    wait_until 10 test -s "$T/listener.log.port" || fail "host listener did not start"
    local port
    port=$(cat "$T/listener.log.port")
    curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$port/"
    wait_until 5 grep -q accepted "$T/listener.log" || fail "the host listener does not answer the host on 127.0.0.1:$port"
    : >"$T/listener.log"
    api GET /v1/health
    local preview hostip
    preview=$(jb .preview.port)
    hostip=$(host_ipv4)
    local targets=("127.0.0.1 $port" "127.0.0.2 $port" "::1 $port" "100.127.255.254 $port"
        "127.0.0.1 $preview" "169.254.169.254 $port")
    [ -n "$hostip" ] && targets+=("$hostip $port") || note "no global IPv4 address: host IP not tried"
    # a global IPv6 address of the host: the sandbox has no IPv6 route at all
    local hostip6
    hostip6=$(ip -6 -o addr show scope global 2>/dev/null | awk '{ sub(/\/.*/, "", $4); print $4; exit }')
    local user t n=0
    for user in sandbox root; do
        for t in "${targets[@]}"; do
            # shellcheck disable=SC2086
            esc_run "$SID" "$user" connect $t
            esc_assert_refused "connect $t as $user" 1
            esc_line connect "TCP connect to ${t% *} port ${t#* }" ECONNREFUSED
            n=$((n + 1))
        done
        if [ -n "$hostip6" ]; then
            esc_run "$SID" "$user" connect "$hostip6" "$port" ENETUNREACH
            esc_assert_refused "connect $hostip6 $port as $user" 1
            esc_line connect "TCP connect to $hostip6 port $port" ENETUNREACH
        fi
        # ports sbx-shim serves (HTTP, TLS): it takes the connection and
        # refuses the metadata address by policy
        for t in "169.254.169.254 80" "169.254.169.254 443"; do
            esc_run "$SID" "$user" connect $t SHIM403
            esc_assert_refused "connect $t as $user" 1
            esc_line connect "TCP connect to ${t% *} port ${t#* }" SHIM403
        done
    done
    assert_eq "" "$(cat "$T/listener.log")" "connections the host listener accepted ($n attempts)"
    grep -q '"dst_addr":"169.254.169.254".*"decision":"deny".*cloud metadata' "$IT_RUN/main/egress.jsonl" ||
        fail "no audited denial of 169.254.169.254 in $IT_RUN/main/egress.jsonl"
}

test_tmp_and_dev_shm_fills_stop_at_their_size_limit() {
    new_session
    esc_install "$SID"
    local user dir kb written
    for user in sandbox root; do
        for dir in /tmp /dev/shm; do
            must_sh "$SID" "df -k $dir | awk 'NR == 2 { print \$2 }'"
            kb=$SX_OUT
            esc_run "$SID" "$user" fill "$dir/escape-fill" $((kb / 1024 + 64))
            esc_assert_refused "filling $dir ($kb KiB) as $user" 1
            esc_line fill "write $dir/escape-fill up to $((kb / 1024 + 64)) MiB" ENOSPC
            written=$(sed -n "s|^# fill $dir/escape-fill: \([0-9]*\) bytes.*|\1|p" <<<"$ESC_OUT")
            assert_le "$written" $((kb * 1024)) "bytes written to $dir (size $kb KiB) as $user"
            assert_ge "$written" $((kb * 1024 - 4 * 1048576)) "bytes written to $dir before ENOSPC as $user"
        done
    done
}
