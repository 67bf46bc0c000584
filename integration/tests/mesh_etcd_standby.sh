#!/usr/bin/env bash
# A CLI on a standby director's Unix socket gets its mesh calls answered:
# reads from the standby's state reloaded from etcd, every other call
# forwarded to the leader over its TLS listener, acting for the same
# caller (the leader applies the caller's rights: root may change the
# fleet, a non-admin uid may not, whichever director it asks). A leader
# that stops answering in the middle of a forwarded call gives a clear
# retryable error within seconds, never a hang; the standby then leads and
# serves the same call itself. All real processes on loopback: one etcd
# member, two directors, one worker.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../mesh_etcd_lib.sh"
export LC_ALL=C

LEASE_TTL=15
ELECTION_TTL=2

note "one etcd member"
EC=$(free_port)
EP=$(free_port)
"$ETCD" --name e1 --data-dir "$TEST_ROOT/etcd" --log-level error \
  --listen-client-urls "http://127.0.0.1:$EC" --advertise-client-urls "http://127.0.0.1:$EC" \
  --listen-peer-urls "http://127.0.0.1:$EP" --initial-advertise-peer-urls "http://127.0.0.1:$EP" \
  --initial-cluster "e1=http://127.0.0.1:$EP" --initial-cluster-state new >>"$TEST_ROOT/etcd.log" 2>&1 &
NEXUS_EXTRA_PIDS+=($!)
ENDPOINTS=127.0.0.1:$EC
within 20 "etcd is healthy" bash -c "ETCDCTL_API=3 etcdctl --endpoints $ENDPOINTS endpoint health >/dev/null 2>&1"

nx tls generate --out "$TEST_ROOT/tls" >/dev/null || fail "tls generate"
CA=$TEST_ROOT/tls/cert.pem
D1=127.0.0.1:$(free_port)
D2=127.0.0.1:$(free_port)
# The same CLI on director 2's socket as a non-admin local user.
alice2() {
  setpriv --reuid "$ALICE_UID" --regid "$USERS_GID" --clear-groups \
    env NEXUS_SOCKET="$(ddir 2)/data/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home-alice" "$NEXUS_CLI" "$@"
}

note "director 1 leads, director 2 stands by, one worker"
# shellcheck disable=SC2046
nexus_start $(director_args "$D1")
within 15 "director 1 leads" is_role leader nx
# shellcheck disable=SC2046
start_daemon 2 $(director_args "$D2")
within 15 "director 2 stands by" is_role standby dnx 2
chgrp "$USERS_GID" "$(ddir 2)/data" "$(ddir 2)/data/nexusd.sock"
chmod g+x "$(ddir 2)/data"
start_daemon 3 --worker --capacity 2 --mesh-lease-ttl $LEASE_TTL --node-name w3 \
  --join "$D1,$D2" --registration-key reg-secret --join-ca "$CA"

note "reads on the standby come from the store"
one_node() { dnx 2 --json mesh nodes >"$TEST_ROOT/out" 2>/dev/null && [[ $(json_get 'len(j["nodes"])') == 1 ]]; }
within 20 "the standby lists the worker that joined the leader" one_node
N=$(json_get 'j["nodes"][0]["id"]')
expect_rc 0 dnx 2 mesh status
grep -q standby "$TEST_ROOT/out" || fail "the standby's own status: $(out)"

note "writes on the standby go to the leader, as the same caller"
expect_rc 1 alice2 mesh trust "$N" trusted
expect_err "not an admin"
grep -q "uid-$ALICE_UID" "$TEST_ROOT/err" || fail "the refusal does not name the caller: $(cat "$TEST_ROOT/err")"
expect_rc 0 nx --json mesh nodes
[[ $(json_get 'j["nodes"][0]["trust"]') == untrusted ]] || fail "a non-admin's forwarded trust took effect: $(out)"
expect_rc 0 dnx 2 mesh trust "$N" trusted
expect_rc 0 nx --json mesh nodes
[[ $(json_get 'j["nodes"][0]["trust"]') == trusted ]] || fail "root's forwarded trust did not reach the leader: $(out)"
expect_rc 0 alice2 --json mesh tasks create --name via-standby --command 'echo hi > /zone/via'
T1=$(json_get 'j["id"]')
within 30 "the forwarded task succeeded (seen on the standby)" is_state "$T1" succeeded dnx 2
expect_rc 0 nx --json mesh tasks get "$T1"
[[ $(json_get 'j["state"]') == succeeded && $(json_get 'j["attempts"]') == 1 ]] || fail "leader's view: $(out)"
expect_rc 0 dnx 2 --json mesh tasks list
expect_json 'sum(1 for t in j["tasks"] if t["id"]=="'"$T1"'")' 1
expect_rc 0 dnx 2 --json mesh tasks result "$T1"

note "workers joined to both directors rotate their credentials whichever they dial first"
# Each dial starts one address further, and a node's heartbeat redials
# after a rotation: with the two orders of the addresses, rotations meet
# the standby first, which answers unavailable having done nothing.
start_daemon 4 --worker --capacity 1 --mesh-lease-ttl $LEASE_TTL --node-name w4 \
  --join "$D2,$D1" --registration-key reg-secret --join-ca "$CA"
two_nodes() { nx --json mesh nodes >"$TEST_ROOT/out" 2>/dev/null && [[ $(json_get 'len(j["nodes"])') == 2 ]]; }
within 20 "the second worker joined" two_nodes
for _ in 1 2 3; do
  expect_rc 0 dnx 3 --json mesh rotate-credential
  expect_rc 0 dnx 4 --json mesh rotate-credential
done

note "the leader stops answering mid-call: a retryable error, then the standby leads and serves it"
kill -STOP "$NEXUSD_PID"
started=$(date +%s)
set +e
dnx 2 mesh tasks create --name during --command true >"$TEST_ROOT/out" 2>"$TEST_ROOT/err"
rc=$?
set -e
took=$(($(date +%s) - started))
echo "forwarded call to a stopped leader: exit $rc after ${took}s: $(head -c 300 "$TEST_ROOT/err")"
# The standby may already lead when the call arrives (then it serves it).
if [[ $rc != 0 ]]; then
  [[ $rc == 69 ]] || fail "exit $rc, not unavailable"
  expect_err "try again"
fi
((took <= 20)) || fail "the call took ${took}s"
within $((3 * ELECTION_TTL + 5)) "director 2 leads" is_role leader dnx 2
expect_rc 0 dnx 2 --json mesh tasks create --name after --command 'echo after > /zone/after'
T2=$(json_get 'j["id"]')
within 30 "the retried call is served by the new leader" is_state "$T2" succeeded dnx 2
kill -CONT "$NEXUSD_PID"
within 15 "director 1 stands by after it resumes" is_role standby nx
expect_rc 0 nx --json mesh tasks get "$T2"
expect_json 'j["state"]' succeeded
echo "PASS"
