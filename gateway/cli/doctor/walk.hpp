// The paths `sluice doctor` walks: a route (to its upstream, directly or through its
// tunnel), a tunnel (to the bastion and through it) and a sync destination (plus the
// sync's privilege checks). Each stops at the first failing stage.
#pragma once

#include <string>

#include "config/settings.hpp"
#include "gateway/cli/doctor/report.hpp"

namespace sluice::doctor {

struct credentials {
  std::string user;
  std::string password_file;
  std::string database;
};

bool walk_route(const config::settings& s, const config::route& r, const credentials& creds,
                report& out);
bool walk_tunnel(const config::settings& s, const config::tunnel& t, report& out);
bool walk_sync(const config::settings& s, const config::sync& y, report& out);

}  // namespace sluice::doctor
