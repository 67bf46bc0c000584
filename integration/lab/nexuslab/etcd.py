"""The run's etcd cluster (`up --store etcd`): one member per network namespace.

Member eI lives in namespace nxl<tag>-eI at 10.77.0.(40+I), on the same
bridge as the nodes, with its data dir and log under the run's etcd/eI/.
Clients (the directors) reach it at ADDRESS:2379, the other members at
ADDRESS:2380. A member restarted on its data dir rejoins the cluster it
left (etcd ignores --initial-cluster once the data dir exists).
"""
import concurrent.futures
import os
import shutil
import signal
import subprocess
import time

from . import LabError, proc
from .proc import in_netns, run

CLIENT_PORT = 2379
PEER_PORT = 2380
MAX_MEMBERS = 5


def binary():
    path = shutil.which("etcd")
    if not path or not shutil.which("etcdctl"):
        raise LabError("--store etcd needs etcd and etcdctl (apt-get install etcd-server etcd-client; "
                       "scripts/install-deps.sh installs them)")
    return path


def client_url(m):
    return f"http://{m['address']}:{CLIENT_PORT}"


def endpoints(members):
    """The directors' --mesh-store value."""
    return "etcd://" + ",".join(f"{m['address']}:{CLIENT_PORT}" for m in members)


def _argv(run_state, m):
    members = run_state["etcd"]["members"]
    cluster = ",".join(f"{x['name']}=http://{x['address']}:{PEER_PORT}" for x in members)
    return [binary(), "--name", m["name"], "--data-dir", os.path.join(m["dir"], "data"),
            "--log-level", "warn",
            "--listen-client-urls", client_url(m), "--advertise-client-urls", client_url(m),
            "--listen-peer-urls", f"http://{m['address']}:{PEER_PORT}",
            "--initial-advertise-peer-urls", f"http://{m['address']}:{PEER_PORT}",
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", run_state["runId"]]


def _marker(m):
    return (os.path.join(m["dir"], "data") + "\0").encode()


def alive(m):
    """Whether member `m`'s etcd (this pid, this data dir) runs."""
    return proc.running(m.get("pid"), _marker(m))


def start(run_state, m):
    """Starts member `m` in its namespace; returns without waiting (a lone
    member cannot be healthy before a quorum of the others is up)."""
    if alive(m):
        raise LabError(f"etcd member {m['name']} already runs (pid {m['pid']})")
    os.makedirs(m["dir"], mode=0o700, exist_ok=True)
    log = open(os.path.join(m["dir"], "log"), "ab")
    try:
        p = subprocess.Popen(in_netns(m["netns"], _argv(run_state, m)), stdin=subprocess.DEVNULL,
                             stdout=log, stderr=log, start_new_session=True, close_fds=True)
    finally:
        log.close()
    m["pid"] = p.pid


def stop(m, sig=signal.SIGTERM, wait=20):
    """Stops member `m` with `sig` (SIGKILL after `wait` seconds)."""
    proc.stop(m.get("pid"), _marker(m), sig, wait)


def health(m):
    """(healthy, detail) of member `m`, asked from inside its own namespace
    within about 3 s (a member without quorum does not answer: unhealthy)."""
    if not alive(m):
        return False, "not running"
    r = run(in_netns(m["netns"], ["etcdctl", "--endpoints", client_url(m), "--dial-timeout", "1s",
                                  "--command-timeout", "2s", "endpoint", "health"]),
            timeout=3, env=dict(os.environ, ETCDCTL_API="3"))
    lines = (r.out.strip() or r.text()).splitlines()
    return r.ok, lines[0][:200] if lines else f"etcdctl exited {r.rc}"


def health_all(members):
    """[(healthy, detail)] of every member, asked at once."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(members))) as pool:
        return list(pool.map(health, members))


def wait_healthy(members, timeout):
    deadline = time.monotonic() + timeout
    while True:
        bad = [(m["name"], d) for m, (ok, d) in zip(members, health_all(members)) if not ok]
        if not bad:
            return
        if time.monotonic() > deadline:
            raise LabError("etcd members not healthy: " + "; ".join(f"{n}: {d}" for n, d in bad))
        time.sleep(0.3)
