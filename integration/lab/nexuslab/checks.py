"""The parts every lab command shares: assertions, waiting, tasks on the director."""
import contextlib
import os
import sys
import time

from . import LabError, state
from .lab import operator


class Failed(LabError):
    """An assertion that does not hold; the message is its detail. Outside a
    check (e.g. while a fault is being set up) it fails the command."""


class NotApplicable(Exception):
    """An assertion this lab's shape cannot make (e.g. no peer node)."""


class Checks:
    """Runs named assertions, prints each as it ends, keeps them for the evidence."""

    def __init__(self, run, kind, quiet=False):
        run["seq"] = run.get("seq", 0) + 1
        count = sum(1 for p in run["phases"] if p["kind"] == kind) + 1
        self.run, self.kind, self.quiet = run, kind, quiet
        self.label = f"{kind}#{count}"
        self.assertions = []
        self.started = time.time()

    def check(self, name, fn, required=True):
        t0 = time.monotonic()
        try:
            detail, result = fn() or "", "pass"
        except NotApplicable as e:
            detail, result = str(e), "na"
        except LabError as e:  # Failed included
            detail, result = str(e), "fail"
        except KeyboardInterrupt:
            raise
        except Exception as e:  # a bug in a check is a failed check, not a crash
            detail, result = f"{type(e).__name__}: {e}", "fail"
        ms = round((time.monotonic() - t0) * 1000, 1)
        self.assertions.append({"name": name, "result": result, "required": required,
                                "detail": str(detail)[:500], "durationMs": ms})
        if not self.quiet:
            mark = {"pass": "ok  ", "fail": "FAIL", "na": "n/a "}[result]
            print(f"  {mark} {name} ({ms / 1000:.1f}s){': ' + str(detail)[:160] if detail else ''}",
                  file=sys.stderr, flush=True)
        return result == "pass"

    def record(self):
        """Appends this phase to the run and saves it."""
        phase = {"kind": self.kind, "label": self.label, "at": self.started,
                 "assertions": self.assertions}
        self.run["phases"].append(phase)
        state.save(self.run)
        return phase



def expect(cond, detail):
    if not cond:
        raise Failed(detail)


def wait_for(pred, timeout, what, interval=0.2):
    """pred()'s first truthy value within `timeout` seconds, else Failed."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
        except LabError as e:
            v, last = None, e
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not within {timeout:g}s" + (f" ({last})" if last else ""))
        time.sleep(interval)


class Mesh:
    """Operator calls on the run's director, with waits on tasks and nodes."""

    def __init__(self, run):
        self.run = run

    def call(self, *args, timeout=60):
        r = operator(self.run, *args, timeout=timeout)
        if not r.ok:
            raise Failed(f"mesh {' '.join(args[1:3])}: {r.text()}")
        return r.json()

    def raw(self, *args, timeout=60):
        return operator(self.run, *args, timeout=timeout)

    def create(self, name, command, *extra):
        return self.call("mesh", "tasks", "create", "--name", name, "--command", command, *extra)["id"]

    def task(self, tid):
        return self.call("mesh", "tasks", "get", tid)

    def tasks(self):
        return self.call("mesh", "tasks", "list")["tasks"]

    def wait_task(self, tid, pred, timeout, what):
        """The task once pred(task) holds, within `timeout` seconds."""
        def get():
            t = self.task(tid)
            return t if pred(t) else None
        return wait_for(get, timeout, what)

    def wait_state(self, tid, states, timeout=40):
        states = (states,) if isinstance(states, str) else tuple(states)
        last = {}

        def pred():
            last["t"] = self.task(tid)
            return last["t"] if last["t"]["state"] in states else None
        try:
            return wait_for(pred, timeout, f"task {tid} to be {'/'.join(states)}")
        except Failed as e:
            t = last.get("t", {})
            raise Failed(f"{e}; it is {t.get('state')} on {t.get('node_id') or '-'}"
                         f" ({t.get('reason') or 'no reason'})") from None

    def succeeds(self, tid, timeout=40, what=""):
        """The task once it ended; Failed unless it succeeded."""
        t = self.wait_state(tid, ("succeeded", "failed", "cancelled"), timeout=timeout)
        if t["state"] != "succeeded":
            raise Failed(f"{what + ': ' if what else ''}{tid} {t['state']}: {t.get('reason') or 'no reason'}")
        return t

    def schedule_by_hand(self, name, command, *extra):
        """(task id, placement with its lease token) of a task placed by
        `tasks schedule`, so the lab holds the token. The director's own
        scheduling round may place a new task first; that one is cancelled
        and the next try made."""
        for attempt in range(3):
            tid = self.create(f"{name}-{attempt}", command, *extra)
            r = self.raw("mesh", "tasks", "schedule", tid)
            placed = r.json().get("placements", []) if r.ok else []
            if placed and placed[0].get("lease_token"):
                return tid, placed[0]
            self.raw("mesh", "tasks", "cancel", tid)
        raise Failed(f"could not schedule a task by hand: {r.text() or placed}")

    def stays(self, tid, st, seconds):
        """Fails if task `tid` leaves state `st` within `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            t = self.task(tid)
            if t["state"] != st:
                raise Failed(f"task {tid} went {t['state']} on {t.get('node_id') or '-'}; "
                             f"it should have stayed {st}")
            time.sleep(0.3)
        return self.task(tid)

    def nodes(self):
        return {n["id"]: n for n in self.call("mesh", "nodes")["nodes"]}

    def node_state(self, node_id):
        return self.nodes().get(node_id, {}).get("state")

    def wait_node(self, node_id, st, timeout):
        return wait_for(lambda: self.node_state(node_id) == st, timeout,
                        f"node {node_id} to be {st}")

    def settled(self, timeout=60):
        """Waits until no task is pending, assigned or running."""
        live = ("pending", "assigned", "running")
        return wait_for(lambda: not [t for t in self.tasks() if t["state"] in live], timeout,
                        "every task to end")

    @contextlib.contextmanager
    def drained(self, lab_nodes):
        """Drains `lab_nodes` for the block, admitting them again afterwards."""
        done = []
        try:
            for n in lab_nodes:
                self.call("mesh", "drain", n["nodeId"])
                done.append(n)
            yield
        finally:
            for n in done:
                self.raw("mesh", "admit", n["nodeId"])

    def set_trust(self, lab_nodes, tier):
        for n in lab_nodes:
            self.call("mesh", "trust", n["nodeId"], tier)


def workers(run):
    return state.by_role(run, "worker")


def peers(run):
    return state.by_role(run, "peer")


def file_in(n, rel):
    return os.path.join(n["dir"], "ws", rel)
