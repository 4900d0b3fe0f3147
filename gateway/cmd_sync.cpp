#include <iostream>

#include "gateway/commands.hpp"

namespace sluice::cmd {

// Replaced by the sync writer work (issue 4).
void add_sync(CLI::App& app, int& exit_code) {
  auto* sub = app.add_subcommand("sync", "Sync writer commands (not yet available)");
  sub->callback([&exit_code] {
    std::cerr << "sluice sync is not implemented in this build yet\n";
    exit_code = 2;
  });
}

}  // namespace sluice::cmd
