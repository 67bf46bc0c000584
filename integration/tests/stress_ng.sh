#!/usr/bin/env bash
# stress-ng filesystem stressors with --verify, each in its own temp
# directory on the mount, one after another, with small worker counts and a
# bounded run time. Every stressor must complete successfully: exit status 0,
# "successful run completed", no "fail:" line, nothing skipped, bogo ops > 0
# in the YAML metrics, and its temp directory left empty (stress-ng removes
# what it made, so leftovers mean an unlink/rmdir went wrong). The daemon
# must survive all of it, and restart cleanly afterwards.
#
# Env: STRESS_TIMEOUT (seconds per core stressor, default 10),
#      STRESS_EXTRA_TIMEOUT (seconds per extra stressor, default 4),
#      STRESS_ONLY="a b" runs only those stressors.
source "$(dirname "$0")/../lib.sh"
command -v stress-ng >/dev/null || fail "stress-ng is not installed"

CORE_TIMEOUT=${STRESS_TIMEOUT:-10}
EXTRA_TIMEOUT=${STRESS_EXTRA_TIMEOUT:-4}
WORKERS=2

# name | extra stress-ng options [| seconds, when the default is too short].
# mmap needs --mmap-file, or it only maps anonymous memory and never touches
# the filesystem. One xattr bogo op is ~45,000 xattr calls (4096 attributes
# created, replaced three ways, read seven ways, removed): a few seconds
# each on FUSE, so it gets the time to finish some on a loaded machine.
CORE=(
  "dir|"
  "dentry|"
  "link|"
  "symlink|"
  "rename|"
  "xattr||25"
  "flock|"
  "lockf|"
  "fallocate|--fallocate-bytes 16m"
  "mmap|--mmap-file --mmap-bytes 16m"
  "hdd|--hdd-bytes 32m"
)
EXTRA=(
  "chmod|"
  "chown|"
  "utime|"
  "fcntl|"
  "getdent|"
  "seek|--seek-size 16m"
  "copy-file|--copy-file-bytes 128m"
  "sync-file|--sync-file-bytes 16m"
  "readahead|--readahead-bytes 16m"
  "filename|"
)

nexus_start
FAILED=()

# Runs stressor $1 with options $2 for $3 seconds; records a failure reason.
run_stressor() {
  local name=$1 opts=$2 secs=$3 dir="$NEXUS_MNT/stress/$1" out rc=0 ops reason=""
  mkdir -p "$dir"
  note "stress-ng --$name $WORKERS $opts (${secs}s)"
  if [[ $name == getdent ]]; then
    # getdent reads /proc, /dev, /tmp, /sys and /run, not its temp path: in
    # a mount namespace of its own, /tmp is an empty tmpfs with only this
    # stressor's folder of the mount in it, so it walks our filesystem and
    # never the mounts other tests keep under /tmp.
    local stage
    stage=$(mktemp -d /var/tmp/nexus-getdent.XXXXXX)
    # shellcheck disable=SC2086
    out=$(timeout $((secs + 60)) unshare --mount --propagation private bash -c '
      set -e
      mount --bind "$1" "$2"
      mount -t tmpfs -o size=1m nexus-getdent /tmp
      mkdir /tmp/nexus
      mount --bind "$2" /tmp/nexus
      cd /tmp/nexus
      shift 2
      exec stress-ng "$@"' getdent "$dir" "$stage" --getdent "$WORKERS" $opts --timeout "${secs}s" \
      --verify --metrics-brief --temp-path /tmp/nexus --yaml "$stage.yaml" 2>&1) || rc=$?
    mv "$stage.yaml" "$TEST_ROOT/$name.yaml" 2>/dev/null || true
    rmdir "$stage" 2>/dev/null || true
  else
    # shellcheck disable=SC2086
    out=$(cd "$dir" && timeout $((secs + 60)) stress-ng --"$name" "$WORKERS" $opts --timeout "${secs}s" \
      --verify --metrics-brief --temp-path "$dir" --yaml "$TEST_ROOT/$name.yaml" 2>&1) || rc=$?
  fi
  echo "$out" | grep -E 'metrc:.* '"$name"' |fail|skip|error|unsuccessful' || true
  ops=$(awk -v s="$name" '$2 == "stressor:" && $3 == s { hit = 1 } hit && $1 == "bogo-ops:" { print $2; exit }' \
    "$TEST_ROOT/$name.yaml" 2>/dev/null || true)
  if [[ $rc -ne 0 ]]; then reason="exit status $rc"
  elif ! grep -q 'successful run completed' <<<"$out" || grep -q 'unsuccessful' <<<"$out"; then reason="no successful completion"
  elif grep -qE '\] *fail:|[^-]failed: *[1-9]' <<<"$out"; then reason="failure reported"
  elif grep -qiE 'skipping|will be skipped|skipped: *[1-9]|not supported|not implemented' <<<"$out"; then reason="stressor skipped"
  elif [[ -z $ops || $ops -le 0 ]]; then reason="no bogo ops in the metrics"
  elif [[ -n $(ls -A "$dir") ]]; then reason="left entries behind: $(ls -A "$dir" | head -n 5 | tr '\n' ' ')"
  fi
  kill -0 "$NEXUSD_PID" 2>/dev/null || fail "nexusd died during the $name stressor"
  if [[ -n $reason ]]; then
    echo "$out" | tail -n 15 >&2
    echo "stressor $name: $reason" >&2
    FAILED+=("$name: $reason")
  fi
}

selected() { [[ -z ${STRESS_ONLY:-} || " $STRESS_ONLY " == *" $1 "* ]]; }

# Runs one table entry "name|options[|seconds]" with `default` seconds.
run_entry() {
  local name opts secs
  IFS='|' read -r name opts secs <<<"$1"
  if selected "$name"; then run_stressor "$name" "$opts" "${secs:-$2}"; fi
}
for entry in "${CORE[@]}"; do run_entry "$entry" "$CORE_TIMEOUT"; done
for entry in "${EXTRA[@]}"; do run_entry "$entry" "$EXTRA_TIMEOUT"; done

note "the daemon still stops and starts cleanly"
nexus_stop
nexus_start
ls "$NEXUS_MNT/stress" >/dev/null || fail "stress directory unreadable after restart"
nexus_stop

if [[ ${#FAILED[@]} -gt 0 ]]; then
  printf '  %s\n' "${FAILED[@]}" >&2
  fail "${#FAILED[@]} stressor(s) failed"
fi
echo "PASS stress_ng"
