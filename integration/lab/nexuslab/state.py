"""Where runs live and what is remembered about them.

LAB_DIR (--lab-dir, else $NEXUS_LAB_DIR, else /var/tmp/nexus-lab) holds one
directory per run, runs/RUN_ID/, mode 0700, with run.json (mode 0600: it
holds the lab's API keys and registration key) and one directory per node.
run.json is rewritten atomically after every step, so a crash mid-command
leaves the last consistent state for `down` to clean up.
"""
import json
import os
import time

from . import LabError, UsageError
from .runid import RUN_ID, parse_run_id

DEFAULT_LAB_DIR = "/var/tmp/nexus-lab"


def lab_dir(option=None):
    return os.path.abspath(option or os.environ.get("NEXUS_LAB_DIR") or DEFAULT_LAB_DIR)


def runs_dir(root):
    return os.path.join(root, "runs")


def run_dir(root, run_id):
    return os.path.join(runs_dir(root), run_id)


def list_runs(root):
    """Run ids with a run.json, oldest first."""
    d = runs_dir(root)
    if not os.path.isdir(d):
        return []
    out = [n for n in os.listdir(d)
           if RUN_ID.fullmatch(n) and os.path.isfile(os.path.join(d, n, "run.json"))]
    return sorted(out)


def load(root, run_id=None):
    """The run `run_id`, or the most recent one."""
    if run_id:
        parse_run_id(run_id)
    else:
        runs = list_runs(root)
        if not runs:
            raise LabError(f"no lab run in {root} (start one with labctl up)")
        run_id = runs[-1]
    path = os.path.join(run_dir(root, run_id), "run.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise LabError(f"no run {run_id} in {root}") from None
    except (OSError, ValueError) as e:
        raise LabError(f"{path}: {e}") from None


def write_json(path, obj, mode=0o644):
    """Writes `obj` to `path` atomically (a reader sees the old or the new file)."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def save(run):
    os.makedirs(run["dir"], mode=0o700, exist_ok=True)
    write_json(os.path.join(run["dir"], "run.json"), run, mode=0o600)


def expired(run, now=None):
    now = time.time() if now is None else now
    return now >= run["createdAt"] + run["ttlSeconds"]


def node(run, name):
    for n in run["nodes"]:
        if n["name"] == name:
            return n
    raise UsageError(f"no node {name!r} in run {run['runId']} "
                     f"(nodes: {', '.join(n['name'] for n in run['nodes'])})")


def by_role(run, role):
    return [n for n in run["nodes"] if n["role"] == role]


def directors(run):
    return by_role(run, "director")


def director(run):
    """The first director (n1): the only one with the SQLite store. With
    standby directors on etcd, the one leading is lab.leader(run)."""
    return directors(run)[0]


def etcd_members(run):
    """The run's etcd members (empty with the SQLite store)."""
    return run.get("etcd", {}).get("members", [])


def etcd_member(run, name):
    for m in etcd_members(run):
        if m["name"] == name:
            return m
    raise UsageError(f"no etcd member {name!r} in run {run['runId']} "
                     f"(members: {', '.join(m['name'] for m in etcd_members(run)) or 'none'})")
