"""Run ids: the UTC start time and the scenario, "20261124T131500Z-nexuslab-minimal".

They sort by start time, so the newest run is the greatest id.
"""
import datetime
import re

from . import UsageError

SCENARIO = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
RUN_ID = re.compile(r"^(\d{8}T\d{6}Z)-nexuslab-([a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?)(?:\.(\d+))?$")


def check_scenario(name):
    if not isinstance(name, str) or not SCENARIO.fullmatch(name):
        raise UsageError(f"scenario {name!r}: 1-40 characters a-z, 0-9 and '-', "
                         "starting and ending with a letter or digit")
    return name


def make_run_id(now, scenario, taken=()):
    """The run id for a run started at `now` (an aware datetime), unique among
    `taken` (a second run in the same second gets ".2", then ".3")."""
    check_scenario(scenario)
    stamp = now.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = f"{stamp}-nexuslab-{scenario}"
    rid, n = base, 1
    while rid in taken:
        n += 1
        rid = f"{base}.{n}"
    return rid


def parse_run_id(rid):
    """(start time, scenario) of a run id; UsageError if it is not one."""
    m = RUN_ID.fullmatch(rid) if isinstance(rid, str) else None
    try:
        if not m:
            raise ValueError
        when = datetime.datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:  # the shape of one, but no such time
        raise UsageError(f"{rid!r} is not a run id (like 20261124T131500Z-nexuslab-minimal)") from None
    return when, m.group(2)
