"""Lab nodes: nexusd processes in their namespaces, and the nexus CLI against them.

A node's directory holds data/ (its data dir and control socket), mnt/ (its
FUSE mount, in the host's mount namespace), ws/ (its workspace, /zone/local),
tls/ (its certificate for its lab address) and log. The nexus CLI reaches a
node from the host over its Unix socket, or from inside any namespace over
TLS at ADDRESS:7070 with the CA and key the lab keeps for it.
"""
import os
import signal
import subprocess
import time

from . import LabError, etcd, proc
from .proc import in_netns, run

CTL_PORT = 7070
HTTP_PORT = 8080


def socket_path(n):
    return os.path.join(n["dir"], "data", "nexusd.sock")


def mountpoint(n):
    return os.path.join(n["dir"], "mnt")


def nexusd_args(run_state, n):
    d, addr = n["dir"], n["address"]
    mesh = run_state["mesh"]
    args = ["--data-dir", f"{d}/data", "--mount", f"{d}/mnt", "--workspace", f"{d}/ws",
            "--listen", f"{addr}:{CTL_PORT}", "--tls-cert", f"{d}/tls/cert.pem",
            "--tls-key", f"{d}/tls/key.pem", "--http", f"{addr}:{HTTP_PORT}",
            "--node-name", n["name"], "--log-level", "info",
            "--mesh-lease-ttl", str(mesh["leaseTtl"])]
    key = "${file:" + run_state["registrationKeyFile"] + "}"
    on_etcd = run_state.get("store") == "etcd"
    if n["role"] == "director":
        args += ["--director", "--registration-key", key,
                 "--mesh-heartbeat-timeout", str(mesh["heartbeatTimeout"])]
        if on_etcd:
            args += ["--mesh-store", etcd.endpoints(run_state["etcd"]["members"]),
                     "--mesh-election-ttl", str(mesh["electionTtl"])]
        return args
    if on_etcd:
        # Nodes join every director at start and follow whichever leads; the
        # directors share one certificate (see lab.up), which is the CA.
        ds = [d for d in run_state["nodes"] if d["role"] == "director"]
        args += ["--join", ",".join(f"{d['address']}:{CTL_PORT}" for d in ds),
                 "--registration-key", key, "--join-ca", ds[0]["cert"]]
    if n["role"] == "worker":
        args += ["--worker", "--capacity", str(mesh["capacity"])]
    elif on_etcd:
        args += ["--capacity", "1"]
    return args


def alive(n):
    """Whether the node's nexusd (this pid, serving this data dir) runs."""
    return proc.running(n.get("pid"), (n["dir"] + "/data\0").encode())


def paused(n):
    """Whether the node's nexusd is stopped by a signal (SIGSTOP)."""
    try:
        with open(f"/proc/{n['pid']}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"
    except (OSError, KeyError):
        return False


def mounted(path):
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == path for line in f)
    except OSError:
        return False


def clear_mount(n):
    """Detaches a mount left behind by a killed nexusd."""
    mnt = mountpoint(n)
    while mounted(mnt):
        if not run(["umount", "-l", mnt], timeout=20).ok:
            raise LabError(f"cannot unmount {mnt}")


def start(run_state, n, wait=60, args=None):
    """Starts the node's nexusd in its namespace (with `args`, else the lab
    node's own) and waits until it serves."""
    if alive(n):
        raise LabError(f"{n['name']} already runs (pid {n['pid']})")
    clear_mount(n)
    for sub in ("data", "mnt", "ws"):
        os.makedirs(os.path.join(n["dir"], sub), exist_ok=True)
    log = open(os.path.join(n["dir"], "log"), "ab")
    args = nexusd_args(run_state, n) if args is None else args
    argv = in_netns(n["netns"], [run_state["bin"]["nexusd"]] + args)
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True, close_fds=True)
    finally:
        log.close()
    n["pid"] = p.pid
    deadline = time.monotonic() + wait
    while True:
        r = nx(run_state, n, "ready", "--timeout", "1", timeout=15)
        if r.ok:
            return
        if p.poll() is not None or time.monotonic() > deadline:
            why = f"exited with status {p.returncode}" if p.returncode is not None else r.text()
            tail = _tail(os.path.join(n["dir"], "log"))
            raise LabError(f"{n['name']}: nexusd did not become ready: {why}\n{tail}")


def _tail(path, lines=12):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def stop(n, sig=signal.SIGTERM, wait=30):
    """Stops the node's nexusd with `sig` (SIGKILL after `wait` seconds)."""
    proc.stop(n.get("pid"), (n["dir"] + "/data\0").encode(), sig, wait)


def nx(run_state, n, *args, timeout=60):
    """The nexus CLI on the node's Unix socket, from the host (root: the operator)."""
    argv = [run_state["bin"]["nexus"], "--socket", socket_path(n), "--json"] + list(args)
    return run(argv, timeout=timeout)


def nx_remote(run_state, src, dst, *args, key=None, ca=None, timeout=60, connect_timeout=5):
    """The nexus CLI from inside `src`'s namespace to `dst` over TLS with an API key."""
    argv = [run_state["bin"]["nexus"], "--remote", f"{dst['address']}:{CTL_PORT}",
            "--tls-ca", ca or dst["cert"], "--api-key", dst["apiKey"] if key is None else key,
            "--timeout", str(connect_timeout), "--json"] + list(args)
    return run(in_netns(src["netns"], argv), timeout=timeout)


def http_health(src, dst, path="/health", timeout=10):
    """HTTP GET of dst's health endpoint from inside src's namespace."""
    url = f"http://{dst['address']}:{HTTP_PORT}{path}"
    return run(in_netns(src["netns"], ["curl", "-fsS", "--max-time", "5", url]), timeout=timeout)
