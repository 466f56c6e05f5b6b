#!/bin/bash
# images/check-node.sh BUILD_DIR - end-to-end check of the node image: a Vite +
# React dev server runs in a real sandbox and serves transformed modules.
#
# Starts its own sbxd from BUILD_DIR (--no-network, images from
# BUILD_DIR/images, state in a temp dir under /var/tmp), creates a session on
# image node, checks the toolchain in it (node, npm, python3, git, gcc, g++),
# prepares a tiny Vite 5 + React 18 project on the host (npm install needs the
# npm registry, which the host reaches and the sandbox does not), copies it
# into /workspace through `sbx exec -i` (in chunks: a request carries at most
# 12 MiB of stdin), starts `npx vite` in the sandbox and fetches / and
# /src/main.jsx from inside the sandbox with node's fetch. Prints PASS/FAIL
# lines; exit status 0 only if every check passed. Whatever it started is
# stopped and removed on exit. Run as root (make images-check).
set -euo pipefail
BUILD=$(cd "${1:?usage: images/check-node.sh BUILD_DIR}" && pwd)
SBXD=$BUILD/sbxd
SBX=$BUILD/sbx
PORT=5173
say() { printf 'check-node: %s\n' "$*"; }
die() { printf 'check-node: FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (sbxd creates namespaces and cgroups)"
for f in "$SBXD" "$SBX" "$BUILD/sbx-init"; do [ -x "$f" ] || die "$f not built: run make"; done
[ -d "$BUILD/images/node/rootfs" ] || die "$BUILD/images/node not built: run make images"
command -v npm >/dev/null || die "npm is needed on the host (scripts/install-deps.sh --images)"

STATE=$(mktemp -d /var/tmp/sbx-check-node.XXXXXX) # ext4/xfs: images are idmapped mounts
SOCK=$STATE/sbxd.sock
SBXD_PID="" ID="" VITE_PID=""
# a uid range of its own, above the ones the integration tests and the
# benchmarks pick (0x20000000.. and 0x30000000..)
IDBASE=$((0x60000000 + ($$ % 1024) * 2 * 65536))
CGN=sbx-check-node-$$
FAILS=0 PASSES=0
pass() { PASSES=$((PASSES + 1)); printf 'PASS: %s\n' "$*"; }
fail() { FAILS=$((FAILS + 1)); printf 'FAIL: %s\n' "$*"; }

cleanup() {
    local rc=$? m
    trap - EXIT INT TERM HUP
    set +e
    [ -z "$VITE_PID" ] || { kill "$VITE_PID" 2>/dev/null; wait "$VITE_PID" 2>/dev/null; }
    [ -z "$ID" ] || "$SBX" --socket "$SOCK" rm "$ID" >/dev/null 2>&1 ||
        say "warning: could not remove session $ID"
    if [ -n "$SBXD_PID" ]; then
        kill "$SBXD_PID" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$SBXD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SBXD_PID" 2>/dev/null
        wait "$SBXD_PID" 2>/dev/null
    fi
    # nothing of the sandbox may stay mounted under the state dir
    for m in $(awk -v p="$STATE" 'index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
        say "warning: unmounting leftover $m"
        umount -l "$m"
    done
    if [ "$rc" != 0 ] && [ -s "$STATE/sbxd.log" ]; then
        say "sbxd log (last lines):"
        tail -n 15 "$STATE/sbxd.log" | sed 's/^/  /'
    fi
    rm -rf --one-file-system "$STATE"
    # sbxd leaves its (empty) cgroups behind: v2, or v1 controllers + unified
    for m in /sys/fs/cgroup/"$CGN" /sys/fs/cgroup/*/"$CGN"; do
        [ ! -d "$m" ] || find "$m" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---- sbxd ------------------------------------------------------------------
mkdir -p "$STATE/policy.d"
say "starting sbxd (state $STATE, images $BUILD/images)"
"$SBXD" --socket "$SOCK" --state-dir "$STATE" --image-dir "$BUILD/images" \
    --cgroup-name "$CGN" --id-base "$IDBASE" --id-slots 2 --warm 0 --no-network \
    --audit-log "$STATE/egress.jsonl" --policy-dir "$STATE/policy.d" 2> "$STATE/sbxd.log" &
SBXD_PID=$!
for _ in $(seq 200); do [ -S "$SOCK" ] && break; kill -0 "$SBXD_PID" 2>/dev/null || break; sleep 0.05; done
[ -S "$SOCK" ] || die "sbxd did not start"
sbx() { "$SBX" --socket "$SOCK" "$@"; }
sbx health >/dev/null || die "sbxd does not answer"

ID=$(sbx create --image node --memory 1G --pids 512 --label check=node)
say "session $ID on image node"
# sx CMD...: run CMD in the sandbox, in /workspace, as the sandbox user
sx() { sbx exec -t 120 -w /workspace -e NPM_CONFIG_UPDATE_NOTIFIER=false "$ID" -- "$@"; }

# ---- the toolchain -------------------------------------------------------------
v=$(sx sh -c 'echo "node $(node --version), npm $(npm --version), $(python3 --version),"\
 "$(git --version), gcc $(gcc -dumpfullversion), g++ $(g++ -dumpfullversion),"\
 "$(make --version | head -n1)"' 2>&1) && pass "tools: $v" || fail "tools: $v"
out=$(sx sh -c 'cd /tmp && printf "#include <stdio.h>\nint main(void){puts(\"hello from gcc\");return 0;}\n" > h.c &&
    gcc -O2 -o h h.c && ./h &&
    printf "#include <iostream>\nint main(){std::cout<<\"hello from g++\"<<std::endl;}\n" > h.cc &&
    g++ -O2 -o hh h.cc && ./hh &&
    python3 -c "import json, ssl, sqlite3; print(\"hello from python\", ssl.OPENSSL_VERSION)" &&
    mkdir -p g && cd g && git init -q && git config user.email s@x && git config user.name s &&
    echo x > f && git add f && git commit -qm init && git log --oneline | wc -l' 2>&1) &&
    [ "$(echo "$out" | tail -n1)" = 1 ] &&
    pass "gcc, g++, python3 and git work: $(echo "$out" | head -n3 | paste -sd';' -)" ||
    fail "toolchain: $out"

# ---- a Vite + React project, installed on the host -----------------------------
P=$STATE/proj
mkdir -p "$P/src"
cat > "$P/package.json" <<'EOF'
{
  "name": "sbx-check-node",
  "private": true,
  "version": "0.0.0",
  "type": "module",
  "scripts": { "dev": "vite" },
  "dependencies": { "react": "^18.3.1", "react-dom": "^18.3.1" },
  "devDependencies": { "vite": "^5.4.0", "@vitejs/plugin-react": "^4.3.0" }
}
EOF
cat > "$P/vite.config.js" <<'EOF'
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'
export default defineConfig({ plugins: [react()] })
EOF
cat > "$P/index.html" <<'EOF'
<!doctype html>
<html lang="en">
  <head><meta charset="UTF-8" /><title>sbx check</title></head>
  <body>
    <div id="root"></div>
    <script type="module" src="/src/main.jsx"></script>
  </body>
</html>
EOF
cat > "$P/src/main.jsx" <<'EOF'
import React from 'react'
import ReactDOM from 'react-dom/client'
import App from './App.jsx'

ReactDOM.createRoot(document.getElementById('root')).render(
  <React.StrictMode>
    <App />
  </React.StrictMode>,
)
EOF
cat > "$P/src/App.jsx" <<'EOF'
import { useState } from 'react'
export default function App() {
  const [n, setN] = useState(0)
  return <button onClick={() => setN(n + 1)}>sbx says hello {n}</button>
}
EOF
say "npm install on the host (vite 5, @vitejs/plugin-react 4, react 18)"
t0=$(date +%s)
(cd "$P" && npm install --no-audit --no-fund --loglevel=error > "$STATE/npm.log" 2>&1) ||
    { tail -n 20 "$STATE/npm.log" >&2; die "npm install on the host failed"; }
vite_ver=$(cd "$P" && node -p 'require("./node_modules/vite/package.json").version')
say "installed in $(( $(date +%s) - t0 )) s: vite $vite_ver, $(du -sh "$P/node_modules" | cut -f1) of node_modules"

# ---- copy into /workspace ----------------------------------------------------------
t0=$(date +%s)
tar -C "$P" -czf "$STATE/proj.tgz" .
split -b 8M -d "$STATE/proj.tgz" "$STATE/proj.tgz.part."
for part in "$STATE"/proj.tgz.part.*; do
    sbx exec -i -t 120 -w /workspace "$ID" -- sh -c 'cat >> .proj.tgz' < "$part" ||
        die "sending $(basename "$part") into the sandbox failed"
done
want=$(sha256sum < "$STATE/proj.tgz" | cut -d' ' -f1)
got=$(sx sh -c 'sha256sum < .proj.tgz | cut -d" " -f1 && tar -xzf .proj.tgz && rm .proj.tgz')
[ "$got" = "$want" ] && pass "project copied into /workspace ($(du -h "$STATE/proj.tgz" | cut -f1) gzipped tar, $(( $(date +%s) - t0 )) s)" ||
    die "the project arrived damaged (sha256 $got, want $want)"

# ---- the dev server --------------------------------------------------------------
say "starting npx vite --host 127.0.0.1 --port $PORT in the sandbox"
sbx exec -w /workspace -e NPM_CONFIG_UPDATE_NOTIFIER=false "$ID" -- \
    npx vite --host 127.0.0.1 --port "$PORT" --strictPort > "$STATE/vite.log" 2>&1 &
VITE_PID=$!
# fetch PATH: the body of http://127.0.0.1:PORT/PATH, fetched inside the sandbox
FETCH='fetch(process.argv[1]).then(async r => { process.stdout.write(await r.text());
    process.exit(r.ok ? 0 : 1) }).catch(e => { console.error(String(e.cause || e)); process.exit(2) })'
fetch() { sbx exec -t 60 "$ID" -- node --no-warnings -e "$FETCH" "http://127.0.0.1:$PORT$1"; }
t0=$(date +%s)
up=0
for _ in $(seq 60); do
    kill -0 "$VITE_PID" 2>/dev/null || break
    if fetch / > "$STATE/index.html" 2>/dev/null; then up=1; break; fi
    sleep 1
done
if [ "$up" = 1 ]; then
    pass "vite $vite_ver dev server answers in the sandbox ($(( $(date +%s) - t0 )) s after start)"
else
    fail "vite dev server did not answer within 60 s; its output:"
    sed 's/^/  /' "$STATE/vite.log"
    exit 1
fi
grep -q '<div id="root"></div>' "$STATE/index.html" &&
    pass "GET / has the React root div" || fail "GET / lacks <div id=\"root\"></div>"
grep -q '/@vite/client' "$STATE/index.html" && grep -q '/@react-refresh' "$STATE/index.html" &&
    pass "GET / has the vite client and the React refresh preamble (plugin-react active)" ||
    fail "GET / lacks /@vite/client or /@react-refresh"
if fetch /src/main.jsx > "$STATE/main.js" 2> "$STATE/main.err"; then
    if grep -Eq '^import .* from "/node_modules/\.vite/deps/react\.js' "$STATE/main.js" &&
        grep -Eq 'from "/node_modules/\.vite/deps/react-dom_client\.js' "$STATE/main.js"; then
        pass "GET /src/main.jsx imports the pre-bundled react and react-dom/client"
    else
        fail "GET /src/main.jsx does not import react from /node_modules/.vite/deps:"
        head -n 8 "$STATE/main.js" | sed 's/^/  /'
    fi
    grep -q 'jsxDEV' "$STATE/main.js" && ! grep -q '<App />' "$STATE/main.js" &&
        pass "GET /src/main.jsx: JSX compiled (jsxDEV calls)" || fail "GET /src/main.jsx: JSX not compiled"
else
    fail "GET /src/main.jsx: $(cat "$STATE/main.err")"
fi
if fetch /src/App.jsx > "$STATE/app.js" 2>/dev/null && grep -q 'sbx says hello' "$STATE/app.js" &&
    grep -q 'RefreshRuntime\|\$RefreshReg\$' "$STATE/app.js"; then
    pass "GET /src/App.jsx is transformed with React refresh"
else
    fail "GET /src/App.jsx is not transformed as expected"
fi

if [ "$FAILS" = 0 ]; then
    say "PASS: all $PASSES checks"
else
    say "FAIL: $FAILS of $((PASSES + FAILS)) checks failed; vite's output:"
    sed 's/^/  /' "$STATE/vite.log"
    exit 1
fi
