// `sluice ctl` against real sessions: psql clients held open through the gateway (TLS
// both ways, SCRAM at the database) are listed with their facts, one is killed by id,
// a drained route refuses new connections while open ones finish, and the tunnels are
// shown as the gateway sees them.
#include "tests/integration/ops/control_fixture.hpp"

using namespace sluice::test;

TEST_CASE("ctl sessions lists open sessions and ctl kill ends one by id", "[ctl][sessions]") {
  control_env e;
  e.start();
  INFO(e.gw->log());
  auto a = e.hold("select pg_sleep(60)", "a.log");
  auto b = e.hold("select pg_sleep(60)", "b.log");
  REQUIRE(eventually([&] { return e.active_sessions() == 2; }, std::chrono::seconds(15)));

  auto list = e.sessions();
  INFO(list.dump(2));
  REQUIRE(list.size() == 2);
  for (const auto& s : list) {
    CHECK(s.value("route", "") == "db");
    CHECK(s.value("listener", "") == "pg");
    CHECK(s.value("user", "") == "postgres");
    CHECK(s.value("database", "") == "postgres");
    CHECK(s.value("peer", "").rfind("127.0.0.1:", 0) == 0);
    CHECK(s.value("since", "").size() == 20);  // 2026-12-01T23:59:01Z
    CHECK(s.value("bytes_in", 0) > 0);
    CHECK(s.value("bytes_out", 0) > 0);
    CHECK(s.value("state", "") == "active");
  }

  // The table form names the same sessions.
  auto table = e.cli("ctl sessions");
  INFO(table.output);
  CHECK(table.exit_code == 0);
  CHECK_THAT(table.output, Catch::Contains("PEER"));
  CHECK(count_of(table.output, " postgres ") >= 2);

  const auto victim = list[0].value("id", uint64_t{0});
  auto killed = e.cli("ctl kill " + std::to_string(victim));
  INFO(killed.output);
  CHECK(killed.exit_code == 0);
  // One of the two psql clients got the message and exited non-zero; the other runs on.
  REQUIRE(eventually([&] { return !a.running() || !b.running(); }, std::chrono::seconds(10)));
  auto& gone = a.running() ? b : a;
  auto& alive = a.running() ? a : b;
  CHECK(gone.wait(std::chrono::milliseconds(1000)) != 0);
  CHECK_THAT(gone.log(), Catch::Contains("terminating connection due to administrator command"));
  CHECK(alive.running());
  CHECK(eventually([&] { return e.sessions().size() == 1; }, std::chrono::seconds(5)));
  CHECK_THAT(e.gw->log(), Catch::Contains("reason=killed"));

  // An unknown id and a non-number are refused with exit 1 and a reason.
  auto unknown = e.cli("ctl kill 999999");
  CHECK(unknown.exit_code == 1);
  CHECK_THAT(unknown.output, Catch::Contains("no open session with id 999999"));
  alive.signal(SIGTERM);
}

TEST_CASE("ctl drain refuses new connections to a route while open sessions finish",
          "[ctl][drain]") {
  control_env e;
  e.start();
  INFO(e.gw->log());
  auto open = e.hold("select pg_sleep(3); select 'finished'", "open.log");
  REQUIRE(eventually([&] { return e.active_sessions() == 1; }, std::chrono::seconds(15)));

  auto drained = e.cli("ctl drain db");
  INFO(drained.output);
  CHECK(drained.exit_code == 0);
  CHECK_THAT(drained.output, Catch::Contains("1 open session(s) continue"));

  auto refused = e.query("select 1");
  INFO(refused.output);
  CHECK(refused.exit_code != 0);
  CHECK_THAT(refused.output, Catch::Contains("route \"db\" is drained by an operator"));
  CHECK_THAT(e.gw->log(), Catch::Contains("reason=drained"));

  // The open session finishes its work normally.
  CHECK(open.wait(std::chrono::milliseconds(10000)) == 0);
  CHECK_THAT(open.log(), Catch::Contains("finished"));

  // The drain survives a reload; resume lets clients in again.
  e.gw->reload();
  CHECK(e.query("select 1").exit_code != 0);
  auto resumed = e.cli("ctl resume db");
  CHECK(resumed.exit_code == 0);
  CHECK(e.query("select 1").output == "1\n");

  // A listener can be drained the same way; unknown names are refused.
  CHECK(e.cli("ctl drain --listener pg").exit_code == 0);
  auto by_listener = e.query("select 1");
  CHECK_THAT(by_listener.output, Catch::Contains("listener \"pg\" is drained"));
  CHECK(e.cli("ctl resume --listener pg").exit_code == 0);
  CHECK(e.query("select 1").output == "1\n");
  auto unknown = e.cli("ctl drain nosuchroute");
  CHECK(unknown.exit_code == 1);
  CHECK_THAT(unknown.output, Catch::Contains("no route named \"nosuchroute\""));
}

TEST_CASE("ctl needs the bearer token and ctl tunnels shows the gateway's own view",
          "[ctl][tunnels]") {
  temp_dir dir;
  auto c = make_ops_config(dir);  // a tunnel to a closed port: it never comes up
  gateway_process gw(dir, c.yaml);
  INFO(gw.log());
  const std::string ctl = std::string(kSluiceBin) + " ctl ";
  const std::string cfg = " -c " + shell_quote(gw.config_path());
  REQUIRE(eventually(
      [&] {
        auto r = run(ctl + "tunnels --json" + cfg);
        auto j = nlohmann::json::parse(r.output, nullptr, false);
        return j.is_object() && !j["tunnels"].empty() &&
               !j["tunnels"][0].value("last_error", "").empty();
      },
      std::chrono::seconds(15)));
  auto table = run(ctl + "tunnels" + cfg);
  INFO(table.output);
  CHECK(table.exit_code == 0);
  CHECK_THAT(table.output, Catch::Contains("bastion"));
  CHECK(table.output.find(" up ") == std::string::npos);

  // Without the token the admin API refuses every live-control call.
  for (const char* path : {"/v1/sessions", "/v1/tunnels"}) {
    auto r = curl(admin_url(c, path));
    CHECK_THAT(r.output, Catch::EndsWith("HTTP 401"));
  }
  auto r = curl("-X POST " + admin_url(c, "/v1/routes/orders/drain"));
  CHECK_THAT(r.output, Catch::EndsWith("HTTP 401"));
  CHECK(gw.log().find("drain_started") == std::string::npos);
}
