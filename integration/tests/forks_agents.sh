#!/usr/bin/env bash
# Several agents at work on one project, each in its own fork, and the good
# changes merged back (docs/forks.md). A source tree of 37 C, Python and build
# files is in /proj; three agents (a, b, c) each get a fork of it
# (`fork create --for agent:ID`) and edit it through their own per-subject
# mount rooted at the fork (`mount add --as agent:ID --root /forks/NAME`),
# with real tools (sed -i, mv, rm, chmod, mkdir, in-place rewrites):
#   a: line 3 of src/shared.c, lines 10-11 of src/alpha.c, a new file, a
#      removal, a mode change;
#   b: line 15 of src/shared.c (another line of the file a changed), two
#      hunks of lib/beta.py, a new folder and files, a rename;
#   c: line 3 of src/shared.c and lines 10-11 of src/alpha.c (both also
#      changed by a), line 25 of src/shared.c, lib/gamma.py, a new file.
# Checked: nothing of a fork is visible in the base or in another fork
# before a merge, nor a base change made after fork time in a fork; each
# agent sees only its own fork (fork list, /forks, its mounts); `fork diff`
# lists each fork's changes; every `merge --dry-run` reports exactly what
# the real merge then reports (and changes nothing); a's merge, then b's,
# leave the base exactly as both agents' edits applied to it (src/shared.c
# holds both, combined line by line); c's merge reports exactly the two
# files and hunks both sides changed (exit 1), writes nothing to those two
# files and applies its other changes; `--theirs` then takes c's side of the
# two hunks and keeps everything else; each merge is in `ops log` under its
# task id with the fork's agent as subject, and `undo --task` of the last
# one puts the base back exactly as it was before it.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
M=$NEXUS_MNT
SEED=$TEST_ROOT/seed      # the project at fork time, on the local disk
EXPECT=$TEST_ROOT/expect  # what the base must hold, computed on the local disk

nexus_start

note "the project in the base: 37 C, Python and build files"
python3 - "$SEED" <<'PY'
import os, sys
root = sys.argv[1]
def put(rel, lines, mode=0o644):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write("".join(l + "\n" for l in lines))
    os.chmod(p, mode)
# Every line of a C file differs from the others and holds letters, so a
# line-level merge has nothing ambiguous to align.
for name in ("shared", "alpha", "legacy", "io", "parse", "eval", "print", "main", "mem", "str", "hash", "list"):
    put("src/%s.c" % name, ["/* src/%s.c */" % name, '#include "common.h"'] +
        ["int %s_f%d(int x) { return x * %d + 1; }" % (name, i, i) for i in range(3, 31)])
for name in ("common", "io", "parse", "eval", "mem", "str"):
    put("include/%s.h" % name, ["#pragma once"] + ["int %s_f%d(int x);" % (name, i) for i in range(2, 16)])
for name in ("alpha", "beta", "gamma", "delta", "util", "cli", "config", "log", "net", "db", "cache", "report"):
    put("lib/%s.py" % name, ['"""lib/%s.py"""' % name] +
        ["def %s_f%d(x):\n    return x * %d + 1\n" % (name, i, i) for i in range(2, 24)])
for name in ("test_shared", "test_old", "test_parse", "test_util"):
    put("tests/%s.py" % name, ["import unittest"] + ["def test_%s_%d(): assert %d == %d" % (name, i, i, i) for i in range(2, 12)])
put("tools/build.sh", ["#!/bin/sh", "set -e", "make -C src all"], 0o644)
put("Makefile", ["all:", "\tcc -o app src/*.c"])
put("README.md", ["# proj", "", "A small project for agents to work on."])
PY
[[ $(find "$SEED" -type f | wc -l) == 37 ]] || fail "the seed has $(find "$SEED" -type f | wc -l) files"
cp -a "$SEED" "$M/proj"
# same_tree DIR WANT WHAT: DIR holds exactly WANT's names, types, modes and contents.
same_tree() {
  diff -r --no-dereference "$1" "$2" >"$TEST_ROOT/diff" 2>&1 || fail "$3: contents differ: $(head -n 20 "$TEST_ROOT/diff")"
  diff <(cd "$1" && find . -mindepth 1 -printf '%P %y %m\n' | sort) <(cd "$2" && find . -mindepth 1 -printf '%P %y %m\n' | sort) \
    >"$TEST_ROOT/diff" || fail "$3: modes differ: $(head -n 10 "$TEST_ROOT/diff" | tr '\n' '|')"
}
# state DIR: every entry's manifest line (lib.sh) and every file's checksum.
state() { tree_manifest "$1"; (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r md5sum); }
same_tree "$M/proj" "$SEED" "the base as written"

# The edits, as functions of the tree they apply to: the agents run them on
# their mounts, and the test on local copies to know what the base must hold.
# put_lines FILE START COUNT LINE...: lines START..START+COUNT-1 of FILE
# become LINE... (rewritten in place, the same inode).
put_lines() {
  python3 - "$@" <<'PY'
import sys
path, start, count, new = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
lines = open(path).read().split("\n")[:-1]
lines[start - 1:start - 1 + count] = new
with open(path, "r+") as f:
    f.write("".join(l + "\n" for l in lines))
    f.truncate()
PY
}
A3='int shared_f3(int x) { return x * 3 + 100; }  /* a: faster */'
A10='int alpha_f10(int x) { return x << 3; }  /* a */'
A11='int alpha_f11(int x) { return x << 4; }  /* a */'
edit_a() {  # sed -i replaces the file by a new one (rename over it)
  sed -i "3s|.*|$A3|" "$1/src/shared.c"
  sed -i -e "10s|.*|$A10|" -e "11s|.*|$A11|" "$1/src/alpha.c"
  printf '#include "common.h"\nint feature_a(void) { return 1; }\n' >"$1/src/feature_a.c"
  rm "$1/tests/test_old.py"
  chmod 755 "$1/tools/build.sh"
}
B15='int shared_f15(int x) { return x * 15 - 7; }  /* b: fixed */'
edit_b() {
  put_lines "$1/src/shared.c" 15 1 "$B15"
  put_lines "$1/lib/beta.py" 6 1 '    return x * 3 + 2  # b'
  put_lines "$1/lib/beta.py" 42 1 '    return x * 21 - 1  # b'
  printf 'def feature_b():\n    return "b"\n' >"$1/lib/feature_b.py"
  mkdir "$1/src/net"
  printf '#include "common.h"\nint net_open(void) { return -1; }\n' >"$1/src/net/socket.c"
  mv "$1/src/legacy.c" "$1/src/modern.c"
}
C3='int shared_f3(int x) { return x * 3 - 100; }  /* c: safer */'
C10='int alpha_f10(int x) { return x * 8; }  /* c */'
C11='int alpha_f11(int x) { return x * 16; }  /* c */'
C12='int alpha_f10b(int x) { return x * 9; }  /* c */'
C25='int shared_f25(int x) { return x * 25 + 2; }  /* c */'
edit_c() {
  put_lines "$1/src/shared.c" 3 1 "$C3"
  put_lines "$1/src/shared.c" 25 1 "$C25"
  put_lines "$1/src/alpha.c" 10 2 "$C10" "$C11" "$C12"
  put_lines "$1/lib/gamma.py" 9 1 '    return x * 4 + 4  # c'
  printf '#include "common.h"\nint feature_c(void) { return 3; }\n' >"$1/src/feature_c.c"
}

note "three agents, a fork of /proj for each, a mount for each rooted at its fork"
for id in a b c; do
  expect_rc 0 nx agent register "$id" "Agent $id"
done
for id in a b c; do
  expect_rc 0 nx --json fork create "f$id" --from /proj --for "agent:$id"
  expect_json 'j["name"], j["path"], j["base"], j["owner"], j["state"], j["pin"], j["parent_fork"] or ""' \
    "('f$id', '/forks/f$id', '/proj', 'agent:$id', 'active', 'live', '')"
  mkdir -p "$TEST_ROOT/m$id"
  expect_rc 0 nx mount add "$TEST_ROOT/m$id" --as "agent:$id" --root "/forks/f$id"
done
MA=$TEST_ROOT/ma MB=$TEST_ROOT/mb MC=$TEST_ROOT/mc
for m in "$MA" "$MB" "$MC"; do
  same_tree "$m" "$SEED" "$m at fork time"
done

note "a base change after fork time stays out of the forks"
echo "Maintained by the humans." >>"$M/proj/README.md"
cp -a "$SEED" "$EXPECT"
cp "$M/proj/README.md" "$EXPECT/README.md"
for m in "$MA" "$MB" "$MC"; do
  cmp -s "$m/README.md" "$SEED/README.md" || fail "the base's later change shows in $m: $(tail -n 1 "$m/README.md")"
done

note "each agent sees its own fork and nothing else"
for id in a b c; do
  expect_rc 0 nx --as "agent:$id" --json fork list
  expect_json '[f["name"] for f in j["forks"]]' "['f$id']"
  expect_rc 0 nx --as "agent:$id" ls /forks
  [[ $(out) == "f$id/" ]] || fail "agent $id lists /forks as: $(out)"
  expect_rc 1 nx --as "agent:$id" cat /proj/README.md
  for other in a b c; do
    [[ $other == "$id" ]] && continue
    expect_rc 1 nx --as "agent:$id" cat "/forks/f$other/README.md"
    expect_rc 1 nx --as "agent:$id" fork info "f$other"
  done
done
# A mount of agent a's whole view (not rooted at its fork) shows only fa under /forks.
mkdir -p "$TEST_ROOT/ma-all"
expect_rc 0 nx mount add "$TEST_ROOT/ma-all" --as agent:a
[[ $(ls "$TEST_ROOT/ma-all/forks") == fa ]] || fail "agent a's mount lists /forks as: $(ls "$TEST_ROOT/ma-all/forks")"
[[ ! -e $TEST_ROOT/ma-all/forks/fb && ! -e $TEST_ROOT/ma-all/proj ]] || fail "agent a's mount reaches fb or /proj"
expect_rc 0 nx mount remove "$TEST_ROOT/ma-all"

note "the agents edit their forks through their mounts"
edit_a "$MA" || fail "agent a's edits failed"
edit_b "$MB" || fail "agent b's edits failed"
edit_c "$MC" || fail "agent c's edits failed"
for id in a b c; do
  cp -a "$SEED" "$TEST_ROOT/want-$id"
  "edit_$id" "$TEST_ROOT/want-$id"
  same_tree "$TEST_ROOT/m$id" "$TEST_ROOT/want-$id" "fork f$id after agent $id's edits"
done
same_tree "$M/proj" "$EXPECT" "the base after the agents' edits (nothing merged yet)"
cmp -s "$MB/src/shared.c" "$SEED/src/shared.c" && fail "b's edit of src/shared.c is not in fb"
grep -qF "$A3" "$MB/src/shared.c" "$MC/src/shared.c" && fail "a's edit shows in another fork"
# Operations inside a fork are logged under /forks/NAME, as the agent's.
for ((i = 0; i < 100; i++)); do
  nx --json ops log --path /forks/fa --limit 10000 >"$TEST_ROOT/out" || fail "ops log --path /forks/fa"
  [[ $(json_get 'any(o["path"] == "/forks/fa/src/feature_a.c" for o in j["operations"])') == True ]] && break
  sleep 0.1
done
expect_json 'any(o["path"] == "/forks/fa/src/feature_a.c" for o in j["operations"])' True
expect_json 'sorted({o["subject"] for o in j["operations"]})' "['agent:a']"

note "fork diff lists each fork's changes"
expect_rc 0 nx --json fork diff fa --stat
expect_json 'sorted((c["path"].lstrip("/"), c["kind"]) for c in j["changes"])' \
  "[('src/alpha.c', 'modified'), ('src/feature_a.c', 'added'), ('src/shared.c', 'modified'), ('tests/test_old.py', 'deleted'), ('tools/build.sh', 'modified')]"
expect_json 'sorted((c["path"], c["content_changed"]) for c in j["changes"] if c["kind"] == "modified")' \
  "[('src/alpha.c', True), ('src/shared.c', True), ('tools/build.sh', False)]"
expect_json '[(c["insertions"], c["deletions"]) for c in j["changes"] if c["kind"] == "deleted"]' "[(0, 11)]"
expect_json '[(c["old_mode"] & 0o777, c["mode"] & 0o777) for c in j["changes"] if c["path"].endswith("build.sh")]' "[(420, 493)]"
expect_json '[(c["insertions"], c["deletions"]) for c in j["changes"] if c["path"].endswith("alpha.c")]' "[(2, 2)]"
expect_rc 0 nx --json fork diff fb --name-only
expect_json 'sorted((c["path"].lstrip("/"), (c["old_path"] or "").lstrip("/"), c["kind"]) for c in j["changes"])' \
  "[('lib/beta.py', '', 'modified'), ('lib/feature_b.py', '', 'added'), ('src/modern.c', 'src/legacy.c', 'renamed'), ('src/net/socket.c', '', 'added'), ('src/shared.c', '', 'modified')]"
expect_rc 0 nx fork diff fc
grep -qF -- "-int shared_f3(int x) { return x * 3 + 1; }" "$TEST_ROOT/out" || fail "fork diff fc: $(head -n 20 "$TEST_ROOT/out")"
grep -qF -- "+$C3" "$TEST_ROOT/out" || fail "fork diff fc lacks c's line 3: $(head -n 20 "$TEST_ROOT/out")"
grep -q '^diff --git a/src/feature_c.c b/src/feature_c.c' "$TEST_ROOT/out" || fail "fork diff fc: $(head -n 20 "$TEST_ROOT/out")"

# merge NAME RC [ARGS...]: `fork merge --dry-run` then the real merge of
# NAME with ARGS, both --json: the dry run exits RC, changes nothing and
# reports exactly the entries and conflicts the merge then reports; the
# merge exits RC. The real report is left in $TEST_ROOT/out and NAME.json.
merge() {
  local name=$1 rc=$2
  shift 2
  state "$M/proj" >"$TEST_ROOT/state.before"
  expect_rc "$rc" nx --json fork merge "$name" --dry-run "$@"
  cp "$TEST_ROOT/out" "$TEST_ROOT/dry.json"
  expect_json 'j["dry_run"], j["applied"]' "(True, False)"
  state "$M/proj" | diff "$TEST_ROOT/state.before" - >"$TEST_ROOT/diff" ||
    fail "merge --dry-run of $name changed the base: $(head -n 10 "$TEST_ROOT/diff")"
  expect_rc "$rc" nx --json fork merge "$name" "$@"
  cp "$TEST_ROOT/out" "$TEST_ROOT/$name.json"
  expect_json 'j["dry_run"]' False
  expect_json 'j["task_id"] != ""' True
  python3 - "$TEST_ROOT/dry.json" "$TEST_ROOT/$name.json" <<'PY' || fail "merge --dry-run of $name predicted another merge (above)"
import json, sys
dry, real = (json.load(open(p)) for p in sys.argv[1:3])
for k in ("entries", "conflicts"):
    if dry[k] != real[k]:
        print("%s differ:\n dry run: %s\n merge:   %s" % (k, dry[k], real[k]), file=sys.stderr)
        sys.exit(1)
PY
}
# entries: the merge report's (path, old_path, action, how), sorted.
ENTRIES='sorted((e["path"].lstrip("/"), (e["old_path"] or "").lstrip("/"), e["action"], e["how"]) for e in j["entries"])'

# ops_of_task TASK: the operations logged under TASK, once two reads 0.3 s
# apart agree (the log records a write once its version is captured), into
# $TEST_ROOT/out.
ops_of_task() {
  local prev="" cur i
  for ((i = 0; i < 50; i++)); do
    nx versions flush >/dev/null 2>&1 || true
    nx --json ops log --task "$1" --limit 10000 >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" || fail "ops log --task $1: $(cat "$TEST_ROOT/err")"
    cur=$(md5sum <"$TEST_ROOT/out")
    [[ $cur == "$prev" && $(json_get 'len(j["operations"])') != 0 ]] && return 0
    prev=$cur
    sleep 0.3
  done
  fail "ops log --task $1 did not settle in 15 s: $(head -c 300 "$TEST_ROOT/out")"
}

note "a merges: its changes land in the base"
merge fa 0
expect_json "$ENTRIES" "[('src/alpha.c', '', 'write', 'fork'), ('src/feature_a.c', '', 'write', 'fork'), ('src/shared.c', '', 'write', 'fork'), ('tests/test_old.py', '', 'delete', 'fork'), ('tools/build.sh', '', 'chmod', 'fork')]"
expect_json 'j["applied"], j["conflicts"]' "(True, [])"
TASK_A=$(json_get 'j["task_id"]')
edit_a "$EXPECT"
same_tree "$M/proj" "$EXPECT" "the base after a's merge"
expect_rc 0 nx --json fork info fa
expect_json 'j["merges"], j["last_merge"] not in (0, None, "")' "(1, True)"

note "b merges: src/shared.c holds a's line and b's, combined"
merge fb 0
expect_json "$ENTRIES" "[('lib/beta.py', '', 'write', 'fork'), ('lib/feature_b.py', '', 'write', 'fork'), ('src/modern.c', 'src/legacy.c', 'rename', 'fork'), ('src/net', '', 'mkdir', 'fork'), ('src/net/socket.c', '', 'write', 'fork'), ('src/shared.c', '', 'write', 'merged')]"
expect_json 'j["applied"], j["conflicts"]' "(True, [])"
TASK_B=$(json_get 'j["task_id"]')
edit_b "$EXPECT"
same_tree "$M/proj" "$EXPECT" "the base after b's merge"
{ grep -qxF "$A3" "$M/proj/src/shared.c" && grep -qxF "$B15" "$M/proj/src/shared.c"; } ||
  fail "src/shared.c lacks a's or b's line: $(sed -n '1,16p' "$M/proj/src/shared.c")"
[[ ! -e $M/proj/src/legacy.c ]] || fail "b's rename left src/legacy.c"
cp -a "$M/proj" "$TEST_ROOT/after-ab"

note "c merges: the two files a also changed conflict, exactly those hunks; nothing written to them"
merge fc 1
expect_json "$ENTRIES" "[('lib/gamma.py', '', 'write', 'fork'), ('src/feature_c.c', '', 'write', 'fork')]"
python3 - "$TEST_ROOT/fc.json" "$A3" "$C3" "$A10" "$A11" "$C10" "$C11" "$C12" <<'PY' || fail "c's conflicts are not reported as expected (above)"
import json, sys
j = json.load(open(sys.argv[1]))
a3, c3, a10, a11, c10, c11, c12 = sys.argv[2:]
got = sorted((c["path"].lstrip("/"), c["kind"], c["resolved_by"] or "",
              [(h["base_start"], h["base_lines"], h["ours_start"], h["ours_lines"], h["theirs_start"], h["theirs_lines"])
               for h in c["hunks"]]) for c in j["conflicts"])
want = [("src/alpha.c", "content", "", [(10, 2, 10, 2, 10, 3)]),
        ("src/shared.c", "content", "", [(3, 1, 3, 1, 3, 1)])]
bad = []
if got != want:
    bad.append("conflicts: %s\n     want: %s" % (got, want))
texts = {c["path"].lstrip("/"): c["hunks"][0]["text"] if c["hunks"] else "" for c in j["conflicts"]}
for path, ours, theirs in (("src/shared.c", [a3], [c3]), ("src/alpha.c", [a10, a11], [c10, c11, c12])):
    t = texts.get(path, "")
    lines = t.split("\n")
    for marker in ("<<<<<<<", "=======", ">>>>>>>"):
        if not any(l.startswith(marker) for l in lines):
            bad.append("%s: the hunk lacks %s: %r" % (path, marker, t))
    if not all(l in lines for l in ours + theirs):
        bad.append("%s: the hunk lacks a side's lines: %r" % (path, t))
    # Ours before theirs, as git writes them.
    if all(l in lines for l in ours + theirs) and lines.index(ours[0]) > lines.index(theirs[0]):
        bad.append("%s: theirs before ours: %r" % (path, t))
if j["applied"] is not True:
    bad.append("the non-conflicting changes were not applied: applied=%s" % j["applied"])
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
PY
TASK_C1=$(json_get 'j["task_id"]')
cmp -s "$M/proj/src/shared.c" "$TEST_ROOT/after-ab/src/shared.c" || fail "the conflicted src/shared.c was written"
cmp -s "$M/proj/src/alpha.c" "$TEST_ROOT/after-ab/src/alpha.c" || fail "the conflicted src/alpha.c was written"
cp "$TEST_ROOT/want-c/lib/gamma.py" "$EXPECT/lib/gamma.py"
cp "$TEST_ROOT/want-c/src/feature_c.c" "$EXPECT/src/feature_c.c"
same_tree "$M/proj" "$EXPECT" "the base after c's merge"
cp -a "$M/proj" "$TEST_ROOT/after-c1"

note "c merges --theirs: c's side of the two hunks, everything else kept"
merge fc 0 --theirs
# Besides the two conflicts taken with the fork's side, it may only touch
# again what c's first merge applied (the base holds it already).
expect_json '[e for e in '"$ENTRIES"' if e[3] == "theirs"]' "[('src/alpha.c', '', 'write', 'theirs'), ('src/shared.c', '', 'write', 'theirs')]"
expect_json '[e[0] for e in '"$ENTRIES"' if e[3] != "theirs" and e[0] not in ("lib/gamma.py", "src/feature_c.c")]' "[]"
expect_json 'sorted((c["path"].lstrip("/"), c["resolved_by"]) for c in j["conflicts"])' \
  "[('src/alpha.c', 'theirs'), ('src/shared.c', 'theirs')]"
TASK_C2=$(json_get 'j["task_id"]')
edit_c "$EXPECT"  # line for line: c's lines over a's, a's and b's other lines kept
same_tree "$M/proj" "$EXPECT" "the base after c's --theirs merge"
grep -qxF "$B15" "$M/proj/src/shared.c" || fail "--theirs lost b's line of src/shared.c"
[[ $(printf '%s\n' "$TASK_A" "$TASK_B" "$TASK_C1" "$TASK_C2" | sort -u | wc -l) == 4 ]] ||
  fail "the merges' task ids are not distinct: $TASK_A $TASK_B $TASK_C1 $TASK_C2"

note "the merges are logged under their task ids, as the forks' agents"
for t in "a $TASK_A" "b $TASK_B" "c $TASK_C1" "c $TASK_C2"; do
  read -r id task <<<"$t"
  ops_of_task "$task"
  expect_json 'sorted({o["subject"] for o in j["operations"]})' "['agent:$id']"
  expect_json 'all(o["path"].startswith("/proj/") for o in j["operations"])' True
done
ops_of_task "$TASK_B"
expect_json '{("mkdir", "/proj/src/net", ""), ("rename", "/proj/src/modern.c", "/proj/src/legacy.c")} <= {(o["op"], o["path"], o["old_path"] or "") for o in j["operations"]}' True
expect_json 'sorted({o["path"] for o in j["operations"] if o["op"] == "write"})' \
  "['/proj/lib/beta.py', '/proj/lib/feature_b.py', '/proj/src/net/socket.c', '/proj/src/shared.c']"

note "undo --task of c's second merge puts the base back as it was before it"
expect_rc 0 nx --json undo --task "$TASK_C2"
expect_json 'j["conflicts"], j["failed"]' "(0, 0)"
same_tree "$M/proj" "$TEST_ROOT/after-c1" "the base after undo --task $TASK_C2"

note "the forks still hold their own trees"
for id in a b c; do
  same_tree "$TEST_ROOT/m$id" "$TEST_ROOT/want-$id" "fork f$id after the merges"
  expect_rc 0 nx mount remove "$TEST_ROOT/m$id"
done

nexus_stop
echo PASS
