# Load: 200 exec streams at once across sessions, while some of the sessions
# fetch known bodies through sbx-shim from a fake internet (a network
# namespace this file creates); bounded in time. Nothing may be lost (every
# byte of stdout and stderr of every stream, in order, exit event after all
# output, right exit code; every fetched body whole) and nothing may be left
# afterwards (every session destroyable, one of them while its streams run;
# no process, cgroup, mount or namespace; sbxd's and sbx-shim's open fds back
# to what they were; sbxd exits cleanly, without sanitizer reports).
#
# tests/tools/loadgen.c does the streams: `loadgen gen` in the sandboxes
# writes verifiable records, `loadgen run` on the host opens the streams
# (framed and NDJSON; one in ten not read until late, one in ten left by the client
# halfway) and checks them. Throughput is reported on "#" lines;
# nothing here asserts timing.
#
# env: SBX_LOAD_SECONDS  how long the generators write (default 12; 8 under
#                        ASan); SBX_LOAD_RATE bytes/s per output stream
#                        (default 32768; 8192 under ASan);
#                        SBX_LOAD_STREAMS (default 200).

LOAD_BLOB_SERVER_PY='
import http.server, socketserver, sys, hashlib
sizes = [int(x) for x in sys.argv[2].split(",")]
blobs = {}
with open(sys.argv[1], "w") as f:
    for n in sizes:
        b = bytes((i * 31 + (i >> 8) * 7 + n) & 255 for i in range(n))
        blobs[n] = b
        f.write("%d:%s\n" % (n, hashlib.md5(b).hexdigest()))
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        try:
            b = blobs[int(self.path.rsplit("/", 1)[1])]
        except Exception:
            self.send_error(404); return
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
s = S(("93.184.216.34", 80), H)
sys.stderr.write("ready\n"); sys.stderr.flush()
s.serve_forever()
'

# fd counts of sbxd and its sbx-shim (LOAD_DPID, LOAD_SHIM): "sbxd N shim M"
load_fds() {
    echo "sbxd $(ls /proc/"$LOAD_DPID"/fd 2>/dev/null | wc -l) shim $(ls /proc/"$LOAD_SHIM"/fd 2>/dev/null | wc -l)"
}
load_fds_are() { [ "$(load_fds)" = "$1" ]; }
# sbxd's children (warm-pool setup children and sbx-shim): their count
load_children() { ps -o pid= --ppid "$LOAD_DPID" | wc -l; }
load_children_are() { [ "$(load_children)" = "$1" ]; }

test_200_concurrent_exec_streams_and_egress_lose_no_byte_and_leak_nothing() {
    command -v python3 >/dev/null || skip "python3 not installed"
    local lg=$SBX_BUILD/tests/loadgen np=$SBX_BUILD/tests/netprobe
    [ -x "$lg" ] && [ -x "$np" ] || skip "loadgen/netprobe not built (make tools)"
    local secs=12 rate=32768
    if grep -q __asan_init "$SBX_BUILD/sbxd" 2>/dev/null; then # under ASan: lighter
        secs=8 rate=8192
    fi
    secs=${SBX_LOAD_SECONDS:-$secs}
    rate=${SBX_LOAD_RATE:-$rate}
    local nstreams=${SBX_LOAD_STREAMS:-200} nsess=10 negress=4

    # the fake internet: one HTTP server with bodies of known sizes and md5s
    local ns="sbxit-load-$$"
    ip netns add "$ns" || fail "ip netns add $ns"
    defer "ip netns delete $ns"
    stat -L -c %i "/run/netns/$ns" >>"$IT_RUN/netns.extra"
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip addr add 93.184.216.34/32 dev lo || fail "address"
    : >"$T/inet.log"
    ip netns exec "$ns" python3 -c "$LOAD_BLOB_SERVER_PY" "$T/blobs" 1000,65536,1048576,3000000 \
        2>"$T/inet.log" &
    defer "kill $!"
    wait_until 20 grep -q ready "$T/inet.log" || fail "blob server did not start: $(cat "$T/inet.log")"
    echo "93.184.216.34 blob.test" >"$T/hosts"
    # sbxd started with a soft open-files limit of 512 (a login shell has
    # 1024), far below the ~900 fds 200 streams take: it must raise its own
    # (to the hard limit), and give sandboxes the 512 it was started with
    local nofile=
    if [ "$(ulimit -H -n)" = unlimited ] || [ "$(ulimit -H -n)" -ge 4096 ]; then
        nofile=512
        ulimit -S -n "$nofile"
    fi
    daemon_start load --shim-netns "/run/netns/$ns" --shim-hosts "$T/hosts" ||
        fail "sbxd load did not start"
    LOAD_DPID=$(daemon_pid load)
    wait_until 20 sh -c "ps -o comm= --ppid $LOAD_DPID | grep -q shim" ||
        fail "sbx-shim of sbxd load not running"
    LOAD_SHIM=$(ps -o pid=,comm= --ppid "$LOAD_DPID" | awk '/shim/ { print $1; exit }')

    if [ -n "$nofile" ]; then
        new_session
        in_sbx "$SID" 'ulimit -n'
        assert_eq "$nofile" "$SX_OUT" "open files limit in a sandbox of an sbxd started with $nofile"
        api DELETE "/v1/sessions/$SID"
    fi

    # baseline: a daemon at rest with its warm pool full (sessions come and
    # go once, so that whatever is made lazily is made)
    new_session
    api DELETE "/v1/sessions/$SID"
    assert_eq 204 "$API_CODE" "delete the warm-up session"
    sleep 2
    local fds0 kids0
    fds0=$(load_fds)
    kids0=$(load_children)
    note "baseline: $fds0, $kids0 children of sbxd"

    # the sessions: loadgen in each, netprobe in the first $negress, which may
    # reach blob.test
    local sids=() i body
    for ((i = 0; i < nsess; i++)); do
        body='{"image":"busybox","limits":{"pids":256}}'
        [ "$i" -lt "$negress" ] &&
            body='{"image":"busybox","limits":{"pids":256},"network":{"allow":["blob.test"]}}'
        new_session "$body"
        sids+=("$SID")
        sbx cp "$lg" "$SID:/tmp/loadgen" 2>"$T/err" || fail "sbx cp loadgen: $(cat "$T/err")"
        if [ "$i" -lt "$negress" ]; then
            sbx cp "$np" "$SID:/tmp/netprobe" 2>"$T/err" || fail "sbx cp netprobe: $(cat "$T/err")"
        fi
        as_root "$SID" "chmod 755 /tmp/loadgen && { [ ! -e /tmp/netprobe ] || chmod 755 /tmp/netprobe; }"
        [ "$SX_RC" = 0 ] || fail "chmod in $SID: $SX_ERR"
    done

    # one more session, deleted while its streams run
    new_session '{"image":"busybox"}'
    local doomed=$SID
    sbx cp "$lg" "$SID:/tmp/loadgen" 2>"$T/err" || fail "sbx cp loadgen: $(cat "$T/err")"
    as_root "$SID" "chmod 755 /tmp/loadgen"

    # egress: each network session fetches the bodies in turn for the whole run
    local specs
    specs=$(tr '\n' ' ' <"$T/blobs")
    local loop='end=$(($(date +%s) + '"$secs"')); ok=0; bad=0; bytes=0
        while [ "$(date +%s)" -lt "$end" ]; do
            for spec in '"$specs"'; do
                size=${spec%%:*}; md5=${spec#*:}
                /tmp/netprobe get --timeout 30 http://blob.test/blob/$size >/tmp/b 2>/tmp/e; rc=$?
                got=$(wc -c </tmp/b); m=$(md5sum </tmp/b); m=${m%% *}
                if [ "$rc" = 0 ] && [ "$got" = "$size" ] && [ "$m" = "$md5" ]; then
                    ok=$((ok + 1)); bytes=$((bytes + got))
                else
                    bad=$((bad + 1)); echo "BAD blob $size: rc $rc, $got bytes, md5 $m: $(head -c 300 /tmp/e | tr "\n" " ")"
                fi
            done
        done
        echo "egress ok=$ok bad=$bad bytes=$bytes"'
    local epids=()
    for ((i = 0; i < negress; i++)); do
        sbx exec -t $((secs + 120)) "${sids[i]}" -- sh -c "$loop" >"$T/egress.$i" 2>&1 &
        epids+=($!)
    done

    # the streams
    local list t0 rc
    list=$(
        IFS=,
        echo "${sids[*]},$doomed"
    )
    t0=$(now_us)
    (
        sleep $((secs / 2))
        curl -sS --max-time 60 -o "$T/doomed.out" -w '%{http_code}' --unix-socket "$SOCK" \
            -X DELETE "http://sbx/v1/sessions/$doomed" >"$T/doomed.code" 2>&1
    ) &
    local dpid=$!
    "$lg" run --socket "$SOCK" --sessions "$list" --streams "$nstreams" --seconds "$secs" \
        --rate "$rate" --gen /tmp/loadgen --ndjson-every 8 --stall-every 10 --abort-every 10 --doomed "$doomed" --deadline $((secs * 3 + 90)) \
        >"$T/loadgen.out" 2>&1
    rc=$?
    sed 's/^/# /; s/^# # /# /' "$T/loadgen.out" >&2
    sed -n 's/^# loadgen: /# report: streams: /p' "$T/loadgen.out" >&2
    [ "$rc" = 0 ] || fail "loadgen: exit $rc: $(grep -m 3 FAIL "$T/loadgen.out" | tr '\n' ' ')"

    wait "$dpid"
    assert_eq 204 "$(cat "$T/doomed.code")" "DELETE of a session while its streams ran: $(cat "$T/doomed.out" 2>/dev/null)"
    session_gone "$doomed" || fail "session $doomed still there after its DELETE"
    local e out ok bad bytes tok=0 tbytes=0
    for ((i = 0; i < negress; i++)); do
        wait "${epids[i]}"
        e=$?
        out=$(cat "$T/egress.$i")
        [ "$e" = 0 ] || fail "egress loop in ${sids[i]}: exit $e: $(short "$out" 600)"
        assert_not_contains "$out" "BAD" "egress loop in ${sids[i]}"
        [[ "$out" =~ egress\ ok=([0-9]+)\ bad=([0-9]+)\ bytes=([0-9]+) ]] ||
            fail "egress loop in ${sids[i]}: no summary: $(short "$out")"
        ok=${BASH_REMATCH[1]} bad=${BASH_REMATCH[2]} bytes=${BASH_REMATCH[3]}
        assert_eq 0 "$bad" "egress fetches that failed in ${sids[i]}"
        assert_ge "$ok" 4 "egress fetches in ${sids[i]} (one of each body at least)"
        tok=$((tok + ok)) tbytes=$((tbytes + bytes))
    done
    local wall=$((($(now_us) - t0) / 1000))
    echo "# report: egress: $tok requests, $tbytes bytes verified in $negress sessions in ${wall} ms ($((tbytes / (wall > 0 ? wall : 1))) kB/s)" >&2

    # afterwards: no exec left (the processes of the streams the client
    # left were killed), every session destroyable, nothing leaked
    local aborted killed=0 running=0
    aborted=$(sed -n 's/.* \([0-9]*\) left by the client.*/\1/p' "$T/loadgen.out")
    api GET /v1/health
    assert_eq 0 "$(jb .execs)" "execs running after the load"
    for id in "${sids[@]}"; do
        api GET "/v1/sessions/$id/processes"
        assert_eq 200 "$API_CODE" "processes of $id"
        jq -c --arg s "$id" '.processes[] | {s: $s, pid, argv, state, exit_code, signal, started_at, exited_at}' \
            <<<"$API_BODY" >>"$T/processes.json"
        running=$((running + $(jb '[.processes[] | select(.state != "exited")] | length')))
        killed=$((killed + $(jb '[.processes[] | select(.signal == 9)] | length')))
    done
    assert_eq 0 "$running" "processes still running after the load"
    assert_eq "$aborted" "$killed" "processes killed (SIGKILL) = streams the client left"
    for id in "${sids[@]}"; do
        api DELETE "/v1/sessions/$id"
        assert_eq 204 "$API_CODE" "DELETE session $id after the load: $API_BODY"
    done
    LEAK_WHAT="after the load" assert_no_leaks load
    wait_until 10 load_fds_are "$fds0" || fail "open fds after the load: $(load_fds), before: $fds0"
    wait_until 10 load_children_are "$kids0" ||
        fail "children of sbxd after the load: $(ps -o pid=,args= --ppid "$LOAD_DPID" | tr '\n' ';'), before: $kids0"
    daemon_stop load
    assert_eq 0 "$DAEMON_STATUS" "exit status of sbxd after SIGTERM"
    ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$DLOG" ||
        fail "sanitizer report in sbxd's log: $(grep -m 2 -E 'ERROR: |runtime error:' "$DLOG")"
    LEAK_WHAT="after sbxd stopped" assert_no_leaks load
}

# sbxd out of fds (its hard limit reached by idle clients) must neither spin
# on the listening socket nor flood its log, and must serve again once the
# clients are gone.
test_out_of_fds_pauses_accepting_without_spinning_and_recovers() {
    command -v python3 >/dev/null || skip "python3 not installed"
    # a low hard limit for this daemon only (set in the subshell that starts it)
    (ulimit -n 128 && daemon_start fds) || fail "sbxd fds did not start"
    use_daemon fds
    local pid lines0
    pid=$(daemon_pid fds)
    assert_eq 128 "$(awk '/Max open files/ { print $5 }' /proc/"$pid"/limits)" "hard open files limit of sbxd"
    lines0=$(grep -c . "$DLOG")
    # 400 idle connections held for 3 s: sbxd accepts until it has no fd left
    python3 -c '
import socket, sys, time
ss = []
for i in range(400):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); ss.append(s)
sys.stderr.write("connected\n"); sys.stderr.flush()
time.sleep(3)
' "$SOCK" 2>"$T/py.err" &
    local py=$!
    wait_until 20 grep -q connected "$T/py.err" || fail "clients did not connect: $(cat "$T/py.err")"
    wait "$py"
    local accept_lines
    accept_lines=$(tail -n +"$((lines0 + 1))" "$DLOG" | grep -c 'accept')
    note "log lines about accept while out of fds for 3 s: $accept_lines"
    assert_le "$accept_lines" 3 "log lines about accept while out of fds for 3 s (one per 10 s expected)"
    assert_ge "$accept_lines" 1 "log lines about accept while out of fds (the condition must be logged)"
    # the clients are gone: sbxd serves again
    wait_until 10 health_ok || fail "sbxd does not answer after the clients left: HTTP $API_CODE $API_ERR"
    new_session
    sx "$SID" -- echo served
    assert_eq "0 served" "$SX_RC $SX_OUT" "exec after running out of fds"
    api DELETE "/v1/sessions/$SID"
    assert_eq 204 "$API_CODE" "DELETE"
    LEAK_WHAT="after running out of fds" assert_no_leaks fds
}
