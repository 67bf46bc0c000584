#!/usr/bin/env bash
# Two directors and two workers on a three-member etcd cluster, all real
# processes on loopback. One director leads (etcd election), the other
# stands by and serves its own callers (mesh_etcd_standby.sh); nodes join with both
# addresses. kill -9 of the leader mid-task: the standby leads within two
# election TTLs, the running task completes on its first attempt and new
# tasks are placed. One etcd member down: no effect. Two down (no quorum):
# mesh calls are unavailable with the reason, then everything resumes when
# a member returns. A leader paused with SIGSTOP loses the lead; after
# SIGCONT it is fenced and stands by.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../mesh_etcd_lib.sh"
export LC_ALL=C

LEASE_TTL=15   # task leases: long enough to ride out a failover and a quorum loss
ELECTION_TTL=2 # directors' election leases

note "a three-member etcd cluster"
start_etcd_cluster 3

nx tls generate --out "$TEST_ROOT/tls" >/dev/null || fail "tls generate"
CA=$TEST_ROOT/tls/cert.pem
D1=127.0.0.1:$(free_port)
D2=127.0.0.1:$(free_port)

note "two directors: the first leads, the second stands by"
# shellcheck disable=SC2046
nexus_start $(director_args "$D1")
within 15 "director 1 leads" is_role leader nx
# shellcheck disable=SC2046
start_daemon 2 $(director_args "$D2")
within 15 "director 2 stands by" is_role standby dnx 2
expect_rc 0 dnx 2 --json mesh status
[[ $(json_get 'j["store"]') == etcd && $(json_get 'j["leader"]') == "$D1" ]] || fail "standby status: $(out)"
# The leader learns of a new standby from its election view, refreshed in
# the background: poll.
leader_lists_standby() {
  nx --json mesh status >"$TEST_ROOT/out" 2>/dev/null &&
    [[ $(json_get 'j["role"]') == leader && $(json_get 'j["standbys"]') == "['$D2']" ]]
}
within 10 "the leader's status lists director 2 as its standby" leader_lists_standby
[[ $(json_get 'j["etcd"]["healthy"]') == 3 && $(json_get 'j["etcd"]["quorum"]') == True ]] ||
  within 5 "etcd health in status" bash -c "[[ \$(NEXUS_SOCKET='$NEXUS_DATA/nexusd.sock' NEXUS_HOME='$TEST_ROOT/home' '$NEXUS_CLI' --json mesh status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"etcd\"][\"healthy\"])') == 3 ]]"
# The standby serves its own callers (mesh_etcd_standby.sh has the rest).
expect_rc 0 dnx 2 --json mesh nodes

note "workers join with both addresses (one tries the standby first)"
start_daemon 3 --worker --capacity 2 --mesh-lease-ttl $LEASE_TTL --node-name w3 \
  --join "$D1,$D2" --registration-key reg-secret --join-ca "$CA"
start_daemon 4 --worker --capacity 2 --mesh-lease-ttl $LEASE_TTL --node-name w4 \
  --join "$D2,$D1" --registration-key reg-secret --join-ca "$CA"
ready_nodes() { [[ $(nx --json mesh nodes | python3 -c "import json,sys; print(sum(1 for n in json.load(sys.stdin)['nodes'] if n['state']=='ready'))") == "$1" ]]; }
within 20 "two ready nodes" ready_nodes 2
expect_rc 0 nx --json mesh nodes
for id in $(json_get '" ".join(n["id"] for n in j["nodes"])'); do expect_rc 0 nx mesh trust "$id" trusted; done


note "a task before any failure"
expect_rc 0 nx --json mesh tasks create --name first --command 'echo one > /zone/one'
T0=$(json_get 'j["id"]')
within 30 "the first task succeeded" is_state "$T0" succeeded nx

note "kill -9 of the leader mid-task: the standby takes over, the task keeps its attempt"
expect_rc 0 nx --json mesh tasks create --name through --command 'sleep 8; echo survived > /zone/through'
T1=$(json_get 'j["id"]')
within 20 "the task runs" is_state "$T1" running nx
kill -KILL "$NEXUSD_PID"
killed=$(date +%s.%N)
wait "$NEXUSD_PID" 2>/dev/null || true
NEXUSD_PID=""
within $((3 * ELECTION_TTL + 5)) "director 2 leads" is_role leader dnx 2
took=$(python3 -c "import time; print(round(time.time() - $killed, 1))")
echo "failover: director 2 leads ${took}s after the kill (election TTL ${ELECTION_TTL}s)"
python3 -c "import sys; sys.exit(0 if $took <= 2 * $ELECTION_TTL + 1.5 else 1)" ||
  fail "the standby took ${took}s to lead (more than 2 x ${ELECTION_TTL}s + polling)"
within 40 "the task that ran through the failover succeeded" is_state "$T1" succeeded dnx 2
[[ $(task_field dnx 2 "$T1" attempts) == 1 ]] ||
  fail "attempts after failover: $(task_field dnx 2 "$T1" attempts); director 2: $(grep -v ' debug ' "$(ddir 2)/log" | tail -n 25); workers: $(grep -h "$T1" "$(ddir 3)/log" "$(ddir 4)/log" | tail -n 20)"
expect_rc 0 dnx 2 --json mesh tasks create --name after --command 'echo after > /zone/after'
T2=$(json_get 'j["id"]')
within 30 "a new task is placed by the new leader" is_state "$T2" succeeded dnx 2

note "one etcd member down: no effect"
kill -KILL "${EPID[3]}"
expect_rc 0 dnx 2 --json mesh tasks create --name minority --command 'echo m > /zone/m'
T3=$(json_get 'j["id"]')
within 30 "a task with one member down" is_state "$T3" succeeded dnx 2

note "two members down: unavailable with the reason; a running task keeps running"
expect_rc 0 dnx 2 --json mesh tasks create --name outage --command 'sleep 10; echo o > /zone/outage'
T4=$(json_get 'j["id"]')
within 20 "the outage task runs" is_state "$T4" running dnx 2
kill -KILL "${EPID[2]}"
set +e
dnx 2 mesh tasks create --name refused --command true >"$TEST_ROOT/out" 2>"$TEST_ROOT/err"
rc=$?
set -e
[[ $rc == 69 ]] || fail "a call without quorum: exit $rc, $(cat "$TEST_ROOT/err")"
grep -qi "unavailable" "$TEST_ROOT/err" || fail "no reason: $(cat "$TEST_ROOT/err")"
echo "without quorum: $(head -c 300 "$TEST_ROOT/err")"

note "quorum back: everything resumes, nothing lost or run twice"
start_etcd 2
within 20 "etcd has quorum again" bash -c "ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:${EC[1]},127.0.0.1:${EC[2]} endpoint health >/dev/null 2>&1"
within 20 "a director leads again" is_role leader dnx 2
within 40 "the task that ran through the outage succeeded" is_state "$T4" succeeded dnx 2
[[ $(task_field dnx 2 "$T4" attempts) == 1 ]] || fail "outage task attempts: $(task_field dnx 2 "$T4" attempts)"
[[ $(cat "$(ddir 3)/ws/outage" "$(ddir 4)/ws/outage" 2>/dev/null | wc -l) == 1 ]] || fail "the outage task ran twice"
# A call refused for lack of quorum may still commit once quorum is back
# (etcd keeps the proposal): the director's next id may then be taken, which
# it answers with one conflict and skips.
if ! dnx 2 --json mesh tasks create --name resumed --command 'echo r > /zone/r' >"$TEST_ROOT/out" 2>"$TEST_ROOT/err"; then
  grep -q conflict "$TEST_ROOT/err" || fail "create after recovery: $(cat "$TEST_ROOT/err")"
  expect_rc 0 dnx 2 --json mesh tasks create --name resumed --command 'echo r > /zone/r'
fi
T5=$(json_get 'j["id"]')
within 30 "a new task after recovery" is_state "$T5" succeeded dnx 2

note "a paused leader loses the lead and is fenced when it resumes"
start_etcd 3
# shellcheck disable=SC2046
nexus_start $(director_args "$D1")
within 15 "director 1 stands by" is_role standby nx
kill -STOP "${DPID[2]}"
within $((3 * ELECTION_TTL + 5)) "director 1 leads while 2 is paused" is_role leader nx
expect_rc 0 nx --json mesh tasks create --name while-paused --command 'echo p > /zone/p'
T6=$(json_get 'j["id"]')
within 30 "a task placed by the new leader" is_state "$T6" succeeded nx
kill -CONT "${DPID[2]}"
# Whatever it does first after waking, it grants nothing itself: the store
# fences it ("no longer leads"), or, once it knows it stands by, the call
# goes to director 1, which creates the task once.
set +e
dnx 2 mesh tasks create --name from-the-deposed --command true >"$TEST_ROOT/out" 2>"$TEST_ROOT/err"
rc=$?
set -e
[[ $rc == 69 || $rc == 0 ]] || fail "the deposed leader's write: exit $rc $(cat "$TEST_ROOT/out" "$TEST_ROOT/err")"
echo "a write on the deposed leader right after SIGCONT: exit $rc $(head -c 200 "$TEST_ROOT/err")"
within 10 "director 2 stands by again" is_role standby dnx 2
expect_rc 0 nx --json mesh tasks list
want=0
[[ $rc == 0 ]] && want=1
[[ $(json_get 'sum(1 for t in j["tasks"] if t["spec"]["name"]=="from-the-deposed")') == "$want" ]] ||
  fail "tasks named from-the-deposed (want $want after exit $rc): $(out)"
echo "PASS"
