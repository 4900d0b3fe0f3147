#!/bin/sh
# Builds and runs the sync writer benchmark; extra arguments go to sync_bench.
#   tests/bench/sync_bench/sync_bench.sh [BUILD_DIR] [--rows N] [--batch N] [--events]
set -e
here=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-$here/build}
case "$build" in --*) build=$here/build ;; *) [ $# -gt 0 ] && shift ;; esac
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target sync_bench -j2 >/dev/null
exec "$build/tests/bench/sync_bench/sync_bench" "$@"
