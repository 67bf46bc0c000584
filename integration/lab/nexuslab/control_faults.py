"""Faults of the control plane of a lab on etcd (`up --store etcd`).

  stop-active       (with a standby director) SIGTERM the leading director
                    while a task runs: the standby leads within two election
                    TTLs; the task finishes on its first attempt with one
                    holder; new tasks are placed. Heal: restart it (it
                    stands by).
  etcd-member-down  stop one etcd member: nothing changes (same leader,
                    quorum kept, work placed). Heal: restart it.
  etcd-quorum-loss  stop a majority of the members while a task runs: mesh
                    calls are `unavailable` with etcd's reason, the task runs
                    to its end on its worker. Heal: restart them; everything
                    resumes, no task lost or run twice.
  director-pause    SIGSTOP the leader past the election TTL: the standby
                    leads and places work. Heal: SIGCONT; the deposed
                    director grants and accepts nothing, and stands by.

`labctl failover` injects the fault and asserts that it took effect; the
next `labctl verify` heals it and asserts the recovery.
"""
import os
import signal
import time

from . import UsageError, etcd, nodes, state
from .checks import Failed, Mesh, expect, file_in, wait_for, workers
from .lab import director_status, leader, say, wait_fleet_ready

DIRECTOR_FAULTS = ("director-pause",)
ETCD_FAULTS = ("etcd-member-down", "etcd-quorum-loss")


def applies(run, fault):
    """Whether `fault` is one of this module's in this lab (stop-active is,
    when a standby director can take over)."""
    if fault == "stop-active":
        return len(state.directors(run)) > 1
    return fault in DIRECTOR_FAULTS + ETCD_FAULTS


def check_shape(run, fault, target):
    """UsageError when this lab cannot take `fault` (before anything changes)."""
    members, ds = state.etcd_members(run), state.directors(run)
    if fault in ETCD_FAULTS and not members:
        raise UsageError(f"--fault {fault} needs a lab on etcd (labctl up --store etcd)")
    if fault in DIRECTOR_FAULTS and len(ds) < 2:
        raise UsageError(f"--fault {fault} needs a standby director (labctl up --store etcd --directors 2)")
    if fault in ETCD_FAULTS and len(members) < 3:
        raise UsageError(f"--fault {fault} needs at least 3 etcd members (this lab has {len(members)})")
    if target and fault in ETCD_FAULTS:
        state.etcd_member(run, target)
    elif target:
        raise UsageError(f"--target: {fault} hits the leading director; it takes no target")


def _status(run, d):
    st = director_status(run, d)
    if not st:
        raise Failed(f"{d['name']} does not answer mesh status")
    return st


def _wait_leads(run, candidates, timeout):
    """(director, seconds) once one of `candidates` leads, within `timeout`."""
    t0 = time.monotonic()

    def leads():
        for d in candidates:
            st = director_status(run, d, timeout=5)
            if st and st.get("role") == "leader":
                return d
        return None
    d = wait_for(leads, timeout, f"{' or '.join(x['name'] for x in candidates)} to lead", interval=0.1)
    leader(run, refresh=True)
    return d, time.monotonic() - t0


def _through_task(mesh, name, seconds):
    """A task that runs through the fault: running when this returns. Its
    command appends a line to /zone/NAME, so a second run would show."""
    tid = mesh.create(name, f"sleep {seconds}; echo {name} >> /zone/{name}", "--max-attempts", "6")
    mesh.wait_state(tid, "running", timeout=30)
    return tid


def _holders(run, marker):
    """{worker name: lines in its /zone/MARKER} for the workers that have it."""
    out = {}
    for w in workers(run):
        try:
            with open(file_in(w, marker)) as f:
                out[w["name"]] = len(f.read().splitlines())
        except FileNotFoundError:
            pass
    return out


def _ran_once(run, mesh, rec, timeout=90):
    """The task through the fault: succeeded, on attempt 1, one holder."""
    tid, marker = rec["task"], rec["marker"]
    t = mesh.succeeds(tid, timeout=timeout)
    held = _holders(run, marker)
    why = ""
    if rec.get("outageSeconds"):
        why = (f" (etcd had no quorum for {rec['outageSeconds']:.1f}s; "
               f"task leases last {run['mesh']['leaseTtl']}s)")
    expect(t["attempts"] == 1, f"{tid} took {t['attempts']} attempts{why}")
    expect(list(held.values()) == [1], f"{tid}'s command ran {sum(held.values())} time(s): {held}")
    return f"{tid} succeeded on attempt 1; its command ran once, on {next(iter(held))}"


def _new_task(mesh, name):
    """A new task placed and succeeded. A create cut off earlier may have
    committed once quorum returned and taken the director's next id: the
    director answers that once with a conflict and moves on (docs/mesh.md)."""
    r = mesh.raw("mesh", "tasks", "create", "--name", name, "--command", "true")
    if not r.ok and "conflict" in r.text().lower():
        r = mesh.raw("mesh", "tasks", "create", "--name", name, "--command", "true")
    if not r.ok:
        raise Failed(f"create {name}: {r.text()}")
    tid = r.json()["id"]
    mesh.succeeds(tid, timeout=40)
    return tid


def _snapshot(mesh):
    return {t["id"]: t["state"] for t in mesh.tasks()}


def _etcd_seen(run, want_healthy, timeout):
    """The leader's view of etcd once `want_healthy` members are healthy."""
    last = {}

    def seen():
        st = director_status(run, leader(run))
        last["etcd"] = (st or {}).get("etcd") or {}
        return last["etcd"] if last["etcd"].get("healthy") == want_healthy else None
    try:
        return wait_for(seen, timeout, f"the leader to see {want_healthy} healthy etcd members")
    except Failed as e:
        raise Failed(f"{e}; it sees {last.get('etcd')}") from None


def inject(run, c, fault, target_name, rec):
    mesh = Mesh(run)
    seq = run["seq"]
    ettl = run["mesh"]["electionTtl"]
    if fault in ("stop-active", "director-pause"):
        lead = leader(run, refresh=True, wait=15)
        standbys = [d for d in state.directors(run) if d is not lead]
        marker = f"lab-{fault}-{seq}"
        tid = _through_task(mesh, marker, 8 if fault == "stop-active" else 12)
        rec.update(target=lead["name"], task=tid, marker=marker)
        say(f"{fault}: {lead['name']} leads; {tid} runs through the fault")
        pid = lead["pid"]
        t0 = time.monotonic()
        if fault == "stop-active":
            nodes.stop(lead, sig=signal.SIGTERM, wait=30)
            rec["stopped"] = True

            def stopped_fn():
                expect(not nodes.alive(lead), "still running")
                return f"SIGTERM to {lead['name']} (pid {pid}), the leading director"
            c.check("inject.stop-active.leader_stopped", stopped_fn)
        else:
            os.kill(pid, signal.SIGSTOP)
            rec["paused"] = True

            def paused_fn():
                expect(nodes.paused(lead), f"{lead['name']} is not stopped")
                return f"SIGSTOP to {lead['name']} (pid {pid}), the leading director"
            c.check("inject.director-pause.leader_paused", paused_fn)

        def takeover_fn():
            bound = 2 * ettl
            d, _ = _wait_leads(run, standbys, bound + 10)
            took = time.monotonic() - t0
            rec["takeoverSeconds"] = round(took, 2)
            expect(took <= bound, f"{d['name']} led only {took:.1f}s after; the bound is 2 x {ettl}s")
            rec["detail"] = (f"{d['name']} led {took:.1f}s after {lead['name']} was "
                             f"{'stopped' if fault == 'stop-active' else 'paused'} (election TTL {ettl}s)")
            return f"{d['name']} leads {took:.1f}s after (election TTL {ettl}s, bound {bound}s)"
        c.check(f"inject.{fault}.standby_leads", takeover_fn)
        if fault == "director-pause":
            def places_fn():
                tid2 = _new_task(mesh, f"lab-while-paused-{seq}")
                left = t0 + 1.5 * ettl - time.monotonic()
                if left > 0:  # paused past the election TTL, whatever the takeover took
                    time.sleep(left)
                return f"{tid2} placed by {leader(run)['name']} and succeeded while {lead['name']} is paused"
            c.check("inject.director-pause.new_leader_places", places_fn)
        return

    members = state.etcd_members(run)
    first = state.etcd_member(run, target_name) if target_name else members[-1]
    count = 1 if fault == "etcd-member-down" else len(members) // 2 + 1
    hit = [first] + [m for m in reversed(members) if m is not first][:count - 1]
    rec.update(target=",".join(m["name"] for m in hit), etcdStopped=[m["name"] for m in hit])
    rec["leaderBefore"] = leader(run, refresh=True, wait=15)["name"]
    rec["tasksBefore"] = _snapshot(mesh)
    if fault == "etcd-quorum-loss":
        marker = f"lab-quorum-loss-{seq}"
        rec.update(task=_through_task(mesh, marker, 3), marker=marker)
    for m in hit:
        etcd.stop(m)
    rec["stoppedAt"] = time.time()
    state.save(run)

    def stopped_fn():
        running = [m["name"] for m in hit if etcd.alive(m)]
        expect(not running, f"still running: {running}")
        return f"stopped {', '.join(m['name'] for m in hit)} of {len(members)} members"
    c.check(f"inject.{fault}.members_stopped", stopped_fn)
    if fault == "etcd-member-down":
        def no_effect_fn():
            seen = _etcd_seen(run, len(members) - 1, 10)
            expect(seen.get("quorum"), f"no quorum with one member down: {seen}")
            now = leader(run, refresh=True, wait=10)["name"]
            expect(now == rec["leaderBefore"], f"the lead moved from {rec['leaderBefore']} to {now}")
            tid = _new_task(mesh, f"lab-member-down-{seq}")
            t = mesh.task(tid)
            expect(t["attempts"] == 1, f"{tid} took {t['attempts']} attempts")
            wait_fleet_ready(run, timeout=10)
            rec["detail"] = f"{first['name']} down: {now} still leads; {tid} placed and succeeded"
            return (f"{now} still leads; etcd {seen['healthy']} of {len(members)} healthy with quorum; "
                    f"{tid} placed and succeeded on attempt 1; every node ready")
        c.check("inject.etcd-member-down.no_effect", no_effect_fn)
        return

    def unavailable_fn():
        name = f"lab-refused-{seq}"
        rec["refused"] = name
        t0 = time.monotonic()
        r = mesh.raw("mesh", "tasks", "create", "--name", name, "--command", "true", timeout=90)
        took = time.monotonic() - t0
        expect(r.rc == 69, f"a create without quorum exited {r.rc}: {r.text() or r.out[:200]}")
        expect("unavailable" in r.text(), f"no reason given: {r.text()}")
        rec["detail"] = f"without quorum: {r.text()[:160]}"
        return f"a create without quorum: exit 69 after {took:.1f}s: {r.text()[:220]}"
    c.check("inject.etcd-quorum-loss.calls_unavailable", unavailable_fn)

    def keeps_running_fn():
        held = wait_for(lambda: _holders(run, rec["marker"]), 20,
                        f"{rec['task']}'s command to finish on its worker")
        running = [m["name"] for m in hit if etcd.alive(m)]
        expect(not running, f"members back before the command ended: {running}")
        return (f"{rec['task']}'s command ran to its end on {', '.join(held)} "
                f"{time.time() - rec['stoppedAt']:.1f}s into the outage")
    c.check("inject.etcd-quorum-loss.running_task_keeps_running", keeps_running_fn)


def recover(run, c, rec):
    """Heals the fault in `rec` as an operator would and asserts the recovery;
    whether every assertion passed."""
    mesh = Mesh(run)
    fault, seq = rec["fault"], run["seq"]
    ok = True
    if fault == "stop-active":
        old = state.node(run, rec["target"])
        ok &= c.check("recovery.stop-active.task_completed", lambda: _ran_once(run, mesh, rec))

        def placed_fn():
            tid = _new_task(mesh, f"lab-after-failover-{seq}")
            return f"{tid} placed by {leader(run)['name']} and succeeded"
        ok &= c.check("recovery.stop-active.new_task_placed", placed_fn)

        def rejoined_fn():
            nodes.start(run, old)
            state.save(run)
            wait_for(lambda: (director_status(run, old) or {}).get("role") == "standby", 15,
                     f"{old['name']} to stand by")
            lead = leader(run, refresh=True, wait=10)
            want = f"{old['address']}:{nodes.CTL_PORT}"
            wait_for(lambda: want in (director_status(run, lead) or {}).get("standbys", []), 15,
                     f"{lead['name']} to list {old['name']} as its standby")
            return f"{old['name']} restarted and stands by; {lead['name']} leads and lists it as standby"
        ok &= c.check("recovery.stop-active.director_rejoined", rejoined_fn)
    elif fault == "director-pause":
        old = state.node(run, rec["target"])

        def deposed_fn():
            log = os.path.join(old["dir"], "log")
            offset = os.path.getsize(log)
            name = f"lab-from-deposed-{seq}"
            os.kill(old["pid"], signal.SIGCONT)
            t0 = time.monotonic()
            r = nodes.nx(run, old, "mesh", "tasks", "create", "--name", name, "--command", "true")
            expect(r.rc in (0, 69), f"a create on {old['name']} after SIGCONT exited {r.rc}: {r.text()}")
            wait_for(lambda: (director_status(run, old) or {}).get("role") == "standby", 15,
                     f"{old['name']} to stand by")
            back = time.monotonic() - t0
            lead = leader(run, refresh=True, wait=10)
            expect(lead is not old, f"{old['name']} leads again")
            made = [t for t in mesh.tasks() if t["spec"]["name"] == name]
            want = 1 if r.ok else 0
            expect(len(made) == want, f"{len(made)} tasks named {name} after exit {r.rc} (want {want})")
            with open(log, errors="replace") as f:
                f.seek(offset)
                since = f.read().splitlines()
            granted = [x for x in since if "mesh: placed" in x or "leading director (" in x]
            expect(not granted, f"{old['name']} placed or led after SIGCONT: {granted[:2]}")
            fenced = next((x for x in since if "no longer" in x), "")
            answer = (f"exit 69 ({r.text()[:120]})" if r.rc == 69 else
                      f"forwarded to {lead['name']}, which created it once")
            return (f"right after SIGCONT a create on {old['name']}: {answer}; it stood by in {back:.1f}s; "
                    f"its log since: no placement" + (f", '{fenced.split('] ')[-1][:120]}'" if fenced else ""))
        ok &= c.check("recovery.director-pause.deposed_grants_nothing", deposed_fn)
        ok &= c.check("recovery.director-pause.task_completed", lambda: _ran_once(run, mesh, rec))
    else:
        members = state.etcd_members(run)
        hit = [state.etcd_member(run, n) for n in rec["etcdStopped"]]

        def back_fn():
            for m in hit:
                etcd.start(run, m)
            rec["outageSeconds"] = outage = round(time.time() - rec["stoppedAt"], 1)
            state.save(run)
            etcd.wait_healthy(members, timeout=30)
            lead = leader(run, refresh=True, wait=30)
            _etcd_seen(run, len(members), 15)
            return (f"{', '.join(m['name'] for m in hit)} restarted on their data dirs after {outage:.1f}s; "
                    f"{len(members)} of {len(members)} healthy; {lead['name']} leads")
        name = "member_rejoined" if fault == "etcd-member-down" else "quorum_back"
        ok &= c.check(f"recovery.{fault}.{name}", back_fn)
        if fault == "etcd-quorum-loss":
            ok &= c.check("recovery.etcd-quorum-loss.task_completed", lambda: _ran_once(run, mesh, rec))

        def nothing_lost_fn():
            now = _snapshot(mesh)
            before = rec["tasksBefore"]
            lost = [tid for tid in before if tid not in now]
            expect(not lost, f"tasks lost: {lost}")
            ended = ("succeeded", "failed", "cancelled")
            changed = [tid for tid, st in before.items() if st in ended and now[tid] != st]
            expect(not changed, f"ended tasks changed state: {changed}")
            out = f"all {len(before)} tasks from before the fault still listed, ended ones unchanged"
            if fault == "etcd-member-down":
                lead = leader(run)["name"]
                expect(lead == rec["leaderBefore"], f"the lead moved from {rec['leaderBefore']} to {lead}")
                return out + f"; {lead} led throughout"
            refused = [t for t in mesh.tasks() if t["spec"]["name"] == rec.get("refused")]
            expect(len(refused) <= 1, f"the refused create made {len(refused)} tasks")
            if refused:
                t = mesh.succeeds(refused[0]["id"], timeout=40)
                return out + (f"; the create refused during the outage committed once quorum returned "
                              f"(a create in doubt): {t['id']}, succeeded on attempt {t['attempts']}")
            return out + "; the create refused during the outage made no task"
        ok &= c.check(f"recovery.{fault}.no_task_lost", nothing_lost_fn)

        def placed_fn():
            tid = _new_task(mesh, f"lab-after-{fault}-{seq}")
            return f"{tid} placed by {leader(run)['name']} and succeeded"
        ok &= c.check(f"recovery.{fault}.new_task_placed", placed_fn)
    return ok
