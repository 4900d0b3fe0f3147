// Shared setup for the sync integration tests: a throwaway PostgreSQL cluster with a
// database `app` prepared the way docs/sync.md tells customers, a sluice.yaml with one
// sync, and helpers to post batches through the real ingest API.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "config/load.hpp"
#include "sync/http_client.hpp"
#include "tests/support/paths.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/process.hpp"

namespace sluice::test {

inline constexpr const char* kSyncPassword = "sync-pw-1";
inline constexpr const char* kToken = "tok-acme-0123456789";

struct sync_env {
  sync_env() = default;
  // A cluster prepared another way (ssl=on, its own pg_hba.conf lines).
  explicit sync_env(pg_options o) : pg(std::move(o)) {}

  pg_cluster pg;
  temp_dir dir{"sluice-sync"};
  int ingest_port = free_port();
  std::string schema = "stripe";
  std::string deletes = "hard";
  uint32_t queue_depth = 8;
  std::string max_batch = "16MiB";
  bool events = true;
  std::string ingest_extra;  // more ingest: keys (tls, allow), already indented
  std::string top_extra;     // more top-level YAML (allowlists)
  std::string sslmode = "disable";
  std::string destination_extra;  // more destination: keys, indented by 6
  std::string sync_extra;         // more keys of the sync, indented by 4
  std::string grant_to = "[analyst]";

  // The customer's side of the setup (docs/sync.md).
  void prepare_database(bool with_read_role = true) {
    pg.sql("create database app");
    pg.sql(std::string("create user sync_user with encrypted password '") + kSyncPassword + "'");
    pg.sql("grant connect, create, temporary on database app to sync_user");
    if (with_read_role)
      pg.sql("create role sync_read with admin sync_user");
    pg.sql("create user analyst with encrypted password 'analyst-pw'");
  }

  std::string config_path() {
    std::string pw = dir.write("sync.pw", kSyncPassword, 0600);
    std::string tok = dir.write("acme.token", std::string(kToken) + "\n", 0600);
    std::string yaml =
        "ingest:\n  listen: 127.0.0.1:" + std::to_string(ingest_port) +
        "\n  max_batch_bytes: " + max_batch + "\n  queue_depth: " + std::to_string(queue_depth) +
        "\n" + ingest_extra + top_extra +
        "syncs:\n  - name: acme\n    destination:\n      host: 127.0.0.1\n      port: " +
        std::to_string(pg.port()) +
        "\n      database: app\n      user: sync_user\n      password_file: " + pw +
        "\n      sslmode: " + sslmode + "\n" + destination_extra + "    schema: " + schema +
        "\n    read_role: {name: sync_read, grant_to: " + grant_to + "}\n" + sync_extra +
        "    events: " + (events ? "true" : "false") + "\n    deletes: " + deletes +
        "\n    ingest:\n      token_file: " + tok + "\n";
    return dir.write("sluice.yaml", yaml, 0600);
  }

  config::settings_ptr settings() {
    auto r = config::load_file(config_path());
    if (!r.settings)
      throw std::runtime_error("config: " + r.issues.str());
    return r.settings;
  }

  sync::http_response post(const std::string& body, int64_t sequence,
                           const std::string& token = kToken, const std::string& name = "acme") {
    sync::http_target t;
    t.port = static_cast<uint16_t>(ingest_port);
    std::string path = "/v1/syncs/" + name + "/batches";
    if (sequence > 0)
      path += "?sequence=" + std::to_string(sequence);
    return sync::http_request(t, "POST", path, token, body);
  }

  std::string app(const std::string& sql) { return pg.sql(sql, "app"); }

  // GET /v1/syncs/acme: the sync's status as the ingest API reports it.
  nlohmann::json status() const {
    sync::http_target t;
    t.port = static_cast<uint16_t>(ingest_port);
    return nlohmann::json::parse(sync::http_request(t, "GET", "/v1/syncs/acme", kToken, "").body);
  }
};

// ssl=on, scram-sha-256 over hostssl only: what a managed database looks like. Keep it
// alive as long as the sync_env made from opts() (it holds the server certificate).
struct tls_database {
  temp_dir pki_dir{"sluice-pki"};
  test_pki pki{pki_dir.path()};
  pg_options opts() const {
    auto o = ssl_on(pki);
    o.hba = {"hostssl all all 127.0.0.1/32 scram-sha-256"};
    return o;
  }
};

// One upsert record of the ingest API.
inline nlohmann::json upsert(const std::string& collection, const std::string& id, int64_t version,
                             nlohmann::json data) {
  return {{"collection", collection},
          {"id", id},
          {"op", "upsert"},
          {"version", version},
          {"data", std::move(data)}};
}

inline std::string ndjson(const std::vector<nlohmann::json>& records) {
  std::string out;
  for (const auto& r : records)
    out += r.dump() + "\n";
  return out;
}

}  // namespace sluice::test
