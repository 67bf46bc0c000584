#!/usr/bin/env bash
# Installs what NexusFS needs, builds it, and starts nexusd in the foreground
# on an embedded default: data in .nexus/data, mounted at .nexus/mnt, with
# .nexus/workspace exposed at /zone/local. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
root=$(pwd)/.nexus
mkdir -p "$root/data" "$root/mnt" "$root/workspace"
cat <<EOT

nexusd is starting: data in $root/data, mounted at $root/mnt.
In another terminal, try:
  echo hello > $root/mnt/hello.txt && cat $root/mnt/hello.txt
  ls -la $root/mnt/zone/local        # the host directory $root/workspace
  cd $root/mnt && git init demo      # ordinary tools just work
  build/bin/nexus status             # the CLI, over $root/data/nexusd.sock
  build/bin/nexus write /notes.txt "hi" && cat $root/mnt/notes.txt
  echo again >> $root/mnt/hello.txt && build/bin/nexus versions history /hello.txt
  build/bin/nexus grep -i hello /            # search, kept current as files change
Root and the user who started nexusd are admins; any other uid sees only what
it is granted (ReBAC). To let uid 1000 work as user:me everywhere:
  build/bin/nexus identity bind --uid 1000 user:me && build/bin/nexus rebac share / user me --role editor
Stop with Ctrl-C: the mount is released and everything is kept for next time.

EOT
exec build/bin/nexusd --data-dir "$root/data" --mount "$root/mnt" --workspace "$root/workspace" "$@"
