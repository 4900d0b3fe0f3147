// A gateway in front of a real PostgreSQL 15 (ssl=on, SCRAM on loopback) with an admin
// API and a bearer token, for the tests of live control, reloads, limits and upgrades.
// Clients are real psql/pgbench processes holding sessions open. sluice terminates the
// client TLS, so SCRAM channel binding cannot reach the database: channel_binding=disable.
#pragma once

#include <signal.h>

#include <catch2/catch.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/integration/ops/ops_fixture.hpp"
#include "tests/support/gateway_process.hpp"
#include "tests/support/paths.hpp"
#include "tests/support/pg_cluster.hpp"

namespace sluice::test {

struct control_env {
  temp_dir dir;
  test_pki pki{dir.path()};
  pg_cluster pg{ssl_on(pki)};
  int listen_port = free_port();
  int admin_port = free_port();
  std::string token_file = dir.write("admin.token", "ctl-token\n", 0600);
  std::unique_ptr<gateway_process> gw;

  // `route_extra` goes into the route "db" (indented 4 spaces), `top_extra` at the top.
  std::string yaml(const std::string& route_extra = "", const std::string& top_extra = "") const {
    return "region: test\nshutdown_grace: 20s\n" + top_extra +
           "admin:\n  listen: 127.0.0.1:" + std::to_string(admin_port) +
           "\n  token_file: " + token_file +
           "\nlisteners:\n  - name: pg\n    listen: 127.0.0.1:" + std::to_string(listen_port) +
           "\n    tls: {cert: " + pki.server_cert + ", key: " + pki.server_key +
           "}\n    client_tls: required\nroutes:\n  - name: db\n" + route_extra +
           "    upstream:\n      host: 127.0.0.1\n      port: " + std::to_string(pg.port()) +
           "\n      connect_timeout: 5s\n      tls: {sslmode: verify-full, ca: " + pki.ca_cert +
           "}\n";
  }
  void start(const std::string& route_extra = "", const std::string& top_extra = "") {
    gw = std::make_unique<gateway_process>(dir, yaml(route_extra, top_extra));
  }

  std::string conninfo(const std::string& user = "postgres") const {
    return "host=localhost hostaddr=127.0.0.1 port=" + std::to_string(listen_port) +
           " user=" + user + " dbname=postgres sslmode=verify-full sslrootcert=" + pki.ca_cert +
           " connect_timeout=10 channel_binding=disable";
  }
  // A psql in the background running `sql` (say, a pg_sleep) through the gateway.
  background_process hold(const std::string& sql, const std::string& log_name,
                          const std::string& user = "postgres",
                          const std::string& password = pg_cluster::password()) const {
    return background_process(
        {"psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", conninfo(user), "-c", sql},
        dir.file(log_name), {{"PGPASSWORD", password}});
  }
  run_result query(const std::string& sql, const std::string& user = "postgres",
                   const std::string& password = pg_cluster::password()) const {
    return psql(conninfo(user), sql, password);
  }
  // `sluice ARGS -c <the gateway's config>`.
  run_result cli(const std::string& args) const {
    return run(std::string(kSluiceBin) + " " + args + " -c " + shell_quote(dir.file("sluice.yaml")),
               std::chrono::seconds(60));
  }
  std::string metrics() const {
    return run("curl -sS --max-time 10 http://127.0.0.1:" + std::to_string(admin_port) + "/metrics")
        .output;
  }
  nlohmann::json sessions() const {
    auto r = cli("ctl sessions --json");
    auto j = nlohmann::json::parse(r.output, nullptr, false);
    return j.is_object() ? j.value("sessions", nlohmann::json::array()) : nlohmann::json::array();
  }
  // Sessions the gateway lists as relaying (logged in, past authentication).
  size_t active_sessions() const {
    size_t n = 0;
    for (const auto& s : sessions())
      n += s.value("state", "") == "active" ? 1 : 0;
    return n;
  }
};

}  // namespace sluice::test
