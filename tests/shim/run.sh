#!/bin/bash
# tests/shim/run.sh [TEST...] - sbx-shim end to end, as root, without sbxd.
#
# Builds the picture of docs/network.md out of network namespaces:
#
#   sandbox s1 100.100.0.2 ─veth─┐                           "internet" netns:
#   sandbox s2 100.100.0.3 ─veth─┤ egress netns               lo: 93.184.216.34,
#     (+ .4 unknown, .5 .6 .7)   │  100.127.255.254,           151.101.1.1, 10.9.9.9
#                                │  local 0.0.0.0/0 dev lo     upstream.py: HTTP :80
#                                │  fake_sbxd.py: listeners ──► :8080, TLS :443,
#                                │  → fds → sbx-shim (runs in   banner :2222, DNS
#                                │         the internet netns)  127.0.0.1:53
#
# fake_sbxd.py plays sbxd's part of the control channel (shim/ctl.h); the
# shim resolves upstream with c-ares against upstream.py's DNS server (which
# logs every question), and test_hosts_file_mode restarts it with --hosts.
# Each behaviour is one function test_<behaviour> (they are meant to move into
# the integration suite driven through sbxd). Every namespace, process and
# file it made is removed on exit. Prints "N passed, N failed".
#
#   SBX_BUILD=build tests/shim/run.sh                  everything
#   tests/shim/run.sh test_sni_mismatch_reset ...      some tests
#   KEEP=1 tests/shim/run.sh                           keep the temp dir (logs)
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${SBX_BUILD:-build}
SHIM=$ROOT/$BUILD/sbx-shim

[ "$(id -u)" = 0 ] || { echo "tests/shim/run.sh: needs root (network namespaces)" >&2; exit 1; }
[ -x "$SHIM" ] || { echo "tests/shim/run.sh: $SHIM missing (make first)" >&2; exit 1; }
for c in ip curl jq openssl python3; do
    command -v $c >/dev/null || { echo "tests/shim/run.sh: needs $c" >&2; exit 1; }
done

ID=$(printf '%04x' $((RANDOM)))
NS_INET=sbxt$ID-inet NS_EG=sbxt$ID-egress NS_S1=sbxt$ID-s1 NS_S2=sbxt$ID-s2
T=$(mktemp -d /tmp/sbx-shim-test.XXXXXX)
AUDIT=$T/audit.jsonl UPLOG=$T/upstream.jsonl
PIDS=()
GW=100.127.255.254
S1=100.100.0.2 S2=100.100.0.3 STRANGER=100.100.0.4 S3=100.100.0.5 S4=100.100.0.6 S5=100.100.0.7

cleanup() {
    local rc=$? p ns
    [ -S "$T/ctl.sock" ] && python3 "$HERE/ctl.py" "$T/ctl.sock" '{"cmd":"stop"}' >/dev/null 2>&1
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for ns in $NS_S1 $NS_S2 $NS_EG $NS_INET; do
        # anything still running in our namespaces was started by this script
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
    done
    sleep 0.2
    for ns in $NS_S1 $NS_S2 $NS_EG $NS_INET; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
        rm -rf "/etc/netns/$ns"
    done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "tests/shim/run.sh: $*" >&2; [ -f "$T/shim.log" ] && tail -n 20 "$T/shim.log" >&2; exit 1; }

# ---------------------------------------------------------------- setup ----

setup_net() {
    local ns
    for ns in $NS_INET $NS_EG $NS_S1 $NS_S2; do ip netns add "$ns" || die "ip netns add $ns"; done
    ip -n $NS_INET link set lo up
    # the "public" and private addresses (on lo: no dummy module needed)
    for a in 93.184.216.34 151.101.1.1 10.9.9.9; do ip -n $NS_INET addr add $a/32 dev lo; done

    ip -n $NS_EG link set lo up
    # AnyIP: every address is local here (main table, so the /32s back win)
    ip -n $NS_EG route add local 0.0.0.0/0 dev lo

    sandbox_link $NS_S1 vs1 $S1
    sandbox_link $NS_S2 vs2 $S2 $STRANGER $S3 $S4 $S5

    mkdir -p /etc/netns/$NS_S1 /etc/netns/$NS_S2 /etc/netns/$NS_INET
    echo "nameserver $GW" >/etc/netns/$NS_S1/resolv.conf
    echo "nameserver $GW" >/etc/netns/$NS_S2/resolv.conf
    echo "nameserver 127.0.0.1" >/etc/netns/$NS_INET/resolv.conf
}

# sandbox_link NS EGRESS-IFNAME ADDR... : veth eth0 <-> egress, /32s, default via the gateway
sandbox_link() {
    local ns=$1 peer=$2 a
    shift 2
    ip -n "$ns" link add eth0 type veth peer name "$peer" netns $NS_EG || die "veth $ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    for a in "$@"; do ip -n "$ns" addr add "$a/32" dev eth0; done
    ip -n "$ns" route add $GW dev eth0 src "$1"
    ip -n "$ns" route add default via $GW dev eth0 src "$1"
    ip -n $NS_EG link set "$peer" up
    ip -n $NS_EG addr add $GW/32 dev "$peer"
    for a in "$@"; do ip -n $NS_EG route add "$a/32" dev "$peer"; done
}

setup_upstream() {
    cat >"$T/hosts" <<EOF
# the fake internet's names
93.184.216.34  allowed.test a.wild.test b.wild.test wild.test secret.wild.test
151.101.1.1    other.test
10.9.9.9       private.test
EOF
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
        -subj /CN=sbx-shim-test \
        -addext "subjectAltName=DNS:allowed.test,DNS:other.test,DNS:*.wild.test,DNS:private.test" \
        >/dev/null 2>&1 || die "openssl req"
    ip netns exec $NS_INET python3 "$HERE/upstream.py" --cert "$T/cert.pem" --key "$T/key.pem" \
        --hosts "$T/hosts" --log "$UPLOG" >"$T/upstream.log" 2>&1 &
    PIDS+=($!)
    wait_for "upstream servers" grep -qs ready "$T/upstream.log"
}

start_shim() {
    : >"$AUDIT"
    ip netns exec $NS_EG python3 "$HERE/fake_sbxd.py" --shim "$SHIM" --inet $NS_INET \
        --ctl "$T/ctl.sock" --log "$T/shim.log" --ports 80,443,2222,8080 -- \
        --audit "$AUDIT" --debug >"$T/fake_sbxd.log" 2>&1 &
    PIDS+=($!)
    wait_for "fake sbxd and the shim" test -S "$T/ctl.sock"
}

wait_for() {
    local what=$1 i
    shift
    for i in $(seq 100); do "$@" && return 0; sleep 0.1; done
    cat "$T"/*.log >&2 2>/dev/null
    die "timed out waiting for $what"
}

# ------------------------------------------------------------- helpers ----

ctl() { python3 "$HERE/ctl.py" "$T/ctl.sock" "$1"; }
send() { ctl "{\"cmd\":\"send\",\"msg\":$1}"; }
# session ID ADDR POLICY [LABELS]: add or replace; fails on an error ack
session() {
    local r
    r=$(send "{\"op\":\"session\",\"id\":\"$1\",\"addr\":\"$2\",\"labels\":${4:-{\}},\"policy\":$3}")
    jq -e '.error == null' <<<"$r" >/dev/null || { echo "    session $1 refused: $r"; return 1; }
}
remove() { send "{\"op\":\"remove\",\"id\":\"$1\"}" | jq -e '.error == null' >/dev/null; }
in_s1() { ip netns exec $NS_S1 "$@"; }
in_s2() { ip netns exec $NS_S2 "$@"; }
client() { local ns=$1; shift; ip netns exec "$ns" python3 "$HERE/client.py" "$@"; }
# curl_code NS ARGS... : sets CODE (the HTTP status, 000 when none) and CURL_RC; body in $T/body
curl_code() {
    local ns=$1
    shift
    rm -f "$T/body"
    CODE=$(ip netns exec "$ns" curl -sS -m 5 --cacert "$T/cert.pem" -o "$T/body" \
        -w '%{http_code}' "$@" 2>"$T/curl.err")
    CURL_RC=$?
}
body() { cat "$T/body" 2>/dev/null; }
# curl_from SRC NS ARGS... URL-NAME PORT URL: curl from a secondary address of NS: the
# name is resolved through the shim from SRC (the system resolver would ask from the
# namespace's primary address, i.e. as another session), then pinned with --resolve
curl_from() {
    local src=$1 ns=$2 name=$3 port=$4 ip
    shift 4
    ip=$(client "$ns" --src "$src" dns "$name" | jq -r '.answers[0] // "0.0.0.0"')
    curl_code "$ns" --interface "$src" --resolve "$name:$port:$ip" "$@"
}

FAILS=0
check() {
    local desc=$1
    shift
    if ! "$@"; then
        echo "    FAIL: $desc"
        FAILS=$((FAILS + 1))
    fi
}
# jq_ok JSON EXPR: the expression is true for JSON
jq_ok() { jq -e "$2" <<<"$1" >/dev/null 2>&1 || { echo "    got: $1" | head -c 600; echo; return 1; }; }
eq() { [ "$1" = "$2" ] || { echo "    expected \"$2\", got \"$1\""; return 1; }; }
contains() { grep -qF -- "$2" <<<"$1" || { echo "    \"$1\" lacks \"$2\"" | head -c 600; echo; return 1; }; }

MARK=0
audit_new() { tail -n +$((MARK + 1)) "$AUDIT"; }
# audit_has JQ-CONDITION: a line written during this test matches (waits up to 3 s)
audit_has() {
    local i
    for i in $(seq 30); do
        [ -n "$(audit_new | jq -c "select($1)" 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    echo "    no audit line with: $1"
    audit_new | tail -n 5 | sed 's/^/      /'
    return 1
}
audit_lacks() {
    [ -z "$(audit_new | jq -c "select($1)" 2>/dev/null)" ] && return 0
    echo "    unexpected audit line: $(audit_new | jq -c "select($1)" | head -1)"
    return 1
}
upstream_lacks() {
    [ -z "$(jq -c "select($1)" "$UPLOG" 2>/dev/null)" ] && return 0
    echo "    upstream saw: $(jq -c "select($1)" "$UPLOG" | head -1)"
    return 1
}

# The policies. s1 is the main session; the others are set by the tests that use them.
P1='{"allow":["allowed.test","*.wild.test","private.test","allowed.test:2222"],
     "deny":["secret.wild.test"],"allow_cidrs":["151.101.1.0/24:80"]}'
P1=$(jq -c . <<<"$P1")
LABELS1='{"team":"data","app":"shim-test"}'

# --------------------------------------------------------------- tests ----

test_control_channel() {
    local r
    r=$(ctl '{"cmd":"status"}')
    check "shim alive and ready" jq_ok "$r" '.alive and .ready'
    r=$(send '{"op":"session","id":"bad","addr":"100.100.9.9","policy":{"allow":["*"]}}')
    check "invalid policy refused, naming the field" jq_ok "$r" '.error | test("policy")'
    r=$(send '{"op":"session","id":"bad","addr":"not-an-ip","policy":{}}')
    check "bad addr refused" jq_ok "$r" '.error | test("addr")'
    r=$(send "{\"op\":\"session\",\"id\":\"dup\",\"addr\":\"$S1\",\"policy\":{}}")
    check "an address belongs to one session" jq_ok "$r" '.error | test("belongs")'
    r=$(send '{"op":"frobnicate"}')
    check "unknown op refused" jq_ok "$r" '.error | test("unknown")'
    r=$(send '{"op":"session","id":"x","addr":"100.100.9.9","policy":{},"extra":1}')
    check "unknown field refused" jq_ok "$r" '.error | test("extra")'
    r=$(send '{"op":"remove","id":"never-existed"}')
    check "remove of an unknown id is fine" jq_ok "$r" '.error == null'
    ctl '{"cmd":"raw","data":"{not json"}' >/dev/null
    ctl '{"cmd":"raw","data":"[1,2,3]"}' >/dev/null
    r=$(ctl '{"cmd":"status"}')
    check "garbage on the channel does not kill it" jq_ok "$r" '.alive'
    check "still answers" session s1 $S1 "$P1" "$LABELS1"
}

test_dns_allowed_gets_stable_fake_address() {
    local r a
    r=$(client $NS_S1 dns allowed.test)
    check "A answered from the fake net" jq_ok "$r" '.rcode == "NOERROR" and .id_ok and .qr and (.answers | length == 1) and (.answers[0] | startswith("198.1"))'
    a=$(jq -r '.answers[0]' <<<"$r")
    r=$(client $NS_S1 dns ALLOWED.Test.)
    check "same name, same address (case-insensitive)" jq_ok "$r" ".answers == [\"$a\"]"
    r=$(client $NS_S1 dns allowed.test --type AAAA)
    check "AAAA: NOERROR, no answer" jq_ok "$r" '.rcode == "NOERROR" and (.answers | length == 0)'
    r=$(client $NS_S1 dns allowed.test --type TXT)
    check "TXT: NOERROR, no answer" jq_ok "$r" '.rcode == "NOERROR" and (.answers | length == 0)'
    r=$(client $NS_S1 dns other.test)
    check "a denied name: NXDOMAIN" jq_ok "$r" '.rcode == "NXDOMAIN"'
    r=$(client $NS_S1 dns allowed.test --server 8.8.8.8)
    check "a query to any address is answered by the shim, from that address" \
        jq_ok "$r" ".rcode == \"NOERROR\" and .answers == [\"$a\"]"
    check "audit: query line" audit_has ".event==\"query\" and .requested_host==\"allowed.test\" and .qtype==\"A\" and .answer==\"$a\" and .decision==\"allow\" and .rule==\"allowed.test\" and .session==\"s1\" and .labels.team==\"data\" and .src==\"$S1\" and .dst_addr==\"$GW\""
    check "audit: AAAA line" audit_has '.event=="query" and .qtype=="AAAA" and .answer==null'
}

test_dns_denied_nxdomain_and_nothing_upstream() {
    local r
    r=$(client $NS_S1 dns denied.test)
    check "NXDOMAIN" jq_ok "$r" '.rcode == "NXDOMAIN" and (.answers | length == 0)'
    curl_code $NS_S1 http://denied.test/
    check "curl cannot resolve it" eq "$CURL_RC" 6
    check "audit: deny line" audit_has '.event=="query" and .requested_host=="denied.test" and .decision=="deny" and .reason != null'
    check "never asked upstream" upstream_lacks '.kind=="dns" and .qname=="denied.test"'
    check "allowed names are not asked upstream either (until a connection)" \
        upstream_lacks '.kind=="dns" and .qname=="other.test"'
}

test_dns_ip_literal_is_nxdomain() {
    local r
    r=$(client $NS_S1 dns 93.184.216.34)
    check "dotted quad: NXDOMAIN" jq_ok "$r" '.rcode == "NXDOMAIN"'
    r=$(client $NS_S1 dns 0x7f.1)
    check "hex short form: NXDOMAIN" jq_ok "$r" '.rcode == "NXDOMAIN"'
    check "audit says why" audit_has '.event=="query" and .requested_host=="0x7f.1" and .decision=="deny" and (.reason|test("literal"))'
}

test_dns_over_tcp() {
    local u t
    u=$(client $NS_S1 dns allowed.test | jq -r '.answers[0]')
    t=$(client $NS_S1 dns allowed.test --tcp)
    check "TCP answer equals UDP answer" jq_ok "$t" ".rcode == \"NOERROR\" and .answers == [\"$u\"]"
    t=$(client $NS_S1 dns other.test --tcp)
    check "TCP: denied is NXDOMAIN" jq_ok "$t" '.rcode == "NXDOMAIN"'
}

test_http_allowed_via_dns() {
    local code
    curl_code $NS_S1 'http://allowed.test/some/path?token=topsecret'; code=$CODE
    check "200 through the shim" eq "$code" 200
    check "upstream saw Host allowed.test on its public address" \
        jq_ok "$(body)" '.host == "allowed.test" and .local == "93.184.216.34:80" and .path == "/some/path?token=topsecret"'
    check "audit: request line with method, path (no query), status" \
        audit_has '.event=="request" and .proto=="http" and .method=="GET" and .path=="/some/path" and .status==200 and .decision=="allow" and .rule=="allowed.test" and .resolved_addr=="93.184.216.34" and .port==80 and (.dst_addr|startswith("198.1"))'
    check "audit: close line with bytes" \
        audit_has '.event=="close" and .proto=="http" and .bytes_in > 0 and .bytes_out > 0 and .duration_ms >= 0'
    check "the query string is never logged" audit_lacks 'tostring | test("topsecret")'
}

test_https_allowed_via_sni() {
    local code
    curl_code $NS_S1 https://allowed.test/tls-path; code=$CODE
    check "200 over TLS" eq "$code" 200
    check "upstream served TLS" jq_ok "$(body)" '.tls and .host == "allowed.test"'
    check "audit: connect line" audit_has '.event=="connect" and .proto=="tls" and .requested_host=="allowed.test" and .decision=="allow" and .port==443 and .resolved_addr=="93.184.216.34"'
    check "audit: close line" audit_has '.event=="close" and .proto=="tls" and .bytes_in > 1000 and .bytes_out > 200'
}

test_http_denied_port_gets_403() {
    local code
    curl_code $NS_S1 http://allowed.test:8080/; code=$CODE
    check "403" eq "$code" 403
    check "one-line reason" contains "$(body)" "sbx-shim: "
    check "body is a single line" eq "$(body | wc -l)" 1
    check "never reached upstream" upstream_lacks '.local == "93.184.216.34:8080"'
    check "audit: deny with 403" audit_has '.event=="request" and .port==8080 and .decision=="deny" and .status==403'
}

test_host_mismatch_gets_403() {
    local code
    curl_code $NS_S1 --connect-to other.test:80:allowed.test:80 http://other.test/; code=$CODE
    check "403" eq "$code" 403
    check "reason names the mismatch" contains "$(body)" "does not match the name allowed.test"
    check "never reached upstream" upstream_lacks '.host == "other.test"'
    check "audit" audit_has '.event=="request" and .requested_host=="other.test" and .decision=="deny" and .status==403'
    # an absolute-URI request whose host differs from the Host header
    local r
    r=$(client $NS_S1 http-seq allowed.test 80 "allowed.test/x")
    check "control: plain request passes" jq_ok "$r" '.results[0].status == 200'
}

test_sni_mismatch_reset() {
    local code
    curl_code $NS_S1 --connect-to other.test:443:allowed.test:443 https://other.test/; code=$CODE
    check "no HTTP answer" eq "$code" 000
    check "curl saw the connection fail" test "$CURL_RC" != 0
    check "audit: SNI mismatch" audit_has '.event=="connect" and .proto=="tls" and .decision=="deny" and (.reason|test("SNI")) and .requested_host=="other.test"'
    check "never reached upstream" upstream_lacks '.host == "other.test"'
}

test_tls_without_sni_reset() {
    local r
    r=$(client $NS_S1 tls allowed.test 443 --no-sni)
    check "refused" jq_ok "$r" '.error != null'
    check "audit" audit_has '.event=="connect" and .proto=="tls" and .decision=="deny" and (.reason|test("without SNI"))'
}

test_wildcard_matching() {
    local code r
    curl_code $NS_S1 http://a.wild.test/; code=$CODE
    check "*.wild.test allows a.wild.test" eq "$code" 200
    check "Host passed on" jq_ok "$(body)" '.host == "a.wild.test"'
    curl_code $NS_S1 https://b.wild.test/; code=$CODE
    check "and b.wild.test over TLS" eq "$code" 200
    r=$(client $NS_S1 dns wild.test)
    check "but not wild.test itself" jq_ok "$r" '.rcode == "NXDOMAIN"'
    r=$(client $NS_S1 dns secret.wild.test)
    check "a deny entry wins" jq_ok "$r" '.rcode == "NXDOMAIN"'
    check "audit names the wildcard rule" audit_has '.requested_host=="a.wild.test" and .rule=="*.wild.test"'
}

test_private_address_denied_after_resolution() {
    local code
    curl_code $NS_S1 http://private.test/; code=$CODE
    check "403" eq "$code" 403
    check "reason names the address and its class" contains "$(body)" "10.9.9.9 is private (RFC 1918)"
    curl_code $NS_S1 https://private.test/; code=$CODE
    check "TLS: refused" eq "$code" 000
    check "never connected" upstream_lacks '.local | startswith("10.9.9.9")'
    check "audit" audit_has '.event=="connect" and .proto=="tls" and .requested_host=="private.test" and .decision=="deny" and (.reason|test("forbidden"))'
}

test_direct_ip_connect() {
    local code
    curl_code $NS_S1 http://93.184.216.34/; code=$CODE
    check "a literal address no allow_cidrs rule covers: 403" eq "$code" 403
    curl_code $NS_S1 http://151.101.1.1/; code=$CODE
    check "allow_cidrs 151.101.1.0/24:80 lets it through" eq "$code" 200
    check "to exactly that address" jq_ok "$(body)" '.local == "151.101.1.1:80"'
    curl_code $NS_S1 -k https://151.101.1.1/; code=$CODE
    check "but only on port 80" eq "$code" 000
    curl_code $NS_S1 http://10.9.9.9/; code=$CODE
    check "a private literal: 403" eq "$code" 403
    check "reason" contains "$(body)" "forbidden address"
    curl_code $NS_S1 http://198.19.255.255/; code=$CODE  # the last address: never handed out
    check "a fake address DNS never handed out: 403" eq "$code" 403
    check "reason" contains "$(body)" "not handed out by the shim's DNS"
    curl_code $NS_S1 http://$GW/; code=$CODE
    check "the gateway itself: 403" eq "$code" 403
    check "audit: allowed literal" audit_has '.event=="request" and .dst_addr=="151.101.1.1" and .decision=="allow" and .rule=="151.101.1.0/24:80"'
}

test_report_mode() {
    check "report-mode policy" session s2 $S2 '{"mode":"report","allow":["allowed.test"]}' '{"team":"ml"}'
    local r code
    r=$(client $NS_S2 dns other.test)
    check "a name the rules deny still resolves" jq_ok "$r" '.rcode == "NOERROR" and (.answers|length==1)'
    curl_code $NS_S2 http://other.test/; code=$CODE
    check "and the request goes through" eq "$code" 200
    check "to other.test" jq_ok "$(body)" '.host == "other.test" and .local == "151.101.1.1:80"'
    check "audit: query reported" audit_has '.event=="query" and .session=="s2" and .requested_host=="other.test" and .decision=="report" and .enforce_would_deny==true'
    check "audit: request reported" audit_has '.event=="request" and .session=="s2" and .decision=="report" and .enforce_would_deny==true and .status==200 and .labels.team=="ml"'
    curl_code $NS_S2 http://allowed.test/; code=$CODE
    check "an allowed name" eq "$code" 200
    check "audit: plain allow" audit_has '.event=="request" and .session=="s2" and .requested_host=="allowed.test" and .decision=="allow" and .enforce_would_deny==false'
    curl_code $NS_S2 --connect-to other.test:80:allowed.test:80 http://other.test/; code=$CODE
    check "report mode does not relax the Host check" eq "$code" 403
}

test_policy_replaced_live() {
    check "policy A" session s2 $S2 '{"allow":["allowed.test","other.test"]}'
    local r code
    curl_code $NS_S2 http://other.test/; code=$CODE
    check "other.test allowed under A" eq "$code" 200
    # a keep-alive connection: one request, the policy changes, another request
    client $NS_S2 http-seq allowed.test 80 allowed.test/one @sleep1.5 allowed.test/two >"$T/live.json" &
    local pid=$!
    sleep 0.7
    check "policy B (allowed.test gone) acked" session s2 $S2 '{"allow":["other.test"]}'
    wait $pid
    r=$(cat "$T/live.json")
    check "first request under A: 200; next one on the same connection under B: 403" \
        jq_ok "$r" '.results[0].status == 200 and .results[1].status == 403'
    r=$(client $NS_S2 dns allowed.test)
    check "B: allowed.test is NXDOMAIN now" jq_ok "$r" '.rcode == "NXDOMAIN"'
    curl_code $NS_S2 http://other.test/; code=$CODE
    check "B: other.test still fine" eq "$code" 200
    check "audit: the second request denied" audit_has '.event=="request" and .session=="s2" and .path=="/two" and .decision=="deny" and .status==403'
}

test_keepalive_every_request_checked() {
    local r
    r=$(client $NS_S1 http-seq allowed.test 80 allowed.test/a allowed.test/b other.test/c)
    check "200, 200, then 403 for the Host that differs" \
        jq_ok "$r" '[.results[].status] == [200, 200, 403]'
    check "the 403 says why" jq_ok "$r" '.results[2].body | test("does not match")'
    check "audit: one line per request" audit_has '.event=="request" and .path=="/b" and .status==200'
    check "audit: the refused one" audit_has '.event=="request" and .path=="/c" and .requested_host=="other.test" and .status==403'
    r=$(client $NS_S1 pipeline allowed.test 80 allowed.test/p1 allowed.test/p2 allowed.test/p3)
    check "pipelined requests all answered in order" \
        jq_ok "$r" '[.results[].status] == [200,200,200] and ([.results[].body | fromjson | .path] == ["/p1","/p2","/p3"])'
    r=$(client $NS_S1 pipeline allowed.test 80 allowed.test/q1 other.test/q2 allowed.test/q3)
    check "pipelined: the refused one ends the connection after the earlier answers" \
        jq_ok "$r" '.results[0].status == 200 and .results[1].status == 403 and (.results|length) <= 3 and (.results[2].status // 0) != 200'
    check "the refused request and the one after it never reached upstream" \
        upstream_lacks '.path == "/q2" or .path == "/q3"'
}

test_http_methods_bodies_and_upgrades() {
    local r
    r=$(client $NS_S1 post allowed.test 80 300000)
    check "a 300 kB POST body arrives whole" jq_ok "$r" '.status == 200 and (.body | fromjson | .body_len == 300000)'
    r=$(client $NS_S1 http-seq allowed.test 80 HEAD:allowed.test/h allowed.test/after-head)
    check "HEAD then GET on one connection" jq_ok "$r" '[.results[].status] == [200, 200] and (.results[1].body | fromjson | .path == "/after-head")'
    r=$(client $NS_S1 upgrade allowed.test 80)
    check "101: the early bytes wait for it, then everything passes as is" \
        jq_ok "$r" '(.status | test("101")) and .early == "early bytes\n" and (.later | startswith("GET / HTTP/1.1"))'
    r=$(client $NS_S1 http-seq allowed.test 80 UPGRADE:allowed.test/declined other.test/sneaky)
    check "a declined upgrade keeps inspecting the connection" \
        jq_ok "$r" '[.results[].status] == [200, 403]'
    check "audit: the 101" audit_has '.event=="request" and .path=="/upgrade" and .status==101'
}

test_tls_client_hello_in_pieces() {
    local r
    r=$(client $NS_S1 tls-split allowed.test 443)
    check "a ClientHello split over two segments is read whole" jq_ok "$r" '.status == 200'
    r=$(client $NS_S1 tls-split allowed.test 443 --sni other.test)
    check "and still checked" jq_ok "$r" '.status != 200'
}

test_bulk_transfer() {
    local r
    r=$(ip netns exec $NS_S1 curl -sS -m 60 -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' \
        http://allowed.test/blob/50000000)
    check "50 MB over plain HTTP (read/write relay)" eq "${r% *}" "200 50000000"
    echo "    http:  $(awk '{printf "%.0f MB/s", $3/1e6}' <<<"$r")"
    r=$(ip netns exec $NS_S1 curl -sS -m 60 --cacert "$T/cert.pem" -o /dev/null \
        -w '%{http_code} %{size_download} %{speed_download}' https://allowed.test/blob/50000000)
    check "50 MB over TLS (splice relay)" eq "${r% *}" "200 50000000"
    echo "    https: $(awk '{printf "%.0f MB/s", $3/1e6}' <<<"$r")"
    check "audit: bytes counted" audit_has '.event=="close" and .proto=="tls" and .bytes_in > 50000000'
}

test_opaque_server_speaks_first() {
    local r
    r=$(client $NS_S1 banner allowed.test 2222)
    check "the banner arrives without the client sending anything" jq_ok "$r" '.banner == "SSH-2.0-sbxtest\r\n" and .echo == "ping\n"'
    check "audit: tcp connect under allowed.test:2222" audit_has '.event=="connect" and .proto=="tcp" and .port==2222 and .requested_host=="allowed.test" and .rule=="allowed.test:2222"'
    check "audit: close" audit_has '.event=="close" and .proto=="tcp" and .port==2222'
}

test_quota_connections_per_minute() {
    check "s3 policy" session s3 $S3 '{"allow":["allowed.test"],"quotas":{"connections_per_minute":3}}'
    local i code
    for i in 1 2 3; do
        curl_from $S3 $NS_S2 allowed.test 80 http://allowed.test/; code=$CODE
        check "connection $i allowed" eq "$code" 200
    done
    curl_from $S3 $NS_S2 allowed.test 80 http://allowed.test/; code=$CODE
    check "the 4th in the minute: 403" eq "$code" 403
    check "reason names the quota" contains "$(body)" "connections_per_minute"
    curl_code $NS_S1 http://allowed.test/; code=$CODE
    check "another session is unaffected" eq "$code" 200
    check "audit" audit_has '.session=="s3" and .decision=="deny" and (.reason|test("quota exceeded: connections_per_minute"))'
}

test_quota_bytes_out() {
    check "s3 policy: 20000 bytes out" session s3 $S3 '{"allow":["allowed.test"],"quotas":{"bytes_out":20000}}'
    local r code
    r=$(client $NS_S2 --src $S3 post allowed.test 80 100000)
    check "an upload over the quota is cut" jq_ok "$r" '.error != null'
    check "audit: close with the reason" audit_has '.event=="close" and .session=="s3" and (.reason|test("bytes_out")) and .bytes_out <= 20000'
    curl_from $S3 $NS_S2 allowed.test 80 http://allowed.test/; code=$CODE
    check "new connections refused once it is spent" eq "$code" 403
    curl_code $NS_S1 http://allowed.test/; code=$CODE
    check "another session is unaffected" eq "$code" 200
}

test_quota_requests_per_minute() {
    check "s4 policy" session s4 $S4 '{"allow":["allowed.test"],"quotas":{"requests_per_minute":5}}'
    local i r
    for i in 1 2 3 4 5; do
        r=$(client $NS_S2 --src $S4 dns allowed.test)
        check "query $i answered" jq_ok "$r" '.rcode == "NOERROR"'
    done
    r=$(client $NS_S2 --src $S4 dns allowed.test)
    check "the 6th: REFUSED" jq_ok "$r" '.rcode == "REFUSED"'
    check "audit" audit_has '.session=="s4" and .event=="query" and (.reason|test("requests_per_minute"))'
}

test_quota_concurrent_connections() {
    check "s5 policy" session s5 $S5 '{"allow":["allowed.test:2222","allowed.test"],"quotas":{"connections":1}}'
    client $NS_S2 --src $S5 hold allowed.test 2222 >"$T/hold.json" &
    local pid=$! code i
    for i in $(seq 50); do grep -q connected "$T/hold.json" 2>/dev/null && break; sleep 0.1; done
    curl_from $S5 $NS_S2 allowed.test 80 http://allowed.test/; code=$CODE
    check "a second connection while one is open: 403" eq "$code" 403
    check "reason" contains "$(body)" "connections (1 open at once)"
    check "s5 policy without the limit" session s5 $S5 '{"allow":["allowed.test:2222","allowed.test"]}'
    curl_from $S5 $NS_S2 allowed.test 80 http://allowed.test/; code=$CODE
    check "limit lifted" eq "$code" 200
    HOLD_PID=$pid
}

test_remove_closes_connections() {
    # uses the connection test_quota_concurrent_connections left open, or opens one
    if ! grep -q connected "$T/hold.json" 2>/dev/null || ! kill -0 "${HOLD_PID:-0}" 2>/dev/null; then
        check "s5 policy" session s5 $S5 '{"allow":["allowed.test:2222"]}'
        client $NS_S2 --src $S5 hold allowed.test 2222 >"$T/hold.json" &
        HOLD_PID=$!
        local i
        for i in $(seq 50); do grep -q connected "$T/hold.json" && break; sleep 0.1; done
    fi
    check "remove acked" remove s5
    local i
    for i in $(seq 50); do kill -0 $HOLD_PID 2>/dev/null || break; sleep 0.1; done
    check "the open connection was closed" jq_ok "$(tail -n1 "$T/hold.json")" '.end == "reset" or .end == "closed"'
    wait $HOLD_PID 2>/dev/null
    check "audit: close line 'session removed'" audit_has '.event=="close" and .session=="s5" and .reason=="session removed"'
    local r
    r=$(client $NS_S2 --src $S5 dns allowed.test)
    check "its address is a stranger now" jq_ok "$r" '.rcode == "REFUSED"'
}

test_unknown_peer_denied() {
    local r code
    r=$(client $NS_S2 --src $STRANGER dns allowed.test)
    check "DNS: REFUSED" jq_ok "$r" '.rcode == "REFUSED"'
    curl_code $NS_S2 --interface $STRANGER http://151.101.1.1/; code=$CODE
    check "HTTP: 403" eq "$code" 403
    r=$(client $NS_S2 --src $STRANGER tls 151.101.1.1 443 --sni other.test)
    check "TLS: refused" jq_ok "$r" '.error != null'
    check "audit: session null" audit_has ".session==null and .labels==null and .src==\"$STRANGER\" and .event==\"query\" and .decision==\"deny\""
    check "audit: tcp session null" audit_has ".session==null and .src==\"$STRANGER\" and .event==\"request\" and (.reason|test(\"unknown source\"))"
}

test_bad_input_does_not_kill_the_shim() {
    local r
    r=$(client $NS_S1 garbage allowed.test 443)
    check "garbage TLS: refused" jq_ok "$r" '.result == "reset" or .result == "closed"'
    in_s1 python3 - "$GW" <<'EOF'
import os, socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in (0, 1, 5, 12, 13, 40, 512, 1400):
    u.sendto(os.urandom(n), (sys.argv[1], 53))
u.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01", (sys.argv[1], 53))
u.sendto(b"\x12\x34\x81\x80" + b"\x00" * 8, (sys.argv[1], 53))
t = socket.create_connection((sys.argv[1], 53))
t.sendall(b"\xff\xff" + os.urandom(3000))
t.close()
t = socket.create_connection((socket.gethostbyname("allowed.test"), 80))
t.sendall(b"GET / HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: -5\r\n\r\n")
t.settimeout(3)
try:
    t.recv(100)
except OSError:
    pass
t = socket.create_connection((socket.gethostbyname("allowed.test"), 80))
t.sendall(b"GET " + b"/" * 40000 + b" HTTP/1.1\r\n")
t.settimeout(3)
try:
    t.recv(100)
except OSError:
    pass
EOF
    r=$(ctl '{"cmd":"status"}')
    check "the shim is alive" jq_ok "$r" '.alive'
    r=$(client $NS_S1 dns allowed.test)
    check "and serving" jq_ok "$r" '.rcode == "NOERROR"'
}

test_audit_lines_well_formed() {
    MARK=0
    local n parsed
    n=$(wc -l <"$AUDIT")
    parsed=$(jq -c . "$AUDIT" 2>/dev/null | wc -l)
    check "every line is JSON ($n lines)" eq "$parsed" "$n"
    check "there are lines" test "$n" -gt 20
    local bad
    bad=$(jq -c 'select(
        (keys_unsorted != ["time","event","conn","session","labels","proto","src","requested_host","port","dst_addr","resolved_addr","qtype","answer","method","path","decision","reason","rule","secrets","status","bytes_in","bytes_out","duration_ms","enforce_would_deny"])
        or (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$") | not)
        or ((.decision == "allow" or .decision == "deny" or .decision == "report") | not)
        or (.enforce_would_deny != (.decision == "report"))
        or ((.proto == "dns" or .proto == "tcp" or .proto == "tls" or .proto == "http" or .proto == "https") | not)
        or ((.secrets == null or (.secrets | type) == "array") | not)
        or ((.event == "query" or .event == "connect" or .event == "request" or .event == "close") | not)
        or (.event == "close" and (.bytes_in == null or .duration_ms == null))
        or (.proto != "http" and .proto != "https" and (.method != null or .path != null))
        or (.session == null and .labels != null))' "$AUDIT" | head -3)
    check "every line has every field, well typed" eq "$bad" ""
    check "one write per line: no torn lines" eq "$(grep -c '^{' "$AUDIT")" "$n"
}

test_hosts_file_mode() {
    local r code before
    before=$(jq -c 'select(.kind=="dns")' "$UPLOG" | wc -l)
    r=$(ctl "{\"cmd\":\"restart\",\"args\":[\"--hosts\",\"$T/hosts\"]}")
    check "the old shim exited 0 when its channel closed; a new one got listeners + sessions" \
        jq_ok "$r" '.old_rc == 0 and .ok'
    curl_code $NS_S1 http://allowed.test/; code=$CODE
    check "allowed.test through the restarted shim" eq "$code" 200
    curl_code $NS_S1 https://a.wild.test/; code=$CODE
    check "TLS too" eq "$code" 200
    curl_code $NS_S1 http://private.test/; code=$CODE
    check "private.test still refused" eq "$code" 403
    check "no upstream DNS with --hosts" eq "$(jq -c 'select(.kind=="dns")' "$UPLOG" | wc -l)" "$before"
}

ALL_TESTS=(
    test_control_channel
    test_dns_allowed_gets_stable_fake_address
    test_dns_denied_nxdomain_and_nothing_upstream
    test_dns_ip_literal_is_nxdomain
    test_dns_over_tcp
    test_http_allowed_via_dns
    test_https_allowed_via_sni
    test_http_denied_port_gets_403
    test_host_mismatch_gets_403
    test_sni_mismatch_reset
    test_tls_without_sni_reset
    test_wildcard_matching
    test_private_address_denied_after_resolution
    test_direct_ip_connect
    test_report_mode
    test_policy_replaced_live
    test_keepalive_every_request_checked
    test_http_methods_bodies_and_upgrades
    test_tls_client_hello_in_pieces
    test_bulk_transfer
    test_opaque_server_speaks_first
    test_quota_connections_per_minute
    test_quota_bytes_out
    test_quota_requests_per_minute
    test_quota_concurrent_connections
    test_remove_closes_connections
    test_unknown_peer_denied
    test_bad_input_does_not_kill_the_shim
    test_hosts_file_mode
    test_audit_lines_well_formed
)

# ---------------------------------------------------------------- main ----

setup_net
setup_upstream
start_shim
session s1 $S1 "$P1" "$LABELS1" || die "cannot add session s1"

TESTS=("$@")
[ ${#TESTS[@]} = 0 ] && TESTS=("${ALL_TESTS[@]}")
pass=0 fail=0
for t in "${TESTS[@]}"; do
    declare -F "$t" >/dev/null || { echo "not ok - $t (no such test)"; fail=$((fail + 1)); continue; }
    FAILS=0
    MARK=$(wc -l <"$AUDIT")
    "$t"
    if [ $FAILS = 0 ]; then
        echo "ok - $t"
        pass=$((pass + 1))
    else
        echo "not ok - $t"
        fail=$((fail + 1))
    fi
done
if [ $fail != 0 ]; then
    echo "--- last lines of the shim's log:"
    tail -n 15 "$T/shim.log" | cut -c1-300
fi
echo "$pass passed, $fail failed"
[ $fail = 0 ]
