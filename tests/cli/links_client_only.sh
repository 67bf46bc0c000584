#!/usr/bin/env bash
# The nexus CLI speaks only the control protocol: its binary must hold none
# of the daemon's code (the filesystem core, the ReBAC engine, the version
# store, search, the mesh director, the socket server).
set -euo pipefail
bin=${1:?usage: links_client_only.sh PATH/TO/nexus}
symbols=$(nm -C --defined-only "$bin")
found=$(grep -E ' nexus::(Namespace|NativeBackend|PathFiles|RebacEngine|KeyStore|versions::VersionStore|search::SearchIndex|mesh::Director|SocketServer)::' <<<"$symbols" | head -5 || true)
if [[ -n "$found" ]]; then
  echo "nexus links daemon code:"; echo "$found"; exit 1
fi
# And it does hold the client library, so the check above can fail.
grep -q ' nexus::NexusClient::' <<<"$symbols" || { echo "no client code found in $bin"; exit 1; }
echo "nexus links the client library only"
