"""labctl failover: inject a fault; the next labctl verify proves the recovery.

The faults below hit a worker while it holds the lease of a running task
(the "active" holder); every fault is recorded in the run. The next verify first repairs
what an operator would (restart a stopped node, reconnect a link, admit a
drained node) and then asserts the recovery: the task finished, the node is
back in the fleet, a stale lease holder was fenced.

  stop-active   SIGTERM the holder: it reports the attempt failed, the
                director places the task again at once (in a lab with a
                standby director: the leading director, below)
  kill-worker   SIGKILL the holder: the director counts it down and the
                task is placed again when its lease expires
  drain         drain the holder: its task runs to the end there, new work
                goes elsewhere (or waits) until it is admitted
  partition     cut the holder's link on the bridge: it is counted down, its
                lease expires and the task moves; the cut-off holder stops
                its copy when it cannot extend the lease
  stale-replay  take the holder's lease token, migrate the task (new token),
                then replay the old one: it must be fenced (conflict)
"""
import os
import signal
import time

from . import LabError, UsageError, control_faults, net, nodes, state
from .checks import Checks, Mesh, expect, file_in, workers
from .lab import say, wait_fleet_ready

FAULTS = ("stop-active", "drain", "partition", "kill-worker", "stale-replay") + \
    control_faults.DIRECTOR_FAULTS + control_faults.ETCD_FAULTS


def _target(run, name):
    ws = workers(run)
    if name:
        n = state.node(run, name)
        if n["role"] != "worker":
            raise UsageError(f"--target {name}: a worker is needed (it is the {n['role']})")
        return n
    return ws[0]


def _active_task(run, mesh, target, name, command, seconds=30):
    """A task running on `target` (the other workers drained while it is placed)."""
    with mesh.drained([w for w in workers(run) if w is not target]):
        tid = mesh.create(name, command, "--max-attempts", "6")
        t = mesh.wait_state(tid, "running", timeout=seconds)
    if t["node_id"] != target["nodeId"]:
        raise LabError(f"{tid} runs on {t['node_id']}, not on {target['name']}")
    return tid


def _scheduled_by_hand(run, mesh, target, name, command):
    """A task placed on `target` by `tasks schedule` (the lab holds its token), running."""
    with mesh.drained([w for w in workers(run) if w is not target]):
        tid, placed = mesh.schedule_by_hand(name, command, "--max-attempts", "6")
        mesh.wait_state(tid, "running", timeout=30)
    return tid, placed["lease_token"]


def inject(run, fault, target_name=None):
    if fault not in FAULTS:
        raise UsageError(f"--fault {fault}: one of {', '.join(FAULTS)}")
    pending = [f for f in run["faults"] if not f.get("checked")]
    if pending:
        raise LabError(f"fault {pending[0]['fault']} on {pending[0]['target']} has not been verified yet: "
                       "run labctl verify first")
    if control_faults.applies(run, fault):
        return _inject_control(run, fault, target_name)
    target = _target(run, target_name)
    if not nodes.alive(target):
        raise LabError(f"{target['name']} is not running")
    mesh = Mesh(run)
    c = Checks(run, "failover")
    c.label += f":{fault}"
    seq = run["seq"]
    rec = {"fault": fault, "target": target["name"], "injectedAt": time.time(), "recovered": False,
           "checked": False}
    hb = run["mesh"]["heartbeatTimeout"]
    others = [w for w in workers(run) if w is not target]
    say(f"injecting {fault} on {target['name']} ({target['nodeId']})")

    def counted_down(why):
        def fn():
            mesh.wait_node(target["nodeId"], "down", hb + 8)
            return f"{target['name']} down after {hb}s {why}"
        return fn

    def moves_on(tid, seconds):
        """The task once its lease is on another worker (or, with no other
        worker, once it is off the target)."""
        def moved(t):
            if others:
                return t["node_id"] not in ("", target["nodeId"])
            return t["node_id"] != target["nodeId"]
        return mesh.wait_task(tid, moved, seconds, f"{tid} to move off {target['name']}")

    def moved_fn(tid, seconds):
        def fn():
            t = moves_on(tid, seconds)
            return (f"{tid} {t['state']}{' on ' + t['node_id'] if t['node_id'] else ''}, "
                    f"attempt {t['attempts']}")
        return fn

    if fault in ("stop-active", "kill-worker"):
        marker = f"lab-{fault}-{seq}"
        tid = _active_task(run, mesh, target, marker, f"sleep 8; echo {marker} > /zone/{marker}")
        rec.update(task=tid, marker=marker)
        sig = signal.SIGTERM if fault == "stop-active" else signal.SIGKILL
        pid = target["pid"]
        nodes.stop(target, sig=sig, wait=30)
        rec["stopped"] = True

        def stopped_fn():
            expect(not nodes.alive(target), "still running")
            return f"{signal.Signals(sig).name} to pid {pid}"
        c.check(f"inject.{fault}.holder_stopped", stopped_fn)
        if fault == "stop-active":
            def left_fn():
                info = mesh.nodes()[target["nodeId"]]
                expect(info["state"] == "down", f"{target['name']} is {info['state']} after leaving")
                return f"{target['name']} left the fleet: down at once"
            c.check("inject.stop-active.node_left", left_fn)
            c.check("inject.stop-active.attempt_handed_back", moved_fn(tid, 15))
        else:
            c.check("inject.kill-worker.node_counted_down", counted_down("without heartbeats"))
            c.check("inject.kill-worker.lease_moves", moved_fn(tid, run["mesh"]["leaseTtl"] + 8))
    elif fault == "drain":
        marker = f"lab-drain-{seq}"
        tid = _active_task(run, mesh, target, marker, f"sleep 5; echo {marker} > /zone/{marker}")
        rec.update(task=tid, marker=marker)
        mesh.call("mesh", "drain", target["nodeId"])
        newer = mesh.create(f"lab-after-drain-{seq}", f"echo x > /zone/lab-after-drain-{seq}")
        rec["newTask"] = newer

        def drained_fn():
            info = mesh.nodes()[target["nodeId"]]
            expect(info["state"] == "drained", f"{target['name']} is {info['state']}")
            if others:
                t = mesh.wait_state(newer, ("succeeded", "failed"), timeout=30)
                expect(t["state"] == "succeeded", f"{newer} {t['state']}")
                expect(not os.path.exists(file_in(target, f"lab-after-drain-{seq}")), "the drained node ran new work")
                return f"new work {newer} ran on another worker"
            mesh.stays(newer, "pending", 2)
            return f"new work {newer} waits (no other worker)"
        c.check("inject.drain.new_work_avoids_node", drained_fn)
    elif fault == "partition":
        marker = f"lab-partition-fault-{seq}"
        tid = _active_task(run, mesh, target, marker, f"sleep 12; echo {marker} > /zone/{marker}")
        rec.update(task=tid, marker=marker)
        net.set_link(run["hub"], target["name"], False)
        rec["cut"] = True

        c.check("inject.partition.node_counted_down", counted_down("of silence"))
        c.check("inject.partition.lease_moves", moved_fn(tid, run["mesh"]["leaseTtl"] + 8))
    elif fault == "stale-replay":
        tid, token = _scheduled_by_hand(run, mesh, target, f"lab-replay-{seq}",
                                        f"sleep 6; echo lab-replay-{seq} > /zone/lab-replay-{seq}")
        rec.update(task=tid, staleToken=token)
        r = mesh.raw("mesh", "tasks", "migrate", tid, "--token", token, "--checkpoint", f"lab-replay-{seq}")
        if not r.ok:
            raise LabError(f"migrate: {r.text()}")

        def replay_fn():
            out = []
            for step, extra in (("complete", ["--exit-code", "0"]), ("extend", []), ("fail", ["--reason", "replayed"])):
                x = mesh.raw("mesh", "tasks", step, tid, "--token", token, *extra)
                expect(not x.ok and "conflict" in x.text().lower(), f"replayed {step}: {x.text() or 'accepted'}")
                out.append(step)
            return f"replayed {', '.join(out)} with the pre-migration token: each a conflict"
        c.check("inject.stale-replay.stale_token_fenced", replay_fn)
    run["faults"].append(rec)
    phase = c.record()
    return phase


def _inject_control(run, fault, target_name):
    """A fault of the directors or of etcd (control_faults.py)."""
    control_faults.check_shape(run, fault, target_name)
    c = Checks(run, "failover")
    c.label += f":{fault}"
    rec = {"fault": fault, "target": "", "injectedAt": time.time(), "recovered": False, "checked": False}
    say(f"injecting {fault}")
    try:
        control_faults.inject(run, c, fault, target_name, rec)
    except BaseException:
        # Something was hit before the failure: the next verify heals it.
        if any(rec.get(k) for k in ("stopped", "paused", "etcdStopped")):
            run["faults"].append(rec)
            state.save(run)
        raise
    run["faults"].append(rec)
    return c.record()


def recover_all(run, c):
    """For each fault not yet verified: repair as an operator would, assert the recovery."""
    mesh = Mesh(run)
    for rec in run["faults"]:
        if rec.get("checked"):
            continue
        if control_faults.applies(run, rec["fault"]):
            say(f"recovering from {rec['fault']} on {rec['target']}")
            rec["recovered"] = bool(control_faults.recover(run, c, rec))
            rec["checked"] = True
            continue
        fault, target = rec["fault"], state.node(run, rec["target"])
        others = [w for w in workers(run) if w is not target]
        tid = rec.get("task")
        ok = True
        say(f"recovering from {fault} on {target['name']}")
        if rec.get("stopped"):
            def restart_fn():
                nodes.start(run, target)
                state.save(run)
                mesh.wait_node(target["nodeId"], "ready", 30)
                return f"{target['name']} restarted with its saved membership, ready in the fleet"
            ok &= c.check(f"recovery.{fault}.node_rejoined", restart_fn)
        if rec.get("cut"):
            def heal_fn():
                net.set_link(run["hub"], target["name"], True)
                mesh.wait_node(target["nodeId"], "ready", 30)
                return f"{target['name']} ready again after its link came back"
            ok &= c.check(f"recovery.{fault}.node_rejoined", heal_fn)
        if fault == "drain":
            def admit_fn():
                mesh.call("mesh", "admit", target["nodeId"])
                t = mesh.wait_state(rec["newTask"], ("succeeded", "failed"), timeout=40)
                expect(t["state"] == "succeeded", f"{rec['newTask']} {t['state']}")
                return f"{target['name']} admitted; {rec['newTask']} succeeded"
            ok &= c.check("recovery.drain.node_admitted", admit_fn)

        def task_fn():
            t = mesh.wait_state(tid, ("succeeded", "failed", "cancelled"), timeout=90)
            expect(t["state"] == "succeeded", f"{tid} {t['state']}: {t.get('reason')}")
            where = [w["name"] for w in workers(run) if os.path.exists(file_in(w, rec.get("marker", "")))] \
                if rec.get("marker") else []
            if fault == "drain":
                expect(where == [target["name"]], f"the drained node's task finished on {where}")
                return f"{tid} finished on the drained {target['name']}"
            if fault in ("stop-active", "kill-worker", "partition"):
                expect(t["attempts"] >= 2, f"{tid} took {t['attempts']} attempt(s): the fault did not hit it")
                expect(len(where) == 1, f"{tid}'s output is on {where or 'no worker'}")
                if others:
                    expect(where[0] != target["name"], f"{tid} waited for {target['name']} instead of moving")
                return f"{tid} succeeded on {where[0]} after {t['attempts']} attempts"
            return f"{tid} succeeded (attempts {t['attempts']}, checkpoint {t['checkpoint_ref']!r})"
        ok &= c.check(f"recovery.{fault}.task_completed", task_fn)
        if fault in ("partition", "stale-replay"):
            def fenced_fn():
                log = os.path.join(target["dir"], "log")
                with open(log, errors="replace") as f:
                    text = f.read()
                expect(f"task {tid}: the lease is lost" in text,
                       f"{target['name']}'s log does not show it stopping its stale copy of {tid}")
                if fault == "stale-replay":
                    x = mesh.raw("mesh", "tasks", "complete", tid, "--token", rec["staleToken"], "--exit-code", "0")
                    expect(not x.ok and "conflict" in x.text().lower(), f"a late replay: {x.text() or 'accepted'}")
                    return f"{target['name']} stopped its copy when its token was fenced; a late replay is still a conflict"
                return f"{target['name']} stopped its copy once its lease was gone"
            ok &= c.check(f"recovery.{fault}.stale_holder_fenced", fenced_fn)
        rec["checked"] = True
        rec["recovered"] = bool(ok)
    if run["faults"]:
        state.save(run)

        def fleet_fn():
            wait_fleet_ready(run, timeout=30)
            return "every lab node ready"
        c.check("recovery.fleet_ready", fleet_fn)
