// Data-plane counters, one set per worker thread, written only by that thread (no
// locks, no atomics on the hot path). A scrape posts to every worker and merges the
// copies each returns, so readers never race the writers.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace sluice::gateway {

// Latency histogram with fixed upper bounds in seconds (Prometheus-style, cumulative
// only when rendered).
struct histogram {
  static constexpr std::array<double, 12> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
  std::array<uint64_t, kBounds.size() + 1> counts{};  // last = +Inf
  uint64_t count = 0;
  double sum = 0;
  void observe(double seconds);
  void merge(const histogram& o);
};

struct route_traffic {
  uint64_t sessions = 0;  // ended (counted when a session closes)
  uint64_t active = 0;    // open now: filled in by server::collect_metrics only
  uint64_t bytes_client_to_server = 0;
  uint64_t bytes_server_to_client = 0;
};

// Per-route steps of reaching the backend, so a slow bastion, a slow TLS handshake and
// a slow login can be told apart.
struct route_latency {
  histogram connect;  // TCP connect (after DNS) or SSH tunnel channel open
  histogram tls;      // TLS handshake with the upstream (sessions with upstream TLS only)
  histogram login;    // startup packet sent -> ReadyForQuery (client round trips included
                      // with auth.mode passthrough)
  void merge(const route_latency& o);
};

struct metrics {
  // (listener, reason) -> closed sessions; reason is the close reason in the log line.
  std::map<std::pair<std::string, std::string>, uint64_t> closed;
  std::map<std::string, uint64_t> accepted;  // by listener
  std::map<std::string, route_traffic> routes;
  std::map<std::string, route_latency> latency;  // by route
  histogram handshake_seconds;                   // accept -> startup packet parsed (incl. TLS)
  histogram upstream_connect_seconds;  // route chosen -> upstream ready (incl. TLS, tunnel)
  uint64_t cancel_requests = 0;

  void merge(const metrics& o);
};

}  // namespace sluice::gateway
