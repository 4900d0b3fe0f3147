// `sluice doctor` for reverse tunnels. Agents dial in to the *running* gateway, so the
// doctor asks that gateway (its admin API) what it sees: an agent connected, a forward
// for the port the route needs, and whether the agent refused the last channel.
#pragma once

#include <cstdint>

#include "config/settings.hpp"
#include "gateway/cli/doctor/report.hpp"

namespace sluice::doctor {

// `port` is the route's upstream.port (0: any forward will do, e.g. `doctor tunnel`).
bool walk_reverse_tunnel(const config::settings& s, const config::tunnel& t, uint16_t port,
                         report& out);

}  // namespace sluice::doctor
