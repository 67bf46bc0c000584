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

note "the homes on the mount: /agents/ID with AGENT.json and the mailbox folders"
[[ $(ls "$NEXUS_MNT/agents/scout" | tr '\n' ' ') == "AGENT.json dead_letter inbox processed " ]] ||
  fail "home of scout: $(ls -la "$NEXUS_MNT/agents/scout")"
python3 - "$NEXUS_MNT/agents/scout/AGENT.json" <<'PY' || fail "AGENT.json: $(cat "$NEXUS_MNT/agents/scout/AGENT.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert (j["id"], j["subject"], j["owner"], j["name"], j["phase"], j["generation"]) == \
    ("scout", "agent:scout", "user:alice", "Scout", "REGISTERED", 1), j
assert j["metadata"] == {"model": "m1", "team": "red"}, j
PY
shell "$ALICE_UID" "cat $NEXUS_MNT/agents/scout/AGENT.json" || fail "alice cannot read her agent's record"
shell "$ALICE_UID" "echo hi > $NEXUS_MNT/agents/scout/inbox/note && cat $NEXUS_MNT/agents/scout/inbox/note" ||
  fail "alice cannot use her agent's home: $(cat "$TEST_ROOT/err")"
rm "$NEXUS_MNT/agents/scout/inbox/note"
shell "$BOB_UID" "ls $NEXUS_MNT/agents/scout" && fail "bob sees alice's agent's home"
grep -q "No such file" "$TEST_ROOT/err" || fail "bob: $(cat "$TEST_ROOT/err")"
shell "$BOB_UID" "ls $NEXUS_MNT/agents" || fail "bob cannot list /agents"
[[ $(cat "$TEST_ROOT/out") == helper ]] || fail "bob's /agents lists: $(cat "$TEST_ROOT/out")"
# The record is read-only for everyone, root included; the structure too.
shell "$ALICE_UID" "echo x >> $NEXUS_MNT/agents/scout/AGENT.json" && fail "alice wrote AGENT.json"
for cmd in "echo x >> $NEXUS_MNT/agents/scout/AGENT.json" "chmod 644 $NEXUS_MNT/agents/scout/AGENT.json" \
    "rm -f $NEXUS_MNT/agents/scout/AGENT.json" "rmdir $NEXUS_MNT/agents/scout/processed" \
    "mv $NEXUS_MNT/agents/scout $NEXUS_MNT/agents/scout2" "mkdir $NEXUS_MNT/agents/fake" \
    "rm -rf $NEXUS_MNT/agents"; do
  bash -c "$cmd" 2>"$TEST_ROOT/err" && fail "root could: $cmd"
  grep -q "not permitted" "$TEST_ROOT/err" || fail "$cmd: $(cat "$TEST_ROOT/err")"
done
expect_rc 1 nx write /agents/scout/AGENT.json x
expect_err "not permitted\|kept by nexusd"
[[ -f "$NEXUS_MNT/agents/scout/AGENT.json" && -d "$NEXUS_MNT/agents/scout/inbox" ]] || fail "the home was damaged"
expect_rc 0 nx rebac check user alice owner folder /agents/scout
grep -q "allowed" "$TEST_ROOT/out" || fail "alice does not own the home: $(out)"

note "acting as an agent: --as, NEXUS_AGENT; the agent's grants only"
mkdir -p "$NEXUS_MNT/alice-only" "$NEXUS_MNT/scout-shared"
echo secret >"$NEXUS_MNT/alice-only/f"
echo shared >"$NEXUS_MNT/scout-shared/f"
expect_rc 0 nx rebac share /alice-only user alice --role editor
expect_rc 0 nx rebac share /scout-shared agent scout --role viewer
expect_rc 0 alice --as agent:scout whoami
grep -q "^agent:scout, acting for user:alice" "$TEST_ROOT/out" || fail "whoami --as: $(out)"
expect_rc 0 alice --json --as scout whoami
expect_json 'j["acting_as"], j["subject"]' "('agent:scout', 'user:alice')"
expect_rc 0 alice cat /alice-only/f
expect_rc 1 alice --as agent:scout cat /alice-only/f  # never the owner's grants
expect_err "not found\|no such"
expect_rc 0 alice --as agent:scout cat /scout-shared/f
[[ $(out) == shared ]] || fail "scout read: $(out)"
expect_rc 1 alice cat /scout-shared/f
NEXUS_AGENT=agent:scout expect_rc 0 alice cat /scout-shared/f
expect_rc 0 alice --as scout write /agents/scout/notes.txt "by scout"
expect_rc 0 nx --json audit list --subject agent:scout --denied
expect_json 'any("/alice-only" in e["object"] for e in j["entries"])' True
expect_rc 1 bob --as agent:scout whoami
expect_err "may not act as agent scout: it is owned by user:alice"
expect_rc 1 alice --as agent:ghost whoami
expect_err "not found"
expect_rc 64 alice --as user:bob whoami
expect_rc 0 nx --as scout whoami  # an admin may act as any agent
grep -q "^agent:scout, acting for" "$TEST_ROOT/out" || fail "admin --as: $(out)"
expect_rc 1 nx --as scout agent transition scout SUSPENDED  # as the agent: no admin powers
note "admin create-user --subject-type agent registers in the same registry"
expect_rc 0 nx admin create-user bot7 --subject-type agent
expect_rc 0 nx --json agent info bot7
expect_json 'j["id"], j["owner"]' "('bot7', 'user:admin')"
[[ -f "$NEXUS_MNT/agents/bot7/AGENT.json" ]] || fail "no home for the agent user"
expect_rc 0 nx agent register bot8 "Bot 8"
expect_rc 0 nx admin create-user bot8 --subject-type agent  # an existing agent gets a user record
expect_rc 0 nx agent delete bot7
expect_rc 0 nx agent delete bot8

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
grep -q '"name": "Scout 2"' "$NEXUS_MNT/agents/scout/AGENT.json" || fail "AGENT.json not updated"
grep -q '"phase": "CONNECTED"' "$NEXUS_MNT/agents/scout/AGENT.json" || fail "AGENT.json: $(cat "$NEXUS_MNT/agents/scout/AGENT.json")"

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
echo keep >"$NEXUS_MNT/agents/helper/inbox/m1"
expect_rc 0 bob agent delete helper
expect_rc 1 bob agent status helper
expect_err "not found"
[[ ! -e "$NEXUS_MNT/agents/helper" ]] || fail "the home of a deleted agent is still there"
expect_rc 0 alice agent register helper "Helper again"
[[ -z $(ls "$NEXUS_MNT/agents/helper/inbox") ]] || fail "a re-registered id inherited its inbox"
expect_rc 0 alice agent delete helper

note "the registry survives a restart"
echo kept >"$NEXUS_MNT/agents/scout/inbox/kept"
nexus_stop
nexus_start
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"
expect_rc 0 nx --json agent status scout
expect_json 'j["phase"], j["generation"], j["last_heartbeat"] is not None' "('CONNECTED', 6, True)"
expect_rc 0 nx --json agent list
expect_json '[a["id"] for a in j["agents"]]' "['scout']"
[[ $(stat -c %a "$NEXUS_DATA/agents.db") == 600 ]] || fail "agents.db is not 0600"
[[ $(ls "$NEXUS_MNT/agents") == scout ]] || fail "homes after restart: $(ls "$NEXUS_MNT/agents")"
grep -q '"generation": 6' "$NEXUS_MNT/agents/scout/AGENT.json" || fail "AGENT.json after restart"
[[ $(cat "$NEXUS_MNT/agents/scout/inbox/kept") == kept ]] || fail "the home lost a file over a restart"
[[ ! -e "$NEXUS_MNT/agents.user-1" ]] || fail "nexusd renamed its own /agents aside"

note "a daemon without the registry: unavailable (69)"
nexus_stop
nexus_start --profile lite
expect_rc 69 nx agent list
expect_err "unavailable: agents"
nexus_stop
echo "PASS"
