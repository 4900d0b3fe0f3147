// `sluice doctor` against failures produced for real on loopback: each stage fails the
// way it would in the field, and the output names the stage, the cause and the fix.
#include <catch2/catch.hpp>

#include "tests/integration/ops/ops_fixture.hpp"
#include "tests/integration/tunnel/fixture.hpp"
#include "tests/support/listeners.hpp"
#include "tests/support/paths.hpp"
#include "tests/support/pg_cluster.hpp"

using namespace sluice::test;

namespace {

struct doctor_env {
  temp_dir dir;
  std::string config;

  // One route `r` to host:port with the given tls block.
  void route(const std::string& host, int port, const std::string& tls,
             const std::string& extra = "") {
    config = dir.write("sluice.yaml",
                       "region: lab\npublic_addresses: [198.51.100.7]\nroutes:\n  - name: r\n"
                       "    match: {database: app}\n    upstream:\n      host: " +
                           host + "\n      port: " + std::to_string(port) +
                           "\n      connect_timeout: 2s\n      tls: " + tls + "\n" + extra);
  }
  run_result doctor(const std::string& args) {
    return run(std::string(kSluiceBin) + " doctor -c " + shell_quote(config) + " " + args,
               std::chrono::seconds(60));
  }
};

}  // namespace

TEST_CASE("doctor DNS stage names the host that does not resolve") {
  doctor_env e;
  e.route("no-such-host.invalid", 5432, "{sslmode: disable}");
  auto r = e.doctor("route r");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("[FAIL] DNS: cannot resolve no-such-host.invalid"));
  CHECK_THAT(r.output, Catch::Contains("getent hosts no-such-host.invalid"));
}

TEST_CASE("doctor TCP refused means wrong host or port") {
  doctor_env e;
  e.route("127.0.0.1", free_port(), "{sslmode: disable}");
  auto r = e.doctor("route r");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("[ok]   DNS: 127.0.0.1 -> 127.0.0.1"));
  CHECK_THAT(r.output, Catch::Contains("[FAIL] TCP"));
  CHECK_THAT(r.output, Catch::Contains("connection refused"));
  CHECK_THAT(r.output, Catch::Contains("wrong host or port"));
}

TEST_CASE("doctor TCP timeout means a firewall and names the public addresses") {
  doctor_env e;
  full_backlog_listener l;
  e.route("127.0.0.1", l.port, "{sslmode: disable}");
  auto r = e.doctor("route r");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("[FAIL] TCP"));
  CHECK_THAT(r.output, Catch::Contains("no answer within 2000 ms"));
  CHECK_THAT(r.output, Catch::Contains("firewall"));
  CHECK_THAT(r.output, Catch::Contains("198.51.100.7"));
}

TEST_CASE("doctor SSLRequest stage catches a port that is not PostgreSQL") {
  doctor_env e;
  silent_listener l;
  e.route("127.0.0.1", l.port, "{sslmode: require}");
  auto r = e.doctor("route r");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("[ok]   TCP"));
  CHECK_THAT(r.output, Catch::Contains("[FAIL] SSLRequest"));
  CHECK_THAT(r.output, Catch::Contains("did not answer like PostgreSQL"));
}

TEST_CASE("doctor ssl=off server with sslmode require says which setting to flip") {
  doctor_env e;
  pg_cluster pg;  // ssl off
  e.route("127.0.0.1", pg.port(), "{sslmode: require}");
  auto r = e.doctor("route r");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("[FAIL] SSLRequest: server answered 'N'"));
  CHECK_THAT(r.output, Catch::Contains("ssl = off"));
  CHECK_THAT(r.output, Catch::Contains("tls.sslmode: prefer"));
}

TEST_CASE("doctor TLS and authentication stages against a TLS server") {
  doctor_env e;
  test_pki pki(e.dir.path());
  temp_dir other_dir;
  test_pki other(other_dir.path());
  pg_cluster pg(pg_options{true,
                           pki.server_cert,
                           pki.server_key,
                           "",
                           {"hostssl all all 127.0.0.1/32 scram-sha-256"},
                           {}});
  pg.sql("create role app login password 'right-pw'");
  pg.sql("create database app owner app");
  auto right = e.dir.write("right.pw", "right-pw\n", 0600);
  auto wrong = e.dir.write("wrong.pw", "wrong-pw\n", 0600);
  const std::string login = "--user app --database app --password-file ";

  SECTION("wrong CA") {
    e.route("127.0.0.1", pg.port(), "{sslmode: verify-ca, ca: " + other.ca_cert + "}");
    auto r = e.doctor("route r " + login + right);
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("[ok]   SSLRequest: server answered 'S'"));
    CHECK_THAT(r.output, Catch::Contains("[FAIL] TLS: certificate verification failed"));
    CHECK_THAT(r.output, Catch::Contains("set upstream.tls.ca"));
  }
  SECTION("host name not in the certificate") {
    // A second server whose certificate names db.other.test (and IP 127.0.0.1).
    auto [cert, key] = pki.issue("other", {"db.other.test"});
    pg_cluster named(pg_options{true, cert, key, "", {}, {}});
    // The certificate also has IP:127.0.0.1; connect by the name localhost, which it lacks.
    e.route("localhost", named.port(), "{sslmode: verify-full, ca: " + pki.ca_cert + "}");
    auto r = e.doctor("route r");
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("[FAIL] TLS: certificate does not match the host name "
                                         "localhost"));
    CHECK_THAT(r.output, Catch::Contains("sslmode: verify-ca"));
  }
  SECTION("hostssl-only pg_hba with sslmode disable") {
    e.route("127.0.0.1", pg.port(), "{sslmode: disable}");
    auto r = e.doctor("route r " + login + right);
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("[FAIL] authentication"));
    CHECK_THAT(r.output, Catch::Contains("no encryption"));
    CHECK_THAT(r.output, Catch::Contains("invalid_authorization_specification"));
    CHECK_THAT(r.output, Catch::Contains("tls.sslmode: require"));
  }
  SECTION("wrong password") {
    e.route("127.0.0.1", pg.port(), "{sslmode: verify-full, ca: " + pki.ca_cert + "}");
    auto r = e.doctor("route r " + login + wrong);
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("[ok]   TLS"));
    CHECK_THAT(r.output, Catch::Contains("[FAIL] authentication"));
    CHECK_THAT(r.output, Catch::Contains("wrong password"));
  }
  SECTION("every stage passes") {
    e.route("127.0.0.1", pg.port(), "{sslmode: verify-full, ca: " + pki.ca_cert + "}");
    auto r = e.doctor("route r " + login + right);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("[ok]   authentication: logged in as app to database "
                                         "app over TLS"));
    CHECK_THAT(r.output, Catch::Contains("all stages passed"));
  }
}

TEST_CASE("doctor sync reports a missing privilege with the SQL that fixes it") {
  doctor_env e;
  pg_cluster pg;
  pg.sql("create role sync_user login password 'sync-pw'");
  pg.sql("create database app");
  pg.sql("revoke create on database app from public");
  auto pw = e.dir.write("sync.pw", "sync-pw\n", 0600);
  auto tok = e.dir.write("ingest.token", "tok\n", 0600);
  e.config =
      e.dir.write("sluice.yaml",
                  "syncs:\n  - name: s\n    destination:\n      host: 127.0.0.1\n      port: " +
                      std::to_string(pg.port()) +
                      "\n      database: app\n      user: sync_user\n      password_file: " + pw +
                      "\n      sslmode: disable\n    schema: stripe\n    ingest:\n"
                      "      token_file: " +
                      tok + "\n");
  auto r = e.doctor("sync s");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("[ok]   authentication: logged in as sync_user"));
  CHECK_THAT(r.output, Catch::Contains("[FAIL] privileges"));
  CHECK_THAT(r.output, Catch::Contains("grant create on database \"app\" to \"sync_user\";"));

  pg.sql("grant create on database app to sync_user");
  auto fixed = e.doctor("sync s");
  INFO(fixed.output);
  CHECK(fixed.exit_code == 0);
  CHECK_THAT(fixed.output, Catch::Contains("[ok]   privileges"));
}

TEST_CASE("doctor tunnel stages: not SSH then host key mismatch then key refused then up") {
  doctor_env e;
  tunnel_setup keys;
  sshd_server sshd;
  auto yaml = [&](int port, const std::string& host_key) {
    return "tunnels:\n  - name: t\n    host: 127.0.0.1\n    port: " + std::to_string(port) +
           "\n    user: " + current_user() + "\n    private_key: " + keys.key +
           "\n    host_key: \"" + host_key + "\"\n    connect_timeout: 3s\n";
  };
  silent_listener not_ssh;
  e.config = e.dir.write("sluice.yaml", yaml(not_ssh.port, sshd.fingerprint()));
  auto r = e.doctor("tunnel t");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("[FAIL] SSH"));

  e.config = e.dir.write("sluice.yaml",
                         yaml(sshd.port(), "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
  r = e.doctor("tunnel t");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("[FAIL] SSH"));
  CHECK_THAT(r.output, Catch::Contains("host key is not the one pinned"));

  e.config = e.dir.write("sluice.yaml", yaml(sshd.port(), sshd.fingerprint()));
  r = e.doctor("tunnel t");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("refused sluice's key"));
  CHECK_THAT(r.output, Catch::Contains("authorized_keys"));

  sshd.authorize(keys.pub);
  r = e.doctor("tunnel t");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("[ok]   SSH: logged in"));
}

TEST_CASE("doctor route through a tunnel: forwarding refused then every stage passes") {
  doctor_env e;
  tunnel_setup keys;
  pg_cluster pg;
  pg.sql("create role app login password 'app-pw'");
  auto pw = e.dir.write("app.pw", "app-pw\n", 0600);
  auto yaml = [&](const sshd_server& s) {
    return "public_addresses: [198.51.100.7]\ntunnels:\n" +
           keys.yaml(s, "t", "    connect_timeout: 3s\n") +
           "routes:\n  - name: r\n    match: {database: app}\n"
           "    upstream: {host: 127.0.0.1, port: " +
           std::to_string(pg.port()) + ", via: t, tls: {sslmode: disable}}\n";
  };
  const std::string login = "route r --user app --database postgres --password-file " + pw;
  {
    sshd_server no_forwarding(sshd_options{false, "", {}});
    no_forwarding.authorize(keys.pub);
    e.config = e.dir.write("sluice.yaml", yaml(no_forwarding));
    auto r = e.doctor(login);
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains("[ok]   SSH: logged in"));
    CHECK_THAT(r.output, Catch::Contains("[FAIL] forwarding"));
    CHECK_THAT(r.output, Catch::Contains("AllowTcpForwarding yes"));
  }
  sshd_server sshd;
  sshd.authorize(keys.pub);
  e.config = e.dir.write("sluice.yaml", yaml(sshd));
  auto r = e.doctor(login);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("[ok]   forwarding"));
  CHECK_THAT(r.output, Catch::Contains("[ok]   authentication: logged in as app"));
}
