#!/usr/bin/env bash
# `nexus mcp serve --transport http` on a real nexusd, spoken to with curl:
# 401 without a key or with a bad one; initialize and tools/list with a good
# key; the session header rules (400 without, 404 unknown or another
# subject's, 400 for an unsupported MCP-Protocol-Version); 403 for a foreign
# Origin, 406/415/413; a JSON-RPC parse error; the session's SSE stream (a
# newer GET ends the older) and, when nexusd serves Files.watch, the
# notifications/resources/updated of a file changed on the mount, replayed
# after Last-Event-ID; DELETE, then 404; a revoked key is 401
# on its next request; HTTPS with --tls-cert/--tls-key and a clear failure
# for a bad certificate; 503 (never a hang) once nexusd is gone.
source "$(dirname "$0")/../lib.sh"

nexus_start

note "users and keys"
expect_rc 0 nx --json admin create-user alice
ALICE=$(json_get 'j["key"]["api_key"]')
expect_rc 0 nx --json admin create-user bob
BOB=$(json_get 'j["key"]["api_key"]')
expect_rc 0 nx --json admin create-key alice --name mcp
TEMP_KEY=$(json_get 'j["api_key"]')
TEMP_ID=$(json_get 'j["id"]')
mkdir -p "$NEXUS_MNT/shared"
echo "hello" >"$NEXUS_MNT/shared/note.txt"
expect_rc 0 nx rebac share /shared user alice --role editor

# mcp_start [ARGS...]: starts `nexus mcp serve --transport http --port 0`
# and sets MCP_PID and URL (from the line it prints on stderr).
mcp_start() {
  # Not through nx: a shell function run in the background is a subshell,
  # and $! would name it instead of the server.
  NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home" \
    "$NEXUS_CLI" mcp serve --transport http --port 0 "$@" >"$TEST_ROOT/mcp.out" 2>"$TEST_ROOT/mcp.err" &
  MCP_PID=$!
  NEXUS_EXTRA_PIDS+=("$MCP_PID")
  URL=""
  for _ in $(seq 100); do
    URL=$(grep -o 'https\?://[^ ]*/mcp' "$TEST_ROOT/mcp.err" | head -1) && [[ -n $URL ]] && return 0
    kill -0 "$MCP_PID" 2>/dev/null || fail "nexus mcp serve exited: $(cat "$TEST_ROOT/mcp.err")"
    sleep 0.1
  done
  fail "nexus mcp serve printed no URL: $(cat "$TEST_ROOT/mcp.err")"
}
mcp_stop() {
  kill -TERM "$MCP_PID" 2>/dev/null || true
  wait "$MCP_PID" 2>/dev/null || true
}

# post KEY SESSION BODY [CURL ARGS...]: POSTs BODY to $URL; the status in
# $CODE, the headers in $TEST_ROOT/headers, the body in $TEST_ROOT/out.
post() {
  local key=$1 session=$2 body=$3
  shift 3
  local args=(-sS -m 20 -o "$TEST_ROOT/out" -D "$TEST_ROOT/headers" -w '%{http_code}'
    -H 'Accept: application/json, text/event-stream' -H 'Content-Type: application/json')
  [[ -n $key ]] && args+=(-H "Authorization: Bearer $key")
  [[ -n $session ]] && args+=(-H "Mcp-Session-Id: $session")
  CODE=$(curl "${args[@]}" "$@" --data-binary "$body" "$URL") || fail "curl failed (exit $?) on $body"
}
expect_code() { [[ $CODE == "$1" ]] || fail "HTTP $CODE, expected $1: $(head -c 400 "$TEST_ROOT/out")"; }
header() { { grep -i "^$1:" "$TEST_ROOT/headers" || true; } | head -1 | cut -d: -f2- | tr -d ' \r'; }

INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
INITIALIZED='{"jsonrpc":"2.0","method":"notifications/initialized"}'
LIST='{"jsonrpc":"2.0","id":2,"method":"tools/list"}'

mcp_start
note "serving at $URL"

note "401 without a key or with a bad one"
post "" "" "$INIT"
expect_code 401
[[ $(header WWW-Authenticate) == Bearer ]] || fail "401 without WWW-Authenticate: $(cat "$TEST_ROOT/headers")"
expect_json 'j["error"]["code"]' -32001
post "nxk_0000000000000000_$(printf '0%.0s' {1..64})" "" "$INIT"
expect_code 401
post "garbage" "" "$INIT"
expect_code 401
CODE=$(curl -sS -m 20 -o "$TEST_ROOT/out" -w '%{http_code}' -H 'Authorization: Basic YTpi' -X DELETE "$URL")
expect_code 401

note "initialize and tools/list with a good key"
post "$ALICE" "" "$INIT"
expect_code 200
SESSION=$(header Mcp-Session-Id)
[[ $SESSION =~ ^[0-9a-f]{64}$ ]] || fail "Mcp-Session-Id: '$SESSION'"
expect_json 'j["result"]["protocolVersion"]' 2025-06-18
[[ $(header Content-Type) == application/json* ]] || fail "initialize answered as $(header Content-Type)"
post "$ALICE" "$SESSION" "$INITIALIZED"
expect_code 202
[[ ! -s "$TEST_ROOT/out" ]] || fail "202 with a body: $(out)"
post "$ALICE" "$SESSION" "$LIST"
expect_code 200
expect_json 'j["id"]' 2
expect_json '"nexus_read_file" in [t["name"] for t in j["result"]["tools"]]' True
post "$ALICE" "$SESSION" \
  '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nexus_read_file","arguments":{"path":"/shared/note.txt"}}}'
expect_code 200
grep -q hello "$TEST_ROOT/out" || fail "nexus_read_file over HTTP: $(out)"

note "session header rules"
post "$ALICE" "" "$LIST"
expect_code 400
post "$ALICE" "0000" "$LIST"
expect_code 404
post "$BOB" "$SESSION" "$LIST"  # another subject never sees alice's session
expect_code 404
post "$ALICE" "$SESSION" "$LIST" -H 'MCP-Protocol-Version: 2025-06-18'
expect_code 200
post "$ALICE" "$SESSION" "$LIST" -H 'MCP-Protocol-Version: 1999-01-01'
expect_code 400

note "Origin, Accept, Content-Type, size, garbage"
post "$ALICE" "$SESSION" "$LIST" -H 'Origin: http://evil.example'
expect_code 403
post "$ALICE" "$SESSION" "$LIST" -H 'Origin: http://localhost:5173'
expect_code 200
CODE=$(curl -sS -m 20 -o "$TEST_ROOT/out" -w '%{http_code}' -H "Authorization: Bearer $ALICE" \
  -H "Mcp-Session-Id: $SESSION" -H 'Accept: application/json' -H 'Content-Type: application/json' \
  --data-binary "$LIST" "$URL")
expect_code 406
post "$ALICE" "$SESSION" "$LIST" -H 'Content-Type: text/plain'
expect_code 415
head -c 5000000 /dev/zero | tr '\0' ' ' >"$TEST_ROOT/big"
CODE=$(curl -sS -m 20 -o "$TEST_ROOT/out" -w '%{http_code}' -H "Authorization: Bearer $ALICE" \
  -H "Mcp-Session-Id: $SESSION" -H 'Accept: application/json, text/event-stream' \
  -H 'Content-Type: application/json' --data-binary @"$TEST_ROOT/big" "$URL") || true
expect_code 413
post "$ALICE" "$SESSION" '{"jsonrpc":'
expect_code 400
expect_json 'j["error"]["code"]' -32700
post "$ALICE" "$SESSION" "[$LIST]"
expect_code 400
post "$ALICE" "$SESSION" "$LIST"
expect_code 200

note "the SSE stream: opened, replaced by a newer one; 405 when not accepted"
# sse_open ARGS...: a GET stream into $TEST_ROOT/sse (pid SSE_PID), read for 6 s.
sse_open() {
  curl -sS -N -m 6 -D "$TEST_ROOT/sse.headers" -H "Authorization: Bearer $ALICE" -H "Mcp-Session-Id: $SESSION" \
    -H 'Accept: text/event-stream' "$@" "$URL" >"$TEST_ROOT/sse" 2>/dev/null &
  SSE_PID=$!
  sleep 1
}
CODE=$(curl -sS -m 20 -o "$TEST_ROOT/out" -w '%{http_code}' -H "Authorization: Bearer $ALICE" \
  -H "Mcp-Session-Id: $SESSION" -H 'Accept: application/json' "$URL")
expect_code 405
post "$ALICE" "$SESSION" \
  '{"jsonrpc":"2.0","id":4,"method":"resources/subscribe","params":{"uri":"nexus:///shared/note.txt"}}'
expect_code 200
WATCH=yes
if [[ $(json_get '"error" in j') == True ]]; then
  grep -q 'methodName = watch' "$TEST_ROOT/out" || fail "resources/subscribe: $(out)"
  WATCH=no  # this nexusd does not serve Files.watch: no updates to stream
  note "nexusd serves no Files.watch: the update from the mount is not checked"
fi
sse_open
FIRST=$SSE_PID
[[ $WATCH == no ]] || echo "changed" >>"$NEXUS_MNT/shared/note.txt"
T0=$SECONDS
sse_open  # a second GET ends the first at once (curl would give up at 6 s)
wait "$FIRST" || true
(( SECONDS - T0 < 4 )) || fail "the first stream outlived the second GET"
grep -q '^HTTP/1.1 200' "$TEST_ROOT/sse.headers" || fail "GET stream: $(cat "$TEST_ROOT/sse.headers")"
grep -qi '^Content-Type: text/event-stream' "$TEST_ROOT/sse.headers" || fail "GET stream type"
wait "$SSE_PID" || true
grep -q '^: stream open' "$TEST_ROOT/sse" || fail "the stream said nothing: $(cat "$TEST_ROOT/sse")"
if [[ $WATCH == yes ]]; then
  CODE=$(curl -sS -N -m 3 -o "$TEST_ROOT/sse2" -w '%{http_code}' -H "Authorization: Bearer $ALICE" \
    -H "Mcp-Session-Id: $SESSION" -H 'Accept: text/event-stream' -H 'Last-Event-ID: 0' "$URL") || true
  expect_code 200
  grep -q '^id: 1$' "$TEST_ROOT/sse2" || fail "Last-Event-ID 0 replayed nothing: $(cat "$TEST_ROOT/sse2")"
  grep -q 'notifications/resources/updated' "$TEST_ROOT/sse2" || fail "no update: $(cat "$TEST_ROOT/sse2")"
  grep -q 'nexus:///shared/note.txt' "$TEST_ROOT/sse2" || fail "update of what: $(cat "$TEST_ROOT/sse2")"
fi

note "DELETE ends the session"
CODE=$(curl -sS -m 20 -o "$TEST_ROOT/out" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $BOB" \
  -H "Mcp-Session-Id: $SESSION" "$URL")
expect_code 404
CODE=$(curl -sS -m 20 -o "$TEST_ROOT/out" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $ALICE" \
  -H "Mcp-Session-Id: $SESSION" "$URL")
expect_code 204
post "$ALICE" "$SESSION" "$LIST"
expect_code 404

note "a revoked key is 401 on its next request"
post "$TEMP_KEY" "" "$INIT"
expect_code 200
TEMP_SESSION=$(header Mcp-Session-Id)
post "$TEMP_KEY" "$TEMP_SESSION" "$LIST"
expect_code 200
expect_rc 0 nx admin revoke-key "$TEMP_ID"
post "$TEMP_KEY" "$TEMP_SESSION" "$LIST"
expect_code 401
post "$ALICE" "" "$INIT"  # alice's other key still works
expect_code 200
mcp_stop

note "HTTPS with --tls-cert and --tls-key; an origin allowed with --allow-origin"
nx tls generate --out "$TEST_ROOT/tls" >/dev/null || fail "tls generate"
mcp_start --tls-cert "$TEST_ROOT/tls/cert.pem" --tls-key "$TEST_ROOT/tls/key.pem" \
  --allow-origin https://app.example.com
[[ $URL == https://* ]] || fail "TLS server announced $URL"
post "$ALICE" "" "$INIT" --cacert "$TEST_ROOT/tls/cert.pem" -H 'Origin: https://app.example.com'
expect_code 200
SESSION=$(header Mcp-Session-Id)
post "$ALICE" "$SESSION" "$LIST" --cacert "$TEST_ROOT/tls/cert.pem" -H 'Origin: https://other.example.com'
expect_code 403
post "$ALICE" "$SESSION" "$LIST" --cacert "$TEST_ROOT/tls/cert.pem"
expect_code 200
expect_json '"nexus_read_file" in [t["name"] for t in j["result"]["tools"]]' True
curl -sS -m 10 -o /dev/null "${URL/https/http}" 2>/dev/null && fail "plain HTTP answered on the TLS port"
mcp_stop
echo "not a certificate" >"$TEST_ROOT/bad.pem"
expect_rc 64 nx mcp serve --transport http --port 0 --allow-origin app.example.com
expect_err "takes an origin such as"
expect_rc 1 nx mcp serve --transport http --port 0 --tls-cert "$TEST_ROOT/bad.pem" --tls-key "$TEST_ROOT/tls/key.pem"
expect_err "bad.pem"

note "nexusd gone: 503 or refused, never a hang"
mcp_start
post "$ALICE" "" "$INIT"
expect_code 200
nexus_stop
rc=0
CODE=$(curl -sS -m 30 -o "$TEST_ROOT/out" -w '%{http_code}' -H "Authorization: Bearer $ALICE" \
  -H 'Accept: application/json, text/event-stream' -H 'Content-Type: application/json' \
  --data-binary "$INIT" "$URL" 2>/dev/null) || rc=$?
[[ $rc -ne 28 ]] || fail "the request hung with nexusd gone"
[[ $CODE == 503 || $CODE == 000 ]] || fail "HTTP $CODE with nexusd gone: $(out)"
note "with nexusd gone: HTTP $CODE $(head -c 200 "$TEST_ROOT/out")"
mcp_stop

echo "mcp_http: all checks passed"
