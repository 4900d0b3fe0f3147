// One pool's numbers at a moment, for /v1/status, the status page and the metrics.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "gateway/metrics.hpp"

namespace sluice::gateway::pool {

struct pool_snapshot {
  std::string route, user, database;
  uint32_t size = 0, open = 0, idle = 0, in_use = 0, waiting = 0;
  uint32_t opening = 0;  // logins opened in advance (min_idle) not finished yet
  uint64_t created = 0, reused = 0, wait_timeouts = 0;
  uint64_t prefilled = 0;  // backends opened in advance (min_idle), of `created`
  histogram wait_seconds;  // acquire: asked -> backend or slot (0 when one was free)
  std::map<std::string, uint64_t> closed;  // by backend_close
};

}  // namespace sluice::gateway::pool
