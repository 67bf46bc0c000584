# Shared helpers for integration tests: start a fresh nexusd on a temp data dir
# and mount point, wait until mounted, and tear everything down on exit.
#
# Usage in a test script:
#   source "$(dirname "$0")/../lib.sh"
#   nexus_start [extra nexusd args...]     # sets NEXUS_DATA, NEXUS_MNT, NEXUSD_PID
#   ... use "$NEXUS_MNT" ...
#   nexus_stop                             # SIGTERM, wait, assert exit 0
# The EXIT trap unmounts and removes everything even when a test fails.
# Also: nexus_kill9, nexus_start_over_stale (after a kill -9), tree_manifest /
# xattr_manifest / assert_same_tree (compare two trees), fail, note.
# Env: NEXUS_BUILD_DIR, NEXUSD, NEXUSD_ARGS (extra options for every start).

set -euo pipefail

: "${NEXUS_BUILD_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build}"
NEXUSD="${NEXUSD:-$NEXUS_BUILD_DIR/bin/nexusd}"
NEXUS_CLI="${NEXUS_CLI:-$NEXUS_BUILD_DIR/bin/nexus}"
[[ -x "$NEXUSD" ]] || { echo "nexusd not found at $NEXUSD" >&2; exit 1; }

TEST_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/nexus-it.XXXXXX")
chmod 755 "$TEST_ROOT"
NEXUS_DATA="$TEST_ROOT/data"
NEXUS_MNT="$TEST_ROOT/mnt"
NEXUS_LOG="$TEST_ROOT/nexusd.log"
NEXUSD_PID=""
mkdir -p "$NEXUS_DATA" "$NEXUS_MNT"

fail() { echo "FAIL: $*" >&2; [[ -f "$NEXUS_LOG" ]] && tail -n 30 "$NEXUS_LOG" >&2; exit 1; }
note() { echo "--- $*"; }

# True when a live FUSE filesystem answers at $1. statfs is never answered
# from the kernel's cache and reports the filesystem's magic number: a dead
# FUSE mount fails with ENOTCONN, and the bare directory underneath (in the
# moment between a stale mount being detached and the new one appearing)
# reports the host filesystem's type. `mountpoint` alone reads the mount
# table, which still lists a stale mount.
fuse_live() {
  [[ $(stat -f -c %t "$1" 2>/dev/null) == 65735546 ]]
}

# Waits until $1 is a mount point (or the daemon died). Timeout in seconds: $2.
wait_mounted() {
  local mnt=$1 timeout=${2:-20} i
  for ((i = 0; i < timeout * 20; i++)); do
    # A mount left by a killed daemon still shows in /proc/mounts, but every
    # request to it fails with ENOTCONN: only a live mount counts. statfs is
    # always sent to the daemon (stat may be answered from the attr cache).
    fuse_live "$mnt" && return 0
    if [[ -n "$NEXUSD_PID" ]] && ! kill -0 "$NEXUSD_PID" 2>/dev/null; then
      fail "nexusd exited before mounting $mnt"
    fi
    sleep 0.05
  done
  fail "timed out waiting for mount at $mnt"
}

# Extra daemon options for every start, from the environment, e.g.
# NEXUSD_ARGS=--writeback-cache to run a test in that mode.
read -r -a NEXUSD_EXTRA_ARGS <<<"${NEXUSD_ARGS:-}"

# Background jobs of a non-interactive shell start with SIGINT ignored, and
# libfuse keeps an ignored SIGINT ignored; `env --default-signal` restores the
# default so the daemon sees SIGINT as it would when started from a terminal.
nexus_start() {
  env --default-signal=INT "$NEXUSD" --data-dir "$NEXUS_DATA" --mount "$NEXUS_MNT" --log-level info \
    "${NEXUSD_EXTRA_ARGS[@]}" "$@" \
    >>"$NEXUS_LOG" 2>&1 &
  NEXUSD_PID=$!
  wait_mounted "$NEXUS_MNT"
}

# Starts nexusd on a mount point left stale by a killed daemon. The daemon
# may recover the stale mount itself, or exit non-zero naming the command to
# run ("run: fusermount3 -u MNT"); then that command is run and the daemon
# started again. Anything else fails. Sets NEXUS_STALE_HOW to "recovered"
# or to the command that was run.
nexus_start_over_stale() {
  local i from
  from=$(stat -c %s "$NEXUS_LOG" 2>/dev/null || echo 0)  # only this start's output counts
  env --default-signal=INT "$NEXUSD" --data-dir "$NEXUS_DATA" --mount "$NEXUS_MNT" --log-level info \
    "${NEXUSD_EXTRA_ARGS[@]}" "$@" >>"$NEXUS_LOG" 2>&1 &
  NEXUSD_PID=$!
  for ((i = 0; i < 400; i++)); do
    if fuse_live "$NEXUS_MNT"; then
      NEXUS_STALE_HOW=recovered
      return 0
    fi
    kill -0 "$NEXUSD_PID" 2>/dev/null || break
    sleep 0.05
  done
  local rc=0
  if kill -0 "$NEXUSD_PID" 2>/dev/null; then
    fail "nexusd neither mounted over the stale mount nor exited within 20s"
  fi
  wait "$NEXUSD_PID" || rc=$?
  NEXUSD_PID=""
  [[ $rc -ne 0 ]] || fail "nexusd exited 0 without mounting over the stale mount"
  NEXUS_STALE_HOW=$(tail -c +$((from + 1)) "$NEXUS_LOG" |
    grep -oE '(fusermount3? -uz? |umount -l |umount )[^ )"]+' | tail -n 1 || true)
  [[ -n $NEXUS_STALE_HOW ]] ||
    fail "nexusd refused the stale mount without saying what to run: $(tail -c +$((from + 1)) "$NEXUS_LOG" | tail -n 2)"
  note "nexusd asked to run: $NEXUS_STALE_HOW"
  $NEXUS_STALE_HOW || fail "the command nexusd suggested failed: $NEXUS_STALE_HOW"
  nexus_start "$@"
}

# Prints one line per entry below directory $1, sorted by path: path, type,
# mode, uid:gid, size, link count, mtime (ns) and symlink target. Directory
# sizes and link counts are left out: they legitimately differ between
# filesystems. Two trees with equal manifests agree on everything `diff -r`
# does not see.
tree_manifest() {
  (cd "$1" && find . -mindepth 1 -printf '%P\t%y %m %U:%G %s %n %T@ %l\n') |
    awk -F'\t' 'BEGIN { OFS = "\t" }
      { n = split($2, f, " "); if (f[1] == "d") { f[4] = "-"; f[5] = "-" }
        line = f[1]; for (i = 2; i <= n; i++) line = line " " f[i]
        print $1, line }' | LC_ALL=C sort
}

# Prints the xattrs matching regex $2 (default: all) of every entry below $1,
# in path order, values in hex, symlinks not followed.
xattr_manifest() {
  (cd "$1" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
    xargs -0 -r getfattr -h -d -e hex -m "${2:--}" 2>/dev/null)
}

# Fails unless trees $1 and $2 have the same contents (diff -r, symlinks
# compared as links) and the same tree_manifest. $3 names the comparison.
# diff reports every pair of fifos/sockets/devices as a difference; those
# lines are dropped (the manifest compares such entries).
assert_same_tree() {
  local a=$1 b=$2 what=${3:-"$1 vs $2"} rc=0
  diff -r --no-dereference "$a" "$b" >"$TEST_ROOT/tree.diff" 2>&1 || rc=$?
  if [[ $rc -gt 1 ]] || grep -Ev '^File .* is a (fifo|socket|character special file|block special file) while file .* is a (fifo|socket|character special file|block special file)$' \
      "$TEST_ROOT/tree.diff" >"$TEST_ROOT/tree.diff.real"; then
    head -n 20 "$TEST_ROOT/tree.diff" >&2
    fail "$what: contents differ (diff -r)"
  fi
  diff <(tree_manifest "$a") <(tree_manifest "$b") >"$TEST_ROOT/manifest.diff" ||
    { head -n 20 "$TEST_ROOT/manifest.diff" >&2; fail "$what: modes/owners/times/links differ"; }
}

# Runs the nexus CLI against this test's daemon (its Unix socket).
nx() { NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home" "$NEXUS_CLI" "$@"; }
# (nx_exec ARGS...) &: the CLI in the background, its pid in $! (the
# subshell becomes the CLI, so killing $! ends the CLI itself).
nx_exec() { NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home" exec "$NEXUS_CLI" "$@"; }

# expect_rc CODE CMD...: runs CMD, fails the test unless it exits CODE.
# Its stdout goes to $TEST_ROOT/out, stderr to $TEST_ROOT/err.
expect_rc() {
  local want=$1 rc=0
  shift
  "$@" >"$TEST_ROOT/out" 2>"$TEST_ROOT/err" || rc=$?
  [[ $rc -eq $want ]] || fail "'$*' exited $rc, expected $want; stderr: $(head -c 600 "$TEST_ROOT/err"); stdout: $(head -c 300 "$TEST_ROOT/out")"
}

# newest_version PATH CONTENT FIELD...: the FIELDs (of `versions history
# --json`: subject, uid, command, ...) of PATH's newest version, space
# separated, once that version holds exactly CONTENT (captures land a few
# ms after a close); fails the test after 10 s.
newest_version() {
  local path=$1 want i out="" fields
  want=$(printf '%s' "$2" | git hash-object --stdin)
  shift 2
  fields=$(printf "v['%s']," "$@")
  for ((i = 0; i < 200; i++)); do
    out=$(nx --json versions history "$path" 2>/dev/null | python3 -c "
import json, sys
v = json.load(sys.stdin)['versions'][-1]
if v['content_id'] != '$want': sys.exit(1)
print(*[${fields%,}])" 2>/dev/null) && [[ -n $out ]] && { echo "$out"; return 0; }
    sleep 0.05
  done
  fail "$path: no version holding the expected content after 10 s"
}

# within SECS WHAT CMD...: polls CMD (every 20 ms) until it succeeds; fails
# the test with WHAT after SECS seconds.
within() {
  local secs=$1 what=$2 deadline
  shift 2
  deadline=$(($(date +%s%N) + secs * 1000000000))
  until "$@"; do
    (($(date +%s%N) < deadline)) || fail "$what (not within ${secs}s)"
    sleep 0.02
  done
}
# search_ready: the search index is ready with nothing queued.
search_ready() {
  nx --json search stats >"$TEST_ROOT/stats" 2>/dev/null &&
    python3 -c "import json; j=json.load(open('$TEST_ROOT/stats')); exit(0 if j['state']=='ready' and j['queue_depth']==0 else 1)"
}

# json_get EXPR: evaluates python expression EXPR over the JSON in $TEST_ROOT/out (as j).
json_get() { python3 -c "import json,sys; j=json.load(open('$TEST_ROOT/out')); print($1)"; }
out() { cat "$TEST_ROOT/out"; }
# expect_json EXPR WANT: EXPR over the JSON in $TEST_ROOT/out prints WANT.
expect_json() {
  local got
  got=$(json_get "($1)") || fail "cannot evaluate $1 over: $(head -c 400 "$TEST_ROOT/out")"
  [[ $got == "$2" ]] || fail "$1 is '$got', expected '$2'; output: $(head -c 600 "$TEST_ROOT/out")"
}
expect_err() { grep -q "$1" "$TEST_ROOT/err" || fail "stderr lacks '$1': $(head -c 400 "$TEST_ROOT/err")"; }

# Several local users: uids ALICE_UID, BOB_UID, CAROL_UID in group
# USERS_GID (chgrp the socket to it so they reach the daemon).
ALICE_UID=${NONROOT_UID:-1000}
BOB_UID=$((ALICE_UID + 1))
CAROL_UID=$((ALICE_UID + 2))
USERS_GID=${NONROOT_GID:-1000}
# as UID ARGS...: the CLI run as that uid (its own NEXUS_HOME).
as() {
  local uid=$1
  shift
  setpriv --reuid "$uid" --regid "$USERS_GID" --clear-groups \
    env NEXUS_SOCKET="$NEXUS_DATA/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home$uid" "$NEXUS_CLI" "$@"
}
alice() { as "$ALICE_UID" "$@"; }
bob() { as "$BOB_UID" "$@"; }
carol() { as "$CAROL_UID" "$@"; }
# shell UID CMD: a shell command (on the mount) as that uid; output in
# $TEST_ROOT/out and err.
shell() {
  local uid=$1
  shift
  setpriv --reuid "$uid" --regid "$USERS_GID" --clear-groups bash -c "$*" >"$TEST_ROOT/out" 2>"$TEST_ROOT/err"
}

# Stops the daemon with SIGTERM and requires a clean exit (status 0, unmounted).
# Whether process $1 runs (a zombie, exited but not yet waited for, does not).
pid_running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  [[ ${stat##*) } != Z* ]]
}

# stop_daemon PID LOG: SIGTERM to a nexusd and waits for it. One that has
# not exited after NEXUS_STOP_TIMEOUT seconds (default 60) fails the test
# with its threads' stacks appended to LOG, never hangs it. Returns the
# daemon's exit status.
stop_daemon() {
  local pid=$1 log=$2 rc=0 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < ${NEXUS_STOP_TIMEOUT:-60} * 10; i++)); do
    pid_running "$pid" || break
    sleep 0.1
  done
  if pid_running "$pid"; then
    {
      echo "=== nexusd (pid $pid) did not stop within ${NEXUS_STOP_TIMEOUT:-60} s; its threads:"
      local t
      for t in /proc/"$pid"/task/*; do
        echo "-- thread ${t##*/} $(cat "$t/comm" 2>/dev/null) state $(awk '{print $3}' "$t/stat" 2>/dev/null)"
        cat "$t/stack" 2>/dev/null | head -n 12
      done
      timeout -s KILL 30 gdb -p "$pid" -batch -ex "thread apply all bt" 2>&1 | grep -E '^(Thread|#)' || true
    } | tee -a "$log" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    fail "nexusd (pid $pid) did not stop within ${NEXUS_STOP_TIMEOUT:-60} s after SIGTERM (stacks in $log)"
  fi
  wait "$pid" 2>/dev/null || rc=$?
  return $rc
}

# Stops the daemon (stop_daemon) and checks it exits 0 and unmounts.
nexus_stop() {
  [[ -n "$NEXUSD_PID" ]] || return 0
  local rc=0 pid=$NEXUSD_PID
  NEXUSD_PID=""
  stop_daemon "$pid" "$NEXUS_LOG" || rc=$?
  [[ $rc -eq 0 ]] || fail "nexusd exited with status $rc after SIGTERM"
  ! mountpoint -q "$NEXUS_MNT" || fail "mount still present after nexusd exit"
}

# Kills the daemon with SIGKILL (simulated crash); the mount is left stale.
nexus_kill9() {
  [[ -n "$NEXUSD_PID" ]] || return 0
  kill -KILL "$NEXUSD_PID" 2>/dev/null || true
  wait "$NEXUSD_PID" 2>/dev/null || true
  NEXUSD_PID=""
}

# PIDs of more daemons a test starts (other mesh nodes); killed at exit.
NEXUS_EXTRA_PIDS=()

_nexus_cleanup() {
  local rc=$?
  for p in "${NEXUS_EXTRA_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [[ -n "$NEXUSD_PID" ]]; then
    kill -TERM "$NEXUSD_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$NEXUSD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NEXUSD_PID" 2>/dev/null || true
  fi
  for m in $(awk -v r="$TEST_ROOT" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do
    fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  if [[ $rc -ne 0 && -f "$NEXUS_LOG" ]]; then
    echo "--- last lines of nexusd log:" >&2
    tail -n 40 "$NEXUS_LOG" >&2
  fi
  rm -rf "$TEST_ROOT"
  exit $rc
}
trap _nexus_cleanup EXIT
