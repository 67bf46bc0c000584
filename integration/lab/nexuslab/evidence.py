"""Evidence of a run: result.json (validated against evidence-schema.json) and summary.md."""
import datetime
import json
import os

from . import state

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "evidence-schema.json")


def utc_text(ts=None):
    """RFC 3339 UTC with milliseconds: "2026-11-24T13:15:00.125Z"."""
    when = (datetime.datetime.now(datetime.timezone.utc) if ts is None else
            datetime.datetime.fromtimestamp(ts, datetime.timezone.utc))
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def load_schema(path=SCHEMA_PATH):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def validate(result, schema=None):
    """Messages for every way `result` breaks the schema (empty: valid)."""
    import jsonschema  # python3-jsonschema

    schema = load_schema() if schema is None else schema
    v = jsonschema.Draft202012Validator(schema)
    out = []
    for e in sorted(v.iter_errors(result), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        out.append(f"{where}: {e.message}")
    return out


def verdict(assertions):
    """"pass" when there is a required assertion and every required one passes."""
    required = [a for a in assertions if a.get("required")]
    if not required:
        return "fail"
    return "pass" if all(a.get("result") == "pass" for a in required) else "fail"


def collect(run, matrix_flows=None, matrix_file="", now=None):
    """result.json's object for `run` (the run state, see state.py)."""
    from . import matrix as matrix_mod

    now = now if now is not None else datetime.datetime.now(datetime.timezone.utc).timestamp()
    assertions = []
    verifies = 0
    for phase in run.get("phases", []):
        if phase.get("kind") == "verify":
            verifies += 1
        for a in phase.get("assertions", []):
            item = {"name": a["name"], "phase": phase["label"], "result": a["result"],
                    "required": bool(a.get("required", True))}
            for k in ("detail", "durationMs"):
                if k in a:
                    item[k] = a[k]
            assertions.append(item)
    if not verifies or not assertions:
        assertions.append({"name": "verify_ran", "phase": "evidence", "result": "fail",
                           "required": True, "detail": "no labctl verify ran in this run"})
    for f in run.get("faults", []):
        if not f.get("checked") and not f.get("recovered"):
            assertions.append({"name": f"fault_{f['fault']}_recovery_verified", "phase": "evidence",
                               "result": "fail", "required": True,
                               "detail": "no labctl verify ran after this fault"})
    out = {
        "schemaVersion": 1,
        "runId": run["runId"],
        "commit": run.get("commit") or "unknown",
        "scenario": run["scenario"],
        "profile": run["profile"],
        "startedAt": utc_text(run["createdAt"]),
        "collectedAt": utc_text(now),
        "nodes": {},
        "faults": [],
    }
    mesh = run.get("mesh", {})
    plane = {"store": run.get("store", "sqlite"),
             "directors": sum(1 for n in run["nodes"] if n["role"] == "director")}
    if plane["store"] == "etcd":
        plane["etcdMembers"] = len(run.get("etcd", {}).get("members", []))
        plane["electionTtl"] = mesh.get("electionTtl")
    if mesh.get("leaseTtl"):
        plane["leaseTtl"] = mesh["leaseTtl"]
    out["controlPlane"] = plane
    last = run.get("lastNodeResults", {})
    for n in run["nodes"]:
        r = last.get(n["name"], {})
        node = {"role": n["role"], "auth": n["auth"], "address": n["address"],
                "health": r.get("health", "na"), "mesh": r.get("mesh", "na")}
        if n.get("nodeId"):
            node["nodeId"] = n["nodeId"]
        if r.get("detail"):
            node["detail"] = r["detail"]
        out["nodes"][n["name"]] = node
    for f in run.get("faults", []):
        item = {"fault": f["fault"], "target": f["target"], "injectedAt": utc_text(f["injectedAt"]),
                "recovered": bool(f.get("recovered"))}
        for k in ("task", "detail"):
            if f.get(k):
                item[k] = f[k]
        out["faults"].append(item)
    if matrix_flows is not None:
        for a in matrix_mod.assertions(matrix_flows):
            assertions.append(dict(a, phase="smoke"))
        s = matrix_mod.summarize(matrix_flows)
        out["matrix"] = {"flows": s["flows"], "passed": s["passed"], "failed": s["failed"],
                         "file": matrix_file}
    if run.get("stress"):
        out["stress"] = run["stress"]
    out["assertions"] = assertions
    out["result"] = verdict(assertions)
    expires = run["createdAt"] + run["ttlSeconds"]
    guard = {"ttl": run["ttl"], "ttlSeconds": int(run["ttlSeconds"]), "expiresAt": utc_text(expires),
             "expired": now >= expires, "teardown": run.get("teardown", "pending")}
    if run.get("tornDownAt"):
        guard["tornDownAt"] = utc_text(run["tornDownAt"])
    out["costGuard"] = guard
    return out


def summary_markdown(result):
    """summary.md: the verdict first, then nodes, failures, faults, every assertion."""
    lines = [f"# Lab run {result['runId']}: {result['result'].upper()}", "",
             f"- commit `{result['commit']}`, scenario `{result['scenario']}`, profile `{result['profile']}`",
             f"- started {result['startedAt']}, evidence collected {result['collectedAt']}"]
    g = result["costGuard"]
    lines.append(f"- cost guard: TTL {g['ttl']} (expires {g['expiresAt']}"
                 f"{', expired' if g['expired'] else ''}), teardown {g['teardown']}")
    counts = {"pass": 0, "fail": 0, "na": 0}
    for a in result["assertions"]:
        counts[a["result"]] += 1
    lines.append(f"- assertions: {counts['pass']} pass, {counts['fail']} fail, {counts['na']} n/a")
    plane = result.get("controlPlane")
    if plane:
        lines.append(f"- control plane: {plane['directors']} director(s) on {plane['store']}"
                     + (f" ({plane['etcdMembers']} members, election TTL {plane['electionTtl']} s)"
                        if plane["store"] == "etcd" else "")
                     + (f", task leases {plane['leaseTtl']} s" if plane.get("leaseTtl") else ""))
    if "matrix" in result:
        m = result["matrix"]
        lines.append(f"- connectivity matrix: {m['passed']}/{m['flows']} flows pass")
    lines += ["", "## Nodes", "", "| node | role | auth | address | node id | health | mesh |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, n in result["nodes"].items():
        lines.append(f"| {name} | {n['role']} | {n['auth']} | {n['address']} | {n.get('nodeId', '')} "
                     f"| {n['health']} | {n['mesh']} |")
    failed = [a for a in result["assertions"]
              if a["result"] == "fail" or (a["result"] == "na" and a["required"])]
    if failed:
        lines += ["", "## Failed", ""]
        for a in failed:
            req = "required" if a["required"] else "optional"
            lines.append(f"- `{a['name']}` ({a['phase']}, {req}, {a['result']}): {a.get('detail', '')}")
    if result["faults"]:
        lines += ["", "## Faults", "", "| fault | target | task | injected | recovery verified | detail |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for f in result["faults"]:
            detail = f.get("detail", "").replace("|", "\\|")
            lines.append(f"| {f['fault']} | {f['target']} | {f.get('task', '')} | {f['injectedAt']} "
                         f"| {'yes' if f['recovered'] else 'no'} | {detail} |")
    if result.get("stress"):
        s = result["stress"]
        lines += ["", "## Stress", ""]
        lines.append(f"- {s.get('requests', 0)} requests in {s.get('seconds', 0)} s, "
                     f"{s.get('errors', 0)} errors; tasks created {s.get('tasksCreated', 0)}, "
                     f"succeeded {s.get('tasksSucceeded', 0)}")
        if s.get("steps"):
            lines += ["", "| step | clients | requests | errors | p50 ms | p95 ms | req/s |",
                      "| --- | --- | --- | --- | --- | --- | --- |"]
            for st in s["steps"]:
                lines.append(f"| {st['step']} | {st['clients']} | {st['requests']} | {st['errors']} "
                             f"| {st['p50Ms']} | {st['p95Ms']} | {st['rps']} |")
    lines += ["", "## Assertions", "", "| phase | assertion | result | required | ms | detail |",
              "| --- | --- | --- | --- | --- | --- |"]
    for a in result["assertions"]:
        detail = a.get("detail", "").replace("|", "\\|")
        lines.append(f"| {a['phase']} | {a['name']} | {a['result']} | {'yes' if a['required'] else 'no'} "
                     f"| {a.get('durationMs', '')} | {detail} |")
    return "\n".join(lines) + "\n"


def write(result, out_dir, matrix_flows=None):
    """Validates `result` and writes out_dir/result.json, summary.md (and matrix.json)."""
    errors = validate(result)
    if errors:
        from . import LabError

        raise LabError("the evidence does not match evidence-schema.json: " + "; ".join(errors[:5]))
    os.makedirs(out_dir, exist_ok=True)
    state.write_json(os.path.join(out_dir, "result.json"), result)
    with open(os.path.join(out_dir, "summary.md"), "w", encoding="utf-8") as f:
        f.write(summary_markdown(result))
    if matrix_flows is not None:
        state.write_json(os.path.join(out_dir, "matrix.json"), matrix_flows)
