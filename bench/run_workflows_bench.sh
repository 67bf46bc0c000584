#!/usr/bin/env bash
# run_workflows_bench.sh — workflow trigger latency, from a file's close on
# the mount to the first action's start (p50/p99), against an inotify
# watcher on the local disk as the baseline (bench/workflows_bench.py says
# what each phase does). Starts a fresh nexusd (default configuration) in
# BENCH_DIR; writes bench/results/workflows.json (or -o FILE). Needs root
# (FUSE) and the build's nexusd and nexus.
set -uo pipefail
export LC_ALL=C
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO_DIR/build}
BENCH_DIR=${BENCH_DIR:-/var/tmp/nexus-workflows-bench}
OUTPUT=$REPO_DIR/bench/results/workflows.json
while (($#)); do
  case $1 in
    -o|--output) OUTPUT=${2:?}; shift ;;
    -d|--bench-dir) BENCH_DIR=${2:?}; shift ;;
    -h|--help) echo "usage: $0 [-o FILE] [-d DIR]  (env: BENCH_FILES, BENCH_RUN_FILES, BENCH_GAP_MS)"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $(id -u) -eq 0 ]] || { echo "must run as root (mounts FUSE)" >&2; exit 1; }
WORK=$BENCH_DIR/$(date -u +%Y%m%dT%H%M%SZ)
DATA=$WORK/data
MNT=$WORK/mnt
mkdir -p "$DATA" "$MNT"
PID=""
stop() {
  [[ -n $PID ]] || return 0
  kill -TERM "$PID" 2>/dev/null
  for _ in $(seq 600); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$PID" 2>/dev/null
  wait "$PID" 2>/dev/null
  mountpoint -q "$MNT" && umount -l "$MNT"
  PID=""
}
trap stop EXIT
"$BUILD_DIR/bin/nexusd" --data-dir "$DATA" --mount "$MNT" --log-level warn >>"$WORK/nexusd.log" 2>&1 &
PID=$!
for _ in $(seq 600); do
  [[ $(stat -f -c %t "$MNT" 2>/dev/null) == 65735546 && -S $DATA/nexusd.sock ]] && break
  sleep 0.05
done
python3 "$SCRIPT_DIR/workflows_bench.py" "$MNT" "$DATA" "$WORK" "$BUILD_DIR/bin/nexus" "$OUTPUT"
rc=$?
stop
rm -rf "$WORK"
exit $rc
