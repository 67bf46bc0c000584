#!/usr/bin/env bash
# tar round trips: a real tarball (all of /usr/include plus a tree of awkward
# entries: odd names, every kind of mode, foreign owners, hard links,
# symlinks, a fifo, a sparse file, old/future/sub-second mtimes, user xattrs)
# is extracted both on the local disk and on the mount; the two trees must be
# identical in contents, modes, owners, sizes, link counts and mtimes (to the
# nanosecond: the archive is pax). Then a tarball made from the mount must
# list exactly like one made from the local copy, and extract to the same tree.
source "$(dirname "$0")/../lib.sh"

SRC="$TEST_ROOT/src"
NATIVE="$TEST_ROOT/native"
TAR_OPTS=(--format=posix --xattrs --xattrs-include='user.*' --sparse --numeric-owner --sort=name)
XTAR_OPTS=(--warning=no-timestamp --xattrs --xattrs-include='user.*' --numeric-owner --same-owner --same-permissions)

note "build the source tree"
mkdir -p "$SRC"
cp -a /usr/include "$SRC/include"
S="$SRC/odd"
mkdir -p "$S/deep/$(printf 'd%.0s' {1..60})/$(printf 'e%.0s' {1..60})/$(printf 'f%.0s' {1..60})"
echo deep >"$S/deep/$(printf 'd%.0s' {1..60})/$(printf 'e%.0s' {1..60})/$(printf 'f%.0s' {1..60})/leaf"
echo space >"$S/sp ace"
echo unicode >"$S/ünïcødé-名前"
echo dash >"$S/-leading-dash"
echo long >"$S/$(printf 'n%.0s' {1..255})"
: >"$S/empty"
head -c 8M /dev/urandom >"$S/big.bin"
truncate -s 64M "$S/sparse.bin"
printf 'middle' | dd of="$S/sparse.bin" bs=1 seek=$((32 * 1024 * 1024)) conv=notrunc status=none
for m in 0000 0400 0444 0600 0640 0700 0755 0777 4755 2755 6711; do
  echo "mode $m" >"$S/mode_$m"
  chmod "$m" "$S/mode_$m"
done
mkdir "$S/sticky" "$S/setgid_dir" "$S/private_dir" "$S/ro_dir"
echo inner >"$S/ro_dir/inner"
chmod 1777 "$S/sticky"; chmod 2755 "$S/setgid_dir"; chmod 0700 "$S/private_dir"; chmod 0555 "$S/ro_dir"
echo owned >"$S/owned_1000"; chown 1000:1000 "$S/owned_1000"
echo owned >"$S/owned_foreign"; chown 1234:5678 "$S/owned_foreign"
mkdir "$S/dir_foreign"; chown 4321:8765 "$S/dir_foreign"
echo linked >"$S/hl_a"; ln "$S/hl_a" "$S/hl_b"; ln "$S/hl_a" "$S/deep/hl_c"
ln -s hl_a "$S/sym_rel"; ln -s /usr/include/stdio.h "$S/sym_abs"; ln -s nowhere "$S/sym_dangling"
ln -s deep "$S/sym_dir"
chown -h 1000:1000 "$S/sym_rel"
mkfifo "$S/fifo"; chmod 0620 "$S/fifo"
echo xattr >"$S/xattr_file"
setfattr -n user.plain -v hello "$S/xattr_file"
setfattr -n user.binary -v 0x00ff10ab "$S/xattr_file"
setfattr -n user.empty "$S/xattr_file"
setfattr -n user.dir -v ondir "$S/deep"
touch -d '1980-01-02 03:04:05.123456789' "$S/sp ace" "$S/hl_a"
touch -d '2100-12-31 23:59:59.987654321' "$S/big.bin"
touch -h -d '1999-09-09 09:09:09.5' "$S/sym_rel"
touch -d '2005-05-05 05:05:05.000000001' "$S/deep" "$S/ro_dir" "$S/fifo"

note "make the tarball (pax, nanosecond mtimes, xattrs, sparse)"
tar -C "$SRC" -cf "$TEST_ROOT/src.tar" "${TAR_OPTS[@]}" . || fail "creating the source tarball failed"

nexus_start
MNT_X="$NEXUS_MNT/x"
mkdir "$NATIVE" "$MNT_X"

note "extract on the local disk and on the mount"
tar -C "$NATIVE" -xf "$TEST_ROOT/src.tar" "${XTAR_OPTS[@]}" || fail "native extraction failed"
tar -C "$MNT_X" -xf "$TEST_ROOT/src.tar" "${XTAR_OPTS[@]}" || fail "extraction onto the mount failed"

note "sanity: the native extraction matches the source"
assert_same_tree "$SRC" "$NATIVE" "source vs native extraction"

note "mount extraction vs native extraction: contents, modes, owners, mtimes, links"
assert_same_tree "$NATIVE" "$MNT_X" "native vs mount extraction"
[[ $(stat -c %h "$MNT_X/odd/hl_a") -eq 3 ]] || fail "hard link count of hl_a on the mount is not 3"
[[ $(stat -c %i "$MNT_X/odd/hl_a") == $(stat -c %i "$MNT_X/odd/deep/hl_c") ]] ||
  fail "hl_a and deep/hl_c are not the same inode on the mount"
[[ $(stat -c %s "$MNT_X/odd/sparse.bin") -eq $((64 * 1024 * 1024)) ]] || fail "sparse file has the wrong size"
cmp "$NATIVE/odd/sparse.bin" "$MNT_X/odd/sparse.bin" || fail "sparse file contents differ"

note "xattrs survive extraction onto the mount"
xattr_manifest "$NATIVE" '^user\.' >"$TEST_ROOT/native.xattrs"
xattr_manifest "$MNT_X" '^user\.' >"$TEST_ROOT/mnt.xattrs"
diff "$TEST_ROOT/native.xattrs" "$TEST_ROOT/mnt.xattrs" ||
  fail "user xattrs differ between native and mount extraction"
[[ $(grep -c '^user\.' "$TEST_ROOT/mnt.xattrs") -eq 4 ]] || fail "expected 4 user xattrs on the mount"

note "tar c from the mount vs from the local copy: identical listings"
tar -C "$MNT_X" -cf "$TEST_ROOT/mnt.tar" "${TAR_OPTS[@]}" . || fail "tar c from the mount failed (file changed as we read it?)"
tar -C "$NATIVE" -cf "$TEST_ROOT/native.tar" "${TAR_OPTS[@]}" . || fail "tar c of the native tree failed"
tar -tvf "$TEST_ROOT/native.tar" --full-time --numeric-owner >"$TEST_ROOT/native.list"
tar -tvf "$TEST_ROOT/mnt.tar" --full-time --numeric-owner >"$TEST_ROOT/mnt.list"
diff "$TEST_ROOT/native.list" "$TEST_ROOT/mnt.list" >"$TEST_ROOT/list.diff" ||
  { head -n 20 "$TEST_ROOT/list.diff" >&2; fail "tar listing from the mount differs from native"; }
[[ $(wc -l <"$TEST_ROOT/mnt.list") -gt 8000 ]] || fail "tar listing from the mount is suspiciously short"

note "the tarball made from the mount extracts to the same tree"
mkdir "$TEST_ROOT/back"
tar -C "$TEST_ROOT/back" -xf "$TEST_ROOT/mnt.tar" "${XTAR_OPTS[@]}" || fail "extracting the mount's tarball failed"
assert_same_tree "$NATIVE" "$TEST_ROOT/back" "native vs re-extracted mount tarball"

note "restart: the extracted tree is unchanged"
tree_manifest "$MNT_X" >"$TEST_ROOT/before.manifest"
nexus_stop
nexus_start
diff "$TEST_ROOT/before.manifest" <(tree_manifest "$MNT_X") >/dev/null ||
  fail "tree on the mount changed across a restart"
assert_same_tree "$NATIVE" "$MNT_X" "native vs mount extraction after restart"

nexus_stop
echo "PASS tar"
