#!/bin/sh
# Configure, build and install honeybee (honeybee-bridge, honeybee-cli,
# libhoneybee, headers, CMake package, pkg-config file) into a prefix.
#
#   scripts/install.sh [--prefix DIR] [--build-dir DIR] [--build-type TYPE]
#                      [--destdir DIR] [--jobs N] [--strip] [-- CMAKE_ARGS...]
#
# The container image (docker/Dockerfile) is built with this script and the
# test suite (tests/integration/test_docker.py) runs it too, so what the
# image ships is what the tests installed and ran.
#
# Defaults: prefix /usr/local, build dir build/install, build type Release,
# without tests and benchmarks. A build dir that is already configured is
# reused as it is (only CMAKE_ARGS given after -- are applied), so the test
# suite can install from the tree it has just built without rebuilding it.
# Needs the build dependencies of scripts/deps.sh (no test-only ones).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
prefix=/usr/local
build=$src/build/install
build_type=Release
destdir=
jobs=$(nproc 2>/dev/null || echo 2)
strip=

usage() {
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
    exit "$1"
}

while [ $# -gt 0 ]; do
    case $1 in
    --prefix) prefix=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --build-type) build_type=$2; shift 2 ;;
    --destdir) destdir=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --strip) strip=--strip; shift ;;
    -h | --help) usage 0 ;;
    --) shift; break ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage 2 >&2 ;;
    esac
done

if [ -f "$build/CMakeCache.txt" ]; then
    echo "install.sh: reusing the configured build in $build"
    if [ $# -gt 0 ]; then cmake -S "$src" -B "$build" "$@" >/dev/null; fi
else
    echo "install.sh: configuring $build ($build_type)"
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE="$build_type" \
        -DCMAKE_INSTALL_PREFIX="$prefix" \
        -DHONEYBEE_BUILD_TESTS=OFF -DHONEYBEE_BUILD_BENCH=OFF "$@" >/dev/null
fi

echo "install.sh: building"
cmake --build "$build" -j"$jobs"

echo "install.sh: installing into ${destdir}${prefix}"
# --prefix at install time: the same tree can be staged anywhere.
if [ -n "$destdir" ]; then
    DESTDIR=$destdir cmake --install "$build" --prefix "$prefix" $strip
else
    cmake --install "$build" --prefix "$prefix" $strip
fi

for exe in honeybee-bridge honeybee-cli; do
    if [ ! -x "${destdir}${prefix}/bin/$exe" ]; then
        echo "install.sh: $exe was not installed" >&2
        exit 1
    fi
done
echo "install.sh: done: ${destdir}${prefix}/bin/honeybee-bridge"
