# test_image_archives.sh - what an image import refuses and what it leaves
# behind: digest mismatches, hostile archives, limits, clients that go away,
# memory use. (Helpers live in test_images.sh.) Independent of the kernel's
# cgroup mode: not repeated in the VM pass.

test_import_digest_mismatch_is_refused_and_leaves_nothing() {
    _make_layers
    local before
    before=$(store_layers)
    python3 "$MKIMAGE" oci "$T/bad.tar" "$BB_ROOTFS" "$T/l1" --corrupt 1 >/dev/null
    API_WHAT="OCI layer with a flipped byte" img_import "$T/bad.tar" "name=it-bad"
    API_WHAT="OCI layer with a flipped byte" expect_error 400 digest_mismatch "content has digest"
    python3 "$MKIMAGE" docker "$T/badd.tar" "$BB_ROOTFS" "$T/l1" --legacy --corrupt 1 >/dev/null
    API_WHAT="docker layer not matching the config's diff_id" img_import "$T/badd.tar" "name=it-bad"
    API_WHAT="docker layer not matching the config's diff_id" expect_error 400 digest_mismatch "image config says"
    api GET /v1/images/it-bad
    assert_eq 404 "$API_CODE" "no image named it-bad"
    assert_store_clean
    assert_eq "$before" "$(store_layers)" "layers in the store"
}

# _hostile KIND OUT: a tarball that tries something.
_hostile() {
    python3 - "$1" "$2" <<'EOF'
import io, sys, tarfile
kind, out = sys.argv[1], sys.argv[2]
t = tarfile.open(out, "w")
def f(name, data=b"x", mode=0o644, **kw):
    ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = mode
    for k, v in kw.items(): setattr(ti, k, v)
    t.addfile(ti, io.BytesIO(data))
def d(name):
    ti = tarfile.TarInfo(name); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti)
def ln(name, target, kind=tarfile.SYMTYPE):
    ti = tarfile.TarInfo(name); ti.type = kind; ti.linkname = target; t.addfile(ti)
d("etc")
f("etc/ok")
if kind == "dotdot":
    f("etc/../../sbx-it-escape")
elif kind == "symlink":
    ln("evil", "/etc")
    f("evil/sbx-it-pwned")
elif kind == "symlink-rel":
    ln("up", "../../../../../../../../tmp")
    f("up/sbx-it-pwned")
elif kind == "hardlink":
    ln("shadow", "../../../../../../etc/shadow", tarfile.LNKTYPE)
elif kind == "hardlink-abs":
    ln("shadow", "/etc/shadow", tarfile.LNKTYPE)
elif kind == "devices":
    for n, ty in (("dev-null", tarfile.CHRTYPE), ("sda", tarfile.BLKTYPE)):
        ti = tarfile.TarInfo(n); ti.type = ty; ti.devmajor = 1; ti.devminor = 3; t.addfile(ti)
    f("suid", b"#!/bin/sh\n", 0o4755)
    f("sgid", b"#!/bin/sh\n", 0o2755)
    ti = tarfile.TarInfo("sgid-dir"); ti.type = tarfile.DIRTYPE; ti.mode = 0o2775; t.addfile(ti)
    f("/abs/file", b"abs")
t.close()
EOF
}

test_hostile_archives_are_refused_with_nothing_written() {
    local before k
    before=$(store_layers)
    rm -f /tmp/sbx-it-pwned /etc/sbx-it-pwned "$STATE/sbx-it-escape" "$STATE/store/sbx-it-escape"
    for k in dotdot symlink symlink-rel hardlink; do
        _hostile "$k" "$T/$k.tar"
        API_WHAT="archive: $k" img_import "$T/$k.tar" "name=it-hostile"
        case $k in
            dotdot) API_WHAT="archive: $k" expect_error 400 invalid_archive '".."' ;;
            hardlink) API_WHAT="archive: $k" expect_error 400 invalid_archive "hard link" ;;
            *) API_WHAT="archive: $k" expect_error 400 invalid_archive "sbx-it-pwned" ;;
        esac
    done
    [ ! -e /etc/sbx-it-pwned ] && [ ! -e /tmp/sbx-it-pwned ] || fail "an archive wrote through a symlink onto the host"
    [ -z "$(find "$SBX_TEST_TMP" -name sbx-it-escape 2>/dev/null)" ] || fail "an archive wrote outside its layer"
    api GET /v1/images/it-hostile
    assert_eq 404 "$API_CODE" "no image from a refused archive"
    assert_store_clean
    assert_eq "$before" "$(store_layers)" "layers after refused archives"

    # an absolute hard link stays inside the layer: it names the layer's own etc/shadow (absent)
    _hostile hardlink-abs "$T/hla.tar"
    img_import "$T/hla.tar" "name=it-hostile"
    API_WHAT="hard link to /etc/shadow" expect_error 400 invalid_archive "shadow"
    # devices are skipped, set-id bits cleared, absolute names made relative
    _hostile devices "$T/dev.tar"
    img_import "$T/dev.tar" "name=it-devices"
    assert_eq 201 "$API_CODE" "archive with devices: $(short "$API_BODY")"
    img_forget it-devices
    assert_eq "2 2" "$(jb '"\(.import.devices_skipped) \(.import.setid_bits_cleared)"')" "devices skipped, set-id bits cleared"
    local root
    root="$STATE/store/layers/$(jb '.layers[0]' | cut -c8-)/root"
    [ ! -e "$root/dev-null" ] && [ ! -e "$root/sda" ] || fail "device nodes were created in the layer"
    assert_eq "755 755 2775" "$(stat -c %a "$root/suid" "$root/sgid" "$root/sgid-dir" | tr '\n' ' ' | sed 's/ $//')" "modes"
    assert_eq abs "$(cat "$root/abs/file")" "absolute name stored relative to the image root"
    # not an archive at all
    head -c 100000 /dev/urandom >"$T/noise"
    img_import "$T/noise"
    API_WHAT="random bytes" expect_error 400 invalid_archive "not a tar archive"
    assert_store_clean
}

test_import_with_too_many_entries_is_refused_and_leaves_nothing() {
    daemon_start small --image-max-entries 1000 --image-max-bytes 50000000 --warm 0 --no-network ||
        fail "daemon small did not start"
    defer "daemon_stop small"
    mkdir -p "$T/many"
    (cd "$T/many" && seq 1 1500 | xargs touch)
    tar -C "$T/many" -cf "$T/many.tar" .
    img_import "$T/many.tar" "name=many"
    API_WHAT="1500 entries, limit 1000" expect_error 413 image_too_large "1000 entries" "--image-max-entries"
    head -c 60000000 /dev/zero >"$T/big"
    tar -C "$T" -cf "$T/big.tar" big
    img_import "$T/big.tar" "name=big"
    API_WHAT="60 MB, limit 50 MB" expect_error 413 image_too_large "--image-max-bytes"
    assert_eq "" "$(ls "$STATE/store/layers")" "layers of the small daemon"
    assert_store_clean
    assert_eq '{}' "$(jq -c . "$STATE/store/refs.json" 2>/dev/null || echo '{}')" "names"
}

test_import_abandoned_by_the_client_leaves_nothing() {
    local before
    before=$(store_layers)
    # a 64 MiB stream that stops half way: the client is killed mid-body
    { tar -C "$BB_ROOTFS" -cf - . ; head -c 30000000 /dev/urandom; sleep 4; } |
        curl -sS --max-time 60 --unix-socket "$SOCK" -X POST -T - \
            "http://sbx/v1/images?name=it-abandoned" >/dev/null 2>&1 &
    local cpid=$!
    wait_until 20 pgrep -f "sbx-import --store $STATE/store" >/dev/null || fail "no importer started"
    sleep 1
    pkill -P $cpid curl 2>/dev/null
    kill $cpid 2>/dev/null
    wait $cpid 2>/dev/null
    wait_until 10 _no_importer || fail "importer still running after the client left"
    assert_store_clean
    assert_eq "$before" "$(store_layers)" "layers"
    api GET /v1/images/it-abandoned
    assert_eq 404 "$API_CODE" "no image"
    assert_health
}

test_import_streams_a_large_image_in_bounded_memory() {
    mkdir -p "$T/bigimg"
    head -c $((${SBX_TEST_IMPORT_MB:-300} * 1000000)) /dev/urandom >"$T/bigimg/blob"
    tar -C "$T/bigimg" -cf "$T/big.tar" .
    rm -f "$T/bigimg/blob"
    local pid rss0 rss1
    pid=$(daemon_pid main)
    echo 5 >"/proc/$pid/clear_refs" # peak RSS := current RSS
    rss0=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    img_import "$T/big.tar" "name=it-big"
    assert_eq 201 "$API_CODE" "import ${SBX_TEST_IMPORT_MB:-300} MB: $(short "$API_BODY")"
    img_forget it-big
    rss1=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    rm -f "$T/big.tar"
    note "sbxd RSS before $rss0 KiB, peak after $rss1 KiB"
    assert_le $((rss1 - rss0)) 65536 "sbxd memory growth (KiB) while importing ${SBX_TEST_IMPORT_MB:-300} MB"
    assert_eq $((${SBX_TEST_IMPORT_MB:-300} * 1000000)) "$(jb .size)" "unpacked size"
}
