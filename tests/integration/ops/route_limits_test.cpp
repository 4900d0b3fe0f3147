// Per-route max_connections and max_connections_per_user against real sessions: the
// client over the limit gets SQLSTATE 53300 with words that name the route and the
// limit, the refusal is logged with its client address, and a reload changes the limit
// for new connections without closing open ones.
#include "tests/integration/ops/control_fixture.hpp"
#include "tests/support/raw_client.hpp"

using namespace sluice::test;

namespace {
void create_user(const control_env& e, const std::string& name) {
  e.pg.sql("create role " + name + " login password '" + pg_cluster::password() + "'");
}
}  // namespace

TEST_CASE("a route's max_connections refuses the next client with 53300", "[limits][route]") {
  control_env e;
  e.start("    max_connections: 2\n");
  INFO(e.gw->log());
  auto a = e.hold("select pg_sleep(30)", "a.log");
  auto b = e.hold("select pg_sleep(30)", "b.log");
  REQUIRE(eventually([&] { return e.active_sessions() == 2; }, std::chrono::seconds(15)));

  auto over = e.query("select 1");
  INFO(over.output);
  CHECK(over.exit_code != 0);
  CHECK_THAT(over.output, Catch::Contains("too many clients already on route \"db\" "
                                          "(max_connections 2)"));
  CHECK(eventually(
      [&] {
        auto log = e.gw->log();
        return log.find("event=connection_rejected") != std::string::npos &&
               log.find("peer=127.0.0.1:") != std::string::npos &&
               log.find("reason=route_max_connections") != std::string::npos;
      },
      std::chrono::seconds(5)));
  // The SQLSTATE is Postgres's own for too many connections.
  raw_client raw(e.listen_port);
  REQUIRE(raw.start_tls("localhost"));
  raw.send(raw_client::startup("postgres", "postgres"));
  CHECK(raw_client::error_code(raw.recv_all()) == "53300");

  // A reload raising the limit lets a third client in; the two open ones stay.
  e.gw->rewrite(e.yaml("    max_connections: 3\n"));
  e.gw->reload();
  CHECK(e.query("select 7").output == "7\n");
  CHECK(a.running());
  CHECK(b.running());
  // Lowering it below the open count closes nobody; new clients wait for room.
  e.gw->rewrite(e.yaml("    max_connections: 1\n"));
  e.gw->reload();
  CHECK(a.running());
  CHECK(b.running());
  CHECK(e.query("select 1").exit_code != 0);
  a.signal(SIGTERM);
  b.signal(SIGTERM);
  a.wait(std::chrono::milliseconds(5000));
  b.wait(std::chrono::milliseconds(5000));
  REQUIRE(eventually([&] { return e.sessions().empty(); }, std::chrono::seconds(10)));
  CHECK(e.query("select 1").output == "1\n");
}

TEST_CASE("max_connections_per_user limits one user and leaves the others room", "[limits][user]") {
  control_env e;
  e.start("    max_connections_per_user: 1\n");
  INFO(e.gw->log());
  create_user(e, "alice");
  create_user(e, "bob");
  auto held = e.hold("select pg_sleep(30)", "alice.log", "alice");
  REQUIRE(eventually([&] { return e.active_sessions() == 1; }, std::chrono::seconds(15)));

  auto second = e.query("select 1", "alice");
  INFO(second.output);
  CHECK(second.exit_code != 0);
  CHECK_THAT(second.output,
             Catch::Contains("too many connections for user \"alice\" on route \"db\" "
                             "(max_connections_per_user 1)"));
  CHECK(eventually(
      [&] { return e.gw->log().find("reason=user_max_connections") != std::string::npos; },
      std::chrono::seconds(5)));
  // Bob is another tenant of the same route.
  CHECK(e.query("select current_user", "bob").output == "bob\n");
  held.signal(SIGTERM);
  held.wait(std::chrono::milliseconds(5000));
  CHECK(eventually([&] { return e.query("select 2", "alice").output == "2\n"; },
                   std::chrono::seconds(10)));
}

TEST_CASE("route limits are checked by the configuration loader", "[limits][config]") {
  control_env e;
  auto bad = e.yaml("    max_connections: -1\n    max_connections_per_user: many\n");
  auto path = e.dir.write("bad.yaml", bad);
  auto r = run(std::string(kSluiceBin) + " check-config -c " + shell_quote(path));
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("max_connections"));
  CHECK_THAT(r.output, Catch::Contains("max_connections_per_user"));
}
