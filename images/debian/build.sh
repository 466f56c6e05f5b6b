#!/bin/bash
# images/debian/build.sh OUTDIR - Debian 12 (bookworm) minbase + ca-certificates.
#
# Produces OUTDIR/rootfs and OUTDIR/image.json like images/busybox/build.sh:
# debootstrap --variant=minbase from deb.debian.org (nothing else is
# downloaded), upgraded from bookworm-updates and bookworm-security, without
# documentation, manual pages, translations, apt caches or device nodes (sbxd
# mounts its own /dev, /proc and /tmp). dpkg and apt are configured so that
# later installs stay as slim (/etc/dpkg/dpkg.cfg.d/01-sbx-slim,
# /etc/apt/apt.conf.d/01-sbx-slim). User sandbox is uid/gid 1000, home
# /home/sandbox; /workspace is 1000:1000.
#
# Built in a temp dir beside OUTDIR, which replaces OUTDIR at the end; runs in
# a private mount namespace and unmounts all it mounted, even on failure.
# Needs root and debootstrap (scripts/install-deps.sh --images). .debs and apt
# indexes are kept in $SBX_IMAGE_CACHE when set (see images/lib.sh).
set -euo pipefail
IMG=images/debian
# shellcheck source=images/lib.sh
. "$(dirname "$0")/../lib.sh"
out=${1:?usage: images/debian/build.sh OUTDIR}
img_private_ns "$0" "$@"
command -v debootstrap >/dev/null ||
    img_die "debootstrap is needed (scripts/install-deps.sh --images)"
img_begin "$out"
r=$IMG_TMP/rootfs
cache=$(img_cache_dir)

img_log "debootstrap --variant=minbase $IMG_SUITE from $IMG_MIRROR${cache:+ (.deb cache $cache)}"
# The dpkg excludes are in place before the second stage, which installs
# every base package again with dpkg.
img_write_slim_config "$r"
debootstrap --variant=minbase --include=ca-certificates ${cache:+--cache-dir="$cache"} \
    "$IMG_SUITE" "$r" "$IMG_MIRROR"

img_log "apt sources, hostname, hosts"
mirror_base=${IMG_MIRROR%/debian}
cat > "$r/etc/apt/sources.list" <<EOF
deb $IMG_MIRROR $IMG_SUITE main
deb $IMG_MIRROR $IMG_SUITE-updates main
deb $mirror_base/debian-security $IMG_SUITE-security main
EOF
echo sandbox > "$r/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' > "$r/etc/hosts"
chmod 0644 "$r/etc/hostname" "$r/etc/hosts"

img_log "apt-get upgrade (bookworm-updates, bookworm-security)"
img_chroot_begin "$r"
img_apt "$r" update
img_apt "$r" -y dist-upgrade
img_apt "$r" -y autoremove --purge
img_apt "$r" autoclean
img_chroot_end "$r"

img_log "user sandbox (1000:1000), /workspace; slimming"
img_sandbox_user "$r"
img_slim "$r"

ver=$(cat "$r/etc/debian_version")
img_finish "$out" debian "$IMG_SUITE" "Debian $ver minbase + ca-certificates, debootstrap from $IMG_MIRROR"
