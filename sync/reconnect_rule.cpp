#include "sync/reconnect_rule.hpp"

#include <tuple>

#include "sync/destination.hpp"

namespace sluice::sync {

namespace {

auto destination_fields(const config::sync_destination& d) {
  return std::tie(d.route, d.host, d.port, d.via, d.database, d.user, d.password_file, d.mode, d.ca,
                  d.cert, d.key);
}

// The parts of a route's upstream that resolve_destination uses.
bool same_upstream(const config::route* a, const config::route* b) {
  if (!a || !b)
    return a == b;
  const auto& x = a->upstream;
  const auto& y = b->upstream;
  return std::tie(x.host, x.port, x.via, x.tls.mode, x.tls.ca, x.tls.cert, x.tls.key) ==
         std::tie(y.host, y.port, y.via, y.tls.mode, y.tls.ca, y.tls.cert, y.tls.key);
}

// The tunnel manager restarts a tunnel when these change (a different bastion), which
// ends every connection through it.
bool same_bastion(const config::tunnel* a, const config::tunnel* b) {
  if (!a || !b)
    return a == b;
  return a->host == b->host && a->port == b->port && a->user == b->user &&
         a->sessions == b->sessions;
}

std::string connection_change(const config::settings& bs, const config::sync& before,
                              const config::settings& as, const config::sync& after) {
  if (destination_fields(before.destination) != destination_fields(after.destination))
    return "destination changed";
  const auto& route = after.destination.route;
  if (!route.empty() && !same_upstream(bs.find_route(route), as.find_route(route)))
    return "destination route '" + route + "' changed its upstream";
  // The tunnel itself is the same one (the destination and its route are unchanged).
  const std::string via = destination_tunnel(as, after);
  if (!via.empty() && !same_bastion(bs.find_tunnel(via), as.find_tunnel(via)))
    return "tunnel '" + via + "' changed its bastion";
  if (before.schema != after.schema)
    return "schema changed";
  if (before.read_role.name != after.read_role.name ||
      before.read_role.grant_to != after.read_role.grant_to) {
    return "read_role changed";
  }
  return "";
}

}  // namespace

std::string reconnect_reason(const config::settings& before_settings, const config::sync& before,
                             const config::settings& after_settings, const config::sync& after,
                             const writer_phase& now) {
  if (auto why = connection_change(before_settings, before, after_settings, after); !why.empty())
    return why;
  if (now.stopped)
    return "the sync was stopped; a reload retries it on a fresh connection";
  if (!now.connected && !now.connecting)
    return "not connected; retrying now instead of after the backoff";
  if (now.connected && now.read_role_problems)
    return "read-role grants failed at the last setup; setup tries them again";
  return "";
}

}  // namespace sluice::sync
