#!/usr/bin/env bash
# The MCP server's execution tools (docs/mcp.md, docs/sandboxes.md), driven
# with the official MCP TypeScript SDK client (integration/mcp_client) over
# stdio against `nexus --as agent:coder mcp serve` on a sandbox-profile
# daemon with a host workspace. Checked: with the execution profile,
# tools/list has nexus_bash, nexus_python and nexus_sandbox_create/list/stop
# and the SDK accepts their schemas; nexus_bash without a sandbox starts the
# caller's own and runs there as uid 65534 in /workspace (coder's view:
# proj, not secret), its writes land on the host and in versions with agent
# coder and the sandbox's task id; /tmp persists between calls; a failing
# command reports its exit code and stderr; nexus_python runs code with
# quotes and newlines as given; create/list/stop manage a named sandbox and
# a run in a stopped one is an error; with the coding profile the
# execution tools answer exactly as an unknown tool; with sandboxes off
# they are not offered at all.
#
# NEXUS_SKIP_MCP_SDK=1 skips this test (exit 77) for a developer without
# the network; refused when CI is set.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
MCP_CLIENT=$(cd "$(dirname "$0")/../mcp_client" && pwd)
if [[ ${NEXUS_SKIP_MCP_SDK:-} == 1 ]]; then
  [[ -z ${CI:-} ]] || fail "NEXUS_SKIP_MCP_SDK=1 is for developers: CI must run the MCP SDK tests"
  echo "SKIP: NEXUS_SKIP_MCP_SDK=1"
  exit 77
fi
"$MCP_CLIENT/install.sh" || fail "the MCP SDK test needs the pinned npm packages (see above)"

mcp() {
  printf '%s' "$1" >"$TEST_ROOT/spec.json"
  (cd "$MCP_CLIENT" && timeout 90 node drive.mjs <"$TEST_ROOT/spec.json") >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" ||
    fail "drive.mjs failed: $(tail -c 800 "$TEST_ROOT/err")"
}
stdio() {
  printf '{"stdio": {"command": "%s", "args": ["--as", "agent:%s", "mcp", "serve"], "env": {"NEXUS_SOCKET": "%s", "NEXUS_HOME": "%s"}}}' \
    "$NEXUS_CLI" "$1" "$NEXUS_DATA/nexusd.sock" "$TEST_ROOT/home"
}
check() {
  python3 - "$TEST_ROOT/out" "$1" <<'PY' || fail "$2: $(head -c 1500 "$TEST_ROOT/out")"
import json, sys
j = json.load(open(sys.argv[1]))
r = j.get("results", {})
def sc(name): return r[name]["result"]["structuredContent"]
def is_error(name): return r[name]["result"].get("isError", False)
def text(name): return " ".join(c.get("text", "") for c in r[name]["result"].get("content", []))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)
PY
}

WS=$TEST_ROOT/ws
mkdir -p "$WS/proj" "$WS/secret"
printf 'hello\n' >"$WS/proj/readme.txt"
printf 'hidden\n' >"$WS/secret/key.txt"
chown -R 65534:65534 "$WS/proj"
nexus_start --profile sandbox --workspace "$WS"
expect_rc 0 nx agent register coder Coder
expect_rc 0 nx rebac create agent coder editor folder /zone/local/proj
expect_rc 0 nx mcp profile assign agent coder execution

note "the execution tools over the SDK"
call() { printf '{"name": "%s", "op": "call", "tool": "%s", "args": %s}' "$1" "$2" "$3"; }
mcp "{\"connect\": $(stdio coder), \"steps\": [
  {\"name\": \"list\", \"op\": \"list_tools\"},
  $(call who nexus_bash '{"command": "id -u; pwd; ls /workspace; cat proj/readme.txt"}'),
  $(call write nexus_bash '{"command": "echo from-mcp > proj/out.txt && echo kept > /tmp/k"}'),
  $(call again nexus_bash '{"command": "cat /tmp/k; echo $NEXUS_SANDBOX_ID"}'),
  $(call fails nexus_bash '{"command": "echo oops >&2; exit 3"}'),
  $(call hidden nexus_bash '{"command": "cat secret/key.txt"}'),
  $(call py nexus_python '{"code": "import os\nprint(\"it'"'"'s\", sum(range(10)), os.getuid())"}'),
  $(call slow nexus_bash '{"command": "sleep 30", "timeoutSeconds": 1}'),
  $(call create nexus_sandbox_create '{"name": "named", "root": "/zone/local/proj", "ttlSeconds": 120}'),
  $(call innamed nexus_bash '{"command": "ls", "sandbox": "named"}'),
  $(call sblist nexus_sandbox_list '{}'),
  $(call stop nexus_sandbox_stop '{"sandbox": "named"}'),
  $(call stopped nexus_bash '{"command": "true", "sandbox": "named"}'),
  $(call bad nexus_sandbox_create '{"name": "bad/name"}')
]}"
check 'j["connected"]' "connect"
check '{"nexus_bash", "nexus_python", "nexus_sandbox_create", "nexus_sandbox_list", "nexus_sandbox_stop"} <= set(r["list"]["tools"])' "tools/list"
check 'sc("who")["exitCode"] == 0 and sc("who")["stdout"] == "65534\n/workspace\nproj\nhello\n"' "the caller's view"
check 'sc("who")["sandbox"].startswith("sb-") and sc("write")["sandbox"] == sc("who")["sandbox"]' "one default sandbox"
check 'sc("again")["stdout"] == "kept\n" + sc("who")["sandbox"] + "\n"' "/tmp between calls"
check 'not is_error("fails") and sc("fails")["exitCode"] == 3 and sc("fails")["stderr"] == "oops\n" and "exit code 3" in text("fails")' "exit code"
check 'sc("hidden")["exitCode"] == 1' "secret is not coder's"
check 'sc("py")["stdout"] == "it'"'"'s 45 65534\n"' "python"
check 'sc("slow")["timedOut"] and sc("slow")["exitCode"] == 137' "timeout"
check 'sc("create")["name"] == "named" and sc("create")["root"] == "/zone/local/proj"' "create"
check 'sc("innamed")["stdout"].split() == ["out.txt", "readme.txt"]' "run in a named sandbox"
check 'sorted(s["name"] for s in sc("sblist")["sandboxes"]) == ["mcp-agent-coder", "named"]' "list"
check 'sc("stop")["state"] == "stopped"' "stop"
# A name names running sandboxes only: the stopped one is not found by it.
check 'is_error("stopped") and "named" in text("stopped")' "a stopped sandbox"
check 'is_error("bad")' "a bad name"
[[ $(cat "$WS/proj/out.txt") == from-mcp ]] || fail "the write is not on the host"
ID=$(python3 -c "import json; print(json.load(open('$TEST_ROOT/out'))['results']['who']['result']['structuredContent']['sandbox'])")
got=$(newest_version /zone/local/proj/out.txt $'from-mcp\n' subject agent_id task_id)
[[ $got == "agent:coder coder sandbox:$ID" ]] || fail "provenance: $got"

note "the coding profile: the execution tools are unknown tools"
expect_rc 0 nx mcp profile assign agent coder coding
mcp "{\"connect\": $(stdio coder), \"steps\": [
  {\"name\": \"list\", \"op\": \"list_tools\"},
  $(call bash nexus_bash '{"command": "true"}'),
  $(call unknown nexus_no_such_tool '{"command": "true"}')
]}"
check 'not any(t.startswith(("nexus_bash", "nexus_python", "nexus_sandbox_")) for t in r["list"]["tools"])' "coding's tools/list"
check 'json.dumps(r["bash"], sort_keys=True).replace("nexus_bash", "T") == json.dumps(r["unknown"], sort_keys=True).replace("nexus_no_such_tool", "T")' "hidden = unknown"

note "sandboxes off: not offered even to the execution profile"
expect_rc 0 nx mcp profile assign agent coder execution
nexus_stop
nexus_start --profile sandbox --workspace "$WS" --features sandboxes=off
mcp "{\"connect\": $(stdio coder), \"steps\": [{\"name\": \"list\", \"op\": \"list_tools\"}]}"
check '"nexus_write_file" in r["list"]["tools"] and "nexus_bash" not in r["list"]["tools"]' "no sandboxes"
expect_rc 69 nx sandbox list
expect_err "unavailable: sandboxes"
