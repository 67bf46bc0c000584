#!/usr/bin/env bash
# Agent mailboxes end to end on a real nexusd and mount through the real CLI:
# every `nexus ipc` command answers --help; alice's agent a1 and bob's agent
# b1 (uids bound to user:alice and user:bob); bob shares b1's inbox with a1;
# alice sends to b1 by CLI (--from a1) and by writing a file into
# /agents/b1/inbox/ through a per-subject mount acting as agent:a1; bob reads
# both with `ipc inbox` and with ls/cat on the mount; ack (by CLI and by mv)
# moves the file to processed/; an ungranted sender (carol) is refused on
# both paths and nothing appears; a --ttl 1 message lands in dead_letter/
# and `ipc dead`; `ipc inbox --wait 5` returns as soon as another process
# sends; dedup by --id; a body that is not UTF-8 comes back as body_base64;
# an unknown recipient is exit 1 "not found"; the mailbox survives a restart.
source "$(dirname "$0")/../lib.sh"

# count_is N: b1's unacked count (as bob) becomes N within 5 s (files
# written on the mount are indexed from the change bus, a moment later).
count_is() {
  local i
  for ((i = 0; i < 50; i++)); do
    bob --json ipc count b1 >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" || fail "ipc count: $(cat "$TEST_ROOT/err")"
    [[ $(json_get 'j["count"]') == "$1" ]] && return 0
    sleep 0.1
  done
  fail "b1's count is $(json_get 'j["count"]'), expected $1"
}

nexus_start

note "--help of every command"
for cmd in "ipc send" "ipc inbox" "ipc count" "ipc ack" "ipc dead"; do
  # shellcheck disable=SC2086
  expect_rc 0 nx $cmd --help
  grep -q "^Usage: nexus $cmd" "$TEST_ROOT/out" || fail "nexus $cmd --help: $(head -n 2 "$TEST_ROOT/out")"
done
expect_rc 0 nx ipc --help
grep -q "Commands of 'ipc'" "$TEST_ROOT/out" || fail "nexus ipc --help lists no commands"
expect_rc 64 nx ipc send b1
expect_rc 64 nx ipc send b1 hi --ttl -3
expect_rc 64 nx ipc inbox b1 --wait soon
expect_rc 64 nx ipc ack b1

note "two users, one agent each; bob shares b1's inbox with a1"
expect_rc 0 nx identity bind --uid "$ALICE_UID" user:alice
expect_rc 0 nx identity bind --uid "$BOB_UID" user:bob
expect_rc 0 nx identity bind --uid "$CAROL_UID" user:carol
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"
expect_rc 0 alice agent register a1 "Alice's agent"
expect_rc 0 bob agent register agent:b1 "Bob's agent"
expect_rc 0 bob rebac share /agents/b1/inbox agent a1 --role editor

note "alice sends to b1 by CLI, as a1"
expect_rc 0 alice --json ipc send b1 "hello by cli" --from agent:a1
expect_json 'j["from"], j["to"], j["body"], j["state"], j["ttl"], j["name"] == j["id"]' \
  "('agent:a1', 'b1', 'hello by cli', 'inbox', 86400, True)"
CLI_ID=$(json_get 'j["id"]')
[[ -f "$NEXUS_MNT/agents/b1/inbox/$CLI_ID" ]] || fail "the message is not a file: $(ls "$NEXUS_MNT/agents/b1/inbox")"
[[ $(cat "$NEXUS_MNT/agents/b1/inbox/$CLI_ID") == "hello by cli" ]] || fail "the file holds the wrong body"
# The same acting as a1 for the whole session.
expect_rc 0 alice --as agent:a1 --json ipc send b1 "hello by --as"
expect_json 'j["from"]' agent:a1
AS_ID=$(json_get 'j["id"]')
# a1 may write into b1's inbox, not move things out of it (processed/ is not shared).
expect_rc 1 alice --as a1 ipc ack b1 "$AS_ID"
expect_rc 0 bob ipc ack b1 "$AS_ID"
# alice herself was not granted, and may not act as bob's agent.
expect_rc 1 alice ipc send b1 "as myself"
expect_err "permission denied\|may not"
expect_rc 1 alice ipc send b1 "as b1" --from b1
expect_err "permission denied\|may not"

note "alice sends to b1 by writing a file, through a mount acting as agent:a1"
A1_VIEW="$TEST_ROOT/a1-view"
mkdir -p "$A1_VIEW"
expect_rc 0 nx mount add "$A1_VIEW" --as agent:a1
echo "hello by file" >"$A1_VIEW/agents/b1/inbox/hello.txt" || fail "a1 could not write into b1's inbox"
count_is 2

note "bob reads both: by CLI and on the mount"
expect_rc 0 bob --json ipc inbox agent:b1
expect_json '[(m["from"], m["name"] == m["id"], m["body"]) for m in j["messages"]]' \
  "[('agent:a1', True, 'hello by cli'), ('agent:a1', False, 'hello by file\n')]"
expect_json 'sorted(j["messages"][1])' "['body', 'expires_at', 'from', 'id', 'name', 'state', 'time', 'to', 'ttl']"
expect_json 'j["messages"][1]["name"]' hello.txt
shell "$BOB_UID" "ls $NEXUS_MNT/agents/b1/inbox" || fail "bob cannot list his agent's inbox: $(cat "$TEST_ROOT/err")"
[[ $(out | tr '\n' ' ') == "hello.txt $CLI_ID " ]] || fail "bob's ls: $(out)"
shell "$BOB_UID" "cat $NEXUS_MNT/agents/b1/inbox/hello.txt $NEXUS_MNT/agents/b1/inbox/$CLI_ID" ||
  fail "bob cannot read: $(cat "$TEST_ROOT/err")"
[[ $(out) == $'hello by file\nhello by cli' ]] || fail "bob's cat: $(out)"
expect_rc 0 bob ipc inbox b1
grep -q "hello by cli" "$TEST_ROOT/out" || fail "inbox: $(out)"
expect_rc 0 bob --json ipc count b1  # reading does not consume
expect_json 'j' "{'count': 2}"

note "ack by CLI and by mv"
expect_rc 1 bob ipc ack b1 msg-0000000000000000
expect_err "not found"
expect_rc 1 carol ipc ack b1 "$CLI_ID"
expect_rc 0 bob ipc ack b1 "$CLI_ID"
[[ -f "$NEXUS_MNT/agents/b1/processed/$CLI_ID" && ! -e "$NEXUS_MNT/agents/b1/inbox/$CLI_ID" ]] ||
  fail "ack did not move the file: $(ls -R "$NEXUS_MNT/agents/b1")"
shell "$BOB_UID" "mv $NEXUS_MNT/agents/b1/inbox/hello.txt $NEXUS_MNT/agents/b1/processed/" ||
  fail "bob cannot mv: $(cat "$TEST_ROOT/err")"
count_is 0
expect_rc 0 bob --json ipc inbox b1
expect_json 'j' "{'messages': []}"

note "an ungranted sender is refused on both paths and nothing appears"
expect_rc 1 carol ipc send b1 "spam"
expect_err "user:carol may not send to agent:b1"
expect_rc 1 carol --json ipc send b1 "spam" --from a1
expect_json 'j["error"]["code"]' permissionDenied
shell "$CAROL_UID" "echo spam > $NEXUS_MNT/agents/b1/inbox/spam.txt" && fail "carol wrote into b1's inbox"
[[ -z $(ls "$NEXUS_MNT/agents/b1/inbox") ]] || fail "something appeared: $(ls "$NEXUS_MNT/agents/b1/inbox")"
expect_rc 1 carol ipc inbox b1
expect_err "not found"
count_is 0

note "TTL: expired into dead_letter/"
expect_rc 0 alice --json ipc send b1 "short-lived" --from a1 --ttl 1
TTL_ID=$(json_get 'j["id"]')
sleep 2.5
expect_rc 0 bob --json ipc dead b1
expect_json '[(m["id"], m["body"], m["state"], m["ttl"]) for m in j["messages"]]' \
  "[('$TTL_ID', 'short-lived', 'dead', 1)]"
[[ -f "$NEXUS_MNT/agents/b1/dead_letter/$TTL_ID" ]] || fail "not in dead_letter/: $(ls -R "$NEXUS_MNT/agents/b1")"
count_is 0

note "inbox --wait returns as soon as another process sends"
(sleep 1 && alice ipc send b1 "wake up" --from a1 >/dev/null) &
SENDER=$!
start=$(date +%s.%N)
expect_rc 0 bob --json ipc inbox b1 --wait 5
took=$(python3 -c "print($(date +%s.%N) - $start)")
wait "$SENDER"
expect_json '[m["body"] for m in j["messages"]]' "['wake up']"
python3 -c "import sys; sys.exit(0 if $took < 4 else 1)" || fail "inbox --wait took ${took}s"
WAKE_ID=$(json_get 'j["messages"][0]["id"]')
expect_rc 0 bob ipc ack b1 "$WAKE_ID"
# Nothing arrives: the wait runs out with an empty inbox.
start=$(date +%s.%N)
expect_rc 0 bob --json ipc inbox b1 --wait 1
expect_json 'j["messages"]' "[]"
python3 -c "import sys; sys.exit(0 if $(date +%s.%N) - $start >= 0.9 else 1)" || fail "the wait did not wait"

note "dedup by --id, --json-body, bodies that are not UTF-8"
expect_rc 0 alice --json ipc send b1 "once" --from a1 --id req-1
FIRST=$(json_get 'j["id"]')
expect_rc 0 alice --json ipc send b1 "once" --from a1 --id req-1
expect_json 'j["id"]' "$FIRST"
count_is 1
echo '{"task": "summarize", "n": 3}' >"$TEST_ROOT/body.json"
expect_rc 0 alice --json ipc send b1 --json-body "$TEST_ROOT/body.json" --from a1
expect_json 'json.loads(j["body"])["task"]' summarize
echo 'not json' >"$TEST_ROOT/bad.json"
expect_rc 64 alice ipc send b1 --json-body "$TEST_ROOT/bad.json" --from a1
printf '\xff\xfe\x00bin' >"$A1_VIEW/agents/b1/inbox/blob.bin"
count_is 3
expect_rc 0 bob --json ipc inbox b1
expect_json '[("body" in m, m.get("body_base64")) for m in j["messages"] if m["name"] == "blob.bin"]' \
  "[(False, '//4AYmlu')]"

note "unknown recipient; a daemon restart keeps the mailbox"
expect_rc 1 alice ipc send ghost "hello?" --from a1
expect_err "not found"
expect_rc 1 alice --json ipc count agent:ghost
expect_json 'j["error"]["code"]' notFound
expect_rc 0 nx mount remove "$A1_VIEW"
nexus_stop
nexus_start
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"
count_is 3
expect_rc 0 bob --json ipc dead b1
expect_json '[m["id"] for m in j["messages"]]' "['$TTL_ID']"

nexus_stop
echo "ipc: all checks passed"
