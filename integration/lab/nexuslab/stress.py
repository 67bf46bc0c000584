"""labctl stress: a bounded ramp of control-plane traffic inside the lab.

Step s of S runs ceil(K * s / S) clients at once, each making R requests to
the director over TLS from inside a node's namespace (round robin over the
non-director nodes): in turn, submit a task (`true`), list the fleet, the
daemon's status, list pending tasks. Counts are capped (K <= 16, S <= 10,
R <= 200, at most 10000 requests) and so is time (--max-seconds, default
300; a client stops when it is reached). Then the post-stress checks: every
submitted task ends succeeded, new work is still placed, and the fleet and
tasks survive a director restart.
"""
import json
import math
import subprocess
import sys
import time

from . import LabError, UsageError, nodes
from .checks import Checks, Mesh, expect
from .lab import leader, non_directors, restart_leader, say, wait_fleet_ready
from .proc import in_netns

CAPS = {"workers": 16, "steps": 10, "requests": 200, "total": 10000, "seconds": 900}


def plan(k, s, r):
    if not 1 <= k <= CAPS["workers"]:
        raise UsageError(f"--workers {k}: 1..{CAPS['workers']}")
    if not 1 <= s <= CAPS["steps"]:
        raise UsageError(f"--steps {s}: 1..{CAPS['steps']}")
    if not 1 <= r <= CAPS["requests"]:
        raise UsageError(f"--requests {r}: 1..{CAPS['requests']}")
    clients = [math.ceil(k * (i + 1) / s) for i in range(s)]
    total = sum(clients) * r
    if total > CAPS["total"]:
        raise UsageError(f"{total} requests in all: at most {CAPS['total']}")
    return clients


def client_main(argv):
    """One stress client (`labctl _stress-client`), run inside a namespace; prints JSON."""
    nexus, remote, ca, key, requests, deadline, tag = argv
    requests, deadline = int(requests), float(deadline)
    base = [nexus, "--remote", remote, "--tls-ca", ca, "--api-key", key, "--timeout", "10", "--json"]
    kinds = [["mesh", "tasks", "create", "--name", None, "--command", "true"], ["mesh", "nodes"],
             ["status"], ["mesh", "tasks", "list", "--state", "pending"]]
    lat, errors, samples, created, capped = [], 0, [], [], False
    for i in range(requests):
        if time.time() >= deadline:
            capped = True
            break
        args = list(kinds[i % len(kinds)])
        if args[0] == "mesh" and args[2:3] == ["create"]:
            args[4] = f"stress-{tag}-{i}"
        t0 = time.monotonic()
        p = subprocess.run(base + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lat.append((time.monotonic() - t0) * 1000)
        if p.returncode != 0:
            errors += 1
            if len(samples) < 3:
                samples.append(p.stderr.strip()[:200])
        elif args[2:3] == ["create"]:
            created.append(json.loads(p.stdout)["id"])
    print(json.dumps({"latencies": lat, "errors": errors, "samples": samples, "created": created,
                      "capped": capped}))
    return 0


def _pct(values, q):
    if not values:
        return 0.0
    v = sorted(values)
    return round(v[min(len(v) - 1, int(q * len(v)))], 1)


def check_args(k, s, r, max_seconds):
    """The ramp's client counts; UsageError if an argument is past its cap."""
    if not 10 <= max_seconds <= CAPS["seconds"]:
        raise UsageError(f"--max-seconds {max_seconds}: 10..{CAPS['seconds']}")
    return plan(k, s, r)


def stress(run, k, s, r, max_seconds, labctl):
    clients = check_args(k, s, r, max_seconds)
    d = leader(run, refresh=True)
    sources = non_directors(run) or [d]
    deadline = time.time() + max_seconds
    steps, created, all_errors, t_start = [], [], [], time.monotonic()
    capped = False
    for i, count in enumerate(clients, start=1):
        say(f"stress step {i}/{len(clients)}: {count} clients x {r} requests")
        procs = []
        t0 = time.monotonic()
        for j in range(count):
            src = sources[j % len(sources)]
            argv = in_netns(src["netns"], [sys.executable, labctl, "_stress-client", run["bin"]["nexus"],
                                           f"{d['address']}:{nodes.CTL_PORT}", d["cert"], d["apiKey"],
                                           str(r), str(deadline), f"{run['seq']}-{i}-{j}"])
            procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        lat, errors = [], 0
        for p in procs:
            out, err = p.communicate(timeout=max_seconds + 60)
            if p.returncode != 0:
                raise LabError(f"a stress client failed: {err.strip()[:300]}")
            res = json.loads(out)
            lat += res["latencies"]
            errors += res["errors"]
            all_errors += res["samples"]
            created += res["created"]
            capped = capped or res["capped"]
        secs = time.monotonic() - t0
        steps.append({"step": i, "clients": count, "requests": len(lat), "errors": errors,
                      "p50Ms": _pct(lat, 0.5), "p95Ms": _pct(lat, 0.95),
                      "rps": round(len(lat) / secs, 1) if secs > 0 else 0.0})
        say(f"  {len(lat)} requests, {errors} errors, p50 {steps[-1]['p50Ms']} ms, "
            f"p95 {steps[-1]['p95Ms']} ms, {steps[-1]['rps']} req/s")
        if capped:
            say("  the time cap was reached; stopping the ramp")
            break
    seconds = round(time.monotonic() - t_start, 1)
    mesh = Mesh(run)
    c = Checks(run, "stress")
    total_req = sum(x["requests"] for x in steps)
    total_err = sum(x["errors"] for x in steps)
    def requests_fn():
        expect(total_err == 0, f"{total_err} of {total_req} failed: {all_errors[:3]}")
        return f"{total_req} requests, none failed"
    c.check("stress.no_request_failed", requests_fn)
    succeeded = []

    def tasks_fn():
        mesh.settled(timeout=240)
        states = {t["id"]: t["state"] for t in mesh.tasks()}
        ok = [t for t in created if states.get(t) == "succeeded"]
        succeeded.extend(ok)
        expect(len(ok) == len(created), f"{len(created) - len(ok)} of {len(created)} tasks did not succeed")
        return f"{len(created)} submitted tasks all succeeded"
    c.check("stress.tasks_succeeded", tasks_fn)

    def placement_fn():
        tid = mesh.create(f"lab-post-stress-{run['seq']}", "true")
        t = mesh.wait_state(tid, ("succeeded", "failed"), timeout=30)
        expect(t["state"] == "succeeded", f"{tid} {t['state']}")
        return f"{tid} placed and succeeded"
    c.check("post_stress.placement", placement_fn)

    def persistence_fn():
        before = sorted((t["id"], t["state"]) for t in mesh.tasks())
        restart_leader(run)
        after = sorted((t["id"], t["state"]) for t in mesh.tasks())
        expect(before == after, f"{len(before)} tasks before the restart, {len(after)} after (or states changed)")
        wait_fleet_ready(run, timeout=30)
        return f"{len(after)} tasks identical across a director restart; the fleet is ready"
    c.check("post_stress.persistence", persistence_fn)
    run["stress"] = {"workers": k, "stepCount": s, "requestsPerClient": r, "capped": capped,
                     "seconds": seconds, "requests": total_req, "errors": total_err,
                     "tasksCreated": len(created), "tasksSucceeded": len(succeeded), "steps": steps}
    return c.record()
