#!/usr/bin/env bash
# The main mount with ReBAC on lets the kernel cache the names every uid
# sees alike (docs/rebac.md "Names the kernel caches"), and only those: the
# FUSE lookup counts prove which names are cached, and ordinary tools run as
# bound uids, an unbound uid and root prove that a name cached for one uid
# never shows to another that may not see it, and that revokes, expiries,
# bindings and renames hold on the very next call with the caches warm.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
M=$NEXUS_MNT
PORT=$((20000 + RANDOM % 20000))

as() { local uid=$1; shift; setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@"; }
same() { [[ "$2" == "$3" ]] || fail "$1: expected [$2], got [$3]"; }
hidden() { # hidden UID PATH: the uid gets ENOENT for PATH
  local rc=0
  as "$1" stat "$2" >/dev/null 2>"$TEST_ROOT/err" || rc=$?
  ((rc != 0)) || fail "uid $1 resolves $2"
  grep -q "No such file" "$TEST_ROOT/err" || fail "uid $1 on $2: $(cat "$TEST_ROOT/err")"
}
seen() { as "$1" stat "$2" >/dev/null 2>"$TEST_ROOT/err" || fail "uid $1 cannot resolve $2: $(cat "$TEST_ROOT/err")"; }
lookups() {
  curl -fsS "http://127.0.0.1:$PORT/metrics" | awk -F' ' '/^nexus_fuse_requests_total\{op="lookup"\}/ {print $2}'
}
# within WHAT LOW HIGH N: LOW <= N <= HIGH. A count may carry one
# revalidation of the walk's names (an expiry or a registry write that
# revalidates every cached name is legitimate at any time).
within() { (($3 >= $4 && $4 >= $2)) 2>/dev/null || fail "$1: expected $2..$3, got [$4]"; }
# The lookups 20 stats of PATH by uid $1 cost, caches warm.
lookups_of() {
  local uid=$1 path=$2 before after
  as "$uid" stat "$path" >/dev/null
  before=$(lookups)
  for _ in $(seq 20); do as "$uid" stat "$path" >/dev/null; done
  after=$(lookups)
  echo $((after - before))
}

nexus_start --http "127.0.0.1:$PORT"
grep -q "the kernel caches the names every uid sees alike" "$NEXUS_LOG" ||
  fail "the mount does not cache shared names: $(grep -i 'kernel caches' "$NEXUS_LOG")"

mkdir -p "$M/zone/proj/src" "$M/zone/proj/docs" "$M/zone/team/dir" "$M/zone/priv"
echo c >"$M/zone/proj/src/a.c"
echo r >"$M/zone/proj/docs/readme"
echo k >"$M/zone/priv/key"
for f in file file2 file3; do echo "$f" >"$M/zone/team/$f"; done
echo inner >"$M/zone/team/dir/inner"
chmod -R a+rwX "$M/zone"
chmod a+rwx "$M"

expect_rc 0 nx agent register alice Alice
expect_rc 0 nx identity bind --uid 1000 agent:alice
expect_rc 0 nx identity bind --uid 1001 user:bob
expect_rc 0 nx rebac create agent alice editor folder /zone/proj
expect_rc 0 nx rebac create agent alice viewer folder /zone/team
expect_rc 0 nx rebac create user bob viewer folder /zone/proj/docs
expect_rc 0 nx rebac public /zone/team

note "which names are cached: those every view sees alike"
# /zone: every view sees it (user:* through /zone/team). proj: alice and bob
# (passable for bob) see it, user:* does not see /zone/proj: not shared.
# src: bob passes /zone/proj but does not see src: not shared. a.c: only
# alice sees src, and she sees a.c: shared. So 2 lookups per stat.
within "root's lookups for 20 stats of /zone/proj/src/a.c" 40 44 "$(lookups_of 0 "$M/zone/proj/src/a.c")"
# Everything on the way to /zone/team/file is seen by every view: none.
within "root's lookups for 20 stats of /zone/team/file" 0 3 "$(lookups_of 0 "$M/zone/team/file")"
within "uid 1002's lookups for 20 stats of /zone/team/file" 0 3 "$(lookups_of 1002 "$M/zone/team/file")"
# A missing name is missing for everyone: the negative entry is cached.
ls "$M/zone/team/missing" 2>/dev/null && fail "missing exists"
before=$(lookups)
for _ in $(seq 20); do ls "$M/zone/team/missing" 2>/dev/null && fail "missing exists"; done
within "lookups of a cached missing name" 0 3 "$(($(lookups) - before))"
echo now >"$M/zone/team/missing"
same "a created name replaces the negative entry" now "$(as 1002 cat "$M/zone/team/missing")"
rm "$M/zone/team/missing"

note "a name cached for one uid is looked up again for another"
seen 0 "$M/zone/priv/key"
seen 0 "$M/zone/priv/key"
hidden 1000 "$M/zone/priv/key"
hidden 1001 "$M/zone/priv/key"
hidden 1002 "$M/zone/priv/key"
seen 1000 "$M/zone/proj/src/a.c"
hidden 1001 "$M/zone/proj/src/a.c"
hidden 1002 "$M/zone/proj/src/a.c"
hidden 1002 "$M/zone/proj/docs/readme"
seen 1001 "$M/zone/proj/docs/readme"
# A name hidden from bob is not a negative entry for alice.
hidden 1001 "$M/zone/proj/src"
seen 1000 "$M/zone/proj/src"
same "alice lists proj" "docs src" "$(as 1000 ls "$M/zone/proj" | tr '\n' ' ' | sed 's/ $//')"
same "bob lists proj" "docs" "$(as 1001 ls "$M/zone/proj" | tr '\n' ' ' | sed 's/ $//')"
same "uid 1002 lists /zone" "team" "$(as 1002 ls "$M/zone" | tr '\n' ' ' | sed 's/ $//')"
# ls -l fills the kernel's cache through readdirplus with the same rule.
as 1000 ls -lR "$M/zone" >/dev/null
hidden 1001 "$M/zone/proj/src/a.c"
ls -lR "$M/zone" >/dev/null
hidden 1002 "$M/zone/priv/key"
hidden 1001 "$M/zone/proj/src"

note "a revoke holds on the next call, with every name on the way cached"
seen 1002 "$M/zone/team/file"
seen 1001 "$M/zone/team/file"
expect_rc 0 nx rebac private /zone/team
hidden 1002 "$M/zone/team/file"
hidden 1001 "$M/zone/team/file"
seen 1000 "$M/zone/team/file"
expect_rc 0 nx rebac public /zone/team
seen 1002 "$M/zone/team/file"

note "an expiry holds at its instant, with every name on the way cached"
mkdir -p "$M/zone/team/tmp" && echo t >"$M/zone/team/tmp/f" && chmod -R a+rwX "$M/zone/team/tmp"
expect_rc 0 nx rebac private /zone/team
expect_rc 0 nx rebac create user '*' viewer folder /zone/team --ttl 3
seen 1002 "$M/zone/team/tmp/f"
within "uid 1002's lookups for 20 stats of /zone/team/tmp/f" 0 4 "$(lookups_of 1002 "$M/zone/team/tmp/f")"
sleep 3.3
hidden 1002 "$M/zone/team/tmp/f"
hidden 1001 "$M/zone/team/tmp/f"
seen 1000 "$M/zone/team/tmp/f"
expect_rc 0 nx rebac public /zone/team
note "a grant to an unbound uid's own subject makes it a view of its own"
mkdir -p "$M/zone/own" && echo o >"$M/zone/own/f" && chmod -R a+rwX "$M/zone/own"
expect_rc 0 nx rebac share /zone/own/f user uid-1002 --role viewer
seen 1002 "$M/zone/own/f"
hidden 1003 "$M/zone/own/f"
hidden 1001 "$M/zone/own/f"

note "a binding holds on the next call"
seen 1003 "$M/zone/team/file"  # unbound: what is public
expect_rc 0 nx agent register carol Carol
expect_rc 0 nx identity bind --uid 1003 agent:carol
hidden 1003 "$M/zone/team/file"  # an agent is not a user: nothing public for it
expect_rc 0 nx identity unbind --uid 1003
seen 1003 "$M/zone/team/file"

note "a rename moves a cached name where another view may not see it"
seen 1001 "$M/zone/team/file2"
seen 1002 "$M/zone/team/file2"
mv "$M/zone/team/file2" "$M/zone/proj/file2"
hidden 1001 "$M/zone/proj/file2"  # bob passes /zone/proj but sees only docs
seen 1000 "$M/zone/proj/file2"
seen 1001 "$M/zone/team/dir/inner"
mv "$M/zone/team/dir" "$M/zone/proj/dir"
hidden 1001 "$M/zone/proj/dir/inner"
hidden 1001 "$M/zone/proj/dir"
seen 1000 "$M/zone/proj/dir/inner"
# As an editor renames it: alice moves a file out of bob's view.
seen 1001 "$M/zone/proj/docs/readme"
as 1000 mv "$M/zone/proj/docs/readme" "$M/zone/proj/src/readme" || fail "alice cannot rename in proj"
hidden 1001 "$M/zone/proj/src/readme"
hidden 1001 "$M/zone/proj/docs/readme"

note "with --name-cache none every component is a lookup"
nexus_stop
nexus_start --http "127.0.0.1:$PORT" --name-cache none
grep -q "caches no names" "$NEXUS_LOG" || fail "--name-cache none still caches names"
within "root's lookups for 20 stats of /zone/team/file, no names cached" 60 63 "$(lookups_of 0 "$M/zone/team/file")"
hidden 1001 "$M/zone/proj/src/a.c"
expect_rc 64 "$NEXUSD" --data-dir "$TEST_ROOT/x" --mount "$TEST_ROOT/y" --name-cache sometimes
expect_err "not shared or none"
echo "PASS"
