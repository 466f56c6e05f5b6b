# Preview ingress (docs/network.md "Preview ingress"): a person opens, in a
# browser, the app a sandbox serves. sbxd listens on --preview-listen (the
# suite's daemons: 127.0.0.1:0, GET /v1/health says the port), sbx-shim
# routes http://PORT-ID.preview.localhost:LPORT/ to the session's port, after
# the token (?sbx_token= once, then a cookie) says this person may.
#
# The apps: busybox httpd (-vv logs every request it gets), busybox nc -l (a
# server that holds a connection, or records the request it got), and for
# WebSocket and keep-alive the static netprobe (`netprobe serve PORT`, a
# Vite-like dev server), skipped where $SBX_BUILD/tests/netprobe is not built.
# The clients are curl and python3 on the host.

PV_NETPROBE=$SBX_BUILD/tests/netprobe

# pv_port: where the current daemon's previews listen (PVP too).
pv_port() {
    PVP=$(curl -sS --max-time 10 --unix-socket "$SOCK" http://sbx/v1/health | jq -r .preview.port)
    [[ "$PVP" =~ ^[0-9]+$ ]] || fail "GET /v1/health has no preview.port: [$PVP]"
}

# pv_expose ID PORT: POST .../ports; PV_URL, PV_HOST, PV_TOKEN.
pv_expose() {
    api POST "/v1/sessions/$1/ports" "{\"port\":$2}"
    [ "$API_CODE" = 201 ] || fail "expose port $2 of $1: HTTP $API_CODE $(short "$API_BODY")"
    PV_URL=$(jb .url)
    PV_HOST=$(jb .host)
    PV_TOKEN=$(jb .token)
}

# pv_get HOST PATH [CURL ARGS...]: GET PATH from the preview listener with
# Host HOST; PV_CODE, PV_BODY, PV_HDR (the head, without CRs).
pv_get() {
    local host=$1 path=$2
    shift 2
    rm -f "$T/.pv.out" "$T/.pv.hdr"
    PV_CODE=$(curl -sS --max-time 10 -o "$T/.pv.out" -D "$T/.pv.hdr" -w '%{http_code}' \
        -H "Host: $host" "$@" "http://127.0.0.1:$PVP$path" 2>"$T/.pv.err")
    PV_BODY=$(cat "$T/.pv.out" 2>/dev/null)
    PV_HDR=$(tr -d '\r' <"$T/.pv.hdr" 2>/dev/null)
}

# pv_raw BYTES: send BYTES to the preview listener, print all it answers
# until it closes ("[timeout]" if it does not within 10 s).
pv_raw() {
    python3 - "$PVP" "$1" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.argv[2].encode("latin-1"))
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
except socket.timeout:
    out += b"[timeout]"
except ConnectionResetError:
    out += b"[reset]"
sys.stdout.write(out.decode("latin-1"))
EOF
}

# pv_httpd ID PORT: busybox httpd on PORT in session ID serving "hello from
# PORT" at /; HTTPD_PID. Its log (sbx logs): one "url:" line per request.
pv_httpd() {
    must_sh "$1" "mkdir -p /tmp/www$2 && echo 'hello from $2' >/tmp/www$2/index.html"
    api POST "/v1/sessions/$1/exec" "{\"argv\":[\"busybox\",\"httpd\",\"-f\",\"-vv\",\"-p\",\"$2\",\"-h\",\"/tmp/www$2\"],\"background\":true}"
    assert_eq 201 "$API_CODE" "start httpd on port $2: $(short "$API_BODY")"
    HTTPD_PID=$(jb .pid)
    pv_wait_port "$1" "$HTTPD_PID" "$2"
}

pv_wait_port() { # ID PID PORT
    api GET "/v1/sessions/$1/processes/$2/wait?port=$3&timeout=20"
    assert_eq 200 "$API_CODE" "wait for port $3 in $1: $(short "$API_BODY")"
}

# pv_bg ID ARGV_JSON: a background process; BG_PID.
pv_bg() {
    api POST "/v1/sessions/$1/exec" "{\"argv\":$2,\"background\":true}"
    assert_eq 201 "$API_CODE" "background $2: $(short "$API_BODY")"
    BG_PID=$(jb .pid)
}

# pv_log ID PID: what a background process wrote (stdout and stderr).
pv_log() { sbx logs "$1" "$2" 2>&1; }

pv_netprobe() { # ID PORT: netprobe serve PORT in session ID (skips without it); NP_PID
    [ -x "$PV_NETPROBE" ] || skip "no $PV_NETPROBE (the static netprobe tool is not built)"
    sbx cp -q "$PV_NETPROBE" "$1:/tmp/netprobe" 2>"$T/cp.err" || fail "sbx cp netprobe: $(cat "$T/cp.err")"
    must_sh "$1" 'chmod 0755 /tmp/netprobe'
    pv_bg "$1" "[\"/tmp/netprobe\",\"serve\",\"$2\"]"
    NP_PID=$BG_PID
    pv_wait_port "$1" "$NP_PID" "$2"
}

PV_AUDIT() { echo "$IT_RUN/$DNAME/egress.jsonl"; }

# pv_audit_has JQ_FILTER WHAT: an audit line of the current daemon matches.
pv_audit_has() {
    wait_until 5 _pv_audit_match "$1" || fail "$2: no audit line matches [$1]; last lines: $(tail -n 3 "$(PV_AUDIT)")"
}
_pv_audit_match() { jq -e -s "map(select($1)) | length > 0" "$(PV_AUDIT)" >/dev/null 2>&1; }

test_preview_token_sets_a_cookie_that_opens_the_app() {
    new_session
    local sid=$SID
    pv_httpd "$sid" 5173
    pv_port
    # the CLI prints the URL (one line), the API answers the same exposure again
    local url
    url=$(sbx expose "$sid" 5173) || fail "sbx expose failed"
    assert_match "$url" "^http://5173-$sid\\.preview\\.localhost:$PVP/\\?sbx_token=[0-9a-f]{64}\$" "sbx expose's URL"
    api POST "/v1/sessions/$sid/ports" '{"port":5173}'
    assert_eq 200 "$API_CODE" "exposing an exposed port again"
    assert_eq "$url" "$(jb .url)" "the same URL again"
    assert_eq "5173-$sid.preview.localhost" "$(jb .host)" "host"
    local token
    token=$(jb .token)
    assert_eq "$url" "http://5173-$sid.preview.localhost:$PVP/?sbx_token=$token" "the token is the URL's"
    # first visit: 302 to the URL without the token, and the cookie (host-only, HttpOnly, Lax)
    pv_get "5173-$sid.preview.localhost:$PVP" "/index.html?a=1&sbx_token=$token&b=2"
    assert_eq 302 "$PV_CODE" "first visit with the token ($PV_BODY)"
    assert_contains "$PV_HDR" "Location: http://5173-$sid.preview.localhost:$PVP/index.html?a=1&b=2" "redirect without the token"
    assert_contains "$PV_HDR" "Set-Cookie: sbx_preview_5173=$token; Path=/; HttpOnly; SameSite=Lax" "the cookie"
    assert_not_contains "$(grep -i '^Set-Cookie' <<<"$PV_HDR")" "Domain" "host-only cookie"
    # later visits: the cookie
    pv_get "5173-$sid.preview.localhost:$PVP" / -b "sbx_preview_5173=$token"
    assert_eq 200 "$PV_CODE" "with the cookie ($PV_BODY)"
    assert_eq "hello from 5173" "$PV_BODY" "the app's page"
    # curl follows the printed URL as a browser would (cookie jar, redirect)
    local out
    out=$(curl -sS --max-time 10 -L -c "$T/jar" -b "$T/jar" --connect-to "::127.0.0.1:$PVP" "$url") ||
        fail "curl -L $url"
    assert_eq "hello from 5173" "$out" "curl following the URL"
    # sbx ports lists it; --json gives the object
    assert_contains "$(sbx ports "$sid")" "$url" "sbx ports"
    assert_eq 5173 "$(sbx ports -q "$sid")" "sbx ports -q"
    assert_eq "$token" "$(sbx expose --json "$sid" 5173 | jq -r .token)" "sbx expose --json"
    # audited as "preview" lines, never with the token
    pv_audit_has ".event == \"preview\" and .session == \"$sid\" and .port == 5173 and .status == 302 and .decision == \"allow\"" "302 line"
    pv_audit_has ".event == \"preview\" and .session == \"$sid\" and .status == 200 and .path == \"/\" and .method == \"GET\"" "200 line"
    grep -q "$token" "$(PV_AUDIT)" && fail "the token is in the audit log"
    grep -q "$token" "$DLOG" && fail "the token is in sbxd's log"
    true
}

test_preview_refuses_without_the_right_token_and_nothing_reaches_the_app() {
    new_session
    local a=$SID
    pv_httpd "$a" 5173
    local httpd_a=$HTTPD_PID
    pv_httpd "$a" 3000
    local httpd_a2=$HTTPD_PID
    new_session
    local b=$SID
    pv_httpd "$b" 5173
    pv_port
    pv_expose "$a" 5173
    local ta=$PV_TOKEN
    pv_expose "$a" 3000
    local ta2=$PV_TOKEN
    pv_expose "$b" 5173
    local tb=$PV_TOKEN
    assert_ne "$ta" "$ta2" "tokens of two ports"
    local h="5173-$a.preview.localhost"
    pv_get "$h" /
    assert_eq 401 "$PV_CODE" "no token"
    assert_contains "$PV_BODY" "sbx_token" "401 says what is missing"
    pv_get "$h" "/?sbx_token=${ta%?}0"
    [ "${ta: -1}" = 0 ] && pv_get "$h" "/?sbx_token=${ta%?}1"
    assert_eq 401 "$PV_CODE" "a wrong token in the URL"
    pv_get "$h" / -b "sbx_preview_5173=${ta:0:32}"
    assert_eq 401 "$PV_CODE" "half the token as cookie"
    # the token of port 3000 opens 3000, never 5173 (as URL token or under either cookie name)
    pv_get "$h" "/?sbx_token=$ta2"
    assert_eq 401 "$PV_CODE" "port 3000's token on port 5173"
    pv_get "$h" / -b "sbx_preview_5173=$ta2"
    assert_eq 401 "$PV_CODE" "port 3000's token as 5173's cookie"
    pv_get "$h" / -b "sbx_preview_3000=$ta2"
    assert_eq 401 "$PV_CODE" "port 3000's cookie on port 5173"
    pv_get "3000-$a.preview.localhost" / -b "sbx_preview_3000=$ta2"
    assert_eq 200 "$PV_CODE" "port 3000's own cookie"
    # session B's token never opens session A (same port)
    pv_get "$h" "/?sbx_token=$tb"
    assert_eq 401 "$PV_CODE" "session B's token on session A"
    pv_get "$h" / -b "sbx_preview_5173=$tb"
    assert_eq 401 "$PV_CODE" "session B's cookie on session A"
    pv_get "5173-$b.preview.localhost" / -b "sbx_preview_5173=$tb"
    assert_eq 200 "$PV_CODE" "session B's own cookie"
    assert_eq "hello from 5173" "$PV_BODY" "session B's app"
    # not a byte of the refused requests reached session A's 5173: its server saw nothing
    local log
    log=$(pv_log "$a" "$httpd_a")
    assert_not_contains "$log" "url:" "session A's port 5173 server log after refusals only"
    assert_contains "$(pv_log "$a" "$httpd_a2")" "url:/" "port 3000's server saw its own request"
    # ports not exposed, and names of no preview: 404
    pv_get "8080-$a.preview.localhost" / -b "sbx_preview_8080=$ta"
    assert_eq 404 "$PV_CODE" "a port not exposed"
    assert_contains "$PV_BODY" "not exposed" "404 says why"
    pv_get "5173-000000000000.preview.localhost" /
    assert_eq 404 "$PV_CODE" "an unknown session"
    pv_get "localhost" /
    assert_eq 404 "$PV_CODE" "not a preview name"
    pv_get "5173-$a.preview.example.com" / -b "sbx_preview_5173=$ta"
    assert_eq 404 "$PV_CODE" "another domain"
    pv_audit_has ".event == \"preview\" and .session == \"$a\" and .status == 401 and .decision == \"deny\"" "401 line"
}

test_preview_app_never_sees_the_preview_cookie() {
    new_session
    local sid=$SID
    pv_port
    # nc -l records exactly what the app is sent
    pv_bg "$sid" '["sh","-c","sleep 600 | nc -l -p 4000 >/tmp/req"]'
    pv_wait_port "$sid" "$BG_PID" 4000
    pv_expose "$sid" 4000
    local tok=$PV_TOKEN
    curl -sS --max-time 2 -o /dev/null -H "Host: 4000-$sid.preview.localhost:$PVP" \
        -H "Cookie: theme=dark; sbx_preview_4000=$tok; sid=42" -H "Cookie: sbx_preview_4000=$tok" \
        -H "X-Forwarded-Host: spoofed" "http://127.0.0.1:$PVP/app?x=1" 2>/dev/null
    wait_until 10 eval 'in_sbx "$sid" "grep -q X-Forwarded-Proto /tmp/req" && [ "$SX_RC" = 0 ]' ||
        fail "the app got no request: $(in_sbx "$sid" 'cat /tmp/req'; echo "$SX_OUT")"
    in_sbx "$sid" 'cat /tmp/req'
    local req=${SX_OUT//$'\r'/}
    assert_contains "$req" "GET /app?x=1 HTTP/1.1" "request line unchanged"
    assert_contains "$req" "Host: 4000-$sid.preview.localhost:$PVP" "Host unchanged"
    assert_contains "$req" "Cookie: theme=dark; sid=42" "the app's own cookies"
    assert_not_contains "$req" "sbx_preview" "the preview cookie's name"
    assert_not_contains "$req" "$tok" "the token"
    assert_contains "$req" "X-Forwarded-Host: 4000-$sid.preview.localhost:$PVP" "X-Forwarded-Host"
    assert_contains "$req" "X-Forwarded-Proto: http" "X-Forwarded-Proto"
    assert_not_contains "$req" "spoofed" "the client's X-Forwarded-Host"
    [ "$(grep -c '^Cookie' <<<"$req")" = 1 ] || fail "a Cookie header with only the preview cookie was not dropped: $req"
}

# hot-reload style: the server pushes first, then text frames go both ways
PV_WS_PY='
import base64, os, socket, struct, sys
port, host, cookie = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET /?token=x HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: vite-hmr\r\n"
           "Cookie: %s\r\n\r\n" % (host, key, cookie)).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d:
        sys.exit("closed before the answer: %r" % buf)
    buf += d
head, _, buf = buf.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode())
def exact(n):
    global buf
    while len(buf) < n:
        d = s.recv(4096)
        if not d:
            sys.exit("closed")
        buf += d
    out, buf = buf[:n], buf[n:]
    return out
def frame():
    b0, b1 = exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", exact(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", exact(8))[0]
    return exact(n).decode()
def send(t):
    data, mask = t.encode(), os.urandom(4)
    n = len(data)
    hdr = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0xFE]) + struct.pack(">H", n))
    s.sendall(hdr + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(data)))
print(frame())
for m in sys.argv[4:]:
    send(m)
    print(frame())
'

test_preview_websocket_hot_reload_round_trip() {
    new_session
    local sid=$SID
    pv_netprobe "$sid" 5173
    pv_port
    pv_expose "$sid" 5173
    local out
    out=$(python3 -c "$PV_WS_PY" "$PVP" "$PV_HOST:$PVP" "a=1; sbx_preview_5173=$PV_TOKEN" \
        "hello" "$(printf 'x%.0s' $(seq 1 300))" 2>&1) || fail "WebSocket client: $out"
    assert_eq "HTTP/1.1 101 Switching Protocols" "$(sed -n 1p <<<"$out")" "upgrade answer"
    assert_eq '{"type":"connected"}' "$(sed -n 2p <<<"$out")" "the server's push"
    assert_eq '{"type":"echo","data":"hello"}' "$(sed -n 3p <<<"$out")" "echo round trip"
    assert_contains "$(sed -n 4p <<<"$out")" "xxxxxxxxxx" "a 300-byte frame's echo"
    # without the cookie, no upgrade reaches the app
    out=$(python3 -c "$PV_WS_PY" "$PVP" "$PV_HOST:$PVP" "a=1" 2>&1)
    assert_contains "$out" "401" "WebSocket without the cookie"
    # keep-alive: requests on one connection, each checked; the app saw no token
    local n
    n=$(curl -sS --max-time 10 -o /dev/null -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
        -H "Host: $PV_HOST" -b "sbx_preview_5173=$PV_TOKEN" "http://127.0.0.1:$PVP/" \
        "http://127.0.0.1:$PVP/@vite/client" "http://127.0.0.1:$PVP/echo" | tr '\n' ' ')
    assert_eq "200 1 200 0 200 0 " "$n" "three requests on one kept-alive connection"
    local log
    log=$(pv_log "$sid" "$NP_PID")
    assert_contains "$log" '"GET /?token=x HTTP/1.1" 101 cookie=a=1' "the upgrade reached the app with its own cookie"
    assert_not_contains "$log" "sbx_preview" "the app's log"
    assert_not_contains "$log" "$PV_TOKEN" "the app's log"
    # another Host on the same connection: 400, and the connection ends
    out=$(pv_raw "GET / HTTP/1.1"$'\r\n'"Host: $PV_HOST"$'\r\n'"Cookie: sbx_preview_5173=$PV_TOKEN"$'\r\n\r\n'"GET / HTTP/1.1"$'\r\n'"Host: 3000-$sid.preview.localhost"$'\r\n\r\n')
    assert_contains "$out" "hello from dev server" "first request"
    assert_contains "$out" "HTTP/1.1 400" "a second Host on one connection"
    assert_not_contains "$out" "[timeout]" "the connection closed"
}

# PV_HOLD_PY PORT HOST COOKIE: a request the app never answers; prints
# "open" after a second, then how the connection ended.
PV_HOLD_PY='
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(("GET /slow HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n\r\n" % (sys.argv[2], sys.argv[3])).encode())
s.settimeout(1.0)
try:
    print("early %r" % s.recv(100), flush=True)
    sys.exit()
except socket.timeout:
    print("open", flush=True)
s.settimeout(30)
t = time.time()
try:
    d = s.recv(100)
except ConnectionResetError:
    d = b"reset"
print("closed %r after %.1f s" % (d, time.time() - t), flush=True)
'

test_preview_unexpose_answers_404_and_closes_open_connections() {
    new_session
    local sid=$SID
    pv_port
    pv_bg "$sid" '["sh","-c","sleep 600 | nc -l -p 4001"]' # accepts, never answers
    pv_wait_port "$sid" "$BG_PID" 4001
    pv_expose "$sid" 4001
    local tok=$PV_TOKEN
    python3 -c "$PV_HOLD_PY" "$PVP" "$PV_HOST" "sbx_preview_4001=$tok" >"$T/hold" 2>&1 &
    wait_until 10 grep -q open "$T/hold" || fail "the held request: $(cat "$T/hold")"
    api DELETE "/v1/sessions/$sid/ports/4001"
    assert_eq 204 "$API_CODE" "DELETE .../ports/4001: $(short "$API_BODY")"
    wait_until 5 grep -q closed "$T/hold" || fail "the open preview connection was not closed: $(cat "$T/hold")"
    pv_get "$PV_HOST" / -b "sbx_preview_4001=$tok"
    assert_eq 404 "$PV_CODE" "the unexposed port"
    api GET "/v1/sessions/$sid/ports"
    assert_eq 0 "$(jb '.ports | length')" "ports listed after DELETE"
    api DELETE "/v1/sessions/$sid/ports/4001"
    expect_error 404 not_exposed "4001"
    # exposed again: a new token, the old one is worthless
    pv_expose "$sid" 4001
    assert_ne "$tok" "$PV_TOKEN" "token after exposing again"
    # the CLI's --rm
    sbx expose --rm "$sid" 4001 || fail "sbx expose --rm"
    api GET "/v1/sessions/$sid/ports/4001"
    expect_error 404 not_exposed
    # an app that closes without answering: 502
    pv_bg "$sid" '["nc","-l","-p","4002"]' # stdin is empty: it closes at once
    pv_wait_port "$sid" "$BG_PID" 4002
    pv_expose "$sid" 4002
    pv_get "$PV_HOST" / -b "sbx_preview_4002=$PV_TOKEN"
    assert_eq 502 "$PV_CODE" "an app that closes without answering ($PV_BODY)"
    # nothing listening in the sandbox: 502 naming the port
    pv_expose "$sid" 4999
    pv_get "$PV_HOST" / -b "sbx_preview_4999=$PV_TOKEN"
    assert_eq 502 "$PV_CODE" "nothing listens on 4999"
    assert_contains "$PV_BODY" "port 4999" "502 names the port"
}

test_preview_session_delete_removes_its_exposures() {
    new_session
    local sid=$SID
    pv_httpd "$sid" 8000
    pv_port
    pv_expose "$sid" 8000
    pv_get "$PV_HOST" / -b "sbx_preview_8000=$PV_TOKEN"
    assert_eq 200 "$PV_CODE" "before DELETE"
    api DELETE "/v1/sessions/$sid"
    assert_eq 204 "$API_CODE" "DELETE the session"
    pv_get "$PV_HOST" / -b "sbx_preview_8000=$PV_TOKEN"
    assert_eq 404 "$PV_CODE" "the preview of a removed session"
    api GET "/v1/sessions/$sid/ports"
    expect_error 404 not_found
    # a new session on the same address and port is not reachable with the old token
    new_session
    pv_httpd "$SID" 8000
    pv_expose "$SID" 8000
    pv_get "$PV_HOST" / -b "sbx_preview_8000=$PV_TOKEN"
    assert_eq 200 "$PV_CODE" "the new session's preview"
}

test_preview_exposures_survive_sbxd_and_shim_restarts() {
    daemon_start pv --on-exit keep || fail "sbxd pv did not start"
    defer daemon_stop pv
    new_session
    local sid=$SID
    pv_httpd "$sid" 5173
    pv_port
    pv_expose "$sid" 5173
    local tok=$PV_TOKEN url=$PV_URL
    pv_get "$PV_HOST" / -b "sbx_preview_5173=$tok"
    assert_eq 200 "$PV_CODE" "before the restart"
    # the shim dies: sbxd starts another and hands it the exposures again
    local shim
    shim=$(pgrep -P "$(daemon_pid pv)" -x sbx-shim)
    [ -n "$shim" ] || fail "no sbx-shim child of sbxd pv"
    kill -KILL "$shim"
    _new_shim() { local p; p=$(pgrep -P "$(daemon_pid pv)" -x sbx-shim) && [ -n "$p" ] && [ "$p" != "$shim" ]; }
    wait_until 10 _new_shim || fail "sbxd did not restart sbx-shim"
    wait_until 10 eval 'pv_get "$PV_HOST" / -b "sbx_preview_5173=$tok"; [ "$PV_CODE" = 200 ]' ||
        fail "the preview after a shim restart: HTTP $PV_CODE $PV_BODY"
    # sbxd is killed and started again (a new port: --preview-listen 127.0.0.1:0)
    # the egress namespace of a predecessor that forwarded is made safe again
    nsenter --net="$STATE/egress.netns" sysctl -q -w net.ipv4.ip_forward=1
    daemon_stop pv KILL
    daemon_start pv --on-exit keep || fail "sbxd does not start over a killed one"
    assert_eq 0 "$(nsenter --net="$STATE/egress.netns" sysctl -n net.ipv4.conf.all.forwarding)" \
        "forwarding in the reused egress namespace"
    pv_port
    api GET "/v1/sessions/$sid/ports/5173"
    assert_eq 200 "$API_CODE" "the exposure after the restart"
    assert_eq "$tok" "$(jb .token)" "the token after the restart"
    assert_eq "${url/:[0-9]*\//:$PVP/}" "$(jb .url)" "the URL (on the new port)"
    pv_get "$PV_HOST" / -b "sbx_preview_5173=$tok"
    assert_eq 200 "$PV_CODE" "the old cookie after the restart"
    assert_eq "hello from 5173" "$PV_BODY" "the app after the restart"
    # a clean stop (--on-exit keep) and start
    daemon_stop pv TERM
    daemon_start pv --on-exit remove || fail "sbxd pv does not start again"
    pv_port
    pv_get "$PV_HOST" / -b "sbx_preview_5173=$tok"
    assert_eq 200 "$PV_CODE" "after a SIGTERM with --on-exit keep"
    api DELETE "/v1/sessions/$sid"
    daemon_stop pv
    LEAK_WHAT="after stopping" assert_no_leaks pv
}

test_preview_hostile_requests_and_api_inputs_are_refused() {
    new_session
    local sid=$SID
    pv_httpd "$sid" 5173
    pv_port
    # the API: ports out of range, wrong types, unknown fields, bad paths
    local body
    for body in '{"port":0}' '{"port":70000}' '{"port":-1}' '{"port":"5173"}' '{"port":5173.5}' '{}' \
        '{"port":5173,"id":"000000000000"}' '[5173]'; do
        api POST "/v1/sessions/$sid/ports" "$body"
        API_WHAT="POST $body" expect_error 400 '*'
    done
    api POST "/v1/sessions/$sid/ports" '{"port":70000}'
    expect_error 400 invalid_request "port" "65535"
    for p in 0 70000 abc 05173 -1 5173x; do
        api DELETE "/v1/sessions/$sid/ports/$p"
        API_WHAT="DELETE .../ports/$p" expect_error 400 invalid_request "port"
    done
    api POST "/v1/sessions/000000000000/ports" '{"port":5173}'
    expect_error 404 not_found
    api PUT "/v1/sessions/$sid/ports" '{"port":5173}'
    expect_error 405 method_not_allowed
    api POST "/v1/sessions/$sid/ports/5173" '{}'
    expect_error 405 method_not_allowed
    # many ports: 32 at most
    local i
    for i in $(seq 1 32); do
        api POST "/v1/sessions/$sid/ports" "{\"port\":$((10000 + i))}"
        assert_eq 201 "$API_CODE" "port $i of 32"
    done
    api POST "/v1/sessions/$sid/ports" '{"port":5173}'
    expect_error 409 too_many_ports "32" "DELETE"
    api GET "/v1/sessions/$sid/ports"
    assert_eq 32 "$(jb '.ports | length')" "ports after the refused 33rd"
    api DELETE "/v1/sessions/$sid/ports/10001"
    assert_eq 204 "$API_CODE" "unexpose one"
    pv_expose "$sid" 5173
    local tok=$PV_TOKEN h=$PV_HOST
    # the listener: hostile heads get 4xx and never reach the app
    local out big
    big=$(printf 'a%.0s' $(seq 1 300))
    out=$(pv_raw "GET / HTTP/1.1"$'\r\n'"Host: 5173-$sid.$big.localhost"$'\r\n\r\n')
    assert_contains "$out" "HTTP/1.1 400" "a 300-byte Host"
    big=$(head -c 40000 /dev/zero | tr '\0' a)
    out=$(pv_raw "GET /?$big HTTP/1.1"$'\r\n'"Host: $h"$'\r\n\r\n')
    assert_contains "$out" "HTTP/1.1 400" "a 40 KB request line"
    out=$(pv_raw "GET / HTTP/1.1"$'\r\n'"Host: $h"$'\r\n'"X-Big: $big"$'\r\n\r\n')
    assert_contains "$out" "HTTP/1.1 400" "a 40 KB header"
    out=$(pv_raw "GET / HTTP/1.1"$'\r\n'"Cookie: sbx_preview_5173=$tok"$'\r\n\r\n')
    assert_contains "$out" "HTTP/1.1 400" "no Host"
    out=$(pv_raw "GET / HTTP/1.1"$'\r\n'"Host: $h"$'\r\n'"Host: $h"$'\r\n'"Cookie: sbx_preview_5173=$tok"$'\r\n\r\n')
    assert_contains "$out" "HTTP/1.1 400" "two Host headers"
    out=$(pv_raw "GET http://$h/ HTTP/1.1"$'\r\n'"Host: $h"$'\r\n'"Cookie: sbx_preview_5173=$tok"$'\r\n\r\n')
    assert_contains "$out" "HTTP/1.1 400" "an absolute-form target"
    out=$(pv_raw "CONNECT $h:80 HTTP/1.1"$'\r\n'"Host: $h"$'\r\n\r\n')
    assert_contains "$out" "HTTP/1.1 405" "CONNECT"
    out=$(pv_raw "GET / HTTP/1.1"$'\r\n'"Host: $h"$'\r\n'"X-A: 1"$'\r\n'" sbx_preview_5173=$tok"$'\r\n'"Cookie: sbx_preview_5173=$tok"$'\r\n\r\n')
    assert_contains "$out" "HTTP/1.1 400" "a folded header"
    out=$(pv_raw "GET / HTTP/1.1"$'\r\n'"Host: $h:notaport"$'\r\n'"Cookie: sbx_preview_5173=$tok"$'\r\n\r\n')
    assert_match "$out" "HTTP/1.1 40[04]" "a Host with a bad port"
    out=$(pv_raw $'\x16\x03\x01\x00\x05hello')
    assert_contains "$out" "HTTP/1.1 400" "TLS bytes"
    out=$(pv_raw "GET / HTTP/1.1"$'\r\n'"Host: 5173-$sid.preview.localhost"$'\r\n'"Content-Length: 5"$'\r\n'"Transfer-Encoding: chunked"$'\r\n'"Cookie: sbx_preview_5173=$tok"$'\r\n\r\n0\r\n\r\n')
    assert_contains "$out" "HTTP/1.1 400" "Content-Length with Transfer-Encoding"
    # a request smuggled behind a refused one goes nowhere
    out=$(pv_raw "GET / HTTP/1.1"$'\r\n'"Host: $h"$'\r\n\r\n'"GET /?smuggled HTTP/1.1"$'\r\n'"Host: $h"$'\r\n'"Cookie: sbx_preview_5173=$tok"$'\r\n\r\n')
    assert_contains "$out" "HTTP/1.1 401" "the first request"
    assert_not_contains "$out" "hello from" "the request behind it"
    assert_not_contains "$(pv_log "$sid" "$HTTPD_PID")" "url:" "the app's log after hostile requests only"
    # and a good request still works
    pv_get "$h" / -b "sbx_preview_5173=$tok"
    assert_eq 200 "$PV_CODE" "a good request after them"
    assert_health
}

test_preview_disabled_answers_409_naming_the_flag() {
    daemon_start pv --preview-listen off || fail "sbxd pv did not start"
    defer daemon_stop pv
    api GET /v1/health
    assert_eq null "$(jb .preview)" "health's preview when off"
    new_session
    api POST "/v1/sessions/$SID/ports" '{"port":5173}'
    expect_error 409 preview_disabled "--preview-listen"
    api GET "/v1/sessions/$SID/ports"
    assert_eq 0 "$(jb '.ports | length')" "ports listed"
    # bad flags stop start-up with a message
    local out rc
    out=$("$SBX_BUILD/sbxd" --socket "$T/x.sock" --state-dir "$T/x" --cgroup-name "$CGN-x" \
        --preview-listen nope 2>&1)
    rc=$?
    assert_eq "2 yes" "$rc $([[ "$out" == *--preview-listen* ]] && echo yes)" "an invalid --preview-listen: [$out]"
    out=$("$SBX_BUILD/sbxd" --socket "$T/x.sock" --state-dir "$T/x" --cgroup-name "$CGN-x" \
        --preview-domain 'a/b' 2>&1)
    rc=$?
    assert_eq "2 yes" "$rc $([[ "$out" == *--preview-domain* ]] && echo yes)" "an invalid --preview-domain: [$out]"
    api DELETE "/v1/sessions/$SID"
    daemon_stop pv
}

test_sandbox_cannot_reach_another_sessions_ports_directly() {
    new_session
    local a=$SID
    pv_httpd "$a" 8080
    local addr
    addr=$(session_field "$a" .network.address)
    [[ "$addr" =~ ^100\.100\. ]] || fail "session A's address: [$addr]"
    new_session
    local b=$SID
    in_sbx "$b" "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 $addr 8080; echo rc=\$?"
    assert_not_contains "$SX_OUT" "hello from" "session B connecting to session A's $addr:8080"
    in_sbx "$b" "timeout 3 wget -q -O - http://$addr:8080/ 2>&1; echo rc=\$?"
    assert_not_contains "$SX_OUT" "hello from" "wget from B to A"
    assert_not_contains "$(pv_log "$a" "$HTTPD_PID")" "url:" "session A's server log"
    # nothing forwards between the sessions' links in the egress namespace
    local k
    for k in ip_forward conf.all.forwarding conf.default.forwarding "conf.sbx$a.forwarding"; do
        assert_eq 0 "$(nsenter --net="$STATE/egress.netns" sysctl -n "net.ipv4.$k" 2>&1)" "net.ipv4.$k in the egress namespace"
    done
    # A itself reaches its own server on its own address
    in_sbx "$a" "timeout 3 wget -q -O - http://$addr:8080/"
    assert_eq "hello from 8080" "$SX_OUT" "session A's own server"
}
