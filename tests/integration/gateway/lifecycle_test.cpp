// Startup hardening (limits, timeouts, malformed input), idle timeouts and SIGTERM drain.
#include <signal.h>

#include <catch2/catch.hpp>
#include <random>

#include "tests/integration/gateway/fixture.hpp"
#include "tests/support/raw_client.hpp"
#include "tests/support/scram_login.hpp"

using namespace sluice::test;

TEST_CASE("startup packets are capped and validated and garbage is survived",
          "[gateway][startup]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port = free_port();
  gateway_process gw(dir, gateway_yaml(pki, port, pg.port(), "127.0.0.1/32", "optional", "disable",
                                       "    startup_timeout: 1s\n"));

  SECTION("a startup packet over 10,000 bytes is refused") {
    raw_client c(port);
    c.send({0, 0, 0x4e, 0x20, 0, 3, 0, 0});  // claims 20,000 bytes
    auto reply = c.recv_all();
    CHECK(raw_client::error_code(reply) == "08P01");
    CHECK(raw_client::error_message(reply) ==
          "invalid startup packet: startup packet of 20000 bytes exceeds the 10000-byte limit");
  }
  SECTION("plaintext pipelined after SSLRequest is a protocol violation") {
    raw_client c(port);
    std::vector<uint8_t> both = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
    auto s = raw_client::startup("postgres", "postgres");
    both.insert(both.end(), s.begin(), s.end());
    c.send(both);
    auto reply = c.recv_all();
    CHECK(raw_client::error_message(reply) == "received unencrypted data after SSL request");
  }
  SECTION("protocol 2 gets a clear error") {
    raw_client c(port);
    c.send({0, 0, 0, 9, 0, 2, 0, 0, 0});
    CHECK(raw_client::error_message(c.recv_all()) ==
          "invalid startup packet: unsupported frontend protocol 2.0: sluice and PostgreSQL "
          "speak protocol 3");
  }
  SECTION("GSSENCRequest is answered N, then a startup proceeds") {
    raw_client c(port);
    c.send({0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30});
    CHECK(c.recv_some(1) == "N");
    c.send(raw_client::startup("postgres", "postgres"));
    auto reply = c.recv_some();
    CHECK(!reply.empty());
    CHECK(reply[0] == 'R');  // the backend's authentication request
  }
  SECTION("an incomplete startup packet times out") {
    raw_client c(port);
    c.send({0, 0, 0, 40, 0, 3});
    auto started = std::chrono::steady_clock::now();
    CHECK(c.closed_by_peer(5000));
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
    CHECK(log_has(gw, "reason=startup_timeout"));
  }
  SECTION("random garbage never crashes or wedges a worker") {
    std::mt19937 rng(7);
    for (int i = 0; i < 200; ++i) {
      raw_client c(port);
      std::vector<uint8_t> junk(1 + rng() % 64);
      for (auto& b : junk)
        b = static_cast<uint8_t>(rng());
      if (i % 3 == 0)
        junk[0] = 0;  // plausible lengths too
      c.send(junk);
    }
    CHECK(gw.proc().running());
    CHECK(psql(through(port), "select 'alive'", pg_cluster::password()).output == "alive\n");
  }
}

TEST_CASE("idle sessions are closed after the route's idle_timeout", "[gateway][idle]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port = free_port();
  gateway_process gw(dir, gateway_yaml(pki, port, pg.port(), "127.0.0.1/32", "optional", "disable",
                                       "", "    idle_timeout: 1s\n"));
  auto r = psql(through(port), "select pg_sleep(4)", pg_cluster::password());
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("terminating connection: idle for 1s (route \"db\" idle_timeout)") !=
        std::string::npos);
  CHECK(psql(through(port), "select 'quick'", pg_cluster::password()).output == "quick\n");
}

TEST_CASE("SIGTERM stops accepting and lets an open transaction finish before exiting",
          "[gateway][drain]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  pg.sql("create table drained(x int)");
  int port = free_port();
  gateway_process gw(dir, gateway_yaml(pki, port, pg.port()));
  background_process tx({"psql", "-X", "-At", through(port), "-c",
                         "begin; insert into drained values (1); select pg_sleep(2); "
                         "insert into drained values (2); commit;"},
                        dir.file("tx.log"), {{"PGPASSWORD", pg_cluster::password()}});
  REQUIRE(wait_for_query(pg, "pg_sleep(2)"));
  gw.proc().signal(SIGTERM);
  // New connections are refused while the old one drains.
  CHECK(log_has(gw, "event=draining"));
  auto late = psql(through(port), "select 1", pg_cluster::password());
  CHECK(late.exit_code != 0);
  CHECK(tx.wait(std::chrono::seconds(15)) == 0);
  CHECK(pg.sql("select count(*) from drained") == "2");
  CHECK(gw.proc().wait(std::chrono::seconds(10)) == 0);
  CHECK(gw.log().find("event=shutdown_done") != std::string::npos);
}

TEST_CASE("SIGTERM grace expiry terminates leftover sessions with a message", "[gateway][drain]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg;
  int port = free_port();
  auto yaml = gateway_yaml(pki, port, pg.port());
  yaml.replace(yaml.find("shutdown_grace: 10s"), 19, "shutdown_grace: 1s");
  gateway_process gw(dir, yaml);
  background_process s({"psql", "-X", "-At", through(port), "-c", "select pg_sleep(30)"},
                       dir.file("s.log"), {{"PGPASSWORD", pg_cluster::password()}});
  REQUIRE(wait_for_query(pg, "select pg_sleep(30)"));
  gw.proc().signal(SIGTERM);
  CHECK(s.wait(std::chrono::seconds(10)) != 0);
  CHECK(s.log().find("terminating connection: sluice is shutting down") != std::string::npos);
  CHECK(gw.proc().wait(std::chrono::seconds(10)) == 0);
}

// psql sends Terminate and closes; the server closes on Terminate too, so the relay may
// see the server's EOF first. Either way the client ended the session.
TEST_CASE(
    "a client that quits is logged as client_closed, a terminated backend as "
    "server_closed",
    "[gateway][lifecycle]") {
  temp_dir dir;
  test_pki pki(dir.path());
  pg_cluster pg(ssl_on(pki));
  int port = free_port();
  gateway_process gw(dir, gateway_yaml(pki, port, pg.port()));
  auto count = [&](const std::string& text) { return count_of(gw.log(), text); };
  const int sessions = 20;
  for (int i = 0; i < sessions; ++i) {
    auto mode = i % 2 ? "sslmode=require" : "sslmode=disable";
    REQUIRE(psql(through(port, mode), "select 1", pg_cluster::password()).output == "1\n");
  }
  CHECK(eventually([&] { return count("event=connection_closed") == sessions; },
                   std::chrono::seconds(5)));
  CHECK(count("reason=client_closed") == sessions);
  CHECK(count("reason=server_closed") == 0);

  auto log_in = [](raw_client& c) { REQUIRE(!scram_log_in(c).empty()); };
  {
    // Terminate, and the socket kept open: the server's EOF surely comes first.
    raw_client c(port);
    log_in(c);
    c.send({'X', 0, 0, 0, 4});
    CHECK(c.closed_by_peer());
    CHECK(eventually([&] { return count("event=connection_closed") == sessions + 1; },
                     std::chrono::seconds(5)));
    CHECK(count("reason=client_closed") == sessions + 1);
  }

  // The control: the backend goes away under a connected client.
  raw_client c(port);
  log_in(c);
  REQUIRE(pg.sql("select count(pg_terminate_backend(pid)) from pg_stat_activity where "
                 "backend_type = 'client backend' and pid <> pg_backend_pid()") == "1");
  CHECK(raw_client::error_code(c.recv_all()) == "57P01");  // admin_shutdown, then EOF
  CHECK(log_has(gw, "reason=server_closed"));
}
