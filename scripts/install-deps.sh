#!/usr/bin/env bash
# Installs every Debian 12 package NexusFS needs to build, run, test and benchmark.
# Idempotent: packages already present are left as they are.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config ccache git
  # clang: scripts/check-thread-safety.sh (-Wthread-safety)
  clang
  # the house format, checked by the test suite (scripts/check-format.sh)
  clang-format
  # libraries
  libfuse3-dev fuse3 libsqlite3-dev sqlite3 libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev capnproto libcapnp-dev libgit2-dev libre2-dev
  nlohmann-json3-dev libyaml-cpp-dev libssl-dev zlib1g-dev libdeflate-dev libcurl4-openssl-dev libsystemd-dev
  # parsed search: PDF (poppler) and Office documents (zip of XML parts)
  libpoppler-cpp-dev libzip-dev libxml2-dev
  # the Debian package and the system service (packaging/, integration/tests/package.sh):
  # man pages, lintian, `systemd-analyze verify`, bash completion, man
  help2man lintian systemd bash-completion man-db dpkg-dev binutils
  # tools the integration tests and benchmarks drive
  rsync stress-ng attr acl util-linux xz-utils tar diffutils make gcc gdb
  ripgrep hyperfine fio bubblewrap procps psmisc python3 fasttext
  # an XFS data dir on a loop device (integration/tests/versions_reflink.sh)
  xfsprogs
  libhnswlib-dev libfasttext-dev openssl curl
  # the multi-node lab (integration/lab): namespaces, probes, evidence schema
  iproute2 iputils-ping python3-jsonschema
  # the mesh director's etcd store: etcd itself (tests, lab) and etcdctl
  etcd-server etcd-client
)
# Node.js 18+ and npm: the MCP tests and benchmark drive nexus with the official
# MCP SDK (integration/mcp_client). A nodejs that ships npm itself (NodeSource's
# provides and conflicts with Debian's npm) counts as both.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi

# allow_other needs user_allow_other when nexusd is started by a non-root user.
if [[ -w /etc/fuse.conf ]] && ! grep -q '^user_allow_other' /etc/fuse.conf; then
  echo user_allow_other >> /etc/fuse.conf
fi
