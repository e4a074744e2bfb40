#!/bin/sh
# Run one libFuzzer target for a bounded time over its seed corpus.
# A crash, leak or sanitizer report makes libFuzzer exit non-zero: a failure.
# usage: run-fuzzer.sh BINARY SEED_CORPUS WORK_DIR SECONDS
set -eu
bin=$1 seeds=$2 work=$3 secs=$4
rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
     -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds"
