# test_isolation.sh - what a sandbox can see and do, checked from inside and,
# where possible, from the host.

# Host pid of a process of session $1 whose args are exactly $2 (the newest).
_host_pid_of() {
    range_procs | awk -v a="$2" '{ pid = $1; $1 = $2 = $3 = ""; sub(/^ +/, ""); if ($0 == a) p = pid } END { print p }'
}

# Start `sleep N` (as USER) in session ID in the background; sets BG_HOSTPID.
_bg_sleep() { # ID SECONDS [USER]
    curl -sS -N --max-time 120 --unix-socket "$SOCK" -X POST -o "$T/bg.$2.out" \
        -d "{\"argv\":[\"sleep\",\"$2\"],\"user\":\"${3:-sandbox}\"}" "http://sbx/v1/sessions/$1/exec" &
    wait_until 20 _has_host_pid "sleep $2" || fail "sleep $2 in session $1 never showed up on the host"
    BG_HOSTPID=$(_host_pid_of "$1" "sleep $2")
}
_has_host_pid() { [ -n "$(_host_pid_of x "$1")" ]; }

test_userns_maps_root_to_unprivileged_host_range() {
    new_session
    local pid1
    pid1=$(jq -r .pid <<<"$SESSION")
    must_sh "$SID" 'cat /proc/self/uid_map; cat /proc/self/gid_map; wc -l </proc/self/uid_map'
    assert_eq 1 "$(sed -n 3p <<<"$SX_OUT" | tr -d ' ')" "lines in uid_map"
    local uidmap gidmap base count
    read -r _ base count <<<"$(sed -n 1p <<<"$SX_OUT")"
    uidmap=$(sed -n 1p <<<"$SX_OUT" | tr -s ' ' | sed 's/^ //')
    gidmap=$(sed -n 2p <<<"$SX_OUT" | tr -s ' ' | sed 's/^ //')
    assert_match "$uidmap" '^0 [0-9]+ 65536$' "uid_map inside"
    assert_eq "$uidmap" "$gidmap" "gid_map equals uid_map"
    [ "$base" -ge 536870912 ] || fail "sandbox root maps to host uid $base (< 536870912)"
    [ "$base" -ge "$IDBASE" ] && [ "$base" -lt $((IDBASE + IDCOUNT)) ] ||
        fail "sandbox root maps to host uid $base, outside sbxd's range $IDBASE+$IDCOUNT"
    assert_eq 0 $(((base - IDBASE) % 65536)) "host base aligned to a 65536-id slot"
    # the host's view of the same processes
    assert_eq "$base" "$(ps -o uid= -p "$pid1" | tr -d ' ')" "host uid of the session's init"
    assert_eq "$base" "$(ps -o gid= -p "$pid1" | tr -d ' ')" "host gid of the session's init"
    _bg_sleep "$SID" 101
    assert_eq $((base + 1000)) "$(ps -o uid= -p "$BG_HOSTPID" | tr -d ' ')" "host uid of a default-user process"
    assert_eq "0 $base 65536" "$(tr -s ' ' <"/proc/$BG_HOSTPID/uid_map" | sed 's/^ //; s/ $//')" "uid_map seen from the host"
    _bg_sleep "$SID" 102 root
    assert_eq "$base" "$(ps -o uid= -p "$BG_HOSTPID" | tr -d ' ')" "host uid of a sandbox-root process"
    # two sessions never share a range
    local s1=$SID
    new_session
    must_sh "$SID" 'cat /proc/self/uid_map'
    local base2
    read -r _ base2 _ <<<"$SX_OUT"
    assert_ne "$base" "$base2" "host id base of a second session"
    [ $((base2 > base ? base2 - base : base - base2)) -ge 65536 ] || fail "id ranges of two sessions overlap: $base and $base2"
}

test_default_user_has_no_caps_nonewprivs_and_seccomp() {
    new_session
    must_sh "$SID" 'id -u; id -g; id -G; grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status; echo "HOME=$HOME USER=$USER"; pwd'
    local st=$SX_OUT
    assert_eq 1000 "$(sed -n 1p <<<"$st")" "uid"
    assert_eq 1000 "$(sed -n 2p <<<"$st")" "gid"
    assert_eq 1000 "$(sed -n 3p <<<"$st")" "groups"
    local f
    for f in CapInh CapPrm CapEff CapBnd CapAmb; do
        assert_eq 0000000000000000 "$(awk -v f="$f:" '$1 == f { print $2 }' <<<"$st")" "$f"
    done
    assert_eq 1 "$(awk '$1 == "NoNewPrivs:" { print $2 }' <<<"$st")" "NoNewPrivs"
    assert_eq 2 "$(awk '$1 == "Seccomp:" { print $2 }' <<<"$st")" "Seccomp (2 = filter)"
    assert_contains "$st" "HOME=/home/sandbox USER=sandbox" "environment"
    assert_eq /home/sandbox "$(tail -n 1 <<<"$st")" "default cwd"
    # the host agrees
    _bg_sleep "$SID" 103
    local hs
    hs=$(cat "/proc/$BG_HOSTPID/status")
    assert_eq 0000000000000000 "$(awk '$1 == "CapEff:" { print $2 }' <<<"$hs")" "CapEff seen from the host"
    assert_eq "1 2" "$(awk '$1 == "NoNewPrivs:" { n = $2 } $1 == "Seccomp:" { s = $2 } END { print n, s }' <<<"$hs")" "NoNewPrivs and Seccomp seen from the host"
    # setuid binaries don't help: su to root fails
    in_sbx "$SID" 'su -c id root </dev/null'
    assert_ne 0 "$SX_RC" "su as the default user"
}

test_root_user_has_reduced_caps_and_cannot_escape() {
    new_session
    sx -u root "$SID" -- sh -c 'id -u; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; echo "HOME=$HOME"; pwd'
    assert_eq 0 "$SX_RC" "exec as root ($SX_ERR)"
    local st=$SX_OUT eff
    assert_eq 0 "$(sed -n 1p <<<"$st")" "uid of user root"
    eff=$(awk '$1 == "CapEff:" { print $2 }' <<<"$st")
    assert_match "$eff" '^[0-9a-f]{16}$' "CapEff of root"
    [ "$eff" != 0000000000000000 ] || fail "root has no capability at all (CapEff 0): expected a reduced set"
    [ $((16#$eff)) -ne $((16#$(awk '$1 == "CapEff:" { print $2 }' /proc/self/status))) ] || fail "root in the sandbox has the full capability set $eff"
    local cap
    for cap in 21:CAP_SYS_ADMIN 19:CAP_SYS_PTRACE 16:CAP_SYS_MODULE 12:CAP_NET_ADMIN 13:CAP_NET_RAW 27:CAP_MKNOD 24:CAP_SYS_RESOURCE 17:CAP_SYS_RAWIO 22:CAP_SYS_BOOT 25:CAP_SYS_TIME 38:CAP_PERFMON 39:CAP_BPF; do
        [ $(((16#$eff >> ${cap%%:*}) & 1)) = 0 ] || fail "root in the sandbox has ${cap#*:} (CapEff $eff)"
    done
    [ $(((16#$(awk '$1 == "CapBnd:" { print $2 }' <<<"$st") >> 21) & 1)) = 0 ] || fail "CAP_SYS_ADMIN in root's bounding set"
    assert_eq "1 2" "$(awk '$1 == "NoNewPrivs:" { n = $2 } $1 == "Seccomp:" { s = $2 } END { print n, s }' <<<"$st")" "NoNewPrivs and Seccomp of root"
    assert_contains "$st" "HOME=/root" "root's HOME"
    # and what it still cannot do
    as_root "$SID" 'mount -t tmpfs none /mnt'
    assert_ne 0 "$SX_RC" "mount -t tmpfs as root"
    assert_match "$SX_ERR" '(Operation not permitted|ermission denied)' "mount -t tmpfs as root: error"
    as_root "$SID" 'mount -o remount,rw /'
    assert_ne 0 "$SX_RC" "remount / as root"
    as_root "$SID" 'unshare -U true'
    assert_ne 0 "$SX_RC" "unshare -U as root"
    assert_contains "$SX_ERR" "Operation not permitted" "unshare -U as root: error"
    as_root "$SID" 'unshare -m true'
    assert_contains "$SX_ERR" "Operation not permitted" "unshare -m as root: error"
    as_root "$SID" 'echo x >/proc/sys/kernel/hostname'
    assert_ne 0 "$SX_RC" "write /proc/sys as root"
    as_root "$SID" 'echo 1 >/proc/sys/vm/drop_caches'
    assert_ne 0 "$SX_RC" "write /proc/sys/vm/drop_caches as root"
    as_root "$SID" 'nsenter -t 1 -m -u -i -n -p true'
    assert_ne 0 "$SX_RC" "nsenter into init's namespaces as root"
    as_root "$SID" 'mknod /tmp/sda b 8 0'
    assert_ne 0 "$SX_RC" "mknod of a block device as root"
    as_root "$SID" 'cat /proc/1/environ'
    assert_ne 0 "$SX_RC" "root reads the environment of sbx-init"
    as_root "$SID" 'reboot -f'
    assert_ne 0 "$SX_RC" "reboot -f as root"
    as_root "$SID" 'hostname evil'
    assert_ne 0 "$SX_RC" "sethostname as root"
    session_json "$SID"
    assert_eq running "$(jb .state)" "session state after all that"
    assert_eq "$SID" "$(sbx exec "$SID" -- hostname)" "hostname after all that"
}

test_pid_namespace_shows_only_sandbox_processes() {
    new_session
    local pid1
    pid1=$(jq -r .pid <<<"$SESSION")
    must_sh "$SID" 'echo $$; for p in /proc/[0-9]*; do echo "${p#/proc/} $(cat $p/comm 2>/dev/null)"; done'
    local mypid procs
    mypid=$(sed -n 1p <<<"$SX_OUT")
    procs=$(sed 1d <<<"$SX_OUT")
    assert_match "$(grep '^1 ' <<<"$procs")" '^1 .*sbx-init' "pid 1 inside is sbx-init"
    # only init, this shell and (maybe) the subshell of the loop
    local n
    n=$(wc -l <<<"$procs")
    [ "$n" -le 3 ] || fail "processes visible inside: expected init + the shell, got $n: $(echo $procs)"
    assert_match "$mypid" '^[0-9]+$' "\$\$ inside"
    [ "$mypid" -lt 100 ] || fail "the shell's pid inside is $mypid: not a fresh pid namespace"
    assert_not_contains "$procs" sbxd "processes visible inside"
    # ps agrees, the host sees init under its own pid
    must_sh "$SID" 'ps -o pid,comm'
    assert_not_contains "$SX_OUT" "sbxd" "ps inside"
    assert_eq 1 "$(grep -c 'sbx-init' <<<"$SX_OUT")" "sbx-init in ps inside"
    assert_eq 1 "$(awk '/^NSpid:/ { print $NF }' "/proc/$pid1/status")" "the session's init is pid 1 of its namespace (host NSpid)"
    assert_ne "$(readlink /proc/self/ns/pid)" "$(readlink "/proc/$pid1/ns/pid")" "pid namespace of init vs host"
    # a second session's processes are invisible
    _bg_sleep "$SID" 104
    local other=$SID
    new_session
    in_sbx "$SID" 'ps -o comm | grep -cx sleep'
    assert_eq 0 "$SX_OUT" "'sleep' processes of another session seen by ps"
    in_sbx "$SID" "kill -0 $BG_HOSTPID"
    assert_ne 0 "$SX_RC" "kill -0 on the host pid of another session's process"
}

test_hostname_is_session_id() {
    new_session
    must_sh "$SID" 'hostname; uname -n; cat /proc/sys/kernel/hostname; echo "$HOSTNAME"'
    assert_eq "$(printf '%s\n' "$SID" "$SID" "$SID" "$SID")" "$SX_OUT" "hostname, uname -n, /proc/sys/kernel/hostname, \$HOSTNAME"
    [ "$(hostname)" != "$SID" ] || fail "the host's hostname changed to $SID"
    local pid1
    pid1=$(jq -r .pid <<<"$SESSION")
    assert_ne "$(readlink /proc/self/ns/uts)" "$(readlink "/proc/$pid1/ns/uts")" "uts namespace"
}

test_network_is_only_the_egress_link_and_host_unreachable() {
    new_session
    local addr
    addr=$(jb .network.address)
    assert_match "$addr" '^100\.100\.[0-9]+\.[0-9]+$' "session address"
    must_sh "$SID" 'ip -o link show | cut -d: -f2 | tr -d " " | sed "s/@.*//"'
    assert_eq "lo eth0" "$(echo $SX_OUT)" "network interfaces inside"
    must_sh "$SID" 'ip route show; ip -6 route show | grep -v "^$" | grep -v "::1" | grep -v "^fe80" || true'
    assert_eq "default via 100.127.255.254 dev eth0 | 100.127.255.254 dev eth0 scope link" \
        "$(echo "$SX_OUT" | sed 's/ *$//' | paste -sd'|' | sed 's/|/ | /g')" "routes inside"
    must_sh "$SID" 'ip -o -4 addr show | awk "{print \$2, \$4}"'
    assert_eq "lo 127.0.0.1/8 eth0 $addr/32" "$(echo $SX_OUT)" "IPv4 addresses inside"
    must_sh "$SID" 'cat /etc/resolv.conf'
    assert_contains "$SX_OUT" "nameserver 100.127.255.254" "resolv.conf inside"
    # nothing inside can change its network (the net namespace is not the sandbox's)
    sx --user root "$SID" -- ip route add 10.0.0.0/8 dev eth0
    [ "$SX_RC" != 0 ] || fail "root inside could add a route"
    sx --user root "$SID" -- ip link set eth0 down
    [ "$SX_RC" != 0 ] || fail "root inside could take eth0 down"
    # a host listener on every address: reachable from the host, not from inside
    local bb port hostip
    bb=$(host_busybox)
    hostip=$(host_ipv4)
    mkdir -p "$T/www"
    echo "host-secret" >"$T/www/index.html"
    local tries=0
    while :; do
        port=$((20000 + (RANDOM % 20000)))
        "$bb" httpd -f -p "0.0.0.0:$port" -h "$T/www" 2>"$T/httpd.err" &
        if wait_until 5 curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then break; fi
        kill %% 2>/dev/null
        tries=$((tries + 1))
        [ "$tries" -lt 5 ] || fail "could not start a host listener: $(cat "$T/httpd.err")"
    done
    assert_eq host-secret "$(curl -sf --max-time 5 "http://127.0.0.1:$port/")" "host listener answers on 127.0.0.1 (from the host)"
    # (busybox wget -T crashes: bound the attempts with the exec timeout instead)
    sx -t 10 "$SID" -- wget -O - "http://127.0.0.1:$port/"
    assert_eq 1 "$SX_RC" "wget 127.0.0.1:$port from inside: exit status"
    assert_not_contains "$SX_OUT" host-secret "wget 127.0.0.1:$port from inside"
    assert_contains "$SX_ERR" "Connection refused" "wget 127.0.0.1:$port from inside: error"
    if [ -n "$hostip" ]; then
        assert_eq host-secret "$(curl -sf --max-time 5 "http://$hostip:$port/")" "host listener answers on $hostip (from the host)"
        # every address ends in the egress namespace: a port sbx-shim does not
        # serve is refused there, whatever the address
        sx -t 10 "$SID" -- wget -O - "http://$hostip:$port/"
        assert_eq 1 "$SX_RC" "wget $hostip:$port from inside: exit status"
        assert_not_contains "$SX_OUT" host-secret "wget $hostip:$port from inside"
        assert_contains "$SX_ERR" "Connection refused" "wget $hostip:$port from inside: error"
        sx -t 10 "$SID" -- nc "$hostip" "$port"
        assert_eq 1 "$SX_RC" "nc $hostip $port from inside: exit status"
        assert_contains "$SX_ERR" "Connection refused" "nc $hostip $port from inside: error"
    else
        note "no global IPv4 address on the host: only 127.0.0.1 checked"
    fi
    # loopback inside works (a listener inside is reachable inside)
    in_sbx "$SID" 'mkdir -p /tmp/w && echo inner >/tmp/w/index.html && httpd -f -p 127.0.0.1:8080 -h /tmp/w & for i in $(seq 50); do wget -q -O - http://127.0.0.1:8080/ 2>/dev/null && break; sleep 0.1; done; kill $!'
    assert_eq inner "$SX_OUT" "loopback inside the sandbox ($SX_ERR)"
    # the host's port is not the sandbox's: inside 8080 is not on the host
    curl -sf --max-time 1 http://127.0.0.1:8080/ 2>/dev/null | grep -q inner && fail "the sandbox's listener is reachable from the host"
    true
}

test_no_network_daemon_gives_loopback_only() {
    daemon_start nonet --no-network
    new_session
    must_sh "$SID" 'ip -o link show | cut -d: -f2 | tr -d " "'
    assert_eq lo "$SX_OUT" "network interfaces inside (--no-network)"
    must_sh "$SID" 'ip route show'
    assert_eq "" "$SX_OUT" "routes inside (--no-network)"
    api DELETE "/v1/sessions/$SID"
    assert_no_leaks nonet
}

test_namespaces_differ_from_host() {
    new_session
    local pid1 ns
    pid1=$(jq -r .pid <<<"$SESSION")
    _bg_sleep "$SID" 105
    for ns in mnt ipc uts cgroup net pid user; do
        assert_ne "$(readlink /proc/self/ns/$ns)" "$(readlink "/proc/$pid1/ns/$ns")" "$ns namespace of the session's init vs the host"
        assert_eq "$(readlink "/proc/$pid1/ns/$ns")" "$(readlink "/proc/$BG_HOSTPID/ns/$ns")" "$ns namespace of an exec'd process vs init"
    done
    # and from another session
    local other_pid1=$pid1
    new_session
    pid1=$(jq -r .pid <<<"$SESSION")
    for ns in mnt ipc uts cgroup net pid user; do
        assert_ne "$(readlink "/proc/$other_pid1/ns/$ns")" "$(readlink "/proc/$pid1/ns/$ns")" "$ns namespace of two sessions"
    done
    # the cgroup namespace root is the session's cgroup
    must_sh "$SID" 'cat /proc/self/cgroup'
    grep -qx '0::/' <<<"$SX_OUT" || fail "/proc/self/cgroup inside has no '0::/' line (cgroup namespace root): $SX_OUT"
    assert_eq "" "$(grep -v ':/$' <<<"$SX_OUT")" "/proc/self/cgroup lines not at the namespace root"
    # ipc: the host's SysV objects are invisible inside
    if [ -r /proc/sysvipc/shm ]; then
        must_sh "$SID" 'cat /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg | wc -l'
        assert_eq 3 "$SX_OUT" "lines of /proc/sysvipc/{shm,sem,msg} inside (headers only)"
    fi
}

test_net_namespace_cannot_be_reconfigured_by_sandbox_root() {
    new_session
    local pid1
    pid1=$(jq -r .pid <<<"$SESSION")
    as_root "$SID" 'ip link set lo down'
    assert_ne 0 "$SX_RC" "ip link set lo down as root"
    assert_match "$SX_ERR" '(Operation not permitted|ermission denied)' "ip link set lo down: error"
    as_root "$SID" 'ip addr add 10.1.2.3/32 dev lo'
    assert_ne 0 "$SX_RC" "ip addr add as root"
    assert_match "$SX_ERR" '(Operation not permitted|ermission denied)' "ip addr add: error"
    as_root "$SID" 'ip link add d0 type dummy'
    assert_ne 0 "$SX_RC" "ip link add as root"
    as_root "$SID" 'ip route add default dev lo'
    assert_ne 0 "$SX_RC" "ip route add as root"
    as_root "$SID" 'unshare -n true'
    assert_contains "$SX_ERR" "Operation not permitted" "unshare -n as root"
    # nothing changed, seen from the host
    local out
    out=$(nsenter -t "$pid1" -n ip -o addr show)
    assert_not_contains "$out" 10.1.2.3 "addresses of the sandbox's netns (from the host)"
    assert_contains "$(nsenter -t "$pid1" -n ip -o link show lo)" "UP" "lo is still up (from the host)"
    # the sandbox's user namespace does not own its net namespace: root there
    # has no CAP_NET_ADMIN over it, while it does own its uts namespace.
    assert_ne "$(readlink "/proc/$pid1/ns/user")" "$(readlink /proc/self/ns/user)" "user namespace"
}

test_rootfs_is_image_and_writes_are_private_per_session() {
    new_session
    local a=$SID
    must_sh "$a" 'readlink /bin/sh; test -x /bin/busybox && echo bb; grep -c "^sandbox:" /etc/passwd; stat -c "%u %g" /bin/busybox /home/sandbox'
    assert_eq "$(printf '%s\n' /bin/busybox bb 1 '0 0' '1000 1000')" "$SX_OUT" "image files and owners inside"
    in_sbx "$a" 'test -e /usr/bin/curl || test -e /usr/bin/jq || test -e /usr/sbin/sbxd'
    assert_ne 0 "$SX_RC" "host binaries visible inside"
    must_sh "$a" 'echo a-data >/home/sandbox/a.txt; echo tmp >/tmp/t.txt'
    must_sh "$a" 'echo root-data >/etc/marker; rm /bin/ls' root
    must_sh "$a" 'cat /home/sandbox/a.txt /etc/marker; test -e /bin/ls || echo ls-gone'
    assert_eq "$(printf 'a-data\nroot-data\nls-gone')" "$SX_OUT" "writes visible in the same session"
    # where the writes landed on the host: the session's workspace, owned by its ids
    local up="$STATE/sessions/$a/upper" base
    base=$(range_procs | awk -v p="$(jq -r .pid <<<"$SESSION")" '$1 == p { print $2 }')
    [ -f "$up/home/sandbox/a.txt" ] || fail "a.txt not in the workspace $up"
    assert_eq "$((base + 1000)) $((base + 1000))" "$(stat -c '%u %g' "$up/home/sandbox/a.txt")" "host owner of a file written by the default user"
    assert_eq "$base" "$(stat -c '%u' "$up/etc/marker")" "host owner of a file written by root"
    # the image is untouched
    [ ! -e "$STATE/images/busybox/rootfs/etc/marker" ] || fail "a sandbox write reached the image"
    [ -e "$STATE/images/busybox/rootfs/bin/ls" ] || fail "a sandbox rm reached the image"
    # a second session sees the pristine image
    new_session
    in_sbx "$SID" 'cat /home/sandbox/a.txt /etc/marker /tmp/t.txt 2>&1; test -e /bin/ls && echo ls-here'
    assert_not_contains "$SX_OUT" a-data "second session sees the first's file"
    assert_not_contains "$SX_OUT" root-data "second session sees the first's /etc/marker"
    assert_contains "$SX_OUT" ls-here "second session has /bin/ls"
    # image files cannot be changed by the default user
    in_sbx "$SID" 'echo x >>/bin/busybox'
    assert_ne 0 "$SX_RC" "default user writes /bin/busybox"
}

test_tmp_is_size_limited_tmpfs() {
    new_session '{"image":"busybox","limits":{"memory":"64M"}}'
    must_sh "$SID" 'awk "\$2 == \"/tmp\" { print \$3, \$4 }" /proc/mounts; df -k /tmp | tail -n 1'
    local fs opts df
    read -r fs opts <<<"$(sed -n 1p <<<"$SX_OUT")"
    df=$(sed -n 2p <<<"$SX_OUT")
    assert_eq tmpfs "$fs" "filesystem of /tmp"
    assert_contains ",$opts," ",nosuid," "/tmp mount options"
    assert_contains ",$opts," ",nodev," "/tmp mount options"
    assert_match "$opts" 'size=[0-9]+k' "/tmp has a size option"
    local kb
    kb=$(awk '{ print $2 }' <<<"$df")
    [ "$kb" -gt 0 ] && [ "$kb" -le 65536 ] || fail "/tmp size ${kb} kB with a 64M memory limit: expected > 0 and <= the memory limit"
    note "/tmp: $kb kB"
    in_sbx "$SID" 'dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>&1; r=$?; rm -f /tmp/fill; exit $r'
    assert_ne 0 "$SX_RC" "writing 100 MiB to /tmp (limit ${kb} kB)"
    assert_contains "$SX_OUT" "No space left" "writing 100 MiB to /tmp: error"
    session_json "$SID"
    assert_eq running "$(jb .state)" "session state after filling /tmp"
}

test_dev_has_only_minimal_nodes() {
    new_session
    must_sh "$SID" 'ls -A /dev | sort | tr "\n" " "'
    assert_eq "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero " "$SX_OUT" "entries of /dev"
    must_sh "$SID" 'for d in null zero full random urandom tty; do stat -c "%n %F %t:%T" /dev/$d; done'
    assert_eq "$(printf '%s\n' '/dev/null character special file 1:3' '/dev/zero character special file 1:5' \
        '/dev/full character special file 1:7' '/dev/random character special file 1:8' \
        '/dev/urandom character special file 1:9' '/dev/tty character special file 5:0')" "$SX_OUT" "device nodes"
    in_sbx "$SID" 'ls /dev/pts | grep -v ptmx'
    assert_eq "" "$SX_OUT" "/dev/pts is a fresh instance (no host terminals)"
    as_root "$SID" 'touch /dev/new'
    assert_ne 0 "$SX_RC" "root creates a file in /dev"
    as_root "$SID" 'mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem'
    assert_ne 0 "$SX_RC" "root makes and reads a /dev/mem node"
    must_sh "$SID" 'head -c 4 /dev/zero | od -An -tx1 | tr -d " "; echo x >/dev/null && echo ok'
    assert_eq "$(printf '00000000\nok')" "$SX_OUT" "/dev/zero and /dev/null work"
}

test_sensitive_proc_paths_are_masked() {
    new_session
    local p
    # files: /dev/null bound over them (reads are empty, writes vanish)
    for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/latency_stats /proc/interrupts \
        /proc/timer_stats /proc/sysrq-trigger; do
        [ -e "$p" ] || continue
        as_root "$SID" "test -e $p || exit 0; stat -c '%F %t:%T' $p; wc -c <$p"
        [ -n "$SX_OUT" ] || continue
        assert_eq "character special file 1:3" "$(sed -n 1p <<<"$SX_OUT")" "$p inside (masked with /dev/null)"
        assert_eq 0 "$(sed -n 2p <<<"$SX_OUT" | tr -d ' ')" "bytes read from $p inside"
    done
    for p in /proc/acpi /proc/scsi /proc/asound; do
        [ -e "$p" ] || continue
        as_root "$SID" "ls -A $p"
        assert_eq "0|" "$SX_RC|$SX_OUT" "$p inside: an empty directory"
        as_root "$SID" "touch $p/x"
        assert_ne 0 "$SX_RC" "root creates a file in $p"
    done
    # sbx-init's memory and environment are off limits, also to root
    as_root "$SID" 'head -c 16 /proc/1/mem'
    assert_ne 0 "$SX_RC" "root reads /proc/1/mem"
    in_sbx "$SID" 'ls -l /proc/1/exe /proc/1/cwd /proc/1/root 2>&1; cat /proc/1/environ'
    assert_ne 0 "$SX_RC" "default user reads /proc/1/environ"
}

test_proc_sys_is_read_only() {
    new_session
    must_sh "$SID" 'awk "\$2 == \"/proc/sys\" { print \$4 }" /proc/mounts'
    assert_match "$SX_OUT" '(^|,)ro(,|$)' "/proc/sys mount options"
    local f
    for f in /proc/sys/kernel/hostname /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward /proc/sys/vm/overcommit_memory; do
        as_root "$SID" "cat $f >/tmp/v && cat /tmp/v >$f"
        assert_ne 0 "$SX_RC" "root writes $f"
        assert_match "$SX_ERR" '(Read-only file system|ermission denied|not permitted)' "root writes $f: error"
    done
    for f in bus fs irq; do
        [ -d "/proc/$f" ] || continue
        must_sh "$SID" "awk '\$2 == \"/proc/$f\" { print \$4 }' /proc/mounts"
        assert_match "$SX_OUT" '(^|,)ro(,|$)' "/proc/$f mount options"
    done
    as_root "$SID" 'sysctl -w kernel.hostname=evil'
    assert_ne 0 "$SX_RC" "sysctl -w as root"
}

test_seccomp_denies_namespace_and_mount_syscalls() {
    new_session
    local u cmd
    for u in sandbox root; do
        for cmd in 'unshare -U true' 'unshare -m true' 'unshare -n true' 'unshare -p -f true' 'unshare -i true' \
            'unshare -u true' 'unshare -r true'; do
            sx -u "$u" "$SID" -- sh -c "$cmd"
            assert_ne 0 "$SX_RC" "[$cmd] as $u"
            assert_contains "$SX_ERR" "Operation not permitted" "[$cmd] as $u: error"
        done
        sx -u "$u" "$SID" -- sh -c 'mount -t tmpfs none /tmp'
        assert_ne 0 "$SX_RC" "mount -t tmpfs as $u"
        assert_match "$SX_ERR" '(Operation not permitted|ermission denied)' "mount -t tmpfs as $u: error"
        sx -u "$u" "$SID" -- sh -c 'umount /proc'
        assert_ne 0 "$SX_RC" "umount /proc as $u"
        sx -u "$u" "$SID" -- sh -c 'mkdir -p /tmp/a /tmp/b; pivot_root /tmp/a /tmp/b'
        assert_ne 0 "$SX_RC" "pivot_root as $u"
        sx -u "$u" "$SID" -- sh -c 'swapoff -a; swapon /dev/zero'
        assert_ne 0 "$SX_RC" "swapon as $u"
    done
    # chroot needs CAP_SYS_CHROOT: the default user has none
    sx "$SID" -- chroot / true
    assert_ne 0 "$SX_RC" "chroot as the default user"
    assert_contains "$SX_ERR" "Operation not permitted" "chroot as the default user: error"
    # the refusals did not hurt the session
    sx "$SID" -- echo alive
    assert_eq alive "$SX_OUT" "an exec afterwards"
}

test_host_paths_are_not_visible_inside() {
    new_session
    local p
    for p in "$SOCK" "$STATE" "$STATE/sessions" "$IT_RUN" /var/lib/sbx /run/sbx "$SBX_BUILD" /var/lib/dpkg /usr/bin/curl; do
        as_root "$SID" "test -e '$p'"
        assert_ne 0 "$SX_RC" "host path $p visible inside"
    done
    in_sbx "$SID" 'ls -A /var/lib 2>/dev/null | wc -l'
    assert_eq 0 "$SX_OUT" "entries of /var/lib inside"
    # no unix socket of the host is reachable by path or in the abstract namespace
    as_root "$SID" "find / -xdev -type s 2>/dev/null | head -5"
    assert_eq "" "$SX_OUT" "unix sockets in the sandbox's filesystem"
    as_root "$SID" 'cat /proc/net/unix | wc -l'
    assert_eq 1 "$SX_OUT" "lines of /proc/net/unix inside (header only: no host sockets)"
    # the sbxd socket is not among the sandbox's open files either
    _bg_sleep "$SID" 106
    local fds
    fds=$(ls -l "/proc/$BG_HOSTPID/fd" 2>/dev/null | awk '{ print $NF }' | tr '\n' ' ')
    assert_not_contains "$fds" "$SOCK" "open files of a sandbox process"
    assert_not_contains "$fds" "$STATE" "open files of a sandbox process"
}

test_ptrace_of_other_sandbox_process_fails() {
    new_session
    # a process of the default user, then root (no CAP_SYS_PTRACE) and another
    # uid try to read its memory: ptrace access checks refuse.
    curl -sS -N --max-time 120 --unix-socket "$SOCK" -X POST -o "$T/bg.out" \
        -d '{"argv":["sh","-c","echo $$ >/tmp/victim.pid; exec sleep 107"]}' "http://sbx/v1/sessions/$SID/exec" &
    wait_until 20 _victim_ready || fail "the victim process did not start"
    local vpid
    vpid=$(sbx exec "$SID" -- cat /tmp/victim.pid)
    as_root "$SID" "head -c 1 /proc/$vpid/mem"
    assert_ne 0 "$SX_RC" "root reads /proc/$vpid/mem of the default user's process"
    assert_match "$SX_ERR" '(ermission denied|not permitted)' "root reads /proc/$vpid/mem: error"
    as_root "$SID" "cat /proc/$vpid/environ"
    assert_ne 0 "$SX_RC" "root reads /proc/$vpid/environ of the default user's process"
    sx -u 2000 "$SID" -- sh -c "cat /proc/$vpid/environ"
    assert_ne 0 "$SX_RC" "uid 2000 reads /proc/$vpid/environ of uid 1000"
    sx -u 2000 "$SID" -- sh -c "kill -STOP $vpid"
    assert_ne 0 "$SX_RC" "uid 2000 signals a uid 1000 process"
    # sbx-init (non-dumpable) is off limits to everyone
    as_root "$SID" 'head -c 1 /proc/1/mem'
    assert_ne 0 "$SX_RC" "root reads sbx-init's memory"
    as_root "$SID" 'kill -9 1; sleep 0.2; echo still-here'
    session_json "$SID"
    assert_eq running "$(jb .state)" "session after root sent SIGKILL to pid 1"
    # a process of another session is not even addressable
    local victim_host
    victim_host=$(_host_pid_of x "sleep 107")
    new_session
    as_root "$SID" "ls /proc/$victim_host/mem 2>&1 || echo none; kill -0 $victim_host"
    assert_ne 0 "$SX_RC" "root of another session signals the victim by its host pid"
}

_victim_ready() { sx "$SID" -- test -s /tmp/victim.pid; [ "$SX_RC" = 0 ]; }
