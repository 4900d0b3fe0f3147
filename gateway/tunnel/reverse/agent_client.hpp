// `sluice agent`: the customer-side connector of a reverse tunnel. For each gateway it
// keeps one SSH session (libssh client) that logs in as the tunnel with a key, pins the
// gateway's host key, announces every --forward as a remote forward and relays each
// forwarded-tcpip channel to its target (channel_relay, agent_relay.hpp). Lost sessions
// reconnect with exponential backoff; a gateway that goes silent is detected by TCP_USER_TIMEOUT
// over the keepalives (interval x max_missed).
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "config/settings.hpp"

namespace sluice::tunnel::reverse {

struct forward_spec {
  uint16_t remote_port = 0;  // announced to the gateway (the route's upstream.port)
  std::string target_host;   // reached from the agent's machine
  uint16_t target_port = 0;
};
// "5432:db.internal:5432" or "5432:[fd00::5]:5432"; nullopt + why on error.
std::optional<forward_spec> parse_forward_spec(const std::string& s, std::string& error);

struct agent_options {
  std::vector<std::string> gateways;  // HOST:PORT
  std::string tunnel;
  std::string key_path;
  std::string host_key;  // "SHA256:..." pin of the gateway's endpoint
  std::vector<forward_spec> forwards;
  // The same defaults as a gateway's tunnels (config/settings.hpp).
  std::chrono::milliseconds keepalive_interval = config::keepalive_settings{}.interval;
  unsigned keepalive_max_missed = config::keepalive_settings{}.max_missed;
  std::chrono::milliseconds backoff_initial = config::backoff{}.initial;
  std::chrono::milliseconds backoff_max = config::backoff{}.max;
  std::chrono::milliseconds connect_timeout = config::tunnel{}.connect_timeout;
};

// Runs until `stop` becomes true; one thread per gateway. Returns 0, or 2 on a startup
// error (bad key file), after logging it.
int run_agent(const agent_options& o, const std::atomic<bool>& stop);

}  // namespace sluice::tunnel::reverse
