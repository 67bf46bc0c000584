#!/usr/bin/env bash
# Delegation end to end on a real nexusd with ReBAC, through the real CLI
# and a per-subject mount: alice (a bound uid) owns /proj and /other and
# delegates `/proj/*` to her agent helper with `clean` + editor; real cat,
# echo > and ls through a mount acting as agent:helper work under /proj and
# nowhere else (helper's own grant is suspended meanwhile); a revoke holds
# on the very next call; a --ttl 2 delegation ends at its instant; a
# delegation of more than alice holds, or for someone else, is refused; a
# re-delegation chain, its depth bound and the cascade of a revoke show in
# the CLI; denials a delegation decided, creations and revocations are in
# the audit log; bad input fails with exit 1 (64 for usage); everything
# survives a restart; a daemon without ReBAC answers 69.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
M=$NEXUS_MNT

HELPER_UID=$((ALICE_UID + 2))
helper() { as "$HELPER_UID" "$@"; }
same() { [[ "$2" == "$3" ]] || fail "$1: expected [$2], got [$3]"; }
denied() { # denied ERRNO-TEXT CMD...: CMD fails and says so
  local want=$1 rc=0
  shift
  "$@" >"$TEST_ROOT/o" 2>"$TEST_ROOT/e" || rc=$?
  ((rc != 0)) || fail "'$*' succeeded; expected: $want"
  grep -q "$want" "$TEST_ROOT/e" || fail "'$*': expected '$want', got: $(head -c 300 "$TEST_ROOT/e")"
}

nexus_start

note "--help of every command, usage errors"
for cmd in "delegation create" "delegation list" "delegation show" "delegation chain" "delegation revoke"; do
  # shellcheck disable=SC2086
  expect_rc 0 nx $cmd --help
  grep -q "^Usage: nexus $cmd" "$TEST_ROOT/out" || fail "nexus $cmd --help: $(head -n 2 "$TEST_ROOT/out")"
done
expect_rc 0 nx delegation --help
grep -q "Commands of 'delegation'" "$TEST_ROOT/out" || fail "nexus delegation --help lists no commands"
expect_rc 64 nx delegation create user:alice helper
expect_rc 64 nx delegation create user:alice --scope '/proj/*'
expect_rc 64 nx delegation create user:alice helper --scope '/proj/*' --ttl soon
expect_rc 64 nx delegation create user:alice helper --scope '/proj/*' --max-depth 1.5

note "the tree: alice owns /proj and /other; helper has a grant of its own"
mkdir -p "$M/proj/src" "$M/other" "$M/helper-own"
echo plan >"$M/proj/plan.txt"
echo 'int main(void) { return 0; }' >"$M/proj/src/main.c"
echo secret >"$M/other/secret.txt"
echo mine >"$M/helper-own/notes.txt"
echo top >"$M/top.txt"
chmod -R a+rwX "$M/proj" "$M/other" "$M/helper-own" "$M/top.txt"
chmod a+rwx "$M"
expect_rc 0 nx identity bind --uid "$ALICE_UID" user:alice
expect_rc 0 nx identity bind --uid "$BOB_UID" user:bob
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"
expect_rc 0 nx rebac create user alice owner folder /proj
expect_rc 0 nx rebac create user alice owner folder /other
expect_rc 0 nx rebac create agent helper viewer folder /helper-own
expect_rc 0 alice agent register helper "Helper"
expect_rc 0 alice agent register helper2 "Helper two"
expect_rc 0 alice agent register helper3 "Helper three"
expect_rc 0 nx identity bind --uid "$HELPER_UID" agent:helper

H=$TEST_ROOT/helper-mnt
mkdir -p "$H"
expect_rc 0 nx mount add "$H" --as agent:helper
same "helper's own view before any delegation" $'agents\nhelper-own' "$(ls "$H")"

note "clean + editor on /proj/*: edit there, nothing elsewhere"
expect_rc 0 alice --json delegation create user:alice agent:helper --scope '/proj/*' --mode clean --relation editor
D1=$(json_get 'j["id"]')
expect_json 'j["from"], j["to"], j["mode"], j["relation"], j["state"], j["parent"], j["expires_at"]' \
  "('user:alice', 'agent:helper', 'clean', 'editor', 'active', None, None)"
[[ $D1 == dlg-* ]] || fail "delegation id: $D1"
same "helper sees only the scope root" "proj" "$(ls "$H")"
same "helper lists /proj" "plan.txt src" "$(ls "$H/proj" | tr '\n' ' ' | sed 's/ $//')"
same "helper reads" "plan" "$(cat "$H/proj/plan.txt")"
echo "from the helper" >"$H/proj/new.txt" || fail "helper cannot create in /proj"
echo "more" >>"$H/proj/plan.txt" || fail "helper cannot append in /proj"
same "seen on the main mount" "from the helper" "$(cat "$M/proj/new.txt")"
mkdir "$H/proj/src/lib" || fail "helper cannot mkdir in /proj/src"
rm "$H/proj/new.txt" || fail "helper cannot remove in /proj"
denied "No such file" cat "$H/other/secret.txt"
denied "No such file" ls "$H/other"
denied "nonexistent\|No such file" sh -c "echo x > $H/other/x.txt"
denied "Permission denied" sh -c "echo x > $H/top.txt"
denied "No such file" cat "$H/top.txt"
denied "No such file" cat "$H/helper-own/notes.txt"  # its own grant is suspended
[[ ! -e "$M/other/x.txt" && $(cat "$M/top.txt") == top ]] || fail "a refused write left a trace"
# The main mount applies it to the uid bound to agent:helper ...
on_main() { setpriv --reuid "$HELPER_UID" --regid "$USERS_GID" --clear-groups "$@"; }
same "the bound uid reads on the main mount" "plan" "$(on_main head -n 1 "$M/proj/plan.txt")"
same "the bound uid's view of the main mount" "proj" "$(on_main ls "$M")"
denied "No such file" on_main cat "$M/other/secret.txt"
denied "No such file" on_main cat "$M/helper-own/notes.txt"
# ... and so does the socket.
expect_rc 0 helper cat /proj/plan.txt
expect_rc 1 helper cat /other/secret.txt
expect_rc 1 helper cat /helper-own/notes.txt

note "the audit log names the delegation that refused"
expect_rc 0 nx --json audit list --subject agent:helper --denied
python3 - "$TEST_ROOT/out" "$D1" <<'PY' || fail "audit lacks the delegation's denials: $(head -c 800 "$TEST_ROOT/out")"
import json, sys
j = json.load(open(sys.argv[1]))
hits = [e for e in j["entries"] if e["operation"] == "delegation.deny" and sys.argv[2] in e["reason"]]
assert any(e["object"].startswith("/other") for e in hits), j["entries"]
PY
expect_rc 0 nx --json audit list --subject user:alice
python3 - "$TEST_ROOT/out" "$D1" <<'PY' || fail "audit lacks the creation: $(head -c 800 "$TEST_ROOT/out")"
import json, sys
j = json.load(open(sys.argv[1]))
assert any(e["operation"] == "delegation.create" and e["object"] == sys.argv[2] for e in j["entries"]), j
PY

note "list and show"
expect_rc 0 alice --json delegation list --to helper
expect_json '[d["id"] for d in j["delegations"]]' "['$D1']"
expect_rc 0 alice delegation show "$D1"
grep -q "clean editor" "$TEST_ROOT/out" || fail "show: $(out)"
expect_rc 0 helper delegation show "$D1"   # the delegate may read it
expect_rc 1 bob delegation show "$D1"      # others do not learn it exists
expect_err "not found"
expect_rc 0 bob --json delegation list
expect_json 'j["delegations"]' "[]"

note "revoke: the next call is refused"
for _ in 1 2; do cat "$H/proj/plan.txt" >/dev/null; done
expect_rc 1 helper delegation revoke "$D1"  # the delegate may not
expect_err "may not revoke"
expect_rc 0 alice delegation revoke "$D1"
grep -q "revoked $D1" "$TEST_ROOT/out" || fail "revoke printed: $(out)"
denied "No such file" cat "$H/proj/plan.txt"
denied "No such file" ls "$H/proj"
same "helper's own view is back" $'agents\nhelper-own' "$(ls "$H")"
same "its own grant is back" "mine" "$(cat "$H/helper-own/notes.txt")"
expect_rc 0 alice --json delegation show "$D1"
expect_json 'j["state"], j["revoked_by"]' "('revoked', 'user:alice')"
expect_rc 1 alice delegation revoke "$D1"  # already revoked

note "a --ttl 6 delegation ends at its instant"
t0=$(date +%s%N)
expect_rc 0 alice --json delegation create user:alice helper --scope '/proj/*' --ttl 6
D2=$(json_get 'j["id"]')
expect_json 'j["relation"], j["expires_at"] is not None' "('viewer', True)"
same "helper reads during the delegation" "plan" "$(head -n 1 "$H/proj/plan.txt")"
denied "Permission denied" sh -c "echo x >> $H/proj/plan.txt"  # viewer: no writes
t1=$(date +%s%N)
((t1 - t0 < 6000000000)) || fail "the checks within the delegation's 6 s took $(((t1 - t0) / 1000000)) ms"
sleep "$(python3 -c "print(max(0.0, 6.3 - ($t1 - $t0) / 1e9))")"
denied "No such file" cat "$H/proj/plan.txt"
expect_rc 0 alice --json delegation show "$D2"
expect_json 'j["state"]' expired

note "attenuation: never more than FROM holds; only FROM's side may delegate"
expect_rc 1 alice delegation create user:alice helper --scope '/helper-own/*'
expect_err "cannot delegate more than is held"
expect_rc 1 alice --json delegation create user:alice helper --scope '/*'
expect_json 'j["error"]["code"]' permissionDenied
expect_rc 1 bob delegation create user:alice helper --scope '/proj/*'
expect_err "may not delegate for user:alice"
expect_rc 0 nx rebac create user bob viewer folder /other
expect_rc 1 bob delegation create user:bob helper --scope '/other/*' --relation editor
expect_err "does not hold write"

note "chains: re-delegation, its depth bound, the cascade of a revoke"
expect_rc 0 alice --json delegation create user:alice helper --scope '/proj/*' --mode shared --max-depth 1
D3=$(json_get 'j["id"]')
expect_rc 0 helper --json delegation create helper helper2 --scope '/proj/src/*' --mode clean --relation editor
D4=$(json_get 'j["id"]')
expect_json 'j["parent"], j["depth"], j["max_depth"]' "('$D3', 1, 0)"
expect_rc 1 nx delegation create helper2 helper3 --scope '/proj/src/*'  # beyond the depth
expect_err "may not be delegated further"
expect_rc 0 alice delegation chain "$D4"
grep -q "^$D3 .*user:alice" "$TEST_ROOT/out" || fail "chain lacks the first: $(out)"
grep -q "^  $D4 .*agent:helper2" "$TEST_ROOT/out" || fail "chain lacks the second, indented: $(out)"
expect_rc 0 alice --json delegation chain "$D3"
expect_json '[(d["id"], d["depth"]) for d in j["delegations"]]' "[('$D3', 0), ('$D4', 1)]"
H2=$TEST_ROOT/helper2-mnt
mkdir -p "$H2"
expect_rc 0 nx mount add "$H2" --as agent:helper2
same "helper2 reads through the chain" "int main(void) { return 0; }" "$(cat "$H2/proj/src/main.c")"
echo "// helper2" >>"$H2/proj/src/main.c" || fail "helper2 cannot edit in /proj/src"
denied "No such file" cat "$H2/proj/plan.txt"
expect_rc 0 alice --json delegation revoke "$D3"
expect_json 'j["revoked"]' "['$D3', '$D4']"
denied "No such file" cat "$H2/proj/src/main.c"
expect_rc 0 alice --json delegation show "$D4"
expect_json 'j["state"]' revoked

note "bad input"
expect_rc 1 nx delegation show dlg-000000000000
expect_err "not found"
expect_rc 1 nx --json delegation revoke nope
expect_json 'j["error"]["code"]' notFound
expect_rc 1 alice delegation create user:alice helper --scope 'proj/*'
expect_err "not absolute"
expect_rc 1 alice delegation create user:alice helper --scope '/proj/*' --mode borrow
expect_err "unknown delegation mode"
expect_rc 1 alice delegation create user:alice helper --scope '/proj/*' --relation owner
expect_rc 1 alice delegation create user:alice user:alice --scope '/proj/*'
expect_err "two subjects"
expect_rc 1 alice --json delegation create user:alice helper --scope '/proj/*' --ttl 0
expect_json 'j["error"]["code"]' invalidArgument
expect_rc 1 alice delegation create user:alice group:ops --scope '/proj/*'

note "delegations survive a restart"
expect_rc 0 alice --json delegation create user:alice helper --scope '/proj/*' --mode clean --relation editor
D5=$(json_get 'j["id"]')
expect_rc 0 nx mount remove "$H"
expect_rc 0 nx mount remove "$H2"
nexus_stop
nexus_start
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"
[[ $(stat -c %a "$NEXUS_DATA/delegations.db") == 600 ]] || fail "delegations.db is not 0600"
expect_rc 0 helper cat /proj/plan.txt
expect_rc 1 helper cat /helper-own/notes.txt
expect_rc 0 nx --json delegation list
expect_json '[d["state"] for d in j["delegations"]]' "['revoked', 'expired', 'revoked', 'revoked', 'active']"
expect_rc 0 alice delegation revoke "$D5"
expect_rc 1 helper cat /proj/plan.txt

note "a daemon without ReBAC: unavailable (69)"
nexus_stop
nexus_start --profile lite
expect_rc 69 nx delegation list
expect_err "unavailable: delegation"
nexus_stop
echo "PASS"
