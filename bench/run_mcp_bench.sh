#!/usr/bin/env bash
# MCP benchmark: starts a fresh nexusd (ReBAC on), makes a 1 KiB file on
# the mount, registers agent `bench` (viewer of /bench, the coding tool
# profile) and agent `bench1k` (the same plus 1,000 tool grants
# tool:extra_0..999 written in one batch), then runs bench/mcp_bench.mjs:
# the official MCP SDK client over stdio against `nexus mcp serve --as
# agent:bench` and, side by side in the same run, the reference server
# @modelcontextprotocol/server-filesystem serving the mount. Prints the
# table; writes OUT.json and OUT.md.
#
#   bench/run_mcp_bench.sh [-r RUNS] [-n CALLS] [-w WARMUP] [-o OUT.json]
# Defaults: 5 runs x 2000 calls, 200 warm-up, bench/results/mcp_bench.json.
# Env: NEXUS_BUILD_DIR (default build), BENCH_DIR (default /var/tmp/nexus-mcp-bench).
# Needs root or a user allowed to mount FUSE, Node.js 18+ and npm (the
# pinned packages are installed by integration/mcp_client/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${NEXUS_BUILD_DIR:-build}
runs=5 calls=2000 warmup=200 out=bench/results/mcp_bench.json
while getopts "r:n:w:o:" opt; do
  case $opt in
    r) runs=$OPTARG ;;
    n) calls=$OPTARG ;;
    w) warmup=$OPTARG ;;
    o) out=$OPTARG ;;
    *) echo "usage: $0 [-r RUNS] [-n CALLS] [-w WARMUP] [-o OUT.json]" >&2; exit 64 ;;
  esac
done
for b in nexusd nexus nexus_bench_mcp_grants; do
  [[ -x $build/bin/$b ]] || { echo "missing $build/bin/$b: build first (scripts/build.sh)" >&2; exit 1; }
done
integration/mcp_client/install.sh
dir=${BENCH_DIR:-/var/tmp/nexus-mcp-bench}
if mountpoint -q "$dir/mnt" 2>/dev/null; then fusermount3 -uz "$dir/mnt" || true; fi
rm -rf "$dir" && mkdir -p "$dir/data" "$dir/mnt"
"$build/bin/nexusd" --data-dir "$dir/data" --mount "$dir/mnt" --log-level warn >"$dir/nexusd.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if mountpoint -q "$dir/mnt" 2>/dev/null; then fusermount3 -uz "$dir/mnt" || true; fi
}
trap cleanup EXIT
export NEXUS_SOCKET="$dir/data/nexusd.sock" NEXUS_HOME="$dir/home"
nx() { "$build/bin/nexus" "$@" >/dev/null; }
nx ready --timeout 20
mkdir -p "$dir/mnt/bench"
# 1 KiB of text (the reference server's read_text_file reads UTF-8).
head -c 2048 /dev/urandom | base64 -w0 | head -c 1024 >"$dir/mnt/bench/read-1k.txt"
nx agent register bench "MCP benchmark"
nx agent register bench1k "MCP benchmark, 1,000 tool grants"
for a in bench bench1k; do
  nx rebac create agent "$a" viewer folder /bench
  nx mcp profile assign agent "$a" coding
done
"$build/bin/nexus_bench_mcp_grants" --socket "$NEXUS_SOCKET" --subject agent:bench1k --count 1000 >/dev/null
mkdir -p "$(dirname "$out")"
node bench/mcp_bench.mjs --nexus "$build/bin/nexus" --socket "$NEXUS_SOCKET" --mnt "$dir/mnt" \
  --file /bench/read-1k.txt --agent bench --agent-1000 bench1k --nexusd-pid "$pid" \
  --runs "$runs" --calls "$calls" --warmup "$warmup" --out "$out" \
  --commit "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench/results' ':!docs' || echo -dirty)"
