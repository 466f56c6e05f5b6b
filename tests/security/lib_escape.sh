# tests/security/lib_escape.sh - helpers for the escape suite; sourced by its
# test_*.sh files (after tests/integration/lib.sh).
#
# The probe, $SBX_BUILD/tests/escape (tests/security/escape.c), prints one line
# per attempt:
#   TRY <name>: <what it did> -> <result> (expected <errnos>): ok|ESCAPE|WRONG-REASON
# and exits 1 when any attempt did not fail for its expected reason.

ESC_BIN=${SBX_BUILD:-build}/tests/escape

# esc_install ID: copy the probe to /tmp/escape in session ID.
esc_install() {
    [ -x "$ESC_BIN" ] || fail "$ESC_BIN missing (make security builds it)"
    sbx cp -q "$ESC_BIN" "$1:/tmp/escape" 2>"$T/cp.err" || fail "sbx cp escape: $(cat "$T/cp.err")"
    must_sh "$1" 'chmod 0755 /tmp/escape' root
}

# esc_run ID USER ARGS...: run the probe; ESC_OUT (its stdout), ESC_RC.
esc_run() {
    local id=$1 user=$2
    shift 2
    sx -u "$user" -t 120 "$id" -- /tmp/escape "$@"
    ESC_OUT=$SX_OUT
    ESC_RC=$SX_RC
    printf '%s\n' "--- escape $* as $user (exit $ESC_RC)" "$ESC_OUT" >>"$T/escape.log"
    [ -z "$SX_ERR" ] || printf 'stderr: %s\n' "$SX_ERR" >>"$T/escape.log"
}

# esc_assert_refused WHAT MIN: the last run tried at least MIN attempts, every
# one refused for its expected reason, and the probe exited 0.
esc_assert_refused() {
    local what=$1 min=$2 n badl
    n=$(grep -c '^TRY ' <<<"$ESC_OUT")
    badl=$(grep '^TRY ' <<<"$ESC_OUT" | grep -v ': ok$')
    [ -z "$badl" ] || fail "$what: not refused for the expected reason: $(short "$badl" 600)"
    [ "$ESC_RC" = 0 ] || fail "$what: escape exited $ESC_RC: $(short "$SX_ERR $ESC_OUT" 300)"
    [ "$n" -ge "$min" ] || fail "$what: only $n attempts made, expected at least $min: $(short "$ESC_OUT" 300)"
    note "$what: $n attempts, all refused for the expected reason"
}

# esc_line NAME WHAT RESULT: the last run has exactly this attempt with this
# result, judged ok ("TRY NAME: WHAT -> RESULT ...: ok").
esc_line() {
    local line
    line=$(grep -F "TRY $1: $2 -> " <<<"$ESC_OUT" | head -n 1)
    [ -n "$line" ] || fail "no attempt [$1: $2] in the probe's output: $(short "$ESC_OUT" 300)"
    [[ "$line" == "TRY $1: $2 -> $3"* ]] || fail "attempt [$1: $2]: expected result $3, got [$line]"
    [[ "$line" == *": ok" ]] || fail "attempt [$1: $2] not judged ok: [$line]"
}

# esc_both ID GROUP MIN: run GROUP as the sandbox user and as root, each time
# all refused (MIN attempts at least); ESC_OUT_SANDBOX, ESC_OUT_ROOT.
esc_both() {
    esc_run "$1" sandbox "$2"
    esc_assert_refused "$2 as the sandbox user" "$3"
    ESC_OUT_SANDBOX=$ESC_OUT
    esc_run "$1" root "$2"
    esc_assert_refused "$2 as root in the user namespace" "$3"
    ESC_OUT_ROOT=$ESC_OUT
}
