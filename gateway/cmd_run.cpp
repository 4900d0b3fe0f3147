#include "gateway/commands.hpp"
namespace sluice::cmd {
void add_run(CLI::App& app, int& exit_code) {
  auto* sub = app.add_subcommand("run", "Run the gateway");
  sub->callback([&exit_code] { exit_code = 2; });
}
}  // namespace sluice::cmd
