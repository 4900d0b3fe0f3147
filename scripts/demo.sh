#!/usr/bin/env bash
# The main job, on local defaults: builds sluice, starts a throwaway PostgreSQL 15 as
# the "customer database", starts the gateway with a TLS listener, an allowlist and a
# route, and shows psql querying through it over verified TLS. Cleans up on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bash scripts/install-deps.sh
if [ -n "${SLUICE_BIN:-}" ]; then
  sluice=$SLUICE_BIN  # an already-built binary
else
  build=${SLUICE_BUILD_DIR:-build}
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j"$(nproc)" --target sluice
  sluice="$root/$build/gateway/sluice"
fi

work=$(mktemp -d /tmp/sluice-demo-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${pgctl:-}" ] && $pgctl stop -m fast >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. A throwaway PostgreSQL 15 (the customer database)"
pg_port=$(free_port)
mkdir -p "$work/pg" && [ "$(id -u)" -eq 0 ] && chown postgres "$work/pg"
printf 'demo-password' > "$work/pg/pw" && chmod 644 "$work/pg/pw"
as_postgres /usr/lib/postgresql/15/bin/initdb -D "$work/pg/data" -U postgres --pwfile="$work/pg/pw" \
  -A scram-sha-256 --auth-local=trust >/dev/null
pgctl="as_postgres /usr/lib/postgresql/15/bin/pg_ctl -D $work/pg/data"
$pgctl -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1" -l "$work/pg/log" -w start >/dev/null
psql -X -h "$work/pg" -p "$pg_port" -U postgres -qc \
  "create table orders(id int primary key, item text); insert into orders values (1,'widget'),(2,'gadget')"
echo "PostgreSQL on 127.0.0.1:$pg_port"

step "2. Certificates: a demo CA and a gateway certificate for localhost"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=sluice demo CA" \
  -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
  -keyout "$work/gw.key" -out "$work/gw.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$work/gw.ext"
openssl x509 -req -in "$work/gw.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
  -extfile "$work/gw.ext" -out "$work/gw.crt" 2>/dev/null
chmod 600 "$work/gw.key" "$work/ca.key"

step "3. sluice.yaml: TLS listener, allowlist, route"
gw_port=$(free_port)
cat > "$work/sluice.yaml" <<YAML
region: demo-local
public_addresses: [127.0.0.1]
allowlists:
  office: [127.0.0.1/32]
listeners:
  - name: pg
    listen: 127.0.0.1:$gw_port
    tls: {cert: gw.crt, key: gw.key}
    client_tls: required
    allow: [office]
    enforce_on_reload: true
routes:
  - name: shop
    match: {listener: pg}
    upstream:
      host: 127.0.0.1
      port: $pg_port
      tls: {sslmode: prefer}
YAML
cat "$work/sluice.yaml"
"$sluice" check-config -c "$work/sluice.yaml"

step "4. Start the gateway"
"$sluice" run -c "$work/sluice.yaml" > "$work/sluice.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q 'event=ready' "$work/sluice.log" && break; sleep 0.1; done
cat "$work/sluice.log"

conn="host=localhost hostaddr=127.0.0.1 port=$gw_port user=postgres dbname=postgres"
step "5. psql through the gateway, TLS verified against the demo CA (sslmode=verify-full)"
PGPASSWORD=demo-password psql -X "$conn sslmode=verify-full sslrootcert=$work/ca.crt channel_binding=disable" \
  -c "select id, item, inet_server_port() as backend_port from orders order by id"

step "6. A plaintext client is refused: this listener requires TLS"
PGPASSWORD=demo-password psql -X "$conn sslmode=disable" -c "select 1" || true

step "7. The network team removes 127.0.0.1 from the allowlist and reloads (SIGHUP)"
sed -i 's#office: \[127.0.0.1/32\]#office: [198.51.100.0/24]#' "$work/sluice.yaml"
kill -HUP "${pids[0]}"
sleep 0.5
PGPASSWORD=demo-password psql -X "$conn sslmode=verify-full sslrootcert=$work/ca.crt" -c "select 1" || true

step "8. What the gateway logged (one line per connection)"
grep -E 'connection_closed|reload' "$work/sluice.log"

step "Done: gateway stopped, cluster removed"
