// pgbench through each path in the simple, extended and prepared query modes, with zero
// failed transactions; through the tunnel route also 16 concurrent connections, all of
// them channels of one SSH session.
#include <algorithm>

#include "tests/integration/clients/clients_fixture.hpp"

using namespace sluice::test;
using namespace sluice::test::clients;

namespace {

// Total transactions processed, or -1 when the line is missing.
long processed(const std::string& out) {
  const std::string key = "number of transactions actually processed: ";
  auto pos = out.find(key);
  if (pos == std::string::npos)
    return -1;
  return std::atol(out.c_str() + pos + key.size());
}

std::string bench_cmd(const client_env& e, const std::string& args) {
  return "PGPASSWORD=" + shell_quote(pg_cluster::password()) + " pgbench -n " + args + " " +
         shell_quote(e.conninfo());
}

void init_bench(client_env& e) {
  auto init = run("pgbench -i -s 1 -q " + shell_quote(e.pg().superuser_conninfo()),
                  std::chrono::seconds(120));
  INFO(init.output);
  REQUIRE(init.exit_code == 0);
}

void modes(client_env& e) {
  for (const char* mode : {"simple", "extended", "prepared"}) {
    auto r =
        run(bench_cmd(e, std::string("-M ") + mode + " -c 4 -j 2 -T 3"), std::chrono::seconds(60));
    INFO("path " << name_of(e.which()) << " mode " << mode << "\n" << r.output);
    CHECK(r.exit_code == 0);
    CHECK(has(r.output, std::string("query mode: ") + mode));
    CHECK(has(r.output, "number of failed transactions: 0 (0.000%)"));
    CHECK(processed(r.output) > 0);
  }
}

}  // namespace

TEST_CASE("pgbench simple extended and prepared through terminated TLS",
          "[clients][pgbench][terminated]") {
  client_env e(path::terminated);
  init_bench(e);
  modes(e);
}

TEST_CASE("pgbench simple extended and prepared through TLS passthrough",
          "[clients][pgbench][passthrough]") {
  client_env e(path::passthrough);
  init_bench(e);
  modes(e);
}

TEST_CASE("pgbench through a tunnel route with many connections over one SSH session",
          "[clients][pgbench][tunnel]") {
  client_env e(path::tunnel);
  init_bench(e);
  modes(e);

  // 16 concurrent connections, each a direct-tcpip channel of the same SSH session.
  background_process bench(
      {"pgbench", "-n", "-M", "extended", "-c", "16", "-j", "2", "-T", "5", e.conninfo()},
      e.dir().file("bench16.log"), {{"PGPASSWORD", pg_cluster::password()}});
  int max_channels = 0, max_sessions = 0;
  while (bench.running()) {
    auto t = e.tunnel_status();
    if (t.is_object()) {
      max_channels = std::max(max_channels, t.value("open_channels", 0));
      max_sessions = std::max(max_sessions, t.value("sessions_up", 0));
    }
    run("sleep 0.2");
  }
  int rc = bench.wait(std::chrono::seconds(60));
  auto out = bench.log();
  INFO(out << "\nstatus: " << e.tunnel_status().dump() << "\n" << e.gw().log());
  CHECK(rc == 0);
  CHECK(has(out, "number of clients: 16"));
  CHECK(has(out, "number of failed transactions: 0 (0.000%)"));
  CHECK(processed(out) > 0);
  // All 16 were open at once, over exactly one session for the whole test.
  CHECK(max_channels >= 16);
  CHECK(max_sessions == 1);
  auto st = e.tunnel_status();
  CHECK(st.value("state", "") == "up");
  CHECK(st.value("reconnects", -1) <= 0);
  REQUIRE(e.sshd() != nullptr);
  CHECK(e.sshd()->logins() == 1);
  CHECK(eventually([&] { return e.tunnel_status().value("open_channels", -1) == 0; },
                   std::chrono::seconds(5)));
}
