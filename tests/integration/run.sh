#!/bin/bash
# tests/integration/run.sh [FILTER...] - sbx integration tests against a real sbxd.
#
# Run as root from the repo root (make integration). FILTER: only tests whose
# name contains it (several: tests matching any).
#
# env: SBX_BUILD         dir with sbxd, sbx, sbx-init, images/ (default build)
#      SBX_TEST_TMP      scratch base on a filesystem with overlayfs upper and
#                        idmapped-mount support (default /var/tmp/sbx-it)
#      SBX_TEST_TIMEOUT  seconds one test may take (default 300)
#      SBX_TEST_BIG_MB   size of the large-output test (default 200)
#      SBX_TEST_KEEP=1   keep the run's scratch dir (daemon logs, test logs)
#      SBX_TEST_DIRS     directories whose test_*.sh make up the suite, space
#                        separated (default: this one; tests/security/run.sh
#                        passes tests/security)
#
# Starts one sbxd for the run (own socket, state dir under $SBX_TEST_TMP, a
# unique cgroup name sbx-it-<pid> and a uid range no other sbxd uses); tests
# that need a fresh daemon start their own. Each test runs in its own bash
# (tests/integration/lib.sh + test_*.sh sourced), bounded by a timeout. After
# each test the run's daemon is checked (restarted if it died: that test
# fails) and emptied. Everything is stopped and removed at exit, also on
# failure and Ctrl-C.
#
# Output: "ok - NAME" / "not ok - NAME: REASON" (+ "#" context lines) per test,
# then exactly "N passed, N failed" (", N skipped" when some were). Exit 0 only
# if none failed.
set -uo pipefail

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$IT_DIR/../.." && pwd -P)
FILTER=${1:-}
FILTERS=("$@") # more than one: tests matching any of them

die() { echo "run.sh: $*" >&2; exit 2; }

SBX_BUILD=${SBX_BUILD:-build}
case $SBX_BUILD in
    /*) ;;
    *) if [ -d "$SBX_BUILD" ]; then SBX_BUILD="$(cd "$SBX_BUILD" && pwd -P)"; else SBX_BUILD="$REPO/$SBX_BUILD"; fi ;;
esac
SBX_TEST_TMP=${SBX_TEST_TMP:-/var/tmp/sbx-it}
TEST_TIMEOUT=${SBX_TEST_TIMEOUT:-300}

[ "$(id -u)" = 0 ] || die "must run as root (sbxd creates namespaces, cgroups and mounts)"
for f in sbxd sbx sbx-init; do [ -x "$SBX_BUILD/$f" ] || die "$SBX_BUILD/$f missing (run make)"; done
[ -d "$SBX_BUILD/images/busybox/rootfs" ] || die "$SBX_BUILD/images/busybox missing (run make)"
for c in curl jq ip ps timeout awk base64 md5sum; do
    command -v "$c" >/dev/null || die "$c not found (scripts/install-deps.sh)"
done

mkdir -p "$SBX_TEST_TMP" || die "cannot create $SBX_TEST_TMP"
IT_RUN=$(mktemp -d "$SBX_TEST_TMP/run.XXXXXX") || die "mktemp in $SBX_TEST_TMP"
chmod 755 "$IT_RUN"
IT_TAG="sbx-it-$$"
[ ${#IT_RUN} -lt 90 ] || die "SBX_TEST_TMP path too long for a unix socket path: $IT_RUN"

IT_TEST_DIRS=${SBX_TEST_DIRS:-$IT_DIR}
export IT_DIR IT_RUN IT_TAG SBX_BUILD SBX_TEST_TMP IT_TEST_DIRS
source "$IT_DIR/lib.sh"
T="$IT_RUN/runner"
mkdir -p "$T" "$IT_RUN/t"

# A uid region no running process uses (other sbxd instances on this host use
# their default range 536870912.. upwards): IT_DAEMON_MAX daemons x 16 slots x
# 65536 ids, ending below 2^31 (tools print uids above it as negative numbers).
region_size=$((IT_DAEMON_MAX * IT_SLOTS * IT_IDS_PER_SLOT))
regions=$(((0x7fffffff - 0x20000000) / region_size - 1))
for try in 1 2 3 4 5 6 7 8; do
    IT_ID_REGION=$((0x20000000 + (1 + (RANDOM + $$) % regions) * region_size))
    [ -z "$(range_procs "$IT_ID_REGION" "$region_size")" ] && break
done
export IT_ID_REGION

TEST_PID=
it_cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ -n "$TEST_PID" ]; then
        kill -TERM "$TEST_PID" 2>/dev/null
        wait "$TEST_PID" 2>/dev/null
    fi
    local d name
    for d in "$IT_RUN"/*/; do
        name=$(basename "$d")
        [ -f "$d/pid" ] && daemon_stop "$name" >/dev/null 2>&1
    done
    # anything of the run still running (a daemon that was SIGKILLed)
    local p
    for p in $(region_procs | awk '{print $1}'); do kill -KILL "$p" 2>/dev/null; done
    for d in "$IT_RUN"/*/cgroup-name; do
        [ -f "$d" ] && cg_purge "$(cat "$d")"
    done
    # never recurse into a mount (there should be none in this namespace)
    local m
    # sbxd's disk volumes (supervisor/quota.h) stay mounted after it exits
    for m in $(awk -v r="$IT_RUN" 'index($5, r) == 1 && $5 ~ /\/state\/(sessions|workspaces|volume)$/ { print $5 }' \
        /proc/self/mountinfo | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m"
    done
    for m in $(awk -v r="$IT_RUN" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
        echo "run.sh: unmounting stray mount $m" >&2
        umount -l "$m" 2>/dev/null
    done
    if [ "${SBX_TEST_KEEP:-0}" = 1 ]; then
        echo "# kept $IT_RUN" >&2
    else
        rm -rf --one-file-system "$IT_RUN"
    fi
    exit "$rc"
}
on_signal() {
    echo "run.sh: interrupted" >&2
    exit 130
}
trap it_cleanup EXIT
trap on_signal INT TERM HUP

if ! daemon_start main; then
    echo "not ok - start sbxd: see above"
    echo "0 passed, 1 failed"
    exit 1
fi
api GET /v1/health
IT_CG_MODE=$(jb .cgroup)
case $IT_CG_MODE in v2 | hybrid) ;; *) die "GET /v1/health: unexpected cgroup mode [$IT_CG_MODE]: $API_BODY" ;; esac
export IT_CG_MODE
netns_snapshot >"$IT_RUN/netns.baseline"
# How slow this machine is (a VM under TCG is 10-30x slower): a one-shot
# `sbx run` takes ~0.1 s on a normal host. Scales the bounded waits and the
# few time limits the tests rely on.
t0=$(now_us)
SBX_SOCKET=$SOCK timeout 120 "$SBX_BUILD/sbx" run --image busybox -- true >/dev/null 2>&1 ||
    echo "# warning: the first sbx run failed"
IT_SLOW=$((($(now_us) - t0) / 250000 + 1))
export IT_SLOW
[ -n "${SBX_TEST_TIMEOUT:-}" ] || TEST_TIMEOUT=$((300 * (IT_SLOW > 3 ? 3 : IT_SLOW)))
echo "# sbxd $(jb .version), cgroup $IT_CG_MODE, state $STATE, cgroup name $IT_TAG, uids $IT_ID_REGION.., slowness x$IT_SLOW"

TESTS=()
for f in $(for d in $IT_TEST_DIRS; do echo "$d"/test_*.sh; done); do
    # SBX_TEST_SKIP_FILES: test files not to run here (the VM pass skips what
    # does not depend on the cgroup mode)
    case " ${SBX_TEST_SKIP_FILES:-} " in *" $(basename "$f") "*) continue ;; esac
    while IFS= read -r name; do
        if [ -n "$FILTER" ]; then
            hit=
            for flt in "${FILTERS[@]}"; do [[ "$name" == *"$flt"* ]] && hit=1; done
            [ -n "$hit" ] || continue
        fi
        TESTS+=("$name")
    done < <(grep -oE '^test_[A-Za-z0-9_]+[[:space:]]*\(\)' "$f" | sed -E 's/[[:space:]]*\(\)$//')
done
[ ${#TESTS[@]} -gt 0 ] || echo "# no test matches [$FILTER]"

passed=0 failed=0 skipped=0
t_start=$(now_us)
for name in "${TESTS[@]}"; do
    tdir="$IT_RUN/t/$name"
    mkdir -p "$tdir"
    use_daemon main
    t0=$(now_us)
    p0=$(</proc/sys/kernel/ns_last_pid)
    timeout -k 10 "$TEST_TIMEOUT" bash -c 'source "$IT_DIR/lib.sh" && it_test_main "$1"' \
        it-test "$name" >"$tdir/log" 2>&1 </dev/null &
    TEST_PID=$!
    wait "$TEST_PID"
    rc=$?
    TEST_PID=
    secs=$(awk -v a="$t0" -v b="$(now_us)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
    reason=
    case $rc in
        0) [ -s "$tdir/.reason" ] && { rc=1; reason=$(head -n 1 "$tdir/.reason"); } ;;
        77) ;;
        124 | 137) reason="timed out after $TEST_TIMEOUT s" ;;
        *) reason=$(head -n 1 "$tdir/.reason" 2>/dev/null)
           [ -n "$reason" ] || reason="exited $rc without a reason (see log)" ;;
    esac
    use_daemon main
    died=
    if ! daemon_alive main; then
        died=1
        [ "$rc" = 0 ] || [ "$rc" = 77 ] && { rc=1; reason="sbxd died during the test"; }
        [[ "$reason" == *"sbxd died"* ]] || reason="$reason; and sbxd died during the test"
    fi
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
        echo "ok - $name"
        # "# report: ..." lines of the test's log (figures a test measured)
        sed -n 's/^# report: /#   /p' "$tdir/log"
    elif [ "$rc" = 77 ]; then
        skipped=$((skipped + 1))
        echo "ok - $name # skip $(head -n 1 "$tdir/.skip" 2>/dev/null)"
    else
        failed=$((failed + 1))
        echo "not ok - $name: $(short "$reason" 400)"
        echo "#   test log ($tdir/log), last lines:"
        grep -av '^+' "$tdir/log" | tail -n 15 | sed 's/^/#     /'
        echo "#   sbxd log, last lines:"
        tail -n 8 "$DLOG" | sed 's/^/#     /'
    fi
    echo "$secs $name $(($(</proc/sys/kernel/ns_last_pid) - p0))" >>"$IT_RUN/times"
    [ -n "${SBX_TEST_VERBOSE:-}" ] && echo "#   ($secs s)"
    # The next test gets a live, empty daemon and no other daemon of the run.
    for d in "$IT_RUN"/*/pid; do
        [ -f "$d" ] || continue
        n=$(basename "$(dirname "$d")")
        [ "$n" = main ] || daemon_stop "$n" >/dev/null 2>&1
    done
    if [ -n "$died" ]; then
        daemon_stop main >/dev/null 2>&1
        echo "#   restarting sbxd (it cleans up what the dead one left)"
        daemon_start main || { echo "#   sbxd does not start again: stopping"; break; }
    else
        delete_all_sessions
    fi
done
total=$(awk -v a="$t_start" -v b="$(now_us)" 'BEGIN { printf "%.0f", (b - a) / 1e6 }')
if [ -s "$IT_RUN/times" ]; then
    echo "# slowest: $(sort -rn "$IT_RUN/times" | head -n 5 | awk '{ printf "%s%s %ss", (NR > 1 ? ", " : ""), $2, $1 }')"
fi
echo "# ${#TESTS[@]} tests in $total s"
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ]
