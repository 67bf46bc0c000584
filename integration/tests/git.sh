#!/usr/bin/env bash
# git on the mount: a repository of a few hundred real files (from
# /usr/include) goes through several commits (edits, deletions, renames,
# mode changes), `git gc` and `git fsck --full --strict`; the history must be
# complete, the work tree clean, and a clone from the mount to the local disk
# must be identical. A restart of the daemon must leave the repository intact
# and the stat data git caches in its index unchanged; a clone from the local
# disk onto the mount must work too.
source "$(dirname "$0")/../lib.sh"

export GIT_AUTHOR_NAME=nexus GIT_AUTHOR_EMAIL=nexus@example.invalid
export GIT_COMMITTER_NAME=nexus GIT_COMMITTER_EMAIL=nexus@example.invalid
export GIT_CONFIG_NOSYSTEM=1 HOME="$TEST_ROOT/home"
mkdir -p "$HOME"
git config --global init.defaultBranch main
git config --global safe.directory '*'
git config --global gc.auto 0

nexus_start
REPO="$NEXUS_MNT/repo"
CLONE="$TEST_ROOT/clone"

# Runs git in the repository on the mount; any failure fails the test.
g() { git -C "$REPO" "$@" || fail "git $* failed in $REPO"; }

note "populate the work tree from /usr/include"
mkdir "$REPO"
# A deterministic selection: the first 300 regular files of a sorted listing.
(cd /usr/include && find linux asm-generic -type f -name '*.h' | LC_ALL=C sort | sed -n '1,300p') \
  >"$TEST_ROOT/files"
[[ $(wc -l <"$TEST_ROOT/files") -eq 300 ]] || fail "could not find 300 headers in /usr/include"
tar -C /usr/include -cf - -T "$TEST_ROOT/files" | tar -C "$REPO" -xf - ||
  fail "copying headers onto the mount failed"

note "commit 1: initial import"
g init -q
g add -A
g commit -q -m "import 300 headers"
[[ $(g ls-files | wc -l) -eq 300 ]] || fail "index should hold 300 files after the first commit"

note "commit 2: edit 50 files"
head -n 50 "$TEST_ROOT/files" | while read -r f; do
  echo "/* edited on nexusfs: $f */" >>"$REPO/$f"
done
g commit -q -a -m "edit 50 headers"
[[ $(g show --name-only --format= HEAD | wc -l) -eq 50 ]] || fail "commit 2 should touch 50 files"

note "commit 3: delete 20, rename 20 into a new directory, chmod +x 5"
mkdir "$REPO/moved"
sed -n 51,70p "$TEST_ROOT/files" | while read -r f; do g rm -q "$f"; done
sed -n 71,90p "$TEST_ROOT/files" | while read -r f; do g mv "$f" "moved/$(echo "$f" | tr / _)"; done
sed -n 91,95p "$TEST_ROOT/files" | while read -r f; do chmod +x "$REPO/$f"; done
g add -A
g commit -q -m "delete, rename, chmod"
[[ $(g ls-files | wc -l) -eq 280 ]] || fail "index should hold 280 files after commit 3"
[[ $(g ls-files -s | awk '$1 == "100755"' | wc -l) -eq 5 ]] ||
  fail "5 files should be recorded executable (mode changes lost?)"

note "commit 4: many small commits on a branch, merged back"
g checkout -q -b side
for i in $(seq 1 10); do
  echo "line $i" >>"$REPO/side.txt"
  g add side.txt
  g commit -q -m "side $i"
done
g checkout -q main
g merge -q --no-ff -m "merge side" side
COMMITS=$(g rev-list --count HEAD)
[[ $COMMITS -eq 14 ]] || fail "expected 14 commits reachable from HEAD, got $COMMITS"
[[ $(g log --oneline | wc -l) -eq 14 ]] || fail "git log should list 14 commits"

note "git status is clean"
[[ -z $(g status --porcelain) ]] || { g status --porcelain | head; fail "work tree not clean after commits"; }

note "git gc and fsck"
g gc -q --aggressive --prune=now
[[ -z $(find "$REPO/.git/objects" -path '*/objects/??/*' -type f) ]] ||
  fail "loose objects left after gc --prune=now"
ls "$REPO"/.git/objects/pack/*.pack >/dev/null 2>&1 || fail "no pack file after gc"
g fsck --full --strict --no-dangling
g verify-pack "$REPO"/.git/objects/pack/*.idx >/dev/null
HEAD_ID=$(g rev-parse HEAD)

note "clone from the mount to the local disk"
git clone -q --no-local "$REPO" "$CLONE" || fail "git clone from the mount failed"
[[ $(git -C "$CLONE" rev-parse HEAD) == "$HEAD_ID" ]] || fail "clone HEAD differs from the mount's HEAD"
git -C "$CLONE" fsck --full --strict --no-dangling || fail "fsck of the clone failed"
[[ $(git -C "$CLONE" rev-list --count HEAD) -eq 14 ]] || fail "clone has the wrong number of commits"
diff -r --exclude=.git "$REPO" "$CLONE" >/dev/null || fail "work tree on the mount differs from the clone"
diff <(cd "$REPO" && find . -path ./.git -prune -o -type f -printf '%m %P\n' | LC_ALL=C sort) \
  <(cd "$CLONE" && find . -path ./.git -prune -o -type f -printf '%m %P\n' | LC_ALL=C sort) ||
  fail "file modes on the mount differ from the clone"

note "restart the daemon; the repository survives"
g update-index --refresh >/dev/null
g diff-files --quiet || fail "git sees modified files right after refreshing the index"
nexus_stop
nexus_start
[[ $(g rev-parse HEAD) == "$HEAD_ID" ]] || fail "HEAD changed across a restart"
# diff-files trusts the index's cached stat data (mtime, ctime, inode, size):
# any of them changing across the restart shows up as a modified file.
g diff-files --quiet || { g diff-files --name-only | head >&2; fail "stat data (inode/ctime/mtime) changed across a restart: git sees files as modified"; }
g fsck --full --strict --no-dangling
[[ -z $(g status --porcelain) ]] || { g status --porcelain | head; fail "work tree not clean after restart"; }

note "clone from the local disk onto the mount, then commit and fetch back"
git clone -q --no-local "$CLONE" "$NEXUS_MNT/clone2" || fail "git clone onto the mount failed"
git -C "$NEXUS_MNT/clone2" fsck --full --strict --no-dangling || fail "fsck of the clone on the mount failed"
diff -r --exclude=.git "$CLONE" "$NEXUS_MNT/clone2" >/dev/null || fail "clone on the mount differs from its source"
echo "from clone2" >"$NEXUS_MNT/clone2/new.txt"
git -C "$NEXUS_MNT/clone2" add new.txt && git -C "$NEXUS_MNT/clone2" commit -q -m "from clone2" ||
  fail "commit in the clone on the mount failed"
git -C "$CLONE" pull -q --no-rebase "$NEXUS_MNT/clone2" main || fail "pull from the mount failed"
[[ $(cat "$CLONE/new.txt") == "from clone2" ]] || fail "pulled file has the wrong content"
[[ $(git -C "$CLONE" rev-list --count HEAD) -eq 15 ]] || fail "local clone should have 15 commits after pull"

nexus_stop
echo "PASS git"
