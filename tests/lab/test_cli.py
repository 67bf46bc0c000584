"""labctl's command line, offline: usage errors before anything starts, and
`down` of runs whose namespaces and processes are already gone (soak hold,
--force, --expired)."""
import contextlib
import io
import json
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "integration", "lab"))

from nexuslab import cli, lab, state, stress  # noqa: E402


def labctl(*args):
    """(exit status, stdout, stderr) of labctl with `args`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = cli.main(list(args))
        except SystemExit as e:  # argparse
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


class UsageTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="labctl-test-")

    def tearDown(self):
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)

    def assertUsage(self, *args, says):
        rc, _, err = labctl(*args, "--lab-dir", self.dir)
        self.assertEqual(rc, 64, err)
        self.assertIn(says, err)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "runs")), "a refused up created a run")

    def test_bad_up_arguments_fail_before_anything_starts(self):
        self.assertUsage("up", "--ttl", "10x", says="not a duration")
        self.assertUsage("up", "--ttl", "30s", says="at least")
        self.assertUsage("up", "--ttl", "30m", "--nodes", "1", says="--nodes 1")
        self.assertUsage("up", "--ttl", "30m", "--nodes", "13", says="--nodes 13")
        self.assertUsage("up", "--ttl", "30m", "--nodes", "3", "--workers", "3", says="--workers 3")
        self.assertUsage("up", "--ttl", "30m", "--nodes", "3", "--workers", "0", says="--workers 0")
        self.assertUsage("up", "--ttl", "30m", "--scenario", "Not OK", says="scenario")
        self.assertUsage("up", "--ttl", "30m", "--lease-ttl", "2", says="--lease-ttl 2")
        self.assertUsage("up", "--ttl", "30m", "--capacity", "0", says="--capacity 0")
        self.assertUsage("up", "--profile", "huge", says="invalid choice")

    def test_bad_store_arguments_fail_before_anything_starts(self):
        self.assertUsage("up", "--ttl", "30m", "--directors", "2", says="needs --store etcd")
        self.assertUsage("up", "--ttl", "30m", "--etcd", "3", says="--etcd N is for --store etcd")
        self.assertUsage("up", "--ttl", "30m", "--election-ttl", "3", says="--election-ttl is for --store etcd")
        self.assertUsage("up", "--ttl", "30m", "--store", "etcd", "--etcd", "2", says="--etcd 2: an odd number")
        self.assertUsage("up", "--ttl", "30m", "--store", "etcd", "--etcd", "7", says="--etcd 7")
        self.assertUsage("up", "--ttl", "30m", "--store", "etcd", "--directors", "4", says="--directors 4")
        self.assertUsage("up", "--ttl", "30m", "--store", "etcd", "--directors", "0", says="--directors 0")
        self.assertUsage("up", "--ttl", "30m", "--store", "etcd", "--directors", "2", "--nodes", "2",
                         says="--nodes 2: 3..")
        self.assertUsage("up", "--ttl", "30m", "--store", "etcd", "--lease-ttl", "5", "--election-ttl", "6",
                         says="--election-ttl 6: 1..5")
        self.assertUsage("up", "--ttl", "30m", "--store", "zookeeper", says="invalid choice")

    def test_standby_directors_come_first_then_peers_then_workers(self):
        self.assertEqual(lab.plan_nodes(4, None, 2), [("n1", "director", "tls"), ("n2", "director", "tls"),
                                                      ("n3", "peer", "scoped-key"), ("n4", "worker", "api-key")])
        self.assertEqual([r for _, r, _ in lab.plan_nodes(5, 2, 2)],
                         ["director", "director", "peer", "worker", "worker"])
        self.assertEqual([r for _, r, _ in lab.plan_nodes(3, None, 2)], ["director", "director", "worker"])
        self.assertEqual(lab.plan_nodes(3, None), [("n1", "director", "tls"), ("n2", "peer", "api-key"),
                                                   ("n3", "worker", "scoped-key")])
        self.assertEqual(lab.check_store("etcd", None, 2), (3, 2))
        self.assertEqual(lab.check_store("sqlite", None, 1), (0, 1))

    def test_no_command_and_unknown_command(self):
        self.assertEqual(labctl()[0], 64)
        self.assertEqual(labctl("launch")[0], 64)

    def test_commands_on_no_run_fail_cleanly(self):
        for args in (["verify"], ["failover", "--fault", "drain"], ["smoke", "--out", "/dev/null"],
                     ["evidence", "collect", "--out", self.dir + "/ev"], ["down"]):
            rc, _, err = labctl(*args, "--lab-dir", self.dir)
            self.assertEqual(rc, 1, args)
            self.assertIn("no lab run", err)
        rc, _, err = labctl("verify", "--lab-dir", self.dir, "--run-id", "not-a-run")
        self.assertEqual(rc, 64)
        self.assertIn("is not a run id", err)

    def test_stress_caps_are_usage_errors(self):
        for args, says in ((["--workers", "17", "--steps", "1", "--requests", "1"], "--workers 17"),
                           (["--workers", "4", "--steps", "11", "--requests", "1"], "--steps 11"),
                           (["--workers", "4", "--steps", "2", "--requests", "201"], "--requests 201"),
                           (["--workers", "16", "--steps", "10", "--requests", "200"], "at most 10000"),
                           (["--workers", "4", "--steps", "2", "--requests", "5", "--max-seconds", "5"],
                            "--max-seconds 5")):
            rc, _, err = labctl("stress", "--lab-dir", self.dir, *args)
            self.assertEqual(rc, 64, args)
            self.assertIn(says, err)

    def test_the_ramp_grows_to_k_clients(self):
        self.assertEqual(stress.plan(4, 3, 20), [2, 3, 4])
        self.assertEqual(stress.plan(1, 1, 1), [1])
        self.assertEqual(stress.plan(16, 4, 10), [4, 8, 12, 16])


class DownTest(unittest.TestCase):
    """down on runs whose processes and namespaces are gone (nothing to stop)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="labctl-test-")

    def tearDown(self):
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)

    def make_run(self, rid, profile="minimal", age=0.0, ttl=1800, members=0):
        d = state.run_dir(self.dir, rid)
        run = {"runId": rid, "scenario": profile, "profile": profile, "dir": d, "labDir": self.dir,
               "createdAt": time.time() - age, "ttl": "30m", "ttlSeconds": ttl, "commit": "unknown",
               "tag": "000000", "hub": "nxltest-absent-hub", "state": "up", "teardown": "pending",
               "nodes": [{"name": "n1", "role": "director", "auth": "tls", "netns": "nxltest-absent-n1",
                          "address": "10.77.0.11", "dir": os.path.join(d, "nodes", "n1"), "pid": 0}],
               "phases": [], "faults": [], "evidence": [], "seq": 0}
        if members:
            run["store"] = "etcd"
            run["etcd"] = {"members": [{"name": f"e{i}", "netns": f"nxltest-absent-e{i}",
                                        "address": f"10.77.0.{40 + i}", "dir": os.path.join(d, "etcd", f"e{i}"),
                                        "pid": 0} for i in range(1, members + 1)]}
        os.makedirs(os.path.join(d, "nodes", "n1"))
        state.save(run)
        return d

    def test_faults_this_lab_cannot_take_are_usage_errors(self):
        self.make_run("20261124T100000Z-nexuslab-minimal")
        for fault, says in (("etcd-member-down", "needs a lab on etcd"), ("etcd-quorum-loss", "needs a lab on etcd"),
                            ("director-pause", "needs a standby director")):
            rc, _, err = labctl("failover", "--fault", fault, "--lab-dir", self.dir)
            self.assertEqual(rc, 64, err)
            self.assertIn(says, err)
        self.make_run("20261124T110000Z-nexuslab-minimal", members=1)
        rc, _, err = labctl("failover", "--fault", "etcd-member-down", "--lab-dir", self.dir)
        self.assertEqual(rc, 64, err)
        self.assertIn("at least 3 etcd members", err)
        self.make_run("20261124T120000Z-nexuslab-minimal", members=3)
        rc, _, err = labctl("failover", "--fault", "etcd-member-down", "--target", "e9", "--lab-dir", self.dir)
        self.assertEqual(rc, 64, err)
        self.assertIn("no etcd member 'e9'", err)
        run = state.load(self.dir)
        self.assertEqual((run["faults"], run["phases"]), ([], []), "a refused fault was recorded")

    def test_status_shows_the_store_and_etcd_members(self):
        self.make_run("20261124T100000Z-nexuslab-minimal")
        rc, out, err = labctl("status", "--json", "--lab-dir", self.dir)
        self.assertEqual(rc, 0, err)
        r = json.loads(out)["runs"][0]
        self.assertEqual((r["store"], r["leader"]), ("sqlite", "n1"))
        self.make_run("20261124T110000Z-nexuslab-minimal", members=3)
        rc, out, err = labctl("status", "--json", "--lab-dir", self.dir)
        self.assertEqual(rc, 0, err)
        r = json.loads(out)["runs"][0]
        self.assertEqual(r["store"], "etcd")
        self.assertIsNone(r["leader"])  # nothing runs
        self.assertEqual([(m["name"], m["running"], m["healthy"]) for m in r["etcd"]],
                         [("e1", False, False), ("e2", False, False), ("e3", False, False)])
        rc, out, _ = labctl("status", "--lab-dir", self.dir)
        self.assertIn("store etcd, leader NONE", out)
        self.assertIn("e3   etcd", out)

    def test_down_expired_removes_only_runs_past_their_ttl(self):
        old = self.make_run("20261124T100000Z-nexuslab-minimal", age=3600)
        new = self.make_run("20261124T110000Z-nexuslab-minimal", age=10)
        rc, out, err = labctl("down", "--expired", "--lab-dir", self.dir, "--json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["removed"], ["20261124T100000Z-nexuslab-minimal"])
        self.assertFalse(os.path.exists(old))
        self.assertTrue(os.path.exists(new))
        rc, out, err = labctl("down", "--expired", "--lab-dir", self.dir)
        self.assertEqual(rc, 0)
        self.assertIn("no expired run", err)

    def test_a_soak_run_is_held_until_its_ttl_unless_forced(self):
        d = self.make_run("20261124T100000Z-nexuslab-soak", profile="soak", age=10)
        rc, _, err = labctl("down", "--lab-dir", self.dir)
        self.assertEqual(rc, 1)
        self.assertIn("soak run held until its TTL", err)
        self.assertTrue(os.path.exists(d))
        rc, _, err = labctl("down", "--lab-dir", self.dir, "--force")
        self.assertEqual(rc, 0, err)
        self.assertFalse(os.path.exists(d))

    def test_down_defaults_to_the_most_recent_run(self):
        older = self.make_run("20261124T100000Z-nexuslab-minimal")
        newer = self.make_run("20261124T100000Z-nexuslab-minimal.2")
        rc, _, err = labctl("down", "--lab-dir", self.dir)
        self.assertEqual(rc, 0, err)
        self.assertFalse(os.path.exists(newer))
        self.assertTrue(os.path.exists(older))

    def test_down_and_expired_exclude_each_other(self):
        self.make_run("20261124T100000Z-nexuslab-minimal")
        rc, _, _ = labctl("down", "--expired", "--run-id", "20261124T100000Z-nexuslab-minimal",
                          "--lab-dir", self.dir)
        self.assertEqual(rc, 64)


if __name__ == "__main__":
    unittest.main()
