// The gateway's SSH endpoint for reverse tunnels (libssh server API): one listening port
// that every tunnel's agents dial out to, on its own thread and io_context. Agents log in
// as the tunnel's name with one of its keys and announce remote forwards; nothing is bound
// for them. Routes and the sync writer open forwarded-tcpip channels through a live agent
// with open_channel(), which has the same contract as the forward tunnels' (manager.hpp).
#pragma once

#include <utility>  // before Asio

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "config/settings.hpp"
#include "gateway/tunnel/manager.hpp"

namespace sluice::tunnel::reverse {

class endpoint {
 public:
  endpoint();
  ~endpoint();
  endpoint(const endpoint&) = delete;
  endpoint& operator=(const endpoint&) = delete;

  // Thread-safe. Starts, moves or stops the listener and updates tunnels and keys; the
  // sessions of agents whose key or tunnel is gone are closed.
  void apply(config::settings_ptr s);
  void stop();

  // From any executor: a channel to a live agent of `tunnel` that announced `port`,
  // waiting up to the tunnel's wait_for_up for one. `local_fd` >= 0: relay that fd
  // (ownership passes even on failure); otherwise a socketpair end is returned.
  boost::asio::awaitable<channel_result> open_channel(std::string tunnel, std::string host,
                                                      uint16_t port, int local_fd = -1);

  // [{name, type: "reverse", state, agents: [...], forwards, open_channels, ...}]
  nlohmann::json status() const;
  // The listening port (0 when not listening); for tests and `sluice tunnel host-key`.
  uint16_t port() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace sluice::tunnel::reverse
