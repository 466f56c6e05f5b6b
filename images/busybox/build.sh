#!/bin/sh
# images/busybox/build.sh OUTDIR - the tiny test image, from Debian's busybox-static.
#
# Produces OUTDIR/rootfs (the read-only lower layer of every session on this
# image) and OUTDIR/image.json. Files are owned by root (uid 0) on the host;
# sbxd maps them into each sandbox's user namespace with an idmapped mount,
# so inside they are owned by the sandbox's root and user, as in any image.
set -eu
out=${1:?usage: build.sh OUTDIR}
bb=/bin/busybox
if ! [ -x $bb ] || ldd $bb >/dev/null 2>&1; then
    echo "images/busybox: a static $bb is needed (apt-get install busybox-static)" >&2
    exit 1
fi
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "${out%/}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
r=$tmp/rootfs
mkdir -p "$r"
for d in bin sbin usr/bin usr/sbin etc dev proc sys tmp run var/tmp root home/sandbox workspace; do
    mkdir -p "$r/$d"
done
cp $bb "$r/bin/busybox"
for applet in $($bb --list-full); do
    case $applet in bin/busybox) continue ;; esac
    [ -e "$r/$applet" ] || ln -s /bin/busybox "$r/$applet"
done
cat > "$r/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
sandbox:x:1000:1000:sandbox:/home/sandbox:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$r/etc/group" <<'G'
root:x:0:
sandbox:x:1000:
nogroup:x:65534:
G
printf 'hosts: files dns\n' > "$r/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$r/etc/hosts"
: > "$r/etc/resolv.conf"
chmod 1777 "$r/tmp" "$r/var/tmp"
chmod 0700 "$r/root"
chown 1000:1000 "$r/home/sandbox" "$r/workspace"
size=$(du -sk "$r" | cut -f1)
ver=$($bb 2>&1 | head -n1 | awk '{print $2}')
printf '{"name":"busybox","version":"%s","source":"Debian busybox-static","size_kib":%s}\n' \
    "$ver" "$size" > "$tmp/image.json"
rm -rf "$out"
mkdir -p "$(dirname "$out")"
mv "$tmp" "$out"
trap - EXIT
echo "images/busybox: built $out (${size} KiB, busybox $ver)"
