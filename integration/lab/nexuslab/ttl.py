"""Lab time-to-live: "90s", "30m", "4h", "2d" or a sum like "1h30m".

The TTL is the lab's cost guard: `up` refuses to start without a valid one,
and `down --expired` removes every run past it.
"""
import re

from . import UsageError

MIN_SECONDS = 60            # a lab shorter than this could not finish `up`
MAX_SECONDS = 7 * 24 * 3600  # a week: longer is a forgotten lab

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"([0-9]+)([smhd])")


def parse_ttl(text):
    """Seconds in `text`; UsageError if it is not a duration in range."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError("--ttl: a duration is required, like 30m, 4h or 1h30m")
    s = text.strip().lower()
    pos, total, seen = 0, 0, set()
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise UsageError(
                f"--ttl {text!r}: not a duration (use a number and a unit s, m, h or d: 30m, 4h, 1h30m)")
        unit = m.group(2)
        if unit in seen:
            raise UsageError(f"--ttl {text!r}: unit {unit!r} given twice")
        seen.add(unit)
        total += int(m.group(1)) * _UNITS[unit]
        pos = m.end()
    if total < MIN_SECONDS:
        raise UsageError(f"--ttl {text!r}: at least {format_ttl(MIN_SECONDS)} (a lab needs time to come up)")
    if total > MAX_SECONDS:
        raise UsageError(f"--ttl {text!r}: at most {format_ttl(MAX_SECONDS)}")
    return total


def format_ttl(seconds):
    """The shortest text parse_ttl reads back as `seconds` ("1h30m")."""
    seconds = int(seconds)
    if seconds <= 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s"):
        n, seconds = divmod(seconds, _UNITS[unit])
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)
