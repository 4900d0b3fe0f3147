// Shared set-up for gateway integration tests: a test PKI, a throwaway PostgreSQL and
// a config builder for a gateway in front of it.
#pragma once

#include <cstdlib>
#include <string>

#include "tests/support/gateway_process.hpp"
#include "tests/support/pg_cluster.hpp"

namespace sluice::test {

// The relay under test: SLUICE_TEST_RELAY=kernel reruns the relay tests with
// `relay: kernel` (tests/CMakeLists.txt, "gateway kernel: ..."). Empty: the default.
inline std::string relay_under_test() {
  const char* r = std::getenv("SLUICE_TEST_RELAY");
  return r ? r : "";
}

// A listener "pg" with the test PKI's certificate, allowing `allow` CIDRs, and a route
// "db" to `pg_port` with the given upstream sslmode. `extra` is appended verbatim.
inline std::string gateway_yaml(const test_pki& pki, int listen_port, int pg_port,
                                const std::string& allow = "127.0.0.1/32",
                                const std::string& client_tls = "optional",
                                const std::string& sslmode = "disable",
                                const std::string& listener_extra = "",
                                const std::string& route_extra = "") {
  const std::string relay = relay_under_test().empty() ? "" : "relay: " + relay_under_test() + "\n";
  return relay + "region: test\nshutdown_grace: 10s\nallowlists:\n  clients: [" + allow +
         "]\nlisteners:\n  - name: pg\n    listen: 127.0.0.1:" + std::to_string(listen_port) +
         "\n    tls: {cert: " + pki.server_cert + ", key: " + pki.server_key +
         "}\n    client_tls: " + client_tls + "\n    allow: [clients]\n" + listener_extra +
         "routes:\n  - name: db\n" + route_extra +
         "    upstream:\n      host: 127.0.0.1\n      port: " + std::to_string(pg_port) +
         "\n      connect_timeout: 2s\n      tls: {sslmode: " + sslmode + ", ca: " + pki.ca_cert +
         "}\n";
}

// Waits until exactly one other backend runs a statement containing `sql_part`.
inline bool wait_for_query(const pg_cluster& pg, const std::string& sql_part) {
  return eventually(
      [&] {
        return pg.sql("select count(*) from pg_stat_activity where query like '%" + sql_part +
                      "%' and pid <> pg_backend_pid()") == "1";
      },
      std::chrono::seconds(10));
}

// Close lines are written when a session ends, a moment after the client saw the
// result: poll the log rather than reading it once.
inline bool log_has(const gateway_process& gw, const std::string& text) {
  return eventually([&] { return gw.log().find(text) != std::string::npos; },
                    std::chrono::seconds(3));
}

// Plaintext under relay: kernel, which relays plaintext legs only; TLS otherwise.
inline std::string default_sslmode() {
  return relay_under_test() == "kernel" ? "sslmode=disable" : "sslmode=require";
}

inline std::string through(int port, const std::string& extra = default_sslmode()) {
  return "host=localhost hostaddr=127.0.0.1 port=" + std::to_string(port) +
         " user=postgres dbname=postgres " + extra;
}

}  // namespace sluice::test
