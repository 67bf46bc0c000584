#!/usr/bin/env bash
# A merge is one change set even across a crash (docs/forks.md): nexusd is
# killed with SIGKILL while `fork merge` of many files runs (2,000 rewritten,
# 300 added in new folders, 100 removed, 20 renamed, 10 chmodded); after a
# restart over the stale mount the base is exactly as before the merge or
# exactly as after it (every file's type, mode and checksum), never a mix.
# The kill comes at a random point of the merge (the delay is printed, and
# NEXUS_CRASH_SEED replays it); rounds go on, each with a new delay, until
# one kills the merge while its command still waits and the base then is
# "after" (the interrupted merge finished at start), at most 4. Across the
# restarts: both forks (the merged one and another) keep exactly their
# trees, and changes made to the base after fork time (a file rewritten, a
# file removed) stay invisible in them.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
M=$NEXUS_MNT
FILES=${FORKS_CRASH_FILES:-2400}
SEED=${NEXUS_CRASH_SEED:-$RANDOM}
RANDOM=$SEED

# manifest DIR: one line per entry below DIR, sorted: path, type, mode and
# the checksum of a file's content (or a link's target).
manifest() {
  python3 - "$1" <<'PY'
import hashlib, os, stat, sys
root = sys.argv[1]
out = []
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n)
        st = os.lstat(p)
        rel = os.path.relpath(p, root)
        if stat.S_ISREG(st.st_mode):
            what = "f " + hashlib.md5(open(p, "rb").read()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            what = "l " + os.readlink(p)
        else:
            what = "d"
        out.append("%s %s %o" % (rel, what, stat.S_IMODE(st.st_mode)))
print("\n".join(sorted(out)))
PY
}

nexus_start

note "a base of $FILES files in /big; forks fbig and fother of it"
python3 - "$M/big" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%02d" % (i % 24))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%04d.txt" % i), "w") as f:
        f.write("".join("file %d line %d\n" % (i, k) for k in range(1, 21)))
os.makedirs(os.path.join(root, "notes"))
for name in ("late.txt", "gone.txt"):
    with open(os.path.join(root, "notes", name), "w") as f:
        f.write("%s as it was at fork time\n" % name)
PY
expect_rc 0 nx --json fork create fbig --from /big
expect_rc 0 nx --json fork create fother --from /big
F=$M/forks/fbig

note "fbig: 2,000 files rewritten, 300 added, 100 removed, 20 renamed, 10 chmodded; fother: a few edits"
python3 - "$F" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
path = lambda i: os.path.join(root, "d%02d" % (i % 24), "f%04d.txt" % i)
for i in range(0, 2000):
    with open(path(i), "a") as f:
        f.write("changed in the fork (%d)\n" % i)
for i in range(300):
    d = os.path.join(root, "new%d" % (i % 3))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "n%03d.txt" % i), "w") as f:
        f.write("new file %d\n" % i)
for i in range(2000, 2100):
    os.unlink(path(i))
for i in range(2100, 2120):
    os.rename(path(i), path(i) + ".renamed")
for i in range(2120, 2130):
    os.chmod(path(i), 0o600)
PY
echo "fother's own" >"$M/forks/fother/d00/f0000.txt"
rm "$M/forks/fother/d01/f0001.txt"

note "the base changes after fork time (a file rewritten, one removed)"
echo "late.txt rewritten in the base" >"$M/big/notes/late.txt"
rm "$M/big/notes/gone.txt"
for f in fbig fother; do
  [[ $(cat "$M/forks/$f/notes/late.txt") == "late.txt as it was at fork time" && -f $M/forks/$f/notes/gone.txt ]] ||
    fail "the base's later change shows in fork $f"
done

manifest "$M/big" >"$TEST_ROOT/before"
manifest "$F" >"$TEST_ROOT/fbig"
manifest "$M/forks/fother" >"$TEST_ROOT/fother"
# After the merge the base is the fork's tree, but for what the base itself
# changed since fork time (and the fork did not touch).
python3 - "$TEST_ROOT/fbig" "$TEST_ROOT/before" >"$TEST_ROOT/after" <<'PY'
import sys
fork = dict(l.split(" ", 1) for l in open(sys.argv[1]).read().splitlines())
base = dict(l.split(" ", 1) for l in open(sys.argv[2]).read().splitlines())
fork["notes/late.txt"] = base["notes/late.txt"]
del fork["notes/gone.txt"]
print("\n".join("%s %s" % kv for kv in sorted(fork.items())))
PY
[[ $(wc -l <"$TEST_ROOT/after") -gt 2000 ]] || fail "the expected base after the merge is too small"
cmp -s "$TEST_ROOT/before" "$TEST_ROOT/after" && fail "the merge would change nothing"

note "how long the merge's plan takes (the kill delays scale with it)"
t0=$EPOCHREALTIME
expect_rc 0 nx --json fork merge fbig --dry-run
t1=$EPOCHREALTIME
expect_json 'len(j["entries"]) >= 2400 and j["conflicts"] == []' True
PLAN_MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 1000 + 1 }')
note "the plan took $PLAN_MS ms; seed $SEED"

# check_base WHAT: the base is exactly "before" or "after"; prints which.
check_base() {
  manifest "$M/big" >"$TEST_ROOT/now"
  if cmp -s "$TEST_ROOT/now" "$TEST_ROOT/before"; then
    echo before
  elif cmp -s "$TEST_ROOT/now" "$TEST_ROOT/after"; then
    echo after
  else
    echo "--- the base differs from before:" >&2
    diff "$TEST_ROOT/before" "$TEST_ROOT/now" | head -n 10 >&2
    echo "--- and from after:" >&2
    diff "$TEST_ROOT/after" "$TEST_ROOT/now" | head -n 10 >&2
    echo "($(diff "$TEST_ROOT/before" "$TEST_ROOT/now" | grep -c '^>') lines differ from before," \
      "$(diff "$TEST_ROOT/after" "$TEST_ROOT/now" | grep -c '^>') from after)" >&2
    fail "$1: the base is half merged"
  fi
}
# check_forks WHAT: both forks hold exactly their trees.
check_forks() {
  manifest "$F" | cmp -s - "$TEST_ROOT/fbig" || fail "$1: fork fbig changed"
  manifest "$M/forks/fother" | cmp -s - "$TEST_ROOT/fother" || fail "$1: fork fother changed"
}

# Kill delays: a random fraction of the plan's time, doubled after a kill
# that came before the merge began, halved after one that came after it
# had answered.
scale=100
mid=""
for round in 1 2 3 4; do
  delay_ms=$((PLAN_MS * scale * (30 + RANDOM % 120) / 10000))
  note "round $round: fork merge fbig, nexusd killed after $delay_ms ms"
  nx --json fork merge fbig >"$TEST_ROOT/merge.out" 2>"$TEST_ROOT/merge.err" &
  merge_pid=$!
  sleep "$(awk -v ms="$delay_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
  waiting=no
  pid_running "$merge_pid" && waiting=yes
  nexus_kill9
  merge_rc=0
  wait "$merge_pid" || merge_rc=$?
  nexus_start_over_stale
  outcome=$(check_base "round $round")
  check_forks "round $round"
  note "round $round: the merge command was still waiting: $waiting (exit $merge_rc); the base is as $outcome"
  if [[ $waiting == no && $merge_rc -eq 0 ]]; then
    [[ $outcome == after ]] || fail "round $round: the merge answered, yet the base is as before"
  fi
  if [[ $outcome == after ]]; then
    [[ $waiting == yes ]] && mid=$round
    break
  fi
  # Nothing landed: the fork's changes are all still to merge.
  [[ $waiting == yes ]] && scale=$((scale * 2))
done
if [[ $outcome == before ]]; then
  note "no round's kill came after the merge began; merging without a kill"
  expect_rc 0 nx --json fork merge fbig
  [[ $(check_base "the merge without a kill") == after ]] || fail "the merge without a kill left the base as before"
fi
[[ -n $mid ]] && note "round $mid killed nexusd while the merge command waited; the restart finished it"

note "after a clean restart: the base merged, the forks intact, the base's later changes not in them"
nexus_stop
nexus_start
[[ $(check_base "after a clean restart") == after ]] || fail "the merge did not survive a clean restart"
check_forks "after a clean restart"
expect_rc 0 nx --json fork list
expect_json 'sorted((f["name"], f["state"]) for f in j["forks"])' "[('fbig', 'active'), ('fother', 'active')]"
for f in fbig fother; do
  [[ $(cat "$M/forks/$f/notes/late.txt") == "late.txt as it was at fork time" && -f $M/forks/$f/notes/gone.txt ]] ||
    fail "after the restarts the base's later change shows in fork $f"
done
expect_rc 0 nx --json fork merge fbig --dry-run
expect_json 'j["conflicts"]' "[]"

nexus_stop
echo PASS
