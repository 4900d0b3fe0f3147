// `sluice agent` as the customer-side connector: one agent serving two gateway instances
// (as behind a load balancer), host key pinning, and reconnecting after a gateway restart.
#include <signal.h>

#include <catch2/catch.hpp>

#include "tests/integration/tunnel/reverse_fixture.hpp"

using namespace sluice;
using namespace sluice::test;

TEST_CASE("one sluice agent serves two gateway instances", "[reverse][agent]") {
  reverse_gateway g1;
  reverse_gateway::options o2;
  o2.host_key_of = g1.host_key;
  o2.upstream_ca = g1.pki.ca_cert;  // g2's route reaches g1's database
  reverse_gateway g2(o2);
  REQUIRE(g1.fingerprint == g2.fingerprint);
  // Both instances authorize the same agent key; the database is g1's.
  g2.dir.write("acme_keys", g1.acme.pub + "\n");
  g2.gw->reload();
  background_process agent(sluice_agent_argv(g1, {&g1, &g2}, g1.fingerprint),
                           g1.dir.file("agent.log"));
  REQUIRE(g1.log_has("reverse_forward_added", std::chrono::seconds(15)));
  REQUIRE(g2.log_has("reverse_forward_added", std::chrono::seconds(15)));
  for (const auto* g : {&g1, &g2}) {
    auto r = g->query("select 'served', current_setting('port')");
    INFO(r.output << agent.log());
    CHECK(r.output.find("served|" + std::to_string(g1.pg.port())) != std::string::npos);
  }
  CHECK(agent.log().find("agent_connected") != std::string::npos);

  // pgbench through the second instance.
  auto bench = run("PGPASSWORD=" + pg_cluster::password() + " pgbench -i -q '" + g2.conninfo() +
                       "' >/dev/null 2>&1 && PGPASSWORD=" + pg_cluster::password() +
                       " pgbench -n -S -c 16 -j 4 -T 3 '" + g2.conninfo() + "' 2>&1",
                   std::chrono::seconds(120));
  INFO(bench.output);
  CHECK(bench.exit_code == 0);
  CHECK(bench.output.find("number of failed transactions: 0") != std::string::npos);
  agent.signal(SIGTERM);
  CHECK(agent.wait(std::chrono::seconds(10)) == 0);
}

TEST_CASE("sluice agent pins the host key and reconnects after the gateway restarts",
          "[reverse][agent]") {
  reverse_gateway g;
  SECTION("a wrong pin: it never logs in, and says why") {
    background_process agent(
        sluice_agent_argv(g, {&g}, "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        g.dir.file("agent.log"));
    REQUIRE(eventually([&] { return agent.log().find("host key mismatch") != std::string::npos; },
                       std::chrono::seconds(10)));
    CHECK(g.gw->log().find("reverse_agent_up") == std::string::npos);
  }
  SECTION("the gateway restarts: the agent comes back by itself") {
    background_process agent(sluice_agent_argv(g, {&g}, g.fingerprint), g.dir.file("agent.log"));
    REQUIRE(g.log_has("reverse_forward_added", std::chrono::seconds(15)));
    CHECK(g.query("select 1").exit_code == 0);
    g.gw->proc().signal(SIGKILL);
    g.gw->proc().wait(std::chrono::seconds(5));
    g.gw = nullptr;
    const size_t before = count_of(read_file(g.dir.file("sluice.log")), "reverse_forward_added");
    g.gw = std::make_unique<gateway_process>(g.dir, g.yaml());
    REQUIRE(eventually([&] { return count_of(g.gw->log(), "reverse_forward_added") > before; },
                       std::chrono::seconds(20)));
    auto r = g.query("select 'back'");
    INFO(r.output << agent.log());
    CHECK(r.output.find("back") != std::string::npos);
    CHECK(agent.log().find("agent_disconnected") != std::string::npos);
  }
}

TEST_CASE("sluice agent: a target that never answers does not stall the session's other channels",
          "[reverse][agent]") {
  reverse_gateway::options o;
  o.routes_first =
      "  - name: stuck\n    match: {database: stuck}\n"
      "    upstream: {host: 127.0.0.1, port: 5433, via: acme, connect_timeout: 10s, "
      "tls: {sslmode: disable}}\n";
  reverse_gateway g(o);
  // A listener whose accept queue (backlog 0) is already full: the kernel drops further
  // SYNs, so a connect to it neither succeeds nor fails, as with a firewalled target.
  const int stuck_port = free_port();
  g.dir.write("stuck.py",
              "import socket, sys, time\n"
              "s = socket.socket()\n"
              "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
              "s.bind(('127.0.0.1', " +
                  std::to_string(stuck_port) +
                  "))\n"
                  "s.listen(0)\n"
                  "fill = []\n"
                  "for _ in range(3):\n"  // the first fills the queue; the rest hang in SYN_SENT
                  "    c = socket.socket()\n"
                  "    c.setblocking(False)\n"
                  "    c.connect_ex(('127.0.0.1', " +
                  std::to_string(stuck_port) +
                  "))\n"
                  "    fill.append(c)\n"
                  "time.sleep(0.5)\n"
                  "print('full', flush=True)\n"
                  "time.sleep(600)\n");
  background_process stuck({"/usr/bin/python3", g.dir.file("stuck.py")}, g.dir.file("stuck.log"));
  REQUIRE(eventually([&] { return stuck.log().find("full") != std::string::npos; },
                     std::chrono::seconds(10)));
  auto argv = sluice_agent_argv(g, {&g}, g.fingerprint);
  argv.push_back("--forward");
  argv.push_back("5433:127.0.0.1:" + std::to_string(stuck_port));
  background_process agent(argv, g.dir.file("agent.log"));
  REQUIRE(g.log_has("reverse_forward_added", std::chrono::seconds(15)));
  REQUIRE(g.query("select 1").exit_code == 0);  // warm: the session is up

  // A client of the stuck route: its channel's target connect hangs for the agent's 5 s.
  background_process waiting({"sh", "-c",
                              "PGPASSWORD=" + pg_cluster::password() + " psql -XAtq '" +
                                  g.conninfo() + " dbname=stuck' -c 'select 1' 2>&1"},
                             g.dir.file("waiting.log"));
  REQUIRE(eventually([&] { return g.tunnel_status("acme").value("open_channels", 0) >= 1; },
                     std::chrono::seconds(5)));
  // Meanwhile the same agent session serves the database at once (a blocking connect held
  // every channel of the session until the stuck one timed out).
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = g.query("select 'meanwhile'");
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    INFO("query " << i << " took " << secs << " s: " << r.output << agent.log());
    CHECK(r.output.find("meanwhile") != std::string::npos);
    CHECK(secs < 2.0);
  }
  // The stuck connect ends at the agent's deadline with its reason, and the client is told.
  REQUIRE(waiting.wait(std::chrono::seconds(20)) != 0);
  INFO(agent.log() << waiting.log());
  CHECK(agent.log().find("agent_target_unreachable") != std::string::npos);
  CHECK(agent.log().find("port=5433 error=\"connect to 127.0.0.1:" + std::to_string(stuck_port) +
                         " timed out\"") != std::string::npos);
  // The clients that came and went logged no failure (PostgreSQL's reset after Terminate
  // is the target's normal end).
  CHECK(agent.log().find("agent_channel_failed") == std::string::npos);
}
