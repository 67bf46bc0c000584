#!/usr/bin/env bash
# run_ops_bench.sh — what the operations log costs and how fast it answers:
#   (a) logging cost: untar of /usr/include and 5,000 small-file creates
#       (with stat/read/unlink), nexusd with the log on vs `--features oplog=off`,
#       everything else default, interleaved in one run by run_fs_bench.sh
#       (medians of BENCH_RUNS >= 5 runs, an idle gap before each step,
#       nexusd's CPU time per run from /proc/PID/stat); goal: <= 5% slower.
#   (b) `nexus ops log --agent A` over a log of 1,000,000 operations (filled
#       through OpLog by nexus_bench_ops_fill before the daemon starts): the
#       CLI's wall time and the Ops.log call alone (nexus_bench_ops_rpc),
#       p50/p95 over 50 runs each; goal: p50 <= 10 ms.
#   (c) `nexus undo --agent A` of 10,000 operations: 10,000 files rewritten by
#       a process labelled NEXUS_AGENT_ID=A, then undone; wall time (and of
#       the --dry-run plan).
# Writes bench/results/ops_bench.{json,md} (or --output) with the machine and
# the date. Needs root (mounts FUSE, drops caches) and the build's nexusd,
# nexus, nexus_bench_ops_fill and nexus_bench_ops_rpc:
#   cmake --build build --target nexusd nexus nexus_bench_ops_fill nexus_bench_ops_rpc
set -uo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO_DIR/build}
BENCH_DIR=${BENCH_DIR:-/var/tmp/nexus-ops-bench}
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_IDLE_GAP=${BENCH_IDLE_GAP:-5}
BENCH_PARTS=${BENCH_PARTS:-cost,log,undo}
OPS_FILL=${OPS_FILL:-1000000}
OPS_QUERY_RUNS=${OPS_QUERY_RUNS:-50}
UNDO_FILES=${UNDO_FILES:-10000}
BENCH_OUTPUT=${BENCH_OUTPUT:-$REPO_DIR/bench/results/ops_bench.json}

usage() {
  cat <<EOF
usage: $0 [-p PARTS] [-r RUNS] [-o FILE]

  -p, --parts LIST   comma list of cost,log,undo            [BENCH_PARTS=$BENCH_PARTS]
  -r, --runs N       runs of the cost part (medians)         [BENCH_RUNS=$BENCH_RUNS]
  -o, --output FILE  results JSON (the table: FILE's .md)    [BENCH_OUTPUT=$BENCH_OUTPUT]
  -d, --bench-dir D  scratch dir on the local disk           [BENCH_DIR=$BENCH_DIR]
More knobs (env): BENCH_IDLE_GAP=$BENCH_IDLE_GAP (s) OPS_FILL=$OPS_FILL OPS_QUERY_RUNS=$OPS_QUERY_RUNS
UNDO_FILES=$UNDO_FILES BUILD_DIR=$BUILD_DIR.
EOF
}

die() { echo "run_ops_bench: $*" >&2; exit 1; }
say() { echo "run_ops_bench: $*" >&2; }

while (($#)); do
  case $1 in
    -p|--parts) BENCH_PARTS=${2:?}; shift ;;
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
FILL=$BUILD_DIR/bin/nexus_bench_ops_fill
RPC=$BUILD_DIR/bin/nexus_bench_ops_rpc
for b in "$NEXUSD" "$NEXUS_CLI" "$FILL" "$RPC"; do
  [[ -x $b ]] || die "missing $b; build with: cmake --build $BUILD_DIR --target nexusd nexus nexus_bench_ops_fill nexus_bench_ops_rpc"
done
for n in "$BENCH_RUNS" "$OPS_FILL" "$OPS_QUERY_RUNS" "$UNDO_FILES"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "expected a positive integer, got '$n'"
done
IFS=, read -r -a PARTS <<<"$BENCH_PARTS"
for p in "${PARTS[@]}"; do
  [[ $p == cost || $p == log || $p == undo ]] || die "unknown part: $p"
done

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
WORK=$BENCH_DIR/$STAMP
mkdir -p "$WORK"
RESULTS=$WORK/results.jsonl  # one JSON object per measured part
: >"$RESULTS"
DAEMON_PID=""
MNT=""

stop_daemon() {
  [[ -n $DAEMON_PID ]] || return 0
  kill -TERM "$DAEMON_PID" 2>/dev/null
  for _ in $(seq 300); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$DAEMON_PID" 2>/dev/null
  wait "$DAEMON_PID" 2>/dev/null
  DAEMON_PID=""
  [[ -n $MNT ]] && mountpoint -q "$MNT" && { fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT"; }
  return 0
}
trap 'stop_daemon' EXIT
trap 'exit 130' INT TERM

# start_daemon DATA MNT [ARGS...]: nexusd on DATA at MNT, waits until mounted.
start_daemon() {
  local data=$1 mnt=$2 i
  shift 2
  mkdir -p "$data" "$mnt"
  MNT=$mnt
  "$NEXUSD" --data-dir "$data" --mount "$mnt" --log-level warn "$@" >>"$WORK/nexusd.log" 2>&1 &
  DAEMON_PID=$!
  for ((i = 0; i < 600; i++)); do
    [[ $(stat -f -c %t "$mnt" 2>/dev/null) == 65735546 ]] && [[ -S $data/nexusd.sock ]] && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || die "nexusd exited; log: $WORK/nexusd.log"
    sleep 0.05
  done
  die "nexusd did not mount $mnt in 30 s"
}

nxc() { NEXUS_SOCKET="$DATA/nexusd.sock" NEXUS_HOME="$WORK/home" "$NEXUS_CLI" "$@"; }

# p50/p95 of the numbers on stdin, as JSON fields.
percentiles() {
  python3 -c '
import json, sys
v = sorted(float(x) for x in sys.stdin.read().split())
print(json.dumps({"runs": len(v), "p50_ms": round(v[len(v) // 2], 3), "p95_ms": round(v[min(len(v) - 1, int(0.95 * len(v)))], 3),
                  "min_ms": round(v[0], 3), "max_ms": round(v[-1], 3)}))'
}

# --- (a) the cost of logging -------------------------------------------------------------
part_cost() {
  say "(a) logging on vs --features oplog=off: untar and 5,000 small files, $BENCH_RUNS runs"
  BENCH_DIR=$WORK/fs BENCH_RUNS=$BENCH_RUNS BENCH_IDLE_GAP=$BENCH_IDLE_GAP BENCH_SMALL_FILES=5000 \
    BENCH_BASE_BUDGET=0.952 NEXUSD=$NEXUSD NEXUS_CLI=$NEXUS_CLI \
    "$SCRIPT_DIR/run_fs_bench.sh" -t nexusd,nexusd-base -w smallfiles,tree \
    --nexusd-args "--log-level warn" --base-args "--log-level warn --features oplog=off" \
    -o "$WORK/fs.json" >"$WORK/fs.md" || say "run_fs_bench reported a failure (see $WORK/fs.md)"
  [[ -s $WORK/fs.json ]] || die "run_fs_bench wrote no results"
  python3 - "$WORK/fs.json" >>"$RESULTS" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
rows = []
for r in j["results"]:
    if (r["workload"], r["phase"]) not in {("tree", "untar"), ("tree", "total"), ("smallfiles", "create"),
                                           ("smallfiles", "unlink"), ("tree", "daemon_cpu"),
                                           ("smallfiles", "daemon_cpu")}:
        continue
    on, off = r["median"].get("nexusd"), r["median"].get("nexusd-base")
    if on is None or off is None:
        continue
    # slower: how much more time (or less throughput) the log costs, in %.
    slower = (on / off - 1) * 100 if not r["higher_is_better"] else (off / on - 1) * 100
    rows.append({"workload": r["workload"], "phase": r["phase"], "unit": r["unit"],
                 "oplog_on": round(on, 2), "oplog_off": round(off, 2), "slower_pct": round(slower, 1),
                 "samples_on": r["samples"].get("nexusd"), "samples_off": r["samples"].get("nexusd-base"),
                 "goal": "<= 5% slower" if r["phase"] in ("untar", "create") else None,
                 "met": (slower <= 5.0) if r["phase"] in ("untar", "create") else None})
print(json.dumps({"part": "cost", "runs": j["config"].get("runs"), "idle_gap_s": j["config"].get("idle_gap_s"),
                  "on_cmdline": j["targets"]["nexusd"]["cmdline"],
                  "off_cmdline": j["targets"]["nexusd-base"]["cmdline"],
                  "failures": j.get("failures"), "rows": rows}))
PY
}

# --- (b) ops log --agent over a million operations ----------------------------------------
part_log() {
  DATA=$WORK/log/data
  mkdir -p "$DATA"
  say "(b) filling a log with $OPS_FILL operations"
  "$FILL" --db "$DATA/oplog.db" --ops "$OPS_FILL" --agent bench >"$WORK/fill.json" ||
    die "nexus_bench_ops_fill failed"
  start_daemon "$DATA" "$WORK/log/mnt"
  nxc ops stats >"$WORK/stats.txt" 2>&1 || die "ops stats: $(cat "$WORK/stats.txt")"
  local n i t0 t1 rows
  rows=$(nxc --json ops log --agent bench | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["operations"]))') ||
    die "ops log --agent bench failed"
  say "(b) nexus ops log --agent bench: $rows rows; $OPS_QUERY_RUNS timed runs"
  for mode in table json; do
    : >"$WORK/cli-$mode.ms"
    for ((i = 0; i < OPS_QUERY_RUNS; i++)); do
      t0=$EPOCHREALTIME
      if [[ $mode == json ]]; then nxc --json ops log --agent bench >/dev/null; else nxc ops log --agent bench >/dev/null; fi ||
        die "ops log failed"
      t1=$EPOCHREALTIME
      awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >>"$WORK/cli-$mode.ms"
    done
  done
  # For scale: a CLI call that asks the daemon almost nothing.
  : >"$WORK/cli-null.ms"
  for ((i = 0; i < OPS_QUERY_RUNS; i++)); do
    t0=$EPOCHREALTIME
    nxc whoami >/dev/null || die "whoami failed"
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >>"$WORK/cli-null.ms"
  done
  "$RPC" --socket "$DATA/nexusd.sock" --agent bench --runs "$OPS_QUERY_RUNS" >"$WORK/rpc.json" ||
    die "nexus_bench_ops_rpc failed"
  stop_daemon
  python3 - "$WORK" "$rows" >>"$RESULTS" <<'PY'
import json, sys
w, rows = sys.argv[1], int(sys.argv[2])
def pct(name):
    v = sorted(float(x) for x in open(w + "/" + name).read().split())
    return {"runs": len(v), "p50_ms": round(v[len(v) // 2], 2), "p95_ms": round(v[min(len(v) - 1, int(0.95 * len(v)))], 2)}
fill = json.load(open(w + "/fill.json"))
cli = pct("cli-table.ms")
print(json.dumps({"part": "log", "fill": fill, "rows_returned": rows, "cli_table": cli, "cli_json": pct("cli-json.ms"),
                  "cli_whoami": pct("cli-null.ms"), "rpc_log": json.load(open(w + "/rpc.json")),
                  "goal": "p50 <= 10 ms", "met": cli["p50_ms"] <= 10.0}))
PY
}

# count_ops FILTER...: how many logged operations match (paging through the log).
count_ops() {
  local before=0 n=0 page
  while :; do
    page=$(nxc --json ops log --limit 10000 --before "$before" "$@") || { echo 0; return; }
    n=$((n + $(python3 -c 'import json, sys; print(len(json.load(sys.stdin)["operations"]))' <<<"$page")))
    before=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["next_before_id"])' <<<"$page")
    [[ $before != 0 ]] || break
  done
  echo "$n"
}

# --- (c) undo of 10,000 operations ---------------------------------------------------------
part_undo() {
  DATA=$WORK/undo/data
  local m=$WORK/undo/mnt t0 t1 t2 t3 ops i
  start_daemon "$DATA" "$m"
  say "(c) $UNDO_FILES files written, then rewritten by agent bulk"
  mkdir -p "$m/u"
  for ((i = 0; i < UNDO_FILES; i++)); do echo "before $i" >"$m/u/f$i"; done
  nxc versions flush >/dev/null
  NEXUS_AGENT_ID=bulk bash -c "for ((i = 0; i < $UNDO_FILES; i++)); do echo \"agent \$i\" >$m/u/f\$i; done"
  nxc versions flush >/dev/null
  for ((i = 0; i < 600; i++)); do
    ops=$(count_ops --agent bulk)
    ((ops >= UNDO_FILES)) && break
    sleep 0.5
  done
  ((ops >= UNDO_FILES)) || die "only $ops of the agent's operations logged"
  say "(c) nexus undo --agent bulk over $ops operations"
  t0=$EPOCHREALTIME
  nxc --json undo --agent bulk --dry-run >"$WORK/undo-plan.json" || die "undo --dry-run failed"
  t1=$EPOCHREALTIME
  sync
  t2=$EPOCHREALTIME
  nxc --json undo --agent bulk >"$WORK/undo.json" || say "undo exited non-zero (see $WORK/undo.json)"
  t3=$EPOCHREALTIME
  local wrong=0
  for ((i = 0; i < UNDO_FILES; i += 97)); do
    [[ $(cat "$m/u/f$i") == "before $i" ]] || wrong=$((wrong + 1))
  done
  stop_daemon
  python3 - "$WORK" "$ops" "$t0" "$t1" "$t2" "$t3" "$wrong" >>"$RESULTS" <<'PY'
import json, sys
w, ops = sys.argv[1], int(sys.argv[2])
t0, t1, t2, t3 = map(float, sys.argv[3:7])
r = json.load(open(w + "/undo.json"))
print(json.dumps({"part": "undo", "operations": ops, "dry_run_s": round(t1 - t0, 2), "undo_s": round(t3 - t2, 2),
                  "applied": r.get("applied"), "conflicts": r.get("conflicts"), "failed": r.get("failed"),
                  "skipped": r.get("skipped"), "sampled_files_not_restored": int(sys.argv[7])}))
PY
}

for p in "${PARTS[@]}"; do "part_$p"; done

# --- report ------------------------------------------------------------------------------
mkdir -p "$(dirname "$BENCH_OUTPUT")"
python3 - "$RESULTS" "$BENCH_OUTPUT" "$STAMP" "$NEXUSD" <<'PY'
import json, os, platform, subprocess, sys
results = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out, stamp, nexusd = sys.argv[2], sys.argv[3], sys.argv[4]
def sh(c):
    return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
host = {"kernel": platform.release(), "cpus": os.cpu_count(),
        "cpu_model": sh("awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo"),
        "mem_total": sh("awk '/^MemTotal/ { print $2 \" \" $3 }' /proc/meminfo"),
        "loadavg_end": sh("cut -d' ' -f1-3 /proc/loadavg")}
doc = {"started_utc": stamp, "host": host, "nexusd": nexusd,
       "commit": sh("git -C %s rev-parse --short HEAD" % os.path.dirname(os.path.abspath(out))),
       "parts": {r["part"]: r for r in results}}
# Parts not run this time are kept from the previous results (each with its own started_utc).
for r in results:
    r["started_utc"] = stamp
if os.path.exists(out):
    try:
        old = json.load(open(out))
        for k, v in old.get("parts", {}).items():
            doc["parts"].setdefault(k, v)
    except ValueError:
        pass
json.dump(doc, open(out, "w"), indent=1)
md = ["# Operations log benchmark (%s, %s, %d CPUs)" % (stamp, host["cpu_model"], host["cpus"]), "",
      "Each part's own run: " + ", ".join("%s %s" % (k, v.get("started_utc", stamp)) for k, v in sorted(doc["parts"].items())), ""]
p = doc["parts"]
if "cost" in p:
    c = p["cost"]
    md += ["## (a) The cost of logging: oplog on vs `--features oplog=off` (%s runs, medians, %ss idle gaps)" %
           (c["runs"], c["idle_gap_s"]), "",
           "| workload | phase | oplog on | oplog off | slower | goal | met? |", "|---|---|---:|---:|---:|---|---|"]
    for r in c["rows"]:
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        md.append("| %s | %s (%s) | %s | %s | %+.1f%% | %s | %s |" % (r["workload"], r["phase"], r["unit"],
                  r["oplog_on"], r["oplog_off"], r["slower_pct"], r["goal"] or "", met))
    md += ["", "daemon_cpu: nexusd's user+system CPU seconds over the workload, from /proc/PID/stat.", ""]
if "log" in p:
    l = p["log"]
    md += ["## (b) `nexus ops log --agent bench` over %d operations (%d of them bench's)" %
           (l["fill"]["operations"], l["fill"]["agent_operations"]), "",
           "| what | runs | p50 (ms) | p95 (ms) |", "|---|---:|---:|---:|"]
    for k, name in (("cli_table", "`nexus ops log --agent bench` (table, %d rows)" % l["rows_returned"]),
                    ("cli_json", "`nexus --json ops log --agent bench`"),
                    ("rpc_log", "Ops.log alone (one connection)"),
                    ("cli_whoami", "for scale: `nexus whoami`")):
        v = l[k]
        md.append("| %s | %d | %.2f | %.2f |" % (name, v["runs"], v["p50_ms"], v["p95_ms"]))
    md += ["", "Goal: p50 <= 10 ms (the CLI): %s." % ("met" if l["met"] else "**not met**"), ""]
if "undo" in p:
    u = p["undo"]
    md += ["## (c) `nexus undo --agent bulk` of %d operations" % u["operations"], "",
           "| what | seconds |", "|---|---:|",
           "| plan (`--dry-run`) | %.2f |" % u["dry_run_s"], "| undo | %.2f |" % u["undo_s"], "",
           "applied %s, conflicts %s, failed %s, skipped %s; sampled files not restored: %d" %
           (u["applied"], u["conflicts"], u["failed"], u["skipped"], u["sampled_files_not_restored"]), ""]
open(out[:-5] + ".md" if out.endswith(".json") else out + ".md", "w").write("\n".join(md))
print("\n".join(md))
PY
say "results: $BENCH_OUTPUT"
