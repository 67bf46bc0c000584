#!/usr/bin/env bash
# nexus undo on a real mount: an agent (a uid bound to agent:bot, its
# processes labelled NEXUS_AGENT_ID=bot) runs a shell session — sed -i, mv,
# rm, mkdir, git init + commit in a new folder — while a human edits files;
# `undo --agent bot --dry-run` plans without changing anything, someone who
# is neither the agent's subject, its owner nor an admin is refused, and
# the undo brings the tree back to what it was (diff -r against a copy)
# except the file the human changed after the agent (a conflict, kept).
# The undo is itself logged with command "undo" and can be undone.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
M=$NEXUS_MNT
P=$M/zone/eng/proj

as_sh() { local uid=$1; shift; setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@"; }
as_nx() {
  local uid=$1
  shift
  as_sh "$uid" env NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home$uid" "$NEXUS_CLI" "$@"
}

nexus_start
mkdir -p "$P"
chmod -R a+rwX "$M/zone"
expect_rc 0 nx agent register bot Bot
expect_rc 0 nx identity bind --uid 1001 agent:bot
expect_rc 0 nx rebac create agent bot editor folder /zone/eng
expect_rc 0 nx rebac create user uid-1002 editor folder /zone/eng

note "the tree before the agent"
printf 'one\ntwo\n' >"$P/b.txt"
echo old >"$P/old.txt"
echo doomed >"$P/doomed.txt"
echo shared >"$P/h.txt"
chmod 666 "$P/h.txt" "$P/b.txt"
chmod 777 "$P"
newest_version /zone/eng/proj/h.txt $'shared\n' subject >/dev/null
newest_version /zone/eng/proj/doomed.txt $'doomed\n' subject >/dev/null
cp -a "$P" "$TEST_ROOT/before"

note "the agent's session, a human editing meanwhile"
as_sh 1001 env NEXUS_AGENT_ID=bot HOME="$TEST_ROOT" bash -euc "
  cd '$P'
  sed -i s/one/uno/ b.txt
  mv old.txt new.txt
  rm doomed.txt
  mkdir sub
  echo x > sub/x.txt
  cd sub
  git init -q .
  git add x.txt
  git -c user.name=bot -c user.email=bot@example.com commit -qm init
  cd ..
  echo agent >> h.txt
" || fail "the agent's session failed"
as_sh 1002 bash -c "echo human > '$P/h.txt'; echo mine > '$P/mine.txt'" || fail "the human cannot write"
newest_version /zone/eng/proj/h.txt $'human\n' subject >/dev/null
newest_version /zone/eng/proj/mine.txt $'mine\n' subject >/dev/null

note "the plan changes nothing"
expect_rc 1 nx --json undo --agent bot --dry-run
expect_json "j['dry_run']" True
expect_json "j['conflicts']" 1
expect_json "[s['path'] for s in j['steps'] if s['status'] == 'conflict']" "['/zone/eng/proj/h.txt']"
expect_json "len([s for s in j['steps'] if s['action'] == 'rmdir' and s['path'] == '/zone/eng/proj/sub'])" 1
[[ -d "$P/sub/.git" && -f "$P/new.txt" && ! -e "$P/doomed.txt" ]] || fail "the dry run changed the tree"

note "someone else may not undo the agent's work"
expect_rc 1 as_nx 1002 undo --agent bot
expect_err "may undo none"
[[ -f "$P/new.txt" ]] || fail "a refused undo changed the tree"

note "the admin undoes it: the tree is back, the human's edit kept"
expect_rc 1 nx --json undo --agent bot
expect_json "j['dry_run']" False
expect_json "j['conflicts']" 1
expect_json "j['failed']" 0
[[ $(cat "$P/h.txt") == human ]] || fail "the human's later edit was not kept: $(cat "$P/h.txt")"
diff -r --exclude=h.txt --exclude=mine.txt "$TEST_ROOT/before" "$P" >"$TEST_ROOT/diff" ||
  fail "the tree differs from before the agent: $(head -c 600 "$TEST_ROOT/diff")"
[[ $(cat "$P/mine.txt") == mine ]] || fail "the human's new file is gone"

note "the undo is logged as command undo, and can be undone"
newest_version /zone/eng/proj/b.txt $'one\ntwo\n' command >/dev/null
expect_rc 0 nx --json ops log --subject user:admin --since 10m
ids=$(json_get "' '.join(str(o['id']) for o in j['operations'] if o['command'] == 'undo')")
[[ -n $ids ]] || fail "no operation with command undo in the log: $(head -c 600 "$TEST_ROOT/out")"
# shellcheck disable=SC2086
expect_rc 0 nx --json undo $ids
expect_json "j['conflicts'] + j['failed']" 0
[[ $(cat "$P/b.txt") == $'uno\ntwo' ]] || fail "b.txt is not the agent's again: $(cat "$P/b.txt")"
[[ -f "$P/new.txt" && ! -e "$P/old.txt" && ! -e "$P/doomed.txt" && -f "$P/sub/x.txt" ]] ||
  fail "the agent's changes are not back"

nexus_stop
echo "PASS undo"
