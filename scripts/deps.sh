#!/bin/sh
# Install every Debian 12 package honeybee needs to build, test and run.
# Idempotent: packages already present are not fetched again. Run as root.
# Proven on a debootstrap --variant=minbase bookworm as root (docs/setup.md).
set -eu
# Build, test and fuzz. websocketd and libwebsockets-test-server: WebSocket
# servers of other implementations the pool is tested against
# (tests/integration/test_pool_interop.c).
PKGS="build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
      libwebsockets-dev libzmq3-dev libczmq-dev libyaml-dev libjansson-dev libssl-dev
      libhttp-parser-dev libwslay-dev libcmocka-dev python3 python3-zmq python3-websockets openssl ca-certificates
      curl valgrind websocketd libwebsockets-test-server"
# What a fresh Debian 12 lacks besides, that the suite uses: git (the format
# check lists the files with git ls-files), python3-yaml (the docker and
# deploy tests read YAML).
PKGS_SUITE="git python3-yaml"
# The image step of scripts/test.sh (scripts/image.sh): buildah builds
# docker/Dockerfile without a daemon, debootstrap makes its base images.
PKGS_IMAGE="buildah debootstrap"
# Node.js >= 18 and npm (the Node example, the Dockerfile, Compose and
# Kubernetes checks; scripts/node-deps.sh): Debian 12's nodejs 18 and npm,
# unless a node and an npm are there already (NodeSource's nodejs bundles
# npm, and Debian's npm package would conflict with it).
PKGS_NODE=""
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    PKGS_NODE="nodejs npm"
fi

missing=""
for p in $PKGS $PKGS_SUITE $PKGS_IMAGE $PKGS_NODE; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deps.sh: missing packages:$missing (run as root, or install them)" >&2
        exit 1
    fi
    echo "deps.sh: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
    echo "deps.sh: node $(node --version) is older than 18; the Node example needs 18 or newer" >&2
    exit 1
fi
