#include <iostream>

#include "config/load.hpp"
#include "gateway/cli/commands.hpp"
#include "gateway/cli/load_config.hpp"
#include "gateway/tunnel/rsa_check.hpp"

namespace sluice::cmd {

void add_check_config(CLI::App& app, int& exit_code) {
  auto* sub = app.add_subcommand(
      "check-config",
      "Validate a configuration file; print every problem (exit 0 valid, 1 invalid)");
  static std::string path;
  add_config_option(sub, path);
  sub->callback([&exit_code] {
    auto r = load_config(path, report_to::terminal);
    if (!r.settings) {
      std::cerr << path << ": configuration is invalid ("
                << std::count_if(r.issues.all().begin(), r.issues.all().end(),
                                 [](const auto& i) { return !i.warning; })
                << " problem(s))\n";
      exit_code = 1;
      return;
    }
    for (size_t i = 0; i < r.settings->tunnels.size(); ++i) {
      for (const auto& p : tunnel::rsa_problems(r.settings->tunnels[i]))
        std::cerr << path << ": tunnels[" << i << "] (line " << r.settings->tunnels[i].line
                  << "): warning: " << p << "\n";
    }
    std::cout << path << ": configuration is valid (" << r.settings->listeners.size()
              << " listener(s), " << r.settings->routes.size() << " route(s), "
              << r.settings->tunnels.size() << " tunnel(s), " << r.settings->syncs.size()
              << " sync(s))\n";
    exit_code = 0;
  });
}

}  // namespace sluice::cmd
