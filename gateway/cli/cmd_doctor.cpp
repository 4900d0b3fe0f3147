// `sluice doctor -c FILE route|tunnel|sync NAME`: walks the path to a route's upstream,
// a tunnel's bastion or a sync's destination from this machine, stage by stage, and
// stops at the first failure with its cause and fix. Exit 0 when every stage passed,
// 1 on a failed stage, 2 on a bad invocation or configuration.
#include <iostream>
#include <string>
#include <vector>

#include "config/issues.hpp"
#include "config/load.hpp"
#include "gateway/cli/commands.hpp"
#include "gateway/cli/doctor/walk.hpp"
#include "gateway/cli/load_config.hpp"

namespace sluice::cmd {

namespace {

template <class Items>
std::vector<std::string> names_of(const Items& items) {
  std::vector<std::string> out;
  for (const auto& i : items)
    out.push_back(i.name);
  return out;
}

int run_doctor(const std::string& path, const std::string& kind, const std::string& name,
               const doctor::credentials& creds) {
  auto loaded = load_config(path, report_to::terminal);
  if (!loaded.settings) {
    std::cerr << "sluice doctor: " << path << " is invalid\n";
    return 2;
  }
  const auto& s = *loaded.settings;
  doctor::report out(std::cout);
  std::cout << "sluice doctor: " << kind << " " << name << " (from this machine"
            << (s.region.empty() ? "" : ", region " + s.region) << ")\n";
  bool ok = false;
  if (kind == "route") {
    const auto* r = s.find_route(name);
    if (!r) {
      std::cerr << "sluice doctor: no route named '" << name << "' in " << path
                << config::did_you_mean(name, names_of(s.routes)) << "\n";
      return 2;
    }
    ok = doctor::walk_route(s, *r, creds, out);
  } else if (kind == "tunnel") {
    const auto* t = s.find_tunnel(name);
    if (!t) {
      std::cerr << "sluice doctor: no tunnel named '" << name << "' in " << path
                << config::did_you_mean(name, names_of(s.tunnels)) << "\n";
      return 2;
    }
    ok = doctor::walk_tunnel(s, *t, out);
  } else {
    const auto* y = s.find_sync(name);
    if (!y) {
      std::cerr << "sluice doctor: no sync named '" << name << "' in " << path
                << config::did_you_mean(name, names_of(s.syncs)) << "\n";
      return 2;
    }
    ok = doctor::walk_sync(s, *y, out);
  }
  ok = ok && !out.failed();
  std::cout << (ok ? "all stages passed\n" : "stopped at the first failure above\n");
  return ok ? 0 : 1;
}

}  // namespace

void add_doctor(CLI::App& app, int& exit_code) {
  auto* sub = app.add_subcommand(
      "doctor", "Walk the network path to a route, tunnel or sync and explain the first failure");
  static std::string path, kind, name;
  static doctor::credentials creds;
  add_config_option(sub, path);
  sub->add_option("kind", kind, "route, tunnel or sync")
      ->required()
      ->check(CLI::IsMember({"route", "tunnel", "sync"}));
  sub->add_option("name", name, "Name of the route, tunnel or sync")->required();
  sub->add_option("--user", creds.user, "Routes: database user to log in as");
  sub->add_option("--password-file", creds.password_file, "Routes: file holding the password");
  sub->add_option("--database", creds.database, "Routes: database to log in to");
  sub->callback([&exit_code] { exit_code = run_doctor(path, kind, name, creds); });
}

}  // namespace sluice::cmd
