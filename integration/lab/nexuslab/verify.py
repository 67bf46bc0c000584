"""labctl verify: every check of the lab, as named assertions.

Order: recovery from faults injected since the last verify (faults.py),
then health from the host and from inside each namespace, each node's auth
set-up, the connectivity matrix, the fleet, tasks and leases, governance,
trust tiers, entitlements, network negatives and persistence. --deep adds
multi-step work (checkpoint, migration, fencing), retry, cancel, large
results and a burst of placements.
"""
import hashlib
import os
import shutil
import tempfile
import time

from . import LabError, etcd, faults, matrix, net, nodes, state
from .checks import (Checks, Mesh, NotApplicable, expect, file_in, peers, wait_for,
                     workers)
from .lab import director_status, leader, non_directors, operator, restart_leader, say, wait_fleet_ready


def matrix_runner_default():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [os.path.join(here, "labctl"), "probe"]


def runner_env(run):
    env = dict(os.environ)
    env["LAB_RUN_ID"] = run["runId"]
    env["LAB_DIR"] = run["labDir"]
    return env


def run_matrix(run):
    argv = matrix.runner_argv(matrix_runner_default())
    return matrix.run_matrix([{"name": n["name"], "address": n["address"]} for n in run["nodes"]],
                             argv, env=runner_env(run))


class Verifier:
    def __init__(self, run, deep):
        self.run, self.deep = run, deep
        self.mesh = Mesh(run)
        self.c = Checks(run, "verify")
        self.seq = run["seq"]
        self.node_results = {}
        self.notes = {}  # (ok, detail) recorded by one check for another to assert

    def noted(self, key):
        """A check asserting what an earlier check noted under `key`."""
        def fn():
            ok, detail = self.notes.get(key, (False, "the check that records this did not get that far"))
            expect(ok, detail)
            return detail
        return fn

    # ---- health ----
    def host_health(self, n):
        def fn():
            expect(nodes.alive(n), f"nexusd (pid {n.get('pid')}) is not running")
            r = nodes.nx(self.run, n, "status", timeout=20)
            expect(r.ok, f"status over the Unix socket: {r.text()}")
            mnt = nodes.mountpoint(n)
            path = os.path.join(mnt, f"lab-health-{self.seq}")
            body = f"{n['name']} {self.seq}\n"
            with open(path, "w") as f:
                f.write(body)
            with open(path) as f:
                expect(f.read() == body, f"read back through {mnt} differs")
            os.unlink(path)
            return f"pid {n['pid']}, socket and mount answer"
        return fn

    def ns_health(self, n):
        def fn():
            h = nodes.http_health(n, n)
            expect(h.ok, f"HTTP /health at {n['address']}: {h.text()}")
            r = nodes.nx_remote(self.run, n, n, "status", timeout=20)
            expect(r.ok, f"status over TLS at {n['address']}:{nodes.CTL_PORT}: {r.text()}")
            return f"HTTP /health and TLS control at {n['address']}"
        return fn

    def auth(self, n):
        """Each node's auth set-up, from another node's namespace."""
        others = [m for m in self.run["nodes"] if m is not n]
        src = others[0] if others else n

        def fn():
            ok = nodes.nx_remote(self.run, src, n, "whoami")
            expect(ok.ok, f"the lab's key for {n['name']}: {ok.text()}")
            bad = nodes.nx_remote(self.run, src, n, "status", key="nxk_not-a-key")
            expect(not bad.ok, "a made-up API key was accepted")
            if n["auth"] == "tls":
                # Another node's certificate (directors on etcd share one).
                wrong_ca = next((m["cert"] for m in self.run["nodes"] if m["role"] != "director"), None)
                if wrong_ca:
                    r = nodes.nx_remote(self.run, src, n, "status", ca=wrong_ca)
                    expect(not r.ok, "a certificate from another CA was accepted")
                admin = nodes.nx_remote(self.run, src, n, "admin", "list-users")
                expect(admin.ok, f"the operator key cannot administer: {admin.text()}")
                return "TLS chain checked (another CA refused), operator key administers, a wrong key refused"
            admin = nodes.nx_remote(self.run, src, n, "admin", "list-users")
            if n["auth"] == "api-key":
                expect(admin.ok, f"the admin key cannot administer: {admin.text()}")
                return "admin key administers, a wrong key refused"
            expect(not admin.ok and _error_code(admin) == "permissionDenied",
                   f"a scoped key could administer: {admin.text() or 'accepted'}")
            return "scoped key reads, is refused admin calls; a wrong key refused"
        return fn

    # ---- fleet ----
    def fleet_listing(self):
        f = self.mesh.nodes()
        problems = []
        for n in non_directors(self.run):
            info = f.get(n.get("nodeId"))
            if not info:
                problems.append(f"{n['name']} ({n.get('nodeId')}) not listed")
                continue
            want_trust = "trusted" if n["role"] == "worker" else "untrusted"
            if info["name"] != n["name"] or info["state"] != "ready" or info["trust"] != want_trust:
                problems.append(f"{n['name']}: {info['name']} {info['state']} {info['trust']}")
        expect(not problems, "; ".join(problems))
        return f"{len(non_directors(self.run))} nodes ready; workers trusted, peers untrusted"

    def membership(self, n):
        def fn():
            r = nodes.nx(self.run, n, "mesh", "status")
            expect(r.ok, r.text())
            j = r.json()
            if n["role"] == "director":
                expect(j.get("director"), f"not a director: {j}")
                store = self.run.get("store", "sqlite")
                expect(j.get("store") == store, f"store {j.get('store')}, not {store}")
                if store == "etcd":
                    expect(j.get("role") in ("leader", "standby"), f"role {j.get('role')}")
                    return f"{j['role']} on etcd; the leader is {j.get('leader')}"
                return f"directs {j.get('nodes')} nodes, {j.get('tasks')} tasks"
            expect(j.get("node_id") == n["nodeId"], f"node id {j.get('node_id')} != {n['nodeId']}")
            addrs = [f"{d['address']}:" for d in state.directors(self.run)]
            expect(any(j.get("director_address", "").startswith(a) for a in addrs),
                   f"director {j.get('director_address')}")
            expect(bool(j.get("worker")) == (n["role"] == "worker"), f"worker flag {j.get('worker')}")
            return f"{j['node_id']} of {j['director_address']}"
        return fn

    def probe_join(self):
        """A fresh daemon: a blackholed director address, a wrong key, then the right key."""
        d = leader(self.run, refresh=True)
        host = self.run["nodes"][-1]
        probe = {"name": f"probe{self.seq}", "role": "peer", "auth": "api-key",
                 "netns": host["netns"], "address": host["address"],
                 "dir": os.path.join(self.run["dir"], "probes", f"probe{self.seq}")}
        results = {}
        try:
            nodes.start(self.run, probe, wait=30,
                        args=["--data-dir", f"{probe['dir']}/data", "--mount", f"{probe['dir']}/mnt",
                              "--node-name", probe["name"], "--log-level", "info"])
            with open(self.run["registrationKeyFile"]) as f:
                key = f.read().strip()
            t0 = time.monotonic()
            r = nodes.nx(self.run, probe, "mesh", "register", "--director",
                         f"{net.UNUSED_HOST}:{nodes.CTL_PORT}", "--registration-key", key,
                         "--ca", d["cert"], "--name", probe["name"], timeout=60)
            took = time.monotonic() - t0
            results["blackhole"] = (not r.ok and took < 20,
                                    f"join via {net.UNUSED_HOST} (no host) refused in {took:.1f}s: "
                                    f"{r.text()[:120]}" if not r.ok else "a join to nowhere succeeded")
            alive = nodes.nx(self.run, probe, "status", timeout=20)
            if not alive.ok:
                results["blackhole"] = (False, "the daemon stopped answering after the failed join")
            r = nodes.nx(self.run, probe, "mesh", "register", "--director",
                         f"{d['address']}:{nodes.CTL_PORT}", "--registration-key", "not-the-key",
                         "--ca", d["cert"], "--name", probe["name"])
            listed = [x for x in self.mesh.nodes().values() if x["name"] == probe["name"]]
            results["wrong_key"] = (not r.ok and not listed and
                                    ("registration key" in r.text() or "unauthenticated" in r.text()),
                                    f"wrong key: {r.text()[:160]}" if not r.ok else "a wrong key joined")
            r = nodes.nx(self.run, probe, "mesh", "register", "--director",
                         f"{d['address']}:{nodes.CTL_PORT}", "--registration-key", key,
                         "--ca", d["cert"], "--name", probe["name"])
            if r.ok:
                nid = r.json()["node_id"]
                info = self.mesh.nodes().get(nid, {})
                results["register"] = (info.get("state") == "ready" and info.get("trust") == "untrusted",
                                       f"joined as {nid}: {info.get('state')}, {info.get('trust')}")
                self.mesh.call("mesh", "revoke", nid)  # the probe goes away; keep it out of work
            else:
                results["register"] = (False, f"the right key was refused: {r.text()}")
        finally:
            nodes.stop(probe, wait=20)
            nodes.clear_mount(probe)
            shutil.rmtree(probe["dir"], ignore_errors=True)
        return results

    # ---- the control plane on etcd ----
    def one_leader(self):
        ds = state.directors(self.run)
        lead = leader(self.run, refresh=True, wait=15)
        want = sorted(f"{d['address']}:{nodes.CTL_PORT}" for d in ds if d is not lead)
        lead_addr = f"{lead['address']}:{nodes.CTL_PORT}"
        for d in ds:
            st = director_status(self.run, d)
            expect(st, f"{d['name']} does not answer mesh status")
            if d is not lead:
                expect(st.get("role") == "standby" and st.get("leader") == lead_addr,
                       f"{d['name']}: {st.get('role')}, leader {st.get('leader')}")
        # The leader learns of standbys from its election view, refreshed in the background.
        wait_for(lambda: sorted((director_status(self.run, lead) or {}).get("standbys", [])) == want, 10,
                 f"{lead['name']} to list {want} as standbys")
        return f"{lead['name']} leads; standing by: {', '.join(d['name'] for d in ds if d is not lead) or 'none'}"

    def etcd_healthy(self):
        members = state.etcd_members(self.run)
        bad = [f"{m['name']}: {d}" for m, (ok, d) in zip(members, etcd.health_all(members)) if not ok]
        expect(not bad, "; ".join(bad))
        lead = leader(self.run)
        wait_for(lambda: ((director_status(self.run, lead) or {}).get("etcd") or {}).get("healthy")
                        == len(members), 10, f"{lead['name']} to see every member healthy")
        return (f"{len(members)} of {len(members)} members healthy (etcdctl in each namespace, "
                f"and as {lead['name']} sees them)")

    # ---- tasks ----
    def placement(self):
        name = f"lab-verify-{self.seq}"
        tid = self.mesh.create(name, f"echo {name} > /zone/{name}.txt; echo ran in $(pwd)")
        t = self.mesh.succeeds(tid, timeout=40)
        return tid, t

    def task_placement(self):
        tid, t = self._placed
        ws = {n["nodeId"]: n for n in workers(self.run)}
        final = self.mesh.task(tid)
        # node_id is cleared when a task ends: find where it ran by its file.
        ran = [n for n in ws.values() if os.path.exists(file_in(n, f"lab-verify-{self.seq}.txt"))]
        expect(len(ran) == 1, f"task {tid}'s file is on {len(ran)} workers")
        return f"{tid} placed on {ran[0]['name']} ({ran[0]['nodeId']}), a trusted worker; {final['state']}"

    def autonomous(self):
        tid, t = self._placed
        out = tempfile.mkdtemp(prefix="lab-result-")
        try:
            r = operator(self.run, "mesh", "tasks", "result", tid, "-o", out)
            expect(r.ok, f"result: {r.text()}")
            with open(os.path.join(out, "stdout")) as f:
                text = f.read()
            expect("ran in /zone" in text, f"stdout {text!r}")
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return f"{tid} ran with no operator step; stdout downloaded and its SHA-256 checked"

    def lease_observed(self):
        tid = self.mesh.create(f"lab-lease-{self.seq}", "sleep 5; echo leased")
        t = self.mesh.wait_state(tid, "running", timeout=30)
        first = t["lease_expires_ns"]
        expect(first > 0 and not t["lease_token"], f"running without a lease expiry or showing its token: {t}")
        later = self.mesh.wait_task(
            tid, lambda x: x["lease_expires_ns"] > first or x["state"] != "running",
            self.run["mesh"]["leaseTtl"], "the lease to be extended")
        expect(later["state"] == "running", f"the task ended before an extension: {later['state']}")
        wrong = self.mesh.raw("mesh", "tasks", "extend", tid, "--token", "0" * 32)
        self.notes["conflict"] = (not wrong.ok and "conflict" in wrong.text().lower(),
                                  wrong.text()[:160] if not wrong.ok else "a wrong token extended the lease")
        t = self.mesh.succeeds(tid, timeout=40)
        expect(t["lease_expires_ns"] == 0 and not t["node_id"], f"the lease outlived the task: {t}")
        expect(t["attempts"] == 1, f"{t['attempts']} attempts")
        return (f"{tid}: assigned, running with its lease extended "
                f"({(later['lease_expires_ns'] - first) / 1e9:+.1f}s), succeeded, lease cleared")

    def manual_lifecycle(self):
        ps = peers(self.run)
        if not ps:
            raise NotApplicable("no peer node (a joined node that runs no tasks) in this lab")
        peer_ids = {p["nodeId"] for p in ps}
        with self.mesh.drained(workers(self.run)):
            tid, placed = self.mesh.schedule_by_hand(f"lab-manual-{self.seq}", "true", "--trust", "untrusted")
            token = placed["lease_token"]
            expect(placed["node_id"] in peer_ids, f"placed on {placed['node_id']}, not a peer")
        steps = [("start", []), ("progress", ["--progress", "step 1 of 2", "--checkpoint", "ckpt-1"]),
                 ("extend", ["--ttl", "30"])]
        for step, extra in steps:
            r = self.mesh.raw("mesh", "tasks", step, tid, "--token", token, *extra)
            expect(r.ok, f"{step}: {r.text()}")
        got = self.mesh.task(tid)
        expect(got["state"] == "running" and got["progress"] == "step 1 of 2" and
               got["checkpoint_ref"] == "ckpt-1", f"after start/progress: {got}")
        wrong = self.mesh.raw("mesh", "tasks", "complete", tid, "--token", "f" * 32, "--exit-code", "0")
        expect(not wrong.ok and "conflict" in wrong.text().lower(), f"wrong token: {wrong.text()}")
        with tempfile.NamedTemporaryFile("w", suffix=".out") as out:
            out.write("done by hand\n")
            out.flush()
            r = self.mesh.raw("mesh", "tasks", "complete", tid, "--token", token, "--exit-code", "0",
                              "--stdout", out.name)
        expect(r.ok, f"complete: {r.text()}")
        t = self.mesh.task(tid)
        expect(t["state"] == "succeeded" and t["lease_expires_ns"] == 0 and t["has_result"],
               f"after complete: {t}")
        again = self.mesh.raw("mesh", "tasks", "extend", tid, "--token", token)
        expect(not again.ok, "the token still worked after the task ended")
        return (f"{tid} on peer {placed['node_id']}: schedule, start, progress+checkpoint, "
                "extend, wrong token refused, complete, lease cleared, the spent token refused")

    # ---- governance, trust, entitlements ----
    def _only(self, w):
        """Drains every worker but `w` for the block."""
        return self.mesh.drained([x for x in workers(self.run) if x is not w])

    def rotation(self):
        w = workers(self.run)[0]
        before = nodes.nx(self.run, w, "mesh", "status").json()["fingerprint"]
        # With several directors the node may dial a standby first; it asks
        # the next director itself, so one call must do.
        r = nodes.nx(self.run, w, "mesh", "rotate-credential")
        expect(r.ok, f"rotate-credential: {r.text()}")
        after = r.json()["fingerprint"]
        expect(after and after != before, f"fingerprint {before} -> {after}")
        listed = self.mesh.nodes()[w["nodeId"]]["fingerprint"]
        expect(listed == after, f"the director lists {listed}")
        with self._only(w):
            tid = self.mesh.create(f"lab-rotated-{self.seq}", "true")
            self.mesh.succeeds(tid, what="work after rotation")
        return f"{w['name']}: {before} -> {after}; it still gets and finishes work"

    def revoke_admit(self):
        w = workers(self.run)[0]
        with self._only(w):
            self.mesh.call("mesh", "revoke", w["nodeId"])
            try:
                tid = self.mesh.create(f"lab-revoked-{self.seq}", "true")
                self.mesh.stays(tid, "pending", 3)
                self.notes["revoked"] = (True, f"{tid} stayed pending while {w['name']} was revoked")
            finally:
                self.mesh.call("mesh", "admit", w["nodeId"])
            self.mesh.wait_node(w["nodeId"], "ready", 10)
            self.mesh.succeeds(tid, timeout=30, what="after admit")
        return f"{tid} ran once {w['name']} was admitted"

    def trust_tiers(self):
        ws = workers(self.run)
        self.mesh.set_trust(ws, "untrusted")
        try:
            tid = self.mesh.create(f"lab-trust-{self.seq}", "true")
            self.mesh.stays(tid, "pending", 3)
        finally:
            self.mesh.set_trust(ws, "trusted")
        self.mesh.succeeds(tid, timeout=30, what="after trusting")
        return f"{tid} waited while every node was untrusted, ran once workers were trusted again"

    def entitlements(self):
        d = leader(self.run, refresh=True)
        src = workers(self.run)[-1]
        r = nodes.nx(self.run, d, "admin", "create-user", f"lab-bot-{self.seq}", "--subject-type", "agent")
        expect(r.ok, f"create-user: {r.text()}")
        key, kid = r.json()["key"]["api_key"], r.json()["key"]["id"]
        r = nodes.nx(self.run, d, "admin", "key-entitlements", kid, "--tasks", "deny")
        expect(r.ok, f"key-entitlements: {r.text()}")
        denied = nodes.nx_remote(self.run, src, d, "mesh", "tasks", "create", "--name", "nope",
                                 "--command", "true", key=key)
        code = _error_code(denied)
        self.notes["denied"] = (not denied.ok and code == "permissionDenied",
                                f"submission refused from {src['name']}: {code}: {denied.text()[:100]}")
        r = nodes.nx(self.run, d, "admin", "key-entitlements", kid, "--tasks", "allow", "--task-quota", "1")
        expect(r.ok, f"key-entitlements: {r.text()}")
        first = nodes.nx_remote(self.run, src, d, "mesh", "tasks", "create", "--name", "one",
                                "--command", "true", key=key)
        second = nodes.nx_remote(self.run, src, d, "mesh", "tasks", "create", "--name", "two",
                                 "--command", "true", key=key)
        expect(first.ok, f"the first submission under quota 1: {first.text()}")
        code = _error_code(second)
        expect(not second.ok and code == "resourceExhausted", f"the second: {code} {second.text()}")
        return f"quota 1/hour: the first submission accepted, the second {code}"

    # ---- network negatives, persistence ----
    def drained_fleet(self):
        lab = non_directors(self.run)
        with self.mesh.drained(lab):
            tid = self.mesh.create(f"lab-drained-{self.seq}", "true")
            t = self.mesh.stays(tid, "pending", 3)
            reason = t.get("reason") or ""
            expect("drained" in reason, f"the waiting task does not say why: {reason!r}")
        self.mesh.succeeds(tid, timeout=30, what="after admit")
        return f"{tid} pending with every node drained ({reason}), ran after admit"

    def partition(self):
        w = workers(self.run)[-1]
        others = [x for x in workers(self.run) if x is not w]
        hb = self.run["mesh"]["heartbeatTimeout"]
        net.set_link(self.run["hub"], w["name"], False)
        try:
            self.mesh.wait_node(w["nodeId"], "down", hb + 8)
            down_detail = f"{w['name']} down within {hb}s heartbeat timeout + slack"
            tid = self.mesh.create(f"lab-partition-{self.seq}", f"echo x > /zone/lab-partition-{self.seq}")
            if others:
                self.mesh.succeeds(tid, timeout=30, what="work during the partition")
                expect(not os.path.exists(file_in(w, f"lab-partition-{self.seq}")),
                       "the partitioned node ran the task")
                placed = "ran on another worker"
            else:
                self.mesh.stays(tid, "pending", 2)
                placed = "waited (no other worker)"
        finally:
            net.set_link(self.run["hub"], w["name"], True)
        self.notes["partition"] = (True, down_detail + f"; new work {placed}")
        self.mesh.wait_node(w["nodeId"], "ready", 30)
        self.mesh.succeeds(tid, timeout=40, what="after healing")
        return f"{w['name']} ready again after the link came back; {tid} succeeded"

    def restart_director(self):
        """Stops and starts the (leading) director; the seconds until one leads again."""
        return restart_leader(self.run)

    def restart_with_lease(self):
        tid = self.mesh.create(f"lab-held-{self.seq}", "sleep 5; echo held")
        self.mesh.wait_state(tid, "running", timeout=30)
        away = self.restart_director()
        t = self.mesh.succeeds(tid, timeout=60)
        ttl = self.run["mesh"]["leaseTtl"]
        expect(t["attempts"] == 1, f"the restart cost {tid} an attempt ({t['attempts']} attempts); "
                                   f"the director was away {away:.1f}s of a {ttl}s lease")
        return (f"{tid} ran through a director restart ({away:.1f}s away, {ttl}s leases) "
                "and finished on its first attempt")

    def persistence(self):
        self.mesh.settled(timeout=60)
        tasks = sorted((t["id"], t["state"]) for t in self.mesh.tasks())
        fleet = sorted((n["id"], n["name"], n["trust"], n["fingerprint"]) for n in self.mesh.nodes().values())
        self.restart_director()
        tasks2 = sorted((t["id"], t["state"]) for t in self.mesh.tasks())
        fleet2 = sorted((n["id"], n["name"], n["trust"], n["fingerprint"]) for n in self.mesh.nodes().values())
        expect(tasks == tasks2, f"tasks changed across the restart: {len(tasks)} -> {len(tasks2)}")
        expect(fleet == fleet2, "the fleet changed across the restart")
        wait_fleet_ready(self.run, timeout=30)
        tid = self.mesh.create(f"lab-after-restart-{self.seq}", "true")
        self.mesh.succeeds(tid, timeout=30, what="work after the restart")
        return f"{len(tasks)} tasks and {len(fleet)} nodes identical after a restart; new work runs"

    # ---- deep ----
    def deep_migrate(self):
        ps = peers(self.run)
        if not ps:
            raise NotApplicable("no peer node in this lab")
        with self.mesh.drained(workers(self.run)):
            tid, placed = self.mesh.schedule_by_hand(f"lab-multistep-{self.seq}", "echo step 2 of 2 done",
                                                     "--trust", "untrusted")
            token = placed["lease_token"]
            for step, extra in (("start", []), ("progress", ["--progress", "step 1 of 2", "--checkpoint", "ckpt-step-1"]),
                                ("extend", ["--ttl", "30"])):
                r = self.mesh.raw("mesh", "tasks", step, tid, "--token", token, *extra)
                expect(r.ok, f"{step}: {r.text()}")
        with self.mesh.drained(ps):  # the migration goes to a worker
            r = self.mesh.raw("mesh", "tasks", "migrate", tid, "--token", token, "--checkpoint", "ckpt-step-1")
            expect(r.ok, f"migrate: {r.text()}")
            moved = r.json()
            stale = self.mesh.raw("mesh", "tasks", "extend", tid, "--token", token)
            expect(not stale.ok and "conflict" in stale.text().lower(),
                   f"the pre-migration token still works: {stale.text()}")
            t = self.mesh.wait_state(tid, ("succeeded", "failed"), timeout=40)
        expect(t["state"] == "succeeded" and t["checkpoint_ref"] == "ckpt-step-1",
               f"after migration: {t['state']} checkpoint {t['checkpoint_ref']!r}")
        expect(t["attempts"] == 1, f"migration counted as an attempt: {t['attempts']}")
        return (f"{tid}: step 1 by hand on {placed['node_id']}, migrated with its checkpoint to "
                f"{moved.get('node_id') or 'the next worker'}, the old token fenced, step 2 by the worker")

    def deep_retry(self):
        w = workers(self.run)[0]
        flag = f"lab-retry-{self.seq}"
        with self._only(w):
            tid = self.mesh.create(flag, f"test -e /zone/{flag} || {{ touch /zone/{flag}; exit 7; }}")
            t = self.mesh.wait_state(tid, ("succeeded", "failed"))
            expect(t["state"] == "failed" and "7" in t.get("reason", ""), f"first run: {t['state']} {t.get('reason')}")
            r = self.mesh.call("mesh", "tasks", "retry", tid)
            expect(r.get("state") == "pending" and r.get("attempts") == 0, f"retry: {r}")
            self.mesh.succeeds(tid, what="after retry")
        return f"{tid} failed with exit 7, was retried by the operator, succeeded"

    def deep_cancel(self):
        w = workers(self.run)[0]
        with self._only(w):
            tid = self.mesh.create(f"lab-cancel-{self.seq}", "sleep 60")
            self.mesh.wait_state(tid, "running", timeout=30)
            self.mesh.call("mesh", "tasks", "cancel", tid)
            t = self.mesh.task(tid)
            expect(t["state"] == "cancelled", f"{tid} {t['state']}")
            # The worker's next extension is refused; it kills the sandbox and
            # reports an empty queue at its next heartbeat.
            wait_for(lambda: self.mesh.nodes()[w["nodeId"]]["queue_depth"] == 0,
                     self.run["mesh"]["leaseTtl"] + 5, f"{w['name']} to stop the cancelled sandbox")
        return f"{tid} cancelled while running; {w['name']} stopped its sandbox at the next extension"

    def deep_large_result(self):
        tid = self.mesh.create(f"lab-large-{self.seq}", "seq 1 100000")
        self.mesh.succeeds(tid)
        out = tempfile.mkdtemp(prefix="lab-result-")
        try:
            r = operator(self.run, "mesh", "tasks", "result", tid, "-o", out)
            expect(r.ok, f"result: {r.text()}")
            with open(os.path.join(out, "stdout"), "rb") as f:
                got = f.read()
        finally:
            shutil.rmtree(out, ignore_errors=True)
        want = "".join(f"{i}\n" for i in range(1, 100001)).encode()
        expect(got == want, f"stdout {len(got)} bytes, sha256 {hashlib.sha256(got).hexdigest()[:16]}, "
                            f"expected {len(want)} bytes")
        return f"{len(got)} bytes of stdout, identical to the command's"

    def deep_burst(self):
        ws = workers(self.run)
        n = 2 * len(ws) * self.run["mesh"]["capacity"]
        ids = [self.mesh.create(f"lab-burst-{self.seq}-{i}", f"sleep 1; echo {i} > /zone/lab-burst-{self.seq}-{i}")
               for i in range(n)]
        for tid in ids:
            self.mesh.succeeds(tid, timeout=90)
        per = {w["name"]: sum(1 for i in range(n) if os.path.exists(file_in(w, f"lab-burst-{self.seq}-{i}")))
               for w in ws}
        expect(sum(per.values()) == n, f"files {per} for {n} tasks")
        if len(ws) > 1:
            expect(all(v > 0 for v in per.values()), f"a worker got nothing: {per}")
        return f"{n} tasks at once: " + ", ".join(f"{k} {v}" for k, v in per.items())

    # ---- all ----
    def run_all(self):
        c, run = self.c, self.run
        faults.recover_all(run, c)
        for n in run["nodes"]:
            h = c.check(f"host_health.{n['name']}", self.host_health(n))
            i = c.check(f"ns_health.{n['name']}", self.ns_health(n))
            self.node_results[n["name"]] = {"health": "pass" if h and i else "fail"}
        for n in run["nodes"]:
            c.check(f"auth.{n['name']}.{n['auth']}", self.auth(n))
        flows = []

        def matrix_fn():
            flows.extend(run_matrix(run))
            s = matrix.summarize(flows)
            expect(not s["failed"], "failing flows: " + ", ".join(s["failed"]))
            return f"{s['flows']} directed flows: reach and control healthy"
        c.check("matrix_all_flows", matrix_fn)
        c.check("fleet_listing", self.fleet_listing)
        if run.get("store") == "etcd":
            c.check("control_plane.one_leader", self.one_leader)
            c.check("control_plane.etcd_healthy", self.etcd_healthy)
        for n in run["nodes"]:
            ok = c.check(f"mesh_membership.{n['name']}", self.membership(n))
            self.node_results[n["name"]]["mesh"] = "pass" if ok else "fail"

        def probe_fn():
            self.notes.update(self.probe_join())
            return self.noted("register")()
        c.check("fleet_registration_new_node", probe_fn)
        c.check("registration_key_enforced", self.noted("wrong_key"))
        c.check("blackhole_address_bounded", self.noted("blackhole"))
        def placed_fn():
            self._placed = self.placement()
            return f"{self._placed[0]} succeeded"
        if c.check("task_succeeded", placed_fn):
            c.check("task_placement", self.task_placement)
            c.check("worker_autonomous_execution", self.autonomous)
        c.check("lease_lifecycle_observed", self.lease_observed)
        c.check("lease_wrong_token_conflict", self.noted("conflict"))
        c.check("lease_lifecycle_manual", self.manual_lifecycle)
        c.check("credential_rotation", self.rotation)
        c.check("admit_restores_placement", self.revoke_admit)
        c.check("revoke_blocks_placement", self.noted("revoked"))
        c.check("trust_tier_placement", self.trust_tiers)
        c.check("entitlement_hourly_quota", self.entitlements)
        c.check("entitlement_submit_denied", self.noted("denied"))
        c.check("drained_fleet_refuses_placement", self.drained_fleet)
        c.check("partition_heals", self.partition)
        c.check("partition_marks_node_down", self.noted("partition"))
        c.check("director_restart_with_lease_held", self.restart_with_lease)
        c.check("director_restart_persistence", self.persistence)
        if self.deep:
            c.check("deep_multi_step_migrate", self.deep_migrate)
            c.check("deep_retry_after_failure", self.deep_retry)
            c.check("deep_cancel_stops_sandbox", self.deep_cancel)
            c.check("deep_large_result_intact", self.deep_large_result)
            c.check("deep_burst_placement", self.deep_burst)
        run["lastNodeResults"] = self.node_results
        return c.record(), flows


def _error_code(out):
    try:
        return out.json()["error"]["code"]
    except (LabError, KeyError, TypeError):
        return ""


def verify(run, deep):
    say(f"verifying {run['runId']}{' (deep)' if deep else ''}")
    v = Verifier(run, deep)
    phase, flows = v.run_all()
    return phase
