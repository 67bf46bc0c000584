#!/usr/bin/env bash
# Malformed input on the control socket: garbage bytes, a truncated frame,
# an oversized message, too many segments, garbage on the TLS port, a
# flood of idle connections. Each bad connection is dropped with a log line;
# the daemon, the mount and well-behaved clients carry on. Then 8 clients
# call concurrently while the mount is busy.
source "$(dirname "$0")/../lib.sh"
PORT=$((20000 + RANDOM % 20000))
nx tls generate --out "$TEST_ROOT/tls" >/dev/null
nexus_start --listen "127.0.0.1:$PORT" --tls-cert "$TEST_ROOT/tls/cert.pem" --tls-key "$TEST_ROOT/tls/key.pem"
SOCK="$NEXUS_DATA/nexusd.sock"

python3 - "$SOCK" "$PORT" <<'PY' || fail "abuse script"
import os, socket, struct, sys, time
path, port = sys.argv[1], int(sys.argv[2])
def unix():
    s = socket.socket(socket.AF_UNIX); s.connect(path); s.settimeout(5); return s
def drain(s):
    try:
        while s.recv(65536): pass
    except (ConnectionResetError, socket.timeout): pass
    s.close()
cases = {
  "garbage": os.urandom(8192),
  "too many segments": struct.pack("<II", 1000, 1),
  "oversized": struct.pack("<II", 0, 100_000_000),
  "truncated": struct.pack("<II", 0, 64) + b"\0" * 40,
}
for name, data in cases.items():
    s = unix(); s.sendall(data); s.shutdown(socket.SHUT_WR); drain(s)
t = socket.create_connection(("127.0.0.1", port)); t.sendall(os.urandom(1000)); drain(t)
idle = [unix() for _ in range(200)]   # held open while others work
time.sleep(0.2)
print("sent")
for s in idle: s.close()
PY
for what in "too many segments" "Message is too large" "stream disconnected prematurely" "TLS handshake failed"; do
  grep -q "$what" "$NEXUS_LOG" || fail "no log line for: $what"
done
grep -c "dropping connection" "$NEXUS_LOG" | { read -r n; (( n >= 4 )) || fail "expected >= 4 dropped connections, saw $n"; }
kill -0 "$NEXUSD_PID" || fail "daemon died"
expect_rc 0 nx status
echo ok >"$NEXUS_MNT/still-works" && [[ $(cat "$NEXUS_MNT/still-works") == ok ]] || fail "mount broken"

note "8 concurrent clients while the mount is busy"
( for i in $(seq 400); do echo "$i" >"$NEXUS_MNT/busy-$((i % 20))"; done ) &
busy=$!
pids=()
for c in $(seq 8); do
  (
    for i in $(seq 25); do
      nx write "/c$c-$i" "client $c call $i" >/dev/null || exit 1
      [[ $(nx cat "/c$c-$i") == "client $c call $i" ]] || exit 1
    done
  ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent client failed"; done
wait "$busy"
[[ $(ls "$NEXUS_MNT" | grep -c '^c[0-9]-') == 200 ]] || fail "not every concurrent write landed"
nexus_stop
echo "socket_abuse: all checks passed"
