"""Tests for nexuslab.runid: run ids like "20261124T131500Z-nexuslab-minimal"."""
import datetime
import os
import random
import re
import sys
import unittest

sys.path.insert(0, os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "integration", "lab")))

from nexuslab import UsageError  # noqa: E402
from nexuslab.runid import check_scenario, make_run_id, parse_run_id  # noqa: E402

UTC = datetime.timezone.utc
START = datetime.datetime(2026, 11, 24, 13, 15, 0, tzinfo=UTC)
BASE = "20261124T131500Z-nexuslab-minimal"


def id_format(scenario):
    """The documented shape of a run id for `scenario`."""
    return re.compile(r"^\d{8}T\d{6}Z-nexuslab-" + re.escape(scenario) + r"\Z")


def tz(hours, minutes=0):
    return datetime.timezone(datetime.timedelta(hours=hours, minutes=minutes))


class MakeRunIdTest(unittest.TestCase):
    def test_format(self):
        rid = make_run_id(START, "minimal")
        self.assertEqual(rid, BASE)
        for scenario in ("minimal", "full", "soak-24h", "a", "x" * 40):
            with self.subTest(scenario=scenario):
                self.assertRegex(make_run_id(START, scenario), id_format(scenario))

    def test_sub_second_part_is_dropped(self):
        now = START.replace(microsecond=999999)
        self.assertEqual(make_run_id(now, "minimal"), BASE)

    def test_converts_to_utc(self):
        cases = [
            # (local time, expected UTC stamp)
            (datetime.datetime(2026, 11, 24, 14, 15, 0, tzinfo=tz(1)), "20261124T131500Z"),
            (datetime.datetime(2026, 11, 25, 1, 30, 0, tzinfo=tz(5, 30)), "20261124T200000Z"),
            (datetime.datetime(2026, 11, 24, 20, 0, 0, tzinfo=tz(-8)), "20261125T040000Z"),
            (datetime.datetime(2026, 12, 31, 23, 30, 0, tzinfo=tz(-1)), "20270101T003000Z"),
        ]
        for local, stamp in cases:
            with self.subTest(local=local.isoformat()):
                self.assertEqual(make_run_id(local, "full"), f"{stamp}-nexuslab-full")

    def test_unique_suffix(self):
        self.assertEqual(make_run_id(START, "minimal", taken={BASE}), BASE + ".2")
        self.assertEqual(make_run_id(START, "minimal", taken={BASE, BASE + ".2"}), BASE + ".3")
        taken = [BASE] + [f"{BASE}.{n}" for n in range(2, 11)]
        self.assertEqual(make_run_id(START, "minimal", taken=taken), BASE + ".11")

    def test_unrelated_taken_ids_do_not_matter(self):
        taken = {"20261124T131500Z-nexuslab-full", "20261124T131501Z-nexuslab-minimal", BASE + ".2"}
        self.assertEqual(make_run_id(START, "minimal", taken=taken), BASE)

    def test_rejects_bad_scenario(self):
        for scenario in ("Minimal", "", "-x", "x" * 41):
            with self.subTest(scenario=scenario):
                with self.assertRaises(UsageError):
                    make_run_id(START, scenario)


class ParseRunIdTest(unittest.TestCase):
    def test_parses(self):
        when, scenario = parse_run_id(BASE)
        self.assertEqual(when, START)
        self.assertEqual(when.utcoffset(), datetime.timedelta(0))
        self.assertEqual(scenario, "minimal")

    def test_round_trip(self):
        times = [
            START,
            datetime.datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC),
            datetime.datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC),
            datetime.datetime(2026, 11, 24, 14, 15, 7, tzinfo=tz(1)),
            datetime.datetime(2028, 2, 29, 3, 4, 5, tzinfo=tz(-9, -30)),
        ]
        for now in times:
            for scenario in ("minimal", "soak-24h", "a", "z" * 40):
                with self.subTest(now=now.isoformat(), scenario=scenario):
                    when, got = parse_run_id(make_run_id(now, scenario))
                    self.assertEqual(when, now)
                    self.assertEqual(got, scenario)

    def test_suffixed_ids(self):
        for rid in (BASE + ".2", BASE + ".3", BASE + ".12"):
            with self.subTest(rid=rid):
                self.assertEqual(parse_run_id(rid), (START, "minimal"))
        rid = make_run_id(START, "full", taken={"20261124T131500Z-nexuslab-full"})
        self.assertEqual(parse_run_id(rid), (START, "full"))

    def test_rejects_non_ids(self):
        bad = [
            "",
            None,
            "minimal",
            "20261124T131500Z",
            "20261124T131500Z-nexuslab-",
            "20261124T131500Z-nexuslab-Minimal",
            "20261124T131500Z-nexuslab--minimal",
            "20261124T131500Z-nexuslab-minimal-",
            "20261124T131500Z-nexuslab-" + "x" * 41,
            "20261124T131500-nexuslab-minimal",      # no Z
            "20261124T1315Z-nexuslab-minimal",        # short time
            "2026-11-24T13:15:00Z-nexuslab-minimal",
            "20261124T131500Z-otherlab-minimal",
            "20261124T131500Z-nexuslab-minimal.",
            "20261124T131500Z-nexuslab-minimal.x",
            " " + BASE,
            BASE + " ",
            BASE + "/",
        ]
        for rid in bad:
            with self.subTest(rid=rid):
                with self.assertRaises(UsageError) as cm:
                    parse_run_id(rid)
                self.assertIn(repr(rid), str(cm.exception))

    def test_rejects_a_trailing_newline(self):
        with self.assertRaises(UsageError):
            parse_run_id(BASE + "\n")

    def test_rejects_impossible_dates(self):
        # The right shape, but no such time: still "not a run id", not a crash.
        for stamp in ("20261324T131500Z", "20260230T131500Z", "20261124T251500Z",
                      "20261124T136000Z", "00000000T000000Z"):
            rid = f"{stamp}-nexuslab-minimal"
            with self.subTest(rid=rid):
                with self.assertRaises(UsageError) as cm:
                    parse_run_id(rid)
                self.assertIn(repr(rid), str(cm.exception))


class OrderTest(unittest.TestCase):
    def test_lexicographic_order_is_time_order(self):
        rng = random.Random(20261124)
        lo = datetime.datetime(2026, 1, 1, tzinfo=UTC).timestamp()
        hi = datetime.datetime(2031, 1, 1, tzinfo=UTC).timestamp()
        stamps = {int(rng.uniform(lo, hi)) for _ in range(300)}
        # Neighbours that differ in a single field, where digit carries matter.
        edge = datetime.datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
        stamps |= {int(edge), int(edge) + 1, int(edge) + 10, int(edge) - 9}
        scenarios = ["minimal", "full", "soak", "a", "zz-top"]
        ids = [make_run_id(datetime.datetime.fromtimestamp(s, UTC), rng.choice(scenarios))
               for s in stamps]
        rng.shuffle(ids)
        by_time = sorted(ids, key=lambda rid: parse_run_id(rid)[0])
        self.assertEqual(sorted(ids), by_time)
        self.assertEqual(max(ids), by_time[-1])  # the newest run is the greatest id


class CheckScenarioTest(unittest.TestCase):
    def test_accepts(self):
        for name in ("minimal", "full", "soak", "a", "0", "a-b", "a--b", "soak-24h", "x" * 40,
                     "9lives"):
            with self.subTest(name=name):
                self.assertEqual(check_scenario(name), name)

    def test_rejects(self):
        bad = [
            "",
            None,
            "Minimal",
            "MINIMAL",
            "two words",
            " minimal",
            "minimal ",
            "-minimal",
            "minimal-",
            "-",
            "x" * 41,
            "mini_mal",
            "mini.mal",
            "mini/mal",
            "minimál",
        ]
        for name in bad:
            with self.subTest(name=name):
                with self.assertRaises(UsageError) as cm:
                    check_scenario(name)
                self.assertIn(repr(name), str(cm.exception))

    def test_rejects_a_trailing_newline(self):
        with self.assertRaises(UsageError):
            check_scenario("minimal\n")
        with self.assertRaises(UsageError):
            make_run_id(START, "minimal\n")


if __name__ == "__main__":
    unittest.main()
