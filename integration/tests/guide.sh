#!/usr/bin/env bash
# The Nexus user guide, run as written: every command example of its
# sections 2-13 listed in integration/guide/examples.txt runs against a
# real nexusd (started from the guide's nexus.yaml) and either works (exit
# 0 and its checks), or exits 69 with "nexus: unavailable: <feature> —
# <why>"; never a usage error. Then: docs/guide-parity.md is what the list
# generates.
source "$(dirname "$0")/../lib.sh"
GUIDE="$(cd "$(dirname "$0")/../guide" && pwd)"
SRC="$(cd "$GUIDE/../.." && pwd)"
command -v curl >/dev/null || fail "curl is not installed"

note "docs/guide-parity.md is generated from the list"
python3 "$GUIDE/guide.py" doc --check "$SRC/docs/guide-parity.md" || fail "docs/guide-parity.md is stale"

note "the runner fails a usage error, a wrong exit and a bare 69"
cat >"$TEST_ROOT/wrong.txt" <<'LIST'
== 0 Self-test
@ works
guide: "$NEXUS_CLI" frobnicate

@ unavailable
guide: true
note: exits 0

@ unavailable
guide: exit 69
note: no unavailable line

@ works
guide: true
check: false
LIST
NEXUS_CLI="$NEXUS_CLI" python3 "$GUIDE/guide.py" --list "$TEST_ROOT/wrong.txt" run >"$TEST_ROOT/wrong.out" 2>&1 &&
  fail "the runner passed a list of wrong examples"
grep -q "4 examples, 4 failed" "$TEST_ROOT/wrong.out" || fail "the runner: $(cat "$TEST_ROOT/wrong.out")"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port)
LISTEN_PORT=$(free_port)
UP_PORT=$(free_port)
WORK="$TEST_ROOT/work"
HOME_DIR="$TEST_ROOT/home"
WS="$TEST_ROOT/app-workspace"
mkdir -p "$WORK/.nexus" "$HOME_DIR" "$WS"
# The CLI finds the daemon of the current folder at ./.nexus/data/nexusd.sock.
NEXUS_DATA="$WORK/.nexus/data"
mkdir -p "$NEXUS_DATA"
"$NEXUS_CLI" tls generate --out "$TEST_ROOT/tls" >/dev/null

# The daemon `nexus up` starts in section 2 is stopped by the list itself;
# if the list fails before that, here.
cleanup_up() {
  local state="$HOME_DIR/.nexus/up.json" pid
  if [[ -f "$state" ]]; then
    pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$state" 2>/dev/null || true)
    HOME="$HOME_DIR" "$NEXUS_CLI" down --timeout 20 >/dev/null 2>&1 || { [[ -n $pid ]] && kill -KILL "$pid"; }
  fi
  true
}
trap 'rc=$?; set +e; cleanup_up; (exit $rc); _nexus_cleanup' EXIT

cat >"$TEST_ROOT/nexus.yaml" <<YAML
# The guide's section 2 file ...
profile: full
features:
  agent_registry: true
  permissions: true
  search: true
  sandbox: true
  workflows: true
  mcp: true
  federation: false
# ... and where this test keeps things.
workspace: $WS
http: 127.0.0.1:$HTTP_PORT
listen: 127.0.0.1:$LISTEN_PORT
tls:
  cert: $TEST_ROOT/tls/cert.pem
  key: $TEST_ROOT/tls/key.pem
YAML
note "nexusd from the guide's nexus.yaml"
nexus_start --config "$TEST_ROOT/nexus.yaml"
grep -q "features.federation: unavailable: federation — " "$NEXUS_LOG" && fail "federation: false must not warn"

note "the examples"
cd "$WORK"
export PATH="$NEXUS_BUILD_DIR/bin:$PATH" HOME="$HOME_DIR" T="$WORK" MNT="$NEXUS_MNT" DATA="$NEXUS_DATA" \
  HTTP="127.0.0.1:$HTTP_PORT" LISTEN="127.0.0.1:$LISTEN_PORT" CA="$TEST_ROOT/tls/cert.pem" WS UP_PORT
unset NEXUS_SOCKET NEXUS_DATA_DIR NEXUS_URL NEXUS_API_KEY NEXUS_HOME NEXUS_PROFILE
python3 "$GUIDE/guide.py" run --timeout 30 || fail "some examples of the guide failed (above)"

note "the guide's names in nexus.yaml: a wanted feature we lack warns at start, a malformed one is a usage error"
bad="$TEST_ROOT/bad.yaml"
printf 'features:\n  federation: true\n  search: maybe\n' >"$bad"
rc=0
"$NEXUSD" --config "$bad" --data-dir "$TEST_ROOT/bad-data" --mount "$TEST_ROOT/bad-mnt" >"$TEST_ROOT/bad.out" 2>&1 || rc=$?
[[ $rc -eq 64 ]] || fail "a malformed feature value: exit $rc, expected 64"
grep -q "line 3 key 'features.search'" "$TEST_ROOT/bad.out" || fail "the error names neither key nor line: $(cat "$TEST_ROOT/bad.out")"
echo "guide: ok"
