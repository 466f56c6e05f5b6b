# images/lib.sh - sourced (bash) by images/debian/build.sh and images/node/build.sh.
# shellcheck shell=bash disable=SC2034
#
# What the Debian-based recipes share: progress lines, a private mount
# namespace, chroot mounts that are always undone, the .deb cache, slimming
# and the final atomic move into OUTDIR.
#
# Environment:
#   SBX_IMAGE_CACHE  absolute directory kept between builds (make passes
#                    build/image-cache): archives/ holds the .debs that
#                    debootstrap and apt fetched, lists/ apt's indexes. Unset:
#                    no cache, everything is downloaded by each build.
#   SBX_DEBIAN_MIRROR  default http://deb.debian.org/debian

IMG_MIRROR=${SBX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
IMG_SUITE=bookworm
IMG_TMP=""        # the build's temp dir beside OUTDIR (removed on exit)
IMG_STARTED=$(date +%s)

img_log() { printf '%s: %s\n' "$IMG" "$*"; }
img_die() { printf '%s: error: %s\n' "$IMG" "$*" >&2; exit 1; }
img_elapsed() { echo $(( $(date +%s) - IMG_STARTED )); }

# img_private_ns "$0" "$@": re-execute the script in a private mount namespace,
# so that every mount of the build (debootstrap's own /proc and /sys, the
# chroot binds) vanishes with it, whatever way it ends. The explicit unmounts
# below still run: they keep `rm -rf` away from a bind-mounted /dev.
img_private_ns() {
    [ "$(id -u)" = 0 ] || img_die "run as root (debootstrap, chroot, mounts, files owned by uid 0)"
    if [ "${SBX_IMAGE_PRIVATE_NS:-}" != 1 ]; then
        command -v unshare >/dev/null || img_die "unshare (util-linux) is needed"
        SBX_IMAGE_PRIVATE_NS=1 exec unshare --mount --propagation private bash "$@"
    fi
}

# img_begin OUTDIR: the temp dir beside OUTDIR (same filesystem: the final mv
# is a rename) and the cleanup trap.
img_begin() {
    local out=${1%/}
    case $out in *[[:space:]\\]*) img_die "OUTDIR must not contain spaces or backslashes: $out" ;; esac
    mkdir -p "$(dirname "$out")"
    IMG_TMP=$(mktemp -d "$out.tmp.XXXXXX")
    IMG_TMP=$(cd "$IMG_TMP" && pwd -P)
    trap img_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP
}

img_cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ -n "$IMG_TMP" ] && [ -d "$IMG_TMP" ]; then
        if img_umount_all "$IMG_TMP"; then
            rm -rf --one-file-system "$IMG_TMP"
        else
            printf '%s: mounts remain under %s (see findmnt); not removing it\n' "$IMG" "$IMG_TMP" >&2
        fi
    fi
    [ "$rc" = 0 ] || printf '%s: FAILED (exit %s) after %s s\n' "$IMG" "$rc" "$(img_elapsed)" >&2
    exit "$rc"
}

# Mount points at or below DIR, deepest first (paths here have no spaces).
img_mounts_under() {
    awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

# img_umount_all DIR: unmount everything at or below DIR; fails if any remains.
img_umount_all() {
    local m
    for _ in 1 2 3 4 5; do
        [ -n "$(img_mounts_under "$1")" ] || return 0
        for m in $(img_mounts_under "$1"); do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done
    done
    [ -z "$(img_mounts_under "$1")" ]
}

# img_cache_dir: print the .deb cache dir (created), or nothing without a cache.
img_cache_dir() {
    [ -n "${SBX_IMAGE_CACHE:-}" ] || return 0
    case $SBX_IMAGE_CACHE in /*) ;; *) img_die "SBX_IMAGE_CACHE must be absolute: $SBX_IMAGE_CACHE" ;; esac
    mkdir -p "$SBX_IMAGE_CACHE/archives/partial" "$SBX_IMAGE_CACHE/lists/partial"
    echo "$SBX_IMAGE_CACHE/archives"
}

# img_chroot_begin ROOTFS: what apt and maintainer scripts need in the chroot:
# /proc, /sys, /dev (+ /dev/pts), the host's resolver, no service starts, and
# the cache (bound over /var/cache/apt/archives and /var/lib/apt/lists).
img_chroot_begin() {
    local r=$1
    mkdir -p "$r/proc" "$r/sys" "$r/dev"
    mount -t proc -o nosuid,nodev,noexec proc "$r/proc"
    mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$r/sys"
    mount --bind /dev "$r/dev"
    [ ! -d /dev/pts ] || [ ! -d "$r/dev/pts" ] || mount --bind /dev/pts "$r/dev/pts"
    if [ -n "${SBX_IMAGE_CACHE:-}" ]; then
        img_cache_dir >/dev/null
        mkdir -p "$r/var/cache/apt/archives" "$r/var/lib/apt/lists"
        mount --bind "$SBX_IMAGE_CACHE/archives" "$r/var/cache/apt/archives"
        mount --bind "$SBX_IMAGE_CACHE/lists" "$r/var/lib/apt/lists"
    fi
    rm -f "$r/etc/resolv.conf"
    cat /etc/resolv.conf > "$r/etc/resolv.conf"
    printf '#!/bin/sh\n# sbx image build: no services start in a chroot\nexit 101\n' > "$r/usr/sbin/policy-rc.d"
    chmod 0755 "$r/usr/sbin/policy-rc.d"
}

# img_chroot_end ROOTFS: undo img_chroot_begin (also done by the exit trap).
img_chroot_end() {
    local r=$1
    img_umount_all "$r" || img_die "could not unmount everything under $r"
    rm -f "$r/usr/sbin/policy-rc.d"
    rm -f "$r/etc/resolv.conf"
    : > "$r/etc/resolv.conf"   # sbxd writes the session's own in its upper layer
}

# img_apt ROOTFS ARGS...: apt-get in the chroot, non-interactive.
img_apt() {
    local r=$1
    shift
    chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \
        apt-get -o APT::Sandbox::User=root -o Dpkg::Use-Pty=0 -o APT::Color=0 "$@" </dev/null
}

# img_write_slim_config ROOTFS: dpkg and apt settings that keep later installs
# (in the node recipe, or by a user) as slim as the image itself.
img_write_slim_config() {
    local r=$1
    mkdir -p "$r/etc/dpkg/dpkg.cfg.d" "$r/etc/apt/apt.conf.d"
    cat > "$r/etc/dpkg/dpkg.cfg.d/01-sbx-slim" <<'EOF'
# sbx base image: no documentation, manual pages or translations; the
# copyright files stay. Remove this file before installing to get them.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    cat > "$r/etc/apt/apt.conf.d/01-sbx-slim" <<'EOF'
// sbx base image: no recommends or suggests, no translations, no binary
// package caches (/var/cache/apt/*.bin).
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
}

# img_slim ROOTFS: what the dpkg excludes above would have kept out, plus
# caches, logs and debootstrap's device nodes. Nothing may be mounted below.
img_slim() {
    local r=$1 d
    [ -z "$(img_mounts_under "$r")" ] || img_die "mounts remain under $r"
    rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin \
        "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/archives/partial/*
    find "$r/usr/share/doc" -xdev -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
    find "$r/usr/share/doc" -xdev -mindepth 2 -type d -empty -delete 2>/dev/null || true
    for d in man groff info lintian linda; do
        [ ! -d "$r/usr/share/$d" ] || find "$r/usr/share/$d" -xdev -mindepth 1 -delete
    done
    [ ! -d "$r/usr/share/locale" ] ||
        find "$r/usr/share/locale" -xdev -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    find "$r/var/log" -xdev -type f -delete
    rm -f "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old "$r/etc/machine-id" \
        "$r/var/lib/dbus/machine-id" "$r/root/.bash_history"
    rm -rf "$r/var/lib/apt/lists/partial" "$r/debootstrap"
    mkdir -p "$r/var/lib/apt/lists/partial"
    # sbxd mounts its own /proc, /dev and /tmp over these
    for d in dev proc sys tmp var/tmp run; do
        mkdir -p "$r/$d"
        find "$r/$d" -xdev -mindepth 1 -delete
    done
    chmod 1777 "$r/tmp" "$r/var/tmp"
}

# img_sandbox_user ROOTFS: uid/gid 1000 "sandbox" (home /home/sandbox) and
# /workspace, as in every sbx image.
img_sandbox_user() {
    local r=$1
    if ! chroot "$r" getent passwd sandbox >/dev/null; then
        chroot "$r" groupadd --gid 1000 sandbox
        chroot "$r" useradd --uid 1000 --gid 1000 --create-home --home-dir /home/sandbox \
            --shell /bin/bash sandbox
    fi
    mkdir -p "$r/workspace" "$r/home/sandbox"
    chown 1000:1000 "$r/workspace" "$r/home/sandbox"
    chmod 0755 "$r/workspace" "$r/home/sandbox"
    chmod 0700 "$r/root"
}

# img_finish OUTDIR NAME VERSION SOURCE: image.json, then IMG_TMP replaces
# OUTDIR (the old one is renamed aside first, then removed).
img_finish() {
    local out=${1%/} name=$2 ver=$3 src=$4 size old=""
    size=$(du -sk "$IMG_TMP/rootfs" | cut -f1)
    printf '{"name":"%s","version":"%s","source":"%s","size_kib":%s}\n' \
        "$name" "$ver" "$src" "$size" > "$IMG_TMP/image.json"
    [ -z "$(img_mounts_under "$IMG_TMP")" ] || img_die "mounts remain under $IMG_TMP"
    if [ -e "$out" ]; then
        old=$(mktemp -d "$out.old.XXXXXX")
        mv "$out" "$old/"
    fi
    mv "$IMG_TMP" "$out"
    IMG_TMP=""
    [ -z "$old" ] || rm -rf --one-file-system "$old"
    img_log "built $out in $(img_elapsed) s: $(du -sh "$out/rootfs" | cut -f1) (${size} KiB), $name $ver"
}
