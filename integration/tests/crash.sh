#!/usr/bin/env bash
# Crash safety: a write-heavy workload runs on the mount (two writers that
# create files and atomically replace them, plus a churner that creates,
# renames, truncates, chmods, sets xattrs and deletes without syncing), and
# nexusd is killed with SIGKILL in the middle of it; three rounds.
#
# The writers log to the local disk, *after* fsync returned:
#   NEW  path md5              the file was written and fsync'd
#   BEGIN path old new         about to replace path (tmp + fsync + rename +
#                              fsync of the directory)
#   DONE path new              the replacement is durable
# After each kill: a copy of the metadata db as the crash left it passes
# `PRAGMA integrity_check`; the next start succeeds (over the stale mount);
# every logged file has exactly its logged content (for an unfinished
# replacement: exactly the old or the new content, never a mix or nothing);
# every file in the tree can be read without an error. At the end a clean
# stop leaves meta.db passing integrity_check, and a restart still has
# every logged file.
#
# Env: CRASH_ROUNDS (default 3).
source "$(dirname "$0")/../lib.sh"

ROUNDS=${CRASH_ROUNDS:-3}
WORKLOAD="$TEST_ROOT/workload.py"
LOGS="$TEST_ROOT/logs"
mkdir -p "$LOGS"

cat >"$WORKLOAD" <<'EOF'
"""Workload and checker for crash.sh.

workload.py writer DIR LOG SEED   create/replace files forever, logging durable states
workload.py churn DIR SEED        unsynced metadata churn forever
workload.py verify LOG...         check every logged file; print a summary
Writers and the churner exit quietly once the mount stops answering.
"""
import errno, hashlib, os, random, sys


def md5(data):
    return hashlib.md5(data).hexdigest()


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view[:262144])
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


def writer(d, log_path, seed):
    rnd = random.Random(seed)
    os.makedirs(d, exist_ok=True)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    def record(line):  # the log is on the local disk and outlives the daemon
        os.write(log, (line + "\n").encode())
    current = {}  # path -> md5 of its durable content
    i = 0
    while True:
        i += 1
        size = rnd.choice([0, 1, 100, 4096, 4097, 65536, 200000, 1 << 20]) if i % 10 else rnd.randint(1 << 20, 4 << 20)
        data = rnd.randbytes(size)
        if current and rnd.random() < 0.35:
            path = rnd.choice(sorted(current))
            new = md5(data)
            record("BEGIN %s %s %s" % (path, current[path], new))
            tmp = path + ".tmp"
            write_file(tmp, data)
            os.rename(tmp, path)
            fsync_dir(d)
            current[path] = new
            record("DONE %s %s" % (path, new))
        else:
            path = os.path.join(d, "f%05d" % i)
            write_file(path, data)
            current[path] = md5(data)
            record("NEW %s %s" % (path, current[path]))


def churn(d, seed):
    rnd = random.Random(seed)
    os.makedirs(d, exist_ok=True)
    i = 0
    while True:
        i += 1
        p = os.path.join(d, "c%d" % (i % 200))
        op = rnd.randrange(8)
        try:
            if op == 0:
                with open(p, "wb") as f:
                    f.write(rnd.randbytes(rnd.randint(0, 50000)))
            elif op == 1:
                os.rename(p, os.path.join(d, "c%d" % rnd.randrange(200)))
            elif op == 2:
                os.unlink(p)
            elif op == 3:
                os.truncate(p, rnd.randint(0, 100000))
            elif op == 4:
                os.chmod(p, rnd.choice([0o600, 0o644, 0o755]))
            elif op == 5:
                os.setxattr(p, "user.churn", rnd.randbytes(rnd.randint(1, 200)))
            elif op == 6:
                sub = os.path.join(d, "dir%d" % rnd.randrange(20))
                os.mkdir(sub)
                with open(os.path.join(sub, "x"), "wb") as f:
                    f.write(b"x" * rnd.randint(0, 9000))
            else:
                sub = os.path.join(d, "dir%d" % rnd.randrange(20))
                os.unlink(os.path.join(sub, "x"))
                os.rmdir(sub)
        except FileNotFoundError:
            pass
        except FileExistsError:
            pass


def verify(logs):
    state = {}  # path -> ("done", md5) or ("pending", old, new)
    for log in logs:
        with open(log) as f:
            for line in f:
                if not line.endswith("\n"):
                    continue  # torn last line: written while the writer was killed
                parts = line.split()
                if parts[0] == "NEW" or parts[0] == "DONE":
                    state[parts[1]] = ("done", parts[2])
                elif parts[0] == "BEGIN":
                    state[parts[1]] = ("pending", parts[2], parts[3])
    bad = 0
    for path, st in sorted(state.items()):
        try:
            with open(path, "rb") as f:
                got = md5(f.read())
        except OSError as e:
            print("FAIL %s: %s (expected content %s)" % (path, e.strerror, st[1:]))
            bad += 1
            continue
        if st[0] == "done" and got != st[1]:
            print("FAIL %s: md5 %s, logged durable content %s" % (path, got, st[1]))
            bad += 1
        elif st[0] == "pending" and got not in st[1:]:
            print("FAIL %s: md5 %s during an unfinished replacement, want old %s or new %s" % (path, got, st[1], st[2]))
            bad += 1
    print("checked %d logged files, %d bad" % (len(state), bad))
    return bad == 0


def main():
    try:
        if sys.argv[1] == "writer":
            writer(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        elif sys.argv[1] == "churn":
            churn(sys.argv[2], int(sys.argv[3]))
        elif sys.argv[1] == "verify":
            sys.exit(0 if verify(sys.argv[2:]) else 1)
    except OSError as e:
        if e.errno in (errno.ENOTCONN, errno.ECONNABORTED, errno.EIO, errno.ENODEV):
            sys.exit(0)  # the daemon is gone: expected after the kill
        raise


main()
EOF

# Checks meta.db in a copy of the data dir's db files as the crash left them.
check_db_copy() {
  local copy="$TEST_ROOT/dbcopy" f
  rm -rf "$copy"; mkdir "$copy"
  for f in "$NEXUS_DATA"/meta.db "$NEXUS_DATA"/meta.db-wal "$NEXUS_DATA"/meta.db-journal; do
    [[ -e $f ]] && cp "$f" "$copy/"
  done
  [[ -f "$copy/meta.db" ]] || fail "no meta.db in $NEXUS_DATA: $(ls "$NEXUS_DATA")"
  local out
  out=$(sqlite3 "$copy/meta.db" 'PRAGMA integrity_check;' 2>&1) || fail "integrity_check could not run: $out"
  [[ $out == ok ]] || fail "meta.db as left by the crash fails integrity_check: $(echo "$out" | head -n 5)"
}

# Verifies every logged file, and that the whole tree reads without errors.
check_tree() {
  /usr/bin/python3 "$WORKLOAD" verify "$LOGS"/*.log >"$TEST_ROOT/verify.out" 2>&1 ||
    { { grep FAIL "$TEST_ROOT/verify.out" | head -n 20 >&2; } || true; tail -n 1 "$TEST_ROOT/verify.out" >&2
      fail "logged (fsync'd) files lost or damaged $1"; }
  echo "    $(tail -n 1 "$TEST_ROOT/verify.out")"
  find "$NEXUS_MNT" -mindepth 1 >/dev/null 2>"$TEST_ROOT/find.err" ||
    { head "$TEST_ROOT/find.err" >&2; fail "walking the tree fails $1"; }
  find "$NEXUS_MNT" -type f -print0 | xargs -0 -r cat >/dev/null 2>"$TEST_ROOT/cat.err" ||
    { head "$TEST_ROOT/cat.err" >&2; fail "some files cannot be read $1"; }
}

nexus_start
for round in $(seq 1 "$ROUNDS"); do
  note "round $round: workload"
  pids=()
  for w in 1 2; do
    /usr/bin/python3 "$WORKLOAD" writer "$NEXUS_MNT/r$round/w$w" "$LOGS/r$round-w$w.log" "$round$w" \
      2>"$TEST_ROOT/r$round-w$w.err" &
    pids+=($!)
  done
  /usr/bin/python3 "$WORKLOAD" churn "$NEXUS_MNT/r$round/churn" "$round" 2>"$TEST_ROOT/r$round-churn.err" &
  pids+=($!)
  head -c 64M /dev/urandom >"$TEST_ROOT/big.src"
  # A big sequential write, logged only if dd's final fsync returned.
  (if dd if="$TEST_ROOT/big.src" of="$NEXUS_MNT/r$round/big" bs=1M conv=fsync status=none 2>/dev/null; then
     echo "NEW $NEXUS_MNT/r$round/big $(md5sum <"$TEST_ROOT/big.src" | cut -d' ' -f1)" >>"$LOGS/r$round-dd.log"
   fi) &
  pids+=($!)
  sleep $((3 + RANDOM % 4))
  for p in "${pids[@]:0:3}"; do
    kill -0 "$p" 2>/dev/null || { cat "$TEST_ROOT"/r$round-*.err >&2; fail "a workload process died before the kill"; }
  done

  note "round $round: kill -9 nexusd"
  nexus_kill9
  for p in "${pids[@]}"; do
    wait "$p" || { cat "$TEST_ROOT"/r$round-*.err >&2; fail "workload process $p failed (not with ENOTCONN)"; }
  done
  logged=$(cat "$LOGS"/r$round-*.log | grep -c -E '^(NEW|DONE) ' || true)
  [[ $logged -ge 20 ]] || fail "round $round: only $logged durable writes logged; the workload is too slow to mean anything"
  echo "    $logged durable writes logged this round"

  note "round $round: meta.db as the crash left it"
  check_db_copy

  note "round $round: restart over the stale mount"
  nexus_start_over_stale
  [[ $NEXUS_STALE_HOW == recovered ]] ||
    fail "round $round: nexusd did not recover the stale mount by itself (asked: $NEXUS_STALE_HOW)"
  check_tree "after crash round $round"
done

note "clean stop, integrity_check, restart, check again"
nexus_stop
out=$(sqlite3 "$NEXUS_DATA/meta.db" 'PRAGMA integrity_check;' 2>&1)
[[ $out == ok ]] || fail "meta.db fails integrity_check after a clean stop: $out"
nexus_start
check_tree "after the final clean restart"
nexus_stop
echo "PASS crash"
