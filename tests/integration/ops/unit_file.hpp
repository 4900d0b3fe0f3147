// Reading the shipped systemd units in tests: their Exec lines, EnvironmentFile syntax and
// systemd's expansion of command lines ($VAR, ${VAR}, specifiers), so a test can run a
// unit's commands as written. Used by ops/systemd_units_test.cpp and
// tunnel/agent_unit_test.cpp.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/paths.hpp"
#include "tests/support/process.hpp"

namespace sluice::test::unit_file {

inline std::vector<std::string> shipped_units() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(std::string(kSourceDir) + "/systemd"))
    if (e.path().extension() == ".service")
      out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

// The unit as installed on a host where this build is /usr/bin/sluice; a template is
// saved as its instance "acme" (systemd-analyze verifies instances, not templates).
inline std::string installed_copy(const temp_dir& dir, const std::string& unit) {
  auto name = std::filesystem::path(unit).filename().string();
  name = replace_all(name, "@.service", "@acme.service");
  return dir.write(name, replace_all(read_file(unit), "/usr/bin/sluice", kSluiceBin));
}

// The values of `key=` lines in a unit (ExecStart, ExecReload, ...), in order.
inline std::vector<std::string> unit_values(const std::string& unit_text, const std::string& key) {
  std::vector<std::string> out;
  std::istringstream in(unit_text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + "=", 0) == 0)
      out.push_back(line.substr(key.size() + 1));
  return out;
}

// KEY=VALUE lines of an EnvironmentFile (backslash-newline continues a line).
inline std::map<std::string, std::string> environment_file(const std::string& text) {
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

inline std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}

// systemd.service(5) "Command lines": split at whitespace (these units quote nothing);
// specifiers replaced in every word; a word "$NAME" becomes the variable's words, a word
// "${NAME}" one word. A command line using anything else fails the test.
inline std::vector<std::string> expand(const std::string& line,
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

inline std::string as_shell(const std::vector<std::string>& argv) {
  std::string cmd;
  for (const auto& a : argv)
    cmd += (cmd.empty() ? "" : " ") + shell_quote(a);
  return cmd;
}

}  // namespace sluice::test::unit_file
