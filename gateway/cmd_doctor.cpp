#include <iostream>

#include "gateway/commands.hpp"

namespace sluice::cmd {

// Replaced by the doctor (issue 6); registered now so --help lists it honestly.
void add_doctor(CLI::App& app, int& exit_code) {
  auto* sub = app.add_subcommand(
      "doctor", "Diagnose the path to a route, tunnel or sync (not yet available)");
  sub->callback([&exit_code] {
    std::cerr << "sluice doctor is not implemented in this build yet\n";
    exit_code = 2;
  });
}

}  // namespace sluice::cmd
