#!/usr/bin/env bash
# Installs the Debian 12 packages sluice needs to build, test and demo, when missing.
# As root it uses apt-get directly; otherwise sudo if available.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache git
  libboost-dev libssl-dev libssh2-1-dev libssh-dev libpq-dev libyaml-cpp-dev catch2 libcli11-dev
  nlohmann-json3-dev libsystemd-dev
  # package checks (tests/integration/ops/package_test.cpp): lintian, hardening-check
  lintian devscripts
  # promtool for the metrics, alert rules and dashboard checks (tests/integration/ops/monitoring_test.cpp)
  prometheus
  postgresql-15 postgresql-client-15 openssh-server openssh-client openssl
  python3 python3-psycopg2 procps iproute2 curl
  # audits the reverse-tunnel SSH endpoint (tests/integration/tunnel/reverse_*_test.cpp)
  ssh-audit
  # headless Chromium for the status-page test (tests/integration/ops/status_page_test.cpp)
  chromium
  # JDBC client in the real-client matrix (tests/integration/clients/jdbc_test.cpp)
  default-jdk-headless libpostgresql-jdbc-java
  # asyncpg, pg8000 and node-postgres (npm, installed by scripts/test.sh) in the client matrix
  python3-asyncpg python3-pg8000 nodejs npm
  # libFuzzer targets (tests/fuzz/, built with clang; build-time only)
  clang-14 libclang-rt-14-dev
  # hardening-check on the built binary (tests/integration/ops/hardening_test.cpp)
  devscripts
)
# Extra packages a caller needs (e.g. benchmarks: pgbouncer haproxy).
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  apt=(apt-get)
elif command -v sudo >/dev/null; then
  apt=(sudo apt-get)
else
  echo "missing packages (${missing[*]}) and not root: install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt[@]}" update -qq
# Do not let package scripts start services (postgresql, ssh) on the host.
if [ "$(id -u)" -eq 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
