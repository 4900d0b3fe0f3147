#!/usr/bin/env bash
# The main job, on local defaults: the whole mission on one machine, with no manual steps.
#   - a throwaway PostgreSQL 15 as the customer's private database,
#   - a loopback OpenSSH sshd as the customer's bastion, with sluice's key authorized,
#   - sluice with a TLS listener, an allowlist, a route through the SSH tunnel, a sync,
#     the ingest API and the admin API with its status page,
#   - a second route to a database with no inbound path at all, reached through an agent
#     that dials out to the gateway (ssh -N -R: the case other products solve with ngrok),
#   - Stripe-like records pushed through the ingest API into a managed schema,
#   - psql through the gateway (verified TLS) reading the synced rows and _sync_event.
# Cleans up on exit. DEMO_KEEP=1 keeps everything running until Ctrl-C (to browse the
# status page).
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
wait_for() { for _ in $(seq 100); do grep -q "$1" "$2" && return 0; sleep 0.1; done; echo "timed out waiting for $1 in $2" >&2; cat "$2" >&2; return 1; }

step "1. A throwaway PostgreSQL 15 (the customer database)"
pg_port=$(free_port)
mkdir -p "$work/pg" && [ "$(id -u)" -eq 0 ] && chown postgres "$work/pg"
printf 'demo-password' > "$work/pg/pw" && chmod 644 "$work/pg/pw"
as_postgres /usr/lib/postgresql/15/bin/initdb -D "$work/pg/data" -U postgres --pwfile="$work/pg/pw" \
  --auth-local=scram-sha-256 --auth-host=scram-sha-256 >/dev/null
pgctl="as_postgres /usr/lib/postgresql/15/bin/pg_ctl -D $work/pg/data"
$pgctl -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1" -l "$work/pg/log" -w start >/dev/null
# The customer's side of the sync set-up (docs/sync.md), plus an analyst who reads.
PGPASSWORD=demo-password psql -X -h "$work/pg" -p "$pg_port" -U postgres -q <<SQL
create database app;
create user sync_user with encrypted password 'sync-password';
grant connect, create on database app to sync_user;
create role sync_read with admin sync_user;
create user analyst with encrypted password 'analyst-password';
SQL
echo "PostgreSQL on 127.0.0.1:$pg_port (private: only the bastion should reach it)"

step "1b. The customer's bastion: OpenSSH sshd on loopback, sluice's public key authorized"
"$sluice" keygen --out "$work/tunnel_ed25519" --comment sluice-demo
ssh_port=$(free_port)
ssh-keygen -q -t ed25519 -N '' -f "$work/bastion_host_key"
cp "$work/tunnel_ed25519.pub" "$work/authorized_keys" && chmod 600 "$work/authorized_keys"
mkdir -p /run/sshd && chmod 755 /run/sshd
cat > "$work/sshd_config" <<CONF
Port $ssh_port
ListenAddress 127.0.0.1
HostKey $work/bastion_host_key
AuthorizedKeysFile $work/authorized_keys
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
AllowTcpForwarding yes
CONF
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2> "$work/sshd.log" &
pids+=($!)
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$ssh_port) 2>/dev/null && break; sleep 0.1; done
echo "bastion sshd on 127.0.0.1:$ssh_port"
"$sluice" tunnel fingerprint "127.0.0.1:$ssh_port" | tee "$work/fingerprint.txt"
host_key=$(grep -o 'host_key: "SHA256:[^"]*"' "$work/fingerprint.txt" | sed -n 1p | sed 's/host_key: //')

step "2. Certificates (a demo CA and a gateway certificate) and secrets"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=sluice demo CA" \
  -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
  -keyout "$work/gw.key" -out "$work/gw.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$work/gw.ext"
openssl x509 -req -in "$work/gw.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
  -extfile "$work/gw.ext" -out "$work/gw.crt" 2>/dev/null
chmod 600 "$work/gw.key" "$work/ca.key"
printf 'sync-password' > "$work/sync.pw"
openssl rand -hex 24 > "$work/ingest.token"
openssl rand -hex 24 > "$work/admin.token"
chmod 600 "$work/sync.pw" "$work/ingest.token" "$work/admin.token"

step "2b. A reverse-tunnel agent's key (customer side) and the gateway's SSH endpoint host key"
ssh-keygen -q -t ed25519 -N '' -C acme-vpc -f "$work/agent_ed25519"
"$sluice" keygen --host-key --out "$work/ssh_host_ed25519"

step "3. sluice.yaml: TLS listener, allowlist, tunnel, route via the tunnel, sync, ingest, admin"
gw_port=$(free_port); ingest_port=$(free_port); admin_port=$(free_port)
agent_ssh_port=$(free_port)
cat > "$work/sluice.yaml" <<YAML
region: demo-local
public_addresses: [127.0.0.1]
admin:
  listen: 127.0.0.1:$admin_port
  token_file: admin.token
ingest:
  listen: 127.0.0.1:$ingest_port
  tls: {cert: gw.crt, key: gw.key}
  allow: [sync-workers]
allowlists:
  office: [127.0.0.1/32]
  sync-workers: [127.0.0.1/32]
listeners:
  - name: pg
    listen: 127.0.0.1:$gw_port
    tls: {cert: gw.crt, key: gw.key}
    client_tls: required
    allow: [office]
    enforce_on_reload: true
ssh_server:                       # agents dial out to this; nothing is bound per tunnel
  listen: 127.0.0.1:$agent_ssh_port
  host_key: ssh_host_ed25519
  login_timeout: 10s
tunnels:
  - name: acme-agent
    reverse:
      authorized_keys: ["$(cat "$work/agent_ed25519.pub")"]
    keepalive: {interval: 5s, max_missed: 3}
  - name: acme-bastion
    host: 127.0.0.1
    port: $ssh_port
    user: $(id -un)
    private_key: tunnel_ed25519
    host_key: $host_key
    keepalive: {interval: 15s, max_missed: 3}
routes:
  - name: acme-private              # the database has no inbound path: only the agent reaches it
    match: {listener: pg, database: postgres}
    allow: [office]
    upstream: {host: 127.0.0.1, port: 5432, via: acme-agent, tls: {sslmode: disable}}
  - name: acme-prod
    match: {listener: pg}
    allow: [office]
    upstream:
      host: 127.0.0.1
      port: $pg_port
      via: acme-bastion
      tls: {sslmode: disable}   # the SSH tunnel encrypts this leg
syncs:
  - name: acme-stripe
    destination: {route: acme-prod, database: app, user: sync_user, password_file: sync.pw}
    schema: stripe
    read_role: {name: sync_read, grant_to: [analyst]}
    events: true
    deletes: hard
    ingest: {token_file: ingest.token}
YAML
cat "$work/sluice.yaml"
"$sluice" check-config -c "$work/sluice.yaml"

step "3b. The customer's setup checklist, run through the SSH tunnel (sluice sync verify)"
"$sluice" sync verify acme-stripe -c "$work/sluice.yaml" 2>/dev/null

step "4. Start the gateway"
"$sluice" run -c "$work/sluice.yaml" > "$work/sluice.log" 2>&1 &
gw_pid=$!
pids+=($gw_pid)
wait_for 'event=ready' "$work/sluice.log"
grep -E 'event=(listening|ready|tunnel)' "$work/sluice.log" | sed -n 1,8p

step "4b. The customer's agent dials OUT to the gateway (ssh -N -R), pinning its host key"
"$sluice" tunnel host-key -c "$work/sluice.yaml" --host 127.0.0.1 | tee "$work/host-key.txt"
grep '^\[' "$work/host-key.txt" > "$work/agent_known_hosts"
ssh -F /dev/null -N -p "$agent_ssh_port" -i "$work/agent_ed25519" -o IdentitiesOnly=yes \
  -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$work/agent_known_hosts" \
  -o ExitOnForwardFailure=yes -o ServerAliveInterval=5 \
  -R "5432:127.0.0.1:$pg_port" acme-agent@127.0.0.1 2> "$work/agent.log" &
pids+=($!)
wait_for 'event=reverse_forward_added' "$work/sluice.log"
grep -E 'event=reverse_(agent_up|forward_added)' "$work/sluice.log" | cut -c1-200
PGPASSWORD=demo-password psql -X "host=localhost hostaddr=127.0.0.1 port=$gw_port dbname=postgres user=postgres sslmode=verify-full sslrootcert=$work/ca.crt" \
  -c "select 'reached through the agent, which dialled out' as path, inet_server_port()"

step "5. Push Stripe-like records through the ingest API (HTTPS, bearer token)"
cat > "$work/batch1.ndjson" <<'NDJSON'
{"collection":"customer","id":"cus_001","op":"upsert","version":1,"data":{"email":"ada@example.com","name":"Ada","balance":0,"delinquent":false,"metadata":{"plan":"pro"}}}
{"collection":"customer","id":"cus_002","op":"upsert","version":1,"data":{"email":"grace@example.com","name":"Grace","balance":1200,"delinquent":false,"metadata":{}}}
{"collection":"subscription","id":"sub_001","op":"upsert","version":1,"data":{"customer":"cus_001","status":"active","quantity":3,"items":[{"price":"price_pro","quantity":3}]}}
NDJSON
cat > "$work/batch2.ndjson" <<'NDJSON'
{"collection":"customer","id":"cus_002","op":"upsert","version":2,"data":{"email":"grace@example.com","name":"Grace Hopper","balance":0,"delinquent":false,"metadata":{"vip":true}}}
{"collection":"customer","id":"cus_001","op":"upsert","version":1,"data":{"email":"ada@example.com","name":"Ada","balance":0,"delinquent":false,"metadata":{"plan":"pro"}}}
{"collection":"subscription","id":"sub_001","op":"delete","version":2}
NDJSON
"$sluice" sync push acme-stripe "$work/batch1.ndjson" -c "$work/sluice.yaml" --sequence 1 --ca "$work/ca.crt"
"$sluice" sync push acme-stripe "$work/batch2.ndjson" -c "$work/sluice.yaml" --sequence 2 --ca "$work/ca.crt"
echo "re-sending batch 2 is acknowledged as a duplicate, not applied twice:"
"$sluice" sync push acme-stripe "$work/batch2.ndjson" -c "$work/sluice.yaml" --sequence 2 --ca "$work/ca.crt"

conn="host=localhost hostaddr=127.0.0.1 port=$gw_port dbname=app sslmode=verify-full sslrootcert=$work/ca.crt"
step "6. The analyst reads the synced rows through the gateway (TLS verified, then the SSH tunnel)"
PGPASSWORD=analyst-password psql -X "$conn user=analyst" \
  -c "select id, name, email, balance, metadata from stripe.customer order by id" \
  -c "select id, status from stripe.subscription" \
  -c "select id, event_type, object_type, record_id from stripe._sync_event order by id"

step "7. A plaintext client is refused: this listener requires TLS"
PGPASSWORD=analyst-password psql -X "host=127.0.0.1 port=$gw_port dbname=app user=analyst sslmode=disable" -c "select 1" || true

step "8. Status: admin API and status page"
curl -s "http://127.0.0.1:$admin_port/readyz"; echo
curl -s "http://127.0.0.1:$admin_port/v1/status" | python3 -m json.tool | sed -n 1,40p
curl -s "http://127.0.0.1:$admin_port/metrics" | grep -E '^sluice_(connections_closed_total|tunnel|sync)' | sed -n 1,10p
echo "status page: http://127.0.0.1:$admin_port/"

step "9. The network team removes 127.0.0.1 from the office allowlist and reloads (SIGHUP)"
sed -i 's#office: \[127.0.0.1/32\]#office: [198.51.100.0/24]#' "$work/sluice.yaml"
kill -HUP "$gw_pid"
wait_for 'event=reload_done' "$work/sluice.log"
PGPASSWORD=analyst-password psql -X "$conn user=analyst" -c "select 1" || true

step "10. What the gateway logged (one line per connection)"
grep -E 'connection_closed|reload_done' "$work/sluice.log" | cut -c1-260

if [ -n "${DEMO_KEEP:-}" ]; then
  step "Running until Ctrl-C: status page at http://127.0.0.1:$admin_port/"
  wait "$gw_pid" || true
fi
step "Done: gateway, bastion, agent and database stopped; $work removed"
