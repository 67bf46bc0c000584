#!/usr/bin/env bash
# The operators' HTTP endpoints: /health, /ready, /metrics (Prometheus
# text, per FUSE op and RPC method), 404 and 405.
source "$(dirname "$0")/../lib.sh"
PORT=$((20000 + RANDOM % 20000))
nexus_start --http "127.0.0.1:$PORT"
U="http://127.0.0.1:$PORT"
curl -fsS "$U/health" >"$TEST_ROOT/out" || fail "/health"
[[ $(json_get 'j["status"]') == ok && $(json_get 'j["mounted"]') == True ]] || fail "/health body: $(cat "$TEST_ROOT/out")"
[[ $(json_get 'j["profile"]') == full && $(json_get 'j["features"]["http"]') == enabled ]] || fail "/health profile"
[[ $(json_get 'j["version"]') == $("$NEXUS_CLI" --version | cut -d' ' -f2) ]] || fail "/health version"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$U/ready") == 200 ]] || fail "/ready"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$U/nope") == 404 ]] || fail "404"
[[ $(curl -s -o /dev/null -w '%{http_code}' -X POST "$U/health") == 405 ]] || fail "405"

dd if=/dev/zero of="$NEXUS_MNT/f" bs=64k count=16 status=none
cat "$NEXUS_MNT/f" >/dev/null
ls "$NEXUS_MNT/missing" 2>/dev/null || true
nx stat /f >/dev/null
curl -fsS "$U/metrics" >"$TEST_ROOT/metrics" || fail "/metrics"
m() { grep -E "^$1" "$TEST_ROOT/metrics" | head -1 | awk '{print $2}'; }
(( $(m 'nexus_fuse_requests_total\{op="create"\}') >= 1 )) || fail "no create count"
(( $(m 'nexus_fuse_requests_total\{op="write"\}') >= 1 )) || fail "no write count"
(( $(m 'nexus_fuse_latency_seconds_count\{op="write"\}') >= 1 )) || fail "no write histogram"
grep -q 'nexus_fuse_latency_seconds_bucket{op="lookup",le="+Inf"}' "$TEST_ROOT/metrics" || fail "no lookup buckets"
(( $(m 'nexus_fuse_written_bytes_total') >= 1048576 )) || fail "bytes written"
(( $(m 'nexus_fuse_read_bytes_total') >= 1048576 )) || fail "bytes read"
(( $(m 'nexus_rpc_requests_total\{method="files.stat"\}') == 1 )) || fail "rpc method count"
grep -q '^nexus_database_bytes [1-9]' "$TEST_ROOT/metrics" || fail "database size"
grep -q '^nexus_fuse_open_handles ' "$TEST_ROOT/metrics" || fail "open handles"
grep -q '^nexus_mounted 1' "$TEST_ROOT/metrics" || fail "nexus_mounted"
grep -q '^# TYPE nexus_fuse_latency_seconds histogram' "$TEST_ROOT/metrics" || fail "TYPE line"
exec 9<"$NEXUS_MNT/f"
curl -fsS "$U/metrics" | grep -q '^nexus_fuse_open_handles [1-9]' || fail "open handle not counted"
exec 9<&-
nexus_stop
echo "http: all checks passed"
