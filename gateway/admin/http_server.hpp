// The admin HTTP API (Boost.Beast) on its own thread and io_context, so a slow scrape
// or a reload never runs on a data-plane thread. Routes are answered by the handlers
// the caller supplies; this file only does HTTP, TLS and the bearer token.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/settings.hpp"

namespace sluice::admin {

struct reload_result {
  bool ok = false;
  uint64_t generation = 0;
  std::vector<std::string> problems;  // why it failed, or warnings (restart needed)
};

struct readiness {
  bool ready = false;
  std::vector<std::string> reasons;  // what is not ready yet
};

struct handlers {
  std::function<readiness()> ready;
  std::function<std::string()> metrics;    // Prometheus text
  std::function<nlohmann::json()> status;  // /v1/status document
  std::function<reload_result()> reload;   // same path as SIGHUP
  // One route's health document; nullopt when no route has that name.
  std::function<std::optional<nlohmann::json>(const std::string&)> route_health;
  // Live control (bearer token). Each answers an HTTP status and a JSON document.
  std::function<nlohmann::json()> sessions;  // {"sessions": [...]}
  std::function<nlohmann::json()> tunnels;   // {"tunnels": [...]}
  std::function<bool(uint64_t)> kill;        // false: no session with that id
  // (kind "routes" or "listeners", name, drain or resume) -> open sessions, or nullopt
  // for an unknown name.
  std::function<std::optional<uint64_t>(const std::string&, const std::string&, bool)> drain;
  // `sluice sync verify` run by this gateway (through its tunnels): the checklist
  // document, or nullopt when no sync has that name. Blocks this thread while it runs.
  std::function<std::optional<nlohmann::json>(const std::string&)> verify_sync;
};

class http_server {
 public:
  // Binds the listener and reads the TLS files now (throws std::runtime_error with a
  // readable message); serves once start() is called.
  http_server(const config::admin_settings& cfg, handlers h);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  void start();
  void stop();
  uint16_t port() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// True when `authorization` is "Bearer <token>" for the token in `token_file`
// (compared in constant time). An empty or unreadable token file matches nothing.
bool bearer_matches(const std::string& authorization, const std::string& token_file);

}  // namespace sluice::admin
