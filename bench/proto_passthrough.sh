#!/usr/bin/env bash
# proto_passthrough.sh — prices FUSE passthrough (FOPEN_PASSTHROUGH backing files) and
# FUSE over io_uring on this kernel, before NexusFS takes either on (docs/fuse-passthrough.md).
#
# Debian 12's libfuse 3.14 has no API for either, so this drives libfuse's own
# example/passthrough_hp from a newer libfuse (>= 3.18) that the caller has built
# elsewhere (meson/ninja, not installed), against:
#   native       the backing ext4 directory itself
#   pll          Debian 12's passthrough_ll (libfuse 3.14), built as run_fs_bench.sh does
#   hp           passthrough_hp --nopassthrough: every read/write goes through the daemon
#   hp-pt        passthrough_hp: FOPEN_PASSTHROUGH, reads/writes go kernel -> backing file
#   hp-uring     hp with -o io_uring (requests over FUSE-over-io_uring instead of read(2))
#   hp-pt-uring  hp-pt with -o io_uring
# All FUSE targets mount the same backing directory, one at a time, targets interleaved
# within each run (order rotated per run) so machine noise hits all of them alike.
#
# Workloads per target and run (page cache dropped before each read-side step):
#   seq-write   dd 512 MiB (1 MiB blocks, conv=fsync) from a cached random file
#   seq-read    dd the same file back, cold
#   rand-read   fio: 4 KiB random reads (psync, 1 job, buffered) over a 1 GiB file, cold
#   small-*     bench/smallfiles.cc: create/stat/read/unlink of small files
#   readdir     opendir+readdir+closedir of a 1,000-name directory, repeated
#   untar       tar -xf of a tarball of /usr/include (then `sync`, timed apart)
#   find-stat   find -printf %s over the untarred tree, cold
#   rm-rf       rm -rf of the untarred tree (not comparable with native: the FUSE daemons
#               hold an O_PATH fd per inode, so freeing the inodes happens at FORGET,
#               after rm has returned; natively rm pays it)
#
# usage: bench/proto_passthrough.sh LIBFUSE_BUILD_DIR
#   LIBFUSE_BUILD_DIR is a libfuse meson build dir with example/passthrough_hp in it.
# env: RUNS (5), PROTO_DIR (/var/tmp/proto), TARGETS (all six), SMALL_FILES (10000),
#      RAND_SECONDS (5), OUT (PROTO_DIR/results-<UTC>.tsv).
# The io_uring targets need the fuse module's enable_uring parameter: the script sets it
# to Y for the run and restores the old value at exit. Needs root (drop_caches, mounts).
set -uo pipefail
export LC_ALL=C

die() { echo "proto_passthrough: $*" >&2; exit 1; }
say() { echo "$*" >&2; }

(($# == 1)) || die "usage: $0 LIBFUSE_BUILD_DIR"
HP=$(cd "$1" && pwd)/example/passthrough_hp
[[ -x $HP ]] || die "no passthrough_hp in $1/example"
[[ $(id -u) -eq 0 ]] || die "must run as root"
for tool in cc g++ pkg-config fio dd tar find python3 fusermount3 mountpoint; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUNS=${RUNS:-5}
PROTO_DIR=${PROTO_DIR:-/var/tmp/proto}
TARGETS=${TARGETS:-native,pll,hp,hp-pt,hp-uring,hp-pt-uring}
SMALL_FILES=${SMALL_FILES:-10000}
RAND_SECONDS=${RAND_SECONDS:-5}
READDIR_LOOPS=${READDIR_LOOPS:-200}
OUT=${OUT:-$PROTO_DIR/results-$(date -u +%Y%m%dT%H%M%SZ).tsv}
IFS=, read -r -a TARGET_LIST <<<"$TARGETS"

TOOLS=$PROTO_DIR/tools
BACKING=$PROTO_DIR/backing
MNT=$PROTO_DIR/mnt
LOGS=$PROTO_DIR/logs
mkdir -p "$TOOLS" "$BACKING" "$MNT" "$LOGS" || die "cannot create dirs under $PROTO_DIR"
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"

URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_OLD=""
ACTIVE_PID=""

unmount() {
  grep -qs " $MNT fuse" /proc/self/mounts || return 0
  fusermount3 -u -q "$MNT" 2>/dev/null || umount "$MNT" 2>/dev/null || umount -l "$MNT"
}
stop_daemon() {
  if [[ -n $ACTIVE_PID ]]; then
    unmount
    kill -TERM "$ACTIVE_PID" 2>/dev/null
    wait "$ACTIVE_PID" 2>/dev/null
    ACTIVE_PID=""
  fi
  unmount
}
cleanup() {
  stop_daemon
  [[ -n $URING_OLD ]] && echo "$URING_OLD" >"$URING_PARAM"
  rm -rf "$BACKING/w"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools and inputs ---------------------------------------------------------------------

# Word-split on purpose: pkg-config prints several flags. This is Debian 12's libfuse 3.14.
# shellcheck disable=SC2046
cc -O2 -Wall -o "$TOOLS/passthrough_ll" /usr/share/doc/libfuse3-dev/examples/passthrough_ll.c \
  $(pkg-config --cflags --libs fuse3) || die "building passthrough_ll failed"
g++ -O2 -std=c++20 -o "$TOOLS/smallfiles" "$SCRIPT_DIR/smallfiles.cc" ||
  die "building smallfiles failed"
cat >"$TOOLS/readdir.c" <<'EOF'
/* Lists DIR N times (opendir + readdir to the end + closedir); prints names seen. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  long n = atol(argv[2]), names = 0;
  for (long i = 0; i < n; i++) {
    DIR *d = opendir(argv[1]);
    if (!d) { perror(argv[1]); return 1; }
    while (readdir(d)) names++;
    closedir(d);
  }
  printf("%ld\n", names);
  return 0;
}
EOF
cc -O2 -o "$TOOLS/readdir" "$TOOLS/readdir.c" || die "building readdir failed"

SEQ_SRC=$PROTO_DIR/inputs/seq-512M.bin
RAND_FILE=$BACKING/rand-1G.bin
TARBALL=$PROTO_DIR/inputs/include.tar
mkdir -p "$PROTO_DIR/inputs"
[[ -f $SEQ_SRC ]] || dd if=/dev/urandom of="$SEQ_SRC" bs=1M count=512 status=none
[[ -f $RAND_FILE ]] || dd if=/dev/urandom of="$RAND_FILE" bs=1M count=1024 conv=fsync status=none
[[ -f $TARBALL ]] || tar -C /usr -cf "$TARBALL" include
sync

if [[ $TARGETS == *uring* ]]; then
  [[ -w $URING_PARAM ]] || die "$URING_PARAM missing: kernel without FUSE over io_uring"
  URING_OLD=$(<"$URING_PARAM")
  echo Y >"$URING_PARAM" || die "cannot enable $URING_PARAM"
fi

# --- targets ------------------------------------------------------------------------------

# Mounts target $1 over $BACKING at $MNT; sets WORK to the target's view of $BACKING.
target_up() {
  local target=$1 log=$LOGS/$1.log
  if [[ $target == native ]]; then
    WORK=$BACKING
    return 0
  fi
  mkdir -p "$MNT"
  case $target in
    pll) "$TOOLS/passthrough_ll" -f -o "source=$BACKING" "$MNT" ;;
    hp) "$HP" --foreground --nopassthrough "$BACKING" "$MNT" ;;
    hp-pt) "$HP" --foreground "$BACKING" "$MNT" ;;
    hp-uring) "$HP" --foreground --nopassthrough -o io_uring "$BACKING" "$MNT" ;;
    hp-pt-uring) "$HP" --foreground -o io_uring "$BACKING" "$MNT" ;;
    *) die "unknown target $target" ;;
  esac >>"$log" 2>&1 &
  ACTIVE_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    mountpoint -q "$MNT" && { WORK=$MNT; return 0; }
    kill -0 "$ACTIVE_PID" 2>/dev/null || die "$target exited before mounting; see $log"
    sleep 0.05
  done
  die "$target did not mount within 10 s; see $log"
}

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { echo "$EPOCHREALTIME"; }
record() {  # run target phase value unit
  printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUT"
  say "  $2 $3 $4 $5"
}
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / (b - a) }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

run_workloads() {
  local run=$1 target=$2 w=$WORK/w t0 t1 iops line
  { rm -rf "$w" && mkdir -p "$w"; } || die "cannot make $w"

  drop_caches
  cat "$SEQ_SRC" >/dev/null
  t0=$(now)
  dd if="$SEQ_SRC" of="$w/seq.bin" bs=1M conv=fsync status=none || die "$target: seq write"
  t1=$(now)
  record "$run" "$target" seq-write "$(rate 536.870912 "$t0" "$t1")" MB/s
  drop_caches
  t0=$(now)
  dd if="$w/seq.bin" of=/dev/null bs=1M status=none || die "$target: seq read"
  t1=$(now)
  record "$run" "$target" seq-read "$(rate 536.870912 "$t0" "$t1")" MB/s
  rm -f "$w/seq.bin"

  drop_caches
  iops=$(fio --name=rand --filename="$WORK/rand-1G.bin" --rw=randread --bs=4k --size=1G \
           --ioengine=psync --direct=0 --numjobs=1 --time_based --runtime="$RAND_SECONDS" \
           --invalidate=1 --randrepeat=0 --output-format=json 2>>"$LOGS/fio.err" |
         python3 -c 'import json,sys; print("%.0f" % json.load(sys.stdin)["jobs"][0]["read"]["iops"])') ||
    die "$target: fio"
  record "$run" "$target" rand-read "$iops" IOPS

  line=$("$TOOLS/smallfiles" --dir "$w" --files "$SMALL_FILES" --dirs 100) || die "$target: smallfiles"
  while read -r phase ops; do
    record "$run" "$target" "small-$phase" "$ops" ops/s
  done < <(python3 -c 'import json,sys
for k, v in json.loads(sys.argv[1])["phases"].items(): print(k, v["ops_per_sec"])' "$line")

  mkdir "$w/dir1000" && (cd "$w/dir1000" && for i in $(seq 1000); do : >"n$i"; done)
  t0=$(now)
  "$TOOLS/readdir" "$w/dir1000" "$READDIR_LOOPS" >/dev/null || die "$target: readdir"
  t1=$(now)
  record "$run" "$target" readdir "$(rate "$READDIR_LOOPS" "$t0" "$t1")" lists/s
  rm -rf "$w/dir1000"

  drop_caches
  cat "$TARBALL" >/dev/null
  t0=$(now)
  tar -C "$w" -xf "$TARBALL" || die "$target: untar"
  t1=$(now)
  record "$run" "$target" untar "$(elapsed "$t0" "$t1")" s
  t0=$(now)
  sync
  t1=$(now)
  record "$run" "$target" untar-sync "$(elapsed "$t0" "$t1")" s
  drop_caches
  t0=$(now)
  find "$w/include" -printf '%s\n' >/dev/null || die "$target: find"
  t1=$(now)
  record "$run" "$target" find-stat "$(elapsed "$t0" "$t1")" s
  t0=$(now)
  rm -rf "$w/include" || die "$target: rm -rf"
  t1=$(now)
  record "$run" "$target" rm-rf "$(elapsed "$t0" "$t1")" s
}

say "proto_passthrough: $(uname -r), passthrough_hp from $HP, results to $OUT"
printf 'run\ttarget\tphase\tvalue\tunit\n' >"$OUT"
for ((run = 1; run <= RUNS; run++)); do
  n=${#TARGET_LIST[@]}
  for ((k = 0; k < n; k++)); do
    target=${TARGET_LIST[$(((k + run - 1) % n))]}
    say "run $run/$RUNS: $target (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    target_up "$target"
    run_workloads "$run" "$target"
    stop_daemon
    rm -rf "$BACKING/w"
  done
done

# Medians per target and phase, and each FUSE target against pll.
python3 - "$OUT" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
targets = list(dict.fromkeys(r["target"] for r in rows))
phases = list(dict.fromkeys(r["phase"] for r in rows))
unit = {r["phase"]: r["unit"] for r in rows}
med, spread = {}, {}
for t in targets:
    for p in phases:
        v = [float(r["value"]) for r in rows if r["target"] == t and r["phase"] == p]
        if v:
            m = statistics.median(v)
            med[t, p] = m
            spread[t, p] = (max(v) - min(v)) / m * 100 if m else 0
print("| phase | unit | " + " | ".join(targets) + " |")
print("|---|---|" + "---|" * len(targets))
for p in phases:
    cells = []
    for t in targets:
        m = med.get((t, p))
        if m is None:
            cells.append("-")
            continue
        cell = f"{m:,.3f}" if unit[p] == "s" else f"{m:,.0f}"
        base = med.get(("pll", p))
        if base and t != "pll":
            better = base / m if unit[p] == "s" else m / base
            cell += f" ({better:.2f}x)"
        cell += f" ±{spread[t, p] / 2:.0f}%"
        cells.append(cell)
    print(f"| {p} | {unit[p]} | " + " | ".join(cells) + " |")
print("\n(x: against pll, > 1 is better; ±: half the min-max range over runs, % of the median)")
EOF
