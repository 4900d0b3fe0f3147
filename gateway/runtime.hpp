// A configuration snapshot compiled for the data plane: settings plus the TLS contexts
// and allowlists built from them. Built off the data plane on load and reload (a bad
// certificate fails the reload, keeping the old snapshot); sessions hold a shared_ptr
// to the one they were accepted under.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "config/allowlist.hpp"
#include "config/settings.hpp"
#include "tls/client_context.hpp"
#include "tls/server_context.hpp"

namespace sluice::gateway {

struct listener_runtime {
  const config::listener* cfg = nullptr;
  std::shared_ptr<tls::server_context> tls;  // null without a terminate-mode tls: section
  config::allowlist allow;
  std::vector<config::cidr> proxy_trusted;
};

struct route_runtime {
  const config::route* cfg = nullptr;
  std::shared_ptr<tls::client_context> tls;  // null for sslmode: disable
  config::allowlist allow;
};

struct runtime {
  config::settings_ptr settings;
  std::map<std::string, listener_runtime, std::less<>> listeners;
  std::map<std::string, route_runtime, std::less<>> routes;
  uint64_t generation = 0;

  // Throws std::runtime_error naming the listener/route and file that failed.
  static std::shared_ptr<const runtime> build(config::settings_ptr s, uint64_t generation);
  const listener_runtime* listener(std::string_view name) const;
  const route_runtime* route(std::string_view name) const;
};

using runtime_ptr = std::shared_ptr<const runtime>;

}  // namespace sluice::gateway
