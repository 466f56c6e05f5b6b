# test_images.sh - the image store through the API: importing plain rootfs
# tarballs, docker save archives and OCI layouts (built here, by mkimage.py),
# layer sharing, whiteouts, digest checks, hostile archives, limits, rm.

MKIMAGE="$IT_DIR/mkimage.py"
BB_ROOTFS="$SBX_BUILD/images/busybox/rootfs"

# img_import FILE [QUERY]: POST /v1/images?QUERY with FILE as the body.
img_import() {
    local API_MAX_TIME=300
    api_file POST "/v1/images${2:+?$2}" "$1"
}

# img_forget REF: remove an image at the end of the test (sessions first).
img_forget() { defer "delete_all_sessions; api DELETE /v1/images/$1 >/dev/null 2>&1"; }

_no_importer() { ! pgrep -f "sbx-import --store $STATE/store" >/dev/null; }
store_layers() { ls "$STATE/store/layers" 2>/dev/null | sort; }
_store_quiet() { [ -z "$(ls -A "$STATE/store/tmp" "$STATE/store/trash" 2>/dev/null | grep -v ':$' | grep .)" ]; }
# nothing of a (failed) import is left: no importer, nothing in tmp/ or trash/
assert_store_clean() {
    wait_until 10 _store_quiet || fail "image store not clean: $(ls -R "$STATE/store/tmp" "$STATE/store/trash" | head -20)"
    local p
    p=$(pgrep -f "sbx-import --store $STATE/store" || true)
    [ -z "$p" ] || fail "sbx-import still running: $p"
}

# Three layers over busybox: files, then whiteouts of a file and a directory's contents.
_make_layers() {
    mkdir -p "$T/l1/etc" "$T/l1/data/keep" "$T/l1/gone" "$T/l2/etc" "$T/l2/data"
    echo one >"$T/l1/etc/a"
    echo kept >"$T/l1/data/keep/f"
    echo gone >"$T/l1/gone/f"
    echo two >"$T/l2/etc/b"
    : >"$T/l2/.wh.gone"
    : >"$T/l2/data/.wh..wh..opq"
    echo new >"$T/l2/data/new"
}

test_import_rootfs_tarballs_gz_zst_plain_and_run_a_session() {
    tar -C "$BB_ROOTFS" -czf "$T/bb.tgz" .
    tar -C "$BB_ROOTFS" --zstd -cf "$T/bb.tzst" .
    tar -C "$BB_ROOTFS" -cf "$T/bb.tar" .
    local f n
    for f in bb.tgz bb.tzst bb.tar; do
        n="it-${f/./-}"
        img_import "$T/$f" "name=$n"
        assert_eq 201 "$API_CODE" "import $f: $(short "$API_BODY")"
        img_forget "$n"
        assert_eq rootfs "$(jb .format)" "format of $f"
        assert_eq "$n" "$(jb '.names[0]')" "name of $f"
        assert_eq 1 "$(jb '.layers | length')" "layers of $f"
        assert_eq "sha256:$(sha256sum "$T/$f" | cut -c1-64)" "$(jb .id)" "id of $f = digest of the file"
        new_session "{\"image\":\"$n\"}"
        must_sh "$SID" 'echo hello-from-$(basename /bin/busybox); stat -c "%u %g %a" /bin/busybox /tmp; id -u'
        assert_eq "hello-from-busybox
0 0 755
0 0 1777
1000" "$SX_OUT" "session on $f"
        assert_eq "$n" "$(jb .image)" "session's image"
    done
    assert_store_clean
}

test_import_oci_layout_honours_whiteouts_and_opaque_dirs() {
    _make_layers
    python3 "$MKIMAGE" oci "$T/oci.tar" "$BB_ROOTFS" "$T/l1" "$T/l2" --gzip --name it-oci:1 >"$T/id" ||
        fail "mkimage failed"
    img_import "$T/oci.tar" "name=it-oci:1"
    assert_eq 201 "$API_CODE" "import OCI: $(short "$API_BODY")"
    img_forget it-oci:1
    assert_eq oci "$(jb .format)" "format"
    assert_eq "$(cat "$T/id")" "$(jb .id)" "id = manifest digest"
    assert_eq 3 "$(jb '.layers | length')" "layers"
    assert_eq 2 "$(jb .import.whiteouts)" "whiteouts counted"
    assert_eq '["PATH=/usr/bin:/bin","FROM_IMAGE=1"]' "$(jq -c .config.env <<<"$API_BODY")" "image config kept"
    local top
    top=$(jb '.layers[2]' | cut -c8-)
    new_session '{"image":"it-oci:1"}'
    must_sh "$SID" 'cat /etc/a /etc/b; ls -A /data; test -e /gone && echo GONE-VISIBLE; test -e /data/keep && echo KEEP-VISIBLE; echo end'
    assert_eq "one
two
new
end" "$SX_OUT" "layers merged with whiteouts applied"
    # the whiteouts are overlayfs ones in the store, not files a sandbox could see
    [ -c "$STATE/store/layers/$top/root/gone" ] || fail "whiteout of /gone is not a character device in the top layer"
    # the same layout as a directory-shaped tarball (./ prefixes) imports to the same image
    mkdir -p "$T/layout"
    python3 "$MKIMAGE" oci "$T/layout" "$BB_ROOTFS" "$T/l1" "$T/l2" --gzip --dir >/dev/null
    tar -C "$T/layout" -cf "$T/layout.tar" .
    img_import "$T/layout.tar"
    assert_eq 201 "$API_CODE" "import OCI layout tarball: $(short "$API_BODY")"
    assert_eq "$(cat "$T/id")" "$(jb .id)" "same manifest, same id"
    assert_store_clean
}

test_import_docker_save_archives_and_shared_layers_stored_once() {
    _make_layers
    local before
    before=$(store_layers | wc -l)
    python3 "$MKIMAGE" docker "$T/legacy.tar" "$BB_ROOTFS" "$T/l1" --legacy --name it-legacy:1 >"$T/id1"
    python3 "$MKIMAGE" docker "$T/new.tar" "$BB_ROOTFS" "$T/l1" "$T/l2" >"$T/id2"
    img_import "$T/legacy.tar"
    assert_eq 201 "$API_CODE" "import legacy docker save: $(short "$API_BODY")"
    img_forget it-legacy:1
    assert_eq "it-legacy:1" "$(jb '.names[0]')" "name from RepoTags"
    assert_eq "$(cat "$T/id1")" "$(jb .id)" "id = config digest"
    assert_eq docker "$(jb .format)" "format"
    img_import "$T/new.tar" "name=it-docker2"
    assert_eq 201 "$API_CODE" "import docker save with blobs/: $(short "$API_BODY")"
    img_forget it-docker2
    assert_eq 3 "$(jb '.layers | length')" "layers"
    # busybox + l1 are the same two layers in both: three layers stored, not five
    assert_eq $((before + 3)) "$(store_layers | wc -l)" "layers in the store"
    new_session '{"image":"it-legacy:1"}'
    must_sh "$SID" 'cat /etc/a; ls /gone'
    assert_eq "one
f" "$SX_OUT" "legacy image"
    new_session '{"image":"it-docker2"}'
    must_sh "$SID" 'cat /etc/b; ls /gone 2>&1 | head -1 | grep -c "No such file"'
    assert_eq "two
1" "$SX_OUT" "blobs image"
    # by id and by id prefix
    api GET "/v1/images/$(cat "$T/id2")"
    assert_eq 200 "$API_CODE" "inspect by id"
    api GET "/v1/images/$(cut -c8-20 "$T/id2")"
    assert_eq 200 "$API_CODE" "inspect by id prefix"
    assert_eq "it-docker2" "$(jb '.names[0]')" "names by prefix"
    assert_store_clean
}

test_two_sessions_on_one_image_see_their_own_workspaces() {
    tar -C "$BB_ROOTFS" -czf "$T/bb.tgz" .
    img_import "$T/bb.tgz" "name=it-shared"
    assert_eq 201 "$API_CODE" "import: $(short "$API_BODY")"
    img_forget it-shared
    local layer
    layer="$STATE/store/layers/$(jb '.layers[0]' | cut -c8-)/root"
    new_session '{"image":"it-shared"}'
    local a=$SID
    new_session '{"image":"it-shared"}'
    local b=$SID
    must_sh "$a" 'echo mine > /workspace/a; echo changed > /etc/passwd; rm /bin/ls' root
    must_sh "$b" 'ls /workspace; grep -c root /etc/passwd; test -e /bin/ls && echo has-ls'
    assert_eq "1
has-ls" "$SX_OUT" "the other session's view"
    grep -q root "$layer/etc/passwd" && [ -e "$layer/bin/ls" ] || fail "a session changed the stored layer"
    api GET /v1/images/it-shared
    assert_eq 2 "$(jb .sessions)" "sessions using the image"
}

test_image_rm_is_refused_while_a_session_uses_it() {
    tar -C "$BB_ROOTFS" -cf "$T/bb.tar" ./bin ./etc
    img_import "$T/bb.tar" "name=it-rm"
    assert_eq 201 "$API_CODE" "import: $(short "$API_BODY")"
    local id layer
    id=$(jb .id)
    layer=$(jb '.layers[0]' | cut -c8-)
    new_session '{"image":"it-rm"}'
    api DELETE /v1/images/it-rm
    API_WHAT="rm while in use" expect_error 409 image_in_use "$SID"
    api DELETE "/v1/images/$id"
    API_WHAT="rm by id while in use" expect_error 409 image_in_use
    api DELETE "/v1/sessions/$SID"
    api DELETE /v1/images/it-rm
    assert_eq 204 "$API_CODE" "rm after the session ended"
    api GET "/v1/images/$id"
    assert_eq 404 "$API_CODE" "the image is gone with its last name"
    wait_until 10 test ! -e "$STATE/store/layers/$layer" || fail "layer $layer not removed"
    api POST /v1/sessions '{"image":"it-rm"}'
    API_WHAT="session on a removed image" expect_error 400 unknown_image "it-rm"
    api DELETE /v1/images/busybox
    API_WHAT="rm a directory image" expect_error 409 directory_image
    api DELETE /v1/images/no-such-image
    API_WHAT="rm an unknown image" expect_error 404 unknown_image
    api POST "/v1/images?name=Bad%2FName" ''
    API_WHAT="invalid name" expect_error 400 invalid_request "not a valid image name"
    api POST "/v1/images?name=busybox" ''
    API_WHAT="a directory image's name" expect_error 409 name_taken
    assert_store_clean
}

test_cli_image_import_ls_inspect_rm() {
    _make_layers
    tar -C "$BB_ROOTFS" -czf "$T/bb.tgz" .
    local out id
    out=$(sbx image import "$T/bb.tgz" --name it-cli 2>"$T/err") || fail "sbx image import FILE: $(cat "$T/err")"
    img_forget it-cli
    assert_match "$out" '^imported sha256:[0-9a-f]{12} as it-cli \(1 layer' "import output"
    [ ! -s "$T/err" ] || fail "progress or notes on a non-terminal stderr: $(cat "$T/err")"
    id=$(cat "$T/bb.tgz" | sbx image import - --name it-cli-stdin -q) || fail "sbx image import -"
    img_forget it-cli-stdin
    assert_eq "sha256:$(sha256sum "$T/bb.tgz" | cut -c1-64)" "$id" "import - -q prints the id"
    mkdir -p "$T/layout"
    python3 "$MKIMAGE" oci "$T/layout" "$BB_ROOTFS" "$T/l1" "$T/l2" --dir --name it-cli-oci:2 >"$T/oci-id"
    id=$(sbx image import "$T/layout" -q) || fail "sbx image import DIR"
    img_forget it-cli-oci:2
    assert_eq "$(cat "$T/oci-id")" "$id" "OCI layout directory: id"
    out=$(sbx image ls)
    assert_match "$out" 'it-cli-oci:2 +[0-9a-f]{12} +oci ' "ls row of the OCI image"
    assert_contains "$out" busybox "ls shows directory images"
    assert_eq 3 "$(sbx image inspect it-cli-oci:2 | jq '.layers | length')" "inspect"
    sbx run --image it-cli-oci:2 -- cat /etc/b >"$T/run.out" || fail "sbx run on an imported image"
    assert_eq two "$(cat "$T/run.out")" "sbx run output"
    local sid
    sid=$(sbx create --image it-cli) || fail "sbx create"
    sbx image rm it-cli >"$T/rm.out" 2>"$T/rm.err"
    assert_eq 1 "$?" "sbx image rm of an image in use: exit status"
    assert_contains "$(cat "$T/rm.err")" "$sid" "rm error names the session"
    sbx rm "$sid" >/dev/null
    assert_eq it-cli "$(sbx image rm it-cli)" "sbx image rm prints the ref"
    mkdir -p "$T/notlayout"
    sbx image import "$T/notlayout" >/dev/null 2>"$T/err"
    assert_eq 2 "$?" "import of a directory that is no OCI layout"
    assert_contains "$(cat "$T/err")" "tar -C $T/notlayout -c . | sbx image import -" "hint for root filesystem directories"
}
