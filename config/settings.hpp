// Immutable, typed form of sluice.yaml. Built once per (re)load by config::load_*,
// shared as settings_ptr; nothing here is mutated after loading.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/cidr.hpp"

namespace sluice::config {

using duration = std::chrono::milliseconds;

// "host:port", "[v6]:port" or "0.0.0.0:port"; host is kept as written (no brackets).
struct host_port {
  std::string host;
  uint16_t port = 0;
  std::string str() const;
  bool operator==(const host_port&) const = default;
};

struct cert_key {
  std::string cert;
  std::string key;
};

struct sni_cert {
  std::vector<std::string> names;  // exact names or "*.suffix" wildcards
  std::string cert;
  std::string key;
};

enum class tls_mode { terminate, passthrough };
enum class client_tls_policy { required, optional, disabled };

// Protocol floor and cipher choice for one TLS endpoint (listener or upstream). Empty
// cipher strings mean sluice's defaults (config/tls_ciphers.hpp): TLS 1.2+, forward
// secret AEAD suites only for TLS 1.2, OpenSSL's TLS 1.3 suites.
enum class tls_version { v1_2, v1_3 };
struct tls_policy {
  tls_version min_version = tls_version::v1_2;
  std::string ciphers;       // TLS 1.2 (OpenSSL cipher list syntax)
  std::string ciphersuites;  // TLS 1.3 (colon-separated suite names)
  bool operator==(const tls_policy&) const = default;
};

// Client certificates on a terminating listener (mutual TLS).
enum class client_cert_mode { off, optional, required };

struct listener_tls {
  tls_mode mode = tls_mode::terminate;
  std::string cert;
  std::string key;
  std::vector<sni_cert> sni;
  tls_policy policy;
  std::string client_ca;  // CA bundle that client certificates must chain to
  client_cert_mode client_cert = client_cert_mode::off;
};

struct proxy_protocol {
  std::vector<cidr> trusted;
  bool required = true;
};

struct listener {
  std::string name;
  host_port listen;
  std::optional<listener_tls> tls;
  client_tls_policy client_tls = client_tls_policy::optional;
  std::vector<std::string> allow;  // allowlist names; empty = everyone
  bool enforce_on_reload = false;
  std::optional<proxy_protocol> proxy;
  duration startup_timeout{10'000};
  uint32_t max_connections = 20'000;
  int line = 0;
};

struct keepalive_settings {
  duration interval{15'000};
  uint32_t max_missed = 3;
};

struct backoff {
  duration initial{1'000};
  duration max{60'000};
};

// A reverse tunnel: agents in the customer's network dial out to the gateway's
// ssh_server, log in as the tunnel's name with one of these keys and announce forwards.
struct reverse_tunnel {
  std::vector<std::string> authorized_keys;  // OpenSSH public key lines
  std::string authorized_keys_file;          // or/and a file of them (re-read on reload)
};

struct tunnel {
  std::string name;
  std::optional<reverse_tunnel> reverse;  // set: a reverse tunnel (no bastion fields)
  std::string host;
  uint16_t port = 22;
  std::string user;
  std::string private_key;
  std::string secondary_key;
  std::string host_key;     // "SHA256:..." pin
  std::string known_hosts;  // or an OpenSSH known_hosts file
  keepalive_settings keepalive;
  backoff reconnect;
  duration connect_timeout{10'000};
  duration wait_for_up{15'000};  // how long a new connection waits for a down tunnel
  uint32_t max_channels = 1000;
  uint32_t sessions = 1;  // sessions per tunnel (pool) when one is not enough
  int line = 0;
};

// The gateway's own SSH endpoint that reverse-tunnel agents dial out to.
struct ssh_server_settings {
  host_port listen;
  std::string host_key;            // OpenSSH/PEM private key file (ed25519 or ECDSA)
  std::vector<std::string> allow;  // allowlist names; empty = everyone
  duration login_timeout{10'000};  // from TCP accept to successful authentication
  uint32_t max_sessions = 1000;    // SSH connections at once, authenticated or not
  uint32_t max_unauthenticated_per_address = 10;
  int line = 0;
};

enum class sslmode { disable, allow, prefer, require, verify_ca, verify_full };
enum class sslnegotiation { postgres, direct };

struct upstream_tls {
  sslmode mode = sslmode::prefer;
  sslnegotiation negotiation = sslnegotiation::postgres;
  std::string ca;
  std::string cert;
  std::string key;
  tls_policy policy;
  bool operator==(const upstream_tls&) const = default;
};

struct upstream_settings {
  std::string host;
  uint16_t port = 5432;
  std::string via;  // tunnel name, empty = direct
  upstream_tls tls;
  duration connect_timeout{10'000};
  // When sluice logs in itself (auth.mode terminate, pooled backends): from the startup
  // packet sent to the backend's ReadyForQuery (a tunnel or server that accepts and then
  // never answers must not hold the client).
  duration login_timeout{10'000};
  bool operator==(const upstream_settings&) const = default;
};

struct route_match {
  std::string listener;  // empty = any
  std::string sni;       // exact or "*.suffix"; empty = any
  std::string database;
  std::string user;
};

enum class auth_mode { passthrough, terminate };

// The default lookup; pg_authid is readable by superusers only (docs/security.md gives the
// SECURITY DEFINER recipe for a non-superuser). Columns: name, secret, valid until, can login.
inline constexpr const char* kDefaultAuthQuery =
    "select rolname, rolpassword, rolvaliduntil, rolcanlogin from pg_catalog.pg_authid "
    "where rolname = $1";

// Where terminate mode looks a user's secret up on the database itself.
struct auth_query {
  std::string user;
  std::string password_file;
  std::string sql;  // empty = kDefaultAuthQuery; $1 is the user name
  bool operator==(const auth_query&) const = default;
};

// routes[].auth: who runs the client's authentication (docs/security.md).
struct route_auth {
  auth_mode mode = auth_mode::passthrough;
  std::optional<auth_query> query;
  std::string file;  // PgBouncer auth_file
  duration cache_ttl{60'000};
  bool operator==(const route_auth&) const = default;
};

enum class pool_mode { off, session };

// routes[].pool: warm, logged-in server connections kept for the next client
// (docs/operations.md, "Session pooling"). Needs auth.mode: terminate.
struct route_pool {
  pool_mode mode = pool_mode::off;
  uint32_t size = 20;     // server connections per (route, user, database)
  uint32_t min_idle = 0;  // idle ones never reaped for idle_timeout below this
  duration idle_timeout{600'000};
  duration max_lifetime{3'600'000};
  std::string reset = "DISCARD ALL";  // run before a backend is handed to the next client
  duration wait_timeout{5'000};       // a client waits this long for a free backend
  bool operator==(const route_pool&) const = default;
};

struct route {
  std::string name;
  route_match match;
  std::vector<std::string> allow;
  duration idle_timeout{0};  // 0 = none
  upstream_settings upstream;
  std::string rewrite_database;  // optional: database name sent upstream
  std::string rewrite_user;
  // When true, this route's health (its tunnel) is part of the gateway's /readyz; by
  // default one customer's bastion outage never takes the gateway out of rotation.
  bool affects_readiness = false;
  // Sessions on this route at once, and per user on it (0 = no limit): one tenant cannot
  // take every backend connection of its database. Over them clients get SQLSTATE 53300.
  uint32_t max_connections = 0;
  uint32_t max_connections_per_user = 0;
  route_auth auth;
  route_pool pool;
  int line = 0;
};

struct sync_destination {
  std::string route;  // reuse a route's upstream (host, port, via, tls)
  std::string host;
  uint16_t port = 5432;
  std::string via;
  std::string database;
  std::string user;
  std::string password_file;
  sslmode mode = sslmode::prefer;
  std::string ca;
  std::string cert, key;  // client certificate (a direct destination; a route has its own)
};

enum class delete_mode { hard, soft };

struct read_role_settings {
  std::string name;
  std::vector<std::string> grant_to;
};

struct sync {
  std::string name;
  sync_destination destination;
  std::string schema;
  read_role_settings read_role;
  bool events = true;
  delete_mode deletes = delete_mode::hard;
  // A record the database refuses (a value it cannot parse): kept in _sync_rejected so
  // the rest of its batch commits (quarantine), or the whole batch refused with 422.
  bool quarantine = true;
  std::string ingest_token_file;
  // Declared column types: collection -> field -> type name (as in a record's "types").
  std::map<std::string, std::map<std::string, std::string>> types;
  int line = 0;
};

struct ingest_settings {
  host_port listen;
  std::optional<cert_key> tls;
  std::vector<std::string> allow;
  uint64_t max_batch_bytes = 16ull << 20;
  uint32_t queue_depth = 8;                   // batches waiting per sync before 429
  uint32_t max_connections = 512;             // open connections, all clients together
  uint32_t max_connections_per_address = 32;  // open connections from one client address
  uint64_t max_body_memory = 0;               // bodies held at once; 0: see body_memory()
  duration header_timeout{10'000};            // TLS handshake + request header (slowloris)

  // The effective body budget: max_body_memory, or max(256 MiB, max_batch_bytes).
  uint64_t body_memory() const {
    if (max_body_memory)
      return max_body_memory;
    return max_batch_bytes > (256ull << 20) ? max_batch_bytes : 256ull << 20;
  }
};

struct admin_settings {
  host_port listen{"127.0.0.1", 9187};
  std::string token_file;
  std::optional<cert_key> tls;
  duration sample_interval{10'000};  // status page charts: one sample per interval (restart)
};

struct cancel_peer {
  uint32_t instance_id = 0;
  host_port address;  // the peer's Postgres listener, reached in plaintext
};

struct cancel_settings {
  // Names this instance inside the cancel keys it mints (0..127), so a cancel that a
  // load balancer delivers to another instance can be forwarded here.
  uint32_t instance_id = 0;
  std::vector<cancel_peer> peers;
  uint32_t rate_per_second = 10;  // cancel requests per client address
};

struct settings {
  std::string source_path;  // file it was loaded from (for messages)
  std::string region;
  std::vector<std::string> public_addresses;
  uint32_t workers = 0;  // 0 = one per core
  duration shutdown_grace{30'000};
  // Plaintext relays: "copy" (read into a per-thread buffer, non-blocking write),
  // "splice" (kernel pipe, no copy to user space; costs a pipe per direction) or
  // "kernel" (a BPF sockmap forwards both ways; sluice keeps the control only).
  enum class relay_mode { copy, splice, kernel };
  relay_mode relay = relay_mode::copy;
  cancel_settings cancel;
  std::optional<admin_settings> admin;
  std::optional<ingest_settings> ingest;
  std::optional<ssh_server_settings> ssh_server;
  std::map<std::string, std::vector<cidr>> allowlists;
  std::vector<listener> listeners;
  std::vector<tunnel> tunnels;
  std::vector<route> routes;
  std::vector<sync> syncs;

  const listener* find_listener(std::string_view name) const;
  const tunnel* find_tunnel(std::string_view name) const;
  const route* find_route(std::string_view name) const;
  const sync* find_sync(std::string_view name) const;
};

using settings_ptr = std::shared_ptr<const settings>;

std::string_view to_string(sslmode m);
std::string_view to_string(client_tls_policy p);
std::string_view to_string(auth_mode m);

}  // namespace sluice::config
