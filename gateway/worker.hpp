// One data-plane thread: its io_context and the sessions living on it. Only that
// thread touches `sessions`; other threads post work to `ioc`.
#pragma once

#include <utility>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <unordered_set>

#include "gateway/metrics.hpp"

namespace sluice::gateway {

class session;

struct worker_counters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> bytes_client_to_server{0};
  std::atomic<uint64_t> bytes_server_to_client{0};
};

struct worker {
  explicit worker(unsigned index) : index(index) {}
  unsigned index;
  std::unordered_set<session*> sessions;  // this thread only
  std::atomic<uint64_t> active{0};        // read by other threads (drain, status)
  worker_counters counters;
  metrics stats;  // this thread only; read by posting to ioc (server::collect_metrics)
  // Declared last so it is destroyed first: sessions still queued in it unregister
  // themselves from the members above as they are destroyed.
  boost::asio::io_context ioc{1};
};

}  // namespace sluice::gateway
