#!/usr/bin/env bash
# run_forks_bench.sh — what forks cost (docs/forks.md "Figures"):
#   (a) creating FORKS forks of a FILES-file tree (a git repository on the
#       mount): wall time of each `nexus fork create` (goal: under 1 s), and
#       how much DATA/data and DATA/forks grow (goal: no growth of DATA/data;
#       DATA/forks holds metadata only);
#   (b) reading every file (tar c | cat) and `git status`, warm, inside a
#       fork vs on the base (goal: the fork at >= 0.9x the base's speed);
#   (c) `nexus fork diff` and `nexus fork merge` of CHANGED changed files,
#       beside `git diff` and `git merge` of the same change in a clone of
#       the repository on the local disk.
# Writes bench/results/forks_bench.{json,md} (or --output) with the machine
# and the date. Needs root (mounts FUSE) and the build's nexusd and nexus:
#   cmake --build build --target nexusd nexus
set -uo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO_DIR/build}
BENCH_DIR=${BENCH_DIR:-/var/tmp/nexus-forks-bench}
FILES=${FILES:-50000}
FORKS=${FORKS:-100}
CHANGED=${CHANGED:-1000}
BENCH_OUTPUT=${BENCH_OUTPUT:-$REPO_DIR/bench/results/forks_bench.json}

usage() {
  cat <<EOF
usage: $0 [-o FILE] [-d DIR]
  -o, --output FILE  results JSON (the table: FILE's .md)  [BENCH_OUTPUT=$BENCH_OUTPUT]
  -d, --bench-dir D  scratch dir on the local disk         [BENCH_DIR=$BENCH_DIR]
Sizes (env): FILES=$FILES FORKS=$FORKS CHANGED=$CHANGED BUILD_DIR=$BUILD_DIR.
EOF
}
die() { echo "run_forks_bench: $*" >&2; exit 1; }
say() { echo "run_forks_bench: $*" >&2; }
while (($#)); do
  case $1 in
    -o|--output) BENCH_OUTPUT=${2:?}; shift ;;
    -d|--bench-dir) BENCH_DIR=${2:?}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
  shift
done
((CHANGED <= FILES)) || die "CHANGED ($CHANGED) exceeds FILES ($FILES)"
NEXUSD=$BUILD_DIR/bin/nexusd NEXUS=$BUILD_DIR/bin/nexus
[[ -x $NEXUSD && -x $NEXUS ]] || die "build nexusd and nexus first (in $BUILD_DIR)"

DATA=$BENCH_DIR/data MNT=$BENCH_DIR/mnt NATIVE=$BENCH_DIR/native
PID=""
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
  rm -rf "$BENCH_DIR"
}
trap cleanup EXIT
rm -rf "$BENCH_DIR" && mkdir -p "$DATA" "$MNT" "$NATIVE" || die "cannot make $BENCH_DIR"
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
export GIT_CONFIG_NOSYSTEM=1 HOME=$BENCH_DIR/home
mkdir -p "$HOME" && git config --global init.defaultBranch main && git config --global gc.auto 0
nx() { NEXUS_SOCKET=$DATA/nexusd.sock NEXUS_HOME=$BENCH_DIR/home "$NEXUS" "$@"; }
now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }
# Seconds (3 decimals) a command takes, its output discarded.
timed() {
  local t0 t1
  t0=$(now)
  "$@" >/dev/null 2>&1 || say "failed: $*"
  t1=$(now)
  awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f", d / 1e9 }'
}
bytes() { du -sb "$1" 2>/dev/null | cut -f1; }

"$NEXUSD" --data-dir "$DATA" --mount "$MNT" --log-level warn >"$BENCH_DIR/nexusd.log" 2>&1 &
PID=$!
for _ in $(seq 200); do [[ $(stat -f -c %t "$MNT" 2>/dev/null) == 65735546 ]] && break; sleep 0.05; done
[[ $(stat -f -c %t "$MNT") == 65735546 ]] || die "nexusd did not mount: $(tail -5 "$BENCH_DIR/nexusd.log")"

say "a $FILES-file repository at /src"
python3 - "$NATIVE/src" "$FILES" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d.txt" % i), "w") as f:
        f.write("".join("file %d line %d\n" % (i, k) for k in range(20)))
EOF
git -C "$NATIVE/src" init -q && git -C "$NATIVE/src" add -A && git -C "$NATIVE/src" commit -qm import ||
  die "git import"
tar -C "$NATIVE" -cf - src | tar -C "$MNT" -xf - || die "copying the repository onto the mount"
sync
data_before=$(bytes "$DATA/data")

say "(a) $FORKS forks"
create_ms=()
for i in $(seq 1 "$FORKS"); do
  t0=$(now)
  nx fork create "f$i" --from /src >/dev/null || die "fork create f$i"
  t1=$(now)
  create_ms+=("$(ms "$t0" "$t1")")
done
sync
data_after=$(bytes "$DATA/data")
forks_bytes=$(bytes "$DATA/forks")
sorted=$(printf '%s\n' "${create_ms[@]}" | sort -n)
create_p50=$(sed -n "$(((FORKS + 1) / 2))p" <<<"$sorted")
create_max=$(tail -n1 <<<"$sorted")

say "(b) reads and git status, fork vs base (warm: the second of two runs)"
read_all() { tar -C "$1" -cf - . | cat >/dev/null; }
for where in "$MNT/src" "$MNT/forks/f1"; do read_all "$where"; done
read_base=$(timed read_all "$MNT/src")
read_fork=$(timed read_all "$MNT/forks/f1")
git -C "$MNT/src" status --porcelain >/dev/null 2>&1
git -C "$MNT/forks/f1" status --porcelain >/dev/null 2>&1
status_base=$(timed git -C "$MNT/src" status --porcelain)
status_fork=$(timed git -C "$MNT/forks/f1" status --porcelain)

say "(c) diff and merge of $CHANGED changed files"
git clone -q "$NATIVE/src" "$NATIVE/clone" && git -C "$NATIVE/clone" checkout -q -b change || die "clone"
(cd "$NATIVE/clone" && git ls-files | grep -v '^\.' | head -n "$CHANGED") >"$BENCH_DIR/changed"
while read -r f; do
  echo "changed" >>"$MNT/forks/f2/$f"
  echo "changed" >>"$NATIVE/clone/$f"
done <"$BENCH_DIR/changed"
git -C "$NATIVE/clone" commit -qam change || die "git commit of the change"
sync
fork_diff=$(timed nx fork diff f2)
fork_merge=$(timed nx fork merge f2)
git_diff=$(timed git -C "$NATIVE/clone" diff main change)
git -C "$NATIVE/clone" checkout -q main
git_merge=$(timed git -C "$NATIVE/clone" merge -q --no-ff -m merge change)
merged=$(while read -r f; do tail -n1 "$MNT/src/$f"; done <"$BENCH_DIR/changed" | grep -cx changed)

mkdir -p "$(dirname "$BENCH_OUTPUT")"
python3 - "$BENCH_OUTPUT" <<EOF
import json, platform, os, datetime, sys
r = {
  "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
  "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
  "files": $FILES, "forks": $FORKS, "changed": $CHANGED,
  "create_ms_p50": $create_p50, "create_ms_max": $create_max,
  "data_bytes_before": $data_before, "data_bytes_after": $data_after,
  "forks_dir_bytes": $forks_bytes,
  "read_all_s": {"base": $read_base, "fork": $read_fork},
  "git_status_s": {"base": $status_base, "fork": $status_fork},
  "fork_diff_s": $fork_diff, "fork_merge_s": $fork_merge,
  "git_diff_s": $git_diff, "git_merge_s": $git_merge,
  "merged_files": $merged,
}
json.dump(r, open(sys.argv[1], "w"), indent=2)
def ratio(a, b): return "%.2fx" % (a / b) if b else "-"
md = f"""# Forks: {r['files']} files, {r['forks']} forks, {r['changed']} changed ({r['date']}, {r['machine']['cpus']} CPUs)

| measure | value | goal |
| --- | --- | --- |
| fork create, p50 / max | {r['create_ms_p50']} ms / {r['create_ms_max']} ms | < 1 s each |
| DATA/data before / after the forks | {r['data_bytes_before']} / {r['data_bytes_after']} B | no growth |
| DATA/forks after {r['forks']} forks | {r['forks_dir_bytes']} B | metadata only |
| read every file: base / fork | {r['read_all_s']['base']} s / {r['read_all_s']['fork']} s (fork at {ratio(r['read_all_s']['base'], r['read_all_s']['fork'])}) | >= 0.9x |
| git status: base / fork | {r['git_status_s']['base']} s / {r['git_status_s']['fork']} s (fork at {ratio(r['git_status_s']['base'], r['git_status_s']['fork'])}) | >= 0.9x |
| fork diff / git diff (native clone) | {r['fork_diff_s']} s / {r['git_diff_s']} s | |
| fork merge / git merge (native clone) | {r['fork_merge_s']} s / {r['git_merge_s']} s ({r['merged_files']} files merged) | |
"""
open(os.path.splitext(sys.argv[1])[0] + ".md", "w").write(md)
print(md)
EOF
kill "$PID" && wait "$PID"
PID=""
