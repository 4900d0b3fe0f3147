#!/usr/bin/env bash
# Builds sluice and runs every test (unit and integration) with CTest.
# Usage: scripts/test.sh [extra ctest args]   (SLUICE_SANITIZE=address;undefined for ASan+UBSan)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${SLUICE_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_SANITIZE="${SLUICE_SANITIZE:-}" >/dev/null
cmake --build "$build" -j"$(nproc)"
if [ -n "${SLUICE_SANITIZE:-}" ]; then
  # Inherited by the tests and by every sluice process they start.
  export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizer/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
# node-postgres for the client matrix, the versions pinned by its package-lock.json.
node_clients="$build/node-clients"
if ! cmp -s tests/integration/clients/node/package-lock.json "$node_clients/package-lock.json" ||
  [ ! -d "$node_clients/node_modules/pg" ]; then
  mkdir -p "$node_clients"
  cp tests/integration/clients/node/package.json tests/integration/clients/node/package-lock.json "$node_clients/"
  (cd "$node_clients" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 600 "$@"
