// The shipped systemd units (systemd/*.service), checked without systemd as PID 1:
// `systemd-analyze verify` applies the checks of `systemctl daemon-reload` and that each
// command exists and is executable (so this build's binary stands in for /usr/bin/sluice),
// and each unit's Exec* command lines run as written, expanded as systemd expands them
// ($MAINPID, $VAR from the EnvironmentFile, %d, %i), against a real configuration. The
// refused-file case of ExecReload is in reload_command_test.cpp; here it runs once more
// from the command line this test parsed. The agent's unit runs in
// tests/integration/tunnel/agent_unit_test.cpp, next to the reverse-tunnel fixture.
#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include "tests/integration/ops/control_fixture.hpp"
#include "tests/integration/ops/unit_file.hpp"
#include "tests/support/paths.hpp"

using namespace sluice::test;
using namespace sluice::test::unit_file;

TEST_CASE("systemd-analyze verify accepts every shipped unit", "[systemd]") {
  REQUIRE(run("command -v systemd-analyze").exit_code == 0);
  temp_dir dir;
  auto units = shipped_units();
  REQUIRE(units.size() >= 2);  // the gateway's and the agent's
  for (const auto& unit : units) {
    auto copy = installed_copy(dir, unit);
    auto r = run("systemd-analyze verify --man=no " + shell_quote(copy) + " 2>&1",
                 std::chrono::seconds(120));
    INFO(unit << " as " << copy << ":\n" << r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output.empty());  // warnings too (an unknown key is only a warning)
  }
  // The check can fail: a misspelt key is reported and the unit refused.
  auto broken =
      dir.write("broken.service", std::regex_replace(read_file(installed_copy(dir, units.front())),
                                                     std::regex("\nExecStart="), "\nExecStrat="));
  auto r = run("systemd-analyze verify --man=no " + shell_quote(broken) + " 2>&1",
               std::chrono::seconds(120));
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.output, Catch::Contains("Unknown key 'ExecStrat'"));
}

TEST_CASE("sluice.service's ExecStartPre ExecStart and ExecReload work as written",
          "[systemd][reload]") {
  const auto unit = read_file(std::string(kSourceDir) + "/systemd/sluice.service");
  control_env e;  // PostgreSQL 15 (TLS, SCRAM), admin API with a bearer token
  auto config = e.dir.write("sluice.yaml", e.yaml());
  const std::map<std::string, std::string> specifiers;  // these lines use none
  std::map<std::string, std::string> vars;
  auto command = [&](const std::string& line) {
    return replace_all(replace_all(line, "/usr/bin/sluice", kSluiceBin), "/etc/sluice/sluice.yaml",
                       config);
  };

  // ExecStartPre refuses a broken file before anything stops or starts.
  auto pre = unit_values(unit, "ExecStartPre");
  REQUIRE(pre.size() == 1);
  e.dir.write("sluice.yaml", e.yaml() + "bogus_key: 1\n");
  auto refused = run(as_shell(expand(command(pre[0]), specifiers, vars)) + " 2>&1");
  INFO(refused.output);
  CHECK(refused.exit_code != 0);
  CHECK_THAT(refused.output, Catch::Contains("bogus_key"));
  e.dir.write("sluice.yaml", e.yaml());
  auto checked = run(as_shell(expand(command(pre[0]), specifiers, vars)) + " 2>&1");
  INFO(checked.output);
  REQUIRE(checked.exit_code == 0);

  // ExecStart serves.
  auto start = unit_values(unit, "ExecStart");
  REQUIRE(start.size() == 1);
  background_process gateway(expand(command(start[0]), specifiers, vars), e.dir.file("unit.log"));
  INFO(gateway.log());
  REQUIRE(eventually([&] { return gateway.log().find("event=ready") != std::string::npos; },
                     std::chrono::seconds(20)));
  CHECK(e.query("select 41 + 1").output == "42\n");

  // ExecReload with $MAINPID: success, then a refused file fails the reload.
  vars["MAINPID"] = std::to_string(gateway.pid());
  auto reload_line = unit_values(unit, "ExecReload");
  REQUIRE(reload_line.size() == 1);
  const auto reload = as_shell(expand(command(reload_line[0]), specifiers, vars)) + " 2>&1";
  auto ok = run(reload);
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.output, Catch::Contains("now serving generation 2"));
  e.dir.write("sluice.yaml",
              e.yaml() + "  - name: other\n    upstream: {host: 127.0.0.1, via: nowhere}\n");
  auto bad = run(reload);
  INFO(bad.output);
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.output, Catch::Contains("nowhere"));
  CHECK(e.query("select 41 + 1").output == "42\n");  // the old configuration serves on

  // systemctl stop (KillMode=mixed): SIGTERM to the main process, which drains and exits 0
  // well within TimeoutStopSec.
  auto timeout = unit_values(unit, "TimeoutStopSec");
  REQUIRE(timeout.size() == 1);
  gateway.signal(SIGTERM);
  CHECK(gateway.wait(std::chrono::seconds(std::stoi(timeout[0]))) == 0);
}
