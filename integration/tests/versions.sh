#!/usr/bin/env bash
# File history and snapshots end to end: files edited on the mount with
# ordinary shell tools are versioned with who wrote them; the `nexus
# versions` and `nexus snapshot` commands read, diff, roll back, restore,
# snapshot, garbage-collect and export that history; stock git reads the
# export (log, show, diff, bisect run); a non-admin uid is held to the
# access rules; a workspace file is versioned in zone "local" without
# touching the workspace's own .git; a journaled version survives kill -9.
source "$(dirname "$0")/../lib.sh"
# Other uids here get what POSIX mode bits give them: ReBAC is off (it is
# tested on the mount in rebac_mount.sh and on the socket in rebac_cli.sh).
NEXUSD_EXTRA_ARGS+=(--features rebac=off)

WS="$TEST_ROOT/ws"
mkdir -p "$WS"
git -C "$WS" init -q
echo "tracked by the workspace's own repository" >"$WS/README"
git -C "$WS" add README
git -C "$WS" -c user.name=ws -c user.email=ws@example.com commit -qm "workspace init"
ws_head=$(git -C "$WS" rev-parse HEAD)
ws_refs=$(git -C "$WS" for-each-ref)

nexus_start --workspace "$WS"
M=$NEXUS_MNT
S="$TEST_ROOT/saved"
mkdir -p "$S"

# The number of versions of namespace path $1 (0 when it has none).
count_versions() {
  nx --json versions history "$1" 2>/dev/null |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["versions"]))' 2>/dev/null || echo 0
}

# latest_field PATH EXPR: a field of PATH's newest version ("" if none).
latest_field() {
  nx --json versions history "$1" 2>/dev/null |
    python3 -c "import json,sys; v=json.load(sys.stdin)['versions'][-1]; print(v$2)" 2>/dev/null || true
}

# wait_content PATH FILE: waits until PATH's newest version holds FILE's
# content, and prints that version's number. (Creating or truncating a file
# may record an empty version first, depending on timing; the content is
# what counts.)
wait_content() {
  local want i
  want=$(git hash-object "$2")
  for ((i = 0; i < 200; i++)); do
    if [[ $(latest_field "$1" '["content_id"]') == "$want" ]]; then
      latest_field "$1" '["number"]'
      return 0
    fi
    sleep 0.05
  done
  fail "$1: the newest version is not the content of $2 after 10 s"
}

# version_field PATH N EXPR: a field of version N of PATH from history --json.
version_field() {
  nx --json versions history "$1" >"$TEST_ROOT/hist.json"
  python3 -c "import json; j=json.load(open('$TEST_ROOT/hist.json')); v=[v for v in j['versions'] if v['number']==$2][0]; print(v$3)"
}

note "every command has --help; usage errors exit 64"
for c in "versions history" "versions get" "versions diff" "versions rollback" "versions restore" \
  "versions stats" "versions gc" "versions export" "versions flush" "snapshot create" \
  "snapshot list" "snapshot info" "snapshot entries" "snapshot restore" "snapshot delete"; do
  # shellcheck disable=SC2086
  expect_rc 0 nx $c --help
  grep -q "^Usage: nexus $c" "$TEST_ROOT/out" || fail "nexus $c --help: no usage line"
done
expect_rc 64 nx versions history
expect_rc 64 nx versions get /x
grep -q -- "--version N is required" "$TEST_ROOT/err" || fail "missing --version message"
expect_rc 64 nx versions get /x --version abc
expect_rc 64 nx versions get /x --version 0
expect_rc 64 nx versions diff /x --v1 1
expect_rc 64 nx versions diff /x --v1 1 --v2 2 --mode sideways
expect_rc 64 nx versions rollback /x
expect_rc 64 nx versions gc --keep-versions 0
expect_rc 64 nx versions gc --keep-days -1
expect_rc 64 nx versions export
expect_rc 64 nx snapshot info

note "shell edits become versions with their writer"
cd "$M"
echo "first line" >doc.txt
cp doc.txt "$S/v1"
n1=$(wait_content /doc.txt "$S/v1")
echo "second line" >>doc.txt
cp doc.txt "$S/v2"
n2=$(wait_content /doc.txt "$S/v2")
sed -i 's/first/1st/' doc.txt
cp doc.txt "$S/v3"
n3=$(wait_content /doc.txt "$S/v3")
# An editor's atomic save: write a temporary file, rename it over the file.
{ cat doc.txt; echo "third line"; } >.doc.txt.swp
mv .doc.txt.swp doc.txt
cp doc.txt "$S/v4"
n4=$(wait_content /doc.txt "$S/v4")
# A writer that tells who it works for, and lives on after writing.
NEXUS_AGENT_ID=agent-7 NEXUS_TASK_ID=task-42 bash -c 'echo "fourth line" >>doc.txt; sleep 0.5; true'
cp doc.txt "$S/v5"
n5=$(wait_content /doc.txt "$S/v5")
cd - >/dev/null
note "versions $n1 $n2 $n3 $n4 $n5"
[[ $n1 -ge 1 && $n1 -lt $n2 && $n2 -lt $n3 && $n3 -lt $n4 && $n4 -lt $n5 ]] ||
  fail "the edits must be versions in order, got $n1 $n2 $n3 $n4 $n5"
[[ "$n1 $n2 $n3 $n4 $n5" == "1 2 3 4 5" ]] || fail "one version per edit, none empty: got $n1 $n2 $n3 $n4 $n5"
[[ $n4 -eq $((n3 + 1)) ]] || fail "an editor's save over the file must continue its history (v$n3 -> v$n4)"

expect_rc 0 nx versions history /doc.txt
for ((n = 1; n <= n5; n++)); do
  grep -qE "^ +$n  " "$TEST_ROOT/out" || fail "history table has no row for version $n"
done
grep -q "agent-7/task-42" "$TEST_ROOT/out" || fail "history table: agent/task missing"
[[ $(version_field /doc.txt "$n2" '["command"]') == bash ]] || fail "v$n2 written by the shell must name bash"
[[ $(version_field /doc.txt "$n5" '["command"]') == bash ]] || fail "v$n5 must name bash"
[[ $(version_field /doc.txt "$n5" '["agent_id"]') == agent-7 ]] || fail "v$n5 agent id"
# sed -i exits at once; the daemon read its name when the change was made.
[[ $(version_field /doc.txt "$n3" '["command"]') == sed ]] || fail "v$n3 (sed -i) must name sed"
expect_rc 0 nx --json metadata /doc.txt
[[ $(json_get 'j[0]["version"]') == "$n5" ]] || fail "metadata must report the latest version $n5"
expect_rc 0 nx --json stat /doc.txt
[[ $(json_get 'j[0]["version"]') == "$n5" ]] || fail "stat must report the latest version $n5: $(out)"
[[ $(version_field /doc.txt "$n5" '["task_id"]') == task-42 ]] || fail "v$n5 task id"
[[ $(version_field /doc.txt "$n2" '["agent_id"]') == None ]] || fail "v$n2 has no agent id"
[[ $(version_field /doc.txt "$n2" '["size"]') == $(stat -c %s "$S/v2") ]] || fail "v$n2 size"

note "get returns exactly what was written"
for k in 1 2 3 4 5; do
  n=$(eval echo "\$n$k")
  expect_rc 0 nx versions get /doc.txt --version "$n" -o "$TEST_ROOT/got$k"
  cmp -s "$TEST_ROOT/got$k" "$S/v$k" || fail "versions get v$n -o differs from what was written"
done
nx versions get /doc.txt --version "$n2" >"$TEST_ROOT/got2.stdout"
cmp -s "$TEST_ROOT/got2.stdout" "$S/v2" || fail "versions get to stdout differs"
expect_rc 0 nx --json versions get /doc.txt --version "$n1"
[[ $(json_get 'j["content"]') == "first line" && $(json_get 'j["info"]["number"]') == "$n1" ]] ||
  fail "get --json"
# A version larger than one reply comes back whole.
head -c 20000000 /dev/urandom >"$S/big.bin"
cp "$S/big.bin" "$M/big.bin"
nb=$(wait_content /big.bin "$S/big.bin")
expect_rc 0 nx versions get /big.bin --version "$nb" -o "$TEST_ROOT/big.got"
cmp -s "$TEST_ROOT/big.got" "$S/big.bin" || fail "a 20 MB version fetched in pieces differs"
rm "$M/big.bin" "$S/big.bin"

note "errors: a missing version or file is 'not found', exit 1"
expect_rc 1 nx versions get /doc.txt --version 999
grep -q "not found" "$TEST_ROOT/err" || fail "missing version: no 'not found'"
expect_rc 1 nx versions history /never-written.txt
grep -q "not found" "$TEST_ROOT/err" || fail "unversioned file: no 'not found'"
expect_rc 1 nx --json versions diff /doc.txt --v1 1 --v2 999
[[ $(json_get 'j["error"]["code"]') == notFound ]] || fail "--json error code"
expect_rc 1 nx versions history /.nexus/anything
grep -q "not itself versioned" "$TEST_ROOT/err" || fail "paths under /.nexus are refused"

note "diff: unified for text, a summary for binary, records with --mode metadata"
expect_rc 0 nx versions diff /doc.txt --v1 "$n1" --v2 "$n5"
grep -q '^--- a/doc.txt' "$TEST_ROOT/out" || fail "diff: no unified header"
grep -q '^-first line' "$TEST_ROOT/out" || fail "diff: removed line"
grep -q '^+1st line' "$TEST_ROOT/out" || fail "diff: added line"
grep -q '^+fourth line' "$TEST_ROOT/out" || fail "diff: added line 4"
printf 'BIN\x00\x01\x02' >"$S/blob1"
printf 'BIN\x00\x01\x02\x03\x04' >"$S/blob2"
cp "$S/blob1" "$M/blob.bin"
b1=$(wait_content /blob.bin "$S/blob1")
cp "$S/blob2" "$M/blob.bin"
b2=$(wait_content /blob.bin "$S/blob2")
expect_rc 0 nx versions diff /blob.bin --v1 "$b1" --v2 "$b2"
grep -q "binary files differ: 6 → 8 bytes" "$TEST_ROOT/out" || fail "binary diff summary: $(cat "$TEST_ROOT/out")"
expect_rc 0 nx versions diff /doc.txt --v1 "$n1" --v2 "$n5" --mode metadata
grep -q "^version: $n1 → $n5" "$TEST_ROOT/out" || fail "metadata diff: $(cat "$TEST_ROOT/out")"
grep -q "^size: " "$TEST_ROOT/out" || fail "metadata diff: no size line"

note "rollback writes the old content back and adds a version"
expect_rc 0 nx versions rollback /doc.txt --version "$n2"
cmp -s "$M/doc.txt" "$S/v2" || fail "rollback: the mount does not show v$n2's content"
nr=$(wait_content /doc.txt "$S/v2")
[[ $nr -eq $((n5 + 1)) ]] || fail "rollback must add exactly one version (v$nr after v$n5)"
[[ $(version_field /doc.txt "$nr" '["note"]') == "rollback to v$n2" ]] || fail "rollback note"
sleep 0.5  # the write back's own capture must not add a version
[[ $(count_versions /doc.txt) -eq $nr ]] || fail "rollback's write back was recorded again"
expect_rc 1 nx versions rollback /doc.txt --version 999
grep -q "not found" "$TEST_ROOT/err" || fail "rollback to a missing version"

note "rm, then restore brings the file back"
rm "$M/doc.txt"
for ((i = 0; i < 100; i++)); do
  nx --json versions history /doc.txt >"$TEST_ROOT/out"
  [[ $(json_get 'j["deleted"]') == True ]] && break
  sleep 0.05
done
[[ $(json_get 'j["deleted"]') == True ]] || fail "history must say the file is deleted"
expect_rc 0 nx versions restore /doc.txt
cmp -s "$M/doc.txt" "$S/v2" || fail "restore: content differs from the last version"
nx --json versions history /doc.txt >"$TEST_ROOT/out"
nrestore=$(json_get 'j["versions"][-1]["number"]')
[[ $nrestore -eq $((nr + 1)) ]] || fail "restore must add one version"
[[ $(json_get 'j["versions"][-1]["note"]') == restore ]] || fail "restore note"
[[ $(json_get 'j["deleted"]') == False ]] || fail "restored file still marked deleted"

note "rename keeps the history"
mv "$M/doc.txt" "$M/renamed.txt"
for ((i = 0; i < 100; i++)); do
  [[ $(count_versions /renamed.txt) -ge $nrestore ]] && break
  sleep 0.05
done
[[ $(count_versions /renamed.txt) -eq $nrestore ]] || fail "renamed file must keep its $nrestore versions"
expect_rc 0 nx versions get /renamed.txt --version "$n3" -o "$TEST_ROOT/after-rename"
cmp -s "$TEST_ROOT/after-rename" "$S/v3" || fail "v$n3 after rename"

note "export: stock git reads the history (log, show, diff, bisect run)"
for i in 1 2 3 4 5 6 7 8; do
  { seq 1 "$i" | sed 's/^/step /'; [[ $i -ge 5 ]] && echo "REGRESSION"; } >"$S/bisect$i"
  cp "$S/bisect$i" "$M/bisect.txt"
  nbis=$(wait_content /bisect.txt "$S/bisect$i")
  expect_rc 0 nx versions flush  # one commit per step
  [[ $i -eq 5 ]] && bad_commit=$(version_field /bisect.txt "$nbis" '["commit"]')
done
[[ ${#bad_commit} -eq 40 ]] || fail "the version with the regression has no commit after flush"
expect_rc 0 nx versions export --git "$TEST_ROOT/export"
E="$TEST_ROOT/export"
git -C "$E" log --oneline root >"$TEST_ROOT/log" || fail "git log on the export"
[[ $(git -C "$E" log --format=%H root -- bisect.txt | wc -l) -ge 8 ]] || fail "8 commits touch bisect.txt"
git -C "$E" show "root:renamed.txt" | cmp -s - "$S/v2" || fail "git show root:renamed.txt"
first=$(git -C "$E" log --format=%H --reverse root -- bisect.txt | awk 'NR == 1')
git -C "$E" diff "$first" root -- bisect.txt >"$TEST_ROOT/gitdiff"
grep -q '^+REGRESSION' "$TEST_ROOT/gitdiff" || fail "git diff of the export"
git -C "$E" bisect start root "$first" >/dev/null
git -C "$E" bisect run sh -c '! grep -q REGRESSION bisect.txt' >"$TEST_ROOT/bisect" 2>&1 ||
  fail "git bisect run: $(tail -n 5 "$TEST_ROOT/bisect")"
found=$(grep -oE '^[0-9a-f]{40} is the first bad commit' "$TEST_ROOT/bisect" | cut -d' ' -f1)
git -C "$E" bisect reset >/dev/null 2>&1
[[ -n $found ]] || fail "bisect found nothing: $(tail -n 5 "$TEST_ROOT/bisect")"
[[ $(git -C "$E" show "$found:bisect.txt") == *REGRESSION* ]] || fail "bisect: the found commit lacks the line"
[[ $(git -C "$E" show "$found^:bisect.txt") != *REGRESSION* ]] || fail "bisect: the parent already has the line"
[[ $found == "$bad_commit" ]] || fail "bisect found $found, the regression landed in $bad_commit"
expect_rc 1 nx versions export --git "$E"  # not empty
expect_rc 1 nx versions export --git "$M/inside"
grep -q "overlaps the mount" "$TEST_ROOT/err" || fail "export into the mount must be refused"

note "snapshots: create, list, info, entries, restore, undo, delete"
mkdir -p "$M/proj/src" "$M/proj/docs"
echo "int main() { return 0; }" >"$M/proj/src/main.c"
echo "docs" >"$M/proj/docs/guide.md"
# Created executable (cp gives a new file its source's mode).
printf '#!/bin/sh\necho hi\n' >"$S/run.sh"
chmod 755 "$S/run.sh"
cp "$S/run.sh" "$M/proj/run.sh"
wait_content /proj/run.sh "$S/run.sh" >/dev/null
expect_rc 0 nx versions flush
cp -a "$M/proj" "$S/proj-snap"
expect_rc 0 nx --json snapshot create --description "before the refactor" --zone root
snap=$(json_get 'j["id"]')
[[ $(json_get 'j["zones"]') == "['root']" ]] || fail "snapshot zones"
expect_rc 0 nx snapshot list
grep -q "before the refactor" "$TEST_ROOT/out" || fail "snapshot list"
expect_rc 0 nx --json snapshot info "$snap"
[[ $(json_get 'j["description"]') == "before the refactor" ]] || fail "snapshot info description"
[[ $(json_get 'j["files"]') -ge 5 ]] || fail "snapshot info: file count"
expect_rc 0 nx snapshot entries "$snap"
grep -q " /proj/src/main.c$" "$TEST_ROOT/out" || fail "snapshot entries lists main.c"
grep -q "^100755 .* /proj/run.sh$" "$TEST_ROOT/out" || fail "snapshot entries: executable mode"

echo "int main() { return 1; }" >"$M/proj/src/main.c"
rm -r "$M/proj/docs"
echo "new" >"$M/proj/src/new.c"
mkdir -p "$M/proj/extra/deep"
echo "x" >"$M/proj/extra/deep/file"
cp "$M/proj/src/main.c" "$S/main.c"
wait_content /proj/src/main.c "$S/main.c" >/dev/null
cp -a "$M/proj" "$S/proj-modified"
expect_rc 0 nx --json snapshot restore "$snap"
undo=$(json_get 'j["undo_snapshot"]')
[[ $(json_get 'j["written"]') -ge 2 && $(json_get 'j["removed"]') -ge 2 ]] || fail "restore counts"
diff -r "$M/proj" "$S/proj-snap" >"$TEST_ROOT/tree.diff" || fail "snapshot restore: tree differs: $(head -n 5 "$TEST_ROOT/tree.diff")"
[[ -x "$M/proj/run.sh" ]] || fail "restored run.sh lost its x bit"
expect_rc 0 nx --json snapshot info "$undo"
[[ $(json_get 'j["automatic"]') == True ]] || fail "the undo snapshot must be automatic"
expect_rc 0 nx snapshot restore "$undo"
diff -r "$M/proj" "$S/proj-modified" >"$TEST_ROOT/tree.diff" || fail "undo: tree differs: $(head -n 5 "$TEST_ROOT/tree.diff")"
expect_rc 0 nx snapshot delete "$snap"
expect_rc 1 nx snapshot info "$snap"
grep -q "not found" "$TEST_ROOT/err" || fail "deleted snapshot: not found"
expect_rc 1 nx snapshot restore 999999
grep -q "not found" "$TEST_ROOT/err" || fail "missing snapshot restore: not found"

note "a non-admin uid: history of what it may read, admin-only maintenance"
chgrp 1000 "$NEXUS_DATA/nexusd.sock"
as_user() { setpriv --reuid 1000 --regid 1000 --clear-groups env NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home1000" "$NEXUS_CLI" "$@"; }
echo "private" >"$M/private.txt"
chmod 600 "$M/private.txt"
wait_content /private.txt "$M/private.txt" >/dev/null
expect_rc 0 as_user versions history /renamed.txt
expect_rc 0 as_user versions get /renamed.txt --version "$n1"
expect_rc 1 as_user versions history /private.txt
grep -qi "may not read" "$TEST_ROOT/err" || fail "non-admin history of an unreadable file"
expect_rc 1 as_user versions get /private.txt --version 1
expect_rc 1 as_user versions rollback /renamed.txt --version 1
grep -qi "may not write" "$TEST_ROOT/err" || fail "non-admin rollback of a root-owned 0644 file"
[[ $(count_versions /renamed.txt) -eq $nrestore ]] || fail "a denied rollback must record nothing"
mkdir -m 0777 "$M/shared"
as_user write /shared/mine.txt "one" >/dev/null || fail "uid 1000 write"
printf one >"$S/one"
m1=$(wait_content /shared/mine.txt "$S/one")
as_user write /shared/mine.txt "two" >/dev/null || fail "uid 1000 write"
printf two >"$S/two"
wait_content /shared/mine.txt "$S/two" >/dev/null
expect_rc 0 as_user versions rollback /shared/mine.txt --version "$m1"
[[ $(cat "$M/shared/mine.txt") == one ]] || fail "non-admin rollback of its own file"
[[ $(stat -c %u "$M/shared/mine.txt") == 1000 ]] || fail "rollback must keep the owner"
expect_rc 0 as_user versions stats
expect_rc 0 as_user snapshot list
for c in "versions gc" "versions export --git $TEST_ROOT/export-1000" "snapshot restore $undo" \
  "snapshot delete $undo"; do
  # shellcheck disable=SC2086
  expect_rc 1 as_user $c
  grep -qi "admins only" "$TEST_ROOT/err" || fail "non-admin '$c': no permission-denied message"
done
expect_rc 1 as_user --json versions gc
[[ $(json_get 'j["error"]["code"]') == permissionDenied ]] || fail "gc denial code"
[[ ! -e "$TEST_ROOT/export-1000" ]] || fail "a denied export wrote something"
chgrp 0 "$NEXUS_DATA/nexusd.sock"

note "a workspace file is versioned in zone local; the workspace's .git is untouched"
echo "notes v1" >"$M/zone/local/notes.md"
cp "$M/zone/local/notes.md" "$S/notes1"
wait_content /zone/local/notes.md "$S/notes1" >/dev/null
echo "notes v2" >>"$M/zone/local/notes.md"
cp "$M/zone/local/notes.md" "$S/notes2"
wait_content /zone/local/notes.md "$S/notes2" >/dev/null
expect_rc 0 nx --json versions history /zone/local/notes.md
[[ $(json_get 'j["path"]') == /zone/local/notes.md ]] || fail "workspace history path"
expect_rc 0 nx --json snapshot create --zone local --description ws
[[ $(json_get 'j["zones"]') == "['local']" ]] || fail "workspace snapshot zone"
expect_rc 0 nx versions export --git "$TEST_ROOT/export-ws"
[[ $(git -C "$TEST_ROOT/export-ws" show local:notes.md) == *"notes v2"* ]] || fail "export: branch local"
[[ $(git -C "$WS" rev-parse HEAD) == "$ws_head" ]] || fail "the workspace's HEAD moved"
[[ $(git -C "$WS" for-each-ref) == "$ws_refs" ]] || fail "the workspace's refs changed"
git -C "$WS" fsck --no-progress >/dev/null 2>&1 || fail "the workspace's repository is damaged"
[[ $(git -C "$WS" status --porcelain) == "?? notes.md" ]] || fail "workspace status: $(git -C "$WS" status --porcelain)"

note "stats and gc --keep-versions 1"
expect_rc 0 nx --json versions stats
[[ $(json_get 'j["versions"]') -ge 20 ]] || fail "stats: versions"
before=$(json_get 'j["versions"]')
expect_rc 0 nx --json versions gc --keep-versions 1
dropped=$(json_get 'j["versions_dropped"]')
[[ $dropped -gt 0 ]] || fail "gc dropped nothing"
[[ $(count_versions /renamed.txt) -eq 1 ]] || fail "gc --keep-versions 1 must leave one version"
expect_rc 0 nx versions get /renamed.txt --version "$nrestore" -o "$TEST_ROOT/after-gc"
cmp -s "$TEST_ROOT/after-gc" "$M/renamed.txt" || fail "the latest version must survive gc"
expect_rc 1 nx versions get /renamed.txt --version "$n2"
expect_rc 0 nx --json versions stats
[[ $(json_get 'j["versions"]') -eq $((before - dropped)) ]] || fail "stats after gc"

note "crash: a journaled version survives kill -9 and is committed at restart"
nexus_stop
nexus_start --workspace "$WS" --versions-commit-window-ms 60000
echo "written just before the crash" >"$S/crash"
cp "$S/crash" "$M/crash.txt"
nc=$(wait_content /crash.txt "$S/crash")
[[ $(version_field /crash.txt "$nc" '["commit"]') == None ]] || fail "with a 60 s window the version must still be journaled"
nexus_kill9
nexus_start_over_stale --workspace "$WS" --versions-commit-window-ms 60000
[[ $(count_versions /crash.txt) -eq $nc ]] || fail "the journaled version was lost in the crash"
commit=$(version_field /crash.txt "$nc" '["commit"]')
[[ ${#commit} -eq 40 ]] || fail "the journaled version was not committed at restart ($commit)"
[[ $(nx versions get /crash.txt --version "$nc") == "written just before the crash" ]] || fail "crash content"

nexus_stop

note "a daemon without versioning says so"
nexus_start --profile lite
expect_rc 69 nx --json versions history /crash.txt
[[ $(json_get 'j["error"]["code"]') == unavailable ]] || fail "versions off: error code"
grep -q "^nexus: unavailable: versions — versioning is off" "$TEST_ROOT/err" || fail "versions off: message"
expect_rc 69 nx snapshot list
nexus_stop
echo "versions: all checks passed"
