#!/usr/bin/env bash
# `nexus mcp serve` over stdio on a real nexusd, driven with plain JSON-RPC
# lines from bash: initialize and revision negotiation; tools/list; reads,
# a hidden file that is "not found"; a write that shows on the mount and in
# `nexus versions history` with the agent as author and
# mcp:nexus_write_file as the command; edits (dry run diff, exact-once
# matching, nothing written on failure); a hidden tool answering exactly
# as an unknown one; resources; garbage lines answered with JSON-RPC errors
# while the session goes on; calls in flight at end of input still answered.
source "$(dirname "$0")/../lib.sh"
M=$NEXUS_MNT

INIT='{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bash","version":"1"}}}'
INITED='{"jsonrpc":"2.0","method":"notifications/initialized"}'

# mcp_session [GLOBAL ARGS...]: serves the lines of $TEST_ROOT/in (already
# written) through `nexus [ARGS] mcp serve`; its stdout (one JSON message a
# line) in $TEST_ROOT/mcp.out.
mcp_session() {
  local rc=0
  timeout 60 env NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home" "$NEXUS_CLI" "$@" mcp serve \
    <"$TEST_ROOT/in" >"$TEST_ROOT/mcp.out" 2>"$TEST_ROOT/mcp.err" || rc=$?
  [[ $rc -eq 0 ]] || fail "nexus mcp serve exited $rc: $(cat "$TEST_ROOT/mcp.err")"
}
# lines LINE...: the session's input.
lines() { printf '%s\n' "$@" >"$TEST_ROOT/in"; }
# call ID TOOL ARGS_JSON: a tools/call line.
call() { printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"%s","arguments":%s}}' "$1" "$2" "$3"; }
# reply ID EXPR WANT: EXPR (Python, over the response `r` with that id) prints WANT.
reply() {
  local got
  got=$(python3 - "$TEST_ROOT/mcp.out" "$1" "$2" <<'PY'
import json, sys
out, want_id, expr = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
msgs = [json.loads(l) for l in open(out) if l.strip()]
rs = [m for m in msgs if m.get("id") == want_id]
if len(rs) != 1:
    sys.exit("expected one response with id %r, got %d of %d lines" % (want_id, len(rs), len(msgs)))
r = rs[0]
print(eval(expr))
PY
  ) || fail "reply $1: $(cat "$TEST_ROOT/in") $(cat "$TEST_ROOT/mcp.err" | tail -3) $(tail -c 1500 "$TEST_ROOT/mcp.out")"
  [[ $got == "$3" ]] || fail "reply $1: $2 is '$got', expected '$3'; output: $(head -c 1200 "$TEST_ROOT/mcp.out")"
}

nexus_start

note "--help and usage errors"
expect_rc 0 nx mcp serve --help
grep -q "^Usage: nexus mcp serve" "$TEST_ROOT/out" || fail "mcp serve --help: $(out)"
expect_rc 64 nx mcp serve --transport carrier-pigeon
expect_rc 64 nx mcp serve --port 80

note "an agent with a folder of its own, and a file it may not see"
mkdir -p "$M/work" "$M/private"
printf 'alpha\nbeta\ngamma\n' >"$M/work/a.txt"
printf 'x = 1\nx = 1\n' >"$M/work/twice.txt"
echo secret >"$M/private/s.txt"
expect_rc 0 nx agent register coder Coder
expect_rc 0 nx rebac create agent coder editor folder /work
if nx mcp profile assign --help >/dev/null 2>&1; then
  expect_rc 0 nx mcp profile assign agent coder coding
fi

note "before initialize only ping is served"
lines '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' '{"jsonrpc":"2.0","id":2,"method":"ping"}'
mcp_session --as agent:coder
reply 1 'r["error"]["code"]' -32600
reply 2 'r["result"]' '{}'

note "initialize, tools/list, reads (through a pipe)"
lines "$INIT" "$INITED" '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' \
  "$(call 3 nexus_read_file '{"path":"/work/a.txt"}')" \
  "$(call 4 nexus_read_file '{"path":"/work/a.txt","tail":1}')" \
  "$(call 5 nexus_read_file '{"path":"/private/s.txt"}')" \
  "$(call 6 nexus_read_file '{"path":"/work/nope.txt"}')" \
  "$(call 7 nexus_list_files '{"path":"/work"}')"
cp "$TEST_ROOT/in" "$TEST_ROOT/in.pipe"
timeout 60 env NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home" bash -c \
  "cat '$TEST_ROOT/in.pipe' | '$NEXUS_CLI' --as agent:coder mcp serve" >"$TEST_ROOT/mcp.out" 2>"$TEST_ROOT/mcp.err" ||
  fail "mcp serve on a pipe: $(cat "$TEST_ROOT/mcp.err")"
reply '"init"' 'r["result"]["protocolVersion"], r["result"]["serverInfo"]["name"]' "('2025-11-25', 'nexusfs')"
reply '"init"' 'r["result"]["capabilities"]["resources"]["subscribe"]' True
reply 2 '{"nexus_edit_file", "nexus_read_file", "nexus_write_file"} <= {t["name"] for t in r["result"]["tools"]}' True
reply 2 '"nexus_bash" in [t["name"] for t in r["result"]["tools"]]' False
reply 2 'all(t["annotations"]["openWorldHint"] is False and t["inputSchema"]["type"] == "object" for t in r["result"]["tools"])' True
reply 3 'r["result"]["isError"], r["result"]["structuredContent"]["content"]' "(False, 'alpha\\nbeta\\ngamma\\n')"
reply 4 'repr(r["result"]["structuredContent"]["content"])' "'gamma\\n'"
reply 5 'r["result"]["isError"], r["result"]["content"][0]["text"]' "(True, 'not found: /private/s.txt')"
reply 6 'r["result"]["isError"], r["result"]["content"][0]["text"]' "(True, 'not found: /work/nope.txt')"
reply 7 '[e["name"] for e in r["result"]["structuredContent"]["entries"]]' "['a.txt', 'twice.txt']"

note "a write shows on the mount and in history, by the agent, as mcp:nexus_write_file"
lines "$INIT" "$INITED" "$(call 2 nexus_write_file '{"path":"/work/new.txt","content":"from mcp\n"}')" \
  "$(call 3 nexus_write_file '{"path":"/private/t.txt","content":"no"}')"
mcp_session --as agent:coder
reply 2 'r["result"]["isError"], r["result"]["structuredContent"]["size"]' "(False, 9)"
reply 3 'r["result"]["isError"]' True
[[ $(cat "$M/work/new.txt") == "from mcp" ]] || fail "the write is not on the mount: $(cat "$M/work/new.txt")"
[[ ! -e "$M/private/t.txt" ]] || fail "a refused write left a file"
got=$(newest_version /work/new.txt $'from mcp\n' subject command)
[[ $got == "agent:coder mcp:nexus_write_file" ]] || fail "history of /work/new.txt: $got"

note "edits: a dry run's diff, exact-once matching, all or nothing"
lines "$INIT" "$INITED" \
  "$(call 2 nexus_edit_file '{"path":"/work/a.txt","edits":[{"oldText":"beta","newText":"BETA"}],"dryRun":true}')" \
  "$(call 3 nexus_edit_file '{"path":"/work/twice.txt","edits":[{"oldText":"x = 1","newText":"x = 2"}]}')" \
  "$(call 4 nexus_edit_file '{"path":"/work/a.txt","edits":[{"oldText":"alpha","newText":"A"},{"oldText":"omega","newText":"O"}]}')"
mcp_session --as agent:coder
reply 2 'r["result"]["structuredContent"]["diff"]' '--- a/work/a.txt
+++ b/work/a.txt
@@ -1,3 +1,3 @@
 alpha
-beta
+BETA
 gamma'
reply 3 'r["result"]["isError"], "matches 2 times" in r["result"]["content"][0]["text"]' "(True, True)"
reply 4 'r["result"]["isError"], r["result"]["content"][0]["text"].startswith("invalid argument: edit 2: oldText not found")' "(True, True)"
[[ $(cat "$M/work/a.txt") == $'alpha\nbeta\ngamma' ]] || fail "a failed or dry-run edit changed the file"
[[ $(cat "$M/work/twice.txt") == $'x = 1\nx = 1' ]] || fail "an ambiguous edit changed the file"
lines "$INIT" "$INITED" \
  "$(call 2 nexus_edit_file '{"path":"/work/a.txt","edits":[{"oldText":"beta","newText":"BETA"},{"oldText":"gamma\n","newText":"gamma\ndelta\n"}]}')"
mcp_session --as agent:coder
reply 2 'r["result"]["isError"]' False
[[ $(cat "$M/work/a.txt") == $'alpha\nBETA\ngamma\ndelta' ]] || fail "the edit is not on the mount: $(cat "$M/work/a.txt")"
got=$(newest_version /work/a.txt $'alpha\nBETA\ngamma\ndelta\n' subject command)
[[ $got == "agent:coder mcp:nexus_edit_file" ]] || fail "history of /work/a.txt: $got"

note "history, diff and rollback through MCP"
lines "$INIT" "$INITED" "$(call 2 nexus_file_history '{"path":"/work/a.txt"}')" \
  "$(call 3 nexus_file_diff '{"path":"/work/a.txt","v1":1}')"
mcp_session --as agent:coder
reply 2 'r["result"]["structuredContent"]["versions"][-1]["author"]' agent:coder
reply 3 '"+delta" in r["result"]["structuredContent"]["diff"]' True
lines "$INIT" "$INITED" "$(call 2 nexus_file_rollback '{"path":"/work/a.txt","version":1}')"
mcp_session --as agent:coder
reply 2 'r["result"]["isError"], r["result"]["structuredContent"]["recorded"]' "(False, True)"
[[ $(cat "$M/work/a.txt") == $'alpha\nbeta\ngamma' ]] || fail "rollback is not on the mount: $(cat "$M/work/a.txt")"
got=$(newest_version /work/a.txt $'alpha\nbeta\ngamma\n' subject command)
[[ $got == "agent:coder mcp:nexus_file_rollback" ]] || fail "history of the rollback: $got"

note "a subscription to a folder hears a change made on the mount"
coproc MCP { env NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home" "$NEXUS_CLI" --as agent:coder \
  mcp serve 2>"$TEST_ROOT/mcp.err"; }
mcp_pid=$MCP_PID
# next_line PATTERN: sets $got to the next output line matching PATTERN (10
# s at most). Not in a subshell: the coprocess's descriptors are not there.
next_line() {
  while IFS= read -r -t 10 got <&"${MCP[0]}"; do
    [[ $got == *$1* ]] && return 0
  done
  fail "no line with $1 from mcp serve: $(cat "$TEST_ROOT/mcp.err")"
}
echo "$INIT" >&"${MCP[1]}"
next_line '"id":"init"'
echo '{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"nexus:///work"}}' >&"${MCP[1]}"
next_line '"id":2'
[[ $got == *'"result":{}'* ]] || fail "subscribe: $got"
echo more >>"$M/work/a.txt"
next_line 'notifications/resources/updated'
[[ $got == *'"uri":"nexus:///work/a.txt"'* ]] || fail "notification: $got"
echo '{"jsonrpc":"2.0","id":3,"method":"resources/unsubscribe","params":{"uri":"nexus:///work"}}' >&"${MCP[1]}"
next_line '"id":3'
eval "exec ${MCP[1]}>&-"
wait "$mcp_pid" || fail "mcp serve exited $? after end of input"

note "mailboxes: the inbox of the agent acted as"
expect_rc 0 nx ipc send coder "please review"
lines "$INIT" "$INITED" "$(call 2 nexus_ipc_inbox '{}')"
mcp_session --as agent:coder
reply 2 'r["result"]["isError"], [m["body"] for m in r["result"]["structuredContent"]["messages"]]' "(False, ['please review'])"

note "a hidden tool answers exactly as an unknown one"
lines "$INIT" "$INITED" '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
mcp_session --as agent:coder
hidden=$(python3 -c "
import json
r = [json.loads(l) for l in open('$TEST_ROOT/mcp.out') if '\"id\":2' in l][0]
names = {t['name'] for t in r['result']['tools']}
print('nexus_semantic_search' if 'nexus_semantic_search' not in names else '')")
if [[ -n $hidden ]]; then
  lines "$INIT" "$INITED" "$(call 2 "$hidden" '{"query":"x"}')" "$(call 3 nexus_no_such_tool '{"query":"x"}')"
  mcp_session --as agent:coder
  a=$(grep '"id":2' "$TEST_ROOT/mcp.out" | sed "s/$hidden/NAME/; s/\"id\":2/ID/")
  b=$(grep '"id":3' "$TEST_ROOT/mcp.out" | sed "s/nexus_no_such_tool/NAME/; s/\"id\":3/ID/")
  [[ -n $a && $a == "$b" ]] || fail "hidden and unknown tools differ: [$a] [$b]"
else
  note "(every tool is visible: this daemon has no tool profiles)"
fi

note "resources: list, read, templates"
lines "$INIT" "$INITED" '{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"nexus:///work/new.txt"}}' \
  '{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"nexus:///private/s.txt"}}' \
  '{"jsonrpc":"2.0","id":4,"method":"resources/templates/list"}' '{"jsonrpc":"2.0","id":5,"method":"resources/list"}'
mcp_session --as agent:coder
reply 2 'repr(r["result"]["contents"][0]["text"])' "'from mcp\\n'"
reply 3 'r["error"]["code"]' -32002
reply 4 'r["result"]["resourceTemplates"][0]["uriTemplate"]' 'nexus:///{+path}'
reply 5 'type(r["result"]["resources"]).__name__' list

note "garbage lines get JSON-RPC errors and the session goes on"
{
  echo "$INIT"
  echo 'this is not json'
  echo '[{"jsonrpc":"2.0","id":50,"method":"ping"}]'
  echo '{"jsonrpc":"1.0","id":51,"method":"ping"}'
  echo '{"jsonrpc":"2.0","id":52,"method":"no/such/method"}'
  echo '{"jsonrpc":"2.0","id":53,"method":"ping","params":[1]}'
  echo '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}'
  head -c 3000 /dev/urandom | tr -d '\n'
  echo
  echo '{"jsonrpc":"2.0","id":54,"method":"ping"}'
} >"$TEST_ROOT/in"
mcp_session
reply 51 'r["error"]["code"]' -32600
reply 52 'r["error"]["code"]' -32601
reply 53 'r["error"]["code"]' -32602
reply 54 'r["result"]' '{}'
python3 - "$TEST_ROOT/mcp.out" <<'PY' || fail "errors without an id: $(cat "$TEST_ROOT/mcp.out")"
import json, sys
codes = sorted(m["error"]["code"] for m in map(json.loads, open(sys.argv[1])) if m.get("id") is None)
assert codes == [-32700, -32700, -32600, -32600], codes
PY

note "the daemon is unharmed"
expect_rc 0 nx status
nexus_stop
