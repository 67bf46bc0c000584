"""Tests for nexuslab.evidence: result.json, its schema, and summary.md."""
import copy
import datetime
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "integration", "lab")))

from nexuslab import LabError  # noqa: E402
from nexuslab import evidence  # noqa: E402

UTC = datetime.timezone.utc
RUN_ID = "20261124T131500Z-nexuslab-minimal"
CREATED = datetime.datetime(2026, 11, 24, 13, 15, 0, 125000, tzinfo=UTC).timestamp()
TTL_SECONDS = 1800
BEFORE_EXPIRY = CREATED + 600        # ten minutes in
AFTER_EXPIRY = CREATED + TTL_SECONDS + 1


def assertion(name, result="pass", required=True, **extra):
    return dict({"name": name, "result": result, "required": required}, **extra)


def good_run():
    """A minimal-profile run: verify, a director failover, verify again, a short stress."""
    return {
        "runId": RUN_ID,
        "commit": "8b75d47",
        "scenario": "minimal",
        "profile": "minimal",
        "createdAt": CREATED,
        "ttl": "30m",
        "ttlSeconds": TTL_SECONDS,
        "nodes": [
            {"name": "director", "role": "director", "auth": "tls", "address": "10.77.0.10",
             "nodeId": "node-7f3a"},
            {"name": "peer1", "role": "peer", "auth": "api-key", "address": "10.77.0.11",
             "nodeId": "node-91c2"},
            {"name": "worker1", "role": "worker", "auth": "scoped-key", "address": "10.77.0.12"},
        ],
        "lastNodeResults": {
            "director": {"health": "pass", "mesh": "pass", "detail": "active director, 2 members"},
            "peer1": {"health": "pass", "mesh": "pass"},
            "worker1": {"health": "pass", "mesh": "na", "detail": "workers take tasks only"},
        },
        "phases": [
            {"kind": "verify", "label": "verify#1", "assertions": [
                assertion("health_all_nodes", detail="3/3 healthy", durationMs=41.5),
                assertion("mesh_converged", durationMs=812),
                assertion("search_index_warm", "na", False, detail="search is off in minimal"),
            ]},
            {"kind": "failover", "label": "failover#1", "assertions": [
                assertion("director_failover_elected", detail="peer1 took over in 2.1 s",
                          durationMs=2100),
            ]},
            {"kind": "verify", "label": "verify#2", "assertions": [
                assertion("health_all_nodes", durationMs=39),
                assertion("task_completed_after_failover", detail="task-0007 succeeded"),
            ]},
            {"kind": "stress", "label": "stress#1", "assertions": [
                assertion("stress_error_rate", detail="0 errors in 1200 requests"),
            ]},
        ],
        "faults": [
            {"fault": "stop-active", "target": "director", "task": "task-0007",
             "injectedAt": CREATED + 300.5, "recovered": True},
        ],
        "stress": {
            "requests": 1200, "seconds": 60, "errors": 0, "tasksCreated": 40,
            "tasksSucceeded": 40,
            "steps": [
                {"step": 1, "clients": 4, "requests": 400, "errors": 0, "p50Ms": 3.1,
                 "p95Ms": 9.8, "rps": 6.7},
                {"step": 2, "clients": 16, "requests": 800, "errors": 0, "p50Ms": 5.4,
                 "p95Ms": 21.0, "rps": 13.3},
            ],
        },
        "teardown": "pending",
    }


def flows(*failing):
    """A 3-node matrix; `failing` holds (src, dst, probe) triples."""
    names = ["director", "peer1", "worker1"]
    out = []
    for src in names:
        for dst in names:
            if src == dst:
                continue
            f = {"src": src, "dst": dst, "srcAddress": "", "dstAddress": "", "reach": "pass",
                 "ctl": "pass", "reachMs": 0.4, "ctlMs": 12.0, "reachDetail": "",
                 "ctlDetail": ""}
            for s, d, probe in failing:
                if (s, d) == (src, dst):
                    f[probe] = "fail"
            f["result"] = "pass" if f["reach"] == f["ctl"] == "pass" else "fail"
            out.append(f)
    return out


def collect(run=None, **kwargs):
    kwargs.setdefault("now", BEFORE_EXPIRY)
    return evidence.collect(good_run() if run is None else run, **kwargs)


def named(result, name):
    return [a for a in result["assertions"] if a["name"] == name]


class EvidenceTestCase(unittest.TestCase):
    def assertValid(self, result):
        self.assertEqual(evidence.validate(result), [])

    def assertInvalid(self, result, where):
        """`result` breaks the schema, and one message points at `where`."""
        errors = evidence.validate(result)
        self.assertTrue(errors, "the schema accepted it")
        self.assertTrue(any(e.startswith(where + ":") for e in errors),
                        f"no error at {where!r}: {errors}")


class CollectTest(EvidenceTestCase):
    def test_good_run_passes(self):
        result = collect()
        self.assertValid(result)
        self.assertEqual(result["result"], "pass")

    def test_header_fields(self):
        result = collect(now=CREATED + 754.5)
        self.assertEqual(result["schemaVersion"], 1)
        self.assertEqual(result["runId"], RUN_ID)
        self.assertEqual(result["commit"], "8b75d47")
        self.assertEqual(result["scenario"], "minimal")
        self.assertEqual(result["profile"], "minimal")
        self.assertEqual(result["startedAt"], "2026-11-24T13:15:00.125Z")
        self.assertEqual(result["collectedAt"], "2026-11-24T13:27:34.625Z")

    def test_times_keep_three_digit_milliseconds(self):
        run = good_run()
        run["createdAt"] = datetime.datetime(2026, 11, 24, 13, 15, tzinfo=UTC).timestamp()
        result = collect(run, now=run["createdAt"] + 60.0625)
        self.assertEqual(result["startedAt"], "2026-11-24T13:15:00.000Z")
        self.assertEqual(result["collectedAt"], "2026-11-24T13:16:00.062Z")
        self.assertValid(result)

    def test_missing_commit_is_unknown(self):
        for commit in (None, ""):
            run = good_run()
            run["commit"] = commit
            self.assertEqual(collect(run)["commit"], "unknown")
        run = good_run()
        del run["commit"]
        result = collect(run)
        self.assertEqual(result["commit"], "unknown")
        self.assertValid(result)

    def test_collected_now_by_default(self):
        before = datetime.datetime.now(UTC).replace(microsecond=0)
        result = evidence.collect(good_run())
        after = datetime.datetime.now(UTC)
        when = datetime.datetime.strptime(result["collectedAt"], "%Y-%m-%dT%H:%M:%S.%fZ")
        self.assertTrue(before <= when.replace(tzinfo=UTC) <= after, result["collectedAt"])

    def test_nodes(self):
        nodes = collect()["nodes"]
        self.assertEqual(nodes, {
            "director": {"role": "director", "auth": "tls", "address": "10.77.0.10",
                         "health": "pass", "mesh": "pass", "nodeId": "node-7f3a",
                         "detail": "active director, 2 members"},
            "peer1": {"role": "peer", "auth": "api-key", "address": "10.77.0.11",
                      "health": "pass", "mesh": "pass", "nodeId": "node-91c2"},
            "worker1": {"role": "worker", "auth": "scoped-key", "address": "10.77.0.12",
                        "health": "pass", "mesh": "na", "detail": "workers take tasks only"},
        })

    def test_node_without_results_is_na(self):
        run = good_run()
        del run["lastNodeResults"]["peer1"]
        result = collect(run)
        self.assertEqual((result["nodes"]["peer1"]["health"], result["nodes"]["peer1"]["mesh"]),
                         ("na", "na"))
        self.assertValid(result)

    def test_assertions_carry_their_phase(self):
        result = collect()
        self.assertEqual([(a["phase"], a["name"]) for a in result["assertions"]], [
            ("verify#1", "health_all_nodes"),
            ("verify#1", "mesh_converged"),
            ("verify#1", "search_index_warm"),
            ("failover#1", "director_failover_elected"),
            ("verify#2", "health_all_nodes"),
            ("verify#2", "task_completed_after_failover"),
            ("stress#1", "stress_error_rate"),
        ])
        first = result["assertions"][0]
        self.assertEqual(first, {"name": "health_all_nodes", "phase": "verify#1",
                                 "result": "pass", "required": True, "detail": "3/3 healthy",
                                 "durationMs": 41.5})
        # detail and durationMs only when the run has them
        self.assertNotIn("detail", result["assertions"][1])
        self.assertNotIn("durationMs", result["assertions"][5])

    def test_assertions_are_required_unless_said_otherwise(self):
        run = good_run()
        del run["phases"][0]["assertions"][0]["required"]
        result = collect(run)
        self.assertIs(result["assertions"][0]["required"], True)
        self.assertIs(result["assertions"][2]["required"], False)

    def test_failed_required_assertion_fails_the_run(self):
        run = good_run()
        run["phases"][2]["assertions"][1]["result"] = "fail"
        result = collect(run)
        self.assertEqual(result["result"], "fail")
        self.assertValid(result)

    def test_failed_optional_assertion_keeps_pass(self):
        run = good_run()
        run["phases"][0]["assertions"][2]["result"] = "fail"
        result = collect(run)
        self.assertEqual(result["result"], "pass")
        self.assertValid(result)

    def test_required_na_fails_the_run(self):
        run = good_run()
        run["phases"][0]["assertions"][1]["result"] = "na"
        result = collect(run)
        self.assertEqual(result["result"], "fail")
        self.assertValid(result)

    def test_no_verify_phase(self):
        run = good_run()
        run["phases"] = [p for p in run["phases"] if p["kind"] != "verify"]
        run["faults"] = []
        result = collect(run)
        self.assertEqual(named(result, "verify_ran"), [
            {"name": "verify_ran", "phase": "evidence", "result": "fail", "required": True,
             "detail": "no labctl verify ran in this run"},
        ])
        self.assertEqual(result["result"], "fail")
        self.assertValid(result)

    def test_no_phases_at_all(self):
        run = good_run()
        del run["phases"]
        run["faults"] = []
        result = collect(run)
        self.assertEqual([a["name"] for a in result["assertions"]], ["verify_ran"])
        self.assertEqual(result["result"], "fail")
        self.assertValid(result)

    def test_verify_phase_present_means_no_verify_ran_assertion(self):
        self.assertEqual(named(collect(), "verify_ran"), [])

    def test_unrecovered_fault(self):
        run = good_run()
        run["faults"].append({"fault": "partition", "target": "peer1", "injectedAt": CREATED + 900,
                              "recovered": False, "detail": "peer1 cut off from director"})
        result = collect(run)
        added = named(result, "fault_partition_recovery_verified")
        self.assertEqual(len(added), 1)
        self.assertEqual(added[0]["result"], "fail")
        self.assertIs(added[0]["required"], True)
        self.assertEqual(added[0]["phase"], "evidence")
        self.assertEqual(result["result"], "fail")
        self.assertValid(result)

    def test_control_plane(self):
        result = collect()
        self.assertEqual(result["controlPlane"], {"store": "sqlite", "directors": 1})
        run = good_run()
        run["store"] = "etcd"
        run["etcd"] = {"members": [{"name": f"e{i}"} for i in (1, 2, 3)]}
        run["mesh"] = {"leaseTtl": 15, "electionTtl": 3}
        run["nodes"].insert(1, {"name": "n2", "role": "director", "auth": "tls", "address": "10.77.0.12"})
        run["faults"] += [{"fault": f, "target": t, "injectedAt": CREATED + 60, "recovered": True,
                           "checked": True, "detail": "n2 led 0.5s after"}
                          for f, t in (("director-pause", "director"), ("etcd-member-down", "e3"),
                                       ("etcd-quorum-loss", "e3,e2"))]
        result = collect(run)
        self.assertEqual(result["controlPlane"], {"store": "etcd", "directors": 2, "etcdMembers": 3,
                                                  "electionTtl": 3, "leaseTtl": 15})
        self.assertValid(result)
        self.assertEqual(result["result"], "pass")
        md = evidence.summary_markdown(result)
        self.assertIn("- control plane: 2 director(s) on etcd (3 members, election TTL 3 s), task leases 15 s", md)
        self.assertIn("| etcd-quorum-loss | e3,e2 |  | 2026-11-24T13:16:00.125Z | yes | n2 led 0.5s after |", md)
        result["controlPlane"]["store"] = "zookeeper"
        self.assertInvalid(result, "controlPlane/store")

    def test_recovered_fault_adds_no_assertion(self):
        result = collect()
        self.assertEqual([a for a in result["assertions"] if a["name"].startswith("fault_")], [])

    def test_faults(self):
        run = good_run()
        run["faults"].append({"fault": "kill-worker", "target": "worker1",
                              "injectedAt": CREATED + 60, "recovered": False,
                              "detail": "SIGKILL"})
        faults = collect(run)["faults"]
        self.assertEqual(faults, [
            {"fault": "stop-active", "target": "director", "task": "task-0007",
             "injectedAt": "2026-11-24T13:20:00.625Z", "recovered": True},
            {"fault": "kill-worker", "target": "worker1", "injectedAt": "2026-11-24T13:16:00.125Z",
             "recovered": False, "detail": "SIGKILL"},
        ])

    def test_matrix_all_pass(self):
        result = collect(matrix_flows=flows(), matrix_file="matrix.json")
        self.assertEqual(result["matrix"], {"flows": 6, "passed": 6, "failed": [],
                                            "file": "matrix.json"})
        matrix_assertions = [a for a in result["assertions"] if a["name"].startswith("matrix_")]
        self.assertEqual([(a["name"], a["phase"], a["result"], a["required"])
                          for a in matrix_assertions], [
            ("matrix_all_flows_reachable", "smoke", "pass", True),
            ("matrix_all_flows_ctl_healthy", "smoke", "pass", True),
        ])
        self.assertEqual(result["result"], "pass")
        self.assertValid(result)

    def test_matrix_failure_fails_the_run(self):
        result = collect(matrix_flows=flows(("director", "worker1", "ctl")),
                         matrix_file="matrix.json")
        self.assertEqual(result["matrix"]["passed"], 5)
        self.assertEqual(result["matrix"]["failed"], ["director->worker1: ctl"])
        self.assertEqual(named(result, "matrix_all_flows_ctl_healthy")[0]["result"], "fail")
        self.assertEqual(named(result, "matrix_all_flows_reachable")[0]["result"], "pass")
        self.assertEqual(result["result"], "fail")
        self.assertValid(result)

    def test_empty_matrix(self):
        result = collect(matrix_flows=[])
        self.assertEqual(result["matrix"], {"flows": 0, "passed": 0, "failed": [], "file": ""})
        self.assertEqual(named(result, "matrix_flows_present")[0]["result"], "fail")
        self.assertEqual(result["result"], "fail")
        self.assertValid(result)

    def test_no_matrix(self):
        result = collect()
        self.assertNotIn("matrix", result)
        self.assertEqual([a for a in result["assertions"] if a["name"].startswith("matrix_")], [])

    def test_stress(self):
        self.assertEqual(collect()["stress"], good_run()["stress"])
        run = good_run()
        del run["stress"]
        result = collect(run)
        self.assertNotIn("stress", result)
        self.assertValid(result)

    def test_cost_guard_before_expiry(self):
        guard = collect(now=BEFORE_EXPIRY)["costGuard"]
        self.assertEqual(guard, {"ttl": "30m", "ttlSeconds": 1800,
                                 "expiresAt": "2026-11-24T13:45:00.125Z", "expired": False,
                                 "teardown": "pending"})

    def test_cost_guard_expiry(self):
        expires = CREATED + TTL_SECONDS
        self.assertIs(collect(now=expires - 0.5)["costGuard"]["expired"], False)
        self.assertIs(collect(now=expires)["costGuard"]["expired"], True)
        self.assertIs(collect(now=AFTER_EXPIRY)["costGuard"]["expired"], True)
        self.assertValid(collect(now=AFTER_EXPIRY))

    def test_cost_guard_teardown(self):
        run = good_run()
        run["teardown"] = "completed"
        run["tornDownAt"] = CREATED + 1500
        guard = collect(run)["costGuard"]
        self.assertEqual(guard["teardown"], "completed")
        self.assertEqual(guard["tornDownAt"], "2026-11-24T13:40:00.125Z")
        run = good_run()
        del run["teardown"]
        guard = collect(run)["costGuard"]
        self.assertEqual(guard["teardown"], "pending")
        self.assertNotIn("tornDownAt", guard)

    def test_ttl_seconds_is_an_integer(self):
        run = good_run()
        run["ttlSeconds"] = 1800.0
        result = collect(run)
        self.assertIsInstance(result["costGuard"]["ttlSeconds"], int)
        self.assertValid(result)

    def test_run_is_not_modified(self):
        run = good_run()
        collect(run, matrix_flows=flows())
        self.assertEqual(run, good_run())

    def test_every_profile(self):
        for profile in ("minimal", "full", "soak"):
            run = good_run()
            run["profile"] = profile
            self.assertValid(collect(run))


class VerdictTest(unittest.TestCase):
    def test_verdicts(self):
        cases = [
            ([], "fail"),
            ([assertion("a", "pass", False)], "fail"),  # nothing required: nothing shown
            ([assertion("a")], "pass"),
            ([assertion("a"), assertion("b", "fail", False), assertion("c", "na", False)], "pass"),
            ([assertion("a"), assertion("b", "fail")], "fail"),
            ([assertion("a"), assertion("b", "na")], "fail"),
            ([assertion("a"), {"name": "b", "required": True}], "fail"),
        ]
        for items, expected in cases:
            with self.subTest(items=items):
                self.assertEqual(evidence.verdict(items), expected)


class SchemaTest(EvidenceTestCase):
    def setUp(self):
        self.result = collect(matrix_flows=flows(), matrix_file="matrix.json")
        self.assertValid(self.result)

    def test_missing_required_fields(self):
        for field in ("runId", "schemaVersion", "result", "nodes", "assertions", "costGuard"):
            with self.subTest(field=field):
                result = copy.deepcopy(self.result)
                del result[field]
                errors = evidence.validate(result)
                self.assertTrue(any(e.startswith("(top):") and repr(field) in e for e in errors),
                                errors)

    def test_bad_run_id(self):
        for rid in ("nexuslab-minimal", "20261124T131500Z-nexuslab-Minimal",
                    "20261124-131500Z-nexuslab-minimal", ""):
            with self.subTest(rid=rid):
                self.result["runId"] = rid
                self.assertInvalid(self.result, "runId")

    def test_suffixed_run_id(self):
        self.result["runId"] = RUN_ID + ".2"
        self.assertValid(self.result)

    def test_unknown_top_level_field(self):
        self.result["notes"] = "looked fine"
        self.assertInvalid(self.result, "(top)")

    def test_unknown_nested_field(self):
        self.result["assertions"][0]["owner"] = "lab"
        self.assertInvalid(self.result, "assertions/0")

    def test_pass_with_failed_required_assertion(self):
        for verdict in ("fail", "na"):
            with self.subTest(verdict=verdict):
                result = copy.deepcopy(self.result)
                result["assertions"][1]["result"] = verdict
                self.assertEqual(result["result"], "pass")
                self.assertInvalid(result, "assertions")
                result["result"] = "fail"
                self.assertValid(result)

    def test_pass_with_failed_optional_assertion(self):
        self.result["assertions"][2]["result"] = "fail"
        self.assertValid(self.result)

    def test_bad_verdict_values(self):
        result = copy.deepcopy(self.result)
        result["assertions"][0]["result"] = "ok"
        self.assertInvalid(result, "assertions/0/result")
        result = copy.deepcopy(self.result)
        result["nodes"]["peer1"]["health"] = "healthy"
        self.assertInvalid(result, "nodes/peer1/health")
        result = copy.deepcopy(self.result)
        result["result"] = "na"
        self.assertInvalid(result, "result")

    def test_bad_fault_name(self):
        self.result["faults"][0]["fault"] = "reboot"
        self.assertInvalid(self.result, "faults/0/fault")

    def test_ttl_seconds_minimum(self):
        self.result["costGuard"]["ttlSeconds"] = 59
        self.assertInvalid(self.result, "costGuard/ttlSeconds")
        self.result["costGuard"]["ttlSeconds"] = 60
        self.assertValid(self.result)

    def test_bad_enums_and_patterns(self):
        cases = [
            (("profile",), "huge", "profile"),
            (("commit",), "HEAD", "commit"),
            (("startedAt",), "2026-11-24 13:15:00", "startedAt"),
            (("nodes", "worker1", "role"), "boss", "nodes/worker1/role"),
            (("nodes", "worker1", "auth"), "password", "nodes/worker1/auth"),
            (("costGuard", "teardown"), "maybe", "costGuard/teardown"),
            (("costGuard", "ttl"), "30 minutes", "costGuard/ttl"),
            (("assertions", 0, "name"), "Health All", "assertions/0/name"),
            (("assertions", 0, "durationMs"), -1, "assertions/0/durationMs"),
        ]
        for path, value, where in cases:
            with self.subTest(where=where):
                result = copy.deepcopy(self.result)
                target = result
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = value
                self.assertInvalid(result, where)

    def test_dirty_commit(self):
        self.result["commit"] = "8b75d47-dirty"
        self.assertValid(self.result)

    def test_explicit_schema(self):
        schema = {"type": "object", "required": ["x"]}
        self.assertEqual(evidence.validate({"x": 1}, schema), [])
        self.assertEqual(len(evidence.validate({}, schema)), 1)


class SummaryMarkdownTest(unittest.TestCase):
    def test_pass_heading(self):
        md = evidence.summary_markdown(collect())
        self.assertTrue(md.startswith(f"# Lab run {RUN_ID}: PASS\n"), md[:80])
        self.assertNotIn("## Failed", md)
        self.assertTrue(md.endswith("\n"))

    def test_fail_heading_and_failed_list(self):
        run = good_run()
        run["phases"][0]["assertions"][1].update(result="fail", detail="peer1 not in mesh")
        run["phases"][0]["assertions"][2].update(result="fail")
        md = evidence.summary_markdown(collect(run))
        self.assertTrue(md.startswith(f"# Lab run {RUN_ID}: FAIL\n"), md[:80])
        failed = md.split("## Failed\n", 1)[1].split("\n## ", 1)[0]
        self.assertEqual(failed.strip().splitlines(), [
            "- `mesh_converged` (verify#1, required, fail): peer1 not in mesh",
            "- `search_index_warm` (verify#1, optional, fail): search is off in minimal",
        ])

    def test_required_na_is_listed_as_a_failure(self):
        run = good_run()
        run["phases"][0]["assertions"][1].update(result="na", detail="no peer")
        md = evidence.summary_markdown(collect(run))
        self.assertTrue(md.startswith(f"# Lab run {RUN_ID}: FAIL\n"), md[:80])
        failed = md.split("## Failed\n", 1)[1].split("\n## ", 1)[0]
        self.assertIn("- `mesh_converged` (verify#1, required, na): no peer", failed)

    def test_overview(self):
        run = good_run()
        run["phases"][1]["assertions"][0]["result"] = "fail"
        md = evidence.summary_markdown(collect(run, matrix_flows=flows(("peer1", "worker1",
                                                                        "reach")),
                                               now=AFTER_EXPIRY))
        self.assertIn("- commit `8b75d47`, scenario `minimal`, profile `minimal`", md)
        self.assertIn("- cost guard: TTL 30m (expires 2026-11-24T13:45:00.125Z, expired), "
                      "teardown pending", md)
        self.assertIn("- assertions: 6 pass, 2 fail, 1 n/a", md)
        self.assertIn("- connectivity matrix: 5/6 flows pass", md)

    def test_not_expired(self):
        md = evidence.summary_markdown(collect(now=BEFORE_EXPIRY))
        self.assertIn("(expires 2026-11-24T13:45:00.125Z), teardown pending", md)

    def test_nodes_faults_and_stress(self):
        run = good_run()
        run["faults"].append({"fault": "drain", "target": "peer1", "injectedAt": CREATED + 60,
                              "recovered": False})
        md = evidence.summary_markdown(collect(run))
        self.assertIn("| director | director | tls | 10.77.0.10 | node-7f3a | pass | pass |", md)
        self.assertIn("| worker1 | worker | scoped-key | 10.77.0.12 |  | pass | na |", md)
        self.assertIn("| stop-active | director | task-0007 | 2026-11-24T13:20:00.625Z | yes |",
                      md)
        self.assertIn("| drain | peer1 |  | 2026-11-24T13:16:00.125Z | no |", md)
        self.assertIn("- 1200 requests in 60 s, 0 errors; tasks created 40, succeeded 40", md)
        self.assertIn("| 2 | 16 | 800 | 0 | 5.4 | 21.0 | 13.3 |", md)

    def test_no_faults_or_stress_sections_when_empty(self):
        run = good_run()
        run["faults"] = []
        del run["stress"]
        md = evidence.summary_markdown(collect(run))
        self.assertNotIn("## Faults", md)
        self.assertNotIn("## Stress", md)

    def test_assertion_table(self):
        run = good_run()
        run["phases"][0]["assertions"][0]["detail"] = "a | b"
        md = evidence.summary_markdown(collect(run))
        table = md.split("## Assertions\n", 1)[1]
        self.assertIn("| verify#1 | health_all_nodes | pass | yes | 41.5 | a \\| b |", table)
        self.assertIn("| verify#1 | search_index_warm | na | no |  | search is off in minimal |",
                      table)
        self.assertEqual(table.count("\n| verify#"), 5)


class WriteTest(unittest.TestCase):
    def test_writes_the_evidence(self):
        matrix_flows = flows(("director", "peer1", "ctl"))
        result = collect(matrix_flows=matrix_flows, matrix_file="matrix.json")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "runs", RUN_ID, "evidence")
            evidence.write(result, out, matrix_flows=matrix_flows)
            self.assertEqual(sorted(os.listdir(out)), ["matrix.json", "result.json", "summary.md"])
            with open(os.path.join(out, "result.json"), encoding="utf-8") as f:
                self.assertEqual(json.load(f), result)
            with open(os.path.join(out, "matrix.json"), encoding="utf-8") as f:
                self.assertEqual(json.load(f), matrix_flows)
            with open(os.path.join(out, "summary.md"), encoding="utf-8") as f:
                self.assertEqual(f.read(), evidence.summary_markdown(result))

    def test_no_matrix_file_without_flows(self):
        with tempfile.TemporaryDirectory() as tmp:
            evidence.write(collect(), tmp)
            self.assertEqual(sorted(os.listdir(tmp)), ["result.json", "summary.md"])

    def test_overwrites_earlier_evidence(self):
        with tempfile.TemporaryDirectory() as tmp:
            evidence.write(collect(), tmp)
            run = good_run()
            run["phases"][0]["assertions"][0]["result"] = "fail"
            evidence.write(collect(run), tmp)
            with open(os.path.join(tmp, "result.json"), encoding="utf-8") as f:
                self.assertEqual(json.load(f)["result"], "fail")
            self.assertEqual(sorted(os.listdir(tmp)), ["result.json", "summary.md"])

    def test_invalid_result_is_not_written(self):
        result = collect()
        result["result"] = "pass"
        result["assertions"][0]["result"] = "fail"
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "evidence")
            with self.assertRaises(LabError) as cm:
                evidence.write(result, out, matrix_flows=flows())
            self.assertIn("evidence-schema.json", str(cm.exception))
            self.assertFalse(os.path.exists(out))
            with self.assertRaises(LabError):
                evidence.write(result, tmp)
            self.assertEqual(os.listdir(tmp), [])


if __name__ == "__main__":
    unittest.main()
