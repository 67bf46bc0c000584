#!/usr/bin/env bash
# A create cut off by a quorum loss is in doubt: it may still commit when
# quorum returns (docs/mesh.md, "A create in doubt"). Real etcd (three
# members), one director, one worker. Two members are killed while a create
# is in flight: it answers unavailable. Then:
#  - retried with the same spec once quorum is back, it yields exactly one
#    task, which runs once;
#  - not retried, it is either adopted by the director (placed and run
#    once) or never committed; either way its id is not given to another
#    task.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../mesh_etcd_lib.sh"
export LC_ALL=C

LEASE_TTL=8    # an in-doubt id is kept two lease TTLs
ELECTION_TTL=4 # the director still leads when the create goes out

note "a three-member etcd cluster"
start_etcd_cluster 3
# The members that do not lead raft. With them gone, the leader keeps the
# create's proposal in its log; with one of them back first, only that
# leader can win the election (its log is the longer one), so the create
# is expected to commit after it was answered unavailable.
followers() {
  ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" endpoint status -w json | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s["Status"]["leader"] != s["Status"]["header"]["member_id"]:
        print(s["Endpoint"].rsplit(":", 1)[1])'
}

nx tls generate --out "$TEST_ROOT/tls" >/dev/null || fail "tls generate"
CA=$TEST_ROOT/tls/cert.pem
D1=127.0.0.1:$(free_port)

note "a director and a worker"
# shellcheck disable=SC2046
nexus_start $(director_args "$D1")
within 15 "the director leads" is_role leader nx
start_daemon 3 --worker --capacity 2 --mesh-lease-ttl $LEASE_TTL --node-name w3 \
  --join "$D1" --registration-key reg-secret --join-ca "$CA"
ready_node() { [[ $(nx --json mesh nodes | python3 -c "import json,sys; print(sum(1 for n in json.load(sys.stdin)['nodes'] if n['state']=='ready'))") == 1 ]]; }
within 20 "the worker is ready" ready_node
expect_rc 0 nx --json mesh nodes
expect_rc 0 nx mesh trust "$(json_get 'j["nodes"][0]["id"]')" trusted

# quorum_loss: kills the two raft followers; quorum_back: restarts them.
declare -a DOWN
quorum_loss() {
  local port i
  DOWN=()
  for port in $(followers); do
    for i in 1 2 3; do
      if [[ ${EC[$i]} == "$port" ]]; then
        kill -KILL "${EPID[$i]}"
        wait "${EPID[$i]}" 2>/dev/null || true
        DOWN+=("$i")
      fi
    done
  done
  [[ ${#DOWN[@]} == 2 ]] || fail "expected two raft followers, stopped: ${DOWN[*]}"
}
quorum_back() {
  start_etcd "${DOWN[0]}"
  within 20 "the director leads again" is_role leader nx
  start_etcd "${DOWN[1]}"
  within 20 "etcd is healthy again" etcd_healthy
}
# in_doubt NAME COMMAND: a create while quorum is lost; it must be unavailable.
in_doubt() {
  set +e
  nx mesh tasks create --name "$1" --command "$2" >"$TEST_ROOT/out" 2>"$TEST_ROOT/err"
  local rc=$?
  set -e
  [[ $rc == 69 ]] || fail "a create without quorum: exit $rc $(cat "$TEST_ROOT/out" "$TEST_ROOT/err")"
  grep -q unavailable "$TEST_ROOT/err" || fail "no reason: $(cat "$TEST_ROOT/err")"
  echo "without quorum: $(head -c 200 "$TEST_ROOT/err")"
}
named() { # named NAME: the ids of the tasks called NAME
  nx --json mesh tasks list | python3 -c "import json,sys; print(' '.join(t['id'] for t in json.load(sys.stdin)['tasks'] if t['spec']['name']=='$1'))"
}
lines_of() { cat "$(ddir 3)/ws/$1" 2>/dev/null | wc -l; }

note "a create in doubt, retried once quorum is back: one task, run once"
CMD_A='echo a >> /zone/doubt-a'
quorum_loss
in_doubt doubt-a "$CMD_A"
quorum_back
expect_rc 0 nx --json mesh tasks create --name doubt-a --command "$CMD_A"
RETRY=$(json_get 'j["id"]')
[[ $(named doubt-a) == "$RETRY" ]] || fail "tasks named doubt-a: '$(named doubt-a)', the retry answered $RETRY"
within 30 "$RETRY succeeded" is_state "$RETRY" succeeded nx
[[ $(task_field nx "$RETRY" attempts) == 1 && $(lines_of doubt-a) == 1 ]] ||
  fail "$RETRY: attempts $(task_field nx "$RETRY" attempts), ran $(lines_of doubt-a) time(s)"
if grep -q "task $RETRY, whose create was in doubt, committed after all" "$NEXUS_LOG"; then
  echo "the first create had committed: the retry answered with it ($RETRY)"
else
  echo "the retry answered $RETRY"
fi

note "a create in doubt, not retried: adopted and run once, or never made; its id is not reused"
expect_rc 0 nx --json mesh tasks create --name before-b --command true
BEFORE=$(json_get 'j["id"]')
DOUBT_ID=t-$((${BEFORE#t-} + 1))
quorum_loss
in_doubt doubt-b 'echo b >> /zone/doubt-b'
quorum_back
adopted() { [[ -n $(named doubt-b) ]]; }
for ((i = 0; i < (2 * LEASE_TTL + 5) * 10; i++)); do adopted && break; sleep 0.1; done
if adopted; then
  [[ $(named doubt-b) == "$DOUBT_ID" ]] || fail "doubt-b is '$(named doubt-b)', not $DOUBT_ID"
  grep -q "task $DOUBT_ID, whose create was in doubt, committed after all" "$NEXUS_LOG" ||
    fail "the director does not say it adopted $DOUBT_ID"
  within 30 "the adopted $DOUBT_ID succeeded" is_state "$DOUBT_ID" succeeded nx
  [[ $(lines_of doubt-b) == 1 ]] || fail "$DOUBT_ID ran $(lines_of doubt-b) time(s)"
  echo "the create committed once quorum returned: $DOUBT_ID adopted and run once"
else
  [[ $(lines_of doubt-b) == 0 ]] || fail "doubt-b is not listed but ran"
  echo "the create never committed: no task, nothing ran"
fi
# A create refused for lack of quorum may have left its id taken (see
# mesh_etcd.sh): one conflict, then the next id. Never the in-doubt id.
if ! nx --json mesh tasks create --name after-b --command true >"$TEST_ROOT/out" 2>"$TEST_ROOT/err"; then
  grep -q conflict "$TEST_ROOT/err" || fail "create after recovery: $(cat "$TEST_ROOT/err")"
  expect_rc 0 nx --json mesh tasks create --name after-b --command true
fi
AFTER=$(json_get 'j["id"]')
[[ $AFTER != "$DOUBT_ID" ]] || fail "the in-doubt id $DOUBT_ID was given to another task"
within 30 "$AFTER succeeded" is_state "$AFTER" succeeded nx
[[ $(named doubt-b | wc -w) -le 1 ]] || fail "doubt-b made several tasks: $(named doubt-b)"
echo "PASS"
