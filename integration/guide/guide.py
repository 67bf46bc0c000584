#!/usr/bin/env python3
"""The Nexus user guide's command examples, run against NexusFS.

integration/guide/examples.txt lists the examples of the guide's sections
2-13, each with what NexusFS does with it. This tool reads that list and
either runs it (`run`, from integration/tests/guide.sh, against a live
nexusd) or writes docs/guide-parity.md from it (`doc`; `doc --check FILE`
fails when FILE is not what `doc` would write).

The list, one example per block (blocks apart by a blank line; `#` lines are
comments; `== N Title` opens a section):

    @ STATUS
    guide: the command as the guide prints it
    run: what is run (a bash command line; more run: lines join with newlines;
         default: the guide's command)
    check: a bash command that must succeed afterwards (optional, repeatable)
    note: how it is adapted, why it is unavailable, or what we do instead

STATUS is one of
    works        runs as the guide prints it and does what it describes;
    adapted      runs with small changes of our layout (`note` says which);
    unavailable  exits 69 with one line "nexus: unavailable: <feature> — <why>";
    different    the guide's way is replaced on purpose; `run` is ours;
    setup        a step of the test, not from the guide (run: and note: only).

Runs see T (a scratch folder, the current directory), MNT (the mount),
DATA (the data dir), HTTP (HOST:PORT of /health), LISTEN (the TLS listener),
CA (its certificate) and WS (the host folder served at /zone/local).
"""
import argparse
import os
import re
import subprocess
import sys
import time

STATUSES = ("works", "adapted", "unavailable", "different")
SETUP = "setup"  # a step of the test itself (not from the guide): run, must exit 0
UNAVAILABLE_LINE = re.compile(r"^nexus: unavailable: \S.* — \S.*$", re.M)
EX_USAGE, EX_UNAVAILABLE = 64, 69


class Example:
    def __init__(self, section, line):
        self.section, self.line = section, line
        self.status, self.guide, self.note = None, None, ""
        self.run_lines, self.checks = [], []

    @property
    def run(self):
        return "\n".join(self.run_lines) if self.run_lines else self.guide


def parse(path):
    """The examples and the section titles, in order; ValueError names the line."""
    sections, examples = [], []
    cur = None
    section = None

    def finish():
        if cur is None:
            return
        where = f"{path}:{cur.line}"
        if cur.status not in STATUSES + (SETUP,):
            raise ValueError(f"{where}: status must be one of {', '.join(STATUSES + (SETUP,))}")
        if cur.status == SETUP:
            if cur.guide or not cur.run_lines or not cur.note:
                raise ValueError(f"{where}: a setup step has run: and note: lines and no guide: line")
            examples.append(cur)
            return
        if not cur.guide:
            raise ValueError(f"{where}: an example needs a guide: line")
        if cur.status != "works" and not cur.note:
            raise ValueError(f"{where}: a {cur.status} example needs a note: line")
        if cur.status == "works" and cur.run_lines:
            raise ValueError(f"{where}: a works example runs the guide's command (no run: line)")
        examples.append(cur)

    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.startswith("#"):
                continue
            if not line.strip():
                finish()
                cur = None
                continue
            if line.startswith("== "):
                finish()
                cur = None
                section = line[3:].strip()
                sections.append(section)
                continue
            if line.startswith("@ "):
                finish()
                if section is None:
                    raise ValueError(f"{path}:{n}: an example before the first == section")
                cur = Example(section, n)
                cur.status = line[2:].strip()
                continue
            if cur is None:
                raise ValueError(f"{path}:{n}: text outside an example: {line!r}")
            key, sep, value = line.partition(": ")
            if not sep:
                key, value = line.rstrip(":"), ""
            if key == "guide":
                cur.guide = value if cur.guide is None else cur.guide + "\n" + value
            elif key == "run":
                cur.run_lines.append(value)
            elif key == "check":
                cur.checks.append(value)
            elif key == "note":
                cur.note = value if not cur.note else cur.note + " " + value
            else:
                raise ValueError(f"{path}:{n}: unknown key {key!r} (guide, run, check, note)")
    finish()
    return sections, examples


def run_all(examples, timeout, only=None):
    failures = 0
    env = dict(os.environ)
    for i, ex in enumerate(examples, 1):
        if only and ex.status != SETUP and only not in ex.guide:
            continue
        start = time.monotonic()
        try:
            p = subprocess.run(["bash", "-c", ex.run], env=env, capture_output=True, text=True, errors="replace",
                               timeout=timeout, stdin=subprocess.DEVNULL)
            rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            rc, out, err = "timeout", e.stdout or "", e.stderr or ""
            out = out.decode() if isinstance(out, bytes) else out
            err = err.decode() if isinstance(err, bytes) else err
        took = time.monotonic() - start
        problem = None
        if rc == "timeout":
            problem = f"did not finish in {timeout} s"
        elif rc == EX_USAGE:
            problem = "usage error (64)"
        elif ex.status == "unavailable":
            if rc != EX_UNAVAILABLE:
                problem = f"exit {rc}, expected {EX_UNAVAILABLE} (unavailable)"
            elif not UNAVAILABLE_LINE.search(err):
                problem = "exit 69 without a line 'nexus: unavailable: <feature> — <why>'"
        elif rc != 0:
            problem = f"exit {rc}"
        if problem is None:
            for check in ex.checks:
                c = subprocess.run(["bash", "-c", check], env=env, capture_output=True, text=True, errors="replace",
                                   timeout=timeout, stdin=subprocess.DEVNULL)
                if c.returncode != 0:
                    problem = f"check failed: {check}\n{c.stdout}{c.stderr}"
                    break
        tag = "ok  " if problem is None else "FAIL"
        first = (ex.guide or ex.run).splitlines()[0]
        print(f"{tag} [{ex.status:11}] {first}  ({took:.1f} s)", flush=True)
        if problem:
            failures += 1
            print(f"     line {ex.line}: {problem}", flush=True)
            print("     run: " + ex.run.replace("\n", "\n          "), flush=True)
            for name, text in (("stdout", out), ("stderr", err)):
                if text.strip():
                    print(f"     {name}: " + text.strip()[-1500:].replace("\n", "\n             "), flush=True)
    return failures


def md_code(text):
    text = text.replace("|", "\\|")
    if "\n" in text:
        return "<br>".join(f"`{t}`" for t in text.splitlines() if t.strip())
    return f"`{text}`"


def render(sections, examples, source):
    counts = {s: sum(1 for e in examples if e.status == s) for s in STATUSES}
    setup = [e for e in examples if e.status == SETUP]
    examples = [e for e in examples if e.status != SETUP]
    out = [
        "# The Nexus user guide on NexusFS",
        "",
        f"<!-- Generated by integration/guide/guide.py doc from {source}; do not edit. -->",
        "",
        "The command examples of the Nexus user guide's sections 2 to 13 and what",
        "NexusFS does with each. The test `integration.guide` runs every one of them",
        "against a real nexusd (`integration/tests/guide.sh`): an example that",
        "works or is adapted must exit 0 and pass its checks; an unavailable one",
        "must exit 69 with one line `nexus: unavailable: <feature> — <why>`; none",
        "may end in a usage error (64). Edit the list",
        f"(`{source}`) and regenerate this page with",
        "`python3 integration/guide/guide.py doc > docs/guide-parity.md`.",
        "",
        f"Totals: {counts['works']} work as written, {counts['adapted']} adapted, "
        f"{counts['different']} done differently on purpose, {counts['unavailable']} unavailable.",
        "",
        "## Done differently on purpose",
        "",
        "- **Cap'n Proto, not HTTP REST.** Clients speak the control protocol",
        "  (`rpc/nexus.capnp`) over the Unix socket or TLS TCP; the HTTP listener",
        "  serves only `/health` and `/metrics`. Where the guide calls",
        "  `/api/v2/...`, use the `nexus` command shown.",
        "- **Snapshots, not transactions.** `nexus snapshot create` records a",
        "  point-in-time copy of zones and `snapshot restore` returns to it; there",
        "  is no open transaction to commit.",
        "- **No Python SDK.** The mount is the API: any language's file calls work",
        "  on it, with the caller's permissions; the `nexus` CLI and the control",
        "  protocol cover the rest.",
        "- **Zones are folders.** `/zone/NAME` of one daemon; `--zone-id` scopes",
        "  ReBAC questions to a zone (a path under `/zone/NAME`, or an object with",
        "  a tuple labelled NAME). There is no federation between daemons.",
        "- **`/workspace` is a folder.** The guide's `/workspace/...` paths are",
        "  ordinary paths of the tree (`MNT/workspace/...` on the mount); a host",
        "  folder given with `--workspace` is served at `/zone/local`.",
        "",
    ]
    for section in sections:
        rows = [e for e in examples if e.section == section]
        if not rows:
            continue
        out += [f"## {section}", "", "| guide | status | what NexusFS does |", "| --- | --- | --- |"]
        for e in rows:
            what = e.note.replace("|", "\\|")
            if e.status in ("adapted", "different") and e.run != e.guide:
                what = (what + " Runs: " if what else "Runs: ") + md_code(e.run)
            if e.status == "works" and not what:
                what = "as written"
            out.append(f"| {md_code(e.guide)} | {e.status} | {what} |")
        out.append("")
    if setup:
        out += ["## Steps the test adds", "",
                "Not from the guide: what the test does between examples.", ""]
        out += [f"- {e.note} ({md_code(e.run)})" for e in setup]
        out.append("")
    return "\n".join(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", default=os.path.join(here, "examples.txt"))
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run every example (from integration/tests/guide.sh)")
    r.add_argument("--timeout", type=float, default=30)
    r.add_argument("--only", help="only examples whose guide text contains this")
    d = sub.add_parser("doc", help="print docs/guide-parity.md")
    d.add_argument("--check", metavar="FILE", help="fail when FILE differs from what doc prints")
    a = ap.parse_args()
    try:
        sections, examples = parse(a.list)
    except ValueError as e:
        print(f"guide.py: {e}", file=sys.stderr)
        return 2
    if a.cmd == "run":
        failures = run_all(examples, a.timeout, a.only)
        print(f"{len(examples)} examples, {failures} failed")
        return 1 if failures else 0
    text = render(sections, examples, "integration/guide/examples.txt") + "\n"
    if a.check:
        with open(a.check, encoding="utf-8") as f:
            if f.read() != text:
                print(f"{a.check} is out of date: python3 integration/guide/guide.py doc > {a.check}",
                      file=sys.stderr)
                return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
