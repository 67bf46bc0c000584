#!/usr/bin/env bash
# Forks on a real daemon and mount, driven with the nexus CLI and ordinary
# tools: a fork of a source tree at /forks/NAME takes git (clone, commits,
# fsck), tar (x and c, compared with diff -r), sqlite3, make and rsync while
# the base stays byte-identical; changes do not leak either way; fork diff
# prints a git-style diff (--stat, --name-only, --json); a clean merge
# combines both sides' changes, a conflicting one reports its hunks and
# writes nothing conflicting until --theirs; forks survive a restart;
# discard and gc; who may fork, see and merge; a fork made for an agent and
# mounted for it is all that agent sees; bad input gets clear errors.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
export GIT_AUTHOR_NAME=nexus GIT_AUTHOR_EMAIL=nexus@example.invalid
export GIT_COMMITTER_NAME=nexus GIT_COMMITTER_EMAIL=nexus@example.invalid
export GIT_CONFIG_NOSYSTEM=1 HOME="$TEST_ROOT/home"
mkdir -p "$HOME"
git config --global init.defaultBranch main
git config --global safe.directory '*'
git config --global gc.auto 0

M=$NEXUS_MNT
same() { [[ "$2" == "$3" ]] || fail "$1: expected [$2], got [$3]"; }
# A hash of the base's bytes, names, modes, owners and mtimes.
base_hash() { tar -C "$M" --sort=name --numeric-owner -cf - src | sha256sum | cut -d' ' -f1; }

nexus_start
expect_rc 0 nx --json features
expect_json '[f["state"] for f in j["features"] if f["name"]=="forks"][0]' enabled

note "a source tree on the mount"
mkdir -p "$M/src/lib" "$M/src/docs"
(cd /usr/include && find linux -maxdepth 1 -type f -name '*.h' | sort | sed -n 1,150p) >"$TEST_ROOT/headers"
tar -C /usr/include -cf - -T "$TEST_ROOT/headers" | tar -C "$M/src" -xf -
cat >"$M/src/Makefile" <<'EOF'
app: main.o lib/util.o
	$(CC) -o $@ $^
%.o: %.c
	$(CC) -c -o $@ $<
clean:
	rm -f app main.o lib/util.o
EOF
printf '#include <stdio.h>\nint util(void);\nint main(void) { printf("%%d\\n", util()); return 0; }\n' >"$M/src/main.c"
printf 'int util(void) { return 41; }\n' >"$M/src/lib/util.c"
seq 1 40 | sed 's/^/line /' >"$M/src/docs/notes.txt"
seq 1 40 | sed 's/^/row /' >"$M/src/docs/shared.txt"
echo "gone soon" >"$M/src/docs/old.txt"
echo "moving" >"$M/src/docs/move-me.txt"
echo '#!/bin/sh' >"$M/src/run.sh"
head -c 4096 /dev/urandom >"$M/src/blob.bin"
printf 'conflict base\n' >"$M/src/docs/clash.txt"
# POSIX bits wide open: ReBAC decides who may do what (below).
chmod -R a+rwX "$M/src"
sync
H0=$(base_hash)

note "create: constant time, nothing copied, the fork reads like its base"
expect_rc 0 nx --json fork create work --from /src
expect_json 'j["name"], j["path"], j["base"], j["pin"], j["state"]' "('work', '/forks/work', '/src', 'live', 'active')"
expect_json 'j["owner"] == j["created_by"] and j["parent_fork"] is None' True
same "ls /forks" "work" "$(ls "$M/forks")"
diff -r "$M/src" "$M/forks/work" >/dev/null || fail "a new fork differs from its base"
expect_rc 0 nx --json fork list
expect_json '[f["name"] for f in j["forks"]]' "['work']"
expect_rc 0 nx fork info work
grep -q "base: *\/src" "$TEST_ROOT/out" || fail "fork info: $(out)"

note "git inside the fork: init, commits, clone, fsck"
W="$M/forks/work"
git -C "$W" init -q && git -C "$W" add -A && git -C "$W" commit -qm import || fail "git import in the fork"
sed -i 's/41/42/' "$W/lib/util.c"
git -C "$W" mv docs/move-me.txt docs/moved.txt || fail "git mv in the fork"
git -C "$W" commit -qam "edit and move" || fail "git commit in the fork"
git -C "$W" fsck --full --strict 2>"$TEST_ROOT/err" || fail "git fsck in the fork: $(cat "$TEST_ROOT/err")"
git clone -q "$W" "$TEST_ROOT/clone" || fail "git clone of the fork"
diff -r -x .git "$W" "$TEST_ROOT/clone" >/dev/null || fail "the clone differs from the fork's work tree"
[[ -z $(git -C "$W" status --porcelain) ]] || fail "git status in the fork is not clean"

note "tar x and c inside the fork"
mkdir "$W/untar"
tar -C /usr/include -cf - -T "$TEST_ROOT/headers" | tar -C "$W/untar" -xf - || fail "tar x into the fork"
diff -r /usr/include/linux "$W/untar/linux" 2>/dev/null | grep -v '^Only in /usr' | grep -q . &&
  fail "tar x into the fork: contents differ"
tar -C "$W" -cf "$TEST_ROOT/fork.tar" untar docs || fail "tar c from the fork"
mkdir "$TEST_ROOT/out-tar" && tar -C "$TEST_ROOT/out-tar" -xf "$TEST_ROOT/fork.tar"
diff -r "$W/docs" "$TEST_ROOT/out-tar/docs" || fail "tar c from the fork: docs differ"
diff -r "$W/untar" "$TEST_ROOT/out-tar/untar" || fail "tar c from the fork: untar differs"

note "sqlite3 inside the fork"
sqlite3 "$W/app.db" "create table t(id integer primary key, v text);" || fail "sqlite3 create"
for i in $(seq 1 20); do
  sqlite3 "$W/app.db" "begin; insert into t(v) select hex(randomblob(64)) from (select 1 union all select 2 union all select 3 union all select 4 union all select 5); commit;"
done
same "sqlite rows" 100 "$(sqlite3 "$W/app.db" 'select count(*) from t')"
same "sqlite integrity" ok "$(sqlite3 "$W/app.db" 'pragma integrity_check')"

note "make inside the fork"
make -s -C "$W" >/dev/null 2>&1 || fail "make in the fork"
same "the fork's program" 42 "$("$W/app")"
touch "$W/lib/util.c" && make -s -C "$W" >/dev/null 2>&1 || fail "make after touch"
make -s -C "$W" clean >/dev/null || fail "make clean"

note "rsync into the fork"
mkdir "$TEST_ROOT/rs" && cp -a /usr/include/linux/. "$TEST_ROOT/rs/" 2>/dev/null
rsync -a "$TEST_ROOT/rs/" "$W/rs/" || fail "rsync into the fork"
[[ -z $(rsync -a --checksum --itemize-changes --dry-run "$TEST_ROOT/rs/" "$W/rs/") ]] ||
  fail "a second rsync still finds differences"
diff -r "$TEST_ROOT/rs" "$W/rs" >/dev/null || fail "rsync: trees differ"

note "the base is byte-identical after all of it"
sync
same "base hash" "$H0" "$(base_hash)"
[[ ! -e "$M/src/.git" && ! -e "$M/src/app.db" ]] || fail "the fork's files leaked into the base"

note "isolation: a change in the base after fork time stays out of the fork"
echo "base only" >"$M/src/docs/after.txt"
sed -i 's/^line 1$/line 1 (base edit)/' "$M/src/docs/notes.txt"
rm "$M/src/run.sh"
[[ ! -e "$W/docs/after.txt" ]] || fail "a file made in the base appeared in the fork"
same "the fork's notes" "line 1" "$(head -n1 "$W/docs/notes.txt")"
[[ -e "$W/run.sh" ]] || fail "a file removed from the base vanished from the fork"
echo "fork only" >"$W/docs/fork-only.txt"
[[ ! -e "$M/src/docs/fork-only.txt" ]] || fail "a file made in the fork appeared in the base"
rm "$M/src/docs/after.txt"
echo '#!/bin/sh' >"$M/src/run.sh"

note "fork diff: git-style"
expect_rc 0 nx --json fork create edit --from /src
E="$M/forks/edit"
sed -i 's/^line 30$/line 30 (fork edit)/' "$E/docs/notes.txt"
rm "$E/docs/old.txt"
echo "new in the fork" >"$E/docs/new.txt"
mv "$E/docs/move-me.txt" "$E/docs/moved.txt"
chmod +x "$E/run.sh"
printf '\0binary change' >>"$E/blob.bin"
expect_rc 0 nx fork diff edit
D="$TEST_ROOT/out"
for want in "diff --git a/docs/notes.txt b/docs/notes.txt" "+line 30 (fork edit)" "-line 30" \
  "deleted file mode 100644" "new file mode 100644" "rename from docs/move-me.txt" "rename to docs/moved.txt" \
  "old mode 100644" "new mode 100755" "Binary files a/blob.bin and b/blob.bin differ"; do
  grep -qF -- "$want" "$D" || fail "fork diff lacks '$want': $(head -c 1500 "$D")"
done
expect_rc 0 nx fork diff edit --name-only
same "--name-only" "$(printf '%s\n' blob.bin docs/moved.txt docs/new.txt docs/notes.txt docs/old.txt run.sh | sort)" \
  "$(sort "$TEST_ROOT/out")"
expect_rc 0 nx fork diff edit --stat
grep -q "docs/notes.txt *| *2 +-" "$TEST_ROOT/out" || fail "--stat: $(out)"
grep -q "files changed" "$TEST_ROOT/out" || fail "--stat lacks the summary: $(out)"
expect_rc 0 nx --json fork diff edit
expect_json '{c["path"]: c["kind"] for c in j["changes"]}["docs/old.txt"]' deleted
expect_json '[(c["old_path"], c["kind"]) for c in j["changes"] if c["path"]=="docs/moved.txt"][0]' \
  "('docs/move-me.txt', 'renamed')"
expect_json '[(c["insertions"], c["deletions"]) for c in j["changes"] if c["path"]=="docs/notes.txt"][0]' "(1, 1)"
expect_json '[c["binary"] for c in j["changes"] if c["path"]=="blob.bin"][0]' True
expect_json '[(oct(c["old_mode"]), oct(c["mode"])) for c in j["changes"] if c["path"]=="run.sh"][0]' "('0o100644', '0o100755')"
expect_json '"diff --git" in j["diff"]' True
expect_rc 0 nx --json fork diff edit --stat
expect_json 'j["diff"]' ""

note "fork merge: a dry run predicts, the merge combines both sides"
sed -i 's/^line 2$/line 2 (base edit)/' "$M/src/docs/notes.txt"  # the base moves on
H1=$(base_hash)
expect_rc 0 nx --json fork merge edit --dry-run
cp "$TEST_ROOT/out" "$TEST_ROOT/dry.json"
expect_json 'j["dry_run"], j["applied"], j["conflicts"]' "(True, False, [])"
same "a dry run changes nothing" "$H1" "$(base_hash)"
expect_rc 0 nx --json fork merge edit
expect_json 'j["applied"], j["conflicts"]' "(True, [])"
python3 - "$TEST_ROOT/dry.json" "$TEST_ROOT/out" <<'EOF' || fail "the dry run did not predict the merge"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["entries"] == b["entries"], (a["entries"], b["entries"])
EOF
TASK=$(json_get 'j["task_id"]')
[[ $TASK == fork-merge:edit:* ]] || fail "task id: $TASK"
grep -qx "line 2 (base edit)" "$M/src/docs/notes.txt" || fail "the base's own edit was lost"
grep -qx "line 30 (fork edit)" "$M/src/docs/notes.txt" || fail "the fork's edit was not merged"
[[ ! -e "$M/src/docs/old.txt" && -e "$M/src/docs/new.txt" && -e "$M/src/docs/moved.txt" ]] ||
  fail "deletion, addition or rename not merged: $(ls "$M/src/docs")"
[[ ! -e "$M/src/docs/move-me.txt" ]] || fail "the renamed file is still at its old name"
[[ -x "$M/src/run.sh" ]] || fail "the mode change was not merged"
cmp -s "$M/src/blob.bin" "$E/blob.bin" || fail "the binary change was not merged"
expect_rc 0 nx --json fork info edit
expect_json 'j["merges"]' 1
expect_rc 0 nx --json ops log --task "$TASK"
expect_json 'len(j["operations"]) > 0' True

note "fork merge: a conflict is reported with its hunks and not written"
expect_rc 0 nx fork create clash --from /src
printf 'conflict fork\n' >"$M/forks/clash/docs/clash.txt"
sed -i 's/^row 5$/row 5 (fork)/' "$M/forks/clash/docs/shared.txt"
printf 'conflict base side\n' >"$M/src/docs/clash.txt"
expect_rc 1 nx --json fork merge clash
expect_json '[(c["path"], c["kind"], c["resolved_by"]) for c in j["conflicts"]]' "[('docs/clash.txt', 'content', None)]"
expect_json 'len(j["conflicts"][0]["hunks"]) >= 1 and "<<<<<<<" in j["conflicts"][0]["hunks"][0]["text"]' True
same "the base's side stays" "conflict base side" "$(cat "$M/src/docs/clash.txt")"
grep -qx "row 5 (fork)" "$M/src/docs/shared.txt" || fail "the non-conflicting change did not land"
expect_rc 1 nx fork merge clash
grep -q "CONFLICT (content): docs/clash.txt" "$TEST_ROOT/out" || fail "human merge output: $(out)"
expect_rc 0 nx --json fork merge clash --theirs
expect_json '[c["resolved_by"] for c in j["conflicts"]]' "['theirs']"
same "--theirs takes the fork's side" "conflict fork" "$(cat "$M/src/docs/clash.txt")"

note "a restart keeps the forks, their changes and their fork points"
nexus_stop
nexus_start
expect_rc 0 nx --json fork list
expect_json 'sorted(f["name"] for f in j["forks"])' "['clash', 'edit', 'work']"
same "the fork's own file" "fork only" "$(cat "$W/docs/fork-only.txt")"
same "the fork point" "line 1" "$(head -n1 "$W/docs/notes.txt")"
same "the fork's program source" "int util(void) { return 42; }" "$(cat "$W/lib/util.c")"
git -C "$W" fsck --full --strict 2>/dev/null || fail "git fsck in the fork after a restart"

note "discard and gc"
expect_rc 0 nx --json fork discard work
[[ ! -e "$W" ]] || fail "a discarded fork is still at $W"
same "ls /forks" "clash edit" "$(ls "$M/forks" | tr '\n' ' ' | sed 's/ $//')"
expect_rc 0 nx --json fork info work
expect_json 'j["state"]' discarded
expect_rc 1 nx fork diff work
expect_rc 0 nx --json fork gc
expect_json 'j["removed"] >= 1 and j["freed_bytes"] > 0' True
expect_rc 1 nx fork info work
expect_err "work"

note "bad input"
expect_rc 64 nx fork create 'bad/name' --from /src
expect_rc 64 nx fork create .hidden --from /src
expect_rc 64 nx fork create x --from src
expect_err "absolute"
expect_rc 1 nx fork create x --from /no/such/dir
expect_err "No such file\|no such file\|not found"
expect_rc 1 nx fork create x --from /src/main.c
expect_err "not a directory"
expect_rc 1 nx fork create edit --from /src
expect_err "xist"
expect_rc 1 nx fork info nosuch
expect_rc 1 nx fork merge nosuch
expect_rc 64 nx fork merge edit --theirs --ours
expect_rc 64 nx fork create
expect_rc 0 nx fork create --help
grep -q "Usage: nexus fork create" "$TEST_ROOT/out" || fail "fork create --help"

note "permissions: who may fork, see, merge and discard"
chgrp "$USERS_GID" "$NEXUS_DATA/nexusd.sock"
expect_rc 0 nx identity bind --uid "$ALICE_UID" user:alice
expect_rc 0 nx identity bind --uid "$BOB_UID" user:bob
set +e
alice fork create a1 --from /src >"$TEST_ROOT/out" 2>"$TEST_ROOT/err"
rc=$?
set -e
((rc == 1)) || fail "a non-reader forked /src (exit $rc)"
grep -qi "no such file" "$TEST_ROOT/err" || fail "a non-reader's fork: $(cat "$TEST_ROOT/err")"
expect_rc 0 nx rebac share /src/docs user alice --role viewer
alice --json fork create a1 --from /src/docs >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" ||
  fail "a reader could not fork: $(cat "$TEST_ROOT/err")"
expect_json 'j["owner"], j["base"]' "('user:alice', '/src/docs')"
alice --json fork list >"$TEST_ROOT/out" || fail "alice's fork list"
expect_json '[f["name"] for f in j["forks"]]' "['a1']"
bob --json fork list >"$TEST_ROOT/out" || fail "bob's fork list"
expect_json 'j["forks"]' "[]"
bob fork diff a1 >"$TEST_ROOT/out" 2>&1 && fail "bob read alice's fork"
bob fork discard a1 >"$TEST_ROOT/out" 2>&1 && fail "bob discarded alice's fork"
shell "$ALICE_UID" "echo alice >> $M/forks/a1/notes.txt" || fail "alice cannot write in her fork: $(cat "$TEST_ROOT/err")"
shell "$ALICE_UID" "echo alice > $M/src/docs/alice.txt" && fail "alice wrote in a folder she only reads"
alice --json fork merge a1 >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" && fail "alice merged into a folder she only reads"
grep -qi "permission denied\|may not" "$TEST_ROOT/err" || fail "a refused merge: $(cat "$TEST_ROOT/err")"
alice --json fork discard a1 >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" || fail "alice could not discard her fork"
bob fork gc >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" && fail "a non-admin ran fork gc"
grep -q "admins only" "$TEST_ROOT/err" || fail "fork gc as bob: $(cat "$TEST_ROOT/err")"

note "--for agent:ID and a per-subject mount: the agent sees its fork and nothing else"
expect_rc 0 nx agent register bot Bot
alice fork create b1 --from /src/docs --for agent:bot >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" &&
  fail "alice forked for an agent she does not own"
expect_rc 0 nx --json fork create botfork --from /src --for agent:bot
expect_json 'j["owner"], j["created_by"]' "('agent:bot', 'user:admin')"
V="$TEST_ROOT/botview"
mkdir -p "$V"
expect_rc 0 nx mount add "$V" --as agent:bot --root /forks/botfork
diff -r "$M/src" "$V" >/dev/null || fail "the agent's mount does not show its fork"
echo "from the bot" >"$V/docs/bot.txt" || fail "the agent cannot write in its fork"
[[ -e "$M/forks/botfork/docs/bot.txt" && ! -e "$M/src/docs/bot.txt" ]] || fail "the agent's write went astray"
expect_rc 0 nx mount remove "$V"
A="$TEST_ROOT/botall"
mkdir -p "$A"
expect_rc 0 nx mount add "$A" --as agent:bot
same "what the agent sees under /forks" "botfork" "$(ls "$A/forks")"
[[ ! -e "$A/src" ]] || fail "the agent sees /src"
( echo x >"$A/top.txt" ) 2>/dev/null && fail "the agent wrote outside its fork"
( echo x >"$A/src/x.txt" ) 2>/dev/null && fail "the agent wrote in the base"
same "the agent's file" "from the bot" "$(cat "$A/forks/botfork/docs/bot.txt")"
expect_rc 0 nx mount remove "$A"
expect_rc 0 nx --json fork merge botfork
expect_json '[e["path"] for e in j["entries"]]' "['docs/bot.txt']"
same "merged as the agent's change" "from the bot" "$(cat "$M/src/docs/bot.txt")"
expect_rc 0 nx --json ops log --task "$(json_get 'j["task_id"]')"
expect_json 'sorted({o["subject"] for o in j["operations"]})' "['agent:bot']"

note "features: forks off"
nexus_stop
nexus_start --features forks=off
expect_rc 0 nx --json features
expect_json '[f["state"] for f in j["features"] if f["name"]=="forks"][0]' disabled
expect_rc 69 nx fork list
nexus_stop
