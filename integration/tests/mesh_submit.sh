#!/usr/bin/env bash
# A workflow's `task` action on a worker node, with real nexusd processes:
# the node submits the task to its director over its own node session. It
# is refused until the director's operator lets the node submit (`nexus
# mesh submit NODE allow`), and past the node's hourly quota; an allowed
# submission records the node as submitter and the workflow's owner on
# whose behalf, and the director places it like any other: it completes.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../mesh_lib.sh"
export LC_ALL=C

mesh_director
WS=$TEST_ROOT/ws1
mkdir -p "$WS/inbox"
start_node 1 --workspace "$WS"
within 10 "node1 is ready" node_has_zones node1 "['local']"
N1=$(node_id node1)
expect_rc 0 nx mesh trust "$N1" trusted

note "usage and refusals of mesh submit"
expect_rc 64 nx mesh submit "$N1" maybe
expect_rc 64 nx mesh submit "$N1" deny --hourly-quota 3
expect_rc 1 nx --json mesh submit n-999 allow
expect_json 'j["error"]["code"]' notFound
expect_rc 0 nx mesh submit --help

W=$TEST_ROOT/wf
mkdir -p "$W"
cat >"$W/build.yaml" <<'YAML'
name: build-on-drop
triggers: [{type: file_write, pattern: /workspace/inbox/*}]
actions:
  - {name: build, type: task, command: "echo built > /zone/built.txt; echo from-a-node"}
YAML
expect_rc 0 node_nx 1 workflows load "$W/build.yaml"
runs() { node_nx 1 --json workflows runs build-on-drop --limit 0 >"$TEST_ROOT/runs" 2>/dev/null &&
  [[ $(python3 -c "import json; print(len(json.load(open('$TEST_ROOT/runs'))['runs']))") == "$1" ]]; }
last_run() { python3 -c "import json; r=json.load(open('$TEST_ROOT/runs'))['runs'][0]; print($1)"; }

note "a node the operator has not allowed may not submit"
echo one >"$(node_dir 1)/mnt/zone/local/inbox/one.txt"
within 20 "the first run" runs 1
[[ $(last_run 'r["status"]') == failed && $(last_run 'r["error"]') == *"may not submit tasks"* ]] ||
  fail "run without permission: $(cat "$TEST_ROOT/runs")"
expect_rc 0 nx --json mesh tasks list
expect_json 'len(j["tasks"])' 0

note "allowed, the workflow's task is placed and completes"
expect_rc 0 nx --json mesh submit "$N1" allow --hourly-quota 1
expect_rc 0 nx --json mesh nodes
expect_json '[(n["may_submit"], n["submit_hourly_quota"]) for n in j["nodes"]]' "[(True, 1)]"
echo two >"$(node_dir 1)/mnt/zone/local/inbox/two.txt"
within 20 "the second run" runs 2
[[ $(last_run 'r["status"]') == succeeded ]] || fail "allowed run: $(cat "$TEST_ROOT/runs")"
T=$(last_run '[l for l in r["output"].splitlines() if l.startswith("build: ")][0].split()[-1]')
within 30 "the node's task succeeded" is_state "$T" succeeded
expect_rc 0 nx --json mesh tasks get "$T"
expect_json 'j["submitter"], j["on_behalf_of"], j["spec"]["zone"], j["attempts"]' \
  "('node:$N1', 'user:admin (workflow:build-on-drop)', 'local', 1)"
grep -q "mesh: task $T done" "$(node_dir 1)/log" || fail "node1 did not run $T"
[[ $(cat "$WS/built.txt") == built ]] || fail "the task's write is not in the zone"
expect_rc 0 nx mesh tasks result "$T" -o "$TEST_ROOT/res"
[[ $(cat "$TEST_ROOT/res/stdout") == from-a-node ]] || fail "stdout: $(cat "$TEST_ROOT/res/stdout")"

note "past the node's hourly quota, and after deny, submissions are refused"
echo three >"$(node_dir 1)/mnt/zone/local/inbox/three.txt"
within 20 "the third run" runs 3
[[ $(last_run 'r["status"]') == failed && $(last_run 'r["error"]') == *"quota"* ]] || fail "quota: $(cat "$TEST_ROOT/runs")"
expect_rc 0 nx mesh submit "$N1" deny
expect_rc 0 nx mesh submit "$N1" deny
echo four >"$(node_dir 1)/mnt/zone/local/inbox/four.txt"
within 20 "the fourth run" runs 4
[[ $(last_run 'r["error"]') == *"may not submit tasks"* ]] || fail "after deny: $(cat "$TEST_ROOT/runs")"
expect_rc 0 nx --json mesh tasks list
expect_json 'len(j["tasks"])' 1

stop_node 1
nexus_stop
echo PASS
