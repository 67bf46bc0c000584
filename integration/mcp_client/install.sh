#!/usr/bin/env bash
# Installs the npm packages pinned in package-lock.json (the official MCP
# SDK and the reference filesystem server) into integration/mcp_client/
# node_modules with `npm ci`, when they are missing or older than the lock
# file. Called by scripts/test.sh, integration/tests/mcp_sdk.sh and
# bench/run_mcp_bench.sh; concurrent callers wait for one another.
#
# Exits 0 when the packages are in place; 1, saying why, when they cannot be
# installed (no Node.js 18+, no npm, the registry unreachable). It never
# skips: the opt-out for developers is the test's (docs/mcp.md).
set -euo pipefail
cd "$(dirname "$0")"

fail() {
  echo "mcp_client: $*" >&2
  exit 1
}

command -v node >/dev/null || fail "node not found: install Node.js 18 or newer (scripts/install-deps.sh)"
command -v npm >/dev/null || fail "npm not found: install it (scripts/install-deps.sh)"
major=$(node -p 'process.versions.node.split(".")[0]')
((major >= 18)) || fail "Node.js $(node --version) is too old: the pinned packages need 18 or newer"

want=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.nexus-lock-sha256
exec 9>.install.lock
flock 9
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  exit 0
fi
echo "mcp_client: installing the pinned npm packages (npm ci)" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! timeout "${NEXUS_NPM_TIMEOUT:-600}" npm ci --no-audit --no-fund --loglevel=error >"$log" 2>&1; then
  tail -n 15 "$log" >&2
  fail "npm ci failed in $(pwd): the MCP SDK tests and benchmark need the packages of package-lock.json" \
    "from the npm registry ($(npm config get registry)); is the network or the registry reachable?"
fi
echo "$want" >"$stamp"
