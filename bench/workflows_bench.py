#!/usr/bin/env python3
"""Workflow trigger latency: from a file's close on the mount to its
workflow's first action starting (docs/workflows.md, docs/benchmarks.md
"Workflows").

Run by bench/run_workflows_bench.sh against a fresh nexusd (default
configuration: ReBAC, versions, search, the operations log on). Phases:

  paced   BENCH_FILES files written one at a time, BENCH_GAP_MS apart, in
          the native tree (/bench/paced/*), a `metadata` workflow on it
  burst   BENCH_FILES files written back to back (/bench/burst/*)
  run     BENCH_RUN_FILES files, paced, a `run` workflow (`true` in the
          sandbox): the same latency, and the action's duration (sandbox
          start, command, exit)
  inotify the baseline: the same paced writes in a native directory on the
          same disk, watched by inotify (IN_CLOSE_WRITE) in this process:
          close to the watcher's wake-up, what any file watcher reacting in
          user space pays at least

The latency of a file is the run's started_ns (nexusd's clock) minus the
wall-clock time close(2) returned in the writer (same host, same clock).
Prints and writes a JSON object per phase: n, p50, p90, p99, max (ms).
"""
import ctypes
import json
import os
import select
import statistics
import struct
import subprocess
import sys
import time

MNT, DATA, WORK, CLI, OUT = sys.argv[1:6]
FILES = int(os.environ.get("BENCH_FILES", "100"))  # at most 100: the runs kept per workflow
RUN_FILES = int(os.environ.get("BENCH_RUN_FILES", "50"))
GAP = float(os.environ.get("BENCH_GAP_MS", "20")) / 1000


def nx(*args):
    env = dict(os.environ, NEXUS_SOCKET=f"{DATA}/nexusd.sock", NEXUS_HOME=f"{WORK}/home")
    r = subprocess.run([CLI, "--json", *args], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"nexus {' '.join(args)}: {r.stderr}")
    return json.loads(r.stdout) if r.stdout.strip() else {}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


def summary(name, lat_ms, extra=None):
    row = {"phase": name, "n": len(lat_ms), "p50_ms": round(statistics.median(lat_ms), 3),
           "p90_ms": round(pct(lat_ms, 90), 3), "p99_ms": round(pct(lat_ms, 99), 3),
           "max_ms": round(max(lat_ms), 3)}
    row.update(extra or {})
    print(json.dumps(row), flush=True)
    return row


def write_files(folder, n, gap):
    os.makedirs(folder, exist_ok=True)
    closed = {}
    for i in range(n):
        path = f"{folder}/f{i:04d}.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, b"x" * 100)
        os.close(fd)
        closed[path] = time.time_ns()
        if gap:
            time.sleep(gap)
    return closed


def load(name, pattern, action):
    path = f"{WORK}/{name}.yaml"
    with open(path, "w") as f:
        f.write(f"name: {name}\ntriggers: [{{type: file_write, pattern: '{pattern}'}}]\nactions: [{action}]\n")
    nx("workflows", "load", path)


def latencies(name, closed, ns_path):
    deadline = time.time() + 120
    while True:
        runs = nx("workflows", "runs", name, "--limit", "0")["runs"]
        if len(runs) >= len(closed) or time.time() > deadline:
            break
        time.sleep(0.2)
    by_path = {r["path"]: r for r in runs}
    lat, dur, failed = [], [], 0
    for path, t in closed.items():
        r = by_path.get(ns_path(path))
        if r is None:
            continue
        failed += r["status"] != "succeeded"
        lat.append((r["started_ns"] - t) / 1e6)
        dur.append(r["duration_ms"])
    if len(lat) < len(closed):
        sys.exit(f"{name}: {len(lat)} runs for {len(closed)} files")
    return lat, dur, failed


def inotify_baseline(folder, n, gap):
    os.makedirs(folder, exist_ok=True)
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK)
    IN_CLOSE_WRITE = 0x8
    if fd < 0 or libc.inotify_add_watch(fd, folder.encode(), IN_CLOSE_WRITE) < 0:
        sys.exit("inotify unavailable")
    lat = []
    for i in range(n):
        path = f"{folder}/f{i:04d}.txt"
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(f, b"x" * 100)
        os.close(f)
        t = time.time_ns()
        select.select([fd], [], [], 5)
        seen = time.time_ns()
        os.read(fd, 65536)
        lat.append((seen - t) / 1e6)
        time.sleep(gap)
    os.close(fd)
    return lat


rows = []
mnt_ns = lambda p: p[len(MNT):]
load("paced", "/bench/paced/*", "{type: metadata, metadata: {seen: 'yes'}}")
load("burst", "/bench/burst/*", "{type: metadata, metadata: {seen: 'yes'}}")
load("sandboxed", "/bench/run/*", "{type: run, command: 'true'}")
time.sleep(1)
closed = write_files(f"{MNT}/bench/paced", FILES, GAP)
lat, _, failed = latencies("paced", closed, mnt_ns)
rows.append(summary("paced", lat, {"failed": failed, "gap_ms": GAP * 1000}))
closed = write_files(f"{MNT}/bench/burst", FILES, 0)
lat, _, failed = latencies("burst", closed, mnt_ns)
rows.append(summary("burst", lat, {"failed": failed}))
closed = write_files(f"{MNT}/bench/run", RUN_FILES, GAP * 5)
lat, dur, failed = latencies("sandboxed", closed, mnt_ns)
rows.append(summary("run", lat, {"failed": failed, "action_p50_ms": round(statistics.median(dur), 1),
                                  "action_p99_ms": round(pct(dur, 99), 1)}))
rows.append(summary("inotify", inotify_baseline(f"{WORK}/native", FILES, GAP), {"gap_ms": GAP * 1000}))
with open(OUT, "w") as f:
    json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "phases": rows}, f, indent=1)
