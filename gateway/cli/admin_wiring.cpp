#include <libssh2.h>
#include <openssl/crypto.h>
#include <pg_config.h>

#include <algorithm>
#include <boost/version.hpp>
#include <ctime>
#include <utility>

#include "gateway/cli/admin_wiring.hpp"

#include "gateway/admin/prometheus.hpp"
#include "gateway/admin/route_health.hpp"
#include "gateway/admin/sampler.hpp"
#include "gateway/admin/status.hpp"
#include "gateway/server.hpp"
#include "gateway/session/session.hpp"
#include "gateway/tunnel/manager.hpp"
#include "sync/checks.hpp"
#include "sync/destination.hpp"
#include "sync/reverse_check.hpp"
#include "sync/service.hpp"

namespace sluice::admin {

namespace {

// Readiness is about this gateway: a configuration loaded and every listener bound.
// A route's tunnel counts only for routes that opt in (`affects_readiness: true`);
// the others report their health per route (/v1/routes/NAME/health, status, metrics).
readiness check_ready(gateway::server& srv, tunnel::manager& tunnels) {
  readiness r;
  auto rt = srv.current();
  if (!rt)
    r.reasons.push_back("no configuration loaded");
  // Listeners are bound before the admin API starts; a port of 0 means one was lost.
  if (rt) {
    for (const auto& l : rt->settings->listeners)
      if (srv.bound_port(l.name) == 0)
        r.reasons.push_back("listener " + l.name + " is not bound");
    nlohmann::json tunnel_status;
    for (const auto& route : rt->settings->routes) {
      if (!route.affects_readiness)
        continue;
      if (tunnel_status.is_null())
        tunnel_status = tunnels.status();
      for (const auto& why : check_route(route, tunnel_status).reasons)
        r.reasons.push_back("route " + route.name + " (affects_readiness): " + why);
    }
  }
  r.ready = r.reasons.empty();
  return r;
}

// 2026-12-01T23:59:01Z
std::string iso8601(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<std::pair<std::string, std::string>> build_labels() {
  return {{"version", SLUICE_VERSION},
          {"openssl", OpenSSL_version(OPENSSL_VERSION_STRING)},
          {"libssh2", LIBSSH2_VERSION},
          {"libpq", PG_VERSION},
          {"boost", std::to_string(BOOST_VERSION / 100000) + "." +
                        std::to_string(BOOST_VERSION / 100 % 1000)}};
}

// `sluice sync verify` as this gateway sees it: a destination via a reverse tunnel is
// reachable only through the agents connected here, so that comes first and, when it
// fails, is the reason; then the writer's checklist through the same forwarder.
std::optional<nlohmann::json> verify_sync(gateway::server& srv, tunnel::manager& tunnels,
                                          sync::service& syncs, const std::string& name) {
  auto rt = srv.current();
  const auto* sc = rt ? rt->settings->find_sync(name) : nullptr;
  if (!sc)
    return std::nullopt;
  const auto& s = *rt->settings;
  const auto where = sync::address_of(s, *sc);
  const auto via = sync::destination_tunnel(s, *sc);
  const auto* t = via.empty() ? nullptr : s.find_tunnel(via);
  std::vector<sync::check> checks;
  if (t && t->reverse)
    checks.push_back(sync::reverse_agent_check(s, *t, where.host, where.port, tunnels.status()));
  const bool agent_missing = !checks.empty() && sync::is_missing_agent(checks.back());
  if (!agent_missing) {
    auto more = syncs.verify(name);
    if (!more)
      return std::nullopt;  // removed by a reload meanwhile
    checks.insert(checks.end(), more->begin(), more->end());
  }
  return nlohmann::json{{"sync", name},
                        {"destination", where.describe},
                        {"schema", sc->schema},
                        {"ok", sync::all_pass(checks)},
                        {"agent_missing", agent_missing},
                        {"unreachable", agent_missing || std::any_of(checks.begin(), checks.end(),
                                                                     sync::is_connection_failure)},
                        {"checks", sync::to_json(checks)},
                        {"text", sync::render(checks)}};
}

}  // namespace

handlers make_handlers(gateway::server& srv, tunnel::manager& tunnels, sync::service& syncs,
                       std::function<reload_result()> reload, const reload_history& reloads,
                       const sampler* charts) {
  handlers h;
  h.ready = [&srv, &tunnels] { return check_ready(srv, tunnels); };
  h.metrics = [&srv, &tunnels, &syncs, &reloads] {
    auto m = srv.collect_metrics();
    auto rt = srv.current();
    scrape_input in;
    in.data = &m;
    in.active_sessions = srv.active_sessions();
    in.generation = rt ? rt->generation : 0;
    auto last = reloads.last();
    in.last_reload_ok = last.ok;
    in.last_reload_time = last.unix_time;
    for (const auto& w : srv.workers())
      in.over_limit += w->counters.rejected.load(std::memory_order_relaxed);
    in.tunnels = tunnels.status();
    in.syncs = syncs.status();
    if (rt) {
      for (const auto& r : rt->settings->routes)
        in.route_healthy.emplace_back(r.name, check_route(r, in.tunnels).healthy);
      for (auto& f : certificate_files(*rt->settings))
        if (auto t = earliest_not_after(f.path))
          in.certificates.push_back({std::move(f), *t});
    }
    in.ready = check_ready(srv, tunnels).ready;
    in.pools = srv.pools();
    in.build_labels = build_labels();
    in.process = read_process_stats();
    return render_prometheus(in);
  };
  h.status = [&srv, &tunnels, &syncs, &reloads, charts] {
    auto m = srv.collect_metrics();
    auto rt = srv.current();
    status_input in;
    in.rt = rt.get();
    in.data = &m;
    in.active_sessions = srv.active_sessions();
    auto ready = check_ready(srv, tunnels);
    in.ready = ready.ready;
    in.ready_reasons = ready.reasons;
    in.version = SLUICE_VERSION;
    in.started_at = read_process_stats().start_time_seconds;
    in.now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    in.last_reload = reloads.to_json();
    if (charts)
      in.history = charts->to_json();
    in.tunnels = tunnels.status();
    in.syncs = syncs.status();
    in.pools = srv.pools();
    in.bound_port = [&srv](const std::string& l) { return srv.bound_port(l); };
    in.drains = &srv.drained();
    return build_status(in);
  };
  h.route_health = [&srv, &tunnels](const std::string& name) -> std::optional<nlohmann::json> {
    auto rt = srv.current();
    if (!rt)
      return std::nullopt;
    for (const auto& r : rt->settings->routes)
      if (r.name == name)
        return to_json(r, check_route(r, tunnels.status()));
    return std::nullopt;
  };
  h.reload = std::move(reload);
  h.sessions = [&srv] {
    auto list = nlohmann::json::array();
    for (const auto& s : srv.sessions()) {
      list.push_back({{"id", s.id},
                      {"peer", s.peer},
                      {"listener", s.listener},
                      {"route", s.route},
                      {"user", s.user},
                      {"database", s.database},
                      {"since", iso8601(s.since)},
                      {"bytes_in", s.bytes_in},
                      {"bytes_out", s.bytes_out},
                      {"state", s.state}});
    }
    return nlohmann::json{{"sessions", std::move(list)}};
  };
  h.tunnels = [&tunnels] { return nlohmann::json{{"tunnels", tunnels.status()}}; };
  h.kill = [&srv](uint64_t id) { return srv.kill(id); };
  h.drain = [&srv](const std::string& kind, const std::string& name,
                   bool drain) -> std::optional<uint64_t> {
    auto k = kind == "routes" ? gateway::drains::kind::route : gateway::drains::kind::listener;
    if (!srv.set_drained(k, name, drain))
      return std::nullopt;
    if (k == gateway::drains::kind::route)
      return srv.sessions_on_route(name);
    uint64_t n = 0;
    for (const auto& s : srv.sessions())
      n += s.listener == name ? 1 : 0;
    return n;
  };
  h.verify_sync = [&srv, &tunnels, &syncs](const std::string& name) {
    return verify_sync(srv, tunnels, syncs, name);
  };
  return h;
}

sample take_sample(gateway::server& srv, tunnel::manager& tunnels) {
  sample s;
  s.at = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto m = srv.collect_metrics();
  if (auto rt = srv.current()) {
    for (const auto& r : rt->settings->routes) {
      auto t = m.routes.find(r.name);
      s.routes[r.name] = t == m.routes.end()
                             ? reading{}
                             : reading{t->second.active, t->second.bytes_client_to_server +
                                                             t->second.bytes_server_to_client};
    }
  }
  for (const auto& t : tunnels.status()) {
    auto num = [&t](const char* key) {
      auto it = t.find(key);
      return it != t.end() && it->is_number() ? it->get<uint64_t>() : uint64_t{0};
    };
    s.tunnels[t.value("name", "")] =
        reading{num("open_channels"), num("bytes_in") + num("bytes_out")};
  }
  return s;
}

}  // namespace sluice::admin
