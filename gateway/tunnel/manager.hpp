// SSH tunnels to bastion hosts (libssh2 1.10), kept up, watched and repaired by the
// gateway. The manager owns its own thread and io_context; every libssh2 session is
// pinned to it. Other threads reach it only through the thread-safe calls below.
#pragma once

#include <utility>  // before Asio: GCC 12 + Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "config/settings.hpp"
#include "gateway/tunnel/handoff.hpp"
#include "gateway/tunnel/stage.hpp"

namespace sluice::tunnel {

struct channel_result {
  // A connected stream socket (one end of a socketpair) whose bytes travel over a
  // direct-tcpip channel; the caller owns it. -1 on failure.
  int fd = -1;
  // On failure: the stage that failed, spelled by to_string(tunnel_stage) ("tcp-connect",
  // "ssh-handshake", "host-key", "auth", "channel-open", "tunnel-down", "unknown-tunnel"),
  // and a human message.
  std::string stage;
  std::string error;
  // Names the channel for hand_off() (0 when nothing was opened).
  uint64_t channel_id = 0;
};

class manager {
 public:
  manager();
  ~manager();
  manager(const manager&) = delete;
  manager& operator=(const manager&) = delete;

  // Starts, updates or stops tunnels to match the snapshot (first load and reloads).
  void apply(config::settings_ptr s);
  void stop();

  // Callable from any executor: waits up to the tunnel's wait_for_up for it to be up,
  // opens a channel to host:port and resumes on the caller's executor.
  boost::asio::awaitable<channel_result> open_channel(std::string tunnel, std::string host,
                                                      uint16_t port);

  // Thread-safe: the tunnel's thread takes over the plaintext client of a channel from
  // open_channel (see handoff.hpp) and calls h->finish() when the connection ends. If
  // the channel is already gone, whatever the database sent is passed on and the
  // client is closed.
  void hand_off(const std::string& tunnel, uint64_t channel_id, std::shared_ptr<handoff> h);

  // For libpq users (the sync writer): a 127.0.0.1 port, accepting only in-process
  // users, that opens a channel to host:port per accepted connection. Thread-safe;
  // returns the same port for the same (tunnel, host, port).
  std::optional<config::host_port> loopback_forward(const std::string& tunnel,
                                                    const std::string& host, uint16_t port,
                                                    std::string& error);
  // loopback_forward as a callable (the sync service's forward_fn has this signature).
  std::function<std::optional<config::host_port>(const std::string&, const std::string&, uint16_t,
                                                 std::string&)>
  forwarder() {
    return [this](const std::string& tunnel, const std::string& host, uint16_t port,
                  std::string& error) { return loopback_forward(tunnel, host, port, error); };
  }

  // [{name, state, since, last_error, open_channels, bytes_in, bytes_out, reconnects}]
  nlohmann::json status() const;
  // True when every configured tunnel is up (for /readyz).
  bool all_up() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::tunnel
