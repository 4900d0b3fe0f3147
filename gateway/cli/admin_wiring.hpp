// Connects the admin API's handlers to the running gateway: the data-plane server,
// the tunnel manager, the sync service and the reload path shared with SIGHUP.
#pragma once

#include <functional>

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

handlers make_handlers(gateway::server& srv, tunnel::manager& tunnels, sync::service& syncs,
                       std::function<reload_result()> reload, const reload_history& reloads);

}  // namespace sluice::admin
