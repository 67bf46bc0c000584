# shellcheck shell=bash
# Shared by the tests of directors on etcd (integration/tests/mesh_etcd*.sh),
# after lib.sh: the checks that skip without etcd or bubblewrap, and helpers
# for extra daemons and their mesh state. A test sets ENDPOINTS, LEASE_TTL
# and ELECTION_TTL before calling director_args.
ETCD=$(command -v etcd || true)
if [[ -z "$ETCD" ]]; then
  echo "SKIP: etcd is not installed (apt-get install etcd-server)"
  exit 77
fi
if ! bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/bin /bin /usr/bin/true 2>/dev/null; then
  echo "SKIP: bubblewrap cannot make sandboxes here"
  exit 77
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
within() { # within SECONDS WHAT CMD...
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do "$@" && return 0; sleep 0.1; done
  fail "$what (not within ${secs}s)"
}
director_args() { # director_args ADDRESS
  echo --director --registration-key reg-secret --listen "$1" \
    --tls-cert "$TEST_ROOT/tls/cert.pem" --tls-key "$TEST_ROOT/tls/key.pem" \
    --mesh-store "etcd://$ENDPOINTS" --mesh-lease-ttl "$LEASE_TTL" --mesh-election-ttl "$ELECTION_TTL" \
    --mesh-heartbeat-timeout 6
}
# Daemon N (2: the second director, 3 and up: workers): its own data dir,
# mount and workspace.
ddir() { echo "$TEST_ROOT/d$1"; }
dnx() { local n=$1; shift; NEXUS_SOCKET="$(ddir "$n")/data/nexusd.sock" NEXUS_HOME="$TEST_ROOT/home" "$NEXUS_CLI" "$@"; }
declare -a DPID
start_daemon() { # start_daemon N args...
  local n=$1 d
  shift
  d=$(ddir "$n")
  mkdir -p "$d/data" "$d/mnt" "$d/ws"
  "$NEXUSD" --data-dir "$d/data" --mount "$d/mnt" --workspace "$d/ws" --log-level info --features rebac=off \
    "$@" >>"$d/log" 2>&1 &
  DPID[$n]=$!
  NEXUS_EXTRA_PIDS+=($!)
  wait_mounted "$d/mnt"
}
# This daemon's role as `mesh status --json` tells it.
status_field() { # status_field FIELD CLI...
  local f=$1
  shift
  "$@" --json mesh status 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin).get('$f'))" 2>/dev/null
}
is_role() { [[ $(status_field role "${@:2}") == "$1" ]]; }
task_field() { # task_field CLI-PREFIX... -- ID FIELD
  local id=${*: -2:1} f=${*: -1}
  "${@:1:$#-2}" --json mesh tasks get "$id" 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['$f'])" 2>/dev/null
}
is_state() { [[ $(task_field "${@:3}" "$1" state) == "$2" ]]; } # is_state ID STATE CLI...
# start_etcd_cluster N: N etcd members on loopback, each with its data dir
# in TEST_ROOT; sets EC[i] (client ports), EPID[i] (pids) and ENDPOINTS,
# and waits until the cluster is healthy. start_etcd I (re)starts member I
# on its data dir, where it rejoins the cluster.
declare -a EC EP EPID
ETCD_CLUSTER=""
start_etcd() {
  local i=$1
  "$ETCD" --name "e$i" --data-dir "$TEST_ROOT/etcd$i" --log-level error \
    --listen-client-urls "http://127.0.0.1:${EC[$i]}" --advertise-client-urls "http://127.0.0.1:${EC[$i]}" \
    --listen-peer-urls "http://127.0.0.1:${EP[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${EP[$i]}" \
    --initial-cluster "$ETCD_CLUSTER" --initial-cluster-state new >>"$TEST_ROOT/etcd$i.log" 2>&1 &
  EPID[$i]=$!
  NEXUS_EXTRA_PIDS+=($!)
}
etcd_healthy() { ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" endpoint health >/dev/null 2>&1; }
start_etcd_cluster() {
  local n=$1 i
  ENDPOINTS=""
  for ((i = 1; i <= n; i++)); do
    EC[$i]=$(free_port)
    EP[$i]=$(free_port)
    ETCD_CLUSTER+="${ETCD_CLUSTER:+,}e$i=http://127.0.0.1:${EP[$i]}"
    ENDPOINTS+="${ENDPOINTS:+,}127.0.0.1:${EC[$i]}"
  done
  for ((i = 1; i <= n; i++)); do start_etcd "$i"; done
  within 20 "etcd is healthy" etcd_healthy
}
