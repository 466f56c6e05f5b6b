# tests/integration/lib.sh - helpers shared by run.sh and the test_*.sh files.
#
# Sourced, never run. Everything here works from the IT_* variables that
# run.sh exports:
#   IT_DIR        this directory
#   IT_RUN        the run's scratch dir (under $SBX_TEST_TMP), removed at the end
#   IT_TAG        unique name of the run (sbx-it-<pid>): cgroup names derive from it
#   IT_ID_REGION  first host uid of the run's id region (IT_DAEMON_MAX daemons x
#                 IT_SLOTS slots x 65536 ids); no other sbxd on the host uses it
#   IT_CG_MODE    v2 | hybrid (from GET /v1/health of the main daemon)
#   SBX_BUILD     dir with sbxd, sbx, sbx-init, images/
#
# Every daemon's previews listen on 127.0.0.1:0 (a free port: daemons run side
# by side); GET /v1/health's preview.port says which.
#
# A daemon is known by a NAME ("main" is the one run.sh starts for the whole
# run; tests that need a fresh daemon start their own). Its files:
#   $IT_RUN/NAME/state      --state-dir (images copied into state/images)
#   $IT_RUN/NAME.sock       --socket
#   $IT_RUN/NAME/sbxd.log   its stdout+stderr
#   $IT_RUN/NAME/pid        its pid while running
#   $IT_RUN/NAME/index      its slot in the run's id region
# `use_daemon NAME` points SOCK, STATE, CGN, IDBASE, IDCOUNT, DLOG, DPIDFILE at it.
#
# Inside a test: T is the test's scratch dir (cwd). fail/skip end the test;
# they must be called from the test's own shell, not from $(...) or a pipe
# (run.sh still notices a reason written from a subshell).

IT_SLOTS=16          # --id-slots of every daemon of the run
IT_DAEMON_MAX=32     # daemons per run (main + the tests' own: 24 names now)
IT_DEFAULT_SESSION='{"image":"busybox"}'
# sbxd keeps this many sandboxes prepared ahead of requests (--warm, default
# in its --help): a running daemon legitimately has that many cgroups,
# workspaces and setup children (uid 0, children of sbxd) that are no session.
IT_WARM_MAX=${SBX_TEST_WARM_MAX:-$("${SBX_BUILD:-build}/sbxd" --help 2>/dev/null |
    sed -n 's/.*--warm N.*(default \([0-9]*\).*/\1/p')}
IT_WARM_MAX=${IT_WARM_MAX:-0}
IT_IDS_PER_SLOT=65536

# ---------------------------------------------------------------- basics ----

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

# fail MESSAGE: end the current test as failed.
fail() {
    printf '%s\n' "$*" >>"$T/.reason"
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

# skip MESSAGE: end the current test as skipped.
skip() {
    printf '%s\n' "$*" >"$T/.skip"
    exit 77
}

# note MESSAGE: context for a failure report (goes to the test log).
note() { printf '# %s\n' "$*" >&2; }

# Shorten a value for a one-line message.
short() {
    local s=$1 n=${2:-300}
    s=${s//$'\n'/\\n}
    if [ "${#s}" -gt "$n" ]; then s="${s:0:n}...(${#1} chars)"; fi
    printf '%s' "$s"
}

assert_eq() { # EXPECTED ACTUAL WHAT
    [ "$1" == "$2" ] || fail "$3: expected [$(short "$1")], got [$(short "$2")]"
}

assert_ne() { # UNEXPECTED ACTUAL WHAT
    [ "$1" != "$2" ] || fail "$3: expected anything but [$(short "$1")]"
}

assert_contains() { # HAYSTACK NEEDLE WHAT
    [[ "$1" == *"$2"* ]] || fail "$3: expected to contain [$(short "$2" 120)], got [$(short "$1")]"
}

assert_not_contains() { # HAYSTACK NEEDLE WHAT
    [[ "$1" != *"$2"* ]] || fail "$3: expected not to contain [$(short "$2" 120)], got [$(short "$1")]"
}

assert_match() { # ACTUAL ERE WHAT
    [[ "$1" =~ $2 ]] || fail "$3: expected to match /$2/, got [$(short "$1")]"
}

assert_le() { # A B WHAT   (integers: A <= B)
    [ "$1" -le "$2" ] 2>/dev/null || fail "$3: expected $1 <= $2"
}

assert_ge() { # A B WHAT   (integers: A >= B)
    [ "$1" -ge "$2" ] 2>/dev/null || fail "$3: expected $1 >= $2"
}

# wait_until SECONDS CMD...: poll CMD (every 50 ms) until it succeeds; 1 on
# timeout (SECONDS x IT_SLOW, the machine's slowness found by run.sh).
wait_until() {
    local deadline=$(($(now_us) + $1 * ${IT_SLOW:-1} * 1000000))
    shift
    while :; do
        "$@" && return 0
        [ "$(now_us)" -gt "$deadline" ] && return 1
        sleep 0.05
    done
}

# Run at test exit (LIFO), e.g. defer daemon_stop mine.
IT_DEFERRED=()
defer() { IT_DEFERRED+=("$*"); }

# --------------------------------------------------------------- daemons ----

daemon_index() { # NAME -> its index in the run's id region (assigned once)
    local f="$IT_RUN/$1/index" n
    if [ ! -s "$f" ]; then
        mkdir -p "$IT_RUN/$1"
        if [ "$1" = main ]; then
            n=0
        else
            # next free index (run.sh and tests run one at a time: no race)
            n=$(cat "$IT_RUN"/*/index 2>/dev/null | sort -n | tail -1)
            n=$((${n:-0} + 1))
        fi
        [ "$n" -lt "$IT_DAEMON_MAX" ] || { echo "lib: too many daemons in one run" >&2; return 1; }
        echo "$n" >"$f"
    fi
    cat "$f"
}

use_daemon() { # NAME
    local idx
    idx=$(daemon_index "$1") || return 1
    DNAME=$1
    SOCK="$IT_RUN/$1.sock"
    STATE="$IT_RUN/$1/state"
    DLOG="$IT_RUN/$1/sbxd.log"
    DPIDFILE="$IT_RUN/$1/pid"
    if [ "$1" = main ]; then CGN=$IT_TAG; else CGN="$IT_TAG-$1"; fi
    IDBASE=$((IT_ID_REGION + idx * IT_SLOTS * IT_IDS_PER_SLOT))
    IDCOUNT=$((IT_SLOTS * IT_IDS_PER_SLOT))
    echo "$CGN" >"$IT_RUN/$1/cgroup-name"
}

daemon_pid() { cat "$IT_RUN/$1/pid" 2>/dev/null; }

daemon_alive() { # NAME
    local p
    p=$(daemon_pid "$1")
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && [ "$(ps -o stat= -p "$p" 2>/dev/null | cut -c1)" != Z ]
}

# daemon_start NAME [SBXD ARGS...]: start sbxd NAME (state kept if it exists: a
# restart), wait until /v1/health answers (bounded). Leaves use_daemon NAME in
# effect. Extra args go to sbxd (after the run's own).
daemon_start() {
    use_daemon "$1" || return 1
    local name=$1
    shift
    mkdir -p "$STATE"
    # busybox only: the suite's image (debian and node from `make images` are big)
    if [ ! -d "$STATE/images" ]; then
        mkdir -p "$STATE/images" && cp -a "$SBX_BUILD/images/busybox" "$STATE/images/" || return 1
    fi
    echo "--- sbxd start $(date +%T.%N)" >>"$DLOG"
    rm -f "$DPIDFILE" "$IT_RUN/$name/status"
    # A wrapper records the exit status (and keeps job notices out of the output).
    bash -c 'log=$1 pidf=$2 stf=$3; shift 3
        "$@" >>"$log" 2>&1 </dev/null &
        echo $! >"$pidf"; wait $!; echo $? >"$stf"' sbxd-wrapper \
        "$DLOG" "$DPIDFILE" "$IT_RUN/$name/status" \
        "$SBX_BUILD/sbxd" --socket "$SOCK" --state-dir "$STATE" --cgroup-name "$CGN" \
        --id-base "$IDBASE" --id-slots "$IT_SLOTS" --audit-log "$IT_RUN/$name/egress.jsonl" \
        --policy-dir "$IT_RUN/policy.d" --shim-user nobody --on-exit remove \
        --preview-listen 127.0.0.1:0 \
        ${SBX_TEST_SHIM:+--shim "$SBX_TEST_SHIM"} ${IT_SBXD_ARGS[@]+"${IT_SBXD_ARGS[@]}"} \
        "$@" 2>>"$DLOG" &
    local pid
    wait_until 10 test -s "$DPIDFILE" || { echo "lib: sbxd $name did not start" >&2; return 1; }
    pid=$(cat "$DPIDFILE")
    if ! wait_until 30 _health_ok "$pid"; then
        echo "lib: sbxd $name did not answer /v1/health within 30 s; log:" >&2
        tail -n 20 "$DLOG" >&2
        return 1
    fi
}

_health_ok() { # PID
    kill -0 "$1" 2>/dev/null || return 1
    curl -sf --max-time 2 --unix-socket "$SOCK" http://sbx/v1/health >/dev/null 2>&1
}

# daemon_stop NAME [SIGNAL]: signal (TERM), wait up to 30 s, then KILL. Sets
# DAEMON_STATUS to its exit status when it could be collected ("" otherwise).
daemon_stop() {
    local name=$1 sig=${2:-TERM} pid
    DAEMON_STATUS=
    pid=$(daemon_pid "$name")
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -"$sig" "$pid" 2>/dev/null
        local deadline=$(($(now_us) + 30000000))
        while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ]; do
            if [ "$(now_us)" -gt "$deadline" ]; then
                echo "lib: sbxd $name (pid $pid) ignored SIG$sig for 30 s: SIGKILL" >&2
                kill -KILL "$pid" 2>/dev/null
                break
            fi
            sleep 0.05
        done
    fi
    # the wrapper writes the exit status once it collected it
    wait_until 10 test -s "$IT_RUN/$name/status" && DAEMON_STATUS=$(cat "$IT_RUN/$name/status")
    rm -f "$IT_RUN/$name/pid"
}

# cg_purge NAME: kill what is left in cgroup subtree NAME (every hierarchy) and
# remove it. Only for names of this run.
cg_purge() {
    local n=$1 d s
    case $n in "$IT_TAG" | "$IT_TAG"-*) ;; *) echo "cg_purge: refusing $n" >&2; return 1 ;; esac
    for d in /sys/fs/cgroup/"$n" /sys/fs/cgroup/*/"$n"; do
        [ -d "$d" ] || continue
        for s in "$d"/*/; do
            [ -d "$s" ] || continue
            [ -e "$s/cgroup.kill" ] && echo 1 >"$s/cgroup.kill" 2>/dev/null
            local p
            for p in $(cat "$s/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        done
    done
    for d in /sys/fs/cgroup/"$n" /sys/fs/cgroup/*/"$n"; do
        [ -d "$d" ] || continue
        for s in "$d"/*/; do
            [ -d "$s" ] || continue
            wait_until 5 _cg_empty "$s"
            rmdir "$s" 2>/dev/null || echo "cg_purge: cannot remove $s" >&2
        done
        rmdir "$d" 2>/dev/null || echo "cg_purge: cannot remove $d" >&2
    done
}

_cg_empty() { [ -z "$(cat "$1/cgroup.procs" 2>/dev/null)" ]; }

# ------------------------------------------------------------------- API ----

# api METHOD PATH [BODY]: request to the current daemon ($SOCK). Sets API_CODE
# (000 when no HTTP answer came) and API_BODY. Extra curl args: API_CURL_ARGS.
api() {
    local method=$1 path=$2
    local args=(-sS --max-time "${API_MAX_TIME:-60}" --unix-socket "$SOCK" -o "$T/.api.out"
        -w '%{http_code}')
    if [ "$method" = HEAD ]; then args+=(-I); else args+=(-X "$method"); fi
    if [ $# -ge 3 ]; then
        printf '%s' "$3" >"$T/.api.in"
        args+=(--data-binary "@$T/.api.in")
    fi
    rm -f "$T/.api.out"
    API_CODE=$(curl "${args[@]}" ${API_CURL_ARGS[@]+"${API_CURL_ARGS[@]}"} "http://sbx$path" 2>"$T/.api.err")
    [ -n "$API_CODE" ] || API_CODE=000
    API_BODY=
    [ -f "$T/.api.out" ] && API_BODY=$(<"$T/.api.out")
    API_ERR=$(<"$T/.api.err")
}

# api_file METHOD PATH FILE: api with the body read from FILE.
api_file() {
    rm -f "$T/.api.out"
    API_CODE=$(curl -sS --max-time "${API_MAX_TIME:-60}" --unix-socket "$SOCK" -o "$T/.api.out" \
        -w '%{http_code}' -X "$1" --data-binary "@$3" ${API_CURL_ARGS[@]+"${API_CURL_ARGS[@]}"} \
        "http://sbx$2" 2>"$T/.api.err")
    [ -n "$API_CODE" ] || API_CODE=000
    API_BODY=
    [ -f "$T/.api.out" ] && API_BODY=$(<"$T/.api.out")
    API_ERR=$(<"$T/.api.err")
}

jb() { jq -r "$1" <<<"$API_BODY" 2>/dev/null; } # jq on the last API_BODY

# expect_error STATUS CODE [MESSAGE_SUBSTRING...]: the last api answer is this
# JSON error.
expect_error() {
    local status=$1 code=$2 what="${API_WHAT:-request}"
    shift 2
    [ "$API_CODE" = "$status" ] ||
        fail "$what: expected HTTP $status $code, got HTTP $API_CODE: $(short "$API_BODY") $API_ERR"
    local c= m= LC_ALL=C
    # {"error":{"code":"...","message":"..."}} read without spawning jq
    local re_c='"code"[[:space:]]*:[[:space:]]*"([^"]*)"'
    local re_m='"message"[[:space:]]*:[[:space:]]*"(([^"\\]|\\.)*)"'
    [[ "$API_BODY" =~ $re_c ]] && c=${BASH_REMATCH[1]}
    [[ "$API_BODY" =~ $re_m ]] && m=${BASH_REMATCH[1]}
    m=${m//\\\//\/}
    m=${m//\\\"/\"}
    [[ "$API_BODY" == *'"error"'* ]] || c=
    [ "$code" = '*' ] || [ "$c" = "$code" ] || fail "$what: expected error code $code, got [$c] in $(short "$API_BODY")"
    [ -n "$m" ] || fail "$what: error without a message: $(short "$API_BODY")"
    local s
    for s in "$@"; do
        [[ "$m" == *"$s"* ]] || fail "$what: error message should name [$s]: got [$m]"
    done
}

health_ok() { api GET /v1/health && [ "$API_CODE" = 200 ]; }

assert_health() { # the daemon still answers
    local API_CURL_ARGS=()
    api GET /v1/health
    [ "$API_CODE" = 200 ] || fail "GET /v1/health after that: HTTP $API_CODE $(short "$API_BODY") $API_ERR (daemon alive: $(daemon_alive "$DNAME" && echo yes || echo no))"
}

# new_session [BODY]: create a session; SID = its id, SESSION = the answer.
new_session() {
    api POST /v1/sessions "${1:-$IT_DEFAULT_SESSION}"
    [ "$API_CODE" = 201 ] || fail "create session ${1:-}: HTTP $API_CODE: $(short "$API_BODY") $API_ERR"
    SID=$(jb .id)
    SESSION=$API_BODY
    [[ "$SID" =~ ^[0-9a-f]{12}$ ]] || fail "create session: bad id [$SID] in $(short "$API_BODY")"
}

session_json() { # ID -> SESSION (and API_CODE)
    api GET "/v1/sessions/$1"
    SESSION=$API_BODY
}

session_field() { # ID JQ -> prints value ("" if the session is gone)
    local body
    body=$(curl -sS --max-time 10 --unix-socket "$SOCK" "http://sbx/v1/sessions/$1" 2>/dev/null)
    jq -r "$2" <<<"$body" 2>/dev/null
}

session_gone() { # ID
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --unix-socket "$SOCK" "http://sbx/v1/sessions/$1")" = 404 ]
}

delete_all_sessions() {
    local ids id
    ids=$(curl -sS --max-time 30 --unix-socket "$SOCK" http://sbx/v1/sessions 2>/dev/null |
        jq -r '.sessions[].id' 2>/dev/null)
    for id in $ids; do
        curl -sS --max-time 60 -o /dev/null --unix-socket "$SOCK" -X DELETE "http://sbx/v1/sessions/$id"
    done
}

# ------------------------------------------------------------------ exec ----

# api_exec ID BODY [CURL_ARGS...]: POST .../exec, whole answer to $T/exec.out,
# headers to $T/exec.hdr. Sets EXEC_CODE.
api_exec() {
    local id=$1 body=$2
    shift 2
    printf '%s' "$body" >"$T/.exec.in"
    EXEC_CODE=$(curl -sS -N --max-time "${API_MAX_TIME:-120}" --unix-socket "$SOCK" -X POST \
        --data-binary "@$T/.exec.in" -D "$T/exec.hdr" -o "$T/exec.out" -w '%{http_code}' "$@" \
        "http://sbx/v1/sessions/$id/exec" 2>"$T/.exec.err")
    [ -n "$EXEC_CODE" ] || EXEC_CODE=000
    EXEC_BODY=$(head -c 4000 "$T/exec.out" 2>/dev/null)
}

# ndjson_data FILE stdout|stderr: the decoded bytes of those events, in order.
ndjson_data() {
    # every event's base64 is a whole number of 4-char quanta: one decoder will do
    jq -r --arg t "$2" 'select(.type == $t) | .data' <"$1" | base64 -d
}

ndjson_exit() { jq -c 'select(.type == "exit")' <"$1" | tail -n 1; }

# sbx ARGS...: the CLI against the current daemon (bounded).
sbx() { SBX_SOCKET=$SOCK timeout -k 5 "$((${SBX_CLI_TIMEOUT:-300} * ${IT_SLOW:-1}))" "$SBX_BUILD/sbx" "$@"; }

# sx [EXEC OPTIONS] ID [--] CMD...: sbx exec; sets SX_RC, SX_OUT, SX_ERR.
sx() {
    sbx exec "$@" >"$T/.sx.out" 2>"$T/.sx.err"
    SX_RC=$?
    SX_OUT=$(<"$T/.sx.out")
    SX_ERR=$(<"$T/.sx.err")
}

# in_sbx ID SCRIPT / as_root ID SCRIPT: sh -c SCRIPT as the default user / root.
in_sbx() { sx "$1" -- sh -c "$2"; }
as_root() { sx -u root "$1" -- sh -c "$2"; }

# must_sh ID SCRIPT [USER]: like in_sbx but the script must exit 0.
must_sh() {
    sx -u "${3:-sandbox}" "$1" -- sh -c "$2"
    [ "$SX_RC" = 0 ] || fail "in sandbox ($1, user ${3:-sandbox}): [$(short "$2" 150)] exited $SX_RC; stdout [$(short "$SX_OUT")] stderr [$(short "$SX_ERR")]"
}

# -------------------------------------------------------------- cgroups -----

# cg_dirs NAME ID: the session's cgroup directories on this host.
cg_dirs() {
    if [ "$IT_CG_MODE" = v2 ]; then
        echo "/sys/fs/cgroup/$1/$2"
    else
        echo "/sys/fs/cgroup/unified/$1/$2"
        echo "/sys/fs/cgroup/memory/$1/$2"
        echo "/sys/fs/cgroup/pids/$1/$2"
        echo "/sys/fs/cgroup/cpu/$1/$2"
    fi
}

# cg_limit_file memory|pids|cpu ID: host file holding that limit (current daemon).
cg_limit_file() {
    if [ "$IT_CG_MODE" = v2 ]; then
        case $1 in
            memory) echo "/sys/fs/cgroup/$CGN/$2/memory.max" ;;
            pids) echo "/sys/fs/cgroup/$CGN/$2/pids.max" ;;
            cpu) echo "/sys/fs/cgroup/$CGN/$2/cpu.max" ;;
        esac
    else
        case $1 in
            memory) echo "/sys/fs/cgroup/memory/$CGN/$2/memory.limit_in_bytes" ;;
            pids) echo "/sys/fs/cgroup/pids/$CGN/$2/pids.max" ;;
            cpu) echo "/sys/fs/cgroup/cpu/$CGN/$2/cpu.cfs_quota_us" ;;
        esac
    fi
}

# ------------------------------------------------------------ host views ----

# Processes (not zombies) whose uid lies in [IDBASE, IDBASE+IDCOUNT): "pid uid args".
range_procs() {
    local lo=${1:-$IDBASE} n=${2:-$IDCOUNT}
    ps -eo pid=,uid=,stat=,args= | awk -v lo="$lo" -v hi="$((lo + n))" \
        '$2 >= lo && $2 < hi && $3 !~ /^Z/ { print }'
}

# The run's whole id region (every daemon of the run).
region_procs() { range_procs "$IT_ID_REGION" $((IT_DAEMON_MAX * IT_SLOTS * IT_IDS_PER_SLOT)); }

netns_snapshot() { # unique net namespace inodes of every process
    ps -eo netns= | awk '$1 ~ /^[0-9]+$/' | sort -u
}

# Net namespaces not in the run's baseline that are held by processes of this
# run (uid in the id region, or a descendant of one of the run's daemons), or
# pinned by an nsfs mount / an open fd of a daemon: "inode holder".
# Net namespaces that are sbx's own while a daemon runs: its egress namespace
# (pinned at STATE/egress.netns), and namespaces tests made (netns.extra).
legit_netns() {
    local d p
    for d in "$IT_RUN"/*/; do
        p=$(cat "$d/pid" 2>/dev/null) || continue
        kill -0 "$p" 2>/dev/null || continue
        [ -e "$d/state/egress.netns" ] && stat -L -c %i "$d/state/egress.netns" 2>/dev/null
    done
    cat "$IT_RUN/netns.extra" 2>/dev/null
    cat "$IT_RUN/netns.baseline" 2>/dev/null
}

stray_netns() {
    local daemons p legit
    daemons=$(cat "$IT_RUN"/*/pid 2>/dev/null | tr '\n' ' ')
    legit=$(legit_netns | tr '\n' ' ')
    {
        ps -eo pid=,ppid=,uid=,stat=,netns= |
            awk -v base="$legit" -v daemons="$daemons" \
                -v lo="$IT_ID_REGION" -v hi="$((IT_ID_REGION + IT_DAEMON_MAX * IT_SLOTS * IT_IDS_PER_SLOT))" '
            BEGIN { n = split(base, b, " "); for (i = 1; i <= n; i++) known[b[i]] = 1
                    n = split(daemons, d, " "); for (i = 1; i <= n; i++) ours[d[i]] = 1 }
            { pid[NR] = $1; ppid[$1] = $2; uid[$1] = $3; st[$1] = $4; ns[$1] = $5 }
            END {
                for (k = 1; k <= NR; k++) {
                    p = pid[k]
                    if (st[p] ~ /^Z/ || ns[p] !~ /^[0-9]+$/ || (ns[p] in known)) continue
                    mine = (uid[p] >= lo && uid[p] < hi)
                    if (!mine && uid[p] == 0 && (ppid[p] in ours)) continue # setup child (warm pool)
                    for (q = ppid[p]; !mine && q > 1; q = ppid[q]) if (q in ours) mine = 1
                    if (mine) print ns[p], "pid " p
                }
            }'
        for p in $daemons; do
            ls -l "/proc/$p/fd" 2>/dev/null | grep -o 'net:\[[0-9]*\]' | sed "s/\$/ fd of sbxd $p/"
        done
        # nsfs mounts of this run (sbxd's only one is STATE/egress.netns, and
        # every state dir is in IT_RUN): not those of other sbxd instances or
        # test runs on this host, which come and go while a test runs
        awk -v mine="$IT_RUN" '
            $4 ~ /^net:\[/ && index($5, mine "/") == 1 {
                x = $4; sub(/^net:/, "", x); print "net:" x " nsfs mount" }' /proc/self/mountinfo 2>/dev/null
    } | awk -v base="$legit" 'BEGIN { n = split(base, b, " "); for (i = 1; i <= n; i++) known[b[i]] = 1 }
        { x = $1; gsub(/[^0-9]/, "", x); if (!(x in known)) print }'
}

# assert_no_leaks [NAME]: nothing of daemon NAME's sessions is left on the host
# (waits up to 10 s for stragglers): no session cgroup in any hierarchy, no
# workspace, no process in its uid range, no mount mentioning its state dir, no
# stray net namespace; when it runs, it reports 0 sessions and 0 execs. A
# running daemon may hold up to IT_WARM_MAX warm-pool entries: a cgroup whose
# only processes are setup children of sbxd (uid 0) and an empty workspace.
assert_no_leaks() {
    use_daemon "${1:-main}"
    local what="${LEAK_WHAT:-leak check}"
    if ! wait_until 10 _no_leaks; then
        _no_leaks
        fail "$what: sbxd $DNAME left traces on the host: $(short "$LEAKS" 600)"
    fi
    if daemon_alive "$DNAME"; then
        api GET /v1/health
        [ "$API_CODE" = 200 ] || fail "$what: GET /v1/health: HTTP $API_CODE $API_ERR"
        assert_eq "0 0" "$(jb '"\(.sessions) \(.execs)"')" "$what: health sessions and execs"
        api GET /v1/sessions
        assert_eq 0 "$(jb '.sessions | length')" "$what: sessions listed"
    fi
}

_no_leaks() {
    LEAKS=
    local d s x id warm=() nwarm=0 ids
    ids=$({
        for d in /sys/fs/cgroup/"$CGN" /sys/fs/cgroup/*/"$CGN"; do
            [ -d "$d" ] || continue
            for s in "$d"/*/; do [ -d "$s" ] && basename "$s"; done
        done
        [ -d "$STATE/sessions" ] && ls -A "$STATE/sessions"
    } | sort -u)
    for id in $ids; do
        if _is_warm "$id"; then
            nwarm=$((nwarm + 1))
            continue
        fi
        for d in /sys/fs/cgroup/"$CGN"/"$id" /sys/fs/cgroup/*/"$CGN"/"$id"; do
            [ -d "$d" ] && LEAKS+="cgroup $d; "
        done
        x=$(cat /sys/fs/cgroup/unified/"$CGN"/"$id"/cgroup.procs /sys/fs/cgroup/"$CGN"/"$id"/cgroup.procs 2>/dev/null | tr '\n' ',')
        [ -z "$x" ] || LEAKS+="(processes of $id: $(ps -o pid=,ppid=,uid=,args= -p "${x%,}" | tr -s ' ' | tr '\n' ';')) "
        [ -e "$STATE/sessions/$id" ] && LEAKS+="workspace $STATE/sessions/$id; "
    done
    [ "$nwarm" -le "$IT_WARM_MAX" ] || LEAKS+="$nwarm warm-pool entries (at most $IT_WARM_MAX expected); "
    x=$(range_procs)
    [ -z "$x" ] || LEAKS+="processes in uid range $IDBASE+$IDCOUNT: $(echo $x); "
    # the egress namespace pin is the daemon's own while it runs, and only then
    local pin=" //never// "
    daemon_alive "$DNAME" && pin=" $STATE/egress.netns "
    # sbxd's disk volume (supervisor/quota.h) and its two binds stay mounted
    # for the next sbxd: one per state dir, never per session (run.sh
    # unmounts them at the end)
    local vol=" $STATE/(volume|sessions|workspaces) "
    x=$(for f in /proc/[0-9]*/mountinfo; do
        grep -F "$STATE" "$f" 2>/dev/null | grep -vF "$pin" | grep -qvE "$vol" && echo "$f"
    done | head -5)
    [ -z "$x" ] || LEAKS+="mounts mentioning $STATE in: $(echo $x); "
    x=$(stray_netns)
    [ -z "$x" ] || LEAKS+="net namespaces: $(echo $x); "
    [ -z "$LEAKS" ]
}

# _is_warm ID: trace ID of the current daemon is a warm-pool entry: the daemon
# runs, the entry's cgroup holds only its setup children (uid 0, parent sbxd),
# and its workspace (if made yet) is untouched.
_is_warm() {
    local dpid v2 p procs
    daemon_alive "$DNAME" || return 1
    dpid=$(daemon_pid "$DNAME")
    if [ "$IT_CG_MODE" = v2 ]; then v2="/sys/fs/cgroup/$CGN/$1"; else v2="/sys/fs/cgroup/unified/$CGN/$1"; fi
    procs=$(cat "$v2/cgroup.procs" 2>/dev/null)
    [ -n "$procs" ] || return 1
    for p in $procs; do
        [ "$(ps -o ppid=,uid= -p "$p" | awk '{ print $1, $2 }')" = "$dpid 0" ] || return 1
    done
    [ -z "$(ls -A "$STATE/sessions/$1/upper" 2>/dev/null)" ]
}

# ------------------------------------------------------------------ misc ----

# busybox of the image, runnable on the host (static): a tiny host-side server.
host_busybox() { echo "$SBX_BUILD/images/busybox/rootfs/bin/busybox"; }

host_ipv4() { # first global IPv4 address of the host
    ip -4 -o addr show scope global 2>/dev/null | awk '{ sub(/\/.*/, "", $4); print $4; exit }'
}

# The 256 byte values as a printf format of octal escapes.
all_bytes_fmt() {
    local i f= x
    for ((i = 0; i < 256; i++)); do printf -v x '\\%03o' "$i"; f+=$x; done
    printf '%s' "$f"
}

# ------------------------------------------------------------ test entry ----

# it_test_main NAME: run.sh runs each test as `bash -c 'source lib.sh; it_test_main NAME'`.
it_test_main() {
    T="$IT_RUN/t/$1"
    mkdir -p "$T" && cd "$T" || exit 1
    local f
    for f in $(for d in ${IT_TEST_DIRS:-$IT_DIR}; do echo "$d"/test_*.sh; done); do source "$f"; done
    use_daemon main
    trap _it_test_exit EXIT
    "$1"
    exit 0
}

_it_test_exit() {
    local rc=$? i j
    trap - EXIT
    for ((i = ${#IT_DEFERRED[@]} - 1; i >= 0; i--)); do eval "${IT_DEFERRED[i]}" || true; done
    j=$(jobs -p)
    [ -z "$j" ] || kill $j 2>/dev/null
    [ -s "$T/.reason" ] && [ "$rc" = 0 ] && rc=1
    exit "$rc"
}
