#!/usr/bin/env bash
# The parallel-agents story on a real daemon: three agents each get a fork
# of one source tree (`fork create --for agent:ID`) and edit it through
# their own per-subject mount rooted at that fork; the first two merges
# combine in the base; the third conflicts with the first and is reported
# with the exact file and hunks, nothing written for it while its other
# change lands; every `merge --dry-run` predicts exactly what the merge
# then does; each merge is logged as its agent and undoable by its task id.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
M=$NEXUS_MNT
same() { [[ "$2" == "$3" ]] || fail "$1: expected [$2], got [$3]"; }
# The dry run's report must be the real merge's, but for dry_run/applied.
predicted() {
  python3 - "$1" "$2" <<'EOF' || fail "the dry run did not predict the merge: $(cat "$1") vs $(cat "$2")"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for k in ("entries", "conflicts", "task_id"):
    assert a[k] == b[k], (k, a[k], b[k])
EOF
}

nexus_start
mkdir -p "$M/src/lib"
seq 1 40 | sed 's/^/a line /' >"$M/src/a.txt"
seq 1 10 | sed 's/^/b line /' >"$M/src/b.txt"
seq 1 10 | sed 's/^/c line /' >"$M/src/lib/c.txt"
chmod -R a+rwX "$M/src"

note "three agents, three forks, three per-subject mounts"
for n in 1 2 3; do
  expect_rc 0 nx agent register "a$n" "Agent $n"
  expect_rc 0 nx --json fork create "f$n" --from /src --for "agent:a$n"
  expect_json 'j["owner"]' "agent:a$n"
  mkdir -p "$TEST_ROOT/v$n"
  expect_rc 0 nx mount add "$TEST_ROOT/v$n" --as "agent:a$n" --root "/forks/f$n"
done
V1=$TEST_ROOT/v1 V2=$TEST_ROOT/v2 V3=$TEST_ROOT/v3
same "agent 1's view" "a.txt b.txt lib" "$(ls "$V1" | tr '\n' ' ' | sed 's/ $//')"

note "each agent edits its own fork"
sed -i 's/^a line 5$/a line 5 by agent 1/' "$V1/a.txt"
echo "new from agent 1" >"$V1/lib/new1.txt"
sed -i 's/^a line 30$/a line 30 by agent 2/' "$V2/a.txt"
sed -i 's/^b line 2$/b line 2 by agent 2/' "$V2/b.txt"
sed -i 's/^a line 5$/a line 5 by agent 3/' "$V3/a.txt"
sed -i 's/^c line 9$/c line 9 by agent 3/' "$V3/lib/c.txt"
same "the base is untouched" "a line 5" "$(sed -n 5p "$M/src/a.txt")"
same "agent 2 does not see agent 1's change" "a line 5" "$(sed -n 5p "$V2/a.txt")"
for n in 1 2 3; do expect_rc 0 nx mount remove "$TEST_ROOT/v$n"; done

note "agent 1's fork merges cleanly"
expect_rc 0 nx --json fork merge f1 --dry-run
cp "$TEST_ROOT/out" "$TEST_ROOT/dry1"
expect_rc 0 nx --json fork merge f1
predicted "$TEST_ROOT/dry1" "$TEST_ROOT/out"
expect_json 'sorted((e["path"], e["how"]) for e in j["entries"])' "[('a.txt', 'fork'), ('lib/new1.txt', 'fork')]"
T1=$(json_get 'j["task_id"]')

note "agent 2's fork merges cleanly, combined line by line with agent 1's"
expect_rc 0 nx --json fork merge f2 --dry-run
cp "$TEST_ROOT/out" "$TEST_ROOT/dry2"
expect_rc 0 nx --json fork merge f2
predicted "$TEST_ROOT/dry2" "$TEST_ROOT/out"
expect_json 'sorted((e["path"], e["how"]) for e in j["entries"])' "[('a.txt', 'merged'), ('b.txt', 'fork')]"
same "line 5" "a line 5 by agent 1" "$(sed -n 5p "$M/src/a.txt")"
same "line 30" "a line 30 by agent 2" "$(sed -n 30p "$M/src/a.txt")"
same "b.txt" "b line 2 by agent 2" "$(sed -n 2p "$M/src/b.txt")"
same "new file" "new from agent 1" "$(cat "$M/src/lib/new1.txt")"

note "agent 3's fork conflicts with agent 1's: reported, not written"
cp "$M/src/a.txt" "$TEST_ROOT/a-before"
expect_rc 1 nx --json fork merge f3 --dry-run
cp "$TEST_ROOT/out" "$TEST_ROOT/dry3"
expect_rc 1 nx --json fork merge f3
predicted "$TEST_ROOT/dry3" "$TEST_ROOT/out"
expect_json '[(c["path"], c["kind"], c["resolved_by"]) for c in j["conflicts"]]' "[('a.txt', 'content', None)]"
expect_json '[(h["base_start"], h["base_lines"], h["ours_start"], h["ours_lines"], h["theirs_start"], h["theirs_lines"]) for h in j["conflicts"][0]["hunks"]]' \
  "[(5, 1, 5, 1, 5, 1)]"
expect_json '"a line 5 by agent 1" in j["conflicts"][0]["hunks"][0]["text"] and "a line 5 by agent 3" in j["conflicts"][0]["hunks"][0]["text"]' True
expect_json '[e["path"] for e in j["entries"]]' "['lib/c.txt']"
cmp -s "$TEST_ROOT/a-before" "$M/src/a.txt" || fail "the conflicting file was written"
same "agent 3's other change landed" "c line 9 by agent 3" "$(sed -n 9p "$M/src/lib/c.txt")"
T3=$(json_get 'j["task_id"]')

note "each merge is logged as its agent"
expect_rc 0 nx --json ops log --task "$T1"
expect_json 'sorted({o["subject"] for o in j["operations"]})' "['agent:a1']"
expect_rc 0 nx --json ops log --task "$T3"
expect_json 'sorted({o["subject"] for o in j["operations"]})' "['agent:a3']"
expect_rc 0 nx --json fork list
expect_json 'sorted((f["name"], f["merges"]) for f in j["forks"])' "[('f1', 1), ('f2', 1), ('f3', 1)]"

nexus_stop
