#!/bin/bash
# The whole test suite, exactly as CI runs it (.ci/run calls this and nothing
# else). On a fresh Debian 12 machine as root it installs what it needs.
#
#   1. format check (.clang-format)
#   2. release build with -Werror, full ctest (unit, integration, python,
#      conformance) but the valgrind entries and the image
#   3. the container image: docker/Dockerfile built with buildah and run
#      (scripts/image.sh, tests/image/test_image.py; skipped with the reason
#      where buildah cannot build)
#   4. valgrind memcheck on the release build (ctest -L valgrind): the
#      hostile-peer matrix, the peer-side fuzzer and the pool's close paths
#   5. ASan+UBSan build, full ctest
#   6. TSan build, full ctest
#   7. libFuzzer build (clang), every fuzzer for a bounded time
#
# HB_TEST_QUICK=1 runs only step 1 and 2 (a developer's inner loop);
# HB_TEST_IMAGE=1 adds step 3 to it, HB_TEST_IMAGE=0 leaves it out of a
# full run. A test that cannot run here for a tool Debian does not package
# (kubectl) is reported as skipped, with its reason, after its ctest run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc)

# Each step's time, printed at the end (also when a step fails).
times=()
t_step=$(date +%s)
cur=""
step_done() {
    [ -n "$cur" ] && times+=("$(printf '%6ss  %s' "$(($(date +%s) - t_step))" "$cur")")
    t_step=$(date +%s)
    cur=""
}
step() {
    step_done
    cur="$*"
    printf '\n==== %s ====\n' "$*"
}
summary() {
    local rc=$?
    step_done
    printf '\n==== times ====\n'
    printf '%s\n' "${times[@]}"
    [ "$rc" = 0 ] || printf 'FAILED (exit %s)\n' "$rc"
}
trap summary EXIT

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
# The reasons of the tests ctest reported as skipped (each prints
# "skip NAME REASON"; ctest's own summary names only the test).
skip_reasons() { # build dir
    local log=$1/Testing/Temporary/LastTest.log
    [ -f "$log" ] || return 0
    awk '/^[0-9]+\/[0-9]+ Test: / { name = $3 }
         /^skip / { sub(/^skip +/, ""); sub(/ +/, ": "); print "  skipped: " name " " $0 }' "$log"
}
run_ctest() { # name, extra ctest args...
    local dir=$root/build/$1; shift
    local rc=0
    ctest --test-dir "$dir" --output-on-failure --no-tests=error -j"$jobs" "$@" || rc=$?
    skip_reasons "$dir"
    return "$rc"
}

step "release build (-Werror) and tests"
build release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHONEYBEE_TEST_IMAGE=ON
run_ctest release -LE 'valgrind|image'

image_default=1
[ "${HB_TEST_QUICK:-0}" = 1 ] && image_default=0
if [ "${HB_TEST_IMAGE:-$image_default}" = 1 ]; then
    step "container image: docker/Dockerfile built with buildah and run"
    run_ctest release -L image
    # What the image test reports: build time, the layers and their sizes.
    grep -h '^# ' "$root/build/release/Testing/Temporary/LastTest.log" || true
fi

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
