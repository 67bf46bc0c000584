#!/usr/bin/env bash
# The operations log and undo on a real mount with versions on: an agent
# (agent:fixer, owned by user:alice, bound to a uid, NEXUS_AGENT_ID and
# NEXUS_TASK_ID in its environment) runs a real shell session in /proj —
# `sed -i`, `mv`, `rm -r` of a folder, `mkdir`, `git init` and two commits in
# a new folder, a `tar x`, a `chmod` — while root edits other files. Then:
# `ops log --agent` lists exactly the agent's operations (kinds, paths, none
# of root's, nothing inside .git); `--since`, `--path` and `--op` filter; a
# non-admin's log shows only its own operations; `undo --agent --dry-run`
# plans and changes nothing; bob (not the owner) may not undo; root changes
# one of the agent's files after it; alice's `undo --agent` brings /proj
# back to the copy taken before the agent started (diff -r, modes) except
# that file, reported as the one conflict (exit 1), and root's edits remain;
# `undo OP_ID --force` takes that file back too; the undo's own operations
# are logged with command "undo"; undos (and bob's refusal) are audited.
# Bad input: no selection exits 64, an unknown operation id is an error
# that names it.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
M=$NEXUS_MNT
AGENT_UID=$CAROL_UID
BEFORE="$TEST_ROOT/before"

nexus_start
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"

note "the daemon serves the operations log"
expect_rc 0 nx --json features
expect_json '[f["state"] for f in j["features"] if f["name"] == "oplog"][0]' enabled
for cmd in "ops log" "ops gc" "ops stats" "undo"; do
  # shellcheck disable=SC2086
  expect_rc 0 nx $cmd --help
  grep -q "^Usage: nexus $cmd" "$TEST_ROOT/out" || fail "nexus $cmd --help: $(head -n 2 "$TEST_ROOT/out")"
done

note "subjects: alice owns agent:fixer (bound to uid $AGENT_UID); bob is another user"
expect_rc 0 nx identity bind --uid "$ALICE_UID" user:alice
expect_rc 0 nx identity bind --uid "$BOB_UID" user:bob
expect_rc 0 alice agent register fixer "Fixer"
expect_rc 0 nx identity bind --uid "$AGENT_UID" agent:fixer

note "the tree before the agent starts"
mkdir -p "$M/proj/old/sub" "$M/proj/docs" "$M/notes" "$M/bob"
printf 'name=demo\nlevel=1\nmode=fast\n' >"$M/proj/config.ini"
printf 'remember the milk\n' >"$M/proj/notes.txt"
printf 'a\n' >"$M/proj/old/a.txt"
printf 'b\n' >"$M/proj/old/b.txt"
printf 'c\n' >"$M/proj/old/sub/c.txt"
printf 'shared by all\n' >"$M/proj/shared.txt"
printf '#!/bin/sh\necho hi\n' >"$M/proj/script.sh"
chmod 644 "$M/proj/script.sh"
printf 'root keeps this\n' >"$M/proj/human.txt"
printf 'guide\n' >"$M/proj/docs/guide.md"
printf 'todo 1\n' >"$M/notes/todo.txt"
chmod -R a+rwX "$M/proj" "$M/notes"
chown "$AGENT_UID" "$M/proj/script.sh"  # only its owner may chmod it
chmod 777 "$M/bob"
expect_rc 0 nx rebac create agent fixer editor folder /proj
expect_rc 0 nx rebac create user alice editor folder /proj
expect_rc 0 nx rebac create user bob viewer folder /proj
expect_rc 0 nx rebac create user bob editor folder /bob
# A small archive for the agent to unpack.
mkdir -p "$TEST_ROOT/src/pkg/lib"
printf 'int main(void) { return 0; }\n' >"$TEST_ROOT/src/pkg/main.c"
printf 'void f(void);\n' >"$TEST_ROOT/src/pkg/lib/f.h"
tar -C "$TEST_ROOT/src" -cf "$TEST_ROOT/small.tar" pkg
chmod 644 "$TEST_ROOT/small.tar"
expect_rc 0 nx versions flush
cp -a "$M/proj" "$BEFORE"
# --since/--until take whole seconds: the setup is over a second before START_NS.
sleep 1.1
START_NS=$(date +%s%N)

note "the agent's shell session while root edits other files"
mkdir -p "$TEST_ROOT/agent-home"
chown "$AGENT_UID:$USERS_GID" "$TEST_ROOT/agent-home"
cat >"$TEST_ROOT/agent.sh" <<EOF
set -e
cd "$M/proj"
sed -i 's/^level=1\$/level=2/' config.ini
mv notes.txt notes-old.txt
rm -r old
mkdir newdir
echo "agent was here" >>shared.txt
mkdir repo
cd repo
git init -q
echo one >a.txt
git add a.txt
git commit -qm one
echo two >>a.txt
git commit -qam two
cd ..
mkdir vendor
tar -xf "$TEST_ROOT/small.tar" -C vendor
chmod 755 script.sh
EOF
human() {
  local i
  for i in 1 2 3 4 5; do
    echo "root's edit $i" >>"$M/proj/human.txt"
    echo "todo $((i + 1))" >>"$M/notes/todo.txt"
    sleep 0.1
  done
}
human &
human_pid=$!
setpriv --reuid "$AGENT_UID" --regid "$USERS_GID" --clear-groups \
  env HOME="$TEST_ROOT/agent-home" NEXUS_AGENT_ID=fixer NEXUS_TASK_ID=cleanup-1 \
  GIT_AUTHOR_NAME=fixer GIT_AUTHOR_EMAIL=fixer@example.com \
  GIT_COMMITTER_NAME=fixer GIT_COMMITTER_EMAIL=fixer@example.com \
  bash "$TEST_ROOT/agent.sh" >"$TEST_ROOT/agent.out" 2>&1 ||
  fail "the agent's session failed: $(cat "$TEST_ROOT/agent.out")"
wait "$human_pid" || fail "root's edits failed"
[[ $(git -c safe.directory="*" -C "$M/proj/repo" rev-list --count HEAD) == 2 ]] || fail "the agent's repository has no two commits"
# What root's edits made is what the tree must keep after the undo.
cp -a "$M/proj/human.txt" "$BEFORE/human.txt"
cp -a "$M/notes/todo.txt" "$TEST_ROOT/todo.after"
expect_rc 0 nx versions flush

# all_ops FILE ARGS...: `nexus ops log --json ARGS` as root, newest first, into FILE;
# waits until two reads 0.3 s apart agree (the feed logs a write once its version
# is captured).
all_ops() {
  local file=$1 prev="" cur i
  shift
  for ((i = 0; i < 50; i++)); do
    nx --json ops log --limit 10000 "$@" >"$file" 2>"$TEST_ROOT/err" || fail "ops log $*: $(cat "$TEST_ROOT/err")"
    cur=$(md5sum <"$file")
    [[ $cur == "$prev" ]] && return 0
    prev=$cur
    sleep 0.3
  done
  fail "ops log $* did not settle in 15 s"
}

note "ops log --agent fixer lists exactly the agent's operations"
all_ops "$TEST_ROOT/agent.json" --agent fixer
all_ops "$TEST_ROOT/all.json"
python3 - "$TEST_ROOT/agent.json" "$TEST_ROOT/all.json" "$START_NS" <<'PY' || fail "ops log --agent fixer is wrong (above)"
import json, sys
mine = json.load(open(sys.argv[1]))
every = json.load(open(sys.argv[2]))
start = int(sys.argv[3])
ops = mine["operations"]
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)
for k in ("operations", "next_before_id"):
    check(k in mine, "no '%s' in the --json object" % k)
keys = {"id", "cursor", "time_ns", "op", "path", "old_path", "subject", "uid", "pid", "command",
        "agent_id", "task_id", "version"}
for o in ops:
    check(keys <= set(o), "operation %s lacks %s" % (o.get("id"), sorted(keys - set(o))))
    check(o.get("id") == o.get("cursor"), "id != cursor in %s" % o)
ids = [o["id"] for o in ops]
check(ids == sorted(ids, reverse=True), "not newest first: %s" % ids[:10])
# Exactly the agent's: every logged operation labelled agent fixer, after the start.
want = {o["id"] for o in every["operations"] if o["agent_id"] == "fixer"}
check(set(ids) == want, "--agent fixer ids differ from the log's agent_id=fixer ids: missing %s, extra %s"
      % (sorted(want - set(ids))[:10], sorted(set(ids) - want)[:10]))
for o in ops:
    check(o["agent_id"] == "fixer", "agent_id %r in %s" % (o["agent_id"], o))
    check(o["task_id"] == "cleanup-1", "task_id %r in %s" % (o["task_id"], o))
    check(o["subject"] == "agent:fixer", "subject %r in %s" % (o["subject"], o))
    check(o["time_ns"] >= start, "an operation from before the session: %s" % o)
    for p in (o["path"], (o["old_path"] or "")):
        check(p == "" or p.startswith("/proj/"), "a path outside /proj: %s" % o)
        check("/.git" not in p, "an operation inside .git: %s" % o)
        check(p not in ("/proj/human.txt",) and not p.startswith("/notes"), "root's file: %s" % o)
kinds = {}
for o in ops:
    kinds.setdefault(o["op"], set()).add(o["path"])
def has(kind, path, old=None):
    hit = [o for o in ops if o["op"] == kind and o["path"] == path and (old is None or (o["old_path"] or "") == old)]
    check(hit, "no %s of %s%s; the agent's operations: %s" % (kind, path, "" if old is None else " from " + old,
          sorted((o["op"], o["path"], (o["old_path"] or "")) for o in ops)))
    return hit
# sed -i writes a temporary file and renames it over config.ini.
sed = [o for o in ops if o["op"] == "rename" and o["path"] == "/proj/config.ini"]
check(sed, "sed -i: no rename over /proj/config.ini")
has("rename", "/proj/notes-old.txt", "/proj/notes.txt")
for f in ("/proj/old/a.txt", "/proj/old/b.txt", "/proj/old/sub/c.txt"):
    has("unlink", f)
has("rmdir", "/proj/old/sub")
has("rmdir", "/proj/old")
has("mkdir", "/proj/newdir")
has("write", "/proj/shared.txt")
has("mkdir", "/proj/repo")
has("create", "/proj/repo/a.txt")
w = has("write", "/proj/repo/a.txt")
check(all(o["version"] > 0 for o in w), "a write without its version: %s" % w)
has("mkdir", "/proj/vendor")
has("mkdir", "/proj/vendor/pkg")
has("create", "/proj/vendor/pkg/main.c")
has("create", "/proj/vendor/pkg/lib/f.h")
has("chmod", "/proj/script.sh")
# Root's edits are in the log, as root's.
root = [o for o in every["operations"] if o["path"] == "/proj/human.txt" and o["time_ns"] >= start]
check(root and all(o["subject"] == "user:admin" and o["agent_id"] == "" for o in root),
      "root's edits of /proj/human.txt: %s" % root)
if bad:
    print("\n".join(bad[:15]), file=sys.stderr)
    sys.exit(1)
print("agent operations: %d (%s)" % (len(ops), ", ".join("%s %d" % (k, len(v)) for k, v in sorted(kinds.items()))))
PY
expect_rc 0 nx --json ops log --subject agent:fixer --limit 10000
json_get 'sorted(o["id"] for o in j["operations"])' >"$TEST_ROOT/by_subject"
python3 -c "import json; print(sorted(o['id'] for o in json.load(open('$TEST_ROOT/agent.json'))['operations']))" \
  >"$TEST_ROOT/by_agent"
cmp -s "$TEST_ROOT/by_subject" "$TEST_ROOT/by_agent" || fail "--subject agent:fixer and --agent fixer differ"
expect_rc 0 nx --json ops log --task cleanup-1 --limit 10000
json_get 'sorted(o["id"] for o in j["operations"])' >"$TEST_ROOT/by_task"
cmp -s "$TEST_ROOT/by_task" "$TEST_ROOT/by_agent" || fail "--task cleanup-1 and --agent fixer differ"
expect_rc 0 nx ops log --agent fixer
grep -q "/proj/notes-old.txt" "$TEST_ROOT/out" || fail "the table lacks the rename: $(head -n 5 "$TEST_ROOT/out")"

note "ops log filters: --path, --op, --since, --until, --limit/--before"
expect_rc 0 nx --json ops log --path /proj/old --limit 10000
expect_json 'sorted({p for o in j["operations"] for p in (o["path"], (o["old_path"] or "")) if p and not (p == "/proj/old" or p.startswith("/proj/old/"))})' "[]"
expect_json 'sorted({(o["op"], o["path"]) for o in j["operations"] if o["op"] in ("mkdir", "rmdir", "unlink")})' \
  "[('mkdir', '/proj/old'), ('mkdir', '/proj/old/sub'), ('rmdir', '/proj/old'), ('rmdir', '/proj/old/sub'), ('unlink', '/proj/old/a.txt'), ('unlink', '/proj/old/b.txt'), ('unlink', '/proj/old/sub/c.txt')]"
expect_rc 0 nx --json ops log --op mkdir --limit 10000
expect_json 'sorted({o["op"] for o in j["operations"]})' "['mkdir']"
expect_json '"/proj/newdir" in [o["path"] for o in j["operations"]] and "/proj/old" in [o["path"] for o in j["operations"]]' True
expect_rc 0 nx --json ops log --since "$(date -u -d "@$((START_NS / 1000000000))" +%Y-%m-%dT%H:%M:%SZ)" --limit 10000
expect_json 'min(o["time_ns"] for o in j["operations"]) >= '"$((START_NS / 1000000000 * 1000000000))" True
expect_json 'any(o["path"] == "/proj/old/a.txt" and o["op"] == "create" for o in j["operations"])' False
expect_json 'any(o["path"] == "/proj/notes-old.txt" for o in j["operations"])' True
expect_rc 0 nx --json ops log --until "$(date -u -d "@$((START_NS / 1000000000))" +%Y-%m-%dT%H:%M:%SZ)" --limit 10000
expect_json 'any(o["path"] == "/proj/old/a.txt" and o["op"] == "create" for o in j["operations"])' True
expect_json 'any(o["agent_id"] == "fixer" for o in j["operations"])' False
expect_rc 0 nx --json ops log --since 1h --agent fixer --limit 10000
json_get 'sorted(o["id"] for o in j["operations"])' >"$TEST_ROOT/since1h"
cmp -s "$TEST_ROOT/since1h" "$TEST_ROOT/by_agent" || fail "--since 1h --agent fixer differs from --agent fixer"
expect_rc 0 nx --json ops log --agent fixer --limit 3
expect_json 'len(j["operations"])' 3
first3=$(json_get '[o["id"] for o in j["operations"]]')
next=$(json_get 'j["next_before_id"]')
expect_rc 0 nx --json ops log --agent fixer --limit 3 --before "$next"
expect_json 'all(o["id"] < min('"$first3"') for o in j["operations"]) and len(j["operations"]) == 3' True
expect_rc 64 nx ops log --op frobnicate
expect_rc 64 nx ops log --since yesterday-ish
expect_rc 64 nx ops log --limit -1

note "a non-admin's log shows only its own operations"
shell "$BOB_UID" "echo bob > $M/bob/b.txt" || fail "bob cannot write /bob/b.txt: $(cat "$TEST_ROOT/err")"
for _ in $(seq 100); do
  bob --json ops log --limit 10000 >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" || fail "bob's ops log: $(cat "$TEST_ROOT/err")"
  [[ $(json_get 'any(o["path"] == "/bob/b.txt" for o in j["operations"])') == True ]] && break
  sleep 0.1
done
expect_json 'any(o["path"] == "/bob/b.txt" for o in j["operations"])' True
expect_json 'sorted({o["subject"] for o in j["operations"]})' "['user:bob']"
expect_rc 0 bob --json ops log --agent fixer
expect_json 'len(j["operations"])' 0

note "undo --dry-run shows the plan and changes nothing"
cp -a "$M/proj" "$TEST_ROOT/after-agent"
expect_rc 0 alice --json undo --agent fixer --dry-run
cp "$TEST_ROOT/out" "$TEST_ROOT/plan.json"
expect_json 'sorted(j)' "['applied', 'conflicts', 'dry_run', 'failed', 'skipped', 'steps']"
expect_json 'j["dry_run"], j["applied"], j["conflicts"], j["failed"], j["skipped"]' "(True, 0, 0, 0, 0)"
expect_json 'len(j["steps"]) > 0 and {s["status"] for s in j["steps"]} == {"planned"}' True
expect_json 'sorted(j["steps"][0])' "['action', 'op_id', 'path', 'reason', 'status', 'to_path', 'version']"
expect_json 'any(s["action"] == "rename-back" and s["path"] == "/proj/notes-old.txt" and s["to_path"] == "/proj/notes.txt" for s in j["steps"])' True
expect_json 'any(s["action"] == "recreate" and s["path"] == "/proj/old/sub/c.txt" and s["version"] > 0 for s in j["steps"])' True
expect_json 'any(s["action"] == "remove" and s["path"] == "/proj/vendor/pkg/main.c" for s in j["steps"])' True
expect_json 'any(s["action"] == "chmod" and s["path"] == "/proj/script.sh" for s in j["steps"])' True
expect_json '[s["op_id"] for s in j["steps"]] == sorted((s["op_id"] for s in j["steps"]), reverse=True)' True
expect_rc 0 alice undo --agent fixer --dry-run
grep -q "/proj/notes-old.txt" "$TEST_ROOT/out" || fail "the dry-run's plan lacks the rename: $(head -n 5 "$TEST_ROOT/out")"
diff -r --no-dereference "$M/proj" "$TEST_ROOT/after-agent" >/dev/null || fail "--dry-run changed the tree"
[[ -f "$M/proj/vendor/pkg/main.c" && ! -e "$M/proj/old" ]] || fail "--dry-run changed the tree"

note "bob, not the agent's owner, may not undo its operations"
expect_rc 1 bob undo --agent fixer
expect_err "permission denied\|may not\|not permitted\|may undo none"
expect_rc 1 bob --json undo --agent fixer
expect_json 'j["error"]["code"]' permissionDenied
diff -r --no-dereference "$M/proj" "$TEST_ROOT/after-agent" >/dev/null || fail "bob's refused undo changed the tree"
expect_rc 0 nx --json audit list --subject user:bob --denied
expect_json 'any(e["operation"].startswith("undo") for e in j["entries"])' True

note "bad input"
expect_rc 64 alice undo
expect_rc 64 nx undo
expect_rc 64 nx undo --since 1h
expect_rc 64 nx undo notanumber
expect_rc 1 nx undo 987654321
expect_err "987654321"
expect_err "not found\|no operation\|unknown"

note "root changes the agent's shared.txt after it; alice undoes the agent"
echo "root's later line" >>"$M/proj/shared.txt"
cp "$M/proj/shared.txt" "$TEST_ROOT/shared.root"
expect_rc 0 nx versions flush
all_ops "$TEST_ROOT/all2.json"
expect_rc 1 alice --json undo --agent fixer
cp "$TEST_ROOT/out" "$TEST_ROOT/report.json"
expect_json 'j["dry_run"], j["conflicts"], j["failed"], j["skipped"]' "(False, 1, 0, 0)"
expect_json '[s["path"] for s in j["steps"] if s["status"] == "conflict"]' "['/proj/shared.txt']"
expect_json 'j["applied"] == len([s for s in j["steps"] if s["status"] == "done" and s["action"] != "none"]) and j["applied"] > 0' True
expect_json '{s["status"] for s in j["steps"]} <= {"done", "conflict"}' True
expect_json '[s["reason"] != "" for s in j["steps"] if s["status"] == "conflict"]' "[True]"
cmp -s "$M/proj/shared.txt" "$TEST_ROOT/shared.root" || fail "the conflicted file was changed: $(cat "$M/proj/shared.txt")"
cmp -s "$M/notes/todo.txt" "$TEST_ROOT/todo.after" || fail "root's /notes/todo.txt changed"
[[ ! -e "$M/proj/repo" ]] || fail "undo of mkdir /proj/repo left: $(find "$M/proj/repo" | head)"
diff -r --no-dereference --exclude=shared.txt "$M/proj" "$BEFORE" >"$TEST_ROOT/diff" ||
  fail "after undo --agent, /proj differs from the copy: $(head -n 20 "$TEST_ROOT/diff")"
# mode_manifest DIR: path, type and mode of every entry below DIR.
mode_manifest() { (cd "$1" && find . -mindepth 1 -printf '%P %y %m\n' | sort); }
diff <(mode_manifest "$M/proj") <(mode_manifest "$BEFORE") >"$TEST_ROOT/diff" ||
  fail "after undo --agent, modes differ from the copy: $(head -n 20 "$TEST_ROOT/diff" | tr "\n" "|")"

note "the undo is audited as alice's, and logged as operations with command \"undo\""
expect_rc 0 nx --json audit list --subject user:alice
expect_json 'any(e["operation"].startswith("undo") and e["decision"] == "allow" for e in j["entries"])' True
expect_rc 0 nx versions flush
all_ops "$TEST_ROOT/undo_ops.json" --path /proj
python3 - "$TEST_ROOT/undo_ops.json" "$TEST_ROOT/all2.json" <<'PY' || fail "the undo's operations are not logged as such"
import json, sys
ops = json.load(open(sys.argv[1]))["operations"]
newest_before = max(o["id"] for o in json.load(open(sys.argv[2]))["operations"])
undo = [o for o in ops if o["id"] > newest_before]
assert undo, "no operation logged after the undo"
# Each step acts with the rights of the operation it takes back (the
# agent's), so its operations are the agent's, labelled "undo"; who asked is
# in the audit log.
bad = [o for o in undo if o["command"] != "undo" or o["subject"] != "agent:fixer"]
assert not bad, "operations of the undo not labelled undo/agent:fixer: %s" % bad[:5]
paths = {o["path"] for o in undo} | {(o["old_path"] or "") for o in undo}
for p in ("/proj/config.ini", "/proj/notes.txt", "/proj/old/sub/c.txt", "/proj/repo", "/proj/vendor", "/proj/script.sh"):
    assert p in paths, "the undo logged nothing for %s: %s" % (p, sorted(paths))
PY

note "undo --force of the agent's operations on shared.txt takes it back"
ids=$(python3 -c "import json; print(' '.join(str(s['op_id']) for s in json.load(open('$TEST_ROOT/report.json'))['steps'] if s['status'] == 'conflict'))")
[[ -n $ids ]] || fail "no conflicted op ids"
expect_rc 1 alice --json undo $ids
expect_json 'j["conflicts"]' 1
expect_rc 0 alice --json undo $ids --force
expect_json 'j["conflicts"], j["failed"], j["applied"] >= 1' "(0, 0, True)"
diff -r --no-dereference "$M/proj" "$BEFORE" >"$TEST_ROOT/diff" ||
  fail "after undo --force, /proj differs from the copy: $(head -n 20 "$TEST_ROOT/diff")"
cmp -s "$M/notes/todo.txt" "$TEST_ROOT/todo.after" || fail "root's /notes/todo.txt changed"

nexus_stop
echo PASS
