#!/bin/bash
# run-in-vm.sh - run a command as root inside a throw-away QEMU VM that boots
# the host's stock Debian kernel with a PURE cgroup v2 hierarchy
# (cgroup_no_v1=all; every controller enabled in the root's subtree_control).
#
# usage: tests/vm/run-in-vm.sh [options] HOSTDIR COMMAND [ARGS...]
#
#   HOSTDIR is shared read-write into the guest (9p) at the same absolute path
#   and is the command's working directory. The host's /usr (read-only) and
#   /etc (read-only lower layer + tmpfs upper) are shared too, so host binaries
#   and their shared libraries run unchanged in the guest; the guest kernel
#   loads modules (on demand too) from the shared /usr/lib/modules.
#   The guest has no network device (loopback only); its root, /run and /tmp
#   are tmpfs. The command's stdout/stderr are streamed to ours; it sees
#   RUN_IN_VM_ACCEL=kvm|tcg in its environment.
#
# options:
#   -t SECS    overall timeout, boot included (default 600; env VM_TIMEOUT)
#   -m MB      guest memory (default 2048; env VM_MEM)
#   -c N       guest CPUs (default min(4, host cpus); env VM_CPUS)
#   -v DIR     extra host dir shared read-write at the same path (repeatable)
#   -r DIR     extra host dir shared read-only at the same path (repeatable)
#   -e N[=V]   set env var N in the guest (value from our env if no =V)
#   -M MOD     kernel module to modprobe before the command (repeatable)
#   -2         send the command's stderr to stdout (one stream, order kept)
#   -V         verbose: stream the guest console (kernel + init) to stderr
#              (env VM_VERBOSE=1; add VM_APPEND=loglevel=7 for more)
#
# env: VM_ACCEL=auto|kvm|tcg (auto: kvm if usable, else tcg),
#      VM_KERNEL=/boot/vmlinuz-X (default: the newest /boot/vmlinuz-* that has
#      /lib/modules/<ver>/modules.dep), VM_APPEND (extra kernel command line),
#      VM_CACHE (initramfs + vmlinux cache dir, default $TMPDIR/sbx-vm-cache-UID),
#      VM_PVH=0 boots the bzImage through the BIOS instead of the extracted
#      vmlinux's PVH entry point (about 4 s slower under TCG).
#
# exit status: the command's; 124 = timed out; 125 = VM/infrastructure failure
#              (the guest console's tail is printed to stderr).
# host writes: only HOSTDIR and -v dirs (by the guest) and $TMPDIR (default
#              /tmp): the cache and a per-run control dir removed at exit.
# needs: qemu-system-x86 busybox-static cpio xz-utils linux-image-amd64,
#        a merged-/usr host.
set -euo pipefail

die() { echo "run-in-vm: error: $*" >&2; exit 125; }
note() { echo "run-in-vm: $*" >&2; }

TIMEOUT=${VM_TIMEOUT:-600}
MEM=${VM_MEM:-2048}
NCPU=$(nproc 2>/dev/null || echo 1)
CPUS=${VM_CPUS:-$(( NCPU < 4 ? NCPU : 4 ))}
VERBOSE=${VM_VERBOSE:-0} MERGE=0
RW_DIRS=() RO_DIRS=() ENVS=() MODS=()
while getopts ":t:m:c:v:r:e:M:V2h" o; do
    case $o in
        t) TIMEOUT=$OPTARG ;;
        m) MEM=$OPTARG ;;
        c) CPUS=$OPTARG ;;
        v) RW_DIRS+=("$OPTARG") ;;
        r) RO_DIRS+=("$OPTARG") ;;
        e) ENVS+=("$OPTARG") ;;
        M) MODS+=("$OPTARG") ;;
        V) VERBOSE=1 ;;
        2) MERGE=1 ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        :) die "option -$OPTARG needs an argument (see -h)" ;;
        *) die "bad option -$OPTARG (see -h)" ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || die "usage: $0 [options] HOSTDIR COMMAND [ARGS...] (see -h)"
HOSTDIR=$(realpath -e -- "$1" 2>/dev/null) || die "no such directory: $1"
[ -d "$HOSTDIR" ] || die "not a directory: $1"
shift
case $TIMEOUT$MEM$CPUS in *[!0-9]*) die "-t, -m and -c take positive integers" ;; esac

for t in qemu-system-x86_64 cpio gzip timeout tail md5sum awk; do
    command -v $t >/dev/null || die "'$t' not found (scripts/install-deps.sh --vm)"
done
BUSYBOX=/bin/busybox   # must be static: it runs before the host's /usr is mounted
[ -x "$BUSYBOX" ] && ! ldd "$BUSYBOX" >/dev/null 2>&1 ||
    die "a static $BUSYBOX is needed (apt-get install busybox-static)"

# ---- kernel -------------------------------------------------------------------
if [ -n "${VM_KERNEL:-}" ]; then
    KERNEL=$VM_KERNEL
    KVER=${VM_KVER:-$(basename "$KERNEL" | sed 's/^vmlinuz-//')}
else
    KERNEL='' KVER=''
    for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V -r); do
        v=${k#/boot/vmlinuz-}
        if [ -f "/lib/modules/$v/modules.dep" ]; then KERNEL=$k; KVER=$v; break; fi
    done
    [ -n "$KERNEL" ] || die "no /boot/vmlinuz-* with a matching /lib/modules/<ver> (apt-get install linux-image-amd64)"
fi
[ -r "$KERNEL" ] || die "kernel $KERNEL not readable"
MODDIR=/lib/modules/$KVER
[ -f "$MODDIR/modules.dep" ] || die "$MODDIR/modules.dep missing"

# ---- accelerator ----------------------------------------------------------------
kvm_problem() {
    [ -e /dev/kvm ] || { echo "/dev/kvm does not exist"; return; }
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "/dev/kvm is not read-writable by $(id -un)"; return; }
    # PVM (kvm_pvm) only runs PVM-enabled guest kernels; a stock kernel is
    # instruction-emulated (minutes to boot) or dies with an emulation failure.
    [ -d /sys/module/kvm_pvm ] && { echo "/dev/kvm is PVM (kvm_pvm), which cannot run a stock kernel"; return; }
    grep -qwE 'vmx|svm' /proc/cpuinfo || { echo "the CPU has no vmx/svm flag"; return; }
    true
}
ACCEL=${VM_ACCEL:-auto}
case $ACCEL in
    kvm) p=$(kvm_problem); [ -z "$p" ] || die "VM_ACCEL=kvm but $p" ;;
    tcg) ;;
    auto) p=$(kvm_problem)
          if [ -z "$p" ]; then ACCEL=kvm; else ACCEL=tcg; [ "$VERBOSE" = 1 ] && note "using TCG (slow): $p"; fi ;;
    *) die "VM_ACCEL must be auto, kvm or tcg" ;;
esac
if [ $ACCEL = kvm ]; then
    ACCEL_ARGS=(-accel kvm -cpu host)
else
    ACCEL_ARGS=(-accel 'tcg,thread=multi' -cpu max)
fi

# ---- initramfs (cached; rebuilt when the kernel, busybox or this script change) --
# Only what mounting 9p needs is in the initramfs; every other module (loop,
# ext4, overlay, veth, ...) comes from the shared /usr/lib/modules.
INITRD_MODS="virtio_pci 9pnet_virtio 9p"
TMPBASE=${TMPDIR:-/tmp}
CACHE=${VM_CACHE:-$TMPBASE/sbx-vm-cache-$(id -u)}
KEY=$( { echo "$KVER"; cat "$0"; md5sum < "$BUSYBOX"; } | md5sum | cut -c1-16)
INITRD=$CACHE/initramfs-$KVER-$KEY.cpio.gz

mod_path() { awk -F: -v m="$1" '{n=$1; sub(/.*\//,"",n); sub(/\.ko(\.[a-z]+)?$/,"",n); gsub(/-/,"_",n)} n==m {print $1; exit}' "$MODDIR/modules.dep"; }
mod_deps() { awk -F: -v p="$1" '$1==p {print $2; exit}' "$MODDIR/modules.dep"; }
ORDERED=()
add_mod() {  # depth first: dependencies before the module itself
    local p=$1 d
    for d in "${ORDERED[@]:-}"; do [ "$d" = "$p" ] && return 0; done
    for d in $(mod_deps "$p"); do add_mod "$d"; done
    ORDERED+=("$p")
}

build_initramfs() {
    local r m p n=0
    r=$(mktemp -d "$CACHE/build.XXXXXX")
    mkdir -p "$r"/{.vm/bin,.vm/modules,proc,sys,dev,newroot}
    cp "$BUSYBOX" "$r/.vm/bin/busybox"
    for a in sh mount umount mkdir insmod switch_root cp ln cat echo sleep poweroff; do
        ln -s busybox "$r/.vm/bin/$a"
    done
    for m in $INITRD_MODS; do
        p=$(mod_path "$m")
        if [ -n "$p" ]; then add_mod "$p"; fi   # not in modules.dep: built in
    done
    for p in "${ORDERED[@]:-}"; do
        [ -n "$p" ] || continue
        n=$((n + 1))
        case $p in
            *.ko) cp "$MODDIR/$p" "$r/.vm/modules/$(printf %02d $n)-$(basename "$p")" ;;
            *.ko.xz) xz -dc "$MODDIR/$p" > "$r/.vm/modules/$(printf %02d $n)-$(basename "$p" .xz)" ;;
            *.ko.zst) zstd -qdc "$MODDIR/$p" > "$r/.vm/modules/$(printf %02d $n)-$(basename "$p" .zst)" ;;
            *) rm -rf "$r"; die "unsupported module file $p" ;;
        esac
    done
    # ---- stage 1 (/init on the initramfs): load 9p, switch to a tmpfs root ----
    cat > "$r/init" <<'EOF'
#!/.vm/bin/sh
export PATH=/.vm/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in /.vm/modules/*.ko; do [ -e "$m" ] || continue; insmod "$m" || echo "run-in-vm: insmod $m failed"; done
# pivot_root(2) does not work on the initramfs itself, so switch to a tmpfs.
mount -t tmpfs -o mode=0755 root /newroot
mkdir -p /newroot/.vm /newroot/proc /newroot/sys /newroot/dev /newroot/usr /newroot/etc \
         /newroot/tmp /newroot/run /newroot/var /newroot/root /newroot/home /newroot/mnt /newroot/opt
cp -a /.vm/bin /newroot/.vm/; cp /.vm/stage2 /newroot/.vm/
for d in proc sys dev; do mount --move /$d /newroot/$d; done
exec switch_root /newroot /.vm/stage2
EOF
    # ---- stage 2 (PID 1 on the tmpfs root): mounts, cgroup2, the command ------
    cat > "$r/.vm/stage2" <<'EOF'
#!/.vm/bin/busybox sh
BB=/.vm/bin/busybox
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
fail() { echo "run-in-vm: guest: $*" > /dev/console; $BB sync; $BB poweroff -f; }
p9() { $BB mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,"$3" "$1" "$2"; }
$BB mount -t tmpfs -o mode=0755,size=50% run /run
$BB mkdir -p /run/vmctl /run/lock
p9 ctl /run/vmctl cache=mmap || fail "cannot mount the control share"
. /run/vmctl/config
p9 usr /usr ro,cache=loose || fail "cannot mount host /usr"
for l in $ROOT_LINKS; do $BB ln -sfn "usr/$l" "/$l"; done
# /etc: the host's /etc as a read-only lower layer, a writable tmpfs on top
$BB mkdir -p /run/.etc/lower /run/.etc/upper /run/.etc/work
p9 etc /run/.etc/lower ro,cache=loose || fail "cannot mount host /etc"
$BB mount -t overlay -o lowerdir=/run/.etc/lower,upperdir=/run/.etc/upper,workdir=/run/.etc/work etc /etc 2>/dev/null ||
    $BB mount --bind /run/.etc/lower /etc
echo vm > /proc/sys/kernel/hostname
$BB mkdir -p /dev/pts /dev/shm /dev/mqueue
$BB mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
$BB ln -sfn pts/ptmx /dev/ptmx; $BB ln -sfn /proc/self/fd /dev/fd
$BB ln -sfn /proc/self/fd/0 /dev/stdin; $BB ln -sfn /proc/self/fd/1 /dev/stdout; $BB ln -sfn /proc/self/fd/2 /dev/stderr
$BB mount -t tmpfs -o mode=1777 shm /dev/shm
$BB mount -t mqueue mqueue /dev/mqueue
$BB mount -t tmpfs -o mode=1777,size=50% tmp /tmp
$BB mkdir -p /var/tmp /var/lib /var/log /var/cache; $BB chmod 1777 /var/tmp; $BB ln -sfn /run /var/run
$BB mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2"
for c in $($BB cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
[ -d /sys/kernel/security ] && $BB mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
$BB mount -t bpf bpf /sys/fs/bpf 2>/dev/null
$BB ip link set lo up
# host directories at their host paths (sorted so that parents come first)
while read -r tag mode path; do
    [ -n "$tag" ] || continue
    $BB mkdir -p "$path" && p9 "$tag" "$path" "$mode,cache=mmap" || fail "cannot mount host dir $path"
done < /run/vmctl/shares
for m in $MODULES; do modprobe "$m" || echo "run-in-vm: modprobe $m failed" >> /run/vmctl/stderr; done
cd "$WORKDIR" || fail "cannot cd to $WORKDIR"
echo "$($BB cut -d' ' -f1 /proc/uptime)" > /run/vmctl/boot-s
# busybox sh as PID 1 reaps every child (orphans too) while it waits
$BB env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    USER=root LOGNAME=root TERM=dumb LANG=C.UTF-8 SHELL=/bin/bash \
    /bin/bash /run/vmctl/cmd.sh < /dev/null >> /run/vmctl/stdout 2>> /run/vmctl/stderr &
wait $!
echo $? > /run/vmctl/rc
$BB sync
$BB poweroff -f
EOF
    chmod 755 "$r/init" "$r/.vm/stage2"
    (cd "$r" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 > "$r.cpio.gz"
    mv -f "$r.cpio.gz" "$INITRD"
    rm -rf "$r"
    for p in "$CACHE/initramfs-$KVER-"*.cpio.gz; do [ "$p" = "$INITRD" ] || rm -f "$p"; done
}
# Booting the uncompressed vmlinux through its PVH entry point skips the BIOS
# and the in-guest decompression (~4 s under TCG). Falls back to the bzImage.
extract_vmlinux() {
    local out=$CACHE/vmlinux-$KVER off tmp
    [ -s "$out" ] && [ "$out" -nt "$KERNEL" ] && { echo "$out"; return; }
    command -v readelf >/dev/null && command -v xz >/dev/null || return 0
    off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$KERNEL" | head -n1 | cut -d: -f1)
    [ -n "$off" ] || return 0   # not xz-compressed: keep the bzImage
    tmp=$(mktemp "$out.XXXXXX")
    tail -c +$((off + 1)) "$KERNEL" | xz -dc > "$tmp" 2>/dev/null || true
    if readelf -n "$tmp" 2>/dev/null | grep -qE 'Xen.*(0x00000012|PHYS32)'; then
        chmod 644 "$tmp"; mv -f "$tmp" "$out"; echo "$out"
    else
        rm -f "$tmp"
    fi
}
mkdir -p "$CACHE"
[ -f "$INITRD" ] || build_initramfs
BOOT_KERNEL=$KERNEL
if [ "${VM_PVH:-1}" = 1 ]; then
    v=$(extract_vmlinux); [ -n "$v" ] && BOOT_KERNEL=$v
fi

# ---- per-run control directory (shared as /run/vmctl) -----------------------------
CTL=$(mktemp -d "$TMPBASE/sbx-vm-run.XXXXXX")
QPID='' TAILS=()
cleanup() {
    [ -n "$QPID" ] && kill "$QPID" 2>/dev/null || true
    for t in "${TAILS[@]:-}"; do [ -n "$t" ] && kill "$t" 2>/dev/null || true; done
    rm -rf "$CTL"
}
trap cleanup EXIT
trap 'exit 130' INT; trap 'exit 143' TERM
: > "$CTL/stdout"; : > "$CTL/stderr"; : > "$CTL/console.log"

links=
for l in bin sbin lib lib32 lib64 libx32; do
    if [ -L "/$l" ]; then
        [ "$(readlink "/$l")" = "usr/$l" ] || [ "$(readlink "/$l")" = "/usr/$l" ] ||
            die "/$l is a symlink to $(readlink "/$l"), expected usr/$l"
        links="$links $l"
    elif [ -d "/$l" ]; then
        die "/$l is a real directory: only merged-/usr hosts are supported"
    fi
done
{
    printf 'WORKDIR=%q\n' "$HOSTDIR"
    printf 'ROOT_LINKS=%q\n' "$links"
    printf 'MODULES=%q\n' "${MODS[*]:-}"
} > "$CTL/config"

{
    [ $MERGE = 1 ] && echo 'exec 2>&1'
    echo "export RUN_IN_VM_ACCEL=$ACCEL"
    for e in "${ENVS[@]:-}"; do
        [ -n "$e" ] || continue
        case $e in
            *=*) printf 'export %s=%q\n' "${e%%=*}" "${e#*=}" ;;
            *) printf 'export %s=%q\n' "$e" "${!e-}" ;;
        esac
    done
    printf 'exec'; printf ' %q' "$@"; echo
} > "$CTL/cmd.sh"

# shares: "TAG MODE PATH" lines, parents before children
share_line() {
    local d
    d=$(realpath -e -- "$2" 2>/dev/null) || die "no such directory: $2"
    [ -d "$d" ] || die "not a directory: $2"
    case $d in /|/usr|/usr/*|/etc|/etc/*|/proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/run|/run/*|/.vm*|*[[:space:]]*)
        die "cannot share $d" ;; esac
    echo "$1 $d"
}
{
    share_line rw "$HOSTDIR"
    for d in "${RW_DIRS[@]:-}"; do [ -z "$d" ] || share_line rw "$d"; done
    for d in "${RO_DIRS[@]:-}"; do [ -z "$d" ] || share_line ro "$d"; done
} | awk '{print length($2), $0}' | sort -n -s | cut -d' ' -f2- |
    awk '{print "h" NR-1, $1, $2}' > "$CTL/shares"
[ "$(cut -d' ' -f3 "$CTL/shares" | sort | uniq -d)" = "" ] || die "a directory is shared twice"

VIRTFS=(-virtfs "local,path=${CTL//,/,,},mount_tag=ctl,security_model=none"
        -virtfs "local,path=/usr,mount_tag=usr,security_model=none,readonly=on,multidevs=remap"
        -virtfs "local,path=/etc,mount_tag=etc,security_model=none,readonly=on,multidevs=remap")
while read -r tag mode path; do
    ro=; [ "$mode" = ro ] && ro=,readonly=on
    VIRTFS+=(-virtfs "local,path=${path//,/,,},mount_tag=$tag,security_model=none,multidevs=remap$ro")
done < "$CTL/shares"

CMDLINE="console=ttyS0 quiet panic=-1 rdinit=/init cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 mitigations=off random.trust_cpu=on no_timer_check ${VM_APPEND:-}"

# ---- boot -----------------------------------------------------------------------
START=$(date +%s.%N)
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
    -machine q35 -nodefaults -no-user-config -display none -monitor none -no-reboot \
    "${ACCEL_ARGS[@]}" -m "$MEM" -smp "$CPUS" \
    -kernel "$BOOT_KERNEL" -initrd "$INITRD" -append "$CMDLINE" \
    -serial "file:$CTL/console.log" \
    "${VIRTFS[@]}" < /dev/null > "$CTL/qemu.log" 2>&1 &
QPID=$!
tail -n +1 -s 0.2 -f --pid=$QPID "$CTL/stdout" & TAILS+=($!)
tail -n +1 -s 0.2 -f --pid=$QPID "$CTL/stderr" >&2 & TAILS+=($!)
[ "$VERBOSE" = 1 ] && { tail -n +1 -s 0.2 -f --pid=$QPID "$CTL/console.log" >&2 & TAILS+=($!); }
set +e
wait $QPID; qrc=$?
QPID=
for t in "${TAILS[@]}"; do wait "$t"; done
TAILS=()
set -e
[ "$VERBOSE" = 1 ] && note "$ACCEL: guest ready after $(cat "$CTL/boot-s" 2>/dev/null || echo '?') s (guest uptime), total $(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}') s"

if [ -s "$CTL/rc" ]; then
    exit "$(cat "$CTL/rc")"
fi
if [ $qrc = 124 ] || [ $qrc = 137 ]; then
    note "timed out after ${TIMEOUT}s ($ACCEL); last guest console lines:"
    tail -n 20 "$CTL/console.log" | sed 's/^/  | /' >&2
    exit 124
fi
note "VM ended without a result (qemu exit $qrc, accel $ACCEL)"
sed 's/^/  qemu: /' "$CTL/qemu.log" >&2
tail -n 30 "$CTL/console.log" | sed 's/^/  | /' >&2
exit 125
