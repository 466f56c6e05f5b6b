#!/bin/bash
# scripts/install-deps.sh [--vm] [--bench] [--images] - install what sbx needs (Debian 12).
#
#   (always)  building, unit + integration tests, sanitizer builds, fuzzing
#             (clang with libFuzzer: make fuzz)
#   --vm      the pure cgroup v2 VM pass (make vm-test)
#   --bench   make bench (bubblewrap, crun, runc, hyperfine, gnuplot)
#   --images  make images and make images-check (debootstrap; npm on the host
#             unless an npm is already on PATH, e.g. from NodeSource)
#
# Idempotent: when every package is already installed it does not touch apt.
# Runs as root (re-executes itself through sudo otherwise). Quiet unless
# something fails; prints a one-line summary.
set -euo pipefail

PKGS=(build-essential pkg-config libhttp-parser-dev libevent-dev libnl-3-dev
      libnl-route-3-dev libseccomp-dev libcap-dev libjson-c-dev
      libcurl4-openssl-dev libsystemd-dev libldns-dev libc-ares-dev libssl-dev libarchive-dev
      busybox-static curl iproute2 e2fsprogs util-linux procps jq python3 socat openssl zstd
      clang libclang-rt-14-dev)
VM_PKGS=(qemu-system-x86 linux-image-amd64 cpio xz-utils)
BENCH_PKGS=(bubblewrap crun runc hyperfine gnuplot-nox tinyproxy)
IMAGES_PKGS=(debootstrap debian-archive-keyring gpgv wget tar)

for a in "$@"; do
    case $a in
        --vm) PKGS+=("${VM_PKGS[@]}") ;;
        --bench) PKGS+=("${BENCH_PKGS[@]}") ;;
        --images) PKGS+=("${IMAGES_PKGS[@]}")
                  command -v npm >/dev/null || PKGS+=(npm) ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-deps: unknown option $a (see --help)" >&2; exit 2 ;;
    esac
done

command -v dpkg-query >/dev/null && command -v apt-get >/dev/null ||
    { echo "install-deps: needs a Debian-based system (dpkg, apt-get)" >&2; exit 1; }

missing=()
for p in "${PKGS[@]}"; do
    s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$s" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} = 0 ]; then
    echo "install-deps: all ${#PKGS[@]} packages already installed"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: run as root (missing: ${missing[*]})" >&2; exit 1; }
    exec sudo -n "$0" "$@"
fi

log=$(mktemp "${TMPDIR:-/tmp}/install-deps.XXXXXX.log")
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
if ! apt-get update -q >"$log" 2>&1 ||
   ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1 < /dev/null; then
    echo "install-deps: FAILED installing: ${missing[*]}; last lines of $log:" >&2
    tail -n 25 "$log" | sed 's/^/  /' >&2
    exit 1
fi
rm -f "$log"
echo "install-deps: installed ${#missing[@]} package(s) in $(( $(date +%s) - start )) s: ${missing[*]}"
