#!/usr/bin/env bash
# Control-socket benchmark: starts a fresh nexusd, makes the files the
# workloads read, runs nexus_bench_rpc against its Unix socket and prints
# medians beside the Python Nexus reference figures (1 KiB read ~165 us,
# stat of 100 paths ~1.7 ms, lock+unlock ~1.0 ms; target: 10x faster), and
# the cost of history, get and diff on a file with HISTORY_VERSIONS (1000)
# versions, the agents' mailboxes (send + inbox, messages/s), and the agent
# registry's heartbeat and list with 1,000 agents.
#
#   bench/run_rpc_bench.sh [-r RUNS] [-n ITERATIONS] [-o OUT.json]
# Env: NEXUS_BUILD_DIR (default build), BENCH_DIR (default /var/tmp/nexus-rpc-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NEXUS_BUILD_DIR:-build}
runs=5 iterations=2000 out="bench/results/rpc_bench-$(date -u +%Y%m%dT%H%M%SZ).json"
while getopts "r:n:o:" opt; do
  case $opt in
    r) runs=$OPTARG ;;
    n) iterations=$OPTARG ;;
    o) out=$OPTARG ;;
    *) echo "usage: $0 [-r RUNS] [-n ITERATIONS] [-o OUT.json]" >&2; exit 64 ;;
  esac
done
for b in nexusd nexus nexus_bench_rpc; do
  [[ -x $build/bin/$b ]] || { echo "missing $build/bin/$b: build first (scripts/build.sh)" >&2; exit 1; }
done
dir=${BENCH_DIR:-/var/tmp/nexus-rpc-bench}
rm -rf "$dir" && mkdir -p "$dir/data" "$dir/mnt"
"$build/bin/nexusd" --data-dir "$dir/data" --mount "$dir/mnt" --log-level warn >"$dir/nexusd.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
export NEXUS_SOCKET="$dir/data/nexusd.sock"
"$build/bin/nexus" ready --timeout 20 >/dev/null
mkdir -p "$dir/mnt/bench/stat"
head -c 1024 /dev/urandom >"$dir/mnt/bench/read-1k"
for i in $(seq 0 99); do echo "$i" >"$dir/mnt/bench/stat/f$i"; done
# A 200-line file with ${HISTORY_VERSIONS:-1000} versions, one line changed in each.
versions=${HISTORY_VERSIONS:-1000}
for l in $(seq 1 200); do echo "line $l of the history benchmark file"; done >"$dir/base.txt"
for ((v = 1; v <= versions; v++)); do
  sed "$(( (v % 200) + 1 ))s/.*/line changed in version $v/" "$dir/base.txt" >"$dir/mnt/bench/history.txt"
  # Each close is its own version only once captured: wait for it.
  for ((t = 0; t < 200; t++)); do
    [[ $("$build/bin/nexus" --json metadata /bench/history.txt | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["version"])') == "$v" ]] && break
    sleep 0.01
  done
  if [[ -t 2 ]] && ((v % 50 == 0)); then printf '\rhistory file: %d/%d versions' "$v" "$versions" >&2; fi
done
[[ -t 2 ]] && echo >&2
# The mailbox workloads send to this agent (as the operator, an admin).
"$build/bin/nexus" agent register bench "Benchmark mailbox" >/dev/null
"$build/bin/nexus_bench_rpc" --socket "$NEXUS_SOCKET" --runs "$runs" --iterations "$iterations" >"$out"
python3 - "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ref = {"read_1k": 165.0, "stat_100": 1700.0, "lock_unlock": 1000.0}
print("| workload | p50 (us) | p99 (us) | Python Nexus (us) | speed-up at p50 | 10x target |")
print("|---|---:|---:|---:|---:|---|")
for k, v in ref.items():
    p50, p99 = r[k]["p50_us"], r[k]["p99_us"]
    print(f"| {k} | {p50:.1f} | {p99:.1f} | {v:.0f} | {v / p50:.1f}x | {'met' if v / p50 >= 10 else 'NOT met'} |")
n = r["null_call"]
s1 = r["stat_1"]
print(f"| stat of 1 path | {s1['p50_us']:.1f} | {s1['p99_us']:.1f} | | | |")
print(f"| null call (transport floor) | {n['p50_us']:.1f} | {n['p99_us']:.1f} | | | |")
w = r["raw_socket_round_trip"]
print(f"| raw Unix-socket round trip, epoll echo (baseline) | {w['p50_us']:.1f} | {w['p99_us']:.1f} | | | |")
print(f"| 8 clients, 1 KiB reads | {r['concurrent_8_read_1k']['calls_per_s']:,.0f} calls/s | | | | |")
if "ipc_send_inbox" in r:
    i = r["ipc_send_inbox"]
    print(f"| ipc send + inbox returning it | {i['p50_us']:.1f} | {i['p99_us']:.1f} | | | |")
    for n in (1, 8):
        print(f"| ipc send, {n} client{'s' if n > 1 else ''} | {r[f'ipc_send_{n}_clients']['messages_per_s']:,.0f} messages/s | | | | |")
for k, label in (("agent_heartbeat", "agent heartbeat (1,000 agents registered)"),
                 ("agent_list_1000", "agent list of 1,000 agents")):
    if k in r:
        print(f"| {label} | {r[k]['p50_us']:.1f} | {r[k]['p99_us']:.1f} | | | |")
for k, label in (("versions_history", "history of a file with %d versions" % r["history_versions"]),
                 ("versions_get", "get one version (~8 KiB)"),
                 ("versions_diff", "diff of two consecutive versions")):
    if k in r:
        print(f"| {label} | {r[k]['p50_us']:.1f} | {r[k]['p99_us']:.1f} | | | |")
PY
echo "results: $out"
