#!/usr/bin/env bash
# Search served by nexusd, measured end to end on a real tree:
#   - write-path overhead: untar time onto the mount with search on vs a
#     daemon started with the feature off (features: {search: false}),
#     and how long after the untar the index has caught up;
#   - initial indexing throughput: the catch-up pass of a daemon started
#     with search on over a tree written while search was off;
#   - grep: `nexus grep` (through the index) vs `rg` on the mount vs `rg` on
#     a native copy of the same tree, for a rare literal, a common word and
#     a regex (medians, match counts compared);
#   - FUSE during indexing: nexus_bench_smallfiles on the mount while the
#     initial index runs vs after it has settled (same daemon, medians);
#   - keyword query latency p50/p99: end to end through the CLI (process
#     start + connect + query) and server side (the daemon's own latency
#     histogram for search.query, from /metrics).
# The tree is real source: copies of directories on this machine
# (/usr/include, /usr/lib/python3*) tarred N times until it holds
# BENCH_SEARCH_FILES files. Nothing is downloaded.
#
# Usage: sudo bench/run_search_bench.sh            (about 10-20 min here)
# Env:
#   NEXUS_BUILD_DIR     build dir with bin/nexusd and bin/nexus (default <repo>/build)
#   BENCH_DIR           scratch dir on the local disk (default /var/tmp/nexus-search-bench)
#   BENCH_RUNS          untar runs per mode, medians reported (default 3); run 1 also
#                       times the initial index and the index lag after the untar
#   BENCH_GREP_RUNS     timed runs per grep case and tool (default 5)
#   BENCH_QUERIES       keyword queries timed (default 300)
#   BENCH_SEARCH_FILES  minimum files in the tree (default 50000)
#   BENCH_SEARCH_SRC    directories copied into the tree (default: /usr/include /usr/lib/python3*)
#   BENCH_OUTPUT        results JSON (default bench/results/search_<UTC>.json; table in .md)
#   BENCH_VERSIONS      1: keep versioning on in every daemon (default off, to isolate search)
#   NEXUSD_ARGS         extra nexusd options (default --log-level info)
#   BENCH_SMALL_FILES   files per small-file run timed during the initial index
#                       and idle (default 2000; nexus_bench_smallfiles from the build)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${NEXUS_BUILD_DIR:-$REPO/build}
BENCH_DIR=${BENCH_DIR:-/var/tmp/nexus-search-bench}
RUNS=${BENCH_RUNS:-3}
GREP_RUNS=${BENCH_GREP_RUNS:-5}
QUERIES=${BENCH_QUERIES:-300}
MIN_FILES=${BENCH_SEARCH_FILES:-50000}
read -r -a SRCS <<<"${BENCH_SEARCH_SRC:-/usr/include $(ls -d /usr/lib/python3* 2>/dev/null | tr '\n' ' ')}"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_OUTPUT:-$REPO/bench/results/search_$STAMP.json}
read -r -a EXTRA <<<"${NEXUSD_ARGS:---log-level info}"

[[ $(id -u) == 0 ]] || { echo "run as root (mounts FUSE)" >&2; exit 1; }
for t in rg tar python3 curl; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 1; }; done
[[ -x $BUILD/bin/nexusd && -x $BUILD/bin/nexus && -x $BUILD/bin/nexus_bench_smallfiles ]] ||
  { echo "no nexusd/nexus/nexus_bench_smallfiles in $BUILD/bin" >&2; exit 1; }
SMALL_FILES=${BENCH_SMALL_FILES:-2000}

mkdir -p "$BENCH_DIR"
exec 8>"$BENCH_DIR/.lock"
flock -n 8 || { echo "another run holds $BENCH_DIR" >&2; exit 1; }
LOGS=$BENCH_DIR/logs/$STAMP
TOOLS=$BENCH_DIR/tools
mkdir -p "$LOGS" "$TOOLS"
cp "$BUILD/bin/nexusd" "$BUILD/bin/nexus" "$BUILD/bin/nexus_bench_smallfiles" "$TOOLS/"
NEXUSD=$TOOLS/nexusd
NEXUS=$TOOLS/nexus
MNT=$BENCH_DIR/mnt
mkdir -p "$MNT"
# Versioning records every write too; it is off in both daemons (unless
# BENCH_VERSIONS=1) so the comparison isolates search.
VERSIONS=$([[ ${BENCH_VERSIONS:-0} == 1 ]] && echo true || echo false)
printf 'features:\n  versions: %s\n' "$VERSIONS" >"$BENCH_DIR/search-on.yaml"
printf 'features:\n  versions: %s\n  search: false\n' "$VERSIONS" >"$BENCH_DIR/search-off.yaml"

PID=""
DATA=""
log() { echo "[$(date +%T)] $*" >&2; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(round($(now) - $1, 3))"; }
fuse_live() { [[ $(stat -f -c %t "$MNT" 2>/dev/null) == 65735546 ]]; }

start_daemon() { # start_daemon DATA_DIR [nexusd args...]
  DATA=$1
  shift
  mkdir -p "$DATA"
  env --default-signal=INT "$NEXUSD" --data-dir "$DATA" --mount "$MNT" "${EXTRA[@]}" "$@" \
    >>"$LOGS/nexusd.log" 2>&1 &
  PID=$!
  for _ in $(seq 600); do
    fuse_live && return 0
    kill -0 "$PID" 2>/dev/null || { tail -5 "$LOGS/nexusd.log" >&2; echo "nexusd died" >&2; exit 1; }
    sleep 0.05
  done
  echo "nexusd did not mount" >&2
  exit 1
}
stop_daemon() {
  [[ -n $PID ]] || return 0
  kill -TERM "$PID"
  wait "$PID" || { echo "nexusd exited non-zero" >&2; exit 1; }
  PID=""
}
cleanup() {
  local rc=$?
  if [[ -n $PID ]]; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
  fi
  mountpoint -q "$MNT" && { fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT" || true; }
  rm -rf "$BENCH_DIR"/data-* "$BENCH_DIR/native"
  exit $rc
}
trap cleanup EXIT INT TERM
nx() { NEXUS_SOCKET="$DATA/nexusd.sock" NEXUS_HOME="$BENCH_DIR/home" "$NEXUS" "$@"; }
# Waits until the index is ready with nothing queued; prints the seconds waited.
wait_indexed() {
  local t0
  t0=$(now)
  for _ in $(seq 36000); do
    if nx --json search stats 2>/dev/null | python3 -c \
      'import json,sys; j=json.load(sys.stdin); sys.exit(0 if j["state"]=="ready" and j["queue_depth"]==0 else 1)'; then
      since "$t0"
      return 0
    fi
    sleep 0.05
  done
  echo "index never got ready" >&2
  exit 1
}

# Index state: "busy" while the index is catching up or has work queued.
index_busy() {
  nx --json search stats 2>/dev/null | python3 -c \
    'import json,sys; j=json.load(sys.stdin); sys.exit(0 if j["state"]!="ready" or j["queue_depth"]>0 else 1)'
}
# small_run LABEL: one nexus_bench_smallfiles run in a fresh folder of the
# mount, its JSON line appended to small.jsonl with LABEL.
small_run() {
  rm -rf "$MNT/.small-bench"
  mkdir "$MNT/.small-bench"
  local j
  j=$("$TOOLS/nexus_bench_smallfiles" --dir "$MNT/.small-bench" --files "$SMALL_FILES")
  echo "{\"phase\": \"$1\", \"result\": $j}" >>"$LOGS/small.jsonl"
  rm -rf "$MNT/.small-bench"
}

# ---------------------------------------------------------------- the tree
TAR=$BENCH_DIR/tree.tar
per_copy=0
for s in "${SRCS[@]}"; do per_copy=$((per_copy + $(find "$s" -type f | wc -l))); done
COPIES=$(((MIN_FILES + per_copy - 1) / per_copy))
key="$COPIES ${SRCS[*]}"
if [[ ! -f $TAR || $(cat "$TAR.key" 2>/dev/null) != "$key" ]]; then
  log "building $TAR: $COPIES copies of ${SRCS[*]} ($per_copy files each)"
  rm -f "$TAR"
  for ((c = 1; c <= COPIES; c++)); do
    rel=()
    for s in "${SRCS[@]}"; do rel+=("${s#/}"); done
    tar -C / --transform "s|^|copy$c/|" -rf "$TAR" "${rel[@]}"
  done
  echo "$key" >"$TAR.key"
fi
log "native copy"
rm -rf "$BENCH_DIR/native"
mkdir -p "$BENCH_DIR/native"
t0=$(now)
tar -xf "$TAR" -C "$BENCH_DIR/native"
NATIVE_UNTAR=$(since "$t0")
TREE_FILES=$(find "$BENCH_DIR/native" -type f | wc -l)
TREE_BYTES=$(du -sb "$BENCH_DIR/native" | cut -f1)
log "tree: $TREE_FILES files, $((TREE_BYTES / 1048576)) MiB; native untar ${NATIVE_UNTAR}s"

# ---------------------------------------------------------------- untar and indexing runs
: >"$LOGS/runs.jsonl"
for ((r = 1; r <= RUNS; r++)); do
  order=(off on)
  ((r % 2 == 0)) && order=(on off)
  for mode in "${order[@]}"; do
    d=$BENCH_DIR/data-$mode
    ((r > 1)) && d=$BENCH_DIR/data-$mode-$r
    rm -rf "$d"
    if ((r > 1)); then
      # Later runs time the untar only (the index passes take minutes).
      start_daemon "$d" --config "$BENCH_DIR/search-$mode.yaml"
      t0=$(now)
      tar -xf "$TAR" -C "$MNT"
      untar=$(since "$t0")
      stop_daemon
      log "run $r search $mode: untar ${untar}s"
      echo "{\"run\": $r, \"mode\": \"$mode\", \"untar_s\": $untar}" >>"$LOGS/runs.jsonl"
      rm -rf "$d"
    elif [[ $mode == off ]]; then
      start_daemon "$d" --config "$BENCH_DIR/search-off.yaml"
      t0=$(now)
      tar -xf "$TAR" -C "$MNT"
      untar=$(since "$t0")
      stop_daemon
      # The same tree, now with search on: the catch-up pass indexes it all.
      from=$(stat -c %s "$LOGS/nexusd.log")
      start_daemon "$d" --config "$BENCH_DIR/search-on.yaml"
      # FUSE while the catch-up runs: small-file runs that both start and
      # end with the index busy count; then the same runs once it is idle.
      : >"$LOGS/small.jsonl"
      for _ in 1 2 3 4 5; do
        index_busy || break
        small_run during-check
        if index_busy; then
          sed -i '$ s/"during-check"/"during"/' "$LOGS/small.jsonl"
        else
          sed -i '$ d' "$LOGS/small.jsonl"
        fi
      done
      wait_indexed >/dev/null
      line=$(tail -c +$((from + 1)) "$LOGS/nexusd.log" | grep -m1 'search: index caught up' || true)
      wait_settled() { # the impact lists of frequent words are built after the catch-up
        for _ in $(seq 600); do
          tail -c +$((from + 1)) "$LOGS/nexusd.log" | grep -q 'impact lists of' && return 0
          sleep 0.2
        done
      }
      wait_settled
      for _ in 1 2 3; do small_run idle; done
      log "run $r: small files during the index: $(grep -c '"during"' "$LOGS/small.jsonl") runs; idle: 3 runs"
      secs=$(sed -E 's/.*caught up in ([0-9.]+) s.*/\1/' <<<"$line")
      files=$(sed -E 's/.*: ([0-9]+) files.*/\1/' <<<"$line")
      db=$(stat -c %s "$d/search.db")
      log "run $r search off: untar ${untar}s; initial index of $files files in ${secs}s"
      echo "{\"run\": $r, \"mode\": \"off\", \"untar_s\": $untar, \"index_s\": $secs, \"indexed_files\": $files, \"index_db_bytes\": $db}" >>"$LOGS/runs.jsonl"
      stop_daemon
    else
      start_daemon "$d" --config "$BENCH_DIR/search-on.yaml"
      wait_indexed >/dev/null
      t0=$(now)
      tar -xf "$TAR" -C "$MNT"
      untar=$(since "$t0")
      lag=$(wait_indexed)
      log "run $r search on: untar ${untar}s; index caught up ${lag}s after the untar"
      echo "{\"run\": $r, \"mode\": \"on\", \"untar_s\": $untar, \"lag_s\": $lag}" >>"$LOGS/runs.jsonl"
      stop_daemon
      rm -rf "$d"
    fi
  done
done

# ---------------------------------------------------------------- grep and query latency
start_daemon "$BENCH_DIR/data-off" --config "$BENCH_DIR/search-on.yaml" --http 127.0.0.1:0
wait_indexed >/dev/null
nx --json status >"$LOGS/status.json"
HTTP=$(python3 -c "import json; print(json.load(open('$LOGS/status.json'))['http'])")
nx --json search stats >"$LOGS/stats.json"
log "measuring grep and queries (index: $(cat "$LOGS/stats.json" | tr -d '\n ' | cut -c1-120))"

export NEXUS_SOCKET="$DATA/nexusd.sock" NEXUS_HOME="$BENCH_DIR/home"
python3 - "$NEXUS" "$MNT" "$BENCH_DIR/native" "$HTTP" "$GREP_RUNS" "$QUERIES" "$LOGS" <<'PY'
import json, os, random, re, statistics, subprocess, sys, time, urllib.request
nexus, mnt, native, http, grep_runs, queries, logs = sys.argv[1:8]
grep_runs, queries = int(grep_runs), int(queries)

def timed(cmd):
    with open(os.path.join(logs, "grep.out"), "wb") as out:
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.DEVNULL).returncode
        dt = time.perf_counter() - t0
    if rc not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed ({rc}): {' '.join(cmd)}")
    with open(os.path.join(logs, "grep.out"), "rb") as f:
        n = sum(1 for _ in f)
    return dt * 1000, n

cases = [("rare literal", "SIOCGIFHWADDR"), ("common word", "typedef"),
         ("regex", r"struct [a-z_]+ \{")]
grep = []
for name, pat in cases:
    tools = {"nexus grep": [nexus, "grep", "--", pat],
             "rg on the mount": ["rg", "-uu", "-n", "--no-heading", "-e", pat, mnt],
             "rg native": ["rg", "-uu", "-n", "--no-heading", "-e", pat, native]}
    samples = {k: [] for k in tools}
    counts = {}
    for k, cmd in tools.items():
        timed(cmd)  # warm-up: page cache and index pages
    for _ in range(grep_runs):
        for k, cmd in tools.items():
            ms, n = timed(cmd)
            samples[k].append(ms)
            counts[k] = n
    grep.append({"case": name, "pattern": pat,
                 "median_ms": {k: round(statistics.median(v), 1) for k, v in samples.items()},
                 "samples_ms": {k: [round(x, 1) for x in v] for k, v in samples.items()},
                 "matches": counts})
    print(f"grep {name}: " + ", ".join(f"{k} {statistics.median(v):.0f} ms ({counts[k]})" for k, v in samples.items()),
          file=sys.stderr)

# Query texts: words of the tree, frequent and rare, one or two per query.
rng = random.Random(42)
files = []
for root, _, names in os.walk(native):
    for n in names:
        if n.endswith((".h", ".py")):
            files.append(os.path.join(root, n))
rng.shuffle(files)
freq = {}
for p in files[:3000]:
    try:
        text = open(p, "rb").read(200000).decode("utf-8", "replace")
    except OSError:
        continue
    for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]{3,}", text):
        freq[w] = freq.get(w, 0) + 1
ranked = sorted(freq, key=lambda w: -freq[w])
common, rare = ranked[:500], ranked[500:]
def make_texts(n):
    out = []
    for i in range(n):
        pool = common if i % 3 == 0 else rare
        words = [rng.choice(pool)] + ([rng.choice(ranked)] if i % 2 else [])
        out.append(" ".join(words))
    return out
warmup, texts = make_texts(queries), make_texts(queries)
# Warm-up with other texts of the same mix: the index's pages get into the
# page cache, as in a daemon that has been serving for a while.
for t in warmup:
    subprocess.run([nexus, "search", "query", t], stdout=subprocess.DEVNULL, check=True)

def metrics():
    body = urllib.request.urlopen(f"http://{http}/metrics").read().decode()
    out = {}
    for line in body.splitlines():
        m = re.match(r'nexus_rpc_latency_seconds_bucket\{method="search\.query",le="([^"]+)"\} (\d+)', line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out

def quantile(hist, q):  # Prometheus histogram_quantile: linear within the bucket
    bounds = sorted(((float("inf") if k == "+Inf" else float(k)), v) for k, v in hist.items())
    total = bounds[-1][1]
    if total == 0:
        return None
    rank, prev_b, prev_c = q * total, 0.0, 0
    for b, c in bounds:
        if c >= rank:
            if b == float("inf"):
                return prev_b * 1000
            return (prev_b + (b - prev_b) * (rank - prev_c) / max(c - prev_c, 1)) * 1000
        prev_b, prev_c = b, c
    return None

base = []
for _ in range(50):
    t0 = time.perf_counter()
    subprocess.run([nexus, "whoami"], stdout=subprocess.DEVNULL, check=True)
    base.append((time.perf_counter() - t0) * 1000)
before = metrics()
lat, hits, per_query = [], [], []
for i, t in enumerate(texts):
    t0 = time.perf_counter()
    r = subprocess.run([nexus, "--json", "search", "query", t, "--limit", "10"],
                       stdout=subprocess.PIPE, check=True)
    ms = (time.perf_counter() - t0) * 1000
    lat.append(ms)
    hits.append(len(json.loads(r.stdout)["hits"]))
    per_query.append({"text": t, "common": i % 3 == 0, "cli_ms": round(ms, 2)})
after = metrics()
delta = {k: after[k] - before.get(k, 0) for k in after}
by_kind = {k: round(statistics.median(q["cli_ms"] for q in per_query if q["common"] == c), 2)
           for k, c in (("common_word_cli_p50_ms", True), ("rare_word_cli_p50_ms", False))}
lat.sort()
pct = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]
query = {"count": len(texts),
         "cli_p50_ms": round(pct(lat, 0.5), 2), "cli_p99_ms": round(pct(lat, 0.99), 2),
         "cli_baseline_whoami_p50_ms": round(statistics.median(base), 2),
         "server_p50_ms": round(quantile(delta, 0.5), 3), "server_p99_ms": round(quantile(delta, 0.99), 3),
         "server_histogram": delta, "mean_hits": round(statistics.mean(hits), 1),
         **by_kind, "warmup_queries": len(warmup), "samples": per_query}
print(f"query: CLI p50 {query['cli_p50_ms']} ms p99 {query['cli_p99_ms']} ms (whoami {query['cli_baseline_whoami_p50_ms']} ms); "
      f"server p50 {query['server_p50_ms']} ms p99 {query['server_p99_ms']} ms", file=sys.stderr)
json.dump({"grep": grep, "query": query}, open(os.path.join(logs, "measure.json"), "w"), indent=2)
PY
unset NEXUS_SOCKET NEXUS_HOME
stop_daemon

# ---------------------------------------------------------------- results
python3 - "$LOGS" "$OUT" "$TREE_FILES" "$TREE_BYTES" "$COPIES" "$NATIVE_UNTAR" "$STAMP" "${SRCS[*]}" <<'PY'
import json, os, statistics, subprocess, sys
logs, out, files, size, copies, native_untar, stamp, srcs = sys.argv[1:9]
runs = [json.loads(l) for l in open(os.path.join(logs, "runs.jsonl"))]
small = [json.loads(l) for l in open(os.path.join(logs, "small.jsonl"))]
m = json.load(open(os.path.join(logs, "measure.json")))
stats = json.load(open(os.path.join(logs, "stats.json")))
off = [r for r in runs if r["mode"] == "off"]
on = [r for r in runs if r["mode"] == "on"]
med = lambda xs: round(statistics.median(xs), 2)
untar_off, untar_on = med([r["untar_s"] for r in off]), med([r["untar_s"] for r in on])
first_off = [r for r in off if "index_s" in r][0]
first_on = [r for r in on if "lag_s" in r][0]
index_s = first_off["index_s"]
indexed = first_off["indexed_files"]
# FUSE small-file phases while the initial index runs vs idle (ops/s medians).
def phase_medians(label):
    rs = [x["result"]["phases"] for x in small if x["phase"] == label]
    keys = list(rs[0]) if rs else []
    return len(rs), {k: round(statistics.median(r[k]["ops_per_sec"] for r in rs), 1) for k in keys}
n_during, during = phase_medians("during")
n_idle, idle = phase_medians("idle")
fuse_during = {"files_per_run": len(small) and small[0]["result"].get("files"), "runs_during": n_during,
               "runs_idle": n_idle, "during_ops_per_s": during, "idle_ops_per_s": idle,
               "ratio": {k: round(during[k] / idle[k], 3) for k in during if idle.get(k)}}
res = {
    "benchmark": "search_served", "utc": stamp,
    "machine": {"nproc": os.cpu_count(), "loadavg": open("/proc/loadavg").read().split()[:3],
                "kernel": os.uname().release},
    "tree": {"files": int(files), "bytes": int(size), "copies": int(copies), "sources": srcs.split(),
             "indexed_files": stats["files"], "chunks": stats["chunks"], "indexed_bytes": stats["bytes"],
             "index_db_bytes": first_off["index_db_bytes"]},
    "untar": {"native_s": float(native_untar), "search_off_s": untar_off, "search_on_s": untar_on,
              "overhead_pct": round(100 * (untar_on - untar_off) / untar_off, 1),
              "index_lag_after_untar_s": first_on["lag_s"],
              "samples": runs},
    "initial_index": {"seconds": index_s, "files": indexed, "files_per_s": round(indexed / index_s, 1),
                      "mib_per_s": round(stats["bytes"] / 2**20 / index_s, 2)},
    "grep": m["grep"], "query": m["query"], "fuse_during_index": fuse_during,
    "reference": "Python Nexus: 0.4-2.7 s per search query",
}
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump(res, open(out, "w"), indent=2)
q = res["query"]
lines = [
    f"# Search served by nexusd ({stamp}, {res['machine']['nproc']} CPUs, load {' '.join(res['machine']['loadavg'])})",
    "",
    f"Tree: {int(files):,} files, {int(size) / 2**20:.0f} MiB ({copies} copies of {srcs}); "
    f"{stats['files']:,} text files indexed, {stats['chunks']:,} chunks, index {res['tree']['index_db_bytes'] / 2**20:.0f} MiB.",
    "",
    "| measure | value |", "| --- | ---: |",
    f"| untar onto the mount, search off (median of {len(off)}) | {untar_off:.1f} s |",
    f"| untar onto the mount, search on (median of {len(on)}) | {untar_on:.1f} s |",
    f"| write-path overhead of search | {res['untar']['overhead_pct']:+.1f} % |",
    f"| index caught up after the untar ends (run 1) | {res['untar']['index_lag_after_untar_s']:.1f} s |",
    f"| untar onto the native disk | {float(native_untar):.1f} s |",
    f"| initial index (catch-up at start, run 1) | {index_s:.1f} s, {res['initial_index']['files_per_s']:,.0f} files/s, {res['initial_index']['mib_per_s']:.2f} MiB/s |",
    f"| keyword query, server side p50 / p99 ({q['count']} queries) | {q['server_p50_ms']:.2f} / {q['server_p99_ms']:.2f} ms |",
    f"| keyword query, CLI end to end p50 / p99 | {q['cli_p50_ms']:.1f} / {q['cli_p99_ms']:.1f} ms (nexus whoami: {q['cli_baseline_whoami_p50_ms']:.1f} ms) |",
    f"| keyword query, CLI p50: frequent word / rare word | {q['common_word_cli_p50_ms']:.1f} / {q['rare_word_cli_p50_ms']:.1f} ms |",
    "",
    "| grep case | pattern | nexus grep | rg on the mount | rg native | matches (nexus / rg mount / rg native) |",
    "| --- | --- | ---: | ---: | ---: | --- |",
]
for g in res["grep"]:
    t, c = g["median_ms"], g["matches"]
    lines.append(f"| {g['case']} | `{g['pattern']}` | {t['nexus grep']:.0f} ms | {t['rg on the mount']:.0f} ms | "
                 f"{t['rg native']:.0f} ms | {c['nexus grep']:,} / {c['rg on the mount']:,} / {c['rg native']:,} |")
f = res["fuse_during_index"]
if f["ratio"]:
    lines += ["", f"FUSE small files ({f['files_per_run']} files per run) while the initial index runs "
              f"({f['runs_during']} runs) vs idle ({f['runs_idle']} runs), same daemon, ops/s medians:", "",
              "| phase | during the index | idle | ratio |", "| --- | ---: | ---: | ---: |"]
    for k, v in f["ratio"].items():
        lines.append(f"| {k} | {f['during_ops_per_s'][k]:,.0f} | {f['idle_ops_per_s'][k]:,.0f} | {v:.2f} |")
else:
    lines += ["", "FUSE during the index: the index caught up before a small-file run could finish."]
lines += ["", "Reference: the Python Nexus reports 0.4-2.7 s per search query."]
md = "\n".join(lines) + "\n"
open(os.path.splitext(out)[0] + ".md", "w").write(md)
print(md)
print(f"results: {out}")
PY
