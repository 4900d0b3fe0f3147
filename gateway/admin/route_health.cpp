#include "gateway/admin/route_health.hpp"

namespace sluice::admin {

route_health check_route(const config::route& r, const nlohmann::json& tunnels) {
  route_health h;
  if (r.upstream.via.empty())
    return h;  // direct: nothing this gateway keeps up for it
  for (const auto& t : tunnels) {
    if (t.value("name", "") != r.upstream.via)
      continue;
    if (t.value("state", "") != "up") {
      std::string why = "tunnel " + r.upstream.via + " is " + t.value("state", "?");
      if (auto e = t.value("last_error", ""); !e.empty())
        why += ": " + e;
      h.reasons.push_back(why);
    }
    h.healthy = h.reasons.empty();
    return h;
  }
  h.reasons.push_back("tunnel " + r.upstream.via + " is not running on this gateway");
  h.healthy = false;
  return h;
}

nlohmann::json to_json(const config::route& r, const route_health& h) {
  return {{"route", r.name},
          {"healthy", h.healthy},
          {"reasons", h.reasons},
          {"via", r.upstream.via},
          {"affects_readiness", r.affects_readiness}};
}

}  // namespace sluice::admin
