// psql and pgbench through the gateway to a real PostgreSQL 15, TLS terminated here.
#include <catch2/catch.hpp>

#include "tests/integration/gateway/fixture.hpp"

using namespace sluice::test;

TEST_CASE("psql connects through the gateway with sslmode disable, require and verify-full",
          "[gateway]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port = free_port();
  gateway_process gw(dir, gateway_yaml(pki, port, pg.port()));

  auto plain = psql(through(port, "sslmode=disable"), "select 'plain-ok'", pg_cluster::password());
  INFO(plain.output << gw.log());
  CHECK(plain.exit_code == 0);
  CHECK(plain.output == "plain-ok\n");

  auto req = psql(through(port, "sslmode=require"), "select 'require-ok'", pg_cluster::password());
  CHECK(req.exit_code == 0);
  CHECK(req.output == "require-ok\n");

  auto full = psql(through(port, "sslmode=verify-full sslrootcert=" + pki.ca_cert),
                   "select 'verify-full-ok'", pg_cluster::password());
  CHECK(full.exit_code == 0);
  CHECK(full.output == "verify-full-ok\n");

  // The gateway's certificate does not carry this name: verify-full must refuse it.
  auto wrong =
      psql("host=wrong.example hostaddr=127.0.0.1 port=" + std::to_string(port) +
               " user=postgres dbname=postgres sslmode=verify-full sslrootcert=" + pki.ca_cert,
           "select 1", pg_cluster::password());
  CHECK(wrong.exit_code != 0);
  CHECK(wrong.output.find("does not match host name \"wrong.example\"") != std::string::npos);

  // Each connection left exactly one close line with its TLS state and byte counts.
  CHECK(count_of(gw.log(), "event=connection_closed") >= 3);
  CHECK(gw.log().find("client_tls=true upstream_tls=false") != std::string::npos);
  CHECK(gw.log().find("client_tls=false upstream_tls=false") != std::string::npos);
  CHECK(gw.log().find("password") == std::string::npos);
}

TEST_CASE("pgbench through the gateway completes with zero failed transactions", "[gateway]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  pg.sql("select 1");
  auto init = run("pgbench -i -s 2 -q " + shell_quote(pg.superuser_conninfo()));
  REQUIRE(init.exit_code == 0);
  int port = free_port();
  gateway_process gw(dir, gateway_yaml(pki, port, pg.port()));
  auto bench =
      run("PGPASSWORD=" + pg_cluster::password() + " PGSSLMODE=require pgbench -h 127.0.0.1 -p " +
              std::to_string(port) + " -U postgres -c 8 -j 2 -T 4 postgres",
          std::chrono::seconds(60));
  INFO(bench.output);
  REQUIRE(bench.exit_code == 0);
  CHECK(bench.output.find("number of failed transactions: 0 (0.000%)") != std::string::npos);
  CHECK(bench.output.find("number of transactions actually processed: 0") == std::string::npos);
}

TEST_CASE("SCRAM logins through a TLS-terminating listener", "[gateway][scram]") {
  temp_dir dir;
  test_pki pki(dir.path());
  auto opts = ssl_on(pki);
  pg_cluster pg(opts);
  int tls_up = free_port(), plain_up = free_port();
  gateway_process gw_tls(
      dir, gateway_yaml(pki, tls_up, pg.port(), "127.0.0.1/32", "optional", "require"));
  temp_dir dir2;
  gateway_process gw_plain(dir2, gateway_yaml(pki, plain_up, pg.port()));

  SECTION("database reached in plaintext: the default channel_binding=prefer logs in") {
    auto r = psql(through(plain_up, "sslmode=require channel_binding=prefer"), "select 'in'",
                  pg_cluster::password());
    INFO(r.output);
    CHECK(r.output == "in\n");
  }
  SECTION("plaintext client, database over TLS: SCRAM-SHA-256-PLUS is not offered to it") {
    // Without stripping, libpq refuses PLUS offered over a non-SSL connection.
    auto r = psql(through(tls_up, "sslmode=disable"), "select 'in'", pg_cluster::password());
    INFO(r.output);
    CHECK(r.output == "in\n");
  }
  SECTION("TLS client, database over TLS: binding cannot work; the error says what to do") {
    auto r = psql(through(tls_up, "sslmode=require channel_binding=prefer"), "select 1",
                  pg_cluster::password());
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("SCRAM channel binding negotiation error") != std::string::npos);
    CHECK(r.output.find("HINT:  sluice terminates your TLS connection, so SCRAM channel binding "
                        "cannot reach the database") != std::string::npos);
    auto off =
        psql(through(tls_up, "sslmode=require channel_binding=disable"),
             "select ssl from pg_stat_ssl where pid = pg_backend_pid()", pg_cluster::password());
    CHECK(off.output == "t\n");
  }
  SECTION("channel_binding=require is refused by the client: no PLUS is offered") {
    auto r = psql(through(tls_up, "sslmode=require channel_binding=require"), "select 1",
                  pg_cluster::password());
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("channel binding") != std::string::npos);
  }
  SECTION("a wrong password is the backend's answer, relayed unchanged") {
    auto r = psql(through(plain_up), "select 1", "not-the-password");
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("password authentication failed for user \"postgres\"") !=
          std::string::npos);
  }
}

TEST_CASE("routing by SNI and endpoint option and user suffix with clear errors for unknown names",
          "[gateway][routing]") {
  temp_dir dir;
  test_pki pki(dir.path(), {"a.gw.test", "b.gw.test"});
  pg_cluster pg;
  pg.sql("create database alpha");
  pg.sql("create database beta");
  int port = free_port();
  std::string yaml = "listeners:\n  - name: pg\n    listen: 127.0.0.1:" + std::to_string(port) +
                     "\n    tls: {cert: " + pki.server_cert + ", key: " + pki.server_key +
                     "}\n    client_tls: optional\nroutes:\n";
  for (auto [name, sni, db] :
       {std::tuple{"ra", "a.gw.test", "alpha"}, {"rb", "*.gw.test", "beta"}}) {
    yaml += std::string("  - name: ") + name + "\n    match: {sni: \"" + sni +
            "\"}\n    rewrite: {database: " + db +
            "}\n    upstream: {host: 127.0.0.1, port: " + std::to_string(pg.port()) +
            ", tls: {sslmode: disable}}\n";
  }
  gateway_process gw(dir, yaml);
  auto conn = [&](const std::string& host, const std::string& extra) {
    return psql("host=" + host + " hostaddr=127.0.0.1 port=" + std::to_string(port) +
                    " dbname=postgres sslmode=require " + extra,
                "select current_database()", pg_cluster::password());
  };
  auto a = conn("a.gw.test", "user=postgres");
  INFO(a.output << gw.log());
  CHECK(a.output == "alpha\n");
  CHECK(conn("b.gw.test", "user=postgres").output == "beta\n");  // wildcard
  // No SNI (IP literal): name the route with options=endpoint=... or user@route.
  CHECK(conn("127.0.0.1", "user=postgres options=endpoint=rb").output == "beta\n");
  CHECK(conn("127.0.0.1", "user=postgres@ra").output == "alpha\n");
  auto none = conn("127.0.0.1", "user=postgres");
  CHECK(none.exit_code != 0);
  CHECK(none.output.find("no route for database \"postgres\" and user \"postgres\" on listener "
                         "\"pg\" (client sent no TLS server name)") != std::string::npos);
  auto unknown = conn("c.other.test", "user=postgres");
  CHECK(unknown.output.find("with server name \"c.other.test\"") != std::string::npos);
}

TEST_CASE("relay modes copy splice and kernel deliver bulk COPY data intact", "[gateway][relay]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  const std::string sql =
      "copy (select g, md5(g::text) from generate_series(1, 200000) g) to stdout";
  auto direct = run("psql -X " + shell_quote(pg.superuser_conninfo()) + " -c " + shell_quote(sql) +
                    " | md5sum");
  REQUIRE(direct.exit_code == 0);
  for (const char* mode : {"copy", "splice", "kernel"}) {
    temp_dir gdir;
    int port = free_port();
    gateway_process gw(gdir,
                       "relay: " + std::string(mode) + "\n" + gateway_yaml(pki, port, pg.port()));
    auto through_gw = run("PGPASSWORD=" + pg_cluster::password() + " psql -X " +
                          shell_quote(through(port, "sslmode=disable")) + " -c " +
                          shell_quote(sql) + " | md5sum");
    INFO(mode << " " << gw.log());
    CHECK(through_gw.output == direct.output);
    // COPY FROM STDIN the other way round, and count what arrived.
    auto in = run("seq 1 100000 | PGPASSWORD=" + pg_cluster::password() + " psql -X " +
                  shell_quote(through(port, "sslmode=disable")) +
                  " -c 'create table if not exists copied(x int)' -c 'copy copied from stdin'");
    CHECK(in.exit_code == 0);
  }
  CHECK(pg.sql("select count(*), sum(x) from copied") == "300000|15000150000");
}
