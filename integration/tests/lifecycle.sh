#!/usr/bin/env bash
# Daemon lifecycle:
#  - usage errors exit 64 with a message;
#  - restart identity: a tree with every kind of entry (modes incl. setuid/
#    setgid/sticky, foreign owners, explicit atimes/mtimes to the nanosecond,
#    user and trusted xattrs, hard links, symlinks, a fifo, a sparse file) is
#    recorded (lstat fields incl. ctime and inode numbers, xattrs, md5 of
#    contents, hard-link groups); SIGTERM exits 0 and unmounts; the next
#    start shows the identical record;
#  - a second nexusd on the same data dir (on another mount point, and on the
#    same one) fails fast with a message and leaves the first serving;
#  - SIGTERM while a writer is busy and a shell sits in the mount still
#    exits 0 and unmounts, and every write() acknowledged before the stop is
#    there after the restart;
#  - kill -9 leaves a stale mount; the next start on the same mount point
#    recovers it (or says what to run, which the test then runs), and the
#    tree is intact;
#  - SIGINT exits 0 and unmounts; meta.db passes integrity_check at the end.
source "$(dirname "$0")/../lib.sh"

RECORDER="$TEST_ROOT/record.py"
cat >"$RECORDER" <<'EOF'
"""Prints one line per entry below argv[1] (and the root itself), sorted:
path, type, mode, uid, gid, size, nlink, atime/mtime/ctime in ns, symlink
target, xattrs (hex), md5 of regular files, and the hard-link group (the
first path sharing the inode). With argv[2] == "inodes" prints path and
inode number instead."""
import hashlib, os, stat, sys

root = sys.argv[1]
paths = [""]
for d, dirs, files in os.walk(root):
    rel = os.path.relpath(d, root)
    for n in dirs + files:
        paths.append(n if rel == "." else os.path.join(rel, n))
paths.sort()
if len(sys.argv) > 2 and sys.argv[2] == "inodes":
    for p in paths:
        print("%s\t%d" % (p or ".", os.lstat(os.path.join(root, p)).st_ino))
    sys.exit(0)
first_of_inode = {}
for p in paths:
    full = os.path.join(root, p)
    s = os.lstat(full)
    kind = stat.S_IFMT(s.st_mode)
    fields = ["%o" % kind, "%04o" % stat.S_IMODE(s.st_mode), "%d:%d" % (s.st_uid, s.st_gid),
              "size=%d" % s.st_size, "nlink=%d" % s.st_nlink,
              "atime=%d" % s.st_atime_ns, "mtime=%d" % s.st_mtime_ns, "ctime=%d" % s.st_ctime_ns]
    if stat.S_ISLNK(s.st_mode):
        fields.append("target=" + os.readlink(full))
    names = sorted(os.listxattr(full, follow_symlinks=False))
    fields.append("xattrs=" + ",".join(
        "%s=%s" % (n, os.getxattr(full, n, follow_symlinks=False).hex()) for n in names))
    if stat.S_ISREG(s.st_mode):
        h = hashlib.md5()
        with open(full, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        fields.append("md5=" + h.hexdigest())
        if s.st_nlink > 1:
            fields.append("group=" + first_of_inode.setdefault(s.st_ino, p))
    print("%s\t%s" % (p or ".", " ".join(fields)))
EOF

record() { /usr/bin/python3 "$RECORDER" "$NEXUS_MNT/tree" "$@" || fail "recording the tree failed"; }

# Requires the recorded tree to equal the first record ($1 names the moment).
check_identity() {
  record >"$TEST_ROOT/rec.now"
  diff "$TEST_ROOT/rec.first" "$TEST_ROOT/rec.now" >"$TEST_ROOT/rec.diff" ||
    { head -n 30 "$TEST_ROOT/rec.diff" >&2; fail "tree differs $1 (diff above: < before, > now)"; }
  # Stable inode numbers: git's index, rsync -H, backup tools cache st_ino.
  record inodes >"$TEST_ROOT/ino.now"
  diff "$TEST_ROOT/ino.first" "$TEST_ROOT/ino.now" >"$TEST_ROOT/ino.diff" ||
    { head -n 10 "$TEST_ROOT/ino.diff" >&2; fail "inode numbers changed $1"; }
}

# Waits up to $2 seconds for child pid $1 to exit; sets EXIT_RC to its status,
# or to "timeout". (Not usable in $(...): only this shell can wait for its child.)
wait_exit() {
  local pid=$1 secs=$2 i
  EXIT_RC=timeout
  for ((i = 0; i < secs * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      EXIT_RC=0; wait "$pid" || EXIT_RC=$?
      return
    fi
    sleep 0.1
  done
}

note "usage errors exit 64 with a message"
rc=0; out=$("$NEXUSD" --mount "$NEXUS_MNT" 2>&1) || rc=$?
[[ $rc -eq 64 && -n $out ]] || fail "missing --data-dir: status $rc, output '$out' (want 64 and a message)"
rc=0; out=$("$NEXUSD" --data-dir "$NEXUS_DATA" --mount "$NEXUS_MNT" --no-such-option 2>&1) || rc=$?
[[ $rc -eq 64 && -n $out ]] || fail "unknown option: status $rc, output '$out' (want 64 and a message)"
! mountpoint -q "$NEXUS_MNT" || fail "a usage error left a mount behind"

nexus_start
T="$NEXUS_MNT/tree"

note "build the tree"
mkdir -p "$T/dir/sub/deeper" "$T/private" "$T/sticky" "$T/sgid" "$T/ünïcødé dir"
printf 'plain\n' >"$T/plain"
for m in 0000 0400 0444 0600 0640 0711 0755 0777 4755 2755 6755 1755; do
  echo "mode $m" >"$T/mode_$m"; chmod "$m" "$T/mode_$m"
done
echo owned >"$T/owned_1000"; chown 1000:1000 "$T/owned_1000"
echo foreign >"$T/foreign"; chown 1234:5678 "$T/foreign"
chown 4321:8765 "$T/dir/sub"
head -c 5M /dev/urandom >"$T/big.bin"
truncate -s 100M "$T/sparse.bin"
printf 'in the middle' | dd of="$T/sparse.bin" bs=1 seek=$((50 * 1024 * 1024)) conv=notrunc status=none
printf 'tail' | dd of="$T/sparse.bin" bs=1 seek=$((100 * 1024 * 1024 - 4)) conv=notrunc status=none
: >"$T/empty"
echo "multi-linked" >"$T/hl_a"
ln "$T/hl_a" "$T/dir/hl_b"; ln "$T/hl_a" "$T/dir/sub/deeper/hl_c"
ln -s plain "$T/sym_rel"; ln -s /etc/passwd "$T/sym_abs"; ln -s no/such/target "$T/sym_dangling"
ln -s dir/sub "$T/sym_dir"; ln -s "ünïcødé dir" "$T/sym_unicode"
chown -h 1000:1000 "$T/sym_rel"
mkfifo "$T/fifo"; chmod 0640 "$T/fifo"; chown 1000:50 "$T/fifo"
echo "x" >"$T/ünïcødé dir/file with spaces"
setfattr -n user.plain -v value "$T/plain" || fail "setfattr user.plain failed"
setfattr -n user.binary -v 0x00010203fffe "$T/plain" || fail "setfattr binary value failed"
setfattr -n user.empty "$T/plain" || fail "setfattr empty value failed"
setfattr -n user.long -v "$(head -c 3000 /dev/zero | tr '\0' 'v')" "$T/big.bin" || fail "setfattr 3000-byte value failed"
setfattr -n trusted.secret -v root-only "$T/plain" || fail "setfattr trusted.* failed"
setfattr -n user.on_dir -v d "$T/dir" || fail "setfattr on a directory failed"
setfattr -n user.on_link -v l "$T/dir/hl_b" || fail "setfattr on a hard link failed"
setfattr -h -n trusted.on_symlink -v s "$T/sym_rel" || fail "setfattr -h trusted.* on a symlink failed"
chmod 0700 "$T/private"; chmod 1777 "$T/sticky"; chown 0:50 "$T/sgid"; chmod 2775 "$T/sgid"
touch -a -d '2001-02-03 04:05:06.111111111' "$T/plain"
touch -m -d '1999-12-31 23:59:59.999999999' "$T/plain"
touch -d '1980-06-15 12:00:00.5' "$T/big.bin" "$T/sparse.bin"
touch -d '2099-01-01 00:00:00.123456789' "$T/foreign"
touch -h -d '2003-03-03 03:03:03.333333333' "$T/sym_rel" "$T/sym_dangling"
touch -d '2004-04-04 04:04:04.444444444' "$T/fifo"
touch -d '2005-05-05 05:05:05.555555555' "$T/dir/sub/deeper" "$T/dir/sub" "$T/private"
record >"$TEST_ROOT/rec.first"
record inodes >"$TEST_ROOT/ino.first"
[[ $(wc -l <"$TEST_ROOT/rec.first") -ge 35 ]] || fail "record of the tree is too short"
grep -q 'trusted.on_symlink' "$TEST_ROOT/rec.first" || fail "xattr on the symlink not recorded"
grep -q "^plain	.*atime=981173106111111111 mtime=946684799999999999" "$TEST_ROOT/rec.first" ||
  fail "explicit atime/mtime of plain not reported to the nanosecond: $(grep '^plain	' "$TEST_ROOT/rec.first")"

note "SIGTERM: exit 0, unmounted; restart gives the identical tree"
nexus_stop
[[ -z $(ls -A "$NEXUS_MNT") ]] || fail "the mount point is not empty after stop (still mounted?)"
nexus_start
check_identity "after SIGTERM and restart"

note "a user folder at a reserved top-level name is renamed aside at start"
mkdir "$NEXUS_MNT/tools"
head -c 100000 /dev/urandom >"$NEXUS_MNT/tools/x"
want=$(sha256sum <"$NEXUS_MNT/tools/x")
nexus_stop
nexus_start
[[ -f "$NEXUS_MNT/tools.user-1/x" ]] || fail "/tools was not renamed to /tools.user-1"
[[ $(sha256sum <"$NEXUS_MNT/tools.user-1/x") == "$want" ]] || fail "/tools.user-1/x does not hold the same bytes"
[[ ! -e "$NEXUS_MNT/tools" ]] || fail "/tools is still the user's folder after the restart"
grep -q "/tools is reserved for NexusFS: the folder found there is now /tools.user-1" "$NEXUS_LOG" ||
  fail "no log line naming /tools and /tools.user-1"
rm -rf "$NEXUS_MNT/tools.user-1"

note "a second nexusd on the same data dir fails fast and leaves the first serving"
mkdir "$TEST_ROOT/mnt2"
"$NEXUSD" --data-dir "$NEXUS_DATA" --mount "$TEST_ROOT/mnt2" >"$TEST_ROOT/second.log" 2>&1 &
second=$!
wait_exit "$second" 5; rc=$EXIT_RC
[[ $rc != timeout ]] || { kill -KILL "$second"; fail "second nexusd on the same data dir still running after 5s"; }
[[ $rc -ne 0 ]] || fail "second nexusd on the same data dir exited 0"
grep -qiE 'already|another|in use|locked|running' "$TEST_ROOT/second.log" ||
  fail "second nexusd gave no clear message: '$(cat "$TEST_ROOT/second.log")'"
echo "    second nexusd said: $(grep -iE 'already|another|in use|locked|running' "$TEST_ROOT/second.log" | head -n 1)"
! mountpoint -q "$TEST_ROOT/mnt2" || fail "second nexusd left a mount at mnt2"
"$NEXUSD" --data-dir "$NEXUS_DATA" --mount "$NEXUS_MNT" >"$TEST_ROOT/third.log" 2>&1 &
third=$!
wait_exit "$third" 5; rc=$EXIT_RC
[[ $rc != timeout ]] || { kill -KILL "$third"; fail "second nexusd on the same data dir and mount still running after 5s"; }
[[ $rc -ne 0 ]] || fail "second nexusd on the same data dir and mount exited 0"
[[ -s "$TEST_ROOT/third.log" ]] || fail "second nexusd on the same mount printed nothing"
kill -0 "$NEXUSD_PID" 2>/dev/null || fail "the first nexusd died when a second one started"
echo "still here" >"$NEXUS_MNT/after_second" || fail "the first nexusd no longer serves writes"
[[ $(cat "$NEXUS_MNT/after_second") == "still here" ]] || fail "the first nexusd no longer serves reads"
rm "$NEXUS_MNT/after_second"
check_identity "after a second daemon was refused"

note "SIGTERM with a busy writer and a shell inside the mount: exit 0, unmounted"
(cd "$NEXUS_MNT/tree" && exec sleep 300) &
sitter=$!
# The writer logs (to the local disk) how many 64 KiB blocks write() accepted.
/usr/bin/python3 - "$NEXUS_MNT/busy.bin" "$TEST_ROOT/busy.count" >/dev/null 2>&1 <<'EOF' &
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
log = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
i = 0
while True:
    block = (b"%08d" % i) * 8192
    if os.write(fd, block) != len(block):
        break
    i += 1
    os.pwrite(log, b"%012d\n" % i, 0)
EOF
writer=$!
sleep 1
kill -0 "$writer" 2>/dev/null || fail "the busy writer died before SIGTERM"
kill -TERM "$NEXUSD_PID"
wait_exit "$NEXUSD_PID" 20; rc=$EXIT_RC
kill -KILL "$writer" "$sitter" 2>/dev/null || true
wait "$writer" "$sitter" 2>/dev/null || true
[[ $rc != timeout ]] || { kill -KILL "$NEXUSD_PID"; NEXUSD_PID=""; fail "nexusd did not exit within 20s of SIGTERM under load"; }
NEXUSD_PID=""
[[ $rc -eq 0 ]] || fail "nexusd exited with status $rc after SIGTERM under load"
! grep -q " $NEXUS_MNT " /proc/mounts || fail "mount still listed in /proc/mounts after SIGTERM under load"
nexus_start
[[ -f "$NEXUS_MNT/busy.bin" ]] || fail "the busy writer's file is gone after restart"
# Every write() that returned before the daemon stopped must be on disk.
accepted=$((10#$(cat "$TEST_ROOT/busy.count")))
[[ $accepted -gt 0 ]] || fail "the busy writer wrote nothing before SIGTERM"
/usr/bin/python3 - "$NEXUS_MNT/busy.bin" "$accepted" <<'EOF' || fail "data acknowledged before SIGTERM was lost"
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "rb") as f:
    for i in range(n):
        block = f.read(65536)
        if block != (b"%08d" % i) * 8192:
            sys.exit("block %d of %d acknowledged blocks is %s after restart" %
                     (i, n, "missing" if len(block) < 65536 else "wrong"))
EOF
echo "    $accepted acknowledged 64 KiB blocks all present after restart"
rm -f "$NEXUS_MNT/busy.bin"
check_identity "after SIGTERM under load"

note "kill -9 leaves a stale mount; the next start recovers it"
nexus_kill9
grep -q " $NEXUS_MNT " /proc/mounts || fail "expected a stale mount after kill -9, none listed"
if stat -f "$NEXUS_MNT" >/dev/null 2>&1; then fail "the stale mount still answers statfs after kill -9"; fi
nexus_start_over_stale
[[ $NEXUS_STALE_HOW == recovered ]] ||
  fail "nexusd did not recover the stale mount by itself (it asked to run: $NEXUS_STALE_HOW)"
check_identity "after kill -9 and restart"
if [[ $(grep -c " $NEXUS_MNT " /proc/mounts) -ne 1 ]]; then
  grep " $NEXUS_MNT " /proc/mounts >&2
  fail "expected exactly one mount at $NEXUS_MNT after recovery (stale mount stacked below?)"
fi

note "SIGINT: exit 0, unmounted"
kill -INT "$NEXUSD_PID"
wait_exit "$NEXUSD_PID" 20; rc=$EXIT_RC
[[ $rc != timeout ]] || fail "nexusd did not exit within 20s of SIGINT"
NEXUSD_PID=""
[[ $rc -eq 0 ]] || fail "nexusd exited with status $rc after SIGINT"
! grep -q " $NEXUS_MNT " /proc/mounts || fail "mount still present after SIGINT"

note "metadata db integrity and a last identity check"
DB="$NEXUS_DATA/meta.db"
[[ -f $DB ]] || fail "no metadata db at $DB (contents: $(ls "$NEXUS_DATA"))"
[[ $(sqlite3 "$DB" 'PRAGMA integrity_check;') == ok ]] || fail "meta.db fails integrity_check after a clean stop"
nexus_start
check_identity "after SIGINT and restart"
nexus_stop
echo "PASS lifecycle"
