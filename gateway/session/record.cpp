#include "gateway/session/record.hpp"

#include "config/log.hpp"
#include "gateway/worker.hpp"

namespace sluice::gateway {

bool close_record::end(close_reason reason, std::string detail) {
  if (reason_)
    return false;
  reason_ = reason;
  detail_ = std::move(detail);
  return true;
}

void close_record::publish(metrics& stats, worker_counters& counters) const {
  counters.bytes_client_to_server.fetch_add(bytes_in, std::memory_order_relaxed);
  counters.bytes_server_to_client.fetch_add(bytes_out, std::memory_order_relaxed);
  const auto why = reason();
  ++stats.closed[{listener, std::string(to_string(why))}];
  if (!route.empty()) {
    auto& r = stats.routes[route];
    ++r.sessions;
    r.bytes_client_to_server += bytes_in;
    r.bytes_server_to_client += bytes_out;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started)
                .count();
  log::line(is_normal(why) ? log::level::info : log::level::notice, "connection_closed")
      .kv("conn", conn)
      .kv("peer", peer)
      .kv("listener", listener)
      .kv("balancer", balancer.empty() ? "-" : balancer)
      .kv("route", route.empty() ? "-" : route)
      .kv("user", user.empty() ? "-" : user)
      .kv("database", database.empty() ? "-" : database)
      .kv("client_tls", client_tls)
      .kv("upstream_tls", upstream_tls)
      .kv("relay", relay)
      .kv("bytes_in", bytes_in)
      .kv("bytes_out", bytes_out)
      .kv("duration_ms", static_cast<int64_t>(ms))
      .kv("reason", to_string(why))
      .kv("message", detail_.empty() ? "-" : detail_);
}

}  // namespace sluice::gateway
