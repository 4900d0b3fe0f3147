// systemd/sluice-agent@.service's ExecStart run as written (no systemd PID 1 here): from
// its EnvironmentFile ($SLUICE_AGENT_ARGS) and its LoadCredential key (%d), against a
// real gateway's reverse tunnel with PostgreSQL behind the agent. systemd-analyze verify
// of the unit is in tests/integration/ops/systemd_units_test.cpp.
#include <signal.h>

#include <catch2/catch.hpp>

#include "tests/integration/ops/unit_file.hpp"
#include "tests/integration/tunnel/reverse_fixture.hpp"

using namespace sluice::test;
using namespace sluice::test::unit_file;

TEST_CASE(
    "sluice-agent@.service's ExecStart from its environment file and credential serves a reverse "
    "tunnel",
    "[systemd][reverse]") {
  const auto unit = read_file(std::string(kSourceDir) + "/systemd/sluice-agent@.service");
  reverse_gateway g{
      reverse_gateway::options{}};  // a gateway with tunnel acme, PostgreSQL behind the agent
  // /etc/sluice-agent/acme.env as the unit's comment shows it (a continued line), and
  // LoadCredential's copy of the key in the credentials directory (%d).
  auto env_file = g.dir.write(
      "acme.env", "SLUICE_AGENT_ARGS=--gateway 127.0.0.1:" + std::to_string(g.ssh_port) +
                      " --tunnel acme \\\n  --host-key " + g.fingerprint +
                      " --forward 5432:127.0.0.1:" + std::to_string(g.pg.port()) + "\n");
  const auto credentials = g.dir.file("credentials");
  REQUIRE(run("install -d -m 700 " + shell_quote(credentials) + " && install -m 400 " +
              shell_quote(g.acme.path) + " " + shell_quote(credentials + "/key"))
              .exit_code == 0);
  CHECK(unit_values(unit, "EnvironmentFile") ==
        std::vector<std::string>{"/etc/sluice-agent/%i.env"});
  CHECK(unit_values(unit, "LoadCredential") ==
        std::vector<std::string>{"key:/etc/sluice-agent/%i.key"});

  auto start = unit_values(unit, "ExecStart");
  REQUIRE(start.size() == 1);
  auto line = replace_all(start[0], "/usr/bin/sluice", kSluiceBin);
  auto argv =
      expand(line, {{"%d", credentials}, {"%i", "acme"}}, environment_file(read_file(env_file)));
  INFO(as_shell(argv));
  background_process agent(argv, g.dir.file("unit-agent.log"));
  INFO(agent.log());
  REQUIRE(g.log_has("reverse_forward_added", std::chrono::seconds(15)));
  auto r = g.query("select 'through the agent', current_setting('port')");
  INFO(r.output);
  CHECK(r.output == "through the agent|" + std::to_string(g.pg.port()) + "\n");
  // systemctl stop: SIGTERM; Restart=always restarts only what exits on its own.
  agent.signal(SIGTERM);
  CHECK(agent.wait(std::chrono::seconds(10)) == 0);
}
