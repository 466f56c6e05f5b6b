# test_cli_network.sh - the CLI's egress commands: network options of create
# and run, `sbx network`, `sbx policy check|show`, `sbx audit`.
#
# The policy and audit commands need no daemon: they are run on files the
# tests write. The daemon of the run reads named policies from
# "$IT_RUN/policy.d" (lib.sh's daemon_start).

# ------------------------------------------------------------- helpers ----

# nx ARGS...: the CLI; sets NX_RC, NX_OUT, NX_ERR.
nx() {
    sbx "$@" >"$T/.nx.out" 2>"$T/.nx.err"
    NX_RC=$?
    NX_OUT=$(<"$T/.nx.out")
    NX_ERR=$(<"$T/.nx.err")
}

# nx_expect RC WHAT ARGS...: nx ARGS, whose exit status must be RC.
nx_expect() {
    local rc=$1 what=$2
    shift 2
    nx "$@"
    [ "$NX_RC" = "$rc" ] ||
        fail "$what: sbx $(short "$*" 200): exit $NX_RC, expected $rc; stdout [$(short "$NX_OUT")] stderr [$(short "$NX_ERR")]"
}

# session_policy ID: the session's policy as compact JSON with sorted keys (via sbx inspect).
session_policy() {
    sbx inspect "$1" | jq -cS '.network.policy'
}

# audit_time OFFSET: an audit log time stamp, OFFSET ago ("90 minutes"), microseconds.
audit_time() { date -u -d "-$1" +%Y-%m-%dT%H:%M:%S.%6NZ; }

# audit_line TIME SESSION PROTO HOST PORT DECISION [METHOD PATH STATUS]: one log line
# with every field the shim writes.
audit_line() {
    jq -cn --arg t "$1" --arg s "$2" --arg p "$3" --arg h "$4" --argjson port "$5" --arg d "$6" \
        --arg m "${7:-}" --arg path "${8:-}" --arg st "${9:-}" '{
        time: $t, event: (if $m != "" then "request" elif $p == "dns" then "query" else "connect" end),
        conn: 1, session: $s, labels: {team: "it"}, proto: $p, src: "100.100.0.2",
        requested_host: $h, port: $port, dst_addr: "198.18.0.7", resolved_addr: null,
        qtype: (if $p == "dns" then "A" else null end), answer: null,
        method: (if $m != "" then $m else null end), path: (if $path != "" then $path else null end),
        decision: $d, reason: (if $d == "allow" then "allowed by rule" else "no rule allows this host" end),
        rule: (if $d == "allow" then $h else null end),
        status: (if $st != "" then ($st | tonumber) else null end),
        bytes_in: null, bytes_out: null, duration_ms: null, enforce_would_deny: ($d == "report")}'
}

# ------------------------------------------------------- policy check ----

test_cli_policy_check_accepts_the_example_policies() {
    local repo f n=0
    repo=$(cd "$IT_DIR/../.." && pwd -P)
    for f in "$repo"/policy/examples/*.json; do
        n=$((n + 1))
        nx_expect 0 "policy check of $(basename "$f")" policy check "$f"
        assert_match "$NX_OUT" "^$f: ok \([0-9]+ allow, [0-9]+ deny, [0-9]+ cidr rules, mode (enforce|report)\)$" "policy check output for $f"
        assert_eq "" "$NX_ERR" "policy check stderr for $f"
        # the counts are the file's
        assert_contains "$NX_OUT" "($(jq '.allow // [] | length' "$f") allow, $(jq '.deny // [] | length' "$f") deny, $(jq '.allow_cidrs // [] | length' "$f") cidr rules, mode $(jq -r '.mode // "enforce"' "$f"))" "policy check counts for $f"
    done
    assert_ge "$n" 1 "example policies found in $repo/policy/examples"
    # several at once, and stdin
    nx_expect 0 "policy check of all examples" policy check "$repo"/policy/examples/*.json
    assert_eq "$n" "$(grep -c ': ok (' <<<"$NX_OUT")" "one ok line per example"
    sbx policy check - <"$repo/policy/examples/npm-only.json" >"$T/out" 2>"$T/err"
    assert_eq 0 $? "policy check - (stdin): exit status ($(cat "$T/err"))"
    assert_eq "<stdin>: ok (1 allow, 0 deny, 0 cidr rules, mode enforce)" "$(cat "$T/out")" "policy check - output"
    echo '{"mode":"report","allow":["a.example.com:8000-8100","*.b.example.org"],"allow_cidrs":["203.0.113.0/24:443"]}' >"$T/report.json"
    nx_expect 0 "policy check of a report-mode policy" policy check "$T/report.json"
    assert_eq "$T/report.json: ok (2 allow, 0 deny, 1 cidr rules, mode report)" "$NX_OUT" "policy check output in report mode"
}

test_cli_policy_check_rejects_bad_files_naming_the_field() {
    # file content | words the message must have
    local cases=(
        '{"allow":["*.com"]}|allow[0]'
        '{"allow":["example.com","https://example.org/"]}|allow[1]'
        '{"deny":["10.0.0.1"]}|deny[0]'
        '{"allow_cidrs":["10.1.2.3/8"]}|allow_cidrs[0]'
        '{"allow":["example.com:70000"]}|allow[0]'
        '{"mode":"audit"}|mode'
        '{"quotas":{"bytes_out":-1}}|quotas.bytes_out'
        '{"quotas":{"conections":1}}|conections'
        '{"alow":["example.com"]}|alow'
        '{"allow":"example.com"}|allow'
        '[]|object'
    )
    local c content words i=0
    for c in "${cases[@]}"; do
        i=$((i + 1))
        content=${c%|*} words=${c##*|}
        printf '%s\n' "$content" >"$T/bad$i.json"
        nx_expect 1 "policy check of $content" policy check "$T/bad$i.json"
        assert_eq "" "$NX_OUT" "policy check stdout for $content"
        assert_contains "$NX_ERR" "$T/bad$i.json: " "policy check names the file for $content"
        assert_contains "$NX_ERR" "$words" "policy check message for $content"
        assert_eq 1 "$(wc -l <"$T/.nx.err")" "policy check: one line for $content"
    done
    # one bad file among good ones: each reported, exit 1
    echo '{"allow":["example.com"]}' >"$T/good.json"
    nx_expect 1 "policy check of a good and a bad file" policy check "$T/good.json" "$T/bad1.json"
    assert_eq "$T/good.json: ok (1 allow, 0 deny, 0 cidr rules, mode enforce)" "$NX_OUT" "the good file still reported"
    assert_contains "$NX_ERR" "allow[0]" "the bad file reported"
    # a missing file
    nx_expect 1 "policy check of a missing file" policy check "$T/nonexistent.json"
    assert_contains "$NX_ERR" "$T/nonexistent.json: " "missing file named"
    assert_contains "$NX_ERR" "No such file" "missing file reason"
    # usage errors
    nx_expect 2 "policy check without a file" policy check
    nx_expect 2 "policy without a subcommand" policy
    nx_expect 2 "policy frobnicate" policy frobnicate x.json
}

test_cli_policy_check_rejects_invalid_json_with_its_position() {
    printf '{"allow":["example.com"]} trailing\n' >"$T/trail.json"
    nx_expect 1 "trailing garbage" policy check "$T/trail.json"
    assert_contains "$NX_ERR" "$T/trail.json: line 1, column 27: unexpected data after the JSON value" "trailing garbage message"
    printf '{"allow":["example.com"]}\n{"deny":["x.example.com"]}\n' >"$T/two.json"
    nx_expect 1 "two JSON values" policy check "$T/two.json"
    assert_contains "$NX_ERR" "line 2, column 1: unexpected data after the JSON value" "two values message"
    printf '{\n  "allow": [\n    "example.com",\n  ]\n}\n' >"$T/comma.json"
    nx_expect 1 "trailing comma" policy check "$T/comma.json"
    assert_contains "$NX_ERR" "$T/comma.json: line 4, column 3: invalid JSON" "trailing comma position"
    printf '{\n  "allow": [\x27example.com\x27]\n}\n' >"$T/quote.json"
    nx_expect 1 "single quotes" policy check "$T/quote.json"
    assert_contains "$NX_ERR" "line 2, column 13: single quote" "single quote position"
    printf '{"allow": ["example.com"]' >"$T/short.json"
    nx_expect 1 "truncated file" policy check "$T/short.json"
    assert_contains "$NX_ERR" "line 1, column 26: unexpected end of input" "truncated file message"
    : >"$T/empty.json"
    nx_expect 1 "empty file" policy check "$T/empty.json"
    assert_contains "$NX_ERR" "no JSON value" "empty file message"
    printf '{"quotas": {"connections": NaN}}' >"$T/nan.json"
    nx_expect 1 "NaN" policy check "$T/nan.json"
    assert_contains "$NX_ERR" "line 1, column 28: \"NaN\" is not a JSON value" "NaN message"
}

test_cli_policy_show_prints_the_canonical_form() {
    cat >"$T/p.json" <<'EOF'
{
  "description": "dropped from the canonical form",
  "allow": ["Registry.NPMJS.org.", "*.Example.COM:8000-8100", "api.example.net:443"],
  "deny": ["bad.example.com"],
  "allow_cidrs": ["203.0.113.0/24:443", "[2001:db8::]/32:443", "2001:db8:1::/48"],
  "quotas": {"bytes_out": 1048576}
}
EOF
    nx_expect 0 "policy show" policy show "$T/p.json"
    local expect='{"allow":["registry.npmjs.org","*.example.com:8000-8100","api.example.net:443"],"allow_cidrs":["203.0.113.0/24:443","[2001:db8::]/32:443","2001:db8:1::/48"],"deny":["bad.example.com"],"mode":"enforce","quotas":{"bytes_out":1048576,"connections":0,"connections_per_minute":0,"requests_per_minute":0}}'
    assert_eq "$expect" "$(jq -cS . <<<"$NX_OUT")" "policy show: canonical policy"
    assert_ge "$(wc -l <<<"$NX_OUT")" 10 "policy show prints pretty JSON"
    # the canonical form is itself a valid policy with the same canonical form
    printf '%s\n' "$NX_OUT" >"$T/canon.json"
    nx_expect 0 "policy show of the canonical form" policy show "$T/canon.json"
    assert_eq "$expect" "$(jq -cS . <<<"$NX_OUT")" "canonical form is a fixed point"
    # stdin, and a bad file
    sbx policy show - <"$T/p.json" | jq -cS . >"$T/out"
    assert_eq "$expect" "$(cat "$T/out")" "policy show - (stdin)"
    echo '{"allow":["*"]}' >"$T/bad.json"
    nx_expect 1 "policy show of a bad file" policy show "$T/bad.json"
    assert_eq "" "$NX_OUT" "policy show of a bad file: stdout"
    assert_contains "$NX_ERR" "allow[0]" "policy show of a bad file: message"
    nx_expect 2 "policy show of two files" policy show "$T/p.json" "$T/p.json"
}

# ---------------------------------------------------------------- audit ----

# A log of 6 records and 2 malformed lines: sessions A and B, every decision,
# times from 3 hours ago to a minute ago.
_write_audit_log() {
    A=aaaaaaaaaaa1 B=bbbbbbbbbbb2
    T3H=$(audit_time "3 hours") T2H=$(audit_time "2 hours") T1H=$(audit_time "1 hour")
    T20M=$(audit_time "20 minutes") T5M=$(audit_time "5 minutes") T1M=$(audit_time "1 minute")
    {
        audit_line "$T3H" "$A" dns registry.npmjs.org 53 allow
        audit_line "$T2H" "$A" tls registry.npmjs.org 443 allow
        echo 'this is not JSON'
        audit_line "$T1H" "$B" http evil.example.com 80 deny GET /exfil 403
        echo
        audit_line "$T20M" "$B" tls evil.example.com 443 deny
        echo '{"time": "2026-01-01T00:00:00Z", "session": "'"$A"'"} trailing'
        audit_line "$T5M" "$A" tls pypi.org 443 report
        audit_line "$T1M" "$B" dns registry.npmjs.org 53 allow
    } >"$T/egress.jsonl"
}

# rows of the last table output: "SESSION DECISION DESTINATION" per line (no header)
_audit_rows() { awk 'NR > 1 { print $2, $4, $5 }' <<<"$NX_OUT"; }

test_cli_audit_filters_by_session_decision_and_since() {
    _write_audit_log
    nx_expect 0 "audit" audit --file "$T/egress.jsonl"
    assert_match "$(head -n 1 <<<"$NX_OUT")" '^TIME +SESSION +PROTO +DECISION +DESTINATION +REQUEST +REASON$' "audit header"
    assert_eq 7 "$(wc -l <<<"$NX_OUT")" "audit: header + 6 records"
    assert_eq "$A allow registry.npmjs.org
$A allow registry.npmjs.org:443
$B deny evil.example.com:80
$B deny evil.example.com:443
$A report pypi.org:443
$B allow registry.npmjs.org" "$(_audit_rows)" "audit rows (dns lines show no port)"
    assert_contains "$(sed -n 4p <<<"$NX_OUT")" "GET /exfil 403" "audit: HTTP method, path and status"
    assert_match "$(sed -n 4p <<<"$NX_OUT")" "^$T1H +$B +http +deny " "audit: time, session, proto columns"
    assert_contains "$(sed -n 2p <<<"$NX_OUT")" "allowed by rule [registry.npmjs.org]" "audit: reason and rule"
    assert_eq "sbx: $T/egress.jsonl: 2 malformed lines skipped" "$NX_ERR" "audit: malformed lines counted"
    # the columns line up: every row's DECISION starts where the header's does
    local col
    col=$(head -n 1 <<<"$NX_OUT" | awk '{ print index($0, "DECISION") }')
    assert_eq "" "$(awk -v c="$col" 'NR > 1 && substr($0, c, 1) !~ /[adr]/' <<<"$NX_OUT")" "audit columns aligned"

    nx_expect 0 "audit --session" audit --file "$T/egress.jsonl" --session "$B"
    assert_eq "$B deny evil.example.com:80
$B deny evil.example.com:443
$B allow registry.npmjs.org" "$(_audit_rows)" "audit --session $B"
    nx_expect 0 "audit --decision" audit --file "$T/egress.jsonl" --decision deny
    assert_eq "$B deny evil.example.com:80
$B deny evil.example.com:443" "$(_audit_rows)" "audit --decision deny"
    nx_expect 0 "audit --decision list" audit --file "$T/egress.jsonl" --decision deny,report --session "$A"
    assert_eq "$A report pypi.org:443" "$(_audit_rows)" "audit --decision deny,report --session $A"
    nx_expect 0 "audit --since 30m" audit --file "$T/egress.jsonl" --since 30m
    assert_eq "$B deny evil.example.com:443
$A report pypi.org:443
$B allow registry.npmjs.org" "$(_audit_rows)" "audit --since 30m"
    nx_expect 0 "audit --since 2h30m" audit --file "$T/egress.jsonl" --since 2h30m --decision allow
    assert_eq "$A allow registry.npmjs.org:443
$B allow registry.npmjs.org" "$(_audit_rows)" "audit --since 2h30m --decision allow"
    nx_expect 0 "audit --since TIME" audit --file "$T/egress.jsonl" --since "$T1H"
    assert_eq 4 "$(_audit_rows | wc -l)" "audit --since $T1H (inclusive)"
    nx_expect 0 "audit --since 1d" audit --file "$T/egress.jsonl" --since 1d
    assert_eq 6 "$(_audit_rows | wc -l)" "audit --since 1d"
    nx_expect 0 "audit --since future" audit --file "$T/egress.jsonl" --since "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"
    assert_eq "" "$NX_OUT" "audit with nothing to show prints nothing"

    # --json: the log's lines, byte for byte
    nx_expect 0 "audit --json" audit --file "$T/egress.jsonl" --json --session "$A"
    assert_eq "$(grep -F "\"session\":\"$A\"" "$T/egress.jsonl" | grep -v trailing)" "$NX_OUT" "audit --json lines"
    assert_contains "$NX_ERR" "2 malformed lines skipped" "audit --json counts malformed lines too"
    nx_expect 0 "audit --json --since" audit --file "$T/egress.jsonl" --json --since 10m
    assert_eq "$A $B" "$(jq -r .session <<<"$NX_OUT" | tr '\n' ' ' | sed 's/ $//')" "audit --json --since 10m"

    # the default file: $SBX_AUDIT_LOG
    SBX_AUDIT_LOG="$T/egress.jsonl" nx_expect 0 "audit with SBX_AUDIT_LOG" audit --decision report
    assert_eq "$A report pypi.org:443" "$(_audit_rows)" "audit reads \$SBX_AUDIT_LOG"

    # usage errors and a missing file
    nx_expect 2 "audit --decision bad" audit --file "$T/egress.jsonl" --decision denied
    assert_contains "$NX_ERR" "denied" "audit --decision bad: message"
    nx_expect 2 "audit --since bad" audit --file "$T/egress.jsonl" --since 10minutes
    assert_contains "$NX_ERR" "--since" "audit --since bad: message"
    nx_expect 2 "audit with an argument" audit "$T/egress.jsonl"
    nx_expect 1 "audit of a missing file" audit --file "$T/nonexistent.jsonl"
    assert_contains "$NX_ERR" "$T/nonexistent.jsonl" "audit of a missing file: message"
}

_out_has() { grep -qF -- "$2" "$1" 2>/dev/null; }

test_cli_audit_follow_prints_appended_lines() {
    local log=$T/follow.jsonl
    audit_line "$(audit_time "1 minute")" aaaaaaaaaaa1 tls first.example.com 443 allow >"$log"
    "$SBX_BUILD/sbx" audit -f --file "$log" --json >"$T/f.out" 2>"$T/f.err" &
    local pid=$!
    defer "kill -KILL $pid 2>/dev/null"
    wait_until 10 _out_has "$T/f.out" first.example.com || fail "audit -f: the existing line never came: $(cat "$T/f.err")"
    # appended after it started, also in two writes (a line is only complete at its newline)
    audit_line "$(audit_time "1 second")" aaaaaaaaaaa1 tls second.example.com 443 deny >>"$log"
    wait_until 10 _out_has "$T/f.out" second.example.com || fail "audit -f: an appended line never came: $(cat "$T/f.err")"
    local third
    third=$(audit_line "$(audit_time "0 seconds")" aaaaaaaaaaa1 tls third.example.com 443 deny)
    printf '%s' "${third:0:40}" >>"$log"
    sleep 0.5
    _out_has "$T/f.out" third.example.com && fail "audit -f printed half a line"
    printf '%s\n' "${third:40}" >>"$log"
    wait_until 10 _out_has "$T/f.out" third.example.com || fail "audit -f: a line written in two parts never came"
    # rotated (logrotate's rename + new file)
    mv "$log" "$log.1"
    audit_line "$(audit_time "0 seconds")" aaaaaaaaaaa1 tls fourth.example.com 443 allow >"$log"
    wait_until 10 _out_has "$T/f.out" fourth.example.com || fail "audit -f did not follow the rotated file: $(cat "$T/f.err")"
    # truncated in place (copytruncate)
    : >"$log"
    wait_until 10 _out_has "$T/f.err" truncated || fail "audit -f did not notice the truncation"
    audit_line "$(audit_time "0 seconds")" aaaaaaaaaaa1 tls fifth.example.com 443 allow >>"$log"
    wait_until 10 _out_has "$T/f.out" fifth.example.com || fail "audit -f did not follow the truncated file: $(cat "$T/f.err")"
    assert_eq "first second third fourth fifth" "$(jq -r '.requested_host | sub("\\..*"; "")' "$T/f.out" | tr '\n' ' ' | sed 's/ $//')" "audit -f: every line once, in order"
    assert_contains "$(cat "$T/f.err")" "has been replaced" "audit -f: rotation noticed"
    # SIGINT ends it cleanly
    kill -INT "$pid"
    local i rc=
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && fail "audit -f still runs 5 s after SIGINT"
    wait "$pid"
    rc=$?
    assert_eq 0 "$rc" "audit -f exit status after SIGINT"
}

test_cli_audit_follow_ends_when_its_reader_goes() {
    local log=$T/follow.jsonl
    audit_line "$(audit_time "1 minute")" aaaaaaaaaaa1 tls first.example.com 443 allow >"$log"
    # head exits after one line; sbx notices at its next write (EPIPE) and ends quietly
    timeout 30 bash -c '"$1" audit -f --file "$2" | head -n 1 >"$3"; echo "${PIPESTATUS[0]}" >"$4"' \
        sh "$SBX_BUILD/sbx" "$log" "$T/p.out" "$T/p.rc" 2>"$T/p.err" &
    local pid=$!
    wait_until 10 test -s "$T/p.out" || fail "audit -f | head: no first line"
    local n
    for n in 1 2 3 4 5; do
        audit_line "$(audit_time "0 seconds")" aaaaaaaaaaa1 tls "more$n.example.com" 443 allow >>"$log"
        test -s "$T/p.rc" && break
        sleep 0.5
    done
    wait_until 10 test -s "$T/p.rc" || fail "audit -f did not end once its reader had gone"
    wait "$pid"
    assert_eq 0 "$(cat "$T/p.rc")" "audit -f exit status when stdout is closed"
    assert_eq "" "$(cat "$T/p.err")" "audit -f stderr when stdout is closed"
    assert_match "$(cat "$T/p.out")" '^TIME +SESSION' "audit -f | head -n 1: the header"
}

# -------------------------------------------------- create, run, network ----

test_cli_create_allow_deny_set_the_session_policy() {
    nx_expect 0 "create with --allow --deny" create --image busybox --allow example.com --deny bad.example.com
    local id=$NX_OUT
    assert_match "$id" '^[0-9a-f]{12}$' "create prints the id"
    assert_eq '{"allow":["example.com"],"allow_cidrs":[],"deny":["bad.example.com"],"mode":"enforce","quotas":{"bytes_out":0,"connections":0,"connections_per_minute":0,"requests_per_minute":0}}' \
        "$(session_policy "$id")" "inspect: the policy of create --allow --deny"
    # every rule option, repeated, and report mode
    nx_expect 0 "create with every rule option" create --image busybox --allow a.example.com:8443 \
        --allow '*.b.example.org' --deny c.example.org:22 --allow-cidr 203.0.113.0/24:443 --report
    assert_eq '{"allow":["a.example.com:8443","*.b.example.org"],"allow_cidrs":["203.0.113.0/24:443"],"deny":["c.example.org:22"],"mode":"report"}' \
        "$(session_policy "$NX_OUT" | jq -c 'del(.quotas)')" "inspect: the policy of every rule option"
    # without any: no "network" field, sbxd's default (no egress)
    nx_expect 0 "create without network options" create --image busybox
    assert_eq '{"allow":[],"allow_cidrs":[],"deny":[],"mode":"enforce"}' \
        "$(session_policy "$NX_OUT" | jq -c 'del(.quotas)')" "inspect: default policy"
    # sbxd checks the rules; its message names the field
    nx_expect 1 "create with a bad --allow" create --image busybox --allow example.com --allow '*.com'
    assert_contains "$NX_ERR" "network.allow[1]" "create with a bad --allow: message"
    nx_expect 2 "create with an empty --allow" create --image busybox --allow ''
    api GET /v1/sessions
    assert_eq 3 "$(jb '.sessions | length')" "sessions after the failed creates"
}

test_cli_run_takes_the_network_options() {
    nx_expect 0 "run with --allow" run --image busybox --allow example.com --deny bad.example.com -- echo ran
    assert_eq ran "$NX_OUT" "run with network options: output"
    # the options reach sbxd: a bad rule fails the create (125: sbx or sbxd failed)
    nx_expect 125 "run with a bad --deny" run --image busybox --deny 'http://x.example.com/' -- true
    assert_contains "$NX_ERR" "network.deny[0]" "run with a bad --deny: message"
    echo '{"allow":["example.com"],"mode":"report"}' >"$T/net.json"
    nx_expect 0 "run with --network-file" run --image busybox --network-file "$T/net.json" -- true
    api GET /v1/sessions
    assert_eq 0 "$(jb '.sessions | length')" "run leaves no session"
}

test_cli_network_shows_and_replaces_the_policy() {
    nx_expect 0 "create" create --image busybox --allow example.com
    local id=$NX_OUT
    # no options: the network object
    nx_expect 0 "network ID" network "$id"
    assert_eq '["example.com"]' "$(jq -c .policy.allow <<<"$NX_OUT")" "network ID: policy"
    assert_eq "$(sbx inspect "$id" | jq -cS .network)" "$(jq -cS . <<<"$NX_OUT")" "network ID: the network object inspect shows"
    # options after the ID: replaces the whole policy, prints the new one
    nx_expect 0 "network ID --allow" network "$id" --allow x.example.com:8443
    assert_eq '["x.example.com:8443"]' "$(jq -c .allow <<<"$NX_OUT")" "network --allow: printed policy"
    assert_eq enforce "$(jq -r .mode <<<"$NX_OUT")" "network --allow: printed mode"
    assert_eq '{"allow":["x.example.com:8443"],"allow_cidrs":[],"deny":[],"mode":"enforce"}' \
        "$(session_policy "$id" | jq -c 'del(.quotas)')" "inspect after network --allow"
    # options before the ID
    nx_expect 0 "network --deny --report ID" network --allow '*.example.com' --deny y.example.com --report "$id"
    assert_eq '{"allow":["*.example.com"],"allow_cidrs":[],"deny":["y.example.com"],"mode":"report"}' \
        "$(session_policy "$id" | jq -c 'del(.quotas)')" "inspect after network --deny --report"
    # from a file
    printf '{"description":"x","allow_cidrs":["198.51.100.7:443"],"quotas":{"connections":5}}' >"$T/net.json"
    nx_expect 0 "network --network-file" network "$id" --network-file "$T/net.json"
    assert_eq '{"allow":[],"allow_cidrs":["198.51.100.7/32:443"],"deny":[],"mode":"enforce","quotas":{"bytes_out":0,"connections":5,"connections_per_minute":0,"requests_per_minute":0}}' \
        "$(session_policy "$id")" "inspect after network --network-file"
    # rejected changes leave the policy as it was
    nx_expect 1 "network with a bad rule" network "$id" --allow '*'
    assert_contains "$NX_ERR" "network.allow[0]" "network with a bad rule: message"
    printf '{"allow": ["a.example.com",]}' >"$T/bad.json"
    nx_expect 1 "network with a bad file" network "$id" --network-file "$T/bad.json"
    assert_contains "$NX_ERR" "--network-file $T/bad.json: line 1, column " "network with a bad file: message"
    assert_eq '["198.51.100.7/32:443"]' "$(session_policy "$id" | jq -c .allow_cidrs)" "policy unchanged by rejected changes"
    # unknown session; missing ID
    nx_expect 1 "network of a missing session" network 000000000000 --allow example.com
    assert_contains "$NX_ERR" 000000000000 "network of a missing session: message"
    nx_expect 1 "network of a missing session (show)" network 000000000000
    nx_expect 2 "network without ID" network --allow example.com
    nx_expect 2 "network with two IDs" network "$id" "$id"
}

test_cli_policy_option_uses_a_node_policy() {
    mkdir -p "$IT_RUN/policy.d"
    local name=itcli$$
    defer "rm -f '$IT_RUN/policy.d/$name.json' '$IT_RUN/policy.d/${name}b.json'"
    printf '{"description":"for the CLI test","allow":["registry.npmjs.org:443"],"deny":["evil.npmjs.org"]}\n' \
        >"$IT_RUN/policy.d/$name.json"
    printf '{"mode":"report","allow":["pypi.org:443"]}\n' >"$IT_RUN/policy.d/${name}b.json"
    nx_expect 0 "create --policy" create --image busybox --policy "$name"
    local id=$NX_OUT
    assert_eq '{"allow":["registry.npmjs.org:443"],"allow_cidrs":[],"deny":["evil.npmjs.org"],"mode":"enforce"}' \
        "$(session_policy "$id" | jq -c 'del(.quotas)')" "inspect after create --policy"
    nx_expect 0 "network --policy" network "$id" --policy "${name}b"
    assert_eq '{"allow":["pypi.org:443"],"mode":"report"}' "$(jq -c '{allow, mode}' <<<"$NX_OUT")" "network --policy: printed policy"
    assert_eq '{"allow":["pypi.org:443"],"allow_cidrs":[],"deny":[],"mode":"report"}' \
        "$(session_policy "$id" | jq -c 'del(.quotas)')" "inspect after network --policy"
    nx_expect 1 "create --policy of an unknown name" create --image busybox --policy "nosuch$$"
    assert_contains "$NX_ERR" "nosuch$$" "unknown policy name: message"
    nx_expect 0 "run --policy" run --image busybox --policy "$name" -- true
}

test_cli_network_options_exclude_each_other() {
    echo '{"allow":["example.com"]}' >"$T/net.json"
    local combos=(
        "--policy p --allow example.com"
        "--policy p --deny example.com"
        "--policy p --allow-cidr 203.0.113.0/24"
        "--policy p --report"
        "--policy p --network-file $T/net.json"
        "--network-file $T/net.json --allow example.com"
        "--network-file $T/net.json --report"
        "--allow example.com --network-file $T/net.json"
    )
    local c
    for c in "${combos[@]}"; do
        # shellcheck disable=SC2086 # the options are words
        nx_expect 2 "create $c" create --image busybox $c
        assert_contains "$NX_ERR" "cannot be combined" "create $c: message"
        assert_contains "$NX_ERR" "Run 'sbx create --help'" "create $c: usage hint"
        # shellcheck disable=SC2086
        nx_expect 2 "run $c" run --image busybox $c -- true
        assert_contains "$NX_ERR" "cannot be combined" "run $c: message"
        # shellcheck disable=SC2086
        nx_expect 2 "network $c" network 000000000000 $c
        assert_contains "$NX_ERR" "cannot be combined" "network $c: message"
    done
    nx_expect 2 "--report with a value" create --image busybox --report=yes
    nx_expect 2 "--allow without a value" create --image busybox --allow
    api GET /v1/sessions
    assert_eq 0 "$(jb '.sessions | length')" "no session made by a usage error"
    # the help texts know the options
    nx_expect 0 "create --help" create --help
    assert_contains "$NX_OUT" "--allow-cidr CIDR[:PORTS]" "create --help"
    nx_expect 0 "run --help" run --help
    assert_contains "$NX_OUT" "--network-file FILE" "run --help"
    nx_expect 0 "sbx --help" --help
    assert_contains "$NX_OUT" "audit" "sbx --help lists audit"
    assert_contains "$NX_OUT" "policy" "sbx --help lists policy"
    assert_contains "$NX_OUT" "network" "sbx --help lists network"
}

test_node_policy_files_are_parsed_strictly() {
    mkdir -p "$IT_RUN/policy.d"
    printf '{"allow":["a.example.com"]} garbage' >"$IT_RUN/policy.d/trailing.json"
    printf '{"allow":["a.example.com"]}{"deny":["b.example.com"]}' >"$IT_RUN/policy.d/two.json"
    printf "{'allow':['a.example.com']}" >"$IT_RUN/policy.d/quotes.json"
    printf '{"allow":["a.example.com",]}' >"$IT_RUN/policy.d/comma.json"
    local n
    for n in trailing two quotes comma; do
        api POST /v1/sessions "{\"image\":\"busybox\",\"network\":{\"policy\":\"$n\"}}"
        expect_error 400 invalid_policy "$n.json"
    done
    api POST /v1/sessions '{"image":"busybox","network":{"policy":"absent"}}'
    expect_error 400 unknown_policy absent
    api POST /v1/sessions '{"image":"busybox","network":{"policy":"../etc/passwd"}}'
    expect_error 400 invalid_policy
    assert_no_leaks
}
