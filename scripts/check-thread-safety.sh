#!/usr/bin/env bash
# Checks the lock annotations (base/thread_annotations.h) with clang's
# thread-safety analysis: `clang++ -fsyntax-only -Wthread-safety
# -Wthread-safety-beta -Werror=thread-safety` (beta: the lock order declared
# with ACQUIRED_BEFORE is checked too) on every translation unit of the project's own sources
# (base fs perms agents mesh rpc daemon cli; not tests or bench), with the include
# paths and defines of the build's compile_commands.json. No objects are
# written, so this costs a parse per file, not a second build. Fails, printing
# the diagnostics, when any file has a finding.
#
#   scripts/check-thread-safety.sh              check the tree (build dir: ${NEXUS_BUILD_DIR:-build})
#   scripts/check-thread-safety.sh FILE.cc...   check these files only (a file the build
#                                               does not know gets a base/ file's flags)
#   scripts/check-thread-safety.sh --self-test  show the check fails on a known violation
#
# Needs a configured build (compile_commands.json and the generated Cap'n
# Proto headers) and Debian's clang.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${NEXUS_BUILD_DIR:-$root/build}
[[ $build_dir = /* ]] || build_dir=$root/$build_dir
jobs=${NEXUS_TSA_JOBS:-2}
clang=${CLANGXX:-clang++}
db=$build_dir/compile_commands.json

command -v "$clang" >/dev/null || { echo "check-thread-safety: $clang not found (apt-get install clang)" >&2; exit 2; }
[[ -f $db ]] || { echo "check-thread-safety: $db missing; configure the build first" >&2; exit 2; }

# One line per translation unit: its directory, then the clang command, shell
# quoted. The build's compiler, -c, -o and its output, and its -W flags are
# dropped.
commands() {  # $1: source filter regex (relative to the root); $2: files to check instead
  python3 - "$db" "$root" "$1" "$clang" "${2:-}" "${NEXUS_TSA_EXTRA_FLAGS:-}" <<'PY'
import json, os, re, shlex, sys
db, root, pattern, clang, override, extra = sys.argv[1:7]
entries = json.load(open(db))
keep = re.compile(pattern)
def args_of(e):
    a = e.get("arguments") or shlex.split(e["command"])
    out, skip = [], False
    for x in a[1:]:
        if skip:
            skip = False
            continue
        if x in ("-o", "-c"):
            skip = x == "-o"
            continue
        if x == e["file"] or x.endswith((".cc", ".cpp", ".c++")):
            continue
        if x.startswith("-W"):  # the build's warnings: only this check's count here
            continue
        out.append(x)
    return out
by_file = {}
for e in entries:
    f = os.path.realpath(os.path.join(e["directory"], e["file"]))
    by_file[f] = e
if override:
    tmpl = next(e for f, e in sorted(by_file.items()) if f.startswith(root + "/base/"))
    files = [(os.path.realpath(f), by_file.get(os.path.realpath(f), tmpl))
             for f in override.split("\n") if f]
else:
    files = sorted((f, e) for f, e in by_file.items()
                   if f.startswith(root + "/") and keep.match(os.path.relpath(f, root)))
for f, e in files:
    argv = [clang] + args_of(e) + ["-fsyntax-only", "-Wthread-safety", "-Wthread-safety-beta",
                                   "-Werror=thread-safety"] + shlex.split(extra) + [f]
    print(shlex.quote(e["directory"]) + " " + shlex.join(argv))
PY
}

main_check() {
  local filter='^(base|fs|perms|agents|mesh|rpc|daemon|cli)/' override=${1:-}
  local out; out=$(mktemp -d)
  local n=0 line
  while IFS= read -r line; do
    n=$((n + 1))
    printf '%s\n' "$line" > "$out/$n.cmd"
  done < <(commands "$filter" "$override")
  ((n)) || { echo "check-thread-safety: no translation units" >&2; rm -rf "$out"; return 2; }
  seq 1 "$n" | xargs -P "$jobs" -I{} bash -c '
    o=$0; i=$1
    eval "set -- $(cat "$o/$i.cmd")"
    dir=$1; shift
    if ! (cd "$dir" && "$@") > "$o/$i.log" 2>&1; then echo "$i" >> "$o/failed"; fi
  ' "$out" {}
  local status=0
  if [[ -s $out/failed ]]; then
    status=1
    for i in $(sort -n "$out/failed"); do cat "$out/$i.log"; done
    echo "check-thread-safety: $(wc -l < "$out/failed") of $n translation units have findings" >&2
  else
    echo "check-thread-safety: $n translation units clean"
  fi
  rm -rf "$out"
  return $status
}

if [[ ${1:-} = --self-test ]]; then
  # The same file with and without NEXUS_TSA_VIOLATION: clean must pass, the
  # violation must fail with a thread-safety diagnostic (not any other error).
  src=$root/tests/base/thread_safety_violation.cc
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  if ! main_check "$src" > "$log" 2>&1; then
    cat "$log"; echo "check-thread-safety: self-test: the clean variant failed" >&2; exit 1
  fi
  if NEXUS_TSA_EXTRA_FLAGS=-DNEXUS_TSA_VIOLATION main_check "$src" > "$log" 2>&1; then
    cat "$log"; echo "check-thread-safety: self-test: the violation passed" >&2; exit 1
  fi
  grep -q 'Werror,-Wthread-safety' "$log" || {
    cat "$log"; echo "check-thread-safety: self-test: failed without a thread-safety finding" >&2; exit 1; }
  grep -q "must be acquired before" "$log" || {
    cat "$log"; echo "check-thread-safety: self-test: the lock-order violation was not found" >&2; exit 1; }
  echo "check-thread-safety: self-test passed"
  exit 0
fi

if (($#)); then
  main_check "$(printf '%s\n' "$@")"
else
  main_check ""
fi
