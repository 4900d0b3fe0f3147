#include <iostream>

#include "gateway/commands.hpp"

namespace sluice::cmd {

// Replaced by the tunnel work (issue 3).
void add_tunnel(CLI::App& app, int& exit_code) {
  auto* sub = app.add_subcommand("tunnel", "SSH tunnel commands (not yet available)");
  sub->callback([&exit_code] {
    std::cerr << "sluice tunnel is not implemented in this build yet\n";
    exit_code = 2;
  });
}

}  // namespace sluice::cmd
