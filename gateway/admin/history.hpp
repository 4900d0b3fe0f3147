// What the status page charts: sessions and throughput per route and per tunnel over
// the last 15 minutes, from samples the gateway takes itself (no Prometheus needed).
// Pure: a sampler thread (sampler.hpp) pushes cumulative readings at a fixed interval;
// this keeps the last `capacity` of them in a ring and turns byte counters into rates.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sluice::admin {

// One reading of one route or tunnel.
struct reading {
  uint64_t sessions = 0;  // open now (routes: sessions; tunnels: open channels)
  uint64_t bytes = 0;     // cumulative, both directions
};

struct sample {
  double at = 0;  // seconds since the epoch
  std::map<std::string, reading> routes;
  std::map<std::string, reading> tunnels;
};

class history {
 public:
  // Enough samples for `window` at `interval` (at least 2).
  history(std::chrono::milliseconds interval, std::chrono::seconds window);

  void push(sample s);
  size_t size() const { return count_; }
  size_t capacity() const { return ring_.size(); }
  // Oldest first.
  std::vector<const sample*> samples() const;

  // {"interval_seconds": N, "window_seconds": W, "times": [t...],
  //  "routes": {"name": {"sessions": [...], "bytes_per_second": [...]}}, "tunnels": {...}}
  // Each series has one value per time. A name missing from a sample has sessions 0 and
  // rate 0 there; the first sample's rate is 0; a counter that went down (restart,
  // reload that removed and re-added the name) counts from zero again, never negative.
  nlohmann::json to_json() const;

 private:
  std::chrono::milliseconds interval_;
  std::chrono::seconds window_;
  std::vector<sample> ring_;
  size_t next_ = 0;
  size_t count_ = 0;
};

}  // namespace sluice::admin
