// Health of one route as this gateway sees it, kept apart from the gateway's own
// readiness: one customer's bastion outage must not take every route of the gateway
// out of the load balancer. Pure: built from the route's settings and the tunnel status.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/settings.hpp"

namespace sluice::admin {

struct route_health {
  bool healthy = true;
  std::vector<std::string> reasons;  // why not, each a sentence naming the part
};

// `tunnels` is tunnel::manager::status(): [{name, state, last_error, ...}].
route_health check_route(const config::route& r, const nlohmann::json& tunnels);

// The JSON the admin API serves for /v1/routes/NAME/health and in /v1/status.
nlohmann::json to_json(const config::route& r, const route_health& h);

}  // namespace sluice::admin
