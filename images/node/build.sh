#!/bin/bash
# images/node/build.sh OUTDIR [DEBIAN_ROOTFS_DIR] - the debian image plus
# Node.js, npm, python3, git and a C/C++ toolchain (gcc, g++, make, libc6-dev),
# all from Debian bookworm with --no-install-recommends.
#
# Starts from a copy of DEBIAN_ROOTFS_DIR (the rootfs of images/debian/build.sh;
# without it, one is built first into the temp dir) and installs with apt-get
# in a chroot, with /proc, /sys and /dev mounted for the time of the install.
# Same slimming and layout as the debian image; OUTDIR/image.json's version is
# Node.js's. Built in a temp dir beside OUTDIR, which replaces OUTDIR at the
# end; runs in a private mount namespace and unmounts all it mounted, even on
# failure. .debs and apt indexes are kept in $SBX_IMAGE_CACHE when set.
set -euo pipefail
IMG=images/node
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=images/lib.sh
. "$here/../lib.sh"
out=${1:?usage: images/node/build.sh OUTDIR [DEBIAN_ROOTFS_DIR]}
base=${2:-}
img_private_ns "$0" "$@"
img_begin "$out"
r=$IMG_TMP/rootfs

PKGS=(nodejs npm python3 git gcc g++ make libc6-dev)

if [ -z "$base" ]; then
    img_log "no DEBIAN_ROOTFS_DIR given: building the debian image first"
    "$here/../debian/build.sh" "$IMG_TMP/debian"
    base=$IMG_TMP/debian/rootfs
fi
[ -x "$base/usr/bin/apt-get" ] || img_die "$base is not a debian image rootfs (no usr/bin/apt-get)"
img_log "copying $base"
cp -a --reflink=auto "$base" "$r"
rm -rf --one-file-system "$IMG_TMP/debian"

img_log "apt-get install --no-install-recommends ${PKGS[*]}"
img_chroot_begin "$r"
img_apt "$r" update
img_apt "$r" -y dist-upgrade
img_apt "$r" -y install --no-install-recommends "${PKGS[@]}"
img_apt "$r" autoclean
img_chroot_end "$r"

img_log "slimming"
img_sandbox_user "$r"
img_slim "$r"

ver=$(chroot "$r" /usr/bin/node --version)
ver=${ver#v}
img_finish "$out" node "$ver" \
    "Debian $(cat "$r/etc/debian_version") (debian image) + ${PKGS[*]} from $IMG_MIRROR"
