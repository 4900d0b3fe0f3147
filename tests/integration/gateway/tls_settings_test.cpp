// Listener and upstream TLS settings against real clients and a real PostgreSQL:
// tls.min_version refuses older protocols, tls.ciphers / tls.ciphersuites restrict
// what openssl s_client can negotiate, and client_cert: required admits psql only with
// a certificate from tls.client_ca. (TLS 1.0/1.1 clients cannot be tried here: the
// system OpenSSL refuses to offer them at its default security level, and sluice
// refuses them always; min_version 1.3 against a TLS 1.2 client is the testable case.)
// psql connects with channel_binding=disable: the route is auth.mode passthrough over a
// TLS upstream, where binding cannot work (docs/security.md).
#include <catch2/catch.hpp>

#include "tests/integration/gateway/fixture.hpp"

using namespace sluice::test;

namespace {

struct tls_gateway {
  tls_gateway() {
    const auto cert = "      cert: " + pki.server_cert + "\n      key: " + pki.server_key + "\n";
    auto listener = [&](const std::string& name, int& port, const std::string& extra) {
      port = free_port();
      return "  - name: " + name + "\n    listen: 127.0.0.1:" + std::to_string(port) +
             "\n    client_tls: required\n    tls:\n" + cert + extra;
    };
    std::string ls =
        listener("v13", v13, "      min_version: 1.3\n") +
        listener("ciph", ciph, "      ciphers: ECDHE-ECDSA-AES256-GCM-SHA384\n") +
        listener("suites", suites, "      ciphersuites: TLS_CHACHA20_POLY1305_SHA256\n") +
        listener("mtls", mtls,
                 "      client_ca: " + pki.ca_cert + "\n      client_cert: required\n") +
        listener("up13", up13, "");
    yaml = "region: test\nshutdown_grace: 2s\nlisteners:\n" + ls +
           "routes:\n"
           "  - name: old-upstream\n    match: {listener: up13}\n    upstream: {host: 127.0.0.1, "
           "port: " +
           std::to_string(old_pg.port()) +
           ", connect_timeout: 5s, tls: {sslmode: require, min_version: 1.3}}\n"
           "  - name: db\n    upstream: {host: 127.0.0.1, port: " +
           std::to_string(pg.port()) + ", connect_timeout: 5s, tls: {sslmode: require}}\n";
    gw = std::make_unique<gateway_process>(dir, yaml);
  }
  // openssl s_client through the PostgreSQL SSLRequest; its output (empty stdin).
  run_result s_client(int port, const std::string& args) const {
    return run("timeout 20 openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                   " -starttls postgres -servername localhost " + args + " </dev/null 2>&1",
               std::chrono::seconds(30));
  }
  // s_client with `args` fails the handshake, and never shows `absent` (when given).
  void refuses(int port, const std::string& args, const std::string& absent = "") const {
    auto r = s_client(port, args);
    INFO("s_client " << args << ":\n" << r.output);
    CHECK(r.exit_code != 0);
    if (!absent.empty())
      CHECK_THAT(r.output, !Catch::Contains(absent));
  }
  // s_client with `args` gets in and shows `shown` (the protocol or cipher).
  void accepts(int port, const std::string& args, const std::string& shown) const {
    auto r = s_client(port, args);
    INFO("s_client " << args << ":\n" << r.output);
    CHECK_THAT(r.output, Catch::Contains(shown));
  }
  std::string conninfo(int port, const std::string& extra = "") const {
    return "host=localhost hostaddr=127.0.0.1 port=" + std::to_string(port) +
           " user=postgres dbname=postgres sslmode=verify-full sslrootcert=" + pki.ca_cert +
           " connect_timeout=10 channel_binding=disable " + extra;
  }

  temp_dir dir{"sluice-tls-settings"};
  test_pki pki{dir.path()};
  pg_cluster pg{ssl_on(pki)};
  pg_cluster old_pg{[this] {
    auto o = ssl_on(pki);
    o.conf = {"ssl_max_protocol_version = 'TLSv1.2'"};
    return o;
  }()};
  int v13 = 0, ciph = 0, suites = 0, mtls = 0, up13 = 0;
  std::string yaml;
  std::unique_ptr<gateway_process> gw;
};

}  // namespace

TEST_CASE("tls settings: min_version, ciphers, ciphersuites and client certificates",
          "[tls][settings]") {
  tls_gateway t;
  INFO(t.gw->log());

  SECTION("min_version 1.3 refuses a TLS 1.2 client and accepts TLS 1.3") {
    t.refuses(t.v13, "-tls1_2", "Cipher is ECDHE");
    t.accepts(t.v13, "-tls1_3", "New, TLSv1.3");
    // psql capped at TLS 1.2 is refused; psql as it is gets in.
    auto capped = psql(t.conninfo(t.v13, "ssl_max_protocol_version=TLSv1.2"), "select 1",
                       pg_cluster::password());
    CHECK(capped.exit_code != 0);
    auto r = psql(t.conninfo(t.v13), "select 1", pg_cluster::password());
    INFO(r.output);
    CHECK(r.output == "1\n");
    // The default listener still takes TLS 1.2.
    t.accepts(t.up13, "-tls1_2", "New, TLSv1.2");
  }

  SECTION("ciphers restricts the TLS 1.2 cipher") {
    t.refuses(t.ciph, "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256",
              "Cipher is ECDHE-ECDSA-AES128");
    t.accepts(t.ciph, "-tls1_2", "Cipher is ECDHE-ECDSA-AES256-GCM-SHA384");
    // The default list has no CBC suite.
    t.refuses(t.up13, "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA");
  }

  SECTION("ciphersuites restricts the TLS 1.3 suite") {
    t.refuses(t.suites, "-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256");
    t.accepts(t.suites, "-tls1_3", "Cipher is TLS_CHACHA20_POLY1305_SHA256");
  }

  SECTION("client_cert required: psql with a certificate from client_ca only") {
    auto with =
        psql(t.conninfo(t.mtls, "sslcert=" + t.pki.client_cert + " sslkey=" + t.pki.client_key),
             "select 1", pg_cluster::password());
    INFO(with.output);
    CHECK(with.output == "1\n");
    auto without = psql(t.conninfo(t.mtls, "sslcert=/nonexistent sslkey=/nonexistent"), "select 1",
                        pg_cluster::password());
    INFO(without.output);
    CHECK(without.exit_code != 0);
    CHECK_THAT(without.output, Catch::Contains("certificate"));
    // A client certificate from another CA.
    temp_dir other_dir{"sluice-other-ca"};
    test_pki other(other_dir.path());
    auto wrong =
        psql(t.conninfo(t.mtls, "sslcert=" + other.client_cert + " sslkey=" + other.client_key),
             "select 1", pg_cluster::password());
    INFO(wrong.output);
    CHECK(wrong.exit_code != 0);
    // Both test CAs have the same subject, so OpenSSL reports the signature check
    // ("decrypt error") rather than "unknown ca".
    CHECK_THAT(wrong.output, Catch::Contains("SSL error: tlsv1 alert"));
    CHECK(log_has(*t.gw, "reason=tls_handshake_failed"));
  }

  SECTION("upstream min_version 1.3 refuses a TLS 1.2-only database") {
    auto r = psql(t.conninfo(t.up13), "select 1", pg_cluster::password());
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Catch::Contains("TLS handshake with upstream"));
    CHECK(log_has(*t.gw, "reason=upstream_tls_handshake"));
    CHECK_THAT(r.output, Catch::Contains("protocol version"));
  }
}
