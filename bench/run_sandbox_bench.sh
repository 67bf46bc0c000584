#!/usr/bin/env bash
# run_sandbox_bench.sh — what a local sandbox costs (docs/sandboxes.md), in
# one run, against bubblewrap started bare the same way:
#   (a) create -> first run: `nexus sandbox create` then `nexus sandbox run
#       ID -c true` (two CLI processes, the per-subject mount, the holder,
#       the first nsenter), p50/p95 over BENCH_RUNS sandboxes;
#   (b) `run` of `true` in a running sandbox: through the CLI (`nexus
#       sandbox run`), and the enter path alone (the same nsenter + setpriv
#       command line the daemon runs, started from here), p50/p95;
#   (c) the baseline: bare `bwrap` with the holder's namespaces and mounts
#       (over a plain host directory, no FUSE) running `setpriv ... true`,
#       p50/p95 — what a one-shot sandbox per command would cost.
# Writes bench/results/sandbox_bench.{json,md} (or -o FILE). Needs root and
# the build's nexusd and nexus.
set -euo pipefail
export LC_ALL=C
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO_DIR/build}
BENCH_RUNS=${BENCH_RUNS:-30}
BENCH_OUTPUT=${BENCH_OUTPUT:-$REPO_DIR/bench/results/sandbox_bench.json}
while (($#)); do
  case $1 in
    -r|--runs) BENCH_RUNS=${2:?}; shift ;;
    -o|--output) BENCH_OUTPUT=${2:?}; shift ;;
    -h|--help) echo "usage: $0 [-r RUNS] [-o FILE.json]"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 64 ;;
  esac
  shift
done
[[ $(id -u) == 0 ]] || { echo "run_sandbox_bench: needs root" >&2; exit 1; }
NEXUSD=$BUILD_DIR/bin/nexusd
NEXUS=$BUILD_DIR/bin/nexus
ROOT=$(mktemp -d /var/tmp/nexus-sandbox-bench.XXXXXX)
cleanup() {
  [[ -n ${PID:-} ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  for m in $(awk -v r="$ROOT" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m" || true; done
  rm -rf "$ROOT"
}
trap cleanup EXIT
mkdir -p "$ROOT/data" "$ROOT/mnt" "$ROOT/ws" "$ROOT/bare"
"$NEXUSD" --data-dir "$ROOT/data" --mount "$ROOT/mnt" --profile sandbox --workspace "$ROOT/ws" \
  --log-level warn >"$ROOT/nexusd.log" 2>&1 &
PID=$!
for _ in $(seq 200); do grep -q " $ROOT/mnt fuse" /proc/mounts && break; sleep 0.05; done
export NEXUS_SOCKET=$ROOT/data/nexusd.sock NEXUS_HOME=$ROOT/home

python3 - "$NEXUS" "$ROOT" "$BENCH_RUNS" "$BENCH_OUTPUT" <<'PY'
import json, os, platform, statistics, subprocess, sys, time
nexus, root, runs, output = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

def timed(argv):
    t = time.perf_counter()
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return (time.perf_counter() - t) * 1000, out

def stats(ms):
    ms = sorted(ms)
    return {"runs": len(ms), "p50_ms": round(statistics.median(ms), 2),
            "p95_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.95))], 2)}

drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--bounding-set=-all",
        "--inh-caps=-all", "--no-new-privs", "--"]

# (a) create -> first run
first = []
for i in range(runs):
    t = time.perf_counter()
    sid = subprocess.run([nexus, "sandbox", "create", "b%d" % i], check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([nexus, "sandbox", "run", sid, "-c", "true"], check=True, capture_output=True)
    first.append((time.perf_counter() - t) * 1000)
    subprocess.run([nexus, "sandbox", "stop", sid], check=True, capture_output=True)

# (b) run `true` in a running sandbox: the CLI, and the enter path alone
sid = subprocess.run([nexus, "sandbox", "create", "warm"], check=True, capture_output=True, text=True).stdout.strip()
cli = [timed([nexus, "sandbox", "run", sid, "-c", "true"])[0] for _ in range(runs)]
# A process of the sandbox (its holder): the environment names the sandbox.
init = None
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        env = open("/proc/%s/environ" % p, "rb").read()
        if b"NEXUS_SANDBOX_ID=" + sid.encode() + b"\0" in env:
            init = p
            break
    except OSError:
        pass
enter = []
if init:
    argv = ["nsenter", "--target", init, "--mount", "--uts", "--ipc", "--pid", "--net", "--cgroup", "--root",
            "--wd", "--"] + drop + ["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "/bin/sh", "-c", "true"]
    enter = [timed(argv)[0] for _ in range(runs)]

# (c) bare bwrap, the holder's namespaces and mounts, running `true`
bare = ["bwrap", "--unshare-net", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try",
        "--new-session", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
    if os.path.islink(d):
        bare += ["--symlink", os.readlink(d), d]
    elif os.path.isdir(d):
        bare += ["--ro-bind", d, d]
bare += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp", "--bind", root + "/bare",
         "/workspace", "--remount-ro", "/", "--chdir", "/workspace", "--clearenv", "--setenv", "PATH",
         "/usr/bin:/bin", "--"] + drop + ["/bin/sh", "-c", "true"]
baseline = [timed(bare)[0] for _ in range(runs)]

res = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": platform.node(),
       "kernel": platform.release(), "cpus": os.cpu_count(),
       "create_first_run_cli": stats(first), "run_true_cli": stats(cli),
       "run_true_enter_only": stats(enter) if enter else None, "bare_bwrap_true": stats(baseline)}
os.makedirs(os.path.dirname(output), exist_ok=True)
json.dump(res, open(output, "w"), indent=2)
md = ["| measure (%d runs each) | p50 | p95 |" % runs, "| --- | --- | --- |"]
for key, label in (("create_first_run_cli", "create → first `run true` (2 CLI calls)"),
                   ("run_true_cli", "`nexus sandbox run ID -c true` (CLI)"),
                   ("run_true_enter_only", "enter path alone (nsenter + setpriv + sh -c true)"),
                   ("bare_bwrap_true", "baseline: bare `bwrap ... true`, same namespaces and mounts")):
    if res[key]:
        md.append("| %s | %.1f ms | %.1f ms |" % (label, res[key]["p50_ms"], res[key]["p95_ms"]))
md_text = "Sandbox bench, %s, %s (%d CPUs, kernel %s)\n\n" % (res["date"], res["host"], res["cpus"], res["kernel"]) + "\n".join(md) + "\n"
open(os.path.splitext(output)[0] + ".md", "w").write(md_text)
print(md_text)
PY
