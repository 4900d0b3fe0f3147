// Each subcommand registers itself on the CLI11 app; `exit_code` receives its result.
// One file per command family keeps owners of tunnels, sync and ops apart.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace sluice::cmd {

// Where every command looks for the configuration unless -c says otherwise.
inline constexpr const char* kDefaultConfig = "/etc/sluice/sluice.yaml";

// The -c/--config option every command shares, defaulting to kDefaultConfig.
inline CLI::Option* add_config_option(CLI::App* sub, std::string& path) {
  path = kDefaultConfig;
  return sub->add_option("-c,--config", path, "Configuration file")->capture_default_str();
}

void add_run(CLI::App& app, int& exit_code);           // cmd_run.cpp (the composition root)
void add_check_config(CLI::App& app, int& exit_code);  // cmd_check_config.cpp
void add_version(CLI::App& app, int& exit_code);       // cmd_version.cpp
void add_tunnel(CLI::App& app, int& exit_code);        // cmd_tunnel.cpp (keygen, tunnel *)
void add_sync(CLI::App& app, int& exit_code);          // cmd_sync.cpp (sync *)
void add_doctor(CLI::App& app, int& exit_code);        // cmd_doctor.cpp
void add_reload(CLI::App& app, int& exit_code);        // cmd_reload.cpp
void add_ctl(CLI::App& app, int& exit_code);           // cmd_ctl.cpp (ctl *)

}  // namespace sluice::cmd
