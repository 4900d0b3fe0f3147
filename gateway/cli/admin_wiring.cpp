#include <utility>

#include "gateway/cli/admin_wiring.hpp"

#include "gateway/admin/prometheus.hpp"
#include "gateway/admin/status.hpp"
#include "gateway/server.hpp"
#include "gateway/tunnel/manager.hpp"
#include "sync/service.hpp"

namespace sluice::admin {

namespace {

readiness check_ready(gateway::server& srv, tunnel::manager& tunnels) {
  readiness r;
  auto rt = srv.current();
  if (!rt)
    r.reasons.push_back("no configuration loaded");
  // Listeners are bound before the admin API starts; a port of 0 means one was lost.
  if (rt)
    for (const auto& l : rt->settings->listeners)
      if (srv.bound_port(l.name) == 0)
        r.reasons.push_back("listener " + l.name + " is not bound");
  for (const auto& t : tunnels.status()) {
    if (t.value("state", "") != "up") {
      std::string why = "tunnel " + t.value("name", "?") + " is " + t.value("state", "?");
      if (auto e = t.value("last_error", ""); !e.empty())
        why += ": " + e;
      r.reasons.push_back(why);
    }
  }
  r.ready = r.reasons.empty();
  return r;
}

}  // namespace

handlers make_handlers(gateway::server& srv, tunnel::manager& tunnels, sync::service& syncs,
                       std::function<reload_result()> reload) {
  handlers h;
  h.ready = [&srv, &tunnels] { return check_ready(srv, tunnels); };
  h.metrics = [&srv, &tunnels, &syncs] {
    auto m = srv.collect_metrics();
    auto rt = srv.current();
    scrape_input in;
    in.data = &m;
    in.active_sessions = srv.active_sessions();
    in.generation = rt ? rt->generation : 0;
    for (const auto& w : srv.workers())
      in.over_limit += w->counters.rejected.load(std::memory_order_relaxed);
    in.tunnels = tunnels.status();
    in.syncs = syncs.status();
    return render_prometheus(in);
  };
  h.status = [&srv, &tunnels, &syncs] {
    auto m = srv.collect_metrics();
    auto rt = srv.current();
    status_input in;
    in.rt = rt.get();
    in.data = &m;
    in.active_sessions = srv.active_sessions();
    in.ready = check_ready(srv, tunnels).ready;
    in.tunnels = tunnels.status();
    in.syncs = syncs.status();
    in.bound_port = [&srv](const std::string& l) { return srv.bound_port(l); };
    return build_status(in);
  };
  h.reload = std::move(reload);
  return h;
}

}  // namespace sluice::admin
