#!/bin/bash
# tests/tools/selftest.sh [NETPROBE] - netprobe (tests/tools/netprobe.c) against
# local servers on loopback: its own dev server (get, keep-alive, WebSocket,
# SSE streaming, cookie log), a python3 HTTPS server with a throw-away CA
# (verification through SSL_CERT_FILE or --ca, exit 3 otherwise, chunked and
# close-delimited streaming), and, when it may make a mount+network namespace
# (root, or an unprivileged user namespace), name resolution of the static
# binary through /etc/resolv.conf with no nsswitch.conf (as in the busybox
# image). Everything it starts it stops; its temp dir is removed.
# Prints "ok - NAME" / "not ok - NAME" and "N passed, N failed"; exit 1 on any
# failure. Needs python3 and openssl.
#   make tools-test                          (builds netprobe first)
#   tests/tools/selftest.sh build/tests/netprobe
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NP=${1:-$HERE/../../build/tests/netprobe}
NP=$(cd "$(dirname "$NP")" && pwd)/$(basename "$NP")
[ -x "$NP" ] || { echo "selftest.sh: $NP missing (make tools)" >&2; exit 1; }
for c in python3 openssl; do
    command -v $c >/dev/null || { echo "selftest.sh: needs $c" >&2; exit 1; }
done

T=$(mktemp -d /tmp/sbx-netprobe.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASS=0 FAIL=0
run_test() {
    local name=$1
    # a plain command, not in an if or ||: set -e is ignored where a status is tested
    ( set -e; "$name" ) >"$T/$name.log" 2>&1
    local rc=$?
    if [ $rc = 0 ]; then
        echo "ok - $name"; PASS=$((PASS + 1))
    else
        echo "not ok - $name"; sed 's/^/#   /' "$T/$name.log" | tail -n 30; FAIL=$((FAIL + 1))
    fi
}
fail() { echo "FAIL: $*"; return 1; }
# expect RC CMD...: run CMD (stdout -> $T/out, stderr -> $T/err), want exit RC
expect() {
    local want=$1 rc=0; shift
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    if [ "$rc" != "$want" ]; then
        echo "exit $rc, want $want: $*"; echo "stdout:"; head -c 2000 "$T/out"
        echo "stderr:"; head -c 2000 "$T/err"; return 1
    fi
}
has() { grep -qF -- "$2" "$1" || fail "$1 lacks: $2"; }
lacks() { ! grep -qF -- "$2" "$1" || fail "$1 has: $2"; }
# wait_port LOG: the port of a "listening on ...:PORT" line
wait_listen() {
    local log=$1 i
    for i in $(seq 100); do
        grep -qE 'listening on .*:[0-9]+' "$log" 2>/dev/null && break
        sleep 0.05
    done
    sed -nE 's/.*listening on [^ ]*:([0-9]+).*/\1/p' "$log" | head -n1
}
# gaps OUT MIN: the --lines-ts "data:" lines of OUT rise by at least MIN ms each
rising() {
    awk -v min="$2" '/ data: / { t = $1 + 0; if (n && t - last < min) bad = 1; last = t; n++ }
        END { if (n < 3 || bad) { print "timestamps not rising by " min " ms:"; exit 1 } }' "$1" ||
        { cat "$1"; return 1; }
}

# ---- netprobe serve ----
"$NP" serve 0 2>"$T/serve.log" &
PIDS+=($!)
PORT=$(wait_listen "$T/serve.log")
[ -n "$PORT" ] || { echo "netprobe serve did not start"; cat "$T/serve.log"; exit 1; }
U=http://127.0.0.1:$PORT

test_static_binary() {
    ! readelf -l "$NP" | grep -q INTERP || fail "$NP has a program interpreter: not static"
}

test_usage_exit_1() {
    expect 1 "$NP"
    expect 1 "$NP" get
    expect 1 "$NP" get ftp://x/
    expect 1 "$NP" get "$U/" --bogus
    expect 0 "$NP" --help
}

test_get_index_and_client() {
    expect 0 "$NP" get "$U/"
    [ "$(cat "$T/out")" = '<!doctype html><script type=module src=/@vite/client></script>hello from dev server' ] ||
        fail "body: $(cat "$T/out")"
    has "$T/err" "< HTTP/1.1 200 OK"
    has "$T/err" "< Content-Type: text/html"
    expect 0 "$NP" get "$U/@vite/client"
    has "$T/err" "< Content-Type: application/javascript"
    has "$T/out" "vite"
    expect 0 "$NP" get "$U/" -X HEAD
    [ ! -s "$T/out" ] || fail "HEAD printed a body"
}

test_status_exit_4_unless_ok_any() {
    expect 4 "$NP" get "$U/nope"
    has "$T/err" "< HTTP/1.1 404 Not Found"
    has "$T/err" "HTTP status 404"
    expect 0 "$NP" get "$U/nope" --ok-any
    expect 4 "$NP" get "$U/status/503"
    expect 0 "$NP" get "$U/status/204"
}

test_connect_failure_exit_2() {
    # a port nothing listens on: bind one, then close it
    local p
    p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    expect 2 "$NP" get "http://127.0.0.1:$p/"
    has "$T/err" "Connection refused"
}

test_headers_body_and_cookie_log() {
    expect 0 "$NP" get "$U/echo" -H 'X-Probe: one' -H 'Cookie: sbx_preview=s3cret; theme=dark' -d 'the body'
    has "$T/out" "POST /echo HTTP/1.1"
    has "$T/out" "Host: 127.0.0.1:$PORT"
    has "$T/out" "X-Probe: one"
    has "$T/out" "Content-Length: 8"
    has "$T/out" "the body"
    has "$T/serve.log" '"POST /echo HTTP/1.1" 200 cookie=sbx_preview=s3cret; theme=dark'
    expect 0 "$NP" get "$U/echo" -X PUT -H 'Host: other.test'
    has "$T/out" "PUT /echo HTTP/1.1"
    has "$T/out" "Host: other.test"
    lacks "$T/out" "Host: 127.0.0.1"
    has "$T/serve.log" '"PUT /echo HTTP/1.1" 200 cookie=-'
}

test_keepalive_one_connection() {
    local before
    before=$(wc -l <"$T/serve.log")
    expect 0 "$NP" get "$U/@vite/client" --keepalive 5
    [ "$(grep -c '^req [1-5] us [0-9]*$' "$T/err")" = 5 ] || fail "want 5 'req N us T' lines"
    [ "$(grep -c 'console.log' "$T/out")" = 5 ] || fail "want 5 bodies"
    lacks "$T/err" "reconnecting"
    # all five requests came from one client port
    [ "$(tail -n +$((before + 1)) "$T/serve.log" | grep -F 'GET /@vite/client' |
        awk '{print $3}' | sort -u | wc -l)" = 1 ] || fail "more than one connection"
}

# a server that closes every connection after one response, without saying so
cat >"$T/oneshot.py" <<'EOF2'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print("listening on 127.0.0.1:%d" % s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        d = c.recv(4096)
        if not d:
            break
        data += d
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
    c.close()
EOF2
python3 "$T/oneshot.py" >"$T/oneshot.log" 2>&1 &
PIDS+=($!)
OPORT=$(wait_listen "$T/oneshot.log")

test_keepalive_reconnects_when_server_closes() {
    [ -n "$OPORT" ] || fail "oneshot.py did not start"
    expect 0 "$NP" get "http://127.0.0.1:$OPORT/" --keepalive 3
    [ "$(grep -c '^ok$' "$T/out")" = 3 ] || fail "want 3 bodies"
    [ "$(grep -c '^req [1-3] us [0-9]*$' "$T/err")" = 3 ] || fail "want 3 'req N us T' lines"
    has "$T/err" "reconnecting for request 3"
}

test_websocket_echo() {
    expect 0 "$NP" ws "ws://127.0.0.1:$PORT/" --send 'hello' --send 'say "hi"\now' \
        -H 'Sec-WebSocket-Protocol: vite-hmr'
    printf '%s\n' '{"type":"connected"}' '{"type":"echo","data":"hello"}' \
        '{"type":"echo","data":"say \"hi\"\\now"}' >"$T/want"
    diff "$T/want" "$T/out" || fail "frames differ"
    has "$T/err" "< HTTP/1.1 101 Switching Protocols"
    has "$T/err" "< Sec-WebSocket-Protocol: vite-hmr"
    expect 0 "$NP" ws "ws://127.0.0.1:$PORT/"
    [ "$(cat "$T/out")" = '{"type":"connected"}' ] || fail "hello frame: $(cat "$T/out")"
    lacks "$T/err" "Sec-WebSocket-Protocol"
    # a long message (16-bit length) comes back whole
    local big
    big=$(head -c 70000 /dev/zero | tr '\0' x)
    expect 0 "$NP" ws "ws://127.0.0.1:$PORT/x" --send "$big"
    grep -qF "\"data\":\"$big\"" "$T/out" || fail "70000-byte echo"
}

test_sse_streams_line_by_line() {
    expect 0 "$NP" get "$U/sse?n=4&ms=250" --lines-ts
    has "$T/err" "< Transfer-Encoding: chunked"
    [ "$(grep -c ' data: ' "$T/out")" = 4 ] || fail "want 4 events"
    rising "$T/out" 200
}

# ---- an HTTPS server with its own CA (python3) ----
mkdir -p "$T/pki"
(
    cd "$T/pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj '/CN=selftest CA' -keyout ca.key -out ca.pem \
        -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign'
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=localhost' \
        -keyout srv.key -out srv.csr
    printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >ext.cnf
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj '/CN=another CA' -keyout other.key -out other.pem
    openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile ext.cnf -out srv.pem
) >"$T/pki.log" 2>&1 || { echo "openssl failed"; cat "$T/pki.log"; exit 1; }

cat >"$T/https.py" <<'EOF'
import http.server, socketserver, ssl, sys, time

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        if self.path == "/plain":
            b = b"hello over tls\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(1, 5):
                d = ("data: %d\n\n" % i).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(d), d))
                self.wfile.flush()
                time.sleep(0.25)
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(1, 5):
                self.wfile.write(b"data: %d\n" % i)
                self.wfile.flush()
                time.sleep(0.25)
            self.close_connection = True
        else:
            self.send_error(404)

class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

srv = S(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
srv.serve_forever()
EOF
python3 "$T/https.py" "$T/pki/srv.pem" "$T/pki/srv.key" >"$T/https.log" 2>&1 &
PIDS+=($!)
HPORT=$(wait_listen "$T/https.log")
[ -n "$HPORT" ] || { echo "https server did not start"; cat "$T/https.log"; exit 1; }
H=https://localhost:$HPORT

test_https_verifies_with_ssl_cert_file() {
    expect 0 env SSL_CERT_FILE="$T/pki/ca.pem" SSL_CERT_DIR=/nonexistent "$NP" get "$H/plain"
    [ "$(cat "$T/out")" = "hello over tls" ] || fail "body: $(cat "$T/out")"
    expect 0 env SSL_CERT_FILE=/nonexistent SSL_CERT_DIR=/nonexistent "$NP" get "$H/plain" \
        --ca "$T/pki/ca.pem"
}

test_https_untrusted_exit_3() {
    expect 3 env SSL_CERT_FILE=/nonexistent SSL_CERT_DIR=/nonexistent "$NP" get "$H/plain"
    has "$T/err" "unable to get local issuer certificate"
    # --ca replaces the default paths: a CA that did not sign the server
    expect 3 env SSL_CERT_FILE="$T/pki/ca.pem" "$NP" get "$H/plain" --ca "$T/pki/other.pem"
    has "$T/err" "TLS verification of localhost failed"
}

test_https_wrong_name_exit_3() {
    # the certificate names localhost only
    expect 3 env SSL_CERT_FILE="$T/pki/ca.pem" "$NP" get "https://127.0.0.1:$HPORT/plain"
    has "$T/err" "IP address mismatch"
}

test_https_chunked_streams() {
    expect 0 env SSL_CERT_FILE="$T/pki/ca.pem" "$NP" get "$H/chunked" --lines-ts
    [ "$(grep -c ' data: ' "$T/out")" = 4 ] || fail "want 4 events"
    rising "$T/out" 200
}

test_https_close_delimited_streams() {
    expect 0 env SSL_CERT_FILE="$T/pki/ca.pem" "$NP" get "$H/close" --lines-ts
    [ "$(grep -c ' data: ' "$T/out")" = 4 ] || fail "want 4 lines"
    rising "$T/out" 200
}

# ---- DNS through /etc/resolv.conf, in a mount + network namespace ----
cat >"$T/dns.py" <<'EOF'
# A DNS server on 127.0.0.1:53 (UDP): probe.test A 127.0.0.1, NXDOMAIN otherwise.
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    q, a = s.recvfrom(512)
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode().lower())
        i += 1 + q[i]
    qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
    question = q[12:i + 5]
    name = ".".join(labels)
    if name == "probe.test":
        ans = b"" if qtype != 1 else b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4) + bytes([127, 0, 0, 1])
        r = q[:2] + struct.pack(">HHHHH", 0x8180, 1, 1 if ans else 0, 0, 0) + question + ans
    else:
        r = q[:2] + struct.pack(">HHHHH", 0x8183, 1, 0, 0, 0) + question
    s.sendto(r, a)
EOF
cat >"$T/inner.sh" <<'EOF'
# runs inside unshare -mn: lo up, a DNS server, a resolv.conf, no nsswitch.conf
set -u
T=$1 NP=$2
ip link set lo up 2>/dev/null || ip link set dev lo up || exit 90
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$T/resolv.conf"
mount --bind "$T/resolv.conf" /etc/resolv.conf || exit 90
[ -e /etc/nsswitch.conf ] && { mount --bind /dev/null /etc/nsswitch.conf || exit 90; }
python3 "$T/dns.py" >"$T/dns.log" 2>&1 & DNS=$!
"$NP" serve 0 2>"$T/ns-serve.log" & SRV=$!
trap 'kill $DNS $SRV 2>/dev/null; wait $DNS $SRV 2>/dev/null' EXIT
for i in $(seq 100); do
    grep -q listening "$T/ns-serve.log" && grep -q ready "$T/dns.log" && break
    sleep 0.05
done
P=$(sed -nE 's/.*listening on [^ ]*:([0-9]+).*/\1/p' "$T/ns-serve.log")
rc=0
"$NP" get "http://probe.test:$P/" >"$T/ns.out" 2>"$T/ns.err" || rc=$?
[ $rc = 0 ] || { echo "get probe.test: exit $rc"; cat "$T/ns.err"; exit 1; }
grep -q "hello from dev server" "$T/ns.out" || { echo "no body"; exit 1; }
rc=0
"$NP" get "http://nothere.test:$P/" >"$T/ns.out" 2>"$T/ns.err" || rc=$?
[ $rc = 2 ] || { echo "get nothere.test: exit $rc, want 2"; cat "$T/ns.err"; exit 1; }
grep -q "resolve nothere.test" "$T/ns.err" || { cat "$T/ns.err"; exit 1; }
exit 0
EOF

test_dns_through_resolv_conf() {
    local un=(unshare -mn)
    [ "$(id -u)" = 0 ] || un=(unshare -rmn)
    if ! "${un[@]}" true 2>/dev/null || ! command -v ip >/dev/null; then
        echo "skipped: cannot make a mount+network namespace here"; return 0
    fi
    local rc=0
    "${un[@]}" bash "$T/inner.sh" "$T" "$NP" || rc=$?
    [ $rc != 90 ] || { echo "skipped: namespace setup failed"; return 0; }
    [ $rc = 0 ]
}

for t in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do run_test "$t"; done
echo "$PASS passed, $FAIL failed"
[ $FAIL = 0 ]
