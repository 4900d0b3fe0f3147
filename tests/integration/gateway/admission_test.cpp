// Who gets in: listener and route allowlists, client_tls policy, reloads that change them.
#include <signal.h>

#include <catch2/catch.hpp>

#include "tests/integration/gateway/fixture.hpp"
#include "tests/support/raw_client.hpp"

using namespace sluice::test;

TEST_CASE("a client from 127.0.0.2 is rejected when only 127.0.0.1/32 is allowed",
          "[gateway][allowlist]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port = free_port();
  gateway_process gw(dir, gateway_yaml(pki, port, pg.port()));
  const std::string expected =
      "connection from 127.0.0.2 refused: the address is not on the allowlist of listener \"pg\" "
      "(clients)";
  SECTION("over TLS") {
    raw_client c(port, "127.0.0.2");
    REQUIRE(c.start_tls());
    c.send(raw_client::startup("postgres", "postgres"));
    auto reply = c.recv_all();
    CHECK(raw_client::error_code(reply) == "28000");
    CHECK(raw_client::error_message(reply) == expected);
  }
  SECTION("in plaintext") {
    raw_client c(port, "127.0.0.2");
    c.send(raw_client::startup("postgres", "postgres"));
    auto reply = c.recv_all();
    CHECK(raw_client::error_message(reply) == expected);
  }
  // The same gateway still serves the allowed address.
  CHECK(psql(through(port), "select 1", pg_cluster::password()).output == "1\n");
  CHECK(log_has(gw, "reason=rejected_allowlist"));
}

TEST_CASE("psql sees the allowlist rejection and the TLS-required rejection",
          "[gateway][allowlist]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port = free_port();
  gateway_process gw(dir, gateway_yaml(pki, port, pg.port(), "127.0.0.2/32", "required"));
  auto r = psql(through(port), "select 1", pg_cluster::password());
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("FATAL:  connection from 127.0.0.1 refused: the address is not on the "
                      "allowlist of listener \"pg\" (clients)") != std::string::npos);
  CHECK(r.output.find("HINT:  ask the gateway's network team to add 127.0.0.1") !=
        std::string::npos);

  gw.rewrite(gateway_yaml(pki, port, pg.port(), "127.0.0.1/32", "required"));
  gw.reload();
  auto plain = psql(through(port, "sslmode=disable"), "select 1", pg_cluster::password());
  CHECK(plain.output.find("listener \"pg\" requires TLS; this connection is unencrypted") !=
        std::string::npos);
  CHECK(psql(through(port), "select 1", pg_cluster::password()).output == "1\n");
}

TEST_CASE("route allowlists are checked after routing", "[gateway][allowlist]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port = free_port();
  std::string yaml = gateway_yaml(pki, port, pg.port(), "127.0.0.0/8", "optional", "disable", "",
                                  "    allow: [narrow]\n");
  yaml.replace(yaml.find("allowlists:\n"), 12, "allowlists:\n  narrow: [127.0.0.9/32]\n");
  gateway_process gw(dir, yaml);
  auto r = psql(through(port), "select 1", pg_cluster::password());
  CHECK(r.output.find("connection from 127.0.0.1 refused: the address is not on the allowlist of "
                      "route \"db\" (narrow)") != std::string::npos);
}

TEST_CASE("a reload that removes an address applies to new and open connections",
          "[gateway][reload]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port = free_port();
  const std::string enforce = "    enforce_on_reload: true\n";
  gateway_process gw(
      dir, gateway_yaml(pki, port, pg.port(), "127.0.0.1/32", "optional", "disable", enforce));
  background_process open_session({"psql", "-X", "-At", through(port), "-c", "select pg_sleep(20)"},
                                  dir.file("open-session.log"),
                                  {{"PGPASSWORD", pg_cluster::password()}});
  REQUIRE(wait_for_query(pg, "select pg_sleep"));

  // A bad file is refused and the running configuration stays.
  gw.rewrite("listeners: [oops\n");
  gw.reload();
  CHECK(gw.log().find("event=reload_failed") != std::string::npos);
  CHECK(psql(through(port), "select 'still-open'", pg_cluster::password()).output ==
        "still-open\n");
  CHECK(open_session.running());

  gw.rewrite(gateway_yaml(pki, port, pg.port(), "127.0.0.2/32", "optional", "disable", enforce));
  gw.reload();
  CHECK(open_session.wait(std::chrono::seconds(10)) != 0);
  CHECK(open_session.log().find("connection closed by sluice: address 127.0.0.1 is no longer on "
                                "the allowlist of listener \"pg\" after a configuration reload") !=
        std::string::npos);
  auto next = psql(through(port), "select 1", pg_cluster::password());
  CHECK(next.output.find("connection from 127.0.0.1 refused") != std::string::npos);
  CHECK(log_has(gw, "reason=reload_disallowed"));
}
