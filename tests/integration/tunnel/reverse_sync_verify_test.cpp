// `sluice sync verify` for a destination via a reverse tunnel. The command cannot bring
// such a tunnel up (its agents dial in to the running gateway), so it asks that gateway
// (POST /v1/syncs/NAME/verify, address and token from -c) to run the checklist through
// its forwarder. Real `sluice run`, real `ssh -R` agent, real PostgreSQL (TLS, SCRAM).
#include <catch2/catch.hpp>

#include "tests/integration/tunnel/reverse_fixture.hpp"

using namespace sluice::test;

namespace {

constexpr const char* kAdminToken = "reverse-admin-token";

// The reverse fixture's gateway restarted with an admin token (a restart-only key) and
// a sync "orders" whose destination is database "app" through route "db", so via the
// reverse tunnel acme, as sync_user (SCRAM, verify-full TLS).
struct sync_gateway {
  reverse_gateway g{reverse_gateway::options{}};
  sync_gateway() {
    g.pg.sql("create database app");
    g.pg.sql("create user sync_user with encrypted password 'sync-pw'");
    g.pg.sql("grant connect, create, temporary on database app to sync_user");
    auto yaml = g.yaml();
    const std::string admin = "admin:\n  listen: 127.0.0.1:" + std::to_string(g.admin_port) + "\n";
    auto at = yaml.find(admin);
    REQUIRE(at != std::string::npos);
    yaml.insert(at + admin.size(),
                "  token_file: " +
                    g.dir.write("admin.token", std::string(kAdminToken) + "\n", 0600) + "\n");
    yaml += "ingest:\n  listen: 127.0.0.1:" + std::to_string(free_port()) +
            "\nsyncs:\n  - name: orders\n    destination: {route: db, database: app, user: "
            "sync_user, password_file: " +
            g.dir.write("sync.pw", "sync-pw\n", 0600) +
            "}\n    schema: orders\n    ingest: {token_file: " +
            g.dir.write("ingest.token", "ingest-token\n", 0600) + "}\n";
    g.gw.reset();
    g.gw = std::make_unique<gateway_process>(g.dir, yaml);
  }
};

run_result sync_cli(const reverse_gateway& g, const std::string& args) {
  return run(std::string(kSluiceBin) + " sync " + args + " -c " +
                 shell_quote(g.dir.file("sluice.yaml")) + " 2>&1",
             std::chrono::seconds(90));
}

}  // namespace

TEST_CASE("sync verify via a reverse tunnel without an agent names the missing agent and the fix",
          "[reverse][sync][verify]") {
  sync_gateway sg;
  auto& g = sg.g;
  INFO(g.gw->log());
  auto r = sync_cli(g, "verify orders");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("sync orders: sync_user@localhost:5432/app via acme, "
                                       "schema orders (checked by the running gateway at "
                                       "127.0.0.1:" +
                                       std::to_string(g.admin_port) + ")"));
  CHECK_THAT(r.output, Catch::Contains("[FAIL] reverse tunnel acme has an agent forwarding port "
                                       "5432 (no agent is connected to this gateway for reverse "
                                       "tunnel acme, so nothing can reach localhost:5432"));
  CHECK_THAT(r.output, Catch::Contains("`ssh -N -R 5432:localhost:5432 -p " +
                                       std::to_string(g.ssh_port) + " acme@GATEWAY`"));
  CHECK_THAT(r.output, Catch::Contains("sluice doctor tunnel acme"));
  CHECK_THAT(r.output, Catch::Contains("reverse tunnel acme has no agent forwarding its port at "
                                       "this gateway"));
  // No database check ran, so no SQL "fix" is offered for a network problem.
  CHECK(r.output.find("fix:") == std::string::npos);

  // An agent forwarding another port: that is the reason then.
  auto wrong = std::make_unique<background_process>(
      g.ssh_argv(g.acme.path, "acme",
                 {"-N", "-R", "6543:127.0.0.1:" + std::to_string(g.pg.port())}),
      g.dir.file("wrong-agent.log"));
  REQUIRE(g.log_has("reverse_forward_added", std::chrono::seconds(10)));
  auto port = sync_cli(g, "verify orders");
  INFO(port.output);
  CHECK(port.exit_code == 1);
  CHECK_THAT(port.output, Catch::Contains("1 agent(s) connected, announcing ports [6543], none for "
                                          "port 5432: run the agent with -R 5432:localhost:5432"));
  wrong.reset();

  // setup cannot run here either, and says where it happens.
  auto setup = sync_cli(g, "setup orders");
  INFO(setup.output);
  CHECK(setup.exit_code == 1);
  CHECK_THAT(setup.output, Catch::Contains("which only the running gateway can use"));

  // The gateway not running: said plainly, with what to do.
  g.gw.reset();
  auto down = sync_cli(g, "verify orders");
  INFO(down.output);
  CHECK(down.exit_code == 1);
  CHECK_THAT(down.output, Catch::Contains("the gateway is not running (cannot reach the admin API "
                                          "at 127.0.0.1:" +
                                          std::to_string(g.admin_port)));
  CHECK_THAT(down.output, Catch::Contains("only the running gateway reaches a destination via "
                                          "reverse tunnel acme"));
  CHECK_THAT(down.output, Catch::Contains("start it (systemctl start sluice)"));
}

TEST_CASE("sync verify via a reverse tunnel with an ssh -R agent runs every check through it",
          "[reverse][sync][verify]") {
  sync_gateway sg;
  auto& g = sg.g;
  INFO(g.gw->log());
  auto agent = g.start_agent();  // ssh -N -R 5432:127.0.0.1:<pg> acme@gateway
  auto r = sync_cli(g, "verify orders");
  INFO(r.output << agent->log());
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("[ok]   reverse tunnel acme has an agent forwarding port "
                                       "5432 (1 agent(s): 127.0.0.1)"));
  CHECK_THAT(r.output, Catch::Contains("[ok]   connect to database app as sync_user"));
  CHECK_THAT(r.output, Catch::Contains("all checks passed"));
  // It went through the agent: the gateway opened channels on the reverse tunnel.
  CHECK(g.tunnel_status("acme").value("channels_opened", 0) >= 1);

  // Without the admin token nothing runs: the API refuses.
  auto anon =
      run("curl -sS -X POST --max-time 10 http://127.0.0.1:" + std::to_string(g.admin_port) +
          "/v1/syncs/orders/verify");
  CHECK_THAT(anon.output, Catch::Contains("missing or wrong bearer token"));
  // An unknown sync is a 404 with its name.
  auto unknown =
      run("curl -sS -X POST --max-time 10 -H 'Authorization: Bearer " + std::string(kAdminToken) +
          "' http://127.0.0.1:" + std::to_string(g.admin_port) + "/v1/syncs/nope/verify");
  CHECK_THAT(unknown.output, Catch::Contains("no sync named \\\"nope\\\""));
}
