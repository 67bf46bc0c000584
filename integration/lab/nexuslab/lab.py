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
from . import etcd, evidence, net, nodes, state
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
MAX_DIRECTORS = 3
STORES = ("sqlite", "etcd")
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


def plan_nodes(count, workers, directors=1):
    """(name, role, auth) of each node: n1 (.. nD) direct; then peers, then workers."""
    if count < directors + 1 or count > MAX_NODES:
        raise UsageError(f"--nodes {count}: {directors + 1}..{MAX_NODES} "
                         f"({'a director' if directors == 1 else f'{directors} directors'} "
                         "and at least one worker)")
    if workers is None:
        workers = count - directors - 1 if count >= directors + 2 else 1
    if workers < 1 or workers > count - directors:
        raise UsageError(f"--workers {workers}: 1..{count - directors} with --nodes {count}")
    peers = count - directors - workers
    out = [(f"n{i}", "director", "tls") for i in range(1, directors + 1)]
    for i in range(directors + 1, count + 1):
        role = "peer" if i - directors - 1 < peers else "worker"
        auth = "api-key" if i % 2 == 0 else "scoped-key"
        out.append((f"n{i}", role, auth))
    return out


def check_store(store, etcd_members, directors):
    """The control plane's shape: (etcd members, directors); usage errors first."""
    if directors < 1 or directors > MAX_DIRECTORS:
        raise UsageError(f"--directors {directors}: 1..{MAX_DIRECTORS}")
    if store == "sqlite":
        if directors > 1:
            raise UsageError(f"--directors {directors} needs --store etcd: "
                             "a SQLite store serves one director")
        if etcd_members is not None:
            raise UsageError("--etcd N is for --store etcd")
        return 0, directors
    etcd_members = 3 if etcd_members is None else etcd_members
    if etcd_members < 1 or etcd_members > etcd.MAX_MEMBERS or etcd_members % 2 == 0:
        raise UsageError(f"--etcd {etcd_members}: an odd number of members, 1..{etcd.MAX_MEMBERS}")
    return etcd_members, directors


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


def up(lab_root, profile, count, workers, ttl_text, scenario, keep, lease_ttl, capacity,
       store="sqlite", etcd_members=None, directors=1, election_ttl=None):
    ttl_s = parse_ttl(ttl_text or PROFILES[profile]["ttl"])  # before anything starts
    if store not in STORES:
        raise UsageError(f"--store {store}: one of {', '.join(STORES)}")
    etcd_members, directors = check_store(store, etcd_members, directors)
    count = count or PROFILES[profile]["nodes"] + directors - 1
    plan = plan_nodes(count, workers, directors)
    scenario = check_scenario(scenario or profile)
    if lease_ttl is None:
        # On etcd a task's lease must outlive a quorum loss and a failover.
        lease_ttl = 15 if store == "etcd" else 10
    if lease_ttl < 3 or lease_ttl > 600:
        raise UsageError(f"--lease-ttl {lease_ttl}: 3..600 seconds")
    if election_ttl is not None and store != "etcd":
        raise UsageError("--election-ttl is for --store etcd")
    election_ttl = election_ttl or min(3, lease_ttl)
    if election_ttl < 1 or election_ttl > lease_ttl:
        raise UsageError(f"--election-ttl {election_ttl}: 1..{lease_ttl} (at most --lease-ttl)")
    if capacity < 1 or capacity > 64:
        raise UsageError(f"--capacity {capacity}: 1..64")
    if os.geteuid() != 0:
        raise LabError("labctl up needs root (network namespaces and FUSE mounts)")
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        raise LabError(f"missing tools: {', '.join(missing)} (scripts/install-deps.sh installs them)")
    binaries = find_binaries()
    if store == "etcd":
        etcd.binary()

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
        "store": store,
        "mesh": {"leaseTtl": lease_ttl, "heartbeatTimeout": lease_ttl, "capacity": capacity},
        "nodes": [], "phases": [], "faults": [], "evidence": [], "seq": 0,
    }
    if store == "etcd":
        run["mesh"]["electionTtl"] = election_ttl
        run["etcd"] = {"members": [
            {"name": f"e{i}", "netns": f"nxl{tag}-e{i}", "address": net.etcd_address(i),
             "dir": os.path.join(d, "etcd", f"e{i}"), "pid": 0}
            for i in range(1, etcd_members + 1)]}
    for i, (name, role, auth) in enumerate(plan, start=1):
        run["nodes"].append({
            "name": name, "role": role, "auth": auth, "netns": f"nxl{tag}-{name}",
            "address": net.address(i), "dir": os.path.join(d, "nodes", name),
            "cert": os.path.join(d, "nodes", name, "tls", "cert.pem"), "pid": 0,
        })
    state.save(run)
    with Guard(run, keep) as guard:
        total = 6 if store == "etcd" else 5
        step = iter(range(1, total + 1))
        members = state.etcd_members(run)
        say(f"[{next(step)}/{total}] network: {run['hub']} with bridge br0, {count} node namespaces"
            + (f", {len(members)} etcd member namespaces" if members else ""))
        net.create_hub(run["hub"])
        for n in run["nodes"] + members:
            net.create_node(run["hub"], n["netns"], n["name"], n["address"])
        state.save(run)
        if members:
            say(f"[{next(step)}/{total}] etcd: " + ", ".join(f"{m['name']} {m['address']}" for m in members))
            for m in members:
                etcd.start(run, m)
                state.save(run)
            etcd.wait_healthy(members, timeout=30)
        say(f"[{next(step)}/{total}] nexusd: " + ", ".join(f"{n['name']} {n['role']} {n['address']}"
                                                           for n in run["nodes"]))
        _make_certificates(run)
        for i, n in enumerate(state.directors(run)):
            nodes.start(run, n)
            state.save(run)
            if i == 0 and store == "etcd":
                leader(run, refresh=True, wait=30)  # n1 leads; the others stand by
        for n in run["nodes"]:
            if n["role"] != "director":
                nodes.start(run, n)  # on etcd it joins the directors as it starts
                state.save(run)
        say(f"[{next(step)}/{total}] credentials: the directors' operator keys (tls), "
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
        say(f"[{next(step)}/{total}] mesh: {count - directors} nodes join "
            + ", ".join(f"{x['address']}:{nodes.CTL_PORT}" for x in state.directors(run)))
        for n in run["nodes"]:
            if n["role"] == "director":
                continue
            n["nodeId"] = _join(run, n, capacity)
            if n["role"] == "worker":
                t = operator(run, "mesh", "trust", n["nodeId"], "trusted")
                if not t.ok:
                    raise LabError(f"trusting {n['name']}: {t.text()}")
            state.save(run)
        say(f"[{next(step)}/{total}] waiting for every node to be ready in the fleet")
        wait_fleet_ready(run, timeout=30)
        run["state"] = "up"
        state.save(run)
        guard.armed = False
    return run


def _make_certificates(run):
    """Each node's certificate for its lab address. Directors on etcd share
    one (for all their addresses): a standby checks the leader's certificate
    against its own, and nodes joining several directors take it as their CA."""
    ds = state.directors(run)
    for n in run["nodes"]:
        os.makedirs(os.path.join(n["dir"], "tls"), exist_ok=True)
        if n["role"] == "director" and len(ds) > 1:
            if n is ds[0]:
                hosts = ",".join(x["address"] for x in ds) + ",localhost"
                run_cmd([run["bin"]["nexus"], "tls", "generate", "--out", os.path.join(n["dir"], "tls"),
                         "--hosts", hosts], timeout=30, check=True)
            else:
                for f in ("cert.pem", "key.pem"):
                    shutil.copy2(os.path.join(ds[0]["dir"], "tls", f), os.path.join(n["dir"], "tls", f))
            continue
        run_cmd([run["bin"]["nexus"], "tls", "generate", "--out", os.path.join(n["dir"], "tls"),
                 "--hosts", f"{n['address']},localhost"], timeout=30, check=True)


def _join(run, n, capacity):
    """Node `n` joins the mesh; its node id. On etcd it joined at start
    (--join every director): wait for its membership. With SQLite it
    registers with the director now."""
    if run.get("store") == "etcd":
        deadline = time.monotonic() + 30
        while True:
            r = nodes.nx(run, n, "mesh", "status")
            if r.ok and r.json().get("node_id"):
                return r.json()["node_id"]
            if time.monotonic() > deadline:
                raise LabError(f"{n['name']}: did not join the mesh within 30s: {r.text()}")
            time.sleep(0.3)
    d_node = state.director(run)
    with open(run["registrationKeyFile"]) as f:
        reg_key = f.read().strip()
    r = nodes.nx(run, n, "mesh", "register", "--director",
                 f"{d_node['address']}:{nodes.CTL_PORT}", "--registration-key", reg_key,
                 "--ca", d_node["cert"], "--name", n["name"], "--capacity",
                 str(capacity if n["role"] == "worker" else 1))
    if not r.ok:
        raise LabError(f"{n['name']}: joining the mesh: {r.text()}")
    return r.json()["node_id"]


def director_status(run, d, timeout=10):
    """Director `d`'s own `mesh status` (over its Unix socket), or None."""
    if not nodes.alive(d) or nodes.paused(d):
        return None
    r = nodes.nx(run, d, "mesh", "status", timeout=timeout)
    if not r.ok:
        return None
    try:
        return r.json()
    except LabError:
        return None


_LEADER = {}  # run id -> the name of the director last seen leading (this process only)


def leader(run, refresh=False, wait=0):
    """The director that leads (the only one with the SQLite store). Cached
    until it stops or is paused, or `refresh`; `wait` seconds for one to lead
    (then LabError). With none leading and no wait: a running director, whose
    calls a standby forwards or answers `unavailable`."""
    ds = state.directors(run)
    if len(ds) == 1:
        return ds[0]
    cached = _LEADER.get(run["runId"])
    if cached and not refresh:
        n = state.node(run, cached)
        if nodes.alive(n) and not nodes.paused(n):
            return n
    deadline = time.monotonic() + wait
    while True:
        for d in ds:
            st = director_status(run, d)
            if st and st.get("role") == "leader":
                _LEADER[run["runId"]] = d["name"]
                return d
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if wait:
        raise LabError(f"no director leads within {wait}s")
    live = [d for d in ds if nodes.alive(d) and not nodes.paused(d)]
    return live[0] if live else ds[0]


def operator(run, *args, timeout=60):
    """A mesh operator call: from the leading director's namespace, over TLS, with its admin key."""
    d = leader(run)
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


def restart_leader(run):
    """Stops the leading director and starts it again; the seconds until a
    director leads once more (on etcd the standby may take over meanwhile)."""
    d = leader(run, refresh=True)
    t0 = time.monotonic()
    nodes.stop(d)
    nodes.start(run, d)
    state.save(run)
    leader(run, refresh=True, wait=30)
    return time.monotonic() - t0


def non_directors(run):
    return [n for n in run["nodes"] if n["role"] != "director"]


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
    for m in state.etcd_members(run):
        etcd.stop(m, wait=20)
    for n in run["nodes"]:
        nodes.clear_mount(n)
    for mp in sorted(mounts_under(run["dir"]), key=len, reverse=True):
        run_cmd(["umount", "-l", mp], timeout=20)
    for n in run["nodes"] + state.etcd_members(run):
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
