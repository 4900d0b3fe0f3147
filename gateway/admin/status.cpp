#include "gateway/admin/status.hpp"

#include "gateway/admin/route_health.hpp"

namespace sluice::admin {

namespace {

const char* tls_name(const config::listener& l) {
  if (!l.tls)
    return "none";
  return l.tls->mode == config::tls_mode::terminate ? "terminate" : "passthrough";
}

}  // namespace

nlohmann::json pools_json(const std::vector<gateway::pool::pool_snapshot>& pools) {
  auto out = nlohmann::json::array();
  for (const auto& p : pools) {
    const auto& h = p.wait_seconds;
    out.push_back({{"route", p.route},
                   {"user", p.user},
                   {"database", p.database},
                   {"size", p.size},
                   {"open", p.open},
                   {"idle", p.idle},
                   {"in_use", p.in_use},
                   {"opening", p.opening},
                   {"waiting", p.waiting},
                   {"created", p.created},
                   {"prefilled", p.prefilled},
                   {"reused", p.reused},
                   {"wait_timeouts", p.wait_timeouts},
                   {"waits", h.count},
                   {"wait_seconds_sum", h.sum},
                   {"closed", p.closed}});
  }
  return out;
}

nlohmann::json build_status(const status_input& in) {
  static const gateway::metrics empty;
  const gateway::metrics& m = in.data ? *in.data : empty;
  nlohmann::json j;
  const config::settings* s = in.rt ? in.rt->settings.get() : nullptr;
  j["ready"] = in.ready;
  j["ready_reasons"] = in.ready_reasons;
  j["version"] = in.version;
  j["started_at"] = in.started_at;
  j["uptime_seconds"] = in.started_at > 0 && in.now >= in.started_at ? in.now - in.started_at : 0;
  j["last_reload"] = in.last_reload;
  j["history"] = in.history;
  j["generation"] = in.rt ? in.rt->generation : 0;
  j["region"] = s ? s->region : "";
  j["public_addresses"] = s ? s->public_addresses : std::vector<std::string>{};
  j["config"] = s ? s->source_path : "";

  uint64_t accepted = 0, closed = 0;
  for (const auto& [_, n] : m.accepted)
    accepted += n;
  for (const auto& [_, n] : m.closed)
    closed += n;
  j["connections"] = {{"active", in.active_sessions},
                      {"accepted", accepted},
                      {"closed", closed},
                      {"cancel_requests", m.cancel_requests}};

  auto drained = [&in](gateway::drains::kind k, const std::string& name) {
    return in.drains != nullptr && in.drains->drained(k, name);
  };
  auto listeners = nlohmann::json::array();
  auto routes = nlohmann::json::array();
  if (s) {
    for (const auto& l : s->listeners) {
      uint16_t port = in.bound_port ? in.bound_port(l.name) : l.listen.port;
      nlohmann::json closes = nlohmann::json::object();
      for (const auto& [key, n] : m.closed)
        if (key.first == l.name)
          closes[key.second] = n;
      auto acc = m.accepted.find(l.name);
      listeners.push_back({{"name", l.name},
                           {"address", config::host_port{l.listen.host, port}.str()},
                           {"tls", tls_name(l)},
                           {"allow", l.allow},
                           {"accepted", acc == m.accepted.end() ? 0 : acc->second},
                           {"drained", drained(gateway::drains::kind::listener, l.name)},
                           {"closed", closes}});
    }
    for (const auto& r : s->routes) {
      auto t = m.routes.find(r.name);
      gateway::route_traffic traffic = t == m.routes.end() ? gateway::route_traffic{} : t->second;
      routes.push_back({{"name", r.name},
                        {"match",
                         {{"listener", r.match.listener},
                          {"sni", r.match.sni},
                          {"database", r.match.database},
                          {"user", r.match.user}}},
                        {"upstream", config::host_port{r.upstream.host, r.upstream.port}.str()},
                        {"via", r.upstream.via},
                        {"sslmode", std::string(config::to_string(r.upstream.tls.mode))},
                        {"sessions", traffic.sessions},
                        {"active_sessions", traffic.active},
                        {"bytes_client_to_server", traffic.bytes_client_to_server},
                        {"bytes_server_to_client", traffic.bytes_server_to_client},
                        {"drained", drained(gateway::drains::kind::route, r.name)},
                        {"health", to_json(r, check_route(r, in.tunnels))}});
    }
  }
  j["listeners"] = std::move(listeners);
  j["routes"] = std::move(routes);
  j["tunnels"] = in.tunnels;
  j["syncs"] = in.syncs;
  j["pools"] = pools_json(in.pools);
  return j;
}

}  // namespace sluice::admin
