"""The directed connectivity matrix: every flow src -> dst between lab nodes.

Each flow is probed twice through a runner, a command line named by
MATRIX_RUNNER (default: `labctl probe`), called as

    RUNNER reach SRC DST     # the network path: ICMP from SRC's namespace
    RUNNER ctl SRC DST       # DST's control socket (TLS + API key) and HTTP
                             # /health, from SRC's namespace

with LAB_RUN_ID and LAB_DIR in the environment. Exit status 0 is a pass;
the first line of output is kept as the probe's detail. Because the runner
is only a command line, the matrix logic runs offline against a stub.
"""
import os
import shlex
import subprocess
import time

PROBES = ("reach", "ctl")


def runner_argv(default_argv):
    """MATRIX_RUNNER split like a shell would, else `default_argv`."""
    text = os.environ.get("MATRIX_RUNNER", "").strip()
    return shlex.split(text) if text else list(default_argv)


def _probe(argv, probe, src, dst, env, timeout):
    started = time.monotonic()
    try:
        p = subprocess.run(argv + [probe, src, dst], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout, text=True)
        ok, out = p.returncode == 0, p.stdout
        if not ok and not out.strip():
            out = f"exit status {p.returncode}"
    except subprocess.TimeoutExpired:
        ok, out = False, f"no answer within {timeout:g}s"
    except OSError as e:
        ok, out = False, f"cannot run the matrix runner {argv[0]!r}: {e.strerror}"
    ms = (time.monotonic() - started) * 1000
    lines = [l for l in out.splitlines() if l.strip()]
    return ("pass" if ok else "fail"), round(ms, 1), (lines[0][:300] if lines else "")


def run_matrix(nodes, argv, env=None, timeout=20.0):
    """One flow object per ordered pair of distinct nodes.

    `nodes`: [{"name": ..., "address": ...}, ...]; `argv`: the runner.
    """
    env = dict(os.environ if env is None else env)
    flows = []
    for src in nodes:
        for dst in nodes:
            if src["name"] == dst["name"]:
                continue
            flow = {"src": src["name"], "dst": dst["name"],
                    "srcAddress": src.get("address", ""), "dstAddress": dst.get("address", "")}
            for probe in PROBES:
                result, ms, detail = _probe(argv, probe, src["name"], dst["name"], env, timeout)
                flow[probe] = result
                flow[probe + "Ms"] = ms
                flow[probe + "Detail"] = detail
            flow["result"] = "pass" if all(flow[p] == "pass" for p in PROBES) else "fail"
            flows.append(flow)
    return flows


def summarize(flows):
    """Counts and the failing flows ("n1->n3: ctl")."""
    failed = []
    for f in flows:
        bad = [p for p in PROBES if f.get(p) != "pass"]
        if bad:
            failed.append(f"{f['src']}->{f['dst']}: {','.join(bad)}")
    return {"flows": len(flows), "passed": len(flows) - len(failed), "failed": failed}


def assertions(flows):
    """The matrix as evidence assertions: every flow reachable, every control plane healthy."""
    s = summarize(flows)
    reach_bad = [f"{f['src']}->{f['dst']}" for f in flows if f.get("reach") != "pass"]
    ctl_bad = [f"{f['src']}->{f['dst']}" for f in flows if f.get("ctl") != "pass"]
    if not flows:
        return [{"name": "matrix_flows_present", "result": "fail", "required": True,
                 "detail": "the matrix has no flows"}]
    return [
        {"name": "matrix_all_flows_reachable", "result": "fail" if reach_bad else "pass",
         "required": True,
         "detail": ("unreachable: " + ", ".join(reach_bad)) if reach_bad else f"{s['flows']} flows"},
        {"name": "matrix_all_flows_ctl_healthy", "result": "fail" if ctl_bad else "pass",
         "required": True,
         "detail": ("unhealthy: " + ", ".join(ctl_bad)) if ctl_bad else f"{s['flows']} flows"},
    ]
