// systemd watchdog: when the unit sets WatchdogSec (WATCHDOG_USEC in our environment),
// a thread posts a ping to every worker's io_context each half-interval and sends
// WATCHDOG=1 only when all of them answered, so a wedged event loop gets us restarted.
#pragma once

#include <memory>
#include <vector>

#include "gateway/worker.hpp"

namespace sluice::admin {

class watchdog {
 public:
  // Does nothing unless systemd asked for a watchdog.
  explicit watchdog(const std::vector<std::unique_ptr<gateway::worker>>& workers);
  ~watchdog();
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::admin
