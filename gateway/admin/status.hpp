// The /v1/status document: what the gateway is serving and how each part is doing.
// Pure: built from a runtime snapshot, merged metrics and the tunnel/sync documents.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gateway/drains.hpp"
#include "gateway/metrics.hpp"
#include "gateway/pool/pool_snapshot.hpp"
#include "gateway/runtime.hpp"

namespace sluice::admin {

struct status_input {
  const gateway::runtime* rt = nullptr;
  const gateway::metrics* data = nullptr;
  uint64_t active_sessions = 0;
  bool ready = false;
  std::vector<std::string> ready_reasons;  // why not ready (readiness::reasons)
  std::string version;
  double started_at = 0;                 // process start, seconds since the epoch (0: unknown)
  double now = 0;                        // seconds since the epoch, for the uptime
  nlohmann::json last_reload = nullptr;  // reload_history::to_json()
  nlohmann::json history = nullptr;      // sampler::to_json(): the charts' data
  nlohmann::json tunnels = nlohmann::json::array();
  nlohmann::json syncs = nlohmann::json::array();
  std::vector<gateway::pool::pool_snapshot> pools;  // routes[].pool
  const gateway::drains* drains = nullptr;          // routes[]/listeners[].drained (null: none)
  // Bound port of a listener (differs from the configured one when that is 0).
  std::function<uint16_t(const std::string&)> bound_port;
};

nlohmann::json build_status(const status_input& in);
// The "pools" array of /v1/status.
nlohmann::json pools_json(const std::vector<gateway::pool::pool_snapshot>& pools);

}  // namespace sluice::admin
