#!/usr/bin/env bash
# --workspace WS exposes the host directory WS at /zone/local on the mount.
#  - edits go both ways: written through the mount -> in WS at once; written
#    in WS -> visible through the mount (within the workspace cache timeout);
#    mkdir, rename, unlink, chmod, truncate, hard links and symlinks inside
#    the zone act on WS's files; files made by an unprivileged caller are
#    owned by that caller;
#  - the zone is a boundary: rename(2) and link(2) across it fail with
#    EXDEV in both directions, and `mv` (which falls back to copy+delete)
#    still works;
#  - nothing outside WS is reachable through the daemon: `..` from the zone
#    root stays in the mount, symlinks in WS that point outside it (relative
#    ../ and absolute) are served as symlinks that resolve in the caller's
#    view of the mount, and a directory swapped for an escaping symlink on the
#    host while the kernel still caches it does not let lookups through it
#    reach the host's outside files; neither does a cached file swapped for
#    an escaping symlink (write, chmod, utimens, setxattr, truncate), nor
#    metadata calls on the escaping symlinks themselves (lsetxattr, lchown,
#    utimensat with AT_SYMLINK_NOFOLLOW).
source "$(dirname "$0")/../lib.sh"
# Other uids here get what POSIX mode bits give them: ReBAC is off (it is
# tested on the mount in rebac_mount.sh and on the socket in rebac_cli.sh).
NEXUSD_EXTRA_ARGS+=(--features rebac=off)

HOST="$TEST_ROOT/host"
WS="$HOST/ws"
OUT="$HOST/outside"
SECRET="TOP SECRET outside the workspace"
mkdir -p "$WS/sub" "$WS/swap" "$WS/pub" "$OUT"
chmod 0755 "$HOST" "$WS"
chmod 0777 "$WS/pub"
echo "from host" >"$WS/existing.txt"
echo "nested" >"$WS/sub/nested.txt"
echo "inside" >"$WS/swap/secret.txt"
echo "$SECRET" >"$OUT/secret.txt"
echo "$SECRET" >"$OUT/other.txt"
ln -s ../outside "$WS/esc_rel_dir"
ln -s ../outside/secret.txt "$WS/esc_rel_file"
ln -s ../../outside/secret.txt "$WS/sub/esc_deep"
ln -s "$OUT" "$WS/esc_abs_dir"
[[ $(cat "$WS/esc_rel_file") == "$SECRET" ]] || fail "test setup: the escaping link does not reach the secret on the host"
echo "victim" >"$WS/victim.txt"
# Everything about the outside files; it must not change.
outside_state() {
  (cd "$OUT" && stat -c '%n %a %u:%g %s %Y.%y' -- * && md5sum -- * && getfattr -d -m - -- * 2>/dev/null)
}
outside_state >"$TEST_ROOT/outside.before"

nexus_start --workspace "$WS"
Z="$NEXUS_MNT/zone/local"
[[ -d $Z ]] || fail "/zone/local does not exist on the mount"
MNT_DEV=$(stat -c %d "$NEXUS_MNT")

# Prints the errno name of rename/link/... run by python, or OK.
py_errno() {
  /usr/bin/python3 - "$@" <<'EOF'
import errno, os, sys
op, a, b = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    {"rename": os.rename, "link": os.link}[op](a, b)
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])
EOF
}

# Polls up to 5s for command "$@" to succeed (the zone's kernel cache lifetime is 1s).
eventually() {
  local i
  for ((i = 0; i < 50; i++)); do "$@" && return 0; sleep 0.1; done
  return 1
}

note "host -> mount"
[[ $(cat "$Z/existing.txt") == "from host" ]] || fail "existing WS file not readable through the mount"
[[ $(cat "$Z/sub/nested.txt") == "nested" ]] || fail "nested WS file not readable through the mount"
echo "made on host later" >"$WS/later.txt"
[[ $(cat "$Z/later.txt" 2>&1) == "made on host later" ]] || fail "file created in WS after start not visible"
echo "changed on host, longer" >"$WS/existing.txt"
eventually bash -c '[[ $(cat "$1") == "changed on host, longer" ]]' _ "$Z/existing.txt" ||
  fail "host edit of existing.txt not visible through the mount after 5s (got '$(cat "$Z/existing.txt")')"
printf 'SAME SIZE\n' >"$WS/same.txt"
[[ $(cat "$Z/same.txt") == "SAME SIZE" ]] || fail "same.txt not readable"
sleep 0.01
printf 'same size\n' >"$WS/same.txt"
eventually bash -c '[[ $(cat "$1") == "same size" ]]' _ "$Z/same.txt" ||
  fail "same-size host edit not visible through the mount after 5s (stale page cache?)"
chmod 0600 "$WS/later.txt"
eventually bash -c '[[ $(stat -c %a "$1") == 600 ]]' _ "$Z/later.txt" || fail "host chmod not visible through the mount"
rm "$WS/later.txt"
eventually bash -c '[[ ! -e "$1" ]]' _ "$Z/later.txt" || fail "file removed on the host still visible through the mount"

note "mount -> host"
echo "written through the mount" >"$Z/new.txt"
[[ $(cat "$WS/new.txt") == "written through the mount" ]] || fail "file written through the mount not in WS"
echo "appended" >>"$Z/new.txt"
[[ $(tail -n 1 "$WS/new.txt") == "appended" ]] || fail "append through the mount not in WS"
mkdir -p "$Z/made/deeper"
[[ -d "$WS/made/deeper" ]] || fail "mkdir through the mount not in WS"
mv "$Z/new.txt" "$Z/made/deeper/renamed.txt"
[[ ! -e "$WS/new.txt" && -f "$WS/made/deeper/renamed.txt" ]] || fail "rename inside the zone not reflected in WS"
mv "$Z/made" "$Z/made2"
[[ -f "$WS/made2/deeper/renamed.txt" && ! -e "$WS/made" ]] || fail "directory rename inside the zone not reflected in WS"
[[ $(cat "$Z/made2/deeper/renamed.txt") == $'written through the mount\nappended' ]] ||
  fail "renamed file has the wrong content through the mount"
chmod 0640 "$Z/existing.txt"
[[ $(stat -c %a "$WS/existing.txt") == 640 ]] || fail "chmod through the mount not applied to the WS file"
truncate -s 3 "$Z/existing.txt"
[[ $(stat -c %s "$WS/existing.txt") == 3 ]] || fail "truncate through the mount not applied to the WS file"
touch -d '2001-01-01 00:00:00.5' "$Z/existing.txt"
[[ $(stat -c %Y "$WS/existing.txt") == 978307200 ]] || fail "utimens through the mount not applied to the WS file"
ln "$Z/existing.txt" "$Z/sub/hardlink.txt"
[[ $(stat -c %i "$WS/existing.txt") == $(stat -c %i "$WS/sub/hardlink.txt") ]] ||
  fail "hard link inside the zone is not a hard link in WS"
[[ $(stat -c %h "$Z/existing.txt") == 2 ]] || fail "link count through the mount is not 2"
ln -s sub/nested.txt "$Z/link_in_zone"
[[ $(readlink "$WS/link_in_zone") == "sub/nested.txt" ]] || fail "symlink made through the mount has the wrong target in WS"
[[ $(cat "$Z/link_in_zone") == "nested" ]] || fail "symlink inside the zone does not resolve through the mount"
setfattr -n user.zone -v yes "$Z/sub/nested.txt" || fail "setfattr through the mount failed"
[[ $(getfattr --only-values -n user.zone "$WS/sub/nested.txt" 2>/dev/null) == yes ]] || fail "xattr set through the mount not on the WS file"
rm "$Z/sub/hardlink.txt" "$Z/link_in_zone"
rm -r "$Z/made2"
[[ ! -e "$WS/sub/hardlink.txt" && ! -e "$WS/made2" ]] || fail "removal through the mount not applied to WS"

note "an unprivileged caller owns what it creates in the zone"
setpriv --reuid 1000 --regid 1000 --clear-groups bash -c 'echo mine >"$1/pub/user.txt" && echo more >>"$1/pub/user.txt"' _ "$Z" ||
  fail "uid 1000 could not create and then append to its own file in a 0777 zone directory"
[[ $(stat -c %u:%g "$Z/pub/user.txt") == 1000:1000 ]] || fail "file made by uid 1000 shows owner $(stat -c %u:%g "$Z/pub/user.txt") through the mount"
[[ $(stat -c %u:%g "$WS/pub/user.txt") == 1000:1000 ]] || fail "file made by uid 1000 is owned by $(stat -c %u:%g "$WS/pub/user.txt") in WS"
if setpriv --reuid 1000 --regid 1000 --clear-groups bash -c 'echo x >"$1/sub/denied.txt"' _ "$Z" 2>/dev/null; then
  fail "uid 1000 could create a file in a root-owned 0755 zone directory"
fi

note "the zone boundary: rename(2) and link(2) across give EXDEV"
echo native >"$NEXUS_MNT/native.txt"
mkdir "$NEXUS_MNT/native_dir"; echo n >"$NEXUS_MNT/native_dir/f"
echo zone >"$Z/zone.txt"
mkdir "$Z/zone_dir"; echo z >"$Z/zone_dir/f"
r=$(py_errno rename "$Z/zone.txt" "$NEXUS_MNT/moved.txt"); [[ $r == EXDEV ]] || fail "rename zone -> native file gave $r, want EXDEV"
r=$(py_errno rename "$NEXUS_MNT/native.txt" "$Z/moved.txt"); [[ $r == EXDEV ]] || fail "rename native -> zone file gave $r, want EXDEV"
r=$(py_errno rename "$Z/zone_dir" "$NEXUS_MNT/moved_dir"); [[ $r == EXDEV ]] || fail "rename zone -> native dir gave $r, want EXDEV"
r=$(py_errno rename "$NEXUS_MNT/native_dir" "$Z/moved_dir"); [[ $r == EXDEV ]] || fail "rename native -> zone dir gave $r, want EXDEV"
r=$(py_errno link "$Z/zone.txt" "$NEXUS_MNT/linked.txt"); [[ $r == EXDEV ]] || fail "link zone -> native gave $r, want EXDEV"
r=$(py_errno link "$NEXUS_MNT/native.txt" "$Z/linked.txt"); [[ $r == EXDEV ]] || fail "link native -> zone gave $r, want EXDEV"
[[ -f "$WS/zone.txt" && -f "$NEXUS_MNT/native.txt" && ! -e "$WS/moved.txt" && ! -e "$WS/linked.txt" ]] ||
  fail "a refused rename/link changed something"

note "mv across the boundary works by copy"
mv "$Z/zone.txt" "$NEXUS_MNT/zone_moved.txt" || fail "mv zone -> native failed"
[[ ! -e "$WS/zone.txt" && $(cat "$NEXUS_MNT/zone_moved.txt") == zone ]] || fail "mv zone -> native: wrong result"
mv "$NEXUS_MNT/native.txt" "$Z/native_moved.txt" || fail "mv native -> zone failed"
[[ $(cat "$WS/native_moved.txt") == native && ! -e "$NEXUS_MNT/native.txt" ]] || fail "mv native -> zone: wrong result"
mv "$NEXUS_MNT/native_dir" "$Z/native_dir_moved" || fail "mv of a directory native -> zone failed"
[[ $(cat "$WS/native_dir_moved/f") == n ]] || fail "mv of a directory native -> zone: wrong result"
mv "$Z/zone_dir" "$NEXUS_MNT/zone_dir_moved" || fail "mv of a directory zone -> native failed"
[[ $(cat "$NEXUS_MNT/zone_dir_moved/f") == z && ! -e "$WS/zone_dir" ]] || fail "mv of a directory zone -> native: wrong result"

note "'..' from the zone root stays in the mount"
[[ $(stat -c %d:%i "$Z/..") == $(stat -c %d:%i "$NEXUS_MNT/zone") ]] || fail "zone/local/.. is not /zone of the mount"
[[ $(stat -c %d:%i "$Z/../..") == $(stat -c %d:%i "$NEXUS_MNT") ]] || fail "zone/local/../.. is not the mount root"
[[ ! -e "$Z/../outside" && ! -e "$Z/../ws" ]] || fail "host siblings of WS visible through zone/local/.."
(cd "$Z" && cd .. && [[ $(stat -c %d . ) == "$MNT_DEV" ]]) || fail "cd .. from the zone root left the mount"
r=$(/usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
try:
    print(open(os.open("../../outside/secret.txt", os.O_RDONLY, dir_fd=fd)).read().strip())
except OSError as e:
    print("ERR", e.strerror)' "$Z")
[[ $r != "$SECRET" ]] || fail "openat(zone root, ../../outside/secret.txt) read the host's outside file"

note "symlinks pointing outside WS do not expose outside files"
for l in esc_rel_dir esc_rel_file sub/esc_deep esc_abs_dir; do
  [[ -L "$Z/$l" ]] || fail "$l is not served as a symlink (the daemon followed it on the host?)"
done
[[ $(readlink "$Z/esc_rel_file") == "../outside/secret.txt" ]] || fail "relative escaping link has a different target through the mount"
for p in esc_rel_file esc_rel_dir/secret.txt sub/esc_deep esc_rel_dir/other.txt; do
  got=$(cat "$Z/$p" 2>/dev/null || true)
  [[ $got != "$SECRET" ]] || fail "reading $p through the mount returned the host file outside WS"
done
[[ -z $(ls "$Z/esc_rel_dir/" 2>/dev/null) ]] || fail "listing esc_rel_dir through the mount shows: $(ls "$Z/esc_rel_dir/")"
# Metadata calls that do not follow symlinks act on the link itself; the
# daemon must not apply them to the host file behind it. Each may succeed or
# fail; the outside files are compared at the end.
setfattr -h -n trusted.escape -v x "$Z/esc_rel_file" 2>/dev/null || true
setfattr -h -n trusted.escape -v x "$Z/sub/esc_deep" 2>/dev/null || true
touch -h -d '2000-01-01 00:00:00' "$Z/esc_rel_file" "$Z/esc_abs_dir" 2>/dev/null || true
chown -h 1234:1234 "$Z/esc_rel_file" "$Z/sub/esc_deep" 2>/dev/null || true
# An absolute link resolves in the caller's namespace; if that reaches the
# host file, it must be the host filesystem serving it, not the daemon.
if [[ -e "$Z/esc_abs_dir/secret.txt" ]]; then
  [[ $(stat -L -c %d "$Z/esc_abs_dir/secret.txt") != "$MNT_DEV" ]] ||
    fail "the daemon serves the outside dir behind the absolute link as part of the mount"
fi

note "a directory swapped for an escaping symlink on the host"
[[ $(cat "$Z/swap/secret.txt") == inside ]] || fail "swap/secret.txt not readable"
ls "$Z/swap" >/dev/null
mv "$WS/swap" "$WS/swap.old"
ln -s ../outside "$WS/swap"
# Right away the kernel may still hold swap as the old directory; lookups in
# it reach the daemon, which must not resolve them through the new symlink.
for p in swap/secret.txt swap/other.txt; do
  got=$(cat "$Z/$p" 2>/dev/null || true)
  [[ $got != "$SECRET" ]] || fail "after the host swap, $p through the mount returned the host file outside WS"
done
got=$(ls "$Z/swap/" 2>/dev/null | tr '\n' ' ' || true)
[[ $got != *other.txt* ]] || fail "after the host swap, listing swap through the mount shows the outside dir: $got"
sleep 1.5
[[ -L "$Z/swap" ]] || fail "after the cache timeout, swap is not a symlink through the mount"
for p in swap/secret.txt swap/other.txt; do
  got=$(cat "$Z/$p" 2>/dev/null || true)
  [[ $got != "$SECRET" ]] || fail "after the cache timeout, $p through the mount returned the host file outside WS"
done
[[ $(cat "$Z/swap.old/secret.txt") == inside ]] || fail "swap.old/secret.txt not readable after the swap"

note "a file swapped for an escaping symlink on the host while cached"
[[ $(cat "$Z/victim.txt") == victim ]] || fail "victim.txt not readable"
mv "$WS/victim.txt" "$WS/victim.old"
ln -s ../outside/secret.txt "$WS/victim.txt"
# The kernel may still hold victim.txt as the regular file and send these to
# the daemon by inode; the daemon must not reach the host file behind the new
# symlink. Each may fail; the outside files are compared below.
echo "appended through the mount" >>"$Z/victim.txt" 2>/dev/null || true
chmod 0600 "$Z/victim.txt" 2>/dev/null || true
touch -d '2000-02-02 00:00:00' "$Z/victim.txt" 2>/dev/null || true
setfattr -n user.escape -v x "$Z/victim.txt" 2>/dev/null || true
truncate -s 1 "$Z/victim.txt" 2>/dev/null || true

note "host files outside WS are untouched"
[[ $(ls "$OUT" | wc -l) -eq 2 ]] || fail "entries appeared in the outside directory: $(ls "$OUT")"
outside_state | diff "$TEST_ROOT/outside.before" - ||
  fail "a file outside WS was changed through the mount (diff above: < before, > after)"

note "restart with the same workspace"
nexus_stop
[[ -f "$WS/native_moved.txt" ]] || fail "WS lost a file when the daemon stopped"
nexus_start --workspace "$WS"
[[ $(cat "$Z/native_moved.txt") == native ]] || fail "WS file not visible after restart"
[[ $(cat "$NEXUS_MNT/zone_moved.txt") == zone ]] || fail "native file moved out of the zone lost after restart"
nexus_stop
echo "PASS workspace"
