#!/usr/bin/env bash
# nexus.yaml, NEXUS_* overrides, ${file:...} secrets, profiles, and clear
# exit-64 errors for bad configuration.
source "$(dirname "$0")/../lib.sh"
PORT=$((20000 + RANDOM % 20000))
HPORT=$((PORT + 1))
nx tls generate --out "$TEST_ROOT/tls" >/dev/null
mkdir -p "$TEST_ROOT/secrets"
cp "$TEST_ROOT/tls/key.pem" "$TEST_ROOT/secrets/tls_key_path_target.pem"
echo "$TEST_ROOT/secrets/tls_key_path_target.pem" >"$TEST_ROOT/secrets/tls_key_path"
cat >"$TEST_ROOT/nexus.yaml" <<YAML
data_dir: $NEXUS_DATA
mount: /nonexistent/overridden/by/env
profile: lite
listen: 127.0.0.1:$PORT
tls:
  cert: $TEST_ROOT/tls/cert.pem
  key: \${file:$TEST_ROOT/secrets/tls_key_path}
features:
  tls_listener: true
YAML

note "file + environment + secret reference"
NEXUS_MOUNT="$NEXUS_MNT" NEXUS_HTTP="127.0.0.1:$HPORT" \
  "$NEXUSD" --config "$TEST_ROOT/nexus.yaml" >>"$NEXUS_LOG" 2>&1 &
NEXUSD_PID=$!
wait_mounted "$NEXUS_MNT"
expect_rc 0 nx --json features
[[ $(json_get 'j["profile"]') == lite ]] || fail "profile from the file"
st() { python3 -c "import json; j=json.load(open('$TEST_ROOT/out')); print([f['state'] for f in j['features'] if f['name']=='$1'][0])"; }
[[ $(st http) == enabled && $(st tls_listener) == enabled && $(st locks) == enabled ]] || fail "lite features"
[[ $(st versions) == disabled ]] || fail "versions must be reported disabled (off in profile lite)"
curl -fsS "http://127.0.0.1:$HPORT/health" | grep -q '"profile":"lite"' || fail "/health profile"
K=$(nx --json admin create-user cfg | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"]["api_key"])')
expect_rc 0 nx --remote "127.0.0.1:$PORT" --tls-ca "$TEST_ROOT/tls/cert.pem" --api-key "$K" status
nexus_stop

note "profile minimal: locks are off and say so"
expect_rc 0 true
"$NEXUSD" --data-dir "$NEXUS_DATA" --mount "$NEXUS_MNT" --profile minimal --http "127.0.0.1:$HPORT" >>"$NEXUS_LOG" 2>&1 &
NEXUSD_PID=$!
wait_mounted "$NEXUS_MNT"
expect_rc 0 nx --json features
[[ $(st locks) == disabled && $(st http) == disabled ]] || fail "minimal must switch locks and http off"
expect_rc 69 nx --json lock acquire /x
[[ $(json_get 'j["error"]["code"]') == unavailable ]] || fail "locks off must be 'unavailable'"
grep -q "^nexus: unavailable: locks — " "$TEST_ROOT/err" || fail "locks off: message $(cat "$TEST_ROOT/err")"
curl -s --max-time 5 "http://127.0.0.1:$HPORT/health" >/dev/null && fail "http must not listen in profile minimal"
nexus_stop

note "bad configuration: exit 64 naming the key"
bad() {  # bad WHAT-MUST-APPEAR [nexusd args...]
  local want=$1 rc=0
  shift
  "$NEXUSD" "$@" >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" || rc=$?
  [[ $rc -eq 64 ]] || fail "nexusd $* exited $rc, expected 64"
  grep -q -- "$want" "$TEST_ROOT/err" || fail "message lacks '$want': $(cat "$TEST_ROOT/err")"
}
printf 'data_dir: d\nmount: m\nthreads: many\n' >"$TEST_ROOT/b1.yaml"
bad "'threads'" --config "$TEST_ROOT/b1.yaml"
printf 'data_dir: d\nmount: m\nmystery: 1\n' >"$TEST_ROOT/b2.yaml"
bad "unknown key 'mystery'" --config "$TEST_ROOT/b2.yaml"
printf 'data_dir: d\nmount: m\nprofile: gigantic\n' >"$TEST_ROOT/b3.yaml"
bad "'profile'" --config "$TEST_ROOT/b3.yaml"
printf 'data_dir: [oops\n' >"$TEST_ROOT/b4.yaml"
bad "b4.yaml" --config "$TEST_ROOT/b4.yaml"
bad "cannot open" --config "$TEST_ROOT/none.yaml"
NEXUS_THREADS=0 bad "NEXUS_THREADS" --data-dir d --mount m
NEXUS_DATA_DIR='${file:/nonexistent/secret}' bad "NEXUS_DATA_DIR" --mount m
bad "--tls-cert" --data-dir d --mount m --listen 127.0.0.1:1
bad "unknown option" --data-dir d --mount m --frobnicate
echo "config: all checks passed"
