// Renders the gateway's state as Prometheus text exposition (format 0.0.4). Pure: the
// caller gathers the merged worker metrics and the tunnel/sync status documents.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "gateway/metrics.hpp"

namespace sluice::admin {

struct scrape_input {
  const gateway::metrics* data = nullptr;
  uint64_t active_sessions = 0;
  uint64_t generation = 0;
  uint64_t over_limit = 0;  // refused at accept: listener at max_connections (all listeners)
  nlohmann::json tunnels = nlohmann::json::array();  // tunnel::manager::status()
  nlohmann::json syncs = nlohmann::json::array();    // sync::service::status()
};

std::string render_prometheus(const scrape_input& in);

// Escapes a label value (backslash, double quote, newline).
std::string escape_label(std::string_view v);

}  // namespace sluice::admin
