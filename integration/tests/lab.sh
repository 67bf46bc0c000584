#!/usr/bin/env bash
# The multi-node lab, CI-sized: labctl brings up three nexusd hosts in
# network namespaces on a bridge (director, peer, worker), verifies the
# whole mesh, injects one fault ($LAB_FAULT, default kill-worker), verifies
# the recovery, writes the connectivity matrix and schema-checked evidence,
# and tears everything down. Also: an invalid --ttl starts nothing, a
# bring-up that fails midway removes what it made (and --keep keeps it),
# down --expired removes only runs past their TTL and is a no-op without.
#
# LAB_STORE=etcd (not in the default suite: about 9 minutes) runs the same
# on a three-member etcd cluster with two directors (n1, n2; then a peer and
# a worker), and $LAB_FAULTS in turn, each followed by a verify (default:
# stop-active etcd-member-down etcd-quorum-loss director-pause).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LABCTL="$HERE/../lab/labctl"
: "${NEXUS_BUILD_DIR:=$(cd "$HERE/../.." && pwd)/build}"
export NEXUS_BUILD_DIR
STORE=${LAB_STORE:-sqlite}
case $STORE in
  sqlite)
    FAULTS=${LAB_FAULT:-kill-worker}
    UP_ARGS=(--nodes 3) NAMESPACES=4 ROLES='["director", "peer", "worker"]' ;;
  etcd)
    FAULTS=${LAB_FAULTS:-stop-active etcd-member-down etcd-quorum-loss director-pause}
    UP_ARGS=(--store etcd --etcd 3 --directors 2 --nodes 4) NAMESPACES=8
    ROLES='["director", "director", "peer", "worker"]' ;;
  *) echo "LAB_STORE=$STORE: sqlite or etcd" >&2; exit 2 ;;
esac

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*"; }
if ! bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --symlink usr/lib /lib \
    --symlink usr/lib64 /lib64 --symlink usr/bin /bin /usr/bin/true 2>/dev/null; then
  echo "SKIP: bubblewrap cannot make sandboxes here"
  exit 0
fi
[[ $(id -u) -eq 0 ]] || { echo "SKIP: the lab needs root (network namespaces)"; exit 0; }
if [[ $STORE == etcd ]] && ! command -v etcd >/dev/null; then
  echo "SKIP: etcd is not installed (apt-get install etcd-server etcd-client)"
  exit 0
fi

export NEXUS_LAB_DIR
NEXUS_LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/nexus-lab-it.XXXXXX")
cleanup() {
  local rid
  for rid in $(ls "$NEXUS_LAB_DIR/runs" 2>/dev/null); do
    "$LABCTL" down --run-id "$rid" --force >/dev/null 2>&1 || true
  done
  rm -rf "$NEXUS_LAB_DIR"
}
trap cleanup EXIT
lab_netns() { ip netns list | awk '{print $1}' | grep -c "^nxl$1" || true; }
tag_of() { printf '%s' "$1" | sha1sum | cut -c1-6; }

note "an invalid --ttl fails before anything starts"
before=$(ip netns list | wc -l)
rc=0; "$LABCTL" up --ttl 10x >/dev/null 2>"$NEXUS_LAB_DIR/err" || rc=$?
[[ $rc -eq 64 ]] || fail "up --ttl 10x exited $rc"
grep -q "not a duration" "$NEXUS_LAB_DIR/err" || fail "message: $(cat "$NEXUS_LAB_DIR/err")"
rc=0; "$LABCTL" up --ttl 10s >/dev/null 2>&1 || rc=$?
[[ $rc -eq 64 ]] || fail "up --ttl 10s (below the minimum) exited $rc"
[[ $(ip netns list | wc -l) -eq $before && -z $(ls "$NEXUS_LAB_DIR/runs" 2>/dev/null) ]] ||
  fail "a refused up left something behind"

note "a bring-up that fails midway is torn down (and kept with --keep)"
FAKE=$NEXUS_LAB_DIR/fake-build
mkdir -p "$FAKE/bin"
ln -s "$NEXUS_BUILD_DIR/bin/nexus" "$FAKE/bin/nexus"
printf '#!/bin/sh\necho "refusing to start" >&2\nexit 1\n' >"$FAKE/bin/nexusd"
chmod +x "$FAKE/bin/nexusd"
rc=0; NEXUS_BUILD_DIR=$FAKE "$LABCTL" up --ttl 5m >/dev/null 2>"$NEXUS_LAB_DIR/err" || rc=$?
[[ $rc -eq 1 ]] || fail "a failing bring-up exited $rc"
grep -q "tearing the partial run down" "$NEXUS_LAB_DIR/err" || fail "no teardown: $(cat "$NEXUS_LAB_DIR/err")"
[[ $(ip netns list | wc -l) -eq $before && -z $(ls "$NEXUS_LAB_DIR/runs") ]] ||
  fail "the failed bring-up left namespaces or a run dir"
rc=0; NEXUS_BUILD_DIR=$FAKE "$LABCTL" up --ttl 5m --keep >/dev/null 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "a failing bring-up with --keep exited $rc"
kept=$(ls "$NEXUS_LAB_DIR/runs")
[[ -n $kept && $(lab_netns "$(tag_of "$kept")") -ge 2 ]] || fail "--keep did not keep the partial run"

note "down --expired: a run within its TTL stays, one past it goes, then nothing to do"
"$LABCTL" down --expired 2>"$NEXUS_LAB_DIR/err" || fail "down --expired exited $?"
grep -q "no expired run" "$NEXUS_LAB_DIR/err" || fail "down --expired said: $(cat "$NEXUS_LAB_DIR/err")"
[[ -d $NEXUS_LAB_DIR/runs/$kept ]] || fail "down --expired removed a run within its TTL"
# Five minutes pass: move the run's start back rather than wait.
python3 - "$NEXUS_LAB_DIR/runs/$kept/run.json" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
run["createdAt"] -= run["ttlSeconds"] + 1
json.dump(run, open(sys.argv[1], "w"))
PY
"$LABCTL" down --expired 2>"$NEXUS_LAB_DIR/err" || fail "down --expired exited $?"
grep -q "$kept expired; tearing it down" "$NEXUS_LAB_DIR/err" || fail "down --expired said: $(cat "$NEXUS_LAB_DIR/err")"
[[ $(lab_netns "$(tag_of "$kept")") -eq 0 && -z $(ls "$NEXUS_LAB_DIR/runs") ]] || fail "down --expired left the run"
"$LABCTL" down --expired 2>"$NEXUS_LAB_DIR/err" || fail "a second down --expired exited $?"
grep -q "no expired run" "$NEXUS_LAB_DIR/err" || fail "a second down --expired said: $(cat "$NEXUS_LAB_DIR/err")"

note "up: ${UP_ARGS[*]}"
RUN=$("$LABCTL" up "${UP_ARGS[@]}" --ttl 15m)
[[ $RUN =~ ^[0-9]{8}T[0-9]{6}Z-nexuslab-minimal$ ]] || fail "run id $RUN"
TAG=$(tag_of "$RUN")
[[ $(lab_netns "$TAG") -eq $NAMESPACES ]] || fail "expected $NAMESPACES namespaces (hub, nodes, etcd members) for $RUN"
"$LABCTL" status --json | python3 -c '
import json, sys
r = json.load(sys.stdin)["runs"][0]
assert [n["role"] for n in r["nodes"]] == json.loads(sys.argv[1]), r["nodes"]
assert all(n["running"] for n in r["nodes"]), r["nodes"]
assert r["store"] == sys.argv[2] and r["leader"] == "n1", (r["store"], r["leader"])
if sys.argv[2] == "sqlite":
    assert [n["auth"] for n in r["nodes"]] == ["tls", "api-key", "scoped-key"], r["nodes"]
else:
    assert [(d["name"], d["role"]) for d in r["directors"]] == [("n1", "leader"), ("n2", "standby")], r
    assert [(m["name"], m["running"], m["healthy"]) for m in r["etcd"]] == \
        [("e1", True, True), ("e2", True, True), ("e3", True, True)], r["etcd"]' "$ROLES" "$STORE" || fail "status"

note "verify"
"$LABCTL" verify --run-id "$RUN" || fail "verify before the fault"

first=1
for FAULT in $FAULTS; do
  note "failover --fault $FAULT"
  "$LABCTL" failover --fault "$FAULT" || fail "failover $FAULT"
  if ((first)); then
    rc=0; "$LABCTL" failover --fault drain >/dev/null 2>&1 || rc=$?
    [[ $rc -eq 1 ]] || fail "a second fault before verify was accepted ($rc)"
    first=0
  fi
  note "verify (recovery from $FAULT)"
  "$LABCTL" verify || fail "verify after $FAULT"
done

note "smoke and evidence"
"$LABCTL" smoke --out "$NEXUS_LAB_DIR/matrix.json" >/dev/null || fail "smoke"
EVID=$NEXUS_LAB_DIR/evidence
"$LABCTL" evidence collect --out "$EVID" >/dev/null || fail "evidence collect: not PASS ($(head -5 "$EVID/summary.md" 2>/dev/null))"
/usr/bin/python3 - "$EVID/result.json" "$HERE/../lab/evidence-schema.json" "$RUN" "$STORE" $FAULTS <<'PY' || fail "evidence"
import json, sys, jsonschema
result, schema = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
jsonschema.Draft202012Validator(schema).validate(result)
store, faults = sys.argv[4], sys.argv[5:]
assert result["runId"] == sys.argv[3] and result["result"] == "pass", result["result"]
nodes = len(result["nodes"])
assert len(result["matrix"]["failed"]) == 0 and result["matrix"]["flows"] == nodes * (nodes - 1)
assert result["controlPlane"]["store"] == store, result["controlPlane"]
names = {a["name"] for a in result["assertions"]}
for want in ("lease_wrong_token_conflict", "registration_key_enforced", "director_restart_persistence",
             "partition_heals", "entitlement_hourly_quota", "trust_tier_placement"):
    assert want in names, want
if store == "etcd":
    for want in ("control_plane.one_leader", "control_plane.etcd_healthy"):
        assert want in names, want
for f in faults:
    assert any(n.startswith(f"recovery.{f}.") for n in names), f
assert [f["fault"] for f in result["faults"]] == faults and all(f["recovered"] for f in result["faults"])
assert result["costGuard"]["teardown"] == "pending"
PY
grep -q "^# Lab run $RUN: PASS" "$EVID/summary.md" || fail "summary.md"

note "down"
"$LABCTL" down --run-id "$RUN" >/dev/null || fail "down"
[[ $(lab_netns "$TAG") -eq 0 ]] || fail "namespaces left: $(ip netns list | grep "nxl$TAG")"
! grep -q "$NEXUS_LAB_DIR/runs" /proc/mounts || fail "mounts left behind"
[[ ! -e $NEXUS_LAB_DIR/runs/$RUN ]] || fail "the run dir is still there"
python3 -c 'import json,sys; g=json.load(open(sys.argv[1]))["costGuard"]; assert g["teardown"]=="completed" and g["tornDownAt"], g' \
  "$EVID/result.json" || fail "the evidence does not record the teardown"
rc=0; "$LABCTL" verify --run-id "$RUN" >/dev/null 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "verify of a removed run exited $rc"
echo PASS
