// The shipped systemd units (systemd/*.service), checked without systemd as PID 1:
// `systemd-analyze verify` applies the checks of `systemctl daemon-reload` and that each
// command exists and is executable (so this build's binary stands in for /usr/bin/sluice),
// and each unit's Exec* command lines run as written, expanded as systemd expands them
// ($MAINPID, $VAR from the EnvironmentFile, %d, %i), against a real configuration. The
// refused-file case of ExecReload is in reload_command_test.cpp; here it runs once more
// from the command line this test parsed.
#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include "tests/integration/ops/control_fixture.hpp"
#include "tests/integration/tunnel/reverse_fixture.hpp"
#include "tests/support/paths.hpp"

using namespace sluice::test;

namespace {

std::vector<std::string> shipped_units() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(std::string(kSourceDir) + "/systemd"))
    if (e.path().extension() == ".service")
      out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

// The unit as installed on a host where this build is /usr/bin/sluice; a template is
// saved as its instance "acme" (systemd-analyze verifies instances, not templates).
std::string installed_copy(const temp_dir& dir, const std::string& unit) {
  auto name = std::filesystem::path(unit).filename().string();
  name = replace_all(name, "@.service", "@acme.service");
  return dir.write(name, replace_all(read_file(unit), "/usr/bin/sluice", kSluiceBin));
}

// The values of `key=` lines in a unit (ExecStart, ExecReload, ...), in order.
std::vector<std::string> unit_values(const std::string& unit_text, const std::string& key) {
  std::vector<std::string> out;
  std::istringstream in(unit_text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + "=", 0) == 0)
      out.push_back(line.substr(key.size() + 1));
  return out;
}

// KEY=VALUE lines of an EnvironmentFile (backslash-newline continues a line).
std::map<std::string, std::string> environment_file(const std::string& text) {
  std::map<std::string, std::string> env;
  auto joined = replace_all(text, "\\\n", " ");
  std::istringstream in(joined);
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos)
      continue;
    env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}

// systemd.service(5) "Command lines": split at whitespace (these units quote nothing);
// specifiers replaced in every word; a word "$NAME" becomes the variable's words, a word
// "${NAME}" one word. A command line using anything else fails the test.
std::vector<std::string> expand(const std::string& line,
                                const std::map<std::string, std::string>& specifiers,
                                const std::map<std::string, std::string>& vars) {
  std::vector<std::string> argv;
  for (auto w : words(line)) {
    REQUIRE(w.find('"') == std::string::npos);
    REQUIRE(w.find('\'') == std::string::npos);
    for (const auto& [spec, value] : specifiers)
      w = replace_all(w, spec, value);
    if (w.size() > 1 && w[0] == '$') {
      bool braced = w[1] == '{';
      auto name = braced ? w.substr(2, w.size() - 3) : w.substr(1);
      INFO("the unit uses $" << name << ", which this test does not provide");
      REQUIRE(vars.count(name) == 1);
      if (braced) {
        argv.push_back(vars.at(name));
      } else {
        for (const auto& v : words(vars.at(name)))
          argv.push_back(v);
      }
      continue;
    }
    REQUIRE(w.find('$') == std::string::npos);
    argv.push_back(w);
  }
  return argv;
}

std::string as_shell(const std::vector<std::string>& argv) {
  std::string cmd;
  for (const auto& a : argv)
    cmd += (cmd.empty() ? "" : " ") + shell_quote(a);
  return cmd;
}

}  // namespace

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

TEST_CASE("sluice.service's ExecStartPre, ExecStart and ExecReload work as written",
          "[systemd][reload]") {
  const auto unit = read_file(std::string(kSourceDir) + "/systemd/sluice.service");
  control_env e;  // PostgreSQL 15 (TLS, SCRAM), admin API with a bearer token
  auto config = e.dir.write("sluice.yaml", e.yaml());
  const std::map<std::string, std::string> specifiers;  // these lines use none
  std::map<std::string, std::string> vars;
  auto command = [&](const std::string& line) {
    return replace_all(line, "/etc/sluice/sluice.yaml", config);
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

TEST_CASE(
    "sluice-agent@.service's ExecStart, from its environment file and credential, serves "
    "a reverse tunnel",
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
