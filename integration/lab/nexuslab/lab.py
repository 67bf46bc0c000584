"""Bringing a run up and tearing it down."""
import hashlib
import json
import os
import secrets
import shutil
import signal
import sys
import time
import datetime

from . import LabError, UsageError
from . import evidence, net, nodes, state
from .proc import run as run_cmd
from .runid import check_scenario, make_run_id
from .ttl import format_ttl, parse_ttl

PROFILES = {
    # nodes, default TTL; soak is a full run held open for its whole TTL.
    "minimal": {"nodes": 3, "ttl": "30m"},
    "full": {"nodes": 5, "ttl": "1h"},
    "soak": {"nodes": 5, "ttl": "4h"},
}
MAX_NODES = 12
TOOLS = ("ip", "nsenter", "curl", "ping", "umount", "bwrap")


def say(msg):
    print(f"labctl: {msg}", file=sys.stderr, flush=True)


def project_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def find_binaries():
    """nexusd and nexus: $NEXUS_BUILD_DIR/bin, else the project's build/bin, else PATH."""
    candidates = []
    if os.environ.get("NEXUS_BUILD_DIR"):
        candidates.append(os.path.join(os.environ["NEXUS_BUILD_DIR"], "bin"))
    candidates.append(os.path.join(project_root(), "build", "bin"))
    for d in candidates:
        d_nexusd, d_nexus = os.path.join(d, "nexusd"), os.path.join(d, "nexus")
        if os.access(d_nexusd, os.X_OK) and os.access(d_nexus, os.X_OK):
            return {"nexusd": d_nexusd, "nexus": d_nexus}
    found = {b: shutil.which(b) for b in ("nexusd", "nexus")}
    if all(found.values()):
        return found
    raise LabError("cannot find nexusd and nexus: set NEXUS_BUILD_DIR, build the project "
                   "(scripts/build.sh), or put them on PATH")


def commit_of_tree():
    root = project_root()
    r = run_cmd(["git", "-C", root, "rev-parse", "--short=12", "HEAD"], timeout=10)
    if not r.ok:
        return "unknown"
    dirty = run_cmd(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"], timeout=20)
    return r.out.strip() + ("-dirty" if dirty.ok and dirty.out.strip() else "")


def plan_nodes(count, workers):
    """(name, role, auth) of each node: n1 directs; then peers, then workers."""
    if count < 2 or count > MAX_NODES:
        raise UsageError(f"--nodes {count}: 2..{MAX_NODES} (a director and at least one worker)")
    if workers is None:
        workers = count - 2 if count >= 3 else 1
    if workers < 1 or workers > count - 1:
        raise UsageError(f"--workers {workers}: 1..{count - 1} with --nodes {count}")
    peers = count - 1 - workers
    out = [("n1", "director", "tls")]
    for i in range(2, count + 1):
        role = "peer" if i - 2 < peers else "worker"
        auth = "api-key" if i % 2 == 0 else "scoped-key"
        out.append((f"n{i}", role, auth))
    return out


class Guard:
    """Tears a partial bring-up down if `up` fails or is interrupted (unless --keep)."""

    def __init__(self, run, keep):
        self.run, self.keep, self.armed = run, keep, True
        self.old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self.old[sig] = signal.signal(sig, self._interrupted)
        return self

    def _interrupted(self, signum, frame):
        raise LabError(f"interrupted by signal {signum}")

    def __exit__(self, kind, value, tb):
        for sig, h in self.old.items():
            signal.signal(sig, h)
        if kind is None or not self.armed:
            return False
        if self.keep:
            say(f"bring-up failed; --keep: leaving {self.run['runId']} as it is "
                f"(remove it with labctl down --run-id {self.run['runId']})")
            return False
        say("bring-up failed; tearing the partial run down")
        try:
            teardown(self.run)
        except Exception as e:  # report the original failure, not the cleanup's
            say(f"teardown after the failure also failed: {e}")
        return False


def up(lab_root, profile, count, workers, ttl_text, scenario, keep, lease_ttl, capacity):
    ttl_s = parse_ttl(ttl_text or PROFILES[profile]["ttl"])  # before anything starts
    count = count or PROFILES[profile]["nodes"]
    plan = plan_nodes(count, workers)
    scenario = check_scenario(scenario or profile)
    if lease_ttl < 3 or lease_ttl > 600:
        raise UsageError(f"--lease-ttl {lease_ttl}: 3..600 seconds")
    if capacity < 1 or capacity > 64:
        raise UsageError(f"--capacity {capacity}: 1..64")
    if os.geteuid() != 0:
        raise LabError("labctl up needs root (network namespaces and FUSE mounts)")
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        raise LabError(f"missing tools: {', '.join(missing)} (scripts/install-deps.sh installs them)")
    binaries = find_binaries()

    os.makedirs(state.runs_dir(lab_root), mode=0o700, exist_ok=True)
    now = time.time()
    rid = make_run_id(datetime.datetime.fromtimestamp(now, datetime.timezone.utc), scenario,
                      taken=set(os.listdir(state.runs_dir(lab_root))))
    tag = hashlib.sha1(rid.encode()).hexdigest()[:6]
    d = state.run_dir(lab_root, rid)
    os.makedirs(os.path.join(d, "secrets"), mode=0o700)
    key_file = os.path.join(d, "secrets", "registration-key")
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(24))
    run = {
        "runId": rid, "scenario": scenario, "profile": profile, "dir": d, "labDir": lab_root,
        "createdAt": now, "ttl": format_ttl(ttl_s), "ttlSeconds": ttl_s,
        "commit": commit_of_tree(), "tag": tag, "hub": f"nxl{tag}-hub", "bin": binaries,
        "registrationKeyFile": key_file, "state": "partial", "teardown": "pending",
        "mesh": {"leaseTtl": lease_ttl, "heartbeatTimeout": lease_ttl, "capacity": capacity},
        "nodes": [], "phases": [], "faults": [], "evidence": [], "seq": 0,
    }
    for i, (name, role, auth) in enumerate(plan, start=1):
        run["nodes"].append({
            "name": name, "role": role, "auth": auth, "netns": f"nxl{tag}-{name}",
            "address": net.address(i), "dir": os.path.join(d, "nodes", name),
            "cert": os.path.join(d, "nodes", name, "tls", "cert.pem"), "pid": 0,
        })
    state.save(run)
    with Guard(run, keep) as guard:
        total = 5
        say(f"[1/{total}] network: {run['hub']} with bridge br0, {count} node namespaces")
        net.create_hub(run["hub"])
        for n in run["nodes"]:
            net.create_node(run["hub"], n["netns"], n["name"], n["address"])
        state.save(run)
        say(f"[2/{total}] nexusd: " + ", ".join(f"{n['name']} {n['role']} {n['address']}"
                                                 for n in run["nodes"]))
        for n in run["nodes"]:
            os.makedirs(os.path.join(n["dir"], "tls"), exist_ok=True)
            run_cmd([binaries["nexus"], "tls", "generate", "--out", os.path.join(n["dir"], "tls"),
                     "--hosts", f"{n['address']},localhost"], timeout=30, check=True)
            nodes.start(run, n)
            state.save(run)
        say(f"[3/{total}] credentials: the director's operator key (tls), "
            "admin keys (api-key), agent keys (scoped-key)")
        for n in run["nodes"]:
            scoped = n["auth"] == "scoped-key"
            args = ["admin", "create-user", "lab-agent" if scoped else "lab-operator"]
            args += ["--subject-type", "agent"] if scoped else ["--admin"]
            r = nodes.nx(run, n, *args)
            if not r.ok:
                raise LabError(f"{n['name']}: creating its key: {r.text()}")
            n["apiKey"] = r.json()["key"]["api_key"]
            n["keyId"] = r.json()["key"]["id"]
        state.save(run)
        d_node = state.director(run)
        with open(key_file) as f:
            reg_key = f.read().strip()
        say(f"[4/{total}] mesh: {count - 1} nodes join {d_node['address']}:{nodes.CTL_PORT}")
        for n in run["nodes"][1:]:
            r = nodes.nx(run, n, "mesh", "register", "--director",
                         f"{d_node['address']}:{nodes.CTL_PORT}", "--registration-key", reg_key,
                         "--ca", d_node["cert"], "--name", n["name"], "--capacity",
                         str(capacity if n["role"] == "worker" else 1))
            if not r.ok:
                raise LabError(f"{n['name']}: joining the mesh: {r.text()}")
            n["nodeId"] = r.json()["node_id"]
            if n["role"] == "worker":
                t = operator(run, "mesh", "trust", n["nodeId"], "trusted")
                if not t.ok:
                    raise LabError(f"trusting {n['name']}: {t.text()}")
            state.save(run)
        say(f"[5/{total}] waiting for every node to be ready in the fleet")
        wait_fleet_ready(run, timeout=30)
        run["state"] = "up"
        state.save(run)
        guard.armed = False
    return run


def operator(run, *args, timeout=60):
    """A mesh operator call: from the director's namespace, over TLS, with its admin key."""
    d = state.director(run)
    return nodes.nx_remote(run, d, d, *args, timeout=timeout)


def fleet(run):
    r = operator(run, "mesh", "nodes")
    if not r.ok:
        raise LabError(f"mesh nodes: {r.text()}")
    return {n["id"]: n for n in r.json()["nodes"]}


def wait_fleet_ready(run, timeout):
    want = {n["nodeId"] for n in run["nodes"] if n.get("nodeId")}
    deadline = time.monotonic() + timeout
    while True:
        f = fleet(run)
        not_ready = [i for i in want if f.get(i, {}).get("state") != "ready"]
        if not not_ready:
            return f
        if time.monotonic() > deadline:
            raise LabError("nodes not ready in the fleet: " +
                           ", ".join(f"{i} ({f.get(i, {}).get('state', 'absent')})" for i in not_ready))
        time.sleep(0.3)


def mounts_under(path):
    prefix = path.rstrip("/") + "/"
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp.startswith(prefix):
                out.append(mp)
    return out


def teardown(run):
    """Stops every process, unmounts, deletes the namespaces and the run's directory."""
    for n in run["nodes"]:
        nodes.stop(n, wait=20)
    for n in run["nodes"]:
        nodes.clear_mount(n)
    for mp in sorted(mounts_under(run["dir"]), key=len, reverse=True):
        run_cmd(["umount", "-l", mp], timeout=20)
    for n in run["nodes"]:
        net.destroy(n["netns"])
    net.destroy(run["hub"])
    left = mounts_under(run["dir"])
    if left:
        raise LabError(f"mounts remain under {run['dir']}: {', '.join(left)}; not deleting it")
    when = time.time()
    for out_dir in run.get("evidence", []):
        _mark_torn_down(out_dir, when)
    shutil.rmtree(run["dir"])


def _mark_torn_down(out_dir, when):
    """Records the completed teardown in evidence collected earlier."""
    path = os.path.join(out_dir, "result.json")
    try:
        with open(path) as f:
            result = json.load(f)
    except (OSError, ValueError):
        return
    result["costGuard"]["teardown"] = "completed"
    result["costGuard"]["tornDownAt"] = evidence.utc_text(when)
    evidence.write(result, out_dir)
