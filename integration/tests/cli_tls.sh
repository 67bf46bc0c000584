#!/usr/bin/env bash
# The control protocol over TLS TCP with API keys: self-signed pair, users,
# agents, keys (create, revoke, update), bad and missing keys, admin denial,
# saved profiles and NEXUS_URL/NEXUS_API_KEY, lock contention between a
# remote agent and a local admin.
source "$(dirname "$0")/../lib.sh"
# Other uids here get what POSIX mode bits give them: ReBAC is off (it is
# tested on the mount in rebac_mount.sh and on the socket in rebac_cli.sh).
NEXUSD_EXTRA_ARGS+=(--features rebac=off)
PORT=$((20000 + RANDOM % 20000))
nx tls generate --out "$TEST_ROOT/tls" >/dev/null || fail "tls generate"
[[ $(stat -c %a "$TEST_ROOT/tls/key.pem") == 600 ]] || fail "key.pem must be private"
openssl x509 -in "$TEST_ROOT/tls/cert.pem" -noout -text | grep -q "IP Address:127.0.0.1" || fail "cert lacks 127.0.0.1"
nexus_start --listen "127.0.0.1:$PORT" --tls-cert "$TEST_ROOT/tls/cert.pem" --tls-key "$TEST_ROOT/tls/key.pem"
R=(--remote "127.0.0.1:$PORT" --tls-ca "$TEST_ROOT/tls/cert.pem")

note "provisioning"
expect_rc 0 nx --json admin create-user alice --subject-type agent --expires-days 30
ALICE=$(json_get 'j["key"]["api_key"]')
[[ $ALICE == nxk_* ]] || fail "no key printed"
[[ $(json_get 'j["user"]["subject"]') == agent:alice ]] || fail "subject"
expect_rc 0 nx admin create-user ops --admin
OPS=$(grep -o 'nxk_[0-9a-f_]*' "$TEST_ROOT/out")
grep -q "shown once" "$TEST_ROOT/out" || fail "the key must be flagged as shown once"
expect_rc 1 nx admin create-user alice
grep -q "already exists" "$TEST_ROOT/err" || fail "duplicate user message"
expect_rc 1 nx admin create-user "bad name"
expect_rc 64 nx admin create-user bob --subject-type robot
expect_rc 0 nx --json admin list-users
[[ $(json_get '[u["name"] for u in j]') == "['alice', 'ops']" ]] || fail "list-users"
expect_rc 0 nx --json admin get-user alice
[[ $(json_get 'len(j["keys"])') == 1 && $(json_get '"api_key" in j["keys"][0]') == False ]] ||
  fail "get-user must never show secrets"

note "remote calls with keys"
expect_rc 0 nx "${R[@]}" --api-key "$ALICE" --json whoami
[[ $(json_get 'j["subject"]') == agent:alice && $(json_get 'j["transport"]') == tcp ]] || fail "remote identity"
expect_rc 0 nx "${R[@]}" --api-key "$OPS" write /remote.txt "over tls"
[[ $(cat "$NEXUS_MNT/remote.txt") == "over tls" ]] || fail "remote write not on the mount"
expect_rc 0 nx "${R[@]}" --api-key "$ALICE" cat /remote.txt
[[ $(cat "$TEST_ROOT/out") == "over tls" ]] || fail "remote read"
expect_rc 1 nx "${R[@]}" --api-key "$ALICE" write /remote.txt "agents are not root"
expect_rc 1 nx "${R[@]}" --api-key "$ALICE" admin list-users
grep -q "not an admin" "$TEST_ROOT/err" || fail "PermissionDenied message"
expect_rc 1 nx "${R[@]}" --api-key "$ALICE" --json admin create-key alice
[[ $(json_get 'j["error"]["code"]') == permissionDenied ]] || fail "typed permissionDenied"
expect_rc 0 nx "${R[@]}" --api-key "$OPS" admin list-users

note "bad, missing, revoked keys"
expect_rc 1 nx "${R[@]}" --api-key "nxk_0000000000000000_$(printf '0%.0s' {1..64})" --json status
[[ $(json_get 'j["error"]["code"]') == unauthenticated ]] || fail "typed unauthenticated"
expect_rc 1 nx "${R[@]}" --api-key garbage status
expect_rc 1 nx "${R[@]}" status
grep -q "needs an API key" "$TEST_ROOT/err" || fail "missing key message"
expect_rc 69 nx --remote "127.0.0.1:$PORT" --api-key "$ALICE" status  # no CA: self-signed is refused, the daemon is unreachable
grep -qi "certificate" "$TEST_ROOT/err" || fail "untrusted certificate message"
expect_rc 0 nx --json admin create-key alice --name ci --expires-days 1
CI=$(json_get 'j["api_key"]')
CI_ID=$(json_get 'j["id"]')
expect_rc 0 nx "${R[@]}" --api-key "$CI" status
expect_rc 0 nx --json admin update-key "$CI_ID" --name ci-renamed --no-expiry
[[ $(json_get 'j["name"]') == ci-renamed && $(json_get 'j["expires_at"]') == None ]] || fail "update-key"
expect_rc 64 nx admin update-key "$CI_ID"
expect_rc 0 nx admin revoke-key "$CI_ID"
expect_rc 1 nx "${R[@]}" --api-key "$CI" status
grep -q "invalid API key" "$TEST_ROOT/err" || fail "revoked key message"
expect_rc 0 nx "${R[@]}" --api-key "$ALICE" status   # alice's other key still works
grep -q "authentication failed: API key $CI_ID was revoked" "$NEXUS_LOG" || fail "the log must say why"
expect_rc 1 nx admin revoke-key 0000000000000000

note "environment and saved profiles"
expect_rc 0 env NEXUS_URL="127.0.0.1:$PORT" NEXUS_API_KEY="$ALICE" NEXUS_TLS_CA="$TEST_ROOT/tls/cert.pem" \
  "$NEXUS_CLI" --json whoami
[[ $(json_get 'j["subject"]') == agent:alice ]] || fail "NEXUS_URL/NEXUS_API_KEY"
expect_rc 0 nx connect "127.0.0.1:$PORT" --name lab -k "$ALICE" --tls-ca "$TEST_ROOT/tls/cert.pem"
[[ $(stat -c %a "$TEST_ROOT/home/profiles.json") == 600 ]] || fail "profiles.json must be private"
expect_rc 0 nx --profile lab --json whoami
[[ $(json_get 'j["subject"]') == agent:alice ]] || fail "--profile"
expect_rc 1 nx --profile nosuch status
expect_rc 1 nx connect "127.0.0.1:$PORT" --name broken -k garbage --tls-ca "$TEST_ROOT/tls/cert.pem"
expect_rc 1 nx --profile broken status

note "locks between a remote agent and the local admin"
expect_rc 0 nx "${R[@]}" --api-key "$ALICE" lock acquire /build --ttl 2
expect_rc 1 nx lock acquire /build
grep -q "agent:alice" "$TEST_ROOT/err" || fail "holder not named"
expect_rc 1 nx lock release /build
expect_rc 0 nx lock release /build --force      # admins may
expect_rc 0 nx lock acquire /build --ttl 60
expect_rc 1 nx "${R[@]}" --api-key "$ALICE" lock release /build --force
grep -q "admins only" "$TEST_ROOT/err" || fail "force is admin-only"

nexus_stop
echo "cli_tls: all checks passed"
