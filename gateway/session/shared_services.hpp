// The process-wide services a session uses, owned by the server.
#pragma once

namespace sluice::tunnel {
class manager;
}

namespace sluice::gateway {

class cancel_registry;
class route_budget;
class drains;
namespace pool {
class pool_registry;
}

// What every session of the process uses, owned by the server (which outlives them);
// sessions point at one copy instead of each carrying these pointers.
struct shared_services {
  cancel_registry* cancels = nullptr;
  tunnel::manager* tunnels = nullptr;
  pool::pool_registry* pools = nullptr;  // routes[].pool
  route_budget* budget = nullptr;        // routes' max_connections(_per_user)
  const drains* drained = nullptr;       // operator drains (admin API)
};

}  // namespace sluice::gateway
