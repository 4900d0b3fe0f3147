// The stages every walk starts with: DNS and TCP from the gateway's own network position
// (explained in terms of firewalls and listen_addresses), and an SSH tunnel brought up
// in a private tunnel manager, as the gateway brings its tunnels up.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "config/settings.hpp"
#include "gateway/cli/doctor/report.hpp"
#include "gateway/tunnel/manager.hpp"

namespace sluice::doctor {

// DNS then TCP to host:port; on success returns a connected fd (the caller closes it) and
// the address it reached in `connected`, else -1. `what` names the setting ("route r").
int reach(const config::settings& s, const std::string& what, const std::string& host,
          uint16_t port, std::chrono::milliseconds timeout, report& out,
          std::string* connected = nullptr);

// Starts tunnel `t` alone in `mgr` and records the SSH stage; its ok flag.
bool ssh_stage(const config::settings& s, const config::tunnel& t, tunnel::manager& mgr,
               report& out);

}  // namespace sluice::doctor
