#!/usr/bin/env bash
# Builds sluice and runs every test (unit and integration) with CTest.
# Usage: scripts/test.sh [extra ctest args]   (SLUICE_SANITIZE=address;undefined for ASan+UBSan)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${SLUICE_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_SANITIZE="${SLUICE_SANITIZE:-}" >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 600 "$@"
