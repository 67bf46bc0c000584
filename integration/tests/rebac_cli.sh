#!/usr/bin/env bash
# The access-control CLI end to end on a real nexusd: every `nexus rebac`,
# `identity`, `audit` and `mount` command answers --help; tuples are
# created, checked, explained, listed, expanded and deleted; a file shared
# with --ttl 2 is readable, then not once the grant expired; shares of
# folders, unshare, public and private; malformed input is a usage error
# (64) caught before the daemon; a non-admin uid (1000) is refused (exit 1,
# permissionDenied) when it writes a tuple on an object it does not manage,
# and the audit log lists that denial; the CSV export has its header row.
# (What the mount itself enforces is tested elsewhere.)
source "$(dirname "$0")/../lib.sh"

AS_UID=${NONROOT_UID:-1000}
AS_GID=${NONROOT_GID:-1000}
as_user() {
  setpriv --reuid "$AS_UID" --regid "$AS_GID" --clear-groups \
    env NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home$AS_UID" "$NEXUS_CLI" "$@"
}
out() { cat "$TEST_ROOT/out"; }
# expect_out TEXT: the last command printed exactly TEXT.
expect_out() { [[ $(out) == "$1" ]] || fail "expected output '$1', got '$(out)'"; }
# expect_json EXPR VALUE: python EXPR over the last JSON output prints VALUE.
expect_json() {
  local got
  got=$(json_get "$1") || fail "cannot evaluate $1 over: $(head -c 400 "$TEST_ROOT/out")"
  [[ $got == "$2" ]] || fail "$1 is '$got', expected '$2'; output: $(head -c 600 "$TEST_ROOT/out")"
}

nexus_start
M=$NEXUS_MNT

note "the daemon serves ReBAC"
expect_rc 0 nx --json features
expect_json '[f["state"] for f in j["features"] if f["name"] == "rebac"][0]' enabled

note "--help of every command"
for cmd in "rebac create" "rebac delete" "rebac check" "rebac explain" "rebac list" \
    "rebac list-objects" "rebac expand" "rebac share" "rebac unshare" "rebac public" \
    "rebac private" "rebac info" "identity bind" "identity unbind" "identity list" \
    "audit list" "audit export" "mount add" "mount list" "mount remove"; do
  # shellcheck disable=SC2086
  expect_rc 0 nx $cmd --help
  grep -q "^Usage: nexus $cmd" "$TEST_ROOT/out" || fail "nexus $cmd --help: no usage line: $(head -n 2 "$TEST_ROOT/out")"
done
for group in rebac identity audit mount; do
  expect_rc 0 nx "$group" --help
  grep -q "Commands of '$group'" "$TEST_ROOT/out" || fail "nexus $group --help lists no commands"
done

note "create, check, explain"
expect_rc 0 nx rebac create user alice viewer folder /proj
grep -q '^created user:alice#viewer@folder:/proj' "$TEST_ROOT/out" || fail "create printed: $(out)"
expect_rc 0 nx rebac check user alice read file /proj/src/a.txt
expect_out allowed
expect_rc 0 nx rebac check user alice write file /proj/src/a.txt
expect_out denied
expect_rc 0 nx --json rebac check user alice read file /proj/src/a.txt
expect_json 'j["allowed"]' True
expect_rc 0 nx --json rebac check user alice viewer file /proj/src/a.txt   # a relation: no inheritance
expect_json 'j["allowed"]' False
expect_rc 0 nx rebac explain user alice read file /proj/src/a.txt --verbose
grep -q '^allowed' "$TEST_ROOT/out" || fail "explain: $(out)"
grep -q 'user:alice#viewer@folder:/proj' "$TEST_ROOT/out" || fail "explain shows no granting tuple: $(out)"
expect_rc 0 nx --json rebac explain user carol read file /proj/src/a.txt
expect_json 'j["allowed"]' False
expect_json 'j["reason"]' "no tuple"

note "groups, list, list-objects, expand"
expect_rc 0 nx rebac create group eng editor folder /proj
expect_rc 0 nx rebac create user bob member group eng
expect_rc 0 nx rebac check user bob write file /proj/x
expect_out allowed
expect_rc 0 nx --json rebac list --object-type folder
expect_json 'sorted(t["subject"] + "#" + t["relation"] for t in j["tuples"])' "['group:eng#member#editor', 'user:alice#viewer']"
expect_rc 0 nx rebac list --format json --subject-type user --subject-id bob
expect_json '[t["object"] for t in j["tuples"]]' "['group:eng']"
expect_rc 0 nx rebac list --relation member
grep -q '^SUBJECT' "$TEST_ROOT/out" || fail "list table has no header: $(out)"
grep -q 'user:bob.*member.*group:eng' "$TEST_ROOT/out" || fail "list table: $(out)"
expect_rc 0 nx --json rebac list-objects write user bob --type folder
expect_json 'j["objects"]' "['folder:/proj']"
expect_rc 0 nx rebac list-objects read user alice
grep -qx 'folder:/proj' "$TEST_ROOT/out" || fail "list-objects: $(out)"
expect_rc 0 nx --json rebac expand write folder /proj
expect_json '"user:bob" in j["subjects"] and "user:alice" not in j["subjects"]' True
expect_rc 0 nx rebac expand write folder /proj
grep -q '^  user:bob' "$TEST_ROOT/out" || fail "expand tree does not indent bob under his group: $(out)"

note "expiry given as a time"
expect_rc 0 nx --json rebac create user dave viewer file /proj/notes --expires-at 2099-12-01T00:00:00Z
expect_json 'j["created"]["expires_at"]' "2099-12-01T00:00:00.000Z"
expect_rc 0 nx --json rebac create user erin viewer file /proj/notes --expires-at 4102444800 --zone-id lab
expect_json 'j["created"]["expires_at"]' "2100-01-01T00:00:00.000Z"
expect_rc 0 nx --json rebac list --subject-type user --subject-id erin
expect_json 'j["tuples"][0]["zone"]' lab

note "delete"
expect_rc 0 nx rebac delete user alice viewer folder /proj
expect_rc 0 nx rebac check user alice read file /proj/src/a.txt
expect_out denied
expect_rc 1 nx rebac delete user alice viewer folder /proj
grep -q 'no tuple' "$TEST_ROOT/err" || fail "deleting a missing tuple: $(cat "$TEST_ROOT/err")"
expect_rc 0 nx --json rebac info
expect_json 'j["tuples"] >= 5 and j["revision"] >= 6' True

note "share a file for 6 seconds"
mkdir -p "$M/docs"
echo "the plan" >"$M/docs/plan.txt"
# Long enough that the checks below finish inside it on a loaded machine.
expect_rc 0 nx --json rebac share /docs/plan.txt user carol --role viewer --ttl 6
expect_json 'j["tuple"]["object"]' "file:/docs/plan.txt"
expect_json 'j["tuple"]["expires_at"] is not None' True
expect_rc 0 nx rebac check user carol read file /docs/plan.txt
expect_out allowed
sleep 6.5
expect_rc 0 nx rebac check user carol read file /docs/plan.txt
expect_out denied
expect_rc 0 nx --json rebac explain user carol read file /docs/plan.txt
expect_json 'j["reason"]' expired

note "share a folder, unshare, public, private"
expect_rc 0 nx --json rebac share /docs agent bot --role editor
expect_json 'j["tuple"]["object"]' "folder:/docs"
expect_rc 0 nx rebac check agent bot write file /docs/plan.txt
expect_out allowed
expect_rc 1 nx rebac unshare /docs agent bot --role owner
expect_rc 0 nx --json rebac unshare /docs agent bot
expect_json 'j["removed"]' 1
expect_rc 0 nx rebac check agent bot write file /docs/plan.txt
expect_out denied
expect_rc 1 nx rebac unshare /docs agent bot
expect_rc 1 nx rebac share /docs/missing.txt user carol --role viewer
expect_rc 0 nx rebac public /docs/plan.txt
expect_rc 0 nx rebac check user zed read file /docs/plan.txt
expect_out allowed
expect_rc 0 nx rebac private /docs/plan.txt
expect_rc 0 nx rebac check user zed read file /docs/plan.txt
expect_out denied
expect_rc 1 nx rebac private /docs/plan.txt

note "usage errors exit 64 before reaching the daemon"
expect_rc 64 nx rebac create user alice boss file /x
grep -q 'unknown relation' "$TEST_ROOT/err" || fail "unknown relation: $(cat "$TEST_ROOT/err")"
expect_rc 64 nx rebac create user alice viewer file relative/path
expect_rc 64 nx rebac create user alice member file /x
expect_rc 64 nx rebac create robot alice viewer file /x
expect_rc 64 nx rebac create user alice viewer planet /x
expect_rc 64 nx rebac create user alice viewer file /x --ttl soon
expect_rc 64 nx rebac create user alice viewer file /x --ttl 5 --expires-at 2099-01-01T00:00:00Z
expect_rc 64 nx rebac create user alice viewer file /x --expires-at tomorrow
expect_rc 64 nx rebac create user alice viewer file /x --expires-at 2001-01-01T00:00:00Z
expect_rc 64 nx rebac create user alice viewer
expect_rc 64 nx --json rebac check user alice fly file /x
expect_json 'j["error"]["code"]' usage
expect_rc 64 nx rebac list --relation boss
expect_rc 64 nx rebac list --format yaml
expect_rc 64 nx rebac share /docs user carol --role boss
expect_rc 64 nx rebac share /docs user carol
expect_rc 64 nx rebac share /docs user carol --role viewer --ttl 1.5
expect_rc 64 nx audit list --since 3fortnights
expect_rc 64 nx audit list --limit 0
expect_rc 64 nx audit export --format xml
expect_rc 64 nx audit export
expect_rc 64 nx identity bind --uid abc agent:alice
expect_rc 64 nx identity bind --uid 1000 group:eng
expect_rc 64 nx identity bind agent:alice
expect_rc 64 nx mount add "$TEST_ROOT/m"
expect_rc 64 nx mount add "$TEST_ROOT/m" --as 'user:*'
expect_rc 64 nx rebac nonsense

note "identities"
expect_rc 1 nx identity bind --uid 4242 agent:tester
grep -q "agent 'tester' not found (register it first" "$TEST_ROOT/err" || fail "bind of an unknown agent: $(cat "$TEST_ROOT/err")"
expect_rc 0 nx agent register tester Tester
expect_rc 0 nx agent register other Other
expect_rc 0 nx identity bind --uid 4242 agent:tester
expect_rc 0 nx --json identity list
expect_json '[b["subject"] for b in j["bindings"] if b["uid"] == 4242]' "['agent:tester']"
expect_json 'j["admin_subject"] != ""' True
expect_rc 1 nx identity bind --uid 4242 agent:other
expect_rc 0 nx identity unbind --uid 4242
expect_rc 1 nx identity unbind --uid 4242

note "a non-admin (uid $AS_UID) is refused on objects it does not manage"
chgrp "$AS_GID" "$NEXUS_DATA/nexusd.sock"  # the socket is group-accessible
expect_rc 0 as_user --json whoami
who=$(json_get 'j["subject"]')
expect_json 'j["is_admin"]' False
expect_rc 1 as_user rebac create user mallory owner folder /proj
grep -qi 'manage' "$TEST_ROOT/err" || fail "the refusal does not say why: $(cat "$TEST_ROOT/err")"
expect_rc 1 as_user --json rebac create user mallory owner folder /proj
expect_json 'j["error"]["code"]' permissionDenied
expect_rc 0 nx rebac check user mallory manage folder /proj
expect_out denied
expect_rc 1 as_user rebac check user bob write file /proj/x   # not about itself, not its object
expect_rc 0 as_user rebac check "${who%%:*}" "${who#*:}" read file /proj/x   # about itself
expect_rc 1 as_user identity list
expect_rc 1 as_user audit list
expect_rc 1 as_user mount list
# Made an owner of a folder, it may share below it.
expect_rc 0 nx rebac create "${who%%:*}" "${who#*:}" owner folder /team
expect_rc 0 as_user rebac create user carol viewer file /team/doc
expect_rc 0 as_user --json rebac list
expect_json 'sorted(t["object"] for t in j["tuples"])' "['file:/team/doc', 'folder:/team']"

note "the audit log shows the denial and the changes"
expect_rc 0 nx --json audit list --denied --subject "$who"
expect_json 'any(e["operation"] == "tuple.add" and e["decision"] == "deny" and "folder:/proj" in e["object"] for e in j["entries"])' True
expect_rc 0 nx --json audit list --since 1h
expect_json 'any(e["operation"] == "tuple.add" and e["decision"] == "allow" for e in j["entries"])' True
expect_json 'any(e["operation"] == "identity.bind" and e["object"] == "uid:4242" for e in j["entries"])' True
expect_rc 0 nx --json audit list --since 2099-01-01T00:00:00Z
expect_json 'j["count"]' 0
expect_rc 0 nx audit list --denied
grep -q "deny" "$TEST_ROOT/out" || fail "audit list table shows no denial: $(out)"
expect_rc 0 nx audit export --format csv -o "$TEST_ROOT/audit.csv"
[[ $(head -n 1 "$TEST_ROOT/audit.csv") == $'time,subject,operation,object,decision,reason\r' ]] ||
  fail "CSV header row: $(head -n 1 "$TEST_ROOT/audit.csv" | od -c | head -n 3)"
grep -q "$who" "$TEST_ROOT/audit.csv" || fail "the CSV export lacks the denial of $who"
expect_rc 0 nx audit export --format jsonl
python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "empty export"
for l in lines:
    r = json.loads(l)
    assert set(r) >= {"time", "time_ns", "subject", "operation", "object", "decision", "reason"}, r
' "$TEST_ROOT/out" || fail "the JSONL export does not parse: $(head -c 300 "$TEST_ROOT/out")"

note "per-subject mounts"
mkdir -p "$TEST_ROOT/alice-view"
expect_rc 0 nx rebac share /docs agent alice --role viewer
expect_rc 1 nx mount add "$TEST_ROOT/alice-view" --as agent:alice --root /docs
grep -q "not found" "$TEST_ROOT/err" || fail "mount add --as an unknown agent: $(cat "$TEST_ROOT/err")"
expect_rc 0 nx agent register alice Alice
expect_rc 0 nx --json mount add "$TEST_ROOT/alice-view" --as agent:alice --root /docs
expect_json 'j["mount"]["subject"]' agent:alice
expect_rc 0 nx --json mount list
expect_json '[m["mountpoint"] for m in j["mounts"]]' "['$TEST_ROOT/alice-view']"
expect_rc 1 nx mount add "$TEST_ROOT/alice-view" --as agent:alice
expect_rc 0 nx mount remove "$TEST_ROOT/alice-view"
expect_rc 1 nx mount remove "$TEST_ROOT/alice-view"
expect_rc 0 nx --json mount list
expect_json 'len(j["mounts"])' 0

nexus_stop
echo "rebac_cli: all checks passed"
