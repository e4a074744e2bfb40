#!/bin/sh
# Install every Debian 12 package honeybee needs to build, test and run.
# Idempotent: packages already present are not fetched again. Run as root.
set -eu
# websocketd and libwebsockets-test-server: WebSocket servers of other
# implementations the pool is tested against (tests/integration/test_pool_interop.c).
PKGS="build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
      libwebsockets-dev libzmq3-dev libczmq-dev libyaml-dev libjansson-dev libssl-dev
      libhttp-parser-dev libwslay-dev libcmocka-dev python3 python3-zmq python3-websockets openssl ca-certificates
      curl valgrind websocketd libwebsockets-test-server"
missing=""
for p in $PKGS; do
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
