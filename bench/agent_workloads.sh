# shellcheck shell=bash disable=SC2034  # sourced by run_fs_bench.sh, which uses these variables
# agent_workloads.sh — the agent workloads of run_fs_bench.sh (sourced by it, not run):
#   untar  extract a source tree (BENCH_UNTAR_SRC), then rm -rf it
#   git    git clone --no-local of a generated repository of BENCH_GIT_FILES files, git
#          status twice, an edit of BENCH_GIT_CHANGES files and git status, git add -A
#   npm    npm install --offline of a node_modules tree from a local cache, find + stat
#          over it, rm -rf of it (the names find and rm select this workload too)
#   make   a full make -j2 of a generated C project, then an incremental one after
#          touching BENCH_MAKE_TOUCH sources
# Every step is timed on its own, and for FUSE targets also "until settled": until the
# daemon's CPU use stays flat (BENCH_SETTLE_TICKS clock ticks or fewer in
# BENCH_SETTLE_WINDOW seconds), so background work a daemon defers (versions, index,
# operations log) counts against it. Three samples per step: PHASE (the command),
# "PHASE +settle" (command and settling) and "PHASE cpu" (the daemon's CPU seconds over
# both).
#
# Inputs are built once under $INPUTS and reused by later runs: the network is used
# only to fill the npm cache the first time, never while a run measures.
#
# Uses from run_fs_bench.sh: step, say, die, record_sample, record_problem, secs,
# drop_caches, pid_alive, ACTIVE_PID, WORK, LOGS, INPUTS, RAW, FAIL_MSG, SUMMARY.

BENCH_UNTAR_SRC=${BENCH_UNTAR_SRC:-/usr/include /usr/lib/python3}
BENCH_GIT_FILES=${BENCH_GIT_FILES:-24000}
BENCH_GIT_CHANGES=${BENCH_GIT_CHANGES:-200}
BENCH_NPM_MODE=${BENCH_NPM_MODE:-npm}
BENCH_MAKE_FILES=${BENCH_MAKE_FILES:-400}
BENCH_MAKE_TOUCH=${BENCH_MAKE_TOUCH:-20}
BENCH_SETTLE_WINDOW=${BENCH_SETTLE_WINDOW:-0.5}
BENCH_SETTLE_TICKS=${BENCH_SETTLE_TICKS:-1}
BENCH_SETTLE_MAX=${BENCH_SETTLE_MAX:-300}

AGENT_WORKLOADS=(untar git npm make)
# npm packages of the npm workload: a front-end and tooling mix, pinned at top level (the
# lock file made at preparation pins the rest).
NPM_PACKAGES='"@babel/core": "7.26.0", "@babel/preset-env": "7.26.0", "eslint": "9.14.0",
    "express": "4.21.1", "jest": "29.7.0", "lodash": "4.17.21", "react": "18.3.1",
    "react-dom": "18.3.1", "typescript": "5.6.3", "webpack": "5.96.1"'

agent_validate() {
  local n
  for n in "$BENCH_GIT_FILES" "$BENCH_GIT_CHANGES" "$BENCH_MAKE_FILES" "$BENCH_MAKE_TOUCH" \
           "$BENCH_SETTLE_TICKS" "$BENCH_SETTLE_MAX"; do
    [[ $n =~ ^[0-9]+$ ]] || die "expected a non-negative integer, got '$n'"
  done
  [[ $BENCH_NPM_MODE == npm || $BENCH_NPM_MODE == tar ]] ||
    die "BENCH_NPM_MODE: npm or tar, not '$BENCH_NPM_MODE'"
  local tool
  for tool in git make cc setpriv; do
    command -v "$tool" >/dev/null || die "missing tool for the agent workloads: $tool"
  done
  [[ $BENCH_NPM_MODE == tar ]] || command -v npm >/dev/null ||
    die "missing npm (or set BENCH_NPM_MODE=tar after a preparation that had it)"
}

# --- inputs (built once, reused) ---------------------------------------------------------

# Environment of every workload command, for root and for the bound uid alike: a HOME
# both may write, git's global config (identity, safe.directory for a clone source that
# another uid owns), npm quiet and offline-capable.
agent_env_setup() {
  AGENT_HOME=$BENCH_DIR/home
  mkdir -p "$AGENT_HOME" && chmod 1777 "$AGENT_HOME" || die "cannot make $AGENT_HOME"
  cat >"$INPUTS/gitconfig" <<EOF
[user]
	name = Bench
	email = bench@example.invalid
[safe]
	directory = *
[core]
	untrackedCache = false
	fsmonitor = false
[gc]
	auto = 0
EOF
  chmod 0644 "$INPUTS/gitconfig"
  AGENT_ENV=(env "HOME=$AGENT_HOME" "GIT_CONFIG_GLOBAL=$INPUTS/gitconfig" GIT_CONFIG_NOSYSTEM=1
             npm_config_update_notifier=false npm_config_audit=false npm_config_fund=false
             "npm_config_logs_dir=$AGENT_HOME/npm-logs")
}

agent_prepare() {
  agent_env_setup
  local want
  for want in "${WORKLOADS[@]}"; do
    case $want in
      untar) prepare_untar ;;
      git) prepare_git ;;
      npm) prepare_npm ;;
      make) prepare_make ;;
    esac
  done
  # The bound uid reads every input.
  chmod -R a+rX "$INPUTS" 2>/dev/null
  chmod a+rx "$BENCH_DIR"
}

UNTAR_TAR=""
UNTAR_ENTRIES=0
prepare_untar() {
  UNTAR_TAR=$INPUTS/untar.tar
  local src rels=()
  for src in $BENCH_UNTAR_SRC; do
    [[ -d $src && $src == /* ]] || die "BENCH_UNTAR_SRC: '$src' is not an absolute directory"
    rels+=("${src#/}")
  done
  say "run_fs_bench: making $UNTAR_TAR from $BENCH_UNTAR_SRC"
  tar -C / -cf "$UNTAR_TAR" "${rels[@]}" 2>"$LOGS/untar-create.log"
  (($? <= 1)) || die "tar of $BENCH_UNTAR_SRC failed: see $LOGS/untar-create.log"
  UNTAR_ENTRIES=$(tar -tf "$UNTAR_TAR" | wc -l)
  UNTAR_FILES=$(tar -tvf "$UNTAR_TAR" | grep -c '^-')
}

GIT_SRC=""
prepare_git() {
  GIT_SRC=$INPUTS/git-$BENCH_GIT_FILES
  if [[ ! -f $GIT_SRC/.done ]]; then
    say "run_fs_bench: generating $GIT_SRC ($BENCH_GIT_FILES files, one commit)"
    rm -rf "$GIT_SRC"
    python3 "$SCRIPT_DIR/make_tree.py" git-repo "$GIT_SRC" --files "$BENCH_GIT_FILES" \
      >"$LOGS/git-generate.log" 2>&1 || die "generating $GIT_SRC failed: see $LOGS/git-generate.log"
    touch "$GIT_SRC/.done"
  fi
  # The change list follows BENCH_GIT_CHANGES even for a tree generated before.
  git -C "$GIT_SRC" ls-files | awk -v n="$BENCH_GIT_FILES" -v k="$BENCH_GIT_CHANGES" \
    'BEGIN { s = int(n / (k ? k : 1)); if (s < 1) s = 1 } /^pkg/ && (c++ % s) == 0 && got < k { print; got++ }' \
    >"$INPUTS/git-changes.list"
  GIT_CHANGES=$(wc -l <"$INPUTS/git-changes.list")
  GIT_TRACKED=$(git -C "$GIT_SRC" ls-files | wc -l)
}

NPM_DIR=""
NPM_FILES=0
prepare_npm() {
  NPM_DIR=$INPUTS/npm
  if [[ ! -f $NPM_DIR/.done ]]; then
    say "run_fs_bench: filling the npm cache $NPM_DIR/cache (network, this once)"
    rm -rf "$NPM_DIR"
    mkdir -p "$NPM_DIR/project" || die "cannot make $NPM_DIR"
    printf '{\n  "name": "nexus-bench-npm-tree",\n  "version": "1.0.0",\n  "private": true,\n  "dependencies": {\n    %s\n  }\n}\n' \
      "$NPM_PACKAGES" >"$NPM_DIR/project/package.json"
    # Debian's npm sets omit-lockfile-registry-resolved, and a lock without "resolved"
    # cannot install offline: ask for the URLs. Scripts are not run (no network later).
    (cd "$NPM_DIR/project" &&
      "${AGENT_ENV[@]}" npm install --cache "$NPM_DIR/cache" --ignore-scripts \
        --omit-lockfile-registry-resolved=false) >"$LOGS/npm-prepare.log" 2>&1 ||
      die "npm install at preparation failed (needs the network once): see $LOGS/npm-prepare.log"
    # Proof that the cache alone suffices, and the fallback tarball.
    rm -rf "$NPM_DIR/project/node_modules"
    (cd "$NPM_DIR/project" &&
      "${AGENT_ENV[@]}" npm install --offline --cache "$NPM_DIR/cache" --ignore-scripts) \
      >>"$LOGS/npm-prepare.log" 2>&1 ||
      die "offline npm install from $NPM_DIR/cache failed: see $LOGS/npm-prepare.log"
    tar -C "$NPM_DIR/project" -cf "$NPM_DIR/node_modules.tar" node_modules ||
      die "cannot tar $NPM_DIR/project/node_modules"
    find "$NPM_DIR/project/node_modules" -type f | wc -l >"$NPM_DIR/files"
    rm -rf "$NPM_DIR/project/node_modules"
    touch "$NPM_DIR/.done"
  fi
  NPM_FILES=$(<"$NPM_DIR/files")
  # npm writes its index and temporary files into the cache, also offline.
  chmod -R a+rwX "$NPM_DIR/cache"
}

MAKE_SRC=""
prepare_make() {
  MAKE_SRC=$INPUTS/cproj-$BENCH_MAKE_FILES
  if [[ ! -f $MAKE_SRC/.done ]]; then
    say "run_fs_bench: generating $MAKE_SRC ($BENCH_MAKE_FILES C files)"
    rm -rf "$MAKE_SRC"
    python3 "$SCRIPT_DIR/make_tree.py" c-project "$MAKE_SRC" --files "$BENCH_MAKE_FILES" \
      >"$LOGS/make-generate.log" 2>&1 || die "generating $MAKE_SRC failed: see $LOGS/make-generate.log"
    touch "$MAKE_SRC/.done"
  fi
  find "$MAKE_SRC/src" -name '*.c' | sort |
    awk -v n="$BENCH_MAKE_FILES" -v k="$BENCH_MAKE_TOUCH" \
      'BEGIN { s = int(n / (k ? k : 1)); if (s < 1) s = 1 } (NR - 1) % s == 0 && got < k { print; got++ }' |
    sed "s|^$MAKE_SRC/||" >"$INPUTS/make-touch.list"
  MAKE_TOUCHED=$(wc -l <"$INPUTS/make-touch.list")
}

# --- settling and timed steps ------------------------------------------------------------

# CPU clock ticks (user + system, all threads, also exited ones) process $1 has used.
proc_ticks() {
  local line rest fields
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  rest=${line##*) }
  read -r -a fields <<<"$rest"
  echo $((fields[11] + fields[12]))
}

# Waits until daemon $1 has settled: the earliest moment from which its CPU use over the
# next BENCH_SETTLE_WINDOW seconds is at most BENCH_SETTLE_TICKS ticks (by default 1 tick
# of 10 ms in 0.5 s: <= 2% of a core). Sets SETTLED_AT (epoch seconds) and SETTLED_TICKS.
# Returns 1 (SETTLED_AT = now) when it has not settled after BENCH_SETTLE_MAX seconds or
# the daemon is gone.
settle() {
  local pid=$1 start=$EPOCHREALTIME s=0 k now
  local -a ts=() cs=()
  while :; do
    now=$EPOCHREALTIME
    k=${#ts[@]}
    cs[k]=$(proc_ticks "$pid") || { SETTLED_AT=$now; SETTLED_TICKS=${cs[k - 1]:-0}; return 1; }
    ts[k]=$now
    while ((cs[k] - cs[s] > BENCH_SETTLE_TICKS)); do s=$((s + 1)); done
    if awk -v a="${ts[s]}" -v b="$now" -v w="$BENCH_SETTLE_WINDOW" 'BEGIN { exit !(b - a >= w) }'; then
      SETTLED_AT=${ts[s]}
      SETTLED_TICKS=${cs[s]}
      return 0
    fi
    if awk -v a="$start" -v b="$now" -v m="$BENCH_SETTLE_MAX" 'BEGIN { exit !(b - a >= m) }'; then
      SETTLED_AT=$now
      SETTLED_TICKS=${cs[k]}
      return 1
    fi
    sleep 0.1
  done
}

# Waits, untimed, for the daemon to finish what earlier (untimed) work left it.
settle_quietly() {
  [[ -n $ACTIVE_PID ]] || return 0
  settle "$ACTIVE_PID" ||
    record_problem warning "$RUN" "$TARGET" "$WORKLOAD" "daemon busy for ${BENCH_SETTLE_MAX} s before a step"
  return 0
}

# Times one step: `timed PHASE CMD...` runs CMD (as the target's user, in the agent
# environment) with stdout in $LOGS/step.out, and records PHASE, "PHASE +settle" and
# "PHASE cpu" (the latter two for FUSE targets; native's "+settle" is its command time).
timed() {
  local phase=$1 t0 t1 c0 rc cmd_s total_s cpu_s
  shift
  c0=""
  [[ -n $ACTIVE_PID ]] && c0=$(proc_ticks "$ACTIVE_PID")
  t0=$EPOCHREALTIME
  step "${AGENT_ENV[@]}" "$@" >"$LOGS/step.out" 2>"$LOGS/step.err"
  rc=$?
  t1=$EPOCHREALTIME
  if ((rc != 0)); then
    FAIL_MSG="$phase: '$*' exited $rc: $(tail -n 3 "$LOGS/step.err" | tr '\n' ' ')"
    return 1
  fi
  cmd_s=$(secs "$t0" "$t1")
  total_s=$cmd_s
  if [[ -n $ACTIVE_PID && -n $c0 ]]; then
    if ! settle "$ACTIVE_PID"; then
      pid_alive "$ACTIVE_PID" || { FAIL_MSG="$phase: the daemon exited"; return 1; }
      record_problem warning "$RUN" "$TARGET" "$WORKLOAD" \
        "$phase: the daemon did not settle within ${BENCH_SETTLE_MAX} s; counted up to then"
    fi
    # Settling may be found to have begun before the command returned (nothing left to do).
    total_s=$(awk -v a="$t0" -v b="$t1" -v c="$SETTLED_AT" 'BEGIN { printf "%.6f", (c > b ? c : b) - a }')
    cpu_s=$(awk -v a="$c0" -v b="$SETTLED_TICKS" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz }')
    record_sample "$RUN" "$TARGET" "$WORKLOAD" "$phase cpu" "$cpu_s" s
  fi
  record_sample "$RUN" "$TARGET" "$WORKLOAD" "$phase" "$cmd_s" s
  record_sample "$RUN" "$TARGET" "$WORKLOAD" "$phase +settle" "$total_s" s
  local note
  printf -v note '%s %.2f s' "$phase" "$cmd_s"
  [[ $total_s != "$cmd_s" ]] && printf -v note '%s (%.2f settled)' "$note" "$total_s"
  SUMMARY+="${SUMMARY:+, }$note"
}

# Runs an untimed command as the target's user in the agent environment; stdout in
# $LOGS/untimed.out.
untimed() {
  step "${AGENT_ENV[@]}" "$@" >"$LOGS/untimed.out" 2>"$LOGS/step.err" ||
    { FAIL_MSG="untimed '$*' failed: $(tail -n 3 "$LOGS/step.err" | tr '\n' ' ')"; return 1; }
}

count_lines() { wc -l <"$1" | tr -d ' '; }

# --- workloads ---------------------------------------------------------------------------

workload_untar() {
  local dir=$WORK/src n
  drop_caches
  cat "$UNTAR_TAR" >/dev/null
  untimed mkdir "$dir" || return 1
  settle_quietly
  timed untar tar -xf "$UNTAR_TAR" -C "$dir" || return 1
  untimed find "$dir" -type f || return 1
  n=$(count_lines "$LOGS/untimed.out")
  ((n == UNTAR_FILES)) || { FAIL_MSG="untarred tree has $n files, archive $UNTAR_FILES"; return 1; }
  settle_quietly
  timed "rm -rf" rm -rf "$dir" || return 1
  [[ ! -e $dir ]] || { FAIL_MSG="$dir still exists after rm -rf"; return 1; }
}

workload_git() {
  local repo=$WORK/repo n
  drop_caches
  settle_quietly
  timed clone git clone -q --no-local "$GIT_SRC" "$repo" || return 1
  timed "status (1st)" git -C "$repo" status --porcelain || return 1
  timed "status (warm)" git -C "$repo" status --porcelain || return 1
  n=$(count_lines "$LOGS/step.out")
  ((n == 0)) || { FAIL_MSG="fresh clone shows $n changes"; return 1; }
  # Each listed file gets one line more (untimed), as an editing agent would.
  untimed env -C "$repo" xargs -a "$INPUTS/git-changes.list" -d '\n' sed -i -e '$a // edited' || return 1
  settle_quietly
  timed "status ($GIT_CHANGES changed)" git -C "$repo" status --porcelain || return 1
  n=$(count_lines "$LOGS/step.out")
  ((n == GIT_CHANGES)) || { FAIL_MSG="git status shows $n changes, want $GIT_CHANGES"; return 1; }
  timed "add -A" git -C "$repo" add -A || return 1
}

workload_npm() {
  local proj=$WORK/app n
  drop_caches
  untimed mkdir "$proj" || return 1
  untimed cp "$NPM_DIR/project/package.json" "$NPM_DIR/project/package-lock.json" "$proj/" || return 1
  settle_quietly
  if [[ $BENCH_NPM_MODE == npm ]]; then
    timed "npm install" env -C "$proj" npm install --offline --cache "$NPM_DIR/cache" \
      --ignore-scripts --no-audit --no-fund || return 1
  else
    cat "$NPM_DIR/node_modules.tar" >/dev/null
    timed "npm install" tar -xf "$NPM_DIR/node_modules.tar" -C "$proj" || return 1
  fi
  timed "find+stat" find "$proj/node_modules" -printf '%y %m %s %T@ %p\n' || return 1
  n=$(grep -c '^f' "$LOGS/step.out")
  ((n == NPM_FILES)) || { FAIL_MSG="node_modules has $n files, want $NPM_FILES"; return 1; }
  timed "rm -rf" rm -rf "$proj/node_modules" || return 1
  [[ ! -e $proj/node_modules ]] || { FAIL_MSG="node_modules still exists after rm -rf"; return 1; }
}

workload_make() {
  local proj=$WORK/cproj
  drop_caches
  untimed cp -r "$MAKE_SRC" "$proj" || return 1
  settle_quietly
  timed "full build" make -C "$proj" -j2 -s || return 1
  untimed env -C "$proj" xargs -a "$INPUTS/make-touch.list" -d '\n' touch || return 1
  settle_quietly
  timed "incremental ($MAKE_TOUCHED touched)" make -C "$proj" -j2 || return 1
  n=$(grep -c -- ' -c -o ' "$LOGS/step.out")
  ((n == MAKE_TOUCHED)) || { FAIL_MSG="incremental make compiled $n files, want $MAKE_TOUCHED"; return 1; }
  untimed "$proj/build/prog" || { FAIL_MSG="the built program failed"; return 1; }
}

agent_meta() {
  AGENT_META=(
    "config.agent.untar_source=$BENCH_UNTAR_SRC"
    "config.agent.untar_entries=$UNTAR_ENTRIES"
    "config.agent.untar_files=${UNTAR_FILES:-0}"
    "config.agent.git_files=${GIT_TRACKED:-0}"
    "config.agent.git_changes=${GIT_CHANGES:-0}"
    "config.agent.npm_mode=$BENCH_NPM_MODE"
    "config.agent.npm_files=$NPM_FILES"
    "config.agent.npm_packages=$(tr -s ' \n' ' ' <<<"$NPM_PACKAGES")"
    "config.agent.make_files=$BENCH_MAKE_FILES"
    "config.agent.make_touched=${MAKE_TOUCHED:-0}"
    "config.agent.settle=CPU of the daemon <= $BENCH_SETTLE_TICKS tick(s) of 1/$CLK_TCK s over $BENCH_SETTLE_WINDOW s, at most $BENCH_SETTLE_MAX s"
  )
}
