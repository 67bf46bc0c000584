# Helpers for mesh integration tests (sourced after lib.sh): a director on
# a TLS loopback listener and worker nodes, each with its own data dir,
# mount and workspace, started in the background and killed at exit.
#
#   mesh_director [extra nexusd args]   # starts the director (nexus_start)
#   start_node N [extra args]           # nexusd --worker joined to it as nodeN
#   node_nx N ARGS...                   # the CLI against node N
#   task_state ID / is_state ID STATE / task_field ID FIELD
#   node_id NAME                        # the director's id of node NAME
# Exits 0 with SKIP when bubblewrap cannot make sandboxes here.

if ! bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 \
  --symlink usr/bin /bin /usr/bin/true 2>/dev/null; then
  echo "SKIP: bubblewrap cannot make sandboxes here"
  exit 0
fi

MESH_TTL=${MESH_TTL:-5}
mesh_director() {
  nx tls generate --out "$TEST_ROOT/tls" >/dev/null || fail "tls generate"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  DIRECTOR=127.0.0.1:$port
  CA=$TEST_ROOT/tls/cert.pem
  nexus_start --director --registration-key reg-secret --listen "$DIRECTOR" \
    --tls-cert "$TEST_ROOT/tls/cert.pem" --tls-key "$TEST_ROOT/tls/key.pem" \
    --mesh-lease-ttl "$MESH_TTL" --mesh-heartbeat-timeout 4 "$@"
}

node_dir() { echo "$TEST_ROOT/node$1"; }
node_nx() {
  local n=$1
  shift
  NEXUS_SOCKET="$(node_dir "$n")/data/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home" "$NEXUS_CLI" "$@"
}
NODE_PID=()
# start_node N [extra args]: joins the director as nodeN (rebac off,
# capacity 2); its zones are those of its mount.
start_node() {
  local n=$1 d
  shift
  d=$(node_dir "$n")
  mkdir -p "$d/data" "$d/mnt"
  "$NEXUSD" --data-dir "$d/data" --mount "$d/mnt" --log-level info --features rebac=off --worker \
    --capacity 2 --mesh-lease-ttl "$MESH_TTL" --node-name "node$n" \
    --join "$DIRECTOR" --registration-key reg-secret --join-ca "$CA" "$@" >>"$d/log" 2>&1 &
  NODE_PID[$n]=$!
  NEXUS_EXTRA_PIDS+=($!)
  wait_mounted "$d/mnt"
}
# stop_node N: SIGTERM to node N; fails the test, with the node's stacks in
# its log, if it has not exited within NEXUS_STOP_TIMEOUT seconds.
stop_node() {
  stop_daemon "${NODE_PID[$1]}" "$(node_dir "$1")/log" || true
}

task_field() { nx --json mesh tasks get "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }
task_state() { task_field "$1" state; }
is_state() { [[ $(task_state "$1") == "$2" ]]; }
node_id() {
  nx --json mesh nodes | python3 -c "import json,sys; print([n['id'] for n in json.load(sys.stdin)['nodes'] if n['name']=='$1'][0])"
}
# node_has_zones NAME 'PYTHON LIST': the director lists exactly those zones for node NAME.
node_has_zones() {
  [[ $(nx --json mesh nodes | python3 -c "import json,sys; print([n['zones'] for n in json.load(sys.stdin)['nodes'] if n['name']=='$1'][0])") == "$2" ]]
}
