"""Tests for nexuslab.matrix, run offline against stub_runner.sh."""
import os
import shlex
import shutil
import stat
import sys
import tempfile
import time
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "..", "integration", "lab")))

from nexuslab import matrix  # noqa: E402

STUB = os.path.join(HERE, "stub_runner.sh")
RUN_ID = "20261124T131500Z-nexuslab-minimal"
NODES = [
    {"name": "n1", "address": "10.77.0.11"},
    {"name": "n2", "address": "10.77.0.12"},
    {"name": "n3", "address": "10.77.0.13"},
]
ADDRESS = {n["name"]: n["address"] for n in NODES}
PAIRS = {(a, b) for a in ADDRESS for b in ADDRESS if a != b}
FIELDS = {"src", "dst", "srcAddress", "dstAddress", "reach", "ctl", "reachMs", "ctlMs",
          "reachDetail", "ctlDetail", "result"}


def stub_env(**stub):
    """This process's environment without stub settings, plus `stub`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("STUB_") and k != "MATRIX_RUNNER"}
    env.update(stub)
    return env


def by_pair(flows):
    return {(f["src"], f["dst"]): f for f in flows}


def flow(src, dst, reach="pass", ctl="pass"):
    """A hand-made flow for the pure functions."""
    return {"src": src, "dst": dst, "srcAddress": "", "dstAddress": "", "reach": reach,
            "ctl": ctl, "reachMs": 1.0, "ctlMs": 1.0, "reachDetail": "", "ctlDetail": "",
            "result": "pass" if reach == ctl == "pass" else "fail"}


class RunMatrixTest(unittest.TestCase):
    def run_stub(self, nodes=NODES, timeout=5.0, **stub):
        return matrix.run_matrix(nodes, [STUB], env=stub_env(**stub), timeout=timeout)

    def test_stub_is_executable(self):
        self.assertTrue(os.access(STUB, os.X_OK), f"{STUB} must be executable")

    def test_three_nodes_give_six_directed_flows(self):
        flows = self.run_stub()
        self.assertEqual(len(flows), 6)
        self.assertEqual({(f["src"], f["dst"]) for f in flows}, PAIRS)

    def test_every_field_present(self):
        for f in self.run_stub():
            with self.subTest(src=f["src"], dst=f["dst"]):
                self.assertEqual(set(f), FIELDS)
                self.assertEqual(f["srcAddress"], ADDRESS[f["src"]])
                self.assertEqual(f["dstAddress"], ADDRESS[f["dst"]])
                for probe in ("reach", "ctl"):
                    self.assertIn(f[probe], ("pass", "fail"))
                    self.assertIsInstance(f[probe + "Ms"], float)
                    self.assertGreaterEqual(f[probe + "Ms"], 0)
                    self.assertIsInstance(f[probe + "Detail"], str)

    def test_all_pass(self):
        for f in self.run_stub():
            with self.subTest(src=f["src"], dst=f["dst"]):
                self.assertEqual((f["reach"], f["ctl"], f["result"]), ("pass", "pass", "pass"))
                self.assertEqual(f["reachDetail"], f"ok reach {f['src']}->{f['dst']}")
                self.assertEqual(f["ctlDetail"], f"ok ctl {f['src']}->{f['dst']}")

    def test_single_failing_direction(self):
        flows = by_pair(self.run_stub(STUB_FAIL="ctl:n1:n3"))
        bad = flows.pop(("n1", "n3"))
        self.assertEqual((bad["reach"], bad["ctl"], bad["result"]), ("pass", "fail", "fail"))
        # The failure went to stderr: it is kept all the same.
        self.assertEqual(bad["ctlDetail"], "FAIL ctl n1->n3")
        self.assertEqual(flows[("n3", "n1")]["result"], "pass")
        for pair, f in flows.items():
            with self.subTest(pair=pair):
                self.assertEqual(f["result"], "pass")

    def test_wildcard_source(self):
        flows = self.run_stub(STUB_FAIL="reach:n2:*")
        for f in flows:
            with self.subTest(src=f["src"], dst=f["dst"]):
                expected = "fail" if f["src"] == "n2" else "pass"
                self.assertEqual(f["reach"], expected)
                self.assertEqual(f["ctl"], "pass")
                self.assertEqual(f["result"], expected)

    def test_wildcard_probe_and_destination(self):
        for f in self.run_stub(STUB_FAIL="*:*:n1"):
            with self.subTest(src=f["src"], dst=f["dst"]):
                expected = "fail" if f["dst"] == "n1" else "pass"
                self.assertEqual((f["reach"], f["ctl"]), (expected, expected))

    def test_several_patterns(self):
        flows = by_pair(self.run_stub(STUB_FAIL="ctl:n1:n3,reach:n2:*"))
        failing = {pair: (f["reach"], f["ctl"]) for pair, f in flows.items()
                   if f["result"] == "fail"}
        self.assertEqual(failing, {
            ("n1", "n3"): ("pass", "fail"),
            ("n2", "n1"): ("fail", "pass"),
            ("n2", "n3"): ("fail", "pass"),
        })

    def test_first_output_line_is_the_detail(self):
        flows = self.run_stub(nodes=NODES[:2], STUB_OUTPUT="\n  \nfirst line\nsecond line\n")
        for f in flows:
            self.assertEqual(f["reachDetail"], "first line")
            self.assertEqual(f["ctlDetail"], "first line")

    def test_long_detail_is_cut(self):
        flows = self.run_stub(nodes=NODES[:2], STUB_OUTPUT="x" * 500)
        self.assertEqual(flows[0]["reachDetail"], "x" * 300)

    def test_silent_failure_reports_exit_status(self):
        flows = self.run_stub(nodes=NODES[:2], STUB_FAIL="ctl:*:*", STUB_EXIT="3", STUB_OUTPUT="")
        for f in flows:
            self.assertEqual(f["ctl"], "fail")
            self.assertEqual(f["ctlDetail"], "exit status 3")
            self.assertEqual(f["reach"], "pass")
            self.assertEqual(f["reachDetail"], "")

    def test_timeout(self):
        started = time.monotonic()
        flows = self.run_stub(nodes=NODES[:2], timeout=0.25, STUB_SLEEP="30",
                              STUB_SLEEP_ON="ctl:*:*")
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(len(flows), 2)
        for f in flows:
            with self.subTest(src=f["src"], dst=f["dst"]):
                self.assertEqual(f["reach"], "pass")
                self.assertEqual(f["ctl"], "fail")
                self.assertEqual(f["result"], "fail")
                self.assertIn("no answer within", f["ctlDetail"])
                self.assertIn("0.25s", f["ctlDetail"])
                self.assertGreaterEqual(f["ctlMs"], 200)

    def test_missing_runner(self):
        with tempfile.TemporaryDirectory() as tmp:
            runner = os.path.join(tmp, "no-such-runner")
            flows = matrix.run_matrix(NODES, [runner, "--flag"], env=stub_env())
        self.assertEqual(len(flows), 6)
        for f in flows:
            with self.subTest(src=f["src"], dst=f["dst"]):
                self.assertEqual((f["reach"], f["ctl"], f["result"]), ("fail", "fail", "fail"))
                for probe in ("reach", "ctl"):
                    self.assertIn("cannot run the matrix runner", f[probe + "Detail"])
                    self.assertIn(repr(runner), f[probe + "Detail"])

    def test_runner_that_is_not_executable(self):
        with tempfile.TemporaryDirectory() as tmp:
            runner = os.path.join(tmp, "runner")
            shutil.copy(STUB, runner)
            os.chmod(runner, stat.S_IRUSR | stat.S_IWUSR)
            flows = matrix.run_matrix(NODES[:2], [runner], env=stub_env())
        for f in flows:
            self.assertEqual(f["result"], "fail")
            self.assertIn("cannot run the matrix runner", f["ctlDetail"])

    def test_runner_gets_the_run_environment(self):
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, "calls")
            matrix.run_matrix(NODES, [STUB], env=stub_env(STUB_LOG=log, LAB_RUN_ID=RUN_ID,
                                                          LAB_DIR=tmp))
            with open(log, encoding="utf-8") as f:
                calls = [line.split() for line in f.read().splitlines()]
        self.assertEqual(len(calls), 12)
        self.assertEqual({tuple(c[:3]) for c in calls},
                         {(p, a, b) for p in ("reach", "ctl") for a, b in PAIRS})
        for c in calls:
            self.assertEqual(c[3:], [RUN_ID, tmp])

    def test_default_environment_is_this_process(self):
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, "calls")
            with mock.patch.dict(os.environ, {"STUB_LOG": log, "LAB_RUN_ID": RUN_ID,
                                              "STUB_FAIL": "reach:n1:n2"}):
                flows = by_pair(matrix.run_matrix(NODES, [STUB]))
            with open(log, encoding="utf-8") as f:
                run_ids = {line.split()[3] for line in f}
        self.assertEqual(run_ids, {RUN_ID})
        self.assertEqual(flows[("n1", "n2")]["reach"], "fail")

    def test_given_environment_replaces_this_process(self):
        with mock.patch.dict(os.environ, {"STUB_FAIL": "*:*:*"}):
            flows = self.run_stub(nodes=NODES[:2])
        self.assertEqual([f["result"] for f in flows], ["pass", "pass"])

    def test_fewer_than_two_nodes(self):
        self.assertEqual(self.run_stub(nodes=[]), [])
        self.assertEqual(self.run_stub(nodes=NODES[:1]), [])

    def test_address_is_optional(self):
        flows = self.run_stub(nodes=[{"name": "a"}, {"name": "b", "address": "10.0.0.2"}])
        pairs = by_pair(flows)
        self.assertEqual((pairs[("a", "b")]["srcAddress"], pairs[("a", "b")]["dstAddress"]),
                         ("", "10.0.0.2"))


class SummarizeTest(unittest.TestCase):
    def test_all_pass(self):
        flows = [flow(a, b) for a, b in sorted(PAIRS)]
        self.assertEqual(matrix.summarize(flows), {"flows": 6, "passed": 6, "failed": []})

    def test_some_fail(self):
        flows = [flow("n1", "n2"), flow("n1", "n3", ctl="fail"), flow("n2", "n1", reach="fail"),
                 flow("n3", "n1", reach="fail", ctl="fail")]
        self.assertEqual(matrix.summarize(flows), {
            "flows": 4,
            "passed": 1,
            "failed": ["n1->n3: ctl", "n2->n1: reach", "n3->n1: reach,ctl"],
        })

    def test_probe_without_a_pass_counts_as_failed(self):
        f = flow("n1", "n2")
        del f["ctl"]
        self.assertEqual(matrix.summarize([f])["failed"], ["n1->n2: ctl"])

    def test_empty(self):
        self.assertEqual(matrix.summarize([]), {"flows": 0, "passed": 0, "failed": []})


class AssertionsTest(unittest.TestCase):
    def test_all_pass(self):
        got = matrix.assertions([flow(a, b) for a, b in sorted(PAIRS)])
        self.assertEqual(got, [
            {"name": "matrix_all_flows_reachable", "result": "pass", "required": True,
             "detail": "6 flows"},
            {"name": "matrix_all_flows_ctl_healthy", "result": "pass", "required": True,
             "detail": "6 flows"},
        ])

    def test_some_fail(self):
        flows = [flow("n1", "n2"), flow("n1", "n3", ctl="fail"), flow("n2", "n1", reach="fail"),
                 flow("n2", "n3", reach="fail")]
        reach, ctl = matrix.assertions(flows)
        self.assertEqual(reach["name"], "matrix_all_flows_reachable")
        self.assertEqual(reach["result"], "fail")
        self.assertEqual(reach["detail"], "unreachable: n2->n1, n2->n3")
        self.assertEqual(ctl["name"], "matrix_all_flows_ctl_healthy")
        self.assertEqual(ctl["result"], "fail")
        self.assertEqual(ctl["detail"], "unhealthy: n1->n3")
        self.assertTrue(reach["required"] and ctl["required"])

    def test_only_ctl_fails(self):
        reach, ctl = matrix.assertions([flow("n1", "n2"), flow("n2", "n1", ctl="fail")])
        self.assertEqual((reach["result"], ctl["result"]), ("pass", "fail"))

    def test_empty(self):
        self.assertEqual(matrix.assertions([]), [
            {"name": "matrix_flows_present", "result": "fail", "required": True,
             "detail": "the matrix has no flows"},
        ])

    def test_from_a_stub_run(self):
        flows = matrix.run_matrix(NODES, [STUB], env=stub_env(STUB_FAIL="ctl:n1:n3"))
        reach, ctl = matrix.assertions(flows)
        self.assertEqual(reach["result"], "pass")
        self.assertEqual(ctl["detail"], "unhealthy: n1->n3")


class RunnerArgvTest(unittest.TestCase):
    DEFAULT = ["labctl", "probe"]

    def runner_argv(self, value):
        env = {k: v for k, v in os.environ.items() if k != "MATRIX_RUNNER"}
        if value is not None:
            env["MATRIX_RUNNER"] = value
        with mock.patch.dict(os.environ, env, clear=True):
            return matrix.runner_argv(self.DEFAULT)

    def test_default(self):
        self.assertEqual(self.runner_argv(None), self.DEFAULT)
        self.assertEqual(self.runner_argv(""), self.DEFAULT)
        self.assertEqual(self.runner_argv("   "), self.DEFAULT)

    def test_default_is_a_copy(self):
        argv = self.runner_argv(None)
        argv.append("extra")
        self.assertEqual(self.DEFAULT, ["labctl", "probe"])

    def test_shell_quoting(self):
        self.assertEqual(self.runner_argv("/usr/bin/env bash stub.sh"),
                         ["/usr/bin/env", "bash", "stub.sh"])
        self.assertEqual(self.runner_argv("'/opt/my lab/probe' --tag \"a b\" c\\ d"),
                         ["/opt/my lab/probe", "--tag", "a b", "c d"])

    def test_runner_in_a_path_with_spaces(self):
        with tempfile.TemporaryDirectory() as tmp:
            runner = os.path.join(tmp, "dir with space", "stub runner.sh")
            os.makedirs(os.path.dirname(runner))
            shutil.copy(STUB, runner)
            for text in (shlex.quote(runner), "bash " + shlex.quote(runner)):
                with self.subTest(runner=text):
                    argv = self.runner_argv(text)
                    flows = matrix.run_matrix(NODES[:2], argv, env=stub_env())
                    self.assertEqual([f["result"] for f in flows], ["pass", "pass"])


if __name__ == "__main__":
    unittest.main()
