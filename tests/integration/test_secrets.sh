# Secrets at egress and the TLS the shim terminates (docs/secrets.md),
# against a fake internet: a network namespace this file creates, with HTTPS
# servers whose certificates a test CA signed (sbxd --upstream-ca trusts it)
# and one whose certificate nobody signed. Sandboxes use netprobe
# (tests/tools/netprobe.c), a static HTTPS client, copied in.
#
#   api.secret.test, x.secret.test -> 93.184.216.34   (test CA)
#   other.test                     -> 151.101.1.1     (test CA)
#   bad.test                       -> 151.101.1.2     (self-signed: refused)
#
# The servers never send a header value back: they answer with its SHA-256,
# and log what they received (request line, headers) on the host, where the
# tests look for the value.

SEC_SERVER_PY='
import http.server, socketserver, ssl, sys, threading, hashlib, json, time
LOG = open(sys.argv[1], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        LOG.write("%s %s %s\n" % (self.server.server_address[0], self.requestline,
                  json.dumps(dict(self.headers.items()))))
        if self.headers.get("Upgrade", "").lower() == "websocket":
            import base64, struct
            key = self.headers.get("Sec-WebSocket-Key", "")
            acc = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", acc)
            self.end_headers()
            self.wfile.flush()
            def frame(t):
                b = t.encode()
                return bytes([0x81, len(b)]) + b
            auth = hashlib.sha256((self.headers.get("Authorization") or "").encode()).hexdigest()
            self.wfile.write(frame("hello auth_sha=" + auth)); self.wfile.flush()
            h = self.rfile.read(2)
            n = h[1] & 0x7f
            if n == 126: n = struct.unpack(">H", self.rfile.read(2))[0]
            mask = self.rfile.read(4) if h[1] & 0x80 else b"\0\0\0\0"
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(self.rfile.read(n)))
            self.wfile.write(frame("echo " + data.decode())); self.wfile.flush()
            self.close_connection = True
            return
        if self.path.startswith("/sse"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(5):
                chunk = ("data: event %d\n\n" % i).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                time.sleep(0.3)
            self.wfile.write(b"0\r\n\r\n")
            return
        auth = self.headers.get("Authorization") or ""
        out = json.dumps({"addr": self.server.server_address[0], "path_sha": hashlib.sha256(self.path.encode()).hexdigest(),
                          "auth_sha": hashlib.sha256(auth.encode()).hexdigest(),
                          "x_key_sha": hashlib.sha256((self.headers.get("X-Key") or "").encode()).hexdigest(),
                          "body_len": len(body)}).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    do_GET = do_POST = do_PUT = do_DELETE = handle_any
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
servers = []
for addr, cert in (("93.184.216.34", "api"), ("151.101.1.1", "other"), ("151.101.1.2", "bad")):
    s = S((addr, 443), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2] + "/" + cert + ".pem", sys.argv[2] + "/" + cert + ".key")
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
    servers.append(s)
servers.append(S(("93.184.216.34", 80), H))
for s in servers:
    threading.Thread(target=s.serve_forever, daemon=True).start()
sys.stderr.write("ready\n"); sys.stderr.flush()
threading.Event().wait()
'

SEC_VALUE="ghp_R3alT0ken-$$-only-upstream-sees-this"

# sec_up: CA, certificates, the fake internet, daemon "sec". Sets SEC_NS,
# UPLOG (what the servers received), AUDIT.
sec_up() {
    command -v python3 >/dev/null || skip "python3 not installed"
    command -v openssl >/dev/null || skip "openssl not installed"
    [ -x "$SBX_BUILD/tests/netprobe" ] || skip "netprobe not built (make)"
    local d=$T/pki
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=sbx test upstream CA" -keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1 ||
        fail "openssl: test CA"
    local n san
    for n in api other; do
        case $n in
        api) san="DNS:api.secret.test,DNS:x.secret.test" ;;
        other) san="DNS:other.test" ;;
        esac
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$n" \
            -keyout "$d/$n.key" -out "$d/$n.csr" >/dev/null 2>&1 || fail "openssl: $n key"
        printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >"$d/$n.ext"
        openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
            -days 2 -extfile "$d/$n.ext" -out "$d/$n.pem" >/dev/null 2>&1 || fail "openssl: sign $n"
    done
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=bad.test -addext "subjectAltName=DNS:bad.test" -keyout "$d/bad.key" \
        -out "$d/bad.pem" >/dev/null 2>&1 || fail "openssl: bad.test"
    SEC_NS="sbxit-sec-$$"
    ip netns add "$SEC_NS" || fail "ip netns add $SEC_NS"
    defer "ip netns delete $SEC_NS"
    stat -L -c %i "/run/netns/$SEC_NS" >>"$IT_RUN/netns.extra"
    local ns="ip netns exec $SEC_NS" a
    $ns ip link set lo up
    for a in 93.184.216.34 151.101.1.1 151.101.1.2; do
        $ns ip addr add "$a/32" dev lo || fail "address $a"
    done
    UPLOG=$T/upstream.log
    : >"$UPLOG"
    $ns python3 -c "$SEC_SERVER_PY" "$UPLOG" "$d" 2>"$T/sec-server.err" &
    local spid=$!
    defer "kill $spid"
    wait_until 10 grep -q ready "$T/sec-server.err" ||
        fail "fake internet servers did not start: $(cat "$T/sec-server.err")"
    cat >"$T/hosts" <<'EOF'
93.184.216.34 api.secret.test x.secret.test
151.101.1.1 other.test
151.101.1.2 bad.test
EOF
    mkdir -p "$T/node-secrets"
    chmod 700 "$T/node-secrets"
    daemon_start sec --shim-netns "/run/netns/$SEC_NS" --shim-hosts "$T/hosts" \
        --upstream-ca "$d/ca.pem" --secrets-dir "$T/node-secrets"
    AUDIT=$IT_RUN/sec/egress.jsonl
}

ALLOW_ALL='"network":{"allow":["api.secret.test","x.secret.test","other.test","bad.test"]}'

# sec_session SECRETS_JSON [MORE_FIELDS]: a session with those secrets and
# netprobe in /usr/local/bin (SID).
sec_session() {
    new_session "{\"image\":\"busybox\",$ALLOW_ALL,\"secrets\":$1${2:+,$2}}"
    sbx cp "$SBX_BUILD/tests/netprobe" "$SID:/tmp/netprobe" 2>"$T/err" ||
        fail "sbx cp netprobe: $(cat "$T/err")"
    as_root "$SID" "chmod 755 /tmp/netprobe"
}

# probe ARGS...: netprobe in the session (SX_RC/SX_OUT/SX_ERR); ARGS go
# through sh -c, so "\$TOKEN" expands inside the sandbox.
probe() { sx -t 30 "$SID" -- sh -c "/tmp/netprobe $*"; }

sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

audit_has() {
    wait_until 5 _audit_match "$1" || fail "$2: no audit line matches [$1]; last lines: $(tail -n 5 "$AUDIT" 2>/dev/null)"
}
_audit_match() { [ -s "$AUDIT" ] && jq -e -s "map(select($1)) | length > 0" "$AUDIT" >/dev/null 2>&1; }

token_secret() { # [EXTRA FIELDS]
    printf '{"TOKEN":{"value":"%s","hosts":["api.secret.test"]%s}}' "$SEC_VALUE" "${1:+,$1}"
}

test_secret_value_reaches_only_its_hosts_in_headers_basic_auth_and_query() {
    sec_up
    sec_session "$(token_secret '"query":true')"
    probe 'get https://api.secret.test/h -H "Authorization: Bearer $TOKEN"'
    assert_eq 0 "$SX_RC" "HTTPS request with the placeholder ($SX_ERR)"
    assert_eq "$(sha "Bearer $SEC_VALUE")" "$(jq -r .auth_sha <<<"$SX_OUT")" \
        "the upstream got the value in Authorization"
    grep -q "GET /h .*Bearer $SEC_VALUE" "$UPLOG" || fail "upstream log lacks the value: $(tail -n 3 "$UPLOG")"
    # Basic auth: the placeholder inside base64
    probe 'get https://api.secret.test/b -H "Authorization: Basic $(printf "bot:%s" "$TOKEN" | base64 -w0)"'
    assert_eq 0 "$SX_RC" "Basic auth request ($SX_ERR)"
    assert_eq "$(sha "Basic $(printf 'bot:%s' "$SEC_VALUE" | base64 -w0)")" "$(jq -r .auth_sha <<<"$SX_OUT")" \
        "the upstream got the value inside Basic credentials"
    # the query string ("query": true)
    probe 'get "https://api.secret.test/q?key=$TOKEN&x=1"'
    assert_eq 0 "$SX_RC" "query request ($SX_ERR)"
    assert_eq "$(sha "/q?key=$SEC_VALUE&x=1")" "$(jq -r .path_sha <<<"$SX_OUT")" "value in the query"
    audit_has ".session == \"$SID\" and .proto == \"https\" and .event == \"request\" and .secrets == [\"TOKEN\"] and .status == 200" \
        "request line naming the injected secret"
    ! grep -q "$SEC_VALUE" "$AUDIT" || fail "the audit log holds the secret value"
}

test_placeholder_to_another_host_is_denied_and_never_replaced() {
    sec_up
    # x.secret.test is terminated too (OTHER is bound to it): the shim sees TOKEN's placeholder there
    sec_session "{\"TOKEN\":{\"value\":\"$SEC_VALUE\",\"hosts\":[\"api.secret.test\"]},\"OTHER\":{\"value\":\"o-$$\",\"hosts\":[\"x.secret.test\"]}}"
    probe 'get https://x.secret.test/steal -H "Authorization: Bearer $TOKEN" --ok-any'
    assert_contains "$SX_ERR" "403" "the shim answers 403"
    assert_contains "$SX_OUT" "TOKEN" "the refusal names the secret"
    ! grep -q "GET /steal" "$UPLOG" || fail "the request reached x.secret.test"
    audit_has ".session == \"$SID\" and .decision == \"deny\" and .requested_host == \"x.secret.test\" and (.reason | test(\"TOKEN\"))" \
        "denied request naming the secret"
    # plain HTTP, even to the secret's own host: values only travel encrypted
    probe 'get http://api.secret.test/plain -H "X-Key: $TOKEN" --ok-any'
    assert_contains "$SX_ERR" "403" "plain HTTP with a placeholder"
    ! grep -q "GET /plain" "$UPLOG" || fail "the plain-HTTP request reached the upstream"
    # a host the shim does not terminate gets the placeholder as it is, never the value
    sbx cp "$T/pki/ca.pem" "$SID:/tmp/upstream-ca.pem" 2>"$T/err" || fail "sbx cp: $(cat "$T/err")"
    probe 'get https://other.test/pass -H "Authorization: Bearer $TOKEN" --ca /tmp/upstream-ca.pem'
    assert_eq 0 "$SX_RC" "other.test over passed-through TLS ($SX_ERR)"
    grep -q "GET /pass .*Bearer sbx_secret_" "$UPLOG" || fail "other.test did not get the placeholder: $(tail -n 2 "$UPLOG")"
    ! grep -q -F "$SEC_VALUE" <(grep 151.101.1.1 "$UPLOG") || fail "other.test saw the value"
}

test_secret_value_never_appears_inside_the_sandbox_or_in_sbxd_state() {
    sec_up
    sec_session "$(token_secret)"
    probe 'get https://api.secret.test/x -H "Authorization: Bearer $TOKEN"'
    assert_eq 0 "$SX_RC" "request ($SX_ERR)"
    # a background process lives on while we look
    sx -d "$SID" -- sleep 60
    in_sbx "$SID" 'echo "$TOKEN"'
    assert_match "$SX_OUT" '^sbx_secret_[0-9a-f]{40}$' "the sandbox holds a placeholder"
    local ph=$SX_OUT
    as_root "$SID" "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c -F '$SEC_VALUE'; true"
    assert_eq 0 "${SX_OUT:-0}" "value in the environment of a sandbox process"
    as_root "$SID" "grep -r -l -F '$SEC_VALUE' / 2>/dev/null | grep -v '^/proc/' ; true"
    assert_eq "" "$SX_OUT" "files in the sandbox holding the value"
    api GET "/v1/sessions/$SID"
    assert_not_contains "$API_BODY" "$SEC_VALUE" "GET session"
    assert_contains "$API_BODY" "$ph" "GET session shows the placeholder"
    ! grep -r -q -F "$SEC_VALUE" "$STATE" 2>/dev/null || fail "sbxd's state dir holds the value: $(grep -r -l -F "$SEC_VALUE" "$STATE")"
    ! grep -q -F "$SEC_VALUE" "$DLOG" || fail "the daemon log holds the value"
    local shim
    shim=$(pgrep -P "$(daemon_pid sec)" -x sbx-shim | head -n 1)
    [ -n "$shim" ] || fail "no sbx-shim child"
    ! tr '\0' '\n' <"/proc/$shim/environ" | grep -q -F "$SEC_VALUE" || fail "the shim's environment holds it"
    ! tr '\0' ' ' <"/proc/$shim/cmdline" | grep -q -F "$SEC_VALUE" || fail "the shim's command line holds it"
    # the sandbox's root cannot read the shim's memory: another user, another namespace
    as_root "$SID" "cat /proc/$shim/environ"
    [ "$SX_RC" != 0 ] || fail "the sandbox read the shim's environ"
}

test_require_refuses_requests_that_carry_no_placeholder() {
    sec_up
    sec_session "$(token_secret '"require":true')"
    probe 'get https://api.secret.test/anon --ok-any'
    assert_contains "$SX_ERR" "403" "request without the required placeholder"
    assert_contains "$SX_OUT" "required" "the refusal says why"
    probe 'get https://api.secret.test/auth -H "Authorization: Bearer $TOKEN"'
    assert_eq 0 "$SX_RC" "request with the placeholder ($SX_ERR)"
    grep -q "GET /anon" "$UPLOG" && fail "the refused request reached the upstream"
    return 0
}

test_streaming_response_streams_through_terminated_tls() {
    sec_up
    sec_session "$(token_secret)"
    probe 'get https://api.secret.test/sse -H "Authorization: Bearer $TOKEN" --lines-ts'
    assert_eq 0 "$SX_RC" "SSE request ($SX_ERR)"
    local first last n
    n=$(grep -c 'data: event' <<<"$SX_OUT")
    assert_eq 5 "$n" "events received"
    first=$(grep 'data: event 0' <<<"$SX_OUT" | awk '{print $1}')
    last=$(grep 'data: event 4' <<<"$SX_OUT" | awk '{print $1}')
    # the server spaces them 300 ms apart: buffered, they would arrive together
    assert_ge "$((last - first))" 900 "ms between the first and the last event"
}

test_websocket_upgrade_passes_a_terminated_host_with_the_secret_injected() {
    sec_up
    sec_session "$(token_secret)"
    probe 'ws wss://api.secret.test/ws -H "Authorization: Bearer $TOKEN" --send ping-ws'
    assert_eq 0 "$SX_RC" "WebSocket over terminated TLS ($SX_ERR)"
    assert_contains "$SX_OUT" "hello auth_sha=$(sha "Bearer $SEC_VALUE")" "the upgrade request carried the value"
    assert_contains "$SX_OUT" "echo ping-ws" "frames both ways"
    audit_has ".session == \"$SID\" and .proto == \"https\" and .status == 101 and .secrets == [\"TOKEN\"]" "the upgrade's request line"
}

test_keepalive_requests_on_one_terminated_connection_each_get_the_secret() {
    sec_up
    sec_session "$(token_secret)"
    probe 'get https://api.secret.test/k -H "Authorization: Bearer $TOKEN" --keepalive 5'
    assert_eq 0 "$SX_RC" "5 requests on one connection ($SX_ERR)"
    assert_eq 5 "$(grep -c "auth_sha" <<<"$SX_OUT")" "answers"
    assert_eq 5 "$(grep -c "GET /k .*Bearer $SEC_VALUE" "$UPLOG")" "requests with the value upstream"
    local closes="map(select(.session == \"$SID\" and .event == \"close\" and .requested_host == \"api.secret.test\")) | length"
    wait_until 5 sh -c "[ \"\$(jq -s '$closes' '$AUDIT')\" -ge 1 ]" || fail "no close line: $(tail -n 3 "$AUDIT")"
    assert_eq 1 "$(jq -s "$closes" "$AUDIT")" "one connection"
}

test_bad_upstream_certificate_is_refused() {
    sec_up
    sec_session '{"BAD":{"value":"v-bad-123","hosts":["bad.test"]}}'
    probe 'get https://bad.test/ -H "Authorization: $BAD" --ok-any'
    assert_contains "$SX_ERR" "502" "the shim answers 502"
    assert_contains "$SX_OUT" "not trusted" "the refusal says why"
    ! grep -q "151.101.1.2" "$UPLOG" || fail "a request reached bad.test"
    audit_has ".session == \"$SID\" and .requested_host == \"bad.test\" and .status == 502 and (.reason | test(\"not trusted\"))" \
        "audited refusal"
}

test_sandbox_trusts_the_node_ca_through_its_bundle_and_env() {
    sec_up
    sec_session "$(token_secret)"
    in_sbx "$SID" 'echo "$SSL_CERT_FILE $NODE_EXTRA_CA_CERTS $REQUESTS_CA_BUNDLE $CURL_CA_BUNDLE $GIT_SSL_CAINFO"'
    assert_eq "/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/sbx-node-ca.pem /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt" \
        "$SX_OUT" "CA variables"
    in_sbx "$SID" 'cat /etc/ssl/certs/sbx-node-ca.pem'
    assert_eq "$(cat "$STATE/ca.pem")" "$SX_OUT" "the sandbox's CA is the node's"
    # the leaf the shim presents verifies for the name asked, through the bundle the variables name
    probe 'get https://api.secret.test/ok'
    assert_eq 0 "$SX_RC" "verified by the node CA through SSL_CERT_FILE ($SX_ERR)"
    # without the node CA, the terminated connection does not verify
    probe 'get https://api.secret.test/ --ca /etc/ssl/certs/none.pem --ok-any'
    [ "$SX_RC" != 0 ] || fail "verified without the CA"
    # hosts not inspected pass through: the sandbox sees the real certificate
    probe 'get https://other.test/pass --ca /etc/ssl/certs/sbx-node-ca.pem --ok-any'
    assert_eq 3 "$SX_RC" "other.test's own certificate is not the node CA's ($SX_ERR)"
}

test_http_rules_allow_only_listed_methods_and_paths() {
    sec_up
    new_session '{"image":"busybox","network":{"allow":["api.secret.test"],"http":{"api.secret.test":["GET /repos/**","POST /repos/*/issues"]}}}'
    sbx cp "$SBX_BUILD/tests/netprobe" "$SID:/tmp/netprobe" 2>"$T/err" || fail "sbx cp: $(cat "$T/err")"
    as_root "$SID" "chmod 755 /tmp/netprobe"
    probe 'get https://api.secret.test/repos/a/b'
    assert_eq 0 "$SX_RC" "GET /repos/a/b ($SX_ERR)"
    probe 'get https://api.secret.test/repos/a/issues -X POST -d x'
    assert_eq 0 "$SX_RC" "POST /repos/a/issues ($SX_ERR)"
    local p
    for p in "-X DELETE https://api.secret.test/repos/a" "https://api.secret.test/admin" \
        "https://api.secret.test/repos/../admin" "https://api.secret.test/repos/%2e%2e/admin" \
        "https://api.secret.test/repos/a%2Fb" "-X POST -d x https://api.secret.test/repos/a/b/issues"; do
        probe "get $p --ok-any"
        assert_contains "$SX_ERR" "403" "refused: $p"
    done
    ! grep -q "/admin\|DELETE\|%2F\|/b/issues" "$UPLOG" || fail "a refused request reached the upstream: $(cat "$UPLOG")"
    audit_has ".session == \"$SID\" and .decision == \"allow\" and .rule == \"api.secret.test GET /repos/**\"" "allowed by rule"
}

test_secret_errors_are_clear_and_leave_nothing_behind() {
    sec_up
    local body
    for body in '{"A":{"value":"x\ny","hosts":["api.secret.test"]}}|CR, LF' \
        '{"A":{"value":"x"}}|hosts' \
        '{"A":{"value":"x","hosts":["10.0.0.1:80"]}}|not a host name' \
        '{"1A":{"value":"x","hosts":["a.test"]}}|environment variable' \
        '{"A":{"node":"nope"}}|no node secret' \
        '{"A":{"value":"x","hosts":["a.test"],"sneaky":1}}|sneaky'; do
        api POST /v1/sessions "{\"image\":\"busybox\",\"secrets\":${body%|*}}"
        API_WHAT="secrets ${body%|*}" expect_error 400 invalid_request "${body#*|}"
    done
    api POST /v1/sessions '{"image":"busybox","env":{"A":"1"},"secrets":{"A":{"value":"x","hosts":["a.test"]}}}'
    expect_error 400 invalid_request "both"
    # a node secret readable by others is refused
    printf '{"value":"node-value-%s","hosts":["api.secret.test"]}' "$$" >"$T/node-secrets/gh.json"
    chmod 644 "$T/node-secrets/gh.json"
    api POST /v1/sessions '{"image":"busybox","secrets":{"GH":{"node":"gh"}}}'
    assert_eq 500 "$API_CODE" "world-readable node secret"
    assert_contains "$API_BODY" "chmod 600" "the message says how to fix it"
    chmod 600 "$T/node-secrets/gh.json"
    api GET /v1/sessions
    assert_eq 0 "$(jq '.sessions | length' <<<"$API_BODY")" "sessions after refusals"
    assert_no_leaks sec
    # and used properly, the node secret's value reaches its host
    sec_session '{"GH":{"node":"gh"}}'
    api GET "/v1/sessions/$SID"
    assert_eq "node:gh" "$(jb .secrets.GH.source)" "source"
    probe 'get https://api.secret.test/n -H "Authorization: token $GH"'
    assert_eq 0 "$SX_RC" "node secret request ($SX_ERR)"
    grep -q "GET /n .*token node-value-$$" "$UPLOG" || fail "the node secret did not reach the upstream"
}

test_secrets_are_refused_after_a_shim_restart_not_leaked() {
    sec_up
    sec_session "$(token_secret)"
    local shim
    shim=$(pgrep -P "$(daemon_pid sec)" -x sbx-shim | head -n 1)
    kill -9 "$shim"
    wait_until 15 sh -c "pgrep -P $(daemon_pid sec) -x sbx-shim | grep -qv '^$shim\$'" || fail "the shim was not restarted"
    sleep 0.5
    probe 'get https://api.secret.test/after -H "Authorization: Bearer $TOKEN" --ok-any'
    assert_contains "$SX_ERR" "403" "placeholder after the restart"
    assert_contains "$SX_OUT" "restarted" "the refusal says why"
    ! grep -q "GET /after" "$UPLOG" || fail "the request reached the upstream"
}
