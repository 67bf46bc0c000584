#!/usr/bin/env bash
# The mesh with real nexusd processes on loopback: a director (TLS
# listener, registration key) and two worker nodes, each with its own data
# dir, mount and workspace, driven by the nexus CLI. A wrong registration
# key is refused; nodes join untrusted and get no trusted work until an
# operator trusts them; workers run tasks in bubblewrap with their zone at
# /zone (a success and a failure, no manual steps); drain and load steer
# placement; a wrong lease token is a conflict;
# a worker killed with SIGKILL mid-task loses the task to the other one when
# its lease expires; credential rotation; revoke and admit; a director
# restart keeps the fleet and the tasks, and a task running through one
# finishes on its first attempt.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C
if ! bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/bin /bin /usr/bin/true 2>/dev/null; then
  echo "SKIP: bubblewrap cannot make sandboxes here"
  exit 0
fi

TTL=5  # lease seconds: short so an expiry is quick, long enough for a director restart on a loaded machine
nx tls generate --out "$TEST_ROOT/tls" >/dev/null || fail "tls generate"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DIRECTOR=127.0.0.1:$PORT
CA=$TEST_ROOT/tls/cert.pem
DIRECTOR_ARGS=(--director --registration-key reg-secret --listen "$DIRECTOR"
  --tls-cert "$TEST_ROOT/tls/cert.pem" --tls-key "$TEST_ROOT/tls/key.pem"
  --mesh-lease-ttl $TTL --mesh-heartbeat-timeout 4)
nexus_start "${DIRECTOR_ARGS[@]}"

# node N: its own data dir, mount and workspace; started in the background.
node_dir() { echo "$TEST_ROOT/node$1"; }
node_nx() { local n=$1; shift; NEXUS_SOCKET="$(node_dir "$n")/data/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home" "$NEXUS_CLI" "$@"; }
NODE_PID=()
start_node() { # start_node N [extra args]
  local n=$1 d
  shift
  d=$(node_dir "$n")
  mkdir -p "$d/data" "$d/mnt" "$d/ws"
  "$NEXUSD" --data-dir "$d/data" --mount "$d/mnt" --workspace "$d/ws" --log-level info \
    --features rebac=off --worker --capacity 2 --mesh-lease-ttl $TTL --node-name "node$n" "$@" \
    >>"$d/log" 2>&1 &
  NODE_PID[$n]=$!
  NEXUS_EXTRA_PIDS+=($!)
  wait_mounted "$d/mnt"
}
stop_node() {
  local n=$1
  kill -TERM "${NODE_PID[$n]}" 2>/dev/null
  wait "${NODE_PID[$n]}" 2>/dev/null || true
}
within() { # within SECONDS WHAT CMD...
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do "$@" && return 0; sleep 0.1; done
  fail "$what (not within ${secs}s)"
}
task_state() { nx --json mesh tasks get "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
task_field() { nx --json mesh tasks get "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }
is_state() { [[ $(task_state "$1") == "$2" ]]; }
node_count() { nx --json mesh nodes | python3 -c "import json,sys; print(sum(1 for n in json.load(sys.stdin)['nodes'] if n['state']=='$1'))"; }
has_nodes() { [[ $(node_count "$2") == "$1" ]]; }

note "the director"
expect_rc 0 nx --json features
[[ $(json_get '[f["state"] for f in j["features"] if f["name"]=="mesh"][0]') == enabled ]] ||
  fail "mesh feature: $(cat "$TEST_ROOT/out")"
expect_rc 0 nx --json mesh nodes
[[ $(json_get 'len(j["nodes"])') == 0 ]] || fail "a fresh director lists nodes: $(cat "$TEST_ROOT/out")"

note "a wrong registration key is refused"
start_node 1
expect_rc 1 node_nx 1 mesh register --director "$DIRECTOR" --registration-key wrong --ca "$CA" --name node1
grep -qi "unauthenticated\|registration key" "$TEST_ROOT/err" || fail "wrong key: $(cat "$TEST_ROOT/err")"
expect_rc 0 nx --json mesh nodes
[[ $(json_get 'len(j["nodes"])') == 0 ]] || fail "a refused node was listed"

note "nodes join: one by the CLI, one by --join"
expect_rc 0 node_nx 1 mesh register --director "$DIRECTOR" --registration-key reg-secret --ca "$CA" --name node1
start_node 2 --join "$DIRECTOR" --registration-key reg-secret --join-ca "$CA"
within 10 "two ready nodes" has_nodes 2 ready
expect_rc 0 nx --json mesh nodes
[[ $(json_get 'sorted(n["trust"] for n in j["nodes"])') == "['untrusted', 'untrusted']" ]] ||
  fail "nodes must join untrusted: $(cat "$TEST_ROOT/out")"
N1=$(json_get '[n["id"] for n in j["nodes"] if n["name"]=="node1"][0]')
N2=$(json_get '[n["id"] for n in j["nodes"] if n["name"]=="node2"][0]')
expect_rc 0 node_nx 1 --json mesh status
[[ $(json_get 'j["node_id"]') == "$N1" ]] || fail "node1 status: $(cat "$TEST_ROOT/out")"

note "trusted work waits for a trusted node, then runs by itself"
expect_rc 0 nx --json mesh tasks create --name hello --command 'echo hello > /zone/hello.txt; echo ran in $(pwd)'
T1=$(json_get 'j["id"]')
sleep 1.5
is_state "$T1" pending || fail "trusted work placed on untrusted nodes"
expect_rc 0 nx mesh trust "$N1" trusted
within 20 "the task succeeded on node1" is_state "$T1" succeeded
[[ $(cat "$(node_dir 1)/ws/hello.txt") == hello ]] || fail "the task's write did not land in node1's zone"
expect_rc 0 nx mesh tasks result "$T1" -o "$TEST_ROOT/result1"
grep -q "ran in /zone" "$TEST_ROOT/result1/stdout" || fail "stdout: $(cat "$TEST_ROOT/result1/stdout")"

note "a failing command ends failed with its exit code"
expect_rc 0 nx --json mesh tasks create --name broken --command 'echo oops >&2; exit 3'
T2=$(json_get 'j["id"]')
within 20 "the failing task ended" is_state "$T2" failed
[[ $(task_field "$T2" reason) == *"exit code 3"* ]] || fail "reason: $(task_field "$T2" reason)"

note "drain steers new work to the other node"
expect_rc 0 nx mesh trust "$N2" trusted
expect_rc 0 nx mesh drain "$N1"
expect_rc 0 nx --json mesh tasks create --name on-two --command 'echo 3 > /zone/t3.txt'
T3=$(json_get 'j["id"]')
within 20 "the task succeeded" is_state "$T3" succeeded
[[ -f "$(node_dir 2)/ws/t3.txt" && ! -e "$(node_dir 1)/ws/t3.txt" ]] || fail "a drained node got work"

note "placement spreads work by load"
expect_rc 0 nx mesh admit "$N1"
SPREAD=()
for i in 1 2 3 4; do
  expect_rc 0 nx --json mesh tasks create --name "spread$i" --command "sleep 2; echo $i > /zone/spread$i"
  SPREAD+=("$(json_get 'j["id"]')")
done
for t in "${SPREAD[@]}"; do within 30 "spread task $t ended" is_state "$t" succeeded; done
n1=$(ls "$(node_dir 1)/ws" | grep -c '^spread')
n2=$(ls "$(node_dir 2)/ws" | grep -c '^spread')
# Load is the queue depth a node last reported plus what was placed there
# since, so both nodes get some (the exact split depends on heartbeat timing).
[[ $n1 -ge 1 && $n2 -ge 1 && $((n1 + n2)) -eq 4 ]] || fail "4 tasks on 2 idle nodes went $n1/$n2"

note "a lease-holder call with a wrong token is a conflict"
expect_rc 1 nx mesh tasks extend "$T1" --token not-the-token
grep -qi conflict "$TEST_ROOT/err" || fail "wrong token: $(cat "$TEST_ROOT/err")"

note "a worker killed mid-task: the task finishes on the other worker"
expect_rc 0 nx mesh admit "$N1"
expect_rc 0 nx mesh drain "$N2"   # the long task starts on node1
# Placements on node1 before the director counts it down are attempts lost.
expect_rc 0 nx --json mesh tasks create --name long --command 'sleep 4; echo survived' --max-attempts 10
T4=$(json_get 'j["id"]')
within 20 "the long task runs" is_state "$T4" running
kill -KILL "${NODE_PID[1]}"
expect_rc 0 nx mesh admit "$N2"
within 60 "the long task completed elsewhere" is_state "$T4" succeeded
expect_rc 0 nx mesh tasks result "$T4" -o "$TEST_ROOT/result4"
grep -q survived "$TEST_ROOT/result4/stdout" || fail "the rescheduled task's output"
within 30 "node1 is down" has_nodes 1 down

note "credential rotation: the node goes on, with a new fingerprint"
expect_rc 0 node_nx 2 --json mesh status
old=$(json_get 'j["fingerprint"]')
expect_rc 0 node_nx 2 --json mesh rotate-credential
new=$(json_get 'j["fingerprint"]')
[[ -n $new && $new != "$old" ]] || fail "rotation kept the fingerprint $old"
expect_rc 0 nx --json mesh tasks create --name after-rotation --command 'true'
T5=$(json_get 'j["id"]')
within 20 "work after the rotation" is_state "$T5" succeeded

note "revoke stops a node, admit brings it back"
expect_rc 0 nx mesh revoke "$N2"
expect_rc 0 nx --json mesh tasks create --name while-revoked --command 'true'
T6=$(json_get 'j["id"]')
sleep 2
is_state "$T6" pending || fail "a revoked node got work"
expect_rc 0 nx mesh admit "$N2"
for ((i = 0; i < 200; i++)); do is_state "$T6" succeeded && break; sleep 0.1; done
is_state "$T6" succeeded || { nx mesh tasks get "$T6" >&2; nx mesh nodes >&2; tail -n 15 "$(node_dir 2)/log" >&2; fail "work after admit"; }

note "entitlements: a key that may not submit, a key past its hourly quota"
expect_rc 0 nx --json admin create-user ci-bot --subject-type agent
BOT_KEY=$(json_get 'j["key"]["api_key"]')
BOT_ID=$(json_get 'j["key"]["id"]')
expect_rc 0 nx admin key-entitlements "$BOT_ID" --tasks deny
expect_rc 1 nx --api-key "$BOT_KEY" mesh tasks create --name nope --command true
grep -q "may not submit" "$TEST_ROOT/err" || fail "no-submit key: $(cat "$TEST_ROOT/err")"
expect_rc 0 nx admin key-entitlements "$BOT_ID" --tasks allow --task-quota 1
expect_rc 0 nx --api-key "$BOT_KEY" mesh tasks create --name one --command true
expect_rc 1 nx --api-key "$BOT_KEY" --json mesh tasks create --name two --command true
[[ $(json_get 'j["error"]["code"]') == resourceExhausted ]] || fail "quota: $(cat "$TEST_ROOT/out")"

note "a director restart keeps the fleet and the tasks"
settled() { nx --json mesh tasks list | python3 -c 'import json,sys; exit(any(t["state"] in ("pending","assigned","running") for t in json.load(sys.stdin)["tasks"]))'; }
within 20 "every task ended" settled
expect_rc 0 nx --json mesh tasks list
before=$(json_get 'sorted((t["id"], t["state"]) for t in j["tasks"])')
nexus_stop
nexus_start "${DIRECTOR_ARGS[@]}"
expect_rc 0 nx --json mesh tasks list
[[ $(json_get 'sorted((t["id"], t["state"]) for t in j["tasks"])') == "$before" ]] ||
  fail "tasks after restart: $(cat "$TEST_ROOT/out")"
within 10 "node2 heartbeats to the restarted director" has_nodes 1 ready
expect_rc 0 nx --json mesh tasks create --name after-restart --command 'true'
T7=$(json_get 'j["id"]')
within 20 "work after the restart" is_state "$T7" succeeded

note "a director restart while a task holds its lease: the task goes on"
expect_rc 0 nx --json mesh tasks create --name held --command 'sleep 5; echo held on'
T8=$(json_get 'j["id"]')
within 20 "the held task runs" is_state "$T8" running
nexus_stop
sleep 1
nexus_start "${DIRECTOR_ARGS[@]}"
within 30 "the held task finished" is_state "$T8" succeeded
[[ $(task_field "$T8" attempts) == 1 ]] || fail "the restart cost the task an attempt: $(nx mesh tasks get "$T8")"

stop_node 2
nexus_stop
echo PASS
