// Renders the gateway's state as Prometheus text exposition (format 0.0.4). Pure: the
// caller gathers the merged worker metrics and the tunnel/sync status documents.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/admin/cert_expiry.hpp"
#include "gateway/admin/process_stats.hpp"
#include "gateway/metrics.hpp"
#include "gateway/pool/pool_snapshot.hpp"

namespace sluice::admin {

struct scrape_input {
  const gateway::metrics* data = nullptr;
  uint64_t active_sessions = 0;
  uint64_t generation = 0;
  bool last_reload_ok = true;   // the last reload (or the start-up load) succeeded
  double last_reload_time = 0;  // when it finished, seconds since the epoch
  uint64_t over_limit = 0;      // refused at accept: listener at max_connections (all listeners)
  nlohmann::json tunnels = nlohmann::json::array();         // tunnel::manager::status()
  nlohmann::json syncs = nlohmann::json::array();           // sync::service::status()
  std::vector<std::pair<std::string, bool>> route_healthy;  // (route, healthy)
  bool ready = false;
  // sluice_build_info labels, in order: version, then library versions.
  std::vector<std::pair<std::string, std::string>> build_labels;
  std::optional<process_stats> process;
  struct cert {
    cert_file file;
    double not_after = 0;
  };
  std::vector<cert> certificates;                   // those that could be read
  std::vector<gateway::pool::pool_snapshot> pools;  // routes[].pool
};

std::string render_prometheus(const scrape_input& in);

// Escapes a label value (backslash, double quote, newline).
std::string escape_label(std::string_view v);

}  // namespace sluice::admin
