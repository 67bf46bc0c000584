#!/usr/bin/env bash
# ReBAC enforced on real mounts, driven with ordinary tools (ls, cat, echo >,
# mv, rm, find, stat) as two bound uids, an unbound uid and through a
# per-subject mount: access is exactly what the tuples grant, no hidden
# name ever appears, revocation and expiry hold on the very next call even
# with the kernel's caches warm, other subjects' lookups never poison root's
# view, and denials reach the audit log.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
M=$NEXUS_MNT

as() { local uid=$1; shift; setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@"; }
# The sorted paths uid $1 finds under $2, relative to the mount.
# What uid $1 finds under $2, agents' homes left out (checked on their own).
finds() { as "$1" find "$2" 2>/dev/null | sed "s|^$M||" | grep -v '^/agents\(/\|$\)' | sort; }
lines() { printf '%s\n' "$@" | sort; }
same() { # same WHAT EXPECTED ACTUAL
  [[ "$2" == "$3" ]] || fail "$1: expected [$2], got [$3]"
}
denied() { # denied ERRNO-TEXT CMD...: CMD fails and says so
  local want=$1 rc=0
  shift
  "$@" >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" || rc=$?
  ((rc != 0)) || fail "'$*' succeeded; expected: $want"
  grep -q "$want" "$TEST_ROOT/err" || fail "'$*': expected '$want', got: $(head -c 300 "$TEST_ROOT/err")"
}

nexus_start
expect_rc 0 nx --json features
[[ $(json_get '[f["state"] for f in j["features"] if f["name"]=="rebac"][0]') == enabled ]] ||
  fail "rebac is not enabled by default: $(cat "$TEST_ROOT/out")"

# The tree, made by root (the admin). POSIX bits are wide open: ReBAC decides.
mkdir -p "$M/zone/eng/docs" "$M/zone/eng/src" "$M/zone/ops"
echo design >"$M/zone/eng/docs/design.md"
echo plan >"$M/zone/eng/docs/secret-plan.md"
echo 'int main(void) { return 0; }' >"$M/zone/eng/src/main.c"
echo pager >"$M/zone/ops/oncall.txt"
echo top >"$M/top.txt"
chmod -R a+rwX "$M/zone" "$M/top.txt"
chmod a+rwx "$M"

note "an unbound uid sees the mount's root and nothing in it"
same "uid 1002 lists /" "" "$(as 1002 ls -A "$M")"
denied "No such file" as 1002 cat "$M/zone/eng/docs/design.md"
denied "No such file" as 1002 stat "$M/zone"
denied "Permission denied" as 1002 sh -c "echo x > $M/new.txt"
[[ ! -e "$M/new.txt" ]] || fail "a denied create left a file"

note "uids bound to subjects"
expect_rc 0 nx agent register alice Alice
expect_rc 0 nx identity bind --uid 1000 agent:alice
expect_rc 0 nx identity bind --uid 1001 user:bob
expect_rc 0 nx --json identity list
[[ $(json_get 'sorted((b["uid"], b["subject"]) for b in j["bindings"])') == "[(1000, 'agent:alice'), (1001, 'user:bob')]" ]] ||
  fail "identity list: $(cat "$TEST_ROOT/out")"

note "a shared file: its folders are passable, nothing else appears"
expect_rc 0 nx rebac share /zone/eng/docs/design.md agent alice --role viewer
same "alice's find" "$(lines "" /zone /zone/eng /zone/eng/docs /zone/eng/docs/design.md)" "$(finds 1000 "$M")"
same "alice's agents" "alice" "$(as 1000 ls "$M/agents")"  # her home, no one else's
same "alice's ls of docs" "design.md" "$(as 1000 ls "$M/zone/eng/docs")"
same "alice reads it" "design" "$(as 1000 cat "$M/zone/eng/docs/design.md")"
denied "No such file" as 1000 cat "$M/zone/eng/docs/secret-plan.md"
denied "No such file" as 1000 ls "$M/zone/eng/src"
denied "Permission denied" as 1000 sh -c "echo more >> $M/zone/eng/docs/design.md"
denied "Permission denied" as 1000 sh -c "echo x > $M/zone/eng/docs/new.md"
denied "Permission denied" as 1000 rm -f "$M/zone/eng/docs/design.md"
same "root still sees everything" "design.md secret-plan.md" "$(ls "$M/zone/eng/docs" | tr '\n' ' ' | sed 's/ $//')"
# No hidden name anywhere in alice's view of the tree.
as 1000 ls -laR "$M" >"$TEST_ROOT/alice-ls" 2>&1 || true
for hidden in secret-plan src ops oncall top.txt main.c; do
  ! grep -q "$hidden" "$TEST_ROOT/alice-ls" || fail "alice's ls -laR shows '$hidden'"
done

note "an editor of a folder: echo, mv and rm inside it, nothing outside"
expect_rc 0 nx rebac create user bob editor folder /zone/eng/src
as 1001 sh -c "echo 'int x;' > $M/zone/eng/src/x.c" || fail "bob cannot create in src"
as 1001 mv "$M/zone/eng/src/x.c" "$M/zone/eng/src/y.c" || fail "bob cannot rename in src"
same "bob's file" "int x;" "$(cat "$M/zone/eng/src/y.c")"
denied "No such file\|Permission denied" as 1001 mv "$M/zone/eng/src/y.c" "$M/zone/eng/docs/y.c"
denied "Permission denied" as 1001 mv "$M/zone/eng/src/y.c" "$M/zone/eng/y.c"
[[ -f "$M/zone/eng/src/y.c" && ! -e "$M/zone/eng/y.c" ]] || fail "a denied mv moved the file"
as 1001 rm "$M/zone/eng/src/y.c" || fail "bob cannot remove in src"
denied "Permission denied" as 1001 rmdir "$M/zone/eng/src"  # needs write on /zone/eng
denied "No such file" as 1001 rm "$M/zone/eng/docs/design.md"
denied "No such file" as 1001 rm "$M/top.txt"
[[ -d "$M/zone/eng/src" && -f "$M/zone/eng/docs/design.md" && -f "$M/top.txt" ]] ||
  fail "bob removed what he may not"
same "bob sees src only" "src" "$(as 1001 ls "$M/zone/eng")"
denied "Operation not permitted" as 1001 chmod 600 "$M/zone/eng/src/main.c"  # root's file: POSIX says no first
as 1001 touch "$M/zone/eng/src/main.c" || fail "bob (editor) cannot touch"

note "a revoke holds on the next call, with the kernel's caches warm"
for _ in 1 2; do
  cat "$M/zone/eng/docs/design.md" >/dev/null
  as 1000 cat "$M/zone/eng/docs/design.md" >/dev/null || fail "alice lost access too early"
  as 1000 stat "$M/zone/eng/docs/design.md" >/dev/null
done
expect_rc 0 nx rebac unshare /zone/eng/docs/design.md agent alice
denied "No such file" as 1000 cat "$M/zone/eng/docs/design.md"
denied "No such file" as 1000 stat "$M/zone/eng/docs/design.md"
denied "No such file" as 1000 ls "$M/zone"
same "alice's find after the revoke" "" "$(finds 1000 "$M")"
same "root unaffected by alice's misses" "design" "$(cat "$M/zone/eng/docs/design.md")"
stat "$M/zone/eng/docs/design.md" >/dev/null || fail "root lost the entry"

note "a time-bound grant ends at its instant"
expect_rc 0 nx rebac share /zone/ops/oncall.txt agent alice --role viewer --ttl 2
same "alice reads during the grant" "pager" "$(as 1000 cat "$M/zone/ops/oncall.txt")"
sleep 2.2
denied "No such file" as 1000 cat "$M/zone/ops/oncall.txt"
denied "No such file" as 1000 ls "$M/zone/ops"

note "nested groups grant, and leaving one takes it away"
expect_rc 0 nx rebac create agent alice member group oncall
expect_rc 0 nx rebac create group oncall member group responders
expect_rc 0 nx rebac create group responders viewer folder /zone/ops
same "alice through two groups" "pager" "$(as 1000 cat "$M/zone/ops/oncall.txt")"
expect_rc 0 nx rebac delete agent alice member group oncall
denied "No such file" as 1000 cat "$M/zone/ops/oncall.txt"

note "public paths: every user, not agents"
expect_rc 0 nx rebac public /top.txt
same "an unbound user reads a public file" "top" "$(as 1002 cat "$M/top.txt")"
denied "No such file" as 1000 cat "$M/top.txt"
expect_rc 0 nx rebac private /top.txt
denied "No such file" as 1002 cat "$M/top.txt"

note "the socket enforces the same rules for a bound uid"
chgrp 1000 "$NEXUS_DATA/nexusd.sock"
alice_nx() { as 1000 env NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home1000" "$NEXUS_CLI" "$@"; }
expect_rc 0 nx rebac share /zone/eng/docs/design.md agent alice --role viewer
expect_rc 0 alice_nx whoami
grep -q "agent:alice" "$TEST_ROOT/out" || fail "uid 1000 is not agent:alice on the socket: $(cat "$TEST_ROOT/out")"
expect_rc 0 alice_nx cat /zone/eng/docs/design.md
expect_rc 1 alice_nx cat /zone/eng/docs/secret-plan.md
expect_rc 0 alice_nx ls /zone/eng
same "alice's socket listing" "docs/" "$(cat "$TEST_ROOT/out")"
expect_rc 1 alice_nx ls /zone/ops
expect_rc 1 alice_nx write /zone/eng/docs/x.md hello
expect_rc 0 alice_nx versions history /zone/eng/docs/design.md
expect_rc 1 alice_nx versions history /zone/eng/docs/secret-plan.md
for ((i = 0; i < 100; i++)); do  # the index catches up within moments
  alice_nx grep design / >"$TEST_ROOT/out" 2>&1 && grep -q "design.md" "$TEST_ROOT/out" && break
  sleep 0.1
done
grep -q "design.md" "$TEST_ROOT/out" || fail "alice's grep misses the file shared with her: $(cat "$TEST_ROOT/out")"
grep -q "plan" <(grep plan -r "$M/zone/eng/docs") || fail "root's grep misses secret-plan.md"
expect_rc 0 alice_nx grep plan /
! grep -q "secret-plan" "$TEST_ROOT/out" || fail "alice's grep shows a file hidden from her"

note "denials are audited"
expect_rc 0 nx --json audit list --subject agent:alice --denied
python3 - "$TEST_ROOT/out" <<'PY' || fail "audit list lacks alice's denials: $(head -c 800 "$TEST_ROOT/out")"
import json, sys
j = json.load(open(sys.argv[1]))
ops = {(e["operation"], e["object"]) for e in j["entries"]}
assert all(e["decision"] == "deny" for e in j["entries"])
assert any(o == "/zone/eng/docs/secret-plan.md" for _, o in ops), ops
assert any(op == "open" or op == "lookup" for op, _ in ops), ops
PY

note "a per-subject mount: one subject, one subtree, coherent with the main mount"
A=$TEST_ROOT/alice-mnt
mkdir -p "$A"
expect_rc 0 nx rebac create agent alice editor folder /zone/eng/docs
expect_rc 1 nx mount add "$A" --as agent:alice --root /zone/ops
grep -qi "cannot see" "$TEST_ROOT/err" || fail "mount add of an invisible root: $(cat "$TEST_ROOT/err")"
# --cache-names: names cached by the kernel, revalidated by epoch on every
# tuple write and expiry (this kernel must support it for the checks below).
expect_rc 0 nx mount add "$A" --as agent:alice --root /zone/eng --cache-names
grep -q "(names cached)" "$TEST_ROOT/out" || fail "mount add --cache-names: $(cat "$TEST_ROOT/out")"
mountpoint -q "$A" || fail "the per-subject mount is not mounted"
expect_rc 0 nx --json mount list
[[ $(json_get '[(m["subject"], m["root"], m["cache_names"]) for m in j["mounts"]]') == "[('agent:alice', '/zone/eng', True)]" ]] ||
  fail "mount list: $(cat "$TEST_ROOT/out")"
# Root in a sandbox bind-mounting it is still alice.
same "the subtree as alice" "$(lines "" /docs /docs/design.md /docs/secret-plan.md)" "$(find "$A" | sed "s|^$A||" | sort)"
echo "from the sandbox" >"$A/docs/new.md" || fail "alice (editor) cannot write in docs"
same "seen on the main mount" "from the sandbox" "$(cat "$M/zone/eng/docs/new.md")"
denied "Permission denied" sh -c "echo x > $A/outside.md"
denied "No such file" ls "$A/src"
# Changes through another mount reach this mount's kernel caches within
# milliseconds (the change bus invalidates them off the FUSE path).
eventually() { # eventually WHAT CMD...: CMD succeeds within 2 s
  local what=$1 i
  shift
  for ((i = 0; i < 200; i++)); do "$@" && return 0; sleep 0.01; done
  fail "$what"
}
stat "$A/docs/new.md" >/dev/null  # cached in this mount's kernel
mv "$M/zone/eng/docs/new.md" "$M/zone/eng/docs/renamed.md"
eventually "a rename on the main mount is not seen in the per-subject mount" \
  test ! -e "$A/docs/new.md" -a -f "$A/docs/renamed.md"
echo "appended on the host" >>"$M/zone/eng/docs/renamed.md"
eventually "an append on the main mount is not seen in the per-subject mount" \
  grep -q "appended on the host" "$A/docs/renamed.md"
rm "$M/zone/eng/docs/renamed.md"
eventually "a removal on the main mount is not seen in the per-subject mount" \
  test ! -e "$A/docs/renamed.md"
cat "$A/docs/design.md" >/dev/null || fail "alice cannot read design.md in her mount"
stat "$A/docs/secret-plan.md" >/dev/null || fail "alice cannot stat secret-plan.md in her mount"
expect_rc 0 nx rebac delete agent alice editor folder /zone/eng/docs
denied "No such file" stat "$A/docs/secret-plan.md"  # its name was cached by the kernel
denied "No such file" cat "$A/docs/secret-plan.md"
same "alice's mount after the revoke" "$(lines "" /docs /docs/design.md)" "$(find "$A" | sed "s|^$A||" | sort)"
# A grant that expires: names this mount's kernel cached stop resolving at
# the instant (within milliseconds), with no tuple write to announce it.
expect_rc 0 nx rebac share /zone/eng/src agent alice --role viewer --ttl 2
stat "$A/src/main.c" >/dev/null || fail "alice cannot stat src/main.c during the grant"
sleep 2.3
denied "No such file" stat "$A/src/main.c"
expect_rc 0 nx mount remove "$A"
! mountpoint -q "$A" || fail "mount remove left it mounted"
expect_rc 1 nx mount remove "$A"

note "a default per-subject mount caches no names: nested mounts survive access changes"
B=$TEST_ROOT/bob-mnt
mkdir -p "$B" "$TEST_ROOT/bind-src"
touch "$TEST_ROOT/bind-src/MARK"
expect_rc 0 nx mount add "$B" --as user:bob --root /zone/eng/src
grep -q "(names cached)" "$TEST_ROOT/out" && fail "a default mount caches names"
mkdir "$M/zone/eng/src/cache"
mount --bind "$TEST_ROOT/bind-src" "$B/cache" || fail "bind mount inside the per-subject mount"
[[ -f "$B/cache/MARK" ]] || { ls -la "$B" "$B/cache" "$TEST_ROOT/bind-src" >&2; grep "$B" /proc/mounts >&2; fail "the bind mount is not visible"; }
expect_rc 0 nx rebac create user bob viewer file /zone/eng/docs/design.md
[[ -f "$B/cache/MARK" ]] || fail "a tuple write detached a mount inside the per-subject mount"
expect_rc 0 nx rebac delete user bob editor folder /zone/eng/src
denied "No such file" ls "$B/cache"   # bob lost src: the name is gone for him
umount -l "$B/cache" 2>/dev/null || true
expect_rc 0 nx mount remove "$B"

note "restart: tuples and bindings persist"
nexus_stop
nexus_start
same "alice after a restart" "design" "$(as 1000 cat "$M/zone/eng/docs/design.md")"
denied "No such file" as 1000 cat "$M/zone/eng/docs/secret-plan.md"
same "bob after a restart" "docs" "$(as 1001 ls "$M/zone/eng")"
denied "No such file" as 1001 ls "$M/zone/eng/src"
nexus_stop
echo PASS
