#!/usr/bin/env bash
# bench/trace-create.sh - where does sbx's create time go?
#
#   SBX_BUILD=build bench/trace-create.sh [N [GAP_MS]]   (root; default N=30, GAP_MS=0)
#
# GAP_MS > 0 sleeps that long before each create (an idle daemon, as in real
# use); 0 traces back-to-back creates (what run.sh's create row measures).
#
# Starts its own sbxd (like run.sh), traces it and its children with ftrace
# (syscall enter/exit tracepoints, set_event_pid + event-fork, trace_clock
# mono), runs `sbxbench create` N times and prints, per step of the create, the
# median and p90 over the N creates; then the same for N execs of /bin/true
# in one live session (exec round trip).  Tracepoints add a few us per syscall, so
# the total is a little above run.sh's create_only; the split is what matters.
# Needs python3 and tracefs (mounted here if it is not).
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
    rm -rf "$TMP"
    for d in /sys/fs/cgroup/*/"$CGNAME" /sys/fs/cgroup/"$CGNAME"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
    [ $MOUNTED_TRACEFS = 1 ] && umount $T
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cc -O2 -std=c17 -o "$TMP/sbxbench" bench/sbxbench.c || exit 1
mkdir -p "$TMP/state/images" && cp -a "$BUILD/images/busybox" "$TMP/state/images/"
"$BUILD/sbxd" --socket "$TMP/s.sock" --state-dir "$TMP/state" --cgroup-name "$CGNAME" >"$TMP/sbxd.log" 2>&1 &
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
    execveat execve sendmsg recvmsg pivot_root mkdir openat; do
    echo "syscalls:sys_enter_$s syscalls:sys_exit_$s" >>$T/set_event 2>/dev/null ||
        echo "trace-create: no tracepoint for $s" >&2
done
echo "sched:sched_process_fork sched:sched_process_exit" >>$T/set_event
echo 1 >$T/tracing_on
"$TMP/sbxbench" create "$TMP/s.sock" busybox "$N" 0 "$GAP" >"$TMP/bench.txt" || exit 1
echo 0 >$T/tracing_on
cat $T/trace >"$TMP/trace.txt"
grep -E 'create_(exec|only)|first_exec' "$TMP/bench.txt" | sed 's/^RESULT /traced: /'

python3 - "$TMP/trace.txt" "$SBXD_PID" <<'EOF'
import re, sys, statistics
path, P = sys.argv[1], int(sys.argv[2])
rx = re.compile(r'^\s*(.+?)-(\d+)\s+\[\d+\].*?\s([\d.]+): (?:(sys_\w+)(\(| ->)\s*(.*)|(sched_process_\w+): (.*))$')
ev = []  # (t, pid, kind, name, rest)
for line in open(path):
    m = rx.match(line)
    if not m: continue
    comm, pid, t = m.group(1), int(m.group(2)), float(m.group(3))
    if m.group(4):
        ev.append((t, pid, 'enter' if m.group(5) == '(' else 'exit', m.group(4)[4:], m.group(6)))
    else:
        ev.append((t, pid, m.group(7), m.group(7), m.group(8)))

def first(pid, kind, name, after, before=1e18, rest=None):
    for e in ev:
        if e[0] < after or e[0] > before: continue
        if e[1] == pid and e[2] == kind and e[3] == name and (rest is None or rest in e[4]):
            return e
    return None

steps = {}
def add(k, v):
    if v is not None and v >= 0: steps.setdefault(k, []).append(v * 1e3)

# A create starts when sbxd reads the POST (readv exit), and its setup child is
# the pid returned by the first clone3 after it.
for i, e in enumerate(ev):
    if not (e[1] == P and e[2] == 'exit' and e[3] == 'clone3'): continue
    try: H = int(e[4], 16)
    except ValueError: continue
    c_in = max((x for x in ev if x[1] == P and x[2] == 'enter' and x[3] == 'clone3' and x[0] <= e[0]), key=lambda x: x[0])
    rd = max((x for x in ev if x[1] == P and x[2] == 'exit' and x[3] == 'readv' and x[0] < c_in[0]), key=lambda x: x[0], default=None)
    # the response: sbxd's first writev after the child is done
    h_exit = first(H, 'sched_process_exit', 'sched_process_exit', e[0])
    if not rd or not h_exit: continue
    resp = first(P, 'enter', 'writev', h_exit[0])
    if not resp: continue
    hs = [x for x in ev if x[1] == H and e[0] <= x[0] <= h_exit[0]]
    if not hs: continue
    add('0 host prep (cgroup mkdir+limits, workspace dirs)', c_in[0] - rd[0])
    add('1 clone3(NEWNS|NEWNET|INTO_CGROUP) in sbxd', e[0] - c_in[0])
    add('2 setup child scheduled (clone3 return -> first syscall)', hs[0][0] - e[0])
    w = [x for x in hs if x[3] == 'write']
    if len(w) >= 6: add('3 join v1 cgroups (3 writes to cgroup.procs)', w[5][0] - w[0][0])
    s_in = first(H, 'enter', 'socket', e[0], h_exit[0])
    if s_in:
        cl = first(H, 'exit', 'close', s_in[0], h_exit[0])
        if cl: add('4 bring lo up (netlink)', cl[0] - s_in[0])
    cl_in = first(H, 'enter', 'clone', e[0], h_exit[0])
    wt = first(H, 'exit', 'wait4', e[0], h_exit[0])
    if cl_in and wt: add('5 user namespace (clone helper, uid/gid_map, wait4)', wt[0] - cl_in[0])
    ot = first(H, 'enter', 'open_tree', e[0], h_exit[0])
    ov = None
    if ot:
        ms = [x for x in hs if x[3] == 'mount' and x[2] == 'exit' and x[0] > ot[0]]
        if ms: ov = ms[0]; add('6 idmapped rootfs + overlay mount', ov[0] - ot[0])
    sn = first(H, 'enter', 'setns', e[0], h_exit[0])
    un = first(H, 'exit', 'unshare', e[0], h_exit[0])
    if sn and un: add('7 setns(user) + unshare(NS|CGROUP|UTS|IPC)', un[0] - sn[0])
    c3 = first(H, 'enter', 'clone3', e[0], h_exit[0])
    c3x = first(H, 'exit', 'clone3', c3[0], h_exit[0]) if c3 else None
    if c3 and c3x:
        add('8 clone3(NEWPID) for pid 1', c3x[0] - c3[0])
        try: I = int(c3x[4], 16)
        except ValueError: I = None
        if I:
            ix = [x for x in ev if x[1] == I and x[0] >= c3[0]]
            xin = first(I, 'enter', 'execveat', c3[0])
            rdy = first(I, 'exit', 'sendmsg', xin[0] if xin else c3[0])
            if ix and xin: add('9 pid 1: mounts (/proc, /dev, masks) + pivot_root', xin[0] - ix[0][0])
            if xin and rdy: add('10 execveat sbx-init -> ready message', rdy[0] - xin[0])
            if rdy: add('11 sbxd: ready -> 201 written', resp[0] - rdy[0])
    add('TOTAL request read -> 201 written', resp[0] - rd[0])

print("%-58s %8s %8s %5s" % ("step of POST /v1/sessions (sbxd side)", "median", "p90", "n"))
for k in sorted(steps, key=lambda k: (k.startswith('TOTAL'), int(k.split()[0]) if k[0].isdigit() else 99)):
    v = sorted(steps[k])
    print("%-58s %6.3fms %6.3fms %5d" % (k, statistics.median(v), v[int(0.9 * (len(v) - 1))], len(v)))
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
