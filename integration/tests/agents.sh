#!/usr/bin/env bash
# The agent registry end to end on a real nexusd through the real CLI: every
# `nexus agent` command answers --help; two users (uids bound to user:alice
# and user:bob) each register an agent; `--json` shapes of status and list;
# bob's transition of alice's agent is refused (exit 1, permission denied);
# a transition with a stale --expected-generation is a conflict naming the
# current generation; a heartbeat, then status shows it live and not stale;
# delete; an unknown id is exit 1 "not found"; the registry survives a
# restart; a daemon without the registry answers 69 (unavailable).
source "$(dirname "$0")/../lib.sh"

ALICE_UID=${NONROOT_UID:-1000}
BOB_UID=$((ALICE_UID + 1))
USERS_GID=${NONROOT_GID:-1000}  # both users' group: the socket is group-accessible
# as UID ARGS...: the CLI run as that uid (its own NEXUS_HOME).
as() {
  local uid=$1
  shift
  setpriv --reuid "$uid" --regid "$USERS_GID" --clear-groups \
    env NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home$uid" "$NEXUS_CLI" "$@"
}
alice() { as "$ALICE_UID" "$@"; }
bob() { as "$BOB_UID" "$@"; }
out() { cat "$TEST_ROOT/out"; }
expect_json() {
  local got
  got=$(json_get "($1)") || fail "cannot evaluate $1 over: $(head -c 400 "$TEST_ROOT/out")"
  [[ $got == "$2" ]] || fail "$1 is '$got', expected '$2'; output: $(head -c 600 "$TEST_ROOT/out")"
}
expect_err() { grep -q "$1" "$TEST_ROOT/err" || fail "stderr lacks '$1': $(head -c 400 "$TEST_ROOT/err")"; }

nexus_start

note "the daemon serves the registry; --help of every command"
expect_rc 0 nx --json features
expect_json '[f["state"] for f in j["features"] if f["name"] == "agents"][0]' enabled
for cmd in "agent register" "agent update" "agent list" "agent info" "agent status" "agent heartbeat" \
    "agent transition" "agent delete"; do
  # shellcheck disable=SC2086
  expect_rc 0 nx $cmd --help
  grep -q "^Usage: nexus $cmd" "$TEST_ROOT/out" || fail "nexus $cmd --help: $(head -n 2 "$TEST_ROOT/out")"
done
expect_rc 0 nx agent --help
grep -q "Commands of 'agent'" "$TEST_ROOT/out" || fail "nexus agent --help lists no commands"
expect_rc 64 nx agent register onlyid
expect_rc 64 nx agent register x X --metadata novalue
expect_rc 64 nx agent transition x CONNECTED --expected-generation abc

note "two users, one agent each"
expect_rc 0 nx identity bind --uid "$ALICE_UID" user:alice
expect_rc 0 nx identity bind --uid "$BOB_UID" user:bob
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"
expect_rc 0 alice agent register scout "Scout" --description "reads the news" --metadata model=m1 --metadata team=red
grep -q "registered agent:scout, owned by user:alice" "$TEST_ROOT/out" || fail "register printed: $(out)"
expect_rc 0 bob --json agent register agent:helper "Helper"
expect_json 'j["id"], j["owner"], j["phase"], j["generation"]' "('helper', 'user:bob', 'REGISTERED', 1)"
expect_rc 1 bob agent register scout "Taken"

note "--json shapes"
expect_rc 0 bob --json agent status agent:scout
expect_json 'sorted(j)' "['created_at', 'description', 'generation', 'id', 'last_heartbeat', 'metadata', 'name', 'owner', 'phase', 'stale', 'updated_at']"
expect_json 'j["metadata"], j["last_heartbeat"], j["stale"]' "({'model': 'm1', 'team': 'red'}, None, False)"
expect_rc 0 nx --json agent list
expect_json '[a["id"] for a in j["agents"]]' "['helper', 'scout']"
expect_rc 0 nx --json agent list --owner user:alice
expect_json '[a["id"] for a in j["agents"]]' "['scout']"
expect_rc 0 nx agent list
grep -q '^ID' "$TEST_ROOT/out" || fail "list has no header: $(out)"
grep -q '^scout .*user:alice.*REGISTERED' "$TEST_ROOT/out" || fail "list: $(out)"
expect_rc 0 nx agent info scout
grep -q '^description *reads the news' "$TEST_ROOT/out" || fail "info: $(out)"

note "only the owner (or an admin) changes an agent"
expect_rc 1 bob agent transition scout CONNECTED
expect_err "permission denied\|may not"
expect_rc 1 bob --json agent transition scout CONNECTED
expect_json 'j["error"]["code"]' permissionDenied
expect_rc 1 bob agent delete scout
expect_rc 0 alice agent update scout --name "Scout 2" --remove-metadata team
expect_rc 0 alice --json agent transition scout CONNECTED --expected-generation 2
expect_json 'j["phase"], j["generation"]' "('CONNECTED', 3)"

note "compare-and-set conflict"
expect_rc 1 alice --json agent transition scout BUSY --expected-generation 2
expect_json 'j["error"]["code"]' conflict
expect_rc 1 alice agent transition scout BUSY --expected-generation 2
expect_err "generation is 3"
expect_rc 1 alice agent transition scout SUSPENDED   # admins only
expect_rc 0 nx agent transition scout SUSPENDED
expect_rc 0 nx agent transition scout DISCONNECTED
expect_rc 0 alice agent transition scout CONNECTED

note "heartbeat, then status"
expect_rc 0 alice agent heartbeat scout
expect_rc 1 bob agent heartbeat scout
expect_rc 0 nx --json agent status scout
expect_json 'j["phase"], j["stale"], j["last_heartbeat"] is not None, j["name"], j["metadata"]' \
  "('CONNECTED', False, True, 'Scout 2', {'model': 'm1'})"
expect_rc 0 alice agent status scout
grep -q '^agent:scout  CONNECTED  generation 6' "$TEST_ROOT/out" || fail "status: $(out)"

note "unknown ids, delete"
expect_rc 1 nx agent status ghost
expect_err "not found"
expect_rc 1 nx --json agent info ghost
expect_json 'j["error"]["code"]' notFound
expect_rc 1 nx agent status user:alice
expect_rc 0 bob agent delete helper
expect_rc 1 bob agent status helper
expect_err "not found"

note "the registry survives a restart"
nexus_stop
nexus_start
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"
expect_rc 0 nx --json agent status scout
expect_json 'j["phase"], j["generation"], j["last_heartbeat"] is not None' "('CONNECTED', 6, True)"
expect_rc 0 nx --json agent list
expect_json '[a["id"] for a in j["agents"]]' "['scout']"
[[ $(stat -c %a "$NEXUS_DATA/agents.db") == 600 ]] || fail "agents.db is not 0600"

note "a daemon without the registry: unavailable (69)"
nexus_stop
nexus_start --profile lite
expect_rc 69 nx agent list
expect_err "unavailable: agents"
nexus_stop
echo "PASS"
