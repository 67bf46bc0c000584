#!/usr/bin/env bash
# Configures and builds NexusFS into ${NEXUS_BUILD_DIR:-build} (Release with
# debug info, ccache when present).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${NEXUS_BUILD_DIR:-build}
jobs=${NEXUS_JOBS:-$(nproc)}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=${NEXUS_BUILD_TYPE:-RelWithDebInfo} >/dev/null
cmake --build "$build_dir" -j "$jobs"
