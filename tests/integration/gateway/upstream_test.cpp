// The route -> backend leg: libpq sslmode semantics against servers with ssl on, off
// and required, and the distinct errors for refused, unresponsive and bad certificates.
#include <catch2/catch.hpp>

#include "tests/integration/gateway/fixture.hpp"
#include "tests/support/listeners.hpp"

using namespace sluice::test;

namespace {

// One route per sslmode, chosen by options=endpoint=NAME.
std::string matrix_yaml(const test_pki& pki, int port, int pg_port, const std::string& ca) {
  std::string y = "listeners:\n  - name: pg\n    listen: 127.0.0.1:" + std::to_string(port) +
                  "\n    tls: {cert: " + pki.server_cert + ", key: " + pki.server_key +
                  "}\n    client_tls: optional\nroutes:\n";
  for (const char* mode : {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}) {
    y += std::string("  - name: ") + mode +
         "\n    upstream:\n      host: localhost\n      port: " + std::to_string(pg_port) +
         "\n      tls: {sslmode: " + mode + ", ca: " + ca + "}\n";
  }
  return y;
}

struct outcome {
  bool ok;
  std::string text;  // "t"/"f" (backend ssl) or a fragment of the error
};

void check_matrix(int port, const std::vector<std::pair<std::string, outcome>>& rows) {
  for (const auto& [mode, want] : rows) {
    // channel_binding=disable: binding cannot survive TLS termination (see the SCRAM test).
    auto r =
        psql(through(port, "sslmode=require channel_binding=disable options=endpoint=" + mode),
             "select ssl from pg_stat_ssl where pid = pg_backend_pid()", pg_cluster::password());
    INFO("sslmode=" << mode << "\n" << r.output);
    CHECK((r.exit_code == 0) == want.ok);
    if (want.ok) {
      CHECK(r.output == want.text + "\n");
    } else {
      CHECK(r.output.find(want.text) != std::string::npos);
    }
  }
}

}  // namespace

TEST_CASE("upstream sslmodes against a server with ssl=off", "[gateway][upstream-tls]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port = free_port();
  gateway_process gw(dir, matrix_yaml(pki, port, pg.port(), pki.ca_cert));
  const std::string unsupported = "does not support TLS, but route '";
  check_matrix(port, {{"disable", {true, "f"}},
                      {"allow", {true, "f"}},
                      {"prefer", {true, "f"}},
                      {"require", {false, unsupported + "require' requires it (sslmode=require)"}},
                      {"verify-ca", {false, unsupported + "verify-ca' requires it"}},
                      {"verify-full", {false, unsupported + "verify-full' requires it"}}});
  CHECK(log_has(gw, "reason=upstream_tls_unsupported"));
}

TEST_CASE("upstream sslmodes against a server with ssl=on", "[gateway][upstream-tls]") {
  temp_dir dir;
  test_pki pki(dir.path());
  auto opts = ssl_on(pki);
  pg_cluster pg(opts);
  int port = free_port();
  {
    gateway_process gw(dir, matrix_yaml(pki, port, pg.port(), pki.ca_cert));
    check_matrix(port, {{"disable", {true, "f"}},
                        {"allow", {true, "f"}},
                        {"prefer", {true, "t"}},
                        {"require", {true, "t"}},
                        {"verify-ca", {true, "t"}},
                        {"verify-full", {true, "t"}}});
  }
  // A CA that did not sign the server's certificate: verification fails, and says so.
  temp_dir other_dir;
  test_pki other(other_dir.path());
  int port2 = free_port();
  gateway_process gw(dir, matrix_yaml(pki, port2, pg.port(), other.ca_cert));
  check_matrix(port2,
               {{"require", {true, "t"}},  // no verification in require, as libpq
                {"verify-ca",
                 {false,
                  "presented a certificate that failed verification: unable "
                  "to get local issuer certificate"}},
                {"verify-full", {false, "presented a certificate that failed verification"}}});
  CHECK(log_has(gw, "reason=upstream_certificate"));
}

TEST_CASE("upstream that requires TLS (hostssl only)", "[gateway][upstream-tls]") {
  temp_dir dir;
  test_pki pki(dir.path());
  auto opts = ssl_on(pki);
  opts.hba = {"hostssl all all 127.0.0.1/32 scram-sha-256"};
  pg_cluster pg(opts);
  int port = free_port();
  gateway_process gw(dir, matrix_yaml(pki, port, pg.port(), pki.ca_cert));
  check_matrix(port, {{"disable", {false, "set upstream.tls.sslmode: require (or prefer)"}},
                      {"allow", {true, "t"}},  // plaintext refused, retried with TLS
                      {"prefer", {true, "t"}}});
  auto r = psql(through(port, "sslmode=require options=endpoint=disable"), "select 1",
                pg_cluster::password());
  CHECK(r.output.find("no encryption") != std::string::npos);
}

TEST_CASE("upstream refused and unresponsive give distinct errors", "[gateway][upstream]") {
  temp_dir dir;
  test_pki pki(dir.path());
  int port = free_port();

  SECTION("refused: nothing listens on the port") {
    int closed_port = free_port();
    gateway_process gw(dir, gateway_yaml(pki, port, closed_port));
    auto r = psql(through(port), "select 1", pg_cluster::password());
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("upstream 127.0.0.1:" + std::to_string(closed_port) +
                        " refused the connection") != std::string::npos);
    CHECK(r.output.find("nothing is listening there") != std::string::npos);
    CHECK(log_has(gw, "reason=upstream_refused"));
  }

  SECTION("timeout: a peer that accepts and never answers") {
    // A loopback listener that never reads: the SSLRequest goes unanswered.
    silent_listener silent;
    int silent_port = silent.port;
    gateway_process gw(dir,
                       gateway_yaml(pki, port, silent_port, "127.0.0.1/32", "optional", "prefer"));
    auto started = std::chrono::steady_clock::now();
    auto r = psql(through(port), "select 1", pg_cluster::password());
    auto took = std::chrono::steady_clock::now() - started;
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("accepted the connection but did not complete the PostgreSQL/TLS "
                        "handshake within 2s") != std::string::npos);
    CHECK(took < std::chrono::seconds(6));
    CHECK(log_has(gw, "reason=upstream_timeout"));
  }

  SECTION("timeout: SYNs dropped because the accept queue is full") {
    full_backlog_listener full;
    gateway_process gw(dir,
                       gateway_yaml(pki, port, full.port, "127.0.0.1/32", "optional", "prefer"));
    auto r = psql(through(port), "select 1", pg_cluster::password());
    CHECK(r.exit_code != 0);
    // Either stage may be where the time runs out; both are reported as timeouts.
    CHECK((r.output.find("timed out after 2s") != std::string::npos ||
           r.output.find("within 2s") != std::string::npos));
    CHECK(log_has(gw, "reason=upstream_timeout"));
  }
}
