#!/usr/bin/env bash
# `nexus mcp serve` driven by a client nobody here wrote: the official MCP
# TypeScript SDK (integration/mcp_client, pinned, installed by npm ci), on a
# real nexusd with ReBAC, over stdio (--as agent:ID) and Streamable HTTP.
# The profile matrix: after `nexus mcp profile assign` of minimal, coding,
# search, execution and full, tools/list is exactly the profile's inherited
# tools (execution tools absent without a sandbox provider) and a call of a
# tool of another tier (or an absent one) is exactly what a call of a tool
# that does not exist is; a subject with no tool grants gets minimal. As an
# agent with coding: a file it may not see is "not found" to read, edit,
# stat and resources/read, exactly as a missing one, absent from list, glob
# and grep, and a write of it answers as one in a folder that does not
# exist; one it may read but not change is "permission denied" to write
# and edit; an edit's dry run is a unified diff that changes nothing, then
# it applies; an edit whose oldText matches twice (or one of several that
# does not match) fails and changes nothing; resources/read of
# nexus:///PATH; a subscription to a file and a folder, then `echo >>` on
# the mount arrives as notifications/resources/updated; a write through MCP
# shows on the mount and in version history with the agent as author and
# mcp:nexus_write_file as command. Over HTTP: no bearer and a bad bearer
# are 401 as the SDK reports it, a good key acts as its agent with its
# profile.
#
# NEXUS_SKIP_MCP_SDK=1 skips this test (exit 77, ctest shows it skipped)
# for a developer without the network; refused when CI is set.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
M=$NEXUS_MNT
MCP_CLIENT=$(cd "$(dirname "$0")/../mcp_client" && pwd)

if [[ ${NEXUS_SKIP_MCP_SDK:-} == 1 ]]; then
  [[ -z ${CI:-} ]] || fail "NEXUS_SKIP_MCP_SDK=1 is for developers: CI must run the MCP SDK test"
  echo "SKIP: NEXUS_SKIP_MCP_SDK=1"
  exit 77
fi
"$MCP_CLIENT/install.sh" || fail "the MCP SDK test needs the pinned npm packages (see above);" \
  "NEXUS_SKIP_MCP_SDK=1 skips it on a developer's machine without the network"

# mcp SPEC: runs the SDK driver with the JSON SPEC; its report in $TEST_ROOT/out.
mcp() {
  printf '%s' "$1" >"$TEST_ROOT/spec.json"
  (cd "$MCP_CLIENT" && timeout 60 node drive.mjs <"$TEST_ROOT/spec.json") >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" ||
    fail "drive.mjs failed: $(tail -c 800 "$TEST_ROOT/err")"
}
# stdio AGENT: the connect clause spawning `nexus mcp serve --as agent:AGENT`.
stdio() {
  printf '{"stdio": {"command": "%s", "args": ["--as", "agent:%s", "mcp", "serve"], "env": {"NEXUS_SOCKET": "%s", "NEXUS_HOME": "%s"}}}' \
    "$NEXUS_CLI" "$1" "$NEXUS_DATA/nexusd.sock" "$TEST_ROOT/home"
}
# check EXPR WHAT: EXPR (Python, over the report: j, r = j["results"], and
# the helpers below) is true, else the test fails saying WHAT.
check() {
  python3 - "$TEST_ROOT/out" "$1" <<'PY' || fail "$2"
import json, sys
j = json.load(open(sys.argv[1]))
r = j.get("results", {})
def failed(s):
    """The error text of a step that failed (a JSON-RPC error or isError), else None."""
    if "error" in s:
        return s["error"]["message"]
    res = s.get("result", {})
    if res.get("isError"):
        return " ".join(c.get("text", "") for c in res.get("content", []))
    return None
def ok(s): return "result" in s and failed(s) is None
def said(s, *words):
    t = (failed(s) or "").lower()
    return any(w in t for w in words)
def body(s):
    """Everything a successful call returned, as text (content and structured)."""
    res = s["result"]
    return " ".join(c.get("text", "") for c in res.get("content", [])) + json.dumps(res.get("structuredContent"))
def same_as_unknown(hidden, unknown, name):
    """A call of hidden tool NAME returned exactly what the unknown tool's call did."""
    a = json.dumps(hidden, sort_keys=True).replace(name, "TOOL")
    b = json.dumps(unknown, sort_keys=True).replace("nexus_no_such_tool", "TOOL")
    return a == b and failed(hidden) is not None
if not eval("(" + sys.argv[2] + ")"):
    # What the steps named in the expression saw (tool definitions left out).
    for name, step in r.items():
        if repr(name) in sys.argv[2] or f'"{name}"' in sys.argv[2]:
            print(f"  {name}: {json.dumps({k: v for k, v in step.items() if k != 'defs'})[:700]}", file=sys.stderr)
    if "connect_error" in j:
        print(f"  connect_error: {j['connect_error']}", file=sys.stderr)
    sys.exit(1)
PY
}
# expected_tools PROFILE: the profile's inherited tools the server offers
# here, sorted, one per line: sandboxes are off in this daemon, so no
# execution tools (integration/tests/sandbox_mcp.sh has them); no workflow
# or hub tools (docs/mcp.md "Tools").
expected_tools() {
  expect_rc 0 nx --json mcp profile show "$1"
  json_get '"\n".join(sorted(t for t in j["all_tools"] if not t.startswith(("nexus_bash", "nexus_python",
    "nexus_sandbox_", "nexus_list_workflows", "nexus_execute_workflow", "nexus_hub_"))))'
}
same() { [[ "$2" == "$3" ]] || fail "$1: expected [$2], got [$3]"; }

nexus_start --features sandboxes=off

note "the tree: coder may edit /work and read /docs; /secret is not for it"
mkdir -p "$M/work/sub" "$M/docs" "$M/secret"
echo "the needle, visible" >"$M/docs/visible.txt"
echo "the needle, hidden" >"$M/secret/hidden.txt"
printf 'alpha\nbeta\ngamma\n' >"$M/work/edit.txt"
printf 'same\nsame\n' >"$M/work/twice.txt"
echo "resource body" >"$M/work/res.txt"
chmod -R a+rwX "$M/work" "$M/docs" "$M/secret"
expect_rc 0 nx agent register coder Coder
expect_rc 0 nx agent register fresh Fresh
expect_rc 0 nx rebac create agent coder editor folder /work
expect_rc 0 nx rebac create agent coder viewer folder /docs
expect_rc 0 nx rebac create agent fresh viewer folder /docs

note "the profile matrix over stdio: tools/list is the profile, other tiers are unknown tools"
# profile, then tools of other tiers (which the server offers to some profile).
for row in "minimal nexus_write_file nexus_grep nexus_semantic_search" \
  "coding nexus_semantic_search nexus_bash nexus_discovery_search_tools" \
  "search nexus_write_file nexus_edit_file" \
  "execution nexus_bash nexus_discovery_search_tools" \
  "full nexus_bash nexus_execute_workflow"; do
  read -r profile others <<<"$row"
  expect_rc 0 nx mcp profile assign agent coder "$profile"
  want=$(expected_tools "$profile")
  [[ -n $want ]] || fail "profile $profile has no tools"
  steps='{"name": "list", "op": "list_tools"}, {"name": "unknown", "op": "call", "tool": "nexus_no_such_tool", "args": {"path": "/work/edit.txt"}}'
  for t in $others; do
    steps+=", {\"name\": \"$t\", \"op\": \"call\", \"tool\": \"$t\", \"args\": {\"path\": \"/work/edit.txt\"}}"
  done
  mcp "{\"connect\": $(stdio coder), \"steps\": [$steps]}"
  check 'j["connected"] and j["protocol_version"] in ("2025-11-25", "2025-06-18")' "$profile: initialize"
  same "$profile: tools/list" "$want" "$(json_get '"\n".join(sorted(j["results"]["list"]["tools"]))')"
  check 'failed(r["unknown"]) is not None' "$profile: a tool that does not exist must fail"
  for t in $others; do
    check "same_as_unknown(r['$t'], r['unknown'], '$t')" "$profile: a call of $t must be exactly an unknown tool's"
  done
  [[ $(cat "$M/work/edit.txt") == $'alpha\nbeta\ngamma' ]] || fail "$profile: a refused call changed a file"
done
expect_rc 0 nx --json mcp profile inspect agent fresh
expect_json 'j["defaulted"]' True
want=$(expected_tools minimal)
mcp "{\"connect\": $(stdio fresh), \"steps\": [{\"name\": \"list\", \"op\": \"list_tools\"},
  {\"name\": \"read\", \"op\": \"call\", \"tool\": \"nexus_read_file\", \"args\": {\"path\": \"/docs/visible.txt\"}}]}"
same "a subject with no tool grants: minimal" "$want" "$(json_get '"\n".join(sorted(j["results"]["list"]["tools"]))')"
check 'ok(r["read"]) and "the needle, visible" in body(r["read"])' "fresh reads /docs/visible.txt"

note "as coder with coding: schemas, annotations, hidden files, denied writes, edits, resources"
expect_rc 0 nx mcp profile assign agent coder coding
W=nexus:///work
mcp "{\"connect\": $(stdio coder), \"steps\": [
  {\"name\": \"list\", \"op\": \"list_tools\"},
  {\"name\": \"read_hidden\", \"op\": \"call\", \"tool\": \"nexus_read_file\", \"args\": {\"path\": \"/secret/hidden.txt\"}},
  {\"name\": \"read_missing\", \"op\": \"call\", \"tool\": \"nexus_read_file\", \"args\": {\"path\": \"/secret/missing.txt\"}},
  {\"name\": \"read_visible\", \"op\": \"call\", \"tool\": \"nexus_read_file\", \"args\": {\"path\": \"/docs/visible.txt\"}},
  {\"name\": \"list_root\", \"op\": \"call\", \"tool\": \"nexus_list_files\", \"args\": {\"path\": \"/\"}},
  {\"name\": \"list_secret\", \"op\": \"call\", \"tool\": \"nexus_list_files\", \"args\": {\"path\": \"/secret\"}},
  {\"name\": \"info_hidden\", \"op\": \"call\", \"tool\": \"nexus_file_info\", \"args\": {\"path\": \"/secret/hidden.txt\"}},
  {\"name\": \"info_missing\", \"op\": \"call\", \"tool\": \"nexus_file_info\", \"args\": {\"path\": \"/secret/missing.txt\"}},
  {\"name\": \"glob\", \"op\": \"call\", \"tool\": \"nexus_glob\", \"args\": {\"pattern\": \"**/*.txt\", \"path\": \"/\"}},
  {\"name\": \"grep\", \"op\": \"call\", \"tool\": \"nexus_grep\", \"args\": {\"pattern\": \"needle\", \"path\": \"/\"},
   \"until_includes\": \"visible.txt\", \"timeout_ms\": 10000},
  {\"name\": \"write_ro\", \"op\": \"call\", \"tool\": \"nexus_write_file\", \"args\": {\"path\": \"/docs/visible.txt\", \"content\": \"x\"}},
  {\"name\": \"edit_ro\", \"op\": \"call\", \"tool\": \"nexus_edit_file\",
   \"args\": {\"path\": \"/docs/visible.txt\", \"edits\": [{\"oldText\": \"needle\", \"newText\": \"pin\"}]}},
  {\"name\": \"write_hidden\", \"op\": \"call\", \"tool\": \"nexus_write_file\", \"args\": {\"path\": \"/secret/hidden.txt\", \"content\": \"x\"}},
  {\"name\": \"edit_hidden\", \"op\": \"call\", \"tool\": \"nexus_edit_file\",
   \"args\": {\"path\": \"/secret/hidden.txt\", \"edits\": [{\"oldText\": \"needle\", \"newText\": \"pin\"}]}},
  {\"name\": \"write_missing\", \"op\": \"call\", \"tool\": \"nexus_write_file\", \"args\": {\"path\": \"/nosuch/hidden.txt\", \"content\": \"x\"}},
  {\"name\": \"edit_missing\", \"op\": \"call\", \"tool\": \"nexus_edit_file\",
   \"args\": {\"path\": \"/nosuch/hidden.txt\", \"edits\": [{\"oldText\": \"needle\", \"newText\": \"pin\"}]}},
  {\"name\": \"dry\", \"op\": \"call\", \"tool\": \"nexus_edit_file\",
   \"args\": {\"path\": \"/work/edit.txt\", \"edits\": [{\"oldText\": \"beta\", \"newText\": \"BETA\"}], \"dryRun\": true}},
  {\"name\": \"after_dry\", \"op\": \"shell\", \"cmd\": \"cat $M/work/edit.txt\"},
  {\"name\": \"apply\", \"op\": \"call\", \"tool\": \"nexus_edit_file\",
   \"args\": {\"path\": \"/work/edit.txt\", \"edits\": [{\"oldText\": \"beta\", \"newText\": \"BETA\"}, {\"oldText\": \"gamma\", \"newText\": \"GAMMA\"}]}},
  {\"name\": \"after_apply\", \"op\": \"shell\", \"cmd\": \"cat $M/work/edit.txt\"},
  {\"name\": \"twice\", \"op\": \"call\", \"tool\": \"nexus_edit_file\",
   \"args\": {\"path\": \"/work/twice.txt\", \"edits\": [{\"oldText\": \"same\", \"newText\": \"other\"}]}},
  {\"name\": \"half\", \"op\": \"call\", \"tool\": \"nexus_edit_file\",
   \"args\": {\"path\": \"/work/edit.txt\", \"edits\": [{\"oldText\": \"alpha\", \"newText\": \"ALPHA\"}, {\"oldText\": \"absent\", \"newText\": \"x\"}]}},
  {\"name\": \"after_fails\", \"op\": \"shell\", \"cmd\": \"cat $M/work/twice.txt $M/work/edit.txt\"},
  {\"name\": \"templates\", \"op\": \"list_resource_templates\"},
  {\"name\": \"res\", \"op\": \"read_resource\", \"uri\": \"$W/res.txt\"},
  {\"name\": \"res_hidden\", \"op\": \"read_resource\", \"uri\": \"nexus:///secret/hidden.txt\"},
  {\"name\": \"res_missing\", \"op\": \"read_resource\", \"uri\": \"nexus:///secret/missing.txt\"},
  {\"name\": \"sub\", \"op\": \"subscribe\", \"uri\": \"$W/res.txt\"},
  {\"name\": \"sub_dir\", \"op\": \"subscribe\", \"uri\": \"$W/sub\"},
  {\"name\": \"append\", \"op\": \"shell\", \"cmd\": \"echo more >> $M/work/res.txt\"},
  {\"name\": \"updated\", \"op\": \"wait_update\", \"uri\": \"$W/res.txt\", \"timeout_ms\": 5000},
  {\"name\": \"create_in_dir\", \"op\": \"shell\", \"cmd\": \"echo new > $M/work/sub/new.txt\"},
  {\"name\": \"updated_dir\", \"op\": \"wait_update\", \"uri\": \"$W/sub\", \"prefix\": true, \"timeout_ms\": 5000},
  {\"name\": \"res_again\", \"op\": \"read_resource\", \"uri\": \"$W/res.txt\"},
  {\"name\": \"write\", \"op\": \"call\", \"tool\": \"nexus_write_file\", \"args\": {\"path\": \"/work/by-mcp.txt\", \"content\": \"written through MCP\\n\"}}
]}"
check 'all(t.get("description") and t["inputSchema"]["type"] == "object" for t in r["list"]["defs"])' \
  "every tool has a description and an object input schema"
check 'all(isinstance(t["annotations"].get(h), bool) for t in r["list"]["defs"]
           for h in ("readOnlyHint", "destructiveHint", "idempotentHint")) and
       all(t["annotations"].get("openWorldHint") is False for t in r["list"]["defs"])' \
  "every tool has readOnly/destructive/idempotent hints and openWorldHint false"
check '{t["name"]: t["annotations"]["readOnlyHint"] for t in r["list"]["defs"]}["nexus_read_file"] and
       {t["name"]: t["annotations"]["destructiveHint"] for t in r["list"]["defs"]}["nexus_delete_file"]' \
  "read is read-only, delete destructive"
check 'said(r["read_hidden"], "not found", "no such file")' "a file coder may not see must read as not found"
check 'failed(r["read_hidden"]).replace("hidden", "X") == failed(r["read_missing"]).replace("missing", "X")' \
  "a hidden file and a missing one must read the same"
check 'ok(r["read_visible"]) and "the needle, visible" in body(r["read_visible"])' "read of /docs/visible.txt"
check 'ok(r["list_root"]) and "docs" in body(r["list_root"]) and "work" in body(r["list_root"])
       and "secret" not in body(r["list_root"])' "list of / shows docs and work, not secret"
check 'said(r["list_secret"], "not found", "no such file")' "list of /secret must be not found"
check 'said(r["info_hidden"], "not found", "no such file") and
       failed(r["info_hidden"]).replace("hidden", "X") == failed(r["info_missing"]).replace("missing", "X")' \
  "info of a hidden file must be not found, as a missing one"
check 'ok(r["glob"]) and "/docs/visible.txt" in body(r["glob"]) and "/work/res.txt" in body(r["glob"])
       and "hidden.txt" not in body(r["glob"])' "glob returns what coder sees and nothing hidden"
check 'ok(r["grep"]) and "/docs/visible.txt" in body(r["grep"]) and "hidden" not in body(r["grep"])' \
  "grep returns the visible match and not the hidden one"
check 'said(r["write_ro"], "permission denied")' "a write of a read-only file must be permission denied"
check 'said(r["edit_ro"], "permission denied")' "an edit of a read-only file must be permission denied"
# A write creates missing parents: in a folder coder may not see, as in one
# that does not exist, that is creating a folder in / (permission denied).
# Either way a hidden file must answer exactly as a missing one.
check 'failed(r["write_hidden"]) is not None and
       failed(r["write_hidden"]).replace("secret", "X") == failed(r["write_missing"]).replace("nosuch", "X")' \
  "a write of a hidden file must answer as one in a folder that does not exist"
check 'said(r["edit_hidden"], "not found", "no such file") and
       failed(r["edit_hidden"]).replace("secret", "X") == failed(r["edit_missing"]).replace("nosuch", "X")' \
  "an edit of a hidden file must be not found, as a missing one"
check 'ok(r["dry"]) and all(s in body(r["dry"]) for s in ("@@", "-beta", "+BETA", "edit.txt"))' \
  "the dry run returns a unified diff"
check 'r["after_dry"]["stdout"] == "alpha\nbeta\ngamma\n"' "the dry run changed the file"
check 'ok(r["apply"]) and r["after_apply"]["stdout"] == "alpha\nBETA\nGAMMA\n"' "the edits were applied"
check 'failed(r["twice"]) is not None' "an oldText matching twice must fail"
check 'failed(r["half"]) is not None' "an edit list with an oldText that does not match must fail"
check 'r["after_fails"]["stdout"] == "same\nsame\nalpha\nBETA\nGAMMA\n"' "a failed edit changed a file"
check 'ok(r["templates"]) and any(t["uriTemplate"].startswith("nexus:///") for t in r["templates"]["result"]["resourceTemplates"])' \
  "a nexus:/// resource template"
check 'ok(r["res"]) and r["res"]["result"]["contents"][0]["uri"] == "'$W'/res.txt"
       and r["res"]["result"]["contents"][0]["text"] == "resource body\n"' "resources/read of nexus:///work/res.txt"
check 'r["res_hidden"].get("error", {}).get("code") == r["res_missing"].get("error", {}).get("code") == -32002' \
  "resources/read of a hidden file must be resource not found (-32002), as a missing one"
check 'j["capabilities"]["resources"]["subscribe"] is True and r["sub"].get("ok") and r["sub_dir"].get("ok")' \
  "resources/subscribe of a file and a folder"
check 'r["append"]["status"] == 0 and r["updated"]["received"]' "no notifications/resources/updated after echo >> on the mount"
check 'r["updated_dir"]["received"]' "no notifications/resources/updated after a file was created in a subscribed folder"
check 'r["res_again"]["result"]["contents"][0]["text"] == "resource body\nmore\n"' "resources/read after the change"
check 'ok(r["write"])' "nexus_write_file in /work"
note "notified $(json_get 'j["results"]["updated"]["after_ms"]') ms after echo >>"

note "the write through MCP, on the mount and in history: agent:coder, mcp:nexus_write_file"
same "cat on the mount" "written through MCP" "$(cat "$M/work/by-mcp.txt")"
same "the newest version's author and command" "agent:coder mcp:nexus_write_file" \
  "$(newest_version /work/by-mcp.txt $'written through MCP\n' subject command)"
[[ $(cat "$M/docs/visible.txt") == "the needle, visible" && $(cat "$M/secret/hidden.txt") == "the needle, hidden" ]] ||
  fail "a refused write changed a file"

note "Streamable HTTP: the bearer key is the subject"
expect_rc 0 nx --json admin create-user webby --subject-type agent
KEY=$(json_get 'j["key"]["api_key"]')
expect_rc 0 nx rebac create agent webby viewer folder /docs
expect_rc 0 nx mcp profile assign agent webby search
want=$(expected_tools search)
NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home" \
  "$NEXUS_CLI" --json mcp serve --transport http --port 0 >"$TEST_ROOT/http.json" 2>"$TEST_ROOT/http.log" &
HTTP_PID=$!
NEXUS_EXTRA_PIDS+=("$HTTP_PID")
URL=""
for ((i = 0; i < 200; i++)); do
  URL=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["url"])' "$TEST_ROOT/http.json" 2>/dev/null) && break
  kill -0 "$HTTP_PID" 2>/dev/null || fail "nexus mcp serve --transport http exited: $(cat "$TEST_ROOT/http.log")"
  sleep 0.05
done
[[ $URL == http://127.0.0.1:*/mcp ]] || fail "nexus mcp serve --transport http --json printed no url: $(cat "$TEST_ROOT/http.json")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' --data '{}' "$URL" || true)
same "POST /mcp without a bearer (curl)" 401 "$code"
for bearer in none "nxk_0000000000000000_$(printf '0%.0s' {1..64})" garbage; do
  if [[ $bearer == none ]]; then http='{"http": {"url": "'$URL'"}}'; else http='{"http": {"url": "'$URL'", "bearer": "'$bearer'"}}'; fi
  mcp "{\"connect\": $http, \"steps\": []}"
  check 'not j["connected"] and (j["connect_error"]["code"] == 401 or "401" in j["connect_error"]["message"])' \
    "the SDK must report 401 for bearer $bearer"
done
mcp "{\"connect\": {\"http\": {\"url\": \"$URL\", \"bearer\": \"$KEY\"}}, \"steps\": [
  {\"name\": \"list\", \"op\": \"list_tools\"},
  {\"name\": \"unknown\", \"op\": \"call\", \"tool\": \"nexus_no_such_tool\", \"args\": {\"path\": \"/docs/visible.txt\"}},
  {\"name\": \"nexus_write_file\", \"op\": \"call\", \"tool\": \"nexus_write_file\", \"args\": {\"path\": \"/docs/visible.txt\"}},
  {\"name\": \"read\", \"op\": \"call\", \"tool\": \"nexus_read_file\", \"args\": {\"path\": \"/docs/visible.txt\"}},
  {\"name\": \"read_hidden\", \"op\": \"call\", \"tool\": \"nexus_read_file\", \"args\": {\"path\": \"/work/res.txt\"}}]}"
check 'j["connected"] and j["protocol_version"] in ("2025-11-25", "2025-06-18")' "HTTP initialize with a good key"
same "HTTP tools/list as webby (search)" "$want" "$(json_get '"\n".join(sorted(j["results"]["list"]["tools"]))')"
check 'same_as_unknown(r["nexus_write_file"], r["unknown"], "nexus_write_file")' "HTTP: a coding tool must be an unknown tool to search"
check 'ok(r["read"]) and "the needle, visible" in body(r["read"])' "HTTP: webby reads /docs/visible.txt"
check 'said(r["read_hidden"], "not found", "no such file")' "HTTP: /work is not webby's"
kill -TERM "$HTTP_PID" 2>/dev/null || true
wait "$HTTP_PID" 2>/dev/null || true

nexus_stop
echo "PASS"
