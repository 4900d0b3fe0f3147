// The embedded sync writer as the gateway sees it: the ingest HTTP API plus one
// writer per configured sync, on the service's own threads. The gateway hands it a
// way to reach destinations through tunnels (a loopback forward for libpq).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/settings.hpp"

namespace sluice::sync {

struct check;  // sync/checks.hpp

// Returns 127.0.0.1:port forwarding to host:port through `tunnel`, or nullopt with
// `error` filled in.
using forward_fn = std::function<std::optional<config::host_port>(
    const std::string& tunnel, const std::string& host, uint16_t port, std::string& error)>;

class service {
 public:
  explicit service(forward_fn forward);
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  // First load: binds the ingest listener (throws std::runtime_error if it cannot),
  // starts writers. Reloads: picks up tokens, allowlists and syncs.
  void start(config::settings_ptr s);
  void apply(config::settings_ptr s);
  void stop();

  // The destination checklist of sync `name`, run now on the calling thread through the
  // writer's forwarder (the running gateway's tunnels: `sluice sync verify` of a
  // destination via a reverse tunnel). nullopt when no sync has that name. Takes up to
  // the tunnel's wait_for_up plus the connect timeout.
  std::optional<std::vector<check>> verify(const std::string& name) const;
  // [{name, schema, last_sequence, lag_seconds, batches, records, last_error}]
  nlohmann::json status() const;
  // The bound ingest port (useful with listen port 0 in tests); 0 without a listener.
  uint16_t ingest_port() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::sync
