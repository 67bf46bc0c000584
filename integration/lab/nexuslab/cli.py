"""labctl's command line."""
import argparse
import concurrent.futures
import json
import os
import sys
import time

from . import LabError, UsageError
from . import control_faults, etcd, evidence, faults, lab, matrix, nodes, state, stress, verify
from .lab import say
from .proc import in_netns, run as run_cmd

USAGE = """labctl: a multi-node NexusFS mesh in network namespaces, on one machine.

  labctl up --nodes N [--profile minimal|full|soak] [--workers K] --ttl 30m
            [--store sqlite|etcd [--etcd 3] [--directors 2] [--election-ttl S]]
  labctl verify [--deep]
  labctl failover --fault FAULT [--target NODE|MEMBER]
            (stop-active, drain, partition, kill-worker, stale-replay;
             on etcd: etcd-member-down, etcd-quorum-loss, director-pause)
  labctl smoke --out matrix.json
  labctl evidence collect --out DIR [--matrix-json FILE]
  labctl stress --workers K --steps S --requests R [--max-seconds T]
  labctl status
  labctl down [--run-id ID | --expired] [--force]

Every command but up and down --expired takes --run-id ID (default: the most
recent run). Runs live in --lab-dir (else $NEXUS_LAB_DIR, else
/var/tmp/nexus-lab). nexusd and nexus come from $NEXUS_BUILD_DIR/bin, else
the project's build/bin, else PATH. `labctl COMMAND --help` for a command.

Exit status: 0 success (verify: every required assertion passed), 1 failure,
64 usage error. docs/lab.md describes the lab.
"""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"labctl: {message}", file=sys.stderr)
        sys.exit(64)


def _common(p, run_id=True):
    p.add_argument("--lab-dir", help="where runs live (default $NEXUS_LAB_DIR or /var/tmp/nexus-lab)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    if run_id:
        p.add_argument("--run-id", help="the run (default: the most recent)")


def build_parser():
    top = Parser(prog="labctl", description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("up", help="bring a lab up; prints its run id",
                       description="Create network namespaces on a bridge, start a director, peers and "
                                   "workers in them (each its own data dir, mount and auth set-up), join "
                                   "them into a mesh. Prints the run id on stdout. A failure midway tears "
                                   "down what was made, unless --keep.")
    _common(p, run_id=False)
    p.add_argument("--nodes", type=int, help="nodes in all (default: 3 minimal, 5 full/soak)")
    p.add_argument("--profile", choices=sorted(lab.PROFILES), default="minimal")
    p.add_argument("--workers", type=int, help="nodes that run tasks (default: nodes - 2, at least 1); "
                                               "the rest but the director are peers")
    p.add_argument("--ttl", help="the lab's time to live, e.g. 30m, 4h, 1h30m (default per profile)")
    p.add_argument("--scenario", help="name in the run id (default: the profile)")
    p.add_argument("--lease-ttl", type=int, help="mesh lease seconds (default 10, 15 on etcd; also the "
                                                 "director's heartbeat timeout)")
    p.add_argument("--store", choices=lab.STORES, default="sqlite",
                   help="the directors' store: sqlite (default, one director) or etcd (a cluster of "
                        "--etcd members, each in its own namespace)")
    p.add_argument("--etcd", type=int, metavar="N", help="etcd members with --store etcd (odd, 1..5; default 3)")
    p.add_argument("--directors", type=int, default=1,
                   help="directors (1..3; more than one needs --store etcd: one leads, the others "
                        "stand by); they are n1..nD")
    p.add_argument("--election-ttl", type=int, metavar="S",
                   help="the directors' election lease on etcd (default 3; at most --lease-ttl)")
    p.add_argument("--capacity", type=int, default=2, help="tasks each worker runs at once (default 2)")
    p.add_argument("--keep", action="store_true", help="leave a failed bring-up for inspection")

    p = sub.add_parser("verify", help="check every part of the lab",
                       description="Recovery from faults injected since the last verify, health from the "
                                   "host and inside each namespace, auth, the connectivity matrix, fleet, "
                                   "placement, leases, governance, trust, entitlements, network negatives, "
                                   "persistence. --deep adds multi-step migration, retry, cancel, large "
                                   "results and a placement burst. Exit 1 if a required assertion fails.")
    _common(p)
    p.add_argument("--deep", action="store_true")

    p = sub.add_parser("failover", help="inject a fault (the next verify proves recovery)",
                       description=faults.__doc__ + "\n" + control_faults.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--fault", required=True, choices=faults.FAULTS)
    p.add_argument("--target", help="the worker to hit (default: the first worker); for "
                                    "etcd-member-down and etcd-quorum-loss an etcd member (default: the last)")

    p = sub.add_parser("smoke", help="the directed connectivity matrix",
                       description=matrix.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--out", required=True, help="where to write the matrix (JSON: one object per flow)")

    p = sub.add_parser("evidence", help="evidence collect --out DIR")
    ev = p.add_subparsers(dest="evidence_cmd", metavar="collect", parser_class=Parser)
    pc = ev.add_parser("collect", help="write DIR/result.json (schema-checked) and DIR/summary.md",
                       description="Write DIR/result.json, validated against integration/lab/"
                                   "evidence-schema.json, and DIR/summary.md. PASS only when every "
                                   "required assertion of every phase passed.")
    _common(pc)
    pc.add_argument("--out", required=True)
    pc.add_argument("--matrix-json", help="a matrix from labctl smoke to fold in")

    p = sub.add_parser("stress", help="a bounded ramp, then post-stress checks",
                       description=stress.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--workers", type=int, required=True, help="clients at the last step (1..16)")
    p.add_argument("--steps", type=int, required=True, help="ramp steps (1..10)")
    p.add_argument("--requests", type=int, required=True, help="requests per client (1..200)")
    p.add_argument("--max-seconds", type=int, default=300, help="time cap of the ramp (default 300)")

    p = sub.add_parser("status", help="runs in the lab dir: nodes, processes, expiry; the store, "
                                      "which director leads, etcd members' health",
                       description="Each run's nodes and whether their processes run, the time left, "
                                   "the store; on etcd which director leads (each director's own "
                                   "`mesh status`) and each etcd member's health (etcdctl from its "
                                   "namespace). --all: every run, not just the newest.")
    _common(p)
    p.add_argument("--all", action="store_true", help="every run, not just one")

    p = sub.add_parser("down", help="tear a run down (or every expired one)",
                       description="Stop every process of the run, unmount, delete its namespaces and "
                                   "its directory. --expired: every run past its TTL (exit 0 if none). "
                                   "A soak run is held until its TTL unless --force.")
    _common(p)
    p.add_argument("--expired", action="store_true")
    p.add_argument("--force", action="store_true")

    p = sub.add_parser("probe", help="one matrix probe, reach|ctl SRC DST (the default MATRIX_RUNNER)")
    _common(p)
    p.add_argument("probe", choices=matrix.PROBES)
    p.add_argument("src")
    p.add_argument("dst")
    return top


def emit(args, obj, text):
    if args.json:
        print(json.dumps(obj, indent=2))
    elif text:
        print(text)


def cmd_up(a, root):
    r = lab.up(root, a.profile, a.nodes, a.workers, a.ttl, a.scenario, a.keep, a.lease_ttl, a.capacity,
               store=a.store, etcd_members=a.etcd, directors=a.directors, election_ttl=a.election_ttl)
    say(f"up: {r['runId']} ({len(r['nodes'])} nodes, expires in {r['ttl']}); "
        f"labctl down --run-id {r['runId']} removes it")
    emit(a, {"runId": r["runId"], "nodes": [_node_view(n) for n in r["nodes"]]}, r["runId"])
    return 0


def _node_view(n):
    return {k: n.get(k) for k in ("name", "role", "auth", "address", "netns", "nodeId", "pid", "dir")}


def _phase_result(a, run, phase, extra=None):
    bad = [x for x in phase["assertions"] if x["result"] == "fail" and x["required"]]
    counts = {v: sum(1 for x in phase["assertions"] if x["result"] == v) for v in ("pass", "fail", "na")}
    say(f"{phase['label']}: {counts['pass']} pass, {counts['fail']} fail, {counts['na']} n/a")
    obj = {"runId": run["runId"], "phase": phase["label"], "result": "fail" if bad else "pass",
           "assertions": phase["assertions"]}
    obj.update(extra or {})
    emit(a, obj, f"{phase['label']}: {'FAIL' if bad else 'PASS'}")
    return 1 if bad else 0


def cmd_verify(a, root):
    run = _live(root, a.run_id)
    phase = verify.verify(run, a.deep)
    return _phase_result(a, run, phase)


def cmd_failover(a, root):
    run = _live(root, a.run_id)
    phase = faults.inject(run, a.fault, a.target)
    return _phase_result(a, run, phase, {"fault": run["faults"][-1]["fault"],
                                         "target": run["faults"][-1]["target"]})


def cmd_smoke(a, root):
    run = _live(root, a.run_id)
    flows = verify.run_matrix(run)
    out = os.path.abspath(a.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    state.write_json(out, flows)
    s = matrix.summarize(flows)
    run["lastMatrix"] = out
    state.save(run)
    say(f"smoke: {s['passed']}/{s['flows']} flows pass" + (f"; failing: {', '.join(s['failed'])}" if s["failed"] else ""))
    emit(a, {"runId": run["runId"], "out": out, **s}, out)
    return 0 if not s["failed"] else 1


def cmd_evidence(a, root):
    if a.evidence_cmd != "collect":
        raise UsageError("evidence: the command is `evidence collect --out DIR`")
    run = state.load(root, a.run_id)
    flows, mfile = None, ""
    src = a.matrix_json or run.get("lastMatrix")
    if src:
        try:
            with open(src) as f:
                flows = json.load(f)
        except (OSError, ValueError) as e:
            raise LabError(f"--matrix-json {src}: {e}")
        mfile = "matrix.json"
    result = evidence.collect(run, flows, mfile)
    out = os.path.abspath(a.out)
    evidence.write(result, out, flows)
    if out not in run["evidence"]:
        run["evidence"].append(out)
        state.save(run)
    say(f"evidence: {out}/result.json ({result['result'].upper()}), {out}/summary.md")
    emit(a, {"runId": run["runId"], "out": out, "result": result["result"]}, result["result"].upper())
    return 0 if result["result"] == "pass" else 1


def cmd_stress(a, root):
    stress.check_args(a.workers, a.steps, a.requests, a.max_seconds)  # before looking at the run
    run = _live(root, a.run_id)
    labctl = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "labctl")
    phase = stress.stress(run, a.workers, a.steps, a.requests, a.max_seconds, labctl)
    return _phase_result(a, run, phase, {"stress": run["stress"]})


def cmd_status(a, root):
    ids = state.list_runs(root) if a.all or not a.run_id else [a.run_id]
    if not a.all and not a.run_id:
        ids = ids[-1:]
    out = []
    for rid in ids:
        run = state.load(root, rid)
        left = run["createdAt"] + run["ttlSeconds"] - time.time()
        item = {"runId": rid, "state": run["state"], "profile": run["profile"],
                "expiresIn": int(left), "expired": left <= 0,
                "nodes": [dict(_node_view(n), running=nodes.alive(n)) for n in run["nodes"]],
                "faults": run["faults"], "phases": [p["label"] for p in run["phases"]]}
        item.update(control_plane(run))
        out.append(item)
    if a.json:
        print(json.dumps({"runs": out}, indent=2))
        return 0
    if not out:
        print(f"no runs in {root}")
    for r in out:
        exp = "expired" if r["expired"] else f"expires in {r['expiresIn'] // 60}m{r['expiresIn'] % 60:02d}s"
        print(f"{r['runId']}  {r['state']}  {r['profile']}  {exp}  phases: {', '.join(r['phases']) or '-'}")
        print(f"  store {r['store']}" + (f", leader {r['leader'] or 'NONE'}" if r["store"] == "etcd" else ""))
        dirs = {d["name"]: d for d in r.get("directors", [])}
        for n in r["nodes"]:
            d = dirs.get(n["name"], {})
            role = d.get("role") or n["role"]
            running = ("running" if n["running"] else "STOPPED") + (" PAUSED" if d.get("paused") else "")
            print(f"  {n['name']:4} {role:8} {n['auth']:10} {n['address']:12} {n.get('nodeId') or '-':6} "
                  f"{running} pid {n['pid']}")
        for m in r.get("etcd", []):
            print(f"  {m['name']:4} etcd     {'':10} {m['address']:12} {'-':6} "
                  f"{'running' if m['running'] else 'STOPPED'} pid {m['pid']}: "
                  f"{'healthy' if m['healthy'] else 'UNHEALTHY'} ({m['detail']})")
    return 0


def control_plane(run):
    """The run's store; on etcd which director leads and each member's health
    (asked only of a run that is up: the processes of others are gone)."""
    out = {"store": run.get("store", "sqlite")}
    if out["store"] != "etcd":
        out["leader"] = state.director(run)["name"]
        return out
    up = run["state"] == "up"
    ds, members = state.directors(run), state.etcd_members(run)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(ds) + len(members)) as pool:
        statuses = pool.map(lambda d: lab.director_status(run, d, timeout=5) if up else None, ds)
        healths = pool.map(etcd.health, members) if up else \
            [(False, f"the run is {run['state']}")] * len(members)
        roles = {d["name"]: (st or {}).get("role") for d, st in zip(ds, statuses)}
        out["etcd"] = [{"name": m["name"], "address": m["address"], "pid": m["pid"],
                        "running": etcd.alive(m), "healthy": ok, "detail": detail}
                       for m, (ok, detail) in zip(members, healths)]
    out["leader"] = next((name for name, role in roles.items() if role == "leader"), None)
    out["directors"] = [{"name": name, "role": role, "paused": nodes.paused(state.node(run, name))}
                        for name, role in roles.items()]
    return out


def cmd_down(a, root):
    if a.expired:
        if a.run_id:
            raise UsageError("down: --expired and --run-id exclude each other")
        gone = []
        for rid in state.list_runs(root):
            run = state.load(root, rid)
            if state.expired(run):
                say(f"down: {rid} expired; tearing it down")
                lab.teardown(run)
                gone.append(rid)
        if not gone:
            say("down --expired: no expired run")
        emit(a, {"removed": gone}, "\n".join(gone))
        return 0
    run = state.load(root, a.run_id)
    if run["profile"] == "soak" and not state.expired(run) and not a.force:
        raise LabError(f"{run['runId']} is a soak run held until its TTL "
                       f"({int(run['createdAt'] + run['ttlSeconds'] - time.time())}s left); --force to end it now")
    say(f"down: {run['runId']}")
    lab.teardown(run)
    emit(a, {"removed": [run["runId"]]}, run["runId"])
    return 0


def cmd_probe(a, root):
    """The default matrix runner: one probe from SRC's namespace to DST."""
    rid = a.run_id or os.environ.get("LAB_RUN_ID")
    run = state.load(state.lab_dir(a.lab_dir or os.environ.get("LAB_DIR")), rid)
    src, dst = state.node(run, a.src), state.node(run, a.dst)
    if a.probe == "reach":
        r = run_cmd(in_netns(src["netns"], ["ping", "-c", "1", "-W", "2", dst["address"]]), timeout=10)
        line = next((l for l in r.out.splitlines() if "bytes from" in l), r.text())
        print(line.strip())
        return 0 if r.ok else 1
    h = nodes.http_health(src, dst)
    if not h.ok:
        print(f"HTTP /health: {h.text()}")
        return 1
    c = nodes.nx_remote(run, src, dst, "status", timeout=20)
    if not c.ok:
        print(f"control over TLS: {c.text()}")
        return 1
    print(f"HTTP /health ok; control over TLS ok ({dst['auth']})")
    return 0


def _live(root, run_id):
    run = state.load(root, run_id)
    if run["state"] != "up":
        raise LabError(f"{run['runId']} is {run['state']}, not up")
    if state.expired(run):
        say(f"warning: {run['runId']} is past its TTL; labctl down --expired removes it")
    return run


COMMANDS = {"up": cmd_up, "verify": cmd_verify, "failover": cmd_failover, "smoke": cmd_smoke,
            "evidence": cmd_evidence, "stress": cmd_stress, "status": cmd_status, "down": cmd_down,
            "probe": cmd_probe}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_stress-client"]:
        return stress.client_main(argv[1:])
    parser = build_parser()
    if not argv:
        parser.print_help(sys.stderr)
        return 64
    a = parser.parse_args(argv)
    if not a.cmd:
        parser.print_help(sys.stderr)
        return 64
    try:
        return COMMANDS[a.cmd](a, state.lab_dir(getattr(a, "lab_dir", None)))
    except UsageError as e:
        print(f"labctl: {e}", file=sys.stderr)
        return 64
    except LabError as e:
        print(f"labctl: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("labctl: interrupted", file=sys.stderr)
        return 130
