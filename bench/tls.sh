#!/usr/bin/env bash
# bench/tls.sh - HTTPS through sbx-shim: a host whose TLS the shim terminates
# (with a secret injected into every request) vs a host it passes through, in
# one run, from the same sandbox, with the same client.
#
#   make bench-tls        (= SBX_BUILD=build bench/tls.sh, as root; `make bench` runs it too)
#
# The fake internet is a network namespace made here with one HTTPS server
# (python3's http.server + ssl, threaded; certificates from a CA made here,
# which sbxd trusts through --upstream-ca) on 93.184.216.34:443, known as
# term.tls.test and pass.tls.test through the shim's hosts file. The session
# allows both; a secret bound to term.tls.test makes the shim terminate TLS
# for it (node CA leaf, request head parsed, placeholder replaced, upstream
# through libcurl); pass.tls.test is spliced through untouched (end-to-end
# TLS between the client and the server).
#
# The client is tests/tools/netprobe (static) inside the sandbox:
#   netprobe get URL --keepalive N    N requests on one kept-alive connection,
#                                     the time of each on stderr.
# Rows: per-request p50/p99 (microseconds) and requests/s, each path; added
# latency = terminated - passthrough (the shim's TLS termination, parsing,
# injection and second TLS hop). Target (issue 6): < 1 ms p50.
#
# Prints a Markdown table and writes it to bench/out/tls.md. Everything it
# starts (sbxd and its shim, the server, the namespace, the temp dir) is
# removed on exit.
#
# Knobs: SBX_BUILD (default build), SBX_TLS_N (requests per row, default
# 2000), SBX_TLS_WARMUP (default 100), SBX_TLS_ROUNDS (alternating rounds per
# path, default 3), SBX_BENCH_QUICK=1 (N=300, 1 round).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=${SBX_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
N=${SBX_TLS_N:-2000}
W=${SBX_TLS_WARMUP:-100}
ROUNDS=${SBX_TLS_ROUNDS:-3}
if [ "${SBX_BENCH_QUICK:-0}" = 1 ]; then N=300 W=20 ROUNDS=1; fi
OUT=$ROOT/bench/out
say() { printf 'bench/tls: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
for f in sbxd sbx sbx-shim sbx-init tests/netprobe; do
    [ -x "$BUILD/$f" ] || die "$BUILD/$f missing (make)"
done
command -v python3 >/dev/null || die "python3 needed"
command -v openssl >/dev/null || die "openssl needed"

TMP=$(mktemp -d /var/tmp/sbx-bench-tls.XXXXXX)
chmod 755 "$TMP" # the shim (user nobody) reads the hosts file
NS=sbxbench-tls-$$
SBXD_PID="" SRV_PID=""
cleanup() {
    [ -z "$SBXD_PID" ] || { kill "$SBXD_PID" 2>/dev/null; wait "$SBXD_PID" 2>/dev/null; }
    [ -z "$SRV_PID" ] || kill "$SRV_PID" 2>/dev/null
    ip netns delete "$NS" 2>/dev/null
    for m in $(awk -v p="$TMP" 'index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
        umount -l "$m"
    done
    rm -rf --one-file-system "$TMP"
    for m in /sys/fs/cgroup/sbx-bench-tls-$$ /sys/fs/cgroup/*/sbx-bench-tls-$$; do
        [ ! -d "$m" ] || find "$m" -depth -type d -exec rmdir {} + 2>/dev/null
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- certificates and the fake internet -------------------------------------
P=$TMP/pki
mkdir -p "$P"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=bench CA" -keyout "$P/ca.key" -out "$P/ca.pem" >/dev/null 2>&1 || die "openssl CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=tls.test \
    -keyout "$P/srv.key" -out "$P/srv.csr" >/dev/null 2>&1 || die "openssl key"
printf 'subjectAltName=DNS:term.tls.test,DNS:pass.tls.test\nextendedKeyUsage=serverAuth\n' >"$P/srv.ext"
openssl x509 -req -in "$P/srv.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
    -extfile "$P/srv.ext" -out "$P/srv.pem" >/dev/null 2>&1 || die "openssl sign"
ip netns add "$NS" || die "ip netns add"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip addr add 93.184.216.34/32 dev lo
ip netns exec "$NS" python3 -c '
import http.server, socketserver, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else head and body wait out a delayed ACK (40 ms)
    def do_GET(self):
        b = b"x" * 100
        self.send_response(200); self.send_header("Content-Length", "100"); self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("93.184.216.34", 443), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = c.wrap_socket(s.socket, server_side=True)
print("ready", flush=True)
s.serve_forever()' "$P/srv.pem" "$P/srv.key" >"$TMP/srv.out" 2>&1 &
SRV_PID=$!
for _ in $(seq 50); do grep -q ready "$TMP/srv.out" && break; sleep 0.1; done
grep -q ready "$TMP/srv.out" || die "server: $(cat "$TMP/srv.out")"
printf '93.184.216.34 term.tls.test pass.tls.test\n' >"$TMP/hosts"

# ---- sbxd -------------------------------------------------------------------
STATE=$TMP/state
SOCK=$TMP/sbxd.sock
mkdir -p "$STATE/images"
cp -a "$BUILD/images/busybox" "$STATE/images/"
"$BUILD/sbxd" --socket "$SOCK" --state-dir "$STATE" --image-dir "$STATE/images" \
    --cgroup-name "sbx-bench-tls-$$" --id-base $((0x38000000 + ($$ % 512) * 4 * 65536)) --id-slots 4 \
    --warm 0 --audit-log "$TMP/egress.jsonl" --policy-dir "$TMP" --shim-user nobody \
    --on-exit remove --preview-listen 127.0.0.1:0 --shim-netns "/run/netns/$NS" --shim-hosts "$TMP/hosts" \
    --upstream-ca "$P/ca.pem" 2>"$TMP/sbxd.log" &
SBXD_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && curl -sf --unix-socket "$SOCK" http://x/v1/health >/dev/null && break; sleep 0.1; done
curl -sf --unix-socket "$SOCK" http://x/v1/health >/dev/null || die "sbxd: $(tail -n 5 "$TMP/sbxd.log")"
SBX="$BUILD/sbx --socket $SOCK"
ID=$(curl -sf --unix-socket "$SOCK" -X POST http://x/v1/sessions -d '{"image":"busybox",
  "network":{"allow":["term.tls.test","pass.tls.test"]},
  "secrets":{"TOKEN":{"value":"bench-secret-value","hosts":["term.tls.test"]}}}' | jq -r .id)
[ -n "$ID" ] && [ "$ID" != null ] || die "create session: $(tail -n 3 "$TMP/sbxd.log")"
$SBX cp "$BUILD/tests/netprobe" "$ID:/tmp/netprobe" >/dev/null || die "sbx cp netprobe"
$SBX cp "$P/ca.pem" "$ID:/tmp/upstream-ca.pem" >/dev/null || die "sbx cp ca"
$SBX exec -u root "$ID" -- chmod 755 /tmp/netprobe >/dev/null

# run_path NAME URL EXTRA: N+W requests on one connection; per-request us in $TMP/NAME.us
run_path() {
    local name=$1 url=$2 extra=$3
    $SBX exec -t 600 "$ID" -- sh -c "/tmp/netprobe get $url --keepalive $((N + W)) $extra >/dev/null" \
        2>"$TMP/$name.err" || die "$name: $(tail -n 3 "$TMP/$name.err")"
    grep '^req ' "$TMP/$name.err" | awk -v w="$W" '$2 > w { print $4 }' >>"$TMP/$name.us"
    local s e
    s=$(grep '^req ' "$TMP/$name.err" | awk -v w="$W" '$2 > w { t += $4 } END { print t }')
    echo "$s" >>"$TMP/$name.total"
}
: >"$TMP/term.us"
: >"$TMP/pass.us"
for r in $(seq "$ROUNDS"); do
    say "round $r/$ROUNDS: $N requests each (after $W warm-up), terminated then passthrough"
    run_path term "https://term.tls.test/small" "-H \"Authorization: Bearer \$TOKEN\""
    run_path pass "https://pass.tls.test/small" "--ca /tmp/upstream-ca.pem"
done
grep -q '"secrets":\["TOKEN"\]' "$TMP/egress.jsonl" || die "no request line shows the injected secret"

pct() { sort -n "$1" | awk -v p="$2" '{ a[NR] = $1 } END { i = int((NR - 1) * p / 100) + 1; print a[i] }'; }
rps() { awk -v n="$(wc -l <"$2")" '{ t += $1 } END { if (t > 0) printf "%.0f", n / (t / 1e6); else print 0 }' "$1"; }
tp50=$(pct "$TMP/term.us" 50) tp99=$(pct "$TMP/term.us" 99)
pp50=$(pct "$TMP/pass.us" 50) pp99=$(pct "$TMP/pass.us" 99)
trps=$(rps "$TMP/term.total" "$TMP/term.us") prps=$(rps "$TMP/pass.total" "$TMP/pass.us")
mkdir -p "$OUT"
# every sample ("NAME VALUE", us) for bench/report.sh's plots
{ sed 's/^/tls_terminated /' "$TMP/term.us"; sed 's/^/tls_passthrough /' "$TMP/pass.us"; } >"$OUT/tls-samples.txt"
{
    echo "### HTTPS through sbx-shim: terminated + secret injected vs passed through"
    echo
    echo "$(nproc) CPUs, $(uname -r); one kept-alive connection per row, $N requests x $ROUNDS rounds"
    echo "(after $W warm-up each), GET with a 100-byte body from python3's http.server over TLS."
    echo
    echo "| path | p50 us | p99 us | req/s |"
    echo "| --- | ---: | ---: | ---: |"
    echo "| passthrough (TLS end to end, spliced) | $pp50 | $pp99 | $prps |"
    echo "| terminated, secret injected (libcurl upstream) | $tp50 | $tp99 | $trps |"
    echo
    echo "Added by termination: p50 $((tp50 - pp50)) us, p99 $((tp99 - pp99)) us (target: < 1000 us p50)."
} | tee "$OUT/tls.md"
