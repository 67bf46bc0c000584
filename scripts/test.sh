#!/usr/bin/env bash
# Installs what NexusFS needs, builds it, checks the lock annotations with
# clang, and runs every test (unit and integration) under ctest. Integration
# tests mount real FUSE filesystems and need root (or a user allowed to mount
# FUSE with allow_other).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
./scripts/check-thread-safety.sh
cd "${NEXUS_BUILD_DIR:-build}"
ctest --output-on-failure -j "${NEXUS_TEST_JOBS:-2}" --timeout 900 "$@"
