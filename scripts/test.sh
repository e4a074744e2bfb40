#!/bin/bash
# The whole test suite, exactly as CI runs it (.ci/run calls this and nothing
# else). On a fresh Debian 12 machine as root it installs what it needs.
#
#   1. format check (.clang-format)
#   2. release build with -Werror, full ctest (unit, integration, python,
#      conformance) but the valgrind entries
#   2b. valgrind memcheck on that build (ctest -L valgrind): the hostile-peer
#      matrix, the peer-side fuzzer and the pool's close paths
#   3. ASan+UBSan build, full ctest
#   4. TSan build, full ctest
#   5. libFuzzer build (clang), every fuzzer for a bounded time
#
# HB_TEST_QUICK=1 runs only step 1 and 2 (a developer's inner loop).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc)

step() { printf '\n==== %s ====\n' "$*"; }

step "dependencies"
scripts/deps.sh
if [ -f scripts/node-deps.sh ]; then scripts/node-deps.sh; fi

step "format check"
scripts/format.sh --check

build() { # name, extra cmake args... (HB_TARGET=x builds only target x)
    local dir=$root/build/$1; shift
    local target=()
    [ -n "${HB_TARGET:-}" ] && target=(--target "$HB_TARGET")
    cmake -S "$root" -B "$dir" -DHONEYBEE_WERROR=ON -DHONEYBEE_BUILD_TESTS=ON "$@" >/dev/null
    if ! cmake --build "$dir" -j"$jobs" "${target[@]}" >"$dir/build.log" 2>&1; then
        cat "$dir/build.log"; echo "build $dir failed" >&2; exit 1
    fi
    grep -E 'warning:' "$dir/build.log" || true
}
run_ctest() { # name, extra ctest args...
    local dir=$root/build/$1; shift
    ctest --test-dir "$dir" --output-on-failure --no-tests=error -j"$jobs" "$@"
}

step "release build (-Werror) and tests"
build release -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_ctest release -LE valgrind

if [ "${HB_TEST_QUICK:-0}" = 1 ]; then exit 0; fi

step "valgrind memcheck (release build): hostile peers, peer fuzzer, pool close paths"
run_ctest release -L valgrind

step "ASan+UBSan build and tests"
build asan -DCMAKE_BUILD_TYPE=Debug -DHONEYBEE_SANITIZER=address -DHONEYBEE_BUILD_BENCH=OFF
run_ctest asan

step "TSan build and tests"
build tsan -DCMAKE_BUILD_TYPE=Debug -DHONEYBEE_SANITIZER=thread -DHONEYBEE_BUILD_BENCH=OFF
run_ctest tsan

step "libFuzzer (clang) build and bounded fuzzing"
CC=clang HB_TARGET=fuzzers build fuzz -DCMAKE_BUILD_TYPE=Debug -DHONEYBEE_SANITIZER=address \
    -DHONEYBEE_BUILD_FUZZ=ON -DHONEYBEE_BUILD_BENCH=OFF
run_ctest fuzz -L fuzz
