#!/usr/bin/env python3
"""Aggregates run_fs_bench.sh samples into medians, ratios and target checks.

Two subcommands, both used by run_fs_bench.sh:

  smallfiles-records --run N --target T --raw RAW.jsonl
      Reads one JSON object printed by nexus_bench_smallfiles on stdin, appends one raw
      sample record (JSON line) per phase to RAW.jsonl and prints a one-line summary.

  report --raw RAW.jsonl --out RESULTS.json [--meta key=value ...]
      Reads the raw records, writes the results JSON to RESULTS.json and the Markdown
      table to RESULTS.md, and prints the Markdown on stdout.

Raw records (one JSON object a line) are of three kinds:
  {"kind":"sample","run":1,"target":"native","workload":"seqio","phase":"write",
   "value":812.3,"unit":"MB/s"}
  {"kind":"failure","run":1,"target":"nexusd","workload":"tree","error":"..."}
  {"kind":"warning","run":1,"target":"nexusd","workload":"tree","error":"..."}

Every ratio is a throughput ratio, target speed / baseline speed: 0.9 means the target
ran at 90% of the baseline's speed. For phases measured in seconds that is
baseline_time / target_time.

Standard library only.
"""

import argparse
import json
import statistics
import sys

TARGETS = ("native", "passthrough_ll", "nexusd", "nexusd-norebac", "nexusd-uid", "nexusd-agent",
           "nexusd-prev", "nexusd-base")
SHORT = {"native": "native", "passthrough_ll": "pll", "nexusd": "nexusd", "nexusd-prev": "prev",
         "nexusd-base": "base", "nexusd-agent": "agent", "nexusd-norebac": "norebac",
         "nexusd-uid": "uid"}
# The default daemon seen by other subjects, held to nexusd's goals in their own columns.
VARIANTS = ("nexusd-norebac", "nexusd-uid", "nexusd-agent")

# The agent workloads (bench/agent_workloads.sh), shown in a table of their own: every
# step as PHASE (the command), "PHASE +settle" (until the daemon's CPU went flat) and
# "PHASE cpu" (the daemon's CPU seconds). Goal on "+settle", for every nexusd target:
# within 2x native time and ahead of passthrough_ll.
AGENT_WORKLOADS = ("untar", "git", "npm", "make")
AGENT_GOALS = (("native", 0.5), ("passthrough_ll", 1.0))

# The cost of a feature: `nexusd` (the feature on) against `nexusd-base` (the same daemon
# with it off), as a minimum throughput ratio. Versioning's budget: untar <= 15% slower,
# sequential write <= 5% slower, small-file creates <= 15% slower.
VERSIONS_BUDGET = {
    ("tree", "untar"): 1 / 1.15,
    ("seqio", "write"): 1 / 1.05,
    ("smallfiles", "create"): 1 / 1.15,
}
BASE_GOALS = dict(VERSIONS_BUDGET)


def set_base_budget(spec):
    """`versions` (the budgets above) or a number: that minimum ratio on every phase
    (access control's budget, <= 10% slower, is 0.909)."""
    global BASE_GOALS
    if spec in (None, "", "versions"):
        BASE_GOALS = dict(VERSIONS_BUDGET)
        return
    try:
        minimum = float(spec)
    except ValueError:
        sys.exit(f"--base-budget: 'versions' or a ratio, not {spec!r}")
    BASE_GOALS = {(w, p): minimum for w, p, _, _ in PHASES}

# Known phases in display order, with their goal: (baseline target, minimum ratio).
# The goals are the project's: data path >= 0.9x passthrough_ll, every small-file phase
# >= 1.0x passthrough_ll, and untar+grep+rm within 2x native time (ratio >= 0.5).
PHASES = [
    ("seqio", "write", "MB/s", ("passthrough_ll", 0.9)),
    ("seqio", "write+fsync", "MB/s", ("passthrough_ll", 0.9)),
    ("seqio", "read_cold", "MB/s", ("passthrough_ll", 0.9)),
    ("seqio", "read_warm", "MB/s", ("passthrough_ll", 0.9)),
    ("smallfiles", "create", "ops/s", ("passthrough_ll", 1.0)),
    ("smallfiles", "stat", "ops/s", ("passthrough_ll", 1.0)),
    ("smallfiles", "read", "ops/s", ("passthrough_ll", 1.0)),
    ("smallfiles", "readdir", "ops/s", ("passthrough_ll", 1.0)),
    ("smallfiles", "unlink", "ops/s", ("passthrough_ll", 1.0)),
    ("tree", "untar", "s", None),
    ("tree", "grep", "s", None),
    ("tree", "rm", "s", None),
    ("tree", "total", "s", ("native", 0.5)),
]
HIGHER_IS_BETTER = {"MB/s": True, "ops/s": True, "s": False}


def read_jsonl(path):
    records = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{lineno}: bad record: {e}")
    return records


def throughput_ratio(target_value, baseline_value, unit):
    if target_value is None or baseline_value in (None, 0) or target_value == 0:
        return None
    if HIGHER_IS_BETTER[unit]:
        return target_value / baseline_value
    return baseline_value / target_value


def goal_text(goal):
    if goal is None:
        return ""
    baseline, minimum = goal
    text = f">= {minimum:.2f}x {SHORT[baseline]}"
    if baseline == "native" and minimum == 0.5:
        text += " (<= 2x time)"
    return text


def aggregate(records):
    samples = {}  # (workload, phase) -> unit, {target: [values]}
    units = {}
    order = [(w, p) for w, p, _, _ in PHASES]
    for r in records:
        if r.get("kind") != "sample":
            continue
        key = (r["workload"], r["phase"])
        units.setdefault(key, r["unit"])
        samples.setdefault(key, {}).setdefault(r["target"], []).append(r["value"])
        if key not in order:
            order.append(key)
    goals = {(w, p): g for w, p, _, g in PHASES}

    rows = []
    for key in order:
        if key not in samples:
            continue
        workload, phase = key
        unit = units[key]
        per_target = samples[key]
        median = {t: statistics.median(v) for t, v in per_target.items()}
        spread = {
            t: (max(v) - min(v)) / statistics.median(v) if statistics.median(v) else None
            for t, v in per_target.items()
        }
        row = {
            "workload": workload,
            "phase": phase,
            "unit": unit,
            "higher_is_better": HIGHER_IS_BETTER[unit],
            "samples": per_target,
            "median": median,
            "relative_spread": spread,
            "ratio_vs_passthrough_ll": throughput_ratio(
                median.get("nexusd"), median.get("passthrough_ll"), unit),
            "ratio_vs_native": throughput_ratio(median.get("nexusd"), median.get("native"), unit),
            "passthrough_ll_ratio_vs_native": throughput_ratio(
                median.get("passthrough_ll"), median.get("native"), unit),
            "ratio_vs_base": throughput_ratio(median.get("nexusd"), median.get("nexusd-base"), unit),
            "ratio_vs_prev": throughput_ratio(median.get("nexusd"), median.get("nexusd-prev"), unit),
            "agent_ratio_vs_base": throughput_ratio(median.get("nexusd-agent"),
                                                    median.get("nexusd-base"), unit),
            # Every target against both baselines, and the variants' goals.
            "ratios": {t: {"vs_native": throughput_ratio(median[t], median.get("native"), unit),
                           "vs_passthrough_ll": throughput_ratio(
                               median[t], median.get("passthrough_ll"), unit)}
                       for t in median},
            "variant_met": {},
            "agent_goal_met": {},
            "base_goal": None,
            "base_met": None,
            "agent_base_met": None,
            "goal": None,
            "met": None,
        }
        if key in BASE_GOALS and row["ratio_vs_base"] is not None:
            row["base_goal"] = BASE_GOALS[key]
            row["base_met"] = row["ratio_vs_base"] >= BASE_GOALS[key]
        if key in BASE_GOALS and row["agent_ratio_vs_base"] is not None:
            row["base_goal"] = BASE_GOALS[key]
            row["agent_base_met"] = row["agent_ratio_vs_base"] >= BASE_GOALS[key]
        goal = goals.get(key)
        if goal is not None:
            baseline, minimum = goal
            ratio = row["ratio_vs_passthrough_ll" if baseline == "passthrough_ll"
                        else "ratio_vs_native"]
            row["goal"] = {"baseline": baseline, "min_throughput_ratio": minimum,
                           "text": goal_text(goal)}
            row["met"] = None if ratio is None else ratio >= minimum
            key_name = "vs_passthrough_ll" if baseline == "passthrough_ll" else "vs_native"
            for t in VARIANTS:
                r = row["ratios"].get(t, {}).get(key_name)
                if r is not None:
                    row["variant_met"][t] = r >= minimum
        if workload in AGENT_WORKLOADS and phase.endswith(" +settle"):
            row["goal"] = {"text": "<= 2x native time and faster than passthrough_ll, "
                                   "for every nexusd target"}
            for t in row["ratios"]:
                if not t.startswith("nexusd"):
                    continue
                checks = [row["ratios"][t][f"vs_{b}"] for b, _ in AGENT_GOALS]
                if all(c is not None for c in checks):
                    row["agent_goal_met"][t] = all(
                        c >= m for c, (_, m) in zip(checks, AGENT_GOALS))
            if row["agent_goal_met"]:
                row["met"] = all(row["agent_goal_met"].values())
        rows.append(row)
    return rows


def fmt_value(value, unit):
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.2f}"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def fmt_ratio(ratio):
    return "—" if ratio is None else f"{ratio:.2f}"


def variant_ratio(row, target):
    """A nexusd variant's ratio to its row's goal baseline (passthrough_ll when the row
    has no goal), named: "0.95 pll", "0.40 nat"."""
    baseline = "native" if row["goal"] and row["goal"].get("baseline") == "native" else "passthrough_ll"
    ratio = row["ratios"].get(target, {}).get(f"vs_{baseline}")
    return "—" if ratio is None else f"{ratio:.2f} {SHORT[baseline][:3]}"


def agent_markdown(rows, present, failed_cells, runs_expected):
    """The agent workloads' table: one row per step, a cell per target with the median
    seconds and its throughput ratios to native and passthrough_ll."""
    rows = [r for r in rows if r["workload"] in AGENT_WORKLOADS]
    if not rows:
        return []
    by_key = {(r["workload"], r["phase"]): r for r in rows}
    ordered = []
    for r in rows:  # each step's command, +settle and cpu rows together, in run order
        base = r["phase"].removesuffix(" +settle").removesuffix(" cpu")
        if r["phase"] == "daemon_cpu":
            continue
        for phase in (base, base + " +settle", base + " cpu"):
            row = by_key.get((r["workload"], phase))
            if row is not None and row not in ordered:
                ordered.append(row)
    ordered += [r for r in rows if r["phase"] == "daemon_cpu"]
    lines = ["", "### Agent workloads (seconds; lower is faster)", "",
             "| workload | step | " + " | ".join(present) + " | goal met? |",
             "|---|---|" + "---:|" * len(present) + "---|"]
    for row in ordered:
        cells = []
        is_cpu = row["phase"].endswith(" cpu") or row["phase"] == "daemon_cpu"
        for t in present:
            vals = row["samples"].get(t)
            if vals is None:
                cells.append("FAILED" if (row["workload"], t) in failed_cells and not is_cpu else "—")
                continue
            text = fmt_value(row["median"][t], "s")
            ratios = row["ratios"][t]
            if not is_cpu and t != "native":
                parts = []
                if ratios["vs_native"] is not None:
                    parts.append(f"{ratios['vs_native']:.2f} nat")
                if t.startswith("nexusd") and ratios["vs_passthrough_ll"] is not None:
                    parts.append(f"{ratios['vs_passthrough_ll']:.2f} pll")
                if parts:
                    text += " (" + ", ".join(parts) + ")"
            if runs_expected and len(vals) < runs_expected:
                text += f" ({len(vals)}/{runs_expected} runs)"
            cells.append(text)
        met = ""
        if row["agent_goal_met"]:
            missed = [SHORT[t] for t, ok in row["agent_goal_met"].items() if not ok]
            met = "yes" if not missed else "**NO**: " + ", ".join(missed)
        label = row["phase"].replace(" cpu", " (daemon CPU)") if is_cpu else row["phase"]
        lines.append(f"| {row['workload']} | {label} | " + " | ".join(cells) + f" | {met} |")
    lines.append("")
    lines.append("Cells: median seconds (throughput ratio to native, to passthrough_ll: "
                 "baseline time / target time). \"+settle\": the command and then the "
                 "daemon's background work until its CPU use went flat; the goal (every "
                 "nexusd target) is >= 0.50 nat (within 2x native time) and >= 1.00 pll on "
                 "those rows. \"daemon CPU\": the FUSE daemon's CPU seconds over the step "
                 "and its settling.")
    return lines


def markdown(rows, failures, warnings, runs_expected, meta):
    failed_cells = {(f["workload"], f["target"]) for f in failures}
    present = [t for t in TARGETS
               if any(t in row["samples"] for row in rows) or any(f["target"] == t for f in failures)]
    agent_lines = agent_markdown(rows, present, failed_cells, runs_expected)
    rows = [r for r in rows if r["workload"] not in AGENT_WORKLOADS]
    variants = [t for t in VARIANTS if t in present]
    with_base = "nexusd-base" in present
    with_agent = with_base and "nexusd-agent" in present
    with_prev = "nexusd-prev" in present
    lines = []
    lines.append(
        "| workload | phase | " + " | ".join(present) + " | nexusd/pll | nexusd/native "
        "| target | met? |" + (" nexusd/base | budget | within? |" if with_base else "")
        + (" agent/base | within? |" if with_agent else "")
        + (" nexusd/prev |" if with_prev else "")
        + "".join(f" {SHORT[t]} ratio | {SHORT[t]} met? |" for t in variants))
    lines.append("|---|---|" + "---:|" * len(present) + "---:|---:|---|---|"
                 + "---:|---|" * len(variants)
                 + ("---:|---|---|" if with_base else "") + ("---:|---|" if with_agent else "")
                 + ("---:|" if with_prev else ""))
    partial = False
    for row in rows:
        cells = []
        for t in present:
            vals = row["samples"].get(t)
            if vals is None:
                cells.append("FAILED" if (row["workload"], t) in failed_cells else "—")
                continue
            text = fmt_value(row["median"][t], row["unit"])
            if runs_expected and len(vals) < runs_expected:
                text += f" ({len(vals)}/{runs_expected} runs)"
                partial = True
            cells.append(text)
        met = row["met"]
        met_text = "" if row["goal"] is None else ("n/a" if met is None else
                                                     ("yes" if met else "**NO**"))
        lines.append(
            f"| {row['workload']} | {row['phase']} ({row['unit']}) | "
            + " | ".join(cells)
            + f" | {fmt_ratio(row['ratio_vs_passthrough_ll'])}"
            + f" | {fmt_ratio(row['ratio_vs_native'])}"
            + f" | {row['goal']['text'] if row['goal'] else ''} | {met_text} |"
            + (f" {fmt_ratio(row['ratio_vs_base'])} | "
               + (f">= {row['base_goal']:.2f}x base" if row["base_goal"] else "") + " | "
               + ("" if row["base_met"] is None else ("yes" if row["base_met"] else "**NO**"))
               + " |" if with_base else "")
            + (f" {fmt_ratio(row['agent_ratio_vs_base'])} | "
               + ("" if row["agent_base_met"] is None else
                  ("yes" if row["agent_base_met"] else "**NO**"))
               + " |" if with_agent else "")
            + (f" {fmt_ratio(row['ratio_vs_prev'])} |" if with_prev else "")
            + "".join(f" {variant_ratio(row, t)} | "
                      + ("" if t not in row["variant_met"] else
                         ("yes" if row["variant_met"][t] else "**NO**")) + " |"
                      for t in variants))
    if not rows:
        lines = []
    lines += agent_lines
    lines.append("")
    lines.append("Values are medians over runs. MB/s = 10^6 bytes/s; seconds: lower is faster. "
                 "Ratios are throughput ratios (target speed / baseline speed; for times "
                 "baseline_time / target_time): 0.90 = 90% of the baseline's speed.")
    spreads = []
    for t in present:
        worst = [(row["relative_spread"][t], row["workload"], row["phase"])
                 for row in rows if row["relative_spread"].get(t) is not None]
        if worst:
            s, w, p = max(worst)
            spreads.append(f"{t} {s:.0%} ({w}/{p})")
    if spreads:
        lines.append("Largest run-to-run spread, (max-min)/median: " + ", ".join(spreads) + ".")
    for note in (meta.get("notes") or {}).values():
        if note:
            lines.append(f"Note: {note}.")
    if partial:
        lines.append("(k/N runs): only k of N runs of that cell succeeded; see failures.")
    for f in failures:
        lines.append(f"- FAILURE run {f.get('run')} {f.get('target')} {f.get('workload')}: "
                     f"{f.get('error')}")
    for w in warnings:
        lines.append(f"- warning run {w.get('run')} {w.get('target')} {w.get('workload')}: "
                     f"{w.get('error')}")
    return "\n".join(lines) + "\n"


def parse_meta(pairs):
    """key=value pairs with dotted keys ("config.runs=3") into a nested dict."""
    meta = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            sys.exit(f"--meta expects key=value, got {pair!r}")
        node = meta
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        try:
            node[parts[-1]] = int(value)
        except ValueError:
            try:
                node[parts[-1]] = float(value)
            except ValueError:
                node[parts[-1]] = value
    return meta


def cmd_smallfiles_records(args):
    phases = json.load(sys.stdin)["phases"]
    with open(args.raw, "a", encoding="utf-8") as raw:
        for phase, result in phases.items():
            raw.write(json.dumps({"kind": "sample", "run": args.run, "target": args.target,
                                  "workload": "smallfiles", "phase": phase,
                                  "value": result["ops_per_sec"], "unit": "ops/s"}) + "\n")
    print(", ".join(f"{phase} {r['ops_per_sec']:,.0f}" for phase, r in phases.items())
          + " ops/s")


def cmd_report(args):
    set_base_budget(args.base_budget)
    records = read_jsonl(args.raw)
    meta = parse_meta(args.meta or [])
    rows = aggregate(records)
    failures = [r for r in records if r.get("kind") == "failure"]
    warnings = [r for r in records if r.get("kind") == "warning"]
    runs_expected = meta.get("config", {}).get("runs")
    table = markdown(rows, failures, warnings, runs_expected, meta)
    result = dict(meta)
    result["schema"] = "nexusfs.fs_bench.v1"
    result["ratio_definition"] = ("throughput ratio = target speed / baseline speed "
                                  "(times: baseline_time / target_time); 0.9 = 90% of the "
                                  "baseline's speed")
    result["results"] = rows
    result["failures"] = failures
    result["warnings"] = warnings
    result["markdown"] = table
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, sort_keys=False)
        f.write("\n")
    md_path = args.out[:-5] + ".md" if args.out.endswith(".json") else args.out + ".md"
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(table)
    sys.stdout.write(table)
    # Non-zero when a measured cell failed, so scripts notice; unmet goals are not errors.
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("smallfiles-records")
    p.add_argument("--run", type=int, required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--raw", required=True)
    p.set_defaults(func=cmd_smallfiles_records)
    p = sub.add_parser("report")
    p.add_argument("--raw", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--meta", action="append")
    p.add_argument("--base-budget", default="versions",
                   help="'versions' or a minimum nexusd/base ratio for every phase")
    p.set_defaults(func=cmd_report)
    args = parser.parse_args()
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
