// `systemctl reload sluice` runs the unit's ExecReload: `sluice reload`, which waits for
// the running gateway's answer. A refused file makes it fail with the problems printed,
// and the metrics say the last reload failed. systemd is not running here: the test runs
// the unit's own ExecReload command line against a running gateway.
#include <signal.h>

#include <regex>

#include "tests/integration/ops/control_fixture.hpp"

using namespace sluice::test;

namespace {

// systemd/sluice.service's ExecReload=, with the test's binary, config and pid.
std::string exec_reload(const control_env& e) {
  auto unit = read_file(std::string(kSourceDir) + "/systemd/sluice.service");
  std::smatch m;
  REQUIRE(std::regex_search(unit, m, std::regex("\nExecReload=([^\n]*)")));
  std::string cmd = m[1];
  auto replace = [&](const std::string& from, const std::string& to) {
    auto at = cmd.find(from);
    REQUIRE(at != std::string::npos);
    cmd.replace(at, from.size(), to);
  };
  replace("/usr/bin/sluice", kSluiceBin);
  replace("/etc/sluice/sluice.yaml", shell_quote(e.dir.file("sluice.yaml")));
  if (cmd.find("$MAINPID") != std::string::npos)
    replace("$MAINPID", std::to_string(e.gw->proc().pid()));
  return cmd;
}

double metric(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\n" + name + " ([0-9.e+]+)\n")))
    return -1;
  return std::stod(m[1]);
}

}  // namespace

TEST_CASE("the unit's reload command fails on a refused file and the metrics show it",
          "[reload][systemd]") {
  control_env e;
  e.start();
  INFO(e.gw->log());
  auto cmd = exec_reload(e);
  INFO(cmd);
  CHECK(cmd.find("sluice reload") != std::string::npos);  // not a bare kill -HUP

  const auto start_metrics = e.metrics();
  CHECK(metric(start_metrics, "sluice_config_reload_success") == 1);
  const double started_at = metric(start_metrics, "sluice_config_last_reload_timestamp_seconds");
  CHECK(started_at > 1.7e9);

  auto ok = run(cmd);
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.output, Catch::Contains("now serving generation 2"));
  CHECK(metric(e.metrics(), "sluice_config_reload_success") == 1);

  // A route naming a tunnel that does not exist: valid YAML, refused by the gateway.
  run("sleep 1.1");  // the timestamp has to move
  e.gw->rewrite(e.yaml() + "  - name: other\n    upstream: {host: 127.0.0.1, via: nowhere}\n");
  auto bad = run(cmd);
  INFO(bad.output);
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.output, Catch::Contains("nowhere"));
  CHECK_THAT(bad.output, Catch::Contains("refused the configuration; it keeps generation 2"));
  auto after = e.metrics();
  CHECK(metric(after, "sluice_config_reload_success") == 0);
  CHECK(metric(after, "sluice_config_generation") == 2);
  CHECK(metric(after, "sluice_config_last_reload_timestamp_seconds") > started_at + 1);
  // The old configuration keeps serving.
  CHECK(e.query("select 41 + 1").output == "42\n");

  // Unparseable YAML names no admin API to ask: the command checks it, fails, and signals
  // the gateway, which refuses it too, so the metric still tells the truth.
  e.gw->rewrite(e.yaml("    max_connections: 5\n"));
  CHECK(run(cmd).exit_code == 0);
  CHECK(metric(e.metrics(), "sluice_config_reload_success") == 1);
  e.gw->rewrite(e.yaml() + "routes: [oops\n");
  auto broken = run(cmd);
  INFO(broken.output);
  CHECK(broken.exit_code == 1);
  CHECK_THAT(broken.output, Catch::Contains("YAML syntax error"));
  CHECK(eventually([&] { return metric(e.metrics(), "sluice_config_reload_success") == 0; },
                   std::chrono::seconds(10)));
  CHECK(metric(e.metrics(), "sluice_config_generation") == 3);

  // Fixed again: the reload succeeds and the gauge goes back to 1.
  e.gw->rewrite(e.yaml());
  auto fixed = run(cmd);
  INFO(fixed.output);
  CHECK(fixed.exit_code == 0);
  CHECK(metric(e.metrics(), "sluice_config_reload_success") == 1);
  CHECK(metric(e.metrics(), "sluice_config_generation") == 4);
}

TEST_CASE("sluice reload without an admin token checks the file before it sends SIGHUP",
          "[reload]") {
  temp_dir dir;
  auto c = make_ops_config(dir, false);
  auto no_token = std::regex_replace(c.yaml, std::regex("\n  token_file: [^\n]*"), "");
  gateway_process gw(dir, no_token);
  INFO(gw.log());
  const std::string base = std::string(kSluiceBin) + " reload -c " + shell_quote(gw.config_path()) +
                           " --pid " + std::to_string(gw.proc().pid());

  gw.rewrite(no_token + "bogus_key: 1\n");
  auto bad = run(base);
  INFO(bad.output);
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.output, Catch::Contains("bogus_key"));
  CHECK_THAT(bad.output, Catch::Contains("refuses it and keeps its configuration"));
  CHECK(eventually([&] { return count_of(gw.log(), "event=reload_failed") == 1; },
                   std::chrono::seconds(10)));

  gw.rewrite(no_token);
  auto good = run(base);
  INFO(good.output);
  CHECK(good.exit_code == 0);
  CHECK(eventually([&] { return count_of(gw.log(), "event=reload_done") == 1; },
                   std::chrono::seconds(10)));

  // Without --pid there is nothing it can do truthfully: it says why and fails.
  auto nopid = run(std::string(kSluiceBin) + " reload -c " + shell_quote(gw.config_path()));
  CHECK(nopid.exit_code == 1);
  CHECK_THAT(nopid.output, Catch::Contains("admin.token_file"));
}
