#!/usr/bin/env bash
# run_forks_bench.sh — what forks cost (docs/forks.md "Figures"), on nexusd
# with its default configuration (ReBAC, versions, search, the operations
# log on), over a git repository of BENCH_FILES (50,000) small C files
# copied into the native tree at /tree:
#   (a) create: BENCH_FORKS (100) `nexus fork create` of /tree, one after
#       another: wall time of each (median, p95, max; `nexus whoami` for the
#       CLI's own start-up); disk used by DATA/data, DATA/meta.db and
#       DATA/forks before and after (du); goal: < 1 s each, DATA/data not
#       growing beyond metadata.
#   (b) reads: `cat` of every file of the tree on the base and in an
#       untouched fork, alternating, page cache dropped before each run;
#       the fork's first run (which materializes its directories) apart,
#       then medians of BENCH_RUNS (>= 5); goal: the fork >= 0.9x the base.
#   (c) `git status`: on the base, in a fork and on a native clone; the
#       first one in a fork apart (the fork's files have inode numbers of
#       their own, so git re-reads them once), then medians of BENCH_RUNS;
#       goal: the fork >= 0.9x the base.
#   (d) the same BENCH_CHANGED (1,000) files changed in a fork (a line
#       appended to each) and on a branch of a native clone of the same
#       repository (the base / main also changed one other file since):
#       `nexus fork diff` (full patch, and --stat) vs `git diff`
#       (uncommitted, and --stat); `nexus fork merge` vs `git merge` of the
#       committed branch (a three-way merge in both). BENCH_RUNS merges of
#       as many forks with the same change, the changed files copied back
#       into the base as they were at fork time between runs (as `git reset
#       --hard` between git's); the forks of (a) are discarded (and
#       collected) first.
# nexusd's CPU time (user+sys from /proc/PID/stat) is recorded per phase.
# Writes bench/results/forks.{json,md} (or --output). Needs root (mounts
# FUSE, drops caches) and the build's nexusd and nexus:
#   cmake --build build --target nexusd nexus
set -uo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO_DIR/build}
BENCH_DIR=${BENCH_DIR:-/var/tmp/nexus-forks-bench}
BENCH_FILES=${BENCH_FILES:-50000}
BENCH_FORKS=${BENCH_FORKS:-100}
BENCH_CHANGED=${BENCH_CHANGED:-1000}
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_IDLE_GAP=${BENCH_IDLE_GAP:-3}
BENCH_OUTPUT=${BENCH_OUTPUT:-$REPO_DIR/bench/results/forks.json}

usage() {
  cat <<EOF
usage: $0 [-r RUNS] [-o FILE] [-d DIR]

  -r, --runs N       runs of the timed reads, status and merges  [BENCH_RUNS=$BENCH_RUNS]
  -o, --output FILE  results JSON (the table: FILE's .md)         [BENCH_OUTPUT=$BENCH_OUTPUT]
  -d, --bench-dir D  scratch dir on the local disk                [BENCH_DIR=$BENCH_DIR]
More knobs (env): BENCH_FILES=$BENCH_FILES BENCH_FORKS=$BENCH_FORKS BENCH_CHANGED=$BENCH_CHANGED
BENCH_IDLE_GAP=$BENCH_IDLE_GAP (s) BUILD_DIR=$BUILD_DIR.
EOF
}

die() { echo "run_forks_bench: $*" >&2; exit 1; }
say() { echo "run_forks_bench: $*" >&2; }

while (($#)); do
  case $1 in
    -r|--runs) BENCH_RUNS=${2:?}; shift ;;
    -o|--output) BENCH_OUTPUT=${2:?}; shift ;;
    -d|--bench-dir) BENCH_DIR=${2:?}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
  shift
done

[[ $(id -u) -eq 0 ]] || die "must run as root (mounts FUSE, drops caches)"
NEXUSD=$BUILD_DIR/bin/nexusd
NEXUS_CLI=$BUILD_DIR/bin/nexus
for b in "$NEXUSD" "$NEXUS_CLI"; do
  [[ -x $b ]] || die "missing $b; build with: cmake --build $BUILD_DIR --target nexusd nexus"
done
for n in "$BENCH_FILES" "$BENCH_FORKS" "$BENCH_CHANGED" "$BENCH_RUNS"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "expected a positive integer, got '$n'"
done
((BENCH_CHANGED < BENCH_FILES)) || die "BENCH_CHANGED must be below BENCH_FILES"
command -v git >/dev/null || die "git is needed"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
WORK=$BENCH_DIR/$STAMP
DATA=$WORK/data
MNT=$WORK/mnt
SRC=$WORK/src        # the repository the tree is copied from
NATIVE=$WORK/native  # a native clone: git's side of the comparisons
mkdir -p "$WORK" "$DATA" "$MNT"
RESULTS=$WORK/results.jsonl  # one JSON object per measurement
: >"$RESULTS"
DAEMON_PID=""
CLK_TCK=$(getconf CLK_TCK)

stop_daemon() {
  [[ -n $DAEMON_PID ]] || return 0
  kill -TERM "$DAEMON_PID" 2>/dev/null
  for _ in $(seq 600); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$DAEMON_PID" 2>/dev/null
  wait "$DAEMON_PID" 2>/dev/null
  DAEMON_PID=""
  mountpoint -q "$MNT" && { fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT"; }
  return 0
}
trap 'stop_daemon' EXIT
trap 'exit 130' INT TERM

start_daemon() {
  local i
  "$NEXUSD" --data-dir "$DATA" --mount "$MNT" --log-level warn >>"$WORK/nexusd.log" 2>&1 &
  DAEMON_PID=$!
  for ((i = 0; i < 600; i++)); do
    [[ $(stat -f -c %t "$MNT" 2>/dev/null) == 65735546 ]] && [[ -S $DATA/nexusd.sock ]] && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || die "nexusd exited; log: $WORK/nexusd.log"
    sleep 0.05
  done
  die "nexusd did not mount $MNT in 30 s"
}

nxc() { NEXUS_SOCKET="$DATA/nexusd.sock" NEXUS_HOME="$WORK/home" "$NEXUS_CLI" "$@"; }
gitq() { git -c safe.directory='*' -c user.name=bench -c user.email=bench@example.com "$@"; }

# nexusd's user+system CPU seconds so far.
daemon_cpu() { awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$DAEMON_PID/stat"; }
now() { echo "$EPOCHREALTIME"; }
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }'; }
# bytes PATH...: disk used (du, allocated blocks) by the paths together.
bytes() { du -s --block-size=1 -c "$@" 2>/dev/null | tail -n 1 | cut -f1; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# record PHASE JSON-FIELDS: one result line (the fields may span lines).
record() { printf '{"phase": "%s", %s}\n' "$1" "$(tr '\n' ' ' <<<"$2")" >>"$RESULTS"; }
# Waits until nexusd has captured every version and is idle, then the gap.
settle() {
  nxc versions flush >/dev/null 2>&1 || true
  local a b
  for _ in $(seq 120); do
    a=$(daemon_cpu)
    sleep 1
    b=$(daemon_cpu)
    awk -v a="$a" -v b="$b" 'BEGIN { exit !(b - a < 0.05) }' && break
  done
  sleep "$BENCH_IDLE_GAP"
}
# stats FILE: JSON fields median/p95/min/max/runs (ms) of the numbers in FILE.
stats() {
  python3 - "$1" <<'PY'
import json, sys
v = sorted(float(x) for x in open(sys.argv[1]).read().split())
print(json.dumps({"runs": len(v), "median_ms": round(v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2, 1),
                  "p95_ms": round(v[min(len(v) - 1, int(0.95 * len(v)))], 1), "min_ms": round(v[0], 1),
                  "max_ms": round(v[-1], 1)})[1:-1])
PY
}

# --- the tree --------------------------------------------------------------------------------
say "a repository of $BENCH_FILES files in $SRC"
python3 - "$SRC" "$BENCH_FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
per_dir = 200
for i in range(n):
    d = os.path.join(root, "src", "m%03d" % (i // per_dir))
    if i % per_dir == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.c" % i), "w") as f:
        f.write("/* module %d, file %d */\n#include \"common.h\"\n" % (i // per_dir, i))
        for k in range(3 + i % 20):
            f.write("int f%d_%d(int x) { return x * %d + %d; }\n" % (i, k, k, i))
with open(os.path.join(root, "README.md"), "w") as f:
    f.write("# tree\n\nFor the forks benchmark.\n")
PY
gitq -C "$SRC" init -q -b main
gitq -C "$SRC" add -A
gitq -C "$SRC" commit -qm "the tree"
gitq -C "$SRC" gc -q
gitq clone -q "$SRC" "$NATIVE"
# changed_files: the files the change of (d) touches, relative to the tree.
changed_files() { (cd "$SRC" && git ls-files src | awk -v n="$BENCH_FILES" -v c="$BENCH_CHANGED" 'NR % int(n / c) == 0' | head -n "$BENCH_CHANGED"); }
changed_files >"$WORK/changed.txt"
[[ $(wc -l <"$WORK/changed.txt") -eq $BENCH_CHANGED ]] || die "picked $(wc -l <"$WORK/changed.txt") files to change"
# change DIR: appends a line to each of them below DIR.
change() {
  python3 - "$1" "$WORK/changed.txt" <<'PY'
import sys
root = sys.argv[1]
for rel in open(sys.argv[2]).read().split():
    with open(root + "/" + rel, "a") as f:
        f.write("int changed_by_the_agent(void) { return 1; }\n")
PY
}

start_daemon
say "copying the repository into /tree"
t0=$(now)
cp -a "$SRC" "$MNT/tree" || die "copy into /tree failed"
record setup "\"copy_ms\": $(ms_since "$t0"), \"files\": $BENCH_FILES"
gitq -C "$MNT/tree" status --porcelain >/dev/null || die "git status on /tree failed"  # refreshes the index once
settle

# --- (a) create ------------------------------------------------------------------------------
: >"$WORK/whoami.ms"
for ((i = 0; i < 20; i++)); do t0=$(now); nxc whoami >/dev/null; ms_since "$t0" >>"$WORK/whoami.ms"; done
du_data0=$(bytes "$DATA/data")
du_meta0=$(bytes "$DATA"/meta.db*)
du_forks0=$(bytes "$DATA/forks")
du_all0=$(bytes "$DATA")
say "(a) $BENCH_FORKS forks of /tree"
cpu0=$(daemon_cpu)
: >"$WORK/create.ms"
for ((i = 1; i <= BENCH_FORKS; i++)); do
  t0=$(now)
  nxc fork create "f$i" --from /tree >/dev/null 2>>"$WORK/errors.log" || die "fork create f$i failed: $(tail -n 1 "$WORK/errors.log")"
  ms_since "$t0" >>"$WORK/create.ms"
done
cpu1=$(daemon_cpu)
sleep 2  # the committer's and the registry's writes land
record create "$(stats "$WORK/create.ms"), \"forks\": $BENCH_FORKS, \"daemon_cpu_s\": $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }'),
  \"whoami\": {$(stats "$WORK/whoami.ms")},
  \"du_before\": {\"data\": $du_data0, \"meta\": $du_meta0, \"forks\": $du_forks0, \"all\": $du_all0},
  \"du_after\": {\"data\": $(bytes "$DATA/data"), \"meta\": $(bytes "$DATA"/meta.db*), \"forks\": $(bytes "$DATA/forks"), \"all\": $(bytes "$DATA")}"
settle

# --- (b) reads -------------------------------------------------------------------------------
# read_all DIR: cat of every file below DIR, the page cache dropped first; prints ms.
read_all() {
  drop_caches
  local t0
  t0=$(now)
  find "$1" -type f -print0 | xargs -0 -n 2000 cat >/dev/null || die "reading $1 failed"
  ms_since "$t0"
}
say "(b) reads: base vs fork f1, $BENCH_RUNS runs"
cpu0=$(daemon_cpu)
first_fork_read=$(read_all "$MNT/forks/f1")
cpu1=$(daemon_cpu)
: >"$WORK/read-base.ms"
: >"$WORK/read-fork.ms"
cpu_base=0
cpu_fork=0
for ((r = 0; r < BENCH_RUNS; r++)); do
  for side in base fork; do
    [[ $side == base ]] && dir=$MNT/tree || dir=$MNT/forks/f1
    c0=$(daemon_cpu)
    read_all "$dir" >>"$WORK/read-$side.ms"
    c1=$(daemon_cpu)
    if [[ $side == base ]]; then cpu_base=$(awk -v s="$cpu_base" -v a="$c0" -v b="$c1" 'BEGIN { print s + b - a }')
    else cpu_fork=$(awk -v s="$cpu_fork" -v a="$c0" -v b="$c1" 'BEGIN { print s + b - a }'); fi
  done
done
record read "\"files\": $(find "$MNT/tree" -type f | wc -l), \"fork_first_ms\": $first_fork_read,
  \"fork_first_daemon_cpu_s\": $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }'),
  \"base\": {$(stats "$WORK/read-base.ms"), \"daemon_cpu_s_per_run\": $(awk -v s="$cpu_base" -v n="$BENCH_RUNS" 'BEGIN { printf "%.2f", s / n }')},
  \"fork\": {$(stats "$WORK/read-fork.ms"), \"daemon_cpu_s_per_run\": $(awk -v s="$cpu_fork" -v n="$BENCH_RUNS" 'BEGIN { printf "%.2f", s / n }')}"
settle

# --- (c) git status --------------------------------------------------------------------------
status_ms() {
  local t0
  t0=$(now)
  gitq -C "$1" status --porcelain >"$WORK/status.out" || die "git status in $1 failed"
  [[ ! -s $WORK/status.out ]] || die "git status in $1 is not clean: $(head -n 3 "$WORK/status.out")"
  ms_since "$t0"
}
say "(c) git status: base vs fork f2 vs a native clone, $BENCH_RUNS runs"
cpu0=$(daemon_cpu)
first_fork_status=$(status_ms "$MNT/forks/f2")
cpu1=$(daemon_cpu)
: >"$WORK/status-base.ms"
: >"$WORK/status-fork.ms"
: >"$WORK/status-native.ms"
status_ms "$NATIVE" >/dev/null
cpu_base=0
cpu_fork=0
for ((r = 0; r < BENCH_RUNS; r++)); do
  for side in base fork native; do
    case $side in base) dir=$MNT/tree ;; fork) dir=$MNT/forks/f2 ;; native) dir=$NATIVE ;; esac
    c0=$(daemon_cpu)
    status_ms "$dir" >>"$WORK/status-$side.ms"
    c1=$(daemon_cpu)
    [[ $side == base ]] && cpu_base=$(awk -v s="$cpu_base" -v a="$c0" -v b="$c1" 'BEGIN { print s + b - a }')
    [[ $side == fork ]] && cpu_fork=$(awk -v s="$cpu_fork" -v a="$c0" -v b="$c1" 'BEGIN { print s + b - a }')
  done
done
record status "\"fork_first_ms\": $first_fork_status,
  \"fork_first_daemon_cpu_s\": $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }'),
  \"base\": {$(stats "$WORK/status-base.ms"), \"daemon_cpu_s_per_run\": $(awk -v s="$cpu_base" -v n="$BENCH_RUNS" 'BEGIN { printf "%.2f", s / n }')},
  \"fork\": {$(stats "$WORK/status-fork.ms"), \"daemon_cpu_s_per_run\": $(awk -v s="$cpu_fork" -v n="$BENCH_RUNS" 'BEGIN { printf "%.2f", s / n }')},
  \"native\": {$(stats "$WORK/status-native.ms")}"

# --- discard the forks of (a) --------------------------------------------------------------------
say "discarding the $BENCH_FORKS forks, gc"
t0=$(now)
for ((i = 1; i <= BENCH_FORKS; i++)); do nxc fork discard "f$i" >/dev/null || die "fork discard f$i failed"; done
discard_ms=$(ms_since "$t0")
t0=$(now)
nxc --json fork gc >"$WORK/gc.json" || die "fork gc failed"
gc_ms=$(ms_since "$t0")
record discard "\"discard_all_ms\": $discard_ms, \"gc_ms\": $gc_ms, \"gc\": $(cat "$WORK/gc.json"), \"du_forks_after_gc\": $(bytes "$DATA/forks")"
settle

# --- (d) diff and merge of BENCH_CHANGED changed files ----------------------------------------
say "(d) $BENCH_RUNS forks with the same $BENCH_CHANGED files changed; the same change on a native branch"
for ((r = 1; r <= BENCH_RUNS; r++)); do
  nxc fork create "d$r" --from /tree >/dev/null || die "fork create d$r failed"
done
for ((r = 1; r <= BENCH_RUNS; r++)); do change "$MNT/forks/d$r"; done
# The base changes one other file after fork time, so the merge is three-way.
echo "Changed on the base after fork time." >>"$MNT/tree/README.md"
gitq -C "$NATIVE" checkout -qb agent
change "$NATIVE"
settle
: >"$WORK/fdiff.ms"
: >"$WORK/fdiffstat.ms"
: >"$WORK/gdiff.ms"
: >"$WORK/gdiffstat.ms"
cpu0=$(daemon_cpu)
for ((r = 0; r < BENCH_RUNS; r++)); do
  t0=$(now); nxc fork diff d1 >"$WORK/fork.diff" || die "fork diff failed"; ms_since "$t0" >>"$WORK/fdiff.ms"
  t0=$(now); nxc fork diff d1 --stat >/dev/null || die "fork diff --stat failed"; ms_since "$t0" >>"$WORK/fdiffstat.ms"
  t0=$(now); gitq -C "$NATIVE" diff >"$WORK/git.diff"; ms_since "$t0" >>"$WORK/gdiff.ms"
  t0=$(now); gitq -C "$NATIVE" diff --stat >/dev/null; ms_since "$t0" >>"$WORK/gdiffstat.ms"
done
cpu1=$(daemon_cpu)
fork_diff_files=$(grep -c '^diff --git' "$WORK/fork.diff")
git_diff_files=$(grep -c '^diff --git' "$WORK/git.diff")
record diff "\"changed\": $BENCH_CHANGED, \"fork_diff_files\": $fork_diff_files, \"git_diff_files\": $git_diff_files,
  \"fork_diff\": {$(stats "$WORK/fdiff.ms")}, \"fork_diff_stat\": {$(stats "$WORK/fdiffstat.ms")},
  \"git_diff\": {$(stats "$WORK/gdiff.ms")}, \"git_diff_stat\": {$(stats "$WORK/gdiffstat.ms")},
  \"daemon_cpu_s\": $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')"

gitq -C "$NATIVE" commit -qam "the agent's change"
gitq -C "$NATIVE" checkout -q main
echo "Changed on the base after fork time." >>"$NATIVE/README.md"
gitq -C "$NATIVE" commit -qam "the base's change"
: >"$WORK/gmerge.ms"
for ((r = 0; r < BENCH_RUNS; r++)); do
  t0=$(now)
  gitq -C "$NATIVE" merge -q --no-edit agent >/dev/null || die "git merge failed"
  ms_since "$t0" >>"$WORK/gmerge.ms"
  gitq -C "$NATIVE" reset -q --hard HEAD~1
done
: >"$WORK/fmerge.ms"
: >"$WORK/fdry.ms"
: >"$WORK/restore.ms"
cpu_merge=0
merged_entries=0
for ((r = 1; r <= BENCH_RUNS; r++)); do
  t0=$(now)
  nxc --json fork merge "d$r" --dry-run >"$WORK/dry.json" || die "fork merge --dry-run d$r failed"
  ms_since "$t0" >>"$WORK/fdry.ms"
  c0=$(daemon_cpu)
  t0=$(now)
  nxc --json fork merge "d$r" >"$WORK/merge.json" || die "fork merge d$r failed: $(head -c 300 "$WORK/merge.json")"
  ms_since "$t0" >>"$WORK/fmerge.ms"
  c1=$(daemon_cpu)
  cpu_merge=$(awk -v s="$cpu_merge" -v a="$c0" -v b="$c1" 'BEGIN { print s + b - a }')
  merged_entries=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["entries"]))' "$WORK/merge.json")
  ((merged_entries == BENCH_CHANGED)) || die "merge d$r wrote $merged_entries files, not $BENCH_CHANGED"
  settle
  if ((r < BENCH_RUNS)); then  # the changed files back as at fork time, for the next merge
    t0=$(now)
    python3 - "$SRC" "$MNT/tree" "$WORK/changed.txt" <<'PY' || die "restoring the base failed"
import shutil, sys
src, dst = sys.argv[1], sys.argv[2]
for rel in open(sys.argv[3]).read().split():
    shutil.copyfile(src + "/" + rel, dst + "/" + rel)
PY
    ms_since "$t0" >>"$WORK/restore.ms"
    settle
  fi
done
record merge "\"changed\": $BENCH_CHANGED, \"entries\": $merged_entries,
  \"fork_merge\": {$(stats "$WORK/fmerge.ms"), \"daemon_cpu_s_per_run\": $(awk -v s="$cpu_merge" -v n="$BENCH_RUNS" 'BEGIN { printf "%.2f", s / n }')},
  \"fork_merge_dry_run\": {$(stats "$WORK/fdry.ms")},
  \"git_merge\": {$(stats "$WORK/gmerge.ms")},
  \"restore_between_runs\": {$(stats "$WORK/restore.ms")}"
stop_daemon

# --- report ----------------------------------------------------------------------------------
mkdir -p "$(dirname "$BENCH_OUTPUT")"
python3 - "$RESULTS" "$BENCH_OUTPUT" "$STAMP" "$REPO_DIR" "$BENCH_IDLE_GAP" <<'PY'
import json, os, platform, subprocess, sys
results = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out, stamp, repo, gap = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
def sh(c):
    return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
host = {"kernel": platform.release(), "cpus": os.cpu_count(),
        "cpu_model": sh("awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo"),
        "mem_total": sh("awk '/^MemTotal/ { print $2 \" \" $3 }' /proc/meminfo"),
        "loadavg_end": sh("cut -d' ' -f1-3 /proc/loadavg")}
p = {r.pop("phase"): r for r in results}
doc = {"started_utc": stamp, "host": host, "commit": sh("git -C %s rev-parse --short HEAD" % repo), "phases": p}
json.dump(doc, open(out, "w"), indent=1)
mib = lambda b: "%.1f MiB" % (b / 1048576.0)
def ratio(base, other):  # throughput of `other` relative to `base` (times: base / other)
    return base / other if other else 0.0
s, c, rd, st, d, m, g = p["setup"], p["create"], p["read"], p["status"], p["diff"], p["merge"], p["discard"]
md = ["# Forks benchmark (%s, %s, %d CPUs)" % (stamp, host["cpu_model"], host["cpus"]), "",
      "nexusd with its default configuration (ReBAC, versions, search, operations log on); a git repository of "
      "%d files copied into /tree (%.0f s). Times are wall-clock medians of %d runs unless said otherwise; "
      "the page cache is dropped before each read run; %s s idle gaps between phases; load average at the end %s." %
      (s["files"], s["copy_ms"] / 1000, rd["base"]["runs"], gap, host["loadavg_end"]), "",
      "## (a) Creating %d forks of /tree" % c["forks"], "",
      "| what | value | goal |", "|---|---:|---|",
      "| `nexus fork create`, median | %.1f ms | < 1 s: %s |" % (c["median_ms"], "met" if c["p95_ms"] < 1000 else "**not met**"),
      "| p95 / max | %.1f / %.1f ms | |" % (c["p95_ms"], c["max_ms"]),
      "| for scale: `nexus whoami` (the CLI's start-up), median | %.1f ms | |" % c["whoami"]["median_ms"],
      "| nexusd CPU for all %d creates | %.2f s | |" % (c["forks"], c["daemon_cpu_s"]),
      "| DATA/data before / after | %s / %s | no growth beyond metadata: %s |" % (
          mib(c["du_before"]["data"]), mib(c["du_after"]["data"]),
          "met" if c["du_after"]["data"] - c["du_before"]["data"] < 1048576 else "**not met**"),
      "| DATA/meta.db* before / after | %s / %s | |" % (mib(c["du_before"]["meta"]), mib(c["du_after"]["meta"])),
      "| DATA/forks before / after | %s / %s | |" % (mib(c["du_before"]["forks"]), mib(c["du_after"]["forks"])),
      "| DATA in all before / after | %s / %s | |" % (mib(c["du_before"]["all"]), mib(c["du_after"]["all"])),
      "", "Discarding the %d forks took %.1f s in all; `fork gc` %.1f s (removed %s, freed %s); DATA/forks after gc: %s." % (
          c["forks"], g["discard_all_ms"] / 1000, g["gc_ms"] / 1000, g["gc"].get("removed"),
          mib(g["gc"].get("freed_bytes", 0)), mib(g["du_forks_after_gc"])), "",
      "## (b) Reading every file (%d files): base vs an untouched fork" % rd["files"], "",
      "| where | median | min / max | nexusd CPU per run | fork vs base |", "|---|---:|---:|---:|---:|",
      "| base /tree | %.0f ms | %.0f / %.0f | %.2f s | |" % (rd["base"]["median_ms"], rd["base"]["min_ms"], rd["base"]["max_ms"], rd["base"]["daemon_cpu_s_per_run"]),
      "| fork, first read (materializes its folders) | %.0f ms | | %.2f s | %.2fx |" % (rd["fork_first_ms"], rd["fork_first_daemon_cpu_s"], ratio(rd["base"]["median_ms"], rd["fork_first_ms"])),
      "| fork, later reads | %.0f ms | %.0f / %.0f | %.2f s | %.2fx (goal >= 0.9x: %s) |" % (
          rd["fork"]["median_ms"], rd["fork"]["min_ms"], rd["fork"]["max_ms"], rd["fork"]["daemon_cpu_s_per_run"],
          ratio(rd["base"]["median_ms"], rd["fork"]["median_ms"]),
          "met" if ratio(rd["base"]["median_ms"], rd["fork"]["median_ms"]) >= 0.9 else "**not met**"), "",
      "## (c) `git status` (clean tree of %d files)" % rd["files"], "",
      "| where | median | min / max | nexusd CPU per run | vs base |", "|---|---:|---:|---:|---:|",
      "| base /tree | %.0f ms | %.0f / %.0f | %.2f s | |" % (st["base"]["median_ms"], st["base"]["min_ms"], st["base"]["max_ms"], st["base"]["daemon_cpu_s_per_run"]),
      "| fork, first run (git refreshes its index) | %.0f ms | | %.2f s | %.2fx |" % (st["fork_first_ms"], st["fork_first_daemon_cpu_s"], ratio(st["base"]["median_ms"], st["fork_first_ms"])),
      "| fork, later | %.0f ms | %.0f / %.0f | %.2f s | %.2fx (goal >= 0.9x: %s) |" % (
          st["fork"]["median_ms"], st["fork"]["min_ms"], st["fork"]["max_ms"], st["fork"]["daemon_cpu_s_per_run"],
          ratio(st["base"]["median_ms"], st["fork"]["median_ms"]),
          "met" if ratio(st["base"]["median_ms"], st["fork"]["median_ms"]) >= 0.9 else "**not met**"),
      "| native clone (local ext4) | %.0f ms | %.0f / %.0f | | %.2fx |" % (st["native"]["median_ms"], st["native"]["min_ms"], st["native"]["max_ms"], ratio(st["base"]["median_ms"], st["native"]["median_ms"])), "",
      "## (d) Diff and merge of %d changed files" % d["changed"], "",
      "| operation | nexus fork | git on a native clone |", "|---|---:|---:|",
      "| diff, full patch (`fork diff` / `git diff`) | %.0f ms | %.0f ms |" % (d["fork_diff"]["median_ms"], d["git_diff"]["median_ms"]),
      "| diff --stat | %.0f ms | %.0f ms |" % (d["fork_diff_stat"]["median_ms"], d["git_diff_stat"]["median_ms"]),
      "| merge (three-way; `fork merge` / `git merge`) | %.0f ms | %.0f ms |" % (m["fork_merge"]["median_ms"], m["git_merge"]["median_ms"]),
      "| merge --dry-run (the plan alone) | %.0f ms | |" % m["fork_merge_dry_run"]["median_ms"], "",
      "The diffs name %d (fork) and %d (git) files. nexusd CPU: %.2f s for the %d diffs, %.2f s per merge. "
      "Between merges the changed files were copied back into the base as at fork time (median %.0f ms), as "
      "`git reset --hard` between git's. `git merge` writes the merged files into the clone's work tree; `fork merge` writes them "
      "into the live base through the namespace, versioned, logged and journaled." % (
          d["fork_diff_files"], d["git_diff_files"], d["daemon_cpu_s"], 2 * d["fork_diff"]["runs"],
          m["fork_merge"]["daemon_cpu_s_per_run"], m["restore_between_runs"]["median_ms"]), ""]
open(out[:-5] + ".md" if out.endswith(".json") else out + ".md", "w").write("\n".join(md))
print("\n".join(md))
PY
say "results: $BENCH_OUTPUT"
