#!/usr/bin/env bash
# rsync round trip: `rsync -aHX` local disk -> mount -> local disk must give
# back an identical tree (contents, modes, owners, mtimes, symlinks, hard
# links, user xattrs). A second run must find nothing to transfer (times and
# sizes on the mount are exact), and an incremental sync with --delete after
# changes on the source must converge again.
source "$(dirname "$0")/../lib.sh"

SRC="$TEST_ROOT/src"
BACK="$TEST_ROOT/back"
RSYNC=(rsync -aHX --numeric-ids)

note "build the source tree"
mkdir -p "$SRC"
cp -a /usr/include/linux "$SRC/linux"
cp -a /usr/include/x86_64-linux-gnu "$SRC/multiarch" 2>/dev/null || true
S="$SRC/odd"
mkdir -p "$S/a/b/c" "$S/empty_dir"
echo one >"$S/hl1"; ln "$S/hl1" "$S/hl2"; ln "$S/hl1" "$S/a/b/c/hl3"
echo two >"$S/a/pair"; ln "$S/a/pair" "$S/a/b/pair2"
ln -s hl1 "$S/sym_rel"; ln -s ../../hl1 "$S/a/b/sym_up"; ln -s /etc/hostname "$S/sym_abs"
ln -s does/not/exist "$S/sym_dangling"; ln -s a/b "$S/sym_dir"
head -c 3M /dev/urandom >"$S/random.bin"
: >"$S/empty"
echo "sp ace" >"$S/with space"; echo u >"$S/ünïcødé"
for m in 0400 0600 0644 0700 0755 0777 4755 2711; do echo "$m" >"$S/m$m"; chmod "$m" "$S/m$m"; done
chmod 0700 "$S/a/b"; chmod 1777 "$S/empty_dir"
echo o >"$S/owned"; chown 1000:1000 "$S/owned"; chown -h 1001:1001 "$S/sym_rel"
mkfifo "$S/fifo"
setfattr -n user.k -v v "$S/hl1"; setfattr -n user.bin -v 0xdeadbeef00 "$S/random.bin"
setfattr -n user.d -v dir "$S/a"
touch -d '1990-01-01 00:00:00.5' "$S/hl1" "$S/empty"
touch -h -d '2001-01-01 12:00:00.25' "$S/sym_rel"
touch -d '2010-10-10 10:10:10.101010101' "$S/a/b" "$S/a"
# rsync does not copy the mtime of an entry whose copy it creates within the
# same second as the source mtime (it compares whole seconds first): let the
# clock move on so every fresh mtime is really copied and compared.
sleep 1.1

nexus_start
DST="$NEXUS_MNT/dst"

note "rsync local -> mount"
"${RSYNC[@]}" "$SRC/" "$DST/" || fail "rsync onto the mount failed"
assert_same_tree "$SRC" "$DST" "source vs mount copy"
diff <(xattr_manifest "$SRC") <(xattr_manifest "$DST") || fail "xattrs differ between source and mount copy"
[[ $(stat -c %h "$DST/odd/hl1") -eq 3 ]] || fail "hard links not preserved on the mount (nlink of hl1)"
[[ $(stat -c %i "$DST/odd/hl1") == $(stat -c %i "$DST/odd/a/b/c/hl3") ]] || fail "hl1 and hl3 are different inodes on the mount"
[[ $(readlink "$DST/odd/a/b/sym_up") == "../../hl1" ]] ||
  fail "relative symlink target changed"

note "second rsync finds nothing to transfer"
CHANGES=$("${RSYNC[@]}" --itemize-changes "$SRC/" "$DST/") || fail "second rsync onto the mount failed"
[[ -z $CHANGES ]] || { echo "$CHANGES" | head -n 20 >&2; fail "second rsync onto the mount wanted to transfer changes"; }
CHANGES=$("${RSYNC[@]}" --checksum --dry-run --itemize-changes "$SRC/" "$DST/") || fail "checksum rsync failed"
[[ -z $CHANGES ]] || { echo "$CHANGES" | head -n 20 >&2; fail "checksum comparison found differing files on the mount"; }

note "rsync mount -> local"
"${RSYNC[@]}" "$DST/" "$BACK/" || fail "rsync from the mount failed"
assert_same_tree "$SRC" "$BACK" "source vs round trip"
diff <(xattr_manifest "$SRC") <(xattr_manifest "$BACK") || fail "xattrs differ after the round trip"
[[ $(stat -c %h "$BACK/odd/hl1") -eq 3 ]] || fail "hard links lost on the round trip"

note "incremental sync with --delete converges"
echo changed >>"$S/a/pair"
rm "$S/hl2" "$S/random.bin"
mkdir "$S/newdir"; echo new >"$S/newdir/new"
mv "$SRC/linux/mman.h" "$SRC/linux/mman_renamed.h"
chmod 0640 "$S/m0644"
touch -d '2020-02-02 02:02:02.2' "$S/empty"
sleep 1.1
"${RSYNC[@]}" --delete "$SRC/" "$DST/" || fail "incremental rsync onto the mount failed"
assert_same_tree "$SRC" "$DST" "source vs mount after incremental sync"
[[ $(stat -c %h "$DST/odd/hl1") -eq 2 ]] || fail "nlink of hl1 on the mount should drop to 2"
"${RSYNC[@]}" --delete "$DST/" "$BACK/" || fail "incremental rsync from the mount failed"
assert_same_tree "$SRC" "$BACK" "source vs round trip after incremental sync"

note "restart: the copy on the mount is unchanged"
nexus_stop
nexus_start
assert_same_tree "$SRC" "$DST" "source vs mount copy after restart"
CHANGES=$("${RSYNC[@]}" --itemize-changes "$SRC/" "$DST/") || fail "rsync after restart failed"
[[ -z $CHANGES ]] || { echo "$CHANGES" | head -n 20 >&2; fail "rsync after restart wanted to transfer changes"; }

nexus_stop
echo "PASS rsync"
