#!/usr/bin/env bash
# run_mesh_etcd_bench.sh — the director on etcd beside the embedded stores,
# in one run: nexus_bench_mesh with a three-member etcd cluster started here
# on loopback (data dirs under $BENCH_DIR): placements/s, heartbeats/s and
# creates/s on memory, SQLite (synchronous=FULL) and etcd, then the failover
# time (leader death → first placement by the new leader), p50 over
# FAILOVER_RUNS runs. On etcd also the requests a placement costs, from
# the members' own /metrics. Writes bench/results/mesh_etcd.json (one JSON
# object per line, the load average at start and end beside them) and
# prints it.
#   cmake --build build --target nexus_bench_mesh
# Env: NODES (1000), TASKS (100000), ETCD_TASKS (the etcd run's queue,
# default TASKS; its registrations and creates are timed on 2,000 of each),
# ELECTION_TTL (2), FAILOVER_RUNS (10).
set -euo pipefail
export LC_ALL=C
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO_DIR/build}
BENCH_DIR=${BENCH_DIR:-/var/tmp/nexus-mesh-etcd-bench}
NODES=${NODES:-1000}
TASKS=${TASKS:-100000}
ETCD_TASKS=${ETCD_TASKS:-$TASKS}
ELECTION_TTL=${ELECTION_TTL:-2}
FAILOVER_RUNS=${FAILOVER_RUNS:-10}
OUT=${OUT:-$REPO_DIR/bench/results/mesh_etcd.json}
command -v etcd >/dev/null || { echo "unavailable: etcd — not installed (apt-get install etcd-server)" >&2; exit 69; }

rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -a C P PIDS
cluster=""
for i in 1 2 3; do
  C[$i]=$(port)
  P[$i]=$(port)
  cluster+="${cluster:+,}e$i=http://127.0.0.1:${P[$i]}"
done
cleanup() { for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$BENCH_DIR"; }
trap cleanup EXIT
for i in 1 2 3; do
  etcd --name "e$i" --data-dir "$BENCH_DIR/etcd$i" --log-level error \
    --listen-client-urls "http://127.0.0.1:${C[$i]}" --advertise-client-urls "http://127.0.0.1:${C[$i]}" \
    --listen-peer-urls "http://127.0.0.1:${P[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${P[$i]}" \
    --initial-cluster "$cluster" >"$BENCH_DIR/etcd$i.log" 2>&1 &
  PIDS+=($!)
done
endpoints="127.0.0.1:${C[1]},127.0.0.1:${C[2]},127.0.0.1:${C[3]}"
for _ in $(seq 100); do
  ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1 && break
  sleep 0.2
done
{
  echo "{\"date\": \"$(date -u +%FT%TZ)\", \"host\": \"$(uname -n)\", \"cpus\": $(nproc), \"etcd\": \"$(etcd --version | head -1)\", \"etcd_members\": 3, \"loadavg_at_start\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
  "$BUILD_DIR/bin/nexus_bench_mesh" --nodes "$NODES" --tasks "$TASKS" --dir "$BENCH_DIR/work" \
    --etcd "$endpoints" --etcd-tasks "$ETCD_TASKS" --election-ttl "$ELECTION_TTL" --failover-runs "$FAILOVER_RUNS"
  # The machine is shared: its load beside the figures.
  echo "{\"loadavg_at_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
} | grep --line-buffered "^{" | tee "$OUT"
