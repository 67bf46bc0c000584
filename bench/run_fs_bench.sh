#!/usr/bin/env bash
# run_fs_bench.sh — compares three filesystems side by side in one run on one machine:
#   native          a plain directory on the local disk (under BENCH_DIR)
#   passthrough_ll  libfuse's example, compiled here from libfuse3-dev's examples,
#                   mounted over a directory under BENCH_DIR
#   nexusd          the NexusFS daemon, a fresh data dir under BENCH_DIR every mount
#   nexusd-prev     another build of nexusd (NEXUSD_PREV, e.g. the commit before) with
#                   nexusd's arguments, to compare two builds in one run
#   nexusd-base     the same daemon with features off (NEXUSD_BASE_ARGS), to price them
#   nexusd-agent    the same daemon as nexusd, the workload run through a per-subject
#                   mount (nexus mount add --as agent:bench --cache-names) of /work, where
#                   agent:bench is an editor: every call checked for a restricted subject
#   nexusd-norebac  the same daemon with ReBAC off (--features rebac=off)
#   nexusd-uid      the same daemon as nexusd, the workload run on the main mount by an
#                   unprivileged uid (BENCH_UID) bound to agent:benchuid, an editor of /work
# on the workloads seqio, smallfiles, tree and the agent workloads untar, git, npm, make
# (bench/agent_workloads.sh; see bench/README.md), BENCH_RUNS times each, targets
# interleaved within each run so machine noise hits all of them alike.
# Prints progress on stderr, the Markdown table on stdout, and writes the results JSON
# (plus the same table as .md) to --output.
#
# Needs root: it drops the page cache and mounts FUSE filesystems. Every mount and
# daemon it starts is stopped by the EXIT trap, also on failure or Ctrl-C.
set -uo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=bench/agent_workloads.sh
source "$SCRIPT_DIR/agent_workloads.sh"

BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/var/tmp/nexus-bench}
BENCH_WORKLOADS=${BENCH_WORKLOADS:-seqio,smallfiles,tree}
BENCH_TARGETS=${BENCH_TARGETS:-}
BENCH_SIZE_MB=${BENCH_SIZE_MB:-1024}
BENCH_SEQ_WARMUP=${BENCH_SEQ_WARMUP:-1}
BENCH_SMALL_FILES=${BENCH_SMALL_FILES:-20000}
BENCH_SMALL_DIRS=${BENCH_SMALL_DIRS:-100}
BENCH_SMALL_SIZE=${BENCH_SMALL_SIZE:-4096}
BENCH_READDIR_NAMES=${BENCH_READDIR_NAMES:-1000}
BENCH_READDIR_REPS=${BENCH_READDIR_REPS:-20}
BENCH_TREE_SRC=${BENCH_TREE_SRC:-/usr/include}
BENCH_STEP_TIMEOUT=${BENCH_STEP_TIMEOUT:-900}
# Seconds of idle before each step, so one step's leftover work (a daemon's
# captures, writeback) settles before the next step's clock starts.
BENCH_IDLE_GAP=${BENCH_IDLE_GAP:-0}
BENCH_OUTPUT=${BENCH_OUTPUT:-}
BENCH_KEEP=${BENCH_KEEP:-0}
NEXUSD=${NEXUSD:-$REPO_DIR/build/bin/nexusd}
# nexusd-prev: another nexusd binary run with NEXUSD_ARGS (a build of the commit before).
NEXUSD_PREV=${NEXUSD_PREV:-}
NEXUSD_ARGS=${NEXUSD_ARGS---log-level warn}
# nexusd-base: the same daemon with the optional features off, to price them.
NEXUSD_BASE_ARGS=${NEXUSD_BASE_ARGS---log-level warn --features versions=off,search=off}
# nexusd-norebac: the same daemon with access control off, everything else default.
NEXUSD_NOREBAC_ARGS=${NEXUSD_NOREBAC_ARGS-$NEXUSD_ARGS --features rebac=off}
# nexusd-uid: the unprivileged uid (and gid) bound to agent:benchuid.
BENCH_UID=${BENCH_UID:-64123}
PLL_ARGS=${PLL_ARGS:-}
NEXUS_CLI=${NEXUS_CLI:-$REPO_DIR/build/bin/nexus}
# nexusd-agent's `nexus mount add` options (word-split).
NEXUS_AGENT_MOUNT_ARGS=${NEXUS_AGENT_MOUNT_ARGS---cache-names}
# The minimum nexusd/base (and agent/base) ratio: "versions" (versioning's budgets) or a
# number for every phase (access control's "<= 10% slower" is 0.909).
BENCH_BASE_BUDGET=${BENCH_BASE_BUDGET:-versions}

usage() {
  cat <<EOF
usage: $0 [options]

  -r, --runs N           runs per workload and target, medians reported   [BENCH_RUNS=$BENCH_RUNS]
  -d, --bench-dir DIR    scratch dir on the local disk                      [BENCH_DIR=$BENCH_DIR]
  -w, --workloads LIST   comma list of seqio,smallfiles,tree and the agent workloads
                         untar,git,npm,make (find, rm: npm; agent: all four)
                                                                            [BENCH_WORKLOADS=$BENCH_WORKLOADS]
  -t, --targets LIST     comma list of native,passthrough_ll,nexusd,nexusd-prev,nexusd-base,
                         nexusd-agent,nexusd-norebac,nexusd-uid
                         [BENCH_TARGETS; default native,passthrough_ll,nexusd,
                         nexusd skipped with a warning when its binary is missing]
  -s, --size-mb N        seqio file size in MiB (1 MiB blocks)              [BENCH_SIZE_MB=$BENCH_SIZE_MB]
  -o, --output FILE      results JSON (the table also goes to FILE's .md)   [BENCH_OUTPUT; default
                         bench/results/fs_bench-<UTC time>.json]
      --nexusd PATH      nexusd binary                                      [NEXUSD=$NEXUSD]
      --nexusd-args STR  extra nexusd arguments, word-split                 [NEXUSD_ARGS="$NEXUSD_ARGS"]
      --prev PATH        nexusd-prev's binary, e.g. a build of the commit before  [NEXUSD_PREV]
      --base-args STR    nexusd-base's arguments (target nexusd-base: the same binary with
                         features off, to price them)                      [NEXUSD_BASE_ARGS]
      --pll-args STR     extra passthrough_ll arguments (default: none)     [PLL_ARGS="$PLL_ARGS"]
      --keep             keep mount/backing dirs and logs for inspection    [BENCH_KEEP=1]
  -h, --help

More knobs (env): BENCH_SEQ_WARMUP=$BENCH_SEQ_WARMUP (untimed warm-up write before the timed one) BENCH_SMALL_FILES=$BENCH_SMALL_FILES BENCH_SMALL_DIRS=$BENCH_SMALL_DIRS
BENCH_SMALL_SIZE=$BENCH_SMALL_SIZE BENCH_READDIR_NAMES=$BENCH_READDIR_NAMES BENCH_READDIR_REPS=$BENCH_READDIR_REPS
BENCH_TREE_SRC=$BENCH_TREE_SRC BENCH_STEP_TIMEOUT=$BENCH_STEP_TIMEOUT (s)
BENCH_IDLE_GAP=$BENCH_IDLE_GAP (s of idle before each step).
Agent workloads: BENCH_UNTAR_SRC="$BENCH_UNTAR_SRC" BENCH_GIT_FILES=$BENCH_GIT_FILES
BENCH_GIT_CHANGES=$BENCH_GIT_CHANGES BENCH_NPM_MODE=$BENCH_NPM_MODE (npm|tar) BENCH_MAKE_FILES=$BENCH_MAKE_FILES
BENCH_MAKE_TOUCH=$BENCH_MAKE_TOUCH BENCH_SETTLE_WINDOW=$BENCH_SETTLE_WINDOW (s) BENCH_SETTLE_TICKS=$BENCH_SETTLE_TICKS
BENCH_SETTLE_MAX=$BENCH_SETTLE_MAX (s) BENCH_UID=$BENCH_UID NEXUSD_NOREBAC_ARGS="$NEXUSD_NOREBAC_ARGS"
Quick check: BENCH_RUNS=1 BENCH_SIZE_MB=128 BENCH_SMALL_FILES=2000 $0
Agent workloads, all targets: $0 -w agent -t native,passthrough_ll,nexusd,nexusd-norebac,nexusd-uid,nexusd-agent
EOF
}

die() { echo "run_fs_bench: $*" >&2; exit 1; }
say() { echo "$*" >&2; }

while (($#)); do
  case $1 in
    -r|--runs) BENCH_RUNS=${2:?}; shift ;;
    -d|--bench-dir) BENCH_DIR=${2:?}; shift ;;
    -w|--workloads) BENCH_WORKLOADS=${2:?}; shift ;;
    -t|--targets) BENCH_TARGETS=${2:?}; shift ;;
    -s|--size-mb) BENCH_SIZE_MB=${2:?}; shift ;;
    -o|--output) BENCH_OUTPUT=${2:?}; shift ;;
    --nexusd) NEXUSD=${2:?}; shift ;;
    --nexusd-args) NEXUSD_ARGS=${2?}; shift ;;
    --base-args) NEXUSD_BASE_ARGS=${2?}; shift ;;
    --prev) NEXUSD_PREV=${2?}; shift ;;
    --pll-args) PLL_ARGS=${2?}; shift ;;
    --keep) BENCH_KEEP=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
  shift
done

# --- validation --------------------------------------------------------------------------

[[ $(id -u) -eq 0 ]] || die "must run as root (drops caches, mounts FUSE)"
for n in "$BENCH_RUNS" "$BENCH_SIZE_MB" "$BENCH_SMALL_FILES" "$BENCH_SMALL_DIRS" \
         "$BENCH_SMALL_SIZE" "$BENCH_STEP_TIMEOUT" "$BENCH_READDIR_NAMES" "$BENCH_READDIR_REPS" \
         "$BENCH_UID"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "expected a positive integer, got '$n'"
done
for tool in cc pkg-config cmake python3 tar grep find dd mountpoint fusermount3 timeout \
            flock sha256sum awk; do
  command -v "$tool" >/dev/null || die "missing tool: $tool (see scripts/install-deps.sh)"
done
PLL_SOURCE=/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c
[[ -r $PLL_SOURCE ]] || die "missing $PLL_SOURCE (apt-get install libfuse3-dev)"
[[ -d $BENCH_TREE_SRC ]] || die "BENCH_TREE_SRC=$BENCH_TREE_SRC is not a directory"
[[ $BENCH_IDLE_GAP =~ ^[0-9]+$ ]] || die "BENCH_IDLE_GAP: expected seconds, got '$BENCH_IDLE_GAP'"

IFS=, read -r -a asked <<<"$BENCH_WORKLOADS"
WORKLOADS=()
add_workload() { [[ " ${WORKLOADS[*]} " == *" $1 "* ]] || WORKLOADS+=("$1"); }
for w in "${asked[@]}"; do
  case $w in
    seqio|smallfiles|tree|untar|git|npm|make) add_workload "$w" ;;
    find|rm) add_workload npm ;;  # steps of the npm workload (rm -rf also ends untar)
    agent) for a in "${AGENT_WORKLOADS[@]}"; do add_workload "$a"; done ;;
    *) die "unknown workload: $w" ;;
  esac
done
HAS_AGENT_WORKLOADS=0
for w in "${WORKLOADS[@]}"; do
  [[ " ${AGENT_WORKLOADS[*]} " == *" $w "* ]] && HAS_AGENT_WORKLOADS=1
done
((HAS_AGENT_WORKLOADS)) && agent_validate
if [[ -z $BENCH_TARGETS ]]; then
  if [[ -x $NEXUSD ]]; then
    BENCH_TARGETS=native,passthrough_ll,nexusd
  else
    say "run_fs_bench: WARNING: $NEXUSD not found; benchmarking native and passthrough_ll only"
    BENCH_TARGETS=native,passthrough_ll
  fi
fi
IFS=, read -r -a TARGETS <<<"$BENCH_TARGETS"
for t in "${TARGETS[@]}"; do
  case $t in
    native|passthrough_ll) ;;
    nexusd|nexusd-base|nexusd-norebac) [[ -x $NEXUSD ]] || die "nexusd binary not found: $NEXUSD" ;;
    nexusd-prev) [[ -n $NEXUSD_PREV && -x $NEXUSD_PREV ]] || die "nexusd-prev needs NEXUSD_PREV, an executable: '$NEXUSD_PREV'" ;;
    nexusd-agent|nexusd-uid) [[ -x $NEXUSD && -x $NEXUS_CLI ]] || die "nexusd or nexus not found: $NEXUSD $NEXUS_CLI" ;;
    *) die "unknown target: $t" ;;
  esac
done
read -r -a NEXUSD_ARGV <<<"$NEXUSD_ARGS"
read -r -a NEXUSD_BASE_ARGV <<<"$NEXUSD_BASE_ARGS"
read -r -a NEXUSD_NOREBAC_ARGV <<<"$NEXUSD_NOREBAC_ARGS"
read -r -a PLL_ARGV <<<"$PLL_ARGS"

# passthrough_ll keeps an O_PATH fd open for every inode the kernel knows, so it needs
# one fd per live file: past the fd limit it fails (EMFILE, surfacing as EBADF from
# close). Raise the limit as far as we may; if it is still too low for the requested
# file count (containers often pin the hard limit at 20000), shrink the count to fit
# and say so in the results rather than lose the baseline.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
SMALL_FILES_NOTE=""
if [[ " ${WORKLOADS[*]} " == *" smallfiles "* && " ${TARGETS[*]} " == *" passthrough_ll "* &&
      $NOFILE != unlimited ]] &&
   ((BENCH_SMALL_FILES + BENCH_SMALL_DIRS + BENCH_READDIR_NAMES + 512 > NOFILE)); then
  capped=$(((NOFILE - BENCH_SMALL_DIRS - BENCH_READDIR_NAMES - 512) / BENCH_SMALL_DIRS * BENCH_SMALL_DIRS))
  ((capped > 0)) || die "fd limit $NOFILE too low for the smallfiles workload"
  SMALL_FILES_NOTE="smallfiles: $capped files instead of $BENCH_SMALL_FILES: the fd limit is $NOFILE and cannot be raised here, and passthrough_ll needs one fd per file"
  say "run_fs_bench: WARNING: $SMALL_FILES_NOTE"
  BENCH_SMALL_FILES=$capped
fi

# The same holds for the git workload's checkout (a directory per 100 files, and a
# margin for .git and the tools' own fds).
GIT_FILES_NOTE=""
if [[ " ${WORKLOADS[*]} " == *" git "* && " ${TARGETS[*]} " == *" passthrough_ll "* &&
      $NOFILE != unlimited ]] &&
   ((BENCH_GIT_FILES + BENCH_GIT_FILES / 100 + 1000 > NOFILE)); then
  capped=$(((NOFILE - 1000) * 100 / 101 / 100 * 100))
  ((capped > 0)) || die "fd limit $NOFILE too low for the git workload"
  GIT_FILES_NOTE="git: $capped files instead of $BENCH_GIT_FILES: the fd limit is $NOFILE and cannot be raised here, and passthrough_ll needs one fd per file (the issue's >= 20,000 needs a hard fd limit above ~21,300)"
  say "run_fs_bench: WARNING: $GIT_FILES_NOTE"
  BENCH_GIT_FILES=$capped
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
[[ -n $BENCH_OUTPUT ]] || BENCH_OUTPUT=$SCRIPT_DIR/results/fs_bench-$STAMP.json
mkdir -p "$(dirname "$BENCH_OUTPUT")" || die "cannot create $(dirname "$BENCH_OUTPUT")"

mkdir -p "$BENCH_DIR" || die "cannot create $BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
exec 9>"$BENCH_DIR/.lock"
flock -n 9 || die "another run_fs_bench.sh is using $BENCH_DIR"

TOOLS=$BENCH_DIR/tools
INPUTS=$BENCH_DIR/inputs
MNTS=$BENCH_DIR/mnt
BACKING=$BENCH_DIR/backing
LOGS=$BENCH_DIR/logs/$STAMP
RAW=$LOGS/raw.jsonl
mkdir -p "$TOOLS" "$INPUTS" "$MNTS" "$BACKING" "$LOGS"
: >"$RAW"

# --- cleanup -----------------------------------------------------------------------------

# The one FUSE daemon that may be running at any time (targets are mounted one by one).
ACTIVE_PID=""
ACTIVE_MNT=""

pid_alive() {  # true while $1 runs; a zombie (exited, not yet reaped) counts as gone
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

force_unmount() {
  local mnt=$1
  grep -qs " $mnt fuse" /proc/self/mounts || return 0
  fusermount3 -u -q "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
}

# The trap may fire inside a step whose output is redirected to a file: talk through
# the script's own stdout/stderr, saved here.
exec 7>&1 8>&2
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  exec 1>&7 2>&8
  # timeout(1) passes the signal on to the command it runs.
  [[ -n $STEP_PID ]] && kill -TERM "$STEP_PID" 2>/dev/null
  if [[ -n $ACTIVE_PID ]]; then
    say "run_fs_bench: cleanup: stopping daemon $ACTIVE_PID at $ACTIVE_MNT"
    kill -TERM "$ACTIVE_PID" 2>/dev/null
    for _ in {1..100}; do pid_alive "$ACTIVE_PID" || break; sleep 0.1; done
    pid_alive "$ACTIVE_PID" && kill -KILL "$ACTIVE_PID" 2>/dev/null
    wait "$ACTIVE_PID" 2>/dev/null
  fi
  [[ -n $ACTIVE_MNT ]] && force_unmount "$ACTIVE_MNT"
  # Anything else of ours still mounted (e.g. after a crash between bookkeeping steps).
  local m
  while read -r _ m _; do
    [[ $m == "$MNTS"/* ]] && force_unmount "$m"
  done </proc/self/mounts
  if [[ $BENCH_KEEP != 1 ]]; then
    rm -rf "$MNTS" "$BACKING"
  fi
  ((rc == 0)) || say "run_fs_bench: exit status $rc; logs in $LOGS"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers -----------------------------------------------------------------------------

json_str() {  # JSON string literal of $1
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/ }
  s=${s//$'\t'/ }
  printf '"%s"' "$s"
}

record_sample() {  # run target workload phase value unit
  printf '{"kind":"sample","run":%s,"target":"%s","workload":"%s","phase":"%s","value":%s,"unit":"%s"}\n' \
    "$1" "$2" "$3" "$4" "$5" "$6" >>"$RAW"
}

record_problem() {  # kind run target workload message
  printf '{"kind":"%s","run":%s,"target":"%s","workload":"%s","error":%s}\n' \
    "$1" "$2" "$3" "$4" "$(json_str "$5")" >>"$RAW"
}

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
mbps() { awk -v bytes="$1" -v s="$2" 'BEGIN { printf "%.1f", bytes / 1e6 / s }'; }
sum() { awk 'BEGIN { t = 0; for (i = 1; i < ARGC; i++) t += ARGV[i]; printf "%.6f", t }' "$@"; }

# CPU seconds (user + system, every thread) process $1 has used so far; empty
# when it is not running.
CLK_TCK=$(getconf CLK_TCK)
proc_cpu() {
  [[ -n $1 && -r /proc/$1/stat ]] || return 0
  awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}

drop_caches() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
}

# Runs a command under the step timeout, killing it if it overruns (a hung FUSE daemon
# must not hang the benchmark). It runs in the background and we wait for it, because
# bash defers traps until a foreground child exits: this way Ctrl-C and SIGTERM reach
# the cleanup at once. Callers redirect to files, never $(step ...), for the same reason.
#
# On nexusd-uid the command runs as the bound uid: AS_USER is its setpriv prefix there
# and empty elsewhere.
STEP_PID=""
STEP_NOTE=""  # set when a step overran; the main loop adds it to the failure message
AS_USER=()
step() {
  timeout -k 10 "$BENCH_STEP_TIMEOUT" "${AS_USER[@]}" "$@" &
  STEP_PID=$!
  wait "$STEP_PID" 2>/dev/null
  local rc=$?
  STEP_PID=""
  ((rc == 124 || rc == 137)) && STEP_NOTE=" [timed out after ${BENCH_STEP_TIMEOUT} s: $1]"
  return "$rc"
}

# Set by the workload functions for the failure record and the progress line.
FAIL_MSG=""
SUMMARY=""

# --- preparation -------------------------------------------------------------------------

say "run_fs_bench: scratch dir $BENCH_DIR, logs $LOGS"
say "run_fs_bench: building passthrough_ll from $PLL_SOURCE"
PLL_BIN=$TOOLS/passthrough_ll
# shellcheck disable=SC2046  # pkg-config output must be word-split
cc -O2 -Wall -o "$PLL_BIN" "$PLL_SOURCE" $(pkg-config --cflags --libs fuse3) \
  >"$LOGS/build-pll.log" 2>&1 || die "building passthrough_ll failed: see $LOGS/build-pll.log"

say "run_fs_bench: building nexus_bench_smallfiles (standalone CMake build of bench/)"
{
  cmake -S "$SCRIPT_DIR" -B "$TOOLS/build" -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$TOOLS/build" --target nexus_bench_smallfiles
} >"$LOGS/build-bench.log" 2>&1 || die "building smallfiles failed: see $LOGS/build-bench.log"
SMALL_BIN=$TOOLS/build/nexus_bench_smallfiles

NEXUSD_BIN=""
NEXUSD_SHA=""
if [[ " ${TARGETS[*]} " == *" nexusd"* ]]; then
  # Snapshot the binary: the build may be redone while this runs.
  NEXUSD_BIN=$TOOLS/nexusd
  cp -f "$NEXUSD" "$NEXUSD_BIN" || die "cannot copy $NEXUSD"
  NEXUSD_SHA=$(sha256sum "$NEXUSD_BIN" | cut -c1-16)
fi
NEXUSD_PREV_BIN=""
NEXUSD_PREV_SHA=""
if [[ " ${TARGETS[*]} " == *" nexusd-prev "* ]]; then
  NEXUSD_PREV_BIN=$TOOLS/nexusd-prev
  cp -f "$NEXUSD_PREV" "$NEXUSD_PREV_BIN" || die "cannot copy $NEXUSD_PREV"
  NEXUSD_PREV_SHA=$(sha256sum "$NEXUSD_PREV_BIN" | cut -c1-16)
fi

SEQ_BYTES=$((BENCH_SIZE_MB * 1048576))
SEQ_SRC=$INPUTS/random-${BENCH_SIZE_MB}M.bin
if [[ " ${WORKLOADS[*]} " == *" seqio "* ]] &&
   [[ ! -f $SEQ_SRC || $(stat -c %s "$SEQ_SRC") -ne $SEQ_BYTES ]]; then
  say "run_fs_bench: generating $SEQ_SRC (random, incompressible)"
  dd if=/dev/urandom of="$SEQ_SRC.tmp" bs=1M count="$BENCH_SIZE_MB" status=none ||
    die "cannot create $SEQ_SRC"
  mv "$SEQ_SRC.tmp" "$SEQ_SRC" || die "cannot create $SEQ_SRC"
fi

TARBALL=$INPUTS/tree.tar
TREE_ENTRIES=0
if [[ " ${WORKLOADS[*]} " == *" tree "* ]]; then
  say "run_fs_bench: making $TARBALL from $BENCH_TREE_SRC"
  tar -C "$(dirname "$BENCH_TREE_SRC")" -cf "$TARBALL" "$(basename "$BENCH_TREE_SRC")" \
    2>"$LOGS/tar-create.log"
  (($? <= 1)) || die "tar of $BENCH_TREE_SRC failed: see $LOGS/tar-create.log"
  TREE_ENTRIES=$(tar -tf "$TARBALL" | wc -l)
fi
((HAS_AGENT_WORKLOADS)) && agent_prepare
# nexusd-uid's steps read the inputs as BENCH_UID.
[[ " ${TARGETS[*]} " == *" nexusd-uid "* ]] && chmod -R a+rX "$INPUTS" "$TOOLS" 2>/dev/null
# A string that occurs in no file, so grep -r reads every file to the end.
NEEDLE="nexus-bench-needle-$STAMP-$$"

# --- targets: mount / unmount ------------------------------------------------------------

# Prepares target $1 for one workload run; sets WORK to an empty directory on it.
target_up() {
  local target=$1 tag=$2
  local mnt=$MNTS/$target backing=$BACKING/$target
  if [[ $target == native ]]; then
    { rm -rf "$mnt" && mkdir -p "$mnt"; } || { FAIL_MSG="cannot prepare $mnt"; return 1; }
    WORK=$mnt
    return 0
  fi
  { rm -rf "$backing" && mkdir -p "$backing" "$mnt"; } ||
    { FAIL_MSG="cannot prepare $backing"; return 1; }
  case $target in
    passthrough_ll)
      "$PLL_BIN" -f -o "source=$backing" "${PLL_ARGV[@]}" "$mnt" \
        >>"$LOGS/$target-$tag.log" 2>&1 &
      ;;
    nexusd|nexusd-agent)
      "$NEXUSD_BIN" --data-dir "$backing" --mount "$mnt" "${NEXUSD_ARGV[@]}" \
        >>"$LOGS/$target-$tag.log" 2>&1 &
      ;;
    nexusd-prev)
      "$NEXUSD_PREV_BIN" --data-dir "$backing" --mount "$mnt" "${NEXUSD_ARGV[@]}" \
        >>"$LOGS/$target-$tag.log" 2>&1 &
      ;;
    nexusd-base)
      "$NEXUSD_BIN" --data-dir "$backing" --mount "$mnt" "${NEXUSD_BASE_ARGV[@]}" \
        >>"$LOGS/$target-$tag.log" 2>&1 &
      ;;
    nexusd-norebac)
      "$NEXUSD_BIN" --data-dir "$backing" --mount "$mnt" "${NEXUSD_NOREBAC_ARGV[@]}" \
        >>"$LOGS/$target-$tag.log" 2>&1 &
      ;;
    nexusd-uid)
      "$NEXUSD_BIN" --data-dir "$backing" --mount "$mnt" "${NEXUSD_ARGV[@]}" \
        >>"$LOGS/$target-$tag.log" 2>&1 &
      ;;
  esac
  ACTIVE_PID=$!
  ACTIVE_MNT=$mnt
  local i
  for ((i = 0; i < 600; i++)); do
    if mountpoint -q "$mnt"; then
      WORK=$mnt/work
      mkdir "$WORK" || { FAIL_MSG="mkdir $WORK failed on fresh mount"; return 1; }
      [[ $target == nexusd-agent ]] && { agent_view "$backing" "$MNTS/$target-view" "$tag" || return 1; }
      [[ $target == nexusd-uid ]] && { bind_uid "$backing" "$mnt" "$tag" || return 1; }
      return 0
    fi
    if ! pid_alive "$ACTIVE_PID"; then
      wait "$ACTIVE_PID"
      FAIL_MSG="$target exited with status $? before mounting; log: $LOGS/$target-$tag.log"
      ACTIVE_PID=""
      return 1
    fi
    sleep 0.05
  done
  FAIL_MSG="$target did not mount $mnt within 30 s; log: $LOGS/$target-$tag.log"
  return 1
}

# nexusd-agent: registers agent:bench, makes it an editor of /work and mounts /work at $2 as it (the
# daemon unmounts it when it stops); sets WORK there.
agent_view() {
  local backing=$1 view=$2 tag=$3 nx=("$NEXUS_CLI" --socket "$1/nexusd.sock")
  mkdir -p "$view" || { FAIL_MSG="cannot make $view"; return 1; }
  { { "${nx[@]}" agent register bench "Benchmark agent" || "${nx[@]}" agent info bench; } &&
    "${nx[@]}" rebac create agent bench editor folder /work &&
    "${nx[@]}" mount add "$view" --as agent:bench --root /work $NEXUS_AGENT_MOUNT_ARGS; } \
    >>"$LOGS/nexusd-agent-$tag.log" 2>&1 ||
    { FAIL_MSG="per-subject mount failed; log: $LOGS/nexusd-agent-$tag.log"; return 1; }
  WORK=$view
}

# nexusd-uid: registers agent:benchuid, makes it an editor of /work, binds BENCH_UID to it
# and hands /work to that uid; from here on every step runs as the uid (AS_USER). Then
# proves it: a file the uid writes has agent:benchuid as its version's author, and the
# uid cannot read /private, a folder the agent has no grant on.
bind_uid() {
  local backing=$1 mnt=$2 tag=$3 nx=("$NEXUS_CLI" --socket "$1/nexusd.sock")
  local log=$LOGS/nexusd-uid-$tag.log as=(setpriv --reuid="$BENCH_UID" --regid="$BENCH_UID" --clear-groups --)
  { { "${nx[@]}" agent register benchuid "Benchmark agent (bound uid)" || "${nx[@]}" agent info benchuid; } &&
    "${nx[@]}" rebac create agent benchuid editor folder /work &&
    "${nx[@]}" identity bind --uid "$BENCH_UID" agent:benchuid &&
    chown "$BENCH_UID:$BENCH_UID" "$WORK" &&
    mkdir "$mnt/private" && echo "not for the agent" >"$mnt/private/secret"; } >>"$log" 2>&1 ||
    { FAIL_MSG="binding uid $BENCH_UID failed; log: $log"; return 1; }
  if timeout 10 "${as[@]}" cat "$mnt/private/secret" >>"$log" 2>&1; then
    FAIL_MSG="uid $BENCH_UID read /private/secret: it does not act as agent:benchuid"
    return 1
  fi
  { timeout 10 "${as[@]}" sh -c 'echo probe >"$1"' sh "$WORK/.uid-probe" &&
    "${nx[@]}" versions flush && "${nx[@]}" versions history /work/.uid-probe; } >"$LOGS/uid-probe.out" 2>&1 ||
    { FAIL_MSG="uid $BENCH_UID probe write failed: $(tail -n 2 "$LOGS/uid-probe.out")"; return 1; }
  grep -q 'agent:benchuid' "$LOGS/uid-probe.out" ||
    { FAIL_MSG="the uid's write is not attributed to agent:benchuid: $(tail -n 2 "$LOGS/uid-probe.out")"; return 1; }
  rm -f "$WORK/.uid-probe" "$mnt/private/secret" && rmdir "$mnt/private"
  cat "$LOGS/uid-probe.out" >>"$log"
  AS_USER=("${as[@]}")
}

# Stops the target's daemon (SIGTERM, as in production) and checks it went cleanly:
# exit status 0 and the mount gone. Problems are recorded as warnings.
target_down() {
  local target=$1 run=$2 workload=$3
  if [[ $target == native ]]; then
    rm -rf "$MNTS/native"
    return 0
  fi
  local killed=0
  if [[ -n $ACTIVE_PID ]]; then
    local i rc
    if pid_alive "$ACTIVE_PID"; then
      kill -TERM "$ACTIVE_PID"
      for ((i = 0; i < 300; i++)); do pid_alive "$ACTIVE_PID" || break; sleep 0.1; done
      if pid_alive "$ACTIVE_PID"; then
        record_problem warning "$run" "$target" "$workload" \
          "did not exit within 30 s of SIGTERM; killed with SIGKILL"
        kill -KILL "$ACTIVE_PID"
        killed=1
      fi
    else
      record_problem warning "$run" "$target" "$workload" \
        "daemon had already exited before SIGTERM (crash?)"
    fi
    wait "$ACTIVE_PID"
    rc=$?
    # passthrough_ll's exit status after a signal is not meaningful; nexusd's must be 0.
    if [[ $target == nexusd* && $rc -ne 0 && $killed == 0 ]]; then
      record_problem warning "$run" "$target" "$workload" "exit status $rc after SIGTERM (want 0)"
    fi
  fi
  if mountpoint -q "$ACTIVE_MNT" 2>/dev/null || grep -qs " $ACTIVE_MNT fuse" /proc/self/mounts; then
    [[ $target == nexusd* && $killed == 0 ]] && record_problem warning "$run" "$target" "$workload" \
      "mount still present after the daemon exited"
    force_unmount "$ACTIVE_MNT"
  fi
  ACTIVE_PID=""
  ACTIVE_MNT=""
  AS_USER=()
  rm -rf "${BACKING:?}/$target"
}

# --- workloads ---------------------------------------------------------------------------
# Each takes (target run) with WORK set, records samples, sets SUMMARY; on failure sets
# FAIL_MSG and returns non-zero.

workload_seqio() {
  local target=$1 run=$2 f=$WORK/seqio.bin t0 t1 t2 t3 t4 t5 size
  drop_caches
  cat "$SEQ_SRC" >/dev/null  # the source is read from page cache while writing
  if [[ $BENCH_SEQ_WARMUP == 1 ]]; then
    # Untimed warm-up write of the same size, then delete it. On this VM memory freed by
    # drop_caches goes back to the hypervisor, and touching it again costs more than the
    # filesystem does (native 1 GiB writes ranged 0.3-3 s); the timed write then reuses
    # just-freed pages, so it measures the filesystem and not the host.
    step dd if="$SEQ_SRC" of="$f.warmup" bs=1M count="$BENCH_SIZE_MB" status=none ||
      { FAIL_MSG="warm-up write to $f.warmup failed"; return 1; }
    step rm -f "$f.warmup" || { FAIL_MSG="rm $f.warmup failed"; return 1; }
  fi
  t0=$EPOCHREALTIME
  step dd if="$SEQ_SRC" of="$f" bs=1M count="$BENCH_SIZE_MB" status=none ||
    { FAIL_MSG="dd write to $f failed (status $?)"; return 1; }
  t1=$EPOCHREALTIME
  step sync "$f" || { FAIL_MSG="fsync of $f failed"; return 1; }  # fsync(2) of this file
  t2=$EPOCHREALTIME
  step stat -c %s "$f" >"$LOGS/seqio.size" || { FAIL_MSG="stat $f failed"; return 1; }
  size=$(<"$LOGS/seqio.size")
  ((size == SEQ_BYTES)) || { FAIL_MSG="$f has size $size, want $SEQ_BYTES"; return 1; }

  # Cold: nothing cached, neither the FUSE page cache nor the backing file's, so the data
  # comes from the disk through the daemon.
  drop_caches
  t3=$EPOCHREALTIME
  step dd if="$f" of=/dev/null bs=1M status=none || { FAIL_MSG="cold read of $f failed"; return 1; }
  t4=$EPOCHREALTIME
  # Warm: read again at once; whatever each filesystem caches is now cached.
  step dd if="$f" of=/dev/null bs=1M status=none || { FAIL_MSG="warm read of $f failed"; return 1; }
  t5=$EPOCHREALTIME
  step rm -f "$f" || { FAIL_MSG="rm $f failed"; return 1; }

  local w wf rc rw
  w=$(mbps "$SEQ_BYTES" "$(secs "$t0" "$t1")")
  wf=$(mbps "$SEQ_BYTES" "$(secs "$t0" "$t2")")
  rc=$(mbps "$SEQ_BYTES" "$(secs "$t3" "$t4")")
  rw=$(mbps "$SEQ_BYTES" "$(secs "$t4" "$t5")")
  record_sample "$run" "$target" seqio write "$w" MB/s
  record_sample "$run" "$target" seqio write+fsync "$wf" MB/s
  record_sample "$run" "$target" seqio read_cold "$rc" MB/s
  record_sample "$run" "$target" seqio read_warm "$rw" MB/s
  SUMMARY="write $w, write+fsync $wf, read cold $rc, warm $rw MB/s"
}

workload_smallfiles() {
  local target=$1 run=$2
  drop_caches
  step "$SMALL_BIN" --dir "$WORK" --files "$BENCH_SMALL_FILES" --dirs "$BENCH_SMALL_DIRS" \
    --size "$BENCH_SMALL_SIZE" --readdir-names "$BENCH_READDIR_NAMES" \
    --readdir-reps "$BENCH_READDIR_REPS" >"$LOGS/smallfiles.out" 2>"$LOGS/smallfiles.err" ||
    { FAIL_MSG="nexus_bench_smallfiles failed: $(tail -n 3 "$LOGS/smallfiles.err")"; return 1; }
  # Appends the per-phase samples to RAW and prints the one-line summary.
  SUMMARY=$(python3 "$SCRIPT_DIR/fs_bench_report.py" smallfiles-records --run "$run" \
              --target "$target" --raw "$RAW" <"$LOGS/smallfiles.out") ||
    { FAIL_MSG="bad smallfiles output: $(head -c 300 "$LOGS/smallfiles.out")"; return 1; }
}

workload_tree() {
  local target=$1 run=$2 tree=$WORK/tree t0 t1 t2 t3 t4 t5 entries rc
  drop_caches
  cat "$TARBALL" >/dev/null  # the archive is read from page cache while extracting
  step mkdir "$tree" || { FAIL_MSG="mkdir $tree failed"; return 1; }
  t0=$EPOCHREALTIME
  step tar -xf "$TARBALL" -C "$tree" 2>"$LOGS/tar-extract.err" ||
    { FAIL_MSG="tar -x failed: $(head -n 3 "$LOGS/tar-extract.err")"; return 1; }
  t1=$EPOCHREALTIME
  sync  # untimed: keep writeback of the extraction out of the grep timing
  step find "$tree" -mindepth 1 >"$LOGS/tree.find" || { FAIL_MSG="find $tree failed"; return 1; }
  entries=$(wc -l <"$LOGS/tree.find")
  ((entries == TREE_ENTRIES)) ||
    { FAIL_MSG="extracted tree has $entries entries, archive has $TREE_ENTRIES"; return 1; }
  t2=$EPOCHREALTIME
  step grep -r -F -e "$NEEDLE" "$tree" >/dev/null 2>"$LOGS/grep.err"
  rc=$?
  t3=$EPOCHREALTIME
  ((rc == 1)) || { FAIL_MSG="grep -r exited $rc (want 1 = no match): $(head -n 3 "$LOGS/grep.err")"; return 1; }
  t4=$EPOCHREALTIME
  step rm -rf "$tree" || { FAIL_MSG="rm -rf $tree failed"; return 1; }
  t5=$EPOCHREALTIME
  [[ ! -e $tree ]] || { FAIL_MSG="$tree still exists after rm -rf"; return 1; }

  local untar grep_s rm_s total
  untar=$(secs "$t0" "$t1")
  grep_s=$(secs "$t2" "$t3")
  rm_s=$(secs "$t4" "$t5")
  total=$(sum "$untar" "$grep_s" "$rm_s")
  record_sample "$run" "$target" tree untar "$untar" s
  record_sample "$run" "$target" tree grep "$grep_s" s
  record_sample "$run" "$target" tree rm "$rm_s" s
  record_sample "$run" "$target" tree total "$total" s
  printf -v SUMMARY 'untar %.2f s, grep %.2f s, rm %.2f s, total %.2f s' \
    "$untar" "$grep_s" "$rm_s" "$total"
}

# --- main loop ---------------------------------------------------------------------------

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
START_EPOCH=$EPOCHREALTIME
TOTAL_STEPS=$((BENCH_RUNS * ${#WORKLOADS[@]} * ${#TARGETS[@]}))
STEP_NO=0
say "run_fs_bench: $BENCH_RUNS run(s) x workloads [${WORKLOADS[*]}] x targets [${TARGETS[*]}]"

for ((run = 1; run <= BENCH_RUNS; run++)); do
  for workload in "${WORKLOADS[@]}"; do
    # Rotate the target order each run so no target always goes first (or last).
    for ((k = 0; k < ${#TARGETS[@]}; k++)); do
      target=${TARGETS[$(((k + run - 1) % ${#TARGETS[@]}))]}
      STEP_NO=$((STEP_NO + 1))
      FAIL_MSG=""
      STEP_NOTE=""
      SUMMARY=""
      AS_USER=()
      RUN=$run TARGET=$target WORKLOAD=$workload  # for the agent workloads' records
      elapsed=$(awk -v a="$START_EPOCH" -v b="$EPOCHREALTIME" \
                  'BEGIN { s = int(b - a); printf "%02d:%02d", s / 60, s % 60 }')
      prefix=$(printf '[%2d/%d %s] run %d/%d %-10s %-14s' "$STEP_NO" "$TOTAL_STEPS" \
                 "$elapsed" "$run" "$BENCH_RUNS" "$workload" "$target")
      [[ -t 2 ]] && printf '%s ...\r' "$prefix" >&2
      ((BENCH_IDLE_GAP > 0)) && sleep "$BENCH_IDLE_GAP"
      if target_up "$target" "run$run-$workload"; then
        cpu0=$(proc_cpu "$ACTIVE_PID")
        "workload_$workload" "$target" "$run"
        ok=$?
        cpu1=$(proc_cpu "$ACTIVE_PID")
        # The filesystem daemon's CPU beside the wall time (none for native).
        if ((ok == 0)) && [[ -n $cpu0 && -n $cpu1 ]]; then
          record_sample "$run" "$target" "$workload" daemon_cpu "$(secs "$cpu0" "$cpu1")" s
          printf -v cpu_note ', daemon CPU %.1f s' "$(secs "$cpu0" "$cpu1")"
          SUMMARY+=$cpu_note
        fi
      else
        ok=1
      fi
      FAIL_MSG+=$STEP_NOTE
      if ((ok != 0)) && [[ -n $ACTIVE_PID ]] && ! pid_alive "$ACTIVE_PID"; then
        FAIL_MSG+=" (daemon died; log: $LOGS/$target-run$run-$workload.log)"
      fi
      target_down "$target" "$run" "$workload"
      if ((ok == 0)); then
        say "$prefix $SUMMARY"
      else
        say "$prefix FAILED: $FAIL_MSG"
        record_problem failure "$run" "$target" "$workload" "$FAIL_MSG"
      fi
    done
  done
done

# --- report ------------------------------------------------------------------------------

meta=(
  "started_utc=$STAMP"
  "finished_utc=$(date -u +%Y%m%dT%H%M%SZ)"
  "duration_s=$(secs "$START_EPOCH" "$EPOCHREALTIME")"
  "host.kernel=$(uname -r)"
  "host.cpus=$(nproc)"
  "host.cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  "host.mem_total=$(awk '/^MemTotal/ { print $2 " " $3 }' /proc/meminfo)"
  "host.loadavg_start=$LOAD_START"
  "host.loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
  "host.bench_dir_fs=$(stat -f -c %T "$BENCH_DIR")"
  "host.libfuse=$(pkg-config --modversion fuse3)"
  "host.nofile_limit=$NOFILE"
  "notes.smallfiles=$SMALL_FILES_NOTE"
  "notes.git=$GIT_FILES_NOTE"
  "config.runs=$BENCH_RUNS"
  "config.idle_gap_s=$BENCH_IDLE_GAP"
  "config.bench_dir=$BENCH_DIR"
  "config.workloads=$BENCH_WORKLOADS"
  "config.targets=$BENCH_TARGETS"
  "config.seqio.size_mib=$BENCH_SIZE_MB"
  "config.seqio.block=1MiB"
  "config.seqio.warmup_write=$BENCH_SEQ_WARMUP"
  "config.seqio.tool=dd bs=1M from a random file in page cache; fsync via sync(1) FILE"
  "config.smallfiles.files=$BENCH_SMALL_FILES"
  "config.smallfiles.dirs=$BENCH_SMALL_DIRS"
  "config.smallfiles.file_size=$BENCH_SMALL_SIZE"
  "config.smallfiles.readdir_names=$BENCH_READDIR_NAMES"
  "config.smallfiles.readdir_reps=$BENCH_READDIR_REPS"
  "config.tree.source=$BENCH_TREE_SRC"
  "config.tree.tarball_bytes=$(stat -c %s "$TARBALL" 2>/dev/null || echo 0)"
  "config.tree.entries=$TREE_ENTRIES"
  "targets.native.path=$MNTS/native"
  "targets.passthrough_ll.source=$PLL_SOURCE"
  "targets.passthrough_ll.cmdline=passthrough_ll -f -o source=BACKING ${PLL_ARGS:+$PLL_ARGS }MNT"
  "targets.passthrough_ll.options=${PLL_ARGS:-defaults: cache=auto (entry/attr timeout 1.0 s, page cache kept only until the next open), no writeback cache, no xattr, no flock, multi-threaded loop, no clone_fd, no allow_other (run and accessed as root)}"
  "targets.nexusd.binary=$NEXUSD"
  "targets.nexusd.sha256_prefix=$NEXUSD_SHA"
  "targets.nexusd.cmdline=nexusd --data-dir DATA --mount MNT $NEXUSD_ARGS"
  "targets.nexusd-prev.binary=$NEXUSD_PREV"
  "targets.nexusd-prev.sha256_prefix=$NEXUSD_PREV_SHA"
  "targets.nexusd-base.cmdline=nexusd --data-dir DATA --mount MNT $NEXUSD_BASE_ARGS"
  "targets.nexusd-norebac.cmdline=nexusd --data-dir DATA --mount MNT $NEXUSD_NOREBAC_ARGS"
  "targets.nexusd-uid.cmdline=nexusd --data-dir DATA --mount MNT $NEXUSD_ARGS; nexus agent register benchuid NAME; nexus rebac create agent benchuid editor folder /work; nexus identity bind --uid $BENCH_UID agent:benchuid; chown $BENCH_UID MNT/work; steps run by setpriv --reuid=$BENCH_UID --regid=$BENCH_UID --clear-groups"
  "targets.nexusd-agent.cmdline=nexusd --data-dir DATA --mount MNT $NEXUSD_ARGS; nexus agent register bench NAME; nexus rebac create agent bench editor folder /work; nexus mount add VIEW --as agent:bench --root /work $NEXUS_AGENT_MOUNT_ARGS"
  "config.base_budget=$BENCH_BASE_BUDGET"
  "logs=$LOGS"
)
if ((HAS_AGENT_WORKLOADS)); then
  agent_meta
  meta+=("${AGENT_META[@]}")
fi
meta_args=()
for m in "${meta[@]}"; do meta_args+=(--meta "$m"); done

say ""
say "run_fs_bench: results JSON: $BENCH_OUTPUT (table: ${BENCH_OUTPUT%.json}.md)"
echo "## NexusFS filesystem benchmark ($STAMP, $BENCH_RUNS runs, workloads ${WORKLOADS[*]})"
echo
python3 "$SCRIPT_DIR/fs_bench_report.py" report --raw "$RAW" --out "$BENCH_OUTPUT" \
  --base-budget "$BENCH_BASE_BUDGET" "${meta_args[@]}"
