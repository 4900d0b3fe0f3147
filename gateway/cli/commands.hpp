// Each subcommand registers itself on the CLI11 app; `exit_code` receives its result.
// One file per command family keeps owners of tunnels, sync and ops apart.
#pragma once

#include <CLI/CLI.hpp>

namespace sluice::cmd {

void add_run(CLI::App& app, int& exit_code);           // cmd_run.cpp (the composition root)
void add_check_config(CLI::App& app, int& exit_code);  // cmd_check_config.cpp
void add_version(CLI::App& app, int& exit_code);       // cmd_version.cpp
void add_tunnel(CLI::App& app, int& exit_code);        // cmd_tunnel.cpp (keygen, tunnel *)
void add_sync(CLI::App& app, int& exit_code);          // cmd_sync.cpp (sync *)
void add_doctor(CLI::App& app, int& exit_code);        // cmd_doctor.cpp

}  // namespace sluice::cmd
