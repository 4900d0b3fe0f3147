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

namespace {

// ssl = on, scram-sha-256 over TLS only (and local trust for the fixture's superuser).
pg_options hostssl_scram(const test_pki& pki, std::vector<std::string> conf = {}) {
  return pg_options{true,
                    pki.server_cert,
                    pki.server_key,
                    "",
                    {"local all all trust", "hostssl all all 127.0.0.1/32 scram-sha-256"},
                    std::move(conf)};
}

// doctor exited `code` and printed every one of `lines`, and none of `absent`.
void check_doctor(const run_result& r, int code, const std::vector<std::string>& lines,
                  const std::vector<std::string>& absent = {}) {
  INFO(r.output);
  CHECK(r.exit_code == code);
  for (const auto& l : lines)
    CHECK_THAT(r.output, Catch::Contains(l));
  for (const auto& l : absent)
    CHECK_THAT(r.output, !Catch::Contains(l));
}

// PostgreSQL 15 with ssl = on and scram-sha-256 over TLS only, a user `app` with its
// database, and a lookup role `sluice_auth` that is not a superuser.
struct terminate_env {
  doctor_env e;
  test_pki pki{e.dir.path()};
  pg_cluster pg{hostssl_scram(pki)};
  std::string app_pw = e.dir.write("app.pw", "app-pw\n", 0600);
  std::string auth_pw = e.dir.write("auth.pw", "auth-pw\n", 0600);

  terminate_env() {
    pg.sql("create role app login password 'app-pw'");
    pg.sql("create database app owner app");
    pg.sql("create role sluice_auth login password 'auth-pw'");
  }
  // The route `r` with auth.mode: terminate and the given secret sources.
  void route(const std::string& auth) {
    e.route("127.0.0.1", pg.port(), "{sslmode: verify-full, ca: " + pki.ca_cert + "}",
            "    auth:\n      mode: terminate\n" + auth);
  }
  std::string query(const std::string& password_file, const std::string& sql = "") {
    return "      query:\n        user: sluice_auth\n        password_file: " + password_file +
           "\n" + (sql.empty() ? "" : "        sql: \"" + sql + "\"\n");
  }
  // The SECURITY DEFINER function of docs/security.md, in database app.
  void security_definer() {
    for (const char* sql :
         {"create schema sluice authorization postgres",
          "create or replace function sluice.user_secret(p_user name) returns table (rolname "
          "name, rolpassword text, rolvaliduntil timestamptz, rolcanlogin boolean) language sql "
          "security definer set search_path = pg_catalog as $$ select rolname, rolpassword, "
          "rolvaliduntil, rolcanlogin from pg_authid where rolname = p_user and not rolsuper $$",
          "revoke all on function sluice.user_secret(name) from public",
          "grant usage on schema sluice to sluice_auth",
          "grant execute on function sluice.user_secret(name) to sluice_auth"})
      pg.sql(sql, "app");
  }
  std::string login(const std::string& user = "app") {
    return "route r --user " + user + " --database app --password-file " + app_pw;
  }
};

}  // namespace

TEST_CASE("doctor terminate route: the auth query's login, its rights and the user's secret") {
  terminate_env t;
  SECTION("the auth user's password is wrong") {
    t.route(t.query(t.e.dir.write("wrong.pw", "nope\n", 0600)));
    check_doctor(
        t.e.doctor(t.login()), 1,
        {"[ok]   TLS", "[FAIL] auth.query: auth query user \"sluice_auth\" cannot log in: 28P01",
         "check auth.query.password_file"},
        {"authentication:"});
  }
  SECTION("the default query needs pg_authid, which the auth user may not read") {
    t.route(t.query(t.auth_pw));
    check_doctor(t.e.doctor(t.login()), 1, {"[FAIL] auth.query", "42501", "SECURITY DEFINER"});
  }
  SECTION("with the SECURITY DEFINER function every stage passes") {
    t.security_definer();
    t.route(t.query(t.auth_pw, "select * from sluice.user_secret($1)"));
    check_doctor(t.e.doctor(t.login()), 0,
                 {"[ok]   auth.query: logged in as sluice_auth and read the secret of app (a "
                  "SCRAM-SHA-256 secret)",
                  "[ok]   authentication: logged in as app to database app over TLS "
                  "(SCRAM-SHA-256-PLUS, channel bound)"});
  }
  SECTION("a user without a secret, and an expired one, are named with the fix") {
    t.security_definer();
    t.route(t.query(t.auth_pw, "select * from sluice.user_secret($1)"));
    check_doctor(t.e.doctor(t.login("nobody")), 1,
                 {"[FAIL] auth.query: the auth query returned no password for user nobody",
                  "CREATE ROLE \"nobody\" LOGIN PASSWORD"});
    t.pg.sql("alter role app valid until '2001-01-01'");
    check_doctor(t.e.doctor(t.login()), 1,
                 {"[FAIL] auth.query: role app's password has expired", "VALID UNTIL 'infinity'"});
  }
}

TEST_CASE("doctor terminate route: auth.file must parse and hold the user") {
  terminate_env t;
  const auto secret = t.pg.sql("select rolpassword from pg_authid where rolname = 'app'");
  auto file = [&](const std::string& text) {
    auto path = t.e.dir.write("users.txt", text, 0600);
    t.route("      file: " + path + "\n");
    return path;
  };
  SECTION("a line that is not PgBouncer's format") {
    file("\"app\" \"" + secret + "\"\napp-without-quotes x\n");
    check_doctor(t.e.doctor(t.login()), 1,
                 {"[FAIL] auth.file", "line 2", "PgBouncer's auth_file format"});
  }
  SECTION("the user is not in the file") {
    auto path = file("\"other\" \"other-pw\"\n");
    check_doctor(
        t.e.doctor(t.login()), 1,
        {"[FAIL] auth.file: " + path + ": 1 user, none for user app", "add a line \"app\""});
  }
  SECTION("the user's SCRAM secret is there and the login works") {
    auto path = file("\"app\" \"" + secret + "\"\n");
    check_doctor(t.e.doctor(t.login()), 0,
                 {"[ok]   auth.file: " + path + ": 1 user; app has a SCRAM-SHA-256 secret (line 1)",
                  "[ok]   authentication: logged in as app"});
  }
}

TEST_CASE("doctor and the gateway agree: a TLS floor the server cannot meet fails both") {
  // The server speaks TLS 1.2 at most; the route asks for 1.3. The gateway's connection
  // fails in the TLS handshake, so doctor must stop there (libpq knows no such floor).
  doctor_env e;
  test_pki pki(e.dir.path());
  pg_cluster pg(hostssl_scram(pki, {"ssl_max_protocol_version = 'TLSv1.2'"}));
  pg.sql("create role app login password 'app-pw'");
  auto pw = e.dir.write("app.pw", "app-pw\n", 0600);
  e.route("127.0.0.1", pg.port(),
          "{sslmode: verify-full, ca: " + pki.ca_cert + ", min_version: \"1.3\"}");
  check_doctor(e.doctor("route r --user app --database postgres --password-file " + pw), 1,
               {"[ok]   SSLRequest: server answered 'S'", "[FAIL] TLS", "min_version"},
               {"authentication:"});
}

TEST_CASE("doctor and the gateway agree: sslnegotiation direct to a server without it fails") {
  // PostgreSQL 15 has no direct TLS. The old doctor sent an SSLRequest whatever the route
  // said, then logged in with libpq, and passed where every session failed.
  doctor_env e;
  test_pki pki(e.dir.path());
  pg_cluster pg(hostssl_scram(pki));
  pg.sql("create role app login password 'app-pw'");
  const auto login = "route r --user app --database postgres --password-file " +
                     e.dir.write("app.pw", "app-pw\n", 0600);
  e.route("127.0.0.1", pg.port(),
          "{sslmode: verify-full, ca: " + pki.ca_cert + ", sslnegotiation: direct}");
  check_doctor(e.doctor(login), 1, {"[FAIL] TLS", "sslnegotiation: postgres"}, {"] SSLRequest"});
  e.route("127.0.0.1", pg.port(), "{sslmode: verify-full, ca: " + pki.ca_cert + "}");
  check_doctor(e.doctor(login), 0, {"[ok]   authentication: logged in as app"});
}

TEST_CASE("doctor suggests the name a typo meant") {
  doctor_env e;
  e.route("127.0.0.1", 5432, "{sslmode: disable}");
  check_doctor(e.doctor("route rr"), 2, {"no route named 'rr'", "; did you mean 'r'?"});
  check_doctor(e.doctor("sync r"), 2, {"no sync named 'r'"}, {"did you mean"});
}
