"""Tests for nexuslab.ttl: the lab's time-to-live (its cost guard)."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "integration", "lab")))

from nexuslab import LabError, UsageError  # noqa: E402
from nexuslab.ttl import MAX_SECONDS, MIN_SECONDS, format_ttl, parse_ttl  # noqa: E402

MINUTE, HOUR, DAY = 60, 3600, 86400


class ParseTtlTest(unittest.TestCase):
    def test_limits(self):
        # The bounds the other tests rely on: a minute to a week.
        self.assertEqual(MIN_SECONDS, MINUTE)
        self.assertEqual(MAX_SECONDS, 7 * DAY)

    def test_single_units(self):
        cases = {
            "90s": 90,
            "1m": MINUTE,
            "30m": 30 * MINUTE,
            "4h": 4 * HOUR,
            "2d": 2 * DAY,
            "168h": 7 * DAY,
        }
        for text, seconds in cases.items():
            with self.subTest(text=text):
                self.assertEqual(parse_ttl(text), seconds)

    def test_sums(self):
        cases = {
            "1h30m": HOUR + 30 * MINUTE,
            "1d2h3m4s": DAY + 2 * HOUR + 3 * MINUTE + 4,
            "30m1h": HOUR + 30 * MINUTE,   # any order
            "0h1m": MINUTE,                # a zero part is allowed
            "1m30s": 90,
            "6d23h59m60s": 7 * DAY,
        }
        for text, seconds in cases.items():
            with self.subTest(text=text):
                self.assertEqual(parse_ttl(text), seconds)

    def test_case_and_surrounding_whitespace(self):
        cases = {
            "1H30M": 5400,
            "4H": 4 * HOUR,
            "2D": 2 * DAY,
            "1h30M": 5400,
            "  30m  ": 1800,
            "\t4h\n": 4 * HOUR,
        }
        for text, seconds in cases.items():
            with self.subTest(text=text):
                self.assertEqual(parse_ttl(text), seconds)

    def test_boundaries(self):
        self.assertEqual(parse_ttl(f"{MIN_SECONDS}s"), MIN_SECONDS)
        self.assertEqual(parse_ttl(f"{MAX_SECONDS}s"), MAX_SECONDS)
        self.assertEqual(parse_ttl("7d"), MAX_SECONDS)
        with self.assertRaises(UsageError):
            parse_ttl(f"{MIN_SECONDS - 1}s")
        with self.assertRaises(UsageError):
            parse_ttl(f"{MAX_SECONDS + 1}s")

    def test_missing_values(self):
        for value in ("", "   ", "\n", None, 30, 1.5):
            with self.subTest(value=value):
                with self.assertRaises(UsageError) as cm:
                    parse_ttl(value)
                self.assertIn("required", str(cm.exception))

    def test_invalid_forms(self):
        bad = [
            "30",         # bare number
            "-5m",        # negative
            "+5m",
            "30x",        # unknown unit
            "5w",
            "1h1h",       # repeated unit
            "1h30m1h",
            "m",          # unit without a number
            "h30",
            "abc",
            "1.5h",
            "30m!",
            "thirty m",
        ]
        for text in bad:
            with self.subTest(text=text):
                with self.assertRaises(UsageError):
                    parse_ttl(text)

    def test_out_of_range(self):
        for text in ("59s", "0m", "0s", "0d", "8d", "7d1s", "169h", "604801s", "99999999d"):
            with self.subTest(text=text):
                with self.assertRaises(UsageError):
                    parse_ttl(text)

    def test_errors_name_the_input(self):
        for text in ("30", "-5m", "30x", "1h1h", "abc", "59s", "8d"):
            with self.subTest(text=text):
                with self.assertRaises(UsageError) as cm:
                    parse_ttl(text)
                self.assertIn(repr(text), str(cm.exception))

    def test_error_reasons(self):
        def message(text):
            with self.assertRaises(UsageError) as cm:
                parse_ttl(text)
            return str(cm.exception)

        self.assertIn("not a duration", message("30x"))
        self.assertIn("'h' given twice", message("1h1h"))
        self.assertIn("at least 1m", message("59s"))
        self.assertIn("at most 7d", message("8d"))

    def test_usage_error_is_a_lab_error(self):
        with self.assertRaises(LabError):
            parse_ttl("abc")


class FormatTtlTest(unittest.TestCase):
    def test_known_values(self):
        cases = {
            60: "1m",
            90: "1m30s",
            1800: "30m",
            5400: "1h30m",
            3601: "1h1s",
            DAY: "1d",
            DAY + 2 * HOUR + 3 * MINUTE + 4: "1d2h3m4s",
            MAX_SECONDS: "7d",
        }
        for seconds, text in cases.items():
            with self.subTest(seconds=seconds):
                self.assertEqual(format_ttl(seconds), text)

    def test_zero_and_negative(self):
        self.assertEqual(format_ttl(0), "0s")
        self.assertEqual(format_ttl(-5), "0s")

    def test_fractions_are_truncated(self):
        self.assertEqual(format_ttl(1800.9), "30m")

    def test_round_trip_from_seconds(self):
        values = list(range(MIN_SECONDS, MAX_SECONDS + 1, 997))
        values += [MIN_SECONDS, MIN_SECONDS + 1, HOUR - 1, HOUR, DAY - 1, DAY, MAX_SECONDS - 1,
                   MAX_SECONDS]
        for seconds in values:
            text = format_ttl(seconds)
            self.assertEqual(parse_ttl(text), seconds, f"format_ttl({seconds}) = {text!r}")

    def test_output_is_shortest(self):
        # Largest units first, each at most once, no zero parts, in range of the next unit.
        limits = {"d": None, "h": 24, "m": 60, "s": 60}
        for seconds in range(MIN_SECONDS, MAX_SECONDS + 1, 4001):
            text = format_ttl(seconds)
            parts = re.findall(r"(\d+)([dhms])", text)
            self.assertEqual("".join(n + u for n, u in parts), text)
            units = [u for _, u in parts]
            self.assertEqual(units, [u for u in "dhms" if u in units], text)
            for n, u in parts:
                self.assertGreater(int(n), 0, text)
                if limits[u] is not None:
                    self.assertLess(int(n), limits[u], text)

    def test_round_trip_from_text(self):
        for text in ("1m", "1m1s", "30m", "1h30m", "4h", "2d", "1d2h3m4s", "6d23h59m59s", "7d"):
            with self.subTest(text=text):
                self.assertEqual(format_ttl(parse_ttl(text)), text)

    def test_normalises_other_spellings(self):
        self.assertEqual(format_ttl(parse_ttl("90m")), "1h30m")
        self.assertEqual(format_ttl(parse_ttl("30m1h")), "1h30m")
        self.assertEqual(format_ttl(parse_ttl(" 1H30M ")), "1h30m")
        self.assertEqual(format_ttl(parse_ttl("120s")), "2m")


if __name__ == "__main__":
    unittest.main()
