#!/usr/bin/env bash
# MCP tool profiles end to end on a real nexusd through the real CLI: every
# `nexus mcp profile` command answers --help; list and show (table and
# --json / --format json) give the built-in matrix with its inheritance;
# an admin assigns coding to alice's agent with a zone label, and the
# tuples are in `nexus rebac list`; inspect (by the admin, by the owner)
# reports them; re-assigning minimal removes the rest; alice (no admin)
# may not assign, bob may not inspect alice's agent; an operator profile
# file adds a profile and makes it the default; a bad profile file (bad
# YAML, a cycle, an unknown parent, a bad tool id, an unknown default) fails
# nexusd's start with a message naming the file and the problem.
source "$(dirname "$0")/../lib.sh"

nexus_start

note "--help of every command, usage errors"
for cmd in "mcp profile list" "mcp profile show" "mcp profile assign" "mcp profile inspect"; do
  # shellcheck disable=SC2086
  expect_rc 0 nx $cmd --help
  grep -q "^Usage: nexus $cmd" "$TEST_ROOT/out" || fail "nexus $cmd --help: $(head -n 2 "$TEST_ROOT/out")"
done
expect_rc 64 nx mcp profile show
expect_rc 64 nx mcp profile assign agent onlyid
expect_rc 64 nx mcp profile list --format yaml

note "list and show: the built-in matrix"
expect_rc 0 nx mcp profile list
grep -q '^minimal \*' "$TEST_ROOT/out" || fail "list marks no default: $(out)"
grep -q '^coding  *minimal  *16' "$TEST_ROOT/out" || fail "list: $(out)"
expect_rc 0 nx --json mcp profile list
expect_json '[p["name"] for p in j["profiles"]], j["default_profile"], j["source"]' \
  "(['minimal', 'coding', 'search', 'execution', 'full'], 'minimal', 'built-in')"
expect_json '[len(p["all_tools"]) for p in j["profiles"]]' "[4, 16, 6, 21, 26]"
expect_rc 0 nx mcp profile show search --format json
expect_json 'j["inherits"], j["tools"]' "(['minimal'], ['nexus_grep', 'nexus_semantic_search'])"
expect_rc 0 nx mcp profile show coding
grep -q '^nexus_read_file  *inherited' "$TEST_ROOT/out" || fail "show: $(out)"
grep -q '^nexus_write_file  *this profile' "$TEST_ROOT/out" || fail "show: $(out)"
expect_rc 1 nx mcp profile show nosuch
expect_err "no tool profile"

note "assign coding to alice's agent; the tuples are ReBAC tuples"
expect_rc 0 nx identity bind --uid "$ALICE_UID" user:alice
expect_rc 0 nx identity bind --uid "$BOB_UID" user:bob
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"
expect_rc 0 alice agent register demo "Demo agent"
expect_rc 0 nx --json mcp profile inspect agent demo
expect_json 'j["defaulted"], j["profile"], len(j["tools"]), j["grants"]' "(True, 'minimal', 4, [])"
expect_rc 0 nx --json mcp profile assign agent demo coding --zone-id sandbox-agent-1
expect_json 'len(j["granted"]), j["removed"], j["revision"] > 0' "(16, [], True)"
expect_rc 0 nx --json rebac list --subject-type agent --subject-id demo --object-type tool
expect_json 'sorted(t["object"] for t in j["tuples"])[:2], {t["relation"] for t in j["tuples"]}, {t["zone"] for t in j["tuples"]}, len(j["tuples"])' \
  "(['tool:nexus_delete_file', 'tool:nexus_edit_file'], {'viewer'}, {'sandbox-agent-1'}, 16)"
expect_rc 0 nx mcp profile inspect agent demo --zone-id sandbox-agent-1 --format json
expect_json 'j["defaulted"], j["profile"], len(j["tools"]), len(j["grants"])' "(False, 'coding', 16, 16)"
expect_rc 0 nx --json mcp profile inspect agent demo --zone-id other-zone
expect_json 'j["profile"], len(j["grants"])' "('coding', 0)"
expect_rc 0 alice --json mcp profile inspect agent demo  # the owner
expect_json 'j["profile"]' "coding"
expect_rc 0 nx mcp profile inspect agent demo
grep -q '^profile  *coding' "$TEST_ROOT/out" || fail "inspect table: $(out)"
grep -q '^tool:nexus_write_file  *viewer  *sandbox-agent-1' "$TEST_ROOT/out" || fail "inspect table: $(out)"

note "who may: alice may not assign, bob may not inspect alice's agent"
expect_rc 1 alice mcp profile assign agent demo full
expect_err "manage"
expect_rc 1 bob mcp profile inspect agent demo
expect_err "may not inspect"
expect_rc 0 bob --json mcp profile inspect user bob  # itself
expect_json 'j["defaulted"]' "True"

note "re-assigning a smaller profile removes the rest"
expect_rc 0 nx --json mcp profile assign agent demo minimal
expect_json 'len(j["granted"]), len(j["removed"])' "(4, 12)"
expect_rc 0 nx --json rebac list --subject-type agent --subject-id demo --object-type tool
expect_json 'len(j["tuples"])' "4"
expect_rc 1 nx mcp profile assign agent demo nosuch
expect_err "no tool profile"
expect_rc 1 nx mcp profile assign group ops minimal
nexus_stop

note "an operator profile file adds a profile; it may be the default"
cat >"$TEST_ROOT/profiles.yaml" <<'EOF2'
profiles:
  - name: reviewer
    description: reads and comments
    inherits: [search]
    tools: [team_comment]
EOF2
nexus_start --tool-profiles "$TEST_ROOT/profiles.yaml" --mcp-default-profile reviewer
expect_rc 0 nx --json mcp profile list
expect_json 'j["default_profile"], j["source"], [p["name"] for p in j["profiles"]][-1]' \
  "('reviewer', 'built-in + $TEST_ROOT/profiles.yaml', 'reviewer')"
expect_rc 0 nx --json mcp profile inspect user bob
expect_json 'j["defaulted"], j["profile"], "team_comment" in j["tools"]' "(True, 'reviewer', True)"
expect_rc 0 nx --json mcp profile inspect agent demo  # its grants survived the restart
expect_json 'j["profile"]' "minimal"
nexus_stop

note "a bad profile file fails the start, naming the file and the problem"
bad_start() { # bad_start WANT FILE-CONTENT [nexusd args]: nexusd exits 64 saying WANT
  local want=$1 content=$2
  shift 2
  printf '%s\n' "$content" >"$TEST_ROOT/bad.yaml"
  local rc=0
  timeout 20 "$NEXUSD" --data-dir "$NEXUS_DATA" --mount "$NEXUS_MNT" --tool-profiles "$TEST_ROOT/bad.yaml" "$@" \
    >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" || rc=$?
  [[ $rc -eq 64 ]] || fail "nexusd with a bad profile file ($want) exited $rc: $(head -c 400 "$TEST_ROOT/err")"
  grep -q "$TEST_ROOT/bad.yaml" "$TEST_ROOT/err" || fail "the error names no file: $(head -c 400 "$TEST_ROOT/err")"
  grep -q "$want" "$TEST_ROOT/err" || fail "the error lacks '$want': $(head -c 400 "$TEST_ROOT/err")"
}
bad_start "bad YAML" 'profiles: [name: {'
bad_start "inheritance cycle: a -> b -> a" $'profiles:\n  - name: a\n    inherits: [b]\n  - name: b\n    inherits: [a]'
bad_start "inherits unknown profile nosuch" $'profiles:\n  - name: a\n    inherits: [nosuch]'
bad_start "invalid tool id" $'profiles:\n  - name: a\n    tools: ["rm -rf"]'
rc=0
timeout 20 "$NEXUSD" --data-dir "$NEXUS_DATA" --mount "$NEXUS_MNT" --mcp-default-profile nosuch \
  >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" || rc=$?
[[ $rc -eq 64 ]] || fail "nexusd with an unknown default profile exited $rc"
grep -q 'default MCP tool profile "nosuch"' "$TEST_ROOT/err" || fail "unknown default: $(head -c 400 "$TEST_ROOT/err")"
mountpoint -q "$NEXUS_MNT" && fail "a failed start left a mount"
echo "PASS"
