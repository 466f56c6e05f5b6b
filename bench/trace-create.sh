#!/usr/bin/env bash
# bench/trace-create.sh - where does sbx's create time go?
#
#   SBX_BUILD=build bench/trace-create.sh [N [GAP_MS]]   (root; default N=30, GAP_MS=0)
#
# GAP_MS > 0 sleeps that long before each create (an idle daemon, as in real
# use); 0 traces back-to-back creates (what run.sh's create row measures).
#
# Starts its own sbxd (like run.sh; default options, so with its warm pool),
# traces it and all its descendants with ftrace (syscall tracepoints,
# set_event_pid + event-fork, trace_clock mono; sbxbench writes a marker to
# trace_marker at each step of an iteration) and prints:
#   1. for create -> first exec: the median time of each landmark (sbxd reads
#      the request, setup child mounts the rootfs, pid 1 execs sbx-init, READY,
#      201, exec child forked, seccomp installed, /bin/true exits, exit frame)
#      from the client's POST, and the step from the previous landmark;
#      plus sbxd's own blocking work (warm-pool refill: clone3 with NEWNET,
#      mkdirs) and the setup child's cgroup.procs write, per phase;
#   2. for N execs of /bin/true in one live session: each step's median/p90.
# Tracepoints add a few us per syscall; the split is what matters.
# Needs python3 and tracefs (mounted here if it is not, unmounted after).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=${SBX_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
N=${1:-30}
GAP=${2:-0}
[ "$(id -u)" = 0 ] || { echo "trace-create: run as root" >&2; exit 1; }
command -v python3 >/dev/null || { echo "trace-create: needs python3" >&2; exit 1; }

T=/sys/kernel/tracing
MOUNTED_TRACEFS=0
if [ ! -e $T/trace ]; then
    mount -t tracefs nodev $T || { echo "trace-create: no tracefs" >&2; exit 1; }
    MOUNTED_TRACEFS=1
fi
TMP=$(mktemp -d /var/tmp/sbx-trace.XXXXXX)
chmod 755 "$TMP" # sbx-shim (user nobody) reaches STATE/ca through it
CGNAME=sbx-trace-$$
SBXD_PID=
OLD_CLOCK=$(sed -n 's/.*\[\(.*\)\].*/\1/p' $T/trace_clock)
cleanup() {
    echo 0 >$T/tracing_on
    echo >$T/set_event
    echo >$T/set_event_pid
    echo 0 >$T/options/event-fork
    echo "$OLD_CLOCK" >$T/trace_clock
    echo >$T/trace
    if [ -n "$SBXD_PID" ]; then
        kill -TERM "$SBXD_PID" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$SBXD_PID" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$SBXD_PID" 2>/dev/null
        wait "$SBXD_PID" 2>/dev/null
    fi
    [ -n "${KEEP_TRACE:-}" ] && cp "$TMP/trace.txt" "$KEEP_TRACE"
    findmnt -rn -o TARGET | grep "^$TMP/" | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$TMP"
    for d in /sys/fs/cgroup/*/"$CGNAME" /sys/fs/cgroup/"$CGNAME"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
    [ $MOUNTED_TRACEFS = 1 ] && umount $T
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cc -O2 -std=c17 -o "$TMP/sbxbench" bench/sbxbench.c || exit 1
mkdir -p "$TMP/state/images" && cp -a "$BUILD/images/busybox" "$TMP/state/images/"
"$BUILD/sbxd" --socket "$TMP/s.sock" --state-dir "$TMP/state" --cgroup-name "$CGNAME" --on-exit remove \
    --preview-listen 127.0.0.1:0 >"$TMP/sbxd.log" 2>&1 &
SBXD_PID=$!
for _ in $(seq 100); do "$BUILD/sbx" --socket "$TMP/s.sock" health >/dev/null 2>&1 && break; sleep 0.05; done
"$TMP/sbxbench" create "$TMP/s.sock" busybox 3 0 >/dev/null || exit 1 # warm up, untraced

echo 0 >$T/tracing_on
echo >$T/trace
echo 16384 >$T/buffer_size_kb
echo mono >$T/trace_clock
echo "$SBXD_PID" >$T/set_event_pid
echo 1 >$T/options/event-fork
echo >$T/set_event
for s in readv writev clone3 clone write socket close wait4 open_tree mount setns unshare \
    execveat execve sendmsg recvmsg pivot_root mkdir seccomp; do
    echo "syscalls:sys_enter_$s syscalls:sys_exit_$s" >>$T/set_event 2>/dev/null ||
        echo "trace-create: no tracepoint for $s" >&2
done
echo "sched:sched_process_fork sched:sched_process_exit" >>$T/set_event
echo 1 >$T/tracing_on
SBXBENCH_TRACE_MARKER=$T/trace_marker "$TMP/sbxbench" create "$TMP/s.sock" busybox "$N" 0 "$GAP" >"$TMP/bench.txt" || exit 1
echo 0 >$T/tracing_on
cat $T/trace >"$TMP/trace.txt"
grep -E 'create_(exec|only)|first_exec' "$TMP/bench.txt" | sed 's/^RESULT /traced: /'

python3 - "$TMP/trace.txt" "$SBXD_PID" <<'EOF'
import re, sys, statistics
path, P = sys.argv[1], int(sys.argv[2])
rx = re.compile(r'^\s*(.+?)-(\d+)\s+\[\d+\].*?\s([\d.]+): (?:(sys_\w+)(\(| ->)\s*(.*)|(sched_process_\w+): (.*)|tracing_mark_write: sbxbench (\w+) (\d+))$')
ev = []  # (t, pid, kind, name, rest)
for line in open(path):
    m = rx.match(line)
    if not m: continue
    pid, t = int(m.group(2)), float(m.group(3))
    if m.group(4): ev.append((t, pid, 'enter' if m.group(5) == '(' else 'exit', m.group(4)[4:], m.group(6)))
    elif m.group(7): ev.append((t, pid, m.group(7), m.group(7), m.group(8)))
    else: ev.append((t, pid, 'mark', m.group(9), m.group(10)))

def find(lo, hi, pred):
    return next((e for e in ev if lo <= e[0] <= hi and pred(e)), None)
def ret(e):
    try: return int(e[4], 16)
    except (ValueError, TypeError): return -1

marks = {}
for e in ev:
    if e[2] == 'mark': marks.setdefault(int(e[4]), {})[e[3]] = e[0]
land, bg = {}, {}
order = []
def add(d, k, v):
    if k not in d: order.append(k) if d is land else None
    d.setdefault(k, []).append(v * 1e3)
for i, m in sorted(marks.items()):
    if not all(k in m for k in ('create', 'created', 'exited')): continue
    t0, tc, tx = m['create'], m['created'], m['exited']
    L = []
    def at(label, e):
        if e: L.append((label, e[0]))
        return e
    rd = at('sbxd reads POST /v1/sessions', find(t0, tc, lambda e: e[1] == P and e[2] == 'exit' and e[3] == 'readv'))
    ot = at('setup child: open_tree (idmapped image)', find(t0, tc, lambda e: e[1] != P and e[2] == 'enter' and e[3] == 'open_tree'))
    C = ot[1] if ot else None
    if C:
        at('setup child: overlay mounted', find(ot[0], tc, lambda e: e[1] == C and e[2] == 'exit' and e[3] == 'mount'))
        at('setup child: setns + unshare done', find(ot[0], tc, lambda e: e[1] == C and e[2] == 'exit' and e[3] == 'unshare'))
        c3 = at('setup child: clone3(NEWPID) returned', find(ot[0], tc, lambda e: e[1] == C and e[2] == 'exit' and e[3] == 'clone3' and ret(e) > 0))
    xa = at('pid 1: execveat(sbx-init)', find(t0, tc, lambda e: e[2] == 'enter' and e[3] == 'execveat'))
    I = xa[1] if xa else None
    if I:
        at('sbx-init: READY sent', find(xa[0], tc, lambda e: e[1] == I and e[2] == 'exit' and e[3] == 'sendmsg'))
    ok = at('sbxd writes 201', find(L[-1][1] if L else t0, tc, lambda e: e[1] == P and e[2] == 'enter' and e[3] == 'writev'))
    L.append(('client has 201', tc))
    rx2 = at('sbxd reads POST exec', find(tc, tx, lambda e: e[1] == P and e[2] == 'exit' and e[3] == 'readv'))
    fk = at('sbx-init forks the exec child', find(tc, tx, lambda e: e[3] == 'sched_process_fork' and 'comm=memfd' in e[4]))
    if fk:
        X = int(re.search(r'child_pid=(\d+)', fk[4]).group(1))
        at('child: seccomp filter installed', find(fk[0], tx, lambda e: e[1] == X and e[2] == 'exit' and e[3] == 'seccomp'))
        at('child: execve(/bin/true) done', find(fk[0], tx, lambda e: e[1] == X and e[2] == 'exit' and e[3] == 'execve'))
        ce = at('/bin/true exited', find(fk[0], tx, lambda e: e[1] == X and e[3] == 'sched_process_exit'))
        if ce: at('sbxd writes the exit frame', find(ce[0], tx, lambda e: e[1] == P and e[2] == 'enter' and e[3] == 'writev'))
    L.append(('client has the exit frame', tx))
    prev = t0
    for label, t in L:
        add(land, label, t - t0)
    # sbxd's own blocking work for the warm pool / setup children, by phase
    for lo, hi, ph in ((t0, tc, 'during create'), (tc, tx, 'during first exec')):
        tot = 0.0
        for e in ev:
            if lo <= e[0] <= hi and e[1] == P and e[3] == 'clone3' and e[2] == 'enter':
                x = find(e[0], hi + 0.1, lambda f: f[1] == P and f[2] == 'exit' and f[3] == 'clone3')
                if x: tot += x[0] - e[0]
        add(bg, 'sbxd blocked in clone3 (setup child, NEWNET) ' + ph, tot)
        n = sum(1 for e in ev if lo <= e[0] <= hi and e[1] == P and e[3] == 'mkdir' and e[2] == 'enter')
        bg.setdefault('sbxd mkdir calls (cgroups, workspace) ' + ph, []).append(n)
        # setup children forked by sbxd in this phase: their first 1-byte
        # write is joining a v1 cgroup (hybrid hosts); slow = RCU grace period
        kids = [int(re.search(r'child_pid=(\d+)', e[4]).group(1)) for e in ev
                if lo <= e[0] <= hi and e[3] == 'sched_process_fork' and e[1] == P]
        tot = 0.0
        for k in kids:
            w = find(lo, hi + 0.1, lambda e: e[1] == k and e[2] == 'enter' and e[3] == 'write' and e[4].endswith('count: 1)'))
            x = w and find(w[0], hi + 0.1, lambda f: f[1] == k and f[2] == 'exit' and f[3] == 'write')
            if x: tot += x[0] - w[0]
        add(bg, 'setup child: first cgroup.procs write ' + ph, tot)

print("%-48s %10s %10s %5s" % ("create -> first exec, landmarks (median)", "at", "step", "n"))
# sort landmarks by their median offset
rows = sorted(land.items(), key=lambda kv: statistics.median(kv[1]))
prev = 0.0
for k, v in rows:
    med = statistics.median(v)
    print("%-48s %8.3fms %+8.3fms %5d" % (k, med, med - prev, len(v)))
    prev = med
print()
for k, v in bg.items():
    unit = '' if 'calls' in k else 'ms'
    print("%-66s median %7.3f%s  max %7.3f%s" % (k, statistics.median(v), unit, max(v), unit))
EOF

# ---- the same for an exec of /bin/true in a live session (exec round trip)
echo 0 >$T/tracing_on
echo >$T/trace
echo >$T/set_event
for s in readv writev wait4 execve sendmsg recvmsg seccomp; do
    echo "syscalls:sys_enter_$s syscalls:sys_exit_$s" >>$T/set_event 2>/dev/null
done
echo "sched:sched_process_fork sched:sched_process_exit" >>$T/set_event
echo 1 >$T/tracing_on
"$TMP/sbxbench" exec "$TMP/s.sock" busybox "$N" 2 >"$TMP/bench.txt" || exit 1
echo 0 >$T/tracing_on
cat $T/trace >"$TMP/trace.txt"
echo
grep exec_rt "$TMP/bench.txt" | sed 's/^RESULT /traced: /'
python3 - "$TMP/trace.txt" "$SBXD_PID" <<'EOF'
import re, sys, statistics
rx = re.compile(r'^\s*(.+?)-(\d+)\s+\[\d+\].*?\s([\d.]+): (?:(sys_\w+)(\(| ->)\s*(.*)|(sched_process_\w+): (.*))$')
ev = []
for line in open(sys.argv[1]):
    m = rx.match(line)
    if not m: continue
    pid, t = int(m.group(2)), float(m.group(3))
    if m.group(4): ev.append((t, pid, 'enter' if m.group(5) == '(' else 'exit', m.group(4)[4:], m.group(6)))
    else: ev.append((t, pid, m.group(7), m.group(7), m.group(8)))
P = int(sys.argv[2])
def nxt(pred, after):
    return next((e for e in ev if e[0] > after and pred(e)), None)
st = {}
def add(k, v): st.setdefault(k, []).append(v * 1e3)
for r in [e for e in ev if e[1] == P and e[2] == 'exit' and e[3] == 'readv']:
    fk = nxt(lambda e: e[3] == 'sched_process_fork' and 'comm=memfd' in e[4], r[0])
    if not fk: continue
    C = int(re.search(r'child_pid=(\d+)', fk[4]).group(1))
    I = int(re.search(r' pid=(\d+)', fk[4]).group(1))
    rcv = next((e for e in reversed(ev) if e[1] == I and e[3] == 'recvmsg' and e[2] == 'exit' and r[0] < e[0] < fk[0]), None)
    sc_in = nxt(lambda e: e[1] == C and e[3] == 'seccomp' and e[2] == 'enter', fk[0])
    sc_out = nxt(lambda e: e[1] == C and e[3] == 'seccomp' and e[2] == 'exit', fk[0])
    ex_in = nxt(lambda e: e[1] == C and e[3] == 'execve' and e[2] == 'enter', fk[0])
    ex_out = nxt(lambda e: e[1] == C and e[3] == 'execve' and e[2] == 'exit', fk[0])
    cex = nxt(lambda e: e[1] == C and e[3] == 'sched_process_exit', fk[0])
    if not (rcv and sc_in and sc_out and ex_in and ex_out and cex): continue
    snd = nxt(lambda e: e[1] == I and e[3] == 'sendmsg' and e[2] == 'exit', cex[0])
    wv = nxt(lambda e: e[1] == P and e[3] == 'writev' and e[2] == 'enter', snd[0]) if snd else None
    if not wv: continue
    add('a sbxd: request read -> sbx-init has it', rcv[0] - r[0])
    add('b sbx-init: request -> fork', fk[0] - rcv[0])
    add('c child: caps, signals, setsid, fds, uid/gid', sc_in[0] - fk[0])
    add('d child: seccomp() filter install', sc_out[0] - sc_in[0])
    add('e child: seccomp -> execve done', ex_out[0] - sc_out[0])
    add('f /bin/true runs and exits', cex[0] - ex_out[0])
    add('g sbx-init: child exit -> exit message sent', snd[0] - cex[0])
    add('h sbxd: exit message -> exit frame written', wv[0] - snd[0])
    add('TOTAL request read -> exit frame written', wv[0] - r[0])
print("%-58s %8s %8s %5s" % ("step of POST .../exec /bin/true (live session)", "median", "p90", "n"))
for k in sorted(st, key=lambda k: (k.startswith('TOTAL'), k)):
    v = sorted(st[k])
    print("%-58s %6.3fms %6.3fms %5d" % (k, statistics.median(v), v[int(0.9 * (len(v) - 1))], len(v)))
EOF
