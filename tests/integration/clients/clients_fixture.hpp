// Real-client compatibility matrix: one PostgreSQL 15 (TLS on, SCRAM on loopback), one
// sluice in front of it, reached by one of three paths:
//   terminated  - TLS ends at sluice (listener tls: {cert, key}); the database leg is
//                 plaintext, so SCRAM (without channel binding) works with the default
//                 channel_binding=prefer.
//   passthrough - sluice routes on SNI without terminating; TLS and SCRAM channel binding
//                 are end to end (channel_binding=require).
//   tunnel      - TLS terminated at sluice, the route reaches the database `via:` a real
//                 OpenSSH sshd on loopback (a libssh2 session kept by the gateway).
// Each client (psql, pgbench, psycopg2, pgjdbc) is run through each path by its own
// TEST_CASE, which owns its cluster, sshd and gateway.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/integration/tunnel/fixture.hpp"
#include "tests/support/gateway_process.hpp"
#include "tests/support/paths.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/process.hpp"

namespace sluice::test::clients {

inline const std::string kSni = "db.pass.test";
inline const std::string kClientsDir =
    std::string(SLUICE_SOURCE_DIR) + "/tests/integration/clients";

enum class path { terminated, passthrough, tunnel };

inline const char* name_of(path p) {
  switch (p) {
    case path::terminated:
      return "terminated";
    case path::passthrough:
      return "passthrough";
    case path::tunnel:
      return "tunnel";
  }
  return "?";
}

inline std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  return s;
}

// A real OpenSSH sshd on 127.0.0.1 (tests/integration/tunnel/fixture.hpp) that knows
// the key the gateway's tunnel logs in with.
class bastion {
 public:
  bastion() { sshd_.authorize(keys_.pub); }
  // The gateway's `tunnels:` entry.
  std::string yaml(const std::string& name) const {
    return "tunnels:\n" + keys_.yaml(sshd_, name,
                                     "    keepalive: {interval: 5s, max_missed: 3}\n"
                                     "    reconnect: {initial: 500ms, max: 2s}\n"
                                     "    connect_timeout: 5s\n");
  }
  std::string log() const { return sshd_.log(); }
  // SSH logins sshd accepted so far (one per gateway SSH session).
  size_t logins() const { return count_of(log(), "Accepted publickey for"); }

 private:
  sshd_server sshd_;
  tunnel_setup keys_;
};

inline pg_options tls_pg(const test_pki& pki) {
  auto o = ssl_on(pki);
  o.conf = {"max_connections = 100"};
  return o;
}

// One database, one gateway, reached by one path.
class client_env {
 public:
  explicit client_env(path p) : path_(p), pki_(dir_.path(), {kSni}), pg_(tls_pg(pki_)) {
    port_ = free_port();
    std::string y = "region: test\nshutdown_grace: 2s\n";
    if (p == path::tunnel) {
      sshd_ = std::make_unique<bastion>();
      admin_port_ = free_port();
      auto token = dir_.write("admin.token", "clients-token\n", 0600);
      y += "admin:\n  listen: 127.0.0.1:" + std::to_string(admin_port_) +
           "\n  token_file: " + token + "\n";
      y += sshd_->yaml("bastion");
    }
    y += "listeners:\n  - name: pg\n    listen: 127.0.0.1:" + std::to_string(port_) + "\n";
    if (p == path::passthrough) {
      y += "    tls: {mode: passthrough}\n    client_tls: required\n";
    } else {
      y += "    tls: {cert: " + pki_.server_cert + ", key: " + pki_.server_key +
           "}\n    client_tls: optional\n";
    }
    y += "routes:\n  - name: db\n";
    if (p == path::passthrough) {
      y += "    match: {sni: " + kSni +
           "}\n    upstream: {host: 127.0.0.1, port: " + std::to_string(pg_.port()) + "}\n";
    } else {
      y += "    upstream: {host: 127.0.0.1, port: " + std::to_string(pg_.port()) +
           (p == path::tunnel ? ", via: bastion" : "") +
           ", connect_timeout: 5s, tls: {sslmode: disable}}\n";
    }
    gw_ = std::make_unique<gateway_process>(dir_, y);
  }

  path which() const { return path_; }
  const temp_dir& dir() const { return dir_; }
  const test_pki& pki() const { return pki_; }
  pg_cluster& pg() { return pg_; }
  gateway_process& gw() { return *gw_; }
  bastion* sshd() { return sshd_.get(); }
  int port() const { return port_; }
  // The host name clients use: the route's SNI name for passthrough, else a name the
  // gateway's certificate carries.
  std::string host() const { return path_ == path::passthrough ? kSni : "localhost"; }

  // libpq conninfo with full verification of whichever certificate the client sees
  // (the gateway's when terminated, the database's in passthrough: same test CA).
  std::string conninfo() const {
    return "host=" + host() + " hostaddr=127.0.0.1 port=" + std::to_string(port_) +
           " user=postgres dbname=postgres sslmode=verify-full sslrootcert=" + pki_.ca_cert +
           " channel_binding=" + (path_ == path::passthrough ? "require" : "prefer") +
           " connect_timeout=10";
  }
  // Whether the database sees its client over TLS (only when TLS is end to end).
  bool db_sees_tls() const { return path_ == path::passthrough; }

  // JSON from the admin API's /v1/status (tunnel path only).
  nlohmann::json status() const {
    auto r =
        run("curl -sS --max-time 5 http://127.0.0.1:" + std::to_string(admin_port_) + "/v1/status",
            std::chrono::seconds(10));
    auto j = nlohmann::json::parse(r.output, nullptr, false);
    return j.is_discarded() ? nlohmann::json{} : j;
  }
  nlohmann::json tunnel_status(const std::string& name = "bastion") const {
    auto j = status();
    if (j.contains("tunnels")) {
      for (const auto& t : j["tunnels"]) {
        if (t.value("name", "") == name)
          return t;
      }
    }
    return {};
  }

  // Waits until the database shows `query` running (from any client).
  bool running(const std::string& query, std::chrono::seconds timeout = std::chrono::seconds(15)) {
    return eventually(
        [&] {
          return pg_.psql("select count(*) from pg_stat_activity where query = '" + query + "'")
                     .output == "1\n";
        },
        timeout);
  }

 private:
  path path_;
  temp_dir dir_{"sluice-clients"};
  test_pki pki_;
  pg_cluster pg_;
  std::unique_ptr<bastion> sshd_;
  int port_ = 0;
  int admin_port_ = 0;
  std::unique_ptr<gateway_process> gw_;
};

inline bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

// The driver programs (JdbcClient.java, psycopg_client.py) print "ok STEP" per step
// that worked and exit 0 only when all did.
inline void check_driver_steps(const run_result& r) {
  for (const char* step : {"query", "prepared", "copy", "notify", "cancel", "all"})
    CHECK(has(r.output, std::string("ok ") + step + "\n"));
  CHECK(r.exit_code == 0);
}

using clock = std::chrono::steady_clock;
inline long long ms_since(clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0).count();
}

}  // namespace sluice::test::clients
