# test_archive.sh - the session archive API (GET/PUT .../archive) and sbx cp
# of directories: round trips in each format, large and binary files,
# ownership, errors before the first byte, limits, abandoned uploads, and
# escape attempts through hostile archives, on both sides (sbx-archive in the
# sandbox, and sbx cp extracting what a sandbox sends on the host).

# arc_put ID DIR FILE [QUERY]: PUT FILE as the archive for DIR.
arc_put() {
    local API_MAX_TIME=300
    api_file PUT "/v1/sessions/$1/archive?path=$2${4:+&$4}" "$3"
}
# arc_get ID DIR OUT [QUERY]: GET into OUT (headers in $T/.arc.hdr); sets API_CODE.
arc_get() {
    API_CODE=$(curl -sS --max-time 300 --unix-socket "$SOCK" -D "$T/.arc.hdr" -o "$3" \
        -w '%{http_code}' "http://sbx/v1/sessions/$1/archive?path=$2${4:+&$4}" 2>"$T/.get.err")
    API_BODY=$(head -c 2000 "$3")
}
arc_ctype() { tr -d '\r' <"$T/.arc.hdr" | sed -n 's/^Content-Type: //Ip'; }

# The sandbox's view of DIR: "mode uid gid size type name" lines, sorted (links: -> target).
sbx_tree() {
    must_sh "$1" "cd $2 && find . -mindepth 1 | sort | while read -r f; do
        if [ -L \"\$f\" ]; then echo \"\$f -> \$(readlink \"\$f\")\";
        elif [ -d \"\$f\" ]; then stat -c '%a %u %g dir %n' \"\$f\";
        else stat -c '%a %u %g %s %F %n' \"\$f\" | sed 's/regular empty file/regular file/'; fi; done"
    SBX_TREE=$SX_OUT
}
# The same for a host directory (modes and sizes; owners left out: not kept).
host_tree() {
    (cd "$1" && find . -mindepth 1 | sort | while read -r f; do
        if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; elif [ -d "$f" ]; then
            stat -c '%a dir %n' "$f"; else
            stat -c '%a %s %F %n' "$f" | sed 's/regular empty file/regular file/'; fi
    done)
}
tree_sums() { (cd "$1" && find . -type f | sort | xargs -r md5sum); }

# A host tree with binary content, an empty directory, links and modes.
_arc_tree() {
    mkdir -p "$1/src/deep/er" "$1/empty" "$1/bin"
    python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4096)' >"$1/src/all-bytes"
    head -c 3000000 /dev/urandom >"$1/src/deep/er/random"
    printf 'x\0y\0' >"$1/src/nul"
    : >"$1/src/empty-file"
    printf '#!/bin/sh\necho hi\n' >"$1/bin/run"
    chmod 0750 "$1/bin/run"
    chmod 0700 "$1/src/deep"
    ln -s ../src/all-bytes "$1/bin/link"
    ln -s deep/er "$1/src/er"
    ln "$1/src/nul" "$1/src/nul-hardlink"
    touch -d 2021-02-03T04:05:06Z "$1/src/all-bytes"
}

# _arc_hostile KIND OUT: a tar that tries something (python's tarfile).
_arc_hostile() {
    python3 - "$1" "$2" <<'EOF'
import io, sys, tarfile
kind, out = sys.argv[1], sys.argv[2]
t = tarfile.open(out, "w", format=tarfile.PAX_FORMAT)
def f(name, data=b"pwned\n", mode=0o644):
    ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = mode; t.addfile(ti, io.BytesIO(data))
def d(name, mode=0o755):
    ti = tarfile.TarInfo(name); ti.type = tarfile.DIRTYPE; ti.mode = mode; t.addfile(ti)
def ln(name, target, ty=tarfile.SYMTYPE):
    ti = tarfile.TarInfo(name); ti.type = ty; ti.linkname = target; t.addfile(ti)
d("ok"); f("ok/first")       # good entries first: all or nothing
if kind == "dotdot": f("../../../../../../tmp/sbx-it-pwned")
elif kind == "inner-dotdot": f("ok/../../sbx-it-pwned")
elif kind == "absolute": f("/tmp/sbx-it-pwned")
elif kind == "hardlink-host": ln("shadow", "/etc/shadow", tarfile.LNKTYPE)
elif kind == "hardlink-up": ln("shadow", "../../../../../../etc/shadow", tarfile.LNKTYPE)
elif kind == "hardlink-missing": ln("passwd", "etc/passwd", tarfile.LNKTYPE)
elif kind == "symlink-out": ln("evil", "/tmp"); f("evil/sbx-it-pwned")
elif kind == "symlink-up": ln("up", "../../../../../../tmp"); f("up/sbx-it-pwned")
elif kind == "write-through-symlink": ln("inside", "ok"); f("inside/sbx-it-pwned")
elif kind == "device":
    ti = tarfile.TarInfo("null"); ti.type = tarfile.CHRTYPE; ti.devmajor = 1; ti.devminor = 3; t.addfile(ti)
elif kind == "fifo":
    ti = tarfile.TarInfo("fifo"); ti.type = tarfile.FIFOTYPE; t.addfile(ti)
elif kind == "setuid": f("suid", b"#!/bin/sh\n", 0o4755); f("sgid", b"#!/bin/sh\n", 0o2755)
t.close()
EOF
}

test_archive_round_trip_keeps_binary_files_empty_dirs_links_and_modes_in_each_format() {
    new_session
    _arc_tree "$T/h"
    local fmt tarflag ctype
    for fmt in tar tar.gz tar.zst; do
        case $fmt in tar) tarflag= ctype=application/x-tar ;; tar.gz) tarflag=-z ctype=application/gzip ;;
            tar.zst) tarflag=--zstd ctype=application/zstd ;; esac
        tar -C "$T/h" $tarflag -cf "$T/up.$fmt" .
        # format given, and detected
        arc_put "$SID" "/workspace/$fmt" "$T/up.$fmt" "format=$fmt"
        assert_eq 200 "$API_CODE" "PUT $fmt: $(short "$API_BODY")"
        assert_eq "/workspace/$fmt 5 5 2 1" "$(jb '"\(.path) \(.dirs) \(.files) \(.symlinks) \(.hardlinks)"')" "PUT $fmt answer"
        arc_put "$SID" "/workspace/auto-$fmt" "$T/up.$fmt"
        assert_eq 200 "$API_CODE" "PUT $fmt without format=: $(short "$API_BODY")"
        arc_get "$SID" "/workspace/$fmt" "$T/down.$fmt" "format=$fmt"
        assert_eq 200 "$API_CODE" "GET $fmt: $(short "$API_BODY")"
        assert_eq "$ctype" "$(arc_ctype)" "Content-Type of $fmt"
        rm -rf "$T/x.$fmt" && mkdir "$T/x.$fmt"
        tar -C "$T/x.$fmt" $tarflag -xf "$T/down.$fmt" || fail "host tar cannot read the $fmt sbxd sent"
        assert_eq "$(host_tree "$T/h")" "$(host_tree "$T/x.$fmt")" "tree after a $fmt round trip"
        assert_eq "$(tree_sums "$T/h")" "$(tree_sums "$T/x.$fmt")" "contents after a $fmt round trip"
    done
    # inside: the sandbox's user owns it all, times and hard links kept
    must_sh "$SID" 'stat -c "%u:%g" $(find /workspace/tar.zst) | sort -u; stat -c %Y /workspace/tar.zst/src/all-bytes;
        stat -c %h /workspace/tar.zst/src/nul; cat /workspace/tar.zst/bin/run >/dev/null && /workspace/tar.zst/bin/run'
    assert_eq "1000:1000
1612325106
2
hi" "$SX_OUT" "owners, mtime, hard link, executable"
    # an empty directory archives to an empty tar
    must_sh "$SID" 'mkdir /workspace/nothing'
    arc_get "$SID" /workspace/nothing "$T/nothing.tar"
    assert_eq "200 0" "$API_CODE $(tar -tf "$T/nothing.tar" | wc -l)" "GET of an empty directory"
}

test_archive_large_file_round_trip_streams() {
    new_session '{"image":"busybox","limits":{"memory":"256M"}}'
    mkdir -p "$T/big"
    # 160 MiB: more than the sandbox's memory limit, so it must stream
    head -c $((32 << 20)) /dev/urandom >"$T/big/chunk"
    for i in 1 2 3 4 5; do cat "$T/big/chunk"; done >"$T/big/file"
    rm "$T/big/chunk"
    tar -C "$T/big" -cf "$T/big.tar" .
    local pid rss0 hwm
    pid=$(daemon_pid main)
    rss0=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    local t0=$(now_us)
    arc_put "$SID" /workspace/big "$T/big.tar"
    local t1=$(now_us)
    assert_eq 200 "$API_CODE" "PUT 160 MiB: $(short "$API_BODY")"
    assert_eq $((160 << 20)) "$(jb .bytes)" "bytes extracted"
    arc_get "$SID" /workspace/big "$T/big.back.tar"
    local t2=$(now_us)
    assert_eq 200 "$API_CODE" "GET 160 MiB"
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    note "sbxd RSS before $rss0 KiB, peak after $hwm KiB"
    assert_le $((hwm - rss0)) 65536 "sbxd memory growth (KiB) while 160 MiB went in and out"
    mkdir "$T/back" && tar -C "$T/back" -xf "$T/big.back.tar"
    assert_eq "$(md5sum <"$T/big/file")" "$(md5sum <"$T/back/file")" "160 MiB round trip"
    note "160 MiB: PUT $(((t1 - t0) / 1000)) ms, GET $(((t2 - t1) / 1000)) ms"
    echo "# 160 MiB: PUT $(((t1 - t0) / 1000)) ms, GET $(((t2 - t1) / 1000)) ms" >>"$IT_RUN/archive-times"
    api GET /v1/health
    assert_eq 200 "$API_CODE" "health after"
}

test_archive_files_belong_to_the_user_who_extracts() {
    new_session
    mkdir -p "$T/o/d" && echo x >"$T/o/d/f"
    tar -C "$T/o" --owner=4242 --group=4242 -cf "$T/o.tar" .
    arc_put "$SID" /workspace/mine "$T/o.tar"
    assert_eq 200 "$API_CODE" "PUT as the sandbox user"
    arc_put "$SID" /opt/root-owned "$T/o.tar" "user=root"
    assert_eq 200 "$API_CODE" "PUT as root: $(short "$API_BODY")"
    must_sh "$SID" 'stat -c "%u %g %n" /workspace/mine /workspace/mine/d/f /opt/root-owned/d/f'
    assert_eq "1000 1000 /workspace/mine
1000 1000 /workspace/mine/d/f
0 0 /opt/root-owned/d/f" "$SX_OUT" "owners: whoever extracted (the archive's 4242 is not kept)"
    # on the host: the session's id range, never a host user
    local base
    base=$(stat -c %u "$STATE/sessions/$SID/upper")
    assert_eq "$((base + 1000))" "$(stat -c %u "$STATE/sessions/$SID/upper/workspace/mine/d/f")" "host owner"
    arc_put "$SID" /etc/sbx-it "$T/o.tar"
    API_WHAT="PUT into /etc as the sandbox user" expect_error 403 permission_denied "/etc"
    must_sh "$SID" 'test ! -e /etc/sbx-it && echo gone'
}

test_archive_get_errors_come_before_the_first_byte_as_json() {
    new_session
    must_sh "$SID" 'echo x > /workspace/file; mkdir -p /workspace/d' root
    must_sh "$SID" 'mkdir -m 0700 /root/private; echo s > /root/private/s' root
    arc_get "$SID" /workspace/nope "$T/o"
    API_WHAT="missing directory" expect_error 404 not_found "/workspace/nope"
    arc_get "$SID" /workspace/file "$T/o"
    API_WHAT="a file" expect_error 409 conflict "not a directory"
    arc_get "$SID" /root/private "$T/o"
    API_WHAT="a directory the sandbox user may not read" expect_error 403 permission_denied "/root/private"
    arc_get "$SID" /root/private "$T/o" "user=root"
    assert_eq "200 s" "$API_CODE $(tar -xOf "$T/o" s)" "the same as root"
    arc_get "$SID" workspace "$T/o"
    API_WHAT="relative path" expect_error 400 invalid_path "absolute"
    arc_get "$SID" /workspace "$T/o" "format=zip"
    API_WHAT="unknown format" expect_error 400 invalid_request "format"
    arc_get "$SID" /workspace "$T/o" "user=admin"
    API_WHAT="unknown user" expect_error 400 invalid_request "user"
    API_CODE=$(curl -sS --unix-socket "$SOCK" -o "$T/o" -w '%{http_code}' "http://sbx/v1/sessions/$SID/archive")
    API_BODY=$(<"$T/o")
    API_WHAT="no path" expect_error 400 invalid_request "path"
    arc_get 000000000000 /workspace "$T/o"
    API_WHAT="unknown session" expect_error 404 not_found
    api POST "/v1/sessions/$SID/archive?path=/workspace"
    API_WHAT="POST" expect_error 405 method_not_allowed "GET or PUT"
    echo garbage >"$T/g"
    arc_put "$SID" /workspace/g "$T/g"
    API_WHAT="a body that is no tar" expect_error 400 invalid_archive
    : >"$T/empty"
    arc_put "$SID" /workspace/g "$T/empty"
    API_WHAT="an empty body" expect_error 400 invalid_archive "empty"
    tar -C "$T" -cf "$T/plain.tar" g
    arc_put "$SID" /workspace/g "$T/plain.tar" "format=tar.gz"
    API_WHAT="a plain tar sent as tar.gz" expect_error 400 invalid_archive "tar.gz"
    arc_put "$SID" /workspace/file "$T/plain.tar"
    API_WHAT="PUT into a file" expect_error 409 conflict "/workspace/file"
    must_sh "$SID" 'ls -A /workspace'
    assert_eq "d
file" "$SX_OUT" "nothing made by the refused PUTs"
}

test_archive_get_keeps_symlinks_as_links_and_never_host_content() {
    new_session
    must_sh "$SID" 'mkdir -p /workspace/d && cd /workspace/d && ln -s /etc/shadow shadow &&
        ln -s /etc etc && ln -s ../../../../../../etc/passwd up && echo mine > file && mkfifo fifo'
    arc_get "$SID" /workspace/d "$T/d.tar"
    assert_eq 200 "$API_CODE" "GET"
    python3 - "$T/d.tar" >"$T/list" <<'EOF'
import sys, tarfile
for m in sorted(tarfile.open(sys.argv[1]).getmembers(), key=lambda m: m.name):
    print(m.name, "link" if m.issym() else "file" if m.isfile() else "other", m.linkname, m.size)
EOF
    assert_eq "etc link /etc 0
file file  5
shadow link /etc/shadow 0
up link ../../../../../../etc/passwd 0" "$(cat "$T/list")" "entries (the FIFO skipped)"
    # nothing of the host's /etc/shadow in the bytes
    local line
    line=$(head -1 /etc/shadow)
    ! grep -aqF "$line" "$T/d.tar" || fail "the archive holds the host's /etc/shadow"
}

test_archive_escape_attempts_are_refused_and_leave_nothing() {
    new_session
    local secret=$T/sbx-it-secret k
    echo HOST-SECRET >"$secret"
    rm -f /tmp/sbx-it-pwned /etc/sbx-it-pwned
    defer "rm -f /tmp/sbx-it-pwned /etc/sbx-it-pwned"
    local before shadow_sum
    shadow_sum=$(md5sum </etc/shadow)
    must_sh "$SID" 'mkdir -p /workspace/dst && echo old > /workspace/dst/keep'
    for k in dotdot inner-dotdot absolute hardlink-host hardlink-up hardlink-missing symlink-out \
        symlink-up write-through-symlink device fifo; do
        _arc_hostile "$k" "$T/$k.tar"
        arc_put "$SID" /workspace/dst "$T/$k.tar"
        local want=
        case $k in
            dotdot | inner-dotdot) want='".."' ;;
            absolute) want=absolute ;;
            hardlink-host) want='/etc/shadow' ;;
            hardlink-up) want='".."' ;;
            hardlink-missing) want="not an earlier entry" ;;
            symlink-out | symlink-up) want="symlink to" ;;
            write-through-symlink) want="through a symlink" ;;
            device) want="device node" ;;
            fifo) want=FIFO ;;
        esac
        API_WHAT="archive $k" expect_error 400 unsafe_entry "$want"
        must_sh "$SID" 'ls -A /workspace/dst; cat /workspace/dst/keep; ls -A /tmp /; test ! -e /sbx-it-pwned'
        assert_eq "keep
old" "$(head -2 <<<"$SX_OUT")" "archive $k: /workspace/dst as it was (no staging directory, no ok/)"
        assert_not_contains "$SX_OUT" sbx-it-pwned "archive $k: nothing written elsewhere in the sandbox"
        # a new directory is not left behind either
        arc_put "$SID" /workspace/new/deeper "$T/$k.tar"
        [ "$API_CODE" = 400 ] || fail "archive $k into a new dir: HTTP $API_CODE"
        must_sh "$SID" 'test ! -e /workspace/new && echo none'
    done
    [ ! -e /tmp/sbx-it-pwned ] && [ ! -e /etc/sbx-it-pwned ] || fail "an archive wrote on the host"
    assert_eq HOST-SECRET "$(cat "$secret")" "host file"
    assert_eq "$shadow_sum" "$(md5sum </etc/shadow)" "host /etc/shadow"
    # setuid/setgid bits are cleared (and counted), not refused
    _arc_hostile setuid "$T/setuid.tar"
    arc_put "$SID" /workspace/s "$T/setuid.tar"
    assert_eq "200 2" "$API_CODE $(jb .setid_bits_cleared)" "setuid archive: $(short "$API_BODY")"
    must_sh "$SID" 'stat -c "%a %n" /workspace/s/suid /workspace/s/sgid'
    assert_eq "755 /workspace/s/suid
755 /workspace/s/sgid" "$SX_OUT" "modes without setuid/setgid"
    assert_health
}

test_archive_put_merges_into_an_existing_directory_all_or_nothing() {
    new_session
    must_sh "$SID" 'mkdir -p /workspace/p/src/keepdir && cd /workspace/p && echo old > README &&
        echo keep > src/keep && echo f > wasfile && ln -s /etc link && chmod 0711 src'
    mkdir -p "$T/m/src" "$T/m/wasfile" "$T/m/link"
    echo new >"$T/m/README"
    echo added >"$T/m/src/added"
    echo x >"$T/m/wasfile/x"
    echo y >"$T/m/link/y"
    tar -C "$T/m" -cf "$T/m.tar" .
    arc_put "$SID" /workspace/p "$T/m.tar"
    assert_eq 200 "$API_CODE" "merge: $(short "$API_BODY")"
    must_sh "$SID" 'cd /workspace/p && cat README src/keep src/added wasfile/x link/y && stat -c %a src &&
        test -d src/keepdir && test ! -L link && test ! -e /etc/y && ls -A'
    assert_eq "new
keep
added
x
y
711
README
link
src
wasfile" "$SX_OUT" "replaced, filled, kept"
    # a file where a directory is: refused before anything is moved
    mkdir -p "$T/c/aaa" && echo 1 >"$T/c/aaa/first" && echo 2 >"$T/c/src"
    tar -C "$T/c" -cf "$T/c.tar" aaa src
    arc_put "$SID" /workspace/p "$T/c.tar"
    API_WHAT="a file over a directory" expect_error 409 conflict "/workspace/p/src is a directory"
    must_sh "$SID" 'ls -A /workspace/p'
    assert_eq "README
link
src
wasfile" "$SX_OUT" "nothing moved"
}

test_archive_put_over_limits_is_413_and_leaves_nothing() {
    daemon_start asmall --archive-max-bytes 100000 --archive-max-entries 50 --warm 0 --no-network ||
        fail "daemon asmall did not start"
    defer "daemon_stop asmall"
    new_session
    mkdir -p "$T/b" "$T/e"
    head -c 60000 /dev/zero >"$T/b/one"
    head -c 60000 /dev/zero >"$T/b/two"
    tar -C "$T/b" -czf "$T/b.tgz" .
    arc_put "$SID" /workspace/b "$T/b.tgz"
    API_WHAT="120 kB, limit 100 kB" expect_error 413 archive_too_large "100000"
    for i in $(seq 1 60); do : >"$T/e/f$i"; done
    tar -C "$T/e" -cf "$T/e.tar" .
    arc_put "$SID" /workspace/e "$T/e.tar"
    API_WHAT="61 entries, limit 50" expect_error 413 archive_too_large "50 entries"
    must_sh "$SID" 'ls -A /workspace | wc -l'
    assert_eq 0 "$SX_OUT" "nothing extracted"
    tar -C "$T/e" -cf "$T/small.tar" ./f1 ./f2
    arc_put "$SID" /workspace/e "$T/small.tar"
    assert_eq 200 "$API_CODE" "within the limits"
}

test_archive_abandoned_upload_extracts_nothing_and_workers_go_with_their_session() {
    new_session
    mkdir -p "$T/a"
    head -c 20000000 /dev/urandom >"$T/a/big"
    echo small >"$T/a/small"
    tar -C "$T/a" -cf "$T/a.tar" small big
    # the client goes away half way through the body
    { head -c 8000000 "$T/a.tar"; sleep 5; } |
        curl -sS --max-time 30 --unix-socket "$SOCK" -X PUT -T - -o /dev/null \
            "http://sbx/v1/sessions/$SID/archive?path=/workspace/up" 2>/dev/null &
    local cpid=$!
    sleep 1
    kill $cpid 2>/dev/null
    wait $cpid 2>/dev/null
    wait_until 10 _arc_nothing "$SID" || fail "after an abandoned upload /workspace holds: $SX_OUT"
    # a complete tar whose upload never ends: still nothing
    { cat "$T/a.tar"; sleep 5; } |
        curl -sS --max-time 30 --unix-socket "$SOCK" -X PUT -T - -o /dev/null \
            "http://sbx/v1/sessions/$SID/archive?path=/workspace/up" 2>/dev/null &
    cpid=$!
    sleep 1.5
    kill $cpid 2>/dev/null
    wait $cpid 2>/dev/null
    wait_until 10 _arc_nothing "$SID" || fail "after a whole tar without the end of its body: $SX_OUT"
    # a download whose reader leaves early is harmless
    arc_put "$SID" /workspace/up "$T/a.tar"
    assert_eq 200 "$API_CODE" "PUT"
    curl -sS --max-time 30 --unix-socket "$SOCK" "http://sbx/v1/sessions/$SID/archive?path=/workspace" |
        (head -c 1000 >/dev/null; sleep 1) 2>/dev/null
    assert_health
    # a session removed during a PUT whose body trickles in
    { head -c 100000 "$T/a.tar"; sleep 3; } |
        curl -sS --max-time 30 --unix-socket "$SOCK" -X PUT -T - -o "$T/put.out" -w '%{http_code}' \
            "http://sbx/v1/sessions/$SID/archive?path=/workspace/slow" >"$T/put.code" 2>/dev/null &
    cpid=$!
    sleep 1
    api DELETE "/v1/sessions/$SID"
    assert_eq 204 "$API_CODE" "DELETE during a PUT"
    wait $cpid
    [ "$(cat "$T/put.code")" != 200 ] || fail "the PUT succeeded on a removed session"
    assert_no_leaks
}
_arc_nothing() {
    sx "$1" -- sh -c 'ls -A /workspace'
    [ -z "$SX_OUT" ] && [ "$SX_RC" = 0 ]
}

test_archive_a_crashed_extraction_leaves_nothing() {
    new_session
    mkdir -p "$T/a" && head -c 3000000 /dev/urandom >"$T/a/big"
    tar -C "$T/a" -cf "$T/a.tar" big
    { head -c 200000 "$T/a.tar"; sleep 4; } |
        curl -sS --max-time 30 --unix-socket "$SOCK" -X PUT -T - -o "$T/put.out" -w '%{http_code}' \
            "http://sbx/v1/sessions/$SID/archive?path=/workspace/new/dir" >"$T/put.code" 2>/dev/null &
    local cpid=$! guardian child
    wait_until 10 _arc_staging "$SID" || fail "no staging directory while the upload runs"
    # the extraction (the helper's child) dies as a bug in libarchive would make it
    guardian=$(pgrep -P "$(daemon_pid main)" -x sbx-archive)
    child=$(pgrep -P "$guardian")
    [ -n "$child" ] || fail "no extraction process under sbx-archive ($guardian)"
    kill -SEGV "$child"
    wait $cpid
    assert_eq 500 "$(cat "$T/put.code")" "the PUT's answer: $(cat "$T/put.out")"
    assert_contains "$(cat "$T/put.out")" "nothing was extracted" "message"
    must_sh "$SID" 'ls -A /workspace'
    assert_eq "" "$SX_OUT" "no staging directory and no /workspace/new left"
    assert_health
}
_arc_staging() {
    sx "$1" -- sh -c 'ls -A /workspace/new/dir 2>/dev/null'
    [[ "$SX_OUT" == .sbx-archive-* ]]
}

test_cli_cp_copies_directories_both_ways() {
    new_session
    _arc_tree "$T/proj"
    sbx cp "$T/proj" "$SID:/workspace/" 2>"$T/err" || fail "sbx cp up: $(cat "$T/err")"
    assert_contains "$(cat "$T/err")" "to $SID:/workspace/proj" "summary"
    sbx_tree "$SID" /workspace/proj
    assert_contains "$SBX_TREE" "750 1000 1000 18 regular file ./bin/run" "uploaded tree"
    # to a new local directory, then into an existing one (-> DIR/NAME)
    sbx cp "$SID:/workspace/proj" "$T/back" 2>"$T/err" || fail "sbx cp down: $(cat "$T/err")"
    assert_eq "$(host_tree "$T/proj")" "$(host_tree "$T/back")" "downloaded tree"
    assert_eq "$(tree_sums "$T/proj")" "$(tree_sums "$T/back")" "downloaded contents"
    mkdir "$T/into"
    sbx cp -q "$SID:/workspace/proj" "$T/into" || fail "sbx cp into an existing dir"
    assert_eq "$(tree_sums "$T/proj")" "$(tree_sums "$T/into/proj")" "into DIR/NAME"
    # a session path that is a symlink to a directory is that directory
    must_sh "$SID" 'ln -s proj /workspace/plink'
    sbx cp -q "$SID:/workspace/plink" "$T/via-link" || fail "sbx cp of a symlink to a directory"
    assert_eq "$(tree_sums "$T/proj")" "$(tree_sums "$T/via-link")" "through a symlink to a directory"
    # contents only, and merging into what is there
    echo local >"$T/into/proj/only-local"
    must_sh "$SID" 'echo changed > /workspace/proj/src/nul'
    sbx cp -q "$SID:/workspace/proj/." "$T/into/proj" || fail "sbx cp of DIR/."
    assert_eq "changed local" "$(cat "$T/into/proj/src/nul") $(cat "$T/into/proj/only-local")" "merged"
    # a tar on stdout
    sbx cp "$SID:/workspace/proj" - >"$T/proj.tar" || fail "sbx cp to stdout"
    assert_contains "$(tar -tf "$T/proj.tar")" "src/deep/er/random" "tar on stdout"
    # errors
    sbx cp "$SID:/workspace/nope" "$T/nope" 2>"$T/err"
    assert_eq 1 "$?" "missing remote dir: exit status"
    [ ! -e "$T/nope" ] || fail "a failed download left a local directory"
    sbx cp "$T/proj" "$SID:/etc/" 2>"$T/err"
    assert_eq 1 "$?" "upload into /etc as the sandbox user: exit status"
    assert_contains "$(cat "$T/err")" "/etc" "error names the place"
    [ -z "$(find "$T" -name '.sbx-archive-*')" ] || fail "a staging directory was left on the host"
}

test_cli_cp_download_never_follows_the_sandboxs_symlinks_on_the_host() {
    new_session
    rm -f /etc/sbx-it-pwned /tmp/sbx-it-pwned
    defer "rm -f /etc/sbx-it-pwned /tmp/sbx-it-pwned"
    # 1: links to host paths arrive as links, nothing is read or written through them
    must_sh "$SID" 'mkdir -p /workspace/d && cd /workspace/d && ln -s /etc etc && ln -s /tmp tmp &&
        echo data > file'
    sbx cp -q "$SID:/workspace/d" "$T/d1" || fail "download with links to /etc"
    assert_eq "/etc /tmp data" "$(readlink "$T/d1/etc") $(readlink "$T/d1/tmp") $(cat "$T/d1/file")" "links as links"
    # 2: the sandbox then makes etc a real directory with a "passwd" in it; a second
    # download into the same place replaces the host-side link, never writes through it
    must_sh "$SID" 'cd /workspace/d && rm etc tmp && mkdir etc tmp && echo pwned > etc/sbx-it-pwned &&
        echo pwned > tmp/sbx-it-pwned'
    sbx cp -q "$SID:/workspace/d/." "$T/d1" 2>"$T/err" || fail "second download: $(cat "$T/err")"
    [ ! -e /etc/sbx-it-pwned ] && [ ! -e /tmp/sbx-it-pwned ] || fail "a download wrote through a symlink on the host"
    [ -d "$T/d1/etc" ] && [ ! -L "$T/d1/etc" ] || fail "the link was not replaced by the directory"
}

# A stand-in for sbxd on a Unix socket that answers sbx cp's two requests with
# a hostile archive: the CLI must refuse what a compromised sandbox could send.
_fake_sbxd() { # SOCKET TAR
    python3 - "$1" "$2" <<'EOF' &
import http.server, os, socketserver, sys
sock, tar = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if "/files/stat" in self.path:
            body, ctype = b'{"path":"/d","name":"d","type":"dir","size":0,"mode":"0755","uid":1000,"gid":1000,"mtime":"2026-01-01T00:00:00Z"}', "application/json"
        else:
            body, ctype = open(tar, "rb").read(), "application/zstd"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
class S(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    def get_request(self):
        r, _ = super().get_request()
        return r, ("fake", 0)
if os.path.exists(sock): os.unlink(sock)
S(sock, H).serve_forever()
EOF
    FAKE_PID=$!
    defer "kill $FAKE_PID 2>/dev/null"
    wait_until 10 test -S "$1"
}

test_cli_cp_download_refuses_hostile_archives() {
    rm -f /etc/sbx-it-pwned /tmp/sbx-it-pwned
    defer "rm -f /etc/sbx-it-pwned /tmp/sbx-it-pwned"
    local shadow_sum k
    shadow_sum=$(md5sum </etc/shadow)
    for k in dotdot absolute hardlink-host hardlink-up symlink-out symlink-up device fifo; do
        _arc_hostile "$k" "$T/$k.tar"
        zstd -q -f "$T/$k.tar" -o "$T/$k.tzst"
        _fake_sbxd "$T/fake-$k.sock" "$T/$k.tzst"
        mkdir -p "$T/dst-$k" && echo old >"$T/dst-$k/keep"
        SBX_SOCKET="$T/fake-$k.sock" timeout 60 "$SBX_BUILD/sbx" cp -q 0123456789ab:/d/. "$T/dst-$k" 2>"$T/err"
        local rc=$?
        local want=
        case $k in
            dotdot | hardlink-up) want='".."' ;;
            absolute) want=absolute ;;
            hardlink-host) want=/etc/shadow ;;
            # a link to anywhere is a link (a copy of the session's tree); the file below it is refused
            symlink-out | symlink-up) want="through a symlink" ;;
            device) want="device node" ;;
            fifo) want=FIFO ;;
        esac
        assert_eq 1 "$rc" "archive $k: exit status ($(cat "$T/err"))"
        assert_contains "$(cat "$T/err")" "$want" "archive $k: message"
        assert_eq "keep" "$(ls -A "$T/dst-$k")" "archive $k: the destination as it was"
        kill "$FAKE_PID" 2>/dev/null
    done
    [ ! -e /etc/sbx-it-pwned ] && [ ! -e /tmp/sbx-it-pwned ] || fail "a download wrote outside its destination"
    assert_eq "$shadow_sum" "$(md5sum </etc/shadow)" "host /etc/shadow"
    [ -z "$(find "$T" -name 'sbx-it-pwned' -o -name '.sbx-archive-*')" ] || fail "left: $(find "$T" -name 'sbx-it-pwned' -o -name '.sbx-archive-*')"
}
