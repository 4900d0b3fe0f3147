// How one client connection ended, and the facts its one log line reports. The cause is
// set once: the first end() wins and later ones (a socket error caused by our own close,
// a timer racing a refusal) are ignored, so every exit path may simply say what it saw.
// publish() writes the connection_closed line and the per-thread metrics.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/session/close_reason.hpp"

namespace sluice::gateway {

struct metrics;
struct worker_counters;

class close_record {
 public:
  // Records the cause unless one is recorded already; true when this call set it.
  bool end(close_reason reason, std::string detail = {});
  bool ended() const { return reason_.has_value(); }
  // client_closed until a cause is recorded: a connection that just went away.
  close_reason reason() const { return reason_.value_or(close_reason::client_closed); }
  const std::string& detail() const { return detail_; }

  // The log line's facts, filled in by the phases as they learn them.
  uint64_t conn = 0;
  std::string peer, listener, balancer, route, user, database;
  // Literals only (held by every session, so not a std::string each).
  std::string_view client_tls = "false";  // "true", "false" or "passthrough"
  bool upstream_tls = false;
  std::string_view relay = "-";  // how the logged-in session was relayed: copy, splice, kernel
  uint64_t bytes_in = 0, bytes_out = 0;  // client->server, server->client
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  // Once, when the session is gone: the connection_closed line, the closed-sessions and
  // per-route counters, and the worker's byte totals.
  void publish(metrics& stats, worker_counters& counters) const;

 private:
  std::optional<close_reason> reason_;
  std::string detail_;
};

}  // namespace sluice::gateway
