// Connects the admin API's handlers to the running gateway: the data-plane server,
// the tunnel manager, the sync service and the reload path shared with SIGHUP.
#pragma once

#include <functional>

#include "gateway/admin/history.hpp"
#include "gateway/admin/http_server.hpp"
#include "gateway/admin/reload_history.hpp"

namespace sluice::gateway {
class server;
}
namespace sluice::tunnel {
class manager;
}
namespace sluice::sync {
class service;
}

namespace sluice::admin {

class sampler;

// `reloads` feeds both the metrics and /v1/status's last_reload; `charts` (may be null)
// the status document's history.
handlers make_handlers(gateway::server& srv, tunnel::manager& tunnels, sync::service& syncs,
                       std::function<reload_result()> reload, const reload_history& reloads,
                       const sampler* charts = nullptr);

// One reading for the charts: open sessions and bytes so far per configured route,
// open channels and bytes per tunnel.
sample take_sample(gateway::server& srv, tunnel::manager& tunnels);

}  // namespace sluice::admin
