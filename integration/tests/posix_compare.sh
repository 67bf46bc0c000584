#!/usr/bin/env bash
# Errno-level POSIX conformance: nexus_posix_compare runs its scenario table
# (see integration/posix_compare/scenario.h) in a native directory on the
# local disk and on a fresh mount, and requires identical normalized results
# and errno at every step. The native filesystem is the expectation.
#
# Two runs: as root (everything but the permission scenarios), then as an
# unprivileged uid/gid (every scenario that does not need root, plus the
# permission checks, whose setup the tool does as root before dropping).
#
# Env: POSIX_COMPARE_FILTER=SUBSTR limits the scenarios; POSIX_COMPARE_UID /
# POSIX_COMPARE_GID pick the unprivileged identity (default 1000/1000).
source "$(dirname "$0")/../lib.sh"
# Other uids here get what POSIX mode bits give them: ReBAC is off (it is
# tested on the mount in rebac_mount.sh and on the socket in rebac_cli.sh).
NEXUSD_EXTRA_ARGS+=(--features rebac=off)

COMPARE="$NEXUS_BUILD_DIR/bin/nexus_posix_compare"
[[ -x "$COMPARE" ]] || fail "nexus_posix_compare not found at $COMPARE"
AS_UID=${POSIX_COMPARE_UID:-1000}
AS_GID=${POSIX_COMPARE_GID:-1000}
FILTER=()
[[ -n "${POSIX_COMPARE_FILTER:-}" ]] && FILTER=(--filter "$POSIX_COMPARE_FILTER")

nexus_start

# The native side lives beside the mount, on the same local disk as TEST_ROOT.
# Both roots must be traversable by the unprivileged identity; the tool makes
# its own per-run and per-scenario directories below them.
NATIVE="$TEST_ROOT/native"
mkdir -p "$NATIVE"
chmod 0755 "$NATIVE" "$NEXUS_MNT" || fail "cannot chmod 0755 the roots"

status=0
note "posix_compare as root"
"$COMPARE" --native "$NATIVE" --mount "$NEXUS_MNT" "${FILTER[@]}" || status=$?
[[ $status -le 1 ]] || fail "nexus_posix_compare could not run (status $status)"

user_status=0
note "posix_compare as uid $AS_UID gid $AS_GID"
"$COMPARE" --native "$NATIVE" --mount "$NEXUS_MNT" --as-uid "$AS_UID" --as-gid "$AS_GID" \
  "${FILTER[@]}" || user_status=$?
[[ $user_status -le 1 ]] || fail "nexus_posix_compare could not run as uid $AS_UID (status $user_status)"

kill -0 "$NEXUSD_PID" 2>/dev/null || fail "nexusd died during the comparison"
[[ $status -eq 0 ]] || fail "mount differs from native as root (see FAIL lines above)"
[[ $user_status -eq 0 ]] || fail "mount differs from native as uid $AS_UID (see FAIL lines above)"
nexus_stop
echo "PASS posix_compare"
